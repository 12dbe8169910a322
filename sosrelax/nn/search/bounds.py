"""Batched floating-point bounds of a ReLU network over many input boxes at once.

Everything here works on a batch of ``B`` sub-domains (input boxes ``lo, hi`` of shape ``(B, n0)``, and
optional ReLU phase constraints) with plain array arithmetic, so that one call bounds thousands of
sub-domains with a few large matrix products.  The bounds guide the search; they are not proofs: the
proof tree the search emits is re-checked by :mod:`sosrelax.certificate.proof_tree` with rigorous
rounding-error bounds.  The algorithms are the ones that checker recomputes (see ``docs/proof-trees.md``):

- **intermediate bounds** (``"crown"``): the pre-activation bounds of hidden layer ``m >= 1`` come from
  back-substituting the rows ``±e_j`` through the earlier layers (CROWN, Zhang et al., NeurIPS 2018),
  with the upper line :math:`y \\le s(z - l)`, :math:`s = u/(u-l)`, and the adaptive lower slope
  (1 if :math:`u > -l`, else 0) for each unstable neuron; intersected with interval arithmetic;
- **final bound**: the same back-substitution of the objective rows, with lower slopes ``alpha`` that the
  caller may optimise (any slope in ``[0, 1]`` gives a valid bound), and the input coefficients ``g`` of
  the resulting linear lower bound (they drive the branching and the attack).

Sigmoid and tanh layers (``Network.hidden_activations``) get the linear relaxation of
:func:`s_relaxation` (both lines with an intercept, chosen by the convexity region of ``[l, u]``) and
interval bounds by monotonicity; their lines are fixed (no slope optimisation).

``float32`` semantics (ReLU networks only): each pre-activation gets an extra perturbation bounded by
:math:`\\gamma_{n+1}(|W|\\hat y + |b|)` (binary32 accumulation in any order), so the bounds cover every
float32 execution of the network as well as the exact one.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = [
    "FLOAT32_UNIT",
    "STEPS",
    "Arrays",
    "Bounds",
    "final_bounds",
    "intermediate_bounds",
    "optimise_slopes",
    "relaxation",
    "round_out32",
    "s_gap",
    "s_relaxation",
    "step_bounds",
]

#: Unit roundoff of IEEE binary32.
FLOAT32_UNIT = 2.0**-24

#: Piecewise-constant activations: ``sign``, ``step`` (``[z > 0]``), ``eq`` (``[z = 0]``).
STEPS = ("sign", "step", "eq")


def step_bounds(kind: str, l: np.ndarray, u: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The least and the largest value of the step ``kind`` on ``[l, u]`` (the function's values at
    ``l`` and ``u`` for the increasing ``sign`` and ``step``; for ``eq``, 1 only on ``[0, 0]``, 0 only off 0)."""
    if kind == "eq":
        has0 = (l <= 0) & (u >= 0)
        return np.where(has0 & (l == u), 1.0, 0.0), np.where(has0, 1.0, 0.0)
    f = (lambda z: np.where(z > 0, 1.0, np.where(z < 0, -1.0, 0.0))) if kind == "sign" else \
        (lambda z: np.where(z > 0, 1.0, 0.0))
    return f(l), f(u)


@dataclass(frozen=True)
class Arrays:
    """The network as arrays: ``z_{m} = W[m] y_{m-1} + b[m]`` (``y_{-1} = x``), an activation between
    layers: ``acts[m]`` for hidden layer ``m`` (``()``: ReLU everywhere)."""

    W: tuple[np.ndarray, ...]
    b: tuple[np.ndarray, ...]
    absW: tuple[np.ndarray, ...]
    float32: bool = False
    acts: tuple[str, ...] = ()

    @classmethod
    def from_network(cls, net: object, *, float32: bool = False) -> Arrays:
        """From a :class:`sosrelax.nn.ir.Network` (weights taken as float64)."""
        Ws = tuple(np.ascontiguousarray(w, dtype=np.float64) for w in net.weights)  # type: ignore[attr-defined]
        bs = tuple(np.ascontiguousarray(b, dtype=np.float64) for b in net.biases)  # type: ignore[attr-defined]
        kinds = tuple(getattr(net, "hidden_activations", ()))
        acts = kinds if any(k != "relu" for k in kinds) else ()
        if acts and float32:
            from sosrelax.errors import InvalidValueError

            raise InvalidValueError(f"the float32 semantics covers ReLU networks only; this one has {acts} "
                                    "hidden layers (use semantics='real')")
        return cls(Ws, bs, tuple(np.abs(w) for w in Ws), float32, acts)

    def kind(self, m: int) -> str:
        """The activation of hidden layer ``m``."""
        return self.acts[m] if self.acts else "relu"

    def lines(self, m: int, l: np.ndarray, u: np.ndarray) -> tuple[np.ndarray, ...]:
        """The relaxation of hidden layer ``m`` on ``[l, u]``: ``(a, s, t)`` of :func:`relaxation` for a
        ReLU layer, ``(a, s, t, tl)`` of :func:`s_relaxation` for a sigmoid or tanh layer."""
        if not self.acts or self.acts[m] == "relu":
            return relaxation(l, u)
        a, tl, s, t = s_relaxation(self.acts[m], l, u)
        return a, s, t, tl

    def post(self, m: int, l: np.ndarray, u: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Bounds of the activations of hidden layer ``m`` from those of its pre-activations (monotone, or
        the extreme values of a step)."""
        if not self.acts or self.acts[m] == "relu":
            return np.maximum(l, 0.0), np.maximum(u, 0.0)
        if self.acts[m] in STEPS:
            return step_bounds(self.acts[m], l, u)
        return s_function(self.acts[m], l), s_function(self.acts[m], u)

    @property
    def n_layers(self) -> int:
        return len(self.W)

    def rounding(self, m: int, ymax: np.ndarray) -> np.ndarray | None:
        """Bound of the binary32 error of layer ``m`` given ``|y_{m-1}| <= ymax`` (``(B, n)``), or None."""
        if not self.float32:
            return None
        n = self.W[m].shape[1] + 1
        gamma = n * FLOAT32_UNIT / (1 - n * FLOAT32_UNIT)
        return gamma * (ymax @ self.absW[m].T + np.abs(self.b[m])) + n * 2.0**-149


@dataclass
class Bounds:
    """Pre-activation bounds ``lower[m] <= z_m <= upper[m]`` of the hidden layers, each ``(B, n_m)``."""

    lower: list[np.ndarray]
    upper: list[np.ndarray]
    err: list[np.ndarray | None]  # float32 rounding bound of each layer (None: exact semantics)
    empty: np.ndarray  # (B,) a phase constraint contradicts the bounds: the sub-domain is empty


def relaxation(l: np.ndarray, u: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(a, s, t)``: lower slope (adaptive), upper slope and upper intercept of ``max(z, 0)`` on ``[l, u]``.

    Active neurons (``l >= 0``) get ``a = s = 1``, inactive ones (``u <= 0``) ``a = s = 0``, ``t = 0``.
    """
    act = l >= 0
    uns = (l < 0) & (u > 0)
    den = np.where(uns, u - l, 1.0)
    s = np.where(uns, u / den, act.astype(np.float64))
    t = np.where(uns, -s * l, 0.0)
    a = np.where(uns, (u > -l).astype(np.float64), act.astype(np.float64))
    return a, s, t


def s_function(kind: str, z: np.ndarray) -> np.ndarray:
    """``sigmoid(z)``, ``tanh(z)`` or a step of :data:`STEPS` (float64)."""
    if kind == "sigmoid":
        with np.errstate(over="ignore"):
            return 1.0 / (1.0 + np.exp(-z))
    if kind in STEPS:
        return step_bounds(kind, z, z)[0]
    return np.tanh(z)


def s_derivative(kind: str, z: np.ndarray) -> np.ndarray:
    """The derivative of :func:`s_function`: ``σ(z) σ(-z)``, or ``1 - tanh² z = 4 σ(2z) σ(-2z)``; 0 for a
    step (almost everywhere)."""
    if kind in STEPS:
        return np.zeros(np.shape(z))
    if kind == "sigmoid":
        return s_function("sigmoid", z) * s_function("sigmoid", -z)
    return 4.0 * s_function("sigmoid", 2 * z) * s_function("sigmoid", -2 * z)


def s_relaxation(kind: str, l: np.ndarray, u: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(a, tl, s, tu)``: lines ``a z + tl <= φ(z) <= s z + tu`` on ``[l, u]`` for ``φ`` sigmoid or tanh.

    ``φ`` is convex on ``z <= 0`` and concave on ``z >= 0`` and ``φ'`` decreases in ``|z|``.  On a convex
    interval (``u <= 0``) the upper line is the secant and the lower line the tangent at the midpoint;
    on a concave one (``l >= 0``) the reverse; on a mixed one both lines have the slope
    ``min(φ'(l), φ'(u))``, which is at most ``φ'`` on ``[l, u]``, and pass through ``(l, φ(l))`` (lower)
    and ``(u, φ(u))`` (upper) (DeepPoly, Singh et al. 2019).  Float64 values: the proof-tree checker
    derives rigorous lines of its own.  A step of :data:`STEPS` gets the horizontal lines of its least and
    largest values on ``[l, u]`` (:func:`step_bounds`, the checker's very lines).
    """
    if kind in STEPS:
        ylo, yhi = step_bounds(kind, l, u)
        return np.zeros(np.shape(l)), ylo, np.zeros(np.shape(l)), yhi
    fl, fu = s_function(kind, l), s_function(kind, u)
    m = 0.5 * (l + u)
    fm, dm = s_function(kind, m), s_derivative(kind, m)
    width = u - l
    with np.errstate(divide="ignore", invalid="ignore"):
        sec = np.where(width > 1e-12, (fu - fl) / np.where(width > 0, width, 1.0), dm)
    tan_t = fm - dm * m
    convex, concave = u <= 0, l >= 0
    dmin = np.minimum(s_derivative(kind, l), s_derivative(kind, u))
    a = np.where(convex, dm, np.where(concave, sec, dmin))
    tl = np.where(convex, tan_t, fl - a * l)
    s = np.where(concave, dm, np.where(convex, sec, dmin))
    tu = np.where(concave, tan_t, fu - s * u)
    return a, tl, s, tu


def s_gap(kind: str, l: np.ndarray, u: np.ndarray) -> np.ndarray:
    """The largest vertical distance ``max_{z in [l, u]} (s z + tu) - (a z + tl)`` between the lines of
    :func:`s_relaxation` (a linear function of ``z``: its maximum is at an end of ``[l, u]``).

    Bounds what the relaxation of one sigmoid or tanh neuron can lose in a back-substituted bound per unit
    of its coefficient; the split search ranks neurons by it."""
    a, tl, s, tu = s_relaxation(kind, l, u)
    return np.maximum((s - a) * l + (tu - tl), (s - a) * u + (tu - tl))


def _interval(arr: Arrays, m: int, lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    c = 0.5 * (lo + hi)
    r = 0.5 * (hi - lo)
    zc = c @ arr.W[m].T + arr.b[m]
    zr = r @ arr.absW[m].T
    return zc - zr, zc + zr


def _concretize(g: np.ndarray, const: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """``min over the box of g·x + const``: g ``(B, R, n0)``, const ``(B, R)``, boxes ``(B, n0)``."""
    c = 0.5 * (lo + hi)
    r = 0.5 * (hi - lo)
    return const + np.einsum("brn,bn->br", g, c) - np.einsum("brn,bn->br", np.abs(g), r)


def _matmul(lam: np.ndarray, w: np.ndarray) -> np.ndarray:
    """``lam @ w`` for ``lam`` of shape ``(B, R, n)`` and a shared ``w`` ``(n, k)`` as one GEMM."""
    B, R, n = lam.shape
    return (lam.reshape(B * R, n) @ w).reshape(B, R, w.shape[1])


def _backsub_rows(arr: Arrays, rel: list[tuple[np.ndarray, ...]],
                  errs: list[np.ndarray | None], m: int, mu: np.ndarray, const: np.ndarray,
                  box: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Back-substitute ``mu · y_{m-1} + const`` down to the input, for a flat list of rows.

    Row ``r`` of ``mu`` (coefficients on the post-activations of hidden layer ``m - 1``) belongs to
    sub-domain ``box[r]``; ``rel[k]`` is the relaxation ``(a, s, t)`` (ReLU) or ``(a, s, t, tl)`` (sigmoid,
    tanh) of layer ``k`` per sub-domain (:meth:`Arrays.lines`).  Returns ``(g, const)``: a linear lower bound ``g·x + const`` of each row.
    """
    for k in range(m - 1, -1, -1):
        a, s, t, *tl = (x[box] for x in rel[k])
        lam = mu * np.where(mu >= 0, a, s)
        const = const + np.einsum("rn,rn->r", np.minimum(mu, 0.0), t) + lam @ arr.b[k]
        if tl:  # the lower line's intercept (sigmoid, tanh)
            const = const + np.einsum("rn,rn->r", np.maximum(mu, 0.0), tl[0])
        err = errs[k]
        if err is not None:
            const = const - np.einsum("rn,rn->r", np.abs(lam), err[box])
        mu = lam @ arr.W[k]
    return mu, const


def intermediate_bounds(arr: Arrays, lo: np.ndarray, hi: np.ndarray,
                        phases: list[np.ndarray] | None = None) -> Bounds:
    """CROWN pre-activation bounds of every hidden layer, intersected with interval arithmetic.

    ``phases[m]`` (``(B, n_m)`` int8, optional) fixes the sign of neurons: -1 for ``z <= 0``, +1 for
    ``z >= 0``, 0 free.  A sub-domain whose constraints contradict its bounds is flagged ``empty``.
    """
    B = lo.shape[0]
    lows: list[np.ndarray] = []
    ups: list[np.ndarray] = []
    errs: list[np.ndarray | None] = []
    empty = np.zeros(B, dtype=bool)
    bounds = Bounds(lows, ups, errs, empty)
    xlo, xhi = lo, hi
    if arr.float32:
        xlo, xhi = round_out32(lo, hi)
    ymax = np.maximum(np.abs(xlo), np.abs(xhi))
    rel: list[tuple[np.ndarray, ...]] = []
    cen, rad = 0.5 * (xlo + xhi), 0.5 * (xhi - xlo)
    for m in range(arr.n_layers - 1):
        err = arr.rounding(m, ymax)
        if m == 0:
            l, u = _interval(arr, 0, xlo, xhi)
        else:
            l, u = _interval(arr, m, *arr.post(m - 1, lows[-1], ups[-1]))
        if err is not None:
            l, u = l - err, u + err
        if m > 0:
            # CROWN rows for the neurons interval arithmetic leaves unstable (the others' bounds
            # change no relaxation)
            need = (u > 0) & (l < 0) if arr.kind(m) == "relu" else np.isfinite(l)  # S-shaped: every neuron
            if phases is not None and phases[m] is not None:
                need &= phases[m] == 0
            bi, jj = np.nonzero(need)
            if bi.size:
                W, b = arr.W[m], arr.b[m]
                box = np.concatenate([bi, bi])
                mu = np.concatenate([W[jj], -W[jj]])
                const = np.concatenate([b[jj], -b[jj]])
                g, c = _backsub_rows(arr, rel, errs, m, mu, const, box)
                val = c + np.einsum("rn,rn->r", g, cen[box]) - np.einsum("rn,rn->r", np.abs(g), rad[box])
                nr = bi.size
                e = 0.0 if err is None else err[bi, jj]
                l = l.copy()
                u = u.copy()
                l[bi, jj] = np.maximum(l[bi, jj], val[:nr] - e)
                u[bi, jj] = np.minimum(u[bi, jj], -val[nr:] + e)
        if phases is not None and phases[m] is not None:
            ph = phases[m]
            u = np.where(ph < 0, np.minimum(u, 0.0), u)
            l = np.where(ph > 0, np.maximum(l, 0.0), l)
            empty |= np.any(l > u, axis=1)
        lows.append(l)
        ups.append(u)
        errs.append(err)
        rel.append(arr.lines(m, l, u))
        ymax = np.maximum(u, 0.0)
    bounds.empty = empty
    return bounds


def _output_const(arr: Arrays, bounds: Bounds, lo: np.ndarray, hi: np.ndarray, C: np.ndarray,
                  d: np.ndarray) -> np.ndarray:
    """``C b_L + d`` per sub-domain ``(B, R)``; in the float32 semantics minus ``|C|`` times the output
    layer's rounding bound."""
    B, R, L = lo.shape[0], C.shape[0], arr.n_layers - 1
    const = np.broadcast_to((C @ arr.b[L] + d)[None], (B, R)).copy()
    if arr.float32:
        xlo, xhi = round_out32(lo, hi)
        ymax = np.maximum(bounds.upper[L - 1], 0.0) if L else np.maximum(np.abs(xlo), np.abs(xhi))
        err = arr.rounding(L, ymax)
        assert err is not None
        const = const - np.einsum("rn,bn->br", np.abs(C), err)
    return const


def final_bounds(arr: Arrays, bounds: Bounds, lo: np.ndarray, hi: np.ndarray, C: np.ndarray,
                 d: np.ndarray, Cx: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Lower bounds of the rows ``C f(x) + Cx x + d`` on every sub-domain.

    ``C`` ``(R, n_out)``, ``d`` ``(R,)``, ``Cx`` ``(R, n0)`` (input terms of the objective, optional).
    Returns ``(lb, g)``: ``lb`` ``(B, R)`` and the input coefficients ``g`` ``(B, R, n0)`` of the linear
    lower bound (input terms included).
    """
    B, R = lo.shape[0], C.shape[0]
    L = arr.n_layers - 1
    const = _output_const(arr, bounds, lo, hi, C, d)
    xlo, xhi = (lo, hi) if not arr.float32 else round_out32(lo, hi)
    if L == 0:
        g = np.broadcast_to((C @ arr.W[0])[None], (B, R, lo.shape[1]))
    else:  # every (sub-domain, row) pair as one flat row
        rel = [arr.lines(k, bounds.lower[k], bounds.upper[k]) for k in range(L)]
        mu = np.tile(C @ arr.W[L], (B, 1))
        gf, cf = _backsub_rows(arr, rel, bounds.err, L, mu, const.reshape(-1), np.repeat(np.arange(B), R))
        g, const = gf.reshape(B, R, -1), cf.reshape(B, R)
    lb = _concretize(g, const, xlo, xhi)
    if Cx is not None:
        lb = lb + _concretize(np.broadcast_to(Cx[None], (B,) + Cx.shape), np.zeros_like(lb), lo, hi)
        g = g + Cx[None]
    return lb, g


def optimise_slopes(arr: Arrays, bounds: Bounds, lo: np.ndarray, hi: np.ndarray, C: np.ndarray,
                    d: np.ndarray, Cx: np.ndarray | None = None, *, steps: int = 8, lr: float = 0.25,
                    phases: list[np.ndarray] | None = None, beta_lr: float = 0.5,
                    target: np.ndarray | None = None,
                    init: tuple[list[np.ndarray], list[np.ndarray] | None] | None = None,
                    ) -> tuple[np.ndarray, np.ndarray, list[np.ndarray], list[np.ndarray] | None]:
    """Lower bounds of the rows ``C f(x) + Cx x + d`` with lower ReLU slopes optimised per row (alpha-CROWN),
    and with multipliers of the split constraints (beta-CROWN) when ``phases`` are given.

    Projected sign-gradient ascent on the slopes of the unstable neurons, the gradient of the bound
    computed in closed form by a reverse sweep of the back-substitution; slopes are quantised to
    multiples of 1/255 (the proof tree's encoding), and the best bound of each row is kept.

    ``phases[k]`` (``(B, n_k)``: -1 for ``z <= 0``, +1 for ``z >= 0``, 0 free) are the sub-domains'
    split constraints ``p_j z_j >= 0``.  For any ``beta >= 0`` the objective minus
    ``sum_j beta_j p_j z_j`` is a lower bound of it on the sub-domain, and its linear bound is
    computed over the relaxation without the constraints on earlier layers; ``beta`` follows
    ``d bound / d beta_j = -p_j d bound / d lambda_j`` (projected onto ``beta >= 0``, step
    ``beta_lr`` times the neuron's back-substituted coefficient).

    ``init`` (optional): starting slopes and multipliers ``(alphas, betas)``, each ``(B, R, n_k)`` per
    hidden layer (a NaN slope: the adaptive one; ``betas`` may be None; multipliers of neurons no split
    constrains are ignored), e.g. those optimised on a parent sub-domain.

    ``target`` ``(R,)`` (optional): a sub-domain whose rows all have a bound above it leaves the
    optimisation (its slopes and multipliers are those of that bound; the others' go on).

    Returns ``(lb, g, slopes, betas)``: ``slopes[k]`` and ``betas[k]`` of shape ``(B, R, n_k)``
    (``betas`` is None without ``phases``).
    """
    B, n0 = lo.shape
    L = arr.n_layers - 1
    R = C.shape[0]
    xlo, xhi = (lo, hi) if not arr.float32 else round_out32(lo, hi)
    cen, rad = 0.5 * (xlo + xhi), 0.5 * (xhi - xlo)
    rel = [arr.lines(k, bounds.lower[k], bounds.upper[k]) for k in range(L)]
    # the optimised slopes: unstable ReLUs (the lines of sigmoid and tanh layers stay fixed)
    uns = [(bounds.lower[k] < 0) & (bounds.upper[k] > 0) & (arr.kind(k) == "relu") for k in range(L)]
    alpha = [np.broadcast_to(rel[k][0][:, None, :], (B, R, rel[k][0].shape[1])).copy() for k in range(L)]
    if init is not None:
        alpha = [np.where(uns[k][:, None, :] & ~np.isnan(init[0][k]), np.clip(init[0][k], 0.0, 1.0), alpha[k])
                 for k in range(L)]
    best_lb = np.full((B, R), -np.inf)
    best_g = np.zeros((B, R, n0))
    best_alpha = [a.copy() for a in alpha]
    use_beta = phases is not None and any(np.any(p != 0) for p in phases)
    sign = [np.zeros((B, 1, w.shape[0])) if not use_beta else phases[k].astype(np.float64)[:, None, :]  # type: ignore[index]
            for k, w in enumerate(arr.W[:L])]
    beta = [np.zeros((B, R, arr.W[k].shape[0])) for k in range(L)] if use_beta else None
    if beta is not None and init is not None and init[1] is not None:
        beta = [np.where(sign[k] != 0, np.maximum(init[1][k], 0.0), 0.0) for k in range(L)]
    best_beta = [b.copy() for b in beta] if beta is not None else None
    const0 = _output_const(arr, bounds, lo, hi, C, d)
    cx = np.zeros((B, R)) if Cx is None else _concretize(np.broadcast_to(Cx[None], (B,) + Cx.shape),
                                                         np.zeros((B, R)), lo, hi)
    cx_all = cx
    wt32 = [np.ascontiguousarray(w.T, dtype=np.float32) for w in arr.W[:L]]
    errs = list(bounds.err)
    # the sub-domains still optimised are ``at`` (positions in the output); the finished ones' best
    # values are written into ``out``
    at = np.arange(B)
    out_lb, out_g = best_lb.copy(), best_g.copy()
    out_alpha = [a.copy() for a in best_alpha]
    out_beta = [b.copy() for b in best_beta] if best_beta is not None else None
    for it in range(steps + 1):
        q = [np.round(a * 255.0) / 255.0 for a in alpha]
        mus: list[np.ndarray] = [np.empty(0)] * L
        slopes: list[np.ndarray] = [np.empty(0)] * L
        mu = _matmul(np.ascontiguousarray(np.broadcast_to(C[None], (at.size, R, C.shape[1]))), arr.W[L])
        const = const0
        for k in range(L - 1, -1, -1):
            a, s, t, *tl = rel[k]
            pos = mu >= 0
            sl = np.where(pos, np.where(uns[k][:, None, :], q[k], a[:, None, :]), s[:, None, :])
            lam = mu * sl
            if beta is not None:
                lam = lam - beta[k] * sign[k]
            const = const + np.einsum("brn,bn->br", np.minimum(mu, 0.0), t) + lam @ arr.b[k]
            if tl:
                const = const + np.einsum("brn,bn->br", np.maximum(mu, 0.0), tl[0])
            err_k = errs[k]
            if err_k is not None:
                const = const - np.einsum("brn,bn->br", np.abs(lam), err_k)
            mus[k], slopes[k] = mu, sl
            mu = _matmul(lam, arr.W[k])
        g = mu
        lb = const + np.einsum("brn,bn->br", g, cen) - np.einsum("brn,bn->br", np.abs(g), rad)
        better = lb > best_lb
        best_lb = np.where(better, lb, best_lb)
        best_g = np.where(better[:, :, None], g, best_g)
        for k in range(L):
            best_alpha[k] = np.where(better[:, :, None], q[k], best_alpha[k])
            if beta is not None and best_beta is not None:
                best_beta[k] = np.where(better[:, :, None], beta[k], best_beta[k])
        done = np.ones(at.size, dtype=bool) if it == steps else \
            np.zeros(at.size, dtype=bool) if target is None else np.all(best_lb + cx > target, axis=1)
        if done.any():
            out_lb[at[done]], out_g[at[done]] = best_lb[done], best_g[done]
            for k in range(L):
                out_alpha[k][at[done]] = best_alpha[k][done]
                if out_beta is not None and best_beta is not None:
                    out_beta[k][at[done]] = best_beta[k][done]
            if done.all():
                break
            keep = ~done
            at, cen, rad, const0, cx = at[keep], cen[keep], rad[keep], const0[keep], cx[keep]
            best_lb, best_g, g, mus, slopes = best_lb[keep], best_g[keep], g[keep], [m[keep] for m in mus], \
                [x[keep] for x in slopes]
            rel = [tuple(x[keep] for x in r) for r in rel]
            uns, alpha, best_alpha = [x[keep] for x in uns], [x[keep] for x in alpha], [x[keep] for x in best_alpha]
            sign = [x[keep] for x in sign]
            errs = [None if e is None else e[keep] for e in errs]
            if beta is not None and best_beta is not None:
                beta, best_beta = [x[keep] for x in beta], [x[keep] for x in best_beta]
        _ascend(arr, wt32, (lr * 0.7**it, beta_lr * 0.7**it), (g, cen, rad), (mus, slopes, rel, uns, sign),
                alpha, beta)
    if Cx is not None:
        out_lb = out_lb + cx_all
        out_g = out_g + Cx[None]
    return out_lb, out_g, out_alpha, out_beta


def _ascend(arr: Arrays, wt32: list[np.ndarray], steps: tuple[float, float],
            point: tuple[np.ndarray, np.ndarray, np.ndarray], sweep: tuple[list[np.ndarray], list[np.ndarray],
                                                                           list[tuple[np.ndarray, ...]],
                                                                           list[np.ndarray], list[np.ndarray]],
            alpha: list[np.ndarray], beta: list[np.ndarray] | None) -> None:
    """One projected sign-gradient step of :func:`optimise_slopes`, in place: ``alpha[k]`` (clipped to
    ``[0, 1]``, unstable ReLUs with ``mu >= 0`` only) by ``steps[0]``, ``beta[k]`` (``>= 0``, split
    neurons only) by ``steps[1]`` times the neuron's coefficient.  ``point``: the bound's input
    coefficients ``g`` and the box ``(cen, rad)``; ``sweep``: the back-substitution's coefficients
    ``mu_k``, slopes, relaxations, unstable masks and split signs per layer.  The gradient
    ``D = d bound / d lam_k`` is swept back in float32: only its signs are used."""
    g, cen, rad = point
    mus, slopes, rel, uns, sign = sweep
    L = len(mus)
    G = (cen[:, None, :] - np.sign(g) * rad[:, None, :]).astype(np.float32)
    D = _matmul(G, wt32[0]) + arr.b[0].astype(np.float32)
    for k in range(L):
        mu_k = mus[k]
        upd = uns[k][:, None, :] & (mu_k >= 0)
        alpha[k] = np.where(upd, np.clip(alpha[k] + steps[0] * np.sign(D * mu_k), 0.0, 1.0), alpha[k])
        if beta is not None:
            sk = sign[k]
            scale = steps[1] * (np.abs(mu_k) + np.mean(np.abs(mu_k), axis=2, keepdims=True))
            beta[k] = np.where(sk != 0, np.maximum(beta[k] + scale * np.sign(-sk * D), 0.0), 0.0)
        if k + 1 < L:
            dmu = D * slopes[k] + np.where(mu_k < 0, rel[k][2][:, None, :],
                                           rel[k][3][:, None, :] if len(rel[k]) > 3 else 0.0)
            D = _matmul(dmu.astype(np.float32), wt32[k + 1]) + arr.b[k + 1].astype(np.float32)


def round_out32(lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The smallest float32 box containing every float32 rounding of ``[lo, hi]``."""
    l32 = lo.astype(np.float32)
    h32 = hi.astype(np.float32)
    l32 = np.where(l32.astype(np.float64) > lo, np.nextafter(l32, np.float32(-np.inf)), l32)
    h32 = np.where(h32.astype(np.float64) < hi, np.nextafter(h32, np.float32(np.inf)), h32)
    return l32.astype(np.float64), h32.astype(np.float64)

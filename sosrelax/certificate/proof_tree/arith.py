"""The checker's rigorous float64 arithmetic: pre-activation bounds and back-substitution of leaf objectives.

Every quantity computed here that the checker uses as a fact is a rigorous bound: lower bounds are rounded
down, upper bounds up, and every rounding error is bounded and moved into an error mass (the argument is in
``docs/proof-trees.md``, "Why the checker is sound").  :mod:`sosrelax.certificate.proof_tree.check` walks the
trees and calls :func:`bound_batch` on batches of leaf domains.  Nothing here comes from the search.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from fractions import Fraction
from typing import Any

import numpy as np
import scipy.sparse as sp

from sosrelax.certificate.proof_tree.forward import forward_affine, forward_concretize, forward_relu
from sosrelax.certificate.proof_tree.rounding import down as _down
from sosrelax.certificate.proof_tree.rounding import rdot as _rdot
from sosrelax.certificate.proof_tree.rounding import up as _up
from sosrelax.certificate.proof_tree.smooth import s_lines

__all__ = ["LeafBeta", "Layers", "Net", "Rows", "backsub_lower", "backsub_units_layer2", "bound_batch", "domain_arrays", "float_down",
           "float_up", "objective_rows", "output_deviation", "rational_matrix", "relu_lines", "seen_box"]

_U = 2.0**-53
"""Unit roundoff of binary64."""
_TINY = 2.0**-1000
"""Per unit of magnitude, covers every underflow error (each is at most 2^-1075 per product)."""
_BIG = 2.0**1000
"""Bounds beyond this magnitude make a leaf fail (keeps every later float operation finite)."""
_BIG32 = 2.0**120
"""In the float32 semantics bounds must stay far below the binary32 overflow threshold."""


def _cmp(f: float, q: Fraction) -> int:
    """The sign of ``f - q``, exactly (integer arithmetic; ``f`` finite)."""
    n, d = f.as_integer_ratio()
    diff = n * q.denominator - q.numerator * d
    return (diff > 0) - (diff < 0)


def float_down(q: Fraction) -> float:
    """The largest float64 ``<= q`` (``OverflowError`` when ``q`` is beyond the float64 range)."""
    f = float(q)
    return float(np.nextafter(f, -np.inf)) if _cmp(f, q) > 0 else f


def float_up(q: Fraction) -> float:
    """The smallest float64 ``>= q`` (``OverflowError`` when ``q`` is beyond the float64 range)."""
    f = float(q)
    return float(np.nextafter(f, np.inf)) if _cmp(f, q) < 0 else f


class Net:
    """The network's matrices with the derived arrays every batch shares (1-based layers)."""

    def __init__(self, layers: tuple[tuple[np.ndarray, np.ndarray], ...], f32: bool,
                 activations: tuple[str, ...] = ()) -> None:
        self.L = len(layers)
        self.f32 = f32
        # kinds[m]: the activation of hidden layer m (1-based); smooth: some layer is sigmoid or tanh
        self.kinds: list[str] = ["", *(activations or ("relu",) * (self.L - 1))]
        self.smooth = any(k not in ("", "relu") for k in self.kinds)
        self.W: list[np.ndarray] = [np.zeros((0, 0))] + [np.ascontiguousarray(w) for w, _ in layers]
        self.b: list[np.ndarray] = [np.zeros(0)] + [b for _, b in layers]
        self.absW = [np.abs(w) for w in self.W]
        self.absb = [np.abs(b) for b in self.b]
        self.Wp = [np.maximum(w, 0.0) for w in self.W]
        self.Wn = [np.minimum(w, 0.0) for w in self.W]
        self.dims = [layers[0][0].shape[1]] + [w.shape[0] for w, _ in layers]
        nmax = max(self.dims)
        # One generous constant for every relative rounding error: dot products of length <= 2 nmax + 1,
        # accumulated over at most 3 L + 16 further additions, with a factor 2 for the error terms' own rounding.
        self.G = 2.0 * (2 * nmax + 3 * self.L + 16) * _U
        self.hidden = self.dims[1:-1]
        self.offsets = np.concatenate([[0], np.cumsum(self.hidden)]).astype(int)
        self.H = int(self.offsets[-1])
        self.big = _BIG32 if f32 else _BIG
        # gamma32_{n+1} for each layer, rounded up generously
        self.g32 = [0.0] + [1.0001 * (n + 1) * 2.0**-24 / (1 - (n + 1) * 2.0**-24) for n in self.dims[:-1]]
        # within one check: reference rows of the first layer and second-layer bounds by group of domains
        self.reference_rows: dict[bytes, tuple[np.ndarray, ...]] = {}
        self.layer2_groups: dict[bytes, tuple[np.ndarray, np.ndarray]] = {}


class LeafBeta:
    """A leaf's slopes (bytes or None) with the multipliers of its split constraints (float64, one per
    hidden neuron)."""

    def __init__(self, alpha: Any, beta: np.ndarray) -> None:
        self.alpha = alpha
        self.beta = beta


def rational_matrix(rows: list[dict[int, Fraction]], n: int) -> tuple[np.ndarray, np.ndarray]:
    """Nearest floats of a rational matrix and an upper bound of the entrywise rounding error."""
    m = np.zeros((len(rows), n))
    err = np.zeros((len(rows), n))
    for r, row in enumerate(rows):
        for c, q in row.items():
            f = float(q)
            m[r, c] = f
            err[r, c] = float_up(abs(Fraction(f) - q))
    return m, err


@dataclass
class Rows:
    """Leaf objectives ``g = c·f(x) + cx·x + k0`` (rows), with bounds ``dc, dcx, dk0`` of the rounding
    of their float coefficients, and each row's own lower slopes where it has them."""

    c: np.ndarray
    dc: np.ndarray
    cx: np.ndarray
    dcx: np.ndarray
    k0: np.ndarray
    dk0: np.ndarray
    has_alpha: np.ndarray
    alpha: np.ndarray  # (rows, H) uint8 slope codes (slope = code / 255; 0 where none)
    has_beta: np.ndarray
    beta: np.ndarray  # (rows,) objects: each row's float64 split multipliers (H), or None

    FIELDS = ("c", "dc", "cx", "dcx", "k0", "dk0", "has_alpha", "alpha", "has_beta", "beta")

    def take(self, sel: slice | np.ndarray) -> Rows:
        return Rows(*(getattr(self, f)[sel] for f in self.FIELDS))

    def input_terms(self, n0: int) -> tuple[np.ndarray, np.ndarray]:
        """``(cx, dcx)`` with ``n0`` columns: rows without input terms have zero-width ``cx``, ``dcx``
        (saving two leaves × inputs arrays), which stand for ``cx = -0.0`` (the value ``-(λ·0)``) and
        ``dcx = 2^-1000``, exactly what the formula gives for zero input coefficients."""
        if self.cx.shape[1] == n0:
            return self.cx, self.dcx
        rows = self.cx.shape[0]
        return np.full((rows, n0), -0.0), np.full((rows, n0), _TINY)

    @staticmethod
    def concatenate(parts: list[Rows], n0: int) -> Rows:
        """The rows of ``parts`` in order (zero-width input terms kept only when every part has them)."""
        if len({p.cx.shape[1] for p in parts}) > 1:
            parts = [replace(p, **dict(zip(("cx", "dcx"), p.input_terms(n0), strict=True))) for p in parts]
        return Rows(*(np.concatenate([getattr(p, f) for p in parts]) for f in Rows.FIELDS))


def objective_rows(lam: np.ndarray, obj: tuple[np.ndarray, ...], alphas: list[Any], H: int) -> Rows:
    """``g = -Σ_k λ_k atom_k`` per leaf, its coefficients' rounding bounded (dot products over atoms)."""
    by, by_err, bx, bx_err, cst, cst_err = obj
    ga = max(2.0**-52, 2.0 * (lam.shape[1] + 4) * _U)
    with np.errstate(all="ignore"):
        c = -(lam @ by)
        dc = (lam @ by_err) * (1 + ga) + ga * (lam @ np.abs(by)) + _TINY
        if bx.any() or bx_err.any():
            cx = -(lam @ bx)
            dcx = (lam @ bx_err) * (1 + ga) + ga * (lam @ np.abs(bx)) + _TINY
        else:  # no atom has an input term: zero-width, expanded per batch (Rows.input_terms)
            cx = dcx = np.zeros((lam.shape[0], 0))
        k0 = -(lam @ cst)
        dk0 = (lam @ cst_err) * (1 + ga) + ga * (lam @ np.abs(cst)) + _TINY
    betas = [a.beta if isinstance(a, LeafBeta) else None for a in alphas]
    alphas = [a.alpha if isinstance(a, LeafBeta) else a for a in alphas]
    has_alpha = np.array([a is not None for a in alphas], dtype=bool)
    alpha = np.zeros((len(alphas), H), dtype=np.uint8)
    if has_alpha.any():
        alpha[has_alpha] = np.stack([np.frombuffer(bytes(a), dtype=np.uint8) for a in alphas if a is not None])
    has_beta = np.array([b is not None for b in betas], dtype=bool)
    beta = np.empty(len(betas), dtype=object)
    beta[:] = betas
    return Rows(c, dc, cx, dcx, k0, dk0, has_alpha, alpha, has_beta, beta)


#: Leaf domains from which the checker spreads its chunks over :data:`CHECK_WORKERS` processes.


def output_deviation(net: Net, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    n_atoms = 1
    zy, zx, zc = np.zeros((n_atoms, net.dims[-1])), np.zeros((n_atoms, net.dims[0])), np.zeros(n_atoms)
    rows = objective_rows(np.ones((1, 1)), (zy, zy, zx, zx, zc, zc), [None], net.H)
    with np.errstate(all="ignore"):
        _, _, ly = bound_batch(net, "crown", [(lo, hi, None)], rows, np.zeros(1, dtype=np.int64))
    D = np.asarray(ly.e[1][0], dtype=np.float64)
    for m in range(2, net.L + 1):
        grow = 1.0 + 2.0 * (net.dims[m - 1] + 2) * _U
        D = _up(_up((net.absW[m] @ D) * grow) + ly.e[m][0])
    return np.where(np.isfinite(D), D, np.inf)


class Layers:
    """Per-layer data of a batch, 1-based (index 0: the network input)."""

    def __init__(self, L: int) -> None:
        def empty() -> list[Any]:
            return [None] * (L + 1)

        self.l, self.u = empty(), empty()          # rigorous bounds of z_m, after the split constraints
        self.yh = empty()                          # magnitude bound of y_m (y_0 = the network input)
        self.e: list[Any] = empty()                # float32 perturbation bounds of z_m (None in real semantics)
        self.vw = empty()                          # |W_m| yh_{m-1}, doubled for m = 1 (see backsub_lower)
        self.vmass = empty()                       # per-neuron weights of the error mass in back-substitution
        self.act, self.unst = empty(), empty()     # neuron states
        self.A, self.S, self.T = empty(), empty(), empty()  # adaptive lower slope, upper slope and intercept
        self.TL = empty()                          # lower intercept (sigmoid, tanh layers; None for ReLU)
        self.ylo, self.yhi = empty(), empty()      # bounds of y_m (sigmoid, tanh layers)
        self.free1: Any = None                     # bounds of z_1 before the split constraints


def domain_arrays(net: Net, domains: list[Any]) -> tuple[np.ndarray, ...]:
    """A batch of domains ``(lo, hi, constraints)`` as arrays ``(lo, hi, neg, pos)``; ``neg[r, j]`` /
    ``pos[r, j]`` mark the neurons that domain ``r``'s splits constrain to ``z <= 0`` / ``z >= 0``."""
    B = len(domains)
    lo_o = np.stack([dm[0] for dm in domains])
    hi_o = np.stack([dm[1] for dm in domains])
    neg = np.zeros((B, net.H), dtype=bool)
    pos = np.zeros((B, net.H), dtype=bool)
    for r, dm in enumerate(domains):
        c = dm[2]
        while c is not None:
            (neg if c[1] < 0 else pos)[r, c[0]] = True
            c = c[2]
    return lo_o, hi_o, neg, pos


def seen_box(net: Net, lo_o: np.ndarray, hi_o: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The box the network sees: in float32 semantics the input is rounded to float32 first, so the
    box is widened outward to float32 values that contain the original one."""
    if net.f32:
        lo32 = lo_o.astype(np.float32)
        lo32 = np.where(lo32.astype(np.float64) > lo_o, np.nextafter(lo32, np.float32(-np.inf)), lo32)
        hi32 = hi_o.astype(np.float32)
        hi32 = np.where(hi32.astype(np.float64) < hi_o, np.nextafter(hi32, np.float32(np.inf)), hi32)
        return lo32.astype(np.float64), hi32.astype(np.float64)
    return lo_o, hi_o


def bound_batch(net: Net, method: str, domains: list[Any], objective: Rows,
                 dom: np.ndarray) -> tuple[np.ndarray, np.ndarray, Layers]:
    """Rigorous lower bounds of the ``objective`` rows (row ``r`` over domain ``dom[r]`` of ``domains``),
    each row's emptiness, and the domains' layer data."""
    B, L, G = len(domains), net.L, net.G
    lo_o, hi_o, neg, pos = domain_arrays(net, domains)
    lo, hi = seen_box(net, lo_o, hi_o)
    xh = np.maximum(np.abs(lo), np.abs(hi))
    xho = np.maximum(np.abs(lo_o), np.abs(hi_o))
    bad = ~(np.all(xh <= net.big, axis=1) & np.all(xho <= net.big, axis=1))
    empty = np.any(lo_o > hi_o, axis=1) & ~bad
    mag = 1.0 + xh.sum(axis=1) + xho.sum(axis=1)
    ly = Layers(L)
    ly.l[0], ly.u[0], ly.yh[0] = lo, hi, xh
    fwd: Any = None
    for m in range(1, L + 1):
        tiny = (_TINY * mag)[:, None]
        vwm = ly.yh[m - 1] @ net.absW[m].T
        if net.f32:
            ly.e[m] = (net.g32[m] * (vwm + net.absb[m])) * (1 + G) + (net.dims[m - 1] + 1) * 2.0**-149
        em = ly.e[m] if net.f32 else 0.0
        ly.vw[m] = 2.0 * vwm if m == 1 else vwm
        # interval arithmetic (for m = 1: the exact affine map concretised over the box)
        if m == 1:
            rl, ru = lo, hi
        elif ly.ylo[m - 1] is not None:
            rl, ru = ly.ylo[m - 1], ly.yhi[m - 1]
        else:
            rl, ru = np.maximum(ly.l[m - 1], 0.0), np.maximum(ly.u[m - 1], 0.0)
        lo_v = rl @ net.Wp[m].T + ru @ net.Wn[m].T + net.b[m]
        hi_v = ru @ net.Wp[m].T + rl @ net.Wn[m].T + net.b[m]
        mass = vwm + net.absb[m] + em
        l = _down(lo_v - em - G * mass - tiny)
        u = _up(hi_v + em + G * mass + tiny)
        if method == "crown" and 2 <= m < L:
            _crown_layer(net, ly, m, l, u, neg, pos, lo, hi, tiny[:, 0])
        elif method == "forward" and m < L:
            fwd = forward_affine(net, m, fwd, ly.e[m], xh, tiny, B)
            fl_, fu_ = forward_concretize(fwd, lo, hi, xh, G, tiny)
            l, u = np.maximum(l, fl_), np.minimum(u, fu_)
        if m == 1:
            ly.free1 = (l, u)
        if m < L:
            sl = slice(int(net.offsets[m - 1]), int(net.offsets[m]))
            u = np.where(neg[:, sl], np.minimum(u, 0.0), u)
            l = np.where(pos[:, sl], np.maximum(l, 0.0), l)
        layer_bad = ~(np.all(np.abs(l) <= net.big, axis=1) & np.all(np.abs(u) <= net.big, axis=1))
        bad |= layer_bad & ~empty
        empty |= ~bad & np.any(l > u, axis=1)
        ly.l[m], ly.u[m] = l, u
        zh = np.maximum(np.abs(l), np.abs(u))
        ly.yh[m] = np.maximum(u, 0.0)
        mag = mag + np.where(np.isfinite(zh), zh, 0.0).sum(axis=1)
        if m < L and net.kinds[m] != "relu":
            _smooth_layer(net, ly, m, l, u, zh, em)
        elif m < L:
            act, unst, ly.A[m], ly.S[m], ly.T[m] = relu_lines(l, u)
            ly.act[m], ly.unst[m] = act, unst
            ly.vmass[m] = ly.vw[m] + net.absb[m] + em + np.where(unst, zh, 0.0)
            if method == "forward":
                fwd = forward_relu(fwd, ly.A[m], ly.S[m], ly.T[m], xh, G, (_TINY * mag)[:, None])
    # the objective g = c·f(x) + cx·x + k0 with c = -λ·B_y, cx = -λ·B_x, k0 = -λ·consts, per row
    ob = objective
    c, dc, k0, dk0 = ob.c, ob.dc, ob.k0, ob.dk0
    cx, dcx = ob.input_terms(net.dims[0])
    fh = np.maximum(np.abs(ly.l[L]), np.abs(ly.u[L]))[dom]
    xho_r, lo_r, hi_r = xho[dom], lo_o[dom], hi_o[dom]
    slack = (dc * fh).sum(axis=1) + (dcx * xho_r).sum(axis=1) + dk0
    # the input part of g: in the real semantics added to the back-substituted input coefficients; in
    # float32 semantics the network sees the rounded input, so the part is bounded over the original box
    in_val = np.sum(np.maximum(cx, 0.0) * lo_r + np.minimum(cx, 0.0) * hi_r, axis=1)
    in_mass = 2.0 * (np.abs(cx) * xho_r).sum(axis=1)
    const0 = k0 - slack
    mass0 = np.abs(k0) + slack + in_mass
    tiny = (_TINY * mag)[:, None]
    a_obj: list[Any] = [None if a is None else a[dom] for a in ly.A]
    if ob.has_alpha.any():
        for m in range(1, L):
            if net.kinds[m] != "relu":  # the lines of sigmoid and tanh layers are the checker's own
                continue
            sl = slice(int(net.offsets[m - 1]), int(net.offsets[m]))
            own = np.where(ly.act[m][dom], 1.0, np.where(ly.unst[m][dom], ob.alpha[:, sl].astype(np.float64) / 255.0,
                                                          0.0))
            a_obj[m] = np.where(ob.has_alpha[:, None], own, a_obj[m])
    # split multipliers: the term -beta_j p_j z_j (p = +1 for z >= 0, -1 for z <= 0), per row
    sbeta = None
    if ob.has_beta.any():
        beta = np.zeros((len(ob.beta), net.H))
        with_beta = np.flatnonzero(ob.has_beta)
        beta[with_beta] = np.stack(list(ob.beta[with_beta]))
        sbeta = beta * (pos[dom].astype(np.float64) - neg[dom].astype(np.float64))
    if net.f32:
        low = backsub_lower(net, ly, L, c, dom, const0 + in_val, mass0, a_obj, lo, hi, tiny[:, 0],
                             slopes_per_row=True, beta=sbeta)
    else:
        low = backsub_lower(net, ly, L, c, dom, const0, mass0, a_obj, lo, hi, tiny[:, 0], cx,
                             slopes_per_row=True, beta=sbeta)
    # interval bound of g from the output bounds (tighter is fine: take the maximum)
    ibp = (np.maximum(c, 0.0) * ly.l[L][dom] + np.minimum(c, 0.0) * ly.u[L][dom]).sum(axis=1) + const0 + in_val
    ibp = _down(ibp - G * ((np.abs(c) * fh).sum(axis=1) + mass0) - tiny[dom, 0])
    bound = np.maximum(low, ibp)
    bound = np.where(np.isfinite(bound) & ~bad[dom], bound, np.nan)
    return np.where(empty[dom], np.inf, bound), empty[dom], ly



def _crown_layer(net: Net, ly: Layers, m: int, l: np.ndarray, u: np.ndarray, neg: np.ndarray, pos: np.ndarray,
                 lo: np.ndarray, hi: np.ndarray, tiny: np.ndarray) -> None:
    """Tighten ``l``, ``u`` (in place) by back-substituting the rows ``±e_j`` of layer ``m`` for the
    neurons that interval arithmetic (and a split) does not already make stable: for those the tighter
    bounds change nothing."""
    sl = slice(int(net.offsets[m - 1]), int(net.offsets[m]))
    need = (u > 0) & (l < 0) & ~neg[:, sl] & ~pos[:, sl] if net.kinds[m] == "relu" else np.isfinite(l)
    bi, jj = np.nonzero(need)
    nr = bi.size
    if m == 2 and net.kinds[1] == "relu" and nr > net.dims[2] and _one_box(lo, hi):
        # (fewer rows than the reference's 2 n_2 are cheaper to back-substitute directly)
        low2, up2 = _layer2_unit_bounds(net, ly, l, u, lo, hi, tiny)
        l[bi, jj] = np.maximum(l[bi, jj], low2[bi, jj])
        u[bi, jj] = np.minimum(u[bi, jj], up2[bi, jj])
        return
    rows = np.zeros((2 * nr, net.dims[m]))
    rows[np.arange(nr), jj] = 1.0
    rows[nr + np.arange(nr), jj] = -1.0
    zero = np.zeros(2 * nr)
    low = backsub_lower(net, ly, m, rows, np.concatenate([bi, bi]), zero, zero, ly.A, lo, hi, tiny)
    l[bi, jj] = np.maximum(l[bi, jj], low[:nr])
    u[bi, jj] = np.minimum(u[bi, jj], -low[nr:])

def _smooth_layer(net: Net, ly: Layers, m: int, l: np.ndarray, u: np.ndarray, zh: np.ndarray,
                  em: Any) -> None:
    """The rigorous lines ``A z + TL <= y <= S z + T`` of a sigmoid or tanh layer, the bounds of its
    activations, and its back-substitution mass: every slope is a computed float, so the rounding of
    ``fl(μ_j a_j)`` (at most ``u |μ_j a_j|``) times ``|z_j| <= zh_j`` is covered for every neuron."""
    A, TL, S, TU, ylo, yhi = s_lines(net.kinds[m], l, u)
    ly.A[m], ly.TL[m], ly.S[m], ly.T[m] = A, TL, S, TU
    ly.ylo[m], ly.yhi[m] = ylo, yhi
    ly.act[m] = np.zeros(l.shape, dtype=bool)
    ly.unst[m] = np.ones(l.shape, dtype=bool)
    ly.yh[m] = np.maximum(np.abs(ylo), np.abs(yhi))
    ly.vmass[m] = ly.vw[m] + net.absb[m] + em + zh


def backsub_lower(net: Net, ly: Layers, K: int, lam: np.ndarray, bi: np.ndarray, const: np.ndarray,
                   mass: np.ndarray, slopes: list[Any], lo: np.ndarray, hi: np.ndarray,
                   tiny: np.ndarray, cx: np.ndarray | None = None,
                   slopes_per_row: bool = False, beta: np.ndarray | None = None) -> np.ndarray:
    """Rigorous lower bound of ``lam[r]·z_K + const[r]`` over the domain of leaf ``bi[r]``, one per row.

    ``lam`` (rows × n_K) holds exact float64 coefficients; ``mass`` is the absolute size of
    everything already folded into ``const``.  Every term added to the constant, and every
    rounding error of a computed coefficient times a magnitude bound of what it multiplies, is
    added to ``mass``; the result subtracts ``G·mass + tiny[leaf]`` and rounds down.  ``cx`` (one
    row per row of ``lam``, optional) is added to the input coefficients before they are
    concretised; the caller accounts for its magnitude in ``mass``.  ``beta`` (rows × H, optional) holds
    ``beta_j p_j`` of the split constraints ``p_j z_j >= 0`` of each row's domain: ``-beta_j p_j z_j <= 0``
    there, so it is added to the row (its coefficient on ``z_m`` is ``lam - beta p``; the rounding of
    that subtraction, at most ``u |lam|`` per coefficient, is covered by adding ``|lam| |z|`` to ``mass``).
    """
    absl = np.abs(lam)
    const = const + lam @ net.b[K]
    # |Λ_K| (|b_K| + e_K + |W_K| yh_{K-1}): the last term covers the rounding of μ = Λ_K W_K
    vt = net.absb[K] + ly.vw[K][bi]
    if ly.e[K] is not None:
        ek = ly.e[K][bi]
        const = const - _rdot(absl, ek)
        vt = vt + ek
    mass = mass + _rdot(absl, vt)
    for m in range(K - 1, 0, -1):
        mu = lam @ net.W[m + 1]
        mun = np.minimum(mu, 0.0)
        lam = np.maximum(mu, 0.0) * (slopes[m] if slopes_per_row else slopes[m][bi]) + mun * ly.S[m][bi]
        if beta is not None:
            bm = beta[:, int(net.offsets[m - 1]):int(net.offsets[m])]
            if np.any(bm):
                lam = lam - bm
                zh = np.maximum(np.abs(ly.l[m][bi]), np.abs(ly.u[m][bi]))
                mass = mass + _rdot(np.abs(lam), zh)
        absl = np.abs(lam)
        tt = _rdot(mun, ly.T[m][bi])
        if ly.TL[m] is not None:  # sigmoid, tanh: the lower line's intercept too (tt: minus its mass)
            tl = ly.TL[m][bi]
            tt = tt + _rdot(np.maximum(mu, 0.0), tl)
            mass = mass + _rdot(np.abs(mu), np.where(mu >= 0, np.abs(tl), np.abs(ly.T[m][bi]))) + tt
        const = const + tt + lam @ net.b[m]
        if ly.e[m] is not None:
            const = const - _rdot(absl, ly.e[m][bi])
        mass = mass + _rdot(absl, ly.vmass[m][bi]) - tt
    cin = lam @ net.W[1]
    if cx is not None:
        cin = cin + cx
    val = const + _rdot(np.maximum(cin, 0.0), lo[bi]) + _rdot(np.minimum(cin, 0.0), hi[bi])
    return _down(val - net.G * mass - tiny[bi])


def relu_lines(l: np.ndarray, u: np.ndarray) -> tuple[np.ndarray, ...]:
    """The states and lines of ReLU neurons with pre-activation bounds ``[l, u]``: ``(act, unst, A, S, T)``
    with ``A z <= y <= S z + T`` (``A`` the adaptive lower slope, 0 or 1).  For an unstable neuron the
    upper line needs ``s >= u/(u-l)`` and ``t >= -s l``: both are rounded up (see the docs)."""
    inact = u <= 0
    act = (l >= 0) & ~inact
    unst = ~inact & ~act
    s = _up(_up(np.maximum((u / (u - l)) * (1 + 8 * _U), 0.0)))
    t = _up(-s * l)
    A = np.where(act | (unst & (u > -l)), 1.0, 0.0)
    S = np.where(act, 1.0, np.where(unst, s, 0.0))
    T = np.where(unst, t, 0.0)
    return act, unst, A, S, T


def _one_box(lo: np.ndarray, hi: np.ndarray) -> bool:
    """Do all domains of the batch have the same input box (ReLU splitting: they all have the root's)?"""
    return bool(lo.shape[0] > 0 and np.array_equal(lo, np.broadcast_to(lo[:1], lo.shape))
                and np.array_equal(hi, np.broadcast_to(hi[:1], hi.shape)))


def _layer2_unit_bounds(net: Net, ly: Layers, l: np.ndarray, u: np.ndarray, lo: np.ndarray, hi: np.ndarray,
                        tiny: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Back-substituted bounds of ``z_2`` (``-inf`` / ``+inf`` where not computed) for a batch of one box.

    Everything the back-substitution of ``±e_j`` reads (layer 1's bounds, lines, masses and ``tiny``,
    layer 2's ``|W_2| ŷ_1``) is a function of the box, layer 1's bounds after the splits and ``tiny``:
    domains equal in those get the same numbers, so each group is computed once, for the neurons
    that interval arithmetic leaves unstable (a superset of what any member needs), and kept on ``net``
    for later batches of the same check (the checker orders domains by their first-layer splits, so
    that a group's domains meet in few batches).
    """
    box = lo[0].tobytes() + hi[0].tobytes()  # one box for the batch (the caller checked)
    names = [box + ly.l[1][r].tobytes() + ly.u[1][r].tobytes() + tiny[r:r + 1].tobytes() for r in range(lo.shape[0])]
    groups: dict[bytes, int] = {}
    inv = np.array([groups.setdefault(k, len(groups)) for k in names], dtype=np.int64)
    _, rep = np.unique(inv, return_index=True)  # the first member of each group
    low_g = np.full((rep.size, net.dims[2]), -np.inf)
    up_g = np.full((rep.size, net.dims[2]), np.inf)
    # groups met in earlier batches of this check (the checker orders domains by their first-layer splits)
    cache = net.layer2_groups
    todo = []
    for g, r in enumerate(rep.tolist()):
        hit = cache.get(names[r])
        if hit is None:
            todo.append(g)
        else:
            low_g[g], up_g[g] = hit
    if todo:
        sub = rep[todo]
        cand = (u[sub] > 0) & (l[sub] < 0) if net.kinds[2] == "relu" else np.isfinite(l[sub])
        gi, jj = np.nonzero(cand)
        nr = gi.size
        sg = np.concatenate([np.ones(nr), -np.ones(nr)])
        bi = sub[gi]
        low = backsub_units_layer2(net, ly, np.concatenate([jj, jj]), sg, np.concatenate([bi, bi]), lo, hi, tiny)
        rows = np.asarray(todo)[gi]
        low_g[rows, jj] = low[:nr]
        up_g[rows, jj] = -low[nr:]
        if len(cache) > 4096:
            cache.clear()
        for g in todo:
            cache[names[rep[g]]] = (low_g[g].copy(), up_g[g].copy())
    return low_g[inv], up_g[inv]


def backsub_units_layer2(net: Net, ly: Layers, jj: np.ndarray, sg: np.ndarray, bi: np.ndarray, lo: np.ndarray,
                         hi: np.ndarray, tiny: np.ndarray) -> np.ndarray:
    """:func:`backsub_lower` for the rows ``sg[r] e_{jj[r]}`` of ``z_2`` (intermediate bounds of the second
    layer) when every domain of the batch has the same input box and the first hidden layer is ReLU.

    The same quantities as the general routine, except the input coefficients ``c = λ_1 W_1``: with
    ``Λ`` the rows ``λ_1`` formed with reference lines ``(A°, S°)`` of layer 1 (those of the box before any
    split), ``λ_1`` differs from ``Λ`` only on the neurons whose lines a split changed, so
    ``c = fl(R + fl(D W_1))`` with ``R = fl(Λ W_1)`` computed once and ``D = fl(λ_1 - Λ)`` sparse.  Its
    rounding error times ``|x| <= xh`` is at most ``γ_n |Λ|·v + (γ_k + 3u) |D|·v + u |c|·xh`` with
    ``v = |W_1| xh``; each of the three terms is added to the error mass (which ``G >= 2 (2n + 16) u`` then
    multiplies), on top of the general routine's own terms, which stay.  Everything else is computed as
    :func:`backsub_lower` computes it (a unit row's products are exact).
    """
    w2 = net.W[2]
    # layer 2: const = λ·b_2, mass = |λ|·(|b_2| + vw_2 (+ e_2)), μ = λ W_2 (exact for unit rows)
    const = sg * net.b[2][jj]
    vt = net.absb[2][jj] + ly.vw[2][bi, jj]
    if ly.e[2] is not None:
        ek = ly.e[2][bi, jj]
        const = const - ek
        vt = vt + ek
    mass = vt
    mu = sg[:, None] * w2[jj]
    mun = np.minimum(mu, 0.0)
    mup = np.maximum(mu, 0.0)
    a1, s1 = ly.A[1][bi], ly.S[1][bi]
    lam = mup * a1 + mun * s1
    absl = np.abs(lam)
    tt = _rdot(mun, ly.T[1][bi])
    const = const + tt + lam @ net.b[1]
    if ly.e[1] is not None:
        const = const - _rdot(absl, ly.e[1][bi])
    mass = mass + _rdot(absl, ly.vmass[1][bi]) - tt
    # the input coefficients from the reference rows
    ref = _reference_rows(net, ly)
    lam_ref, r_in, lam_ref_v = ref
    rid = jj + np.where(sg > 0, 0, w2.shape[0])
    d = lam - lam_ref[rid]  # exactly zero wherever the domain's lines are the reference ones
    d_sp = sp.csr_matrix(d)
    cin = r_in[rid] + np.asarray(d_sp @ net.W[1])
    xh = ly.yh[0][0]
    v1 = ly.vw[1][0] * 0.5  # |W_1| xh (vw_1 is stored doubled; halving is exact)
    mass = mass + lam_ref_v[rid] + np.asarray(abs(d_sp) @ v1).reshape(-1) + np.abs(cin) @ xh
    val = const + np.maximum(cin, 0.0) @ lo[0] + np.minimum(cin, 0.0) @ hi[0]
    return _down(val - net.G * mass - tiny[bi])


def _reference_rows(net: Net, ly: Layers) -> tuple[np.ndarray, ...]:
    """``(Λ, R, |Λ|·v)`` for the batch's box (cached on ``net`` by the reference lines, those of layer 1
    before any split): the rows ``λ_1`` of ``±e_j`` of layer 2 with them (``+`` rows first),
    ``R = fl(Λ W_1)`` and ``|Λ| (|W_1| xh)``.  Any reference lines give a sound result; these make ``D``
    sparse."""
    l, u = ly.free1
    _, _, ar, sr_, _ = relu_lines(l[:1], u[:1])
    ar, sr_ = ar[0], sr_[0]
    v1 = ly.vw[1][0] * 0.5
    key = ar.tobytes() + sr_.tobytes() + v1.tobytes()  # three arrays of one fixed length
    cache = net.reference_rows
    hit = cache.get(key)
    if hit is None:
        w2 = net.W[2]
        mu = np.concatenate([w2, -w2])
        lam = np.maximum(mu, 0.0) * ar + np.minimum(mu, 0.0) * sr_
        hit = (lam, lam @ net.W[1], np.abs(lam) @ v1)
        if len(cache) >= 4:
            cache.clear()
        cache[key] = hit
    return hit

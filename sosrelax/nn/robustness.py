"""Per-point L∞ robustness of a classifier: certified rungs, exact MILP truth, PGD attacks.

For an input ``x0``, radius ``eps`` and label ``c``, the network is robust when
``f_c(x) > f_j(x)`` for every ``j != c`` and every ``x`` in the box ``x0 ± eps`` (clipped to the
input domain when one is given).  Three views of that question, ordered by construction:

* :func:`certify_point` — each rung of :mod:`sosrelax.nn.verify` proves, per other class ``j``, a
  lower bound of ``f_c - f_j`` that the checker verified; the point is certified by a rung when
  every bound is ``> 0``.  Each rung is at least as tight as the one before it (linear keeps the
  better of back-substitution and interval arithmetic; LP contains every linear fact; the SDP
  contains every LP constraint plus a box product per variable, on the chain whose stable neurons
  are eliminated, and a class keeps the best bound of the rungs so far);
* :func:`milp_margin` — the exact ``max_x max_j f_j - f_c`` by a big-M mixed-integer program
  (``scipy.optimize.milp``, HiGHS), with the neuron bounds of float CROWN as big-M constants;
* :func:`pgd_attack` — projected sign-gradient ascent from random starts; a found point is a
  float counterexample (an upper bound on robustness).

Any certified point is exactly robust and has no attack; the tests check that ordering per point.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np

from sosrelax.nn.bounds import crown_bounds
from sosrelax.nn.encode import build_chain
from sosrelax.nn.ir import Network
from sosrelax.nn.vnnlib import Atom, Disjunct

__all__ = ["PointResult", "box_of", "certify_point", "milp_margin", "pgd_attack"]


@dataclass(frozen=True)
class PointResult:
    """Per rung: the smallest proven margin ``min_j (f_c - f_j)`` lower bound, and seconds spent.

    ``bounds[rung]`` is ``None`` when some class got no verified bound.
    """

    bounds: dict[str, float | None] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)

    def certified(self, rung: str) -> bool:
        """True when the rung proved every margin positive."""
        b = self.bounds.get(rung)
        return b is not None and b > 0


def box_of(x0: np.ndarray, eps: float, lo: float | None = None, hi: float | None = None
           ) -> tuple[tuple[Fraction, ...], tuple[Fraction, ...]]:
    """The exact box ``x0 ± eps`` intersected with ``[lo, hi]`` (floats taken exactly)."""
    e = Fraction(eps)
    a = [Fraction(float(v)) - e for v in np.asarray(x0, float).ravel()]
    b = [Fraction(float(v)) + e for v in np.asarray(x0, float).ravel()]
    if lo is not None:
        a = [max(v, Fraction(lo)) for v in a]
    if hi is not None:
        b = [min(v, Fraction(hi)) for v in b]
    return tuple(a), tuple(b)


def certify_point(net: Network, box: tuple[tuple[Fraction, ...], tuple[Fraction, ...]], label: int,
                  rungs: tuple[str, ...] = ("interval", "linear", "lp", "sdp")) -> PointResult:
    """Proven lower bounds of ``min_j f_label - f_j`` over the box, per rung (checker-verified).

    Rungs run as a schedule: a class ``j`` already proven positive by an earlier rung is not run
    again (its bound carries over), so ``bounds[rung]`` is the minimum over classes of the best
    bound proven by that rung or an earlier one.  Certification verdicts are those of running every
    rung on every class (each rung is at least as tight as the previous one), at a fraction of the
    cost.  A rung's value is ``None`` when some class got no bound at all.
    """
    net.require_logits("the robustness margin")
    from sosrelax.nn.verify import prove_atom_violated

    lo, hi = box
    others = [j for j in range(net.n_outputs) if j != label]
    best: dict[int, float | None] = {j: None for j in others}
    bounds: dict[str, float | None] = {}
    seconds: dict[str, float] = {}
    chains = {"interval": build_chain(net, lo, hi, method="interval"), "crown": build_chain(net, lo, hi)}
    for rung in rungs:
        t0 = time.perf_counter()
        if rung in ("sdp", "sos") and "reduced" not in chains:
            # moment rungs: variables for the unstable neurons only (stable ones are proven
            # linear by the chain's lemmas), so the moment matrix is as small as it can be
            chains["reduced"] = build_chain(net, lo, hi, eliminate_stable=True)
        chain = chains["interval" if rung == "interval" else "reduced" if rung in ("sdp", "sos") else "crown"]
        for j in others:
            prev = best[j]
            if prev is not None and prev > 0:
                continue
            # catastrophe atom: f_j - f_label >= 0; proving it violated bounds f_label - f_j
            atom = Atom((), tuple(sorted([(j, Fraction(1)), (label, Fraction(-1))])), Fraction(0))
            _, b, _, _ = prove_atom_violated(net, Disjunct(lo, hi, (atom,)), 0, rung, chain)
            if b is not None and (prev is None or b > prev):
                best[j] = b
        vals = list(best.values())
        bounds[rung] = None if any(v is None for v in vals) else float(min(v for v in vals if v is not None))
        seconds[rung] = time.perf_counter() - t0
    return PointResult(bounds, seconds)


def milp_margin(net: Network, box: tuple[tuple[Fraction, ...], tuple[Fraction, ...]], label: int,
                *, time_limit: float = 60.0) -> float:
    """Exact ``max_{x in box} max_{j != label} f_j(x) - f_label(x)`` (big-M MILP, HiGHS).

    Robust iff the value is ``< 0``.  Every hidden neuron with bounds ``l < 0 < u`` (float CROWN,
    widened by ``1e-6``) gets a binary ``a``: ``h >= z``, ``h >= 0``, ``h <= z - l (1 - a)``,
    ``h <= u a``; stable neurons are linear.  Returns ``nan`` when the solver fails.
    """
    net.require_logits("the robustness margin")
    from scipy.optimize import Bounds, LinearConstraint, milp
    from scipy.sparse import lil_matrix

    lo = np.array([float(v) for v in box[0]])
    hi = np.array([float(v) for v in box[1]])
    fb = crown_bounds(net, lo, hi)
    L = len(net.weights)
    sizes = [net.n_inputs, *net.hidden_sizes]
    # variables: x, then per hidden layer z (pre) , h (post), a (binary)
    offs = []
    n = net.n_inputs
    for k in range(L - 1):
        m = sizes[k + 1]
        offs.append((n, n + m, n + 2 * m))
        n += 3 * m
    best = -np.inf
    for j in range(net.n_outputs):
        if j == label:
            continue
        rows: list[tuple[dict[int, float], float, float]] = []
        prev = list(range(net.n_inputs))
        lb = np.full(n, -np.inf)
        ub = np.full(n, np.inf)
        lb[: net.n_inputs], ub[: net.n_inputs] = lo, hi
        integrality = np.zeros(n)
        for k in range(L - 1):
            zo, ho, ao = offs[k]
            W, b = net.weights[k], net.biases[k]
            l = fb.lower[k] - 1e-6
            u = fb.upper[k] + 1e-6
            for i in range(W.shape[0]):
                coef = {prev[t]: float(W[i, t]) for t in np.flatnonzero(W[i])}
                coef[zo + i] = coef.get(zo + i, 0.0) - 1.0
                rows.append((coef, -b[i], -b[i]))  # W v - z = -b
                lb[zo + i], ub[zo + i] = l[i], u[i]
                lb[ao + i], ub[ao + i] = 0, 1
                integrality[ao + i] = 1
                lb[ho + i], ub[ho + i] = 0, max(u[i], 0)
                if u[i] <= 0:
                    ub[ho + i] = 0
                elif l[i] >= 0:
                    rows.append(({ho + i: 1.0, zo + i: -1.0}, 0.0, 0.0))
                else:
                    rows.append(({ho + i: 1.0, zo + i: -1.0}, 0.0, np.inf))
                    rows.append(({ho + i: 1.0, zo + i: -1.0, ao + i: -l[i]}, -np.inf, -l[i]))
                    rows.append(({ho + i: 1.0, ao + i: -u[i]}, -np.inf, 0.0))
            prev = list(range(ho, ho + W.shape[0]))
        Wl, bl = net.weights[-1], net.biases[-1]
        c = np.zeros(n)
        for t in range(Wl.shape[1]):
            c[prev[t]] -= Wl[j, t] - Wl[label, t]
        A = lil_matrix((len(rows), n))
        rl = np.empty(len(rows))
        ru = np.empty(len(rows))
        for r, (coef, a, bb) in enumerate(rows):
            for v, w in coef.items():
                A[r, v] = w
            rl[r], ru[r] = a, bb
        res = milp(c, constraints=LinearConstraint(A.tocsr(), rl, ru), integrality=integrality,
                   bounds=Bounds(lb, ub), options={"time_limit": time_limit})
        if res.x is None:
            return float("nan")
        best = max(best, -float(res.fun) + float(bl[j] - bl[label]))
    return best


def pgd_attack(net: Network, box: tuple[tuple[Fraction, ...], tuple[Fraction, ...]], label: int,
               rng: np.random.Generator, *, restarts: int = 8, steps: int = 60) -> np.ndarray | None:
    """A float input in the box whose prediction is not ``label`` (or ``None``).

    Projected sign-gradient ascent on ``max_j f_j - f_label`` from the centre and random starts;
    the step halves every ``steps // 4`` iterations.
    """
    lo = np.array([float(v) for v in box[0]])
    hi = np.array([float(v) for v in box[1]])
    starts = [(lo + hi) / 2] + [rng.uniform(lo, hi) for _ in range(restarts - 1)]
    for x in starts:
        step = (hi - lo).max() / 4
        for it in range(steps):
            zs = net.activations(x)
            y = zs[-1]
            others = [j for j in range(net.n_outputs) if j != label]
            j = max(others, key=lambda t: y[t])
            if y[j] >= y[label]:
                return x
            g = np.zeros(net.n_outputs)
            g[j], g[label] = 1.0, -1.0
            for k in range(len(net.weights) - 1, -1, -1):
                g = g @ net.weights[k]
                if k:
                    g = g * (zs[k - 1] > 0)
            x = np.clip(x + step * np.sign(g), lo, hi)
            if (it + 1) % max(1, steps // 4) == 0:
                step /= 2
        y = net.forward(x)
        if max(y[t] for t in range(net.n_outputs) if t != label) >= y[label]:
            return x
    return None

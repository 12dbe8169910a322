"""Batched neuron-splitting branch and bound for networks with many inputs, with proof trees.

Input splitting (:mod:`sosrelax.nn.search.bab`) needs a number of boxes exponential in the input
dimension; for image-sized inputs (MNIST: 784) the search splits hidden neurons instead.  A
sub-domain is the input box together with sign constraints ``z_{k,j} <= 0`` or ``z_{k,j} >= 0`` on
some hidden pre-activations (``phases``).  All disjuncts of a property that share the same box are
searched **jointly**: the objective rows are the negated atoms of every disjunct, and one split tree
serves them all.

On every batch of sub-domains the search

1. bounds the pre-activations (CROWN with the split constraints clamped into the bounds, see
   :func:`~sosrelax.nn.search.bounds.intermediate_bounds`; for the first back-substituted layer an
   incremental form that reuses the root's back-substitution, since only the split neurons' relaxations
   differ from the root's, computed once per set of first-layer splits and kept: many sub-domains share
   one);
2. bounds every row ``-atom_r`` from below (:func:`~sosrelax.nn.search.bounds.final_bounds`) and, on the
   sub-domains the plain bound leaves open, with optimised lower slopes and multipliers of the split
   constraints (:func:`~sosrelax.nn.search.bounds.optimise_slopes`, alpha-beta-CROWN), started from the
   parent's optimised values and stopped once the row closes;
3. closes a disjunct on a sub-domain when one of that disjunct's rows has a positive lower bound, or
   when the constraints are contradictory (empty domain) — the sub-domain is a leaf of that disjunct's
   proof tree; it is done when every disjunct is closed on it;
4. tries the minimiser of each open sub-domain's linear bound as a counterexample;
5. splits one unstable neuron per open sub-domain: of the best neurons by the BaBSR-style score
   ``t_j · max(-mu_j, 0)`` (the upper relaxation's intercept ``t_j = -s_j l_j`` times the
   back-substituted coefficient of the neuron in the worst open row: the amount of bound the split
   removes) the one whose worse child has the best bound under the parent's optimised slopes and
   multipliers; children ``z <= 0`` then ``z >= 0``.

Sigmoid and tanh neurons are split the same way, at their inflection point 0 (each child's interval is
convex or concave, with tangent and secant lines); their lines stay fixed (the checker derives its own
from the bounds), their split constraints get multipliers as ReLU splits do.  So are the piecewise-constant
``sign``, ``step`` and ``eq`` neurons, at their discontinuity 0 (horizontal lines of their least and largest
values on each side).

The joint tree cut at the node where a disjunct closed is that disjunct's proof tree
(:mod:`sosrelax.certificate.proof_tree`: ReLU-split nodes ``("r", k, j)`` and leaves
``("l", lambdas, alpha)`` or, with split multipliers, ``("b", lambdas, (alpha, beta))``), which the
independent checker re-proves with rigorous arithmetic before
:func:`decide_wide` answers ``unsat``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from sosrelax.nn.ir import Network
from sosrelax.nn.search.attack import (
    joint_attack,
    pgd_from,
    try_points,
)
from sosrelax.nn.search.bab import CLOSE_TOLERANCE, BoxOutcome, SearchStats
from sosrelax.nn.search.bounds import (
    Arrays,
    Bounds,
    final_bounds,
    intermediate_bounds,
    optimise_slopes,
    relaxation,
    round_out32,
    s_gap,
)
from sosrelax.nn.search.driver import SearchResult, atom_arrays, decide_by_boxes, inner_box
from sosrelax.nn.vnnlib import Property
from sosrelax.nn.witness import Witnesses

__all__ = ["JointStats", "decide_wide", "search_joint"]

log = logging.getLogger(__name__)

#: The attack restarts from the open sub-domains' bound minimisers every this many batches, while
#: those restarts have taken less than ``ATTACK_SHARE`` of the search's time (a long search is mostly
#: a proof: the bounds, not the attack, decide it).
ATTACK_EVERY = 4
ATTACK_SHARE = 0.04
#: Most seconds the attack before the search may take.
ATTACK_SECONDS = 10.0

#: Share of the remaining time the search may use; the rest is kept for the proof check.
SEARCH_SHARE = 0.75


@dataclass
class JointStats(SearchStats):
    """Counters of one joint search; ``closed_by``: sub-domains closed by each bound (``crown``, ``alpha``)."""

    closed_by: dict[str, int] = field(default_factory=dict)


class _JointTree:
    """Splits ``node -> ("r", k, j, child_le, child_ge)`` or ``("s", i, v, child_lo, child_hi)`` and
    per-disjunct leaves ``(node, d) -> (atom, alpha, beta)`` (``beta``: float64 bytes or None)."""

    def __init__(self) -> None:
        self.n = 1
        self.split: dict[int, tuple[str, int, Any, int, int]] = {}
        self.leaf: dict[tuple[int, int], tuple[int, bytes | None, bytes | None]] = {}

    def new_many(self, k: int) -> np.ndarray:
        out = np.arange(self.n, self.n + k, dtype=np.int64)
        self.n += k
        return out

    def preorder(self, d: int, n_atoms: int) -> list[tuple[Any, ...]]:
        """Disjunct ``d``'s tree: the joint tree, cut where ``d`` closed unless every sub-domain below
        closes ``d`` too (then the joint leaves are kept, so that the disjuncts' trees share their
        leaves' domains and the checker bounds each of those once)."""
        ok: dict[int, bool] = {}
        walk: list[tuple[int, bool]] = [(0, False)]
        while walk:
            node, seen = walk.pop()
            sp = self.split.get(node)
            if sp is None:
                ok[node] = (node, d) in self.leaf
            elif not seen:
                walk += [(node, True), (sp[3], False), (sp[4], False)]
            else:
                ok[node] = ok[sp[3]] and ok[sp[4]]
        out: list[tuple[Any, ...]] = []
        stack = [0]
        while stack:
            node = stack.pop()
            lf = self.leaf.get((node, d))
            sp = self.split.get(node)
            if lf is not None and (sp is None or not ok[node]):
                lam = [0.0] * n_atoms
                lam[lf[0]] = 1.0
                out.append(("l", tuple(lam), lf[1]) if lf[2] is None else ("b", tuple(lam), (lf[1], lf[2])))
                continue
            assert sp is not None, "open node in a finished tree"
            kind, k, j, first, second = sp
            out.append((kind, k, j))
            stack.append(second)
            stack.append(first)
        return out


class _FirstLayer:
    """CROWN bounds of hidden layer 1 on many sub-domains of one box, reusing the root's work.

    On the box, layer 0's bounds are the same for every sub-domain except at split neurons (clamped to
    ``z <= 0`` or ``z >= 0``), so the back-substituted rows ``±e_j`` of layer 1 differ from the root's
    only in those columns: ``g = g_root + (mu_S · (slope - slope_root)_S) W0_S``.  Mathematically the
    same bound as :func:`~sosrelax.nn.search.bounds.intermediate_bounds`.  In the float32 semantics the
    box is the float32-widened one, layer 0's rounding bound ``e_0`` (the same on every sub-domain)
    enters as ``-|lam| e_0`` and layer 1's own bound ``e_1`` is computed per sub-domain, as there.
    """

    def __init__(self, arr: Arrays, lo: np.ndarray, hi: np.ndarray) -> None:
        self.arr = arr
        xlo, xhi = round_out32(lo, hi) if arr.float32 else (lo, hi)
        self.cen, self.rad = 0.5 * (xlo + xhi), 0.5 * (xhi - xlo)
        zc = self.cen @ arr.W[0].T + arr.b[0]
        zr = self.rad @ arr.absW[0].T
        self.l0, self.u0 = zc - zr, zc + zr
        e0 = arr.rounding(0, np.maximum(np.abs(xlo), np.abs(xhi))[None])
        self.e0 = None if e0 is None else e0[0]
        if self.e0 is not None:
            self.l0, self.u0 = self.l0 - self.e0, self.u0 + self.e0
        self.a0, self.s0, self.t0 = relaxation(self.l0, self.u0)
        W1, b1 = arr.W[1], arr.b[1]
        self.mu = np.vstack([W1, -W1])  # rows: lower bound of z_j, then of -z_j
        self.pos = self.mu >= 0
        lam = self.mu * np.where(self.pos, self.a0, self.s0)
        self.g = lam @ arr.W[0]
        self.const = np.concatenate([b1, -b1]) + np.minimum(self.mu, 0.0) @ self.t0 + lam @ arr.b[0]
        if self.e0 is not None:
            self.const = self.const - np.abs(lam) @ self.e0
        self.cache: dict[bytes, tuple[np.ndarray, ...]] = {}

    def bounds(self, phases: list[np.ndarray]) -> Bounds:
        """The bounds of every sub-domain ``phases`` (``(B, n_k)`` per hidden layer).

        Layer 1's bounds depend on layer 0's splits only, up to the clamps of layer 1's own splits
        (and a split neuron of layer 1 keeps its interval bounds, as in the checker): they are computed
        once per distinct set of layer-0 splits and kept (:attr:`CACHE` sets)."""
        ph0, ph1 = phases[0], phases[1]
        B = ph0.shape[0]
        keys = [row.tobytes() for row in ph0]
        new = {k: i for i, k in enumerate(keys) if k not in self.cache}
        if len(self.cache) + len(new) > self.CACHE:
            self.cache.clear()
            new = {k: i for i, k in enumerate(keys)}
        for key, i in new.items():
            self.cache[key] = self._group(ph0[i])
        groups = [self.cache[k] for k in keys]
        l0, u0, l1i, u1i, l1c, u1c, e1, empty = (np.stack([g[m] for g in groups]) for m in range(8))
        split = ph1 != 0
        l1 = np.where(split, l1i, l1c)
        u1 = np.where(split, u1i, u1c)
        u1 = np.where(ph1 < 0, np.minimum(u1, 0.0), u1)
        l1 = np.where(ph1 > 0, np.maximum(l1, 0.0), l1)
        empty = empty | np.any(l1 > u1, axis=1)
        errs: list[np.ndarray | None] = [None, None]
        if self.e0 is not None:
            errs = [np.broadcast_to(self.e0, (B, self.e0.size)), e1]
        return Bounds([l0, l1], [u0, u1], errs, empty)

    #: Most sets of layer-0 splits whose bounds are kept (then the table starts again).
    CACHE = 4096

    def _group(self, ph0: np.ndarray) -> tuple[np.ndarray, ...]:
        """``(l0, u0, l1_interval, u1_interval, l1, u1, e1, empty)`` for the layer-0 splits ``ph0``
        (``l1, u1``: with the CROWN rows of the interval-unstable neurons; ``e1``: layer 1's rounding
        bound, zeros in the exact semantics; ``empty``: a layer-0 split contradicts its bounds)."""
        arr = self.arr
        n1 = arr.W[1].shape[0]
        l0 = np.where(ph0 > 0, np.maximum(self.l0, 0.0), self.l0)
        u0 = np.where(ph0 < 0, np.minimum(self.u0, 0.0), self.u0)
        empty = bool(np.any(l0 > u0))
        a, s, t = relaxation(l0, u0)
        # interval arithmetic for layer 1
        y_lo, y_hi = np.maximum(l0, 0.0), np.maximum(u0, 0.0)
        yc, yr = 0.5 * (y_lo + y_hi), 0.5 * (y_hi - y_lo)
        zc = yc @ arr.W[1].T + arr.b[1]
        zr = yr @ arr.absW[1].T
        l1i, u1i = zc - zr, zc + zr
        e1r = arr.rounding(1, y_hi[None])
        e1 = np.zeros(n1) if e1r is None else e1r[0]
        if e1r is not None:
            l1i, u1i = l1i - e1, u1i + e1
        l1, u1 = l1i.copy(), u1i.copy()
        # CROWN rows exactly where the checker computes them: interval-unstable (and, per sub-domain,
        # unsplit) neurons
        rows_j = np.flatnonzero((u1i > 0) & (l1i < 0)) if not empty else np.zeros(0, dtype=np.int64)
        if rows_j.size:
            W0, b0 = arr.W[0], arr.b[0]
            rows = np.concatenate([rows_j, rows_j + n1])
            cols = np.flatnonzero((a != self.a0) | (s != self.s0) | (t != self.t0))
            g = self.g[rows]
            const = self.const[rows]
            if cols.size:
                mu = self.mu[np.ix_(rows, cols)]
                ds = np.where(self.pos[np.ix_(rows, cols)], a[cols] - self.a0[cols], s[cols] - self.s0[cols])
                dlam = mu * ds
                g = g + dlam @ W0[cols]
                const = const + np.minimum(mu, 0.0) @ (t[cols] - self.t0[cols]) + dlam @ b0[cols]
                if self.e0 is not None:
                    old = mu * np.where(self.pos[np.ix_(rows, cols)], self.a0[cols], self.s0[cols])
                    const = const - (np.abs(old + dlam) - np.abs(old)) @ self.e0[cols]
            val = const + g @ self.cen - np.abs(g) @ self.rad
            k = rows_j.size
            e = e1[rows_j]
            l1[rows_j] = np.maximum(l1[rows_j], val[:k] - e)
            u1[rows_j] = np.minimum(u1[rows_j], -val[k:] + e)
        return l0, u0, l1i, u1i, l1, u1, e1, np.array(empty)


def _scores(arr: Arrays, bnd: Bounds, rows: np.ndarray, phases: list[np.ndarray]) -> np.ndarray:
    """BaBSR-style split scores ``(B, H)`` of every hidden neuron (all layers in order), ``-inf`` for
    neurons that are stable or already split.

    ``rows`` ``(B, n_out)`` are the output coefficients of each sub-domain's worst open row.  Score of
    an unstable, unsplit ReLU: ``t_j · max(-mu_j, 0)`` (the upper relaxation's intercept times the
    back-substituted coefficient: the bound the split removes), with ``1e-4 · |mu_j| · min(u_j, -l_j)``
    added to rank neurons whose intercept is unused.  A sigmoid or tanh neuron is unstable when its
    interval contains the inflection point 0 (the split there leaves a convex and a concave piece with
    tangent and secant lines); its score is ``|mu_j|`` times the largest gap between its two lines
    (:func:`~sosrelax.nn.search.bounds.s_gap`).
    """
    L = arr.n_layers - 1
    mu = rows @ arr.W[L]
    out: list[np.ndarray] = [np.empty(0)] * L
    for k in range(L - 1, -1, -1):
        l, u = bnd.lower[k], bnd.upper[k]
        uns = (l < 0) & (u > 0) & (phases[k] == 0)
        if arr.kind(k) == "relu":
            a, s, t = relaxation(l, u)
            score = t * np.maximum(-mu, 0.0) + 1e-4 * np.abs(mu) * np.minimum(u, -l)
        else:
            a, s, *_ = arr.lines(k, l, u)
            score = np.abs(mu) * s_gap(arr.kind(k), l, u)
        out[k] = np.where(uns, score, -np.inf)
        mu = (mu * np.where(mu >= 0, a, s)) @ arr.W[k]
    return np.concatenate(out, axis=1)


def _rows_bounds(arr: Arrays, bnd: Bounds, lo: np.ndarray, hi: np.ndarray,
                 rows: tuple[np.ndarray, np.ndarray, np.ndarray | None], want: np.ndarray, *, need_g: bool = True,
                 ) -> tuple[np.ndarray, np.ndarray]:
    """:func:`~sosrelax.nn.search.bounds.final_bounds` of the wanted ``(sub-domain, row)`` pairs only
    (one call per row over the sub-domains that want it); ``-inf`` and zero coefficients elsewhere."""
    C, d, Cx = rows
    B, R = want.shape
    lb = np.full((B, R), -np.inf)
    g = np.zeros((B, R, lo.shape[1]) if need_g else (0,))
    for r in np.flatnonzero(want.any(axis=0)):
        dom = np.flatnonzero(want[:, r])
        lr, gr = final_bounds(arr, _take(bnd, dom), lo[dom], hi[dom], C[r:r + 1], d[r:r + 1],
                              None if Cx is None else Cx[r:r + 1])
        lb[dom, r] = lr[:, 0]
        if need_g:
            g[dom, r] = gr[:, 0]
    return lb, g


#: A sub-domain counts as empty only when some ``l - u`` exceeds this share of ``1 + |l| + |u|``: the
#: checker's rigorous bounds are a little wider than the search's float ones, and a leaf closed as
#: empty by a hair would be an unproven leaf there.
EMPTY_MARGIN = 1e-6


def _clearly_empty(bnd: Bounds) -> np.ndarray:
    """The sub-domains whose constraints contradict their bounds by more than :data:`EMPTY_MARGIN`."""
    out = np.zeros_like(bnd.empty)
    for l, u in zip(bnd.lower, bnd.upper, strict=True):
        out |= np.any(l - u > EMPTY_MARGIN * (1.0 + np.abs(l) + np.abs(u)), axis=1)
    return out & bnd.empty


def _take(bnd: Bounds, sel: np.ndarray) -> Bounds:
    """The bounds of the sub-domains ``sel``."""
    return Bounds([x[sel] for x in bnd.lower], [x[sel] for x in bnd.upper],
                  [None if e is None else e[sel] for e in bnd.err], bnd.empty[sel])


def _child_bound(arr: Arrays, first: _FirstLayer | None, lo: np.ndarray, hi: np.ndarray,
                 rows: tuple[np.ndarray, np.ndarray, np.ndarray | None], open_rows: np.ndarray, parent: Bounds,
                 starts: list[_Warm | None] | None = None) -> Callable[[list[np.ndarray], np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """``bound(phases, par, last)``: the worst open row's CROWN lower bound and emptiness of children
    of the sub-domains ``par`` (indices into ``lo``, ``hi``, ``open_rows``, ``parent``) with the given
    phases.  A child whose only new split is in the last hidden layer (``last``) keeps its parent's
    bounds with that neuron clamped: no other pre-activation depends on it.  With ``starts`` (per
    sub-domain ``par``: its optimised slopes and multipliers) the children's bounds are those of the
    parent's slopes and multipliers, where the children's optimisation starts."""
    C, d, Cx = rows
    K = len(parent.lower) - 1

    def bound(ph: list[np.ndarray], par: np.ndarray, last: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        plo, phi = lo[par], hi[par]
        low = [x[par] for x in parent.lower]
        up = [x[par] for x in parent.upper]
        low[K] = np.where(ph[K] > 0, np.maximum(low[K], 0.0), low[K])
        up[K] = np.where(ph[K] < 0, np.minimum(up[K], 0.0), up[K])
        empty = parent.empty[par] | np.any(low[K] > up[K], axis=1)
        errs = [None if e is None else np.array(e[par]) for e in parent.err]
        full = np.flatnonzero(~last)
        if full.size:
            sph = [p[full] for p in ph]
            sb = first.bounds(sph) if first is not None else intermediate_bounds(arr, plo[full], phi[full], sph)
            for m in range(K + 1):
                low[m][full], up[m][full] = sb.lower[m], sb.upper[m]
                e_m = sb.err[m]
                if e_m is not None:
                    errs[m][full] = e_m  # type: ignore[index]
            empty[full] = sb.empty
        # a child split only in the last hidden layer keeps its parent's bounds and rounding bounds (the
        # clamp only lowers the magnitudes they were computed from)
        cb = Bounds(low, up, errs, empty)
        if starts is not None:
            clb = _rows_started(arr, cb, plo, phi, rows, open_rows[par], [starts[i] for i in par], ph)
        else:
            clb, _ = _rows_bounds(arr, cb, plo, phi, rows, open_rows[par], need_g=False)
        return np.min(np.where(open_rows[par], clb, np.inf), axis=1), empty

    return bound


def _branch(arr: Arrays,
            bound: Callable[[list[np.ndarray], np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]],
            bnd: Bounds, rows: np.ndarray, phases: list[np.ndarray], candidates: int
            ) -> tuple[np.ndarray, np.ndarray]:
    """The neuron ``(layer, index)`` to split on each sub-domain (``layer = -1``: none is unstable).

    The ``candidates`` best neurons by :func:`_scores` are tried (filtered smart branching): both
    children of each are bounded with ``bound(phases, parent, last) -> (value, empty)`` (the worst open
    row's lower bound), and the split whose worse child is best wins.  CROWN without split multipliers
    is not monotone under splitting (a ``z >= 0`` child back-substitutes ``z`` exactly, ignoring
    ``z >= 0``), so the real children's bounds, not a score, decide.
    """
    widths = [w.shape[0] for w in arr.W[:-1]]
    offsets = np.concatenate([[0], np.cumsum(widths)])
    sc = _scores(arr, bnd, rows, phases)
    B = sc.shape[0]
    k = max(1, min(candidates, sc.shape[1]))
    top = np.argsort(-sc, axis=1)[:, :k]  # (B, k) flat neuron indices
    valid = np.isfinite(sc[np.arange(B)[:, None], top])
    layer_of = np.searchsorted(offsets, top, side="right") - 1
    flat = top
    if k > 1 and valid.any():
        par = np.repeat(np.arange(B), k)
        kids: list[np.ndarray] = []
        for sign in (-1, 1):
            ph = [p[par].copy() for p in phases]
            lf, fl = layer_of.ravel(), flat.ravel()
            for m in range(len(widths)):
                at = (lf == m) & valid.ravel()
                ph[m][np.flatnonzero(at), fl[at] - offsets[m]] = sign
            v, e = bound(ph, par, lf == len(widths) - 1)
            kids.append(np.where(e, np.inf, v).reshape(B, k))
        val = np.where(valid, np.minimum(kids[0], kids[1]), -np.inf)
        pick = np.argmax(val, axis=1)
    else:
        pick = np.zeros(B, dtype=np.int64)
    r = np.arange(B)
    chosen, ok = flat[r, pick], valid[r, pick]
    layer = np.where(ok, layer_of[r, pick], -1)
    return layer, np.where(ok, chosen - offsets[np.maximum(layer, 0)], 0)


@dataclass
class _Open:
    """Open sub-domains: phase constraints per hidden layer, node ids, disjuncts still open, and the
    index of each one's input box in the search's box table (0: the root box)."""

    phases: list[np.ndarray]
    ids: np.ndarray
    mask: np.ndarray  # (N, D) bool
    box: np.ndarray  # (N,) int

    def take(self, sel: np.ndarray | slice) -> _Open:
        return _Open([p[sel] for p in self.phases], self.ids[sel], self.mask[sel], self.box[sel])

    def pop(self, k: int) -> _Open:
        out = self.take(slice(-k, None))
        rest = self.take(slice(None, -k))
        self.phases, self.ids, self.mask, self.box = rest.phases, rest.ids, rest.mask, rest.box
        return out

    def push(self, other: _Open) -> None:
        self.phases = [np.concatenate([p, q]) for p, q in zip(self.phases, other.phases, strict=True)]
        self.ids = np.concatenate([self.ids, other.ids])
        self.mask = np.concatenate([self.mask, other.mask])
        self.box = np.concatenate([self.box, other.box])


def search_joint(
    arr: Arrays, lo: np.ndarray, hi: np.ndarray, groups: list[tuple[np.ndarray, np.ndarray, np.ndarray]], *,
    deadline: float, rng: np.random.Generator, confirm: Callable[[int, np.ndarray], bool],
    batch: int = 256, alpha_steps: int = 8, progress: Callable[[SearchStats, int, float], None] | None = None,
    inner: tuple[np.ndarray, np.ndarray] | None = None, candidates: int = 2, beta: bool = True,
    warm_start: bool = True,
) -> BoxOutcome:
    """Decide the disjuncts ``{x in [lo, hi] : A_d x + B_d f(x) + c_d >= 0}`` (``groups[d]``) jointly.

    ``confirm(d, x)`` re-evaluates a float candidate exactly against disjunct ``d``; candidates are
    taken from ``inner`` (a float box inside the exact one), default ``[lo, hi]``.  ``candidates``:
    neurons whose children are bounded before choosing the split (1: the score alone).  ``beta``:
    the optimised bounds also carry multipliers of the split constraints (beta-CROWN; the leaves they
    close record them, ``("b", lambdas, (alpha, beta))``).  ``warm_start``: the optimisation on a
    sub-domain starts from its parent's optimised slopes and multipliers.  ``unsat`` means that every disjunct is
    empty, with one preorder proof tree per disjunct.
    """
    t0 = time.perf_counter()
    stats = JointStats()
    L = arr.n_layers - 1
    if L < 1:
        return BoxOutcome("unknown", stats=stats, message="no hidden layer to split")
    A, Bm, c = (np.concatenate([g[m] for g in groups]) for m in range(3))
    owner = np.concatenate([np.full(g[0].shape[0], d) for d, g in enumerate(groups)])  # disjunct of each row
    local = np.concatenate([np.arange(g[0].shape[0]) for g in groups])  # its index in the disjunct
    D, R = len(groups), owner.size
    C, d_, Cx = -Bm, -c, (-A if np.any(A) else None)
    tol = CLOSE_TOLERANCE * (1.0 + np.abs(d_))
    ilo, ihi = inner if inner is not None else (lo, hi)
    attacked = False
    tree = _JointTree()
    widths = [w.shape[0] for w in arr.W[:-1]]
    first = _FirstLayer(arr, lo, hi) if L == 2 and not arr.acts else None  # (ReLU lines only)
    pool = _Open([np.zeros((1, n), dtype=np.int8) for n in widths], np.zeros(1, dtype=np.int64),
                 np.ones((1, D), dtype=bool), np.zeros(1, dtype=np.int64))
    boxes: list[tuple[np.ndarray, np.ndarray]] = [(lo, hi)]
    row_mask = owner[None, :] == np.arange(D)[:, None]  # (D, R)
    per_domain = 0.0  # measured seconds per sub-domain: batches shrink near the deadline
    restarts = 0.0  # seconds of the attack's restarts during the search
    warm: dict[int, _Warm] | None = {} if warm_start else None  # open node -> its parent's slopes
    left: list[_Warm | None]
    while pool.ids.size:
        t_batch = time.perf_counter()
        if t_batch > deadline:
            return _done(stats, t0, "timeout", message="time limit reached")
        take = min(batch, pool.ids.size)
        if per_domain > 0:
            take = max(1, min(take, int(0.5 * (deadline - t_batch) / per_domain)))
        cur = pool.pop(take)
        b = cur.ids.size
        stats.batches += 1
        stats.domains += b
        blo, bhi = _box_arrays(boxes, cur.box)
        if first is not None and np.all(cur.box == 0):
            bnd = first.bounds(cur.phases)
        else:
            bnd = intermediate_bounds(arr, blo, bhi, cur.phases)
        bnd.empty = _clearly_empty(bnd)
        # every row (also of disjuncts closed higher up: where they close here too, their trees can
        # keep the joint leaves, which the checker then bounds once for all disjuncts)
        before = cur.mask.copy()
        lb, g = _rows_bounds(arr, bnd, blo, bhi, (C, d_, Cx), np.ones((b, R), dtype=bool))
        ok = (lb > tol) & cur.mask[:, owner]  # (b, R): rows that close an open disjunct
        _record(tree, cur, ok, bnd.empty, owner, local, row_mask, lb, None)
        _record_closed(tree, cur.ids, (lb > tol) & ~before[:, owner], owner, local)
        stats.closed_by["crown"] = stats.closed_by.get("crown", 0) + int(ok.any(axis=1).sum())
        if alpha_steps and cur.mask.any():
            lb, left = _optimised_leaves(arr, tree, stats, cur, bnd, (blo, bhi), (C, d_, Cx), lb, g, tol,
                                         (owner, local, row_mask), alpha_steps, beta,
                                         [warm.pop(int(i), None) for i in cur.ids] if warm is not None else None)
        else:
            left = [None] * b
        keep = np.flatnonzero(cur.mask.any(axis=1))
        stats.leaves += b - keep.size
        if keep.size == 0:
            continue
        if not attacked:  # the attack runs only when the root's bounds leave something open
            attacked = True
            ta = time.perf_counter()
            hit = joint_attack(arr, ilo, ihi, (A, Bm, c), owner, rng, confirm,
                               deadline=min(deadline, ta + ATTACK_SECONDS))
            stats.attack_seconds += time.perf_counter() - ta
            if hit is not None:
                return _done(stats, t0, "sat", witness=hit[1], disjunct=hit[0], message="PGD")
        # worst open row of each open sub-domain
        lbk = np.where(cur.mask[keep][:, owner], lb[keep], np.inf)
        worst = np.argmin(lbk, axis=1)
        # the linear bound's minimiser as a counterexample candidate
        gk = g[keep, worst]
        xs = np.clip(np.where(gk > 0, blo[keep], bhi[keep]), ilo, ihi)
        ta = time.perf_counter()
        found = try_points(arr, xs, worst, owner, groups, confirm)
        if found is None and stats.batches % ATTACK_EVERY == 0 and restarts <= ATTACK_SHARE * (ta - t0):
            found = pgd_from(arr, (ilo, ihi), (A, Bm, c), owner, xs, lbk[np.arange(keep.size), worst], rng,
                             confirm, deadline)
            restarts += time.perf_counter() - ta
        stats.attack_seconds += time.perf_counter() - ta
        if found is not None:
            return _done(stats, t0, "sat", witness=found[1], disjunct=found[0], message="bound minimiser or PGD")
        kb = _take(bnd, keep)
        starts = [left[i] for i in keep] if warm is not None else None  # the open rows' optimised values
        bound = _child_bound(arr, first if np.all(cur.box == 0) else None, blo[keep], bhi[keep],
                             (C, d_, Cx), cur.mask[keep][:, owner], kb, starts)
        layer, index = _branch(arr, bound, kb, C[worst], [p[keep] for p in cur.phases], candidates)
        kids = _children(tree, cur.take(keep), layer, index, gk, blo[keep], bhi[keep], boxes)
        if kids is None:
            return _done(stats, t0, "unknown", message="a box became too small to split in float64")
        if warm is not None and starts is not None:  # both children start from their parent's values
            for j, st in enumerate(starts):
                if st is not None:
                    warm[int(kids.ids[j])] = warm[int(kids.ids[keep.size + j])] = st
        pool.push(kids)
        stats.max_open = max(stats.max_open, int(pool.ids.size))
        per_domain = max(0.5 * per_domain, (time.perf_counter() - t_batch) / b)
        if progress is not None:
            progress(stats, int(pool.ids.size), float(np.min(lbk[np.arange(keep.size), worst])))
    stats.seconds = time.perf_counter() - t0
    nodes = [tree.preorder(d, groups[d][0].shape[0]) for d in range(D)]
    return BoxOutcome("unsat", nodes=nodes, stats=stats, message=f"{stats.leaves} joint leaves, {R} rows")


def _done(stats: JointStats, t0: float, status: str, **kw: Any) -> BoxOutcome:
    """The search's outcome ``status`` (``kw``: its other fields), its time recorded in ``stats``."""
    stats.seconds = time.perf_counter() - t0
    return BoxOutcome(status, stats=stats, **kw)


def _box_arrays(boxes: list[tuple[np.ndarray, np.ndarray]], at: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The input boxes ``boxes[at[i]]`` as arrays ``(lo, hi)`` of shape ``(B, n0)``."""
    if np.all(at == 0):
        return np.broadcast_to(boxes[0][0], (at.size, boxes[0][0].size)), \
            np.broadcast_to(boxes[0][1], (at.size, boxes[0][1].size))
    return np.stack([boxes[i][0] for i in at]), np.stack([boxes[i][1] for i in at])


def _optimised_leaves(arr: Arrays, tree: _JointTree, stats: JointStats, cur: _Open, bnd: Bounds,
                      box: tuple[np.ndarray, np.ndarray], rows: tuple[np.ndarray, np.ndarray, np.ndarray | None],
                      lb: np.ndarray, g: np.ndarray, tol: np.ndarray,
                      where: tuple[np.ndarray, np.ndarray, np.ndarray], steps: int, beta: bool,
                      warm: list[_Warm | None] | None = None) -> tuple[np.ndarray, list[_Warm | None]]:
    """alpha(-beta)-CROWN on the rows of the still open disjuncts; closes and records what they prove
    (in ``tree`` and ``cur.mask``), puts the input coefficients of the better bound into ``g`` (``(B, R,
    n0)``, in place: the minimisers of the best bounds are the counterexample candidates) and returns
    the better of the two bounds per row, and the slopes and
    multipliers of the rows left open per sub-domain (with ``warm``: the starting ones, see
    :func:`_alpha_rows`)."""
    owner, local, row_mask = where
    lb2, g2, codes, betas, left = _alpha_rows(arr, bnd, box[0], box[1], rows,
                                              cur.mask[:, owner] & ~bnd.empty[:, None], tol, steps,
                                              cur.phases if beta else None, warm)
    g[lb2 > lb] = g2[lb2 > lb]
    ok2 = (lb2 > tol) & cur.mask[:, owner]
    _record(tree, cur, ok2, np.zeros(cur.ids.size, dtype=bool), owner, local, row_mask, lb2, codes, betas)
    stats.closed_by["alpha"] = stats.closed_by.get("alpha", 0) + int(ok2.any(axis=1).sum())
    per: list[_Warm | None] = [None] * cur.ids.size
    for (i, r), v in left.items():
        w = per[i]
        if w is None:
            w = per[i] = {}
        w[r] = v
    return np.maximum(lb, lb2), per


def _alpha_rows(arr: Arrays, bnd: Bounds, lo: np.ndarray, hi: np.ndarray,
                rows: tuple[np.ndarray, np.ndarray, np.ndarray | None], want: np.ndarray, tol: np.ndarray,
                steps: int, phases: list[np.ndarray] | None = None, warm: list[_Warm | None] | None = None,
                ) -> tuple[np.ndarray, np.ndarray, dict[tuple[int, int], bytes], dict[tuple[int, int], bytes],
                           dict[tuple[int, int], tuple[np.ndarray, np.ndarray | None]]]:
    """alpha(-beta)-CROWN lower bounds of the wanted ``(sub-domain, row)`` pairs (``-inf`` elsewhere) and
    their input coefficients (zero elsewhere), one
    :func:`~sosrelax.nn.search.bounds.optimise_slopes` call per row over the sub-domains that want it
    (each stops once its bound passes ``tol``), the slope codes (one byte per hidden neuron,
    ``round(255 alpha)``) of the pairs that close, their split multipliers (float64 bytes, one per hidden
    neuron; only pairs with a nonzero one), and the slope codes and multipliers (float32) of the pairs
    that stay open (their children start from them).  ``warm[i]``: row -> the starting slope codes and
    multipliers of sub-domain ``i`` (its parent's), or None."""
    C, d, Cx = rows
    lb = np.full(want.shape, -np.inf)
    g = np.zeros(want.shape + lo.shape[1:])
    codes: dict[tuple[int, int], bytes] = {}
    betas: dict[tuple[int, int], bytes] = {}
    left: dict[tuple[int, int], tuple[np.ndarray, np.ndarray | None]] = {}
    for r in np.flatnonzero(want.any(axis=0)):
        dom = np.flatnonzero(want[:, r])
        sub = _take(bnd, dom)
        init = None if warm is None else _starts(arr, [warm[i] for i in dom], int(r))
        lb_r, g_r, al, be = optimise_slopes(arr, sub, lo[dom], hi[dom], C[r:r + 1], d[r:r + 1],
                                          None if Cx is None else Cx[r:r + 1], steps=steps,
                                          phases=None if phases is None else [p[dom] for p in phases],
                                          target=tol[r:r + 1], init=init)
        lb[dom, r], g[dom, r] = lb_r[:, 0], g_r[:, 0]
        for q in range(dom.size):
            aq = np.concatenate([np.round(a[q, 0] * 255.0) for a in al]).astype(np.uint8)
            bq = None if be is None else np.concatenate([b[q, 0] for b in be])
            if lb_r[q, 0] > tol[r]:
                codes[(int(dom[q]), int(r))] = aq.tobytes()
                if bq is not None and np.any(bq > 0):
                    betas[(int(dom[q]), int(r))] = bq.astype("<f8").tobytes()
            elif warm is not None:
                left[(int(dom[q]), int(r))] = (aq, None if bq is None else bq.astype(np.float32))
    return lb, g, codes, betas, left


#: Starting slope codes and multipliers of a sub-domain's rows (row -> (codes, betas)).
_Warm = dict[int, tuple[np.ndarray, np.ndarray | None]]


def _starts(arr: Arrays, warm: list[_Warm | None], r: int) -> tuple[list[np.ndarray], list[np.ndarray]] | None:
    """The starting slopes and multipliers of row ``r`` on the sub-domains ``warm`` as
    :func:`~sosrelax.nn.search.bounds.optimise_slopes` takes them (``(B, 1, n_k)`` per hidden layer; NaN
    slopes where a sub-domain has none), or None when none has any."""
    start = [(q, w[r]) for q, w in enumerate(warm) if w is not None and r in w]
    if not start:
        return None
    widths = [w.shape[0] for w in arr.W[:-1]]
    cuts = np.cumsum(widths)[:-1]
    a0 = np.full((len(warm), 1, sum(widths)), np.nan)
    b0 = np.zeros((len(warm), 1, sum(widths)))
    for q, (ac, bc) in start:
        a0[q, 0] = ac / 255.0
        if bc is not None:
            b0[q, 0] = bc
    return np.split(a0, cuts, axis=2), np.split(b0, cuts, axis=2)


def _rows_started(arr: Arrays, bnd: Bounds, lo: np.ndarray, hi: np.ndarray,
                  rows: tuple[np.ndarray, np.ndarray, np.ndarray | None], want: np.ndarray,
                  warm: list[_Warm | None], phases: list[np.ndarray]) -> np.ndarray:
    """Lower bounds of the wanted ``(sub-domain, row)`` pairs (``-inf`` elsewhere) with the starting
    slopes and multipliers ``warm`` (a parent's, unoptimised here; the adaptive slopes where there are
    none): how the optimised bound of a child starts."""
    C, d, Cx = rows
    lb = np.full(want.shape, -np.inf)
    for r in np.flatnonzero(want.any(axis=0)):
        dom = np.flatnonzero(want[:, r])
        lb_r, *_ = optimise_slopes(arr, _take(bnd, dom), lo[dom], hi[dom], C[r:r + 1], d[r:r + 1],
                                   None if Cx is None else Cx[r:r + 1], steps=0, phases=[p[dom] for p in phases],
                                   init=_starts(arr, [warm[i] for i in dom], int(r)))
        lb[dom, r] = lb_r[:, 0]
    return lb


def _record(tree: _JointTree, cur: _Open, ok: np.ndarray, empty: np.ndarray, owner: np.ndarray,
            local: np.ndarray, row_mask: np.ndarray, lb: np.ndarray,
            alpha: dict[tuple[int, int], bytes] | None, betas: dict[tuple[int, int], bytes] | None = None) -> None:
    """Close, in place, the disjuncts of ``cur`` that ``ok`` (rows) or ``empty`` (domains) close."""
    for i in np.flatnonzero(ok.any(axis=1) | (empty & cur.mask.any(axis=1))):
        node = int(cur.ids[i])
        for d in np.flatnonzero(cur.mask[i]):
            if empty[i]:
                r = int(np.flatnonzero(row_mask[d])[0])
            else:
                cand = np.flatnonzero(ok[i] & row_mask[d])
                if cand.size == 0:
                    continue
                r = int(cand[np.argmax(lb[i, cand])])
            codes = None if alpha is None else alpha[(int(i), r)]
            beta = None if betas is None else betas.get((int(i), r))
            tree.leaf[(node, int(d))] = (int(local[r]), codes, beta)
            cur.mask[i, d] = False


def _record_closed(tree: _JointTree, ids: np.ndarray, ok: np.ndarray, owner: np.ndarray,
                   local: np.ndarray) -> None:
    """Leaves of disjuncts closed higher up that close here too (``ok``: rows, per sub-domain)."""
    for i, r in zip(*np.nonzero(ok), strict=True):
        tree.leaf.setdefault((int(ids[i]), int(owner[r])), (int(local[r]), None, None))


def _children(tree: _JointTree, dom: _Open, layer: np.ndarray, index: np.ndarray, g: np.ndarray,
              lo: np.ndarray, hi: np.ndarray, boxes: list[tuple[np.ndarray, np.ndarray]]) -> _Open | None:
    """Both children of every split: ``z <= 0`` (first in the tree) and ``z >= 0`` for a ReLU split;
    where no unstable neuron is left (``layer < 0``) the input box is halved along the coordinate with
    the largest ``|g_i| (hi_i - lo_i)`` (``g``: the worst row's input coefficients).  None when such a
    box can no longer be halved in float64."""
    n = dom.ids.size
    c1, c2 = tree.new_many(n), tree.new_many(n)
    first, second = dom.take(slice(None)), dom.take(slice(None))
    first.phases = [p.copy() for p in dom.phases]
    second.phases = [p.copy() for p in dom.phases]
    first.box, second.box = dom.box.copy(), dom.box.copy()
    for i in range(n):
        k, j = int(layer[i]), int(index[i])
        if k >= 0:
            tree.split[int(dom.ids[i])] = ("r", k, j, int(c1[i]), int(c2[i]))
            first.phases[k][i, j] = -1
            second.phases[k][i, j] = 1
            continue
        w = hi[i] - lo[i]
        dim = int(np.argmax(np.where(w > 0, np.abs(g[i]) * w + 1e-12 * w, -1.0)))
        mid = 0.5 * (lo[i, dim] + hi[i, dim])
        if not lo[i, dim] < mid < hi[i, dim]:
            return None
        tree.split[int(dom.ids[i])] = ("s", dim, float(mid), int(c1[i]), int(c2[i]))
        h1, l2 = hi[i].copy(), lo[i].copy()
        h1[dim] = l2[dim] = mid
        boxes.append((lo[i].copy(), h1))
        boxes.append((l2, hi[i].copy()))
        first.box[i], second.box[i] = len(boxes) - 2, len(boxes) - 1
    # the second child is pushed last and popped first (the order does not matter for the proof)
    first.ids, second.ids = c1, c2
    first.push(second)
    return first


def decide_wide(
    net: Network, prop: Property, *, onnx_path: str | Path | None = None, timeout: float = 60.0,
    semantics: str = "real", rng: np.random.Generator | int | None = 0, batch: int = 256,
    alpha_steps: int = 8, progress: Callable[[SearchStats, int, float], None] | None = None,
    blas_threads: int | None = 1,
) -> SearchResult:
    """Decide a property with linear atoms by neuron splitting (for networks with many inputs; ReLU,
    sigmoid or tanh hidden layers).

    Disjuncts with the same input box are searched together (:func:`search_joint`).  ``unsat`` only
    with a proof tree (one :class:`DisjunctProof` per disjunct) that
    :func:`~sosrelax.certificate.proof_tree.check_proof_tree` accepted; ``sat`` only with a
    counterexample that the exact forward pass (and onnxruntime, with ``onnx_path``) confirmed.
    ``blas_threads`` caps the BLAS threads while it runs (the products are small and many; one
    thread is measured several times faster than two on a loaded 2-core machine; ``None`` leaves
    BLAS alone).
    """
    from threadpoolctl import threadpool_limits

    if blas_threads is None:
        return _decide_wide(net, prop, onnx_path, timeout, semantics, rng, batch, alpha_steps, progress)
    with threadpool_limits(limits=blas_threads, user_api="blas"):
        return _decide_wide(net, prop, onnx_path, timeout, semantics, rng, batch, alpha_steps, progress)


def _decide_wide(net: Network, prop: Property, onnx_path: str | Path | None, timeout: float, semantics: str,
                 rng: np.random.Generator | int | None, batch: int, alpha_steps: int,
                 progress: Callable[[SearchStats, int, float], None] | None) -> SearchResult:
    for i, d in enumerate(prop.disjuncts):
        if not d.atoms:  # nothing a bound could refute (polynomial atoms are not bounded here)
            return SearchResult("unknown", message=f"disjunct {i} has no linear atom; this search bounds "
                                "linear atoms only (use sosrelax.nn.verify for polynomial ones)")

    def search(arr: Arrays, members: list[int], box: tuple[Any, Any], wit: Witnesses, deadline: float,
               gen: np.random.Generator) -> BoxOutcome:
        lo = np.array([float(v) for v in box[0]])
        hi = np.array([float(v) for v in box[1]])
        groups = [atom_arrays(prop.disjuncts[i].atoms, net.n_inputs, net.n_outputs) for i in members]
        return search_joint(arr, lo, hi, groups, inner=inner_box(*box), deadline=deadline, rng=gen,
                            confirm=wit.confirm, batch=batch, alpha_steps=alpha_steps, progress=progress)

    return decide_by_boxes(net, prop, search, onnx_path=onnx_path, timeout=timeout, semantics=semantics,
                           rng=rng, meta={"search": "relu-split" if net.all_relu else "neuron-split"},
                           search_share=SEARCH_SHARE)

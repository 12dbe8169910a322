"""Batched branch and bound over input boxes, recording the split tree as it goes.

A property's disjuncts that share one input box are searched together.  A disjunct (a conjunction of
linear atoms ``atom_k >= 0``) is empty when, on every piece of a partition of the box, some atom is
provably negative.  The search keeps a stack of open boxes, each with the set of disjuncts still open
on it, and, in batches of thousands:

1. bounds every box (:func:`~sosrelax.nn.search.bounds.intermediate_bounds`, then a linear lower bound
   of each ``-atom_k`` of every disjunct, :func:`~sosrelax.nn.search.bounds.final_bounds`);
2. closes a disjunct on a box when one of its atoms has a positive lower bound there (a *leaf* of that
   disjunct's proof tree, with the atom's weight ``lambda_k = 1``); a box is done when every disjunct is
   closed on it;
3. evaluates the network at the minimiser of each open box's linear bound (and, every few batches, runs
   a short PGD from those points and from random points of the open boxes): a point where every atom of
   a disjunct holds is a counterexample candidate, which the caller re-evaluates exactly;
4. cuts off the slabs of a box on which its own linear bound is already positive (*shrinking*, recorded
   as ordinary splits), then splits what is left in two halves: along the widest input or the most
   sensitive one (|bound coefficient| × width), whichever gives the better worse half when both halves
   of both candidates are bounded (*strong branching* on two candidates; ``branching="widest"`` skips
   the look-ahead).  Measured on ACAS Xu: property 4 of network 1_1 needs 1 081 boxes instead of 17 505
   with widest-input branching alone; the sensitivity score alone needed over 65 000 boxes on property 1
   of network 1_4, where the widest input needs 108.

Each disjunct's recorded tree (every split covers its parent: the two sides of one coordinate) is the
proof that :mod:`sosrelax.certificate.proof_tree` re-checks with rigorous arithmetic.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from sosrelax.nn.search.attack import margins, pgd
from sosrelax.nn.search.bounds import Arrays, final_bounds, intermediate_bounds

__all__ = ["BoxOutcome", "Goal", "RungLeaf", "SearchStats", "search_box"]

log = logging.getLogger(__name__)

#: A leaf closes when the float lower bound exceeds this (relative to the objective's scale): the
#: checker's rigorous rounding-error radius is many orders of magnitude smaller.
CLOSE_TOLERANCE = 1e-7

#: Starting points of the attack before the search.
ATTACK_RESTARTS = 2048

#: Starting points of each attack during the search (every :data:`ATTACK_EVERY` batches).
SEARCH_RESTARTS = 4096
ATTACK_EVERY = 4

#: A slab is cut off a box only when it is at least this share of the box's width.
SHRINK_MIN_SHARE = 0.02

#: Leaf rungs may use this share of the search's time so far, plus :data:`RUNG_ALLOWANCE` seconds.
RUNG_SHARE = 0.5
RUNG_ALLOWANCE = 0.25

#: At most this many rung attempts per batch (the open boxes closest to closing first).
RUNGS_PER_BATCH = 8


@dataclass(frozen=True)
class Goal:
    """One disjunct's atoms ``A x + B f(x) + c >= 0`` (rows: atoms)."""

    A: np.ndarray
    B: np.ndarray
    c: np.ndarray


@dataclass
class SearchStats:
    """Counters of one search."""

    domains: int = 0
    leaves: int = 0
    batches: int = 0
    max_open: int = 0
    seconds: float = 0.0
    attack_seconds: float = 0.0
    shrunk: int = 0
    rung_attempts: int = 0
    rung_closed: dict[str, int] = field(default_factory=dict)
    rung_seconds: float = 0.0


@dataclass(frozen=True)
class RungLeaf:
    """A leaf closed by a certified rung: ``rung`` (``"lp"``, ``"sdp"`` or ``"sos"``), the atom
    weights and the certificate of ``sum_k lambdas_k (-atom_k)`` over the leaf's exact encoding."""

    rung: str
    lambdas: tuple[float, ...]
    certificate: Any


@dataclass
class BoxOutcome:
    """``status`` is ``"unsat"`` (``nodes[k]``: disjunct ``k``'s preorder proof tree), ``"sat"``
    (``witness`` for disjunct ``disjunct``), ``"unknown"`` or ``"timeout"``."""

    status: str
    witness: np.ndarray | None = None
    disjunct: int | None = None
    nodes: list[list[tuple[Any, ...]]] | None = None
    stats: SearchStats = field(default_factory=SearchStats)
    message: str = ""
    open_boxes: tuple[np.ndarray, np.ndarray] | None = None  # what was left open at a timeout


class _Tree:
    """Split nodes ``(dim, value, child_lo, child_hi)`` by node id; leaves by ``(node id, disjunct)``."""

    def __init__(self) -> None:
        self.kind: list[tuple[Any, ...] | None] = [None]
        self.leaf: dict[tuple[int, int], tuple[int, Any]] = {}

    def new_many(self, k: int) -> np.ndarray:
        start = len(self.kind)
        self.kind.extend([None] * k)
        return np.arange(start, start + k, dtype=np.int64)

    def set_splits(self, ids: np.ndarray, dim: np.ndarray, value: np.ndarray, lo_child: np.ndarray,
                   hi_child: np.ndarray) -> None:
        for j in range(ids.size):
            self.kind[int(ids[j])] = ("s", int(dim[j]), float(value[j]), int(lo_child[j]),
                                      int(hi_child[j]))

    def preorder(self, k: int, n_atoms: int) -> list[tuple[Any, ...]]:
        """Disjunct ``k``'s tree: the joint tree, cut where ``k`` closed unless every box below closes
        ``k`` too (then the joint leaves are kept, so that the disjuncts' trees share their leaves'
        domains and the checker bounds each of those once)."""
        ok: dict[int, bool] = {}
        stack: list[tuple[int, bool]] = [(0, False)]
        while stack:
            nid, seen = stack.pop()
            node = self.kind[nid]
            if node is None:
                ok[nid] = (nid, k) in self.leaf
            elif not seen:
                stack += [(nid, True), (node[3], False), (node[4], False)]
            else:
                ok[nid] = ok[node[3]] and ok[node[4]]
        out: list[tuple[Any, ...]] = []
        todo = [0]
        while todo:
            nid = todo.pop()
            node = self.kind[nid]
            leaf = self.leaf.get((nid, k))
            if leaf is not None and isinstance(leaf[1], RungLeaf) and (node is None or not ok[nid]):
                out.append(("c", leaf[1].lambdas, leaf[1].certificate))
                continue
            if leaf is not None and (node is None or not ok[nid]):
                lam = np.zeros(n_atoms)
                lam[leaf[0]] = 1.0
                out.append(("l", lam, leaf[1]))
                continue
            if node is None:
                raise AssertionError("open node in a finished tree")  # pragma: no cover
            out.append(("s", node[1], node[2]))
            todo.append(node[4])
            todo.append(node[3])
        return out


def _shrink(tree: _Tree, lo: np.ndarray, hi: np.ndarray, ids: np.ndarray, g: np.ndarray, lb: np.ndarray,
            tol: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray,
                                      tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]]:
    """Cut off, coordinate by coordinate, the slabs where the linear bound ``g·x + c`` is positive.

    ``lb = min over the box of g·x + c``; on the slab ``x_i >= v`` (``g_i > 0``) its minimum is
    ``lb - min(g_i lo_i, g_i hi_i) + g_i v``, positive for the ``v`` chosen here.  Each cut is an input
    split whose slab child is pushed as an ordinary open box (it closes on its next bound, which is
    recomputed on the slab itself); the other child carries on.  Returns the shrunk boxes, their node ids
    and the slabs ``(lo, hi, ids, index of the box each was cut from)``.
    """
    lo, hi, ids = lo.copy(), hi.copy(), ids.copy()
    out_lo, out_hi, out_id, out_from = [], [], [], []
    target = 2.0 * tol + 1e-9 * (1.0 + np.abs(lb))
    for i in range(lo.shape[1]):
        gi = g[:, i]
        w = hi[:, i] - lo[:, i]
        rest = lb - np.minimum(gi * lo[:, i], gi * hi[:, i])
        with np.errstate(divide="ignore", invalid="ignore"):
            v = (target - rest) / gi
        up = (gi > 0) & (v > lo[:, i] + SHRINK_MIN_SHARE * w) & (v < hi[:, i])   # slab x_i >= v
        down = (gi < 0) & (v < hi[:, i] - SHRINK_MIN_SHARE * w) & (v > lo[:, i])  # slab x_i <= v
        cut = np.flatnonzero(up | down)
        if cut.size == 0:
            continue
        slab_id = tree.new_many(cut.size)
        rest_id = tree.new_many(cut.size)
        is_up = up[cut]
        tree.set_splits(ids[cut], np.full(cut.size, i), v[cut], np.where(is_up, rest_id, slab_id),
                        np.where(is_up, slab_id, rest_id))
        slo, shi = lo[cut].copy(), hi[cut].copy()
        slo[is_up, i] = v[cut][is_up]
        shi[~is_up, i] = v[cut][~is_up]
        out_lo.append(slo)
        out_hi.append(shi)
        out_id.append(slab_id)
        out_from.append(cut)
        hi[cut[is_up], i] = v[cut][is_up]
        lo[cut[~is_up], i] = v[cut][~is_up]
        ids[cut] = rest_id
    n0 = lo.shape[1]
    if not out_id:
        none = np.zeros(0, dtype=np.int64)
        return lo, hi, ids, (np.zeros((0, n0)), np.zeros((0, n0)), none, none)
    return lo, hi, ids, (np.concatenate(out_lo), np.concatenate(out_hi), np.concatenate(out_id),
                         np.concatenate(out_from))


class _Rows:
    """All disjuncts' atoms as one stack of rows, with the disjunct each row belongs to."""

    def __init__(self, goals: Sequence[Goal]) -> None:
        self.goals = list(goals)
        self.A = np.vstack([g.A for g in goals])
        self.B = np.vstack([g.B for g in goals])
        self.c = np.concatenate([g.c for g in goals])
        self.goal = np.concatenate([np.full(g.c.size, k) for k, g in enumerate(goals)])
        self.local = np.concatenate([np.arange(g.c.size) for g in goals])
        self.tol = CLOSE_TOLERANCE * (1.0 + np.abs(self.c))
        self.K = len(goals)

    def best(self, lb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per box and disjunct: the row with the largest ``lb - tol`` and that value, ``(B, K)``."""
        s = lb - self.tol
        rows = np.zeros((lb.shape[0], self.K), dtype=np.int64)
        vals = np.zeros((lb.shape[0], self.K))
        for k in range(self.K):
            idx = np.flatnonzero(self.goal == k)
            j = np.argmax(s[:, idx], axis=1)
            rows[:, k] = idx[j]
            vals[:, k] = s[np.arange(lb.shape[0]), idx[j]]
        return rows, vals

    def slack(self, X: np.ndarray, arr: Arrays) -> np.ndarray:
        """``(N, K)``: ``min`` over disjunct ``k``'s atoms at row ``n`` of ``X`` (float); ``>= 0``: every
        atom of ``k`` holds there, a counterexample candidate."""
        vals = margins(arr, X, self.A, self.B, self.c)
        return np.stack([np.min(vals[:, self.goal == k], axis=1) for k in range(self.K)], axis=1)


def search_box(
    arr: Arrays, lo: np.ndarray, hi: np.ndarray, goals: Sequence[Goal], *, deadline: float,
    rng: np.random.Generator, confirm: Callable[[int, np.ndarray], bool], batch: int = 2048,
    shrink: bool = True, branching: str = "strong", progress: Callable[[SearchStats, int, float], None] | None = None,
    leaf_rungs: Any = None,
) -> BoxOutcome:
    """Decide the disjuncts ``{x in [lo, hi] : A x + B f(x) + c >= 0}`` of ``goals`` (one shared box).

    ``confirm(k, x)`` re-evaluates a float candidate for disjunct ``k`` exactly and returns True for a
    real counterexample.  ``branching`` is ``"strong"`` (look-ahead between the widest and the most
    sensitive input) or ``"widest"``.  Batches shrink near ``deadline`` (from the measured cost of a
    box) so that the answer comes in time.  ``leaf_rungs`` (a
    :class:`~sosrelax.nn.search.rung_leaves.RungLeaves`, optional) is tried on open boxes with few
    unstable neurons before they are split, within :data:`RUNG_SHARE` of the time.
    """
    t0 = time.perf_counter()
    stats = SearchStats()
    rows = _Rows(goals)
    C, Cx, d = -rows.B, -rows.A, -rows.c
    tree = _Tree()

    def done(status: str, **kw: Any) -> BoxOutcome:
        stats.seconds = time.perf_counter() - t0
        return BoxOutcome(status, stats=stats, **kw)

    ta = time.perf_counter()
    found = _initial_attack(arr, lo, hi, goals, rng, deadline, confirm)
    stats.attack_seconds += time.perf_counter() - ta
    if found is not None:
        return done("sat", witness=found[1], disjunct=found[0], message="PGD before the search")
    open_lo = lo[None].astype(np.float64)
    open_hi = hi[None].astype(np.float64)
    open_id = np.zeros(1, dtype=np.int64)
    open_k = np.ones((1, rows.K), dtype=bool)
    open_s = np.zeros(1)  # how close the box came to a counterexample (higher: closer)
    per_domain = 0.0  # seconds per bounded box, measured: batches shrink near the deadline
    while open_id.size:
        t_batch = time.perf_counter()
        if t_batch > deadline:
            return done("timeout", message=f"time limit reached with {open_id.size} open boxes",
                        open_boxes=(open_lo, open_hi))
        take = min(batch, open_id.size)
        if per_domain > 0:
            take = max(1, min(take, int(0.5 * (deadline - t_batch) / per_domain)))
        # the boxes that came closest to a counterexample first (the others wait; an unsat answer
        # needs them all anyway)
        order = np.argsort(-open_s, kind="stable")
        pick, rest = order[:take], order[take:]
        blo, bhi, bid, bk = open_lo[pick], open_hi[pick], open_id[pick], open_k[pick]
        open_lo, open_hi, open_id, open_k, open_s = (open_lo[rest], open_hi[rest], open_id[rest],
                                                     open_k[rest], open_s[rest])
        stats.batches += 1
        stats.domains += take
        bnd = intermediate_bounds(arr, blo, bhi)
        lb, g = final_bounds(arr, bnd, blo, bhi, C, d, Cx)
        best_row, best_val = rows.best(lb)
        closes = (best_val > 0) | bnd.empty[:, None]
        closing = bk & closes
        for b, k in zip(*np.nonzero(closes), strict=True):  # also disjuncts closed higher up
            tree.leaf[(int(bid[b]), int(k))] = (int(rows.local[best_row[b, k]]), None)
        stats.leaves += int(closing.sum())
        bk = bk & ~closing
        if leaf_rungs is not None:
            _rung_step(leaf_rungs, tree, stats, bnd, blo, bhi, bid, bk, best_val, t0, deadline)
        keep = bk.any(axis=1)
        if not keep.any():
            continue
        klo, khi, kid, kk = blo[keep], bhi[keep], bid[keep], bk[keep]
        # the hardest open disjunct of each box: its best row guides the attack and the shrinking
        val = np.where(kk, best_val[keep], np.inf)
        hard = np.argmin(val, axis=1)
        r = np.arange(kid.size)
        row = best_row[keep][r, hard]
        gk = g[keep][r, row]
        ta = time.perf_counter()
        xs = np.where(gk > 0, klo, khi)  # the linear bound's minimiser
        allx, slack = _candidates(arr, rows, xs, klo, khi, g[keep], lb[keep], hard)
        near = slack.max(axis=1).reshape(-1, kid.size).max(axis=0)  # how close each box came
        hit = slack >= 0
        for b, k in zip(*np.nonzero(hit), strict=True):
            if confirm(int(k), allx[b]):
                return done("sat", witness=allx[b], disjunct=int(k), message="at a bound's minimiser")
        if stats.batches % ATTACK_EVERY == 0:
            found = _attack_open(arr, rows, lo, hi, klo, khi, kk, xs, val[r, hard], rng, deadline, confirm)
            if found is not None:
                stats.attack_seconds += time.perf_counter() - ta
                return done("sat", witness=found[1], disjunct=found[0], message="PGD in the search")
        stats.attack_seconds += time.perf_counter() - ta
        new: list[list[np.ndarray]] = [[], [], [], [], []]  # slabs: lo, hi, id, open mask, score
        one = kk.sum(axis=1) == 1  # the slabs close only the disjunct whose bound cut them
        if shrink and one.any():
            sel = np.flatnonzero(one)
            s_lo, s_hi, s_id, slabs = _shrink(tree, klo[sel], khi[sel], kid[sel], gk[sel],
                                              lb[keep][sel, row[sel]], rows.tol[row[sel]])
            klo[sel], khi[sel], kid[sel] = s_lo, s_hi, s_id
            # a slab keeps the open disjunct of its box; closed by its own bound, it is bounded last
            new = [[slabs[0]], [slabs[1]], [slabs[2]], [kk[sel][slabs[3]]],
                   [np.full(slabs[2].size, -np.inf)]]
            stats.shrunk += slabs[2].size
        halves = _halve(arr, rows, tree, klo, khi, kid, gk, hard, (C, d, Cx), branching)
        if halves is None:
            return done("unknown", message="a box became too small to split in float64")
        lo_half_hi, hi_half_lo, ids0, ids1 = halves
        open_lo = np.concatenate([open_lo, *new[0], klo, hi_half_lo])
        open_hi = np.concatenate([open_hi, *new[1], lo_half_hi, khi])
        open_id = np.concatenate([open_id, *new[2], ids0, ids1])
        open_k = np.concatenate([open_k, *new[3], kk, kk])
        open_s = np.concatenate([open_s, *new[4], near, near])
        stats.max_open = max(stats.max_open, int(open_id.size))
        per_domain = max(per_domain, (time.perf_counter() - t_batch) / take)
        if progress is not None:
            progress(stats, int(open_id.size), float(np.min(val[r, hard])))
    nodes = [tree.preorder(k, gl.c.size) for k, gl in enumerate(goals)]
    return done("unsat", nodes=nodes, message=f"{stats.leaves} leaves")


def _halve(arr: Arrays, rows: _Rows, tree: _Tree, klo: np.ndarray, khi: np.ndarray, kid: np.ndarray,
           gk: np.ndarray, hard: np.ndarray, obj: tuple[np.ndarray, np.ndarray, np.ndarray], branching: str
           ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None:
    """Split every box in two along the chosen input (widest, or strong branching between the widest
    and the most sensitive), record the splits; ``(upper end of the lower halves, lower end of the
    upper halves, their node ids)``, or None when a box can no longer be halved in float64."""
    r = np.arange(kid.size)
    width = khi - klo
    dim = np.argmax(width, axis=1)
    if branching == "strong":
        sens = np.argmax(np.abs(gk) * width, axis=1)
        dim = _strong_dims(arr, rows, klo, khi, hard, *obj, np.stack([dim, sens]))
    mid = 0.5 * (klo[r, dim] + khi[r, dim])
    if np.any((mid <= klo[r, dim]) | (mid >= khi[r, dim])):
        return None
    lo_half_hi = khi.copy()
    lo_half_hi[r, dim] = mid
    hi_half_lo = klo.copy()
    hi_half_lo[r, dim] = mid
    ids0 = tree.new_many(kid.size)
    ids1 = tree.new_many(kid.size)
    tree.set_splits(kid, dim, mid, ids0, ids1)
    return lo_half_hi, hi_half_lo, ids0, ids1


def _rung_step(leaf_rungs: Any, tree: _Tree, stats: SearchStats, bnd: Any, blo: np.ndarray, bhi: np.ndarray,
               bid: np.ndarray, bk: np.ndarray, best_val: np.ndarray, t0: float, deadline: float) -> None:
    """Try the leaf rungs on the open (box, disjunct) pairs with few unstable neurons, closest to
    closing first, within the time share; closes ``bk`` entries in place and records the leaves."""
    now = time.perf_counter()
    if stats.rung_seconds > RUNG_SHARE * (now - t0) + RUNG_ALLOWANCE:
        return
    unstable = sum(((lw < 0) & (up > 0)).sum(axis=1) for lw, up in zip(bnd.lower, bnd.upper, strict=True))
    small = (unstable + blo.shape[1] <= leaf_rungs.max_variables)[:, None] & bk
    bs, ks = np.nonzero(small)
    if bs.size == 0:
        return
    order = np.argsort(-best_val[bs, ks], kind="stable")[:RUNGS_PER_BATCH]
    for b, k in zip(bs[order], ks[order], strict=True):
        now = time.perf_counter()
        if now > deadline or stats.rung_seconds > RUNG_SHARE * (now - t0) + RUNG_ALLOWANCE:
            break
        found = leaf_rungs(int(k), blo[b], bhi[b], deadline)
        stats.rung_seconds += time.perf_counter() - now
        stats.rung_attempts += 1
        if found is not None:
            tree.leaf[(int(bid[b]), int(k))] = (0, found)
            bk[b, k] = False
            stats.leaves += 1
            stats.rung_closed[found.rung] = stats.rung_closed.get(found.rung, 0) + 1


def _initial_attack(arr: Arrays, lo: np.ndarray, hi: np.ndarray, goals: Sequence[Goal],
                    rng: np.random.Generator, deadline: float,
                    confirm: Callable[[int, np.ndarray], bool]) -> tuple[int, np.ndarray] | None:
    """PGD over the whole box for each disjunct, at most a second each."""
    for k, gl in enumerate(goals):
        cand = pgd(arr, lo, hi, gl.A, gl.B, gl.c, rng, restarts=ATTACK_RESTARTS, steps=30,
                   deadline=min(deadline, time.perf_counter() + 1.0))
        for x in ([] if cand is None else cand[:8]):
            if confirm(k, x):
                return k, x
    return None


def _candidates(arr: Arrays, rows: _Rows, xs: np.ndarray, lo: np.ndarray, hi: np.ndarray, g: np.ndarray,
                lb: np.ndarray, hard: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Counterexample candidates of the open boxes (``(N·B, n0)``, ``N`` per box, candidate-major) and
    their slack per disjunct (:meth:`_Rows.slack`, ``(N·B, K)``).

    Per box: ``xs`` (its guiding bound's minimiser), its centre, the minimiser of every atom's bound of
    its hardest open disjunct, and the point where those bounds leave most room.
    """
    B = lo.shape[0]
    r = np.arange(B)
    hard_rows = [np.flatnonzero(rows.goal == k) for k in range(rows.K)]
    cands = [xs, 0.5 * (lo + hi)]
    for j in range(max(len(h) for h in hard_rows)):
        rj = np.array([h[min(j, len(h) - 1)] for h in hard_rows])[hard]
        cands.append(np.where(g[r, rj] > 0, lo, hi))
    cands.append(_lp_point(lb, g, lo, hi, hard, rows))
    allx = np.vstack(cands)
    return allx, rows.slack(allx, arr)


def _strong_dims(arr: Arrays, rows: _Rows, lo: np.ndarray, hi: np.ndarray, hard: np.ndarray,
                 C: np.ndarray, d: np.ndarray, Cx: np.ndarray, cand: np.ndarray) -> np.ndarray:
    """Per box, the candidate input (rows of ``cand``) whose halving gives the best worse child (the
    bounds of both halves computed)."""
    B, n0 = lo.shape
    nc = cand.shape[0]
    r = np.arange(B)
    clo = np.broadcast_to(lo, (nc, 2, B, n0)).copy()
    chi = np.broadcast_to(hi, (nc, 2, B, n0)).copy()
    for j in range(nc):
        i = cand[j]
        mid = 0.5 * (lo[r, i] + hi[r, i])
        chi[j, 0, r, i] = mid
        clo[j, 1, r, i] = mid
    clo, chi = clo.reshape(-1, n0), chi.reshape(-1, n0)
    bnd = intermediate_bounds(arr, clo, chi)
    lb, _ = final_bounds(arr, bnd, clo, chi, C, d, Cx)
    _, val = rows.best(lb)
    val = np.where(bnd.empty[:, None], np.inf, val).reshape(nc, 2, B, rows.K)[:, :, r, hard]
    worse = np.minimum(val[:, 0], val[:, 1])  # (nc, B)
    both = np.minimum(val[:, 0], 0) + np.minimum(val[:, 1], 0)
    best = np.argmax(worse + 1e-3 * both, axis=0)
    return cand[best, r]


def _lp_point(lb: np.ndarray, g: np.ndarray, lo: np.ndarray, hi: np.ndarray, hard: np.ndarray,
              rows: _Rows, steps: int = 30) -> np.ndarray:
    """Per box, a point where the linear lower bounds ``L_k`` of ``-atom_k`` of its hardest disjunct are
    all as small as possible (projected subgradient on ``max_k L_k``): where the relaxation leaves room
    for a counterexample."""
    B = lo.shape[0]
    idx = [np.flatnonzero(rows.goal == k) for k in range(rows.K)]
    width = max(len(i) for i in idx)
    sel = np.stack([np.array([i[min(j, len(i) - 1)] for j in range(width)]) for i in idx])[hard]  # (B, w)
    G = g[np.arange(B)[:, None], sel]  # (B, w, n0)
    c0 = lb[np.arange(B)[:, None], sel] - np.einsum("bwn->bw", np.minimum(G * lo[:, None], G * hi[:, None]))
    x = 0.5 * (lo + hi)
    span = hi - lo
    for it in range(steps):
        vals = np.einsum("bwn,bn->bw", G, x) + c0
        k = np.argmax(vals, axis=1)
        step = span * (0.5 * 0.8**it)
        x = np.clip(x - step * np.sign(G[np.arange(B), k]), lo, hi)
    return x


def _attack_open(arr: Arrays, rows: _Rows, lo: np.ndarray, hi: np.ndarray, klo: np.ndarray,
                 khi: np.ndarray, kk: np.ndarray, xs: np.ndarray, score: np.ndarray,
                 rng: np.random.Generator, deadline: float,
                 confirm: Callable[[int, np.ndarray], bool]) -> tuple[int, np.ndarray] | None:
    """PGD from the bound minimisers and random points of the open boxes of each open disjunct."""
    for k in range(rows.K):
        sel = np.flatnonzero(kk[:, k])
        if sel.size == 0:
            continue
        pick = sel[np.argsort(score[sel])[: SEARCH_RESTARTS // 2]]
        starts = np.vstack([xs[pick], rng.uniform(klo[pick], khi[pick])])
        blo, bhi = np.vstack([klo[pick], klo[pick]]), np.vstack([khi[pick], khi[pick]])
        gl = rows.goals[k]
        pts = pgd(arr, blo, bhi, gl.A, gl.B, gl.c, rng, steps=20, starts=starts, deadline=deadline)
        for x in ([] if pts is None else pts[:8]):
            if confirm(k, x):
                return k, x
    return None

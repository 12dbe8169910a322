"""Batched branch and bound over input boxes, recording the split tree as it goes.

One disjunct of a property (an input box and a conjunction of linear atoms ``atom_k >= 0``) is empty
when, on every piece of a partition of the box, some atom is provably negative.  The search keeps a
stack of open boxes and, in batches of thousands:

1. bounds every box (:func:`~sosrelax.nn.search.bounds.intermediate_bounds`, then a linear lower bound
   of each ``-atom_k``, :func:`~sosrelax.nn.search.bounds.final_bounds`);
2. closes the boxes where one of those lower bounds is positive (a *leaf* of the proof tree, with the
   atom's weight ``lambda_k = 1``);
3. evaluates the network at the minimiser of each open box's linear bound (and, every few batches, runs
   a short PGD from those points): a point where every atom holds is a counterexample candidate, which
   the caller re-evaluates exactly;
4. splits each open box in two along the input whose width times the bound's input coefficient is
   largest (the bound's sensitivity).

The recorded tree (every split covers its parent: the two halves of one coordinate) is the proof that
:mod:`sosrelax.certificate.proof_tree` re-checks with rigorous arithmetic.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from sosrelax.nn.search.attack import margins, pgd
from sosrelax.nn.search.bounds import (
    Arrays,
    Bounds,
    final_bounds,
    intermediate_bounds,
    optimise_slopes,
)

__all__ = ["DisjunctOutcome", "SearchStats", "search_disjunct"]

log = logging.getLogger(__name__)

#: A leaf closes when the float lower bound exceeds this (relative to the objective's scale): the
#: checker's rigorous rounding-error radius is many orders of magnitude smaller.
CLOSE_TOLERANCE = 1e-7

#: Starting points of the attack before the search (and its restarts during the search).
ATTACK_RESTARTS = 8192


@dataclass
class SearchStats:
    """Counters of one search."""

    domains: int = 0
    leaves: int = 0
    batches: int = 0
    max_open: int = 0
    seconds: float = 0.0
    attack_seconds: float = 0.0
    closed_by: dict[str, int] = field(default_factory=dict)


@dataclass
class DisjunctOutcome:
    """``status`` is ``"unsat"`` (``nodes`` is the preorder proof tree), ``"sat"`` (``witness``),
    ``"unknown"`` or ``"timeout"``."""

    status: str
    witness: np.ndarray | None = None
    nodes: list[tuple[Any, ...]] | None = None
    stats: SearchStats = field(default_factory=SearchStats)
    message: str = ""


class _Tree:
    """Split nodes ``(dim, value, child_lo, child_hi)`` and leaves ``(lambda,)`` by node id."""

    def __init__(self) -> None:
        self.kind: list[tuple[Any, ...] | None] = [None]

    def new(self) -> int:
        self.kind.append(None)
        return len(self.kind) - 1

    def new_many(self, k: int) -> np.ndarray:
        start = len(self.kind)
        self.kind.extend([None] * k)
        return np.arange(start, start + k, dtype=np.int64)

    def set_splits(self, ids: np.ndarray, dim: np.ndarray, value: np.ndarray, lo_child: np.ndarray,
                   hi_child: np.ndarray) -> None:
        for j in range(ids.size):
            self.kind[int(ids[j])] = ("s", int(dim[j]), float(value[j]), int(lo_child[j]),
                                      int(hi_child[j]))

    def preorder(self, n_atoms: int) -> list[tuple[Any, ...]]:
        out: list[tuple[Any, ...]] = []
        stack = [0]
        while stack:
            node = self.kind[stack.pop()]
            if node is None:
                raise AssertionError("open node in a finished tree")  # pragma: no cover
            if node[0] == "s":
                out.append(("s", node[1], node[2]))
                stack.append(node[4])
                stack.append(node[3])
            else:
                lam = np.zeros(n_atoms)
                lam[node[1]] = 1.0
                out.append(("l", lam, node[2]))
        return out


#: A slab is cut off a box only when it is at least this share of the box's width.
SHRINK_MIN_SHARE = 0.02
import os
BRANCH = os.environ.get("BRANCH", "wide")


def _shrink(tree: _Tree, lo: np.ndarray, hi: np.ndarray, ids: np.ndarray, g: np.ndarray, lb: np.ndarray,
            tol: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray,
                                      tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Cut off, coordinate by coordinate, the slabs where the linear bound ``g·x + c`` is positive.

    The bound ``lb = min over the box of g·x + c``; on the slab ``x_i >= v`` (``g_i > 0``) its minimum is
    ``lb - min(g_i lo_i, g_i hi_i) + g_i v``, positive for the ``v`` chosen here.  Each cut is an input
    split whose slab child is pushed as an ordinary open box (it closes on its next bound, which is
    recomputed on the slab itself); the other child carries on.  Returns the shrunk boxes, their node ids
    and the slabs ``(lo, hi, ids)``.
    """
    lo, hi, ids = lo.copy(), hi.copy(), ids.copy()
    out_lo, out_hi, out_id = [], [], []
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
        hi[cut[is_up], i] = v[cut][is_up]
        lo[cut[~is_up], i] = v[cut][~is_up]
        ids[cut] = rest_id
    n0 = lo.shape[1]
    if not out_id:
        return lo, hi, ids, (np.zeros((0, n0)), np.zeros((0, n0)), np.zeros(0, dtype=np.int64))
    return lo, hi, ids, (np.concatenate(out_lo), np.concatenate(out_hi), np.concatenate(out_id))


def search_disjunct(
    arr: Arrays, lo: np.ndarray, hi: np.ndarray, A: np.ndarray, Bm: np.ndarray, c: np.ndarray, *,
    deadline: float, rng: np.random.Generator, confirm: Callable[[np.ndarray], bool],
    batch: int = 2048, alpha_steps: int = 0, shrink: bool = True, progress: Callable[[SearchStats, int, float], None] | None = None,
) -> DisjunctOutcome:
    """Decide one disjunct ``{x in [lo, hi] : A x + Bm f(x) + c >= 0}`` (rows are the atoms).

    ``confirm(x)`` re-evaluates a float candidate exactly and returns True for a real counterexample.
    """
    t0 = time.perf_counter()
    stats = SearchStats()
    n_atoms = A.shape[0]
    C, Cx, d = -Bm, -A, -c
    tol = CLOSE_TOLERANCE * (1.0 + np.abs(d))
    tree = _Tree()
    open_lo = lo[None].astype(np.float64)
    open_hi = hi[None].astype(np.float64)
    open_id = np.zeros(1, dtype=np.int64)
    # attack first
    ta = time.perf_counter()
    cand = pgd(arr, lo, hi, A, Bm, c, rng, restarts=ATTACK_RESTARTS, steps=50,
               deadline=min(deadline, time.perf_counter() + 2.0))
    stats.attack_seconds += time.perf_counter() - ta
    if cand is not None:
        for x in cand[:16]:
            if confirm(x):
                stats.seconds = time.perf_counter() - t0
                return DisjunctOutcome("sat", witness=x, stats=stats, message="PGD")
    while open_id.size:
        if time.perf_counter() > deadline:
            stats.seconds = time.perf_counter() - t0
            return DisjunctOutcome("timeout", stats=stats, message="time limit reached")
        take = min(batch, open_id.size)
        blo, bhi, bid = open_lo[-take:], open_hi[-take:], open_id[-take:]
        open_lo, open_hi, open_id = open_lo[:-take], open_hi[:-take], open_id[:-take]
        stats.batches += 1
        stats.domains += take
        bnd = intermediate_bounds(arr, blo, bhi)
        lb, g = final_bounds(arr, bnd, blo, bhi, C, d, Cx)
        best = np.argmax(lb - tol, axis=1)
        rows = np.arange(take)
        closed = (lb[rows, best] > tol[best]) | bnd.empty
        for i in np.flatnonzero(closed):
            tree.kind[int(bid[i])] = ("l", int(best[i]), None)
        stats.closed_by["crown"] = stats.closed_by.get("crown", 0) + int(closed.sum())
        if alpha_steps and not closed.all():
            op = np.flatnonzero(~closed)
            sub = Bounds([x[op] for x in bnd.lower], [x[op] for x in bnd.upper],
                         [None if e is None else e[op] for e in bnd.err], bnd.empty[op])
            lb2, _, al = optimise_slopes(arr, sub, blo[op], bhi[op], C, d, Cx, steps=alpha_steps)
            lb[op] = np.maximum(lb[op], lb2)  # (branching keeps the adaptive bound's coefficients)
            best2 = np.argmax(lb2 - tol, axis=1)
            r2 = np.arange(op.size)
            ok = lb2[r2, best2] > tol[best2]
            for j in np.flatnonzero(ok):
                codes = np.concatenate([np.round(a[j, best2[j]] * 255.0) for a in al]).astype(np.uint8)
                tree.kind[int(bid[op[j]])] = ("l", int(best2[j]), codes)
            closed[op[ok]] = True
            best[op] = np.where(ok, best2, best[op])
            stats.closed_by["alpha"] = stats.closed_by.get("alpha", 0) + int(ok.sum())
        stats.leaves += int(closed.sum())
        keep = ~closed
        if not keep.any():
            continue
        klo, khi, kid = blo[keep], bhi[keep], bid[keep]
        gk = g[keep, best[keep]]
        # the linear bound's minimiser: where a counterexample is most likely
        xs = np.where(gk > 0, klo, khi)
        ta = time.perf_counter()
        vals = margins(arr, xs, A, Bm, c).min(axis=1)
        hits = np.flatnonzero(vals >= 0)
        if hits.size == 0 and stats.batches % 4 == 0:
            # PGD from random points of the open boxes with the lowest bounds and their minimisers
            pick = np.argsort(-vals)[:ATTACK_RESTARTS // 2]
            starts = np.vstack([xs[pick], rng.uniform(klo[pick], khi[pick])])
            pts = pgd(arr, lo, hi, A, Bm, c, rng, restarts=0, steps=20, starts=starts,
                      deadline=deadline)
            if pts is not None:
                for x in pts[:8]:
                    if confirm(x):
                        stats.seconds = time.perf_counter() - t0
                        return DisjunctOutcome("sat", witness=x, stats=stats, message="PGD in search")
        for h in hits[np.argsort(-vals[hits])][:8]:
            if confirm(xs[h]):
                stats.seconds = time.perf_counter() - t0
                return DisjunctOutcome("sat", witness=xs[h], stats=stats, message="bound minimiser")
        stats.attack_seconds += time.perf_counter() - ta
        # shrink: cut off the slabs on which the box's own linear bound is already positive
        lbk = lb[keep, best[keep]]
        new_lo, new_hi, new_id = [], [], []
        if shrink:
            klo, khi, kid, slabs = _shrink(tree, klo, khi, kid, gk, lbk, tol[best[keep]])
            new_lo.append(slabs[0])
            new_hi.append(slabs[1])
            new_id.append(slabs[2])
        # split along the most sensitive input
        width = khi - klo
        score = (np.abs(gk) * width if BRANCH == "sens" else width)
        score = np.where(width > 0, score + 1e-12 * width, -1.0)
        dim = np.argmax(score, axis=1)
        r = np.arange(kid.size)
        mid = 0.5 * (klo[r, dim] + khi[r, dim])
        bad = (mid <= klo[r, dim]) | (mid >= khi[r, dim])
        if bad.any():
            stats.seconds = time.perf_counter() - t0
            return DisjunctOutcome("unknown", stats=stats,
                                   message="a box became too small to split in float64")
        lo_half_hi = khi.copy()
        lo_half_hi[r, dim] = mid
        hi_half_lo = klo.copy()
        hi_half_lo[r, dim] = mid
        ids0 = tree.new_many(kid.size)
        ids1 = tree.new_many(kid.size)
        tree.set_splits(kid, dim, mid, ids0, ids1)
        open_lo = np.concatenate([open_lo, *new_lo, klo, hi_half_lo])
        open_hi = np.concatenate([open_hi, *new_hi, lo_half_hi, khi])
        open_id = np.concatenate([open_id, *new_id, ids0, ids1])
        stats.max_open = max(stats.max_open, int(open_id.size))
        if progress is not None:
            progress(stats, int(open_id.size), float(np.min(lb[rows, best])))
    stats.seconds = time.perf_counter() - t0
    return DisjunctOutcome("unsat", nodes=tree.preorder(n_atoms), stats=stats,
                           message=f"{stats.leaves} leaves")

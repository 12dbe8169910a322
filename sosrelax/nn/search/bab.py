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


def search_disjunct(
    arr: Arrays, lo: np.ndarray, hi: np.ndarray, A: np.ndarray, Bm: np.ndarray, c: np.ndarray, *,
    deadline: float, rng: np.random.Generator, confirm: Callable[[np.ndarray], bool],
    batch: int = 2048, alpha_steps: int = 0, progress: Callable[[SearchStats, int, float], None] | None = None,
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
    cand = pgd(arr, lo, hi, A, Bm, c, rng, restarts=min(4096, 256 * lo.size), steps=30,
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
        if hits.size == 0 and stats.batches % 8 == 0:
            starts = xs[np.argsort(-vals)[:256]]
            pts = pgd(arr, klo.min(axis=0), khi.max(axis=0), A, Bm, c, rng, restarts=0, steps=10,
                      starts=starts, deadline=deadline)
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
        # split along the most sensitive input
        width = khi - klo
        score = np.abs(gk) * width
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
        ids0 = np.array([tree.new() for _ in range(kid.size)], dtype=np.int64)
        ids1 = np.array([tree.new() for _ in range(kid.size)], dtype=np.int64)
        for j in range(kid.size):
            tree.kind[int(kid[j])] = ("s", int(dim[j]), float(mid[j]), int(ids0[j]), int(ids1[j]))
        open_lo = np.concatenate([open_lo, klo, hi_half_lo])
        open_hi = np.concatenate([open_hi, lo_half_hi, khi])
        open_id = np.concatenate([open_id, ids0, ids1])
        stats.max_open = max(stats.max_open, int(open_id.size))
        if progress is not None:
            progress(stats, int(open_id.size), float(np.min(lb[rows, best])))
    stats.seconds = time.perf_counter() - t0
    return DisjunctOutcome("unsat", nodes=tree.preorder(n_atoms), stats=stats,
                           message=f"{stats.leaves} leaves")

"""Both cores on one search: the input box split into pieces searched by worker processes.

The box is halved along its widest input, twice, into four pieces; two worker processes (``fork``)
search them, two each, with :func:`~sosrelax.nn.search.bab.search_box`.  The proof tree of every
disjunct is the two levels of splits followed by the pieces' own trees (the halves cover their parent
exactly as any split of the search does).  A counterexample from any piece ends the search; its
witness is confirmed again in this process.  BLAS threads stay capped at one in the workers (the cap
is inherited through ``fork``), so two processes use the two cores without oversubscribing them.
"""

from __future__ import annotations

import multiprocessing as mp
import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from sosrelax.nn.search.bab import BoxOutcome, Goal, SearchStats, search_box
from sosrelax.nn.search.bounds import Arrays
from sosrelax.nn.witness import Witnesses

__all__ = ["WORKERS", "search_box_parallel"]

#: Worker processes (the benchmark machine has two cores).
WORKERS = 2


def _piece(arr: Arrays, lo: np.ndarray, hi: np.ndarray, goals: Sequence[Goal], deadline: float, seed: int,
           witnesses: Witnesses, batch: int, leaf_rungs: Any) -> BoxOutcome:
    out = search_box(arr, lo, hi, goals, deadline=deadline, rng=np.random.default_rng(seed),
                     confirm=witnesses.confirm, batch=batch, leaf_rungs=leaf_rungs)
    out.open_boxes = None  # not needed by the parent; keeps the answer small
    return out


def _pieces(lo: np.ndarray, hi: np.ndarray, levels: int) -> tuple[list[tuple[np.ndarray, np.ndarray]], Any]:
    """The boxes of ``levels`` rounds of halving along the widest input, and the split structure
    (``("s", dim, mid, left, right)`` or the index of a piece)."""
    boxes: list[tuple[np.ndarray, np.ndarray]] = []

    def build(a: np.ndarray, b: np.ndarray, depth: int) -> Any:
        w = b - a
        dim = int(np.argmax(w))
        mid = 0.5 * (a[dim] + b[dim])
        if depth == 0 or not a[dim] < mid < b[dim]:
            boxes.append((a, b))
            return len(boxes) - 1
        b1, a2 = b.copy(), a.copy()
        b1[dim] = a2[dim] = mid
        return ("s", dim, float(mid), build(a, b1, depth - 1), build(a2, b, depth - 1))

    return boxes, build(lo.copy(), hi.copy(), levels)


def _assemble(shape: Any, outs: list[BoxOutcome], k: int) -> list[tuple[Any, ...]]:
    if isinstance(shape, int):
        nodes = outs[shape].nodes
        assert nodes is not None
        return list(nodes[k])
    return [("s", shape[1], shape[2]), *_assemble(shape[3], outs, k), *_assemble(shape[4], outs, k)]


def search_box_parallel(
    arr: Arrays, lo: np.ndarray, hi: np.ndarray, goals: Sequence[Goal], *, deadline: float,
    seed: int, witnesses: Witnesses, batch: int = 2048, workers: int = WORKERS, levels: int = 2,
    leaf_rungs: Any = None,
) -> BoxOutcome:
    """:func:`~sosrelax.nn.search.bab.search_box` on ``2**levels`` pieces of the box in ``workers``
    processes.  The workers re-check candidates exactly; a ``sat`` witness is confirmed once more here
    with ``witnesses`` (onnxruntime included when it has the model file), so ``witnesses.found`` holds it.
    A witness this process does not confirm ends the search as ``unknown``."""
    t0 = time.perf_counter()
    boxes, shape = _pieces(lo, hi, levels)
    # the workers confirm candidates in exact arithmetic only (no onnxruntime session after a fork);
    # this process confirms a worker's witness again, onnxruntime included
    exact_only = Witnesses(witnesses.net, witnesses.disjuncts, None)
    ctx = mp.get_context("fork")
    outs: list[BoxOutcome | None] = [None] * len(boxes)
    with ctx.Pool(min(workers, len(boxes))) as pool:
        pending = {i: pool.apply_async(_piece, (arr, a, b, goals, deadline, seed + i, exact_only, batch,
                                                          leaf_rungs))
                   for i, (a, b) in enumerate(boxes)}
        while pending:
            for i in [i for i, r in pending.items() if r.ready()]:
                out = pending.pop(i).get()
                outs[i] = out
                if out.status == "sat" and out.witness is not None and out.disjunct is not None \
                        and witnesses.confirm(out.disjunct, out.witness):
                    pool.terminate()
                    out.stats.seconds = time.perf_counter() - t0
                    return out
                if out.status != "unsat":
                    pool.terminate()
                    status = "unknown" if out.status == "sat" else out.status  # witness not confirmed here
                    return BoxOutcome(status, stats=_merged(outs, t0), message=f"piece {i}: {out.message}")
            if time.perf_counter() > deadline + 5.0:  # a worker that does not stop: give up on it
                pool.terminate()
                return BoxOutcome("timeout", stats=_merged(outs, t0), message="time limit reached")
            time.sleep(0.005)
    done = [o for o in outs if o is not None]
    nodes = [_assemble(shape, done, k) for k in range(len(goals))]  # every piece answered unsat
    return BoxOutcome("unsat", nodes=nodes, stats=_merged(outs, t0),
                      message=f"{sum(o.stats.leaves for o in done)} leaves ({len(boxes)} pieces, {workers} "
                      "processes)")


def _merged(outs: Sequence[BoxOutcome | None], t0: float) -> SearchStats:
    st = SearchStats()
    for o in outs:
        if o is None:
            continue
        st.domains += o.stats.domains
        st.leaves += o.stats.leaves
        st.batches += o.stats.batches
        st.max_open = max(st.max_open, o.stats.max_open)
        st.attack_seconds += o.stats.attack_seconds
        st.shrunk += o.stats.shrunk
        st.rung_attempts += o.stats.rung_attempts
        st.rung_seconds += o.stats.rung_seconds
        for r, n in o.stats.rung_closed.items():
            st.rung_closed[r] = st.rung_closed.get(r, 0) + n
    st.seconds = time.perf_counter() - t0
    return st

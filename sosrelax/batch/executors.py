"""How the pending claims of a batch are run: local persistent worker processes, or any executor.

:func:`run_local` drives one :class:`~sosrelax.batch.sandbox.Sandbox` per worker from the calling thread;
:func:`run_executor` submits :func:`~sosrelax.batch.sandbox.run_task` to a :class:`concurrent.futures.Executor`
or a ``dask.distributed.Client``.  Both call ``finish(task, record)`` once per claim, in the calling thread.
"""

from __future__ import annotations

import queue
import time
from collections.abc import Callable
from multiprocessing.connection import wait
from typing import Any

from sosrelax.batch.claims import Task
from sosrelax.batch.progress import Progress
from sosrelax.batch.sandbox import Sandbox, error_record, now_iso, preload, run_task

__all__ = ["run_executor", "run_local"]


def _is_dask_client(executor: Any) -> bool:
    return type(executor).__module__.split(".")[0] == "distributed"


def run_local(pending: list[Task], n_workers: int, finish: Callable[[Task, dict[str, Any]], None],
               bar: Progress, solver: str) -> None:
    """Drive ``n_workers`` persistent worker processes from this thread (no helper threads)."""
    preload(solver)
    sandboxes = [Sandbox() for _ in range(min(n_workers, len(pending)))]
    todo = list(reversed(pending))
    try:
        while todo or any(s.busy for s in sandboxes):
            for s in sandboxes:
                while not s.busy and todo:
                    task = todo.pop()
                    early = s.start(task)
                    if early is not None:
                        early.update(wall_time_s=0.0, started_at=now_iso(), finished_at=now_iso())
                        finish(task, early)
            busy = [s for s in sandboxes if s.busy]
            if not busy:
                continue
            timeout = min(0.2, max(0.0, min(s.deadline for s in busy) - time.monotonic()))
            ready = wait([s.conn for s in busy if s.conn is not None], timeout=timeout)
            finished: list[tuple[Task, dict[str, Any]]] = []
            for s in busy:
                running = s.task
                assert running is not None
                if s.conn in ready:
                    finished.append((running, s.collect()))
                else:
                    rec = s.expire()
                    if rec is not None:
                        finished.append((running, rec))
            # hand out the next claims first, so that workers solve while the results are being stored
            for s in sandboxes:
                if not s.busy and todo:
                    task = todo.pop()
                    early = s.start(task)
                    if early is not None:
                        early.update(wall_time_s=0.0, started_at=now_iso(), finished_at=now_iso())
                        finished.append((task, early))
            for task, rec in finished:
                finish(task, rec)
            bar.tick()
    finally:
        for s in sandboxes:
            s.close()


def run_executor(executor: Any, pending: list[Task], finish: Callable[[Task, dict[str, Any]], None],
                  bar: Progress) -> None:
    """Submit every task to ``executor`` and record results as they complete."""
    done: queue.Queue[tuple[Task, Any]] = queue.Queue()
    dask = _is_dask_client(executor)
    for t in pending:
        fut = executor.submit(run_task, t, pure=False) if dask else executor.submit(run_task, t)
        fut.add_done_callback(lambda f, t=t: done.put((t, f)))
    left = len(pending)
    while left:
        try:
            task, fut = done.get(timeout=0.2)
        except queue.Empty:
            bar.tick()
            continue
        left -= 1
        t0 = now_iso()
        try:
            rec = fut.result()
        except BaseException as e:  # the executor lost the worker (e.g. a crash without isolation)
            if isinstance(e, KeyboardInterrupt):
                raise
            rec = error_record(f"{type(e).__name__}: {e}", "the executor could not run the claim")
            rec.update(wall_time_s=None, started_at=t0, finished_at=now_iso())
        finish(task, rec)

"""``certify_many``: result keys, resuming from the store, running the missing claims and recording them."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from sosrelax.batch.claims import BatchItem, ClaimSpec, DeferredClaim, NetworkInstance, Task
from sosrelax.batch.executors import run_executor, run_local
from sosrelax.batch.progress import Progress
from sosrelax.batch.results import BatchResult
from sosrelax.batch.sandbox import run_in_process
from sosrelax.errors import InvalidValueError
from sosrelax.problem import Claim
from sosrelax.store import ResultStore

__all__ = ["DEFAULT_MEMORY_LIMIT", "KEY_VERSION", "certify_many", "record"]

#: Part of every result key: bumped when the meaning of a stored result changes.
KEY_VERSION = 1

DEFAULT_MEMORY_LIMIT = 4 * 2**30


def _settings(schedule: Any, time_limit: float, solver: str, max_level: int, seed: int,
              attack_budget: float | None) -> dict[str, Any]:
    if not isinstance(schedule, str):
        schedule = [list(s) if isinstance(s, tuple) else s for s in schedule]
    return {"schedule": schedule, "time_limit": float(time_limit), "solver": solver,
            "max_level": int(max_level), "seed": int(seed),
            "attack_budget": None if attack_budget is None else float(attack_budget)}


def _result_key(identity: Any, settings: Mapping[str, Any]) -> str:
    text = json.dumps({"version": KEY_VERSION, "claim": identity, "settings": settings},
                      sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _normalise(claims: Iterable[Any], names: Sequence[str] | None) -> list[BatchItem]:
    items: list[BatchItem] = []
    claims = list(claims)
    if names is not None and len(names) != len(claims):
        raise InvalidValueError(f"names has {len(names)} entries for {len(claims)} claims; give one per claim")
    for i, c in enumerate(claims):
        if isinstance(c, BatchItem):
            item = c
        elif isinstance(c, (Claim, DeferredClaim, NetworkInstance)):
            item = BatchItem(f"claim-{i}", c)
        else:
            raise InvalidValueError(
                f"claims[{i}] is {type(c).__name__}; expected a sosrelax.Claim, a DeferredClaim or a BatchItem"
            )
        if names is not None:
            item = BatchItem(str(names[i]), item.claim, item.time_limit)
        items.append(item)
    return items


def certify_many(
    claims: Iterable[Claim | DeferredClaim | BatchItem],
    store: str | os.PathLike[str] | ResultStore | None = "results.sqlite",
    executor: Any = None,
    *,
    names: Sequence[str] | None = None,
    schedule: str | Sequence[Any] = "auto",
    time_limit: float = 60.0,
    memory_limit: int | None = DEFAULT_MEMORY_LIMIT,
    wall_limit: float | None = None,
    workers: int | None = None,
    solver: str = "clarabel",
    max_level: int = 6,
    seed: int = 0,
    attack_budget: float | None = None,
    isolate: bool = True,
    retry_errors: bool = False,
    progress: bool | None = None,
) -> list[BatchResult]:
    """Certify or falsify every claim, in parallel, recording each result in a resumable store.

    Each claim is settled by :func:`sosrelax.certify.certify` with ``schedule``, ``time_limit``, ``solver``,
    ``max_level``, ``rng=seed`` and ``attack_budget``, so its verdict is the one a direct call gives.

    Parameters
    ----------
    claims : iterable of Claim, DeferredClaim or BatchItem
    store : path, ResultStore or None
        SQLite file of results (created if absent); certificates and counterexamples go to the folder
        ``<stem>.files`` beside it.  ``None``: in memory, no files.
    executor : None, concurrent.futures.Executor or dask.distributed.Client
        ``None``: ``workers`` local worker processes.  Otherwise claims are submitted to ``executor``.
    names : sequence of str, optional
        One name per claim (default: the item's name, or ``claim-<index>``).  Names label rows; they are not
        part of the key.
    time_limit : float
        ``certify``'s budget per claim (seconds); a :class:`BatchItem` may give its own.
    memory_limit : int or None
        Bytes of address space a claim may add to its worker (``RLIMIT_AS``); default 4 GiB.
    wall_limit : float, optional
        Hard wall-clock limit per claim after which its worker is killed and the claim recorded as
        ``timeout``; default ``time_limit + max(5, time_limit / 2)``.
    workers : int, optional
        Number of local worker processes (default: the CPUs this process may use).
    isolate : bool
        Run each claim in an isolated worker process (with an executor too: one per executor thread).
        ``False`` with ``executor=None`` runs the claims one after another in this process.
    retry_errors : bool
        Re-run claims whose stored status is ``error`` or ``timeout`` instead of returning them.
    progress : bool, optional
        Progress bar and final summary on stderr; default: only when stderr is a terminal.

    Returns
    -------
    list of BatchResult
        One per claim, in the order of ``claims``.  Claims already in the store are not recomputed
        (``resumed=True``); identical claims with identical settings share one row.
    """
    items = _normalise(claims, names)
    n_workers = _worker_count(workers)
    if memory_limit is not None and memory_limit <= 0:
        raise InvalidValueError(f"memory_limit = {memory_limit}; give a positive number of bytes or None")
    base = dict(schedule=schedule, solver=solver, max_level=max_level, seed=seed,
                attack_budget=attack_budget)
    tasks = [_task(item, base, time_limit, memory_limit, wall_limit, isolate) for item in items]

    own_store = not isinstance(store, ResultStore)
    db = ResultStore(store) if not isinstance(store, ResultStore) else store
    try:
        by_key = _stored_results(db, tasks, retry_errors)
        todo: dict[str, Task] = {}
        for t in tasks:
            if t.key not in by_key and t.key not in todo:
                todo[t.key] = t
        done_counts: dict[str, int] = {}
        for r in by_key.values():
            done_counts[r.status.value] = done_counts.get(r.status.value, 0) + 1
        bar = Progress(len(by_key) + len(todo), done_counts, progress)
        results: list[BatchResult] | None = None
        try:
            def finish(task: Task, rec: dict[str, Any]) -> None:
                res = record(db, task, rec)
                by_key[task.key] = res
                bar.advance(res.status.value)

            pending = list(todo.values())
            if pending:
                if executor is None and isolate and hasattr(os, "fork"):
                    run_local(pending, n_workers, finish, bar, solver)
                elif executor is None:
                    for t in pending:
                        finish(t, run_in_process(t))
                else:
                    run_executor(executor, pending, finish, bar)
            results = [by_key[t.key] for t in tasks]
        finally:
            bar.close(results)
        return results
    finally:
        if own_store:
            db.close()


def _worker_count(workers: int | None) -> int:
    """``workers``, or the CPUs this process may use."""
    if workers is not None:
        n_workers = int(workers)
    elif hasattr(os, "sched_getaffinity"):
        n_workers = len(os.sched_getaffinity(0))
    else:
        n_workers = os.cpu_count() or 1
    if n_workers < 1:
        raise InvalidValueError(f"workers = {n_workers}; give at least 1")
    return n_workers


def _task(item: BatchItem, base: Mapping[str, Any], time_limit: float, memory_limit: int | None,
          wall_limit: float | None, isolate: bool) -> Task:
    """The worker task of one batch item, keyed by its claim's identity and its verdict-deciding settings."""
    tl = float(item.time_limit if item.time_limit is not None else time_limit)
    if not tl > 0:
        raise InvalidValueError(f"time limit {tl} of {item.name!r} must be positive")
    sett = _settings(base["schedule"], tl, base["solver"], base["max_level"], base["seed"],
                     base["attack_budget"])
    network = None
    if isinstance(item.claim, Claim):
        spec: ClaimSpec | None = ClaimSpec.from_claim(item.claim)
        deferred = None
        assert spec is not None
        identity: Any = spec.canonical()
    elif isinstance(item.claim, NetworkInstance):
        spec, deferred, network = None, None, item.claim
        identity = {"network": item.claim.identity()}
    else:
        spec, deferred = None, item.claim
        identity = {"deferred": item.claim.identity()}
    wl = float(wall_limit) if wall_limit is not None else tl + max(5.0, tl / 2)
    kwargs = dict(base, time_limit=tl, rng=base["seed"])
    kwargs.pop("seed")
    return Task(key=_result_key(identity, sett), name=item.name, spec=spec, deferred=deferred,
                certify_kwargs=kwargs, memory_limit=memory_limit, wall_limit=wl, isolate=isolate,
                network=network)


def _stored_results(db: ResultStore, tasks: list[Task], retry_errors: bool) -> dict[str, BatchResult]:
    """The results already in the store, by key; with ``retry_errors`` the failed ones are deleted first."""
    existing = db.get_many(t.key for t in tasks)
    if retry_errors:
        failed = [k for k, r in existing.items() if r["status"] in ("error", "timeout")]
        if failed:
            db.delete(failed)
            for k in failed:
                del existing[k]
    return {k: BatchResult.from_row(r, db, resumed=True) for k, r in existing.items()}


def record(db: ResultStore, task: Task, rec: dict[str, Any]) -> BatchResult:
    """Write the files of ``rec``, then its row (one transaction); return the stored result."""
    stem = task.key[:24]
    cert_path = cx_path = None
    if rec.get("certificate"):
        cert_path = db.write_file(f"{stem}.cert.json", rec["certificate"].encode("utf-8"))
    if rec.get("counterexample") is not None:
        text = json.dumps(rec["counterexample"], indent=2, sort_keys=True) + "\n"
        cx_path = db.write_file(f"{stem}.counterexample.json", text.encode("utf-8"))
    claim_text = None
    if task.spec is not None:
        claim_text = str(task.spec.to_claim())[:4000] if len(task.spec.margin[1]) < 2000 else None
    elif task.deferred is not None:
        claim_text = f"deferred: {task.deferred.identity()}"[:4000]
    settings = {k: v for k, v in task.certify_kwargs.items() if k != "rng"}
    settings["seed"] = task.certify_kwargs.get("rng")
    row = {
        "key": task.key, "name": task.name, "status": rec["status"], "bound": rec.get("bound"),
        "attack_value": rec.get("attack_value"), "solve_time_s": rec.get("solve_time_s"),
        "wall_time_s": rec.get("wall_time_s"), "started_at": rec.get("started_at"),
        "finished_at": rec.get("finished_at"), "certificate_path": cert_path,
        "counterexample_path": cx_path, "counterexample": rec.get("counterexample"),
        "message": rec.get("message") or "", "error": rec.get("error"), "settings": settings,
        "claim": claim_text, "log": rec.get("log"),
    }
    inserted = db.put(row)
    stored = row if inserted else db.get(task.key)
    assert stored is not None
    return BatchResult.from_row(stored, db, resumed=not inserted)

"""``sosrelax.batch``: certify many claims at once, crash-safe and resumable.

:func:`certify_many` runs :func:`sosrelax.certify.certify` on every claim of a list and records one result row
per claim in a :class:`~sosrelax.store.ResultStore` (SQLite).  Three properties hold whatever happens to the
processes involved:

* **one result per claim** — a row is keyed by a content hash of the claim and of the settings that decide
  its verdict (schedule, time limit, solver, maximal level, seed, attack budget); it is committed in one
  transaction after its certificate or counterexample file is in place, and a key never gets a second row;
* **resumable** — a re-run (after a crash, ``SIGKILL``, power cut of the driving process) finds the rows that
  exist, returns them unchanged and computes only the missing claims;
* **isolation** — each claim runs in a worker process of its own address-space limit and wall-clock limit;
  a worker that crashes (segmentation fault, abort, ``os._exit``), runs out of memory or hangs is replaced,
  and the claim is recorded with status ``error`` or ``timeout`` while the batch goes on.

Where the work runs
-------------------
``executor=None`` (the default) keeps ``workers`` persistent worker processes forked from the calling process
and feeds them one claim at a time; a worker is replaced only after a failure, so a claim costs one message
round trip, not a process start.  Any :class:`concurrent.futures.Executor` (threads, processes) and a
``dask.distributed.Client`` (local or on a cluster) are accepted as well: each of their workers then keeps
such an isolated worker process of its own (``isolate=True``, POSIX only) or runs the claims in its own
process (``isolate=False``; the time limit is then only the cooperative one of ``certify``).

Claims travel to workers as :class:`ClaimSpec` values (variable names, exponent rows and float64 coefficients:
exact and picklable), so they rebuild bit for bit.  A :class:`DeferredClaim` instead sends a picklable
callable that *builds* the claim inside the worker — for instance a loader that reads a large network there.

Inputs
------
:func:`load_instances` reads a TOML list of claims, a ``PROBLEM.toml`` with a ``[claim]``, a folder of such
files, or a VNN-COMP ``instances.csv`` (columns ``onnx, vnnlib, timeout``).  Loaders are kept in a registry
keyed by file suffix (:func:`register_loader`); VNN-COMP rows are turned into claims by
``sosrelax.nn.vnnlib_claims(onnx_path, vnnlib_path) -> list[Claim]`` (every claim of the list must hold for
the property to hold).
"""

from __future__ import annotations

from sosrelax.batch.claims import BatchItem, BatchStatus, ClaimSpec, DeferredClaim, NetworkInstance
from sosrelax.batch.loaders import InstanceLoader, load_instances, register_loader
from sosrelax.batch.progress import summary_table
from sosrelax.batch.results import BatchResult
from sosrelax.batch.runner import DEFAULT_MEMORY_LIMIT, KEY_VERSION, certify_many
from sosrelax.batch.sandbox import parse_size, run_task

__all__ = [
    "DEFAULT_MEMORY_LIMIT",
    "KEY_VERSION",
    "BatchItem",
    "BatchResult",
    "BatchStatus",
    "ClaimSpec",
    "DeferredClaim",
    "InstanceLoader",
    "NetworkInstance",
    "certify_many",
    "load_instances",
    "parse_size",
    "register_loader",
    "run_task",
    "summary_table",
]

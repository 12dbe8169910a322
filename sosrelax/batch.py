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

import contextlib
import hashlib
import json
import math
import os
import queue
import signal
import socket
import statistics
import sys
import threading
import time
import tomllib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from multiprocessing.connection import Connection, wait
from pathlib import Path
from typing import Any

import numpy as np

from sosrelax.errors import BackendNotAvailableError, InvalidValueError, ParseError
from sosrelax.poly import Constraint, ConstraintKind, Polynomial
from sosrelax.problem import Claim
from sosrelax.store import ResultStore

__all__ = [
    "NetworkInstance",
    "BatchItem",
    "BatchResult",
    "BatchStatus",
    "ClaimSpec",
    "DeferredClaim",
    "certify_many",
    "load_instances",
    "parse_size",
    "register_loader",
    "run_task",
    "summary_table",
]

#: Part of every result key: bumped when the meaning of a stored result changes.
KEY_VERSION = 1

DEFAULT_MEMORY_LIMIT = 4 * 2**30


class BatchStatus(StrEnum):
    """Outcome of one claim of a batch.

    ``CERTIFIED``, ``FALSIFIED``, ``UNKNOWN``: the verdict of :func:`sosrelax.certify.certify`.
    ``ERROR``: the claim could not be run to a verdict (bad input, crash, out of memory).
    ``TIMEOUT``: its worker exceeded the wall-clock limit and was killed.
    """

    CERTIFIED = "certified"
    FALSIFIED = "falsified"
    UNKNOWN = "unknown"
    ERROR = "error"
    TIMEOUT = "timeout"


# --------------------------------------------------------------------------------------------
# claims in a portable form
# --------------------------------------------------------------------------------------------

_PolyData = tuple[tuple[tuple[int, ...], ...], tuple[float, ...]]


def _poly_data(p: Polynomial) -> _PolyData:
    return tuple(map(tuple, p.exps.tolist())), tuple(p.coefs.tolist())


def _poly_from(data: _PolyData, names: Sequence[str]) -> Polynomial:
    exps, coefs = data
    e = np.array(exps, dtype=np.int64).reshape(len(coefs), len(names))
    return Polynomial(e, np.array(coefs, dtype=np.float64), names)


def _poly_canonical(data: _PolyData) -> dict[str, Any]:
    return {"exps": [list(r) for r in data[0]], "coefs": [float.hex(c) for c in data[1]]}


@dataclass(frozen=True)
class ClaimSpec:
    """A claim as plain, picklable data: exact enough to rebuild the same claim bit for bit.

    The claim ``p(x) >= 0`` (``> 0`` if ``strict``) for every ``x`` with ``g_i(x) >= 0`` (``> 0`` where
    ``strict_inequalities[i]``) and ``h_j(x) == 0``; every polynomial is given by its exponent rows over
    ``variables`` and its float64 coefficients, in the canonical order of :class:`~sosrelax.poly.Polynomial`.
    """

    variables: tuple[str, ...]
    margin: _PolyData
    strict: bool
    inequalities: tuple[_PolyData, ...]
    strict_inequalities: tuple[bool, ...]
    equalities: tuple[_PolyData, ...]

    @classmethod
    def from_claim(cls, claim: Claim) -> ClaimSpec:
        """The spec of ``claim`` (its normalised form ``p >= 0`` on ``K``)."""
        pr = claim.problem
        return cls(
            variables=tuple(pr.variables),
            margin=_poly_data(claim.margin_poly),
            strict=claim.strict,
            inequalities=tuple(_poly_data(g) for g in pr.inequalities),
            strict_inequalities=tuple(bool(s) for s in pr.strict),
            equalities=tuple(_poly_data(h) for h in pr.equalities),
        )

    def to_claim(self) -> Claim:
        """Rebuild the claim; its polynomials equal the original ones exactly."""
        names = list(self.variables)
        p = _poly_from(self.margin, names)
        cons = [
            Constraint(_poly_from(g, names), ConstraintKind.GT if s else ConstraintKind.GE)
            for g, s in zip(self.inequalities, self.strict_inequalities, strict=True)
        ]
        cons += [Constraint(_poly_from(h, names), ConstraintKind.EQ) for h in self.equalities]
        stmt = Constraint(p, ConstraintKind.GT if self.strict else ConstraintKind.GE)
        return Claim(stmt, subject_to=cons, variables=names)

    def canonical(self) -> dict[str, Any]:
        """A JSON-able description with coefficients in hexadecimal (exact; the basis of the result key)."""
        return {
            "variables": list(self.variables),
            "margin": _poly_canonical(self.margin),
            "strict": self.strict,
            "inequalities": [_poly_canonical(g) for g in self.inequalities],
            "strict_inequalities": list(self.strict_inequalities),
            "equalities": [_poly_canonical(h) for h in self.equalities],
        }


@dataclass(frozen=True)
class DeferredClaim:
    """A claim that is built inside the worker: ``build(*args)`` must return a :class:`~sosrelax.Claim`.

    ``build`` and ``args`` must be picklable (a module-level function, or a :func:`functools.partial` of one).
    The result key is made from ``key`` when given, else from the function's qualified name and ``repr(args)``:
    give ``key`` whenever ``repr(args)`` does not identify the claim (e.g. a file whose content may change).
    """

    build: Callable[..., Claim]
    args: tuple[Any, ...] = ()
    key: str | None = None

    def identity(self) -> str:
        """The text hashed into the result key."""
        if self.key is not None:
            return self.key
        fn = self.build
        name = f"{getattr(fn, '__module__', '?')}.{getattr(fn, '__qualname__', repr(fn))}"
        return f"{name}{self.args!r}"


@dataclass(frozen=True)
class NetworkInstance:
    """A neural-network property (an ONNX model and a VNN-LIB specification), verified in the worker by
    :func:`sosrelax.nn.verify`: ``unsat`` (every certificate checked) becomes *certified*, ``sat`` (a
    counterexample re-executed exactly) *falsified*.  The result key hashes both files' contents."""

    onnx_path: str
    vnnlib_path: str

    def identity(self) -> str:
        """The text hashed into the result key: both files' SHA-256."""
        import hashlib

        digests = []
        for p in (self.onnx_path, self.vnnlib_path):
            h = hashlib.sha256()
            with open(p, "rb") as fh:
                while chunk := fh.read(1 << 20):
                    h.update(chunk)
            digests.append(h.hexdigest())
        return "network:" + ":".join(digests)


@dataclass(frozen=True)
class BatchItem:
    """One entry of a batch: a name, a claim (or a network instance), and optionally its own time limit (s)."""

    name: str
    claim: Claim | DeferredClaim | NetworkInstance
    time_limit: float | None = None


@dataclass(frozen=True)
class _Task:
    """What a worker needs to settle one claim (picklable)."""

    key: str
    name: str
    spec: ClaimSpec | None
    deferred: DeferredClaim | None
    certify_kwargs: dict[str, Any]
    memory_limit: int | None
    wall_limit: float
    isolate: bool = True
    network: NetworkInstance | None = None

    def build_claim(self) -> Claim:
        if self.spec is not None:
            return self.spec.to_claim()
        assert self.deferred is not None
        claim = self.deferred.build(*self.deferred.args)
        if not isinstance(claim, Claim):
            raise InvalidValueError(
                f"the deferred claim {self.name!r} built {type(claim).__name__}, expected a sosrelax.Claim"
            )
        return claim


# --------------------------------------------------------------------------------------------
# results
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BatchResult:
    """The recorded outcome of one claim of a batch (one row of the store).

    Attributes
    ----------
    name : str
    key : str
        Content hash of the claim and of the verdict-deciding settings (hex SHA-256).
    status : BatchStatus
    bound : float or None
        Best proven lower bound on ``min_K p`` (``inf`` when ``K`` was proven empty).
    attack_value : float or None
        Smallest ``p`` found at an exactly feasible point.
    counterexample : dict or None
        Variable name → value for a ``falsified`` claim (exactly re-checked in the worker).
    certificate_path, counterexample_path : Path or None
        Files next to the store (a certificate is the verified one behind ``certified``).
    message : str
    error : str or None
        What went wrong for ``error`` / ``timeout``.
    solve_time_s : float or None
        Time of ``certify`` inside the worker.
    wall_time_s : float or None
        From handing the claim to a worker to receiving its result (isolation and transport included).
    resumed : bool
        ``True`` when the result was read from the store rather than computed by this call.
    """

    name: str
    key: str
    status: BatchStatus
    bound: float | None
    attack_value: float | None
    counterexample: dict[str, float] | None
    certificate_path: Path | None
    counterexample_path: Path | None
    message: str
    error: str | None = None
    solve_time_s: float | None = None
    wall_time_s: float | None = None
    resumed: bool = False

    @property
    def settled(self) -> bool:
        """``True`` for ``certified`` and ``falsified``."""
        return self.status in (BatchStatus.CERTIFIED, BatchStatus.FALSIFIED)

    def load_certificate(self) -> Any:
        """The certificate file as a :class:`~sosrelax.certificate.format.Certificate`, or ``None``."""
        if self.certificate_path is None:
            return None
        from sosrelax.certificate.format import Certificate

        return Certificate.load(self.certificate_path)

    def __repr__(self) -> str:
        b = "-" if self.bound is None else f"{self.bound:.8g}"
        extra = " (stored)" if self.resumed else ""
        return f"BatchResult({self.name!r}: {self.status.value}, bound {b}{extra}: {self.message})"

    @classmethod
    def _from_row(cls, row: Mapping[str, Any], store: ResultStore, resumed: bool) -> BatchResult:
        cx = row.get("counterexample")
        return cls(
            name=row["name"],
            key=row["key"],
            status=BatchStatus(row["status"]),
            bound=row["bound"],
            attack_value=row["attack_value"],
            counterexample=json.loads(cx) if isinstance(cx, str) else cx,
            certificate_path=store.resolve(row["certificate_path"]),
            counterexample_path=store.resolve(row["counterexample_path"]),
            message=row["message"],
            error=row["error"],
            solve_time_s=row["solve_time_s"],
            wall_time_s=row["wall_time_s"],
            resumed=resumed,
        )


# --------------------------------------------------------------------------------------------
# running one claim (inside a worker)
# --------------------------------------------------------------------------------------------


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def _error_record(error: str, message: str, status: BatchStatus = BatchStatus.ERROR) -> dict[str, Any]:
    return {"status": status.value, "bound": None, "attack_value": None, "counterexample": None,
            "certificate": None, "message": message, "error": error, "solve_time_s": None, "log": None}


def _finite_or_none(v: Any) -> float | None:
    return None if v is None else float(v)


def _execute(task: _Task) -> dict[str, Any]:
    """Settle one claim in this process; never raises (an exception becomes an ``error`` record)."""
    from sosrelax.certify import certify

    t0 = time.perf_counter()
    if task.network is not None:
        return _execute_network(task, t0)
    try:
        claim = task.build_claim()
        v = certify(claim, **task.certify_kwargs, progress=False)
    except MemoryError:
        lim = "" if task.memory_limit is None else f" of {_fmt_size(task.memory_limit)}"
        return _error_record(f"MemoryError: the claim exceeded its memory limit{lim}",
                             "out of memory")
    except Exception as e:  # any failure of one claim is that claim's result, not the batch's
        return _error_record(f"{type(e).__name__}: {e}", "the claim could not be run")
    cert = None if v.certificate is None else v.certificate.to_json().decode("utf-8")
    log = [
        {"rung": r.rung, "bound": r.bound, "solver_bound": r.solver_bound,
         "attack_value": r.attack_value, "time_s": r.time_s, "outcome": r.outcome}
        for r in v.log
    ]
    return {
        "status": v.status.value,
        "bound": _finite_or_none(v.bound),
        "attack_value": _finite_or_none(v.attack_value),
        "counterexample": None if v.counterexample is None
        else {k: float(x) for k, x in v.counterexample.items()},
        "certificate": cert,
        "message": v.message,
        "error": None,
        "solve_time_s": time.perf_counter() - t0,
        "log": log,
    }


def _execute_network(task: _Task, t0: float) -> dict[str, Any]:
    """Verify a network instance with :func:`sosrelax.nn.verify`; never raises."""
    assert task.network is not None
    try:
        import importlib

        from sosrelax import nn

        verify = importlib.import_module("sosrelax.nn.verify").verify  # the function, not the module
        net, prop = nn.vnnlib_claims(task.network.onnx_path, task.network.vnnlib_path)
        res = verify(net, prop, onnx_path=task.network.onnx_path,
                        timeout=float(task.certify_kwargs["time_limit"]),
                        rng=task.certify_kwargs.get("rng", 0))
    except MemoryError:
        return _error_record("MemoryError: the instance exceeded its memory limit", "out of memory")
    except Exception as e:  # any failure of one instance is that instance's result
        return _error_record(f"{type(e).__name__}: {e}", "the instance could not be run")
    verdict = getattr(res.status, "value", str(res.status))
    status = {"unsat": "certified", "sat": "falsified", "timeout": "timeout"}.get(verdict, "unknown")
    certs = list(res.certificates) if status == "certified" else []
    if len(certs) == 1:
        cert_text: str | None = certs[0].to_json().decode("utf-8")
    elif certs:  # one certificate per piece of the property (disjuncts, branch-and-bound leaves)
        cert_text = "[" + ",".join(c.to_json().decode("utf-8").strip() for c in certs) + "]\n"
    else:
        cert_text = None
    cx = None
    if status == "falsified" and res.counterexample is not None:
        xs, ys = res.counterexample
        cx = {**{f"X_{i}": float(v) for i, v in enumerate(xs)},
              **{f"Y_{i}": float(v) for i, v in enumerate(ys)}}
    return {
        "status": status,
        "bound": None,
        "attack_value": None,
        "counterexample": cx,
        "certificate": cert_text,
        "message": f"{verdict}: {res.message}",
        "error": None,
        "solve_time_s": time.perf_counter() - t0,
        "log": [],
    }


def _limit_memory(limit: int | None) -> None:
    """Cap this process's address space at its current size plus ``limit`` bytes (soft RLIMIT_AS)."""
    if limit is None:
        return
    try:
        import resource
    except ImportError:  # not POSIX: no limit
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    new = _address_space() + int(limit)
    if hard != resource.RLIM_INFINITY:
        new = min(new, hard)
    resource.setrlimit(resource.RLIMIT_AS, (new, hard))


def _address_space() -> int:
    try:
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, AttributeError):
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _set_parent_death_signal() -> None:
    """Linux: have the kernel kill this worker when the process that forked it dies (even by SIGKILL)."""
    if not sys.platform.startswith("linux"):
        return
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def _single_threaded_blas() -> None:
    """One BLAS thread per worker: the parallelism is the workers'; more threads only contend for cores."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return
    with contextlib.suppress(Exception):  # introspection of native libraries is best effort
        threadpool_limits(1)


_PRELOADED: set[str] = set()


def _preload(solver: str) -> None:
    """Import the modules every claim needs, once, so that forked workers start warm."""
    if solver in _PRELOADED:
        return
    import importlib

    for name in ("sosrelax.certify", "sosrelax.api", "sosrelax.adversary.search",
                 "sosrelax.relax.moment", "sosrelax.certificate.extract", "sosrelax.certificate.check",
                 f"sosrelax.solvers.{solver}"):
        with contextlib.suppress(ImportError):
            importlib.import_module(name)
    _PRELOADED.add(solver)


def _worker_main(conn: Connection) -> None:
    """Loop of a worker process: receive a task, run it under its memory limit, send the record back.

    After an ``error`` the worker exits (its state may be damaged) and is replaced by its owner.
    """
    _set_parent_death_signal()
    _single_threaded_blas()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the owner's to handle
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    import faulthandler
    import pickle

    faulthandler.disable()  # a crash is this claim's recorded result, not a traceback on the console

    while True:
        try:
            data = conn.recv_bytes()
        except (EOFError, OSError):
            return
        if not data:
            return
        task: _Task = pickle.loads(data)
        try:
            _limit_memory(task.memory_limit)
            rec = _execute(task)
        except MemoryError:
            rec = _error_record("MemoryError: out of memory while starting the claim", "out of memory")
        conn.send_bytes(json.dumps(rec).encode("utf-8"))
        if rec["status"] == BatchStatus.ERROR.value:
            return


def _dumps(obj: Any) -> bytes:
    try:
        import cloudpickle

        return bytes(cloudpickle.dumps(obj))
    except ImportError:
        import pickle

        return pickle.dumps(obj)


def _describe_exit(status: int | None) -> str:
    if status is None:
        return "the worker process ended without a result"
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        try:
            sname = signal.Signals(sig).name
        except ValueError:
            sname = f"signal {sig}"
        why = {"SIGSEGV": " (segmentation fault)", "SIGBUS": " (bus error)",
               "SIGABRT": " (abort; e.g. a failed allocation in native code)",
               "SIGKILL": " (killed from outside, e.g. by the out-of-memory killer)"}.get(sname, "")
        return f"the worker process was killed by {sname}{why}"
    if os.WIFEXITED(status):
        return f"the worker process exited with code {os.WEXITSTATUS(status)} without a result"
    return f"the worker process ended (wait status {status}) without a result"


#: The owner's ends of the channels to live workers (closed in every newly forked worker).
_OWNER_FDS: set[int] = set()
_SPAWN_LOCK = threading.Lock()


class _Sandbox:
    """One persistent worker process, forked from this one, that runs one task at a time.

    ``start`` hands it a task with a wall-clock deadline; once :attr:`conn` is readable, ``collect`` returns
    the record; ``expire`` kills a worker past its deadline.  A worker that fails is replaced lazily.
    """

    def __init__(self) -> None:
        self.pid: int | None = None
        self.conn: Connection | None = None
        self.task: _Task | None = None
        self.deadline = math.inf
        self.t_start = 0.0
        self.started_at = ""

    @property
    def busy(self) -> bool:
        return self.task is not None

    def _spawn(self) -> None:
        # under the lock, so that no other thread forks while this pair of sockets is not yet registered
        with _SPAWN_LOCK:
            self._spawn_locked()

    def _spawn_locked(self) -> None:
        mine, theirs = socket.socketpair()
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:  # the worker: never return into the caller's frames
            code = 0
            try:
                mine.close()
                for fd in list(_OWNER_FDS):  # other workers' channels: keeping them would hide their EOF
                    if fd != theirs.fileno():
                        with contextlib.suppress(OSError):
                            os.close(fd)
                _OWNER_FDS.clear()
                _worker_main(Connection(theirs.detach()))
            except BaseException:
                code = 1
            os._exit(code)
        theirs.close()
        self.pid = pid
        self.conn = Connection(mine.detach())
        _OWNER_FDS.add(self.conn.fileno())

    def _reap(self, kill: bool) -> int | None:
        pid, self.pid = self.pid, None
        if self.conn is not None:
            if not kill and self.task is None:
                with contextlib.suppress(OSError):
                    self.conn.send_bytes(b"")  # the worker's signal to exit
            with _SPAWN_LOCK:
                _OWNER_FDS.discard(self.conn.fileno())
                self.conn.close()
            self.conn = None
        if pid is None:
            return None
        if kill:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        t_end = time.monotonic() + 5.0
        while True:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                return status
            if time.monotonic() > t_end:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
                _, status = os.waitpid(pid, 0)
                return status
            time.sleep(0.002)

    def start(self, task: _Task) -> dict[str, Any] | None:
        """Hand ``task`` to the worker; returns an error record at once if it cannot even be sent."""
        try:
            data = _dumps(task)
        except Exception as e:
            return _error_record(f"{type(e).__name__}: {e}", "the claim cannot be sent to a worker")
        self.started_at = _now()
        for _attempt in range(2):
            if self.pid is None:
                self._spawn()
            assert self.conn is not None
            try:
                self.conn.send_bytes(data)
                break
            except OSError:  # the idle worker died; replace it once
                self._reap(kill=True)
        else:
            return _error_record("OSError: no worker process could be started", "worker start failed")
        self.task = task
        self.t_start = time.perf_counter()
        self.deadline = time.monotonic() + task.wall_limit
        return None

    def collect(self) -> dict[str, Any]:
        """The record of the running task (call when :attr:`conn` is readable)."""
        assert self.conn is not None and self.task is not None
        try:
            rec: dict[str, Any] = json.loads(self.conn.recv_bytes().decode("utf-8"))
        except (EOFError, OSError, ValueError, UnicodeDecodeError):
            status = self._reap(kill=False)
            msg = _describe_exit(status)
            rec = _error_record(msg, "the worker process crashed")
        else:
            if rec["status"] == BatchStatus.ERROR.value:
                self._reap(kill=False)  # the worker exits after an error; replace it
        return self._finish(rec)

    def expire(self) -> dict[str, Any] | None:
        """Kill the worker if its task is past the deadline; then return the ``timeout`` record."""
        if self.task is None or time.monotonic() < self.deadline:
            return None
        self._reap(kill=True)
        rec = _error_record(
            f"wall-clock limit of {self.task.wall_limit:g} s exceeded; the worker was killed",
            "timed out", BatchStatus.TIMEOUT,
        )
        return self._finish(rec)

    def _finish(self, rec: dict[str, Any]) -> dict[str, Any]:
        rec["wall_time_s"] = time.perf_counter() - self.t_start
        rec["started_at"] = self.started_at
        rec["finished_at"] = _now()
        self.task = None
        self.deadline = math.inf
        return rec

    def run(self, task: _Task) -> dict[str, Any]:
        """Run ``task`` to its record, blocking."""
        t_start, started = time.perf_counter(), _now()
        early = self.start(task)
        if early is not None:
            early.update(wall_time_s=time.perf_counter() - t_start, started_at=started, finished_at=_now())
            return early
        assert self.conn is not None
        while True:
            if wait([self.conn], timeout=max(0.0, self.deadline - time.monotonic())):
                return self.collect()
            rec = self.expire()
            if rec is not None:
                return rec

    def close(self) -> None:
        self._reap(kill=self.busy)
        self.task = None

    def __del__(self) -> None:  # e.g. the thread-local worker of an executor thread that ended
        with contextlib.suppress(Exception):
            self.close()


_LOCAL = threading.local()


def run_task(task: _Task) -> dict[str, Any]:
    """Settle one claim where this function is called (an executor's worker); returns its record.

    With ``isolate`` (the default of :func:`certify_many`) the claim runs in a persistent worker process
    owned by the calling thread, under its memory and wall-clock limits; otherwise in this process with its
    memory limit.  Never raises for a failure of the claim itself.
    """
    solver = str(task.certify_kwargs.get("solver", "clarabel"))
    _preload(solver)
    if task.isolate and hasattr(os, "fork"):
        sandbox = getattr(_LOCAL, "sandbox", None)
        if sandbox is None:
            sandbox = _LOCAL.sandbox = _Sandbox()
        return sandbox.run(task)
    return _run_in_process(task)


def _run_in_process(task: _Task) -> dict[str, Any]:
    t0, started = time.perf_counter(), _now()
    old = None
    try:
        import resource

        old = resource.getrlimit(resource.RLIMIT_AS)
        _limit_memory(task.memory_limit)
    except ImportError:
        pass
    try:
        rec = _execute(task)
    finally:
        if old is not None:
            import resource

            resource.setrlimit(resource.RLIMIT_AS, old)
    rec.update(wall_time_s=time.perf_counter() - t0, started_at=started, finished_at=_now())
    return rec


# --------------------------------------------------------------------------------------------
# progress and summary
# --------------------------------------------------------------------------------------------

_COUNTED = ("certified", "falsified", "unknown", "error", "timeout")


class _Progress:
    """A rich progress bar on a terminal (counts per status and ETA); silent otherwise."""

    def __init__(self, total: int, done: Mapping[str, int], enabled: bool | None) -> None:
        self.counts = {s: int(done.get(s, 0)) for s in _COUNTED}
        self.bar: Any = None
        self._last = 0.0
        if enabled is None:
            enabled = sys.stderr.isatty()
        if not enabled:
            return
        try:
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )
        except ImportError:
            return
        self.bar = Progress(
            TextColumn("[bold]batch"), BarColumn(), MofNCompleteColumn(),
            TextColumn("{task.fields[counts]}"), TimeElapsedColumn(), TextColumn("ETA"),
            TimeRemainingColumn(), console=Console(stderr=True), auto_refresh=False,
        )
        self.bar.start()
        self.task_id = self.bar.add_task("batch", total=total, completed=sum(self.counts.values()),
                                         counts=self._text())
        self.bar.refresh()

    def _text(self) -> str:
        c = self.counts
        return (f"[green]{c['certified']} certified[/] [red]{c['falsified']} falsified[/] "
                f"[yellow]{c['unknown']} unknown[/] [magenta]{c['error'] + c['timeout']} error[/]")

    def advance(self, status: str) -> None:
        self.counts[status] = self.counts.get(status, 0) + 1
        if self.bar is not None:
            self.bar.update(self.task_id, advance=1, counts=self._text())
            self.tick(force=True)

    def tick(self, force: bool = False) -> None:
        if self.bar is not None and (force or time.monotonic() - self._last > 0.2):
            self._last = time.monotonic()
            self.bar.refresh()

    def close(self, results: Sequence[BatchResult] | None) -> None:
        if self.bar is None:
            return
        self.bar.stop()
        if results is not None:
            self.bar.console.print(summary_table(results))


def summary_table(results: Sequence[BatchResult]) -> str:
    """A plain-text table: claims per status, how many were read back from the store, and times."""
    counts = {s: 0 for s in _COUNTED}
    for r in results:
        counts[r.status.value] += 1
    resumed = sum(r.resumed for r in results)
    lines = [f"{'status':<10} {'claims':>7}", f"{'-' * 10} {'-' * 7}"]
    lines += [f"{s:<10} {counts[s]:>7}" for s in _COUNTED]
    lines.append(f"{'total':<10} {len(results):>7}" + (f"   ({resumed} from the store)" if resumed else ""))
    solve = [r.solve_time_s for r in results if r.solve_time_s is not None]
    if solve:
        lines.append(f"solve time per claim: median {statistics.median(solve):.3g} s, "
                     f"max {max(solve):.3g} s, total {sum(solve):.3g} s")
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------
# certify_many
# --------------------------------------------------------------------------------------------


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


def _is_dask_client(executor: Any) -> bool:
    return type(executor).__module__.split(".")[0] == "distributed"


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
    base = dict(schedule=schedule, solver=solver, max_level=max_level, seed=seed,
                attack_budget=attack_budget)
    if workers is not None:
        n_workers = int(workers)
    elif hasattr(os, "sched_getaffinity"):
        n_workers = len(os.sched_getaffinity(0))
    else:
        n_workers = os.cpu_count() or 1
    if n_workers < 1:
        raise InvalidValueError(f"workers = {n_workers}; give at least 1")
    if memory_limit is not None and memory_limit <= 0:
        raise InvalidValueError(f"memory_limit = {memory_limit}; give a positive number of bytes or None")
    tasks: list[_Task] = []
    for item in items:
        tl = float(item.time_limit if item.time_limit is not None else time_limit)
        if not tl > 0:
            raise InvalidValueError(f"time limit {tl} of {item.name!r} must be positive")
        sett = _settings(schedule, tl, solver, max_level, seed, attack_budget)
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
        kwargs = dict(base, time_limit=tl, rng=seed)
        kwargs.pop("seed")
        tasks.append(_Task(key=_result_key(identity, sett), name=item.name, spec=spec,
                                   deferred=deferred, certify_kwargs=kwargs, memory_limit=memory_limit,
                                   wall_limit=wl, isolate=isolate, network=network))

    own_store = not isinstance(store, ResultStore)
    db = ResultStore(store) if not isinstance(store, ResultStore) else store
    try:
        existing = db.get_many(t.key for t in tasks)
        if retry_errors:
            failed = [k for k, r in existing.items() if r["status"] in ("error", "timeout")]
            if failed:
                db.delete(failed)
                for k in failed:
                    del existing[k]
        by_key: dict[str, BatchResult] = {
            k: BatchResult._from_row(r, db, resumed=True) for k, r in existing.items()
        }
        todo: dict[str, _Task] = {}
        for t in tasks:
            if t.key not in by_key and t.key not in todo:
                todo[t.key] = t
        done_counts: dict[str, int] = {}
        for r in by_key.values():
            done_counts[r.status.value] = done_counts.get(r.status.value, 0) + 1
        bar = _Progress(len(by_key) + len(todo), done_counts, progress)
        results: list[BatchResult] | None = None
        try:
            def finish(task: _Task, rec: dict[str, Any]) -> None:
                res = _record(db, task, rec)
                by_key[task.key] = res
                bar.advance(res.status.value)

            pending = list(todo.values())
            if pending:
                if executor is None and isolate and hasattr(os, "fork"):
                    _run_local(pending, n_workers, finish, bar, solver)
                elif executor is None:
                    for t in pending:
                        finish(t, _run_in_process(t))
                else:
                    _run_executor(executor, pending, finish, bar)
            results = [by_key[t.key] for t in tasks]
        finally:
            bar.close(results)
        return results
    finally:
        if own_store:
            db.close()


def _record(db: ResultStore, task: _Task, rec: dict[str, Any]) -> BatchResult:
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
    return BatchResult._from_row(stored, db, resumed=not inserted)


def _run_local(pending: list[_Task], n_workers: int, finish: Callable[[_Task, dict[str, Any]], None],
               bar: _Progress, solver: str) -> None:
    """Drive ``n_workers`` persistent worker processes from this thread (no helper threads)."""
    _preload(solver)
    sandboxes = [_Sandbox() for _ in range(min(n_workers, len(pending)))]
    todo = list(reversed(pending))
    try:
        while todo or any(s.busy for s in sandboxes):
            for s in sandboxes:
                while not s.busy and todo:
                    task = todo.pop()
                    early = s.start(task)
                    if early is not None:
                        early.update(wall_time_s=0.0, started_at=_now(), finished_at=_now())
                        finish(task, early)
            busy = [s for s in sandboxes if s.busy]
            if not busy:
                continue
            timeout = min(0.2, max(0.0, min(s.deadline for s in busy) - time.monotonic()))
            ready = wait([s.conn for s in busy if s.conn is not None], timeout=timeout)
            finished: list[tuple[_Task, dict[str, Any]]] = []
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
                        early.update(wall_time_s=0.0, started_at=_now(), finished_at=_now())
                        finished.append((task, early))
            for task, rec in finished:
                finish(task, rec)
            bar.tick()
    finally:
        for s in sandboxes:
            s.close()


def _run_executor(executor: Any, pending: list[_Task], finish: Callable[[_Task, dict[str, Any]], None],
                  bar: _Progress) -> None:
    """Submit every task to ``executor`` and record results as they complete."""
    done: queue.Queue[tuple[_Task, Any]] = queue.Queue()
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
        t0 = _now()
        try:
            rec = fut.result()
        except BaseException as e:  # the executor lost the worker (e.g. a crash without isolation)
            if isinstance(e, KeyboardInterrupt):
                raise
            rec = _error_record(f"{type(e).__name__}: {e}", "the executor could not run the claim")
            rec.update(wall_time_s=None, started_at=t0, finished_at=_now())
        finish(task, rec)


# --------------------------------------------------------------------------------------------
# inputs: a registry of instance loaders keyed by file suffix
# --------------------------------------------------------------------------------------------

InstanceLoader = Callable[[Path], list[BatchItem]]

_LOADERS: dict[str, InstanceLoader] = {}


def register_loader(suffix: str, loader: InstanceLoader, *, replace: bool = False) -> None:
    """Make :func:`load_instances` read files ending in ``suffix`` (e.g. ``".toml"``) with ``loader``.

    ``loader(path)`` returns the :class:`BatchItem` list of that file.  An existing suffix is kept unless
    ``replace`` is true.
    """
    suffix = suffix.lower()
    if not suffix.startswith("."):
        raise InvalidValueError(f"suffix {suffix!r} must start with a dot, e.g. '.toml'")
    if suffix in _LOADERS and not replace:
        raise InvalidValueError(f"a loader for {suffix!r} is already registered; pass replace=True")
    _LOADERS[suffix] = loader


def load_instances(path: str | os.PathLike[str]) -> list[BatchItem]:
    """The batch items of a file or folder.

    * a ``.toml`` file: a claims list (``[[claims]]`` tables) or a ``PROBLEM.toml`` with a ``[claim]``;
    * a ``.csv`` file: a VNN-COMP ``instances.csv`` (rows ``onnx, vnnlib, timeout``);
    * a folder: its ``instances.csv`` if it has one, else every file with a registered suffix, sorted by
      name (items are named ``<file stem>/<claim name>`` when a file holds several claims).
    """
    p = Path(path)
    if p.is_dir():
        if (p / "instances.csv").is_file():
            return _LOADERS[".csv"](p / "instances.csv")
        files = sorted(f for f in p.iterdir() if f.is_file() and f.suffix.lower() in _LOADERS)
        if not files:
            raise ParseError(
                f"{p}: no instances found (expected instances.csv or files ending in "
                f"{', '.join(sorted(_LOADERS))})"
            )
        out: list[BatchItem] = []
        for f in files:
            items = _LOADERS[f.suffix.lower()](f)
            if len(items) == 1 and items[0].name == f.stem:
                out.extend(items)
            else:
                out.extend(BatchItem(f"{f.stem}/{it.name}", it.claim, it.time_limit) for it in items)
        return out
    if not p.exists():
        raise ParseError(f"{p}: no such file or folder")
    loader = _LOADERS.get(p.suffix.lower())
    if loader is None:
        raise ParseError(
            f"{p}: unknown instance type {p.suffix!r}; known: {', '.join(sorted(_LOADERS))} "
            "(or a folder of them)"
        )
    return loader(p)


_CLAIM_KEYS = {"name", "statement", "subject_to", "variables", "bounds", "time_limit"}


def _load_toml(path: Path) -> list[BatchItem]:
    """A ``[[claims]]`` list, or a ``PROBLEM.toml`` with a ``[claim]`` section."""
    from sosrelax.problemfile import _bounds, _constraints, parse_relation, read_problem_file

    try:
        with open(path, "rb") as fh:
            data = tomllib.load(fh)
    except tomllib.TOMLDecodeError as e:
        raise ParseError(f"{path}: invalid TOML: {e}") from e
    if "problem" in data:
        pf = read_problem_file(path)
        if pf.claim is None:
            raise ParseError(f"{path}: no [claim] section; add statement = \"f(x) <= t\" under [claim]")
        tl = pf.relaxation.get("time_limit")
        return [BatchItem(path.stem, pf.claim, None if tl is None else float(tl))]
    if set(data) - {"claims", "defaults"} or not isinstance(data.get("claims"), list):
        raise ParseError(
            f"{path}: expected [[claims]] tables (name, statement, subject_to, variables) or a "
            "PROBLEM.toml with [problem] and [claim]"
        )
    defaults = data.get("defaults", {})
    if not isinstance(defaults, dict) or set(defaults) - (_CLAIM_KEYS - {"name", "statement"}):
        raise ParseError(f"{path}: [defaults] may set {sorted(_CLAIM_KEYS - {'name', 'statement'})}")
    out: list[BatchItem] = []
    seen: set[str] = set()
    for i, entry in enumerate(data["claims"]):
        where = f"{path}: claims[{i}]"
        if not isinstance(entry, dict):
            raise ParseError(f"{where} must be a table")
        unknown = set(entry) - _CLAIM_KEYS
        if unknown:
            raise ParseError(f"{where}: unknown key(s) {sorted(unknown)}; expected {sorted(_CLAIM_KEYS)}")
        t = {**defaults, **entry}
        name = str(t.get("name", f"claim-{i}"))
        if name in seen:
            raise ParseError(f"{where}: the name {name!r} is used twice")
        seen.add(name)
        variables = t.get("variables")
        if variables is not None and (not isinstance(variables, list)
                                      or not all(isinstance(v, str) for v in variables)):
            raise ParseError(f"{where}: variables must be a list of names, e.g. [\"x\", \"y\"]")
        if not isinstance(t.get("statement"), str):
            raise ParseError(f"{where}: needs statement = \"f(x) <= t\"")
        statement = parse_relation(t["statement"], variables, f"{where}.statement")
        cons = _constraints(str(path), f"claims[{i}].subject_to", t.get("subject_to", []), variables)
        bounds = _bounds(str(path), t.get("bounds"))
        tl = t.get("time_limit")
        if tl is not None and (not isinstance(tl, (int, float)) or isinstance(tl, bool) or tl <= 0):
            raise ParseError(f"{where}: time_limit must be a positive number of seconds")
        claim = Claim(statement, subject_to=cons, bounds=bounds, variables=variables)
        out.append(BatchItem(name, claim, None if tl is None else float(tl)))
    return out


def _nn_claims_function() -> Callable[[str, str], list[Claim]] | None:
    """The network module's claim builder, or ``None`` when it verifies instances itself (``nn.verify``)."""
    import importlib

    try:
        nn = importlib.import_module("sosrelax.nn")
    except ImportError as e:
        raise BackendNotAvailableError(
            "VNN-COMP instances need sosrelax.nn (neural-network encoding), which this installation does "
            "not have; install a sosrelax with neural-network support"
        ) from e
    if hasattr(nn, "verify") and hasattr(nn, "load_onnx"):
        return None
    fn = getattr(nn, "vnnlib_claims", None)
    if fn is None:
        raise BackendNotAvailableError(
            "sosrelax.nn has no vnnlib_claims(onnx_path, vnnlib_path) -> list[Claim]; "
            "update sosrelax"
        )
    return fn


def _load_vnncomp_csv(path: Path) -> list[BatchItem]:
    """A VNN-COMP ``instances.csv``: ``onnx, vnnlib, timeout`` per row, paths relative to the file."""
    import csv

    rows: list[tuple[Path, Path, float]] = []
    with open(path, newline="") as fh:
        for lineno, row in enumerate(csv.reader(fh), start=1):
            if not row or all(not c.strip() for c in row):
                continue
            if len(row) != 3:
                raise ParseError(f"{path}:{lineno}: expected 3 columns onnx,vnnlib,timeout, got {len(row)}")
            onnx, vnnlib, timeout = (c.strip() for c in row)
            try:
                tl = float(timeout)
            except ValueError as e:
                if lineno == 1:  # a header row
                    continue
                raise ParseError(f"{path}:{lineno}: timeout {timeout!r} is not a number") from e
            if not tl > 0:
                raise ParseError(f"{path}:{lineno}: timeout {timeout!r} must be positive")
            rows.append((path.parent / onnx, path.parent / vnnlib, tl))
    claims_of = _nn_claims_function()
    out: list[BatchItem] = []
    for onnx_path, vnnlib_path, tl in rows:
        base = f"{_stem(onnx_path)}/{_stem(vnnlib_path)}"
        if claims_of is None:  # the network module verifies instances itself
            out.append(BatchItem(base, NetworkInstance(str(onnx_path), str(vnnlib_path)), tl))
            continue
        claims = claims_of(str(onnx_path), str(vnnlib_path))
        for k, c in enumerate(claims):
            out.append(BatchItem(base if len(claims) == 1 else f"{base}#{k}", c, tl))
    return out


def _stem(p: Path) -> str:
    name = p.name
    for suf in (".gz", ".onnx", ".vnnlib"):
        if name.endswith(suf):
            name = name[: -len(suf)]
    return name


register_loader(".toml", _load_toml)
register_loader(".csv", _load_vnncomp_csv)


# --------------------------------------------------------------------------------------------
# small helpers
# --------------------------------------------------------------------------------------------

_UNITS = {"": 1, "K": 2**10, "M": 2**20, "G": 2**30, "T": 2**40}


def parse_size(text: str) -> int:
    """Bytes from ``"512M"``, ``"4G"``, ``"4GiB"``, ``"1073741824"`` (binary units)."""
    s = text.strip().upper().removesuffix("IB").removesuffix("B")
    unit = s[-1:] if s[-1:] in _UNITS and s[-1:] != "" else ""
    num = s[: len(s) - len(unit)] if unit else s
    try:
        value = float(num)
    except ValueError as e:
        raise InvalidValueError(f"memory size {text!r} is not understood; write e.g. 512M or 4G") from e
    if not value > 0 or not math.isfinite(value):
        raise InvalidValueError(f"memory size {text!r} must be positive")
    return int(value * _UNITS[unit])


def _fmt_size(n: int) -> str:
    for unit in ("T", "G", "M", "K"):
        if n >= _UNITS[unit] and n % _UNITS[unit] == 0:
            return f"{n // _UNITS[unit]} {unit}iB"
    return f"{n} bytes"


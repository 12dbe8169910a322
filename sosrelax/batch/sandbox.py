"""Where one claim runs: the worker process, its limits and the sandbox that owns it.

A :class:`Sandbox` is one persistent worker process forked from the caller; it runs one :class:`~sosrelax.batch.claims.Task`
at a time under an address-space limit (``RLIMIT_AS``) and a wall-clock deadline, and a worker that crashes,
runs out of memory or hangs is killed, recorded as ``error`` / ``timeout`` and replaced.  :func:`run_task` is
what an executor's worker calls; :func:`run_in_process` runs a claim without isolation.  Records are plain
JSON-able dicts (status, bound, certificate text, ...) that the runner stores.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import signal
import socket
import sys
import threading
import time
from datetime import UTC, datetime
from multiprocessing.connection import Connection, wait
from typing import Any

from sosrelax.batch.claims import BatchStatus, Task
from sosrelax.errors import InvalidValueError

__all__ = ["Sandbox", "error_record", "format_size", "now_iso", "parse_size", "preload", "run_in_process", "run_task"]


def now_iso() -> str:
    """The current UTC time, ISO 8601 with milliseconds (the store's time stamps)."""
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def error_record(error: str, message: str, status: BatchStatus = BatchStatus.ERROR) -> dict[str, Any]:
    """The record of a claim that reached no verdict (``error`` or ``timeout``)."""
    return {"status": status.value, "bound": None, "attack_value": None, "counterexample": None,
            "certificate": None, "message": message, "error": error, "solve_time_s": None, "log": None}


def _finite_or_none(v: Any) -> float | None:
    return None if v is None else float(v)


def _execute(task: Task) -> dict[str, Any]:
    """Settle one claim in this process; never raises (an exception becomes an ``error`` record)."""
    from sosrelax.certify import certify

    t0 = time.perf_counter()
    if task.network is not None:
        return _execute_network(task, t0)
    try:
        claim = task.build_claim()
        v = certify(claim, **task.certify_kwargs, progress=False)
    except MemoryError:
        lim = "" if task.memory_limit is None else f" of {format_size(task.memory_limit)}"
        return error_record(f"MemoryError: the claim exceeded its memory limit{lim}",
                             "out of memory")
    except Exception as e:  # any failure of one claim is that claim's result, not the batch's
        return error_record(f"{type(e).__name__}: {e}", "the claim could not be run")
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


def _execute_network(task: Task, t0: float) -> dict[str, Any]:
    """Verify a network instance with :func:`sosrelax.nn.verify`; never raises."""
    assert task.network is not None
    try:
        import importlib

        from sosrelax import nn

        verify = importlib.import_module("sosrelax.nn.verify").verify  # the function, not the module
        net, prop = nn.vnnlib_claims(task.network.onnx_path, task.network.vnnlib_path)
        if task.network.envelope_path:
            return _latent_record(net, prop, task, t0)
        res = verify(net, prop, onnx_path=task.network.onnx_path,
                        timeout=float(task.certify_kwargs["time_limit"]),
                        rng=task.certify_kwargs.get("rng", 0))
    except MemoryError:
        return error_record("MemoryError: the instance exceeded its memory limit", "out of memory")
    except Exception as e:  # any failure of one instance is that instance's result
        return error_record(f"{type(e).__name__}: {e}", "the instance could not be run")
    verdict, status, cert_text = _verdict_and_proof(res)
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


def _verdict_and_proof(res: Any) -> tuple[str, str, str | None]:
    """The verifier's verdict, the batch status it means, and for *certified* the checked proof's text:
    the search's proof tree, or the exact rungs' certificate(s) (a JSON list when there are several:
    one per piece of the property)."""
    verdict = getattr(res.status, "value", str(res.status))
    status = {"unsat": "certified", "sat": "falsified", "timeout": "timeout"}.get(verdict, "unknown")
    if status != "certified":
        return verdict, status, None
    proof = getattr(res, "proof", None)
    certs = list(res.certificates)
    if proof is not None:
        return verdict, status, str(proof.to_json())
    if len(certs) == 1:
        return verdict, status, str(certs[0].to_json().decode("utf-8"))
    if certs:
        return verdict, status, "[" + ",".join(c.to_json().decode("utf-8").strip() for c in certs) + "]\n"
    return verdict, status, None


def _latent_record(net: Any, prop: Any, task: Task, t0: float) -> dict[str, Any]:
    """A latent claim (the instance's envelope file) decided by ``verify_latent``: *certified* with the
    checked proof tree (or certificates), *falsified* with the exactly checked latent witness."""
    from sosrelax.nn.latent import load_envelope, verify_latent

    assert task.network is not None and task.network.envelope_path is not None
    env = load_envelope(task.network.envelope_path)
    res = verify_latent(net, prop, env, timeout=float(task.certify_kwargs["time_limit"]),
                        rng=task.certify_kwargs.get("rng", 0))
    verdict, status, cert_text = _verdict_and_proof(res)
    cx = res.witness.as_dict() if status == "falsified" and res.witness is not None else None
    return {"status": status, "bound": None, "attack_value": None, "counterexample": cx,
            "certificate": cert_text, "message": f"latent {verdict}: {res.message}", "error": None,
            "solve_time_s": time.perf_counter() - t0, "log": []}


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


def preload(solver: str) -> None:
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
        task: Task = pickle.loads(data)
        try:
            _limit_memory(task.memory_limit)
            rec = _execute(task)
        except MemoryError:
            rec = error_record("MemoryError: out of memory while starting the claim", "out of memory")
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


class Sandbox:
    """One persistent worker process, forked from this one, that runs one task at a time.

    ``start`` hands it a task with a wall-clock deadline; once :attr:`conn` is readable, ``collect`` returns
    the record; ``expire`` kills a worker past its deadline.  A worker that fails is replaced lazily.
    """

    def __init__(self) -> None:
        self.pid: int | None = None
        self.conn: Connection | None = None
        self.task: Task | None = None
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

    def start(self, task: Task) -> dict[str, Any] | None:
        """Hand ``task`` to the worker; returns an error record at once if it cannot even be sent."""
        try:
            data = _dumps(task)
        except Exception as e:
            return error_record(f"{type(e).__name__}: {e}", "the claim cannot be sent to a worker")
        self.started_at = now_iso()
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
            return error_record("OSError: no worker process could be started", "worker start failed")
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
            rec = error_record(msg, "the worker process crashed")
        else:
            if rec["status"] == BatchStatus.ERROR.value:
                self._reap(kill=False)  # the worker exits after an error; replace it
        return self._finish(rec)

    def expire(self) -> dict[str, Any] | None:
        """Kill the worker if its task is past the deadline; then return the ``timeout`` record."""
        if self.task is None or time.monotonic() < self.deadline:
            return None
        self._reap(kill=True)
        rec = error_record(
            f"wall-clock limit of {self.task.wall_limit:g} s exceeded; the worker was killed",
            "timed out", BatchStatus.TIMEOUT,
        )
        return self._finish(rec)

    def _finish(self, rec: dict[str, Any]) -> dict[str, Any]:
        rec["wall_time_s"] = time.perf_counter() - self.t_start
        rec["started_at"] = self.started_at
        rec["finished_at"] = now_iso()
        self.task = None
        self.deadline = math.inf
        return rec

    def run(self, task: Task) -> dict[str, Any]:
        """Run ``task`` to its record, blocking."""
        t_start, started = time.perf_counter(), now_iso()
        early = self.start(task)
        if early is not None:
            early.update(wall_time_s=time.perf_counter() - t_start, started_at=started, finished_at=now_iso())
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


def run_task(task: Task) -> dict[str, Any]:
    """Settle one claim where this function is called (an executor's worker); returns its record.

    With ``isolate`` (the default of :func:`certify_many`) the claim runs in a persistent worker process
    owned by the calling thread, under its memory and wall-clock limits; otherwise in this process with its
    memory limit.  Never raises for a failure of the claim itself.
    """
    solver = str(task.certify_kwargs.get("solver", "clarabel"))
    preload(solver)
    if task.isolate and hasattr(os, "fork"):
        sandbox = getattr(_LOCAL, "sandbox", None)
        if sandbox is None:
            sandbox = _LOCAL.sandbox = Sandbox()
        return sandbox.run(task)
    return run_in_process(task)


def run_in_process(task: Task) -> dict[str, Any]:
    """Settle one claim in this process under its memory limit (restored afterwards); never raises."""
    t0, started = time.perf_counter(), now_iso()
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
    rec.update(wall_time_s=time.perf_counter() - t0, started_at=started, finished_at=now_iso())
    return rec


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


def format_size(n: int) -> str:
    """``n`` bytes in the largest binary unit that divides it (``"4 GiB"``)."""
    for unit in ("T", "G", "M", "K"):
        if n >= _UNITS[unit] and n % _UNITS[unit] == 0:
            return f"{n // _UNITS[unit]} {unit}iB"
    return f"{n} bytes"

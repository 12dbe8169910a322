"""Our own first-order conic solvers, on numpy (CPU) or cupy (GPU): backend ``"firstorder"``.

Two methods, written once against an array namespace (see :mod:`._xp`):

``"pdhg"``
    Restarted Halpern PDHG with reflection, Ruiz + Pock–Chambolle preconditioning and an
    adaptive primal weight (:mod:`.pdhg`); any program, matrix-free (products with ``A``, ``Aᵀ``
    and cone projections only).
``"admm"``
    ADMM on the SOS (dual) side, ``min bᵀz s.t. Aᵀz = −c, z ∈ K*`` (:mod:`.admm`), whose linear
    step solves with ``AᵀA``.  For moment relaxations ``AᵀA`` is diagonal plus the contribution of
    the localizing rows ("partial orthogonality"): the step is a diagonal scaling, or a diagonal
    plus a small dense correction.
``"auto"``
    ADMM when ``AᵀA`` is diagonal, diagonal plus low rank, or small; PDHG otherwise.

Options (``options=`` of :func:`sosrelax.solvers.solve_conic`): ``device`` (``"cpu"``, ``"gpu"``,
``"auto"``), ``method``, ``max_iters``, ``check_every``, ``infeasibility_tolerance``,
``ruiz_iterations``, ``bucket_ratio``, ``blas_threads`` and the method options of :class:`.pdhg.PdhgOptions` and
:class:`.admm.AdmmOptions`.

The answers have moderate accuracy (``tolerance`` 1e-6 by default, rechecked at 10×).  That is
enough: the certificate pipeline turns a near-feasible dual ``z`` (returned with its
residuals) into a rigorous, slightly weaker bound.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any

from sosrelax.conic import ConeKind, ConicProgram, ConicSolution
from sosrelax.errors import InvalidValueError
from sosrelax.solvers._validate import checked_solution, error_solution
from sosrelax.solvers.firstorder._xp import cuda_available, limited_blas_threads, select_backend
from sosrelax.solvers.firstorder.admm import AdmmOptions, GramSolver, solve_admm
from sosrelax.solvers.firstorder.pdhg import PdhgOptions, solve_pdhg
from sosrelax.solvers.firstorder.precondition import scale_program
from sosrelax.solvers.firstorder.termination import Outcome, Settings

__all__ = [
    "CHECK_FACTOR",
    "DEFAULT_TOLERANCE",
    "METHODS",
    "NAME",
    "SUPPORTED_CONES",
    "choose_method",
    "cuda_available",
    "is_available",
    "solve",
    "unavailable_reason",
]

NAME = "firstorder"
SUPPORTED_CONES = frozenset({ConeKind.ZERO, ConeKind.NONNEG, ConeKind.SOC, ConeKind.PSD})
PSD_VECTORISATION = "upper triangle, column-major, off-diagonal × √2 (same as sosrelax)"
DEFAULT_TOLERANCE = 1e-6
#: our recheck tolerance is this factor times the tolerance (1e-5 at the default 1e-6)
CHECK_FACTOR = 10.0
METHODS = ("pdhg", "admm", "auto")
#: on the CPU, PSD blocks up to this order are diagonalised with a single BLAS thread
BLAS_SINGLE_THREAD_ORDER = 400

_PDHG_KEYS = {f.name for f in dataclasses.fields(PdhgOptions)}
_ADMM_KEYS = {f.name for f in dataclasses.fields(AdmmOptions)}
_COMMON_KEYS = {"device", "method", "max_iters", "check_every", "infeasibility_tolerance",
                "ruiz_iterations", "bucket_ratio", "blas_threads"}


def is_available() -> bool:
    """Always true: the CPU path needs only numpy and scipy."""
    return True


def unavailable_reason() -> str:
    return "the first-order backend needs only numpy and scipy, which are installed"


def choose_method(prog: ConicProgram) -> str:
    """``"admm"`` when its linear step is cheap (see :class:`.admm.GramSolver`), else ``"pdhg"``."""
    return "admm" if GramSolver.kind_for(prog.A) in ("diagonal", "woodbury", "small") else "pdhg"


def solve(
    prog: ConicProgram,
    *,
    time_limit: float | None = None,
    tolerance: float | None = None,
    verbose: bool = False,
    options: dict[str, Any] | None = None,
) -> ConicSolution:
    """Solve ``prog`` with PDHG or ADMM; see :func:`sosrelax.solvers.solve_conic` and the module doc.

    Raises
    ------
    InvalidValueError
        Unknown option names or values.
    BackendNotAvailableError
        ``device="gpu"`` without cupy and CUDA.
    """
    opts = dict(options or {})
    unknown = set(opts) - _COMMON_KEYS - _PDHG_KEYS - _ADMM_KEYS
    if unknown:
        raise InvalidValueError(
            f"unknown firstorder options {sorted(unknown)}; known: "
            f"{sorted(_COMMON_KEYS | _PDHG_KEYS | _ADMM_KEYS)}"
        )
    method = str(opts.pop("method", "auto")).lower()
    if method not in METHODS:
        raise InvalidValueError(f"method must be one of {', '.join(METHODS)}, got {method!r}")
    backend = select_backend(str(opts.pop("device", "cpu")))
    tol = DEFAULT_TOLERANCE if tolerance is None else float(tolerance)
    settings = Settings(
        tolerance=tol,
        infeasibility_tolerance=float(opts.pop("infeasibility_tolerance", tol * 0.1)),
        max_iters=int(opts.pop("max_iters", 100_000)),
        time_limit=time_limit,
        check_every=int(opts.pop("check_every", 64)),
        verbose=bool(verbose),
    )
    ruiz = int(opts.pop("ruiz_iterations", 10))
    bucket_ratio = opts.pop("bucket_ratio", None)
    if method == "auto":
        method = choose_method(prog)
    #: small PSD blocks: one BLAS thread per eigh is faster (and robust to a loaded machine)
    largest = max((k.dim for k in prog.cones if k.kind is ConeKind.PSD), default=0)
    threads = opts.pop("blas_threads", 1 if largest <= BLAS_SINGLE_THREAD_ORDER else None)
    t0 = time.perf_counter()
    try:
        sp = scale_program(prog, backend, ruiz_iterations=ruiz, bucket_ratio=bucket_ratio)
        if method == "pdhg":
            pdhg_opts = PdhgOptions(**{k: v for k, v in opts.items() if k in _PDHG_KEYS})
            setup = time.perf_counter() - t0
            t1 = time.perf_counter()
            with limited_blas_threads(None if backend.is_gpu else threads):
                out: Outcome = solve_pdhg(sp, settings, pdhg_opts)
        else:
            admm_opts = AdmmOptions(**{k: v for k, v in opts.items() if k in _ADMM_KEYS})
            gram = GramSolver.build(sp, admm_opts)
            setup = time.perf_counter() - t0
            t1 = time.perf_counter()
            with limited_blas_threads(None if backend.is_gpu else threads):
                out = solve_admm(sp, settings, gram, admm_opts)
        backend.synchronize()
    except (MemoryError, ArithmeticError, ValueError, RuntimeError) as e:
        # a crash inside the iteration is an outcome; bad options were rejected above
        return error_solution(prog, NAME, e, setup_time=time.perf_counter() - t0)
    solve_time = time.perf_counter() - t1
    note = f"{out.message} on {backend.device}"
    return checked_solution(
        prog,
        claimed=out.status,
        x=out.x,
        s=out.s,
        z=out.z,
        solver=NAME,
        solver_status=f"{method}:{out.solver_status}",
        iterations=out.iterations,
        solve_time=solve_time,
        setup_time=setup,
        tol=CHECK_FACTOR * tol,
        note=note,
    )

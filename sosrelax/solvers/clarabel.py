"""Clarabel backend (the embedded default; interior point, no licence).

Clarabel's standard form is ours verbatim, PSD cones included (``PSDTriangleConeT`` is the
scaled upper triangle stacked by columns), so the conversion only builds the cone objects.
"""

from __future__ import annotations

import math
import time
from typing import Any

import numpy as np
import scipy.sparse as sp

from sosrelax.conic import ConeKind, ConicProgram, ConicSolution, SolverStatus
from sosrelax.solvers._validate import checked_solution, error_solution

NAME = "clarabel"
SUPPORTED_CONES = frozenset({ConeKind.ZERO, ConeKind.NONNEG, ConeKind.SOC, ConeKind.PSD})
PSD_VECTORISATION = "upper triangle, column-major, off-diagonal × √2 (same as sosrelax)"
DEFAULT_TOLERANCE = 1e-8
#: our recheck tolerance is this factor times the solver tolerance (1e-6 at the default 1e-8)
CHECK_FACTOR = 100.0

_STATUS = {
    "Solved": SolverStatus.OPTIMAL,
    "PrimalInfeasible": SolverStatus.INFEASIBLE,
    "DualInfeasible": SolverStatus.UNBOUNDED,
    "AlmostSolved": SolverStatus.INACCURATE,
    "AlmostPrimalInfeasible": SolverStatus.INACCURATE,
    "AlmostDualInfeasible": SolverStatus.INACCURATE,
    "MaxIterations": SolverStatus.ITERATION_LIMIT,
    "MaxTime": SolverStatus.TIME_LIMIT,
    "NumericalError": SolverStatus.INACCURATE,
    "InsufficientProgress": SolverStatus.INACCURATE,
    "Unsolved": SolverStatus.ERROR,
    "CallbackTerminated": SolverStatus.ERROR,
}

_NEAR = {
    "AlmostPrimalInfeasible": SolverStatus.INFEASIBLE,
    "AlmostDualInfeasible": SolverStatus.UNBOUNDED,
}


def is_available() -> bool:
    """True when the ``clarabel`` package imports."""
    try:
        import clarabel  # noqa: F401
    except ImportError:
        return False
    return True


def unavailable_reason() -> str:
    return "the clarabel package is not installed; install it with `pip install clarabel`"


def _cones(prog: ConicProgram) -> list[Any]:
    import clarabel

    out: list[Any] = []
    for k in prog.cones:
        if k.size == 0:
            continue
        if k.kind is ConeKind.ZERO:
            out.append(clarabel.ZeroConeT(k.dim))
        elif k.kind is ConeKind.NONNEG:
            out.append(clarabel.NonnegativeConeT(k.dim))
        elif k.kind is ConeKind.SOC:
            out.append(clarabel.SecondOrderConeT(k.dim))
        else:
            out.append(clarabel.PSDTriangleConeT(k.dim))
    return out


def solve(
    prog: ConicProgram,
    *,
    time_limit: float | None = None,
    tolerance: float | None = None,
    verbose: bool = False,
    options: dict[str, Any] | None = None,
) -> ConicSolution:
    """Solve ``prog`` with Clarabel; see :func:`sosrelax.solvers.solve_conic`.

    ``tolerance`` sets ``tol_gap_abs``, ``tol_gap_rel``, ``tol_feas``, ``tol_infeas_abs`` and
    ``tol_infeas_rel``; ``options`` are set verbatim on ``clarabel.DefaultSettings``.
    """
    import clarabel

    tol = DEFAULT_TOLERANCE if tolerance is None else float(tolerance)
    t0 = time.perf_counter()
    try:
        settings = clarabel.DefaultSettings()
        settings.verbose = bool(verbose)
        if time_limit is not None:
            settings.time_limit = float(time_limit)
        if tolerance is not None:
            for key in (
                "tol_gap_abs",
                "tol_gap_rel",
                "tol_feas",
                "tol_infeas_abs",
                "tol_infeas_rel",
            ):
                setattr(settings, key, tol)
        for key, value in (options or {}).items():
            setattr(settings, key, value)
        n = prog.nvar
        P = sp.csc_matrix((n, n), dtype=np.float64)
        solver = clarabel.DefaultSolver(P, prog.c, prog.A, prog.b, _cones(prog), settings)
    except Exception as e:  # noqa: BLE001 - a crash in the solver is an outcome, not our error
        return error_solution(prog, NAME, e, setup_time=time.perf_counter() - t0)
    except BaseException as e:
        if not _is_panic(e):
            raise
        return error_solution(prog, NAME, e, setup_time=time.perf_counter() - t0)
    setup = time.perf_counter() - t0
    t1 = time.perf_counter()
    try:
        sol = solver.solve()
    except Exception as e:  # noqa: BLE001
        return error_solution(prog, NAME, e, setup_time=setup, solve_time=time.perf_counter() - t1)
    except BaseException as e:
        if not _is_panic(e):
            raise
        return error_solution(prog, NAME, e, setup_time=setup, solve_time=time.perf_counter() - t1)
    wall = time.perf_counter() - t1
    raw = str(sol.status)
    claimed = _STATUS.get(raw, SolverStatus.ERROR)
    solve_time = float(sol.solve_time) if math.isfinite(float(sol.solve_time)) else wall
    return checked_solution(
        prog,
        claimed=claimed,
        x=sol.x,
        s=sol.s,
        z=sol.z,
        solver=NAME,
        solver_status=raw,
        iterations=int(sol.iterations),
        solve_time=solve_time,
        setup_time=setup,
        tol=CHECK_FACTOR * tol,
        near=_NEAR.get(raw),
    )


def _is_panic(e: BaseException) -> bool:
    """A panic inside the Rust solver: pyo3 raises it as ``PanicException``, which derives from
    ``BaseException`` (so that ``except Exception`` does not swallow it).  It is a solver failure, an
    outcome like any other; interrupts and exits are not."""
    return type(e).__name__ == "PanicException"

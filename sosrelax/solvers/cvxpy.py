"""cvxpy pass-through backend: ``solver="cvxpy:NAME"`` for any conic solver cvxpy has.

The program is rebuilt in cvxpy with one vector variable ``x`` and one constraint per cone on
the slack ``s = b − A x``: ``s == 0``, ``s >= 0``, ``SOC(s₀, s₁:)`` or ``smat(s) ⪰ 0``.  cvxpy's
multipliers of the cone constraints enter its Lagrangian as ``cᵀx − ⟨λ, s⟩``, so they are our
``z`` directly (``svec`` of the matrix multiplier for PSD cones), while the multiplier of an
equality enters with a plus sign and is negated; the recheck confirms
``Aᵀz + c = 0``.  cvxpy returns no certificates of infeasibility, so INFEASIBLE and UNBOUNDED
from this backend carry no vectors and are reported as unchecked.
"""

from __future__ import annotations

import math
import time
import warnings
from typing import Any

import numpy as np
import scipy.sparse as sp

from sosrelax.conic import (
    Cone,
    ConeKind,
    ConicProgram,
    ConicSolution,
    SolverStatus,
    svec,
    svec_indices,
)
from sosrelax.errors import BackendNotAvailableError
from sosrelax.solvers._validate import checked_solution, error_solution

NAME = "cvxpy"
PSD_VECTORISATION = "full symmetric matrix built from svec (cvxpy chooses the solver's own)"
#: recheck tolerance: factor × the requested tolerance, or a default, per solver; first-order
#: solvers (cvxpy runs SCS at eps 1e-5) are checked more loosely than interior-point ones
CHECK_FACTOR = {"SCS": 10.0}
DEFAULT_CHECK_TOL = {"SCS": 1e-4}
_CHECK_FACTOR_IP = 100.0
_DEFAULT_CHECK_TOL_IP = 1e-6

_CONSTRAINT_NAMES = {
    ConeKind.ZERO: ("Zero",),
    ConeKind.NONNEG: ("NonNeg", "NonPos"),
    ConeKind.SOC: ("SOC",),
    ConeKind.PSD: ("PSD", "SvecPSD"),
}

#: cvxpy setting names for the common tolerance, by solver
_TOLERANCE_KEYS = {
    "CLARABEL": ("tol_gap_abs", "tol_gap_rel", "tol_feas"),
    "SCS": ("eps_abs", "eps_rel"),
    "ECOS": ("abstol", "reltol", "feastol"),
    "MOSEK": (),
}
_TIME_KEYS = {"CLARABEL": "time_limit", "SCS": "time_limit_secs"}


def is_available() -> bool:
    """True when cvxpy imports."""
    try:
        import cvxpy  # noqa: F401
    except ImportError:
        return False
    return True


def unavailable_reason() -> str:
    return "cvxpy is not installed; install it with `pip install cvxpy`"


def installed_conic_solvers(*, with_duals: bool = True) -> tuple[str, ...]:
    """cvxpy's installed conic solvers (empty when cvxpy is missing).

    With ``with_duals`` (the default) the mixed-integer-only interfaces (``GLPK_MI`` and the
    like), which return no multipliers and so can never pass the optimality recheck, are left
    out; they can still be named explicitly.
    """
    try:
        from cvxpy.reductions.solvers.defines import INSTALLED_CONIC_SOLVERS
    except ImportError:
        return ()
    names = tuple(INSTALLED_CONIC_SOLVERS)
    return tuple(n for n in names if not n.endswith("_MI")) if with_duals else names


def supported_cones(name: str) -> frozenset[ConeKind]:
    """The cones that cvxpy's solver ``name`` accepts natively."""
    from cvxpy.reductions.solvers.defines import SOLVER_MAP_CONIC

    cls = SOLVER_MAP_CONIC.get(name.upper())
    if cls is None:
        return frozenset()
    have = {c.__name__ for c in cls.SUPPORTED_CONSTRAINTS}
    return frozenset(k for k, names in _CONSTRAINT_NAMES.items() if have & set(names))


def _svec_to_vec_matrix(n: int) -> sp.csr_matrix:
    """Sparse ``M`` with ``M @ svec(X) = vec(X)`` (column-major) for symmetric ``X``."""
    rows, cols = svec_indices(n)
    w = np.where(rows == cols, 1.0, 1.0 / math.sqrt(2.0))
    k = np.arange(rows.size)
    r = np.concatenate([cols * n + rows, (rows * n + cols)[rows != cols]])
    c = np.concatenate([k, k[rows != cols]])
    v = np.concatenate([w, w[rows != cols]])
    return sp.csr_matrix((v, (r, c)), shape=(n * n, rows.size))


def _cone_constraints(prog: ConicProgram, slack: Any) -> tuple[list[Any], list[tuple[Cone, slice]]]:
    """cvxpy constraints ``slack[block] ∈ K_block`` for every nonempty cone, and each one's cone and rows."""
    import cvxpy as cp

    constraints: list[Any] = []
    slices = []
    for k, sl in zip(prog.cones, prog.cone_slices(), strict=True):
        if k.size == 0:
            continue
        e = slack[sl]
        if k.kind is ConeKind.ZERO:
            con: Any = e == 0
        elif k.kind is ConeKind.NONNEG:
            con = e >= 0
        elif k.kind is ConeKind.SOC:
            con = cp.SOC(e[0], e[1:])
        else:
            X = cp.reshape(_svec_to_vec_matrix(k.dim) @ e, (k.dim, k.dim), order="F")
            con = X >> 0
        constraints.append(con)
        slices.append((k, sl))
    return constraints, slices


def _dual_vector(prog: ConicProgram, constraints: list[Any], slices: list[tuple[Cone, slice]]) -> np.ndarray | None:
    """The dual ``z`` in ``prog``'s row order and svec vectorisation (``None`` when a dual is missing)."""
    zv: np.ndarray | None = np.zeros(prog.nrows)
    for con, (k, sl) in zip(constraints, slices, strict=True):
        dual = con.dual_value
        if dual is None or zv is None:
            zv = None
            continue
        if k.kind is ConeKind.PSD:
            Y = np.asarray(dual, dtype=np.float64)
            zv[sl] = svec((Y + Y.T) / 2.0)
        elif k.kind is ConeKind.SOC:
            parts = dual if isinstance(dual, list | tuple) else [dual]
            zv[sl] = np.concatenate([np.ravel(np.asarray(p, dtype=np.float64)) for p in parts])
        elif k.kind is ConeKind.ZERO:
            # cvxpy's multiplier of ``e == 0`` enters its Lagrangian with a plus sign
            zv[sl] = -np.ravel(np.asarray(dual, dtype=np.float64))
        else:
            zv[sl] = np.ravel(np.asarray(dual, dtype=np.float64))
    return zv


def solve(
    prog: ConicProgram,
    name: str,
    *,
    time_limit: float | None = None,
    tolerance: float | None = None,
    verbose: bool = False,
    options: dict[str, Any] | None = None,
) -> ConicSolution:
    """Solve ``prog`` through cvxpy with its solver ``name``; see ``solve_conic``."""
    import cvxpy as cp

    solver_name = name.upper()
    label = f"cvxpy:{solver_name}"
    installed = installed_conic_solvers(with_duals=False)
    if solver_name not in installed:
        raise BackendNotAvailableError(
            f"cvxpy has no installed conic solver {name!r}; installed: {', '.join(installed)}"
        )
    missing = {k.kind for k in prog.cones if k.size} - supported_cones(solver_name)
    if missing:
        raise BackendNotAvailableError(
            f"{label} does not support {', '.join(sorted(k.value for k in missing))} cones; "
            "use clarabel or scs"
        )
    t0 = time.perf_counter()
    x = cp.Variable(prog.nvar)
    slack = prog.b - prog.A @ x
    constraints, slices = _cone_constraints(prog, slack)
    problem = cp.Problem(cp.Minimize(prog.c @ x + prog.offset), constraints)
    kwargs: dict[str, Any] = {}
    if tolerance is not None:
        for key in _TOLERANCE_KEYS.get(solver_name, ()):
            kwargs[key] = float(tolerance)
    if time_limit is not None and solver_name in _TIME_KEYS:
        kwargs[_TIME_KEYS[solver_name]] = float(time_limit)
    kwargs.update(options or {})
    setup = time.perf_counter() - t0
    t1 = time.perf_counter()
    try:
        with warnings.catch_warnings():
            # "solution may be inaccurate" is reported through our status and message
            warnings.simplefilter("ignore", UserWarning)
            problem.solve(solver=solver_name, verbose=verbose, **kwargs)
    except Exception as e:  # noqa: BLE001 - a crash in the solver is an outcome, not our error
        return error_solution(prog, label, e, setup_time=setup, solve_time=time.perf_counter() - t1)
    wall = time.perf_counter() - t1
    raw = str(problem.status)
    stats = problem.solver_stats
    iters = int(stats.num_iters) if stats is not None and stats.num_iters is not None else 0
    solve_time = (
        float(stats.solve_time) if stats is not None and stats.solve_time is not None else wall
    )
    if stats is not None and stats.setup_time is not None:
        setup += float(stats.setup_time)
    if tolerance is None:
        tol = DEFAULT_CHECK_TOL.get(solver_name, _DEFAULT_CHECK_TOL_IP)
    else:
        tol = CHECK_FACTOR.get(solver_name, _CHECK_FACTOR_IP) * float(tolerance)

    if raw in (cp.INFEASIBLE, cp.UNBOUNDED):
        # cvxpy exposes no certificate: report the solver's verdict, marked as unchecked
        status = SolverStatus.INFEASIBLE if raw == cp.INFEASIBLE else SolverStatus.UNBOUNDED
        base = checked_solution(
            prog,
            claimed=SolverStatus.ERROR,
            x=None,
            s=None,
            z=None,
            solver=label,
            solver_status=raw,
            iterations=iters,
            solve_time=solve_time,
            setup_time=setup,
            tol=tol,
        )
        return type(base)(
            status=status,
            x=None,
            s=None,
            z=None,
            primal_objective=math.nan,
            dual_objective=math.nan,
            solver=label,
            solver_status=raw,
            iterations=iters,
            solve_time=solve_time,
            setup_time=setup,
            residuals=base.residuals,
            message=f"{label} reports {raw}; cvxpy returns no certificate, so this was not checked",
        )
    claimed = {
        cp.OPTIMAL: SolverStatus.OPTIMAL,
        cp.OPTIMAL_INACCURATE: SolverStatus.INACCURATE,
        cp.INFEASIBLE_INACCURATE: SolverStatus.INACCURATE,
        cp.UNBOUNDED_INACCURATE: SolverStatus.INACCURATE,
        cp.USER_LIMIT: SolverStatus.ITERATION_LIMIT,
    }.get(raw, SolverStatus.ERROR)
    xv = None if x.value is None else np.asarray(x.value, dtype=np.float64)
    sv = None if xv is None else prog.b - prog.A @ xv
    zv = _dual_vector(prog, constraints, slices)
    return checked_solution(
        prog,
        claimed=claimed,
        x=xv,
        s=sv,
        z=zv,
        solver=label,
        solver_status=raw,
        iterations=iters,
        solve_time=solve_time,
        setup_time=setup,
        tol=tol,
    )

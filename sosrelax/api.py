"""``sosrelax.solve``: relax, solve, extract and check a certificate, keep the pseudodistribution."""

from __future__ import annotations

import time
from fractions import Fraction
from typing import Any

import numpy as np

from sosrelax.conic import ConicSolution, SolverStatus
from sosrelax.errors import InvalidValueError
from sosrelax.problem import Problem, Sense
from sosrelax.relax.moment import MomentRelaxation, build_moment_relaxation
from sosrelax.result import SolveResult, Status
from sosrelax.solvers import solve_conic

__all__ = ["RELAXATIONS", "solve"]

#: The relaxation names :func:`solve` accepts.
RELAXATIONS = ("sos", "sdp")

_STATUS = {
    SolverStatus.OPTIMAL: Status.OPTIMAL,
    SolverStatus.INFEASIBLE: Status.INFEASIBLE,
    SolverStatus.UNBOUNDED: Status.UNBOUNDED,
    SolverStatus.INACCURATE: Status.INACCURATE,
    SolverStatus.TIME_LIMIT: Status.TIME_LIMIT,
    SolverStatus.ITERATION_LIMIT: Status.INACCURATE,
    SolverStatus.ERROR: Status.ERROR,
}


def _build(problem: Problem, relaxation: str, level: int | None, sparsity: str | None) -> MomentRelaxation:
    if sparsity not in (None, "none"):
        raise InvalidValueError(
            f"sparsity={sparsity!r} is not available for relaxation {relaxation!r} yet; use sparsity=None"
        )
    if relaxation == "sdp":
        degs = [problem.objective.degree, *(g.degree for g in problem.inequalities)]
        degs += [h.degree for h in problem.equalities]
        if max(degs) > 2:
            raise InvalidValueError(
                "relaxation='sdp' is Shor's relaxation of a quadratic problem, but this problem has degree "
                f"{max(degs)}; use relaxation='sos' with a level"
            )
        if level not in (None, 1):
            raise InvalidValueError("relaxation='sdp' has no level (it is level 1); use relaxation='sos'")
        return build_moment_relaxation(problem, 1)
    if relaxation == "sos":
        return build_moment_relaxation(problem, level)
    raise InvalidValueError(
        f"unknown relaxation {relaxation!r}; choose one of {', '.join(repr(r) for r in RELAXATIONS)}"
    )


def _certify(
    relax: MomentRelaxation, sol: ConicSolution, infeasible: bool, metadata: dict[str, str]
) -> tuple[Any, Any]:
    """Extract, make exact and check a certificate; returns (certificate, report) or (None, None)."""
    from sosrelax.certificate.check import check_certificate
    from sosrelax.certificate.extract import certificate_from_moment_dual
    from sosrelax.certificate.rational import rationalize

    if sol.z is None or not np.all(np.isfinite(sol.z)):
        return None, None
    cert = certificate_from_moment_dual(relax, sol.z, infeasible=infeasible, metadata=metadata)
    box = _box(relax.problem)
    if box is not None:
        cert = _with_box(cert, box)
    exact = rationalize(cert)
    report = check_certificate(exact)
    return exact, report


def _box(problem: Problem) -> tuple[tuple[Fraction, Fraction], ...] | None:
    lo, hi = problem.variable_box()
    if np.all(np.isfinite(lo)) and np.all(np.isfinite(hi)):
        return tuple((Fraction(float(a)), Fraction(float(b))) for a, b in zip(lo, hi, strict=True))
    return None


def _with_box(cert: Any, box: tuple[tuple[Fraction, Fraction], ...]) -> Any:
    from dataclasses import replace

    return replace(cert, box=box)


def solve(
    problem: Problem,
    relaxation: str = "sos",
    level: int | None = None,
    solver: str = "clarabel",
    sparsity: str | None = None,
    *,
    certificate: bool = True,
    time_limit: float | None = None,
    tolerance: float | None = None,
    verbose: bool = False,
) -> SolveResult:
    """Bound the optimum of ``problem`` with a convex relaxation and prove the bound.

    Parameters
    ----------
    problem : Problem
        ``minimise`` or ``maximise`` a polynomial over ``{g_i >= 0, h_j = 0}``.
    relaxation : {"sos", "sdp"}
        ``"sos"``: the Lasserre/Putinar moment–SOS relaxation of order ``level``; ``"sdp"``: Shor's relaxation
        of a quadratic problem (= ``"sos"`` at level 1).
    level : int, optional
        The relaxation order ``d`` (moments up to degree ``2d``); default: the smallest admissible.
    solver : str
        A backend name from :func:`sosrelax.solvers.available_solvers` (``"clarabel"`` by default).
    sparsity : None
        Reserved for sparse relaxations.
    certificate : bool
        Extract a certificate from the dual and have the independent checker prove it (default).  Without it,
        :attr:`SolveResult.bound` stays ``None``.
    time_limit, tolerance, verbose
        Passed to the backend.

    Returns
    -------
    SolveResult
        ``bound`` is a *proven* lower bound (minimise) or upper bound (maximise) on the problem's optimum, or
        ``None``.  Never raises on an infeasible, unbounded or badly solved relaxation: see ``status``.
    """
    if not isinstance(problem, Problem):
        raise InvalidValueError(
            f"solve() expects a sosrelax.Problem, got {type(problem).__name__}; build one with "
            "sr.Problem(minimize=f, subject_to=[...])"
        )
    t0 = time.perf_counter()
    relax = _build(problem, relaxation, level, sparsity)
    t_build = time.perf_counter() - t0
    sol = solve_conic(relax.program, solver, time_limit=time_limit, tolerance=tolerance, verbose=verbose)
    status = _STATUS[sol.status]
    info: dict[str, Any] = {
        "relaxation": relaxation,
        "level": relax.level,
        "sizes": relax.sizes(),
        "solver": sol.solver,
        "solver_status": sol.solver_status,
        "solver_message": sol.message,
        "iterations": sol.iterations,
        "residuals": sol.residuals,
        "primal_objective": relax.sign * sol.primal_objective,
        "dual_objective": relax.sign * sol.dual_objective,
        "time": {"build": t_build, "solve": sol.solve_time},
    }
    solver_bound = relax.bound_from_dual(sol.dual_objective) if status is Status.OPTIMAL else None
    metadata = {
        "relaxation": relaxation,
        "level": str(relax.level),
        "solver": sol.solver,
        "solver_status": sol.solver_status,
    }

    cert = report = None
    t1 = time.perf_counter()
    if certificate and status in (Status.OPTIMAL, Status.INACCURATE):
        cert, report = _certify(relax, sol, infeasible=False, metadata=metadata)
    elif certificate and status is Status.INFEASIBLE:
        cert, report = _certify(relax, sol, infeasible=True, metadata=metadata)
    info["time"]["certify"] = time.perf_counter() - t1

    bound: float | None = None
    if report is not None and report.valid and cert is not None and cert.kind != "infeasible":
        bound = float(report.bound)
        # the float of a proven rational bound must stay on the proven side
        if problem.sense is Sense.MINIMIZE and Fraction(bound) > report.bound:
            bound = float(np.nextafter(bound, -np.inf))
        if problem.sense is Sense.MAXIMIZE and Fraction(bound) < report.bound:
            bound = float(np.nextafter(bound, np.inf))

    pseudo = None
    if status in (Status.OPTIMAL, Status.INACCURATE) and sol.x is not None:
        from sosrelax.adversary.pseudo import PseudoDistribution

        pseudo = PseudoDistribution(
            variables=relax.variables, exps=relax.moment_exps, moments=np.asarray(sol.x), level=relax.level
        )

    message = _message(status, problem, bound, solver_bound, report, sol)
    return SolveResult(
        status=status,
        bound=bound,
        solver_bound=solver_bound,
        certificate=cert,
        check=report,
        pseudo=pseudo,
        info=info,
        message=message,
    )


def _message(
    status: Status,
    problem: Problem,
    bound: float | None,
    solver_bound: float | None,
    report: Any,
    sol: ConicSolution,
) -> str:
    side = "lower" if problem.sense is Sense.MINIMIZE else "upper"
    if status is Status.OPTIMAL and bound is not None:
        return f"proven {side} bound {bound:.10g} (solver reported {solver_bound:.10g}); certificate verified"
    if status is Status.INFEASIBLE:
        if report is not None and report.valid:
            return "the feasible set is empty; infeasibility certificate verified"
        return "the relaxation is infeasible (solver's word; the infeasibility certificate was not verified)"
    if status is Status.UNBOUNDED:
        return f"the relaxation gives no {side} bound at this level (its SOS side is infeasible)"
    if status in (Status.OPTIMAL, Status.INACCURATE):
        why = report.reason if report is not None else "no certificate could be extracted"
        return f"no bound proven: {why} (solver: {sol.message})"
    return f"no bound: {sol.message}"

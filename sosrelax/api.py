"""``sosrelax.solve``: relax, solve, extract and check a certificate, keep the pseudodistribution."""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from fractions import Fraction
from typing import Any

import numpy as np

from sosrelax.certificate.check import CheckReport
from sosrelax.certificate.format import Certificate
from sosrelax.conic import ConicSolution, SolverStatus
from sosrelax.errors import InvalidValueError
from sosrelax.problem import Problem, Sense
from sosrelax.relax.moment import MomentRelaxation, build_moment_relaxation
from sosrelax.relax.scaling import Scaling, choose_scaling
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


@dataclass(frozen=True)
class _Run:
    """What the certificate step needs: the relaxation, the user's problem and the scaling between them."""

    relax: MomentRelaxation
    problem: Problem
    scaling: Scaling | None
    solver: str
    time_limit: float | None

    @property
    def factor(self) -> float:
        """``f = factor · F`` where ``F`` is the relaxed objective."""
        return float(self.scaling.objective_factor) if self.scaling is not None else 1.0

    def to_relaxed(self, bound: Fraction) -> float:
        """A bound on ``f`` expressed as a lower bound on the relaxed ``sign·F``."""
        return self.relax.sign * float(bound) / self.factor

    def finish(self, cert: Certificate) -> tuple[Certificate, CheckReport]:
        """Make a float certificate of the relaxed problem exact, map it to the user's problem, check it."""
        from sosrelax.certificate.check import check_certificate
        from sosrelax.certificate.extract import unscale_certificate
        from sosrelax.certificate.rational import rationalize

        sc = self.scaling
        if sc is not None:
            cert = replace(
                cert,
                objective=() if cert.kind == "infeasible" else _exact(sc.objective),
                inequalities=tuple(_exact(g) for g in sc.inequalities),
                equalities=tuple(_exact(h) for h in sc.equalities),
            )
            exact = unscale_certificate(rationalize(cert), sc, self.problem)
        else:
            box = _box(self.problem)
            exact = rationalize(replace(cert, box=box) if box is not None else cert)
        return exact, check_certificate(exact)


def _exact(p: dict[tuple[int, ...], Fraction]) -> tuple[tuple[tuple[int, ...], Fraction], ...]:
    return tuple(sorted((k, v) for k, v in p.items() if v != 0))


def _certify(
    run: _Run, sol: ConicSolution, infeasible: bool, metadata: dict[str, str]
) -> tuple[Certificate | None, CheckReport | None]:
    """Extract, make exact and check a certificate; returns (certificate, report) or (None, None).

    First the solver's own dual is rounded and checked.  If that fails (optimal Gram matrices are singular, so
    rounding breaks positive semidefiniteness) or proves a noticeably weaker bound than the solver's, the bound
    is backed off by a relative ``1e-7`` (then ``1e-6``, ``1e-5``) and the most interior certificate for it is
    computed (:func:`~sosrelax.relax.moment.centered_feasibility_program`), whose Gram matrices are definite
    with a margin that survives rounding.  Whatever comes out, only the checker's report counts.
    """
    from sosrelax.certificate.extract import (
        certificate_from_centered_dual,
        certificate_from_moment_dual,
    )
    from sosrelax.relax.moment import centered_feasibility_program

    relax = run.relax
    if sol.z is None or not np.all(np.isfinite(sol.z)):
        return None, None
    best = run.finish(certificate_from_moment_dual(relax, sol.z, infeasible=infeasible, metadata=metadata))
    if infeasible:
        return best
    gamma_solver = -float(sol.z[0])  # the solver's lower bound on sign*F
    if best[1].valid and _gap(run.to_relaxed(best[1].bound), gamma_solver) <= 1e-7:
        return best
    for rel in (1e-7, 1e-6, 1e-5):
        delta = rel * (1.0 + abs(gamma_solver))
        gamma = gamma_solver - delta
        sol2 = solve_conic(centered_feasibility_program(relax, gamma), run.solver, time_limit=run.time_limit)
        if sol2.z is None or not np.all(np.isfinite(sol2.z)):
            continue
        if sol2.status not in (SolverStatus.OPTIMAL, SolverStatus.INACCURATE) or -float(sol2.z[0]) <= 0:
            continue  # no interior certificate at this bound: back off further
        meta = dict(metadata, certificate="centered", backoff=repr(delta))
        second = run.finish(certificate_from_centered_dual(relax, sol2.z, gamma, metadata=meta))
        if second[1].valid:
            if not best[1].valid or run.to_relaxed(second[1].bound) > run.to_relaxed(best[1].bound):
                best = second
            break
    return best


def _gap(a: float, b: float) -> float:
    return abs(a - b) / (1.0 + abs(b))


def _box(problem: Problem) -> tuple[tuple[Fraction, Fraction], ...] | None:
    """The variable box, if every side of it stands among the inequalities as ``x − l`` / ``u − x``."""
    n = len(problem.variables)
    lo: list[Fraction | None] = [None] * n
    hi: list[Fraction | None] = [None] * n
    for g in problem.inequalities:
        if g.degree != 1:
            continue
        e = g.aligned(problem.variables)
        lin = np.flatnonzero(e.sum(axis=1) == 1)
        if len(lin) != 1:
            continue
        j = int(np.flatnonzero(e[lin[0]])[0])
        a = Fraction(float(g.coefs[lin[0]]))
        const = e.sum(axis=1) == 0
        c = Fraction(float(g.coefs[const][0])) if const.any() else Fraction(0)
        val = -c / a
        if a > 0:
            lo[j] = val if lo[j] is None else max(lo[j], val)  # type: ignore[type-var]
        else:
            hi[j] = val if hi[j] is None else min(hi[j], val)  # type: ignore[type-var]
    if any(v is None for v in lo) or any(v is None for v in hi):
        return None
    return tuple((a, b) for a, b in zip(lo, hi, strict=True))  # type: ignore[misc]


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
    scale: bool = True,
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
    scale : bool
        Rescale variables to about ``[-1, 1]`` and polynomials to unit size before relaxing (exactly, see
        :mod:`sosrelax.relax.scaling`; the bound and the certificate are for the original problem).

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
    scaling = choose_scaling(problem) if scale else None
    relax = _build(scaling.scaled_problem if scaling is not None else problem, relaxation, level, sparsity)
    run = _Run(relax, problem, scaling, solver, time_limit)
    t_build = time.perf_counter() - t0
    sol = solve_conic(relax.program, solver, time_limit=time_limit, tolerance=tolerance, verbose=verbose)
    status = _STATUS[sol.status]
    k = run.factor
    info: dict[str, Any] = {
        "relaxation": relaxation,
        "level": relax.level,
        "scaled": scaling is not None,
        "sizes": relax.sizes(),
        "solver": sol.solver,
        "solver_status": sol.solver_status,
        "solver_message": sol.message,
        "iterations": sol.iterations,
        "residuals": sol.residuals,
        "primal_objective": k * relax.sign * sol.primal_objective,
        "dual_objective": k * relax.sign * sol.dual_objective,
        "time": {"build": t_build, "solve": sol.solve_time},
    }
    solver_bound = k * relax.bound_from_dual(sol.dual_objective) if status is Status.OPTIMAL else None
    metadata = {
        "relaxation": relaxation,
        "level": str(relax.level),
        "solver": sol.solver,
        "solver_status": sol.solver_status,
    }

    cert: Certificate | None = None
    report: CheckReport | None = None
    t1 = time.perf_counter()
    if certificate and status in (Status.OPTIMAL, Status.INACCURATE):
        cert, report = _certify(run, sol, False, metadata)
    elif certificate and status is Status.INFEASIBLE:
        cert, report = _certify(run, sol, True, metadata)
    info["time"]["certify"] = time.perf_counter() - t1

    bound: float | None = None
    if report is not None and report.valid and cert is not None and cert.kind != "infeasible":
        assert report.bound is not None
        bound = float(report.bound)
        # the float of a proven rational bound must stay on the proven side
        if problem.sense is Sense.MINIMIZE and Fraction(bound) > report.bound:
            bound = float(np.nextafter(bound, -np.inf))
        if problem.sense is Sense.MAXIMIZE and Fraction(bound) < report.bound:
            bound = float(np.nextafter(bound, np.inf))
        if status is Status.INACCURATE:
            status = Status.OPTIMAL  # the solver was unsure, but the bound is proven

    pseudo = None
    if status in (Status.OPTIMAL, Status.INACCURATE) and sol.x is not None:
        from sosrelax.adversary.pseudo import PseudoDistribution

        moments = np.asarray(sol.x, dtype=float)
        if scaling is not None:
            moments = scaling.moments_to_original(relax.moment_exps, moments)
        pseudo = PseudoDistribution(
            variables=problem.variables, exps=relax.moment_exps, moments=moments, level=relax.level
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
        said = f"{solver_bound:.10g}" if solver_bound is not None else f"an inaccurate solve ({sol.solver_status})"
        return f"proven {side} bound {bound:.10g} (solver reported {said}); certificate verified"
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

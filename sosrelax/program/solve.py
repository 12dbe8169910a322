"""Solving an SOS program: conic form, backend, exact certificate, result."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

import numpy as np

from sosrelax.certificate.format import float_toward
from sosrelax.certificate.program_check import ProgramCheckReport
from sosrelax.certificate.program_format import ProgramCertificate
from sosrelax.conic import SolverStatus
from sosrelax.errors import InvalidValueError
from sosrelax.poly import Polynomial
from sosrelax.program.build import SOSProgram, compile_program
from sosrelax.program.expr import PolyExpr
from sosrelax.program.rounding import round_certificate
from sosrelax.result import Status
from sosrelax.solvers import solve_conic

__all__ = ["ProgramResult", "solve_program"]

_STATUS = {
    SolverStatus.OPTIMAL: Status.OPTIMAL,
    SolverStatus.INFEASIBLE: Status.INFEASIBLE,
    SolverStatus.UNBOUNDED: Status.UNBOUNDED,
    SolverStatus.INACCURATE: Status.INACCURATE,
    SolverStatus.TIME_LIMIT: Status.TIME_LIMIT,
    SolverStatus.ITERATION_LIMIT: Status.INACCURATE,
    SolverStatus.ERROR: Status.ERROR,
}


@dataclass(frozen=True)
class ProgramResult:
    """The outcome of :func:`solve_program`.

    Attributes
    ----------
    status : Status
        The solver's outcome: ``"optimal"``, ``"infeasible"`` (no unknowns satisfy the constraints),
        ``"unbounded"``, ``"inaccurate"``, ``"error"``, ``"time_limit"``.
    objective : float or None
        The solver's objective value (not proven).
    certificate : ProgramCertificate or None
        Present only when the independent checker verified it.
    check : ProgramCheckReport or None
        The checker's report (also of a refused candidate).
    message : str
        What was proven, or why nothing was.
    info : dict
        Sizes, timings, solver name and status.
    """

    status: Status
    objective: float | None
    certificate: ProgramCertificate | None
    check: ProgramCheckReport | None
    message: str
    info: dict[str, Any] = field(default_factory=dict)
    values: dict[int, np.ndarray] = field(default_factory=dict, repr=False)

    @property
    def proven(self) -> bool:
        """Whether a certificate was verified by the exact checker."""
        return self.certificate is not None and self.check is not None and self.check.valid

    @property
    def proven_objective(self) -> Fraction | None:
        """The objective value at the certificate's exact unknowns: the program's optimum is at most this
        (minimise) or at least this (maximise).  ``None`` without a verified certificate."""
        return self.check.objective if self.proven and self.check is not None else None

    @property
    def success(self) -> bool:
        """``status == "optimal"``."""
        return self.status is Status.OPTIMAL

    def value(self, p: PolyExpr, *, exact: bool = False) -> Polynomial:
        """The polynomial an expression takes at the solution.

        Parameters
        ----------
        p : PolyExpr
            A :func:`~sosrelax.program.poly_variable` or any expression of the program's unknowns.
        exact : bool
            Use the certificate's exact unknowns (as floats) instead of the solver's.

        Raises
        ------
        InvalidValueError
            When there is no solution, or ``p`` uses unknowns that are not the program's.
        """
        values = self.values
        if exact:
            if self.certificate is None:
                raise InvalidValueError("value(..., exact=True) needs a verified certificate; this result has none")
            values = self.info["exact_values"]
        if not values:
            raise InvalidValueError(f"no solution to read values from (status {self.status.value})")
        missing = [b.name for b in p.blocks if id(b) not in values]
        if missing:
            raise InvalidValueError(f"the unknowns {missing} are not unknowns of the solved program")
        return p.value(values)

    def __repr__(self) -> str:
        obj = "None" if self.objective is None else f"{self.objective:.10g}"
        return (f"ProgramResult(status={self.status.value}, objective={obj}, proven={self.proven}, "
                f"message={self.message!r})")


def solve_program(program: SOSProgram, *, solver: str = "clarabel", certificate: bool = True,
                  tolerance: float | None = None, time_limit: float | None = None, verbose: bool = False,
                  solver_options: dict[str, Any] | None = None) -> ProgramResult:
    """Solve an SOS program and, when it is solved, round and check an exact certificate.

    Parameters
    ----------
    program : SOSProgram
    solver : str
        Any backend of :func:`sosrelax.solvers.solve_conic` (``"clarabel"``, ``"scs"``, ``"cvxpy:NAME"``...).
    certificate : bool
        Round the solution to exact rationals and have the independent checker verify it.
    tolerance, time_limit, verbose, solver_options
        Passed to the backend.

    Returns
    -------
    ProgramResult
        Never raises on an infeasible or badly solved program: see ``status`` and ``message``.
    """
    if not isinstance(program, SOSProgram):
        raise InvalidValueError(f"solve_program expects an SOSProgram, got {type(program).__name__}")
    t0 = time.perf_counter()
    cp = compile_program(program)
    t_build = time.perf_counter() - t0
    sol = solve_conic(cp.conic, solver, time_limit=time_limit, tolerance=tolerance, verbose=verbose,
                      options=solver_options)
    status = _STATUS[sol.status]
    info: dict[str, Any] = {"sizes": cp.sizes(), "solver": sol.solver, "solver_status": sol.solver_status,
                            "iterations": sol.iterations, "residuals": sol.residuals}
    values: dict[int, np.ndarray] = {}
    objective = None
    if sol.x is not None and status in (Status.OPTIMAL, Status.INACCURATE):
        start = 0
        for b in cp.blocks:
            values[id(b)] = np.asarray(sol.x[start:start + b.size], dtype=float)
            start += b.size
        objective = cp.sign * float(sol.primal_objective)
    cert = report = None
    t1 = time.perf_counter()
    if certificate and sol.x is not None and status in (Status.OPTIMAL, Status.INACCURATE):
        cert, report, why = round_certificate(cp, sol.x, {"solver": sol.solver, "solver_status": sol.solver_status})
        if cert is not None:
            exact = [float(v) for v in cert.values]
            ev, start = {}, 0
            for b in cp.blocks:
                ev[id(b)] = np.array(exact[start:start + b.size])
                start += b.size
            info["exact_values"] = ev
    else:
        why = "no certificate asked for" if not certificate else f"no solution to certify ({sol.message})"
    info["time"] = {"build": t_build, "solve": sol.solve_time, "certify": time.perf_counter() - t1,
                    "total": time.perf_counter() - t0}
    message = _message(program.sense, status, objective, cert, report, why, sol.message)
    return ProgramResult(status, objective, cert, report, message, info, values)


def _message(sense: str, status: Status, objective: float | None, cert: Any, report: Any, why: str,
             solver_message: str) -> str:
    if status is Status.INFEASIBLE:
        return "the program is infeasible (solver's word): no unknowns satisfy the constraints"
    if status is Status.UNBOUNDED:
        return "the program is unbounded (solver's word)"
    if objective is None:
        return f"no solution: {solver_message}"
    if cert is None:
        return f"solver objective {objective:.10g}; no proof: {why}"
    if sense == "feasibility":
        return "feasible; certificate verified by the exact checker"
    side = "at most" if sense == "minimize" else "at least"
    val = float_toward(report.objective, down=sense == "maximize")
    return (f"optimum {side} {val:.10g} (objective at the exact certificate; solver reported {objective:.10g}); "
            "certificate verified by the exact checker")

"""Never trust "solved" blindly: recheck every answer a backend gives against the data.

Each backend maps its own status onto a *claimed* :class:`~sosrelax.conic.SolverStatus` and hands
the raw vectors to :func:`checked_solution`, which recomputes the residuals and downgrades the
claim to INACCURATE when a check fails:

* OPTIMAL — primal residual, dual residual, duality gap and both cone violations (all relative,
  see :class:`~sosrelax.conic.Residuals`) at most ``tol``.  When only the backend's slack is
  off but ``b − Ax`` itself lies in ``K`` (to ``tol``), ``x`` is feasible: that slack is
  returned in place of the backend's and the message says so;
* INFEASIBLE — ``bᵀz < 0``, ``z ∈ K*`` up to ``tol`` and ``‖Aᵀz‖`` small relative to ``|bᵀz|``;
* UNBOUNDED — ``cᵀx < 0``, ``s ∈ K`` up to ``tol`` and ``‖Ax + s‖`` small relative to ``|cᵀx|``.

``tol`` is tied to the accuracy the backend was asked for (each backend states the factor).
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from sosrelax.conic import (
    ConicProgram,
    ConicSolution,
    Residuals,
    SolverStatus,
    compute_residuals,
    cone_violation,
)

__all__ = ["checked_solution", "clean_vector", "error_solution"]


def clean_vector(v: npt.ArrayLike | None, size: int) -> np.ndarray | None:
    """A float64 copy of ``v`` if it has ``size`` finite entries, else ``None``."""
    if v is None:
        return None
    arr = np.array(v, dtype=np.float64).ravel()
    if arr.size != size or not np.all(np.isfinite(arr)):
        return None
    return arr


def _fmt(name: str, value: float, tol: float) -> str:
    return f"{name} {value:.2e} > {tol:.0e}"


def _check_infeasibility(prog: ConicProgram, zv: np.ndarray | None, tol: float) -> tuple[Residuals, list[str]]:
    """Check ``z`` as a certificate of primal infeasibility: ``bᵀz < 0``, ``Aᵀz ≈ 0``, ``z ∈ K*``."""
    failures: list[str] = []
    res = compute_residuals(prog, None, None, zv, certificate="infeasible")
    if zv is None:
        failures.append("no finite certificate z was returned")
    else:
        bz = float(prog.b @ zv)
        if not bz < 0.0:
            failures.append(f"bᵀz = {bz:.3e} is not negative")
        if not res.dual_certificate <= tol:
            failures.append(_fmt("relative ‖Aᵀz‖", res.dual_certificate, tol))
        if not res.dual_cone <= tol:
            failures.append(_fmt("dual cone violation", res.dual_cone, tol))
    return res, failures


def _check_unboundedness(prog: ConicProgram, xv: np.ndarray | None, sv: np.ndarray | None,
                         tol: float) -> tuple[Residuals, list[str]]:
    """Check ``(x, s)`` as a certificate of dual infeasibility: ``cᵀx < 0``, ``Ax + s ≈ 0``, ``s ∈ K``."""
    failures: list[str] = []
    res = compute_residuals(prog, xv, sv, None, certificate="unbounded")
    if xv is None:
        failures.append("no finite certificate x was returned")
    else:
        cx = float(prog.c @ xv)
        if not cx < 0.0:
            failures.append(f"cᵀx = {cx:.3e} is not negative")
        if not res.primal_certificate <= tol:
            failures.append(_fmt("relative ‖Ax + s‖", res.primal_certificate, tol))
        if not res.primal_cone <= tol:
            failures.append(_fmt("primal cone violation", res.primal_cone, tol))
    return res, failures


def _message(solver: str, solver_status: str, claimed: SolverStatus, mode: SolverStatus, failures: list[str],
             what: str, tol: float) -> str:
    """What the backend claimed and what our checks made of it, in words."""
    if mode is not claimed:
        verdict = "fails" if failures else "passes"
        message = (
            f"{solver} stopped with {solver_status!r} ({claimed.value}); read as a "
            f"{mode.value} certificate it {verdict} our checks at tolerance {tol:.0e}"
            + (": " + "; ".join(failures) if failures else "")
        )
    elif failures:
        message = (
            f"{solver} reported {solver_status!r} but our check failed: "
            + "; ".join(failures)
            + " — the answer is not trusted"
        )
    elif what:
        message = f"{solver} reported {solver_status!r}: {what} (tolerance {tol:.0e})"
    else:
        message = f"{solver} stopped with {solver_status!r} ({claimed.value})"
    return message


def checked_solution(
    prog: ConicProgram,
    *,
    claimed: SolverStatus,
    x: npt.ArrayLike | None,
    s: npt.ArrayLike | None,
    z: npt.ArrayLike | None,
    solver: str,
    solver_status: str,
    iterations: int,
    solve_time: float,
    setup_time: float,
    tol: float,
    near: SolverStatus | None = None,
    note: str = "",
) -> ConicSolution:
    """Build a :class:`ConicSolution`, verifying the backend's claim first.

    Parameters
    ----------
    prog : ConicProgram
    claimed : SolverStatus
        What the backend's own status means in our terms.
    x, s, z : array_like or None
        The backend's vectors, already mapped back to ``prog``'s row order and vectorisation.
    tol : float
        Threshold for every relative residual and certificate check.
    near : SolverStatus, optional
        For a claim of INACCURATE that the solver qualifies as *almost* infeasible or unbounded
        (Clarabel's ``AlmostPrimalInfeasible``, SCS's ``infeasible_inaccurate``): the vectors are
        read as that kind of certificate and the message says whether it passes our checks.
        The status stays INACCURATE.
    note : str
        Extra text appended to the message (e.g. the solver's own error text).
    """
    xv = clean_vector(x, prog.nvar)
    sv = clean_vector(s, prog.nrows)
    zv = clean_vector(z, prog.nrows)
    status = claimed
    failures: list[str] = []
    pobj = dobj = math.nan
    mode = near if claimed is SolverStatus.INACCURATE and near is not None else claimed

    if mode is SolverStatus.INFEASIBLE:
        xv = sv = None
        res, failures = _check_infeasibility(prog, zv, tol)
        what = "primal infeasible, certificate z checked"
    elif mode is SolverStatus.UNBOUNDED:
        zv = None
        if xv is not None and sv is None:
            sv = -(prog.A @ xv)
        res, failures = _check_unboundedness(prog, xv, sv, tol)
        what = "dual infeasible (unbounded), certificate x checked"
    else:
        res = compute_residuals(prog, xv, sv, zv)
        if claimed is SolverStatus.OPTIMAL and xv is not None and not res.primal <= tol:
            # The backend's slack may be less accurate than its x (seen with Clarabel on
            # badly scaled SDPs).  What matters is that x is feasible, i.e. b − Ax ∈ K: if so,
            # return that slack instead, so that x, s, z stay consistent, and say so.
            s_alt = prog.b - prog.A @ xv
            scale = 1.0 + (float(np.max(np.abs(prog.b))) if prog.b.size else 0.0)
            if cone_violation(prog.cones, s_alt) / scale <= tol:
                note = (note + "; " if note else "") + (
                    f"its slack s was off by {res.primal:.1e} (relative), so s = b − Ax is "
                    "returned, which lies in K"
                )
                sv = s_alt
                res = compute_residuals(prog, xv, sv, zv)
        pobj = float(prog.c @ xv) + prog.offset if xv is not None else math.nan
        dobj = -float(prog.b @ zv) + prog.offset if zv is not None else math.nan
        if claimed is SolverStatus.OPTIMAL:
            if xv is None or sv is None or zv is None:
                failures.append("x, s or z is missing or not finite")
            checks = (
                ("primal residual", res.primal),
                ("dual residual", res.dual),
                ("relative gap", res.gap),
                ("primal cone violation", res.primal_cone),
                ("dual cone violation", res.dual_cone),
            )
            failures.extend(_fmt(n, v, tol) for n, v in checks if not v <= tol)
        what = "optimal, residuals checked" if claimed is SolverStatus.OPTIMAL else ""

    message = _message(solver, solver_status, claimed, mode, failures, what, tol)
    if failures and mode is claimed:
        status = SolverStatus.INACCURATE
    if note:
        message += f"; {note}"
    return ConicSolution(
        status=status,
        x=xv,
        s=sv,
        z=zv,
        primal_objective=pobj,
        dual_objective=dobj,
        solver=solver,
        solver_status=solver_status,
        iterations=int(iterations),
        solve_time=float(solve_time),
        setup_time=float(setup_time),
        residuals=res if isinstance(res, Residuals) else Residuals(),
        message=message,
    )


def error_solution(
    prog: ConicProgram,
    solver: str,
    exc: BaseException,
    *,
    setup_time: float = 0.0,
    solve_time: float = 0.0,
) -> ConicSolution:
    """The ERROR outcome for a crash inside a solver."""
    return ConicSolution(
        status=SolverStatus.ERROR,
        x=None,
        s=None,
        z=None,
        primal_objective=math.nan,
        dual_objective=math.nan,
        solver=solver,
        solver_status=type(exc).__name__,
        iterations=0,
        solve_time=solve_time,
        setup_time=setup_time,
        residuals=Residuals(),
        message=f"{solver} failed: {type(exc).__name__}: {exc}",
    )

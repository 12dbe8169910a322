"""``sosrelax.solve``: relax, solve, extract and check a certificate, keep the pseudodistribution."""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from sosrelax.budget import Deadline, ProgressLine, progress_enabled
from sosrelax.certificate.check import CheckReport
from sosrelax.certificate.format import Certificate, float_toward
from sosrelax.conic import ConicSolution, Residuals, SolverStatus
from sosrelax.errors import InvalidValueError
from sosrelax.problem import Problem, Sense
from sosrelax.prove import ProofContext, prove
from sosrelax.relax.moment import MomentRelaxation, build_moment_relaxation
from sosrelax.relax.scaling import Scaling, choose_scaling
from sosrelax.result import SolveResult, Status
from sosrelax.solvers import solve_conic

__all__ = ["RELAXATIONS", "solve"]

logger = logging.getLogger(__name__)

#: The relaxation names :func:`solve` accepts.
RELAXATIONS = ("sos", "sdp", "lp", "dsos", "sdsos")

_STATUS = {
    SolverStatus.OPTIMAL: Status.OPTIMAL,
    SolverStatus.INFEASIBLE: Status.INFEASIBLE,
    SolverStatus.UNBOUNDED: Status.NO_BOUND,
    SolverStatus.INACCURATE: Status.INACCURATE,
    SolverStatus.TIME_LIMIT: Status.TIME_LIMIT,
    SolverStatus.ITERATION_LIMIT: Status.INACCURATE,
    SolverStatus.ERROR: Status.ERROR,
}

#: Gram cone of each moment–SOS rung.
_CONES = {"sos": "psd", "sdp": "psd", "dsos": "dd", "sdsos": "sdd"}


def _build(
    problem: Problem, relaxation: str, level: int | None, sparsity: str | None
) -> MomentRelaxation:
    from sosrelax.relax.lp import build_sherali_adams_relaxation
    from sosrelax.relax.sparsity import SPARSITY, build_sparse_relaxation

    if relaxation not in RELAXATIONS:
        raise InvalidValueError(
            f"unknown relaxation {relaxation!r}; choose one of {', '.join(repr(r) for r in RELAXATIONS)}"
        )
    sparse = sparsity not in (None, "none")
    if sparse and sparsity not in SPARSITY:
        raise InvalidValueError(
            f"unknown sparsity {sparsity!r}; choose None or one of {', '.join(repr(s) for s in SPARSITY)}"
        )
    if relaxation == "lp":
        if sparse:
            raise InvalidValueError(
                "relaxation='lp' (Sherali–Adams) has no sparse form here; use sparsity=None, or "
                "relaxation='dsos' with sparsity for a sparse linear program"
            )
        degree = None if level is None else 2 * int(level)
        if degree is not None:
            degs = [problem.objective.degree, *(h.degree for h in problem.equalities)]
            degree = max(degree, *degs)
        return build_sherali_adams_relaxation(problem, degree)
    if relaxation == "sdp":
        degs = [problem.objective.degree, *(g.degree for g in problem.inequalities)]
        degs += [h.degree for h in problem.equalities]
        if max(degs) > 2:
            raise InvalidValueError(
                "relaxation='sdp' is Shor's relaxation of a quadratic problem, but this problem has degree "
                f"{max(degs)}; use relaxation='sos' with a level"
            )
        if level not in (None, 1):
            raise InvalidValueError(
                "relaxation='sdp' has no level (it is level 1); use relaxation='sos'"
            )
        level = 1
    cone = _CONES[relaxation]
    if sparse:
        return build_sparse_relaxation(problem, level, cone, sparsity)
    return build_moment_relaxation(problem, level, cone)


@dataclass(frozen=True)
class _Setup:
    """What every attempt of one :func:`solve` call shares."""

    problem: Problem
    relax: MomentRelaxation
    scaling: Scaling | None
    relaxation: str
    solver: str
    certificate: bool
    verbose: bool
    solver_options: dict[str, Any] | None

    @property
    def factor(self) -> float:
        """``f = factor · F`` where ``F`` is the relaxed objective."""
        return 1.0 if self.scaling is None else float(self.scaling.objective_factor)


@dataclass(frozen=True)
class _Attempt:
    """One backend's solve of the relaxation and the certificate step on it."""

    sol: ConicSolution
    status: Status
    cert: Certificate | None
    report: CheckReport | None
    t_cert: float
    #: the relaxation's value on the relaxed ``sign·F``: the solver's, or the centred solves' lower estimate
    value: float
    estimated: bool
    #: seconds of the first exact rounding and check (0 when none ran)
    finish_s: float = 0.0
    #: seconds of the certificate step spent in exact rounding, in the checker, in re-solves
    round_s: float = 0.0
    check_s: float = 0.0
    resolve_s: float = 0.0
    #: whether the certificate step's centred programs were due to be solved by SCS too
    scs_centred: bool = False

    def proves_more_than(self, other: _Attempt, sign: float) -> bool:
        """Whether this attempt's checked bound is valid and better than ``other``'s (or ``other`` has none)."""
        mine, theirs = self.report, other.report
        if mine is None or not mine.valid or self.cert is None:
            return False
        if theirs is None or not theirs.valid:
            return True
        return mine.bound is not None and theirs.bound is not None and sign * mine.bound > sign * theirs.bound


#: Seconds per unit of ``Σ m³/3`` (``m``: the order of a PSD block's Hessian in the interior-point KKT system)
#: for one Clarabel iteration, measured on a 2-core x86-64 machine under load; an upper estimate elsewhere.
_SECONDS_PER_KKT_FLOP = 1.3e-10
#: Seconds per row of the relaxation for the first exact rounding and check, measured likewise.
_SECONDS_PER_ROW = 3e-4


def _iteration_seconds(setup: _Setup, name: str) -> float:
    """Estimated seconds of one iteration of backend ``name``: an interior-point iteration factors the KKT
    system, whose PSD blocks are dense of order ``m = n(n+1)/2``; first-order iterations are cheap (0)."""
    if name in ("scs", "firstorder"):
        return 0.0
    m = np.array([b.order * (b.order + 1) // 2 for b in setup.relax.gram_blocks if b.cone == "psd"], float)
    return _SECONDS_PER_KKT_FLOP * float(np.sum(m**3) / 3.0)


def _reserve(setup: _Setup, name: str, left: float) -> float:
    """Seconds a solve by backend ``name`` leaves to what follows it: two solver iterations (a backend
    checks its time limit between iterations, so it overruns by about one, more on a loaded machine) and, with
    ``certificate=True``, the first exact rounding and check; at most three quarters of what is ``left``."""
    need = 0.02 * max(left, 0.0) + 2.0 * _iteration_seconds(setup, name)
    if setup.certificate:
        need += _SECONDS_PER_ROW * setup.relax.program.A.shape[0]
    return min(need, 0.75 * max(left, 0.0))


def _skipped(name: str, iteration: float) -> ConicSolution:
    """The outcome of a solve that the deadline did not let start (status ``TIME_LIMIT``, no iterate)."""
    return ConicSolution(
        status=SolverStatus.TIME_LIMIT, x=None, s=None, z=None, primal_objective=np.nan,
        dual_objective=np.nan, solver=name, solver_status="not started", iterations=0, solve_time=0.0,
        setup_time=0.0, residuals=Residuals(),
        message=f"{name} not started: the time left is under two iterations (about {iteration:.2g} s each)",
    )


def _attempt(
    setup: _Setup, name: str, tolerance: float | None, deadline: Deadline, budget: float | None
) -> _Attempt:
    """Solve the relaxation with backend ``name`` within ``deadline`` (and ``budget`` seconds when given), then
    run the certificate step (:func:`sosrelax.prove.prove`) on what it returns."""
    relax = setup.relax
    opts = setup.solver_options if name == setup.solver else None
    limit = deadline.solver_limit(_reserve(setup, name, deadline.remaining()))
    if budget is not None:
        limit = budget if limit is None else min(limit, budget)
    iteration = _iteration_seconds(setup, name)
    if not deadline.allows(2.0 * iteration):  # cut after one iteration, a solve gives nothing
        deadline.short(f"solve ({name}) skipped: one iteration takes about {iteration:.2g} s")
        sol = _skipped(name, iteration)
    else:
        with deadline.phase(f"solve ({name})", logger):
            sol = solve_conic(
                relax.program, name, time_limit=limit, tolerance=tolerance, verbose=setup.verbose, options=opts
            )
    logger.info("%s: %s after %d iterations, %.3g s", name, sol.solver_status, sol.iterations, sol.solve_time)
    status = _STATUS[sol.status]
    observed = sol.solve_time / sol.iterations if name == "clarabel" and sol.iterations > 0 else 0.0
    ctx = ProofContext(relax, setup.problem, setup.scaling, name, opts,
                       iteration_s=max(_iteration_seconds(setup, "clarabel"), observed))
    meta = {"relaxation": setup.relaxation, "level": str(relax.level), "solver": sol.solver,
            "solver_status": sol.solver_status}
    t1 = time.perf_counter()
    cert: Certificate | None = None
    report: CheckReport | None = None
    if setup.certificate and status in (Status.OPTIMAL, Status.INACCURATE, Status.INFEASIBLE):
        with deadline.phase("certificate", logger):
            cert, report = prove(ctx, sol, infeasible=status is Status.INFEASIBLE, metadata=meta,
                                 deadline=deadline, budget=budget)
    value = min(-float(sol.z[0]), ctx.notes.get("estimate", np.inf)) if sol.z is not None else np.nan
    notes = ctx.notes
    return _Attempt(sol, status, cert, report, time.perf_counter() - t1, value, "estimate" in notes,
                    notes.get("finish_s", 0.0), notes.get("round_s", 0.0), notes.get("check_s", 0.0),
                    notes.get("resolve_s", 0.0), "scs_centred" in notes)


def _weak(setup: _Setup, first: _Attempt) -> bool:
    """Whether the first attempt's proof is missing, or further from its value than a second opinion could
    close: relative ``1e-6`` (``1e-5`` when the value is the centred solves' estimate, which is an upper
    estimate of the relaxation's value whatever the first solver said)."""
    report, value = first.report, first.value
    if report is None or not report.valid or report.bound is None:
        return True
    k = setup.factor
    gap = (k * value - setup.relax.sign * float(report.bound)) / (1.0 + abs(k * value))
    return gap > (1e-5 if first.estimated else 1e-6) or (
        first.sol.status is not SolverStatus.OPTIMAL and not first.estimated
    )


def _second_opinion(
    setup: _Setup, first: _Attempt, fallback: str | None, deadline: Deadline
) -> _Attempt | None:
    """An interior-point solve that stopped short (or whose proof is weak) gets a second opinion from a
    first-order solver at high accuracy: different failure modes, and the checker arbitrates.  ``None`` when
    none is due or no time is left.

    Not when the first solve was clean and its certificate step had SCS solve the centred programs, or had them
    due when its budget ran out (:func:`sosrelax.prove.prove`): that is the same second opinion on better
    conditioned programs, and on the chained problems of ``benchmarks/bench_certificate_stage.py`` the solve of
    the whole relaxation by SCS then proved nothing better (at n = 1000 it stops at its time limit)."""
    if not (setup.certificate and fallback and fallback != setup.solver and _weak(setup, first)
            and first.status in (Status.OPTIMAL, Status.INACCURATE)):
        return None
    if fallback == "scs" and first.scs_centred and first.sol.status is SolverStatus.OPTIMAL:
        return None
    if not deadline.allows(2.0 * first.finish_s):  # a solve, and the exact rounding and check after it
        deadline.short(f"second opinion ({fallback}) skipped")
        return None
    return _attempt(setup, fallback, 1e-9, deadline, max(10.0, 3.0 * first.sol.solve_time))


def _info(setup: _Setup, chosen: _Attempt, attempts: list[_Attempt], t_build: float,
          deadline: Deadline) -> dict[str, Any]:
    """``SolveResult.info``: sizes, the backend's report, timings and what the time limit cut short."""
    sol, relax, k = chosen.sol, setup.relax, setup.factor
    info: dict[str, Any] = {
        "relaxation": setup.relaxation,
        "level": relax.level,
        "scaled": setup.scaling is not None,
        "sizes": relax.sizes(),
        "solver": sol.solver,
        "solver_status": sol.solver_status,
        "solver_message": sol.message,
        "attempts": [(a.sol.solver, a.sol.status.value, a.sol.solve_time) for a in attempts],
        "iterations": sol.iterations,
        "residuals": sol.residuals,
        "primal_objective": k * relax.sign * sol.primal_objective,
        "dual_objective": k * relax.sign * sol.dual_objective,
        "time": _stage_times(attempts, t_build, deadline),
    }
    if deadline.ran_out:
        info["time_limit_cut"] = list(deadline.shortfalls)
    return info


def _stage_times(attempts: list[_Attempt], t_build: float, deadline: Deadline) -> dict[str, float]:
    """Seconds of each stage of the call: ``build`` (the relaxation), ``solve`` (the backends' solves of it),
    ``certificate`` (the whole certificate step; ``certify`` is the same number), within it ``rounding`` (exact
    rounding), ``check`` (the independent checker) and ``resolves`` (centred and facial re-solves), and ``total``
    (the whole call; :func:`_result` adds ``minimisers``, the moments read for atom extraction)."""
    return {
        "build": t_build,
        "solve": sum(a.sol.solve_time for a in attempts),
        "certificate": sum(a.t_cert for a in attempts),
        "certify": sum(a.t_cert for a in attempts),
        "rounding": sum(a.round_s for a in attempts),
        "check": sum(a.check_s for a in attempts),
        "resolves": sum(a.resolve_s for a in attempts),
        "total": deadline.elapsed(),
    }


def _pseudo(setup: _Setup, chosen: _Attempt, info: dict[str, Any], deadline: Deadline) -> Any:
    """The pseudodistribution of the relaxation's moments (of the user's problem), or ``None``; a sparse
    relaxation's per-clique ones go to ``info["clique_pseudodistributions"]``."""
    sol, relax, problem = chosen.sol, setup.relax, setup.problem
    if chosen.status not in (Status.OPTIMAL, Status.INACCURATE) or sol.x is None:
        return None
    from sosrelax.adversary.pseudo import PseudoDistribution, flatness_offset

    moments = np.asarray(sol.x, dtype=float)
    if setup.scaling is not None:
        moments = setup.scaling.moments_to_original(relax.moment_exps, moments)
    if not (np.all(np.isfinite(moments)) and moments[0] > 0):
        return None
    if relax.cliques is not None:  # a sparse relaxation carries moments per clique only
        info["clique_pseudodistributions"] = relax.clique_pseudodistributions(moments)
        return None
    pseudo = PseudoDistribution(variables=problem.variables, exps=relax.moment_exps, moments=moments,
                                level=relax.level, offset=flatness_offset(problem))
    if (relax.cone != "psd" or relax.products or _moment_order(problem, relax.level + 1) > _FACE_MOMENT_ORDER
            or not deadline.allows(4.0 * sol.solve_time) or pseudo.atoms().found):
        return pseudo
    face = _optimal_face_pseudo(setup, chosen, pseudo.offset, deadline)
    if face is not None:
        info["pseudo"] = f"moments of the optimal face at level {face.level} (relative interior)"
    return face if face is not None else pseudo


#: Largest moment matrix (order) on which :func:`solve` looks for the optimal face's moments when the
#: relaxation's own moments give no atoms (a dense solve of that size, at most twice).
_FACE_MOMENT_ORDER = 120


def _moment_order(problem: Problem, level: int) -> int:
    """The order of the moment matrix ``M_level`` on all of ``problem``'s variables."""
    return math.comb(len(problem.variables) + level, level)


def _optimal_face_pseudo(setup: _Setup, chosen: _Attempt, offset: int, deadline: Deadline) -> Any:
    """Moments in the relative interior of the relaxation's optimal face, on the whole moment matrix, or ``None``.

    The polynomials that vanish at every minimiser of an exact relaxation (the range of the optimal Gram matrices,
    :func:`~sosrelax.relax.facial.face_polynomials`) are added as equalities and the relaxation is solved again
    without the Newton polytope's reduction, at its level and one above: its moment matrices are then flat
    (their ranks stop growing), so that every minimiser is an atom.  Kept only when its value is the
    relaxation's (relative ``1e-6``) and its atoms are found.
    """
    from sosrelax.adversary.pseudo import PseudoDistribution
    from sosrelax.relax.facial import face_polynomials

    relax, sol, scaled = setup.relax, chosen.sol, setup.relax.problem
    if scaled is None or sol.z is None:
        return None
    hs = face_polynomials(relax, sol.x, sol.z)
    if not hs:
        return None
    cut = Problem(minimize=scaled.minimization_objective,
                  subject_to=[*(g >= 0 for g in scaled.inequalities), *(h == 0 for h in scaled.equalities),
                              *(h == 0 for h in hs)], variables=scaled.variables)
    value = -float(sol.z[0])
    for level in (relax.level, relax.level + 1):
        if not deadline.allows(4.0 * sol.solve_time):
            deadline.short("minimiser moments skipped")
            break
        face = build_moment_relaxation(cut, level, newton=False)
        fsol = solve_conic(face.program, "clarabel", time_limit=deadline.solver_limit(0.0))
        if (fsol.x is None or not np.all(np.isfinite(fsol.x)) or fsol.status not in (
                SolverStatus.OPTIMAL, SolverStatus.INACCURATE)
                or abs(fsol.primal_objective - value) > 1e-6 * (1.0 + abs(value))):
            continue
        moments = np.asarray(fsol.x, dtype=float)
        if setup.scaling is not None:
            moments = setup.scaling.moments_to_original(face.moment_exps, moments)
        if not moments[face.zero_moment_index()] > 0:
            continue
        pseudo = PseudoDistribution(variables=setup.problem.variables, exps=face.moment_exps, moments=moments,
                                    level=level, offset=offset)
        if pseudo.atoms().found:
            return pseudo
    return None


def _final_status(setup: _Setup, chosen: _Attempt, bound: float | None, deadline: Deadline) -> Status:
    """The result's status: a proven bound makes an unsure solve ``OPTIMAL``; a relaxation with no bound is
    ``UNBOUNDED`` only when the problem itself is (:func:`_unbounded_problem`); no proof because the time limit
    cut the certificate step short is ``TIME_LIMIT``."""
    status = chosen.status
    if bound is not None and status is Status.INACCURATE:
        return Status.OPTIMAL  # the solver was unsure, but the bound is proven
    if status is Status.NO_BOUND and _unbounded_problem(setup.problem):
        return Status.UNBOUNDED
    if bound is None and deadline.ran_out and status in (Status.OPTIMAL, Status.INACCURATE):
        return Status.TIME_LIMIT
    return status


def _unbounded_problem(problem: Problem, samples: int = 64) -> bool:
    """Whether the problem's own optimum is infinite, shown by a ray: with no constraints, ``f(t·d) → −∞``
    (minimisation) as ``t → ∞`` along a direction ``d`` where the top-degree form ``f_D`` of ``f`` is negative
    (any nonzero form of odd degree is, somewhere).  ``False`` means "not shown", not "bounded"."""
    if problem.inequalities or problem.equalities:
        return False
    f = problem.minimization_objective
    top = f.exps.sum(axis=1) == f.degree
    if f.degree == 0 or not np.any(top):
        return False
    if f.degree % 2 == 1:
        return True
    d = np.random.default_rng(0).standard_normal((samples, f.exps.shape[1]))
    values = np.prod(d[:, None, :] ** f.exps[top][None, :, :], axis=2) @ f.coefs[top]
    return bool(np.any(values < 0))


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
    fallback: str | None = "scs",
    solver_options: dict[str, Any] | None = None,
    device: str | None = None,
    memory_limit: float | None = None,
    progress: bool | str = "auto",
) -> SolveResult:
    """Bound the optimum of ``problem`` with a convex relaxation and prove the bound.

    Parameters
    ----------
    problem : Problem or SOSProgram
        ``minimise`` or ``maximise`` a polynomial over ``{g_i >= 0, h_j = 0}``; an
        :class:`~sosrelax.program.SOSProgram` is solved by :func:`sosrelax.program.solve_program` (``solver``,
        ``certificate``, ``tolerance``, ``time_limit``, ``verbose`` and ``solver_options`` apply) and gives a
        :class:`~sosrelax.program.ProgramResult`.
    relaxation : {"sos", "sdp", "lp", "dsos", "sdsos"}
        ``"sos"``: the Lasserre/Putinar moment–SOS relaxation of order ``level``; ``"sdp"``: Shor's relaxation
        of a quadratic problem (= ``"sos"`` at level 1); ``"lp"``: Sherali–Adams / Handelman products of the
        inequalities up to degree ``2·level`` (a linear program); ``"dsos"`` / ``"sdsos"``: the ``"sos"``
        construction with diagonally dominant (LP) / scaled diagonally dominant (SOCP) Gram matrices.  At the
        same level the bounds are ordered ``dsos <= sdsos <= sos`` (minimisation).
    level : int, optional
        The relaxation order ``d`` (moments up to degree ``2d``); default: the smallest admissible.
    solver : str
        A backend name from :func:`sosrelax.solvers.available_solvers` (``"clarabel"`` by default).
    sparsity : {None, "correlative", "term", "correlative+term"}
        ``"correlative"``: one moment matrix per clique of a chordal extension of the variables' correlative
        sparsity graph; ``"term"``: block-diagonal Gram matrices from term sparsity (TSSOS); both combined.
        Not for ``"lp"``.  A sparse relaxation is a relaxation of the dense one: valid, never tighter.
        ``info["sizes"]`` reports the cliques and block sizes.
    certificate : bool
        Extract a certificate from the dual and have the independent checker prove it (default).  Without it,
        :attr:`SolveResult.bound` stays ``None``.
    time_limit : float, optional
        Wall-clock seconds for the whole call: relaxation build, solves (their backends' time limits are set
        from what is left) and the certificate step (exact rounding and check included), which starts no new
        attempt that is expected to end after the limit and keeps the best proof so far.  A backend checks
        its limit between iterations, so the call may end later by about one iteration.  When the limit
        leaves no proof, ``status`` is ``"time_limit"``; what it cut short is in ``info["time_limit_cut"]``.
    tolerance, verbose
        Passed to the backend.
    progress : bool or "auto"
        Draw one line on stderr with the phase, the time elapsed and the budget left; ``"auto"``: when stderr
        is a terminal or in a Jupyter notebook.  Phases are also logged on the ``sosrelax.*`` loggers.
    solver_options : dict, optional
        Backend options passed through to ``solver`` (e.g. ``{"method": "admm"}`` for ``"firstorder"``).
    device : {None, "cpu", "gpu", "auto"}
        Where the first-order backend (``solver="firstorder"``) runs; ``"auto"`` takes a GPU when cupy
        and CUDA are present.  ``None``: the backend's default (the CPU).  Other solvers run on the CPU
        only: for them anything but ``None``/``"cpu"`` raises :class:`~sosrelax.errors.InvalidValueError`.
    memory_limit : float, optional
        Bytes the dense relaxation may need (:func:`sosrelax.relax.footprint.estimate`, a lower estimate
        computed before anything is built); above it :class:`~sosrelax.errors.SizeLimitError` is raised
        with the sizes and what to do instead.  ``None``: half the physical memory
        (:func:`sosrelax.relax.footprint.default_memory_limit`); ``math.inf``: no check.  Sparse and
        ``"lp"`` relaxations are not estimated.
    fallback : str or None
        A second backend (SCS by default) tried at high accuracy when the first one stops short or its
        certificate proves a noticeably weaker bound; the better *proven* bound is kept.  ``None``: never.
    scale : bool
        Rescale variables to about ``[-1, 1]`` and polynomials to unit size before relaxing (exactly, see
        :mod:`sosrelax.relax.scaling`; the bound and the certificate are for the original problem).

    Returns
    -------
    SolveResult
        ``bound`` is a *proven* lower bound (minimise) or upper bound (maximise) on the problem's optimum, or
        ``None``.  Never raises on an infeasible, unbounded or badly solved relaxation: see ``status``
        (``"no_bound"``: the relaxation gives no bound at this level).
    """
    from sosrelax.program import SOSProgram, solve_program

    if isinstance(problem, SOSProgram):  # an SOS program (polynomial unknowns): sosrelax.program solves it
        return solve_program(problem, solver=solver, certificate=certificate, tolerance=tolerance,
                             time_limit=time_limit, verbose=verbose, solver_options=solver_options)
    solver_options = _checked_input(problem, relaxation, level, solver, sparsity, device, solver_options,
                                    memory_limit)
    line = ProgressLine() if progress_enabled(progress) else None
    deadline = Deadline(time_limit, progress=line)
    try:
        with deadline.phase("build", logger):
            scaling = choose_scaling(problem) if scale else None
            relax = _build(scaling.scaled_problem if scaling is not None else problem, relaxation, level,
                           sparsity)
        t_build = deadline.elapsed()
        setup = _Setup(problem, relax, scaling, relaxation, solver, certificate, verbose, solver_options)
        attempts = [_attempt(setup, solver, tolerance, deadline, None)]
        second = _second_opinion(setup, attempts[0], fallback, deadline)
        chosen = attempts[0]
        if second is not None:
            attempts.append(second)
            if second.proves_more_than(chosen, relax.sign):
                chosen = second
        return _result(setup, chosen, attempts, t_build, deadline)
    finally:
        if line is not None:
            line.close()


def _checked_input(problem: Problem, relaxation: str, level: int | None, solver: str, sparsity: str | None,
                   device: str | None, solver_options: dict[str, Any] | None,
                   memory_limit: float | None) -> dict[str, Any] | None:
    """Refuse what :func:`solve` cannot take before any work; returns the backend options with ``device``."""
    if not isinstance(problem, Problem):
        raise InvalidValueError(
            f"solve() expects a sosrelax.Problem, got {type(problem).__name__}; build one with "
            "sr.Problem(minimize=f, subject_to=[...])"
        )
    solver_options = _with_device(solver, device, solver_options)
    if relaxation in _CONES and sparsity in (None, "none"):
        from sosrelax.relax.footprint import check_fits

        lvl = level if isinstance(level, int) and not isinstance(level, bool) else None  # _build checks it
        check_fits(problem, 1 if relaxation == "sdp" else lvl, _CONES[relaxation], solver, memory_limit)
    return solver_options


def _result(setup: _Setup, chosen: _Attempt, attempts: list[_Attempt], t_build: float,
            deadline: Deadline) -> SolveResult:
    """The :class:`SolveResult` of the chosen attempt."""
    problem, sol, report, cert = setup.problem, chosen.sol, chosen.report, chosen.cert
    info = _info(setup, chosen, attempts, t_build, deadline)
    solver_bound = (
        setup.factor * setup.relax.bound_from_dual(sol.dual_objective) if chosen.status is Status.OPTIMAL else None
    )
    bound: float | None = None
    if report is not None and report.valid and cert is not None and cert.kind != "infeasible":
        assert report.bound is not None
        # the float of a proven rational bound must stay on the proven side
        bound = float_toward(report.bound, down=problem.sense is Sense.MINIMIZE)
    status = _final_status(setup, chosen, bound, deadline)
    t_pseudo = deadline.elapsed()
    pseudo = _pseudo(setup, chosen, info, deadline)
    info["time"]["minimisers"] = deadline.elapsed() - t_pseudo
    info["time"]["total"] = deadline.elapsed()
    message = _message(status, problem, bound, solver_bound, report, sol, deadline)
    logger.info("%s", message)
    return SolveResult(status=status, bound=bound, solver_bound=solver_bound, certificate=cert, check=report,
                       pseudo=pseudo, info=info, message=message, problem=problem)


#: Values of ``device=``.
_DEVICES = ("cpu", "gpu", "auto")


def _with_device(
    solver: str, device: str | None, options: dict[str, Any] | None
) -> dict[str, Any] | None:
    """``options`` with ``device`` added for the first-order backend; other solvers run on the CPU."""
    if device is None:
        return options
    if not isinstance(device, str) or device.strip().lower() not in _DEVICES:
        raise InvalidValueError(f"device must be one of {', '.join(repr(d) for d in _DEVICES)} or None, "
                                f"got {device!r}")
    key = device.strip().lower()
    if solver == "firstorder":
        return {**(options or {}), "device": key}
    if key != "cpu":
        raise InvalidValueError(
            f"device={device!r} needs solver='firstorder' (the first-order backend runs on the GPU); "
            f"solver {solver!r} runs on the CPU only: leave device=None or pass solver='firstorder'"
        )
    return options


def _message(
    status: Status,
    problem: Problem,
    bound: float | None,
    solver_bound: float | None,
    report: Any,
    sol: ConicSolution,
    deadline: Deadline,
) -> str:
    """The result's sentence: what was proven, or why nothing was."""
    side = "lower" if problem.sense is Sense.MINIMIZE else "upper"
    cut = f" (the time limit cut short: {'; '.join(deadline.shortfalls)})" if deadline.ran_out else ""
    if status is Status.OPTIMAL and bound is not None:
        said = (
            f"{solver_bound:.10g}"
            if solver_bound is not None
            else f"an inaccurate solve ({sol.solver_status})"
        )
        return f"proven {side} bound {bound:.10g} (solver reported {said}); certificate verified{cut}"
    if status is Status.INFEASIBLE:
        if report is not None and report.valid:
            return "the feasible set is empty; infeasibility certificate verified"
        return "the relaxation is infeasible (solver's word; the infeasibility certificate was not verified)"
    if status is Status.NO_BOUND:
        return (f"no {side} bound at this level: the relaxation is unbounded (its SOS side is infeasible); "
                "a higher level, or constraints that bound the variables, may give one")
    if status is Status.UNBOUNDED:
        return (f"the problem is unbounded: the objective goes to {'-' if side == 'lower' else '+'}infinity "
                "along a ray (the relaxation is unbounded too)")
    if status is Status.TIME_LIMIT and deadline.ran_out:
        return f"no bound proven: the time limit ran out{cut} (solver: {sol.message})"
    if status in (Status.OPTIMAL, Status.INACCURATE):
        why = report.reason if report is not None else "no certificate could be extracted"
        return f"no bound proven: {why} (solver: {sol.message})"
    return f"no bound: {sol.message}"

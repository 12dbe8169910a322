"""The certificate step of :func:`sosrelax.solve`: from a solved relaxation to a checked proof.

:func:`prove` rounds the solver's dual to an exact certificate and has the independent checker prove it.  When
that fails or proves a weaker bound than the solver's, it computes the most interior certificates for bounds
backed off below an estimate of the value (centred re-solves), bisects towards the value, and, for
unconstrained problems with zeros at infinity, certifies on the faces those zeros force
(:mod:`sosrelax.relax.facial`).  Only the checker's report counts.

Every attempt is bounded by one :class:`~sosrelax.budget.Deadline`: solver time limits come from it, and no
new attempt starts unless its expected cost (the last solve's and the last exact rounding's times) fits in what
is left; then the best proof so far is returned and the deadline records that the time ran out.

The checker (:mod:`sosrelax.certificate.check`) never imports this module.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from fractions import Fraction
from typing import Any

import numpy as np
import scipy.optimize

from sosrelax.budget import Deadline
from sosrelax.certificate.check import CheckReport
from sosrelax.certificate.format import Certificate
from sosrelax.conic import ConicSolution, SolverStatus
from sosrelax.problem import Problem
from sosrelax.relax.facial import FACE_SOURCES
from sosrelax.relax.moment import MomentRelaxation
from sosrelax.relax.scaling import Scaling
from sosrelax.solvers import solve_conic

__all__ = ["Proof", "ProofContext", "default_budget", "prove", "relative_gap", "round_weak"]

logger = logging.getLogger(__name__)

#: A certificate and the checker's report on it.
Proof = tuple[Certificate, CheckReport]

#: Tolerance of the first check: accept any proven bound, the pipeline judges how good it is.
_LOOSE = Fraction(1, 100)


@dataclass(frozen=True)
class ProofContext:
    """What the certificate step needs: the relaxation, the user's problem and the scaling between them.

    Attributes
    ----------
    relax : MomentRelaxation
        The relaxation that was solved (of the scaled problem when ``scaling`` is set).
    problem : Problem
        The user's problem; certificates are mapped back to it before they are checked.
    scaling : Scaling or None
        ``f = factor · F`` with ``F`` the relaxed objective, and the variable substitution.
    solver : str
        The backend that solved the relaxation.
    options : dict, optional
        Its options (passed again to re-solves by the same backend).
    iteration_s : float
        Estimated seconds of one interior-point iteration on this relaxation: a re-solve by an interior-point
        backend starts only when two fit, and its time limit keeps one and a half in reserve.
    notes : dict
        What the certificate step learnt: ``"estimate"``, an upper estimate of the relaxation's value (on the
        relaxed ``sign·F``) from the centred solves, when they ran; ``"finish_s"``, the seconds the first exact
        rounding and check took; ``"round_s"``, ``"check_s"`` and ``"resolve_s"``, the seconds spent in exact
        rounding, in the independent checker and in the certificate step's re-solves, in all;
        ``"scs_centred"`` (1.0), present when the centred programs were due to be solved by SCS too (the
        budget decides whether they were).
    """

    relax: MomentRelaxation
    problem: Problem
    scaling: Scaling | None
    solver: str
    options: dict[str, Any] | None = None
    notes: dict[str, float] = field(default_factory=dict)
    #: estimated seconds of one interior-point iteration on this relaxation (the centred programs have the
    #: same Gram blocks); a re-solve may overrun its time limit by one
    iteration_s: float = 0.0
    #: the running call's limits: ``"stop_at"``, the ``time.perf_counter()`` time by which the iterative
    #: corrections of a rounding give up (set by :func:`prove` from its deadline)
    limits: dict[str, float] = field(default_factory=dict)

    @property
    def factor(self) -> float:
        """``f = factor · F`` where ``F`` is the relaxed objective."""
        return float(self.scaling.objective_factor) if self.scaling is not None else 1.0

    def to_relaxed(self, bound: Fraction | None) -> float:
        """A bound on ``f`` expressed as a lower bound on the relaxed ``sign·F`` (``-inf`` for none)."""
        if bound is None:
            return -float("inf")
        return self.relax.sign * float(bound) / self.factor

    def finish(self, cert: Certificate, faces: list[Any] | None = None) -> Proof:
        """Make a float certificate of the relaxed problem exact (on ``faces`` when given: see
        :mod:`sosrelax.relax.facial`), map it to the user's problem, check it."""
        from sosrelax.certificate.check import check_certificate
        from sosrelax.certificate.cliqueround import round_blocks
        from sosrelax.certificate.extract import with_substitution
        from sosrelax.certificate.rational import (
            rationalize,
            rationalize_in_face,
            rationalize_on_faces,
        )

        box = _box(self.problem)
        if box is not None:
            cert = replace(cert, box=box)
        if self.scaling is not None:
            cert = with_substitution(cert, self.scaling, self.problem)
        t0 = time.perf_counter()
        exact = None
        if faces and (cert.equality_multipliers or any(m.constraint is not None for m in cert.sos)):
            n = len(self.relax.variables)
            eq_bases = [[tuple(int(v) for v in row) for row in blk.full_basis(n)]
                        for blk in self.relax.equality_blocks]
            exact = rationalize_on_faces(cert, faces, eq_bases)
        elif faces:
            exact = rationalize_in_face(cert, faces)
        if exact is None and not faces:
            exact = round_blocks(cert, stop_at=self.limits.get("stop_at"))  # σ₀ blocks only: in bulk
        if exact is None:
            exact = rationalize(cert)
        t1 = time.perf_counter()
        report = check_certificate(exact, tolerance=_LOOSE)
        if report.valid and report.bound is not None and report.bound != exact.bound:
            # the identity proves a (slightly) different bound than the solver's: restate the
            # certificate with the proven bound, rounded to a short rational on the weak side, and
            # check it again so that the file and the report agree under the default tolerance
            exact = replace(exact, bound=round_weak(report.bound, exact.kind))
            report = check_certificate(exact)
        t2 = time.perf_counter()
        self._add("round_s", t1 - t0)
        self._add("check_s", t2 - t1)
        return exact, report

    def _add(self, key: str, seconds: float) -> None:
        self.notes[key] = self.notes.get(key, 0.0) + seconds


def round_weak(b: Fraction, kind: str) -> Fraction:
    """``b`` rounded to a multiple of 2^-48, towards the weaker side of the bound (up for ``"upper_bound"``)."""
    den = 2**48
    q = b * den
    n = q.numerator // q.denominator  # floor
    if kind == "upper_bound" and n != q:
        n += 1
    return Fraction(n, den)


def default_budget(solve_time: float, finish_time: float) -> float:
    """Seconds the certificate strategy may spend without a time limit: 20 solves or 8 exact roundings
    (which dominate on long chains), at least 30 s."""
    return max(30.0, 20.0 * solve_time, 8.0 * finish_time)


def relative_gap(a: float, b: float) -> float:
    """``|a − b| / (1 + |b|)``: relative distance of two values in the user's units."""
    return abs(a - b) / (1.0 + abs(b))


@dataclass
class _Costs:
    """Observed durations (seconds) that predict the next attempt's cost."""

    solve: float
    finish: float = 0.0
    iteration: float = 0.0

    def attempt(self, solver: str) -> float:
        """Expected cost of one more centred solve and its exact rounding and check.  A re-solve starts
        from scratch but from a well-scaled program; half the first solve's time is its typical cost, and
        an interior-point solve cut short before its second iteration gives nothing."""
        iteration = 0.0 if solver == "scs" else self.iteration
        return max(0.5 * self.solve, 2.0 * iteration) + self.finish


class _Strategy:
    """One run of the backoff / bisection / facial strategy against a deadline."""

    def __init__(self, ctx: ProofContext, deadline: Deadline, costs: _Costs, metadata: dict[str, str],
                 strict: bool) -> None:
        self.ctx = ctx
        self.deadline = deadline
        self.costs = costs
        self.metadata = metadata
        #: under the caller's time limit, attempts must be expected to end before the deadline; without one,
        #: the strategy's own budget only stops attempts from *starting* after it
        self.strict = strict
        #: set once Clarabel gave up on the weighted centred program and the unweighted one was usable: on
        #: this relaxation only the unweighted program is solved from then on
        self.unweighted_only = False

    def may_start(self, what: str, cost: float) -> bool:
        """Whether an attempt expected to take ``cost`` seconds fits in the budget (else recorded as cut)."""
        self.deadline.tick()
        if self.deadline.allows(cost if self.strict else 0.0):
            return True
        self.deadline.short(what)
        return False

    def finish(self, cert: Certificate, faces: list[Any] | None = None) -> Proof | None:
        """:meth:`ProofContext.finish`, when its expected cost fits; its duration updates the estimate."""
        if self.strict and not self.may_start("exact rounding of a centred certificate", self.costs.finish):
            return None
        t0 = time.perf_counter()
        out = self.ctx.finish(cert, faces=faces)
        self.costs.finish = max(self.costs.finish, time.perf_counter() - t0)
        return out

    def solve(self, prog: Any, solver: str, **kw: Any) -> ConicSolution:
        """A re-solve limited to what is left (less one exact rounding)."""
        reserve = self.costs.finish + (0.0 if solver == "scs" else 1.5 * self.costs.iteration)
        if not self.strict:
            reserve = 0.0
        t0 = time.perf_counter()
        sol = solve_conic(prog, solver, time_limit=self.deadline.solver_limit(reserve), **kw)
        self.ctx._add("resolve_s", time.perf_counter() - t0)
        self.costs.solve = time.perf_counter() - t0 if sol.status is SolverStatus.OPTIMAL else self.costs.solve
        if solver != "scs" and sol.iterations > 0:  # the machine's speed now, as this backend saw it
            self.costs.iteration = max(self.costs.iteration, sol.solve_time / sol.iterations)
        return sol


def prove(
    ctx: ProofContext,
    sol: ConicSolution,
    *,
    infeasible: bool,
    metadata: dict[str, str],
    deadline: Deadline,
    budget: float | None = None,
) -> tuple[Certificate | None, CheckReport | None]:
    """Extract, make exact and check a certificate; returns (certificate, report) or (None, None).

    First the solver's own dual is rounded and checked.  If that fails (optimal Gram matrices are singular, so
    rounding breaks positive semidefiniteness) or proves a bound weaker than the solver's by more than a
    relative ``1e-6``, the most interior certificates
    (:func:`~sosrelax.relax.moment.centered_feasibility_program`) for bounds backed off below an estimate of
    the value are computed; their Gram matrices are definite with a margin that survives rounding.  Whatever
    comes out, only the checker's report counts.

    Parameters
    ----------
    ctx : ProofContext
    sol : ConicSolution
        The relaxation's solution (its dual ``z`` is the certificate's source).
    infeasible : bool
        Certify infeasibility (``sol.z`` is a Farkas ray) instead of a bound.
    metadata : dict
        Written into the certificate.
    deadline : Deadline
        Nothing starts that is expected to end after it; the best proof so far is returned then.
    budget : float, optional
        Seconds the re-solves may take (within ``deadline``); default :func:`default_budget`.
    """
    from sosrelax.certificate.extract import certificate_from_moment_dual

    relax = ctx.relax
    if sol.z is None or not np.all(np.isfinite(sol.z)):
        return None, None
    if deadline.expired():
        deadline.short("certificate step skipped")
        return None, None
    if deadline.limited and deadline.clock is time.perf_counter:
        ctx.limits["stop_at"] = deadline.end
    gamma_solver = -float(sol.z[0])  # the solver's lower bound on sign*F
    face_proof: Proof | None = None
    attained = float("inf")
    if not infeasible and relax.cliques is not None:
        # a sparse relaxation of an unconstrained problem: the certificate on its minimisers' face first (see
        # sosrelax.relax.minface.prove_on_face); on long chains the solver's own dual never rounds
        from sosrelax.relax.minface import finish_estimate, prove_on_face

        t0 = time.perf_counter()
        face_proof, attained = prove_on_face(ctx, sol, metadata, deadline)
        if face_proof is None and deadline.limited and not deadline.allows(finish_estimate(relax)):
            deadline.short("exact rounding of the solver's dual")
            return None, None
        if face_proof is not None:
            ctx.notes["finish_s"] = time.perf_counter() - t0
            close = relative_gap(ctx.factor * ctx.to_relaxed(face_proof[1].bound),
                                 ctx.factor * min(gamma_solver, attained))
            if close <= 1e-5:
                # the objective at a point bounds the relaxation's value from above: the value estimate
                ctx.notes["estimate"] = min(gamma_solver, attained)
                return face_proof
    t_finish = time.perf_counter()
    best = ctx.finish(certificate_from_moment_dual(relax, sol.z, infeasible=infeasible, metadata=metadata))
    t_finish = time.perf_counter() - t_finish
    ctx.notes["finish_s"] = t_finish
    logger.debug("first certificate: %s in %.3g s", "valid" if best[1].valid else best[1].reason, t_finish)
    if infeasible:
        return best
    if face_proof is not None and _improves(ctx, face_proof, best):
        best = face_proof
    # the relaxation's value is at most the objective's at any feasible point: where the solver overshoots
    # (chains with singular optimal Gram matrices), that caps the value the proofs are measured against
    ceiling = min(gamma_solver, attained if np.isfinite(attained) else _attained(ctx, sol))
    if best[1].valid:
        gap = relative_gap(ctx.factor * ctx.to_relaxed(best[1].bound), ctx.factor * ceiling)  # user units
        # close to the solver's value, or the solver was unsure of it anyway: keep the proof
        if gap <= 1e-6 or (sol.status is not SolverStatus.OPTIMAL and gap <= 1e-5):
            return best
    # The most interior certificate for a bound a little below the optimum: its Gram matrices are definite
    # with a margin t that survives rounding.  Each centred solve also *estimates* the optimum: for the
    # moments y it returns, gamma -> L_y(f) - gamma*y_0 bounds t(gamma) from above and vanishes at
    # gamma + t/y_0, an upper estimate of the relaxation's value that is exact near it (t is linear there, with
    # slope -1/y_0).  So an inaccurate first solve (even one above the true optimum) is corrected by the first
    # centred solve, and the backoff grows until the margin beats the rounding.
    # Two passes: the interior-point solver alone (cheap); then, if its proof is missing or more than 1e-5
    # below the first solve's value, SCS at high accuracy (slow, but right where the interior point stalls),
    # within what is left of the budget.  The better proof is kept.
    dl = deadline.within(default_budget(sol.solve_time, t_finish) if budget is None else budget)
    run = _Strategy(ctx, dl, _Costs(sol.solve_time, t_finish, ctx.iteration_s), metadata, deadline.limited)
    centred_solver = "clarabel" if ctx.solver in ("scs", "clarabel") else ctx.solver
    best, estimate, final = _on_faces(run, best, gamma_solver, sol, ceiling)
    if final:
        ctx.notes["estimate"] = estimate
        return best
    best, estimate = _backoff(run, best, gamma_solver, centred_solver, ceiling)
    far = (
        not best[1].valid
        or relative_gap(ctx.factor * ctx.to_relaxed(best[1].bound), ctx.factor * ceiling) > 1e-5
    )
    if far and centred_solver == "clarabel":
        ctx.notes["scs_centred"] = 1.0  # due (whether or not the budget lets it start)
    if far and centred_solver == "clarabel" and run.may_start("SCS centred re-solves", run.costs.attempt("scs")):
        best, estimate2 = _backoff(run, best, gamma_solver, "scs", ceiling)
        if estimate2 < gamma_solver:
            estimate = estimate2  # SCS's estimate is the more accurate where it has one
    ctx.notes["estimate"] = estimate
    return best


def _improves(ctx: ProofContext, second: Proof, best: Proof) -> bool:
    """Whether a checked certificate proves a better bound than the best in hand (or the best has none)."""
    return second[1].valid and (
        not best[1].valid or ctx.to_relaxed(second[1].bound) > ctx.to_relaxed(best[1].bound)
    )


def _value_estimate(sol: ConicSolution, zero: int, gamma: float, t: float) -> float | None:
    """``γ + t/y₀``, the upper estimate of the relaxation's value from a centred solution (``None`` unless the
    solve was clean); see :func:`prove`."""
    y0 = float(sol.x[zero]) if sol.x is not None else 0.0
    if sol.status is SolverStatus.OPTIMAL and np.isfinite(y0) and y0 > 0 and np.isfinite(t):
        return gamma + t / y0
    return None


def _backoff(run: _Strategy, best: Proof, gamma_solver: float, solver: str, ceiling: float | None = None
             ) -> tuple[Proof, float]:
    """Centred certificates for bounds backed off below the running estimate of the value, until one checks;
    then bisection between the proof and ``ceiling`` (the first solve's value, or less where the objective is
    known to attain less)."""
    ctx = run.ctx
    relax = ctx.relax
    scale = 1.0 + abs(ctx.factor * gamma_solver)  # the backoff is relative in the user's units
    # with no proof yet, backed off from the value, which is at most the objective at a point (the ceiling)
    # where the solver's overshoots it (chains with singular optimal Gram matrices); a second pass starts from
    # the solver's value and its own estimates
    estimate = gamma_solver if ceiling is None or best[1].valid else min(gamma_solver, ceiling)
    zero = relax.zero_moment_index()
    # backoffs in the user's units: relative to the value; with no proof in hand, then also relative to the
    # objective's largest coefficient (the relaxed problem's unit), for data far larger than the value
    steps = [
        r * scale
        for r in ((1e-7, 1e-6, 5e-6, 2e-5, 1e-4) if not best[1].valid else (1e-7, 1e-6, 5e-6))
    ]
    if not best[1].valid and ctx.factor > scale:
        steps += [r * ctx.factor for r in (1e-5, 1e-4)]
    for step in steps:
        if not run.may_start(f"centred re-solve ({solver})", run.costs.attempt(solver)):
            break
        gamma = estimate - step / ctx.factor
        if best[1].valid and gamma <= ctx.to_relaxed(best[1].bound):
            break  # further backoff cannot beat the proof in hand
        done = False
        for sol2 in _centred_solves(run, gamma, solver):
            assert sol2.z is not None  # _centred_solves yields finite duals only
            guess = _value_estimate(sol2, zero, gamma, -float(sol2.z[0]))
            if guess is not None:
                estimate = min(estimate, guess)
            z2, reach, margins = _interior(relax, sol2.z, gamma)
            if reach < gamma and (relax.cliques is None or best[1].valid
                                  or (gamma - reach) * ctx.factor > steps[-1]):
                # no interior certificate at this bound (by this solver's word); see the bisection.  On a sparse
                # relaxation with no proof yet, the one for the bound it can reach is tried when that is within
                # the largest backoff (it loses the margin of a few blocks only: see _interior)
                continue
            second = _centred_certificate(run, relax, z2, gamma, gamma_solver, "centred", solver, margins)
            if second is None:
                return best, estimate
            if second[1].valid:
                if _improves(ctx, second, best):
                    best = second
                done = True
                break
        if done:
            break
    if not best[1].valid:
        return best, estimate
    # The estimate is only as good as the solver: on long chains its residuals, summed over thousands of
    # monomials, bias it by more than the backoff.  Bisect between the proof and the first solve's value (which
    # the biased estimate may undercut), while the budget lasts.  Here a centred solution whose margin came out
    # negative is certified from the solver's interior Gram matrices, for the bound it can reach (see
    # _interior), if that beats the proof.
    lo, hi = ctx.to_relaxed(best[1].bound), gamma_solver if ceiling is None else min(gamma_solver, ceiling)
    # on a sparse relaxation (long chains: every step is a full solve and an exact rounding of a thousand
    # blocks, and the ceiling itself is only as accurate as the solver) a proof within 1e-5 ends the search
    enough = 1e-5 if relax.cliques is not None else 1e-6
    for step in range(4):
        if (hi - lo) * ctx.factor <= 0.5 * enough * scale:  # scale = 1 + |value|: within `enough` of 1
            break
        if not run.may_start(f"bisection re-solve ({solver})", run.costs.attempt(solver)):
            break
        gamma = 0.5 * (lo + hi)
        if step == 0 and relax.cliques is not None:
            # a sparse relaxation's certificates mostly reach their bound (see _interior): the target first
            gamma = max(gamma, hi - 0.25 * enough * scale / ctx.factor)
        proved = False
        for sol2 in _centred_solves(run, gamma, solver):
            assert sol2.z is not None
            z2, reach, margins = _interior(relax, sol2.z, gamma)
            if reach <= lo:
                continue
            second = _centred_certificate(run, relax, z2, gamma, gamma_solver, "bisection", solver, margins)
            if second is None:
                return best, estimate
            if _improves(ctx, second, best):
                best, proved = second, True
                break
        if proved:
            lo = ctx.to_relaxed(best[1].bound)
        else:
            hi = gamma
    return best, estimate


def _faces(ctx: ProofContext) -> list[Any]:
    """The faces forced by zeros at infinity of an unconstrained problem's objective (see
    :mod:`sosrelax.relax.facial`); empty when there are none or the relaxation has other multipliers."""
    from sosrelax.relax.facial import faces_along_directions, faces_at_infinity, zeros_at_infinity

    relax = ctx.relax
    if (relax.problem is None or relax.equality_blocks or relax.products
            or any(blk.constraint is not None or blk.cone != "psd" for blk in relax.gram_blocks)):
        return []
    V = zeros_at_infinity(relax)
    faces = faces_at_infinity(relax, V) if V else []
    return faces or faces_along_directions(relax)


def _on_faces(run: _Strategy, best: Proof, gamma_solver: float, sol: ConicSolution, ceiling: float
              ) -> tuple[Proof, float, bool]:
    """Certificates on faces where every (or every optimal) certificate lies, so that no Gram matrix can be
    definite and the backoff with a margin cannot succeed: the face at a rational minimiser (with the zeros at
    infinity's), the faces that zeros at infinity force, then those read off the solution (:data:`~sosrelax.relax.facial.FACE_SOURCES`), each refined once more from the face
    program's own solution at the value when no proof close to the value came out.  Returns the best proof, the estimate and
    whether the proof is final (on faces at infinity, any proof; on faces read off the solution, one within a
    relative ``1e-6`` of the value)."""
    from sosrelax.relax.facial import faces_from_solution

    ctx = run.ctx
    tried: list[list[Any]] = []
    estimate = gamma_solver
    infinity = _faces(ctx)
    for source in ("minimiser", "infinity", *FACE_SOURCES):
        value = None
        if source == "infinity":
            faces = infinity
        elif source == "minimiser":
            faces, value = _minimiser_faces(ctx, sol)
            if value is not None:  # attained at a point: the relaxation's value is at most that
                estimate = min(estimate, value)
                ceiling = min(ceiling, value)
        else:
            faces = _solution_faces(ctx, sol, source)
        steps = _FACE_STEPS if source == "infinity" else _SOLUTION_FACE_STEPS
        for _round in range(2):
            if not faces or faces in tried:
                break
            tried.append(faces)
            logger.debug("faces (%s): %s", source, [(f.block, len(f.U), len(f.U[0]) if f.U else 0) for f in faces])
            best, guess, flat = _face_backoff(run, best, gamma_solver, faces, steps, value)
            estimate = min(estimate, guess)
            if best[1].valid and relative_gap(ctx.factor * ctx.to_relaxed(best[1].bound),
                                              ctx.factor * ceiling) <= 1e-6:
                return best, estimate, True
            if flat is None:
                break
            finer = {f.block: f for f in faces_from_solution(
                ctx.relax, None, flat, source="tight range", constraints=_constrained(ctx.relax))}
            faces = sorted(({f.block: f for f in faces} | finer).values(), key=lambda f: f.block)
    # with faces at infinity every certificate lies on them: the backoff without them cannot do better
    return best, estimate, bool(infinity and infinity in tried and best[1].valid)


def _attained(ctx: ProofContext, sol: ConicSolution) -> float:
    """The relaxed objective ``sign·F`` at a point found by a short local descent from points read off the
    solver's moments (:func:`~sosrelax.relax.descent.starting_points`), when the problem has no constraints
    (every point is feasible, so the relaxation's value is at most this), else ``inf``."""
    from sosrelax.relax.descent import descended_value, starting_points, unconstrained_objective

    relax = ctx.relax
    fun = unconstrained_objective(relax)
    if fun is None or sol.x is None:
        return float("inf")
    exps = relax.moment_exps
    y0 = float(sol.x[relax.zero_moment_index()])
    n = len(relax.variables)
    if n == 0 or np.count_nonzero(exps.sum(axis=1) == 1) != n or not y0 > 0:  # nothing to descend on
        return float("inf")
    return descended_value(fun, starting_points(exps, np.asarray(sol.x, dtype=float) / y0, n))


def _constrained(relax: MomentRelaxation) -> bool:
    return bool(relax.equality_blocks) or any(blk.constraint is not None for blk in relax.gram_blocks)


#: Above this many variables no minimiser is polished for a face (a dense local descent and exact gradient).
_MINIMISER_VARIABLES = 50


def _minimiser_faces(ctx: ProofContext, sol: ConicSolution) -> tuple[list[Any], float | None]:
    """The face of an unconstrained problem's σ₀ at a minimiser with short rational coordinates, and the exact
    value there (relaxed units).

    The mean of the solver's moments is polished by a local descent on the relaxed objective and rounded; it is
    kept only if the objective's gradient vanishes there exactly
    (:func:`~sosrelax.relax.facial.rational_critical_point`).  If it is a global minimiser, every certificate of
    the bound ``f(x*)`` has ``Q·z(x*) = 0`` (and the zeros at infinity's conditions,
    :func:`~sosrelax.relax.facial.faces_along_directions`): the smallest face, on which that bound, where no
    backed-off bound may be representable, can be certified exactly.  If not, the certificate fails."""
    from sosrelax.relax.facial import faces_along_directions, rational_critical_point

    relax = ctx.relax
    if (sol.x is None or relax.problem is None or relax.equality_blocks or relax.products
            or relax.cliques is not None or len(relax.variables) > _MINIMISER_VARIABLES
            or any(blk.constraint is not None or blk.cone != "psd" for blk in relax.gram_blocks)):
        return [], None
    n = len(relax.variables)
    exps = relax.moment_exps
    first = np.flatnonzero(exps.sum(axis=1) == 1)
    y0 = float(sol.x[relax.zero_moment_index()])
    if first.size != n or not y0 > 0:
        return [], None
    mean = np.zeros(n)
    mean[np.argmax(exps[first], axis=1)] = sol.x[first] / y0
    f = relax.problem.minimization_objective
    names = relax.variables
    out = scipy.optimize.minimize(lambda p: float(f.evaluate(p[None, :], names)[0]), mean,
                                  jac=lambda p: np.asarray(f.gradient(p[None, :], names), float).reshape(-1),
                                  method="BFGS", options={"gtol": 1e-12, "maxiter": 200})
    found = rational_critical_point(relax, out.x)
    if found is None:
        return [], None
    point, value = found
    faces = faces_along_directions(relax, points=[point])
    return faces, (float(value) if faces else None)


def _solution_faces(ctx: ProofContext, sol: ConicSolution, source: str) -> list[Any]:
    """The faces that complementarity with the solver's optimal moments forces on the SOS multipliers (see
    :func:`~sosrelax.relax.facial.faces_from_solution`; on the inequalities' multipliers too when there are
    constraints); empty for sparse or product relaxations, or when no face is exact."""
    from sosrelax.relax.facial import faces_from_solution

    relax = ctx.relax
    if (sol.z is None or sol.x is None or not np.all(np.isfinite(sol.x)) or relax.problem is None
            or relax.products or relax.cliques is not None or any(blk.cone != "psd" for blk in relax.gram_blocks)):
        return []
    return faces_from_solution(relax, sol.x, sol.z, constraints=_constrained(relax), source=source)


#: Backoffs (relative, in the user's units) of the centred certificates on faces at infinity, and on faces read
#: off the solution (fewer: those faces are guesses, and the value itself is tried first).
_FACE_STEPS = (1e-8, 1e-7, 1e-6, 1e-5, 1e-4, 1e-3)
_SOLUTION_FACE_STEPS = (1e-8, 1e-7, 1e-6)


def _face_backoff(run: _Strategy, best: Proof, gamma_solver: float, faces: list[Any],
                  steps: tuple[float, ...] = _FACE_STEPS, value: float | None = None
                  ) -> tuple[Proof, float, np.ndarray | None]:
    """Centred certificates on the faces, for bounds backed off below the running estimate of the value (as in
    :func:`_backoff`), made exact on the faces (:func:`~sosrelax.certificate.rational.rationalize_in_face`,
    :func:`~sosrelax.certificate.rational.rationalize_on_faces`).

    The value itself is tried first (``value``, relaxed units, when it is known exactly; then whenever the
    estimate is close to a short rational): on the smallest face,
    where the optimal Gram matrices are definite, no bound below the value may be representable at all
    (``f − f* = Σ p_j²`` with the ``p_j`` spanning the face leaves no room for a constant).  A centred solve
    also corrects the estimate (:func:`_value_estimate`), which matters where the first solve was inaccurate
    and the program on the face is better conditioned.

    Also returns the dual of the first solve at the value itself lifted to the whole relaxation: its Gram
    matrices lie on the faces, and their own ranges (read again, where a better conditioned program has made them
    accurate) give smaller faces to try when no proof close to the value came out.
    """
    ctx = run.ctx
    scale = 1.0 + abs(ctx.factor * gamma_solver)
    estimate = gamma_solver
    flat: np.ndarray | None = None
    tried: set[float] = set()
    pending = list(steps)
    while True:
        guess = _short_rational(ctx.factor * estimate)
        if value is not None and value not in tried:
            gamma, exact = value, True
        elif guess is not None and guess / ctx.factor not in tried:
            gamma, exact = guess / ctx.factor, True
        elif pending:
            gamma, exact = estimate - pending.pop(0) * scale / ctx.factor, False
        else:
            break
        tried.add(gamma)
        if not run.may_start("facial re-solve", run.costs.attempt("clarabel")):
            break
        if best[1].valid and gamma <= ctx.to_relaxed(best[1].bound):
            break
        proof, guessed, lifted, out_of_time = _face_attempt(run, gamma_solver, faces, gamma)
        if guessed is not None:
            estimate = min(estimate, guessed)
        if exact and flat is None:
            flat = lifted
        if proof is not None:
            return (proof if _improves(ctx, proof, best) else best), estimate, flat
        if out_of_time:
            break
    return best, estimate, flat


def _face_attempt(run: _Strategy, gamma_solver: float, faces: list[Any], gamma: float
                  ) -> tuple[Proof | None, float | None, np.ndarray | None, bool]:
    """Centred certificates on the faces for the bound ``gamma``: the face's echelon basis, then an orthonormal
    one, each with the objective weighted by the Gram order and not.  Returns the first proof the checker
    accepted (or ``None``), the value estimate of the first clean solve, the lifted dual of the first solve in
    the echelon basis, and whether the budget ran out."""
    from sosrelax.certificate.extract import certificate_from_centered_dual
    from sosrelax.relax.facial import face_program, lift_dual

    ctx = run.ctx
    relax = ctx.relax
    zero = relax.zero_moment_index()
    estimate: float | None = None
    lifted: np.ndarray | None = None
    for orthonormal in (False, True):
        prog, maps = face_program(relax, faces, gamma, orthonormal=orthonormal)
        order = float(sum(c.dim for c in prog.cones if c.kind.name == "PSD"))
        for weight in (order, 1.0):
            if not run.may_start("facial re-solve", run.costs.attempt("clarabel")):
                return None, estimate, lifted, True
            sol = run.solve(replace(prog, c=prog.c * weight), "clarabel")
            if sol.z is None or sol.x is None or not np.all(np.isfinite(sol.z)):
                continue
            if sol.status not in (SolverStatus.OPTIMAL, SolverStatus.INACCURATE):
                continue
            t = -float(sol.z[0]) / weight
            guess = None if orthonormal else _value_estimate(sol, zero, gamma, t)
            if guess is not None and estimate is None:
                estimate = guess
            if lifted is None and not orthonormal:
                lifted = lift_dual(maps, sol.z / weight, margin=t)
            if not t > 0:
                continue
            z = lift_dual(maps, sol.z / weight, margin=t)
            z[0] = 0.0  # the margin is inside the face's Gram matrices already
            meta = dict(run.metadata, certificate="centered-face", faces=str(len(faces)),
                        backoff=repr(gamma_solver - gamma))
            second = run.finish(certificate_from_centered_dual(relax, z, gamma, metadata=meta), faces=faces)
            logger.debug("face certificate at %.12g (margin %.3g, %s): %s", ctx.factor * gamma, t,
                         "orthonormal" if orthonormal else "echelon",
                         "none" if second is None else (second[1].bound if second[1].valid else second[1].reason))
            if second is None:
                return None, estimate, lifted, True
            if second[1].valid:
                return second, estimate, lifted, False
    return None, estimate, lifted, False


def _short_rational(v: float, max_denominator: int = 1000) -> float | None:
    """The rational of denominator at most ``max_denominator`` within ``1e-6·(1 + |v|)`` of ``v`` (as a float),
    or ``None``."""
    if not np.isfinite(v):
        return None
    q = Fraction(v).limit_denominator(max_denominator)
    return float(q) if abs(float(q) - v) <= 1e-6 * (1.0 + abs(v)) else None


def _centred_certificate(run: _Strategy, relax: MomentRelaxation, z2: np.ndarray, gamma: float,
                         gamma_solver: float, what: str, solver: str, margins: np.ndarray | None = None
                         ) -> Proof | None:
    """The certificate of a centred solution's interior dual at ``gamma`` (with per-block ``margins`` when
    given, see :func:`_interior`), finished by ``run`` (logged)."""
    from sosrelax.certificate.extract import certificate_from_centered_dual

    meta = dict(run.metadata, certificate="centered", backoff=repr(gamma_solver - gamma))
    second = run.finish(certificate_from_centered_dual(relax, z2, gamma, metadata=meta, margins=margins))
    logger.debug("%s certificate (%s) at %.12g: %s", what, solver, run.ctx.factor * gamma,
                 "none" if second is None else (second[1].bound if second[1].valid else second[1].reason[:80]))
    return second


def _interior(relax: MomentRelaxation, z: np.ndarray, gamma: float
              ) -> tuple[np.ndarray, float, np.ndarray | None]:
    """The dual of a centred solve to certify from, the bound it can reach at best (relaxed units), and the
    margin to add to each Gram block (``None``: the uniform ``t = −z₀``).

    When the margin ``t`` came out negative and the Gram matrices ``Z_i + t·I`` are not all definite (a float
    test only: the checker decides), the margin is dropped where it breaks definiteness: the solver's ``Z_i``
    are interior-point iterates, definite even where ``t < 0``, and block ``i`` gets ``Z_i + m_i·I`` with
    ``m_i = t`` where that is definite and ``m_i = −λ_min(Z_i)/2`` elsewhere.  The identity then holds for
    ``f − γ + Σ_i (m_i − t)·b_iᵀb_i``; the excess constant moves the bound down (by ``Σ_i (m_i − t)``, not
    ``|t|`` per block: on a chain at n = 1000 a few dozen of a thousand blocks need it) in the exact rounding,
    and the rest is corrected in the blocks' own metric there.
    """
    t = -float(z[0])
    if t > 0 or any(blk.cone != "psd" for blk in relax.gram_blocks) or relax.products:
        return z, gamma, None
    low = np.array([float(np.linalg.eigvalsh(Q)[0]) for Q in relax.gram_matrices(z)])
    if np.all(low + t > 0):
        return z, gamma, None
    margins = np.where(low + t > 0, t, np.where(low > 0, -0.5 * low, 0.0))
    z = z.copy()
    z[0] = 0.0
    return z, gamma - float(np.sum(margins - t)), margins


def _centred_solves(run: _Strategy, gamma: float, solver: str) -> Iterator[ConicSolution]:
    """Usable solutions of the centred program for ``gamma`` by ``solver`` (SCS at tolerance 1e-9).  For
    Clarabel: the weighted program, then, if that answer is not clean, the unweighted one (Clarabel stalls on
    programs without strict complementarity, e.g. chained problems whose optimal Gram matrices are
    singular, and the two stall differently)."""
    from sosrelax.relax.moment import centered_feasibility_program

    ctx = run.ctx
    relax = ctx.relax
    prog = centered_feasibility_program(relax, gamma)
    # The margin is t = (value - gamma)/W with W = sum of trace M_i(y) / y_0 (about the total Gram order when
    # the moments are of order one).  For an interior-point solver the objective is multiplied by that order
    # so that its absolute tolerances apply to about (value - gamma), not to a W-times smaller number; z is
    # divided back.  SCS equilibrates the data itself and loses accuracy on that weighted program; it (and any
    # other solver) gets the objective in the user's units (the factor of the scaling undone).
    order = sum(blk.order for blk in relax.gram_blocks)
    order += len(range(relax.program.A.shape[0])[relax.product_rows])
    w_interior, w_user = float(max(1, order)), float(ctx.factor)
    weighted = replace(prog, c=prog.c * w_interior)
    in_user_units = replace(prog, c=prog.c * w_user) if w_user != 1 else prog
    options = ctx.options if solver == ctx.solver else None

    def usable(sol: ConicSolution, weight: float) -> ConicSolution | None:
        if sol.z is None or sol.x is None or not np.all(np.isfinite(sol.z)):
            return None
        if sol.status not in (SolverStatus.OPTIMAL, SolverStatus.INACCURATE):
            return None
        return replace(sol, z=sol.z / weight) if weight != 1 else sol

    interior = solver == "clarabel"
    if not (interior and run.unweighted_only):
        sol = run.solve(
            weighted if interior else in_user_units,
            solver,
            tolerance=1e-9 if solver == "scs" else None,
            options=options,
        )
        out = usable(sol, w_interior if interior else w_user)
        if out is not None:
            yield out
        if not interior or sol.status is SolverStatus.OPTIMAL:
            return
        # the unweighted program (cheap, and sometimes clean where the weighted one is not)
        if not run.may_start(f"unweighted re-solve ({solver})", run.costs.attempt(solver)):
            return
    # the weighted program's margin (None: unusable), to compare with the unweighted one's
    t_weighted = None if run.unweighted_only or out is None or out.z is None else -float(out.z[0])
    sol = run.solve(prog, solver, options=options)
    out = usable(sol, 1.0)
    if out is not None:
        assert out.z is not None
        if not run.unweighted_only and (t_weighted is None or -float(out.z[0]) > t_weighted):
            run.unweighted_only = True  # measured better here: the weighted program is not solved again
        yield out


def _box(problem: Problem) -> tuple[tuple[Fraction, Fraction], ...] | None:
    """The variable box the constraints imply (the checker re-derives it before using it)."""
    lo, hi = problem.variable_box()
    if not (np.all(np.isfinite(lo)) and np.all(np.isfinite(hi))) or np.any(lo > hi):
        return None
    return tuple((Fraction(float(a)), Fraction(float(b))) for a, b in zip(lo, hi, strict=True))

"""``sosrelax.solve``: relax, solve, extract and check a certificate, keep the pseudodistribution."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from fractions import Fraction
from typing import Any

import numpy as np

from sosrelax.certificate.check import CheckReport
from sosrelax.certificate.format import Certificate, float_toward
from sosrelax.conic import ConicSolution, SolverStatus
from sosrelax.errors import InvalidValueError
from sosrelax.problem import Problem, Sense
from sosrelax.relax.moment import MomentRelaxation, build_moment_relaxation
from sosrelax.relax.scaling import Scaling, choose_scaling
from sosrelax.result import SolveResult, Status
from sosrelax.solvers import solve_conic

__all__ = ["RELAXATIONS", "solve"]

#: The relaxation names :func:`solve` accepts.
RELAXATIONS = ("sos", "sdp", "lp", "dsos", "sdsos")

_STATUS = {
    SolverStatus.OPTIMAL: Status.OPTIMAL,
    SolverStatus.INFEASIBLE: Status.INFEASIBLE,
    SolverStatus.UNBOUNDED: Status.UNBOUNDED,
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
class _Run:
    """What the certificate step needs: the relaxation, the user's problem and the scaling between them."""

    relax: MomentRelaxation
    problem: Problem
    scaling: Scaling | None
    solver: str
    time_limit: float | None
    options: dict[str, Any] | None = None
    #: what the certificate step learnt: ``"estimate"``, an upper estimate of the relaxation's value (on the
    #: relaxed ``sign·F``) from the centred solves, when they ran
    notes: dict[str, float] = field(default_factory=dict)

    @property
    def factor(self) -> float:
        """``f = factor · F`` where ``F`` is the relaxed objective."""
        return float(self.scaling.objective_factor) if self.scaling is not None else 1.0

    def to_relaxed(self, bound: Fraction | None) -> float:
        """A bound on ``f`` expressed as a lower bound on the relaxed ``sign·F`` (``-inf`` for none)."""
        if bound is None:
            return -float("inf")
        return self.relax.sign * float(bound) / self.factor

    def finish(self, cert: Certificate, faces: list[Any] | None = None) -> tuple[Certificate, CheckReport]:
        """Make a float certificate of the relaxed problem exact (on ``faces`` when given: see
        :mod:`sosrelax.relax.facial`), map it to the user's problem, check it."""
        from sosrelax.certificate.check import check_certificate
        from sosrelax.certificate.extract import with_substitution
        from sosrelax.certificate.rational import rationalize, rationalize_in_face

        box = _box(self.problem)
        if box is not None:
            cert = replace(cert, box=box)
        if self.scaling is not None:
            cert = with_substitution(cert, self.scaling, self.problem)
        exact = rationalize_in_face(cert, faces) if faces else None
        if exact is None:
            exact = rationalize(cert)
        report = check_certificate(exact, tolerance=_LOOSE)
        if report.valid and report.bound is not None and report.bound != exact.bound:
            # the identity proves a (slightly) different bound than the solver's: restate the
            # certificate with the proven bound, rounded to a short rational on the weak side, and
            # check it again so that the file and the report agree under the default tolerance
            exact = replace(exact, bound=_round_weak(report.bound, exact.kind))
            report = check_certificate(exact)
        return exact, report


#: Tolerance of the first check: accept any proven bound, the pipeline judges how good it is.
_LOOSE = Fraction(1, 100)


def _round_weak(b: Fraction, kind: str) -> Fraction:
    """``b`` rounded to a multiple of 2^-48, towards the weaker side of the bound."""
    den = 2**48
    q = b * den
    n = q.numerator // q.denominator  # floor
    if kind == "upper_bound" and n != q:
        n += 1
    return Fraction(n, den)


def _certify(
    run: _Run, sol: ConicSolution, infeasible: bool, metadata: dict[str, str]
) -> tuple[Certificate | None, CheckReport | None]:
    """Extract, make exact and check a certificate; returns (certificate, report) or (None, None).

    First the solver's own dual is rounded and checked.  If that fails (optimal Gram matrices are singular, so
    rounding breaks positive semidefiniteness) or proves a bound weaker than the solver's by more than a
    relative ``1e-6``, the most interior certificates
    (:func:`~sosrelax.relax.moment.centered_feasibility_program`) for bounds backed off below an estimate of
    the value are computed (:func:`_backoff`); their Gram matrices are definite with a margin that survives
    rounding.  Whatever comes out, only the checker's report counts.
    """
    from sosrelax.certificate.extract import certificate_from_moment_dual

    relax = run.relax
    if sol.z is None or not np.all(np.isfinite(sol.z)):
        return None, None
    t_finish = time.perf_counter()
    best = run.finish(
        certificate_from_moment_dual(relax, sol.z, infeasible=infeasible, metadata=metadata)
    )
    t_finish = time.perf_counter() - t_finish
    if infeasible:
        return best
    gamma_solver = -float(sol.z[0])  # the solver's lower bound on sign*F
    if best[1].valid:
        gap = _gap(
            run.factor * run.to_relaxed(best[1].bound), run.factor * gamma_solver
        )  # user units
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
    # the default budget: 20 solves or 8 exact roundings (which dominate on long chains), at least 30 s
    budget = (
        run.time_limit
        if run.time_limit is not None
        else max(30.0, 20.0 * sol.solve_time, 8.0 * t_finish)
    )
    deadline = time.perf_counter() + budget
    centred_solver = "clarabel" if run.solver in ("scs", "clarabel") else run.solver
    faces = _faces(run)
    if faces:
        # every certificate lies on these faces (zeros at infinity): no Gram matrix can be definite, so the
        # backoff below cannot succeed; certify on the faces first
        best, estimate = _face_backoff(run, best, gamma_solver, faces, deadline, metadata)
        if best[1].valid:
            run.notes["estimate"] = estimate
            return best
    best, estimate = _backoff(run, best, gamma_solver, centred_solver, deadline, metadata)
    far = (
        not best[1].valid
        or _gap(run.factor * run.to_relaxed(best[1].bound), run.factor * gamma_solver) > 1e-5
    )
    if far and centred_solver == "clarabel" and time.perf_counter() < deadline:
        best, estimate2 = _backoff(run, best, gamma_solver, "scs", deadline, metadata)
        if estimate2 < gamma_solver:
            estimate = estimate2  # SCS's estimate is the more accurate where it has one
    run.notes["estimate"] = estimate
    return best


def _improves(run: _Run, second: tuple[Certificate, CheckReport], best: tuple[Certificate, CheckReport]) -> bool:
    """Whether a checked certificate proves a better bound than the best in hand (or the best has none)."""
    return second[1].valid and (
        not best[1].valid or run.to_relaxed(second[1].bound) > run.to_relaxed(best[1].bound)
    )


def _value_estimate(sol: ConicSolution, zero: int, gamma: float, t: float) -> float | None:
    """``γ + t/y₀``, the upper estimate of the relaxation's value from a centred solution (``None`` unless the
    solve was clean); see :func:`_certify`."""
    y0 = float(sol.x[zero]) if sol.x is not None else 0.0
    if sol.status is SolverStatus.OPTIMAL and np.isfinite(y0) and y0 > 0 and np.isfinite(t):
        return gamma + t / y0
    return None


def _backoff(
    run: _Run,
    best: tuple[Certificate, CheckReport],
    gamma_solver: float,
    solver: str,
    deadline: float,
    metadata: dict[str, str],
) -> tuple[tuple[Certificate, CheckReport], float]:
    """Centred certificates for bounds backed off below the running estimate of the value, until one checks."""
    from sosrelax.certificate.extract import certificate_from_centered_dual

    relax = run.relax
    scale = 1.0 + abs(run.factor * gamma_solver)  # the backoff is relative in the user's units
    estimate = gamma_solver
    zero = relax.zero_moment_index()
    # backoffs in the user's units: relative to the value; with no proof in hand, then also relative to the
    # objective's largest coefficient (the relaxed problem's unit), for data far larger than the value
    steps = [
        r * scale
        for r in ((1e-7, 1e-6, 5e-6, 2e-5, 1e-4) if not best[1].valid else (1e-7, 1e-6, 5e-6))
    ]
    if not best[1].valid and run.factor > scale:
        steps += [r * run.factor for r in (1e-5, 1e-4)]
    for step in steps:
        left = deadline - time.perf_counter()
        if left <= 0:
            break
        gamma = estimate - step / run.factor
        if best[1].valid and gamma <= run.to_relaxed(best[1].bound):
            break  # further backoff cannot beat the proof in hand
        done = False
        for sol2 in _centred_solves(run, relax, gamma, solver, left):
            assert sol2.z is not None  # _centred_solves yields finite duals only
            guess = _value_estimate(sol2, zero, gamma, -float(sol2.z[0]))
            if guess is not None:
                estimate = min(estimate, guess)
            z2, reach = _interior(relax, sol2.z, gamma)
            if reach < gamma:
                continue  # no interior certificate at this bound (by this solver's word); see the bisection
            meta = dict(metadata, certificate="centered", backoff=repr(gamma_solver - gamma))
            second = run.finish(certificate_from_centered_dual(relax, z2, gamma, metadata=meta))
            if second[1].valid:
                if _improves(run, second, best):
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
    lo, hi = run.to_relaxed(best[1].bound), gamma_solver
    for _ in range(4):
        left = deadline - time.perf_counter()
        if left <= 0 or (hi - lo) * run.factor <= 1e-6 * scale:
            break
        gamma = 0.5 * (lo + hi)
        proved = False
        for sol2 in _centred_solves(run, relax, gamma, solver, left):
            assert sol2.z is not None
            z2, reach = _interior(relax, sol2.z, gamma)
            if reach <= lo:
                continue
            meta = dict(metadata, certificate="centered", backoff=repr(gamma_solver - gamma))
            second = run.finish(certificate_from_centered_dual(relax, z2, gamma, metadata=meta))
            if _improves(run, second, best):
                best, proved = second, True
                break
        if proved:
            lo = run.to_relaxed(best[1].bound)
        else:
            hi = gamma
    return best, estimate


def _faces(run: _Run) -> list[Any]:
    """The faces forced by zeros at infinity of an unconstrained problem's objective (see
    :mod:`sosrelax.relax.facial`); empty when there are none or the relaxation has other multipliers."""
    from sosrelax.relax.facial import faces_at_infinity, zeros_at_infinity

    relax = run.relax
    if (relax.problem is None or relax.equality_blocks or relax.products
            or any(blk.constraint is not None or blk.cone != "psd" for blk in relax.gram_blocks)):
        return []
    V = zeros_at_infinity(relax)
    return faces_at_infinity(relax, V) if V else []


def _face_backoff(
    run: _Run,
    best: tuple[Certificate, CheckReport],
    gamma_solver: float,
    faces: list[Any],
    deadline: float,
    metadata: dict[str, str],
) -> tuple[tuple[Certificate, CheckReport], float]:
    """Centred certificates on the faces, for bounds backed off below the running estimate of the value (as in
    :func:`_backoff`), made exact on the faces (:func:`~sosrelax.certificate.rational.rationalize_in_face`)."""
    from sosrelax.certificate.extract import certificate_from_centered_dual
    from sosrelax.relax.facial import face_program, lift_dual

    relax = run.relax
    scale = 1.0 + abs(run.factor * gamma_solver)
    estimate = gamma_solver
    zero = relax.zero_moment_index()
    for step in (1e-8, 1e-7, 1e-6, 1e-5, 1e-4, 1e-3):
        if time.perf_counter() >= deadline:
            break
        gamma = estimate - step * scale / run.factor
        if best[1].valid and gamma <= run.to_relaxed(best[1].bound):
            break
        done = False
        for orthonormal in (False, True):
            prog, maps = face_program(relax, faces, gamma, orthonormal=orthonormal)
            order = float(sum(c.dim for c in prog.cones if c.kind.name == "PSD"))
            for weight in (order, 1.0):
                left = deadline - time.perf_counter()
                if left <= 0:
                    break
                sol = solve_conic(replace(prog, c=prog.c * weight), "clarabel", time_limit=left)
                if sol.z is None or sol.x is None or not np.all(np.isfinite(sol.z)):
                    continue
                if sol.status not in (SolverStatus.OPTIMAL, SolverStatus.INACCURATE):
                    continue
                t = -float(sol.z[0]) / weight
                guess = None if orthonormal else _value_estimate(sol, zero, gamma, t)
                if guess is not None:
                    estimate = min(estimate, guess)
                if not t > 0:
                    continue
                z = lift_dual(maps, sol.z / weight, margin=t)
                z[0] = 0.0  # the margin is inside the face's Gram matrices already
                meta = dict(metadata, certificate="centered-face", faces=str(len(faces)),
                            backoff=repr(gamma_solver - gamma))
                second = run.finish(certificate_from_centered_dual(relax, z, gamma, metadata=meta),
                                    faces=faces)
                if second[1].valid:
                    if _improves(run, second, best):
                        best = second
                    done = True
                    break
            if done:
                break
        if done:
            break
    return best, estimate


def _interior(relax: MomentRelaxation, z: np.ndarray, gamma: float) -> tuple[np.ndarray, float]:
    """The dual of a centred solve to certify from, and the bound it can reach at best (relaxed units).

    When the margin ``t`` came out negative and the Gram matrices ``Z_i + t·I`` are not all definite (a float
    test only: the checker decides), the margin is dropped: the solver's ``Z_i`` are interior-point iterates,
    definite even where ``t < 0``, and the identity holds for ``f − γ + |t|·Σ_i b_iᵀb_i``.  The excess constant,
    ``|t|`` per block, moves the bound down in :func:`~sosrelax.certificate.rational.rationalize`, and the rest
    is corrected in the blocks' own metric there.
    """
    t = -float(z[0])
    if t > 0 or any(blk.cone != "psd" for blk in relax.gram_blocks) or relax.products:
        return z, gamma
    for Q in relax.gram_matrices(z):
        if not float(np.linalg.eigvalsh(Q + t * np.eye(Q.shape[0]))[0]) > 0:
            z = z.copy()
            z[0] = 0.0
            return z, gamma + t * len(relax.gram_blocks)
    return z, gamma


def _centred_solves(
    run: _Run, relax: MomentRelaxation, gamma: float, solver: str, limit: float
) -> Iterator[ConicSolution]:
    """Usable solutions of the centred program for ``gamma`` by ``solver`` (SCS at tolerance 1e-9).  For
    Clarabel: the weighted program, then, if that answer is not clean, the unweighted one (Clarabel stalls on
    programs without strict complementarity, e.g. chained problems whose optimal Gram matrices are
    singular, and the two stall differently)."""
    from sosrelax.relax.moment import centered_feasibility_program

    prog = centered_feasibility_program(relax, gamma)
    # The margin is t = (value - gamma)/W with W = sum of trace M_i(y) / y_0 (about the total Gram order when
    # the moments are of order one).  For an interior-point solver the objective is multiplied by that order
    # so that its absolute tolerances apply to about (value - gamma), not to a W-times smaller number; z is
    # divided back.  SCS equilibrates the data itself and loses accuracy on that weighted program; it (and any
    # other solver) gets the objective in the user's units (the factor of the scaling undone).
    order = sum(blk.order for blk in relax.gram_blocks)
    order += len(range(relax.program.A.shape[0])[relax.product_rows])
    w_interior, w_user = float(max(1, order)), float(run.factor)
    weighted = replace(prog, c=prog.c * w_interior)
    in_user_units = replace(prog, c=prog.c * w_user) if w_user != 1 else prog

    def usable(sol: ConicSolution, weight: float) -> ConicSolution | None:
        if sol.z is None or sol.x is None or not np.all(np.isfinite(sol.z)):
            return None
        if sol.status not in (SolverStatus.OPTIMAL, SolverStatus.INACCURATE):
            return None
        return replace(sol, z=sol.z / weight) if weight != 1 else sol

    interior = solver == "clarabel"
    t0 = time.perf_counter()
    sol = solve_conic(
        weighted if interior else in_user_units,
        solver,
        time_limit=limit,
        tolerance=1e-9 if solver == "scs" else None,
        options=run.options if solver == run.solver else None,
    )
    out = usable(sol, w_interior if interior else w_user)
    if out is not None:
        yield out
    if not interior or sol.status is SolverStatus.OPTIMAL:
        return
    # the unweighted program (cheap, and sometimes clean where the weighted one is not)
    left = limit - (time.perf_counter() - t0)
    if left <= 0:
        return
    sol = solve_conic(
        prog, solver, time_limit=left, options=run.options if solver == run.solver else None
    )
    out = usable(sol, 1.0)
    if out is not None:
        yield out


def _gap(a: float, b: float) -> float:
    """Relative distance of two values in the user's units."""
    return abs(a - b) / (1.0 + abs(b))


def _box(problem: Problem) -> tuple[tuple[Fraction, Fraction], ...] | None:
    """The variable box the constraints imply (the checker re-derives it before using it)."""
    lo, hi = problem.variable_box()
    if not (np.all(np.isfinite(lo)) and np.all(np.isfinite(hi))) or np.any(lo > hi):
        return None
    return tuple((Fraction(float(a)), Fraction(float(b))) for a, b in zip(lo, hi, strict=True))


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
) -> SolveResult:
    """Bound the optimum of ``problem`` with a convex relaxation and prove the bound.

    Parameters
    ----------
    problem : Problem
        ``minimise`` or ``maximise`` a polynomial over ``{g_i >= 0, h_j = 0}``.
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
    time_limit, tolerance, verbose
        Passed to the backend.
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
        ``None``.  Never raises on an infeasible, unbounded or badly solved relaxation: see ``status``.
    """
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
    t0 = time.perf_counter()
    scaling = choose_scaling(problem) if scale else None
    relax = _build(
        scaling.scaled_problem if scaling is not None else problem, relaxation, level, sparsity
    )
    t_build = time.perf_counter() - t0
    k = 1.0 if scaling is None else float(scaling.objective_factor)

    def attempt(name: str, tol: float | None, limit: float | None) -> tuple[Any, ...]:
        opts = solver_options if name == solver else None
        run = _Run(relax, problem, scaling, name, limit, opts)
        sol = solve_conic(
            relax.program, name, time_limit=limit, tolerance=tol, verbose=verbose, options=opts
        )
        st = _STATUS[sol.status]
        meta = {
            "relaxation": relaxation,
            "level": str(relax.level),
            "solver": sol.solver,
            "solver_status": sol.solver_status,
        }
        t1 = time.perf_counter()
        cert_: Certificate | None = None
        rep: CheckReport | None = None
        if certificate and st in (Status.OPTIMAL, Status.INACCURATE):
            cert_, rep = _certify(run, sol, False, meta)
        elif certificate and st is Status.INFEASIBLE:
            cert_, rep = _certify(run, sol, True, meta)
        value = (
            min(-float(sol.z[0]), run.notes.get("estimate", np.inf))
            if sol.z is not None
            else np.nan
        )
        return sol, st, cert_, rep, time.perf_counter() - t1, (value, "estimate" in run.notes)

    sol, status, cert, report, t_cert, (value, estimated) = attempt(solver, tolerance, time_limit)
    attempts = [(sol.solver, sol.status.value, sol.solve_time)]
    t_solve = sol.solve_time
    # An interior-point solve that stopped short (or whose proof is weak) gets a second opinion from a
    # first-order solver at high accuracy: different failure modes, and the checker arbitrates.
    # (A proof within 1e-6 of the centred solves' estimate of the value needs no second opinion: the
    # estimate is an upper estimate of the relaxation's value, whatever the first solver said.)
    weak = (
        report is None
        or not report.valid
        or report.bound is None
        or (k * value - relax.sign * float(report.bound)) / (1.0 + abs(k * value))
        > (1e-5 if estimated else 1e-6)
        or (sol.status is not SolverStatus.OPTIMAL and not estimated)
    )
    if (
        certificate
        and fallback
        and fallback != solver
        and weak
        and status in (Status.OPTIMAL, Status.INACCURATE)
    ):
        budget = max(10.0, 3.0 * sol.solve_time)
        if time_limit is not None:
            budget = min(budget, max(0.0, time_limit - (time.perf_counter() - t0)))
        if budget > 0:
            sol2, status2, cert2, report2, t_cert2, _ = attempt(fallback, 1e-9, budget)
            attempts.append((sol2.solver, sol2.status.value, sol2.solve_time))
            t_solve += sol2.solve_time
            t_cert += t_cert2
            if (
                report2 is not None
                and report2.valid
                and cert2 is not None
                and (
                    report is None
                    or not report.valid
                    or (
                        report2.bound is not None
                        and report.bound is not None
                        and relax.sign * report2.bound > relax.sign * report.bound
                    )
                )
            ):
                sol, status, cert, report = sol2, status2, cert2, report2
    info: dict[str, Any] = {
        "relaxation": relaxation,
        "level": relax.level,
        "scaled": scaling is not None,
        "sizes": relax.sizes(),
        "solver": sol.solver,
        "solver_status": sol.solver_status,
        "solver_message": sol.message,
        "attempts": attempts,
        "iterations": sol.iterations,
        "residuals": sol.residuals,
        "primal_objective": k * relax.sign * sol.primal_objective,
        "dual_objective": k * relax.sign * sol.dual_objective,
        "time": {"build": t_build, "solve": t_solve, "certify": t_cert},
    }
    solver_bound = (
        k * relax.bound_from_dual(sol.dual_objective) if status is Status.OPTIMAL else None
    )

    bound: float | None = None
    if report is not None and report.valid and cert is not None and cert.kind != "infeasible":
        assert report.bound is not None
        # the float of a proven rational bound must stay on the proven side
        bound = float_toward(report.bound, down=problem.sense is Sense.MINIMIZE)
        if status is Status.INACCURATE:
            status = Status.OPTIMAL  # the solver was unsure, but the bound is proven

    pseudo = None
    if status in (Status.OPTIMAL, Status.INACCURATE) and sol.x is not None:
        from sosrelax.adversary.pseudo import PseudoDistribution, flatness_offset

        moments = np.asarray(sol.x, dtype=float)
        if scaling is not None:
            moments = scaling.moments_to_original(relax.moment_exps, moments)
        if np.all(np.isfinite(moments)) and moments[0] > 0:
            if relax.cliques is None:
                pseudo = PseudoDistribution(
                    variables=problem.variables,
                    exps=relax.moment_exps,
                    moments=moments,
                    level=relax.level,
                    offset=flatness_offset(problem),
                )
            else:  # a sparse relaxation carries moments per clique only
                info["clique_pseudodistributions"] = relax.clique_pseudodistributions(moments)

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
        problem=problem,
    )


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
) -> str:
    side = "lower" if problem.sense is Sense.MINIMIZE else "upper"
    if status is Status.OPTIMAL and bound is not None:
        said = (
            f"{solver_bound:.10g}"
            if solver_bound is not None
            else f"an inaccurate solve ({sol.solver_status})"
        )
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

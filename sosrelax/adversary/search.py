"""Primal adversary: local search on the real problem, then exact re-evaluation.

Starting points come from :mod:`sosrelax.adversary.rounding` (atoms, mean, Gaussian samples,
hyperplane rounding) or, for :func:`multistart`, from uniform samples of the variable box.  Each is
improved by a local method on the *real* (non-relaxed) problem:

* all variables ±1 (``x_i² = 1`` equalities): greedy single-flip descent, vectorised over all
  starting points at once;
* otherwise the ±1 variables are frozen at their rounded values and the others are optimised by
  projected quasi-Newton (L-BFGS-B, the gradient projected onto the box) when the remaining set is
  a box, or SLSQP with the exact constraint Jacobians otherwise.  Gradients come from
  :meth:`Polynomial.gradient`.

Nothing computed in floating point is trusted.  Every reported point is re-evaluated in exact
rational arithmetic (:meth:`Problem.evaluate_exact`, :meth:`Claim.margin_exact`): ``feasible``
means every ``g_i(x) ≥ 0`` (``> 0`` if strict) and ``h_j(x) = 0`` holds *exactly* at the binary
floating-point point, and a counterexample is reported only when, in addition, the claim fails
exactly there.  A point that floating point puts a hair outside the set is pulled towards an
exactly feasible anchor (a candidate that passed the exact check) by a few geometric steps and
re-checked.

Limitation: equality constraints other than ``x² = 1`` are almost never met exactly by binary
floats (e.g. ``x² + y² = 1``), so points on such sets are reported with ``feasible=False`` and never
as counterexamples; ±1 variables are met exactly because rounding snaps them to ``±1``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from enum import StrEnum
from fractions import Fraction
from typing import Any

import numpy as np
import scipy.optimize

from sosrelax.adversary.pseudo import PseudoDistribution
from sosrelax.adversary.rounding import (
    CandidateGenerator,
    atoms_candidates,
    box_of,
    gaussian_candidates,
    hyperplane_candidates,
    mean_candidates,
    project_to_box,
    sign_equality_variable,
    sign_variables,
    uniform_candidates,
)
from sosrelax.errors import InvalidValueError
from sosrelax.poly import ConstraintKind, Polynomial
from sosrelax.problem import Claim, Problem, Sense

__all__ = ["Attack", "AttackResult", "AttackStatus", "attack", "multistart", "refine"]

_FEAS_TOL = 1e-9  # float pre-screen only; the verdict is always exact
_REPAIR_STEPS = (2.0**-40, 2.0**-30, 2.0**-20, 2.0**-12, 2.0**-6, 2.0**-3)


class AttackStatus(StrEnum):
    """What the adversary achieved.

    * ``COUNTEREXAMPLE`` — an exactly feasible point at which the claim exactly fails.
    * ``FEASIBLE`` — exactly feasible points were found (for a claim: none violates it).
    * ``NO_FEASIBLE_POINT`` — no candidate passed the exact feasibility check.
    """

    COUNTEREXAMPLE = "counterexample"
    FEASIBLE = "feasible"
    NO_FEASIBLE_POINT = "no_feasible_point"


@dataclass(frozen=True)
class Attack:
    """One concrete point, re-evaluated exactly.

    Attributes
    ----------
    point : dict of str to float
        The point (binary floats; the exact checks are made at exactly these values).
    value : float
        The objective at the point, computed exactly then rounded to float (for a claim: the claim
        polynomial ``p`` of ``p ≥ 0`` / ``p > 0``).
    feasible : bool
        Every constraint holds exactly at ``point``.
    violation : Fraction or None
        For a claim ``p ≥ 0`` (or ``p > 0``): the exact margin ``p(point)``; the claim fails at a
        feasible point iff the margin is ``< 0`` (or ``≤ 0``).  ``None`` for a plain problem.
    source : str
        How the point was produced, e.g. ``"hyperplane+flip"`` or ``"atom+local"``.
    """

    point: dict[str, float]
    value: float
    feasible: bool
    violation: Fraction | None
    source: str


@dataclass(frozen=True)
class AttackResult:
    """Outcome of :func:`attack` / :func:`multistart`.

    Attributes
    ----------
    status : AttackStatus
    best : Attack or None
        The best exactly feasible point (largest objective for a maximisation, smallest for a
        minimisation, smallest margin for a claim); if none is feasible, the least infeasible
        point examined (``feasible=False``); ``None`` when nothing was examined.
    counterexample : Attack or None
        Claims only: ``best`` when it exactly falsifies the claim.
    n_candidates : int
        Candidate points generated (before local search).
    n_local_searches : int
        Local searches run.
    n_exact_checks : int
        Points re-evaluated in exact arithmetic.
    time_s : float
        Wall time.
    message : str
    """

    status: AttackStatus
    best: Attack | None
    counterexample: Attack | None
    n_candidates: int
    n_local_searches: int
    n_exact_checks: int
    time_s: float
    message: str

    @property
    def success(self) -> bool:
        """A counterexample (claims) or an exactly feasible point (problems) was found."""
        if self.counterexample is not None:
            return True
        return (self.status is AttackStatus.FEASIBLE and self.best is not None
                and self.best.violation is None)


@dataclass(frozen=True)
class _Target:
    problem: Problem
    claim: Claim | None
    variables: tuple[str, ...]
    sign: float  # +1: minimise objective, -1: maximise
    pm: np.ndarray  # ±1 variables
    other_equalities: tuple[Polynomial, ...]  # equalities other than x² = 1
    box_only: bool


def _target(problem_or_claim: Problem | Claim) -> _Target:
    if isinstance(problem_or_claim, Claim):
        claim: Claim | None = problem_or_claim
        problem = problem_or_claim.problem
    elif isinstance(problem_or_claim, Problem):
        claim, problem = None, problem_or_claim
    else:
        raise InvalidValueError(
            f"attack() expects a sosrelax Problem or Claim, got {type(problem_or_claim).__name__}"
        )
    variables = tuple(problem.variables)
    pm = sign_variables(problem)
    others = tuple(h for h in problem.equalities if sign_equality_variable(h) is None)
    lo, hi = box_of(problem)
    univariate = all(_is_interval(g) for g in problem.inequalities)
    bounded_used = all(
        np.isfinite(lo[variables.index(v)]) and np.isfinite(hi[variables.index(v)])
        for g in problem.inequalities for v in _used(g)
    )
    sign = 1.0 if problem.sense is Sense.MINIMIZE else -1.0
    return _Target(problem, claim, variables, sign, pm, others,
                   not others and univariate and bounded_used)


def _used(p: Polynomial) -> tuple[str, ...]:
    return tuple(p.used_variables)


def _is_interval(g: Polynomial) -> bool:
    """``g ≥ 0`` is an interval in one variable: ``g`` affine, or a concave quadratic."""
    used = _used(g)
    if len(used) > 1 or g.degree > 2:
        return False
    if g.degree < 2:
        return True
    exps = np.asarray(g.aligned(used))
    return bool(np.asarray(g.coefs)[exps[:, 0] == 2][0] < 0)


# ---------------------------------------------------------------------------- float evaluation
def _values(t: _Target, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Objective (sign-adjusted, to minimise) and total float infeasibility, rows of ``x``."""
    obj = t.sign * t.problem.objective.evaluate(x, t.variables)
    infeas = np.zeros(x.shape[0])
    for g in t.problem.inequalities:
        infeas += np.maximum(0.0, -g.evaluate(x, t.variables))
    for h in t.other_equalities:
        infeas += np.abs(h.evaluate(x, t.variables))
    return obj, infeas


def _rank(obj: np.ndarray, infeas: np.ndarray) -> np.ndarray:
    """Order: float-feasible first, then by objective."""
    bad = infeas > _FEAS_TOL
    return np.lexsort((np.where(bad, infeas, obj), bad))


def _penalty(obj: np.ndarray) -> float:
    return 1e3 * (1.0 + float(np.max(np.abs(obj))) if obj.size else 1.0)


# ---------------------------------------------------------------------------- local methods
def _sign_reduced(p: Polynomial, t: _Target) -> Polynomial:
    """``p`` with ``x_i² = 1`` applied to the ±1 variables (their exponents taken mod 2).

    Equal to ``p`` on every point with ±1 coordinates there, and affine in each ±1 variable.
    """
    e = np.array(p.aligned(t.variables), copy=True)
    e[:, t.pm] %= 2
    return Polynomial(e, np.asarray(p.coefs), t.variables)


def _flip_descent(t: _Target, x: np.ndarray, end: float, max_rounds: int = 100_000) -> np.ndarray:
    """Greedy single-flip descent on the ±1 coordinates, all rows at once.

    For ``q`` affine in ``x_i`` (after :func:`_sign_reduced`), flipping ``x_i`` gives
    ``q − 2 x_i ∂q/∂x_i``: one gradient evaluation prices every single flip of every row.
    The merit is the sign-adjusted objective plus a penalty on constraint violation.
    """
    x = x.copy()
    cols = np.flatnonzero(t.pm)
    if cols.size == 0 or x.shape[0] == 0:
        return x
    obj_p = _sign_reduced(t.problem.objective, t)
    ineqs = [_sign_reduced(g, t) for g in t.problem.inequalities]
    eqs = [_sign_reduced(h, t) for h in t.other_equalities]
    names = t.variables

    def merits(xx: np.ndarray, rho: float) -> tuple[np.ndarray, np.ndarray]:
        xs = xx[:, cols]
        now = t.sign * obj_p.evaluate(xx, names)
        flip = now[:, None] - 2.0 * xs * (t.sign * obj_p.gradient(xx, names)[:, cols])
        for q, eq in [(g, False) for g in ineqs] + [(h, True) for h in eqs]:
            v = q.evaluate(xx, names)
            vf = v[:, None] - 2.0 * xs * q.gradient(xx, names)[:, cols]
            now = now + rho * (np.abs(v) if eq else np.maximum(0.0, -v))
            flip = flip + rho * (np.abs(vf) if eq else np.maximum(0.0, -vf))
        return now, flip

    rho = _penalty(t.sign * obj_p.evaluate(x, names))
    active = np.ones(x.shape[0], dtype=bool)
    for _ in range(max_rounds):
        rows = np.flatnonzero(active)
        if rows.size == 0 or time.perf_counter() > end:
            break
        now, flip = merits(x[rows], rho)
        j = np.argmin(flip, axis=1)
        best = flip[np.arange(rows.size), j]
        improve = best < now - 1e-12 * (1.0 + np.abs(now))
        up = rows[improve]
        x[up, cols[j[improve]]] *= -1.0
        active[:] = False
        active[up] = True
    return x


def _continuous(t: _Target, x0: np.ndarray, max_iter: int) -> np.ndarray:
    """Local minimisation of the sign-adjusted objective over the non-±1 variables."""
    free = ~t.pm
    if not np.any(free):
        return x0
    lo, hi = box_of(t.problem)
    bounds = [(None if not np.isfinite(a) else float(a), None if not np.isfinite(b) else float(b))
              for a, b in zip(lo[free], hi[free], strict=True)]
    base = x0.copy()
    f = t.problem.objective

    def full(z: np.ndarray) -> np.ndarray:
        out = base.copy()
        out[free] = z
        return out[None, :]

    def fun(z: np.ndarray) -> tuple[float, np.ndarray]:
        xx = full(z)
        val = t.sign * float(f.evaluate(xx, t.variables)[0])
        grad = t.sign * f.gradient(xx, t.variables)[0][free]
        return val, grad

    z0 = x0[free]
    with np.errstate(all="ignore"):
        if t.box_only:
            res = scipy.optimize.minimize(fun, z0, jac=True, method="L-BFGS-B", bounds=bounds,
                                          options={"maxiter": max_iter})
        else:
            cons: list[dict[str, Any]] = []
            for kind, polys in (("ineq", t.problem.inequalities), ("eq", t.other_equalities)):
                for g in polys:
                    cons.append({
                        "type": kind,
                        "fun": (lambda z, g=g: g.evaluate(full(z), t.variables)),
                        "jac": (lambda z, g=g: g.gradient(full(z), t.variables)[:, free]),
                    })
            res = scipy.optimize.minimize(fun, z0, jac=True, method="SLSQP", bounds=bounds,
                                          constraints=cons, options={"maxiter": max_iter})
    z = np.asarray(res.x, dtype=np.float64)
    if not np.all(np.isfinite(z)):
        return x0
    return full(z)[0]


# ---------------------------------------------------------------------------- exact checks
def _point(t: _Target, x: np.ndarray) -> dict[str, float]:
    return {v: float(c) for v, c in zip(t.variables, x, strict=True)}


@dataclass(frozen=True)
class _Checked:
    attack: Attack
    key: Fraction  # exact quantity to minimise (sign * objective)
    infeas: float  # float infeasibility (ties among infeasible points)


def _check(t: _Target, x: np.ndarray, source: str) -> _Checked:
    point = _point(t, x)
    if not np.all(np.isfinite(x)):
        attack = Attack(point, float("nan"), False, None, source)
        return _Checked(attack, Fraction(0), float("inf"))
    ev = t.problem.evaluate_exact(point)  # exact: strict inequalities as > 0, equalities as == 0
    feasible, value = bool(ev.feasible), Fraction(ev.objective)
    margin = None if t.claim is None else Fraction(t.claim.margin_exact(point))
    _, inf = _values(t, x[None, :])
    key = value if t.sign > 0 else -value
    return _Checked(Attack(point, float(value), feasible, margin, source), key, float(inf[0]))


def _violates(t: _Target, a: Attack) -> bool:
    if t.claim is None or not a.feasible or a.violation is None:
        return False
    strict = t.claim.constraint.kind is ConstraintKind.GT
    fails = a.violation <= 0 if strict else a.violation < 0
    return bool(fails) and not t.claim.holds_at(a.point)


def _repair(t: _Target, x: np.ndarray, anchors: list[np.ndarray], source: str,
            budget_end: float) -> _Checked | None:
    """Pull an exactly infeasible ``x`` towards the nearest exactly feasible anchor."""
    if not anchors:
        return None
    arr = np.array(anchors)
    a = arr[int(np.argmin(np.sum((arr - x) ** 2, axis=1)))]
    for step in _REPAIR_STEPS:
        if time.perf_counter() > budget_end:
            return None
        y = project_to_box((x + step * (a - x))[None, :], t.problem)[0]
        c = _check(t, y, source + "+repair")
        if c.attack.feasible:
            return c
    return None


# ---------------------------------------------------------------------------- driver
def _as_rng(rng: np.random.Generator | int) -> np.random.Generator:
    if isinstance(rng, np.random.Generator):
        return rng
    if isinstance(rng, int | np.integer):
        return np.random.default_rng(int(rng))
    raise InvalidValueError(
        f"rng must be a numpy Generator or an int seed, got {type(rng).__name__}"
    )


def _candidates(t: _Target, pseudo: PseudoDistribution | None, gen: np.random.Generator, n_samples: int,
                n_starts: int, n_uniform: int) -> tuple[np.ndarray, np.ndarray]:
    """Candidate points (projected to the box) and the name of the generator of each.

    With moments: the atoms, the mean, Gaussian and (for ±1 variables) hyperplane samples; always
    ``n_uniform`` uniform box samples.  Rows with non-finite entries are dropped.
    """
    n = len(t.variables)
    generators: list[tuple[str, CandidateGenerator, int]] = []
    if pseudo is not None:
        generators += [
            ("atom", atoms_candidates, n_starts),
            ("mean", mean_candidates, 1),
            ("gaussian", gaussian_candidates, n_samples),
            ("hyperplane", hyperplane_candidates, n_samples if np.any(t.pm) else 0),
        ]
    generators.append(("uniform", uniform_candidates, n_uniform))
    blocks, labels = [], []
    for name, fn, k in generators:
        rows = fn(pseudo, t.problem, gen, k) if k > 0 else np.zeros((0, n))
        rows = rows[np.all(np.isfinite(rows), axis=1)]
        blocks.append(rows)
        labels += [name] * rows.shape[0]
    cands = project_to_box(np.vstack(blocks) if blocks else np.zeros((0, n)), t.problem)
    return cands, np.array(labels, dtype=object)


def _check_all(t: _Target, finals: list[tuple[np.ndarray, str]], end: float) -> tuple[list[_Checked], int]:
    """Exact checks of the final points, then a repair of the infeasible local-search results.

    Stops at ``end`` (after at least one check); returns the checked points and the number of exact checks.
    """
    checked: list[_Checked] = []
    anchors: list[np.ndarray] = []
    pending: list[tuple[np.ndarray, str]] = []
    n_exact = 0
    for x, s in finals:
        if time.perf_counter() > end and checked:
            break
        c = _check(t, x, s)
        n_exact += 1
        checked.append(c)
        if c.attack.feasible:
            anchors.append(x)
        else:
            pending.append((x, s))
    for x, s in pending:
        if time.perf_counter() > end:
            break
        if s.endswith("+local"):
            c2 = _repair(t, x, anchors, s, end)
            if c2 is not None:
                checked.append(c2)
                n_exact += 1
    return checked, n_exact


def attack(
    problem_or_claim: Problem | Claim,
    pseudo: PseudoDistribution | None,
    *,
    rng: np.random.Generator | int,
    budget_s: float = 10.0,
    n_samples: int = 256,
    n_starts: int = 16,
    n_uniform: int | None = None,
    max_iter: int = 200,
) -> AttackResult:
    """Search for the best concrete point (or a counterexample) seeded by a pseudodistribution.

    Parameters
    ----------
    problem_or_claim : Problem or Claim
        For a ``Problem``: maximise/minimise its objective over its feasible set.  For a ``Claim``
        ``p ≥ 0`` (or ``p > 0``) on ``K``: minimise ``p`` over ``K``; a feasible point with
        ``p < 0`` (``p ≤ 0``) is a counterexample.
    pseudo : PseudoDistribution or None
        The relaxation's moments (variables: the problem's, or a subset).  ``None``: moment-free
        multistart.
    rng : Generator or int
        Explicit randomness (Gaussian samples, hyperplanes, atoms' random combination).
    budget_s : float
        Wall-time budget for the local searches and exact checks (checked between steps).
    n_samples : int
        Gaussian / hyperplane samples (each) drawn from ``pseudo``.
    n_starts : int
        Continuous local searches (the best-ranked candidates, atoms and mean always included).
    n_uniform : int or None
        Uniform box samples added; default ``n_samples`` without ``pseudo`` and 0 with it.
    max_iter : int
        Iteration cap of each continuous local search.

    Returns
    -------
    AttackResult
        Every reported point was re-evaluated exactly; ``counterexample`` is set only for a claim
        that fails exactly at an exactly feasible point.
    """
    t0 = time.perf_counter()
    end = t0 + float(budget_s)
    gen = _as_rng(rng)
    t = _target(problem_or_claim)
    if n_uniform is None:
        n_uniform = n_samples if pseudo is None else 0
    cands, src = _candidates(t, pseudo, gen, n_samples, n_starts, n_uniform)
    n_cand = cands.shape[0]
    if n_cand == 0:
        return AttackResult(AttackStatus.NO_FEASIBLE_POINT, None, None, 0, 0, 0,
                            time.perf_counter() - t0, "no candidate points could be generated")

    n_local = 0
    if np.all(t.pm):
        improved = _flip_descent(t, cands, end)
        n_local = n_cand
        starts, start_src = improved, np.array([s + "+flip" for s in src], dtype=object)
        starts, keep = np.unique(starts, axis=0, return_index=True)
        start_src = start_src[keep]
        obj, inf = _values(t, starts)
        order = _rank(obj, inf)[: max(n_starts, 1)]
        finals = [(starts[i], str(start_src[i])) for i in order]
    else:
        obj, inf = _values(t, cands)
        forced = np.flatnonzero(np.isin(src, ["atom", "mean"]))
        ranked = _rank(obj, inf)
        seq = np.concatenate([forced, ranked[~np.isin(ranked, forced)]])
        _, first = np.unique(cands[seq], axis=0, return_index=True)
        picks = seq[np.sort(first)][: max(n_starts, forced.size)]
        finals = [(cands[i], str(src[i])) for i in picks]  # raw starts are checked too
        for i in picks:
            if time.perf_counter() > end:
                break
            x = project_to_box(_continuous(t, cands[i], max_iter)[None, :], t.problem)[0]
            finals.append((x, str(src[i]) + "+local"))
            n_local += 1

    checked, n_exact = _check_all(t, finals, end)

    feasible = [c for c in checked if c.attack.feasible]
    elapsed = time.perf_counter() - t0
    if feasible:
        best = min(feasible, key=lambda c: c.key).attack
        cex = best if _violates(t, best) else None
        if cex is not None:
            status = AttackStatus.COUNTEREXAMPLE
            margin = float(best.violation or 0)
            msg = (f"counterexample from {best.source}: claim margin {margin:.6g} "
                   "at an exactly feasible point (exact arithmetic)")
        else:
            status = AttackStatus.FEASIBLE
            what = "smallest claim margin" if t.claim is not None else "best objective"
            msg = (f"{len(feasible)} exactly feasible point(s); {what} {best.value:.10g} "
                   f"({best.source})")
        return AttackResult(status, best, cex, n_cand, n_local, n_exact, elapsed, msg)
    best_inf = min(checked, key=lambda c: c.infeas).attack if checked else None
    return AttackResult(AttackStatus.NO_FEASIBLE_POINT, best_inf, None, n_cand, n_local, n_exact,
                        elapsed, f"none of {n_exact} point(s) is exactly feasible")


def multistart(
    problem_or_claim: Problem | Claim,
    *,
    rng: np.random.Generator | int,
    n_starts: int = 16,
    n_samples: int = 256,
    budget_s: float = 10.0,
    max_iter: int = 200,
) -> AttackResult:
    """Moment-free baseline: ``n_samples`` uniform box samples, the best ``n_starts`` refined.

    Same local methods and exact re-evaluation as :func:`attack`.
    """
    return attack(problem_or_claim, None, rng=rng, budget_s=budget_s, n_samples=n_samples,
                  n_starts=n_starts, n_uniform=n_samples, max_iter=max_iter)


def refine(problem: Problem, points: np.ndarray, *, max_iter: int = 200) -> np.ndarray:
    """Polish points (e.g. atoms extracted from moments) by local optimisation on the real problem.

    Each row of ``points`` (in ``problem.variables`` order) starts a local search (L-BFGS-B on boxes,
    SLSQP otherwise, exact polynomial gradients); a polished point replaces its start only if it is
    no less feasible and no worse in objective.  Nothing here is exact: callers re-check.
    """
    t = _target(problem)
    pts = np.atleast_2d(np.asarray(points, dtype=np.float64))
    out = pts.copy()
    f = problem.objective
    for i, x0 in enumerate(pts):
        x1 = _continuous(t, x0, max_iter)
        v0 = problem.violation(dict(zip(t.variables, x0, strict=True)))
        v1 = problem.violation(dict(zip(t.variables, x1, strict=True)))
        f0 = t.sign * float(f.evaluate(x0[None, :], t.variables)[0])
        f1 = t.sign * float(f.evaluate(x1[None, :], t.variables)[0])
        if v1 <= max(v0, 1e-12) and f1 <= f0 + 1e-12:
            out[i] = x1
    return out

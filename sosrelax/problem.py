"""Polynomial optimisation problems and worst-case claims over basic semialgebraic sets.

A :class:`Problem` is

.. math::  \\min_x \\text{ (or } \\max_x) \\; f(x) \\quad \\text{s.t.} \\quad
           g_i(x) \\ge 0 \\;(\\text{or } > 0), \\qquad h_j(x) = 0,

over the set :math:`K = \\{x : g_i(x) \\ge 0,\\ h_j(x) = 0\\}`.  A :class:`Claim` is the statement
":math:`p(x) \\ge 0` (or :math:`> 0`) for every :math:`x \\in K`"; it holds exactly when the
minimum of :math:`p` over :math:`K` is :math:`\\ge 0` (:math:`> 0`), which is what the relaxations
bound from below.

Every polynomial stored in a problem is declared over ``problem.variables`` in that order, so
``g.exps`` columns line up with ``problem.variables`` for every ``g``.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import Enum
from fractions import Fraction
from types import MappingProxyType
from typing import Any

import numpy as np

from sosrelax.errors import InvalidOperationError, InvalidValueError, UnknownVariableError
from sosrelax.poly import Constraint, ConstraintKind, Polynomial, as_float, var_name

__all__ = [
    "Claim",
    "Constraint",
    "ConstraintKind",
    "ExactEvaluation",
    "Polynomial",
    "Problem",
    "Sense",
    "ball",
    "box",
    "hypercube",
    "simplex",
]

PointLike = Mapping[Any, Any] | Sequence[Any] | np.ndarray


class Sense(Enum):
    """Direction of optimisation."""

    MINIMIZE = "minimize"
    MAXIMIZE = "maximize"


# --------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------


def _flatten_constraints(items: Any, where: str = "subject_to") -> list[Constraint]:
    if items is None:
        return []
    if isinstance(items, Constraint):
        return [items]
    if isinstance(items, (str, bytes, Polynomial)) or not isinstance(items, Iterable):
        _reject_constraint(items, where)
    out: list[Constraint] = []
    for i, c in enumerate(items):
        here = f"{where}[{i}]"
        if isinstance(c, Constraint):
            out.append(c)
        elif isinstance(c, (list, tuple)):
            out.extend(_flatten_constraints(c, here))
        else:
            _reject_constraint(c, here)
    return out


def _reject_constraint(c: Any, where: str) -> None:
    if isinstance(c, Polynomial):
        what = f"the Polynomial {str(c)!r}"
        fix = ("compare it with a number or another polynomial, e.g. `p >= 0` or "
               "`x**2 + y**2 <= 1` (a polynomial alone does not say which side of zero is "
               "allowed)")
    elif isinstance(c, bool):
        what = f"the bool {c!r}"
        fix = ("a comparison of plain numbers was evaluated by Python; compare polynomials, "
               "e.g. `x**2 + y**2 <= 1`")
    else:
        what = f"{c!r} ({type(c).__name__})"
        fix = "write a constraint by comparing polynomials, e.g. `x**2 + y**2 <= 1` or `x + y == 0`"
    raise InvalidOperationError(f"{where} is {what}, not a Constraint; {fix}")


def _as_poly(f: Any, what: str) -> Polynomial:
    if isinstance(f, Polynomial):
        return f
    if isinstance(f, numbers.Real) and not isinstance(f, bool):
        return Polynomial.constant(as_float(f, what))
    if isinstance(f, Constraint):
        raise InvalidOperationError(
            f"{what} is the constraint '{f}', expected a polynomial; put constraints in "
            "subject_to=[...]"
        )
    raise InvalidOperationError(
        f"{what} is {f!r} ({type(f).__name__}), expected a Polynomial, e.g. x**2 + y"
    )


def _bound_value(v: Any, name: str, side: str) -> float | None:
    if v is None:
        return None
    try:
        f = float(v)
    except (TypeError, ValueError) as e:
        raise InvalidValueError(f"bounds[{name!r}] {side} bound {v!r} is not a number") from e
    except OverflowError:
        f = as_float(v, f"bounds[{name!r}] {side} bound")
    if math.isfinite(f):
        as_float(v, f"bounds[{name!r}] {side} bound")  # refuses exact numbers float64 rounds
    if math.isnan(f):
        raise InvalidValueError(f"bounds[{name!r}] has a NaN {side} bound; use ±inf or None")
    if math.isinf(f):
        if (side == "lower" and f > 0) or (side == "upper" and f < 0):
            raise InvalidValueError(
                f"bounds[{name!r}] has {side} bound {f}: the set would be empty"
            )
        return None
    return f


def _round_down(q: Fraction) -> float:
    f = float(q)
    if Fraction(f) > q:
        f = math.nextafter(f, -math.inf)
    return f


def _round_up(q: Fraction) -> float:
    f = float(q)
    if Fraction(f) < q:
        f = math.nextafter(f, math.inf)
    return f


def _sqrt_up(q: Fraction) -> Fraction | None:
    """An upper bound on sqrt(q), q >= 0, as an exact rational; None if it overflows."""
    try:
        s = math.sqrt(float(q))
    except OverflowError:
        return None
    if math.isinf(s):
        return None
    while Fraction(s) ** 2 < q:
        s = math.nextafter(s, math.inf)
    return Fraction(s)


def _exact_coefs(g: Polynomial) -> tuple[np.ndarray, list[Fraction]]:
    return g.exps, [Fraction(c) for c in g.coefs.tolist()]


# --------------------------------------------------------------------------------------------
# Problem
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False, init=False)
class Problem:
    """A polynomial optimisation problem ``min/max f(x)  s.t.  g_i(x) >= 0, h_j(x) == 0``.

    Parameters
    ----------
    minimize, maximize : Polynomial or number
        The objective; give exactly one.
    subject_to : Constraint or (nested) list of Constraints
        Built by comparing polynomials: ``1 - x**2 - y**2 >= 0``, ``x + y == 0``, ``x*y > 0``.
        Constraints that are identically true (``0 >= 0``, ``0 == 0``) are dropped.
    bounds : dict name -> (lo, hi), optional
        Each finite bound is added as an inequality ``x - lo >= 0`` / ``hi - x >= 0`` (after
        ``subject_to``); ``None`` or an infinite value omits that side.
    variables : sequence of str, optional
        Fixes the order of the variables and may add unused ones; it must contain every variable
        used.  By default: the union of the variables of the objective, the constraints and the
        bounds, in order of first appearance.

    Attributes
    ----------
    objective : Polynomial
    sense : Sense
    inequalities : tuple of Polynomial
        ``g_i``, each meaning ``g_i(x) >= 0`` (or ``> 0`` where ``strict[i]``).
    strict : tuple of bool
    equalities : tuple of Polynomial
        ``h_j``, each meaning ``h_j(x) == 0``.
    variables : tuple of str
        Every stored polynomial is declared over exactly these variables, in this order.
    bounds : mapping name -> (lo, hi)
        The bounds as given (``-inf``/``inf`` for omitted sides), already among the inequalities.
    """

    objective: Polynomial
    sense: Sense
    inequalities: tuple[Polynomial, ...]
    equalities: tuple[Polynomial, ...]
    strict: tuple[bool, ...]
    variables: tuple[str, ...]
    bounds: Mapping[str, tuple[float, float]]

    def __init__(
        self,
        *,
        minimize: Polynomial | float | None = None,
        maximize: Polynomial | float | None = None,
        subject_to: Any = (),
        bounds: Mapping[Any, tuple[Any, Any]] | None = None,
        variables: Sequence[str] | None = None,
    ) -> None:
        if (minimize is None) == (maximize is None):
            given = "both" if minimize is not None else "neither"
            raise InvalidValueError(
                f"give exactly one of minimize= and maximize= ({given} given), e.g. "
                "Problem(minimize=x**2 + y**2, subject_to=[x + y >= 1])"
            )
        sense = Sense.MINIMIZE if minimize is not None else Sense.MAXIMIZE
        f = _as_poly(minimize if minimize is not None else maximize, sense.value)
        cons = _flatten_constraints(subject_to)
        bound_items: dict[str, tuple[float, float]] = {}
        bound_cons: list[Constraint] = []
        for key, pair in (bounds or {}).items():
            name = var_name(key)
            try:
                lo_raw, hi_raw = pair
            except (TypeError, ValueError) as e:
                raise InvalidValueError(
                    f"bounds[{name!r}] must be a pair (lo, hi), got {pair!r}"
                ) from e
            lo = _bound_value(lo_raw, name, "lower")
            hi = _bound_value(hi_raw, name, "upper")
            if lo is not None and hi is not None and lo > hi:
                raise InvalidValueError(
                    f"bounds[{name!r}] = ({lo}, {hi}) has lower > upper: the set is empty"
                )
            xv = Polynomial.variable(name)
            if lo is not None:
                bound_cons.append(xv >= lo)
            if hi is not None:
                bound_cons.append(xv <= hi)
            bound_items[name] = (-math.inf if lo is None else lo, math.inf if hi is None else hi)
        all_cons = [*cons, *bound_cons]
        if variables is not None:
            names = tuple(var_name(v) for v in variables)
            if len(set(names)) != len(names):
                raise InvalidValueError(f"variable names are repeated in {names}")
            used: list[str] = []
            for p in (f, *(c.poly for c in all_cons)):
                used.extend(v for v in p.used_variables if v not in used)
            used.extend(v for v in bound_items if v not in used)
            missing = [v for v in used if v not in names]
            if missing:
                raise UnknownVariableError(
                    f"the problem uses {missing}, which are not among variables={list(names)}; "
                    "add them"
                )
        else:
            acc: list[str] = []
            seen: set[str] = set()
            for p in (f, *(c.poly for c in all_cons)):
                for v in p.variables:
                    if v not in seen:
                        seen.add(v)
                        acc.append(v)
            names = tuple(acc)
        ineq: list[Polynomial] = []
        strict: list[bool] = []
        eq: list[Polynomial] = []
        for c in all_cons:
            g = c.poly.with_variables(names)
            if c.kind is ConstraintKind.EQ:
                if not g.is_zero:
                    eq.append(g)
            elif c.kind is ConstraintKind.GE and g.is_zero:
                continue
            else:
                ineq.append(g)
                strict.append(c.kind is ConstraintKind.GT)
        object.__setattr__(self, "objective", f.with_variables(names))
        object.__setattr__(self, "sense", sense)
        object.__setattr__(self, "inequalities", tuple(ineq))
        object.__setattr__(self, "equalities", tuple(eq))
        object.__setattr__(self, "strict", tuple(strict))
        object.__setattr__(self, "variables", names)
        object.__setattr__(self, "bounds", MappingProxyType(bound_items))

    # -- derived -------------------------------------------------------------------------------

    @property
    def n_variables(self) -> int:
        """Number of variables."""
        return len(self.variables)

    @property
    def degree(self) -> int:
        """Largest total degree among the objective and the constraints."""
        return max(p.degree for p in (self.objective, *self.inequalities, *self.equalities))

    @property
    def minimization_objective(self) -> Polynomial:
        """``f`` when minimising, ``-f`` when maximising: the problem is ``min`` of this."""
        return self.objective if self.sense is Sense.MINIMIZE else -self.objective

    @property
    def constraints(self) -> tuple[Constraint, ...]:
        """The constraints as :class:`Constraint` objects (inequalities, then equalities)."""
        out = [Constraint(g, ConstraintKind.GT if s else ConstraintKind.GE)
               for g, s in zip(self.inequalities, self.strict, strict=True)]
        out += [Constraint(h, ConstraintKind.EQ) for h in self.equalities]
        return tuple(out)

    # -- points --------------------------------------------------------------------------------

    def _point(self, point: PointLike) -> np.ndarray:
        if isinstance(point, Mapping):
            vals = {var_name(k): v for k, v in point.items()}
            missing = [v for v in self.variables if v not in vals]
            if missing:
                raise UnknownVariableError(
                    f"the point gives no value for {missing}; the problem's variables are "
                    f"{list(self.variables)}"
                )
            return np.array([float(vals[v]) for v in self.variables])
        x = np.asarray(point, dtype=np.float64).reshape(-1)
        if x.shape[0] != self.n_variables:
            raise InvalidValueError(
                f"the point has {x.shape[0]} coordinates, expected {self.n_variables} (one per "
                f"variable in {self.variables})"
            )
        return x

    def violation(self, point: PointLike) -> float:
        """Largest constraint violation at ``point`` (floating point).

        ``max(max_i -g_i(x), max_j |h_j(x)|, 0)``; strict inequalities count like non-strict
        ones (a point with ``g_i(x) = 0`` violates ``g_i > 0`` by 0).  NaN values give ``inf``.
        """
        x = self._point(point).reshape(1, -1)
        g_vals = [float(g.evaluate(x)[0]) for g in self.inequalities]
        h_vals = [float(h.evaluate(x)[0]) for h in self.equalities]
        if any(math.isnan(v) for v in (*g_vals, *h_vals)):
            return math.inf
        return max([0.0, *(-v for v in g_vals), *(abs(v) for v in h_vals)])

    def is_feasible_point(self, point: PointLike, tol: float = 0.0) -> bool:
        """Floating-point test: ``g_i(x) >= -tol`` (``> -tol`` if strict), ``|h_j(x)| <= tol``.

        With ``tol = 0`` a strict inequality requires ``g_i(x) > 0``.  For an exact test use
        :meth:`evaluate_exact`.
        """
        x = self._point(point).reshape(1, -1)
        for g, s in zip(self.inequalities, self.strict, strict=True):
            v = float(g.evaluate(x)[0])
            if not (v > -tol if s else v >= -tol):
                return False
        return all(abs(float(h.evaluate(x)[0])) <= tol for h in self.equalities)

    def evaluate_exact(self, point: PointLike) -> ExactEvaluation:
        """Objective and constraint values at ``point`` in exact rational arithmetic."""
        if isinstance(point, Mapping):
            vals = {var_name(k): v for k, v in point.items()}
            missing = [v for v in self.variables if v not in vals]
            if missing:
                raise UnknownVariableError(
                    f"the point gives no value for {missing}; the problem's variables are "
                    f"{list(self.variables)}"
                )
            seq = [vals[v] for v in self.variables]
        else:
            seq = list(np.asarray(point, dtype=object).reshape(-1))
            if len(seq) != self.n_variables:
                raise InvalidValueError(
                    f"the point has {len(seq)} coordinates, expected {self.n_variables} (one "
                    f"per variable in {self.variables})"
                )
        return ExactEvaluation(
            objective=self.objective.evaluate_exact(seq),
            inequalities=tuple(g.evaluate_exact(seq) for g in self.inequalities),
            strict=self.strict,
            equalities=tuple(h.evaluate_exact(seq) for h in self.equalities),
        )

    # -- bounds --------------------------------------------------------------------------------

    def variable_box(self) -> tuple[np.ndarray, np.ndarray]:
        """Per-variable interval ``[lo, hi]`` containing the feasible set (``±inf`` if unknown).

        Sound outer bounds, proved in exact rational arithmetic and rounded outwards, from:

        * linear inequalities and equalities (equalities read as ``h >= 0`` and ``-h >= 0``),
          single-variable ones directly and the others by interval propagation
          (``a_j x_j >= -c - Σ_{i≠j} sup a_i x_i``, a few rounds -- e.g. a simplex gives
          ``[0, 1]``);
        * separable concave quadratics ``c + Σ_j (b_j x_j - a_j x_j²) >= 0`` with every
          ``a_j > 0`` (balls, ellipsoids with axes along the coordinates, ``x² <= r``,
          ``x² == 1``), which give ``|x_j - m_j| <= sqrt(R / a_j)`` with
          ``m_j = b_j / (2 a_j)``, ``R = c + Σ_j b_j² / (4 a_j)``.

        Nothing else is inferred.  An infeasible constraint set may give ``lo > hi``.

        Returns
        -------
        lo, hi : ndarray of float64, shape (n_variables,)
        """
        n = self.n_variables
        lo: list[Fraction | None] = [None] * n
        hi: list[Fraction | None] = [None] * n

        def tighten(j: int, lower: Fraction | None, upper: Fraction | None) -> bool:
            changed = False
            if lower is not None and (lo[j] is None or lower > lo[j]):  # type: ignore[operator]
                lo[j] = lower
                changed = True
            if upper is not None and (hi[j] is None or upper < hi[j]):  # type: ignore[operator]
                hi[j] = upper
                changed = True
            return changed

        facts: list[Polynomial] = list(self.inequalities)
        for h in self.equalities:
            facts.extend([h, -h])
        linear: list[tuple[Fraction, dict[int, Fraction]]] = []
        for g in facts:
            if g.degree == 1 or g.degree == 0:
                c, lin = _linear_parts(g)
                if not lin:
                    continue
                if len(lin) == 1:
                    (j, a), = lin.items()
                    if a > 0:
                        tighten(j, -c / a, None)
                    else:
                        tighten(j, None, -c / a)
                else:
                    linear.append((c, lin))
            elif g.degree == 2:
                ball = _separable_concave(g)
                if ball is None:
                    continue
                centre, radius2 = ball
                if radius2 < 0:
                    continue  # the constraint is infeasible; any box is sound
                for j, (m_j, a_j) in centre.items():
                    s = _sqrt_up(radius2 / a_j)
                    if s is not None:
                        tighten(j, m_j - s, m_j + s)
        for _ in range(4):
            changed = False
            for c, lin in linear:
                # a_j x_j >= -c - sum_{i != j} a_i x_i >= -c - sum_{i != j} sup(a_i x_i): the sum of the
                # finite sups once per constraint, each term left out by subtraction (exact rationals)
                sups: dict[int, Fraction | None] = {}
                for i, a_i in lin.items():
                    b = hi[i] if a_i > 0 else lo[i]
                    sups[i] = None if b is None else a_i * b
                unbounded = sum(1 for v in sups.values() if v is None)
                if unbounded > 1:
                    continue
                total_sup = sum((v for v in sups.values() if v is not None), Fraction(0))
                for j, a_j in lin.items():
                    s_j = sups[j]
                    if s_j is None:
                        rest = total_sup
                    elif unbounded:
                        continue
                    else:
                        rest = total_sup - s_j
                    total = -c - rest
                    if a_j > 0:
                        changed |= tighten(j, total / a_j, None)
                    else:
                        changed |= tighten(j, None, total / a_j)
            if not changed:
                break
        lo_f = np.array([-np.inf if v is None else _round_down(v) for v in lo], dtype=np.float64)
        hi_f = np.array([np.inf if v is None else _round_up(v) for v in hi], dtype=np.float64)
        return lo_f, hi_f

    # -- printing ------------------------------------------------------------------------------

    def __repr__(self) -> str:
        lines = [f"Problem({self.sense.value} {self.objective}"]
        if self.inequalities or self.equalities:
            lines.append("  subject to")
            for c in self.constraints:
                lines.append(f"    {c}")
        lines.append(f"  variables: {', '.join(self.variables) if self.variables else '(none)'})")
        return "\n".join(lines)

    __str__ = __repr__


def _linear_parts(g: Polynomial) -> tuple[Fraction, dict[int, Fraction]]:
    exps, cs = _exact_coefs(g)
    c = Fraction(0)
    lin: dict[int, Fraction] = {}
    for row, v in zip(exps.tolist(), cs, strict=True):
        if not any(row):
            c = v
        else:
            lin[row.index(1)] = v
    return c, lin


def _separable_concave(g: Polynomial) -> tuple[dict[int, tuple[Fraction, Fraction]],
                                                  Fraction] | None:
    """``g = c + Σ_j (b_j x_j - a_j x_j²)`` with all ``a_j > 0``: centres, ``a_j`` and ``R``."""
    exps, cs = _exact_coefs(g)
    c = Fraction(0)
    a: dict[int, Fraction] = {}
    b: dict[int, Fraction] = {}
    for row, v in zip(exps.tolist(), cs, strict=True):
        d = sum(row)
        if d == 0:
            c = v
        elif d == 1:
            b[row.index(1)] = v
        else:
            if 2 not in row:
                return None  # a cross term x_i x_j
            j = row.index(2)
            if v >= 0:
                return None
            a[j] = -v
    if not a or any(j not in a for j in b):
        return None
    radius2 = c + sum((b.get(j, Fraction(0)) ** 2 / (4 * a[j]) for j in a), Fraction(0))
    centre = {j: (b.get(j, Fraction(0)) / (2 * a[j]), a[j]) for j in a}
    return centre, radius2


@dataclass(frozen=True)
class ExactEvaluation:
    """Exact (rational) values of a problem's objective and constraints at one point."""

    objective: Fraction
    inequalities: tuple[Fraction, ...]
    strict: tuple[bool, ...]
    equalities: tuple[Fraction, ...]

    @property
    def feasible(self) -> bool:
        """Exact membership: every ``g_i >= 0`` (``> 0`` if strict) and every ``h_j == 0``."""
        ok_ineq = all((v > 0) if s else (v >= 0)
                      for v, s in zip(self.inequalities, self.strict, strict=True))
        return ok_ineq and all(v == 0 for v in self.equalities)

    @property
    def max_violation(self) -> Fraction:
        """``max(max_i -g_i, max_j |h_j|, 0)`` exactly."""
        cands = [Fraction(0), *(-v for v in self.inequalities), *(abs(v) for v in self.equalities)]
        return max(cands)


# --------------------------------------------------------------------------------------------
# Claim
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False, init=False)
class Claim:
    """The statement "for every x in K: f(x) <= t" (or ``>=``, ``<``, ``>``).

    ``Claim(f <= t, subject_to=[...])`` is normalised to ``p(x) >= 0`` for all ``x`` in ``K``
    with ``p = t - f`` (``p > 0`` for a strict claim).  It holds exactly when
    ``min_{x in K} p(x) >= 0`` (``> 0``): :attr:`problem` is that minimisation.  Equality claims
    (``f == t``) are refused: state ``f <= t`` and ``f >= t`` as two claims.

    Parameters
    ----------
    statement : Constraint
    subject_to, bounds, variables
        As for :class:`Problem`; they describe ``K``.

    Attributes
    ----------
    constraint : Constraint
        The claimed inequality, normalised (kind GE or GT).
    problem : Problem
        ``minimize p subject to K``.
    """

    constraint: Constraint
    problem: Problem

    def __init__(
        self,
        statement: Constraint,
        subject_to: Any = (),
        *,
        bounds: Mapping[Any, tuple[Any, Any]] | None = None,
        variables: Sequence[str] | None = None,
    ) -> None:
        if not isinstance(statement, Constraint):
            if isinstance(statement, bool):
                raise InvalidOperationError(
                    f"the claim is the bool {statement!r}, not a Constraint: a comparison of "
                    "plain numbers was evaluated by Python; write e.g. Claim(x**2 + y**2 <= 2, "
                    "subject_to=[...])"
                )
            raise InvalidOperationError(
                f"the claim must be a Constraint such as `x**2 + y**2 <= 2`, got "
                f"{statement!r} ({type(statement).__name__})"
            )
        if statement.kind is ConstraintKind.EQ:
            raise InvalidValueError(
                f"the claim '{statement}' is an equality; sosrelax certifies inequalities over "
                "a set. State `f <= t` and `f >= t` as two claims"
            )
        problem = Problem(minimize=statement.poly, subject_to=subject_to, bounds=bounds,
                          variables=variables)
        object.__setattr__(self, "constraint",
                           Constraint(problem.objective, statement.kind))
        object.__setattr__(self, "problem", problem)

    @property
    def strict(self) -> bool:
        """True for a strict claim (``p > 0`` on K)."""
        return self.constraint.kind is ConstraintKind.GT

    @property
    def margin_poly(self) -> Polynomial:
        """``p``: the claim is ``p(x) >= 0`` (``> 0``) on K."""
        return self.constraint.poly

    def margin_exact(self, point: PointLike) -> Fraction:
        """Exact ``p(point)``; the claim holds at the point when this is ``>= 0`` (``> 0``)."""
        return self.problem.objective.evaluate_exact(_as_seq(self.problem, point))

    def holds_at(self, point: PointLike) -> bool:
        """Exact test of ``p(point) >= 0`` (``> 0`` if strict).  Membership in K is not checked."""
        m = self.margin_exact(point)
        return m > 0 if self.strict else m >= 0

    def is_counterexample(self, point: PointLike) -> bool:
        """Exact test: ``point`` lies in K and the claim fails there."""
        ev = self.problem.evaluate_exact(point)
        if not ev.feasible:
            return False
        return not (ev.objective > 0 if self.strict else ev.objective >= 0)

    def __repr__(self) -> str:
        p = self.problem
        lines = [f"Claim(for every x in K: {self.constraint}"]
        if p.inequalities or p.equalities:
            lines.append("  K:")
            for c in p.constraints:
                lines.append(f"    {c}")
        lines.append(f"  variables: {', '.join(p.variables) if p.variables else '(none)'})")
        return "\n".join(lines)

    __str__ = __repr__


def _as_seq(problem: Problem, point: PointLike) -> list[Any]:
    if isinstance(point, Mapping):
        vals = {var_name(k): v for k, v in point.items()}
        used = set(problem.objective.used_variables)
        missing = [v for v in problem.variables if v not in vals and v in used]
        if missing:
            raise UnknownVariableError(
                f"the point gives no value for {missing}; the variables are "
                f"{list(problem.variables)}"
            )
        return [vals.get(v, 0) for v in problem.variables]
    seq = list(np.asarray(point, dtype=object).reshape(-1))
    if len(seq) != problem.n_variables:
        raise InvalidValueError(
            f"the point has {len(seq)} coordinates, expected {problem.n_variables} (one per "
            f"variable in {problem.variables})"
        )
    return seq


# --------------------------------------------------------------------------------------------
# set constructors
# --------------------------------------------------------------------------------------------


def _variable_list(vars: Any) -> list[Polynomial]:
    if isinstance(vars, (Polynomial, str)):
        vars = [vars]
    out = []
    for v in vars:
        out.append(Polynomial.variable(var_name(v)))
    if len({v.variables[0] for v in out}) != len(out):
        raise InvalidValueError("a variable is repeated")
    return out


def _broadcast(v: Any, n: int, what: str) -> np.ndarray:
    a = np.asarray(v, dtype=np.float64)
    if a.ndim == 0:
        a = np.full(n, float(a))
    if a.shape != (n,):
        raise InvalidValueError(f"{what} has shape {a.shape}, expected a number or ({n},)")
    if np.any(np.isnan(a)):
        raise InvalidValueError(f"{what} contains NaN")
    return a


def box(vars: Any, lo: Any = -1.0, hi: Any = 1.0) -> list[Constraint]:
    """``lo_i <= x_i <= hi_i`` as ``x_i - lo_i >= 0``, ``hi_i - x_i >= 0`` (inf sides dropped)."""
    xs = _variable_list(vars)
    lo_a = _broadcast(lo, len(xs), "lo")
    hi_a = _broadcast(hi, len(xs), "hi")
    out: list[Constraint] = []
    for x, a, b in zip(xs, lo_a.tolist(), hi_a.tolist(), strict=True):
        if a > b:
            raise InvalidValueError(f"box: lower bound {a} > upper bound {b} for {x}")
        if a == math.inf or b == -math.inf:
            raise InvalidValueError(f"box: bounds ({a}, {b}) for {x} leave nothing")
        if math.isfinite(a):
            out.append(x >= a)
        if math.isfinite(b):
            out.append(x <= b)
    return out


def ball(vars: Any, radius: float = 1.0, center: Any = None) -> list[Constraint]:
    """``Σ_i (x_i - c_i)² <= radius²`` as ``radius² - Σ_i (x_i - c_i)² >= 0``."""
    xs = _variable_list(vars)
    r = float(radius)
    if not math.isfinite(r) or r < 0:
        raise InvalidValueError(f"ball: radius must be finite and non-negative, got {radius!r}")
    c = np.zeros(len(xs)) if center is None else _broadcast(center, len(xs), "center")
    if not np.all(np.isfinite(c)):
        raise InvalidValueError("ball: center must be finite")
    s = Polynomial.constant(r * r)
    for x, ci in zip(xs, c.tolist(), strict=True):
        s = s - (x - ci) ** 2
    return [s >= 0]


def simplex(vars: Any) -> list[Constraint]:
    """The standard simplex: ``x_i >= 0`` and ``Σ_i x_i == 1``."""
    xs = _variable_list(vars)
    out = [x >= 0 for x in xs]
    total = Polynomial.constant(0.0)
    for x in xs:
        total = total + x
    out.append(total == 1)
    return out


def hypercube(vars: Any) -> list[Constraint]:
    """The vertices of the hypercube: ``x_i² == 1`` (``x_i ∈ {-1, 1}``)."""
    return [x**2 == 1 for x in _variable_list(vars)]

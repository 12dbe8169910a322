"""Problems, claims, exact evaluation, sound variable boxes and set constructors."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sosrelax.errors import InvalidOperationError, InvalidValueError, UnknownVariableError
from sosrelax.poly import Polynomial, variables
from sosrelax.problem import (
    Claim,
    ConstraintKind,
    Problem,
    Sense,
    ball,
    box,
    hypercube,
    simplex,
)


def test_problem_normalisation() -> None:
    x, y = variables("x y")
    f = x**4 * y**2 + x**2 * y**4 - 3 * x**2 * y**2 + 1
    p = Problem(minimize=f, subject_to=[1 - x**2 - y**2 >= 0, [x + y == 0, x * y > -1]])
    assert p.sense is Sense.MINIMIZE and p.variables == ("x", "y")
    assert len(p.inequalities) == 2 and p.strict == (False, True)
    assert p.inequalities[0].equals(1 - x**2 - y**2)
    assert p.inequalities[1].equals(x * y + 1)
    assert p.equalities[0].equals(x + y)
    assert all(g.variables == p.variables for g in (*p.inequalities, *p.equalities, p.objective))
    assert p.degree == 6
    assert [c.kind for c in p.constraints] == [ConstraintKind.GE, ConstraintKind.GT,
                                              ConstraintKind.EQ]
    text = repr(p)
    assert "minimize" in text and "x + y == 0" in text and "variables: x, y" in text
    q = Problem(maximize=x, subject_to=x >= 0)
    assert q.sense is Sense.MAXIMIZE and q.minimization_objective.equals(-x)


def test_variables_order_and_bounds() -> None:
    x, y, z = variables("x y z")
    p = Problem(minimize=y, subject_to=[x >= 0], bounds={"z": (-1, None), y: (None, 2)})
    assert p.variables == ("y", "x", "z")
    assert len(p.inequalities) == 3
    assert p.bounds["z"] == (-1.0, math.inf) and p.bounds["y"] == (-math.inf, 2.0)
    q = Problem(minimize=y, subject_to=[x >= 0], variables=["x", "w", "y"])
    assert q.variables == ("x", "w", "y") and q.objective.variables == ("x", "w", "y")
    with pytest.raises(UnknownVariableError, match="'x'"):
        Problem(minimize=y, subject_to=[x >= 0], variables=["y"])
    # trivially true constraints are dropped
    assert Problem(minimize=x, subject_to=[x - x >= 0, y - y == 0]).inequalities == ()


@pytest.mark.parametrize("kwargs, exc, words", [
    (dict(), InvalidValueError, "exactly one"),
    (dict(minimize=1.0, maximize=2.0), InvalidValueError, "both"),
    (dict(minimize=1.0, subject_to=["x >= 0"]), InvalidOperationError, "str"),
    (dict(minimize=1.0, subject_to=[True]), InvalidOperationError, "bool"),
    (dict(minimize=1.0, bounds={"x": (float("nan"), 1.0)}), InvalidValueError, "NaN"),
    (dict(minimize=1.0, bounds={"x": (2.0, 1.0)}), InvalidValueError, "lower > upper"),
])
def test_problem_validation(kwargs: dict, exc: type, words: str) -> None:
    with pytest.raises(exc, match=words):
        Problem(**kwargs)


def test_polynomial_instead_of_constraint_message() -> None:
    x, y = variables("x y")
    with pytest.raises(InvalidOperationError) as ei:
        Problem(minimize=x, subject_to=[x >= 0, x**2 + y**2 - 1])
    msg = str(ei.value)
    assert "subject_to[1]" in msg and "x^2 + y^2 - 1" in msg and "x**2 + y**2 <= 1" in msg


def test_feasibility_violation_and_exact_evaluation() -> None:
    x, y = variables("x y")
    p = Problem(minimize=x * y, subject_to=[1 - x**2 - y**2 >= 0, x > 0, x - y == 0])
    assert p.is_feasible_point({"x": 0.5, "y": 0.5})
    assert not p.is_feasible_point({"x": 0.0, "y": 0.0})  # strict x > 0
    assert p.is_feasible_point([0.0, 0.0], tol=1e-9)
    assert p.violation([1.0, 0.0]) == 1.0
    assert p.violation({"x": 0.25, "y": 0.25}) == 0.0
    ev = p.evaluate_exact({"x": Fraction(1, 3), "y": "1/3"})
    assert ev.objective == Fraction(1, 9)
    assert ev.inequalities == (Fraction(7, 9), Fraction(1, 3)) and ev.equalities == (0,)
    assert ev.feasible and ev.max_violation == 0
    ev2 = p.evaluate_exact([0.1, 0.2])
    assert ev2.equalities[0] == Fraction(0.1) - Fraction(0.2) and not ev2.feasible
    with pytest.raises(UnknownVariableError, match="'y'"):
        p.evaluate_exact({"x": 1})


def test_variable_box_known_sets() -> None:
    x, y, z = variables("x y z")
    lo, hi = Problem(minimize=x, subject_to=ball([x, y], 2.0, [1.0, -1.0])).variable_box()
    np.testing.assert_array_equal(lo, [-1.0, -3.0])
    np.testing.assert_array_equal(hi, [3.0, 1.0])
    lo, hi = Problem(minimize=x, subject_to=simplex([x, y, z])).variable_box()
    np.testing.assert_array_equal(lo, [0, 0, 0])
    np.testing.assert_array_equal(hi, [1, 1, 1])
    lo, hi = Problem(minimize=x, subject_to=[*hypercube([x, y]), z * x >= 0]).variable_box()
    np.testing.assert_array_equal(lo, [-1, -1, -np.inf])
    np.testing.assert_array_equal(hi, [1, 1, np.inf])
    lo, hi = Problem(minimize=x, subject_to=[3 * x + 1 >= 0, y**2 <= 2, x * y <= 1]).variable_box()
    assert lo[0] <= -1 / 3 and Fraction(lo[0]) <= Fraction(-1, 3) < Fraction(lo[0]) + 1e-15
    assert hi[0] == np.inf
    assert Fraction(hi[1]) ** 2 >= 2 and hi[1] - math.sqrt(2) < 1e-15 and lo[1] == -hi[1]
    lo, hi = Problem(minimize=x, bounds={"x": (-2, 5)}, subject_to=box(y, 0, 1)).variable_box()
    np.testing.assert_array_equal(lo, [-2, 0])
    np.testing.assert_array_equal(hi, [5, 1])


@settings(max_examples=20, deadline=None)
@given(st.lists(st.integers(-4, 4), min_size=3, max_size=3),
       st.integers(1, 5), st.integers(0, 2**31))
def test_variable_box_is_sound(a: list[int], r: int, seed: int) -> None:
    """Feasible points sampled from the set always lie in the box."""
    x, y, z = variables("x y z")
    cons = [*ball([x, y], float(r), [a[0] / 3, a[1] / 7]),
            a[2] * x + y + z >= -1, z <= 2, x + y - z >= -3]
    p = Problem(minimize=x, subject_to=cons)
    lo, hi = p.variable_box()
    rng = np.random.default_rng(seed)
    pts = rng.uniform(-10, 10, size=(3000, 3))
    G = np.column_stack([g.evaluate(pts) for g in p.inequalities])
    near = pts[(G >= -1e-6).all(axis=1)]  # the exact test only where it may pass
    feas = [q for q in near if p.evaluate_exact(q.tolist()).feasible]
    for q in feas:
        assert np.all(lo <= q) and np.all(q <= hi)


def test_set_constructors() -> None:
    x, y = variables("x y")
    c = box([x, y], [-1, 0], [1, np.inf])
    assert len(c) == 3
    assert c[0].poly.equals(x + 1) and c[2].poly.equals(y)
    b = ball([x, y], 2.0, [1.0, 0.0])
    assert b[0].poly.equals(4 - (x - 1) ** 2 - y**2)
    s = simplex([x, y])
    assert s[-1].kind is ConstraintKind.EQ and s[-1].poly.equals(x + y - 1)
    assert hypercube(x)[0].poly.equals(x**2 - 1)
    with pytest.raises(InvalidValueError):
        box([x], 2, 1)
    with pytest.raises(InvalidValueError):
        ball([x], -1.0)
    with pytest.raises(InvalidValueError):
        box([x], float("nan"), 1)
    with pytest.raises(InvalidValueError):
        box([x + y], 0, 1)


def test_claim() -> None:
    x, y = variables("x y")
    claim = Claim(x**2 + y**2 <= 2, subject_to=[x**4 + y**4 <= 1])
    assert claim.constraint.kind is ConstraintKind.GE and not claim.strict
    assert claim.constraint.poly.equals(2 - x**2 - y**2)
    assert claim.problem.sense is Sense.MINIMIZE
    assert claim.problem.objective.equals(claim.constraint.poly)
    assert claim.problem.inequalities[0].equals(1 - x**4 - y**4)
    assert claim.holds_at({"x": 1, "y": 1}) and claim.margin_exact({"x": 1, "y": 1}) == 0
    assert claim.margin_exact([1.5, 0]) == Fraction(-1, 4) and not claim.holds_at([1.5, 0])
    assert not claim.is_counterexample([1.5, 0])  # outside K
    strict = Claim(x > 0, subject_to=box(x, -1, 1))
    assert strict.strict and not strict.holds_at([0]) and strict.is_counterexample([0])
    assert Claim(x >= 1).constraint.poly.equals(x - 1)
    assert "for every x in K" in repr(claim)
    with pytest.raises(InvalidValueError, match="two claims"):
        Claim(x == 1)
    with pytest.raises(InvalidOperationError):
        Claim(x**2 + 1)  # type: ignore[arg-type]


def test_reexports() -> None:
    from sosrelax import problem

    assert problem.Polynomial is Polynomial
    assert problem.Constraint is type(variables("x")[0] >= 0)

"""The conic standard form: svec/smat algebra, validation of programs, residuals."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from sosrelax.conic import (
    Cone,
    ConeKind,
    ConicProgram,
    ConicSolution,
    Residuals,
    SolverStatus,
    compute_residuals,
    cone_violation,
    smat,
    svec,
    svec_indices,
    svec_scale,
    triangular_order,
)
from sosrelax.errors import InvalidValueError


def _sym(seed: int, n: int, batch: tuple[int, ...] = ()) -> np.ndarray:
    rng = np.random.default_rng(seed)
    M = rng.standard_normal(batch + (n, n))
    return (M + np.swapaxes(M, -1, -2)) / 2


# ---------------------------------------------------------------- svec / smat


def test_svec_order_is_upper_triangle_by_columns() -> None:
    rows, cols = svec_indices(3)
    assert list(zip(rows.tolist(), cols.tolist(), strict=True)) == [
        (0, 0),
        (0, 1),
        (1, 1),
        (0, 2),
        (1, 2),
        (2, 2),
    ]
    X = np.array([[1.0, 2.0, 4.0], [2.0, 3.0, 5.0], [4.0, 5.0, 6.0]])
    r2 = math.sqrt(2.0)
    np.testing.assert_array_equal(svec(X), [1.0, 2 * r2, 3.0, 4 * r2, 5 * r2, 6.0])
    np.testing.assert_array_equal(svec_scale(3), [1, r2, 1, r2, r2, 1])


@settings(max_examples=60, deadline=None)
@given(n=st.integers(1, 9), seed=st.integers(0, 2**32 - 1))
def test_smat_svec_round_trip(n: int, seed: int) -> None:
    X = _sym(seed, n)
    np.testing.assert_allclose(smat(svec(X)), X, rtol=0, atol=1e-15)
    v = np.random.default_rng(seed + 1).standard_normal(n * (n + 1) // 2)
    np.testing.assert_allclose(svec(smat(v)), v, rtol=0, atol=1e-14)


@settings(max_examples=60, deadline=None)
@given(n=st.integers(1, 9), seed=st.integers(0, 2**32 - 1))
def test_svec_inner_product_is_trace(n: int, seed: int) -> None:
    X, Y = _sym(seed, n), _sym(seed ^ 0x5A5A, n)
    assert svec(X) @ svec(Y) == pytest.approx(np.trace(X @ Y), rel=1e-12, abs=1e-12)


def test_svec_smat_batched_match_loop() -> None:
    Xs = _sym(7, 4, batch=(2, 3))
    V = svec(Xs)
    assert V.shape == (2, 3, 10)
    for i in range(2):
        for j in range(3):
            np.testing.assert_array_equal(V[i, j], svec(Xs[i, j]))
    np.testing.assert_allclose(smat(V), Xs, atol=1e-15)


def test_svec_rejects_bad_shapes() -> None:
    with pytest.raises(InvalidValueError):
        svec(np.zeros((2, 3)))
    with pytest.raises(InvalidValueError, match="n\\(n\\+1\\)/2"):
        smat(np.zeros(4))
    assert triangular_order(10) == 4
    assert triangular_order(0) == 0


# ---------------------------------------------------------------- cones and programs


def test_cone_sizes() -> None:
    assert Cone(ConeKind.PSD, 4).size == 10
    assert Cone(ConeKind.SOC, 3).size == 3
    assert Cone(ConeKind.ZERO, 0).size == 0
    with pytest.raises(InvalidValueError):
        Cone(ConeKind.PSD, 0)
    with pytest.raises(InvalidValueError):
        Cone(ConeKind.NONNEG, -1)
    with pytest.raises(InvalidValueError):
        Cone("psd", 2)  # type: ignore[arg-type]


def _small_program(**overrides: object) -> ConicProgram:
    data: dict[str, object] = {
        "c": np.array([1.0, 2.0]),
        "A": sp.csc_matrix(np.array([[1.0, 1.0], [-1.0, 0.0], [0.0, -1.0]])),
        "b": np.array([1.0, 0.0, 0.0]),
        "cones": (Cone(ConeKind.ZERO, 1), Cone(ConeKind.NONNEG, 2)),
    }
    data.update(overrides)
    return ConicProgram(**data)  # type: ignore[arg-type]


def test_program_helpers_and_coercion() -> None:
    prog = _small_program(A=np.array([[1.0, 1.0], [-1.0, 0.0], [0.0, -1.0]]))
    assert isinstance(prog.A, sp.csc_matrix)
    assert (prog.nvar, prog.nrows) == (2, 3)
    assert prog.cone_slices() == [slice(0, 1), slice(1, 3)]
    assert "nvar=2" in repr(prog)
    with pytest.raises(ValueError):
        prog.c[0] = 5.0  # read-only: programs are immutable


@pytest.mark.parametrize(
    ("overrides", "fragment"),
    [
        ({"c": np.array([1.0, np.nan])}, "c has 1 non-finite"),
        ({"b": np.array([1.0, np.inf, 0.0])}, "b has 1 non-finite"),
        ({"A": sp.csc_matrix(np.ones((2, 2)))}, "A has shape"),
        ({"cones": (Cone(ConeKind.ZERO, 1),)}, "cone sizes sum to 1"),
        ({"offset": math.inf}, "offset must be finite"),
        ({"A": sp.csc_matrix(np.array([[np.nan, 1.0], [0, 0], [0, 0]]))}, "A has non-finite"),
        ({"cones": (Cone(ConeKind.ZERO, 1), 2)}, "cones\\[1\\]"),
    ],
)
def test_program_rejects_bad_data(overrides: dict[str, object], fragment: str) -> None:
    with pytest.raises(InvalidValueError, match=fragment):
        _small_program(**overrides)


# ---------------------------------------------------------------- cone membership, residuals


def test_cone_violation_per_kind() -> None:
    cones = [
        Cone(ConeKind.ZERO, 1),
        Cone(ConeKind.NONNEG, 2),
        Cone(ConeKind.SOC, 3),
        Cone(ConeKind.PSD, 2),
        Cone(ConeKind.PSD, 2),
    ]
    psd_ok = svec(np.array([[2.0, 1.0], [1.0, 2.0]]))  # eigenvalues 1, 3
    psd_bad = svec(np.array([[1.0, 2.0], [2.0, 1.0]]))  # eigenvalues −1, 3
    v = np.concatenate([[0.0], [1.0, 0.0], [5.0, 3.0, 4.0], psd_ok, psd_ok])
    assert cone_violation(cones, v) == pytest.approx(0.0, abs=1e-15)
    assert cone_violation(
        cones, np.concatenate([[0.0], [1.0, 0.0], [5.0, 3.0, 4.0], psd_ok, psd_bad])
    ) == pytest.approx(1.0)
    assert cone_violation(
        cones, np.concatenate([[0.3], [1.0, -0.2], [4.0, 3.0, 4.0], psd_ok, psd_ok])
    ) == pytest.approx(1.0)
    # the zero cone's dual is free: only the other cones count for z
    assert cone_violation(
        cones, np.concatenate([[7.0], [1.0, 0.0], [5.0, 3.0, 4.0], psd_ok, psd_ok]), dual=True
    ) == pytest.approx(0.0)


def test_residuals_of_known_optimum() -> None:
    # min x1 + 2 x2  s.t.  x1 + x2 = 1, x ≥ 0  →  x = (1, 0), z = (−1, 0, 1), value 1
    prog = _small_program(offset=0.5)
    x = np.array([1.0, 0.0])
    s = prog.b - prog.A @ x
    z = np.array([-1.0, 0.0, 1.0])
    res = compute_residuals(prog, x, s, z)
    assert res.primal == 0 and res.dual == 0 and res.gap == 0
    assert res.primal_cone == 0 and res.dual_cone == 0
    wrong = compute_residuals(prog, x, s, np.array([-1.0, 0.0, 0.5]))
    assert wrong.dual == pytest.approx(0.5 / 3)
    assert "primal=" in repr(res)
    sol = ConicSolution(SolverStatus.OPTIMAL, x, s, z, 1.5, 1.5, "test", "ok", 1, 0.0, 0.0, res, "")
    assert sol.success and "optimal" in repr(sol)
    assert math.isnan(Residuals().primal)


def test_certificate_residuals() -> None:
    # x ≥ 1 and x ≤ 0: z = (1, 1) gives Aᵀz = 0, bᵀz = −1
    prog = ConicProgram(
        c=np.array([0.0]),
        A=sp.csc_matrix(np.array([[-1.0], [1.0]])),
        b=np.array([-1.0, 0.0]),
        cones=(Cone(ConeKind.NONNEG, 2),),
    )
    res = compute_residuals(prog, None, None, np.array([1.0, 1.0]), certificate="infeasible")
    assert res.dual_certificate == 0.0 and res.dual_cone == 0.0
    with pytest.raises(InvalidValueError):
        compute_residuals(prog, None, None, None, certificate="maybe")

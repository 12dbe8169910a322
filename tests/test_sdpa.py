"""SDPA sparse format: parsing (as SDPLIB writes it), errors naming the line, exact round
trips, and the conversion to the conic standard form (both objectives in SDPA's convention)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

from sosrelax.conic import Cone, ConeKind, ConicProgram, SolverStatus, smat, svec
from sosrelax.errors import InvalidValueError, ParseError
from sosrelax.sdpa import (
    SDPAProblem,
    conic_to_sdpa,
    format_sdpa,
    objective_in_sdpa_convention,
    read_sdpa,
    sdpa_to_conic,
    write_sdpa,
)
from sosrelax.solvers import solve_conic

SDPLIB = Path(__file__).resolve().parents[2] / "shared" / "data" / "sdplib"

# the example of SDPLIB's README, with its comment line and punctuation
EXAMPLE = """"A sample problem.
2 =mdim
2 =nblocks
{2, 2}
10.0 20.0
0 1 1 1 1.0
0 1 2 2 2.0
0 2 1 1 3.0
0 2 2 2 4.0
1 1 1 1 1.0
1 1 2 2 1.0
2 1 2 2 1.0
2 2 1 1 5.0
2 2 1 2 2.0
2 2 2 2 6.0
"""


def test_reads_the_readme_example() -> None:
    p = read_sdpa(EXAMPLE)
    assert p.m == 2 and p.blocks == (2, 2)
    np.testing.assert_array_equal(p.c, [10.0, 20.0])
    np.testing.assert_array_equal(p.matrix(0, 0).toarray(), np.diag([1.0, 2.0]))
    np.testing.assert_array_equal(p.matrix(2, 1).toarray(), [[5.0, 2.0], [2.0, 6.0]])
    np.testing.assert_array_equal(p.matrix(1, 1).toarray(), np.zeros((2, 2)))


def test_example_solved_matches_a_hand_formulation() -> None:
    # (P): min 10 x1 + 20 x2 s.t. diag(x1 − 1, x1 + x2 − 2) ⪰ 0,
    #      [[5x2 − 3, 2x2], [2x2, 6x2 − 4]] ⪰ 0
    p = read_sdpa(EXAMPLE)
    sol = solve_conic(sdpa_to_conic(p), "clarabel")
    assert sol.success
    x1, x2 = sol.x
    X2 = np.array([[5 * x2 - 3, 2 * x2], [2 * x2, 6 * x2 - 4]])
    assert x1 >= 1 - 1e-7 and x1 + x2 >= 2 - 1e-7 and np.linalg.eigvalsh(X2)[0] >= -1e-7
    # the optimum: x2 is the least value with block 2 ⪰ 0, x1 = max(1, 2 − x2)
    x2_star = max(r.real for r in np.roots([26, -38, 12]) if abs(r.imag) < 1e-12)
    value = 10 * max(1.0, 2 - x2_star) + 20 * x2_star
    assert objective_in_sdpa_convention(sol, p) == pytest.approx(value, rel=1e-7)
    assert sol.dual_objective == pytest.approx(value, rel=1e-7)


def test_conic_form_is_sdpa_convention_for_any_y() -> None:
    # −bᵀ svec(Y) = F₀ • Y and (Aᵀ svec(Y))_i = −Fᵢ • Y for every symmetric Y
    p = read_sdpa(EXAMPLE)
    prog = sdpa_to_conic(p)
    rng = np.random.default_rng(11)
    blocks = [rng.standard_normal((2, 2)) for _ in range(2)]
    Ys = [(B + B.T) / 2 for B in blocks]
    z = np.concatenate([svec(Y) for Y in Ys])
    dot = [sum(float(np.sum(p.matrix(i, k).toarray() * Ys[k])) for k in range(2)) for i in range(3)]
    assert -prog.b @ z == pytest.approx(dot[0])
    np.testing.assert_allclose(prog.A.T @ z, [-dot[1], -dot[2]])


def test_diagonal_blocks_become_nonnegative_cones() -> None:
    text = "1\n2\n(2, -3)\n1.0\n0 2 1 1 1.5\n1 1 1 2 2.0\n1 2 3 3 -1.0\n"
    prog = sdpa_to_conic(read_sdpa(text))
    assert prog.cones == (Cone(ConeKind.PSD, 2), Cone(ConeKind.NONNEG, 3))
    np.testing.assert_allclose(prog.b, [0, 0, 0, -1.5, 0, 0])
    np.testing.assert_allclose(prog.A.toarray().ravel(), [0, -2 * math.sqrt(2), 0, 0, 0, 1.0])


def test_lower_triangle_entries_are_mirrored_and_zeros_dropped() -> None:
    upper = read_sdpa("1\n1\n2\n1\n1 1 1 2 3.0\n1 1 2 2 0.0\n")
    lower = read_sdpa("1\n1\n2\n1\n1 1 2 1 3.0\n")
    assert upper == lower and upper.value.size == 1


@pytest.mark.parametrize(
    ("text", "line", "fragment"),
    [
        ("2\n1\n2\n1.0\n", 4, "expected 2 objective coefficients"),
        ("1\n1\n2\n1.0\n1 1 1 1\n", 5, "5 fields"),
        ("1\n1\n2\n1.0\n1 1 1 1 abc\n", 5, "not a number"),
        ("1\n1\n2\n1.0\n1 2 1 1 1.0\n", 5, "block number out of range"),
        ("1\n1\n2\n1.0\n2 1 1 1 1.0\n", 5, "matrix number out of range"),
        ("1\n1\n2\n1.0\n1 1 3 1 1.0\n", 5, "outside its block"),
        ("1\n1\n-2\n1.0\n1 1 1 2 1.0\n", 5, "diagonal block"),
        ("1\n1\n2\n1.0\n1 1 1 2 1.0\n1 1 2 1 2.0\n", 6, "already given on line 5"),
        ("1\n1\n2\nx\n", 4, "must be numbers"),
        ("1\n1\n0\n1.0\n", 3, "non-zero"),
        ("1.5\n1\n2\n1.0\n", 1, "integers"),
        ("1\n1\n2\n1.0\n1 1 1 1 inf\n", 5, "finite"),
    ],
)
def test_parse_errors_name_the_line(text: str, line: int, fragment: str) -> None:
    with pytest.raises(ParseError, match=f"line {line}: .*{fragment}"):
        read_sdpa(text)


def test_parse_error_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "bad.dat-s"
    path.write_text('* header\n"another comment\n1\n1\n2\n1.0\n1 1 1 1 1 1\n')
    with pytest.raises(ParseError, match="bad.dat-s, line 7"):
        read_sdpa(path)
    with pytest.raises(ParseError, match="needs m, nblocks"):
        read_sdpa("1\n1\n")


def test_write_read_example_is_identical(tmp_path: Path) -> None:
    p = read_sdpa(EXAMPLE)
    path = tmp_path / "example.dat-s"
    write_sdpa(p, path, comment="round trip")
    assert path.read_text().startswith('"round trip\n2 =mdim')
    assert read_sdpa(path) == p
    assert read_sdpa(format_sdpa(p)) == p


def test_problem_validates_its_arrays() -> None:
    with pytest.raises(InvalidValueError, match="given twice"):
        SDPAProblem(
            c=[1.0], blocks=(2,), mat=[1, 1], block=[0, 0], row=[0, 1], col=[1, 0], value=[1.0, 2.0]
        )
    with pytest.raises(InvalidValueError, match="outside"):
        SDPAProblem(c=[1.0], blocks=(2,), mat=[1], block=[0], row=[0], col=[2], value=[1.0])


def test_conic_to_sdpa_round_trip_and_equalities() -> None:
    # the mixed LP: min x1 + 2x2 + 3x3 s.t. x1 + x2 + x3 = 1, x1 = x2, x ≥ 0 (value 3/2)
    A = sp.csc_matrix(np.array([[1, 1, 1], [1, -1, 0], [-1, 0, 0], [0, -1, 0], [0, 0, -1.0]]))
    prog = ConicProgram(
        c=np.array([1.0, 2, 3]),
        A=A,
        b=np.array([1.0, 0, 0, 0, 0]),
        cones=(Cone(ConeKind.ZERO, 2), Cone(ConeKind.NONNEG, 3)),
    )
    p = conic_to_sdpa(prog)
    assert p.blocks == (-4, -3)
    sol = solve_conic(sdpa_to_conic(p), "clarabel")
    assert sol.status is SolverStatus.OPTIMAL
    assert objective_in_sdpa_convention(sol, p) == pytest.approx(1.5, rel=1e-7)
    # a program without zero cones comes back unchanged (up to rounding of the √2 scaling)
    psd = sdpa_to_conic(read_sdpa(EXAMPLE))
    again = sdpa_to_conic(conic_to_sdpa(psd))
    assert again.cones == psd.cones
    np.testing.assert_allclose(again.A.toarray(), psd.A.toarray(), rtol=1e-15)
    np.testing.assert_allclose(again.b, psd.b, rtol=1e-15)


def test_conic_to_sdpa_refuses_what_sdpa_cannot_hold() -> None:
    A = sp.csc_matrix(-np.eye(3))
    soc = ConicProgram(c=np.ones(3), A=A, b=np.zeros(3), cones=(Cone(ConeKind.SOC, 3),))
    with pytest.raises(InvalidValueError, match="second-order"):
        conic_to_sdpa(soc)
    shifted = ConicProgram(
        c=np.ones(3), A=A, b=np.zeros(3), cones=(Cone(ConeKind.NONNEG, 3),), offset=2.0
    )
    with pytest.raises(InvalidValueError, match="offset"):
        conic_to_sdpa(shifted)


def test_dual_matrix_from_solution_is_sdpa_y() -> None:
    p = read_sdpa(EXAMPLE)
    sol = solve_conic(sdpa_to_conic(p), "clarabel")
    assert sol.z is not None
    Y1, Y2 = smat(sol.z[:3]), smat(sol.z[3:])
    for i, ci in enumerate(p.c, start=1):  # Fᵢ • Y = cᵢ
        dot = np.sum(p.matrix(i, 0).toarray() * Y1) + np.sum(p.matrix(i, 1).toarray() * Y2)
        assert dot == pytest.approx(ci, rel=1e-7)


# ---------------------------------------------------------------- every SDPLIB file


def _sdplib_files() -> list[Path]:
    return sorted(SDPLIB.glob("*.dat-s")) if SDPLIB.is_dir() else []


@pytest.mark.parametrize("path", _sdplib_files(), ids=lambda p: p.stem)
def test_sdplib_write_read_round_trip(path: Path, tmp_path: Path) -> None:
    p = read_sdpa(path)
    out = tmp_path / path.name
    write_sdpa(p, out)
    q = read_sdpa(out)
    assert q == p
    assert out.read_text() == format_sdpa(q)  # canonical: writing again gives the same bytes
    prog = sdpa_to_conic(p)
    assert prog.nvar == p.m and prog.nrows == sum(
        n * (n + 1) // 2 if n > 0 else -n for n in p.blocks
    )


def test_sdplib_folder_present_or_skip() -> None:
    if not _sdplib_files():
        pytest.skip(f"SDPLIB data not found at {SDPLIB}")
    assert {"truss1", "control1", "infp1"} <= {p.stem for p in _sdplib_files()}

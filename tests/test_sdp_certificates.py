"""SDPA dual-bound certificates: exact weak duality, the checker's refusals, and proven bounds on
SDPLIB that are never on the wrong side of the published optimum.

Sign conventions.  SDPLIB's table reports the optimum in SDPA's own convention:
(P) minimise Σ cᵢxᵢ s.t. Σ Fᵢxᵢ − F₀ ⪰ 0, (D) maximise F₀ • Y s.t. Fᵢ • Y = cᵢ, Y ⪰ 0 (the same
convention as ``tests/test_sdpa.py`` and ``tests/test_solvers.py``: e.g. truss1 is −8.999996, theta1
is +23).  A dual point proves F₀ • Y ≤ min (P), so the *correct side* is "proven ≤ published" with
the published number read as it is written, with no sign flip.  The table keeps only a few
significant digits (hinf1: 2.0326, whose true optimum is 2.03267…), so "≤ published" allows half a
unit in the last printed digit, and the accuracy tests compare at that precision too.
"""

from __future__ import annotations

import ast
import json
import math
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from sosrelax.certificate.check import CheckStatus
from sosrelax.certificate.format import RationalMatrix
from sosrelax.certificate.sdp import SDPCertificate
from sosrelax.certificate.sdpcheck import check_sdp_certificate, exact_inner_products
from sosrelax.certificate.sdpround import (
    SDPBoundStatus,
    certificate_from_dual,
    interior_problem,
    project_dual,
    prove_sdpa_bound,
)
from sosrelax.errors import CertificateFormatError, InvalidValueError
from sosrelax.sdpa import SDPAProblem, read_sdpa, sdpa_to_conic
from sosrelax.solvers import solve_conic

ROOT = Path(__file__).resolve().parents[1]
SDPLIB = ROOT.parent / "shared" / "data" / "sdplib"
SCHEMA = ROOT / "sosrelax" / "certificate" / "sdp_certificate.schema.json"

#: SDPLIB 1.2 table (SDPA convention), as printed
PUBLISHED = {
    "truss1": "-8.999996",
    "truss4": "-9.009996",
    "control1": "1.778463e+01",
    "theta1": "2.300000e+01",
    "mcp100": "2.261574e+02",
    "hinf1": "2.0326e+00",
    "gpp100": "-4.49435e+01",
}


def _published(name: str) -> tuple[float, float]:
    """The published value and half a unit in its last printed digit."""
    text = PUBLISHED[name]
    mant, _, exp = text.lower().partition("e")
    decimals = len(mant.split(".")[1]) if "." in mant else 0
    half_ulp = 0.5 * 10.0 ** (int(exp or 0) - decimals)
    return float(text), half_ulp


def _sdplib(name: str) -> SDPAProblem:
    path = SDPLIB / f"{name}.dat-s"
    if not path.is_file():
        pytest.skip(f"SDPLIB instance {name} not found at {SDPLIB}")
    return read_sdpa(path)


# ------------------------------------------------------------------ a problem solvable by hand

# (P) min x s.t. x I − [[0, 1], [1, 0]] ⪰ 0, i.e. x ≥ λ_max = 1;  (D) max 2 Y₁₂ s.t. tr Y = 1
HAND = "1\n1\n2\n1\n0 1 1 2 1\n1 1 1 1 1\n1 1 2 2 1\n"


def _hand_certificate(y: list[list[Fraction]], bound: Fraction | None = None) -> SDPCertificate:
    return certificate_from_dual(read_sdpa(HAND), [RationalMatrix.from_rows(y)], bound=bound)


def test_hand_certificate_proves_the_optimum() -> None:
    h = Fraction(1, 2)
    rep = check_sdp_certificate(_hand_certificate([[h, h], [h, h]]))
    assert rep.valid and rep.status is CheckStatus.VERIFIED
    assert rep.bound == 1 and rep.claimed_bound == 1
    assert rep.bound_float == 1.0


@pytest.mark.parametrize(
    ("y", "bound", "fragment"),
    [
        ([[Fraction(1, 2), Fraction(1, 2)], [Fraction(1, 2), Fraction(1, 3)]], None, "F_1 • Y"),
        ([[Fraction(1, 2), Fraction(3, 5)], [Fraction(3, 5), Fraction(1, 2)]], None, "not proven PSD"),
        ([[Fraction(1, 2), Fraction(1, 2)], [Fraction(1, 2), Fraction(1, 2)]], Fraction(101, 100), "below the claimed"),
        ([[Fraction(1, 2), Fraction(1, 2)], [Fraction(0), Fraction(1, 2)]], None, "not symmetric"),
    ],
)
def test_hand_certificate_tampered_is_rejected(
    y: list[list[Fraction]], bound: Fraction | None, fragment: str
) -> None:
    rep = check_sdp_certificate(_hand_certificate(y, bound))
    assert not rep.valid and rep.bound is None
    assert fragment in rep.reason


def test_any_verified_y_bounds_every_feasible_x() -> None:
    # weak duality by brute force: every Y the checker accepts is below cᵀx for feasible x
    h = Fraction(1, 2)
    for q in (Fraction(0), Fraction(1, 4), Fraction(1, 2)):
        rep = check_sdp_certificate(_hand_certificate([[h, q], [q, h]]))
        assert rep.valid and rep.bound == 2 * q
        for x in np.linspace(1.0, 3.0, 9):  # the feasible set is x ≥ 1
            assert rep.bound <= Fraction(float(x))


def test_diagonal_blocks_and_round_trip(tmp_path: Path) -> None:
    # (P) min x1 + x2 s.t. diag(x1 − 1, x2 − 2) ⪰ 0 and [[x1, 1], [1, x2]] ⪰ 0: optimum 3
    text = "2\n2\n(-2, 2)\n1 1\n0 1 1 1 1\n0 1 2 2 2\n0 2 1 2 -1\n1 1 1 1 1\n1 2 1 1 1\n2 1 2 2 1\n2 2 2 2 1\n"
    p = read_sdpa(text)
    dual = [RationalMatrix.from_rows([[1, 1]]), RationalMatrix.from_rows([[0, 0], [0, 0]])]
    cert = certificate_from_dual(p, dual, metadata={"instance": "small"})
    rep = check_sdp_certificate(cert, problem=p)
    assert rep.valid and rep.bound == 3
    raw = cert.to_json()
    assert SDPCertificate.from_json(raw).to_json() == raw
    path = tmp_path / "small.cert.json"
    cert.save(path)
    assert SDPCertificate.load(path) == cert
    assert check_sdp_certificate(path).bound == 3
    neg = certificate_from_dual(
        p, [RationalMatrix.from_rows([[2, 1]]), RationalMatrix.from_rows([[0, 0], [0, 0]])]
    )
    # F_1 • Y = 2 ≠ 1 is caught before the diagonal sign
    assert "F_1" in check_sdp_certificate(neg).reason
    bad = certificate_from_dual(
        p, [RationalMatrix.from_rows([[-1, 1]]), RationalMatrix.from_rows([[2, 0], [0, 0]])]
    )
    rep = check_sdp_certificate(bad)
    assert not rep.valid and "diagonal dual block 1" in rep.reason


def test_schema_matches_the_writer() -> None:
    jsonschema = pytest.importorskip("jsonschema")
    schema = json.loads(SCHEMA.read_text())
    h = Fraction(1, 2)
    doc = json.loads(_hand_certificate([[h, h], [h, h]]).to_json())
    jsonschema.validate(doc, schema)
    doc["bound"] = 1.0
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(doc, schema)


# ------------------------------------------------------------------ the reader refuses


def _hand_doc() -> dict[str, object]:
    h = Fraction(1, 2)
    doc: dict[str, object] = json.loads(_hand_certificate([[h, h], [h, h]]).to_json())
    return doc


@pytest.mark.parametrize(
    ("edit", "fragment"),
    [
        (lambda d: d.update(kind="lower_bound"), "kind"),
        (lambda d: d.update(version=2), "version"),
        (lambda d: d.update(extra=1), "unknown field"),
        (lambda d: d.update(bound="0.5"), "not an exact rational"),
        (lambda d: d.update(bound="2/4"), "not reduced"),
        (lambda d: d["dual"][0].pop(), "rows"),
        (lambda d: d["dual"][0][0].append("1"), "entries"),
        (lambda d: d["problem"]["entries"]["matrix"].reverse(), "order"),
        (lambda d: d["problem"]["entries"]["block"].__setitem__(0, 2), "block"),
        (lambda d: d["problem"]["entries"]["value"].__setitem__(0, "0"), "zero"),
        (lambda d: d["problem"].update(blocks=[0]), "blocks"),
    ],
)
def test_reader_rejects_malformed_files(edit: object, fragment: str) -> None:
    doc = _hand_doc()
    edit(doc)  # type: ignore[operator]
    raw = json.dumps(doc).encode()
    with pytest.raises(CertificateFormatError, match=fragment):
        SDPCertificate.from_json(raw)
    rep = check_sdp_certificate(raw)
    assert not rep.valid and rep.reason.startswith("unreadable certificate")


def test_reader_rejects_floats_nan_and_deep_nesting() -> None:
    raw = _hand_certificate([[Fraction(1, 2)] * 2] * 2).to_json()
    with pytest.raises(CertificateFormatError, match="floats are not allowed"):
        SDPCertificate.from_json(raw.replace(b'"bound":"1"', b'"bound":1.0'))
    with pytest.raises(CertificateFormatError, match="not a number"):
        SDPCertificate.from_json(raw.replace(b'"bound":"1"', b'"bound":NaN'))
    with pytest.raises(CertificateFormatError, match="nesting"):
        SDPCertificate.from_json(b"[" * 50 + b"]" * 50)
    with pytest.raises(InvalidValueError, match="shape"):
        certificate_from_dual(read_sdpa(HAND), [RationalMatrix.from_rows([[1]])])


# ------------------------------------------------------------------ rounding and projection


def test_projection_meets_the_equations_exactly() -> None:
    rng = np.random.default_rng(7)
    n, m = 6, 5
    mats = [rng.integers(-3, 4, (n, n)) for _ in range(m + 1)]
    mats = [(a + a.T) / 2 for a in mats]
    entries = [
        (i, 0, r, c, float(a[r, c]))
        for i, a in enumerate(mats)
        for r in range(n)
        for c in range(r, n)
        if a[r, c] != 0
    ]
    arr = np.array(entries)
    y_true = rng.standard_normal((n, n))
    y_true = y_true @ y_true.T
    c = np.array([np.sum(a * y_true) for a in mats[1:]])
    p = SDPAProblem(c=c, blocks=(n,), mat=arr[:, 0], block=arr[:, 1], row=arr[:, 2],
                    col=arr[:, 3], value=arr[:, 4])
    noisy = y_true + 1e-6 * rng.standard_normal((n, n))
    cert = certificate_from_dual(p, [RationalMatrix.from_float((noisy + noisy.T) / 2)])
    projected = project_dual(cert)
    assert not isinstance(projected, str)
    dual, w = projected
    fixed = certificate_from_dual(p, dual)
    dots = exact_inner_products(fixed)
    assert dots[1:] == list(fixed.c)  # exactly
    assert 0 < w < 1e-3
    # the exact inner products agree with floating point
    f0 = float(np.sum(mats[0] * dual[0].to_float()))
    assert float(dots[0]) == pytest.approx(f0, rel=1e-9)


def test_interior_problem_has_the_announced_dual() -> None:
    # on the hand problem: max t s.t. tr Y = 1, 2 Y₁₂ ≥ 1 − δ, Y ⪰ t I → t = δ/2 at the optimum
    p = read_sdpa(HAND)
    delta = 0.1
    aux = interior_problem(p, 1.0 - delta)
    sol = solve_conic(sdpa_to_conic(aux), "clarabel")
    assert sol.success
    assert sol.dual_objective == pytest.approx(delta / 2, abs=1e-7)


def test_prove_bound_on_the_hand_problem() -> None:
    res = prove_sdpa_bound(read_sdpa(HAND))
    assert res.status is SDPBoundStatus.PROVEN and res.success
    assert res.bound is not None and res.bound <= 1 and float(res.bound) == pytest.approx(1, rel=1e-6)
    assert res.report is not None and res.report.valid
    assert res.certificate is not None
    # the returned certificate re-checks from its bytes, against the problem
    assert check_sdp_certificate(res.certificate.to_json(), problem=read_sdpa(HAND)).bound == res.bound


def test_random_feasible_problems_bound_every_sampled_point() -> None:
    """Planted problems: a known feasible x and Y; every proven bound is ≤ cᵀx."""
    rng = np.random.default_rng(2024)
    for _ in range(3):
        n, m = 5, 4
        F = [rng.standard_normal((n, n)) for _ in range(m)]
        F = [np.round((a + a.T) * 4) / 8 for a in F]
        x0 = rng.standard_normal(m)
        s0 = rng.standard_normal((n, n))
        X0 = s0 @ s0.T + np.eye(n)
        F0 = sum(a * xi for a, xi in zip(F, x0, strict=True)) - X0
        F0 = np.round(F0 * 64) / 64
        y0 = rng.standard_normal((n, n))
        Y0 = y0 @ y0.T + np.eye(n)
        c = np.array([np.sum(a * Y0) for a in F])
        entries = [
            (i, 0, r, col, float(a[r, col]))
            for i, a in enumerate([F0, *F])
            for r in range(n)
            for col in range(r, n)
            if a[r, col] != 0
        ]
        arr = np.array(entries)
        p = SDPAProblem(c=c, blocks=(n,), mat=arr[:, 0], block=arr[:, 1], row=arr[:, 2],
                        col=arr[:, 3], value=arr[:, 4])
        res = prove_sdpa_bound(p)
        assert res.success, res.message
        assert res.bound is not None
        # x0 is feasible up to the rounding of F0; sample more feasible points along rays
        for _ in range(20):
            d = rng.standard_normal(m)
            for step in (0.0, 0.1, 0.5):
                x = x0 + step * d
                X = sum(a * xi for a, xi in zip(F, x, strict=True)) - F0
                if np.linalg.eigvalsh(X)[0] >= 0:
                    assert float(res.bound) <= float(c @ x) + 1e-9


# ------------------------------------------------------------------ SDPLIB


def _check_sdplib(
    name: str, solver: str, tol: float | None, rel: float, must_prove: bool = False
) -> None:
    p = _sdplib(name)
    options = {"max_iters": 20_000} if solver == "scs" else None
    res = prove_sdpa_bound(p, solver, tolerance=tol, options=options, metadata={"instance": name})
    published, half_ulp = _published(name)
    if res.bound is None:
        assert not must_prove, (name, res.message)
        assert res.status is SDPBoundStatus.NO_BOUND and res.message
        return
    assert res.report is not None and res.report.valid
    # never the wrong side
    assert res.bound <= Fraction(published) + Fraction(half_ulp), (name, float(res.bound))
    # and tight whenever the solver's answer passed our recheck as optimal
    if res.solver_status == "optimal":
        err = (published - float(res.bound)) / abs(published)
        assert err <= max(rel, half_ulp / abs(published)), (name, err, res.message)


FAST = ["truss1", "truss4", "control1", "hinf1", "theta1", "mcp100"]
#: Clarabel solves these cleanly, so a bound must come out; control1 (a wrong "Solved") and hinf1
#: (its dual has no strictly feasible point, so no rounded Y can be proven PSD) may give none
CLARABEL_PROVES = {"truss1", "truss4", "theta1", "mcp100"}


@pytest.mark.parametrize("name", FAST)
def test_sdplib_clarabel_bound(name: str) -> None:
    _check_sdplib(name, "clarabel", None, 1e-6, must_prove=name in CLARABEL_PROVES)


@pytest.mark.parametrize("name", FAST)
def test_sdplib_scs_bound(name: str) -> None:
    _check_sdplib(name, "scs", 1e-4, 1e-3)


@pytest.mark.slow
@pytest.mark.parametrize(("solver", "tol", "rel"), [("clarabel", None, 1e-6), ("scs", 1e-4, 1e-3)])
def test_sdplib_gpp100_bound(solver: str, tol: float | None, rel: float) -> None:
    _check_sdplib("gpp100", solver, tol, rel)


def test_control1_clarabel_wrong_solved_is_not_a_wrong_bound() -> None:
    p = _sdplib("control1")
    res = prove_sdpa_bound(p, "clarabel")
    published, half_ulp = _published("control1")
    # Clarabel says "Solved" with F₀ • Y ≈ 18.06 > 17.78463 = the optimum
    if res.solver_objective > published * 1.001:
        assert res.solver_status != "optimal"
    if res.bound is not None:
        assert res.bound <= Fraction(published) + Fraction(half_ulp)


def test_sdplib_tampered_certificates(tmp_path: Path) -> None:
    p = _sdplib("truss1")
    res = prove_sdpa_bound(p)
    assert res.certificate is not None and res.bound is not None
    path = tmp_path / "truss1.cert.json"
    res.certificate.save(path)
    doc = json.loads(path.read_text())
    # a dual entry nudged: the equations (or PSD) fail
    blk = next(i for i, b in enumerate(doc["problem"]["blocks"]) if b > 0)
    y = doc["dual"][blk]
    y[0][0] = str(Fraction(y[0][0]) + Fraction(1, 10**9))
    assert not check_sdp_certificate(json.dumps(doc).encode()).valid
    # c changed: the equations fail
    doc = json.loads(path.read_text())
    doc["problem"]["c"][0] = str(Fraction(doc["problem"]["c"][0]) + 1)
    rep = check_sdp_certificate(json.dumps(doc).encode())
    assert not rep.valid and "F_1" in rep.reason
    # F₀ changed: refused against the real problem; alone it proves a bound on the changed problem
    doc = json.loads(path.read_text())
    ent = doc["problem"]["entries"]
    k = ent["matrix"].index(0)
    ent["value"][k] = str(Fraction(ent["value"][k]) * 2)
    raw = json.dumps(doc).encode()
    rep = check_sdp_certificate(raw, problem=p)
    assert not rep.valid and "not a certificate of the given problem" in rep.reason
    alone = check_sdp_certificate(raw)
    if alone.valid:
        changed = SDPCertificate.from_json(raw)
        values = np.array([float(v) for v in changed.value])
        q = SDPAProblem(c=p.c, blocks=p.blocks, mat=p.mat, block=p.block, row=p.row, col=p.col,
                        value=values)
        sol = solve_conic(sdpa_to_conic(q), "clarabel")
        assert alone.bound_float is not None
        assert alone.bound_float <= sol.primal_objective + 1e-6 * (1 + abs(sol.primal_objective))
    # a higher claimed bound than F₀ • Y: refused
    doc = json.loads(path.read_text())
    doc["bound"] = str(Fraction(doc["bound"]) + Fraction(1, 10**6))
    rep = check_sdp_certificate(json.dumps(doc).encode())
    assert not rep.valid and "below the claimed" in rep.reason
    assert check_sdp_certificate(path, problem=p).bound == res.bound


# ------------------------------------------------------------------ independence


ALLOWED = {"__future__", "os", "time", "math", "json", "dataclasses", "enum", "fractions",
           "typing", "pathlib", "numpy", "flint", "sosrelax.certificate.format",
           "sosrelax.certificate.check", "sosrelax.certificate.sdp", "sosrelax.certificate.jsonlimits",
           "sosrelax.certificate.exactpoly", "sosrelax.certificate.psd", "sosrelax.certificate.intervals",
           "sosrelax.certificate.validate", "sosrelax.errors"}


def _imports(path: Path, module_level_only: bool) -> set[str]:
    tree = ast.parse(path.read_text())
    nodes = tree.body if module_level_only else list(ast.walk(tree))
    found: set[str] = set()
    for node in nodes:
        if isinstance(node, ast.If):  # `if TYPE_CHECKING:` imports are annotations only
            continue
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, f"no relative imports in {path.name}"
            found.add(node.module or "")
    return found


def test_sdp_checker_imports_only_trusted_modules() -> None:
    cert_dir = ROOT / "sosrelax" / "certificate"
    found = _imports(cert_dir / "sdpcheck.py", module_level_only=False)
    assert found <= ALLOWED, f"sdpcheck imports {sorted(found - ALLOWED)}"
    # the format module loads no solver code at all (the prover lives in sdpround)
    found = _imports(cert_dir / "sdp.py", module_level_only=False)
    assert found <= ALLOWED, f"sdp imports {sorted(found - ALLOWED)}"
    found = _imports(cert_dir / "jsonlimits.py", module_level_only=False)
    assert found <= ALLOWED, f"sdp imports {sorted(found - ALLOWED)}"
    # check.py, which sdpcheck borrows prove_psd from, keeps to its own rule
    found = _imports(cert_dir / "check.py", module_level_only=False)
    assert found <= ALLOWED, f"check imports {sorted(found - ALLOWED)}"


def test_bound_float_rounds_down() -> None:
    rep = check_sdp_certificate(
        _hand_certificate([[Fraction(1, 2), Fraction(1, 3)], [Fraction(1, 3), Fraction(1, 2)]])
    )
    assert rep.valid and rep.bound == Fraction(2, 3)
    assert rep.bound_float is not None and Fraction(rep.bound_float) <= rep.bound
    assert math.isclose(rep.bound_float, 2 / 3)

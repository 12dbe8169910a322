"""The certify loop: never a wrong verdict, checked against brute-force grids in two dimensions."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest

import sosrelax as sr
from sosrelax.certificate.check import check_certificate
from sosrelax.certify import VerdictStatus, certify, parse_schedule
from sosrelax.errors import InvalidValueError

x, y = sr.variables("x y")
QUARTIC_BALL = [x**4 + y**4 <= 1]
BOX = [*sr.box([x, y], -1, 1)]


def grid_min(p: sr.Polynomial, feasible, n: int = 1201) -> float:
    g = np.linspace(-1.2, 1.2, n)
    X, Y = np.meshgrid(g, g)
    pts = np.column_stack([X.ravel(), Y.ravel()])
    pts = pts[feasible(pts)]
    return float(p.evaluate(pts).min())


CLAIMS = [
    # (claim f <= t, constraints, feasibility mask on a grid)
    (x**2 + y**2 <= 2, QUARTIC_BALL, lambda P: P[:, 0] ** 4 + P[:, 1] ** 4 <= 1),
    (x**2 + y**2 <= 1.4143, QUARTIC_BALL, lambda P: P[:, 0] ** 4 + P[:, 1] ** 4 <= 1),
    (x**2 + y**2 <= 1.35, QUARTIC_BALL, lambda P: P[:, 0] ** 4 + P[:, 1] ** 4 <= 1),
    (x * y - x**3 <= 1.2, BOX, lambda P: np.all(np.abs(P) <= 1, axis=1)),
    (x * y - x**3 <= 0.9, BOX, lambda P: np.all(np.abs(P) <= 1, axis=1)),
    (x**2 * y - y**3 + x >= -1.9, BOX, lambda P: np.all(np.abs(P) <= 1, axis=1)),
    (x**2 * y - y**3 + x >= -1.0, BOX, lambda P: np.all(np.abs(P) <= 1, axis=1)),
]


@pytest.mark.parametrize("k", range(len(CLAIMS)))
def test_verdicts_agree_with_brute_force(k):
    statement, cons, mask = CLAIMS[k]
    claim = sr.Claim(statement, subject_to=cons)
    p = claim.constraint.poly  # the claim reads p >= 0 on K
    truth_min = grid_min(p, mask)  # an upper bound on min_K p (grid points are feasible)
    v = certify(claim, time_limit=60, rng=k, progress=False)
    if v.status is VerdictStatus.CERTIFIED:
        assert truth_min >= 0, "certified a claim that a grid point violates"
        report = check_certificate(v.certificate)
        assert report.valid and report.bound >= 0
        assert v.bound <= truth_min + 1e-9
    elif v.status is VerdictStatus.FALSIFIED:
        cx = v.counterexample
        assert claim.problem.is_feasible_point(cx)
        assert claim.margin_exact(cx) < 0
        assert not claim.holds_at(cx)
    else:
        pytest.fail(f"these claims are decided at low levels: {v}")
    # the margins are large enough to be decided: the verdict matches the grid
    assert (v.status is VerdictStatus.CERTIFIED) == (truth_min >= 0)


def test_unknown_keeps_a_correct_gap():
    """A claim that only a higher level could settle, with a schedule stopped below it."""
    claim = sr.Claim(x**2 + y**2 <= 1.4143, subject_to=QUARTIC_BALL)
    v = certify(claim, schedule=["sdp"], time_limit=30, progress=False)
    # Shor's relaxation does not apply to a quartic set: the rung is skipped, the verdict stays unknown
    assert v.status is VerdictStatus.UNKNOWN
    assert v.log[0].outcome.startswith("skipped")
    assert v.counterexample is None
    if v.bound is not None and v.attack_value is not None:
        assert v.bound <= v.attack_value


def test_empty_set_is_certified_vacuously():
    claim = sr.Claim(x + y <= -100, subject_to=[x**2 + y**2 <= 1, x >= 2])
    v = certify(claim, time_limit=30, progress=False)
    assert v.status is VerdictStatus.CERTIFIED
    assert v.certificate.kind == "infeasible"
    assert check_certificate(v.certificate).valid


def test_strict_claim_needs_a_positive_margin():
    # min over the box of x^2 + y^2 is exactly 0: "x^2 + y^2 > 0" is false at the origin
    v = certify(sr.Claim(x**2 + y**2 > 0, subject_to=BOX), time_limit=30, progress=False)
    assert v.status is VerdictStatus.FALSIFIED
    assert claim_value(v.counterexample) == 0


def claim_value(point):
    return Fraction(point["x"]) ** 2 + Fraction(point["y"]) ** 2


def test_schedules():
    claim = sr.Claim(x**2 <= 1, subject_to=BOX)
    assert parse_schedule("sos", claim, 3) == [("sos", 1), ("sos", 2), ("sos", 3)]
    auto = parse_schedule("auto", claim, 3)
    # cheapest first: LP, DSOS, SDSOS, then Shor's SDP (= SOS level 1), then the higher SOS levels
    assert auto == [("lp", 1), ("dsos", 1), ("sdsos", 1), ("sdp", None), ("sos", 2), ("sos", 3)]
    assert parse_schedule([1, "sos:2", "sdp"], claim) == [("sos", 1), ("sos", 2), ("sdp", None)]
    with pytest.raises(InvalidValueError):
        parse_schedule(["lp-17"], claim)
    with pytest.raises(InvalidValueError):
        certify("x <= 1")  # type: ignore[arg-type]


def test_log_has_one_row_per_rung():
    claim = sr.Claim(x**2 + y**2 <= 1.4143, subject_to=QUARTIC_BALL)
    v = certify(claim, schedule=[2, 3], time_limit=30, progress=False)
    assert v.status is VerdictStatus.CERTIFIED
    assert [r.rung for r in v.log] == ["sos-2"]
    assert v.log[0].outcome == "certified"

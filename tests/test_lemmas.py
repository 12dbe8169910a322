"""Lemma chains: bounds proven first and then used as constraints (how network encodings use
pre-activation bounds).  Every link is re-checked; a derived constraint no lemma implies is rejected."""

from __future__ import annotations

from dataclasses import replace
from fractions import Fraction as F

from sosrelax.certificate.check import check_certificate
from sosrelax.certificate.format import Certificate, EqualityMultiplier, ProductMultiplier

# variables (x, y); K = {x >= 0, 1 - x >= 0, y - 2x = 0}
X, Y, ONE = (1, 0), (0, 1), (0, 0)
G_X = ((X, F(1)),)
G_1MX = ((ONE, F(1)), (X, F(-1)))
H = ((X, F(-2)), (Y, F(1)))
BASE = dict(variables=("x", "y"), equalities=(H,), sos=())

# lemma 1: y >= 0   (y - 0 = 2*x + 1*(y - 2x))
LEM_LOW = Certificate(
    kind="lower_bound",
    objective=((Y, F(1)),),
    bound=F(0),
    inequalities=(G_X, G_1MX),
    equality_multipliers=(EqualityMultiplier(0, ((ONE, F(1)),)),),
    products=(ProductMultiplier((0,), F(2)),),
    **BASE,
)
# lemma 2: y <= 2   (2 - y = 2*(1 - x) - 1*(y - 2x))
LEM_UP = Certificate(
    kind="upper_bound",
    objective=((Y, F(1)),),
    bound=F(2),
    inequalities=(G_X, G_1MX),
    equality_multipliers=(EqualityMultiplier(0, ((ONE, F(-1)),)),),
    products=(ProductMultiplier((1,), F(2)),),
    **BASE,
)
G_Y = ((Y, F(1)),)
G_2MY = ((ONE, F(2)), (Y, F(-1)))
# main: y^2 <= 4 on K, from 4 - y^2 = 2*(2 - y) + (2 - y)*y
MAIN = Certificate(
    kind="upper_bound",
    objective=(((0, 2), F(1)),),
    bound=F(4),
    inequalities=(G_X, G_1MX, G_Y, G_2MY),
    products=(ProductMultiplier((3,), F(2)), ProductMultiplier((2, 3), F(1))),
    equality_multipliers=(),
    lemmas=(LEM_LOW, LEM_UP),
    derived=(2, 3),
    **BASE,
)


def test_chain_verifies_and_round_trips():
    report = check_certificate(MAIN)
    assert report.valid, report.reason
    assert report.bound == 4
    again = Certificate.from_json(MAIN.to_json())
    assert again.to_json() == MAIN.to_json()
    assert check_certificate(again).valid


def test_derived_constraint_stronger_than_the_lemma_is_rejected():
    stronger = ((ONE, F(3, 2)), (Y, F(-1)))  # claims y <= 1.5, the lemma only proves y <= 2
    bad = replace(MAIN, inequalities=(G_X, G_1MX, G_Y, stronger))
    r = check_certificate(bad)
    assert not r.valid and "derived" in r.reason


def test_derived_constraint_without_lemma_is_rejected():
    bad = replace(MAIN, lemmas=(LEM_LOW,))
    r = check_certificate(bad)
    assert not r.valid and "inequalities[3]" in r.reason


def test_lemma_on_a_foreign_set_is_rejected():
    foreign = replace(LEM_UP, inequalities=(G_X, ((ONE, F(5)), (X, F(-1)))))  # x <= 5 is not in K
    r = check_certificate(replace(MAIN, lemmas=(LEM_LOW, foreign)))
    assert not r.valid and "lemmas[1]" in r.reason


def test_wrong_lemma_is_rejected():
    wrong = replace(LEM_UP, bound=F(1))  # y <= 1 is false on K (y = 2 at x = 1)
    r = check_certificate(replace(MAIN, lemmas=(LEM_LOW, wrong)))
    assert not r.valid and r.reason.startswith("lemmas[1]")


def test_positive_multiple_of_a_fact_is_accepted():
    scaled = ((ONE, F(6)), (Y, F(-3)))  # 3 * (2 - y)
    cert = replace(
        MAIN,
        inequalities=(G_X, G_1MX, G_Y, scaled),
        products=(ProductMultiplier((3,), F(2, 3)), ProductMultiplier((2, 3), F(1, 3))),
    )
    assert check_certificate(cert).valid

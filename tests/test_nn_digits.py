"""Digits MLPs trained here (sklearn ``load_digits``, bundled; 2x2-pooled to 16 inputs): per point,
interval <= linear <= LP <= SDP <= exact (MILP) <= PGD-robust."""

from __future__ import annotations

import warnings
from fractions import Fraction

import numpy as np
import pytest

pytest.importorskip("sklearn")

from sosrelax.nn.encode import build_chain  # noqa: E402
from sosrelax.nn.ir import Network, from_weights  # noqa: E402
from sosrelax.nn.moment import sdp_bound  # noqa: E402
from sosrelax.nn.robustness import box_of, certify_point, milp_margin, pgd_attack  # noqa: E402

RUNGS = ("interval", "linear", "lp")


def pooled_digits() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits

    d = load_digits()
    x = (d.data / 16.0).reshape(-1, 4, 2, 4, 2).mean(axis=(2, 4)).reshape(-1, 16)
    return x, d.target


@pytest.fixture(scope="module")
def net_and_data() -> tuple[Network, np.ndarray, np.ndarray]:
    from sklearn.neural_network import MLPClassifier

    x, y = pooled_digits()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # convergence warnings of a deliberately short training
        clf = MLPClassifier(hidden_layer_sizes=(16,), activation="relu", random_state=0, max_iter=300)
        clf.fit(x[:1400], y[:1400])
    net = from_weights([w.T for w in clf.coefs_], clf.intercepts_)
    assert np.array_equal(np.argmax(net.forward(x[1400:]), axis=1), clf.predict(x[1400:]))
    assert clf.score(x[1400:], y[1400:]) > 0.75
    return net, x[1400:], y[1400:]


def _check_point(net: Network, x0: np.ndarray, eps: float, rungs: tuple[str, ...],
                 rng: np.random.Generator) -> dict[str, bool]:
    label = int(np.argmax(net.forward(x0)))
    box = box_of(x0, eps, 0.0, 1.0)
    res = certify_point(net, box, label, rungs)
    exact = -milp_margin(net, box, label)  # min over j of f_label - f_j over the box
    attack = pgd_attack(net, box, label, rng)
    vals = [res.bounds[r] for r in rungs]
    assert all(v is not None for v in vals)
    # the proven bounds nest and never exceed the exact margin
    for a, b in zip(vals, vals[1:], strict=False):
        assert a <= b + 1e-9
    assert vals[-1] <= exact + 1e-6
    # no point certified by a weaker rung is lost by a stronger one; certified points have no attack
    cert = {r: res.certified(r) for r in rungs}
    for a, b in zip(rungs, rungs[1:], strict=False):
        assert not cert[a] or cert[b]
    if cert[rungs[-1]]:
        assert exact > 0 and attack is None
    if attack is not None:
        assert exact <= 1e-9
        lo = np.array([float(v) for v in box[0]])
        hi = np.array([float(v) for v in box[1]])
        assert np.all(attack >= lo) and np.all(attack <= hi)
        y = net.forward(attack)
        assert np.max(np.delete(y, label)) >= y[label]
    cert["exact"] = exact > 0
    cert["pgd"] = attack is None
    return cert


@pytest.mark.parametrize("eps", [0.02, 0.05])
def test_rungs_nest_per_point(net_and_data, eps):
    net, x, _ = net_and_data
    rng = np.random.default_rng(7)
    counts = dict.fromkeys((*RUNGS, "exact", "pgd"), 0)
    for i in range(3):
        for k, v in _check_point(net, x[i], eps, RUNGS, rng).items():
            counts[k] += int(v)
    assert counts["interval"] <= counts["linear"] <= counts["lp"] <= counts["exact"] <= counts["pgd"]


def test_sdp_between_lp_and_exact_on_one_margin(net_and_data):
    net, x, _ = net_and_data
    x0 = x[1]
    label = int(np.argmax(net.forward(x0)))
    box = box_of(x0, 0.05, 0.0, 1.0)
    ch = build_chain(net, *box)
    j = (label + 1) % 10
    c = [Fraction(0)] * 10
    c[label], c[j] = Fraction(1), Fraction(-1)
    f = ch.output_form(c, Fraction(0))
    lp, _, _ = sdp_bound(ch, f, products=False)
    sdp, cert, _ = sdp_bound(ch, f)
    assert lp is not None and sdp is not None and cert is not None
    # exact min of f_label - f_j over the box, by MILP on a two-output copy of the network
    two = from_weights([*net.weights[:-1], net.weights[-1][[label, j]]],
                       [*net.biases[:-1], net.biases[-1][[label, j]]])
    exact = -milp_margin(two, box, 0)
    assert lp - 1e-6 <= sdp <= exact + 1e-6


@pytest.mark.slow
def test_sdp_rung_nests_per_point(net_and_data):
    net, x, _ = net_and_data
    rng = np.random.default_rng(8)
    for i in range(3):
        _check_point(net, x[i], 0.05, (*RUNGS, "sdp"), rng)


def test_sdp_on_reduced_chain_between_lp_and_exact_and_checked(net_and_data):
    """The SDP rung's encoding (stable neurons eliminated): every margin of a point lies between the
    triangle LP and the exact margin; a certificate claiming more is rejected, and so is one whose
    set lacks a constraint the (already checked, cached) lemma chain relies on."""
    from dataclasses import replace

    from sosrelax.certificate.check import check_certificate
    from sosrelax.nn.rungs import lp_rung

    net, x, _ = net_and_data
    x0 = x[4]
    label = int(np.argmax(net.forward(x0)))
    box = box_of(x0, 0.05, 0.0, 1.0)
    red = build_chain(net, *box, eliminate_stable=True)
    full = build_chain(net, *box)
    assert red.n < full.n
    for j in [(label + 1) % 10]:
        c = [Fraction(0)] * 10
        c[label], c[j] = Fraction(1), Fraction(-1)
        _, lp, _, _ = lp_rung(full, full.output_form(c, Fraction(0)), False)
        sdp, cert, _ = sdp_bound(red, red.output_form(c, Fraction(0)))
        two = from_weights([*net.weights[:-1], net.weights[-1][[label, j]]],
                           [*net.biases[:-1], net.biases[-1][[label, j]]])
        exact = -milp_margin(two, box, 0)
        assert lp is not None and sdp is not None and cert is not None
        assert lp - 1e-6 <= sdp <= exact + 1e-6
        assert check_certificate(cert).valid
        assert not check_certificate(replace(cert, bound=cert.bound + Fraction(1, 100))).valid
    # drop a base inequality that the lemmas use (the first input box side): the checker must
    # not take the cached chain's facts for a set they were not proven on
    base = [i for i in range(len(cert.inequalities)) if i not in set(cert.derived)]
    drop = base[0]
    keep = [i for i in range(len(cert.inequalities)) if i != drop]
    at = {i: k for k, i in enumerate(keep)}
    bad = replace(cert, inequalities=tuple(cert.inequalities[i] for i in keep),
                  products=tuple(replace(p, constraints=tuple(at[i] for i in p.constraints))
                                 for p in cert.products if drop not in p.constraints),
                  derived=tuple(at[i] for i in cert.derived))
    rep = check_certificate(bad)
    assert not rep.valid and "not among the certificate's own" in rep.reason

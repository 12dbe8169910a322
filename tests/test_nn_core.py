"""Network IR, bounds, lemma chains and rungs on the auto_LiRPA toy network and tiny random networks."""

from __future__ import annotations

import itertools
from fractions import Fraction

import numpy as np
import pytest

from sosrelax.certificate.check import check_certificate
from sosrelax.errors import ParseError
from sosrelax.nn import robustness_claim
from sosrelax.nn.bounds import crown_bounds, crown_objective, interval_bounds
from sosrelax.nn.encode import build_chain
from sosrelax.nn.ir import Affine, ReLU, from_operations, from_weights
from sosrelax.nn.moment import SdpForm, optimisers, sdp_bound, sos_bound
from sosrelax.nn.verify import Result, verify
from sosrelax.nn.vnnlib import parse_vnnlib


def toy():
    return from_weights([np.array([[1.0, -1.0], [2.0, -1.0]]), np.array([[1.0, -1.0]])])


LO, HI = [-1, -2], [2, 1]


def _rung_bounds(method: str, depth: int | None) -> tuple[float, float]:
    ch = build_chain(toy(), LO, HI, method=method)
    out = []
    for sign in (1, -1):
        f = ch.output_form([Fraction(sign)], Fraction(0))
        L, mult = ch.backsub(f, depth)
        rep = check_certificate(ch.linear_certificate(f, L, mult))
        assert rep.valid, rep.reason
        out.append(sign * float(rep.bound))
    return out[0], out[1]


def test_toy_interval_and_linear_bounds_are_proven():
    assert _rung_bounds("interval", 0) == (-6.0, 4.0)
    assert _rung_bounds("crown", None) == (-3.0, 3.0)


def test_toy_lp_triangle_and_sdp_nest():
    ch = build_chain(toy(), LO, HI)
    lo_lp, _, _ = sdp_bound(ch, ch.output_form([Fraction(1)], Fraction(0)), products=False)
    up_lp, _, _ = sdp_bound(ch, ch.output_form([Fraction(-1)], Fraction(0)), products=False)
    assert lo_lp == pytest.approx(-3.0, abs=1e-6) and -up_lp == pytest.approx(2.0, abs=1e-6)
    lo_s, cert, _ = sdp_bound(ch, ch.output_form([Fraction(1)], Fraction(0)))
    up_s, _, _ = sdp_bound(ch, ch.output_form([Fraction(-1)], Fraction(0)))
    # Shor + LP products: at least as tight as the published plain SDP-cert [-2.3750, 1.5497]
    assert -2.3750 <= lo_s <= -2.0 + 1e-9
    assert 1.0 - 1e-9 <= -up_s <= 1.5497
    assert cert is not None and cert.lemmas and check_certificate(cert).valid


def test_toy_plain_sdp_cert_matches_published_values():
    # Raghunathan et al.'s SDP-cert: base encoding, box and interval hidden bounds as products
    ch = build_chain(toy(), LO, HI, method="interval")
    lo, cert, _ = sdp_bound(ch, ch.output_form([Fraction(1)], Fraction(0)), form=SdpForm.SDP_CERT)
    up, _, _ = sdp_bound(ch, ch.output_form([Fraction(-1)], Fraction(0)), form=SdpForm.SDP_CERT)
    assert lo == pytest.approx(-2.3750, abs=1e-4) and -up == pytest.approx(1.5497, abs=1e-4)
    assert lo <= -2.3750 and -up >= 1.5497  # proven bounds lie on the safe side
    assert cert is not None and check_certificate(cert).valid
    # with the LP rung's products the SDP is at least as tight as both the LP and SDP-cert
    lo2, _, _ = sdp_bound(ch, ch.output_form([Fraction(1)], Fraction(0)), form=SdpForm.WITH_LP)
    assert lo2 >= lo - 1e-9


def test_toy_sos_level2_is_exact_with_optimisers_as_atoms():
    ch = build_chain(toy(), LO, HI)
    f_min = ch.output_form([Fraction(1)], Fraction(0))
    f_max = ch.output_form([Fraction(-1)], Fraction(0))
    lo = sos_bound(ch, f_min)
    up = sos_bound(ch, f_max)
    assert lo.bound is not None and up.bound is not None
    assert -2.0 - 1e-4 <= lo.bound <= -2.0 and 1.0 <= -up.bound <= 1.0 + 1e-4
    assert check_certificate(lo.certificate).valid and lo.certificate.lemmas
    # the minimum -2 is attained on the segment {2} x [-2, 1]; the least-trace moments on the
    # optimal face are a point mass at its end (2, 1); the maximum 1 only at (-1, -2)
    p_min = optimisers(ch, f_min, lo)
    p_max = optimisers(ch, f_max, up)
    assert p_min.shape[0] == 1 and p_max.shape[0] == 1
    assert np.allclose(p_min[0, :2], [2.0, 1.0], atol=1e-3)
    assert np.allclose(p_max[0, :2], [-1.0, -2.0], atol=1e-3)
    for p, want in ((p_min[0], -2.0), (p_max[0], 1.0)):
        assert toy().forward(p[:2])[0] == pytest.approx(want, abs=1e-3)
        assert np.allclose(p[2:], np.maximum(toy().activations(p[:2])[0], 0), atol=1e-3)


def test_tampered_lemma_is_rejected():
    ch = build_chain(toy(), LO, HI)
    f = ch.output_form([Fraction(1)], Fraction(0))
    L, mult = ch.backsub(f, None)
    cert = ch.linear_certificate(f, L, mult)
    from dataclasses import replace

    bad = replace(cert.lemmas[0], bound=cert.lemmas[0].bound + 1)
    rep = check_certificate(replace(cert, lemmas=(bad, *cert.lemmas[1:])))
    assert not rep.valid


def test_float_bounds_contain_samples():
    rng = np.random.default_rng(3)
    net = from_weights([rng.normal(size=(8, 3)), rng.normal(size=(6, 8)), rng.normal(size=(2, 6))],
                       [rng.normal(size=8), rng.normal(size=6), rng.normal(size=2)])
    lo, hi = -np.ones(3), np.ones(3)
    ib, cb = interval_bounds(net, lo, hi), crown_bounds(net, lo, hi)
    X = rng.uniform(lo, hi, size=(2000, 3))
    for k, z in enumerate(net.activations(X)):
        assert np.all(z >= cb.lower[k] - 1e-9) and np.all(z <= cb.upper[k] + 1e-9)
        assert np.all(cb.lower[k] >= ib.lower[k] - 1e-9)
    lb = crown_objective(net, np.eye(2), np.zeros(2), lo, hi, cb)
    assert np.all(net.forward(X).min(axis=0) >= lb - 1e-9)


def test_exact_forward_matches_float():
    net = toy()
    x = [Fraction(1, 3), Fraction(-5, 7)]
    assert float(net.forward_exact(x)[0]) == pytest.approx(net.forward(np.array([1 / 3, -5 / 7]))[0])


def test_from_operations_merges_affine_maps():
    a = Affine(np.array([[2.0, 0.0], [0.0, 3.0]]), np.array([1.0, -1.0]))
    b = Affine(np.array([[1.0, 1.0]]), np.array([0.5]))
    net = from_operations([a, ReLU(), ReLU(), b], 2)
    assert net.hidden_sizes == (2,)
    assert net.forward(np.array([1.0, 1.0]))[0] == pytest.approx(3 + 2 + 0.5)


def _exact_max_margin(net, lo, hi, c):
    """Max of c·f over the box by enumerating activation patterns (one hidden layer): LP per pattern."""
    from scipy.optimize import linprog

    W1, b1 = net.weights[0], net.biases[0]
    W2, b2 = net.weights[1], net.biases[1]
    best = -np.inf
    for pat in itertools.product([0, 1], repeat=W1.shape[0]):
        s = np.array(pat, float)
        A = np.vstack([-W1[s == 1], W1[s == 0]]) if W1.shape[0] else np.zeros((0, lo.size))
        b = np.concatenate([b1[s == 1], -b1[s == 0]])
        obj = -(c @ W2 * s) @ W1
        res = linprog(obj, A_ub=A, b_ub=b, bounds=list(zip(lo, hi, strict=True)), method="highs")
        if res.status == 0:
            best = max(best, -res.fun + (c @ W2 * s) @ b1 + c @ b2)
    return best


@pytest.mark.parametrize("seed", range(6))
def test_tiny_networks_never_wrong(seed):
    rng = np.random.default_rng(seed)
    net = from_weights([rng.normal(size=(6, 2)), rng.normal(size=(2, 6))],
                       [rng.normal(size=6) * 0.3, rng.normal(size=2) * 0.3])
    x0 = rng.uniform(-1, 1, size=2)
    label = int(np.argmax(net.forward(x0)))
    eps = 0.15
    prop = robustness_claim(net, x0, eps, label)
    res = verify(net, prop, timeout=8, rng=rng)
    lo, hi = x0 - eps, x0 + eps
    c = np.zeros(2)
    c[1 - label], c[label] = 1.0, -1.0
    truth = _exact_max_margin(net, lo, hi, c)
    assert res.status in (Result.SAT, Result.UNSAT, Result.TIMEOUT), res
    if res.status is Result.UNSAT:
        assert truth < 1e-9
        assert all(check_certificate(ct).valid for ct in res.certificates)
    else:
        assert truth >= -1e-9


def test_vnnlib_parser_dnf_and_errors():
    prop = parse_vnnlib(
        "(declare-const X_0 Real)(declare-const Y_0 Real)(declare-const Y_1 Real)"
        "(assert (>= X_0 -1))(assert (<= X_0 1))"
        "(assert (or (and (>= Y_0 Y_1)) (and (<= (+ Y_0 (* 2 Y_1)) 0.5))))"
    )
    assert len(prop.disjuncts) == 2
    assert prop.disjuncts[0].lo == (Fraction(-1),)
    with pytest.raises(ParseError, match="line 1|unclosed"):
        parse_vnnlib("(declare-const X_0 Real)(assert (>= X_0 1)")
    with pytest.raises(ParseError, match="not linear"):
        parse_vnnlib("(declare-const X_0 Real)(declare-const Y_0 Real)(assert (>= (* X_0 Y_0) 1))")


def test_shared_terms_give_the_same_verdict_as_copies():
    """Chains share one normalised object per polynomial; the checker's per-object cache must not
    change any verdict (a copy of every polynomial is checked identically, a tampered lemma that
    reuses the shared objects is still rejected, and the cache is empty after each check)."""
    from dataclasses import replace

    from sosrelax.certificate import exactpoly
    from sosrelax.certificate.format import Certificate

    ch = build_chain(toy(), LO, HI)
    f = ch.output_form([Fraction(1)], Fraction(0))
    L, mult = ch.backsub(f, None)
    cert = ch.linear_certificate(f, L, mult)
    shared = check_certificate(cert)
    copied = check_certificate(Certificate.from_json(cert.to_json()))
    assert shared.valid and copied.valid and shared.bound == copied.bound
    assert not exactpoly.MEMO
    lem = cert.lemmas[1]
    bad_products = tuple(replace(p, coefficient=p.coefficient * 2) for p in lem.products)
    bad = replace(lem, products=bad_products)
    rep = check_certificate(replace(cert, lemmas=(cert.lemmas[0], bad, *cert.lemmas[2:])))
    assert not rep.valid
    # the good chain still checks after a rejection that touched the same shared objects
    assert check_certificate(cert).valid


@pytest.mark.parametrize("seed", range(4))
def test_reduced_chain_proves_the_same_bounds_with_fewer_variables(seed):
    from sosrelax.nn.encode import NeuronState

    rng = np.random.default_rng(100 + seed)
    net = from_weights([rng.normal(size=(8, 3)), rng.normal(size=(6, 8)), rng.normal(size=(2, 6))],
                       [rng.normal(size=8), rng.normal(size=6), rng.normal(size=2)])
    lo, hi = [Fraction(-1, 4)] * 3, [Fraction(1, 4)] * 3
    full = build_chain(net, lo, hi, tighten=False)
    red = build_chain(net, lo, hi, eliminate_stable=True)
    assert red.bounds() == full.bounds() and red.neuron_states() == full.neuron_states()
    n_unstable = sum(s is NeuronState.UNSTABLE for layer in red.neuron_states() for s in layer)
    assert red.n == 3 + n_unstable
    # every eliminated neuron carries its proven stability fact
    stable = [m for m in (lem.metadata["lemma"] for lem in red.lemmas) if "active" in m]
    assert len(stable) == sum(s is not NeuronState.UNSTABLE for layer in red.neuron_states() for s in layer)
    X = rng.uniform(-0.25, 0.25, size=(500, 3))
    for sign in (1, -1):
        c = [Fraction(sign), Fraction(0)]
        fr = red.output_form(c, Fraction(0))
        L, mult = red.backsub(fr)
        assert L == full.backsub(full.output_form(c, Fraction(0)))[0]
        rep = check_certificate(red.linear_certificate(fr, L, mult))
        assert rep.valid and rep.bound <= L
        assert np.all(sign * net.forward(X)[:, 0] >= float(L) - 1e-9)
        Li, mi = red.backsub(fr, 0)  # interval-style on the reduced variables (sometimes tighter)
        assert np.all(sign * net.forward(X)[:, 0] >= float(Li) - 1e-9)
        assert check_certificate(red.linear_certificate(fr, Li, mi)).valid


def test_leaves_cover_is_exact():
    from sosrelax.nn.verify import leaves_cover

    F = Fraction
    box = ((F(0), F(0)), (F(1), F(1)))
    halves = [((F(0), F(0)), (F(1, 2), F(1))), ((F(1, 2), F(0)), (F(1), F(1)))]
    assert leaves_cover(box, halves)
    assert not leaves_cover(box, halves[:1])
    assert not leaves_cover(box, [halves[0], halves[0]])  # overlap, volumes add up but a gap
    assert not leaves_cover(box, [*halves, ((F(0), F(0)), (F(2), F(1)))])  # outside

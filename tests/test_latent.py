"""Latent adversaries: planted failures found latent-only, brute-force soundness, tampered envelopes."""

from __future__ import annotations

import json
from fractions import Fraction

import numpy as np
import pytest

import sosrelax.nn as nn
from sosrelax.certificate.proof_tree import check_proof_tree
from sosrelax.errors import InvalidValueError, ParseError
from sosrelax.nn.latent import (
    check_envelope,
    envelope,
    invert,
    latent_network,
    layer_activations,
    load_envelope,
    verify_latent,
)
from sosrelax.nn.rungs import Result
from sosrelax.nn.vnnlib import Atom, Disjunct, Property


def _threshold(n_in: int, n_out: int, j: int, tau: float, lo: float = 0.0, hi: float = 1.0) -> Property:
    """The catastrophe ``Y_j >= tau`` over the input box ``[lo, hi]^n_in`` (latent claims ignore the box)."""
    atom = Atom((), ((j, Fraction(1)),), -Fraction(tau))
    d = Disjunct((Fraction(lo),) * n_in, (Fraction(hi),) * n_in, (atom,))
    return Property(n_in, n_out, (d,), "threshold")


def _corner_net() -> nn.Network:
    """``h = relu(x)``; ``y = relu(h1 + h2 - 1.8) - 0.05``: fails exactly where ``h1 + h2 >= 1.85``."""
    return nn.from_weights([np.eye(2), np.array([[1.0, 1.0]]), np.array([[1.0]])],
                           [np.zeros(2), np.array([-1.8]), np.array([-0.05])])


def test_planted_failure_is_latent_only_and_realised():
    net = _corner_net()
    rng = np.random.default_rng(0)
    X = rng.random((4000, 2))
    X = X[X.sum(axis=1) <= 1.5][:600]  # training data never visit the corner h1 + h2 > 1.5
    env = envelope(net, X, 0, "interval", margin=0.0, held_out=0.25)
    assert env.coverage["fit"] == 1.0
    prop = _threshold(2, 1, 0, 0.0)
    res = verify_latent(net, prop, env, timeout=20)
    assert res.status is Result.SAT
    w = res.witness
    assert w is not None and w.state[0] + w.state[1] >= Fraction(185, 100)  # the planted region, exactly
    assert all(Fraction(float(a)) <= v <= Fraction(float(b)) for a, v, b in zip(env.lo, w.state, env.hi, strict=True))
    # the input-space verifier at eps = 0.1 around training points proves them safe
    eps = 0.1
    for x0 in X[:8]:
        box = Disjunct(tuple(Fraction(float(v)) - Fraction(eps) for v in x0),
                       tuple(Fraction(float(v)) + Fraction(eps) for v in x0), prop.disjuncts[0].atoms)
        r = nn.verify(net, Property(2, 1, (box,), "ball"), timeout=20)
        assert r.status is Result.UNSAT and r.proof_report is not None and r.proof_report.valid
    inv = invert(net, w.state_array(), 0, domain=(0.0, 1.0), data=X, prop=prop)
    assert inv.realised and inv.counterexample is not None
    xq = [Fraction(v) for v in inv.counterexample[0]]
    assert net.forward_exact(xq)[0] >= 0 and all(0 <= v <= 1 for v in xq)


def test_near_miss_reported_with_distance():
    # h = (relu(x), relu(-x)): states lie on two axes, the box envelope also holds (1, 1)
    net = nn.from_weights([np.array([[1.0], [-1.0]]), np.array([[1.0, 1.0]]), np.array([[1.0]])],
                          [np.zeros(2), np.array([-1.2]), np.array([-0.01])])
    X = np.linspace(-1, 1, 201).reshape(-1, 1)
    env = envelope(net, X, 0, "interval", margin=0.0, held_out=0.0)
    prop = _threshold(1, 1, 0, 0.0, -1.0, 1.0)
    res = verify_latent(net, prop, env, timeout=20)
    assert res.status is Result.SAT and res.witness is not None
    s = res.witness.state_array()
    assert s.sum() >= 1.21 - 1e-12
    # no input reaches the catastrophe: the input-space verifier proves it, inversion reports the gap
    r = nn.verify(net, prop, timeout=20)
    assert r.status is Result.UNSAT
    inv = invert(net, s, 0, domain=(-1.0, 1.0), data=X, prop=prop)
    assert not inv.realised
    assert inv.distance >= min(s) - 1e-6  # any reachable state has one coordinate 0


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("kind", ["interval", "polytope", "zonotope", "ellipsoid"])
def test_never_unsat_for_a_planted_catastrophe_inside_the_envelope(seed, kind):
    """Brute force over a 2-D hidden layer: a threshold just below the grid maximum of the output over
    the envelope is a catastrophe inside it; the latent verifier must not call it unsat."""
    rng = np.random.default_rng(seed)
    net = nn.from_weights([rng.normal(size=(2, 2)), rng.normal(size=(6, 2)), rng.normal(size=(1, 6))],
                          [rng.normal(size=2) * 0.3, rng.normal(size=6) * 0.3, np.zeros(1)])
    X = rng.normal(size=(300, 2))
    env = envelope(net, X, 0, kind, margin=0.05, held_out=0.0, rank=1)
    axes = [np.linspace(a, b, 61 if env.n_generators == 2 else 25) for a, b in zip(env.lo, env.hi, strict=True)]
    E = np.stack(np.meshgrid(*axes), axis=-1).reshape(-1, env.n_generators)
    if env.ball:
        E = E[np.sum(E * E, axis=1) <= 1.0]
    S = np.maximum(env.center + E @ env.generators.T, 0.0)  # the states, then the network's own tail
    tail = nn.from_weights(net.weights[1:], net.biases[1:])
    g = tail.forward(S)[:, 0]
    assert np.all(env.contains(layer_activations(net, X, 0)))
    tau = float(g.max() - 0.02 * (g.max() - g.min()))
    res = verify_latent(net, _threshold(2, 1, 0, tau), env, timeout=30)
    assert res.status is not Result.UNSAT
    if res.status is Result.SAT:
        assert res.witness is not None and res.witness.outputs[0] >= Fraction(tau)
    # and above the true maximum (interval arithmetic over the states) it is proven, with a checked proof
    smax = S.max(axis=0)  # states lie in [0, smax] up to the grid's resolution: interval arithmetic above
    umax = np.maximum(np.maximum(tail.weights[0], 0) @ (2 * smax + 1) + tail.biases[0], 0)
    top = float((np.maximum(tail.weights[1], 0) @ umax + tail.biases[1])[0])
    res = verify_latent(net, _threshold(2, 1, 0, top + 1), env, timeout=60)
    assert res.status is not Result.SAT
    if res.proof is not None:
        assert check_proof_tree(res.proof, network=res.network).valid


def test_latent_network_is_the_network_from_the_layer_on():
    rng = np.random.default_rng(3)
    net = nn.from_weights([rng.normal(size=(5, 3)), rng.normal(size=(4, 5)), rng.normal(size=(2, 4))])
    X = rng.normal(size=(50, 3))
    for layer in (0, 1):
        for kind in ("interval", "polytope", "ellipsoid"):
            env = envelope(net, X, layer, kind, held_out=0.0)
            sub = latent_network(net, env)
            H = layer_activations(net, X, layer)
            E = env.coordinates(H)
            assert E is not None
            np.testing.assert_allclose(sub.forward(E), net.forward(X), rtol=1e-9, atol=1e-9)


def _fitted() -> tuple[nn.Network, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(1)
    net = nn.from_weights([rng.normal(size=(6, 4)), rng.normal(size=(3, 6))], [rng.normal(size=6), np.zeros(3)])
    return net, rng.normal(size=(800, 4)), rng.normal(size=(300, 4))


@pytest.mark.parametrize("kind", ["interval", "polytope", "zonotope", "ellipsoid"])
def test_envelope_file_round_trip_and_tampering(kind, tmp_path):
    net, X, Xh = _fitted()
    env = envelope(net, X, 0, kind, margin=0.1, held_out=Xh)
    path = env.save(tmp_path / "env.json")
    back = load_envelope(path)
    assert back.to_json() == env.to_json() == path.read_text()
    assert np.array_equal(back.generators, env.generators) and np.array_equal(back.lo, env.lo)
    assert check_envelope(back, net, Xh).valid
    # shrink the box by 30 % about its centre: data fall outside, the coverage check notices
    doc = json.loads(path.read_text())
    lo, hi = np.array(doc["lo"]), np.array(doc["hi"])
    mid, half = (lo + hi) / 2, (hi - lo) / 2
    doc["lo"], doc["hi"] = list(mid - 0.7 * half), list(mid + 0.7 * half)
    (tmp_path / "bad.json").write_text(json.dumps(doc))
    bad = load_envelope(tmp_path / "bad.json")
    rep = check_envelope(bad, net, Xh)
    if not bad.ball:  # (a shrunk box hardly cuts an ellipsoid's ball: its corners lie outside the ball)
        assert not rep.valid and rep.coverage < rep.required
    # or shrink the generators: the set shrinks for every kind (the ellipsoid's ball included)
    doc = json.loads(path.read_text())
    doc["generators"] = [[0.5 * v for v in row] for row in doc["generators"]]
    (tmp_path / "bad2.json").write_text(json.dumps(doc))
    assert not check_envelope(load_envelope(tmp_path / "bad2.json"), net, Xh).valid
    # the same envelope on another network is rejected
    other = nn.from_weights([net.weights[0] * 1.01, net.weights[1]], list(net.biases))
    assert not check_envelope(env, other, Xh).valid
    with pytest.raises(InvalidValueError):
        latent_network(other, env)


def test_envelope_files_refused(tmp_path):
    net, X, _ = _fitted()
    doc = envelope(net, X, 0, "interval").to_dict()
    for change, why in ((("version", 99), "version"), (("format", "x"), "format"), (("lo", [0.0]), "generators")):
        bad = dict(doc)
        bad[change[0]] = change[1]
        (tmp_path / "e.json").write_text(json.dumps(bad))
        with pytest.raises(ParseError, match=why):
            load_envelope(tmp_path / "e.json")
    bad = dict(doc, hi=[v - 10 for v in doc["lo"]])
    (tmp_path / "e.json").write_text(json.dumps(bad))
    with pytest.raises(ParseError):
        load_envelope(tmp_path / "e.json")
    with pytest.raises(InvalidValueError):
        envelope(net, X, 1, "interval")  # the output layer is not hidden
    with pytest.raises(InvalidValueError):
        envelope(net, X, 0, "sphere")


def test_latent_claims_refuse_input_atoms():
    net, X, _ = _fitted()
    env = envelope(net, X, 0, "interval")
    atom = Atom(((0, Fraction(1)),), (), Fraction(0))
    prop = Property(4, 3, (Disjunct((Fraction(-1),) * 4, (Fraction(1),) * 4, (atom,)),))
    with pytest.raises(InvalidValueError, match="inputs"):
        verify_latent(net, prop, env)


@pytest.fixture(scope="module")
def digits_mlp():
    sk = pytest.importorskip("sklearn")
    del sk
    import warnings

    from sklearn.datasets import load_digits
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier

    X, y = load_digits(return_X_y=True)
    X = X / 16.0
    p = np.random.default_rng(0).permutation(len(X))
    X, y = X[p], y[p]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf = MLPClassifier((32, 16), activation="relu", max_iter=200, random_state=0).fit(X[:1400], y[:1400])
    net = nn.from_weights([w.T for w in clf.coefs_], clf.intercepts_)
    return net, X[:1400], X[1400:]


@pytest.mark.parametrize("kind", ["interval", "ellipsoid"])
def test_digits_envelopes_cover_held_out_data_and_certify(digits_mlp, kind):
    """The documented margin 0.1: >= 99 % of held-out activations inside; a claim proven over each."""
    net, Xtr, Xte = digits_mlp
    for layer in (0, 1):
        env = envelope(net, Xtr, layer, kind, margin=0.1, held_out=Xte)
        assert env.coverage["held_out"] >= 0.99
        assert check_envelope(env, net, Xte).valid
        # no natural state drives logit 0 above 8x its largest value on the training data
        tau = 8 * float(net.forward(Xtr)[:, 0].max())
        res = verify_latent(net, _threshold(64, 10, 0, tau), env, timeout=60)
        assert res.status is Result.UNSAT
        assert res.proof is not None and check_proof_tree(res.proof, network=res.network).valid


def test_latent_claims_refuse_networks_with_sigmoid_layers():
    """The latent network is built from ReLU layers only: a sigmoid network is refused, not mis-encoded."""
    rng = np.random.default_rng(5)
    net = nn.from_weights([rng.normal(size=(5, 3)), rng.normal(size=(4, 5)), rng.normal(size=(2, 4))],
                          activations=("relu", "sigmoid"))
    env = envelope(nn.from_weights(list(net.weights), list(net.biases)), rng.normal(size=(50, 3)), 0, "interval",
                   held_out=0.0)
    with pytest.raises(InvalidValueError, match="ReLU network"):
        latent_network(net, env)

"""Sigmoid and tanh networks: loading, rigorous witnesses, the search's sat/unsat answers against properties
true or false by construction, brute-force soundness of the checker's lines and bounds, tampered proof trees,
and the command line (one S-shaped network; two ReLU networks of a VNN-LIB 2.0 property)."""

from __future__ import annotations

import json
from fractions import Fraction

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")
flint = pytest.importorskip("flint")

from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from sosrelax.certificate.proof_tree import ProofTree, check_proof_tree  # noqa: E402
from sosrelax.certificate.proof_tree.check import check_leaves, leaf_layer_bounds  # noqa: E402
from sosrelax.certificate.proof_tree.format import AtomSpec, DisjunctProof  # noqa: E402
from sosrelax.certificate.proof_tree.smooth import FN_REL, enclose, enclose_derivative, s_lines  # noqa: E402
from sosrelax.cli import main  # noqa: E402
from sosrelax.errors import CertificateFormatError, InvalidValueError, ParseError  # noqa: E402
from sosrelax.nn.ir import from_weights  # noqa: E402
from sosrelax.nn.onnx_loader import load_onnx  # noqa: E402
from sosrelax.nn.search.relu_bab import decide_wide  # noqa: E402
from sosrelax.nn.verify import Result, verify  # noqa: E402
from sosrelax.nn.vnnlib import Atom, Disjunct, Property, read_vnnlib  # noqa: E402
from sosrelax.nn.witness import confirm_counterexample, interval_forward  # noqa: E402

RNG = np.random.default_rng(20261207)
# monotone by construction: nonnegative weights and increasing activations, so the maximum over a box is
# at its upper corner
W1 = RNG.uniform(0.0, 1.5, (6, 2)).astype(np.float32)
B1 = RNG.uniform(-1.0, 1.0, 6).astype(np.float32)
W2 = RNG.uniform(0.0, 1.0, (5, 6)).astype(np.float32)
B2 = RNG.uniform(-1.0, 1.0, 5).astype(np.float32)
W3 = RNG.uniform(0.0, 1.0, (1, 5)).astype(np.float32)
B3 = np.zeros(1, np.float32)


def _save(path, acts: tuple[str, ...], ws=(W1, W2, W3), bs=(B1, B2, B3)) -> None:
    inits, nodes, cur = [], [], "x"
    for k, (w, b) in enumerate(zip(ws, bs, strict=True)):
        inits += [numpy_helper.from_array(w, f"w{k}"), numpy_helper.from_array(b, f"b{k}")]
        nodes.append(helper.make_node("Gemm", [cur, f"w{k}", f"b{k}"], [f"z{k}"], transB=1, name=f"fc{k}"))
        cur = f"z{k}"
        if k < len(acts):
            nodes.append(helper.make_node(acts[k], [cur], [f"h{k}"], name=f"act{k}"))
            cur = f"h{k}"
    nodes[-1].output[0] = "y"
    g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, ws[0].shape[1]])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, ws[-1].shape[0]])], inits)
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)]), str(path))


@pytest.fixture(scope="module", params=[("Sigmoid", "Tanh"), ("Tanh", "Tanh"), ("Sigmoid", "Sigmoid")])
def model(request, tmp_path_factory):
    path = tmp_path_factory.mktemp("s") / "net.onnx"
    _save(path, request.param)
    return path, load_onnx(path)  # cross-checked against onnxruntime on load


def _spec(c: float) -> str:
    return ("(declare-const X_0 Real)\n(declare-const X_1 Real)\n(declare-const Y_0 Real)\n"
            "(assert (>= X_0 0.0))\n(assert (<= X_0 1.0))\n(assert (>= X_1 -1.0))\n(assert (<= X_1 0.5))\n"
            f"(assert (>= Y_0 {c:.6f}))\n")


def _top(net) -> float:
    """The maximum over [0, 1] x [-1, 0.5]: the network's value at the upper corner (an enclosure's centre)."""
    (y,) = interval_forward(net, [Fraction(1), Fraction(1, 2)])
    assert float(y.rad()) < 1e-12
    return float(y.mid())


def test_loader_reads_the_activations(model) -> None:
    path, net = model
    kinds = {"Sigmoid": "sigmoid", "Tanh": "tanh"}
    m = onnx.load(str(path))
    assert net.hidden_activations == tuple(kinds[n.op_type] for n in m.graph.node if n.op_type in kinds)
    assert not net.float32_layers  # the float32 semantics is not claimed for these networks
    with pytest.raises(InvalidValueError, match="exact forward pass needs ReLU"):
        net.forward_exact([0.0, 0.0])
    x = RNG.uniform(-1, 1, (50, 2))
    for xi, yi in zip(x, net.forward(x), strict=True):  # the enclosure contains the float64 forward pass
        (ball,) = interval_forward(net, [Fraction(float(v)) for v in xi])
        assert abs(float(ball.mid()) - yi[0]) <= 1e-12 + float(ball.rad())


def test_graph_lowering_refuses_an_s_shaped_operator_off_the_chain(tmp_path) -> None:
    w = numpy_helper.from_array(np.eye(2, dtype=np.float32), "w")
    nodes = [helper.make_node("MatMul", ["x", "w"], ["a"]), helper.make_node("Sigmoid", ["a"], ["s"], name="sg"),
             helper.make_node("Add", ["s", "x"], ["y"])]  # a skip connection: not a chain
    g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 2])], [w])
    p = tmp_path / "skip.onnx"
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)]), str(p))
    with pytest.raises(ParseError, match="Sigmoid is taken only in a model that is one chain"):
        load_onnx(p)


def test_sat_and_unsat_by_construction(model, tmp_path) -> None:
    path, net = model
    top = _top(net)
    for c, want in ((top + 0.02, Result.UNSAT), (top - 0.02, Result.SAT)):
        spec = tmp_path / "p.vnnlib"
        spec.write_text(_spec(c))
        res = verify(net, read_vnnlib(spec), onnx_path=path, timeout=60)
        assert res.status is want, (c, res.message)
        if want is Result.UNSAT:
            assert res.proof is not None and res.proof.activations == net.hidden_activations
            again = check_proof_tree(ProofTree.from_json(res.proof.to_json()), network=net)
            assert again.valid and '"activations"' in res.proof.to_json()
            assert json.loads(res.proof.to_json())["version"] == 2
        else:
            assert res.counterexample is not None
            x, _ = res.counterexample
            assert net.forward(np.array(x))[0] >= c - 1e-9
        proof = tmp_path / "proof.json"
        assert main(["verify", str(spec), "--network", f"f={path}", "--proof", str(proof)]) == 0  # the command line
        if want is Result.UNSAT:  # the proof file re-checked by `sosrelax check`, bound to the model
            assert main(["check", str(proof), "--network", f"f={path}"]) == 0


def test_witness_needs_every_atom_on_the_whole_enclosure(model) -> None:
    _, net = model
    x = np.array([1.0, 0.5])
    y = float(net.forward(x)[0])

    def disjunct(c: Fraction) -> Disjunct:
        return Disjunct((Fraction(0), Fraction(-1)), (Fraction(1), Fraction(1, 2)),
                        (Atom((), ((0, Fraction(1)),), -c),))

    assert confirm_counterexample(net, disjunct(Fraction(y) - Fraction(1, 10**9)), x, None) is not None
    assert confirm_counterexample(net, disjunct(Fraction(y) + Fraction(1, 10**9)), x, None) is None
    assert confirm_counterexample(net, disjunct(Fraction(0)), np.array([1.5, 0.0]), None) is None  # off the box


def test_checker_lines_hold_in_ball_arithmetic() -> None:
    """Brute force: at sampled reals of [l, u] (and its ends), A z + TL <= φ(z) <= S z + TU exactly."""
    rng = np.random.default_rng(5)
    n = 400
    scale = rng.choice([1e-3, 0.3, 3.0, 30.0], n)
    l = rng.normal(0, 1, n) * scale
    u = l + np.abs(rng.normal(0, 1, n)) * scale * rng.choice([0.0, 1e-9, 1.0], n)
    old = flint.ctx.prec
    flint.ctx.prec = 200
    try:
        for kind in ("sigmoid", "tanh"):
            A, TL, S, TU, ylo, yhi = s_lines(kind, l, u)
            for i in range(n):
                for t in (0.0, 1.0, *rng.uniform(0, 1, 6)):
                    z = flint.arb(float(l[i])) + flint.arb(t) * (flint.arb(float(u[i])) - flint.arb(float(l[i])))
                    f = 1 / (1 + (-z).exp()) if kind == "sigmoid" else z.tanh()
                    assert flint.arb(float(A[i])) * z + flint.arb(float(TL[i])) <= f, (kind, l[i], u[i], t)
                    assert f <= flint.arb(float(S[i])) * z + flint.arb(float(TU[i])), (kind, l[i], u[i], t)
                zl, zu = flint.arb(float(l[i])), flint.arb(float(u[i]))
                fl = 1 / (1 + (-zl).exp()) if kind == "sigmoid" else zl.tanh()
                fu = 1 / (1 + (-zu).exp()) if kind == "sigmoid" else zu.tanh()
                # (not definitely violated: a saturated tanh(l) > -1 is within 2^-200 of -1)
                assert not fl < flint.arb(float(ylo[i])) and not fu > flint.arb(float(yhi[i]))
    finally:
        flint.ctx.prec = old


def test_function_enclosures_contain_the_true_values() -> None:
    """numpy's exp and tanh against ball arithmetic, far inside the assumed relative error FN_REL."""
    rng = np.random.default_rng(9)
    z = np.concatenate([rng.normal(0, 1, 2000) * rng.choice([1e-8, 1.0, 10.0, 300.0], 2000), [0.0, -800.0, 800.0]])
    old = flint.ctx.prec
    flint.ctx.prec = 200
    try:
        for kind in ("sigmoid", "tanh"):
            lo, hi = enclose(kind, z)
            dlo, dhi = enclose_derivative(kind, z)
            for i in range(0, z.size, 7):
                x = flint.arb(float(z[i]))
                f = 1 / (1 + (-x).exp()) if kind == "sigmoid" else x.tanh()
                d = (1 / (1 + (-x).exp())) * (1 / (1 + x.exp())) if kind == "sigmoid" else 1 / (x.cosh() ** 2)
                # not definitely violated (saturated values are within 2^-200 of the bounds ±1)
                assert not f < flint.arb(float(lo[i])) and not f > flint.arb(float(hi[i]))
                assert flint.arb(float(dlo[i])) <= d <= flint.arb(float(dhi[i]))
            raw = 1.0 / (1.0 + np.exp(-z[np.abs(z) < 700])) if kind == "sigmoid" else np.tanh(z)
            ref = [float((1 / (1 + (-flint.arb(float(v))).exp())) if kind == "sigmoid" else flint.arb(float(v)).tanh())
                   for v in (z[np.abs(z) < 700] if kind == "sigmoid" else z)]
            rel = np.abs(raw - np.array(ref)) / np.maximum(np.abs(ref), 1e-300)
            assert rel.max() < FN_REL / 2**8
    finally:
        flint.ctx.prec = old


def _one_leaf_tree(net, lo, hi, atoms, lam) -> ProofTree:
    d = DisjunctProof(tuple(Fraction(v) for v in lo), tuple(Fraction(v) for v in hi), atoms,
                      (("l", tuple(lam), None),))
    return ProofTree(tuple(zip(net.weights, net.biases, strict=True)), net.input_shape, (d,),
                     activations=net.hidden_activations)


@pytest.mark.parametrize("kinds", [("sigmoid", "tanh"), ("tanh", "relu"), ("relu", "sigmoid")])
def test_checker_bounds_contain_sampled_points(kinds) -> None:
    """Brute force: the checker's layer bounds and leaf bound over a box hold at sampled inputs."""
    rng = np.random.default_rng(len(kinds[0]) * 7 + len(kinds[1]))
    net = from_weights([rng.normal(0, 1.5, (7, 3)), rng.normal(0, 1, (6, 7)), rng.normal(0, 1, (2, 6))],
                       [rng.normal(0, 0.5, 7), rng.normal(0, 0.5, 6), rng.normal(0, 0.5, 2)], activations=kinds)
    lo, hi = np.array([-0.5, 0.0, -1.0]), np.array([0.5, 0.25, 0.0])
    atoms = (AtomSpec(((0, Fraction(1, 3)),), ((0, Fraction(1)), (1, Fraction(-2))), Fraction(1, 7)),
             AtomSpec((), ((1, Fraction(1)),), Fraction(-1, 5)))
    tree = _one_leaf_tree(net, lo, hi, atoms, [0.75, 0.5])
    bounds = leaf_layer_bounds(tree, 0, 0)
    X = np.vstack([rng.uniform(lo, hi, (4000, 3)), lo, hi])
    zs = net.activations(X)
    for (l, u), z in zip(bounds, zs, strict=True):
        assert np.all(z >= l - 1e-12) and np.all(z <= u + 1e-12)
    (lb,) = check_leaves(tree)
    y = zs[-1]
    g = -(0.75 * (X[:, 0] / 3 + y[:, 0] - 2 * y[:, 1] + 1 / 7) + 0.5 * (y[:, 1] - 0.2))
    assert np.isfinite(lb.bound[0]) and lb.bound[0] <= g.min() + 1e-12


def _unsat_tree(tmp_path):
    """The sigmoid network with y in (0, 2) and the claim y <= -1/2 never holds; its tanh twin reaches -1.99."""
    w1 = np.ones((4, 2), np.float32)
    b1 = np.full(4, -3.0, np.float32)
    w2 = np.full((1, 4), 0.5, np.float32)
    ws, bs = (w1, w2), (b1, np.zeros(1, np.float32))
    net = from_weights(list(ws), list(bs), activations=["sigmoid"])
    d = Disjunct((Fraction(0), Fraction(0)), (Fraction(1), Fraction(1)),
                 (Atom((), ((0, Fraction(-1)),), Fraction(-1, 2)),))
    res = verify(net, Property(2, 1, (d,)), timeout=30)
    assert res.status is Result.UNSAT, res.message
    return net, res.proof


def test_tampered_proof_trees_are_rejected(tmp_path) -> None:
    net, proof = _unsat_tree(tmp_path)
    doc = json.loads(proof.to_json())
    assert doc["network"]["activations"] == ["sigmoid"]
    # the activation changed: the hash no longer matches ...
    bad = json.loads(proof.to_json())
    bad["network"]["activations"] = ["tanh"]
    with pytest.raises(CertificateFormatError, match="sha256"):
        ProofTree.from_dict(bad)
    # ... and with the hash recomputed the claim is false for the tanh network: a leaf fails
    tanh = ProofTree(proof.layers, proof.input_shape, proof.disjuncts, activations=("tanh",))
    assert tanh.network_sha256 != proof.network_sha256
    rep = check_proof_tree(ProofTree.from_json(tanh.to_json()))
    assert not rep.valid and rep.failed_leaves()
    assert not check_proof_tree(proof, network=from_weights(net.weights, net.biases, activations=["tanh"])).valid
    assert not check_proof_tree(proof, network=from_weights(net.weights, net.biases)).valid  # ReLU twin
    # a leaf whose bound no longer holds: the claim changed to "y <= 1/5 never holds" (false: y(0) = 2 σ(-3))
    weak = json.loads(proof.to_json())
    weak["disjuncts"][0]["atoms"][0]["const"] = "1/5"
    rep = check_proof_tree(ProofTree.from_dict(weak))
    assert not rep.valid and rep.failed_leaves()
    # version 1 files describe ReLU networks
    v1 = json.loads(proof.to_json())
    v1["version"] = 1
    with pytest.raises(CertificateFormatError, match="version 2"):
        ProofTree.from_dict(v1)
    # the float32 semantics and forward intermediate bounds are ReLU-only
    for field, value in (("semantics", "float32"), ("intermediate", "forward")):
        other = json.loads(proof.to_json())
        other[field] = value
        rep = check_proof_tree(ProofTree.from_dict(other))
        assert not rep.valid and "ReLU networks only" in rep.reason


def test_neuron_splitting_decides_and_the_exact_rungs_refuse_s_shaped_networks() -> None:
    net = from_weights([np.ones((3, 2)), np.ones((1, 3))], activations=["tanh"])
    d = Disjunct((Fraction(0), Fraction(0)), (Fraction(1), Fraction(1)), (Atom((), ((0, Fraction(1)),), Fraction(-9)),))
    res = decide_wide(net, Property(2, 1, (d,)), timeout=5)  # y = 3 tanh(x0 + x1) < 3 < 9
    assert res.status == "unsat" and res.report is not None and res.report.valid
    with pytest.raises(InvalidValueError, match="exact rungs encode ReLU networks only"):
        verify(net, Property(2, 1, (d,)), method="rungs", timeout=5)
    with pytest.raises(InvalidValueError, match="float32 semantics"):
        verify(net, Property(2, 1, (d,)), semantics="float32", timeout=5)


TWO = """(vnnlib-version <2.0>)
(declare-network f (declare-input X Real [1,2]) (declare-output Y Real [1,1]))
(declare-network g (declare-input X2 Real [1,2]) (declare-output Y2 Real [1,1]))
(assert (and (== X[0,0] X2[0,0]) (== X[0,1] X2[0,1])))
(assert (and (>= X[0,0] 0.0) (<= X[0,0] 1.0) (>= X[0,1] -1.0) (<= X[0,1] 0.5)))
(assert (>= (- Y[0,0] Y2[0,0]) {t}))
"""


def test_command_line_with_two_networks(tmp_path, capsys) -> None:
    """f = relu(x0 + x1) + 1/4 and g = relu(x0 + x1) / 2, so f - g has the maximum 1 on the box:
    f - g >= 1.01 is unsat and f - g >= 0.99 sat."""
    one = np.ones((1, 2), np.float32)
    pf, pg = tmp_path / "f.onnx", tmp_path / "g.onnx"
    _save(pf, ("Relu",), ws=(one, np.ones((1, 1), np.float32)),
          bs=(np.zeros(1, np.float32), np.full(1, 0.25, np.float32)))
    _save(pg, ("Relu",), ws=(one, np.full((1, 1), 0.5, np.float32)), bs=(np.zeros(1, np.float32),) * 2)
    for t, want in (("1.01", "unsat"), ("0.99", "sat")):
        spec = tmp_path / f"two_{t}.vnnlib"
        spec.write_text(TWO.format(t=t))
        proof = tmp_path / f"proof_{t}.json"
        assert main(["verify", str(spec), "--network", f"f={pf}", "--network", f"g={pg}",
                     "--proof", str(proof)]) == 0
        out = capsys.readouterr().out.split("\n")
        assert out[0] == want
        if want == "sat":
            x = [float(v) for v in out[2:4]]
            assert 0.5 * max(x[0] + x[1], 0) + 0.25 >= 0.99 - 1e-9
        else:
            assert check_proof_tree(ProofTree.load(proof)).valid
    spec = tmp_path / "two_1.01.vnnlib"
    assert main(["verify", str(spec), "--network", f"f={pf}", "--network", f"h={pg}"]) == 2
    assert "declares no network 'h'" in capsys.readouterr().err
    assert main(["supports", "--multiple-network-theories"]) == 0
    assert capsys.readouterr().out.split() == ["SNET", "MNET"]


def test_latent_claims_refuse_s_shaped_networks(model, tmp_path, capsys) -> None:
    path, net = model
    spec = tmp_path / "p.vnnlib"
    spec.write_text(_spec(_top(net)))
    assert main(["verify", str(spec), "--network", f"f={path}", "--latent", f"0={tmp_path / 'e.json'}"]) == 2
    assert "latent claims need a ReLU network" in capsys.readouterr().err


@pytest.mark.parametrize("kinds", [("tanh", "sigmoid"), ("sigmoid", "tanh")])
def test_input_splitting_decides_a_non_monotone_network(kinds) -> None:
    """Random weights of both signs: the maximum from a dense grid plus a Lipschitz margin (unsat above it)
    and a grid point (sat below it); the unsat proof needs splits."""
    rng = np.random.default_rng(11)
    ws = [rng.normal(0, 1.5, (12, 2)), rng.normal(0, 1, (10, 12)), rng.normal(0, 1, (1, 10))]
    bs = [rng.normal(0, 0.5, 12), rng.normal(0, 0.5, 10), np.zeros(1)]
    net = from_weights(ws, bs, activations=kinds)
    slope = {"sigmoid": 0.25, "tanh": 1.0}
    lip = float(np.prod([np.linalg.norm(w, 2) for w in ws]) * slope[kinds[0]] * slope[kinds[1]])
    g = np.linspace(-1.0, 1.0, 801)
    X = np.array(np.meshgrid(g, g)).reshape(2, -1).T
    y = net.forward(X)[:, 0]
    top = float(y.max())
    margin = lip * (g[1] - g[0])  # every point is within h / sqrt(2) of the grid
    box = ((Fraction(-1), Fraction(-1)), (Fraction(1), Fraction(1)))
    for c, want in ((top + margin + 1e-3, Result.UNSAT), (top - 1e-3, Result.SAT)):
        d = Disjunct(*box, (Atom((), ((0, Fraction(1)),), -Fraction(c)),))
        res = verify(net, Property(2, 1, (d,)), timeout=60)
        assert res.status is want, (c, res.message)
        if want is Result.UNSAT:
            assert res.proof is not None and any(n[0] == "s" for n in res.proof.disjuncts[0].nodes)

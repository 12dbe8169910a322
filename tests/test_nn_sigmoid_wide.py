"""Sigmoid and tanh networks with many inputs (more than 16: the search splits neurons, not inputs).

Networks of the ERAN sigmoid/tanh shape class (784 inputs, dense S-shaped layers; a smaller one; a
convolution followed by a sigmoid) built with ``onnx.helper``; robustness properties whose truth is known
by construction: a radius at which plain interval arithmetic (computed here, independently) proves the
label, and a radius whose box contains a point of another label (found here by bisection); a radius
between, where the root's linear bounds leave the property open and the proof needs splits of
pre-activations at the inflection point; tampered proofs; brute force on split leaves."""

from __future__ import annotations

import json
from fractions import Fraction

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")
pytest.importorskip("flint")

from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from sosrelax.certificate.proof_tree import ProofTree, check_proof_tree  # noqa: E402
from sosrelax.certificate.proof_tree.check import leaf_layer_bounds  # noqa: E402
from sosrelax.nn.ir import Network  # noqa: E402
from sosrelax.nn.onnx_loader import load_onnx, onnx_forward  # noqa: E402
from sosrelax.nn.search.bounds import Arrays, final_bounds, intermediate_bounds  # noqa: E402
from sosrelax.nn.verify import Result, verify  # noqa: E402
from sosrelax.nn.vnnlib import Atom, Disjunct, Property  # noqa: E402


def _dense(sizes: tuple[int, ...], seed: int, centred: bool = False) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Random weights; ``centred``: rows after the first layer sum to zero and are 4 times larger, so that
    the sigmoids' common offset 1/2 cancels, their slope 1/4 is made up for, and a deep network does not
    collapse to one label."""
    rng = np.random.default_rng(seed)
    ws = [rng.normal(0, 2.0 / np.sqrt(sizes[i]), (sizes[i + 1], sizes[i])) for i in range(len(sizes) - 1)]
    if centred:
        ws = [ws[0]] + [4.0 * (w - w.mean(axis=1, keepdims=True)) for w in ws[1:]]
    ws = [w.astype(np.float32) for w in ws]
    bs = [rng.normal(0, 0.3, sizes[i + 1]).astype(np.float32) for i in range(len(sizes) - 1)]
    return ws, bs


def _save_dense(path, op: str, ws, bs) -> None:
    inits, nodes, cur = [], [], "x"
    for k, (w, b) in enumerate(zip(ws, bs, strict=True)):
        inits += [numpy_helper.from_array(w, f"w{k}"), numpy_helper.from_array(b, f"b{k}")]
        nodes.append(helper.make_node("Gemm", [cur, f"w{k}", f"b{k}"], [f"z{k}"], transB=1, name=f"fc{k}"))
        cur = f"z{k}"
        if k < len(ws) - 1:
            nodes.append(helper.make_node(op, [cur], [f"h{k}"], name=f"act{k}"))
            cur = f"h{k}"
    nodes[-1].output[0] = "y"
    g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, ws[0].shape[1]])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, ws[-1].shape[0]])], inits)
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)]), str(path))


def _save_conv(path) -> None:
    """x (1, 1, 6, 6) -> Conv 3 channels 3x3 -> Sigmoid -> Flatten -> Gemm 10 -> Tanh -> Gemm 4."""
    rng = np.random.default_rng(8)
    wc = rng.normal(0, 0.8, (3, 1, 3, 3)).astype(np.float32)
    bc = rng.normal(0, 0.3, 3).astype(np.float32)
    w1 = rng.normal(0, 0.6, (10, 48)).astype(np.float32)
    b1 = rng.normal(0, 0.3, 10).astype(np.float32)
    w2 = rng.normal(0, 0.8, (4, 10)).astype(np.float32)
    b2 = np.zeros(4, np.float32)
    inits = [numpy_helper.from_array(a, n) for a, n in ((wc, "wc"), (bc, "bc"), (w1, "w1"), (b1, "b1"),
                                                         (w2, "w2"), (b2, "b2"))]
    nodes = [helper.make_node("Conv", ["x", "wc", "bc"], ["c"], kernel_shape=[3, 3], name="conv"),
             helper.make_node("Sigmoid", ["c"], ["s"], name="sig"),
             helper.make_node("Flatten", ["s"], ["f"], name="flat"),
             helper.make_node("Gemm", ["f", "w1", "b1"], ["z"], transB=1, name="fc1"),
             helper.make_node("Tanh", ["z"], ["t"], name="tanh"),
             helper.make_node("Gemm", ["t", "w2", "b2"], ["y"], transB=1, name="fc2")]
    g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1, 6, 6])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])], inits)
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)]), str(path))


NETS = {"sigmoid-784-50-50-10": ("Sigmoid", (784, 50, 50, 10)), "tanh-784-50-50-10": ("Tanh", (784, 50, 50, 10)),
        "sigmoid-40-20-20-3": ("Sigmoid", (40, 20, 20, 3)), "conv-sigmoid-tanh": ("", ()),
        "sigmoid-784-200x6-10": ("Sigmoid", (784, 200, 200, 200, 200, 200, 200, 10))}  # ERAN 6x200's shape


@pytest.fixture(scope="module", params=sorted(NETS))
def model(request, tmp_path_factory):
    op, sizes = NETS[request.param]
    path = tmp_path_factory.mktemp("w") / "net.onnx"
    if op:
        _save_dense(path, op, *_dense(sizes, seed=len(sizes) + sizes[1], centred=len(sizes) > 4))
    else:
        _save_conv(path)
    net = load_onnx(path)  # cross-checked against onnxruntime
    assert net.n_inputs > 16 and not net.all_relu
    x0 = np.random.default_rng(1).uniform(0.2, 0.8, net.n_inputs)
    return path, net, x0


def _robustness(net: Network, x0: np.ndarray, eps: float, label: int) -> Property:
    """Some other output is at least the label's on the box ``|x - x0| <= eps`` (one disjunct each)."""
    lo = tuple(Fraction(float(v)) - Fraction(eps) for v in x0)
    hi = tuple(Fraction(float(v)) + Fraction(eps) for v in x0)
    ds = tuple(Disjunct(lo, hi, (Atom((), ((j, Fraction(1)), (label, Fraction(-1))), Fraction(0)),))
               for j in range(net.n_outputs) if j != label)
    return Property(net.n_inputs, net.n_outputs, ds)


def _interval_margin(net: Network, x0: np.ndarray, eps: float, label: int) -> float:
    """``min_j (lower(y_label) - upper(y_j))`` by interval arithmetic (monotone activations)."""
    lo, hi = x0 - eps, x0 + eps
    for k, (w, b) in enumerate(zip(net.weights, net.biases, strict=True)):
        c, r = 0.5 * (lo + hi), 0.5 * (hi - lo)
        zc, zr = w @ c + b, np.abs(w) @ r
        lo, hi = zc - zr, zc + zr
        if k < len(net.hidden_activations):
            f = (lambda z: 1 / (1 + np.exp(-z))) if net.hidden_activations[k] == "sigmoid" else np.tanh
            lo, hi = f(lo), f(hi)
    return float(lo[label] - np.delete(hi, label).max())


def _check_unsat(res, net: Network) -> None:
    assert res.status is Result.UNSAT, res.message
    again = check_proof_tree(ProofTree.from_json(res.proof.to_json()), network=net)
    assert again.valid, again.reason


def test_radius_proven_by_interval_arithmetic_is_unsat(model) -> None:
    path, net, x0 = model
    label = int(np.argmax(net.forward(x0)))
    eps = next((e for e in 1e-2 * 0.5 ** np.arange(40) if _interval_margin(net, x0, e, label) > 1e-6), None)
    assert eps is not None
    res = verify(net, _robustness(net, x0, eps, label), onnx_path=path, timeout=60)
    _check_unsat(res, net)


def test_radius_containing_another_label_is_sat(model) -> None:
    path, net, x0 = model
    label = int(np.argmax(net.forward(x0)))
    rng = np.random.default_rng(4)
    # a point of another label on the segment towards a random point of another label (bisection)
    far = next(x for x in rng.uniform(-3, 3, (500, net.n_inputs)) if int(np.argmax(net.forward(x))) != label)
    a, b = 0.0, 1.0
    for _ in range(40):
        mid = 0.5 * (a + b)
        a, b = (mid, b) if int(np.argmax(net.forward(x0 + mid * (far - x0)))) == label else (a, mid)
    xf = x0 + min(1.0, b + 0.05 * (1 - b)) * (far - x0)  # a little past the boundary: a clear margin
    yf = net.forward(xf)
    assert np.delete(yf, label).max() - yf[label] > 1e-6
    eps = float(np.max(np.abs(xf - x0))) * (1 + 1e-9)
    res = verify(net, _robustness(net, x0, eps, label), onnx_path=path, timeout=60)
    assert res.status is Result.SAT, res.message
    x, _ = res.counterexample
    assert np.max(np.abs(np.array(x) - x0)) <= eps
    yo = onnx_forward(path, np.array(x), net.input_shape)  # the model itself agrees
    assert np.delete(yo, label).max() >= yo[label] - 1e-6


def _root_bounds(net: Network, x0: np.ndarray, eps: float, label: int) -> np.ndarray:
    """The search's float lower bounds of ``y_label - y_j`` at the root (one per disjunct, in order)."""
    arr = Arrays.from_network(net)
    lo, hi = (x0 - eps)[None], (x0 + eps)[None]
    bnd = intermediate_bounds(arr, lo, hi)
    C = np.zeros((net.n_outputs - 1, net.n_outputs))
    for r, j in enumerate(j for j in range(net.n_outputs) if j != label):
        C[r, label], C[r, j] = 1.0, -1.0
    lb, _ = final_bounds(arr, bnd, lo, hi, C, np.zeros(C.shape[0]))
    return lb[0]


def test_splits_at_the_inflection_point_close_what_the_root_leaves_open(tmp_path) -> None:
    path = tmp_path / "net.onnx"
    _save_dense(path, "Sigmoid", *_dense((784, 50, 50, 10), seed=3))
    net = load_onnx(path)
    x0 = np.random.default_rng(3).uniform(0, 1, 784)
    label = int(np.argmax(net.forward(x0)))
    eps = 0.02
    root = _root_bounds(net, x0, eps, label)
    assert root.min() < -1e-3 and _interval_margin(net, x0, eps, label) < 0
    res = verify(net, _robustness(net, x0, eps, label), onnx_path=path, timeout=60)
    _check_unsat(res, net)
    nodes = [nd for d in res.proof.disjuncts for nd in d.nodes]
    assert any(nd[0] == "r" for nd in nodes)  # pre-activation splits on sigmoid neurons
    # no sampled point of the box contradicts the proof
    X = x0 + np.random.default_rng(0).uniform(-eps, eps, (2000, 784))
    assert np.all(np.argmax(net.forward(X), axis=1) == label)
    # tampered: a disjunct that needed splits, closed by its root alone; and a false claim
    doc = json.loads(res.proof.to_json())
    d_i = int(np.argmin(root))
    doc["disjuncts"][d_i]["nodes"] = [["l", [(1.0).hex()], None]]
    rep = check_proof_tree(ProofTree.from_dict(doc), network=net)
    assert not rep.valid and rep.failed_leaves() == ((d_i, 0),)
    y0 = net.forward(x0)
    assert np.delete(y0, label).max() > y0[label] - 1  # so "y_j >= y_label - 1" holds at x0 for some j
    weak = json.loads(res.proof.to_json())
    for d in weak["disjuncts"]:
        d["atoms"][0]["const"] = "1"
    rep = check_proof_tree(ProofTree.from_dict(weak), network=net)
    assert not rep.valid and rep.failed_leaves()


def test_checker_bounds_under_splits_contain_sampled_points() -> None:
    """Brute force: a leaf below splits of sigmoid and tanh neurons; the checker's layer bounds hold at every
    sampled input that satisfies the split constraints."""
    from sosrelax.certificate.proof_tree.format import AtomSpec, DisjunctProof
    from sosrelax.nn.ir import from_weights

    rng = np.random.default_rng(17)
    net = from_weights([rng.normal(0, 1.0, (8, 20)), rng.normal(0, 1, (6, 8)), rng.normal(0, 1, (2, 6))],
                       [rng.normal(0, 0.5, 8), rng.normal(0, 0.5, 6), np.zeros(2)], activations=("sigmoid", "tanh"))
    lo, hi = np.full(20, -0.3), np.full(20, 0.3)
    X = rng.uniform(lo, hi, (20000, 20))
    zs = net.activations(X)
    j1 = int(np.argmin(np.abs(np.median(zs[0], axis=0))))  # neurons whose sign varies on the box
    j2 = int(np.argmin(np.abs(np.median(zs[1], axis=0))))
    atoms = (AtomSpec((), ((0, Fraction(1)),), Fraction(0)),)
    leaf = ("l", (1.0,), None)
    # preorder: split (0, j1): [z <= 0: split (1, j2): [<= 0: leaf, >= 0: leaf]], [z >= 0: leaf]
    nodes = (("r", 0, j1), ("r", 1, j2), leaf, leaf, leaf)
    d = DisjunctProof(tuple(Fraction(v) for v in lo), tuple(Fraction(v) for v in hi), atoms, nodes)
    tree = ProofTree(tuple(zip(net.weights, net.biases, strict=True)), net.input_shape, (d,),
                     activations=net.hidden_activations)
    masks = {2: (zs[0][:, j1] <= 0) & (zs[1][:, j2] <= 0), 3: (zs[0][:, j1] <= 0) & (zs[1][:, j2] >= 0),
             4: zs[0][:, j1] >= 0}
    for node, mask in masks.items():
        assert mask.sum() > 50
        bounds = leaf_layer_bounds(tree, 0, node)
        for (l, u), z in zip(bounds, zs, strict=True):
            assert np.all(z[mask] >= l - 1e-12) and np.all(z[mask] <= u + 1e-12)
    whole = leaf_layer_bounds(tree, 0, 4)
    assert whole[0][0][j1] >= 0.0  # the split constraint is in the bounds

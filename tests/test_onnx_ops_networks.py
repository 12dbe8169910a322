"""VNN-LIB 2.0 properties over several networks and over several inputs and outputs of one network:
the combined network computes every declared network exactly, and equivalence properties whose truth
is known by construction are decided both ways, with checked proofs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
pytest.importorskip("vnnlib")

from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from sosrelax.cli import main  # noqa: E402
from sosrelax.errors import ParseError  # noqa: E402
from sosrelax.nn.lower.combine import combine_networks  # noqa: E402
from sosrelax.nn.onnx_loader import load_onnx, onnx_forward  # noqa: E402
from sosrelax.nn.verify import Result, verify  # noqa: E402
from sosrelax.nn.vnnlib2 import parse_vnnlib2  # noqa: E402

RNG = np.random.default_rng(2019)


def _mlp(path: Path, layers: list[tuple[np.ndarray, np.ndarray]]) -> Path:
    """``x -> W_L relu(… relu(W_1 x + b_1) …) + b_L`` as MatMul/Add/Relu nodes, input ``[1, n]``."""
    nodes, inits, cur = [], [], "x"
    for k, (w, b) in enumerate(layers):
        inits += [numpy_helper.from_array(w.T.astype(np.float32), f"W{k}"),
                  numpy_helper.from_array(b.astype(np.float32), f"b{k}")]
        nodes += [helper.make_node("MatMul", [cur, f"W{k}"], [f"m{k}"], name=f"fc{k}"),
                  helper.make_node("Add", [f"m{k}", f"b{k}"], [f"z{k}"], name=f"add{k}")]
        cur = f"z{k}"
        if k < len(layers) - 1:
            nodes.append(helper.make_node("Relu", [cur], [f"h{k}"], name=f"relu{k}"))
            cur = f"h{k}"
    g = helper.make_graph(nodes, path.stem, [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, layers[0][0].shape[1]])],
                          [helper.make_tensor_value_info(cur, TensorProto.FLOAT, None)], inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    m.ir_version = 8
    onnx.save(m, str(path))
    return path


def _f32(*shape: int) -> np.ndarray:
    return RNG.normal(size=shape).astype(np.float32).astype(np.float64)


def _base() -> list[tuple[np.ndarray, np.ndarray]]:
    return [(_f32(8, 2), _f32(8)), (_f32(1, 8), _f32(1))]


TWO = """(vnnlib-version <2.0>)
(declare-network f (declare-input X Real [1,2]) (declare-output Y Real [1,1]))
(declare-network g {rel}(declare-input X2 Real [1,2]) (declare-output Y2 Real [1,1]))
(assert (and (== X[0,0] X2[0,0]) (== X[0,1] X2[0,1])))
(assert (and (>= X[0,0] -1.0) (<= X[0,0] 1.0) (>= X[0,1] -1.0) (<= X[0,1] 1.0)))
(assert (or (>= (- Y[0,0] Y2[0,0]) {t}) (<= (- Y[0,0] Y2[0,0]) -{t})))
"""


def _decide(text: str, models: dict[str, Any]) -> tuple[Any, Any, Any]:
    prop = parse_vnnlib2(text)
    net = combine_networks(prop, models)
    return prop, net, verify(net, prop, timeout=60)


def test_layout_shares_equated_inputs() -> None:
    prop = parse_vnnlib2(TWO.format(rel="", t="0.5"))
    assert prop.n_inputs == 2 and prop.n_outputs == 2
    f, g = prop.networks
    assert f.inputs[0][2] == g.inputs[0][2] == (0, 1)
    assert f.outputs[0][2] == (0,) and g.outputs[0][2] == (1,)


def test_combined_network_computes_each_network(tmp_path: Path) -> None:
    base = _base()
    deeper = [(_f32(4, 2), _f32(4)), (_f32(3, 4), _f32(3)), (_f32(1, 3), _f32(1))]
    pf, pg = _mlp(tmp_path / "f.onnx", base), _mlp(tmp_path / "g.onnx", deeper)
    prop = parse_vnnlib2(TWO.format(rel="", t="0.5"))
    net = combine_networks(prop, {"f": pf, "g": pg})
    for _ in range(20):
        x = RNG.uniform(-1, 1, size=2)
        y = net.forward(x)
        np.testing.assert_allclose(y, np.concatenate([onnx_forward(pf, x, (1, 2)), onnx_forward(pg, x, (1, 2))]),
                                   rtol=1e-5, atol=1e-5)


def test_equivalence_with_a_perturbed_copy_is_decided_both_ways(tmp_path: Path) -> None:
    """``g = f + δ`` exactly (the last bias moved by ``δ = 0.25``): ``|f - g| >= δ + 1e-3`` nowhere,
    ``|f - g| >= δ - 1e-3`` everywhere."""
    base = _base()
    delta = 0.25
    moved = [base[0], (base[1][0], base[1][1] + delta)]
    pf, pg = _mlp(tmp_path / "f.onnx", base), _mlp(tmp_path / "g.onnx", moved)
    _, net, unsat = _decide(TWO.format(rel="(isomorphic-to f) ", t=f"{delta + 1e-3}"), {"f": pf, "g": pg})
    assert net.hidden_sizes == (8,)  # the common first layer is shared by the two blocks
    assert unsat.status is Result.UNSAT, unsat.message
    assert unsat.proof is not None and unsat.proof_report is not None and unsat.proof_report.valid
    prop, net, sat = _decide(TWO.format(rel="(isomorphic-to f) ", t=f"{delta - 1e-3}"), {"f": pf, "g": pg})
    assert sat.status is Result.SAT, sat.message
    x, y = sat.counterexample
    assert abs(y[0] - y[1]) >= delta - 1e-3
    yo = onnx_forward(pf, np.array(x), (1, 2)) - onnx_forward(pg, np.array(x), (1, 2))
    assert abs(float(yo[0])) >= delta - 2e-3  # onnxruntime agrees (float32)


def test_perturbed_first_layer_within_its_lipschitz_bound(tmp_path: Path) -> None:
    """``W1' = W1 + Δ``: on ``[-1, 1]^2``, ``|f - g| <= Σ_j |w2_j| ||Δ_j||_1 = L`` (relu is
    1-Lipschitz), so ``|f - g| >= L + 0.01`` is unsat; at a sample point ``x*`` the difference is
    attained, so ``|f - g| >= |f(x*) - g(x*)| - 1e-3`` is sat."""
    base = _base()
    d = 0.05 * _f32(8, 2)
    pert = [(base[0][0] + d, base[0][1]), base[1]]
    pf, pg = _mlp(tmp_path / "f.onnx", base), _mlp(tmp_path / "g.onnx", pert)
    lip = float(np.abs(base[1][0][0]) @ np.abs(d).sum(axis=1))
    _, _, unsat = _decide(TWO.format(rel="", t=f"{lip + 0.01:.6f}"), {"f": pf, "g": pg})
    assert unsat.status is Result.UNSAT and unsat.proof_report is not None and unsat.proof_report.valid
    xs = RNG.uniform(-1, 1, size=(64, 2))
    diff = max(abs(float((onnx_forward(pf, x, (1, 2)) - onnx_forward(pg, x, (1, 2)))[0])) for x in xs)
    _, _, sat = _decide(TWO.format(rel="", t=f"{diff - 1e-3:.6f}"), {"f": pf, "g": pg})
    assert sat.status is Result.SAT, sat.message


def test_equal_networks_and_different_architectures(tmp_path: Path) -> None:
    """``h`` computes ``f`` with one more layer (``relu(z) - relu(-z)`` carries the output): equal
    functions of different architecture, so ``|f - h| >= 0.01`` is unsat; ``equal-to`` reuses the
    model."""
    base = _base()
    w2, b2 = base[1]
    h = [base[0], (np.vstack([w2, -w2]), np.concatenate([b2, -b2])), (np.array([[1.0, -1.0]]), np.zeros(1))]
    pf, ph = _mlp(tmp_path / "f.onnx", base), _mlp(tmp_path / "h.onnx", h)
    _, net, res = _decide(TWO.format(rel="", t="0.01"), {"f": pf, "g": ph})
    assert net.hidden_sizes[0] == 8  # f and h share their first layer: one set of neurons
    assert res.status is Result.UNSAT, res.message
    _, _, same = _decide(TWO.format(rel="(equal-to f) ", t="0.01"), {"f": pf})
    assert same.status is Result.UNSAT


def test_equal_to_with_other_weights_is_refused(tmp_path: Path) -> None:
    base = _base()
    pf = _mlp(tmp_path / "f.onnx", base)
    pg = _mlp(tmp_path / "g.onnx", [base[0], (base[1][0], base[1][1] + 1)])
    prop = parse_vnnlib2(TWO.format(rel="(equal-to f) ", t="0.01"))
    with pytest.raises(ParseError, match="declared equal"):
        combine_networks(prop, {"f": pf, "g": pg})
    with pytest.raises(ParseError, match="no model given for network 'g'"):
        combine_networks(parse_vnnlib2(TWO.format(rel="", t="0.01")), {"f": pf})


def test_several_inputs_and_outputs_of_one_network(tmp_path: Path, capsys: Any) -> None:
    """``y1 = relu(a) + b`` and ``y2 = a - b`` for inputs ``a, b`` in ``[0, 1]^2``: ``y1 - y2 = 2 b``,
    so ``y1 - y2 >= 2.01`` is unsat and ``>= 1.99`` is sat."""
    nodes = [helper.make_node("Relu", ["a"], ["r"], name="relu"), helper.make_node("Add", ["r", "b"], ["y1"], name="add"),
             helper.make_node("Sub", ["a", "b"], ["y2"], name="sub")]
    g = helper.make_graph(nodes, "mio", [helper.make_tensor_value_info(n, TensorProto.FLOAT, [1, 2]) for n in "ab"],
                          [helper.make_tensor_value_info(n, TensorProto.FLOAT, None) for n in ("y1", "y2")])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    p = tmp_path / "mio.onnx"
    onnx.save(m, str(p))
    net = load_onnx(p)
    assert net.n_inputs == 4 and net.n_outputs == 4
    text = """(vnnlib-version <2.0>)
(declare-network f (declare-input A Real [1,2]) (declare-input B Real [1,2]) (declare-output Y1 Real [1,2]) (declare-output Y2 Real [1,2]))
(assert (and (>= A[0,0] 0.0) (<= A[0,0] 1.0) (>= A[0,1] 0.0) (<= A[0,1] 1.0)))
(assert (and (>= B[0,0] 0.0) (<= B[0,0] 1.0) (>= B[0,1] 0.0) (<= B[0,1] 1.0)))
(assert (>= (- Y1[0,1] Y2[0,1]) {t}))
"""
    for t, want in (("2.01", Result.UNSAT), ("1.99", Result.SAT)):
        prop = parse_vnnlib2(text.format(t=t))
        res = verify(net, prop, onnx_path=p, timeout=30)
        assert res.status is want, (t, res.message)
        spec = tmp_path / f"mio_{t}.vnnlib"
        spec.write_text(text.format(t=t))
        assert main(["verify", str(spec), "--network", f"f={p}"]) == 0  # the command line too
        assert capsys.readouterr().out.split("\n")[0] == want.value
    assert main(["supports", "--multiple-input-output-theories"]) == 0
    assert capsys.readouterr().out.split() == ["SIO", "MIO"]


def test_hidden_tensor_of_a_lowered_graph(tmp_path: Path) -> None:
    """``z = W pad(x) + b`` (a graph the chain reader does not take) is a whole layer's pre-activation:
    a hidden-node property on it is decided.  ``z_0`` is affine, so its maximum over the box is
    ``b_0 + Σ |w_0i|`` (over the non-padded entries)."""
    w = _f32(3, 4)
    b = _f32(3)
    w2 = _f32(1, 3)
    nodes = [helper.make_node("Pad", ["x", "pads"], ["xp"], name="pad"),
             helper.make_node("Gemm", ["xp", "W", "B"], ["z"], transB=1, name="fc1"),
             helper.make_node("Relu", ["z"], ["h"], name="relu1"),
             helper.make_node("Gemm", ["h", "W2"], ["y"], transB=1, name="fc2")]
    inits = [numpy_helper.from_array(np.array([0, 1, 0, 1], dtype=np.int64), "pads"),
             numpy_helper.from_array(w.astype(np.float32), "W"), numpy_helper.from_array(b.astype(np.float32), "B"),
             numpy_helper.from_array(w2.astype(np.float32), "W2")]
    g = helper.make_graph(nodes, "hid", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    p = tmp_path / "hid.onnx"
    onnx.save(m, str(p))
    net = load_onnx(p)
    names = {n: (st, k) for n, st, k in net.tensor_names}
    assert names["z"] == ("pre", 0) and names["h"] == ("post", 0) and names["relu1"] == ("post", 0)
    top = float(b[0] + np.abs(w[0, 1:3]).sum())  # the padded entries 0 and 3 are zeros
    text = """(vnnlib-version <2.0>)
(declare-network f (declare-input X Real [1,2]) (declare-hidden Z Real [1,3] "z") (declare-output Y Real [1,1]))
(assert (and (>= X[0,0] -1.0) (<= X[0,0] 1.0) (>= X[0,1] -1.0) (<= X[0,1] 1.0)))
(assert (>= Z[0,0] {t}))
"""
    for t, want in ((top + 0.05, Result.UNSAT), (top - 0.05, Result.SAT)):
        res = verify(net, parse_vnnlib2(text.format(t=f"{t:.6f}")), onnx_path=p, timeout=60)
        assert res.status is want, (t, res.message)


def test_hidden_tensors_with_several_networks_are_refused() -> None:
    text = TWO.format(rel="", t="0.5").replace(
        "(declare-output Y2 Real [1,1]))", '(declare-hidden H2 Real [1,8] "h0") (declare-output Y2 Real [1,1]))')
    with pytest.raises(ParseError, match="one network only"):
        parse_vnnlib2(text)

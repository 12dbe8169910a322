"""VNN-COMP test instances (../shared/data/vnncomp), ONNX loading and the CLI."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

from sosrelax.cli import main  # noqa: E402
from sosrelax.errors import ParseError  # noqa: E402
from sosrelax.nn import vnnlib_claims  # noqa: E402
from sosrelax.nn.onnx_loader import load_onnx  # noqa: E402
from sosrelax.nn.verify import Result, verify  # noqa: E402

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "vnncomp"


def need_data():
    if not DATA.is_dir():
        pytest.skip("shared VNN-COMP data not available")


def test_nano_unsat():
    need_data()
    net, prop = vnnlib_claims(DATA / "test_nano.onnx", DATA / "test_nano.vnnlib")
    res = verify(net, prop, onnx_path=DATA / "test_nano.onnx", timeout=20, method="rungs")
    assert res.status is Result.UNSAT and res.certificates


def test_acas_sat_witness_rechecks():
    need_data()
    onnx = DATA / "test_sat.onnx"
    net, prop = vnnlib_claims(onnx, DATA / "test_prop.vnnlib")
    res = verify(net, prop, onnx_path=onnx, timeout=20)
    assert res.status is Result.SAT
    import onnxruntime as ort

    x, _ = res.counterexample
    sess = ort.InferenceSession(str(onnx), providers=["CPUExecutionProvider"])
    y = sess.run(None, {sess.get_inputs()[0].name: np.array(x, np.float32).reshape(1, 1, 1, 5)})[0].ravel()
    d = prop.disjuncts[0]
    assert all(float(a) - 1e-4 <= v <= float(b) + 1e-4 for a, v, b in zip(d.lo, x, d.hi, strict=True))
    assert all(y[0] <= y[j] + 1e-4 for j in range(1, 5))


def test_acas_unsat_is_proven():
    """300 ReLUs, 49 unstable: stable neurons are eliminated and the exact chain is checked."""
    need_data()
    from sosrelax.certificate.check import check_certificate

    net, prop = vnnlib_claims(DATA / "test_unsat.onnx", DATA / "test_prop.vnnlib")
    res = verify(net, prop, onnx_path=DATA / "test_unsat.onnx", timeout=30, method="rungs")
    assert res.status is Result.UNSAT, res.log
    cert = res.certificates[0]
    assert len(cert.variables) < 60 and any("inactive" in lem.metadata["lemma"] for lem in cert.lemmas)
    assert check_certificate(cert).valid


def test_unsupported_operator_named(tmp_path):
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper

    node = helper.make_node("Softsign", ["x"], ["y"], name="act")
    g = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 2])])
    path = tmp_path / "m.onnx"
    onnx.save(helper.make_model(g), str(path))
    with pytest.raises(ParseError, match="act.*Softsign"):
        load_onnx(path)


def test_gemm_relu_model_roundtrip(tmp_path):
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    w1 = rng.normal(size=(4, 3)).astype(np.float32)
    w2 = rng.normal(size=(2, 4)).astype(np.float32)
    inits = [numpy_helper.from_array(w1, "w1"), numpy_helper.from_array(np.ones(4, np.float32), "b1"),
             numpy_helper.from_array(w2.T.copy(), "w2"), numpy_helper.from_array(np.array([2.0], np.float32), "m")]
    nodes = [helper.make_node("Gemm", ["x", "w1", "b1"], ["z"], transB=1),
             helper.make_node("Relu", ["z"], ["h"]),
             helper.make_node("MatMul", ["h", "w2"], ["o"]),
             helper.make_node("Mul", ["o", "m"], ["y"])]
    g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 2])], inits)
    path = tmp_path / "m.onnx"
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)]), str(path))
    net = load_onnx(path)
    assert net.hidden_sizes == (4,)
    assert np.array_equal(net.weights[0], w1.astype(np.float64))


def test_cli_verify_and_supports(tmp_path, capsys):
    need_data()
    out = tmp_path / "res.txt"
    rc = main(["verify", str(DATA / "test_nano.vnnlib"), "--network", f"N={DATA / 'test_nano.onnx'}",
               "--vnncomp-result", str(out)])
    assert rc == 0 and capsys.readouterr().out == "unsat\n" and out.read_text() == "unsat\n"
    assert main(["supports", "--vnnlib-versions"]) == 0
    assert capsys.readouterr().out == "1.0\n2.0\n"
    bad = tmp_path / "bad.vnnlib"
    bad.write_text("(declare-const X_0 Real)(assert (>= X_0 1)")
    assert main(["verify", str(bad), "--network", f"N={DATA / 'test_nano.onnx'}",
                 "--vnncomp-result", str(tmp_path / "r2.txt")]) == 2
    assert not (tmp_path / "r2.txt").exists()


def test_supports_answers_use_the_standard_identifiers(capsys):
    expected = {
        "--hidden-node-theories": "NH\nH\n",
        "--multiple-input-output-theories": "SIO\nMIO\n",
        "--multiple-inputs-output-theories": "SIO\nMIO\n",  # the standard's example spelling
        "--multiple-network-theories": "SNET\nMNET\n",
        "--arithmetic-complexity-theories": "BND\nOUTC\nLIN\nPOLY\n",
        "--optimised-disjunctive-reasoning": "false\n",
        "--serialise-assignments": "false\n",
        "--onnx-opset-versions": "7\n21\n",
    }
    for flag, text in expected.items():
        assert main(["supports", flag]) == 0
        assert capsys.readouterr().out == text
    assert main(["supports", "--onnx-operators"]) == 0
    ops = capsys.readouterr().out.split()
    assert {"Gemm", "MatMul", "Relu", "Conv", "BatchNormalization", "Sigmoid", "Tanh", "Pow"} <= set(ops)


def test_conv_batchnorm_avgpool_model_matches_onnxruntime(tmp_path):
    """Conv (stride, padding), BatchNormalization, Relu, AveragePool, Flatten, Gemm: unrolled to
    affine maps; the loader cross-checks onnxruntime, and so do we at random inputs."""
    onnx = pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(5)
    f32 = np.float32
    inits = [
        numpy_helper.from_array(rng.normal(size=(3, 2, 3, 3)).astype(f32), "cw"),
        numpy_helper.from_array(rng.normal(size=3).astype(f32), "cb"),
        numpy_helper.from_array(rng.uniform(0.5, 2, size=3).astype(f32), "scale"),
        numpy_helper.from_array(rng.normal(size=3).astype(f32), "shift"),
        numpy_helper.from_array(rng.normal(size=3).astype(f32), "mean"),
        numpy_helper.from_array(rng.uniform(0.5, 2, size=3).astype(f32), "var"),
        numpy_helper.from_array(rng.normal(size=(4, 27)).astype(f32), "fw"),
        numpy_helper.from_array(rng.normal(size=4).astype(f32), "fb"),
    ]
    nodes = [
        helper.make_node("Conv", ["x", "cw", "cb"], ["c"], strides=[1, 1], pads=[1, 1, 1, 1]),
        helper.make_node("BatchNormalization", ["c", "scale", "shift", "mean", "var"], ["n"]),
        helper.make_node("Relu", ["n"], ["r"]),
        helper.make_node("AveragePool", ["r"], ["p"], kernel_shape=[2, 2], strides=[2, 2]),
        helper.make_node("Flatten", ["p"], ["f"]),
        helper.make_node("Gemm", ["f", "fw", "fb"], ["y"], transB=1),
    ]
    g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2, 6, 6])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])], inits)
    path = tmp_path / "conv.onnx"
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)]), str(path))
    net = load_onnx(path)
    assert net.input_shape == (1, 2, 6, 6) or int(np.prod(net.input_shape)) == 72
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    X = rng.uniform(-1, 1, size=(20, 72)).astype(f32)
    for x in X:
        y_ort = sess.run(None, {"x": x.reshape(1, 2, 6, 6)})[0].ravel()
        assert np.allclose(net.forward(x.astype(np.float64)), y_ort, atol=1e-4)


NANO_V2 = """(vnnlib-version <2.0>)
(declare-network nano
  (declare-input X float32 [1])
  (declare-output Y float32 [1])
)
(assert (and (>= X[0] -1.0) (<= X[0] 1.0)))
(assert (<= Y[0] -1.0))
"""


def test_vnnlib2_matches_vnnlib1_and_decides_through_the_cli(tmp_path, capsys):
    need_data()
    from sosrelax.nn import read_vnnlib

    spec = tmp_path / "nano2.vnnlib"
    spec.write_text(NANO_V2)
    assert read_vnnlib(spec).disjuncts == read_vnnlib(DATA / "test_nano.vnnlib").disjuncts
    rc = main(["verify", str(spec), "--network", f"nano={DATA / 'test_nano.onnx'}"])
    assert rc == 0 and capsys.readouterr().out == "unsat\n"


def test_vnnlib2_shapes_disjunctions_and_unsupported_constructs():
    pytest.importorskip("vnnlib")
    from fractions import Fraction

    from sosrelax.nn.vnnlib2 import parse_vnnlib2

    head = ("(vnnlib-version <2.0>)\n(declare-network f\n  (declare-input X float32 [1, 2])\n"
            "  (declare-output Y float32 [2])\n")
    box = "(assert (and (>= X[0, 0] -1.0) (<= X[0, 0] 2.0) (>= X[0, 1] -2.0) (<= X[0, 1] 0.1)))\n"
    prop = parse_vnnlib2(head + ")\n" + box + "(assert (or (>= (- Y[0] Y[1]) 0.5) (< Y[1] -3.0)))\n")
    assert prop.n_inputs == 2 and prop.n_outputs == 2 and len(prop.disjuncts) == 2
    d0, d1 = prop.disjuncts
    assert d0.lo == (Fraction(-1), Fraction(-2)) and d0.hi == (Fraction(2), Fraction(1, 10))
    assert d0.atoms[0].y == ((0, Fraction(1)), (1, Fraction(-1))) and d0.atoms[0].const == Fraction(-1, 2)
    assert d1.atoms[0].strict and d1.atoms[0].y == ((1, Fraction(-1)),)
    hidden = head.replace("  (declare-output", "  (declare-hidden H float32 [2] \"h\")\n  (declare-output")
    assert parse_vnnlib2(hidden + ")\n" + box + "(assert (>= H[0] 0.0))\n").disjuncts[0].poly
    with pytest.raises(ParseError, match="syntax error"):
        parse_vnnlib2(head + ")\n" + box + "(assert (>= Y[0] 0.0)\n")
    assert parse_vnnlib2(head + ")\n" + box + "(assert (>= (* Y[0] Y[1]) 0.5))\n").disjuncts[0].poly[0].degree == 2

"""The ONNX loader follows the ONNX semantics (numpy.matmul for 1-D operands, multidirectional
broadcasting, Gemm with transA/transB/alpha/beta) and refuses what it cannot read with a ParseError
that names the culprit.  Every model is compared with onnxruntime on random inputs."""

from __future__ import annotations

import glob
from pathlib import Path
from typing import Any

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from sosrelax.errors import ParseError, SosrelaxError  # noqa: E402
from sosrelax.nn.onnx_loader import load_onnx, onnx_forward  # noqa: E402

RNG = np.random.default_rng(20210701)


def _w(*shape: int) -> np.ndarray:
    return RNG.normal(size=shape).astype(np.float32)


def _init(name: str, value: np.ndarray) -> Any:
    return numpy_helper.from_array(np.asarray(value), name)


def _const_node(name: str, value: np.ndarray) -> Any:
    """An initialiser written as a Constant node."""
    return helper.make_node("Constant", [], [name], value=numpy_helper.from_array(np.asarray(value)),
                            name=f"const_{name}")


def _save(tmp_path: Path, nodes: list[Any], in_shape: list[int], out_name: str,
          inits: list[Any] = (), *, opset: int = 13, elem: int = TensorProto.FLOAT,
          name: str = "m") -> Path:
    g = helper.make_graph(
        nodes, name,
        [helper.make_tensor_value_info("x", elem, in_shape)],
        [helper.make_tensor_value_info(out_name, elem, None)],
        list(inits),
    )
    model = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 8
    p = tmp_path / f"{name}.onnx"
    onnx.save(model, str(p))
    return p


def _agrees(p: Path, trials: int = 20) -> np.ndarray:
    """Load (the loader cross-checks too) and compare with onnxruntime at random points; returns the
    loaded network's weights of the first layer."""
    net = load_onnx(p)
    for _ in range(trials):
        x = RNG.uniform(-2, 2, size=net.n_inputs)
        ours = net.forward(x)
        theirs = onnx_forward(p, x, net.input_shape)
        np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-5)
    return net


# -- the VNN-COMP 2021 "test" benchmark's shape: input [1], 1-D weights ----------------------------


def test_one_dimensional_input_and_weight_vectors(tmp_path: Path) -> None:
    # x: [1];  h = relu(x @ W1 + b1) with W1 [1, 2];  y = h @ w2 (1-D: a dot product, a scalar) + b2 [1]
    w1, b1, w2, b2 = _w(1, 2), _w(2), _w(2), _w(1)
    nodes = [
        helper.make_node("MatMul", ["x", "W1"], ["a"], name="mm1"),
        helper.make_node("Add", ["a", "b1"], ["z"], name="add1"),
        helper.make_node("Relu", ["z"], ["h"], name="relu"),
        helper.make_node("MatMul", ["h", "w2"], ["s"], name="mm2"),
        helper.make_node("Add", ["s", "b2"], ["y"], name="add2"),
    ]
    inits = [_init("W1", w1), _init("b1", b1), _init("w2", w2), _init("b2", b2)]
    p = _save(tmp_path, nodes, [1], "y", inits, name="test_small_like")
    net = _agrees(p)
    assert net.input_shape == (1,)
    # exact values: y(x) = w2 · relu(x W1 + b1) + b2
    for x in (-1.5, 0.0, 0.7):
        expect = float(np.maximum(x * w1[0].astype(np.float64) + b1, 0) @ w2.astype(np.float64) + b2[0])
        assert net.forward(np.array([x]))[0] == pytest.approx(expect, rel=1e-12, abs=1e-12)


def test_one_dimensional_input_of_shape_1_1(tmp_path: Path) -> None:
    w1, w2 = _w(1, 3), _w(3, 1)
    nodes = [
        helper.make_node("MatMul", ["x", "W1"], ["a"], name="mm1"),
        helper.make_node("Relu", ["a"], ["h"], name="relu"),
        helper.make_node("MatMul", ["h", "W2"], ["y"], name="mm2"),
    ]
    p = _save(tmp_path, nodes, [1, 1], "y", [_init("W1", w1), _init("W2", w2)], name="small11")
    assert _agrees(p).input_shape == (1, 1)


def test_matrix_times_vector_data_and_broadcast_to_higher_rank(tmp_path: Path) -> None:
    # W [3, 2] @ x [2] -> [3]; + c [4, 3] broadcasts to [4, 3]; - d (const - data); Flatten -> [1, 12]
    nodes = [
        helper.make_node("MatMul", ["W", "x"], ["a"], name="mv"),
        helper.make_node("Add", ["a", "c"], ["b"], name="bcast"),
        helper.make_node("Sub", ["d", "b"], ["e"], name="sub_rev"),
        helper.make_node("Relu", ["e"], ["f"], name="relu"),
        helper.make_node("Flatten", ["f"], ["y"], name="flat", axis=0),
    ]
    inits = [_init("W", _w(3, 2)), _init("c", _w(4, 3)), _init("d", _w(1, 3))]
    p = _save(tmp_path, nodes, [2], "y", inits, name="mv")
    net = _agrees(p)
    assert net.n_outputs == 12


def test_batched_matmul_constant_of_higher_rank(tmp_path: Path) -> None:
    # x [2, 3] @ W [4, 3, 2] -> [4, 2, 2]; v [3] @ (data [4, 2, 2] reshaped to [4, ... ]) via a 1-D left operand
    nodes = [
        helper.make_node("MatMul", ["x", "W"], ["a"], name="bmm"),
        helper.make_node("Relu", ["a"], ["h"], name="relu"),
        helper.make_node("MatMul", ["v", "h"], ["y"], name="vecmat"),  # v [2] @ h [4, 2, 2] -> [4, 2]
    ]
    p = _save(tmp_path, nodes, [2, 3], "y", [_init("W", _w(4, 3, 2)), _init("v", _w(2))], name="bmm")
    assert _agrees(p).n_outputs == 8


@pytest.mark.parametrize("trans_a", [0, 1])
@pytest.mark.parametrize("trans_b", [0, 1])
def test_gemm_data_as_a_with_transposes_alpha_beta(tmp_path: Path, trans_a: int, trans_b: int) -> None:
    # data x of shape [1, 4] (transA: [4, 1] is A, so A' = [1, 4]); B' = [4, 3]; C [3] broadcast
    in_shape = [4, 1] if trans_a else [1, 4]
    b = _w(3, 4) if trans_b else _w(4, 3)
    nodes = [
        helper.make_node("Gemm", ["x", "B", "C"], ["g"], name="gemm", transA=trans_a, transB=trans_b,
                         alpha=0.5, beta=-2.0),
        helper.make_node("Relu", ["g"], ["y"], name="relu"),
    ]
    p = _save(tmp_path, nodes, in_shape, "y", [_init("B", b), _init("C", _w(3))], name=f"gemm{trans_a}{trans_b}")
    assert _agrees(p).n_outputs == 3


@pytest.mark.parametrize("trans_a", [0, 1])
@pytest.mark.parametrize("trans_b", [0, 1])
def test_gemm_data_as_b(tmp_path: Path, trans_a: int, trans_b: int) -> None:
    # A' [2, 3] constant, data as B: B' [3, 1]
    a = _w(3, 2) if trans_a else _w(2, 3)
    in_shape = [1, 3] if trans_b else [3, 1]
    nodes = [helper.make_node("Gemm", ["A", "x", "C"], ["y"], name="gemm_b", transA=trans_a,
                              transB=trans_b, alpha=1.5, beta=0.25)]
    p = _save(tmp_path, nodes, in_shape, "y", [_init("A", a), _init("C", _w(2, 1))], name=f"gb{trans_a}{trans_b}")
    assert _agrees(p).n_outputs == 2


def test_gemm_data_as_c_broadcast(tmp_path: Path) -> None:
    # Y = alpha A B + beta X with X of shape [1, 3] broadcast to [2, 3]
    nodes = [helper.make_node("Gemm", ["A", "B", "x"], ["y"], name="gemm_c", alpha=2.0, beta=-0.5)]
    p = _save(tmp_path, nodes, [1, 3], "y", [_init("A", _w(2, 4)), _init("B", _w(4, 3))], name="gc")
    assert _agrees(p).n_outputs == 6


def test_constant_nodes_identity_dropout_reshape(tmp_path: Path) -> None:
    # all weights as Constant nodes, a shape computed from constants, Identity and Dropout (inference)
    nodes = [
        _const_node("W1", _w(6, 5)),
        _const_node("b1", _w(5)),
        _const_node("shape", np.array([1, 6], dtype=np.int64)),
        _const_node("W2", _w(5, 2)),
        helper.make_node("Reshape", ["x", "shape"], ["r"], name="reshape"),
        helper.make_node("Identity", ["r"], ["r2"], name="ident"),
        helper.make_node("Gemm", ["r2", "W1", "b1"], ["z"], name="fc1"),
        helper.make_node("Relu", ["z"], ["h"], name="relu1"),
        helper.make_node("Dropout", ["h"], ["hd"], name="drop"),
        helper.make_node("MatMul", ["hd", "W2"], ["y0"], name="fc2"),
        helper.make_node("Sub", ["y0", "W2sum"], ["y"], name="sub"),
    ]
    inits = [_init("W2sum", _w(2))]
    p = _save(tmp_path, nodes, [2, 3], "y", inits, name="consts")
    net = _agrees(p)
    assert net.input_shape == (2, 3)
    assert net.n_outputs == 2


def test_shared_vnncomp_models_load() -> None:
    files = sorted(glob.glob("/work/shared/data/vnncomp/*.onnx")
                   + glob.glob("/work/shared/data/vnncomp2021/**/*.onnx", recursive=True))
    if not files:
        pytest.skip("no shared VNN-COMP data on this machine")
    for f in files:
        net = load_onnx(f)  # cross-checked against onnxruntime
        assert net.n_inputs >= 1 and net.n_outputs >= 1, f


# -- refusals ------------------------------------------------------------------------------------


def _refused(p: Path) -> str:
    with pytest.raises(ParseError) as e:
        load_onnx(p)
    return str(e.value)


def test_unsupported_operator_names_the_node(tmp_path: Path) -> None:
    nodes = [
        helper.make_node("MatMul", ["x", "W"], ["a"], name="fc"),
        helper.make_node("Softsign", ["a"], ["y"], name="squash"),  # (Sigmoid and Tanh chains are read)
    ]
    msg = _refused(_save(tmp_path, nodes, [1, 2], "y", [_init("W", _w(2, 2))], name="sig"))
    assert "squash" in msg and "Softsign" in msg and "node 1" in msg


def test_shape_arithmetic_on_constants_is_folded(tmp_path: Path) -> None:
    nodes = [
        helper.make_node("Shape", ["W"], ["s"], name="shape_of_w"),
        helper.make_node("Reshape", ["x", "s"], ["y"], name="r"),
    ]
    net = _agrees(_save(tmp_path, nodes, [2, 2], "y", [_init("W", _w(2, 2))], name="shp"))
    x = RNG.normal(size=4)
    assert np.array_equal(net.forward(x), x)  # a reshape to the same shape is the identity


def test_int8_input_names_the_tensor(tmp_path: Path) -> None:
    nodes = [helper.make_node("Relu", ["x"], ["y"], name="relu")]
    p = _save(tmp_path, nodes, [1, 2], "y", elem=TensorProto.INT8, name="int8")
    msg = _refused(p)
    assert "input 'x'" in msg and "int8" in msg


def test_float16_model_loads_in_real_arithmetic(tmp_path: Path) -> None:
    nodes = [helper.make_node("MatMul", ["x", "W"], ["y"], name="fc")]
    w16 = _w(2, 2).astype(np.float16)
    w = numpy_helper.from_array(w16, "W")
    net = load_onnx(_save(tmp_path, nodes, [1, 2], "y", [w], elem=TensorProto.FLOAT16, name="halfw"))
    assert np.array_equal(net.weights[-1], w16.astype(np.float64).T)  # the exact float16 values
    assert not net.float32_layers


def test_float64_model_loads(tmp_path: Path) -> None:
    nodes = [helper.make_node("MatMul", ["x", "W"], ["a"], name="fc"),
             helper.make_node("Relu", ["a"], ["y"], name="relu")]
    w = numpy_helper.from_array(RNG.normal(size=(2, 3)), "W")
    net = load_onnx(_save(tmp_path, nodes, [1, 2], "y", [w], elem=TensorProto.DOUBLE, name="dbl"))
    assert net.n_outputs == 3


def test_opset_99_says_which(tmp_path: Path) -> None:
    nodes = [helper.make_node("MatMul", ["x", "W"], ["y"], name="fc")]
    msg = _refused(_save(tmp_path, nodes, [1, 2], "y", [_init("W", _w(2, 2))], opset=99, name="o99"))
    assert "operator set 99" in msg and "7 to 21" in msg


def test_foreign_domain_names_the_node(tmp_path: Path) -> None:
    nodes = [helper.make_node("FusedMatMul", ["x", "W"], ["y"], name="fused", domain="com.microsoft")]
    msg = _refused(_save(tmp_path, nodes, [1, 2], "y", [_init("W", _w(2, 2))], name="ms"))
    assert "fused" in msg and "com.microsoft" in msg


def test_data_used_twice_is_the_sum(tmp_path: Path) -> None:
    nodes = [helper.make_node("Add", ["x", "x"], ["y"], name="double")]
    net = _agrees(_save(tmp_path, nodes, [1, 2], "y", name="twice"))
    x = RNG.normal(size=2)
    assert np.allclose(net.forward(x), 2 * x)


def test_operand_from_nowhere_names_it(tmp_path: Path) -> None:
    nodes = [helper.make_node("Add", ["x", "ghost"], ["y"], name="haunted")]
    g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)])
    model = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
    p = tmp_path / "ghost.onnx"
    onnx.save(model, str(p))
    msg = _refused(p)
    assert "haunted" in msg and "ghost" in msg


def test_shapes_that_do_not_fit_name_the_node(tmp_path: Path) -> None:
    nodes = [helper.make_node("MatMul", ["x", "W"], ["y"], name="wrong")]
    msg = _refused(_save(tmp_path, nodes, [1, 2], "y", [_init("W", _w(3, 2))], name="bad"))
    assert "wrong" in msg and "shapes do not fit" in msg


def test_garbage_file_is_a_parse_error(tmp_path: Path) -> None:
    p = tmp_path / "junk.onnx"
    p.write_bytes(b"\x08\x07garbage" * 10)
    with pytest.raises(SosrelaxError):
        load_onnx(p)

"""Polynomial heads: ``Mul`` of two data tensors and ``Pow`` with an integer exponent after the last
ReLU.  The model is a ReLU network followed by a polynomial; properties over its outputs become
polynomial atoms over the network's outputs, decided by the exact rungs.  With ``h = relu(x + 1)`` and
``x`` in ``[0, 1]^2`` (so ``h = x + 1`` in ``[1, 2]^2``) every maximum below is known by
construction."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from sosrelax.nn.lower.poly import evaluate, substitute  # noqa: E402
from sosrelax.nn.onnx_loader import load_onnx_graph, onnx_forward  # noqa: E402
from sosrelax.nn.verify import Result, verify  # noqa: E402
from sosrelax.nn.vnnlib_common import Atom, Disjunct, Property  # noqa: E402

RNG = np.random.default_rng(7)


def _model(path: Path, head: list[Any], inits: list[Any] = ()) -> Path:
    body = [helper.make_node("Gemm", ["x", "W", "B"], ["z"], name="fc"), helper.make_node("Relu", ["z"], ["h"], name="relu"),
            helper.make_node("Slice", ["h", "s0", "s1", "ax"], ["h0"], name="first"),
            helper.make_node("Slice", ["h", "s1", "s2", "ax"], ["h1"], name="second")]
    consts = [numpy_helper.from_array(np.eye(2, dtype=np.float32), "W"), numpy_helper.from_array(np.ones(2, np.float32), "B"),
              *(numpy_helper.from_array(np.array([v], dtype=np.int64), n) for n, v in (("s0", 0), ("s1", 1), ("s2", 2), ("ax", 1)))]
    g = helper.make_graph(body + head, path.stem, [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], consts + list(inits))
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    m.ir_version = 8
    onnx.save(m, str(path))
    return path


HEADS = {
    # name: (head nodes, inits, maximum of y over x in [0, 1]^2)
    "Mul": ([helper.make_node("Mul", ["h0", "h1"], ["y"], name="prod")], [], 4.0),
    "Pow": ([helper.make_node("Sub", ["h0", "h1"], ["d"], name="diff"),
             helper.make_node("Pow", ["d", "two"], ["y"], name="square")],
            [numpy_helper.from_array(np.float32(2.0), "two")], 1.0),
    "ReduceSum_of_squares": ([helper.make_node("Mul", ["h", "h"], ["hh"], name="sq"),
                              helper.make_node("ReduceSum", ["hh", "ax"], ["y"], keepdims=1, name="norm")], [], 8.0),
}


def _prop(t: float) -> Property:
    atom = Atom((), ((0, Fraction(1)),), -Fraction(t))
    return Property(2, 1, (Disjunct((Fraction(0),) * 2, (Fraction(1),) * 2, (atom,)),), "test")


@pytest.mark.parametrize("name", sorted(HEADS))
def test_polynomial_head_equals_onnxruntime(name: str, tmp_path: Path) -> None:
    nodes, inits, _ = HEADS[name]
    p = _model(tmp_path / f"{name}.onnx", nodes, inits)
    low = load_onnx_graph(p)  # cross-checked with the head too
    assert low.polynomial is not None
    for _ in range(20):
        x = RNG.uniform(-2, 2, size=2)
        got = evaluate(low.polynomial, low.network.forward(x))
        np.testing.assert_allclose(got, onnx_forward(p, x, (1, 2)), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("name", sorted(HEADS))
def test_polynomial_head_is_decided_both_ways(name: str, tmp_path: Path) -> None:
    nodes, inits, top = HEADS[name]
    low = load_onnx_graph(_model(tmp_path / f"{name}.onnx", nodes, inits))
    assert low.polynomial is not None
    for t, want in ((top + 0.05, Result.UNSAT), (top - 0.05, Result.SAT)):
        prop = substitute(_prop(t), low.polynomial, low.network.n_outputs)
        res = verify(low.network, prop, timeout=60)
        assert res.status is want, (name, t, res.message)
        if want is Result.UNSAT:
            assert res.certificates  # verified by the exact checker
        else:
            assert res.counterexample is not None
            x = np.array(res.counterexample[0])
            assert float(onnx_forward(tmp_path / f"{name}.onnx", x, (1, 2))[0]) >= t - 1e-5

"""Random graphs of the claimed operators (convolutions, pooling, padding, slicing, skip connections,
maxima, piecewise-linear activations) lowered and compared with onnxruntime on random inputs, far
outside ``[-1, 1]`` too: the lowering is exact, not only on the loader's own cross-check points."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

from onnx import TensorProto, helper, numpy_helper, shape_inference  # noqa: E402

from sosrelax.nn.onnx_loader import load_onnx, onnx_forward  # noqa: E402


def _shape(model: Any, name: str) -> list[int]:
    inferred = shape_inference.infer_shapes(model)
    for vi in [*inferred.graph.value_info, *inferred.graph.input, *inferred.graph.output]:
        if vi.name == name:
            return [d.dim_value for d in vi.type.tensor_type.shape.dim]
    raise KeyError(name)


def _random_model(rng: np.random.Generator, path: Path, steps: int = 6) -> Path:
    nodes: list[Any] = []
    inits: list[Any] = []
    tensors = {"x": [1, 2, 5, 5]}
    cur = "x"

    def model() -> Any:
        g = helper.make_graph(nodes, "fuzz", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2, 5, 5])],
                              [helper.make_tensor_value_info(cur, TensorProto.FLOAT, None)], inits)
        m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
        m.ir_version = 8
        return m

    def const(name: str, value: np.ndarray) -> str:
        inits.append(numpy_helper.from_array(value, name))
        return name

    for k in range(steps):
        out = f"t{k}"
        n, c, h, w = tensors[cur]
        same = [t for t, s in tensors.items() if s == tensors[cur] and t != cur]
        op = rng.choice(["Conv", "MaxPool", "AveragePool", "Relu", "LeakyRelu", "Abs", "Clip", "Add", "Max",
                         "Transpose", "Pad", "Slice", "Concat", "BatchNormalization"])
        if op in ("Add", "Max", "Concat") and not same:
            op = "Relu"
        if op in ("MaxPool", "AveragePool") and min(h, w) < 2:
            op = "Abs"
        if op == "Conv":
            g = int(rng.choice([g for g in (1, 2) if c % g == 0]))
            co = g * int(rng.integers(1, 3))
            kk = int(rng.integers(1, min(3, h, w) + 1))
            pad = str(rng.choice(["SAME_UPPER", "SAME_LOWER", "VALID", "NOTSET"]))
            attrs: dict[str, Any] = {"group": g, "strides": [int(rng.integers(1, 3))] * 2}
            if pad == "NOTSET":
                attrs["pads"] = [int(v) for v in rng.integers(0, 2, size=4)]
            else:
                attrs["auto_pad"] = pad
            wname = const(f"W{k}", rng.normal(size=(co, c // g, kk, kk)).astype(np.float32))
            nodes.append(helper.make_node("Conv", [cur, wname], [out], **attrs))
        elif op in ("MaxPool", "AveragePool"):
            attrs = {"kernel_shape": [2, 2], "strides": [int(rng.integers(1, 3))] * 2,
                     "pads": [int(v) for v in rng.integers(0, 2, size=4)]}
            nodes.append(helper.make_node(op, [cur], [out], **attrs))
        elif op == "LeakyRelu":
            nodes.append(helper.make_node(op, [cur], [out], alpha=float(rng.uniform(0, 0.5))))
        elif op == "Clip":
            lo = float(rng.uniform(-1, 0))
            nodes.append(helper.make_node(op, [cur, const(f"lo{k}", np.float32(lo)),
                                               const(f"hi{k}", np.float32(lo + rng.uniform(0, 2)))], [out]))
        elif op in ("Add", "Max"):
            nodes.append(helper.make_node(op, [cur, str(rng.choice(same))], [out]))
        elif op == "Concat":
            nodes.append(helper.make_node(op, [cur, str(rng.choice(same))], [out], axis=1))
        elif op == "Transpose":
            nodes.append(helper.make_node(op, [cur], [out], perm=[0, 1, 3, 2]))
        elif op == "Pad":
            pads = const(f"p{k}", np.array([0, 0, *rng.integers(0, 2, size=2), 0, 0, *rng.integers(0, 2, size=2)],
                                            dtype=np.int64))
            nodes.append(helper.make_node(op, [cur, pads], [out], mode=str(rng.choice(["constant", "reflect", "edge"]))))
        elif op == "Slice":
            nodes.append(helper.make_node(op, [cur, const(f"s{k}", np.array([1], dtype=np.int64)),
                                               const(f"e{k}", np.array([h], dtype=np.int64)),
                                               const(f"a{k}", np.array([2], dtype=np.int64))], [out]))
        elif op == "BatchNormalization":
            ps = [const(f"bn{k}_{i}", (np.abs(rng.normal(size=c)) + (0.5 if i == 3 else 0)).astype(np.float32))
                  for i in range(4)]
            nodes.append(helper.make_node(op, [cur, *ps], [out]))
        else:
            nodes.append(helper.make_node(op, [cur], [out]))
        cur = out
        tensors[cur] = _shape(model(), cur)
    onnx.save(model(), str(path))
    return path


@pytest.mark.parametrize("seed", range(24))
def test_random_graphs_equal_onnxruntime(seed: int, tmp_path: Path) -> None:
    rng = np.random.default_rng(seed)
    p = _random_model(rng, tmp_path / f"fuzz{seed}.onnx")
    net = load_onnx(p)  # raises when the loader's own cross-check fails
    for scale in (1.0, 100.0):
        x = rng.uniform(-scale, scale, size=net.n_inputs).astype(np.float32).astype(np.float64)
        want = onnx_forward(p, x, net.input_shape)
        np.testing.assert_allclose(net.forward(x), want, rtol=1e-4, atol=1e-4 * scale * (1 + np.abs(want).max()))

"""Export a trained model to ONNX (read back by :func:`sosrelax.nn.load_onnx` and ``sosrelax verify``).

The graph is written layer by layer with :mod:`onnx.helper` from the parameters (float32, as trained):
``Linear`` → ``Gemm`` (``transB = 1``), ``Conv2d`` → ``Conv``, ``ReLU`` → ``Relu``, ``Flatten`` →
``Flatten``, ``Unflatten`` → ``Reshape``; ``Identity`` is dropped.  The input ``X`` has shape ``(1, d)``
(flattened) and the output ``Y`` shape ``(1, K)``, the layout of VNN-LIB robustness properties.  Output
is deterministic: the same model gives the same bytes.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from sosrelax.errors import BackendNotAvailableError
from sosrelax.train.models import flat_layers, input_size

__all__ = ["ONNX_OPSET", "onnx_bytes", "save_onnx", "to_network"]

#: Operator set of the exported graphs.
ONNX_OPSET = 17


def onnx_bytes(model: Any, n_inputs: int | None = None) -> bytes:
    """The serialised ONNX model of ``model`` (see the module for the operator mapping)."""
    try:
        import onnx
        from onnx import TensorProto, helper, numpy_helper
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise BackendNotAvailableError("ONNX export needs the onnx package: pip install 'sosrelax[onnx]'") from e
    n = int(n_inputs) if n_inputs is not None else input_size(model)
    nodes: list[Any] = []
    inits: list[Any] = []
    cur = "X"
    count = 0

    def fresh() -> str:
        nonlocal count
        count += 1
        return f"t{count}"

    def tensor(name: str, value: Any) -> str:
        arr = np.ascontiguousarray(value.detach().cpu().numpy().astype(np.float32))
        inits.append(numpy_helper.from_array(arr, name))
        return name

    for name, layer in flat_layers(model):
        kind = type(layer).__name__
        key = name.replace(".", "_")
        if kind == "Identity":
            continue
        out = fresh()
        if kind == "Linear":
            ins = [cur, tensor(f"{key}_weight", layer.weight)]
            if layer.bias is not None:
                ins.append(tensor(f"{key}_bias", layer.bias))
            nodes.append(helper.make_node("Gemm", ins, [out], name=key, transB=1))
        elif kind == "Conv2d":
            ins = [cur, tensor(f"{key}_weight", layer.weight)]
            if layer.bias is not None:
                ins.append(tensor(f"{key}_bias", layer.bias))
            ph, pw = layer.padding if isinstance(layer.padding, tuple) else (layer.padding,) * 2
            nodes.append(helper.make_node(
                "Conv", ins, [out], name=key, kernel_shape=list(layer.kernel_size), strides=list(layer.stride),
                pads=[int(ph), int(pw), int(ph), int(pw)], dilations=list(layer.dilation), group=int(layer.groups),
            ))
        elif kind == "ReLU":
            nodes.append(helper.make_node("Relu", [cur], [out], name=key))
        elif kind == "Flatten":
            nodes.append(helper.make_node("Flatten", [cur], [out], name=key, axis=1))
        else:  # Unflatten
            shape = np.array([1, *(int(v) for v in layer.unflattened_size)], dtype=np.int64)
            inits.append(numpy_helper.from_array(shape, f"{key}_shape"))
            nodes.append(helper.make_node("Reshape", [cur, f"{key}_shape"], [out], name=key))
        cur = out
    nodes.append(helper.make_node("Identity", [cur], ["Y"], name="output"))
    with _no_grad():
        k = int(model(_zeros(model, n)).shape[-1])
    graph = helper.make_graph(
        nodes, "sosrelax_train", [helper.make_tensor_value_info("X", TensorProto.FLOAT, [1, n])],
        [helper.make_tensor_value_info("Y", TensorProto.FLOAT, [1, k])], initializer=inits,
    )
    m = helper.make_model(graph, producer_name="sosrelax.train", opset_imports=[helper.make_opsetid("", ONNX_OPSET)])
    m.ir_version = 8
    onnx.checker.check_model(m)
    return bytes(m.SerializeToString())


def _no_grad() -> Any:
    import torch

    return torch.no_grad()


def _zeros(model: Any, n: int) -> Any:
    import torch

    p = next(iter(model.parameters()))
    return torch.zeros(1, n, dtype=p.dtype, device=p.device)


def save_onnx(model: Any, path: str | os.PathLike[str], n_inputs: int | None = None) -> Path:
    """Write :func:`onnx_bytes` of ``model`` to ``path`` (parent folders created); return the path."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_bytes(onnx_bytes(model, n_inputs))
    return p


def to_network(model: Any, path: str | os.PathLike[str], n_inputs: int | None = None) -> Any:
    """Export ``model`` to ``path`` and read it back with :func:`sosrelax.nn.load_onnx` (cross-checked
    against onnxruntime); returns the :class:`~sosrelax.nn.ir.Network` the verifier sees."""
    from sosrelax.nn import load_onnx

    return load_onnx(save_onnx(model, path, n_inputs))

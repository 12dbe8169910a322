"""PyTorch ``nn.Sequential`` ReLU networks as :class:`~sosrelax.nn.ir.Network`.

Supported layers: ``Linear``, ``ReLU``, ``Flatten``, ``Identity``, ``Dropout`` (identity at
inference), ``BatchNorm1d`` (folded into an affine map with its running statistics) and nested
``Sequential``.  Weights are read as float64 (a float32 weight converts exactly).  The loaded
network is cross-checked against the module itself, in float64 and in evaluation mode, at random
inputs; a mismatch or any other layer raises :class:`~sosrelax.errors.ParseError` naming the layer.
torch is imported only when this module is used.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from sosrelax.errors import ParseError
from sosrelax.nn.ir import Affine, Network, ReLU, from_operations

__all__ = ["from_torch"]


def _layers(module: Any, prefix: str = "") -> list[tuple[str, Any]]:
    import torch.nn as tnn

    if isinstance(module, tnn.Sequential):
        out: list[tuple[str, Any]] = []
        for name, child in module.named_children():
            out += _layers(child, f"{prefix}{name}.")
        return out
    return [(prefix.rstrip(".") or type(module).__name__, module)]


def from_torch(module: Any, input_shape: Sequence[int] | None = None, *, check: bool = True,
               name: str = "") -> Network:
    """Convert a ``torch.nn.Sequential`` of supported layers.

    Parameters
    ----------
    module : torch.nn.Sequential
    input_shape : sequence of int, optional
        Shape of one input (without the batch axis); default: the first ``Linear``'s input size.
    check : bool
        Compare the converted network with ``module`` (float64, eval mode) at 16 random inputs
        (relative tolerance ``1e-9``).
    """
    import torch
    import torch.nn as tnn

    ops: list[Affine | ReLU] = []
    n_in: int | None = int(np.prod(input_shape)) if input_shape is not None else None
    width = n_in
    for lname, layer in _layers(module):
        if isinstance(layer, tnn.Linear):
            w = layer.weight.detach().cpu().double().numpy()
            b = (layer.bias.detach().cpu().double().numpy() if layer.bias is not None
                 else np.zeros(w.shape[0]))
            if width is None:
                n_in = width = w.shape[1]
            ops.append(Affine(w, b, lname))
            width = w.shape[0]
        elif isinstance(layer, tnn.ReLU):
            ops.append(ReLU(lname))
        elif isinstance(layer, (tnn.Flatten, tnn.Identity, tnn.Dropout)):
            continue
        elif isinstance(layer, tnn.BatchNorm1d):
            if layer.running_mean is None or layer.running_var is None:
                raise ParseError(f"layer {lname} (BatchNorm1d) has no running statistics; "
                                 "use track_running_stats=True")
            mean = layer.running_mean.detach().cpu().double().numpy()
            var = layer.running_var.detach().cpu().double().numpy()
            g = (layer.weight.detach().cpu().double().numpy() if layer.weight is not None
                 else np.ones_like(mean))
            beta = (layer.bias.detach().cpu().double().numpy() if layer.bias is not None
                    else np.zeros_like(mean))
            s = g / np.sqrt(var + layer.eps)
            ops.append(Affine(np.diag(s), beta - s * mean, lname))
        else:
            raise ParseError(
                f"layer {lname} ({type(layer).__name__}) is not supported; supported: Linear, ReLU, "
                "Flatten, Identity, Dropout, BatchNorm1d (export other models to ONNX)"
            )
    if n_in is None:
        raise ParseError("the module has no Linear layer; give input_shape")
    shape = tuple(input_shape) if input_shape is not None else (n_in,)
    net = from_operations(ops, n_in, input_shape=shape, name=name or type(module).__name__)
    if check:
        import copy

        ref = copy.deepcopy(module).double().eval()
        X = np.random.default_rng(0).uniform(-1, 1, size=(16, n_in))
        with torch.no_grad():
            y_ref = ref(torch.from_numpy(X).reshape(16, *shape)).reshape(16, -1).numpy()
        y = net.forward(X)
        if y.shape != y_ref.shape or not np.allclose(y, y_ref, rtol=1e-9, atol=1e-9 * (1 + np.abs(y_ref).max())):
            raise ParseError("the converted network does not reproduce the module's outputs "
                             f"(largest difference {np.abs(y - y_ref).max() if y.shape == y_ref.shape else 'shape'})")
    return net

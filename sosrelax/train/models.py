"""Models for worst-case training: MLPs, a small convolutional net, and a user's ``nn.Sequential``.

A model is a ``torch.nn.Sequential`` of ``Linear``, ``Conv2d``, ``ReLU``, ``Flatten``,
``Unflatten`` and ``Identity`` layers that maps a batch of flattened inputs ``(B, d)`` to logits
``(B, K)`` (a convolutional model starts with an ``Unflatten`` to its image shape).  Between two
ReLUs the layers compose to one affine map; :func:`affine_layers` returns these maps as dense
matrices, computed from the layers' parameters by probing with the unit vectors (so that gradients
flow into the parameters).  They are what the bounds of :mod:`sosrelax.train.bounds` and the ONNX
export see: ``z_0 = W_0 x + b_0``, ``z_m = W_m relu(z_{m-1}) + b_m``, logits ``z_L``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sosrelax.errors import InvalidValueError, ParseError
from sosrelax.train.torchlib import require_torch

__all__ = ["SUPPORTED_LAYERS", "affine_layers", "cnn", "flat_layers", "input_size", "mlp"]

#: Layer types a model may contain.
SUPPORTED_LAYERS = ("Linear", "Conv2d", "ReLU", "Flatten", "Unflatten", "Identity")


def mlp(n_inputs: int = 64, hidden: Sequence[int] = (64, 32), n_classes: int = 10, *, seed: int = 0) -> Any:
    """A ReLU MLP ``n_inputs → hidden… → n_classes`` (PyTorch's default initialisation under ``seed``)."""
    torch = require_torch()
    nn = torch.nn
    sizes = [n_inputs, *hidden]
    layers: list[Any] = []
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        for a, b in zip(sizes, sizes[1:], strict=False):
            layers += [nn.Linear(a, b), nn.ReLU()]
        layers.append(nn.Linear(sizes[-1], n_classes))
    return nn.Sequential(*layers)


def cnn(image_shape: Sequence[int] = (1, 8, 8), channels: Sequence[int] = (8, 16), hidden: int = 64,
        n_classes: int = 10, *, seed: int = 0) -> Any:
    """A small convolutional net for flattened images: ``Unflatten``, 3×3 convolutions (the second with
    stride 2) and ReLUs, then a hidden linear layer and the logits."""
    torch = require_torch()
    nn = torch.nn
    c, h, w = (int(v) for v in image_shape)
    layers: list[Any] = [nn.Unflatten(1, (c, h, w))]
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        cin = c
        for i, cout in enumerate(channels):
            stride = 1 if i == 0 else 2
            layers += [nn.Conv2d(cin, cout, 3, stride=stride, padding=1), nn.ReLU()]
            cin = cout
            if stride == 2:
                h, w = (h + 1) // 2, (w + 1) // 2
        layers += [nn.Flatten(), nn.Linear(cin * h * w, hidden), nn.ReLU(), nn.Linear(hidden, n_classes)]
    return nn.Sequential(*layers)


def flat_layers(model: Any, prefix: str = "") -> list[tuple[str, Any]]:
    """The leaf layers of a (nested) ``Sequential`` with their dotted names; unsupported ones raise."""
    torch = require_torch()
    if isinstance(model, torch.nn.Sequential):
        out: list[tuple[str, Any]] = []
        for name, child in model.named_children():
            out += flat_layers(child, f"{prefix}{name}.")
        return out
    name = prefix.rstrip(".") or type(model).__name__
    kind = type(model).__name__
    if kind not in SUPPORTED_LAYERS or type(model).__module__.split(".")[0] != "torch":
        raise ParseError(
            f"layer {name!r} is a {kind}; sosrelax.train supports {', '.join(SUPPORTED_LAYERS)} "
            "in a torch.nn.Sequential"
        )
    return [(name, model)]


def input_size(model: Any) -> int:
    """Number of (flattened) inputs of the model: of its first ``Linear``, or its ``Unflatten`` shape."""
    for _, layer in flat_layers(model):
        kind = type(layer).__name__
        if kind == "Unflatten":
            n = 1
            for v in layer.unflattened_size:
                n *= int(v)
            return n
        if kind == "Linear":
            return int(layer.in_features)
        if kind == "Conv2d":
            raise InvalidValueError(
                "the model starts with a Conv2d: put nn.Unflatten(1, (C, H, W)) in front of it so that it "
                "takes flattened inputs"
            )
    raise InvalidValueError("the model has no Linear or Unflatten layer to read its input size from")


def _apply(layer: Any, x: Any, bias: bool) -> Any:
    F = require_torch().nn.functional
    kind = type(layer).__name__
    if kind == "Linear":
        return F.linear(x, layer.weight, layer.bias if bias else None)
    if kind == "Conv2d":
        return F.conv2d(x, layer.weight, layer.bias if bias else None, layer.stride, layer.padding,
                        layer.dilation, layer.groups)
    return layer(x)  # Flatten, Unflatten, Identity: linear maps without constants


def affine_layers(model: Any, n_inputs: int | None = None) -> tuple[list[Any], list[Any]]:
    """The model as dense affine maps between ReLUs: lists ``W`` (``(n_out, n_in)``) and ``b``.

    ``W[m] = f_m(I)`` and ``b[m] = f_m(0)`` for the composition ``f_m`` of the layers between two
    ReLUs, with the constants switched off for ``W``; differentiable in the parameters.  Raises
    :class:`~sosrelax.errors.ParseError` for an unsupported layer, a model that ends with a ReLU or
    has two ReLUs in a row.
    """
    torch = require_torch()
    layers = flat_layers(model)
    n = int(n_inputs) if n_inputs is not None else input_size(model)
    segments: list[list[tuple[str, Any]]] = [[]]
    for name, layer in layers:
        if type(layer).__name__ == "ReLU":
            if not segments[-1]:
                raise ParseError(f"layer {name!r}: a ReLU must follow an affine layer")
            segments.append([])
        else:
            segments[-1].append((name, layer))
    if not segments[-1]:
        raise ParseError("the model ends with a ReLU; its last layer must give the logits")
    p = next(iter(model.parameters()))
    Ws: list[Any] = []
    bs: list[Any] = []
    shape: tuple[int, ...] = (n,)  # shape of one input of the segment (the previous one's output)
    for seg in segments:
        if len(seg) == 1 and type(seg[0][1]).__name__ == "Linear":
            lin = seg[0][1]
            W = lin.weight
            b = lin.bias if lin.bias is not None else torch.zeros(lin.out_features, dtype=p.dtype)
            if len(shape) != 1:
                raise ParseError(f"layer {seg[0][0]!r} is a Linear on a {shape} tensor; flatten it first")
            shape = (int(W.shape[0]),)
        else:
            basis = torch.eye(n, dtype=p.dtype, device=p.device).reshape(n, *shape)
            zero = torch.zeros(1, *shape, dtype=p.dtype, device=p.device)
            for name, layer in seg:
                try:
                    basis = _apply(layer, basis, False)
                    zero = _apply(layer, zero, True)
                except RuntimeError as e:
                    raise ParseError(f"layer {name!r} does not accept its input of shape {shape}: {e}") from e
            shape = tuple(int(v) for v in zero.shape[1:])
            W = basis.reshape(n, -1).T
            b = zero.reshape(-1)
        if W.shape[1] != n:
            raise ParseError(f"layer {seg[0][0]!r} takes {W.shape[1]} inputs but receives {n}")
        Ws.append(W)
        bs.append(b)
        n = W.shape[0]
    return Ws, bs

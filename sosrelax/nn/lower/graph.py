"""Lower a whole ONNX graph (any directed acyclic graph of supported operators, several inputs and
outputs, float16/float32/float64) into one :class:`~sosrelax.nn.ir.Network`.

The network's input is the concatenation of the graph's data inputs (in the graph's order, each
flattened row-major), its output the concatenation of the graph's outputs.  It computes the graph
in exact real arithmetic: for a float16 or float64 model the weights are taken at their exact
values and the arithmetic is real, not the model's floating-point execution.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar, cast

import numpy as np

from sosrelax.errors import ParseError
from sosrelax.nn.ir import Network
from sosrelax.nn.lower.builder import Builder, Expr
from sosrelax.nn.lower.ops import OPERATORS, Call, Value, lower_node, movement_index
from sosrelax.nn.lower.poly import Head, PolyTensor, concatenate, lower_poly_node, starts_polynomial

__all__ = ["FLOAT_TYPES", "Lowered", "lower_model"]

_T = TypeVar("_T")

#: Element types (``onnx.TensorProto`` codes) of data tensors: FLOAT, FLOAT16, DOUBLE.
FLOAT_TYPES = {1: "float32", 10: "float16", 11: "float64"}


@dataclass(frozen=True)
class Lowered:
    """A lowered graph: the network and the names and shapes of its inputs and outputs, in the order
    in which they are concatenated."""

    network: Network
    inputs: tuple[tuple[str, tuple[int, ...]], ...]
    outputs: tuple[tuple[str, tuple[int, ...]], ...]
    elem_type: str
    #: For a model with a polynomial head (:mod:`sosrelax.nn.lower.poly`): the model's outputs as
    #: polynomials of the network's outputs, and the first node of the head; else None and "".
    polynomial: PolyTensor | None = None
    head_node: str = ""


def _type_name(code: int) -> str:
    try:
        from onnx import TensorProto

        return str(TensorProto.DataType.Name(code)).lower()
    except Exception:  # an unknown code
        return f"type code {code}"


def _check_float(code: int, what: str) -> None:
    if code not in FLOAT_TYPES:
        raise ParseError(f"{what} has element type {_type_name(code)}; supported: float16, float32 or "
                         "float64 (integer and boolean tensors only as constants)")


def _shape(vi: Any) -> tuple[int, ...]:
    dims = [d.dim_value if d.dim_value > 0 else 1 for d in vi.type.tensor_type.shape.dim]
    return tuple(int(d) for d in dims)


def _needed(g: Any) -> set[str]:
    """Names of the tensors the graph's outputs depend on."""
    need = {o.name for o in g.output}
    for node in reversed(list(g.node)):
        if any(o in need for o in node.output):
            need.update(i for i in node.input if i)
    return need


def lower_model(model: Any, p: Path, consts: dict[str, np.ndarray]) -> Lowered:
    """Lower the checked model ``model`` read from ``p`` (``consts``: its initializers, floats as
    float64) into a network; a :class:`~sosrelax.errors.ParseError` names the node and operator of
    anything that cannot be lowered exactly."""
    from onnx import helper

    g = model.graph
    opset = max([int(o.version) for o in model.opset_import if o.domain in ("", "ai.onnx")] or [13])
    data_inputs = [i for i in g.input if i.name not in consts]
    if not data_inputs:
        raise ParseError(f"{p}: the model has no data input")
    for vi in data_inputs:
        _check_float(int(vi.type.tensor_type.elem_type), f"{p.name}: input {vi.name!r}")
    for vi in g.output:
        _check_float(int(vi.type.tensor_type.elem_type), f"{p.name}: output {vi.name!r}")
    shapes = [_shape(vi) for vi in data_inputs]
    b = Builder(sum(int(np.prod(s)) for s in shapes))
    env: dict[str, Value | PolyTensor] = dict(consts)
    off = 0
    for vi, s in zip(data_inputs, shapes, strict=True):
        env[vi.name] = b.input(off, s)
        off += int(np.prod(s))
    need = _needed(g)
    head = Head()
    head_node = ""
    for idx, node in enumerate(g.node):
        if not any(o in need for o in node.output):
            continue
        where = f"{p.name}: node {idx} ({node.name or 'unnamed'}, operator {node.op_type})"
        if node.domain not in ("", "ai.onnx"):
            raise ParseError(f"{where}: operator of domain {node.domain!r} is not supported (only the "
                             "default ONNX domain)")
        missing = [i for i in node.input if i and i not in env]
        if missing:
            raise ParseError(f"{where}: operand {missing[0]!r} is neither a constant, an input nor "
                             "computed by an earlier node")
        try:
            attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        except Exception as e:  # a malformed attribute: onnx raises assorted types
            raise ParseError(f"{where}: unreadable attributes ({e})") from e
        call = Call(node.op_type, where, attrs, list(node.input),
                    cast(list[Value | None], [env[i] if i else None for i in node.input]), list(node.output),
                    opset, node)
        outs: list[Value] | list[PolyTensor]
        if starts_polynomial(call.op, call.values):
            head_node = head_node or where
            outs = lower_poly_node(head, call.op, where, list(call.values), _bound(movement_index, call), attrs)
        else:
            outs = lower_node(b, call)
        for name, out in zip(node.output, outs, strict=False):
            if name:
                env[name] = out
    vals: list[Expr | PolyTensor] = []
    for vi in g.output:
        v: Value | PolyTensor | None = env.get(vi.name)
        if v is None:
            raise ParseError(f"{p}: the output {vi.name!r} is not computed by any node")
        if isinstance(v, np.ndarray):
            arr = np.asarray(v, dtype=np.float64)
            v = Expr(0, np.zeros((arr.size, b.widths[0])), arr.reshape(-1).copy(), tuple(arr.shape))
        vals.append(v)
    shapes_out = [v.shape for v in vals]
    poly: PolyTensor | None = None
    outs_e = [v for v in vals if isinstance(v, Expr)]
    if len(outs_e) < len(vals):  # the network computes the head's variables, the outputs are polynomials
        poly = concatenate([head.of(v) for v in vals])
        outs_e = list(head.exprs)
    in_shape = shapes[0] if len(shapes) == 1 else (off,)
    net, _ = b.finish(outs_e, input_shape=in_shape or (1,), name=p.stem)
    names = _tensor_names(b, env, g)
    elem = FLOAT_TYPES[int(data_inputs[0].type.tensor_type.elem_type)]
    from dataclasses import replace

    net = replace(net, tensor_names=names)
    return Lowered(net, tuple((vi.name, s) for vi, s in zip(data_inputs, shapes, strict=True)),
                   tuple((vi.name, tuple(int(s) for s in sh)) for vi, sh in zip(g.output, shapes_out, strict=True)),
                   elem, poly, head_node)


def _bound(f: Callable[[Call], _T], call: Call) -> Callable[[], _T]:
    return lambda: f(call)


def _tensor_names(b: Builder, env: dict[str, Value | PolyTensor], g: Any) -> tuple[tuple[str, str, int], ...]:
    """``(name, "pre" | "post", layer)`` for every tensor that is a whole hidden layer's pre-activation
    or its ReLU (for VNN-LIB hidden-node declarations); node names stand for their first output."""
    found: dict[str, tuple[str, int]] = {}
    layers = [b.layer(k) for k in range(b.depth)]
    for name, v in env.items():
        if not isinstance(v, Expr):  # constants and polynomial tensors
            continue
        d = v.depth
        if d >= 1 and v.size == b.widths[d] and not v.c.any():
            if np.array_equal(b.full(v), np.eye(v.size)):
                found[name] = ("post", d - 1)
                continue
        if d < b.depth and v.size == b.widths[d + 1]:
            w, bias = layers[d]
            if np.array_equal(b.full(v), w) and np.array_equal(v.c, bias):
                found[name] = ("pre", d)
    for node in g.node:
        if node.name and node.output and node.output[0] in found:
            found.setdefault(node.name, found[node.output[0]])
    return tuple((n, st, k) for n, (st, k) in sorted(found.items()))


SUPPORTED = tuple(sorted(OPERATORS))

"""One rule per ONNX operator: how its outputs are built from its operands' :class:`Expr` tensors.

A rule takes the :class:`~sosrelax.nn.lower.builder.Builder` and a :class:`Call` (the node, its
operands: an :class:`Expr` for data, a numpy array for constants) and returns the node's outputs.
Operators fall in four groups (:data:`OPERATORS`):

* data movement (``Reshape``, ``Slice``, ``Gather``, ``Concat``, ``Pad``, …): evaluated by the ONNX
  reference implementation on *index tensors* (entry ``i`` of the data holds ``i + 1``, constants
  hold 0), which gives the source of every output entry exactly, whatever the attributes;
* affine arithmetic (``Conv``, ``Gemm``, ``MatMul``, ``AveragePool``, ``ReduceSum``, ``Add`` …):
  batch functions or sparse matrices applied to the coefficients;
* piecewise linear (``Relu``, ``MaxPool``, ``Max``, ``Abs``, ``Clip``, ``LeakyRelu`` …): exact ReLU
  units (:mod:`sosrelax.nn.lower.builder`);
* shape arithmetic on constants (``Shape``, ``ConstantOfShape``, ``Range`` …): folded by the
  reference implementation.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from sosrelax.errors import ParseError
from sosrelax.nn.lower.builder import Builder, Expr
from sosrelax.nn.lower.linear import gemm_fn, lift_rank, matmul_fn, pool_geometry, window_index

__all__ = ["MOVEMENT", "NOT_PIECEWISE_LINEAR", "OPERATORS", "Call", "Value", "fold", "lower_node", "movement_index"]

Value = Expr | np.ndarray

#: Operators that only move, copy or drop entries (and may fill constants).
MOVEMENT = ("Concat", "DepthToSpace", "Dropout", "Expand", "Flatten", "Gather", "Identity", "Pad",
            "Reshape", "Slice", "SpaceToDepth", "Split", "Squeeze", "Tile", "Transpose", "Unsqueeze")

#: Operators that are not continuous piecewise-linear functions of the data: refused with this reason.
NOT_PIECEWISE_LINEAR = ("Cos", "Elu", "Equal", "Erf", "Exp", "Gelu", "Greater", "HardSwish", "Less", "Log",
                        "LogSoftmax", "Mish", "Pow", "Reciprocal", "Selu", "Sigmoid", "Sign", "Sin",
                        "Softmax", "Softplus", "Softsign", "Sqrt", "Tanh", "Where")


@dataclass
class Call:
    """One node being lowered: operator, ``where`` (file, node, operator for messages), attributes,
    operand names and values (``None`` for an omitted optional operand), output names, opset."""

    op: str
    where: str
    attrs: dict[str, Any]
    names: list[str]
    values: list[Value | None]
    outputs: list[str]
    opset: int
    node: Any

    def data(self) -> list[Expr]:
        return [v for v in self.values if isinstance(v, Expr)]

    def const(self, i: int, default: Any = None) -> Any:
        v = self.values[i] if i < len(self.values) else None
        if v is None:
            return default
        if isinstance(v, Expr):
            raise ParseError(f"{self.where}: operand {i} ({self.names[i]!r}) must be a constant, not "
                             "computed from the input")
        return v


def _reference(call: Call, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
    from onnx.reference import ReferenceEvaluator

    try:
        ev = ReferenceEvaluator(call.node, opsets={"": call.opset})
        return [np.asarray(v) for v in ev.run(None, feeds)]
    except ParseError:  # pragma: no cover - defensive
        raise
    except Exception as e:  # the reference implementation raises assorted types
        raise ParseError(f"{call.where}: cannot evaluate the operator ({type(e).__name__}: {e})") from e


def fold(call: Call) -> list[np.ndarray]:
    """The outputs of a node whose operands are all constants (floats computed in float64)."""
    feeds = {n: v for n, v in zip(call.names, call.values, strict=True) if n and isinstance(v, np.ndarray)}
    outs = _reference(call, feeds)
    return [o.astype(np.float64) if o.dtype.kind == "f" else o for o in outs]


def movement_index(call: Call) -> tuple[list[int], list[tuple[np.ndarray, np.ndarray]]]:
    """A data-movement node evaluated on index tensors: the positions of its data operands (anything
    not a numpy constant; each name once, numbered in this order from 1) and, per output, the index
    tensor (0: a constant) and the constants (the node evaluated with the data set to zero)."""
    idx_feeds: dict[str, np.ndarray] = {}
    bias_feeds: dict[str, np.ndarray] = {}
    positions: list[int] = []
    offset = 0
    for k, (name, v) in enumerate(zip(call.names, call.values, strict=True)):
        if not name or name in idx_feeds or v is None:
            continue
        if isinstance(v, np.ndarray):
            idx_feeds[name] = np.zeros(v.shape) if v.dtype.kind == "f" else v
            bias_feeds[name] = v
        else:
            size, shape = int(v.size), tuple(v.shape)
            idx_feeds[name] = (offset + 1 + np.arange(size, dtype=np.float64)).reshape(shape)
            bias_feeds[name] = np.zeros(shape)
            positions.append(k)
            offset += size
    idx_out = _reference(call, idx_feeds)
    bias_out = _reference(call, bias_feeds)
    return positions, [(np.rint(io).astype(np.int64) if io.dtype.kind == "f" else io, bo)
                       for io, bo in zip(idx_out, bias_out, strict=True)]


def _movement(b: Builder, call: Call) -> list[Value]:
    positions, results = movement_index(call)
    data = [v for v in (call.values[k] for k in positions) if isinstance(v, Expr)]
    outs: list[Value] = []
    for index, const in results:
        if index.dtype.kind not in "iu" or const.dtype.kind != "f":  # e.g. Dropout's mask: not data
            outs.append(const)
            continue
        outs.append(b.select(data, index, const.astype(np.float64)))
    return outs


def _broadcast_shape(call: Call) -> tuple[int, ...]:
    shapes = [v.shape for v in call.values if v is not None]
    try:
        return tuple(int(s) for s in np.broadcast_shapes(*shapes))
    except ValueError as e:
        raise ParseError(f"{call.where}: operand shapes {shapes} do not broadcast") from e


def _to_shape(X: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    return np.broadcast_to(lift_rank(X, len(shape)), (X.shape[0], *shape))


def _sum(b: Builder, call: Call) -> list[Value]:
    """Add, Sub, Sum, Mean of data tensors and constants, with multidirectional broadcasting."""
    out = _broadcast_shape(call)
    n = len(call.values)
    signs = [1.0, -1.0] if call.op == "Sub" else [1.0] * n
    scale = 1.0 / n if call.op == "Mean" else 1.0
    data = [(s, v) for s, v in zip(signs, call.values, strict=True) if isinstance(v, Expr)]
    const = sum((s * _to_shape(np.asarray(v, dtype=np.float64)[None], out)[0]
                 for s, v in zip(signs, call.values, strict=True) if isinstance(v, np.ndarray)),
                np.zeros(out))

    def fn(Xs: list[np.ndarray], bias: bool) -> np.ndarray:
        y = np.zeros((Xs[0].shape[0], *out))
        for (s, _), X in zip(data, Xs, strict=True):
            y = y + s * _to_shape(X, out)
        return scale * (y + const if bias else y)

    return [b.combine([v for _, v in data], fn)]


def _scale(b: Builder, call: Call) -> list[Value]:
    """Mul and Div with exactly one data operand (Div: the data is the dividend)."""
    data = call.data()
    if len(data) > 1 or (call.op == "Div" and not isinstance(call.values[0], Expr)):
        raise ParseError(
            f"{call.where}: {call.op} of {'two data tensors' if len(data) > 1 else 'a constant by a data tensor'}"
            " is not piecewise linear (a polynomial of the data, beyond the affine/ReLU networks that the "
            "search and the rungs decide); supported: Mul and Div by constants")
    k = 0 if isinstance(call.values[0], Expr) else 1  # the data operand
    c = np.asarray(call.values[1 - k], dtype=np.float64)
    if call.op == "Div":
        if np.any(c == 0):
            raise ParseError(f"{call.where}: division by zero")
        c = 1.0 / c
    out = _broadcast_shape(call)
    return [b.apply(data[0], lambda X, bias: _to_shape(lift_rank(X, c.ndim) * c, out))]


def _matmul(b: Builder, call: Call) -> list[Value]:
    data = call.data()
    if len(data) != 1:
        raise ParseError(f"{call.where}: MatMul of two data tensors is not piecewise linear; supported: "
                         "MatMul with one constant operand")
    first = isinstance(call.values[0], Expr)
    c = np.asarray(call.values[1 if first else 0], dtype=np.float64)
    if c.ndim == 0 or not data[0].shape:
        raise ParseError(f"{call.where}: MatMul of a scalar is not defined")
    return [_checked(call, lambda: b.apply(data[0], matmul_fn(c, first, len(data[0].shape))))]


def _checked(call: Call, f: Callable[[], Expr]) -> Expr:
    try:
        return f()
    except (ValueError, IndexError, TypeError) as e:
        raise ParseError(f"{call.where}: shapes do not fit ({e})") from e


def _gemm(b: Builder, call: Call) -> list[Value]:
    data = call.data()
    if len(data) != 1:
        raise ParseError(f"{call.where}: Gemm of several data tensors is not piecewise linear")
    names = [n if isinstance(v, np.ndarray) or n == "" else "__data__"
             for n, v in zip(call.names, call.values, strict=True)]
    consts = {n: v for n, v in zip(names, call.values, strict=True) if isinstance(v, np.ndarray)}
    fn = gemm_fn(names, "__data__", consts, call.attrs, len(data[0].shape), call.where)
    return [_checked(call, lambda: b.apply(data[0], fn))]


def _batchnorm(b: Builder, call: Call) -> list[Value]:
    x = call.values[0]
    if not isinstance(x, Expr) or len(call.values) < 5:
        raise ParseError(f"{call.where}: expected BatchNormalization(X, scale, B, mean, var) with data X")
    scale, bb, mean, var = (np.asarray(call.const(i), dtype=np.float64) for i in range(1, 5))
    s = scale / np.sqrt(var + float(call.attrs.get("epsilon", 1e-5)))
    t = bb - mean * s
    extra = (1,) * (len(x.shape) - 2)
    s_, t_ = s.reshape(-1, *extra), t.reshape(-1, *extra)
    return [b.apply(x, lambda X, bias: X * s_ + t_ if bias else X * s_)]


def _spatial(call: Call, x: Expr) -> tuple[int, int, tuple[int, ...]]:
    if len(x.shape) < 3:
        raise ParseError(f"{call.where}: expected an input (N, C, spatial...), got shape {x.shape}")
    return x.shape[0], x.shape[1], x.shape[2:]


def _sparse_apply(b: Builder, x: Expr, rows: np.ndarray, cols: np.ndarray, vals: np.ndarray,
                  n_out: int, bias: np.ndarray, shape: tuple[int, ...]) -> Expr:
    """``y = M x_sample + bias`` for the sparse ``M`` (one sample ``N = 1`` block; ``N`` copies)."""
    import scipy.sparse as sp

    n = x.shape[0]
    n_in = x.size // n
    m = sp.csr_matrix((vals, (rows, cols)), shape=(n_out, n_in))
    if n > 1:
        m = sp.kron(sp.identity(n, format="csr"), m, format="csr")
        bias = np.tile(bias, n)

    def fn(X: np.ndarray, with_bias: bool) -> np.ndarray:
        y = np.asarray((m @ X.reshape(X.shape[0], -1).T).T)
        return (y + bias if with_bias else y).reshape(X.shape[0], *shape)

    return b.apply(x, fn)


def _conv(b: Builder, call: Call) -> list[Value]:
    x = call.values[0]
    if not isinstance(x, Expr):
        raise ParseError(f"{call.where}: only Conv(X, W[, B]) with the data as X is supported")
    w = np.asarray(call.const(1), dtype=np.float64)
    n, c, sp_in = _spatial(call, x)
    groups = int(call.attrs.get("group", 1))
    co, cig = w.shape[0], w.shape[1]
    kernel = [int(k) for k in w.shape[2:]]
    if cig * groups != c or co % groups or len(kernel) != len(sp_in):
        raise ParseError(f"{call.where}: weight of shape {w.shape} with group={groups} does not fit an "
                         f"input of shape {x.shape}")
    strides, dil, begin, _, out = pool_geometry(call.attrs, sp_in, kernel, call.where)
    widx = window_index(sp_in, kernel, strides, dil, begin, out)  # (O, K)
    o_n, k_n, s_n = widx.shape[0], widx.shape[1], int(np.prod(sp_in))
    oc = np.arange(co)[:, None, None, None]
    icl = np.arange(cig)[None, :, None, None]
    oo = np.arange(o_n)[None, None, :, None]
    wi = widx[None, None, :, :]
    ic = (oc // (co // groups)) * cig + icl
    vals = np.broadcast_to(w.reshape(co, cig, 1, k_n), (co, cig, o_n, k_n))
    full = np.broadcast_to(wi >= 0, vals.shape)
    rows = np.broadcast_to(oc * o_n + oo, vals.shape)[full]
    cols = np.broadcast_to(ic * s_n + wi, vals.shape)[full]
    bias_v = call.const(2)
    bias = (np.repeat(np.asarray(bias_v, dtype=np.float64), o_n) if bias_v is not None
            else np.zeros(co * o_n))
    return [_sparse_apply(b, x, rows, cols, vals[full], co * o_n, bias, (n, co, *out))]


def _pool_windows(call: Call, x: Expr) -> tuple[np.ndarray, list[int], np.ndarray]:
    """``(window index, output size, divisor of AveragePool)`` of a pooling node."""
    _, _, sp_in = _spatial(call, x)
    kernel = [int(k) for k in call.attrs["kernel_shape"]]
    strides, dil, begin, end, out = pool_geometry(call.attrs, sp_in, kernel, call.where,
                                                  ceil_mode=bool(call.attrs.get("ceil_mode", 0)))
    widx = window_index(sp_in, kernel, strides, dil, begin, out)
    if bool(call.attrs.get("count_include_pad", 0)):  # padded positions count, beyond the pads not
        big = [s + b_ + e for s, b_, e in zip(sp_in, begin, end, strict=True)]
        inner = window_index(big, kernel, strides, dil, [0] * len(big), out)
        div = (inner >= 0).sum(axis=1).astype(np.float64)
    else:
        div = (widx >= 0).sum(axis=1).astype(np.float64)
    return widx, out, div


def _avgpool(b: Builder, call: Call) -> list[Value]:
    x = call.values[0]
    assert isinstance(x, Expr)
    n, c, sp_in = _spatial(call, x)
    widx, out, div = _pool_windows(call, x)
    o_n, s_n = widx.shape[0], int(np.prod(sp_in))
    ch = np.arange(c)[:, None, None]
    oo = np.arange(o_n)[None, :, None]
    shape3 = (c, o_n, widx.shape[1])
    keep = np.broadcast_to(widx[None] >= 0, shape3)
    rows = np.broadcast_to(ch * o_n + oo, shape3)[keep]
    cols = np.broadcast_to(ch * s_n + widx[None], shape3)[keep]
    vals = np.broadcast_to(1.0 / div[None, :, None], shape3)[keep]
    return [_sparse_apply(b, x, rows, cols, vals, c * o_n, np.zeros(c * o_n), (n, c, *out))]


def _maxpool(b: Builder, call: Call) -> list[Value]:
    x = call.values[0]
    assert isinstance(x, Expr)
    if len(call.outputs) > 1 and call.outputs[1]:
        raise ParseError(f"{call.where}: the Indices output of MaxPool is not supported")
    n, c, sp_in = _spatial(call, x)
    widx, out, _ = _pool_windows(call, x)
    base = np.arange(n * c)[:, None, None] * int(np.prod(sp_in))
    groups = np.where(widx[None] >= 0, base + widx[None], -1).reshape(-1, widx.shape[1])
    return [b.maximum(x, groups, (n, c, *out))]


def _global(b: Builder, call: Call) -> list[Value]:
    x = call.values[0]
    assert isinstance(x, Expr)
    n, c, sp_in = _spatial(call, x)
    axes = tuple(range(3, 3 + len(sp_in)))
    if call.op == "GlobalAveragePool":
        return [b.apply(x, lambda X, bias: X.mean(axis=axes, keepdims=True))]
    s = int(np.prod(sp_in))
    groups = np.arange(n * c * s).reshape(n * c, s)
    return [b.maximum(x, groups, (n, c, *(1,) * len(sp_in)))]


def _reduce(b: Builder, call: Call) -> list[Value]:
    x = call.values[0]
    assert isinstance(x, Expr)
    rank = len(x.shape)
    axes_v = call.attrs.get("axes")
    if axes_v is None and len(call.values) > 1 and call.values[1] is not None:
        axes_v = call.const(1)
    axes_l = [int(a) for a in np.asarray(axes_v if axes_v is not None else [], dtype=np.int64).reshape(-1)]
    if not axes_l:
        if bool(call.attrs.get("noop_with_empty_axes", 0)):
            return [x]
        axes_l = list(range(rank))
    axes = sorted({a + rank if a < 0 else a for a in axes_l})
    keep = bool(call.attrs.get("keepdims", 1))
    out = tuple(1 if i in axes else s for i, s in enumerate(x.shape) if keep or i not in axes)
    if call.op in ("ReduceSum", "ReduceMean"):
        ax = tuple(a + 1 for a in axes)
        f = np.sum if call.op == "ReduceSum" else np.mean
        return [b.apply(x, lambda X, bias: f(X, axis=ax, keepdims=keep))]
    idx = np.moveaxis(np.arange(x.size).reshape(x.shape), axes, list(range(rank - len(axes), rank)))
    groups = idx.reshape(-1, int(np.prod([x.shape[a] for a in axes])))
    if call.op == "ReduceMax":
        return [b.maximum(x, groups, out)]
    neg = b.apply(x, lambda X, bias: -X)
    m = b.maximum(neg, groups, out)
    return [b.apply(m, lambda X, bias: -X)]


def _as_expr(b: Builder, v: Value) -> Expr:
    if isinstance(v, Expr):
        return v
    arr = np.asarray(v, dtype=np.float64)
    return Expr(0, np.zeros((arr.size, b.widths[0])), arr.reshape(-1).copy(), tuple(arr.shape))


def _minmax(b: Builder, call: Call) -> list[Value]:
    out = _broadcast_shape(call)
    sign = 1.0 if call.op == "Max" else -1.0
    es = [b.apply(_as_expr(b, v), lambda X, bias: sign * _to_shape(X, out))
          for v in call.values if v is not None]
    if len(es) == 1:
        return [b.apply(es[0], lambda X, bias: sign * X)]
    n = int(np.prod(out))
    stacked = b.select(es, np.arange(1, n * len(es) + 1), np.zeros(n * len(es)))
    groups = np.arange(len(es))[None, :] * n + np.arange(n)[:, None]
    m = b.maximum(stacked, groups, out)
    return [b.apply(m, lambda X, bias: sign * X)]


def _clip(b: Builder, call: Call) -> list[Value]:
    x = call.values[0]
    assert isinstance(x, Expr)
    lo = call.attrs.get("min", call.const(1))
    hi = call.attrs.get("max", call.const(2))
    lo_f = None if lo is None else float(np.asarray(lo).reshape(-1)[0])
    hi_f = None if hi is None else float(np.asarray(hi).reshape(-1)[0])
    if lo_f is None and hi_f is None:
        return [x]
    if lo_f is not None and hi_f is not None:
        if lo_f > hi_f:
            raise ParseError(f"{call.where}: Clip with min {lo_f} above max {hi_f} is not supported")
        return [b.units(x, [(1.0, -lo_f, 1.0), (1.0, -hi_f, -1.0)], lo_f)]
    if lo_f is not None:
        return [b.units(x, [(1.0, -lo_f, 1.0)], lo_f)]
    assert hi_f is not None
    return [b.units(x, [(-1.0, hi_f, -1.0)], hi_f)]


def _activation(b: Builder, call: Call) -> list[Value]:
    x = call.values[0]
    assert isinstance(x, Expr)
    if call.op == "Relu":
        return [b.relu(x)]
    if call.op == "Abs":
        return [b.units(x, [(1.0, 0.0, 1.0), (-1.0, 0.0, 1.0)])]
    if call.op == "LeakyRelu":
        alpha = float(call.attrs.get("alpha", 0.01))
        return [b.units(x, [(1.0, 0.0, 1.0), (-1.0, 0.0, -alpha)])]
    if call.op == "PRelu":
        slope = np.broadcast_to(lift_rank(np.asarray(call.const(1), dtype=np.float64)[None], len(x.shape))[0],
                                x.shape)
        return [b.units(x, [(1.0, 0.0, 1.0), (-1.0, 0.0, -slope.reshape(-1))])]
    if call.op == "HardSigmoid":  # max(0, min(1, alpha x + beta))
        alpha, beta = float(call.attrs.get("alpha", 0.2)), float(call.attrs.get("beta", 0.5))
        y = b.apply(x, lambda X, bias: alpha * X + (beta if bias else 0.0))
        return [b.units(y, [(1.0, 0.0, 1.0), (1.0, -1.0, -1.0)])]
    return [b.apply(x, lambda X, bias: -X)]  # Neg


def _cast(b: Builder, call: Call) -> list[Value]:
    to = int(call.attrs.get("to", 1))
    if to not in (1, 10, 11, 16):
        raise ParseError(f"{call.where}: Cast of the data to a non-float type (code {to}) is not piecewise "
                         "linear; supported: casts between float16, float32, float64 and bfloat16 "
                         "(real arithmetic: identity)")
    x = call.values[0]
    return [x] if isinstance(x, Expr) else list(fold(call))


def _shape_of(b: Builder, call: Call) -> list[Value]:
    feeds = {n: (np.zeros(v.shape) if isinstance(v, Expr) else v)
             for n, v in zip(call.names, call.values, strict=True) if n and v is not None}
    return list(_reference(call, feeds))


_Rule = Callable[[Builder, Call], list[Value]]

#: Operator -> rule; the supported operators of the default ONNX domain.
OPERATORS: dict[str, _Rule] = {
    **{op: _movement for op in MOVEMENT},
    "Add": _sum, "Sub": _sum, "Sum": _sum, "Mean": _sum,
    "Mul": _scale, "Div": _scale, "Neg": _activation,
    "MatMul": _matmul, "Gemm": _gemm, "BatchNormalization": _batchnorm,
    "Conv": _conv, "AveragePool": _avgpool, "MaxPool": _maxpool,
    "GlobalAveragePool": _global, "GlobalMaxPool": _global,
    "ReduceSum": _reduce, "ReduceMean": _reduce, "ReduceMax": _reduce, "ReduceMin": _reduce,
    "Max": _minmax, "Min": _minmax, "Clip": _clip,
    "Relu": _activation, "Abs": _activation, "LeakyRelu": _activation, "PRelu": _activation,
    "HardSigmoid": _activation,
    "Cast": _cast, "Shape": _shape_of, "Size": _shape_of,
    "Constant": lambda b, call: list(fold(call)),
    "ConstantOfShape": lambda b, call: list(fold(call)),
    "Range": lambda b, call: list(fold(call)),
}


def lower_node(b: Builder, call: Call) -> list[Value]:
    """The outputs of one node (constants folded; data lowered by the operator's rule)."""
    if call.op in ("Sigmoid", "Tanh") and call.data():
        raise ParseError(
            f"{call.where}: {call.op} is taken only in a model that is one chain of affine operators and "
            "activations from its single input to its single output (the chain reader of "
            "sosrelax.nn.onnx_loader, which makes it a hidden layer with that activation); this graph "
            "is lowered exactly to affine maps and ReLUs, where an S-shaped activation has no exact form")
    if call.op in ("Equal", "Greater", "GreaterOrEqual", "Less", "LessOrEqual", "Not", "Sign", "Where") and call.data():
        raise ParseError(
            f"{call.where}: {call.op} of data is taken only in a model that is one chain of affine operators and "
            "activations (the chain reader of sosrelax.nn.onnx_loader writes it with step activations, "
            "sosrelax.nn.lower.steps); this graph is lowered exactly to affine maps and ReLUs, where a "
            "discontinuous operator has no exact form")
    if call.op == "Softmax" and call.data():
        raise ParseError(
            f"{call.where}: Softmax is taken only as the last operator of a model that is one chain of affine "
            "operators and activations, normalising every entry of its output (the chain reader of "
            "sosrelax.nn.onnx_loader); this graph is lowered exactly to affine maps and ReLUs")
    if call.op in NOT_PIECEWISE_LINEAR and call.data():
        raise ParseError(
            f"{call.where}: {call.op} is not a piecewise-linear operator; networks are lowered exactly to "
            "affine maps and ReLUs, which the search and the rungs decide (supported: "
            f"{', '.join(sorted(OPERATORS))})")
    rule = OPERATORS.get(call.op)
    if not call.data() and call.op not in ("Shape", "Size"):
        return list(fold(call))
    if rule is None:
        raise ParseError(f"{call.where}: unsupported operator {call.op!r}; supported: {', '.join(sorted(OPERATORS))}")
    return rule(b, call)

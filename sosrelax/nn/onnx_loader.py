"""Load ONNX ReLU networks into the IR, cross-checked by onnxruntime.

Supported operators: ``Gemm``, ``MatMul``, ``Add``, ``Sub``, ``Mul`` and ``Div`` by constants, ``Relu``,
``Flatten``, ``Reshape``, ``Transpose``, ``Identity``, ``Dropout`` (inference: identity), ``Constant``,
``BatchNormalization`` (folded into the affine map), ``Conv`` and ``AveragePool`` (2-D, unrolled to
affine maps; meant for small inputs).  Old-style files that list initialisers among
``graph.input`` are read too.  Anything else raises :class:`~sosrelax.errors.ParseError` naming the
node and the operator.

Every affine operator is a numpy function of a batch of tensors.  The affine map between two ReLUs
is obtained by probing that composition with the unit vectors (linear part, biases switched off)
and with zero (bias), so the weights of a single ``Gemm``/``MatMul`` come out exactly.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from sosrelax.errors import BackendNotAvailableError, InvalidValueError, ParseError
from sosrelax.nn.ir import Affine, Network, ReLU, from_operations

__all__ = ["SUPPORTED_OPERATORS", "cross_check", "load_onnx", "onnx_forward", "onnx_tensors"]

SUPPORTED_OPERATORS = (
    "Add", "AveragePool", "BatchNormalization", "Constant", "Conv", "Div", "Dropout", "Flatten",
    "Gemm", "Identity", "MatMul", "Mul", "Relu", "Reshape", "Sub", "Transpose",
)

#: ``f(X, bias)`` maps a batch ``(m, *shape)`` to ``(m, *new_shape)``; ``bias=False`` drops constants.
_AffineFn = Callable[[np.ndarray, bool], np.ndarray]


def _import_onnx() -> Any:
    try:
        import onnx
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise BackendNotAvailableError(
            "reading ONNX models needs the 'onnx' package; install it with pip install onnx"
        ) from e
    return onnx


@dataclass
class _Segment:
    fns: list[_AffineFn]
    in_shape: tuple[int, ...]
    shape: tuple[int, ...]


def _attrs(node: Any) -> dict[str, Any]:
    from onnx import helper

    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


def load_onnx(path: str | os.PathLike[str], *, check: bool = True, rng_seed: int = 0) -> Network:
    """Read an ONNX file into a :class:`~sosrelax.nn.ir.Network`.

    Parameters
    ----------
    path : path
        The ``.onnx`` file (one data input, one output).
    check : bool
        Cross-check the IR's forward pass against onnxruntime on random inputs (default); a
        mismatch above ``1e-4`` (relative to the output size) raises
        :class:`~sosrelax.errors.InvalidValueError`.  Skipped when onnxruntime is absent.
    rng_seed : int
        Seed of the cross-check's random inputs.

    Raises
    ------
    ParseError
        Unreadable file, unsupported operator (naming the node and operator), non-constant
        operands where a constant is needed.
    """
    onnx = _import_onnx()
    from onnx import numpy_helper

    p = Path(path)
    if not p.is_file():
        raise ParseError(f"{p}: no such ONNX file")
    try:
        model = onnx.load(str(p))
    except Exception as e:  # the protobuf errors are not a stable type
        raise ParseError(f"{p}: not a readable ONNX model ({e})") from e
    g = model.graph
    consts: dict[str, np.ndarray] = {
        t.name: numpy_helper.to_array(t).astype(np.float64) if numpy_helper.to_array(t).dtype.kind == "f"
        else numpy_helper.to_array(t) for t in g.initializer
    }
    data_inputs = [i for i in g.input if i.name not in consts]
    if len(data_inputs) != 1:
        raise ParseError(
            f"{p}: expected exactly one data input, found {len(data_inputs)} "
            f"({', '.join(i.name for i in data_inputs)})"
        )
    inp = data_inputs[0]
    dims = [d.dim_value if d.dim_value > 0 else 1 for d in inp.type.tensor_type.shape.dim]
    in_shape = tuple(int(d) for d in dims) or (1,)
    if len(g.output) != 1:
        raise ParseError(f"{p}: expected exactly one output, found {len(g.output)}")
    n_in = int(np.prod(in_shape))

    ops: list[Affine | ReLU] = []
    seg = _Segment([], in_shape, in_shape)
    current = inp.name
    # ONNX tensor (and node) names of layer quantities: name -> ("pre" | "post", hidden layer)
    aliases: dict[str, tuple[str, int]] = {}

    def flush() -> None:
        if seg.fns:
            w, b = _probe(seg)
            ops.append(Affine(w, b))
        seg.fns = []
        seg.in_shape = seg.shape

    for idx, node in enumerate(g.node):
        op = node.op_type
        where = f"{p.name}: node {idx} ({node.name or 'unnamed'}, operator {op})"
        a = _attrs(node)
        ins = list(node.input)
        if op == "Constant":
            consts[node.output[0]] = _constant_value(a, where)
            continue
        uses_data = current in ins
        if not uses_data:
            # constant folding for shape arithmetic on constants
            consts[node.output[0]] = _fold(op, [consts[i] for i in ins if i], a, where)
            continue
        if op not in SUPPORTED_OPERATORS:
            raise ParseError(
                f"{where}: unsupported operator {op!r}; supported: {', '.join(SUPPORTED_OPERATORS)}"
            )
        others = [i for i in ins if i and i != current]
        for o in others:
            if o not in consts and not (op == "Reshape" and o in consts):
                raise ParseError(f"{where}: operand {o!r} is not a constant (only constant "
                                 "weights are supported)")
        if op == "Relu":
            flush()
            k = sum(isinstance(o, ReLU) for o in ops)
            if ops and isinstance(ops[-1], ReLU):  # relu(relu(z)) = relu(z): no new layer
                aliases.setdefault(current, ("post", k - 1))
                aliases.setdefault(node.output[0], ("post", k - 1))
            else:
                aliases.setdefault(current, ("pre", k))
                aliases.setdefault(node.output[0], ("post", k))
                ops.append(ReLU(node.name))
        elif op in ("Identity", "Dropout"):
            if current in aliases:
                aliases.setdefault(node.output[0], aliases[current])
        else:
            if op in ("Flatten", "Reshape") and current in aliases:  # same values, same row-major order
                aliases.setdefault(node.output[0], aliases[current])
            fn, new_shape = _affine_op(op, ins, current, consts, a, seg.shape, where)
            seg.fns.append(fn)
            seg.shape = new_shape
        current = node.output[0]
    if g.output[0].name != current:
        raise ParseError(f"{p}: the output {g.output[0].name!r} is not computed from the input by a chain")
    flush()
    net = from_operations(ops, n_in, input_shape=in_shape, name=p.stem)
    for node in g.node:  # a node's name stands for its (first) output
        if node.name and node.output and node.output[0] in aliases:
            aliases.setdefault(node.name, aliases[node.output[0]])
    net = replace(net, tensor_names=tuple((name, st, k) for name, (st, k) in sorted(aliases.items())))
    if check:
        cross_check(net, p, rng=np.random.default_rng(rng_seed))
    return net


def _constant_value(a: dict[str, Any], where: str) -> np.ndarray:
    from onnx import numpy_helper

    if "value" in a:
        v = numpy_helper.to_array(a["value"])
        return v.astype(np.float64) if v.dtype.kind == "f" else v
    for key in ("value_float", "value_int"):
        if key in a:
            return np.array(a[key])
    for key in ("value_floats", "value_ints"):
        if key in a:
            return np.array(list(a[key]))
    raise ParseError(f"{where}: unsupported Constant attribute {sorted(a)}")


def _fold(op: str, vals: list[np.ndarray], a: dict[str, Any], where: str) -> np.ndarray:
    if op in ("Identity", "Dropout"):
        return vals[0]
    if op == "Add":
        return vals[0] + vals[1]
    if op == "Sub":
        return vals[0] - vals[1]
    if op == "Mul":
        return vals[0] * vals[1]
    if op == "Div":
        return vals[0] / vals[1]
    if op == "Reshape":
        return vals[0].reshape(_reshape_target(vals[0].shape, vals[1]))
    if op == "Transpose":
        return np.transpose(vals[0], a.get("perm"))
    raise ParseError(f"{where}: unsupported operator {op!r} on constants")


def _reshape_target(shape: tuple[int, ...], spec: np.ndarray) -> tuple[int, ...]:
    target = [int(v) for v in np.asarray(spec).reshape(-1)]
    out = [shape[i] if v == 0 else v for i, v in enumerate(target)]
    return tuple(out)


def _affine_op(
    op: str, ins: list[str], current: str, consts: dict[str, np.ndarray], a: dict[str, Any],
    shape: tuple[int, ...], where: str,
) -> tuple[_AffineFn, tuple[int, ...]]:
    """The numpy function of one affine operator and its output shape."""
    probe = np.zeros((1, *shape))

    def shaped(fn: _AffineFn) -> tuple[_AffineFn, tuple[int, ...]]:
        try:
            out = fn(probe, True)
        except ValueError as e:
            raise ParseError(f"{where}: shapes do not fit ({e})") from e
        return fn, tuple(out.shape[1:])

    if op in ("Add", "Sub", "Mul", "Div"):
        first = ins[0] == current
        c = consts[ins[1] if first else ins[0]].astype(np.float64)
        if op == "Add":
            return shaped(lambda X, bias: X + c if bias else X)
        if op == "Sub":
            if first:
                return shaped(lambda X, bias: X - c if bias else X)
            return shaped(lambda X, bias: c - X if bias else -X)
        if op == "Mul":
            return shaped(lambda X, bias: X * c)
        if not first:
            raise ParseError(f"{where}: division by the data tensor is not affine")
        return shaped(lambda X, bias: X / c)
    if op == "MatMul":
        if ins[0] != current:
            c = consts[ins[0]].astype(np.float64)
            return shaped(lambda X, bias: np.matmul(c, X))
        c = consts[ins[1]].astype(np.float64)
        return shaped(lambda X, bias: np.matmul(X, c))
    if op == "Gemm":
        alpha = float(a.get("alpha", 1.0))
        beta = float(a.get("beta", 1.0))
        if ins[0] != current or a.get("transA", 0):
            raise ParseError(f"{where}: only Gemm(X, B[, C]) with transA=0 is supported")
        bm = consts[ins[1]].astype(np.float64)
        if a.get("transB", 0):
            bm = bm.T
        cm = consts[ins[2]].astype(np.float64) if len(ins) > 2 and ins[2] else None

        def gemm(X: np.ndarray, bias: bool) -> np.ndarray:
            y = np.matmul(X, bm)
            if alpha != 1.0:
                y = alpha * y
            if bias and cm is not None:
                y = y + (beta * cm if beta != 1.0 else cm)
            return y
        return shaped(gemm)
    if op == "Flatten":
        axis = int(a.get("axis", 1))
        axis = axis + len(shape) if axis < 0 else axis
        lead = int(np.prod(shape[:axis])) if axis else 1
        return shaped(lambda X, bias: X.reshape(X.shape[0], lead, -1))
    if op == "Reshape":
        if ins[1] not in consts:
            raise ParseError(f"{where}: the target shape must be a constant")
        target = _reshape_target(shape, consts[ins[1]])
        return shaped(lambda X, bias: X.reshape(X.shape[0], *target))
    if op == "Transpose":
        perm = a.get("perm") or list(range(len(shape)))[::-1]
        full = [0, *(int(q) + 1 for q in perm)]
        return shaped(lambda X, bias: np.transpose(X, full))
    if op == "BatchNormalization":
        scale, bb, mean, var = (consts[i].astype(np.float64) for i in ins[1:5])
        eps = float(a.get("epsilon", 1e-5))
        s = scale / np.sqrt(var + eps)
        t = bb - mean * s
        extra = (1,) * (len(shape) - 2)
        s_ = s.reshape(-1, *extra)
        t_ = t.reshape(-1, *extra)
        return shaped(lambda X, bias: X * s_ + t_ if bias else X * s_)
    if op == "Conv":
        return shaped(_conv_fn(ins, consts, a, shape, where))
    if op == "AveragePool":
        return shaped(_avgpool_fn(a, shape, where))
    raise ParseError(f"{where}: unsupported operator {op!r}")  # pragma: no cover


def _pads(a: dict[str, Any], where: str) -> tuple[int, int, int, int]:
    if a.get("auto_pad", b"NOTSET") not in (b"NOTSET", "NOTSET", b"VALID", "VALID"):
        raise ParseError(f"{where}: auto_pad={a['auto_pad']!r} is not supported; give explicit pads")
    p = list(a.get("pads", [0, 0, 0, 0]))
    return int(p[0]), int(p[1]), int(p[2]), int(p[3])


def _windows(X: np.ndarray, kh: int, kw: int, sh: int, sw: int, dh: int, dw: int) -> np.ndarray:
    """``(m, C, OH, OW, kh, kw)`` view of the sliding windows of ``X`` (``(m, C, H, W)``)."""
    m, c, h, w = X.shape
    oh = (h - dh * (kh - 1) - 1) // sh + 1
    ow = (w - dw * (kw - 1) - 1) // sw + 1
    s = X.strides
    return np.lib.stride_tricks.as_strided(
        X, (m, c, oh, ow, kh, kw), (s[0], s[1], s[2] * sh, s[3] * sw, s[2] * dh, s[3] * dw),
        writeable=False,
    )


def _conv_fn(ins: list[str], consts: dict[str, np.ndarray], a: dict[str, Any],
             shape: tuple[int, ...], where: str) -> _AffineFn:
    if len(shape) != 4:
        raise ParseError(f"{where}: only 2-D convolutions (NCHW) are supported")
    k = consts[ins[1]].astype(np.float64)
    bias_v = consts[ins[2]].astype(np.float64) if len(ins) > 2 and ins[2] else None
    if int(a.get("group", 1)) != 1:
        raise ParseError(f"{where}: grouped convolutions are not supported")
    sh, sw = (int(v) for v in a.get("strides", [1, 1]))
    dh, dw = (int(v) for v in a.get("dilations", [1, 1]))
    t, l_, b_, r = _pads(a, where)

    def conv(X: np.ndarray, bias: bool) -> np.ndarray:
        Xp = np.pad(X, ((0, 0), (0, 0), (0, 0), (t, b_), (l_, r)))
        Xp = np.ascontiguousarray(Xp.reshape(X.shape[0] * X.shape[1], *Xp.shape[2:]))
        win = _windows(Xp, k.shape[2], k.shape[3], sh, sw, dh, dw)
        y = np.einsum("mchwij,ocij->mohw", win, k)
        y = y.reshape(X.shape[0], X.shape[1], *y.shape[1:])
        if bias and bias_v is not None:
            y = y + bias_v.reshape(1, 1, -1, 1, 1)
        return y

    return conv


def _avgpool_fn(a: dict[str, Any], shape: tuple[int, ...], where: str) -> _AffineFn:
    if len(shape) != 4:
        raise ParseError(f"{where}: only 2-D pooling (NCHW) is supported")
    kh, kw = (int(v) for v in a["kernel_shape"])
    sh, sw = (int(v) for v in a.get("strides", [1, 1]))
    t, l_, b_, r = _pads(a, where)
    include = bool(a.get("count_include_pad", 0))
    ones = np.ones((1, 1, *shape[2:]))
    onesp = np.pad(ones, ((0, 0), (0, 0), (t, b_), (l_, r)))
    counts = _windows(onesp, kh, kw, sh, sw, 1, 1).sum(axis=(-1, -2))
    div = float(kh * kw) if include else counts

    def pool(X: np.ndarray, bias: bool) -> np.ndarray:
        Xp = np.pad(X, ((0, 0), (0, 0), (0, 0), (t, b_), (l_, r)))
        Xp = np.ascontiguousarray(Xp.reshape(X.shape[0] * X.shape[1], *Xp.shape[2:]))
        y = _windows(Xp, kh, kw, sh, sw, 1, 1).sum(axis=(-1, -2)) / div
        return y.reshape(X.shape[0], X.shape[1], *y.shape[1:])

    return pool


def _probe(seg: _Segment) -> tuple[np.ndarray, np.ndarray]:
    """Matrix and bias of the composed affine functions of a segment."""
    n = int(np.prod(seg.in_shape))
    X = np.eye(n).reshape(n, *seg.in_shape)
    Z = np.zeros((1, *seg.in_shape))
    for fn in seg.fns:
        X = fn(X, False)
        Z = fn(Z, True)
    return X.reshape(n, -1).T.copy(), Z.reshape(-1).copy()


def cross_check(
    net: Network, path: str | os.PathLike[str], *, rng: np.random.Generator, samples: int = 16,
    tolerance: float = 1e-4,
) -> float:
    """Largest difference between the IR and onnxruntime on random inputs; raises above ``tolerance``.

    Returns ``nan`` (and checks nothing) when onnxruntime is not installed.
    """
    try:
        import onnxruntime as ort
    except ImportError:  # pragma: no cover - depends on the environment
        return float("nan")
    sess = _session(ort, path)
    inp = sess.get_inputs()[0]
    worst = 0.0
    for _ in range(samples):
        x = rng.uniform(-1.0, 1.0, size=net.input_shape).astype(np.float32)
        ours = net.forward(x.reshape(-1).astype(np.float64))
        theirs = np.asarray(sess.run(None, {inp.name: x})[0], dtype=np.float64).reshape(-1)
        if theirs.shape != ours.shape:
            raise InvalidValueError(
                f"{path}: the IR has {ours.size} outputs but onnxruntime returns {theirs.size}"
            )
        scale = 1.0 + float(np.max(np.abs(theirs)))
        worst = max(worst, float(np.max(np.abs(ours - theirs))) / scale)
    if worst > tolerance:
        raise InvalidValueError(
            f"{path}: the loaded network differs from onnxruntime by {worst:.3g} (relative); the model "
            "uses an operator in a way the loader does not reproduce"
        )
    return worst


def _session(ort: Any, path: str | os.PathLike[str]) -> Any:
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    opts.log_severity_level = 3
    return ort.InferenceSession(str(path), sess_options=opts, providers=["CPUExecutionProvider"])


def onnx_forward(path: str | os.PathLike[str], x: np.ndarray, input_shape: tuple[int, ...]) -> np.ndarray:
    """The model's output at ``x`` (float32, as onnxruntime computes it)."""
    import onnxruntime as ort

    sess = _session(ort, path)
    inp = sess.get_inputs()[0]
    xx = np.asarray(x, dtype=np.float32).reshape(input_shape)
    return np.asarray(sess.run(None, {inp.name: xx})[0], dtype=np.float64).reshape(-1)


def onnx_tensors(path: str | os.PathLike[str], x: np.ndarray, input_shape: tuple[int, ...],
                 names: list[str]) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """The model's output and those of ``names`` that are tensors of the model (node outputs or the
    input), flattened, at ``x`` as onnxruntime computes them: the names are added to the graph's
    outputs of an in-memory copy.  Names that are not tensors (e.g. node names) are left out."""
    import onnxruntime as ort
    from onnx import helper

    onnx = _import_onnx()
    model = onnx.load(str(path))
    g = model.graph
    produced = {o for node in g.node for o in node.output}
    have = {o.name for o in g.output}
    extra = [n for n in dict.fromkeys(names) if n in produced and n not in have]
    g.output.extend(helper.make_empty_tensor_value_info(n) for n in extra)
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    opts.log_severity_level = 3
    sess = ort.InferenceSession(model.SerializeToString(), sess_options=opts,
                                providers=["CPUExecutionProvider"])
    inp = sess.get_inputs()[0]
    xx = np.asarray(x, dtype=np.float32).reshape(input_shape)
    outs = [o.name for o in sess.get_outputs()]
    vals = sess.run(outs, {inp.name: xx})
    got = {n: np.asarray(v, dtype=np.float64).reshape(-1) for n, v in zip(outs, vals, strict=True)}
    if inp.name in names:
        got[inp.name] = xx.astype(np.float64).reshape(-1)
    return got[g.output[0].name], got

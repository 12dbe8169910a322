"""Load ONNX models into the network IR, cross-checked by onnxruntime.

Two readers, one result.  A model that is one chain of ``Gemm``, ``MatMul``, ``Add``, ``Sub``, ``Mul``
and ``Div`` by constants, ``Relu``, ``Sigmoid``, ``Tanh``, ``Flatten``, ``Reshape``, ``Transpose``, ``Identity``, ``Dropout``,
``Constant``, ``BatchNormalization``, 2-D ``Conv`` and ``AveragePool`` from its single float32/float64
input to its single output is read by the *chain reader* below, which also records whether every
layer is one float32 product (``Network.float32_layers``; never for a model with ``Sigmoid`` or ``Tanh``,
whose float32 execution the proofs do not cover).  ``Sigmoid`` and ``Tanh`` become hidden layers with
that activation (``Network.hidden_activations``); the graph lowering does not take them.  A ``Softmax``
over every entry of the output as the chain's last operator becomes ``Network.output_softmax``; ``Sign``,
comparisons of the data with a constant, ``Not``, ``Where`` with constant branches and ``Cast`` become
affine maps and step activations (:mod:`sosrelax.nn.lower.steps`).  Any other model — a directed acyclic graph
of the operators of :data:`SUPPORTED_OPERATORS`, skip connections, several inputs and outputs,
float16 — is lowered exactly by :mod:`sosrelax.nn.lower` into the same affine/ReLU chain.  Anything
else raises :class:`~sosrelax.errors.ParseError` naming the node and the operator; so do an operator
set of the default domain below :data:`OPSET_RANGE` or newer than the installed ``onnx`` package
knows, an operator of another domain, and a tensor of a non-float element type (integers and booleans
only as constants), each naming the culprit.

The operators follow the ONNX semantics exactly: ``MatMul`` is ``numpy.matmul`` (a 1-D operand is a
vector: promoted to a matrix, the added axis removed again), ``Add``/``Sub``/``Mul``/``Div`` broadcast
multidirectionally like numpy (a constant of higher rank than the data adds leading axes), ``Gemm`` is
``alpha·A'·B' + beta·C`` with ``transA``/``transB`` and the data tensor in any of the three places.

In the chain reader every affine operator is a numpy function of a batch of tensors (the batch axis
in front of the model's own axes, which keep their ONNX meaning).  The affine map between two ReLUs
is obtained by probing that composition with the unit vectors (linear part, biases switched off)
and with zero (bias), so the weights of a single ``Gemm``/``MatMul`` come out exactly.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from sosrelax.errors import BackendNotAvailableError, InvalidValueError, ParseError
from sosrelax.nn.ir import Activation, Affine, Network, ReLU, from_operations
from sosrelax.nn.lower.graph import FLOAT_TYPES, Lowered, lower_model
from sosrelax.nn.lower.linear import gemm_fn, lift_rank, matmul_fn
from sosrelax.nn.lower.ops import OPERATORS
from sosrelax.nn.lower.poly import POLY_OPERATORS, PolyTensor, evaluate
from sosrelax.nn.lower.steps import STEP_OPERATORS, step_lowering

__all__ = ["CHAIN_ONLY_OPERATORS", "OPSET_RANGE", "POLY_HEAD_OPERATORS", "SUPPORTED_OPERATORS", "cross_check", "load_onnx", "load_onnx_graph", "onnx_forward",
           "onnx_tensors"]

#: Operator-set versions of the default ONNX domain the loader is tested with (inclusive); newer sets
#: that the installed ``onnx`` package defines are read too.
OPSET_RANGE = (7, 21)

#: Element types (``onnx.TensorProto`` codes) of data tensors and weights: FLOAT, DOUBLE.
_FLOAT_TYPES = {1: "float32", 11: "float64"}
#: Also allowed for constants (shapes, axes): INT32, INT64.
_INT_TYPES = {6: "int32", 7: "int64"}

#: Operators of the chain reader (one chain from the input, float32/float64).
_CHAIN_OPERATORS = (
    "Add", "AveragePool", "BatchNormalization", "Constant", "Conv", "Div", "Dropout", "Flatten",
    "Gemm", "Identity", "MatMul", "Mul", "Relu", "Reshape", "Sigmoid", "Softmax", "Sub", "Tanh", "Transpose",
    *STEP_OPERATORS,
)
#: S-shaped activations the chain reader takes (ONNX operator -> ``Network.hidden_activations`` kind).
_S_ACTIVATIONS = {"Sigmoid": "sigmoid", "Tanh": "tanh"}
#: Every operator the loader lowers exactly (:mod:`sosrelax.nn.lower.ops`).
SUPPORTED_OPERATORS = tuple(sorted(OPERATORS))
#: Operators read only by the chain reader (in a model that is one chain of operators).
CHAIN_ONLY_OPERATORS = tuple(sorted({"Sigmoid", "Softmax", "Tanh", *STEP_OPERATORS} - set(OPERATORS)))
#: Operators read only in a polynomial head (after the last ReLU; :mod:`sosrelax.nn.lower.poly`): ``Pow``.
POLY_HEAD_OPERATORS = tuple(sorted(set(POLY_OPERATORS) - set(OPERATORS)))

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
    ops: list[str] = field(default_factory=list)


#: Affine segments whose float32 execution is one dot product per output plus at most one bias
#: addition: their IR layer has the float32 rounding error the proof-tree semantics bounds.
_ONE_PRODUCT = ({"MatMul"}, {"MatMul", "Add"}, {"Gemm"}, {"Add"})
_RESHAPING = {"Flatten", "Reshape", "Identity", "Dropout", "Squeeze", "Unsqueeze"}


def _attrs(node: Any) -> dict[str, Any]:
    from onnx import helper

    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


def _load_model(onnx: Any, p: Path) -> Any:
    """The model in ``p``, its operator sets checked."""
    if not p.is_file():
        raise ParseError(f"{p}: no such ONNX file")
    try:
        model = onnx.load(str(p))
    except Exception as e:  # the protobuf errors are not a stable type
        raise ParseError(f"{p}: not a readable ONNX model ({e})") from e
    _check_opsets(model, p)
    return model


def _constants(numpy_helper: Any, model: Any, p: Path) -> dict[str, np.ndarray]:
    """The initializers (floats as float64) of the model; other element types than floats and
    integers are refused naming the initializer."""
    consts: dict[str, np.ndarray] = {}
    for t in model.graph.initializer:
        code = int(t.data_type)
        if code not in FLOAT_TYPES and code not in _INT_TYPES and code != 9:  # 9: BOOL
            _check_elem_type(code, f"{p.name}: initializer {t.name!r}", weights=True)
        v = numpy_helper.to_array(t)
        consts[t.name] = v.astype(np.float64) if v.dtype.kind == "f" else v
    return consts


def _read_graph(model: Any, numpy_helper: Any, p: Path
                ) -> tuple[Any, dict[str, np.ndarray], Any, tuple[int, ...], int]:
    """Check the element types, single data input and single output of a chain model.

    Returns ``(graph, constants, data input, input shape, input size)``; the constants are the
    initializers (floats as float64).
    """
    g = model.graph
    consts: dict[str, np.ndarray] = {}
    for t in g.initializer:
        _check_elem_type(int(t.data_type), f"{p.name}: initializer {t.name!r}", weights=True)
        v = numpy_helper.to_array(t)
        consts[t.name] = v.astype(np.float64) if v.dtype.kind == "f" else v
    data_inputs = [i for i in g.input if i.name not in consts]
    if len(data_inputs) != 1:
        raise ParseError(
            f"{p}: expected exactly one data input, found {len(data_inputs)} "
            f"({', '.join(i.name for i in data_inputs)})"
        )
    inp = data_inputs[0]
    _check_elem_type(int(inp.type.tensor_type.elem_type), f"{p.name}: input {inp.name!r}")
    dims = [d.dim_value if d.dim_value > 0 else 1 for d in inp.type.tensor_type.shape.dim]
    in_shape = tuple(int(d) for d in dims) or (1,)
    if len(g.output) != 1:
        raise ParseError(f"{p}: expected exactly one output, found {len(g.output)}")
    _check_elem_type(int(g.output[0].type.tensor_type.elem_type), f"{p.name}: output {g.output[0].name!r}")
    n_in = int(np.prod(in_shape))
    return g, consts, inp, in_shape, n_in


def _checked_node(node: Any, idx: int, p: Path) -> tuple[str, str, dict[str, Any]]:
    """``(operator, where, attributes)`` of a node whose domain, operator and output are supported;
    ``where`` names the file, node and operator for error messages."""
    op = node.op_type
    where = f"{p.name}: node {idx} ({node.name or 'unnamed'}, operator {op})"
    if node.domain not in ("", "ai.onnx"):
        raise ParseError(f"{where}: operator of domain {node.domain!r} is not supported (only the "
                         "default ONNX domain)")
    if op not in _CHAIN_OPERATORS:
        raise ParseError(
            f"{where}: unsupported operator {op!r}; supported: {', '.join(SUPPORTED_OPERATORS)} "
            "(and Sigmoid, Tanh, a final Softmax, Sign, comparisons with constants, Where in a chain of operators)"
        )
    if not node.output or not node.output[0]:
        raise ParseError(f"{where}: the node has no output")
    try:
        a = _attrs(node)
    except Exception as e:  # a malformed attribute: onnx raises assorted types
        raise ParseError(f"{where}: unreadable attributes ({e})") from e
    return op, where, a


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
    model = _load_model(onnx, p)
    try:
        net = _load_chain(model, numpy_helper, p)
    except ParseError:  # not a chain of the operators above: lower the graph (its own messages)
        lowered = lower_model(model, p, _constants(numpy_helper, model, p))
        if lowered.polynomial is not None:
            raise ParseError(
                f"{lowered.head_node}: a product or power of data tensors: the model's outputs are "
                "polynomials of a ReLU network, not a ReLU network; read it with load_onnx_graph and decide "
                "properties over it with sosrelax.nn.lower.poly.substitute (the exact rungs)") from None
        net = lowered.network
    if check:
        cross_check(net, p, rng=np.random.default_rng(rng_seed))
    return net


def load_onnx_graph(path: str | os.PathLike[str], *, check: bool = True, rng_seed: int = 0) -> Lowered:
    """:func:`load_onnx` with the names and shapes of the model's inputs and outputs (in the order in
    which the network concatenates them).  A model with a polynomial head (products and powers of data
    tensors after its ReLUs, :mod:`sosrelax.nn.lower.poly`) is read too: its network computes the
    head's variables and ``Lowered.polynomial`` the model's outputs from them (cross-checked)."""
    onnx = _import_onnx()
    from onnx import numpy_helper

    p = Path(path)
    model = _load_model(onnx, p)
    lowered = lower_model(model, p, _constants(numpy_helper, model, p))
    if lowered.polynomial is None:
        return replace(lowered, network=load_onnx(p, check=check, rng_seed=rng_seed))
    if check:
        cross_check(lowered.network, p, rng=np.random.default_rng(rng_seed), head=lowered.polynomial)
    return lowered


def _load_chain(model: Any, numpy_helper: Any, p: Path) -> Network:
    """The network of a model that is one chain of the operators of the chain reader (exact single
    products for float32 layers); a :class:`ParseError` for anything else."""
    g, consts, inp, in_shape, n_in = _read_graph(model, numpy_helper, p)
    ops: list[Affine | ReLU | Activation] = []
    seg = _Segment([], in_shape, in_shape)
    current = inp.name
    # ONNX tensor (and node) names of layer quantities: name -> ("pre" | "post", hidden layer)
    aliases: dict[str, tuple[str, int]] = {}

    single_products = [True]
    softmax = False

    def flush() -> None:
        if seg.fns:
            w, b = _probe(seg)
            ops.append(Affine(w, b))
            kinds = [o for o in seg.ops if o not in _RESHAPING]
            if len(kinds) != len(set(kinds)) or set(kinds) not in _ONE_PRODUCT:
                single_products[0] = False
        seg.fns = []
        seg.ops = []
        seg.in_shape = seg.shape

    for idx, node in enumerate(g.node):
        op, where, a = _checked_node(node, idx, p)
        ins = list(node.input)
        if op == "Constant":
            consts[node.output[0]] = _constant_value(a, where)
            continue
        unknown = [i for i in ins if i and i != current and i not in consts]
        if unknown:
            raise ParseError(f"{where}: operand {unknown[0]!r} is neither a constant nor the data "
                             "tensor of the chain (only constant weights and one chain of operators "
                             "from the input are supported)")
        uses_data = current in ins
        if not uses_data:
            # constant folding for shape arithmetic on constants
            consts[node.output[0]] = _fold(op, [consts[i] for i in ins if i], a, where)
            continue
        if ins.count(current) > 1:
            raise ParseError(f"{where}: the data tensor {current!r} is used twice by one node (a "
                             "product or sum of the data with itself is not supported)")
        if softmax:
            raise ParseError(f"{where}: an operator after Softmax; Softmax is read as the model's last operator only")
        if op == "Softmax":
            flush()
            _check_softmax_axis(a, seg.shape, _opset(model), where)
            softmax = True
        elif op in _S_ACTIVATIONS:
            flush()
            k = sum(isinstance(o, (ReLU, Activation)) for o in ops)
            aliases.setdefault(current, ("pre", k))
            aliases.setdefault(node.output[0], ("post", k))
            ops.append(Activation(_S_ACTIVATIONS[op], node.name))
        elif op == "Relu":
            flush()
            k = sum(isinstance(o, (ReLU, Activation)) for o in ops)
            if ops and isinstance(ops[-1], ReLU):  # relu(relu(z)) = relu(z): no new layer
                aliases.setdefault(current, ("post", k - 1))
                aliases.setdefault(node.output[0], ("post", k - 1))
            else:
                aliases.setdefault(current, ("pre", k))
                aliases.setdefault(node.output[0], ("post", k))
                ops.append(ReLU(node.name))
        elif op in STEP_OPERATORS:
            for piece in step_lowering(op, ins, current, consts, a, where):
                if isinstance(piece, str):
                    flush()
                    ops.append(Activation(piece, node.name))
                    single_products[0] = False
                else:
                    try:
                        seg.shape = tuple(piece(np.zeros((1, *seg.shape)), True).shape[1:])
                    except (ValueError, IndexError, TypeError) as e:
                        raise ParseError(f"{where}: shapes do not fit ({e})") from e
                    seg.fns.append(piece)
                    seg.ops.append(op)
        elif op in ("Identity", "Dropout"):
            if current in aliases:
                aliases.setdefault(node.output[0], aliases[current])
        else:
            if op in ("Flatten", "Reshape") and current in aliases:  # same values, same row-major order
                aliases.setdefault(node.output[0], aliases[current])
            fn, new_shape = _affine_op(op, ins, current, consts, a, seg.shape, where)
            seg.fns.append(fn)
            seg.ops.append(_op_kind(op, [consts[i] for i in ins if i and i != current], a))
            seg.shape = new_shape
        current = node.output[0]
    if g.output[0].name != current:
        raise ParseError(f"{p}: the output {g.output[0].name!r} is not computed from the input by a chain")
    flush()
    net = from_operations(ops, n_in, input_shape=in_shape, name=p.stem)
    for node in g.node:  # a node's name stands for its (first) output
        if node.name and node.output and node.output[0] in aliases:
            aliases.setdefault(node.name, aliases[node.output[0]])
    f32 = (all(int(t.data_type) == 1 for t in g.initializer) and single_products[0] and net.all_relu
           and not softmax)
    return replace(net, tensor_names=tuple((name, st, k) for name, (st, k) in sorted(aliases.items())),
                   float32_layers=f32 and _float32_exact(net), output_softmax=softmax)


def _opset(model: Any) -> int:
    """The model's operator-set version of the default domain."""
    return max((int(o.version) for o in model.opset_import if o.domain in ("", "ai.onnx")), default=OPSET_RANGE[1])


def _check_softmax_axis(a: dict[str, Any], shape: tuple[int, ...], opset: int, where: str) -> None:
    """A ``Softmax`` must normalise over every entry of its input (the model's output): opset 13 on, over
    ``axis`` (default -1); before, over the entries from ``axis`` on (default 1), the input flattened."""
    n = len(shape)
    axis = int(a.get("axis", -1 if opset >= 13 else 1))
    if not -n <= axis < n:
        raise ParseError(f"{where}: axis {axis} out of range for a tensor of shape {list(shape)}")
    axis %= n
    size = int(np.prod(shape))
    over = shape[axis] if opset >= 13 else int(np.prod(shape[axis:]))
    if over != size:
        raise ParseError(f"{where}: a softmax over part of the output (axis {axis} of shape {list(shape)}) is not "
                         "supported; only one over every entry")


def _op_kind(op: str, operands: list[np.ndarray], attrs: dict[str, Any]) -> str:
    """``op``, or ``"Identity"`` for an operation that leaves every float32 value unchanged (adding
    or subtracting zeros, multiplying or dividing by ones)."""
    neutral = {"Add": 0.0, "Sub": 0.0, "Mul": 1.0, "Div": 1.0}.get(op)
    if neutral is not None and len(operands) == 1 and np.all(np.asarray(operands[0]) == neutral):
        return "Identity"
    if op == "Gemm" and (float(attrs.get("alpha", 1.0)) != 1.0 or float(attrs.get("beta", 1.0)) != 1.0):
        return "ScaledGemm"  # extra multiplications: not one product plus one addition
    return op


def _float32_exact(net: Network) -> bool:
    return all(np.array_equal(a.astype(np.float32).astype(np.float64), a)
               for a in (*net.weights, *net.biases))


def _check_opsets(model: Any, p: Path) -> None:
    """Refuse operator sets of the default domain below :data:`OPSET_RANGE` or unknown to the installed
    ``onnx`` package (newer sets it knows are read: the supported operators kept their meaning)."""
    from onnx import defs

    lo, hi = OPSET_RANGE
    newest = int(defs.onnx_opset_version())
    for o in model.opset_import:
        if o.domain in ("", "ai.onnx") and not lo <= int(o.version) <= max(hi, newest):
            raise ParseError(
                f"{p}: the model uses ONNX operator set {o.version}, which "
                + ("is too old" if o.version < lo else f"does not exist (the newest is {newest})")
                + f"; supported: {lo} to {hi} (export it again with opset_version between {lo} and {hi})"
            )


def _check_elem_type(code: int, what: str, *, weights: bool = False) -> None:
    """Refuse element types other than float32/float64 (and int32/int64 for constants)."""
    if code in _FLOAT_TYPES or (weights and code in _INT_TYPES):
        return
    try:
        from onnx import TensorProto

        name = TensorProto.DataType.Name(code).lower()
    except Exception:  # an unknown code
        name = f"type code {code}"
    allowed = "float16, float32 or float64" + (" (integers and booleans for constants)" if weights else "")
    raise ParseError(f"{what} has element type {name}; supported: {allowed} (convert the model to float32)")


def _constant_value(a: dict[str, Any], where: str) -> np.ndarray:
    from onnx import numpy_helper

    if "value" in a:
        _check_elem_type(int(a["value"].data_type), f"{where}: value", weights=True)
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
    """The value of an operator whose operands are all constants."""
    try:
        return _fold_values(op, vals, a, where)
    except (ValueError, IndexError, TypeError, ZeroDivisionError) as e:
        raise ParseError(f"{where}: cannot evaluate on constants ({e})") from e


def _fold_values(op: str, vals: list[np.ndarray], a: dict[str, Any], where: str) -> np.ndarray:
    if not vals:
        raise ParseError(f"{where}: the node has no operands")
    if op in ("Identity", "Dropout", "Relu"):
        return np.maximum(vals[0], 0) if op == "Relu" else vals[0]
    if op == "MatMul":
        return np.matmul(vals[0], vals[1])
    if op == "Flatten":
        axis = int(a.get("axis", 1))
        axis = axis + vals[0].ndim if axis < 0 else axis
        return vals[0].reshape(int(np.prod(vals[0].shape[:axis])), -1)
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
        return vals[0].reshape(_reshape_target(vals[0].shape, vals[1], bool(a.get("allowzero", 0))))
    if op == "Transpose":
        return np.transpose(vals[0], a.get("perm"))
    raise ParseError(f"{where}: unsupported operator {op!r} on constants")


def _reshape_target(shape: tuple[int, ...], spec: np.ndarray, allowzero: bool = False) -> tuple[int, ...]:
    """ONNX ``Reshape``'s target: a 0 copies the input's dimension (unless ``allowzero``), -1 is inferred."""
    target = [int(v) for v in np.asarray(spec).reshape(-1)]
    if allowzero:
        return tuple(target)
    out = [shape[i] if v == 0 and i < len(shape) else v for i, v in enumerate(target)]
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
        except (ValueError, IndexError, TypeError) as e:
            raise ParseError(f"{where}: shapes do not fit ({e})") from e
        return fn, tuple(out.shape[1:])

    rank = len(shape)
    if op in ("Add", "Sub", "Mul", "Div"):
        if len(ins) != 2:
            raise ParseError(f"{where}: expected two operands, got {len(ins)}")
        first = ins[0] == current
        c = consts[ins[1] if first else ins[0]].astype(np.float64)
        zero = np.zeros(c.shape)  # keeps the broadcast shape when the constant is switched off
        if op == "Add":
            return shaped(lambda X, bias: lift_rank(X, c.ndim) + (c if bias else zero))
        if op == "Sub":
            if first:
                return shaped(lambda X, bias: lift_rank(X, c.ndim) - (c if bias else zero))
            return shaped(lambda X, bias: (c if bias else zero) - lift_rank(X, c.ndim))
        if op == "Mul":
            return shaped(lambda X, bias: lift_rank(X, c.ndim) * c)
        if not first:
            raise ParseError(f"{where}: division by the data tensor is not affine")
        return shaped(lambda X, bias: lift_rank(X, c.ndim) / c)
    if op == "MatMul":
        if len(ins) != 2:
            raise ParseError(f"{where}: expected two operands, got {len(ins)}")
        first = ins[0] == current
        c = consts[ins[1] if first else ins[0]].astype(np.float64)
        if c.ndim == 0 or rank == 0:
            raise ParseError(f"{where}: MatMul of a scalar is not defined")
        return shaped(matmul_fn(c, first, rank))
    if op == "Gemm":
        return shaped(gemm_fn(ins, current, consts, a, rank, where))
    if op == "Flatten":
        axis = int(a.get("axis", 1))
        axis = axis + len(shape) if axis < 0 else axis
        lead = int(np.prod(shape[:axis])) if axis else 1
        return shaped(lambda X, bias: X.reshape(X.shape[0], lead, -1))
    if op == "Reshape":
        if ins[1] not in consts:
            raise ParseError(f"{where}: the target shape must be a constant")
        target = _reshape_target(shape, consts[ins[1]], bool(a.get("allowzero", 0)))
        return shaped(lambda X, bias: X.reshape(X.shape[0], *target))
    if op == "Transpose":
        perm = a.get("perm") or list(range(len(shape)))[::-1]
        full = [0, *(int(q) + 1 for q in perm)]
        return shaped(lambda X, bias: np.transpose(X, full))
    if op == "BatchNormalization":
        if len(ins) < 5 or ins[0] != current:
            raise ParseError(f"{where}: expected BatchNormalization(X, scale, B, mean, var)")
        scale, bb, mean, var = (consts[i].astype(np.float64) for i in ins[1:5])
        eps = float(a.get("epsilon", 1e-5))
        s = scale / np.sqrt(var + eps)
        t = bb - mean * s
        extra = (1,) * (len(shape) - 2)
        s_ = s.reshape(-1, *extra)
        t_ = t.reshape(-1, *extra)
        return shaped(lambda X, bias: X * s_ + t_ if bias else X * s_)
    if op == "Conv":
        if ins[0] != current:
            raise ParseError(f"{where}: only Conv(X, W[, B]) with the data as X is supported")
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


#: Relative agreement with onnxruntime required of a float16 model (its execution rounds to 11 bits).
FLOAT16_TOLERANCE = 2e-2


def _ort_dtype(type_name: str) -> Any:
    if "float16" in type_name:
        return np.float16
    return np.float64 if "double" in type_name else np.float32


def _feeds(sess: Any, x: np.ndarray) -> dict[str, np.ndarray]:
    """The session's inputs from the flat ``x`` (split in the inputs' order, row-major, cast to each
    input's element type)."""
    feeds: dict[str, np.ndarray] = {}
    off = 0
    for i in sess.get_inputs():
        shape = tuple(d if isinstance(d, int) and d > 0 else 1 for d in i.shape)
        n = int(np.prod(shape))
        feeds[i.name] = np.asarray(x[off:off + n]).reshape(shape).astype(_ort_dtype(str(i.type)))
        off += n
    if off != np.asarray(x).size:
        raise InvalidValueError(f"the model takes {off} input entries, got {np.asarray(x).size}")
    return feeds


def _run(sess: Any, feeds: dict[str, np.ndarray], path: str | os.PathLike[str]) -> np.ndarray:
    """Every output of the session at ``feeds``, flattened and concatenated (float64)."""
    try:
        got = sess.run(None, feeds)
    except Exception as e:  # onnxruntime's errors are not a stable type
        raise ParseError(f"{path}: onnxruntime cannot evaluate the model ({_first_line(e)})") from e
    return np.concatenate([np.asarray(v, dtype=np.float64).reshape(-1) for v in got])


def cross_check(
    net: Network, path: str | os.PathLike[str], *, rng: np.random.Generator, samples: int = 16,
    tolerance: float = 1e-4, head: PolyTensor | None = None,
) -> float:
    """Largest difference between the IR and onnxruntime on random inputs; raises above ``tolerance``
    (:data:`FLOAT16_TOLERANCE` for a model with a float16 input).

    The inputs are drawn uniformly in ``[-1, 1]``, rounded to the model's input type, and the IR is
    evaluated at the rounded point; several inputs and outputs are split and concatenated in the
    model's order; ``head``: the model's outputs are these polynomials of the network's outputs.
    Returns ``nan`` (and checks nothing) when onnxruntime is not installed.
    """
    try:
        import onnxruntime as ort
    except ImportError:  # pragma: no cover - depends on the environment
        return float("nan")
    sess = _session(ort, path)
    if any("float16" in str(i.type) for i in sess.get_inputs()):
        tolerance = max(tolerance, FLOAT16_TOLERANCE)
    worst = 0.0
    for _ in range(samples):
        feeds = _feeds(sess, rng.uniform(-1.0, 1.0, size=net.n_inputs))
        x = np.concatenate([v.astype(np.float64).reshape(-1) for v in feeds.values()])
        ours = net.forward(x) if head is None else evaluate(head, net.forward(x))
        theirs = _run(sess, feeds, path)
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


def _first_line(e: BaseException) -> str:
    text = str(e).strip()
    return text.splitlines()[0] if text else type(e).__name__


def _session(ort: Any, path: str | os.PathLike[str]) -> Any:
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    opts.log_severity_level = 3
    try:
        return ort.InferenceSession(str(path), sess_options=opts, providers=["CPUExecutionProvider"])
    except Exception as e:  # onnxruntime's errors are not a stable type
        raise ParseError(f"{path}: onnxruntime cannot load the model ({_first_line(e)})") from e


def onnx_forward(path: str | os.PathLike[str], x: np.ndarray, input_shape: tuple[int, ...]) -> np.ndarray:
    """The model's output at ``x`` as onnxruntime computes it (``x`` rounded to the model's input
    type; several inputs are split from ``x`` and several outputs concatenated, in the model's order;
    ``input_shape`` is the IR's and only informational)."""
    import onnxruntime as ort

    sess = _session(ort, path)
    return _run(sess, _feeds(sess, np.asarray(x, dtype=np.float64).reshape(-1)), path)


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

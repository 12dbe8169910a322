"""Every claimed ONNX operator: the lowered network equals onnxruntime on random inputs, and a sat and
an unsat property whose truth is known by construction are decided (never ``unknown``).

Each model below is small and of one of two kinds, which fixes the maximum ``top`` of an output
``Y_j`` over the input box exactly:

* ``affine``: a linear operator (plus constants), so ``Y_j = w·x + c`` and the maximum over a box is
  ``c + Σ max(w_i lo_i, w_i hi_i)``; ``w`` and ``c`` are read off onnxruntime at ``0`` and the unit
  vectors;
* ``vertex``: every output is convex or monotone in each input (relu, max, abs, clip, … of inputs with
  non-negative weights), so its maximum over the box is attained at a vertex: onnxruntime on every
  vertex gives it.

Then ``Y_j >= top - 0.05`` is sat (the maximiser is a witness) and ``Y_j >= top + 0.05`` is unsat.
"""

from __future__ import annotations

import itertools
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from sosrelax.errors import ParseError  # noqa: E402
from sosrelax.nn.onnx_loader import SUPPORTED_OPERATORS, load_onnx, onnx_forward  # noqa: E402
from sosrelax.nn.verify import Result, verify  # noqa: E402
from sosrelax.nn.vnnlib_common import Atom, Disjunct, Property  # noqa: E402

RNG = np.random.default_rng(19)
F = TensorProto.FLOAT


def _w(*shape: int, positive: bool = False) -> np.ndarray:
    v = RNG.normal(size=shape)
    return (np.abs(v) if positive else v).astype(np.float32)


def _init(name: str, value: Any) -> Any:
    return numpy_helper.from_array(np.asarray(value), name)


def _n(op: str, ins: list[str], outs: list[str], **kw: Any) -> Any:
    return helper.make_node(op, ins, outs, name=f"{op.lower()}_{outs[0]}", **kw)


def _model(path: Path, nodes: list[Any], inputs: dict[str, list[int]], outputs: list[str],
           inits: list[Any] = (), *, opset: int = 17, elem: int = F) -> Path:
    g = helper.make_graph(nodes, path.stem,
                          [helper.make_tensor_value_info(k, elem, v) for k, v in inputs.items()],
                          [helper.make_tensor_value_info(o, elem, None) for o in outputs], list(inits))
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])
    m.ir_version = 8
    onnx.save(m, str(path))
    return path


# (name, kind, builder(tmp_path) -> model path); inputs in [-1, 1]
CASES: dict[str, tuple[str, Any]] = {}


def case(name: str, kind: str) -> Any:
    def deco(f: Any) -> Any:
        CASES[name] = (kind, f)
        return f
    return deco


@case("Conv", "affine")
def _conv(p: Path) -> Path:
    return _model(p, [_n("Conv", ["x", "W", "B"], ["y"], pads=[1, 0, 0, 1], strides=[2, 1], dilations=[1, 2])],
                  {"x": [1, 2, 4, 5]}, ["y"], [_init("W", _w(3, 2, 2, 2)), _init("B", _w(3))])


@case("Conv_same_upper", "affine")
def _conv_su(p: Path) -> Path:
    return _model(p, [_n("Conv", ["x", "W"], ["y"], auto_pad="SAME_UPPER", strides=[2, 2])],
                  {"x": [1, 1, 5, 4]}, ["y"], [_init("W", _w(2, 1, 3, 2))])


@case("Conv_same_lower_grouped", "affine")
def _conv_sl(p: Path) -> Path:
    return _model(p, [_n("Conv", ["x", "W"], ["y"], auto_pad="SAME_LOWER", group=2)],
                  {"x": [1, 2, 3, 3]}, ["y"], [_init("W", _w(4, 1, 2, 2))])


@case("Conv1d", "affine")
def _conv1(p: Path) -> Path:
    return _model(p, [_n("Conv", ["x", "W", "B"], ["y"], pads=[2, 1], strides=[2])],
                  {"x": [1, 2, 7]}, ["y"], [_init("W", _w(3, 2, 3)), _init("B", _w(3))])


@case("Conv3d", "affine")
def _conv3(p: Path) -> Path:
    return _model(p, [_n("Conv", ["x", "W"], ["y"], pads=[0, 1, 0, 1, 0, 0])],
                  {"x": [1, 1, 3, 3, 2]}, ["y"], [_init("W", _w(2, 1, 2, 2, 2))])


@case("AveragePool", "affine")
def _avg(p: Path) -> Path:
    return _model(p, [_n("AveragePool", ["x"], ["y"], kernel_shape=[2, 3], pads=[1, 1, 0, 1], strides=[2, 2])],
                  {"x": [1, 2, 4, 4]}, ["y"])


@case("AveragePool_include_pad_ceil", "affine")
def _avg2(p: Path) -> Path:
    return _model(p, [_n("AveragePool", ["x"], ["y"], kernel_shape=[2, 2], pads=[1, 1, 1, 1], strides=[2, 2],
                         count_include_pad=1, ceil_mode=1)], {"x": [1, 1, 4, 5]}, ["y"])


@case("GlobalAveragePool", "affine")
def _gap(p: Path) -> Path:
    return _model(p, [_n("GlobalAveragePool", ["x"], ["y"])], {"x": [1, 3, 2, 3]}, ["y"])


@case("MaxPool", "vertex")
def _maxpool(p: Path) -> Path:
    return _model(p, [_n("MaxPool", ["x"], ["y"], kernel_shape=[2, 2], pads=[1, 0, 0, 1], strides=[2, 1])],
                  {"x": [1, 1, 3, 3]}, ["y"])


@case("MaxPool_same_upper_1d", "vertex")
def _maxpool1(p: Path) -> Path:
    return _model(p, [_n("MaxPool", ["x"], ["y"], kernel_shape=[3], auto_pad="SAME_UPPER", strides=[2])],
                  {"x": [1, 2, 5]}, ["y"])


@case("MaxPool_after_Relu", "vertex")
def _maxpool_relu(p: Path) -> Path:
    """The pooled values are ReLU outputs (>= 0): the tournament carries them with one unit each."""
    return _model(p, [_n("Relu", ["x"], ["r"]), _n("MaxPool", ["r"], ["m"], kernel_shape=[2, 2], strides=[1, 1]),
                      _n("Max", ["m", "r0"], ["y"])],
                  {"x": [1, 1, 3, 3]}, ["y"], [_init("r0", np.float32(0.2))])


@case("GlobalMaxPool", "vertex")
def _gmp(p: Path) -> Path:
    return _model(p, [_n("GlobalMaxPool", ["x"], ["y"])], {"x": [1, 2, 2, 2]}, ["y"])


@case("Pad_constant", "affine")
def _pad(p: Path) -> Path:
    return _model(p, [_n("Pad", ["x", "pads", "v"], ["y"], mode="constant")], {"x": [1, 2, 3]}, ["y"],
                  [_init("pads", np.array([0, 1, 0, 0, 0, 2], dtype=np.int64)), _init("v", np.float32(0.5))])


@case("Pad_reflect_edge", "affine")
def _pad2(p: Path) -> Path:
    return _model(p, [_n("Pad", ["x", "pads"], ["a"], mode="reflect"), _n("Pad", ["a", "pads"], ["y"], mode="edge")],
                  {"x": [1, 4]}, ["y"], [_init("pads", np.array([0, 2, 0, 1], dtype=np.int64))])


@case("Concat_Split_Sub", "affine")
def _concat(p: Path) -> Path:
    return _model(p, [_n("Concat", ["x", "c"], ["a"], axis=1),
                      helper.make_node("Split", ["a", "s"], ["b1", "b2"], axis=1, name="split"),
                      _n("Sub", ["b1", "b2"], ["y"])],
                  {"x": [1, 3]}, ["y"], [_init("c", _w(1, 3)), _init("s", np.array([3, 3], dtype=np.int64))])


@case("Slice_Gather_Transpose", "affine")
def _slice(p: Path) -> Path:
    return _model(p, [_n("Slice", ["x", "st", "en", "ax", "step"], ["a"]),
                      _n("Gather", ["a", "idx"], ["b"], axis=2),
                      _n("Transpose", ["b"], ["y"], perm=[0, 2, 1])],
                  {"x": [1, 3, 5]}, ["y"],
                  [_init("st", np.array([4, 0], dtype=np.int64)), _init("en", np.array([-10, 3], dtype=np.int64)),
                   _init("ax", np.array([2, 1], dtype=np.int64)), _init("step", np.array([-2, 2], dtype=np.int64)),
                   _init("idx", np.array([2, 0, 0, -1], dtype=np.int64))])


@case("Squeeze_Unsqueeze_Flatten", "affine")
def _squeeze(p: Path) -> Path:
    return _model(p, [_n("Unsqueeze", ["x", "a0"], ["a"]), _n("Squeeze", ["a", "a1"], ["b"]),
                      _n("Identity", ["b"], ["bi"]), _n("Dropout", ["bi"], ["bd"]),
                      _n("Flatten", ["bd"], ["y"], axis=1)],
                  {"x": [1, 2, 3]}, ["y"],
                  [_init("a0", np.array([1, -1], dtype=np.int64)), _init("a1", np.array([0], dtype=np.int64))])


@case("Reshape_computed_shape", "affine")
def _reshape(p: Path) -> Path:
    """Shape -> Gather -> Concat -> Reshape, ConstantOfShape and Expand: shape arithmetic folded."""
    return _model(p, [_n("Shape", ["x"], ["s"]), _n("Gather", ["s", "i0"], ["n"], axis=0),
                      _n("Concat", ["n", "m1"], ["t"], axis=0), _n("Reshape", ["x", "t"], ["r"]),
                      _n("ConstantOfShape", ["t2"], ["k"], value=numpy_helper.from_array(np.array([0.25], np.float32))),
                      _n("Add", ["r", "k"], ["e"]), _n("Expand", ["e", "t3"], ["y"]),
                      _n("Cast", ["y"], ["y2"], to=F)],
                  {"x": [1, 2, 3]}, ["y2"],
                  [_init("i0", np.array([0], dtype=np.int64)), _init("m1", np.array([-1], dtype=np.int64)),
                   _init("t2", np.array([1, 6], dtype=np.int64)), _init("t3", np.array([2, 1, 6], dtype=np.int64))])


@case("Constant_Range_Size", "affine")
def _consts(p: Path) -> Path:
    """Size, Range and Constant nodes folded into the indices and shapes of data operators."""
    return _model(p, [_n("Size", ["x"], ["sz"]), _n("Unsqueeze", ["sz", "zero1"], ["szu"]),
                      _n("Concat", ["one1", "szu"], ["shp"], axis=0),
                      _n("Range", ["zero", "three", "one"], ["r"]), _n("Gather", ["x", "r"], ["gx"], axis=2),
                      helper.make_node("Constant", [], ["k"], value=numpy_helper.from_array(np.array([0.5], np.float32)),
                                       name="const_k"),
                      _n("Add", ["gx", "k"], ["ak"]), _n("Reshape", ["ak", "shp"], ["y"])],
                  {"x": [1, 2, 3]}, ["y"],
                  [_init("zero1", np.array([0], dtype=np.int64)), _init("one1", np.array([1], dtype=np.int64)),
                   _init("zero", np.int64(0)), _init("three", np.int64(3)), _init("one", np.int64(1))])


@case("Tile_DepthToSpace", "affine")
def _tile(p: Path) -> Path:
    return _model(p, [_n("DepthToSpace", ["x"], ["a0"], blocksize=2), _n("SpaceToDepth", ["a0"], ["a1"], blocksize=2),
                      _n("DepthToSpace", ["a1"], ["a"], blocksize=2, mode="CRD"), _n("Tile", ["a", "r"], ["y"])],
                  {"x": [1, 4, 1, 2]}, ["y"], [_init("r", np.array([1, 1, 2, 1], dtype=np.int64))])


@case("Neg_Mul_Div_Add", "affine")
def _arith(p: Path) -> Path:
    return _model(p, [_n("Neg", ["x"], ["a"]), _n("Mul", ["a", "m"], ["b"]), _n("Div", ["b", "d"], ["c"]),
                      _n("Add", ["k", "c"], ["y"])],
                  {"x": [2, 3]}, ["y"], [_init("m", _w(3)), _init("d", np.array([2.0, -4.0, 0.5], np.float32).reshape(1, 3)),
                                         _init("k", _w(2, 1))])


@case("Sum_Mean_two_tensors", "affine")
def _sum(p: Path) -> Path:
    return _model(p, [_n("MatMul", ["x", "W"], ["a"]), _n("Sum", ["x", "a", "c"], ["b"]), _n("Mean", ["b", "x"], ["y"])],
                  {"x": [1, 3]}, ["y"], [_init("W", _w(3, 3)), _init("c", _w(3))])


@case("ReduceSum_ReduceMean", "affine")
def _reduce(p: Path) -> Path:
    return _model(p, [_n("ReduceSum", ["x", "ax"], ["a"], keepdims=0), _n("ReduceMean", ["x"], ["b"], axes=[2], keepdims=0),
                      _n("Concat", ["a", "b"], ["y"], axis=1)],
                  {"x": [1, 2, 3]}, ["y"], [_init("ax", np.array([1], dtype=np.int64))])


@case("ReduceMax_ReduceMin", "vertex")
def _reducemax(p: Path) -> Path:
    return _model(p, [_n("ReduceMax", ["x"], ["a"], axes=[2], keepdims=1), _n("ReduceMin", ["x"], ["b"], axes=[1], keepdims=0),
                      _n("Flatten", ["a"], ["fa"]), _n("Concat", ["fa", "b"], ["y"], axis=1)],
                  {"x": [1, 2, 3]}, ["y"])


@case("Gemm_MatMul_BatchNorm", "affine")
def _gemm(p: Path) -> Path:
    return _model(p, [_n("Gemm", ["x", "W", "B"], ["a"], transB=1, alpha=0.5, beta=2.0), _n("Unsqueeze", ["a", "u"], ["au"]),
                      _n("BatchNormalization", ["au", "s", "bb", "mu", "var"], ["b"]), _n("Squeeze", ["b", "u"], ["c"]),
                      _n("MatMul", ["c", "W2"], ["y"])],
                  {"x": [1, 3]}, ["y"],
                  [_init("W", _w(4, 3)), _init("B", _w(4)), _init("u", np.array([2], dtype=np.int64)),
                   _init("s", _w(4)), _init("bb", _w(4)), _init("mu", _w(4)), _init("var", _w(4, positive=True)),
                   _init("W2", _w(4, 2))])


@case("Relu_LeakyRelu_PRelu", "vertex")
def _relus(p: Path) -> Path:
    return _model(p, [_n("Relu", ["x"], ["a"]), _n("LeakyRelu", ["x"], ["b"], alpha=0.2),
                      _n("PRelu", ["x", "sl"], ["c"]), _n("Concat", ["a", "b", "c"], ["y"], axis=1)],
                  {"x": [1, 3]}, ["y"], [_init("sl", np.array([0.1, 0.5, 2.0], np.float32))])


@case("Abs_Clip_HardSigmoid", "vertex")
def _abs(p: Path) -> Path:
    return _model(p, [_n("Abs", ["x"], ["a"]), _n("Clip", ["x", "lo", "hi"], ["b"]), _n("Clip", ["x", "", "hi"], ["c"]),
                      _n("HardSigmoid", ["x"], ["d"], alpha=0.9, beta=0.3), _n("Concat", ["a", "b", "c", "d"], ["y"], axis=1)],
                  {"x": [1, 3]}, ["y"], [_init("lo", np.float32(-0.5)), _init("hi", np.float32(0.25))])


@case("Max_Min", "vertex")
def _maxmin(p: Path) -> Path:
    return _model(p, [_n("Max", ["x", "z", "c"], ["a"]), _n("Min", ["x", "z"], ["b"]), _n("Concat", ["a", "b"], ["y"], axis=1)],
                  {"x": [1, 3], "z": [1, 1]}, ["y"], [_init("c", np.array([[0.1, -0.3, 0.0]], np.float32))])


@case("residual_skip", "vertex")
def _residual(p: Path) -> Path:
    """relu(W2 relu(W1 x)) + x with non-negative weights: monotone in every input."""
    return _model(p, [_n("MatMul", ["x", "W1"], ["a"]), _n("Relu", ["a"], ["b"]), _n("MatMul", ["b", "W2"], ["c"]),
                      _n("Relu", ["c"], ["d"]), _n("Add", ["d", "x"], ["y"])],
                  {"x": [1, 3]}, ["y"], [_init("W1", _w(3, 4, positive=True)), _init("W2", _w(4, 3, positive=True))])


@case("float16", "vertex")
def _f16(p: Path) -> Path:
    return _model(p, [_n("MatMul", ["x", "W"], ["a"]), _n("Relu", ["a"], ["y"])], {"x": [1, 3]}, ["y"],
                  [_init("W", _w(3, 2, positive=True).astype(np.float16))], elem=TensorProto.FLOAT16)


@case("float64", "affine")
def _f64(p: Path) -> Path:
    return _model(p, [_n("MatMul", ["x", "W"], ["a"]), _n("Pad", ["a", "pads"], ["y"])], {"x": [1, 3]}, ["y"],
                  [_init("W", RNG.normal(size=(3, 2))), _init("pads", np.array([0, 1, 0, 1], dtype=np.int64))],
                  elem=TensorProto.DOUBLE)


# -- helpers ------------------------------------------------------------------------------------


def _inputs(p: Path) -> int:
    sess = ort.InferenceSession(str(p), providers=["CPUExecutionProvider"])
    return sum(int(np.prod(i.shape)) for i in sess.get_inputs())


def _top(p: Path, kind: str, n: int) -> tuple[int, float, np.ndarray]:
    """``(j, max of Y_j over [-1, 1]^n, a maximiser)`` by construction (module docstring)."""
    if kind in ("affine", "relu-affine"):
        if kind == "relu-affine":  # read the affine map before the relu
            m = onnx.load(str(p))
            m.graph.node.pop()
            m.graph.node[-1].output[0] = m.graph.output[0].name
            q = p.with_name(p.stem + "_affine.onnx")
            onnx.save(m, str(q))
            j, top, arg = _top(q, "affine", n)
            return j, max(top, 0.0), arg
        y0 = onnx_forward(p, np.zeros(n), (n,))
        w = np.stack([onnx_forward(p, e, (n,)) - y0 for e in np.eye(n)])  # (n, outputs)
        tops = y0 + np.abs(w).sum(axis=0)
        j = int(np.argmax(tops - y0))  # the output that depends most on the input
        return j, float(tops[j]), np.sign(w[:, j])
    assert n <= 10, "vertex enumeration is for small inputs"
    ys = [(np.array(v), onnx_forward(p, np.array(v, dtype=np.float64), (n,)))
          for v in itertools.product([-1.0, 1.0], repeat=n)]
    values = np.array([y for _, y in ys])  # (vertices, outputs)
    j = int(np.argmax(values.max(axis=0) - values.min(axis=0)))  # the most input-dependent output
    k = int(np.argmax(values[:, j]))
    return j, float(values[k, j]), ys[k][0]


def _prop(n: int, m: int, j: int, t: float) -> Property:
    """``Y_j >= t`` over ``[-1, 1]^n``."""
    atom = Atom((), ((j, Fraction(1)),), -Fraction(t))
    return Property(n, m, (Disjunct((Fraction(-1),) * n, (Fraction(1),) * n, (atom,)),), "test")


# -- tests --------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(CASES))
def test_lowered_network_equals_onnxruntime(name: str, tmp_path: Path) -> None:
    kind, build = CASES[name]
    p = build(tmp_path / f"{name}.onnx")
    net = load_onnx(p)  # cross-checked on random inputs by the loader too
    tol = 2e-2 if name == "float16" else 1e-5
    for _ in range(20):
        x = RNG.uniform(-2, 2, size=net.n_inputs)
        if name == "float16":
            x = x.astype(np.float16).astype(np.float64)
        np.testing.assert_allclose(net.forward(x), onnx_forward(p, x, net.input_shape), rtol=tol, atol=tol)


@pytest.mark.parametrize("name", ["residual_skip", "Max_Min", "MaxPool", "GlobalMaxPool"])
def test_carries_are_exact_beyond_their_shift(name: str, tmp_path: Path) -> None:
    """Carried values ``relu(v + S) - relu(-v - S) - S`` are exact for every ``v``, also ``|v| > S``."""
    p = CASES[name][1](tmp_path / f"{name}.onnx")
    net = load_onnx(p)
    for scale in (1e3, 1e4):
        x = RNG.uniform(-scale, scale, size=net.n_inputs).astype(np.float32).astype(np.float64)
        np.testing.assert_allclose(net.forward(x), onnx_forward(p, x, net.input_shape), rtol=1e-6, atol=1e-6 * scale)


def test_maximum_of_inputs_is_proved_with_few_leaves(tmp_path: Path) -> None:
    """max(x_0, …, x_4) <= 1 on [-1, 1]^5: ``>= 1.1`` is unsat.  The carries are stable on the box, so
    the proof stays small (with ``relu(v) - relu(-v)`` carries it needed over 10^5 leaves)."""
    p = _model(tmp_path / "max5.onnx", [_n("GlobalMaxPool", ["x"], ["y"])], {"x": [1, 1, 1, 5]}, ["y"])
    net = load_onnx(p)
    res = verify(net, _prop(5, 1, 0, 1.1), onnx_path=p, timeout=60)
    assert res.status is Result.UNSAT and res.proof_report is not None and res.proof_report.valid
    assert res.stats["leaves"] < 20_000


def _with_relu(p: Path) -> Path:
    """The model with a Relu on its (single) output: an affine model gets a hidden layer, which the
    search over many inputs needs (it refuses a network without one); ``relu`` is monotone, so the
    maximum of an output stays at the same point (and is ``max(top, 0)``)."""
    m = onnx.load(str(p))
    out = m.graph.output[0].name
    for node in m.graph.node:
        node.output[:] = [o + "_pre" if o == out else o for o in node.output]
    m.graph.node.append(helper.make_node("Relu", [out + "_pre"], [out], name="relu_out"))
    q = p.with_name(p.stem + "_relu.onnx")
    onnx.save(m, str(q))
    return q


@pytest.mark.parametrize("name", sorted(CASES))
def test_sat_and_unsat_are_decided(name: str, tmp_path: Path) -> None:
    kind, build = CASES[name]
    p = build(tmp_path / f"{name}.onnx")
    if kind == "affine":
        p = _with_relu(p)
        kind = "relu-affine"
    net = load_onnx(p)
    n = _inputs(p)
    j, top, _ = _top(p, kind, n)
    margin = 0.05 * (1 + abs(top))
    single = len(ort.InferenceSession(str(p), providers=["CPUExecutionProvider"]).get_inputs()) == 1
    onnx_path = p if single and name != "float16" else None
    sat = verify(net, _prop(n, net.n_outputs, j, top - margin), onnx_path=onnx_path, timeout=30)
    assert sat.status is Result.SAT, (name, sat.message)
    assert sat.counterexample is not None and sat.counterexample[1][j] >= top - margin
    unsat = verify(net, _prop(n, net.n_outputs, j, top + margin), onnx_path=onnx_path, timeout=30)
    assert unsat.status is Result.UNSAT, (name, unsat.message)
    assert unsat.proof is not None or unsat.certificates


def test_every_claimed_operator_has_a_case() -> None:
    used = set()
    for kind, build in CASES.values():
        del kind
        import tempfile

        with tempfile.TemporaryDirectory() as d:
            m = onnx.load(str(build(Path(d) / "m.onnx")))
        used.update(node.op_type for node in m.graph.node)
    assert set(SUPPORTED_OPERATORS) - used == set()


# -- refusals -----------------------------------------------------------------------------------


@pytest.mark.parametrize("op", ["Softsign", "Exp"])  # (Sigmoid, Tanh, Sign, a final Softmax: read in chains)
def test_not_piecewise_linear_names_node_and_operator(op: str, tmp_path: Path) -> None:
    p = _model(tmp_path / "m.onnx", [_n("MatMul", ["x", "W"], ["a"]), _n(op, ["a"], ["y"])], {"x": [1, 2]}, ["y"],
               [_init("W", _w(2, 2))])
    with pytest.raises(ParseError) as e:
        load_onnx(p)
    msg = str(e.value)
    assert op in msg and f"{op.lower()}_y" in msg and "piecewise-linear" in msg and "Relu" in msg


def test_division_by_a_data_tensor_is_refused(tmp_path: Path) -> None:
    p = _model(tmp_path / "m.onnx", [_n("Relu", ["x"], ["a"]), _n("Div", ["x", "a"], ["y"])], {"x": [1, 2]}, ["y"])
    with pytest.raises(ParseError) as e:
        load_onnx(p)
    assert "Div" in str(e.value) and "not piecewise linear" in str(e.value)


def test_product_of_data_tensors_is_not_a_relu_network(tmp_path: Path) -> None:
    p = _model(tmp_path / "m.onnx", [_n("Relu", ["x"], ["a"]), _n("Mul", ["x", "a"], ["y"])], {"x": [1, 2]}, ["y"])
    with pytest.raises(ParseError) as e:
        load_onnx(p)
    assert "mul_y" in str(e.value) and "load_onnx_graph" in str(e.value)


def test_relu_after_a_product_names_the_node(tmp_path: Path) -> None:
    p = _model(tmp_path / "m.onnx", [_n("Mul", ["x", "x"], ["a"]), _n("Relu", ["a"], ["y"])], {"x": [1, 2]}, ["y"])
    with pytest.raises(ParseError) as e:
        load_onnx(p)
    assert "relu_y" in str(e.value) and "product of data tensors" in str(e.value)

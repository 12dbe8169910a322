"""Piecewise-constant operators in a chain: ``Sign``, comparisons with constants, ``Not``, ``Where`` with
constant branches, ``Cast``.

The test networks compare every input with a constant first, so that the output depends on the input only
through the pattern ``sign(x_i - c_i)``: over a box the network's values are its values on the grid
``{lo_i, c_i, hi_i}`` (exactly), and on the open orthants on ``{lo_i, hi_i}``.  Properties "y_0 >= t"
above the grid's maximum are unsat, below the orthants' maximum sat, by construction."""

from __future__ import annotations

import itertools
import json
from fractions import Fraction

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")
flint = pytest.importorskip("flint")

from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from sosrelax.certificate.proof_tree import ProofTree, check_proof_tree  # noqa: E402
from sosrelax.certificate.proof_tree.smooth import s_lines, step_bounds  # noqa: E402
from sosrelax.cli import main  # noqa: E402
from sosrelax.errors import ParseError  # noqa: E402
from sosrelax.nn.onnx_loader import load_onnx, onnx_forward  # noqa: E402
from sosrelax.nn.verify import Result, verify  # noqa: E402
from sosrelax.nn.vnnlib import Atom, Disjunct, Property  # noqa: E402
from sosrelax.nn.witness import confirm_counterexample, interval_forward  # noqa: E402


def _model(path, nodes, inits, n_in: int, n_out: int) -> None:
    g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, n_in])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, n_out])],
                          [numpy_helper.from_array(np.asarray(v, np.float32), k) for k, v in inits.items()])
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)]), str(path))


def _sign_net(path, n_in: int, seed: int) -> np.ndarray:
    """x -> Sign(x - c) -> Gemm -> Relu -> Gemm -> Sign -> Gemm (2 outputs); returns c."""
    rng = np.random.default_rng(seed)
    c = rng.uniform(-0.5, 0.5, n_in).astype(np.float32)
    inits = {"c": c, "W1": rng.normal(0, 1, (8, n_in)), "b1": rng.normal(0, 0.3, 8), "W2": rng.normal(0, 1, (6, 8)),
             "b2": rng.normal(0, 0.3, 6), "W3": rng.normal(0, 1, (2, 6)), "b3": np.zeros(2)}
    n = helper.make_node
    nodes = [n("Sub", ["x", "c"], ["d"], name="sub"), n("Sign", ["d"], ["s"], name="sign"),
             n("Gemm", ["s", "W1", "b1"], ["z1"], transB=1), n("Relu", ["z1"], ["h1"]),
             n("Gemm", ["h1", "W2", "b2"], ["z2"], transB=1), n("Sign", ["z2"], ["s2"], name="sign2"),
             n("Gemm", ["s2", "W3", "b3"], ["y"], transB=1)]
    _model(path, nodes, inits, n_in, 2)
    return c


def _where_net(path, n_in: int, seed: int) -> np.ndarray:
    """x -> Where(Greater(x, c), a, b) -> Gemm (2 outputs); returns c."""
    rng = np.random.default_rng(seed)
    c = rng.uniform(-0.5, 0.5, n_in).astype(np.float32)
    inits = {"c": c, "a": rng.normal(0, 1, n_in), "b": rng.normal(0, 1, n_in), "W1": rng.normal(0, 1, (2, n_in)),
             "b1": rng.normal(0, 0.3, 2)}
    n = helper.make_node
    nodes = [n("Greater", ["x", "c"], ["g"]), n("Where", ["g", "a", "b"], ["w"]),
             n("Gemm", ["w", "W1", "b1"], ["y"], transB=1)]
    _model(path, nodes, inits, n_in, 2)
    return c


def _compare_net(path, n_in: int, seed: int) -> np.ndarray:
    """x -> Less(c, x) -> Cast -> Gemm -> LessOrEqual(0.1, .) -> Cast -> MatMul -> Equal(., 0) -> Not -> Cast ->
    Gemm (2 outputs; its weights W3 >= 0 on y_0): every other comparison form once; returns c."""
    rng = np.random.default_rng(seed)
    c = rng.uniform(-0.5, 0.5, n_in).astype(np.float32)
    inits = {"c": c, "W1": rng.normal(0, 1, (8, n_in)), "b1": rng.normal(0, 0.3, 8), "t": np.float32(0.1),
             "W2T": rng.normal(0, 1, (8, 6)), "z0": np.zeros(6, np.float32),
             "W3": np.vstack([rng.uniform(0, 1, (1, 6)), rng.normal(0, 1, (1, 6))]), "b3": np.zeros(2)}
    n = helper.make_node
    nodes = [n("Less", ["c", "x"], ["g"]), n("Cast", ["g"], ["f0"], to=1),
             n("Gemm", ["f0", "W1", "b1"], ["z1"], transB=1), n("LessOrEqual", ["t", "z1"], ["le"]),
             n("Cast", ["le"], ["f1"], to=1), n("MatMul", ["f1", "W2T"], ["z2"]),
             n("Equal", ["z2", "z0"], ["e"]), n("Not", ["e"], ["ne"]), n("Cast", ["ne"], ["f2"], to=1),
             n("Gemm", ["f2", "W3", "b3"], ["y"], transB=1)]
    _model(path, nodes, inits, n_in, 2)
    return c


def _tops(net, c: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> tuple[float, float]:
    """The maximum of y_0 over the box (grid {lo, c, hi}) and over its open orthants (grid {lo, hi})."""
    def axes(points: tuple[tuple[float, ...], ...]) -> np.ndarray:  # each coordinate's distinct values in the box
        return np.array(list(itertools.product(*(sorted({v for v in p if a <= v <= b})
                                                 for p, a, b in zip(points, lo, hi, strict=True)))))

    grid = axes(tuple(zip(lo, c, hi, strict=True)))
    corners = axes(tuple(zip(lo, hi, strict=True)))
    return float(net.forward(grid)[:, 0].max()), float(net.forward(corners)[:, 0].max())


@pytest.mark.parametrize("build", [_sign_net, _where_net, _compare_net])
def test_forward_pass_agrees_with_onnxruntime_at_the_thresholds(tmp_path, build) -> None:
    path = tmp_path / "m.onnx"
    c = build(path, 4, 1)
    net = load_onnx(path)
    assert not net.all_relu and set(net.hidden_activations) <= {"relu", "sign", "step", "eq"}
    lo, hi = c - 0.25, c + 0.25
    for x in itertools.product(*zip(lo, c, hi, strict=True)):
        x = np.array(x, np.float64)
        y = net.forward(x)
        assert np.allclose(y, onnx_forward(path, x, net.input_shape), atol=1e-5)
        balls = interval_forward(net, [Fraction(float(v)) for v in x])  # at the thresholds: exact zeros
        assert all(float(b.rad()) < 1e-9 and abs(float(b.mid()) - v) < 1e-9 for b, v in zip(balls, y, strict=True))


@pytest.mark.parametrize("build,n_in,active,exact", [
    (_sign_net, 5, 5, True), (_where_net, 5, 5, True), (_compare_net, 5, 5, False),
    (_sign_net, 20, 3, False), (_where_net, 20, 3, True), (_compare_net, 20, 3, False)])
def test_sat_and_unsat_by_construction(tmp_path, build, n_in, active, exact) -> None:
    """Inputs beyond the first ``active`` ones are fixed (a flat box); more than 16 inputs take the neuron
    splitting search.  The unsat threshold is the grid maximum plus 0.01 (``exact``), or else the range of the
    last step layer plus 0.01: bounds that treat each step alone lose the correlations of steps behind
    other steps, and closed boxes never separate a threshold from the points beside it (``y_0 <= Σ_j
    |W3_0j|`` for ``-1 <= sign <= 1``, ``Σ_j W3_0j`` with ``W3_0 >= 0`` for ``0 <= f2 <= 1``)."""
    path = tmp_path / "m.onnx"
    c = build(path, n_in, 7 + n_in).astype(np.float64)
    net = load_onnx(path)
    lo, hi = c - 0.25, c + 0.25
    lo[active:] = hi[active:] = c[active:] + 0.125  # fixed: one side of the threshold
    top, top_open = _tops(net, c, lo, hi)
    if not exact:  # the model's own last weights (the IR's last layer may have a Not folded in)
        w3 = next(numpy_helper.to_array(t) for t in onnx.load(str(path)).graph.initializer if t.name == "W3")
        top = float(np.abs(w3[0].astype(np.float64)).sum())
    box = (tuple(Fraction(v) for v in lo), tuple(Fraction(v) for v in hi))
    for t, want in ((top + 0.01, Result.UNSAT), (top_open - 0.01, Result.SAT)):
        d = Disjunct(*box, (Atom((), ((0, Fraction(1)),), -Fraction(t)),))
        res = verify(net, Property(n_in, 2, (d,)), onnx_path=path, timeout=60)
        assert res.status is want, (t, top, top_open, res.message)
        if want is Result.UNSAT:
            tree = ProofTree.from_json(res.proof.to_json())
            assert check_proof_tree(tree, network=net).valid
            weak = json.loads(res.proof.to_json())  # the claim moved below the true maximum: rejected
            weak["disjuncts"][0]["atoms"][0]["const"] = str(-Fraction(top_open - 0.01))
            assert not check_proof_tree(ProofTree.from_dict(weak), network=net).valid
        else:
            x, _ = res.counterexample
            assert net.forward(np.array(x))[0] >= t and onnx_forward(path, np.array(x), net.input_shape)[0] >= t - 1e-5


def test_checker_step_lines_are_the_extreme_values() -> None:
    """Brute force: on [l, u] (ends, 0 when inside, samples) every value lies in [ylo, yhi] and both are hit."""
    rng = np.random.default_rng(3)
    ls = np.concatenate([rng.normal(0, 1, 300), [0.0, 0.0, -1.0, 0.0]])
    us = np.concatenate([ls[:300] + np.abs(rng.normal(0, 1, 300)) * rng.choice([0.0, 1.0], 300), [0.0, 1.0, 0.0, 2.0]])
    f = {"sign": np.sign, "step": lambda z: (z > 0) * 1.0, "eq": lambda z: (z == 0) * 1.0}
    for kind, fn in f.items():
        A, TL, S, TU, ylo, yhi = s_lines(kind, ls, us)
        assert np.all(A == 0) and np.all(S == 0) and np.array_equal(TL, ylo) and np.array_equal(TU, yhi)
        for l, u, a, b in zip(ls, us, ylo, yhi, strict=True):
            z = np.concatenate([[l, u], rng.uniform(l, u, 20), [0.0] if l <= 0 <= u else []])
            v = fn(z)
            assert v.min() == a and v.max() == b, (kind, l, u)
        assert step_bounds(kind, ls, us)[0].shape == ls.shape


def test_witness_at_the_threshold(tmp_path) -> None:
    """Exactly at the thresholds the pre-activations are exact zeros in ball arithmetic and the steps take
    their values there (sign(0) = 0): the point is a witness of y_0 >= y_0(c), not of y_0 >= y_0(c) + 1e-9."""
    path = tmp_path / "m.onnx"
    c = _sign_net(path, 2, 4).astype(np.float64)
    net = load_onnx(path)
    y = net.forward(c)
    box = (tuple(Fraction(v) for v in c), tuple(Fraction(v) for v in c))
    for t, ok in ((Fraction(float(y[0])), True), (Fraction(float(y[0])) + Fraction(1, 10**9), False)):
        d = Disjunct(*box, (Atom((), ((0, Fraction(1)),), -t),))
        assert (confirm_counterexample(net, d, c, path) is not None) is ok


def test_refusals_name_the_node(tmp_path) -> None:
    n = helper.make_node
    # a data tensor in a branch of Where: a product of data tensors
    nodes = [n("Greater", ["x", "c"], ["g"]), n("Where", ["g", "x", "b"], ["y"], name="wh")]
    _model(tmp_path / "w.onnx", nodes, {"c": np.zeros(2), "b": np.zeros(2)}, 2, 2)
    with pytest.raises(ParseError, match="wh"):
        load_onnx(tmp_path / "w.onnx")
    # Cast to an integer type: infinitely many pieces
    nodes = [n("Cast", ["x"], ["i"], to=7, name="ci"), n("Cast", ["i"], ["y"], to=1)]
    _model(tmp_path / "c.onnx", nodes, {}, 2, 2)
    with pytest.raises(ParseError, match="ci"):
        load_onnx(tmp_path / "c.onnx")
    # off a chain (a skip connection): the graph lowering names the node
    nodes = [n("Sign", ["x"], ["s"], name="sg"), n("Add", ["s", "x"], ["y"])]
    _model(tmp_path / "s.onnx", nodes, {}, 2, 2)
    with pytest.raises(ParseError, match="Sign of data is taken only in a model that is one chain"):
        load_onnx(tmp_path / "s.onnx")


def test_supports_lists_the_piecewise_constant_operators(capsys) -> None:
    assert main(["supports", "--onnx-operators"]) == 0
    ops = set(capsys.readouterr().out.split())
    assert {"Sign", "Equal", "Greater", "GreaterOrEqual", "Less", "LessOrEqual", "Not", "Where", "Cast"} <= ops

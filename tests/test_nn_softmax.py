"""A final Softmax: loading (axis rules of opset 13 and before), the forward pass in ball arithmetic, the
rigorous logarithm bounds of the translation to logits, and sat/unsat properties whose truth is known by
construction (comparisons of two outputs, bounds of one output), with few and with many inputs."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")
flint = pytest.importorskip("flint")

from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from sosrelax.certificate.proof_tree import ProofTree, check_proof_tree  # noqa: E402
from sosrelax.cli import main  # noqa: E402
from sosrelax.errors import InvalidValueError, ParseError  # noqa: E402
from sosrelax.nn.onnx_loader import load_onnx, onnx_forward  # noqa: E402
from sosrelax.nn.softmax import log_bound, logit_property  # noqa: E402
from sosrelax.nn.verify import Result, verify  # noqa: E402
from sosrelax.nn.vnnlib import Atom, Disjunct, Property  # noqa: E402
from sosrelax.nn.witness import interval_forward  # noqa: E402


def _save(path, ws, bs, act: str = "Relu", *, opset: int = 13, axis: int | None = None,
          out_shape: list[int] | None = None, after: str | None = None) -> None:
    inits, nodes, cur = [], [], "x"
    for k, (w, b) in enumerate(zip(ws, bs, strict=True)):
        inits += [numpy_helper.from_array(w.astype(np.float32), f"w{k}"),
                  numpy_helper.from_array(b.astype(np.float32), f"b{k}")]
        nodes.append(helper.make_node("Gemm", [cur, f"w{k}", f"b{k}"], [f"z{k}"], transB=1, name=f"fc{k}"))
        cur = f"z{k}"
        if k < len(ws) - 1:
            nodes.append(helper.make_node(act, [cur], [f"h{k}"], name=f"act{k}"))
            cur = f"h{k}"
    n_out = ws[-1].shape[0]
    if out_shape is not None:
        inits.append(numpy_helper.from_array(np.array(out_shape, np.int64), "shape"))
        nodes.append(helper.make_node("Reshape", [cur, "shape"], ["r"], name="reshape"))
        cur = "r"
    kw = {} if axis is None else {"axis": axis}
    nodes.append(helper.make_node("Softmax", [cur], ["p"], name="softmax", **kw))
    cur = "p"
    if after is not None:
        nodes.append(helper.make_node(after, [cur], ["q"], name="after"))
        cur = "q"
    nodes[-1].output[0] = "y"
    shape = out_shape or [1, n_out]
    g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, ws[0].shape[1]])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, shape)], inits)
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)]), str(path))


def _monotone(n_in: int, n_out: int, seed: int) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """z_0 increasing in x, every other logit decreasing: p_0 increases in every input (largest at the upper
    corner of a box, smallest at the lower one)."""
    rng = np.random.default_rng(seed)
    w1 = rng.uniform(0.0, 1.0, (8, n_in))
    w2 = np.vstack([rng.uniform(0.2, 1.0, (1, 8)), -rng.uniform(0.0, 1.0, (n_out - 1, 8))])
    ws = [w.astype(np.float32) for w in (w1, w2)]
    bs = [rng.uniform(-0.5, 0.5, 8).astype(np.float32), rng.uniform(-0.5, 0.5, n_out).astype(np.float32)]
    return ws, bs


def test_loader_reads_a_final_softmax_and_refuses_others(tmp_path) -> None:
    ws, bs = _monotone(3, 4, 0)
    for opset, axis in ((13, None), (13, 1), (11, None), (11, 1)):
        p = tmp_path / f"s{opset}_{axis}.onnx"
        _save(p, ws, bs, opset=opset, axis=axis)
        net = load_onnx(p)  # cross-checked against onnxruntime (softmax included)
        assert net.output_softmax and not net.float32_layers and "softmax" in repr(net)
        x = np.random.default_rng(1).uniform(-1, 1, (20, 3))
        y = net.forward(x)
        assert np.allclose(y.sum(axis=1), 1.0) and np.allclose(net.logits().forward(x).argmax(1), y.argmax(1))
        ball = interval_forward(net, [Fraction(float(v)) for v in x[0]])
        assert all(abs(float(b.mid()) - v) <= 1e-12 + float(b.rad()) for b, v in zip(ball, y[0], strict=True))
        with pytest.raises(InvalidValueError, match="no exact rational value"):
            net.forward_exact([0, 0, 0])
    # over a part of the output (opset 13, the last axis of (1, 2, 2)) and an operator after it
    bad = tmp_path / "part.onnx"
    _save(bad, ws, bs, out_shape=[1, 2, 2])
    with pytest.raises(ParseError, match="Softmax is taken only as the last operator"):
        load_onnx(bad)
    after = tmp_path / "after.onnx"
    _save(after, ws, bs, after="Relu")
    with pytest.raises(ParseError, match="Softmax is taken only as the last operator"):
        load_onnx(after)


def test_log_bounds_hold_in_ball_arithmetic() -> None:
    rng = np.random.default_rng(2)
    old = flint.ctx.prec
    flint.ctx.prec = 200
    try:
        for _ in range(300):
            r = Fraction(int(rng.integers(1, 10**6)), int(rng.integers(1, 10**6)))
            lo, hi = log_bound(r, "below"), log_bound(r, "above")
            exact = flint.arb(flint.fmpq(r.numerator, r.denominator))
            assert flint.arb(lo).exp() < exact < flint.arb(hi).exp()
            assert hi - lo < 1e-9 * (1 + abs(lo))
    finally:
        flint.ctx.prec = old


def _box(x0: np.ndarray, eps: float) -> tuple[tuple[Fraction, ...], tuple[Fraction, ...]]:
    return (tuple(Fraction(float(v)) - Fraction(eps) for v in x0), tuple(Fraction(float(v)) + Fraction(eps) for v in x0))


def _p0(net, x) -> float:
    (b, *_) = interval_forward(net, [Fraction(float(v)) for v in x])
    assert float(b.rad()) < 1e-12
    return float(b.mid())


@pytest.mark.parametrize("n_in,n_out,act", [(3, 2, "Relu"), (3, 4, "Relu"), (24, 3, "Sigmoid")])
def test_bounds_of_one_output_by_construction(tmp_path, n_in, n_out, act) -> None:
    """p_0 >= t and p_0 <= t on a box: the extreme values are at its corners (monotone network)."""
    path = tmp_path / "m.onnx"
    _save(path, *_monotone(n_in, n_out, n_in + n_out), act=act)
    net = load_onnx(path)
    x0 = np.full(n_in, 0.25)
    eps = 0.25
    lo, hi = _box(x0, eps)
    top, bottom = _p0(net, x0 + eps), _p0(net, x0 - eps)
    z_top = net.logits().forward(x0 + eps)
    z_bot = net.logits().forward(x0 - eps)
    gap_top = float(np.min(z_top[0] - z_top[1:]))  # p_0 >= t is implied-refuted above sigmoid(gap_top)
    gap_bot = float(np.max(z_bot[1:] - z_bot[0]))
    sig = 1 / (1 + np.exp(-np.array([gap_top + 0.5, gap_top - np.log(n_out - 1) - 0.05])))
    cases = [  # (coefficient of p_0, threshold, expected): coefficient 1: p_0 >= t, -1: p_0 <= t
        (1, float(sig[0]), Result.UNSAT), (1, float(sig[1]), Result.SAT),
        (1, 1.0, Result.UNSAT), (-1, 0.0, Result.UNSAT),
    ]
    if n_out == 2:  # exact thresholds: the translation loses nothing with two outputs
        cases += [(1, top + 0.01, Result.UNSAT), (1, top - 0.01, Result.SAT),
                  (-1, bottom - 0.01, Result.UNSAT), (-1, bottom + 0.01, Result.SAT)]
    else:
        q = 1 / (1 + np.exp(np.array([gap_bot + 0.5 + np.log(n_out - 1), gap_bot - 0.05])))
        cases += [(-1, float(q[0]), Result.UNSAT), (-1, float(q[1]), Result.SAT)]
    assert top - 0.01 > 0 and bottom + 0.01 < 1
    for coef, t, want in cases:
        tq = Fraction(t)
        atom = Atom((), ((0, Fraction(coef)),), -coef * tq)
        prop = Property(n_in, n_out, (Disjunct(lo, hi, (atom,)),))
        res = verify(net, prop, onnx_path=path, timeout=60)
        assert res.status is want, (coef, t, res.message)
        if want is Result.SAT:
            x, y = res.counterexample
            assert all(float(a) <= v <= float(b) for a, v, b in zip(lo, x, hi, strict=True))
            p = _p0(net, np.array(x))
            assert (p >= t if coef > 0 else p <= t) and abs(y[0] - p) < 1e-9
            assert abs(onnx_forward(path, np.array(x), net.input_shape)[0] - p) < 1e-5
        elif t not in (0.0, 1.0):
            tree = ProofTree.from_json(res.proof.to_json())
            assert check_proof_tree(tree, network=net.logits()).valid
        assert (p0_holds := (top >= t if coef > 0 else bottom <= t)) == (want is Result.SAT), p0_holds


@pytest.mark.parametrize("n_in,act", [(4, "Relu"), (30, "Tanh")])
def test_comparisons_of_two_outputs_are_comparisons_of_logits(tmp_path, n_in, act) -> None:
    """Robustness of the label: unsat at a radius interval arithmetic proves (computed here), sat at a radius
    whose box holds a point of another label (bisection)."""
    rng = np.random.default_rng(n_in)
    ws = [rng.normal(0, 1.5 / np.sqrt(n_in), (12, n_in)), rng.normal(0, 0.6, (5, 12))]
    bs = [rng.normal(0, 0.3, 12), rng.normal(0, 0.3, 5)]
    path = tmp_path / "c.onnx"
    _save(path, [w.astype(np.float32) for w in ws], [b.astype(np.float32) for b in bs], act=act)
    net = load_onnx(path)
    logit = net.logits()
    x0 = rng.uniform(-0.5, 0.5, n_in)
    label = int(np.argmax(net.forward(x0)))

    def prop(eps: float) -> Property:
        lo, hi = _box(x0, eps)
        return Property(n_in, 5, tuple(Disjunct(lo, hi, (Atom((), ((j, Fraction(1)), (label, Fraction(-1))),
                                                               Fraction(0)),)) for j in range(5) if j != label))

    def interval_margin(eps: float) -> float:
        lo, hi = x0 - eps, x0 + eps
        for k, (w, b) in enumerate(zip(logit.weights, logit.biases, strict=True)):
            c, r = w @ (0.5 * (lo + hi)) + b, np.abs(w) @ (0.5 * (hi - lo))
            lo, hi = c - r, c + r
            if k == 0:
                lo, hi = (np.maximum(lo, 0), np.maximum(hi, 0)) if act == "Relu" else (np.tanh(lo), np.tanh(hi))
        return float(lo[label] - np.delete(hi, label).max())

    eps = next(e for e in 0.1 * 0.5 ** np.arange(30) if interval_margin(e) > 1e-6)
    res = verify(net, prop(eps), onnx_path=path, timeout=60)
    assert res.status is Result.UNSAT, res.message
    assert check_proof_tree(ProofTree.from_json(res.proof.to_json()), network=logit).valid
    far = next(x for x in rng.uniform(-4, 4, (500, n_in)) if int(np.argmax(net.forward(x))) != label)
    a, b = 0.0, 1.0
    for _ in range(40):
        mid = 0.5 * (a + b)
        a, b = (mid, b) if int(np.argmax(net.forward(x0 + mid * (far - x0)))) == label else (a, mid)
    xf = x0 + min(1.0, b + 0.05 * (1 - b)) * (far - x0)
    res = verify(net, prop(float(np.max(np.abs(xf - x0))) * (1 + 1e-9)), onnx_path=path, timeout=60)
    assert res.status is Result.SAT, res.message
    x, y = res.counterexample
    assert np.argmax(y) != label or max(np.delete(np.array(y), label)) >= y[label] - 1e-12
    assert abs(sum(y) - 1) < 1e-9  # the witness's outputs are the softmax values


def test_translation_refuses_other_atoms_and_counts_disjuncts() -> None:
    box = ((Fraction(0),), (Fraction(1),))
    mixed = Atom(((0, Fraction(1)),), ((0, Fraction(1)),), Fraction(0))
    scaled = Atom((), ((0, Fraction(2)), (1, Fraction(-1))), Fraction(0))
    for a in (mixed, scaled):
        with pytest.raises(InvalidValueError, match="softmax outputs"):
            logit_property(Property(1, 3, (Disjunct(*box, (a,)),)), "implied")
    upper = Atom((), ((0, Fraction(-1)),), Fraction(1, 3))  # p_0 <= 1/3: some other logit is large
    two = Atom((), ((1, Fraction(1)), (2, Fraction(-1))), Fraction(0))  # p_1 >= p_2: exact
    p, exact = logit_property(Property(1, 3, (Disjunct(*box, (upper, two)),)), "implied")
    assert not exact and len(p.disjuncts) == 2 and all(two in d.atoms for d in p.disjuncts)
    p, exact = logit_property(Property(1, 3, (Disjunct(*box, (two,)),)), "sufficient")
    assert exact and p.disjuncts[0].atoms == (two,)


def test_supports_lists_softmax(capsys) -> None:
    assert main(["supports", "--onnx-operators"]) == 0
    ops = capsys.readouterr().out.split()
    assert {"Softmax", "Sigmoid", "Tanh"} <= set(ops) and ops == sorted(ops)


def test_only_the_implied_property_answers_unsat() -> None:
    """A search that cannot refute the implied property and refutes the sufficient one: unknown, not unsat
    (the sufficient property is stronger than the original one)."""
    from sosrelax.nn.ir import from_weights
    from sosrelax.nn.softmax import decide_softmax
    from sosrelax.nn.verify import VerifyResult

    net = from_weights([np.ones((2, 1)), np.eye(3, 2)])
    net = type(net)(net.weights, net.biases, output_softmax=True)
    box = ((Fraction(0),), (Fraction(1),))
    prop = Property(1, 3, (Disjunct(*box, (Atom((), ((0, Fraction(1)),), Fraction(-1, 2)),)),))  # p_0 >= 1/2
    seen = []

    def search(n, p, t):
        seen.append(p)
        status = Result.TIMEOUT if len(seen) == 1 else Result.UNSAT
        return VerifyResult(status, None, (), (), "stub")

    res = decide_softmax(net, prop, search, onnx_path=None, timeout=1.0)
    assert res.status is Result.UNKNOWN and len(seen) == 2
    assert seen[0] == logit_property(prop, "implied")[0] and seen[1] == logit_property(prop, "sufficient")[0]


def test_command_line_with_a_softmax_model(tmp_path, capsys) -> None:
    """`sosrelax verify` on a two-output softmax model: "p_1 >= p_0" is "z_1 >= z_0" (z_0 - z_1 increases in
    both inputs, so its extremes are at the box's corners); the proof file is re-checked by `sosrelax check`."""
    ws, bs = _monotone(2, 2, 5)
    path = tmp_path / "s.onnx"
    _save(path, ws, bs)
    net = load_onnx(path)
    z = net.logits().forward(np.array([[0.0, 0.0], [0.5, 0.5]]))
    d_lo, d_hi = z[0, 0] - z[0, 1], z[1, 0] - z[1, 1]  # the least and the largest z_0 - z_1 on [0, 0.5]^2
    head = "".join(f"(declare-const {v} Real)\n" for v in ("X_0", "X_1", "Y_0", "Y_1"))
    box = "(assert (>= X_0 0.0))\n(assert (<= X_0 0.5))\n(assert (>= X_1 0.0))\n(assert (<= X_1 0.5))\n"
    for claim, want in (("(assert (>= Y_1 Y_0))\n", "sat" if d_lo <= 0 else "unsat"),
                        ("(assert (>= Y_0 Y_1))\n", "sat" if d_hi >= 0 else "unsat")):
        spec = tmp_path / "p.vnnlib"
        spec.write_text(head + box + claim)
        proof = tmp_path / "proof.json"
        assert main(["verify", str(spec), "--network", f"f={path}", "--proof", str(proof)]) == 0
        assert capsys.readouterr().out.split("\n")[0] == want
        if want == "unsat":
            assert main(["check", str(proof), "--network", f"f={path}", "--property", str(spec)]) == 0
            assert "verified" in capsys.readouterr().out
    assert d_lo > 0 or d_hi < 0  # one of the two claims is unsat: both answers were exercised
    # a bound of one output (p_0 >= t above its maximum): the proof is over the implied logit property
    spec = tmp_path / "t.vnnlib"
    spec.write_text(head + box + f"(assert (>= Y_0 {1 / (1 + np.exp(-(d_hi + 0.5))):.9f}))\n")
    assert main(["verify", str(spec), "--network", f"f={path}", "--proof", str(proof)]) == 0
    assert capsys.readouterr().out.split("\n")[0] == "unsat"
    assert main(["check", str(proof), "--network", f"f={path}", "--property", str(spec)]) == 0
    assert "softmax" in capsys.readouterr().out
    # a proof about the logits, "z_0 - z_1 >= d_hi + 1" never holds, is no proof of the same atom over the
    # probabilities of the softmax model: the binding refuses it (not a comparison of two outputs)
    spec = tmp_path / "q.vnnlib"
    spec.write_text(head + box + f"(assert (>= (- Y_0 Y_1) {d_hi + 1:.6f}))\n")
    from sosrelax.nn.vnnlib import read_vnnlib

    res = verify(net.logits(), read_vnnlib(spec), timeout=30)
    assert res.status is Result.UNSAT
    proof = tmp_path / "logits.json"
    res.proof.save(proof)
    assert main(["check", str(proof), "--network", f"f={path}", "--property", str(spec)]) != 0
    capsys.readouterr()


def test_every_entry_that_works_on_logits_refuses_a_softmax_network() -> None:
    """A proof about the logits must never be reported about the probabilities: the encodings, the search,
    the robustness margins, latent claims and closed loops refuse a softmax output, naming it."""
    import sosrelax as sr
    from sosrelax.nn.encode import build_chain, build_reduced_chain
    from sosrelax.nn.ir import from_weights
    from sosrelax.nn.latent.claims import latent_network
    from sosrelax.nn.robustness import certify_point, milp_margin
    from sosrelax.nn.search.relu_bab import decide_wide
    from sosrelax.program.closedloop import encode_controller

    rng = np.random.default_rng(0)
    base = from_weights([rng.normal(size=(4, 2)), rng.normal(size=(3, 4))])
    net = type(base)(base.weights, base.biases, output_softmax=True)
    lo, hi = (Fraction(-1), Fraction(-1)), (Fraction(1), Fraction(1))
    prop = Property(2, 3, (Disjunct(lo, hi, (Atom((), ((0, Fraction(1)), (1, Fraction(-1))), Fraction(0)),)),))
    calls = [lambda: build_chain(net, lo, hi), lambda: build_reduced_chain(net, lo, hi),
             lambda: certify_point(net, (lo, hi), 0), lambda: milp_margin(net, (lo, hi), 0),
             lambda: decide_wide(net, prop, timeout=5)]
    x, y = sr.variables("x y")
    u = sr.variables("u0 u1 u2")
    calls.append(lambda: encode_controller(net, [x, y], list(u), [-1, -1], [1, 1]))
    for call in calls:
        with pytest.raises(InvalidValueError, match="softmax"):
            call()
    from sosrelax.nn.latent.envelope import KINDS, Envelope

    env = Envelope(KINDS[0], 0, "post", np.zeros(4), np.eye(4), -np.ones(4), np.ones(4))
    with pytest.raises(InvalidValueError, match="softmax"):
        latent_network(net, env)
    # the logits themselves are accepted, and verify decides the softmax network over them
    build_chain(net.logits(), lo, hi)
    assert verify(net, prop, timeout=20).status in (Result.SAT, Result.UNSAT)

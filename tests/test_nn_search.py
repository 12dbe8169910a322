"""The batched search: its answers against brute force, its proofs through the independent checker.

Tiny networks have a known truth (a dense grid of the 2-D input box, exact at the grid points); the
search must never answer ``unsat`` where a grid point triggers the catastrophe, its ``sat`` witnesses
must satisfy the property exactly, and every ``unsat`` must come with a proof tree the checker accepts.
On the shared VNN-COMP 2021 instances a handful of known verdicts are reproduced.
"""

from __future__ import annotations

import time
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from sosrelax.certificate.proof_tree import ProofTree, check_proof_tree
from sosrelax.errors import InvalidValueError
from sosrelax.nn import from_weights, verify
from sosrelax.nn.search.bounds import Arrays, final_bounds, intermediate_bounds
from sosrelax.nn.verify import Result
from sosrelax.nn.vnnlib import parse_vnnlib

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "vnncomp2021"


def _net(seed: int, sizes: tuple[int, ...] = (2, 12, 12, 2)):
    rng = np.random.default_rng(seed)
    return from_weights([rng.normal(0, 1 / np.sqrt(a), (b, a)) for a, b in zip(sizes, sizes[1:], strict=False)],
                        [rng.normal(0, 0.2, b) for b in sizes[1:]])


def _spec(t: float, *, second: str = "") -> str:
    text = ("(declare-const X_0 Real)\n(declare-const X_1 Real)\n(declare-const Y_0 Real)\n"
            "(declare-const Y_1 Real)\n(assert (>= X_0 -1))\n(assert (<= X_0 1))\n"
            "(assert (>= X_1 -0.5))\n(assert (<= X_1 1))\n")
    atom = f"(>= (- Y_0 Y_1) {t!r})"
    if second:
        return text + f"(assert (or (and {atom}) (and {second})))\n"
    return text + f"(assert {atom})\n"


def _grid_max(net, n: int = 401) -> float:
    g = np.stack(np.meshgrid(np.linspace(-1, 1, n), np.linspace(-0.5, 1, n)), -1).reshape(-1, 2)
    y = net.forward(g)
    return float(np.max(y[:, 0] - y[:, 1]))


@pytest.mark.parametrize("seed", range(6))
def test_answers_agree_with_the_grid(seed):
    net = _net(seed)
    top = _grid_max(net)
    for t, truth in ((top + 0.05, "unsat"), (top - 0.05, "sat")):
        prop = parse_vnnlib(_spec(t), source="t.vnnlib")
        res = verify(net, prop, timeout=30, semantics="real", rng=seed)
        assert res.status.value == truth, (t, top, res.message)
        if truth == "unsat":
            assert res.proof is not None and res.proof_report is not None and res.proof_report.valid
            # the proof re-checks on its own, from its JSON text, bound to the network
            assert check_proof_tree(res.proof.to_json(), network=net).valid
        else:
            x, y = res.counterexample
            xq = [Fraction(v) for v in x]
            yq = net.forward_exact(xq)
            assert prop.disjuncts[0].holds(xq, yq)


def test_disjuncts_over_one_box_share_the_search_and_each_gets_its_tree():
    net = _net(11)
    top = _grid_max(net)
    spec = _spec(top + 0.1, second=f"(>= (- Y_1 Y_0) {(-top + 10.0)!r})")  # both catastrophes impossible
    prop = parse_vnnlib(spec, source="two.vnnlib")
    assert len(prop.disjuncts) == 2
    res = verify(net, prop, timeout=30, semantics="real")
    assert res.status is Result.UNSAT and res.proof is not None
    assert len(res.proof.disjuncts) == 2 and res.proof_report.valid
    # the easy disjunct (Y_1 - Y_0 >= 10 - top) closes everywhere: its tree keeps the hard one's
    # splits, so that both trees' leaves are the same boxes (bounded once by the checker)
    splits = [[n for n in d.nodes if n[0] == "s"] for d in res.proof.disjuncts]
    assert splits[0] == splits[1]


def test_float32_semantics_costs_margin_and_needs_float32_layers():
    net = _net(3)
    top = _grid_max(net)
    prop = parse_vnnlib(_spec(top + 0.05), source="t.vnnlib")
    with pytest.raises(InvalidValueError, match="float32"):
        verify(net, prop, timeout=10, semantics="float32")  # float64 weights: not a float32 model
    w32 = [np.asarray(w, np.float32).astype(np.float64) for w in net.weights]
    b32 = [np.asarray(b, np.float32).astype(np.float64) for b in net.biases]
    from dataclasses import replace

    net32 = replace(from_weights(w32, b32), float32_layers=True)
    real = verify(net32, prop, timeout=30, semantics="real")
    f32 = verify(net32, prop, timeout=30, semantics="float32")
    assert real.status is Result.UNSAT and f32.status is Result.UNSAT and f32.semantics == "float32"
    # the same tree checked under both semantics: float32 subtracts its rounding terms
    tree = real.proof
    as_f32 = ProofTree(tree.layers, tree.input_shape, tree.disjuncts, semantics="float32")
    r_real, r_f32 = check_proof_tree(tree), check_proof_tree(as_f32)
    assert r_real.valid and r_f32.min_margin is not None and r_f32.min_margin < r_real.min_margin


def test_search_bounds_contain_sampled_activations():
    net = _net(5, (3, 16, 16, 16, 2))
    arr = Arrays.from_network(net)
    rng = np.random.default_rng(0)
    lo = rng.uniform(-1, 0, (64, 3))
    hi = lo + rng.uniform(0.01, 1, (64, 3))
    bnd = intermediate_bounds(arr, lo, hi)
    C = np.array([[1.0, -1.0], [-1.0, 0.0]])
    lb, _ = final_bounds(arr, bnd, lo, hi, C, np.zeros(2))
    for b in range(64):
        X = rng.uniform(lo[b], hi[b], (500, 3))
        zs = net.activations(X)
        for m in range(len(bnd.lower)):
            assert np.all(zs[m] >= bnd.lower[m][b] - 1e-9) and np.all(zs[m] <= bnd.upper[m][b] + 1e-9)
        assert np.all(zs[-1] @ C.T >= lb[b] - 1e-9)


def test_a_tampered_search_proof_is_rejected():
    net = _net(2)
    top = _grid_max(net)
    prop = parse_vnnlib(_spec(top + 0.05), source="t.vnnlib")
    res = verify(net, prop, timeout=30, semantics="real")
    assert res.status is Result.UNSAT
    d = res.proof.disjuncts[0]
    assert len(d.nodes) > 1, "the instance should need splits"
    from dataclasses import replace

    dropped = replace(d, nodes=d.nodes[:-1])  # a leaf dropped
    lower = replace(d, atoms=(replace(d.atoms[0], const=d.atoms[0].const + Fraction(1, 10)),))  # claim raised
    for bad in (dropped, lower):
        tree = ProofTree(res.proof.layers, res.proof.input_shape, (bad,))
        assert not check_proof_tree(tree).valid


def test_time_limit_is_kept_on_a_hard_instance():
    net = _net(9, (2, 64, 64, 64, 2))
    top = _grid_max(net, 201)
    prop = parse_vnnlib(_spec(top + 1e-3), source="t.vnnlib")  # nearly tight: many boxes
    t0 = time.perf_counter()
    res = verify(net, prop, timeout=2.0, semantics="real")
    took = time.perf_counter() - t0
    if res.status is Result.UNSAT:
        assert res.proof_report.valid
    assert took < 2.0 * 1.05 + 0.5, (took, res.status)


def _need_data():
    if not DATA.is_dir():
        pytest.skip("the shared VNN-COMP 2021 data is not present")


@pytest.mark.parametrize(("net_name", "prop_name", "truth"), [
    ("ACASXU_run2a_1_1_batch_2000.onnx", "prop_1.vnnlib", "unsat"),
    ("ACASXU_run2a_1_9_batch_2000.onnx", "prop_3.vnnlib", "sat"),
    ("ACASXU_run2a_2_1_batch_2000.onnx", "prop_2.vnnlib", "sat"),
    ("ACASXU_run2a_2_5_batch_2000.onnx", "prop_3.vnnlib", "unsat"),
])
def test_acas_instances(net_name, prop_name, truth, tmp_path):
    _need_data()
    from sosrelax.cli import main
    from sosrelax.nn import vnnlib_claims

    onnx = DATA / "acasxu" / net_name
    spec = DATA / "acasxu" / prop_name
    net, prop = vnnlib_claims(onnx, spec)
    res = verify(net, prop, onnx_path=onnx, timeout=60)
    assert res.status.value == truth, res.message
    if truth == "sat":
        import onnxruntime as ort

        x, _ = res.counterexample
        sess = ort.InferenceSession(str(onnx), providers=["CPUExecutionProvider"])
        y = sess.run(None, {sess.get_inputs()[0].name: np.array(x, np.float32).reshape(1, 1, 1, 5)})[0].ravel()
        assert any(all(float(a.value([Fraction(v) for v in x], [Fraction(float(v)) for v in y])) >= -1e-4
                       for a in d.atoms) for d in prop.disjuncts)
        return
    assert res.semantics == "float32" and res.proof_report.valid
    path = tmp_path / "proof.json"
    res.proof.save(path)
    assert main(["check", str(path), "--network", f"N={onnx}", "--property", str(spec)]) == 0
    other = DATA / "acasxu" / "prop_2.vnnlib"
    assert main(["check", str(path), "--property", str(other)]) == 1  # bound to another property


def test_float32_semantics_refuses_what_only_real_arithmetic_proves():
    """z = 2^24 x0 - 2^24 x1 + 0.5 at x0 = 1 + 2^-23, x1 = 1 is 2.5 exactly, but a float32 evaluation
    that adds the 0.5 before the cancellation returns 2 (the spacing of float32 at 2^24 is 2): the
    claim "z > 2.25" holds in real arithmetic and fails in that float32 execution."""
    from dataclasses import replace

    w1 = np.array([[2.0**24, -(2.0**24)]])
    net = replace(from_weights([w1, np.eye(1)], [np.array([0.5]), np.zeros(1)]), float32_layers=True)
    x0 = 1 + 2.0**-23
    spec = ("(declare-const X_0 Real)\n(declare-const X_1 Real)\n(declare-const Y_0 Real)\n"
            f"(assert (>= X_0 {x0!r}))\n(assert (<= X_0 {x0!r}))\n(assert (>= X_1 1))\n(assert (<= X_1 1))\n"
            "(assert (<= Y_0 2.25))\n")
    prop = parse_vnnlib(spec, source="f32.vnnlib")
    # the float32 execution that violates the claim
    acc = np.float32(2.0**24) * np.float32(x0) + np.float32(0.5)
    assert float(acc - np.float32(2.0**24)) == 2.0
    real = verify(net, prop, timeout=10, semantics="real")
    f32 = verify(net, prop, timeout=10, semantics="float32")
    assert real.status is Result.UNSAT and real.proof_report.valid
    assert f32.status is not Result.UNSAT  # no proof covers the float32 execution
    # the real proof, restated for the float32 semantics, is rejected by the checker
    as_f32 = ProofTree(real.proof.layers, real.proof.input_shape, real.proof.disjuncts, semantics="float32")
    assert not check_proof_tree(as_f32).valid


def test_both_cores_search_and_check_give_the_same_answers(monkeypatch):
    """The box split into four pieces searched by two processes: the merged tree is a valid proof;
    the checker bounding its chunks on two processes reproduces the one-process bounds bit for bit."""
    import sosrelax.certificate.proof_tree.check as checker
    from sosrelax.certificate.proof_tree import check_leaves
    from sosrelax.nn.search.bab import Goal
    from sosrelax.nn.search.driver import _disjunct_proof, atom_arrays
    from sosrelax.nn.search.parallel import search_box_parallel
    from sosrelax.nn.witness import Witnesses

    net = _net(4, (2, 24, 24, 2))
    top = _grid_max(net)
    prop = parse_vnnlib(_spec(top + 0.01), source="t.vnnlib")
    d = prop.disjuncts[0]
    goal = Goal(*atom_arrays(d.atoms, 2, 2))
    lo = np.array([float(v) for v in d.lo])
    hi = np.array([float(v) for v in d.hi])
    out = search_box_parallel(Arrays.from_network(net), lo, hi, [goal], deadline=time.perf_counter() + 60,
                              seed=0, witnesses=Witnesses(net, [d], None))
    assert out.status == "unsat" and out.nodes is not None
    tree = ProofTree(tuple(zip(net.weights, net.biases, strict=True)), net.input_shape,
                     (_disjunct_proof(d, out.nodes[0]),))
    assert check_proof_tree(tree).valid
    monkeypatch.setattr(checker, "PARALLEL_FROM", 1)
    monkeypatch.setattr(checker, "_BATCH_ELEMENTS", 2 * 24 * 24 * 8)  # chunks of 8 leaves
    two = check_leaves(tree)[0].bound
    monkeypatch.setattr(checker, "CHECK_WORKERS", 1)
    one = check_leaves(tree)[0].bound
    assert two.size > 16 and np.array_equal(one, two)


def test_verify_never_answers_without_its_evidence(monkeypatch):
    """A search answer without its evidence (sat without a confirmed witness, unsat without an accepted
    proof) is reported as unknown."""
    import sosrelax.nn.search as search
    from sosrelax.nn.search.driver import SearchResult

    net = _net(1)
    prop = parse_vnnlib(_spec(0.0), source="t.vnnlib")
    for fake in (SearchResult("sat"), SearchResult("unsat")):
        monkeypatch.setattr(search, "decide", lambda *a, _f=fake, **k: _f)
        assert verify(net, prop, timeout=5, semantics="real").status is Result.UNKNOWN

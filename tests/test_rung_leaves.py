"""The hierarchy inside the search: leaves closed by certified LP / SDP rungs, and their checking.

A rung leaf's certificate must be about the exact encoding of the network over the leaf's box (the
checker rebuilds it), its objective must be the leaf's atom combination, and the exact checker must
accept it; the tampered files of ``proofs/invalid/proof_tree/rung_*`` are rejected by
``tests/test_proof_tree.py``.
"""

from __future__ import annotations

import importlib.util
import json
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from sosrelax.certificate.proof_tree import ProofTree, check_leaves, check_proof_tree
from sosrelax.nn import from_weights, verify
from sosrelax.nn.vnnlib import parse_vnnlib

ROOT = Path(__file__).resolve().parents[1]
GOLDEN = ROOT / "proofs" / "proof_tree" / "rung" / "tiny_relu_rung_leaves.json"


def _script() -> Any:
    path = GOLDEN.parent / "make_golden.py"
    spec = importlib.util.spec_from_file_location("make_rung_golden", path)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _layers() -> tuple[tuple[np.ndarray, np.ndarray], ...]:
    return _script()._base().network()  # type: ignore[no-any-return]


def _forward(layers: Any, x: np.ndarray) -> np.ndarray:
    z = x
    for k, (w, b) in enumerate(layers):
        z = z @ w.T + b
        if k < len(layers) - 1:
            z = np.maximum(z, 0.0)
    return z


def test_golden_rung_tree_verifies_and_is_canonical() -> None:
    rep = check_proof_tree(GOLDEN)
    assert rep.valid, rep.reason
    assert (rep.disjuncts, rep.leaves) == (2, 3)
    tree = ProofTree.load(GOLDEN)
    kinds = [nd[0] for d in tree.disjuncts for nd in d.nodes]
    assert kinds.count("c") == 3 and "l" not in kinds
    assert json.loads(GOLDEN.read_text())["version"] == 2  # rung leaves need version 2
    assert tree.to_json() == GOLDEN.read_text()


def test_rung_leaf_margins_are_below_the_true_minimum() -> None:
    """Brute force: each leaf's rigorous margin is a lower bound of sum_k lambda_k (-atom_k) on its box."""
    tree = ProofTree.load(GOLDEN)
    layers = _layers()
    g = np.linspace(-1.0, 1.0, 401)
    pts = np.stack(np.meshgrid(g, g), -1).reshape(-1, 2)
    y = _forward(layers, pts)
    for lb in check_leaves(GOLDEN):
        dis = tree.disjuncts[lb.disjunct]
        boxes = [([-1.0, -1.0], [0.0, 1.0]), ([0.0, -1.0], [1.0, 1.0])] if len(dis.nodes) == 3 else [([-1.0] * 2, [1.0] * 2)]
        leaves = [nd for nd in dis.nodes if nd[0] == "c"]
        for (lo, hi), nd, margin in zip(boxes, leaves, lb.bound, strict=True):
            inside = np.all((pts >= lo) & (pts <= hi), axis=1)
            val = sum(lam * -(sum(float(c) * y[inside, j] for j, c in a.y) + float(a.const))
                      for lam, a in zip(nd[1], dis.atoms, strict=True))
            assert 0 < margin <= np.min(val) + 1e-9


def test_the_sdp_rung_closes_a_box_the_lp_rung_does_not() -> None:
    """y0 >= 9 on [-1, 1]^2: the SDP leaf proves it on the whole box, the LP rung cannot."""
    import time

    from sosrelax.nn.search.rung_leaves import RungLeaves
    from sosrelax.nn.vnnlib_common import Atom, Disjunct

    layers = _layers()
    net = from_weights([w for w, _ in layers], [b for _, b in layers])
    atoms = (Atom((), ((0, Fraction(1)),), Fraction(-9)), Atom((), ((1, Fraction(1)),), Fraction(100)))
    d = Disjunct((Fraction(-1),) * 2, (Fraction(1),) * 2, atoms)
    box = (np.array([-1.0, -1.0]), np.array([1.0, 1.0]))
    assert RungLeaves(net, [d], "real", ("lp",), [box])(0, *box, time.perf_counter() + 30) is None
    leaf = RungLeaves(net, [d], "real", ("sdp",), [box])(0, *box, time.perf_counter() + 30)
    assert leaf is not None and leaf.rung == "sdp"
    # float32 semantics: the search makes no rung leaves (the deviation margin is too loose)
    assert RungLeaves(net, [d], "float32", ("lp", "sdp"), [box])(0, *box, time.perf_counter() + 30) is None


def _spec(t: float) -> str:
    return ("(declare-const X_0 Real)\n(declare-const X_1 Real)\n(declare-const Y_0 Real)\n"
            "(declare-const Y_1 Real)\n(assert (>= X_0 -1))\n(assert (<= X_0 1))\n"
            "(assert (>= X_1 -1))\n(assert (<= X_1 1))\n"
            f"(assert (>= Y_0 {t!r}))\n(assert (>= (+ Y_1 100.0) 0.0))\n")


@pytest.mark.parametrize(("rungs", "least"), [(("lp",), 0), (("lp", "sdp"), 1)])
def test_search_with_leaf_rungs_agrees_with_the_grid(rungs: tuple[str, ...], least: int) -> None:
    """The SDP rung closes the root box (the first open box the rungs see); the LP rung may leave
    everything to the linear bounds."""
    layers = _layers()
    net = from_weights([w for w, _ in layers], [b for _, b in layers])
    g = np.linspace(-1.0, 1.0, 801)
    top = float(np.max(_forward(layers, np.stack(np.meshgrid(g, g), -1).reshape(-1, 2))[:, 0]))
    lip = np.prod([np.abs(w).sum(axis=1).max() for w, _ in layers])
    assert top + lip * (g[1] - g[0]) < 9.0
    res = verify(net, parse_vnnlib(_spec(9.0), source="t.vnnlib"), timeout=60, semantics="real",
                 leaf_rungs=rungs)
    assert res.status.value == "unsat", res.message
    assert res.proof_report is not None and res.proof_report.valid
    closed = sum(res.stats.get(f"rung_leaves_{r}", 0.0) for r in rungs)
    kinds = [nd[0] for d in res.proof.disjuncts for nd in d.nodes] if res.proof else []
    assert closed >= least and kinds.count("c") == closed  # every rung leaf the search counted is in the proof
    assert check_proof_tree(res.proof.to_json(), network=net).valid if res.proof else False
    # a reachable threshold is never proven, rungs or not
    res = verify(net, parse_vnnlib(_spec(top - 0.05), source="t.vnnlib"), timeout=60, semantics="real",
                 leaf_rungs=rungs)
    assert res.status.value == "sat", res.message


def test_the_generator_reproduces_a_valid_rung_tree() -> None:
    tree = _script().rung_tree()
    rep = check_proof_tree(tree)
    assert rep.valid, rep.reason
    rungs = sorted(nd[2].metadata.get("rung", "") for d in tree.disjuncts for nd in d.nodes if nd[0] == "c")
    assert rungs.count("lp") == 2


def test_rung_leaves_in_the_float32_semantics_need_the_deviation_margin() -> None:
    """The same certificates prove the float32 claim when their margin exceeds the rigorous output
    deviation D of float32 executions (tiny here); a leaf whose margin is below it is refused."""
    from sosrelax.certificate.proof_tree import float32_output_deviation

    tree = ProofTree.load(GOLDEN)
    # disjunct 1's SDP leaf assumes the other atom exactly (y1 + 100 >= 0): true of the real outputs
    # only, so in the float32 semantics it is refused
    rep = check_proof_tree(ProofTree(tree.layers, tree.input_shape, tree.disjuncts, "float32"))
    assert not rep.valid and "relaxed atom" in rep.reason and rep.failed_leaf == (1, 0)
    # disjunct 0's LP leaves assume no atom: accepted with the margin reduced by lambda·|B|·D
    lp_only = ProofTree(tree.layers, tree.input_shape, tree.disjuncts[:1], "float32")
    rep = check_proof_tree(lp_only)
    assert rep.valid, rep.reason
    D = float32_output_deviation(tree.layers, np.array([-1.0, -1.0]), np.array([1.0, 1.0]))
    assert np.all(D > 0) and np.all(D < 1e-3)
    real = check_leaves(GOLDEN, disjuncts=[0])
    flt = check_leaves(lp_only)
    for a, b in zip(real, flt, strict=True):
        assert np.all(b.bound < a.bound) and np.all(a.bound - b.bound <= 2 * D.max())

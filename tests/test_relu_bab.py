"""The ReLU-splitting branch and bound against brute force on tiny networks, and on mnistfc (slow)."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from sosrelax.certificate.proof_tree import ProofTree, check_proof_tree
from sosrelax.nn.ir import Network, from_weights
from sosrelax.nn.search.attack import forward
from sosrelax.nn.search.bounds import Arrays
from sosrelax.nn.search.relu_bab import decide_wide
from sosrelax.nn.vnnlib import Property, parse_vnnlib

MNISTFC = Path(__file__).resolve().parents[2] / "shared" / "data" / "vnncomp2021" / "mnistfc"


def _net(rng: np.random.Generator, widths: list[int]) -> Network:
    ws = [rng.normal(size=(widths[i + 1], widths[i])) / np.sqrt(widths[i]) for i in range(len(widths) - 1)]
    bs = [0.3 * rng.normal(size=w.shape[0]) for w in ws]
    return from_weights(ws, bs)


def _grid(net: Network, lo: np.ndarray, hi: np.ndarray, n: int = 201) -> tuple[np.ndarray, np.ndarray, float]:
    """Outputs on an ``n x n`` grid of the box and a Lipschitz bound of each output difference."""
    a = np.linspace(lo[0], hi[0], n)
    b = np.linspace(lo[1], hi[1], n)
    X = np.stack(np.meshgrid(a, b, indexing="ij"), axis=-1).reshape(-1, 2)
    Y, _ = forward(Arrays.from_network(net), X)
    lip = 2.0 * float(np.prod([np.linalg.norm(w, 2) for w in net.weights]))
    h = float(np.hypot(a[1] - a[0], b[1] - b[0])) / 2
    return X, Y, lip * h


def _prop(lo: np.ndarray, hi: np.ndarray, thresholds: list[float], n_out: int) -> Property:
    """``Y_j - Y_0 >= t_j`` for j = 1..: one disjunct each, all on the same box (robustness shape)."""
    decl = [f"(declare-const X_{i} Real)" for i in range(2)] + [f"(declare-const Y_{j} Real)" for j in range(n_out)]
    box = [f"(assert (>= X_{i} {float(lo[i])!r}))\n(assert (<= X_{i} {float(hi[i])!r}))" for i in range(2)]
    ors = " ".join(f"(and (>= (- Y_{j} Y_0) {float(t)!r}))" for j, t in enumerate(thresholds, start=1))
    return parse_vnnlib("\n".join(decl + box + [f"(assert (or {ors}))"]))


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("widths", [[2, 12, 12, 3], [2, 8, 8, 8, 3]])
def test_against_grid(seed: int, widths: list[int]) -> None:
    rng = np.random.default_rng(seed)
    net = _net(rng, widths)
    lo, hi = np.array([-1.0, -0.5]), np.array([0.75, 1.0])
    X, Y, slack = _grid(net, lo, hi)
    top = [float(np.max(Y[:, j] - Y[:, 0])) for j in (1, 2)]
    spread = max(float(np.ptp(Y[:, j] - Y[:, 0])) for j in (1, 2))
    # above the true maximum (grid maximum + Lipschitz slack): unsat, and the tree must check
    unsat = _prop(lo, hi, [t + slack + 0.05 * spread for t in top], 3)
    res = decide_wide(net, unsat, timeout=60.0, rng=seed)
    assert res.status == "unsat", res.message
    assert res.report is not None and res.report.valid and res.proof is not None
    assert len(res.proof.disjuncts) == 2
    # proof survives the file round trip and binds to the network
    again = ProofTree.from_json(res.proof.to_json())
    assert check_proof_tree(again, network=net).valid
    # below a grid point's value: a counterexample exists, never unsat
    sat = _prop(lo, hi, [top[0] - 0.05 * spread, top[1] + slack + 1.0], 3)
    res = decide_wide(net, sat, timeout=60.0, rng=seed)
    assert res.status == "sat", res.message
    assert res.counterexample is not None
    x, y = res.counterexample
    assert lo[0] <= x[0] <= hi[0] and lo[1] <= x[1] <= hi[1]
    assert y[1] - y[0] >= top[0] - 0.05 * spread


@pytest.mark.parametrize("seed", range(8))
def test_never_unsat_where_the_grid_violates(seed: int) -> None:
    """Thresholds around the grid maximum: unsat only when no grid point reaches them."""
    rng = np.random.default_rng(100 + seed)
    net = _net(rng, [2, 10, 10, 2])
    lo, hi = np.array([0.0, 0.0]), np.array([1.0, 1.0])
    X, Y, _ = _grid(net, lo, hi)
    diff = Y[:, 1] - Y[:, 0]
    t = float(np.max(diff)) + float(rng.uniform(-0.02, 0.02)) * float(np.ptp(diff))
    res = decide_wide(net, _prop(lo, hi, [t], 2), timeout=30.0, rng=seed)
    if res.status == "unsat":
        assert np.max(diff) < t
        assert res.report is not None and res.report.valid
    if np.max(diff) >= t:
        assert res.status != "unsat"


def test_joint_tree_is_shared_per_disjunct() -> None:
    """A disjunct that closes everywhere keeps the other one's splits: both trees have the same leaf
    domains, which the checker bounds once."""
    rng = np.random.default_rng(7)
    net = _net(rng, [2, 12, 12, 3])
    lo, hi = np.array([-1.0, -1.0]), np.array([1.0, 1.0])
    X, Y, slack = _grid(net, lo, hi)
    top = float(np.max(Y[:, 1] - Y[:, 0]))
    spread = float(np.ptp(Y[:, 1] - Y[:, 0]))
    far = float(np.max(np.abs(Y))) * 10 + 100.0
    res = decide_wide(net, _prop(lo, hi, [top + slack + 0.02 * spread, far], 3), timeout=60.0)
    assert res.status == "unsat", res.message
    assert res.proof is not None
    hard, easy = (tuple(n for n in d.nodes if n[0] in ("s", "r")) for d in res.proof.disjuncts[:2])
    assert len(hard) > 0 and easy == hard
    assert res.report is not None and res.report.valid


@pytest.mark.slow
@pytest.mark.skipif(not (MNISTFC / "results.csv").is_file(), reason="shared VNN-COMP data absent")
@pytest.mark.parametrize("name", ["prop_7_0.03.vnnlib", "prop_1_0.05.vnnlib", "prop_2_0.03.vnnlib",
                                  "prop_4_0.03.vnnlib"])
def test_mnistfc(name: str) -> None:
    from sosrelax.nn import load_onnx, read_vnnlib

    with open(MNISTFC / "results.csv", newline="") as fh:
        truth = {r["vnnlib"]: r["truth"] for r in csv.DictReader(fh)}[name]
    net = load_onnx(MNISTFC / "mnist-net_256x2.onnx")
    res = decide_wide(net, read_vnnlib(MNISTFC / name), onnx_path=MNISTFC / "mnist-net_256x2.onnx",
                      timeout=120.0)
    assert res.status == truth, res.message
    if truth == "unsat":
        assert res.report is not None and res.report.valid
    else:
        assert res.counterexample is not None


def test_float32_semantics_proof() -> None:
    """With float32 weights the proof may claim every binary32 execution; the checker accepts it."""
    rng = np.random.default_rng(3)
    net = _net(rng, [2, 10, 10, 3])
    net = from_weights([w.astype(np.float32).astype(np.float64) for w in net.weights],
                       [b.astype(np.float32).astype(np.float64) for b in net.biases])
    lo, hi = np.array([-1.0, -1.0]), np.array([1.0, 1.0])
    X, Y, slack = _grid(net, lo, hi)
    top = [float(np.max(Y[:, j] - Y[:, 0])) for j in (1, 2)]
    res = decide_wide(net, _prop(lo, hi, [t + slack + 0.1 for t in top], 3), timeout=60.0,
                      semantics="float32")
    assert res.status == "unsat", res.message
    assert res.proof is not None and res.proof.semantics == "float32"
    assert res.report is not None and res.report.valid


def test_disjunct_without_linear_atoms_is_unknown() -> None:
    net = _net(np.random.default_rng(0), [2, 4, 2])
    prop = parse_vnnlib("(declare-const X_0 Real)\n(declare-const X_1 Real)\n(declare-const Y_0 Real)\n"
                        "(declare-const Y_1 Real)\n(assert (>= X_0 0.0))\n(assert (<= X_0 1.0))\n"
                        "(assert (>= X_1 0.0))\n(assert (<= X_1 1.0))\n")
    res = decide_wide(net, prop, timeout=5.0)
    assert res.status == "unknown" and "no linear atom" in res.message


@pytest.mark.parametrize("float32", [False, True])
def test_first_layer_groups_match_intermediate_bounds(float32: bool) -> None:
    """The incremental first-layer bounds (computed once per set of layer-0 splits and kept) equal the
    plain CROWN bounds of :func:`intermediate_bounds` on every sub-domain, split neurons of layer 1 and
    repeated split sets included."""
    from sosrelax.nn.search.bounds import intermediate_bounds
    from sosrelax.nn.search.relu_bab import _FirstLayer

    rng = np.random.default_rng(5)
    net = _net(rng, [6, 16, 16, 3])
    arr = Arrays.from_network(net, float32=float32)
    lo, hi = -np.ones(6), np.ones(6)
    base = rng.choice([-1, 0, 0, 0, 1], size=(5, 16)).astype(np.int8)
    ph0 = base[rng.integers(0, 5, size=40)]  # 40 sub-domains sharing 5 layer-0 split sets
    ph1 = rng.choice([-1, 0, 0, 1], size=(40, 16)).astype(np.int8)
    first = _FirstLayer(arr, lo, hi)
    for _ in range(2):  # the second pass reads the kept groups
        got = first.bounds([ph0, ph1])
        want = intermediate_bounds(arr, np.tile(lo, (40, 1)), np.tile(hi, (40, 1)), [ph0, ph1])
        assert np.array_equal(got.empty, want.empty)
        for m in range(2):
            assert np.allclose(got.lower[m], want.lower[m], rtol=1e-12, atol=1e-12)
            assert np.allclose(got.upper[m], want.upper[m], rtol=1e-12, atol=1e-12)
            if float32:
                assert np.allclose(got.err[m], want.err[m], rtol=1e-12, atol=0.0)
    assert len(first.cache) == len({r.tobytes() for r in ph0})
    small = _FirstLayer(arr, lo, hi)
    small.CACHE = 3  # fewer than the split sets of one call: the table starts again
    for sel in (slice(0, 20), slice(None), slice(10, 40)):
        got = small.bounds([ph0[sel], ph1[sel]])
        assert np.array_equal(got.lower[1], first.bounds([ph0[sel], ph1[sel]]).lower[1])

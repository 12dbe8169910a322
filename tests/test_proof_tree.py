"""Network proof trees: format round trip, golden and tampered files, and the checker's soundness.

The soundness tests compare the checker's rigorous bounds with brute force on tiny networks: a
rigorous lower bound of ``min g`` over a leaf can never exceed the minimum of ``g`` over points of
that leaf, and rigorous pre-activation bounds must contain the activations of every point.
"""

from __future__ import annotations

import ast
import importlib.util
import json
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from sosrelax.certificate.proof_tree import (
    AtomSpec,
    DisjunctProof,
    ProofTree,
    check_leaves,
    check_proof_tree,
    leaf_layer_bounds,
    network_sha256,
)
from sosrelax.errors import CertificateFormatError

ROOT = Path(__file__).resolve().parents[1]
GOLDEN = sorted((ROOT / "proofs" / "proof_tree").glob("*.json"))
INVALID_DIR = ROOT / "proofs" / "invalid" / "proof_tree"
INVALID = sorted(INVALID_DIR.glob("*.json"))
Layers = tuple[tuple[np.ndarray, np.ndarray], ...]


def _script(path: Path) -> Any:
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


MAKE_INVALID = _script(INVALID_DIR / "make_invalid.py")


# ------------------------------------------------------------------------------ helpers
def tiny_net(seed: int, sizes: tuple[int, ...] = (2, 6, 6, 1)) -> Layers:
    """Random weights in multiples of 1/16 (exact in float32)."""
    rng = np.random.default_rng(seed)
    return tuple((np.round(rng.normal(size=(b, a)) * 16) / 16, np.round(rng.normal(size=b) * 8) / 16)
                 for a, b in zip(sizes[:-1], sizes[1:], strict=True))


def forward(layers: Layers, x: np.ndarray, dtype: Any = np.float64) -> list[np.ndarray]:
    """Pre-activations ``z_1, …, z_L`` at the rows of ``x`` (computed in ``dtype``)."""
    zs = []
    y = x.astype(dtype)
    for k, (w, b) in enumerate(layers):
        z = y @ w.T.astype(dtype) + b.astype(dtype)
        zs.append(z)
        y = np.maximum(z, dtype(0)) if k < len(layers) - 1 else z
    return zs


def uniform_nodes(lo: list[float], hi: list[float], depth: int, lam: tuple[float, ...],
                  alpha: bytes | None = None) -> tuple:
    """Midpoint splits of the widest side down to ``depth``, leaves with the given lambdas."""
    nodes: list[tuple] = []

    def rec(lo: list[float], hi: list[float], d: int) -> None:
        if d == 0:
            nodes.append(("l", lam, alpha))
            return
        i = int(np.argmax(np.array(hi) - np.array(lo)))
        v = (lo[i] + hi[i]) / 2
        nodes.append(("s", i, v))
        rec(lo, hi[:i] + [v] + hi[i + 1:], d - 1)
        rec(lo[:i] + [v] + lo[i + 1:], hi, d - 1)

    rec(list(lo), list(hi), depth)
    return tuple(nodes)


def grid(lo: np.ndarray, hi: np.ndarray, n: int) -> np.ndarray:
    axes = [np.linspace(a, b, n) for a, b in zip(lo, hi, strict=True)]
    return np.stack(np.meshgrid(*axes), -1).reshape(-1, len(lo))


def lipschitz(layers: Layers) -> float:
    """An infinity-norm Lipschitz constant of the network."""
    return float(np.prod([np.abs(w).sum(axis=1).max() for w, _ in layers]))


def threshold_tree(layers: Layers, threshold: Fraction, depth: int, semantics: str = "real",
                   intermediate: str = "crown") -> ProofTree:
    """The claim ``y0 < threshold`` on [-1, 1]^2 (atom ``y0 - threshold >= 0``), uniform splits."""
    lo = (Fraction(-1), Fraction(-1))
    hi = (Fraction(1), Fraction(1))
    atom = AtomSpec((), ((0, Fraction(1)),), -threshold)
    nodes = uniform_nodes([-1.0, -1.0], [1.0, 1.0], depth, (1.0,))
    return ProofTree(layers, (2,), (DisjunctProof(lo, hi, (atom,), nodes),), semantics, intermediate)


def leaf_domains(tree: ProofTree, d: int = 0) -> dict[int, tuple[np.ndarray, np.ndarray, list[tuple[int, int, int]]]]:
    """Node index -> (lo, hi, [(layer, neuron, sign)]) of each leaf, by an independent preorder walk."""
    out = {}
    dis = tree.disjuncts[d]
    stack: list[tuple[np.ndarray, np.ndarray, list[tuple[int, int, int]]]] = [
        (np.array([float(q) for q in dis.lo]), np.array([float(q) for q in dis.hi]), [])]
    for idx, nd in enumerate(dis.nodes):
        lo, hi, cons = stack.pop()
        if nd[0] == "s":
            h1, l2 = hi.copy(), lo.copy()
            i = int(nd[1])  # type: ignore[arg-type]
            h1[i] = l2[i] = nd[2]
            stack += [(l2, hi, cons), (lo, h1, cons)]
        elif nd[0] == "r":
            k, j = int(nd[1]), int(nd[2])  # type: ignore[arg-type]
            stack += [(lo, hi, [*cons, (k, j, 1)]), (lo, hi, [*cons, (k, j, -1)])]
        else:
            out[idx] = (lo, hi, cons)
    assert not stack
    return out


# ------------------------------------------------------------------------------ golden and tampered files
@pytest.mark.parametrize("path", GOLDEN, ids=lambda p: p.stem)
def test_golden_proof_tree_verifies(path: Path) -> None:
    rep = check_proof_tree(path)
    assert rep.valid, rep.reason
    assert (rep.disjuncts, rep.nodes, rep.leaves) == (3, 67, 35)
    assert rep.min_margin is not None and 0 < rep.min_margin < 0.1
    assert rep.failed_leaf is None and rep.failed_leaves() == ()
    tree = ProofTree.load(path)
    assert rep.network_sha256 == tree.network_sha256 == json.loads(path.read_text())["network"]["sha256"]
    assert tree.to_json() == path.read_text()  # canonical: re-dumping gives the same bytes


def test_invalid_files_are_the_generated_ones() -> None:
    built = MAKE_INVALID.build()
    assert len(built) >= 20
    assert {p.stem for p in INVALID} == set(built)
    for p in INVALID:
        assert p.read_text() == built[p.stem], f"{p.name} differs from make_invalid.py's output"
    readme = (INVALID_DIR / "README.md").read_text()
    assert all(f"`{p.name}`" in readme for p in INVALID)


@pytest.mark.parametrize("path", INVALID, ids=lambda p: p.stem)
def test_invalid_proof_tree_rejected(path: Path) -> None:
    rep = check_proof_tree(path)
    _, phrase, _ = MAKE_INVALID.VARIANTS[path.stem]
    assert not rep.valid
    assert phrase in rep.reason, rep.reason


def test_tampered_semantic_files_point_at_a_leaf() -> None:
    rep = check_proof_tree(INVALID_DIR / "alpha_bad_slope.json")
    assert not rep.valid and rep.failed_leaf == (2, 0)
    assert rep.failed_leaves() == ((2, 0),)
    # the same leaf with the adaptive slope (the golden proof) is closed
    lb = check_leaves(GOLDEN[0], disjuncts=[2])[0]
    assert lb.accepted.all() and lb.bound[0] > 0 > rep.leaf_bounds[2].bound[0]


def test_network_binding() -> None:
    from sosrelax.nn import from_weights

    tree = ProofTree.load(GOLDEN[0])
    ws = [w for w, _ in tree.layers]
    bs = [b for _, b in tree.layers]
    assert check_proof_tree(tree, network=tree.layers).valid
    assert check_proof_tree(tree, network=from_weights(ws, bs)).valid
    other = [w.copy() for w in ws]
    other[1][0, 0] = np.nextafter(other[1][0, 0], np.inf)
    rep = check_proof_tree(tree, network=from_weights(other, bs))
    assert not rep.valid and "not bitwise equal" in rep.reason
    rep = check_proof_tree(tree, network=tree.layers[:2])
    assert not rep.valid and "layers" in rep.reason


def test_round_trip_and_sources() -> None:
    tree = ProofTree.load(GOLDEN[0])
    text = tree.to_json()
    assert ProofTree.from_json(text).to_json() == text
    assert ProofTree.from_dict(json.loads(text)).to_json() == text
    assert tree.network_sha256 == network_sha256(tree.layers)
    for src in (tree, text, json.loads(text), GOLDEN[0], str(GOLDEN[0])):
        assert check_proof_tree(src).valid
    nd = tree.disjuncts[0].nodes
    assert nd[0] == ("s", 0, 0.0) and nd[4] == ("r", 0, 0) and nd[6][2] == bytes([128] * 12)


def test_malformed_sources_are_reports_not_exceptions(tmp_path: Path) -> None:
    for src in ("{", str(tmp_path / "missing.json"), 123, {"format": "x"}):
        rep = check_proof_tree(src)  # type: ignore[arg-type]
        assert not rep.valid and rep.reason
    big = tmp_path / "big.json"
    big.write_text(GOLDEN[0].read_text())
    from sosrelax.certificate.proof_tree import TreeLimits

    rep = check_proof_tree(big, limits=TreeLimits(max_file_bytes=1000))
    assert not rep.valid and "over the limit" in rep.reason
    with pytest.raises(CertificateFormatError):
        check_leaves(INVALID_DIR / "leaf_dropped.json")


def test_checker_imports_only_trusted_modules() -> None:
    allowed = {"__future__", "base64", "binascii", "functools", "hashlib", "json", "math", "os", "re", "time",
               "collections.abc",
               "dataclasses", "fractions", "typing", "numpy", "sosrelax.errors", "contextlib", "multiprocessing",
               "threadpoolctl",  # only to cap BLAS threads: no arithmetic
               "scipy.sparse",  # sparse products, their rounding bounded like numpy's (any summation order)
               "sosrelax.certificate.proof_tree.format", "sosrelax.certificate.proof_tree.check",
               "sosrelax.certificate.proof_tree.forward", "sosrelax.certificate.proof_tree.rounding",
               # rung leaves: the polynomial certificate format, its exact checker, and the exact network
               # encoding the checker rebuilds over the leaf's box (never the search or a solver)
               "sosrelax.certificate.format", "sosrelax.certificate.check",
               "sosrelax.certificate.proof_tree.rung_leaf", "sosrelax.nn.encode", "sosrelax.nn.ir",
               "sosrelax.certificate.proof_tree.arith", "sosrelax.certificate.proof_tree.smooth"}
    for name in ("__init__.py", "format.py", "check.py", "arith.py", "forward.py", "rounding.py", "rung_leaf.py",
                 "smooth.py"):
        tree = ast.parse((ROOT / "sosrelax" / "certificate" / "proof_tree" / name).read_text())
        found: set[str] = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                found.update(a.name for a in node.names)
            elif isinstance(node, ast.ImportFrom):
                found.add(node.module or "")
        assert found <= allowed, f"{name} imports {sorted(found - allowed)}"


# ------------------------------------------------------------------------------ proofs on brute-forced networks
@pytest.mark.parametrize("semantics", ["real", "float32"])
@pytest.mark.parametrize("intermediate", ["crown", "forward"])
def test_valid_proof_accepted_and_false_claim_rejected(semantics: str, intermediate: str) -> None:
    layers = tiny_net(3)
    pts = grid(np.array([-1.0, -1.0]), np.array([1.0, 1.0]), 401)
    y0 = forward(layers, pts)[-1][:, 0]
    top = float(y0.max())
    true_max_bound = top + lipschitz(layers) * (2 / 400)  # no point of the box exceeds this
    threshold = Fraction(true_max_bound + 0.25)
    rep = check_proof_tree(threshold_tree(layers, threshold, 8, semantics, intermediate))
    assert rep.valid, rep.reason
    # the proven margin is a lower bound of min (threshold - y0), attained at most at a grid point
    assert rep.min_margin is not None and 0 < rep.min_margin <= float(threshold) - top
    # a threshold that the network exceeds somewhere can never be proven, however fine the tree
    false = threshold_tree(layers, Fraction(top) - Fraction(1, 100), 8, semantics, intermediate)
    rep = check_proof_tree(false)
    assert not rep.valid and "not proven" in rep.reason and rep.failed_leaf is not None
    lbs = check_leaves(false)[0]
    doms = leaf_domains(false)
    for i in lbs.failed():
        lo, hi, _ = doms[int(i)]
        inside = np.all((pts >= lo) & (pts <= hi), axis=1)
        assert inside.any()
    assert len(rep.failed_leaves()) == 0 or rep.failed_leaves()[0] == rep.failed_leaf


def test_empty_relu_branch_closes_a_leaf() -> None:
    # neuron 0 of layer 0 is z = x0/16 + 4 > 0 on the box: its branch z <= 0 is empty
    w1 = np.array([[1 / 16, 0.0], [1.0, -1.0]])
    b1 = np.array([4.0, 0.0])
    layers = ((w1, b1), (np.array([[1.0, 1.0]]), np.array([0.0])))
    lo = (Fraction(-1), Fraction(-1))
    hi = (Fraction(1), Fraction(1))
    # atom y0 + 100 >= 0 holds everywhere: only the empty branch can be closed
    atom = AtomSpec((), ((0, Fraction(1)),), Fraction(100))
    nodes = (("r", 0, 0), ("l", (1.0,), None), ("l", (1.0,), None))
    lb = check_leaves(ProofTree(layers, (2,), (DisjunctProof(lo, hi, (atom,), nodes),)))[0]
    assert lb.empty.tolist() == [True, False]
    assert lb.bound[0] == np.inf and lb.bound[1] < 0
    assert lb.failed().tolist() == [2]


@pytest.mark.parametrize("semantics", ["real", "float32"])
def test_rational_data_is_rounded_soundly(semantics: str) -> None:
    # y = -(x0 + x1) on the single point x = (1/10, 2/10); the atom y + 3/10 >= 0 holds there with equality,
    # yet in naive float64 the objective x0 + x1 - 3/10 evaluates to a positive number
    assert 0.1 + 0.2 - 0.3 > 0
    layers = ((np.array([[-1.0, -1.0]]), np.array([0.0])),)
    box = (Fraction(1, 10), Fraction(2, 10))
    atom = AtomSpec((), ((0, Fraction(1)),), Fraction(3, 10))
    tree = ProofTree(layers, (2,), (DisjunctProof(box, box, (atom,), (("l", (1.0,), None),)),), semantics)
    rep = check_proof_tree(tree)
    assert not rep.valid and rep.min_margin is not None and rep.min_margin <= 0
    if semantics == "real":  # moving the threshold by 1e-12 makes the claim true and provable
        atom = AtomSpec((), ((0, Fraction(1)),), Fraction(3, 10) - Fraction(1, 10**12))
        tree = ProofTree(layers, (2,), (DisjunctProof(box, box, (atom,), (("l", (1.0,), None),)),), semantics)
        assert check_proof_tree(tree).valid


def test_overflow_is_never_accepted() -> None:
    layers = tiny_net(4)
    huge = ((layers[0][0] * 2.0**600, layers[0][1]), (layers[1][0] * 2.0**600, layers[1][1]), layers[2])
    rep = check_proof_tree(threshold_tree(huge, Fraction(10**9), 2))
    assert not rep.valid
    lb = check_leaves(threshold_tree(huge, Fraction(10**9), 2))[0]
    assert np.isnan(lb.bound).all()
    tree = threshold_tree(layers, Fraction(1), 0)
    d = tree.disjuncts[0]
    far = ProofTree(layers, (2,), (DisjunctProof((Fraction(-10**400), d.lo[1]), d.hi, d.atoms, d.nodes),))
    rep = check_proof_tree(far)
    assert not rep.valid and "does not fit" in rep.reason


# ------------------------------------------------------------------------------ soundness against brute force
def _random_tree(rng: np.random.Generator, layers: Layers, semantics: str, intermediate: str) -> ProofTree:
    """Random input and ReLU splits, random nonnegative lambdas on two random atoms, random alphas."""
    n_hidden = [w.shape[0] for w, _ in layers[:-1]]
    h = sum(n_hidden)
    atoms = (AtomSpec(((0, Fraction(int(rng.integers(-3, 4)), 4)),), ((0, Fraction(1)),),
                      Fraction(int(rng.integers(-8, 8)), 2)),
             AtomSpec((), ((0, Fraction(-1)), (1, Fraction(1, 3))), Fraction(int(rng.integers(-8, 8)), 3)))
    nodes: list[tuple] = []

    def rec(lo: list[float], hi: list[float], d: int) -> None:
        r = rng.random()
        if d == 0 or r < 0.2:
            lam = tuple(float(v) for v in rng.choice([0.0, 0.5, 1.0, 3.0], size=2))
            lam = lam if any(lam) else (1.0, 0.0)
            alpha = None if rng.random() < 0.5 else bytes(rng.integers(0, 256, size=h).astype(np.uint8))
            nodes.append(("l", lam, alpha))
        elif r < 0.4:
            k = int(rng.integers(0, len(n_hidden)))
            nodes.append(("r", k, int(rng.integers(0, n_hidden[k]))))
            rec(lo, hi, d - 1)
            rec(lo, hi, d - 1)
        else:
            i = int(rng.integers(0, 2))
            v = float(lo[i] + (hi[i] - lo[i]) * rng.uniform(0.2, 0.8))
            nodes.append(("s", i, v))
            rec(lo, hi[:i] + [v] + hi[i + 1:], d - 1)
            rec(lo[:i] + [v] + lo[i + 1:], hi, d - 1)

    rec([-1.0, -0.5], [1.0, 1.5], 4)
    dis = DisjunctProof((Fraction(-1), Fraction(-1, 2)), (Fraction(1), Fraction(3, 2)), atoms, tuple(nodes))
    return ProofTree(layers, (2,), (dis,), semantics, intermediate)


def _objective(tree: ProofTree, lam: tuple[float, ...], x: np.ndarray, y: np.ndarray) -> np.ndarray:
    g = np.zeros(len(x))
    for lk, a in zip(lam, tree.disjuncts[0].atoms, strict=True):
        val = sum(float(c) * x[:, i] for i, c in a.x) + sum(float(c) * y[:, j] for j, c in a.y) + float(a.const)
        g -= lk * val
    return g


@pytest.mark.parametrize("seed", range(8))
def test_leaf_bounds_are_lower_bounds_and_layer_bounds_contain_activations(seed: int) -> None:
    rng = np.random.default_rng(1000 + seed)
    semantics = ("real", "float32")[seed % 2]
    intermediate = ("crown", "crown", "forward", "forward")[seed % 4]
    layers = tiny_net(seed, (2, 5, 4, 3, 2))
    tree = _random_tree(rng, layers, semantics, intermediate)
    lb = check_leaves(tree)[0]
    doms = leaf_domains(tree)
    assert sorted(doms) == lb.node_index.tolist()
    dtype = np.float32 if semantics == "float32" else np.float64
    for node, bound, empty in zip(lb.node_index.tolist(), lb.bound, lb.empty, strict=True):
        lo, hi, cons = doms[node]
        x = np.concatenate([grid(lo, hi, 41), rng.uniform(lo, hi, size=(400, 2))])
        xin = x.astype(np.float32).astype(np.float64) if semantics == "float32" else x
        zs = forward(layers, xin, dtype)
        keep = np.ones(len(x), dtype=bool)
        for k, j, sign in cons:
            keep &= (zs[k][:, j] <= 0) if sign < 0 else (zs[k][:, j] >= 0)
        if empty:
            assert not keep.any(), "a leaf proven empty contains points"
            continue
        assert np.isfinite(bound)
        if keep.any():
            g = _objective(tree, tree.disjuncts[0].nodes[node][1], x[keep], zs[-1][keep].astype(np.float64))
            assert bound <= g.min(), (node, bound, g.min())
        bounds = leaf_layer_bounds(tree, 0, node)
        for (lk, uk), z in zip(bounds, zs, strict=True):
            zk = z[keep].astype(np.float64)
            assert np.all(lk <= zk) and np.all(zk <= uk), (node, lk, uk)


def test_a_check_past_its_deadline_is_neither_accepted_nor_rejected() -> None:
    import time

    rep = check_proof_tree(GOLDEN[0], deadline=time.perf_counter() - 1.0)
    assert rep.timed_out and not rep.valid and "time limit" in rep.reason and rep.failed_leaf is None
    rep = check_proof_tree(GOLDEN[0], deadline=time.perf_counter() + 60.0)
    assert rep.valid and not rep.timed_out

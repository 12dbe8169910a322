"""Write the golden network proof trees of this folder (deterministic: same bytes on every run).

The network is a fixed 2-6-6-2 ReLU network with weights that are multiples of 1/16 (exact in
float32).  The property has three disjuncts over the box [-1, 1]^2:

* disjunct 0: ``y0 >= 9`` and ``y1 + 100 >= 0`` (the second atom holds everywhere);
* disjunct 1: ``y1 >= 12``;
* disjunct 2: ``y0 >= 23/2``, proven by a single leaf (no split) with the adaptive slopes.

Both are unreachable (the script asserts it on a dense grid with a Lipschitz margin).  The trees
split the box uniformly, put a ReLU split under the first leaf of each disjunct, and alternate
leaves with an explicit ``alpha`` (slope 1/2 everywhere) and the adaptive slope.

Run ``python proofs/proof_tree/make_golden.py`` from the repository root.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np

from sosrelax.certificate.proof_tree import AtomSpec, DisjunctProof, ProofTree, check_proof_tree

HERE = Path(__file__).resolve().parent


def network() -> tuple[tuple[np.ndarray, np.ndarray], ...]:
    """The fixed network (weights in multiples of 1/16)."""
    rng = np.random.default_rng(20240601)
    sizes = [2, 6, 6, 2]
    layers = []
    for a, b in zip(sizes[:-1], sizes[1:], strict=True):
        w = np.round(rng.normal(size=(b, a)) * 16) / 16
        bias = np.round(rng.normal(size=b) * 8) / 16
        layers.append((w, bias))
    return tuple(layers)


def forward(layers: tuple[tuple[np.ndarray, np.ndarray], ...], x: np.ndarray) -> np.ndarray:
    z = x
    for k, (w, b) in enumerate(layers):
        z = z @ w.T + b
        if k < len(layers) - 1:
            z = np.maximum(z, 0.0)
    return z


def uniform_nodes(lo: list[float], hi: list[float], depth: int, lam: tuple[float, ...], n_hidden: int,
                  relu_split: bool = True) -> tuple:
    """Preorder nodes: midpoint splits of the widest side, leaves with one-hot lambdas."""
    nodes: list[tuple] = []
    count = [0]

    def leaf() -> None:
        alpha = bytes([128] * n_hidden) if count[0] % 2 else None
        count[0] += 1
        nodes.append(("l", lam, alpha))

    def rec(lo: list[float], hi: list[float], d: int) -> None:
        if d == 0:
            if relu_split and count[0] == 0:
                nodes.append(("r", 0, 0))
                leaf()
                leaf()
            else:
                leaf()
            return
        i = int(np.argmax(np.array(hi) - np.array(lo)))
        v = (lo[i] + hi[i]) / 2
        nodes.append(("s", i, v))
        rec(lo, hi[:i] + [v] + hi[i + 1:], d - 1)
        rec(lo[:i] + [v] + lo[i + 1:], hi, d - 1)

    rec(list(lo), list(hi), depth)
    return tuple(nodes)


def golden_tree(semantics: str = "real", intermediate: str = "crown", depth: int = 4) -> ProofTree:
    layers = network()
    lo = (Fraction(-1), Fraction(-1))
    hi = (Fraction(1), Fraction(1))
    a0 = AtomSpec((), ((0, Fraction(1)),), Fraction(-9))
    a1 = AtomSpec((), ((1, Fraction(1)),), Fraction(100))
    a2 = AtomSpec((), ((1, Fraction(1)),), Fraction(-12))
    n_hidden = sum(w.shape[0] for w, _ in layers[:-1])
    d0 = DisjunctProof(lo, hi, (a0, a1), uniform_nodes([-1.0, -1.0], [1.0, 1.0], depth, (1.0, 0.0), n_hidden))
    d1 = DisjunctProof(lo, hi, (a2,), uniform_nodes([-1.0, -1.0], [1.0, 1.0], depth, (1.0,), n_hidden))
    # one leaf on the whole box: closed by the adaptive lower slopes (bound y0 <= 10.56), not by slope 1
    d2 = DisjunctProof(lo, hi, (AtomSpec((), ((0, Fraction(1)),), Fraction(-23, 2)),), (("l", (1.0,), None),))
    return ProofTree(layers, (2,), (d0, d1, d2), semantics, intermediate,
                     {"generator": "proofs/proof_tree/make_golden.py"})


def main() -> None:
    layers = network()
    g = np.linspace(-1, 1, 1001)
    pts = np.stack(np.meshgrid(g, g), -1).reshape(-1, 2)
    y = forward(layers, pts)
    lip = np.prod([np.abs(w).sum(axis=1).max() for w, _ in layers])  # infinity-norm Lipschitz bound
    h = g[1] - g[0]
    assert y[:, 0].max() + lip * h < 9 and y[:, 1].max() + lip * h < 12, (y.max(axis=0), lip)
    for name, sem, inter in (("tiny_relu_three_disjuncts", "real", "crown"),
                             ("tiny_relu_three_disjuncts_float32", "float32", "forward")):
        tree = golden_tree(sem, inter)
        rep = check_proof_tree(tree)
        assert rep.valid, rep.reason
        tree.save(HERE / f"{name}.json")
        print(name, rep)


if __name__ == "__main__":
    main()

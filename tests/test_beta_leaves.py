"""Leaves with split multipliers (beta-CROWN): ``("b", lambdas, (alpha, beta))``.

Under a ReLU split ``p_j z_j >= 0`` the objective minus ``beta_j p_j z_j`` (``beta >= 0``) is a lower
bound of it on the leaf's domain.  The tests compare the checker's rigorous bounds with brute force for
optimised and for arbitrary multipliers, and check that multipliers on neurons no split constrains,
or negative ones, are refused.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any

import numpy as np
import pytest

from sosrelax.certificate.proof_tree import (
    AtomSpec,
    DisjunctProof,
    ProofTree,
    check_leaves,
    check_proof_tree,
)
from sosrelax.nn import from_weights
from sosrelax.nn.search.bounds import Arrays, intermediate_bounds, optimise_slopes

Layers = tuple[tuple[np.ndarray, np.ndarray], ...]


def _layers(seed: int) -> Layers:
    rng = np.random.default_rng(seed)
    sizes = [2, 8, 8, 1]
    return tuple((rng.normal(0, 1 / np.sqrt(a), (b, a)), rng.normal(0, 0.3, b))
                 for a, b in zip(sizes[:-1], sizes[1:], strict=True))


def _forward(layers: Layers, x: np.ndarray) -> tuple[np.ndarray, list[np.ndarray]]:
    zs = []
    y = x
    for k, (w, b) in enumerate(layers):
        z = y @ w.T + b
        if k < len(layers) - 1:
            zs.append(z)
            y = np.maximum(z, 0.0)
        else:
            y = z
    return y, zs


def _split_tree(layers: Layers, t: float, j: int, betas: list[np.ndarray], alphas: list[bytes | None]
                ) -> ProofTree:
    lo = (Fraction(-1), Fraction(-1))
    hi = (Fraction(1), Fraction(1))
    atom = AtomSpec((), ((0, Fraction(1)),), Fraction(-t))  # y0 >= t
    nodes = [("r", 0, j)] + [("b", (1.0,), (a, b.astype("<f8").tobytes())) for a, b in zip(alphas, betas, strict=True)]
    return ProofTree(layers, (2,), (DisjunctProof(lo, hi, (atom,), tuple(nodes)),))


def _setup(seed: int) -> tuple[Layers, int, float, np.ndarray, list[np.ndarray], np.ndarray]:
    layers = _layers(seed)
    g = np.linspace(-1, 1, 301)
    pts = np.stack(np.meshgrid(g, g), -1).reshape(-1, 2)
    y, zs = _forward(layers, pts)
    j = int(np.argmax(np.minimum(zs[0].max(axis=0), -zs[0].min(axis=0))))  # the most unstable first-layer neuron
    t = float(y[:, 0].max()) + 0.05
    return layers, j, t, pts, zs, y[:, 0]


def _optimised(layers: Layers, j: int, t: float) -> tuple[list[np.ndarray], list[bytes]]:
    net = from_weights([w for w, _ in layers], [b for _, b in layers])
    arr = Arrays.from_network(net)
    H = [w.shape[0] for w, _ in layers[:-1]]
    phases = [np.zeros((2, n), dtype=np.int8) for n in H]
    phases[0][0, j], phases[0][1, j] = -1, 1
    lo, hi = np.array([[-1.0, -1.0]] * 2), np.array([[1.0, 1.0]] * 2)
    bnd = intermediate_bounds(arr, lo, hi, phases)
    C, d = -np.eye(1), np.array([t])
    _, _, al, be = optimise_slopes(arr, bnd, lo, hi, C, d, steps=12, phases=phases)
    assert be is not None
    betas = [np.concatenate([b[q, 0] for b in be]) for q in range(2)]
    codes = [np.concatenate([np.round(a[q, 0] * 255.0) for a in al]).astype(np.uint8).tobytes() for q in range(2)]
    return betas, codes


@pytest.mark.parametrize("seed", range(4))
def test_beta_leaves_are_below_brute_force(seed: int) -> None:
    layers, j, t, pts, zs, y0 = _setup(seed)
    betas, codes = _optimised(layers, j, t)
    assert any(np.any(b > 0) for b in betas)  # the optimiser used the split constraint
    rng = np.random.default_rng(seed)
    H = sum(w.shape[0] for w, _ in layers[:-1])
    random_betas = [np.where(np.arange(H) == j, rng.uniform(0, 5), 0.0) for _ in range(2)]
    for bs, al in ((betas, codes), (random_betas, [None, None])):
        lb = check_leaves(_split_tree(layers, t, j, bs, al))[0]
        for side, bound in zip((zs[0][:, j] <= 0, zs[0][:, j] >= 0), lb.bound, strict=True):
            assert side.any()  # the neuron is unstable: both phases have grid points
            assert bound <= float(np.min(t - y0[side])) + 1e-9


def test_beta_on_an_unconstrained_neuron_or_negative_is_refused() -> None:
    layers, j, t, *_ = _setup(0)
    betas, codes = _optimised(layers, j, t)
    other = (j + 1) % betas[0].size
    bad = [b.copy() for b in betas]
    bad[0][other] = 1.0
    rep = check_proof_tree(_split_tree(layers, t, j, bad, codes))
    assert not rep.valid and "no ReLU split above the leaf constrains" in rep.reason
    bad = [b.copy() for b in betas]
    bad[1][j] = -1.0
    rep = check_proof_tree(_split_tree(layers, t, j, bad, codes))
    assert not rep.valid and "nonnegative" in rep.reason


def test_beta_tree_round_trips_as_version_2() -> None:
    layers, j, t, *_ = _setup(1)
    betas, codes = _optimised(layers, j, t)
    tree = _split_tree(layers, t, j, betas, codes)
    text = tree.to_json()
    assert '"version":2' in text
    again = ProofTree.from_json(text)
    assert again.to_json() == text
    a = check_leaves(tree)[0].bound
    b = check_leaves(again)[0].bound
    assert np.array_equal(a, b)


def _split_domains(rng: np.random.Generator, B: int, lo_range: tuple[float, float], width: tuple[float, float]
                   ) -> tuple[Any, ...]:
    """A random 2-10-10-3 network and ``B`` boxes with random splits of neurons unstable on them:
    ``(weights, biases, arrays, lo, hi, phases, bounds)``."""
    sizes = [2, 10, 10, 3]
    ws = [rng.normal(0, 1 / np.sqrt(a), (b, a)) for a, b in zip(sizes[:-1], sizes[1:], strict=True)]
    bs = [rng.normal(0, 0.3, b) for b in sizes[1:]]
    arr = Arrays.from_network(from_weights(ws, bs))
    lo = rng.uniform(*lo_range, (B, 2))
    hi = lo + rng.uniform(*width, (B, 2))
    free = intermediate_bounds(arr, lo, hi)
    phases = [np.where((l < 0) & (u > 0), rng.choice([-1, 0, 1], size=l.shape), 0).astype(np.int8)
              for l, u in zip(free.lower, free.upper, strict=True)]
    return ws, bs, arr, lo, hi, phases, intermediate_bounds(arr, lo, hi, phases)


@pytest.mark.parametrize("seed", range(3))
def test_optimisation_stops_at_the_target(seed: int) -> None:
    """With a ``target`` the sub-domains whose bound passes it stop early, their bounds (and the other
    sub-domains' bounds) stay below brute force, and exactly the same sub-domains pass it as without."""
    rng = np.random.default_rng(seed)
    B = 64
    ws, bs, arr, lo, hi, phases, bnd = _split_domains(rng, B, (-1, 0.5), (0.05, 0.5))
    assert np.count_nonzero(~bnd.empty) >= B // 2 and sum(np.count_nonzero(p) for p in phases) > B
    C, d = np.array([[1.0, -1.0, 0.0]]), np.zeros(1)
    full, *_ = optimise_slopes(arr, bnd, lo, hi, C, d, steps=8, phases=phases)
    target = np.array([np.median(full[~bnd.empty, 0])])
    early, *_ = optimise_slopes(arr, bnd, lo, hi, C, d, steps=8, phases=phases, target=target)
    ok = ~bnd.empty
    assert np.array_equal(early[ok, 0] > target[0], full[ok, 0] > target[0])
    for i in np.flatnonzero(ok):  # brute force on the sub-domain (grid points meeting its splits)
        g = np.stack(np.meshgrid(*[np.linspace(lo[i, k], hi[i, k], 41) for k in range(2)]), -1).reshape(-1, 2)
        y, zs = _forward(tuple(zip(ws, bs, strict=True)), g)
        inside = np.all([np.all(z * p[i] >= 0, axis=1) for z, p in zip(zs, phases, strict=True)], axis=0)
        if inside.any():
            assert early[i, 0] <= float(np.min(y[inside] @ C[0])) + 1e-9


def test_optimisation_started_from_its_result_keeps_its_bound() -> None:
    """Started from optimised slopes and multipliers (``init``), zero steps give back their bound, and
    more steps never a worse one (the best iterate is kept)."""
    rng = np.random.default_rng(7)
    B = 32
    _, _, arr, lo, hi, phases, bnd = _split_domains(rng, B, (-1, 0), (0.5, 1.0))
    C, d = np.array([[1.0, -1.0, 0.0], [0.0, 1.0, -1.0]]), np.zeros(2)
    lb, _, al, be = optimise_slopes(arr, bnd, lo, hi, C, d, steps=6, phases=phases)
    again, *_ = optimise_slopes(arr, bnd, lo, hi, C, d, steps=0, phases=phases, init=(al, be))
    more, *_ = optimise_slopes(arr, bnd, lo, hi, C, d, steps=6, phases=phases, init=(al, be))
    ok = ~bnd.empty
    assert ok.sum() >= B // 2
    assert np.allclose(again[ok], lb[ok], rtol=0, atol=1e-12)
    assert np.all(more[ok] >= lb[ok] - 1e-12)
    plain, *_ = optimise_slopes(arr, bnd, lo, hi, C, d, steps=0, phases=phases)
    assert np.any(lb[ok] > plain[ok] + 1e-6)  # the optimisation did something to keep

"""Batched counterexample search: projected sign-gradient ascent (PGD) with many restarts.

The catastrophe of a disjunct is ``min_k atom_k(x, f(x)) >= 0`` for ``x`` in its box; the attack
maximises that margin from many starting points at once (one batched forward and backward pass per
step).  Its answers are candidates only: the caller re-evaluates them exactly.
"""

from __future__ import annotations

import time

import numpy as np

from sosrelax.nn.search.bounds import Arrays

__all__ = ["forward", "margins", "pgd"]


def forward(arr: Arrays, X: np.ndarray) -> tuple[np.ndarray, list[np.ndarray]]:
    """Outputs ``(N, n_out)`` and the hidden pre-activations of a batch of inputs ``(N, n0)``."""
    zs: list[np.ndarray] = []
    a = X
    for m in range(arr.n_layers):
        z = a @ arr.W[m].T + arr.b[m]
        if m == arr.n_layers - 1:
            return z, zs
        zs.append(z)
        a = np.maximum(z, 0.0)
    raise AssertionError("unreachable")  # pragma: no cover


def margins(arr: Arrays, X: np.ndarray, A: np.ndarray, Bm: np.ndarray, c: np.ndarray) -> np.ndarray:
    """Atom values ``(N, K)`` at the rows of ``X``: ``A x + Bm f(x) + c``."""
    Y, _ = forward(arr, X)
    return X @ A.T + Y @ Bm.T + c


def _ascent(arr: Arrays, X: np.ndarray, A: np.ndarray, Bm: np.ndarray, c: np.ndarray
            ) -> tuple[np.ndarray, np.ndarray]:
    """Margins ``min_k atom_k`` and their (sub)gradients at the rows of ``X``."""
    Y, zs = forward(arr, X)
    vals = X @ A.T + Y @ Bm.T + c
    k = np.argmin(vals, axis=1)
    G = Bm[k]
    for m in range(arr.n_layers - 1, 0, -1):
        G = (G @ arr.W[m]) * (zs[m - 1] > 0)
    G = G @ arr.W[0] + A[k]
    return vals[np.arange(len(k)), k], G


def pgd(arr: Arrays, lo: np.ndarray, hi: np.ndarray, A: np.ndarray, Bm: np.ndarray, c: np.ndarray,
        rng: np.random.Generator, *, restarts: int = 1024, steps: int = 40,
        deadline: float | None = None, starts: np.ndarray | None = None) -> np.ndarray | None:
    """Points of the box at which every atom holds in float64 (best first), or ``None``.

    ``lo``, ``hi`` are one box ``(n0,)``, or one box per start ``(N, n0)`` (then each start stays in
    its own box and steps relative to its width: a local search inside sub-domains).  ``starts``
    (``(N, n0)``) are used as starting points in addition to ``restarts`` uniform random ones.
    """
    if lo.ndim == 2:
        X = starts if starts is not None else rng.uniform(lo, hi)
    else:
        X = rng.uniform(lo, hi, size=(restarts, lo.size))
        X = np.vstack([X, 0.5 * (lo + hi)[None]] + ([starts] if starts is not None else []))
    width = hi - lo
    best_x, best_v = X[:1].copy(), -np.inf
    for it in range(steps):
        v, G = _ascent(arr, X, A, Bm, c)
        i = int(np.argmax(v))
        if v[i] > best_v:
            best_v, best_x = float(v[i]), X[i].copy()
        hit = v >= 0
        if hit.any():
            return X[hit][np.argsort(-v[hit])]
        if deadline is not None and time.perf_counter() > deadline:
            break
        step = width * (0.25 * 0.85**it)
        X = np.clip(X + step * np.sign(G), lo, hi)
    return None if best_v < 0 else best_x[None]

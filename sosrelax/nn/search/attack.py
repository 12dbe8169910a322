"""Batched counterexample search: projected sign-gradient ascent (PGD) with many restarts.

The catastrophe of a disjunct is ``min_k atom_k(x, f(x)) >= 0`` for ``x`` in its box; the attack
maximises that margin from many starting points at once (one batched forward and backward pass per
step).  Its answers are candidates only: the caller re-evaluates them exactly.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np

from sosrelax.nn.search.bounds import Arrays, s_derivative, s_function

__all__ = ["ATTACK_RESTARTS", "ATTACK_STEPS", "forward", "joint_attack", "joint_pgd", "margins", "pgd", "pgd_from",
           "try_points"]

#: PGD starting points per disjunct before a search, and steps.
ATTACK_RESTARTS = 64
ATTACK_STEPS = 100


def forward(arr: Arrays, X: np.ndarray) -> tuple[np.ndarray, list[np.ndarray]]:
    """Outputs ``(N, n_out)`` and the hidden pre-activations of a batch of inputs ``(N, n0)``."""
    zs: list[np.ndarray] = []
    a = X
    for m in range(arr.n_layers):
        z = a @ arr.W[m].T + arr.b[m]
        if m == arr.n_layers - 1:
            return z, zs
        zs.append(z)
        a = np.maximum(z, 0.0) if not arr.acts or arr.acts[m] == "relu" else s_function(arr.acts[m], z)
    raise AssertionError("unreachable")  # pragma: no cover


def margins(arr: Arrays, X: np.ndarray, A: np.ndarray, Bm: np.ndarray, c: np.ndarray) -> np.ndarray:
    """Atom values ``(N, K)`` at the rows of ``X``: ``A x + Bm f(x) + c``."""
    Y, _ = forward(arr, X)
    return X @ A.T + Y @ Bm.T + c


def _ascent(arr: Arrays, X: np.ndarray, A: np.ndarray, Bm: np.ndarray, c: np.ndarray
            ) -> tuple[np.ndarray, np.ndarray]:
    """Margins ``min_k atom_k`` and an ascent direction at the rows of ``X``.

    The direction is the gradient of a soft minimum of the atoms (weights ``exp(-(atom_k - min)/tau)``
    with ``tau`` a small share of the atoms' spread), so that near a tie between atoms the step raises
    all of the nearly smallest ones instead of zig-zagging between them.
    """
    Y, zs = forward(arr, X)
    vals = X @ A.T + Y @ Bm.T + c
    vmin = vals.min(axis=1, keepdims=True)
    tau = 0.05 * (vals.max(axis=1, keepdims=True) - vmin) + 1e-12
    w = np.exp(-(vals - vmin) / tau)
    w /= w.sum(axis=1, keepdims=True)
    G = w @ Bm
    for m in range(arr.n_layers - 1, 0, -1):
        kind = arr.kind(m - 1)
        G = (G @ arr.W[m]) * ((zs[m - 1] > 0) if kind == "relu" else s_derivative(kind, zs[m - 1]))
    G = G @ arr.W[0] + w @ A
    return vmin[:, 0], G


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
    own_v = np.full(X.shape[0], -np.inf)  # each start's best point so far
    own_x = X.copy()
    for phase, (n_steps, first) in enumerate(((steps, 0.25), (steps // 2, 1e-3))):
        if phase == 1:  # polish the most promising starts with small steps
            top = np.argsort(-own_v)[: max(1, X.shape[0] // 16)]
            X = own_x[top]
            width = width[top] if width.ndim == 2 else width
            lo_p, hi_p = (lo[top], hi[top]) if lo.ndim == 2 else (lo, hi)
        else:
            lo_p, hi_p = lo, hi
        for it in range(n_steps):
            v, G = _ascent(arr, X, A, Bm, c)
            i = int(np.argmax(v))
            if v[i] > best_v:
                best_v, best_x = float(v[i]), X[i].copy()
            if phase == 0:
                up = v > own_v
                own_v = np.where(up, v, own_v)
                own_x[up] = X[up]
            hit = v >= 0
            if hit.any():
                return X[hit][np.argsort(-v[hit])]
            if deadline is not None and time.perf_counter() > deadline:
                return None if best_v < 0 else best_x[None]
            step = width * (first * 0.85**it)
            X = np.clip(X + step * np.sign(G), lo_p, hi_p)
    return None if best_v < 0 else best_x[None]


def joint_pgd(arr: Arrays, lo: np.ndarray, hi: np.ndarray, A: np.ndarray, Bm: np.ndarray, c: np.ndarray,
              owner: np.ndarray, rng: np.random.Generator, *, restarts: int, steps: int, deadline: float,
              starts: np.ndarray | None = None, targeted: bool = False,
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Projected sign-gradient ascent of ``max_d min_{r in d} row_r(x)`` (rows ``A x + Bm f(x) + c``).

    ``targeted``: start ``i`` ascends ``min_{r in d} row_r`` of the fixed disjunct ``d = i mod D``.
    Returns the best point of every start, its value and the disjunct attaining it.
    """
    X = rng.uniform(lo, hi, size=(restarts, lo.size))
    X = np.vstack([X, 0.5 * (lo + hi)[None]] + ([starts] if starts is not None else []))
    D = int(owner.max()) + 1
    width = hi - lo
    best_x, best_v, best_d = X.copy(), np.full(X.shape[0], -np.inf), np.zeros(X.shape[0], dtype=np.int64)
    N = np.arange(X.shape[0])
    target = N % D if targeted else None
    for it in range(steps + 1):
        z, zs = forward(arr, X)
        vals = X @ A.T + z @ Bm.T + c  # (N, R)
        per = np.full((X.shape[0], D), np.inf)
        np.minimum.at(per.T, owner, vals.T)
        dd = np.argmax(per, axis=1) if target is None else target
        v = per[N, dd]
        better = v > best_v
        best_x[better], best_v[better], best_d[better] = X[better], v[better], dd[better]
        if it == steps or np.any(v > 0) or time.perf_counter() > deadline:
            break
        r = np.argmin(np.where(owner[None, :] == dd[:, None], vals, np.inf), axis=1)
        G = Bm[r]
        for m in range(arr.n_layers - 1, 0, -1):
            kind = arr.kind(m - 1)
            G = (G @ arr.W[m]) * ((zs[m - 1] > 0) if kind == "relu" else s_derivative(kind, zs[m - 1]))
        G = G @ arr.W[0] + A[r]
        step = width * 0.5 * (1 + np.cos(np.pi * it / steps)) * 0.25
        X = np.clip(X + step * np.sign(G), lo, hi)
    return best_x, best_v, best_d


def joint_attack(arr: Arrays, lo: np.ndarray, hi: np.ndarray, rows: tuple[np.ndarray, np.ndarray, np.ndarray],
                 owner: np.ndarray, rng: np.random.Generator, confirm: Callable[[int, np.ndarray], bool], *,
                 deadline: float) -> tuple[int, np.ndarray] | None:
    """Joint PGD, then :func:`pgd` on the disjunct it came closest to; the
    first exactly confirmed counterexample ``(disjunct, x)``, or None."""
    A, Bm, c = rows
    X, v, dd = joint_pgd(arr, lo, hi, A, Bm, c, owner, rng, restarts=ATTACK_RESTARTS, steps=ATTACK_STEPS,
                         deadline=deadline)
    order = np.argsort(-v)
    for i in order[v[order] > 0][:4]:
        if confirm(int(dd[i]), X[i]):
            return int(dd[i]), X[i]
    d = int(dd[order[0]])
    sel = owner == d
    cand = pgd(arr, lo, hi, A[sel], Bm[sel], c[sel], rng, restarts=ATTACK_RESTARTS, steps=ATTACK_STEPS,
               deadline=deadline, starts=X[order[:ATTACK_RESTARTS // 4]])
    if cand is not None:
        for x in cand[:4]:
            if confirm(d, x):
                return d, x
    return None


def pgd_from(arr: Arrays, box: tuple[np.ndarray, np.ndarray], rows: tuple[np.ndarray, np.ndarray, np.ndarray],
             owner: np.ndarray, xs: np.ndarray, score: np.ndarray, rng: np.random.Generator,
             confirm: Callable[[int, np.ndarray], bool], deadline: float) -> tuple[int, np.ndarray] | None:
    """PGD from the bound minimisers ``xs`` of the open sub-domains with the lowest bounds ``score``;
    the first exactly confirmed counterexample ``(disjunct, x)``, or None."""
    pick = np.argsort(score)[:ATTACK_RESTARTS]
    X, v, dd = joint_pgd(arr, box[0], box[1], *rows, owner, rng, restarts=8, steps=ATTACK_STEPS // 2,
                         deadline=deadline, starts=xs[pick])
    order = np.argsort(-v)
    for i in order[v[order] > 0][:2]:
        if confirm(int(dd[i]), X[i]):
            return int(dd[i]), X[i]
    return None


def try_points(arr: Arrays, xs: np.ndarray, worst: np.ndarray, owner: np.ndarray,
               groups: list[tuple[np.ndarray, np.ndarray, np.ndarray]],
               confirm: Callable[[int, np.ndarray], bool]) -> tuple[int, np.ndarray] | None:
    """The first point ``xs[i]`` that violates its worst row's disjunct, confirmed exactly."""
    for d in np.unique(owner[worst]):
        sel = np.flatnonzero(owner[worst] == d)
        A, Bm, c = groups[int(d)]
        vals = margins(arr, xs[sel], A, Bm, c).min(axis=1)
        order = np.argsort(-vals)[:4]
        for h in order[vals[order] > 0]:
            if confirm(int(d), xs[sel[h]]):
                return int(d), xs[sel[h]]
    return None

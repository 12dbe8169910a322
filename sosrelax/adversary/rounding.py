"""Rounding: turn a pseudodistribution into concrete candidate points.

Every generator has the signature ``(pseudo, problem, rng, k) -> ndarray (m, n)`` with ``m ≤ k``
rows in the *problem's* variable order (``problem.variables``).  None of them promises feasibility:
candidates are starting points for :mod:`sosrelax.adversary.search`, which re-checks everything
exactly.  A pseudodistribution on a subset of the variables (one clique of a sparse relaxation) is
embedded by filling the other coordinates with the centre of their box (or 0).

Generators
----------
``atoms_candidates``
    Henrion–Lasserre atoms (verified or not), heaviest first.
``mean_candidates``
    ``Ẽ[x]`` — the optimiser itself when the relaxation is exact with a unique optimiser.
``gaussian_candidates``
    Samples of ``N(Ẽ[x], Σ)`` with ``Σ`` the pseudo-covariance projected onto the PSD cone: the
    Gaussian with the same first two (pseudo)moments.
``hyperplane_candidates``
    Goemans–Williamson random-hyperplane rounding for ±1 variables: factor the homogenised
    second-moment matrix ``M_1 = V Vᵀ`` (rows ``v_0`` for the constant, ``v_i`` for ``x_i``), draw
    ``g ~ N(0, I)`` and set ``x_i = sign(v_i·g) · sign(v_0·g)``; non-±1 variables get their mean.
``uniform_candidates``
    Moment-free baseline: uniform in the box (normal or exponential along unbounded directions),
    random signs on ±1 variables.
``project_to_box``
    Clip points onto the variable box and snap ±1 variables to their sign.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from sosrelax.adversary.pseudo import PseudoDistribution
from sosrelax.poly import Polynomial

__all__ = [
    "CandidateGenerator",
    "atoms_candidates",
    "box_of",
    "gaussian_candidates",
    "hyperplane_candidates",
    "mean_candidates",
    "project_to_box",
    "psd_projection",
    "sign_equality_variable",
    "sign_variables",
    "uniform_candidates",
]

CandidateGenerator = Callable[
    [PseudoDistribution | None, Any, np.random.Generator, int], np.ndarray
]


def sign_equality_variable(h: Polynomial) -> str | None:
    """Name of ``x`` if ``h = c (x² − 1)`` for some ``c ≠ 0`` (the equality ``h = 0`` says ``x = ±1``), else ``None``."""
    if h.nterms != 2 or h.degree != 2:
        return None
    exps = np.asarray(h.exps)
    used = np.flatnonzero(exps.sum(axis=0))
    if used.size != 1:
        return None
    col = exps[:, used[0]]
    coefs = np.asarray(h.coefs)
    order = np.argsort(col)
    if tuple(col[order]) != (0, 2) or coefs[order[0]] != -coefs[order[1]]:
        return None
    return str(h.variables[used[0]])


def sign_variables(problem: Any) -> np.ndarray:
    """Boolean mask over ``problem.variables``: ``True`` where ``x_i² = 1`` is an equality.

    Such variables are ±1 exactly, and rounding to ±1 meets their equality in exact arithmetic.
    """
    names = {sign_equality_variable(h) for h in problem.equalities} - {None}
    return np.array([v in names for v in problem.variables], dtype=bool)


def box_of(problem: Any) -> tuple[np.ndarray, np.ndarray]:
    """``problem.variable_box()`` as float arrays, tightened to ``[-1, 1]`` on ±1 variables."""
    lo, hi = problem.variable_box()
    lo = np.array(lo, dtype=np.float64)
    hi = np.array(hi, dtype=np.float64)
    pm = sign_variables(problem)
    lo[pm] = np.maximum(lo[pm], -1.0)
    hi[pm] = np.minimum(hi[pm], 1.0)
    return lo, hi


def project_to_box(x: np.ndarray, problem: Any) -> np.ndarray:
    """Clip the rows of ``x`` onto the variable box and snap ±1 variables to ``sign`` (0 → +1)."""
    lo, hi = box_of(problem)
    out = np.clip(np.asarray(x, dtype=np.float64), lo, hi)
    pm = sign_variables(problem)
    if np.any(pm):
        out[:, pm] = np.where(out[:, pm] < 0.0, -1.0, 1.0)
    return out


def psd_projection(a: np.ndarray) -> np.ndarray:
    """Nearest PSD matrix in Frobenius norm: symmetrise and clip negative eigenvalues to 0."""
    s = 0.5 * (a + a.T)
    w, q = np.linalg.eigh(s)
    return (q * np.clip(w, 0.0, None)) @ q.T


def _embed(pseudo: PseudoDistribution, problem: Any, rows: np.ndarray) -> np.ndarray:
    """Place rows given on ``pseudo.variables`` into the problem's variable order."""
    names = tuple(problem.variables)
    if tuple(pseudo.variables) == names:
        return rows
    lo, hi = box_of(problem)
    centre = np.where(np.isfinite(lo) & np.isfinite(hi), 0.5 * (lo + hi), 0.0)
    centre = np.where(np.isfinite(lo) & ~np.isfinite(hi), lo, centre)
    centre = np.where(~np.isfinite(lo) & np.isfinite(hi), hi, centre)
    out = np.tile(centre, (rows.shape[0], 1))
    pos = {v: i for i, v in enumerate(names)}
    cols = [pos[v] for v in pseudo.variables if v in pos]
    src = [j for j, v in enumerate(pseudo.variables) if v in pos]
    out[:, cols] = rows[:, src]
    return out


def _empty(problem: Any) -> np.ndarray:
    return np.zeros((0, len(problem.variables)))


def atoms_candidates(
    pseudo: PseudoDistribution | None, problem: Any, rng: np.random.Generator, k: int
) -> np.ndarray:
    """Up to ``k`` Henrion–Lasserre atoms, heaviest first (unverified points included)."""
    if pseudo is None or k <= 0 or pseudo.level < 1:
        return _empty(problem)
    res = pseudo.atoms(rng=rng, require_flat=False)
    pts = res.points
    if pts.shape[0] == 0 or not np.all(np.isfinite(pts)):
        return _empty(problem)
    if res.weights.shape[0] == pts.shape[0] and np.all(np.isfinite(res.weights)):
        pts = pts[np.argsort(-res.weights, kind="stable")]
    return _embed(pseudo, problem, pts[:k])


def mean_candidates(
    pseudo: PseudoDistribution | None, problem: Any, rng: np.random.Generator, k: int
) -> np.ndarray:
    """The pseudo-mean ``Ẽ[x]`` (one row; none if ``k = 0``)."""
    if pseudo is None or k <= 0:
        return _empty(problem)
    return _embed(pseudo, problem, pseudo.mean()[None, :])


def gaussian_candidates(
    pseudo: PseudoDistribution | None, problem: Any, rng: np.random.Generator, k: int
) -> np.ndarray:
    """``k`` samples of ``N(Ẽ[x], Π_PSD(cov))``."""
    if pseudo is None or k <= 0 or pseudo.level < 1:
        return _empty(problem)
    mu = pseudo.mean()
    cov = psd_projection(pseudo.cov())
    w, q = np.linalg.eigh(cov)
    factor = q * np.sqrt(np.clip(w, 0.0, None))
    z = rng.standard_normal((k, mu.shape[0]))
    return _embed(pseudo, problem, mu + z @ factor.T)


def hyperplane_candidates(
    pseudo: PseudoDistribution | None, problem: Any, rng: np.random.Generator, k: int
) -> np.ndarray:
    """``k`` Goemans–Williamson roundings ``x_i = sign(v_i·g) sign(v_0·g)`` of the ±1 variables.

    ``V`` factors the PSD projection of the homogenised degree-2 moment matrix
    ``[[1, Ẽxᵀ], [Ẽx, Ẽxxᵀ]]``.  For max-cut this is exactly Goemans–Williamson: the expected cut
    is ``Σ w_ij θ_ij / π ≥ 0.878 · SDP``.  Variables that are not ±1 get their pseudo-mean.
    Returns no rows when the problem has no ±1 variable.
    """
    if pseudo is None or k <= 0 or pseudo.level < 1:
        return _empty(problem)
    names = tuple(problem.variables)
    pm_names = {v for v, s in zip(names, sign_variables(problem), strict=True) if s}
    sel = np.array([v in pm_names for v in pseudo.variables], dtype=bool)
    if not np.any(sel):
        return _empty(problem)
    mu = pseudo.mean()
    m1 = np.empty((pseudo.n + 1, pseudo.n + 1))
    m1[0, 0] = 1.0
    m1[0, 1:] = m1[1:, 0] = mu
    m1[1:, 1:] = pseudo.second_moments()
    w, q = np.linalg.eigh(psd_projection(m1))
    v = q * np.sqrt(np.clip(w, 0.0, None))
    g = rng.standard_normal((k, v.shape[1]))
    s = np.where(g @ v.T >= 0.0, 1.0, -1.0)  # (k, n + 1)
    rows = np.tile(mu, (k, 1))
    rows[:, sel] = (s[:, 1:] * s[:, :1])[:, sel]
    return _embed(pseudo, problem, rows)


def uniform_candidates(
    pseudo: PseudoDistribution | None, problem: Any, rng: np.random.Generator, k: int
) -> np.ndarray:
    """``k`` moment-free starting points: uniform in the box, random signs on ±1 variables.

    Along an unbounded direction: ``lo + Exp(1)``, ``hi − Exp(1)`` or ``N(0, 1)``.
    """
    n = len(problem.variables)
    if k <= 0:
        return _empty(problem)
    lo, hi = box_of(problem)
    u = rng.random((k, n))
    both = np.isfinite(lo) & np.isfinite(hi)
    lo_f = np.where(np.isfinite(lo), lo, 0.0)
    hi_f = np.where(np.isfinite(hi), hi, 0.0)
    x = np.where(both, lo_f + u * (hi_f - lo_f), 0.0)
    e = rng.exponential(1.0, (k, n))
    x = np.where(np.isfinite(lo) & ~np.isfinite(hi), lo_f + e, x)
    x = np.where(~np.isfinite(lo) & np.isfinite(hi), hi_f - e, x)
    x = np.where(~np.isfinite(lo) & ~np.isfinite(hi), rng.standard_normal((k, n)), x)
    pm = sign_variables(problem)
    if np.any(pm):
        x[:, pm] = np.where(rng.random((k, int(pm.sum()))) < 0.5, -1.0, 1.0)
    return x

"""Gram matrices on the face of a relaxation's global minimisers, corrected in floating point for exact rounding.

Where the moment relaxation of an unconstrained problem is exact, every certificate of the optimal bound
:math:`f^*` vanishes at each global minimiser :math:`p`: :math:`f - f^* = \\sum_i b_i^T Q_i b_i` evaluated at
:math:`p` is :math:`0 = \\sum_i b_i(p)^T Q_i b_i(p)`, so :math:`Q_i b_i(p) = 0` in every block.  An interior-point
solver returns Gram matrices whose smallest eigenvalues along those vectors are of the order of its tolerance, and
identities that hold to the same tolerance; a certificate rounded from them, or from a centred re-solve, loses
far more than the solver's accuracy on a long chain (the margin it needs is spread over a thousand blocks).

Here the minimisers are computed to full float accuracy instead (local descents from the moments, Newton steps,
and the atoms of clique moment matrices whose rank the points found do not explain), and the certificate is
built on their face:

1. In each block, the span :math:`U_i` of the :math:`b_i(p)` is imposed (:math:`Q_i = W_i S_i W_i^T` with
   :math:`W_i` a basis of its complement) where the solver's matrix is already small on all of it; elsewhere
   nothing is imposed (a minimiser close to another one gives a direction no float computation can place).
2. :math:`S` is corrected, in the metric of the solver's own matrices (:math:`W_i` carries the square roots of
   their eigenvalues, so that small eigenvalues move little), to the least-norm solution of the coefficient
   identities :math:`f - \\gamma = \\sum_i A_i(Q_i)`, for :math:`\\gamma` the smallest minimiser value less
   what the unconstrained blocks hold at the minimisers.
3. The bound is backed off by :math:`\\sum_i \\delta_i`, each block receiving :math:`\\delta_i H_i` with
   :math:`b_i^T H_i b_i \\equiv 1` and :math:`H_i` definite on :math:`U_i`:
   :math:`H = e_0 e_0^T + \\eta \\sum_j (e_{x_j} e_{x_j}^T - \\tfrac12 (e_0 e_{x_j^2}^T + e_{x_j^2} e_0^T))`,
   whose Gram matrix at two points :math:`p, q` of the face is :math:`1 - \\eta |p - q|^2 / 2`.  A block whose
   remaining residual or eigenvalues ask for more gets a larger share.

The result is a float certificate for :func:`~sosrelax.certificate.cliqueround.round_blocks`; nothing here is
trusted, the checker decides.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from sosrelax.conic import svec_indices
from sosrelax.relax.descent import SparseObjective, polish, starting_points, unconstrained_objective
from sosrelax.relax.moment import MomentRelaxation

__all__ = ["FACE_STEPS", "FaceGrams", "MinimiserFace", "finish_estimate", "minimiser_face", "prove_on_face"]

logger = logging.getLogger(__name__)

#: Minimiser values within this relative distance of the smallest count as global minima.
_SAME_VALUE = 1e-12
#: A block's point directions are imposed when the solver's matrix is below this (relative) on all of them.
_SMALL = 1e-7
#: Point directions whose singular value is below this fraction of the largest are not told apart.
_SEPARATE = 1e-6
#: At most this many sweeps of iterative refinement of the least-norm correction.
_SWEEPS = 30
#: At most this many corrections, each leaving free the blocks the previous one left indefinite.
_ROUNDS = 3
#: The metric of a freed block along the minimisers' directions (relative to its largest entry).
_FREED_METRIC = 1e-8
#: At most this many blocks have their clique moments searched for further minimisers.
_ATOM_BLOCKS = 8


@dataclass(frozen=True)
class FaceGrams:
    """Float Gram matrices of a certificate of ``bound`` (relaxed units, on ``sign·F``), and what it cost."""

    grams: list[np.ndarray]
    bound: float
    #: the total backoff below the face's value
    backoff: float


@dataclass
class MinimiserFace:
    """The corrected face of a relaxation's minimisers: :meth:`lift` makes certificates of bounds below
    ``value`` from it.

    Attributes
    ----------
    value : float
        The bound the corrected identities hold for (relaxed units).
    points : list of ndarray
        The global minimisers found (relaxed variables).
    values : list of float
        The objective (relaxed ``sign·F``) at each.
    grams : list of ndarray
        The corrected Gram matrices (singular on the imposed directions).
    residual : ndarray
        The identities' remaining residual per moment.
    imposed : int
        The number of blocks on which the points' directions were imposed.
    """

    value: float
    points: list[np.ndarray]
    values: list[float]
    grams: list[np.ndarray]
    residual: np.ndarray
    imposed: int
    ids: list[np.ndarray]
    lifts: list[np.ndarray]

    def lift(self, backoff: float, cap: float) -> FaceGrams | None:
        """Gram matrices for the bound ``value − Σ δ_i``, definite by a float test: each block gets an even
        share of half of ``backoff``, or more where its eigenvalues or the residual the exact projection will
        spread over it ask for more; ``None`` when the total would pass ``cap``."""
        if not backoff > 0:
            return None
        base = 0.5 * backoff / max(1, len(self.grams))
        out: list[np.ndarray] = []
        used = 0.0
        for Q, ent, H in zip(self.grams, self.ids, self.lifts, strict=True):
            # what the exact projection of the remaining residual may move the block by (entrywise at most
            # the largest residual of its monomials), twice over
            need = 2.0 * Q.shape[0] * float(np.abs(self.residual[ent]).max(initial=0.0))
            d = base
            while float(np.linalg.eigvalsh(Q + d * H)[0]) < max(1e-3 * d, need):
                d *= 2.0
                if used + d > cap:
                    return None
            used += d
            out.append(Q + d * H)
        return FaceGrams(out, self.value - used, used)


def entry_ids(relax: MomentRelaxation) -> list[np.ndarray] | None:
    """The moment index of every entry of every Gram block (``ids[i][a, b]``), read off the program's rows;
    ``None`` unless every block is a σ₀ moment matrix in a PSD cone."""
    if relax.equality_blocks or relax.products or any(
            blk.constraint is not None or blk.cone != "psd" for blk in relax.gram_blocks):
        return None
    A = sp.csr_matrix(relax.program.A)
    out = []
    for blk in relax.gram_blocks:
        rows = A[blk.rows]
        if np.any(np.diff(rows.indptr) != 1):
            return None
        r, c = svec_indices(blk.order)
        ids = np.empty((blk.order, blk.order), dtype=np.int64)
        ids[r, c] = rows.indices
        ids[c, r] = rows.indices
        out.append(ids)
    return out


def _evaluations(points: list[np.ndarray], basis: np.ndarray, support: np.ndarray | None) -> np.ndarray:
    """``b(p)`` for each point, as columns."""
    cols = [np.prod((p if support is None else p[support])[None, :] ** basis, axis=1) for p in points]
    return np.stack(cols, axis=1)


class _Points:
    """Global minimiser candidates: kept while their value is within :data:`_SAME_VALUE` of the smallest."""

    def __init__(self, fun: SparseObjective) -> None:
        self.fun = fun
        self.points: list[np.ndarray] = []
        self.values: list[float] = []

    @property
    def best(self) -> float:
        return min(self.values, default=float("inf"))

    def add(self, x: np.ndarray) -> None:
        if not np.all(np.isfinite(x)):
            return
        v = float(self.fun(x)[0])
        if not np.isfinite(v):
            return
        tol = _SAME_VALUE * (1.0 + abs(v))
        if v < self.best - tol:
            keep = [(p, w) for p, w in zip(self.points, self.values, strict=True) if w <= v + tol]
            self.points, self.values = [p for p, _ in keep], [w for _, w in keep]
        if v <= self.best + tol and not any(np.abs(x - p).max() <= 1e-9 * (1.0 + np.abs(p).max())
                                            for p in self.points):
            self.points.append(x)
            self.values.append(v)


def _find_points(relax: MomentRelaxation, fun: SparseObjective, moments: np.ndarray, ids: list[np.ndarray],
                 stop_at: float | None) -> _Points:
    """Polished local minimisers from the moments' starting points, then from the atoms of the blocks whose
    moment matrix has more large eigenvalues than the points found have directions."""
    n = len(relax.variables)
    found = _Points(fun)
    for x0 in starting_points(relax.moment_exps, moments, n):
        found.add(polish(fun, x0))
    if not found.points:
        return found
    tried = 0
    for blk, ent in zip(relax.gram_blocks, ids, strict=True):
        if tried >= _ATOM_BLOCKS or (stop_at is not None and time.perf_counter() > stop_at):
            break
        w = np.linalg.eigvalsh(moments[ent])
        rank = int(np.count_nonzero(w > 1e-3 * w[-1])) if w[-1] > 0 else 0
        s = np.linalg.svd(_evaluations(found.points, blk.basis, blk.support), compute_uv=False)
        if rank <= int(np.count_nonzero(s > _SEPARATE * s[0])):
            continue
        tried += 1
        for atom in _atoms(relax, blk, moments):
            start = found.points[int(np.argmin(found.values))].copy()
            if blk.support is None:
                start = atom
            else:
                start[blk.support] = atom
            found.add(polish(fun, start, maxiter=200))
    return found


def _atoms(relax: MomentRelaxation, blk: Any, moments: np.ndarray) -> np.ndarray:
    """The atoms of one block's clique moments (none when they are not found)."""
    clique = blk.clique if blk.clique is not None else 0
    pds = relax.clique_pseudodistributions(moments, only=(clique,))
    if not pds:
        return np.zeros((0, 0))
    res = pds[0].atoms(require_flat=False)
    return res.points if res.found else np.zeros((0, 0))


def minimiser_face(relax: MomentRelaxation, x: np.ndarray, z: np.ndarray, *, stop_at: float | None = None,
                   value_tolerance: float = 1e-6) -> MinimiserFace | None:
    """The corrected face of the relaxation's minimisers (see the module docstring), from a solution's moments
    ``x`` and dual ``z``; ``None`` when it does not apply (constraints or other multipliers, no minimiser whose
    value is within ``value_tolerance`` (relative) of the solver's, or time is up)."""
    fun = unconstrained_objective(relax)
    ids = entry_ids(relax)
    if fun is None or ids is None or not relax.gram_blocks or not np.all(np.isfinite(x)):
        return None
    y0 = float(x[relax.zero_moment_index()])
    if not y0 > 0:
        return None
    moments = np.asarray(x, dtype=float) / y0
    gamma_solver = -float(z[0])
    found = _find_points(relax, fun, moments, ids, stop_at)
    if not found.points or found.best - gamma_solver > value_tolerance * (1.0 + abs(gamma_solver)):
        return None
    if stop_at is not None and time.perf_counter() > stop_at:
        return None
    Qs = relax.gram_matrices(z)
    free: set[int] = set()
    pairs = [_complement(blk, Q, found.points) for blk, Q in zip(relax.gram_blocks, Qs, strict=True)]
    for _round in range(_ROUNDS):
        out = _correct(relax, pairs, ids, found)
        if out is None:
            return None
        gamma, grams, residual, imposed = out
        # blocks the correction left indefinite: their face is not where the solver's matrix is (on a long
        # chain the least-norm correction piles up where the face constrains most); leave it free there
        worse = {i for i, Q in enumerate(grams)
                 if i not in free and float(np.linalg.eigvalsh(Q)[0]) < -1e-12 * max(1.0, float(np.abs(Q).max()))}
        if not worse:
            break
        free |= worse
        for i in worse:
            pairs[i] = _complement(relax.gram_blocks[i], Qs[i], found.points, impose=False)
    lifts = [_lift_matrix(blk, found.points) for blk in relax.gram_blocks]
    logger.debug("minimiser face: %d point(s), imposed on %d of %d blocks, residual %.2g",
                 len(found.points), imposed, len(grams), float(np.abs(residual).max(initial=0.0)))
    return MinimiserFace(gamma, found.points, found.values, grams, residual, imposed, ids, lifts)


def _correct(relax: MomentRelaxation, pairs: list[tuple[np.ndarray, np.ndarray]], ids: list[np.ndarray],
             found: _Points) -> tuple[float, list[np.ndarray], np.ndarray, int] | None:
    """One correction onto the face given by each block's :func:`_complement` (``pairs``): the bound, the
    Gram matrices, the remaining residual per moment and the number of blocks on the face."""
    bases = [W for W, _ in pairs]
    imposed = sum(int(W.shape[0] != W.shape[1]) for W in bases)
    A, offsets = _identity_map(bases, ids, relax.n_moments)
    starts = [S.copy() for _, S in pairs]
    gamma = _balance(relax, bases, starts, found)
    zero = relax.zero_moment_index()
    rhs = np.asarray(relax.program.c, dtype=float).copy()
    rhs[zero] -= gamma
    s = np.concatenate([S[np.triu_indices(S.shape[0])] for S in starts])
    residual = rhs - A @ s
    normal = (A @ A.T).tocsc() + 1e-15 * sp.identity(A.shape[0], format="csc")
    try:
        solve = spla.splu(normal).solve
    except RuntimeError:
        return None
    # iterative refinement of the (regularised) normal equations: each sweep is two products and one solve
    size = float(np.abs(residual).max(initial=0.0))
    for _ in range(_SWEEPS):
        step = A.T @ solve(residual)
        if not np.all(np.isfinite(step)):
            return None
        trial = rhs - A @ (s + step)
        new = float(np.abs(trial).max(initial=0.0))
        if not new < size:
            break
        s, residual = s + step, trial
        if new <= 1e-15 * (1.0 + float(np.abs(rhs).max(initial=0.0))) or new > 0.5 * size:
            break
        size = new
    grams = []
    for W, at in zip(bases, offsets, strict=True):
        m = W.shape[1]
        S = np.zeros((m, m))
        S[np.triu_indices(m)] = s[at:at + m * (m + 1) // 2]
        S = S + np.triu(S, 1).T
        grams.append(W @ S @ W.T)
    return gamma, grams, residual, imposed


def _balance(relax: MomentRelaxation, bases: list[np.ndarray], starts: list[np.ndarray], found: _Points
             ) -> float:
    """The bound the corrected identities are solved for, after making the blocks where no face is imposed
    hold as much at every minimiser as at the one where they hold most (in place on ``starts``).

    Evaluated at a minimiser ``p``, the identity reads ``f(p) − γ = Σ_i b_i(p)ᵀ Q_i b_i(p)``; blocks on the
    face hold nothing there, the others ``h_i(p) = |W_iᵀ b_i(p)|²`` (with ``S_i = I``).  The sums must agree
    between minimisers of equal value; a least-norm correction in the blocks' own metric would have to move
    their smallest eigenvalues by their whole size to make them agree.  So each minimiser's deficit is added
    explicitly, as a definite rank-one term ``c t tᵀ`` in the one block where ``t`` (``W_iᵀ b_i(p)`` made
    orthogonal to the other minimisers' vectors: they keep their values) is longest."""
    blocks = relax.gram_blocks
    g = [[(W.T @ _evaluations([p], blk.basis, blk.support))[:, 0] for p in found.points]
         for blk, W in zip(blocks, bases, strict=True)]
    held = [sum(float(gi[j] @ S @ gi[j]) for gi, S in zip(g, starts, strict=True)) for j in range(len(found.points))]
    top = max(held)
    for j, h in enumerate(held):
        deficit = top - h
        if not deficit > 0:
            continue
        best, choice = 0.0, None
        for i, gi in enumerate(g):
            others = np.stack([gi[q] for q in range(len(gi)) if q != j], axis=1)
            t = gi[j]
            if others.size:
                basis = np.linalg.svd(others, full_matrices=False)[0]
                t = t - basis @ (basis.T @ t)
            size = float(t @ t)
            if size > best:
                best, choice = size, (i, t)
        if choice is None:
            continue
        i, t = choice
        starts[i] += (deficit / best**2) * np.outer(t, t)
    return min(v - top for v in found.values)


def _complement(blk: Any, Q: np.ndarray, points: list[np.ndarray], *, impose: bool = True
                ) -> tuple[np.ndarray, np.ndarray]:
    """``W`` with ``Q ≈ W Wᵀ`` off the imposed directions: an orthonormal basis of their complement scaled by
    the square roots of ``Q``'s eigenvalues there (floored), so that a change ``W ΔS Wᵀ`` is measured in
    ``Q``'s own metric."""
    k = Q.shape[0]
    U, sv, _ = np.linalg.svd(_evaluations(points, blk.basis, blk.support), full_matrices=False)
    U = U[:, sv > _SEPARATE * sv[0]]
    scale = max(1.0, float(np.abs(Q).max(initial=0.0)))
    near = U
    if not impose or (U.shape[1] and not np.all(np.linalg.eigvalsh(U.T @ Q @ U) < _SMALL * scale)):
        U = U[:, :0]  # the solver's matrix is not on this face: impose none of it
    C = np.linalg.qr(np.hstack([U, np.eye(k)]))[0][:, U.shape[1]:k]
    w, V = np.linalg.eigh(C.T @ Q @ C)
    m = np.maximum(w, 1e-14 * scale)
    start = np.maximum(w, 0.0) / m
    if not impose and near.shape[1]:
        # a freed block starts with nothing along the minimisers' directions (what it held there would be
        # taken from the bound); the correction and the lift decide what it holds
        along = np.sum((near.T @ (C @ V)) ** 2, axis=0)
        # and measures changes there as if they were of :data:`_FREED_METRIC` (the solver's own eigenvalue
        # there would let the correction move them by nothing, and the identities would stay unsolved)
        mask = (along > 0.5) & (w < _SMALL * scale)
        m = np.where(mask, np.maximum(m, _FREED_METRIC * scale), m)
        start = np.where(mask, 0.0, np.maximum(w, 0.0) / m)
    return C @ (V * np.sqrt(m)), np.diag(start)


def _identity_map(bases: list[np.ndarray], ids: list[np.ndarray], n_moments: int) -> tuple[Any, list[int]]:
    """The coefficient map ``S ↦ Σ_i A_i(W_i S_i W_iᵀ)`` on the upper triangles of the ``S_i`` (sparse, moments
    × unknowns), and each block's first column."""
    rows, cols, vals, offsets = [], [], [], []
    at = 0
    groups: dict[tuple[int, int], list[int]] = {}
    for j, W in enumerate(bases):
        offsets.append(at)
        at += W.shape[1] * (W.shape[1] + 1) // 2
        groups.setdefault(W.shape, []).append(j)
    for (k, m), members in groups.items():
        Wg = np.stack([bases[j] for j in members])  # (g, k, m)
        ea, eb = np.triu_indices(k)
        pi, qi = np.triu_indices(m)
        X, Y = Wg[:, ea, :], Wg[:, eb, :]  # (g, E, m)
        P = X[:, :, pi] * Y[:, :, qi] + X[:, :, qi] * Y[:, :, pi]
        P[:, :, pi == qi] *= 0.5
        P *= np.where(ea == eb, 1.0, 2.0)[None, :, None]  # entry (a, b) and (b, a)
        mon = np.stack([ids[j][ea, eb] for j in members])  # (g, E)
        first = np.array([offsets[j] for j in members])
        rows.append(np.broadcast_to(mon[:, :, None], P.shape).ravel())
        cols.append((first[:, None, None] + np.arange(pi.size)[None, None, :]).repeat(ea.size, axis=1).ravel())
        vals.append(P.ravel())
    A = sp.csr_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(n_moments, at))
    return A, offsets


def _lift_matrix(blk: Any, points: list[np.ndarray]) -> np.ndarray:
    """``H`` with ``bᵀ H b ≡ 1``, definite on the points' directions (see the module docstring); ``η`` is
    ``min(1/2, 1/d²)`` for ``d`` the largest distance between the points on the block's variables."""
    basis = np.asarray(blk.basis)
    k = basis.shape[0]
    H = np.zeros((k, k))
    pos = {tuple(r): a for a, r in enumerate(basis.tolist())}
    zero = pos.get((0,) * basis.shape[1])
    if zero is None:
        return H
    H[zero, zero] = 1.0
    local = [p if blk.support is None else p[blk.support] for p in points]
    spread = max((float(np.max(np.abs(p - q))) for p in local for q in local), default=0.0)
    eta = 0.5 if spread == 0 else min(0.5, 1.0 / spread**2)
    for j in range(basis.shape[1]):
        e1 = [0] * basis.shape[1]
        e1[j] = 1
        e2 = list(e1)
        e2[j] = 2
        a1, a2 = pos.get(tuple(e1)), pos.get(tuple(e2))
        if a1 is None or a2 is None:
            continue
        H[a1, a1] += eta
        H[zero, a2] -= 0.5 * eta
        H[a2, zero] -= 0.5 * eta
    return H


#: Backoffs (relative, in the user's units) of the certificates on the minimisers' face, smallest first.
FACE_STEPS = (1e-7, 1e-6, 1e-5)
#: Seconds of exact rounding and checking per Gram entry and variable, before one has been measured.
_FINISH_SECONDS = 7e-8


def finish_estimate(relax: MomentRelaxation) -> float:
    """Seconds an exact rounding and check of one certificate of ``relax`` is expected to take, before one
    has been measured (:data:`_FINISH_SECONDS` per Gram entry and variable)."""
    return _FINISH_SECONDS * len(relax.variables) * sum(blk.order**2 for blk in relax.gram_blocks)


def prove_on_face(ctx: Any, sol: Any, metadata: dict[str, str], deadline: Any) -> tuple[Any, float]:
    """The certificate step's attempt on the face of the global minimisers: for each backoff of
    :data:`FACE_STEPS` the face reaches, a float certificate finished (made exact and checked) by ``ctx``
    (a :class:`sosrelax.prove.ProofContext`); the first the checker accepts, and the smallest objective value
    found at a point (relaxed units; ``inf`` when the face does not apply).  No re-solve."""
    from sosrelax.certificate.extract import certificate_from_grams

    relax = ctx.relax
    if sol.x is None or sol.z is None:
        return None, float("inf")
    face = minimiser_face(relax, np.asarray(sol.x, dtype=float), np.asarray(sol.z, dtype=float),
                          stop_at=ctx.limits.get("stop_at"))
    if face is None:
        return None, float("inf")
    attained = min(face.values)
    scale = 1.0 + abs(ctx.factor * -float(sol.z[0]))
    tried = 0.0
    # an exact rounding and check cost about this (the certificate's exponent rows are dense: Gram entries
    # times variables, measured on the chains at n = 1000); after one, what it took
    cost = finish_estimate(relax)
    for step in FACE_STEPS:
        if deadline.expired() or (deadline.limited and not deadline.allows(cost)):
            deadline.short("certificate on the minimisers' face")
            break
        backoff = step * scale / ctx.factor
        if backoff <= tried:
            continue  # the last certificate already had more than this
        lifted = face.lift(backoff, cap=FACE_STEPS[-1] * scale / ctx.factor)
        if lifted is None:
            continue
        tried = lifted.backoff
        meta = dict(metadata, certificate="minimiser-face", points=str(len(face.points)),
                    backoff=repr(ctx.factor * lifted.backoff))
        t0 = time.perf_counter()
        proof = ctx.finish(certificate_from_grams(relax, lifted.grams, lifted.bound, metadata=meta))
        cost = time.perf_counter() - t0
        logger.debug("minimiser-face certificate (backoff %.2g): %s", ctx.factor * lifted.backoff,
                     proof[1].bound if proof[1].valid else proof[1].reason[:80])
        if proof[1].valid:
            return proof, attained
    return None, attained

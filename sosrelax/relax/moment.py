"""Dense moment–SOS (Lasserre / Putinar) relaxations.

For ``minimise f(x) s.t. g_i(x) >= 0, h_j(x) = 0`` and a level ``d`` the relaxation is the pair

* moment side (the primal handed to the solver)::

      minimise   L_y(f)
      subject to y_0 = 1,
                 M_d(y) ⪰ 0,                        (moment matrix, basis: monomials of degree <= d)
                 M_{d - d_i}(g_i y) ⪰ 0,             (localizing matrices, d_i = ceil(deg g_i / 2))
                 L_y(h_j x^β) = 0  for |β| <= 2d - deg h_j,

  whose variable ``y`` is indexed by the monomials of degree ``<= 2d``;

* SOS side (its conic dual)::

      maximise γ  s.t.  f − γ = σ_0 + Σ σ_i g_i + Σ λ_j h_j,   σ = b(x)ᵀ Q b(x),  Q ⪰ 0.

In the conic standard form of :mod:`sosrelax.conic` the dual variable of each PSD block is exactly the Gram
matrix ``Q`` of the corresponding SOS multiplier (scaled-svec convention), the dual of each equality row is
(minus) a coefficient of ``λ_j``, and the dual of the normalisation row ``y_0 = 1`` is ``−γ``.  Every *dual
feasible* point gives the valid lower bound ``γ``; only the certificate checker turns a numerical dual into a
proven one.

Maximisation is handled by minimising ``−f``; :attr:`MomentRelaxation.sign` records it.

Level 1 on a quadratic problem is Shor's semidefinite relaxation.
"""

from __future__ import annotations

from dataclasses import dataclass
from math import comb

import numpy as np
import scipy.sparse as sp

from sosrelax.conic import Cone, ConeKind, ConicProgram, svec_indices
from sosrelax.errors import InvalidValueError, SizeLimitError
from sosrelax.poly import Polynomial, monomial_basis, monomial_index
from sosrelax.problem import Problem, Sense

__all__ = [
    "EqualityBlock",
    "GramBlock",
    "MAX_MOMENTS",
    "MomentRelaxation",
    "build_moment_relaxation",
    "minimum_level",
]

#: Refuse relaxations whose moment vector would be longer than this (checked before allocation).
MAX_MOMENTS = 2_000_000
#: Refuse relaxations whose largest PSD block would be larger than this.
MAX_BLOCK = 5_000


@dataclass(frozen=True)
class GramBlock:
    """One PSD block: the moment or a localizing matrix, dual to one SOS multiplier.

    ``constraint`` is ``None`` for the moment matrix (σ₀) and the index of the inequality ``g_i`` otherwise;
    ``basis`` holds the exponent rows of the monomial basis ``b(x)``; ``rows`` is the slice of the conic
    program's rows (scaled upper-triangle vectorisation) that belongs to the block.
    """

    constraint: int | None
    basis: np.ndarray
    rows: slice

    @property
    def order(self) -> int:
        return int(self.basis.shape[0])


@dataclass(frozen=True)
class EqualityBlock:
    """Localizing rows ``L_y(h_j x^β) = 0`` of one equality; ``basis`` holds the exponents ``β``."""

    constraint: int
    basis: np.ndarray
    rows: slice


@dataclass(frozen=True)
class MomentRelaxation:
    """A built moment–SOS relaxation and the data needed to read its solution back.

    Attributes
    ----------
    problem : Problem
        The problem relaxed (the user's, unchanged).
    level : int
        The relaxation order ``d``; moments up to degree ``2d``.
    variables : tuple of str
        Variable order of every exponent array below.
    moment_exps : ndarray (N, n)
        The monomials indexing the moment vector ``y`` (= the program's variable ``x``), graded lex order.
    program : ConicProgram
        The moment side in conic standard form.
    gram_blocks, equality_blocks : tuple
        How the program's rows map back to multipliers.
    sign : float
        ``+1`` when the problem minimises, ``−1`` when it maximises (the program minimises ``sign·f``).
    """

    problem: Problem
    level: int
    variables: tuple[str, ...]
    moment_exps: np.ndarray
    program: ConicProgram
    gram_blocks: tuple[GramBlock, ...]
    equality_blocks: tuple[EqualityBlock, ...]
    sign: float

    @property
    def n_moments(self) -> int:
        return int(self.moment_exps.shape[0])

    def bound_from_dual(self, dual_objective: float) -> float:
        """The solver's (unproven) bound on the problem's optimum from the program's dual objective."""
        return self.sign * dual_objective

    def gram_matrices(self, z: np.ndarray) -> list[np.ndarray]:
        """The Gram matrices of the SOS multipliers read from the program's dual vector ``z``."""
        from sosrelax.conic import smat

        return [smat(z[blk.rows]) for blk in self.gram_blocks]

    def equality_multipliers(self, z: np.ndarray) -> list[np.ndarray]:
        """Coefficients of ``λ_j`` (on ``EqualityBlock.basis``) read from the dual vector ``z``."""
        return [-z[blk.rows] for blk in self.equality_blocks]

    def sizes(self) -> dict[str, object]:
        """Sizes for reports: moments, rows, PSD block orders, equality rows, nonzeros."""
        return {
            "variables": len(self.variables),
            "level": self.level,
            "moments": self.n_moments,
            "rows": int(self.program.A.shape[0]),
            "nnz": int(self.program.A.nnz),
            "psd_blocks": [blk.order for blk in self.gram_blocks],
            "equality_rows": int(sum(blk.basis.shape[0] for blk in self.equality_blocks)),
        }


def _half_degree(p: Polynomial) -> int:
    return max(0, (p.degree + 1) // 2)


def minimum_level(problem: Problem) -> int:
    """Smallest level at which every polynomial of the problem fits: ``max ceil(deg/2)`` (at least 1)."""
    degs = [problem.objective.degree]
    degs += [g.degree for g in problem.inequalities]
    degs += [h.degree for h in problem.equalities]
    return max(1, max((d + 1) // 2 for d in degs))


def _keys(exps: np.ndarray, base: int) -> np.ndarray:
    """Integer keys of exponent rows (``base`` exceeds every exponent), as Python-int safe object keys."""
    weights = np.array([base**i for i in range(exps.shape[1])], dtype=object)
    return (exps.astype(object) * weights).sum(axis=1) if exps.shape[1] else np.zeros(len(exps), dtype=object)


def newton_reduced_basis(support: np.ndarray, basis: np.ndarray) -> np.ndarray:
    """Drop basis monomials that cannot occur in any SOS decomposition of a polynomial with ``support``.

    A monomial ``β`` can only carry a nonzero diagonal Gram entry if ``x^{2β}`` occurs in the polynomial or
    is produced by two *different* basis monomials; otherwise ``Q_ββ = 0`` and positive semidefiniteness
    forces the whole row to zero (the diagonal-consistency form of the Newton polytope reduction).  Repeated
    until nothing changes.  Valid only for a plain SOS ``σ₀`` (no constraint multipliers).
    """
    keep = np.ones(len(basis), dtype=bool)
    base = int(2 * max(int(basis.max(initial=0)), int(support.max(initial=0))) + 2)
    supp = set(_keys(support, base).tolist())
    while True:
        b = basis[keep]
        k = len(b)
        iu, ju = np.triu_indices(k, 1)
        pair = set(_keys(b[iu] + b[ju], base).tolist()) if k > 1 else set()
        dkeys = _keys(2 * b, base).tolist()
        ok = np.array([d in supp or d in pair for d in dkeys], dtype=bool)
        if ok.all():
            return b
        idx = np.flatnonzero(keep)
        keep[idx[~ok]] = False


def _aligned(p: Polynomial, variables: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray]:
    return p.aligned(variables), np.asarray(p.coefs, dtype=float)


def _lookup(moment_exps: np.ndarray, query: np.ndarray) -> np.ndarray:
    idx = monomial_index(moment_exps, query)
    if np.any(idx < 0):  # cannot happen for a dense basis; guards against a bug, not bad input
        raise AssertionError("moment basis misses a monomial of the relaxation")
    return idx


def _localizing_block(
    basis: np.ndarray,
    t_exps: np.ndarray,
    t_coefs: np.ndarray,
    moment_exps: np.ndarray,
    row0: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """COO triplets of ``−svec(M(g y))`` for a localizing (or moment) matrix, vectorised over entries × terms."""
    k = basis.shape[0]
    r, c = svec_indices(k)
    scale = np.where(r == c, 1.0, np.sqrt(2.0))
    pair = basis[r] + basis[c]  # (E, n)
    E, T = pair.shape[0], t_exps.shape[0]
    query = (pair[:, None, :] + t_exps[None, :, :]).reshape(E * T, -1)
    cols = _lookup(moment_exps, query)
    rows = np.repeat(np.arange(E, dtype=np.int64) + row0, T)
    vals = -(scale[:, None] * t_coefs[None, :]).reshape(E * T)
    return rows, cols, vals


def build_moment_relaxation(problem: Problem, level: int | None = None) -> MomentRelaxation:
    """Build the dense level-``level`` moment relaxation of ``problem`` (see the module docstring).

    Parameters
    ----------
    problem : Problem
        Objective, inequalities ``g_i >= 0`` and equalities ``h_j = 0``.  Strict inequalities are relaxed to
        non-strict ones (the closure does not change the bound).
    level : int, optional
        Relaxation order ``d``; defaults to :func:`minimum_level`.  Must be at least that.

    Returns
    -------
    MomentRelaxation
        Its ``program`` minimises ``sign · L_y(f)``; any dual feasible point gives the lower bound ``γ`` on
        ``sign · f`` over the feasible set, hence a valid bound on the problem's optimum.
    """
    dmin = minimum_level(problem)
    if level is None:
        level = dmin
    if not isinstance(level, (int, np.integer)) or isinstance(level, bool):
        raise InvalidValueError(f"level must be an integer, got {level!r}")
    level = int(level)
    if level < dmin:
        raise InvalidValueError(
            f"level {level} is too low for this problem: its polynomials have degree up to {2 * dmin - 1 or 2},"
            f" which needs level >= {dmin}; pass level={dmin} or higher"
        )
    variables = tuple(problem.variables)
    n = len(variables)
    n_moments = comb(n + 2 * level, 2 * level)
    if n_moments > MAX_MOMENTS:
        raise SizeLimitError(
            f"the dense level-{level} relaxation in {n} variables needs {n_moments} moments (limit "
            f"{MAX_MOMENTS}); lower the level or use a sparse relaxation (sparsity='correlative')"
        )
    if comb(n + level, level) > MAX_BLOCK:
        raise SizeLimitError(
            f"the level-{level} moment matrix in {n} variables has order {comb(n + level, level)} (limit "
            f"{MAX_BLOCK}); lower the level or use a sparse relaxation"
        )
    sign = 1.0 if problem.sense is Sense.MINIMIZE else -1.0
    moment_exps = monomial_basis(n, 2 * level)

    # objective
    f_exps, f_coefs = _aligned(problem.objective, variables)
    c = np.zeros(n_moments)
    if f_exps.shape[0]:
        np.add.at(c, _lookup(moment_exps, f_exps), sign * f_coefs)

    rows_l: list[np.ndarray] = []
    cols_l: list[np.ndarray] = []
    vals_l: list[np.ndarray] = []
    b_parts: list[np.ndarray] = []
    cones: list[Cone] = []

    # normalisation y_0 = 1 (zero cone); its dual is −γ
    zero_idx = _lookup(moment_exps, np.zeros((1, n), dtype=np.int64))
    rows_l.append(np.array([0]))
    cols_l.append(zero_idx)
    vals_l.append(np.array([1.0]))
    b_parts.append(np.array([1.0]))
    row = 1

    # equality localizing rows (zero cone)
    eq_blocks: list[EqualityBlock] = []
    n_eq_rows = 0
    for j, h in enumerate(problem.equalities):
        h_exps, h_coefs = _aligned(h, variables)
        beta = monomial_basis(n, 2 * level - h.degree)
        nb = beta.shape[0]
        query = (beta[:, None, :] + h_exps[None, :, :]).reshape(nb * h_exps.shape[0], -1)
        rows_l.append(np.repeat(np.arange(nb) + row, h_exps.shape[0]))
        cols_l.append(_lookup(moment_exps, query))
        vals_l.append(np.tile(h_coefs, nb))
        b_parts.append(np.zeros(nb))
        eq_blocks.append(EqualityBlock(j, beta, slice(row, row + nb)))
        row += nb
        n_eq_rows += nb
    cones.append(Cone(ConeKind.ZERO, 1 + n_eq_rows))

    # moment matrix and localizing matrices (PSD cones)
    gram_blocks: list[GramBlock] = []
    specs: list[tuple[int | None, np.ndarray, np.ndarray, int]] = [
        (None, np.zeros((1, n), dtype=np.int64), np.ones(1), level)
    ]
    for i, g in enumerate(problem.inequalities):
        g_exps, g_coefs = _aligned(g, variables)
        specs.append((i, g_exps, g_coefs, level - _half_degree(g)))
    unconstrained = not problem.inequalities and not problem.equalities
    for cidx, t_exps, t_coefs, order in specs:
        basis = monomial_basis(n, order)
        if unconstrained and f_exps.shape[0]:
            basis = newton_reduced_basis(np.vstack([f_exps, np.zeros((1, n), dtype=np.int64)]), basis)
        k = basis.shape[0]
        size = k * (k + 1) // 2
        r, cc, v = _localizing_block(basis, t_exps, t_coefs, moment_exps, row)
        rows_l.append(r)
        cols_l.append(cc)
        vals_l.append(v)
        b_parts.append(np.zeros(size))
        if k == 1:
            cones.append(Cone(ConeKind.NONNEG, 1))
        else:
            cones.append(Cone(ConeKind.PSD, k))
        gram_blocks.append(GramBlock(cidx, basis, slice(row, row + size)))
        row += size

    A = sp.csc_matrix(
        (np.concatenate(vals_l), (np.concatenate(rows_l), np.concatenate(cols_l))),
        shape=(row, n_moments),
    )
    A.sum_duplicates()
    A.eliminate_zeros()
    program = ConicProgram(c=c, A=A, b=np.concatenate(b_parts), cones=tuple(cones), offset=0.0)
    return MomentRelaxation(
        problem=problem,
        level=level,
        variables=variables,
        moment_exps=moment_exps,
        program=program,
        gram_blocks=tuple(gram_blocks),
        equality_blocks=tuple(eq_blocks),
        sign=sign,
    )


def centered_feasibility_program(relax: MomentRelaxation, gamma: float) -> ConicProgram:
    """The program whose dual finds the *most interior* certificate for the fixed bound ``gamma``.

    For ``γ`` (on ``sign·f``, i.e. a lower bound of the minimised objective) the SOS side is::

        maximise t  s.t.  sign·f − γ = Σ_i b_iᵀ Q_i b_i g_i + Σ_j λ_j h_j,   Q_i ⪰ t·I.

    Its dual is the relaxation with the normalisation ``y_0 = 1`` replaced by ``Σ_i trace M_i(y) = 1`` and the
    objective shifted by ``−γ``.  Reading the dual back: ``Q_i = Z_i + t·I`` with ``t`` the program's dual
    objective.  When ``γ`` is strictly below the relaxation's optimum, ``t > 0`` and every Gram matrix is
    positive definite with margin ``t`` — which is what exact rounding of the certificate needs.
    """
    prog = relax.program
    A = prog.A.tocsr()
    diag_rows: list[np.ndarray] = []
    for blk in relax.gram_blocks:
        r, c = svec_indices(blk.order)
        diag_rows.append(blk.rows.start + np.flatnonzero(r == c))
    trace_row = -np.asarray(A[np.concatenate(diag_rows)].sum(axis=0)).ravel()
    A = sp.vstack([sp.csr_matrix(trace_row[None, :]), A[1:]])
    c = prog.c.copy()
    zero_idx = int(_lookup(relax.moment_exps, np.zeros((1, len(relax.variables)), dtype=np.int64))[0])
    c[zero_idx] -= gamma
    return ConicProgram(c=c, A=sp.csc_matrix(A), b=prog.b.copy(), cones=prog.cones, offset=0.0)

"""Pseudodistributions: the primal side of a moment relaxation.

A *pseudodistribution* of level ``d`` on the variables ``x = (x_1, ..., x_n)`` is a linear
functional ``Ẽ`` on polynomials of degree at most ``2d``, stored as its moment vector
``y_α = Ẽ[x^α]``.  It is "pseudo" because nothing forces it to come from a probability measure:
the relaxation only imposes that the moment matrix ``M_d(y) = (y_{α+β})_{|α|,|β| ≤ d}`` and the
localising matrices are positive semidefinite.  When it *does* come from a finitely atomic measure
``Σ_k w_k δ_{x_k}`` and the moment matrix is flat (Curto–Fialkow), the atoms can be read off
(Henrion–Lasserre); they are then global optimisers of the relaxed problem.

The moment vector is indexed by an exponent matrix ``exps`` (one row per monomial, in the variable
order ``variables``).  A full relaxation of level ``d`` uses ``monomial_basis(n, 2d)``; a sparse
relaxation hands one pseudodistribution per clique whose ``variables`` are a subset of the
problem's — nothing here assumes that the variables are all of the problem's.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.linalg

from sosrelax.errors import InvalidValueError, SosrelaxError
from sosrelax.poly import Polynomial, monomial_basis, monomial_index

__all__ = [
    "AtomsResult",
    "FlatnessReport",
    "MomentUnavailableError",
    "PseudoDistribution",
    "flatness_offset",
]

DEFAULT_RANK_TOL = 1e-6
DEFAULT_RESIDUAL_TOL = 1e-4


class MomentUnavailableError(SosrelaxError, KeyError):
    """A pseudo-expectation needs a moment the pseudodistribution does not carry."""

    def __str__(self) -> str:  # KeyError quotes its argument; keep the message readable
        return str(self.args[0]) if self.args else ""


@dataclass(frozen=True)
class FlatnessReport:
    """Outcome of the Curto–Fialkow flatness test.

    Attributes
    ----------
    flat : bool
        ``True`` when ``rank M_k(y) = rank M_{k-offset}(y)`` for some ``offset ≤ k ≤ d``.
    order : int or None
        The smallest such ``k`` (``None`` when not flat).
    ranks : tuple of int
        ``ranks[k]`` is the numerical rank of ``M_k(y)`` for ``k = 0, ..., d``.
    offset : int
        The offset ``d_K`` used (``max(1, ⌈deg g / 2⌉)`` over the constraints ``g``).
    tol : float
        Relative singular-value threshold used for the ranks.
    message : str
        Human-readable summary.
    """

    flat: bool
    order: int | None
    ranks: tuple[int, ...]
    offset: int
    tol: float
    message: str

    def __bool__(self) -> bool:
        return self.flat


@dataclass(frozen=True)
class AtomsResult:
    """Outcome of Henrion–Lasserre atom extraction.

    Attributes
    ----------
    found : bool
        ``True`` only when the extracted atoms and weights reproduce every moment of degree
        ≤ ``2 * order`` to within the residual tolerance and all weights are nonnegative.
        "No atoms" is a value, never an error.
    points : ndarray, shape (r, n)
        The atoms, in the pseudodistribution's variable order.  When ``found`` is ``False`` this
        holds the unverified points the extraction produced (possibly none); they may still be
        useful as starting points for a local search but represent nothing.
    weights : ndarray, shape (r,)
        Weights ``w_k`` with ``y ≈ Σ_k w_k v(x_k)`` (empty when extraction failed early).
    rank : int
        Numerical rank of the moment matrix used.
    residual : float
        ``max_α |y_α − Σ_k w_k x_k^α| / max(1, max_α |y_α|)`` over ``|α| ≤ 2 * order``
        (``inf`` if not computed).
    order : int or None
        Order ``k`` of the moment matrix the atoms were extracted from.
    message : str
        Human-readable explanation.
    """

    found: bool
    points: np.ndarray
    weights: np.ndarray
    rank: int
    residual: float
    order: int | None
    message: str

    def __repr__(self) -> str:
        return (
            f"AtomsResult(found={self.found}, n_atoms={self.points.shape[0]}, rank={self.rank}, "
            f"residual={self.residual:.3g}, order={self.order}, message={self.message!r})"
        )


class _RowIndex:
    """Exact, vectorised row lookup in a fixed exponent matrix.

    Rows are hashed to 64-bit keys with fixed random odd weights (wrapping integer arithmetic),
    located with ``searchsorted`` and *verified* by comparing the rows themselves, so a hash
    collision can never return a wrong row.  Used instead of a radix key because the moment
    bases of many-variable relaxations overflow any mixed-radix int64 key.  If two rows of the
    matrix itself share a key, lookups fall back to :func:`sosrelax.poly.monomial_index`.
    """

    def __init__(self, rows: np.ndarray) -> None:
        self.rows = np.asarray(rows, dtype=np.int64)
        n = self.rows.shape[1]
        self._w = np.random.default_rng(0x5EED).integers(1, 2**62, size=n, dtype=np.int64) | 1
        keys = self._keys(self.rows)
        self._order = np.argsort(keys, kind="stable")
        self._sorted = keys[self._order]
        self._collide = bool(np.any(self._sorted[1:] == self._sorted[:-1]))
        self.unique = (not self._collide) or (
            np.unique(self.rows, axis=0).shape[0] == self.rows.shape[0]
        )

    def _keys(self, rows: np.ndarray) -> np.ndarray:
        with np.errstate(over="ignore"):
            return (rows.astype(np.uint64) * self._w.astype(np.uint64)).sum(
                axis=1, dtype=np.uint64
            )

    def find(self, query: np.ndarray) -> np.ndarray:
        """Row positions of ``query`` rows, ``-1`` where absent."""
        n = self.rows.shape[1]
        q = _as_rows(np.asarray(query, dtype=np.int64), n)
        if self._collide:
            return monomial_index(self.rows, q)
        if self.rows.shape[0] == 0 or q.shape[0] == 0:
            return np.full(q.shape[0], -1, dtype=np.int64)
        kq = self._keys(np.where(q < 0, 0, q))
        pos = np.minimum(np.searchsorted(self._sorted, kq), self._sorted.size - 1)
        cand = self._order[pos]
        hit = (self._sorted[pos] == kq) & np.all(self.rows[cand] == q, axis=1)
        return np.where(hit, cand, -1)


def _as_rows(a: np.ndarray, n: int) -> np.ndarray:
    """``a`` of shape ``(..., n)`` as a matrix of rows.  With ``n = 0`` (a problem without variables)
    ``reshape(-1, 0)`` is ambiguous: the rows are counted from the leading axes instead (a 1-D array is
    one row)."""
    if n:
        return a.reshape(-1, n)
    return a.reshape(int(np.prod(a.shape[:-1])) if a.ndim > 1 else 1, 0)


def _readonly(a: np.ndarray) -> np.ndarray:
    a = np.array(a, copy=True)
    a.setflags(write=False)
    return a


def _numerical_rank(m: np.ndarray, tol: float) -> int:
    """Number of singular values ``σ_i > tol · σ_1`` (zero for the zero matrix)."""
    if m.size == 0:
        return 0
    s = np.linalg.svd(m, compute_uv=False)
    if s[0] <= 0.0 or not np.isfinite(s[0]):
        return 0
    return int(np.count_nonzero(s > tol * s[0]))


def flatness_offset(problem: Any) -> int:
    """Henrion–Lasserre offset ``d_K = max(1, ⌈deg g / 2⌉)`` over the constraints of ``problem``.

    ``problem`` is anything with ``inequalities`` and ``equalities`` sequences of polynomials (a
    :class:`sosrelax.problem.Problem`); constraints of degree ≤ 2 give ``d_K = 1``.
    """
    degrees = [int(g.degree) for g in (*problem.inequalities, *problem.equalities)]
    return max([1, *(math.ceil(dg / 2) for dg in degrees)])


@dataclass(frozen=True, eq=False)
class PseudoDistribution:
    """Moment vector ``y_α = Ẽ[x^α]`` of a (pseudo)distribution on ``variables``.

    Parameters
    ----------
    variables : tuple of str
        Variable names; the columns of ``exps``.  For a sparse relaxation these are one clique's.
    exps : ndarray of int, shape (N, n)
        Exponents ``α`` of the stored moments (unique rows, containing the zero row).  Usually
        ``monomial_basis(n, 2*level)``.
    moments : ndarray of float, shape (N,)
        ``y_α`` in the row order of ``exps``.  Normally ``y_0 = 1``; the means and covariances
        below divide by ``y_0`` so that a positive multiple of a measure's moments is accepted.
    level : int
        The relaxation level ``d``; every monomial of degree ≤ ``2d`` must be stored for the
        moment matrix ``M_d`` to exist.
    offset : int
        The default flatness offset ``d_K`` of :meth:`is_flat` and :meth:`atoms` (set by
        :func:`sosrelax.solve` from the problem's constraints, see :func:`flatness_offset`).

    Notes
    -----
    The object is immutable.  It is a *pseudo* distribution: ``expect`` of a square may be negative
    when the moment matrix is not PSD (e.g. for inaccurate solver output); nothing here repairs
    that.  Use :meth:`from_moments`, :meth:`from_moment_matrix` or :meth:`from_atoms` to build one.
    """

    variables: tuple[str, ...]
    exps: np.ndarray
    moments: np.ndarray
    level: int
    offset: int = 1
    _zero: int = field(init=False, repr=False)
    _index: _RowIndex = field(init=False, repr=False)

    def __post_init__(self) -> None:
        variables = tuple(str(v) for v in self.variables)
        if len(set(variables)) != len(variables):
            raise InvalidValueError(
                f"duplicate variable names in {variables!r}; give each variable once"
            )
        exps = np.asarray(self.exps)
        if exps.ndim != 2 or exps.shape[1] != len(variables):
            raise InvalidValueError(
                f"exps must have shape (N, {len(variables)}) for variables {variables!r}, "
                f"got {exps.shape}"
            )
        if exps.size and (not np.issubdtype(exps.dtype, np.integer) or exps.min() < 0):
            raise InvalidValueError("exps must hold nonnegative integers")
        exps = exps.astype(np.int64)
        moments = np.asarray(self.moments, dtype=np.float64)
        if moments.shape != (exps.shape[0],):
            raise InvalidValueError(
                f"moments must have shape ({exps.shape[0]},) to match exps, got {moments.shape}"
            )
        if not np.all(np.isfinite(moments)):
            bad = int(np.flatnonzero(~np.isfinite(moments))[0])
            raise InvalidValueError(
                f"moment of monomial {tuple(exps[bad])} is {moments[bad]}; moments must be finite"
            )
        level = int(self.level)
        if level < 0:
            raise InvalidValueError(f"level must be nonnegative, got {level}")
        index = _RowIndex(exps)
        if not index.unique:
            raise InvalidValueError("exps has repeated rows; each monomial must appear once")
        zero = index.find(np.zeros((1, len(variables)), dtype=np.int64))[0]
        if zero < 0:
            raise InvalidValueError("the moment of the constant monomial 1 (y_0) is missing")
        if moments[zero] <= 0.0:
            raise InvalidValueError(
                f"y_0 = Ẽ[1] = {moments[zero]} must be positive (a pseudodistribution has mass)"
            )
        needed = monomial_basis(len(variables), 2 * level)
        if np.any(index.find(needed) < 0):
            raise InvalidValueError(
                f"level {level} needs every moment of degree ≤ {2 * level}; some are missing"
            )
        object.__setattr__(self, "variables", variables)
        object.__setattr__(self, "exps", _readonly(exps))
        object.__setattr__(self, "moments", _readonly(moments))
        object.__setattr__(self, "level", level)
        object.__setattr__(self, "_zero", int(zero))
        object.__setattr__(self, "_index", index)

    # ------------------------------------------------------------------ constructors
    @classmethod
    def from_moments(
        cls, variables: Sequence[str], moments: np.ndarray, level: int
    ) -> PseudoDistribution:
        """Pseudodistribution from moments ordered as ``monomial_basis(n, 2*level)``."""
        variables = tuple(variables)
        exps = monomial_basis(len(variables), 2 * int(level))
        return cls(variables, exps, np.asarray(moments, dtype=np.float64), int(level))

    @classmethod
    def from_moment_matrix(
        cls, variables: Sequence[str], matrix: np.ndarray, k: int
    ) -> PseudoDistribution:
        """Pseudodistribution of level ``k`` read off a moment matrix ``M_k(y)``.

        ``matrix[i, j]`` is taken as ``y_{α_i + α_j}`` with ``α`` the rows of
        ``monomial_basis(n, k)``; entries that share a monomial are averaged (a solver's matrix is
        Hankel only up to its tolerance).
        """
        variables = tuple(variables)
        n, k = len(variables), int(k)
        basis = monomial_basis(n, k)
        m = np.asarray(matrix, dtype=np.float64)
        if m.shape != (basis.shape[0], basis.shape[0]):
            raise InvalidValueError(
                f"M_{k} on {n} variables must be {basis.shape[0]}×{basis.shape[0]}, got {m.shape}"
            )
        full = monomial_basis(n, 2 * k)
        sums = _as_rows(basis[:, None, :] + basis[None, :, :], n)
        idx = _RowIndex(full).find(sums)
        counts = np.bincount(idx, minlength=full.shape[0])
        moments = np.bincount(idx, weights=m.ravel(), minlength=full.shape[0]) / counts
        return cls(variables, full, moments, k)

    @classmethod
    def from_atoms(
        cls,
        variables: Sequence[str],
        points: np.ndarray,
        weights: np.ndarray,
        level: int,
    ) -> PseudoDistribution:
        """Moments of the atomic measure ``Σ_k w_k δ_{x_k}`` up to degree ``2*level``.

        These are true moments (the moment matrix is PSD when the weights are nonnegative).
        """
        variables = tuple(variables)
        exps = monomial_basis(len(variables), 2 * int(level))
        pts = _as_rows(np.asarray(points, dtype=np.float64), len(variables))
        w = np.asarray(weights, dtype=np.float64).reshape(-1)
        if w.shape[0] != pts.shape[0]:
            raise InvalidValueError(f"{pts.shape[0]} points but {w.shape[0]} weights")
        return cls(variables, exps, w @ _vandermonde(pts, exps), int(level))

    # ------------------------------------------------------------------ moments
    @property
    def n(self) -> int:
        """Number of variables."""
        return len(self.variables)

    @property
    def mass(self) -> float:
        """``y_0 = Ẽ[1]``."""
        return float(self.moments[self._zero])

    def moment(self, exponent: Sequence[int]) -> float:
        """``y_α`` for one exponent tuple ``α`` (in the order of ``variables``)."""
        q = np.asarray(exponent, dtype=np.int64).reshape(1, -1)
        return float(self._lookup(q)[0])

    def _lookup(self, query: np.ndarray) -> np.ndarray:
        """Moments of the rows of ``query``; raises :class:`MomentUnavailableError` if absent."""
        if query.shape[1] != self.n:
            raise InvalidValueError(f"exponents need {self.n} columns, got {query.shape[1]}")
        idx = self._index.find(query)
        if np.any(idx < 0):
            bad = query[int(np.flatnonzero(idx < 0)[0])]
            mono = "*".join(f"{v}^{e}" for v, e in zip(self.variables, bad, strict=True) if e)
            raise MomentUnavailableError(
                f"the moment of {mono or '1'} (degree {int(bad.sum())}) is not stored; this "
                f"pseudodistribution of level {self.level} carries moments of degree ≤ "
                f"{2 * self.level} only — use a higher relaxation level"
            )
        return self.moments[idx]

    def expect(self, p: Polynomial) -> float:
        """Pseudo-expectation ``Ẽ[p] = Σ_α p_α y_α``.

        Raises
        ------
        UnknownVariableError
            ``p`` uses a variable this pseudodistribution does not know.
        MomentUnavailableError
            ``p`` has degree above ``2 * level`` (the moment is not stored).
        """
        if p.nterms == 0:
            return 0.0
        exps = p.aligned(self.variables)
        return float(np.dot(np.asarray(p.coefs, dtype=np.float64), self._lookup(exps)))

    def mean(self) -> np.ndarray:
        """``Ẽ[x] / Ẽ[1]``, shape (n,)."""
        return self._lookup(np.eye(self.n, dtype=np.int64)) / self.mass

    def second_moments(self) -> np.ndarray:
        """``Ẽ[x xᵀ] / Ẽ[1]``, shape (n, n); needs level ≥ 1."""
        eye = np.eye(self.n, dtype=np.int64)
        sums = _as_rows(eye[:, None, :] + eye[None, :, :], self.n)
        return self._lookup(sums).reshape(self.n, self.n) / self.mass

    def cov(self) -> np.ndarray:
        """``Ẽ[x xᵀ]/Ẽ[1] − mean meanᵀ``, shape (n, n).

        PSD whenever ``M_1(y)`` is (Schur complement); not projected here.
        """
        mu = self.mean()
        return self.second_moments() - np.outer(mu, mu)

    def moment_matrix(self, k: int | None = None) -> np.ndarray:
        """Moment matrix ``M_k(y) = (y_{α+β})`` on ``monomial_basis(n, k)``; ``k ≤ level``."""
        k = self.level if k is None else int(k)
        if not 0 <= k <= self.level:
            raise InvalidValueError(
                f"moment matrix order k={k} must satisfy 0 ≤ k ≤ level={self.level}"
            )
        basis = monomial_basis(self.n, k)
        sums = _as_rows(basis[:, None, :] + basis[None, :, :], self.n)
        return self._lookup(sums).reshape(basis.shape[0], basis.shape[0])

    def localizing_matrix(self, g: Polynomial, k: int) -> np.ndarray:
        """Localising matrix ``M_k(g y) = (Ẽ[g x^{α+β}])`` on ``monomial_basis(n, k)``.

        Needs ``2k + deg g ≤ 2 * level``.
        """
        basis = monomial_basis(self.n, int(k))
        nb = basis.shape[0]
        if g.nterms == 0:
            return np.zeros((nb, nb))
        gexps = g.aligned(self.variables)
        sums = basis[:, None, None, :] + basis[None, :, None, :] + gexps[None, None, :, :]
        vals = self._lookup(_as_rows(sums, self.n)).reshape(nb, nb, gexps.shape[0])
        return vals @ np.asarray(g.coefs, dtype=np.float64)

    def rank(self, k: int | None = None, tol: float = DEFAULT_RANK_TOL) -> int:
        """Numerical rank of ``M_k(y)``: the number of singular values ``σ_i > tol · σ_max``."""
        return _numerical_rank(self.moment_matrix(k), tol)

    def is_flat(self, tol: float = DEFAULT_RANK_TOL, *, offset: int | None = None) -> FlatnessReport:
        """Curto–Fialkow flatness: ``rank M_k(y) = rank M_{k−offset}(y)``, some ``offset ≤ k ≤ d``.

        With ``offset = d_K = max(1, ⌈deg g/2⌉)`` over the constraints (see
        :func:`flatness_offset`) and ``M_d(y) ⪰ 0`` plus the localising conditions, flatness
        certifies that ``y`` has a ``rank M_k``-atomic representing measure on the set
        (Curto–Fialkow; Henrion–Lasserre 2005, Thm. 2).  Ranks use the relative threshold ``tol``.
        The report is truthy iff flat.
        """
        offset = int(self.offset if offset is None else offset)
        if offset < 1:
            raise InvalidValueError(f"flatness offset must be ≥ 1, got {offset}")
        ranks = tuple(self.rank(k, tol) for k in range(self.level + 1))
        for k in range(offset, self.level + 1):
            if ranks[k] == ranks[k - offset]:
                return FlatnessReport(
                    True, k, ranks, offset, tol,
                    f"flat at order {k}: rank M_{k} = rank M_{k - offset} = {ranks[k]}",
                )
        return FlatnessReport(
            False, None, ranks, offset, tol,
            f"not flat up to level {self.level}: ranks of M_0..M_{self.level} are {list(ranks)}",
        )

    # ------------------------------------------------------------------ atoms
    def atoms(
        self,
        tol: float = DEFAULT_RANK_TOL,
        *,
        offset: int | None = None,
        rng: np.random.Generator | int | None = None,
        residual_tol: float = DEFAULT_RESIDUAL_TOL,
        require_flat: bool = True,
    ) -> AtomsResult:
        """Henrion–Lasserre extraction of the atoms of a flat moment vector.

        Steps: find the flat orders ``k`` (:meth:`is_flat`), smallest first, and at each until atoms are
        found: factor ``M_k = V Vᵀ`` with
        ``V`` of rank ``r`` (eigendecomposition); bring ``V`` to column echelon form ``U`` (Gaussian
        elimination with partial pivoting, in graded lex order of the rows), so that
        ``v_k(x) = U w(x)`` for the ``r`` pivot monomials ``w``; read the multiplication matrices
        ``N_i`` (``x_i w(x) = N_i w(x)`` on the atoms) from the rows of ``U``; triangularise a
        random combination ``Σ λ_i N_i`` with an orthogonal Schur decomposition ``Q T Qᵀ``; the
        atoms are ``x_i^{(j)} = q_jᵀ N_i q_j``.  The weights solve the Vandermonde system
        ``Σ_j w_j x^{(j)α} = y_α`` (``|α| ≤ 2k``) in least squares, and the atoms are accepted
        only if they reproduce every moment of degree ≤ ``2k`` (relative residual ≤
        ``residual_tol``) with nonnegative weights.  Moments of higher degree are not
        constrained by a flat ``M_k`` and are not compared.

        Parameters
        ----------
        tol : float
            Relative singular-value threshold for ranks and the pivot threshold of the echelon form.
        offset : int
            ``d_K`` of the constraints (see :func:`flatness_offset`).
        rng : Generator, int or None
            Source of the random combination; ``None`` means ``default_rng(0)`` (deterministic).
        residual_tol : float
            Acceptance threshold on the moment residual.
        require_flat : bool
            When ``False`` and no flat order exists, extraction is still attempted at the top order
            with its numerical rank; the result is ``found=True`` only if it reproduces the moments.

        Returns
        -------
        AtomsResult
            Never raises for a mathematical failure (not flat, complex atoms, bad residual).
        """
        gen = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(
            0 if rng is None else rng
        )
        empty = np.zeros((0, self.n))
        report = self.is_flat(tol, offset=offset)
        if report.flat:
            # every flat truncation, smallest first: a solver's moments may be flat at several orders, and the
            # smallest may lack the accuracy (or the pivot room) that a larger one has
            orders = [k for k in range(report.offset, self.level + 1)
                      if report.ranks[k] == report.ranks[k - report.offset]]
        elif require_flat or self.level < 1:
            return AtomsResult(False, empty, np.zeros(0), report.ranks[-1], math.inf, None,
                               f"no atoms: moment matrix {report.message}")
        else:
            orders = [self.level]
        out = self._atoms_at(orders[0], tol, gen, residual_tol)
        for order in orders[1:]:
            if out.found:
                break
            out = self._atoms_at(order, tol, gen, residual_tol)
        return out

    def _atoms_at(self, order: int, tol: float, gen: np.random.Generator, residual_tol: float) -> AtomsResult:
        """Henrion–Lasserre extraction from ``M_order`` (see :meth:`atoms`)."""
        empty = np.zeros((0, self.n))
        m = self.moment_matrix(order)
        basis = monomial_basis(self.n, order)
        evals, evecs = np.linalg.eigh(m)
        evals, evecs = evals[::-1], evecs[:, ::-1]
        top = max(float(evals[0]), 0.0)
        r = int(np.count_nonzero(evals > tol * top)) if top > 0 else 0
        if r == 0:
            return AtomsResult(False, empty, np.zeros(0), 0, math.inf, order,
                               f"no atoms: M_{order} has no positive eigenvalue")
        v = evecs[:, :r] * np.sqrt(evals[:r])
        u, pivots = _column_echelon(v, tol)
        if len(pivots) != r:
            return AtomsResult(False, empty, np.zeros(0), r, math.inf, order,
                               f"no atoms: echelon form found {len(pivots)} pivots for rank {r}")
        piv = basis[pivots]
        shifted = _as_rows(piv[None, :, :] + np.eye(self.n, dtype=np.int64)[:, None, :], self.n)
        rows = _RowIndex(basis).find(shifted)
        if np.any(rows < 0):
            return AtomsResult(False, empty, np.zeros(0), r, math.inf, order,
                               f"no atoms: the pivot monomials of M_{order} reach degree {order}, "
                               "so the multiplication matrices are not defined (not flat enough)")
        mult = u[rows].reshape(self.n, r, r)  # mult[i] = N_i
        lam = gen.random(self.n) + 0.1
        lam /= lam.sum()
        combo = np.tensordot(lam, mult, axes=1)
        t, q = scipy.linalg.schur(combo, output="real")
        scale = max(1.0, float(np.max(np.abs(t))))
        if r > 1 and np.max(np.abs(np.diag(t, -1))) > math.sqrt(tol) * scale:
            return AtomsResult(False, empty, np.zeros(0), r, math.inf, order,
                               "no atoms: the multiplication matrices have complex eigenvalues")
        points = np.einsum("aj,iab,bj->ji", q, mult, q)
        # flatness at order k says the moments of degree ≤ 2k (those in M_k) are the atoms'; the
        # higher stored moments need not be (they are not constrained by a flat M_k)
        low = self.exps.sum(axis=1) <= 2 * order
        weights, residual = _fit_weights(points, self.exps[low], self.moments[low])
        ok = residual <= residual_tol and bool(np.all(weights >= -residual_tol * self.mass))
        msg = (f"{r} atom(s) from M_{order}, moment residual {residual:.2e}"
               if ok else
               f"no atoms: extracted {r} point(s) from M_{order} do not reproduce the moments "
               f"(residual {residual:.2e}, min weight {weights.min():.2e})")
        if ok:
            weights = np.clip(weights, 0.0, None)
        return AtomsResult(ok, points, weights, r, residual, order, msg)

    def __repr__(self) -> str:
        return (
            f"PseudoDistribution(variables={self.variables!r}, level={self.level}, "
            f"n_moments={self.moments.shape[0]}, mass={self.mass:.6g})"
        )


def _vandermonde(points: np.ndarray, exps: np.ndarray) -> np.ndarray:
    """``V[k, j] = x_k^{α_j}``, shape (r, N); ``0^0 = 1``."""
    return np.prod(points[:, None, :] ** exps[None, :, :], axis=2)


def _fit_weights(
    points: np.ndarray, exps: np.ndarray, moments: np.ndarray
) -> tuple[np.ndarray, float]:
    """Least-squares weights with ``Σ_k w_k x_k^α ≈ y_α`` and the relative max residual."""
    a = _vandermonde(points, exps).T
    if not np.all(np.isfinite(a)):
        return np.full(points.shape[0], np.nan), math.inf
    w, *_ = np.linalg.lstsq(a, moments, rcond=None)
    res = float(np.max(np.abs(a @ w - moments))) / max(1.0, float(np.max(np.abs(moments))))
    return w, res


def _column_echelon(v: np.ndarray, tol: float) -> tuple[np.ndarray, list[int]]:
    """Column echelon form ``U`` of ``V`` (N × r) with the same column space.

    Gaussian elimination with partial pivoting on ``Vᵀ``, scanning rows of ``V`` (monomials) in
    order; a row whose remaining part is below ``tol · max|V|`` is dependent on earlier ones.
    Returns ``U`` with ``U[pivots] = I`` and the pivot row indices (the first ``r`` linearly
    independent monomials in graded order).
    """
    a = v.T.copy()  # r × N
    r, n_rows = a.shape
    thresh = tol * float(np.max(np.abs(a))) if a.size else 0.0
    pivots: list[int] = []
    row = 0
    for j in range(n_rows):
        if row == r:
            break
        i = row + int(np.argmax(np.abs(a[row:, j])))
        if abs(a[i, j]) <= thresh:
            a[row:, j] = 0.0
            continue
        if i != row:
            a[[row, i]] = a[[i, row]]
        a[row] /= a[row, j]
        others = np.arange(r) != row
        a[others] -= np.outer(a[others, j], a[row])
        pivots.append(j)
        row += 1
    return a[: len(pivots)].T, pivots

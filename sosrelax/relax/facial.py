"""Facial reduction for zeros at infinity: the face of the Gram cone that every certificate of an unconstrained
problem lies on when the top-degree part of the objective vanishes on a subspace.

If the top form :math:`f_{2d}` of ``f`` vanishes on a linear subspace :math:`V`, every SOS identity
:math:`f - \\gamma = \\sum_c b_c^T Q_c b_c` forces, in each block,

* :math:`Q_c\\,z_c(v) = 0` for :math:`v \\in V` (``z_c``: the degree-``d`` monomials of the block): the degree-``2d``
  parts of the :math:`\\sigma_c` are nonnegative and sum to :math:`f_{2d}`, which vanishes at ``v``;
* :math:`Q_c\\,z'_c(v, u) = 0` for every ``u`` when the coefficient of :math:`t^{2}s^{2}` in
  :math:`f_{2d}(tv + su)` vanishes too (``z'``: the polarisation, :math:`z(tv + su) = t^2 z(v) + ts\\,z'(v, u) +
  s^2 z(u)`), by the same argument one order further.

No Gram matrix can then be definite, so rounding with a margin fails whatever the bound (the chained singular
function of Conn, Gould and Toint is the classic case).  On the face :math:`Q_c = U_c R_c U_c^T` (the columns of
``U_c`` span the orthogonal complement of those vectors) the program can be strictly feasible again.

:math:`V` is found exactly: for :math:`f_{2d} = \\sum_j c_j \\ell_j^{2d}` (:math:`c_j > 0`, the usual least-squares
structure) the Hessian at a generic point has kernel exactly :math:`\\bigcap_j \\ker \\ell_j`; it is computed at a
random integer point in exact arithmetic, and the candidate is kept only if :math:`f_{2d}` vanishes on it exactly
(at random rational points of it) and the polarisation test passes.  Nothing here is trusted: the certificate
built on the face is checked like any other.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import flint
import numpy as np
import scipy.sparse as sp

from sosrelax.conic import Cone, ConeKind, ConicProgram, smat, svec, svec_indices
from sosrelax.relax.moment import MomentRelaxation

__all__ = [
    "FACE_SOURCES",
    "MAX_VARIABLES",
    "Face",
    "directions_at_infinity",
    "face_polynomials",
    "face_program",
    "faces_along_directions",
    "faces_at_infinity",
    "faces_from_solution",
    "lift_dual",
    "rational_critical_point",
    "zeros_at_infinity",
]

#: Above this many variables the exact kernel computation (a dense n × n integer matrix) is skipped.
MAX_VARIABLES = 1000


@dataclass(frozen=True)
class Face:
    """The face of one σ₀ block: ``Q = U R U^T`` with ``U`` exact (``k × r``, rational).  The columns of ``U`` are
    the coefficient vectors (in the block's monomial basis) of the basis polynomials ``p_j`` of the face, in
    echelon form (each ``p_j`` has its own leading monomial, graded-lexicographic)."""

    block: int
    U: tuple[tuple[Fraction, ...], ...]

    @property
    def U_float(self) -> np.ndarray:
        return np.array([[float(v) for v in row] for row in self.U], dtype=float)


def fmpq_matrix(rows: list[list[Fraction]] | list[list[int]]) -> Any:
    """An exact python-flint matrix from rows of Fractions (or ints)."""
    return flint.fmpq_mat([[flint.fmpq(Fraction(v).numerator, Fraction(v).denominator) for v in row]
                           for row in rows])


def as_fraction(q: Any) -> Fraction:
    """A python-flint rational as a Fraction."""
    return Fraction(int(q.p), int(q.q))


def _top_terms(relax: MomentRelaxation) -> tuple[list[tuple[tuple[int, ...], Fraction]], int]:
    assert relax.problem is not None
    obj = relax.problem.objective
    index = {v: i for i, v in enumerate(relax.variables)}
    n = len(relax.variables)
    terms = []
    for d, c in obj.terms():
        e = [0] * n
        for v, a in d.items():
            e[index[v]] = int(a)
        terms.append((tuple(e), Fraction(c)))
    deg = max((sum(e) for e, _ in terms), default=0)
    return [(e, c) for e, c in terms if sum(e) == deg], deg


def _evaluate(terms: list[tuple[tuple[int, ...], Fraction]], x: list[Fraction]) -> Fraction:
    total = Fraction(0)
    for e, c in terms:
        v = c
        for i, a in enumerate(e):
            if a:
                v *= x[i] ** a
        total += v
    return total


def zeros_at_infinity(relax: MomentRelaxation, *, seed: int = 0) -> list[list[Fraction]]:
    """An exact basis of a linear subspace on which the objective's top form vanishes identically (empty when
    none is found, or above :data:`MAX_VARIABLES` variables).  See the module docstring."""
    top, deg = _top_terms(relax)
    n = len(relax.variables)
    if deg < 4 or not top or n > MAX_VARIABLES:
        return []
    rng = random.Random(seed)
    x = [rng.randint(1, 10**6) * rng.choice((-1, 1)) for _ in range(n)]
    H: dict[tuple[int, int], Fraction] = {}
    for e, c in top:
        sup = [i for i, a in enumerate(e) if a]
        for i in sup:
            for j in sup:
                ee = list(e)
                coef = c * ee[i]
                ee[i] -= 1
                coef *= ee[j]
                ee[j] -= 1
                if coef == 0:
                    continue
                for k in sup:
                    if ee[k]:
                        coef *= Fraction(x[k]) ** ee[k]
                H[i, j] = H.get((i, j), Fraction(0)) + coef
    basis = _kernel_by_components(H, n)
    if not basis:
        return []
    # keep it only if the top form vanishes on it, at random points of it (exactly)
    for _ in range(3):
        w = [rng.randint(-50, 50) for _ in basis]
        if _evaluate(top, _combine(w, basis, n)) != 0:
            return []
    return basis


def _combine(w: list[int], basis: list[list[Fraction]], n: int) -> list[Fraction]:
    """``Σ_k w_k basis_k`` (exact), touching only the nonzero entries of each basis vector."""
    out = [Fraction(0)] * n
    for wk, b in zip(w, basis, strict=True):
        if wk:
            for i, v in enumerate(b):
                if v:
                    out[i] += wk * v
    return out


def _kernel_by_components(H: dict[tuple[int, int], Fraction], n: int) -> list[list[Fraction]]:
    """An exact basis of the kernel of the symmetric ``n × n`` matrix with entries ``H``.  The matrix is block
    diagonal over the connected components of its sparsity graph (a chain's Hessian has small ones, a variable it
    does not involve is one of its own), so the kernel is the direct sum of the components' kernels."""
    from scipy.sparse.csgraph import connected_components

    ij = np.array(list(H), dtype=np.int64).reshape(-1, 2)
    graph = sp.coo_matrix((np.ones(len(ij)), (ij[:, 0], ij[:, 1])), shape=(n, n))
    _count, label = connected_components(graph, directed=False)
    members: dict[int, list[int]] = {}
    for i, lab in enumerate(label.tolist()):
        members.setdefault(lab, []).append(i)
    by_comp: dict[int, list[tuple[int, int, Fraction]]] = {}
    for (i, j), v in H.items():
        by_comp.setdefault(int(label[i]), []).append((i, j, v))
    zero = Fraction(0)
    basis: list[list[Fraction]] = []
    for lab, comp in members.items():
        local = {v: a for a, v in enumerate(comp)}
        entries = {(local[i], local[j]): v for i, j, v in by_comp.get(lab, [])}
        den = 1
        for v in entries.values():
            den = den * v.denominator // math.gcd(den, v.denominator)
        M = flint.fmpz_mat(len(comp), len(comp))
        for (a, b), v in entries.items():
            M[a, b] = int(v * den)
        N, nullity = M.nullspace()
        for j in range(nullity):
            vec = [zero] * n
            for a, i in enumerate(comp):
                if N[a, j] != 0:
                    vec[i] = Fraction(int(N[a, j]))
            basis.append(vec)
    return basis


def _deglex_key(e: tuple[int, ...]) -> tuple[int, tuple[int, ...]]:
    return (sum(e), e)


def faces_at_infinity(relax: MomentRelaxation, V: list[list[Fraction]]) -> list[Face]:
    """The faces of the σ₀ blocks forced by the subspace ``V`` (exact basis rows)."""
    top, deg = _top_terms(relax)
    n = len(relax.variables)
    rng = random.Random(1)
    if deg % 2:
        return []
    # the polarisation test (quartic top forms): the t^2 s^2 coefficient of f_top(t v + s u) vanishes, at random
    # v in V and u
    polar = deg == 4
    for _ in range(2 if polar else 0):
        w = [rng.randint(-20, 20) for _ in V]
        v = _combine(w, V, n)
        u = [Fraction(rng.randint(-20, 20)) for _ in range(n)]
        # f(t v + s u) at s = 1 for t = 0..4 gives the polynomial in t; its t^2 coefficient is the test
        vals = [_evaluate(top, [tt * vi + ui for vi, ui in zip(v, u, strict=True)]) for tt in range(5)]
        A = fmpq_matrix([[Fraction(tt) ** p for p in range(5)] for tt in range(5)])
        coeffs = A.solve(fmpq_matrix([[val] for val in vals]))
        if coeffs[2, 0] != 0:
            polar = False
    faces = []
    for bi, blk in enumerate(relax.gram_blocks):
        if blk.constraint is not None or blk.cone != "psd":
            continue
        B = blk.full_basis(n)
        k = B.shape[0]
        half = deg // 2  # the blocks' monomials of this degree carry the top form
        sup = np.flatnonzero(B.sum(axis=0) > 0).tolist()
        if not sup:
            continue
        touching = [b for b in V if any(b[i] for i in sup)]  # the others have no part on these variables
        if not touching:
            continue
        P = fmpq_matrix([[b[i] for i in sup] for b in touching])
        R, rank = P.rref()
        W = [[as_fraction(R[a, j]) for j in range(len(sup))] for a in range(rank)]
        if not W:
            continue
        tops = [a for a in range(k) if int(B[a].sum()) == half]
        if not tops:
            continue

        def mono(a: int, pt: list[Fraction], B: np.ndarray = B, sup: list[int] = sup) -> Fraction:
            val = Fraction(1)
            for jj, i in enumerate(sup):
                if B[a, i]:
                    val *= pt[jj] ** int(B[a, i])
            return val

        vecs: list[list[Fraction]] = []
        pts = [[Fraction(rng.randint(-9, 9)) for _ in sup] for _ in range(len(tops) + 2)]
        for pt in pts:
            # z(v) for v = a random combination of W
            cw = [rng.randint(-9, 9) for _ in W]
            v = [sum((c_ * w[j] for c_, w in zip(cw, W, strict=True)), Fraction(0)) for j in range(len(sup))]
            vecs.append([mono(a, v) if a in tops else Fraction(0) for a in range(k)])
            if polar:
                # z'(v, u): the part of z(v + eps u) linear in eps, for u = pt
                e1 = [vi + ui for vi, ui in zip(v, pt, strict=True)]
                e2 = [vi - ui for vi, ui in zip(v, pt, strict=True)]
                vecs.append([(mono(a, e1) - mono(a, e2)) / 2 if a in tops else Fraction(0) for a in range(k)])
        # basis of the forced kernel, in echelon form with the columns in ascending graded-lex order
        order = sorted(range(k), key=lambda a: _deglex_key(tuple(int(t) for t in B[a])))
        Kt = fmpq_matrix([[vec[a] for a in order] for vec in vecs])
        Kr, kr = Kt.rref()
        if kr == 0:
            continue
        pivots = []
        for row in range(kr):
            col = next(c for c in range(k) if Kr[row, c] != 0)
            pivots.append(col)
        free = [c for c in range(k) if c not in pivots]
        # null space of the echelon rows: u_j = e_j - sum_rows Kr[row, j] e_pivot(row), j free
        U = [[Fraction(0)] * len(free) for _ in range(k)]
        for jj, c in enumerate(free):
            U[order[c]][jj] = Fraction(1)
            for row, pc in enumerate(pivots):
                val = Kr[row, c]
                if val != 0:
                    U[order[pc]][jj] = -as_fraction(val)
        faces.append(Face(bi, tuple(tuple(r_) for r_ in U)))
    return faces


def face_program(
    relax: MomentRelaxation, faces: list[Face], gamma: float | None = None, *, orthonormal: bool = False
) -> tuple[ConicProgram, Any]:
    """The relaxation restricted to the faces: each PSD block's rows ``s = svec(M)`` become ``svec(Uᵀ M U)``.

    With ``gamma`` the centred program of :func:`~sosrelax.relax.moment.centered_feasibility_program` on the
    face: maximise ``t`` with every (reduced) Gram matrix ``⪰ t·I``.  The face is parametrised by the echelon
    basis ``U`` of :class:`Face`, or with ``orthonormal=True`` by an orthonormal basis of the same face (better
    conditioned when ``U`` has large entries; the margin ``t`` then means something else, so each can succeed where
    the other does not).  Returns the program and what :func:`lift_dual` needs.
    """
    prog = relax.program
    A = prog.A.tocsr()
    b = prog.b
    by_block = {f.block: f for f in faces}
    start = {blk.rows.start: i for i, blk in enumerate(relax.gram_blocks)}
    rows_new, b_new, cones = [], [], []
    maps: list[tuple[slice, np.ndarray | None, Cone]] = []
    row = 0
    for cone in prog.cones:
        dim = cone.dim * (cone.dim + 1) // 2 if cone.kind is ConeKind.PSD else cone.dim
        sl = slice(row, row + dim)
        bi = start.get(row)
        face = by_block.get(bi) if (cone.kind is ConeKind.PSD and bi is not None) else None
        if face is None:
            rows_new.append(A[sl])
            b_new.append(b[sl])
            cones.append(cone)
            maps.append((sl, None, cone))
        else:
            U = np.linalg.qr(face.U_float)[0] if orthonormal else face.U_float
            r = U.shape[1]
            L = np.empty((r * (r + 1) // 2, dim))
            for j in range(dim):
                e = np.zeros(dim)
                e[j] = 1.0
                L[:, j] = svec(U.T @ smat(e) @ U)
            rows_new.append(sp.csr_matrix(L) @ A[sl])
            b_new.append(L @ b[sl])
            cones.append(Cone(ConeKind.PSD, r))
            maps.append((sl, L, cones[-1]))
        row += dim
    An = sp.vstack(rows_new).tocsr()
    bn = np.concatenate(b_new)
    c = prog.c.copy()
    if gamma is not None:
        w = np.zeros(An.shape[0])
        r0 = 0
        for cone in cones:
            dim = cone.dim * (cone.dim + 1) // 2 if cone.kind is ConeKind.PSD else cone.dim
            if cone.kind is ConeKind.PSD:
                rr, cc = svec_indices(cone.dim)
                w[r0:r0 + dim] = (rr == cc)
            r0 += dim
        trace_row = -np.asarray(An.T @ w).ravel()
        An = sp.vstack([sp.csr_matrix(trace_row[None, :]), An[1:]]).tocsr()
        c[relax.zero_moment_index()] -= gamma
    out = ConicProgram(c=c, A=sp.csc_matrix(An), b=bn, cones=tuple(cones), offset=0.0 if gamma is not None
                       else prog.offset)
    return out, maps


def lift_dual(maps: Any, z_face: np.ndarray, *, margin: float = 0.0) -> np.ndarray:
    """The dual of the full relaxation whose Gram matrices are ``U (R + margin·I) Uᵀ`` for the face's ``R``."""
    parts = []
    r0 = 0
    for _sl, L, cone in maps:
        dim = cone.dim * (cone.dim + 1) // 2 if cone.kind is ConeKind.PSD else cone.dim
        zf = np.array(z_face[r0:r0 + dim], dtype=float)
        if cone.kind is ConeKind.PSD and margin:
            rr, cc = svec_indices(cone.dim)
            zf = zf + margin * (rr == cc)
        parts.append(L.T @ zf if L is not None else zf)
        r0 += dim
    return np.concatenate(parts)


#: Largest Gram block whose moment matrix kernel :func:`faces_from_moments` computes (a dense eigendecomposition).
MAX_KERNEL_ORDER = 400


def block_moment_matrix(relax: MomentRelaxation, block: int, x: np.ndarray) -> np.ndarray:
    """The moment (or localising) matrix of Gram block ``block`` at the program's primal ``x``: ``smat(b − A x)``
    on the block's rows (for a σ₀ block, ``M_B(y)`` on its basis ``B``)."""
    blk = relax.gram_blocks[block]
    prog = relax.program
    s = prog.b[blk.rows] - prog.A[blk.rows] @ x
    return smat(s)


def numerical_kernel(M: np.ndarray, *, tol: float = 1e-6, gap: float = 1e3) -> np.ndarray:
    """An orthonormal basis (columns) of the numerical kernel of a symmetric positive semidefinite ``M``.

    The kernel is cut at the largest ratio between consecutive eigenvalues, among eigenvalues below
    ``tol · λ_max``, when that ratio is at least ``gap`` (an interior-point solution's kernel lies several orders of
    magnitude below its range); empty otherwise.
    """
    w, V = np.linalg.eigh(0.5 * (M + M.T))
    top = float(w[-1]) if w.size else 0.0
    if not top > 0:
        return np.zeros((M.shape[0], 0))
    small = int(np.count_nonzero(w < tol * top))
    if small == 0:
        return np.zeros((M.shape[0], 0))
    logs = np.log10(np.maximum(w[: small + 1], 1e-10 * top))  # below: zero to a solver (or slightly negative)
    jumps = np.diff(logs)  # jumps[i]: from w[i] to w[i + 1]
    cut = int(np.argmax(jumps)) + 1
    if jumps[cut - 1] < np.log10(gap):
        return np.zeros((M.shape[0], 0))
    return V[:, :cut]


def rational_echelon(K: np.ndarray, basis: np.ndarray, *, max_denominator: int = 10**6,
                     tol: float = 1e-9) -> list[list[Fraction]] | None:
    """A basis of the span of ``K``'s columns (coefficient vectors over ``basis``) in reduced echelon form on the
    best conditioned set of pivot monomials (QR with column pivoting), its entries recovered as rationals of
    denominator at most ``max_denominator``; ``None`` when an entry is not within ``tol`` of one (the span is not
    rational, or not known that accurately).  The echelon form of a subspace on given pivots is unique, so a
    rational subspace known to about ``tol`` is recovered exactly.

    Returns the echelon vectors (rows), each over ``basis``.
    """
    import scipy.linalg

    k, r = K.shape
    if r == 0:
        return []
    _, _, piv = scipy.linalg.qr(K.T, pivoting=True, mode="economic")
    cols = np.sort(piv[:r])
    S = K.T[:, cols]
    if np.linalg.cond(S) > 1e6:
        return None
    A = np.linalg.solve(S, K.T)  # r x k, the identity on the pivot columns
    out: list[list[Fraction]] = []
    for a in range(r):
        vec = [Fraction(0)] * k
        for j in range(k):
            v = float(A[a, j])
            q = Fraction(v).limit_denominator(max_denominator)
            if abs(float(q) - v) > tol * max(1.0, abs(v)):
                return None
            vec[j] = q
        out.append(vec)
    return out


def numerical_range(Q: np.ndarray, *, gap: float = 1e3, tight: bool = False) -> np.ndarray:
    """An orthonormal basis (columns) of the numerical range of a positive semidefinite ``Q``: the eigenvectors
    above a ratio of at least ``gap`` between consecutive eigenvalues (an interior-point Gram matrix's range
    stands several orders above its near-kernel) — the largest such ratio, or with ``tight`` the highest (the
    smallest range: eigenvalues that an interior-point method drives to zero slowly, where strict
    complementarity fails, sit between the two); empty when ``Q`` shows no such gap (it is definite)."""
    w, V = np.linalg.eigh(0.5 * (Q + Q.T))
    top = float(w[-1]) if w.size else 0.0
    if not top > 0 or w.size < 2:
        return np.zeros((Q.shape[0], 0))
    logs = np.log10(np.maximum(w, top * 1e-300))
    jumps = np.diff(logs)
    big = np.flatnonzero(jumps >= np.log10(gap))
    if big.size == 0:
        return np.zeros((Q.shape[0], 0))
    cut = int(big[-1] if tight else np.argmax(jumps)) + 1
    return V[:, cut:]


#: How :func:`faces_from_solution` reads a face: the range of the dual's Gram matrix at its largest eigenvalue gap,
#: at its highest gap, or the kernel of the primal's moment matrix.
FACE_SOURCES = ("range", "tight range", "kernel")


def faces_from_solution(relax: MomentRelaxation, x: np.ndarray | None, z: np.ndarray | None, *,
                        source: str = "range", constraints: bool = False) -> list[Face]:
    """The faces of the σ₀ blocks on which the solver's optimal pair says the certificates lie.

    Complementarity at the optimum, ``Q·M_B(y) = 0``, puts every optimal Gram matrix ``Q`` on the face
    ``Q = U R Uᵀ``, the columns of ``U`` spanning ``ker M_B(y)`` (for the interior-point ``y`` of largest rank, the
    smallest such face: ``source="kernel"``, :func:`numerical_kernel`).  An interior-point ``Q`` spans the smallest
    face that holds the optimal Gram matrices (``source="range"``, :func:`numerical_range`), which is the same
    face under strict complementarity and is read more accurately; where strict complementarity fails,
    eigenvalues that tend to zero slowly sit between range and kernel (``"tight range"`` leaves them out).
    ``U`` is kept only when its echelon basis has small rational entries (:func:`rational_echelon`: first to
    ``1e-7`` with denominators up to 1000, then to ``1e-3`` with denominators up to 30, where strict
    complementarity fails and nothing is known more accurately), so that the face is exact: e.g. the
    polynomials ``p_j`` of ``f − f* = Σ p_j²`` whose common zeros are the minimisers.  With ``constraints`` the
    multipliers of the inequalities get theirs too (``Q_i·M_B(g_i y) = 0``).  Nothing here is trusted: a
    certificate on a wrong face is rejected by the checker like any other.
    """
    faces: list[Face] = []
    n = len(relax.variables)
    grams = relax.gram_matrices(z) if z is not None else None
    for bi, blk in enumerate(relax.gram_blocks):
        if ((blk.constraint is not None and not constraints) or blk.cone != "psd"
                or not 1 < blk.order <= MAX_KERNEL_ORDER):
            continue
        if source == "kernel":
            K = numerical_kernel(block_moment_matrix(relax, bi, x)) if x is not None else None
        else:
            K = numerical_range(grams[bi], tight=source == "tight range") if grams is not None else None
        if K is None or K.shape[1] == 0:
            continue
        rows = None
        for den, eps in ((1000, 1e-7), (30, 1e-3)):
            rows = rational_echelon(K, blk.full_basis(n), max_denominator=den, tol=eps)
            if rows is not None:
                break
        if rows is not None:
            faces.append(Face(bi, tuple(tuple(row[a] for row in rows) for a in range(blk.order))))
    return faces


def face_polynomials(relax: MomentRelaxation, x: np.ndarray | None, z: np.ndarray | None) -> list[Any]:
    """Polynomials (floats, in the relaxation's variables) that vanish on every global minimiser when the
    relaxation is exact: the range of each σ₀ Gram matrix of the dual ``z`` (:func:`numerical_range`; ``f − f* =
    Σ_j p_j² + …`` vanishes at a minimiser, so every ``p_j`` does), else the kernel of the moment matrix of the
    primal ``x`` (:func:`numerical_kernel`).  Added as equalities, they cut the relaxation down to its optimal
    face, whose moment matrices then become flat (see :func:`sosrelax.solve`'s minimiser extraction)."""
    from sosrelax.poly import Polynomial

    n = len(relax.variables)
    grams = relax.gram_matrices(z) if z is not None else None
    out = []
    for bi, blk in enumerate(relax.gram_blocks):
        if blk.constraint is not None or blk.cone != "psd" or not 1 < blk.order <= MAX_KERNEL_ORDER:
            continue
        K = numerical_range(grams[bi]) if grams is not None else np.zeros((blk.order, 0))
        if K.shape[1] == 0 and x is not None:
            K = numerical_kernel(block_moment_matrix(relax, bi, x))
        B = blk.full_basis(n)
        for j in range(K.shape[1]):
            v = K[:, j] / np.max(np.abs(K[:, j]))
            keep = np.abs(v) > 1e-12
            out.append(Polynomial(B[keep], v[keep], relax.variables))
    return out


def _all_terms(relax: MomentRelaxation) -> list[tuple[tuple[int, ...], Fraction]]:
    """The objective of the relaxed problem as exact terms (its float coefficients converted exactly)."""
    assert relax.problem is not None
    index = {v: i for i, v in enumerate(relax.variables)}
    out = []
    for d, c in relax.problem.objective.terms():
        e = [0] * len(relax.variables)
        for v, a in d.items():
            e[index[v]] = int(a)
        out.append((tuple(e), Fraction(c)))
    return out


def _fq(v: Fraction) -> Any:
    return flint.fmpq(v.numerator, v.denominator)


class _Curve:
    """The curve ``x₀ = s·tᵃ``, ``x = d + w·tᵇ`` and the powers of its coordinates as polynomials in ``t``
    (python-flint, exact), cached."""

    def __init__(self, s: Fraction, a: int, d: tuple[Fraction, ...], w: tuple[Fraction, ...], b: int) -> None:
        self.x0 = flint.fmpq_poly([0] * a + [_fq(s)])
        self.xs = [flint.fmpq_poly([_fq(di)] + [0] * (b - 1) + [_fq(wi)]) for di, wi in zip(d, w, strict=True)]
        self.cache: dict[tuple[int, int], Any] = {}

    def power(self, i: int, k: int) -> Any:
        """Coordinate ``i`` (``-1``: ``x₀``) to the power ``k``."""
        key = (i, k)
        if key not in self.cache:
            self.cache[key] = (self.x0 if i < 0 else self.xs[i]) ** k
        return self.cache[key]

    def monomial(self, e: tuple[int, ...], hom: int) -> Any:
        """``x₀^hom · x^e`` along the curve."""
        out = self.power(-1, hom)
        for i, k in enumerate(e):
            if k:
                out = out * self.power(i, k)
        return out


def _coefficients(p: Any, h: int) -> list[Fraction]:
    """The coefficients of ``t⁰ … t^{h−1}`` of a python-flint polynomial."""
    return [as_fraction(p[k]) if k <= p.degree() else Fraction(0) for k in range(h)]


def _curve_order(terms: list[tuple[tuple[int, ...], Fraction]], deg: int, curve: _Curve, cap: int) -> int:
    """The order in ``t`` of the homogenised objective ``F(x₀, x) = x₀^deg f(x/x₀)`` along the curve (``cap`` when
    it vanishes below ``cap``)."""
    total = flint.fmpq_poly([0])
    for e, c in terms:
        total += _fq(c) * curve.monomial(e, deg - sum(e))
    if total.degree() < 0:
        return cap
    return min(next(k for k in range(total.degree() + 1) if total[k] != 0), cap)


def directions_at_infinity(relax: MomentRelaxation) -> list[tuple[Fraction, ...]]:
    """The rational directions ``d`` along which the top form of a two-variable objective vanishes (its real
    linear factors with rational roots), exactly."""
    top, deg = _top_terms(relax)
    if len(relax.variables) != 2 or deg < 2 or not top:
        return []
    coeffs = [Fraction(0)] * (deg + 1)  # f_top(t, 1) by powers of t
    for e, c in top:
        coeffs[e[0]] += c
    out: list[tuple[Fraction, ...]] = []
    if coeffs[deg] == 0:
        out.append((Fraction(1), Fraction(0)))  # f_top(1, 0) = 0
    poly = flint.fmpq_poly([flint.fmpq(c.numerator, c.denominator) for c in coeffs])
    if poly.degree() > 0:
        out += [(as_fraction(r), Fraction(1)) for r, _mult in poly.roots()]
    return out


def faces_along_directions(relax: MomentRelaxation, *, seed: int = 0,
                           points: list[tuple[Fraction, ...]] | None = None) -> list[Face]:
    """Faces of the σ₀ block of an unconstrained two-variable problem forced by the zeros of its top form in the
    directions :func:`directions_at_infinity` (and, with ``points``, by zeros of ``f − γ`` there: minimisers, for
    a bound ``γ`` equal to the minimum).

    With ``F(x₀, x) = x₀^{2d} f(x/x₀)`` the homogenised objective, every identity ``f − γ = Σ_j q_j²`` homogenises
    to ``F − γx₀^{2d} = Σ_j Q_j²``; ``γ`` changes nothing near ``(0, d)``.  Along a curve ``x₀ = s·tᵃ``,
    ``x = d + w·tᵇ`` on which ``F`` vanishes to order ``m`` in ``t`` for generic ``s, w``, every ``Q_j`` vanishes to
    order ``⌈m/2⌉``: the coefficients of ``t^k``, ``k < ⌈m/2⌉``, of the homogenised monomial vector
    ``(x₀^{d−|β|} x^β)_β`` are in the kernel of every Gram matrix.  Small weights ``(a, b)`` are tried (the Newton
    polygon of ``F`` at ``(0, d)``, where the lowest parts of ``f`` below the top form vanish too, as for
    Goldstein–Price), at random rational ``s, w``; everything is exact.
    """
    dirs = directions_at_infinity(relax)
    blocks = [bi for bi, blk in enumerate(relax.gram_blocks) if blk.constraint is None and blk.cone == "psd"]
    if not (dirs or points) or relax.equality_blocks or relax.products or len(blocks) != 1:
        return []
    bi = blocks[0]
    terms = [(e, c) for e, c in _all_terms(relax) if any(e)]  # the constant term is the bound's: left out
    if not terms:
        return []
    deg = max(sum(e) for e, _ in terms)
    half = relax.level
    B = [tuple(int(v) for v in row) for row in relax.gram_blocks[bi].full_basis(len(relax.variables))]
    rng = random.Random(seed)
    vecs: list[list[Fraction]] = []
    cap = 2 * deg + 2
    for d in dirs:
        for a, b in ((1, 1), (1, 2), (1, 3), (2, 1), (3, 1), (2, 3), (3, 2)):
            for _ in range(3):
                s = Fraction(rng.randint(1, 97), rng.randint(1, 97))
                w = (Fraction(rng.randint(-97, 97), 89), Fraction(rng.randint(-97, 97), 83))
                curve = _Curve(s, a, d, w, b)
                m = min(_curve_order(terms, deg, curve, cap), a * deg)  # x₀^deg: f's constant, γ
                if m >= cap:
                    continue
                h = (m + 1) // 2
                curves = [_coefficients(curve.monomial(e, half - sum(e)), h) for e in B]
                for k in range(h):
                    vecs.append([c[k] for c in curves])
    for pt in points or []:
        vecs.append([_monomial_value(e, pt) for e in B])
    vecs = [v for v in vecs if any(v)]
    if not vecs:
        return []
    U = _complement(vecs)
    if not U or len(U[0]) in (0, len(B)):
        return []
    return [Face(bi, U)]


def _monomial_value(e: tuple[int, ...], pt: tuple[Fraction, ...]) -> Fraction:
    out = Fraction(1)
    for v, k in zip(pt, e, strict=True):
        if k:
            out *= v**k
    return out


def rational_critical_point(relax: MomentRelaxation, x: np.ndarray, *, max_denominator: int = 1000,
                            tol: float = 1e-6) -> tuple[tuple[Fraction, ...], Fraction] | None:
    """The point of short rational coordinates (denominators up to ``max_denominator``) within ``tol`` of ``x``
    if the relaxed objective's gradient vanishes there *exactly*, and the objective's exact value there; else
    ``None``.  A minimiser found in floating point (e.g. polished from the moments) becomes an exact one."""
    terms = _all_terms(relax)
    pt = tuple(Fraction(float(v)).limit_denominator(max_denominator) for v in x)
    if any(abs(float(q) - float(v)) > tol for q, v in zip(pt, x, strict=True)):
        return None
    n = len(pt)
    for i in range(n):
        g = Fraction(0)
        for e, c in terms:
            if e[i]:
                d = list(e)
                d[i] -= 1
                g += c * e[i] * _monomial_value(tuple(d), pt)
        if g != 0:
            return None
    return pt, sum((c * _monomial_value(e, pt) for e, c in terms), Fraction(0))


def _complement(vecs: list[list[Fraction]]) -> tuple[tuple[Fraction, ...], ...]:
    """A basis (columns) of the vectors orthogonal to ``vecs``, from their reduced echelon form: ``e_j −
    Σ_rows R[row, j]·e_pivot(row)`` for each free column ``j`` (small entries, unlike an integer nullspace)."""
    k = len(vecs[0])
    R, rank = fmpq_matrix(vecs).rref()
    pivots = [next(c for c in range(k) if R[row, c] != 0) for row in range(rank)]
    free = [c for c in range(k) if c not in pivots]
    U = [[Fraction(0)] * len(free) for _ in range(k)]
    for jj, c in enumerate(free):
        U[c][jj] = Fraction(1)
        for row, pc in enumerate(pivots):
            if R[row, c] != 0:
                U[pc][jj] = -as_fraction(R[row, c])
    return tuple(tuple(row) for row in U)

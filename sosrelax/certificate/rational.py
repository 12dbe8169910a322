"""From a floating-point certificate to an exact one (untrusted: the checker decides).

A solver returns Gram matrices that satisfy the coefficient identities only up to its tolerance.
:func:`rationalize` rounds every multiplier to a rational with a fixed denominator and then
projects the SOS multiplier :math:`\\sigma_0` orthogonally (Frobenius norm) onto the affine space

.. math::

    \\{Q : \\textstyle\\sum_{b_a + b_b = \\alpha} Q_{ab}
         = Q^{\\rm old}_{\\alpha} + r_\\alpha\\},

which in the monomial basis has the closed form of Peyrl and Parrilo: add
:math:`r_\\alpha / N_\\alpha` to each of the :math:`N_\\alpha` entries with
:math:`b_a + b_b = \\alpha`.  With several :math:`\\sigma_0` (one per clique of a sparse relaxation)
each residual monomial is assigned to the first clique whose variables contain its support and projected
there.  DD/SDD Gram matrices keep their cone label; the checker proves positive semidefiniteness, which is
all the identity needs.  Sherali–Adams product coefficients are rounded (and clipped at zero); their
residual is absorbed by the checker over the box.  After it the residual is exactly zero
on every monomial that :math:`\\sigma_0` can represent.  If the projected matrix is
not PSD (optimal Gram matrices are singular), the bound is backed off by a geometrically growing
:math:`\\delta`: the identity's constant term grows by :math:`\\delta`, which the projection puts on
the entry :math:`Q_{11}` of the constant monomial; that repairs the null direction
:math:`b(x^\\star)` of a unique minimiser because :math:`b(x^\\star)_1 = 1`.  See
``docs/certificates.md`` for when this cannot work.

With several :math:`\\sigma_0` blocks they are first moved onto the identities in floating point in their own
metric (:func:`newton_polish`; if the blocks hold excess constant, it goes into the bound first; then
:func:`polish_grams`).  Certificates of σ₀ blocks only are rounded in bulk by
:mod:`sosrelax.certificate.cliqueround`.
"""

from __future__ import annotations

import math
from dataclasses import replace
from fractions import Fraction
from typing import Any

import numpy as np

from sosrelax.certificate.check import prove_psd, residual
from sosrelax.certificate.format import (
    Certificate,
    EqualityMultiplier,
    ProductMultiplier,
    RationalMatrix,
    SOSMultiplier,
    Terms,
    as_rational_matrix,
    gram_from_array,
)
from sosrelax.certificate.gramcorrect import alternating_correct, newton_correct

__all__ = [
    "newton_polish", "polish_grams", "project_gram", "rationalize",
    "rationalize_in_face", "rationalize_on_faces",
]


def _round(x: Fraction, denominator: int) -> Fraction:
    return Fraction(round(x * denominator), denominator)


def _round_matrix(g: RationalMatrix, denominator: int) -> RationalMatrix:
    """Symmetrise and round every entry to a multiple of ``1/denominator`` (vectorised)."""
    num, den = g.numerators.astype(object), g.denominator
    sym = num + num.T  # = 2 * den * Q_sym
    # round(sym * denominator / (2 den)) with ties away from zero is fine (untrusted)
    scaled = sym * denominator
    two_den = 2 * den
    q = (scaled + den) // two_den  # floor(x + 1/2)
    return RationalMatrix(q, denominator)


def _round_terms(t: Terms, denominator: int) -> Terms:
    return tuple((e, _round(c, denominator)) for e, c in t)


def project_gram(
    basis: tuple[tuple[int, ...], ...], gram: RationalMatrix, r: Terms
) -> tuple[RationalMatrix, Terms]:
    """Add ``r_alpha / N_alpha`` to each Gram entry with ``b_a + b_b = alpha``.

    Parameters
    ----------
    basis : tuple of exponent tuples
    gram : RationalMatrix
    r : Terms
        The residual to move into :math:`b^T Q b`.

    Returns
    -------
    gram : RationalMatrix
        The projected matrix (the orthogonal projection onto the identities, in exact arithmetic).
    rest : Terms
        The part of ``r`` no pair of the basis can represent (left as residual).
    """
    k = len(basis)
    if k == 0 or not r:
        return gram, r
    B = np.array(basis, dtype=np.int64)
    used = np.flatnonzero(B.sum(axis=0) > 0)
    local = B[:, used] if used.size else np.zeros((k, 1), dtype=np.int64)
    pair = (local[:, None, :] + local[None, :, :]).reshape(k * k, -1)
    uniq, inv, counts = np.unique(pair, axis=0, return_inverse=True, return_counts=True)
    inv = inv.reshape(-1)
    index = {tuple(int(v) for v in row): i for i, row in enumerate(uniq)}
    cols = used.tolist()
    delta = [Fraction(0)] * len(uniq)
    rest = []
    for e, c in r:
        loc = tuple(e[j] for j in cols) if cols else (0,)
        i = index.get(loc) if sum(loc) == sum(e) else None  # no variable outside the basis
        if i is None:
            rest.append((e, c))
        else:
            delta[i] += c / int(counts[i])
    den = gram.denominator
    for d in delta:
        den = math.lcm(den, d.denominator)
    dnum = np.array([d.numerator * (den // d.denominator) for d in delta], dtype=object)
    num = gram.numerators.astype(object) * (den // gram.denominator) + dnum[inv].reshape(k, k)
    return RationalMatrix(num, den), tuple(rest)


def _rounded(cert_float: Certificate, denominator: int) -> Certificate:
    """Every multiplier entry (and a bound) rounded to a multiple of ``1/denominator``; product coefficients
    are kept nonnegative."""
    sos = tuple(
        replace(m, gram=_round_matrix(as_rational_matrix(m.gram), denominator))
        for m in cert_float.sos
    )
    eqm = tuple(
        EqualityMultiplier(m.constraint, _round_terms(m.poly, denominator))
        for m in cert_float.equality_multipliers
    )
    prods = tuple(
        ProductMultiplier(p.constraints, max(Fraction(0), _round(p.coefficient, denominator)))
        for p in cert_float.products
    )
    return replace(cert_float, sos=sos, equality_multipliers=eqm, products=prods,
                   bound=_round(cert_float.bound, denominator)
                   if cert_float.kind != "infeasible" else cert_float.bound)


def _polished(base: Certificate, r: Terms, denominator: int) -> tuple[Certificate, Terms]:
    """Several σ₀ blocks: move their Gram matrices toward the exact identity first (Newton polish, else
    gradient polish) so that the projection's corrections stay small; returns the certificate and its
    residual."""
    polished: list[np.ndarray] | list[np.ndarray | None] | None = newton_polish(base, r)
    if polished is None:
        # The Gram matrices hold more constant than the identity asks for (e.g. an interior-point iterate
        # whose margin came out negative): taking it from sigma_0 would eat the margin of the nearly singular
        # directions, so the bound moves to the weak side by that excess instead.
        r0 = dict(r).get((0,) * len(base.variables), Fraction(0))
        if r0 < 0:
            base = replace(base, bound=base.bound + r0 if base.kind == "lower_bound" else base.bound - r0)
            r = residual(base)
            polished = newton_polish(base, r) if r else None
    if polished is None and r:
        polished = polish_grams(base, r)
    if polished is not None:
        base = replace(base, sos=tuple(
            replace(m, gram=_round_matrix(gram_from_array(g), denominator)) if g is not None else m
            for m, g in zip(base.sos, polished, strict=True)
        ))
        r = residual(base)
    return base, r


def _project_residual(base: Certificate, i0s: list[int], r: Terms
                      ) -> tuple[list[SOSMultiplier], dict[int, RationalMatrix], Terms]:
    """Remove the residual ``r`` exactly by projecting σ₀ blocks (Peyrl–Parrilo).

    Each residual monomial goes to the first σ₀ whose variables contain its support; what a block cannot
    represent moves on to the next such block.  Returns the new multipliers, the projected Gram matrices
    by multiplier index, and the terms no block could take.
    """
    new_sos = list(base.sos)
    grams: dict[int, RationalMatrix] = {}
    supports = [np.flatnonzero(np.array(base.sos[i].basis, dtype=np.int64).reshape(len(base.sos[i].basis), -1)
                               .sum(axis=0) > 0).tolist() for i in i0s]
    var_sets = [frozenset(sup) for sup in supports]
    by_var: dict[int, list[int]] = {}
    for k, sup in enumerate(supports):
        for v in sup:
            by_var.setdefault(v, []).append(k)
    pending: list[list[tuple[tuple[tuple[int, ...], Fraction], list[int], int]]] = [[] for _ in i0s]
    unplaced: list[tuple[tuple[int, ...], Fraction]] = []

    def place(term: tuple[tuple[int, ...], Fraction], cands: list[int], start: int) -> None:
        if start < len(cands):
            pending[cands[start]].append((term, cands, start))
        else:
            unplaced.append(term)

    everyone = list(range(len(i0s)))
    for term in r:
        sup = [j for j, a in enumerate(term[0]) if a]
        place(term, [k for k in by_var.get(sup[0], []) if var_sets[k].issuperset(sup)] if sup else everyone, 0)
    for k, i in enumerate(i0s):
        items = pending[k]
        if not items:
            continue
        m0 = base.sos[i]
        g, left = project_gram(m0.basis, as_rational_matrix(m0.gram), tuple(t for t, _, _ in items))
        grams[i] = g
        new_sos[i] = SOSMultiplier(m0.constraint, m0.basis, g, m0.cone)
        if left:
            moved = {e for e, _ in left}
            for term, cands, j in items:
                if term[0] in moved:
                    place(term, cands, j + 1)
    return new_sos, grams, tuple(unplaced)


def rationalize(
    cert_float: Certificate,
    *,
    denominator: int = 2**40,
    backoff_start: float = 1e-3,
    backoff_factor: float = 4.0,
    max_backoff_steps: int = 6,
    max_backoff: float = 5e-7,
    polish: bool = True,
) -> Certificate:
    """Turn a floating-point certificate into an exact one the checker can verify.

    Parameters
    ----------
    cert_float : Certificate
        A certificate whose multipliers came from a solver (float values converted exactly).
        The problem data (objective, constraints, box) is kept as is: it defines the claim.
    denominator : int
        Every multiplier entry is rounded to a multiple of ``1/denominator`` first.
    backoff_start, backoff_factor, max_backoff_steps, max_backoff
        The bound backoff schedule: :math:`\\delta_k = ` ``backoff_start`` ``·`` ``backoff_factor``
        :math:`^k` times the cap ``max_backoff · max(1, |γ|)`` (relative, below the checker's default
        tolerance), tried until the projected :math:`\\sigma_0` is PSD; never beyond the cap.

    Returns
    -------
    Certificate
        With ``residual == 0`` when the projection succeeded.  When no backoff within the cap
        restores definiteness, the projected certificate at the original bound is returned: the
        checker then either absorbs the small negative eigenvalues over a box or rejects it.
        Nothing here is trusted.
    """
    base = _rounded(cert_float, denominator)
    i0s = [i for i, m in enumerate(base.sos) if m.constraint is None]
    if not i0s:
        return base
    r = residual(base)
    if r and base.kind != "infeasible" and polish and len(i0s) > 1:
        base, r = _polished(base, r, denominator)
    new_sos, grams, rest = _project_residual(base, i0s, r)
    projected = replace(base, sos=tuple(new_sos))
    if rest or base.kind == "infeasible":
        return projected
    failing = [i for i in grams if not prove_psd(grams[i])[0]]
    if not failing:
        return projected
    # Lowering the bound by delta raises the identity's constant term by delta, which goes on the (1, 1)
    # entry of a failing sigma_0 (the only pair of basis monomials summing to 0); each failing block gets
    # the smallest delta of the schedule that makes it PSD, and the bound moves by their sum.
    sign = -1 if base.kind == "lower_bound" else 1  # lower: gamma - delta; upper: gamma + delta
    cap = Fraction(max_backoff) * max(Fraction(1), abs(base.bound))
    total = Fraction(0)
    for i in failing:
        m0 = base.sos[i]
        g = grams[i]
        zero = next((k for k, b in enumerate(m0.basis) if not any(b)), None)
        if zero is None:
            return projected
        fixed = None
        for step in range(max_backoff_steps):
            delta = _round(Fraction(backoff_start) * cap * Fraction(backoff_factor) ** step, denominator)
            if total + delta > cap:
                break
            num = g.numerators.astype(object) * (delta.denominator)
            num[zero, zero] += delta.numerator * g.denominator
            gd = RationalMatrix(num, g.denominator * delta.denominator)
            if prove_psd(gd)[0]:
                fixed = gd
                total += delta
                break
        if fixed is None:
            # no small backoff restores definiteness: keep the exact identity; the checker may still
            # absorb the small negative eigenvalues over a box, or reject
            return projected
        new_sos[i] = SOSMultiplier(m0.constraint, m0.basis, fixed, m0.cone)
    return replace(base, sos=tuple(new_sos), bound=base.bound + sign * total)


def _entry_index(cert: Certificate) -> tuple[dict[tuple[tuple[int, int], ...], int], list[np.ndarray]]:
    """Number the monomials ``b_a + b_b`` of every :math:`\\sigma_0` block: ``keys[j][a, b]`` is the index of
    the monomial of entry ``(a, b)`` of block ``j``."""
    index: dict[tuple[tuple[int, int], ...], int] = {}
    keys: list[np.ndarray] = []
    for m in cert.sos:
        B = np.array(m.basis, dtype=np.int64)
        k = B.shape[0]
        used = np.flatnonzero(B.sum(axis=0) > 0)
        local = B[:, used]
        ent = np.empty((k, k), dtype=np.int64)
        for a in range(k):
            for b in range(a, k):
                e = local[a] + local[b]
                nz = np.flatnonzero(e)
                key = tuple(zip(used[nz].tolist(), e[nz].tolist(), strict=True))
                ent[a, b] = ent[b, a] = index.setdefault(key, len(index))
        keys.append(ent)
    return index, keys


def _residual_vector(r: Terms, index: dict[tuple[tuple[int, int], ...], int]) -> np.ndarray | None:
    """The exact residual as a float vector over the numbered monomials (``None``: a monomial no block has)."""
    rv = np.zeros(len(index))
    for e, c in r:
        arr = np.asarray(e, dtype=np.int64)
        nz = np.flatnonzero(arr)
        i = index.get(tuple(zip(nz.tolist(), arr[nz].tolist(), strict=True)))
        if i is None:
            return None
        rv[i] += float(c)
    return rv


def _sigma0_blocks(cert: Certificate) -> list[np.ndarray] | None:
    if cert.equality_multipliers or cert.products or any(m.constraint is not None for m in cert.sos):
        return None
    blocks = [as_rational_matrix(m.gram).to_float() for m in cert.sos]
    if not blocks or any(b.shape[0] == 0 for b in blocks):
        return None
    return blocks


def _polish_start(
    cert: Certificate, r: Terms
) -> tuple[list[np.ndarray], float, list[np.ndarray], np.ndarray, np.ndarray] | None:
    """What both float polishers start from: the σ₀ blocks, the margin to keep (half their smallest eigenvalue),
    the entry numbering (:func:`_entry_index`), the residual as a vector and the number of entries of each
    monomial; ``None`` when polishing does not apply (other multipliers, a block not definite, a residual monomial
    no block represents: that is left to the exact step)."""
    blocks = _sigma0_blocks(cert)
    if blocks is None:
        return None
    margin = 0.5 * min(float(np.linalg.eigvalsh(b)[0]) for b in blocks)
    if not margin > 0:
        return None
    index, keys = _entry_index(cert)
    rv = _residual_vector(r, index)
    if rv is None:
        return None
    counts = np.zeros(len(index))
    for ent in keys:
        counts += np.bincount(ent.ravel(), minlength=len(index))
    return blocks, margin, keys, rv, counts


def newton_polish(cert: Certificate, r: Terms, *, sweeps: int = 4, rounds: int = 4) -> list[np.ndarray] | None:
    """Corrections onto the coefficient identities in the metric of the Gram matrices themselves.

    The correction of smallest :math:`\\sum_j \\|Q_j^{-1/2}\\,\\Delta_j\\,Q_j^{-1/2}\\|_F^2` with
    :math:`\\mathcal A(\\Delta) = r` is :math:`\\Delta_j = Q_j\\,\\mathcal A_j^*(\\lambda)\\,Q_j` with
    :math:`H\\lambda = r`, :math:`H = \\sum_j \\mathcal A_j(Q_j \\cdot Q_j)\\mathcal A_j^*` (the Schur complement of
    an interior-point step; sparse along a chain of cliques).  In the eigenbasis of :math:`Q_j` an entry moves by
    :math:`\\lambda_a \\lambda_b S_{ab}`: the directions in which a block is nearly singular barely move, so a margin
    far smaller than the solver's residual can survive, where the Frobenius projection of :func:`rationalize`
    spreads the residual evenly and breaks it.  A little of the Frobenius metric (:math:`\\mu\\,\\mathcal
    A\\mathcal A^*`, :math:`\\mu = 10^{-10}` of the largest entry) keeps :math:`H` well conditioned, and refinement
    sweeps with the same factorisation bring the identities to rounding error, so the exact projection then
    moves the blocks by rounding error only.  Blocks a correction leaves below half the starting margin get their
    eigenvalues raised to it, and the identities are corrected again (at most ``rounds`` times).

    Parameters
    ----------
    cert : Certificate
        Its multipliers must all be positive definite :math:`\\sigma_0` blocks, else ``None``.
    r : Terms
        The exact residual of ``cert``.
    sweeps, rounds : int
        Refinement sweeps per correction; corrections.

    Returns
    -------
    list of ndarray or None
        New float Gram matrices, or ``None`` when the step does not apply or no round left every block definite
        (:func:`polish_grams` is tried next).  Untrusted: the result is rounded, projected exactly and checked
        like any other.
    """
    start = _polish_start(cert, r)
    return None if start is None else newton_correct(*start, sweeps=sweeps, rounds=rounds)


def polish_grams(cert: Certificate, r: Terms, *, iterations: int = 500) -> list[np.ndarray | None] | None:
    """Float alternating projections of the :math:`\\sigma_0` Gram matrices onto the coefficient identities
    and onto :math:`\\{Q \\succeq m I\\}`, with :math:`m` half their smallest eigenvalue.

    With one :math:`\\sigma_0` per clique the exact projection of :func:`rationalize` moves each block by the
    solver's residual, while each block's margin of definiteness is only the bound's backoff divided among
    all blocks: on long chains the residual wins.  The joint orthogonal projection onto the identities
    (Peyrl–Parrilo over all blocks at once: :math:`r_\\alpha / N_\\alpha` on each of the :math:`N_\\alpha`
    entries, in every block, with :math:`b_a + b_b = \\alpha`) alternated with clipping the eigenvalues at
    :math:`m` converges to Gram matrices that satisfy the identities to rounding error and keep a margin.

    ``cert``'s multipliers must all be definite :math:`\\sigma_0` blocks and ``r`` is its exact residual.
    Returns new float Gram matrices (``None`` for a block left alone), or ``None`` when the step does not
    apply (a residual monomial no block represents) or did not converge.  Untrusted, like the rest.
    """
    start = _polish_start(cert, r)
    return None if start is None else alternating_correct(*start, iterations=iterations)


#: Echelon rows by leading monomial: (block, polynomial, combination of the entries ``a <= b`` of ``R``).
_Lead = dict[tuple[int, ...], list[tuple[int, dict[tuple[int, ...], Fraction], list[Fraction]]]]


def _face_factors(cert_float: Certificate, faces: Any, denominator: int
                  ) -> tuple[list[list[list[Fraction]]], list[list[list[Fraction]]]]:
    """Per σ₀ block the face basis ``U`` (the identity off the faces) and ``R ≈ U⁺ Q U⁺ᵀ`` rounded to
    multiples of ``1/denominator``."""
    Us: list[list[list[Fraction]]] = []
    Rs: list[list[list[Fraction]]] = []
    by_block = {f.block: f for f in faces}
    for i, m in enumerate(cert_float.sos):
        Q = as_rational_matrix(m.gram).to_float()
        k = Q.shape[0]
        if i in by_block:
            U = [list(row) for row in by_block[i].U]
            Uf = np.array([[float(v) for v in row] for row in U])
            P = np.linalg.pinv(Uf)
            R = P @ Q @ P.T
        else:
            U = [[Fraction(int(a == b)) for b in range(k)] for a in range(k)]
            R = Q
        R = 0.5 * (R + R.T)
        Rs.append([[_round(Fraction(float(v)), denominator) for v in row] for row in R])
        Us.append(U)
    return Us, Rs


def _face_gram(U: list[list[Fraction]], R: list[list[Fraction]]) -> RationalMatrix:
    """The exact Gram matrix ``U R Uᵀ``."""
    from sosrelax.relax.facial import as_fraction, fmpq_matrix

    Um = fmpq_matrix(U)
    G = Um * fmpq_matrix(R) * Um.transpose()
    k = len(U)
    vals = [[as_fraction(G[a, b]) for b in range(k)] for a in range(k)]
    den = 1
    for row in vals:
        for v in row:
            den = math.lcm(den, v.denominator)
    num = np.array([[v.numerator * (den // v.denominator) for v in row] for row in vals], dtype=object)
    return RationalMatrix(num, den)


def _echelon_rows(base: Certificate, Us: list[list[list[Fraction]]]) -> tuple[_Lead, list[list[tuple[int, int]]]]:
    """Per block the products ``p_a p_b`` of its face basis polynomials in echelon form (distinct leading
    monomials, graded-lexicographic order), indexed by leading monomial; and each block's pairs ``(a, b)``."""
    import flint

    from sosrelax.relax.facial import as_fraction

    lead: _Lead = {}
    pairs_of: list[list[tuple[int, int]]] = []
    for i, (m, U) in enumerate(zip(base.sos, Us, strict=True)):
        basis = [tuple(int(v) for v in b) for b in m.basis]
        k, rdim = len(U), len(U[0]) if U else 0
        polys = []
        for j in range(rdim):
            poly: dict[tuple[int, ...], Fraction] = {}
            for a in range(k):
                if U[a][j]:
                    poly[basis[a]] = poly.get(basis[a], Fraction(0)) + U[a][j]
            polys.append(poly)
        pairs = [(a, b) for a in range(rdim) for b in range(a, rdim)]
        pairs_of.append(pairs)
        prods = []
        monos: set[tuple[int, ...]] = set()
        for a, b in pairs:
            pr: dict[tuple[int, ...], Fraction] = {}
            mult = 2 if a != b else 1
            for e1, c1 in polys[a].items():
                for e2, c2 in polys[b].items():
                    e = tuple(x + y for x, y in zip(e1, e2, strict=True))
                    pr[e] = pr.get(e, Fraction(0)) + mult * c1 * c2
            pr = {e: c for e, c in pr.items() if c}
            prods.append(pr)
            monos.update(pr)
        cols = sorted(monos, key=lambda e: (sum(e), e), reverse=True)
        col_of = {e: j for j, e in enumerate(cols)}
        npairs = len(pairs)
        M = flint.fmpq_mat(npairs, len(cols) + npairs)
        for row, pr in enumerate(prods):
            for e, c in pr.items():
                M[row, col_of[e]] = flint.fmpq(c.numerator, c.denominator)
            M[row, len(cols) + row] = 1
        E, rank = M.rref()
        for row in range(rank):
            lc = next((j for j in range(len(cols)) if E[row, j] != 0), None)
            if lc is None:
                break
            poly = {cols[j]: as_fraction(E[row, j])
                    for j in range(len(cols)) if E[row, j] != 0}
            comb = [as_fraction(E[row, len(cols) + q]) for q in range(npairs)]
            lead.setdefault(cols[lc], []).append((i, poly, comb))
    return lead, pairs_of


def _eliminate(r: dict[tuple[int, ...], Fraction], lead: _Lead, pairs_of: list[list[tuple[int, int]]]
               ) -> list[list[Fraction]] | None:
    """Remove the residual ``r`` (consumed) largest monomial first with the echelon rows that lead with it,
    shared equally among the blocks that have one; returns the changes of each block's ``R`` entries, or
    ``None`` when a residual monomial has no such row."""
    import heapq

    deltas = [[Fraction(0)] * len(p) for p in pairs_of]
    heap = [(-sum(e), tuple(-v for v in e), e) for e in r]
    heapq.heapify(heap)
    while heap:
        _, _, e = heapq.heappop(heap)
        c = r.get(e, Fraction(0))
        if not c:
            continue
        cands = lead.get(e)
        if not cands:
            return None
        share = c / len(cands)
        for i, poly, comb in cands:
            for mono, v in poly.items():
                old = r.get(mono, Fraction(0))
                new = old - share * v
                if new:
                    if not old:
                        heapq.heappush(heap, (-sum(mono), tuple(-x for x in mono), mono))
                    r[mono] = new
                else:
                    r.pop(mono, None)
            d = deltas[i]
            for q, w in enumerate(comb):
                if w:
                    d[q] += share * w
        r.pop(e, None)
    return deltas


def rationalize_in_face(cert_float: Certificate, faces: Any, *, denominator: int = 2**40) -> Certificate | None:
    """An exact certificate whose σ₀ blocks stay on the given faces (``Q = U R Uᵀ``, see
    :mod:`sosrelax.relax.facial`), or ``None`` when the residual cannot be placed on them.

    The Peyrl–Parrilo projection would leave the face (and with it positive semidefiniteness, since the face's
    blocks are singular).  Here ``R`` is rounded and the exact residual is removed by triangular elimination:
    per block, the products ``p_a p_b`` of its basis polynomials are brought to echelon form (distinct leading
    monomials, graded-lexicographic order); the residual's largest monomial is removed with the echelon rows
    that lead with it (shared equally among the blocks that have one), which only creates smaller monomials.
    Untrusted: the checker decides.
    """
    if (cert_float.equality_multipliers or cert_float.products
            or any(m.constraint is not None for m in cert_float.sos) or cert_float.kind == "infeasible"):
        return None
    Us, Rs = _face_factors(cert_float, faces, denominator)
    base = replace(cert_float, sos=tuple(
        replace(m, gram=_face_gram(U, R)) for m, U, R in zip(cert_float.sos, Us, Rs, strict=True)
    ), bound=_round(cert_float.bound, denominator))
    r = {e: c for e, c in residual(base)}
    if not r:
        return base
    lead, pairs_of = _echelon_rows(base, Us)
    deltas = _eliminate(r, lead, pairs_of)
    if deltas is None:
        return None  # a residual monomial no block of the face can lead with
    new_sos = []
    for i, (m, U, R) in enumerate(zip(base.sos, Us, Rs, strict=True)):
        R2 = [row[:] for row in R]
        for (a, b), dv in zip(pairs_of[i], deltas[i], strict=True):
            R2[a][b] += dv
            if a != b:
                R2[b][a] += dv
        new_sos.append(replace(m, gram=_face_gram(U, R2)))
    return replace(base, sos=tuple(new_sos))


def _unit_change(base: Certificate, Us: list[list[list[Fraction]]], p: tuple[str, int, int, int],
                 eq_bases: list[list[tuple[int, ...]]]) -> Certificate:
    """``base`` with parameter ``p`` moved by one: entry ``(a, b)`` (and ``(b, a)``) of block ``i``'s face
    matrix ``R`` (``("sos", i, a, b)``), or coefficient ``a`` of equality multiplier ``i`` (``("eq", i, a, 0)``)."""
    kind, i, a, b = p
    if kind == "sos":
        E = [[Fraction(int({a, b} == {r, c})) for c in range(len(Us[i][0]))] for r in range(len(Us[i][0]))]
        G, old = _face_gram(Us[i], E), as_rational_matrix(base.sos[i].gram)
        den = math.lcm(old.denominator, G.denominator)
        num = (old.numerators.astype(object) * (den // old.denominator)
               + G.numerators.astype(object) * (den // G.denominator))
        sos = list(base.sos)
        sos[i] = replace(base.sos[i], gram=RationalMatrix(num, den))
        return replace(base, sos=tuple(sos))
    eqm = list(base.equality_multipliers)
    eqm[i] = EqualityMultiplier(eqm[i].constraint, (*eqm[i].poly, (eq_bases[i][a], Fraction(1))))
    return replace(base, equality_multipliers=tuple(eqm))


def rationalize_on_faces(cert_float: Certificate, faces: Any, eq_bases: list[list[tuple[int, ...]]], *,
                         denominator: int = 2**40) -> Certificate | None:
    """An exact certificate whose SOS multipliers (of the objective and of the inequalities) stay on the given
    faces (``Q_i = U_i R_i U_iᵀ``; the whole cone for a block without a face) and whose equality multipliers are
    polynomials on ``eq_bases``; ``None`` when the residual cannot be placed on them.

    ``R_i`` and the equality multipliers are rounded to multiples of ``1/denominator``; the identity is linear in
    them, so the exact residual is removed by one exact solve: every parameter's contribution to the identity
    (read off the checker's own residual, so that substitutions and scalings are the checker's) is a row; the
    rows, reduced to echelon form over the monomials, give each residual monomial on a pivot a combination of
    parameters that removes it without touching the other pivots.  Used when optimal Gram matrices are singular
    (minimisers on the boundary, equality constraints): the margin the checker needs is then the faces' own.
    Untrusted: the checker decides.
    """
    import flint

    from sosrelax.relax.facial import as_fraction

    if cert_float.products or cert_float.kind == "infeasible":
        return None
    Us, Rs = _face_factors(cert_float, faces, denominator)
    eqm = []
    for m, basis in zip(cert_float.equality_multipliers, eq_bases, strict=True):
        coef = {tuple(int(v) for v in e): c for e, c in m.poly}
        eqm.append(EqualityMultiplier(m.constraint, tuple(
            (e, _round(coef.get(e, Fraction(0)), denominator)) for e in basis)))
    base = replace(cert_float, sos=tuple(
        replace(m, gram=_face_gram(U, R)) for m, U, R in zip(cert_float.sos, Us, Rs, strict=True)
    ), equality_multipliers=tuple(eqm), bound=_round(cert_float.bound, denominator))
    r0 = dict(residual(base))
    if not r0:
        return base
    params = [("sos", i, a, b) for i, U in enumerate(Us) for a in range(len(U[0])) for b in range(a, len(U[0]))]
    params += [("eq", j, a, 0) for j, basis in enumerate(eq_bases) for a in range(len(basis))]
    rows = []
    for p in params:  # contribution of one unit of p: residual(base) - residual(base + p)
        r1 = dict(residual(_unit_change(base, Us, p, eq_bases)))
        rows.append({e: d for e in set(r0) | set(r1) if (d := r0.get(e, Fraction(0)) - r1.get(e, Fraction(0)))})
    monos = sorted(set().union(*rows, r0), key=lambda e: (sum(e), e), reverse=True)
    col = {e: j for j, e in enumerate(monos)}
    P, M = len(params), len(monos)
    A = flint.fmpq_mat(P, M + P)
    for q, row in enumerate(rows):
        for e, c in row.items():
            A[q, col[e]] = flint.fmpq(c.numerator, c.denominator)
        A[q, M + q] = 1
    E, rank = A.rref()
    delta = [Fraction(0)] * P
    left = dict(r0)
    for q in range(rank):
        lc = next((j for j in range(M) if E[q, j] != 0), None)
        if lc is None:
            break
        c = r0.get(monos[lc], Fraction(0))
        if not c:
            continue
        for j in range(M):
            if E[q, j] != 0:
                left[monos[j]] = left.get(monos[j], Fraction(0)) - c * as_fraction(E[q, j])
        for k in range(P):
            if E[q, M + k] != 0:
                delta[k] += c * as_fraction(E[q, M + k])
    if any(v != 0 for v in left.values()):
        return None  # the residual leaves the span of the faces' identities
    R2 = [[row[:] for row in R] for R in Rs]
    lam = [dict(m.poly) for m in eqm]
    for p, d in zip(params, delta, strict=True):
        if not d:
            continue
        kind, i, a, b = p
        if kind == "sos":
            R2[i][a][b] += d
            if a != b:
                R2[i][b][a] += d
        else:
            e = eq_bases[i][a]
            lam[i][e] = lam[i].get(e, Fraction(0)) + d
    return replace(base, sos=tuple(replace(m, gram=_face_gram(U, R)) for m, U, R in zip(base.sos, Us, R2, strict=True)),
                   equality_multipliers=tuple(EqualityMultiplier(m.constraint, tuple(lam[j].items()))
                                              for j, m in enumerate(eqm)))

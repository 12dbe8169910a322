"""Structural checks and resource limits of a certificate, before any arithmetic.

A certificate built in memory gets the same limits as one read from a file: exponents, sizes,
number lengths, degrees and the estimated work of expanding the identity.

Only the standard library, numpy and python-flint are imported (the checker's independence rule).
"""

from __future__ import annotations

import math
from fractions import Fraction
from typing import Any

import numpy as np

from sosrelax.certificate.exactpoly import EXP_CAP, OverLimit, Reject, kept
from sosrelax.certificate.format import (
    CONES,
    DEFAULT_LIMITS,
    KINDS,
    Certificate,
    Limits,
    RationalMatrix,
    Terms,
    as_rational_matrix,
)


class _LimitChecks:
    """The per-certificate limit checks (``n`` variables, :class:`Limits`), raising on failure."""

    def __init__(self, n: int, limits: Limits) -> None:
        self.n = n
        self.limits = limits
        self.top_exp = min(limits.max_exponent, EXP_CAP - 1)
        self.max_bits = int(limits.max_digits * 3.3219280948873626) + 1

    def num_ok(self, q: Fraction, path: str) -> None:
        if q.numerator.bit_length() > self.max_bits or q.denominator.bit_length() > self.max_bits:
            raise OverLimit(f"{path}: a number with more than {self.limits.max_digits} digits, over "
                             "Limits.max_digits")

    def items_ok(self, seq: tuple[Any, ...], path: str) -> None:
        if len(seq) > self.limits.max_items:
            raise OverLimit(f"{path}: {len(seq)} entries, over Limits.max_items = "
                             f"{self.limits.max_items}")

    def exps_ok(self, e: tuple[int, ...], path: str) -> int:
        if len(e) != self.n:
            raise Reject(f"{path}: {len(e)} entries but {self.n} variables")
        # the range is checked with C loops (an exponent row of a chain has thousands of entries); an entry
        # out of range is then found and reported entry by entry, in order
        for v in e if e and not (min(e) >= 0 and max(e) <= self.top_exp) else ():
            if v < 0:
                raise Reject(f"{path}: negative exponent")
            if v > self.top_exp:
                if v > self.limits.max_exponent:
                    raise OverLimit(f"{path}: exponent {v} is over Limits.max_exponent = "
                                     f"{self.limits.max_exponent}")
                raise OverLimit(f"{path}: exponent {v} would overflow the checker's 64-bit "
                                 "exponent arithmetic; it cannot be checked")
        d = sum(e)
        if d > self.limits.max_degree:
            raise OverLimit(f"{path}: total degree {d} is over Limits.max_degree = "
                             f"{self.limits.max_degree}")
        return d

    def terms_check(self, t: Terms, path: str) -> int:
        if len(t) > self.limits.max_terms:
            raise OverLimit(f"{path}: {len(t)} terms, over Limits.max_terms = {self.limits.max_terms}")
        deg = -1
        for a, (e, c) in enumerate(t):
            deg = max(deg, self.exps_ok(e, f"{path}.exponents[{a}]"))
            self.num_ok(c, f"{path}.coefficients[{a}]")
        return deg

    def terms_ok(self, t: Terms, path: str) -> int:
        # a Terms object that passed once (for this n and these limits) passes again; a failure
        # raises, never cached
        d = kept("valid", t, (self.n, self.limits), lambda: self.terms_check(t, path))
        assert isinstance(d, int)
        return d

    def basis_check(self, basis: tuple[tuple[int, ...], ...], path: str) -> int:
        bdeg = 0
        for a, b in enumerate(basis):
            if len(b) != self.n or (b and min(b) < 0):
                raise Reject(f"{path}[{a}]: not an exponent of {self.n} variables")
            bdeg = max(bdeg, self.exps_ok(b, f"{path}[{a}]"))
        return bdeg

    def basis_ok(self, basis: tuple[tuple[int, ...], ...], path: str) -> int:
        # the largest degree in a (canonical, immutable) basis that passed, as for terms_ok
        d = kept("basis", basis, (self.n, self.limits), lambda: self.basis_check(basis, path))
        assert isinstance(d, int)
        return d

    def degree_ok(self, d: int, path: str) -> None:
        if d > self.limits.max_degree:
            raise OverLimit(f"{path}: the product has total degree {d}, over "
                             f"Limits.max_degree = {self.limits.max_degree}")


def validate(cert: Certificate, limits: Limits = DEFAULT_LIMITS) -> None:
    """Structural checks, and every :class:`Limits` entry, before any arithmetic.

    A certificate built in memory gets the same limits as one read from a file: exponents,
    sizes, number lengths, degrees and the estimated work of expanding the identity.
    """
    n = len(cert.variables)
    if cert.kind not in KINDS:
        raise Reject(f"kind: {cert.kind!r} is not one of {KINDS}")
    if n > limits.max_variables:
        raise OverLimit(f"variables: {n}, over Limits.max_variables = {limits.max_variables}")
    chk = _LimitChecks(n, limits)
    max_bits = chk.max_bits
    for name in ("inequalities", "equalities", "sos", "equality_multipliers", "products",
                 "lemmas", "derived"):
        chk.items_ok(getattr(cert, name), name)
    chk.num_ok(cert.bound, "bound")
    chk.terms_ok(cert.objective, "objective")
    g_deg = [chk.terms_ok(g, f"inequalities[{i}]") for i, g in enumerate(cert.inequalities)]
    h_deg = [chk.terms_ok(h, f"equalities[{j}]") for j, h in enumerate(cert.equalities)]
    m_ineq, m_eq = len(cert.inequalities), len(cert.equalities)
    sos_deg: list[int] = []
    for s, m in enumerate(cert.sos):
        if m.constraint is not None and not 0 <= m.constraint < m_ineq:
            raise Reject(f"sos[{s}].constraint: {m.constraint} is not an inequality index "
                          f"(there are {m_ineq})")
        if m.cone not in CONES:
            raise Reject(f"sos[{s}].cone: {m.cone!r} is not one of {CONES}")
        k = len(m.basis)
        if k > limits.max_gram_order:
            raise OverLimit(f"sos[{s}].basis: {k} monomials, over Limits.max_gram_order = "
                             f"{limits.max_gram_order}")
        bdeg = chk.basis_ok(m.basis, f"sos[{s}].basis")
        gm = as_rational_matrix(m.gram)
        if gm.shape != (k, k):
            raise Reject(f"sos[{s}].gram: shape {gm.shape} does not match basis length {k}")
        _gram_size_ok(gm, max_bits, limits, f"sos[{s}].gram")
        if not gm.is_symmetric():
            bad = np.argwhere(gm.numerators != gm.numerators.T)[0]
            raise Reject(f"sos[{s}].gram[{bad[0]}][{bad[1]}]: Gram matrix is not symmetric")
        d = 2 * bdeg + (0 if m.constraint is None else max(g_deg[m.constraint], 0))
        chk.degree_ok(d, f"sos[{s}]")
        sos_deg.append(d)
    for j, em in enumerate(cert.equality_multipliers):
        if not 0 <= em.constraint < m_eq:
            raise Reject(f"equality_multipliers[{j}].constraint: {em.constraint} is not an "
                          f"equality index (there are {m_eq})")
        d = chk.terms_ok(em.poly, f"equality_multipliers[{j}].poly")
        chk.degree_ok(max(d, 0) + max(h_deg[em.constraint], 0), f"equality_multipliers[{j}]")
    for p, pm in enumerate(cert.products):
        if pm.coefficient < 0:
            raise Reject(f"products[{p}].coefficient: {pm.coefficient} is negative")
        chk.num_ok(pm.coefficient, f"products[{p}].coefficient")
        chk.items_ok(pm.constraints, f"products[{p}].constraints")
        for c in pm.constraints:
            if not 0 <= c < m_ineq:
                raise Reject(f"products[{p}].constraints: {c} is not an inequality index")
        chk.degree_ok(sum(max(g_deg[c], 0) for c in pm.constraints), f"products[{p}]")
    if cert.box is not None:
        if len(cert.box) != n:
            raise Reject(f"box: {len(cert.box)} intervals but {n} variables")
        for i, (lo, hi) in enumerate(cert.box):
            chk.num_ok(lo, f"box[{i}][0]")
            chk.num_ok(hi, f"box[{i}][1]")
    if cert.substitution is not None:
        if len(cert.substitution) != n:
            raise Reject(f"substitution: {len(cert.substitution)} entries but {n} variables")
        for i, (c0, sc) in enumerate(cert.substitution):
            if sc <= 0:
                raise Reject(f"substitution[{i}]: scale {sc} is not positive")
            chk.num_ok(c0, f"substitution[{i}][0]")
            chk.num_ok(sc, f"substitution[{i}][1]")
    work = _work_estimate(cert, n, g_deg, h_deg)
    if work > limits.max_work:
        raise OverLimit(
            f"expanding the certificate identity needs an estimated {work:.3g} exact coefficient "
            f"products, over Limits.max_work = {limits.max_work:.3g}; split the proof or raise "
            "the limit if the file is trusted"
        )


def _gram_size_ok(gm: RationalMatrix, max_bits: int, limits: Limits, path: str) -> None:
    num = gm.numerators
    if num.dtype == np.int64:
        top = int(np.abs(num).max(initial=0))
    else:
        top = max((abs(int(v)) for v in num.flat), default=0)
    # an entry p/q of the file is num/den with num = p (den/q): allow both at the digit limit
    den_bits = gm.denominator.bit_length()
    if den_bits > max_bits * max(1, len(gm)) or top.bit_length() > max_bits + den_bits:
        raise OverLimit(f"{path}: entries with more than {limits.max_digits} digits, over "
                         "Limits.max_digits")


def _work_estimate(cert: Certificate, n: int, g_deg: list[int], h_deg: list[int]) -> int:
    """Upper estimate of the exact coefficient products needed to expand the identity.

    A product of polynomials with ``a`` and ``b`` terms costs ``a * b``; a product of degree
    ``d`` has at most ``C(n + d, n)`` terms.  The change of variables expands each monomial
    :math:`x^e` into at most :math:`\\prod_i (e_i + 1)` terms.
    """
    cap = 1 << 62

    def dense(d: int) -> int:
        return math.comb(n + max(d, 0), n) if n else 1

    sub = cert.substitution is not None

    def size(t: Terms, d: int) -> tuple[int, int]:
        """(terms after the change of variables, work to expand them)."""
        if not sub:
            return len(t), len(t)
        w = kept("expansion", t, n, lambda: _expansion_work(t, cap))
        assert isinstance(w, int)
        return min(w, dense(d)), w

    work = 0
    sizes_g: list[int] = []
    polys = (cert.objective, *cert.inequalities, *cert.equalities)
    for t, d in zip(polys, (0, *g_deg, *h_deg), strict=False):
        size_t, w = size(t, d)
        work += w
        sizes_g.append(size_t)
    if sub:  # the tables of powers (c_i + s_i u_i)^k, k up to the largest exponent
        tops = [0] * n
        for t in polys:
            col = kept("column_max", t, n, lambda t=t: _column_max(t, n))
            assert isinstance(col, tuple)
            tops = [max(a, b) for a, b in zip(tops, col, strict=True)]
        work += sum(top * (top + 1) // 2 for top in tops)
    g_size = sizes_g[1:1 + len(cert.inequalities)]
    h_size = sizes_g[1 + len(cert.inequalities):]
    for m in cert.sos:
        k = len(m.basis)
        pairs = k * (k + 1) // 2
        work += pairs
        if m.constraint is not None:
            bdeg = max((sum(b) for b in m.basis), default=0)
            work += min(pairs, dense(2 * bdeg)) * g_size[m.constraint]
    for em in cert.equality_multipliers:
        work += len(em.poly) * h_size[em.constraint]
    for pm in cert.products:
        acc, deg = 1, 0
        for c in pm.constraints:
            work += acc * g_size[c]
            deg += max(g_deg[c], 0)
            acc = min(acc * g_size[c], dense(deg))
            if work >= cap:
                return work
    return work


def _expansion_work(t: Terms, cap: int) -> int:
    """Terms of ``t`` after the change of variables: ``Σ_e Π_i (e_i + 1)``, capped at ``cap``."""
    w = 0
    for e, _ in t:
        prod = 1
        for v in filter(None, e):  # the nonzero exponents (a term of a chain has a few of thousands)
            prod = min(prod * (v + 1), cap)
        w = min(w + prod, cap)
    return w


def _column_max(t: Terms, n: int) -> tuple[int, ...]:
    """The largest exponent of each of the ``n`` variables in ``t`` (0 where absent)."""
    if not t:
        return (0,) * n
    # column by column (C loops over the transposed rows), at least 0
    return tuple(max(0, *col) for col in zip(*(e for e, _ in t), strict=False))

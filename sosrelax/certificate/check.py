"""The independent exact certificate checker.

Given a :class:`~sosrelax.certificate.format.Certificate` stating

.. math::

    \\ell = \\sigma_0 + \\sum_i \\sigma_i g_i + \\sum_j \\lambda_j h_j
          + \\sum_k c_k \\prod_i g_i^{a_{ki}} + r,
    \\qquad \\ell \\in \\{f - \\gamma,\\ \\gamma - f,\\ -1\\},

the checker recomputes the residual :math:`r` in exact rational arithmetic, proves a rigorous
lower bound :math:`\\mu_i \\le \\lambda_{\\min}(Q_i)` for every Gram matrix, and derives the bound
that the identity really proves:

* if :math:`r` is a constant :math:`r_0` and every :math:`Q_i \\succeq 0`:
  :math:`f \\ge \\gamma + r_0` on :math:`K` (``lower_bound``; mirrored for ``upper_bound``);
* otherwise, when a box :math:`[l, u] \\supseteq K` is present and implied by the inequalities,
  :math:`b^T Q b \\ge \\min(0, \\mu)\\,\\max_{box}\\|b\\|^2`,
  :math:`0 \\le g_i \\le \\max_{box} g_i`
  and :math:`r \\ge \\min_{box} r` (exact interval bounds), which gives a slightly weaker bound;
* otherwise the certificate is rejected.

Positive semidefiniteness is proven either by an exact rational :math:`LDL^T` factorisation with
symmetric pivoting, or by an exact congruence: floating point proposes an integer lower
triangular :math:`W \\approx 2^s L^{-1}` (:math:`L` a float Cholesky factor of :math:`Q - tI`),
and exact integer arithmetic verifies that :math:`W (Q - tI) W^T` is strictly diagonally
dominant with positive diagonal.  Since :math:`W` is triangular with a nonzero diagonal it is
invertible, so :math:`Q - tI \\succ 0`, i.e. :math:`\\lambda_{\\min}(Q) > t`.  Floating point only
ever proposes; every conclusion is drawn from exact integers.  No eigenvalue is ever shifted.

This module imports only the standard library, numpy, python-flint and the certificate format:
it shares no code with the relaxations or solvers whose output it checks.
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass
from enum import Enum
from fractions import Fraction
from typing import Any

import flint
import numpy as np

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
from sosrelax.errors import CertificateFormatError, InvalidValueError

__all__ = [
    "CheckReport",
    "CheckStatus",
    "check_certificate",
    "claim_holds",
    "problem_mismatch",
    "prove_psd",
    "residual",
    "show_rational",
]

DEFAULT_TOLERANCE = Fraction(1, 10**6)
"""Largest accepted relative gap between the claimed and the proven bound."""

EXACT_LDL_LIMIT = 80
"""Gram orders up to this use exact LDL^T when the float test cannot give a margin."""


class CheckStatus(Enum):
    """Outcome of a check."""

    VERIFIED = "verified"
    REJECTED = "rejected"


@dataclass(frozen=True)
class CheckReport:
    """What the checker proved.

    Attributes
    ----------
    valid : bool
        ``status is CheckStatus.VERIFIED``.
    status : CheckStatus
    bound : Fraction or None
        The bound proven on :math:`K` (lower bound of :math:`f` for ``lower_bound``, upper bound for
        ``upper_bound``); within the tolerance of the claim, possibly slightly weaker.  ``None``
        when rejected and for ``infeasible`` certificates.
    claimed_bound : Fraction or None
        The bound the file claims (``None`` for ``infeasible``).
    reason : str
        Why it was rejected, or how it was verified.
    residual_norm : float
        Sum of the absolute values of the residual coefficients (the 1-norm of :math:`r`).
    min_eigen_lower_bounds : tuple of float
        Per SOS multiplier, a rigorous lower bound :math:`\\mu_i \\le \\lambda_{\\min}(Q_i)` rounded
        to float (0.0 where PSD was proven exactly without a margin).
    time : float
        Seconds spent.
    claim_holds : bool
        True only when the certificate is valid *and* the bound the file states holds exactly:
        ``bound >= claimed_bound`` for ``lower_bound``, ``bound <= claimed_bound`` for
        ``upper_bound``, always for a verified ``infeasible`` certificate.  ``valid`` alone may
        mean a bound slightly weaker than the claim (within ``tolerance``) was proven.
    over_limit : bool
        True when the certificate was refused because checking it would exceed a resource
        limit (:class:`~sosrelax.certificate.format.Limits`), not because it is wrong.
    """

    valid: bool
    status: CheckStatus
    bound: Fraction | None
    claimed_bound: Fraction | None
    reason: str
    residual_norm: float
    min_eigen_lower_bounds: tuple[float, ...]
    time: float
    claim_holds: bool = False
    over_limit: bool = False

    @property
    def bound_float(self) -> float | None:
        """The proven bound as the nearest float (``±inf`` beyond the float range), or ``None``."""
        return None if self.bound is None else _float_or_inf(self.bound)

    def __float__(self) -> float:
        return float("nan") if self.bound is None else _float_or_inf(self.bound)

    def __repr__(self) -> str:
        b = "None" if self.bound is None else show_rational(self.bound)
        return (
            f"CheckReport(status={self.status.value}, bound={b}, reason={self.reason!r}, "
            f"residual_norm={self.residual_norm:.3g}, time={self.time:.3f}s)"
        )


def _float_or_inf(q: Fraction) -> float:
    try:
        return float(q)
    except OverflowError:
        return math.inf if q > 0 else -math.inf


def show_rational(q: Fraction, digits: int = 12) -> str:
    """``q`` in ``%.12g`` style, also when it is beyond the float range (then from its digits)."""
    try:
        f = float(q)
    except OverflowError:
        f = math.inf
    if math.isfinite(f):
        return f"{f:.{digits}g}"
    whole = str(abs(q.numerator) // q.denominator)
    sign = "-" if q < 0 else ""
    mant = whole[0] + ("." + whole[1:digits].rstrip("0") if whole[1:digits].strip("0") else "")
    return f"{sign}{mant}e+{len(whole) - 1}"


class _Reject(Exception):
    """Internal: a certificate fails; the message becomes the report's reason."""


class _OverLimit(_Reject):
    """Internal: checking would exceed a resource limit; the certificate is refused unchecked."""


_EXP_CAP = 2**62
"""Exponents (and exponent sums) must stay below this so that int64 arithmetic cannot wrap."""


def _exp_sum_guard(a: int, b: int) -> None:
    if a + b >= _EXP_CAP:
        raise _OverLimit(
            f"an exponent sum {a} + {b} would overflow 64-bit integers; exponents this large "
            "cannot be checked"
        )


# --------------------------------------------------------------------------------------------
# exact sparse polynomials: (exponents int64 (m, n), coefficients object array of fmpq)

_Poly = tuple[np.ndarray, np.ndarray]


def _fq(c: Fraction | int) -> flint.fmpq:
    c = Fraction(c)
    return flint.fmpq(c.numerator, c.denominator)


def _to_fraction(c: flint.fmpq) -> Fraction:
    return Fraction(int(c.p), int(c.q))


_MEMO: dict[tuple[str, int, int], tuple[object, object]] = {}
"""Results of pure functions of an immutable Terms object (its exact polynomial, its canonical
key, "its exponents are valid for n variables"), keyed by the object's ``id``.  Each entry keeps
its object alive, so an id cannot be reused while it is listed, and a hit is accepted only when
the stored object *is* the argument.  A lemma chain lists the same inequality objects in hundreds
of lemmas; each is converted, validated and keyed once.  Cached values are never mutated; only
successes are cached (a failing validation raises every time).  Emptied after every top-level
check."""


def _memo(table: str, t: object, n: int, make: Any) -> object:
    key = (table, id(t), n)
    hit = _MEMO.get(key)
    if hit is not None and hit[0] is t:
        return hit[1]
    v = make()
    _MEMO[key] = (t, v)
    return v


def _poly(terms: Terms, n: int) -> _Poly:
    if not terms:
        return np.zeros((0, n), dtype=np.int64), np.zeros(0, dtype=object)
    e = np.array([t[0] for t in terms], dtype=np.int64).reshape(len(terms), n)
    c = np.empty(len(terms), dtype=object)
    c[:] = [_fq(t[1]) for t in terms]
    return e, c


def _row_keys(e: np.ndarray) -> np.ndarray:
    """Group identical exponent rows: returns an inverse index (rows -> unique id)."""
    if e.shape[1] == 0:
        return np.zeros(e.shape[0], dtype=np.int64)
    radix = int(e.max(initial=0)) + 1
    if radix ** e.shape[1] < 2**62:
        keys = e @ (radix ** np.arange(e.shape[1], dtype=np.int64))
        _, inv = np.unique(keys, return_inverse=True)
    else:
        # rows as opaque byte strings: equal bytes <=> equal int64 rows (exact, and much faster
        # than np.unique(axis=0), which compares field by field)
        ec = np.ascontiguousarray(e, dtype=np.int64)
        rows = ec.view(np.dtype((np.void, ec.dtype.itemsize * ec.shape[1]))).reshape(-1)
        _, inv = np.unique(rows, return_inverse=True)
    return inv.reshape(-1)


def _combine(e: np.ndarray, c: np.ndarray) -> _Poly:
    """Merge repeated exponents (exact sums) and drop zero coefficients."""
    if e.shape[0] == 0:
        return e, c
    inv = _row_keys(e)
    order = np.argsort(inv, kind="stable")
    inv_s = inv[order]
    starts = np.flatnonzero(np.r_[True, inv_s[1:] != inv_s[:-1]])
    sums = np.add.reduceat(c[order], starts) if c.size else c
    ue = e[order][starts]
    keep = np.array([s != 0 for s in sums], dtype=bool)
    return ue[keep], sums[keep]


def _mul(a: _Poly, b: _Poly) -> _Poly:
    """Exact product; loops over the shorter factor, vectorised over the longer."""
    (ea, ca), (eb, cb) = a, b
    if ea.shape[0] > eb.shape[0]:
        (ea, ca), (eb, cb) = (eb, cb), (ea, ca)
    if ea.shape[0] == 0 or eb.shape[0] == 0:
        return np.zeros((0, ea.shape[1]), dtype=np.int64), np.zeros(0, dtype=object)
    _exp_sum_guard(int(ea.max(initial=0)), int(eb.max(initial=0)))
    es = [eb + ea[i] for i in range(ea.shape[0])]
    cs = [cb * ca[i] for i in range(ea.shape[0])]
    return _combine(np.vstack(es), np.concatenate(cs))


def _scale(p: _Poly, s: flint.fmpq) -> _Poly:
    return p[0], p[1] * s


def _one(n: int) -> _Poly:
    c = np.empty(1, dtype=object)
    c[0] = flint.fmpq(1)
    return np.zeros((1, n), dtype=np.int64), c


def _gram_poly(basis: np.ndarray, g: RationalMatrix) -> _Poly:
    """:math:`b^T Q b` exactly, grouping the Gram entries by :math:`b_a + b_b` (vectorised)."""
    k, n = basis.shape
    if k == 0:
        return np.zeros((0, n), dtype=np.int64), np.zeros(0, dtype=object)
    top = int(basis.max(initial=0))
    _exp_sum_guard(top, top)
    iu, ju = np.triu_indices(k)
    e = basis[iu] + basis[ju]
    num = g.numerators
    w = np.where(iu == ju, 1, 2)
    vals = num[iu, ju]
    big = num.dtype == object or (
        num.size and int(np.abs(num).max()) * 2 * len(iu) >= 2**62
    )
    vals = vals.astype(object) * w.astype(object) if big else vals * w
    inv = _row_keys(e)
    order = np.argsort(inv, kind="stable")
    inv_s = inv[order]
    starts = np.flatnonzero(np.r_[True, inv_s[1:] != inv_s[:-1]])
    sums = np.add.reduceat(vals[order], starts)
    ue = e[order][starts]
    den = g.denominator
    coef = np.empty(len(sums), dtype=object)
    coef[:] = [flint.fmpq(int(s), den) for s in sums]
    keep = np.array([s != 0 for s in coef], dtype=bool)
    return ue[keep], coef[keep]


# --------------------------------------------------------------------------------------------
# positive semidefiniteness


def _ldl_psd(num: np.ndarray, den: int, max_work: int | None = None) -> tuple[bool, str]:
    """Exact :math:`LDL^T` with symmetric (diagonal) pivoting on the integer matrix ``num``.

    ``num / den`` is PSD iff ``num`` is.  Returns ``(is_psd, explanation)``.  The work is
    counted as it goes (each elimination step on an ``m x m`` block whose pivot has ``b`` bits
    costs ``12 m^2 b``, which adds up to about :math:`k^4 b` for a dense matrix whose entries grow
    as usual); past ``max_work`` the factorisation stops with :class:`_OverLimit`.  Low-rank
    matrices finish in a few steps however long their entries.
    """
    k = num.shape[0]
    spent = 0
    S = np.empty((k, k), dtype=object)
    S[:, :] = [[flint.fmpq(int(v)) for v in row] for row in num]
    step = 0
    while S.shape[0]:
        d = S.diagonal()
        neg = np.flatnonzero(np.array([v < 0 for v in d], dtype=bool))
        if neg.size:
            v = d[neg[0]] / den
            return False, f"pivot {step} is {float(_to_fraction(v)):.3g} < 0"
        zero = np.array([v == 0 for v in d], dtype=bool)
        if zero.any():
            zrows = S[zero]
            if any(v != 0 for v in zrows.flat):
                return False, (
                    f"pivot {step}: a zero diagonal entry has a nonzero off-diagonal entry "
                    "(a 2x2 principal minor is negative)"
                )
            S = S[np.ix_(~zero, ~zero)]
            continue
        p = int(np.argmax(d))
        piv = S[p, p]
        if max_work is not None:
            spent += 12 * S.shape[0] ** 2 * max(64, int(piv.p).bit_length() + int(piv.q).bit_length())
            if spent > max_work:
                raise _OverLimit(
                    f"the exact LDL^T proving this Gram matrix (order {k}) semidefinite passed "
                    f"Limits.max_ldl_work = {max_work:.3g} after {step} of up to {k} steps; give "
                    "the matrix a positive margin or shorter entries, or raise the limit if the "
                    "file is trusted"
                )
        keep = np.ones(S.shape[0], dtype=bool)
        keep[p] = False
        c = S[keep, p]
        S = S[np.ix_(keep, keep)] - np.outer(c, c / piv)
        step += 1
    return True, f"exact LDL^T, rank {step}"


def _to_fmpz_mat(a: np.ndarray) -> flint.fmpz_mat:
    return flint.fmpz_mat([[int(v) for v in row] for row in a])


def _prove_shift(num: np.ndarray, den: int, qf: np.ndarray, t: Fraction) -> bool:
    """Prove :math:`Q - tI \\succ 0` (``Q = num/den``) by an exact congruence to a strictly
    diagonally dominant matrix.  ``qf`` is a float approximation of ``Q`` (only a guide)."""
    k = num.shape[0]
    a = qf - float(t) * np.eye(k)
    try:
        L = np.linalg.cholesky(a)
    except np.linalg.LinAlgError:
        return False
    if not np.all(np.isfinite(L)):
        return False
    try:
        Linv = np.tril(np.linalg.solve(L, np.eye(k)))
    except np.linalg.LinAlgError:
        return False
    if not np.all(np.isfinite(Linv)):
        return False
    rowmax = np.abs(Linv).max(axis=1)
    if np.any(rowmax == 0):
        return False
    shift = 50 - np.ceil(np.log2(rowmax))
    W = np.round(np.ldexp(Linv, shift.astype(np.int64)[:, None]))
    if np.any(np.diagonal(W) == 0):
        return False
    p, q = t.numerator, t.denominator
    if num.dtype == np.int64 and abs(p) * den < 2**62 and q < 2**20 and (
        int(np.abs(num).max(initial=0)) < 2**40
    ):
        nq = num * q - np.int64(p * den) * np.eye(k, dtype=np.int64)
    else:
        nq = num.astype(object) * q
        nq[np.diag_indices(k)] -= p * den
    Wm = _to_fmpz_mat(W.astype(np.int64))
    P = Wm * _to_fmpz_mat(nq) * Wm.transpose()
    Pa = np.array(P.tolist(), dtype=object)
    diag = Pa.diagonal().copy()
    off = np.abs(Pa).sum(axis=1) - np.abs(diag)
    return bool(all(d > 0 for d in diag) and all(d > o for d, o in zip(diag, off, strict=True)))


def _gershgorin(num: np.ndarray, den: int) -> Fraction:
    """Rigorous (often weak) lower bound :math:`\\min_i (Q_{ii} - \\sum_{j \\ne i} |Q_{ij}|)`."""
    a = num.astype(object)
    d = a.diagonal().copy()
    off = np.abs(a).sum(axis=1) - np.abs(d)
    return Fraction(int(min(d - off)), den)


def _dyadic(x: float, bits: int = 40) -> Fraction:
    """A short dyadic rational close to ``x`` (the proof does not need it to be close)."""
    m, e = np.frexp(x)
    return Fraction(int(round(float(m) * 2**bits))) * Fraction(2) ** (int(e) - bits)


def _guarded_ldl(num: np.ndarray, den: int, max_ldl_work: int) -> tuple[bool, str]:
    return _ldl_psd(num, den, max_ldl_work)


def prove_psd(
    gram: RationalMatrix, *, exact_limit: int = EXACT_LDL_LIMIT, method: str = "auto",
    max_ldl_work: int = DEFAULT_LIMITS.max_ldl_work,
) -> tuple[bool, Fraction, str]:
    """Decide/prove positive semidefiniteness and bound the smallest eigenvalue rigorously.

    Parameters
    ----------
    gram : RationalMatrix
        A symmetric exact matrix :math:`Q`.
    exact_limit : int
        Largest order for which exact :math:`LDL^T` is attempted under ``method="auto"``.
    method : {"auto", "ldl", "congruence"}
        ``"ldl"`` forces the exact factorisation, ``"congruence"`` the float-guided exact
        congruence test; ``"auto"`` uses the cheap tests first.

    Returns
    -------
    psd : bool
        True only if :math:`Q \\succeq 0` was proven.
    mu : Fraction
        A proven lower bound :math:`\\mu \\le \\lambda_{\\min}(Q)` (``0`` when PSD was proven with
        no margin; negative when :math:`Q` is not, or not provably, PSD).
    detail : str
        How it was proven, or why not.

    Notes
    -----
    An exact :math:`LDL^T` whose counted work passes ``max_ldl_work`` is abandoned; the matrix
    is then reported as not proven PSD (``psd`` False).
    """
    try:
        return _prove_psd(gram, exact_limit, method, max_ldl_work)
    except _OverLimit as e:
        g_lb = _gershgorin(gram.numerators, gram.denominator)
        return False, min(g_lb, Fraction(0)), str(e)


def _prove_psd(
    gram: RationalMatrix, exact_limit: int, method: str, max_ldl_work: int
) -> tuple[bool, Fraction, str]:
    """:func:`prove_psd`, raising :class:`_OverLimit` instead of skipping an oversized LDL^T."""
    num, den = gram.numerators, gram.denominator
    k = num.shape[0]
    if k == 0:
        return True, Fraction(0), "empty"
    g_lb = _gershgorin(num, den)
    if method == "auto" and g_lb >= 0:
        return True, g_lb, "diagonally dominant"
    if method == "ldl":
        ok, why = _guarded_ldl(num, den, max_ldl_work)
        return ok, Fraction(0) if ok else min(g_lb, Fraction(0)), why
    qf = gram.to_float()
    scale = float(np.abs(qf).max())
    try:
        lam = float(np.linalg.eigvalsh(qf)[0])
    except np.linalg.LinAlgError:
        lam = -scale
    noise = max(scale, 1e-300) * k * 1e-12
    if lam > noise:
        for frac in (0.5, 0.0):
            t = _dyadic(lam * frac) if frac else Fraction(0)
            if _prove_shift(num, den, qf, t):
                return True, t, "float-guided exact congruence to a diagonally dominant matrix"
    if method == "auto" and k <= exact_limit:
        ok, why = _guarded_ldl(num, den, max_ldl_work)
        if ok:
            return True, Fraction(0), why
        detail = why
    else:
        detail = f"smallest eigenvalue estimate {lam:.3g}"
    # not (provably) PSD: find a rigorous negative lower bound on lambda_min
    delta = max(abs(lam), noise)
    for _ in range(8):
        t = _dyadic(lam - delta)
        if _prove_shift(num, den, qf, t):
            return False, max(t, g_lb), detail
        delta *= 16
    return False, min(g_lb, Fraction(0)), detail


# --------------------------------------------------------------------------------------------
# box arithmetic


def _pow_interval(lo: Fraction, hi: Fraction, k: int) -> tuple[Fraction, Fraction]:
    if k == 0:
        return Fraction(1), Fraction(1)
    a, b = lo**k, hi**k
    if k % 2 == 1 or lo >= 0:
        return (a, b) if a <= b else (b, a)
    if hi <= 0:
        return (b, a) if b <= a else (a, b)
    return Fraction(0), max(a, b)


def _mono_interval(
    e: np.ndarray, box: tuple[tuple[Fraction, Fraction], ...]
) -> tuple[Fraction, Fraction]:
    lo, hi = Fraction(1), Fraction(1)
    for i in np.flatnonzero(e):
        a, b = _pow_interval(box[i][0], box[i][1], int(e[i]))
        ps = (lo * a, lo * b, hi * a, hi * b)
        lo, hi = min(ps), max(ps)
    return lo, hi


def _poly_interval(
    p: _Poly, box: tuple[tuple[Fraction, Fraction], ...]
) -> tuple[Fraction, Fraction]:
    """Exact interval enclosure of a polynomial over the box (natural extension)."""
    lo, hi = Fraction(0), Fraction(0)
    for e, c in zip(p[0], p[1], strict=True):
        cf = _to_fraction(c)
        a, b = _mono_interval(e, box)
        if cf >= 0:
            lo += cf * a
            hi += cf * b
        else:
            lo += cf * b
            hi += cf * a
    return lo, hi


def _basis_sq_max(basis: np.ndarray, box: tuple[tuple[Fraction, Fraction], ...]) -> Fraction:
    """:math:`\\max_{box} \\|b(x)\\|^2 \\le \\sum_\\beta \\max_{box} x^{2\\beta}`."""
    total = Fraction(0)
    for e in basis:
        total += _mono_interval(2 * e.astype(object), box)[1]
    return total


def _sqrt_upper(q: Fraction) -> Fraction:
    """A rational upper bound of :math:`\\sqrt{q}` (``q >= 0``), within about 2^-40 relative."""
    if q <= 0:
        return Fraction(0)
    scale = 2**40
    num = q.numerator * scale * scale
    r = _isqrt_ceil(num * q.denominator)  # sqrt(p q) * scale, rounded up
    return Fraction(r, q.denominator * scale)


def _isqrt_ceil(v: int) -> int:
    import math

    r = math.isqrt(v)
    return r if r * r == v else r + 1


def _infer_box(n: int, facts: list[_Poly]) -> tuple[list[Fraction | None], list[Fraction | None]]:
    """Per-variable bounds that the facts ``p >= 0`` imply, by three exact rules.

    * one-variable linear facts ``a x_i + c >= 0``;
    * separable concave quadratics ``c + Σ_j (b_j x_j − a_j x_j²) >= 0`` with every ``a_j > 0``
      (balls, ``x_i(u − x_i) >= 0``, ``x_i² == 1`` read as two facts): completing squares,
      ``|x_j − m_j| <= sqrt(R / a_j)`` with ``m_j = b_j / (2 a_j)``, ``R = c + Σ b_j² / (4 a_j)``;
    * interval propagation through multi-variable linear facts, using bounds already inferred,
      repeated until nothing changes (at most ``2n + 4`` rounds).
    """
    lower: list[Fraction | None] = [None] * n
    upper: list[Fraction | None] = [None] * n

    def tighten(i: int, lo: Fraction | None, hi: Fraction | None) -> bool:
        changed = False
        if lo is not None and (lower[i] is None or lo > lower[i]):  # type: ignore[operator]
            lower[i] = lo
            changed = True
        if hi is not None and (upper[i] is None or hi < upper[i]):  # type: ignore[operator]
            upper[i] = hi
            changed = True
        return changed

    linear: list[tuple[Fraction, list[tuple[int, Fraction]]]] = []
    for e, c in facts:
        if e.shape[0] == 0:
            continue
        deg = e.sum(axis=1)
        coefs = [_to_fraction(ci) for ci in c]
        const = sum((cf for d, cf in zip(deg, coefs, strict=True) if d == 0), Fraction(0))
        if int(deg.max()) <= 1:
            lin = [(int(np.flatnonzero(row)[0]), cf)
                   for row, d, cf in zip(e, deg, coefs, strict=True) if d == 1]
            if lin:
                linear.append((const, lin))
            continue
        if int(deg.max()) == 2 and int(e.max()) <= 2:
            # separable: every degree-2 term is a pure square
            sq = [(int(np.flatnonzero(row)[0]), cf)
                  for row, d, cf in zip(e, deg, coefs, strict=True) if d == 2 and row.max() == 2]
            if len(sq) != int((deg == 2).sum()) or any(cf >= 0 for _, cf in sq):
                continue
            a = {i: -cf for i, cf in sq}
            b = {int(np.flatnonzero(row)[0]): cf
                 for row, d, cf in zip(e, deg, coefs, strict=True) if d == 1}
            if any(i not in a for i in b):
                continue  # a linear term in a variable without a square: unbounded in it
            R = const + sum((b.get(i, Fraction(0)) ** 2 / (4 * ai) for i, ai in a.items()),
                            Fraction(0))
            for i, ai in a.items():
                m = b.get(i, Fraction(0)) / (2 * ai)
                rad = _sqrt_upper(R / ai) if R > 0 else Fraction(0)
                tighten(i, m - rad, m + rad)
    for _ in range(2 * n + 4):
        changed = False
        for const, lin in linear:
            for k, (j, aj) in enumerate(lin):
                # aj x_j >= -const - sum_{i != j} a_i x_i  >=  -const - sum sup(a_i x_i)
                rest = Fraction(0)
                ok = True
                for t, (i, ai) in enumerate(lin):
                    if t == k:
                        continue
                    side = upper[i] if ai > 0 else lower[i]
                    if side is None:
                        ok = False
                        break
                    rest += ai * side
                if not ok:
                    continue
                v = (-const - rest) / aj
                changed |= tighten(j, v, None) if aj > 0 else tighten(j, None, v)
        if not changed:
            break
    return lower, upper


def _verify_box(cert: Certificate, ineqs: list[_Poly], eqs: list[_Poly]) -> str | None:
    """Return None if the certificate's box contains the box the constraints imply."""
    assert cert.box is not None
    n = len(cert.variables)
    facts = list(ineqs)
    for h in eqs:
        facts.append(h)
        facts.append((h[0], h[1] * flint.fmpq(-1)))
    lower, upper = _infer_box(n, facts)
    for i, (lo, hi) in enumerate(cert.box):
        name = cert.variables[i]
        if lo > hi:
            return f"box[{i}]: lower bound {lo} exceeds upper bound {hi}"
        li, ui = lower[i], upper[i]
        if li is None or li < lo:
            return (f"box[{i}]: {name} >= {lo} is not implied by the constraints "
                    f"(add {name} - ({lo}) >= 0)")
        if ui is None or ui > hi:
            return (f"box[{i}]: {name} <= {hi} is not implied by the constraints "
                    f"(add ({hi}) - {name} >= 0)")
    return None


def _substitute(p: _Poly, subst: tuple[tuple[Fraction, Fraction], ...]) -> _Poly:
    """``p(c + s·u)`` exactly, for the coordinate-wise change of variables ``x_i = c_i + s_i u_i``."""
    e, c = p
    n = e.shape[1]
    if e.shape[0] == 0:
        return p
    powers: dict[int, list[_Poly]] = {}

    def power(i: int, k: int) -> _Poly:
        # (c_i + s_i u_i)^k by repeated multiplication, iteratively (no recursion depth limit);
        # the degree limit of the certificate bounds k
        table = powers.setdefault(i, [_one(n)])
        if len(table) <= k:
            lin_e = np.zeros((2, n), dtype=np.int64)
            lin_e[1, i] = 1
            lin_c = np.empty(2, dtype=object)
            lin_c[:] = [_fq(subst[i][0]), _fq(subst[i][1])]
            while len(table) <= k:
                table.append(_combine(*_mul(table[-1], (lin_e, lin_c))))
        return table[k]

    parts_e, parts_c = [], []
    for row, coef in zip(e, c, strict=True):
        term = _one(n)
        for i in np.flatnonzero(row):
            term = _mul(term, power(int(i), int(row[i])))
        parts_e.append(term[0])
        parts_c.append(term[1] * coef)
    return _combine(np.vstack(parts_e), np.concatenate(parts_c))


# --------------------------------------------------------------------------------------------
# the checker


def _validate(cert: Certificate, limits: Limits = DEFAULT_LIMITS) -> None:
    """Structural checks, and every :class:`Limits` entry, before any arithmetic.

    A certificate built in memory gets the same limits as one read from a file: exponents,
    sizes, number lengths, degrees and the estimated work of expanding the identity.
    """
    n = len(cert.variables)
    if cert.kind not in KINDS:
        raise _Reject(f"kind: {cert.kind!r} is not one of {KINDS}")
    if n > limits.max_variables:
        raise _OverLimit(f"variables: {n}, over Limits.max_variables = {limits.max_variables}")
    top_exp = min(limits.max_exponent, _EXP_CAP - 1)
    max_bits = int(limits.max_digits * 3.3219280948873626) + 1

    def num_ok(q: Fraction, path: str) -> None:
        if q.numerator.bit_length() > max_bits or q.denominator.bit_length() > max_bits:
            raise _OverLimit(f"{path}: a number with more than {limits.max_digits} digits, over "
                             "Limits.max_digits")

    def items_ok(seq: tuple[Any, ...], path: str) -> None:
        if len(seq) > limits.max_items:
            raise _OverLimit(f"{path}: {len(seq)} entries, over Limits.max_items = "
                             f"{limits.max_items}")

    def exps_ok(e: tuple[int, ...], path: str) -> int:
        if len(e) != n:
            raise _Reject(f"{path}: {len(e)} entries but {n} variables")
        for v in e:
            if v < 0:
                raise _Reject(f"{path}: negative exponent")
            if v > top_exp:
                if v > limits.max_exponent:
                    raise _OverLimit(f"{path}: exponent {v} is over Limits.max_exponent = "
                                     f"{limits.max_exponent}")
                raise _OverLimit(f"{path}: exponent {v} would overflow the checker's 64-bit "
                                 "exponent arithmetic; it cannot be checked")
        d = sum(e)
        if d > limits.max_degree:
            raise _OverLimit(f"{path}: total degree {d} is over Limits.max_degree = "
                             f"{limits.max_degree}")
        return d

    def terms_check(t: Terms, path: str) -> int:
        if len(t) > limits.max_terms:
            raise _OverLimit(f"{path}: {len(t)} terms, over Limits.max_terms = {limits.max_terms}")
        deg = -1
        for a, (e, c) in enumerate(t):
            deg = max(deg, exps_ok(e, f"{path}.exponents[{a}]"))
            num_ok(c, f"{path}.coefficients[{a}]")
        return deg

    def terms_ok(t: Terms, path: str) -> int:
        # a Terms object that passed once (for this n) passes again; a failure raises, never cached
        d = _memo("valid", t, n, lambda: terms_check(t, path))
        assert isinstance(d, int)
        return d

    def degree_ok(d: int, path: str) -> None:
        if d > limits.max_degree:
            raise _OverLimit(f"{path}: the product has total degree {d}, over "
                             f"Limits.max_degree = {limits.max_degree}")

    for name in ("inequalities", "equalities", "sos", "equality_multipliers", "products",
                 "lemmas", "derived"):
        items_ok(getattr(cert, name), name)
    num_ok(cert.bound, "bound")
    terms_ok(cert.objective, "objective")
    g_deg = [terms_ok(g, f"inequalities[{i}]") for i, g in enumerate(cert.inequalities)]
    h_deg = [terms_ok(h, f"equalities[{j}]") for j, h in enumerate(cert.equalities)]
    m_ineq, m_eq = len(cert.inequalities), len(cert.equalities)
    sos_deg: list[int] = []
    for s, m in enumerate(cert.sos):
        if m.constraint is not None and not 0 <= m.constraint < m_ineq:
            raise _Reject(f"sos[{s}].constraint: {m.constraint} is not an inequality index "
                          f"(there are {m_ineq})")
        if m.cone not in CONES:
            raise _Reject(f"sos[{s}].cone: {m.cone!r} is not one of {CONES}")
        k = len(m.basis)
        if k > limits.max_gram_order:
            raise _OverLimit(f"sos[{s}].basis: {k} monomials, over Limits.max_gram_order = "
                             f"{limits.max_gram_order}")
        bdeg = 0
        for a, b in enumerate(m.basis):
            if len(b) != n or any(v < 0 for v in b):
                raise _Reject(f"sos[{s}].basis[{a}]: not an exponent of {n} variables")
            bdeg = max(bdeg, exps_ok(b, f"sos[{s}].basis[{a}]"))
        gm = as_rational_matrix(m.gram)
        if gm.shape != (k, k):
            raise _Reject(f"sos[{s}].gram: shape {gm.shape} does not match basis length {k}")
        _gram_size_ok(gm, max_bits, limits, f"sos[{s}].gram")
        if not gm.is_symmetric():
            bad = np.argwhere(gm.numerators != gm.numerators.T)[0]
            raise _Reject(f"sos[{s}].gram[{bad[0]}][{bad[1]}]: Gram matrix is not symmetric")
        d = 2 * bdeg + (0 if m.constraint is None else max(g_deg[m.constraint], 0))
        degree_ok(d, f"sos[{s}]")
        sos_deg.append(d)
    for j, em in enumerate(cert.equality_multipliers):
        if not 0 <= em.constraint < m_eq:
            raise _Reject(f"equality_multipliers[{j}].constraint: {em.constraint} is not an "
                          f"equality index (there are {m_eq})")
        d = terms_ok(em.poly, f"equality_multipliers[{j}].poly")
        degree_ok(max(d, 0) + max(h_deg[em.constraint], 0), f"equality_multipliers[{j}]")
    for p, pm in enumerate(cert.products):
        if pm.coefficient < 0:
            raise _Reject(f"products[{p}].coefficient: {pm.coefficient} is negative")
        num_ok(pm.coefficient, f"products[{p}].coefficient")
        items_ok(pm.constraints, f"products[{p}].constraints")
        for c in pm.constraints:
            if not 0 <= c < m_ineq:
                raise _Reject(f"products[{p}].constraints: {c} is not an inequality index")
        degree_ok(sum(max(g_deg[c], 0) for c in pm.constraints), f"products[{p}]")
    if cert.box is not None:
        if len(cert.box) != n:
            raise _Reject(f"box: {len(cert.box)} intervals but {n} variables")
        for i, (lo, hi) in enumerate(cert.box):
            num_ok(lo, f"box[{i}][0]")
            num_ok(hi, f"box[{i}][1]")
    if cert.substitution is not None:
        if len(cert.substitution) != n:
            raise _Reject(f"substitution: {len(cert.substitution)} entries but {n} variables")
        for i, (c0, sc) in enumerate(cert.substitution):
            if sc <= 0:
                raise _Reject(f"substitution[{i}]: scale {sc} is not positive")
            num_ok(c0, f"substitution[{i}][0]")
            num_ok(sc, f"substitution[{i}][1]")
    work = _work_estimate(cert, n, g_deg, h_deg)
    if work > limits.max_work:
        raise _OverLimit(
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
        raise _OverLimit(f"{path}: entries with more than {limits.max_digits} digits, over "
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
        w = 0
        for e, _ in t:
            prod = 1
            for v in e:
                if v:
                    prod = min(prod * (v + 1), cap)
            w = min(w + prod, cap)
        return min(w, dense(d)), w

    work = 0
    sizes_g: list[int] = []
    for t, d in zip((cert.objective, *cert.inequalities, *cert.equalities),
                    (0, *g_deg, *h_deg), strict=False):
        size_t, w = size(t, d)
        work += w
        sizes_g.append(size_t)
    if sub:  # the tables of powers (c_i + s_i u_i)^k, k up to the largest exponent
        for i in range(n):
            top = max((e[i] for t in (cert.objective, *cert.inequalities, *cert.equalities)
                       for e, _ in t), default=0)
            work += top * (top + 1) // 2
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


def _residual(
    cert: Certificate,
) -> tuple[_Poly, list[_Poly], list[tuple[np.ndarray, RationalMatrix]]]:
    """Exact residual ``r = lhs - sum(multipliers * constraints)``, the combined inequalities and
    the (basis, Gram) pairs."""
    n = len(cert.variables)
    gam = cert.bound
    sub = cert.substitution

    def prob_poly(t: Terms) -> _Poly:
        if sub is not None:
            return _substitute(_combine(*_poly(t, n)), sub)
        return _memo("poly", t, n, lambda: _combine(*_poly(t, n)))  # type: ignore[return-value]

    f = prob_poly(cert.objective)
    const = np.empty(1, dtype=object)
    zero_row = np.zeros((1, n), np.int64)
    if cert.kind == "lower_bound":  # f - gamma
        const[0] = _fq(-gam)
        lhs = (np.vstack([f[0], zero_row]), np.concatenate([f[1], const]))
    elif cert.kind == "upper_bound":  # gamma - f
        const[0] = _fq(gam)
        lhs = (np.vstack([f[0], zero_row]), np.concatenate([f[1] * flint.fmpq(-1), const]))
    else:  # -1
        const[0] = flint.fmpq(-1)
        lhs = (zero_row, const)
    g_polys = [prob_poly(g) for g in cert.inequalities]
    h_polys = [prob_poly(h) for h in cert.equalities]
    parts_e = [lhs[0]]
    parts_c = [lhs[1]]
    minus = flint.fmpq(-1)

    # SOS multipliers
    sigmas: list[tuple[np.ndarray, RationalMatrix]] = []
    for m in cert.sos:
        basis = np.array(m.basis, dtype=np.int64).reshape(len(m.basis), n)
        g = as_rational_matrix(m.gram)
        sigma = _gram_poly(basis, g)
        if m.constraint is not None:
            sigma = _mul(sigma, g_polys[m.constraint])
        parts_e.append(sigma[0])
        parts_c.append(sigma[1] * minus)
        sigmas.append((basis, g))
    for em in cert.equality_multipliers:
        prod = _mul(_poly(em.poly, n), h_polys[em.constraint])
        parts_e.append(prod[0])
        parts_c.append(prod[1] * minus)
    for pm in cert.products:
        if pm.coefficient == 0:
            continue
        if len(pm.constraints) == 1:  # 1 * g is g itself (already combined)
            prod = g_polys[pm.constraints[0]]
        else:
            prod = _one(n)
            for c in pm.constraints:
                prod = _mul(prod, g_polys[c])
        parts_e.append(prod[0])
        parts_c.append(prod[1] * (-_fq(pm.coefficient)))
    return _combine(np.vstack(parts_e), np.concatenate(parts_c)), g_polys, sigmas


def residual(cert: Certificate) -> Terms:
    """The exact residual polynomial :math:`r` of the certificate identity (zero terms dropped)."""
    _validate(cert)
    r = _residual(cert)[0]
    return tuple(
        (tuple(int(v) for v in e), _to_fraction(c)) for e, c in zip(r[0], r[1], strict=True)
    )


_FactIndex = dict[tuple[tuple[tuple[int, ...], Fraction], ...], list[tuple[str, Fraction, Fraction, Fraction]]]
"""Facts keyed by the direction of their non-constant part (scaled to a unit leading coefficient):
``key -> [(kind, leading coefficient of the direction, constant of f, proven bound)]``."""


def _as_dict(t: Terms) -> dict[tuple[int, ...], Fraction]:
    return _memo("dict", t, -1, lambda: _as_dict_raw(t))  # type: ignore[return-value]


def _canonical(t: Terms) -> tuple[tuple[tuple[int, ...], Fraction], ...]:
    return _memo("canonical", t, -1, lambda: tuple(sorted(_as_dict(t).items())))  # type: ignore[return-value]


def _as_dict_raw(t: Terms) -> dict[tuple[int, ...], Fraction]:
    out: dict[tuple[int, ...], Fraction] = {}
    for e, c in t:
        key = tuple(int(v) for v in e)
        out[key] = out.get(key, Fraction(0)) + Fraction(c)
    return {k: v for k, v in out.items() if v != 0}


def _direction(nc: dict[tuple[int, ...], Fraction]
               ) -> tuple[tuple[tuple[tuple[int, ...], Fraction], ...], Fraction]:
    """``(key, lead)``: the terms divided by ``|lead|``, ``lead`` the coefficient of the smallest exponent."""
    lead = nc[min(nc)]
    return tuple(sorted((e, v / abs(lead)) for e, v in nc.items())), lead


def _add_fact(index: _FactIndex, kind: str, f: dict[tuple[int, ...], Fraction], beta: Fraction) -> None:
    f_nc = {e: (v if kind == "lower_bound" else -v) for e, v in f.items() if any(e)}
    if not f_nc:
        return
    key, lead = _direction(f_nc)
    f0 = next((v for e, v in f.items() if not any(e)), Fraction(0))
    index.setdefault(key, []).append((kind, lead, f0, beta))


def _split_direction(g: Terms) -> tuple[tuple[tuple[tuple[int, ...], Fraction], ...], Fraction, Fraction] | None:
    """``(direction key, lead, constant)`` of ``g`` (``None`` if ``g`` is a constant)."""
    gd = _as_dict(g)
    g_nc = {e: v for e, v in gd.items() if any(e)}
    if not g_nc:
        return None
    g0 = next((v for e, v in gd.items() if not any(e)), Fraction(0))
    key, g_lead = _direction(g_nc)
    return key, g_lead, g0


def _implied_by(g: Terms, index: _FactIndex) -> bool:
    """True if ``g >= 0`` is a positive multiple of a proven fact, with a bound no stronger.

    Facts are looked up by the direction of their non-constant part (a hash lookup, not a scan).
    """
    found: tuple[tuple[tuple[tuple[int, ...], Fraction], ...], Fraction, Fraction] | None
    found = _memo("direction", g, -1, lambda: _split_direction(g))  # type: ignore[assignment]
    if found is None:
        return False
    key, g_lead, g0 = found
    for kind, lead, f0, beta in index.get(key, ()):
        c = g_lead / lead  # g_nc = c * (±f_nc), c > 0 since the keys agree
        if kind == "lower_bound":  # g = c (f - beta'), beta' <= beta
            if f0 - g0 / c <= beta:
                return True
        elif g0 / c + f0 >= beta:  # g = c (beta' - f), beta' >= beta
            return True
    return False


@dataclass(frozen=True)
class _CheckedChain:
    """A lemma chain that passed: its lemma objects (kept alive, so that their ids stay theirs),
    the base constraints it relies on (canonical keys) and its proven conclusions."""

    lemmas: tuple[Certificate, ...]
    needs_ineq: frozenset[Any]
    needs_eq: frozenset[Any]
    facts: _FactIndex


_CHAINS: dict[tuple[Any, ...], _CheckedChain] = {}
"""Lemma chains already checked in this process, keyed by the ``id`` of every lemma object (and
the check's settings).  Certificates are immutable, so the same objects prove the same facts: a
hit is accepted only when every stored lemma *is* the certificate's lemma, and when the
certificate's own base constraints include every base constraint the chain used (so its
conclusions hold on the certificate's set).  Many certificates over one network encoding carry
the same chain; it is checked once.  A certificate read from a file has fresh objects and is
always checked in full.  At most :data:`_CHAINS_MAX` chains are kept."""

_CHAINS_MAX = 8


def _check_lemmas(cert: Certificate, tolerance: Fraction, exact_limit: int, psd_method: str,
                  limits: Limits = DEFAULT_LIMITS) -> _FactIndex:
    """Check the lemmas in order and return their proven conclusions (read-only)."""
    derived = set(cert.derived)
    base_ineq = {_canonical(g) for i, g in enumerate(cert.inequalities) if i not in derived}
    base_eq = {_canonical(h) for h in cert.equalities}
    key = (cert.variables, tolerance, exact_limit, psd_method, limits,
           tuple(id(lem) for lem in cert.lemmas))
    hit = _CHAINS.get(key)
    if (hit is not None and len(hit.lemmas) == len(cert.lemmas)
            and all(a is b for a, b in zip(hit.lemmas, cert.lemmas, strict=True))
            and hit.needs_ineq <= base_ineq and hit.needs_eq <= base_eq):
        return hit.facts
    needs_ineq: set[Any] = set()
    needs_eq: set[Any] = set()
    facts: _FactIndex = {}
    for k, lem in enumerate(cert.lemmas):
        where = f"lemmas[{k}]"
        if lem.lemmas:
            raise _Reject(f"{where}: a lemma cannot carry lemmas of its own")
        if lem.kind not in ("lower_bound", "upper_bound"):
            raise _Reject(f"{where}: a lemma must be a lower_bound or upper_bound certificate")
        if lem.variables != cert.variables:
            raise _Reject(f"{where}: its variables differ from the certificate's")
        lem_derived = set(lem.derived)
        for i, g in enumerate(lem.inequalities):
            if i in lem_derived:
                continue  # verified against the earlier lemmas inside _check
            if _canonical(g) not in base_ineq:
                raise _Reject(f"{where}.inequalities[{i}]: not among the certificate's own "
                              "inequalities (a lemma may only use the same set)")
            needs_ineq.add(_canonical(g))
        for j, h in enumerate(lem.equalities):
            if _canonical(h) not in base_eq:
                raise _Reject(f"{where}.equalities[{j}]: not among the certificate's equalities")
            needs_eq.add(_canonical(h))
        try:
            _, proven, _, _, _ = _check(lem, tolerance, exact_limit, psd_method, facts, limits)
        except _Reject as e:
            raise type(e)(f"{where}: {e}") from e
        assert proven is not None
        _add_fact(facts, lem.kind, _as_dict(lem.objective), proven)
    if len(_CHAINS) >= _CHAINS_MAX:
        _CHAINS.pop(next(iter(_CHAINS)))
    _CHAINS[key] = _CheckedChain(tuple(cert.lemmas), frozenset(needs_ineq), frozenset(needs_eq), facts)
    return facts


def _check(cert: Certificate, tolerance: Fraction, exact_limit: int, psd_method: str,
           facts: _FactIndex | None = None, limits: Limits = DEFAULT_LIMITS,
           ) -> tuple[CheckStatus, Fraction | None, str, float, tuple[float, ...]]:
    _validate(cert, limits)
    if cert.lemmas:
        facts = _check_lemmas(cert, tolerance, exact_limit, psd_method, limits)
    for i in cert.derived:
        if not 0 <= i < len(cert.inequalities):
            raise _Reject(f"derived: {i} is not an inequality index")
        if not _implied_by(cert.inequalities[i], facts or {}):
            raise _Reject(f"inequalities[{i}]: listed as derived but no proven lemma implies it")
    gam = cert.bound
    r, g_polys, sigmas = _residual(cert)
    r_norm = _float_or_inf(sum((abs(_to_fraction(c)) for c in r[1]), Fraction(0)))
    # the constant term is the all-zero exponent row (not "row sum 0": sums could wrap)
    r_const = np.flatnonzero(~r[0].any(axis=1)) if r[0].shape[0] else np.zeros(0, int)
    r0 = _to_fraction(r[1][r_const[0]]) if r_const.size else Fraction(0)
    r_is_const = r[0].shape[0] == r_const.size

    # Gram cones
    mus: list[Fraction] = []
    psd_ok: list[bool] = []
    notes: list[str] = []
    for s, (m, (_, g)) in enumerate(zip(cert.sos, sigmas, strict=True)):
        if m.cone == "dd" and _gershgorin(g.numerators, g.denominator) < 0:
            notes.append(f"Gram {s} is not diagonally dominant; proving PSD instead")
        try:
            ok, mu, why = _prove_psd(g, exact_limit, psd_method, limits.max_ldl_work)
        except _OverLimit as e:
            raise _OverLimit(f"sos[{s}]: {e}") from e
        psd_ok.append(ok)
        mus.append(mu)
        if not ok:
            notes.append(f"Gram {s} is not PSD: {why}")
    mu_floats = tuple(float(mu) for mu in mus)

    if r_is_const and all(psd_ok):
        slack = r0
        how = ("identity holds exactly" if r0 == 0
               else f"constant residual {show_rational(r0, 3)} absorbed")
    else:
        if cert.box is None:
            if not r_is_const:
                raise _Reject(
                    f"residual is not constant ({r[0].shape[0]} terms, 1-norm {r_norm:.3g}) and no "
                    "box bounds the domain"
                )
            raise _Reject("; ".join(n_ for n_ in notes if "not PSD" in n_)
                          + " and no box bounds the domain")
        n = len(cert.variables)
        orig_g = [_combine(*_poly(g, n)) for g in cert.inequalities]
        orig_h = [_combine(*_poly(h, n)) for h in cert.equalities]
        why_box = _verify_box(cert, orig_g, orig_h)
        if why_box is not None:
            raise _Reject(why_box)
        box = cert.box
        if cert.substitution is not None:  # the multipliers live in u = (x - c) / s
            box = tuple(((lo - c) / sc, (hi - c) / sc)
                        for (lo, hi), (c, sc) in zip(box, cert.substitution, strict=True))
        r_lo, _ = _poly_interval(r, box)
        neg = Fraction(0)
        for (basis, _), m, mu in zip(sigmas, cert.sos, mus, strict=True):
            if mu >= 0:
                continue
            bmax = _basis_sq_max(basis, box)
            gmax = Fraction(1)
            if m.constraint is not None:
                gmax = max(_poly_interval(g_polys[m.constraint], box)[1], Fraction(0))
            neg += mu * bmax * gmax
        slack = r_lo + neg
        how = (f"residual (1-norm {r_norm:.3g}) and negative eigenvalues absorbed over the box "
               f"(loss {show_rational(-slack, 3)})")
    if cert.kind == "infeasible":
        # -1 - r(x) = sum(...) >= neg on K; K nonempty would give r_lo + neg <= -1
        if slack > -1:
            return (CheckStatus.VERIFIED, None, f"K is empty: {how}", r_norm, mu_floats)
        raise _Reject(f"infeasibility not proven: {how}, margin {show_rational(slack + 1, 3)} <= 0")
    proven = gam + slack if cert.kind == "lower_bound" else gam - slack
    gap = -slack  # how much weaker than claimed (negative: stronger)
    allowed = tolerance * max(Fraction(1), abs(gam))
    if gap > allowed:
        word = "lower" if cert.kind == "lower_bound" else "upper"
        raise _Reject(
            f"proves only the {word} bound {show_rational(proven)}, not the claimed "
            f"{show_rational(gam)} (gap {show_rational(gap, 3)} over the tolerance "
            f"{show_rational(allowed, 3)}); " + how
        )
    extra = ("; " + "; ".join(notes)) if notes else ""
    return CheckStatus.VERIFIED, proven, how + extra, r_norm, mu_floats


def _problem_key(poly: Any, order: list[int], what: str) -> frozenset[tuple[tuple[int, ...], Fraction]]:
    """The exact terms of a problem polynomial, its exponent columns put in certificate order."""
    try:
        exps = np.asarray(poly.exps)
        coefs = [Fraction(float(c)) for c in np.asarray(poly.coefs).tolist()]
    except AttributeError as e:
        raise InvalidValueError(f"problem {what} is not a sosrelax Polynomial") from e
    out: dict[tuple[int, ...], Fraction] = {}
    for row, c in zip(exps.tolist(), coefs, strict=True):
        key = tuple(int(row[j]) for j in order)
        out[key] = out.get(key, Fraction(0)) + c
    return frozenset((k, v) for k, v in out.items() if v != 0)


def _cert_key(t: Terms) -> frozenset[tuple[tuple[int, ...], Fraction]]:
    return frozenset(_as_dict_raw(t).items())


def problem_mismatch(cert: Certificate, problem: Any) -> str | None:
    """Why ``cert`` is not a proof about ``problem`` (a :class:`sosrelax.Problem`), or ``None``.

    The certificate is about the problem when, as exact polynomials: its variables are the
    problem's (same names; the order may differ), its objective is the problem's objective
    (``lower_bound`` for ``minimize``, ``upper_bound`` for ``maximize``; an ``infeasible``
    certificate proves every bound and has no objective), and its inequalities (without the
    ``derived`` lemma conclusions) and equalities are the problem's, as sets.  Problem
    coefficients are read as the exact rationals their float64 values denote.
    """
    names = tuple(str(v) for v in problem.variables)
    if sorted(names) != sorted(cert.variables):
        return (f"its variables {list(cert.variables)} are not the problem's {list(names)}")

    def key(poly: Any, what: str) -> frozenset[tuple[tuple[int, ...], Fraction]]:
        pv = tuple(str(v) for v in getattr(poly, "variables", names))
        if sorted(pv) != sorted(names):
            raise InvalidValueError(f"problem {what} is not declared over the problem's variables")
        return _problem_key(poly, [pv.index(v) for v in cert.variables], what)

    sense = getattr(getattr(problem, "sense", None), "value", None)
    if cert.kind != "infeasible":
        want = {"minimize": "lower_bound", "maximize": "upper_bound"}.get(str(sense))
        if cert.kind != want:
            return (f"it is a {cert.kind.replace('_', ' ')} certificate but the problem is to "
                    f"{sense}")
        if _cert_key(cert.objective) != key(problem.objective, "objective"):
            return "its objective is not the problem's objective"
    derived = set(cert.derived)
    c_ineq = {_cert_key(g) for i, g in enumerate(cert.inequalities) if i not in derived}
    p_ineq = {key(g, f"inequality {i}") for i, g in enumerate(problem.inequalities)}
    if c_ineq != p_ineq:
        return (f"its inequalities are not the problem's ({len(c_ineq - p_ineq)} not in the "
                f"problem, {len(p_ineq - c_ineq)} of the problem missing)")
    c_eq = {_cert_key(h) for h in cert.equalities}
    p_eq = {key(h, f"equality {j}") for j, h in enumerate(problem.equalities)}
    if c_eq != p_eq:
        return (f"its equalities are not the problem's ({len(c_eq - p_eq)} not in the problem, "
                f"{len(p_eq - c_eq)} of the problem missing)")
    return None


def claim_holds(kind: str, bound: Fraction | None, claimed: Fraction | None) -> bool:
    """True when the proven ``bound`` is at least as strong as the ``claimed`` one."""
    if kind == "infeasible":
        return True
    if bound is None or claimed is None:
        return False
    return bound >= claimed if kind == "lower_bound" else bound <= claimed


def check_certificate(
    cert: Certificate | str | os.PathLike[str],
    *,
    tolerance: Fraction | float = DEFAULT_TOLERANCE,
    exact_limit: int = EXACT_LDL_LIMIT,
    psd_method: str = "auto",
    limits: Limits = DEFAULT_LIMITS,
    problem: Any = None,
) -> CheckReport:
    """Check a certificate exactly and report the bound it proves.

    Parameters
    ----------
    cert : Certificate or path
        The certificate, or a path to a certificate file.
    tolerance : Fraction or float
        Largest accepted gap between the claimed and the proven bound, relative to
        ``max(1, |claimed|)``.  A certificate whose identity proves only a bound weaker than that
        is rejected (the proven value is stated in the reason); one within the tolerance is
        ``valid`` with the weaker ``bound``, and ``claim_holds`` says whether the stated claim
        itself was proven.
    exact_limit : int
        Largest Gram order for which exact :math:`LDL^T` is used when no margin is visible.
    psd_method : {"auto", "ldl", "congruence"}
        How to prove positive semidefiniteness (see :func:`prove_psd`).
    limits : Limits
        Resource limits, enforced for files and for in-memory certificates alike: sizes and
        number lengths, exponents and degrees, the estimated work of expanding the identity and
        of exact :math:`LDL^T` factorisations.  A certificate over a limit is ``REJECTED`` with
        ``over_limit`` set.  Limits never affect soundness: a check either completes exactly or
        refuses.
    problem : sosrelax.Problem, optional
        When given, the certificate is valid only if it is about exactly this problem (see
        :func:`problem_mismatch`): same variables, objective, sense and constraints.

    Returns
    -------
    CheckReport
        Never raises on a bad or malformed proof: those are ``REJECTED`` reports.
    """
    t0 = time.perf_counter()
    claimed: Fraction | None = None
    over = False
    try:
        c = cert if isinstance(cert, Certificate) else Certificate.load(cert, limits=limits)
        claimed = None if c.kind == "infeasible" else c.bound
        if problem is not None:
            why = problem_mismatch(c, problem)
            if why is not None:
                raise _Reject(f"the certificate is not about the given problem: {why}")
        try:
            status, bound, reason, rn, mus = _check(c, Fraction(tolerance), exact_limit,
                                                    psd_method, None, limits)
        finally:
            _MEMO.clear()
        valid = status is CheckStatus.VERIFIED
        return CheckReport(valid, status, bound, claimed, reason, rn, mus,
                           time.perf_counter() - t0,
                           claim_holds=valid and claim_holds(c.kind, bound, claimed))
    except _OverLimit as e:
        reason = f"over a resource limit: {e}"
        over = True
    except (_Reject, CertificateFormatError, InvalidValueError) as e:
        reason = str(e)
        over = "over the limit" in reason or "over Limits." in reason
    except (ValueError, TypeError, OverflowError, ZeroDivisionError, MemoryError,
            RecursionError) as e:
        reason = f"malformed certificate ({type(e).__name__}: {e})"
    return CheckReport(False, CheckStatus.REJECTED, None, claimed, reason, float("nan"), (),
                       time.perf_counter() - t0, over_limit=over)

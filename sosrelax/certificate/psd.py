"""Rigorous positive semidefiniteness of exact rational Gram matrices.

Either an exact :math:`LDL^T` factorisation with symmetric pivoting (its work counted and capped),
or an exact congruence: floating point proposes an integer lower triangular
:math:`W \\approx 2^s L^{-1}` and exact integer arithmetic verifies that :math:`W (Q - tI) W^T` is
strictly diagonally dominant with positive diagonal, so that :math:`\\lambda_{\\min}(Q) > t`.
Floating point only ever proposes; every conclusion is drawn from exact integers.

Only the standard library, numpy and python-flint are imported (the checker's independence rule).
"""

from __future__ import annotations

from fractions import Fraction

import flint
import numpy as np

from sosrelax.certificate.exactpoly import OverLimit, to_fraction
from sosrelax.certificate.format import DEFAULT_LIMITS, RationalMatrix

EXACT_LDL_LIMIT = 80
"""Gram orders up to this use exact LDL^T when the float test cannot give a margin."""


def _ldl_psd(num: np.ndarray, den: int, max_work: int | None = None) -> tuple[bool, str]:
    """Exact :math:`LDL^T` with symmetric (diagonal) pivoting on the integer matrix ``num``.

    ``num / den`` is PSD iff ``num`` is.  Returns ``(is_psd, explanation)``.  The work is
    counted as it goes (each elimination step on an ``m x m`` block whose pivot has ``b`` bits
    costs ``12 m^2 b``, which adds up to about :math:`k^4 b` for a dense matrix whose entries grow
    as usual); past ``max_work`` the factorisation stops with :class:`OverLimit`.  Low-rank
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
            return False, f"pivot {step} is {float(to_fraction(v)):.3g} < 0"
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
                raise OverLimit(
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


def gershgorin(num: np.ndarray, den: int) -> Fraction:
    """Rigorous (often weak) lower bound :math:`\\min_i (Q_{ii} - \\sum_{j \\ne i} |Q_{ij}|)`."""
    a = num.astype(object)
    d = a.diagonal().copy()
    off = np.abs(a).sum(axis=1) - np.abs(d)
    return Fraction(int(min(d - off)), den)


def _dyadic(x: float, bits: int = 40) -> Fraction:
    """A short dyadic rational close to ``x`` (the proof does not need it to be close)."""
    m, e = np.frexp(x)
    return Fraction(int(round(float(m) * 2**bits))) * Fraction(2) ** (int(e) - bits)


def _power_below(x: float) -> Fraction:
    """The largest ``−2^k`` at most ``x < 0`` (``x`` itself when it is not negative and finite)."""
    if not (np.isfinite(x) and x < 0):
        return _dyadic(x) if np.isfinite(x) else Fraction(-(2**1000))
    return -Fraction(2) ** int(np.ceil(np.log2(-x)))


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
        return prove_psd_or_raise(gram, exact_limit, method, max_ldl_work)
    except OverLimit as e:
        g_lb = gershgorin(gram.numerators, gram.denominator)
        return False, min(g_lb, Fraction(0)), str(e)


def prove_psd_or_raise(
    gram: RationalMatrix, exact_limit: int, method: str, max_ldl_work: int
) -> tuple[bool, Fraction, str]:
    """:func:`prove_psd`, raising :class:`OverLimit` instead of skipping an oversized LDL^T."""
    num, den = gram.numerators, gram.denominator
    k = num.shape[0]
    if k == 0:
        return True, Fraction(0), "empty"
    g_lb = gershgorin(num, den)
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
        # a power of two: the float estimate's last bits (which differ between LAPACK builds on a nearly
        # singular block) then rarely change the proven bound
        t = _power_below(lam - delta)
        if _prove_shift(num, den, qf, t):
            return False, max(t, g_lb), detail
        delta *= 16
    return False, min(g_lb, Fraction(0)), detail

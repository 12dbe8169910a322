r"""The independent exact checker of SDPA dual-bound certificates (kind ``"sdpa_dual_bound"``).

A certificate (:class:`~sosrelax.certificate.sdp.SDPCertificate`) carries the data
:math:`c, F_0, \dots, F_m` of an SDPA problem and a block-diagonal rational matrix :math:`Y`.
The checker

1. recomputes :math:`F_i \bullet Y = \sum_{\text{blocks}} \sum_{r,s} (F_i)_{rs} Y_{rs}` exactly
   (integers over one common denominator) and requires :math:`F_i \bullet Y = c_i` *exactly*
   for :math:`i = 1, \dots, m`;
2. proves every block of :math:`Y` positive semidefinite: a diagonal block entry by entry, a
   full block by :func:`sosrelax.certificate.check.prove_psd` (exact :math:`LDL^T` or a
   float-guided exact congruence to a diagonally dominant matrix; floating point only proposes);
3. computes :math:`\beta = F_0 \bullet Y` exactly and requires :math:`\beta \ge \gamma`, the
   bound the file claims.

Then weak duality, :math:`c^T x = F_0 \bullet Y + X \bullet Y + \sum_i x_i (c_i - F_i \bullet Y)
= \beta + X \bullet Y \ge \beta` for every :math:`x` with :math:`X = \sum_i F_i x_i - F_0
\succeq 0`, proves that :math:`\beta` is a lower bound on the optimum of (P) — for the problem
written *in the certificate*.  Pass ``problem=`` to also verify that those data are exactly the
problem you care about; otherwise a certificate of a different problem proves nothing about
yours.

This module imports only the standard library, numpy and the certificate modules (format, the
PSD proofs of ``check``, and the file reader ``sdp``): it shares no code with the solvers or the
rounding whose output it checks.
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import numpy as np

from sosrelax.certificate.check import EXACT_LDL_LIMIT, CheckStatus, prove_psd
from sosrelax.certificate.format import DEFAULT_LIMITS, Limits, RationalMatrix, float_toward
from sosrelax.certificate.sdp import SDPCertificate
from sosrelax.errors import CertificateFormatError

__all__ = ["SDPCheckReport", "check_sdp_certificate", "exact_inner_products"]


@dataclass(frozen=True)
class SDPCheckReport:
    """What the checker proved about an SDPA dual-bound certificate.

    Attributes
    ----------
    valid : bool
        ``status is CheckStatus.VERIFIED``.
    status : CheckStatus
    bound : Fraction or None
        The proven lower bound :math:`F_0 \\bullet Y` on the optimum of (P) (exact; at least the
        claimed bound); ``None`` when rejected.
    claimed_bound : Fraction or None
        The bound the certificate claims (``None`` when the file could not be read).
    reason : str
        Why it was rejected, or how it was verified.
    max_equality_residual : float
        :math:`\\max_i |F_i \\bullet Y - c_i|` rounded to float (0.0 for a valid certificate).
    min_eigen_lower_bounds : tuple of float
        Per block, a rigorous lower bound on :math:`\\lambda_{\\min}` of that block of :math:`Y`
        (the smallest entry for a diagonal block), rounded to float; empty when the check stopped
        before the PSD proofs.
    time : float
        Seconds spent.
    """

    valid: bool
    status: CheckStatus
    bound: Fraction | None
    claimed_bound: Fraction | None
    reason: str
    max_equality_residual: float
    min_eigen_lower_bounds: tuple[float, ...]
    time: float

    @property
    def bound_float(self) -> float | None:
        """The proven bound rounded down to a float (still a valid lower bound), or ``None``."""
        return None if self.bound is None else float_toward(self.bound, down=True)

    def __repr__(self) -> str:
        b = "None" if self.bound is None else f"{float(self.bound):.12g}"
        return (
            f"SDPCheckReport(status={self.status.value}, bound={b}, reason={self.reason!r}, "
            f"time={self.time:.3f}s)"
        )


def _common(fracs: tuple[Fraction, ...]) -> tuple[np.ndarray, int]:
    """Integer numerators (object array) over the least common denominator."""
    den = 1
    for d in {f.denominator for f in fracs}:
        den = math.lcm(den, d)
    num = np.array([f.numerator * (den // f.denominator) for f in fracs], dtype=object)
    return num, den


def _dual_gather(cert: SDPCertificate) -> tuple[np.ndarray, int]:
    """:math:`Y` at every entry position of the problem, as integers over one denominator."""
    den = 1
    for y in cert.dual:
        den = math.lcm(den, y.denominator)
    out = np.empty(len(cert.value), dtype=object)
    order = np.argsort(cert.block, kind="stable")
    starts = np.searchsorted(cert.block[order], np.arange(len(cert.blocks) + 1))
    for b, (y, size) in enumerate(zip(cert.dual, cert.blocks, strict=True)):
        idx = order[starts[b] : starts[b + 1]]
        if idx.size == 0:
            continue
        scale = den // y.denominator
        num = y.numerators
        picked = num[cert.row[idx], cert.col[idx]] if size > 0 else num[0, cert.row[idx]]
        out[idx] = picked.astype(object) * scale
    return out, den


def exact_inner_products(cert: SDPCertificate) -> list[Fraction]:
    """:math:`[F_0 \\bullet Y, F_1 \\bullet Y, \\dots, F_m \\bullet Y]` in exact arithmetic.

    Only the upper triangle of each :math:`F_i` is stored, so an off-diagonal entry of a full
    block counts twice (:math:`F_{rs} Y_{rs} + F_{sr} Y_{sr}`); the lower triangle of :math:`Y`
    is never read (the checker proves symmetry separately).
    """
    m = cert.m
    n = len(cert.value)
    if n == 0:
        return [Fraction(0)] * (m + 1)
    fnum, fden = _common(cert.value)
    ynum, yden = _dual_gather(cert)
    full = np.asarray(cert.blocks, dtype=np.int64)[cert.block] > 0
    mult = np.where(full & (cert.row != cert.col), 2, 1).astype(object)
    prod = fnum * ynum * mult
    starts = np.searchsorted(cert.mat, np.arange(m + 1))
    present = starts < n
    present[present] &= cert.mat[starts[present]] == np.arange(m + 1)[present]
    sums = np.add.reduceat(prod, starts[present]) if present.any() else np.zeros(0, dtype=object)
    out = [Fraction(0)] * (m + 1)
    den = fden * yden
    for i, s in zip(np.flatnonzero(present).tolist(), sums.tolist(), strict=True):
        out[i] = Fraction(int(s), den)
    return out


def _drop_zero_rows(y: RationalMatrix) -> RationalMatrix:
    """The principal submatrix without the rows (and columns) that are exactly zero.

    A symmetric matrix is PSD iff that submatrix is; dropping the rows lets a face of the PSD
    cone (a structurally zero row of Y) be proven without an exact LDL^T of the whole block.
    """
    num = y.numerators
    keep = np.any(num != 0, axis=1)
    if keep.all():
        return y
    return RationalMatrix(num[np.ix_(keep, keep)], y.denominator)


def _same_problem(cert: SDPCertificate, problem: Any) -> str | None:
    """``None`` if the certificate's data are exactly ``problem``'s (binary64 values), else why."""
    blocks = tuple(int(b) for b in problem.blocks)
    if blocks != cert.blocks:
        return f"block sizes {cert.blocks[:8]} differ from the problem's {blocks[:8]}"
    c = np.asarray(problem.c, dtype=np.float64)
    if c.size != cert.m:
        return f"m = {cert.m} differs from the problem's {c.size}"
    for i, (a, b) in enumerate(zip(cert.c, c.tolist(), strict=True)):
        if a != Fraction(b):
            return f"c[{i + 1}] = {float(a)!r} differs from the problem's {b!r}"
    arrays = [np.asarray(getattr(problem, k), dtype=np.int64) for k in ("mat", "block", "row", "col")]
    mine = [cert.mat, cert.block, cert.row, cert.col]
    val = np.asarray(problem.value, dtype=np.float64)
    if val.size != len(cert.value) or any(
        not np.array_equal(a, b) for a, b in zip(arrays, mine, strict=True)
    ):
        return "the sparsity pattern of F_0..F_m differs from the problem's"
    for k, (a, b) in enumerate(zip(cert.value, val.tolist(), strict=True)):
        if a != Fraction(b):
            return (
                f"entry F{cert.mat[k]} block {cert.block[k] + 1} ({cert.row[k] + 1},"
                f"{cert.col[k] + 1}) = {float(a)!r} differs from the problem's {b!r}"
            )
    return None


def check_sdp_certificate(
    cert: SDPCertificate | str | os.PathLike[str] | bytes,
    *,
    problem: Any = None,
    exact_limit: int = EXACT_LDL_LIMIT,
    psd_method: str = "auto",
    limits: Limits = DEFAULT_LIMITS,
) -> SDPCheckReport:
    """Verify an SDPA dual-bound certificate exactly and report the lower bound it proves.

    Parameters
    ----------
    cert : SDPCertificate, path or bytes
        The certificate (a path or the file's bytes are read with size limits first).
    problem : SDPAProblem-like, optional
        Anything with ``c``, ``blocks``, ``mat``, ``block``, ``row``, ``col``, ``value`` arrays
        (an :class:`~sosrelax.sdpa.SDPAProblem`): the certificate is accepted only if its data
        are exactly these numbers.
    exact_limit, psd_method
        Passed to :func:`~sosrelax.certificate.check.prove_psd` for every full block.
    limits : Limits
        Reader limits when ``cert`` is a path or bytes.

    Returns
    -------
    SDPCheckReport
        ``VERIFIED`` with ``bound = F_0 • Y`` (a lower bound on min (P), exact) when
        :math:`F_i \\bullet Y = c_i` exactly, every block of :math:`Y` is proven PSD and
        :math:`F_0 \\bullet Y \\ge` the claimed bound; ``REJECTED`` with the reason otherwise.
        An unreadable file is a rejection too (the reason quotes the format error).
    """
    t0 = time.perf_counter()

    def reject(
        reason: str, claimed: Fraction | None, res: float = math.nan, mus: tuple[float, ...] = ()
    ) -> SDPCheckReport:
        return SDPCheckReport(
            False, CheckStatus.REJECTED, None, claimed, reason, res, mus, time.perf_counter() - t0
        )

    if not isinstance(cert, SDPCertificate):
        try:
            if isinstance(cert, bytes):
                cert = SDPCertificate.from_json(cert, limits=limits)
            else:
                cert = SDPCertificate.load(cert, limits=limits)
        except CertificateFormatError as e:
            return reject(f"unreadable certificate: {e}", None)
    claimed = cert.bound
    if problem is not None:
        why = _same_problem(cert, problem)
        if why is not None:
            return reject(f"not a certificate of the given problem: {why}", claimed)
    for i, (y, b) in enumerate(zip(cert.dual, cert.blocks, strict=True)):
        if b > 0 and not y.is_symmetric():
            return reject(f"dual block {i + 1} is not symmetric", claimed)
    dots = exact_inner_products(cert)
    res = [dots[i + 1] - cert.c[i] for i in range(cert.m)]
    bad = [i for i, r in enumerate(res) if r != 0]
    max_res = max((abs(float(r)) for r in res), default=0.0)
    if bad:
        i = bad[0]
        return reject(
            f"F_{i + 1} • Y − c_{i + 1} = {float(res[i]):.3g} ≠ 0 ({len(bad)} of {cert.m} "
            "equations fail; they must hold exactly)",
            claimed,
            max_res,
        )
    mus: list[float] = []
    for i, (y, b) in enumerate(zip(cert.dual, cert.blocks, strict=True)):
        if b < 0:
            num = y.numerators
            lo = Fraction(int(num.min()), y.denominator) if num.size else Fraction(0)
            mus.append(float(lo))
            if lo < 0:
                k = int(np.argmin(num[0]))
                return reject(
                    f"diagonal dual block {i + 1}: entry {k + 1} is {float(lo):.3g} < 0",
                    claimed,
                    max_res,
                    tuple(mus),
                )
            continue
        ok, mu, detail = prove_psd(_drop_zero_rows(y), exact_limit=exact_limit, method=psd_method)
        mus.append(float(mu))
        if not ok:
            return reject(
                f"dual block {i + 1} (order {b}) is not proven PSD: {detail}",
                claimed,
                max_res,
                tuple(mus),
            )
    beta = dots[0]
    if beta < claimed:
        return reject(
            f"F_0 • Y = {float(beta):.12g} is below the claimed bound {float(claimed):.12g}",
            claimed,
            max_res,
            tuple(mus),
        )
    return SDPCheckReport(
        True,
        CheckStatus.VERIFIED,
        beta,
        claimed,
        f"F_i • Y = c_i exactly for all {cert.m} constraints, {len(cert.blocks)} blocks of Y "
        f"proven PSD; min (P) ≥ F_0 • Y = {float(beta):.12g}",
        0.0,
        tuple(mus),
        time.perf_counter() - t0,
    )

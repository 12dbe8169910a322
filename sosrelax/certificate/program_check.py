r"""The independent exact checker of SOS program certificates (format ``"sosrelax-sos-program"``).

For a :class:`~sosrelax.certificate.program_format.ProgramCertificate` with unknowns :math:`d` it verifies,
in exact rational arithmetic:

* every SOS constraint: the polynomial identity
  :math:`p(x; d) = \sum_k b_k^T Q_k b_k \, g_{c_k}(x) + \sum_j \lambda_j(x) h_j(x)` coefficient by
  coefficient (:math:`g_{\text{None}} = 1`), and :math:`Q_k \succeq 0` for every Gram matrix
  (:func:`~sosrelax.certificate.psd.prove_psd`: diagonal dominance, an exact congruence or an exact
  :math:`LDL^T`);
* every coefficient equality :math:`e(x; d) \equiv 0` and every linear inequality :math:`e(d) \ge 0`;
* the objective value :math:`c_0 + c^T d`, which must equal the value the file states.

Together these prove that :math:`d` is a feasible point of the program (each :math:`p(\cdot; d)` is
nonnegative on its set), so the program's optimum is at most the objective value for a minimisation and
at least it for a maximisation.  Nothing is tolerated: there is no residual to absorb.

Only the standard library, numpy, python-flint and the certificate format modules are imported: no code
that built or solved the program is trusted.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from sosrelax.certificate.check import CheckStatus
from sosrelax.certificate.exactnum import Terms, as_rational_matrix
from sosrelax.certificate.exactpoly import (
    ExactPoly,
    OverLimit,
    Reject,
    combine,
    exact_poly,
    gram_poly,
    mul,
    to_fraction,
)
from sosrelax.certificate.limits import DEFAULT_LIMITS, Limits
from sosrelax.certificate.program_format import AffineTerms, ProgramCertificate, SOSProof
from sosrelax.certificate.psd import prove_psd
from sosrelax.errors import CertificateFormatError

__all__ = ["ProgramCheckReport", "check_program_certificate"]


@dataclass(frozen=True)
class ProgramCheckReport:
    """What the checker proved about an SOS program certificate.

    Attributes
    ----------
    valid : bool
        Every constraint holds exactly at the certificate's unknowns.
    status : CheckStatus
    sense : str or None
        ``"minimize"``, ``"maximize"`` or ``"feasibility"`` (``None`` for an unreadable file).
    objective : Fraction or None
        The objective value at the certificate's unknowns (recomputed), when valid: an upper bound of the
        program's optimum for a minimisation, a lower bound for a maximisation.
    reason : str
        How it was verified, or the first thing found wrong (naming the constraint).
    min_eigen_lower_bounds : tuple of float
        Per Gram matrix, a proven lower bound of its smallest eigenvalue (0.0 where PSD was proven without
        a margin).
    time : float
        Seconds spent.
    over_limit : bool
        Refused because checking would exceed a resource limit, not because it is wrong.
    """

    valid: bool
    status: CheckStatus
    sense: str | None
    objective: Fraction | None
    reason: str
    min_eigen_lower_bounds: tuple[float, ...] = ()
    time: float = 0.0
    over_limit: bool = False

    @property
    def claim_holds(self) -> bool:
        """Same as ``valid`` (the file claims feasibility with its stated objective value, nothing weaker)."""
        return self.valid

    def __repr__(self) -> str:
        obj = "None" if self.objective is None else f"{float(self.objective):.10g}"
        return f"ProgramCheckReport(status={self.status.value}, objective={obj}, reason={self.reason!r})"


def _affine_value(a: AffineTerms, d: list[Fraction], n: int, what: str) -> ExactPoly:
    """The exact polynomial :math:`\\sum_i (c_i + \\sum_k a_{ik} d_k) x^{\\alpha_i}`."""
    coef = list(a.constant)
    for i, k, v in a.linear:
        if not (0 <= i < len(coef) and 0 <= k < len(d)):
            raise Reject(f"{what}: a linear term refers to monomial {i} / unknown {k}, which do not exist")
        coef[i] += v * d[k]
    for e in a.exponents:
        if len(e) != n:
            raise Reject(f"{what}: an exponent has {len(e)} entries but there are {n} variables")
    terms: Terms = tuple(zip(a.exponents, coef, strict=True))
    return combine(*exact_poly(terms, n))


def _sub(a: ExactPoly, b: ExactPoly) -> ExactPoly:
    return combine(np.vstack([a[0], b[0]]), np.concatenate([a[1], -b[1]]))


def _degree(p: ExactPoly) -> int:
    return int(p[0].sum(axis=1).max()) if p[0].shape[0] else -1


def _check_sos(s: SOSProof, d: list[Fraction], names: tuple[str, ...], i: int, lim: Limits,
               eig: list[float]) -> None:
    n = len(names)
    what = f"sos[{i}] ({s.name or 'unnamed'})"
    total = _affine_value(s.expression, d, n, what)
    if _degree(total) > lim.max_degree:
        raise OverLimit(f"{what}: degree {_degree(total)} is over Limits.max_degree = {lim.max_degree}")
    ineqs = [combine(*exact_poly(g, n)) for g in s.inequalities]
    eqs = [combine(*exact_poly(h, n)) for h in s.equalities]
    work = 0
    for k, g in enumerate(s.grams):
        if g.constraint is not None and not 0 <= g.constraint < len(ineqs):
            raise Reject(f"{what}.grams[{k}]: constraint {g.constraint} is not an inequality index of the set")
        B = np.array(g.basis, dtype=np.int64).reshape(len(g.basis), n)
        top = 2 * int(B.sum(axis=1).max(initial=0))
        if g.constraint is not None:
            top += _degree(ineqs[g.constraint])
        if top > lim.max_degree:
            raise OverLimit(f"{what}.grams[{k}]: degree {top} is over Limits.max_degree = {lim.max_degree}")
        work += len(g.basis) ** 2 * (1 if g.constraint is None else max(1, ineqs[g.constraint][0].shape[0]))
        if work > lim.max_work:
            raise OverLimit(f"{what}: expanding the Gram forms passes Limits.max_work = {lim.max_work}")
        if len({tuple(b) for b in g.basis}) != len(g.basis):
            raise Reject(f"{what}.grams[{k}]: the basis repeats a monomial")
        gram = as_rational_matrix(g.gram)
        num = gram.numerators
        if not np.array_equal(num, num.T):
            raise Reject(f"{what}.grams[{k}]: the Gram matrix is not symmetric")
        ok, mu, detail = prove_psd(gram, max_ldl_work=lim.max_ldl_work)
        if not ok:
            if "Limits.max_ldl_work" in detail:
                raise OverLimit(f"{what}.grams[{k}]: {detail}")
            raise Reject(f"{what}.grams[{k}]: the Gram matrix is not PSD ({detail})")
        eig.append(float(mu))
        sigma = gram_poly(B, gram)
        if g.constraint is not None:
            sigma = mul(sigma, ineqs[g.constraint])
        total = _sub(total, sigma)
    for k, (j, lam) in enumerate(s.equality_multipliers):
        if not 0 <= j < len(eqs):
            raise Reject(f"{what}.equality_multipliers[{k}]: constraint {j} is not an equality index of the set")
        total = _sub(total, mul(combine(*exact_poly(lam, n)), eqs[j]))
    if total[0].shape[0]:
        e, c = total
        sizes = [abs(to_fraction(v)) for v in c]
        worst = sizes.index(max(sizes))
        mono = "*".join(f"{names[v]}^{p}" for v, p in enumerate(e[worst].tolist()) if p) or "1"
        raise Reject(f"{what}: the identity fails on {e.shape[0]} coefficient(s); e.g. the coefficient of {mono} "
                     f"is off by {float(to_fraction(c[worst])):.3g}")


def _check(cert: ProgramCertificate, lim: Limits, eig: list[float]) -> Fraction:
    n, d = len(cert.variables), list(cert.values)
    if len(d) != len(cert.decisions):
        raise Reject(f"{len(cert.decisions)} unknowns are named but {len(d)} values are given")
    for i, a in enumerate(cert.inequalities):
        v = _affine_value(a, d, n, f"inequalities[{i}]")
        if v[0].shape[0] and (np.any(v[0] != 0) or to_fraction(v[1][0]) < 0):
            raise Reject(f"inequalities[{i}]: the expression is "
                         + ("not constant in the variables" if np.any(v[0] != 0) else
                            f"negative ({float(to_fraction(v[1][0])):.3g})"))
    for i, a in enumerate(cert.equalities):
        v = _affine_value(a, d, n, f"equalities[{i}]")
        if v[0].shape[0]:
            raise Reject(f"equalities[{i}]: {v[0].shape[0]} coefficient(s) are nonzero")
    for i, s in enumerate(cert.sos):
        _check_sos(s, d, cert.variables, i, lim, eig)
    ob = cert.objective
    value = ob.constant
    for k, c in ob.linear:
        if not 0 <= k < len(d):
            raise Reject(f"objective: unknown {k} does not exist")
        value += c * d[k]
    if value != ob.value:
        raise Reject(f"objective: the unknowns give the value {float(value):.12g}, not the stated "
                     f"{float(ob.value):.12g}")
    return value


def check_program_certificate(cert: ProgramCertificate | str | os.PathLike[str], *,
                              limits: Limits = DEFAULT_LIMITS) -> ProgramCheckReport:
    """Verify an SOS program certificate exactly (see the module docstring).  Never raises on a bad proof.

    Parameters
    ----------
    cert : ProgramCertificate or path
    limits : Limits
        Resource limits; a certificate over one is refused (``over_limit``), never accepted unchecked.

    Returns
    -------
    ProgramCheckReport
        ``valid`` only when every constraint was verified exactly; ``objective`` is then the exact objective
        value of a feasible point.
    """
    t0 = time.perf_counter()
    if not isinstance(cert, ProgramCertificate):
        try:
            cert = ProgramCertificate.load(cert, limits=limits)
        except CertificateFormatError as e:
            return ProgramCheckReport(False, CheckStatus.REJECTED, None, None, f"unreadable: {e}",
                                      time=time.perf_counter() - t0)
    eig: list[float] = []
    try:
        value = _check(cert, limits, eig)
    except OverLimit as e:
        return ProgramCheckReport(False, CheckStatus.REJECTED, cert.objective.sense, None, str(e), tuple(eig),
                                  time.perf_counter() - t0, over_limit=True)
    except Reject as e:
        return ProgramCheckReport(False, CheckStatus.REJECTED, cert.objective.sense, None, str(e), tuple(eig),
                                  time.perf_counter() - t0)
    except (ValueError, TypeError, IndexError) as e:  # a malformed object built in memory, not read from a file
        return ProgramCheckReport(False, CheckStatus.REJECTED, cert.objective.sense, None,
                                  f"malformed certificate: {type(e).__name__}: {e}", tuple(eig), time.perf_counter() - t0)
    grams = sum(len(s.grams) for s in cert.sos)
    why = (f"verified: {len(cert.sos)} SOS constraint(s) with {grams} Gram matrices PSD and every identity exact, "
           f"{len(cert.equalities)} equalit(ies), {len(cert.inequalities)} inequalit(ies); objective "
           f"{float(value):.12g}")
    return ProgramCheckReport(True, CheckStatus.VERIFIED, cert.objective.sense, value, why, tuple(eig),
                              time.perf_counter() - t0)


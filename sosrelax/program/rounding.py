r"""From a floating-point solution of an SOS program to an exact certificate (untrusted: the checker decides).

Peyrl and Parrilo's rounding, constraint by constraint: the unknowns :math:`d` are rounded to dyadic
rationals (and, when the program has coefficient equalities, projected exactly onto them); the multipliers
:math:`\sigma_i` (:math:`i \ge 1`) and :math:`\lambda_j` are rounded; then :math:`\sigma_0`'s Gram matrix is
rounded and projected exactly onto the affine space of matrices that make the identity hold
(:func:`sosrelax.certificate.rational.project_gram`).  The result is PSD when the solver's
:math:`\sigma_0` had an eigenvalue margin larger than the solver's residual — the strict feasibility that
``sos(..., margin=...)`` asks for.  Every candidate goes through
:func:`~sosrelax.certificate.program_check.check_program_certificate`; only an accepted one is returned.
"""

from __future__ import annotations

from fractions import Fraction

import flint
import numpy as np
import scipy.linalg

from sosrelax.certificate.exactnum import RationalMatrix, Terms
from sosrelax.certificate.exactpoly import (
    ExactPoly,
    combine,
    exact_poly,
    gram_poly,
    mul,
    to_fraction,
)
from sosrelax.certificate.program_check import ProgramCheckReport, check_program_certificate
from sosrelax.certificate.program_format import (
    AffineTerms,
    GramTerm,
    ProgramCertificate,
    ProgramObjective,
    SOSProof,
)
from sosrelax.certificate.rational import project_gram
from sosrelax.poly import Polynomial
from sosrelax.program.build import CompiledProgram
from sosrelax.program.constraints import CoefficientEquality, LinearInequality
from sosrelax.program.expr import PolyExpr

__all__ = ["ROUNDING_BITS", "round_certificate"]

#: Binary digits after the point of the rounded unknowns and Gram entries, tried in order.
ROUNDING_BITS = (30, 44, 20)


def _q(v: float, bits: int) -> Fraction:
    return Fraction(int(round(float(v) * 2**bits)), 2**bits)


def _affine(e: PolyExpr) -> AffineTerms:
    """The exact affine terms of an expression laid out over the program's unknowns."""
    C = e.coef.tocoo()
    const = [Fraction(0)] * e.exps.shape[0]
    lin = []
    for r, c, v in zip(C.row.tolist(), C.col.tolist(), C.data.tolist(), strict=True):
        if c == 0:
            const[r] = Fraction(v)
        else:
            lin.append((r, c - 1, Fraction(v)))
    return AffineTerms(tuple(tuple(row) for row in e.exps.tolist()), tuple(const), tuple(sorted(lin)))


def _poly_terms(p: Polynomial) -> Terms:
    """The exact terms of a float polynomial (exponents and coefficients of the same object)."""
    return tuple((tuple(int(v) for v in row), Fraction(float(cf))) for row, cf in zip(p.exps, p.coefs, strict=True))


def _terms(p: ExactPoly) -> Terms:
    return tuple((tuple(int(v) for v in row), to_fraction(c)) for row, c in zip(p[0], p[1], strict=True))


def _exact(t: Terms, n: int) -> ExactPoly:
    return combine(*exact_poly(t, n))


def _value(a: AffineTerms, d: list[Fraction], n: int) -> ExactPoly:
    coef = list(a.constant)
    for i, k, v in a.linear:
        coef[i] += v * d[k]
    return _exact(tuple(zip(a.exponents, coef, strict=True)), n)


def _sub(a: ExactPoly, b: ExactPoly) -> ExactPoly:
    return combine(np.vstack([a[0], b[0]]), np.concatenate([a[1], -b[1]]))


def _grams_sum(blocks: list[tuple[tuple[tuple[int, ...], ...], RationalMatrix]], n: int) -> ExactPoly:
    polys = [gram_poly(np.array(b, dtype=np.int64).reshape(len(b), n), Q) for b, Q in blocks]
    return combine(np.vstack([p[0] for p in polys]), np.concatenate([p[1] for p in polys]))


def _round_gram(Q: np.ndarray, bits: int) -> RationalMatrix:
    S = 0.5 * (Q + Q.T)
    num = np.vectorize(int, otypes=[object])(np.round(S * 2.0**bits)) if S.size else np.zeros((0, 0), np.int64)
    return RationalMatrix(num, 2**bits)


def _clip_multiplier(Q: np.ndarray, bits: int, floor: bool = False) -> np.ndarray:
    r"""A multiplier's Gram matrix with negative eigenvalues clipped and the rows of diagonal entries that
    round to zero zeroed (a zero diagonal entry with a nonzero rounded off-diagonal one is never PSD); what
    this changes is absorbed by :math:`\sigma_0`'s projection, and the checker decides.  With ``floor``, the
    eigenvalues of the remaining rows are raised to a few units of the rounding step, so that rounding keeps
    the matrix definite (a singular multiplier at a tight optimum)."""
    S = 0.5 * (Q + Q.T)
    if S.size == 0:
        return S
    w, U = np.linalg.eigh(S)
    S = (U * np.maximum(w, 0.0)) @ U.T
    dead = np.diag(S) < 2.0 ** -bits
    S[dead, :] = 0.0
    S[:, dead] = 0.0
    if floor and not dead.all():
        live = np.flatnonzero(~dead)
        w, U = np.linalg.eigh(S[np.ix_(live, live)])
        S[np.ix_(live, live)] = (U * np.maximum(w, 4.0 * live.size * 2.0 ** -bits)) @ U.T
    return S


def _project_equalities(cp: CompiledProgram, d: list[Fraction]) -> list[Fraction]:
    """``d`` moved exactly onto the program's coefficient equalities (least-norm correction)."""
    rows: list[dict[int, Fraction]] = []
    rhs: list[Fraction] = []
    for c in cp.program.constraints:
        if not isinstance(c, CoefficientEquality):
            continue
        a = _affine(c.expr.aligned(cp.variables).with_blocks(cp.blocks))
        per: list[dict[int, Fraction]] = [{} for _ in a.exponents]
        for i, k, v in a.linear:
            per[i][k] = per[i].get(k, Fraction(0)) + v
        rows += per
        rhs += [-c0 for c0 in a.constant]
    if not rows:
        return d
    D = len(d)
    F = np.zeros((len(rows), D))
    for i, r in enumerate(rows):
        for k, v in r.items():
            F[i, k] = float(v)
    _, R, piv = scipy.linalg.qr(F.T, pivoting=True, mode="economic")
    diag = np.abs(np.diag(R)) if R.size else np.zeros(0)
    rank = int(np.sum(diag > 1e-10 * max(1.0, float(diag.max(initial=0.0)))))
    keep = sorted(piv[:rank].tolist())
    if not keep:
        return d
    A = flint.fmpq_mat(len(keep), D)
    for i, ri in enumerate(keep):
        for k, v in rows[ri].items():
            A[i, k] = flint.fmpq(v.numerator, v.denominator)
    dv = flint.fmpq_mat(D, 1, [flint.fmpq(x.numerator, x.denominator) for x in d])
    bv = flint.fmpq_mat(len(keep), 1, [flint.fmpq(rhs[i].numerator, rhs[i].denominator) for i in keep])
    At = A.transpose()
    try:
        y = (A * At).solve(A * dv - bv)
    except ZeroDivisionError:
        return d
    new = dv - At * y
    return [Fraction(int(new[k, 0].p), int(new[k, 0].q)) for k in range(D)]


def _pair_counts(basis: tuple[tuple[int, ...], ...]) -> dict[tuple[int, ...], int]:
    """How many ordered pairs ``(a, b)`` of the basis have ``b_a + b_b`` equal to each monomial."""
    B = np.array(basis, dtype=np.int64)
    pair = (B[:, None, :] + B[None, :, :]).reshape(len(basis) ** 2, -1)
    uniq, counts = np.unique(pair, axis=0, return_counts=True)
    return {tuple(int(v) for v in row): int(c) for row, c in zip(uniq.tolist(), counts.tolist(), strict=True)}


def _project_jointly(sigma0: list[tuple[tuple[tuple[int, ...], ...], RationalMatrix]], rest: Terms) -> bool:
    """Move the residual ``rest`` into the σ0 blocks (in place) by the orthogonal projection onto the identity
    over all blocks together: every Gram entry, in any block, whose pair produces ``α`` gets
    ``r_α / N_α`` with ``N_α`` the number of such entries in all blocks (what one Gram matrix on the union
    basis restricted to these blocks would get).  Blocks share monomials (cliques overlap; sign-symmetry
    classes both produce the invariant monomials), and sharing the residual keeps each block's margin.
    False when a monomial of the residual is produced by no block."""
    counts = [_pair_counts(basis) for basis, _ in sigma0]
    total: dict[tuple[int, ...], int] = {}
    for cnt in counts:
        for a, c in cnt.items():
            total[a] = total.get(a, 0) + c
    if any(e not in total for e, _ in rest):
        return False
    for k, (basis, Q) in enumerate(sigma0):
        share = tuple((e, c * counts[k][e] / total[e]) for e, c in rest if e in counts[k])
        Q, left = project_gram(basis, Q, share)
        if left:
            return False
        sigma0[k] = (basis, Q)
    return True


def _proofs(cp: CompiledProgram, x: np.ndarray, d: list[Fraction], bits: int, floor: bool
            ) -> list[SOSProof] | None:
    n = len(cp.variables)
    out = []
    for i, c, e in cp.sos:
        expr = _affine(e)
        total = _value(expr, d, n)
        ineqs = tuple(_poly_terms(g.with_variables(cp.variables)) for g in c.inequalities)
        eqs = tuple(_poly_terms(h.with_variables(cp.variables)) for h in c.equalities)
        grams: list[GramTerm] = []
        sigma0: list[tuple[tuple[tuple[int, ...], ...], RationalMatrix]] = []
        for g in cp.grams:
            if g.constraint != i:
                continue
            Q = _round_gram(g.gram(x) if g.role is None else _clip_multiplier(g.gram(x), bits, floor), bits)
            basis = tuple(tuple(int(v) for v in row) for row in g.basis.tolist())
            if g.role is None:
                sigma0.append((basis, Q))
                continue
            grams.append(GramTerm(g.role, basis, Q))
            total = _sub(total, mul(gram_poly(g.basis, Q), _exact(ineqs[g.role], n)))
        mults = []
        for m in cp.multipliers:
            if m.constraint != i:
                continue
            coefs = x[m.offset:m.offset + m.basis.shape[0]]
            lam: Terms = tuple((tuple(int(v) for v in row), _q(cf, bits)) for row, cf in
                               zip(m.basis.tolist(), coefs, strict=True) if _q(cf, bits) != 0)
            mults.append((m.role, lam))
            total = _sub(total, mul(_exact(lam, n), _exact(eqs[m.role], n)))
        if sigma0:
            if not _project_jointly(sigma0, _terms(_sub(total, _grams_sum(sigma0, n)))):
                return None
            grams[:0] = [GramTerm(None, basis, Q) for basis, Q in sigma0]
        elif total[0].shape[0]:
            return None
        out.append(SOSProof(c.name or f"constraint {i}", c.cone, expr, ineqs, eqs, tuple(grams), tuple(mults)))
    return out


def _candidate(cp: CompiledProgram, x: np.ndarray, bits: int, metadata: dict[str, str], floor: bool = False
               ) -> ProgramCertificate | None:
    D = cp.ndecisions
    d = _project_equalities(cp, [_q(v, bits) for v in x[:D]])
    proofs = _proofs(cp, x, d, bits, floor)
    if proofs is None:
        return None
    obj = _affine(cp.program.objective.with_blocks(cp.blocks))
    const = sum(obj.constant, Fraction(0))
    lin: dict[int, Fraction] = {}
    for _, k, v in obj.linear:
        lin[k] = lin.get(k, Fraction(0)) + v
    value = const + sum((v * d[k] for k, v in lin.items()), Fraction(0))
    eqs: list[AffineTerms] = []
    ineqs: list[AffineTerms] = []
    for c in cp.program.constraints:
        if isinstance(c, (CoefficientEquality, LinearInequality)):
            a = _affine(c.expr.aligned(cp.variables).with_blocks(cp.blocks))
            (eqs if isinstance(c, CoefficientEquality) else ineqs).append(a)
    names = tuple(label for b in cp.blocks for label in b.labels)
    return ProgramCertificate(
        variables=cp.variables, decisions=names, values=tuple(d),
        objective=ProgramObjective(cp.program.sense, const, tuple(sorted(lin.items())), value),
        sos=tuple(proofs), equalities=tuple(eqs), inequalities=tuple(ineqs),
        metadata={**metadata, "rounding_bits": str(bits)})


def round_certificate(cp: CompiledProgram, x: np.ndarray, metadata: dict[str, str] | None = None
                      ) -> tuple[ProgramCertificate | None, ProgramCheckReport | None, str]:
    """An exact certificate of the solution ``x`` of ``cp.conic`` that the checker accepts, or ``None``.

    Returns
    -------
    certificate : ProgramCertificate or None
        Only a certificate the independent checker verified.
    report : ProgramCheckReport or None
        The checker's report of the returned certificate, or of the last candidate it refused.
    why : str
        What happened, in one sentence.
    """
    report = None
    why = "no rounding of the solution satisfies the identities exactly (a monomial no Gram matrix can hold)"
    for bits, floor in ((b, f) for b in ROUNDING_BITS for f in (False, True)):
        cert = _candidate(cp, np.asarray(x, dtype=float), bits, dict(metadata or {}), floor)
        if cert is None:
            continue
        report = check_program_certificate(cert)
        if report.valid:
            return cert, report, f"certificate verified ({bits}-bit rounding)"
        why = f"the rounded certificate was refused: {report.reason}"
    return None, report, why

"""From a solved relaxation's conic dual to a (floating-point) certificate.

Nothing here is trusted: the certificate it builds is made exact by :func:`sosrelax.certificate.rational.rationalize`
and then proven or rejected by :func:`sosrelax.certificate.check.check_certificate`.
"""

from __future__ import annotations

from fractions import Fraction

import flint
import numpy as np

from sosrelax.certificate.format import (
    Certificate,
    EqualityMultiplier,
    RationalMatrix,
    SOSMultiplier,
    as_rational_matrix,
    gram_from_array,
    terms_from_arrays,
)
from sosrelax.poly import Polynomial
from sosrelax.problem import Problem, Sense
from sosrelax.relax.moment import MomentRelaxation
from sosrelax.relax.scaling import Scaling, exact_affine_substitute, substitution_matrix

__all__ = [
    "certificate_from_centered_dual",
    "certificate_from_moment_dual",
    "problem_terms",
    "unscale_certificate",
]


def _terms(p: Polynomial, variables: tuple[str, ...]) -> tuple:
    return terms_from_arrays(p.aligned(variables), np.asarray(p.coefs, dtype=float))


def problem_terms(problem: Problem, variables: tuple[str, ...]) -> tuple[tuple, tuple, tuple]:
    """The objective, inequalities and equalities of ``problem`` as exact term tuples."""
    return (
        _terms(problem.objective, variables),
        tuple(_terms(g, variables) for g in problem.inequalities),
        tuple(_terms(h, variables) for h in problem.equalities),
    )


def certificate_from_moment_dual(
    relax: MomentRelaxation,
    z: np.ndarray,
    *,
    infeasible: bool = False,
    metadata: dict[str, str] | None = None,
) -> Certificate:
    """Read the Putinar certificate off the dual vector ``z`` of a solved moment relaxation.

    For a minimisation the identity is ``f − γ = σ₀ + Σ σ_i g_i + Σ λ_j h_j`` with ``γ = −z_0`` (the dual of the
    normalisation row); for a maximisation ``γ' − f = …`` with ``γ' = z_0``.  With ``infeasible=True``, ``z`` is a
    Farkas certificate of the moment side (``bᵀz < 0``) and is normalised to ``−1 = σ₀ + Σ σ_i g_i + Σ λ_j h_j``.

    The Gram matrices are the program's dual PSD blocks as floats; the result is not yet exact.
    """
    f_terms = problem_terms(relax.problem, relax.variables)[0]
    z = np.asarray(z, dtype=float)
    if infeasible:
        # bᵀz = z_0 < 0 and Aᵀz ≈ 0: the identity 0 = −z_0·1 + Σ ⟨B_α, Z⟩ x^α + … ; divide by −z_0 > 0
        scale = -1.0 / z[0] if z[0] < 0 else 1.0
        z = z * scale
        kind = "infeasible"
        bound = Fraction(0)
        objective: tuple = ()
    else:
        gamma = -float(z[0])
        if relax.problem.sense is Sense.MINIMIZE:
            kind, bound = "lower_bound", Fraction(gamma)
        else:
            kind, bound = "upper_bound", Fraction(-gamma)
        objective = f_terms
    return _assemble(relax, relax.gram_matrices(z), relax.equality_multipliers(z), kind, bound, objective,
                     metadata)


def certificate_from_centered_dual(
    relax: MomentRelaxation,
    z: np.ndarray,
    gamma: float,
    *,
    metadata: dict[str, str] | None = None,
) -> Certificate:
    """Read the certificate off the dual of :func:`~sosrelax.relax.moment.centered_feasibility_program`.

    There the Gram matrices are ``Z_i + t·I`` with ``t = −z_0`` the margin of definiteness, and the bound is the
    ``gamma`` the program was built for (on ``sign·f``).
    """
    z = np.asarray(z, dtype=float)
    t = -float(z[0])
    grams = [Q + t * np.eye(Q.shape[0]) for Q in relax.gram_matrices(z)]
    if relax.problem.sense is Sense.MINIMIZE:
        kind, bound = "lower_bound", Fraction(gamma)
    else:
        kind, bound = "upper_bound", Fraction(-gamma)
    f_terms = problem_terms(relax.problem, relax.variables)[0]
    meta = dict(metadata or {})
    meta["gram_margin"] = repr(t)
    return _assemble(relax, grams, relax.equality_multipliers(z), kind, bound, f_terms, meta)


def _assemble(
    relax: MomentRelaxation,
    grams: list[np.ndarray],
    lams: list[np.ndarray],
    kind: str,
    bound: Fraction,
    objective: tuple,
    metadata: dict[str, str] | None,
) -> Certificate:
    _, ineq, eq = problem_terms(relax.problem, relax.variables)
    sos = []
    for blk, Q in zip(relax.gram_blocks, grams, strict=True):
        Q = 0.5 * (Q + Q.T)
        sos.append(
            SOSMultiplier(
                constraint=blk.constraint,
                basis=tuple(tuple(int(e) for e in row) for row in blk.basis),
                gram=gram_from_array(Q),
                cone="psd",
            )
        )
    eqm = []
    for blk, lam in zip(relax.equality_blocks, lams, strict=True):
        eqm.append(EqualityMultiplier(constraint=blk.constraint, poly=terms_from_arrays(blk.basis, lam)))
    return Certificate(
        variables=relax.variables,
        kind=kind,
        objective=objective,
        bound=bound,
        inequalities=ineq,
        equalities=eq,
        sos=tuple(sos),
        equality_multipliers=tuple(eqm),
        products=(),
        box=None,
        metadata=dict(metadata or {}),
    )


def _to_fmpq(M: RationalMatrix) -> flint.fmpq_mat:
    num = M.numerators
    return flint.fmpq_mat(flint.fmpz_mat([[int(v) for v in row] for row in num])) / M.denominator


def _from_fmpq(M: flint.fmpq_mat) -> RationalMatrix:
    num, den = M.numer_denom()
    k = M.nrows()
    arr = np.empty((k, M.ncols()), dtype=object)
    entries = num.entries()
    for i in range(k):
        for j in range(M.ncols()):
            arr[i, j] = int(entries[i * M.ncols() + j])
    return RationalMatrix(arr, int(den))


def _exact_terms(p: dict[tuple[int, ...], Fraction]) -> tuple:
    return tuple(sorted((k, v) for k, v in p.items() if v != 0))


def unscale_certificate(cert: Certificate, scaling: Scaling, problem: Problem) -> Certificate:
    """Map an exact certificate for ``scaling.scaled_problem`` to one for the user's ``problem``, exactly.

    With ``u = (x − c)/s`` and ``b(u(x)) = T b(x)``: ``Q_x = (κ_f / κ_i) Tᵀ Q_u T``, ``λ_x(x) = (κ_f / κ_j)
    λ_u(u(x))``, ``γ_x = κ_f γ_u`` (``κ_f = 1`` for an infeasibility certificate).  Congruence keeps every
    Gram matrix positive semidefinite.  The result is re-checked by the checker like any other certificate.
    """
    variables = scaling.variables
    kf = Fraction(1) if cert.kind == "infeasible" else scaling.objective_factor
    ic, iscale = scaling.inverse_center, scaling.inverse_scale
    cache: dict[int, flint.fmpq_mat] = {}
    sos = []
    for m in cert.sos:
        basis = np.array(m.basis, dtype=np.int64).reshape(len(m.basis), len(variables))
        k = basis.shape[0]
        if k not in cache:
            T = substitution_matrix(basis, ic, iscale)
            cache[k] = flint.fmpq_mat([[flint.fmpq(v.numerator, v.denominator) for v in row] for row in T])
        T = cache[k]
        factor = kf if m.constraint is None else kf / scaling.inequality_factors[m.constraint]
        Qx = T.transpose() * _to_fmpq(as_rational_matrix(m.gram)) * T
        Qx = Qx * flint.fmpq(factor.numerator, factor.denominator)
        sos.append(SOSMultiplier(constraint=m.constraint, basis=m.basis, gram=_from_fmpq(Qx), cone=m.cone))
    eqm = []
    for e in cert.equality_multipliers:
        factor = kf / scaling.equality_factors[e.constraint]
        lam = exact_affine_substitute(dict(e.poly), ic, iscale)
        eqm.append(EqualityMultiplier(constraint=e.constraint,
                                      poly=_exact_terms({a: v * factor for a, v in lam.items()})))
    f_terms, ineq, eq = problem_terms(problem, variables)
    return Certificate(
        variables=variables,
        kind=cert.kind,
        objective=() if cert.kind == "infeasible" else f_terms,
        bound=cert.bound * kf,
        inequalities=ineq,
        equalities=eq,
        sos=tuple(sos),
        equality_multipliers=tuple(eqm),
        products=(),
        box=None,
        metadata=dict(cert.metadata, scaling="affine"),
    )

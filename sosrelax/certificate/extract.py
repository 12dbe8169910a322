"""From a solved relaxation's conic dual to a (floating-point) certificate.

Nothing here is trusted: the certificate it builds is made exact by :func:`sosrelax.certificate.rational.rationalize`
and then proven or rejected by :func:`sosrelax.certificate.check.check_certificate`.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np

from sosrelax.certificate.format import (
    Certificate,
    EqualityMultiplier,
    SOSMultiplier,
    gram_from_array,
    terms_from_arrays,
)
from sosrelax.poly import Polynomial
from sosrelax.problem import Problem, Sense
from sosrelax.relax.moment import MomentRelaxation

__all__ = ["certificate_from_moment_dual", "problem_terms"]


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
    variables = relax.variables
    f_terms, ineq, eq = problem_terms(relax.problem, variables)
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
    sos = []
    for blk, Q in zip(relax.gram_blocks, relax.gram_matrices(z), strict=True):
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
    for blk, lam in zip(relax.equality_blocks, relax.equality_multipliers(z), strict=True):
        eqm.append(EqualityMultiplier(constraint=blk.constraint, poly=terms_from_arrays(blk.basis, lam)))
    return Certificate(
        variables=variables,
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

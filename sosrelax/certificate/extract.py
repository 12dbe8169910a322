"""From a solved relaxation's conic dual to a (floating-point) certificate.

Nothing here is trusted: the certificate it builds is made exact by :func:`sosrelax.certificate.rational.rationalize`
and then proven or rejected by :func:`sosrelax.certificate.check.check_certificate`.
"""

from __future__ import annotations

from dataclasses import replace
from fractions import Fraction

import numpy as np

from sosrelax.certificate.exactnum import register_int_basis
from sosrelax.certificate.format import (
    Certificate,
    EqualityMultiplier,
    ProductMultiplier,
    RationalMatrix,
    SOSMultiplier,
    as_rational_matrix,
    canonical_terms,
    gram_from_array,
    terms_from_arrays,
)
from sosrelax.errors import InvalidValueError
from sosrelax.poly import Polynomial
from sosrelax.problem import Problem, Sense
from sosrelax.relax.moment import MomentRelaxation
from sosrelax.relax.scaling import Scaling

__all__ = [
    "certificate_from_centered_dual",
    "certificate_from_grams",
    "certificate_from_moment_dual",
    "problem_terms",
    "with_substitution",
]


def _terms(p: Polynomial, variables: tuple[str, ...]) -> tuple:
    return terms_from_arrays(p.aligned(variables), np.asarray(p.coefs, dtype=float))


#: ``problem_terms`` of the last few problems, by ``id(problem)``: ``(problem, variables, terms)`` (the entry
#: holds the problem, so its id stays its own).  Every certificate of one proof search lists the same objects,
#: which the checker then recognises instead of converting them again.
_TERMS: dict[int, tuple[Problem, tuple[str, ...], tuple[tuple, tuple, tuple]]] = {}
_TERMS_MAX = 8


def problem_terms(problem: Problem, variables: tuple[str, ...]) -> tuple[tuple, tuple, tuple]:
    """The objective, inequalities and equalities of ``problem`` as exact term tuples (the same objects
    for the same problem and variables; a :class:`~sosrelax.problem.Problem` is not changed after it is built)."""
    hit = _TERMS.get(id(problem))
    if hit is not None and hit[0] is problem and hit[1] == variables:
        return hit[2]
    out = (
        canonical_terms(_terms(problem.objective, variables)),
        tuple(canonical_terms(_terms(g, variables)) for g in problem.inequalities),
        tuple(canonical_terms(_terms(h, variables)) for h in problem.equalities),
    )
    if len(_TERMS) >= _TERMS_MAX:
        _TERMS.pop(next(iter(_TERMS)))
    _TERMS[id(problem)] = (problem, tuple(variables), out)
    return out


def _problem(relax: MomentRelaxation) -> Problem:
    if relax.problem is None:
        raise InvalidValueError(
            "this relaxation was built from a PolynomialSystem without a Problem; certificates need the "
            "Problem (build it with build_moment_relaxation(problem, ...))"
        )
    return relax.problem


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
    f_terms = problem_terms(_problem(relax), relax.variables)[0]
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
        if _problem(relax).sense is Sense.MINIMIZE:
            kind, bound = "lower_bound", Fraction(gamma)
        else:
            kind, bound = "upper_bound", Fraction(-gamma)
        objective = f_terms
    return _assemble(relax, relax.gram_matrices(z), relax.equality_multipliers(z),
                     relax.product_coefficients(z), kind, bound, objective, metadata)


def certificate_from_centered_dual(
    relax: MomentRelaxation,
    z: np.ndarray,
    gamma: float,
    *,
    metadata: dict[str, str] | None = None,
    margins: np.ndarray | None = None,
) -> Certificate:
    """Read the certificate off the dual of :func:`~sosrelax.relax.moment.centered_feasibility_program`.

    There the Gram matrices are ``Z_i + t·I`` with ``t = −z_0`` the margin of definiteness, and the bound is the
    ``gamma`` the program was built for (on ``sign·f``).  With ``margins``, Gram block ``i`` is
    ``Z_i + (t + margins[i])·I`` instead (nothing is trusted: the exact rounding and the checker decide).
    """
    z = np.asarray(z, dtype=float)
    t = -float(z[0])
    extra = np.zeros(len(relax.gram_blocks)) if margins is None else np.asarray(margins, dtype=float)
    grams = [Q + (t + m) * np.eye(Q.shape[0]) for Q, m in zip(relax.gram_matrices(z), extra, strict=True)]
    coefficients = relax.product_coefficients(z) + t
    if _problem(relax).sense is Sense.MINIMIZE:
        kind, bound = "lower_bound", Fraction(gamma)
    else:
        kind, bound = "upper_bound", Fraction(-gamma)
    f_terms = problem_terms(_problem(relax), relax.variables)[0]
    meta = dict(metadata or {})
    meta["gram_margin"] = repr(t)
    return _assemble(relax, grams, relax.equality_multipliers(z), coefficients, kind, bound, f_terms, meta)


def certificate_from_grams(
    relax: MomentRelaxation,
    grams: list[np.ndarray],
    gamma: float,
    *,
    metadata: dict[str, str] | None = None,
) -> Certificate:
    """A certificate of the bound ``gamma`` (on ``sign·f``) from Gram matrices of the σ₀ blocks computed
    elsewhere (:mod:`sosrelax.relax.minface`); the relaxation must have no other multipliers."""
    if relax.equality_blocks or relax.products or any(blk.constraint is not None for blk in relax.gram_blocks):
        raise InvalidValueError("certificate_from_grams takes relaxations whose only multipliers are σ₀ blocks")
    if _problem(relax).sense is Sense.MINIMIZE:
        kind, bound = "lower_bound", Fraction(gamma)
    else:
        kind, bound = "upper_bound", Fraction(-gamma)
    f_terms = problem_terms(_problem(relax), relax.variables)[0]
    return _assemble(relax, grams, [], np.zeros(0), kind, bound, f_terms, metadata)


def _assemble(
    relax: MomentRelaxation,
    grams: list[np.ndarray],
    lams: list[np.ndarray],
    coefficients: np.ndarray,
    kind: str,
    bound: Fraction,
    objective: tuple,
    metadata: dict[str, str] | None,
) -> Certificate:
    _, ineq, eq = problem_terms(_problem(relax), relax.variables)
    n = len(relax.variables)
    sos = []
    for blk, rows, Q in zip(relax.gram_blocks, relax.basis_rows, grams, strict=True):
        register_int_basis(rows)  # tuples of ints by construction (MomentRelaxation.basis_rows)
        Q = 0.5 * (Q + Q.T)
        sos.append(
            SOSMultiplier(
                constraint=blk.constraint,
                basis=rows,
                gram=gram_from_array(Q),
                cone=blk.cone if blk.cone in ("psd", "dd", "sdd") else "psd",
            )
        )
    eqm = []
    for eblk, lam in zip(relax.equality_blocks, lams, strict=True):
        eqm.append(EqualityMultiplier(constraint=eblk.constraint,
                                      poly=terms_from_arrays(eblk.full_basis(n), lam)))
    prods = tuple(
        ProductMultiplier(constraints=cons, coefficient=Fraction(max(0.0, float(c))))
        for cons, c in zip(relax.products, coefficients, strict=True)
    )
    return Certificate(
        variables=relax.variables,
        kind=kind,
        objective=objective,
        bound=bound,
        inequalities=ineq,
        equalities=eq,
        sos=tuple(sos),
        equality_multipliers=tuple(eqm),
        products=prods,
        box=None,
        metadata=dict(metadata or {}),
    )


def with_substitution(cert: Certificate, scaling: Scaling, problem: Problem) -> Certificate:
    """Restate a float certificate of ``scaling.scaled_problem`` as one of the user's ``problem``.

    The multipliers stay in the scaled variables ``u`` and the certificate records the change of variables
    ``x = c + s·u``; the checker substitutes it into the user's polynomials itself.  Only the polynomial
    factors need undoing, and they are powers of two (exact in floating point):
    ``f(c + s·u) − κ_f γ = Σ (κ_f / κ_i) σ_i g_i(c + s·u) + Σ (κ_f / κ_j) λ_j h_j(c + s·u)
    + Σ_a (κ_f / Π_{i∈a} κ_i) c_a Π_{i∈a} g_i(c + s·u)``
    (``κ_f = 1`` for an infeasibility certificate).
    """
    kf = Fraction(1) if cert.kind == "infeasible" else scaling.objective_factor
    sos = []
    for m in cert.sos:
        factor = kf if m.constraint is None else kf / scaling.inequality_factors[m.constraint]
        g = as_rational_matrix(m.gram)
        sos.append(replace(m, gram=RationalMatrix(g.numerators.astype(object) * factor.numerator,
                                                  g.denominator * factor.denominator)))
    eqm = []
    for e in cert.equality_multipliers:
        factor = kf / scaling.equality_factors[e.constraint]
        eqm.append(EqualityMultiplier(e.constraint, tuple((a, v * factor) for a, v in e.poly)))
    prods = []
    for pm in cert.products:
        factor = kf
        for i in pm.constraints:
            factor /= scaling.inequality_factors[i]
        prods.append(ProductMultiplier(pm.constraints, pm.coefficient * factor))
    f_terms, ineq, eq = problem_terms(problem, scaling.variables)
    return Certificate(
        variables=scaling.variables,
        kind=cert.kind,
        objective=() if cert.kind == "infeasible" else f_terms,
        bound=cert.bound * kf,
        inequalities=ineq,
        equalities=eq,
        sos=tuple(sos),
        equality_multipliers=tuple(eqm),
        products=tuple(prods),
        box=cert.box,
        metadata=dict(cert.metadata, scaling="affine"),
        substitution=scaling.substitution,
    )

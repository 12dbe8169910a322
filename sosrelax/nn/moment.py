"""Moment rungs on a network encoding: Shor's SDP (SDP-cert, or with the LP rung's products) and
SOS level 2, with optimisers read off the moments.

The polynomial problem is the encoding of :mod:`sosrelax.nn.encode` (every linear fact of the
chain is an inequality ``g >= 0``, every neuron gives ``h (h - z) = 0``), optionally with products
of two facts ``g_i g_j >= 0`` as extra inequalities.  A product is a derived inequality: its lemma
is the one-term certificate ``g_i g_j - 0 = 1 · g_i g_j``.  The three quadratic forms are

``SdpForm.SDP_CERT``
    Shor's relaxation of the *base* encoding (``h >= 0``, ``h >= z``, ``h (h - z) = 0``) with the
    input box and the hidden bounds written as products ``(x - l)(u - x) >= 0`` and
    ``h (u_h - h) >= 0`` (interval bounds when the chain was built with ``method="interval"``).
    This is the SDP-cert relaxation of Raghunathan, Steinhardt and Liang (NeurIPS 2018).
``SdpForm.FACTS``
    Every linear fact of the chain, no products: the moment matrix cannot couple them, so this is
    the triangle LP.
``SdpForm.WITH_LP``
    Every linear fact plus the LP rung's products (input box sides, ``h (u - z)`` and
    ``(h - z)(z - l)`` of every unstable neuron) and ``h (u_h - h)`` of every neuron: never looser
    than the LP rung, nor than ``SDP_CERT`` on the same chain.

Both product forms are solved by :func:`~sosrelax.nn.shor.fast_sdp`: one conic program built directly over the
moments of degree <= 2 (the constraint matrix is shared by every objective over the same chain),
the certificate made exact without rescaling or a second solve (every variable has a box product,
which makes the Gram matrix positive definite at a loss of about ``1e-9`` in the bound).

``sdp_bound(..., sparsity="cliques")`` (:func:`~sosrelax.nn.shor.sparse_sdp`) solves the product forms with one PSD
block per clique of a chordal extension of the constraints' sparsity pattern, leaving out the
products that couple two inputs; its certificate has one Gram block per clique.

SOS level 2 (:func:`sos_bound`) relaxes the same problem with ``SdpForm.WITH_LP`` constraints and
moments of degree 4.  Every bound is the checker's (:func:`~sosrelax.certificate.check.check_certificate`
verifies the certificate together with the chain's lemmas); the solver's number is never reported.
"""


from __future__ import annotations

import time
from dataclasses import dataclass, replace
from fractions import Fraction
from typing import Any

import numpy as np

from sosrelax.certificate.check import check_certificate
from sosrelax.certificate.format import Certificate, Terms
from sosrelax.nn.chain import Chain, Lin
from sosrelax.nn.shor import (
    SdpForm,
    fast_sdp,
    form_products,
    product_lemma,
    shor_sparse,
    sparse_sdp,
)

__all__ = ["SPARSE_ABOVE", "MomentBound", "SdpForm", "auto_sparsity", "chain_problem", "optimisers",
           "sdp_bound", "sos_bound"]


@dataclass(frozen=True)
class MomentBound:
    """A proven lower bound of a linear form from a moment rung.

    Attributes
    ----------
    bound : float or None
        The checker's lower bound of ``f`` on the encoding (``None``: nothing proven).
    certificate : Certificate or None
        The verified certificate, lemma chain attached.
    message : str
    result : SolveResult or None
        The :func:`sosrelax.solve` result (moments in ``result.pseudo``).
    """

    bound: float | None
    certificate: Certificate | None
    message: str
    result: Any = None



def chain_problem(chain: Chain, f: Lin, form: SdpForm = SdpForm.WITH_LP
                  ) -> tuple[Any, list[Certificate], set[frozenset[Any]]]:
    """The polynomial problem ``minimise f`` over the encoding, with the lemmas it relies on.

    Returns ``(problem, lemmas, derived_terms)``: the :class:`~sosrelax.problem.Problem`, the lemma
    chain (the chain's lemmas, then one per product) and the term sets of every derived inequality
    (so that a certificate's ``derived`` indices can be recovered from its inequalities).
    """
    return _chain_problem(chain, f, form)[:3]


def _chain_problem(chain: Chain, f: Lin, form: SdpForm
                   ) -> tuple[Any, list[Certificate], set[frozenset[Any]], list[Terms]]:
    """The polynomial problem ``minimise f`` over the encoding, with the lemmas it relies on.

    Returns ``(problem, lemmas, derived_terms)``: the :class:`~sosrelax.problem.Problem`, the lemma
    chain (the chain's lemmas, then one per product) and the term sets of every derived inequality
    (so that a certificate's ``derived`` indices can be recovered from its inequalities).
    """
    from sosrelax.poly import Polynomial
    from sosrelax.problem import Problem

    n = chain.n
    names = chain.variables

    def poly(terms: Terms) -> Polynomial:
        if not terms:
            return Polynomial.zero(names)
        exps = np.array([e for e, _ in terms], dtype=np.int64).reshape(-1, n)
        coefs = np.array([float(c) for _, c in terms])
        return Polynomial(exps, coefs, names)

    pairs = form_products(chain, form) if form is not SdpForm.FACTS else []  # may add h <= u facts
    derived = set(chain.derived)
    if form is SdpForm.SDP_CERT:
        used = sorted({i for i in chain.box_lo + chain.box_hi}
                      | {k for layer in chain.layers for nr in layer for k in (nr.e1, nr.e2)})
    else:
        used = list(range(len(chain.inequalities)))
    ineqs: list[Terms] = [chain.inequalities[i] for i in used]
    lemmas = list(chain.lemmas)
    derived_terms = {frozenset(chain.inequalities[i]) for i in chain.derived}
    for i, j in pairs:
        lem = product_lemma(chain, i, j, derived)
        lemmas.append(lem)
        ineqs.append(lem.objective)
        derived_terms.add(frozenset(lem.objective))
    problem = Problem(
        minimize=poly(chain.terms(f)),
        subject_to=[poly(g) >= 0 for g in ineqs] + [poly(h) == 0 for h in chain.equalities],
        variables=names,
    )
    return problem, lemmas, derived_terms, ineqs


def exact_constraints(cert: Certificate, ineqs: list[Terms], eqs: list[Terms]) -> Certificate:
    """The certificate restated over the chain's exact constraints.

    :func:`sosrelax.solve` sees float coefficients, and a product of two float linear forms (or a
    bound like ``x0 + eps``) is not always a float, so the certificate it returns may list the
    nearest floats of the chain's constraints.  Its constraints are in the problem's order; each is
    replaced by the exact one it approximates (same monomials, coefficients within ``1e-9``
    relative), and the checker then absorbs the tiny change in the identity like any residual.
    """
    if len(cert.inequalities) != len(ineqs) or len(cert.equalities) != len(eqs):
        return cert

    def close(a: Terms, b: Terms) -> bool:
        da, db = dict(a), dict(b)
        if set(da) != set(db):
            return False
        return all(abs(float(da[e]) - float(db[e])) <= 1e-9 * (1 + abs(float(db[e]))) for e in da)

    if not all(close(a, b) for a, b in zip(cert.inequalities, ineqs, strict=True)):
        return cert
    if not all(close(a, b) for a, b in zip(cert.equalities, eqs, strict=True)):
        return cert
    box = cert.box
    if box is not None:
        # the solver's box is implied by the float constraints; widen it by far more than their
        # distance to the exact ones so that the exact constraints imply it too
        pad = Fraction(1, 10**6)
        box = tuple((lo - pad * (1 + abs(lo)), hi + pad * (1 + abs(hi))) for lo, hi in box)
    return replace(cert, inequalities=tuple(ineqs), equalities=tuple(eqs), box=box)


def attach_lemmas(cert: Certificate, lemmas: list[Certificate], derived_terms: set[frozenset[Any]]
            ) -> tuple[Certificate, Any]:
    derived = tuple(i for i, g in enumerate(cert.inequalities) if frozenset(g) in derived_terms)
    full = replace(cert, lemmas=tuple(lemmas), derived=derived)
    return full, check_certificate(full)


#: Seconds the exact checker takes per lemma of a chain (measured: 402 lemmas of an ACAS Xu encoding in
#: about 7 s); that much of a time limit is kept for checking the lemma chain after the solve.
LEMMA_SECONDS = 0.02


def _moment_bound(chain: Chain, f: Lin, form: SdpForm, relaxation: str, level: int | None,
                  sparsity: str | None, time_limit: float | None, solver: str) -> MomentBound:
    from sosrelax.api import solve

    t0 = time.perf_counter()
    problem, lemmas, derived_terms, ineqs = _chain_problem(chain, f, form)
    solve_limit = None
    if time_limit is not None:
        reserve = min(0.5 * time_limit, LEMMA_SECONDS * len(lemmas))
        solve_limit = max(0.05 * time_limit, time_limit - reserve - (time.perf_counter() - t0))
    res = solve(problem, relaxation=relaxation, level=level, solver=solver, sparsity=sparsity,
                time_limit=solve_limit)
    if res.certificate is None or res.bound is None:
        return MomentBound(None, None, res.message, res)
    if time_limit is not None and time.perf_counter() - t0 > time_limit:
        return MomentBound(None, None, "time limit reached before the lemma chain was checked", res)
    exact = exact_constraints(res.certificate, ineqs, list(chain.equalities))
    # the solver saw the objective with float coefficients: the certificate must bound the exact one
    # (same monomials, coefficients within 1e-9; the checker absorbs the difference like any residual)
    obj = tuple((tuple(int(v) for v in e), Fraction(c)) for e, c in chain.terms(f) if c != 0)
    have = {tuple(int(v) for v in e): Fraction(c) for e, c in exact.objective if c != 0}
    want = dict(obj)
    if set(have) != set(want) or any(
        abs(float(have[e]) - float(want[e])) > 1e-9 * (1 + abs(float(want[e]))) for e in want
    ):
        return MomentBound(None, None, "the certificate's objective is not the exact objective", res)
    exact = replace(exact, objective=obj)
    full, rep = attach_lemmas(exact, lemmas, derived_terms)
    if not rep.valid or rep.bound is None:
        return MomentBound(None, None, "lemma chain rejected: " + rep.reason, res)
    return MomentBound(float(rep.bound), full, rep.reason, res)


SPARSE_ABOVE = 24
"""Chains with more variables than this get the clique-sparse SDP (:func:`auto_sparsity`)."""


def auto_sparsity(chain: Chain, form: SdpForm = SdpForm.WITH_LP) -> str | None:
    """``"cliques"`` when the clique-sparse relaxation pays on ``chain``, else ``None`` (dense).

    It pays when the chain has more than :data:`SPARSE_ABOVE` variables and the largest clique of
    the chordal extension holds at most half of them (on a one-hidden-layer net: the unstable
    neurons plus one input per clique, instead of one block over every input and neuron).
    """
    if chain.n <= SPARSE_ABOVE or form is SdpForm.FACTS:
        return None
    data = shor_sparse(chain, form)
    return "cliques" if 2 * max(len(C) for C in data.cliques) <= chain.n else None


def sdp_bound(chain: Chain, f: Lin, *, products: bool = True, form: SdpForm | None = None,
              time_limit: float | None = None, solver: str = "clarabel", sparsity: str | None = None
              ) -> tuple[float | None, Certificate | None, str]:
    """Proven lower bound of ``f`` by Shor's relaxation, with its full certificate (lemmas attached).

    ``form`` chooses the constraints (:class:`SdpForm`); without it, ``products=True`` means
    ``SdpForm.WITH_LP`` and ``products=False`` means ``SdpForm.FACTS``.  ``sparsity="cliques"``
    solves the clique-sparse relaxation of :func:`shor_sparse` instead of the dense one (one small
    PSD block per clique of a chordal extension; products coupling two inputs are left out, so the
    bound is at most the dense one's); ``None`` is the dense relaxation.
    """
    form = form or (SdpForm.WITH_LP if products else SdpForm.FACTS)
    if sparsity not in (None, "cliques"):
        raise ValueError(f"unknown sparsity {sparsity!r}; choose None or 'cliques'")
    if sparsity == "cliques":
        if form is SdpForm.FACTS:
            raise ValueError("sparsity='cliques' needs a form with products (SDP_CERT or WITH_LP)")
        return sparse_sdp(chain, f, form, time_limit, solver)
    if form is not SdpForm.FACTS:
        return fast_sdp(chain, f, form, time_limit, solver)
    mb = _moment_bound(chain, f, form, "sdp", None, None, time_limit, solver)
    return mb.bound, mb.certificate, mb.message


def sos_bound(chain: Chain, f: Lin, *, level: int = 2, sparsity: str | None = None,
              time_limit: float | None = None, solver: str = "clarabel") -> MomentBound:
    """Proven lower bound of ``f`` by the Lasserre relaxation of order ``level`` (``SdpForm.WITH_LP``
    constraints), with its certificate and the :func:`sosrelax.solve` result (moments)."""
    return _moment_bound(chain, f, SdpForm.WITH_LP, "sos", level, sparsity, time_limit, solver)


def optimisers(chain: Chain, f: Lin, mb: MomentBound, *, tol: float = 1e-4) -> np.ndarray:
    """Global minimisers of ``f`` over the encoding read off the level-``d`` moments (chain variables).

    First the atoms of the rung's own moments (:meth:`SolveResult.minimizers`).  When the optimal
    face is not a single point the interior-point moments are not flat; then the relaxation is
    solved once more restricted to the optimal face, ``f <= bound + tol (1 + |bound|)``, minimising
    the trace of the moment matrix ``L(Σ_{|α| <= d} x^{2α})`` — a measure on that face of least
    trace is a point mass, whose moment matrix is flat of rank one.  Only points that are feasible
    (violation ``<= tol``) and within ``tol (1 + |bound|)`` of the bound are returned.
    """
    from sosrelax.api import solve
    from sosrelax.poly import Polynomial
    from sosrelax.problem import Problem

    res = mb.result
    if res is None or mb.bound is None:
        return np.zeros((0, chain.n))
    pts = res.minimizers(tol=tol)
    if pts.shape[0]:
        return pts
    problem = res.problem
    level = int(res.info.get("level", 2))
    names = problem.variables
    n = len(names)
    from itertools import combinations_with_replacement

    rows = [np.zeros(n, dtype=np.int64)]
    for d in range(1, level + 1):
        for combo in combinations_with_replacement(range(n), d):
            e = np.zeros(n, dtype=np.int64)
            for v in combo:
                e[v] += 1
            rows.append(e)
    trace = Polynomial(2 * np.array(rows), np.ones(len(rows)), names)
    slack = mb.bound + tol * (1 + abs(mb.bound))
    face = Problem(minimize=trace, subject_to=[*problem.constraints, problem.objective <= slack],
                   variables=names)
    res2 = solve(face, relaxation="sos", level=level, certificate=False)
    if res2.pseudo is None:
        return np.zeros((0, n))
    atoms = res2.pseudo.atoms()
    if not atoms.found:
        return np.zeros((0, n))
    keep = []
    for p in np.atleast_2d(atoms.points):
        point = dict(zip(names, p, strict=True))
        value = float(problem.objective.evaluate(p[None, :], names)[0])
        if problem.violation(point) <= tol and abs(value - mb.bound) <= tol * (1 + abs(mb.bound)):
            keep.append(p)
    return np.array(keep) if keep else np.zeros((0, n))

"""Leaves of a proof tree closed by a certified LP, SDP or SOS rung (``("c", lambdas, certificate)``).

A rung leaf over the box ``B`` of a disjunct claims, like a linear leaf, that no ``x`` in ``B`` makes
every atom true.  Its evidence is a polynomial certificate (:mod:`sosrelax.certificate.format`) of

.. math::

    \\sum_k \\lambda_k\\,(-a_k) \\;\\ge\\; \\beta \\quad\\text{on}\\quad
    C(B) \\cap \\{a_j + \\delta_j \\ge 0\\}_{j \\in S},

where :math:`C(B)` is the exact encoding of the network over the box the network sees
(:func:`leaf_chain`: python-flint CROWN bounds, stable neurons eliminated above
:data:`LEAF_REDUCE_ABOVE` ReLUs, the triangle and ``h (h - z) = 0`` constraints of the rest), and the
atom constraints are optional.  The checker rebuilds :math:`C(B)` itself from the embedded network
and the leaf's box, accepts a base (non-derived) inequality of the certificate only when it is an
inequality of :math:`C(B)` or an atom constraint with ``delta_j`` at least the required slack, an
equality only when it is one of :math:`C(B)`, the objective only when it equals
``sum_k lambda_k (-a_k)`` exactly, and then runs the exact checker
(:func:`~sosrelax.certificate.check.check_certificate`, lemmas included).  The leaf holds when the
proven ``beta`` exceeds ``sum_k lambda_k |B_k| D`` (``D``: a rigorous bound of how far the float32
execution's outputs can be from the exact ones on the box; 0 in the real semantics).  The argument
is in ``docs/proof-trees.md``.
"""

from __future__ import annotations

from collections.abc import Sequence
from fractions import Fraction
from typing import Any

import numpy as np

__all__ = ["LEAF_REDUCE_ABOVE", "atom_lin", "check_rung_leaf", "deviation_slack", "leaf_chain"]

#: Networks with more ReLUs get a leaf encoding with variables for the unstable neurons only.
LEAF_REDUCE_ABOVE = 64

Lin = tuple[dict[int, Fraction], Fraction]


def leaf_chain(layers: Sequence[tuple[np.ndarray, np.ndarray]], lo: Any, hi: Any) -> Any:
    """The exact encoding of the network over the box ``[lo, hi]`` (floats, taken exactly).

    Both the search and the checker call this function, so that a certificate found over the chain
    refers to the same constraints the checker rebuilds.
    """
    from sosrelax.nn.encode import build_chain
    from sosrelax.nn.ir import from_weights

    net = from_weights([w for w, _ in layers], [b for _, b in layers])
    return build_chain(net, [Fraction(float(v)) for v in lo], [Fraction(float(v)) for v in hi],
                       method="crown", eliminate_stable=net.n_relus > LEAF_REDUCE_ABOVE)


def atom_lin(chain: Any, x: Sequence[tuple[int, Fraction]], y: Sequence[tuple[int, Fraction]],
             const: Fraction, n_out: int, scale: Fraction = Fraction(1)) -> Lin | None:
    """``scale · (Σ x-terms + Σ y-terms + const)`` in the chain's variables (``None`` when the atom
    mixes inputs and outputs of a network with hidden layers: no single linear form exists)."""
    if x and y and chain.layers:
        return None
    if y:
        c = [Fraction(0)] * n_out
        for j, v in y:
            c[j] += scale * Fraction(v)
        out: Lin = chain.output_form(c, scale * Fraction(const))
        return out
    coef: dict[int, Fraction] = {}
    for i, v in x:
        coef[i] = coef.get(i, Fraction(0)) + scale * Fraction(v)
    return {i: v for i, v in coef.items() if v}, scale * Fraction(const)


def deviation_slack(y: Sequence[tuple[int, Fraction]], deviation: np.ndarray | None) -> Fraction:
    """An exact upper bound of ``Σ_j |c_j| D_j`` (0 without a deviation)."""
    if deviation is None:
        return Fraction(0)
    total = Fraction(0)
    for j, v in y:
        total += abs(Fraction(v)) * Fraction(float(deviation[j]))
    return total


def _split_const(t: tuple[tuple[tuple[int, ...], Fraction], ...]) -> tuple[Any, Fraction]:
    const = Fraction(0)
    rest = []
    for e, c in t:
        if not any(e):
            const += c
        else:
            rest.append((e, c))
    return tuple(rest), const


def check_rung_leaf(
    layers: Sequence[tuple[np.ndarray, np.ndarray]], atoms: Sequence[Any], lo: np.ndarray, hi: np.ndarray,
    lam: np.ndarray, cert: Any, deviation: np.ndarray | None,
) -> tuple[float, str]:
    """The leaf's rigorous margin ``beta - sum_k lambda_k |B_k| D`` (float, rounded down; the leaf
    holds when it is positive) and a reason; ``-inf`` with the reason when the certificate does not
    fit the leaf or the exact checker rejects it.

    ``lo, hi`` is the box the network sees (in the float32 semantics already widened to float32
    values); ``deviation`` is ``D`` per output (``None`` in the real semantics, where atoms may also
    name inputs).
    """
    from sosrelax.certificate.check import check_certificate
    from sosrelax.certificate.format import Certificate, canonical_terms

    if not isinstance(cert, Certificate):
        return -np.inf, "the rung leaf carries no certificate"
    n_out = layers[-1][0].shape[0]
    if deviation is not None and any(a.x for a, lk in zip(atoms, lam, strict=True)):
        return -np.inf, "float32 semantics: a rung leaf cannot use atoms over the inputs"
    chain = leaf_chain(layers, lo, hi)
    if tuple(cert.variables) != tuple(chain.variables):
        return -np.inf, "the certificate's variables are not those of the leaf's encoding"
    if cert.kind != "lower_bound":
        return -np.inf, "the certificate must be a lower bound over the leaf's encoding"
    # the objective: sum_k lambda_k (-a_k), exactly
    obj: dict[int, Fraction] = {}
    k0 = Fraction(0)
    margin_needed = Fraction(0)
    for a, lk in zip(atoms, lam, strict=True):
        if lk == 0:
            continue
        f = atom_lin(chain, a.x, a.y, a.const, n_out, -Fraction(float(lk)))
        if f is None:
            return -np.inf, "an atom mixes inputs and outputs"
        for v, c in f[0].items():
            obj[v] = obj.get(v, Fraction(0)) + c
        k0 += f[1]
        margin_needed += Fraction(float(lk)) * deviation_slack(a.y, deviation)
    expected = canonical_terms(chain.terms(({v: c for v, c in obj.items() if c}, k0)))
    if canonical_terms(cert.objective) != expected:
        return -np.inf, "the certificate's objective is not sum_k lambda_k (-atom_k) over the leaf's encoding"
    # every assumption must be a constraint of the rebuilt encoding or a relaxed atom
    base = {t for i, t in enumerate(chain.inequalities) if i not in set(chain.derived)}
    relaxed: dict[Any, Fraction] = {}
    for a in atoms:
        g = atom_lin(chain, a.x, a.y, a.const, n_out)
        if g is None:
            continue
        rest, const = _split_const(canonical_terms(chain.terms(g)))
        need = const + deviation_slack(a.y, deviation)
        relaxed[rest] = min(relaxed.get(rest, need), need)
    derived = set(cert.derived)
    for i, t in enumerate(cert.inequalities):
        if i in derived or t in base:
            continue
        rest, const = _split_const(t)
        if rest not in relaxed or const < relaxed[rest]:
            return -np.inf, f"inequality {i} of the certificate is neither in the leaf's encoding nor a relaxed atom"
    eqs = set(chain.equalities)
    for i, t in enumerate(cert.equalities):
        if t not in eqs:
            return -np.inf, f"equality {i} of the certificate is not in the leaf's encoding"
    rep = check_certificate(cert)
    if not rep.valid or rep.bound is None:
        return -np.inf, f"the exact checker rejected the leaf's certificate: {rep.reason}"
    margin = Fraction(rep.bound) - margin_needed
    val = float(margin)
    if Fraction(val) > margin:
        val = float(np.nextafter(val, -np.inf))
    return val, "verified"

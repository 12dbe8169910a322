"""The exact certified rungs for one piece of a property: interval, linear, LP, SDP and SOS bounds.

To show a disjunct (input box plus linear atoms) empty it suffices to prove one atom violated,
``-a > 0`` (or ``>= 0`` for a strict atom), over the box and the network encoding (the other atoms are
constraints of that encoding).  Each rung builds an exact certificate of its bound; a bound counts only
after :func:`~sosrelax.certificate.check.check_certificate` verified it, lemma chain included.  These
rungs decide properties with polynomial or hidden-node atoms (:mod:`sosrelax.nn.spec_poly`) and every
piece under ``verify(..., method="rungs")``; linear properties go to the batched search
(:mod:`sosrelax.nn.search`).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from fractions import Fraction

import numpy as np

from sosrelax.certificate.check import check_certificate
from sosrelax.certificate.format import Certificate
from sosrelax.certificate.proof_tree.rung_leaf import atom_lin
from sosrelax.nn.encode import Chain, Lin, build_chain
from sosrelax.nn.ir import Network
from sosrelax.nn.moment import auto_sparsity, sdp_bound, sos_bound
from sosrelax.nn.vnnlib import Atom, Disjunct

__all__ = [
    "DEFAULT_RUNGS",
    "ONNX_TOLERANCE",
    "REDUCE_ABOVE",
    "RUNGS",
    "SOS_MAX_VARIABLES",
    "Result",
    "RungRow",
    "atom_form",
    "check_bound",
    "lp_rung",
    "prove_atom_violated",
    "repair_bound",
    "sdp_rung",
]

#: The certified rungs, cheapest first (``sos``: Lasserre level 2).
RUNGS = ("interval", "linear", "lp", "sdp", "sos")

#: The rungs :func:`verify` tries by default (``sos`` is opt-in: its moment matrices grow as n^2).
DEFAULT_RUNGS = ("interval", "linear", "lp", "sdp")

#: Networks with more ReLUs are encoded with variables for their unstable neurons only
#: (:func:`~sosrelax.nn.encode.build_reduced_chain`).
REDUCE_ABOVE = 64

#: Largest encoding (inputs plus unstable-neuron variables) given the SOS level-2 rung.
SOS_MAX_VARIABLES = 12

#: onnxruntime tolerance of a counterexample's re-check (as VNN-COMP).
ONNX_TOLERANCE = 1e-4


class Result(Enum):
    """Verdict of a property."""

    SAT = "sat"
    UNSAT = "unsat"
    UNKNOWN = "unknown"
    TIMEOUT = "timeout"


@dataclass(frozen=True)
class RungRow:
    """One rung tried on one (piece of a) disjunct."""

    disjunct: int
    rung: str
    bound: float | None
    certified: bool
    seconds: float
    note: str = ""



# ------------------------------------------------------------------------------------------------
# certified rungs


def atom_form(chain: Chain, a: Atom, negate: bool) -> Lin | None:
    """The atom's linear form in the encoding's variables (``None`` if it mixes inputs and outputs)."""
    return atom_lin(chain, a.x, a.y, a.const, chain.net.n_outputs, Fraction(-1 if negate else 1))


def check_bound(cert: Certificate, need: Fraction, strict: bool) -> tuple[bool, float | None, str]:
    rep = check_certificate(cert)
    if not rep.valid or rep.bound is None:
        return False, None, rep.reason
    ok = rep.bound > need or (not strict and rep.bound >= need)
    return ok, float(rep.bound), rep.reason


def prove_atom_violated(
    net: Network, d: Disjunct, k: int, rung: str, chain: Chain | None = None,
    time_limit: float | None = None,
) -> tuple[bool, float | None, Certificate | None, str]:
    """Try to prove ``atom_k < 0`` (``<= 0`` for a strict atom) on the disjunct with one rung.

    Returns ``(proven, proven lower bound of -atom_k or None, certificate, note)``; ``proven`` only
    after the checker verified the certificate.
    """
    a = d.atoms[k]
    if chain is None:
        chain = build_chain(net, d.lo, d.hi, method="interval" if rung == "interval" else "crown")
    f = atom_form(chain, a, negate=True)
    if f is None:
        return False, None, None, "atom mixes inputs and outputs"
    # need -a > 0, or -a >= 0 when the atom itself is strict
    strict_needed = not a.strict
    if rung in ("interval", "linear"):
        L, mult = chain.backsub(f, 0 if rung == "interval" else None)
        if rung == "linear":  # never looser than the interval rung on the same chain
            L0, mult0 = chain.backsub(f, 0)
            if L0 > L:
                L, mult = L0, mult0
        if L < 0 or (L == 0 and strict_needed):
            return False, float(L), None, "bound does not settle the atom"
        cert = chain.linear_certificate(f, L, mult, {"rung": rung})
        ok, b, why = check_bound(cert, Fraction(0), strict_needed)
        return ok, b, cert if ok else None, why
    others = [j for j in range(len(d.atoms)) if j != k]
    for j in others:
        g = atom_form(chain, d.atoms[j], negate=False)
        if g is not None and not d.atoms[j].strict:
            chain.add(g)
    if rung == "lp":
        return lp_rung(chain, f, strict_needed)
    if rung == "sdp":
        return sdp_rung(chain, f, strict_needed, time_limit)
    if rung == "sos":
        return sdp_rung(chain, f, strict_needed, time_limit, level=2)
    raise ValueError(f"unknown rung {rung!r}; choose from {RUNGS}")


def lp_rung(chain: Chain, f: Lin, strict: bool, check: bool = True
            ) -> tuple[bool, float | None, Certificate | None, str]:
    """The triangle LP over every linear fact; the dual is rounded and repaired exactly.

    With ``check=False`` the certificate is not run through the exact checker here (the bound is
    still exact: the repaired identity holds by construction); the caller has it checked later, as
    the proof-tree checker does for a search's rung leaves.
    """
    from scipy.optimize import linprog

    n = chain.n
    rows = [g for g in chain.lin if g is not None]
    A = np.zeros((len(rows), n))
    c0 = np.zeros(len(rows))
    for r, (coef, const) in enumerate(rows):
        for v, w in coef.items():
            A[r, v] = float(w)
        c0[r] = float(const)
    obj = np.zeros(n)
    for v, w in f[0].items():
        obj[v] = float(w)
    res = linprog(obj, A_ub=-A, b_ub=c0, bounds=[(None, None)] * n, method="highs")
    if res.status != 0:
        return False, None, None, f"LP: {res.message}"
    mu = np.maximum(-np.asarray(res.ineqlin.marginals), 0.0)
    # f - Σ μ g = residual r (exact); bound r by the variables' facts exactly
    mult: dict[int, Fraction] = {}
    rcoef = dict(f[0])
    rconst = Fraction(f[1])
    for ri in np.flatnonzero(mu > 1e-12):
        m = Fraction(float(mu[ri]))
        mult[int(ri)] = m
        coef, const = rows[int(ri)]
        for v, w in coef.items():
            rcoef[v] = rcoef.get(v, Fraction(0)) - m * w
        rconst -= m * const
    L, extra = repair_bound(chain, ({v: c for v, c in rcoef.items() if c}, rconst))
    for i, mv in extra.items():
        mult[i] = mult.get(i, Fraction(0)) + mv
    if L < 0 or (L == 0 and strict):
        return False, float(L), None, f"LP bound {res.fun:.6g} does not settle the atom"
    cert = chain.linear_certificate(f, L, mult, {"rung": "lp"})
    if not check:
        return True, float(L), cert, "exact bound (checked later)"
    ok, b, why = check_bound(cert, Fraction(0), strict)
    return ok, b, cert if ok else None, why


def repair_bound(chain: Chain, r: Lin) -> tuple[Fraction, dict[int, Fraction]]:
    """Exact lower bound of a linear form over all layers by interval facts (variable by variable)."""
    if chain.reduced:
        return chain.backsub(r, 0)
    by_layer: dict[int, dict[int, Fraction]] = {}
    var_layer = {nr.var: k + 1 for k, layer in enumerate(chain.layers) for nr in layer}
    for v, c in r[0].items():
        by_layer.setdefault(var_layer.get(v, 0), {})[v] = c
    total = Fraction(r[1])
    mult: dict[int, Fraction] = {}
    for layer, coef in by_layer.items():
        L, m = chain.backsub((coef, Fraction(0)), 0 if layer else None)
        total += L
        for i, mv in m.items():
            mult[i] = mult.get(i, Fraction(0)) + mv
    return total, mult


SPARSE_RETRY_GAP = 1e-2
"""The dense SDP is tried after the clique-sparse one when the latter's bound misses zero by less
than this (relative): only there can the products it leaves out make the difference."""


def sdp_rung(chain: Chain, f: Lin, strict: bool, time_limit: float | None, level: int = 1
              ) -> tuple[bool, float | None, Certificate | None, str]:
    if level == 1:
        # large chains: the clique-sparse relaxation first (much faster; it leaves out the products
        # coupling two inputs, so its bound may be a little lower); the dense one when it falls short
        sparsity = auto_sparsity(chain)
        b, cert, why = sdp_bound(chain, f, time_limit=time_limit, sparsity=sparsity)
        settled = b is not None and (b > 0 or (not strict and b >= 0))
        if sparsity is not None and not settled and (b is None or b > -SPARSE_RETRY_GAP * (1 + abs(b))):
            b2, cert2, why2 = sdp_bound(chain, f, time_limit=time_limit)
            if b2 is not None and (b is None or b2 > b):
                b, cert, why = b2, cert2, why2
    else:
        if chain.n > SOS_MAX_VARIABLES:
            return False, None, None, (f"{chain.n} variables exceed the SOS level-2 size limit "
                                       f"{SOS_MAX_VARIABLES}")
        mb = sos_bound(chain, f, level=level, time_limit=time_limit)
        b, cert, why = mb.bound, mb.certificate, mb.message
    if b is None or cert is None:
        return False, None, None, why
    ok = b > 0 or (not strict and b >= 0)
    return ok, b, cert if ok else None, why

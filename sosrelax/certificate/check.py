"""The independent exact certificate checker.

Given a :class:`~sosrelax.certificate.format.Certificate` stating

.. math::

    \\ell = \\sigma_0 + \\sum_i \\sigma_i g_i + \\sum_j \\lambda_j h_j
          + \\sum_k c_k \\prod_i g_i^{a_{ki}} + r,
    \\qquad \\ell \\in \\{f - \\gamma,\\ \\gamma - f,\\ -1\\},

the checker recomputes the residual :math:`r` in exact rational arithmetic, proves a rigorous
lower bound :math:`\\mu_i \\le \\lambda_{\\min}(Q_i)` for every Gram matrix, and derives the bound
that the identity really proves:

* if :math:`r` is a constant :math:`r_0` and every :math:`Q_i \\succeq 0`:
  :math:`f \\ge \\gamma + r_0` on :math:`K` (``lower_bound``; mirrored for ``upper_bound``);
* otherwise, when a box :math:`[l, u] \\supseteq K` is present and implied by the inequalities,
  :math:`b^T Q b \\ge \\min(0, \\mu)\\,\\max_{box}\\|b\\|^2`,
  :math:`0 \\le g_i \\le \\max_{box} g_i`
  and :math:`r \\ge \\min_{box} r` (exact interval bounds), which gives a slightly weaker bound;
* otherwise the certificate is rejected.

Positive semidefiniteness is proven either by an exact rational :math:`LDL^T` factorisation with
symmetric pivoting, or by an exact congruence: floating point proposes an integer lower
triangular :math:`W \\approx 2^s L^{-1}` (:math:`L` a float Cholesky factor of :math:`Q - tI`),
and exact integer arithmetic verifies that :math:`W (Q - tI) W^T` is strictly diagonally
dominant with positive diagonal.  Since :math:`W` is triangular with a nonzero diagonal it is
invertible, so :math:`Q - tI \\succ 0`, i.e. :math:`\\lambda_{\\min}(Q) > t`.  Floating point only
ever proposes; every conclusion is drawn from exact integers.  No eigenvalue is ever shifted.

This module imports only the standard library, numpy, python-flint and the certificate format:
it shares no code with the relaxations or solvers whose output it checks.
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass
from enum import Enum
from fractions import Fraction
from typing import Any

import flint
import numpy as np

from sosrelax.certificate.exactpoly import (
    MEMO,
    ExactPoly,
    OverLimit,
    PairStructure,
    Reject,
    affine_substitute,
    combine,
    exact_poly,
    fq,
    gram_poly,
    kept,
    memo,
    mul,
    one,
    pair_structure,
    to_fraction,
)
from sosrelax.certificate.format import (
    DEFAULT_LIMITS,
    Certificate,
    Limits,
    RationalMatrix,
    Terms,
    as_rational_matrix,
)
from sosrelax.certificate.intervals import basis_sq_max, poly_interval, verify_box
from sosrelax.certificate.psd import EXACT_LDL_LIMIT, gershgorin, prove_psd, prove_psd_or_raise
from sosrelax.certificate.validate import validate
from sosrelax.errors import CertificateFormatError, InvalidValueError

__all__ = [
    "EXACT_LDL_LIMIT",
    "CheckReport",
    "CheckStatus",
    "check_certificate",
    "claim_holds",
    "problem_mismatch",
    "prove_psd",
    "residual",
    "residual_poly",
    "show_rational",
]

DEFAULT_TOLERANCE = Fraction(1, 10**6)
"""Largest accepted relative gap between the claimed and the proven bound."""


class CheckStatus(Enum):
    """Outcome of a check."""

    VERIFIED = "verified"
    REJECTED = "rejected"


@dataclass(frozen=True)
class CheckReport:
    """What the checker proved.

    Attributes
    ----------
    valid : bool
        ``status is CheckStatus.VERIFIED``.
    status : CheckStatus
    bound : Fraction or None
        The bound proven on :math:`K` (lower bound of :math:`f` for ``lower_bound``, upper bound for
        ``upper_bound``); within the tolerance of the claim, possibly slightly weaker.  ``None``
        when rejected and for ``infeasible`` certificates.
    claimed_bound : Fraction or None
        The bound the file claims (``None`` for ``infeasible``).
    reason : str
        Why it was rejected, or how it was verified.
    residual_norm : float
        Sum of the absolute values of the residual coefficients (the 1-norm of :math:`r`).
    min_eigen_lower_bounds : tuple of float
        Per SOS multiplier, a rigorous lower bound :math:`\\mu_i \\le \\lambda_{\\min}(Q_i)` rounded
        to float (0.0 where PSD was proven exactly without a margin).
    time : float
        Seconds spent.
    claim_holds : bool
        True only when the certificate is valid *and* the bound the file states holds exactly:
        ``bound >= claimed_bound`` for ``lower_bound``, ``bound <= claimed_bound`` for
        ``upper_bound``, always for a verified ``infeasible`` certificate.  ``valid`` alone may
        mean a bound slightly weaker than the claim (within ``tolerance``) was proven.
    over_limit : bool
        True when the certificate was refused because checking it would exceed a resource
        limit (:class:`~sosrelax.certificate.format.Limits`), not because it is wrong.
    """

    valid: bool
    status: CheckStatus
    bound: Fraction | None
    claimed_bound: Fraction | None
    reason: str
    residual_norm: float
    min_eigen_lower_bounds: tuple[float, ...]
    time: float
    claim_holds: bool = False
    over_limit: bool = False

    @property
    def bound_float(self) -> float | None:
        """The proven bound as the nearest float (``±inf`` beyond the float range), or ``None``."""
        return None if self.bound is None else _float_or_inf(self.bound)

    def __float__(self) -> float:
        return float("nan") if self.bound is None else _float_or_inf(self.bound)

    def __repr__(self) -> str:
        b = "None" if self.bound is None else show_rational(self.bound)
        return (
            f"CheckReport(status={self.status.value}, bound={b}, reason={self.reason!r}, "
            f"residual_norm={self.residual_norm:.3g}, time={self.time:.3f}s)"
        )


def _float_or_inf(q: Fraction) -> float:
    try:
        return float(q)
    except OverflowError:
        return math.inf if q > 0 else -math.inf


def show_rational(q: Fraction, digits: int = 12) -> str:
    """``q`` in ``%.12g`` style, also when it is beyond the float range (then from its digits)."""
    try:
        f = float(q)
    except OverflowError:
        f = math.inf
    if math.isfinite(f):
        return f"{f:.{digits}g}"
    whole = str(abs(q.numerator) // q.denominator)
    sign = "-" if q < 0 else ""
    mant = whole[0] + ("." + whole[1:digits].rstrip("0") if whole[1:digits].strip("0") else "")
    return f"{sign}{mant}e+{len(whole) - 1}"



def _residual(
    cert: Certificate,
) -> tuple[ExactPoly, list[ExactPoly], list[tuple[np.ndarray, RationalMatrix]]]:
    """Exact residual ``r = lhs - sum(multipliers * constraints)``, the combined inequalities and
    the (basis, Gram) pairs."""
    n = len(cert.variables)
    gam = cert.bound
    sub = cert.substitution

    def prob_poly(t: Terms) -> ExactPoly:
        if sub is not None:
            # the same objective and substitution are expanded again for every certificate of one proof
            # search; a hit must hold both very objects (kept alive by the entry, so ids stay theirs)
            return kept("substituted", t, n,  # type: ignore[return-value]
                        lambda: affine_substitute(combine(*exact_poly(t, n)), sub), also=sub)
        return memo("poly", t, n, lambda: combine(*exact_poly(t, n)))  # type: ignore[return-value]

    f = prob_poly(cert.objective)
    const = np.empty(1, dtype=object)
    zero_row = np.zeros((1, n), np.int64)
    if cert.kind == "lower_bound":  # f - gamma
        const[0] = fq(-gam)
        lhs = (np.vstack([f[0], zero_row]), np.concatenate([f[1], const]))
    elif cert.kind == "upper_bound":  # gamma - f
        const[0] = fq(gam)
        lhs = (np.vstack([f[0], zero_row]), np.concatenate([f[1] * flint.fmpq(-1), const]))
    else:  # -1
        const[0] = flint.fmpq(-1)
        lhs = (zero_row, const)
    g_polys = [prob_poly(g) for g in cert.inequalities]
    h_polys = [prob_poly(h) for h in cert.equalities]
    parts_e = [lhs[0]]
    parts_c = [lhs[1]]
    minus = flint.fmpq(-1)

    # SOS multipliers
    sigmas: list[tuple[np.ndarray, RationalMatrix]] = []
    for m in cert.sos:
        held = kept("basis_array", m.basis, n, lambda m=m: _basis_array(m.basis, n))
        basis: np.ndarray = held[0]  # type: ignore[index]
        pairs: PairStructure | None = held[1]  # type: ignore[index]
        g = as_rational_matrix(m.gram)
        sigma = gram_poly(basis, g, pairs)
        if m.constraint is not None:
            sigma = mul(sigma, g_polys[m.constraint])
        parts_e.append(sigma[0])
        parts_c.append(sigma[1] * minus)
        sigmas.append((basis, g))
    for em in cert.equality_multipliers:
        prod = mul(exact_poly(em.poly, n), h_polys[em.constraint])
        parts_e.append(prod[0])
        parts_c.append(prod[1] * minus)
    for pm in cert.products:
        if pm.coefficient == 0:
            continue
        if len(pm.constraints) == 1:  # 1 * g is g itself (already combined)
            prod = g_polys[pm.constraints[0]]
        else:
            prod = one(n)
            for c in pm.constraints:
                prod = mul(prod, g_polys[c])
        parts_e.append(prod[0])
        parts_c.append(prod[1] * (-fq(pm.coefficient)))
    return combine(np.vstack(parts_e), np.concatenate(parts_c)), g_polys, sigmas


def _basis_array(basis: tuple[tuple[int, ...], ...], n: int) -> tuple[np.ndarray, PairStructure | None]:
    """A (validated) basis as a read-only int64 array, and its :func:`pair_structure`."""
    arr = np.array(basis, dtype=np.int64).reshape(len(basis), n)
    arr.flags.writeable = False
    return arr, (pair_structure(arr) if len(basis) else None)


def residual_poly(cert: Certificate) -> ExactPoly:
    """The exact residual :math:`r` of the certificate identity as arrays: exponent rows (int64, one per
    term) and ``flint.fmpq`` coefficients (zero terms dropped)."""
    validate(cert)
    return _residual(cert)[0]


def residual(cert: Certificate) -> Terms:
    """The exact residual polynomial :math:`r` of the certificate identity (zero terms dropped)."""
    r = residual_poly(cert)
    return tuple(
        (tuple(int(v) for v in e), to_fraction(c)) for e, c in zip(r[0], r[1], strict=True)
    )


_FactIndex = dict[tuple[tuple[tuple[int, ...], Fraction], ...], list[tuple[str, Fraction, Fraction, Fraction]]]
"""Facts keyed by the direction of their non-constant part (scaled to a unit leading coefficient):
``key -> [(kind, leading coefficient of the direction, constant of f, proven bound)]``."""


def _as_dict(t: Terms) -> dict[tuple[int, ...], Fraction]:
    return memo("dict", t, -1, lambda: _as_dict_raw(t))  # type: ignore[return-value]


def _canonical(t: Terms) -> tuple[tuple[tuple[int, ...], Fraction], ...]:
    return memo("canonical", t, -1, lambda: tuple(sorted(_as_dict(t).items())))  # type: ignore[return-value]


def _as_dict_raw(t: Terms) -> dict[tuple[int, ...], Fraction]:
    out: dict[tuple[int, ...], Fraction] = {}
    for e, c in t:
        key = tuple(int(v) for v in e)
        out[key] = out.get(key, Fraction(0)) + Fraction(c)
    return {k: v for k, v in out.items() if v != 0}


def _direction(nc: dict[tuple[int, ...], Fraction]
               ) -> tuple[tuple[tuple[tuple[int, ...], Fraction], ...], Fraction]:
    """``(key, lead)``: the terms divided by ``|lead|``, ``lead`` the coefficient of the smallest exponent."""
    lead = nc[min(nc)]
    return tuple(sorted((e, v / abs(lead)) for e, v in nc.items())), lead


def _add_fact(index: _FactIndex, kind: str, f: dict[tuple[int, ...], Fraction], beta: Fraction) -> None:
    f_nc = {e: (v if kind == "lower_bound" else -v) for e, v in f.items() if any(e)}
    if not f_nc:
        return
    key, lead = _direction(f_nc)
    f0 = next((v for e, v in f.items() if not any(e)), Fraction(0))
    index.setdefault(key, []).append((kind, lead, f0, beta))


def _split_direction(g: Terms) -> tuple[tuple[tuple[tuple[int, ...], Fraction], ...], Fraction, Fraction] | None:
    """``(direction key, lead, constant)`` of ``g`` (``None`` if ``g`` is a constant)."""
    gd = _as_dict(g)
    g_nc = {e: v for e, v in gd.items() if any(e)}
    if not g_nc:
        return None
    g0 = next((v for e, v in gd.items() if not any(e)), Fraction(0))
    key, g_lead = _direction(g_nc)
    return key, g_lead, g0


def _implied_by(g: Terms, index: _FactIndex) -> bool:
    """True if ``g >= 0`` is a positive multiple of a proven fact, with a bound no stronger.

    Facts are looked up by the direction of their non-constant part (a hash lookup, not a scan).
    """
    found: tuple[tuple[tuple[tuple[int, ...], Fraction], ...], Fraction, Fraction] | None
    found = memo("direction", g, -1, lambda: _split_direction(g))  # type: ignore[assignment]
    if found is None:
        return False
    key, g_lead, g0 = found
    for kind, lead, f0, beta in index.get(key, ()):
        c = g_lead / lead  # g_nc = c * (±f_nc), c > 0 since the keys agree
        if kind == "lower_bound":  # g = c (f - beta'), beta' <= beta
            if f0 - g0 / c <= beta:
                return True
        elif g0 / c + f0 >= beta:  # g = c (beta' - f), beta' >= beta
            return True
    return False


@dataclass(frozen=True)
class _CheckedChain:
    """A lemma chain that passed: its lemma objects (kept alive, so that their ids stay theirs),
    the base constraints it relies on (canonical keys) and its proven conclusions."""

    lemmas: tuple[Certificate, ...]
    needs_ineq: frozenset[Any]
    needs_eq: frozenset[Any]
    facts: _FactIndex


_CHAINS: dict[tuple[Any, ...], _CheckedChain] = {}
"""Lemma chains already checked in this process, keyed by the ``id`` of every lemma object (and
the check's settings).  Certificates are immutable, so the same objects prove the same facts: a
hit is accepted only when every stored lemma *is* the certificate's lemma, and when the
certificate's own base constraints include every base constraint the chain used (so its
conclusions hold on the certificate's set).  Many certificates over one network encoding carry
the same chain; it is checked once.  A certificate read from a file has fresh objects and is
always checked in full.  At most :data:`_CHAINS_MAX` chains are kept."""

_CHAINS_MAX = 8


def _check_lemmas(cert: Certificate, tolerance: Fraction, exact_limit: int, psd_method: str,
                  limits: Limits = DEFAULT_LIMITS) -> _FactIndex:
    """Check the lemmas in order and return their proven conclusions (read-only)."""
    derived = set(cert.derived)
    base_ineq = {_canonical(g) for i, g in enumerate(cert.inequalities) if i not in derived}
    base_eq = {_canonical(h) for h in cert.equalities}
    key = (cert.variables, tolerance, exact_limit, psd_method, limits,
           tuple(id(lem) for lem in cert.lemmas))
    hit = _CHAINS.get(key)
    if (hit is not None and len(hit.lemmas) == len(cert.lemmas)
            and all(a is b for a, b in zip(hit.lemmas, cert.lemmas, strict=True))
            and hit.needs_ineq <= base_ineq and hit.needs_eq <= base_eq):
        return hit.facts
    needs_ineq: set[Any] = set()
    needs_eq: set[Any] = set()
    facts: _FactIndex = {}
    for k, lem in enumerate(cert.lemmas):
        where = f"lemmas[{k}]"
        if lem.lemmas:
            raise Reject(f"{where}: a lemma cannot carry lemmas of its own")
        if lem.kind not in ("lower_bound", "upper_bound"):
            raise Reject(f"{where}: a lemma must be a lower_bound or upper_bound certificate")
        if lem.variables != cert.variables:
            raise Reject(f"{where}: its variables differ from the certificate's")
        lem_derived = set(lem.derived)
        for i, g in enumerate(lem.inequalities):
            if i in lem_derived:
                continue  # verified against the earlier lemmas inside _check
            if _canonical(g) not in base_ineq:
                raise Reject(f"{where}.inequalities[{i}]: not among the certificate's own "
                              "inequalities (a lemma may only use the same set)")
            needs_ineq.add(_canonical(g))
        for j, h in enumerate(lem.equalities):
            if _canonical(h) not in base_eq:
                raise Reject(f"{where}.equalities[{j}]: not among the certificate's equalities")
            needs_eq.add(_canonical(h))
        try:
            _, proven, _, _, _ = _check(lem, tolerance, exact_limit, psd_method, facts, limits)
        except Reject as e:
            raise type(e)(f"{where}: {e}") from e
        assert proven is not None
        _add_fact(facts, lem.kind, _as_dict(lem.objective), proven)
    if len(_CHAINS) >= _CHAINS_MAX:
        _CHAINS.pop(next(iter(_CHAINS)))
    _CHAINS[key] = _CheckedChain(tuple(cert.lemmas), frozenset(needs_ineq), frozenset(needs_eq), facts)
    return facts


def _check(cert: Certificate, tolerance: Fraction, exact_limit: int, psd_method: str,
           facts: _FactIndex | None = None, limits: Limits = DEFAULT_LIMITS,
           ) -> tuple[CheckStatus, Fraction | None, str, float, tuple[float, ...]]:
    validate(cert, limits)
    if cert.lemmas:
        facts = _check_lemmas(cert, tolerance, exact_limit, psd_method, limits)
    for i in cert.derived:
        if not 0 <= i < len(cert.inequalities):
            raise Reject(f"derived: {i} is not an inequality index")
        if not _implied_by(cert.inequalities[i], facts or {}):
            raise Reject(f"inequalities[{i}]: listed as derived but no proven lemma implies it")
    gam = cert.bound
    r, g_polys, sigmas = _residual(cert)
    r_norm = _float_or_inf(sum((abs(to_fraction(c)) for c in r[1]), Fraction(0)))
    # the constant term is the all-zero exponent row (not "row sum 0": sums could wrap)
    r_const = np.flatnonzero(~r[0].any(axis=1)) if r[0].shape[0] else np.zeros(0, int)
    r0 = to_fraction(r[1][r_const[0]]) if r_const.size else Fraction(0)
    r_is_const = r[0].shape[0] == r_const.size

    # Gram cones
    mus: list[Fraction] = []
    psd_ok: list[bool] = []
    notes: list[str] = []
    for s, (m, (_, g)) in enumerate(zip(cert.sos, sigmas, strict=True)):
        if m.cone == "dd" and gershgorin(g.numerators, g.denominator) < 0:
            notes.append(f"Gram {s} is not diagonally dominant; proving PSD instead")
        try:
            ok, mu, why = prove_psd_or_raise(g, exact_limit, psd_method, limits.max_ldl_work)
        except OverLimit as e:
            raise OverLimit(f"sos[{s}]: {e}") from e
        psd_ok.append(ok)
        mus.append(mu)
        if not ok:
            notes.append(f"Gram {s} is not PSD: {why}")
    mu_floats = tuple(float(mu) for mu in mus)

    if r_is_const and all(psd_ok):
        slack = r0
        how = ("identity holds exactly" if r0 == 0
               else f"constant residual {show_rational(r0, 3)} absorbed")
    else:
        if cert.box is None:
            if not r_is_const:
                raise Reject(
                    f"residual is not constant ({r[0].shape[0]} terms, 1-norm {r_norm:.3g}) and no "
                    "box bounds the domain"
                )
            raise Reject("; ".join(n_ for n_ in notes if "not PSD" in n_)
                          + " and no box bounds the domain")
        n = len(cert.variables)
        orig_g = [combine(*exact_poly(g, n)) for g in cert.inequalities]
        orig_h = [combine(*exact_poly(h, n)) for h in cert.equalities]
        why_box = verify_box(cert, orig_g, orig_h)
        if why_box is not None:
            raise Reject(why_box)
        box = cert.box
        if cert.substitution is not None:  # the multipliers live in u = (x - c) / s
            box = tuple(((lo - c) / sc, (hi - c) / sc)
                        for (lo, hi), (c, sc) in zip(box, cert.substitution, strict=True))
        r_lo, _ = poly_interval(r, box)
        neg = Fraction(0)
        for (basis, _), m, mu in zip(sigmas, cert.sos, mus, strict=True):
            if mu >= 0:
                continue
            bmax = basis_sq_max(basis, box)
            gmax = Fraction(1)
            if m.constraint is not None:
                gmax = max(poly_interval(g_polys[m.constraint], box)[1], Fraction(0))
            neg += mu * bmax * gmax
        slack = r_lo + neg
        how = (f"residual (1-norm {r_norm:.3g}) and negative eigenvalues absorbed over the box "
               f"(loss {show_rational(-slack, 3)})")
    if cert.kind == "infeasible":
        # -1 - r(x) = sum(...) >= neg on K; K nonempty would give r_lo + neg <= -1
        if slack > -1:
            return (CheckStatus.VERIFIED, None, f"K is empty: {how}", r_norm, mu_floats)
        raise Reject(f"infeasibility not proven: {how}, margin {show_rational(slack + 1, 3)} <= 0")
    proven = gam + slack if cert.kind == "lower_bound" else gam - slack
    gap = -slack  # how much weaker than claimed (negative: stronger)
    allowed = tolerance * max(Fraction(1), abs(gam))
    if gap > allowed:
        word = "lower" if cert.kind == "lower_bound" else "upper"
        raise Reject(
            f"proves only the {word} bound {show_rational(proven)}, not the claimed "
            f"{show_rational(gam)} (gap {show_rational(gap, 3)} over the tolerance "
            f"{show_rational(allowed, 3)}); " + how
        )
    extra = ("; " + "; ".join(notes)) if notes else ""
    return CheckStatus.VERIFIED, proven, how + extra, r_norm, mu_floats


def _problem_key(poly: Any, order: list[int], what: str) -> frozenset[tuple[tuple[int, ...], Fraction]]:
    """The exact terms of a problem polynomial, its exponent columns put in certificate order."""
    try:
        exps = np.asarray(poly.exps)
        coefs = [Fraction(float(c)) for c in np.asarray(poly.coefs).tolist()]
    except AttributeError as e:
        raise InvalidValueError(f"problem {what} is not a sosrelax Polynomial") from e
    out: dict[tuple[int, ...], Fraction] = {}
    for row, c in zip(exps.tolist(), coefs, strict=True):
        key = tuple(int(row[j]) for j in order)
        out[key] = out.get(key, Fraction(0)) + c
    return frozenset((k, v) for k, v in out.items() if v != 0)


def _cert_key(t: Terms) -> frozenset[tuple[tuple[int, ...], Fraction]]:
    return frozenset(_as_dict_raw(t).items())


def problem_mismatch(cert: Certificate, problem: Any) -> str | None:
    """Why ``cert`` is not a proof about ``problem`` (a :class:`sosrelax.Problem`), or ``None``.

    The certificate is about the problem when, as exact polynomials: its variables are the
    problem's (same names; the order may differ), its objective is the problem's objective
    (``lower_bound`` for ``minimize``, ``upper_bound`` for ``maximize``; an ``infeasible``
    certificate proves every bound and has no objective), and its inequalities (without the
    ``derived`` lemma conclusions) and equalities are the problem's, as sets.  Problem
    coefficients are read as the exact rationals their float64 values denote.
    """
    names = tuple(str(v) for v in problem.variables)
    if sorted(names) != sorted(cert.variables):
        return (f"its variables {list(cert.variables)} are not the problem's {list(names)}")

    def key(poly: Any, what: str) -> frozenset[tuple[tuple[int, ...], Fraction]]:
        pv = tuple(str(v) for v in getattr(poly, "variables", names))
        if sorted(pv) != sorted(names):
            raise InvalidValueError(f"problem {what} is not declared over the problem's variables")
        return _problem_key(poly, [pv.index(v) for v in cert.variables], what)

    sense = getattr(getattr(problem, "sense", None), "value", None)
    if cert.kind != "infeasible":
        want = {"minimize": "lower_bound", "maximize": "upper_bound"}.get(str(sense))
        if cert.kind != want:
            return (f"it is a {cert.kind.replace('_', ' ')} certificate but the problem is to "
                    f"{sense}")
        if _cert_key(cert.objective) != key(problem.objective, "objective"):
            return "its objective is not the problem's objective"
    derived = set(cert.derived)
    c_ineq = {_cert_key(g) for i, g in enumerate(cert.inequalities) if i not in derived}
    p_ineq = {key(g, f"inequality {i}") for i, g in enumerate(problem.inequalities)}
    if c_ineq != p_ineq:
        return (f"its inequalities are not the problem's ({len(c_ineq - p_ineq)} not in the "
                f"problem, {len(p_ineq - c_ineq)} of the problem missing)")
    c_eq = {_cert_key(h) for h in cert.equalities}
    p_eq = {key(h, f"equality {j}") for j, h in enumerate(problem.equalities)}
    if c_eq != p_eq:
        return (f"its equalities are not the problem's ({len(c_eq - p_eq)} not in the problem, "
                f"{len(p_eq - c_eq)} of the problem missing)")
    return None


def claim_holds(kind: str, bound: Fraction | None, claimed: Fraction | None) -> bool:
    """True when the proven ``bound`` is at least as strong as the ``claimed`` one."""
    if kind == "infeasible":
        return True
    if bound is None or claimed is None:
        return False
    return bound >= claimed if kind == "lower_bound" else bound <= claimed


def check_certificate(
    cert: Certificate | str | os.PathLike[str],
    *,
    tolerance: Fraction | float = DEFAULT_TOLERANCE,
    exact_limit: int = EXACT_LDL_LIMIT,
    psd_method: str = "auto",
    limits: Limits = DEFAULT_LIMITS,
    problem: Any = None,
) -> CheckReport:
    """Check a certificate exactly and report the bound it proves.

    Parameters
    ----------
    cert : Certificate or path
        The certificate, or a path to a certificate file.
    tolerance : Fraction or float
        Largest accepted gap between the claimed and the proven bound, relative to
        ``max(1, |claimed|)``.  A certificate whose identity proves only a bound weaker than that
        is rejected (the proven value is stated in the reason); one within the tolerance is
        ``valid`` with the weaker ``bound``, and ``claim_holds`` says whether the stated claim
        itself was proven.
    exact_limit : int
        Largest Gram order for which exact :math:`LDL^T` is used when no margin is visible.
    psd_method : {"auto", "ldl", "congruence"}
        How to prove positive semidefiniteness (see :func:`prove_psd`).
    limits : Limits
        Resource limits, enforced for files and for in-memory certificates alike: sizes and
        number lengths, exponents and degrees, the estimated work of expanding the identity and
        of exact :math:`LDL^T` factorisations.  A certificate over a limit is ``REJECTED`` with
        ``over_limit`` set.  Limits never affect soundness: a check either completes exactly or
        refuses.
    problem : sosrelax.Problem, optional
        When given, the certificate is valid only if it is about exactly this problem (see
        :func:`problem_mismatch`): same variables, objective, sense and constraints.

    Returns
    -------
    CheckReport
        Never raises on a bad or malformed proof: those are ``REJECTED`` reports.
    """
    t0 = time.perf_counter()
    claimed: Fraction | None = None
    over = False
    try:
        c = cert if isinstance(cert, Certificate) else Certificate.load(cert, limits=limits)
        claimed = None if c.kind == "infeasible" else c.bound
        if problem is not None:
            why = problem_mismatch(c, problem)
            if why is not None:
                raise Reject(f"the certificate is not about the given problem: {why}")
        try:
            status, bound, reason, rn, mus = _check(c, Fraction(tolerance), exact_limit,
                                                    psd_method, None, limits)
        finally:
            MEMO.clear()
        valid = status is CheckStatus.VERIFIED
        return CheckReport(valid, status, bound, claimed, reason, rn, mus,
                           time.perf_counter() - t0,
                           claim_holds=valid and claim_holds(c.kind, bound, claimed))
    except OverLimit as e:
        reason = f"over a resource limit: {e}"
        over = True
    except (Reject, CertificateFormatError, InvalidValueError) as e:
        reason = str(e)
        over = "over the limit" in reason or "over Limits." in reason
    except (ValueError, TypeError, OverflowError, ZeroDivisionError, MemoryError,
            RecursionError) as e:
        reason = f"malformed certificate ({type(e).__name__}: {e})"
    return CheckReport(False, CheckStatus.REJECTED, None, claimed, reason, float("nan"), (),
                       time.perf_counter() - t0, over_limit=over)

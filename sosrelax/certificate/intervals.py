"""Exact interval bounds over a box, the box a certificate's inequalities imply, substitutions.

When the residual of a certificate is not a constant, the checker bounds it (and the Gram terms
and inequalities) over a box :math:`[l, u] \\supseteq K` in exact interval arithmetic; the box
must be implied by the certificate's own inequalities and equalities.

Only the standard library, numpy and python-flint are imported (the checker's independence rule).
"""

from __future__ import annotations

from fractions import Fraction

import flint
import numpy as np

from sosrelax.certificate.exactpoly import ExactPoly, combine, fq, mul, one, to_fraction
from sosrelax.certificate.format import Certificate


def _pow_interval(lo: Fraction, hi: Fraction, k: int) -> tuple[Fraction, Fraction]:
    if k == 0:
        return Fraction(1), Fraction(1)
    a, b = lo**k, hi**k
    if k % 2 == 1 or lo >= 0:
        return (a, b) if a <= b else (b, a)
    if hi <= 0:
        return (b, a) if b <= a else (a, b)
    return Fraction(0), max(a, b)


def _mono_interval(
    e: np.ndarray, box: tuple[tuple[Fraction, Fraction], ...]
) -> tuple[Fraction, Fraction]:
    lo, hi = Fraction(1), Fraction(1)
    for i in np.flatnonzero(e):
        a, b = _pow_interval(box[i][0], box[i][1], int(e[i]))
        ps = (lo * a, lo * b, hi * a, hi * b)
        lo, hi = min(ps), max(ps)
    return lo, hi


def poly_interval(
    p: ExactPoly, box: tuple[tuple[Fraction, Fraction], ...]
) -> tuple[Fraction, Fraction]:
    """Exact interval enclosure of a polynomial over the box (natural extension)."""
    lo, hi = Fraction(0), Fraction(0)
    for e, c in zip(p[0], p[1], strict=True):
        cf = to_fraction(c)
        a, b = _mono_interval(e, box)
        if cf >= 0:
            lo += cf * a
            hi += cf * b
        else:
            lo += cf * b
            hi += cf * a
    return lo, hi


def basis_sq_max(basis: np.ndarray, box: tuple[tuple[Fraction, Fraction], ...]) -> Fraction:
    """:math:`\\max_{box} \\|b(x)\\|^2 \\le \\sum_\\beta \\max_{box} x^{2\\beta}`."""
    total = Fraction(0)
    for e in basis:
        total += _mono_interval(2 * e.astype(object), box)[1]
    return total


def _sqrt_upper(q: Fraction) -> Fraction:
    """A rational upper bound of :math:`\\sqrt{q}` (``q >= 0``), within about 2^-40 relative."""
    if q <= 0:
        return Fraction(0)
    scale = 2**40
    num = q.numerator * scale * scale
    r = _isqrt_ceil(num * q.denominator)  # sqrt(p q) * scale, rounded up
    return Fraction(r, q.denominator * scale)


def _isqrt_ceil(v: int) -> int:
    import math

    r = math.isqrt(v)
    return r if r * r == v else r + 1


def _infer_box(n: int, facts: list[ExactPoly]) -> tuple[list[Fraction | None], list[Fraction | None]]:
    """Per-variable bounds that the facts ``p >= 0`` imply, by three exact rules.

    * one-variable linear facts ``a x_i + c >= 0``;
    * separable concave quadratics ``c + Σ_j (b_j x_j − a_j x_j²) >= 0`` with every ``a_j > 0``
      (balls, ``x_i(u − x_i) >= 0``, ``x_i² == 1`` read as two facts): completing squares,
      ``|x_j − m_j| <= sqrt(R / a_j)`` with ``m_j = b_j / (2 a_j)``, ``R = c + Σ b_j² / (4 a_j)``;
    * interval propagation through multi-variable linear facts, using bounds already inferred,
      repeated until nothing changes (at most ``2n + 4`` rounds).
    """
    lower: list[Fraction | None] = [None] * n
    upper: list[Fraction | None] = [None] * n

    def tighten(i: int, lo: Fraction | None, hi: Fraction | None) -> bool:
        changed = False
        if lo is not None and (lower[i] is None or lo > lower[i]):  # type: ignore[operator]
            lower[i] = lo
            changed = True
        if hi is not None and (upper[i] is None or hi < upper[i]):  # type: ignore[operator]
            upper[i] = hi
            changed = True
        return changed

    linear: list[tuple[Fraction, list[tuple[int, Fraction]]]] = []
    for e, c in facts:
        if e.shape[0] == 0:
            continue
        deg = e.sum(axis=1)
        coefs = [to_fraction(ci) for ci in c]
        const = sum((cf for d, cf in zip(deg, coefs, strict=True) if d == 0), Fraction(0))
        if int(deg.max()) <= 1:
            lin = [(int(np.flatnonzero(row)[0]), cf)
                   for row, d, cf in zip(e, deg, coefs, strict=True) if d == 1]
            if lin:
                linear.append((const, lin))
            continue
        if int(deg.max()) == 2 and int(e.max()) <= 2:
            # separable: every degree-2 term is a pure square
            sq = [(int(np.flatnonzero(row)[0]), cf)
                  for row, d, cf in zip(e, deg, coefs, strict=True) if d == 2 and row.max() == 2]
            if len(sq) != int((deg == 2).sum()) or any(cf >= 0 for _, cf in sq):
                continue
            a = {i: -cf for i, cf in sq}
            b = {int(np.flatnonzero(row)[0]): cf
                 for row, d, cf in zip(e, deg, coefs, strict=True) if d == 1}
            if any(i not in a for i in b):
                continue  # a linear term in a variable without a square: unbounded in it
            R = const + sum((b.get(i, Fraction(0)) ** 2 / (4 * ai) for i, ai in a.items()),
                            Fraction(0))
            for i, ai in a.items():
                m = b.get(i, Fraction(0)) / (2 * ai)
                rad = _sqrt_upper(R / ai) if R > 0 else Fraction(0)
                tighten(i, m - rad, m + rad)
    for _ in range(2 * n + 4):
        changed = False
        for const, lin in linear:
            for k, (j, aj) in enumerate(lin):
                # aj x_j >= -const - sum_{i != j} a_i x_i  >=  -const - sum sup(a_i x_i)
                rest = Fraction(0)
                ok = True
                for t, (i, ai) in enumerate(lin):
                    if t == k:
                        continue
                    side = upper[i] if ai > 0 else lower[i]
                    if side is None:
                        ok = False
                        break
                    rest += ai * side
                if not ok:
                    continue
                v = (-const - rest) / aj
                changed |= tighten(j, v, None) if aj > 0 else tighten(j, None, v)
        if not changed:
            break
    return lower, upper


def verify_box(cert: Certificate, ineqs: list[ExactPoly], eqs: list[ExactPoly]) -> str | None:
    """Return None if the certificate's box contains the box the constraints imply."""
    assert cert.box is not None
    n = len(cert.variables)
    facts = list(ineqs)
    for h in eqs:
        facts.append(h)
        facts.append((h[0], h[1] * flint.fmpq(-1)))
    lower, upper = _infer_box(n, facts)
    for i, (lo, hi) in enumerate(cert.box):
        name = cert.variables[i]
        if lo > hi:
            return f"box[{i}]: lower bound {lo} exceeds upper bound {hi}"
        li, ui = lower[i], upper[i]
        if li is None or li < lo:
            return (f"box[{i}]: {name} >= {lo} is not implied by the constraints "
                    f"(add {name} - ({lo}) >= 0)")
        if ui is None or ui > hi:
            return (f"box[{i}]: {name} <= {hi} is not implied by the constraints "
                    f"(add ({hi}) - {name} >= 0)")
    return None


def substitute(p: ExactPoly, subst: tuple[tuple[Fraction, Fraction], ...]) -> ExactPoly:
    """``p(c + s·u)`` exactly, for the coordinate-wise change of variables ``x_i = c_i + s_i u_i``."""
    e, c = p
    n = e.shape[1]
    if e.shape[0] == 0:
        return p
    powers: dict[int, list[ExactPoly]] = {}

    def power(i: int, k: int) -> ExactPoly:
        # (c_i + s_i u_i)^k by repeated multiplication, iteratively (no recursion depth limit);
        # the degree limit of the certificate bounds k
        table = powers.setdefault(i, [one(n)])
        if len(table) <= k:
            lin_e = np.zeros((2, n), dtype=np.int64)
            lin_e[1, i] = 1
            lin_c = np.empty(2, dtype=object)
            lin_c[:] = [fq(subst[i][0]), fq(subst[i][1])]
            while len(table) <= k:
                table.append(combine(*mul(table[-1], (lin_e, lin_c))))
        return table[k]

    parts_e, parts_c = [], []
    for row, coef in zip(e, c, strict=True):
        term = one(n)
        for i in np.flatnonzero(row):
            term = mul(term, power(int(i), int(row[i])))
        parts_e.append(term[0])
        parts_c.append(term[1] * coef)
    return combine(np.vstack(parts_e), np.concatenate(parts_c))

"""Exact rounding, in bulk, of certificates whose multipliers are :math:`\\sigma_0` Gram blocks only.

A sparse relaxation of a long chain has a thousand small blocks (one per clique).  The identity
:math:`f - \\gamma = \\sum_j b_j^T Q_j b_j` is linear in the entries, and the constraint of each monomial
:math:`\\alpha` touches its own set of entries (every :math:`(a, b)` of every block with
:math:`b_a + b_b = \\alpha`), disjoint from every other monomial's.  So the orthogonal projection onto the
identities has a closed form over all blocks at once: add :math:`r_\\alpha / N_\\alpha` to each of the
:math:`N_\\alpha` entries of :math:`\\alpha`.  Here it is done on integer arrays: the blocks are rounded to
multiples of :math:`2^{-b}` (``b`` from 40 to 52, as fine as int64 allows for the largest entry), monomials are numbered once by their sparse codes, the exact residual is an
integer vector over a power-of-two denominator, and each block's projected matrix is one integer array
over one denominator.  Before the projection the blocks are corrected in floating point in their own
metric (:func:`~sosrelax.certificate.gramcorrect.newton_correct`) so that the projection moves them by
rounding error only.  Blocks that floating point cannot call definite are tested exactly
(:func:`~sosrelax.certificate.psd.prove_psd`) and repaired by a backoff of the bound on their constant
entry, as in :func:`~sosrelax.certificate.rational.rationalize`.

Nothing here is trusted: the checker decides.
"""

from __future__ import annotations

import copy
from fractions import Fraction
from typing import Any

import numpy as np

from sosrelax.certificate.check import residual_poly
from sosrelax.certificate.format import (
    Certificate,
    RationalMatrix,
    SOSMultiplier,
    as_rational_matrix,
)
from sosrelax.certificate.gramcorrect import alternating_correct, newton_correct
from sosrelax.certificate.psd import prove_psd

__all__ = ["round_blocks"]

_BITS = 40
#: The finest grid: entries are rounded to multiples of ``2^-bits`` with ``bits`` up to this where the largest
#: entry leaves room in int64 (a finer grid moves the blocks less, so that smaller margins survive).
_MAX_BITS = 52


def _grid_bits(blocks: list[np.ndarray]) -> int:
    """The rounding grid's ``bits`` for these blocks: at least :data:`_BITS`, at most :data:`_MAX_BITS`, with
    every entry below ``2^(61 − bits)``."""
    top = max((float(np.abs(B).max(initial=0.0)) for B in blocks), default=0.0)
    if not np.isfinite(top):
        return _BITS
    room = 60 - (int(np.ceil(np.log2(top))) if top > 1 else 0)
    return int(min(_MAX_BITS, max(_BITS, room)))


def _number(bases: list[np.ndarray], lhs_e: np.ndarray) -> tuple[list[np.ndarray], np.ndarray, int]:
    """Monomial ids: ``keys[j][a, b]`` for the entries of block ``j``, then the ids of the rows of ``lhs_e``;
    and the number of ids."""
    radix = max([2 * int(B.max(initial=0)) for B in bases] + [int(lhs_e.max(initial=0))]) + 1
    width = max([int(np.count_nonzero(B.sum(axis=0))) for B in bases]
                + [int(np.count_nonzero(lhs_e, axis=1).max(initial=0)), 1])
    parts = []
    for B in bases:
        used = np.flatnonzero(B.sum(axis=0) > 0)
        L = B[:, used]
        P = L[:, None, :] + L[None, :, :]
        vals = np.where(P > 0, used * radix + P, -1).reshape(-1, used.size)
        vals = np.sort(vals, axis=1)
        pad = np.full((vals.shape[0], width - vals.shape[1]), -1, np.int64)
        parts.append(np.hstack([pad, vals]))
    rows, cols = np.nonzero(lhs_e)
    counts = np.bincount(rows, minlength=lhs_e.shape[0])
    slot = np.arange(rows.size) - (np.cumsum(counts) - counts)[rows]
    lhs_codes = np.full((lhs_e.shape[0], width), -1, np.int64)
    lhs_codes[rows, width - counts[rows] + slot] = cols.astype(np.int64) * radix + lhs_e[rows, cols]
    allc = np.ascontiguousarray(np.vstack([*parts, lhs_codes]))
    _, inv = np.unique(allc.view(np.dtype((np.void, 8 * width))).reshape(-1), return_inverse=True)
    inv = inv.reshape(-1)
    keys, at = [], 0
    for B in bases:
        k = B.shape[0]
        keys.append(inv[at:at + k * k].reshape(k, k))
        at += k * k
    return keys, inv[at:], int(inv.max(initial=-1)) + 1


def _entry_sums(blocks: list[np.ndarray], keys: list[np.ndarray], m: int) -> np.ndarray:
    """Exact ``Σ_j Σ_{(a,b) ↦ α} Q_j[a, b]`` per monomial id of integer blocks (Python integers)."""
    out = np.zeros(m, dtype=object)
    out[:] = 0
    for Q, ent in zip(blocks, keys, strict=True):
        np.add.at(out, ent.ravel(), Q.astype(object).ravel())
    return out


def _round(blocks: list[np.ndarray], bits: int = _BITS) -> list[np.ndarray] | None:
    """Symmetric blocks rounded to integers over ``2**bits`` (``None``: entries too large for int64)."""
    out = []
    for Q in blocks:
        S = 0.5 * (Q + Q.T)
        if not np.all(np.isfinite(S)) or float(np.abs(S).max(initial=0.0)) >= 2.0 ** (62 - bits):
            return None
        out.append(np.rint(np.ldexp(S, bits)).astype(np.int64))
    return out


def _with_gram(m: SOSMultiplier, gram: RationalMatrix) -> SOSMultiplier:
    """``m`` with another Gram matrix; its basis, canonical already, is not normalised again (a thousand
    bases of a thousand variables would cost seconds)."""
    new = copy.copy(m)
    object.__setattr__(new, "gram", gram)
    return new


def _polished(ints: list[np.ndarray], keys: list[np.ndarray], counts: np.ndarray, r: np.ndarray, top: int,
              const: int | None, gamma: Fraction, kind: str, exact_residual: Any, stop_at: float | None = None,
              bits: int = _BITS) -> tuple[list[np.ndarray], Fraction, np.ndarray]:
    """The blocks corrected toward the identities in their own metric, then alternating projections, rounded
    again; the bound and the exact residual (units ``1/top``) that go with them.  When no correction works and
    the blocks hold more constant than the identity asks for (an interior-point iterate whose margin came out
    negative), the excess goes into the bound, on its weak side, and the correction is tried again."""
    blocks = [np.ldexp(Q.astype(float), -bits) for Q in ints]
    low = min(float(np.linalg.eigvalsh(B)[0]) for B in blocks)
    if not low > 0:
        return ints, gamma, r
    for attempt in range(2):
        rv = np.array([float(Fraction(int(v), top)) for v in r])
        new: list[np.ndarray] | list[np.ndarray | None] | None
        new = newton_correct(blocks, 0.5 * low, keys, rv.copy(), counts.astype(float))
        if new is None and attempt == 0 and const is not None and r[const] < 0:
            r0 = Fraction(int(r[const]), top)
            gamma = gamma + r0 if kind == "lower_bound" else gamma - r0
            r = r.copy()
            r[const] = 0
            continue
        if new is None:
            new = alternating_correct(blocks, 0.5 * low, keys, rv.copy(), counts.astype(float), iterations=500,
                                      stop_at=stop_at)
        if new is None:
            return ints, gamma, r
        rounded = _round([b if b is not None else B for b, B in zip(new, blocks, strict=True)], bits)
        if rounded is None:
            return ints, gamma, r
        return rounded, gamma, exact_residual(rounded, gamma)
    return ints, gamma, r


def _restated(cert: Certificate, sos: tuple[SOSMultiplier, ...], bound: Fraction) -> Certificate:
    """``cert`` with other multipliers and bound; its problem data, canonical already, is not normalised
    again (an objective of thousands of terms over a thousand variables would cost a second)."""
    new = copy.copy(cert)
    object.__setattr__(new, "sos", tuple(sos))
    object.__setattr__(new, "bound", Fraction(bound))
    return new


_LHS: list[tuple[Certificate, tuple[np.ndarray, np.ndarray]]] = []
"""The last certificate's ``f − 0`` (or ``0 − f``) as exact arrays: the certificates of one proof search share
their problem data, whose expansion (the change of variables) costs more than the rest of the rounding."""


def _objective_part(cert: Certificate) -> tuple[np.ndarray, np.ndarray]:
    """``f`` (``lower_bound``) or ``−f`` (``upper_bound``), after the certificate's change of variables, as
    exact arrays (exponent rows, ``fmpq`` coefficients)."""
    if _LHS:
        old, arrays = _LHS[0]
        if (old.kind == cert.kind and old.variables == cert.variables and old.substitution == cert.substitution
                and (old.objective is cert.objective or old.objective == cert.objective)):
            return arrays
    arrays = residual_poly(_restated(cert, (), Fraction(0)))
    _LHS[:] = [(cert, arrays)]
    return arrays


_NUMBERING: list[tuple[tuple[Any, ...], np.ndarray, Any]] = []
"""The last certificate's bases (the objects), objective rows and :func:`_numbering`: the certificates of one
relaxation share their basis objects, whose numbering depends on nothing else."""


def _numbering(cert: Certificate, lhs_e: np.ndarray
               ) -> tuple[list[np.ndarray], list[np.ndarray], np.ndarray, int, np.ndarray]:
    """The bases as arrays, :func:`_number`'s monomial ids and the number of entries of each id."""
    objs = tuple(m.basis for m in cert.sos)
    if _NUMBERING:
        old, old_e, out = _NUMBERING[0]
        if old_e is lhs_e and len(old) == len(objs) and all(a is b for a, b in zip(old, objs, strict=True)):
            return out
    n = len(cert.variables)
    bases = [np.array(b, dtype=np.int64).reshape(len(b), n) for b in objs]
    keys, lhs_ids, m = _number(bases, lhs_e)
    counts = np.zeros(m, dtype=np.int64)
    for ent in keys:
        counts += np.bincount(ent.ravel(), minlength=m)
    for a in (*bases, *keys, lhs_ids, counts):
        a.flags.writeable = False  # shared with the next certificate's rounding
    out = (bases, keys, lhs_ids, m, counts)
    _NUMBERING[:] = [(objs, lhs_e, out)]
    return out


def round_blocks(cert_float: Certificate, *, max_backoff: float = 5e-7, polish: bool = True,
                 stop_at: float | None = None) -> Certificate | None:
    """An exact certificate from a float one whose multipliers are all :math:`\\sigma_0` blocks.

    Parameters
    ----------
    cert_float : Certificate
        A ``lower_bound`` or ``upper_bound`` certificate with SOS multipliers of the objective only (no
        constraint multipliers, equality multipliers or products), over dyadic data.
    max_backoff : float
        The bound may move to its weak side by at most ``max_backoff · max(1, |γ|)`` to repair blocks that
        the projection left indefinite (on their constant entry).
    stop_at : float, optional
        A ``time.perf_counter()`` time after which the iterative correction gives up (the rounding then goes
        on without it).
    polish : bool
        Correct the blocks in their own metric before the projection.

    Returns
    -------
    Certificate or None
        With the identity exact (every monomial's coefficient matches), or ``None`` when this bulk path
        does not apply (other multipliers, a monomial of ``f`` no block has, non-dyadic data, huge entries):
        then :func:`~sosrelax.certificate.rational.rationalize` is the general path.  Untrusted.
    """
    if (cert_float.kind not in ("lower_bound", "upper_bound") or cert_float.equality_multipliers
            or cert_float.products or not cert_float.sos
            or any(m.constraint is not None or not m.basis for m in cert_float.sos)):
        return None
    n = len(cert_float.variables)
    if n == 0:
        return None  # a constant problem: nothing to number
    floats = [as_rational_matrix(m.gram).to_float() for m in cert_float.sos]
    bits = _grid_bits(floats)
    den = 2**bits
    gamma = Fraction(round(cert_float.bound * den), den)
    ints = _round(floats, bits)
    if ints is None:
        return None
    lhs_e, lhs_c = _objective_part(cert_float)  # f (or −f) exactly; the bound goes on the constant below
    if any(int(c.q) & (int(c.q) - 1) for c in lhs_c):
        return None  # not dyadic
    bases, keys, lhs_ids, m, counts = _numbering(cert_float, lhs_e)
    if np.any(counts[lhs_ids] == 0):
        return None  # a monomial of the objective no block has
    top = max([den] + [int(c.q) for c in lhs_c])
    lhs = np.zeros(m, dtype=object)
    lhs[:] = 0
    for i, c in zip(lhs_ids.tolist(), lhs_c, strict=True):
        lhs[i] += int(c.p) * (top // int(c.q))
    const = next((int(ent[a, a]) for B, ent in zip(bases, keys, strict=True)
                  for a in range(B.shape[0]) if not B[a].any()), None)
    weaker = 1 if cert_float.kind == "lower_bound" else -1  # f − γ or γ − f: the constant is ∓γ
    if gamma and const is None:
        return None
    if gamma:
        lhs[const] -= int(weaker * gamma * top)

    gamma0 = gamma

    def exact_residual(blocks: list[np.ndarray], g: Fraction) -> np.ndarray:
        """r = lhs − A(Q) in units of 1/top, for the bound g (the constant of f − γ or γ − f moves)."""
        out = lhs - _entry_sums(blocks, keys, m) * (top // den)
        if g != gamma0 and const is not None:
            out[const] += int((gamma0 - g) * weaker * top)
        return out

    r = exact_residual(ints, gamma)
    if polish and any(r):
        ints, gamma, r = _polished(ints, keys, counts, r, top, const, gamma, cert_float.kind, exact_residual,
                                   stop_at, bits)
    # the joint projection: r_α / N_α on every entry of α, one denominator per block
    sos = []
    grams: list[RationalMatrix] = []
    for mult, Q, ent in zip(cert_float.sos, ints, keys, strict=True):
        rs = r[ent]
        nz = np.array([bool(v) for v in rs.ravel()]).reshape(rs.shape)
        lcm = int(np.lcm.reduce(counts[ent][nz])) if nz.any() else 1
        num = Q.astype(object) * ((top // den) * lcm)
        if nz.any():
            num = num + rs * (lcm // counts[ent]).astype(object)
        g = RationalMatrix(num, top * lcm)
        grams.append(g)
        sos.append(_with_gram(mult, g))
    # blocks that are not (provably) PSD: back the bound off on their constant entry
    sign = -1 if cert_float.kind == "lower_bound" else 1
    cap = Fraction(max_backoff) * max(Fraction(1), abs(gamma))
    total = Fraction(0)
    for j, g in enumerate(grams):
        qf = g.to_float()
        scale = float(np.abs(qf).max(initial=0.0))
        if float(np.linalg.eigvalsh(qf)[0]) > 1e-12 * max(scale, 1e-300) or prove_psd(g)[0]:
            continue
        zero = next((a for a, b in enumerate(cert_float.sos[j].basis) if not any(b)), None)
        if zero is None:
            return _restated(cert_float, tuple(sos), gamma + sign * total)  # the checker rejects or absorbs
        fixed = None
        for step in range(6):
            delta = Fraction(round(Fraction(1, 1000) * cap * 4**step * den), den)
            if total + delta > cap:
                break
            num = g.numerators.astype(object) * delta.denominator
            num[zero, zero] += delta.numerator * g.denominator
            gd = RationalMatrix(num, g.denominator * delta.denominator)
            if prove_psd(gd)[0]:
                fixed, total = gd, total + delta
                break
        if fixed is None:
            return _restated(cert_float, tuple(sos), gamma + sign * total)
        sos[j] = _with_gram(sos[j], fixed)
    return _restated(cert_float, tuple(sos), gamma + sign * total)

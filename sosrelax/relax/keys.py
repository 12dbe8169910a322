"""Compact monomials and their integer keys: the indexing every moment-type relaxation shares.

A monomial of degree at most ``D`` in ``n`` variables is held in *compact* form: a row of ``D`` variable
indices listed with repetition, sorted ascending and padded with ``n`` (the padding stands for the factor
1).  ``x_0² x_3`` with ``n = 5``, ``D = 4`` is the row ``[0, 0, 3, 5]``.  Products are concatenations
followed by a row sort (:func:`compact_product`), so nothing scales with ``n`` per monomial.

A compact row's integer key (:class:`MonomialKeys`) is the mixed-radix number
``deg · B^D + Σ_k idx_k B^{D-1-k}`` in base ``B = n + 1``; ordering keys orders monomials in the graded
lexicographic order, and :func:`decode_keys` inverts it.  The moment vector of a relaxation is indexed by
the sorted keys of its monomials.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from sosrelax.errors import InvalidValueError, SizeLimitError
from sosrelax.poly import Polynomial

__all__ = [
    "CompactPolynomial",
    "MonomialKeys",
    "compact_product",
    "compact_to_dense",
    "decode_keys",
    "to_compact",
    "widen",
    "zero_key",
]


def to_compact(exps: np.ndarray, support: np.ndarray, width: int, pad: int) -> np.ndarray:
    """Exponent rows over the (ascending) variables ``support`` to compact rows of ``width`` columns.

    Parameters
    ----------
    exps : ndarray of int, shape (m, s)
        Exponents; column ``k`` belongs to variable ``support[k]``.  Each row's degree must be at most
        ``width``.
    support : ndarray of int, shape (s,)
        Ascending variable indices.
    width : int
        Columns of the result.
    pad : int
        The padding value (the number of variables ``n``).

    Returns
    -------
    ndarray of int64, shape (m, width)
        Row ``i`` lists ``support[k]`` ``exps[i, k]`` times, ascending, then ``pad``.
    """
    m, s = exps.shape
    out = np.full((m, max(width, 0)), pad, dtype=np.int64)
    if m == 0 or s == 0:
        return out
    flat = exps.reshape(-1)
    rows = np.repeat(np.repeat(np.arange(m, dtype=np.int64), s), flat)
    vals = np.repeat(np.tile(np.asarray(support, dtype=np.int64), m), flat)
    deg = exps.sum(axis=1)
    starts = np.concatenate([[0], np.cumsum(deg)[:-1]])
    pos = np.arange(rows.size, dtype=np.int64) - starts[rows]
    out[rows, pos] = vals
    return out


def widen(idx: np.ndarray, width: int, pad: int) -> np.ndarray:
    """Pad compact rows with ``pad`` to ``width`` columns, or cut columns beyond ``width``.

    Cutting is exact only when the cut columns are pure padding (the rows' degrees are at most ``width``).
    """
    w = idx.shape[-1]
    if w == width:
        return idx
    if w > width:
        return idx[..., :width]
    extra = np.full((*idx.shape[:-1], width - w), pad, dtype=np.int64)
    return np.concatenate([idx, extra], axis=-1)


def compact_product(a: np.ndarray, b: np.ndarray, width: int, pad: int) -> np.ndarray:
    """All products ``a_i · b_t`` of compact monomials (rows ``i`` major, ``t`` minor), ``width`` columns.

    The product of two monomials is the sorted concatenation of their rows; ``width`` must be at least the
    largest degree of a product.
    """
    na, nb = a.shape[0], b.shape[0]
    cat = np.concatenate(
        [np.repeat(a, nb, axis=0), np.tile(b, (na, 1))], axis=1
    ) if a.shape[1] + b.shape[1] else np.zeros((na * nb, 0), dtype=np.int64)
    cat.sort(axis=1)
    return widen(cat, width, pad)


def compact_to_dense(idx: np.ndarray, n: int) -> np.ndarray:
    """Compact rows (padding ``n``) to dense exponent rows of shape ``(m, n)``."""
    m = idx.shape[0]
    out = np.zeros((m, n), dtype=np.int64)
    if m == 0 or idx.shape[1] == 0:
        return out
    r = np.repeat(np.arange(m), idx.shape[1])
    c = idx.reshape(-1)
    keep = c < n
    np.add.at(out, (r[keep], c[keep]), 1)
    return out


class MonomialKeys:
    """Integer keys of compact monomials whose order is the graded lexicographic order.

    ``key = deg · B^D + Σ_k idx_k B^{D-1-k}`` with ``B = n + 1`` and ``D = width``.  The keys stay below
    ``(D + 1) · B^D``; :attr:`fits` says whether that is below ``2^62.5`` (int64 with margin).  Calling an
    instance whose keys do not fit raises :class:`~sosrelax.errors.SizeLimitError`.

    Parameters
    ----------
    n : int
        Number of variables (the padding value).
    width : int
        The largest degree ``D`` of a keyed monomial; shorter rows are padded.
    """

    def __init__(self, n: int, width: int) -> None:
        self.n, self.width = n, width
        self.base = n + 1
        # keys stay below (width + 1) * base**width
        self.fits = width * math.log2(self.base) + math.log2(width + 1) < 62.5

    def __call__(self, idx: np.ndarray) -> np.ndarray:
        """Keys (int64, shape ``(m,)``) of compact rows ``idx`` (at most ``width`` columns of non-padding)."""
        idx = widen(idx, self.width, self.n).reshape(-1, self.width)
        if not self.fits:
            raise SizeLimitError(
                f"monomials of degree {self.width} in {self.n} variables exceed the 64-bit key; "
                "lower the level"
            )
        key = (idx < self.n).sum(axis=1).astype(np.int64)
        for k in range(self.width):
            key = key * self.base + idx[:, k]
        return key


def decode_keys(keys: np.ndarray, n: int, width: int) -> np.ndarray:
    """Compact rows (shape ``(m, width)``) of the keys made by ``MonomialKeys(n, width)``."""
    base = n + 1
    out = np.empty((keys.size, width), dtype=np.int64)
    k = keys.copy()
    for j in range(width - 1, -1, -1):
        out[:, j] = k % base
        k //= base
    return out


def zero_key(keyf: MonomialKeys, n: int, width: int) -> np.ndarray:
    """The key (shape ``(1,)``) of the monomial 1."""
    return keyf(np.full((1, width), n, dtype=np.int64))


@dataclass(frozen=True)
class CompactPolynomial:
    """A polynomial in compact form: ``p(x) = Σ_t c_t Π_k x_{idx[t, k]}`` (entries equal to ``n`` are 1).

    Attributes
    ----------
    indices : ndarray of int64, shape (m, D)
        Row ``t`` lists the variable indices of the term's monomial with repetition, sorted ascending,
        padded with ``n``; ``D`` is at least the degree.
    coefs : ndarray of float64, shape (m,)
    n : int
        Number of variables (the padding value).
    """

    indices: np.ndarray
    coefs: np.ndarray
    n: int

    @property
    def degree(self) -> int:
        """The largest degree of a term (0 for the zero polynomial)."""
        if self.indices.shape[0] == 0:
            return 0
        return int((self.indices < self.n).sum(axis=1).max())

    @property
    def support(self) -> np.ndarray:
        """Sorted indices of the variables the polynomial uses."""
        v = np.unique(self.indices)
        return v[v < self.n]

    @classmethod
    def from_polynomial(cls, p: Polynomial, variables: Sequence[str]) -> CompactPolynomial:
        """Convert a :class:`~sosrelax.poly.Polynomial` written over (a subset of) ``variables``."""
        n = len(variables)
        pos = {v: i for i, v in enumerate(variables)}
        used = [v for v in p.variables if v in pos]
        missing = [v for v in p.variables if v not in pos]
        exps = np.asarray(p.exps, dtype=np.int64)
        if missing:
            cols = [p.variables.index(v) for v in missing]
            if exps.shape[0] and np.any(exps[:, cols] != 0):
                raise InvalidValueError(f"the polynomial uses variables {missing} outside {list(variables)}")
        sel = [p.variables.index(v) for v in used]
        idx = np.array([pos[v] for v in used], dtype=np.int64)
        order = np.argsort(idx)
        sub = exps[:, sel][:, order] if sel else np.zeros((exps.shape[0], 0), dtype=np.int64)
        deg = max(p.degree, 0)
        return cls(to_compact(sub, idx[order], deg, n), np.asarray(p.coefs, dtype=float).copy(), n)

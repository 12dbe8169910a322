"""Exact numbers of the certificate format: canonical rationals, rational matrices, polynomial terms.

Every number in a file is an exact rational written as a string ``"p"`` or ``"p/q"`` (reduced,
``q > 1``); Gram matrices are :class:`RationalMatrix` objects (integer numerators over one common
denominator) and polynomials are :data:`Terms`.  Only the standard library and numpy are imported,
so the independent checker can rely on this module.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator, Sequence
from fractions import Fraction
from typing import Any, overload

import numpy as np

from sosrelax.certificate.limits import DEFAULT_LIMITS, Limits
from sosrelax.errors import CertificateFormatError, InvalidValueError

__all__ = [
    "RationalMatrix",
    "Terms",
    "as_rational_matrix",
    "canonical_terms",
    "float_toward",
    "format_rational",
    "gram_from_array",
    "gram_json",
    "parse_rational",
    "terms_from_arrays",
]

Terms = tuple[tuple[tuple[int, ...], Fraction], ...]
"""A polynomial: pairs (exponent tuple, exact coefficient); repeated exponents add up."""

_NUMBER_RE = re.compile(r"-?(0|[1-9][0-9]*)(/[1-9][0-9]*)?")


def format_rational(value: Fraction | int) -> str:
    """Canonical string of an exact rational: ``"p"`` or ``"p/q"`` with ``q > 1``, reduced."""
    v = Fraction(value)
    if v.denominator == 1:
        return str(v.numerator)
    return f"{v.numerator}/{v.denominator}"


def parse_rational(text: object, path: str, limits: Limits = DEFAULT_LIMITS) -> Fraction:
    """Parse a canonical number string; the length is checked before any conversion.

    Raises
    ------
    CertificateFormatError
        Naming ``path`` when the value is not a string, too long, not canonical or not reduced.
    """
    if not isinstance(text, str):
        raise CertificateFormatError(
            f"{path}: expected an exact rational written as a string 'p' or 'p/q', "
            f"got {type(text).__name__}"
        )
    if len(text) > limits.max_digits:
        raise CertificateFormatError(
            f"{path}: number has {len(text)} characters, over the limit of {limits.max_digits}; "
            "raise Limits.max_digits if the file is trusted"
        )
    if _NUMBER_RE.fullmatch(text) is None:
        raise CertificateFormatError(
            f"{path}: {text[:40]!r} is not an exact rational 'p' or 'p/q' (no floats, NaN, Inf, "
            "'+', spaces or leading zeros)"
        )
    if "/" in text:
        p_s, q_s = text.split("/")
        p, q = int(p_s), int(q_s)
        if q == 1 or math.gcd(p, q) != 1:
            raise CertificateFormatError(
                f"{path}: {text!r} is not reduced; write it as {format_rational(Fraction(p, q))!r}"
            )
        return Fraction(p, q)
    if text == "-0":
        raise CertificateFormatError(f"{path}: '-0' is not canonical; write '0'")
    return Fraction(int(text))


# --------------------------------------------------------------------------------------------
# exact matrices


def _fits_int64(a: np.ndarray) -> bool:
    if a.dtype == np.int64:
        return True
    if a.size == 0:
        return True
    m = max(abs(int(a.max())), abs(int(a.min())))
    return m < 2**62


class RationalMatrix(Sequence[tuple[Fraction, ...]]):
    """An exact rational matrix stored as integer numerators over one common denominator.

    It reads like ``tuple[tuple[Fraction, ...], ...]`` (``len``, indexing, iteration, equality
    with nested tuples) but keeps the numerators in one numpy array (``int64`` when they fit,
    Python integers otherwise), so that a 400 x 400 Gram matrix costs no Fraction objects
    until someone asks for them.

    Parameters
    ----------
    numerators : numpy.ndarray
        Integer array of shape (k, k) (any integer or object dtype).
    denominator : int
        Positive common denominator.
    """

    __slots__ = ("_den", "_num")

    def __init__(self, numerators: np.ndarray, denominator: int = 1) -> None:
        num = np.asarray(numerators)
        if num.ndim != 2:
            raise InvalidValueError(f"a Gram matrix must be two-dimensional, got shape {num.shape}")
        den = int(denominator)
        if den <= 0:
            raise InvalidValueError(f"denominator must be positive, got {den}")
        if num.dtype != object and not np.issubdtype(num.dtype, np.integer):
            raise InvalidValueError(f"numerators must be integers, got dtype {num.dtype}")
        if num.dtype == object:
            num = np.vectorize(int, otypes=[object])(num) if num.size else num
        else:
            num = num.astype(np.int64)
        # reduce the common denominator (canonical form: gcd(all numerators, den) == 1)
        g = den
        if num.size:
            if num.dtype == np.int64:
                g = math.gcd(int(np.gcd.reduce(num, axis=None)), den)
            else:
                for v in num.flat:
                    g = math.gcd(g, int(v))
                    if g == 1:
                        break
        if g > 1:
            num = num // g
            den //= g
        if num.dtype == object and _fits_int64(num):
            num = num.astype(np.int64)
        num.setflags(write=False)
        self._num = num
        self._den = den

    # construction -------------------------------------------------------------------------
    @classmethod
    def from_rows(cls, rows: Sequence[Sequence[Fraction | int]]) -> RationalMatrix:
        """Build from nested sequences of exact rationals (Fraction or int)."""
        k = len(rows)
        fr = [[Fraction(v) for v in row] for row in rows]
        if any(len(r) != len(fr[0]) for r in fr) if fr else False:
            raise InvalidValueError("Gram rows have different lengths")
        cols = len(fr[0]) if fr else 0
        den = 1
        for r in fr:
            for v in r:
                den = math.lcm(den, v.denominator)
        num = np.empty((k, cols), dtype=object)
        for i, r in enumerate(fr):
            for j, v in enumerate(r):
                num[i, j] = v.numerator * (den // v.denominator)
        return cls(num, den)

    @classmethod
    def from_float(cls, values: np.ndarray) -> RationalMatrix:
        """Exact conversion of a float array (every float is a dyadic rational)."""
        a = np.asarray(values, dtype=np.float64)
        if a.ndim != 2:
            raise InvalidValueError(f"a Gram matrix must be two-dimensional, got shape {a.shape}")
        if not np.all(np.isfinite(a)):
            raise InvalidValueError("Gram matrix contains NaN or Inf; nothing exact to write")
        mant, ex = np.frexp(a)  # a = mant * 2**ex, 0.5 <= |mant| < 1
        m_int = (mant * 2.0**53).astype(np.int64)  # exact
        e = ex.astype(np.int64) - 53
        nz = m_int != 0
        if not nz.any():
            return cls(np.zeros(a.shape, dtype=np.int64), 1)
        e_min = int(e[nz].min())
        shift = np.where(nz, e - e_min, 0)
        if int(shift.max()) <= 9:  # 53 + 9 bits fit in int64
            num: np.ndarray = m_int << shift
        else:
            num = m_int.astype(object) * (np.ones_like(shift, dtype=object) << shift.astype(object))
        if e_min >= 0:
            if not e_min:
                return cls(num, 1)
            if num.dtype != object and int(shift.max()) + e_min <= 9:
                return cls(num * (2**e_min), 1)
            return cls(num.astype(object) * (2**e_min), 1)
        return cls(num, 2 ** (-e_min))

    # accessors ----------------------------------------------------------------------------
    @property
    def numerators(self) -> np.ndarray:
        """Read-only integer numerators (``int64`` or Python ``int`` objects)."""
        return self._num

    @property
    def denominator(self) -> int:
        """The common positive denominator (reduced against all numerators)."""
        return self._den

    @property
    def shape(self) -> tuple[int, int]:
        """``(rows, columns)``."""
        return (int(self._num.shape[0]), int(self._num.shape[1]))

    def to_float(self) -> np.ndarray:
        """Nearest-ish float64 approximation (for guesses only, never for proofs)."""
        if self._num.dtype == np.int64 and self._den < 2**1000:
            return self._num.astype(np.float64) / float(self._den)
        d = self._den
        if d < 2**1000:
            try:  # Python integers below 2^1024 convert (correctly rounded) without a Fraction each
                flat = np.array([float(v) for v in self._num.ravel()], dtype=np.float64)
                return (flat / float(d)).reshape(self._num.shape)
            except OverflowError:
                pass
        return np.array(
            [[float(Fraction(int(v), d)) for v in row] for row in self._num], dtype=np.float64
        ).reshape(self._num.shape)

    def is_symmetric(self) -> bool:
        """Exact symmetry test."""
        r, c = self.shape
        return r == c and bool(np.all(self._num == self._num.T))

    def __len__(self) -> int:
        return int(self._num.shape[0])

    @overload
    def __getitem__(self, i: int) -> tuple[Fraction, ...]: ...

    @overload
    def __getitem__(self, i: slice) -> tuple[tuple[Fraction, ...], ...]: ...

    def __getitem__(
        self, i: int | slice
    ) -> tuple[Fraction, ...] | tuple[tuple[Fraction, ...], ...]:
        if isinstance(i, slice):
            return tuple(self[j] for j in range(*i.indices(len(self))))
        d = self._den
        return tuple(Fraction(int(v), d) for v in self._num[i])

    def __iter__(self) -> Iterator[tuple[Fraction, ...]]:
        for i in range(len(self)):
            yield self[i]

    def __eq__(self, other: object) -> bool:
        if isinstance(other, RationalMatrix):
            return (
                self.shape == other.shape
                and self._den == other._den
                and bool(np.all(self._num == other._num))
            )
        if isinstance(other, Sequence):
            try:
                return tuple(self) == tuple(tuple(Fraction(v) for v in row) for row in other)
            except (TypeError, ValueError):
                return False
        return NotImplemented

    def __hash__(self) -> int:
        return hash((self.shape, self._den, self._num.tobytes() if self._num.dtype != object
                     else tuple(int(v) for v in self._num.flat)))

    def __repr__(self) -> str:
        r, c = self.shape
        return f"RationalMatrix(shape=({r}, {c}), denominator={self._den})"


def as_rational_matrix(gram: Sequence[Sequence[Fraction | int]] | RationalMatrix) -> RationalMatrix:
    """Return ``gram`` as a :class:`RationalMatrix` (no copy if it already is one)."""
    if isinstance(gram, RationalMatrix):
        return gram
    return RationalMatrix.from_rows(gram)


def gram_from_array(Q: np.ndarray) -> RationalMatrix:
    """Exact rational copy of a float Gram matrix (each float64 is a dyadic rational).

    The result reads as ``tuple[tuple[Fraction, ...], ...]`` but stores integer numerators over a
    power-of-two denominator, so a 400 x 400 matrix converts in milliseconds.
    """
    return RationalMatrix.from_float(np.asarray(Q, dtype=np.float64))


def terms_from_arrays(exps: np.ndarray, coefs: np.ndarray) -> Terms:
    """Exact conversion of a float polynomial ``sum_k coefs[k] * x**exps[k]``.

    Parameters
    ----------
    exps : numpy.ndarray
        Integer array of shape (m, n), nonnegative.
    coefs : numpy.ndarray
        Float array of shape (m,); each float is converted to the rational it represents.

    Raises
    ------
    InvalidValueError
        On NaN/Inf coefficients, negative exponents or mismatched shapes.
    """
    e = np.asarray(exps)
    c = np.asarray(coefs, dtype=np.float64).reshape(-1)
    if e.ndim != 2 or e.shape[0] != c.shape[0]:
        raise InvalidValueError(
            f"exponents of shape {e.shape} do not match {c.shape[0]} coefficients"
        )
    if not np.all(np.isfinite(c)):
        raise InvalidValueError("polynomial coefficient is NaN or Inf")
    if e.size and (not np.issubdtype(e.dtype, np.integer) or int(e.min()) < 0):
        if not np.all(e == np.round(e)) or float(e.min()) < 0:
            raise InvalidValueError("exponents must be nonnegative integers")
    rows = e.astype(np.int64).tolist()  # Python ints, converted in C
    out = tuple((tuple(row), Fraction(ck)) for row, ck in zip(rows, c.tolist(), strict=True))
    # already canonical (int exponent tuples, Fraction coefficients): canonical_terms returns it as it is
    if len(_NORMALISED) >= _NORMALISED_MAX:
        _NORMALISED.clear()
    _NORMALISED[id(out)] = out
    return out


# --------------------------------------------------------------------------------------------
# dataclasses


#: Terms objects already in canonical form, by ``id`` (each entry holds its object, so an id is
#: never reused while it is listed).  Lemma chains share one inequality among hundreds of lemma
#: certificates; normalising it once instead of once per certificate is what this is for.
_NORMALISED: dict[int, Terms] = {}
_NORMALISED_MAX = 200_000


def _norm_terms(terms: Any) -> Terms:
    hit = _NORMALISED.get(id(terms))
    if hit is not None and hit is terms:
        return hit
    out = tuple((tuple(map(int, e)), c if type(c) is Fraction else Fraction(c)) for e, c in terms)
    if len(_NORMALISED) >= _NORMALISED_MAX:
        _NORMALISED.clear()
    _NORMALISED[id(out)] = out
    return out


#: Monomial bases (tuples of exponent tuples) already in canonical form, by ``id``, like
#: :data:`_NORMALISED`: a producer that lists one block's basis in many certificates (the centred
#: re-solves of one relaxation) has it normalised once.
#: Each entry maps ``id(x)`` to ``(x, canonical form of x)`` and holds ``x``, so the id stays its own.
_BASES: dict[int, tuple[Any, tuple[tuple[int, ...], ...]]] = {}
_BASES_MAX = 100_000


def canonical_basis(basis: Any) -> tuple[tuple[int, ...], ...]:
    """``basis`` as a tuple of int exponent tuples (``int(v)`` of each exponent), as a shared object.

    The result, or the very object it was made from, passed again (e.g. to the next certificate of
    one relaxation) gives the same result object without converting it again.  The input must not
    be mutated afterwards (tuples cannot be; a producer passing a list keeps it unchanged).
    """
    hit = _BASES.get(id(basis))
    if hit is not None and hit[0] is basis:
        return hit[1]
    out = tuple(tuple(map(int, b)) for b in basis)
    if len(_BASES) + 2 > _BASES_MAX:
        _BASES.clear()
    _BASES[id(out)] = (out, out)
    if type(basis) is tuple and all(type(b) is tuple for b in basis):  # only immutable inputs are remembered
        _BASES[id(basis)] = (basis, out)
    return out


def register_int_basis(basis: tuple[tuple[int, ...], ...]) -> None:
    """Record ``basis`` as canonical without converting it: for a producer whose bases are tuples of Python
    ``int`` tuples by construction (``ndarray.tolist()`` of an integer array), so that certificates built
    from it skip :func:`canonical_basis`'s conversion of every exponent."""
    if len(_BASES) + 1 > _BASES_MAX:
        _BASES.clear()
    _BASES[id(basis)] = (basis, basis)


def canonical_terms(terms: Any) -> Terms:
    """``terms`` with int exponent tuples and Fraction coefficients, as a shared object.

    Producers that list one polynomial in many certificates (lemma chains) should build it once
    with this function and pass the returned object around: certificates then share it instead
    of each normalising a copy, and the checker converts it once per check.
    """
    return _norm_terms(terms)




def gram_json(g: RationalMatrix) -> list[list[str]]:
    """Rows of ``g`` as canonical rational strings (each entry reduced on its own)."""
    num, den = g.numerators, g.denominator
    if num.dtype == np.int64 and den < 2**62:
        gg = np.gcd(num, np.int64(den))
        p = num // gg
        q = np.int64(den) // gg
        return [
            [
                str(a) if b == 1 else f"{a}/{b}"
                for a, b in zip(pr.tolist(), qr.tolist(), strict=True)
            ]
            for pr, qr in zip(p, q, strict=True)
        ]
    out = []
    for row in num:
        r = []
        for v in row:
            iv = int(v)
            gc = math.gcd(iv, den)
            a, b = iv // gc, den // gc
            r.append(str(a) if b == 1 else f"{a}/{b}")
        out.append(r)
    return out


def float_toward(q: Fraction, down: bool) -> float:
    """``q`` as a float rounded down (``down``) or up, so that a proven bound stays proven."""
    f = float(q)
    if down and Fraction(f) > q:
        return math.nextafter(f, -math.inf)
    if not down and Fraction(f) < q:
        return math.nextafter(f, math.inf)
    return f

"""The certificate file format: exact, versioned, canonical JSON.

A certificate states the polynomial identity (Putinar / Positivstellensatz form)

.. math::

    \\ell(x) = \\sigma_0(x) + \\sum_i \\sigma_i(x) g_i(x) + \\sum_j \\lambda_j(x) h_j(x)
             + \\sum_k c_k \\prod_i g_i(x)^{a_{ki}},

with :math:`\\ell = f - \\gamma` (``"lower_bound"``), :math:`\\gamma - f` (``"upper_bound"``) or
:math:`-1` (``"infeasible"``), :math:`\\sigma = b(x)^T Q b(x)` with :math:`Q \\succeq 0`,
:math:`\\lambda_j` arbitrary polynomials and :math:`c_k \\ge 0`.  It implies :math:`f \\ge \\gamma`
(resp. :math:`f \\le \\gamma`, resp. :math:`K = \\emptyset`) on
:math:`K = \\{x : g(x) \\ge 0,\\ h(x) = 0\\}`.  This module only reads and writes such objects;
``sosrelax.certificate.check`` decides whether the identity really holds.

Every number in a file is an exact rational written as a string ``"p"`` or ``"p/q"`` (reduced,
``q > 1``); Gram matrices are written as full rows so that the checker can verify symmetry.
The output is canonical: sorted keys, no whitespace, no timestamps, trailing newline, so that
``to_json(from_json(b)) == b``.  The reader refuses unknown formats and versions and enforces
size limits (:class:`Limits`) before it allocates anything proportional to the content.
See ``docs/certificates.md`` for the full specification.
"""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any, overload

import numpy as np

from sosrelax.errors import CertificateFormatError, InvalidValueError

FORMAT_NAME = "sosrelax-certificate"
FORMAT_VERSION = 1

KINDS = ("lower_bound", "upper_bound", "infeasible")
CONES = ("psd", "dd", "sdd")

Terms = tuple[tuple[tuple[int, ...], Fraction], ...]
"""A polynomial: pairs (exponent tuple, exact coefficient); repeated exponents add up."""

__all__ = [
    "CONES",
    "DEFAULT_LIMITS",
    "FORMAT_NAME",
    "FORMAT_VERSION",
    "KINDS",
    "Certificate",
    "EqualityMultiplier",
    "Limits",
    "ProductMultiplier",
    "RationalMatrix",
    "SOSMultiplier",
    "Terms",
    "canonical_terms",
    "format_rational",
    "gram_from_array",
    "parse_rational",
    "terms_from_arrays",
]


# --------------------------------------------------------------------------------------------
# limits


@dataclass(frozen=True)
class Limits:
    """Size limits enforced by the reader before allocation.

    Attributes
    ----------
    max_file_bytes : int
        Largest accepted file (or byte string).
    max_variables : int
        Largest number of variables.
    max_terms : int
        Largest number of terms in one polynomial.
    max_gram_order : int
        Largest Gram matrix order (the matrix has ``order**2`` entries).
    max_digits : int
        Largest number of characters in one number string ``"p/q"``.
    max_depth : int
        Deepest JSON nesting of arrays and objects.
    max_items : int
        Largest number of constraints, multipliers or products in one list.
    max_exponent : int
        Largest single exponent.
    max_degree : int
        Largest total degree of any polynomial the checker forms: the problem's polynomials, each
        :math:`b^T Q b` and :math:`\\sigma_i g_i`, each product :math:`\\prod_i g_i^{a_i}`, each
        :math:`\\lambda_j h_j` and every polynomial after the change of variables.
    max_work : int
        Largest estimated number of exact coefficient products needed to expand the identity
        (Gram forms, multiplier products, constraint products, the change of variables).
    max_ldl_work : int
        Largest work of one exact :math:`LDL^T` (counted while it runs: :math:`12 m^2 b` per
        elimination step on an :math:`m \\times m` block with a :math:`b`-bit pivot, about
        :math:`k^4 b` for a dense order-:math:`k` matrix; about 1 ns per unit); a matrix whose
        semidefiniteness only a longer factorisation could prove is refused.

    Notes
    -----
    The limits bound the resources a check may use; they never decide soundness.  A certificate
    over a limit is refused (the checker says which limit and by how much), never accepted
    without its proof.  The same limits apply to certificates read from files and to
    :class:`Certificate` objects built in memory.
    """

    max_file_bytes: int = 256 * 2**20
    max_variables: int = 10_000
    max_terms: int = 1_000_000
    max_gram_order: int = 5_000
    max_digits: int = 4_000
    max_depth: int = 8
    max_items: int = 100_000
    max_exponent: int = 10_000
    max_degree: int = 1_000
    max_work: int = 20_000_000
    max_ldl_work: int = 500_000_000


DEFAULT_LIMITS = Limits()

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
    ei = e.astype(np.int64)
    return tuple(
        (tuple(int(v) for v in row), Fraction(float(ck))) for row, ck in zip(ei, c, strict=True)
    )


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
    out = tuple((tuple(int(v) for v in e), Fraction(c)) for e, c in terms)
    if len(_NORMALISED) >= _NORMALISED_MAX:
        _NORMALISED.clear()
    _NORMALISED[id(out)] = out
    return out


def canonical_terms(terms: Any) -> Terms:
    """``terms`` with int exponent tuples and Fraction coefficients, as a shared object.

    Producers that list one polynomial in many certificates (lemma chains) should build it once
    with this function and pass the returned object around: certificates then share it instead
    of each normalising a copy, and the checker converts it once per check.
    """
    return _norm_terms(terms)


@dataclass(frozen=True)
class SOSMultiplier:
    """An SOS multiplier :math:`\\sigma(x) = b(x)^T Q b(x)` of inequality ``constraint``.

    Attributes
    ----------
    constraint : int or None
        Index into ``Certificate.inequalities``; ``None`` for :math:`\\sigma_0` (multiplies 1).
    basis : tuple of exponent tuples
        The monomials :math:`b_1, \\dots, b_k`.
    gram : k x k symmetric exact rational matrix
        Reads as ``tuple[tuple[Fraction, ...], ...]``; stored as a :class:`RationalMatrix`.
    cone : {"psd", "dd", "sdd"}
        The cone the producer intended: PSD (SOS), diagonally dominant (DSOS) or scaled
        diagonally dominant (SDSOS).  DD and SDD are subsets of PSD; the checker proves the
        property it needs (nonnegativity of :math:`\\sigma`), trying the cheap DD test first.
    """

    constraint: int | None
    basis: tuple[tuple[int, ...], ...]
    gram: tuple[tuple[Fraction, ...], ...] | RationalMatrix
    cone: str = "psd"

    def __post_init__(self) -> None:
        object.__setattr__(self, "basis", tuple(tuple(int(v) for v in b) for b in self.basis))
        object.__setattr__(self, "gram", as_rational_matrix(self.gram))


@dataclass(frozen=True)
class EqualityMultiplier:
    """A polynomial multiplier :math:`\\lambda(x)` of equality ``constraint`` (any sign)."""

    constraint: int
    poly: Terms

    def __post_init__(self) -> None:
        object.__setattr__(self, "poly", _norm_terms(self.poly))


@dataclass(frozen=True)
class ProductMultiplier:
    """A term :math:`c \\prod_{i \\in \\text{constraints}} g_i(x)` with :math:`c \\ge 0`.

    ``constraints`` lists inequality indices (repeats allowed: ``(0, 0)`` is :math:`g_0^2`);
    the empty tuple is the constant 1.  The checker rejects a negative ``coefficient``.
    """

    constraints: tuple[int, ...]
    coefficient: Fraction

    def __post_init__(self) -> None:
        object.__setattr__(self, "constraints", tuple(int(v) for v in self.constraints))
        object.__setattr__(self, "coefficient", Fraction(self.coefficient))


@dataclass(frozen=True)
class Certificate:
    """A self-contained, exactly checkable proof (see the module docstring for the identity).

    Attributes
    ----------
    variables : tuple of str
    kind : {"lower_bound", "upper_bound", "infeasible"}
    objective : Terms
        :math:`f` (empty for ``"infeasible"``).
    bound : Fraction
        The claimed :math:`\\gamma` (0 for ``"infeasible"``).
    inequalities, equalities : tuple of Terms
        :math:`g_i \\ge 0` and :math:`h_j = 0`.
    sos, equality_multipliers, products
        The multipliers.
    box : tuple of (lower, upper) or None
        Per-variable bounds implied by the constraints; the checker verifies the implication
        and then uses the box to absorb residuals and small negative eigenvalues.
    lemmas : tuple of Certificate
        Bound certificates checked first, in order, each over a subset of this certificate's
        constraints (plus the conclusions of earlier lemmas); their conclusions (``f − γ ≥ 0`` for
        a lower bound, ``γ − f ≥ 0`` for an upper bound) may stand among the inequalities here.
    derived : tuple of int
        Indices of the inequalities that are lemma conclusions rather than part of the set; the
        checker verifies each against a proven lemma.  The set the certificate is about is made
        of the other constraints.
    substitution : tuple of (center, scale) or None
        The multipliers are written in the variables ``u`` of the change of variables
        ``x_i = center_i + scale_i * u_i`` (``scale_i > 0``); the checker substitutes it into the
        problem's polynomials itself, exactly.  ``None``: the multipliers are in ``x``.
    metadata : dict of str to str
        Informational only (solver, relaxation, level, expected_bound); never trusted.
    """

    variables: tuple[str, ...]
    kind: str
    objective: Terms
    bound: Fraction
    inequalities: tuple[Terms, ...]
    equalities: tuple[Terms, ...]
    sos: tuple[SOSMultiplier, ...]
    equality_multipliers: tuple[EqualityMultiplier, ...]
    products: tuple[ProductMultiplier, ...] = ()
    box: tuple[tuple[Fraction, Fraction], ...] | None = None
    metadata: dict[str, str] = field(default_factory=dict)
    substitution: tuple[tuple[Fraction, Fraction], ...] | None = None
    lemmas: tuple[Certificate, ...] = ()
    derived: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        s = object.__setattr__
        s(self, "variables", tuple(str(v) for v in self.variables))
        s(self, "objective", _norm_terms(self.objective))
        s(self, "bound", Fraction(self.bound))
        s(self, "inequalities", tuple(_norm_terms(g) for g in self.inequalities))
        s(self, "equalities", tuple(_norm_terms(h) for h in self.equalities))
        s(self, "sos", tuple(self.sos))
        s(self, "equality_multipliers", tuple(self.equality_multipliers))
        s(self, "products", tuple(self.products))
        if self.box is not None:
            s(self, "box", tuple((Fraction(lo), Fraction(hi)) for lo, hi in self.box))
        s(self, "metadata", {str(k): str(v) for k, v in self.metadata.items()})
        s(self, "lemmas", tuple(self.lemmas))
        s(self, "derived", tuple(int(i) for i in self.derived))
        if self.substitution is not None:
            s(self, "substitution",
              tuple((Fraction(c), Fraction(sc)) for c, sc in self.substitution))

    # I/O ----------------------------------------------------------------------------------
    def to_json(self) -> bytes:
        """Canonical UTF-8 JSON bytes (sorted keys, compact, trailing newline)."""
        return _dump(self)

    @classmethod
    def from_json(cls, data: bytes | str, *, limits: Limits = DEFAULT_LIMITS) -> Certificate:
        """Parse certificate bytes; raises :class:`CertificateFormatError` naming the field."""
        return _load(data, limits)

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write :meth:`to_json` to ``path``."""
        Path(path).write_bytes(self.to_json())

    @classmethod
    def load(
        cls, path: str | os.PathLike[str], *, limits: Limits = DEFAULT_LIMITS
    ) -> Certificate:
        """Read a certificate file; the size is checked before the file is read."""
        p, data = read_limited(path, limits)
        try:
            return _load(data, limits)
        except CertificateFormatError as e:
            raise CertificateFormatError(f"{p}: {e}") from e


# --------------------------------------------------------------------------------------------
# writer


def _terms_json(t: Terms) -> dict[str, Any]:
    return {
        "coefficients": [format_rational(c) for _, c in t],
        "exponents": [list(e) for e, _ in t],
    }


def _gram_json(g: RationalMatrix) -> list[list[str]]:
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


def canonical_json(obj: dict[str, Any]) -> bytes:
    """Canonical bytes of a certificate document: sorted keys, compact, ASCII, trailing newline."""
    text = json.dumps(
        obj, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False
    )
    return (text + "\n").encode("ascii")


def read_limited(path: str | os.PathLike[str], limits: Limits) -> tuple[Path, bytes]:
    """The bytes of a certificate file, at most ``limits.max_file_bytes`` of them.

    The size is checked before the file is read, and the read itself stops one byte past the
    limit, so a device or pipe that never ends (``/dev/zero``) or a file that grows while it is
    read is refused instead of exhausting memory.

    Raises
    ------
    CertificateFormatError
        When the file cannot be read or is over the limit.
    """
    p = Path(path)
    cap = limits.max_file_bytes
    try:
        size = p.stat().st_size
        if size > cap:
            raise CertificateFormatError(
                f"{p}: file has {size} bytes, over the limit of {cap}; raise "
                "Limits.max_file_bytes if the file is trusted"
            )
        with p.open("rb") as fh:
            data = fh.read(cap + 1)
    except OSError as e:
        raise CertificateFormatError(f"{p}: cannot read certificate file ({e})") from e
    if len(data) > cap:
        raise CertificateFormatError(
            f"{p}: more than {cap} bytes, over the limit; raise Limits.max_file_bytes if the "
            "file is trusted"
        )
    return p, data


def float_toward(q: Fraction, down: bool) -> float:
    """``q`` as a float rounded down (``down``) or up, so that a proven bound stays proven."""
    f = float(q)
    if down and Fraction(f) > q:
        return math.nextafter(f, -math.inf)
    if not down and Fraction(f) < q:
        return math.nextafter(f, math.inf)
    return f


def _dump(c: Certificate) -> bytes:
    return canonical_json(_obj(c))


def _obj(c: Certificate) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "format": FORMAT_NAME,
        "version": FORMAT_VERSION,
        "variables": list(c.variables),
        "kind": c.kind,
        "objective": _terms_json(c.objective),
        "bound": format_rational(c.bound),
        "inequalities": [_terms_json(g) for g in c.inequalities],
        "equalities": [_terms_json(h) for h in c.equalities],
        "sos": [
            {
                "constraint": m.constraint,
                "basis": [list(b) for b in m.basis],
                "gram": _gram_json(as_rational_matrix(m.gram)),
                "cone": m.cone,
            }
            for m in c.sos
        ],
        "equality_multipliers": [
            {"constraint": m.constraint, "poly": _terms_json(m.poly)}
            for m in c.equality_multipliers
        ],
        "products": [
            {"constraints": list(p.constraints), "coefficient": format_rational(p.coefficient)}
            for p in c.products
        ],
        "box": None
        if c.box is None
        else [[format_rational(lo), format_rational(hi)] for lo, hi in c.box],
        "metadata": dict(c.metadata),
    }
    # optional fields are written only when present: older files stay byte-identical
    if c.substitution is not None:
        obj["substitution"] = [[format_rational(a), format_rational(b)] for a, b in c.substitution]
    if c.lemmas:
        obj["lemmas"] = [_obj(lem) for lem in c.lemmas]
    if c.derived:
        obj["derived"] = list(c.derived)
    return obj


# --------------------------------------------------------------------------------------------
# reader

_OPEN = np.frombuffer(b"[{", dtype=np.uint8)
_CLOSE = np.frombuffer(b"]}", dtype=np.uint8)


def _nesting_depth(data: bytes) -> int:
    """Maximum bracket depth outside strings, computed without parsing (vectorised)."""
    a = np.frombuffer(data, dtype=np.uint8)
    if a.size == 0:
        return 0
    if (a == ord("\\")).any():
        # escapes present (rare: metadata text); scan the slow but exact way
        depth = best = 0
        in_str = esc = False
        for ch in data.decode("utf-8", errors="replace"):
            if in_str:
                if esc:
                    esc = False
                elif ch == "\\":
                    esc = True
                elif ch == '"':
                    in_str = False
            elif ch == '"':
                in_str = True
            elif ch in "[{":
                depth += 1
                best = max(best, depth)
            elif ch in "]}":
                depth -= 1
        return best
    quotes = np.cumsum(a == ord('"'), dtype=np.int64)
    outside = (quotes & 1) == 0
    step = np.isin(a, _OPEN).astype(np.int32) - np.isin(a, _CLOSE).astype(np.int32)
    step[~outside] = 0
    return int(np.cumsum(step, dtype=np.int64).max(initial=0))


def _reject_constant(name: str) -> Any:
    raise CertificateFormatError(f"{name} is not a number in this format (exact rationals only)")


def _reject_float(text: str) -> Any:
    raise CertificateFormatError(
        f"JSON number {text[:40]!r}: floats are not allowed; write exact rationals as strings"
    )


def _small_int(text: str) -> int:
    if len(text) > 19:
        raise CertificateFormatError(
            f"JSON integer {text[:40]}...: too long for an index or exponent"
        )
    return int(text)


class _Reader:
    def __init__(self, limits: Limits) -> None:
        self.lim = limits

    # primitives -------------------------------------------------------------------------------
    def obj(self, v: Any, path: str, required: set[str], optional: frozenset[str] = frozenset()
            ) -> dict[str, Any]:
        if not isinstance(v, dict):
            raise CertificateFormatError(f"{path}: expected an object, got {type(v).__name__}")
        missing = required - v.keys()
        if missing:
            raise CertificateFormatError(f"{path}: missing field(s) {sorted(missing)}")
        extra = v.keys() - required - optional
        if extra:
            raise CertificateFormatError(f"{path}: unknown field(s) {sorted(extra)}")
        return v

    def lst(self, v: Any, path: str, max_len: int) -> list[Any]:
        if not isinstance(v, list):
            raise CertificateFormatError(f"{path}: expected an array, got {type(v).__name__}")
        if len(v) > max_len:
            raise CertificateFormatError(
                f"{path}: {len(v)} entries, over the limit of {max_len}"
            )
        return v

    def int_(self, v: Any, path: str, lo: int, hi: int) -> int:
        if not isinstance(v, int) or isinstance(v, bool):
            raise CertificateFormatError(f"{path}: expected an integer, got {type(v).__name__}")
        if not lo <= v <= hi:
            raise CertificateFormatError(f"{path}: {v} is outside [{lo}, {hi}]")
        return v

    def num(self, v: Any, path: str) -> Fraction:
        return parse_rational(v, path, self.lim)

    def exps(self, v: Any, path: str, n: int) -> tuple[int, ...]:
        e = self.lst(v, path, n)
        if len(e) != n:
            raise CertificateFormatError(
                f"{path}: exponent has {len(e)} entries but there are {n} variables"
            )
        top = self.lim.max_exponent
        return tuple(self.int_(x, f"{path}[{i}]", 0, top) for i, x in enumerate(e))

    def terms(self, v: Any, path: str, n: int) -> Terms:
        d = self.obj(v, path, {"exponents", "coefficients"})
        ex = self.lst(d["exponents"], f"{path}.exponents", self.lim.max_terms)
        co = self.lst(d["coefficients"], f"{path}.coefficients", self.lim.max_terms)
        if len(ex) != len(co):
            raise CertificateFormatError(
                f"{path}: {len(ex)} exponents but {len(co)} coefficients"
            )
        return tuple(
            (self.exps(e, f"{path}.exponents[{i}]", n), self.num(c, f"{path}.coefficients[{i}]"))
            for i, (e, c) in enumerate(zip(ex, co, strict=True))
        )

    def gram(self, v: Any, path: str, k: int) -> RationalMatrix:
        rows = self.lst(v, path, self.lim.max_gram_order)
        if len(rows) != k:
            raise CertificateFormatError(
                f"{path}: {len(rows)} rows but the basis has {k} monomials"
            )
        nums: list[int] = []
        dens: list[int] = []
        for i, row in enumerate(rows):
            r = self.lst(row, f"{path}[{i}]", self.lim.max_gram_order)
            if len(r) != k:
                raise CertificateFormatError(
                    f"{path}[{i}]: {len(r)} entries but the basis has {k} monomials "
                    "(Gram matrices are written as full rows)"
                )
            for j, s in enumerate(r):
                if isinstance(s, str) and len(s) <= self.lim.max_digits and s.isascii() and (
                    s.isdigit()
                ) and (
                    s == "0" or s[0] != "0"
                ):
                    nums.append(int(s))
                    dens.append(1)
                else:
                    q = self.num(s, f"{path}[{i}][{j}]")
                    nums.append(q.numerator)
                    dens.append(q.denominator)
        den = 1
        for d in set(dens):
            den = math.lcm(den, d)
        if den == 1:
            num = np.array(nums, dtype=object).reshape(k, k)
        else:
            num = np.array(
                [a * (den // b) for a, b in zip(nums, dens, strict=True)], dtype=object
            ).reshape(k, k)
        return RationalMatrix(num if k else np.zeros((0, 0), dtype=np.int64), den)

    # document ---------------------------------------------------------------------------------
    def certificate(self, doc: Any, nested: bool = False) -> Certificate:
        top_req = {
            "format", "version", "variables", "kind", "objective", "bound", "inequalities",
            "equalities", "sos", "equality_multipliers", "products", "box", "metadata",
        }
        if not isinstance(doc, dict):
            raise CertificateFormatError("(root): expected a JSON object")
        fmt = doc.get("format")
        if fmt != FORMAT_NAME:
            raise CertificateFormatError(
                f"format: {str(fmt)[:60]!r} is not {FORMAT_NAME!r}; "
                "this is not a sosrelax certificate"
            )
        ver = doc.get("version")
        if ver != FORMAT_VERSION or isinstance(ver, bool):
            raise CertificateFormatError(
                f"version: {str(ver)[:20]!r} is not supported (this reader knows version "
                f"{FORMAT_VERSION}); upgrade sosrelax"
            )
        self.obj(doc, "(root)", top_req, frozenset({"substitution", "lemmas", "derived"}))
        lim = self.lim
        var = self.lst(doc["variables"], "variables", lim.max_variables)
        for i, name in enumerate(var):
            if not isinstance(name, str) or not name or len(name) > 256:
                raise CertificateFormatError(f"variables[{i}]: expected a non-empty name")
        if len(set(var)) != len(var):
            raise CertificateFormatError("variables: names repeat")
        n = len(var)
        kind = doc["kind"]
        if kind not in KINDS:
            raise CertificateFormatError(f"kind: {str(kind)[:40]!r} is not one of {KINDS}")
        objective = self.terms(doc["objective"], "objective", n)
        bound = self.num(doc["bound"], "bound")
        ineq = tuple(
            self.terms(g, f"inequalities[{i}]", n)
            for i, g in enumerate(self.lst(doc["inequalities"], "inequalities", lim.max_items))
        )
        eq = tuple(
            self.terms(h, f"equalities[{i}]", n)
            for i, h in enumerate(self.lst(doc["equalities"], "equalities", lim.max_items))
        )
        sos = []
        for i, m in enumerate(self.lst(doc["sos"], "sos", lim.max_items)):
            p = f"sos[{i}]"
            d = self.obj(m, p, {"constraint", "basis", "gram", "cone"})
            con = d["constraint"]
            if con is not None:
                con = self.int_(con, f"{p}.constraint", 0, 2**31)
            basis = tuple(
                self.exps(b, f"{p}.basis[{j}]", n)
                for j, b in enumerate(self.lst(d["basis"], f"{p}.basis", lim.max_gram_order))
            )
            if d["cone"] not in CONES:
                raise CertificateFormatError(
                    f"{p}.cone: {str(d['cone'])[:20]!r} is not one of {CONES}"
                )
            gram = self.gram(d["gram"], f"{p}.gram", len(basis))
            sos.append(SOSMultiplier(con, basis, gram, d["cone"]))
        em = []
        for i, m in enumerate(
            self.lst(doc["equality_multipliers"], "equality_multipliers", lim.max_items)
        ):
            p = f"equality_multipliers[{i}]"
            d = self.obj(m, p, {"constraint", "poly"})
            em.append(
                EqualityMultiplier(
                    self.int_(d["constraint"], f"{p}.constraint", 0, 2**31),
                    self.terms(d["poly"], f"{p}.poly", n),
                )
            )
        prods = []
        for i, m in enumerate(self.lst(doc["products"], "products", lim.max_items)):
            p = f"products[{i}]"
            d = self.obj(m, p, {"constraints", "coefficient"})
            cons = tuple(
                self.int_(c, f"{p}.constraints[{j}]", 0, 2**31)
                for j, c in enumerate(self.lst(d["constraints"], f"{p}.constraints", 1000))
            )
            prods.append(ProductMultiplier(cons, self.num(d["coefficient"], f"{p}.coefficient")))
        box = None
        if doc["box"] is not None:
            bl = self.lst(doc["box"], "box", lim.max_variables)
            bx = []
            for i, pair in enumerate(bl):
                pr = self.lst(pair, f"box[{i}]", 2)
                if len(pr) != 2:
                    raise CertificateFormatError(f"box[{i}]: expected [lower, upper]")
                bx.append((self.num(pr[0], f"box[{i}][0]"), self.num(pr[1], f"box[{i}][1]")))
            box = tuple(bx)
        subst = None
        if doc.get("substitution") is not None:
            sl = self.lst(doc["substitution"], "substitution", lim.max_variables)
            if len(sl) != n:
                raise CertificateFormatError(
                    f"substitution: {len(sl)} entries but there are {n} variables"
                )
            sub = []
            for i, pair in enumerate(sl):
                pr = self.lst(pair, f"substitution[{i}]", 2)
                if len(pr) != 2:
                    raise CertificateFormatError(f"substitution[{i}]: expected [center, scale]")
                c0 = self.num(pr[0], f"substitution[{i}][0]")
                c1 = self.num(pr[1], f"substitution[{i}][1]")
                if c1 <= 0:
                    raise CertificateFormatError(f"substitution[{i}][1]: scale must be positive")
                sub.append((c0, c1))
            subst = tuple(sub)
        lemmas = []
        if doc.get("lemmas"):
            if nested:
                raise CertificateFormatError("lemmas: a lemma cannot carry lemmas of its own")
            for i, lem in enumerate(self.lst(doc["lemmas"], "lemmas", lim.max_items)):
                try:
                    lemmas.append(self.certificate(lem, nested=True))
                except CertificateFormatError as e:
                    raise CertificateFormatError(f"lemmas[{i}].{e}") from e
        derived = tuple(
            self.int_(v, f"derived[{i}]", 0, max(0, len(ineq) - 1))
            for i, v in enumerate(self.lst(doc.get("derived") or [], "derived", lim.max_items))
        )
        meta = doc["metadata"]
        if not isinstance(meta, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in meta.items()
        ):
            raise CertificateFormatError("metadata: expected an object of strings")
        if len(meta) > 1000:
            raise CertificateFormatError("metadata: too many entries")
        return Certificate(
            variables=tuple(var), kind=kind, objective=objective, bound=bound,
            inequalities=ineq, equalities=eq, sos=tuple(sos), equality_multipliers=tuple(em),
            products=tuple(prods), box=box, metadata=dict(meta), substitution=subst,
            lemmas=tuple(lemmas), derived=derived,
        )


def _load(data: bytes | str, limits: Limits) -> Certificate:
    raw = data.encode("utf-8") if isinstance(data, str) else bytes(data)
    if len(raw) > limits.max_file_bytes:
        raise CertificateFormatError(
            f"(root): {len(raw)} bytes, over the limit of {limits.max_file_bytes}"
        )
    depth = _nesting_depth(raw)
    if depth > limits.max_depth:
        raise CertificateFormatError(
            f"(root): JSON nesting depth {depth} is over the limit of {limits.max_depth}"
        )
    try:
        doc = json.loads(
            raw.decode("utf-8"),
            parse_constant=_reject_constant,
            parse_float=_reject_float,
            parse_int=_small_int,
        )
    except CertificateFormatError:
        raise
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError, ValueError) as e:
        raise CertificateFormatError(f"(root): not valid JSON ({e})") from e
    return _Reader(limits).certificate(doc)

"""Sparse multivariate polynomials with real (float64) coefficients.

A polynomial in the variables :math:`x = (x_1, \\dots, x_n)` is stored as

.. math::  p(x) = \\sum_{i=1}^{m} c_i \\, x^{\\alpha_i}, \\qquad
           x^{\\alpha} = \\prod_j x_j^{\\alpha_j},

with an integer exponent matrix ``exps`` (row :math:`i` is :math:`\\alpha_i`) and a coefficient
vector ``coefs``.  The representation is *canonical*: every monomial appears once, no coefficient is
zero, and rows are sorted in **graded lexicographic** order -- total degree ascending, then the
exponent tuple descending lexicographically.  For the variables ``(x, y)`` that order is
``1, x, y, x^2, x*y, y^2, x^3, x^2*y, ...``; :func:`monomial_basis` enumerates monomials in the same
order.

Everything here is plain floating-point algebra except :meth:`Polynomial.evaluate_exact`, which
reads every coefficient and every coordinate as the exact rational it denotes (``Fraction(float)``
is exact) and returns the exact value of the polynomial at that point.

Exactness of the numbers you write: a float is taken as the float64 it is; an integer, numpy integer,
:class:`fractions.Fraction` or integer literal in :meth:`Polynomial.parse` text must be exactly
representable as a float64, otherwise :class:`~sosrelax.errors.InvalidValueError` names it (so
``(2**53 + 1) * x`` is refused rather than silently becoming ``2**53 * x``).  Arithmetic *between*
float coefficients (``+ - * / **`` of polynomials and numbers) is IEEE float64 arithmetic and rounds
like any float computation: ``(x + 0.1)**2`` has the coefficient ``0.1 * 0.1``, ``3**40 * x`` written
as ``x * 3.0**40`` is the rounded power.  The polynomial that a certificate is about is the one
these floats denote, read exactly; build coefficients that must be exact from exact floats.

Comparisons between polynomials build :class:`Constraint` objects (``1 - x**2 - y**2 >= 0``) instead
of booleans; structural equality is :meth:`Polynomial.equals`.

Size limits: every polynomial has total degree at most :data:`MAX_DEGREE` and at most
:data:`MAX_TERMS` terms.  Products and powers whose result could exceed either limit are refused
with :class:`~sosrelax.errors.SizeLimitError` *before* anything is allocated.
"""

from __future__ import annotations

import keyword
import math
import numbers
import re
import tokenize
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import Enum
from fractions import Fraction
from io import StringIO
from typing import Any

import numpy as np
import scipy.sparse as sp

from sosrelax.errors import (
    InvalidOperationError,
    InvalidValueError,
    ParseError,
    SizeLimitError,
    UnknownVariableError,
)

__all__ = [
    "MAX_DEGREE",
    "MAX_TERMS",
    "Constraint",
    "ConstraintKind",
    "Polynomial",
    "monomial_basis",
    "monomial_index",
    "variables",
]

#: Largest total degree of any polynomial.  ``x**10**9`` is refused before any allocation.
MAX_DEGREE = 1000
#: Largest number of terms of any polynomial (and of any monomial basis).
MAX_TERMS = 5_000_000

# Working-set cap (number of int64/float64 entries) for intermediate arrays of products and
# evaluations; larger jobs are processed in chunks of this size.
_CHUNK_ENTRIES = 1 << 22

Number = numbers.Real
PointLike = Mapping[Any, Any] | Sequence[Any] | np.ndarray


# --------------------------------------------------------------------------------------------
# canonical form
# --------------------------------------------------------------------------------------------


def _graded_lex_order(exps: np.ndarray) -> np.ndarray:
    """Permutation sorting rows by total degree ascending, then exponents descending (lex)."""
    m, n = exps.shape
    if m <= 1:
        return np.arange(m)
    deg = exps.sum(axis=1)
    top = int(deg.max())
    radix = top + 1
    if (n + 1) * math.log2(radix + 1) < 62:
        # one int64 key per row: degree, then (top - e_1), (top - e_2), ... in base `radix`
        key = deg.astype(np.int64)
        for j in range(n):
            key = key * radix + (top - exps[:, j])
        return np.argsort(key, kind="stable")
    # np.lexsort: the LAST key is the primary one.
    keys = [-exps[:, j] for j in range(n - 1, -1, -1)]
    keys.append(deg)
    return np.lexsort(keys)


def _canonical_arrays(exps: np.ndarray, coefs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sort in graded lex order, merge duplicate monomials (summing), drop zero coefficients.

    No validation; callers pass int64 ``(m, n)`` and float64 ``(m,)`` arrays.
    """
    m = exps.shape[0]
    if m == 0:
        return exps.reshape(0, exps.shape[1]), coefs.reshape(0)
    order = _graded_lex_order(exps)
    e = exps[order]
    c = coefs[order]
    if m > 1:
        new = np.empty(m, dtype=bool)
        new[0] = True
        np.any(e[1:] != e[:-1], axis=1, out=new[1:])
        starts = np.flatnonzero(new)
        if starts.size < m:
            c = np.add.reduceat(c, starts)
            e = e[starts]
    keep = c != 0.0
    if not keep.all():
        e = e[keep]
        c = c[keep]
    return np.ascontiguousarray(e), np.ascontiguousarray(c)


def _readonly(a: np.ndarray) -> np.ndarray:
    a.flags.writeable = False
    return a


def _monomial_str(exps_row: Sequence[int] | np.ndarray, names: Sequence[str]) -> str:
    parts = []
    for name, e in zip(names, exps_row, strict=True):
        e = int(e)
        if e == 1:
            parts.append(name)
        elif e > 1:
            parts.append(f"{name}^{e}")
    return "*".join(parts) if parts else "1"


def _format_number(v: float) -> str:
    """Shortest text that reads back as exactly ``v`` (integers without a trailing ``.0``)."""
    if v.is_integer() and abs(v) < 1e16:
        return str(int(v))
    return repr(v)


def _check_identifier(name: Any, what: str = "variable name") -> str:
    if not isinstance(name, str):
        raise InvalidValueError(
            f"{what} {name!r} is a {type(name).__name__}, not a string; use names like 'x' or 'x0'"
        )
    if not name.isidentifier() or keyword.iskeyword(name) or name.startswith("__"):
        raise InvalidValueError(
            f"{what} {name!r} is not usable: names must be identifiers (letters, digits, '_', "
            "not starting with a digit or '__', not a Python keyword) so that printed polynomials "
            "parse back; use e.g. 'x_1' instead"
        )
    return name


def _var_name(v: Any) -> str:
    """Name of a variable given as a string or as the polynomial ``x`` itself."""
    if isinstance(v, str):
        return v
    if isinstance(v, Polynomial):
        name = v._single_variable()
        if name is not None:
            return name
        raise InvalidValueError(
            f"{str(v)!r} is not a single variable; pass a variable such as x (from "
            "sosrelax.variables) or its name"
        )
    raise InvalidValueError(
        f"{v!r} ({type(v).__name__}) is not a variable; pass a name or a variable polynomial"
    )


def _as_float(c: Any, what: str) -> float:
    """``c`` as a float64, refusing exact numbers (integers, fractions) that float64 would round.

    A Python/numpy integer or a :class:`fractions.Fraction` denotes an exact value; silently
    rounding ``2**53 + 1`` to ``2**53`` would change the polynomial (and the claim proven about
    it).  Such a value raises :class:`InvalidValueError` naming it; floats are taken as given.
    """
    try:
        v = float(c)
    except OverflowError as e:
        raise InvalidValueError(f"{what} {c!r} is too large for a float64 coefficient") from e
    if not math.isfinite(v):
        raise InvalidValueError(f"{what} is {v!r}; coefficients and values must be finite")
    if isinstance(c, numbers.Rational) and not isinstance(c, bool) and Fraction(v) != c:
        raise InvalidValueError(
            f"{what} {c} is not exactly representable as a float64 (it would be rounded to "
            f"{v!r}); coefficients are float64: rescale the problem so that its numbers are "
            "exact floats (integers up to 2**53, dyadic fractions)"
        )
    return v


def _is_number(c: Any) -> bool:
    return isinstance(c, numbers.Real) and not isinstance(c, Polynomial)


# --------------------------------------------------------------------------------------------
# constraints
# --------------------------------------------------------------------------------------------


class ConstraintKind(Enum):
    """How a constraint's polynomial is compared with zero."""

    GE = ">="
    GT = ">"
    EQ = "=="


@dataclass(frozen=True, eq=False)
class Constraint:
    """A normalised constraint: ``poly >= 0`` (GE), ``poly > 0`` (GT) or ``poly == 0`` (EQ).

    Built by comparing polynomials: ``p >= q`` gives ``Constraint(p - q, GE)``, ``p <= q`` gives
    ``Constraint(q - p, GE)``, ``p > q`` / ``p < q`` the strict versions and ``p == q`` gives
    ``Constraint(p - q, EQ)``.  A constraint has no truth value: ``if p == q:`` raises
    :class:`~sosrelax.errors.InvalidOperationError`; use :meth:`Polynomial.equals` for that.
    Two constraints compare equal when their kinds agree and their polynomials are structurally
    equal.
    """

    poly: Polynomial
    kind: ConstraintKind

    def __post_init__(self) -> None:
        if not isinstance(self.poly, Polynomial):
            raise InvalidOperationError(
                f"Constraint.poly must be a Polynomial, got {type(self.poly).__name__}"
            )
        if not isinstance(self.kind, ConstraintKind):
            raise InvalidOperationError(
                f"Constraint.kind must be a ConstraintKind, got {self.kind!r}"
            )

    def __bool__(self) -> bool:
        raise InvalidOperationError(
            f"the constraint '{self}' has no truth value. Comparisons of polynomials build "
            "constraints for a Problem; to test whether two polynomials are identical use "
            "p.equals(q), and to test a constraint at a point use c.holds_at(point). (Sets and "
            "dict keys compare with ==, so structurally equal polynomials meeting there end up "
            "here too: key them by p.key instead.)"
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Constraint):
            return NotImplemented
        return self.kind is other.kind and self.poly.equals(other.poly)

    def __hash__(self) -> int:
        return hash((self.kind, self.poly))

    @property
    def strict(self) -> bool:
        """True for ``poly > 0``."""
        return self.kind is ConstraintKind.GT

    def holds_at(self, point: PointLike) -> bool:
        """Exact test at a point: ``poly(point) >= 0`` / ``> 0`` / ``== 0`` in rationals."""
        v = self.poly.evaluate_exact(point)
        if self.kind is ConstraintKind.GE:
            return v >= 0
        if self.kind is ConstraintKind.GT:
            return v > 0
        return v == 0

    def __str__(self) -> str:
        return f"{self.poly} {self.kind.value} 0"

    def __repr__(self) -> str:
        return f"Constraint({str(self)!r})"


# --------------------------------------------------------------------------------------------
# Polynomial
# --------------------------------------------------------------------------------------------


class Polynomial:
    """An immutable sparse polynomial with float64 coefficients, in canonical graded lex form.

    Parameters
    ----------
    exps : array_like of int, shape (m, n)
        Exponent rows; ``n == len(variables)``.  Non-negative integers.
    coefs : array_like of float, shape (m,)
        Coefficients, finite.  Duplicated rows are summed, zero coefficients dropped.
    variables : sequence of str
        Variable names (identifiers), one per column of ``exps``.  Variables with no nonzero
        exponent may be listed: they are kept in :attr:`variables` (a polynomial can be declared
        over more variables than it uses).

    Attributes
    ----------
    variables : tuple of str
    exps : ndarray of int64, shape (m, n), read-only, graded lex order
    coefs : ndarray of float64, shape (m,), read-only, all finite and nonzero

    Notes
    -----
    Arithmetic (``+ - *`` with numbers and polynomials, ``**`` with a non-negative integer,
    ``/`` by a number) merges variable tuples: the left operand's variables, then the right
    operand's new ones.  Comparisons (``>= <= > < ==``) return :class:`Constraint` objects.
    ``hash(p)`` agrees with ``p.equals(q)`` (tolerance 0), which ignores the order of
    variables and variables that are declared but unused.
    """

    __slots__ = ("_variables", "_exps", "_coefs", "_degree", "_hash", "__weakref__")

    # numpy must not try to broadcast over a Polynomial: `np.float64(2) * x` defers to us.
    __array_ufunc__ = None

    _variables: tuple[str, ...]
    _exps: np.ndarray
    _coefs: np.ndarray
    _degree: int | None
    _hash: int | None

    def __init__(self, exps: Any, coefs: Any, variables: Sequence[str] | str) -> None:
        if isinstance(variables, str):
            variables = variables.replace(",", " ").split()
        names = tuple(_check_identifier(v) for v in variables)
        if len(set(names)) != len(names):
            dup = sorted({v for v in names if names.count(v) > 1})
            raise InvalidValueError(f"variable names {dup} are repeated in {names}")
        n = len(names)
        c = np.asarray(coefs)
        if c.dtype.kind not in "biuf":
            raise InvalidValueError(
                f"coefficients must be real numbers, got an array of dtype {c.dtype}"
            )
        if c.dtype.kind in "iu" and c.size:
            for i, raw in enumerate(c.reshape(-1).tolist()):
                if abs(raw) > 2**53 and int(float(raw)) != raw:
                    raise InvalidValueError(
                        f"coefficient {i} = {raw} is not exactly representable as a float64 (it "
                        f"would be rounded to {float(raw)!r}); rescale so that integers stay "
                        "below 2**53"
                    )
        c = np.array(c, dtype=np.float64).reshape(-1) if c.ndim <= 1 else c
        if c.ndim != 1:
            raise InvalidValueError(f"coefs must be one-dimensional, got shape {np.shape(coefs)}")
        m = c.shape[0]
        if m > MAX_TERMS:
            raise SizeLimitError(f"{m} terms exceed MAX_TERMS = {MAX_TERMS}")
        e_raw = np.asarray(exps)
        if e_raw.size == 0:
            e_raw = e_raw.reshape(m, n) if m * n == 0 else e_raw
        if e_raw.ndim == 1 and n == 1 and e_raw.shape[0] == m:
            e_raw = e_raw.reshape(m, 1)
        if e_raw.ndim != 2 or e_raw.shape != (m, n):
            raise InvalidValueError(
                f"exps has shape {e_raw.shape}, expected ({m}, {n}) = (number of coefficients, "
                "number of variables)"
            )
        if e_raw.dtype.kind == "f":
            if not np.all(np.isfinite(e_raw)) or np.any(e_raw != np.round(e_raw)):
                raise InvalidValueError("exponents must be non-negative integers")
        elif e_raw.dtype.kind not in "biu":
            raise InvalidValueError(f"exponents must be integers, got dtype {e_raw.dtype}")
        if m and (np.any(e_raw < 0)):
            i = int(np.flatnonzero(np.any(e_raw < 0, axis=1))[0])
            raise InvalidValueError(
                f"exponent row {e_raw[i].tolist()} (term {i}) has a negative entry; exponents must "
                "be non-negative integers"
            )
        if m and np.any(e_raw > MAX_DEGREE):
            raise SizeLimitError(f"an exponent exceeds MAX_DEGREE = {MAX_DEGREE}")
        e = np.array(e_raw, dtype=np.int64)
        bad = ~np.isfinite(c)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise InvalidValueError(
                f"coefficient {c[i]!r} of the term {_monomial_str(e[i], names)} is not finite; "
                "all coefficients must be finite numbers"
            )
        if m and int(e.sum(axis=1).max()) > MAX_DEGREE:
            raise SizeLimitError(
                f"total degree {int(e.sum(axis=1).max())} exceeds MAX_DEGREE = {MAX_DEGREE}"
            )
        e, c = _canonical_arrays(e, c)
        self._set(e, c, names)
        self._check_finite()

    # -- internal constructors -----------------------------------------------------------------

    def _set(self, exps: np.ndarray, coefs: np.ndarray, names: tuple[str, ...]) -> None:
        self._variables = names
        self._exps = _readonly(exps)
        self._coefs = _readonly(coefs)
        self._degree = None
        self._hash = None

    @classmethod
    def _raw(cls, exps: np.ndarray, coefs: np.ndarray, names: tuple[str, ...]) -> Polynomial:
        """Trusted construction: int64 exps, float64 coefs; canonicalises and checks finiteness."""
        e, c = _canonical_arrays(exps, coefs)
        p = cls.__new__(cls)
        p._set(e, c, names)
        p._check_finite()
        return p

    def _check_finite(self) -> None:
        bad = ~np.isfinite(self._coefs)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise InvalidValueError(
                f"the coefficient of {_monomial_str(self._exps[i], self._variables)} overflowed "
                f"to {self._coefs[i]!r}; rescale the variables or the polynomial"
            )

    def _single_variable(self) -> str | None:
        if self._coefs.shape[0] == 1 and self._coefs[0] == 1.0:
            row = self._exps[0]
            if int(row.sum()) == 1:
                return self._variables[int(np.argmax(row))]
        return None

    # -- constructors --------------------------------------------------------------------------

    @classmethod
    def constant(cls, c: float, variables: Sequence[str] = ()) -> Polynomial:
        """The constant polynomial ``c`` (declared over ``variables``)."""
        names = tuple(_check_identifier(v) for v in variables)
        v = _as_float(c, "constant")
        return cls._raw(np.zeros((1, len(names)), dtype=np.int64), np.array([v]), names)

    @classmethod
    def zero(cls, variables: Sequence[str] = ()) -> Polynomial:
        """The zero polynomial (no terms; ``degree == -1``)."""
        return cls.constant(0.0, variables)

    @classmethod
    def variable(cls, name: str) -> Polynomial:
        """The polynomial ``x`` for the variable called ``name``."""
        _check_identifier(name)
        return cls._raw(np.ones((1, 1), dtype=np.int64), np.ones(1), (name,))

    @classmethod
    def from_terms(
        cls, terms: Mapping[tuple[int, ...], float] | Iterable[tuple[Any, float]],
        variables: Sequence[str],
    ) -> Polynomial:
        """Build from ``{exponent tuple: coefficient}`` or ``[(monomial dict or tuple, coef)]``."""
        names = tuple(variables)
        items = list(terms.items()) if isinstance(terms, Mapping) else list(terms)
        rows = []
        for mono, _ in items:
            if isinstance(mono, Mapping):
                row = [0] * len(names)
                for k, e in mono.items():
                    k = _var_name(k)
                    if k not in names:
                        raise UnknownVariableError(
                            f"unknown variable {k!r} in a term; the variables are {names}"
                        )
                    row[names.index(k)] = e
                rows.append(row)
            else:
                rows.append(list(mono))
        exps = np.array(rows, dtype=np.int64).reshape(len(items), len(names))
        return cls(exps, [_as_float(c, f"the coefficient of term {i}")
                          for i, (_, c) in enumerate(items)], names)

    @classmethod
    def parse(cls, text: str, variables: Sequence[str] | None = None) -> Polynomial:
        """Read a polynomial from text such as ``"x^2 - 2*x*y + 0.5"``.

        ``^`` and ``**`` both mean power.  The text is tokenised and checked (numbers, names,
        ``+ - * / ^ ** ( )`` only), parsed by sympy without evaluation, and the expression tree
        is then expanded with this module's arithmetic, so size limits apply before any
        expansion.  Decimal literals denote the nearest float64 and the expansion is done in
        float arithmetic, as if the expression were written in Python with :func:`variables`.
        ``str(p)`` is written so that ``Polynomial.parse(str(p), p.variables).equals(p)`` holds
        bit for bit.

        Parameters
        ----------
        text : str
        variables : sequence of str, optional
            When given, the result is declared over exactly these variables (in this order) and
            any other name is an :class:`~sosrelax.errors.UnknownVariableError`.  When omitted,
            the variables are the names used, in order of first appearance.

        Raises
        ------
        ParseError
            Malformed text, or a non-polynomial term (``sin(x)``, ``x^-1``, ``x^0.5``, ``1/x``);
            the message names the term.
        UnknownVariableError
            A name that is not in ``variables``.
        InvalidValueError
            A non-finite number (``1e999``, ``nan``, ``inf``).
        SizeLimitError
            A power or product beyond :data:`MAX_DEGREE` / :data:`MAX_TERMS`.
        """
        return _parse_polynomial(text, variables)

    # -- properties ----------------------------------------------------------------------------

    @property
    def variables(self) -> tuple[str, ...]:
        """Variable names, one per column of :attr:`exps`."""
        return self._variables

    @property
    def exps(self) -> np.ndarray:
        """Exponent matrix, int64, shape ``(nterms, len(variables))``, read-only."""
        return self._exps

    @property
    def coefs(self) -> np.ndarray:
        """Coefficients, float64, shape ``(nterms,)``, read-only, finite and nonzero."""
        return self._coefs

    @property
    def nterms(self) -> int:
        """Number of (nonzero) terms."""
        return int(self._coefs.shape[0])

    @property
    def degree(self) -> int:
        """Total degree; ``-1`` for the zero polynomial."""
        if self._degree is None:
            self._degree = int(self._exps.sum(axis=1).max()) if self.nterms else -1
        return self._degree

    @property
    def is_zero(self) -> bool:
        """True for the zero polynomial."""
        return self.nterms == 0

    @property
    def is_constant(self) -> bool:
        """True when the polynomial has degree ≤ 0 (includes the zero polynomial)."""
        return self.degree <= 0

    @property
    def used_variables(self) -> tuple[str, ...]:
        """Variables with a nonzero exponent in some term, in :attr:`variables` order."""
        used = np.any(self._exps != 0, axis=0) if self.nterms else np.zeros(len(self._variables))
        return tuple(v for v, u in zip(self._variables, used, strict=True) if u)

    def degree_in(self, var: str | Polynomial) -> int:
        """Largest exponent of ``var``; 0 if the polynomial does not involve it, -1 if zero."""
        name = _var_name(var)
        if self.is_zero:
            return -1
        if name not in self._variables:
            return 0
        return int(self._exps[:, self._variables.index(name)].max())

    def constant_term(self) -> float:
        """Coefficient of the monomial 1."""
        if self.nterms and not self._exps[0].any():
            return float(self._coefs[0])
        return 0.0

    # -- variables -----------------------------------------------------------------------------

    def aligned(self, variables: Sequence[str]) -> np.ndarray:
        """Exponent matrix with columns in the order of ``variables`` (zero columns for new ones).

        Rows stay in this polynomial's term order (the order of :attr:`coefs`).

        Raises
        ------
        UnknownVariableError
            A variable used by this polynomial is not in ``variables``.
        """
        names = tuple(_var_name(v) for v in variables)
        if names == self._variables:
            return self._exps.copy()
        pos = {v: i for i, v in enumerate(names)}
        if len(pos) != len(names):
            raise InvalidValueError(f"variable names are repeated in {names}")
        target = np.array([pos.get(v, -1) for v in self._variables], dtype=np.int64)
        out = np.zeros((self.nterms, len(names)), dtype=np.int64)
        missing = target < 0
        if missing.any() and self.nterms:
            used = np.any(self._exps[:, missing] != 0, axis=0)
            if used.any():
                v = np.array(self._variables, dtype=object)[missing][np.argmax(used)]
                raise UnknownVariableError(
                    f"the polynomial uses the variable {v!r}, which is not among "
                    f"{names}; add it to the variables"
                )
        keep = ~missing
        out[:, target[keep]] = self._exps[:, keep]
        return out

    def with_variables(self, variables: Sequence[str]) -> Polynomial:
        """The same polynomial declared over ``variables`` (which must include every used one)."""
        names = tuple(_check_identifier(_var_name(v)) for v in variables)
        if names == self._variables:
            return self
        return Polynomial._raw(self.aligned(names), self._coefs.copy(), names)

    # -- terms ---------------------------------------------------------------------------------

    def terms(self) -> list[tuple[dict[str, int], float]]:
        """``[(monomial, coefficient)]`` in canonical order; monomials as ``{name: exponent>0}``."""
        out = []
        for row, c in zip(self._exps.tolist(), self._coefs.tolist(), strict=True):
            mono = {v: e for v, e in zip(self._variables, row, strict=True) if e}
            out.append((mono, c))
        return out

    def coefficient(self, monomial: Mapping[Any, int] | Sequence[int]) -> float:
        """Coefficient of a monomial given as ``{name: exponent}`` or an exponent tuple.

        A tuple is aligned with :attr:`variables`.  Monomials absent from the polynomial (also
        those involving variables it does not use) have coefficient 0.
        """
        n = len(self._variables)
        row = np.zeros(n, dtype=np.int64)
        if isinstance(monomial, Mapping):
            for k, e in monomial.items():
                name = _var_name(k)
                if e == 0:
                    continue
                if e < 0:
                    raise InvalidValueError(f"negative exponent {e} for {name!r} in a monomial")
                if name not in self._variables:
                    return 0.0
                row[self._variables.index(name)] = int(e)
        else:
            t = np.asarray(monomial)
            if t.shape != (n,):
                raise InvalidValueError(
                    f"exponent tuple {tuple(np.ravel(t).tolist())} has length {t.size}, expected "
                    f"{n} (one per variable in {self._variables})"
                )
            row[:] = t
        if not self.nterms:
            return 0.0
        hit = np.flatnonzero(np.all(self._exps == row, axis=1))
        return float(self._coefs[hit[0]]) if hit.size else 0.0

    # -- arithmetic ----------------------------------------------------------------------------

    def _coerce(self, other: Any) -> Polynomial | None:
        if isinstance(other, Polynomial):
            return other
        if _is_number(other):
            v = _as_float(other, "the number")
            return Polynomial._raw(
                np.zeros((1, len(self._variables)), dtype=np.int64), np.array([v]),
                self._variables,
            )
        return None

    @staticmethod
    def _merged_names(a: tuple[str, ...], b: tuple[str, ...]) -> tuple[str, ...]:
        if a == b:
            return a
        seen = set(a)
        return a + tuple(v for v in b if v not in seen)

    @staticmethod
    def _sum(polys: Sequence[Polynomial], signs: Sequence[float] | None = None) -> Polynomial:
        """Sum of many polynomials in one canonicalisation (variables merged left to right)."""
        names: tuple[str, ...] = ()
        for p in polys:
            names = Polynomial._merged_names(names, p._variables)
        if not polys:
            return Polynomial.zero()
        es = [p.aligned(names) if p._variables != names else p._exps for p in polys]
        cs = [p._coefs if signs is None or signs[i] > 0 else -p._coefs
              for i, p in enumerate(polys)]
        return Polynomial._raw(np.concatenate(es), np.concatenate(cs), names)

    def __add__(self, other: Any) -> Polynomial:
        q = self._coerce(other)
        if q is None:
            return NotImplemented
        return Polynomial._sum([self, q])

    def __radd__(self, other: Any) -> Polynomial:
        q = self._coerce(other)
        if q is None:
            return NotImplemented
        return Polynomial._sum([q, self])

    def __sub__(self, other: Any) -> Polynomial:
        q = self._coerce(other)
        if q is None:
            return NotImplemented
        return Polynomial._sum([self, q], [1.0, -1.0])

    def __rsub__(self, other: Any) -> Polynomial:
        q = self._coerce(other)
        if q is None:
            return NotImplemented
        return Polynomial._sum([q, self], [1.0, -1.0])

    def __neg__(self) -> Polynomial:
        p = Polynomial.__new__(Polynomial)
        p._set(self._exps, -self._coefs, self._variables)
        return p

    def __pos__(self) -> Polynomial:
        return self

    def _scaled(self, c: float) -> Polynomial:
        with np.errstate(over="ignore"):  # overflow is reported by _raw with the term's name
            coefs = self._coefs * c
        return Polynomial._raw(self._exps.copy(), coefs, self._variables)

    def __mul__(self, other: Any) -> Polynomial:
        if _is_number(other):
            return self._scaled(_as_float(other, "the factor"))
        if not isinstance(other, Polynomial):
            return NotImplemented
        return _multiply(self, other)

    def __rmul__(self, other: Any) -> Polynomial:
        if _is_number(other):
            return self._scaled(_as_float(other, "the factor"))
        if not isinstance(other, Polynomial):
            return NotImplemented
        return _multiply(other, self)

    def __truediv__(self, other: Any) -> Polynomial:
        if isinstance(other, Polynomial):
            if not other.is_constant:
                raise InvalidOperationError(
                    f"cannot divide by the polynomial {str(other)!r}: polynomials are closed "
                    "under + - * only; divide by a number, or multiply the constraint through"
                )
            other = other.constant_term()
        if not _is_number(other):
            return NotImplemented
        d = _as_float(other, "the divisor")
        if d == 0.0:
            raise InvalidValueError(f"division of {str(self)!r} by zero")
        with np.errstate(over="ignore"):
            coefs = self._coefs / d
        return Polynomial._raw(self._exps.copy(), coefs, self._variables)

    def __rtruediv__(self, other: Any) -> Polynomial:
        if self.is_constant and _is_number(other):
            c = self.constant_term()
            if c == 0.0:
                raise InvalidValueError("division by the zero polynomial")
            return Polynomial.constant(_as_float(other, "the number") / c, self._variables)
        raise InvalidOperationError(
            f"cannot divide by the polynomial {str(self)!r}: 1/p is not a polynomial "
            "(write the constraint multiplied through by p instead)"
        )

    def __pow__(self, k: Any, mod: Any = None) -> Polynomial:
        if mod is not None:
            raise InvalidOperationError("pow(p, k, mod) is not defined for polynomials")
        if isinstance(k, bool) or not isinstance(k, numbers.Integral):
            if isinstance(k, numbers.Real) and float(k).is_integer() and float(k) >= 0:
                k = int(float(k))
            else:
                raise InvalidOperationError(
                    f"p ** {k!r}: the exponent must be a non-negative integer "
                    f"({type(k).__name__} given)"
                )
        k = int(k)
        if k < 0:
            raise InvalidValueError(
                f"p ** {k}: negative powers are not polynomials; use a non-negative integer"
            )
        return _power(self, k)

    # -- comparisons build constraints --------------------------------------------------------

    def _constraint(self, other: Any, kind: ConstraintKind, flip: bool) -> Constraint:
        q = self._coerce(other)
        if q is None:
            return NotImplemented
        diff = (q - self) if flip else (self - q)
        return Constraint(diff, kind)

    def __ge__(self, other: Any) -> Constraint:
        return self._constraint(other, ConstraintKind.GE, False)

    def __le__(self, other: Any) -> Constraint:
        return self._constraint(other, ConstraintKind.GE, True)

    def __gt__(self, other: Any) -> Constraint:
        return self._constraint(other, ConstraintKind.GT, False)

    def __lt__(self, other: Any) -> Constraint:
        return self._constraint(other, ConstraintKind.GT, True)

    def __eq__(self, other: Any) -> Constraint:  # type: ignore[override]
        return self._constraint(other, ConstraintKind.EQ, False)

    def __ne__(self, other: Any) -> bool:
        if self._coerce(other) is None:
            return NotImplemented
        raise InvalidOperationError(
            "'p != q' is not a constraint sosrelax can use (it describes a non-closed set); "
            "use not p.equals(q) to compare polynomials, or strict inequalities p > q / p < q"
        )

    def __bool__(self) -> bool:
        raise InvalidOperationError(
            f"the polynomial {str(self)!r} has no truth value; use p.is_zero or p.equals(q)"
        )

    # -- structural equality and hashing -------------------------------------------------------

    def _normal_form(self) -> tuple[tuple[str, ...], np.ndarray, np.ndarray]:
        """Used variables sorted by name, exponents aligned to them, terms in canonical order."""
        names = tuple(sorted(self.used_variables))
        if names == self._variables:
            return names, self._exps, self._coefs
        e = self.aligned(names)
        order = _graded_lex_order(e)
        return names, e[order], self._coefs[order]

    def equals(self, other: Polynomial | float, tol: float = 0.0) -> bool:
        """Structural equality: same monomials with coefficients within ``tol`` (absolute).

        Insensitive to the order of variables and to declared-but-unused variables.  With
        ``tol == 0`` this is exact equality of every coefficient.
        """
        if _is_number(other):
            other = Polynomial.constant(_as_float(other, "the number"))
        if not isinstance(other, Polynomial):
            return False
        if tol == 0.0:
            na, ea, ca = self._normal_form()
            nb, eb, cb = other._normal_form()
            return (na == nb and ea.shape == eb.shape and bool(np.array_equal(ea, eb))
                    and bool(np.array_equal(ca, cb)))
        names = self._merged_names(self._variables, other._variables)
        e = np.concatenate([self.aligned(names), other.aligned(names)])
        c = np.concatenate([self._coefs, -other._coefs])
        _, d = _canonical_arrays(e, c)
        return bool(np.all(np.abs(d) <= tol))

    @property
    def key(self) -> tuple[tuple[str, ...], tuple[int, ...], bytes, bytes]:
        """A hashable structural key: ``p.key == q.key`` exactly when ``p.equals(q)``.

        Use it for sets and dict keys: ``==`` on polynomials builds a :class:`Constraint`, so
        two distinct but equal polynomials meeting in a set raise.
        """
        names, e, c = self._normal_form()
        return names, e.shape, e.tobytes(), c.tobytes()

    def __hash__(self) -> int:
        if self._hash is None:
            self._hash = hash(self.key)
        return self._hash

    # -- evaluation ----------------------------------------------------------------------------

    def _point_vector(self, point: PointLike, names: tuple[str, ...]) -> np.ndarray:
        if isinstance(point, Mapping):
            vals = {_var_name(k): v for k, v in point.items()}
            used = set(self.used_variables)
            out = np.zeros(len(names))
            for j, v in enumerate(names):
                if v in vals:
                    out[j] = float(vals[v])
                elif v in used:
                    raise UnknownVariableError(
                        f"the point gives no value for the variable {v!r}; it gives "
                        f"{sorted(vals)}"
                    )
            return out
        x = np.asarray(point, dtype=np.float64).reshape(-1)
        if x.shape[0] != len(names):
            raise InvalidValueError(
                f"the point has {x.shape[0]} coordinates, expected {len(names)} (one per "
                f"variable in {names})"
            )
        return x

    def __call__(self, point: PointLike) -> float:
        """Value at one point: a dict ``{name: value}`` or a sequence aligned with variables."""
        x = self._point_vector(point, self._variables)
        return float(self.evaluate(x.reshape(1, -1))[0])

    def _design(self, X: Any, variables: Sequence[str] | None) -> tuple[np.ndarray, np.ndarray,
                                                                         tuple[str, ...]]:
        names = self._variables if variables is None else tuple(_var_name(v) for v in variables)
        X = np.asarray(X, dtype=np.float64)
        if X.ndim != 2 or X.shape[1] != len(names):
            raise InvalidValueError(
                f"X has shape {X.shape}, expected (k, {len(names)}): one row per point, one "
                f"column per variable in {names}"
            )
        return X, self.aligned(names), names

    def evaluate(self, X: Any, variables: Sequence[str] | None = None) -> np.ndarray:
        """Values at many points: ``X`` of shape ``(k, n)`` (columns: ``variables``) -> ``(k,)``."""
        X, E, _ = self._design(X, variables)
        return _combine(E, self._coefs.reshape(-1, 1), X)[:, 0]

    def gradient(self, X: Any, variables: Sequence[str] | None = None) -> np.ndarray:
        """Gradients at many points: ``(k, n)``; entry ``[i, j]`` is ``∂p/∂x_j`` at ``X[i]``."""
        X, E, names = self._design(X, variables)
        n = len(names)
        DE, Dc, Dg = _derivative_rows(E, self._coefs, np.zeros(len(self._coefs), np.int64), n)
        return _combine_grouped(DE, Dc, Dg, n, X)

    def hessian(self, X: Any, variables: Sequence[str] | None = None) -> np.ndarray:
        """Hessians at many points: ``(k, n, n)``; entry ``[i, j, l]`` is ``∂²p/∂x_j∂x_l``."""
        X, E, names = self._design(X, variables)
        n = len(names)
        DE, Dc, Dg = _derivative_rows(E, self._coefs, np.zeros(len(self._coefs), np.int64), n)
        HE, Hc, Hg = _derivative_rows(DE, Dc, Dg * n, n)
        return _combine_grouped(HE, Hc, Hg, n * n, X).reshape(X.shape[0], n, n)

    def evaluate_exact(self, point: PointLike) -> Fraction:
        """Exact value at a point, with coefficients and coordinates read as exact rationals.

        Coordinates may be ints, floats (read exactly: ``Fraction(0.1)`` is the binary value),
        :class:`fractions.Fraction` or strings such as ``"1/3"``.  The result is the exact
        rational value of :math:`\\sum_i c_i x^{\\alpha_i}`.
        """
        if isinstance(point, Mapping):
            vals = {_var_name(k): v for k, v in point.items()}
            xs = []
            for v in self._variables:
                if v in vals:
                    xs.append(_exact(vals[v], v))
                elif v in self.used_variables:
                    raise UnknownVariableError(
                        f"the point gives no value for the variable {v!r}; it gives "
                        f"{sorted(vals)}"
                    )
                else:
                    xs.append(Fraction(0))
        else:
            seq = list(np.asarray(point, dtype=object).reshape(-1))
            if len(seq) != len(self._variables):
                raise InvalidValueError(
                    f"the point has {len(seq)} coordinates, expected {len(self._variables)} "
                    f"(one per variable in {self._variables})"
                )
            xs = [_exact(v, name) for v, name in zip(seq, self._variables, strict=True)]
        return _exact_sum(self._exps, self._coefs, xs)

    # -- calculus and composition -------------------------------------------------------------

    def diff(self, var: str | Polynomial) -> Polynomial:
        """Partial derivative ``∂p/∂var`` (zero if ``var`` does not occur); same variables."""
        name = _var_name(var)
        if name not in self._variables:
            return Polynomial._raw(np.zeros((0, len(self._variables)), np.int64), np.zeros(0),
                                   self._variables)
        j = self._variables.index(name)
        rows = self._exps[:, j] > 0
        e = self._exps[rows].copy()
        c = self._coefs[rows] * e[:, j]
        e[:, j] -= 1
        return Polynomial._raw(e, c, self._variables)

    def substitute(self, mapping: Mapping[Any, Polynomial | float]) -> Polynomial:
        """Composition: replace each variable ``v`` in ``mapping`` by ``mapping[v]`` simultaneously.

        Keys are names or variable polynomials; values are polynomials or numbers.  The result's
        variables are this polynomial's, with each substituted variable replaced by the
        variables of its image (first appearance order).
        """
        images: dict[str, Polynomial | float] = {}
        for k, v in mapping.items():
            name = _var_name(k)
            if isinstance(v, Polynomial):
                images[name] = v
            elif _is_number(v):
                images[name] = _as_float(v, f"the value substituted for {name!r}")
            else:
                raise InvalidOperationError(
                    f"cannot substitute {name!r} by a {type(v).__name__}; use a number or a "
                    "Polynomial"
                )
        images = {k: v for k, v in images.items() if k in self._variables}
        if not images:
            return self
        names = self._variables
        # final variable order: each substituted variable expands in place into its image's
        final: list[str] = []
        for name in names:
            img = images.get(name, None)
            if img is None:
                if name not in final:
                    final.append(name)
            elif isinstance(img, Polynomial):
                final.extend(w for w in img._variables if w not in final)
        e = self._exps.copy()
        c = self._coefs.copy()
        # numeric substitutions: one vectorised scaling
        num_cols = [j for j, v in enumerate(names) if isinstance(images.get(v), float)]
        for j in num_cols:
            val = images[names[j]]
            assert isinstance(val, float)
            with np.errstate(over="ignore", invalid="ignore"):
                c = c * np.power(val, e[:, j].astype(np.float64))
            e[:, j] = 0
        poly_cols = [j for j, v in enumerate(names) if isinstance(images.get(v), Polynomial)]
        # Rename substituted columns to names no image can contain ('#' is not an identifier
        # character), so that sequential substitution equals simultaneous substitution.
        tmp_names = tuple(f"#{j}" if j in poly_cols else v for j, v in enumerate(names))
        p = Polynomial._raw(e, c, tmp_names)
        for j in poly_cols:
            img = images[names[j]]
            assert isinstance(img, Polynomial)
            p = _substitute_one(p, f"#{j}", img)
        return p.with_variables(tuple(final))

    def affine_substitute(self, A: Any, b: Any, new_variables: Sequence[str]) -> Polynomial:
        """Change of variables ``x = A u + b``.

        Parameters
        ----------
        A : array_like, shape (n_old, n_new)
            Row ``j`` expresses ``self.variables[j]`` in the new variables.
        b : array_like, shape (n_old,), or None for zero
        new_variables : sequence of str, length n_new

        Returns
        -------
        Polynomial
            ``q(u) = p(A u + b)``, declared over exactly ``new_variables``.
        """
        names = tuple(_check_identifier(_var_name(v)) for v in new_variables)
        n_old, n_new = len(self._variables), len(names)
        A = np.asarray(A, dtype=np.float64)
        if A.ndim == 1 and n_new == 1 and A.shape[0] == n_old:
            A = A.reshape(n_old, 1)
        if A.shape != (n_old, n_new):
            raise InvalidValueError(
                f"A has shape {A.shape}, expected ({n_old}, {n_new}) = (len(self.variables), "
                "len(new_variables))"
            )
        bv = np.zeros(n_old) if b is None else np.asarray(b, dtype=np.float64).reshape(-1)
        if bv.shape != (n_old,):
            raise InvalidValueError(f"b has shape {bv.shape}, expected ({n_old},)")
        if not (np.all(np.isfinite(A)) and np.all(np.isfinite(bv))):
            raise InvalidValueError("A and b must be finite")
        if len(set(names)) != n_new:
            raise InvalidValueError(f"new variable names are repeated in {names}")
        basis_e = np.vstack([np.zeros((1, n_new), np.int64), np.eye(n_new, dtype=np.int64)])
        tmp = tuple(f"#{j}" for j in range(n_old))
        p = Polynomial._raw(self._exps.copy(), self._coefs.copy(), tmp)
        for j in range(n_old):
            if not p._exps.shape[0] or not self._exps[:, j].any():
                continue
            img = Polynomial._raw(basis_e.copy(), np.concatenate([[bv[j]], A[j]]), names)
            p = _substitute_one(p, f"#{j}", img)
        return p.with_variables(names)

    # -- printing ------------------------------------------------------------------------------

    def __str__(self) -> str:
        if self.is_zero:
            return "0"
        deg = self._exps.sum(axis=1)
        order = np.lexsort((np.arange(self.nterms), -deg))  # degree descending, canonical within
        out: list[str] = []
        for i in order.tolist():
            c = float(self._coefs[i])
            mono = _monomial_str(self._exps[i], self._variables)
            a = abs(c)
            if mono == "1":
                body = _format_number(a)
            elif a == 1.0:
                body = mono
            else:
                body = f"{_format_number(a)}*{mono}"
            if not out:
                out.append(f"-{body}" if c < 0 else body)
            else:
                out.append(f" - {body}" if c < 0 else f" + {body}")
        return "".join(out)

    def __repr__(self) -> str:
        return f"Polynomial({str(self)!r}, variables={self._variables!r})"

    def __reduce__(self) -> tuple[Any, ...]:
        return (Polynomial, (self._exps.copy(), self._coefs.copy(), self._variables))


# --------------------------------------------------------------------------------------------
# products and powers
# --------------------------------------------------------------------------------------------


def _term_bound(n_used: int, degree: int) -> int:
    """Number of monomials of degree ≤ ``degree`` in ``n_used`` variables."""
    return math.comb(n_used + degree, degree)


def _multiply(a: Polynomial, b: Polynomial) -> Polynomial:
    names = Polynomial._merged_names(a._variables, b._variables)
    if a.is_zero or b.is_zero:
        return Polynomial._raw(np.zeros((0, len(names)), np.int64), np.zeros(0), names)
    deg = a.degree + b.degree
    if deg > MAX_DEGREE:
        raise SizeLimitError(
            f"the product has degree {deg} > MAX_DEGREE = {MAX_DEGREE} "
            f"(factors of degree {a.degree} and {b.degree})"
        )
    n_used = len(set(a.used_variables) | set(b.used_variables))
    bound = min(a.nterms * b.nterms, _term_bound(n_used, deg))
    if bound > MAX_TERMS:
        raise SizeLimitError(
            f"the product of polynomials with {a.nterms} and {b.nterms} terms may have {bound} "
            f"terms > MAX_TERMS = {MAX_TERMS}"
        )
    ea = a._exps if a._variables == names else a.aligned(names)
    eb = b._exps if b._variables == names else b.aligned(names)
    ca, cb = a._coefs, b._coefs
    ma, mb = ea.shape[0], eb.shape[0]
    n = len(names)
    rows_per_chunk = max(1, _CHUNK_ENTRIES // max(1, mb * max(n, 1)))
    if ma <= rows_per_chunk:
        e = (ea[:, None, :] + eb[None, :, :]).reshape(ma * mb, n)
        with np.errstate(over="ignore"):
            c = np.multiply.outer(ca, cb).reshape(-1)
        return Polynomial._raw(e, c, names)
    parts_e: list[np.ndarray] = []
    parts_c: list[np.ndarray] = []
    for s in range(0, ma, rows_per_chunk):
        sl = slice(s, s + rows_per_chunk)
        e = (ea[sl, None, :] + eb[None, :, :]).reshape(-1, n)
        with np.errstate(over="ignore"):
            c = np.multiply.outer(ca[sl], cb).reshape(-1)
        e, c = _canonical_arrays(e, c)
        parts_e.append(e)
        parts_c.append(c)
    return Polynomial._raw(np.concatenate(parts_e), np.concatenate(parts_c), names)


def _power(p: Polynomial, k: int) -> Polynomial:
    names = p._variables
    if k == 0:
        return Polynomial.constant(1.0, names)
    if k == 1:
        return p
    if p.is_zero:
        return p
    if p.is_constant:
        try:
            v = float(p._coefs[0]) ** k
        except OverflowError as e:
            raise InvalidValueError(f"({p}) ** {k} overflows a float64") from e
        return Polynomial.constant(v, names)
    if p.degree * k > MAX_DEGREE:
        raise SizeLimitError(
            f"({p}) ** {k} would have degree {p.degree * k} > MAX_DEGREE = {MAX_DEGREE}"
        )
    n_used = len(p.used_variables)
    bound = min(math.comb(p.nterms + k - 1, k), _term_bound(n_used, p.degree * k))
    if bound > MAX_TERMS:
        raise SizeLimitError(
            f"({p}) ** {k} may have {bound} terms > MAX_TERMS = {MAX_TERMS}"
        )
    if p.nterms == 1:  # a monomial: exact, no products needed
        try:
            c = float(p._coefs[0]) ** k
        except OverflowError as e:
            raise InvalidValueError(f"({p}) ** {k} overflows a float64") from e
        return Polynomial._raw(p._exps * k, np.array([c]), names)
    result: Polynomial | None = None
    base = p
    while True:
        if k & 1:
            result = base if result is None else _multiply(result, base)
        k >>= 1
        if not k:
            break
        base = _multiply(base, base)
    assert result is not None
    return result


def _substitute_one(p: Polynomial, name: str, img: Polynomial) -> Polynomial:
    """Replace the variable ``name`` (which no image contains) by ``img``: Σ_e q_e · img^e."""
    j = p._variables.index(name)
    rest = tuple(v for v in p._variables if v != name)
    if p.is_zero:
        names = Polynomial._merged_names(rest, img._variables)
        return Polynomial._raw(np.zeros((0, len(names)), np.int64), np.zeros(0), names)
    col = p._exps[:, j]
    e_rest = np.delete(p._exps, j, axis=1)
    levels = np.unique(col)
    parts: list[Polynomial] = []
    power = Polynomial.constant(1.0, img._variables)
    current = 0
    for lev in levels.tolist():
        rows = col == lev
        q = Polynomial._raw(e_rest[rows], p._coefs[rows].copy(), rest)
        if lev != current:
            step = lev - current
            power = _multiply(power, _power(img, step)) if current else _power(img, step)
            current = lev
        parts.append(q if lev == 0 else _multiply(q, power))
    return Polynomial._sum(parts)


# --------------------------------------------------------------------------------------------
# evaluation kernels
# --------------------------------------------------------------------------------------------


def _monomial_values(E: np.ndarray, X: np.ndarray) -> np.ndarray:
    """``M[r, i] = prod_j X[i, j] ** E[r, j]`` for a chunk of points; shape (u, k).

    Laid out monomial-major so that gathering rows of the per-variable power tables copies
    contiguous memory.
    """
    k = X.shape[0]
    M = np.ones((E.shape[0], k))
    for j in np.flatnonzero(E.any(axis=0)).tolist():
        col = E[:, j]
        dmax = int(col.max())
        table = np.empty((dmax + 1, k))
        table[0] = 1.0
        xj = X[:, j]
        for d in range(1, dmax + 1):
            table[d] = np.power(xj, d) if d > 2 else table[d - 1] * xj
        M *= table[col]
    return M


def _combine(E: np.ndarray, S: Any, X: np.ndarray) -> np.ndarray:
    """``(monomial values of E at X) @ S`` computed in chunks of points; S is (u, q)."""
    k = X.shape[0]
    q = S.shape[1]
    out = np.zeros((k, q))
    if E.shape[0] == 0 or k == 0:
        return out
    step = max(1, _CHUNK_ENTRIES // max(1, E.shape[0]))
    St = S.T.tocsr() if sp.issparse(S) else np.ascontiguousarray(S.T)
    for s in range(0, k, step):
        M = _monomial_values(E, X[s:s + step])
        out[s:s + step] = np.asarray(St @ M).T
    return out


def _derivative_rows(E: np.ndarray, c: np.ndarray, g: np.ndarray, n: int) -> tuple[
        np.ndarray, np.ndarray, np.ndarray]:
    """All first partial derivatives of the grouped terms (E, c, group g) at once.

    Returns rows ``E[r] - unit_j`` with coefficient ``c[r] * E[r, j]`` and group ``g[r] + j``
    for every nonzero ``E[r, j]``.
    """
    r, j = np.nonzero(E)
    DE = E[r].copy()
    DE[np.arange(r.size), j] -= 1
    return DE, c[r] * E[r, j], g[r] + j


def _combine_grouped(E: np.ndarray, c: np.ndarray, g: np.ndarray, q: int,
                     X: np.ndarray) -> np.ndarray:
    """``out[i, t] = Σ_{r: g[r]=t} c[r] X[i]^E[r]``; distinct monomials evaluated once."""
    k = X.shape[0]
    if E.shape[0] == 0:
        return np.zeros((k, q))
    U, inv = np.unique(E, axis=0, return_inverse=True)
    S = sp.csr_matrix((c, (inv.reshape(-1), g)), shape=(U.shape[0], q))
    return _combine(U, S, X)


def _exact(v: Any, name: str) -> Fraction:
    if isinstance(v, Fraction):
        return v
    if isinstance(v, bool):
        return Fraction(int(v))
    if isinstance(v, numbers.Integral):
        return Fraction(int(v))
    if isinstance(v, str):
        try:
            return Fraction(v)
        except (ValueError, ZeroDivisionError) as e:
            raise InvalidValueError(f"value {v!r} for {name!r} is not a rational number") from e
    if isinstance(v, numbers.Rational):
        return Fraction(int(v.numerator), int(v.denominator))
    try:
        f = float(v)
    except (TypeError, ValueError) as e:
        raise InvalidValueError(f"value {v!r} for {name!r} is not a real number") from e
    if not math.isfinite(f):
        raise InvalidValueError(f"value {f!r} for {name!r} is not finite")
    return Fraction(f)


def _exact_sum(E: np.ndarray, c: np.ndarray, xs: Sequence[Fraction]) -> Fraction:
    """Exact Σ c_i x^E_i with one common denominator (integer arithmetic only)."""
    m, n = E.shape
    if m == 0:
        return Fraction(0)
    dmax = E.max(axis=0).tolist() if n else []
    nums = [x.numerator for x in xs]
    dens = [x.denominator for x in xs]
    num_pows: list[dict[int, int]] = [{} for _ in range(n)]
    den_pows: list[dict[int, int]] = [{} for _ in range(n)]
    ratios = [float(ci).as_integer_ratio() for ci in c.tolist()]
    shift = max(int(d).bit_length() - 1 for _, d in ratios)  # coefficient denominators: 2^s
    total = 0
    rows = E.tolist()
    for (cn, cd), row in zip(ratios, rows, strict=True):
        t = cn << (shift - (cd.bit_length() - 1))
        for j, e in enumerate(row):
            top = dmax[j]
            if top == 0:
                continue
            pe = num_pows[j].get(e)
            if pe is None:
                pe = num_pows[j][e] = nums[j] ** e
            qe = den_pows[j].get(top - e)
            if qe is None:
                qe = den_pows[j][top - e] = dens[j] ** (top - e)
            t *= pe * qe
        total += t
    den = 1 << shift
    for j in range(n):
        if dmax[j]:
            den *= dens[j] ** dmax[j]
    return Fraction(total, den)


# --------------------------------------------------------------------------------------------
# variables and monomial bases
# --------------------------------------------------------------------------------------------


def variables(names: str, n: int | None = None) -> tuple[Polynomial, ...]:
    """Create variables.

    ``variables("x y")`` (or ``"x, y"``) returns ``(x, y)``; ``variables("x", 3)`` returns
    ``(x0, x1, x2)``.  A single name without ``n`` returns a 1-tuple: write
    ``(x,) = variables("x")`` or ``x, = variables("x")``.
    """
    parts = names.replace(",", " ").split()
    if n is not None:
        if len(parts) != 1:
            raise InvalidValueError(
                f"variables({names!r}, {n}) needs exactly one base name when n is given"
            )
        if isinstance(n, bool) or not isinstance(n, numbers.Integral) or n < 0:
            raise InvalidValueError(f"n must be a non-negative integer, got {n!r}")
        parts = [f"{parts[0]}{i}" for i in range(int(n))]
    if len(set(parts)) != len(parts):
        raise InvalidValueError(f"repeated variable names in {names!r}")
    return tuple(Polynomial.variable(p) for p in parts)


def monomial_basis(n: int, degree: int, min_degree: int = 0) -> np.ndarray:
    """All exponent vectors α ∈ ℕⁿ with ``min_degree ≤ |α| ≤ degree``, graded lex order.

    Returns an int64 array of shape ``(N, n)`` with ``N = C(n+d, d) - C(n+min_degree-1,
    min_degree-1)`` (``C(n+d, d)`` for ``min_degree = 0``), ordered by total degree ascending,
    then exponents descending lexicographically (the order of :class:`Polynomial` terms).
    Empty when ``degree < min_degree``.
    """
    if isinstance(n, bool) or not isinstance(n, numbers.Integral) or n < 0:
        raise InvalidValueError(f"n must be a non-negative integer, got {n!r}")
    n, degree, min_degree = int(n), int(degree), max(0, int(min_degree))
    if degree < min_degree:
        return np.zeros((0, n), dtype=np.int64)
    if degree > MAX_DEGREE:
        raise SizeLimitError(f"degree {degree} exceeds MAX_DEGREE = {MAX_DEGREE}")
    total = math.comb(n + degree, degree)
    if total > MAX_TERMS:
        raise SizeLimitError(
            f"a monomial basis in {n} variables up to degree {degree} has {total} elements "
            f"> MAX_TERMS = {MAX_TERMS}"
        )
    if n == 0:
        return np.zeros((1 if min_degree == 0 else 0, 0), dtype=np.int64)
    # Build column by column: each partial row of remaining budget r spawns r+1 children.
    rows = np.zeros((1, 0), dtype=np.int64)
    used = np.zeros(1, dtype=np.int64)
    for _ in range(n):
        counts = degree - used + 1
        parent = np.repeat(np.arange(rows.shape[0]), counts)
        offsets = np.cumsum(counts) - counts
        child = np.arange(parent.size) - np.repeat(offsets, counts)
        rows = np.concatenate([rows[parent], child[:, None]], axis=1)
        used = used[parent] + child
    rows = rows[_graded_lex_order(rows)]
    if min_degree:
        rows = rows[rows.sum(axis=1) >= min_degree]
    return np.ascontiguousarray(rows)


def monomial_index(basis: np.ndarray, query: np.ndarray) -> np.ndarray:
    """Row positions of ``query`` rows in ``basis`` (rows unique), ``-1`` where absent.

    Vectorised: rows are mapped to integer keys (mixed radix) and located with
    ``searchsorted``; when the keys would not fit in int64, rows are matched through
    ``np.unique(axis=0)``.
    """
    B = np.asarray(basis, dtype=np.int64)
    Q = np.asarray(query, dtype=np.int64)
    if Q.ndim == 1:
        Q = Q.reshape(1, -1)
    if B.ndim != 2 or Q.ndim != 2 or B.shape[1] != Q.shape[1]:
        raise InvalidValueError(
            f"basis {B.shape} and query {Q.shape} must be 2-D with the same number of columns"
        )
    n = B.shape[1]
    out = np.full(Q.shape[0], -1, dtype=np.int64)
    if B.shape[0] == 0 or Q.shape[0] == 0:
        return out
    if n == 0:
        if B.shape[0] > 1:
            raise InvalidValueError("basis rows must be unique")
        out[:] = 0
        return out
    if B.min() < 0:
        raise InvalidValueError("basis exponents must be non-negative")
    valid = np.all(Q >= 0, axis=1)
    bmax = int(B.max())
    valid &= np.all(Q <= bmax, axis=1)
    radix = bmax + 1
    if n * math.log2(radix) < 62:
        w = radix ** np.arange(n - 1, -1, -1, dtype=np.int64)
        kb = B @ w
        kq = np.where(valid[:, None], Q, 0) @ w
        order = np.argsort(kb, kind="stable")
        sk = kb[order]
        if sk.size > 1 and np.any(sk[1:] == sk[:-1]):
            raise InvalidValueError("basis rows must be unique")
        pos = np.searchsorted(sk, kq)
        pos = np.minimum(pos, sk.size - 1)
        hit = valid & (sk[pos] == kq)
        out[hit] = order[pos[hit]]
        return out
    allrows = np.concatenate([B, Q])
    _, inv = np.unique(allrows, axis=0, return_inverse=True)
    inv = inv.reshape(-1)
    ib, iq = inv[: B.shape[0]], inv[B.shape[0]:]
    if np.unique(ib).size != ib.size:
        raise InvalidValueError("basis rows must be unique")
    table = np.full(int(inv.max()) + 1, -1, dtype=np.int64)
    table[ib] = np.arange(B.shape[0])
    res = table[iq]
    out[valid] = res[valid]
    return out


# --------------------------------------------------------------------------------------------
# parsing
# --------------------------------------------------------------------------------------------

_NUMBER_RE = re.compile(r"^(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")
_ALLOWED_OPS = {"+", "-", "*", "/", "**", "^", "(", ")"}
_NONFINITE_NAMES = {"nan", "inf", "infinity", "oo", "zoo"}
_SYMPY_CONSTANTS = {"pi", "E", "I", "EulerGamma", "GoldenRatio", "Catalan"}
_MAX_PARSE_CHARS = 50_000_000
_MAX_INTEGER_DIGITS = 4000


def _op_hint(op: str) -> str:
    if op in {"=", "==", "<", ">", "<=", ">=", "!="}:
        return ("comparisons are not polynomials; parse each side and compare the polynomials, "
                "e.g. parse('x^2') <= 1")
    if op in {"//", "%"}:
        return "only + - * / ^ ** and parentheses are allowed"
    if op == ".":
        return "attribute access is not allowed; write numbers like 0.5"
    if op == ",":
        return "write one polynomial per string"
    return "only + - * / ^ ** and parentheses are allowed"


def _tokens_to_source(text: str, declared: tuple[str, ...] | None) -> tuple[
        list[str], dict[str, Any], list[str]]:
    """Check the tokens of ``text`` and rewrite them for sympy.

    Variables become aliases ``_v<i>`` and numbers ``_n<i>`` bound in a local dictionary to
    sympy Symbols and exact sympy numbers (a decimal literal is bound to the exact value of the
    nearest float64), so the code sympy evaluates contains no other names than those and
    the arithmetic operators.
    """
    import sympy

    src = text.replace("\r", " ").replace("\n", " ").replace("\t", " ").strip()
    if not src:
        raise ParseError("cannot parse an empty string as a polynomial; write e.g. '0' or 'x^2'")
    try:
        toks = list(tokenize.generate_tokens(StringIO(src).readline))
    except (tokenize.TokenError, SyntaxError) as e:
        raise ParseError(f"cannot parse {text!r}: {e}") from e
    local: dict[str, Any] = {}
    out: list[str] = []
    seen: list[str] = []
    alias: dict[str, str] = {}
    skip = {tokenize.ENCODING, tokenize.NEWLINE, tokenize.NL, tokenize.ENDMARKER,
            tokenize.INDENT, tokenize.DEDENT}
    for i, tok in enumerate(toks):
        kind, val = tok.type, tok.string
        if kind in skip:
            continue
        if kind == tokenize.NUMBER:
            if not _NUMBER_RE.match(val):
                raise ParseError(
                    f"{val!r} in {text!r} is not a decimal number; write numbers like 2, 0.5 "
                    "or 1e-3"
                )
            if "." in val or "e" in val or "E" in val:
                f = float(val)
                if not math.isfinite(f):
                    raise InvalidValueError(
                        f"the number {val} in {text!r} is not a finite float64"
                    )
                fr = Fraction(f)
                num: Any = sympy.Rational(fr.numerator, fr.denominator)
            else:
                if len(val) > _MAX_INTEGER_DIGITS:
                    raise InvalidValueError(
                        f"the integer starting {val[:20]}... in the text has {len(val)} digits; "
                        "it is not a finite float64"
                    )
                num = sympy.Integer(int(val))
            key = f"_n{len(local)}"
            local[key] = num
            out.append(key)
            continue
        if kind == tokenize.NAME:
            nxt = toks[i + 1] if i + 1 < len(toks) else None
            if nxt is not None and nxt.type == tokenize.OP and nxt.string == "(":
                depth, j = 0, i + 1
                while j < len(toks):
                    if toks[j].type == tokenize.OP and toks[j].string == "(":
                        depth += 1
                    elif toks[j].type == tokenize.OP and toks[j].string == ")":
                        depth -= 1
                        if depth == 0:
                            break
                    j += 1
                call = src[tok.start[1]: toks[min(j, len(toks) - 1)].end[1]]
                raise ParseError(
                    f"{call!r} in {text!r} is not a polynomial term: function calls are not "
                    "allowed (only + - * / by numbers, and ^ with non-negative integers)"
                )
            if keyword.iskeyword(val):
                raise ParseError(f"{val!r} in {text!r} is a Python keyword, not a variable")
            if declared is not None and val not in declared:
                if val.lower() in _NONFINITE_NAMES:
                    raise InvalidValueError(
                        f"{val!r} in {text!r} is not a finite number; coefficients must be finite"
                    )
                raise UnknownVariableError(
                    f"unknown variable {val!r} in {text!r}; the allowed variables are "
                    f"{list(declared)}"
                )
            if declared is None:
                if val.lower() in _NONFINITE_NAMES:
                    raise InvalidValueError(
                        f"{val!r} in {text!r} is not a finite number; coefficients must be finite"
                    )
                if val in _SYMPY_CONSTANTS:
                    raise ParseError(
                        f"{val!r} in {text!r} is ambiguous (a constant in sympy); write its "
                        f"numeric value, or pass variables=[..., {val!r}] to use it as a variable"
                    )
                _check_identifier(val)
            if val not in alias:
                alias[val] = f"_v{len(alias)}"
                local[alias[val]] = sympy.Symbol(val)
                seen.append(val)
            out.append(alias[val])
            continue
        if kind == tokenize.OP:
            if val not in _ALLOWED_OPS:
                raise ParseError(f"unexpected {val!r} in {text!r}: {_op_hint(val)}")
            out.append("**" if val == "^" else val)
            continue
        raise ParseError(
            f"unexpected {val!r} in {text!r}: only numbers, variable names, + - * / ^ ** and "
            "parentheses are allowed"
        )
    return out, local, seen


def _split_sum(tokens: list[str], per_chunk: int = 64) -> list[list[str]]:
    """Cut a token list at top-level binary ``+``/``-`` into chunks of ``per_chunk`` terms.

    ``+`` and ``-`` bind loosest, so the sum of the chunks (each starting with its sign, read as
    unary) is the whole expression; parsing chunks keeps sympy's syntax tree shallow for long
    sums.
    """
    chunks: list[list[str]] = []
    start, depth, terms = 0, 0, 0
    prev: str | None = None
    for i, t in enumerate(tokens):
        if t == "(":
            depth += 1
        elif t == ")":
            depth -= 1
        elif (t in {"+", "-"} and depth == 0 and prev is not None
              and prev not in _ALLOWED_OPS - {")"}):
            terms += 1
            if terms >= per_chunk:
                chunks.append(tokens[start:i])
                start, terms = i, 0
        prev = t
    chunks.append(tokens[start:])
    return chunks


def _sympy_to_poly(expr: Any, text: str) -> Polynomial | float:
    """Expand an unevaluated sympy tree with this module's (size-checked) arithmetic."""
    if expr.is_Symbol:
        return Polynomial.variable(expr.name)
    if expr.is_Rational:  # Integer is a Rational
        exact = Fraction(int(expr.p), int(expr.q))
        try:
            v = float(exact)
        except OverflowError as e:
            raise InvalidValueError(f"the number {expr} in {text!r} is not a finite float64") from e
        if int(expr.q) == 1 and Fraction(v) != exact:
            # decimal literals are bound to the exact value of their float64 already; an integer
            # literal float64 cannot hold would be silently rounded
            raise InvalidValueError(
                f"the integer {expr} in {text!r} is not exactly representable as a float64 (it "
                f"would be rounded to {v!r}); rescale so that integers stay below 2**53"
            )
        return v
    if expr.is_Add:
        parts = [_sympy_to_poly(a, text) for a in expr.args]
        polys = [p for p in parts if isinstance(p, Polynomial)]
        const = 0.0
        if len(polys) < len(parts):
            # same value as adding the numbers one by one in float arithmetic when there is one
            nums = [p for p in parts if not isinstance(p, Polynomial)]
            const = nums[0]
            for v in nums[1:]:
                const = const + v
            if not math.isfinite(const):
                raise InvalidValueError(f"{expr} in {text!r} overflows a float64")
        if not polys:
            return const
        if const != 0.0:
            polys.append(Polynomial.constant(const))
        return Polynomial._sum(polys)
    if expr.is_Mul:
        acc: Polynomial | float = 1.0
        for a in expr.args:
            if (a.is_Pow and a.args[0].is_Rational and a.args[1].is_Integer
                    and int(a.args[1]) < 0):
                # "... / d": divide (as Python does) rather than multiply by a rounded 1/d
                d = _sympy_to_poly(a.args[0] ** (-a.args[1]), text) if a.args[1] != -1 \
                    else _sympy_to_poly(a.args[0], text)
                assert isinstance(d, float)
                if d == 0.0:
                    raise InvalidValueError(f"division by zero in {expr} in {text!r}")
                acc = acc / d
                continue
            f = _sympy_to_poly(a, text)
            if isinstance(acc, float) and isinstance(f, float):
                acc = acc * f
                if not math.isfinite(acc):
                    raise InvalidValueError(f"{expr} in {text!r} overflows a float64")
            else:
                acc = acc * f
        return acc
    if expr.is_Pow:
        base_expr, exp_expr = expr.args
        k = _integer_exponent(exp_expr, expr, text)
        base = _sympy_to_poly(base_expr, text)
        if isinstance(base, float):
            if k < 0 and base == 0.0:
                raise InvalidValueError(f"division by zero in {expr} in {text!r}")
            try:
                v = base ** k
            except OverflowError as e:
                raise InvalidValueError(f"{expr} in {text!r} overflows a float64") from e
            except ZeroDivisionError as e:
                raise InvalidValueError(f"division by zero in {expr} in {text!r}") from e
            if not math.isfinite(v):
                raise InvalidValueError(f"{expr} in {text!r} overflows a float64")
            return float(v)
        if k < 0:
            if base.is_constant:
                c = base.constant_term()
                if c == 0.0:
                    raise InvalidValueError(f"division by zero in {expr} in {text!r}")
                return _as_float(c ** k, str(expr))
            raise ParseError(
                f"{str(expr)!r} in {text!r} is not a polynomial term: negative powers (and "
                "division) of expressions with variables are not polynomials"
            )
        return base ** k
    raise ParseError(f"{str(expr)!r} in {text!r} is not a polynomial term")


def _integer_exponent(exp_expr: Any, expr: Any, text: str) -> int:
    if exp_expr.is_Integer:
        return int(exp_expr)
    val = _sympy_to_poly(exp_expr, text)
    if isinstance(val, Polynomial):
        if not val.is_constant:
            raise ParseError(
                f"{str(expr)!r} in {text!r} is not a polynomial term: the exponent involves "
                "variables"
            )
        val = val.constant_term()
    if not float(val).is_integer():
        raise ParseError(
            f"{str(expr)!r} in {text!r} is not a polynomial term: exponents must be integers "
            f"(got {val!r})"
        )
    return int(val)


def _parse_polynomial(text: Any, variables: Sequence[str] | None) -> Polynomial:
    if not isinstance(text, str):
        raise ParseError(f"expected a string to parse, got {type(text).__name__}")
    if len(text) > _MAX_PARSE_CHARS:
        raise SizeLimitError(
            f"the text has {len(text)} characters > {_MAX_PARSE_CHARS}; build large "
            "polynomials from arrays with Polynomial(exps, coefs, variables)"
        )
    declared = None
    if variables is not None:
        if isinstance(variables, str):
            variables = variables.replace(",", " ").split()
        declared = tuple(_check_identifier(_var_name(v)) for v in variables)
        if len(set(declared)) != len(declared):
            raise InvalidValueError(f"variable names are repeated in {declared}")
    tokens, local, seen = _tokens_to_source(text, declared)

    import sympy
    from sympy.parsing.sympy_parser import parse_expr

    glob: dict[str, Any] = {"__builtins__": {}, "Add": sympy.Add, "Mul": sympy.Mul,
                            "Pow": sympy.Pow, "Integer": sympy.Integer, "Symbol": sympy.Symbol}
    parts: list[Polynomial] = []
    const = 0.0
    for chunk in _split_sum(tokens):
        try:
            expr = parse_expr(" ".join(chunk), local_dict=local, global_dict=glob,
                              transformations=(), evaluate=False)
        except (SyntaxError, TypeError, ValueError, AttributeError, NameError) as e:
            hint = ""
            if re.search(r"\d\s*[A-Za-z_(]|\)\s*[A-Za-z_\d(]", text):
                hint = " (write products with '*', e.g. 2*x, (x+1)*(x-1))"
            raise ParseError(f"cannot parse {text!r}: malformed expression{hint}") from e
        except RecursionError as e:
            raise ParseError(f"cannot parse {text[:80]!r}...: nested too deeply") from e
        try:
            value = _sympy_to_poly(expr, text)
        except RecursionError as e:
            raise ParseError(f"cannot parse {text[:80]!r}...: nested too deeply") from e
        if isinstance(value, float):
            const = const + value
        else:
            parts.append(value)
    if const != 0.0 or not parts:
        parts.append(Polynomial.constant(_as_float(const, f"the constant in {text!r}")))
    p = Polynomial._sum(parts)
    names = declared if declared is not None else tuple(seen)
    return p.with_variables(names)

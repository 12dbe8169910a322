"""The :class:`Polynomial` type: construction from user input, arithmetic, comparisons, substitution.

Comparisons between polynomials build :class:`Constraint` objects (``1 - x**2 - y**2 >= 0``) instead
of booleans; structural equality is :meth:`Polynomial.equals`.  Arithmetic between float
coefficients is IEEE float64 arithmetic; the numbers a polynomial is built from must be exact
float64 values (see :mod:`sosrelax.poly.exact`).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import Enum
from fractions import Fraction
from typing import Any

import numpy as np

from sosrelax.errors import (
    InvalidOperationError,
    InvalidValueError,
    ParseError,
    SizeLimitError,
    UnknownVariableError,
)
from sosrelax.poly.base import PointLike, PolynomialBase, is_number, var_name
from sosrelax.poly.exact import as_float, validated_terms
from sosrelax.poly.monomials import canonical_arrays, check_identifier
from sosrelax.poly.parse import MAX_PARSE_CHARS, sympy_summands
from sosrelax.poly.products import integer_power, multiply, substitute_one

__all__ = ["Constraint", "ConstraintKind", "Polynomial", "variables"]

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


class Polynomial(PolynomialBase):
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

    __slots__ = ()

    def __init__(self, exps: Any, coefs: Any, variables: Sequence[str] | str) -> None:
        if isinstance(variables, str):
            variables = variables.replace(",", " ").split()
        names = tuple(check_identifier(v) for v in variables)
        if len(set(names)) != len(names):
            dup = sorted({v for v in names if names.count(v) > 1})
            raise InvalidValueError(f"variable names {dup} are repeated in {names}")
        e, c = validated_terms(exps, coefs, names)
        e, c = canonical_arrays(e, c)
        self._set(e, c, names)
        self._check_finite()

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
                    k = var_name(k)
                    if k not in names:
                        raise UnknownVariableError(
                            f"unknown variable {k!r} in a term; the variables are {names}"
                        )
                    row[names.index(k)] = e
                rows.append(row)
            else:
                rows.append(list(mono))
        exps = np.array(rows, dtype=np.int64).reshape(len(items), len(names))
        return cls(exps, [as_float(c, f"the coefficient of term {i}")
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

    # -- arithmetic ----------------------------------------------------------------------------

    def _coerce(self, other: Any) -> Polynomial | None:
        if isinstance(other, Polynomial):
            return other
        if is_number(other):
            v = as_float(other, "the number")
            return Polynomial._raw(
                np.zeros((1, len(self._variables)), dtype=np.int64), np.array([v]),
                self._variables,
            )
        return None

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
        if is_number(other):
            return self._scaled(as_float(other, "the factor"))
        if not isinstance(other, Polynomial):
            return NotImplemented
        return multiply(self, other)

    def __rmul__(self, other: Any) -> Polynomial:
        if is_number(other):
            return self._scaled(as_float(other, "the factor"))
        if not isinstance(other, Polynomial):
            return NotImplemented
        return multiply(other, self)

    def __truediv__(self, other: Any) -> Polynomial:
        if isinstance(other, Polynomial):
            if not other.is_constant:
                raise InvalidOperationError(
                    f"cannot divide by the polynomial {str(other)!r}: polynomials are closed "
                    "under + - * only; divide by a number, or multiply the constraint through"
                )
            other = other.constant_term()
        if not is_number(other):
            return NotImplemented
        d = as_float(other, "the divisor")
        if d == 0.0:
            raise InvalidValueError(f"division of {str(self)!r} by zero")
        with np.errstate(over="ignore"):
            coefs = self._coefs / d
        return Polynomial._raw(self._exps.copy(), coefs, self._variables)

    def __rtruediv__(self, other: Any) -> Polynomial:
        if self.is_constant and is_number(other):
            c = self.constant_term()
            if c == 0.0:
                raise InvalidValueError("division by the zero polynomial")
            return Polynomial.constant(as_float(other, "the number") / c, self._variables)
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
        return integer_power(self, k)

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

    def equals(self, other: Polynomial | float, tol: float = 0.0) -> bool:
        """Structural equality: same monomials with coefficients within ``tol`` (absolute).

        Insensitive to the order of variables and to declared-but-unused variables.  With
        ``tol == 0`` this is exact equality of every coefficient.
        """
        if is_number(other):
            other = Polynomial.constant(as_float(other, "the number"))
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
        _, d = canonical_arrays(e, c)
        return bool(np.all(np.abs(d) <= tol))

    def __hash__(self) -> int:
        if self._hash is None:
            self._hash = hash(self.key)
        return self._hash

    # -- calculus and composition -------------------------------------------------------------

    def diff(self, var: str | Polynomial) -> Polynomial:
        """Partial derivative ``∂p/∂var`` (zero if ``var`` does not occur); same variables."""
        name = var_name(var)
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
            name = var_name(k)
            if isinstance(v, Polynomial):
                images[name] = v
            elif is_number(v):
                images[name] = as_float(v, f"the value substituted for {name!r}")
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
            p = substitute_one(p, f"#{j}", img)
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
        names = tuple(check_identifier(var_name(v)) for v in new_variables)
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
            p = substitute_one(p, f"#{j}", img)
        return p.with_variables(names)

    def __reduce__(self) -> tuple[Any, ...]:
        return (Polynomial, (self._exps.copy(), self._coefs.copy(), self._variables))


# --------------------------------------------------------------------------------------------
# variables and parsing
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
                return as_float(c ** k, str(expr))
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
    if len(text) > MAX_PARSE_CHARS:
        raise SizeLimitError(
            f"the text has {len(text)} characters > {MAX_PARSE_CHARS}; build large "
            "polynomials from arrays with Polynomial(exps, coefs, variables)"
        )
    declared = None
    if variables is not None:
        if isinstance(variables, str):
            variables = variables.replace(",", " ").split()
        declared = tuple(check_identifier(var_name(v)) for v in variables)
        if len(set(declared)) != len(declared):
            raise InvalidValueError(f"variable names are repeated in {declared}")
    summands, seen = sympy_summands(text, declared)
    parts: list[Polynomial] = []
    const = 0.0
    for expr in summands:
        try:
            value = _sympy_to_poly(expr, text)
        except RecursionError as e:
            raise ParseError(f"cannot parse {text[:80]!r}...: nested too deeply") from e
        if isinstance(value, float):
            const = const + value
        else:
            parts.append(value)
    if const != 0.0 or not parts:
        parts.append(Polynomial.constant(as_float(const, f"the constant in {text!r}")))
    p = Polynomial._sum(parts)
    names = declared if declared is not None else tuple(seen)
    return p.with_variables(names)

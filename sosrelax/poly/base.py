"""Storage and read-only queries of a polynomial: terms, variables, evaluation, printing.

:class:`PolynomialBase` holds the canonical arrays (see :mod:`sosrelax.poly`) and everything that
reads them; :class:`~sosrelax.poly.Polynomial` adds construction from user input, arithmetic,
comparisons and substitution.  Only :class:`~sosrelax.poly.Polynomial` is ever instantiated.
"""

from __future__ import annotations

import numbers
from collections.abc import Mapping, Sequence
from fractions import Fraction
from typing import Any, Self

import numpy as np

from sosrelax.errors import InvalidValueError, UnknownVariableError
from sosrelax.poly.evaluate import combine, combine_grouped, derivative_rows
from sosrelax.poly.exact import as_float, exact_sum, exact_value
from sosrelax.poly.monomials import (
    canonical_arrays,
    check_identifier,
    format_number,
    graded_lex_order,
    monomial_str,
    readonly,
)

Number = numbers.Real
PointLike = Mapping[Any, Any] | Sequence[Any] | np.ndarray


def var_name(v: Any) -> str:
    """Name of a variable given as a string or as the polynomial ``x`` itself."""
    if isinstance(v, str):
        return v
    if isinstance(v, PolynomialBase):
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


def is_number(c: Any) -> bool:
    """True for a real number (int, float, Fraction, numpy scalar) that is not a polynomial."""
    return isinstance(c, numbers.Real) and not isinstance(c, PolynomialBase)


class PolynomialBase:
    """Canonical term arrays of a polynomial and the queries that only read them.

    The base of :class:`~sosrelax.poly.Polynomial` (its documentation describes the contract);
    methods that build new polynomials build instances of the calling class.
    """

    __slots__ = ("_variables", "_exps", "_coefs", "_degree", "_hash", "__weakref__")

    # numpy must not try to broadcast over a Polynomial: `np.float64(2) * x` defers to us.
    __array_ufunc__ = None

    _variables: tuple[str, ...]
    _exps: np.ndarray
    _coefs: np.ndarray
    _degree: int | None
    _hash: int | None

    # -- internal constructors -----------------------------------------------------------------

    def _set(self, exps: np.ndarray, coefs: np.ndarray, names: tuple[str, ...]) -> None:
        self._variables = names
        self._exps = readonly(exps)
        self._coefs = readonly(coefs)
        self._degree = None
        self._hash = None

    @classmethod
    def _raw(cls, exps: np.ndarray, coefs: np.ndarray, names: tuple[str, ...]) -> Self:
        """Trusted construction: int64 exps, float64 coefs; canonicalises and checks finiteness."""
        e, c = canonical_arrays(exps, coefs)
        p = cls.__new__(cls)
        p._set(e, c, names)
        p._check_finite()
        return p

    def _check_finite(self) -> None:
        bad = ~np.isfinite(self._coefs)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise InvalidValueError(
                f"the coefficient of {monomial_str(self._exps[i], self._variables)} overflowed "
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
    def constant(cls, c: float, variables: Sequence[str] = ()) -> Self:
        """The constant polynomial ``c`` (declared over ``variables``)."""
        names = tuple(check_identifier(v) for v in variables)
        v = as_float(c, "constant")
        return cls._raw(np.zeros((1, len(names)), dtype=np.int64), np.array([v]), names)

    @classmethod
    def zero(cls, variables: Sequence[str] = ()) -> Self:
        """The zero polynomial (no terms; ``degree == -1``)."""
        return cls.constant(0.0, variables)

    @classmethod
    def variable(cls, name: str) -> Self:
        """The polynomial ``x`` for the variable called ``name``."""
        check_identifier(name)
        return cls._raw(np.ones((1, 1), dtype=np.int64), np.ones(1), (name,))

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

    def degree_in(self, var: str | PolynomialBase) -> int:
        """Largest exponent of ``var``; 0 if the polynomial does not involve it, -1 if zero."""
        name = var_name(var)
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
        names = tuple(var_name(v) for v in variables)
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

    def with_variables(self, variables: Sequence[str]) -> Self:
        """The same polynomial declared over ``variables`` (which must include every used one)."""
        names = tuple(check_identifier(var_name(v)) for v in variables)
        if names == self._variables:
            return self
        return type(self)._raw(self.aligned(names), self._coefs.copy(), names)

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
                name = var_name(k)
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


    # -- sums ---------------------------------------------------------------------------------------

    @staticmethod
    def _merged_names(a: tuple[str, ...], b: tuple[str, ...]) -> tuple[str, ...]:
        if a == b:
            return a
        seen = set(a)
        return a + tuple(v for v in b if v not in seen)

    @classmethod
    def _sum(cls, polys: Sequence[Self], signs: Sequence[float] | None = None) -> Self:
        """Sum of many polynomials in one canonicalisation (variables merged left to right)."""
        names: tuple[str, ...] = ()
        for p in polys:
            names = cls._merged_names(names, p._variables)
        if not polys:
            return cls.zero()
        es = [p.aligned(names) if p._variables != names else p._exps for p in polys]
        cs = [p._coefs if signs is None or signs[i] > 0 else -p._coefs
              for i, p in enumerate(polys)]
        return cls._raw(np.concatenate(es), np.concatenate(cs), names)


    # -- structural equality and hashing -------------------------------------------------------

    def _normal_form(self) -> tuple[tuple[str, ...], np.ndarray, np.ndarray]:
        """Used variables sorted by name, exponents aligned to them, terms in canonical order."""
        names = tuple(sorted(self.used_variables))
        if names == self._variables:
            return names, self._exps, self._coefs
        e = self.aligned(names)
        order = graded_lex_order(e)
        return names, e[order], self._coefs[order]

    @property
    def key(self) -> tuple[tuple[str, ...], tuple[int, ...], bytes, bytes]:
        """A hashable structural key: ``p.key == q.key`` exactly when ``p.equals(q)``.

        Use it for sets and dict keys: ``==`` on polynomials builds a :class:`Constraint`, so
        two distinct but equal polynomials meeting in a set raise.
        """
        names, e, c = self._normal_form()
        return names, e.shape, e.tobytes(), c.tobytes()


    # -- evaluation ----------------------------------------------------------------------------

    def _point_vector(self, point: PointLike, names: tuple[str, ...]) -> np.ndarray:
        if isinstance(point, Mapping):
            vals = {var_name(k): v for k, v in point.items()}
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
        names = self._variables if variables is None else tuple(var_name(v) for v in variables)
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
        return combine(E, self._coefs.reshape(-1, 1), X)[:, 0]

    def gradient(self, X: Any, variables: Sequence[str] | None = None) -> np.ndarray:
        """Gradients at many points: ``(k, n)``; entry ``[i, j]`` is ``∂p/∂x_j`` at ``X[i]``."""
        X, E, names = self._design(X, variables)
        n = len(names)
        DE, Dc, Dg = derivative_rows(E, self._coefs, np.zeros(len(self._coefs), np.int64), n)
        return combine_grouped(DE, Dc, Dg, n, X)

    def hessian(self, X: Any, variables: Sequence[str] | None = None) -> np.ndarray:
        """Hessians at many points: ``(k, n, n)``; entry ``[i, j, l]`` is ``∂²p/∂x_j∂x_l``."""
        X, E, names = self._design(X, variables)
        n = len(names)
        DE, Dc, Dg = derivative_rows(E, self._coefs, np.zeros(len(self._coefs), np.int64), n)
        HE, Hc, Hg = derivative_rows(DE, Dc, Dg * n, n)
        return combine_grouped(HE, Hc, Hg, n * n, X).reshape(X.shape[0], n, n)

    def evaluate_exact(self, point: PointLike) -> Fraction:
        """Exact value at a point, with coefficients and coordinates read as exact rationals.

        Coordinates may be ints, floats (read exactly: ``Fraction(0.1)`` is the binary value),
        :class:`fractions.Fraction` or strings such as ``"1/3"``.  The result is the exact
        rational value of :math:`\\sum_i c_i x^{\\alpha_i}`.
        """
        if isinstance(point, Mapping):
            vals = {var_name(k): v for k, v in point.items()}
            xs = []
            for v in self._variables:
                if v in vals:
                    xs.append(exact_value(vals[v], v))
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
            xs = [exact_value(v, name) for v, name in zip(seq, self._variables, strict=True)]
        return exact_sum(self._exps, self._coefs, xs)

    # -- printing ------------------------------------------------------------------------------

    def __str__(self) -> str:
        if self.is_zero:
            return "0"
        deg = self._exps.sum(axis=1)
        order = np.lexsort((np.arange(self.nterms), -deg))  # degree descending, canonical within
        out: list[str] = []
        for i in order.tolist():
            c = float(self._coefs[i])
            mono = monomial_str(self._exps[i], self._variables)
            a = abs(c)
            if mono == "1":
                body = format_number(a)
            elif a == 1.0:
                body = mono
            else:
                body = f"{format_number(a)}*{mono}"
            if not out:
                out.append(f"-{body}" if c < 0 else body)
            else:
                out.append(f" - {body}" if c < 0 else f" + {body}")
        return "".join(out)

    def __repr__(self) -> str:
        return f"Polynomial({str(self)!r}, variables={self._variables!r})"

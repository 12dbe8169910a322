r"""Polynomials whose coefficients are affine in unknowns: the expressions of an SOS program.

An expression in the program variables :math:`x = (x_1, \dots, x_n)` and the decision variables
:math:`d = (d_1, \dots, d_D)` is

.. math::  p(x; d) = \sum_{i=1}^{m} \Big(c_{i0} + \sum_{k=1}^{D} c_{ik} d_k\Big) x^{\alpha_i},

stored as an exponent matrix (one row :math:`\alpha_i` per monomial, no repeats) and a sparse
coefficient matrix :math:`C \in \mathbb{R}^{m \times (1 + D)}` whose column 0 is the constant part.
Decision variables come in named blocks (:class:`DecisionBlock`), one per
:func:`poly_variable`; an expression lists the blocks it uses and its columns follow them in order.

Expressions are closed under ``+``, ``-``, multiplication by numbers and by
:class:`~sosrelax.poly.Polynomial` objects, and :meth:`PolyExpr.diff`; the product of two
expressions that both contain unknowns is not affine and is refused.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp

from sosrelax.errors import InvalidOperationError, InvalidValueError, UnknownVariableError
from sosrelax.poly import Polynomial, monomial_basis, var_name

__all__ = ["CoefficientEquality", "DecisionBlock", "LinearInequality", "PolyExpr", "PolyVariable", "as_expr",
           "poly_variable"]

_COUNTER = itertools.count()


class DecisionBlock:
    """A named group of scalar unknowns (the coefficients of one polynomial unknown).

    Blocks compare by identity: two calls of :func:`poly_variable` with the same name give two
    different unknowns.

    Attributes
    ----------
    name : str
    size : int
        Number of scalar unknowns.
    labels : tuple of str
        One human-readable name per scalar (``"V[x^2*y]"``), used in certificate files.
    """

    __slots__ = ("labels", "name", "serial", "size")

    def __init__(self, name: str, labels: Sequence[str]) -> None:
        self.name = str(name)
        self.labels = tuple(str(s) for s in labels)
        self.size = len(self.labels)
        self.serial = next(_COUNTER)

    def __repr__(self) -> str:
        return f"DecisionBlock({self.name!r}, size={self.size})"


def _merged(a: tuple[str, ...], b: tuple[str, ...]) -> tuple[str, ...]:
    if a == b:
        return a
    seen = set(a)
    return a + tuple(v for v in b if v not in seen)


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool)


class PolyExpr:
    """A polynomial in the program variables with coefficients affine in decision variables.

    Build them from :func:`poly_variable` and ordinary arithmetic; see the module docstring for
    the representation.  Comparisons build program constraints: ``e == q`` equates coefficients
    (a :class:`~sosrelax.program.constraints.CoefficientEquality`), and ``t >= c`` / ``t <= c``
    for an expression ``t`` that does not depend on :math:`x` is a linear inequality on the
    unknowns.  Nonnegativity of a polynomial expression is written ``sr.sos(e)``.
    """

    __array_priority__ = 100  # numpy scalars defer to our reflected operators
    __slots__ = ("_blocks", "_coef", "_exps", "_variables")

    def __init__(self, variables: Sequence[str], exps: np.ndarray, coef: sp.csr_matrix,
                 blocks: Sequence[DecisionBlock] = ()) -> None:
        self._variables = tuple(variables)
        self._blocks = tuple(blocks)
        e = np.asarray(exps, dtype=np.int64)
        if e.ndim != 2 or e.shape[1] != len(self._variables):
            raise InvalidValueError(f"exponents of shape {e.shape} do not match the variables {self._variables}")
        C = sp.csr_matrix(coef, dtype=np.float64)
        width = 1 + sum(b.size for b in self._blocks)
        if C.shape != (e.shape[0], width):
            raise InvalidValueError(f"coefficient matrix of shape {C.shape} does not match {e.shape[0]} "
                                    f"monomials and {width - 1} unknowns")
        self._exps, self._coef = _canonical(e, C)

    # -- construction ----------------------------------------------------------------------------

    @classmethod
    def from_polynomial(cls, p: Polynomial) -> PolyExpr:
        """``p`` as an expression without unknowns."""
        c = sp.csr_matrix(np.asarray(p.coefs, dtype=float).reshape(-1, 1))
        return cls(p.variables, p.exps, c)

    @classmethod
    def constant(cls, v: float) -> PolyExpr:
        """The constant ``v``."""
        return cls((), np.zeros((1, 0), dtype=np.int64), sp.csr_matrix([[float(v)]]))

    # -- read-only views -------------------------------------------------------------------------

    @property
    def variables(self) -> tuple[str, ...]:
        """Program variables, one per column of :attr:`exps`."""
        return self._variables

    @property
    def exps(self) -> np.ndarray:
        """Exponent rows, one per monomial (copy)."""
        return self._exps.copy()

    @property
    def coef(self) -> sp.csr_matrix:
        """Coefficient matrix ``(monomials, 1 + unknowns)``; column 0 is the constant part."""
        return self._coef.copy()

    @property
    def blocks(self) -> tuple[DecisionBlock, ...]:
        """Decision blocks whose unknowns the columns ``1..`` of :attr:`coef` hold, in order."""
        return self._blocks

    @property
    def degree(self) -> int:
        """Total degree in the program variables (``-1`` for zero)."""
        return int(self._exps.sum(axis=1).max()) if self._exps.shape[0] else -1

    @property
    def is_constant(self) -> bool:
        """Whether the expression does not depend on the program variables."""
        return self.degree <= 0

    def aligned(self, variables: Sequence[str]) -> PolyExpr:
        """The same expression over ``variables`` (which must contain every used variable)."""
        names = tuple(var_name(v) for v in variables)
        if names == self._variables:
            return self
        pos = {v: i for i, v in enumerate(names)}
        e = np.zeros((self._exps.shape[0], len(names)), dtype=np.int64)
        for j, v in enumerate(self._variables):
            if v in pos:
                e[:, pos[v]] = self._exps[:, j]
            elif np.any(self._exps[:, j]):
                raise UnknownVariableError(f"the expression uses the variable {v!r}, which is not among "
                                           f"{names}; add it to the variables")
        return PolyExpr(names, e, self._coef, self._blocks)

    def with_blocks(self, blocks: Sequence[DecisionBlock]) -> PolyExpr:
        """The same expression with its columns laid out for ``blocks`` (a superset of :attr:`blocks`)."""
        blocks = tuple(blocks)
        if blocks == self._blocks:
            return self
        start, offs = 1, {}
        for b in blocks:
            offs[id(b)] = start
            start += b.size
        cols = [0]
        for b in self._blocks:
            if id(b) not in offs:
                raise InvalidValueError(f"the unknown {b.name!r} is not among the program's unknowns")
            cols += list(range(offs[id(b)], offs[id(b)] + b.size))
        C = self._coef.tocoo()
        new = sp.csr_matrix((C.data, (C.row, np.asarray(cols, dtype=np.int64)[C.col])),
                            shape=(C.shape[0], start))
        return PolyExpr(self._variables, self._exps, new, blocks)

    # -- arithmetic ------------------------------------------------------------------------------

    def _combine(self, other: PolyExpr, sign: float) -> PolyExpr:
        names = _merged(self._variables, other._variables)
        blocks = self._blocks + tuple(b for b in other._blocks if all(b is not a for a in self._blocks))
        a = self.aligned(names).with_blocks(blocks)
        b = other.aligned(names).with_blocks(blocks)
        return PolyExpr(names, np.vstack([a._exps, b._exps]), sp.vstack([a._coef, sign * b._coef]).tocsr(),
                        blocks)

    def __add__(self, other: Any) -> PolyExpr:
        o = _lift(other)
        return NotImplemented if o is None else self._combine(o, 1.0)

    def __radd__(self, other: Any) -> PolyExpr:
        o = _lift(other)
        return NotImplemented if o is None else o._combine(self, 1.0)

    def __sub__(self, other: Any) -> PolyExpr:
        o = _lift(other)
        return NotImplemented if o is None else self._combine(o, -1.0)

    def __rsub__(self, other: Any) -> PolyExpr:
        o = _lift(other)
        return NotImplemented if o is None else o._combine(self, -1.0)

    def __neg__(self) -> PolyExpr:
        return PolyExpr(self._variables, self._exps, -self._coef, self._blocks)

    def __pos__(self) -> PolyExpr:
        return self

    def __mul__(self, other: Any) -> PolyExpr:
        if _is_number(other):
            return PolyExpr(self._variables, self._exps, float(other) * self._coef, self._blocks)
        if isinstance(other, PolyExpr):
            if other._blocks and self._blocks:
                raise InvalidOperationError(
                    "the product of two expressions with unknowns is not affine in the unknowns; an SOS "
                    "program needs affine expressions (fix one factor, e.g. by bisection over a level)")
            if not other._blocks:
                return self._times(other)
            return other._times(self)
        if isinstance(other, Polynomial):
            return self._times(PolyExpr.from_polynomial(other))
        return NotImplemented

    __rmul__ = __mul__

    def __truediv__(self, other: Any) -> PolyExpr:
        if not _is_number(other):
            return NotImplemented
        if float(other) == 0.0:
            raise InvalidValueError("division of an expression by zero")
        return self * (1.0 / float(other))

    def _times(self, q: PolyExpr) -> PolyExpr:
        """Product with an expression ``q`` without unknowns (column 0 only)."""
        names = _merged(self._variables, q._variables)
        a, b = self.aligned(names), q.aligned(names)
        qc = b._coef[:, 0].toarray().ravel()
        t = b._exps.shape[0]
        exps = np.vstack([a._exps + b._exps[j] for j in range(t)]) if t else a._exps[:0]
        coef = sp.vstack([qc[j] * a._coef for j in range(t)]).tocsr() if t else a._coef[:0]
        return PolyExpr(names, exps, coef, a._blocks)

    def diff(self, var: Any) -> PolyExpr:
        """Partial derivative with respect to the program variable ``var``."""
        name = var_name(var)
        if name not in self._variables:
            return PolyExpr(self._variables, self._exps[:0], self._coef[:0], self._blocks)
        j = self._variables.index(name)
        rows = np.flatnonzero(self._exps[:, j] > 0)
        e = self._exps[rows].copy()
        c = sp.diags(e[:, j].astype(float)) @ self._coef[rows]
        e[:, j] -= 1
        return PolyExpr(self._variables, e, c, self._blocks)

    def coefficient(self, monomial: dict[Any, int] | Sequence[int]) -> PolyExpr:
        """The coefficient of one monomial, an expression without program variables."""
        row = np.zeros(len(self._variables), dtype=np.int64)
        if isinstance(monomial, dict):
            for k, v in monomial.items():
                name = var_name(k)
                if name not in self._variables:
                    if v:
                        return PolyExpr((), np.zeros((0, 0), np.int64),
                                        sp.csr_matrix((0, self._coef.shape[1])), self._blocks)
                    continue
                row[self._variables.index(name)] = int(v)
        else:
            row[:] = np.asarray(monomial, dtype=np.int64)
        hit = np.flatnonzero(np.all(self._exps == row, axis=1))
        C = self._coef[hit] if hit.size else sp.csr_matrix((0, self._coef.shape[1]))
        return PolyExpr((), np.zeros((C.shape[0], 0), dtype=np.int64), C, self._blocks)

    # -- comparisons build constraints -----------------------------------------------------------

    def __eq__(self, other: Any) -> Any:
        o = _lift(other)
        return NotImplemented if o is None else CoefficientEquality(self - o)

    def __ge__(self, other: Any) -> Any:
        o = _lift(other)
        return NotImplemented if o is None else LinearInequality(self - o)

    def __le__(self, other: Any) -> Any:
        o = _lift(other)
        return NotImplemented if o is None else LinearInequality(o - self)

    __hash__ = object.__hash__

    def __bool__(self) -> bool:
        raise InvalidOperationError("an expression with unknowns has no truth value")

    # -- values ----------------------------------------------------------------------------------

    def value(self, values: dict[int, np.ndarray]) -> Polynomial:
        """The polynomial for the unknowns' values ``{id(block): array}`` (floats)."""
        d = np.concatenate([[1.0], *[np.asarray(values[id(b)], dtype=float) for b in self._blocks]])
        c = self._coef @ d
        return Polynomial(self._exps, c, self._variables) if self._variables else Polynomial(
            np.zeros((len(c), 0), np.int64), c, ())

    def __repr__(self) -> str:
        names = ", ".join(b.name for b in self._blocks) or "none"
        return (f"PolyExpr(variables={self._variables}, monomials={self._exps.shape[0]}, degree={self.degree}, "
                f"unknowns from {names})")


class PolyVariable(PolyExpr):
    """A polynomial unknown :math:`p(x) = \\sum_i d_i x^{\\beta_i}` (one decision variable per monomial).

    Attributes
    ----------
    name : str
    block : DecisionBlock
    basis : ndarray
        The monomials :math:`\\beta_i`, one row each, in the order of the block's unknowns.
    """

    __slots__ = ("basis", "block", "name")

    def __init__(self, name: str, variables: Sequence[str], basis: np.ndarray) -> None:
        names = tuple(variables)
        basis = np.asarray(basis, dtype=np.int64)
        labels = [f"{name}[{_mono_text(row, names)}]" for row in basis]
        block = DecisionBlock(name, labels)
        k = basis.shape[0]
        coef = sp.csr_matrix((np.ones(k), (np.arange(k), np.arange(1, k + 1))), shape=(k, k + 1))
        # the rows of a basis are distinct, so the canonical form keeps their order up to sorting
        super().__init__(names, basis, coef, (block,))
        self.name = str(name)
        self.block = block
        self.basis = basis


@dataclass(frozen=True, eq=False)
class CoefficientEquality:
    """Every coefficient of ``expr`` (in the program variables) is zero: ``expr == 0`` identically."""

    expr: PolyExpr
    name: str = ""


@dataclass(frozen=True, eq=False)
class LinearInequality:
    """``expr >= 0`` for an expression that does not depend on the program variables (a linear
    inequality on the unknowns)."""

    expr: PolyExpr
    name: str = ""

    def __post_init__(self) -> None:
        if not self.expr.is_constant:
            raise InvalidOperationError(
                "'>=' between expressions that depend on the program variables is not a linear "
                "constraint; to ask for p(x) >= 0 for every x write sr.sos(p), or sr.sos(p, on=[...]) on a set")



def _mono_text(row: np.ndarray, names: Sequence[str]) -> str:
    parts = [v if e == 1 else f"{v}^{int(e)}" for v, e in zip(names, row, strict=True) if e]
    return "*".join(parts) or "1"


def _canonical(e: np.ndarray, C: sp.csr_matrix) -> tuple[np.ndarray, sp.csr_matrix]:
    """Merge repeated monomials, drop zero rows, sort by (degree, exponents)."""
    if e.shape[0] == 0:
        return e, C
    if e.shape[1] == 0:  # no variables: one constant monomial
        M = sp.csr_matrix(C.sum(axis=0))
        M.eliminate_zeros()
        return (np.zeros((1, 0), np.int64), M) if M.nnz else (np.zeros((0, 0), np.int64), M[:0])
    uniq, inv = np.unique(e, axis=0, return_inverse=True)
    inv = inv.reshape(-1)
    S = sp.csr_matrix((np.ones(e.shape[0]), (inv, np.arange(e.shape[0]))), shape=(uniq.shape[0], e.shape[0]))
    M = (S @ C).tocsr()
    M.eliminate_zeros()
    keep = np.diff(M.indptr) > 0
    uniq, M = uniq[keep], M[keep]
    order = np.lexsort((*[-uniq[:, j] for j in reversed(range(uniq.shape[1]))], uniq.sum(axis=1)))
    return np.ascontiguousarray(uniq[order]), M[order].tocsr()


def _lift(v: Any) -> PolyExpr | None:
    if isinstance(v, PolyExpr):
        return v
    if isinstance(v, Polynomial):
        return PolyExpr.from_polynomial(v)
    if _is_number(v):
        return PolyExpr.constant(float(v))
    return None


def as_expr(v: Any, what: str = "the expression") -> PolyExpr:
    """``v`` (an expression, a polynomial or a number) as a :class:`PolyExpr`.

    Raises
    ------
    InvalidOperationError
        For anything else; the message names ``what``.
    """
    e = _lift(v)
    if e is None:
        raise InvalidOperationError(f"{what} must be a polynomial, an expression with unknowns or a number, "
                                    f"got {type(v).__name__}")
    return e


def poly_variable(name: str, variables: Sequence[Any] = (), degree: int = 0, *, min_degree: int = 0,
                  monomials: Sequence[Any] | None = None) -> PolyVariable:
    """A polynomial unknown with one free coefficient per monomial.

    Parameters
    ----------
    name : str
        Shown in results and certificate files.
    variables : sequence of Polynomial or str
        The program variables it depends on (none: a scalar unknown).
    degree, min_degree : int
        All monomials with ``min_degree <= total degree <= degree`` (ignored with ``monomials``).
    monomials : sequence of Polynomial, optional
        The monomials to use instead (each a monomial in ``variables``, e.g. ``[x**2, x*y, y**2]``).

    Returns
    -------
    PolyVariable
        :math:`p(x) = \\sum_i d_i x^{\\beta_i}` with unknown real :math:`d_i`.

    Raises
    ------
    InvalidValueError
        For a negative degree, or a ``monomials`` entry that is not a monomial.
    """
    names = tuple(var_name(v) for v in variables)
    if len(set(names)) != len(names):
        raise InvalidValueError(f"variables of {name!r} repeat: {names}")
    if monomials is not None:
        rows = []
        for i, m in enumerate(monomials):
            if not isinstance(m, Polynomial) or m.nterms != 1:
                raise InvalidValueError(f"monomials[{i}] of {name!r} must be one monomial such as x**2*y, got {m!r}")
            rows.append(m.aligned(names)[0])
        basis = np.array(rows, dtype=np.int64).reshape(-1, len(names))
        if len({tuple(r) for r in basis.tolist()}) != len(rows):
            raise InvalidValueError(f"the monomials of {name!r} repeat")
    else:
        if int(degree) < 0 or int(min_degree) < 0:
            raise InvalidValueError(f"degree of {name!r} must be nonnegative, got {degree}")
        basis = monomial_basis(len(names), int(degree), int(min_degree))
    return PolyVariable(str(name), names, basis)

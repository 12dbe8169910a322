"""The polynomial data a moment-type relaxation is built from, in compact form, and its Gram block
specifications before row numbering.

:class:`PolynomialSystem` is ``minimise sign·f`` over ``{g_i >= 0, h_j = 0}`` with every polynomial a
:class:`~sosrelax.relax.keys.CompactPolynomial`; :class:`GramBlockSpec` is one Gram block of the builder
(:mod:`sosrelax.relax.moment`) described by the moment keys its entries query, which is what term sparsity
(:mod:`sosrelax.relax.termsparsity`) splits.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sosrelax.problem import Problem, Sense
from sosrelax.relax.keys import CompactPolynomial

__all__ = ["GramBlockSpec", "PolynomialSystem"]


@dataclass(frozen=True)
class PolynomialSystem:
    """``minimise sign·f`` over ``{g_i >= 0, h_j = 0}`` in compact form (what the builder consumes).

    Built from a :class:`~sosrelax.problem.Problem` by :meth:`from_problem`, or directly from compact
    polynomials for problems too large to hold dense exponent rows (``n`` in the tens of thousands).
    """

    variables: tuple[str, ...]
    objective: CompactPolynomial
    inequalities: tuple[CompactPolynomial, ...]
    equalities: tuple[CompactPolynomial, ...]
    sign: float = 1.0
    problem: Problem | None = None

    @property
    def n(self) -> int:
        """Number of variables."""
        return len(self.variables)

    @classmethod
    def from_problem(cls, problem: Problem) -> PolynomialSystem:
        """The compact form of ``problem`` (maximisation becomes minimisation of ``−f``, ``sign = −1``)."""
        variables = tuple(problem.variables)
        sign = 1.0 if problem.sense is Sense.MINIMIZE else -1.0
        return cls(
            variables=variables,
            objective=CompactPolynomial.from_polynomial(problem.objective, variables),
            inequalities=tuple(CompactPolynomial.from_polynomial(g, variables) for g in problem.inequalities),
            equalities=tuple(CompactPolynomial.from_polynomial(h, variables) for h in problem.equalities),
            sign=sign,
            problem=problem,
        )

    def minimum_level(self) -> int:
        """Smallest relaxation level at which every polynomial fits: ``max ceil(deg/2)``, at least 1."""
        return max(1, (self.max_degree() + 1) // 2)

    def max_degree(self) -> int:
        """The largest degree of the objective and the constraints (0 when all are constant)."""
        degs = [self.objective.degree, *(g.degree for g in self.inequalities)]
        degs += [h.degree for h in self.equalities]
        return max(0, *degs)


@dataclass
class GramBlockSpec:
    """A Gram block before row numbering: its constraint, clique, local basis and the queries of its entries.

    Entry ``e`` of the block (upper triangle in svec order, ``e = 0..k(k+1)/2 − 1``) is the moment
    combination ``Σ_{q: entry_rows[q] = e} query_vals[q] · y[query_keys[q]]``.

    Attributes
    ----------
    constraint : int or None
        Index of the inequality ``g_i`` whose multiplier the block is; ``None`` for a moment matrix.
    clique : int or None
        The clique the block lives on (``None``: dense).
    support : ndarray of int or None
        The clique's variables (``None``: all variables).
    basis : ndarray of int, shape (k, len(support))
        Exponent rows of the block's monomial basis over ``support``.
    entry_rows, query_keys, query_vals : ndarray, shape (q,)
        Entry index, moment key and coefficient of every (entry, term) query, grouped by entry.
    """

    constraint: int | None
    clique: int | None
    support: np.ndarray | None
    basis: np.ndarray
    entry_rows: np.ndarray
    query_keys: np.ndarray
    query_vals: np.ndarray

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

The package's modules, bottom up: :mod:`~sosrelax.poly.monomials` (exponent arrays, canonical
order, monomial bases), :mod:`~sosrelax.poly.exact` (exactness of numbers, exact evaluation),
:mod:`~sosrelax.poly.evaluate` (vectorised kernels), :mod:`~sosrelax.poly.parse` (text to sympy
trees), :mod:`~sosrelax.poly.base` (storage and read-only queries), :mod:`~sosrelax.poly.products`
(size-checked products and powers) and :mod:`~sosrelax.poly.core` (:class:`Polynomial`,
:class:`Constraint`).
"""

from sosrelax.poly.base import Number, PointLike, var_name
from sosrelax.poly.core import Constraint, ConstraintKind, Polynomial, variables
from sosrelax.poly.exact import as_float
from sosrelax.poly.monomials import MAX_DEGREE, MAX_TERMS, monomial_basis, monomial_index

__all__ = [
    "MAX_DEGREE",
    "MAX_TERMS",
    "Constraint",
    "ConstraintKind",
    "Number",
    "PointLike",
    "Polynomial",
    "as_float",
    "monomial_basis",
    "monomial_index",
    "var_name",
    "variables",
]

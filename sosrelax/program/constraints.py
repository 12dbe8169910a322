r"""Constraints of an SOS program: sums of squares (on a set), matrix SOS, coefficient equalities,
linear inequalities on the unknowns.

``sos(p)`` asks for :math:`p = b(x)^T Q b(x)` with :math:`Q` in the Gram cone (PSD for SOS, diagonally
dominant for DSOS, scaled diagonally dominant for SDSOS), which makes :math:`p \ge 0` everywhere.
``sos(p, on=[g >= 0, h == 0])`` asks for Putinar's form

.. math::  p = \sigma_0 + \sum_i \sigma_i g_i + \sum_j \lambda_j h_j,

:math:`\sigma_i` sums of squares and :math:`\lambda_j` free polynomials, all of total degree at most the
certificate degree, which makes :math:`p \ge 0` on :math:`\{g \ge 0, h = 0\}`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sosrelax.errors import InvalidOperationError, InvalidValueError
from sosrelax.poly import Constraint, ConstraintKind, Polynomial, variables
from sosrelax.program.expr import CoefficientEquality, LinearInequality, PolyExpr, as_expr

__all__ = ["CONES", "CoefficientEquality", "LinearInequality", "SOSConstraint", "sos", "sos_matrix"]

#: Gram cones: PSD (SOS), diagonally dominant (DSOS), scaled diagonally dominant (SDSOS).
CONES = ("psd", "dd", "sdd")
_CONE_ALIASES = {"psd": "psd", "sos": "psd", "dd": "dd", "dsos": "dd", "sdd": "sdd", "sdsos": "sdd"}


@dataclass(frozen=True, eq=False)
class SOSConstraint:
    """``expr`` is a sum of squares (in Putinar's form on the set ``on`` when it is not empty).

    Attributes
    ----------
    expr : PolyExpr
    inequalities, equalities : tuple of Polynomial
        The set :math:`\\{g \\ge 0, h = 0\\}` on which nonnegativity is asked.
    degree : int or None
        Total degree of the certificate's terms (``None``: the smallest even degree that holds ``expr``
        and every constraint).
    cone : {"psd", "dd", "sdd"}
    margin : float
        Ask for :math:`Q - \\text{margin} \\cdot I` in the cone for :math:`\\sigma_0` (a strictly feasible
        Gram matrix, which exact rounding needs).
    name : str
    quadratic_in : tuple of str
        Variables in which ``expr`` is a quadratic form (the auxiliary vector of :func:`sos_matrix`); the Gram
        bases are then those variables times monomials in the others.
    sparsity : {"none", "correlative"}
        ``"correlative"``: :math:`\\sigma_0 = \\sum_k \\sigma_{0,k}` with :math:`\\sigma_{0,k}` SOS in the
        variables of the :math:`k`-th clique of a chordal extension of the correlative sparsity graph, and every
        multiplier in the variables of one clique holding its constraint.
    """

    expr: PolyExpr
    inequalities: tuple[Polynomial, ...] = ()
    equalities: tuple[Polynomial, ...] = ()
    degree: int | None = None
    cone: str = "psd"
    margin: float = 0.0
    name: str = ""
    quadratic_in: tuple[str, ...] = field(default=())
    sparsity: str = "none"


def _set_of(on: Any) -> tuple[tuple[Polynomial, ...], tuple[Polynomial, ...]]:
    if on is None:
        return (), ()
    if isinstance(on, Constraint):
        on = [on]
    ineq: list[Polynomial] = []
    eq: list[Polynomial] = []
    for i, c in enumerate(on):
        if not isinstance(c, Constraint):
            raise InvalidOperationError(f"on[{i}] must be a constraint such as g >= 0 or h == 0, "
                                        f"got {type(c).__name__}")
        (eq if c.kind is ConstraintKind.EQ else ineq).append(c.poly)
    return tuple(ineq), tuple(eq)


def _cone(cone: str) -> str:
    key = _CONE_ALIASES.get(str(cone).lower())
    if key is None:
        raise InvalidValueError(f"unknown cone {cone!r}; choose 'psd' (SOS), 'dsos' or 'sdsos'")
    return key


def sos(expr: Any, on: Any = None, *, degree: int | None = None, cone: str = "psd", margin: float = 0.0,
        name: str = "", sparsity: str | None = None) -> SOSConstraint:
    """Constrain ``expr`` to be a sum of squares, or nonnegative on a set in Putinar's form.

    Parameters
    ----------
    expr : PolyExpr, Polynomial or number
        Affine in the program's unknowns.
    on : list of Constraint, optional
        ``[g >= 0, ..., h == 0, ...]``: SOS multipliers :math:`\\sigma_i` of the inequalities and free
        polynomial multipliers :math:`\\lambda_j` of the equalities are added, of total degree at most
        ``degree``.
    degree : int, optional
        Degree of the certificate (default: the smallest even degree at least that of ``expr`` and of the
        constraints).
    cone : {"psd", "dsos", "sdsos"}
        Gram cone of every SOS term: PSD (SOS), diagonally dominant (DSOS, a linear program) or scaled
        diagonally dominant (SDSOS, a second-order cone program).  DSOS ⊂ SDSOS ⊂ SOS.
    margin : float
        Strict feasibility: :math:`\\sigma_0`'s Gram matrix minus ``margin`` times the identity must be in the
        cone (the same as ``sos(expr - margin * sum(b**2 for b in basis))``).
    name : str
        Shown in results and certificates.
    sparsity : {None, "none", "correlative"}
        Correlative sparsity (as in ``sr.solve``): variables interact when they share a monomial of ``expr``
        or a constraint of ``on``; the Gram matrices are split over the maximal cliques of a chordal
        extension of that graph (minimum-degree elimination, :mod:`sosrelax.relax.chordal`).  A smaller
        program, sometimes a stronger condition (a sparse SOS decomposition may not exist where a dense one
        does); every certificate is checked the same way.

    Returns
    -------
    SOSConstraint
    """
    e = as_expr(expr, "the expression of sos()")
    ineq, eq = _set_of(on)
    if degree is not None and (isinstance(degree, bool) or int(degree) < 0):
        raise InvalidValueError(f"degree must be a nonnegative integer, got {degree!r}")
    if not float(margin) >= 0.0:
        raise InvalidValueError(f"margin must be nonnegative, got {margin!r}")
    mode = "none" if sparsity is None else str(sparsity).lower()
    if mode not in ("none", "correlative"):
        raise InvalidValueError(f"unknown sparsity {sparsity!r} for an SOS constraint; choose None or 'correlative'")
    return SOSConstraint(e, ineq, eq, None if degree is None else int(degree), _cone(cone), float(margin),
                         str(name), sparsity=mode)


def sos_matrix(M: Sequence[Sequence[Any]], on: Any = None, *, degree: int | None = None, cone: str = "psd",
               margin: float = 0.0, name: str = "", aux: str = "mv") -> SOSConstraint:
    """Constrain a symmetric polynomial matrix to be SOS: :math:`M(x) = V(x)^T V(x)` (hence PSD for every
    :math:`x`), or PSD on a set in Putinar's form.

    Written as the scalar SOS constraint :math:`y^T M(x) y` in the extra variables :math:`y` (named
    ``aux0, aux1, ...``), with Gram bases :math:`y_i x^\\beta`; the certificate is that scalar one.

    Parameters
    ----------
    M : k × k nested sequence of PolyExpr, Polynomial or numbers
        Must be symmetric (entries ``M[i][j]`` and ``M[j][i]`` equal as expressions).
    on, degree, cone, margin, name
        As for :func:`sos`; ``degree`` counts the :math:`x`-degree only.
    aux : str
        Prefix of the auxiliary variables' names (they must not clash with the program's).

    Raises
    ------
    InvalidValueError
        When ``M`` is not square or not symmetric.
    """
    rows = [list(r) for r in M]
    k = len(rows)
    if k == 0 or any(len(r) != k for r in rows):
        raise InvalidValueError("sos_matrix expects a square, nonempty matrix of polynomials")
    E = [[as_expr(v, f"M[{i}][{j}]") for j, v in enumerate(r)] for i, r in enumerate(rows)]
    for i in range(k):
        for j in range(i):
            diff = E[i][j] - E[j][i]
            if diff.coef.nnz and abs(diff.coef).max() > 0:
                raise InvalidValueError(f"sos_matrix: M[{i}][{j}] and M[{j}][{i}] differ; M must be symmetric")
    ys = variables(aux, k) if k > 1 else (variables(f"{aux}0")[0],)
    used = set().union(*(set(e.variables) for r in E for e in r))
    clash = used & {str(y.variables[0]) for y in ys}
    if clash:
        raise InvalidValueError(f"sos_matrix: the auxiliary names {sorted(clash)} are program variables; "
                                "pass another aux= prefix")
    total: PolyExpr = PolyExpr.constant(0.0)
    for i in range(k):
        for j in range(k):
            total = total + E[i][j] * (ys[i] * ys[j])
    out = sos(total, on, degree=degree, cone=cone, margin=margin, name=name or "matrix")
    return SOSConstraint(out.expr, out.inequalities, out.equalities, out.degree, out.cone, out.margin, out.name,
                         tuple(str(y.variables[0]) for y in ys))

r"""An SOS program and its conic form.

:class:`SOSProgram` holds an objective linear in the unknowns and a list of constraints.
:func:`compile_program` writes it in the standard form of :mod:`sosrelax.conic`: the conic variables are
the unknowns :math:`d`, the cone variables of every Gram matrix and the coefficients of every equality
multiplier; each SOS constraint gives one zero row per monomial (coefficient matching
:math:`\sum_k \langle W_{k,\alpha}, Q_k \rangle + \sum_j (\lambda_j h_j)_\alpha - p_\alpha(d) = 0`), each Gram
block the rows of its cone.  A PSD block's cone variables are its scaled svec; a DD block's are the
nonnegative weights of :math:`e_ie_i^T` and :math:`(e_i \pm e_j)(e_i \pm e_j)^T`, an SDD block's one
3-dimensional second-order cone per pair (the parametrisations of :mod:`sosrelax.relax.gramcone`).

Monomial bases: :math:`\sigma_0` of a plain SOS constraint takes the monomials of degree at most half the
certificate degree, pruned by the Newton polytope's diagonal-consistency rule
(:func:`sosrelax.relax.newton.newton_reduced_basis`); the multiplier of :math:`g_i` takes degree
:math:`\lfloor (D - \deg g_i)/2 \rfloor`, that of :math:`h_j` degree :math:`D - \deg h_j`.  The bases of
:math:`\sigma_0` and the :math:`\sigma_i` are then split into the classes of the sign symmetries of the
constraint (the sign flips that leave every monomial of the expression, of every :math:`g_i` and of every
:math:`h_j` invariant), one Gram block per class: exact, see :mod:`sosrelax.program.symmetry`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp

from sosrelax.conic import Cone, ConeKind, ConicProgram, svec_indices
from sosrelax.errors import InvalidOperationError, InvalidValueError
from sosrelax.poly import Polynomial, monomial_basis
from sosrelax.program.constraints import CoefficientEquality, LinearInequality, SOSConstraint
from sosrelax.program.expr import DecisionBlock, PolyExpr, as_expr
from sosrelax.program.symmetry import sign_symmetries, split_by_symmetry
from sosrelax.relax.chordal import minimum_degree_cliques
from sosrelax.relax.gramcone import gram_from_dual
from sosrelax.relax.newton import newton_reduced_basis

__all__ = ["CompiledProgram", "EqualityBlock", "GramBlock", "SOSProgram", "compile_program"]

AnyConstraint = SOSConstraint | CoefficientEquality | LinearInequality


class SOSProgram:
    """An SOS program: minimise or maximise a linear function of the unknowns subject to SOS constraints.

    Parameters
    ----------
    minimize, maximize : PolyExpr or number, optional
        At most one; an expression that does not depend on the program variables (e.g. an unknown scalar
        ``gamma``, or ``p.coefficient({x: 2})``).  Neither: a feasibility problem.
    constraints : sequence
        :func:`~sosrelax.program.sos`, :func:`~sosrelax.program.sos_matrix` constraints, coefficient
        equalities ``e == q`` and linear inequalities ``t >= c``.

    Raises
    ------
    InvalidValueError
        Both ``minimize`` and ``maximize`` given, or an objective that depends on the program variables.
    InvalidOperationError
        A constraint that is not one of the kinds above.
    """

    def __init__(self, minimize: Any = None, maximize: Any = None,
                 constraints: Sequence[AnyConstraint] = ()) -> None:
        if minimize is not None and maximize is not None:
            raise InvalidValueError("give minimize= or maximize=, not both")
        obj = minimize if minimize is not None else maximize
        self.sense = "minimize" if minimize is not None else "maximize" if maximize is not None else "feasibility"
        self.objective = as_expr(0.0 if obj is None else obj, "the objective")
        if not self.objective.is_constant:
            raise InvalidValueError("the objective must be linear in the unknowns' coefficients and must not depend "
                                    "on the program variables; use p.coefficient(...) to pick coefficients")
        self.constraints: tuple[AnyConstraint, ...] = tuple(constraints)
        for i, c in enumerate(self.constraints):
            if not isinstance(c, (SOSConstraint, CoefficientEquality, LinearInequality)):
                raise InvalidOperationError(
                    f"constraints[{i}] is a {type(c).__name__}; use sr.sos(p), sr.sos(p, on=[...]), "
                    "sr.sos_matrix(M), e == q or t >= c")

    def __repr__(self) -> str:
        kinds = [type(c).__name__ for c in self.constraints]
        return f"SOSProgram({self.sense}, {len(kinds)} constraints: {', '.join(sorted(set(kinds))) or 'none'})"


@dataclass(frozen=True)
class GramBlock:
    """One SOS term :math:`b^T Q b \\cdot g` of SOS constraint ``constraint``.

    ``role`` is ``None`` for :math:`\\sigma_0`, else the inequality's index; ``L`` maps the block's cone
    variables (columns ``offset .. offset + L.shape[1]``) to the upper-triangle entries of :math:`Q` in svec
    order; ``shift`` is the margin added on the diagonal.
    """

    constraint: int
    role: int | None
    basis: np.ndarray
    cone: str
    offset: int
    L: sp.csr_matrix
    shift: float

    def gram(self, x: np.ndarray) -> np.ndarray:
        """The Gram matrix for the conic solution ``x``."""
        k = self.basis.shape[0]
        up = self.L @ x[self.offset:self.offset + self.L.shape[1]]
        r, c = svec_indices(k)
        Q = np.zeros((k, k))
        Q[r, c] = up
        Q[c, r] = up
        return Q + self.shift * np.eye(k)


@dataclass(frozen=True)
class EqualityBlock:
    """The free multiplier :math:`\\lambda_j` (coefficients on ``basis``, columns from ``offset``)."""

    constraint: int
    role: int
    basis: np.ndarray
    offset: int


@dataclass(frozen=True)
class CompiledProgram:
    """An SOS program in conic form, with what is needed to read its solution back."""

    program: SOSProgram
    conic: ConicProgram
    variables: tuple[str, ...]
    blocks: tuple[DecisionBlock, ...]
    grams: tuple[GramBlock, ...]
    multipliers: tuple[EqualityBlock, ...]
    sos: tuple[tuple[int, SOSConstraint, PolyExpr], ...]
    sign: float

    @property
    def ndecisions(self) -> int:
        """Number of scalar unknowns."""
        return sum(b.size for b in self.blocks)

    def sizes(self) -> dict[str, Any]:
        """Sizes for reports: unknowns, Gram orders, conic rows and columns."""
        return {"unknowns": self.ndecisions, "gram_orders": [g.basis.shape[0] for g in self.grams],
                "rows": self.conic.nrows, "columns": self.conic.nvar}


def _cone_parts(cone: str, k: int) -> tuple[sp.csr_matrix, list[Cone]]:
    """``L`` (cone variables → upper entries of Q in svec order) and the cones of the variables."""
    r, c = svec_indices(k)
    if cone == "psd" or k == 1:
        w = np.where(r == c, 1.0, 1.0 / math.sqrt(2.0))
        return sp.diags(w).tocsr(), [Cone(ConeKind.PSD, k) if k > 1 else Cone(ConeKind.NONNEG, 1)]
    P = k * (k - 1) // 2
    nv = k + 2 * P if cone == "dd" else 3 * P
    cols = []
    for t in range(nv):  # gram_from_dual is linear: apply it to unit vectors
        z = np.zeros(nv)
        z[t] = 1.0
        cols.append(gram_from_dual(cone, k, z)[r, c])
    L = sp.csr_matrix(np.array(cols).T)
    cones = [Cone(ConeKind.NONNEG, nv)] if cone == "dd" else [Cone(ConeKind.SOC, 3)] * P
    return L, cones


def _poly_degree(p: Polynomial) -> int:
    return int(p.degree)


def _sos_bases(c: SOSConstraint, e: PolyExpr, names: tuple[str, ...], ineqs: list[Polynomial],
               eqs: list[Polynomial]) -> tuple[list[np.ndarray], list[np.ndarray], list[np.ndarray]]:
    """Monomial bases of σ0 (one per clique), of each σ_i and of each λ_j."""
    n = len(names)
    quad = [names.index(v) for v in c.quadratic_in if v in names]
    free = [j for j in range(n) if j not in quad]
    degs = [e.degree, *(_poly_degree(g) for g in ineqs), *(_poly_degree(h) for h in eqs)]
    if quad:  # degrees count the other variables only
        ex = e.exps
        dx = int(ex[:, free].sum(axis=1).max(initial=0))
        D = c.degree if c.degree is not None else 2 * math.ceil(max([dx, *degs[1:]]) / 2)

        def basis(half: int) -> np.ndarray:
            xs = monomial_basis(len(free), max(half, -1)) if half >= 0 else np.zeros((0, len(free)), np.int64)
            out = np.zeros((len(quad) * xs.shape[0], n), dtype=np.int64)
            for t, q in enumerate(quad):
                out[t * xs.shape[0]:(t + 1) * xs.shape[0], free] = xs
                out[t * xs.shape[0]:(t + 1) * xs.shape[0], q] = 1
            return out

        b0 = basis(D // 2)
        bi = [basis((D - _poly_degree(g)) // 2) for g in ineqs]
        bj = [np.zeros((0, n), np.int64) for _ in eqs]
        if eqs:
            raise InvalidValueError("sos_matrix(..., on=[h == 0]) is not supported; write equalities as two "
                                    "inequalities")
        return [b0 if ineqs else newton_reduced_basis(e.exps, b0)], bi, bj
    D = c.degree if c.degree is not None else 2 * math.ceil(max(max(degs), 0) / 2)
    cliques = _cliques(e, ineqs, eqs, n) if c.sparsity == "correlative" else [tuple(range(n))]
    b0s = [_clique_basis(cl, n, D // 2) for cl in cliques]
    if not ineqs and not eqs and e.exps.shape[0]:
        union = newton_reduced_basis(e.exps, np.unique(np.vstack(b0s), axis=0))
        keys = {tuple(r) for r in union.tolist()}
        b0s = [b[np.array([tuple(r) in keys for r in b.tolist()], dtype=bool)].reshape(-1, n) for b in b0s]
    home = [_home(cliques, g) for g in (*ineqs, *eqs)]
    bi = [_clique_basis(home[t], n, (D - _poly_degree(g)) // 2) for t, g in enumerate(ineqs)]
    if (ineqs or eqs) and _vanishes_at_origin_in_set(e, ineqs, eqs):
        b0s = [b[b.sum(axis=1) > 0] for b in b0s]
        bi = [b[b.sum(axis=1) > 0] if g.constant_term() > 0 else b for b, g in zip(bi, ineqs, strict=True)]
    bj = [_clique_basis(home[len(ineqs) + t], n, D - _poly_degree(h)) for t, h in enumerate(eqs)]
    return b0s, bi, bj


def _clique_basis(clique: tuple[int, ...], n: int, half: int) -> np.ndarray:
    """Monomials of degree at most ``half`` in the variables ``clique`` (as rows over all ``n``)."""
    if half < 0:
        return np.zeros((0, n), np.int64)
    local = monomial_basis(len(clique), half)
    out = np.zeros((local.shape[0], n), dtype=np.int64)
    out[:, list(clique)] = local
    return out


def _cliques(e: PolyExpr, ineqs: list[Polynomial], eqs: list[Polynomial], n: int) -> list[tuple[int, ...]]:
    """Maximal cliques of a chordal extension of the correlative sparsity graph: variables are adjacent when
    they occur in one monomial of ``e`` or in one constraint."""
    supports = [np.flatnonzero(r) for r in e.exps]
    supports += [np.flatnonzero(np.asarray(p.exps).sum(axis=0)) for p in (*ineqs, *eqs)]
    edges = [(int(a), int(b)) for sup in supports for i, a in enumerate(sup) for b in sup[i + 1:]]
    cliques, _ = minimum_degree_cliques(n, np.array(edges, dtype=np.int64).reshape(-1, 2))
    return cliques


def _home(cliques: list[tuple[int, ...]], p: Polynomial) -> tuple[int, ...]:
    """The first clique holding every variable of ``p`` (one exists: ``p``'s variables are a clique)."""
    used = set(np.flatnonzero(np.asarray(p.exps).sum(axis=0)).tolist())
    return next(cl for cl in cliques if used <= set(cl))


def _vanishes_at_origin_in_set(e: PolyExpr, ineqs: list[Polynomial], eqs: list[Polynomial]) -> bool:
    """Whether ``e`` has no constant term whatever the unknowns and the origin lies in the set
    (``g_i(0) >= 0``, ``h_j(0) = 0``): then :math:`0 = \\sigma_0(0) + \\sum_i \\sigma_i(0) g_i(0)` with every
    term nonnegative forces :math:`\\sigma_0(0) = 0` and :math:`\\sigma_i(0) = 0` where :math:`g_i(0) > 0`, so
    the constant monomial's Gram rows of those are zero in every solution and dropping it from their bases
    loses nothing (a rational facial reduction that exact rounding needs)."""
    if e.exps.shape[0] and np.any(e.exps.sum(axis=1) == 0):
        return False
    return all(g.constant_term() >= 0 for g in ineqs) and all(h.constant_term() == 0 for h in eqs)


def _gram_terms(basis: np.ndarray, g_exps: np.ndarray, g_coefs: np.ndarray
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Triplets (monomial rows, upper-entry index, weight) of :math:`g \\cdot b^T Q b`."""
    k = basis.shape[0]
    r, c = svec_indices(k)
    w = np.where(r == c, 1.0, 2.0)
    E = basis[r] + basis[c]
    mons = (E[None, :, :] + g_exps[:, None, :]).reshape(-1, basis.shape[1])
    ent = np.tile(np.arange(r.size), g_exps.shape[0])
    val = (g_coefs[:, None] * w[None, :]).reshape(-1)
    return mons, ent, val


class _Rows:
    """Accumulates conic rows block by block (A in COO pieces, b, cones)."""

    def __init__(self) -> None:
        self.rows: list[np.ndarray] = []
        self.cols: list[np.ndarray] = []
        self.vals: list[np.ndarray] = []
        self.b: list[np.ndarray] = []
        self.cones: list[Cone] = []
        self.n = 0

    def add(self, r: np.ndarray, c: np.ndarray, v: np.ndarray, b: np.ndarray, cones: list[Cone]) -> None:
        """Rows ``A[r, c] = v`` (``r`` local to the new rows, one per entry of ``b``) in ``cones``."""
        self.rows.append(np.asarray(r, dtype=np.int64) + self.n)
        self.cols.append(np.asarray(c, dtype=np.int64))
        self.vals.append(np.asarray(v, dtype=float))
        self.b.append(np.asarray(b, dtype=float))
        self.cones += cones
        self.n += len(b)

    def matrix(self, ncols: int) -> tuple[sp.csc_matrix, np.ndarray]:
        if not self.rows:
            return sp.csc_matrix((0, ncols)), np.zeros(0)
        A = sp.csc_matrix((np.concatenate(self.vals), (np.concatenate(self.rows), np.concatenate(self.cols))),
                          shape=(self.n, ncols))
        return A, np.concatenate(self.b)


def _matching_rows(pieces: list[tuple[np.ndarray, np.ndarray, np.ndarray]], const: tuple[np.ndarray, np.ndarray]
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Zero rows ``Σ linear pieces = const`` grouped by monomial (exps, cols, vals) and (exps, values)."""
    allE = np.vstack([p[0] for p in pieces] + [const[0]])
    uniq, inv = np.unique(allE, axis=0, return_inverse=True)
    inv = inv.reshape(-1)
    sizes = [p[0].shape[0] for p in pieces]
    split = np.cumsum(sizes)
    rows = inv[:split[-1]] if sizes else inv[:0]
    cols = np.concatenate([p[1] for p in pieces]) if pieces else np.zeros(0, np.int64)
    vals = np.concatenate([p[2] for p in pieces]) if pieces else np.zeros(0)
    b = np.zeros(uniq.shape[0])
    np.add.at(b, inv[split[-1] if sizes else 0:], const[1])
    return rows, cols, vals, b


def compile_program(program: SOSProgram) -> CompiledProgram:
    """The conic form of ``program`` (see the module docstring)."""
    exprs = [program.objective] + [c.expr for c in program.constraints]
    names: tuple[str, ...] = ()
    blocks: list[DecisionBlock] = []
    for e in exprs:
        names = names + tuple(v for v in e.variables if v not in names)
        blocks += [b for b in e.blocks if all(b is not a for a in blocks)]
    sos_list: list[tuple[int, SOSConstraint, PolyExpr]] = []
    for c in program.constraints:
        if isinstance(c, SOSConstraint):
            for g in (*c.inequalities, *c.equalities):
                names = names + tuple(v for v in g.variables if v not in names)
    D = sum(b.size for b in blocks)
    col = 1 + D  # conic columns after the unknowns: -1 for the constant column of expressions
    rows = _Rows()
    grams: list[GramBlock] = []
    mults: list[EqualityBlock] = []
    gram_cones: list[tuple[int, int, list[Cone]]] = []
    for i, c in enumerate(program.constraints):
        e = c.expr.aligned(names).with_blocks(blocks)
        C = e.coef.tocoo()
        if isinstance(c, CoefficientEquality):
            lin = C.col > 0
            rows.add(C.row[lin], C.col[lin] - 1, C.data[lin], -e.coef[:, 0].toarray().ravel(),
                     [Cone(ConeKind.ZERO, C.shape[0])])
            continue
        if isinstance(c, LinearInequality):
            lin = C.col > 0
            rows.add(C.row[lin], C.col[lin] - 1, -C.data[lin], e.coef[:, 0].toarray().ravel(),
                     [Cone(ConeKind.NONNEG, C.shape[0])])
            continue
        ineqs = [g.with_variables(names) for g in c.inequalities]
        eqs = [h.with_variables(names) for h in c.equalities]
        b0s, bi, bj = _sos_bases(c, e, names, ineqs, eqs)
        sym = (np.zeros((0, len(names)), np.int64) if c.quadratic_in else
               sign_symmetries([e.exps, *(g.exps for g in ineqs), *(h.exps for h in eqs)], len(names)))
        sos_list.append((i, c, e))
        lin = C.col > 0
        pieces = [(e.exps[C.row[lin]], C.col[lin] - 1, -C.data[lin])]
        const_e = [e.exps[C.row[~lin]]]
        const_v = [C.data[~lin]]
        one = (np.zeros((1, len(names)), np.int64), np.ones(1))
        for role, basis, (ge, gc) in [(None, part, one) for b in b0s for part in split_by_symmetry(b, sym)] + [
                (t, part, (g.exps, g.coefs)) for t, g in enumerate(ineqs) for part in split_by_symmetry(bi[t], sym)]:
            if basis.shape[0] == 0:
                continue
            k = basis.shape[0]
            L, cones = _cone_parts(c.cone, k)
            shift = c.margin if role is None else 0.0
            mons, ent, val = _gram_terms(basis, np.asarray(ge), np.asarray(gc, float))
            W = sp.csr_matrix((val, (np.arange(val.size), ent)), shape=(val.size, L.shape[0])) @ L
            Wc = W.tocoo()
            pieces.append((mons[Wc.row], Wc.col + col - 1, Wc.data))
            if shift:
                dmons, _, dval = _gram_terms(basis, ge, gc)
                r_, c_ = svec_indices(k)
                diag = np.tile(r_ == c_, len(gc))
                const_e.append(dmons[diag])
                const_v.append(-shift * dval[diag])  # moves to the right-hand side with a minus sign below
            grams.append(GramBlock(i, role, basis, c.cone, col - 1, L, shift))
            gram_cones.append((col - 1, L.shape[1], cones))
            col += L.shape[1]
        for t, h in enumerate(eqs):
            basis = bj[t]
            if basis.shape[0] == 0:
                continue
            m = basis.shape[0]
            mons = (basis[:, None, :] + h.exps[None, :, :]).reshape(-1, len(names))
            cols = np.repeat(np.arange(m), h.nterms) + col - 1
            pieces.append((mons, cols, np.tile(h.coefs, m)))
            mults.append(EqualityBlock(i, t, basis, col - 1))
            col += m
        # Σ pieces(x) = p_const - margin terms
        mr, mc, mv, b = _matching_rows(pieces, (np.vstack(const_e), np.concatenate(const_v)))
        rows.add(mr, mc, mv, b, [Cone(ConeKind.ZERO, len(b))])
    ncols = col - 1
    for off, nv, cones in gram_cones:  # -v + s = 0, s in the cone
        rows.add(np.arange(nv), off + np.arange(nv), -np.ones(nv), np.zeros(nv), cones)
    A, b = rows.matrix(ncols)
    sign = -1.0 if program.sense == "maximize" else 1.0
    obj = program.objective.with_blocks(blocks)
    oc = np.asarray(obj.coef.sum(axis=0)).ravel() if obj.coef.shape[0] else np.zeros(1 + D)
    cost = np.zeros(ncols)
    cost[:D] = sign * oc[1:]
    prog = ConicProgram(c=cost, A=A, b=b, cones=tuple(rows.cones), offset=sign * float(oc[0]))
    return CompiledProgram(program, prog, names, tuple(blocks), tuple(grams), tuple(mults), tuple(sos_list), sign)

"""Sparsity: correlative sparsity (variable cliques), term sparsity (block-diagonal Gram matrices) and
chordal decomposition of the moment and localizing matrices.

**Correlative sparsity** (Waki, Kim, Kojima, Muramatsu, *SIAM J. Optim.* 17 (2006) 218–242).  The
correlative sparsity pattern (csp) graph has the variables as nodes and an edge between two variables that
appear together in a term of the objective or in the same constraint.  A chordal extension of it (here:
greedy minimum-degree elimination, which adds the fill edges of the elimination) has maximal cliques
``I_1, …, I_p`` that, in reverse elimination order, satisfy the *running intersection property*
``I_k ∩ (I_1 ∪ … ∪ I_{k-1}) ⊆ I_j`` for some ``j < k``.  The sparse relaxation uses one moment matrix per
clique, assigns each constraint to a clique containing its variables, and indexes the moment vector by
the union of the cliques' monomials.  Its SOS side is
``f − γ = Σ_k σ_{0,k}(x_{I_k}) + Σ_i σ_i(x_{I(i)}) g_i + Σ_j λ_j h_j``; under the running intersection
property and a ball constraint per clique it converges to the optimum (Lasserre 2006), and it equals the
dense relaxation whenever the optimal SOS decomposition respects the cliques (e.g. chained problems).

**Term sparsity** (Wang, Magron, Lasserre, *TSSOS*, SIAM J. Optim. 31 (2021) 30–58).  For a block with
basis ``b`` and multiplier ``g`` (``g = 1`` for a moment matrix) the term graph has an edge ``(β, γ)`` when
``supp(g) + β + γ`` meets the support set ``A = supp(f) ∪ ⋃ supp(g_i) ∪ 2b``.  Its connected components
(``mode="block"``) or the maximal cliques of its chordal extension (``mode="chordal"``, a chordal
decomposition of the matrix) become the Gram blocks; the support is then extended by every entry of every
block and the graph rebuilt (``steps`` iterations).  Each step is a relaxation of the next, so the bounds
increase with ``steps``; all are valid.

:class:`SparsityReport` states what came out (TSSOS style): clique sizes, Gram block sizes, fill edges.

The pieces live in their own modules and are re-exported here: the chordal extension by minimum-degree
elimination in :mod:`sosrelax.relax.chordal` (done directly, because clique enumeration in networkx is
quadratic on long chains), the term-sparsity block splitting in :mod:`sosrelax.relax.termsparsity` and the
report in :mod:`sosrelax.relax.sparsityreport`.  This module finds the cliques and builds the relaxation.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import numpy as np

from sosrelax.errors import InvalidValueError
from sosrelax.problem import Problem
from sosrelax.relax.chordal import minimum_degree_cliques
from sosrelax.relax.moment import MomentRelaxation, build_system_relaxation
from sosrelax.relax.sparsityreport import SparsityReport
from sosrelax.relax.system import PolynomialSystem
from sosrelax.relax.termsparsity import term_sparse_blocks

__all__ = [
    "SPARSITY",
    "SparsityReport",
    "build_sparse_relaxation",
    "correlative_cliques",
    "csp_edges",
    "minimum_degree_cliques",
    "sparsity_pays",
    "term_sparse_blocks",
]

#: The sparsity options of :func:`build_sparse_relaxation` (``None`` / ``"none"``: dense).
SPARSITY = ("correlative", "term", "correlative+term")


# --------------------------------------------------------------------------------------------
# correlative sparsity


def csp_edges(system: PolynomialSystem) -> np.ndarray:
    """Edges ``(u, v)``, ``u < v``, of the correlative sparsity pattern graph (unique rows)."""
    n = system.n
    parts: list[np.ndarray] = []
    idx = system.objective.indices
    D = idx.shape[1]
    for a in range(D):
        for b in range(a + 1, D):
            u, v = idx[:, a], idx[:, b]
            keep = (v < n) & (u != v)
            parts.append(np.column_stack([u[keep], v[keep]]))
    for p in (*system.inequalities, *system.equalities):
        s = p.support
        if s.size > 1:
            iu, ju = np.triu_indices(s.size, 1)
            parts.append(np.column_stack([s[iu], s[ju]]))
    if not parts:
        return np.zeros((0, 2), dtype=np.int64)
    e = np.concatenate(parts).astype(np.int64)
    if e.shape[0] == 0:
        return e.reshape(0, 2)
    keys = np.unique(e[:, 0] * n + e[:, 1])
    return np.column_stack([keys // n, keys % n])


def correlative_cliques(problem: Problem | PolynomialSystem) -> tuple[list[tuple[int, ...]], int]:
    """Cliques of the correlative sparsity pattern (chordal extension by minimum-degree elimination).

    Returns the cliques (variable indices, sorted; running intersection order) and the number of fill
    edges of the chordal extension.
    """
    system = PolynomialSystem.from_problem(problem) if isinstance(problem, Problem) else problem
    return minimum_degree_cliques(system.n, csp_edges(system))


def sparsity_pays(problem: Problem, ratio: float = 0.5) -> bool:
    """True when the csp graph's largest clique is much smaller than ``n`` (at most ``ratio · n``, n >= 4)."""
    n = len(problem.variables)
    if n < 4:
        return False
    cliques, _ = correlative_cliques(problem)
    return max((len(c) for c in cliques), default=0) <= ratio * n


# --------------------------------------------------------------------------------------------
# entry point


def build_sparse_relaxation(
    problem: Problem | PolynomialSystem,
    level: int | None = None,
    cone: str = "psd",
    sparsity: str | None = "correlative",
    *,
    term_steps: int = 1,
    term_mode: str = "block",
    cliques: Sequence[Sequence[int]] | None = None,
) -> MomentRelaxation:
    """Build a sparse moment relaxation and attach a :class:`SparsityReport`.

    Parameters
    ----------
    problem : Problem or PolynomialSystem
    level : int, optional
        Relaxation order; default the smallest admissible.
    cone : {"psd", "dd", "sdd"}
        Gram cone (SOS, DSOS, SDSOS).
    sparsity : {"correlative", "term", "correlative+term"} or None
        ``None`` / ``"none"`` builds the dense relaxation (with a report of its blocks).
    term_steps, term_mode
        Term-sparsity iterations and block mode (``"block"`` or ``"chordal"``).
    cliques : optional
        Use these variable cliques instead of computing them.

    Returns
    -------
    MomentRelaxation
        A relaxation of the dense one at the same level: its bound is valid and never better.
    """
    kind = "none" if sparsity is None else str(sparsity)
    if kind not in ("none", *SPARSITY):
        raise InvalidValueError(
            f"unknown sparsity {sparsity!r}; choose None, {', '.join(repr(s) for s in SPARSITY)}"
        )
    system = PolynomialSystem.from_problem(problem) if isinstance(problem, Problem) else problem
    level = system.minimum_level() if level is None else level
    fill = 0
    use: Any = None
    if "correlative" in kind:
        if cliques is None:
            found, fill = minimum_degree_cliques(system.n, csp_edges(system))
            use = found
        else:
            use = [tuple(int(v) for v in c) for c in cliques]
    steps = term_steps if "term" in kind else 0
    relax = build_system_relaxation(system, level, cone, use, term_steps=steps, term_mode=term_mode)
    report = SparsityReport(
        kind=kind,
        n_variables=system.n,
        cliques=tuple(tuple(c) for c in (use if use is not None else [tuple(range(system.n))])),
        fill_edges=fill,
        block_orders=tuple(blk.order for blk in relax.gram_blocks),
        term_steps=steps,
    )
    return replace(relax, sparsity=report)

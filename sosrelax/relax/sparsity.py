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

networkx is used for the term graphs' chordal extensions (small graphs); the csp graph's elimination is
done here directly because clique enumeration in networkx is quadratic on long chains.
"""

from __future__ import annotations

import heapq
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components

from sosrelax.conic import svec_indices
from sosrelax.errors import InvalidValueError
from sosrelax.problem import Problem

if TYPE_CHECKING:
    from sosrelax.relax.moment import MomentRelaxation, PolynomialSystem, _BlockSpec, _Keys

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


@dataclass(frozen=True)
class SparsityReport:
    """What a sparsity option produced.

    Attributes
    ----------
    kind : str
        ``"correlative"``, ``"term"``, ``"correlative+term"``.
    n_variables : int
    cliques : tuple of tuple of int
        Variable cliques (one clique of all variables without correlative sparsity), in running
        intersection order.
    fill_edges : int
        Edges the chordal extension added to the csp graph.
    block_orders : tuple of int
        Order of every Gram block of the relaxation.
    term_steps : int
        Term-sparsity iterations (0: none).
    dense_orders : tuple of int
        Orders of the dense relaxation's blocks (moment matrix first), for comparison.
    """

    kind: str
    n_variables: int
    cliques: tuple[tuple[int, ...], ...]
    fill_edges: int
    block_orders: tuple[int, ...]
    term_steps: int = 0
    dense_orders: tuple[int, ...] = ()

    @property
    def max_clique(self) -> int:
        return max((len(c) for c in self.cliques), default=0)

    def clique_sizes(self) -> dict[int, int]:
        """``{size: number of cliques}``."""
        return dict(sorted(Counter(len(c) for c in self.cliques).items(), reverse=True))

    def block_sizes(self) -> dict[int, int]:
        """``{Gram block order: number of blocks}``."""
        return dict(sorted(Counter(self.block_orders).items(), reverse=True))

    def __str__(self) -> str:
        def hist(d: dict[int, int]) -> str:
            return ", ".join(f"{k} x {v}" for k, v in d.items())

        lines = [f"sparsity: {self.kind} (n = {self.n_variables})"]
        lines.append(
            f"  cliques: {len(self.cliques)}, largest {self.max_clique}; sizes [{hist(self.clique_sizes())}]; "
            f"chordal extension added {self.fill_edges} edges"
        )
        if self.term_steps:
            lines.append(f"  term sparsity: {self.term_steps} support-extension step(s)")
        lines.append(f"  Gram blocks: {len(self.block_orders)}; orders [{hist(self.block_sizes())}]")
        if self.dense_orders:
            lines.append(f"  dense relaxation: orders [{hist(dict(Counter(self.dense_orders)))}]")
        return "\n".join(lines)


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


def minimum_degree_cliques(n: int, edges: np.ndarray) -> tuple[list[tuple[int, ...]], int]:
    """Maximal cliques of the chordal extension given by greedy minimum-degree elimination.

    Eliminating a vertex ``v`` joins its remaining neighbours pairwise (fill edges); ``{v} ∪ N(v)`` is then a
    clique of the extension.  It is maximal unless a vertex ``w`` whose first eliminated higher neighbour is
    ``v`` had exactly one more higher neighbour than ``v`` (then ``{v} ∪ N(v) ⊂ {w} ∪ N(w)``).  The maximal
    cliques listed in reverse elimination order satisfy the running intersection property.

    Returns
    -------
    cliques : list of sorted tuples
    fill : int
        Number of fill edges added.
    """
    adj: list[set[int]] = [set() for _ in range(n)]
    for u, v in np.asarray(edges, dtype=np.int64).tolist():
        if u != v:
            adj[u].add(v)
            adj[v].add(u)
    heap = [(len(adj[v]), v) for v in range(n)]
    heapq.heapify(heap)
    done = bytearray(n)
    pos = [0] * n
    higher: list[frozenset[int]] = [frozenset()] * n
    order: list[int] = []
    fill = 0
    while heap:
        d, v = heapq.heappop(heap)
        if done[v] or d != len(adj[v]):
            continue
        nb = list(adj[v])
        for i, a in enumerate(nb):
            aa = adj[a]
            for b in nb[i + 1:]:
                if b not in aa:
                    aa.add(b)
                    adj[b].add(a)
                    fill += 1
        for a in nb:
            adj[a].discard(v)
            heapq.heappush(heap, (len(adj[a]), a))
        higher[v] = frozenset(nb)
        pos[v] = len(order)
        order.append(v)
        done[v] = 1
    maximal = bytearray(b"\x01") * n
    for w in order:
        hw = higher[w]
        if hw:
            p = min(hw, key=pos.__getitem__)
            if len(hw) == len(higher[p]) + 1:
                maximal[p] = 0
    cliques = [tuple(sorted({v, *higher[v]})) for v in reversed(order) if maximal[v]]
    return cliques, fill


def correlative_cliques(problem: Problem | PolynomialSystem) -> tuple[list[tuple[int, ...]], int]:
    """Cliques of the correlative sparsity pattern (chordal extension by minimum-degree elimination).

    Returns the cliques (variable indices, sorted; running intersection order) and the number of fill
    edges of the chordal extension.
    """
    from sosrelax.relax.moment import PolynomialSystem

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
# term sparsity


def _components(k: int, ii: np.ndarray, jj: np.ndarray, mode: str) -> list[np.ndarray]:
    """Blocks of the term graph on ``k`` nodes with edges ``(ii, jj)``."""
    if mode == "block":
        g = sp.coo_matrix((np.ones(ii.size), (ii, jj)), shape=(k, k))
        m, lab = connected_components(g, directed=False)
        order = np.argsort(lab, kind="stable")
        cuts = np.flatnonzero(np.diff(lab[order])) + 1
        return [np.sort(b) for b in np.split(order, cuts)]
    if mode == "chordal":
        edges = np.column_stack([ii, jj])
        cliques, _ = minimum_degree_cliques(k, edges[ii != jj])
        return [np.array(c, dtype=np.int64) for c in cliques]
    raise InvalidValueError(f"term sparsity mode {mode!r} is not 'block' or 'chordal'")


def term_sparse_blocks(
    specs: list[_BlockSpec],
    system: PolynomialSystem,
    keyf: _Keys,
    width: int,
    *,
    steps: int = 1,
    mode: str = "block",
) -> list[_BlockSpec]:
    """Split every Gram block into term-sparsity blocks (see the module docstring)."""
    from sosrelax.relax.moment import _BlockSpec, _widen

    n = system.n
    support = [keyf(_widen(system.objective.indices, width, n))]
    support += [keyf(_widen(p.indices, width, n)) for p in system.inequalities]
    for spec in specs:
        if spec.constraint is None:
            k = spec.basis.shape[0]
            r, c = svec_indices(k)
            diag = np.flatnonzero(r == c)
            support.append(spec.query_keys[np.isin(spec.entry_rows, diag)])
    A = np.unique(np.concatenate(support))
    blocks: list[list[np.ndarray]] = []
    for _ in range(max(1, steps)):
        blocks = []
        new_support = [A]
        for spec in specs:
            k = spec.basis.shape[0]
            r, c = svec_indices(k)
            E = r.size
            hit = np.isin(spec.query_keys, A)
            active = np.bincount(spec.entry_rows[hit], minlength=E) > 0
            active[r == c] = True
            comps = _components(k, r[active], c[active], mode)
            blocks.append(comps)
            lab = np.full((k, k), -1, dtype=np.int64)
            for bi, comp in enumerate(comps):
                lab[np.ix_(comp, comp)] = bi
            inside = lab[r, c] >= 0
            new_support.append(spec.query_keys[inside[spec.entry_rows]])
        A = np.unique(np.concatenate(new_support))
    out: list[_BlockSpec] = []
    for spec, comps in zip(specs, blocks, strict=True):
        k = spec.basis.shape[0]
        r, c = svec_indices(k)
        ent = np.full((k, k), -1, dtype=np.int64)
        ent[r, c] = np.arange(r.size)
        starts = np.searchsorted(spec.entry_rows, np.arange(r.size))
        ends = np.searchsorted(spec.entry_rows, np.arange(r.size), side="right")
        for comp in comps:
            kk = comp.size
            rr, cc = svec_indices(kk)
            e = ent[comp[rr], comp[cc]]
            cnt = ends[e] - starts[e]
            q = np.repeat(starts[e], cnt) + (np.arange(cnt.sum()) - np.repeat(np.cumsum(cnt) - cnt, cnt))
            out.append(_BlockSpec(spec.constraint, spec.clique, spec.support, spec.basis[comp],
                                  np.repeat(np.arange(rr.size), cnt), spec.query_keys[q], spec.query_vals[q]))
    return out


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
    from sosrelax.relax.moment import PolynomialSystem, build_system_relaxation

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

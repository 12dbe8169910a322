"""Chordal extensions of sparsity graphs and the vertex blocks they induce.

Both kinds of sparsity reduce to a graph: the correlative sparsity pattern graph on the variables and the
term graph on the monomials of one Gram block.  A chordal extension (here: greedy minimum-degree
elimination, which adds the fill edges of the elimination) has maximal cliques that satisfy the running
intersection property; they become the variable cliques or the Gram blocks of a sparse relaxation
(:mod:`sosrelax.relax.sparsity`).
"""

from __future__ import annotations

import heapq

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components

from sosrelax.errors import InvalidValueError

__all__ = ["graph_blocks", "minimum_degree_cliques"]


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


def graph_blocks(k: int, ii: np.ndarray, jj: np.ndarray, mode: str) -> list[np.ndarray]:
    """Vertex blocks of the graph on ``k`` nodes with edges ``(ii, jj)``.

    ``mode="block"``: the connected components (a partition); ``mode="chordal"``: the maximal cliques of the
    chordal extension by minimum-degree elimination (:func:`minimum_degree_cliques`), which cover every
    edge.  Each block is a sorted array of vertex indices.
    """
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

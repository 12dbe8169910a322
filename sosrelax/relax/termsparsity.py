"""Term sparsity: block-diagonal Gram matrices (Wang, Magron, Lasserre, *TSSOS*, SIAM J. Optim. 31 (2021)).

For a block with basis ``b`` and multiplier ``g`` (``g = 1`` for a moment matrix) the term graph has an edge
``(β, γ)`` when ``supp(g) + β + γ`` meets the support set ``A = supp(f) ∪ ⋃ supp(g_i) ∪ 2b``.  Its connected
components (``mode="block"``) or the maximal cliques of its chordal extension (``mode="chordal"``, a chordal
decomposition of the matrix) become the Gram blocks; the support is then extended by every entry of every
block and the graph rebuilt (``steps`` iterations).  Each step is a relaxation of the next, so the bounds
increase with ``steps``; all are valid.  The moment builder (:mod:`sosrelax.relax.moment`) applies it to
its block specifications before numbering rows.
"""

from __future__ import annotations

import numpy as np

from sosrelax.conic import svec_indices
from sosrelax.relax.chordal import graph_blocks
from sosrelax.relax.keys import MonomialKeys, widen
from sosrelax.relax.system import GramBlockSpec, PolynomialSystem

__all__ = ["term_sparse_blocks"]


def term_sparse_blocks(
    specs: list[GramBlockSpec],
    system: PolynomialSystem,
    keyf: MonomialKeys,
    width: int,
    *,
    steps: int = 1,
    mode: str = "block",
) -> list[GramBlockSpec]:
    """Split every Gram block into term-sparsity blocks (see the module docstring).

    Parameters
    ----------
    specs : list of GramBlockSpec
        The blocks of the relaxation before term sparsity.
    system : PolynomialSystem
        The problem; its objective and inequalities make the initial support.
    keyf : MonomialKeys
        The relaxation's monomial keys, of width ``width``.
    steps : int
        Support-extension iterations (at least one graph is built).
    mode : {"block", "chordal"}
        Connected components or chordal-extension cliques of each term graph (:func:`graph_blocks`).

    Returns
    -------
    list of GramBlockSpec
        Blocks on subsets of each input block's basis, with the queries of their entries.
    """
    n = system.n
    support = [keyf(widen(system.objective.indices, width, n))]
    support += [keyf(widen(p.indices, width, n)) for p in system.inequalities]
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
            comps = graph_blocks(k, r[active], c[active], mode)
            blocks.append(comps)
            lab = np.full((k, k), -1, dtype=np.int64)
            for bi, comp in enumerate(comps):
                lab[np.ix_(comp, comp)] = bi
            inside = lab[r, c] >= 0
            new_support.append(spec.query_keys[inside[spec.entry_rows]])
        A = np.unique(np.concatenate(new_support))
    out: list[GramBlockSpec] = []
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
            out.append(GramBlockSpec(spec.constraint, spec.clique, spec.support, spec.basis[comp],
                                  np.repeat(np.arange(rr.size), cnt), spec.query_keys[q], spec.query_vals[q]))
    return out

"""What a sparsity option made of a relaxation: cliques, fill edges and Gram block orders (TSSOS style).

Built by :func:`sosrelax.relax.sparsity.build_sparse_relaxation` and attached to the relaxation
(:attr:`sosrelax.relax.moment.MomentRelaxation.sparsity`).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

__all__ = ["SparsityReport"]


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
        """Size of the largest clique."""
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

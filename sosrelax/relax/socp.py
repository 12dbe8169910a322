"""The second-order-cone rung: SDSOS (Ahmadi–Majumdar 2019).

SDSOS is the Putinar construction with *scaled diagonally dominant* Gram matrices — sums of PSD matrices
supported on 2×2 principal blocks.  On the moment side every 2×2 principal submatrix of every moment and
localizing matrix must be PSD, i.e. ``(M_ii + M_jj, M_ii − M_jj, 2 M_ij)`` lies in the 3-dimensional
second-order cone (the rotated cone ``M_ii M_jj >= M_ij², M_ii, M_jj >= 0``).  The construction lives in
:mod:`sosrelax.relax.moment` (``cone="sdd"``); this module names the rung.  ``DD ⊂ SDD ⊂ PSD`` orders the
bounds ``DSOS <= SDSOS <= SOS`` at the same level (minimisation).
"""

from __future__ import annotations

from collections.abc import Sequence

from sosrelax.problem import Problem
from sosrelax.relax.moment import MomentRelaxation, build_moment_relaxation

__all__ = ["build_sdsos_relaxation"]


def build_sdsos_relaxation(problem: Problem, level: int | None = None,
                           cliques: Sequence[Sequence[int]] | None = None) -> MomentRelaxation:
    """The SDSOS relaxation: the moment relaxation with scaled diagonally dominant Gram matrices (an SOCP)."""
    return build_moment_relaxation(problem, level, cone="sdd", cliques=cliques)

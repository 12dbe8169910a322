"""The schedule of rungs: cheap and loose first, expensive and tight last.

``auto_schedule`` climbs ``LP (Sherali–Adams) → DSOS (LP) → SDSOS (SOCP) → SDP (Shor, quadratic problems only)
→ SOS levels``, each rung sparse where the problem is (correlative sparsity when the largest clique of the
correlative sparsity graph is at most half of the variables).  At the same level each rung's bound is at most
the next one's (``DD ⊂ SDD ⊂ PSD``), so a claim settled by a cheap rung never waits for an expensive one.
The LP rung is skipped when the problem has no inequalities (Sherali–Adams products need some).
"""

from __future__ import annotations

from dataclasses import dataclass

from sosrelax.problem import Problem
from sosrelax.relax.moment import minimum_level
from sosrelax.relax.sparsity import sparsity_pays

__all__ = ["Rung", "auto_schedule"]


@dataclass(frozen=True)
class Rung:
    """One relaxation to try: ``relaxation`` (a name :func:`sosrelax.solve` accepts), ``level`` (``None``:
    the rung has none) and ``sparsity`` (``None``: dense)."""

    relaxation: str
    level: int | None
    sparsity: str | None = None

    @property
    def name(self) -> str:
        base = self.relaxation if self.level is None else f"{self.relaxation}-{self.level}"
        return base if self.sparsity is None else f"{base}/{self.sparsity}"


def auto_schedule(problem: Problem, max_level: int = 6) -> list[Rung]:
    """``LP → DSOS → SDSOS → SDP → SOS d0..max_level`` for ``problem`` (see the module docstring)."""
    d0 = minimum_level(problem)
    sparse = "correlative" if sparsity_pays(problem) else None
    rungs: list[Rung] = []
    if problem.inequalities:
        rungs.append(Rung("lp", d0))
    rungs += [Rung("dsos", d0, sparse), Rung("sdsos", d0, sparse)]
    degs = [problem.objective.degree, *(g.degree for g in problem.inequalities)]
    degs += [h.degree for h in problem.equalities]
    if max(degs) <= 2:
        rungs.append(Rung("sdp", None, sparse))
        rungs += [Rung("sos", d, sparse) for d in range(2, max(2, max_level) + 1)]
    else:
        rungs += [Rung("sos", d, sparse) for d in range(d0, max(d0, max_level) + 1)]
    return rungs

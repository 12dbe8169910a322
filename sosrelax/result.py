"""The result of :func:`sosrelax.solve`.

"The solver says" and "the checker proved" are different things: :attr:`SolveResult.solver_bound` is the
backend's number, :attr:`SolveResult.bound` is the bound the independent checker proved from the certificate
(``None`` when nothing was proved).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from sosrelax.adversary.pseudo import PseudoDistribution
    from sosrelax.certificate.check import CheckReport
    from sosrelax.certificate.format import Certificate
    from sosrelax.problem import Problem

__all__ = ["SolveResult", "Status"]

#: The stages of ``info["time"]`` the repr shows.
_STAGES = ("build", "solve", "certificate", "check", "total")


class Status(StrEnum):
    """How a relaxation ended.

    * ``OPTIMAL`` — solved; see :attr:`SolveResult.bound` for what was proven.
    * ``INFEASIBLE`` — the relaxation (hence the problem) has no feasible point.
    * ``NO_BOUND`` — the relaxation gives no bound at this level: it is unbounded (e.g. ``f − γ`` is never a
      sum of squares, as for the Motzkin polynomial, whose minimum is 0).  A higher level may give one.
    * ``UNBOUNDED`` — the problem itself is unbounded (the objective goes to ``∓∞`` along a ray of the
      unconstrained space), so no relaxation can give a bound.
    * ``INACCURATE`` — the backend stopped without a trustworthy answer.
    * ``ERROR`` — the backend failed.
    * ``TIME_LIMIT`` — the time limit was hit before a bound was proven (by the backend, or in the
      certificate step: see ``SolveResult.info["time_limit_cut"]``).
    """

    OPTIMAL = "optimal"
    INFEASIBLE = "infeasible"
    NO_BOUND = "no_bound"
    UNBOUNDED = "unbounded"
    INACCURATE = "inaccurate"
    ERROR = "error"
    TIME_LIMIT = "time_limit"


@dataclass(frozen=True)
class SolveResult:
    """Outcome of one relaxation.

    Attributes
    ----------
    status : Status
        See :class:`Status`.
    bound : float or None
        A bound on the problem's optimum proven by the independent checker: a lower bound for a
        minimisation, an upper bound for a maximisation.  ``None`` when no certificate was verified.
    solver_bound : float or None
        The relaxation's optimal value as reported by the backend (not proven).
    certificate : Certificate or None
        The exact certificate that was checked (``None`` if extraction failed or was not requested).
    check : CheckReport or None
        The checker's report on :attr:`certificate`.
    pseudo : PseudoDistribution or None
        The moment vector of the relaxation (a pseudodistribution over feasible points).
    info : dict
        Sizes, timings in seconds (``info["time"]``: ``build``, ``solve``, ``certificate`` — also under its old
        name ``certify`` — and within it ``rounding``, ``check`` (the independent checker) and ``resolves``;
        ``minimisers``, ``total``), backend name, its own status and residuals; ``time_limit_cut``: what the
        time limit skipped or cut short (absent when nothing).
    message : str
        A human sentence explaining the outcome.
    """

    status: Status
    bound: float | None
    solver_bound: float | None
    certificate: Certificate | None
    check: CheckReport | None
    pseudo: PseudoDistribution | None
    info: dict[str, Any] = field(default_factory=dict)
    message: str = ""
    problem: Problem | None = field(default=None, repr=False, compare=False)

    @property
    def success(self) -> bool:
        """True when a bound was proven by the checker."""
        return self.bound is not None

    @property
    def certified(self) -> bool:
        """True when the checker verified the certificate (of a bound or of infeasibility)."""
        return self.check is not None and bool(self.check.valid)

    def minimizers(self, tol: float = 1e-6) -> np.ndarray:
        """Global optimisers read off the moments, polished on the real problem.

        Atoms are extracted from the pseudodistribution (Henrion–Lasserre; only when the moment
        matrices are flat), refined by local optimisation, and kept only if they are feasible
        (violation ``<= tol``) and their objective is within ``1e-6·(1 + |bound|)`` of the proven
        bound — so that every returned point is a global optimiser up to that tolerance.  Returns an
        array of shape ``(k, n)`` (``k = 0`` when none is found).
        """
        from sosrelax.adversary.search import refine

        n = 0 if self.problem is None else len(self.problem.variables)
        empty = np.zeros((0, n))
        if self.pseudo is None or self.problem is None or self.bound is None:
            return empty
        atoms = self.pseudo.atoms()
        if not atoms.found:
            return empty
        pts = refine(self.problem, atoms.points)
        names = self.problem.variables
        f = self.problem.objective
        keep = []
        for p in pts:
            point = dict(zip(names, p, strict=True))
            value = float(f.evaluate(p[None, :], names)[0])
            if self.problem.violation(point) <= tol and abs(value - self.bound) <= 1e-6 * (
                1 + abs(self.bound)
            ):
                keep.append(p)
        return np.array(keep) if keep else empty

    def __repr__(self) -> str:
        lines = [
            f"SolveResult(status={self.status.value!r}, bound={self.bound!r}, "
            f"solver_bound={self.solver_bound!r}, certified={self.certified})",
            f"  message: {self.message}",
        ]
        t = self.info.get("time", {})
        shown = {k: v for k, v in t.items() if k in _STAGES}
        if shown:
            lines.append("  time: " + ", ".join(f"{k} {v:.3g}s" for k, v in shown.items()))
        return "\n".join(lines)

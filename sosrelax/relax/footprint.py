"""Size of a dense moment–SOS relaxation, computed from the problem alone, before anything is built.

For ``n`` variables and level ``d`` the relaxation has ``N = C(n + 2d, n)`` moments, a moment matrix of
order ``s_0 = C(n + d, n)``, one localizing matrix of order ``C(n + d - ⌈deg g/2⌉, n)`` per inequality
``g >= 0`` and one free multiplier with ``C(n + 2d - deg h, n)`` coefficients per equality ``h = 0``.
Its memory is dominated by

- the constraint matrix: every entry of a Gram matrix (``s(s+1)/2`` per block of order ``s``) meets every
  term of its polynomial, a few bytes per nonzero;
- with an interior-point solver (Clarabel, MOSEK, …) and PSD Gram matrices: the Nesterov–Todd scaling of a
  PSD block of order ``s`` is a dense ``s(s+1)/2 × s(s+1)/2`` matrix of doubles.  A dense 20-variable
  quartic at level 3 has ``s_0 = 1771``: 19.7 TB for that block alone.

:func:`estimate` returns these counts and a *lower* estimate of the bytes; :func:`check_fits` refuses, with
:class:`~sosrelax.errors.SizeLimitError`, a relaxation whose estimate exceeds the memory limit (by default
:data:`DEFAULT_MEMORY_FRACTION` of the machine's physical memory).  Being a lower estimate, it only refuses
what certainly cannot be solved.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass

from sosrelax.errors import SizeLimitError
from sosrelax.problem import Problem

__all__ = ["DEFAULT_MEMORY_FRACTION", "Footprint", "check_fits", "default_memory_limit", "estimate"]

#: Share of the physical memory a relaxation may take by default.
DEFAULT_MEMORY_FRACTION = 0.5

#: Solvers without dense per-cone scaling matrices (first-order methods).
_FIRST_ORDER = ("scs", "firstorder")

#: Bytes per nonzero of the constraint matrix (value, row index, one working copy).
_BYTES_PER_NONZERO = 32


@dataclass(frozen=True)
class Footprint:
    """Counts of a dense relaxation and the lower estimate of its memory.

    Attributes
    ----------
    level : int
        The relaxation order ``d`` the counts are for.
    moments : int
        ``N = C(n + 2d, n)``, the moments (columns of the moment side).
    psd_orders : tuple of int
        Orders of the Gram blocks: the moment matrix first, then one per inequality.
    gram_entries : int
        ``Σ s(s+1)/2`` over the blocks.
    nonzeros : int
        Nonzeros of the constraint matrix (Gram entries times terms, plus the equality multipliers).
    bytes : float
        Lower estimate of the memory needed to build and solve it.
    """

    level: int
    moments: int
    psd_orders: tuple[int, ...]
    gram_entries: int
    nonzeros: int
    bytes: float


def _half_ceil(k: int) -> int:
    return (k + 1) // 2


def estimate(problem: Problem, level: int | None, cone: str = "psd", solver: str = "clarabel") -> Footprint:
    """Counts and memory of the dense level-``level`` relaxation of ``problem`` (see the module docstring).

    ``level=None`` (or a level below the smallest admissible one) is taken as the smallest admissible
    level ``max(1, ⌈deg/2⌉)``.  ``cone`` is the Gram cone (``"psd"``, ``"dd"``, ``"sdd"``): the dense
    scaling blocks are counted only for ``"psd"`` with a solver that is not first-order.
    """
    n = len(problem.variables)
    degs = [problem.objective.degree, *(g.degree for g in problem.inequalities),
            *(h.degree for h in problem.equalities)]
    dmin = max(1, max(_half_ceil(int(dg)) for dg in degs))
    d = max(dmin, int(level)) if level is not None else dmin
    moments = math.comb(n + 2 * d, n)
    orders = [math.comb(n + d, n)]
    terms = [1]
    for g in problem.inequalities:
        orders.append(math.comb(n + d - _half_ceil(int(g.degree)), n))
        terms.append(max(1, g.nterms))
    gram = sum(s * (s + 1) // 2 for s in orders)
    nonzeros = sum(t * s * (s + 1) // 2 for t, s in zip(terms, orders, strict=True))
    for h in problem.equalities:
        nonzeros += max(1, h.nterms) * math.comb(n + 2 * d - int(h.degree), n)
    total = float(_BYTES_PER_NONZERO * nonzeros + 8 * moments * max(n, 1))
    name = solver.lower()
    first_order = name in _FIRST_ORDER or name.endswith(":scs")
    if cone == "psd" and not first_order:
        total += 8.0 * sum(float(s * (s + 1) // 2) ** 2 for s in orders)
    return Footprint(d, moments, tuple(orders), gram, nonzeros, total)


def default_memory_limit() -> float:
    """:data:`DEFAULT_MEMORY_FRACTION` of the physical memory (``os.sysconf``), or ``inf`` where the
    platform does not report it."""
    try:
        pages = os.sysconf("SC_PHYS_PAGES")
        page = os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):  # pragma: no cover - non-POSIX platforms
        return math.inf
    if pages <= 0 or page <= 0:  # pragma: no cover
        return math.inf
    return DEFAULT_MEMORY_FRACTION * float(pages) * float(page)


def _human(b: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB", "PB"):
        if b < 1000 or unit == "PB":
            return f"{b:.3g} {unit}"
        b /= 1000
    return f"{b:.3g} PB"  # pragma: no cover


def check_fits(problem: Problem, level: int | None, cone: str, solver: str,
               memory_limit: float | None = None) -> Footprint:
    """:func:`estimate`, refused with :class:`SizeLimitError` above ``memory_limit`` bytes.

    ``memory_limit=None``: :func:`default_memory_limit`; ``math.inf``: no limit.
    """
    fp = estimate(problem, level, cone, solver)
    limit = default_memory_limit() if memory_limit is None else float(memory_limit)
    if fp.bytes > limit:
        raise SizeLimitError(
            f"the dense level-{fp.level} relaxation is too large for this machine: {fp.moments} moments, "
            f"a moment matrix of order {fp.psd_orders[0]}, about {_human(fp.bytes)} needed with solver "
            f"{solver!r} (limit {_human(limit)}); use sparsity='correlative' (or 'term'), a lower level, "
            "a first-order solver (solver='scs' or 'firstorder'), or raise memory_limit"
        )
    return fp

"""Solver backends for :class:`~sosrelax.conic.ConicProgram`, behind one function.

>>> from sosrelax.solvers import solve_conic, available_solvers
>>> sol = solve_conic(prog, "clarabel")          # doctest: +SKIP

Backends (one small module each, importing its solver lazily):

``"clarabel"``
    Interior point, the embedded default (tolerance 1e-8; answers rechecked at 1e-6).
``"scs"``
    First-order splitting (eps 1e-6 unless ``tolerance`` is given; rechecked at 10 × eps).
``"mosek"``
    Interior point; only when ``mosek`` imports and a licence is found.
``"firstorder"``
    Our own restarted PDHG / SOS-side ADMM on numpy or cupy (``options={"device": "gpu"}``);
    tolerance 1e-6, rechecked at 10 × (see :mod:`sosrelax.solvers.firstorder`).
``"cvxpy:NAME"``
    Pass-through: the program is rebuilt in cvxpy and solved by cvxpy's solver ``NAME``.

Every answer is rechecked against the data (see :mod:`sosrelax.solvers._validate`): a claim of
optimality, infeasibility or unboundedness that fails the recheck comes back as INACCURATE,
with a message naming the failed check.  Mathematical outcomes are statuses, never exceptions.
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any

from sosrelax.conic import ConicProgram, ConicSolution
from sosrelax.errors import BackendNotAvailableError

__all__ = ["available_solvers", "solve_conic"]

_NATIVE = ("clarabel", "scs", "mosek", "firstorder")


def _module(name: str) -> ModuleType:
    # backends are imported on demand; none of them imports its solver at module level
    return importlib.import_module(f"sosrelax.solvers.{name}")


def available_solvers() -> tuple[str, ...]:
    """Names accepted by :func:`solve_conic` that are installed and usable here.

    Native backends first (``"clarabel"``, ``"scs"``, ``"mosek"`` — the last only with a
    licence), then ``"cvxpy:NAME"`` for every conic solver cvxpy has installed.
    """
    names = [n for n in _NATIVE if _module(n).is_available()]
    from sosrelax.solvers import cvxpy as cvx

    names.extend(f"cvxpy:{s}" for s in cvx.installed_conic_solvers())
    return tuple(names)


def solve_conic(
    prog: ConicProgram,
    solver: str = "clarabel",
    *,
    time_limit: float | None = None,
    tolerance: float | None = None,
    verbose: bool = False,
    options: dict[str, Any] | None = None,
) -> ConicSolution:
    """Solve ``prog`` with the named backend and recheck the answer.

    Parameters
    ----------
    prog : ConicProgram
    solver : str
        ``"clarabel"`` (default), ``"scs"``, ``"mosek"`` or ``"cvxpy:NAME"``
        (see :func:`available_solvers`).
    time_limit : float, optional
        Seconds, passed to the solver.
    tolerance : float, optional
        The solver's feasibility and gap tolerance; our recheck tolerance scales with it.
    verbose : bool
        Let the solver print its log.
    options : dict, optional
        Backend-specific settings passed verbatim (they override the ones above).

    Returns
    -------
    ConicSolution
        Never raises on a mathematical outcome or a crash inside the solver; see its
        ``status`` and ``message``.

    Raises
    ------
    BackendNotAvailableError
        Unknown solver name, a backend that is not installed or not licensed, or one that
        cannot handle the program's cones; the message lists the available solvers.
    """
    name = solver.strip()
    key = name.lower()
    if key in _NATIVE:
        mod = _module(key)
    elif key.startswith("cvxpy:"):
        mod = _module("cvxpy")
    else:
        raise BackendNotAvailableError(
            f"unknown solver {solver!r}; available here: {', '.join(available_solvers())}"
        )
    if not mod.is_available():
        raise BackendNotAvailableError(
            f"solver {solver!r} cannot be used: {mod.unavailable_reason()}; "
            f"available here: {', '.join(available_solvers())}"
        )
    kwargs: dict[str, Any] = {
        "time_limit": time_limit,
        "tolerance": tolerance,
        "verbose": verbose,
        "options": options,
    }
    if mod.__name__.endswith(".cvxpy"):
        result: ConicSolution = mod.solve(prog, name.split(":", 1)[1], **kwargs)
        return result
    unsupported = {k.kind for k in prog.cones if k.size} - mod.SUPPORTED_CONES
    if unsupported:
        raise BackendNotAvailableError(
            f"solver {name!r} does not support {', '.join(sorted(k.value for k in unsupported))} "
            f"cones; available here: {', '.join(available_solvers())}"
        )
    result = mod.solve(prog, **kwargs)
    return result

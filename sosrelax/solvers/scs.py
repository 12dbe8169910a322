"""SCS backend (first-order, operator splitting; moderate accuracy, large problems).

SCS solves the same standard form as ours, with two differences that the conversion absorbs:

* cones must come in the order zero, nonnegative, second-order, PSD — rows are permuted into
  that order and ``s`` and ``z`` permuted back;
* a PSD cone is vectorised as the *lower* triangle stacked column by column (equivalently the
  upper triangle row by row) with the same √2 scaling — only a permutation of rows inside
  each block, no rescaling.
"""

from __future__ import annotations

import math
import time
from typing import Any

import numpy as np
import scipy.sparse as sp

from sosrelax.conic import ConeKind, ConicProgram, ConicSolution, SolverStatus
from sosrelax.solvers._validate import checked_solution, error_solution

NAME = "scs"
SUPPORTED_CONES = frozenset({ConeKind.ZERO, ConeKind.NONNEG, ConeKind.SOC, ConeKind.PSD})
PSD_VECTORISATION = "lower triangle, column-major, off-diagonal × √2 (rows permuted)"
DEFAULT_TOLERANCE = 1e-6
DEFAULT_MAX_ITERS = 100_000
#: our recheck tolerance is this factor times eps (1e-5 at the default 1e-6, 1e-3 at 1e-4)
CHECK_FACTOR = 10.0


def is_available() -> bool:
    """True when the ``scs`` package imports."""
    try:
        import scs  # noqa: F401
    except ImportError:
        return False
    return True


def unavailable_reason() -> str:
    return "the scs package is not installed; install it with `pip install scs`"


def scs_psd_permutation(n: int) -> np.ndarray:
    """``perm`` with ``svec_scs(X) = svec(X)[perm]`` for an ``n × n`` block.

    SCS lists the lower triangle column by column, i.e. the pairs ``(i, j)``, ``i ≤ j``, of the
    upper triangle row by row; our svec position of ``(i, j)`` is ``j (j + 1) / 2 + i``.
    """
    i, j = np.triu_indices(n)
    return (j * (j + 1) // 2 + i).astype(np.intp)


def row_order(prog: ConicProgram) -> tuple[np.ndarray, dict[str, Any]]:
    """The row permutation into SCS's cone order and SCS's cone dictionary.

    Row ``k`` of SCS's ``A`` is row ``order[k]`` of ``prog.A``.
    """
    groups: dict[ConeKind, list[np.ndarray]] = {k: [] for k in ConeKind}
    soc: list[int] = []
    psd: list[int] = []
    for k, sl in zip(prog.cones, prog.cone_slices(), strict=True):
        if k.size == 0:
            continue
        if k.kind is ConeKind.PSD:
            groups[k.kind].append(sl.start + scs_psd_permutation(k.dim))
            psd.append(k.dim)
        else:
            groups[k.kind].append(np.arange(sl.start, sl.stop))
            if k.kind is ConeKind.SOC:
                soc.append(k.dim)
    parts = [np.concatenate(groups[k]) for k in ConeKind if groups[k]]
    order = np.concatenate(parts).astype(np.intp) if parts else np.zeros(0, dtype=np.intp)
    cone: dict[str, Any] = {}
    nz = sum(k.dim for k in prog.cones if k.kind is ConeKind.ZERO)
    nl = sum(k.dim for k in prog.cones if k.kind is ConeKind.NONNEG)
    if nz:
        cone["z"] = nz
    if nl:
        cone["l"] = nl
    if soc:
        cone["q"] = soc
    if psd:
        cone["s"] = psd
    return order, cone


def _unpermute(v: Any, order: np.ndarray, m: int) -> np.ndarray | None:
    if v is None:
        return None
    arr = np.asarray(v, dtype=np.float64)
    if arr.size != m:
        return None
    out = np.empty(m)
    out[order] = arr
    return out


def solve(
    prog: ConicProgram,
    *,
    time_limit: float | None = None,
    tolerance: float | None = None,
    verbose: bool = False,
    options: dict[str, Any] | None = None,
) -> ConicSolution:
    """Solve ``prog`` with SCS; see :func:`sosrelax.solvers.solve_conic`.

    ``tolerance`` sets ``eps_abs`` and ``eps_rel`` (default 1e-6); ``max_iters`` defaults to
    100 000; ``options`` are passed to ``scs.SCS`` verbatim and override these.
    """
    import scs

    eps = DEFAULT_TOLERANCE if tolerance is None else float(tolerance)
    settings: dict[str, Any] = {
        "eps_abs": eps,
        "eps_rel": eps,
        "max_iters": DEFAULT_MAX_ITERS,
        "verbose": bool(verbose),
    }
    if time_limit is not None:
        settings["time_limit_secs"] = float(time_limit)
    settings.update(options or {})
    eps = float(min(settings["eps_abs"], settings["eps_rel"]) if tolerance is None else eps)
    m = prog.nrows
    t0 = time.perf_counter()
    try:
        order, cone = row_order(prog)
        A = sp.csc_matrix(prog.A[order]) if m else sp.csc_matrix((0, prog.nvar))
        data = {"A": A, "b": prog.b[order], "c": prog.c}
        solver = scs.SCS(data, cone, **settings)
    except Exception as e:  # noqa: BLE001 - a crash in the solver is an outcome, not our error
        return error_solution(prog, NAME, e, setup_time=time.perf_counter() - t0)
    setup = time.perf_counter() - t0
    t1 = time.perf_counter()
    try:
        out = solver.solve()
    except Exception as e:  # noqa: BLE001
        return error_solution(prog, NAME, e, setup_time=setup, solve_time=time.perf_counter() - t1)
    wall = time.perf_counter() - t1
    info = out["info"]
    code = int(info["status_val"])
    raw = str(info["status"])
    iters = int(info["iter"])
    near: SolverStatus | None = None
    if code == 1:
        claimed = SolverStatus.OPTIMAL
    elif code == -2:
        claimed = SolverStatus.INFEASIBLE
    elif code == -1:
        claimed = SolverStatus.UNBOUNDED
    elif code in (-4, -5):
        claimed = SolverStatus.ERROR
    elif time_limit is not None and wall >= float(time_limit) * 0.99:
        claimed = SolverStatus.TIME_LIMIT
    elif iters >= int(settings["max_iters"]):
        claimed = SolverStatus.ITERATION_LIMIT
    else:
        claimed = SolverStatus.INACCURATE
        near = {-7: SolverStatus.INFEASIBLE, -6: SolverStatus.UNBOUNDED}.get(code)
    solve_ms = float(info.get("solve_time", math.nan))
    return checked_solution(
        prog,
        claimed=claimed,
        x=out.get("x"),
        s=_unpermute(out.get("s"), order, m),
        z=_unpermute(out.get("y"), order, m),
        solver=NAME,
        solver_status=raw,
        iterations=iters,
        solve_time=solve_ms / 1000.0 if math.isfinite(solve_ms) else wall,
        setup_time=setup,
        tol=CHECK_FACTOR * eps,
        near=near,
    )

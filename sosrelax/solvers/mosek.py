"""MOSEK backend (interior point; commercial, free academic licences).

Used only when ``import mosek`` works *and* a licence is found.  The program is passed through
the task API as affine conic constraints ``F x + g ∈ D`` with ``F = −A``, ``g = b`` (so the
affine expression is our slack ``s``); MOSEK's dual ``ẏ`` of those constraints satisfies
``c − Fᵀẏ = 0``, i.e. ``Aᵀẏ + c = 0``, so it is our ``z``.  MOSEK's svec PSD domain is the lower
triangle column by column with √2 scaling — the same row permutation as SCS, no rescaling.
"""

from __future__ import annotations

import functools
import math
import time
from typing import Any

import numpy as np

from sosrelax.conic import ConeKind, ConicProgram, ConicSolution, SolverStatus
from sosrelax.solvers._validate import checked_solution, error_solution
from sosrelax.solvers.scs import scs_psd_permutation

NAME = "mosek"
SUPPORTED_CONES = frozenset({ConeKind.ZERO, ConeKind.NONNEG, ConeKind.SOC, ConeKind.PSD})
PSD_VECTORISATION = "lower triangle, column-major, off-diagonal × √2 (rows permuted)"
DEFAULT_TOLERANCE = 1e-8
CHECK_FACTOR = 100.0

_HOW_TO = (
    "MOSEK needs a licence: academic licences are free at "
    "https://www.mosek.com/products/academic-licenses/; "
    "put the licence file at ~/mosek/mosek.lic or set MOSEKLM_LICENSE_FILE to its path "
    "(and `pip install mosek` if it is not installed)"
)


@functools.lru_cache(maxsize=1)
def _licence_problem() -> str | None:
    """``None`` when MOSEK imports and a licence can be checked out, else the reason."""
    try:
        import mosek
    except ImportError:
        return "the mosek package is not installed"
    try:
        with mosek.Env() as env:
            env.checkoutlicense(mosek.feature.pts)
            env.checkinlicense(mosek.feature.pts)
    except Exception as e:  # noqa: BLE001 - any failure here means "not usable"
        return f"no MOSEK licence was found ({type(e).__name__}: {e})"
    return None


def is_available() -> bool:
    """True when MOSEK imports and a licence is found (checked once per process)."""
    return _licence_problem() is None


def unavailable_reason() -> str:
    return f"{_licence_problem() or 'MOSEK is available'}; {_HOW_TO}"


def _row_order(prog: ConicProgram) -> np.ndarray:
    parts = []
    for k, sl in zip(prog.cones, prog.cone_slices(), strict=True):
        if k.kind is ConeKind.PSD:
            parts.append(sl.start + scs_psd_permutation(k.dim))
        else:
            parts.append(np.arange(sl.start, sl.stop))
    return np.concatenate(parts).astype(np.intp) if parts else np.zeros(0, dtype=np.intp)


def solve(
    prog: ConicProgram,
    *,
    time_limit: float | None = None,
    tolerance: float | None = None,
    verbose: bool = False,
    options: dict[str, Any] | None = None,
) -> ConicSolution:
    """Solve ``prog`` with MOSEK; see :func:`sosrelax.solvers.solve_conic`.

    ``tolerance`` sets ``intpnt_co_tol_pfeas``, ``intpnt_co_tol_dfeas`` and
    ``intpnt_co_tol_rel_gap``; ``options`` maps MOSEK parameter names (``"MSK_DPAR_…"`` or
    ``"intpnt_co_tol_mu_red"``-style) to values, set with ``Task.putparam``.
    """
    import mosek

    tol = DEFAULT_TOLERANCE if tolerance is None else float(tolerance)
    m, n = prog.nrows, prog.nvar
    order = _row_order(prog)
    t0 = time.perf_counter()
    try:
        task = mosek.Task()
    except Exception as e:  # noqa: BLE001
        return error_solution(prog, NAME, e)
    with task:
        try:
            if verbose:
                task.set_Stream(mosek.streamtype.log, lambda msg: print(msg, end=""))
            task.appendvars(n)
            task.putvarboundsliceconst(0, n, mosek.boundkey.fr, -math.inf, math.inf)
            task.putcslice(0, n, prog.c.tolist())
            task.putcfix(prog.offset)
            task.putobjsense(mosek.objsense.minimize)
            F = (-prog.A[order]).tocoo()
            task.appendafes(m)
            task.putafefentrylist(F.row.tolist(), F.col.tolist(), F.data.tolist())
            task.putafegslice(0, m, prog.b[order].tolist())
            start = 0
            for k in prog.cones:
                if k.size == 0:
                    continue
                if k.kind is ConeKind.ZERO:
                    dom = task.appendrzerodomain(k.size)
                elif k.kind is ConeKind.NONNEG:
                    dom = task.appendrplusdomain(k.size)
                elif k.kind is ConeKind.SOC:
                    dom = task.appendquadraticconedomain(k.size)
                else:
                    dom = task.appendsvecpsdconedomain(k.size)
                task.appendaccseq(dom, k.size, start, None)
                start += k.size
            if time_limit is not None:
                task.putdouparam(mosek.dparam.optimizer_max_time, float(time_limit))
            if tolerance is not None:
                task.putdouparam(mosek.dparam.intpnt_co_tol_pfeas, tol)
                task.putdouparam(mosek.dparam.intpnt_co_tol_dfeas, tol)
                task.putdouparam(mosek.dparam.intpnt_co_tol_rel_gap, tol)
            for key, value in (options or {}).items():
                task.putparam(str(key), str(value))
        except Exception as e:  # noqa: BLE001
            return error_solution(prog, NAME, e, setup_time=time.perf_counter() - t0)
        setup = time.perf_counter() - t0
        t1 = time.perf_counter()
        try:
            trm = task.optimize()
            soltype = mosek.soltype.itr
            solsta = task.getsolsta(soltype)
            x = np.asarray(task.getxx(soltype), dtype=np.float64)
            doty = np.asarray(task.getaccdotys(soltype), dtype=np.float64)
            iters = int(task.getintinf(mosek.iinfitem.intpnt_iter))
            solve_time = float(task.getdouinf(mosek.dinfitem.optimizer_time))
        except Exception as e:  # noqa: BLE001
            return error_solution(
                prog, NAME, e, setup_time=setup, solve_time=time.perf_counter() - t1
            )
    z = np.empty(m)
    z[order] = doty
    s = prog.b - prog.A @ x
    if solsta == mosek.solsta.optimal:
        claimed = SolverStatus.OPTIMAL
    elif solsta == mosek.solsta.prim_infeas_cer:
        claimed = SolverStatus.INFEASIBLE
    elif solsta == mosek.solsta.dual_infeas_cer:
        claimed = SolverStatus.UNBOUNDED
        s = -(prog.A @ x)
    elif trm == mosek.rescode.trm_max_iterations:
        claimed = SolverStatus.ITERATION_LIMIT
    elif trm == mosek.rescode.trm_max_time:
        claimed = SolverStatus.TIME_LIMIT
    else:
        claimed = SolverStatus.INACCURATE
    return checked_solution(
        prog,
        claimed=claimed,
        x=x,
        s=s,
        z=z,
        solver=NAME,
        solver_status=f"{solsta} ({trm})",
        iterations=iters,
        solve_time=solve_time,
        setup_time=setup,
        tol=CHECK_FACTOR * tol,
    )

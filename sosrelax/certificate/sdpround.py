r"""From a solver's floating-point SDPA dual to an exact certificate (untrusted: the checker decides).

A solver returns :math:`Y` with :math:`F_i \bullet Y \approx c_i` and :math:`Y \succeq 0` up to
its tolerance.  Turning it into a proof takes two steps.

Rounding and projection
    Round every entry of :math:`Y` to a multiple of :math:`2^{-k}` (about 40 significant bits),
    then project exactly (Frobenius norm) onto the affine space :math:`\{F_i \bullet Y = c_i\}`:

    .. math::

        Y' = Y - \sum_j w_j F_j, \qquad G w = (F_i \bullet Y - c_i)_i, \qquad
        G_{ij} = F_i \bullet F_j,

    with :math:`G w = r` solved in exact rational arithmetic (``flint.fmpq_mat``; a diagonal
    :math:`G` is divided out directly).  Afterwards :math:`F_i \bullet Y' = c_i` holds exactly,
    and the change :math:`\|Y' - Y\|_F = \|r\|_{G^{-1}}` is of the size of the solver's dual
    residual.

Interior re-solve
    Optimal duals are usually singular (complementarity: :math:`XY = 0`), so that change can
    push an eigenvalue below zero.  Then we solve, with the same solver, for a dual with a margin
    at a slightly lower level :math:`\gamma - \delta`:

    .. math::

        \max_{Y, t}\ t \ \text{ s.t. } F_i \bullet Y = c_i,\ F_0 \bullet Y \ge \gamma - \delta,
        \ Y \succeq t I,\ t \le 1,

    written as an SDPA problem in :math:`Y' = Y - tI \succeq 0` (:func:`interior_problem`), so
    that the solver sees the same structure as the original.  Its :math:`Y` has smallest
    eigenvalue about :math:`t`, which survives rounding and projection; the bound is then about
    :math:`\gamma - \delta`.  :math:`\gamma` is the solver's own (untrusted) dual objective; when
    it is wrong (a solver that claims "solved" on a wrong answer) the level is infeasible and no
    bound comes out — never a wrong one, since every candidate goes through the checker.

Nothing here is trusted: :func:`prove_bound` returns only what
:func:`sosrelax.certificate.sdpcheck.check_sdp_certificate` verified.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from enum import Enum
from fractions import Fraction
from typing import Any

import flint
import numpy as np

from sosrelax.certificate.format import RationalMatrix, float_toward
from sosrelax.certificate.sdp import SDPCertificate
from sosrelax.certificate.sdpcheck import (
    SDPCheckReport,
    check_sdp_certificate,
    exact_inner_products,
)
from sosrelax.conic import ConicSolution, SolverStatus, smat
from sosrelax.sdpa import SDPAProblem, sdpa_to_conic
from sosrelax.solvers import solve_conic

__all__ = [
    "DEFAULT_BACKOFFS",
    "SDPBoundResult",
    "SDPBoundStatus",
    "certificate_from_dual",
    "dual_blocks",
    "interior_problem",
    "project_dual",
    "prove_bound",
    "prove_sdpa_bound",
    "round_dual",
]

DEFAULT_BACKOFFS = (1e-7, 1e-5)
"""Relative levels :math:`\\delta / (1 + |\\gamma|)` of the interior re-solve, in order."""

ROUND_BITS = 40
"""Significant bits kept when rounding the solver's :math:`Y` (relative to its largest entry)."""

MAX_GRAM_PAIRS = 20_000_000
"""Largest number of entry pairs :math:`\\sum_{pos} k_{pos}^2` for building :math:`G` exactly."""


# ----------------------------------------------------------------------------------------------
# the prover's result


class SDPBoundStatus(Enum):
    """Outcome of :func:`prove_sdpa_bound`."""

    PROVEN = "proven"
    """The checker verified a certificate: ``bound`` is a lower bound on (P)'s optimum."""
    NO_BOUND = "no_bound"
    """No certificate passed the checker; ``message`` says why.  Nothing is claimed."""


@dataclass(frozen=True)
class SDPBoundResult:
    """A proven lower bound on the optimum of SDPA's (P), or the reason there is none.

    Attributes
    ----------
    status : SDPBoundStatus
    bound : Fraction or None
        The bound the checker proved, :math:`F_0 \\bullet Y \\le \\min (P)` (exact); ``None``
        unless ``status`` is ``PROVEN``.  In SDPLIB's table convention this is a lower bound on
        the published "optimal objective value".
    certificate : SDPCertificate or None
        The verified certificate (``None`` when no bound was proven).
    report : SDPCheckReport or None
        The checker's report on the last certificate tried.
    solver : str
        Backend used for the solves.
    solver_status : str
        sosrelax's verdict on the first solve (after its residual recheck), e.g. ``"optimal"``.
    solver_objective : float
        The first solve's dual objective :math:`F_0 \\bullet Y` as the solver reported it
        (untrusted; NaN without a dual point).
    method : str
        ``"projection"`` (the solver's :math:`Y`, rounded and projected), ``"interior"`` (an
        interior dual at a backed-off level) or ``"none"``.
    backoff : float
        The level :math:`\\delta` given up by the interior re-solve (0 for ``"projection"``).
    solve_time, certify_time : float
        Seconds in the first solve; seconds in everything after it (rounding, projection,
        re-solves, checking).
    check_time : float
        Seconds in the checker alone (part of ``certify_time``).
    message : str
        What happened, in words.
    """

    status: SDPBoundStatus
    bound: Fraction | None
    certificate: SDPCertificate | None
    report: SDPCheckReport | None
    solver: str
    solver_status: str
    solver_objective: float
    method: str
    backoff: float
    solve_time: float
    certify_time: float
    check_time: float
    message: str

    @property
    def success(self) -> bool:
        """``status is SDPBoundStatus.PROVEN``."""
        return self.status is SDPBoundStatus.PROVEN

    @property
    def bound_float(self) -> float | None:
        """The proven bound rounded down to a float (still a valid lower bound), or ``None``."""
        return None if self.bound is None else float_toward(self.bound, down=True)

    def __repr__(self) -> str:
        b = "None" if self.bound is None else f"{float(self.bound):.12g}"
        return (
            f"SDPBoundResult(status={self.status.value}, bound={b}, method={self.method!r}, "
            f"solver={self.solver!r}, solver_status={self.solver_status!r}, "
            f"message={self.message!r})"
        )


def dual_blocks(problem: SDPAProblem, sol: ConicSolution) -> list[np.ndarray] | None:
    """The solver's :math:`Y` block by block (``n x n`` arrays; diagonal blocks as vectors).

    ``sol`` must come from ``sdpa_to_conic(problem)``; ``None`` without a finite dual point.
    """
    z = sol.z
    if z is None or not np.all(np.isfinite(z)):
        return None
    out: list[np.ndarray] = []
    start = 0
    for b in problem.blocks:
        size = b * (b + 1) // 2 if b > 0 else -b
        piece = np.asarray(z[start : start + size], dtype=np.float64)
        out.append(smat(piece) if b > 0 else piece.copy())
        start += size
    return out


def round_dual(blocks: list[np.ndarray], bits: int = ROUND_BITS) -> list[RationalMatrix]:
    """Symmetrise and round every entry to a multiple of :math:`2^{-k}`, one ``k`` for all blocks.

    ``k`` keeps about ``bits`` significant bits of the largest entry.  Diagonal blocks come back
    as ``1 x d`` matrices.
    """
    top = max((float(np.abs(y).max(initial=0.0)) for y in blocks), default=0.0)
    e = math.frexp(top)[1] if top > 0 else 0
    k = bits - e
    out = []
    for y in blocks:
        a = (y + y.T) / 2 if y.ndim == 2 else y.reshape(1, -1)
        scaled = np.ldexp(a, k) if k >= 0 else np.ldexp(a, k)
        q = np.round(scaled)
        if k >= 0:
            out.append(RationalMatrix(q.astype(np.int64), 2**k))
        else:
            out.append(RationalMatrix(q.astype(np.int64).astype(object) * 2 ** (-k), 1))
    return out


def _exact_data(problem: SDPAProblem) -> tuple[tuple[Fraction, ...], tuple[Fraction, ...]]:
    c = tuple(Fraction(v) for v in problem.c.tolist())
    val = tuple(Fraction(v) for v in problem.value.tolist())
    return c, val


def certificate_from_dual(
    problem: SDPAProblem,
    dual: list[RationalMatrix],
    *,
    bound: Fraction | None = None,
    metadata: dict[str, str] | None = None,
    exact: tuple[tuple[Fraction, ...], tuple[Fraction, ...]] | None = None,
) -> SDPCertificate:
    """Package ``problem`` (exact binary64 values) and ``dual`` as a certificate.

    The claimed ``bound`` defaults to the exact :math:`F_0 \\bullet Y` of ``dual``.
    """
    c, val = exact if exact is not None else _exact_data(problem)
    cert = SDPCertificate(
        blocks=problem.blocks,
        c=c,
        mat=problem.mat,
        block=problem.block,
        row=problem.row,
        col=problem.col,
        value=val,
        dual=tuple(dual),
        bound=Fraction(0),
        metadata=metadata or {},
    )
    if bound is None:
        bound = exact_inner_products(cert)[0]
    return _with_bound(cert, bound)


def _with_bound(cert: SDPCertificate, bound: Fraction) -> SDPCertificate:
    # the dataclass is frozen; rebuild without re-validating the heavy parts twice is not worth it
    return SDPCertificate(
        blocks=cert.blocks,
        c=cert.c,
        mat=cert.mat,
        block=cert.block,
        row=cert.row,
        col=cert.col,
        value=cert.value,
        dual=cert.dual,
        bound=bound,
        metadata=cert.metadata,
    )


def _gram_system(cert: SDPCertificate) -> tuple[dict[tuple[int, int], int], int] | str:
    """:math:`G_{ij} = F_i \\bullet F_j` (``i, j >= 1``) as integers over ``den``; or why not.

    Built from the pairs of matrices sharing an entry position, vectorised per position group.
    """
    sel = cert.mat > 0
    if not sel.any():
        return {}, 1
    fr = tuple(v for v, s in zip(cert.value, sel.tolist(), strict=True) if s)
    den = 1
    for d in {f.denominator for f in fr}:
        den = math.lcm(den, d)
    fnum = np.array([f.numerator * (den // f.denominator) for f in fr], dtype=object)
    mat = cert.mat[sel] - 1
    blk, r, cc = cert.block[sel], cert.row[sel], cert.col[sel]
    order = np.lexsort((mat, cc, r, blk))
    key = np.stack([blk[order], r[order], cc[order]], axis=1)
    new = np.ones(order.size, dtype=bool)
    new[1:] = np.any(key[1:] != key[:-1], axis=1)
    gid = np.cumsum(new) - 1
    sizes = np.bincount(gid)
    if int((sizes.astype(np.int64) ** 2).sum()) > MAX_GRAM_PAIRS:
        return (
            f"building F_i • F_j exactly needs {int((sizes.astype(np.int64) ** 2).sum())} entry "
            f"pairs, over the limit {MAX_GRAM_PAIRS}"
        )
    full = np.asarray(cert.blocks, dtype=np.int64)[blk[order]] > 0
    weight = np.where(full & (r[order] != cc[order]), 2, 1)
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    # all pairs (a, b) of entries in the same position group
    rep = np.repeat(sizes, sizes)  # per entry: its group's size
    a_idx = np.repeat(np.arange(order.size), rep)
    offs = np.arange(a_idx.size) - np.repeat(np.cumsum(rep) - rep, rep)
    b_idx = starts[gid[a_idx]] + offs
    ma, mb = mat[order][a_idx], mat[order][b_idx]
    vals = fnum[order][a_idx] * fnum[order][b_idx] * weight[a_idx].astype(object)
    pk = ma.astype(np.int64) * cert.m + mb
    srt = np.argsort(pk, kind="stable")
    pk_s = pk[srt]
    first = np.ones(pk_s.size, dtype=bool)
    first[1:] = pk_s[1:] != pk_s[:-1]
    sums = np.add.reduceat(vals[srt], np.flatnonzero(first))
    G = {
        (int(k) // cert.m, int(k) % cert.m): int(s)
        for k, s in zip(pk_s[first].tolist(), sums.tolist(), strict=True)
        if s != 0
    }
    return G, den * den


def project_dual(
    cert: SDPCertificate,
) -> tuple[list[RationalMatrix], Fraction] | str:
    """Project the certificate's :math:`Y` exactly onto :math:`\\{F_i \\bullet Y = c_i\\}`.

    Returns
    -------
    (dual, max_change) or str
        The projected blocks and :math:`\\max |w_j|`; or the reason the projection could not be
        computed (linearly dependent :math:`F_i`, a system too large to build exactly).
    """
    m = cert.m
    dots = exact_inner_products(cert)
    r = [dots[i + 1] - cert.c[i] for i in range(m)]
    if all(v == 0 for v in r):
        return list(cert.dual), Fraction(0)
    built = _gram_system(cert)
    if isinstance(built, str):
        return built
    G, gden = built
    if any(G.get((i, i), 0) == 0 for i in range(m)):
        return "some F_i is zero; the equations F_i • Y = c_i cannot all be met"
    if all(i == j for i, j in G):
        w = [r[i] * gden / G[(i, i)] for i in range(m)]
    else:
        A = flint.fmpq_mat(m, m)
        for (i, j), v in G.items():
            A[i, j] = v
        rhs = flint.fmpq_mat(m, 1, [flint.fmpq(v.numerator, v.denominator) * gden for v in r])
        try:
            sol = A.solve(rhs)
        except ZeroDivisionError:
            return "F_1, ..., F_m are linearly dependent; the exact projection needs a basis"
        w = [Fraction(int(q.p), int(q.q)) for q in (sol[i, 0] for i in range(m))]
    # Y' = Y - sum_j w_j F_j, exactly: everything over one common denominator
    sel = cert.mat > 0
    vals = [v for v, s in zip(cert.value, sel.tolist(), strict=True) if s]
    wk = [w[j - 1] for j in cert.mat[sel].tolist()]
    delta = [a * b for a, b in zip(wk, vals, strict=True)]
    dden = 1
    for d in {x.denominator for x in delta}:
        dden = math.lcm(dden, d)
    blk, row, col = cert.block[sel], cert.row[sel], cert.col[sel]
    dnum = np.array([x.numerator * (dden // x.denominator) for x in delta], dtype=object)
    out = []
    for b, (y, size) in enumerate(zip(cert.dual, cert.blocks, strict=True)):
        den = math.lcm(y.denominator, dden)
        num = y.numerators.astype(object) * (den // y.denominator)
        here = blk == b
        if here.any():
            d = dnum[here] * (den // dden)
            rr, cc = row[here], col[here]
            if size > 0:
                np.subtract.at(num, (rr, cc), d)
                off = rr != cc
                np.subtract.at(num, (cc[off], rr[off]), d[off])
            else:
                np.subtract.at(num, (np.zeros_like(rr), rr), d)
        out.append(RationalMatrix(num, den))
    return out, max((abs(x) for x in w), default=Fraction(0))


def interior_problem(problem: SDPAProblem, level: float) -> SDPAProblem:
    """The SDPA problem whose (D) is: maximise :math:`t` s.t. :math:`F_i \\bullet Y = c_i`,
    :math:`F_0 \\bullet Y \\ge` ``level``, :math:`Y \\succeq tI`, :math:`t \\le 1`.

    In :math:`Y' = Y - tI \\succeq 0` with :math:`t = t^+ - t^-` and slacks :math:`s, u \\ge 0`
    on one extra diagonal block :math:`(t^+, t^-, s, u)`:

    * :math:`F_i \\bullet Y' + \\operatorname{tr}(F_i)(t^+ - t^-) = c_i` for ``i = 1..m``;
    * :math:`F_0 \\bullet Y' + \\operatorname{tr}(F_0)(t^+ - t^-) - s =` ``level``;
    * :math:`t^+ - t^- + u = 1`;
    * objective :math:`t^+ - t^-`.

    Recover :math:`Y = Y' + tI` on the original blocks (:func:`_interior_dual`).
    """
    m = problem.m
    nb = len(problem.blocks)
    on_diag = problem.row == problem.col
    trace = np.bincount(problem.mat[on_diag], weights=problem.value[on_diag], minlength=m + 1)
    extra = nb  # index of the new diagonal block
    mats: list[np.ndarray] = [problem.mat.copy()]
    blks: list[np.ndarray] = [problem.block.copy()]
    rows: list[np.ndarray] = [problem.row.copy()]
    cols: list[np.ndarray] = [problem.col.copy()]
    vals: list[np.ndarray] = [problem.value.copy()]
    # F_0 of the original becomes the level constraint m + 1
    is0 = problem.mat == 0
    mats[0] = np.where(is0, m + 1, problem.mat)

    def add(mat: int, pos: int, v: float) -> None:
        if v != 0.0:
            mats.append(np.array([mat]))
            blks.append(np.array([extra]))
            rows.append(np.array([pos]))
            cols.append(np.array([pos]))
            vals.append(np.array([v]))

    for i in range(1, m + 1):
        add(i, 0, float(trace[i]))
        add(i, 1, -float(trace[i]))
    add(m + 1, 0, float(trace[0]))
    add(m + 1, 1, -float(trace[0]))
    add(m + 1, 2, -1.0)
    add(m + 2, 0, 1.0)
    add(m + 2, 1, -1.0)
    add(m + 2, 3, 1.0)
    add(0, 0, 1.0)
    add(0, 1, -1.0)
    return SDPAProblem(
        c=np.concatenate([problem.c, [level, 1.0]]),
        blocks=problem.blocks + (-4,),
        mat=np.concatenate(mats),
        block=np.concatenate(blks),
        row=np.concatenate(rows),
        col=np.concatenate(cols),
        value=np.concatenate(vals),
    )


def _interior_dual(
    problem: SDPAProblem, aux: SDPAProblem, sol: ConicSolution
) -> tuple[list[np.ndarray], float] | None:
    blocks = dual_blocks(aux, sol)
    if blocks is None:
        return None
    extra = blocks[-1]
    t = float(extra[0] - extra[1])
    out = []
    for y, b in zip(blocks[:-1], problem.blocks, strict=True):
        out.append(y + t * np.eye(b) if b > 0 else y + t)
    return out, t


def _attempt(
    problem: SDPAProblem,
    blocks: list[np.ndarray],
    exact: tuple[tuple[Fraction, ...], tuple[Fraction, ...]],
    metadata: dict[str, str],
) -> tuple[SDPCertificate | None, SDPCheckReport | None, str, float]:
    """Round, project, check.  Returns (certificate if verified, report, message, check time)."""
    rounded = round_dual(blocks)
    cert0 = certificate_from_dual(problem, rounded, bound=Fraction(0), exact=exact)
    projected = project_dual(cert0)
    if isinstance(projected, str):
        return None, None, projected, 0.0
    dual, _ = projected
    cert = certificate_from_dual(problem, dual, metadata=metadata, exact=exact)
    report = check_sdp_certificate(cert)
    if report.valid:
        return cert, report, report.reason, report.time
    return None, report, report.reason, report.time


def prove_bound(
    problem: SDPAProblem,
    solver: str = "clarabel",
    *,
    tolerance: float | None = None,
    time_limit: float | None = None,
    options: dict[str, Any] | None = None,
    backoffs: tuple[float, ...] | None = None,
    metadata: dict[str, str] | None = None,
) -> SDPBoundResult:
    """Implementation of :func:`prove_sdpa_bound` (see there)."""
    meta = {"solver": solver, **(metadata or {})}
    t0 = time.perf_counter()
    sol = solve_conic(
        sdpa_to_conic(problem), solver, time_limit=time_limit, tolerance=tolerance, options=options
    )
    solve_time = time.perf_counter() - t0
    t1 = time.perf_counter()
    status = sol.status.value
    gamma = float(sol.dual_objective)
    check_time = 0.0

    def result(
        cert: SDPCertificate | None,
        report: SDPCheckReport | None,
        method: str,
        backoff: float,
        message: str,
    ) -> SDPBoundResult:
        ok = cert is not None and report is not None and report.valid
        return SDPBoundResult(
            status=SDPBoundStatus.PROVEN if ok else SDPBoundStatus.NO_BOUND,
            bound=report.bound if ok and report is not None else None,
            certificate=cert if ok else None,
            report=report,
            solver=solver,
            solver_status=status,
            solver_objective=gamma,
            method=method if ok else "none",
            backoff=backoff,
            solve_time=solve_time,
            certify_time=time.perf_counter() - t1,
            check_time=check_time,
            message=message,
        )

    if sol.status in (SolverStatus.INFEASIBLE, SolverStatus.UNBOUNDED):
        return result(
            None, None, "none", 0.0,
            f"the solver found (P) {status}; this prover gives finite lower bounds only "
            "(infeasibility certificates are not produced for SDPA problems)",
        )
    blocks = dual_blocks(problem, sol)
    if blocks is None:
        return result(None, None, "none", 0.0, f"the solver returned no dual point ({status})")
    exact = _exact_data(problem)
    cert, report, why, tc = _attempt(problem, blocks, exact, {**meta, "method": "projection"})
    check_time += tc
    if cert is not None:
        return result(cert, report, "projection", 0.0, f"projected solver dual: {why}")
    first_why = why
    if not math.isfinite(gamma):
        return result(None, report, "none", 0.0, f"projection failed ({first_why}); no level")
    tol = tolerance if tolerance is not None else 0.0
    levels = backoffs if backoffs is not None else (
        DEFAULT_BACKOFFS if tol <= 1e-7 else (tol / 10, tol, 5 * tol)
    )
    # the margin t must outlast the projection, whose size is the re-solve's dual residual: a
    # coarse first-order tolerance is tightened for the (smaller, better conditioned) re-solve
    rtol = None if tolerance is None else max(min(tolerance, tolerance / 100), 1e-8)
    tried = []
    for rel in levels:
        delta = rel * (1.0 + abs(gamma))
        aux = interior_problem(problem, gamma - delta)
        isol = solve_conic(
            sdpa_to_conic(aux), solver, time_limit=time_limit, tolerance=rtol, options=options
        )
        got = _interior_dual(problem, aux, isol)
        if got is None:
            tried.append(f"δ={rel:.0e}: {isol.status.value}, no dual point")
            continue
        iblocks, t = got
        if not t > 0:
            tried.append(f"δ={rel:.0e}: no interior dual at this level (t = {t:.2g})")
            continue
        cert, rep, why, tc = _attempt(
            problem, iblocks, exact,
            {**meta, "method": "interior", "backoff": repr(rel), "level": repr(gamma - delta)},
        )
        check_time += tc
        if rep is not None:
            report = rep
        if cert is not None:
            return result(
                cert, report, "interior", delta,
                f"interior dual at level γ − δ, δ = {rel:.0e}·(1+|γ|), margin t = {t:.2g}: {why}",
            )
        tried.append(f"δ={rel:.0e}: {why}")
    return result(
        None, report, "none", 0.0,
        f"no certificate: projection of the solver's dual failed ({first_why}); "
        + "; ".join(tried),
    )


def prove_sdpa_bound(
    problem: SDPAProblem,
    solver: str = "clarabel",
    *,
    tolerance: float | None = None,
    time_limit: float | None = None,
    options: dict[str, Any] | None = None,
    backoffs: tuple[float, ...] | None = None,
    metadata: dict[str, str] | None = None,
) -> SDPBoundResult:
    """Solve an SDPA problem and return a lower bound on (P)'s optimum that the checker proved.

    Solve (P)/(D) with ``solver``, take the dual matrix :math:`Y`, round it to rationals and
    project it exactly onto :math:`\\{F_i \\bullet Y = c_i\\}`; if the projected :math:`Y` is
    provably PSD its exact :math:`F_0 \\bullet Y` is the bound.  Optimal duals are usually
    singular, so rounding may break definiteness: then re-solve for an interior dual
    (maximise :math:`t` s.t. :math:`F_i \\bullet Y = c_i`, :math:`F_0 \\bullet Y \\ge \\gamma -
    \\delta`, :math:`Y \\succeq tI`, :math:`t \\le 1`) at growing :math:`\\delta`, whose margin
    survives rounding; the bound is then about :math:`\\gamma - \\delta`.  Every candidate goes
    through :func:`sosrelax.certificate.sdpcheck.check_sdp_certificate`; only its verdict counts,
    whatever the solver said.

    Parameters
    ----------
    problem : SDPAProblem
    solver : str
        Backend name for :func:`sosrelax.solvers.solve_conic` (``"clarabel"``, ``"scs"``, ...).
    tolerance, time_limit, options
        Passed to the solver (every solve).
    backoffs : tuple of float, optional
        The relative levels :math:`\\delta / (1 + |\\gamma|)` tried by the interior re-solve, in
        order.  Default ``(1e-7, 1e-5)``, scaled up to the solver's tolerance when it is coarser.
    metadata : dict, optional
        Informational strings stored in the certificate (instance name, ...).

    Returns
    -------
    SDPBoundResult
        ``PROVEN`` with the exact bound, or ``NO_BOUND`` with the reason.  Mathematical outcomes
        (solver failures, infeasible problems, rejected certificates) are statuses, never raised.
    """
    return prove_bound(
        problem,
        solver,
        tolerance=tolerance,
        time_limit=time_limit,
        options=options,
        backoffs=backoffs,
        metadata=metadata,
    )

r"""Restarted Halpern PDHG with reflection for conic programs (PDLP / cuPDLPx style).

The program ``min cᵀx s.t. b − Ax ∈ K`` is the saddle point problem

.. math::

    \min_x \max_{z \in K^*} \; c^T x + z^T (A x - b),

whose saddle points are exactly the optimal primal–dual pairs of :mod:`sosrelax.conic`
(``Aᵀz + c = 0``, ``z ∈ K*``, ``s = b − Ax ∈ K``, ``sᵀz = 0``).  One PDHG step ``T`` is

.. math::

    x^+ = x - \tau (c + A^T z), \qquad
    z^+ = \Pi_{K^*}\!\big(z + \sigma (A(2x^+ - x) - b)\big),

with ``τ = η/ω``, ``σ = ηω``, ``η < 1/‖A‖₂`` and primal weight ``ω``.  ``T`` is firmly nonexpansive
in the norm ``‖(Δx, Δz)‖²_P = ‖Δx‖²/τ + ‖Δz‖²/σ − 2Δzᵀ A Δx``, so the reflected Halpern iteration

.. math::

    w^{k+1} = \tfrac{k+1}{k+2}\big((1+\rho) T(w^k) - \rho w^k\big) + \tfrac{1}{k+2} w^0

converges to a fixed point at rate ``O(1/k)`` in the fixed-point residual ``‖w − T(w)‖_P``
(``ρ ∈ [0, 1]``, reflection 1 by default).  Every ``check_every`` iterations the residual is
measured and the method *restarts* (anchor ``w⁰ ← T(wᵏ)``, ``k ← 0``) when it fell by a factor
0.2 since the last restart, or by 0.8 and stopped falling, or after 36 % of the iterations so
far; at each restart the primal weight moves halfway (in log scale) towards
``‖Δz‖/‖Δx‖`` of the last restart cycle.  Each iteration costs one product with ``A``, one with
``Aᵀ`` and one projection onto ``K*`` (batched ``eigh`` per PSD size bucket).

For an infeasible or unbounded program ``T`` has no fixed point and ``w − T(w)`` and
``wᵏ − w⁰`` converge to the minimal displacement, whose ``z`` part is a Farkas certificate of
primal infeasibility and whose ``x`` part one of unboundedness; both candidates are tested
at each check (see :mod:`sosrelax.solvers.firstorder.termination`).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from sosrelax.conic import SolverStatus
from sosrelax.solvers.firstorder.precondition import ScaledProgram
from sosrelax.solvers.firstorder.termination import (
    Measures,
    Outcome,
    Settings,
    check_infeasible,
    check_unbounded,
    dual_point,
    measure,
    primal_point,
)

__all__ = ["PdhgOptions", "estimate_norm", "solve_pdhg"]


@dataclass(frozen=True)
class PdhgOptions:
    """PDHG-specific knobs (defaults follow PDLP and cuPDLPx).

    Attributes
    ----------
    reflection : float
        ``ρ`` in ``[0, 1]``; 0 is plain Halpern, 1 fully reflected.
    sufficient_decay, necessary_decay, artificial_fraction : float
        Restart rules (0.2, 0.8, 0.36).
    primal_weight : float or None
        Initial ``ω``; default ``‖c̃‖₂/‖b̃‖₂`` (1 when either vanishes).
    primal_weight_smoothing : float
        ``θ`` of the log-scale primal-weight update (0 keeps ``ω`` fixed).
    step_safety : float
        ``η = step_safety / ‖Ã‖₂`` (the norm from a power iteration).
    """

    reflection: float = 1.0
    sufficient_decay: float = 0.2
    necessary_decay: float = 0.8
    artificial_fraction: float = 0.36
    primal_weight: float | None = None
    primal_weight_smoothing: float = 0.5
    step_safety: float = 0.95


def estimate_norm(sp: ScaledProgram, iterations: int = 50, seed: int = 0) -> float:
    """``‖Ã‖₂`` by power iteration on ``ÃᵀÃ`` (an estimate from below, hence the step safety)."""
    be = sp.backend
    xp = be.xp
    if sp.n == 0 or sp.m == 0:
        return 1.0
    v = be.asarray(np.random.default_rng(seed).standard_normal(sp.n))
    v /= xp.linalg.norm(v)
    lam = 0.0
    for _ in range(iterations):
        w = sp.At @ (sp.A @ v)
        nw = be.scalar(xp.linalg.norm(w))
        if nw == 0.0:
            return 1.0
        lam = nw
        v = w / nw
    return math.sqrt(lam) if lam > 0 else 1.0


def _initial_primal_weight(sp: ScaledProgram, opt: PdhgOptions) -> float:
    """``ω`` from the options, else ``‖c̃‖₂/‖b̃‖₂`` (1 when either vanishes)."""
    if opt.primal_weight is not None:
        return float(opt.primal_weight)
    nb = sp.backend.scalar(sp.backend.xp.linalg.norm(sp.b))
    nc = sp.backend.scalar(sp.backend.xp.linalg.norm(sp.c))
    return nc / nb if nb > 1e-10 and nc > 1e-10 else 1.0


def _certificate(sp: ScaledProgram, dzs: tuple[Any, ...], dxs: tuple[Any, ...], k: int,
                 itol: float) -> Outcome | None:
    """An INFEASIBLE outcome when a dual difference ``dz`` is a certificate of primal infeasibility, an
    UNBOUNDED one when a primal difference ``dx`` certifies unboundedness, else ``None``."""
    for dz in dzs:
        cert_z = check_infeasible(sp, dz, itol)
        if cert_z is not None:
            return Outcome(
                SolverStatus.INFEASIBLE, None, None, cert_z, k, "primal_infeasible",
                f"primal infeasibility certificate found after {k} iterations",
            )
    for dx in dxs:
        cert_x = check_unbounded(sp, dx, itol)
        if cert_x is not None:
            return Outcome(
                SolverStatus.UNBOUNDED, cert_x[0], cert_x[1], None, k, "dual_infeasible",
                f"unboundedness certificate found after {k} iterations",
            )
    return None


def solve_pdhg(
    sp: ScaledProgram, settings: Settings, options: PdhgOptions | None = None
) -> Outcome:
    """Run restarted Halpern PDHG on the preconditioned program ``sp``.

    Returns
    -------
    Outcome
        OPTIMAL when the primal, dual and gap measures are all below ``settings.tolerance``;
        INFEASIBLE / UNBOUNDED with a certificate that passed the certificate measures;
        otherwise ITERATION_LIMIT or TIME_LIMIT with the last point.
    """
    opt = options or PdhgOptions()
    be = sp.backend
    xp = be.xp
    t_start = time.perf_counter()
    proj = sp.layout.project

    norm_a = estimate_norm(sp)
    eta = opt.step_safety / norm_a
    omega = _initial_primal_weight(sp, opt)
    rho = float(opt.reflection)

    x = xp.zeros(sp.n)
    z = xp.zeros(sp.m)
    Ax = xp.zeros(sp.m)
    Atz = xp.zeros(sp.n)
    x0, z0, Ax0, Atz0 = x, z, Ax, Atz
    last_x, last_z = x, z  # the previous restart point, for the primal weight
    r0 = math.inf
    r_prev = math.inf
    j = 0  # iterations since the last restart
    restarts = 0
    meas: Measures | None = None
    status = SolverStatus.ITERATION_LIMIT
    raw = "iteration_limit"
    xt = x
    zt = z
    Axt = Ax
    Atzt = Atz
    k = 0
    for k in range(1, settings.max_iters + 1):
        tau = eta / omega
        sigma = eta * omega
        xt = x - tau * (sp.c + Atz)
        Axt = sp.A @ xt
        zt = proj(z + sigma * (2.0 * Axt - Ax - sp.b), dual=True)
        Atzt = sp.At @ zt
        check = k % settings.check_every == 0 or k == settings.max_iters or k == 1
        if check:
            meas = measure(sp, xt, zt, Axt, Atzt)
            if settings.verbose and (k == 1 or k % (settings.check_every * 20) == 0):
                print(
                    f"pdhg {k:7d}  pres {meas.primal:.2e}  dres {meas.dual:.2e}  gap {meas.gap:.2e}"
                    f"  pobj {meas.pobj:+.8e}  omega {omega:.2e}  restarts {restarts}"
                )
            if meas.converged(settings.tolerance):
                status, raw = SolverStatus.OPTIMAL, "converged"
                break
            found = _certificate(sp, (zt - z0, zt - z), (xt - x0, xt - x), k, settings.infeasibility_tolerance)
            if found is not None:
                return found
            if (
                settings.time_limit is not None
                and time.perf_counter() - t_start >= settings.time_limit
            ):
                status, raw = SolverStatus.TIME_LIMIT, "time_limit"
                break
            # fixed-point residual in the PDHG norm
            dz_ = zt - z
            r2 = xp.dot(xt - x, xt - x) / tau + xp.dot(dz_, dz_) / sigma - 2.0 * xp.dot(dz_, Axt - Ax)
            r = math.sqrt(max(be.scalar(r2), 0.0))
            if k == 1:
                r0 = r
            elif (
                r <= opt.sufficient_decay * r0
                or (r <= opt.necessary_decay * r0 and r > r_prev)
                or j >= opt.artificial_fraction * k
            ):
                ddx = be.scalar(xp.linalg.norm(xt - last_x))
                ddz = be.scalar(xp.linalg.norm(zt - last_z))
                if ddx > 1e-10 and ddz > 1e-10 and opt.primal_weight_smoothing > 0:
                    th = opt.primal_weight_smoothing
                    omega = math.exp(th * math.log(ddz / ddx) + (1.0 - th) * math.log(omega))
                x, z, Ax, Atz = xt, zt, Axt, Atzt
                x0, z0, Ax0, Atz0 = x, z, Ax, Atz
                last_x, last_z = x, z
                r0 = r
                r_prev = math.inf
                j = 0
                restarts += 1
                continue
            r_prev = r
        # reflected Halpern step towards the anchor
        a = (j + 1.0) / (j + 2.0)
        x = a * ((1.0 + rho) * xt - rho * x) + (1.0 - a) * x0
        z = a * ((1.0 + rho) * zt - rho * z) + (1.0 - a) * z0
        Ax = a * ((1.0 + rho) * Axt - rho * Ax) + (1.0 - a) * Ax0
        Atz = a * ((1.0 + rho) * Atzt - rho * Atz) + (1.0 - a) * Atz0
        j += 1
    if meas is None:
        meas = measure(sp, xt, zt, Axt, Atzt)
    xh, sh = primal_point(sp, xt, Axt)
    zh = dual_point(sp, zt)
    what = {
        SolverStatus.OPTIMAL: "converged",
        SolverStatus.TIME_LIMIT: "stopped at the time limit",
        SolverStatus.ITERATION_LIMIT: "stopped at the iteration limit",
    }[status]
    return Outcome(
        status, xh, sh, zh, k, raw,
        f"restarted Halpern PDHG {what} after {k} iterations ({restarts} restarts; primal "
        f"{meas.primal:.1e}, dual {meas.dual:.1e}, gap {meas.gap:.1e})",
        meas,
    )

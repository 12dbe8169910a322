r"""ADMM on the SOS side, exploiting the (partial) orthogonality of the moment map.

The dual of ``min cᵀx s.t. Ax + s = b, s ∈ K`` is, up to sign, the SOS program

.. math::

    \min_z \; b^T z \quad \text{s.t.} \quad A^T z = -c, \quad z \in K^*,

(for a moment relaxation: ``z`` stacks the Gram matrices, ``Aᵀz = −c`` is the coefficient
matching of ``f − γ = Σ σ_i g_i + Σ λ_j h_j``).  Splitting ``z = w`` with ``w ∈ K*`` gives the
scaled ADMM iteration (over-relaxation ``α``, penalty ``ρ``)

.. math::

    z &= \arg\min_{A^T z = -c} b^T z + \tfrac{\rho}{2}\|z - w + u\|^2
       = v + (A x - b)/\rho, \quad v = w - u, \quad
       A^T A\, x = A^T b - \rho\,(c + A^T v), \\
    w &\leftarrow \Pi_{K^*}(\alpha z + (1 - \alpha) w + u), \qquad
    u \leftarrow u + \alpha z + (1 - \alpha) w_{old} - w .

The multiplier ``x`` of the affine constraint is the primal (moment) vector and ``−ρu`` the primal
slack.  Each iteration is two sparse products, one solve with ``G = AᵀA`` and one projection.

**Partial orthogonality.**  A row of ``A`` with a single nonzero (every moment-matrix entry ``y_{α+β}``,
the normalisation ``y₀ = 1``) contributes to ``G`` only on the diagonal: in the monomial basis the
SOS coefficient matching of ``σ₀`` touches each Gram entry once.  Writing ``A = [A_o; A_r]`` with
``A_o`` those rows, ``G = D + A_rᵀA_r`` with ``D`` diagonal:

* no other rows (unconstrained SOS): ``G = D``, the linear step is a diagonal scaling;
* few rows ``r`` in ``A_r`` (localizing and equality rows): Woodbury,
  ``G⁻¹ = D⁻¹ − D⁻¹A_rᵀ (I + A_r D⁻¹ A_rᵀ)⁻¹ A_r D⁻¹`` with the ``r × r`` capacitance inverted once
  (it is ``⪰ I``, so well conditioned from below);
* otherwise ``G`` is factored once (sparse LU on the CPU, a dense inverse on the GPU when it fits,
  Jacobi-preconditioned conjugate gradients beyond).

Diagonal preconditioning keeps the structure (``D_r A D_c`` has the same single-nonzero rows).

For an infeasible program ``w`` diverges along a Farkas direction of primal infeasibility, and for
an unbounded one ``x`` along a ray; the differences of the iterates between two checks are tested
as certificates (:mod:`sosrelax.solvers.firstorder.termination`).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.linalg as sla
import scipy.sparse as sp
import scipy.sparse.linalg as spla

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

__all__ = ["AdmmOptions", "GramSolver", "solve_admm"]


@dataclass(frozen=True)
class AdmmOptions:
    """ADMM knobs.

    Attributes
    ----------
    rho : float or None
        Initial penalty; default ``‖b̃‖/‖c̃‖`` clipped to ``[1e-3, 1e3]``.
    alpha : float
        Over-relaxation in ``(0, 2)``.
    adapt_rho : bool
        Residual balancing: at checks, scale ``ρ`` by the square root of the ratio of ADMM's
        relative consensus and dual residuals when it exceeds ``balance`` (or ``1/balance``).
    balance : float
    woodbury_max_rows : int
        Largest ``r`` (non-orthogonal rows) for the Woodbury linear step.
    dense_max : int
        Largest ``nvar`` for a dense inverse of ``AᵀA`` on the GPU (and for choosing ADMM
        automatically when ``AᵀA`` has no structure).
    """

    rho: float | None = None
    alpha: float = 1.6
    adapt_rho: bool = True
    balance: float = 5.0
    woodbury_max_rows: int = 3000
    dense_max: int = 3000


class GramSolver:
    """Solves ``ÃᵀÃ x = y`` on the device, by the cheapest method the structure allows."""

    def __init__(self, kind: str, sp_: ScaledProgram, apply: Any) -> None:
        self.kind = kind
        self._apply = apply
        self.backend = sp_.backend

    def solve(self, y: Any) -> Any:
        return self._apply(y)

    @staticmethod
    def split(A: sp.spmatrix) -> tuple[np.ndarray, np.ndarray]:
        """Rows with at most one nonzero (``A_o``) as a mask, and ``diag(A_oᵀA_o)``."""
        Ar = sp.csr_matrix(A)
        counts = np.diff(Ar.indptr)
        single = counts <= 1
        So = Ar[single]
        D = np.asarray(So.multiply(So).sum(axis=0)).ravel()
        return single, D

    @classmethod
    def kind_for(cls, A: sp.spmatrix, options: AdmmOptions | None = None) -> str:
        """``"diagonal"``, ``"woodbury"``, ``"small"`` or ``"general"`` (``"singular"`` with an empty column)."""
        opt = options or AdmmOptions()
        n = A.shape[1]
        col_nnz = np.diff(sp.csc_matrix(A).indptr)
        if n and np.any(col_nnz == 0):
            return "singular"
        single, D = cls.split(A)
        r = int(np.count_nonzero(~single))
        if n and np.all(D > 0):
            if r == 0:
                return "diagonal"
            if r <= opt.woodbury_max_rows:
                return "woodbury"
        return "small" if n <= opt.dense_max else "general"

    @classmethod
    def build(cls, sp_: ScaledProgram, options: AdmmOptions) -> GramSolver:
        be = sp_.backend
        xp = be.xp
        A = sp_.A_host
        n = A.shape[1]
        kind = cls.kind_for(A, options)
        if kind in ("diagonal", "woodbury"):
            single, D = cls.split(A)
            dinv = be.asarray(1.0 / D)
            if kind == "diagonal":
                return cls(kind, sp_, lambda y: dinv * y)
            Arh = sp.csr_matrix(A[~single])
            scaled = Arh @ sp.diags(1.0 / D) @ Arh.T
            C = np.eye(Arh.shape[0]) + scaled.toarray()
            cho = sla.cho_factor(C)
            Cinv = be.asarray(sla.cho_solve(cho, np.eye(C.shape[0])))
            Ar = be.csr(Arh)
            Art = be.csr(Arh.T)

            def woodbury(y: Any) -> Any:
                t = dinv * y
                return t - dinv * (Art @ (Cinv @ (Ar @ t)))

            return cls(kind, sp_, woodbury)
        G = sp.csc_matrix(A.T @ A)
        diag = G.diagonal()
        reg = 1e-12 * (float(diag.max()) if diag.size else 1.0)
        if not be.is_gpu:
            lu = spla.splu(sp.csc_matrix(G + reg * sp.identity(n)))
            return cls(kind, sp_, lambda y: lu.solve(np.asarray(y)))
        if n <= max(options.dense_max, 8000):
            Gd = G.toarray() + reg * np.eye(n)
            cho = sla.cho_factor(Gd)
            Ginv = be.asarray(sla.cho_solve(cho, np.eye(n)))
            return cls(kind, sp_, lambda y: Ginv @ y)
        Gdev = be.csr(G)
        jac = be.asarray(1.0 / np.where(diag > 0, diag, 1.0))
        state: dict[str, Any] = {"x": xp.zeros(n)}

        def pcg(y: Any) -> Any:
            x = state["x"]
            r = y - Gdev @ x
            zz = jac * r
            p = zz
            rz = xp.dot(r, zz)
            ny = xp.linalg.norm(y)
            for _ in range(100):
                Gp = Gdev @ p
                a = rz / xp.dot(p, Gp)
                x = x + a * p
                r = r - a * Gp
                if float(xp.linalg.norm(r)) <= 1e-10 * float(ny):
                    break
                zz = jac * r
                rz_new = xp.dot(r, zz)
                p = zz + (rz_new / rz) * p
                rz = rz_new
            state["x"] = x
            return x

        return cls("cg", sp_, pcg)


def solve_admm(
    sp_: ScaledProgram, settings: Settings, gram: GramSolver, options: AdmmOptions | None = None
) -> Outcome:
    """Run ADMM on the SOS side of the preconditioned program (see the module docstring)."""
    opt = options or AdmmOptions()
    be = sp_.backend
    xp = be.xp
    t_start = time.perf_counter()
    proj = sp_.layout.project
    nb = be.scalar(xp.linalg.norm(sp_.b))
    nc = be.scalar(xp.linalg.norm(sp_.c))
    if opt.rho is not None:
        rho = float(opt.rho)
    else:
        rho = min(max(nb / nc, 1e-3), 1e3) if nb > 1e-10 and nc > 1e-10 else 1.0
    alpha = float(opt.alpha)
    Atb = sp_.At @ sp_.b
    w = xp.zeros(sp_.m)
    u = xp.zeros(sp_.m)
    x = xp.zeros(sp_.n)
    Ax = xp.zeros(sp_.m)
    w_prev_check = w
    x_prev_check = x
    meas: Measures | None = None
    status = SolverStatus.ITERATION_LIMIT
    raw = "iteration_limit"
    k = 0
    changes = 0
    for k in range(1, settings.max_iters + 1):
        v = w - u
        x = gram.solve(Atb - rho * (sp_.c + sp_.At @ v))
        Ax = sp_.A @ x
        z = v + (Ax - sp_.b) / rho
        zr = alpha * z + (1.0 - alpha) * w
        w_old = w
        w = proj(zr + u, dual=True)
        u = u + zr - w
        if k % settings.check_every and k != settings.max_iters:
            continue
        Atw = sp_.At @ w
        meas = measure(sp_, x, w, Ax, Atw)
        if settings.verbose and k % (settings.check_every * 20) == 0:
            print(
                f"admm {k:7d}  pres {meas.primal:.2e}  dres {meas.dual:.2e}  gap {meas.gap:.2e}"
                f"  pobj {meas.pobj:+.8e}  rho {rho:.2e}"
            )
        if meas.converged(settings.tolerance):
            status, raw = SolverStatus.OPTIMAL, "converged"
            break
        itol = settings.infeasibility_tolerance
        cert_z = check_infeasible(sp_, w - w_prev_check, itol)
        if cert_z is not None:
            return Outcome(
                SolverStatus.INFEASIBLE, None, None, cert_z, k, "primal_infeasible",
                f"primal infeasibility certificate found after {k} iterations",
            )
        cert_x = check_unbounded(sp_, x - x_prev_check, itol)
        if cert_x is not None:
            return Outcome(
                SolverStatus.UNBOUNDED, cert_x[0], cert_x[1], None, k, "dual_infeasible",
                f"unboundedness certificate found after {k} iterations",
            )
        w_prev_check, x_prev_check = w, x
        if settings.time_limit is not None and time.perf_counter() - t_start >= settings.time_limit:
            status, raw = SolverStatus.TIME_LIMIT, "time_limit"
            break
        if opt.adapt_rho:
            # residual balancing on ADMM's own residuals: consensus ‖z − w‖ against the change
            # of w (the dual residual), each relative to the size of what it measures
            vals = be.to_host(xp.stack([
                xp.linalg.norm(z - w), xp.linalg.norm(w - w_old),
                xp.linalg.norm(z), xp.linalg.norm(w), xp.linalg.norm(u),
            ]))
            cons = vals[0] / max(vals[2], vals[3], 1e-12)
            dres = vals[1] / max(vals[4], 1e-12)
            if cons > 0 and dres > 0:
                ratio = float(cons / dres)
                factor = 1.0
                if ratio > opt.balance:
                    factor = min(math.sqrt(ratio), 10.0)
                elif ratio < 1.0 / opt.balance:
                    factor = max(math.sqrt(ratio), 0.1)
                if factor != 1.0:
                    rho *= factor
                    u = u / factor
                    changes += 1
    if meas is None:
        meas = measure(sp_, x, w, Ax, sp_.At @ w)
    xh, sh = primal_point(sp_, x, Ax)
    zh = dual_point(sp_, w)
    what = {
        SolverStatus.OPTIMAL: "converged",
        SolverStatus.TIME_LIMIT: "stopped at the time limit",
        SolverStatus.ITERATION_LIMIT: "stopped at the iteration limit",
    }[status]
    return Outcome(
        status, xh, sh, zh, k, raw,
        f"ADMM ({gram.kind} linear step) {what} after {k} iterations ({changes} penalty "
        f"updates; primal {meas.primal:.1e}, dual {meas.dual:.1e}, gap {meas.gap:.1e})",
        meas,
    )

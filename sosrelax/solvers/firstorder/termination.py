r"""Stopping rules shared by the first-order methods: residuals and infeasibility certificates.

Everything is measured on the *original* program (not the preconditioned one), with the very
definitions that :func:`sosrelax.conic.compute_residuals` uses to recheck the answer:

* primal: ``‖Ax + s − b‖∞ / (1 + ‖b‖∞)`` with ``s = Π_K(b − Ax)`` (the nearest slack, so the
  residual is the distance of ``b − Ax`` to ``K``);
* dual: ``‖Aᵀz + c‖∞ / (1 + ‖c‖∞)`` with ``z ∈ K*`` (every method returns a projected ``z``);
* gap: ``|pobj − dobj| / (1 + |pobj| + |dobj|)``.

Infeasibility is read from *directions* (differences of iterates), which converge to Farkas
certificates when the program has no solution:

* primal infeasible: ``z ∈ K*`` with ``bᵀz < 0`` and ``‖Aᵀz‖∞‖b‖∞ / (max|A|·|bᵀz|)`` small;
* unbounded (dual infeasible): ``x`` with ``cᵀx < 0`` and ``‖Ax + Π_K(−Ax)‖∞‖c‖∞ / (max|A|·|cᵀx|)``
  small.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from sosrelax.conic import SolverStatus
from sosrelax.solvers.firstorder.precondition import ScaledProgram

__all__ = ["Measures", "Outcome", "Settings", "check_unbounded", "check_infeasible", "measure"]


@dataclass(frozen=True)
class Settings:
    """Knobs common to PDHG and ADMM.

    Attributes
    ----------
    tolerance : float
        Stop when the primal, dual and gap measures are all at most this.
    infeasibility_tolerance : float
        Threshold of the certificate measures.
    max_iters : int
    time_limit : float or None
        Seconds.
    check_every : int
        Iterations between residual checks (each costs a few reductions and, on a GPU, one
        synchronisation).
    verbose : bool
    """

    tolerance: float = 1e-6
    infeasibility_tolerance: float = 1e-7
    max_iters: int = 100_000
    time_limit: float | None = None
    check_every: int = 64
    verbose: bool = False


@dataclass(frozen=True)
class Measures:
    primal: float
    dual: float
    gap: float
    pobj: float
    dobj: float

    def converged(self, tol: float) -> bool:
        return self.primal <= tol and self.dual <= tol and self.gap <= tol

    @property
    def worst(self) -> float:
        return max(self.primal, self.dual, self.gap)


@dataclass(frozen=True)
class Outcome:
    """What a method hands back to the backend entry (host arrays, original scale)."""

    status: SolverStatus
    x: np.ndarray | None
    s: np.ndarray | None
    z: np.ndarray | None
    iterations: int
    solver_status: str
    message: str
    measures: Measures | None = None


def _inf(xp: Any, v: Any) -> Any:
    return xp.max(xp.abs(v)) if v.size else xp.zeros(())


def measure(sp: ScaledProgram, xs: Any, zs: Any, Axs: Any, Atzs: Any) -> Measures:
    """Residuals of the scaled iterate ``(x̃, z̃)`` in the original scale (``Axs = Ãx̃``, ``Atzs = Ãᵀz̃``).

    ``z̃`` must already lie in ``K*``.
    """
    be = sp.backend
    xp = be.xp
    Ax = Axs / sp.D
    r = sp.b_orig - Ax
    pres = _inf(xp, r - sp.layout.project(r))
    dres = _inf(xp, Atzs / sp.E + sp.c_orig)
    pobj = xp.dot(sp.c, xs)
    dobj = -xp.dot(sp.b, zs)
    vals = be.to_host(xp.stack([pres, dres, pobj, dobj]))
    off = sp.prog.offset
    p, d = float(vals[2]) + off, float(vals[3]) + off
    gap = abs(p - d) / (1.0 + abs(p) + abs(d)) if math.isfinite(p - d) else math.inf
    return Measures(
        primal=float(vals[0]) / (1.0 + sp.b_inf),
        dual=float(vals[1]) / (1.0 + sp.c_inf),
        gap=gap,
        pobj=p,
        dobj=d,
    )


def check_infeasible(sp: ScaledProgram, dzs: Any, tol: float) -> np.ndarray | None:
    """A primal infeasibility certificate ``z`` (host, original scale) from a scaled direction, or None."""
    be = sp.backend
    xp = be.xp
    pz = sp.layout.project(dzs, dual=True)
    bz = be.scalar(xp.dot(sp.b, pz))
    if not bz < 0.0 or sp.a_max == 0.0:
        return None
    atz = be.scalar(_inf(xp, (sp.At @ pz) / sp.E))
    if atz * sp.b_inf / (sp.a_max * abs(bz)) > tol:
        return None
    z = be.to_host(sp.D * pz)
    return z / abs(bz)


def check_unbounded(
    sp: ScaledProgram, dxs: Any, tol: float
) -> tuple[np.ndarray, np.ndarray] | None:
    """An unboundedness certificate ``(x, s)`` (host, original scale) from a scaled direction, or None."""
    be = sp.backend
    xp = be.xp
    cx = be.scalar(xp.dot(sp.c, dxs))
    if not cx < 0.0 or sp.a_max == 0.0:
        return None
    Ax = (sp.A @ dxs) / sp.D
    s = sp.layout.project(-Ax)
    res = be.scalar(_inf(xp, Ax + s))
    if res * sp.c_inf / (sp.a_max * abs(cx)) > tol:
        return None
    x = be.to_host(sp.E * dxs) / abs(cx)
    return x, be.to_host(s) / abs(cx)


def primal_point(sp: ScaledProgram, xs: Any, Axs: Any) -> tuple[np.ndarray, np.ndarray]:
    """``x = E x̃`` and its nearest slack ``s = Π_K(b − Ax)``, on the host."""
    r = sp.b_orig - Axs / sp.D
    return sp.backend.to_host(sp.E * xs), sp.backend.to_host(sp.layout.project(r))


def dual_point(sp: ScaledProgram, zs: Any) -> np.ndarray:
    """``z = D z̃`` on the host."""
    return sp.backend.to_host(sp.D * zs)

r"""Diagonal preconditioning: Ruiz equilibration followed by Pock–Chambolle scaling.

The program ``min cᵀx s.t. Ax + s = b, s ∈ K`` is rescaled to

.. math::

    \tilde A = D A E, \qquad \tilde b = D b, \qquad \tilde c = E c,

with positive diagonal ``D`` (rows) and ``E`` (columns).  Solutions map back by
``x = E x̃``, ``s = D⁻¹ s̃``, ``z = D z̃``: then ``Ax + s − b = D⁻¹(Ãx̃ + s̃ − b̃)`` and
``Aᵀz + c = E⁻¹(Ãᵀz̃ + c̃)``.  For ``s̃ ∈ K ⇔ s ∈ K`` the row scaling must map each cone onto
itself: any positive factor per row is allowed on zero and nonnegative rows, but a second-order or
PSD cone gets *one* factor for all its rows (the largest of its rows' factors' norms is used, so
no entry grows).

* Ruiz (``iterations`` rounds): ``D ← D / √‖row‖∞``, ``E ← E / √‖column‖∞``, which drives every
  row and column infinity norm of ``Ã`` towards 1;
* Pock–Chambolle (α = 1): ``D ← D / √‖row‖₁``, ``E ← E / √‖column‖₁``, after which
  ``‖Ã‖₂ ≤ 1`` up to the cone-block coupling.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp

from sosrelax.conic import ConicProgram
from sosrelax.solvers.firstorder._xp import ArrayBackend
from sosrelax.solvers.firstorder.cones import ConeLayout

__all__ = ["ScaledProgram", "diagonal_scaling", "scale_program"]


def _block_max(values: np.ndarray, block: np.ndarray) -> np.ndarray:
    """Replace each entry by the max over its cone block (entries with ``block < 0`` stay)."""
    out = values.copy()
    mask = block >= 0
    if mask.any():
        ids = block[mask]
        top = np.zeros(int(ids.max()) + 1)
        np.maximum.at(top, ids, values[mask])
        out[mask] = top[ids]
    return out


def _inv_sqrt(norms: np.ndarray) -> np.ndarray:
    return np.where(norms > 0, 1.0 / np.sqrt(np.where(norms > 0, norms, 1.0)), 1.0)


def diagonal_scaling(
    A: sp.spmatrix, block: np.ndarray, *, ruiz_iterations: int = 10, pock_chambolle: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """Row and column factors ``D, E`` (see the module docstring); ``block`` from :class:`ConeLayout`."""
    m, n = A.shape
    D = np.ones(m)
    E = np.ones(n)
    M = sp.csr_matrix(abs(A), dtype=np.float64)
    for _ in range(ruiz_iterations):
        S = sp.diags(D) @ M @ sp.diags(E)
        rows = np.asarray(S.max(axis=1).toarray()).ravel() if m else np.zeros(0)
        cols = np.asarray(S.max(axis=0).toarray()).ravel() if n else np.zeros(0)
        D *= _inv_sqrt(_block_max(rows, block))
        E *= _inv_sqrt(cols)
    if pock_chambolle:
        S = sp.diags(D) @ M @ sp.diags(E)
        rows = np.asarray(S.sum(axis=1)).ravel()
        cols = np.asarray(S.sum(axis=0)).ravel()
        D *= _inv_sqrt(_block_max(rows, block))
        E *= _inv_sqrt(cols)
    return D, E


@dataclass(frozen=True)
class ScaledProgram:
    """A :class:`ConicProgram` preconditioned and copied to the device once.

    Attributes
    ----------
    prog : ConicProgram
        The original (host) program.
    layout : ConeLayout
    A, At : device CSR matrices
        ``Ã`` and ``Ãᵀ`` (both stored: a transposed CSR product is slow on GPUs).
    b, c : device arrays
        ``b̃`` and ``c̃``.
    D, E : device arrays
        Row and column factors.
    b_orig, c_orig : device arrays
        The unscaled data, for residuals in the original scale.
    b_inf, c_inf, a_max : float
        ``‖b‖∞``, ``‖c‖∞``, ``max |A_ij|`` of the original program.
    A_host : scipy.sparse.csr_matrix
        ``Ã`` on the host (for factorisations done once at setup).
    """

    prog: ConicProgram
    backend: ArrayBackend
    layout: ConeLayout
    A: Any
    At: Any
    b: Any
    c: Any
    D: Any
    E: Any
    b_orig: Any
    c_orig: Any
    b_inf: float
    c_inf: float
    a_max: float
    A_host: sp.csr_matrix

    @property
    def m(self) -> int:
        return self.prog.nrows

    @property
    def n(self) -> int:
        return self.prog.nvar


def scale_program(
    prog: ConicProgram,
    backend: ArrayBackend,
    *,
    ruiz_iterations: int = 10,
    pock_chambolle: bool = True,
    bucket_ratio: float | None = None,
) -> ScaledProgram:
    """Precondition ``prog`` and move it to ``backend``'s device."""
    layout = ConeLayout.build(prog.cones, backend, bucket_ratio=bucket_ratio)
    D, E = diagonal_scaling(
        prog.A, layout.block, ruiz_iterations=ruiz_iterations, pock_chambolle=pock_chambolle
    )
    As = sp.csr_matrix(sp.diags(D) @ prog.A @ sp.diags(E))
    As.sort_indices()

    def inf(v: np.ndarray) -> float:
        return float(np.max(np.abs(v))) if v.size else 0.0

    return ScaledProgram(
        prog=prog,
        backend=backend,
        layout=layout,
        A=backend.csr(As),
        At=backend.csr(As.T),
        b=backend.asarray(D * prog.b),
        c=backend.asarray(E * prog.c),
        D=backend.asarray(D),
        E=backend.asarray(E),
        b_orig=backend.asarray(prog.b),
        c_orig=backend.asarray(prog.c),
        b_inf=inf(prog.b),
        c_inf=inf(prog.c),
        a_max=inf(prog.A.data) if prog.A.nnz else 0.0,
        A_host=As,
    )

r"""The conic standard form that every relaxation emits and every solver backend consumes.

Primal (Clarabel's convention)::

    minimise    cᵀx + offset
    subject to  A x + s = b,   s ∈ K = K_1 × … × K_p      (in the order of ``cones``)

Dual::

    maximise    −bᵀz + offset
    subject to  Aᵀz + c = 0,   z ∈ K*

Every cone used here is self-dual except the zero cone, whose dual is the whole space (a free
multiplier).  Weak duality: for any feasible pair, ``cᵀx − (−bᵀz) = sᵀz ≥ 0``, so the dual
objective of any dual-feasible ``z`` is a valid lower bound on the primal optimum.

Positive semidefinite cones are stored in the scaled "svec" vectorisation: the upper triangle
stacked column by column, ``(0,0), (0,1), (1,1), (0,2), (1,2), (2,2), …``, off-diagonal entries
multiplied by √2, so that ``svec(X) · svec(Y) = trace(X Y)``.  This is exactly Clarabel's
``PSDTriangleConeT``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import Enum
from functools import lru_cache

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from sosrelax.errors import InvalidValueError

__all__ = [
    "Cone",
    "ConeKind",
    "ConicProgram",
    "ConicSolution",
    "Residuals",
    "SolverStatus",
    "compute_residuals",
    "cone_violation",
    "smat",
    "svec",
    "svec_indices",
    "svec_scale",
    "triangular_order",
]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.intp]

_SQRT2 = math.sqrt(2.0)


# ----------------------------------------------------------------------------------------------
# svec / smat
# ----------------------------------------------------------------------------------------------


def triangular_order(size: int) -> int:
    """Return ``n`` such that ``n (n + 1) / 2 == size``.

    Raises
    ------
    InvalidValueError
        If ``size`` is not a triangular number.
    """
    n = (math.isqrt(8 * size + 1) - 1) // 2
    if size < 0 or n * (n + 1) // 2 != size:
        raise InvalidValueError(
            f"vector length {size} is not n(n+1)/2 for any n; an svec vector of an n×n "
            "matrix has n(n+1)/2 entries"
        )
    return n


@lru_cache(maxsize=256)
def _svec_indices_cached(n: int) -> tuple[IntArray, IntArray]:
    # np.tril_indices lists (r, c), r ≥ c, sorted by r then c; swapping gives the upper
    # triangle (c ≤ r) column by column, which is the svec order.
    lower_r, lower_c = np.tril_indices(n)
    rows = np.ascontiguousarray(lower_c, dtype=np.intp)
    cols = np.ascontiguousarray(lower_r, dtype=np.intp)
    rows.setflags(write=False)
    cols.setflags(write=False)
    return rows, cols


def svec_indices(n: int) -> tuple[IntArray, IntArray]:
    """Row and column indices of the svec entries of an ``n × n`` matrix, in svec order.

    Entry ``k`` of ``svec(X)`` is ``w_k X[rows[k], cols[k]]`` with ``rows[k] ≤ cols[k]`` and
    ``w_k = 1`` on the diagonal, ``√2`` off it (see :func:`svec_scale`).  The order is the upper
    triangle column by column: ``(0,0), (0,1), (1,1), (0,2), (1,2), (2,2), …``.

    The returned arrays are read-only (they are cached).
    """
    if n < 0:
        raise InvalidValueError(f"matrix order must be non-negative, got {n}")
    return _svec_indices_cached(int(n))


@lru_cache(maxsize=256)
def _svec_scale_cached(n: int) -> FloatArray:
    rows, cols = _svec_indices_cached(n)
    w = np.where(rows == cols, 1.0, _SQRT2)
    w.setflags(write=False)
    return w


def svec_scale(n: int) -> FloatArray:
    """Weights of the svec entries of an ``n × n`` matrix: 1 on the diagonal, √2 off it."""
    return _svec_scale_cached(int(n))


def svec(X: npt.ArrayLike) -> FloatArray:
    """Scaled upper-triangle vectorisation of a symmetric matrix (or a stack of them).

    Parameters
    ----------
    X : array_like, shape (..., n, n)
        Symmetric matrices.  Only the upper triangle is read.

    Returns
    -------
    ndarray, shape (..., n (n + 1) / 2)
        ``svec(X)`` with ``svec(X) · svec(Y) = trace(X Y)`` for symmetric ``X, Y``.
    """
    M = np.asarray(X, dtype=np.float64)
    if M.ndim < 2 or M.shape[-1] != M.shape[-2]:
        raise InvalidValueError(f"svec needs square matrices, got shape {M.shape}")
    n = M.shape[-1]
    rows, cols = svec_indices(n)
    return M[..., rows, cols] * svec_scale(n)


def smat(v: npt.ArrayLike) -> FloatArray:
    """Inverse of :func:`svec`: the symmetric matrix (or stack) with the given svec vector.

    Parameters
    ----------
    v : array_like, shape (..., n (n + 1) / 2)

    Returns
    -------
    ndarray, shape (..., n, n)
        Symmetric; ``smat(svec(X)) == X`` for symmetric ``X``.
    """
    u = np.asarray(v, dtype=np.float64)
    if u.ndim < 1:
        raise InvalidValueError("smat needs a vector, got a scalar")
    n = triangular_order(u.shape[-1])
    rows, cols = svec_indices(n)
    vals = u / svec_scale(n)
    out = np.zeros(u.shape[:-1] + (n, n), dtype=np.float64)
    out[..., rows, cols] = vals
    out[..., cols, rows] = vals
    return out


# ----------------------------------------------------------------------------------------------
# cones and programs
# ----------------------------------------------------------------------------------------------


class ConeKind(Enum):
    """The cones of the standard form."""

    ZERO = "zero"  #: {0}; its dual cone is the whole space
    NONNEG = "nonneg"  #: the nonnegative orthant
    SOC = "soc"  #: {(t, u) : ‖u‖₂ ≤ t}
    PSD = "psd"  #: positive semidefinite matrices, svec-vectorised


@dataclass(frozen=True)
class Cone:
    """One factor ``K_i`` of the product cone.

    Attributes
    ----------
    kind : ConeKind
    dim : int
        Vector length for ZERO, NONNEG and SOC; the matrix order ``n`` for PSD (whose vector
        length is ``n (n + 1) / 2``).
    """

    kind: ConeKind
    dim: int

    def __post_init__(self) -> None:
        if not isinstance(self.kind, ConeKind):
            raise InvalidValueError(f"cone kind must be a ConeKind, got {self.kind!r}")
        if isinstance(self.dim, bool) or not isinstance(self.dim, int | np.integer):
            raise InvalidValueError(
                f"{self.kind.value} cone dimension must be an int, got {self.dim!r}"
            )
        object.__setattr__(self, "dim", int(self.dim))
        lowest = 0 if self.kind in (ConeKind.ZERO, ConeKind.NONNEG) else 1
        if self.dim < lowest:
            raise InvalidValueError(
                f"{self.kind.value} cone dimension must be at least {lowest}, got {self.dim}"
            )

    @property
    def size(self) -> int:
        """Length of the cone's slice of ``s`` and ``z``."""
        if self.kind is ConeKind.PSD:
            return self.dim * (self.dim + 1) // 2
        return self.dim


def _as_float_vector(name: str, value: npt.ArrayLike) -> FloatArray:
    try:
        arr = np.array(value, dtype=np.float64)
    except (TypeError, ValueError) as e:
        raise InvalidValueError(f"{name} must be a numeric vector: {e}") from e
    if arr.ndim != 1:
        raise InvalidValueError(f"{name} must be one-dimensional, got shape {arr.shape}")
    bad = np.flatnonzero(~np.isfinite(arr))
    if bad.size:
        raise InvalidValueError(
            f"{name} has {bad.size} non-finite entries (first at index {bad[0]}: {arr[bad[0]]}); "
            "every coefficient must be a finite float"
        )
    arr.setflags(write=False)
    return arr


@dataclass(frozen=True)
class ConicProgram:
    """``minimise cᵀx + offset  s.t.  A x + s = b,  s ∈ K``  (see the module docstring).

    Attributes
    ----------
    c : ndarray, shape (nvar,)
    A : scipy.sparse.csc_matrix, shape (m, nvar)
    b : ndarray, shape (m,)
    cones : tuple of Cone
        Their sizes sum to ``m``; rows of ``A`` and ``b`` belong to the cones in this order.
    offset : float
        Constant added to both objectives.

    Raises
    ------
    InvalidValueError
        On mismatched dimensions or non-finite data; the message names the culprit.
    """

    c: FloatArray
    A: sp.csc_matrix
    b: FloatArray
    cones: tuple[Cone, ...]
    offset: float = 0.0

    def __post_init__(self) -> None:
        c = _as_float_vector("c", self.c)
        b = _as_float_vector("b", self.b)
        if sp.issparse(self.A):
            A = sp.csc_matrix(self.A, dtype=np.float64)
        else:
            try:
                dense = np.asarray(self.A, dtype=np.float64)
            except (TypeError, ValueError) as e:
                raise InvalidValueError(f"A must be a numeric matrix: {e}") from e
            if dense.ndim != 2:
                raise InvalidValueError(f"A must be two-dimensional, got shape {dense.shape}")
            A = sp.csc_matrix(dense)
        if A.shape != (b.size, c.size):
            raise InvalidValueError(
                f"A has shape {A.shape} but b has {b.size} rows and c has {c.size} variables; "
                f"A must be {b.size}×{c.size}"
            )
        if A.nnz and not np.all(np.isfinite(A.data)):
            raise InvalidValueError("A has non-finite entries; every coefficient must be finite")
        A.sort_indices()
        cones = tuple(self.cones)
        for i, k in enumerate(cones):
            if not isinstance(k, Cone):
                raise InvalidValueError(f"cones[{i}] is {k!r}, not a Cone")
        total = sum(k.size for k in cones)
        if total != b.size:
            raise InvalidValueError(
                f"cone sizes sum to {total} but A and b have {b.size} rows; they must agree"
            )
        try:
            offset = float(self.offset)
        except (TypeError, ValueError) as e:
            raise InvalidValueError(f"offset must be a float: {e}") from e
        if not math.isfinite(offset):
            raise InvalidValueError(f"offset must be finite, got {offset}")
        object.__setattr__(self, "c", c)
        object.__setattr__(self, "b", b)
        object.__setattr__(self, "A", A)
        object.__setattr__(self, "cones", cones)
        object.__setattr__(self, "offset", offset)

    @property
    def nvar(self) -> int:
        """Number of variables (length of ``x``)."""
        return int(self.c.size)

    @property
    def nrows(self) -> int:
        """Number of constraint rows (length of ``s`` and ``z``)."""
        return int(self.b.size)

    def cone_slices(self) -> list[slice]:
        """Row slice of each cone, in order."""
        out: list[slice] = []
        start = 0
        for k in self.cones:
            out.append(slice(start, start + k.size))
            start += k.size
        return out

    def cone_counts(self) -> dict[ConeKind, int]:
        """How many cones of each kind (for reports)."""
        counts = dict.fromkeys(ConeKind, 0)
        for k in self.cones:
            counts[k.kind] += 1
        return counts

    def __repr__(self) -> str:
        counts = ", ".join(f"{n} {k.value}" for k, n in self.cone_counts().items() if n)
        return (
            f"ConicProgram(nvar={self.nvar}, nrows={self.nrows}, nnz(A)={self.A.nnz}, "
            f"cones=[{counts}], offset={self.offset:g})"
        )


# ----------------------------------------------------------------------------------------------
# cone membership
# ----------------------------------------------------------------------------------------------


def cone_violation(cones: Sequence[Cone], v: npt.ArrayLike, *, dual: bool = False) -> float:
    """Largest violation of ``v ∈ K`` (or ``v ∈ K*`` when ``dual``), as a non-negative float.

    Per cone: ZERO — ``max |v_i|`` (nothing for the dual, which is free); NONNEG — ``−min v_i``;
    SOC — ``‖u‖₂ − t``; PSD — ``−λ_min(smat(v))``; each clipped below at 0.  The result is the
    maximum over cones, 0 when ``v`` lies in the cone.  PSD blocks of equal order are
    stacked and their eigenvalues computed in one batched call.
    """
    vec = np.asarray(v, dtype=np.float64)
    worst = 0.0
    start = 0
    psd_groups: dict[int, list[int]] = {}
    for k in cones:
        size = k.size
        if size == 0:
            continue
        seg = vec[start : start + size]
        if k.kind is ConeKind.ZERO:
            if not dual:
                worst = max(worst, float(np.max(np.abs(seg))))
        elif k.kind is ConeKind.NONNEG:
            worst = max(worst, float(-np.min(seg)))
        elif k.kind is ConeKind.SOC:
            worst = max(worst, float(np.linalg.norm(seg[1:]) - seg[0]))
        else:
            psd_groups.setdefault(k.dim, []).append(start)
        start += size
    for n, starts in psd_groups.items():
        idx = np.asarray(starts, dtype=np.intp)[:, None] + np.arange(n * (n + 1) // 2)
        eig = np.linalg.eigvalsh(smat(vec[idx]))
        worst = max(worst, float(-np.min(eig[:, 0])))
    return max(worst, 0.0)


# ----------------------------------------------------------------------------------------------
# solutions
# ----------------------------------------------------------------------------------------------


class SolverStatus(Enum):
    """Why the solver stopped, and how to read :class:`ConicSolution`'s vectors."""

    OPTIMAL = "optimal"  #: x, s, z is a checked primal–dual optimal pair
    INFEASIBLE = "infeasible"  #: primal infeasible; z is a certificate (bᵀz < 0, Aᵀz ≈ 0, z ∈ K*)
    UNBOUNDED = "unbounded"  #: dual infeasible; x is a certificate (cᵀx < 0, Ax + s ≈ 0, s ∈ K)
    INACCURATE = "inaccurate"  #: stopped with a point that failed our checks or the solver's own
    TIME_LIMIT = "time_limit"
    ITERATION_LIMIT = "iteration_limit"
    ERROR = "error"  #: the solver crashed or refused the data; see the message


@dataclass(frozen=True)
class Residuals:
    """Residuals recomputed from ``x, s, z`` and the program data (never taken from a solver).

    All are non-negative floats, ``nan`` where the vectors needed are missing.

    Attributes
    ----------
    primal : float
        ``‖Ax + s − b‖∞ / (1 + ‖b‖∞)``.
    dual : float
        ``‖Aᵀz + c‖∞ / (1 + ‖c‖∞)``.
    gap : float
        ``|pobj − dobj| / (1 + |pobj| + |dobj|)``.
    primal_cone : float
        Violation of ``s ∈ K`` (see :func:`cone_violation`) divided by ``1 + ‖b‖∞``, the
        same scale as the primal residual (not ``‖s‖``, which can be huge on badly scaled
        problems and would hide a real violation).
    dual_cone : float
        Violation of ``z ∈ K*`` divided by ``1 + ‖z‖∞``.
    primal_certificate : float
        Only for an unboundedness certificate ``(x, s)``:
        ``‖Ax + s‖∞ ‖c‖∞ / (‖A‖max |cᵀx|)`` (scale-free; small means a good certificate).
    dual_certificate : float
        Only for an infeasibility certificate ``z``: ``‖Aᵀz‖∞ ‖b‖∞ / (‖A‖max |bᵀz|)``.
    """

    primal: float = math.nan
    dual: float = math.nan
    gap: float = math.nan
    primal_cone: float = math.nan
    dual_cone: float = math.nan
    primal_certificate: float = math.nan
    dual_certificate: float = math.nan

    def __repr__(self) -> str:
        parts = [f"{k}={getattr(self, k):.2e}" for k in self.__dataclass_fields__]
        return "Residuals(" + ", ".join(p for p in parts if "nan" not in p) + ")"


def _inf_norm(v: FloatArray) -> float:
    return float(np.max(np.abs(v))) if v.size else 0.0


def compute_residuals(
    prog: ConicProgram,
    x: FloatArray | None,
    s: FloatArray | None,
    z: FloatArray | None,
    *,
    certificate: str | None = None,
) -> Residuals:
    """Recompute the residuals of a candidate solution or certificate.

    Parameters
    ----------
    prog : ConicProgram
    x, s, z : ndarray or None
    certificate : {None, "infeasible", "unbounded"}
        ``None`` computes the optimality residuals; ``"infeasible"`` treats ``z`` as a primal
        infeasibility certificate; ``"unbounded"`` treats ``(x, s)`` as a dual infeasibility
        certificate.

    Returns
    -------
    Residuals
    """
    A, b, c = prog.A, prog.b, prog.c
    amax = _inf_norm(A.data) if A.nnz else 0.0
    if certificate == "infeasible":
        if z is None:
            return Residuals()
        bz = float(b @ z)
        denom = amax * abs(bz)
        cert = _inf_norm(A.T @ z) * _inf_norm(b) / denom if denom > 0 else math.inf
        return Residuals(
            dual_cone=cone_violation(prog.cones, z, dual=True) / (1.0 + _inf_norm(z)),
            dual_certificate=cert,
        )
    if certificate == "unbounded":
        if x is None:
            return Residuals()
        if s is None:
            s = -(A @ x)
        cx = float(c @ x)
        denom = amax * abs(cx)
        cert = _inf_norm(A @ x + s) * _inf_norm(c) / denom if denom > 0 else math.inf
        return Residuals(
            primal_cone=cone_violation(prog.cones, s) / (1.0 + _inf_norm(s)),
            primal_certificate=cert,
        )
    if certificate is not None:
        raise InvalidValueError(
            f"certificate must be None, 'infeasible' or 'unbounded', got {certificate!r}"
        )
    primal = dual = gap = pcone = dcone = math.nan
    pobj = dobj = math.nan
    if x is not None and s is not None:
        primal = _inf_norm(A @ x + s - b) / (1.0 + _inf_norm(b))
        pcone = cone_violation(prog.cones, s) / (1.0 + _inf_norm(b))
    if x is not None:
        pobj = float(c @ x) + prog.offset
    if z is not None:
        dual = _inf_norm(A.T @ z + c) / (1.0 + _inf_norm(c))
        dcone = cone_violation(prog.cones, z, dual=True) / (1.0 + _inf_norm(z))
        dobj = -float(b @ z) + prog.offset
    if math.isfinite(pobj) and math.isfinite(dobj):
        gap = abs(pobj - dobj) / (1.0 + abs(pobj) + abs(dobj))
    return Residuals(primal=primal, dual=dual, gap=gap, primal_cone=pcone, dual_cone=dcone)


@dataclass(frozen=True)
class ConicSolution:
    """What a backend returned, after our own checks.

    Attributes
    ----------
    status : SolverStatus
        How to read ``x, s, z``: an optimal pair, a certificate, or an unchecked point.
    x, s, z : ndarray or None
        Primal variables, primal slacks, dual variables (``z`` in ``K*``).  For INFEASIBLE only
        ``z`` is meaningful; for UNBOUNDED only ``x`` and ``s``.
    primal_objective : float
        ``cᵀx + offset`` (``nan`` when there is no primal point).
    dual_objective : float
        ``−bᵀz + offset`` (``nan`` when there is no dual point).  For a dual-feasible ``z`` it
        is a lower bound on the primal optimum.
    solver : str
        Backend name, e.g. ``"clarabel"``, ``"scs"``, ``"cvxpy:SCS"``.
    solver_status : str
        The backend's own status string, verbatim.
    iterations : int
    solve_time, setup_time : float
        Seconds.
    residuals : Residuals
        Recomputed by us.
    message : str
        One human sentence saying what happened and, if the solve was not trusted, why.
    """

    status: SolverStatus
    x: FloatArray | None
    s: FloatArray | None
    z: FloatArray | None
    primal_objective: float
    dual_objective: float
    solver: str
    solver_status: str
    iterations: int
    solve_time: float
    setup_time: float
    residuals: Residuals = field(default_factory=Residuals)
    message: str = ""

    @property
    def success(self) -> bool:
        """True when ``status`` is OPTIMAL."""
        return self.status is SolverStatus.OPTIMAL

    def __repr__(self) -> str:
        return (
            f"ConicSolution(status={self.status.value}, solver={self.solver!r} "
            f"({self.solver_status}), primal_objective={self.primal_objective:.10g}, "
            f"dual_objective={self.dual_objective:.10g}, iterations={self.iterations}, "
            f"solve_time={self.solve_time:.3g}s, residuals={self.residuals!r}, "
            f"message={self.message!r})"
        )

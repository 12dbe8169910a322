r"""Euclidean projections onto the cones of :mod:`sosrelax.conic`, batched, on any array namespace.

For ``K = K_1 × … × K_p`` the projection acts cone by cone:

* ZERO: :math:`\Pi(v) = 0`; its dual cone is the whole space, :math:`\Pi_{K^*}(v) = v`;
* NONNEG: :math:`\max(v, 0)`;
* SOC :math:`\{(t, u) : \|u\| \le t\}`: :math:`v` if :math:`\|u\| \le t`, 0 if :math:`\|u\| \le -t`,
  else :math:`\tfrac{t + \|u\|}{2} (1, u / \|u\|)`;
* PSD (svec): :math:`\operatorname{svec}(V \max(\Lambda, 0) V^T)` with :math:`\operatorname{smat}(v) = V
  \Lambda V^T`.

PSD blocks are grouped in *size buckets*: every block of a bucket is embedded in the top-left corner
of an ``N × N`` zero matrix (``N`` the largest order in the bucket) and the whole stack is
diagonalised by one batched ``xp.linalg.eigh``.  Zero padding is exact: ``diag(X, 0)`` has the
eigenvalues of ``X`` plus zeros, and its projection is ``diag(Π(X), 0)``.  On a GPU a few large
batched calls beat many small ones, so buckets there merge orders up to a ratio (``bucket_ratio``);
on the CPU the default keeps one bucket per order (no padding work).

All index arrays are built once on the host, vectorised over the blocks of each order, and copied
to the device once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from sosrelax.conic import Cone, ConeKind, svec_indices, svec_scale
from sosrelax.solvers.firstorder._xp import ArrayBackend

__all__ = ["ConeLayout", "PsdBucket", "SocGroup"]


@dataclass(frozen=True)
class SocGroup:
    """Second-order cones of one dimension ``d``: ``rows[i]`` are the rows of cone ``i``."""

    dim: int
    rows: Any  # (B, d) device int array


@dataclass(frozen=True)
class PsdBucket:
    """PSD blocks padded to a common order ``n`` and projected by one batched ``eigh``.

    ``gather`` (B, n·n) indexes the vector extended by one trailing zero (padding reads it),
    ``unscale`` (B, n·n) divides svec entries by their √2 weights; ``dest`` are the vector rows
    written back, ``src`` the flat positions in the projected stack that they read, ``scale``
    the svec weights.
    """

    n: int
    count: int
    gather: Any
    unscale: Any
    dest: Any
    src: Any
    scale: Any


@dataclass(frozen=True)
class ConeLayout:
    """Where every cone lives in a vector of length ``m`` and how to project onto it.

    Attributes
    ----------
    m : int
    zero, nonneg : device int arrays
        Rows of the zero and nonnegative cones.
    soc : tuple of SocGroup
    psd : tuple of PsdBucket
    block : ndarray (host, int)
        For each row, the index of its SOC or PSD cone (rows that must share one scaling
        factor to keep the cone invariant), or ``-1`` for zero and nonnegative rows.
    """

    backend: ArrayBackend
    m: int
    zero: Any
    nonneg: Any
    soc: tuple[SocGroup, ...]
    psd: tuple[PsdBucket, ...]
    block: np.ndarray
    psd_orders: tuple[int, ...]

    @classmethod
    def build(
        cls, cones: Sequence[Cone], backend: ArrayBackend, *, bucket_ratio: float | None = None
    ) -> ConeLayout:
        """Index arrays for ``cones`` on ``backend``.

        ``bucket_ratio`` (≥ 1): PSD orders ``n ≤ ratio · n_min`` share a bucket; default 1.0 on the
        CPU (exact orders), 1.5 on the GPU.
        """
        if bucket_ratio is None:
            bucket_ratio = 1.5 if backend.is_gpu else 1.0
        starts = np.cumsum([0] + [k.size for k in cones])
        m = int(starts[-1])
        block = np.full(m, -1, dtype=np.int64)
        zero: list[np.ndarray] = []
        nonneg: list[np.ndarray] = []
        soc: dict[int, list[int]] = {}
        psd: dict[int, list[int]] = {}
        for i, k in enumerate(cones):
            a, b = int(starts[i]), int(starts[i + 1])
            if b == a:
                continue
            if k.kind is ConeKind.ZERO:
                zero.append(np.arange(a, b))
            elif k.kind is ConeKind.NONNEG:
                nonneg.append(np.arange(a, b))
            elif k.kind is ConeKind.SOC:
                soc.setdefault(k.dim, []).append(a)
                block[a:b] = i
            else:
                psd.setdefault(k.dim, []).append(a)
                block[a:b] = i

        def cat(parts: list[np.ndarray]) -> Any:
            arr = np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)
            return backend.xp.asarray(arr.astype(np.int64))

        soc_groups = tuple(
            SocGroup(d, backend.xp.asarray(np.asarray(st)[:, None] + np.arange(d)))
            for d, st in sorted(soc.items())
        )
        buckets = tuple(
            _bucket(group, psd, m, backend) for group in _group_orders(sorted(psd), bucket_ratio)
        )
        return cls(
            backend=backend,
            m=m,
            zero=cat(zero),
            nonneg=cat(nonneg),
            soc=soc_groups,
            psd=buckets,
            block=block,
            psd_orders=tuple(sorted(psd)),
        )

    # ------------------------------------------------------------------------------------------

    def project(self, v: Any, *, dual: bool = False) -> Any:
        """``Π_K(v)``, or ``Π_{K*}(v)`` when ``dual`` (a new array; ``v`` is not modified)."""
        xp = self.backend.xp
        out = v.copy()
        if not dual and self.zero.size:
            out[self.zero] = 0.0
        if self.nonneg.size:
            out[self.nonneg] = xp.maximum(v[self.nonneg], 0.0)
        for g in self.soc:
            out[g.rows] = _project_soc(xp, v[g.rows])
        if self.psd:
            ext = xp.concatenate([v, xp.zeros(1, dtype=v.dtype)])
            for bk in self.psd:
                out[bk.dest] = _project_psd_bucket(xp, ext, bk)
        return out

    def psd_matvec_bytes(self) -> int:
        """Bytes one projection reads and writes in its PSD stacks (for bandwidth estimates)."""
        total = 0
        for bk in self.psd:
            # gather, eigh input and eigenvectors, reconstruction, scatter: about 6 n² doubles each
            total += 6 * 8 * bk.count * bk.n * bk.n
        return total


def _group_orders(orders: list[int], ratio: float) -> list[list[int]]:
    groups: list[list[int]] = []
    for n in orders:
        if groups and n <= ratio * groups[-1][0]:
            groups[-1].append(n)
        else:
            groups.append([n])
    return groups


def _bucket(orders: list[int], starts: dict[int, list[int]], m: int, be: ArrayBackend) -> PsdBucket:
    N = max(orders)
    gathers: list[np.ndarray] = []
    unscales: list[np.ndarray] = []
    dests: list[np.ndarray] = []
    srcs: list[np.ndarray] = []
    scales: list[np.ndarray] = []
    count = 0
    for n in orders:
        st = np.asarray(starts[n], dtype=np.int64)  # (B,)
        B = st.size
        r, c = svec_indices(n)
        w = svec_scale(n)
        S = r.size
        rows = st[:, None] + np.arange(S)[None, :]  # (B, S) vector rows of each block
        g = np.full((B, N, N), m, dtype=np.int64)  # m = the appended zero
        u = np.zeros((B, N, N))
        g[:, r, c] = rows
        g[:, c, r] = rows
        u[:, r, c] = 1.0 / w
        u[:, c, r] = 1.0 / w
        gathers.append(g.reshape(B, N * N))
        unscales.append(u.reshape(B, N * N))
        dests.append(rows.ravel())
        flat = (np.arange(B)[:, None] + count) * (N * N) + (r * N + c)[None, :]
        srcs.append(flat.ravel())
        scales.append(np.broadcast_to(w, (B, S)).ravel())
        count += B
    return PsdBucket(
        n=N,
        count=count,
        gather=be.xp.asarray(np.concatenate(gathers)),
        unscale=be.asarray(np.concatenate(unscales)),
        dest=be.xp.asarray(np.concatenate(dests)),
        src=be.xp.asarray(np.concatenate(srcs)),
        scale=be.asarray(np.concatenate(scales)),
    )


def _project_soc(xp: Any, V: Any) -> Any:
    t = V[:, 0]
    u = V[:, 1:]
    nu = xp.sqrt(xp.sum(u * u, axis=1))
    inside = nu <= t
    polar = nu <= -t
    coef = 0.5 * (t + nu)
    safe = xp.where(nu > 0, nu, 1.0)
    out = xp.concatenate([coef[:, None], (coef / safe)[:, None] * u], axis=1)
    out = xp.where(inside[:, None], V, out)
    return xp.where(polar[:, None], 0.0, out)


def _project_psd_bucket(xp: Any, ext: Any, bk: PsdBucket) -> Any:
    n = bk.n
    M = (ext[bk.gather] * bk.unscale).reshape(bk.count, n, n)
    lam, V = xp.linalg.eigh(M)
    pos = xp.maximum(lam, 0.0)
    P = (V * pos[:, None, :]) @ xp.swapaxes(V, 1, 2)
    return P.reshape(-1)[bk.src] * bk.scale

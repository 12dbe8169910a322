"""Batch functions and index maps of the affine ONNX operators.

A batch function ``f(X, bias)`` maps a batch ``(m, *shape)`` (the batch axis in front of the model's
own axes, which keep their ONNX meaning) affinely; ``bias=False`` switches the constants off, so
that ``f(·, False)`` is the linear part.  Sliding windows (convolution, pooling) are index maps: for
every output position, the flat input position under each kernel offset, ``-1`` in the padding.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from sosrelax.errors import ParseError
from sosrelax.nn.lower.builder import BatchFn

__all__ = ["gemm_fn", "lift_rank", "matmul_fn", "pool_geometry", "window_index"]


def lift_rank(X: np.ndarray, rank: int) -> np.ndarray:
    """A batch ``(m, *shape)`` with singleton axes after the batch axis up to ``rank`` model axes, so
    that numpy broadcasts the model axes against a constant of that rank as ONNX does."""
    k = rank - (X.ndim - 1)
    return X.reshape(X.shape[0], *(1,) * k, *X.shape[1:]) if k > 0 else X


def matmul_fn(c: np.ndarray, data_first: bool, rank: int) -> BatchFn:
    """``x @ c`` (``data_first``) or ``c @ x`` with ``numpy.matmul`` semantics per sample ``x`` of
    rank ``rank``, applied to a batch."""
    if rank == 1 and c.ndim == 1:  # the dot product, either way round
        return lambda X, bias: X @ c
    if rank == 1:  # x is a vector: x @ c = (x[None, :] @ c)[..., 0, :]; c @ x = (c @ x[:, None])[..., 0]
        lead = (1,) * (c.ndim - 2)
        if data_first:
            return lambda X, bias: np.matmul(X.reshape(X.shape[0], *lead, 1, -1), c)[..., 0, :]
        return lambda X, bias: np.matmul(c, X.reshape(X.shape[0], *lead, -1, 1))[..., 0]
    if c.ndim == 1:  # c is a vector: numpy promotes it and drops the added axis, batch axes stay
        return (lambda X, bias: np.matmul(X, c)) if data_first else (lambda X, bias: np.matmul(c, X))
    if data_first:
        return lambda X, bias: np.matmul(lift_rank(X, c.ndim), c)
    return lambda X, bias: np.matmul(c, lift_rank(X, c.ndim))


def gemm_fn(ins: list[str], current: str, consts: dict[str, np.ndarray], a: dict[str, Any], rank: int,
            where: str) -> BatchFn:
    """``Y = alpha·A'·B' + beta·C`` (``A' = Aᵀ`` if ``transA``, ``B'`` likewise) with the data tensor
    ``current`` as ``A``, ``B`` or ``C``; the other operands are constants."""
    alpha = float(a.get("alpha", 1.0))
    beta = float(a.get("beta", 1.0))
    ta, tb = bool(a.get("transA", 0)), bool(a.get("transB", 0))
    if len(ins) < 2:
        raise ParseError(f"{where}: Gemm needs the operands A and B")
    pos = ins.index(current)
    if pos < 2 and rank != 2:
        raise ParseError(f"{where}: Gemm needs a 2-D operand, the data tensor has rank {rank}")

    def const(i: int) -> np.ndarray | None:
        return consts[ins[i]].astype(np.float64) if len(ins) > i and ins[i] else None

    def t2(M: np.ndarray, flag: bool) -> np.ndarray:  # transpose the model axes of a batch
        return np.swapaxes(M, -1, -2) if flag else M

    cm = const(2) if pos != 2 else None
    if pos == 2:  # the data is C: beta·X + alpha·A'·B', broadcast to the shape of A'·B'
        am, bm = const(0), const(1)
        assert am is not None and bm is not None
        ab = alpha * (t2(am, ta) @ t2(bm, tb))
        zero = np.zeros(ab.shape)
        return lambda X, bias: beta * lift_rank(X, 2) + (ab if bias else zero)
    other = const(1 - pos)
    assert other is not None
    if other.ndim != 2:
        raise ParseError(f"{where}: Gemm needs 2-D operands, {ins[1 - pos]!r} has rank {other.ndim}")
    if pos == 0:
        bm = t2(other, tb)

        def lin(X: np.ndarray) -> np.ndarray:
            return alpha * np.matmul(t2(X, ta), bm)
    else:
        am = t2(other, ta)

        def lin(X: np.ndarray) -> np.ndarray:
            return alpha * np.matmul(am, t2(X, tb))

    def gemm(X: np.ndarray, bias: bool) -> np.ndarray:
        y = lin(X)
        if cm is not None:
            y = y + (beta * cm if bias else np.zeros(cm.shape))
        return y
    return gemm


def _text(v: Any) -> str:
    return v.decode() if isinstance(v, bytes) else str(v)


def pool_geometry(a: dict[str, Any], spatial: Sequence[int], kernel: Sequence[int], where: str,
                  *, ceil_mode: bool = False) -> tuple[list[int], list[int], list[int], list[int], list[int]]:
    """``(strides, dilations, pads_begin, pads_end, output size)`` of a sliding window over
    ``spatial`` with ``kernel``, from the ONNX attributes ``strides``, ``dilations``, ``pads`` and
    ``auto_pad`` (``NOTSET``, ``VALID``, ``SAME_UPPER``, ``SAME_LOWER``) and ``ceil_mode``."""
    nd = len(spatial)
    strides = [int(v) for v in a.get("strides", [1] * nd)]
    dil = [int(v) for v in a.get("dilations", [1] * nd)]
    if len(strides) != nd or len(dil) != nd or len(kernel) != nd:
        raise ParseError(f"{where}: strides, dilations and kernel must have {nd} entries (spatial axes)")
    auto = _text(a.get("auto_pad", "NOTSET"))
    ext = [(k - 1) * d + 1 for k, d in zip(kernel, dil, strict=True)]
    if auto in ("SAME_UPPER", "SAME_LOWER"):
        out = [-(-n // s) for n, s in zip(spatial, strides, strict=True)]
        total = [max(0, (o - 1) * s + e - n) for o, s, e, n in zip(out, strides, ext, spatial, strict=True)]
        small = [t // 2 for t in total]
        begin = small if auto == "SAME_UPPER" else [t - s for t, s in zip(total, small, strict=True)]
        end = [t - b for t, b in zip(total, begin, strict=True)]
        return strides, dil, begin, end, out
    if auto == "VALID":
        begin, end = [0] * nd, [0] * nd
    elif auto == "NOTSET":
        p = [int(v) for v in a.get("pads", [0] * (2 * nd))]
        if len(p) != 2 * nd:
            raise ParseError(f"{where}: pads must have {2 * nd} entries, got {len(p)}")
        begin, end = p[:nd], p[nd:]
    else:
        raise ParseError(f"{where}: auto_pad={auto!r} is not an ONNX padding mode")
    out = []
    for n, s, e, b, en in zip(spatial, strides, ext, begin, end, strict=True):
        span = n + b + en - e
        o = (-(-span // s) if ceil_mode else span // s) + 1
        if ceil_mode and (o - 1) * s >= n + b:  # the last window must start inside the input
            o -= 1
        out.append(o)
    if any(o < 1 for o in out):
        raise ParseError(f"{where}: the window does not fit the input (output size {out})")
    return strides, dil, begin, end, out


def window_index(spatial: Sequence[int], kernel: Sequence[int], strides: Sequence[int],
                 dil: Sequence[int], begin: Sequence[int], out: Sequence[int]) -> np.ndarray:
    """``(prod(out), prod(kernel))``: the flat spatial input position under each kernel offset of each
    output position, ``-1`` where the window lies in the padding."""
    nd = len(spatial)
    o_grid = np.stack(np.meshgrid(*[np.arange(o) for o in out], indexing="ij"), -1).reshape(-1, nd)
    k_grid = np.stack(np.meshgrid(*[np.arange(k) for k in kernel], indexing="ij"), -1).reshape(-1, nd)
    pos = (o_grid[:, None, :] * np.asarray(strides) - np.asarray(begin)
           + k_grid[None, :, :] * np.asarray(dil))  # (O, K, nd)
    inside = np.all((pos >= 0) & (pos < np.asarray(spatial)), axis=-1)
    flat = np.zeros(pos.shape[:2], dtype=np.int64)
    for ax in range(nd):
        flat = flat * int(spatial[ax]) + np.clip(pos[..., ax], 0, int(spatial[ax]) - 1)
    return np.where(inside, flat, -1)

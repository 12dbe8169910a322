"""Elementary float64 operations of the proof-tree checker with a known direction of rounding."""

from __future__ import annotations

import numpy as np

__all__ = ["bdot", "down", "rdot", "up"]


def down(x: np.ndarray) -> np.ndarray:
    """The next float below (a computed value rounded to nearest is at most one ulp above the exact one
    after the error terms the caller subtracted; this step makes the result a strict lower bound)."""
    return np.nextafter(x, -np.inf)


def up(x: np.ndarray) -> np.ndarray:
    """The next float above (see :func:`down`)."""
    return np.nextafter(x, np.inf)


def rdot(x: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Row-wise dot product ``out[r] = Σ_n x[r, n] v[r, n]``."""
    return np.einsum("ij,ij->i", x, v)


def bdot(x: np.ndarray, v: np.ndarray) -> np.ndarray:
    """``out[b, r] = Σ_n x[b, r, n] v[b, n]`` (batched matrix-vector product)."""
    return np.matmul(x, v[:, :, None])[:, :, 0]

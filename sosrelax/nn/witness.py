"""Counterexamples confirmed: a float candidate counts only after the exact forward pass agrees.

A candidate input ``x`` of a disjunct is re-executed through the IR in exact rational arithmetic (the
disjunct, box included, must hold there) and, when the model file is known, through onnxruntime (every
atom must hold within :data:`~sosrelax.nn.rungs.ONNX_TOLERANCE`, as VNN-COMP checks witnesses).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from fractions import Fraction
from pathlib import Path

import numpy as np

from sosrelax.nn.ir import Network
from sosrelax.nn.rungs import ONNX_TOLERANCE
from sosrelax.nn.vnnlib import Disjunct

__all__ = ["Witnesses", "confirm_counterexample"]

Witness = tuple[tuple[float, ...], tuple[float, ...]]


def confirm_counterexample(
    net: Network, d: Disjunct, x: np.ndarray, onnx_path: str | Path | None
) -> tuple[tuple[float, ...], tuple[float, ...]] | None:
    """Re-execute ``x`` exactly through the IR and through onnxruntime; the pair if both agree."""
    if d.poly:
        from sosrelax.nn.spec_poly import confirm_poly

        return confirm_poly(net, d, x, onnx_path)
    xq = [Fraction(float(v)) for v in x]
    yq = net.forward_exact(xq)
    if not d.holds(xq, yq):
        return None
    y = tuple(float(v) for v in yq)
    if onnx_path is not None:
        from sosrelax.nn.onnx_loader import onnx_forward

        yo = onnx_forward(onnx_path, np.asarray(x, dtype=np.float64), net.input_shape)
        for a in d.atoms:
            val = sum(float(v) * float(x[i]) for i, v in a.x) + sum(float(v) * yo[j] for j, v in a.y)
            if val + float(a.const) < -ONNX_TOLERANCE:
                return None
    return tuple(float(v) for v in x), y


class Witnesses:
    """The confirmed counterexamples of a search over some disjuncts, and the ``confirm(k, x)``
    callback the searches call with a candidate for their ``k``-th disjunct."""

    def __init__(self, net: Network, disjuncts: Sequence[Disjunct], onnx_path: str | Path | None) -> None:
        self.net, self.disjuncts, self.onnx_path = net, list(disjuncts), onnx_path
        self.found: list[Witness] = []

    def confirm(self, k: int, x: np.ndarray) -> bool:
        """True (and the witness kept) when ``x`` satisfies disjunct ``k`` exactly (and in onnxruntime)."""
        cex = confirm_counterexample(self.net, self.disjuncts[k], x, self.onnx_path)
        if cex is not None:
            self.found.append(cex)
        return cex is not None

    def for_disjunct(self, k: int) -> Callable[[np.ndarray], bool]:
        """``confirm(x)`` for disjunct ``k`` alone."""
        return lambda x: self.confirm(k, x)

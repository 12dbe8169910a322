"""Counterexamples confirmed: a float candidate counts only after the exact forward pass agrees.

A candidate input ``x`` of a disjunct is re-executed through the IR in exact rational arithmetic (the
disjunct, box included, must hold there) and, when the model file is known, through onnxruntime (every
atom must hold within :data:`~sosrelax.nn.rungs.ONNX_TOLERANCE`, as VNN-COMP checks witnesses).

A network with sigmoid or tanh layers has no exact rational forward pass (their values at rational
points are irrational): the outputs are enclosed in intervals by ball arithmetic (python-flint ``arb``,
:func:`interval_forward`), and the candidate counts only when every atom holds for every point of the
enclosure (the box is still checked exactly).  So is a network with an output softmax
(``Network.output_softmax``): its outputs ``1 / Σ_k exp(z_k - z_i)`` are balls too.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from sosrelax.nn.ir import Network
from sosrelax.nn.rungs import ONNX_TOLERANCE
from sosrelax.nn.vnnlib import Disjunct

__all__ = ["Witnesses", "confirm_counterexample", "interval_forward"]

Witness = tuple[tuple[float, ...], tuple[float, ...]]

#: Working precision (bits) of the ball arithmetic of :func:`interval_forward`.
INTERVAL_PRECISION = 128


def interval_forward(net: Network, x: Sequence[Fraction | float]) -> list[Any]:
    """Rigorous enclosures (``flint.arb`` balls) of the outputs ``f(x)`` at the rational point ``x``.

    Every weight is taken as its exact float64 value; each operation of ball arithmetic returns a ball
    containing the exact result, so the true output lies in each returned ball (whatever the activations).
    """
    import flint

    old = flint.ctx.prec
    flint.ctx.prec = INTERVAL_PRECISION
    try:
        a = [flint.arb(flint.fmpq(Fraction(v).numerator, Fraction(v).denominator)) for v in x]
        acts = net.hidden_activations
        for k, (w, b) in enumerate(zip(net.weights, net.biases, strict=True)):
            z = [sum((flint.arb(float(c)) * v for c, v in zip(row, a, strict=True) if c), flint.arb(float(bi)))
                 for row, bi in zip(w, b, strict=True)]
            if k == len(acts):
                if net.output_softmax:  # p_i = 1 / Σ_k exp(z_k - z_i): no cancellation, every ball small
                    return [1 / sum(((zk - zi).exp() for zk in z), flint.arb(0)) for zi in z]
                return z
            a = [_activate_ball(acts[k], v) for v in z]
        raise AssertionError("unreachable")  # pragma: no cover
    finally:
        flint.ctx.prec = old


def _activate_ball(kind: str, v: Any) -> Any:
    if kind == "sigmoid":
        return 1 / (1 + (-v).exp())
    if kind == "tanh":
        return v.tanh()
    if kind in ("sign", "step", "eq"):  # a ball holding 0 but not exactly 0 gets a ball over every value
        import flint

        exact0 = v.is_exact() and v == 0
        pos, neg = bool(v > 0), bool(v < 0)
        if kind == "eq":
            return flint.arb(1 if exact0 else 0) if (exact0 or pos or neg) else flint.arb(0.5, 0.5)
        if kind == "step":
            return flint.arb(1 if pos else 0) if (exact0 or pos or neg) else flint.arb(0.5, 0.5)
        return flint.arb(1 if pos else -1 if neg else 0) if (exact0 or pos or neg) else flint.arb(0, 1)
    return v.max(0 * v)  # relu (a mixed network)


def confirm_counterexample(
    net: Network, d: Disjunct, x: np.ndarray, onnx_path: str | Path | None
) -> tuple[tuple[float, ...], tuple[float, ...]] | None:
    """Re-execute ``x`` exactly through the IR and through onnxruntime; the pair if both agree."""
    if d.poly:
        from sosrelax.nn.spec_poly import confirm_poly

        return confirm_poly(net, d, x, onnx_path)
    xq = [Fraction(float(v)) for v in x]
    if net.all_relu and not net.output_softmax:
        yq = net.forward_exact(xq)
        if not d.holds(xq, yq):
            return None
        y = tuple(float(v) for v in yq)
    else:
        if not all(lo <= v <= hi for v, lo, hi in zip(xq, d.lo, d.hi, strict=True)):
            return None
        yb = interval_forward(net, xq)
        if not all(_atom_holds_everywhere(a, xq, yb) for a in d.atoms):
            return None
        y = tuple(float(v.mid()) for v in yb)
    if onnx_path is not None:
        from sosrelax.nn.onnx_loader import onnx_forward

        yo = onnx_forward(onnx_path, np.asarray(x, dtype=np.float64), net.input_shape)
        for a in d.atoms:
            val = sum(float(v) * float(x[i]) for i, v in a.x) + sum(float(v) * yo[j] for j, v in a.y)
            if val + float(a.const) < -ONNX_TOLERANCE:
                return None
    return tuple(float(v) for v in x), y


def _atom_holds_everywhere(a: Any, xq: list[Fraction], yb: list[Any]) -> bool:
    """The linear atom ``a`` holds at ``xq`` for every output in the balls ``yb``."""
    import flint

    old = flint.ctx.prec
    flint.ctx.prec = INTERVAL_PRECISION
    try:
        def q(v: Fraction) -> Any:
            return flint.arb(flint.fmpq(v.numerator, v.denominator))

        val = q(sum((c * xq[i] for i, c in a.x), Fraction(0)) + a.const)
        for j, c in a.y:
            val = val + q(c) * yb[j]
        return bool(val > 0) if a.strict else bool(val >= 0)
    finally:
        flint.ctx.prec = old


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

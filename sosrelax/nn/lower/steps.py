"""Piecewise-constant operators of the chain reader: ``Sign``, comparisons with a constant, ``Not``,
``Where`` with constant branches, ``Cast``.

Each is written with affine maps and the step activations of :data:`sosrelax.nn.ir.STEPS` — ``sign``,
``step(z) = [z > 0]`` and ``eq(z) = [z = 0]`` — exactly, for every real input (booleans are 0 and 1):

========================  ===========================================
``Sign(X)``               ``sign(X)``
``Greater(X, c)``         ``step(X - c)``  (``Greater(c, X)``: ``step(c - X)``)
``Less(X, c)``            ``step(c - X)``  (``Less(c, X)``: ``step(X - c)``)
``GreaterOrEqual(X, c)``  ``1 - step(c - X)``  (and the mirror images)
``LessOrEqual(X, c)``     ``1 - step(X - c)``
``Equal(X, c)``           ``eq(X - c)``
``Not(B)``                ``1 - B``
``Where(B, a, b)``        ``b + (a - b) B`` for constant ``a``, ``b``
``Cast(X)``               ``X`` to a float type or from a boolean; ``1 - eq(X)`` to ``bool``
========================  ===========================================

The search bounds a step by its least and largest value on the pre-activation's interval and splits the
pre-activation at 0 (:mod:`sosrelax.nn.search.relu_bab`, input splitting with few inputs); the proof-tree
checker bounds it the same way (:func:`sosrelax.certificate.proof_tree.smooth.step_bounds`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from sosrelax.errors import ParseError
from sosrelax.nn.lower.linear import lift_rank

__all__ = ["STEP_OPERATORS", "step_lowering"]

#: ONNX operators the chain reader lowers here.
STEP_OPERATORS = ("Cast", "Equal", "Greater", "GreaterOrEqual", "Less", "LessOrEqual", "Not", "Sign", "Where")

#: ``Cast`` targets (``onnx.TensorProto`` codes) that keep every value: FLOAT, FLOAT16, DOUBLE, BFLOAT16.
_FLOAT_CODES = (1, 10, 11, 16)
_BOOL = 9

AffineFn = Callable[[np.ndarray, bool], np.ndarray]
#: One piece: an activation name, or an affine function ``f(X, bias)`` of a batch ``(m, *shape)``.
Piece = str | AffineFn


def _minus(c: np.ndarray, data_first: bool) -> AffineFn:
    """``X - c`` (``data_first``) or ``c - X``."""
    zero = np.zeros(c.shape)
    if data_first:
        return lambda X, bias: lift_rank(X, c.ndim) - (c if bias else zero)
    return lambda X, bias: (c if bias else zero) - lift_rank(X, c.ndim)


def _one_minus(X: np.ndarray, bias: bool) -> np.ndarray:
    return (1.0 if bias else 0.0) - X


def step_lowering(op: str, ins: list[str], current: str, consts: dict[str, np.ndarray], a: dict[str, Any],
                  where: str) -> list[Piece]:
    """The pieces (affine functions and step activations, in order) of one node whose data operand is
    ``current`` and whose other operands are the constants ``consts``; a :class:`ParseError` naming the
    node for a form that is not piecewise constant with finitely many pieces or not affine in the data."""
    if op == "Sign":
        return ["sign"]
    if op == "Not":
        return [_one_minus]
    if op == "Cast":
        to = int(a.get("to", 0))
        if to in _FLOAT_CODES:
            return []
        if to == _BOOL:
            return ["eq", _one_minus]
        raise ParseError(f"{where}: Cast of the data to an integer type (code {to}) is not supported; only to "
                         "float types and bool")
    if op == "Where":
        if len(ins) != 3 or ins[0] != current:
            raise ParseError(f"{where}: Where(condition, a, b) is supported with the data as the condition and "
                             "constant branches (a data tensor in a branch multiplies data tensors)")
        ca = consts[ins[1]].astype(np.float64)
        cb = consts[ins[2]].astype(np.float64)
        diff = ca - cb
        rank = max(ca.ndim, cb.ndim)
        zero = np.zeros(cb.shape)
        return [lambda X, bias: lift_rank(X, rank) * diff + (cb if bias else zero)]
    if len(ins) != 2:
        raise ParseError(f"{where}: expected two operands, got {len(ins)}")
    first = ins[0] == current
    c = consts[ins[1] if first else ins[0]].astype(np.float64)
    if op == "Equal":
        return [_minus(c, True), "eq"]
    # data > c is step(X - c); with the operands swapped, or for <, it is step(c - X)
    greater = (op in ("Greater", "GreaterOrEqual")) == first
    if op in ("Greater", "Less"):
        return [_minus(c, greater), "step"]
    # >= and <= are the negations of the strict comparison the other way round
    return [_minus(c, not greater), "step", _one_minus]

"""Exact lowering of ONNX graphs of piecewise-linear operators into the affine/ReLU network IR.

:mod:`~sosrelax.nn.lower.builder` grows the ReLU layers, :mod:`~sosrelax.nn.lower.ops` holds one rule
per operator, :mod:`~sosrelax.nn.lower.graph` walks a graph, :mod:`~sosrelax.nn.lower.combine` puts
several networks side by side (VNN-LIB 2.0 properties over several networks).
"""

from sosrelax.nn.lower.builder import Builder, Expr
from sosrelax.nn.lower.graph import Lowered, lower_model
from sosrelax.nn.lower.ops import NOT_PIECEWISE_LINEAR, OPERATORS

__all__ = ["NOT_PIECEWISE_LINEAR", "OPERATORS", "Builder", "Expr", "Lowered", "lower_model"]

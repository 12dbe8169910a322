"""Chained test problems of Waki, Kim, Kojima and Muramatsu (SIAM J. Optim. 17 (2006) 218–242), §6.

The definitions live in :mod:`sosrelax.problems` (with the formulas and known optima in their docstrings); this
module keeps the names the tests use.
"""

from __future__ import annotations

from sosrelax.problems import (
    broyden_tridiagonal,
    chained_singular,
    chained_wood,
    generalized_rosenbrock,
)

rosenbrock = generalized_rosenbrock

__all__ = ["broyden_tridiagonal", "chained_singular", "chained_wood", "generalized_rosenbrock", "rosenbrock"]

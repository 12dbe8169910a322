"""Chained test problems of Waki, Kim, Kojima and Muramatsu (SIAM J. Optim. 17 (2006) 218–242), section 6.

Indices below are 0-based; the paper's are 1-based.
"""

from __future__ import annotations

import sosrelax as sr


def rosenbrock(n: int) -> sr.Problem:
    """Generalized Rosenbrock ``1 + Σ_{i≥2} [100(x_i − x_{i−1}²)² + (1 − x_i)²]``; minimum 1 at x = 1."""
    x = sr.variables("x", n)
    return sr.Problem(minimize=1 + sum(100 * (x[i] - x[i - 1] ** 2) ** 2 + (1 - x[i]) ** 2 for i in range(1, n)))


def broyden_tridiagonal(n: int) -> sr.Problem:
    """Broyden tridiagonal ``Σ_i ((3 − 2x_i) x_i − x_{i−1} − 2x_{i+1} + 1)²`` (x_0 = x_{n+1} = 0); minimum 0."""
    x = sr.variables("x", n)
    f = 0
    for i in range(n):
        t = (3 - 2 * x[i]) * x[i] + 1
        if i > 0:
            t = t - x[i - 1]
        if i < n - 1:
            t = t - 2 * x[i + 1]
        f = f + t**2
    return sr.Problem(minimize=f)


def chained_singular(n: int) -> sr.Problem:
    """Chained singular function (Conn, Gould, Toint 1988), as defined in Waki et al. (2006), eq. (6.2):
    ``Σ_{i ∈ J} [(x_i + 10x_{i+1})² + 5(x_{i+2} − x_{i+3})² + (x_{i+1} − 2x_{i+2})⁴ + 10(x_i − 10x_{i+3})⁴]``,
    ``J = {1, 3, 5, …, n − 3}`` (1-based), ``n`` a multiple of 4; minimum 0 at x = 0."""
    x = sr.variables("x", n)
    f = 0
    for i in range(0, n - 3, 2):
        f = f + (x[i] + 10 * x[i + 1]) ** 2 + 5 * (x[i + 2] - x[i + 3]) ** 2 \
            + (x[i + 1] - 2 * x[i + 2]) ** 4 + 10 * (x[i] - 10 * x[i + 3]) ** 4
    return sr.Problem(minimize=f)


def chained_wood(n: int) -> sr.Problem:
    """Chained Wood (Waki et al. 2006, eq. (6.3)): ``1 + Σ_{i ∈ J} [100(x_{i+1} − x_i²)² + (1 − x_i)²
    + 90(x_{i+3} − x_{i+2}²)² + (1 − x_{i+2})² + 10(x_{i+1} + x_{i+3} − 2)² + 0.1(x_{i+1} − x_{i+3})²]``,
    ``J = {1, 3, 5, …, n − 3}``, ``n`` a multiple of 4; minimum 1 at x = 1."""
    x = sr.variables("x", n)
    f = 1
    for i in range(0, n - 3, 2):
        f = f + 100 * (x[i + 1] - x[i] ** 2) ** 2 + (1 - x[i]) ** 2 + 90 * (x[i + 3] - x[i + 2] ** 2) ** 2 \
            + (1 - x[i + 2]) ** 2 + 10 * (x[i + 1] + x[i + 3] - 2) ** 2 + 0.1 * (x[i + 1] - x[i + 3]) ** 2
    return sr.Problem(minimize=f)

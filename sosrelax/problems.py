"""Test problems from the literature, with their published values.

Used by the test suite, the golden proofs and the reproduction scripts, and handy for users who want the
classical fixtures of polynomial optimisation (as GloptiPoly and SumOfSquares.jl ship them).

References
----------
Six-hump camel: L. C. W. Dixon, G. P. Szegő, "Towards global optimisation 2" (1978).
J. B. Lasserre, "Global optimization with polynomials and the problem of moments", SIAM J. Optim. 11 (2001).
D. Henrion, J. B. Lasserre, "GloptiPoly: global optimization over polynomials with Matlab and SeDuMi",
ACM TOMS 29 (2003).  C. A. Floudas et al., "Handbook of test problems in local and global optimization" (1999).
Motzkin: T. S. Motzkin, "The arithmetic-geometric inequality" (1967).
Chained problems: H. Waki, S. Kim, M. Kojima, M. Muramatsu, "Sums of squares and semidefinite program relaxations
for polynomial optimization problems with structured sparsity", SIAM J. Optim. 17 (2006) 218–242, §6; the chained
singular function is from A. R. Conn, N. I. M. Gould, Ph. L. Toint, "Testing a class of methods for solving
minimization problems with simple bounds on the variables", Math. Comp. 50 (1988).
"""

from __future__ import annotations

from collections.abc import Sequence

from sosrelax.poly import Polynomial, variables
from sosrelax.problem import Problem, hypercube

__all__ = [
    "C5_EDGES",
    "K3_EDGES",
    "broyden_tridiagonal",
    "camel",
    "chained_singular",
    "chained_wood",
    "floudas46",
    "generalized_rosenbrock",
    "gloptipoly_qp",
    "maxcut",
    "motzkin",
]

#: Edges of the 5-cycle and of the triangle.
C5_EDGES = [(i, (i + 1) % 5) for i in range(5)]
K3_EDGES = [(0, 1), (1, 2), (0, 2)]


def camel() -> Problem:
    """Six-hump camel: minimum −1.0316284535 at ±(0.0898420131, −0.7126564030); exact at level 3."""
    x, y = variables("x y")
    return Problem(minimize=4 * x**2 + x * y - 4 * y**2 - 2.1 * x**4 + 4 * y**4 + x**6 / 3)


def floudas46() -> Problem:
    """Lasserre (2001) Ex. 5 = Floudas §4.6: minimum −5.5080133 at (2.3295, 3.1785); levels 2, 3 give
    −6.6667, −5.5080."""
    x1, x2 = variables("x1 x2")
    return Problem(
        minimize=-x1 - x2,
        subject_to=[
            x2 <= 2 * x1**4 - 8 * x1**3 + 8 * x1**2 + 2,
            x2 <= 4 * x1**4 - 32 * x1**3 + 88 * x1**2 - 96 * x1 + 36,
            x1 * (3 - x1) >= 0,
            x2 * (4 - x2) >= 0,
        ],
    )


def gloptipoly_qp() -> Problem:
    """The nonconvex QP of GloptiPoly (Floudas §4.4): minimum −4 at (0.5, 0, 3) and (2, 0, 0); levels 1–4
    give −6.0000, −5.6923, −4.0685, −4.0000 (published to four decimals)."""
    x1, x2, x3 = variables("x1 x2 x3")
    return Problem(
        minimize=-2 * x1 + x2 - x3,
        subject_to=[
            24 - 20 * x1 + 9 * x2 - 13 * x3 + 4 * x1**2 - 4 * x1 * x2 + 4 * x1 * x3
            + 2 * x2**2 - 2 * x2 * x3 + 2 * x3**2 >= 0,
            x1 + x2 + x3 <= 4,
            3 * x2 + x3 <= 6,
            x1 >= 0, x1 <= 2, x2 >= 0, x3 >= 0, x3 <= 3,
        ],
    )  # fmt: skip


def maxcut(
    n: int, edges: Sequence[tuple[int, int]], weights: Sequence[float] | None = None
) -> Problem:
    """MaxCut: maximise Σ w_ij (1 − v_i v_j)/2 over v ∈ {−1, 1}ⁿ (variables v0 … v{n−1}).

    C5: Shor's bound (25 + 5√5)/8, level 2 gives 4 = the maximum; K3: 2.25 and 2.
    """
    v = variables("v", n)
    w = [1.0] * len(edges) if weights is None else list(weights)
    cut: Polynomial = sum(
        ((wij * (1 - v[i] * v[j]) / 2) for (i, j), wij in zip(edges, w, strict=True)),
        Polynomial.zero(),
    )
    return Problem(maximize=cut, subject_to=hypercube(v), variables=[f"v{i}" for i in range(n)])


def motzkin() -> Problem:
    """The Motzkin polynomial: nonnegative (minimum 0 at |x| = |y| = 1) but not a sum of squares, so no level
    of the plain SOS hierarchy gives a lower bound."""
    x, y = variables("x y")
    return Problem(minimize=x**4 * y**2 + x**2 * y**4 - 3 * x**2 * y**2 + 1)


# ---------------------------------------------------------------------------------------------------------------
# chained problems of Waki, Kim, Kojima and Muramatsu (2006), §6: each term couples a few consecutive variables, so
# the correlative sparsity graph is a band and the sparse level-2 relaxation has n − O(1) small cliques.  Indices
# in the code are 0-based (variables x0 … x{n−1}); the formulas in the docstrings are 1-based, as in the paper.


def _chain_length(n: int, least: int, name: str) -> None:
    if not isinstance(n, int) or n < least:
        raise ValueError(f"{name}(n) needs an integer n >= {least}, got {n!r}")


def generalized_rosenbrock(n: int) -> Problem:
    """Generalized Rosenbrock function ``1 + Σ_{i=2}^{n} [100(x_i − x_{i−1}²)² + (1 − x_i)²]``.

    Minimum 1 at ``x = (±1, 1, …, 1)`` (``x_1`` enters only through ``x_1²``).  Cliques ``{x_{i−1}, x_i}``.
    """
    _chain_length(n, 2, "generalized_rosenbrock")
    x = variables("x", n)
    return Problem(
        minimize=1 + sum(100 * (x[i] - x[i - 1] ** 2) ** 2 + (1 - x[i]) ** 2 for i in range(1, n)),
        variables=[f"x{i}" for i in range(n)],
    )


def broyden_tridiagonal(n: int) -> Problem:
    """Broyden tridiagonal function ``Σ_{i=1}^{n} ((3 − 2x_i) x_i − x_{i−1} − 2x_{i+1} + 1)²`` with
    ``x_0 = x_{n+1} = 0``.

    Minimum 0 (a sum of squares of a system of equations that has real solutions).  Cliques
    ``{x_{i−1}, x_i, x_{i+1}}``.
    """
    _chain_length(n, 2, "broyden_tridiagonal")
    x = variables("x", n)
    f: Polynomial = Polynomial.zero()
    for i in range(n):
        t = (3 - 2 * x[i]) * x[i] + 1
        if i > 0:
            t = t - x[i - 1]
        if i < n - 1:
            t = t - 2 * x[i + 1]
        f = f + t**2
    return Problem(minimize=f, variables=[f"x{i}" for i in range(n)])


def chained_singular(n: int) -> Problem:
    """Chained singular function (Conn, Gould, Toint 1988) as used by Waki et al. (2006):
    ``Σ_{i ∈ J} [(x_i + 10x_{i+1})² + 5(x_{i+2} − x_{i+3})² + (x_{i+1} − 2x_{i+2})⁴ + 10(x_i − 10x_{i+3})⁴]``,
    ``J = {1, 3, 5, …, n − 3}``, ``n`` a multiple of 4.

    Minimum 0 at ``x = 0``, where the Hessian is singular (hence the name): the relaxation is exact but the SDP
    is degenerate, which makes it a hard test of solver accuracy.  The csp graph of each summand is a 4-cycle;
    its chordal extension gives cliques of 3 variables.
    """
    _chain_length(n, 4, "chained_singular")
    if n % 4:
        raise ValueError(f"chained_singular(n) needs n a multiple of 4, got {n}")
    x = variables("x", n)
    f: Polynomial = Polynomial.zero()
    for i in range(0, n - 3, 2):
        f = (
            f
            + (x[i] + 10 * x[i + 1]) ** 2
            + 5 * (x[i + 2] - x[i + 3]) ** 2
            + (x[i + 1] - 2 * x[i + 2]) ** 4
            + 10 * (x[i] - 10 * x[i + 3]) ** 4
        )
    return Problem(minimize=f, variables=[f"x{i}" for i in range(n)])


def chained_wood(n: int) -> Problem:
    """Chained Wood function ``1 + Σ_{i ∈ J} [100(x_{i+1} − x_i²)² + (1 − x_i)² + 90(x_{i+3} − x_{i+2}²)²
    + (1 − x_{i+2})² + 10(x_{i+1} + x_{i+3} − 2)² + 0.1(x_{i+1} − x_{i+3})²]``, ``J = {1, 3, 5, …, n − 3}``,
    ``n`` a multiple of 4.

    Minimum 1 at ``x = 1``.
    """
    _chain_length(n, 4, "chained_wood")
    if n % 4:
        raise ValueError(f"chained_wood(n) needs n a multiple of 4, got {n}")
    x = variables("x", n)
    f: Polynomial = Polynomial.zero() + 1
    for i in range(0, n - 3, 2):
        f = (
            f
            + 100 * (x[i + 1] - x[i] ** 2) ** 2
            + (1 - x[i]) ** 2
            + 90 * (x[i + 3] - x[i + 2] ** 2) ** 2
            + (1 - x[i + 2]) ** 2
            + 10 * (x[i + 1] + x[i + 3] - 2) ** 2
            + 0.1 * (x[i + 1] - x[i + 3]) ** 2
        )
    return Problem(minimize=f, variables=[f"x{i}" for i in range(n)])

"""Exact rescaling of a problem before relaxing it, and the exact way back.

Moment relaxations are badly conditioned when variables range far from ``[-1, 1]`` (moments of degree ``2d`` of
``x ∈ [0, 3]`` reach ``3^{2d}``) or when constraint coefficients differ by orders of magnitude; interior-point
solvers then stop early or, worse, report "solved" with a wrong objective.  The remedy is the affine change of
variables ``x = c + s·u`` that maps the known box of each variable onto about ``[-1, 1]``, and the division of
every polynomial by a power of two near its largest coefficient.

The Lasserre hierarchy is invariant under affine changes of variables, so the bound does not change.  All
factors are dyadic rationals and the scaled problem's data are kept *exactly* (as rationals), so a certificate
found for the scaled problem maps back exactly to one for the user's problem:
``f(x) − κ_f γ = Σ (κ_f / κ_i) b(x)ᵀ (Tᵀ Q_i T) b(x) g_i(x) + …`` where ``b(u(x)) = T b(x)``.  A congruence
keeps a Gram matrix positive semidefinite, so nothing is lost on the way back — and the checker re-checks the
result against the original problem anyway.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction
from functools import cached_property
from itertools import product as iproduct

import numpy as np

from sosrelax.poly import Polynomial
from sosrelax.problem import Problem, Sense

__all__ = [
    "ExactPoly",
    "Scaling",
    "choose_scaling",
    "exact_affine_substitute",
    "exact_terms",
]

ExactPoly = dict[tuple[int, ...], Fraction]


def exact_terms(p: Polynomial, variables: tuple[str, ...]) -> ExactPoly:
    """The polynomial as an exact ``{exponent tuple: Fraction}`` dictionary in the given variable order."""
    exps = p.aligned(variables)
    return {
        tuple(int(e) for e in row): Fraction(float(c)) for row, c in zip(exps, p.coefs, strict=True)
    }


def _binomial_row(c: Fraction, s: Fraction, e: int) -> list[Fraction]:
    """Coefficients of ``(c + s·u)^e`` in ``u^0 … u^e``."""
    return [Fraction(math.comb(e, k)) * c ** (e - k) * s**k for k in range(e + 1)]


def exact_affine_substitute(
    p: ExactPoly, center: tuple[Fraction, ...], scale: tuple[Fraction, ...]
) -> ExactPoly:
    """``p(c + s·u)`` as an exact polynomial in ``u`` (coordinate-wise affine map).

    Only the variables a monomial contains are expanded (the others contribute the factor 1), and each
    ``(c_j + s_j u_j)^a`` is expanded once per call.
    """
    out: ExactPoly = {}
    n = len(center)
    rows: dict[tuple[int, int], list[Fraction]] = {}
    for alpha, coef in p.items():
        supp = [(j, a) for j, a in enumerate(alpha) if a]
        expanded = []
        for j, a in supp:
            r = rows.get((j, a))
            if r is None:
                r = rows[(j, a)] = _binomial_row(center[j], scale[j], a)
            expanded.append(r)
        for ks in iproduct(*(range(a + 1) for _, a in supp)):
            v = coef
            for r, k in zip(expanded, ks, strict=True):
                v *= r[k]
            if v:
                e = [0] * n
                for (j, _), k in zip(supp, ks, strict=True):
                    e[j] = k
                key = tuple(e)
                out[key] = out.get(key, Fraction(0)) + v
    return {k: v for k, v in out.items() if v != 0}


def _pow2_near(v: float) -> Fraction:
    """The power of two nearest to ``v > 0`` (in the log scale)."""
    e = int(round(math.log2(v)))
    return Fraction(2) ** e


def _pow2_at_least(v: float) -> Fraction:
    e = math.ceil(math.log2(v))
    return Fraction(2) ** e


@dataclass(frozen=True)
class Scaling:
    """``x = center + scale·u``; each polynomial divided by a power of two.

    ``scaled_problem`` is the float problem handed to the relaxation; ``objective``, ``inequalities`` and
    ``equalities`` are its exact rational data (the float problem is their correctly rounded copy).
    """

    variables: tuple[str, ...]
    scaled_variables: tuple[str, ...]
    center: tuple[Fraction, ...]
    scale: tuple[Fraction, ...]
    objective_factor: Fraction
    inequality_factors: tuple[Fraction, ...]
    equality_factors: tuple[Fraction, ...]
    objective: ExactPoly
    inequalities: tuple[ExactPoly, ...]
    equalities: tuple[ExactPoly, ...]
    scaled_problem: Problem

    @cached_property
    def substitution(self) -> tuple[tuple[Fraction, Fraction], ...]:
        """The pairs ``(center_i, scale_i)`` of ``x = center + scale·u``, one object for every certificate."""
        return tuple((Fraction(c), Fraction(s)) for c, s in zip(self.center, self.scale, strict=True))

    @property
    def inverse_center(self) -> tuple[Fraction, ...]:
        """``u = inverse_center + inverse_scale·x``."""
        return tuple(-c / s for c, s in zip(self.center, self.scale, strict=True))

    @property
    def inverse_scale(self) -> tuple[Fraction, ...]:
        return tuple(1 / s for s in self.scale)

    def moments_to_original(self, exps: np.ndarray, moments: np.ndarray) -> np.ndarray:
        """Map a moment vector of ``u`` (on monomials ``exps``, closed under taking divisors) to one of ``x``."""
        if not any(self.center):  # x = s·u: y_α(x) = s^α y_α(u), vectorised (the identity when s = 1)
            if all(s == 1 for s in self.scale):
                return np.array(moments, dtype=float, copy=True)
            s = np.array([float(v) for v in self.scale])
            return np.asarray(moments, dtype=float) * np.prod(s[None, :] ** np.asarray(exps, dtype=float), axis=1)
        index = {tuple(int(e) for e in row): i for i, row in enumerate(exps)}
        out = np.zeros(len(exps))
        for r, row in enumerate(exps):
            mono = {tuple(int(e) for e in row): Fraction(1)}
            acc = 0.0
            for beta, v in exact_affine_substitute(mono, self.center, self.scale).items():
                acc += float(v) * moments[index[beta]]
            out[r] = acc
        return out


def _poly_from_exact(p: ExactPoly, variables: tuple[str, ...]) -> Polynomial:
    if not p:
        return Polynomial.zero(variables)
    exps = np.array(list(p.keys()), dtype=np.int64).reshape(len(p), len(variables))
    coefs = np.array([float(v) for v in p.values()])
    return Polynomial(exps, coefs, variables)


def _max_abs(p: ExactPoly) -> float:
    return max((abs(float(v)) for v in p.values()), default=0.0)


def choose_scaling(problem: Problem) -> Scaling | None:
    """Pick the affine change of variables and the polynomial factors, or ``None`` if nothing would change.

    Each variable whose box (:meth:`Problem.variable_box`) is finite is centred at a dyadic rational near the
    box's midpoint and divided by the power of two at least its half-width; other variables are left alone.
    Every polynomial is then divided by the power of two nearest to its largest coefficient.
    """
    variables = tuple(problem.variables)
    n = len(variables)
    lo, hi = problem.variable_box()
    center: list[Fraction] = []
    scale: list[Fraction] = []
    for j in range(n):
        if np.isfinite(lo[j]) and np.isfinite(hi[j]) and hi[j] > lo[j]:
            s = _pow2_at_least(0.5 * (hi[j] - lo[j]))
            grid = s / 16
            mid = Fraction(0.5 * (lo[j] + hi[j]))
            c = Fraction(round(mid / grid)) * grid
            # after rounding the centre the box must still fit in [-1.0625, 1.0625]·s: it does, by construction
            center.append(c)
            scale.append(s)
        else:
            center.append(Fraction(0))
            scale.append(Fraction(1))
    ct, st = tuple(center), tuple(scale)
    moves = any(c != 0 for c in ct) or any(s != 1 for s in st)

    def sub(p: Polynomial) -> ExactPoly:
        ep = exact_terms(p, variables)
        return exact_affine_substitute(ep, ct, st) if moves else ep

    def factor(p: ExactPoly) -> Fraction:
        m = _max_abs(p)
        return _pow2_near(m) if m > 0 else Fraction(1)

    f = sub(problem.objective)
    gs = [sub(g) for g in problem.inequalities]
    hs = [sub(h) for h in problem.equalities]
    kf = factor({k: v for k, v in f.items() if any(k)} or f)
    kg = tuple(factor(g) for g in gs)
    kh = tuple(factor(h) for h in hs)
    if not moves and kf == 1 and all(k == 1 for k in kg) and all(k == 1 for k in kh):
        return None
    f = {k: v / kf for k, v in f.items()}
    gs = [{k: v / kk for k, v in g.items()} for g, kk in zip(gs, kg, strict=True)]
    hs = [{k: v / kk for k, v in h.items()} for h, kk in zip(hs, kh, strict=True)]
    uvars = (
        variables  # same names: the relaxation is indexed by position, the names only label output
    )
    fp = _poly_from_exact(f, uvars)
    cons = [_poly_from_exact(g, uvars) >= 0 for g in gs] + [
        _poly_from_exact(h, uvars) == 0 for h in hs
    ]
    if problem.sense is Sense.MINIMIZE:
        scaled = Problem(minimize=fp, subject_to=cons, variables=uvars)
    else:
        scaled = Problem(maximize=fp, subject_to=cons, variables=uvars)
    return Scaling(
        variables=variables,
        scaled_variables=uvars,
        center=ct,
        scale=st,
        objective_factor=kf,
        inequality_factors=kg,
        equality_factors=kh,
        objective=f,
        inequalities=tuple(gs),
        equalities=tuple(hs),
        scaled_problem=scaled,
    )

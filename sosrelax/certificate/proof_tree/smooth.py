"""The checker's rigorous lines of sigmoid and tanh layers over rigorous pre-activation bounds ``[l, u]``.

For ``φ`` = sigmoid or tanh and float64 arrays ``l <= u`` (rigorous bounds of a neuron's pre-activation,
computed by the checker), :func:`s_lines` returns float64 arrays with

    ``A z + TL <= φ(z) <= S z + TU``  for every real ``z`` in ``[l, u]``,

and rigorous bounds ``φ(l) >= ylo``, ``φ(u) <= yhi`` of the activation (``φ`` is increasing).  The lines
are derived here from the checker's own ``l, u`` (never read from the proof file) and made valid by
rigorous function enclosures (the argument is in ``docs/proof-trees.md``, "Sigmoid and tanh layers").
Function values come from numpy's ``exp`` and ``tanh`` with a relative error bound :data:`FN_REL`, far
above the few units in the last place that the C libraries' float64 ``exp`` and ``tanh`` commit.

The piecewise-constant activations ``sign``, ``step`` (``[z > 0]``) and ``eq`` (``[z = 0]``) get the
horizontal lines ``ylo <= φ(z) <= yhi`` of :func:`step_bounds`: the least and the largest value ``φ``
takes on ``[l, u]``, exactly (no rounding: they are -1, 0 or 1).
"""

from __future__ import annotations

import numpy as np

from sosrelax.certificate.proof_tree.rounding import down, up

__all__ = ["FN_REL", "STEPS", "enclose", "enclose_derivative", "enclose_exp", "s_lines", "step_bounds"]

#: The piecewise-constant activations.
STEPS = ("sign", "step", "eq")

FN_REL = 2.0**-40
"""Relative error bound assumed of a float64 sigmoid (``1/(1 + exp(-z))``) or ``tanh`` value: 2^12 ulp."""
_U4 = 4 * 2.0**-53
"""Bounds the rounding of the two or three float operations of each intercept, relative to their mass."""
_TINY = 2.0**-1000
"""Absolute slack: covers underflow (and ``exp`` overflowing to ``inf``: then ``σ(z) < 2^-1000``)."""


def _raw(kind: str, z: np.ndarray) -> np.ndarray:
    if kind == "sigmoid":
        with np.errstate(over="ignore"):
            return 1.0 / (1.0 + np.exp(-z))
    return np.tanh(z)


def enclose(kind: str, z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(lo, hi)`` with ``lo <= φ(z) <= hi`` for float64 ``z`` (``|z| <= 2^1000``)."""
    f = _raw(kind, z)
    err = FN_REL * np.abs(f) + _TINY
    lo, hi = down(f - err), up(f + err)
    floor = 0.0 if kind == "sigmoid" else -1.0
    return np.clip(lo, floor, 1.0), np.clip(hi, floor, 1.0)


def enclose_exp(z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(lo, hi)`` with ``0 <= lo <= exp(z) <= hi`` for float64 ``z`` (``hi = inf`` where ``exp``
    overflows): numpy's ``exp`` widened by the relative bound :data:`FN_REL` (as in :func:`enclose`)."""
    with np.errstate(over="ignore"):
        f = np.exp(np.asarray(z, dtype=np.float64))
    lo = down(f - (FN_REL * f + _TINY))
    hi = up(f + (FN_REL * f + _TINY))
    return np.maximum(lo, 0.0), np.where(np.isfinite(f), hi, np.inf)


def enclose_derivative(kind: str, z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(lo, hi)`` with ``0 <= lo <= φ'(z) <= hi``: ``σ' (z) = σ(z) σ(-z)``, ``tanh'(z) = 4 σ(2z) σ(-2z)``
    (products of positive enclosures; ``2z`` and the factor 4 are exact)."""
    w = z if kind == "sigmoid" else 2.0 * z
    a_lo, a_hi = enclose("sigmoid", w)
    b_lo, b_hi = enclose("sigmoid", -w)
    scale = 1.0 if kind == "sigmoid" else 4.0
    lo = down(scale * (a_lo * b_lo) * (1 - _U4) - _TINY)
    hi = up(scale * (a_hi * b_hi) * (1 + _U4) + _TINY)
    return np.maximum(lo, 0.0), hi


def _lower(v: np.ndarray, mass: np.ndarray) -> np.ndarray:
    return down(v - _U4 * mass - _TINY)


def _upper(v: np.ndarray, mass: np.ndarray) -> np.ndarray:
    return up(v + _U4 * mass + _TINY)


def step_bounds(kind: str, l: np.ndarray, u: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(ylo, yhi)``: the least and the largest value of ``φ`` (one of :data:`STEPS`) on ``[l, u]``.

    ``sign``: -1 when ``l < 0``, 0 when ``l = 0``, 1 when ``l > 0`` (and the mirror image for ``yhi``);
    ``step``: ``[l > 0]`` and ``[u > 0]``; ``eq``: ``[l = u = 0]`` and ``[l <= 0 <= u]``."""
    if kind == "sign":
        return np.sign(l).astype(np.float64), np.sign(u).astype(np.float64)
    if kind == "step":
        return (l > 0).astype(np.float64), (u > 0).astype(np.float64)
    return ((l == 0) & (u == 0)).astype(np.float64), ((l <= 0) & (u >= 0)).astype(np.float64)


def s_lines(kind: str, l: np.ndarray, u: np.ndarray) -> tuple[np.ndarray, ...]:
    """``(A, TL, S, TU, ylo, yhi)``: rigorous lines of ``φ`` on ``[l, u]`` and bounds of ``φ`` there.

    The lines are those of the search (``sosrelax.nn.search.bounds.s_relaxation``), made valid:

    * ``u <= 0`` (``φ`` convex): upper line of any slope ``S``, intercept the larger endpoint value of
      the convex ``φ(z) - S z``; lower line the tangent at a point ``m`` of ``[l, u]`` with a float slope
      ``A`` near ``φ'(m)``, its intercept lowered by ``|φ'(m) - A| max(u - m, m - l)``;
    * ``l >= 0`` (``φ`` concave): the mirror image;
    * otherwise both slopes ``a <= min(φ'(l), φ'(u)) <= φ'`` on ``[l, u]`` (``φ'`` decreases in ``|z|``),
      through ``(l, φ(l))`` below and ``(u, φ(u))`` above.

    Entries where ``l > u`` or a bound is not finite are meaningless (the caller discards those leaves).
    For the piecewise-constant :data:`STEPS` both slopes are 0 and the intercepts are :func:`step_bounds`.
    """
    if kind in STEPS:
        ylo, yhi = step_bounds(kind, l, u)
        zero = np.zeros(np.shape(l))
        return zero, ylo, zero.copy(), yhi, ylo, yhi
    with np.errstate(all="ignore"):
        flo_l, fhi_l = enclose(kind, l)
        flo_u, fhi_u = enclose(kind, u)
        m = np.clip(0.5 * l + 0.5 * u, l, u)
        r = up(np.maximum(u - m, m - l) * (1 + _U4))
        flo_m, fhi_m = enclose(kind, m)
        dlo_m, dhi_m = enclose_derivative(kind, m)
        dm = 0.5 * (dlo_m + dhi_m)
        e = up(np.maximum(dhi_m - dm, dm - dlo_m) * (1 + _U4) + _TINY)
        width = u - l
        sec = np.where(width > 0, (0.5 * (flo_u + fhi_u) - 0.5 * (flo_l + fhi_l)) / np.where(width > 0, width, 1.0),
                       dm)
        sec = np.where(np.isfinite(sec), np.maximum(sec, 0.0), 0.0)
        er = up(e * r)
        # tangent lines at m
        tan_lo = _lower(flo_m - dm * m - er, np.abs(flo_m) + np.abs(dm * m) + er)
        tan_hi = _upper(fhi_m - dm * m + er, np.abs(fhi_m) + np.abs(dm * m) + er)
        # secant-slope lines: extreme endpoint values of the convex / concave φ(z) - sec z
        sl, su = sec * l, sec * u
        sec_hi = np.maximum(_upper(fhi_l - sl, np.abs(fhi_l) + np.abs(sl)), _upper(fhi_u - su, np.abs(fhi_u) + np.abs(su)))
        sec_lo = np.minimum(_lower(flo_l - sl, np.abs(flo_l) + np.abs(sl)), _lower(flo_u - su, np.abs(flo_u) + np.abs(su)))
        # mixed: the smallest derivative's lower bound
        a = np.minimum(enclose_derivative(kind, l)[0], enclose_derivative(kind, u)[0])
        al, au = a * l, a * u
        mix_lo = _lower(flo_l - al, np.abs(flo_l) + np.abs(al))
        mix_hi = _upper(fhi_u - au, np.abs(fhi_u) + np.abs(au))
    convex, concave = u <= 0, l >= 0
    A = np.where(convex, dm, np.where(concave, sec, a))
    TL = np.where(convex, tan_lo, np.where(concave, sec_lo, mix_lo))
    S = np.where(concave, dm, np.where(convex, sec, a))
    TU = np.where(concave, tan_hi, np.where(convex, sec_hi, mix_hi))
    return A, TL, S, TU, flo_l, fhi_u

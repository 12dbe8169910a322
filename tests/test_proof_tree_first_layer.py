"""The checker's second-layer bounds over ReLU-split domains of one box (reference rows of the first
layer plus a sparse correction) against its general back-substitution and against sampled activations."""

from __future__ import annotations

import numpy as np
import pytest

from sosrelax.certificate.proof_tree import arith
from sosrelax.certificate.proof_tree.arith import Net, bound_batch, objective_rows


def _net(seed: int, sizes: tuple[int, ...]) -> tuple[tuple[np.ndarray, np.ndarray], ...]:
    rng = np.random.default_rng(seed)  # multiples of 1/64: exact in float32
    return tuple((np.round(rng.normal(size=(b, a)) * 64 / np.sqrt(a)) / 64, np.round(rng.normal(size=b) * 16) / 64)
                 for a, b in zip(sizes[:-1], sizes[1:], strict=True))


def _pre(layers: tuple[tuple[np.ndarray, np.ndarray], ...], x: np.ndarray, dtype: type) -> list[np.ndarray]:
    zs, y = [], x.astype(dtype)
    for k, (w, b) in enumerate(layers):
        z = y @ w.T.astype(dtype) + b.astype(dtype)
        zs.append(z.astype(np.float64))
        y = np.maximum(z, 0) if k < len(layers) - 1 else z
    return zs


def _batch(net: Net, layers: tuple[tuple[np.ndarray, np.ndarray], ...], lo: np.ndarray, hi: np.ndarray,
           rng: np.random.Generator, n_dom: int) -> list[tuple[np.ndarray, np.ndarray, object]]:
    """Domains of the box ``[lo, hi]`` with 0-3 random ReLU splits on neurons of the first two layers
    (signs taken from a sample point, so that no domain is empty)."""
    doms = []
    for _ in range(n_dom):
        x = rng.uniform(lo, hi)
        zs = _pre(layers, x[None], np.float64)
        cons = None
        for _k in range(int(rng.integers(0, 4))):
            k = int(rng.integers(0, 2))
            j = int(rng.integers(0, net.hidden[k]))
            cons = (int(net.offsets[k]) + j, 1 if zs[k][0, j] >= 0 else -1, cons)
        doms.append((lo.copy(), hi.copy(), cons))
    return doms


@pytest.mark.parametrize("semantics", ["real", "float32"])
def test_reference_rows_agree_with_the_general_back_substitution_and_contain_samples(
        semantics: str, monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(7)
    layers = _net(3, (12, 24, 16, 3))
    net = Net(layers, semantics == "float32")
    lo, hi = np.full(12, -0.5), np.full(12, 0.5)
    lo[:3], hi[:3] = 0.1, 0.3
    doms = _batch(net, layers, lo, hi, rng, 40)
    B = len(doms)
    obj = (np.array([[1.0, -1.0, 0.5]]), np.zeros((1, 3)), np.zeros((1, 12)), np.zeros((1, 12)),
           np.array([0.25]), np.zeros(1))
    rows = objective_rows(np.ones((B, 1)), obj, [None] * B, net.H)
    with np.errstate(all="ignore"):
        bound, _, ly = bound_batch(net, "crown", doms, rows, np.arange(B))
        # a second batch (reversed) takes its second-layer bounds from the groups of the first
        again, _, ly_again = bound_batch(net, "crown", doms[::-1], rows.take(np.arange(B)[::-1]), np.arange(B))
        assert np.array_equal(again[::-1], bound) and np.array_equal(ly_again.l[2][::-1], ly.l[2])
        monkeypatch.setattr(arith, "_one_box", lambda lo, hi: False)
        bound_g, _, ly_g = bound_batch(net, "crown", doms, rows, np.arange(B))
    assert np.isfinite(bound).all()
    scale = 1.0 + np.abs(ly_g.l[2]) + np.abs(ly_g.u[2])
    assert np.all(np.abs(ly.l[2] - ly_g.l[2]) <= 1e-9 * scale)
    assert np.all(np.abs(ly.u[2] - ly_g.u[2]) <= 1e-9 * scale)
    assert np.all(np.abs(bound - bound_g) <= 1e-9 * (1 + np.abs(bound_g)))
    # sampled points of each domain (those meeting its splits) lie inside the layer-2 bounds
    x = rng.uniform(lo, hi, size=(4000, 12))
    xin = x.astype(np.float32).astype(np.float64) if semantics == "float32" else x
    zs = _pre(layers, xin, np.float32 if semantics == "float32" else np.float64)
    flat = np.concatenate([zs[0], zs[1]], axis=1)
    for r, (_, _, cons) in enumerate(doms):
        keep = np.ones(len(x), dtype=bool)
        c = cons
        while c is not None:
            keep &= flat[:, c[0]] >= 0 if c[1] > 0 else flat[:, c[0]] <= 0
            c = c[2]
        z2 = zs[1][keep]
        assert np.all(ly.l[2][r] <= z2) and np.all(z2 <= ly.u[2][r])
        y = zs[2][keep]
        g = -(y @ obj[0][0] + obj[4][0])
        assert np.all(bound[r] <= g)


def test_the_root_box_rounds_like_the_exact_one_ulp_rules() -> None:
    """The checker's vectorised rounding of a rational box agrees with ``float_down`` / ``float_up``."""
    from fractions import Fraction

    from sosrelax.certificate.proof_tree.arith import float_down, float_up
    from sosrelax.certificate.proof_tree.check import _root_box

    rng = np.random.default_rng(5)
    qs = [Fraction(int(n), int(d)) for n, d in zip(rng.integers(-10**12, 10**12, 200),
                                                       rng.integers(1, 10**9, 200), strict=True)]
    qs += [Fraction(0), Fraction(1, 2), Fraction(-3, 4), Fraction(1, 3), Fraction(-1, 10**30), Fraction(10**300, 7),
           Fraction(2**60 + 1), Fraction(-(2**60) - 1), Fraction(1, 2**1074), Fraction(1, 2**1080)]
    lo = tuple(qs)
    hi = tuple(q + Fraction(1, 7) for q in qs)
    lo_b, hi_b, lo_v, hi_v = _root_box(lo, hi)
    assert lo_b.tolist() == [float_down(q) for q in lo] and hi_b.tolist() == [float_up(q) for q in hi]
    assert lo_v.tolist() == [float_up(q) for q in lo] and hi_v.tolist() == [float_down(q) for q in hi]


def test_rows_without_input_terms_stand_for_the_formulas_values() -> None:
    from sosrelax.certificate.proof_tree.arith import Rows

    rng = np.random.default_rng(2)
    lam = rng.uniform(0, 1, size=(5, 2))
    by = rng.normal(size=(2, 3))
    zero_x = np.zeros((2, 4))
    without = objective_rows(lam, (by, np.zeros((2, 3)), zero_x, zero_x, np.ones(2), np.zeros(2)), [None] * 5, 6)
    assert without.cx.shape == (5, 0)
    cx, dcx = without.input_terms(4)
    # what the general formula gives for zero input coefficients, bit for bit
    assert np.array_equal(cx, -(lam @ zero_x)) and np.signbit(cx).all()
    assert np.array_equal(dcx, (lam @ zero_x) * 2 + 2.0**-1000)
    bx = rng.normal(size=(2, 4))
    with_x = objective_rows(lam, (by, np.zeros((2, 3)), bx, zero_x, np.ones(2), np.zeros(2)), [None] * 5, 6)
    both = Rows.concatenate([without, with_x], 4)
    assert both.cx.shape == (10, 4)
    assert np.array_equal(both.cx[:5], cx) and np.array_equal(both.cx[5:], with_x.cx)
    assert np.array_equal(both.dcx[:5], dcx)

"""Sign-symmetry blocks of SOS programs: the symmetry group, the classes, and the same optimum."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

import sosrelax as sr
from sosrelax.certificate.program_check import check_program_certificate
from sosrelax.program import SOSProgram, compile_program, solve_program
from sosrelax.program import symmetry as symmod
from sosrelax.program.symmetry import sign_symmetries, split_by_symmetry


def _group(basis: np.ndarray) -> set[tuple[int, ...]]:
    """All sign vectors spanned by ``basis`` over GF(2)."""
    out = set()
    for bits in itertools.product((0, 1), repeat=basis.shape[0]):
        out.add(tuple(int(v) for v in (np.asarray(bits) @ basis) % 2) if basis.shape[0] else ())
    return out


@pytest.mark.parametrize("seed", range(6))
def test_sign_symmetries_are_exactly_the_invariances_of_the_support(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = 4
    S = rng.integers(0, 4, size=(rng.integers(1, 6), n))
    K = sign_symmetries([S], n)
    brute = {s for s in itertools.product((0, 1), repeat=n) if np.all((S @ np.array(s)) % 2 == 0)}
    spanned = _group(K) if K.shape[0] else {(0,) * n}
    assert spanned == brute
    assert np.linalg.matrix_rank(K.astype(float)) == K.shape[0]  # a basis: independent (rank over GF(2) <= R)


def test_split_keeps_pairs_whose_product_is_invariant() -> None:
    basis = sr.poly.monomial_basis(3, 2)  # 10 monomials, over the threshold
    K = sign_symmetries([np.array([[2, 0, 0], [0, 2, 0], [0, 0, 2], [1, 1, 0]])], 3)  # x, y flip together; z alone
    parts = split_by_symmetry(basis, K)
    assert sum(p.shape[0] for p in parts) == basis.shape[0] and len(parts) > 1
    for p in parts:  # within a class every product is invariant; across classes none is
        assert np.all(((p[:, None, :] + p[None, :, :]) @ K.T) % 2 == 0)
    for a, b in itertools.combinations(parts, 2):
        assert np.all(np.any(((a[:, None, :] + b[None, :, :]) @ K.T) % 2 == 1, axis=-1))
    assert len(split_by_symmetry(basis[:symmod.MIN_SPLIT_ORDER - 1], K)) == 1


def _bound(monkeypatch: pytest.MonkeyPatch, split: bool) -> tuple[list[int], float, bool]:
    if not split:
        monkeypatch.setattr(symmod, "MIN_SPLIT_ORDER", 10**9)
    x, y, z = sr.variables("x y z")
    f = x**4 + y**4 + z**4 - 2 * x**2 * y * z + x**2 * y**2 - 3 * x * y + z**2 + x**2 * z**2
    g = sr.poly_variable("gamma")
    res = solve_program(SOSProgram(maximize=g, constraints=[sr.sos(f - g, margin=1e-6)]))
    monkeypatch.undo()
    return res.info["sizes"]["gram_orders"], float(res.objective), res.proven


def test_split_program_has_the_same_optimum_and_a_checked_certificate(monkeypatch: pytest.MonkeyPatch) -> None:
    orders, val, proven = _bound(monkeypatch, True)
    orders1, val1, proven1 = _bound(monkeypatch, False)
    assert orders1 == [10] and orders == [7, 3]  # x^2yz and xy leave the global flip only: even and odd monomials
    assert abs(val - val1) <= 1e-6 * (1 + abs(val1))
    assert proven and proven1


def test_lyapunov_of_an_odd_field_with_an_even_v_is_split_and_proven() -> None:
    n = 3
    xs = list(sr.variables("x", n))
    f = [-xs[i] + (xs[i + 1] if i + 1 < n else 0.0) - xs[i] ** 3 for i in range(n)]
    E = sr.poly.monomial_basis(n, 4, 2)
    mons = [sr.Polynomial(e.reshape(1, -1), [1.0], [f"x{i}" for i in range(n)]) for e in E if e.sum() % 2 == 0]
    V = sr.poly_variable("V", xs, monomials=mons)
    n2 = sum((v * v for v in xs), sr.Polynomial.constant(0.0))
    prog = SOSProgram(constraints=[sr.sos(V - 1e-3 * n2), sr.sos(-sr.dynamics.lie_derivative(V, f, xs) - 1e-3 * n2)])
    orders = compile_program(prog).sizes()["gram_orders"]
    assert orders == [3, 6, 13, 6]  # V: 9 -> odd 3 + even 6 ; -dV/dt: 19 -> odd 3 + 10, even 6
    res = solve_program(prog)
    assert res.proven and check_program_certificate(res.certificate).valid
    # a tampered Gram entry of a split block is refused
    from dataclasses import replace

    from sosrelax.certificate.exactnum import as_rational_matrix

    cert = res.certificate
    s1 = cert.sos[1]
    gt = s1.grams[0]
    Q = as_rational_matrix(gt.gram)
    num = Q.numerators.copy()
    num[0, 0] += 1
    bad = replace(cert, sos=(cert.sos[0], replace(s1, grams=(replace(gt, gram=type(Q)(num, Q.denominator)),
                                                             *s1.grams[1:]))))
    assert not check_program_certificate(bad).valid


def test_lyapunov_searches_v_among_the_fields_invariant_monomials() -> None:
    """An equivariant field (``f(D_s x) = D_s f(x)``) gets a ``V`` of invariant monomials only, proven; the
    same feasibility with every monomial; a field without symmetry keeps every monomial."""
    x, y, z = sr.variables("x y z")
    # s = (1, 1, 0) and s = (0, 1, 1) are symmetries: products xyz-type terms keep the parity classes
    f = [-x + y * z - x**3, -y - x * z, -z + x * y - z**3]
    res = sr.dynamics.lyapunov(f, [x, y, z], degree=4)
    assert res.status == "proven" and res.check is not None and res.check.valid
    for mono, _ in res.function.terms():
        e = [mono.get(v, 0) % 2 for v in ("x", "y", "z")]
        assert e in ([0, 0, 0], [1, 1, 1]), mono  # invariant under the sign flips of two coordinates
    assert sr.dynamics.lyapunov(f, [x, y, z], degree=4, symmetry=False).status == "proven"
    # no sign symmetry: every monomial stays (y^2 in x' rules out flipping x alone, x^2 in y' flipping y)
    from sosrelax.dynamics import _invariant_monomials

    assert _invariant_monomials([-x + y**2, -y + x**2], [x, y], 4) is None
    # flipping y alone is a symmetry of (-x + y^2, -y): V has even powers of y only
    kept = _invariant_monomials([-x + y**2, -y], [x, y], 4)
    assert kept is not None and kept and all(m.terms()[0][0].get("y", 0) % 2 == 0 for m in kept)
    assert len(kept) == 7  # x^2, y^2, x^3, x y^2, x^4, x^2 y^2, y^4 of the 12 monomials of degree 2..4

"""The exact checker: PSD proofs, residual absorption, tampering, rationalisation."""

from __future__ import annotations

from dataclasses import replace
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sosrelax.certificate import (
    Certificate,
    CheckStatus,
    RationalMatrix,
    SOSMultiplier,
    check_certificate,
    gram_from_array,
    prove_psd,
    rationalize,
)
from sosrelax.certificate.check import residual

PROOFS = Path(__file__).resolve().parents[1] / "proofs"
# statement -> true optimum (lower bounds must not exceed it, upper bounds not go below it)
TRUTH = {
    "square_x_minus_1_nonnegative": Fraction(0),
    "amgm_x2_plus_y2_at_least_2xy": Fraction(0),
    "amgm3_on_nonnegative_orthant": Fraction(0),
    "motzkin_times_x2_y2_1_nonnegative": Fraction(0),
    "quartic_on_unit_disc_at_most_1": Fraction(1),
    "one_minus_x2_on_interval_products": Fraction(0),
    "x_plus_y_on_circle_at_most_2": Fraction(2),
}


def _random_psd(rng: np.random.Generator, k: int, rank: int, margin: float) -> np.ndarray:
    V = rng.standard_normal((k, rank))
    return V @ V.T + margin * np.eye(k)


# ---------------------------------------------------------------------------- PSD proofs


@pytest.mark.parametrize("method", ["ldl", "congruence", "auto"])
def test_psd_margin_proven(method: str) -> None:
    rng = np.random.default_rng(0)
    g = gram_from_array(_random_psd(rng, 30, 10, 1e-2))
    ok, mu, _ = prove_psd(g, method=method)
    assert ok and mu >= 0
    lam = np.linalg.eigvalsh(g.to_float())[0]
    assert float(mu) <= lam


def test_singular_psd_needs_exact_ldl() -> None:
    # exactly rank one: [1 2; 2 4] and a rank-deficient integer matrix
    v = np.array([[1], [2], [-3], [0], [5]])
    g = RationalMatrix(v @ v.T, 7)
    ok, mu, why = prove_psd(g)
    assert ok and mu == 0 and "LDL" in why


def test_indefinite_rejected_with_rigorous_negative_bound() -> None:
    rng = np.random.default_rng(2)
    Q = _random_psd(rng, 40, 40, 0.0)
    Q -= (np.linalg.eigvalsh(Q)[0] + 1e-3) * np.eye(40)  # lambda_min ~ -1e-3
    g = gram_from_array(Q)
    lam = float(np.linalg.eigvalsh(Q)[0])
    assert lam < 0
    for method in ("auto", "congruence"):
        ok, mu, _ = prove_psd(g, method=method)
        assert not ok and float(mu) <= lam
    assert not prove_psd(g, method="ldl")[0]


def test_dd_and_zero_diagonal() -> None:
    assert prove_psd(RationalMatrix(np.array([[2, -1], [-1, 2]]), 1))[0]
    ok, _, why = prove_psd(RationalMatrix(np.array([[0, 1], [1, 5]]), 1), method="ldl")
    assert not ok and "zero diagonal" in why


# ---------------------------------------------------------------------------- identity


def _sos_cert(Q: np.ndarray, basis: list[tuple[int, ...]], n: int, gamma: Fraction,
              box: bool = False) -> Certificate:
    """Objective f = b^T Q b + gamma exactly, claimed lower bound gamma."""
    g = gram_from_array(Q)
    c0 = Certificate(tuple(f"x{i}" for i in range(n)), "lower_bound", (), 0, (), (),
                     (SOSMultiplier(None, tuple(basis), g),), ())
    f = tuple((e, -c) for e, c in residual(c0)) + (((0,) * n, gamma),)
    ineq = ()
    bx = None
    if box:
        ineq = tuple(
            t for i in range(n) for t in (
                (((tuple(int(j == i) for j in range(n))), Fraction(1)), ((0,) * n, Fraction(1))),
                (((tuple(int(j == i) for j in range(n))), Fraction(-1)), ((0,) * n, Fraction(1))),
            )
        )
        bx = tuple((Fraction(-1), Fraction(1)) for _ in range(n))
    return Certificate(c0.variables, "lower_bound", f, gamma, ineq, (),
                       (SOSMultiplier(None, tuple(basis), g),), (), box=bx)


def _basis(n: int, d: int) -> list[tuple[int, ...]]:
    from itertools import product

    return sorted((e for e in product(range(d + 1), repeat=n) if sum(e) <= d),
                  key=lambda e: (sum(e), e))


def test_planted_identity_verifies_exactly() -> None:
    rng = np.random.default_rng(3)
    basis = _basis(3, 2)
    Q = _random_psd(rng, len(basis), 4, 0.1)
    cert = _sos_cert(Q, basis, 3, Fraction(-7, 3))
    rep = check_certificate(cert)
    assert rep.valid and rep.bound == Fraction(-7, 3) and rep.residual_norm == 0
    assert rep.min_eigen_lower_bounds[0] > 0 and float(rep) == pytest.approx(-7 / 3)


def test_noisy_gram_absorbed_over_box_but_not_without() -> None:
    rng = np.random.default_rng(4)
    basis = _basis(2, 2)
    Q = _random_psd(rng, len(basis), 6, 0.0)
    exact = _sos_cert(Q, basis, 2, Fraction(0), box=True)
    noise = 1e-9 * rng.standard_normal(Q.shape)
    tampered = replace(exact, sos=(SOSMultiplier(None, tuple(basis),
                                                 gram_from_array(Q + noise + noise.T)),))
    rep = check_certificate(tampered)
    assert rep.valid and rep.bound is not None and -1e-6 < rep.bound < 0
    assert "box" in rep.reason
    no_box = replace(tampered, box=None)
    rep2 = check_certificate(no_box)
    assert not rep2.valid and "no box" in rep2.reason


def test_upper_bound_mirrors() -> None:
    rep = check_certificate(PROOFS / "quartic_on_unit_disc_at_most_1.json")
    assert rep.valid and rep.bound == 1
    c = Certificate.load(PROOFS / "quartic_on_unit_disc_at_most_1.json")
    loose = replace(c, bound=Fraction(3, 2))  # gamma - f = ... + 1/2: still proves 1
    rep = check_certificate(loose)
    assert rep.valid and rep.bound == 1


def test_never_raises_on_garbage(tmp_path: Path) -> None:
    p = tmp_path / "x.json"
    p.write_bytes(b"\x00\xff{")
    rep = check_certificate(p)
    assert rep.status is CheckStatus.REJECTED and not rep.valid
    rep = check_certificate(tmp_path / "missing.json")
    assert not rep.valid


# ---------------------------------------------------------------------------- tampering

GOLDEN = {name: Certificate.load(PROOFS / f"{name}.json") for name in TRUTH}


def _tamper(cert: Certificate, data: st.DataObject) -> Certificate:
    what = data.draw(st.sampled_from(["gram", "objective", "bound", "exponent"]))
    delta = data.draw(st.sampled_from([Fraction(1), Fraction(-1), Fraction(1, 1000),
                                       Fraction(-1, 3), Fraction(1, 2**30)]))
    if what == "gram" and cert.sos:
        s = data.draw(st.integers(0, len(cert.sos) - 1))
        m = cert.sos[s]
        k = len(m.basis)
        i, j = data.draw(st.integers(0, k - 1)), data.draw(st.integers(0, k - 1))
        rows = [list(r) for r in m.gram]
        rows[i][j] += delta
        if i != j and data.draw(st.booleans()):
            rows[j][i] += delta  # keep it symmetric
        sos = list(cert.sos)
        sos[s] = SOSMultiplier(m.constraint, m.basis, tuple(map(tuple, rows)), m.cone)
        return replace(cert, sos=tuple(sos))
    if what == "bound":
        return replace(cert, bound=cert.bound + delta)
    t = list(cert.objective)
    a = data.draw(st.integers(0, len(t) - 1))
    e, c = t[a]
    if what == "exponent":
        v = data.draw(st.integers(0, len(e) - 1))
        e = tuple(x + (1 if q == v else 0) for q, x in enumerate(e))
    else:
        c = c + delta
    t[a] = (e, c)
    return replace(cert, objective=tuple(t))


@settings(max_examples=60, deadline=None)
@given(st.sampled_from(sorted(TRUTH)), st.data())
def test_tampering_never_proves_a_false_bound(name: str, data: st.DataObject) -> None:
    cert = GOLDEN[name]
    bad = _tamper(cert, data)
    rep = check_certificate(bad)
    if not rep.valid:
        return
    assert rep.bound is not None
    # the tampered problem may differ from the original; the bound must hold for it
    if bad.objective == cert.objective:
        if cert.kind == "lower_bound":
            assert rep.bound <= TRUTH[name]
        else:
            assert rep.bound >= TRUTH[name]
    else:
        assert residual(bad) == () or rep.reason  # exact identity for the altered problem


# ---------------------------------------------------------------------------- rationalise


def test_rationalize_float_certificate() -> None:
    rng = np.random.default_rng(5)
    basis = _basis(2, 2)
    V = rng.standard_normal((len(basis), 3))
    Q = V @ V.T
    Q[0, :] = Q[:, 0] = 0.0
    Q[0, 0] = 0.0  # singular through the constant monomial: sigma_0 vanishes somewhere?
    exact = _sos_cert(Q, basis, 2, Fraction(1, 3))
    noisy = replace(exact, bound=Fraction(1 / 3 + 1e-12), sos=(SOSMultiplier(
        None, tuple(basis), gram_from_array(Q + 1e-10 * rng.standard_normal(Q.shape))),))
    assert not check_certificate(noisy).valid
    exact_cert = rationalize(noisy)
    rep = check_certificate(exact_cert)
    assert rep.valid, rep.reason
    assert rep.residual_norm == 0
    assert Fraction(1, 3) - Fraction(1, 10**6) < rep.bound <= Fraction(1, 3)


def _two_clique_cert(rng: np.random.Generator, small: float) -> tuple[Certificate, list[np.ndarray]]:
    """f = b_0ᵀQ_0b_0 + b_1ᵀQ_1b_1 on cliques {x0, x1} and {x1, x2} (degree 2 bases), each Q_j with one
    eigenvalue ``small`` and the others of order one; claimed lower bound 0, exact."""
    n = 3
    grams, bases = [], []
    for support in ((0, 1), (1, 2)):
        local = _basis(2, 2)
        basis = [tuple(e[support.index(i)] if i in support else 0 for i in range(n)) for e in local]
        V, _ = np.linalg.qr(rng.standard_normal((len(basis), len(basis))))
        w = np.concatenate([[small], rng.uniform(0.5, 2.0, len(basis) - 1)])
        G = (V * w) @ V.T
        grams.append(0.5 * (G + G.T))
        bases.append(tuple(basis))
    sos = tuple(SOSMultiplier(None, b, gram_from_array(Q)) for b, Q in zip(bases, grams, strict=True))
    c0 = Certificate(tuple(f"x{i}" for i in range(n)), "lower_bound", (), 0, (), (), sos, ())
    f = tuple((e, -c) for e, c in residual(c0))
    return Certificate(c0.variables, "lower_bound", f, Fraction(0), (), (), sos, ()), grams


def test_newton_polish_keeps_a_margin_the_frobenius_projection_breaks() -> None:
    from sosrelax.certificate.rational import newton_polish

    rng = np.random.default_rng(11)
    exact, grams = _two_clique_cert(rng, 1e-9)
    assert check_certificate(exact).valid
    # a solver-like error of 1e-6 in the well-conditioned directions only: the blocks stay definite, the
    # identities are off by 1e-6 per monomial, 1000 times the smallest eigenvalue
    noisy_grams = []
    for Q in grams:
        w, V = np.linalg.eigh(Q)
        big = V[:, 1:]
        E = big @ np.diag(1e-6 * rng.standard_normal(big.shape[1])) @ big.T
        noisy_grams.append(0.5 * (Q + E + (Q + E).T))
    noisy = replace(exact, sos=tuple(replace(m, gram=gram_from_array(G))
                                     for m, G in zip(exact.sos, noisy_grams, strict=True)))
    r = residual(noisy)
    assert r and max(abs(float(c)) for _, c in r) > 1e-7
    polished = newton_polish(noisy, r)
    assert polished is not None
    for G in polished:
        assert np.linalg.eigvalsh(G)[0] > 0
    again = replace(noisy, sos=tuple(replace(m, gram=gram_from_array(G))
                                     for m, G in zip(noisy.sos, polished, strict=True)))
    assert max(abs(float(c)) for _, c in residual(again)) < 1e-13
    # through rationalize: exact, at the claimed bound, no backoff; the Frobenius projection alone fails
    rep = check_certificate(rationalize(noisy))
    assert rep.valid and rep.residual_norm == 0 and rep.bound == 0
    assert not check_certificate(rationalize(noisy, polish=False, max_backoff=0.0)).valid

"""SOS programs: modelling, solving, exact certificates, and the dynamics helpers (known values, simulation)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.integrate import solve_ivp

import sosrelax as sr
from sosrelax.certificate.program_check import check_program_certificate
from sosrelax.errors import InvalidOperationError, InvalidValueError
from sosrelax.program import solve_program

x, y = sr.variables("x y")
x1, x2 = sr.variables("x1 x2")
GRID = np.stack(np.meshgrid(np.linspace(-3, 3, 241), np.linspace(-3, 3, 241)), -1).reshape(-1, 2)


# -- modelling ------------------------------------------------------------------------------------------


def test_expressions_are_affine_in_the_unknowns() -> None:
    p = sr.poly_variable("p", [x, y], degree=2)
    assert p.degree == 2 and len(p.block.labels) == 6
    q = (x + 1) * p - 2 * p.diff(x) + 3
    assert q.degree == 3 and q.blocks == (p.block,)
    with pytest.raises(InvalidOperationError):
        _ = p * p
    with pytest.raises(InvalidOperationError):
        _ = p >= 0  # a polynomial inequality is written sr.sos(p)
    with pytest.raises(InvalidValueError):
        sr.SOSProgram(minimize=p)  # the objective must not depend on x


def test_value_and_coefficient_equality() -> None:
    V = sr.poly_variable("V", [x, y], degree=2, min_degree=2)
    prog = sr.SOSProgram(minimize=V.coefficient({x: 1, y: 1}), constraints=[
        sr.sos(V - 0.1 * (x**2 + y**2)), V.coefficient({x: 2}) == 1, V.coefficient({y: 2}) == 2,
        V.coefficient({x: 1, y: 1}) >= -1])
    res = solve_program(prog)
    assert res.proven
    v = res.value(V, exact=True)
    assert v.coefficient({"x": 2}) == 1 and v.coefficient({"y": 2}) == 2  # equalities hold exactly
    # [[1, c/2], [c/2, 2]] - 0.1 I is PSD down to c = -2 sqrt(0.9 * 1.9) = -2.6; the inequality c >= -1 binds
    assert abs(res.objective + 1.0) < 1e-6 and res.proven_objective is not None and res.proven_objective >= -1


# -- global bounds as SOS programs ------------------------------------------------------------------------


def test_camel_global_bound_sostools_sosdemo3() -> None:
    """SOSTOOLS sosdemo3: max gamma s.t. f - gamma SOS, published gamma = -1.0316 (the global minimum)."""
    f = 4 * x**2 - 2.1 * x**4 + x**6 / 3 + x * y - 4 * y**2 + 4 * y**4
    g = sr.poly_variable("gamma")
    res = solve_program(sr.SOSProgram(maximize=g, constraints=[sr.sos(f - g)]))
    assert res.proven and res.check is not None and res.check.valid
    proven = float(res.proven_objective)
    assert abs(proven - (-1.0316)) < 1e-4
    assert proven <= f.evaluate(GRID).min()  # a valid lower bound (brute force)


def test_motzkin_is_not_sos_but_its_multiple_is() -> None:
    M = x**4 * y**2 + x**2 * y**4 - 3 * x**2 * y**2 + 1
    g = sr.poly_variable("gamma")
    assert solve_program(sr.SOSProgram(maximize=g, constraints=[sr.sos(M - g)])).status.value == "infeasible"
    tight = solve_program(sr.SOSProgram(maximize=g, constraints=[sr.sos((x**2 + y**2 + 1) * (M - g))]))
    assert abs(tight.objective) < 1e-6  # min M = 0 at |x| = |y| = 1
    res = solve_program(sr.SOSProgram(maximize=g, constraints=[sr.sos((x**2 + y**2 + 1) * (M - g), margin=1e-6)]))
    assert res.proven and -1e-4 < float(res.proven_objective) <= 0.0 <= M.evaluate(GRID).min()


def test_cones_are_nested_dsos_sdsos_sos() -> None:
    """Binary forms: nonnegative = SOS (Hilbert), so the SOS value is the true minimum of f / (x^4 + y^4);
    DSOS <= SDSOS <= SOS."""
    f = x**4 + 4 * x**3 * y + 7 * x**2 * y**2 + 4 * x * y**3 + y**4
    vals = {}
    for cone in ("dsos", "sdsos", "psd"):
        g = sr.poly_variable("g")
        res = solve_program(sr.SOSProgram(maximize=g, constraints=[sr.sos(f - g * (x**4 + y**4), cone=cone)]))
        assert res.proven
        vals[cone] = float(res.proven_objective)
    t = np.linspace(0, np.pi, 20001)
    ratio = f.evaluate(np.c_[np.cos(t), np.sin(t)]) / (np.cos(t) ** 4 + np.sin(t) ** 4)
    assert vals["dsos"] <= vals["sdsos"] + 1e-7 <= vals["psd"] + 2e-7
    assert abs(vals["psd"] - ratio.min()) < 1e-5 and vals["psd"] <= ratio.min()


def test_sos_matrix() -> None:
    """[[x^2 + 1 - t, x], [x, 1]] is PSD for every x iff t <= 1 (determinant 1 - t)."""
    t = sr.poly_variable("t")
    res = solve_program(sr.SOSProgram(maximize=t, constraints=[sr.sos_matrix([[x**2 + 1 - t, x], [x, 1]])]))
    assert res.proven and abs(float(res.proven_objective) - 1.0) < 1e-6 and float(res.proven_objective) <= 1.0
    with pytest.raises(InvalidValueError):
        sr.sos_matrix([[x, 1], [2, x]])


def test_putinar_on_a_set() -> None:
    """min of x on the disc x^2 + y^2 <= 1 is -1: x - gamma >= 0 there, in Putinar's form."""
    g = sr.poly_variable("gamma")
    tight = solve_program(sr.SOSProgram(maximize=g, constraints=[sr.sos(x - g, on=[1 - x**2 - y**2 >= 0])]))
    assert abs(tight.objective + 1.0) < 1e-6  # singular Gram matrices at the optimum: no exact rounding
    res = solve_program(sr.SOSProgram(maximize=g, constraints=[
        sr.sos(x - g, on=[1 - x**2 - y**2 >= 0], margin=1e-6)]))
    assert res.proven and -1.0 - 1e-4 < float(res.proven_objective) <= -1.0


# -- dynamics ---------------------------------------------------------------------------------------------


def _simulate(f, x0, T: float = 30.0) -> np.ndarray:
    def rhs(_t, s):
        pt = {"x1": s[0], "x2": s[1]}
        return [fi(pt) for fi in f]

    return solve_ivp(rhs, (0, T), x0, rtol=1e-8, atol=1e-10).y


def test_lyapunov_of_a_damped_system() -> None:
    f = [-x1 + x2, -x1 - x2 - x2**3]
    res = sr.dynamics.lyapunov(f, [x1, x2], degree=2)
    assert res.proven and check_program_certificate(res.certificate).valid
    V = res.function
    Vdot = sr.dynamics.lie_derivative(V, f, [x1, x2])
    pts = GRID[np.abs(GRID).sum(axis=1) > 0]
    assert np.all(V.evaluate(pts, ["x1", "x2"]) > 0) and np.all(Vdot.evaluate(pts, ["x1", "x2"]) < 0)


def _exact_vdp_level(P: np.ndarray) -> float:
    """min V on {dV/dt = 0, x != 0} for V = x'Px and the reversed Van der Pol field, along rays x = r u:
    dV/dt = r^2 q2(u) + r^4 q4(u), so the boundary is at r^2 = -q2/q4 where q4 > 0 and q2 < 0."""
    th = np.linspace(0, 2 * np.pi, 400001)
    u1, u2 = np.cos(th), np.sin(th)
    gx = 2 * (P[0, 0] * u1 + P[0, 1] * u2)
    gy = 2 * (P[0, 1] * u1 + P[1, 1] * u2)
    q2 = gx * (-u2) + gy * (u1 - u2)
    q4 = gy * u1**2 * u2
    ok = (q4 > 0) & (q2 < 0)
    v = P[0, 0] * u1**2 + 2 * P[0, 1] * u1 * u2 + P[1, 1] * u2**2
    return float(np.min(-q2[ok] / q4[ok] * v[ok]))


def test_van_der_pol_region_of_attraction() -> None:
    """Reversed-time Van der Pol with V from the linearisation (lyap(A', I)), the set-up of SOSOPT's
    gsosoptdemo1 (Seiler & Balas, "Quasiconvex sum-of-squares programming", CDC 2010); the best level of a
    quadratic V is the exact optimum computed on rays (about 2.3045), which the S-procedure attains."""
    f = [-x2, x1 + (x1**2 - 1) * x2]
    P = np.array([[1.5, -0.5], [-0.5, 1.0]])
    V = 1.5 * x1**2 - x1 * x2 + x2**2
    res = sr.dynamics.region_of_attraction(f, V, [x1, x2])
    assert res.proven and res.level is not None
    best = _exact_vdp_level(P)
    assert res.level <= best * (1 + 1e-9) and res.level >= 0.99 * best
    # trajectories started on the proven level set converge to the origin
    rng = np.random.default_rng(0)
    L = np.linalg.cholesky(np.linalg.inv(P))
    for th in rng.uniform(0, 2 * np.pi, 8):
        x0 = np.sqrt(res.level) * (L @ np.array([np.cos(th), np.sin(th)]))
        assert abs(V({"x1": x0[0], "x2": x0[1]}) - res.level) < 1e-9
        assert np.linalg.norm(_simulate(f, x0)[:, -1]) < 1e-3


def test_parrilo_thesis_region_of_attraction() -> None:
    """Parrilo (PhD thesis, Caltech 2000, Section 7.3): x' = -x + y, y' = 0.1x - 2y - x^2 - 0.1x^3 with
    V = x^2 + y^2; published level 2.66673^2."""
    f = [-x1 + x2, 0.1 * x1 - 2 * x2 - x1**2 - 0.1 * x1**3]
    res = sr.dynamics.region_of_attraction(f, x1**2 + x2**2, [x1, x2])
    assert res.proven and abs(res.level - 2.66673**2) < 1e-3 * 2.66673**2


PRAJNA = {"f": [x2, -x1 + x1**3 / 3 - x2], "initial": [0.25 - (x1 - 1.5) ** 2 - x2**2 >= 0],
          "unsafe": [0.16 - (x1 + 1) ** 2 - (x2 + 1) ** 2 >= 0]}


def test_prajna_jadbabaie_barrier_and_moved_unsafe_set(tmp_path) -> None:
    """Prajna & Jadbabaie (HSCC 2004), Example: a degree-4 barrier exists; after moving the unsafe disc onto
    a simulated trajectory from the initial set no barrier exists and the old certificate is refused."""
    res = sr.dynamics.barrier(PRAJNA["f"], [x1, x2], PRAJNA["initial"], PRAJNA["unsafe"], degree=4, rate=-1.0)
    assert res.proven
    B = res.function
    traj = _simulate(PRAJNA["f"], [1.5, 0.4], T=3.0)
    assert np.all(B.evaluate(traj.T, ["x1", "x2"]) <= 1e-9)  # B <= 0 persists along the trajectory
    c = traj[:, -1]
    moved = [0.01 - (x1 - c[0]) ** 2 - (x2 - c[1]) ** 2 >= 0]
    again = sr.dynamics.barrier(PRAJNA["f"], [x1, x2], PRAJNA["initial"], moved, degree=4, rate=-1.0)
    assert not again.proven and again.certificate is None
    # the old certificate with the unsafe set replaced by the moved one is refused by the checker
    cert = res.certificate
    from dataclasses import replace

    from sosrelax.certificate.program_format import SOSProof

    g = moved[0].poly.with_variables(["x1", "x2"])
    from fractions import Fraction

    terms = tuple((tuple(int(v) for v in e), Fraction(float(cf))) for e, cf in zip(g.exps, g.coefs, strict=True))
    old = cert.sos[1]
    tampered = replace(cert, sos=(cert.sos[0], SOSProof(old.name, old.cone, old.expression, (terms,), (),
                                                        old.grams, ()), cert.sos[2]))
    rep = check_program_certificate(tampered)
    assert not rep.valid and "identity fails" in rep.reason


# -- correlative sparsity ---------------------------------------------------------------------------------


def _chained(n: int):
    xs = sr.variables("z", n)
    return xs, sum((xs[i] ** 4 + xs[i] ** 2 * xs[i + 1] ** 2 + xs[i + 1] ** 4 - xs[i] * xs[i + 1] - xs[i]
                    for i in range(n - 1)), sr.Polynomial.constant(0.0))


def test_correlative_sparsity_on_a_chained_quartic() -> None:
    """max γ s.t. f − γ SOS: the correlative program splits the Gram matrix over the cliques {z_i, z_{i+1}}, is
    a restriction of the dense one (proven γ not above it) and here loses almost nothing."""
    xs, f = _chained(6)
    out = {}
    for mode in (None, "correlative"):
        g = sr.poly_variable("gamma")
        out[mode] = solve_program(sr.SOSProgram(maximize=g, constraints=[sr.sos(f - g, sparsity=mode, margin=1e-6)]))
        assert out[mode].proven and check_program_certificate(out[mode].certificate).valid
    dense, sparse = out[None], out["correlative"]
    assert dense.info["sizes"]["gram_orders"] == [28] and sparse.info["sizes"]["gram_orders"] == [6] * 5
    assert sparse.proven_objective <= dense.proven_objective <= dense.objective + 1e-7
    assert float(dense.proven_objective - sparse.proven_objective) < 1e-4
    pts = np.random.default_rng(4).uniform(-1.5, 1.5, (20000, 6))
    assert float(sparse.proven_objective) <= f.evaluate(pts, [str(v.variables[0]) for v in xs]).min()
    assert len(sparse.certificate.sos[0].grams) == 5  # one Gram matrix per clique, each checked


def test_correlative_sparsity_on_a_set() -> None:
    """min of the chained quartic on the box [-1, 1]^5, the constraints' multipliers in their cliques."""
    xs, f = _chained(5)
    box = [1 - v**2 >= 0 for v in xs]
    g = sr.poly_variable("gamma")
    res = solve_program(sr.SOSProgram(maximize=g, constraints=[
        sr.sos(f - g, on=box, sparsity="correlative", margin=1e-6)]))
    assert res.proven
    pts = np.random.default_rng(5).uniform(-1, 1, (20000, 5))
    assert float(res.proven_objective) <= f.evaluate(pts, [str(v.variables[0]) for v in xs]).min()
    with pytest.raises(InvalidValueError):
        sr.sos(f, sparsity="term")

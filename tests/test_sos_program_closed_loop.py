"""Closed loops with a ReLU network controller: exact encoding, Lyapunov and barrier certificates, checked
exactly and confirmed (or refuted) by simulation."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from scipy.integrate import solve_ivp

import sosrelax as sr
from sosrelax.certificate.program_check import check_program_certificate
from sosrelax.errors import InvalidValueError
from sosrelax.nn import from_weights
from sosrelax.program.closedloop import encode_controller

x1, x2, u = sr.variables("x1 x2 u")
BOX = ([-1, -1], [1, 1])
W1 = np.array([[1.0, 0.0], [-1.0, 0.0], [0.0, 1.0], [0.0, -1.0]])


def controller(k1: float, k2: float):
    """u = -k1 (ReLU(x1) - ReLU(-x1)) - k2 (ReLU(x2) - ReLU(-x2)) = -k1 x1 - k2 x2."""
    return from_weights([W1, np.array([[-k1, k1, -k2, k2]])])


STABLE = controller(1.0, 2.0)  # x2' = -x1 - 2 x2: a double pole at -1
UNSTABLE = controller(-1.0, 2.0)  # x2' = x1 - 2 x2: eigenvalues -1 ± sqrt(2), a saddle
PLANT = [x2, u]  # the double integrator


def simulate(net, x0, T: float = 20.0, events=None):
    def rhs(_t, s):
        return [s[1], float(net.forward(np.asarray(s))[0])]

    return solve_ivp(rhs, (0, T), x0, rtol=1e-9, atol=1e-11, max_step=0.05, events=events)


def test_encoding_is_the_graph_of_the_network() -> None:
    net = from_weights([np.array([[0.5, -0.25], [-1.0, 0.75]]), np.array([[1.0, 0.5], [-0.5, 1.0]]),
                        np.array([[1.0, -1.0]])], [np.array([0.125, 0.0]), np.array([0.0, -0.25]), np.zeros(1)])
    loop = encode_controller(net, [x1, x2], [u], [-1, -1], [1, 1])
    names = [str(v.variables[0]) for v in (*loop.states, *loop.neurons, *loop.inputs)]
    rng = np.random.default_rng(1)

    def point(x, hid, out):
        return dict(zip(names, [*x, *hid, *out], strict=True))

    def holds(pt) -> bool:
        return (all(abs(h({v: pt[v] for v in h.variables})) < 1e-12 for h in loop.equalities)
                and all(g({v: pt[v] for v in g.variables}) > -1e-12 for g in loop.inequalities))

    for x in rng.uniform(-1, 1, (50, 2)):
        pre = net.activations(x)
        hid = np.concatenate([np.maximum(z, 0) for z in pre[:-1]])
        assert holds(point(x, hid, pre[-1]))
        assert not holds(point(x, hid, pre[-1] + 0.01))  # another control value is off the graph
        bad = hid.copy()
        bad[0] += 0.1
        assert not holds(point(x, bad, pre[-1]))  # a wrong neuron value is off the graph
    assert not holds(point(np.array([1.5, 0.0]), *_forward(net, [1.5, 0.0])))  # outside the box
    with pytest.raises(InvalidValueError):
        encode_controller(net, [x1], [u], [-1], [1])
    with pytest.raises(InvalidValueError):
        encode_controller(net, [x1, x2], list(sr.variables("relu0_0")), [-1, -1], [1, 1])  # name clash
    with pytest.raises(InvalidValueError):
        sr.dynamics.lyapunov(PLANT, [x1, x2], controller=net, control_inputs=[u])  # no box


def _forward(net, x):
    pre = net.activations(np.asarray(x, dtype=float))
    return np.concatenate([np.maximum(z, 0) for z in pre[:-1]]), pre[-1]


def test_lyapunov_of_a_stable_closed_loop() -> None:
    res = sr.dynamics.lyapunov(PLANT, [x1, x2], controller=STABLE, control_inputs=[u], domain=BOX)
    assert res.proven and res.level is not None and res.level > 0
    rep = check_program_certificate(res.certificate)
    assert rep.valid
    # the encoding's constraints are part of what the checker verified: 4 neurons and 1 control input
    loop_proof = res.certificate.sos[1]
    assert len(loop_proof.equalities) == 5 and len(loop_proof.inequalities) >= 12
    V = res.function
    Vdot = sr.dynamics.lie_derivative(V, PLANT, [x1, x2])
    # brute force on the box: dV/dt < 0 along the closed loop away from the origin
    g = np.stack(np.meshgrid(np.linspace(-1, 1, 81), np.linspace(-1, 1, 81)), -1).reshape(-1, 2)
    g = g[np.abs(g).sum(axis=1) > 0]
    us = STABLE.forward(g)[:, 0]
    vd = Vdot.evaluate(np.c_[g, us], ["x1", "x2", "u"])
    assert np.all(vd < 0)
    # trajectories from the proven sublevel set stay in it, V decreases, and they converge
    P = np.array([[V.coefficient({"x1": 2}), V.coefficient({"x1": 1, "x2": 1}) / 2],
                  [V.coefficient({"x1": 1, "x2": 1}) / 2, V.coefficient({"x2": 2})]], dtype=float)
    L = np.linalg.cholesky(np.linalg.inv(P))
    for th in np.linspace(0, 2 * np.pi, 7)[:-1]:
        x0 = np.sqrt(res.level) * (L @ np.array([np.cos(th), np.sin(th)]))
        traj = simulate(STABLE, x0).y
        vals = V.evaluate(traj.T, ["x1", "x2"])
        assert np.all(np.abs(traj) <= 1) and np.all(np.diff(vals) <= 1e-12) and np.linalg.norm(traj[:, -1]) < 1e-3


def test_no_lyapunov_function_for_a_destabilising_controller() -> None:
    res = sr.dynamics.lyapunov(PLANT, [x1, x2], controller=UNSTABLE, control_inputs=[u], domain=BOX)
    assert not res.proven and res.certificate is None and res.status == "infeasible"
    assert "margin" in res.message or "infeasible" in res.message
    # the simulation agrees: a trajectory from near the origin leaves the box
    leave = simulate(UNSTABLE, [0.01, 0.0], T=40.0).y
    assert np.abs(leave).max() > 1


def _disc(c, r):
    return [r * r - (x1 - c[0]) ** 2 - (x2 - c[1]) ** 2 >= 0]


INITIAL = ([0.3, 0.0], 0.1)


def test_barrier_of_a_closed_loop_and_a_moved_unsafe_set() -> None:
    unsafe = ([-0.7, 0.7], 0.2)
    res = sr.dynamics.barrier(PLANT, [x1, x2], initial=_disc(*INITIAL), unsafe=_disc(*unsafe), domain=BOX,
                              degree=2, rate=-1.0, controller=STABLE, control_inputs=[u])
    assert res.proven and check_program_certificate(res.certificate).valid
    B = res.function
    rng = np.random.default_rng(2)
    for _ in range(6):
        a, r = rng.uniform(0, 2 * np.pi), 0.1 * np.sqrt(rng.uniform())
        traj = simulate(STABLE, [0.3 + r * np.cos(a), r * np.sin(a)], T=10.0).y
        assert np.all(np.abs(traj) <= 1) and np.all(B.evaluate(traj.T, ["x1", "x2"]) <= 1e-9)
        assert np.all(np.hypot(traj[0] + 0.7, traj[1] - 0.7) > 0.2)
    # dropping the controller's equality u = π(x) from the certificate's set breaks it
    proof = res.certificate.sos[2]
    tampered = replace(res.certificate, sos=(*res.certificate.sos[:2], replace(
        proof, equalities=proof.equalities[:-1],
        equality_multipliers=tuple(m for m in proof.equality_multipliers if m[0] < len(proof.equalities) - 1))))
    rep = check_program_certificate(tampered)
    assert not rep.valid

    # with the destabilising controller, an unsafe disc on a simulated trajectory inside the box: no barrier
    def far(_t, s):
        return np.hypot(s[0], s[1]) - 0.8

    far.terminal = True
    hit = simulate(UNSTABLE, INITIAL[0], T=20.0, events=far)
    c = hit.y[:, -1]
    assert np.all(np.abs(hit.y) <= 1)
    again = sr.dynamics.barrier(PLANT, [x1, x2], initial=_disc(*INITIAL), unsafe=_disc(c, 0.05), domain=BOX,
                                degree=2, rate=-1.0, controller=UNSTABLE, control_inputs=[u])
    assert not again.proven and again.certificate is None


def test_lyapunov_of_a_polynomial_plant_with_the_network_controller() -> None:
    """x1' = x2, x2' = u - x2^3: the Putinar certificate on the closed-loop set has degree 4."""
    f = [x2, u - x2**3]
    res = sr.dynamics.lyapunov(f, [x1, x2], controller=STABLE, control_inputs=[u], domain=BOX)
    assert res.proven and check_program_certificate(res.certificate).valid
    Vdot = sr.dynamics.lie_derivative(res.function, f, [x1, x2])
    g = np.random.default_rng(3).uniform(-1, 1, (4000, 2))
    assert np.all(Vdot.evaluate(np.c_[g, STABLE.forward(g)[:, 0]], ["x1", "x2", "u"]) < 0)

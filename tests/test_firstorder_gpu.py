"""The first-order backend through cupy: the planted suite and the SDPLIB / literature agreement of
``test_firstorder.py`` on ``device="gpu"``, plus CPU–GPU agreement of the projections.

Marked ``gpu``; skipped cleanly where cupy or a CUDA device is missing.
"""

from __future__ import annotations

import numpy as np
import pytest

from sosrelax.conic import Cone, ConeKind, SolverStatus, cone_violation
from sosrelax.solvers import solve_conic
from sosrelax.solvers.firstorder._xp import cuda_available, select_backend
from sosrelax.solvers.firstorder.cones import ConeLayout

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not cuda_available(), reason="needs cupy and a CUDA device"),
]

METHODS = ("pdhg", "admm")


def test_gpu_projection_matches_cpu_with_padding() -> None:
    gpu = select_backend("gpu")
    cones = [Cone(ConeKind.ZERO, 2), Cone(ConeKind.NONNEG, 3), Cone(ConeKind.SOC, 4)]
    cones += [Cone(ConeKind.PSD, n) for n in (2, 3, 5, 7, 8, 30)]
    cpu_layout = ConeLayout.build(cones, select_backend("cpu"))
    gpu_layout = ConeLayout.build(cones, gpu, bucket_ratio=2.0)
    v = np.random.default_rng(0).standard_normal(cpu_layout.m)
    for dual in (False, True):
        ref = cpu_layout.project(v, dual=dual)
        out = gpu.to_host(gpu_layout.project(gpu.asarray(v), dual=dual))
        np.testing.assert_allclose(out, ref, atol=1e-10)


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("kind", ["lp", "socp", "sdp"])
def test_gpu_planted_optimum(kind: str, method: str) -> None:
    from test_firstorder import planted_optimal, solve_fo

    prog, value = planted_optimal(kind, 0)
    sol = solve_fo(prog, method, device="gpu")
    assert sol.status is SolverStatus.OPTIMAL, sol.message
    assert "on gpu" in sol.message
    assert sol.primal_objective == pytest.approx(value, rel=1e-5, abs=1e-5)


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("kind", ["lp", "socp", "sdp"])
def test_gpu_planted_infeasible_and_unbounded(kind: str, method: str) -> None:
    from test_firstorder import planted_infeasible, planted_unbounded, solve_fo

    prog = planted_infeasible(kind, 4)
    sol = solve_fo(prog, method, device="gpu")
    assert sol.status is SolverStatus.INFEASIBLE, sol.message
    assert sol.z is not None and prog.b @ sol.z < 0
    assert cone_violation(prog.cones, sol.z, dual=True) <= 1e-8 * np.max(np.abs(sol.z))
    prog = planted_unbounded(kind, 5)
    sol = solve_fo(prog, method, device="gpu")
    assert sol.status is SolverStatus.UNBOUNDED, sol.message
    assert sol.x is not None and prog.c @ sol.x < 0


@pytest.mark.parametrize("method", ["auto", "pdhg"])
@pytest.mark.parametrize("name", ["camel", "floudas46-l3", "qp-l1", "c5-l1", "k3-l2"])
def test_gpu_literature_relaxations_agree_with_clarabel(name: str, method: str) -> None:
    from test_firstorder import _relaxation

    prog = _relaxation(name)
    ref = solve_conic(prog, "clarabel")
    sol = solve_conic(prog, "firstorder", options={"method": method, "device": "gpu"})
    assert sol.status is SolverStatus.OPTIMAL, sol.message
    scale = max(1.0, abs(ref.primal_objective))
    assert abs(sol.dual_objective - ref.primal_objective) <= 1e-4 * scale


@pytest.mark.parametrize("method", ["auto", "pdhg"])
@pytest.mark.parametrize("name", ["truss1", "theta1", "mcp100"])
def test_gpu_sdplib_agrees_with_clarabel(name: str, method: str) -> None:
    from test_firstorder import _clarabel_sdplib, _sdplib

    prog = _sdplib(name)
    ref = _clarabel_sdplib(name)
    sol = solve_conic(prog, "firstorder", options={"method": method, "device": "gpu"})
    assert sol.status is SolverStatus.OPTIMAL, sol.message
    scale = max(1.0, abs(ref.primal_objective))
    assert abs(sol.primal_objective - ref.primal_objective) <= 1e-4 * scale

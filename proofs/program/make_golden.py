"""Write the golden SOS program certificates of this folder (run from the repository root:
``.venv/bin/python proofs/program/make_golden.py``).

Each file is produced by the default pipeline (Clarabel, exact rounding, independent check) and carries
``metadata.proves`` (the statement in words) and ``metadata.expected_objective`` (the exact objective value
the checker must recompute).  ``tests/test_program_proofs.py`` re-checks every file on every run.
"""

from __future__ import annotations

from pathlib import Path

import sosrelax as sr
from sosrelax.certificate.program_check import check_program_certificate
from sosrelax.certificate.program_format import ProgramCertificate
from sosrelax.program import solve_program

HERE = Path(__file__).resolve().parent


def _write(name: str, cert: ProgramCertificate | None, proves: str) -> None:
    assert cert is not None, name
    cert = ProgramCertificate(cert.variables, cert.decisions, cert.values, cert.objective, cert.sos,
                              cert.equalities, cert.inequalities,
                              {"proves": proves, "expected_objective": str(cert.objective.value)})
    assert check_program_certificate(cert).valid, name
    (HERE / f"{name}.json").write_bytes(cert.to_json())


def main() -> None:
    x, y = sr.variables("x y")
    x1, x2 = sr.variables("x1 x2")
    g = sr.poly_variable("gamma")
    camel = 4 * x**2 - 2.1 * x**4 + x**6 / 3 + x * y - 4 * y**2 + 4 * y**4
    res = solve_program(sr.SOSProgram(maximize=g, constraints=[sr.sos(camel - g)]))
    _write("camel_global_bound", res.certificate,
           "six-hump camel >= gamma for every (x, y) (SOSTOOLS sosdemo3 as an SOS program)")
    motzkin = x**4 * y**2 + x**2 * y**4 - 3 * x**2 * y**2 + 1
    res = solve_program(sr.SOSProgram(maximize=g, constraints=[
        sr.sos((x**2 + y**2 + 1) * (motzkin - g), margin=1e-6)]))
    _write("motzkin_global_bound", res.certificate,
           "Motzkin polynomial >= gamma (gamma just below its minimum 0) via (x^2+y^2+1)(M - gamma) SOS")
    lya = sr.dynamics.lyapunov([-x1 + x2, -x1 - x2 - x2**3], [x1, x2], degree=2)
    _write("lyapunov_damped_cubic", lya.certificate,
           "V >= 1e-3|x|^2 and -dV/dt >= 1e-3|x|^2 for x1' = -x1 + x2, x2' = -x1 - x2 - x2^3")
    vdp = [-x2, x1 + (x1**2 - 1) * x2]
    roa = sr.dynamics.region_of_attraction(vdp, 1.5 * x1**2 - x1 * x2 + x2**2, [x1, x2])
    _write("van_der_pol_reversed_roa", roa.certificate,
           f"reversed-time Van der Pol: dV/dt < 0 on {{V <= {roa.level!r}}} minus 0, V = 1.5x1^2 - x1x2 + x2^2")
    bar = sr.dynamics.barrier([x2, -x1 + x1**3 / 3 - x2], [x1, x2],
                              initial=[0.25 - (x1 - 1.5) ** 2 - x2**2 >= 0],
                              unsafe=[0.16 - (x1 + 1) ** 2 - (x2 + 1) ** 2 >= 0], degree=4, rate=-1.0)
    _write("prajna_jadbabaie_barrier", bar.certificate,
           "Prajna & Jadbabaie (HSCC 2004) example: B <= 0 on X0, B >= 1/100 on Xu, dB/dt <= -B")
    closed_loop()


def closed_loop() -> None:
    """The double integrator with a ReLU network controller u = -(ReLU(x1) - ReLU(-x1)) - 2(ReLU(x2) - ReLU(-x2))
    on the box [-1, 1]^2 (``.venv/bin/python -c "import runpy; runpy.run_path('proofs/program/make_golden.py',
    run_name='closed_loop')"`` writes this file alone)."""
    import numpy as np

    from sosrelax.nn import from_weights

    x1, x2, u = sr.variables("x1 x2 u")
    net = from_weights([np.array([[1.0, 0.0], [-1.0, 0.0], [0.0, 1.0], [0.0, -1.0]]),
                        np.array([[-1.0, 1.0, -2.0, 2.0]])])
    res = sr.dynamics.lyapunov([x2, u], [x1, x2], controller=net, control_inputs=[u], domain=([-1, -1], [1, 1]))
    _write("relu_closed_loop_lyapunov", res.certificate,
           "x1' = x2, x2' = u, u = ReLU network (4 neurons) on [-1, 1]^2: V >= eps|x|^2 and -dV/dt >= eps|x|^2 on "
           "the network's exact encoding (h >= 0, h >= z, h(h - z) = 0, u = output layer)")


if __name__ == "__main__":
    main()
elif __name__ == "closed_loop":
    closed_loop()

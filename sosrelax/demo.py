"""``sosrelax demo``: the main job end to end on the embedded default solver (Clarabel).

1. Global minimum of the six-hump camel function, level-3 moment–SOS relaxation: a bound proven by the
   independent exact checker, its certificate written to a file and re-checked from the file.
2. The Motzkin polynomial: nonnegative but not a sum of squares, so the relaxation must report that it gives
   no bound instead of a number.
3. Shor's relaxation of MaxCut on the 5-cycle: (25 + 5√5)/8, proven.
4. A ReLU network (2-32-32-2, seeded weights) and two catastrophe checkers written in VNN-LIB: one that
   no input can trigger, proven by the batched search with a proof tree written to a file and re-checked
   from the file by the independent checker; one that an input does trigger, with the counterexample
   re-evaluated exactly.
"""

from __future__ import annotations

import os
import tempfile

__all__ = ["run_demo"]


def run_demo(out_dir: str | None = None) -> int:
    """Run the demonstration; returns 0 when every step behaved as the mathematics says."""
    import sosrelax as sr

    ok = True
    out_dir = out_dir or tempfile.mkdtemp(prefix="sosrelax-demo-")

    print("== 1. six-hump camel: minimise 4x^2 + xy - 4y^2 - 2.1x^4 + 4y^4 + x^6/3 (level 3)")
    x, y = sr.variables("x y")
    camel = 4 * x**2 + x * y - 4 * y**2 - 2.1 * x**4 + 4 * y**4 + x**6 / 3
    res = sr.solve(sr.Problem(minimize=camel), relaxation="sos", level=3)
    print(
        f"   status {res.status.value}; proven lower bound {res.bound}; published optimum -1.0316284535"
    )
    if res.bound is None or res.bound > -1.0316284535 + 1e-9:
        ok = False
        print("   UNEXPECTED: no proven bound, or a bound above the true minimum")
    for p in res.minimizers():
        print(f"   global minimiser read off the moments: ({p[0]:+.8f}, {p[1]:+.8f})")
    if res.certificate is not None and res.certified:
        path = os.path.join(out_dir, "camel.cert.json")
        res.certificate.save(path)
        report = sr.check_certificate(path)
        print(
            f"   certificate written to {path}; re-checked from the file: valid={report.valid},"
            f" bound {report.bound_float}"
        )
        ok &= bool(report.valid)

    print("== 2. Motzkin polynomial x^4y^2 + x^2y^4 - 3x^2y^2 + 1 (nonnegative, not SOS)")
    motzkin = x**4 * y**2 + x**2 * y**4 - 3 * x**2 * y**2 + 1
    res = sr.solve(sr.Problem(minimize=motzkin), relaxation="sos", level=3)
    print(f"   status {res.status.value}; proven lower bound {res.bound}")
    print(f"   {res.message}")
    if res.bound is not None and res.bound > 1e-9:
        ok = False
        print("   UNEXPECTED: a bound above the true minimum 0")

    print("== 3. MaxCut on the 5-cycle, Shor's SDP relaxation")
    v = sr.variables("v", 5)
    cut = sum((1 - v[i] * v[(i + 1) % 5]) / 2 for i in range(5))
    res = sr.solve(sr.Problem(maximize=cut, subject_to=sr.hypercube(v)), relaxation="sdp")
    print(
        f"   proven upper bound {res.bound}; (25 + 5*sqrt(5))/8 = {(25 + 5 * 5**0.5) / 8:.7f};"
        " the best cut has 4 edges"
    )
    if res.bound is None or res.bound < 4:
        ok = False
        print("   UNEXPECTED: no proven bound, or a bound below the true maximum")

    ok &= _network_demo(out_dir)

    print("demo " + ("finished: every result agrees with the mathematics" if ok else "FAILED"))
    return 0 if ok else 1


def _network_demo(out_dir: str) -> bool:
    import numpy as np

    from sosrelax.certificate.proof_tree import check_proof_tree
    from sosrelax.nn import from_weights, verify
    from sosrelax.nn.vnnlib import parse_vnnlib

    print("== 4. a ReLU network 2-32-32-2 (seeded weights) on the input box [-1, 1]^2")
    rng = np.random.default_rng(7)
    sizes = (2, 32, 32, 2)
    net = from_weights([rng.normal(0, 1 / np.sqrt(a), (b, a)) for a, b in zip(sizes, sizes[1:], strict=False)],
                       [rng.normal(0, 0.1, b) for b in sizes[1:]], name="demo")
    grid = np.stack(np.meshgrid(np.linspace(-1, 1, 301), np.linspace(-1, 1, 301)), -1).reshape(-1, 2)
    y = net.forward(grid)
    top = float(np.max(y[:, 0] - y[:, 1]))
    print(f"   largest Y_0 - Y_1 seen on a 301 x 301 grid: {top:.4f}")
    ok = True
    for name, t, expect in (("safe", round(top + 0.25, 2), "unsat"), ("unsafe", round(top - 0.25, 2), "sat")):
        spec = ("(declare-const X_0 Real)\n(declare-const X_1 Real)\n(declare-const Y_0 Real)\n"
                "(declare-const Y_1 Real)\n(assert (>= X_0 -1))\n(assert (<= X_0 1))\n"
                "(assert (>= X_1 -1))\n(assert (<= X_1 1))\n"
                f"(assert (>= (- Y_0 Y_1) {t}))\n")
        prop = parse_vnnlib(spec, source=f"{name}.vnnlib")
        res = verify(net, prop, timeout=60, semantics="real")
        print(f"   catastrophe 'Y_0 - Y_1 >= {t}' ({name}): {res.status.value}; {res.message}")
        if res.status.value != expect:
            ok = False
            print(f"   UNEXPECTED: expected {expect}")
            continue
        if res.proof is not None:
            path = os.path.join(out_dir, "network.proof.json")
            res.proof.save(path)
            report = check_proof_tree(path, network=net)
            print(f"   proof tree written to {path}; re-checked from the file: valid={report.valid}, "
                  f"{report.leaves} leaves, smallest rigorous leaf bound {report.min_margin:.3g}, "
                  f"{report.seconds:.2f} s")
            ok &= bool(report.valid)
        if res.counterexample is not None:
            x, yv = res.counterexample
            print(f"   counterexample x = ({x[0]:+.6f}, {x[1]:+.6f}); exact outputs give "
                  f"Y_0 - Y_1 = {yv[0] - yv[1]:.6f} >= {t}")
    return ok

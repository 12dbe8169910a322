"""``sosrelax demo``: the main job end to end on the embedded default solver (Clarabel).

1. Global minimum of the six-hump camel function, level-3 moment–SOS relaxation: a bound proven by the
   independent exact checker, its certificate written to a file and re-checked from the file.
2. The Motzkin polynomial: nonnegative but not a sum of squares, so the relaxation must report that it gives
   no bound instead of a number.
3. Shor's relaxation of MaxCut on the 5-cycle: (25 + 5√5)/8, proven.
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

    print("demo " + ("finished: every result agrees with the mathematics" if ok else "FAILED"))
    return 0 if ok else 1

"""Checker timings on planted SOS identities with Gram orders 50, 100, 200, 400.

For each order k a random PSD Gram matrix Q = V V^T + 1e-3 I (rank k/2 plus a margin) is placed on
the first k monomials of a graded basis in 5 variables, f = b^T Q b exactly, and the certificate
"f >= 0" is checked twice: with exact LDL^T and with the float-guided exact congruence.  Writes
docs/benchmarks/checker.md.  Run by hand: ``.venv/bin/python benchmarks/bench_checker.py``.
"""

from __future__ import annotations

import platform
import time
from fractions import Fraction
from itertools import product
from pathlib import Path

import numpy as np

from sosrelax.certificate import Certificate, SOSMultiplier, check_certificate, gram_from_array
from sosrelax.certificate.check import residual

ORDERS = (50, 100, 200, 400)
LDL_MAX = 100  # exact LDL^T grows like k^4 bit operations; beyond this it takes minutes
OUT = Path(__file__).resolve().parents[1] / "docs" / "benchmarks" / "checker.md"


def _basis(n: int, k: int) -> tuple[tuple[int, ...], ...]:
    d = 0
    while True:
        b = sorted((e for e in product(range(d + 1), repeat=n) if sum(e) <= d),
                   key=lambda e: (sum(e), e))
        if len(b) >= k:
            return tuple(b[:k])
        d += 1


def _cert(k: int, rng: np.random.Generator) -> Certificate:
    V = rng.standard_normal((k, k // 2))
    Q = V @ V.T + 1e-3 * np.eye(k)
    basis = _basis(5, k)
    m = SOSMultiplier(None, basis, gram_from_array(Q))
    c0 = Certificate(tuple(f"x{i}" for i in range(5)), "lower_bound", (), 0, (), (), (m,), ())
    f = tuple((e, -c) for e, c in residual(c0))
    return Certificate(c0.variables, "lower_bound", f, Fraction(0), (), (), (m,), ())


def main() -> None:
    rng = np.random.default_rng(0)
    rows = []
    for k in ORDERS:
        cert = _cert(k, rng)
        t = time.perf_counter()
        rep_c = check_certificate(cert, psd_method="congruence")
        tc = time.perf_counter() - t
        assert rep_c.valid, rep_c.reason
        if k <= LDL_MAX:
            t = time.perf_counter()
            rep_l = check_certificate(cert, psd_method="ldl")
            tl: float | None = time.perf_counter() - t
            assert rep_l.valid, rep_l.reason
        else:
            tl = None
        ratio = f"{tl / tc:.1f}" if tl else "-"
        ldl = f"{tl:.2f}" if tl else f"not run (> {LDL_MAX})"
        rows.append((k, len(cert.objective), ldl, f"{tc:.2f}", ratio))
        print(f"order {k:4d}  terms {len(cert.objective):6d}  exact LDL {ldl:>16s} s  "
              f"congruence {tc:6.2f} s  ratio {ratio}")
    lines = [
        "# Checker benchmark",
        "",
        "`benchmarks/bench_checker.py`: f = b(x)^T Q b(x) in 5 variables, Q = V V^T + 1e-3 I "
        "(rank k/2 plus margin), certificate \"f >= 0\" checked in full "
        "(exact residual, PSD proof).",
        f"Machine: {platform.machine()}, {platform.python_implementation()} "
        f"{platform.python_version()}. Times include the exact residual computation.",
        "",
        "| Gram order | terms of f | exact LDL^T (s) | float-guided exact congruence (s) "
        "| LDL / congruence |",
        "| ---: | ---: | ---: | ---: | ---: |",
    ]
    lines += [f"| {k} | {t} | {a} | {b} | {r} |" for k, t, a, b, r in rows]
    lines += ["", "Goal: order 200 in at most 5 s."]
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()

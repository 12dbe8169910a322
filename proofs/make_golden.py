"""Regenerate the golden certificates of literature problems (run by hand; the files are committed).

    python proofs/make_golden.py

Each problem is solved with the default pipeline; the certificate the checker verified is saved with
its proven bound in ``metadata["expected_bound"]``, which ``tests/test_invalid_proofs.py`` compares
with a fresh check on every test run.
"""

from __future__ import annotations

import math
from pathlib import Path

import sosrelax as sr
import sosrelax.problems as lib

HERE = Path(__file__).resolve().parent


def problems() -> list[tuple[str, str, sr.Problem, int]]:
    x, y = sr.variables("x y")
    c5 = lib.maxcut(5, lib.C5_EDGES)
    return [
        (
            "camel_level3_lower_bound",
            "six-hump camel >= -1.0316284 (global minimum, level 3)",
            lib.camel(),
            3,
        ),
        (
            "floudas46_level3_lower_bound",
            "Floudas 4.6 / Lasserre Ex. 5: -x1 - x2 >= -5.5080133 on K",
            lib.floudas46(),
            3,
        ),
        (
            "gloptipoly_qp_level2_lower_bound",
            "GloptiPoly nonconvex QP: level-2 bound -5.6923",
            lib.gloptipoly_qp(),
            2,
        ),
        (
            "gloptipoly_qp_level4_lower_bound",
            "GloptiPoly nonconvex QP: exact bound -4 at level 4",
            lib.gloptipoly_qp(),
            4,
        ),
        (
            "maxcut_c5_shor_upper_bound",
            f"MaxCut of the 5-cycle <= (25 + 5*sqrt(5))/8 = {(25 + 5 * math.sqrt(5)) / 8:.7f} (Shor)",
            c5,
            1,
        ),
        ("maxcut_c5_level2_upper_bound", "MaxCut of the 5-cycle <= 4 (level 2, exact)", c5, 2),
        (
            "disc_and_halfplane_infeasible",
            "x^2 + y^2 <= 1 and x >= 2 have no common point",
            sr.Problem(minimize=x + y, subject_to=[x**2 + y**2 <= 1, x >= 2]),
            1,
        ),
    ]


def main() -> None:
    for name, statement, prob, level in problems():
        res = sr.solve(prob, level=level)
        if not res.certified or res.certificate is None:
            raise SystemExit(f"{name}: no verified certificate ({res.message})")
        cert = res.certificate
        expected = "none" if cert.kind == "infeasible" else str(res.check.bound)
        meta = dict(cert.metadata, proves=statement, expected_bound=expected)
        out = type(cert)(**{**cert.__dict__, "metadata": meta})
        out.save(HERE / f"{name}.json")
        print(f"{name}: {res.message}")


if __name__ == "__main__":
    main()

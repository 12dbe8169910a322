"""What proving costs next to solving: sparse level-2 relaxations of chained problems at growing n.

For Broyden tridiagonal, generalized Rosenbrock and chained Wood (Waki, Kim, Kojima and Muramatsu 2006, known
minima 0, 1, 1), ``sr.solve(problem, level=2, sparsity="correlative")`` is timed twice in the same run: with
``certificate=False`` (build, solve and reading the moments back: the solve alone) and with the certificate step
(exact rounding, the independent checker, and the centred re-solves when the first rounding fails).  The table
reports both wall times, their ratio (goal: at most 2), the proven bound and its distance to the known minimum
(goal: at most 1e-5), and where the certificate step spent its time (``res.info["time"]``).  Writes
docs/benchmarks/certificate_stage.md.

Run: ``.venv/bin/python benchmarks/bench_certificate_stage.py [--sizes 100,200,1000] [--families ...]``.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from _common import machine_line, markdown_table

import sosrelax as sr
from sosrelax.problems import broyden_tridiagonal, chained_wood, generalized_rosenbrock

FAMILIES = {
    "broyden": (broyden_tridiagonal, 0.0),
    "rosenbrock": (generalized_rosenbrock, 1.0),
    "wood": (chained_wood, 1.0),
}


def measure(family: str, n: int, time_limit: float) -> list[str]:
    """One row: solve-only and solve+prove wall times, their ratio, the bound and the stage times."""
    make, optimum = FAMILIES[family]
    problem = make(n)
    t0 = time.perf_counter()
    sr.solve(problem, level=2, sparsity="correlative", certificate=False, progress=False)
    solve_only = time.perf_counter() - t0
    t0 = time.perf_counter()
    res = sr.solve(problem, level=2, sparsity="correlative", time_limit=time_limit, progress=False)
    proved = time.perf_counter() - t0
    t = res.info["time"]
    gap = "-" if res.bound is None else f"{optimum - res.bound:.2e}"
    bound = "-" if res.bound is None else f"{res.bound:.9g}"
    assert res.bound is None or res.bound <= optimum, (family, n, res.bound)  # never above the known minimum
    print(f"{family:>10} n={n:5d}  solve-only {solve_only:7.2f} s  solve+prove {proved:7.2f} s  "
          f"ratio {proved / solve_only:6.1f}  bound {bound}  gap {gap}  ({res.status.value}; rounding "
          f"{t['rounding']:.2f}, check {t['check']:.2f}, re-solves {t['resolves']:.2f})", flush=True)
    return [family, str(n), f"{solve_only:.2f}", f"{proved:.2f}", f"{proved / solve_only:.1f}", bound, gap,
            f"{t['rounding']:.2f}", f"{t['check']:.2f}", f"{t['resolves']:.2f}"]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="100,200,1000")
    ap.add_argument("--families", default="broyden,rosenbrock,wood")
    ap.add_argument("--time-limit", type=float, default=600.0, help="seconds for each solve+prove call")
    ap.add_argument("--out", default=str(Path(__file__).resolve().parents[1] / "docs" / "benchmarks"
                                         / "certificate_stage.md"))
    args = ap.parse_args()
    sizes = [int(v) for v in args.sizes.split(",")]
    rows = [measure(family, n, args.time_limit) for family in args.families.split(",") for n in sizes]
    table = markdown_table(
        ["problem", "n", "solve only (s)", "solve + prove (s)", "ratio", "proven bound", "below the minimum",
         "rounding (s)", "checker (s)", "re-solves (s)"],
        rows, [False, True, True, True, True, True, True, True, True, True],
    )
    text = "\n".join([
        "# The certificate stage at scale",
        "",
        "`sr.solve(problem, level=2, sparsity=\"correlative\")` on chained problems of Waki et al. (2006), timed",
        "end to end with `certificate=False` (build, solve, moments read back) and with the certificate step",
        f"(exact rounding, the independent checker, centred re-solves; time limit {args.time_limit:.0f} s), in the",
        "same run (`benchmarks/bench_certificate_stage.py`).  Goals: a proven bound within 1e-5 of the known",
        "minimum (0, 1, 1) and solve + prove at most twice the solve alone.",
        "",
        table,
        "",
        "The certificate step first rounds the solver's own dual; on these chains the optimal Gram matrices are",
        "singular, the rounding fails, and the proof comes from a centred re-solve for a bound backed off below the",
        "value, its Gram matrices corrected in their own metric before the exact projection, then bisection toward",
        "the smaller of the solver's value and the objective at a local minimiser found from the moments (the",
        "solver overshoots here) and, where the proof stays more than 1e-5 from that, a second pass with SCS.",
        "Exact rounding and checking are per clique but sequential, in Python rationals: they, not the re-solves,",
        "set the ratio, which grows with n.  At n = 1000 each exact rounding takes tens of seconds, and the",
        "certificate step's own budget (30 s, 20 solves or 8 roundings, whichever is longest) ends before",
        "Broyden and Rosenbrock get within 1e-5: neither goal is met there yet.",
        "",
        f"Measured on {machine_line(('numpy', 'clarabel', 'scs'))}.",
        "",
    ])
    Path(args.out).write_text(text)
    print(f"table written to {args.out}")


if __name__ == "__main__":
    main()

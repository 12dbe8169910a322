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


def page(table: str, time_limit: float) -> str:
    """The page: the table and what it shows."""
    return "\n".join([
        "# The certificate stage at scale",
        "",
        "`sr.solve(problem, level=2, sparsity=\"correlative\")` on chained problems of Waki et al. (2006), timed",
        "end to end with `certificate=False` (build, solve, moments read back) and with the certificate step",
        f"(exact rounding, the independent checker, centred re-solves; time limit {time_limit:.0f} s), in the",
        "same run (`benchmarks/bench_certificate_stage.py`).  Goals: a proven bound within 1e-5 of the known",
        "minimum (0, 1, 1) and solve + prove at most twice the solve alone.",
        "",
        table,
        "",
        "The certificate step first rounds the solver's own dual; on these chains the optimal Gram matrices are",
        "singular, that rounding fails, and the proof comes from centred re-solves for bounds backed off below the",
        "value, then bisection toward the smaller of the solver's value and the objective at a local minimiser",
        "found from the moments (its mean, and ±√E[x_i²] where the moments show spread: the mean of the two",
        "minimisers ±1 of Rosenbrock's first variable is a saddle), and, where the proof stays more than 1e-5",
        "away, a second pass with SCS.  On a sparse relaxation the bisection tries the target first and stops",
        "within 1e-5.",
        "",
        "Where the accuracy goes: the centred program's margin is uniform, t = (value − γ)/W with W about the",
        "total Gram order (6 000 for Rosenbrock at n = 1000, objective divided by 256), so a backoff of 1e-5",
        "asks for t ≈ 6.5e-12, far below what Clarabel resolves: it ends these programs \"almost solved\" at",
        "t ≈ -2.5e-8 whatever the backoff, with the smallest eigenvalues of its interior Gram matrices Z_i",
        "between 1.65e-8 and 2.7e-8.  So Z_i + t·I is indefinite in only 2 to 17 of the 999 blocks.  Each",
        "block now keeps the margin t where Z_i + t·I stays definite and takes −λ_min(Z_i)/2 elsewhere; the",
        "bound loses Σ_i (m_i − t) instead of |t| on every block (with the bisection changes above, Rosenbrock",
        "n = 1000: 4.9e-4 below the minimum instead of 1.1e-2).  What is left is the rounding of those few blocks (their projection onto",
        "the identities breaks definiteness near the value) and the bisection's budget.",
        "",
        "Overheads removed: the certificates of one relaxation share their bases, problem data and change of",
        "variables as objects (`MomentRelaxation.basis_rows`, `Scaling.substitution`, one `problem_terms` per",
        "problem), and the checker keeps what depends on those immutable objects only (their validation under",
        "the check's limits, the grouping of each basis's pairs, the substituted objective) from one check to",
        "the next; any other object is validated and expanded in full (`tests/test_check_shared_objects.py`).",
        "Profiled on chained Wood at n = 1000, the five checks of one call took 2.6 s instead of 13 s, and",
        "building certificates 1 s instead of 17 s (no more 10^7 exponents normalised and validated per",
        "certificate).  `sr.solve`'s second opinion (SCS on the whole",
        "relaxation, with its own certificate step) is skipped after a clean first solve whose certificate step",
        "had the SCS pass due: on these chains it proved nothing better (at n = 1000 it stopped at its time",
        "limit, 10 s).",
        "",
        "Met: within 1e-5 of the minimum for all three at n = 100 and for chained Wood at n = 1000 (8.1e-6).",
        "Not met: the ratio (7-77 at n = 100, 16-18 at n = 1000, against the goal of 2; it was 5-159 and",
        "22-35 before these changes); each centred re-solve costs about one solve, the proofs need several,",
        "and the rounding and the checker together still cost several solves at n = 1000 (Broyden: 17 s and",
        "10 s).  Not met either: Broyden (2.6e-4 below, was 3.1e-4) and",
        "Rosenbrock (4.9e-4 below, was 1.1e-2) at n = 1000.  The SCS pass, where its budget lets it start,",
        "is what brings chained Wood to 8e-6 and Rosenbrock at n = 100 to 2.4e-6; on Broyden at n = 300 and",
        "1000 it runs to the end of the budget without a proof.  An exact certificate at the value itself",
        "(on the face of the minimisers (±1, 1, …, 1) of Rosenbrock and (1, …, 1) of Wood, block by block) is what the",
        "remaining gap asks for; the facial step handles one σ₀ block today.",
        "",
        f"Measured on {machine_line(('numpy', 'clarabel', 'scs'))}.",
        "",
    ])


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
    text = page(table, args.time_limit)
    Path(args.out).write_text(text)
    print(f"table written to {args.out}")


if __name__ == "__main__":
    main()

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
        "found from the moments (on sparse relaxations it stops at a proof within 1e-5 of that), and, where the",
        "proof stays more than 1e-5 away, a second pass with SCS.",
        "",
        "Exact rounding of these certificates (σ₀ blocks only) is done in bulk on integer arrays",
        "(`sosrelax/certificate/cliqueround.py`): the monomials of all blocks are numbered once by their sparse",
        "codes, the float correction in the blocks' own metric solves its Schur system with a symmetric-ordered",
        "sparse LU, and the joint orthogonal projection onto the identities (each monomial's residual spread over",
        "its entries in every block) gives each block one integer matrix over one denominator.  The checker expands",
        "the change of variables term by term on sparse codes and groups exponent rows by their sparse codes.  At",
        "n = 1000 one rounding takes 1-2 s (5 s for the solver's own dual, whose correction fails) and one check",
        "2-3 s, most of it in the validation of the file's dense exponent tuples (10^7 integers for the bases",
        "alone).  Before this, one rounding took 20-35 s.",
        "",
        "Met: within 1e-5 of the minimum for all three at n = 100 and for chained Wood at n = 1000.  Not met: the",
        "ratio (5-160 at n = 100, 22-35 at n = 1000, against the goal of 2; it was 44-208 and 55-165): each",
        "centred re-solve costs about one solve, the proofs need several, and the re-solves, the rounding and the",
        "checker each cost more than the solve alone at n = 1000.  Not met either: Broyden (3.1e-4 below) and",
        "Rosenbrock (1.1e-2 below) at n = 1000.  There Clarabel stops the centred programs short (status",
        "inaccurate, margin about -2.5e-8 per block whatever the backoff), and a certificate from its interior",
        "Gram matrices loses that margin times the number of blocks (about 1000) in the bound; SCS, at high",
        "accuracy, takes longer than the budget left (30 s, 20 solves or 8 roundings, whichever is longest).",
        "Broyden's bound is a little weaker than before (2.2e-4) because the budget, which grows with the cost of",
        "a rounding, is now smaller.  Rosenbrock at n = 100 spends 14 s in the SCS pass.  Solve + prove also",
        "holds `sr.solve`'s second opinion (a second solve by SCS, with its own certificate step) where the",
        "first proof is weak.",
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

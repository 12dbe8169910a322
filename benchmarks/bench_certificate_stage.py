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
    how = res.certificate.metadata.get("certificate", "solver dual") if res.certificate is not None else "-"
    return [family, str(n), f"{solve_only:.2f}", f"{proved:.2f}", f"{proved / solve_only:.1f}", bound, gap, how,
            f"{t['rounding']:.2f}", f"{t['check']:.2f}", f"{t['resolves']:.2f}"]


def page(table: str, time_limit: float) -> str:
    """The page: the table and what it shows."""
    return "\n".join([
        "# The certificate stage at scale",
        "",
        "`sr.solve(problem, level=2, sparsity=\"correlative\")` on chained problems of Waki et al. (2006), timed",
        "end to end with `certificate=False` (build, solve, moments read back) and with the certificate step",
        f"(the face of the minimisers or centred re-solves, exact rounding, the independent checker; time limit {time_limit:.0f} s), in the",
        "same run (`benchmarks/bench_certificate_stage.py`).  Goals: a proven bound within 1e-5 of the known",
        "minimum (0, 1, 1) and solve + prove at most twice the solve alone.",
        "",
        table,
        "",
        "The certificate step first builds the certificate on the face of the global minimisers",
        "(`sosrelax/relax/minface.py`, column *certificate* = `minimiser-face`), with no re-solve.  On these chains",
        "every optimal Gram matrix vanishes on the monomial vectors of the minimisers, so the solver's own dual",
        "(its smallest eigenvalues are of the order of its tolerance, its identities hold to 1e-7) never rounds",
        "to a proof near the value.  Instead: the minimisers are computed to full float accuracy (local descents",
        "from the moments, Newton steps with the sparse Hessian, and the atoms of clique moment matrices whose",
        "rank the points found do not explain: Broyden's function has a second zero, which differs from the",
        "first by 2.4 in x_0 and by less than 1e-9 from x_13 on, and Rosenbrock's first variable is ±1); each",
        "block's Gram matrix is restricted to the complement of the minimisers' monomial vectors where the",
        "solver's matrix is already small on them, corrected in its own metric to the least-norm solution of",
        "the coefficient identities (one sparse factorisation, iterative refinement), and lifted by",
        "δ_i·H_i with b_iᵀH_ib_i ≡ 1 and H_i definite on the minimisers' directions, for a bound",
        "Σ δ_i below the face's value.  On a long chain the least-norm correction piles up where the face",
        "constrains most (Rosenbrock at n = 1000: 20 blocks near x_20 left indefinite); those blocks are",
        "freed (they start with nothing along the minimisers' directions) and the face is corrected again.",
        "The exact rounding (`cliqueround.py`) then works on a grid of 2^-40 to 2^-52, and only the",
        "independent checker's verdict counts.  Where this fails the earlier strategy runs: centred re-solves",
        "for bounds backed off below the value, bisection, and a second pass with SCS.",
        "",
        "Where the time goes at n = 1000: the certificate step is now one exact rounding and one check (each",
        "about one solve's time), plus assembling the certificate (float Gram matrices to rationals, the",
        "change of variables, about 0.5 s) and the face itself (0.05-0.9 s).  The solve alone of chained",
        "Wood is mostly the relaxation's build (0.6 of 0.8 s).  So the 2× goal is not met: the ratio is 1.9-3.9 (2.3-3.6 at n = 1000)",
        "(it was 16-18).  What is left is exact work whose cost is set by the certificate's size: checking",
        "that 6 000 exponent rows of 1 000 variables are valid, expanding the objective under the change of",
        "variables, and an exact LDLᵀ of each of 1 000 blocks.",
        "",
        "The rigorous lower bound of a block's smallest eigenvalue that the checker uses when a block is not",
        "PSD is now a power of two: the proven bound of the golden certificates no longer depends on the",
        "last bits of a LAPACK build's eigenvalue estimate (two of them changed with scipy 1.17).",
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
         "certificate", "rounding (s)", "checker (s)", "re-solves (s)"],
        rows, [False, True, True, True, True, True, True, False, True, True, True],
    )
    text = page(table, args.time_limit)
    Path(args.out).write_text(text)
    print(f"table written to {args.out}")


if __name__ == "__main__":
    main()

"""Solver backends on an SDPLIB subset: time, iterations, status, error vs the published value.

Run by hand (``python benchmarks/bench_solvers.py``); prints the table and writes it to
``docs/benchmarks/solvers.md``.  Ratios are against Clarabel measured in the same run.
Every status is ours (after the residual recheck), not the solver's own claim.
"""

from __future__ import annotations

import argparse
import datetime as dt
import math
import platform
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sosrelax.conic import SolverStatus
from sosrelax.sdpa import objective_in_sdpa_convention, read_sdpa, sdpa_to_conic
from sosrelax.solvers import solve_conic

ROOT = Path(__file__).resolve().parents[1]
SDPLIB = ROOT.parent / "shared" / "data" / "sdplib"
OUT = ROOT / "docs" / "benchmarks" / "solvers.md"
PROBLEMS = [
    "truss1",
    "truss4",
    "control1",
    "control2",
    "theta1",
    "theta2",
    "mcp100",
    "hinf1",
    "gpp100",
    "arch0",
    "qap5",
]
#: (column label, solver name, tolerance, extra options)
CONFIGS: list[tuple[str, str, float | None, dict[str, Any]]] = [
    ("clarabel", "clarabel", None, {}),
    ("scs 1e-4", "scs", 1e-4, {}),
    ("scs 1e-6", "scs", 1e-6, {}),
    ("cvxpy:CLARABEL", "cvxpy:CLARABEL", None, {}),
]


def published_values(readme: Path) -> dict[str, float]:
    """Optimal values from SDPLIB's README table (SDPA convention); infeasible ones skipped."""
    out: dict[str, float] = {}
    for line in readme.read_text().splitlines():
        m = re.match(r"\|\s*([\w-]+)\s*\|\s*\d+\s*\|\s*\d+\s*\|\s*([-+0-9.eE]+)\s*\|", line)
        if m:
            out[m.group(1)] = float(m.group(2))
    return out


@dataclass(frozen=True)
class Row:
    problem: str
    config: str
    status: str
    iterations: int
    seconds: float
    rel_error: float


def run(problems: list[str], time_limit: float) -> list[Row]:
    published = published_values(SDPLIB / "README_SDPLIB.md")
    # warm up every backend (imports, BLAS threads) so that the first timing is not inflated
    warm = sdpa_to_conic(read_sdpa(SDPLIB / "truss1.dat-s"))
    for _, solver, tol, options in CONFIGS:
        solve_conic(warm, solver, tolerance=tol, options=options)
    rows: list[Row] = []
    for name in problems:
        prob = read_sdpa(SDPLIB / f"{name}.dat-s")
        prog = sdpa_to_conic(prob)
        for label, solver, tol, options in CONFIGS:
            t0 = time.perf_counter()
            sol = solve_conic(prog, solver, tolerance=tol, time_limit=time_limit, options=options)
            seconds = time.perf_counter() - t0
            value = objective_in_sdpa_convention(sol, prob)
            ref = published.get(name, math.nan)
            err = abs(value - ref) / max(abs(ref), 1e-12) if math.isfinite(value) else math.nan
            row = Row(name, label, sol.status.value, sol.iterations, seconds, err)
            rows.append(row)
            print(
                f"{name:9s} {label:15s} {row.status:16s} {row.iterations:7d} "
                f"{seconds:9.3f}s  rel.err {err:.1e}",
                flush=True,
            )
    return rows


def table(rows: list[Row]) -> str:
    base = {r.problem: r.seconds for r in rows if r.config == "clarabel"}
    lines = [
        "| problem | solver | status | iterations | time (s) | rel. error vs published "
        "| time / clarabel |",
        "| --- | --- | --- | ---: | ---: | ---: | ---: |",
    ]
    for r in rows:
        ratio = r.seconds / base[r.problem] if base.get(r.problem) else math.nan
        flag = "" if r.status == SolverStatus.OPTIMAL.value else " ⚠"
        lines.append(
            f"| {r.problem} | {r.config} | {r.status}{flag} | {r.iterations} | {r.seconds:.3f} "
            f"| {r.rel_error:.1e} | {ratio:.2f} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--problems", nargs="*", default=PROBLEMS)
    parser.add_argument("--time-limit", type=float, default=60.0, help="seconds per solve")
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args()
    if not SDPLIB.is_dir():
        raise SystemExit(f"SDPLIB data not found at {SDPLIB}")
    rows = run(args.problems, args.time_limit)
    md = "\n".join(
        [
            "# Solver backends on SDPLIB",
            "",
            f"2-core {platform.machine().replace('_', '-')}, "
            f"measured {dt.date.today().isoformat()} "
            f"(Python {platform.python_version()}; time limit {args.time_limit:g} s per solve).",
            "",
            "Status is sosrelax's verdict after recomputing residuals from x, s, z "
            "(⚠ = not OPTIMAL). Relative error compares the SDPA-convention objective with the "
            "published SDPLIB value (which has about 7 significant digits). Time is wall time of "
            "`solve_conic` (conversion, setup, solve, recheck); the ratio is against Clarabel on "
            "the same problem in the same run. SCS uses `max_iters` 100000.",
            "",
            table(rows),
            "",
            "Regenerate with `python benchmarks/bench_solvers.py`.",
            "",
        ]
    )
    print()
    print(table(rows))
    if not args.no_write:
        OUT.parent.mkdir(parents=True, exist_ok=True)
        OUT.write_text(md)
        print(f"\nwritten to {OUT}")


if __name__ == "__main__":
    main()

"""Proven lower bounds on SDPLIB: solve time vs certificate time, proven vs published value.

Run by hand (``python benchmarks/bench_sdp_certificates.py``); prints the table and writes it to
``docs/benchmarks/sdp_certificates.md``.  For each instance and solver (Clarabel at its default
tolerance, SCS at eps 1e-4) it runs :func:`sosrelax.certificate.sdpround.prove_sdpa_bound` and
reports the first solve's time, the certificate time (rounding, exact projection, interior
re-solves when needed, exact check), the checker's share, and the proven bound against the
published optimum (SDPA convention: the proven bound must be ≤ published).
"""

from __future__ import annotations

import argparse
import datetime as dt
import math
import platform
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sosrelax.certificate.sdpround import prove_sdpa_bound
from sosrelax.sdpa import read_sdpa

ROOT = Path(__file__).resolve().parents[1]
SDPLIB = ROOT.parent / "shared" / "data" / "sdplib"
OUT = ROOT / "docs" / "benchmarks" / "sdp_certificates.md"
PROBLEMS = ["truss1", "truss3", "truss4", "control1", "control2", "hinf1", "hinf2", "theta1",
            "mcp100", "qap5", "gpp100"]
#: (label, solver, tolerance, options)
CONFIGS: list[tuple[str, str, float | None, dict[str, Any]]] = [
    ("clarabel", "clarabel", None, {}),
    ("scs 1e-4", "scs", 1e-4, {"max_iters": 20_000}),
]


def published_values(readme: Path) -> dict[str, str]:
    """Optimal values from SDPLIB's README table as printed (SDPA convention)."""
    out: dict[str, str] = {}
    for line in readme.read_text().splitlines():
        m = re.match(r"\|\s*([\w-]+)\s*\|\s*\d+\s*\|\s*\d+\s*\|\s*([-+0-9.eE]+)\s*\|", line)
        if m:
            out[m.group(1)] = m.group(2)
    return out


def half_ulp(text: str) -> float:
    """Half a unit in the last printed digit of a published value."""
    mant, _, exp = text.lower().partition("e")
    decimals = len(mant.split(".")[1]) if "." in mant else 0
    return 0.5 * 10.0 ** (int(exp or 0) - decimals)


@dataclass(frozen=True)
class Row:
    problem: str
    config: str
    solver_status: str
    status: str
    method: str
    solve_s: float
    certify_s: float
    check_s: float
    bound: float | None
    published: str
    side_ok: bool
    rel_gap: float


def run(problems: list[str], time_limit: float) -> list[Row]:
    published = published_values(SDPLIB / "README_SDPLIB.md")
    warm = read_sdpa(SDPLIB / "truss1.dat-s")
    for _, solver, tol, options in CONFIGS:  # imports, BLAS threads
        prove_sdpa_bound(warm, solver, tolerance=tol, options=options)
    rows = []
    for name in problems:
        prob = read_sdpa(SDPLIB / f"{name}.dat-s")
        pub = published.get(name, "nan")
        ref = float(pub)
        for label, solver, tol, options in CONFIGS:
            res = prove_sdpa_bound(
                prob, solver, tolerance=tol, time_limit=time_limit, options=options,
                metadata={"instance": name},
            )
            b = res.bound_float
            ok = b is None or not math.isfinite(ref) or b <= ref + half_ulp(pub)
            gap = (ref - b) / abs(ref) if b is not None and math.isfinite(ref) else math.nan
            row = Row(name, label, res.solver_status, res.status.value, res.method,
                      res.solve_time, res.certify_time, res.check_time, b, pub, ok, gap)
            rows.append(row)
            print(
                f"{name:9s} {label:9s} {row.solver_status:16s} {row.status:9s} {row.method:10s} "
                f"solve {row.solve_s:7.2f}s cert {row.certify_s:7.2f}s "
                f"bound {b if b is not None else float('nan'):.10g} pub {pub} gap {gap:.1e}"
                + ("" if ok else "  WRONG SIDE"),
                flush=True,
            )
    return rows


def table(rows: list[Row]) -> str:
    lines = [
        "| problem | solver | solver verdict | result | method | solve (s) | certificate (s) "
        "| of which check (s) | cert / solve | proven bound | published | (pub − proven)/|pub| |",
        "| --- | --- | --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in rows:
        ratio = r.certify_s / r.solve_s if r.solve_s > 0 else math.nan
        b = "—" if r.bound is None else f"{r.bound:.10g}"
        gap = "—" if math.isnan(r.rel_gap) else f"{r.rel_gap:.1e}"
        side = "" if r.side_ok else " ✗ WRONG SIDE"
        lines.append(
            f"| {r.problem} | {r.config} | {r.solver_status} | {r.status}{side} | {r.method} "
            f"| {r.solve_s:.2f} | {r.certify_s:.2f} | {r.check_s:.2f} | {ratio:.1f} | {b} "
            f"| {r.published} | {gap} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--problems", nargs="*", default=PROBLEMS)
    parser.add_argument("--time-limit", type=float, default=120.0, help="seconds per solve")
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args()
    if not SDPLIB.is_dir():
        raise SystemExit(f"SDPLIB data not found at {SDPLIB}")
    rows = run(args.problems, args.time_limit)
    md = "\n".join(
        [
            "# Proven SDP bounds on SDPLIB",
            "",
            f"2-core {platform.machine().replace('_', '-')}, "
            f"measured {dt.date.today().isoformat()} "
            f"(Python {platform.python_version()}; time limit {args.time_limit:g} s per solve; "
            "SCS with `max_iters` 20000).",
            "",
            "Solver verdict is sosrelax's recheck of the first solve. Result `proven` means the "
            "exact checker verified a dual certificate; `no_bound` means nothing is claimed. "
            "Method: `projection` = the solver's Y rounded and projected exactly; `interior` = "
            "an interior dual re-solved at a backed-off level (the re-solve counts as certificate "
            "time). The proven bound is a lower bound on SDPA's (P) and must be ≤ the published "
            "optimum (up to half a unit of its last printed digit); the last column is its "
            "relative distance below it.",
            "",
            table(rows),
            "",
            "Regenerate with `python benchmarks/bench_sdp_certificates.py`.",
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

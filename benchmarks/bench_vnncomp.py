"""VNN-COMP 2021 ACAS Xu instances through ``sosrelax.nn.verify``, against the competition.

Each instance runs as a user runs it (ONNX model loaded and cross-checked with onnxruntime, VNN-LIB read,
``verify`` with the instance's time limit): the batched search, then — for ``unsat`` — the independent
check of its proof tree; a ``sat`` witness is re-checked exactly and by onnxruntime before it counts.
Reported per instance: our answer against the agreed ``truth``, seconds (search, proof check), domains
and leaves, and the competition's times of nnenum and alpha-beta-CROWN on their machines (the same
instances; their hardware differs: compare solved counts, and times only roughly).  Per property and in
total: decided, wrong, median and total time, and the ratio of our total to nnenum's.

Writes docs/benchmarks/vnncomp.md.  Needs the shared benchmark data next to the repository (skips with a
message otherwise).  The mnistfc instances have their own script, ``benchmarks/bench_mnistfc.py``.  Run by
hand::

    .venv/bin/python benchmarks/bench_vnncomp.py [--limit SECONDS] [--only TEXT]
"""

from __future__ import annotations

import argparse
import csv
import statistics
import sys
import time
from pathlib import Path

from _common import machine_line, markdown_table

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "vnncomp2021"
OUT = Path(__file__).resolve().parents[1] / "docs" / "benchmarks" / "vnncomp.md"


def run(bench: str, limit: float | None, only: str) -> list[dict[str, object]]:
    from sosrelax.nn import verify, vnnlib_claims

    rows = []
    for r in csv.DictReader(open(DATA / bench / "results.csv")):
        if only and only not in r["onnx"] + ":" + r["vnnlib"]:
            continue
        onnx = DATA / bench / r["onnx"]
        t0 = time.perf_counter()
        net, prop = vnnlib_claims(onnx, DATA / bench / r["vnnlib"])
        t_load = time.perf_counter() - t0
        timeout = float(r["timeout_s"]) if limit is None else limit
        res = verify(net, prop, onnx_path=onnx, timeout=max(1.0, timeout - t_load))
        total = time.perf_counter() - t0
        ours = res.status.value
        wrong = ours in ("sat", "unsat") and ours != r["truth"]
        proof_ok = ours != "unsat" or (res.proof_report is not None and res.proof_report.valid)
        rows.append({
            "instance": f"{r['onnx'].replace('ACASXU_run2a_', '').replace('_batch_2000.onnx', '')} "
                        f"{r['vnnlib'].replace('.vnnlib', '')}",
            "property": r["vnnlib"].split("_")[1].split(".")[0],
            "truth": r["truth"], "ours": ours, "wrong": wrong, "proof_ok": proof_ok,
            "seconds": total, "search": res.stats.get("search_seconds", 0.0),
            "check": res.stats.get("check_seconds", 0.0), "domains": int(res.stats.get("domains", 0)),
            "leaves": int(res.stats.get("leaves", 0)), "semantics": res.semantics,
            "nnenum": r["nnenum"], "nnenum_s": float(r["nnenum_s"]),
            "abcrown": r["abcrown"], "abcrown_s": float(r["abcrown_s"]),
        })
        row = rows[-1]
        print(f"{row['instance']:<22} truth {row['truth']:<6} ours {ours:<8} {total:7.2f} s "
              f"(search {row['search']:.2f}, check {row['check']:.2f}) domains {row['domains']:>7} "
              f"nnenum {row['nnenum_s']:6.2f} s{'  WRONG' if wrong else ''}"
              f"{'  PROOF REJECTED' if not proof_ok else ''}", flush=True)
    return rows


def decided(rows: list[dict[str, object]]) -> int:
    return sum(1 for r in rows if r["ours"] in ("sat", "unsat") and not r["wrong"])


def nnenum_solved(rows: list[dict[str, object]]) -> float:
    return sum(float(r["nnenum_s"]) for r in rows if r["nnenum"] in ("sat", "unsat"))  # type: ignore[arg-type]


def summary(rows: list[dict[str, object]]) -> list[list[str]]:
    table = []
    groups: dict[str, list[dict[str, object]]] = {}
    for r in rows:
        groups.setdefault(str(r["property"]), []).append(r)
    for name, rs in [*sorted(groups.items(), key=lambda kv: kv[0]), ("all", rows)]:
        secs = [float(r["seconds"]) for r in rs]  # type: ignore[arg-type]
        checks = [float(r["check"]) / max(1e-9, float(r["search"])) for r in rs  # type: ignore[arg-type]
                  if r["ours"] == "unsat"]
        ours_total = sum(secs)
        nn_total = sum(float(r["nnenum_s"]) for r in rs)  # type: ignore[arg-type]
        table.append([
            name, str(len(rs)), str(decided(rs)), str(sum(1 for r in rs if r["wrong"])),
            str(sum(1 for r in rs if not r["proof_ok"])), f"{statistics.median(secs):.2f}",
            f"{ours_total:.1f}", f"{nn_total:.1f}", f"{ours_total / nn_total:.2f}",
            f"{max(checks):.2f}" if checks else "-",
        ])
    return table


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--set", choices=["acasxu"], default="acasxu", help="the benchmark (mnistfc: bench_mnistfc.py)")
    ap.add_argument("--limit", type=float, default=None, help="seconds per instance (default: the instance's)")
    ap.add_argument("--only", default="", help="run the instances whose 'onnx:vnnlib' contains this text")
    ap.add_argument("--no-write", action="store_true", help="do not write the docs table")
    args = ap.parse_args()
    if not DATA.is_dir():
        print(f"the VNN-COMP 2021 data is not at {DATA}; nothing to run")
        return 0
    rows = run(args.set, args.limit, args.only)
    head = ["property", "instances", "decided", "wrong", "proof rejected", "median s", "total s",
            "nnenum total s", "ours / nnenum", "max check / search"]
    table = summary(rows)
    right = [False] + [True] * (len(head) - 1)
    print(markdown_table(head, table, right))
    if args.no_write or args.only:
        return 0
    detail = [[str(r["instance"]), str(r["truth"]), str(r["ours"]), f"{float(r['seconds']):.2f}",  # type: ignore[arg-type]
               f"{float(r['search']):.2f}", f"{float(r['check']):.2f}", str(r["domains"]),  # type: ignore[arg-type]
               str(r["leaves"]), f"{r['nnenum']} {float(r['nnenum_s']):.2f}",  # type: ignore[arg-type]
               f"{r['abcrown']} {float(r['abcrown_s']):.2f}"] for r in rows]  # type: ignore[arg-type]
    limit = "the instance's own limit" if args.limit is None else f"{args.limit:g} s"
    text = [
        f"# VNN-COMP 2021 {args.set}: decided instances, times and proofs",
        "",
        f"Generated by `benchmarks/bench_vnncomp.py --set {args.set}`; {machine_line(('numpy', 'onnxruntime'))}; "
        f"time limit {limit} per instance (loading and onnxruntime cross-check included).",
        "",
        "Every `unsat` carries a proof tree that the independent checker accepted (rigorous float64; "
        "see `docs/proof-trees.md`); every `sat` carries a witness re-checked in exact arithmetic and by "
        "onnxruntime.  nnenum and alpha-beta-CROWN times are the competition's own (their machines, "
        "about 1 s of competition overhead each): compare decided counts; the time ratio is indicative.",
        "",
        markdown_table(head, table, right),
        "",
        "## Per instance",
        "",
        markdown_table(["instance", "truth", "ours", "seconds", "search", "check", "domains", "leaves",
                        "nnenum", "alpha-beta-CROWN"], detail, [False, False, False] + [True] * 5 + [False] * 2),
        "",
    ]
    OUT.write_text("\n".join(text))
    print(f"wrote {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The primal adversary: its cost relative to the solve, and moment-guided attacks vs plain multistart.

    python benchmarks/bench_adversary.py [--quick]

For falsifiable claims ``f(x) >= t`` (t a little above the true minimum, so that only points near the global
minimiser violate them) on boxes, in several dimensions:

* the time ``sr.certify`` spends in the adversary at each rung relative to the rung's solve (goal <= 20 %);
* how many local-search starts a plain multistart (uniform samples + the same local search and exact checks)
  needs before it finds a counterexample, against the moment-guided attack seeded by the level-2
  pseudodistribution (goal: fewer starts).

Writes ``docs/benchmarks/adversary.md``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine_line, markdown_table  # noqa: E402

import sosrelax as sr  # noqa: E402
from sosrelax.adversary.search import attack, multistart  # noqa: E402

DOCS = Path(__file__).resolve().parents[1] / "docs" / "benchmarks" / "adversary.md"


def rugged(n: int, seed: int) -> sr.Polynomial:
    """A quartic with many local minima on [-1, 1]^n: separable double wells plus a random coupling."""
    rng = np.random.default_rng(seed)
    x = sr.variables("x", n)
    a = rng.uniform(0.5, 1.5, n)
    b = rng.uniform(-0.4, 0.4, n)
    f = sum(a[i] * (x[i] ** 2 - 0.6) ** 2 + b[i] * x[i] for i in range(n))
    for _ in range(n):
        i, j = rng.choice(n, 2, replace=False)
        f = f + rng.uniform(-0.3, 0.3) * x[i] * x[j]
    return f


def starts_needed(
    claim: sr.Claim, rng: np.random.Generator, cap: int, pseudo=None
) -> tuple[int | None, float]:
    """Smallest number of starts (doubling) with which the search falsifies the claim; and time spent."""
    k, spent = 1, 0.0
    while k <= cap:
        t0 = time.perf_counter()
        if pseudo is None:
            r = multistart(claim, rng=rng, n_starts=k, n_samples=max(4 * k, 16), budget_s=30)
        else:
            r = attack(
                claim,
                pseudo,
                rng=rng,
                n_starts=k,
                n_samples=max(4 * k, 16),
                n_uniform=0,
                budget_s=30,
            )
        spent += time.perf_counter() - t0
        if r.counterexample is not None:
            return k, spent
        k *= 2
    return None, spent


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    dims = [4, 6] if args.quick else [4, 6, 8, 10]
    seeds = [0, 1] if args.quick else [0, 1, 2]
    rows = []
    for n in dims:
        for seed in seeds:
            f = rugged(n, seed)
            x = sr.variables("x", n)
            box = sr.box(list(x), -1, 1)
            prob = sr.Problem(minimize=f, subject_to=box)
            res = sr.solve(prob, level=2)
            lower = res.bound
            # the true minimum: best of many multistart runs (an upper bound on it)
            best = multistart(
                prob, rng=np.random.default_rng(99), n_starts=64, n_samples=512, budget_s=60
            )
            fmin = best.best.value if best.best is not None else float("nan")
            t = fmin + 0.02 * (1 + abs(fmin))  # violated only near the global minimiser(s)
            claim = sr.Claim(f >= t, subject_to=box)
            t0 = time.perf_counter()
            v = sr.certify(claim, schedule=[2], time_limit=120, progress=False, rng=seed)
            t_cert = time.perf_counter() - t0
            solve_t = (
                res.info["time"]["solve"] + res.info["time"]["build"] + res.info["time"]["certify"]
            )
            att_t = max(0.0, t_cert - solve_t)
            ms_k, ms_t = starts_needed(claim, np.random.default_rng(seed), 256)
            mg_k, mg_t = starts_needed(claim, np.random.default_rng(seed), 256, pseudo=res.pseudo)
            rows.append(
                [
                    str(n),
                    str(seed),
                    f"{lower:.5f}" if lower is not None else "-",
                    f"{fmin:.5f}",
                    v.status.value,
                    f"{solve_t:.2f}",
                    f"{att_t:.2f}",
                    f"{att_t / max(solve_t, 1e-9):.0%}",
                    "-" if ms_k is None else str(ms_k),
                    "-" if mg_k is None else str(mg_k),
                    f"{ms_t:.2f}",
                    f"{mg_t:.2f}",
                ]
            )
            print(rows[-1], flush=True)
    header = [
        "n",
        "seed",
        "level-2 bound",
        "best found",
        "verdict",
        "rung solve+check (s)",
        "adversary (s)",
        "adversary/solve",
        "multistart starts",
        "moment-guided starts",
        "multistart time (s)",
        "moment-guided time (s)",
    ]
    table = markdown_table(header, rows, [True, True, True, True, False] + [True] * 7)
    DOCS.parent.mkdir(parents=True, exist_ok=True)
    DOCS.write_text(
        "# Adversary benchmark\n\n"
        f"{machine_line()}\n\n"
        "Claims `f(x) >= t` on [-1, 1]^n with f a rugged quartic (separable double wells plus random "
        "couplings) and t = min f + 2 % (violated only near the global minimiser). `adversary/solve`: time "
        "`certify` spends attacking at the level-2 rung over the rung's build + solve + certificate check "
        "(goal <= 20 %). `starts`: the smallest number of local-search starts (doubling from 1, cap 256) "
        "with which the search finds an exactly checked counterexample; moment-guided = seeded by the "
        "level-2 pseudodistribution (atoms, mean, Gaussian samples), multistart = uniform samples.\n\n"
        + table
        + "\n"
    )
    print(table)


if __name__ == "__main__":
    main()

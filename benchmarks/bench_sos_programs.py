"""Build + solve time of SOS programs: ``sr.SOSProgram`` against the same programs written in cvxpy by hand.

Run by hand (``python benchmarks/bench_sos_programs.py [--quick]``); prints the table and writes it to
``docs/benchmarks/sos_programs.md``.

Two families, both solved with Clarabel on both sides:

* **global bound**: ``max γ s.t. f − γ SOS`` for ``f = (Σ x_i²)² + c(x)``, ``c`` a dense random cubic in
  ``n`` variables (every monomial of degree ≤ 3, standard normal coefficients); one Gram matrix of order
  ``C(n+2, 2)``;
* **Lyapunov**: a degree-4 Lyapunov function of the chain ``x_i' = −x_i + x_{i+1} − x_i³`` (``x_n' = −x_n −
  x_n³``): ``V − ε|x|²`` and ``−dV/dt − ε|x|²`` SOS, ``V`` on the monomials of degree 2 and 4.  The field is
  odd, so an even ``V`` loses nothing (``(V(x) + V(−x))/2`` satisfies the constraints whenever ``V`` does).
  Written by hand, one Gram matrix per constraint, of orders ``C(n+2, 2) − 1`` and ``C(n+3, 3) − 1``;
  ``compile_program`` finds the sign symmetry ``x ↦ −x`` of both constraints and splits each Gram matrix into
  its odd and even monomials (exact: ``sosrelax.program.symmetry``).

A second table compares the dense SOS program with ``sparsity="correlative"`` on a chained quartic
``f = Σ_i x_i⁴ + x_i²x_{i+1}² + x_{i+1}⁴ − x_i x_{i+1} − x_i`` (``max γ s.t. f − γ SOS``, ``margin=1e-6`` so
that both certificates round exactly): one Gram matrix of order ``C(n+2, 2)`` against ``n − 1`` of order 6;
time is ``solve_program`` (build, solve, exact rounding and check).

The cvxpy version is what a user writes without a modelling layer: a ``PSD=True`` Gram variable, a dict from
monomials to the Gram entries that produce them, one equality per monomial (``cp.sum(cp.hstack(...)) ==
coefficient``).  Times are best of up to 3 runs: "ours" is ``compile_program`` + Clarabel (and, separately,
the exact rounding and check of the certificate); "cvxpy" is building the ``cp.Problem`` + ``solve``.  Both
sides reach the same optimal value (checked).
"""

from __future__ import annotations

import argparse
import math
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np
from _common import machine_line, markdown_table, timed

import sosrelax as sr
from sosrelax.poly import monomial_basis
from sosrelax.program import SOSProgram, compile_program, solve_program
from sosrelax.solvers import solve_conic

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "docs" / "benchmarks" / "sos_programs.md"
SEED = 20261207
EPS = 1e-3


def quartic(n: int) -> sr.Polynomial:
    rng = np.random.default_rng(SEED + n)
    E = monomial_basis(n, 3)
    c = rng.standard_normal(len(E))
    names = [f"x{i}" for i in range(n)]
    f = sr.Polynomial(E, c, names)
    r2 = sum((sr.Polynomial.variable(v) ** 2 for v in names), sr.Polynomial.constant(0.0))
    return f + r2 * r2


def chain(n: int) -> tuple[list[sr.Polynomial], list[sr.Polynomial]]:
    xs = list(sr.variables("x", n))
    f = [-xs[i] + (xs[i + 1] if i + 1 < n else 0.0) - xs[i] ** 3 for i in range(n)]
    return xs, f


def chained(n: int) -> sr.Polynomial:
    xs = sr.variables("x", n)
    return sum((xs[i] ** 4 + xs[i] ** 2 * xs[i + 1] ** 2 + xs[i + 1] ** 4 - xs[i] * xs[i + 1] - xs[i]
                for i in range(n - 1)), sr.Polynomial.constant(0.0))


def sparsity_rows(ns: tuple[int, ...]) -> list[list[str]]:
    """Dense against correlative sparsity on the chained quartic (module docstring)."""
    rows = []
    for n in ns:
        out = {}
        for mode in (None, "correlative"):
            def run(mode: str | None = mode, n: int = n) -> Any:
                g = sr.poly_variable("gamma")
                return solve_program(SOSProgram(maximize=g, constraints=[
                    sr.sos(chained(n) - g, sparsity=mode, margin=1e-6)]))
            out[mode] = timed(run, repeats=2, budget=1.0)
        d, c = out[None], out["correlative"]
        od, oc = d.result.info["sizes"]["gram_orders"], c.result.info["sizes"]["gram_orders"]
        both = d.result.proven and c.result.proven
        gap = float(d.result.proven_objective - c.result.proven_objective) if both else float("nan")
        rows.append([str(n), str(max(od)), f"{len(oc)} × {max(oc)}", f"{d.seconds:.3f}", f"{c.seconds:.3f}",
                     f"{d.seconds / c.seconds:.1f}×", "yes" if both else "no", f"{gap:.1e}"])
        print(" | ".join(rows[-1]), flush=True)
    return rows


# -- ours ---------------------------------------------------------------------------------------------------


def ours_bound(n: int) -> tuple[SOSProgram, Any]:
    g = sr.poly_variable("gamma")
    return SOSProgram(maximize=g, constraints=[sr.sos(quartic(n) - g)]), g


def even_quartic_basis(n: int) -> np.ndarray:
    """Exponents of the monomials of degree 2 and 4 in ``n`` variables."""
    E = monomial_basis(n, 4, 2)
    return E[E.sum(axis=1) % 2 == 0]


def ours_lyapunov(n: int) -> SOSProgram:
    xs, f = chain(n)
    names = [f"x{i}" for i in range(n)]
    V = sr.poly_variable("V", xs, monomials=[sr.Polynomial(e.reshape(1, -1), [1.0], names)
                                             for e in even_quartic_basis(n)])
    n2 = sum((x * x for x in xs), sr.Polynomial.constant(0.0))
    return SOSProgram(constraints=[sr.sos(V - EPS * n2), sr.sos(-sr.dynamics.lie_derivative(V, f, xs) - EPS * n2)])


def ours(make: Any) -> float:
    """Build (including the model) + solve; returns the solver objective."""
    prog = make()
    cp_ = compile_program(prog[0] if isinstance(prog, tuple) else prog)
    sol = solve_conic(cp_.conic, "clarabel")
    return cp_.sign * float(sol.primal_objective)


# -- cvxpy by hand --------------------------------------------------------------------------------------------


def _key(e: np.ndarray) -> tuple[int, ...]:
    return tuple(int(v) for v in e)


def _gram_terms(cp: Any, basis: np.ndarray) -> tuple[Any, dict[tuple[int, ...], list[Any]]]:
    k = len(basis)
    Q = cp.Variable((k, k), PSD=True)
    terms: dict[tuple[int, ...], list[Any]] = defaultdict(list)
    for a in range(k):
        for b in range(k):
            terms[_key(basis[a] + basis[b])].append(Q[a, b])
    return Q, terms


def cvxpy_bound(n: int) -> float:
    import cvxpy as cp

    f = quartic(n)
    coef = {_key(e): c for e, c in zip(f.exps, f.coefs, strict=True)}
    g = cp.Variable()
    _, terms = _gram_terms(cp, monomial_basis(n, 2))
    cons = []
    for m in set(terms) | set(coef):
        rhs = coef.get(m, 0.0) - (g if sum(m) == 0 else 0.0)
        cons.append(cp.sum(cp.hstack(terms[m])) == rhs if m in terms else rhs == 0)
    prob = cp.Problem(cp.Maximize(g), cons)
    prob.solve(solver=cp.CLARABEL)
    return float(prob.value)


def cvxpy_lyapunov(n: int) -> float:
    import cvxpy as cp

    xs, f = chain(n)
    names = [f"x{i}" for i in range(n)]
    vb = even_quartic_basis(n)
    c = cp.Variable(len(vb))
    V_terms: dict[tuple[int, ...], list[Any]] = defaultdict(list)  # V - eps|x|^2
    D_terms: dict[tuple[int, ...], list[Any]] = defaultdict(list)  # -dV/dt - eps|x|^2
    const_v: dict[tuple[int, ...], float] = defaultdict(float)
    const_d: dict[tuple[int, ...], float] = defaultdict(float)
    for j, e in enumerate(vb):
        V_terms[_key(e)].append(c[j])
        mono = sr.Polynomial(e.reshape(1, -1), [1.0], names)
        for i in range(n):
            d = mono.diff(names[i]) * f[i]
            for ee, cc in zip(d.with_variables(names).exps, d.coefs, strict=True):
                D_terms[_key(ee)].append(-cc * c[j])
    for i in range(n):
        e = np.zeros(n, dtype=int)
        e[i] = 2
        const_v[_key(e)] -= EPS
        const_d[_key(e)] -= EPS
    cons = []
    for lin, const, half in ((V_terms, const_v, 2), (D_terms, const_d, 3)):
        basis = monomial_basis(n, half, 1)
        _, terms = _gram_terms(cp, basis)
        for m in set(terms) | set(lin) | set(const):
            lhs = cp.sum(cp.hstack(lin[m])) + const.get(m, 0.0) if m in lin else const.get(m, 0.0)
            rhs = cp.sum(cp.hstack(terms[m])) if m in terms else 0.0
            cons.append(lhs == rhs)
    prob = cp.Problem(cp.Minimize(0), cons)
    prob.solve(solver=cp.CLARABEL)
    return 0.0 if prob.status == "optimal" else math.nan


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--out", default=str(OUT))
    args = ap.parse_args(argv)
    bound_ns = (3, 5) if args.quick else (3, 5, 7, 9)
    lya_ns = (2, 3) if args.quick else (2, 3, 4, 5)
    rows = []
    for family, ns, mine, theirs in (("global bound", bound_ns, lambda n: ours(lambda: ours_bound(n)), cvxpy_bound),
                                     ("Lyapunov deg 4", lya_ns, lambda n: ours(lambda: ours_lyapunov(n)),
                                      cvxpy_lyapunov)):
        for n in ns:
            a = timed(lambda n=n, f=mine: f(n))  # type: ignore[misc]
            prog = ours_bound(n)[0] if family == "global bound" else ours_lyapunov(n)
            res = solve_program(prog)
            t_cert = res.info["time"]["certify"]
            b = timed(lambda n=n, f=theirs: f(n))  # type: ignore[misc]
            agree = abs(a.result - b.result) <= 1e-5 * (1 + abs(b.result))
            hand = [math.comb(n + 2, 2)] if family == "global bound" else [math.comb(n + 2, 2) - 1,
                                                                              math.comb(n + 3, 3) - 1]
            rows.append([family, str(n), str(hand), str(res.info["sizes"]["gram_orders"]), f"{a.seconds:.3f}",
                         f"{b.seconds:.3f}", f"{b.seconds / a.seconds:.1f}×", f"{t_cert:.3f}",
                         "yes" if res.proven else "no", "yes" if agree else "NO"])
            print(" | ".join(rows[-1]), flush=True)
    header = ["program", "n", "Gram orders by hand", "our Gram orders", "ours build+solve (s)", "cvxpy by hand build+solve (s)",
              "cvxpy / ours", "ours exact rounding + check (s)", "proven", "same optimum"]
    ratios = [float(r[6][:-1]) for r in rows]
    sparse = sparsity_rows((4, 6, 8) if args.quick else (4, 6, 8, 10, 12))
    text = "\n".join([
        "# SOS programs: build + solve against cvxpy by hand",
        "",
        f"Written by `benchmarks/bench_sos_programs.py`{' --quick' if args.quick else ''}; "
        f"{machine_line(('numpy', 'clarabel', 'cvxpy'))}.",
        "Both sides solve with Clarabel (default settings: its `faer` direct solver, threads auto).  Two differences:",
        "the model build (cvxpy's expression trees and canonicalisation against our vectorised compilation, a few",
        "milliseconds here), and the conic problem itself where the program has structure: `compile_program` splits",
        "each Gram matrix into the classes of the constraint's sign symmetries (for the Lyapunov programs, odd and",
        "even monomials, since the field is odd and V even; exact, same optimum), which a Gram matrix written by",
        "hand does not.  \"our Gram orders\" lists our blocks.  Target: ≥ 5× faster.  The global bounds (a dense",
        "random cubic: no symmetry, a full Newton polytope, so the same single Gram matrix on both sides) meet it",
        "while the build dominates; from Gram orders of about 35 Clarabel's interior-point solve, identical on both",
        "sides, dominates and the ratio falls towards 1 + (cvxpy build) / (solve): order 55 stays below 5×, order 36",
        "is near it and varies between runs on this shared 2-core machine (2.2× to 5.7× measured).",
        "Measured on these programs and not kept: `direct_solve_method=\"qdldl\"` (2-10× slower than the default",
        "`faer`), `max_threads`, `chordal_decomposition_enable`, `presolve_enable`, and passing Clarabel the dual",
        "(image) form instead of the kernel form (all within the timing noise of this shared machine; the dense",
        "scaling block of a PSD cone of order k, of size C(k+1, 2), dominates the factorisation in either form).",
        "\"proven: no\" marks tight optima (f − γ* has real zeros, so the optimal Gram matrix is singular): exact",
        "rounding needs `margin=` there (see docs/sos-programs.md); the Lyapunov programs have slack.",
        "",
        markdown_table(header, rows, [False, True, False, False] + [True] * 4 + [False, False]),
        "",
        f"Ratio cvxpy / ours: min {min(ratios):.1f}×, median {float(np.median(ratios)):.1f}×, max {max(ratios):.1f}×.",
        "",
        "## Correlative sparsity",
        "",
        "`sr.sos(f - γ, sparsity=\"correlative\", margin=1e-6)` against the dense constraint on the chained quartic",
        "(cliques {x_i, x_{i+1}}); seconds of `solve_program` (build, solve, exact rounding and check), both",
        "certificates verified by the exact checker.  The sparse program is a restriction (a sum of SOS in the",
        "cliques' variables, with the margin in every clique), so its proven γ is at most the dense one: the last",
        "column is dense γ − sparse γ.",
        "",
        markdown_table(["n", "dense Gram order", "sparse Gram orders", "dense (s)", "correlative (s)",
                        "dense / correlative", "both proven", "γ gap"], sparse, [True] * 6 + [False, True]),
        "",
    ])
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

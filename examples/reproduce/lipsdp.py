"""Reproduce LipSDP (Fazlyab et al., NeurIPS 2019): certified L2 Lipschitz bounds of a ReLU network.

    python examples/reproduce/lipsdp.py [--quick] [--out DIR] [--weights random_weights.mat]

The published 2-10-30-20-2 network (``../shared/data/lipsdp/random_weights.mat``) has LipSDP-Neuron 36.482 and
LipSDP-Layer 39.839. All its weights are positive, so its exact L2 Lipschitz constant is ``‖W₃W₂W₁W₀‖₂ =
36.4822``: a certified bound below that would be a soundness bug.

LipSDP-Neuron: minimise ``ρ`` over ``ρ`` and ``T = diag(λ) ⪰ 0`` subject to

    M(ρ, T) = [A; B]ᵀ [[−2αβT, (α+β)T], [(α+β)T, −2T]] [A; B] + diag(−ρI, 0, …, 0, W_Lᵀ W_L) ⪯ 0,

with ``A = [blkdiag(W₀, …, W_{L−1}) 0]``, ``B = [0 I]`` and ``[α, β] = [0, 1]`` for ReLU; then ``L ≤ √ρ``.
LipSDP-Layer uses one multiplier per layer. The SDP is solved numerically; the bound is then **proven**: the
multipliers are rounded to rationals, ``ρ`` is raised slightly, and ``−M(ρ̂, T̂) ⪰ 0`` is proven in exact rational
arithmetic (exact LDLᵀ or an exact congruence), so ``√ρ̂`` (rounded up) is a certified upper bound.
"""

from __future__ import annotations

import argparse
import math
import time
from fractions import Fraction
from pathlib import Path

import flint
import numpy as np
import scipy.sparse as sp

from sosrelax.certificate.check import prove_psd
from sosrelax.certificate.format import RationalMatrix
from sosrelax.conic import Cone, ConeKind, ConicProgram, svec
from sosrelax.solvers import solve_conic

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_WEIGHTS = ROOT.parent / "shared" / "data" / "lipsdp" / "random_weights.mat"
PUBLISHED = {"neuron": 36.482, "layer": 39.839}
#: data files this script needs (the test suite skips it where they are absent)
REQUIRES = (DEFAULT_WEIGHTS,)


def load_weights(path: Path) -> list[np.ndarray]:
    from scipy.io import loadmat

    return [np.asarray(w, dtype=np.float64) for w in loadmat(path)["weights"].ravel()]


def structure(weights: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """``A``, ``B`` and the constant block ``C = diag(0, …, W_Lᵀ W_L)`` of LipSDP; ``n0``."""
    hidden = [w.shape[0] for w in weights[:-1]]
    n0, nh, nl = weights[0].shape[1], sum(hidden), hidden[-1]
    N = n0 + nh
    A = np.zeros((nh, N))
    r = c = 0
    for w in weights[:-1]:
        A[r : r + w.shape[0], c : c + w.shape[1]] = w
        r, c = r + w.shape[0], c + w.shape[1]
    B = np.hstack([np.zeros((nh, n0)), np.eye(nh)])
    C = np.zeros((N, N))
    C[N - nl :, N - nl :] = weights[-1].T @ weights[-1]
    return A, B, C, n0


def groups(weights: list[np.ndarray], variant: str) -> list[np.ndarray]:
    """Neuron indices sharing one multiplier: one per neuron, or one per layer."""
    sizes = [w.shape[0] for w in weights[:-1]]
    if variant == "neuron":
        return [np.array([i]) for i in range(sum(sizes))]
    out, start = [], 0
    for s in sizes:
        out.append(np.arange(start, start + s))
        start += s
    return out


def build(weights: list[np.ndarray], variant: str) -> tuple[ConicProgram, list[np.ndarray]]:
    """The LipSDP program in conic form: variables (ρ, λ); rows: −M ⪰ 0, λ ≥ 0."""
    A, B, C, n0 = structure(weights)
    N = A.shape[1]
    grp = groups(weights, variant)
    E0 = np.zeros((N, N))
    E0[:n0, :n0] = np.eye(n0)
    cols = [-svec(E0)]  # rho enters -M as +rho E0:  s = b - A x
    for g in grp:
        Ag, Bg = A[g], B[g]
        G = Ag.T @ Bg + Bg.T @ Ag - 2 * Bg.T @ Bg  # the block of M multiplying lambda_g
        cols.append(svec(G))
    k = len(grp)
    Apsd = np.column_stack(cols)
    Anonneg = np.hstack([np.zeros((k, 1)), -np.eye(k)])
    prog = ConicProgram(
        c=np.r_[1.0, np.zeros(k)],
        A=sp.csc_matrix(np.vstack([Anonneg, Apsd])),
        b=np.r_[np.zeros(k), -svec(C)],
        cones=(Cone(ConeKind.NONNEG, k), Cone(ConeKind.PSD, N)),
    )
    return prog, grp


def _fq_mat(a: np.ndarray) -> flint.fmpq_mat:
    return flint.fmpq_mat([[flint.fmpq(*Fraction(float(v)).as_integer_ratio()) for v in row] for row in a])


def prove(weights: list[np.ndarray], grp: list[np.ndarray], rho: float, lam: np.ndarray) -> tuple[Fraction, str]:
    """Smallest ``ρ̂ ≥ ρ`` on a short ladder for which ``−M(ρ̂, T̂) ⪰ 0`` is proven exactly; returns ``(ρ̂, how)``."""
    A, B, C, n0 = structure(weights)
    N = A.shape[1]
    lam_q = [max(Fraction(0), Fraction(round(float(v) * 2**40), 2**40)) for v in lam]
    t = np.zeros(A.shape[0], dtype=object)
    for g, v in zip(grp, lam_q, strict=True):
        t[g] = v
    Aq, Bq, Cq = _fq_mat(A), _fq_mat(B), _fq_mat(C)
    T = flint.fmpq_mat([[flint.fmpq(*t[i].as_integer_ratio()) if i == j else 0 for j in range(len(t))] for i in range(len(t))])
    TB, TA = T * Bq, T * Aq
    negM_wo_rho = -(Aq.transpose() * TB + Bq.transpose() * TA - 2 * (Bq.transpose() * TB) + Cq)
    for rel in (1e-9, 1e-8, 1e-7, 1e-6, 1e-5, 1e-4, 1e-3):
        r = Fraction(math.ceil(rho * (1 + rel) * 2**40), 2**40)
        negM = flint.fmpq_mat(negM_wo_rho)
        for i in range(n0):
            negM[i, i] += flint.fmpq(r.numerator, r.denominator)
        num, den = negM.numer_denom()
        arr = np.array([[int(num[i, j]) for j in range(N)] for i in range(N)], dtype=object)
        ok, _, how = prove_psd(RationalMatrix(arr, int(den)))
        if ok:
            return r, how
    raise RuntimeError("no certified bound on the ladder (the SDP solution is too inaccurate)")


def sqrt_up(q: Fraction) -> Fraction:
    """A rational upper bound of √q within 2^-40 relative."""
    s = 2**40
    r = math.isqrt(q.numerator * s * s // q.denominator + 1) + 1
    return Fraction(r, s)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="LipSDP-Layer only (a smoke run)")
    ap.add_argument("--out", type=Path, default=None, help="write the table here instead of docs/results")
    ap.add_argument("--weights", type=Path, default=DEFAULT_WEIGHTS)
    args = ap.parse_args(argv)
    if not args.weights.exists():
        print(f"{args.weights}: not found (the LipSDP weights come with the shared benchmark data)")
        return 0 if args.quick else 1
    weights = load_weights(args.weights)
    exact = float(np.linalg.norm(np.linalg.multi_dot(weights[::-1]), 2))
    out_dir = args.out or ROOT / "docs" / "results"
    out_dir.mkdir(parents=True, exist_ok=True)
    rows, ok = [], True
    for variant in ["layer"] if args.quick else ["neuron", "layer"]:
        prog, grp = build(weights, variant)
        t0 = time.perf_counter()
        sol = solve_conic(prog, "clarabel")
        t_solve = time.perf_counter() - t0
        rho = float(sol.x[0])
        t0 = time.perf_counter()
        rho_hat, how = prove(weights, grp, rho, np.asarray(sol.x[1:]))
        t_prove = time.perf_counter() - t0
        bound = sqrt_up(rho_hat)
        ok &= float(bound) >= exact and abs(float(bound) - PUBLISHED[variant]) <= 5e-3 * PUBLISHED[variant]
        rows.append(
            f"| LipSDP-{variant.capitalize()} | {math.sqrt(rho):.6f} | {float(bound):.6f} | {PUBLISHED[variant]:.3f} "
            f"| {exact:.6f} | {sol.status.value} | {t_solve:.2f} | {t_prove:.2f} | {how} |"
        )
        print(rows[-1], flush=True)
    table = "\n".join(
        [
            "| method | solver's √ρ | certified bound | published | exact L2 constant | solver status | solve (s) "
            "| proof (s) | how −M ⪰ 0 was proven |",
            "| --- | ---: | ---: | ---: | ---: | --- | ---: | ---: | --- |",
            *rows,
        ]
    )
    (out_dir / "lipsdp.md").write_text(
        "# LipSDP: certified Lipschitz bounds\n\n"
        "Produced by `python examples/reproduce/lipsdp.py` on the 2-10-30-20-2 network shipped with LipSDP "
        "(Fazlyab et al., NeurIPS 2019). Every weight is positive, so the exact L2 Lipschitz constant is the norm of "
        "the product of the weight matrices; a certified bound must not fall below it. *Certified bound*: √ρ̂ rounded "
        "up, where −M(ρ̂, T̂) ⪰ 0 was proven in exact rational arithmetic for rational multipliers T̂ ≥ 0.\n\n"
        + table
        + "\n\nNot reproduced here: networks trained by the paper's scripts, and the 784-50-10 MNIST instance "
        "(a dense SDP of order 844 with 50 multipliers per neuron group; beyond this build's dense route).\n"
    )
    print(f"wrote {out_dir / 'lipsdp.md'}")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())

"""Latent adversaries on digits MLPs: catastrophe checkers over activation envelopes, before and after latent training.

    python examples/reproduce/latent_adversary.py [--quick] [--out DIR] [--timeout S]

A 64-32-16-10 ReLU MLP is trained on the fixed digits training split (1437 images, inputs in [0, 1])
twice from the same initialisation: ``standard`` and ``latent`` (``sosrelax.train``'s latent
adversarial training at layer 0, PGD in a box of 0.1 of each neuron's envelope width).  For each
hidden layer (0 and 1) and each envelope kind (interval, polytope, zonotope, ellipsoid; margin 0.1,
fitted on the training split, coverage measured on the 360 test images), ten catastrophe checkers
are decided by ``sosrelax.nn.latent.verify_latent``: "some natural state drives logit j above 1.5
times its largest value on the training data" (j = 0..9).  Per claim: certified (the checker
accepted the proof tree), a latent witness (re-checked exactly, inside the envelope), or unknown.
Every latent witness is then inverted (``invert``: projected gradient descent over [0, 1]^64 from
the 8 nearest training images and 8 random ones): *realised* when an input fails the same checker
on the whole network (exact re-check), else a near miss with its relative distance.  The script
fails (returns 1) if a latent attack breaks a certified claim (a witness re-checked exactly), or if an envelope's held-out
coverage check (``check_envelope``) fails.  Writes ``latent.md`` and ``latent.png`` into ``--out``
(default ``docs/results``).

Reference: S. Casper et al., "Defending against unforeseen failure modes with latent adversarial
training", 2024 (latent adversaries); the envelopes and certified latent claims are sosrelax's own.
"""

from __future__ import annotations

import argparse
import importlib.util
import time
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
#: Skipped by the smoke test where the optional extra is missing (a path that does not exist).
REQUIRES = () if all(importlib.util.find_spec(m) for m in ("torch", "matplotlib")) else (
    "(PyTorch and matplotlib: pip install 'sosrelax[train]')",)
KINDS = ("interval", "polytope", "zonotope", "ellipsoid")
MARGIN = 0.1
FACTOR = 1.5


def _claim(net: Any, j: int, tau: float) -> Any:
    from sosrelax.nn.vnnlib import Atom, Disjunct, Property

    atom = Atom((), ((j, Fraction(1)),), -Fraction(tau))
    box = Disjunct((Fraction(0),) * net.n_inputs, (Fraction(1),) * net.n_inputs, (atom,))
    return Property(net.n_inputs, net.n_outputs, (box,), f"logit {j} >= {tau:.4g}")


def _train(mode: str, data: Any, quick: bool) -> Any:
    import sosrelax.train as T
    from sosrelax.train.latent import LatentOptions

    hidden = (16, 8) if quick else (32, 16)
    sch = T.Schedule(epochs=2, warmup=0, ramp=1) if quick else T.Schedule(epochs=20, warmup=2, ramp=10)
    run = T.train(data, mode, eps=0.1, model=T.mlp(64, hidden, 10, seed=0), schedule=sch, seed=0,
                  latent=LatentOptions(0, "attack", 5) if mode == "latent" else None, progress=False)
    return run.model


def _evaluate(net: Any, train_x: np.ndarray, test_x: np.ndarray, timeout: float, quick: bool) -> list[dict]:
    from sosrelax.nn.latent import attack_latent, check_envelope, envelope, invert, verify_latent
    from sosrelax.nn.rungs import Result

    logits = net.forward(train_x)
    rows = []
    classes = range(2) if quick else range(10)
    for layer in range(1 if quick else len(net.hidden_sizes)):
        for kind in KINDS:
            env = envelope(net, train_x, layer, kind, margin=MARGIN, held_out=test_x)
            ok = check_envelope(env, net, test_x).valid
            row: dict[str, Any] = {"layer": layer, "kind": kind, "coverage": env.coverage["held_out"],
                                   "check": ok, "certified": 0, "witness": 0, "realised": 0, "unknown": 0,
                                   "distances": [], "seconds": 0.0, "conflict": 0}
            for j in classes:
                tau = float(FACTOR * logits[:, j].max())
                prop = _claim(net, j, tau)
                t0 = time.perf_counter()
                res = verify_latent(net, prop, env, timeout=timeout, method="search")
                row["seconds"] += time.perf_counter() - t0
                if res.status is Result.UNSAT:
                    row["certified"] += 1
                elif res.status is Result.SAT and res.witness is not None:
                    row["witness"] += 1
                    inv = invert(net, res.witness.state_array(), layer, domain=(0.0, 1.0), data=train_x,
                                 prop=prop, steps=40 if quick else 300)
                    if inv.realised:
                        row["realised"] += 1
                    else:
                        row["distances"].append(inv.relative)
                else:
                    row["unknown"] += 1
                if res.status is Result.UNSAT and attack_latent(net, prop, env, seconds=0.1 if quick else 1.0) is not None:
                    row["conflict"] += 1  # a certified claim that an exactly checked attack breaks
            rows.append(row)
    return rows


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="small models, 2 epochs, layer 0, 2 classes, 2 s per claim (smoke test)")
    p.add_argument("--out", default=str(ROOT / "docs" / "results"))
    p.add_argument("--timeout", type=float, default=10.0, help="seconds per claim (default 10)")
    args = p.parse_args(argv)
    import torch

    import sosrelax.train as T

    torch.set_num_threads(1)
    train, test = T.digits("train"), T.digits("test")
    t_start = time.perf_counter()
    results = {}
    for mode in ("standard", "latent"):
        t0 = time.perf_counter()
        model = _train(mode, train, args.quick)
        net = _to_network(model)
        acc = float((net.forward(test.x).argmax(1) == test.y).mean())
        train_s = time.perf_counter() - t0
        rows = _evaluate(net, train.x.astype(np.float64), test.x.astype(np.float64),
                         min(args.timeout, 2.0) if args.quick else args.timeout, args.quick)
        results[mode] = (acc, train_s, rows, net)
        print(f"{mode}: test accuracy {acc:.3f}, trained in {train_s:.0f} s", flush=True)
    ok = all(r["check"] and not r["conflict"] for _, _, rows, _ in results.values() for r in rows)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    figure = _figure(results, out / "latent.png")
    (out / "latent.md").write_text(_page(results, args, time.perf_counter() - t_start, ok, figure))
    print(f"wrote {out / 'latent.md'}; checks {'hold' if ok else 'FAIL'}")
    return 0 if ok else 1


def _to_network(model: Any) -> Any:
    """The torch MLP as a ``sosrelax.nn.Network`` (its float32 weights taken exactly as float64)."""
    from sosrelax.nn import from_weights

    lin = [m for m in model if type(m).__name__ == "Linear"]
    return from_weights([m.weight.detach().double().numpy() for m in lin],
                        [m.bias.detach().double().numpy() for m in lin])


def _figure(results: dict, path: Path) -> bool:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    fig, axes = plt.subplots(1, len(results), figsize=(5 * len(results), 3.6), sharey=True)
    for ax, (mode, (_, _, rows, _)) in zip(np.atleast_1d(axes), results.items(), strict=False):
        labels = [f"L{r['layer']} {r['kind'][:4]}" for r in rows]
        x = np.arange(len(rows))
        cert = np.array([r["certified"] for r in rows])
        real = np.array([r["realised"] for r in rows])
        near = np.array([r["witness"] - r["realised"] for r in rows])
        unk = np.array([r["unknown"] for r in rows])
        ax.bar(x, cert, color="#2a9d8f", label="certified")
        ax.bar(x, real, bottom=cert, color="#e76f51", label="witness, realised as input")
        ax.bar(x, near, bottom=cert + real, color="#f4a261", label="witness, near miss")
        ax.bar(x, unk, bottom=cert + real + near, color="#bbbbbb", label="unknown")
        ax.set_xticks(x, labels, rotation=60, fontsize=8)
        ax.set_title(f"{mode} training")
    np.atleast_1d(axes)[0].set_ylabel("catastrophe checkers")
    handles, names = np.atleast_1d(axes)[0].get_legend_handles_labels()
    fig.legend(handles, names, fontsize=8, loc="lower center", ncol=4)
    fig.tight_layout(rect=(0, 0.08, 1, 1))
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def _page(results: dict, args: argparse.Namespace, total: float, ok: bool, figure: bool) -> str:
    n_claims = 2 if args.quick else 10
    lines = [
        "# Latent adversaries on digits MLPs",
        "",
        "Generated by `examples/reproduce/latent_adversary.py`"
        + (" (`--quick`: small models, layer 0, 2 classes, 2 s per claim)" if args.quick else "") + ".",
        f"Per model, hidden layer and envelope kind (margin {MARGIN}, fitted on the 1437 training images; "
        "coverage = share of the 360 test images whose states lie in the envelope), "
        f"{n_claims} catastrophe checkers \"some natural state drives logit j above {FACTOR} times its "
        "largest training value\". *certified*: unsat with a proof tree the checker accepted (over the "
        "ellipsoid's interval hull for ellipsoids); *witnesses*: latent counterexamples re-checked exactly "
        "inside the envelope; *realised*: witnesses for which gradient inversion over [0, 1]^64 found an input "
        "that fails the same checker on the whole network (exact re-check); the others are near misses, "
        "with the median relative distance ‖s(x) − t‖ / ‖t‖ that inversion reached; *unknown*: "
        f"neither within {args.timeout:g} s (ellipsoids: the search on the hull and the attack in the ball only).",
        "",
    ]
    for mode, (acc, train_s, rows, net) in results.items():
        arch = "-".join(str(v) for v in (net.n_inputs, *net.hidden_sizes, net.n_outputs))
        lines += [f"## {mode} training ({arch}, test accuracy {acc:.3f}, trained in {train_s:.0f} s)", "",
                  "| layer | envelope | held-out coverage | certified | witnesses | realised | near-miss distance "
                  "(median) | unknown | seconds |",
                  "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
        for r in rows:
            d = f"{np.median(r['distances']):.3f}" if r["distances"] else "–"
            lines.append(f"| {r['layer']} | {r['kind']} | {r['coverage']:.3f} | {r['certified']} | {r['witness']} | "
                         f"{r['realised']} | {d} | {r['unknown']} | {r['seconds']:.1f} |")
        lines.append("")
    lines += ["Reading the table.  Most checkers have latent witnesses: an envelope holds states of every class at "
              "once, and their combinations drive a logit well beyond anything the data produce.  Few of those "
              "witnesses are realised by inputs in [0, 1]^64; the rest are near misses at the listed distances "
              "— failures only a latent adversary reaches.  The latent training mode targets misclassification in "
              "a small box around each training state, not these global overconfidence checkers: on these models "
              "it does not certify more of them, which is what the second table measures.", ""]
    if figure:
        lines += ["![certified, realised, near-miss and unknown checkers per layer and envelope](latent.png)", ""]
    lines += [f"Checks (coverage check of every envelope on the test images passes; the latent attack finds no "
              f"witness of a certified claim): {'hold' if ok else 'FAIL'}.  Total {total:.0f} s on one thread.", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())

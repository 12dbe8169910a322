"""``sosrelax train``: train a model on the bundled digits in one of the modes, export it, evaluate it.

``sosrelax train --mode crown-ibp --eps 0.1 --out run/`` writes ``run/model.onnx`` (read by
``sosrelax verify``), ``run/checkpoint.pt`` (after every epoch; ``--resume`` continues from it) and
``run/metrics.json`` (per-epoch history and, with ``--evaluate``, clean / attack / certified accuracy
on the test split, per point in ``run/evaluation.sqlite``).  Exit code 0 on success, 2 on bad input
(including a missing PyTorch), with one line on stderr.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

__all__ = ["add_command", "run_train"]


def _sizes(text: str) -> tuple[int, ...]:
    try:
        out = tuple(int(v) for v in text.split(",") if v.strip())
    except ValueError as e:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from e
    if not out or min(out) < 1:
        raise argparse.ArgumentTypeError(f"expected positive sizes, got {text!r}")
    return out


def add_command(sub: Any) -> None:
    """Register the ``train`` sub-command."""
    from sosrelax.train.losses import MODES

    t = sub.add_parser("train", help="train a digits model (standard, pgd, ibp, crown-ibp, loop), export ONNX",
                       description=__doc__.splitlines()[0] if __doc__ else None)
    t.add_argument("--mode", choices=MODES, default="standard")
    t.add_argument("--eps", type=float, default=0.1, help="L-infinity radius, inputs in [0, 1] (default 0.1)")
    t.add_argument("--arch", choices=["mlp", "cnn"], default="mlp")
    t.add_argument("--hidden", type=_sizes, default=(64, 32), help="MLP hidden sizes (default 64,32)")
    t.add_argument("--epochs", type=int, default=60)
    t.add_argument("--warmup", type=int, default=5)
    t.add_argument("--ramp", type=int, default=30)
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--out", required=True, help="output folder")
    t.add_argument("--resume", action="store_true", help="continue from OUT/checkpoint.pt")
    t.add_argument("--evaluate", action="store_true", help="evaluate on the test split (proven certified accuracy)")
    t.add_argument("--eval-points", type=int, default=None, help="first N test points only")
    t.add_argument("--timeout", type=float, default=5.0, help="verifier seconds per point (default 5)")
    t.add_argument("--quiet", action="store_true", help="no progress lines")


def run_train(args: argparse.Namespace) -> int:
    """Run ``sosrelax train``; returns the exit code."""
    from sosrelax.errors import InvalidValueError
    from sosrelax.train.data import digits
    from sosrelax.train.evaluate import evaluate
    from sosrelax.train.export import save_onnx
    from sosrelax.train.models import cnn, mlp
    from sosrelax.train.trainer import Schedule, train

    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise InvalidValueError(f"--out {out}: exists and is not a folder; give a folder")
    train_set, test_set = digits("train"), digits("test")
    model = (mlp(64, args.hidden, 10, seed=args.seed) if args.arch == "mlp"
             else cnn((1, 8, 8), seed=args.seed))
    schedule = Schedule(epochs=args.epochs, warmup=args.warmup, ramp=args.ramp)
    run = train(train_set, args.mode, eps=args.eps, model=model, schedule=schedule, seed=args.seed,
                checkpoint=out, resume=args.resume, progress=not args.quiet)
    save_onnx(run.model, out / "model.onnx")
    metrics: dict[str, Any] = {"mode": args.mode, "eps": args.eps, "arch": args.arch, "seed": args.seed,
                               "train_seconds": run.seconds, "history": run.history}
    print(f"trained {args.mode} ({args.arch}) in {run.seconds:.1f} s: {out / 'model.onnx'}")
    if args.evaluate:
        data = test_set if args.eval_points is None else test_set.subset(slice(0, args.eval_points))
        ev = evaluate(run, data, args.eps, timeout=args.timeout, store=out / "evaluation.sqlite",
                      progress=not args.quiet)
        metrics["evaluation"] = {"points": ev.n, "clean": ev.clean, "attack": ev.attack,
                                 "certified": ev.certified, "seconds": ev.seconds}
        print(f"test ({ev.n} points, eps {args.eps}): clean {ev.clean:.3f}, attack {ev.attack:.3f}, "
              f"certified {ev.certified:.3f} (proofs checked)")
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2, sort_keys=True) + "\n")
    return 0

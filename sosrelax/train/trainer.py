"""``train``: one interface for the training modes, deterministic under a seed, with checkpoints.

Modes (:data:`~sosrelax.train.losses.MODES`):

``standard``
    cross-entropy on the data;
``pgd``
    cross-entropy on PGD adversarial examples at ``eps`` (Madry et al. 2018; ``pgd_steps`` signed
    gradient steps of ``2.5 eps / pgd_steps`` from a random start);
``ibp``
    Gowal et al. (2018): ``warmup`` natural epochs, then ``ε`` ramped linearly (per step) from 0 to
    ``eps_train`` over ``ramp`` epochs while ``κ`` goes from 1 to ``kappa_end`` (0.5), loss
    ``κ CE(z, y) + (1 - κ) CE(-m_IBP, y)``;
``crown-ibp``
    Zhang et al. (2020): the same ramp, ``κ`` from 1 to ``kappa_end`` (0), and the bound
    ``β m_CROWN-IBP + (1 - β) m_IBP`` with ``β`` going from 1 to 0 along the ramp;
``loop``
    the verifier in the loop (:mod:`sosrelax.train.loop`): the ``crown-ibp`` objective, and every
    ``LoopOptions.every`` epochs the engine's verifier runs on a sample of training points at the
    current radius: its counterexamples join the training data (natural loss), the points it
    certified get a smaller weight on the certified loss (``certified_weight``), the others keep the
    full weight; plus the ReLU-stability term (Xiao et al. 2019) with weight ``stability`` and the
    adversary's loss (cross-entropy at PGD examples of the current radius) with weight
    ``adversarial``.
``latent``
    latent adversarial training (:mod:`sosrelax.train.latent`): the worst state, by PGD or by the IBP
    bound of the tail, of a box around each point's hidden state inside the interval envelope of the
    training data's states, ``eps`` being the box's half-width as a fraction of the envelope's;

Adam with the learning rate divided by 10 at 75 % of the epochs.  Determinism: the model's
initialisation is the caller's (:func:`~sosrelax.train.models.mlp` takes a seed); batches, random
starts and the loop's samples come from generators seeded with ``seed``; no global seeding.
Checkpoints (``checkpoint=DIR``) are written after every epoch (``DIR/checkpoint.pt``, atomically);
``resume=True`` continues from the last one and ends with the same weights as an uninterrupted run.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from sosrelax.errors import InvalidValueError
from sosrelax.train.data import Dataset, as_dataset
from sosrelax.train.losses import MODES, certified_terms, pgd, stability_loss, worst_case_loss
from sosrelax.train.models import input_size, mlp
from sosrelax.train.torchlib import require_torch

__all__ = ["LoopOptions", "Schedule", "Trained", "train"]


@dataclass(frozen=True)
class Schedule:
    """Epochs and the published ε / κ / β schedules of certified training.

    Attributes
    ----------
    epochs : int
    warmup : int
        Natural epochs first (ε = 0), for ``ibp``, ``crown-ibp`` and ``loop``.
    ramp : int
        Epochs over which ε grows linearly from 0 to ``eps_train`` (and κ, β move to their ends).
    kappa_end : float or None
        Final weight of the natural loss; ``None``: 0.5 for ``ibp`` (Gowal et al.), 0 for ``crown-ibp``
        and ``loop`` (Zhang et al.).
    batch_size : int
    lr : float
        Adam's learning rate (divided by 10 at 75 % of the epochs).
    """

    epochs: int = 60
    warmup: int = 5
    ramp: int = 30
    kappa_end: float | None = None
    batch_size: int = 64
    lr: float = 1e-3

    def __post_init__(self) -> None:
        if min(self.epochs, self.batch_size) < 1 or min(self.warmup, self.ramp) < 0 or self.lr <= 0:
            raise InvalidValueError(f"invalid schedule {self}: epochs, batch_size >= 1, warmup, ramp >= 0, lr > 0")


@dataclass(frozen=True)
class LoopOptions:
    """Settings of the ``loop`` mode.

    Attributes
    ----------
    every : int
        A verification round every ``every`` epochs once the warm-up is over.
    sample : int
        Training points verified per round.
    timeout : float
        Seconds the verifier may spend on one point.
    certified_weight : float
        Weight of the certified loss on points the verifier certified in the latest round (1 on the
        others).
    stability : float
        Weight of the ReLU-stability term.
    adversarial : float
        Weight of the adversary's loss: cross-entropy at PGD examples (``pgd_steps`` steps) at the
        current radius, scaled like the certified loss by ``1 - κ``.
    """

    every: int = 5
    sample: int = 48
    timeout: float = 2.0
    certified_weight: float = 0.5
    stability: float = 0.1
    adversarial: float = 0.5


@dataclass
class Trained:
    """A trained model and how it was trained.

    Attributes
    ----------
    model : torch.nn.Sequential
        Takes flattened inputs ``(B, d)``; in evaluation mode.
    mode : str
    eps : float
    history : list of dict
        One row per epoch: loss, ε used, clean training accuracy, seconds (and the loop's round).
    seconds : float
        Training time (summed over resumed runs).
    """

    model: Any
    mode: str
    eps: float
    history: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0

    def __repr__(self) -> str:
        last = self.history[-1] if self.history else {}
        return (f"Trained(mode={self.mode!r}, eps={self.eps}, epochs={len(self.history)}, "
                f"loss={last.get('loss', float('nan')):.4f}, seconds={self.seconds:.1f})")


def _ramp(schedule: Schedule, epoch: int, step: int, steps: int) -> float:
    """Progress of the ramp in ``[0, 1]`` at a step (0 during the warm-up)."""
    t = (epoch - schedule.warmup) + step / max(1, steps)
    if schedule.ramp == 0:
        return 1.0 if epoch >= schedule.warmup else 0.0
    return float(min(max(t / schedule.ramp, 0.0), 1.0))


def _progress_default() -> bool:
    return sys.stderr.isatty()


def _save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    torch = require_torch()
    path.mkdir(parents=True, exist_ok=True)
    tmp = path / "checkpoint.pt.tmp"
    torch.save(state, tmp)
    os.replace(tmp, path / "checkpoint.pt")


def _restore(ckpt: Path, what: tuple[str, int, float], net: Any, opt: Any, sched: Any, gen: Any,
             rng: np.random.Generator, out: Trained) -> tuple[Any, int]:
    """Load ``ckpt/checkpoint.pt`` into the training objects; return the loop state and next epoch."""
    torch = require_torch()
    from sosrelax.train.loop import LoopState

    saved = torch.load(ckpt / "checkpoint.pt", weights_only=True)
    meta = json.loads(saved["meta"])
    if (meta["mode"], meta["seed"], meta["eps"]) != what:
        raise InvalidValueError(
            f"{ckpt / 'checkpoint.pt'} was written by mode {meta['mode']!r}, eps {meta['eps']}, seed "
            f"{meta['seed']}; resume with the same settings or use another checkpoint folder"
        )
    net.load_state_dict(saved["model"])
    opt.load_state_dict(saved["optimizer"])
    sched.load_state_dict(saved["scheduler"])
    gen.set_state(saved["generator"])
    rng.bit_generator.state = json.loads(saved["rng"])
    out.history = meta["history"]
    out.seconds = meta["seconds"]
    return LoopState.from_saved(saved["loop"]), int(meta["epoch"]) + 1


def train(data: Dataset | tuple[Any, Any], mode: str = "standard", *, eps: float = 0.1,
          model: Any = None, eps_train: float | None = None, schedule: Schedule | None = None,
          loop: LoopOptions | None = None, pgd_steps: int = 10, seed: int = 0,
          checkpoint: str | os.PathLike[str] | None = None, resume: bool = False,
          progress: bool | None = None, callback: Callable[[Trained], None] | None = None,
          latent: Any = None) -> Trained:
    """Train ``model`` (default :func:`~sosrelax.train.models.mlp` for the data) in ``mode``.

    Parameters
    ----------
    data : Dataset or (x, y)
        Training data; inputs flattened, in the dataset's domain (``[0, 1]`` for ``(x, y)``).
    mode : {"standard", "pgd", "ibp", "crown-ibp", "loop", "latent"}
        See the module.
    eps : float
        The L∞ radius the model should be robust at.
    model : torch.nn.Sequential, optional
        Trained in place (see :mod:`sosrelax.train.models` for the layers).
    eps_train : float, optional
        Radius of the certified losses at the end of the ramp; default ``1.1 eps`` (Gowal et al. train
        at a slightly larger radius than they test).
    schedule, loop : Schedule, LoopOptions
    pgd_steps : int
    seed : int
    checkpoint : path, optional
        Folder for the per-epoch checkpoint.
    resume : bool
        Continue from the checkpoint in ``checkpoint`` when there is one.
    progress : bool, optional
        One line per epoch on stderr (default: when stderr is a terminal).
    callback : callable, optional
        Called with the :class:`Trained` record after every epoch (after its checkpoint is written);
        an exception it raises stops training there, and ``resume=True`` continues later.
    latent : LatentOptions, optional
        Settings of the ``latent`` mode (:mod:`sosrelax.train.latent`; ``eps`` is then the latent radius
        as a fraction of each neuron's envelope width).

    Returns
    -------
    Trained
    """
    torch = require_torch()
    if mode not in MODES:
        raise InvalidValueError(f"unknown training mode {mode!r}; choose from {', '.join(MODES)}")
    if not eps >= 0:
        raise InvalidValueError(f"eps must be >= 0, got {eps}")
    ds = as_dataset(data)
    sch = schedule or Schedule()
    lopt = loop or LoopOptions()
    eps_tr = float(eps_train) if eps_train is not None else 1.1 * eps
    kappa_end = sch.kappa_end if sch.kappa_end is not None else (0.5 if mode in ("ibp", "latent") else 0.0)
    net = model if model is not None else mlp(ds.x.shape[1], n_classes=ds.n_classes, seed=seed)
    if input_size(net) != ds.x.shape[1]:
        raise InvalidValueError(f"the model takes {input_size(net)} inputs but the data has {ds.x.shape[1]}")
    show = _progress_default() if progress is None else progress
    X = torch.tensor(ds.x, dtype=torch.float32)
    Y = torch.tensor(ds.y, dtype=torch.int64)
    opt = torch.optim.Adam(net.parameters(), lr=sch.lr)
    sched = torch.optim.lr_scheduler.MultiStepLR(opt, milestones=[max(1, int(0.75 * sch.epochs))], gamma=0.1)
    gen = torch.Generator().manual_seed(seed)
    rng = np.random.default_rng(seed)
    from sosrelax.train.loop import LoopState

    state = LoopState.empty(len(ds), ds.x.shape[1])
    out = Trained(net, mode, float(eps))
    start = 0
    ckpt = Path(checkpoint) if checkpoint is not None else None
    if resume and ckpt is not None and (ckpt / "checkpoint.pt").exists():
        state, start = _restore(ckpt, (mode, seed, float(eps)), net, opt, sched, gen, rng, out)
    n = len(ds)
    for epoch in range(start, sch.epochs):
        t0 = time.perf_counter()
        net.train()
        row: dict[str, Any] = {"epoch": epoch}
        if mode == "loop" and epoch >= sch.warmup and (epoch - sch.warmup) % lopt.every == 0:
            radius = min(eps, eps_tr * _ramp(sch, epoch + 1, 0, 1))  # the radius this epoch ends at
            if radius > 0:
                row["round"] = state.round(net, ds, radius, lopt, rng)
        perm = torch.randperm(n, generator=gen)
        steps = (n + sch.batch_size - 1) // sch.batch_size
        total = 0.0
        for s in range(steps):
            idx = perm[s * sch.batch_size:(s + 1) * sch.batch_size]
            loss = _step_loss(net, mode, X[idx], Y[idx], idx, _ramp(sch, epoch, s, steps), eps, eps_tr,
                              kappa_end, pgd_steps, gen, ds, lopt, state, latent)
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += float(loss.detach()) * len(idx)
        sched.step()
        net.eval()
        with torch.no_grad():
            acc = float((net(X).argmax(1) == Y).float().mean())
        used = {"standard": 0.0, "pgd": eps}.get(mode, eps_tr * _ramp(sch, epoch + 1, 0, 1))
        row.update(loss=total / n, eps=used, train_accuracy=acc, seconds=time.perf_counter() - t0)
        out.history.append(row)
        out.seconds += row["seconds"]
        if show:
            extra = f" round {row['round']}" if "round" in row else ""
            print(f"[{mode}] epoch {epoch + 1}/{sch.epochs} loss {row['loss']:.4f} acc {acc:.3f}{extra}",
                  file=sys.stderr, flush=True)
        if ckpt is not None:
            meta = {"mode": mode, "seed": seed, "eps": float(eps), "epoch": epoch, "history": out.history,
                    "seconds": out.seconds, "schedule": asdict(sch)}
            _save_checkpoint(ckpt, {
                "model": net.state_dict(), "optimizer": opt.state_dict(), "scheduler": sched.state_dict(),
                "generator": gen.get_state(), "rng": json.dumps(rng.bit_generator.state),
                "loop": state.to_saved(), "meta": json.dumps(meta, sort_keys=True)})
        if callback is not None:
            callback(out)
    net.eval()
    return out


def _step_loss(net: Any, mode: str, x: Any, y: Any, idx: Any, p: float, eps: float, eps_tr: float,
               kappa_end: float, pgd_steps: int, gen: Any, ds: Dataset, lopt: LoopOptions,
               state: Any, latent: Any = None) -> Any:
    """The loss of one batch (``p``: progress of the ramp)."""
    import torch

    F = torch.nn.functional
    if mode == "standard":
        return F.cross_entropy(net(x), y)
    if mode == "latent":
        from sosrelax.train.latent import latent_loss

        return latent_loss(net, x, y, p, eps_tr, kappa_end, torch.as_tensor(ds.x), latent, gen)
    if mode == "pgd":
        xa, _ = pgd(net, x, y, eps, steps=pgd_steps, lower=ds.lower, upper=ds.upper, generator=gen)
        return F.cross_entropy(net(xa), y)
    natural = F.cross_entropy(net(x), y, reduction="none")
    if p <= 0:
        loss = natural.mean()
    else:
        kappa = 1.0 + p * (kappa_end - 1.0)
        beta = 1.0 - p if mode != "ibp" else 0.0
        terms = certified_terms(net, x, y, eps_tr * p, "ibp" if mode == "ibp" else "crown-ibp", beta,
                                ds.lower, ds.upper)
        robust = worst_case_loss(terms.margins, y, reduction="none")
        if mode == "loop":
            robust = robust * state.weights(idx, lopt.certified_weight)
        loss = (kappa * natural + (1 - kappa) * robust).mean()
        if mode == "loop" and lopt.stability > 0:
            loss = loss + lopt.stability * stability_loss(terms.pre)
        if mode == "loop" and lopt.adversarial > 0:
            xa, _ = pgd(net, x, y, eps_tr * p, steps=pgd_steps, lower=ds.lower, upper=ds.upper, generator=gen)
            loss = loss + (1 - kappa) * lopt.adversarial * F.cross_entropy(net(xa), y)
    if mode == "loop":
        loss = loss + state.counterexample_loss(net)
    return loss

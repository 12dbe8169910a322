"""The verifier in the training loop (mode ``loop`` of :func:`sosrelax.train.train`).

Each round exports the current model to ONNX, reads it back with :func:`sosrelax.nn.load_onnx`
and runs the engine's verifier (:func:`sosrelax.train.proofs.verify_point`, a short timeout) on a
sample of training points at the current radius.  Its verdicts steer the next epochs:

- ``falsified``: the counterexample (an input re-run exactly through the network, misclassified)
  joins the training data with its point's label, trained with the natural loss;
- neither certified nor falsified: the attack rounded from the LP relaxation
  (:func:`~sosrelax.train.relaxation_attack.lp_attack`, the relaxation's minimiser of the margin re-run
  exactly) is tried; a counterexample it finds joins the data the same way;
- ``certified`` (proof checked): the point's certified loss gets the weight ``certified_weight``;
- ``unknown`` / ``timeout``, and points not verified yet: weight 1 on the certified loss.

The sample favours points that are not certified yet (all of them first, then the certified ones
again, in a random order drawn from the training generator).
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from sosrelax.train.data import Dataset
from sosrelax.train.export import to_network
from sosrelax.train.proofs import verify_point
from sosrelax.train.relaxation_attack import lp_attack

__all__ = ["COUNTEREXAMPLE_WEIGHT", "LoopState"]

#: Weight of the natural loss on the counterexamples found so far.
COUNTEREXAMPLE_WEIGHT = 0.5
#: Most recent counterexamples kept.
MAX_POOL = 512


@dataclass
class LoopState:
    """Per training point: certified in the latest round that checked it; the counterexample pool."""

    certified: np.ndarray  # (n,) bool
    pool_x: np.ndarray  # (p, d) float32
    pool_y: np.ndarray  # (p,) int64
    rounds: int = 0

    @classmethod
    def empty(cls, n: int, d: int) -> LoopState:
        return cls(np.zeros(n, dtype=bool), np.zeros((0, d), dtype=np.float32), np.zeros(0, dtype=np.int64))

    def to_saved(self) -> dict[str, Any]:
        """Tensors and JSON only (loadable with ``torch.load(weights_only=True)``)."""
        import torch

        return {"certified": torch.tensor(self.certified), "pool_x": torch.tensor(self.pool_x),
                "pool_y": torch.tensor(self.pool_y), "rounds": json.dumps(self.rounds)}

    @classmethod
    def from_saved(cls, saved: dict[str, Any]) -> LoopState:
        return cls(saved["certified"].numpy().astype(bool), saved["pool_x"].numpy().astype(np.float32),
                   saved["pool_y"].numpy().astype(np.int64), int(json.loads(saved["rounds"])))

    def weights(self, idx: Any, certified_weight: float) -> Any:
        """Weights of the certified loss for the training points ``idx``."""
        import torch

        w = np.where(self.certified[idx.numpy()], certified_weight, 1.0)
        return torch.tensor(w, dtype=torch.float32)

    def counterexample_loss(self, net: Any) -> Any:
        """``COUNTEREXAMPLE_WEIGHT`` times the mean cross-entropy on the pool (0 when it is empty)."""
        import torch

        if len(self.pool_y) == 0:
            return torch.zeros(())
        z = net(torch.tensor(self.pool_x))
        return COUNTEREXAMPLE_WEIGHT * torch.nn.functional.cross_entropy(z, torch.tensor(self.pool_y))

    def round(self, net: Any, ds: Dataset, radius: float, opts: Any, rng: np.random.Generator) -> str:
        """One verification round at ``radius``; returns a one-line summary."""
        import torch

        self.rounds += 1
        n = len(ds)
        order = rng.permutation(n)
        order = np.concatenate([order[~self.certified[order]], order[self.certified[order]]])
        pick = order[:opts.sample]
        with torch.no_grad():
            pred = net(torch.tensor(ds.x[pick])).argmax(1).numpy()
        counts = {"certified": 0, "falsified": 0, "relaxation": 0, "unknown": 0, "misclassified": 0}
        new_x: list[np.ndarray] = []
        new_y: list[int] = []
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "model.onnx"
            network = to_network(net, path, ds.x.shape[1])
            for i, p in zip(pick, pred, strict=True):
                if p != ds.y[i]:
                    self.certified[i] = False
                    counts["misclassified"] += 1
                    continue
                v = verify_point(network, ds.x[i], int(ds.y[i]), radius, onnx_path=path, timeout=opts.timeout,
                                 lower=ds.lower, upper=ds.upper, seed=int(i))
                self.certified[i] = v.certified
                if v.status == "falsified" and v.counterexample is not None:
                    new_x.append(np.asarray(v.counterexample, dtype=np.float32))
                    new_y.append(int(ds.y[i]))
                    counts["falsified"] += 1
                elif v.certified:
                    counts["certified"] += 1
                else:
                    x_adv = lp_attack(network, ds.x[i], int(ds.y[i]), radius, lower=ds.lower, upper=ds.upper)
                    if x_adv is not None:
                        new_x.append(np.asarray(x_adv, dtype=np.float32))
                        new_y.append(int(ds.y[i]))
                        counts["relaxation"] += 1
                    else:
                        counts["unknown"] += 1
        if new_x:
            self.pool_x = np.concatenate([self.pool_x, np.stack(new_x)])[-MAX_POOL:]
            self.pool_y = np.concatenate([self.pool_y, np.asarray(new_y, dtype=np.int64)])[-MAX_POOL:]
        return (f"ε={radius:.3g}: " + ", ".join(f"{k} {v}" for k, v in counts.items())
                + f" of {len(pick)}; pool {len(self.pool_y)}")

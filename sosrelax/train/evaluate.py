"""``evaluate``: clean, attack and *proven* certified accuracy, per point resumable in a result store.

For each point ``(x, y)`` of the data at L∞ radius ``ε`` (boxes clipped to the data's domain):

- **clean** — the model classifies ``x`` as ``y``;
- **attack** — clean, and neither PGD (``restarts`` random starts, ``steps`` signed-gradient steps on
  the Carlini–Wagner margin) nor the verifier found an input in the box that the model misclassifies;
- **certified** — clean, and :func:`sosrelax.nn.verify` answered ``unsat`` on the robustness property
  of the *exported ONNX model*: its proof (a proof tree, or exact certificates) was accepted by the
  independent checker before the answer was given.  Nothing else counts.

So certified ≤ attack ≤ clean holds point by point, provided the verifier is sound: a point that is
certified *and* attacked would be a contradiction (``verify_attacked=True`` runs the verifier on
attacked points too, to test exactly that).

Per-point verdicts are rows of a :class:`sosrelax.store.ResultStore` (SQLite, one transaction per
row; proofs as files next to it).  A row's key is a SHA-256 of the exported model's bytes, the point,
its label, ε, the domain, the timeout and the seed, so a re-run (after a crash, or with more points)
verifies only the points that have no row yet.
"""

from __future__ import annotations

import hashlib
import json
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from sosrelax.errors import InvalidValueError
from sosrelax.train.data import Dataset, as_dataset
from sosrelax.train.export import onnx_bytes
from sosrelax.train.losses import pgd
from sosrelax.train.models import input_size
from sosrelax.train.proofs import verify_point
from sosrelax.train.torchlib import require_torch

__all__ = ["EVAL_FORMAT", "Evaluation", "PointResult", "evaluate"]

#: Identifies the per-point row layout in the key (bumped when its meaning changes).
EVAL_FORMAT = "sosrelax.train.evaluate/1"


@dataclass(frozen=True)
class PointResult:
    """One point: clean, attacked, and the verifier's status (``"not run"`` when it was skipped)."""

    index: int
    label: int
    correct: bool
    attacked: bool
    status: str
    seconds: float
    proof_path: str | None = None
    resumed: bool = False

    @property
    def certified(self) -> bool:
        return self.correct and self.status == "certified"


@dataclass(frozen=True)
class Evaluation:
    """Accuracies at one radius (fractions of ``n``), the per-point results and the time taken."""

    eps: float
    n: int
    clean: float
    attack: float
    certified: float
    points: tuple[PointResult, ...]
    seconds: float
    verify_seconds: float

    @property
    def counts(self) -> dict[str, int]:
        """Number of points clean / attack-robust / certified, and verifier statuses."""
        out = {"clean": sum(p.correct for p in self.points),
               "attack": sum(p.correct and not p.attacked for p in self.points),
               "certified": sum(p.certified for p in self.points)}
        for p in self.points:
            out[f"verifier {p.status}"] = out.get(f"verifier {p.status}", 0) + 1
        return out

    def __repr__(self) -> str:
        return (f"Evaluation(eps={self.eps}, n={self.n}, clean={self.clean:.3f}, attack={self.attack:.3f}, "
                f"certified={self.certified:.3f}, seconds={self.seconds:.1f})")


def _key(model_hash: str, x: np.ndarray, label: int, settings: dict[str, Any]) -> str:
    h = hashlib.sha256()
    h.update(EVAL_FORMAT.encode())
    h.update(model_hash.encode())
    h.update(np.ascontiguousarray(x, dtype=np.float32).tobytes())
    h.update(json.dumps({"label": int(label), **settings}, sort_keys=True).encode())
    return h.hexdigest()


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def evaluate(model: Any, data: Dataset | tuple[Any, Any], eps: float, *, timeout: float = 5.0,
             steps: int = 20, restarts: int = 5, seed: int = 0, store: Any = None,
             verify_attacked: bool = False, progress: bool | None = None) -> Evaluation:
    """Clean, attack and proven certified accuracy of ``model`` on ``data`` at L∞ radius ``eps``.

    Parameters
    ----------
    model : torch.nn.Sequential or Trained
    data : Dataset or (x, y)
    eps : float
    timeout : float
        Seconds the verifier may spend on one point (``timeout``/``unknown`` points are not certified).
    steps, restarts : int
        PGD budget of the attack.
    seed : int
        PGD's random starts and the verifier's attack.
    store : path or ResultStore, optional
        Per-point verdicts are recorded there and reused on a re-run (see the module).
    verify_attacked : bool
        Also run the verifier on points PGD attacked (they cannot be certified; a test of soundness).
    progress : bool, optional
        Progress on stderr (default: when stderr is a terminal).
    """
    torch = require_torch()
    from sosrelax.nn import load_onnx
    from sosrelax.store import ResultStore

    net_t = getattr(model, "model", model)
    ds = as_dataset(data)
    if not eps >= 0:
        raise InvalidValueError(f"eps must be >= 0, got {eps}")
    if input_size(net_t) != ds.x.shape[1]:
        raise InvalidValueError(f"the model takes {input_size(net_t)} inputs but the data has {ds.x.shape[1]}")
    show = sys.stderr.isatty() if progress is None else progress
    t0 = time.perf_counter()
    net_t.eval()
    X = torch.tensor(ds.x, dtype=torch.float32)
    Y = torch.tensor(ds.y, dtype=torch.int64)
    with torch.no_grad():
        correct = (net_t(X).argmax(1) == Y).numpy()
    gen = torch.Generator().manual_seed(seed)
    _, fooled = pgd(net_t, X, Y, eps, steps=steps, restarts=restarts, lower=ds.lower, upper=ds.upper,
                    loss="margin", generator=gen)
    attacked = correct & fooled.numpy()
    blob = onnx_bytes(net_t, ds.x.shape[1])
    model_hash = hashlib.sha256(blob).hexdigest()
    settings = {"eps": float(eps), "timeout": float(timeout), "seed": int(seed), "lower": ds.lower,
                "upper": ds.upper}
    db = store if isinstance(store, ResultStore) else ResultStore(store) if store is not None else None
    points: list[PointResult] = []
    verify_s = 0.0
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "model.onnx"
        path.write_bytes(blob)
        network = load_onnx(path)
        for i in range(len(ds)):
            label = int(ds.y[i])
            run = bool(correct[i]) and (verify_attacked or not attacked[i])
            if not run:
                points.append(PointResult(i, label, bool(correct[i]), bool(attacked[i]), "not run", 0.0))
                continue
            key = _key(model_hash, ds.x[i], label, settings)
            row = db.get(key) if db is not None else None
            if row is not None:
                points.append(PointResult(i, label, True, bool(attacked[i]) or row["status"] == "falsified",
                                          row["status"], float(row["solve_time_s"] or 0.0),
                                          row["certificate_path"], resumed=True))
                continue
            started = _now()
            v = verify_point(network, ds.x[i], label, eps, onnx_path=path, timeout=timeout, lower=ds.lower,
                             upper=ds.upper, seed=seed + i)
            verify_s += v.seconds
            proof_path = None
            if db is not None and v.status != "error":  # a failed run is retried next time
                if v.proof is not None:
                    proof_path = db.write_file(f"{key}.proof.json", v.proof.encode("utf-8"))
                db.put({"key": key, "name": f"{ds.name}[{i}] eps={eps}", "status": v.status,
                        "solve_time_s": v.seconds, "wall_time_s": v.seconds, "started_at": started,
                        "finished_at": _now(), "certificate_path": proof_path,
                        "counterexample": json.dumps(v.counterexample) if v.counterexample else None,
                        "message": v.message, "settings": json.dumps({**settings, "model": model_hash}),
                        "claim": json.dumps({"index": i, "label": label})})
            points.append(PointResult(i, label, True, bool(attacked[i]) or v.status == "falsified", v.status,
                                      v.seconds, proof_path))
            if show and (i + 1) % max(1, len(ds) // 20) == 0:
                done = sum(p.certified for p in points)
                print(f"[evaluate ε={eps}] {i + 1}/{len(ds)} points, {done} certified", file=sys.stderr,
                      flush=True)
    if db is not None and not isinstance(store, ResultStore):
        db.close()
    n = max(1, len(ds))
    pts = tuple(points)
    return Evaluation(float(eps), len(ds), sum(p.correct for p in pts) / n,
                      sum(p.correct and not p.attacked for p in pts) / n, sum(p.certified for p in pts) / n,
                      pts, time.perf_counter() - t0, verify_s)


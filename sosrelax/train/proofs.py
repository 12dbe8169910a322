"""Robustness of one point, decided by the engine: ``sosrelax.nn.verify`` on the exported network.

The claim for a point ``x`` of class ``y`` at radius ``ε`` is the VNN-LIB robustness property over the
box ``[max(x - ε, lower), min(x + ε, upper)]`` (the input domain, ``[0, 1]`` for images): one disjunct
``z_j - z_y >= 0`` per other class ``j``.  ``unsat`` — the point is *certified* — is answered by
:func:`sosrelax.nn.verify` only after the independent checker accepted its proof (a proof tree of the
batched search, or certificates of the exact rungs); ``sat`` comes with a counterexample that was
re-run exactly through the network.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import numpy as np

from sosrelax.nn.ir import Network
from sosrelax.nn.vnnlib import Atom, Disjunct, Property

__all__ = ["PointVerdict", "box_property", "verify_point"]


@dataclass(frozen=True)
class PointVerdict:
    """What the verifier said about one point.

    Attributes
    ----------
    status : str
        ``"certified"`` (unsat, proof checked), ``"falsified"`` (sat, counterexample re-run exactly),
        ``"unknown"``, ``"timeout"``, or ``"error"`` (the verifier failed on this point; the message says
        how).
    counterexample : tuple of float or None
        The input of a ``falsified`` verdict.
    proof : str or None
        The checked proof of a ``certified`` verdict, as JSON text.
    seconds : float
    message : str
    """

    status: str
    counterexample: tuple[float, ...] | None
    proof: str | None
    seconds: float
    message: str

    @property
    def certified(self) -> bool:
        return self.status == "certified"


def box_property(net: Network, x: np.ndarray, label: int, eps: float, lower: float = 0.0,
                 upper: float = 1.0) -> Property:
    """The robustness property of ``x`` (class ``label``) at L∞ radius ``eps``, clipped to the domain."""
    e = Fraction(float(eps))
    lo = tuple(max(Fraction(float(v)) - e, Fraction(lower)) for v in np.asarray(x, dtype=np.float64))
    hi = tuple(min(Fraction(float(v)) + e, Fraction(upper)) for v in np.asarray(x, dtype=np.float64))
    ds = []
    for j in range(net.n_outputs):
        if j != label:
            atom = Atom((), tuple(sorted([(j, Fraction(1)), (label, Fraction(-1))])), Fraction(0))
            ds.append(Disjunct(lo, hi, (atom,)))
    return Property(net.n_inputs, net.n_outputs, tuple(ds), "robustness")


def _proof_text(res: Any) -> str | None:
    if res.proof is not None:
        return str(res.proof.to_json())
    if res.certificates:
        return "[" + ",".join(c.to_json().decode("utf-8").strip() for c in res.certificates) + "]\n"
    return None


def verify_point(net: Network, x: np.ndarray, label: int, eps: float, *, onnx_path: Any = None,
                 timeout: float = 5.0, lower: float = 0.0, upper: float = 1.0, seed: int = 0) -> PointVerdict:
    """Decide the robustness of ``x`` with :func:`sosrelax.nn.verify` (see the module)."""
    import time

    from sosrelax.nn.verify import verify

    t0 = time.perf_counter()
    prop = box_property(net, x, label, eps, lower, upper)
    try:
        res = verify(net, prop, onnx_path=onnx_path, timeout=timeout, rng=seed)
    except MemoryError:
        return PointVerdict("error", None, None, time.perf_counter() - t0, "MemoryError: out of memory")
    except Exception as e:  # a failure on one point is that point's verdict (never a certificate)
        return PointVerdict("error", None, None, time.perf_counter() - t0, f"{type(e).__name__}: {e}")
    verdict = res.status.value
    status = {"unsat": "certified", "sat": "falsified"}.get(verdict, verdict)
    cex = None
    if status == "falsified" and res.counterexample is not None:
        cex = tuple(float(v) for v in res.counterexample[0])
    proof = _proof_text(res) if status == "certified" else None
    if status == "certified" and proof is None:  # never claim a proof that is not there
        status = "unknown"
    return PointVerdict(status, cex, proof, time.perf_counter() - t0, f"{verdict}: {res.message}")


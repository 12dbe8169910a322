"""From latent to input: an input whose hidden state comes close to a latent witness.

Given a target state ``t`` of hidden layer ``k`` (a latent witness), projected gradient descent
(Adam steps, numpy) on

.. math::

    \\min_{x \\in [lo, hi]} \\tfrac12 \\|s_k(x) - t\\|_2^2,\\qquad s_k(x) = \\varphi(z_{k+1}(x)),

from several starting inputs (the data points whose states are nearest to ``t``, and random points
of the domain).  The result reports the distance ``‖s_k(x) - t‖₂`` reached (also relative to
``‖t‖₂``).  When a property is given, every end point is also tried as an input counterexample of the
*whole* network over the domain: a failure counts as realised only after the exact rational forward
pass (:func:`sosrelax.nn.witness.confirm_counterexample`) confirmed it.  Otherwise the witness is a
*near miss*: a state the latent adversary reaches and, as far as the descent can tell, inputs do not.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from fractions import Fraction
from typing import Any

import numpy as np

from sosrelax.errors import InvalidValueError
from sosrelax.nn.ir import Network
from sosrelax.nn.latent.envelope import layer_activations
from sosrelax.nn.vnnlib import Property
from sosrelax.nn.witness import confirm_counterexample

__all__ = ["Inversion", "invert"]


@dataclass(frozen=True)
class Inversion:
    """Outcome of :func:`invert`.

    Attributes
    ----------
    x : ndarray
        The input reached (in the domain).
    distance : float
        ``‖s_k(x) - t‖₂``.
    relative : float
        ``distance / max(‖t‖₂, 1e-12)``.
    realised : bool
        ``x`` (or another end point) fails the property on the whole network, confirmed exactly.
    counterexample : tuple or None
        ``(input, output)`` of the realised failure.
    """

    x: np.ndarray
    distance: float
    relative: float
    realised: bool = False
    counterexample: tuple[tuple[float, ...], tuple[float, ...]] | None = None

    def __repr__(self) -> str:
        what = "realised" if self.realised else "near miss"
        return f"Inversion({what}, distance {self.distance:.4g}, relative {self.relative:.3g})"


def _state_and_grad(net: Network, X: np.ndarray, t: np.ndarray, layer: int, stage: str
                    ) -> tuple[np.ndarray, np.ndarray]:
    """States of the batch ``X`` and the gradient of ``½‖s(x) - t‖²`` for every row."""
    zs = net.activations(X)[: layer + 1]
    z = zs[layer]
    s = np.maximum(z, 0.0) if stage == "post" else z
    g = s - t
    if stage == "post":
        g = g * (z > 0)
    for k in range(layer, 0, -1):
        g = (g @ net.weights[k]) * (zs[k - 1] > 0)
    return s, g @ net.weights[0]


def invert(net: Network, target: Any, layer: int, *, stage: str = "post", domain: tuple[Any, Any] = (0.0, 1.0),
           data: Any = None, prop: Property | None = None, starts: int = 16, steps: int = 400,
           lr: float = 0.02, rng: np.random.Generator | int | None = 0) -> Inversion:
    """Search an input in ``domain`` whose state at ``layer`` is close to ``target``.

    Parameters
    ----------
    net : Network
    target : array
        A state of hidden layer ``layer`` (e.g. ``LatentWitness.state_array()``).
    layer : int
        Hidden layer, 0-based; ``stage`` as for envelopes.
    domain : (lo, hi)
        The input box (scalars or arrays); iterates are projected onto it.
    data : array, optional
        Inputs; the ``starts // 2`` whose states are nearest to the target start the descent.
    prop : Property, optional
        The catastrophe on the whole network: end points are re-checked as input counterexamples
        (the property's input boxes are replaced by ``domain``).
    starts, steps, lr : int, int, float
        Starting points, Adam steps and step size (relative to the domain's width).
    """
    t = np.asarray(target, dtype=np.float64).reshape(-1)
    if not 0 <= layer < len(net.hidden_sizes) or t.size != net.hidden_sizes[layer]:
        raise InvalidValueError(f"target of {t.size} entries for layer {layer} of {net!r}")
    gen = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
    lo = np.broadcast_to(np.asarray(domain[0], dtype=np.float64), (net.n_inputs,)).copy()
    hi = np.broadcast_to(np.asarray(domain[1], dtype=np.float64), (net.n_inputs,)).copy()
    if np.any(lo > hi):
        raise InvalidValueError("domain: lo > hi")
    X0 = [lo + gen.random((max(1, starts - starts // 2), net.n_inputs)) * (hi - lo)]
    if data is not None:
        D = np.clip(np.asarray(data, dtype=np.float64).reshape(-1, net.n_inputs), lo, hi)
        near = np.argsort(np.linalg.norm(layer_activations(net, D, layer, stage) - t, axis=1))[: starts // 2]
        X0.append(D[near])
    X = np.vstack(X0)
    m, v = np.zeros_like(X), np.zeros_like(X)
    step = lr * np.maximum(hi - lo, 1e-12)
    for it in range(1, steps + 1):
        _, g = _state_and_grad(net, X, t, layer, stage)
        m = 0.9 * m + 0.1 * g
        v = 0.999 * v + 0.001 * g * g
        X = np.clip(X - step * (m / (1 - 0.9**it)) / (np.sqrt(v / (1 - 0.999**it)) + 1e-12), lo, hi)
    dist = np.linalg.norm(layer_activations(net, X, layer, stage) - t, axis=1)
    order = np.argsort(dist)
    scale = max(float(np.linalg.norm(t)), 1e-12)
    best = order[0]
    if prop is not None:
        blo = tuple(Fraction(float(a)) for a in lo)
        bhi = tuple(Fraction(float(b)) for b in hi)
        for i in order:
            for d in prop.disjuncts:
                cex = confirm_counterexample(net, replace(d, lo=blo, hi=bhi), X[i], None)
                if cex is not None:
                    return Inversion(X[i].copy(), float(dist[i]), float(dist[i]) / scale, True, cex)
    return Inversion(X[best].copy(), float(dist[best]), float(dist[best]) / scale)

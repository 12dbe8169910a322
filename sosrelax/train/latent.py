"""The ``latent`` training mode: latent adversarial training inside the activation envelope.

The adversary of :mod:`sosrelax.nn.latent` sets hidden layer ``k`` to a natural state.  Trained
against the whole envelope, no classifier could be right (it holds the states of every class), so
the training adversary is local: around each training point's state ``h = s_k(x)`` (post-activation)
it may move every neuron by at most ``ρ_i = ε · w_i``, a fraction ``ε`` of that neuron's envelope
width ``w_i``, and must stay in the envelope:

.. math::

    h' \\in B(x) = [\\max(lo, h - ρ), \\min(hi, h + ρ)],

where ``[lo, hi]`` is the interval envelope of the training data's states under the current
weights (re-measured at every step, without gradient).  The loss is

.. math::

    κ\\, CE(f(x), y) + (1 - κ)\\, CE(\\text{worst}(B(x)), y),

with ``worst`` either the PGD state (``bound="attack"``: ``steps`` signed-gradient steps of
``2.5 ρ / steps`` from a random start, the loss evaluated at ``h + δ*`` so that gradients reach the
layers before ``k`` too) or the IBP worst-case logits of the network's tail over the box
(``bound="ibp"``, an upper bound of the worst-case cross-entropy over ``B(x)``).  ``ε`` ramps from 0
to ``eps_train`` along the schedule's ramp and ``κ`` from 1 to ``kappa_end`` (as in the certified
modes).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sosrelax.errors import InvalidValueError
from sosrelax.train.bounds import ibp_margins
from sosrelax.train.losses import worst_case_loss
from sosrelax.train.models import affine_layers
from sosrelax.train.torchlib import require_torch

__all__ = ["LatentOptions", "latent_loss"]


@dataclass(frozen=True)
class LatentOptions:
    """Settings of the ``latent`` mode.

    Attributes
    ----------
    layer : int
        Hidden layer of the adversary (0-based, post-activation).
    bound : {"attack", "ibp"}
        The worst state by PGD, or the IBP relaxation bound of the tail.
    steps : int
        PGD steps (``bound="attack"``).
    """

    layer: int = 0
    bound: str = "attack"
    steps: int = 5

    def __post_init__(self) -> None:
        if self.bound not in ("attack", "ibp") or self.steps < 1 or self.layer < 0:
            raise InvalidValueError(f"invalid latent options {self}: bound 'attack' or 'ibp', steps >= 1, layer >= 0")


def _front(Ws: list[Any], bs: list[Any], x: Any, layer: int) -> Any:
    a = x
    for i in range(layer + 1):
        a = (a @ Ws[i].T + bs[i]).clamp(min=0)
    return a


def _tail(Ws: list[Any], bs: list[Any], h: Any, layer: int) -> Any:
    a = h
    for i in range(layer + 1, len(Ws)):
        a = a @ Ws[i].T + bs[i]
        if i < len(Ws) - 1:
            a = a.clamp(min=0)
    return a


def latent_loss(net: Any, x: Any, y: Any, p: float, eps: float, kappa_end: float, data_x: Any,
                options: LatentOptions | None = None, generator: Any = None) -> Any:
    """The loss of one batch in the ``latent`` mode (``p``: progress of the ramp, ``eps``: ``ε`` at its end).

    ``data_x`` are the training inputs (a tensor) whose states define the interval envelope.
    """
    torch = require_torch()
    F = torch.nn.functional
    opts = options or LatentOptions()
    Ws, bs = affine_layers(net, x.shape[1])
    if opts.layer >= len(Ws) - 1:
        raise InvalidValueError(f"latent layer {opts.layer}: the model has hidden layers 0..{len(Ws) - 2}")
    h = _front(Ws, bs, x, opts.layer)
    natural = F.cross_entropy(_tail(Ws, bs, h, opts.layer), y, reduction="none")
    if p <= 0 or eps <= 0:
        return natural.mean()
    with torch.no_grad():
        H = _front([w.detach() for w in Ws], [b.detach() for b in bs], data_x, opts.layer)
        lo, hi = H.min(0).values, H.max(0).values
    rho = eps * p * (hi - lo)
    blo = torch.maximum(lo, h.detach() - rho)
    bhi = torch.minimum(hi, h.detach() + rho)
    blo = torch.minimum(blo, bhi)  # a state outside the envelope (a point not in data_x): a degenerate box
    if opts.bound == "ibp":
        robust = worst_case_loss(ibp_margins(Ws[opts.layer + 1:], bs[opts.layer + 1:], blo, bhi, y), y,
                                 reduction="none")
    else:
        hd = h.detach()
        u = torch.rand(hd.shape, generator=generator, dtype=hd.dtype)
        ha = (blo + u * (bhi - blo)).requires_grad_(True)
        step = 2.5 * rho / opts.steps
        Wd, bd = [w.detach() for w in Ws], [b.detach() for b in bs]
        for _ in range(opts.steps):
            loss = F.cross_entropy(_tail(Wd, bd, ha, opts.layer), y)
            (g,) = torch.autograd.grad(loss, ha)
            with torch.no_grad():
                ha = torch.minimum(torch.maximum(ha + step * g.sign(), blo), bhi)
            ha.requires_grad_(True)
        robust = F.cross_entropy(_tail(Ws, bs, h + (ha.detach() - hd), opts.layer), y, reduction="none")
    kappa = 1.0 + p * (kappa_end - 1.0)
    return (kappa * natural + (1 - kappa) * robust).mean()

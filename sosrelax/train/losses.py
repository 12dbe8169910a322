"""Training objectives: natural, adversarial (PGD, Madry et al. 2018), certified (IBP, CROWN-IBP), and
the ReLU-stability regulariser (Xiao et al. 2019).

Every certified loss is the cross-entropy of the *worst-case logits* ``-m`` built from lower bounds
``m_j <= z[y] - z[j]`` of the margins (``m_y = 0``), mixed with the natural loss:
``κ CE(z(x), y) + (1 - κ) CE(-m, y)`` — an upper bound of the worst-case cross-entropy over the box
(the cross-entropy is decreasing in every margin).  CROWN-IBP mixes its two bounds,
``m = β m_CROWN-IBP + (1 - β) m_IBP``, as in Zhang et al. (2020).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sosrelax.errors import InvalidValueError
from sosrelax.train.bounds import crown_ibp_margins, ibp_margins, interval_preactivations
from sosrelax.train.models import affine_layers

__all__ = ["MODES", "CertifiedTerms", "certified_terms", "pgd", "stability_loss", "worst_case_loss"]

#: The training modes of :func:`sosrelax.train.train`.
MODES = ("standard", "pgd", "ibp", "crown-ibp", "loop", "latent")


def pgd(model: Any, x: Any, y: Any, eps: float, *, steps: int = 10, step_size: float | None = None,
        restarts: int = 1, lower: float = 0.0, upper: float = 1.0, loss: str = "ce",
        generator: Any = None) -> tuple[Any, Any]:
    """Projected gradient ascent in the box ``|x' - x|_∞ <= eps`` clipped to ``[lower, upper]``.

    Signed-gradient steps of size ``step_size`` (default ``2.5 eps / steps``) from a uniformly random
    start, maximising the cross-entropy (``loss="ce"``) or the largest wrong-class margin
    ``max_{j≠y} z_j - z_y`` (``"margin"``, Carlini–Wagner), ``restarts`` times.  Returns
    ``(x_adv, fooled)``: per point the most damaging input found (a misclassified one whenever some
    restart found one) and whether it is misclassified by ``model``.
    """
    import torch

    F = torch.nn.functional
    if eps <= 0:
        with torch.no_grad():
            return x.clone(), model(x).argmax(1) != y
    alpha = step_size if step_size is not None else 2.5 * eps / steps
    lo = (x - eps).clamp(min=lower)
    hi = (x + eps).clamp(max=upper)
    best = x.clone()
    best_val = torch.full((x.shape[0],), -float("inf"), dtype=x.dtype, device=x.device)
    was_training = model.training
    model.eval()
    try:
        for _ in range(max(1, restarts)):
            noise = torch.rand(x.shape, generator=generator, dtype=x.dtype, device=x.device)
            xa = (lo + (hi - lo) * noise).detach()
            for _ in range(steps):
                xa.requires_grad_(True)
                z = model(xa)
                obj = F.cross_entropy(z, y, reduction="sum") if loss == "ce" else _margin(z, y).sum()
                (g,) = torch.autograd.grad(obj, xa)
                xa = torch.min(torch.max(xa.detach() + alpha * g.sign(), lo), hi)
            with torch.no_grad():
                val = _margin(model(xa), y)
                better = val > best_val
                best[better] = xa[better]
                best_val = torch.where(better, val, best_val)
    finally:
        model.train(was_training)
    return best.detach(), best_val > 0


def _margin(z: Any, y: Any) -> Any:
    """``max_{j≠y} z_j - z_y`` per row (positive: misclassified)."""
    import torch

    zy = z.gather(1, y[:, None]).squeeze(1)
    other = z.masked_fill(torch.nn.functional.one_hot(y, z.shape[1]).bool(), -float("inf"))
    return other.max(1).values - zy


def worst_case_loss(margins: Any, y: Any, reduction: str = "mean") -> Any:
    """``CE(-m, y)``: the cross-entropy of the worst-case logits given margin lower bounds ``m``."""
    import torch

    return torch.nn.functional.cross_entropy(-margins, y, reduction=reduction)


@dataclass
class CertifiedTerms:
    """The margin lower bounds of a batch and the interval bounds of its hidden layers."""

    margins: Any  # (B, K)
    pre: list[tuple[Any, Any]]


def certified_terms(model: Any, x: Any, y: Any, eps: float, bound: str, beta: float = 0.0,
                    lower: float = 0.0, upper: float = 1.0) -> CertifiedTerms:
    """Margin lower bounds over ``x ± eps`` clipped to ``[lower, upper]``.

    ``bound="ibp"``: IBP; ``"crown-ibp"``: ``β · CROWN-IBP + (1 - β) · IBP`` (``β = 0`` skips the CROWN
    pass).
    """
    if bound not in ("ibp", "crown-ibp"):
        raise InvalidValueError(f"unknown bound {bound!r}; use 'ibp' or 'crown-ibp'")
    Ws, bs = affine_layers(model, x.shape[1])
    lo = (x - eps).clamp(min=lower)
    hi = (x + eps).clamp(max=upper)
    pre = interval_preactivations(Ws, bs, lo, hi)
    m = ibp_margins(Ws, bs, lo, hi, y, pre)
    if bound == "crown-ibp" and beta > 0:
        m = beta * crown_ibp_margins(Ws, bs, lo, hi, y, pre) + (1 - beta) * m
    return CertifiedTerms(m, pre)


def stability_loss(pre: list[tuple[Any, Any]]) -> Any:
    """ReLU stability (Xiao et al. 2019): mean over hidden neurons of ``-tanh(1 + l u)``.

    Small when ``l`` and ``u`` have the same sign (a stable neuron, which the verifier does not need to
    split); large for neurons whose interval straddles 0.
    """
    import torch

    terms = [-torch.tanh(1 + l * u).mean() for l, u in pre]
    if not terms:
        return torch.zeros(())
    return torch.stack(terms).mean()

"""Differentiable bounds of a ReLU network over L∞ boxes, in torch, for certified training.

The network is its chain of dense affine maps (:func:`sosrelax.train.models.affine_layers`):
``z_0 = W_0 x + b_0``, ``z_m = W_m relu(z_{m-1}) + b_m``, logits ``z_L``, over boxes
``lo <= x <= hi`` (a batch, ``(B, d)``).  Both bounds are lower bounds of the *margins*
``z_L[y] - z_L[j]`` for every class ``j`` (0 for ``j = y``): the specification ``c = e_y - e_j`` is
merged into the last layer (``c·(W_L h + b_L) = (c W_L) h + c b_L``, "elision" in Gowal et al.).

- :func:`ibp_margins` — interval bound propagation (Gowal et al. 2018): centre ``c`` and radius ``r``
  through each layer, ``[W c + b - |W| r, W c + b + |W| r]``, ReLU applied to both ends, and the
  merged last layer on the box of the last hidden layer.  This is exactly the interval rung of the
  engine (``prove_atom_violated(..., "interval")``: interval facts for every neuron, the atom's form in
  the last hidden layer bounded by them), computed in floating point.
- :func:`crown_ibp_margins` — CROWN-IBP (Zhang et al. 2020): the pre-activation bounds of the hidden
  layers by IBP, then the margins by one backward CROWN pass with the upper line
  ``relu(z) <= s (z - l)``, ``s = u / (u - l)``, and the adaptive lower line (slope 1 when ``u > -l``,
  else 0) on unstable neurons — the relaxation of :func:`sosrelax.nn.search.bounds.relaxation`.

Both are valid lower bounds of the true margins in exact arithmetic and differentiable in the
weights.  They steer training; they prove nothing: a point counts as certified only after the
engine's verifier proved it and its checker accepted the proof (:func:`sosrelax.train.evaluate`).
"""

from __future__ import annotations

from typing import Any

__all__ = ["crown_ibp_margins", "ibp_margins", "interval_preactivations", "spec_matrix"]


def spec_matrix(labels: Any, n_classes: int) -> Any:
    """``C`` of shape ``(B, K, K)``: row ``j`` is ``e_y - e_j`` (the zero row for ``j = y``)."""
    import torch

    eye = torch.eye(n_classes, dtype=torch.get_default_dtype(), device=labels.device)
    return eye[labels].unsqueeze(1) - eye.unsqueeze(0)


def interval_preactivations(Ws: list[Any], bs: list[Any], lo: Any, hi: Any) -> list[tuple[Any, Any]]:
    """Interval bounds ``(l_m, u_m)`` of the pre-activations of every hidden layer, each ``(B, n_m)``."""
    out = []
    l, u = lo, hi
    for m in range(len(Ws) - 1):
        c = (u + l) / 2
        r = (u - l) / 2
        zc = c @ Ws[m].T + bs[m]
        zr = r @ Ws[m].T.abs()
        zl, zu = zc - zr, zc + zr
        out.append((zl, zu))
        l, u = zl.clamp(min=0), zu.clamp(min=0)
    return out


def _last_box(Ws: list[Any], pre: list[tuple[Any, Any]], lo: Any, hi: Any) -> tuple[Any, Any]:
    if pre:
        zl, zu = pre[-1]
        return zl.clamp(min=0), zu.clamp(min=0)
    return lo, hi


def ibp_margins(Ws: list[Any], bs: list[Any], lo: Any, hi: Any, labels: Any,
                pre: list[tuple[Any, Any]] | None = None) -> Any:
    """IBP lower bounds ``(B, K)`` of the margins ``z_L[y] - z_L[j]`` over the boxes ``[lo, hi]``."""
    if pre is None:
        pre = interval_preactivations(Ws, bs, lo, hi)
    l, u = _last_box(Ws, pre, lo, hi)
    C = spec_matrix(labels, Ws[-1].shape[0]).to(Ws[-1].dtype)
    W = C @ Ws[-1]                                   # (B, K, n)
    b = C @ bs[-1]                                   # (B, K)
    c = ((u + l) / 2).unsqueeze(-1)
    r = ((u - l) / 2).unsqueeze(-1)
    return (W @ c).squeeze(-1) - (W.abs() @ r).squeeze(-1) + b


def crown_ibp_margins(Ws: list[Any], bs: list[Any], lo: Any, hi: Any, labels: Any,
                      pre: list[tuple[Any, Any]] | None = None) -> Any:
    """CROWN-IBP lower bounds ``(B, K)`` of the margins over the boxes ``[lo, hi]``."""
    import torch

    if pre is None:
        pre = interval_preactivations(Ws, bs, lo, hi)
    C = spec_matrix(labels, Ws[-1].shape[0]).to(Ws[-1].dtype)
    mu = C @ Ws[-1]                                  # (B, K, n_{L-1}): coefficients on h_{L-1}
    const = C @ bs[-1]                               # (B, K)
    for k in range(len(Ws) - 2, -1, -1):
        l, u = pre[k]
        act = (l >= 0).to(l.dtype)
        uns = (l < 0) & (u > 0)
        den = torch.where(uns, u - l, torch.ones_like(u))
        s = torch.where(uns, u / den, act)
        t = torch.where(uns, -s * l, torch.zeros_like(l))
        a = torch.where(uns, (u > -l).to(l.dtype), act)
        lam = mu * torch.where(mu >= 0, a.unsqueeze(1), s.unsqueeze(1))
        const = const + (mu.clamp(max=0) * t.unsqueeze(1)).sum(-1) + lam @ bs[k]
        mu = lam @ Ws[k]
    c = ((hi + lo) / 2).unsqueeze(-1)
    r = ((hi - lo) / 2).unsqueeze(-1)
    return const + (mu @ c).squeeze(-1) - (mu.abs() @ r).squeeze(-1)

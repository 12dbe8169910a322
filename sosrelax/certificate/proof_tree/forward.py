"""Forward linear forms of the pre-activations (the ``"forward"`` intermediate method), rigorous.

Each pre-activation ``z_m`` of a leaf gets affine forms ``AL x + cL - EL <= z_m <= AU x + cU + EU`` over
the leaf's input box, ``EL``/``EU`` bounding every rounding error made so far (relative ``G`` per
operation, see ``docs/proof-trees.md``).  Used by :mod:`sosrelax.certificate.proof_tree.check`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from sosrelax.certificate.proof_tree.rounding import bdot, down, up

__all__ = ["Forms", "forward_affine", "forward_concretize", "forward_relu"]

Forms = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]
"""``(AL, cL, EL, AU, cU, EU)``: ``AL x + cL - EL <= v <= AU x + cU + EU`` on the leaf domain."""


def forward_affine(net: Any, m: int, yf: Forms | None, em: np.ndarray | None, xh: np.ndarray,
                    tiny: np.ndarray, B: int) -> Forms:
    """Linear forms of ``z_m`` from those of ``y_{m-1}`` (``yf`` None: ``z_1 = W_1 x + b_1`` exactly)."""
    G = net.G
    if yf is None:
        w = np.broadcast_to(net.W[1][None], (B,) + net.W[1].shape)
        cb = np.broadcast_to(net.b[1], (B, net.dims[1]))
        err = np.zeros((B, net.dims[1])) if em is None else em
        return w, cb, err, w, cb, err
    AyL, cyL, EyL, AyU, cyU, EyU = yf
    n0 = AyL.shape[2]
    w2 = np.hstack([net.Wp[m], net.Wn[m]])
    aw2 = np.abs(w2)

    def apply(first: np.ndarray, second: np.ndarray) -> np.ndarray:
        y = np.concatenate([first, second], axis=1).transpose(0, 2, 1).reshape(B * n0, -1)
        return (y @ w2.T).reshape(B, n0, -1).transpose(0, 2, 1)

    AL, AU = apply(AyL, AyU), apply(AyU, AyL)
    cL = np.concatenate([cyL, cyU], axis=1) @ w2.T + net.b[m]
    cU = np.concatenate([cyU, cyL], axis=1) @ w2.T + net.b[m]
    szL = bdot(np.abs(AyL), xh) + np.abs(cyL)
    szU = bdot(np.abs(AyU), xh) + np.abs(cyU)
    extra = 0.0 if em is None else em  # also in the mass: covers the rounding of the additions below
    EL = (np.concatenate([EyL, EyU], axis=1) @ aw2.T) * (1 + G) \
        + G * (np.concatenate([szL, szU], axis=1) @ aw2.T + net.absb[m] + extra) + extra + tiny
    EU = (np.concatenate([EyU, EyL], axis=1) @ aw2.T) * (1 + G) \
        + G * (np.concatenate([szU, szL], axis=1) @ aw2.T + net.absb[m] + extra) + extra + tiny
    return AL, cL, EL, AU, cU, EU


def forward_concretize(f: Forms, lo: np.ndarray, hi: np.ndarray, xh: np.ndarray, G: float,
                        tiny: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    AL, cL, EL, AU, cU, EU = f
    lv = bdot(np.maximum(AL, 0.0), lo) + bdot(np.minimum(AL, 0.0), hi) + cL - EL
    uv = bdot(np.maximum(AU, 0.0), hi) + bdot(np.minimum(AU, 0.0), lo) + cU + EU
    ml = bdot(np.abs(AL), xh) + np.abs(cL) + EL
    mu = bdot(np.abs(AU), xh) + np.abs(cU) + EU
    return down(lv - G * ml - tiny), up(uv + G * mu + tiny)


def forward_relu(f: Forms, a: np.ndarray, s: np.ndarray, t: np.ndarray, xh: np.ndarray, G: float,
                  tiny: np.ndarray) -> Forms:
    """Forms of ``y = relu(z)``: lower ``a·lower(z)`` (a in {0, 1}), upper ``s·upper(z) + t``."""
    AL, cL, EL, AU, cU, EU = f
    AyL, cyL, EyL = AL * a[:, :, None], cL * a, EL * a
    AyU = AU * s[:, :, None]
    scu = cU * s
    cyU = scu + t
    EyU = EU * s * (1 + G) + G * (bdot(np.abs(AyU), xh) + np.abs(scu) + t) + tiny
    return AyL, cyL, EyL, AyU, cyU, EyU

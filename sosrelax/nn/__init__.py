"""Neural networks: IR, ONNX/torch loaders, bound propagation, encoding, VNN-LIB and verification."""

from __future__ import annotations

import os
from fractions import Fraction
from typing import Any

import numpy as np

from sosrelax.nn.ir import Network, from_weights
from sosrelax.nn.latent.envelope import envelope
from sosrelax.nn.verify import verify  # the function, bound after its submodule was imported
from sosrelax.nn.vnnlib import Atom, Disjunct, Property, read_vnnlib

__all__ = [
    "Network",
    "envelope",
    "from_torch",
    "from_weights",
    "load_onnx",
    "read_vnnlib",
    "robustness_claim",
    "verify",
    "vnnlib_claims",
]


def load_onnx(path: str | os.PathLike[str], *, check: bool = True) -> Network:
    """Read an ONNX model (see :func:`sosrelax.nn.onnx_loader.load_onnx`)."""
    from sosrelax.nn.onnx_loader import load_onnx as _load

    return _load(path, check=check)


def from_torch(module: Any, input_shape: Any = None, **kwargs: Any) -> Network:
    """Convert a ``torch.nn.Sequential`` (see :func:`sosrelax.nn.torch_loader.from_torch`)."""
    from sosrelax.nn.torch_loader import from_torch as _from_torch

    return _from_torch(module, input_shape, **kwargs)


def robustness_claim(net: Network, x0: Any, eps: float, label: int) -> Property:
    """The catastrophe "some input within ``eps`` (L∞) of ``x0`` is not classified ``label``".

    One disjunct per other class ``j``: ``Y_j - Y_label >= 0`` over the box ``x0 ± eps``.  The
    network is robust at ``x0`` exactly when the property is ``unsat``.
    """
    x = np.asarray(x0, dtype=np.float64).reshape(-1)
    if x.size != net.n_inputs:
        from sosrelax.errors import InvalidValueError

        raise InvalidValueError(f"x0 has {x.size} entries but the network takes {net.n_inputs} inputs")
    e = Fraction(eps)
    lo = tuple(Fraction(float(v)) - e for v in x)
    hi = tuple(Fraction(float(v)) + e for v in x)
    ds = []
    for j in range(net.n_outputs):
        if j == label:
            continue
        atom = Atom((), tuple(sorted([(j, Fraction(1)), (label, Fraction(-1))])), Fraction(0))
        ds.append(Disjunct(lo, hi, (atom,)))
    return Property(net.n_inputs, net.n_outputs, tuple(ds), "robustness")


def vnnlib_claims(onnx_path: str | os.PathLike[str], vnnlib_path: str | os.PathLike[str]
                  ) -> tuple[Network, Property]:
    """The network and the property of a VNN-LIB instance (dimensions checked)."""
    net = load_onnx(onnx_path)
    prop = read_vnnlib(vnnlib_path)
    if prop.n_inputs != net.n_inputs or prop.n_outputs != net.n_outputs:
        from sosrelax.errors import InvalidValueError

        raise InvalidValueError(
            f"{vnnlib_path} declares {prop.n_inputs} inputs and {prop.n_outputs} outputs but {onnx_path} "
            f"has {net.n_inputs} and {net.n_outputs}"
        )
    return net, prop



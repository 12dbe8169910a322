r"""A ReLU network controller :math:`u = \pi(x)` as polynomial constraints over a state box.

The closed loop :math:`\dot x = f(x, \pi(x))` of a polynomial plant and a ReLU network is not polynomial,
but its graph is semialgebraic.  :func:`encode_controller` uses the network encoding of
:func:`sosrelax.nn.encode.build_chain` (one variable :math:`h` per hidden neuron, the inputs being the
states) and writes the set

.. math::

    S = \{(x, h, u) :\ l \le x \le b,\ h \ge 0,\ h - z \ge 0,\ h (h - z) = 0 \text{ per neuron},\
    u - (W_L h_{L-1} + b_L) = 0\},

where :math:`z` is the neuron's pre-activation, affine in the previous layer.  Every point of :math:`S` has
:math:`h = \max(z, 0)` neuron by neuron and :math:`u = \pi(x)`, and conversely: :math:`S` is exactly the
graph of the controller over the box.  Only these *base* constraints are used (none of the encoding's
derived neuron bounds, whose proofs live in separate lemmas), optionally with the pairwise products
:math:`g_i g_j \ge 0` of its linear inequalities (the Shor-type strengthening that low-degree Putinar
certificates need to relate :math:`h` and :math:`z`).  A product is kept only when its coefficients are
exactly representable in float64, so the set the certificate states is the exact product.

An SOS constraint ``sos(p, on=loop.on())`` is then a proof that :math:`p(x, h, u) \ge 0` on :math:`S`,
hence :math:`p(x, \cdot, \pi(x)) \ge 0` for every :math:`x` in the box.  The exact checker verifies the
Putinar identity given the listed constraints (they are part of the certificate); that those constraints
describe the network is the encoding's exact construction (weights read exactly from float64), checked here
by evaluating the network at sample points.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import numpy as np

from sosrelax.errors import InvalidValueError
from sosrelax.nn.chain import lin_terms
from sosrelax.nn.encode import build_chain
from sosrelax.nn.ir import Network
from sosrelax.poly import Constraint, Polynomial, var_name, variables

__all__ = ["ClosedLoop", "encode_controller"]

Terms = tuple[tuple[tuple[int, ...], Fraction], ...]


@dataclass(frozen=True)
class ClosedLoop:
    """The graph of a ReLU controller over a state box as polynomial constraints.

    Attributes
    ----------
    states, inputs, neurons : tuple of Polynomial
        The state variables (the network's inputs), the control inputs (its outputs) and one variable per
        hidden neuron.
    lo, hi : tuple of Fraction
        The state box.
    inequalities : tuple of Polynomial
        ``x - lo >= 0``, ``hi - x >= 0``, ``h >= 0``, ``h - z >= 0`` (then the kept products of two distinct ones).
    equalities : tuple of Polynomial
        ``h (h - z) = 0`` per neuron and ``u - π_out = 0`` per control input.
    products : int
        Number of product inequalities kept.
    """

    net: Network
    states: tuple[Polynomial, ...]
    inputs: tuple[Polynomial, ...]
    neurons: tuple[Polynomial, ...]
    lo: tuple[Fraction, ...]
    hi: tuple[Fraction, ...]
    inequalities: tuple[Polynomial, ...]
    equalities: tuple[Polynomial, ...]
    products: int

    def on(self) -> list[Constraint]:
        """The set :math:`S` as ``[g >= 0, ..., h == 0, ...]`` for :func:`~sosrelax.program.sos`."""
        return [g >= 0 for g in self.inequalities] + [h == 0 for h in self.equalities]

    def box(self) -> list[Constraint]:
        """The state box alone as ``[x_i - lo_i >= 0, hi_i - x_i >= 0, ...]``."""
        out: list[Constraint] = []
        for x, a, b in zip(self.states, self.lo, self.hi, strict=True):
            out += [x - float(a) >= 0, float(b) - x >= 0]
        return out

    def control(self, X: np.ndarray) -> np.ndarray:
        """The controller's outputs at states ``X`` of shape ``(m, n)`` (float64 forward pass)."""
        return np.asarray(self.net.forward(np.atleast_2d(np.asarray(X, dtype=float))))


def _poly(terms: Terms, allvars: Sequence[Polynomial]) -> Polynomial:
    p = Polynomial.constant(0.0)
    for e, c in terms:
        m = Polynomial.constant(float(c))
        for v, k in zip(allvars, e, strict=True):
            if k:
                m = m * v**k
        p = p + m
    return p


def _product(a: Terms, b: Terms) -> Terms | None:
    """Exact product of two term lists, or ``None`` when a coefficient is not a float64."""
    acc: dict[tuple[int, ...], Fraction] = {}
    for ea, ca in a:
        for eb, cb in b:
            key = tuple(i + j for i, j in zip(ea, eb, strict=True))
            acc[key] = acc.get(key, Fraction(0)) + ca * cb
    out = tuple((e, c) for e, c in sorted(acc.items()) if c)
    if any(Fraction(float(c)) != c for _, c in out):
        return None
    return out


def encode_controller(net: Network, states: Sequence[Polynomial], inputs: Sequence[Polynomial],
                      lo: Sequence[float | Fraction], hi: Sequence[float | Fraction], *, products: bool = True,
                      prefix: str = "relu") -> ClosedLoop:
    """Encode ``u = net(x)`` over the box ``lo <= x <= hi`` as polynomial constraints (module docstring).

    Parameters
    ----------
    net : Network
        A ReLU network with ``len(states)`` inputs and ``len(inputs)`` outputs.
    states, inputs : sequences of Polynomial
        Variables from :func:`sosrelax.variables`.
    lo, hi : sequences of numbers
        The state box (floats are read exactly).
    products : bool
        Add the pairwise products of the linear inequalities (exactly representable ones).
    prefix : str
        Neuron variables are named ``{prefix}{layer}_{j}``.

    Raises
    ------
    InvalidValueError
        When sizes do not match, the network has non-ReLU layers, or a neuron name clashes with a state or
        input name.
    """
    xs = tuple(states)
    us = tuple(inputs)
    if not isinstance(net, Network):
        raise InvalidValueError(f"controller must be a sosrelax.nn.Network, got {type(net).__name__}")
    net.require_logits("the controller encoding")
    if not net.all_relu:
        raise InvalidValueError("the controller has non-ReLU hidden layers; only ReLU networks are encoded exactly")
    if net.n_inputs != len(xs) or net.n_outputs != len(us):
        raise InvalidValueError(f"the controller maps {net.n_inputs} inputs to {net.n_outputs} outputs, but there "
                                f"are {len(xs)} states and {len(us)} control inputs")
    names = [var_name(v) for v in (*xs, *us)]
    chain = build_chain(net, lo, hi, input_names=names[:len(xs)])
    hidden = [f"{prefix}{k}_{j}" for k, size in enumerate(net.hidden_sizes) for j in range(size)]
    clash = set(hidden) & set(names)
    if clash:
        raise InvalidValueError(f"neuron variables {sorted(clash)} clash with state or input names; "
                                "pass another prefix=")
    hs = tuple(variables(h)[0] for h in hidden)
    allvars = (*xs, *hs)
    derived = set(chain.derived)
    base = [t for i, t in enumerate(chain.inequalities) if i not in derived]
    ineqs = [_poly(t, allvars) for t in base]
    eqs = [_poly(t, allvars) for t in chain.equalities]
    for j, u in enumerate(us):
        c = [Fraction(0)] * len(us)
        c[j] = Fraction(1)
        eqs.append(u - _poly(lin_terms(chain.output_form(c, Fraction(0)), chain.n), allvars))
    kept = 0
    if products:
        for i in range(len(base)):
            for j in range(i + 1, len(base)):
                t = _product(base[i], base[j])
                if t is not None:
                    ineqs.append(_poly(t, allvars))
                    kept += 1
    loop = ClosedLoop(net, xs, us, hs, chain.lo, chain.hi, tuple(ineqs), tuple(eqs), kept)
    _spot_check(loop)
    return loop


def _spot_check(loop: ClosedLoop, samples: int = 16) -> None:
    """The network's own forward pass satisfies every equality and inequality at sample states (a guard
    against a mismatch between the encoding and the network; the certificate does not rely on it)."""
    rng = np.random.default_rng(0)
    lo = np.array([float(v) for v in loop.lo])
    hi = np.array([float(v) for v in loop.hi])
    names = [var_name(v) for v in (*loop.states, *loop.neurons, *loop.inputs)]
    for x in lo + (hi - lo) * rng.random((samples, lo.size)):
        pre = loop.net.activations(x)
        hid = [np.maximum(np.ravel(z), 0.0) for z in pre[:-1]]
        vals = np.concatenate([x, *hid, np.ravel(pre[-1])])
        pt: dict[str, Any] = dict(zip(names, vals.tolist(), strict=True))
        tol = 1e-9 * (1.0 + float(np.abs(vals).max())) ** 2
        bad = [h for h in loop.equalities if abs(h({v: pt[v] for v in h.variables})) > tol]
        bad += [g for g in loop.inequalities if g({v: pt[v] for v in g.variables}) < -tol]
        if bad:
            raise InvalidValueError(f"the encoding of the controller disagrees with its forward pass at x = "
                                    f"{x.tolist()} on {bad[0]!r}")

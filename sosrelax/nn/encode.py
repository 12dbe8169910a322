"""The polynomial encoding of a ReLU network and the lemma chain that proves its neuron bounds.

Variables: the inputs ``X_0, …`` and one variable ``h{k}_{j}`` per hidden neuron (its
post-activation).  Pre-activations are affine expressions ``z = W v + b`` of the previous layer's
variables ``v``; outputs are affine expressions of the last hidden layer.  A neuron is encoded by

.. math::

    h \\ge 0, \\qquad h - z \\ge 0, \\qquad h (h - z) = 0,

which is exactly ``h = max(z, 0)``.  These, with the input box (and the specification's other
constraints), are the *base* set that a certificate speaks about.

Bounds are *derived* facts, each proven by a lemma certificate
(:class:`~sosrelax.certificate.format.Certificate` with ``kind="lower_bound"``) over the base set
and the earlier facts, built here in exact rational arithmetic:

* ``z - l >= 0`` and ``u - z >= 0``: back-substitution through the linear relaxations of the earlier
  layers down to the input box (CROWN) — or through one layer only (interval arithmetic) — gives an
  exact identity ``z - l = Σ μ_k g_k`` with ``μ_k >= 0``;
* active neuron (``l > 0``): ``z - h >= 0`` from
  ``l (z - h) = (h - z)^2 + (h - z)(z - l) - h (h - z)``;
* inactive neuron (``u < 0``): ``-h >= 0`` from ``(-u)(-h) = h^2 + h (u - z) - h (h - z)``;
* unstable neuron: the triangle ``s (z - l) - h >= 0``, ``s = u / (u - l)``, from
  ``(u - l)(s (z - l) - h) = -(l/u) h (u - z) - (u/l)(h - z)(z - l) + q^2 / (-u l) + c · h (h - z)``
  with ``q = (l - u) h + u (z - l)`` and ``c = (u - l)^2 / (u l)``.

Bounds are rounded outward to multiples of ``2^-32`` before they are used, which keeps the rationals
short; a weaker bound is still implied by its lemma.
"""


from __future__ import annotations

from collections.abc import Sequence
from fractions import Fraction

import numpy as np

from sosrelax.certificate.format import (
    canonical_terms,
)
from sosrelax.errors import InvalidValueError
from sosrelax.nn.chain import (
    GRID,
    Chain,
    Lin,
    Neuron,
    NeuronState,
    add_triangle,
    ceil_grid,
    floor_grid,
    lin_terms,
    quad_terms,
    sub_lin,
)
from sosrelax.nn.ir import Network
from sosrelax.nn.reduced import build_reduced_chain

__all__ = ["Chain", "Lin", "NeuronState", "build_chain", "build_reduced_chain", "lin_terms"]


def build_chain(
    net: Network, lo: Sequence[Fraction | float], hi: Sequence[Fraction | float], *,
    method: str = "crown", input_names: Sequence[str] | None = None, eliminate_stable: bool = False,
    tighten: bool = True,
) -> Chain:
    """Encode ``net`` over the box ``[lo, hi]`` and prove every neuron's bounds by lemmas.

    Parameters
    ----------
    net : Network
    lo, hi : sequences of rationals (floats are taken exactly)
        The input box.
    method : {"crown", "interval"}
        How the pre-activation bounds are derived: back-substitution to the input box (tighter),
        or through one layer (cheaper lemmas).
    input_names : sequence of str, optional
        Names of the input variables (default ``X_0, X_1, …``).
    tighten : bool
        With ``method="crown"``, also derive each bound through one layer and keep the tighter of
        the two (so that the chain's bounds are never looser than interval arithmetic's).
    eliminate_stable : bool
        Give variables only to unstable neurons (see :func:`build_reduced_chain`; ``method`` must be
        ``"crown"``).
    """
    net.require_logits("the exact encoding")
    if eliminate_stable:
        if method != "crown":
            raise InvalidValueError("eliminate_stable=True needs method='crown'")
        return build_reduced_chain(net, lo, hi, input_names=input_names)
    if method not in ("crown", "interval"):
        raise InvalidValueError(f"unknown bound method {method!r}; use 'crown' or 'interval'")
    n_in = net.n_inputs
    lo_f = tuple(Fraction(v) for v in lo)
    hi_f = tuple(Fraction(v) for v in hi)
    if len(lo_f) != n_in or len(hi_f) != n_in:
        raise InvalidValueError(f"the input box has {len(lo_f)} entries but the network takes {n_in} inputs")
    if any(a > b for a, b in zip(lo_f, hi_f, strict=True)):
        raise InvalidValueError("the input box is empty (a lower bound exceeds an upper bound)")
    names = list(input_names) if input_names is not None else [f"X_{i}" for i in range(n_in)]
    for k, size in enumerate(net.hidden_sizes):
        names += [f"h{k}_{j}" for j in range(size)]
    chain = Chain(net, tuple(names), lo_f, hi_f)
    n = chain.n
    for i in range(n_in):
        chain.box_lo.append(chain.add(({i: Fraction(1)}, -lo_f[i])))
        chain.box_hi.append(chain.add(({i: Fraction(-1)}, hi_f[i])))
    depth = None if method == "crown" else 0
    var = n_in
    for k, size in enumerate(net.hidden_sizes):
        w, b = net.weights[k], net.biases[k]
        prev = chain._prev_vars(k)
        layer: list[Neuron] = []
        for j in range(size):
            nz = np.flatnonzero(w[j])
            z: Lin = ({prev[i]: Fraction(float(w[j, i])) for i in nz}, Fraction(float(b[j])))
            h: Lin = ({var: Fraction(1)}, Fraction(0))
            e1 = chain.add(h)
            e2 = chain.add(sub_lin(h, z))
            chain.equalities.append(canonical_terms(quad_terms(n, h, sub_lin(h, z))))
            layer.append(Neuron(var=var, z=z, e1=e1, e2=e2, eq=len(chain.equalities) - 1))
            var += 1
        for nr in layer:
            _prove_bounds(chain, nr, depth, tighten)
        chain.layers.append(layer)
    return chain


def _prove_bounds(chain: Chain, nr: Neuron, depth: int | None, tighten: bool = True) -> None:
    """Lemmas for ``z - l >= 0``, ``u - z >= 0`` and the neuron's state fact."""
    z = nr.z
    lval, lmult = chain.backsub(z, depth)
    neg = ({v: -c for v, c in z[0].items()}, -z[1])
    uneg, umult = chain.backsub(neg, depth)
    if depth is None and tighten:
        # back-substitution to the input is usually, not always, tighter than one layer
        lval0, lmult0 = chain.backsub(z, 0)
        uneg0, umult0 = chain.backsub(neg, 0)
        if lval0 > lval:
            lval, lmult = lval0, lmult0
        if uneg0 > uneg:
            uneg, umult = uneg0, umult0
    uval = -uneg
    lem_l = chain._certificate(z, lval, sorted(lmult), [((i,), lmult[i]) for i in sorted(lmult)], [],
                               None, {"lemma": "lower bound of a pre-activation"})
    lem_u = chain._certificate(neg, uneg, sorted(umult), [((i,), umult[i]) for i in sorted(umult)], [],
                               None, {"lemma": "upper bound of a pre-activation"})
    l, u = floor_grid(lval), ceil_grid(uval)
    if l == 0:
        l = Fraction(-1, GRID)
    if u == 0:
        u = Fraction(1, GRID)
    nr.l, nr.u = l, u
    nr.fl = chain.add(sub_lin(z, ({}, l)), lem_l)
    nr.fu = chain.add((neg[0], u - z[1]), lem_u)
    h: Lin = ({nr.var: Fraction(1)}, Fraction(0))
    hz = sub_lin(h, z)
    if l > 0:
        nr.state = NeuronState.ACTIVE
        # l (z - h) = (h - z)^2 + (h - z)(z - l) - h (h - z)
        g: Lin = sub_lin(z, h)
        lem = chain._certificate(
            g, Fraction(0), [nr.e2, nr.fl],
            [((nr.e2, nr.e2), 1 / l), ((nr.e2, nr.fl), 1 / l)], [(nr.eq, -1 / l)], None,
            {"lemma": "active neuron"})
        nr.fs = chain.add(g, lem)
    elif u < 0:
        nr.state = NeuronState.INACTIVE
        # (-u)(-h) = h^2 + h (u - z) - h (h - z)
        g = ({nr.var: Fraction(-1)}, Fraction(0))
        lem = chain._certificate(
            g, Fraction(0), [nr.e1, nr.fu],
            [((nr.e1, nr.e1), 1 / -u), ((nr.e1, nr.fu), 1 / -u)], [(nr.eq, -1 / -u)], None,
            {"lemma": "inactive neuron"})
        nr.fs = chain.add(g, lem)
    else:
        nr.state = NeuronState.UNSTABLE
        nr.alpha = 1 if u >= -l else 0
        add_triangle(chain, nr)
    del hz


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

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import Enum
from fractions import Fraction
from typing import Any

import numpy as np

from sosrelax.certificate.format import (
    Certificate,
    EqualityMultiplier,
    ProductMultiplier,
    RationalMatrix,
    SOSMultiplier,
    Terms,
    canonical_terms,
)
from sosrelax.errors import InvalidValueError
from sosrelax.nn.ir import Network

__all__ = ["Chain", "Lin", "NeuronState", "build_chain", "build_reduced_chain", "lin_terms"]

#: A linear form: (coefficients by variable index, constant).
Lin = tuple[dict[int, Fraction], Fraction]

_GRID = 2**32


class NeuronState(Enum):
    """Sign of a neuron's pre-activation over the input set, as proven by its bounds."""

    ACTIVE = "active"
    INACTIVE = "inactive"
    UNSTABLE = "unstable"


def _floor(q: Fraction) -> Fraction:
    v = q * _GRID
    return Fraction(v.numerator // v.denominator, _GRID)


def _ceil(q: Fraction) -> Fraction:
    v = q * _GRID
    return Fraction(-((-v.numerator) // v.denominator), _GRID)


@dataclass
class _Neuron:
    var: int
    z: Lin
    e1: int  # h >= 0
    e2: int  # h - z >= 0
    eq: int  # h (h - z) = 0
    l: Fraction = Fraction(0)
    u: Fraction = Fraction(0)
    fl: int = -1  # z - l >= 0
    fu: int = -1  # u - z >= 0
    state: NeuronState = NeuronState.UNSTABLE
    fs: int = -1  # active: z - h >= 0; inactive: -h >= 0; unstable: s (z - l) - h >= 0
    alpha: int = 1
    post: Lin | None = None  # reduced chains: the post-activation as a linear form


@dataclass
class Chain:
    """The encoding of a network over an input box, with its proven neuron bounds.

    Attributes
    ----------
    variables : tuple of str
        ``X_i`` then ``h{k}_{j}``.
    inequalities : list of Terms
        Base and derived inequalities ``g >= 0`` (derived ones are listed in ``derived``).
    equalities : list of Terms
        ``h (h - z) = 0`` for every neuron.
    derived : list of int
        Indices of derived inequalities.
    lemmas : list of Certificate
        Their proofs, in order (each uses only base inequalities and earlier facts).
    """

    net: Network
    variables: tuple[str, ...]
    lo: tuple[Fraction, ...]
    hi: tuple[Fraction, ...]
    inequalities: list[Terms] = field(default_factory=list)
    lin: list[Lin | None] = field(default_factory=list)
    equalities: list[Terms] = field(default_factory=list)
    derived: list[int] = field(default_factory=list)
    lemmas: list[Certificate] = field(default_factory=list)
    layers: list[list[_Neuron]] = field(default_factory=list)
    box_lo: list[int] = field(default_factory=list)
    box_hi: list[int] = field(default_factory=list)
    reduced: bool = False
    _index: dict[Terms, int] = field(default_factory=dict)

    # ------------------------------------------------------------------------------------------
    @property
    def n(self) -> int:
        """Number of variables."""
        return len(self.variables)

    def terms(self, f: Lin) -> Terms:
        """Terms of a linear form."""
        return lin_terms(f, self.n)

    def add(self, g: Lin, lemma: Certificate | None = None) -> int:
        """Add an inequality ``g >= 0`` (derived when ``lemma`` is given) and return its index."""
        t = canonical_terms(self.terms(g))
        if t in self._index:
            return self._index[t]
        idx = len(self.inequalities)
        self.inequalities.append(t)
        self.lin.append(g)
        self._index[t] = idx
        if lemma is not None:
            self.derived.append(idx)
            self.lemmas.append(lemma)
        return idx

    def neuron_states(self) -> list[list[NeuronState]]:
        """Per hidden layer, the proven sign of every neuron."""
        return [[nr.state for nr in layer] for layer in self.layers]

    def bounds(self) -> list[tuple[list[Fraction], list[Fraction]]]:
        """Per hidden layer, the proven pre-activation bounds ``(l, u)``."""
        return [([nr.l for nr in layer], [nr.u for nr in layer]) for layer in self.layers]

    def output_form(self, c: Sequence[Fraction], d: Fraction) -> Lin:
        """The linear form ``c · f(x) + d`` in the last hidden layer's variables (or the inputs)."""
        w, b = self.net.weights[-1], self.net.biases[-1]
        if self.reduced and self.layers:
            out: dict[int, Fraction] = {}
            k0 = Fraction(d)
            for j, cj in enumerate(c):
                if not cj:
                    continue
                for i in np.flatnonzero(w[j]):
                    post = self.layers[-1][i].post
                    assert post is not None
                    m = Fraction(cj) * Fraction(float(w[j, i]))
                    for v, a in post[0].items():
                        out[v] = out.get(v, Fraction(0)) + m * a
                    k0 += m * post[1]
                k0 += Fraction(cj) * Fraction(float(b[j]))
            return {v: a for v, a in out.items() if a}, k0
        prev = self._prev_vars(len(self.net.weights) - 1)
        coef: dict[int, Fraction] = {}
        const = Fraction(d)
        for j, cj in enumerate(c):
            if not cj:
                continue
            cj = Fraction(cj)
            for i in np.flatnonzero(w[j]):
                coef[prev[i]] = coef.get(prev[i], Fraction(0)) + cj * Fraction(float(w[j, i]))
            const += cj * Fraction(float(b[j]))
        return {k: v for k, v in coef.items() if v}, const

    def h_upper(self, nr: _Neuron) -> int:
        """Index of the fact ``max(u, 0) - h >= 0`` of a neuron (added with its lemma when new).

        Active: ``u - h = (z - h) + (u - z)``; unstable: ``u - h = (s (z - l) - h) + s (u - z)``;
        inactive: ``-h >= 0`` is the state fact itself.
        """
        if nr.state is NeuronState.INACTIVE:
            return nr.fs
        s = Fraction(1) if nr.state is NeuronState.ACTIVE else nr.u / (nr.u - nr.l)
        g: Lin = ({nr.var: Fraction(-1)}, nr.u)
        lem = self._certificate(g, Fraction(0), sorted({nr.fs, nr.fu}),
                                [((nr.fs,), Fraction(1)), ((nr.fu,), s)], [], None,
                                {"lemma": "upper bound of a post-activation"})
        return self.add(g, lem)

    def _prev_vars(self, k: int) -> list[int]:
        if k == 0:
            return list(range(self.net.n_inputs))
        return [nr.var for nr in self.layers[k - 1]]

    # ------------------------------------------------------------------------------------------
    def backsub(self, f: Lin, depth: int | None = None) -> tuple[Fraction, dict[int, Fraction]]:
        """Exact lower bound ``L`` of the linear form ``f`` with multipliers: ``f - L = Σ μ_i g_i``.

        ``f`` may involve any variables of one layer (inputs or one hidden layer).  The linear
        relaxations are substituted layer by layer, ``depth`` layers deep (``None``: down to the input
        box); at the cut, the pre-activation bound facts are used.  ``depth=0`` is interval
        arithmetic: the hidden variables' own bounds are used at once.
        """
        if self.reduced:
            return self._backsub_reduced(f, depth)
        coef, const = dict(f[0]), Fraction(f[1])
        mult: dict[int, Fraction] = {}

        def add(i: int, v: Fraction) -> None:
            mult[i] = mult.get(i, Fraction(0)) + v

        var_layer = {nr.var: (k, j) for k, layer in enumerate(self.layers) for j, nr in enumerate(layer)}
        layer = max((var_layer[v][0] + 1 for v in coef if v in var_layer), default=0)
        steps = 0
        if depth == 0 and layer > 0:
            # interval arithmetic on the hidden variables: h >= lower fact, h <= upper fact
            for v, lam in coef.items():
                k, j = var_layer[v]
                nr = self.layers[k][j]
                if lam > 0:
                    if nr.state is NeuronState.ACTIVE:  # h >= z >= l
                        const += lam * nr.l
                        add(nr.e2, lam)
                        add(nr.fl, lam)
                    else:
                        add(nr.e1, lam)
                else:
                    mu = -lam
                    if nr.state is NeuronState.INACTIVE:
                        add(nr.fs, mu)
                    elif nr.state is NeuronState.ACTIVE:  # h <= z <= u
                        const += lam * nr.u
                        add(nr.fs, mu)
                        add(nr.fu, mu)
                    else:  # h <= s (z - l) <= s (u - l) = u
                        s = nr.u / (nr.u - nr.l)
                        const += lam * nr.u
                        add(nr.fs, mu)
                        add(nr.fu, mu * s)
            return const, {i: v for i, v in mult.items() if v}
        while layer > 0:
            neurons = self.layers[layer - 1]
            zcoef: list[Fraction] = [Fraction(0)] * len(neurons)
            for v, lam in coef.items():
                k, j = var_layer[v]
                if k != layer - 1:
                    raise InvalidValueError("backsub: a linear form must involve one layer only")
                nr = neurons[j]
                if lam > 0:
                    if nr.state is NeuronState.ACTIVE or (nr.state is NeuronState.UNSTABLE and nr.alpha):
                        zcoef[j] += lam
                        add(nr.e2, lam)
                    else:
                        add(nr.e1, lam)
                else:
                    mu = -lam
                    if nr.state is NeuronState.ACTIVE:
                        zcoef[j] += lam
                        add(nr.fs, mu)
                    elif nr.state is NeuronState.INACTIVE:
                        add(nr.fs, mu)
                    else:
                        s = nr.u / (nr.u - nr.l)
                        zcoef[j] += lam * s
                        const -= lam * s * nr.l
                        add(nr.fs, mu)
            steps += 1
            if depth is not None and steps >= depth:
                for j, c in enumerate(zcoef):
                    nr = neurons[j]
                    if c > 0:
                        const += c * nr.l
                        add(nr.fl, c)
                    elif c < 0:
                        const += c * nr.u
                        add(nr.fu, -c)
                return const, {i: v for i, v in mult.items() if v}
            new: dict[int, Fraction] = {}
            for j, c in enumerate(zcoef):
                if not c:
                    continue
                zc, z0 = neurons[j].z
                const += c * z0
                for v, w in zc.items():
                    new[v] = new.get(v, Fraction(0)) + c * w
            coef = {v: c for v, c in new.items() if c}
            layer -= 1
        for v, lam in coef.items():
            if lam > 0:
                const += lam * self.lo[v]
                add(self.box_lo[v], lam)
            elif lam < 0:
                const += lam * self.hi[v]
                add(self.box_hi[v], -lam)
        return const, {i: v for i, v in mult.items() if v}

    def _backsub_reduced(self, f: Lin, depth: int | None) -> tuple[Fraction, dict[int, Fraction]]:
        """Back-substitution on a reduced chain: hidden variables eliminated from the last one down.

        A hidden variable's pre-activation only involves variables of lower index, so eliminating
        the highest remaining variable first never brings an eliminated one back.  ``depth=0``
        bounds every hidden variable by its own facts ``h >= 0`` and ``h <= u`` instead.
        """
        coef, const = dict(f[0]), Fraction(f[1])
        mult: dict[int, Fraction] = {}

        def add(i: int, v: Fraction) -> None:
            mult[i] = mult.get(i, Fraction(0)) + v

        owner = {nr.var: nr for layer in self.layers for nr in layer if nr.var >= 0}
        n_in = self.net.n_inputs
        while True:
            hidden = [v for v, c in coef.items() if c and v >= n_in]
            if not hidden:
                break
            v = max(hidden)
            lam = coef.pop(v)
            nr = owner[v]
            if depth == 0:
                if lam > 0:
                    add(nr.e1, lam)
                else:
                    const += lam * nr.u
                    add(self.h_upper(nr), -lam)
                continue
            if lam > 0:
                if nr.alpha:
                    add(nr.e2, lam)
                    scale = lam
                else:
                    add(nr.e1, lam)
                    continue
            else:
                s = nr.u / (nr.u - nr.l)
                add(nr.fs, -lam)
                scale = lam * s
                const -= scale * nr.l
            zc, z0 = nr.z
            const += scale * z0
            for w, a in zc.items():
                coef[w] = coef.get(w, Fraction(0)) + scale * a
        for v, lam in coef.items():
            if lam > 0:
                const += lam * self.lo[v]
                add(self.box_lo[v], lam)
            elif lam < 0:
                const += lam * self.hi[v]
                add(self.box_hi[v], -lam)
        return const, {i: v for i, v in mult.items() if v}

    def linear_certificate(self, f: Lin, bound: Fraction, mult: dict[int, Fraction],
                           metadata: dict[str, str] | None = None) -> Certificate:
        """The certificate of ``f >= bound`` from ``f - bound = Σ μ_i g_i``, with the whole chain."""
        return self.main_certificate(self.terms(f), bound, [((i,), c) for i, c in sorted(mult.items())],
                                     metadata or {})

    def main_certificate(self, objective: Terms, bound: Fraction,
                         products: list[tuple[tuple[int, ...], Fraction]],
                         metadata: dict[str, str], kind: str = "lower_bound") -> Certificate:
        """A certificate over every inequality and equality of the chain, carrying all its lemmas."""
        return Certificate(
            variables=self.variables, kind=kind, objective=objective, bound=bound,
            inequalities=tuple(self.inequalities), equalities=tuple(self.equalities),
            sos=(), equality_multipliers=(),
            products=tuple(ProductMultiplier(gs, c) for gs, c in products),
            metadata=metadata, lemmas=tuple(self.lemmas), derived=tuple(self.derived),
        )

    def _certificate(
        self, f: Lin, bound: Fraction, used: list[int],
        products: list[tuple[tuple[int, ...], Fraction]],
        eq_mults: list[tuple[int, Fraction]],
        sos: tuple[tuple[tuple[int, ...], ...], tuple[tuple[Fraction, ...], ...] | RationalMatrix] | None,
        metadata: dict[str, str],
    ) -> Certificate:
        pos = {g: k for k, g in enumerate(used)}
        derived_set = set(self.derived)
        eqs = sorted({e for e, _ in eq_mults})
        epos = {e: k for k, e in enumerate(eqs)}
        return Certificate(
            variables=self.variables,
            kind="lower_bound",
            objective=self.terms(f),
            bound=bound,
            inequalities=tuple(self.inequalities[g] for g in used),
            equalities=tuple(self.equalities[e] for e in eqs),
            sos=() if sos is None else (SOSMultiplier(None, sos[0], sos[1]),),
            equality_multipliers=tuple(
                EqualityMultiplier(epos[e], ((tuple([0] * self.n), c),)) for e, c in eq_mults
            ),
            products=tuple(ProductMultiplier(tuple(pos[g] for g in gs), c) for gs, c in products),
            metadata=metadata,
            derived=tuple(pos[g] for g in used if g in derived_set),
        )


def lin_terms(f: Lin, n: int) -> Terms:
    """Terms (exponent tuples of length ``n``) of a linear form, canonical order."""
    coef, const = f
    out: list[tuple[tuple[int, ...], Fraction]] = []
    if const:
        out.append((tuple([0] * n), Fraction(const)))
    for v in sorted(coef):
        if coef[v]:
            e = [0] * n
            e[v] = 1
            out.append((tuple(e), Fraction(coef[v])))
    return tuple(out)


def _sub(a: Lin, b: Lin) -> Lin:
    coef = dict(a[0])
    for v, c in b[0].items():
        coef[v] = coef.get(v, Fraction(0)) - c
    return {v: c for v, c in coef.items() if c}, a[1] - b[1]


def _quad_terms(n: int, a: Lin, b: Lin) -> Terms:
    """Terms of the product of two linear forms."""
    acc: dict[tuple[int, ...], Fraction] = {}
    items_a = [(None, a[1])] + list(a[0].items())
    items_b = [(None, b[1])] + list(b[0].items())
    for va, ca in items_a:
        if not ca:
            continue
        for vb, cb in items_b:
            if not cb:
                continue
            e = [0] * n
            if va is not None:
                e[va] += 1
            if vb is not None:
                e[vb] += 1
            key = tuple(e)
            acc[key] = acc.get(key, Fraction(0)) + ca * cb
    return tuple((e, c) for e, c in acc.items() if c)


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
        layer: list[_Neuron] = []
        for j in range(size):
            nz = np.flatnonzero(w[j])
            z: Lin = ({prev[i]: Fraction(float(w[j, i])) for i in nz}, Fraction(float(b[j])))
            h: Lin = ({var: Fraction(1)}, Fraction(0))
            e1 = chain.add(h)
            e2 = chain.add(_sub(h, z))
            chain.equalities.append(canonical_terms(_quad_terms(n, h, _sub(h, z))))
            layer.append(_Neuron(var=var, z=z, e1=e1, e2=e2, eq=len(chain.equalities) - 1))
            var += 1
        for nr in layer:
            _prove_bounds(chain, nr, depth, tighten)
        chain.layers.append(layer)
    return chain


def _prove_bounds(chain: Chain, nr: _Neuron, depth: int | None, tighten: bool = True) -> None:
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
    l, u = _floor(lval), _ceil(uval)
    if l == 0:
        l = Fraction(-1, _GRID)
    if u == 0:
        u = Fraction(1, _GRID)
    nr.l, nr.u = l, u
    nr.fl = chain.add(_sub(z, ({}, l)), lem_l)
    nr.fu = chain.add((neg[0], u - z[1]), lem_u)
    h: Lin = ({nr.var: Fraction(1)}, Fraction(0))
    hz = _sub(h, z)
    if l > 0:
        nr.state = NeuronState.ACTIVE
        # l (z - h) = (h - z)^2 + (h - z)(z - l) - h (h - z)
        g: Lin = _sub(z, h)
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
        _triangle(chain, nr)
    del hz


def _triangle(chain: Chain, nr: _Neuron) -> None:
    """The triangle fact ``s (z - l) - h >= 0`` of an unstable neuron, with its lemma."""
    n = chain.n
    z, l, u = nr.z, nr.l, nr.u
    s = u / (u - l)
    # s (z - l) - h
    g = (dict({v: s * c for v, c in z[0].items()}), s * (z[1] - l))
    g[0][nr.var] = g[0].get(nr.var, Fraction(0)) - 1
    g = ({v: c for v, c in g[0].items() if c}, g[1])
    d = u - l
    # q = (l - u) h + u (z - l): the square q^2 / (-u l) as a rank-one Gram matrix
    qc: dict[int, Fraction] = {v: u * c for v, c in z[0].items()}
    qc[nr.var] = qc.get(nr.var, Fraction(0)) + (l - u)
    q0 = u * (z[1] - l)
    basis_vars = sorted(v for v, c in qc.items() if c)
    vec = [q0] + [qc[v] for v in basis_vars]
    sc = 1 / (-u * l) / d
    # the rank-one Gram sc · vec vecᵀ as integers over one denominator (no k² Fractions)
    den = 1
    for a in vec:
        den = den * a.denominator // math.gcd(den, a.denominator)
    ints = np.empty(len(vec), dtype=object)
    ints[:] = [a.numerator * (den // a.denominator) for a in vec]
    gram = RationalMatrix(np.outer(ints, ints) * sc.numerator, den * den * sc.denominator)
    basis = [tuple([0] * n)]
    for v in basis_vars:
        e = [0] * n
        e[v] = 1
        basis.append(tuple(e))
    lem = chain._certificate(
        g, Fraction(0), [nr.e1, nr.fu, nr.e2, nr.fl],
        [((nr.e1, nr.fu), -l / u / d), ((nr.e2, nr.fl), -u / l / d)],
        [(nr.eq, d * d / (u * l) / d)], (tuple(basis), gram),
        {"lemma": "triangle relaxation of an unstable neuron"})
    nr.fs = chain.add(g, lem)


# ------------------------------------------------------------------------------------------------
# reduced chains: variables for unstable neurons only


def _fq(v: Fraction | float) -> Any:
    import flint

    q = Fraction(v)
    return flint.fmpq(q.numerator, q.denominator)


def _fr(q: Any) -> Fraction:
    return Fraction(int(q.p), int(q.q))


@dataclass
class _Rec:
    """A neuron of a reduced chain during construction (exact rows: column 0 is the constant)."""

    z: list[Any]
    var: int = -1
    l: Fraction = Fraction(0)
    u: Fraction = Fraction(0)
    lval: Fraction = Fraction(0)
    uval: Fraction = Fraction(0)
    lmult: dict[tuple[str, int], Any] = field(default_factory=dict)
    umult: dict[tuple[str, int], Any] = field(default_factory=dict)
    state: NeuronState = NeuronState.UNSTABLE
    alpha: int = 1


def _batch_backsub(rows: list[list[Any]], width: int, layers: list[list[_Rec]],
                   lo: Sequence[Fraction], hi: Sequence[Fraction]
                   ) -> tuple[list[Fraction], list[dict[tuple[str, int], Any]]]:
    """Exact CROWN lower bounds of many linear forms at once (flint matrices).

    ``rows[r]`` is a form over ``(1, x, h)`` (column 0 the constant, column ``1 + v`` variable
    ``v``).  Unstable variables are substituted layer by layer from the last one (their relaxations
    ``h >= alpha z`` and ``h <= s (z - l)``), then the inputs are bounded by the box.  Returns the
    bounds and, per form, the multipliers keyed by ``(fact, variable)`` with fact one of ``"e1"``
    (``h >= 0``), ``"e2"`` (``h - z >= 0``), ``"fs"`` (triangle), ``"lo"``/``"hi"`` (box sides).
    """
    import flint

    R = len(rows)
    ent = [v for row in rows for v in row]
    mults: list[dict[tuple[str, int], Any]] = [{} for _ in range(R)]
    zero = flint.fmpq(0)
    for layer in reversed(layers):
        us = [rc for rc in layer if rc.state is NeuronState.UNSTABLE]
        if not us:
            continue
        A: list[Any] = []
        for r in range(R):
            base = r * width
            c0 = ent[base]
            mr = mults[r]
            for rc in us:
                col = base + 1 + rc.var
                lam = ent[col]
                if lam == 0:
                    A.append(zero)
                    continue
                ent[col] = zero
                if lam > 0:
                    key = ("e2" if rc.alpha else "e1", rc.var)
                    mr[key] = mr.get(key, zero) + lam
                    A.append(lam if rc.alpha else zero)
                else:
                    s = _fq(rc.u / (rc.u - rc.l))
                    mr[("fs", rc.var)] = mr.get(("fs", rc.var), zero) - lam
                    A.append(lam * s)
                    c0 -= lam * s * _fq(rc.l)
            ent[base] = c0
        Zu = flint.fmpq_mat(len(us), width, [v for rc in us for v in rc.z + [zero] * (width - len(rc.z))])
        M = flint.fmpq_mat(R, width, ent) + flint.fmpq_mat(R, len(us), A) * Zu
        ent = M.entries()
    bounds: list[Fraction] = []
    lo_q = [_fq(v) for v in lo]
    hi_q = [_fq(v) for v in hi]
    for r in range(R):
        base = r * width
        total = ent[base]
        mr = mults[r]
        for i in range(len(lo_q)):
            lam = ent[base + 1 + i]
            if lam > 0:
                total += lam * lo_q[i]
                mr[("lo", i)] = lam
            elif lam < 0:
                total += lam * hi_q[i]
                mr[("hi", i)] = -lam
        for v in range(len(lo_q) + 1, width):
            if ent[base + v] != 0:
                raise InvalidValueError("internal: a hidden variable survived back-substitution")
        bounds.append(_fr(total))
    return bounds, mults


def build_reduced_chain(net: Network, lo: Sequence[Fraction | float], hi: Sequence[Fraction | float],
                        *, input_names: Sequence[str] | None = None) -> Chain:
    """Encode ``net`` over the box with variables for the *unstable* neurons only.

    Layer by layer, the exact CROWN bounds of every pre-activation are computed in rational
    matrix arithmetic (python-flint) over the variables so far.  A neuron whose proven bounds
    give ``l > 0`` is active: its output is the affine form ``z`` itself, no variable.  One with
    ``u < 0`` is inactive: its output is the constant 0.  Only the others get a variable ``h``
    with ``h >= 0``, ``h - z >= 0``, ``h (h - z) = 0``.

    The set ``K`` of the encoding is the graph of the network over the box *because* every
    eliminated neuron is stable there, and that is proven inside the chain: every active neuron
    has the derived fact ``z - l >= 0`` (``l > 0``), every inactive one ``u - z >= 0`` (``u < 0``),
    each with its lemma, and the checker verifies every lemma of a chain, used or not.  (By
    induction on the layers: if the variables up to layer ``k - 1`` are the true activations at
    every point of ``K``, the lemma shows the sign of a layer-``k`` neuron at every input, so its
    substitution is exact.)  The lemma metadata names each neuron.
    """
    import flint

    n_in = net.n_inputs
    lo_f = tuple(Fraction(v) for v in lo)
    hi_f = tuple(Fraction(v) for v in hi)
    if len(lo_f) != n_in or len(hi_f) != n_in:
        raise InvalidValueError(f"the input box has {len(lo_f)} entries but the network takes {n_in} inputs")
    if any(a > b for a, b in zip(lo_f, hi_f, strict=True)):
        raise InvalidValueError("the input box is empty (a lower bound exceeds an upper bound)")
    zero, one = flint.fmpq(0), flint.fmpq(1)
    n_var = n_in
    # post-activations of the previous layer as rows over (1, x, h)
    posts: list[list[Any]] = [[zero] * (1 + n_in) for _ in range(n_in)]
    for i in range(n_in):
        posts[i][1 + i] = one
    recs: list[list[_Rec]] = []
    for k, size in enumerate(net.hidden_sizes):
        width = 1 + n_var
        W = flint.fmpq_mat(size, len(posts), [_fq(float(v)) for v in net.weights[k].ravel()])
        P = flint.fmpq_mat(len(posts), width, [v for row in posts for v in row + [zero] * (width - len(row))])
        Z = (W * P).entries()
        zrows = [Z[j * width:(j + 1) * width] for j in range(size)]
        for j in range(size):
            zrows[j][0] += _fq(float(net.biases[k][j]))
        neg = [[-v for v in row] for row in zrows]
        bounds, mults = _batch_backsub(zrows + neg, width, recs, lo_f, hi_f)
        layer: list[_Rec] = []
        new_posts: list[list[Any]] = []
        for j in range(size):
            rc = _Rec(z=zrows[j], lval=bounds[j], uval=-bounds[size + j], lmult=mults[j],
                      umult=mults[size + j])
            l, u = _floor(rc.lval), _ceil(rc.uval)
            if l == 0:
                l = Fraction(-1, _GRID)
            if u == 0:
                u = Fraction(1, _GRID)
            rc.l, rc.u = l, u
            if l > 0:
                rc.state = NeuronState.ACTIVE
                new_posts.append(list(zrows[j]))
            elif u < 0:
                rc.state = NeuronState.INACTIVE
                new_posts.append([])
            else:
                rc.state = NeuronState.UNSTABLE
                rc.alpha = 1 if u >= -l else 0
                rc.var = n_var
                n_var += 1
                unit = [zero] * (1 + n_var)
                unit[1 + rc.var] = one
                new_posts.append(unit)
            layer.append(rc)
        recs.append(layer)
        posts = new_posts
    # materialise: names, facts and lemmas in dependency order
    names = list(input_names) if input_names is not None else [f"X_{i}" for i in range(n_in)]
    hidden = [(k, j) for k, layer in enumerate(recs) for j, rc in enumerate(layer) if rc.var >= 0]
    names += [f"h{k}_{j}" for k, j in hidden]
    chain = Chain(net, tuple(names), lo_f, hi_f, reduced=True)
    n = chain.n
    for i in range(n_in):
        chain.box_lo.append(chain.add(({i: Fraction(1)}, -lo_f[i])))
        chain.box_hi.append(chain.add(({i: Fraction(-1)}, hi_f[i])))
    owner: dict[int, _Neuron] = {}

    def lin(row: list[Any]) -> Lin:
        return {c - 1: _fr(v) for c, v in enumerate(row) if c and v != 0}, _fr(row[0])

    def refs(m: dict[tuple[str, int], Any]) -> dict[int, Fraction]:
        out: dict[int, Fraction] = {}
        for (kind, v), c in m.items():
            if c == 0:
                continue
            if kind == "lo":
                i = chain.box_lo[v]
            elif kind == "hi":
                i = chain.box_hi[v]
            else:
                nr = owner[v]
                i = nr.e1 if kind == "e1" else nr.e2 if kind == "e2" else nr.fs
            out[i] = out.get(i, Fraction(0)) + _fr(c)
        return out

    for k, layer_recs in enumerate(recs):
        built: list[_Neuron] = []
        for rc in layer_recs:
            z = lin(rc.z)
            nr = _Neuron(var=rc.var, z=z, e1=-1, e2=-1, eq=-1, l=rc.l, u=rc.u, state=rc.state,
                         alpha=rc.alpha)
            if rc.state is NeuronState.ACTIVE:
                nr.post = z
            elif rc.state is NeuronState.INACTIVE:
                nr.post = ({}, Fraction(0))
            else:
                h: Lin = ({rc.var: Fraction(1)}, Fraction(0))
                nr.post = h
                nr.e1 = chain.add(h)
                nr.e2 = chain.add(_sub(h, z))
                chain.equalities.append(canonical_terms(_quad_terms(n, h, _sub(h, z))))
                nr.eq = len(chain.equalities) - 1
                owner[rc.var] = nr
            built.append(nr)
        for j, (nr, rc) in enumerate(zip(built, layer_recs, strict=True)):
            who = f"h{k}_{j}"
            negz: Lin = ({v: -c for v, c in nr.z[0].items()}, -nr.z[1])
            if rc.state is not NeuronState.INACTIVE:
                lm = refs(rc.lmult)
                lem = chain._certificate(nr.z, rc.lval, sorted(lm), [((i,), lm[i]) for i in sorted(lm)],
                                         [], None, {"lemma": f"lower bound of the pre-activation of {who}"
                                                    + (" (active: > 0)" if rc.state is NeuronState.ACTIVE else "")})
                nr.fl = chain.add(_sub(nr.z, ({}, nr.l)), lem)
            if rc.state is not NeuronState.ACTIVE:
                um = refs(rc.umult)
                lem = chain._certificate(negz, -rc.uval, sorted(um), [((i,), um[i]) for i in sorted(um)],
                                         [], None, {"lemma": f"upper bound of the pre-activation of {who}"
                                                    + (" (inactive: < 0)" if rc.state is NeuronState.INACTIVE else "")})
                nr.fu = chain.add((negz[0], nr.u - nr.z[1]), lem)
            if rc.state is NeuronState.UNSTABLE:
                _triangle(chain, nr)
        chain.layers.append(built)
    return chain

"""The chain of a network encoding: variables, linear facts with their lemmas, neuron records.

A :class:`Chain` holds the polynomial encoding of :mod:`sosrelax.nn.encode` as it is built: the
base constraints, every derived linear fact ``g >= 0`` with the lemma certificate that proves it,
and per neuron its facts and proven bounds.  Back-substitution through the chain (CROWN, or one
layer for interval arithmetic) and the certificates of its facts are methods of the chain; the
builders are :func:`~sosrelax.nn.encode.build_chain` and
:func:`~sosrelax.nn.reduced.build_reduced_chain`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import Enum
from fractions import Fraction

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

__all__ = ["GRID", "Chain", "Lin", "Neuron", "NeuronState", "add_triangle", "ceil_grid", "floor_grid",
           "lin_terms", "quad_terms", "sub_lin"]

#: A linear form: (coefficients by variable index, constant).
Lin = tuple[dict[int, Fraction], Fraction]

GRID = 2**32


class NeuronState(Enum):
    """Sign of a neuron's pre-activation over the input set, as proven by its bounds."""

    ACTIVE = "active"
    INACTIVE = "inactive"
    UNSTABLE = "unstable"


def floor_grid(q: Fraction) -> Fraction:
    v = q * GRID
    return Fraction(v.numerator // v.denominator, GRID)


def ceil_grid(q: Fraction) -> Fraction:
    v = q * GRID
    return Fraction(-((-v.numerator) // v.denominator), GRID)


@dataclass
class Neuron:
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
    layers: list[list[Neuron]] = field(default_factory=list)
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

    def h_upper(self, nr: Neuron) -> int:
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
        const += self._concretize_inputs(coef, add)
        return const, {i: v for i, v in mult.items() if v}

    def _concretize_inputs(self, coef: dict[int, Fraction], add: Callable[[int, Fraction], None]) -> Fraction:
        """``min`` over the input box of ``Σ coef_v x_v``, each term's box inequality recorded with ``add``."""
        total = Fraction(0)
        for v, lam in coef.items():
            if lam > 0:
                total += lam * self.lo[v]
                add(self.box_lo[v], lam)
            elif lam < 0:
                total += lam * self.hi[v]
                add(self.box_hi[v], -lam)
        return total

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
        const += self._concretize_inputs(coef, add)
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


def sub_lin(a: Lin, b: Lin) -> Lin:
    coef = dict(a[0])
    for v, c in b[0].items():
        coef[v] = coef.get(v, Fraction(0)) - c
    return {v: c for v, c in coef.items() if c}, a[1] - b[1]


def quad_terms(n: int, a: Lin, b: Lin) -> Terms:
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


def add_triangle(chain: Chain, nr: Neuron) -> None:
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

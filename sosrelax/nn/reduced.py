"""Reduced chains: a network encoding with variables for the unstable neurons only.

Stable neurons are eliminated (an active one's output is its affine pre-activation, an inactive
one's the constant 0) after exact CROWN bounds computed in rational matrix arithmetic
(python-flint) prove their sign; see :func:`build_reduced_chain`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

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
    quad_terms,
    sub_lin,
)
from sosrelax.nn.ir import Network

__all__ = ["build_reduced_chain"]


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
    net.require_logits("the exact encoding")

    n_in = net.n_inputs
    lo_f = tuple(Fraction(v) for v in lo)
    hi_f = tuple(Fraction(v) for v in hi)
    if len(lo_f) != n_in or len(hi_f) != n_in:
        raise InvalidValueError(f"the input box has {len(lo_f)} entries but the network takes {n_in} inputs")
    if any(a > b for a, b in zip(lo_f, hi_f, strict=True)):
        raise InvalidValueError("the input box is empty (a lower bound exceeds an upper bound)")
    recs = _exact_layers(net, lo_f, hi_f)
    return _materialise(net, recs, lo_f, hi_f, input_names)


def _exact_layers(net: Network, lo_f: tuple[Fraction, ...], hi_f: tuple[Fraction, ...]
                  ) -> list[list[_Rec]]:
    """Layer by layer: the exact CROWN bounds of every pre-activation over the variables so far,
    each neuron's state, and a variable for each unstable one."""
    import flint

    n_in = net.n_inputs
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
            l, u = floor_grid(rc.lval), ceil_grid(rc.uval)
            if l == 0:
                l = Fraction(-1, GRID)
            if u == 0:
                u = Fraction(1, GRID)
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
    return recs


def _materialise(net: Network, recs: list[list[_Rec]], lo_f: tuple[Fraction, ...],
                 hi_f: tuple[Fraction, ...], input_names: Sequence[str] | None) -> Chain:
    """The chain of the reduced encoding: names, facts and lemmas in dependency order."""
    n_in = net.n_inputs
    names = list(input_names) if input_names is not None else [f"X_{i}" for i in range(n_in)]
    hidden = [(k, j) for k, layer in enumerate(recs) for j, rc in enumerate(layer) if rc.var >= 0]
    names += [f"h{k}_{j}" for k, j in hidden]
    chain = Chain(net, tuple(names), lo_f, hi_f, reduced=True)
    n = chain.n
    for i in range(n_in):
        chain.box_lo.append(chain.add(({i: Fraction(1)}, -lo_f[i])))
        chain.box_hi.append(chain.add(({i: Fraction(-1)}, hi_f[i])))
    owner: dict[int, Neuron] = {}

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
        built: list[Neuron] = []
        for rc in layer_recs:
            z = lin(rc.z)
            nr = Neuron(var=rc.var, z=z, e1=-1, e2=-1, eq=-1, l=rc.l, u=rc.u, state=rc.state,
                         alpha=rc.alpha)
            if rc.state is NeuronState.ACTIVE:
                nr.post = z
            elif rc.state is NeuronState.INACTIVE:
                nr.post = ({}, Fraction(0))
            else:
                h: Lin = ({rc.var: Fraction(1)}, Fraction(0))
                nr.post = h
                nr.e1 = chain.add(h)
                nr.e2 = chain.add(sub_lin(h, z))
                chain.equalities.append(canonical_terms(quad_terms(n, h, sub_lin(h, z))))
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
                nr.fl = chain.add(sub_lin(nr.z, ({}, nr.l)), lem)
            if rc.state is not NeuronState.ACTIVE:
                um = refs(rc.umult)
                lem = chain._certificate(negz, -rc.uval, sorted(um), [((i,), um[i]) for i in sorted(um)],
                                         [], None, {"lemma": f"upper bound of the pre-activation of {who}"
                                                    + (" (inactive: < 0)" if rc.state is NeuronState.INACTIVE else "")})
                nr.fu = chain.add((negz[0], nr.u - nr.z[1]), lem)
            if rc.state is NeuronState.UNSTABLE:
                add_triangle(chain, nr)
        chain.layers.append(built)
    return chain

"""Deciding disjuncts with polynomial (POLY) atoms and hidden-node atoms (VNN-LIB 2.0).

A disjunct whose :attr:`~sosrelax.nn.vnnlib.Disjunct.poly` is not empty holds atoms that are
polynomial in the inputs ``X``, the outputs ``Y`` and hidden neurons (pre-activations ``Z`` and
post-activations ``R`` of a layer, bound by :func:`bind_hidden`).  It is decided with the machinery
of :mod:`sosrelax.nn.verify`:

* **sat** — :func:`attack_poly` (random sampling, then projected sign-gradient ascent on the most
  violated atom, gradients through the linear region's Jacobians) proposes an input;
  :func:`confirm_poly` accepts it only if the exact rational forward pass of the IR satisfies every
  atom exactly and, for an ONNX model, onnxruntime's outputs and hidden tensors satisfy every atom
  within :data:`~sosrelax.nn.verify.ONNX_TOLERANCE`;
* **unsat** — :func:`decide_poly_piece` proves one atom violated on the encoding of
  :mod:`sosrelax.nn.encode` (the other atoms are constraints): every variable of an atom is an
  exact polynomial in the encoding's variables (an input; an output or a pre-activation is affine
  in the previous layer's variables; a post-activation is a variable, or for a neuron proven stable
  its affine pre-activation or 0), so the atom is a polynomial ``p`` over the encoding and it
  suffices to prove ``-p > 0`` (``>= 0`` for a strict atom).  A ``-p`` of degree one goes through the
  ``interval``/``linear`` back-substitution and the ``lp`` rung; any ``-p`` through Shor's relaxation
  (``sdp``, degree at most two) and the Lasserre level-2 relaxation (``sos``; for tiny encodings also
  after ``sdp`` failed, and always for higher degrees) of :func:`sosrelax.solve`, over the moment
  rungs' constraints (:func:`sosrelax.nn.moment.chain_problem`, lemma chain included) plus the other
  atoms.  The solver's certificate is restated over the exact constraints and the exact objective
  and counts only after :func:`~sosrelax.certificate.check.check_certificate` verified it.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import replace
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from sosrelax.certificate.format import Certificate, Terms
from sosrelax.errors import InvalidValueError, ParseError
from sosrelax.nn.encode import Chain, Lin
from sosrelax.nn.ir import Network
from sosrelax.nn.vnnlib import Atom, Disjunct, PolyAtom, PolyVar, Property

__all__ = ["attack_poly", "bind_hidden", "confirm_poly", "decide_poly_piece", "hidden_values"]

#: Encodings with at most this many variables also get the SOS level-2 rung when Shor's fails.
TINY_VARIABLES = 8


# ------------------------------------------------------------------------------------------------
# binding hidden tensors to layers


def bind_hidden(prop: Property, net: Network) -> Property:
    """Map every declared hidden tensor onto a layer of ``net`` (by its ONNX tensor name).

    A hidden tensor must name the input (pre-activation) or the output (post-activation) of a ReLU
    of the model, or a tensor equal to one of them (``Identity``, ``Dropout``, ``Flatten``,
    ``Reshape``); its entries, row-major, are the layer's neurons.  Hidden variables of the atoms
    become ``("Z", layer, j)`` or ``("R", layer, j)``.

    Raises
    ------
    ParseError
        A name that is not such a tensor, or a shape whose size differs from the layer's; the
        message names the line of the declaration and the name.
    """
    if not prop.hidden or all(t.layer is not None for t in prop.hidden):
        return prop
    known = {name: (stage, k) for name, stage, k in net.tensor_names}
    bound = []
    for t in prop.hidden:
        if t.onnx_name not in known:
            names = ", ".join(repr(n) for n in sorted(known)) or "none: the network was not loaded from ONNX"
            raise ParseError(
                f"{prop.source}:{t.line}: hidden tensor {t.name} names {t.onnx_name!r}, which is not the "
                f"input or output of a ReLU of the network; the layer tensors are {names}")
        stage, k = known[t.onnx_name]
        size = net.hidden_sizes[k]
        if t.size != size:
            raise ParseError(
                f"{prop.source}:{t.line}: hidden tensor {t.name} has shape {list(t.shape)} ({t.size} "
                f"entries) but {t.onnx_name!r} has {size}")
        bound.append(replace(t, layer=k, stage=stage))

    def rebind(v: PolyVar) -> PolyVar:
        if v[0] != "H":
            return v
        t = bound[v[1]]
        assert t.layer is not None
        return ("Z" if t.stage == "pre" else "R", t.layer, v[2])

    def atom(a: PolyAtom) -> PolyAtom:
        terms = tuple(sorted((tuple(sorted((rebind(v), e) for v, e in m)), c) for m, c in a.terms))
        return replace(a, terms=terms)

    ds = tuple(replace(d, poly=tuple(atom(a) for a in d.poly)) for d in prop.disjuncts)
    return replace(prop, disjuncts=ds, hidden=tuple(bound))


def hidden_values(net: Network, prop: Property, x: Sequence[float]) -> list[tuple[str, list[float]]]:
    """``(name, values)`` of every declared hidden tensor at the input ``x`` (IR, exact, as floats)."""
    p = bind_hidden(prop, net)
    zs = net.activations_exact([Fraction(float(v)) for v in x])
    out = []
    for t in p.hidden:
        assert t.layer is not None
        vals = zs[t.layer]
        if t.stage == "post":
            vals = [v if v > 0 else Fraction(0) for v in vals]
        out.append((t.name, [float(v) for v in vals]))
    return out


# ------------------------------------------------------------------------------------------------
# evaluation in floats


def _as_poly(a: Atom) -> PolyAtom:
    terms: list[tuple[Any, Fraction]] = [(((("X", 0, i), 1),), c) for i, c in a.x]
    terms += [(((("Y", 0, j), 1),), c) for j, c in a.y]
    if a.const:
        terms.append(((), a.const))
    return PolyAtom(tuple(sorted(terms)), a.strict)


def all_atoms(d: Disjunct) -> list[PolyAtom]:
    """The disjunct's linear atoms (as polynomial atoms) followed by its polynomial atoms."""
    return [_as_poly(a) for a in d.atoms] + list(d.poly)


def _var_values(v: PolyVar, X: np.ndarray, zs: list[np.ndarray]) -> np.ndarray:
    kind, a, b = v
    if kind == "X":
        return X[:, b]
    if kind == "Y":
        return zs[-1][:, b]
    if kind == "Z":
        return zs[a][:, b]
    if kind == "R":
        return np.maximum(zs[a][:, b], 0.0)
    raise InvalidValueError(f"hidden variable {v} is not bound to a layer; bind the property first")


def _values(atoms: Sequence[PolyAtom], net: Network, X: np.ndarray) -> np.ndarray:
    """``(m, atoms)`` float values of the atoms at the rows of ``X``."""
    zs = [np.atleast_2d(z) for z in net.activations(X)]
    out = np.zeros((X.shape[0], len(atoms)))
    for k, a in enumerate(atoms):
        for m, c in a.terms:
            t = np.full(X.shape[0], float(c))
            for v, e in m:
                t = t * _var_values(v, X, zs) ** e
            out[:, k] += t
    return out


def _jacobians(net: Network, x: np.ndarray) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Pre-activations ``z_l`` at ``x`` and their Jacobians ``dz_l/dx`` (the linear region's)."""
    zs = net.activations(x)
    J = np.eye(net.n_inputs)
    jac = []
    for k, w in enumerate(net.weights):
        Jz = w @ J
        jac.append(Jz)
        if k < len(zs) - 1:
            J = (zs[k] > 0)[:, None] * Jz
    return zs, jac


def _gradient(a: PolyAtom, net: Network, x: np.ndarray) -> np.ndarray:
    zs, jac = _jacobians(net, x)

    def val_grad(v: PolyVar) -> tuple[float, np.ndarray]:
        kind, l_, j = v
        if kind == "X":
            g = np.zeros(net.n_inputs)
            g[j] = 1.0
            return float(x[j]), g
        layer = len(zs) - 1 if kind == "Y" else l_
        z = float(zs[layer][j])
        if kind == "R":
            return max(z, 0.0), jac[layer][j] * (z > 0)
        return z, jac[layer][j]

    g = np.zeros(net.n_inputs)
    for m, c in a.terms:
        vg = [(val_grad(v), e) for v, e in m]
        for i, ((val, grad), e) in enumerate(vg):
            t = float(c) * e * val ** (e - 1)
            for i2, ((val2, _), e2) in enumerate(vg):
                if i2 != i:
                    t *= val2**e2
            g += t * grad
    return g


def _margin(vals: np.ndarray, strict: np.ndarray) -> np.ndarray:
    """``min_k`` atom value, strict atoms shifted below 0 when they are 0 (>= 0: in the catastrophe)."""
    v = np.where(strict & (vals <= 0), np.minimum(vals, -1e-300), vals)
    return v.min(axis=1) if v.shape[1] else np.full(v.shape[0], np.inf)


def attack_poly(net: Network, d: Disjunct, rng: np.random.Generator, *, seconds: float = 1.0,
                samples: int = 2048) -> np.ndarray | None:
    """A float input at which the float network satisfies every atom of the disjunct, or ``None``."""
    atoms = all_atoms(d)
    strict = np.array([a.strict for a in atoms], dtype=bool)
    lo = np.array([float(v) for v in d.lo])
    hi = np.array([float(v) for v in d.hi])
    t_end = time.perf_counter() + seconds
    X = np.vstack([rng.uniform(lo, hi, size=(samples, lo.size)), (lo + hi) / 2, lo, hi])
    m = _margin(_values(atoms, net, X), strict)
    order = np.argsort(-m)
    if m[order[0]] >= 0:
        return X[order[0]]
    for idx in order[:8]:
        x = X[idx].copy()
        step = (hi - lo) / 4
        for _ in range(80):
            vals = _values(atoms, net, x[None])
            cur = _margin(vals, strict)[0]
            if cur >= 0:
                return x
            if time.perf_counter() > t_end:
                return None
            k = int(np.argmin(vals[0]))
            x_new = np.clip(x + step * np.sign(_gradient(atoms[k], net, x)), lo, hi)
            if _margin(_values(atoms, net, x_new[None]), strict)[0] <= cur:
                step = step / 2
                if not np.any(step > 1e-12 * (1 + np.abs(hi - lo))):
                    break
            else:
                x = x_new
    return None


def confirm_poly(net: Network, d: Disjunct, x: np.ndarray, onnx_path: str | Path | None
                 ) -> tuple[tuple[float, ...], tuple[float, ...]] | None:
    """Re-execute ``x`` exactly through the IR (every atom exactly) and through onnxruntime (every
    atom within the tolerance, hidden tensors included); the pair ``(x, y)`` if both agree."""
    from sosrelax.nn.rungs import ONNX_TOLERANCE

    xq = [Fraction(float(v)) for v in x]
    zs = net.activations_exact(xq)
    if not d.holds(xq, zs[-1], zs):
        return None
    if onnx_path is not None:
        from sosrelax.nn.onnx_loader import onnx_tensors

        candidates: dict[tuple[str, int], list[str]] = {}
        for name, stage, k in net.tensor_names:
            candidates.setdefault(("Z" if stage == "pre" else "R", k), []).append(name)
        needed = {(v[0], v[1]) for a in d.poly for v in a.variables if v[0] in ("Z", "R")}
        y, got = onnx_tensors(onnx_path, np.asarray(x, dtype=np.float64), net.input_shape,
                              [n for key in sorted(needed) for n in candidates.get(key, [])])
        tensors: dict[tuple[str, int], np.ndarray] = {}
        for key in needed:
            found = [got[n] for n in candidates.get(key, []) if n in got]
            if not found:
                return None  # the hidden tensor cannot be re-run by onnxruntime: no confirmation
            tensors[key] = found[0]
            if key[0] == "R":  # a ReLU's input may stand for its output (relu(relu(z)) = relu(z))
                tensors[key] = np.maximum(found[0], 0.0)
        xf = np.asarray(x, dtype=np.float64)
        for a in all_atoms(d):
            total = 0.0
            for mono, c in a.terms:
                t = float(c)
                for (kind, l_, j), e in mono:
                    v = xf[j] if kind == "X" else y[j] if kind == "Y" else tensors[(kind, l_)][j]
                    t *= float(v) ** e
                total += t
            if total < -ONNX_TOLERANCE:
                return None
    return tuple(float(v) for v in x), tuple(float(v) for v in zs[-1])


# ------------------------------------------------------------------------------------------------
# atoms as polynomials over the encoding


def _substitution(chain: Chain, v: PolyVar) -> Lin:
    kind, l_, j = v
    if kind == "X":
        return {j: Fraction(1)}, Fraction(0)
    if kind == "Y":
        c = [Fraction(0)] * chain.net.n_outputs
        c[j] = Fraction(1)
        return chain.output_form(c, Fraction(0))
    nr = chain.layers[l_][j]
    if kind == "Z":
        return nr.z
    if kind == "R":
        if nr.post is not None:
            return nr.post
        return {nr.var: Fraction(1)}, Fraction(0)
    raise InvalidValueError(f"hidden variable {v} is not bound to a layer; bind the property first")


_CPoly = dict[tuple[int, ...], Fraction]


def _cp_mul(a: _CPoly, b: _CPoly) -> _CPoly:
    out: _CPoly = {}
    for ea, ca in a.items():
        for eb, cb in b.items():
            e = tuple(p + q for p, q in zip(ea, eb, strict=True))
            out[e] = out.get(e, Fraction(0)) + ca * cb
    return {e: c for e, c in out.items() if c}


def chain_polynomial(chain: Chain, a: PolyAtom, sign: int = 1) -> _CPoly:
    """``sign`` times the atom's left-hand side as an exact polynomial over the encoding's variables."""
    n = chain.n
    zero = tuple([0] * n)
    subs: dict[PolyVar, _CPoly] = {}
    total: _CPoly = {}
    for m, c in a.terms:
        acc: _CPoly = {zero: Fraction(sign) * c}
        for v, e in m:
            if v not in subs:
                coef, const = _substitution(chain, v)
                p: _CPoly = {zero: Fraction(const)} if const else {}
                for var, w in coef.items():
                    u = [0] * n
                    u[var] = 1
                    p[tuple(u)] = p.get(tuple(u), Fraction(0)) + w
                subs[v] = {k: w for k, w in p.items() if w}
            for _ in range(e):
                acc = _cp_mul(acc, subs[v])
        for k, w in acc.items():
            total[k] = total.get(k, Fraction(0)) + w
    return {k: w for k, w in total.items() if w}


def _degree(p: _CPoly) -> int:
    return max((sum(e) for e in p), default=0)


def _as_lin(p: _CPoly) -> Lin:
    coef: dict[int, Fraction] = {}
    const = Fraction(0)
    for e, c in p.items():
        if not any(e):
            const += c
        else:
            coef[e.index(1)] = c
    return coef, const


def _terms(p: _CPoly) -> Terms:
    return tuple(sorted(p.items()))


def _polynomial(p: _CPoly | Terms, names: tuple[str, ...]) -> Any:
    from sosrelax.poly import Polynomial

    items = list(p.items()) if isinstance(p, dict) else list(p)
    if not items:
        return Polynomial.zero(names)
    exps = np.array([e for e, _ in items], dtype=np.int64).reshape(-1, len(names))
    return Polynomial(exps, np.array([float(c) for _, c in items]), names)


def _close(a: Terms, b: Terms) -> bool:
    da, db = dict(a), dict(b)
    if set(da) != set(db):
        return False
    return all(abs(float(da[e]) - float(db[e])) <= 1e-9 * (1 + abs(float(db[e]))) for e in da)


# ------------------------------------------------------------------------------------------------
# rungs


def _linear_rung(chain: Chain, f: Lin, strict: bool, rung: str
                 ) -> tuple[bool, float | None, Certificate | None, str]:
    """Exact lower bound of a linear form by back-substitution (one layer) or interval facts
    (several layers), certificate checked."""
    from sosrelax.nn.rungs import check_bound, repair_bound

    best = repair_bound(chain, f)
    if rung == "linear":
        try:
            cand = chain.backsub(f, None)
        except InvalidValueError:  # the form spans several layers
            cand = best
        if cand[0] > best[0]:
            best = cand
    L, mult = best
    if L < 0 or (L == 0 and strict):
        return False, float(L), None, "bound does not settle the atom"
    cert = chain.linear_certificate(f, L, mult, {"rung": rung})
    ok, b, why = check_bound(cert, Fraction(0), strict)
    return ok, b, cert if ok else None, why


def _moment_rung(chain: Chain, objective: _CPoly, others: list[_CPoly], strict: bool, level: int | None,
                 time_limit: float | None) -> tuple[bool, float | None, Certificate | None, str]:
    """Lower bound of ``objective`` over the moment rungs' constraints and the other atoms, by Shor's
    relaxation (``level=None``) or Lasserre's of order ``level``; certificate restated exactly and
    checked (lemma chain included)."""
    from sosrelax.api import solve
    from sosrelax.nn.moment import SdpForm, attach_lemmas, chain_problem, exact_constraints
    from sosrelax.problem import Problem

    base, lemmas, derived_terms = chain_problem(chain, ({}, Fraction(0)), SdpForm.WITH_LP)
    ineqs: list[Terms] = list(chain.inequalities) + [lem.objective for lem in lemmas[len(chain.lemmas):]]
    if len(base.inequalities) != len(ineqs) or len(base.equalities) != len(chain.equalities):
        return False, None, None, "internal: the moment constraints do not line up with the chain's"
    names = chain.variables
    extra = [_terms(p) for p in others if p]
    ineqs += extra
    problem = Problem(
        minimize=_polynomial(objective, names),
        subject_to=[*(g >= 0 for g in base.inequalities), *(_polynomial(t, names) >= 0 for t in extra),
                    *(h == 0 for h in base.equalities)],
        variables=names,
    )
    if len(problem.inequalities) != len(ineqs):
        return False, None, None, "an atom is constant on the encoding"
    res = solve(problem, relaxation="sdp" if level is None else "sos", level=level, time_limit=time_limit)
    if res.certificate is None or res.bound is None:
        return False, None, None, res.message
    exact = exact_constraints(res.certificate, ineqs, list(chain.equalities))
    obj = _terms(objective)
    if (exact.inequalities != tuple(ineqs) or exact.equalities != tuple(chain.equalities)
            or not _close(exact.objective, obj)):
        return False, None, None, "the solver's certificate does not restate over the exact constraints"
    full, rep = attach_lemmas(replace(exact, objective=obj), lemmas, derived_terms)
    if not rep.valid or rep.bound is None:
        return False, None, None, "certificate rejected: " + rep.reason
    b = Fraction(rep.bound)
    ok = b > 0 or (not strict and b >= 0)
    return ok, float(b), full if ok else None, rep.reason


def prove_poly_atom_violated(net: Network, d: Disjunct, k: int, rung: str, chain: Chain,
                             time_limit: float | None = None
                             ) -> tuple[bool, float | None, Certificate | None, str]:
    """Try to prove atom ``k`` of :func:`all_atoms` false on the disjunct with one rung.

    Returns ``(proven, proven lower bound of -atom_k or None, certificate, note)`` like
    :func:`sosrelax.nn.verify.prove_atom_violated`; ``proven`` only after the checker verified it.
    """
    from sosrelax.nn.rungs import SOS_MAX_VARIABLES, lp_rung

    atoms = all_atoms(d)
    a = atoms[k]
    strict_needed = not a.strict
    f = chain_polynomial(chain, a, -1)
    deg = _degree(f)
    if rung in ("interval", "linear", "lp"):
        if deg > 1:
            return False, None, None, f"the atom has degree {deg} on the encoding"
        fl = _as_lin(f)
        if rung != "lp":
            return _linear_rung(chain, fl, strict_needed, rung)
        for j, o in enumerate(atoms):
            if j != k:
                g = chain_polynomial(chain, o)
                if _degree(g) <= 1 and g:
                    chain.add(_as_lin(g))
        return lp_rung(chain, fl, strict_needed)
    others = [chain_polynomial(chain, o) for j, o in enumerate(atoms) if j != k]
    max_deg = max([deg, *(_degree(g) for g in others)])
    if rung == "sdp":
        if max_deg > 2:
            return False, None, None, f"degree {max_deg} needs the sos rung"
        return _moment_rung(chain, f, others, strict_needed, None, time_limit)
    if rung == "sos":
        if chain.n > SOS_MAX_VARIABLES:
            return False, None, None, (f"{chain.n} variables exceed the SOS level-2 size limit "
                                       f"{SOS_MAX_VARIABLES}")
        return _moment_rung(chain, f, others, strict_needed, max(2, math.ceil(max_deg / 2)), time_limit)
    raise ValueError(f"unknown rung {rung!r}")


def decide_poly_piece(net: Network, d: Disjunct, idx: int, rungs: Sequence[str], budget: Any,
                      max_certified_relus: int) -> Certificate | None:
    """A verified certificate that the disjunct piece (with polynomial or hidden atoms) is empty,
    or ``None``; the rows of every rung tried go to ``budget.log`` (see ``verify._decide_piece``)."""
    from sosrelax.nn.bounds import crown_bounds
    from sosrelax.nn.encode import build_chain
    from sosrelax.nn.rungs import REDUCE_ABOVE, SOS_MAX_VARIABLES, RungRow

    lo = np.array([float(v) for v in d.lo])
    hi = np.array([float(v) for v in d.hi])
    reduced = net.n_relus > REDUCE_ABOVE
    size = crown_bounds(net, lo, hi).n_unstable if reduced else net.n_relus
    if size > max_certified_relus:
        what = "unstable neurons" if reduced else "ReLUs"
        budget.log.append(RungRow(idx, "screen", None, False, 0.0,
                                  f"{size} {what} exceed the certificate size limit {max_certified_relus}"))
        return None
    atoms = all_atoms(d)
    # most violated on samples first: the atom most likely false everywhere
    X = np.random.default_rng(idx).uniform(lo, hi, size=(256, lo.size))
    order = list(np.argsort(_values(atoms, net, X).max(axis=0), kind="stable"))[:3]
    schedule = [r for r in ("interval", "linear", "lp", "sdp", "sos") if r in rungs]
    if "sos" not in schedule:
        schedule.append("sos")  # tried below only for tiny encodings or degrees above two
    for rung in schedule:
        for k in order:
            if budget.left() <= 0:
                return None
            t0 = time.perf_counter()
            chain = build_chain(net, d.lo, d.hi, method="crown", eliminate_stable=reduced)
            if rung == "sos" and "sos" not in rungs:
                degs = [_degree(chain_polynomial(chain, a)) for a in atoms]
                if not (chain.n <= TINY_VARIABLES or max(degs) > 2) or chain.n > SOS_MAX_VARIABLES:
                    continue
            ok, b, cert, note = prove_poly_atom_violated(net, d, int(k), rung, chain,
                                                         time_limit=budget.left())
            budget.log.append(RungRow(idx, rung, b, ok, time.perf_counter() - t0, f"atom {k}: {note[:80]}"))
            if ok:
                return cert
    return None

"""Polynomial heads: models whose outputs are polynomials (``Mul`` of two data tensors, ``Pow`` with
an integer exponent) of tensors that the affine/ReLU lowering computes.

After its last ReLU a model may multiply data tensors: ``y = u ⊙ v``, ``y = u²``, ``y = Σ u ⊙ v``.  Such
a model is the network ``N`` of the head's variables (the entries of the tensors that enter a product,
lowered exactly by :mod:`sosrelax.nn.lower.graph`) followed by a polynomial map ``y = P(N(x))``.  A
property over ``y`` is then a property over ``N`` whose atoms are polynomials in ``N``'s outputs
(:func:`substitute`), which the exact rungs decide (:mod:`sosrelax.nn.spec_poly`); ``verify`` picks
them for polynomial atoms.  A ReLU or any other non-polynomial operator applied after a product is
refused, naming the node.

A :class:`PolyTensor` has entries ``Σ_k A[i, k] m_k + c_i`` over monomials ``m_k`` of head variables;
linear operators act on ``A`` and ``c`` as they act on an :class:`~sosrelax.nn.lower.builder.Expr`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from fractions import Fraction

import numpy as np

from sosrelax.errors import ParseError
from sosrelax.nn.lower.builder import Expr
from sosrelax.nn.vnnlib_common import Atom, PolyAtom, PolyVar, Property

__all__ = ["Head", "PolyTensor", "concatenate", "evaluate", "lower_poly_node", "starts_polynomial", "substitute"]

#: A monomial of head variables: sorted ``(variable, exponent)`` pairs.
HeadMonomial = tuple[tuple[int, int], ...]

#: Operators applied to polynomial tensors.
POLY_OPERATORS = ("Add", "Concat", "Flatten", "Gather", "Identity", "MatMul", "Mul", "Neg", "Pow",
                  "ReduceSum", "Reshape", "Slice", "Squeeze", "Sub", "Sum", "Transpose", "Unsqueeze")


@dataclass(frozen=True, eq=False)
class PolyTensor:
    """A tensor of polynomials ``A m + c`` over the monomials ``monos`` of head variables."""

    monos: tuple[HeadMonomial, ...]
    a: np.ndarray
    c: np.ndarray
    shape: tuple[int, ...]

    @property
    def size(self) -> int:
        """Number of entries."""
        return int(self.c.size)

    def apply(self, fn: Callable[[np.ndarray, bool], np.ndarray]) -> PolyTensor:
        """An affine batch function applied entrywise-linearly (as :meth:`Builder.apply`)."""
        k = len(self.monos)
        lin = fn(self.a.T.reshape(k, *self.shape), False)
        c = fn(self.c.reshape(1, *self.shape), True)
        return PolyTensor(self.monos, lin.reshape(k, -1).T.copy(), c.reshape(-1).copy(),
                          tuple(int(s) for s in c.shape[1:]))


def _common(ps: Sequence[PolyTensor]) -> tuple[tuple[HeadMonomial, ...], list[np.ndarray]]:
    """The union of the monomials of ``ps`` and each one's coefficient matrix over it."""
    monos = tuple(dict.fromkeys(m for p in ps for m in p.monos))
    pos = {m: i for i, m in enumerate(monos)}
    mats = []
    for p in ps:
        a = np.zeros((p.size, len(monos)))
        if p.monos:
            a[:, [pos[m] for m in p.monos]] = p.a
        mats.append(a)
    return monos, mats


def _mul_mono(u: HeadMonomial, v: HeadMonomial) -> HeadMonomial:
    d = dict(u)
    for var, e in v:
        d[var] = d.get(var, 0) + e
    return tuple(sorted(d.items()))


def _times(p: PolyTensor, q: PolyTensor) -> PolyTensor:
    """Entrywise product of two polynomial tensors of one shape."""
    rows: list[dict[HeadMonomial, float]] = []
    for i in range(p.size):
        left = {m: float(v) for m, v in zip(p.monos, p.a[i], strict=True) if v}
        right = {m: float(v) for m, v in zip(q.monos, q.a[i], strict=True) if v}
        if p.c[i]:
            left[()] = left.get((), 0.0) + float(p.c[i])
        if q.c[i]:
            right[()] = right.get((), 0.0) + float(q.c[i])
        out: dict[HeadMonomial, float] = {}
        for mu, cu in left.items():
            for mv, cv in right.items():
                m = _mul_mono(mu, mv)
                out[m] = out.get(m, 0.0) + cu * cv
        rows.append(out)
    monos = tuple(dict.fromkeys(m for r in rows for m in r if m))
    pos = {m: k for k, m in enumerate(monos)}
    a = np.zeros((p.size, len(monos)))
    c = np.zeros(p.size)
    for i, r in enumerate(rows):
        for m, v in r.items():
            if m:
                a[i, pos[m]] += v
            else:
                c[i] += v
    return PolyTensor(monos, a, c, p.shape)


class Head:
    """The head's variables: entries of lowered tensors that enter a product, registered in order
    (they become the outputs of the network)."""

    def __init__(self) -> None:
        self.exprs: list[Expr] = []
        self._seen: dict[int, tuple[Expr, PolyTensor]] = {}
        self.count = 0

    def of(self, v: Expr | PolyTensor | np.ndarray) -> PolyTensor:
        """``v`` as a polynomial tensor (an :class:`Expr`'s entries become head variables)."""
        if isinstance(v, PolyTensor):
            return v
        if isinstance(v, np.ndarray):
            arr = np.asarray(v, dtype=np.float64)
            return PolyTensor((), np.zeros((arr.size, 0)), arr.reshape(-1).copy(), tuple(arr.shape))
        hit = self._seen.get(id(v))
        if hit is None:
            n = v.size
            monos = tuple(((self.count + k, 1),) for k in range(n))
            hit = (v, PolyTensor(monos, np.eye(n), np.zeros(n), v.shape))
            self._seen[id(v)] = hit
            self.exprs.append(v)
            self.count += n
        return hit[1]


def starts_polynomial(op: str, values: Sequence[object]) -> bool:
    """True for a node that computes a polynomial of data beyond an affine map: an operand is
    already a :class:`PolyTensor`, or ``Mul``/``MatMul`` of two data tensors, or ``Pow`` of a data
    tensor with a constant exponent other than 1."""
    if any(isinstance(v, PolyTensor) for v in values):
        return True
    data = [v for v in values if isinstance(v, Expr)]
    if op in ("Mul", "MatMul") and len(data) == 2:
        return True
    if op == "Pow" and len(values) == 2 and isinstance(values[0], Expr) and isinstance(values[1], np.ndarray):
        return not np.all(values[1] == 1)
    return False


def _broadcast(p: PolyTensor, shape: tuple[int, ...]) -> PolyTensor:
    idx = np.broadcast_to(np.arange(p.size).reshape(p.shape), shape).reshape(-1) if p.shape else np.zeros(
        int(np.prod(shape)), dtype=np.int64)
    return PolyTensor(p.monos, p.a[idx], p.c[idx], shape)


#: ``movement()`` evaluates a data-movement node on index tensors: the positions of its data operands
#: (in the order their entries are numbered) and ``(index, constant)`` per output.
Movement = Callable[[], tuple[list[int], list[tuple[np.ndarray, np.ndarray]]]]


def lower_poly_node(head: Head, op: str, where: str, values: list[object], movement: Movement,
                    attrs: dict[str, object]) -> list[PolyTensor]:
    """The outputs of one node of the polynomial head (see :data:`Movement`)."""
    if op not in POLY_OPERATORS:
        raise ParseError(f"{where}: {op} of a product of data tensors is not supported; after a Mul or Pow "
                         f"of data tensors only {', '.join(POLY_OPERATORS)} (a polynomial head after the "
                         "last ReLU)")
    ps = [head.of(v) if v is not None else None for v in values]  # type: ignore[arg-type]
    if op in ("Mul", "Add", "Sub", "Sum"):
        present = [p for p in ps if p is not None]
        try:
            shape = tuple(int(s) for s in np.broadcast_shapes(*(p.shape for p in present)))
        except ValueError as e:
            raise ParseError(f"{where}: operand shapes do not broadcast") from e
        bs = [_broadcast(p, shape) for p in present]
        if op == "Mul":
            out = bs[0]
            for q in bs[1:]:
                out = _times(out, q)
            return [out]
        monos, mats = _common(bs)
        signs = [1.0, -1.0] if op == "Sub" else [1.0] * len(bs)
        a = sum((s * m for s, m in zip(signs, mats, strict=True)), np.zeros((bs[0].size, len(monos))))
        c = sum((s * p.c for s, p in zip(signs, bs, strict=True)), np.zeros(bs[0].size))
        return [PolyTensor(monos, a, c, shape)]
    if op == "Neg":
        neg = ps[0]
        assert neg is not None
        return [PolyTensor(neg.monos, -neg.a, -neg.c, neg.shape)]
    if op == "Pow":
        base = ps[0]
        assert base is not None
        ev: np.ndarray = np.asarray(values[1]).reshape(-1)
        if ev.size != 1 or float(ev[0]) != int(ev[0]) or int(ev[0]) < 0:
            raise ParseError(f"{where}: Pow of a data tensor needs one non-negative integer exponent, got {ev}")
        out = PolyTensor((), np.zeros((base.size, 0)), np.ones(base.size), base.shape)
        for _ in range(int(ev[0])):
            out = _times(out, base)
        return [out]
    if op == "MatMul":
        p0, q0 = ps[0], ps[1]
        assert p0 is not None and q0 is not None
        p, q = p0, q0
        if isinstance(values[1], np.ndarray) and len(p.shape) >= 1:
            w = np.asarray(values[1], dtype=np.float64)
            return [p.apply(lambda X, bias: np.matmul(X, w))]
        if len(p.shape) == 2 and len(q.shape) == 2 and p.shape[1] == q.shape[0]:  # data @ data
            rows = [[_times(_entry(p, i, k), _entry(q, k, j)) for k in range(p.shape[1])]
                    for i in range(p.shape[0]) for j in range(q.shape[1])]
            sums = [_sum_all(r) for r in rows]
            monos, mats = _common(sums)
            return [PolyTensor(monos, np.vstack(mats), np.concatenate([s.c for s in sums]),
                               (p.shape[0], q.shape[1]))]
        raise ParseError(f"{where}: MatMul of polynomial tensors of shapes {p.shape} and {q.shape} is not supported")
    if op == "ReduceSum":
        r = ps[0]
        assert r is not None
        axes_v = attrs.get("axes", values[1] if len(values) > 1 else None)
        axes = tuple(int(a) % len(r.shape) for a in np.asarray(axes_v if axes_v is not None else
                                                               range(len(r.shape))).reshape(-1))
        keep = bool(attrs.get("keepdims", 1))
        return [r.apply(lambda X, bias: X.sum(axis=tuple(a + 1 for a in axes), keepdims=keep))]
    positions, results = movement()
    data = [ps[i] for i in positions]
    outs = []
    monos, mats = _common([p for p in data if p is not None])
    a = np.vstack(mats) if mats else np.zeros((0, len(monos)))
    c = np.concatenate([p.c for p in data if p is not None]) if data else np.zeros(0)
    for index, const in results:
        flat = np.asarray(index, dtype=np.int64).reshape(-1)
        take = flat > 0
        na = np.zeros((flat.size, len(monos)))
        nc = np.asarray(const, dtype=np.float64).reshape(-1).copy()
        na[take] = a[flat[take] - 1]
        nc[take] = c[flat[take] - 1]
        outs.append(PolyTensor(monos, na, nc, tuple(int(s) for s in np.shape(index))))
    return outs


def evaluate(outputs: PolyTensor, y: np.ndarray) -> np.ndarray:
    """The polynomials at the network outputs ``y`` (float64)."""
    vals = np.array([np.prod([y[var] ** e for var, e in m]) for m in outputs.monos]) if outputs.monos else np.zeros(0)
    return outputs.a @ vals + outputs.c


def concatenate(ps: Sequence[PolyTensor]) -> PolyTensor:
    """The flattened tensors one after the other."""
    monos, mats = _common(ps)
    c = np.concatenate([p.c for p in ps])
    return PolyTensor(monos, np.vstack(mats), c, (c.size,))


def _entry(p: PolyTensor, i: int, j: int) -> PolyTensor:
    k = i * p.shape[1] + j
    return PolyTensor(p.monos, p.a[k:k + 1], p.c[k:k + 1], (1,))


def _sum_all(ps: list[PolyTensor]) -> PolyTensor:
    monos, mats = _common(ps)
    return PolyTensor(monos, sum(mats, np.zeros((1, len(monos)))), sum((p.c for p in ps), np.zeros(1)), (1,))


# ------------------------------------------------------------------------------------------------
# properties over the model's outputs -> properties over the network's outputs

_Poly = dict[tuple[tuple[PolyVar, int], ...], Fraction]


def _pmul(u: _Poly, v: _Poly) -> _Poly:
    out: _Poly = {}
    for mu, cu in u.items():
        for mv, cv in v.items():
            d = dict(mu)
            for var, e in mv:
                d[var] = d.get(var, 0) + e
            m = tuple(sorted(d.items()))
            out[m] = out.get(m, Fraction(0)) + cu * cv
    return {m: c for m, c in out.items() if c}


def _output_polys(outputs: PolyTensor) -> list[_Poly]:
    """Model output ``j`` as an exact polynomial over the network's outputs ``("Y", 0, k)``."""
    polys = []
    for i in range(outputs.size):
        p: _Poly = {}
        for m, v in zip(outputs.monos, outputs.a[i], strict=True):
            if v:
                key = tuple(sorted((("Y", 0, var), e) for var, e in m))
                p[key] = p.get(key, Fraction(0)) + Fraction(float(v))
        if outputs.c[i]:
            p[()] = p.get((), Fraction(0)) + Fraction(float(outputs.c[i]))
        polys.append({m: c for m, c in p.items() if c})
    return polys


def substitute(prop: Property, outputs: PolyTensor, n_network_outputs: int) -> Property:
    """``prop`` (over the model's outputs) as a property over the network's outputs: every output
    variable replaced by its exact polynomial; atoms that stay linear stay :class:`Atom`."""
    ys = _output_polys(outputs)
    if prop.n_outputs != len(ys):
        raise ParseError(f"{prop.source}: the property has {prop.n_outputs} outputs but the model {len(ys)}")

    def expand(terms: list[tuple[tuple[tuple[PolyVar, int], ...], Fraction]]) -> _Poly:
        total: _Poly = {}
        for m, coef in terms:
            acc: _Poly = {(): coef}
            for var, e in m:
                sub: _Poly = ys[var[2]] if var[0] == "Y" else {((var, 1),): Fraction(1)}
                for _ in range(e):
                    acc = _pmul(acc, sub)
            for k, v in acc.items():
                total[k] = total.get(k, Fraction(0)) + v
        return {k: v for k, v in total.items() if v}

    def atom(p: _Poly, strict: bool, line: int) -> Atom | PolyAtom:
        if all(len(m) <= 1 and all(e == 1 for _, e in m) for m in p):
            x = tuple(sorted((m[0][0][2], c) for m, c in p.items() if m and m[0][0][0] == "X"))
            y = tuple(sorted((m[0][0][2], c) for m, c in p.items() if m and m[0][0][0] == "Y"))
            return Atom(x, y, p.get((), Fraction(0)), strict)
        return PolyAtom(tuple(sorted(p.items())), strict, line)

    disjuncts = []
    for d in prop.disjuncts:
        new: list[Atom | PolyAtom] = []
        for a in d.atoms:
            terms = [((((("X", 0, i), 1),)), c) for i, c in a.x] + [((((("Y", 0, j), 1),)), c) for j, c in a.y]
            new.append(atom(expand([*terms, ((), a.const)]), a.strict, 0))
        for pa in d.poly:
            new.append(atom(expand(list(pa.terms)), pa.strict, pa.line))
        disjuncts.append(replace(d, atoms=tuple(a for a in new if isinstance(a, Atom)),
                                 poly=tuple(a for a in new if isinstance(a, PolyAtom))))
    return replace(prop, n_outputs=n_network_outputs, disjuncts=tuple(disjuncts), networks=())

"""Exact lowering of piecewise-linear tensor programs into the affine/ReLU chain of the IR.

Every tensor of the program is an :class:`Expr`: an affine function ``A h_d + c`` of the
post-activations ``h_d`` of one hidden layer ``d`` of the network being built (``h_0 = x``, the
input).  The :class:`Builder` grows the layers: applying ``relu`` to a tensor of depth ``d`` adds
units to layer ``d + 1``; an affine operator only changes ``(A, c)``; operands of different depths
are brought to the same depth by carrying the shallower one through a ReLU layer as
``v = relu(v + S) - relu(-v - S) - S`` (exact for any shift ``S``; with ``S`` =
:data:`CARRY_SHIFT` both units are stable on every box where ``|v| < S``, so bounds carry ``v``
without loss).  The piecewise-linear operators are exact ReLU sub-networks:

.. math::

    |v| = \\operatorname{relu}(v) + \\operatorname{relu}(-v),\\quad
    \\max(a, b) = \\operatorname{relu}(a - b) + \\operatorname{relu}(b) - \\operatorname{relu}(-b),

    \\operatorname{leaky}_\\alpha(v) = \\operatorname{relu}(v) - \\alpha\\,\\operatorname{relu}(-v),\\quad
    \\operatorname{clip}_{[l, u]}(v) = l + \\operatorname{relu}(v - l) - \\operatorname{relu}(v - u)
    \\ (l \\le u),

and the maximum of ``k`` values is a tournament of ``⌈log2 k⌉`` such layers.  Nothing is
approximated: the network :meth:`Builder.finish` returns computes the program in real arithmetic.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from sosrelax.errors import InvalidValueError
from sosrelax.nn.ir import Network

__all__ = ["CARRY_SHIFT", "BatchFn", "Builder", "Expr"]

#: A value ``v`` is carried through a ReLU layer as ``relu(v + S) - relu(-v - S) - S`` (exact for every
#: ``v``).  Where ``|v| < S`` on an input box both units are stable (the first active, the second
#: inactive), so linear bounds carry ``v`` without loss; ``relu(v) - relu(-v)`` would cross zero.
CARRY_SHIFT = 1024.0

#: ``f(X, bias)`` maps a batch ``(m, *shape)`` to ``(m, *new_shape)`` affinely; ``bias=False`` gives the
#: linear part (constants switched off).
BatchFn = Callable[[np.ndarray, bool], np.ndarray]


@dataclass(frozen=True, eq=False)
class Expr:
    """A tensor ``A h_depth + c`` of shape ``shape`` (``A`` may have fewer columns than the layer has
    units when units were added later: the missing columns are zero)."""

    depth: int
    a: np.ndarray
    c: np.ndarray
    shape: tuple[int, ...]

    @property
    def size(self) -> int:
        """Number of entries."""
        return int(self.c.size)


class Builder:
    """Grows the layers of a ReLU network out of tensor operations (see the module docstring).

    Parameters
    ----------
    n_inputs : int
        Length of the network's (flattened, concatenated) input.
    """

    def __init__(self, n_inputs: int) -> None:
        self.widths = [int(n_inputs)]
        self._rows: list[list[np.ndarray]] = []
        self._bias: list[list[np.ndarray]] = []
        self._lifted: dict[int, tuple[Expr, Expr]] = {}
        self._keys: list[dict[tuple[bytes, bytes, bytes], int]] = []

    @property
    def depth(self) -> int:
        """Number of hidden (ReLU) layers so far."""
        return len(self._rows)

    def input(self, offset: int, shape: tuple[int, ...]) -> Expr:
        """The input entries ``x[offset : offset + prod(shape)]`` as a tensor of ``shape``."""
        n = int(np.prod(shape))
        a = np.zeros((n, self.widths[0]))
        a[np.arange(n), offset + np.arange(n)] = 1.0
        return Expr(0, a, np.zeros(n), tuple(shape))

    def full(self, e: Expr) -> np.ndarray:
        """``e``'s coefficient matrix over every unit of its layer."""
        w = self.widths[e.depth]
        if e.a.shape[1] == w:
            return e.a
        return np.hstack([e.a, np.zeros((e.a.shape[0], w - e.a.shape[1]))])

    # affine -------------------------------------------------------------------------------------
    def apply(self, e: Expr, fn: BatchFn) -> Expr:
        """``fn`` applied to the tensor: the linear part to the columns of ``A``, all of it to ``c``."""
        w = e.a.shape[1]
        lin = fn(e.a.T.reshape(w, *e.shape), False)
        c = fn(e.c.reshape(1, *e.shape), True)
        shape = tuple(int(s) for s in c.shape[1:])
        return Expr(e.depth, lin.reshape(w, -1).T.copy(), c.reshape(-1).copy(), shape)

    def combine(self, es: Sequence[Expr], fn: Callable[[list[np.ndarray], bool], np.ndarray]) -> Expr:
        """``fn`` (affine in all its operands jointly) of several tensors, brought to one depth."""
        d = max(e.depth for e in es)
        es = [self.lift(e, d) for e in es]
        w = self.widths[d]
        mats = [self.full(e) for e in es]
        lin = fn([m.T.reshape(w, *e.shape) for m, e in zip(mats, es, strict=True)], False)
        c = fn([e.c.reshape(1, *e.shape) for e in es], True)
        shape = tuple(int(s) for s in c.shape[1:])
        return Expr(d, lin.reshape(w, -1).T.copy(), c.reshape(-1).copy(), shape)

    def select(self, es: Sequence[Expr], index: np.ndarray, const: np.ndarray) -> Expr:
        """The tensor whose entry ``i`` is entry ``index[i] - 1`` of the concatenated ``es`` (flattened)
        when ``index[i] > 0`` and ``const[i]`` otherwise (``index``'s shape is the result's)."""
        d = max(e.depth for e in es)
        lifted = [self.lift(e, d) for e in es]
        a = np.vstack([self.full(e) for e in lifted])
        c = np.concatenate([e.c for e in lifted])
        flat = np.asarray(index, dtype=np.int64).reshape(-1)
        take = flat > 0
        out_a = np.zeros((flat.size, a.shape[1]))
        out_c = np.asarray(const, dtype=np.float64).reshape(-1).copy()
        out_a[take] = a[flat[take] - 1]
        out_c[take] = c[flat[take] - 1]
        return Expr(d, out_a, out_c, tuple(int(s) for s in np.shape(index)))

    # ReLU layers --------------------------------------------------------------------------------
    def _units(self, depth: int, a: np.ndarray, c: np.ndarray) -> np.ndarray:
        """Units ``relu(a h_depth + c)`` of layer ``depth + 1``, one per row: their indices there.  A
        row equal to a unit the layer already has reuses it (so networks side by side share their
        common prefix, and bounds see one neuron, not two that happen to be equal)."""
        if depth > self.depth:
            raise InvalidValueError(f"internal: no layer {depth} to build on")  # pragma: no cover
        if depth == self.depth:
            self._rows.append([])
            self._bias.append([])
            self._keys.append({})
            self.widths.append(0)
        a = np.asarray(a, dtype=np.float64)
        c = np.asarray(c, dtype=np.float64).reshape(-1)
        keys = self._keys[depth]
        ix = np.empty(a.shape[0], dtype=np.int64)
        new: list[int] = []
        for r in range(a.shape[0]):
            nz = np.flatnonzero(a[r])
            key = (nz.tobytes(), a[r, nz].tobytes(), c[r].tobytes())
            hit = keys.get(key)
            if hit is None:
                hit = keys[key] = self.widths[depth + 1] + len(new)
                new.append(r)
            ix[r] = hit
        if new:
            w = self.widths[depth]
            rows = a[new]
            if rows.shape[1] < w:
                rows = np.hstack([rows, np.zeros((rows.shape[0], w - rows.shape[1]))])
            self._rows[depth].append(rows)
            self._bias[depth].append(c[new])
            self.widths[depth + 1] += len(new)
        return ix

    def units(self, e: Expr, blocks: Sequence[tuple[ArrayLike, ArrayLike, ArrayLike]],
              const: np.ndarray | float = 0.0, shape: tuple[int, ...] | None = None) -> Expr:
        """``Σ_k mix_k · relu(s_k ⊙ e + t_k) + const`` for ``blocks = [(s_k, t_k, mix_k)]``: each block
        adds ``e.size`` units (scale ``s_k`` and shift ``t_k`` entrywise), ``mix_k`` (entrywise) weighs
        them in the result."""
        n = e.size
        a = self.full(e)
        rows = [a * np.asarray(s, dtype=np.float64).reshape(-1, 1) for s, _, _ in blocks]
        bias = [e.c * np.asarray(s, dtype=np.float64).reshape(-1) + np.asarray(t, dtype=np.float64).reshape(-1)
                for s, t, _ in blocks]
        ix = self._units(e.depth, np.vstack(rows), np.concatenate(bias))
        out = np.zeros((n, self.widths[e.depth + 1]))
        r = np.arange(n)
        for k, (_, _, mix) in enumerate(blocks):
            np.add.at(out, (r, ix[k * n + r]), np.broadcast_to(np.asarray(mix, dtype=np.float64).reshape(-1), (n,)))
        c = np.broadcast_to(np.asarray(const, dtype=np.float64).reshape(-1), (n,)).copy()
        return Expr(e.depth + 1, out, c, shape or e.shape)

    def relu(self, e: Expr) -> Expr:
        """``max(e, 0)``."""
        return self.units(e, [(1.0, 0.0, 1.0)])

    def nonneg(self, a: np.ndarray, c: np.ndarray, depth: int) -> np.ndarray:
        """Rows of ``a h_depth + c`` that are ``>= 0`` for every input: non-negative coefficients over
        ReLU outputs (``depth >= 1``) and a non-negative constant."""
        if depth == 0:
            return np.zeros(a.shape[0], dtype=bool)
        return np.all(a >= 0, axis=1) & (c >= 0)

    def lift(self, e: Expr, depth: int) -> Expr:
        """The same tensor at a deeper layer, carried by :data:`CARRY_SHIFT` units (memoised)."""
        while e.depth < depth:
            hit = self._lifted.get(id(e))
            if hit is None:
                hit = (e, self._carry(e))
                self._lifted[id(e)] = hit  # e is kept alive by the entry: ids stay unique
            e = hit[1]
        return e

    def _carry(self, e: Expr) -> Expr:
        s = CARRY_SHIFT
        if self.nonneg(e.a, e.c, e.depth).all():  # relu(v) = v, and the result stays visibly >= 0
            return self.relu(e)
        return self.units(e, [(1.0, s, 1.0), (-1.0, -s, -1.0)], -s)

    def maximum(self, e: Expr, groups: np.ndarray, shape: tuple[int, ...]) -> Expr:
        """Entry ``o`` is the maximum of the entries ``groups[o, j]`` of ``e`` that are ``>= 0`` (every
        row has at least one); a tournament ``max(a, b) = relu(a - b) + b`` with ``b`` (and an odd
        entry out) carried as ``relu(b + S) - relu(-b - S) - S`` (:data:`CARRY_SHIFT`), or as
        ``relu(b)`` where ``b >= 0`` for every input."""
        g = np.asarray(groups, dtype=np.int64)
        if g.ndim != 2 or np.any(g.max(axis=1) < 0):
            raise InvalidValueError("internal: a maximum over no entries")  # pragma: no cover
        a, c, depth = self.full(e), e.c, e.depth
        n = g.shape[0]
        s = CARRY_SHIFT
        while g.shape[1] > 1:
            if g.shape[1] % 2:
                g = np.hstack([g, -np.ones((n, 1), dtype=np.int64)])
            ga, gb = g[:, 0::2], g[:, 1::2]
            both = (ga >= 0) & (gb >= 0)
            one = (ga >= 0) ^ (gb >= 0)
            ia, ib = ga[both], gb[both]
            js = np.where(ga >= 0, ga, gb)[one]
            pos = self.nonneg(a, c, depth)
            nb, ns = ia.size, js.size
            neg_b, neg_s = np.flatnonzero(~pos[ib]), np.flatnonzero(~pos[js])  # need relu(-v - S) too
            sb, sj = np.where(pos[ib], 0.0, s), np.where(pos[js], 0.0, s)  # no shift for v >= 0
            ua = np.vstack([a[ia] - a[ib], a[ib], a[js], -a[ib[neg_b]], -a[js[neg_s]]])
            uc = np.concatenate([c[ia] - c[ib], c[ib] + sb, c[js] + sj, -c[ib[neg_b]] - s, -c[js[neg_s]] - s])
            ix = self._units(depth, ua, uc)
            depth += 1
            na = np.zeros((nb + ns, self.widths[depth]))
            rb, rs = np.arange(nb), np.arange(ns)
            k = 2 * nb + ns
            rows = np.concatenate([rb, rb, nb + rs, neg_b, nb + neg_s])
            vals = np.concatenate([np.ones(k), -np.ones(neg_b.size + neg_s.size)])
            np.add.at(na, (rows, ix), vals)
            ng = -np.ones(ga.shape, dtype=np.int64)
            ng[both] = rb
            ng[one] = nb + rs
            a, c, g = na, -np.concatenate([sb, sj]), ng
        idx = g[:, 0]
        return Expr(depth, a[idx], c[idx], shape)

    # the network --------------------------------------------------------------------------------
    def finish(self, outputs: Sequence[Expr], *, input_shape: tuple[int, ...] = (), name: str = ""
               ) -> tuple[Network, list[Expr]]:
        """The network whose output is the concatenation of ``outputs``; also the outputs carried
        to the last layer (for binding tensor names)."""
        depth = self.depth
        outs = [self.lift(e, depth) for e in outputs]
        weights: list[np.ndarray] = []
        biases: list[np.ndarray] = []
        for k in range(depth):
            w = self.widths[k]
            blocks = [np.hstack([r, np.zeros((r.shape[0], w - r.shape[1]))]) if r.shape[1] < w else r
                      for r in self._rows[k]]
            weights.append(np.vstack(blocks))
            biases.append(np.concatenate(self._bias[k]))
        weights.append(np.vstack([self.full(e) for e in outs]))
        biases.append(np.concatenate([e.c for e in outs]))
        return Network(tuple(weights), tuple(biases), input_shape=input_shape, name=name), outs

    def layer(self, k: int) -> tuple[np.ndarray, np.ndarray]:
        """``(W, b)`` of hidden layer ``k + 1`` as built so far (over every unit of layer ``k``)."""
        w = self.widths[k]
        rows = [np.hstack([r, np.zeros((r.shape[0], w - r.shape[1]))]) if r.shape[1] < w else r
                for r in self._rows[k]]
        return np.vstack(rows), np.concatenate(self._bias[k])

"""What the VNN-LIB 1.0 and 2.0 readers share: the property's data types and their limits.

A property is a disjunction of :class:`Disjunct` (an input box, linear :class:`Atom` and polynomial
:class:`PolyAtom` constraints); it is *sat* when some disjunct has a point.  The readers
(:mod:`sosrelax.nn.vnnlib`, :mod:`sosrelax.nn.vnnlib2`) build them with :func:`to_disjunct` and
refuse, with a :class:`~sosrelax.errors.ParseError`, text nested deeper than :data:`MAX_NESTING`,
properties of more than :data:`MAX_DISJUNCTS` disjuncts and numbers outside the float64 range.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from fractions import Fraction

from sosrelax.errors import ParseError

__all__ = [
    "MAX_DISJUNCTS",
    "MAX_NESTING",
    "Atom",
    "Disjunct",
    "HiddenTensor",
    "Monomial",
    "NetworkDecl",
    "PolyAtom",
    "PolyVar",
    "Property",
    "check_finite",
    "check_nesting",
    "to_disjunct",
]

#: Most disjuncts a property may expand to (disjunctive normal form).
MAX_DISJUNCTS = 10_000
#: Deepest nesting of parentheses read (real properties nest a handful of levels).
MAX_NESTING = 200
#: Largest magnitude of a number in a property: the float64 range (the network is evaluated in floats).
_FLOAT_MAX = Fraction(sys.float_info.max)


def check_nesting(text: str, source: str, *, ascii_only: bool = False) -> None:
    """Refuse ``text`` whose parentheses nest deeper than :data:`MAX_NESTING` (comments after ``;``
    and ``"quoted"`` names are skipped) and, with ``ascii_only``, text with a non-ASCII character
    anywhere; the message names the line."""
    depth = 0
    for lineno, line in enumerate(text.splitlines(), 1):
        if ascii_only and not line.isascii():
            col = next(i for i, ch in enumerate(line) if not ch.isascii())
            raise ParseError(f"{source}:{lineno}:{col + 1}: non-ASCII character {line[col]!r}; VNN-LIB text "
                             "is ASCII")
        quoted = False
        for ch in line:
            if ch == '"':
                quoted = not quoted
            elif quoted:
                continue
            elif ch == ";":
                break
            elif ch == "(":
                depth += 1
                if depth > MAX_NESTING:
                    raise ParseError(f"{source}:{lineno}: parentheses nested deeper than {MAX_NESTING} "
                                     "levels; flatten the formula (and/or take any number of arguments)")
            elif ch == ")":
                depth = max(0, depth - 1)


def check_finite(value: Fraction, where: str, text: str) -> Fraction:
    """``value`` when it lies in the float64 range; else a :class:`ParseError` naming ``where`` and
    ``text`` (how the number was written)."""
    if abs(value) > _FLOAT_MAX:
        raise ParseError(f"{where}: {text} is outside the float64 range "
                         f"(±{sys.float_info.max:.6g}); the network is evaluated in floats")
    return value


@dataclass(frozen=True)
class Atom:
    """``Σ x[i]·X_i + Σ y[j]·Y_j + const >= 0`` (``> 0`` when ``strict``)."""

    x: tuple[tuple[int, Fraction], ...]
    y: tuple[tuple[int, Fraction], ...]
    const: Fraction
    strict: bool = False

    def value(self, xv: list[Fraction], yv: list[Fraction]) -> Fraction:
        """Exact value of the left-hand side."""
        return (sum((c * xv[i] for i, c in self.x), Fraction(0))
                + sum((c * yv[j] for j, c in self.y), Fraction(0)) + self.const)

    def holds(self, xv: list[Fraction], yv: list[Fraction]) -> bool:
        """Exact truth at a point."""
        v = self.value(xv, yv)
        return v > 0 if self.strict else v >= 0


#: A variable of a polynomial atom: ``("X", 0, i)`` input, ``("Y", 0, j)`` output, ``("H", t, k)``
#: entry ``k`` (row-major) of declared hidden tensor ``t``; once bound to a network, ``("Z", l, j)``
#: pre-activation and ``("R", l, j)`` post-activation of neuron ``j`` of hidden layer ``l``.
PolyVar = tuple[str, int, int]

#: A monomial: ``(variable, exponent)`` pairs, sorted, exponents >= 1 (empty: the constant 1).
Monomial = tuple[tuple[PolyVar, int], ...]


@dataclass(frozen=True)
class PolyAtom:
    """``Σ c_m · m >= 0`` (``> 0`` when ``strict``) for monomials ``m`` of :data:`PolyVar` variables.

    Coefficients are exact rationals; ``line`` is the line of the atom in its file (0: unknown).
    """

    terms: tuple[tuple[Monomial, Fraction], ...]
    strict: bool = False
    line: int = 0

    @property
    def degree(self) -> int:
        """Total degree."""
        return max((sum(e for _, e in m) for m, _ in self.terms), default=0)

    @property
    def variables(self) -> frozenset[PolyVar]:
        """The variables that occur."""
        return frozenset(v for m, _ in self.terms for v, _ in m)

    def value(self, xv: list[Fraction], yv: list[Fraction],
              zs: list[list[Fraction]] | None = None) -> Fraction:
        """Exact value; ``zs`` are the pre-activations of every layer (``Network.activations_exact``),
        needed when the atom mentions hidden neurons."""
        total = Fraction(0)
        for m, c in self.terms:
            t = c
            for (kind, a, b), e in m:
                if kind == "X":
                    v = xv[b]
                elif kind == "Y":
                    v = yv[b]
                elif kind in ("Z", "R") and zs is not None:
                    v = zs[a][b]
                    if kind == "R" and v < 0:
                        v = Fraction(0)
                else:
                    raise ValueError(f"the atom mentions {kind}[{a}, {b}], which is not bound to a network "
                                     "layer; bind the property first (spec_poly.bind_hidden)")
                t *= v**e
            total += t
        return total

    def holds(self, xv: list[Fraction], yv: list[Fraction], zs: list[list[Fraction]] | None = None) -> bool:
        """Exact truth at a point."""
        v = self.value(xv, yv, zs)
        return v > 0 if self.strict else v >= 0


@dataclass(frozen=True)
class HiddenTensor:
    """A ``declare-hidden`` tensor: VNN-LIB name, ONNX tensor name, shape and declaring line.

    ``layer`` and ``stage`` (``"pre"`` or ``"post"`` activation) are set once bound to a network.
    """

    name: str
    onnx_name: str
    shape: tuple[int, ...]
    line: int = 0
    layer: int | None = None
    stage: str | None = None

    @property
    def size(self) -> int:
        """Number of entries."""
        n = 1
        for s in self.shape:
            n *= s
        return n


@dataclass(frozen=True)
class Disjunct:
    """One conjunction: the input box ``lo <= X <= hi``, the linear atoms and the polynomial ones."""

    lo: tuple[Fraction, ...]
    hi: tuple[Fraction, ...]
    atoms: tuple[Atom, ...]
    poly: tuple[PolyAtom, ...] = ()

    def holds(self, xv: list[Fraction], yv: list[Fraction], zs: list[list[Fraction]] | None = None) -> bool:
        """Exact truth of the conjunction (box included); ``zs`` as in :meth:`PolyAtom.value`."""
        return (all(a <= v <= b for a, v, b in zip(self.lo, xv, self.hi, strict=True))
                and all(a.holds(xv, yv) for a in self.atoms)
                and all(p.holds(xv, yv, zs) for p in self.poly))


@dataclass(frozen=True)
class NetworkDecl:
    """A network declared by a VNN-LIB 2.0 property and where its tensors sit in the property's
    combined input vector ``X`` and output vector ``Y``.

    ``inputs`` and ``outputs`` are ``(name, shape, indices)``: entry ``k`` (row-major) of the tensor is
    ``X[indices[k]]`` (``Y[indices[k]]``).  Inputs of several networks that the property equates
    entry by entry (``(assert (== X[0] X2[0]))``) share an index.  ``equal_to`` names a network this
    one is declared equal to (same model), ``isomorphic_to`` one of the same architecture.
    """

    name: str
    inputs: tuple[tuple[str, tuple[int, ...], tuple[int, ...]], ...]
    outputs: tuple[tuple[str, tuple[int, ...], tuple[int, ...]], ...]
    equal_to: str = ""
    isomorphic_to: str = ""


@dataclass(frozen=True)
class Property:
    """A VNN-LIB property: sat iff some disjunct has a point.

    ``networks`` (VNN-LIB 2.0) lays out the declared networks' inputs and outputs in ``X`` and ``Y``;
    with several networks the property speaks about their side-by-side combination
    (:func:`sosrelax.nn.lower.combine.combine_networks`).
    """

    n_inputs: int
    n_outputs: int
    disjuncts: tuple[Disjunct, ...]
    source: str = ""
    hidden: tuple[HiddenTensor, ...] = ()
    networks: tuple[NetworkDecl, ...] = ()


def to_disjunct(conj: list[Atom], nx: int, source: str) -> Disjunct | None:
    """Split single-input atoms into the box; ``None`` when the box is empty."""
    lo: list[Fraction | None] = [None] * nx
    hi: list[Fraction | None] = [None] * nx
    rest: list[Atom] = []
    for a in conj:
        if len(a.x) == 1 and not a.y and not a.strict:
            i, c = a.x[0]
            v = -a.const / c
            if c > 0:  # c X + d >= 0  ->  X >= -d/c
                lo[i] = v if lo[i] is None else max(lo[i], v)  # type: ignore[type-var]
            else:
                hi[i] = v if hi[i] is None else min(hi[i], v)  # type: ignore[type-var]
        else:
            rest.append(a)
    missing = [i for i in range(nx) if lo[i] is None or hi[i] is None]
    if missing:
        raise ParseError(f"{source}: input X_{missing[0]} has no lower and upper bound (a box is required)")
    if any(a > b for a, b in zip(lo, hi, strict=True)):  # type: ignore[operator]
        return None
    return Disjunct(tuple(lo), tuple(hi), tuple(rest))  # type: ignore[arg-type]

"""VNN-LIB 2.0 properties, read through the ``vnnlib`` parser package, as a :class:`Property`.

Supported: one network (``declare-network``) with one input and one output tensor of any shape
(flattened row-major into ``X_i`` and ``Y_j``), assertions built from ``and``, ``or``,
``<=``, ``>=``, ``<``, ``>``, ``==`` over linear arithmetic (theories NH, SIO, SNET, BND/OUTC/LIN).
The package's DNF of each assertion is combined into disjuncts exactly like VNN-LIB 1.0.

Numbers: the package hands coefficients over as floats; each is read as the shortest decimal that
rounds to it (``repr``), which is the decimal written in the file for every ordinary literal, and
then taken as an exact rational.

Not supported yet, with an error naming the line and the construct: hidden-node declarations
(``declare-hidden``), products of variables (POLY), several networks or several inputs/outputs,
``!=``.
"""

from __future__ import annotations

import os
from fractions import Fraction
from pathlib import Path
from typing import Any

from sosrelax.errors import ParseError
from sosrelax.nn.vnnlib import _MAX_DISJUNCTS, Atom, Disjunct, Property, _to_disjunct

__all__ = ["is_vnnlib2", "parse_vnnlib2", "read_vnnlib2"]


def is_vnnlib2(text: str) -> bool:
    """True when the text declares ``(vnnlib-version <2.…>)`` or a ``declare-network``."""
    head = text[:4096]
    return "vnnlib-version" in head or "declare-network" in head


def read_vnnlib2(path: str | os.PathLike[str]) -> Property:
    """Read a VNN-LIB 2.0 file (see :func:`parse_vnnlib2`)."""
    p = Path(path)
    if not p.is_file():
        raise ParseError(f"{p}: no such VNN-LIB file")
    return parse_vnnlib2(p.read_text(), source=str(p))


def _exact(v: float) -> Fraction:
    return Fraction(repr(float(v)))


def _flat(indices: list[int], shape: tuple[int, ...], where: str) -> int:
    if len(indices) != len(shape) or any(not 0 <= i < s for i, s in zip(indices, shape, strict=False)):
        raise ParseError(f"{where}: index {indices} outside the declared shape {list(shape)}")
    k = 0
    for i, s in zip(indices, shape, strict=True):
        k = k * s + i
    return k


def parse_vnnlib2(text: str, *, source: str = "<string>") -> Property:
    """Parse VNN-LIB 2.0 text into disjuncts of linear atoms over the flattened input and output."""
    try:
        import vnnlib
    except ImportError as e:  # pragma: no cover - the onnx extra installs it
        raise ParseError("reading VNN-LIB 2.0 needs the 'vnnlib' package (pip install vnnlib)") from e
    try:
        q = vnnlib.parse_query_string(text)
    except vnnlib.VNNLibException as e:
        raise ParseError(f"{source}: {str(e).strip()}") from e
    nets = list(q.networks)
    if len(nets) != 1:
        raise ParseError(f"{source}: {len(nets)} networks declared; only one (SNET) is supported")
    net = nets[0]
    if list(net.hidden):
        raise ParseError(f"{source}: hidden-node declarations (declare-hidden) are not supported yet")
    if len(list(net.inputs)) != 1 or len(list(net.outputs)) != 1:
        raise ParseError(f"{source}: one input and one output tensor are supported (SIO)")
    inp, out = list(net.inputs)[0], list(net.outputs)[0]
    in_shape = tuple(int(s) for s in inp.shape)
    out_shape = tuple(int(s) for s in out.shape)
    nx = 1
    for s in in_shape:
        nx *= s
    ny = 1
    for s in out_shape:
        ny *= s

    def lin(expr: Any, where: str) -> dict[Any, Fraction]:
        try:
            le = expr.to_linear_expr()
        except Exception as e:
            raise ParseError(f"{where}: {expr} is not linear (POLY arithmetic is not supported yet)") from e
        d: dict[Any, Fraction] = {}
        for t in le.terms:
            v = t.var
            kind = str(v.kind)
            if kind.endswith("Input"):
                key = ("X", _flat(list(v.indices), in_shape, where))
            elif kind.endswith("Output"):
                key = ("Y", _flat(list(v.indices), out_shape, where))
            else:
                raise ParseError(f"{where}: {t.var_name} is a hidden node; not supported yet")
            d[key] = d.get(key, Fraction(0)) + _exact(t.coeff)
        d[None] = d.get(None, Fraction(0)) + _exact(le.constant)
        return d

    def atom(d: dict[Any, Fraction], strict: bool) -> Atom:
        x = tuple(sorted((k[1], v) for k, v in d.items() if k is not None and k[0] == "X" and v))
        y = tuple(sorted((k[1], v) for k, v in d.items() if k is not None and k[0] == "Y" and v))
        return Atom(x, y, d.get(None, Fraction(0)), strict)

    def diff(a: dict[Any, Fraction], b: dict[Any, Fraction]) -> dict[Any, Fraction]:
        out_ = dict(a)
        for k, v in b.items():
            out_[k] = out_.get(k, Fraction(0)) - v
        return out_

    dnf: list[list[Atom]] = [[]]
    for n_a, a in enumerate(q.assertions):
        where = f"{source}: assertion {n_a + 1}"
        alts: list[list[Atom]] = []
        for conj in a.expr.to_dnf():
            atoms: list[Atom] = []
            for c in conj:
                lhs, rhs = lin(c.lhs, where), lin(c.rhs, where)
                name = type(c).__name__
                if name in ("GreaterEqual", "GreaterThan"):
                    atoms.append(atom(diff(lhs, rhs), name == "GreaterThan"))
                elif name in ("LessEqual", "LessThan"):
                    atoms.append(atom(diff(rhs, lhs), name == "LessThan"))
                elif name == "Equal":
                    atoms += [atom(diff(lhs, rhs), False), atom(diff(rhs, lhs), False)]
                else:
                    raise ParseError(f"{where}: comparison {name} is not supported")
            alts.append(atoms)
        if len(dnf) * len(alts) > _MAX_DISJUNCTS:
            raise ParseError(f"{source}: the property expands to more than {_MAX_DISJUNCTS} disjuncts")
        dnf = [x + y for x in dnf for y in alts]
    disjuncts: list[Disjunct] = []
    for atoms_ in dnf:
        d = _to_disjunct(atoms_, nx, source)
        if d is not None:
            disjuncts.append(d)
    return Property(nx, ny, tuple(disjuncts), source)

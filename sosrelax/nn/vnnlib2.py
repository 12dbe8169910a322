"""VNN-LIB 2.0 properties, read through the ``vnnlib`` parser package, as a :class:`Property`.

Supported: any number of networks (``declare-network``; theories SNET and MNET, with ``equal-to`` and
``isomorphic-to`` declarations), each with any number of input and output tensors of any shape (SIO
and MIO): the inputs and outputs of every network are flattened row-major and concatenated, network
after network and tensor after tensor in declaration order, into ``X_i`` and ``Y_j``
(:class:`~sosrelax.nn.vnnlib_common.NetworkDecl` records where each one sits).  An assertion that only
equates inputs of different networks entry by entry (``(assert (== X[0] X2[0]))``, or an ``and`` of
such equalities) makes them one variable; the property then speaks about the side-by-side network of
:func:`sosrelax.nn.lower.combine.combine_networks`.  With one network, any number of hidden tensors
(``declare-hidden NAME TYPE SHAPE "onnx-name"``, theory H); assertions built from ``and``, ``or``,
``<=``, ``>=``, ``<``, ``>``, ``==`` over polynomial arithmetic (``+``, ``-``, ``*`` of variables and
numbers: theories BND, OUTC, LIN and POLY), comparisons between outputs of different networks
included.  The package's DNF of each assertion is combined into disjuncts exactly like VNN-LIB 1.0.

An atom that is linear in inputs and outputs becomes an :class:`~sosrelax.nn.vnnlib.Atom` (single-input
bounds form the box); any other atom — a product of variables, or one that mentions a hidden
tensor — becomes a :class:`~sosrelax.nn.vnnlib.PolyAtom` with exact rational coefficients and
integer exponents.  Hidden variables stay ``("H", tensor, entry)`` until
:func:`sosrelax.nn.spec_poly.bind_hidden` maps each hidden tensor onto a layer of the network
(:func:`sosrelax.nn.verify.verify` does it).

Numbers are taken as exact rationals of the literal text written in the file (its lexeme).

Not supported, with an error naming the line and the construct: hidden tensors in a property over
several networks, ``!=``.
"""

from __future__ import annotations

import os
from dataclasses import replace
from fractions import Fraction
from pathlib import Path
from typing import Any

from sosrelax.errors import ParseError
from sosrelax.nn.vnnlib_common import (
    MAX_DISJUNCTS,
    Atom,
    Disjunct,
    HiddenTensor,
    Monomial,
    NetworkDecl,
    PolyAtom,
    PolyVar,
    Property,
    check_finite,
    check_nesting,
    to_disjunct,
)

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


_Poly = dict[Monomial, Fraction]


def _mul_mono(a: Monomial, b: Monomial) -> Monomial:
    d: dict[PolyVar, int] = dict(a)
    for v, e in b:
        d[v] = d.get(v, 0) + e
    return tuple(sorted(d.items()))


def _p_add(a: _Poly, b: _Poly, sign: int = 1) -> _Poly:
    out = dict(a)
    for m, c in b.items():
        out[m] = out.get(m, Fraction(0)) + sign * c
    return {m: c for m, c in out.items() if c}


def _p_mul(a: _Poly, b: _Poly) -> _Poly:
    out: _Poly = {}
    for ma, ca in a.items():
        for mb, cb in b.items():
            m = _mul_mono(ma, mb)
            out[m] = out.get(m, Fraction(0)) + ca * cb
    return {m: c for m, c in out.items() if c}


def _line(expr: Any) -> int:
    """The first line number found in an expression (0 when none is known)."""
    ln = getattr(expr, "line", None)
    if isinstance(ln, int) and ln > 0:
        return ln
    for c in expr.children():
        ln = _line(c)
        if ln:
            return ln
    return 0


def _hidden_lines(text: str) -> dict[str, int]:
    """Line of each ``declare-hidden NAME`` (the package does not report it)."""
    out: dict[str, int] = {}
    for k, ln in enumerate(text.splitlines(), 1):
        parts = ln.split(";", 1)[0].replace("(", " ").split()
        for i, w in enumerate(parts[:-1]):
            if w == "declare-hidden":
                out.setdefault(parts[i + 1], k)
    return out


def _package_error(text: str, source: str) -> str:
    """The parser package's report (JSON for type and index errors) as ``FILE:LINE: message`` lines."""
    import json

    try:
        errors = json.loads(text)["errors"]
        lines = [f"{source}:{e.get('line', '?')}: {e.get('message', 'error')}: {e.get('offendingSymbol', '')}"
                 + (f" ({e['hint']})" if e.get("hint") else "") for e in errors]
    except (ValueError, KeyError, TypeError, AttributeError):
        return f"{source}: {text}"
    return "; ".join(lines) if lines else f"{source}: {text}"


def parse_vnnlib2(text: str, *, source: str = "<string>") -> Property:
    """Parse VNN-LIB 2.0 text into disjuncts of linear and polynomial atoms (see the module docstring).

    Raises
    ------
    ParseError
        Syntax and type errors (the package's report), an unsupported construct, an index outside a
        declared shape, or a number that is not a finite rational; the message names the line.
    """
    try:
        import vnnlib
    except ImportError as e:  # pragma: no cover - the onnx extra installs it
        raise ParseError("reading VNN-LIB 2.0 needs the 'vnnlib' package (pip install vnnlib)") from e
    check_nesting(text, source, ascii_only=True)  # the reader package fails on other text
    try:
        return _parse(vnnlib, text, source)
    except RecursionError as e:  # pragma: no cover - check_nesting keeps the depth small
        raise ParseError(f"{source}: the formula is nested too deeply") from e


def _parse(vnnlib: Any, text: str, source: str) -> Property:
    try:
        q = vnnlib.parse_query_string(text)
    except vnnlib.VNNLibException as e:
        raise ParseError(_package_error(str(e).strip(), source)) from e
    except (ValueError, RuntimeError, UnicodeError) as e:  # the package's other failures
        raise ParseError(f"{source}: not readable as VNN-LIB 2.0 ({e})") from e
    nets = list(q.networks)
    if not nets:
        raise ParseError(f"{source}: no network declared (declare-network)")
    merged, shared = _shared_inputs(vnnlib, q) if len(nets) > 1 else (set(), {})
    decls, in_index, out_index, nx, ny = _layout(nets, shared)
    if len(nets) > 1 and any(list(n.hidden) for n in nets):
        raise ParseError(f"{source}: hidden tensors (declare-hidden) are supported with one network only; "
                         "compare the networks' outputs instead")
    net = nets[0]
    lines = _hidden_lines(text)
    hidden: list[HiddenTensor] = []
    hidden_index: dict[str, int] = {}
    for h in net.hidden:
        onnx_name = (h.onnx_name or "").strip().strip('"')
        ln = lines.get(h.name, 0)
        if not onnx_name:
            raise ParseError(f"{source}:{ln}: hidden tensor {h.name} names no ONNX tensor; write "
                             f'(declare-hidden {h.name} TYPE SHAPE "onnx-tensor-name")')
        hidden_index[h.name] = len(hidden)
        hidden.append(HiddenTensor(h.name, onnx_name, tuple(int(s) for s in h.shape), ln))

    def number(expr: Any, where: str) -> Fraction:
        lex = getattr(expr, "lexeme", None)
        try:
            value = Fraction(str(lex)) if lex is not None else _exact(expr.value)
        except (ValueError, ZeroDivisionError, OverflowError) as e:
            raise ParseError(f"{where}: {lex!r} is not a finite number") from e
        return check_finite(value, where, f"the number {lex}")

    def poly(expr: Any, where: str) -> _Poly:
        if isinstance(expr, vnnlib.Var):
            where = f"{source}:{expr.line}" if expr.line else where
            kind = str(expr.kind)
            if kind.endswith("Input") and expr.name in in_index:
                shape, idx = in_index[expr.name]
                var: PolyVar = ("X", 0, idx[_flat(list(expr.indices), shape, f"{where}: {expr.name}")])
            elif kind.endswith("Output") and expr.name in out_index:
                shape, idx = out_index[expr.name]
                var = ("Y", 0, idx[_flat(list(expr.indices), shape, f"{where}: {expr.name}")])
            elif kind.endswith("Hidden") and expr.name in hidden_index:
                t = hidden_index[expr.name]
                var = ("H", t, _flat(list(expr.indices), hidden[t].shape, f"{where}: {expr.name}"))
            else:
                raise ParseError(f"{where}: {expr.name} is not a declared input, output or hidden tensor")
            return {((var, 1),): Fraction(1)}
        if isinstance(expr, vnnlib.Literal):
            c = number(expr, where)
            return {(): c} if c else {}
        if isinstance(expr, vnnlib.Negate):
            return _p_add({}, poly(expr.expr, where), -1)
        if isinstance(expr, vnnlib.Plus):
            acc: _Poly = {}
            for a in expr.args:
                acc = _p_add(acc, poly(a, where))
            return acc
        if isinstance(expr, vnnlib.Minus):
            acc = poly(expr.head, where)
            for a in expr.rest:
                acc = _p_add(acc, poly(a, where), -1)
            return acc
        if isinstance(expr, vnnlib.Multiply):
            acc = {(): Fraction(1)}
            for a in expr.args:
                acc = _p_mul(acc, poly(a, where))
            return acc
        raise ParseError(f"{where}: unsupported arithmetic {type(expr).__name__} in {expr}")

    def atom(p: _Poly, strict: bool, line: int) -> Atom | PolyAtom:
        for c in p.values():  # products of numbers can leave the float range too
            check_finite(c, f"{source}:{line}" if line else source, "a coefficient of this comparison")
        linear = all(len(m) <= 1 and all(e == 1 and v[0] in ("X", "Y") for v, e in m) for m in p)
        if linear:
            x = tuple(sorted((m[0][0][2], c) for m, c in p.items() if m and m[0][0][0] == "X"))
            y = tuple(sorted((m[0][0][2], c) for m, c in p.items() if m and m[0][0][0] == "Y"))
            return Atom(x, y, p.get((), Fraction(0)), strict)
        return PolyAtom(tuple(sorted(p.items())), strict, line)

    dnf: list[list[Atom | PolyAtom]] = [[]]
    for n_a, a in enumerate(q.assertions):
        if n_a in merged:  # input equalities between networks: the inputs share their variables
            continue
        alts: list[list[Atom | PolyAtom]] = []
        for conj in a.expr.to_dnf():
            atoms: list[Atom | PolyAtom] = []
            for c in conj:
                line = _line(c)
                where = f"{source}:{line}" if line else f"{source}: assertion {n_a + 1}"
                lhs, rhs = poly(c.lhs, where), poly(c.rhs, where)
                name = type(c).__name__
                if name in ("GreaterEqual", "GreaterThan"):
                    atoms.append(atom(_p_add(lhs, rhs, -1), name == "GreaterThan", line))
                elif name in ("LessEqual", "LessThan"):
                    atoms.append(atom(_p_add(rhs, lhs, -1), name == "LessThan", line))
                elif name == "Equal":
                    atoms += [atom(_p_add(lhs, rhs, -1), False, line), atom(_p_add(rhs, lhs, -1), False, line)]
                else:
                    raise ParseError(f"{where}: comparison {name} is not supported")
            alts.append(atoms)
        if len(dnf) * len(alts) > MAX_DISJUNCTS:
            raise ParseError(f"{source}: the property expands to more than {MAX_DISJUNCTS} disjuncts")
        dnf = [x + y for x in dnf for y in alts]
    disjuncts: list[Disjunct] = []
    for atoms_ in dnf:
        lin = [a for a in atoms_ if isinstance(a, Atom)]
        nonlin = tuple(a for a in atoms_ if isinstance(a, PolyAtom))
        d = to_disjunct(lin, nx, source)
        if d is not None:
            disjuncts.append(replace(d, poly=nonlin) if nonlin else d)
    return Property(nx, ny, tuple(disjuncts), source, tuple(hidden), decls)


_Index = dict[str, tuple[tuple[int, ...], tuple[int, ...]]]


def _shared_inputs(vnnlib: Any, q: Any) -> tuple[set[int], dict[tuple[str, int], tuple[str, int]]]:
    """The assertions that only equate input entries of different networks (``(== X[i] X2[j])``, or an
    ``and`` of such), and for every input entry ``(tensor, flat index)`` the representative entry it
    is merged with (union-find; the first declared entry represents its class)."""
    shapes = {i.name: tuple(int(s) for s in i.shape) for n in q.networks for i in n.inputs}
    order = {name: k for k, name in enumerate(shapes)}
    parent: dict[tuple[str, int], tuple[str, int]] = {}

    def find(v: tuple[str, int]) -> tuple[str, int]:
        while parent.get(v, v) != v:
            v = parent[v]
        return v

    def entry(e: Any) -> tuple[str, int] | None:
        if not isinstance(e, vnnlib.Var) or not str(e.kind).endswith("Input") or e.name not in shapes:
            return None
        return e.name, _flat(list(e.indices), shapes[e.name], f"{e.name}")

    merged: set[int] = set()
    for n_a, a in enumerate(q.assertions):
        expr = a.expr
        eqs = list(expr.args) if isinstance(expr, vnnlib.And) else [expr]
        pairs = []
        for c in eqs:
            if not isinstance(c, vnnlib.Equal):
                break
            u, v = entry(c.lhs), entry(c.rhs)
            if u is None or v is None or c.lhs.network_name == c.rhs.network_name:
                break
            pairs.append((u, v))
        else:
            merged.add(n_a)
            for u, v in pairs:
                ru, rv = find(u), find(v)
                if ru != rv:
                    first, second = sorted((ru, rv), key=lambda t: (order[t[0]], t[1]))
                    parent[second] = first
    return merged, {v: find(v) for v in parent}


def _layout(nets: list[Any], shared: dict[tuple[str, int], tuple[str, int]]
            ) -> tuple[tuple[NetworkDecl, ...], _Index, _Index, int, int]:
    """Every declared input and output tensor's entries placed in the combined ``X`` and ``Y``
    (networks, then tensors, in declaration order; shared input entries once)."""
    in_index: _Index = {}
    out_index: _Index = {}
    where: dict[tuple[str, int], int] = {}
    nx = ny = 0
    decls = []
    for n in nets:
        ins = []
        for t in n.inputs:
            shape = tuple(int(s) for s in t.shape)
            idx = []
            for k in range(_size(shape)):
                rep = shared.get((t.name, k), (t.name, k))
                if rep not in where:
                    where[rep] = nx
                    nx += 1
                idx.append(where[rep])
            in_index[t.name] = (shape, tuple(idx))
            ins.append((t.name, shape, tuple(idx)))
        outs = []
        for t in n.outputs:
            shape = tuple(int(s) for s in t.shape)
            idx = list(range(ny, ny + _size(shape)))
            ny += len(idx)
            out_index[t.name] = (shape, tuple(idx))
            outs.append((t.name, shape, tuple(idx)))
        decls.append(NetworkDecl(n.name, tuple(ins), tuple(outs), n.equal_to or "", n.isometric_to or ""))
    return tuple(decls), in_index, out_index, nx, ny


def _size(shape: tuple[int, ...]) -> int:
    n = 1
    for s in shape:
        n *= s
    return n

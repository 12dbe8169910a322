"""VNN-LIB 1.0 properties (the VNN-COMP dialect of SMT-LIB) as disjunctions of linear atoms.

A property declares inputs ``X_i`` and outputs ``Y_j`` and asserts constraints; it is *sat* when some
input satisfies every assertion — the asserted output condition is the catastrophe.  The parser
turns the conjunction of the assertions into disjunctive normal form: a list of :class:`Disjunct`,
each an input box plus linear atoms ``a·X + c·Y + d >= 0`` (or ``> 0``).  Numbers are read as exact
rationals from their decimal text.

VNN-LIB 2.0 adds atoms that are polynomial in the inputs, the outputs and declared hidden tensors
(:class:`PolyAtom`, kept in :attr:`Disjunct.poly`); a hidden tensor (:class:`HiddenTensor`) names an
ONNX tensor and is bound to a layer of the network by :func:`sosrelax.nn.spec_poly.bind_hidden`.
"""

from __future__ import annotations

import os
import re
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
    PolyAtom,
    PolyVar,
    Property,
    check_finite,
    check_nesting,
    to_disjunct,
)

__all__ = [
    "Atom",
    "Disjunct",
    "HiddenTensor",
    "Monomial",
    "PolyAtom",
    "PolyVar",
    "Property",
    "parse_vnnlib",
    "read_vnnlib",
]

_TOKEN = re.compile(r"\(|\)|[^\s()]+")


def read_vnnlib(path: str | os.PathLike[str]) -> Property:
    """Read a VNN-LIB 1.0 file (see :func:`parse_vnnlib`), or a 2.0 file
    (:func:`sosrelax.nn.vnnlib2.parse_vnnlib2`, recognised by its version or network declaration)."""
    p = Path(path)
    if not p.is_file():
        raise ParseError(f"{p}: no such VNN-LIB file")
    text = p.read_text()
    from sosrelax.nn.vnnlib2 import is_vnnlib2, parse_vnnlib2

    if is_vnnlib2(text):
        return parse_vnnlib2(text, source=str(p))
    return parse_vnnlib(text, source=str(p))


def _tokens(text: str, source: str) -> list[Any]:
    lines = [ln.split(";", 1)[0] for ln in text.splitlines()]
    stack: list[list[Any]] = [[]]
    for lineno, ln in enumerate(lines, 1):
        for m in _TOKEN.finditer(ln):
            t = m.group()
            if t == "(":
                stack.append([])
            elif t == ")":
                if len(stack) == 1:
                    raise ParseError(f"{source}:{lineno}: unbalanced ')'")
                done = stack.pop()
                stack[-1].append((done, lineno))
            else:
                stack[-1].append((t, lineno))
    if len(stack) != 1:
        raise ParseError(f"{source}: {len(stack) - 1} unclosed '('")
    return stack[0]


def parse_vnnlib(text: str, *, source: str = "<string>") -> Property:
    """Parse VNN-LIB 1.0 text.

    Supported: ``declare-const`` of ``X_i``/``Y_j`` (type ``Real``), ``assert`` of ``<=``, ``>=``,
    ``<``, ``>``, ``=`` between linear terms (``+``, ``-``, ``*`` by a number), ``and``, ``or``.
    Errors name the line and the construct; numbers must lie in the float64 range and parentheses
    may nest at most :data:`~sosrelax.nn.vnnlib_common.MAX_NESTING` levels.
    """
    check_nesting(text, source)
    try:
        return _parse(text, source)
    except RecursionError as e:  # pragma: no cover - check_nesting keeps the depth small
        raise ParseError(f"{source}: the formula is nested too deeply") from e


def _parse(text: str, source: str) -> Property:
    xs: set[int] = set()
    ys: set[int] = set()
    asserts: list[tuple[Any, int]] = []
    for item, line in _tokens(text, source):
        if not isinstance(item, list) or not item:
            raise ParseError(f"{source}:{line}: expected a command in parentheses, got {item!r}")
        head = item[0][0]
        if head == "declare-const":
            if len(item) != 3 or item[2][0] != "Real":
                raise ParseError(f"{source}:{line}: expected (declare-const NAME Real)")
            name = item[1][0]
            if not isinstance(name, str):
                raise ParseError(f"{source}:{line}: expected (declare-const NAME Real), got a list as NAME")
            m = re.fullmatch(r"([XY])_(\d+)", name)
            if not m:
                raise ParseError(f"{source}:{line}: variable {name!r} is not X_i or Y_j")
            (xs if m.group(1) == "X" else ys).add(int(m.group(2)))
        elif head == "assert":
            if len(item) != 2:
                raise ParseError(f"{source}:{line}: (assert ...) takes one formula")
            asserts.append(item[1])
        else:
            raise ParseError(f"{source}:{line}: unknown command {head!r}")
    if not xs or not ys:
        raise ParseError(f"{source}: the property must declare inputs X_i and outputs Y_j")
    nx, ny = max(xs) + 1, max(ys) + 1
    if xs != set(range(nx)) or ys != set(range(ny)):
        raise ParseError(f"{source}: inputs/outputs must be numbered X_0..X_{nx - 1}, Y_0..Y_{ny - 1}")
    dnf: list[list[Atom]] = [[]]
    for f in asserts:
        dnf = _and(dnf, _formula(f, source, nx, ny))
    disjuncts = []
    for conj in dnf:
        d = to_disjunct(conj, nx, source)
        if d is not None:
            disjuncts.append(d)
    return Property(nx, ny, tuple(disjuncts), source)


def _and(a: list[list[Atom]], b: list[list[Atom]]) -> list[list[Atom]]:
    if len(a) * len(b) > MAX_DISJUNCTS:
        raise ParseError(f"the property expands to more than {MAX_DISJUNCTS} disjuncts")
    return [x + y for x in a for y in b]


def _formula(node: Any, source: str, nx: int, ny: int) -> list[list[Atom]]:
    item, line = node
    if not isinstance(item, list) or not item:
        raise ParseError(f"{source}:{line}: expected a formula, got {item!r}")
    op = item[0][0]
    args = item[1:]
    if op == "and":
        out: list[list[Atom]] = [[]]
        for a in args:
            out = _and(out, _formula(a, source, nx, ny))
        return out
    if op == "or":
        res: list[list[Atom]] = []
        for a in args:
            res += _formula(a, source, nx, ny)
        return res
    if op in ("<=", ">=", "<", ">", "="):
        if len(args) != 2:
            raise ParseError(f"{source}:{line}: ({op} a b) takes two terms")
        lhs = _term(args[0], source, nx, ny)
        rhs = _term(args[1], source, nx, ny)
        diff = _lin_sub(lhs, rhs) if op in (">=", ">") else _lin_sub(rhs, lhs)
        for v in diff.values():  # products of numbers can leave the float range too
            check_finite(v, f"{source}:{line}", f"a coefficient of this ({op} ...)")
        if op == "=":
            return [[_atom(diff, False), _atom(_lin_neg(diff), False)]]
        return [[_atom(diff, op in ("<", ">"))]]
    raise ParseError(f"{source}:{line}: unsupported operator {op!r}")


_LinT = dict[tuple[str, int] | None, Fraction]


def _term(node: Any, source: str, nx: int, ny: int) -> _LinT:
    item, line = node
    if isinstance(item, str):
        m = re.fullmatch(r"([XY])_(\d+)", item)
        if m:
            i = int(m.group(2))
            if i >= (nx if m.group(1) == "X" else ny):
                raise ParseError(f"{source}:{line}: {item} is not declared")
            return {(m.group(1), i): Fraction(1)}
        try:
            value = Fraction(item)
        except (ValueError, ZeroDivisionError) as e:
            raise ParseError(f"{source}:{line}: {item!r} is neither a variable nor a number") from e
        return {None: check_finite(value, f"{source}:{line}", f"the number {item}")}
    if not item:
        raise ParseError(f"{source}:{line}: empty term")
    op = item[0][0]
    parts = [_term(a, source, nx, ny) for a in item[1:]]
    if op == "+":
        out: _LinT = {}
        for p in parts:
            out = _lin_add(out, p)
        return out
    if op == "-":
        if len(parts) == 1:
            return _lin_neg(parts[0])
        out = parts[0]
        for p in parts[1:]:
            out = _lin_sub(out, p)
        return out
    if op == "*":
        out = {None: Fraction(1)}
        for p in parts:
            if set(p) <= {None}:
                out = {k: v * p.get(None, Fraction(0)) for k, v in out.items()}
            elif set(out) <= {None}:
                c = out.get(None, Fraction(0))
                out = {k: v * c for k, v in p.items()}
            else:
                raise ParseError(f"{source}:{line}: a product of variables is not linear (VNN-LIB 1.0)")
        return out
    raise ParseError(f"{source}:{line}: unsupported term operator {op!r}")


def _lin_add(a: _LinT, b: _LinT) -> _LinT:
    out = dict(a)
    for k, v in b.items():
        out[k] = out.get(k, Fraction(0)) + v
    return out


def _lin_neg(a: _LinT) -> _LinT:
    return {k: -v for k, v in a.items()}


def _lin_sub(a: _LinT, b: _LinT) -> _LinT:
    return _lin_add(a, _lin_neg(b))


def _atom(d: _LinT, strict: bool) -> Atom:
    x = tuple(sorted((k[1], v) for k, v in d.items() if k is not None and k[0] == "X" and v))
    y = tuple(sorted((k[1], v) for k, v in d.items() if k is not None and k[0] == "Y" and v))
    return Atom(x, y, d.get(None, Fraction(0)), strict)

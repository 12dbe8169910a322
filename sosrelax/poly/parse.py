"""Reading polynomial text: a checked token stream handed to sympy's parser without evaluation.

The text is tokenised with :mod:`tokenize` and checked (decimal numbers, names, ``+ - * / ^ **
( )`` only); variables become aliases ``_v<i>`` and numbers ``_n<i>`` bound to sympy Symbols and
exact sympy numbers, so the code sympy reads contains no other names.  Long sums are cut into
chunks so that sympy's syntax tree stays shallow.  Expanding the trees into a polynomial, with
size checks before every product, is :meth:`sosrelax.poly.Polynomial.parse`'s job.
"""

from __future__ import annotations

import keyword
import math
import re
import tokenize
from collections.abc import Iterator
from fractions import Fraction
from io import StringIO
from typing import Any

from sosrelax.errors import InvalidValueError, ParseError, UnknownVariableError
from sosrelax.poly.monomials import check_identifier

#: Longest text :meth:`~sosrelax.poly.Polynomial.parse` reads.
MAX_PARSE_CHARS = 50_000_000

_NUMBER_RE = re.compile(r"^(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")
_ALLOWED_OPS = {"+", "-", "*", "/", "**", "^", "(", ")"}
_NONFINITE_NAMES = {"nan", "inf", "infinity", "oo", "zoo"}
_SYMPY_CONSTANTS = {"pi", "E", "I", "EulerGamma", "GoldenRatio", "Catalan"}
_MAX_INTEGER_DIGITS = 4000


def _op_hint(op: str) -> str:
    if op in {"=", "==", "<", ">", "<=", ">=", "!="}:
        return ("comparisons are not polynomials; parse each side and compare the polynomials, "
                "e.g. parse('x^2') <= 1")
    if op in {"//", "%"}:
        return "only + - * / ^ ** and parentheses are allowed"
    if op == ".":
        return "attribute access is not allowed; write numbers like 0.5"
    if op == ",":
        return "write one polynomial per string"
    return "only + - * / ^ ** and parentheses are allowed"

def _tokens_to_source(text: str, declared: tuple[str, ...] | None) -> tuple[
        list[str], dict[str, Any], list[str]]:
    """Check the tokens of ``text`` and rewrite them for sympy.

    Variables become aliases ``_v<i>`` and numbers ``_n<i>`` bound in a local dictionary to
    sympy Symbols and exact sympy numbers (a decimal literal is bound to the exact value of the
    nearest float64), so the code sympy evaluates contains no other names than those and
    the arithmetic operators.
    """
    import sympy

    src = text.replace("\r", " ").replace("\n", " ").replace("\t", " ").strip()
    if not src:
        raise ParseError("cannot parse an empty string as a polynomial; write e.g. '0' or 'x^2'")
    try:
        toks = list(tokenize.generate_tokens(StringIO(src).readline))
    except (tokenize.TokenError, SyntaxError) as e:
        raise ParseError(f"cannot parse {text!r}: {e}") from e
    local: dict[str, Any] = {}
    out: list[str] = []
    seen: list[str] = []
    alias: dict[str, str] = {}
    skip = {tokenize.ENCODING, tokenize.NEWLINE, tokenize.NL, tokenize.ENDMARKER,
            tokenize.INDENT, tokenize.DEDENT}
    for i, tok in enumerate(toks):
        kind, val = tok.type, tok.string
        if kind in skip:
            continue
        if kind == tokenize.NUMBER:
            if not _NUMBER_RE.match(val):
                raise ParseError(
                    f"{val!r} in {text!r} is not a decimal number; write numbers like 2, 0.5 "
                    "or 1e-3"
                )
            if "." in val or "e" in val or "E" in val:
                f = float(val)
                if not math.isfinite(f):
                    raise InvalidValueError(
                        f"the number {val} in {text!r} is not a finite float64"
                    )
                fr = Fraction(f)
                num: Any = sympy.Rational(fr.numerator, fr.denominator)
            else:
                if len(val) > _MAX_INTEGER_DIGITS:
                    raise InvalidValueError(
                        f"the integer starting {val[:20]}... in the text has {len(val)} digits; "
                        "it is not a finite float64"
                    )
                num = sympy.Integer(int(val))
            key = f"_n{len(local)}"
            local[key] = num
            out.append(key)
            continue
        if kind == tokenize.NAME:
            nxt = toks[i + 1] if i + 1 < len(toks) else None
            if nxt is not None and nxt.type == tokenize.OP and nxt.string == "(":
                depth, j = 0, i + 1
                while j < len(toks):
                    if toks[j].type == tokenize.OP and toks[j].string == "(":
                        depth += 1
                    elif toks[j].type == tokenize.OP and toks[j].string == ")":
                        depth -= 1
                        if depth == 0:
                            break
                    j += 1
                call = src[tok.start[1]: toks[min(j, len(toks) - 1)].end[1]]
                raise ParseError(
                    f"{call!r} in {text!r} is not a polynomial term: function calls are not "
                    "allowed (only + - * / by numbers, and ^ with non-negative integers)"
                )
            if keyword.iskeyword(val):
                raise ParseError(f"{val!r} in {text!r} is a Python keyword, not a variable")
            if declared is not None and val not in declared:
                if val.lower() in _NONFINITE_NAMES:
                    raise InvalidValueError(
                        f"{val!r} in {text!r} is not a finite number; coefficients must be finite"
                    )
                raise UnknownVariableError(
                    f"unknown variable {val!r} in {text!r}; the allowed variables are "
                    f"{list(declared)}"
                )
            if declared is None:
                if val.lower() in _NONFINITE_NAMES:
                    raise InvalidValueError(
                        f"{val!r} in {text!r} is not a finite number; coefficients must be finite"
                    )
                if val in _SYMPY_CONSTANTS:
                    raise ParseError(
                        f"{val!r} in {text!r} is ambiguous (a constant in sympy); write its "
                        f"numeric value, or pass variables=[..., {val!r}] to use it as a variable"
                    )
                check_identifier(val)
            if val not in alias:
                alias[val] = f"_v{len(alias)}"
                local[alias[val]] = sympy.Symbol(val)
                seen.append(val)
            out.append(alias[val])
            continue
        if kind == tokenize.OP:
            if val not in _ALLOWED_OPS:
                raise ParseError(f"unexpected {val!r} in {text!r}: {_op_hint(val)}")
            out.append("**" if val == "^" else val)
            continue
        raise ParseError(
            f"unexpected {val!r} in {text!r}: only numbers, variable names, + - * / ^ ** and "
            "parentheses are allowed"
        )
    return out, local, seen

def _split_sum(tokens: list[str], per_chunk: int = 64) -> list[list[str]]:
    """Cut a token list at top-level binary ``+``/``-`` into chunks of ``per_chunk`` terms.

    ``+`` and ``-`` bind loosest, so the sum of the chunks (each starting with its sign, read as
    unary) is the whole expression; parsing chunks keeps sympy's syntax tree shallow for long
    sums.
    """
    chunks: list[list[str]] = []
    start, depth, terms = 0, 0, 0
    prev: str | None = None
    for i, t in enumerate(tokens):
        if t == "(":
            depth += 1
        elif t == ")":
            depth -= 1
        elif (t in {"+", "-"} and depth == 0 and prev is not None
              and prev not in _ALLOWED_OPS - {")"}):
            terms += 1
            if terms >= per_chunk:
                chunks.append(tokens[start:i])
                start, terms = i, 0
        prev = t
    chunks.append(tokens[start:])
    return chunks


def sympy_summands(text: str, declared: tuple[str, ...] | None) -> tuple[Iterator[Any], list[str]]:
    """Check the text and parse it into unevaluated sympy expressions whose sum is the text.

    Parameters
    ----------
    text : str
    declared : tuple of str or None
        The only names allowed as variables; ``None`` allows any identifier.

    Returns
    -------
    summands : iterator of sympy expressions
        Parsed lazily, one chunk of the top-level sum at a time (a malformed chunk raises when
        it is reached).
    seen : list of str
        The variable names used, in order of first appearance.

    Raises
    ------
    ParseError, UnknownVariableError, InvalidValueError
        As :meth:`~sosrelax.poly.Polynomial.parse`; the message names the offending token.
    """
    tokens, local, seen = _tokens_to_source(text, declared)
    return _parsed_chunks(text, tokens, local), seen


def _parsed_chunks(text: str, tokens: list[str], local: dict[str, Any]) -> Iterator[Any]:
    import sympy
    from sympy.parsing.sympy_parser import parse_expr

    glob: dict[str, Any] = {"__builtins__": {}, "Add": sympy.Add, "Mul": sympy.Mul,
                            "Pow": sympy.Pow, "Integer": sympy.Integer, "Symbol": sympy.Symbol}
    for chunk in _split_sum(tokens):
        try:
            expr = parse_expr(" ".join(chunk), local_dict=local, global_dict=glob,
                              transformations=(), evaluate=False)
        except (SyntaxError, TypeError, ValueError, AttributeError, NameError) as e:
            hint = ""
            if re.search(r"\d\s*[A-Za-z_(]|\)\s*[A-Za-z_\d(]", text):
                hint = " (write products with '*', e.g. 2*x, (x+1)*(x-1))"
            raise ParseError(f"cannot parse {text!r}: malformed expression{hint}") from e
        except RecursionError as e:
            raise ParseError(f"cannot parse {text[:80]!r}...: nested too deeply") from e
        yield expr

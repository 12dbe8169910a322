"""The ``PROBLEM.toml`` format read by ``sosrelax solve`` and ``sosrelax certify``.

Example::

    [problem]
    variables = ["x", "y"]                     # optional; fixes the order
    minimize = "4*x^2 + x*y - 4*y^2 - 2.1*x^4 + 4*y^4 + x^6/3"    # or maximize = "..."
    subject_to = ["x^2 + y^2 <= 4", "x + y == 0"]                  # optional
    bounds = { x = [-2, 2], y = [-2, 2] }                          # optional

    [relaxation]                                # optional
    kind = "sos"                                # "sos" | "sdp"
    level = 3
    solver = "clarabel"

    [claim]                                     # optional, for `sosrelax certify`
    statement = "4*x^2 + x*y - 4*y^2 <= 10"

Constraints and claims are strings with exactly one of ``<=``, ``>=``, ``<``, ``>``, ``==``; both sides are
polynomials (``^`` or ``**`` for powers).
"""

from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass, field
from typing import Any

from sosrelax.errors import ParseError
from sosrelax.poly import Constraint, Polynomial
from sosrelax.problem import Claim, Problem

__all__ = ["ProblemFile", "bounds_from_table", "constraints_from_table", "parse_relation", "read_problem_file"]

_KNOWN = {
    "problem": {"variables", "minimize", "maximize", "subject_to", "bounds"},
    "relaxation": {"kind", "level", "solver", "sparsity", "time_limit"},
    "claim": {"statement", "subject_to"},
}
_REL = re.compile(r"(<=|>=|==|<|>)")


@dataclass(frozen=True)
class ProblemFile:
    """A parsed problem file: the problem, the relaxation settings and an optional claim."""

    path: str
    problem: Problem
    relaxation: dict[str, Any] = field(default_factory=dict)
    claim: Claim | None = None


def parse_relation(text: str, variables: list[str] | None, where: str) -> Constraint:
    """Parse ``"lhs OP rhs"`` into a :class:`Constraint`; errors name ``where`` and the text."""
    parts = _REL.split(text)
    if len(parts) != 3:
        raise ParseError(
            f'{where}: {text!r} must contain exactly one of <=, >=, <, >, == (e.g. "x^2 + y^2 <= 1")'
        )
    lhs_s, op, rhs_s = (s.strip() for s in parts)
    try:
        lhs = Polynomial.parse(lhs_s, variables)
        rhs = Polynomial.parse(rhs_s, variables)
    except ParseError as e:
        raise ParseError(f"{where}: {e}") from e
    ops = {"<=": lhs <= rhs, ">=": lhs >= rhs, "<": lhs < rhs, ">": lhs > rhs, "==": lhs == rhs}
    result = ops[op]
    assert isinstance(result, Constraint)
    return result


def read_problem_file(path: str | os.PathLike[str]) -> ProblemFile:
    """Read a ``PROBLEM.toml`` file (see the module docstring for the format).

    Raises
    ------
    ParseError
        Naming the file, the key and the offending text (TOML syntax errors carry their line and column).
    """
    path = os.fspath(path)
    try:
        with open(path, "rb") as fh:
            data = tomllib.load(fh)
    except FileNotFoundError as e:
        raise ParseError(f"{path}: no such file") from e
    except tomllib.TOMLDecodeError as e:
        raise ParseError(f"{path}: invalid TOML: {e}") from e
    for section, value in data.items():
        if section not in _KNOWN:
            raise ParseError(
                f"{path}: unknown section [{section}]; expected one of "
                + ", ".join(f"[{s}]" for s in _KNOWN)
            )
        if not isinstance(value, dict):
            raise ParseError(f"{path}: {section} must be a table ([{section}])")
        for key in value:
            if key not in _KNOWN[section]:
                raise ParseError(
                    f"{path}: unknown key {section}.{key}; expected one of "
                    + ", ".join(sorted(_KNOWN[section]))
                )
    if "problem" not in data:
        raise ParseError(
            f'{path}: missing [problem] section with minimize = "..." or maximize = "..."'
        )
    pt = data["problem"]
    variables = pt.get("variables")
    if variables is not None and (
        not isinstance(variables, list) or not all(isinstance(v, str) for v in variables)
    ):
        raise ParseError(f'{path}: problem.variables must be a list of names, e.g. ["x", "y"]')
    sense = [k for k in ("minimize", "maximize") if k in pt]
    if len(sense) != 1:
        raise ParseError(
            f'{path}: [problem] needs exactly one of minimize = "..." or maximize = "..."'
        )
    key = sense[0]
    if not isinstance(pt[key], str):
        raise ParseError(f"{path}: problem.{key} must be a string")
    try:
        objective = Polynomial.parse(pt[key], variables)
    except ParseError as e:
        raise ParseError(f"{path}: problem.{key}: {e}") from e
    constraints = constraints_from_table(path, "problem.subject_to", pt.get("subject_to", []), variables)
    bounds = bounds_from_table(path, pt.get("bounds"))
    problem = Problem(
        **{key: objective},
        subject_to=constraints,
        bounds=bounds,
        variables=variables,
    )
    relaxation = dict(data.get("relaxation", {}))
    claim = None
    if "claim" in data:
        ct = data["claim"]
        if "statement" not in ct or not isinstance(ct["statement"], str):
            raise ParseError(f'{path}: [claim] needs statement = "f(x) <= t"')
        statement = parse_relation(ct["statement"], variables, f"{path}: claim.statement")
        extra = constraints_from_table(path, "claim.subject_to", ct.get("subject_to", []), variables)
        box = []
        for name, (lo, hi) in (bounds or {}).items():
            v = Polynomial.parse(name, variables)
            box += [v >= lo, v <= hi]
        claim = Claim(statement, subject_to=[*constraints, *extra, *box])
    return ProblemFile(path=path, problem=problem, relaxation=relaxation, claim=claim)


def constraints_from_table(path: str, key: str, items: Any, variables: list[str] | None) -> list[Constraint]:
    """The constraints of a TOML list of relation strings (``"x^2 + y^2 <= 1"``) at ``key`` of file ``path``.

    Raises :class:`~sosrelax.errors.ParseError` naming the file and the entry when an item is not a string or
    not a relation.
    """
    if not isinstance(items, list):
        raise ParseError(f'{path}: {key} must be a list of strings like "x^2 + y^2 <= 1"')
    out = []
    for i, item in enumerate(items):
        if not isinstance(item, str):
            raise ParseError(f'{path}: {key}[{i}] must be a string like "x^2 + y^2 <= 1"')
        out.append(parse_relation(item, variables, f"{path}: {key}[{i}]"))
    return out


def bounds_from_table(path: str, bounds: Any) -> dict[str, tuple[float, float]] | None:
    """Variable bounds ``{name: (lower, upper)}`` from a TOML table ``{ x = [-1, 1] }`` (``None``: none).

    Raises :class:`~sosrelax.errors.ParseError` naming the file and the variable when an entry is not a pair
    of numbers.
    """
    if bounds is None:
        return None
    if not isinstance(bounds, dict):
        raise ParseError(f"{path}: problem.bounds must be a table like {{ x = [-1, 1] }}")
    out = {}
    for name, pair in bounds.items():
        if (
            not isinstance(pair, list)
            or len(pair) != 2
            or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in pair)
        ):
            raise ParseError(f"{path}: problem.bounds.{name} must be [lower, upper], got {pair!r}")
        for v in pair:
            if isinstance(v, int) and not (abs(v) <= 2**53 or float(v) == v if abs(v) < 2**1023
                                           else False):
                raise ParseError(
                    f"{path}: problem.bounds.{name}: the integer {v} is not exactly representable "
                    "as a float64 (it would be rounded); rescale so that integers stay below 2**53"
                )
        out[name] = (float(pair[0]), float(pair[1]))
    return out

"""Fuzz the readers of user input: mutated VNN-LIB (1.0 and 2.0) text and mutated problem files either
parse or raise a :class:`~sosrelax.errors.SosrelaxError`, never another exception.

The number of examples per test is ``SOSRELAX_FUZZ_EXAMPLES`` (default 40, a few seconds); ``make fuzz``
runs many more.
"""

from __future__ import annotations

import glob
import os
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sosrelax.errors import SosrelaxError
from sosrelax.nn.vnnlib import parse_vnnlib
from sosrelax.nn.vnnlib2 import is_vnnlib2, parse_vnnlib2
from sosrelax.problemfile import read_problem_file

pytestmark = pytest.mark.fuzz

EXAMPLES = int(os.environ.get("SOSRELAX_FUZZ_EXAMPLES", "40"))
ROOT = Path(__file__).resolve().parents[1]
FUZZ = settings(max_examples=EXAMPLES, deadline=None, derandomize=False,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

_SMALL_V1 = [
    "(declare-const X_0 Real)\n(declare-const Y_0 Real)\n(assert (>= X_0 -1))\n(assert (<= X_0 1))\n"
    "(assert (<= Y_0 -1))\n",
    "(declare-const X_0 Real)\n(declare-const X_1 Real)\n(declare-const Y_0 Real)\n(declare-const Y_1 Real)\n"
    "(assert (and (>= X_0 0) (<= X_0 1) (>= X_1 -0.5) (<= X_1 0.5)))\n"
    "(assert (or (and (<= Y_0 Y_1)) (and (>= (+ Y_0 (* 2 Y_1)) 3.25) (< (- Y_1) 1e-3))))\n",
]
_SMALL_V2 = [
    "(vnnlib-version <2.0>)\n(declare-network N (declare-input X Real [2]) (declare-output Y Real [1]))\n"
    "(assert (and (>= X[0] -1.0) (<= X[0] 1.0) (>= X[1] 0.0) (<= X[1] 2.0)))\n"
    "(assert (or (<= Y[0] (* X[0] X[1])) (> (+ Y[0] 1.5) 3.0)))\n",
]


def _vnnlib_seeds() -> list[str]:
    files = sorted(glob.glob("/work/shared/data/vnncomp/*.vnnlib")
                   + glob.glob("/work/shared/data/vnncomp2021/acasxu/prop_*.vnnlib"))
    return [Path(f).read_text() for f in files[:12]] + _SMALL_V1 + _SMALL_V2


_VNN_TOKENS = ["(", ")", "((", "))", " ", "\n", ";", '"', "and", "or", "assert", "declare-const", "Real",
               "X_0", "X_1", "X_99", "Y_0", "Y_-1", "X[0]", "Y[0]", "X[5]", "0", "-1", "1e400", "-1e400",
               "1e-400", "1/0", "nan", "inf", "0.5", "+", "-", "*", "<=", ">=", "<", ">", "=", "!=",
               "vnnlib-version", "<2.0>", "declare-network", "declare-input", "declare-hidden", "Int",
               "(assert", "(and", "(or", "(* X_0 X_0)", "(declare-const Y_0 Real)", "(X_0)", "()", "\x80", "é"]
_TOML_TOKENS = ["[", "]", "{", "}", "=", '"', "'", ",", "\n", "#", "x", "y", "^", "**", "/", "0", "1e400",
                "nan", "inf", "-", "<=", ">=", "==", "<", ">", "[problem]", "[relaxation]", "[claim]",
                "minimize", "maximize", "subject_to", "bounds", "variables", "level", "kind", "solver",
                "sparsity", "statement", "true", "[[claims]]", "x^99999", "1/0", "(", ")", "sin(x)"]


@st.composite
def _mutated(draw: st.DrawFn, seeds: list[str], tokens: list[str]) -> str:
    """A seed text after a few random edits: delete, insert a token, duplicate or move a slice."""
    text = draw(st.sampled_from(seeds))
    for _ in range(draw(st.integers(1, 6))):
        n = len(text)
        i = draw(st.integers(0, n))
        j = draw(st.integers(i, min(n, i + 40)))
        op = draw(st.sampled_from(["delete", "insert", "duplicate", "move", "replace"]))
        if op == "delete":
            text = text[:i] + text[j:]
        elif op == "insert":
            text = text[:i] + draw(st.sampled_from(tokens)) + text[i:]
        elif op == "duplicate":
            text = text[:j] + text[i:j] * draw(st.integers(1, 3)) + text[j:]
        elif op == "move":
            piece, rest = text[i:j], text[:i] + text[j:]
            k = draw(st.integers(0, len(rest)))
            text = rest[:k] + piece + rest[k:]
        else:
            text = text[:i] + draw(st.text(max_size=8)) + text[j:]
    return text


def _parse_any(text: str) -> None:
    if is_vnnlib2(text):
        parse_vnnlib2(text, source="fuzz")
    else:
        parse_vnnlib(text, source="fuzz")


@FUZZ
@given(_mutated(_vnnlib_seeds(), _VNN_TOKENS))
def test_mutated_vnnlib_parses_or_raises_a_sosrelax_error(text: str) -> None:
    try:
        _parse_any(text)
    except SosrelaxError:
        pass


@FUZZ
@given(st.lists(st.sampled_from(_VNN_TOKENS), max_size=60).map(" ".join))
def test_token_soup_vnnlib_parses_or_raises_a_sosrelax_error(text: str) -> None:
    try:
        _parse_any(text)
    except SosrelaxError:
        pass


@pytest.mark.parametrize("text", [
    "(declare-const (X_0) Real)",  # a list where a name belongs
    "\x80" + _SMALL_V2[0],  # non-ASCII text in a 2.0 property
])
def test_found_by_fuzzing(text: str) -> None:
    with pytest.raises(SosrelaxError):
        _parse_any(text)


def test_seeds_parse() -> None:
    for text in _vnnlib_seeds():  # the mutations start from valid properties
        _parse_any(text)


def _toml_seeds() -> list[str]:
    return [Path(f).read_text() for f in sorted(glob.glob(str(ROOT / "examples" / "*.toml")))]


@FUZZ
@given(_mutated(_toml_seeds() or ['[problem]\nminimize = "x^2"\n'], _TOML_TOKENS))
def test_mutated_problem_file_parses_or_raises_a_sosrelax_error(text: str) -> None:
    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / "problem.toml"
        p.write_text(text, encoding="utf-8", errors="surrogatepass")
        try:
            read_problem_file(p)
        except SosrelaxError:
            pass

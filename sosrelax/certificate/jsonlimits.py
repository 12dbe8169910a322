"""Bounded, exact JSON reading shared by the certificate readers.

Certificate files are untrusted input: their size and bracket nesting are checked *before* the JSON
parser allocates anything (a deeply nested document would otherwise exhaust the recursion limit), and
numbers are restricted to what an exact format allows — no ``NaN`` / ``Infinity``, no floats (exact
rationals are written as strings), integers short enough to be indices.

Only the standard library and numpy are imported, so that the independent checkers can use this module.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from sosrelax.errors import CertificateFormatError

__all__ = ["nesting_depth", "parse_exact_json"]

_OPEN = np.frombuffer(b"[{", dtype=np.uint8)
_CLOSE = np.frombuffer(b"]}", dtype=np.uint8)


def nesting_depth(data: bytes) -> int:
    """Maximum depth of ``[`` / ``{`` brackets outside JSON strings, computed without parsing.

    Vectorised over the bytes when the text has no backslash escapes; with escapes (rare: metadata
    text) a character scan that follows string and escape state exactly.  For well-formed JSON this is
    the nesting depth of the document; for any input it is what a recursive parser would reach first.
    """
    a = np.frombuffer(data, dtype=np.uint8)
    if a.size == 0:
        return 0
    if (a == ord("\\")).any():
        depth = best = 0
        in_str = esc = False
        for ch in data.decode("utf-8", errors="replace"):
            if in_str:
                if esc:
                    esc = False
                elif ch == "\\":
                    esc = True
                elif ch == '"':
                    in_str = False
            elif ch == '"':
                in_str = True
            elif ch in "[{":
                depth += 1
                best = max(best, depth)
            elif ch in "]}":
                depth -= 1
        return best
    quotes = np.cumsum(a == ord('"'), dtype=np.int64)
    outside = (quotes & 1) == 0
    step = np.isin(a, _OPEN).astype(np.int32) - np.isin(a, _CLOSE).astype(np.int32)
    step[~outside] = 0
    return int(np.cumsum(step, dtype=np.int64).max(initial=0))


def _reject_constant(name: str) -> Any:
    raise CertificateFormatError(f"{name} is not a number in this format (exact rationals only)")


def _reject_float(text: str) -> Any:
    raise CertificateFormatError(
        f"JSON number {text[:40]!r}: floats are not allowed; write exact rationals as strings"
    )


def _small_int(text: str) -> int:
    if len(text) > 19:
        raise CertificateFormatError(f"JSON integer {text[:40]}...: too long for an index or exponent")
    return int(text)


def parse_exact_json(raw: bytes, *, max_bytes: int, max_depth: int) -> Any:
    """Parse UTF-8 JSON bytes of at most ``max_bytes`` bytes and ``max_depth`` nesting levels.

    Raises
    ------
    CertificateFormatError
        When the text is too large or too deep (checked before parsing), is not valid UTF-8 JSON, or holds
        a float, ``NaN`` / ``Infinity``, or an integer of more than 19 digits.  The message starts with the
        JSON path at fault (``(root)`` for the document).
    """
    if len(raw) > max_bytes:
        raise CertificateFormatError(f"(root): {len(raw)} bytes, over the limit of {max_bytes}")
    depth = nesting_depth(raw)
    if depth > max_depth:
        raise CertificateFormatError(f"(root): JSON nesting depth {depth} is over the limit of {max_depth}")
    try:
        return json.loads(
            raw.decode("utf-8"),
            parse_constant=_reject_constant,
            parse_float=_reject_float,
            parse_int=_small_int,
        )
    except CertificateFormatError:
        raise
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError, ValueError) as e:
        raise CertificateFormatError(f"(root): not valid JSON ({e})") from e

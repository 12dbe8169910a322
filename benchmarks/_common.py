"""Small helpers shared by the benchmark scripts: repeated timing, the machine line, Markdown tables."""

from __future__ import annotations

import datetime as dt
import os
import platform
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib import metadata
from typing import Generic, TypeVar

T = TypeVar("T")

__all__ = ["Timing", "machine_line", "markdown_table", "package_version", "timed"]


@dataclass(frozen=True)
class Timing(Generic[T]):
    """Best wall time (seconds) over ``repeats`` calls and the result of the last call."""

    seconds: float
    repeats: int
    result: T


def timed(fn: Callable[[], T], repeats: int = 3, budget: float = 2.0) -> Timing[T]:
    """Call ``fn`` up to ``repeats`` times and keep the fastest wall time.

    Stops repeating once the calls so far have used ``budget`` seconds, so that a slow case runs once.
    The minimum is the least noisy estimate of the cost itself (noise only ever adds time).
    """
    t0 = time.perf_counter()
    result = fn()
    best = spent = time.perf_counter() - t0
    done = 1
    while done < repeats and spent < budget:
        t0 = time.perf_counter()
        result = fn()
        elapsed = time.perf_counter() - t0
        best = min(best, elapsed)
        spent += elapsed
        done += 1
    return Timing(best, done, result)


def package_version(name: str) -> str:
    """Installed version of a distribution, or ``"absent"``."""
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "absent"


def machine_line(packages: Sequence[str] = ("numpy", "clarabel")) -> str:
    """``"2-core x86-64, numpy X, clarabel Y, measured YYYY-MM-DD"`` for the machine this runs on."""
    cores = os.cpu_count() or 1
    arch = platform.machine().replace("_", "-") or "unknown"
    versions = ", ".join(f"{p} {package_version(p)}" for p in packages)
    return f"{cores}-core {arch}, {versions}, measured {dt.date.today().isoformat()}"


def markdown_table(
    header: Sequence[str], rows: Sequence[Sequence[str]], right: Sequence[bool]
) -> str:
    """A GitHub Markdown table; ``right[j]`` right-aligns column ``j`` (numbers)."""
    rule = ["---:" if r else "---" for r in right]
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join(rule) + " |"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)

"""The batch's progress bar on a terminal (counts per status, ETA) and its closing summary table."""

from __future__ import annotations

import statistics
import sys
import time
from collections.abc import Mapping, Sequence
from typing import Any

from sosrelax.batch.results import BatchResult

__all__ = ["Progress", "summary_table"]

_COUNTED = ("certified", "falsified", "unknown", "error", "timeout")


class Progress:
    """A rich progress bar on a terminal (counts per status and ETA); silent otherwise."""

    def __init__(self, total: int, done: Mapping[str, int], enabled: bool | None) -> None:
        self.counts = {s: int(done.get(s, 0)) for s in _COUNTED}
        self.bar: Any = None
        self._last = 0.0
        if enabled is None:
            enabled = sys.stderr.isatty()
        if not enabled:
            return
        try:
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )
        except ImportError:
            return
        self.bar = Progress(
            TextColumn("[bold]batch"), BarColumn(), MofNCompleteColumn(),
            TextColumn("{task.fields[counts]}"), TimeElapsedColumn(), TextColumn("ETA"),
            TimeRemainingColumn(), console=Console(stderr=True), auto_refresh=False,
        )
        self.bar.start()
        self.task_id = self.bar.add_task("batch", total=total, completed=sum(self.counts.values()),
                                         counts=self._text())
        self.bar.refresh()

    def _text(self) -> str:
        c = self.counts
        return (f"[green]{c['certified']} certified[/] [red]{c['falsified']} falsified[/] "
                f"[yellow]{c['unknown']} unknown[/] [magenta]{c['error'] + c['timeout']} error[/]")

    def advance(self, status: str) -> None:
        self.counts[status] = self.counts.get(status, 0) + 1
        if self.bar is not None:
            self.bar.update(self.task_id, advance=1, counts=self._text())
            self.tick(force=True)

    def tick(self, force: bool = False) -> None:
        if self.bar is not None and (force or time.monotonic() - self._last > 0.2):
            self._last = time.monotonic()
            self.bar.refresh()

    def close(self, results: Sequence[BatchResult] | None) -> None:
        if self.bar is None:
            return
        self.bar.stop()
        if results is not None:
            self.bar.console.print(summary_table(results))


def summary_table(results: Sequence[BatchResult]) -> str:
    """A plain-text table: claims per status, how many were read back from the store, and times."""
    counts = {s: 0 for s in _COUNTED}
    for r in results:
        counts[r.status.value] += 1
    resumed = sum(r.resumed for r in results)
    lines = [f"{'status':<10} {'claims':>7}", f"{'-' * 10} {'-' * 7}"]
    lines += [f"{s:<10} {counts[s]:>7}" for s in _COUNTED]
    lines.append(f"{'total':<10} {len(results):>7}" + (f"   ({resumed} from the store)" if resumed else ""))
    solve = [r.solve_time_s for r in results if r.solve_time_s is not None]
    if solve:
        lines.append(f"solve time per claim: median {statistics.median(solve):.3g} s, "
                     f"max {max(solve):.3g} s, total {sum(solve):.3g} s")
    return "\n".join(lines)

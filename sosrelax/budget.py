"""Wall-clock budgets: one :class:`Deadline` per call, passed down to every phase, and its progress line.

A call such as :func:`sosrelax.solve` with ``time_limit=T`` makes one deadline ``T`` seconds from its start.
Each phase (relaxation build, solve, certificate step) asks it what is left: solvers get their own time limits
from :meth:`Deadline.solver_limit`, and loops that start new attempts ask :meth:`Deadline.allows` with the
expected cost of the next one, so that no attempt starts that would end after the deadline.  A phase that was
skipped or cut short for lack of time is recorded (:attr:`Deadline.shortfalls`), so that the result can say
that the time ran out.

Phases are logged on the ``sosrelax.*`` loggers (the library configures no handler) and, when
``progress`` is on, drawn as one line on stderr: phase, elapsed time and the budget left.
"""

from __future__ import annotations

import logging
import math
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import IO

from sosrelax.errors import InvalidValueError

__all__ = ["Deadline", "ProgressLine", "progress_enabled"]

logger = logging.getLogger(__name__)


def progress_enabled(progress: bool | str | None, stream: IO[str] | None = None) -> bool:
    """Whether to draw a progress line: ``True``/``False`` as given; ``"auto"`` (or ``None``): when
    ``stream`` (stderr by default) is a terminal or the code runs in a Jupyter kernel."""
    if isinstance(progress, bool):
        return progress
    if progress not in (None, "auto"):
        raise InvalidValueError(f"progress must be True, False or 'auto', got {progress!r}")
    stream = sys.stderr if stream is None else stream
    try:
        if stream.isatty():
            return True
    except (AttributeError, ValueError):  # a closed or foreign stream
        return False
    return _in_notebook()


def _in_notebook() -> bool:
    """True inside a Jupyter kernel (where stderr is a pipe the notebook draws)."""
    if "ipykernel" not in sys.modules:
        return False
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and "IPKernelApp" in getattr(shell, "config", {})


class ProgressLine:
    """One line on ``stream``, redrawn in place: ``sosrelax: <phase> | 3.2 s elapsed | 6.8 s left``.

    Drawn at most every ``interval`` seconds (and at each new phase); :meth:`close` clears it.
    """

    def __init__(self, stream: IO[str] | None = None, interval: float = 0.2) -> None:
        self.stream = sys.stderr if stream is None else stream
        self.interval = interval
        self._last = -math.inf
        self._width = 0

    def show(self, phase: str, elapsed: float, left: float, *, force: bool = False) -> None:
        """Draw ``phase``, ``elapsed`` seconds and ``left`` seconds of budget (``inf``: no limit)."""
        now = time.perf_counter()
        if not force and now - self._last < self.interval:
            return
        self._last = now
        budget = "no time limit" if math.isinf(left) else f"{max(left, 0.0):.1f} s left"
        text = f"sosrelax: {phase} | {elapsed:.1f} s elapsed | {budget}"
        pad = " " * max(0, self._width - len(text))
        self._width = len(text)
        try:
            self.stream.write("\r" + text + pad)
            self.stream.flush()
        except (OSError, ValueError):
            pass

    def close(self) -> None:
        """Erase the line (nothing when it was never drawn)."""
        if self._width:
            try:
                self.stream.write("\r" + " " * self._width + "\r")
                self.stream.flush()
            except (OSError, ValueError):
                pass
            self._width = 0


class Deadline:
    """The wall-clock budget of one call: ``seconds`` from now (``None``: no limit).

    Parameters
    ----------
    seconds : float or None
        The budget; ``None`` or ``inf`` for none.  Must be ``>= 0``.
    progress : ProgressLine, optional
        Where phases are drawn; ``None``: nowhere (they are still logged).
    clock : callable
        Monotonic seconds (``time.perf_counter``); replaceable in tests.

    Notes
    -----
    :meth:`within` makes a nested deadline (the earlier of this one and a phase's own budget) that shares the
    progress line; a shortfall recorded on it counts as the *caller's* time running out only when the caller's
    deadline is what bound it.
    """

    def __init__(
        self,
        seconds: float | None,
        *,
        progress: ProgressLine | None = None,
        clock: Callable[[], float] = time.perf_counter,
        _parent: Deadline | None = None,
    ) -> None:
        if seconds is not None and not (isinstance(seconds, (int, float)) and seconds >= 0):
            raise InvalidValueError(f"time_limit must be a number >= 0 (seconds) or None, got {seconds!r}")
        self.clock = clock
        now = clock()
        self.start: float = now if _parent is None else _parent.start
        self.end: float = math.inf if seconds is None else now + float(seconds)
        if _parent is not None:
            self.end = min(self.end, _parent.end)
        self.progress: ProgressLine | None = progress if _parent is None else _parent.progress
        self.parent = _parent
        self.shortfalls: list[str] = []
        self.phase_name: str = "start" if _parent is None else _parent.phase_name

    @property
    def limited(self) -> bool:
        """Whether there is a limit at all."""
        return math.isfinite(self.end)

    def elapsed(self) -> float:
        """Seconds since the call started."""
        return self.clock() - self.start

    def remaining(self) -> float:
        """Seconds left (``inf`` without a limit; negative once past)."""
        return self.end - self.clock()

    def expired(self) -> bool:
        """Whether the deadline has passed."""
        return self.remaining() <= 0

    def allows(self, cost: float) -> bool:
        """Whether something expected to take ``cost`` seconds still ends before the deadline."""
        return self.remaining() > cost

    def solver_limit(self, reserve: float = 0.0) -> float | None:
        """A solver's time limit: what is left less ``reserve`` seconds kept for the steps after it (at
        least a tenth of what is left, so that a solve always gets a chance); ``None`` without a limit."""
        if not self.limited:
            return None
        left = max(self.remaining(), 0.0)
        return max(left - reserve, 0.1 * left, 1e-3)

    def within(self, seconds: float | None) -> Deadline:
        """A nested deadline: the earlier of this one and ``seconds`` from now."""
        return Deadline(seconds, clock=self.clock, _parent=self)

    def short(self, what: str) -> None:
        """Record that ``what`` was skipped or cut short because the deadline was near.

        Recorded on the outermost deadline whose end is the binding one (a nested budget that ran out
        before the caller's does not mean the caller's time ran out)."""
        target: Deadline = self
        while target.parent is not None and target.parent.end <= target.end:
            target = target.parent
        if target.parent is not None:
            logger.debug("%s: the phase's own budget ran out", what)
            return
        target.shortfalls.append(what)
        logger.info("time limit: %s (%.3g s elapsed, %.3g s left)", what, self.elapsed(), self.remaining())

    @property
    def ran_out(self) -> bool:
        """Whether the time limit cut anything short."""
        return bool(self.shortfalls)

    def tick(self) -> None:
        """Redraw the progress line for the current phase (throttled)."""
        if self.progress is not None:
            self.progress.show(self.phase_name, self.elapsed(), self.remaining())

    @contextmanager
    def phase(self, name: str, log: logging.Logger | None = None) -> Iterator[None]:
        """Run a phase: logged when it starts and ends (with its duration), shown on the progress line."""
        log = logger if log is None else log
        root = self
        while root.parent is not None:
            root = root.parent
        previous, root.phase_name = root.phase_name, name
        self.phase_name = name
        t0 = self.clock()
        log.debug("%s: start (%.3g s left)", name, self.remaining())
        if self.progress is not None:
            self.progress.show(name, self.elapsed(), self.remaining(), force=True)
        try:
            yield
        finally:
            log.info("%s: %.3g s", name, self.clock() - t0)
            root.phase_name = self.phase_name = previous

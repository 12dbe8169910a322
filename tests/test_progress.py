"""Progress of long phases: records on the ``sosrelax.*`` loggers (no handler configured by the library) and a
one-line display on stderr that is on for terminals and notebooks, off otherwise."""

from __future__ import annotations

import io
import logging
from typing import Any

import pytest

import sosrelax as sr
from sosrelax.budget import Deadline, ProgressLine, progress_enabled
from sosrelax.problems import camel


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_auto_is_on_for_a_terminal_and_off_for_a_pipe() -> None:
    assert progress_enabled("auto", Terminal())
    assert not progress_enabled("auto", io.StringIO())
    assert progress_enabled(True, io.StringIO()) and not progress_enabled(False, Terminal())


def test_bad_progress_value_is_refused() -> None:
    with pytest.raises(sr.errors.InvalidValueError, match="progress"):
        progress_enabled("sometimes")


def test_progress_line_shows_phase_elapsed_and_budget_then_clears() -> None:
    out = Terminal()
    line = ProgressLine(out)
    d = Deadline(10.0, progress=line)
    with d.phase("solve (clarabel)"):
        pass
    text = out.getvalue()
    assert text.startswith("\rsosrelax: solve (clarabel) | ")
    assert "s elapsed" in text and "s left" in text
    line.close()
    assert out.getvalue().endswith("\r")
    quiet = io.StringIO()
    ProgressLine(quiet).close()  # never drawn: nothing to erase
    assert quiet.getvalue() == ""


def test_solve_draws_the_line_only_when_asked(capsys: Any) -> None:
    sr.solve(camel(), level=3, progress=True)
    err = capsys.readouterr().err
    assert "sosrelax: build" in err and "sosrelax: solve (clarabel)" in err and "sosrelax: certificate" in err
    assert "no time limit" in err
    sr.solve(camel(), level=3)  # "auto": stderr is captured here, not a terminal
    assert capsys.readouterr().err == ""


def test_phases_are_logged_on_sosrelax_loggers(caplog: Any) -> None:
    with caplog.at_level(logging.DEBUG, logger="sosrelax"):
        res = sr.solve(camel(), level=3, time_limit=30)
    names = {r.name for r in caplog.records}
    assert all(n.startswith("sosrelax.") for n in names) and "sosrelax.api" in names
    messages = [r.getMessage() for r in caplog.records]
    for phase in ("build", "solve (clarabel)", "certificate"):
        assert any(m.startswith(f"{phase}: start") for m in messages), phase
    assert any(m.startswith("proven lower bound") for m in messages)
    assert res.bound is not None


def test_library_configures_no_handler() -> None:
    sr.solve(camel(), level=3)
    for name in ("sosrelax", "sosrelax.api", "sosrelax.prove", "sosrelax.budget", "sosrelax.certify"):
        assert logging.getLogger(name).handlers == [], name

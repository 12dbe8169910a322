"""``res.info["time"]``: every stage of a call timed, and the stages add up to no more than the call."""

from __future__ import annotations

import time

import pytest

import sosrelax as sr

x, y = sr.variables("x y")


@pytest.mark.parametrize("f", [x**4 + y**4 - 3 * x * y + 1, (x**2 + y - 11) ** 2 + (x + y**2 - 7) ** 2])
def test_stage_times_are_reported_and_consistent(f):
    t0 = time.perf_counter()
    res = sr.solve(sr.Problem(minimize=f), level=3)
    wall = time.perf_counter() - t0
    t = res.info["time"]
    for key in ("build", "solve", "certificate", "rounding", "check", "resolves", "minimisers", "total"):
        assert t[key] >= 0.0, key
    assert res.certified
    assert t["check"] > 0.0  # the checker ran
    assert t["rounding"] + t["check"] + t["resolves"] <= t["certificate"] + 1e-6
    assert t["build"] + t["solve"] + t["certificate"] + t["minimisers"] <= t["total"] + 1e-6
    assert t["total"] <= wall + 1e-6
    assert "check" in repr(res)


def test_time_limit_covers_the_whole_call():
    f = sum((v**2 - 1) ** 2 for v in sr.variables("z", 6)) + sum(sr.variables("z", 6))
    limit = 0.5
    t0 = time.perf_counter()
    res = sr.solve(sr.Problem(minimize=f), level=2, time_limit=limit)
    taken = time.perf_counter() - t0
    assert taken <= limit + 0.5, res.info["time"]
    assert res.info["time"]["total"] <= limit + 0.5

"""``time_limit`` bounds the whole call: build, solves and the certificate step (re-solves, exact rounding
and check), with one deadline passed down; the strategy stops starting attempts that would end after it."""

from __future__ import annotations

import math
import time

import pytest

import sosrelax as sr
from sosrelax.budget import Deadline
from sosrelax.problems import generalized_rosenbrock


class Clock:
    """A hand-driven clock for the deadline's arithmetic."""

    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def test_deadline_arithmetic() -> None:
    clock = Clock()
    d = Deadline(10.0, clock=clock)
    clock.t += 4.0
    assert d.elapsed() == 4.0 and d.remaining() == 6.0
    assert d.allows(5.9) and not d.allows(6.0)
    assert d.solver_limit(reserve=2.0) == 4.0
    assert d.solver_limit(reserve=100.0) == pytest.approx(0.6)  # a tenth of what is left, always
    clock.t += 7.0
    assert d.expired() and not d.allows(0.0)
    unlimited = Deadline(None, clock=clock)
    assert unlimited.solver_limit() is None and unlimited.remaining() == math.inf and unlimited.allows(1e9)


def test_nested_deadline_takes_the_earlier_end_and_reports_to_the_binding_one() -> None:
    clock = Clock()
    outer = Deadline(10.0, clock=clock)
    inner = outer.within(3.0)  # its own budget binds
    assert inner.remaining() == 3.0
    inner.short("re-solve")
    assert not outer.ran_out and not inner.ran_out  # the phase's budget ran out, not the caller's time
    clock.t += 8.0
    late = outer.within(5.0)  # the caller's deadline binds
    assert late.remaining() == 2.0
    late.short("re-solve")
    assert outer.shortfalls == ["re-solve"] and outer.ran_out


def test_bad_time_limit_is_refused() -> None:
    with pytest.raises(sr.errors.InvalidValueError, match="time_limit"):
        Deadline(-1.0)


def test_tight_time_limit_is_kept() -> None:
    """Rosenbrock's certificate step takes several seconds (the solver's own dual does not round, centred
    re-solves follow); with a 1 s limit the whole call ends within it, with a valid bound or none."""
    limit = 1.0
    t0 = time.perf_counter()
    res = sr.solve(generalized_rosenbrock(12), level=2, sparsity="correlative", time_limit=limit)
    taken = time.perf_counter() - t0
    assert taken <= limit + 0.25, (taken, res.info["time"])
    assert res.info["time"]["total"] <= limit + 0.2
    if res.bound is None:
        assert res.status == "time_limit"
        assert res.info["time_limit_cut"]
        assert "time limit" in res.message
    else:
        assert res.bound <= 1.0  # the minimum of the generalized Rosenbrock function is 1


def test_no_limit_still_proves_the_bound() -> None:
    res = sr.solve(generalized_rosenbrock(6), level=2, sparsity="correlative")
    assert res.status == "optimal" and res.bound is not None
    assert 1.0 - 1e-5 <= res.bound <= 1.0
    assert "time_limit_cut" not in res.info


def test_certify_keeps_its_time_limit() -> None:
    """The rung's solve gets what is left of the claim's budget; the adversary's local runs are not
    interruptible, so its budget is kept small here."""
    f = generalized_rosenbrock(12).objective
    claim = sr.Claim(f >= 0.5, subject_to=[])
    t0 = time.perf_counter()
    verdict = sr.certify(claim, schedule=[("sos", 2, "correlative")], time_limit=1.0, attack_budget=0.05)
    assert time.perf_counter() - t0 <= 1.0 + 0.4
    assert verdict.status in ("certified", "unknown")

"""``sosrelax.certify``: the loop that settles a claim, rung after rung.

A claim says ``p(x) >= 0`` (or ``> 0``) for every ``x`` in ``K``.  Each rung of the schedule bounds
``min_K p`` from below with a relaxation; the bound counts only once the independent checker verified its
certificate.  If the proven bound settles the claim, the verdict is **certified**.  Otherwise the relaxation's
moments (a pseudodistribution over attacks) seed the adversary; a point that is exactly feasible and exactly
violates the claim makes the verdict **falsified**.  Else the next rung is tried, and when the schedule or the
budget ends the verdict is **unknown**, with the remaining gap between the best proven bound and the best attack.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import Enum, StrEnum
from fractions import Fraction
from typing import TYPE_CHECKING, Any

import numpy as np

from sosrelax.budget import progress_enabled
from sosrelax.errors import InvalidValueError, SizeLimitError
from sosrelax.problem import Claim
from sosrelax.result import SolveResult

if TYPE_CHECKING:
    from sosrelax.adversary.search import AttackResult

__all__ = ["RungLog", "Verdict", "VerdictStatus", "certify", "parse_schedule"]

logger = logging.getLogger(__name__)


class VerdictStatus(StrEnum):
    """``CERTIFIED``: proven by a checked certificate; ``FALSIFIED``: an exactly checked counterexample;
    ``UNKNOWN``: neither within the schedule and budget."""

    CERTIFIED = "certified"
    FALSIFIED = "falsified"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class RungLog:
    """One row of the verdict's log: what a rung did and how it ended."""

    rung: str
    sizes: dict[str, Any]
    bound: float | None  # proven lower bound on min_K p (None: nothing proven)
    solver_bound: float | None  # the relaxation's value as the solver reported it
    attack_value: float | None  # smallest p found at an exactly feasible point
    time_s: float
    outcome: str  # "certified" | "falsified" | "gap" | "skipped: ..." | "error: ..."
    attack_s: float = 0.0  # of time_s, the adversary's share


@dataclass(frozen=True)
class Verdict:
    """The outcome of :func:`certify`.

    Attributes
    ----------
    status : VerdictStatus
    claim : Claim
    bound : float or None
        The best *proven* lower bound on ``min_K p`` (``+inf`` when ``K`` was proven empty).
    attack_value : float or None
        The smallest value of ``p`` found at an exactly feasible point (an upper bound on ``min_K p``).
    counterexample : dict or None
        A point (variable name → value) that is exactly feasible and exactly violates the claim.
    certificate : Certificate or None
        The verified certificate behind a ``certified`` verdict.
    log : tuple of RungLog
    message : str
    time_s : float
    """

    status: VerdictStatus
    claim: Claim
    bound: float | None
    attack_value: float | None
    counterexample: dict[str, float] | None
    certificate: Any
    log: tuple[RungLog, ...] = field(default_factory=tuple)
    message: str = ""
    time_s: float = 0.0

    @property
    def gap(self) -> float | None:
        """``attack_value − bound`` when both exist: how far the question is from settled."""
        if self.bound is None or self.attack_value is None:
            return None
        return self.attack_value - self.bound

    def __repr__(self) -> str:
        rows = [f"Verdict({self.status.value}: {self.message})"]
        for r in self.log:
            rows.append(
                f"  {r.rung:>8}  bound {_fmt(r.bound):>14}  attack {_fmt(r.attack_value):>14}  "
                f"{r.time_s:7.2f}s  {r.outcome}"
            )
        return "\n".join(rows)


def _fmt(v: float | None) -> str:
    return "-" if v is None else f"{v:.8g}"


Rung = tuple[Any, ...]  # (relaxation, level) or (relaxation, level, sparsity)


def parse_schedule(schedule: str | Sequence[Any], claim: Claim, max_level: int = 6) -> list[Rung]:
    """Turn a schedule into rungs ``(relaxation, level)`` or ``(relaxation, level, sparsity)``.

    ``"auto"``: the full hierarchy, cheapest first — Sherali–Adams LP (when there are inequalities), DSOS,
    SDSOS, Shor's SDP (quadratic problems), then the SOS levels up to ``max_level``; every rung uses
    correlative sparsity when the problem's correlative sparsity graph has cliques much smaller than ``n``
    (:func:`sosrelax.relax.hierarchy.auto_schedule`).  ``"sos"``: the SOS levels only.
    A sequence: items ``int`` (an SOS level), ``"sdp"``, ``"sos:3"``, ``"lp:2"``, ``"dsos:2"``, ``"sdsos:2"``
    (``"lp"``/``"dsos"``/``"sdsos"`` alone: the lowest level), ``("sos", 3)`` or ``("sos", 3, "correlative")``.
    """
    from sosrelax.relax.hierarchy import auto_schedule
    from sosrelax.relax.moment import minimum_level

    d0 = minimum_level(claim.problem)
    if isinstance(schedule, str):
        if schedule == "auto":
            return [
                (r.relaxation, r.level) if r.sparsity is None else (r.relaxation, r.level, r.sparsity)
                for r in auto_schedule(claim.problem, max_level)
            ]
        if schedule == "sos":
            return [("sos", d) for d in range(d0, max(d0, max_level) + 1)]
        return parse_schedule([schedule], claim, max_level)
    rungs: list[Rung] = []
    for item in schedule:
        if isinstance(item, (int, np.integer)) and not isinstance(item, bool):
            rungs.append(("sos", int(item)))
        elif isinstance(item, tuple) and len(item) == 2:
            rungs.append((str(item[0]), None if item[1] is None else int(item[1])))
        elif isinstance(item, tuple) and len(item) == 3:
            rungs.append((str(item[0]), None if item[1] is None else int(item[1]),
                          None if item[2] is None else str(item[2])))
        elif isinstance(item, str) and item == "sdp":
            rungs.append(("sdp", None))
        elif isinstance(item, str) and item in ("lp", "dsos", "sdsos"):
            rungs.append((item, d0))
        elif (isinstance(item, str) and ":" in item and item.split(":", 1)[0] in ("sos", "lp", "dsos", "sdsos")
              and item.split(":", 1)[1].isdigit()):
            head, lvl = item.split(":", 1)
            rungs.append((head, int(lvl)))
        else:
            raise InvalidValueError(
                f"schedule item {item!r} is not understood; use 'auto' or items like 2, 'sdp', 'sos:3', "
                "'lp:1', 'dsos:2', 'sdsos:2'"
            )
    if not rungs:
        raise InvalidValueError("the schedule is empty; use 'auto' or a list such as [1, 2, 3]")
    return rungs


def _settles(bound: Fraction, strict: bool) -> bool:
    return bound > 0 if strict else bound >= 0


def _certify_latent(claim: Any, time_limit: float, rng: np.random.Generator | int | None) -> Verdict:
    """A latent claim (:class:`sosrelax.nn.latent.LatentClaim`) decided by ``verify_latent``: *certified*
    with the checked proof tree (or certificates), *falsified* with the exactly checked latent witness."""
    from sosrelax.nn.latent import verify_latent

    t0 = time.perf_counter()
    res = verify_latent(claim.net, claim.prop, claim.envelope, timeout=time_limit, rng=rng)
    verdict = getattr(res.status, "value", str(res.status))
    status = {"unsat": VerdictStatus.CERTIFIED, "sat": VerdictStatus.FALSIFIED}.get(verdict, VerdictStatus.UNKNOWN)
    cert: Any = None
    if status is VerdictStatus.CERTIFIED:
        cert = res.proof if res.proof is not None else res.certificates
    cx = res.witness.as_dict() if status is VerdictStatus.FALSIFIED and res.witness is not None else None
    return Verdict(status, claim, None, None, cx, cert, (), f"latent {verdict}: {res.message}",
                   time.perf_counter() - t0)


def certify(
    claim: Claim,
    schedule: str | Sequence[Any] = "auto",
    time_limit: float = 60.0,
    *,
    solver: str = "clarabel",
    max_level: int = 6,
    rng: np.random.Generator | int | None = 0,
    attack_budget: float | None = None,
    progress: bool | str | None = "auto",
) -> Verdict:
    """Certify or falsify ``claim`` (``p >= 0`` on ``K``), climbing the relaxation hierarchy.

    Parameters
    ----------
    claim : Claim
        ``sr.Claim(f <= t, subject_to=[...])``, or a latent claim
        (:class:`sosrelax.nn.latent.LatentClaim`: a network property over the hidden states of an
        activation envelope, decided by :func:`sosrelax.nn.latent.verify_latent`; ``schedule``,
        ``solver`` and ``max_level`` do not apply to it).
    schedule : "auto" or sequence
        The rungs to try in order (see :func:`parse_schedule`).
    time_limit : float
        Wall-clock budget in seconds; no new rung starts after it is spent.
    solver : str
        Backend for every rung.
    max_level : int
        Highest SOS level of the ``"auto"`` schedule.
    rng : Generator or int
        Randomness of the adversary (explicit, reproducible).
    attack_budget : float, optional
        Seconds per rung for the adversary; default ``min(10, 0.2·time_limit)``.
    progress : bool or "auto"
        Print a live table to stderr; ``"auto"`` (or ``None``): only when stderr is a terminal or in a
        Jupyter notebook.  Each rung is also logged on the ``sosrelax.certify`` logger.

    Returns
    -------
    Verdict
        ``certified`` only if the independent checker verified a certificate that settles the claim;
        ``falsified`` only with a counterexample re-evaluated exactly; ``unknown`` otherwise.
    """
    if not isinstance(claim, Claim):
        from sosrelax.nn.latent.claims import LatentClaim

        if isinstance(claim, LatentClaim):
            return _certify_latent(claim, time_limit, rng)
        raise InvalidValueError(
            f"certify() expects a sosrelax.Claim (or a sosrelax.nn.latent.LatentClaim), got "
            f"{type(claim).__name__}; write sr.Claim(f <= t, subject_to=[...])"
        )
    run = _Run(claim, time_limit, time.perf_counter(), progress_enabled(progress))
    rungs = parse_schedule(schedule, claim, max_level)
    gen = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
    budget = attack_budget if attack_budget is not None else min(10.0, 0.2 * time_limit)
    if run.show:
        print(
            f"{'rung':>8}  {'proven bound':>14}  {'best attack':>14}  {'time':>8}  outcome",
            file=sys.stderr,
        )
    for rung in rungs:
        name = _rung_name(rung)
        if run.remaining() <= 0:
            run.record(RungLog(name, {}, None, None, None, 0.0, "skipped: time limit reached"))
            break
        outcome = _try_rung(run, rung, name, solver, gen, budget)
        if isinstance(outcome, Verdict):
            return outcome
        if outcome is _Next.STOP:
            break
    best_bound, best_attack = run.best_bound, run.best_attack
    gap = (
        "" if best_bound is None or best_attack is None else f"; gap {best_attack - best_bound:.3g}"
    )
    return run.verdict(
        VerdictStatus.UNKNOWN,
        f"neither proven nor falsified within the schedule and budget: best proven bound "
        f"{_fmt(best_bound)}, best attack {_fmt(best_attack)}{gap}",
    )


def _rung_name(rung: Rung) -> str:
    """``"sos-2"``, ``"lp"``, ``"sos-2/correlative"``: the rung's label in the log."""
    relaxation, level = rung[0], rung[1]
    sparsity = rung[2] if len(rung) > 2 else None
    name = relaxation if level is None else f"{relaxation}-{level}"
    return name if sparsity is None else f"{name}/{sparsity}"


class _Next(Enum):
    """What the loop does after a rung that reached no verdict."""

    CONTINUE = "continue"
    STOP = "stop"


@dataclass
class _Run:
    """The state of one :func:`certify` call: the log, the live table and the best values so far."""

    claim: Claim
    time_limit: float
    t_start: float
    show: bool
    log: list[RungLog] = field(default_factory=list)
    best_bound: float | None = None
    best_attack: float | None = None

    @property
    def strict(self) -> bool:
        return self.claim.constraint.kind.name == "GT"

    def remaining(self) -> float:
        """Seconds left of the time limit."""
        return self.time_limit - (time.perf_counter() - self.t_start)

    def record(self, row: RungLog) -> None:
        """Append ``row`` to the log (and print it when the live table is on)."""
        self.log.append(row)
        logger.info("rung %s: %s (bound %s, attack %s, %.3g s)", row.rung, row.outcome, _fmt(row.bound),
                    _fmt(row.attack_value), row.time_s)
        if self.show:
            print(
                f"{row.rung:>8}  {_fmt(row.bound):>14}  {_fmt(row.attack_value):>14}  {row.time_s:7.2f}s  "
                f"{row.outcome}",
                file=sys.stderr,
                flush=True,
            )

    def verdict(self, status: VerdictStatus, message: str, **kw: Any) -> Verdict:
        """The verdict with the log so far; ``bound`` and ``attack_value`` default to the best values."""
        return Verdict(
            status=status,
            claim=self.claim,
            bound=kw.pop("bound", self.best_bound),
            attack_value=kw.pop("attack_value", self.best_attack),
            counterexample=kw.pop("counterexample", None),
            certificate=kw.pop("certificate", None),
            log=tuple(self.log),
            message=message,
            time_s=time.perf_counter() - self.t_start,
        )


def _try_rung(run: _Run, rung: Rung, name: str, solver: str, gen: np.random.Generator,
              budget: float) -> Verdict | _Next:
    """Solve one rung, check its certificate, and attack its moments; a verdict when that settles the claim.

    A rung that does not apply (or is too large) is logged as skipped; after a too-large SOS rung the loop
    stops, since higher levels only grow.
    """
    from sosrelax.api import solve

    relaxation, level = rung[0], rung[1]
    sparsity = rung[2] if len(rung) > 2 else None
    remaining = run.remaining()
    t0 = time.perf_counter()
    try:
        res: SolveResult = solve(run.claim.problem, relaxation=relaxation, level=level, solver=solver,
                                 sparsity=sparsity, time_limit=max(remaining, 0.0))
    except SizeLimitError as e:
        run.record(RungLog(name, {}, None, None, None, time.perf_counter() - t0, f"skipped: {e}"))
        # higher SOS levels only grow; a too-large LP/SOCP rung does not rule out the SOS rungs
        return _Next.STOP if relaxation == "sos" else _Next.CONTINUE
    except InvalidValueError as e:  # a rung that does not apply to this claim (e.g. Shor on a quartic)
        run.record(RungLog(name, {}, None, None, None, time.perf_counter() - t0, f"skipped: {e}"))
        return _Next.CONTINUE
    sizes = res.info.get("sizes", {})
    # K proven empty: the claim holds vacuously
    if res.certified and res.certificate is not None and res.certificate.kind == "infeasible":
        run.record(RungLog(name, sizes, float("inf"), None, None, time.perf_counter() - t0, "certified"))
        return run.verdict(
            VerdictStatus.CERTIFIED,
            "the set K is empty (infeasibility certificate verified), so the claim holds",
            bound=float("inf"),
            certificate=res.certificate,
        )
    if res.bound is not None and res.check is not None and res.check.valid:
        assert res.check.bound is not None
        proven = Fraction(res.check.bound)
        run.best_bound = res.bound if run.best_bound is None else max(run.best_bound, res.bound)
        if _settles(proven, run.strict):
            run.record(RungLog(name, sizes, res.bound, res.solver_bound, None, time.perf_counter() - t0,
                               "certified"))
            return run.verdict(
                VerdictStatus.CERTIFIED,
                f"min p >= {res.bound:.10g} proven at rung {name} (certificate verified)",
                certificate=res.certificate,
            )
    outcome = "gap" if res.bound is not None else f"no bound ({res.status.value})"
    if relaxation in ("lp", "dsos", "sdsos"):
        # cheap bounding rungs: their moments are not PSD-constrained, so the adversary waits for
        # the SDP/SOS rungs
        run.record(RungLog(name, sizes, res.bound, res.solver_bound, None, time.perf_counter() - t0, outcome))
        return _Next.CONTINUE
    t_att = time.perf_counter()
    if run.remaining() <= 0:
        run.record(RungLog(name, sizes, res.bound, res.solver_bound, None, time.perf_counter() - t0,
                           f"{outcome}; attack skipped: time limit reached"))
        return _Next.STOP
    found = _attack_moments(run, res.pseudo, gen, budget, run.remaining())
    t_att = time.perf_counter() - t_att
    if found.best is not None and found.best.feasible:
        v = found.best.value
        run.best_attack = v if run.best_attack is None else min(run.best_attack, v)
    if found.counterexample is not None:
        run.record(RungLog(name, sizes, res.bound, res.solver_bound, found.counterexample.value,
                           time.perf_counter() - t0, "falsified", t_att))
        return run.verdict(
            VerdictStatus.FALSIFIED,
            f"counterexample found at rung {name}: p = {found.counterexample.value:.10g} "
            "(re-evaluated exactly)",
            counterexample=dict(found.counterexample.point),
        )
    attack_value = None if found.best is None or not found.best.feasible else found.best.value
    run.record(RungLog(name, sizes, res.bound, res.solver_bound, attack_value, time.perf_counter() - t0,
                       outcome, t_att))
    return _Next.CONTINUE


def _attack_moments(run: _Run, pseudo: Any, gen: np.random.Generator, budget: float,
                    remaining: float) -> AttackResult:
    """A cheap moment-guided round first (atoms, mean, a few samples and starts); the full round only when
    it finds no counterexample, kept when it finds one or a better exactly feasible point."""
    from sosrelax.adversary.search import attack

    found = attack(run.claim, pseudo, rng=gen, budget_s=min(budget, remaining), n_samples=16, n_starts=2)
    if found.counterexample is None and run.remaining() > 0:
        wider = attack(run.claim, pseudo, rng=gen, budget_s=min(budget, run.remaining()))
        if wider.counterexample is not None or (
            wider.best is not None and wider.best.feasible
            and (found.best is None or not found.best.feasible
                 or wider.best.value < found.best.value)
        ):
            found = wider
    return found

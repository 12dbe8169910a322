"""Primal adversary: pseudodistributions, rounding and exact-checked local search.

The relaxation's primal side is a pseudodistribution over attacks; this package turns it into
concrete points and re-evaluates them exactly (see :mod:`.pseudo`, :mod:`.rounding`,
:mod:`.search`).
"""

from sosrelax.adversary.pseudo import (
    AtomsResult,
    FlatnessReport,
    MomentUnavailableError,
    PseudoDistribution,
    flatness_offset,
)
from sosrelax.adversary.search import Attack, AttackResult, AttackStatus, attack, multistart

__all__ = [
    "AtomsResult",
    "Attack",
    "AttackResult",
    "AttackStatus",
    "FlatnessReport",
    "MomentUnavailableError",
    "PseudoDistribution",
    "attack",
    "flatness_offset",
    "multistart",
]

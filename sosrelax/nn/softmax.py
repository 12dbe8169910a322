"""Properties over the outputs of a softmax, decided over its logits.

For a network whose outputs are ``p = softmax(z)`` (``Network.output_softmax``) and ``n >= 2`` outputs,
``p_i = 1 / Σ_k e^{z_k - z_i}`` is increasing in ``z_i`` and decreasing in every other ``z_k``, and the
atoms of a linear property over ``p`` translate into atoms over the logits ``z``:

* a comparison of two outputs ``a (p_i - p_j) ⋈ 0`` has the sign of ``a (z_i - z_j)`` (one denominator):
  the same atom over the logits, **equivalent**;
* a bound ``p_i >= t`` (``0 < t < 1``) implies ``z_i - z_k >= ln(t / (1 - t))`` for every ``k != i`` and
  follows from ``z_i - z_k >= ln((n - 1) t / (1 - t))`` for every ``k != i``;
* a bound ``p_i <= t`` implies ``z_k - z_i >= ln((1 - t) / ((n - 1) t))`` for some ``k != i`` (a
  disjunction: the disjunct becomes ``n - 1`` disjuncts) and follows from ``z_k - z_i >= ln((1 - t) / t)``
  for some ``k``;
* ``p_i >= t`` with ``t <= 0`` and ``p_i <= t`` with ``t >= 1`` always hold (the atom is dropped);
  ``p_i >= t`` with ``t >= 1`` and ``p_i <= t`` with ``t <= 0`` never hold (the atom becomes ``-1 >= 0``,
  which the proof trees refute like any other);
* atoms over inputs only are kept; any other atom over ``p`` is refused, naming it.

Each logarithm is replaced by a float ``c`` on the safe side (below it for an implied atom, above for a
sufficient one), proven so with the checker's rigorous exponential
(:func:`~sosrelax.certificate.proof_tree.smooth.enclose_exp`): ``exp(c) <= r`` and ``exp(c) >= r`` are
decided on enclosures compared with the rational ``r`` exactly.  The *implied* property over the logits
then holds wherever the original one does: its ``unsat`` (a proof tree over the logit network, checked as
every other) proves the original ``unsat``.  A witness of the *implied* or the *sufficient* property is
a candidate only, confirmed against the original property on the softmax network (ball arithmetic and
onnxruntime, :func:`~sosrelax.nn.witness.confirm_counterexample`).  When every atom translates exactly, the
two properties are the same one.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from dataclasses import replace
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from sosrelax.certificate.proof_tree.smooth import enclose_exp
from sosrelax.errors import InvalidValueError
from sosrelax.nn.ir import Network
from sosrelax.nn.vnnlib import Atom, Disjunct, Property
from sosrelax.nn.witness import confirm_counterexample

__all__ = ["MAX_DISJUNCTS", "decide_softmax", "log_bound", "logit_property"]

#: Most disjuncts the disjunctions of ``p_i <= t`` atoms may multiply out to.
MAX_DISJUNCTS = 4096


def log_bound(r: Fraction, side: str) -> float:
    """A float ``c`` with ``exp(c) <= r`` (``side="below"``: ``c <= ln r``) or ``exp(c) >= r``
    (``"above"``), proven on the rigorous enclosure of ``exp(c)``; ``r > 0``."""
    if r <= 0:
        raise InvalidValueError(f"log_bound needs r > 0, got {r}")
    c0 = math.log(r.numerator) - math.log(r.denominator)  # no overflow for large integers
    gap = 1e-12 * (1.0 + abs(c0))
    for _ in range(64):
        c = c0 - gap if side == "below" else c0 + gap
        lo, hi = enclose_exp(np.array([c]))
        if side == "below" and math.isfinite(hi[0]) and Fraction(float(hi[0])) <= r:
            return c
        if side == "above" and Fraction(float(lo[0])) >= r:
            return c
        gap *= 2.0
    raise InvalidValueError(f"no float bound of ln({r}) found")  # pragma: no cover - r within float range


def _diff(i: int, k: int, c: float, strict: bool) -> Atom:
    """``z_i - z_k - c >= 0`` (``> 0`` when ``strict``)."""
    return Atom((), ((i, Fraction(1)), (k, Fraction(-1))), -Fraction(c), strict)


#: The atom ``-1 >= 0``: never true.
FALSE = Atom((), (), Fraction(-1))


def _translate(a: Atom, n: int, mode: str) -> list[list[Atom]] | None:
    """Atom ``a`` over ``p`` as a disjunction (list) of conjunctions of atoms over ``z`` (``[[]]``: always
    true, ``[[FALSE]]``: never true), or None: the same atom (exactly equivalent)."""
    ys: dict[int, Fraction] = {}
    for j, c in a.y:
        ys[int(j)] = ys.get(int(j), Fraction(0)) + Fraction(c)
    ys = {j: c for j, c in ys.items() if c}
    if not ys:
        return None  # inputs and constants only
    if a.x:
        raise InvalidValueError(f"atom {a}: an atom over softmax outputs may not mix in inputs")
    if len(ys) == 2 and a.const == 0 and sum(ys.values()) == 0:
        return None  # a (p_i - p_j) has the sign of a (z_i - z_j)
    if len(ys) != 1:
        raise InvalidValueError(f"atom {a}: over softmax outputs only comparisons a*(Y_i - Y_j) ⋈ 0 and bounds "
                                "of one output are supported")
    ((i, coef),) = ys.items()
    t = -a.const / coef
    others = [k for k in range(n) if k != i]
    if coef > 0:  # p_i >= t (> t when strict)
        if t <= 0:
            return [[]]
        if t >= 1:
            return [[FALSE]]
        r = t / (1 - t)
        if mode == "implied":
            return [[_diff(i, k, log_bound(r, "below"), False) for k in others]]
        return [[_diff(i, k, log_bound(r * (n - 1), "above"), a.strict) for k in others]]
    if t >= 1:  # p_i <= t (< t when strict)
        return [[]]
    if t <= 0:
        return [[FALSE]]
    q = (1 - t) / t
    if mode == "implied":
        low = log_bound(q / (n - 1), "below")
        return [[_diff(k, i, low, False)] for k in others]
    high = log_bound(q, "above")
    return [[_diff(k, i, high, a.strict)] for k in others]


def logit_property(prop: Property, mode: str) -> tuple[Property, bool]:
    """The property over the logits (``mode`` ``"implied"`` or ``"sufficient"``, see the module) and
    whether it is equivalent to ``prop`` (every atom translated exactly)."""
    if mode not in ("implied", "sufficient"):
        raise InvalidValueError(f"mode must be 'implied' or 'sufficient', got {mode!r}")
    if any(d.poly for d in prop.disjuncts) or prop.hidden:
        raise InvalidValueError("over a softmax output only linear atoms over inputs and outputs are supported")
    exact = True
    out: list[Disjunct] = []
    for d in prop.disjuncts:
        choices: list[list[list[Atom]]] = []
        for a in d.atoms:
            tr = _translate(a, prop.n_outputs, mode)
            if tr is None:
                choices.append([[a]])
                continue
            exact &= tr in ([[]], [[FALSE]])
            choices.append(tr)
        if math.prod(len(c) for c in choices) + len(out) > MAX_DISJUNCTS:
            raise InvalidValueError(f"the bounds of softmax outputs <= t multiply out to more than {MAX_DISJUNCTS} "
                                    "disjuncts")
        for combo in itertools.product(*choices):
            out.append(Disjunct(d.lo, d.hi, tuple(a for conj in combo for a in conj)))
    return replace(prop, disjuncts=tuple(out)), exact


#: ``search(net, prop, timeout) -> VerifyResult`` of the batched search (no onnxruntime check); its
#: ``status`` is a ``sosrelax.nn.verify.Result`` (read here by value: this module does not import verify).
Search = Callable[[Network, Property, float], Any]


def decide_softmax(net: Network, prop: Property, search: Search, *, onnx_path: str | Path | None,
                   timeout: float) -> Any:
    """Decide ``prop`` over the softmax network ``net`` by searching its logit network.

    The implied property first: its ``unsat`` (proof tree over the logits, accepted by the checker) is the
    answer; a witness counts only when it satisfies a disjunct of ``prop`` on ``net`` (ball arithmetic,
    onnxruntime with ``onnx_path``).  When the translation is not exact and no such witness was found, the
    sufficient property gets the remaining time: only a confirmed witness of it answers (``sat``).
    """
    import time

    t_end = time.perf_counter() + timeout
    logits = net.logits()
    implied, exact = logit_property(prop, "implied")
    stages = [(implied, 1.0 if exact else 0.5)]
    if not exact:
        stages.append((logit_property(prop, "sufficient")[0], 1.0))
    res = None
    for k, (p, share) in enumerate(stages):
        res = search(logits, p, share * max(0.0, t_end - time.perf_counter()))
        unknown = type(res.status)("unknown")
        if res.status.value == "unsat" and k == 0:
            return replace(res, message=f"softmax outputs over the logits ({'exactly' if exact else 'implied'}): "
                                        f"{res.message}")
        if res.status.value == "sat" and res.counterexample is not None:
            x = np.array(res.counterexample[0])
            for d in prop.disjuncts:
                cex = confirm_counterexample(net, d, x, onnx_path)
                if cex is not None:
                    return replace(res, counterexample=cex, proof=None,
                                   message=f"{res.message}; confirmed on the softmax outputs in ball arithmetic"
                                   + (" and by onnxruntime" if onnx_path else ""))
            res = replace(res, status=unknown, counterexample=None,
                          message="a witness over the logits is not one over the softmax outputs")
        elif res.status.value == "unsat":  # the sufficient property's unsat says nothing about prop
            res = replace(res, status=unknown, proof=None, proof_report=None,
                          message="the implied property over the logits was not refuted in time and the "
                                  "sufficient one has no point")
    assert res is not None
    return res


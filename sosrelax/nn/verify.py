"""Deciding VNN-LIB properties: counterexample search, then certified rungs, then branch and bound.

For each disjunct (input box plus linear output atoms) of a property:

1. **attack** — random sampling and projected gradient steps look for an input satisfying every
   atom; a candidate is accepted only after the exact rational forward pass of the IR satisfies the
   disjunct *and* (when an ONNX file is given) onnxruntime's output satisfies it within ``1e-4``;
2. **rungs** — to show the disjunct empty it suffices to prove one atom violated, ``-a > 0`` (or
   ``>= 0`` for a strict atom), over the box and the network encoding (the other atoms are
   constraints of that encoding).  Rungs, cheapest first: ``interval`` and ``linear`` (exact
   back-substitution, :mod:`sosrelax.nn.encode`), ``lp`` (the triangle LP; its dual rounded and
   repaired exactly), ``sdp`` (Shor's relaxation with the LP rung's products, through
   :func:`sosrelax.solve`).  Every bound counts only after
   :func:`~sosrelax.certificate.check.check_certificate` verified its certificate, lemma chain
   included;
3. **branch and bound** — a disjunct left open is split along the input with the largest
   (gradient-weighted) width; each piece is decided the same way, until the time budget ends.

``unsat`` means every disjunct (every piece of it) carries a verified certificate.

A disjunct with polynomial or hidden-node atoms (VNN-LIB 2.0) takes the same three steps through
:mod:`sosrelax.nn.spec_poly` (attack, exact confirmation, rungs on the same encoding).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from sosrelax.certificate.format import Certificate
from sosrelax.certificate.proof_tree import ProofReport, ProofTree
from sosrelax.nn.bounds import crown_bounds, crown_objective
from sosrelax.nn.encode import Chain, build_chain
from sosrelax.nn.ir import Network
from sosrelax.nn.rungs import (
    DEFAULT_RUNGS,
    ONNX_TOLERANCE,
    REDUCE_ABOVE,
    RUNGS,
    SOS_MAX_VARIABLES,
    Result,
    RungRow,
    prove_atom_violated,
)
from sosrelax.nn.search.driver import atom_arrays
from sosrelax.nn.vnnlib import Disjunct, Property
from sosrelax.nn.witness import confirm_counterexample

__all__ = [
    "DEFAULT_RUNGS",
    "ONNX_TOLERANCE",
    "REDUCE_ABOVE",
    "RUNGS",
    "SOS_MAX_VARIABLES",
    "Result",
    "RungRow",
    "VerifyResult",
    "attack",
    "confirm_counterexample",
    "leaves_cover",
    "prove_atom_violated",
    "verify",
]

@dataclass(frozen=True)
class VerifyResult:
    """Outcome of :func:`verify`.

    Attributes
    ----------
    status : Result
    counterexample : tuple of (inputs, outputs) or None
        For ``sat``: the input (exact rationals of float64 values) and the exact output of the IR.
    certificates : tuple of Certificate
        For ``unsat`` decided by the exact rungs: one verified certificate per disjunct piece.
    log : tuple of RungRow
    message : str
    proof : ProofTree or None
        For ``unsat`` decided by the batched search: the proof tree, accepted by the checker.
    proof_report : ProofReport or None
        The checker's report on ``proof``.
    semantics : str
        What an ``unsat`` answer covers: ``"real"`` (the network in exact real arithmetic) or
        ``"float32"`` (also every IEEE binary32 execution of it, any summation order).
    stats : dict
        Search statistics (domains, leaves, seconds of search and of checking).
    """

    status: Result
    counterexample: tuple[tuple[float, ...], tuple[float, ...]] | None = None
    certificates: tuple[Certificate, ...] = ()
    log: tuple[RungRow, ...] = ()
    message: str = ""
    proof: ProofTree | None = None
    proof_report: ProofReport | None = None
    semantics: str = "real"
    stats: dict[str, float] = field(default_factory=dict)

    @property
    def success(self) -> bool:
        """True when the property was decided."""
        return self.status in (Result.SAT, Result.UNSAT)

    def __repr__(self) -> str:
        return f"VerifyResult({self.status.value}: {self.message})"


@dataclass
class _Budget:
    deadline: float
    log: list[RungRow] = field(default_factory=list)

    def left(self) -> float:
        return self.deadline - time.perf_counter()


# ------------------------------------------------------------------------------------------------
# counterexamples


def _margins(net: Network, X: np.ndarray, A: np.ndarray, B: np.ndarray, c: np.ndarray) -> np.ndarray:
    """``min_k atom_k`` at each row of ``X`` (>= 0: the point is in the catastrophe)."""
    if A.shape[0] == 0:
        return np.full(X.shape[0], np.inf)
    Y = net.forward(X)
    return np.min(X @ A.T + Y @ B.T + c, axis=1)


def _gradient(net: Network, x: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Gradient of ``a·x + b·f(x)`` at ``x`` (the linear region's Jacobian)."""
    zs = net.activations(x)
    g = b.copy()
    for k in range(len(net.weights) - 1, -1, -1):
        g = g @ net.weights[k]
        if k:
            g = g * (zs[k - 1] > 0)
    return g + a


def attack(net: Network, d: Disjunct, rng: np.random.Generator, *, seconds: float = 1.0,
           samples: int = 2048) -> np.ndarray | None:
    """A float input that the float network maps into the disjunct, or ``None``."""
    if d.poly:
        from sosrelax.nn.spec_poly import attack_poly

        return attack_poly(net, d, rng, seconds=seconds, samples=samples)
    lo = np.array([float(v) for v in d.lo])
    hi = np.array([float(v) for v in d.hi])
    A, B, c = atom_arrays(d.atoms, net.n_inputs, net.n_outputs)
    t_end = time.perf_counter() + seconds
    X = rng.uniform(lo, hi, size=(samples, lo.size))
    X = np.vstack([X, (lo + hi) / 2, lo, hi])
    m = _margins(net, X, A, B, c)
    order = np.argsort(-m)
    for idx in order[:8]:
        x = X[idx].copy()
        step = (hi - lo) / 4
        for _ in range(60):
            val = X_m = _margins(net, x[None], A, B, c)[0]
            if val >= 0:
                return x
            if time.perf_counter() > t_end:
                break
            k = int(np.argmin(x @ A.T + net.forward(x) @ B.T + c))
            g = _gradient(net, x, A[k], B[k])
            x_new = np.clip(x + step * np.sign(g), lo, hi)
            if _margins(net, x_new[None], A, B, c)[0] <= X_m:
                step = step / 2
            else:
                x = x_new
        if time.perf_counter() > t_end:
            break
    best = X[order[0]]
    return best if m[order[0]] >= 0 else None


# ------------------------------------------------------------------------------------------------
# the loop


def _decide_piece(net: Network, d: Disjunct, idx: int, rungs: Sequence[str], budget: _Budget,
                  max_certified_relus: int) -> Certificate | None:
    """A verified certificate that the disjunct piece is empty, or ``None``."""
    if d.poly:
        from sosrelax.nn.spec_poly import decide_poly_piece

        return decide_poly_piece(net, d, idx, rungs, budget, max_certified_relus)
    lo = np.array([float(v) for v in d.lo])
    hi = np.array([float(v) for v in d.hi])
    fb = crown_bounds(net, lo, hi)
    reduced = net.n_relus > REDUCE_ABOVE
    size = fb.n_unstable if reduced else net.n_relus
    if size > max_certified_relus:
        what = "unstable neurons" if reduced else "ReLUs"
        budget.log.append(RungRow(idx, "screen", None, False, 0.0,
                                  f"{size} {what} exceed the certificate size limit {max_certified_relus}"))
        return None
    A, B, c = atom_arrays(d.atoms, net.n_inputs, net.n_outputs)
    # atoms in the order of their float CROWN lower bound of -atom (most promising first)
    scores = []
    for k in range(len(d.atoms)):
        if A[k].any() and net.n_relus:
            scores.append((-np.inf, k))
            continue
        lb = crown_objective(net, -B[k][None], np.array([-c[k]]), lo, hi, fb)[0]
        scores.append((lb, k))
    order = [k for _, k in sorted(scores, reverse=True)]
    scores_by_atom = [(k, lb) for lb, k in scores]
    chains: dict[str, Chain] = {}
    floats = dict(scores_by_atom)
    for rung in rungs:
        if reduced and rung == "interval":
            continue  # on a reduced chain the linear rung costs the same and is never looser
        for k in order[:3]:
            if budget.left() <= 0:
                return None
            if reduced and rung == "linear" and floats[k] < 0:
                continue  # the exact bound equals the float CROWN bound, which does not settle it
            t0 = time.perf_counter()
            method = "interval" if rung == "interval" else "crown"
            if rung in ("lp", "sdp", "sos"):
                # fresh: atoms get added
                chain = build_chain(net, d.lo, d.hi, method="crown", eliminate_stable=reduced)
            else:
                chain = chains.get(method) or build_chain(net, d.lo, d.hi, method=method,
                                                          eliminate_stable=reduced)
                chains[method] = chain
            ok, b, cert, note = prove_atom_violated(net, d, k, rung, chain, time_limit=budget.left())
            budget.log.append(RungRow(idx, rung, b, ok, time.perf_counter() - t0, f"atom {k}: {note[:80]}"))
            if ok:
                return cert
    return None


def _split(d: Disjunct, net: Network) -> tuple[Disjunct, Disjunct]:
    lo = np.array([float(v) for v in d.lo])
    hi = np.array([float(v) for v in d.hi])
    mid = (lo + hi) / 2
    A, B, _ = atom_arrays(d.atoms, net.n_inputs, net.n_outputs)
    g = np.zeros(lo.size)
    for k in range(len(d.atoms)):
        g += np.abs(_gradient(net, mid, A[k], B[k]))
    i = int(np.argmax((hi - lo) * (g + 1e-9)))
    m = (d.lo[i] + d.hi[i]) / 2
    lo2 = list(d.lo)
    hi1 = list(d.hi)
    hi1[i] = m
    lo2[i] = m
    return replace(d, hi=tuple(hi1)), replace(d, lo=tuple(lo2))


def verify(
    net: Network, prop: Property, *, onnx_path: str | Path | None = None, timeout: float = 60.0,
    rungs: Sequence[str] = DEFAULT_RUNGS, rng: np.random.Generator | int | None = 0,
    max_certified_relus: int = 64, branch: bool = True, method: str = "auto",
    semantics: str = "auto", progress: Any = None, leaf_rungs: Sequence[str] = (),
) -> VerifyResult:
    """Decide a VNN-LIB property: ``sat`` (checked counterexample), ``unsat`` (checked certificates),
    ``unknown`` or ``timeout``.

    Parameters
    ----------
    net : Network
    prop : Property
        From :func:`~sosrelax.nn.vnnlib.read_vnnlib`.
    onnx_path : path, optional
        The model file; counterexamples are then re-executed by onnxruntime too.
    timeout : float
        Seconds.
    rungs : sequence of str
        Subset of :data:`RUNGS`, in order.
    rng : Generator or int
        Randomness of the counterexample search.
    max_certified_relus : int
        Largest encoding given certificates: ReLUs of a network with at most
        :data:`REDUCE_ABOVE` of them, unstable neurons (float CROWN) of a larger one, whose
        stable neurons are eliminated.  Bigger pieces are split (``branch``) or left open.
    branch : bool
        Split input boxes when the rungs leave a piece open.
    method : {"auto", "search", "rungs"}
        ``"search"``: the batched floating-point branch and bound (:mod:`sosrelax.nn.search`) whose
        ``unsat`` answer is a proof tree checked once at the end; ``"rungs"``: the exact rungs above on
        every piece (certificates per piece).  ``"auto"`` takes the search for properties whose atoms
        are linear, the rungs otherwise (polynomial or hidden-node atoms).
    semantics : {"auto", "real", "float32"}
        What an ``unsat`` of the search covers: the network in exact real arithmetic, or also every
        float32 execution of it.  ``"auto"``: float32 when the network came from an ONNX model whose
        layers are float32 products (``Network.float32_layers``), real otherwise.
    progress : callable, optional
        Called by the search after every batch with ``(stats, open domains, lowest bound)``.
    leaf_rungs : sequence of str
        The hierarchy inside the search (input splitting, real semantics): a subset of ``("lp", "sdp",
        "sos")`` tried on open boxes with few unstable neurons before they are split; the leaves they
        close carry certificates that the proof-tree checker re-checks exactly
        (:mod:`~sosrelax.nn.search.rung_leaves`).  Off by default: on ACAS Xu each attempt costs about
        as much as a few hundred box bounds (``docs/benchmarks/vnncomp.md``).
    """
    if prop.n_inputs != net.n_inputs or prop.n_outputs != net.n_outputs:
        from sosrelax.errors import InvalidValueError

        raise InvalidValueError(
            f"the property has {prop.n_inputs} inputs and {prop.n_outputs} outputs but the network has "
            f"{net.n_inputs} and {net.n_outputs}; give the matching network"
        )
    if prop.hidden:
        from sosrelax.nn.spec_poly import bind_hidden

        prop = bind_hidden(prop, net)  # hidden tensors onto layers (ParseError for unknown names)
    gen = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
    if method not in ("auto", "search", "rungs"):
        raise ValueError(f"method must be 'auto', 'search' or 'rungs', got {method!r}")
    if net.output_softmax:  # decided over the logits (sosrelax.nn.softmax)
        return _softmax(net, prop, onnx_path, timeout, gen, semantics, progress, leaf_rungs, method)
    linear = not any(d.poly for d in prop.disjuncts)
    if not net.all_relu and (not linear or method == "rungs"):
        from sosrelax.errors import InvalidValueError

        raise InvalidValueError(f"{net!r}: the exact rungs encode ReLU networks only; a network with sigmoid or "
                                "tanh layers is decided by the search (method='search', linear atoms)")
    if method == "search" or (method == "auto" and linear):
        if not linear:
            from sosrelax.errors import InvalidValueError

            raise InvalidValueError("the batched search decides linear atoms only; this property has "
                                    "polynomial or hidden-node atoms (use method='rungs')")
        return _search(net, prop, onnx_path, timeout, gen, semantics, progress, leaf_rungs)
    budget = _Budget(time.perf_counter() + timeout)
    unknown = [rg for rg in rungs if rg not in RUNGS]
    if unknown:
        raise ValueError(f"unknown rung {unknown[0]!r}; choose from {RUNGS}")
    certs: list[Certificate] = []
    # counterexamples first (cheap), over every disjunct
    for d in prop.disjuncts:
        x = attack(net, d, gen, seconds=min(2.0, max(0.1, timeout / 10)))
        if x is not None:
            cex = confirm_counterexample(net, d, x, onnx_path)
            if cex is not None:
                return VerifyResult(Result.SAT, cex, (), tuple(budget.log), "counterexample re-checked "
                                    "exactly and by onnxruntime" if onnx_path else "counterexample re-checked exactly")
    open_: list[tuple[int, Disjunct, int]] = [(i, d, 0) for i, d in enumerate(prop.disjuncts)]
    leaves: dict[int, list[tuple[tuple[Fraction, ...], tuple[Fraction, ...]]]] = {}
    while open_:
        if budget.left() <= 0:
            return VerifyResult(Result.TIMEOUT, None, tuple(certs), tuple(budget.log), "time budget spent")
        i, d, depth = open_.pop()
        # the SDP rung on the whole disjunct only; pieces get the cheap rungs (many pieces, small gaps)
        # (polynomial atoms are settled by the moment rungs only: they keep them on every piece)
        piece_rungs = rungs if depth == 0 or d.poly else [r for r in rungs if r not in ("sdp", "sos")]
        cert = _decide_piece(net, d, i, piece_rungs, budget, max_certified_relus)
        if cert is not None:
            certs.append(cert)
            leaves.setdefault(i, []).append((d.lo, d.hi))
            continue
        if not branch:
            return VerifyResult(Result.UNKNOWN, None, tuple(certs), tuple(budget.log),
                                "no rung settled the property")
        a, b = _split(d, net)
        for piece in (a, b):
            x = attack(net, piece, gen, seconds=0.2, samples=256)
            if x is not None:
                cex = confirm_counterexample(net, piece, x, onnx_path)
                if cex is not None:
                    return VerifyResult(Result.SAT, cex, (), tuple(budget.log), "counterexample found "
                                        "while branching, re-checked")
            open_.append((i, piece, depth + 1))
    for i, d in enumerate(prop.disjuncts):
        if not leaves_cover((d.lo, d.hi), leaves.get(i, [])):
            return VerifyResult(Result.UNKNOWN, None, tuple(certs), tuple(budget.log),
                                f"internal: the certified pieces of disjunct {i} do not cover its box")
    return VerifyResult(Result.UNSAT, None, tuple(certs), tuple(budget.log),
                        f"{len(certs)} verified certificate(s) cover every disjunct")


def _softmax(net: Network, prop: Property, onnx_path: str | Path | None, timeout: float, gen: np.random.Generator,
             semantics: str, progress: Any, leaf_rungs: Sequence[str], method: str) -> VerifyResult:
    """A network with an output softmax, decided by the search over its logits (:mod:`sosrelax.nn.softmax`)."""
    from sosrelax.nn.softmax import decide_softmax

    if method == "rungs":
        from sosrelax.errors import InvalidValueError

        raise InvalidValueError(f"{net!r}: the exact rungs do not encode a softmax output (method='search')")
    return decide_softmax(net, prop, lambda n, p, t: _search(n, p, None, t, gen, semantics, progress, leaf_rungs),
                          onnx_path=onnx_path, timeout=timeout)


#: Networks with at most this many inputs are searched by splitting inputs, wider ones by splitting
#: unstable ReLUs (:mod:`sosrelax.nn.search.relu_bab`).
SPLIT_INPUTS_UP_TO = 16


def _search(net: Network, prop: Property, onnx_path: str | Path | None, timeout: float,
            gen: np.random.Generator, semantics: str, progress: Any, leaf_rungs: Sequence[str] = ()
            ) -> VerifyResult:
    from sosrelax.nn.search import decide

    if semantics == "auto":
        semantics = "float32" if net.float32_layers else "real"
    if semantics == "float32" and not net.float32_layers:
        from sosrelax.errors import InvalidValueError

        raise InvalidValueError("float32 semantics needs a network whose layers are float32 products of "
                                "the model (Network.float32_layers); use semantics='real'")
    if net.n_inputs > SPLIT_INPUTS_UP_TO:
        from sosrelax.nn.search.relu_bab import decide_wide

        res = decide_wide(net, prop, onnx_path=onnx_path, timeout=timeout, semantics=semantics, rng=gen,
                          progress=progress)
    else:
        res = decide(net, prop, onnx_path=onnx_path, timeout=timeout, semantics=semantics, rng=gen,
                     progress=progress, leaf_rungs=leaf_rungs)
    stats = {"domains": float(sum(s.domains for s in res.stats)),
             **{f"rung_leaves_{r}": float(sum(s.rung_closed.get(r, 0) for s in res.stats)) for r in leaf_rungs},
             "rung_attempts": float(sum(s.rung_attempts for s in res.stats)),
             "rung_seconds": float(sum(s.rung_seconds for s in res.stats)),
             "leaves": float(sum(s.leaves for s in res.stats)),
             "search_seconds": res.search_seconds, "check_seconds": res.check_seconds}
    status = Result(res.status)
    if status is Result.SAT and res.counterexample is None:  # never sat without a confirmed witness
        status = Result.UNKNOWN
    if status is Result.UNSAT and not (res.report is not None and res.report.valid):
        status = Result.UNKNOWN  # never unsat without a proof the checker accepted
    return VerifyResult(status, res.counterexample, (), (), res.message,
                        res.proof if status is Result.UNSAT else None, res.report, semantics, stats)


def leaves_cover(box: tuple[Sequence[Fraction], Sequence[Fraction]],
                 leaves: Sequence[tuple[Sequence[Fraction], Sequence[Fraction]]]) -> bool:
    """Exactly: do the closed boxes ``leaves`` cover ``box``?

    Sufficient and checked in rationals: every leaf lies in the box, no two leaves overlap in
    more than a face (along the box's non-degenerate coordinates), and their volumes add up to
    the box's.  Then the union is closed, contains a dense subset of the box, hence is the box.
    """
    lo, hi = box
    dims = [k for k in range(len(lo)) if hi[k] > lo[k]]
    for a, b in leaves:
        if any(a[k] < lo[k] or b[k] > hi[k] or a[k] > b[k] for k in range(len(lo))):
            return False
        if any(a[k] != lo[k] or b[k] != hi[k] for k in range(len(lo)) if k not in dims):
            return False

    def vol(a: Sequence[Fraction], b: Sequence[Fraction]) -> Fraction:
        v = Fraction(1)
        for k in dims:
            v *= b[k] - a[k]
        return v

    for p in range(len(leaves)):
        for q in range(p + 1, len(leaves)):
            (a1, b1), (a2, b2) = leaves[p], leaves[q]
            if all(max(a1[k], a2[k]) < min(b1[k], b2[k]) for k in dims):
                return False
    return sum((vol(a, b) for a, b in leaves), Fraction(0)) == vol(lo, hi)

"""Deciding a VNN-LIB property with the batched search, and proving the answer.

For every disjunct (an input box and a conjunction of linear atoms) the branch and bound of
:mod:`sosrelax.nn.search.bab` either finds a float counterexample — accepted only after the exact
rational forward pass of the network (and onnxruntime, when the model file is known) confirms it — or
closes the disjunct with a split tree.  The trees of all disjuncts form one
:class:`~sosrelax.certificate.proof_tree.ProofTree`, which the independent checker
(:func:`~sosrelax.certificate.proof_tree.check_proof_tree`, rigorous float64 arithmetic) must accept
before the answer is ``unsat``.  Search fast, prove once: nothing exact runs inside the search loop.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from sosrelax.certificate.proof_tree import (
    AtomSpec,
    DisjunctProof,
    ProofReport,
    ProofTree,
    check_proof_tree,
)
from sosrelax.nn.ir import Network
from sosrelax.nn.search.bab import Goal, SearchStats, search_box
from sosrelax.nn.search.bounds import Arrays
from sosrelax.nn.vnnlib import Atom, Disjunct, Property
from sosrelax.nn.witness import Witnesses

__all__ = ["SEMANTICS", "BoxSearch", "SearchResult", "atom_arrays", "decide", "decide_by_boxes", "inner_box"]

log = logging.getLogger(__name__)

#: ``"real"``: the proof covers the network in exact real arithmetic; ``"float32"``: also every
#: execution in IEEE binary32 (any summation order).
SEMANTICS = ("real", "float32")

#: Share of the remaining time the search may use; the rest is kept for the proof check, which
#: costs a fraction of the search (each leaf bounded once, no attack, no branching).
SEARCH_SHARE = 0.8

#: Seconds a search runs in this process before it is restarted on pieces of the box in
#: :data:`~sosrelax.nn.search.parallel.WORKERS` processes (most instances are decided sooner).
PARALLEL_AFTER = 1.0


@dataclass(frozen=True)
class SearchResult:
    """Outcome of :func:`decide`.

    Attributes
    ----------
    status : str
        ``"sat"``, ``"unsat"``, ``"unknown"`` or ``"timeout"``.
    counterexample : (inputs, outputs) or None
        For ``sat``: the input (float64 values) and the exact output of the network there.
    proof : ProofTree or None
        For ``unsat``: the proof, accepted by the checker (``report``).
    report : ProofReport or None
        The checker's report on ``proof``.
    stats : tuple of SearchStats
        One per disjunct searched.
    message : str
    search_seconds, check_seconds : float
    """

    status: str
    counterexample: tuple[tuple[float, ...], tuple[float, ...]] | None = None
    proof: ProofTree | None = None
    report: ProofReport | None = None
    stats: tuple[SearchStats, ...] = ()
    message: str = ""
    search_seconds: float = 0.0
    check_seconds: float = 0.0
    meta: dict[str, Any] = field(default_factory=dict)


def atom_arrays(atoms: Sequence[Atom], nx: int, ny: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The atoms ``A x + B y + c >= 0`` as float arrays (rows: atoms)."""
    A = np.zeros((len(atoms), nx))
    B = np.zeros((len(atoms), ny))
    c = np.zeros(len(atoms))
    for k, a in enumerate(atoms):
        for i, v in a.x:
            A[k, i] += float(v)
        for j, v in a.y:
            B[k, j] += float(v)
        c[k] = float(a.const)
    return A, B, c


def inner_box(lo: tuple[Any, ...], hi: tuple[Any, ...]) -> tuple[np.ndarray, np.ndarray]:
    """The float box ``[lo', hi']`` inside the exact box ``[lo, hi]`` (bounds rounded inward)."""
    a = np.array([float(q) for q in lo])
    b = np.array([float(q) for q in hi])
    a = np.array([np.nextafter(x, np.inf) if Fraction(x) < Fraction(q) else x for x, q in zip(a, lo, strict=True)])
    b = np.array([np.nextafter(x, -np.inf) if Fraction(x) > Fraction(q) else x for x, q in zip(b, hi, strict=True)])
    flat = a > b  # no float inside a degenerate coordinate: search it at its nearest float
    near = np.array([float(q) for q in lo])
    return np.where(flat, near, a), np.where(flat, near, b)


def _disjunct_proof(d: Disjunct, nodes: list[tuple[Any, ...]],
                    box: tuple[tuple[Fraction, ...], tuple[Fraction, ...]] | None = None) -> DisjunctProof:
    atoms = tuple(AtomSpec(a.x, a.y, a.const, a.strict) for a in d.atoms)
    out: list[Any] = []
    for node in nodes:
        if node[0] == "l":
            codes = node[2]
            if codes is not None and not isinstance(codes, bytes):
                codes = bytes(np.asarray(codes, dtype=np.uint8))
            out.append(("l", tuple(float(v) for v in node[1]), codes))
        elif node[0] == "c":
            out.append(("c", tuple(float(v) for v in node[1]), node[2]))
        elif node[0] == "b":
            codes, beta = node[2]
            if codes is not None and not isinstance(codes, bytes):
                codes = bytes(np.asarray(codes, dtype=np.uint8))
            out.append(("b", tuple(float(v) for v in node[1]), (codes, bytes(beta))))
        else:
            out.append(node)
    lo, hi = box if box is not None else (_fractions(d.lo), _fractions(d.hi))
    return DisjunctProof(lo, hi, atoms, tuple(out))


def _fractions(values: Sequence[Any]) -> tuple[Fraction, ...]:
    """``values`` as exact fractions (those that are fractions already are kept: ``Fraction(q)`` of a
    fraction costs microseconds each, and a 784-input property has 18 such vectors)."""
    return tuple([v if type(v) is Fraction else Fraction(v) for v in values])


def decide(
    net: Network, prop: Property, *, onnx_path: str | Path | None = None, timeout: float = 60.0,
    semantics: str = "real", rng: np.random.Generator | int | None = 0, batch: int = 2048,
    progress: Callable[[SearchStats, int, float], None] | None = None, blas_threads: int | None = 1,
    workers: int = 2, leaf_rungs: Sequence[str] = (),
) -> SearchResult:
    """Decide a property whose atoms are all linear (no polynomial or hidden-node atoms).

    ``unsat`` only with a proof tree the checker accepted; ``sat`` only with a counterexample the
    exact forward pass (and onnxruntime, with ``onnx_path``) confirmed.  ``blas_threads`` caps the
    BLAS threads while it runs (the search's matrix products are small and many: one thread is
    measured faster than two on the benchmark networks; ``None`` leaves BLAS alone).  A search not
    decided within :data:`PARALLEL_AFTER` seconds is restarted on pieces of its box in ``workers``
    processes (``workers=1``: it just goes on alone).  ``leaf_rungs`` (a subset of ``("lp", "sdp",
    "sos")``) are tried on small open boxes before they are split (:mod:`~sosrelax.nn.search.rung_leaves`);
    the leaves they close carry their certificates into the proof tree.
    """
    from threadpoolctl import threadpool_limits

    if blas_threads is None:
        return _decide(net, prop, onnx_path, timeout, semantics, rng, batch, progress, workers, leaf_rungs)
    with threadpool_limits(limits=blas_threads, user_api="blas"):
        return _decide(net, prop, onnx_path, timeout, semantics, rng, batch, progress, workers, leaf_rungs)


def _decide(net: Network, prop: Property, onnx_path: str | Path | None, timeout: float, semantics: str,
            rng: np.random.Generator | int | None, batch: int,
            progress: Callable[[SearchStats, int, float], None] | None, workers: int,
            leaf_rungs: Sequence[str] = ()) -> SearchResult:
    def search(arr: Arrays, members: list[int], box: tuple[Any, Any], wit: Witnesses, deadline: float,
               gen: np.random.Generator) -> Any:
        lo, hi = inner_box(*box)  # splits and witnesses stay inside the exact box
        goals = [Goal(*atom_arrays(prop.disjuncts[i].atoms, net.n_inputs, net.n_outputs)) for i in members]
        rungs = None
        if leaf_rungs and net.all_relu:  # the exact rungs encode ReLU networks only
            from sosrelax.nn.search.rung_leaves import RungLeaves

            rungs = RungLeaves(net, [prop.disjuncts[i] for i in members], semantics, leaf_rungs,
                               [(lo, hi)] * len(members))
        now = time.perf_counter()
        # alone first; a search still open after PARALLEL_AFTER seconds starts again on both cores
        out = search_box(arr, lo, hi, goals, deadline=min(deadline, now + PARALLEL_AFTER), rng=gen,
                         confirm=wit.confirm, batch=batch, progress=progress, leaf_rungs=rungs)
        if out.status == "timeout" and workers > 1 and deadline - time.perf_counter() > PARALLEL_AFTER:
            from sosrelax.nn.search.parallel import search_box_parallel

            seed = int(gen.integers(2**31))
            return search_box_parallel(arr, lo, hi, goals, deadline=deadline, seed=seed, witnesses=wit,
                                       batch=batch, workers=workers, leaf_rungs=rungs)
        if out.status == "timeout" and time.perf_counter() < deadline:
            return search_box(arr, lo, hi, goals, deadline=deadline, rng=gen, confirm=wit.confirm,
                              batch=batch, progress=progress, leaf_rungs=rungs)
        return out

    return decide_by_boxes(net, prop, search, onnx_path=onnx_path, timeout=timeout, semantics=semantics,
                           rng=rng, meta={"search": "input-split"})


#: ``search(arr, members, (lo, hi), witnesses, deadline, rng)``: decide the disjuncts ``members`` of one
#: exact box; returns an outcome with ``status``, ``disjunct`` (for sat), ``nodes`` (one preorder tree per
#: member, for unsat), ``stats`` and ``message``.
BoxSearch = Callable[[Arrays, list[int], tuple[Any, Any], Witnesses, float, np.random.Generator], Any]


def _box_key(lo: Any, hi: Any) -> tuple[Any, ...]:
    """A hashable key of an exact box by numerators and denominators (hashing ``Fraction`` objects costs a
    modular inverse each: milliseconds over hundreds of inputs and several disjuncts)."""
    qs = [q if type(q) is Fraction else Fraction(q) for q in (*lo, *hi)]
    return tuple([q.numerator for q in qs]), tuple([q.denominator for q in qs])


def decide_by_boxes(net: Network, prop: Property, search: BoxSearch, *, onnx_path: str | Path | None,
                    timeout: float, semantics: str, rng: np.random.Generator | int | None,
                    meta: dict[str, str], search_share: float = SEARCH_SHARE) -> SearchResult:
    """The frame both searches share: disjuncts grouped by box and searched together by ``search``, a
    ``sat`` only with a witness ``Witnesses`` confirmed, an ``unsat`` only when the trees of every
    disjunct, assembled into one :class:`ProofTree`, are accepted by the checker.  Each box's search
    gets ``search_share`` of the time left; the rest is kept for the check."""
    if semantics not in SEMANTICS:
        from sosrelax.errors import InvalidValueError

        raise InvalidValueError(f"semantics must be one of {SEMANTICS}, got {semantics!r}")
    net.require_logits("the search")
    t0 = time.perf_counter()
    end = t0 + timeout
    gen = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
    arr = Arrays.from_network(net, float32=semantics == "float32")
    stats: list[SearchStats] = []
    nodes: dict[int, list[tuple[Any, ...]]] = {}
    groups: dict[tuple[Any, ...], list[int]] = {}
    # one exact box per group, shared by its disjuncts' proofs (the checker rounds a box once)
    boxes: dict[tuple[Any, ...], tuple[tuple[Fraction, ...], tuple[Fraction, ...]]] = {}
    keys: list[tuple[Any, ...]] = []
    for i, d in enumerate(prop.disjuncts):  # disjuncts over one box are searched together
        key = _box_key(d.lo, d.hi)
        if key not in boxes:
            boxes[key] = (_fractions(d.lo), _fractions(d.hi))
        keys.append(key)
        groups.setdefault(key, []).append(i)
    for key, members in groups.items():
        box = boxes[key]
        wit = Witnesses(net, [prop.disjuncts[i] for i in members], onnx_path)
        now = time.perf_counter()
        out = search(arr, members, box, wit, now + search_share * (end - now), gen)
        stats.append(out.stats)
        log.info("disjuncts %s: %s (%s) after %d domains, %.2f s", members, out.status, out.message,
                 out.stats.domains, out.stats.seconds)
        if out.status == "sat" and wit.found:
            return SearchResult("sat", wit.found[-1], None, None, tuple(stats),
                                f"disjunct {members[max(out.disjunct or 0, 0)]}: counterexample "
                                f"({out.message}) re-checked "
                                + ("exactly" if net.all_relu else "in ball arithmetic")
                                + (" and by onnxruntime" if onnx_path else ""),
                                time.perf_counter() - t0)
        if out.status != "unsat" or out.nodes is None:  # a "sat" here has no confirmed witness
            return SearchResult("unknown" if out.status == "sat" else out.status, None, None, None, tuple(stats),
                                f"disjuncts {members}: {out.message}", time.perf_counter() - t0)
        for i, tree_nodes in zip(members, out.nodes, strict=True):
            nodes[i] = tree_nodes
    proofs = [_disjunct_proof(d, nodes[i], boxes[keys[i]]) for i, d in enumerate(prop.disjuncts)]
    t_search = time.perf_counter() - t0
    tree = ProofTree(tuple(zip(net.weights, net.biases, strict=True)), net.input_shape, tuple(proofs),
                     semantics=semantics, intermediate="crown",
                     meta={**meta, "leaves": str(sum(s.leaves for s in stats)),
                           "domains": str(sum(s.domains for s in stats))},
                     activations=net.hidden_activations)
    report = check_proof_tree(tree, network=net, deadline=end)
    if report.timed_out:  # the proof exists but could not be checked in time: no answer
        return SearchResult("timeout", None, None, report, tuple(stats),
                            f"the search closed every domain; {report.reason}", t_search, report.seconds)
    if not report.valid:
        log.warning("proof tree rejected by the checker: %s", report.reason)
        return SearchResult("unknown", None, tree, report, tuple(stats),
                            f"the search closed every domain but the checker rejected the proof: "
                            f"{report.reason}", t_search, report.seconds)
    return SearchResult("unsat", None, tree, report, tuple(stats),
                        f"proof tree of {report.leaves} leaves accepted by the checker "
                        f"(semantics {semantics})", t_search, report.seconds)

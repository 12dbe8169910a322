"""The independent checker of network proof trees: float64 bounds with proven rounding-error terms.

For every leaf of every disjunct's split tree the checker recomputes the leaf's domain (input box
and ReLU-sign constraints) from the preorder walk, computes pre-activation bounds layer by layer
(CROWN back-substitution or forward linear bounds, intersected with interval arithmetic) and a
lower bound of the leaf objective ``g = Σ λ_k (−atom_k)`` by back-substitution.  Every float64
operation's rounding error is bounded and subtracted (``docs/proof-trees.md``, "Why the checker is
sound"), so the bound is a rigorous lower bound of ``min g`` over the leaf's domain; a leaf is
accepted when that bound is ``> 0`` or when the domain is proven empty.  Leaves are processed in
batches with numpy.  The checker imports nothing from the search or the bound propagation code.

A rung leaf (``("c", lambdas, certificate)``) is checked differently: the exact encoding of the network
over the leaf's box is rebuilt and the leaf's polynomial certificate must be about exactly that
encoding and be accepted by the exact certificate checker
(:mod:`sosrelax.certificate.proof_tree.rung_leaf`).
"""

from __future__ import annotations

import functools
import math
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

import numpy as np

from sosrelax.certificate.proof_tree.arith import (
    LeafBeta,
    Net,
    Rows,
    bound_batch,
    objective_rows,
    output_deviation,
    rational_matrix,
    seen_box,
)
from sosrelax.certificate.proof_tree.format import (
    DEFAULT_TREE_LIMITS,
    INTERMEDIATE_METHODS,
    SEMANTICS,
    DisjunctProof,
    ProofTree,
    TreeLimits,
)
from sosrelax.errors import CertificateFormatError, InvalidValueError

__all__ = ["LeafBounds", "ProofReport", "check_leaves", "check_proof_tree", "float32_output_deviation",
           "leaf_layer_bounds"]

_BATCH_ELEMENTS = 2**24
"""Leaves per batch are chosen so that one back-substitution array has at most about this many entries
(the estimate is generous: a 9-disjunct mnistfc proof peaks at about 270 MB in all)."""


class _Reject(Exception):
    """Internal: the tree is invalid; ``node`` is the (disjunct, node index) at fault, if any."""

    def __init__(self, msg: str, node: tuple[int, int] | None = None) -> None:
        super().__init__(msg)
        self.node = node


@dataclass(frozen=True)
class LeafBounds:
    """Rigorous per-leaf results for one disjunct.

    Attributes
    ----------
    disjunct : int
        Index of the disjunct.
    node_index : ndarray of int
        Preorder index of each leaf node.
    bound : ndarray of float
        A rigorous lower bound of ``min g`` over the leaf's domain; ``+inf`` where the domain is
        proven empty, ``nan`` where the bounds could not be computed (overflow).
    empty : ndarray of bool
        Whether the leaf's domain was proven empty.
    """

    disjunct: int
    node_index: np.ndarray
    bound: np.ndarray
    empty: np.ndarray

    @property
    def accepted(self) -> np.ndarray:
        """Per leaf: proven empty, or bound ``> 0`` (NaN is never accepted)."""
        return np.asarray(self.empty | (self.bound > 0), dtype=bool)

    def failed(self) -> np.ndarray:
        """Preorder indices of the leaves the checker does not accept."""
        return np.asarray(self.node_index[~self.accepted])


@dataclass(frozen=True)
class ProofReport:
    """What the proof-tree checker proved.

    Attributes
    ----------
    valid : bool
        True only when every leaf of every disjunct was proven; then no input of any disjunct's box
        satisfies all of that disjunct's atoms (under the file's semantics).
    reason : str
        Why it was rejected, or what was verified.
    disjuncts, nodes, leaves : int
        Sizes of what was checked (up to the point of rejection).
    min_margin : float or None
        Smallest rigorous leaf bound among leaves whose domain is not empty.
    seconds : float
        Time spent.
    network_sha256 : str
        Hash of the network's weights ("" when the file could not be read).
    semantics : str
        ``"real"`` or ``"float32"`` ("" when the file could not be read).
    failed_leaf : (int, int) or None
        ``(disjunct, node index)`` of the first node at fault.
    leaf_bounds : tuple of LeafBounds
        Per disjunct checked, the rigorous per-leaf bounds.
    timed_out : bool
        The check stopped at its ``deadline`` before every leaf was bounded (``valid`` is False: the
        proof was neither accepted nor found wrong).
    """

    valid: bool
    reason: str
    disjuncts: int = 0
    nodes: int = 0
    leaves: int = 0
    min_margin: float | None = None
    seconds: float = 0.0
    network_sha256: str = ""
    semantics: str = ""
    failed_leaf: tuple[int, int] | None = None
    leaf_bounds: tuple[LeafBounds, ...] = field(default=(), repr=False)
    timed_out: bool = False

    def failed_leaves(self) -> tuple[tuple[int, int], ...]:
        """Every ``(disjunct, node index)`` leaf that was computed and not accepted."""
        return tuple((lb.disjunct, int(i)) for lb in self.leaf_bounds for i in lb.failed())


# ------------------------------------------------------------------------------ entry points
def check_proof_tree(
    source: ProofTree | dict[str, Any] | str | os.PathLike[str],
    *,
    network: Any = None,
    limits: TreeLimits = DEFAULT_TREE_LIMITS,
    batch: int = 4096,
    deadline: float | None = None,
) -> ProofReport:
    """Check a network proof tree rigorously.

    Parameters
    ----------
    source : ProofTree, dict, str or path
        The tree, its parsed JSON object, its JSON text, or a path to the file.
    network : sequence of (W, b), or an object with ``weights`` and ``biases``, optional
        When given, the embedded network must be bitwise equal to it (same shapes, same float64
        values), binding the proof to the network it speaks about.
    limits : TreeLimits
        Size limits for reading.
    batch : int
        Largest number of leaves bounded at once.
    deadline : float, optional
        A ``time.perf_counter()`` value after which no further batch of leaves is started; the report
        then has ``timed_out`` set (and ``valid`` False).

    Returns
    -------
    ProofReport
        ``valid`` is True only when every leaf is proven (rigorous bound ``> 0`` or empty domain).
        Never raises on a malformed or wrong proof: those are reports with ``valid=False``.
    """
    t0 = time.perf_counter()
    with _one_blas_thread():
        return _check_proof_tree(source, network, limits, batch, t0, deadline)


def _one_blas_thread() -> Any:
    """One BLAS thread while checking: the checker's many small products run several times faster
    than with two threads (measured on the ACAS Xu proofs); a no-op without ``threadpoolctl``."""
    return _blas_controller().limit(limits=1, user_api="blas")


@functools.cache
def _blas_controller() -> Any:
    """The BLAS libraries of this process, found once (a scan costs milliseconds, as much as checking a
    one-leaf proof)."""
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController()


class _CheckTimeout(Exception):
    """Internal: the deadline passed before every leaf was bounded."""


def _check_proof_tree(source: Any, network: Any, limits: TreeLimits, batch: int, t0: float,
                      deadline: float | None = None) -> ProofReport:
    sha = sem = ""
    n_nodes = n_leaves = n_disj = 0
    margins: list[float] = []
    done: list[LeafBounds] = []
    try:
        tree = _as_tree(source, limits)
        sha, sem = tree.network_sha256, tree.semantics
        net = _prepare(tree, network)
        for d_i, lb in enumerate(_check_all(net, tree, range(len(tree.disjuncts)), batch, deadline)):
            dis = tree.disjuncts[d_i]
            done.append(lb)
            n_disj += 1
            n_nodes += len(dis.nodes)
            n_leaves += len(lb.node_index)
            fin = lb.bound[~lb.empty]
            if fin.size:
                margins.append(float(np.min(fin)))
            bad = lb.failed()
            if bad.size:
                first = int(bad[0])
                b = float(lb.bound[lb.node_index == first][0])
                raise _Reject(
                    f"disjunct {d_i}: {bad.size} of {lb.node_index.size} leaves not proven; first at node {first} "
                    f"with rigorous bound {b:.6g} (must be > 0)", (d_i, first))
        reason = (f"verified: {n_disj} disjunct(s), {n_leaves} leaves, semantics {sem}, "
                  f"intermediate {tree.intermediate}")
        ok, failed = True, None
    except _Reject as e:
        reason, ok, failed = str(e), False, e.node
    except _CheckTimeout:
        return ProofReport(False, f"the check stopped at its time limit after {time.perf_counter() - t0:.1f} s, "
                           "before every leaf was bounded (neither accepted nor rejected)", n_disj, n_nodes,
                           n_leaves, None, time.perf_counter() - t0, sha, sem, None, tuple(done), timed_out=True)
    except (CertificateFormatError, InvalidValueError) as e:
        reason, ok, failed = str(e), False, None
    except (ValueError, TypeError, KeyError, OverflowError, ZeroDivisionError, MemoryError, IndexError) as e:
        reason, ok, failed = f"malformed proof tree ({type(e).__name__}: {e})", False, None
    return ProofReport(ok, reason, n_disj, n_nodes, n_leaves, min(margins) if margins else None,
                       time.perf_counter() - t0, sha, sem, failed, tuple(done))


def check_leaves(
    source: ProofTree | dict[str, Any] | str | os.PathLike[str],
    *,
    network: Any = None,
    disjuncts: Sequence[int] | None = None,
    limits: TreeLimits = DEFAULT_TREE_LIMITS,
    batch: int = 4096,
) -> tuple[LeafBounds, ...]:
    """Rigorous bounds of every leaf (all of them, not stopping at the first failure).

    Raises :class:`~sosrelax.errors.CertificateFormatError` when the tree is malformed (bad
    fields, bad tree shape, split outside the box, bad lambdas or alpha, network mismatch).
    """
    tree = _as_tree(source, limits)
    try:
        net = _prepare(tree, network)
        which = range(len(tree.disjuncts)) if disjuncts is None else disjuncts
        return tuple(_check_all(net, tree, which, batch))
    except _Reject as e:
        raise CertificateFormatError(str(e)) from e


def leaf_layer_bounds(
    source: ProofTree | dict[str, Any] | str | os.PathLike[str], disjunct: int, node_index: int,
    *, limits: TreeLimits = DEFAULT_TREE_LIMITS,
) -> tuple[tuple[np.ndarray, np.ndarray], ...]:
    """The rigorous bounds ``(l_k, u_k)`` of ``z_1, …, z_L`` that the checker uses on one leaf.

    For every input of the leaf's box (rounded to float32 first in the float32 semantics) that
    satisfies the leaf's ReLU-split constraints, ``l_k <= z_k <= u_k``.  Raises
    :class:`~sosrelax.errors.CertificateFormatError` for a malformed tree or a node that is not a leaf.
    """
    tree = _as_tree(source, limits)
    try:
        net = _prepare(tree, None)
        leaves, _, _ = _walk(net, disjunct, tree.disjuncts[disjunct])
    except _Reject as e:
        raise CertificateFormatError(str(e)) from e
    hit = [lf for lf in leaves if lf[0] == node_index]
    if not hit:
        raise CertificateFormatError(f"disjunct {disjunct}: node {node_index} is not a leaf")
    n_atoms = len(tree.disjuncts[disjunct].atoms)
    zy, zx, zc = np.zeros((n_atoms, net.dims[-1])), np.zeros((n_atoms, net.dims[0])), np.zeros(n_atoms)
    alpha = None if isinstance(hit[0][5], _RungCert) else hit[0][5]
    rows = objective_rows(np.stack([hit[0][4]]), (zy, zy, zx, zx, zc, zc), [alpha], net.H)
    with np.errstate(all="ignore"):
        _, _, ly = bound_batch(net, tree.intermediate, [hit[0][1:4]], rows, np.zeros(1, dtype=np.int64))
    return tuple((ly.l[m][0], ly.u[m][0]) for m in range(1, net.L + 1))


def _as_tree(source: Any, limits: TreeLimits) -> ProofTree:
    if isinstance(source, ProofTree):
        return source
    if isinstance(source, dict):
        return ProofTree.from_dict(source, limits=limits)
    if isinstance(source, str) and source.lstrip().startswith("{"):
        return ProofTree.from_json(source, limits=limits)
    if isinstance(source, (str, os.PathLike)):
        return ProofTree.load(source, limits=limits)
    raise CertificateFormatError(f"cannot check a {type(source).__name__}; give a ProofTree, dict, JSON text or path")


# ------------------------------------------------------------------------------ network
def _prepare(tree: ProofTree, network: Any) -> Net:
    if tree.semantics not in SEMANTICS:
        raise _Reject(f"semantics {tree.semantics!r} is not one of {SEMANTICS}")
    if tree.intermediate not in INTERMEDIATE_METHODS:
        raise _Reject(f"intermediate {tree.intermediate!r} is not one of {INTERMEDIATE_METHODS}")
    if not tree.layers:
        raise _Reject("the network has no layers")
    prev = None
    for k, (w, b) in enumerate(tree.layers):
        if w.ndim != 2 or b.shape != (w.shape[0],) or 0 in w.shape:
            raise _Reject(f"layer {k}: weight {w.shape} and bias {b.shape} do not form an affine map")
        if prev is not None and w.shape[1] != prev:
            raise _Reject(f"layer {k}: {w.shape[1]} columns but the previous layer has {prev} rows")
        prev = w.shape[0]
        if not (np.all(np.isfinite(w)) and np.all(np.isfinite(b))):
            raise _Reject(f"layer {k}: weights or biases contain NaN or an infinity")
        if tree.semantics == "float32" and not (np.array_equal(w.astype(np.float32).astype(np.float64), w)
                                                 and np.array_equal(b.astype(np.float32).astype(np.float64), b)):
            raise _Reject(f"layer {k}: float32 semantics needs weights and biases that are float32 values")
    acts = tree.hidden_activations
    if any(a != "relu" for a in acts):
        if tree.semantics == "float32":
            raise _Reject(f"the float32 semantics covers ReLU networks only; this network has {set(acts)} layers")
        if tree.intermediate != "crown":
            raise _Reject(f"intermediate {tree.intermediate!r} covers ReLU networks only; sigmoid and tanh "
                          "layers need 'crown'")
    if tree.input_shape and math.prod(tree.input_shape) != tree.layers[0][0].shape[1]:
        raise _Reject(f"input_shape {tree.input_shape} does not match {tree.layers[0][0].shape[1]} inputs")
    if network is not None:
        if hasattr(network, "weights") and hasattr(network, "biases"):
            given = list(zip(network.weights, network.biases, strict=True))
        else:
            given = list(network)
        if len(given) != len(tree.layers):
            raise _Reject(f"the proof's network has {len(tree.layers)} layers, the given network {len(given)}")
        for k, ((w, b), (gw, gb)) in enumerate(zip(tree.layers, given, strict=True)):
            gw = np.asarray(gw, dtype=np.float64)
            gb = np.asarray(gb, dtype=np.float64).reshape(-1)
            if gw.shape != w.shape or gb.shape != b.shape or gw.tobytes() != w.tobytes() or gb.tobytes() != b.tobytes():
                raise _Reject(f"layer {k}: the proof's network is not bitwise equal to the given network")
        given_acts = tuple(getattr(network, "hidden_activations", ())) or ("relu",) * (len(given) - 1)
        if given_acts != acts:
            raise _Reject(f"the proof's activations {list(acts)} are not the given network's {list(given_acts)}")
    return Net(tree.layers, tree.semantics == "float32", tree.activations)


# ------------------------------------------------------------------------------ the preorder walk
def _root_box(lo: Sequence[Any], hi: Sequence[Any]) -> tuple[np.ndarray, ...]:
    """The exact box rounded outward (``lo_b``, ``hi_b``) and inward (``lo_v``, ``hi_v``) to float64.

    Cached under the bounds' numerators and denominators (the disjuncts of a robustness property share
    their box; hashing ``Fraction`` objects themselves costs a modular inverse each, which dominated
    the check of one-leaf proofs over 784 inputs)."""
    last = _LAST_BOX.get("box")
    if last is not None and isinstance(lo, tuple) and isinstance(hi, tuple) and last[0] == lo and last[1] == hi:
        return last[2]  # the previous disjunct's box (exact comparison; fast on shared elements)
    lo_q = [q if type(q) is Fraction else Fraction(q) for q in lo]
    hi_q = [q if type(q) is Fraction else Fraction(q) for q in hi]
    key = (tuple([q.numerator for q in lo_q]), tuple([q.denominator for q in lo_q]),
           tuple([q.numerator for q in hi_q]), tuple([q.denominator for q in hi_q]))
    out = _root_box_exact(key)
    _LAST_BOX["box"] = (lo, hi, out)
    return out


#: The previous call's bound tuples and result (held, so their identities cannot be reused meanwhile).
_LAST_BOX: dict[str, tuple[Any, Any, tuple[np.ndarray, ...]]] = {}


@functools.lru_cache(maxsize=64)
def _root_box_exact(key: tuple[tuple[int, ...], ...]) -> tuple[np.ndarray, ...]:
    lo_f, lo_s = _nearest(key[0], key[1])
    hi_f, hi_s = _nearest(key[2], key[3])
    out = (np.where(lo_s > 0, np.nextafter(lo_f, -np.inf), lo_f), np.where(hi_s < 0, np.nextafter(hi_f, np.inf), hi_f),
           np.where(lo_s < 0, np.nextafter(lo_f, np.inf), lo_f), np.where(hi_s > 0, np.nextafter(hi_f, -np.inf), hi_f))
    for arr in out:
        arr.setflags(write=False)  # shared by every caller: an in-place change would be an error
    return out


def _nearest(num: tuple[int, ...], den: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    """The floats nearest to the fractions ``num / den`` (``int / int`` rounds correctly; ``OverflowError``
    beyond the float64 range) and the exact signs of ``float - fraction`` (integer arithmetic)."""
    f = [n / d for n, d in zip(num, den, strict=True)]
    sign = []
    for x, n, d in zip(f, num, den, strict=True):
        a, b = x.as_integer_ratio()
        diff = a * d - n * b
        sign.append((diff > 0) - (diff < 0))
    return np.array(f, dtype=np.float64), np.array(sign, dtype=np.int64)


def _walk(net: Net, d_i: int, dis: DisjunctProof) -> tuple[list[Any], np.ndarray, np.ndarray]:
    """Leaves ``(node index, lo, hi, constraints, lambdas, alpha)``; the root box rounded outward."""
    n0 = net.dims[0]
    if len(dis.lo) != n0 or len(dis.hi) != n0:
        raise _Reject(f"disjunct {d_i}: the box has {len(dis.lo)}/{len(dis.hi)} bounds for {n0} inputs")
    try:
        lo_b, hi_b, lo_v, hi_v = _root_box(dis.lo, dis.hi)
    except OverflowError as e:
        raise _Reject(f"disjunct {d_i}: a box bound does not fit in float64") from e
    if not (np.all(np.isfinite(lo_b)) and np.all(np.isfinite(hi_b))):
        raise _Reject(f"disjunct {d_i}: a box bound does not fit in float64")
    n_out = net.dims[-1]
    for a_i, a in enumerate(dis.atoms):
        if any(not 0 <= int(i) < n0 for i, _ in a.x) or any(not 0 <= int(j) < n_out for j, _ in a.y):
            raise _Reject(f"disjunct {d_i}: atom {a_i} names an input or output that does not exist")
    n_atoms = len(dis.atoms)
    leaves: list[Any] = []
    stack: list[Any] = [(lo_b, hi_b, lo_v, hi_v, None)]
    for idx, nd in enumerate(dis.nodes):
        where = f"disjunct {d_i}, node {idx}"
        if not stack:
            raise _Reject(f"{where}: trailing node after the tree is complete", (d_i, idx))
        lo, hi, lv, hv, cons = stack.pop()
        kind = nd[0] if isinstance(nd, (tuple, list)) and len(nd) == 3 else None
        if kind == "s":
            i, v = nd[1], nd[2]
            if type(i) is not int or not 0 <= i < n0:
                raise _Reject(f"{where}: input index {i!r} does not exist (0..{n0 - 1})", (d_i, idx))
            if not isinstance(v, float) or not math.isfinite(v):
                raise _Reject(f"{where}: split value {v!r} is not a finite float", (d_i, idx))
            if not lv[i] <= v <= hv[i]:
                raise _Reject(f"{where}: split value {v!r} is outside the box [{lv[i]!r}, {hv[i]!r}] of input {i}",
                              (d_i, idx))
            hi1, hv1, lo2, lv2 = hi.copy(), hv.copy(), lo.copy(), lv.copy()
            hi1[i] = hv1[i] = v
            lo2[i] = lv2[i] = v
            stack.append((lo2, hi, lv2, hv, cons))
            stack.append((lo, hi1, lv, hv1, cons))
        elif kind == "r":
            k, j = nd[1], nd[2]
            if type(k) is not int or not 0 <= k < net.L - 1 or type(j) is not int or not 0 <= j < net.hidden[k]:
                raise _Reject(f"{where}: ReLU split on neuron ({k!r}, {j!r}) that does not exist", (d_i, idx))
            flat = int(net.offsets[k]) + j
            stack.append((lo, hi, lv, hv, (flat, 1, cons)))
            stack.append((lo, hi, lv, hv, (flat, -1, cons)))
        elif kind in ("l", "b", "c"):
            lam_raw, alpha = nd[1], nd[2]
            beta = None
            if kind == "b":
                if not isinstance(alpha, (tuple, list)) or len(alpha) != 2:
                    raise _Reject(f"{where}: expected (alpha, beta)", (d_i, idx))
                alpha, beta = alpha[0], _beta_array(alpha[1], net, cons, where, (d_i, idx))
            if not isinstance(lam_raw, (tuple, list)) or len(lam_raw) != n_atoms:
                raise _Reject(f"{where}: expected {n_atoms} lambdas (one per atom)", (d_i, idx))
            try:
                lam = np.array([float(x) for x in lam_raw], dtype=np.float64)
            except (TypeError, ValueError) as e:
                raise _Reject(f"{where}: lambdas must be floats", (d_i, idx)) from e
            if not ((lam >= 0) & (lam < np.inf)).all():  # NaN fails both comparisons
                raise _Reject(f"{where}: lambdas must be finite and nonnegative", (d_i, idx))
            if not (lam > 0).any():
                raise _Reject(f"{where}: lambdas are all zero", (d_i, idx))
            if kind == "c":
                if net.smooth:
                    raise _Reject(f"{where}: a rung leaf needs a ReLU network (the exact encoding has no "
                                  "sigmoid or tanh layers)", (d_i, idx))
                if cons is not None:
                    raise _Reject(f"{where}: a rung leaf under a ReLU split is not supported", (d_i, idx))
                alpha = _RungCert(alpha)
            elif alpha is not None:
                if not isinstance(alpha, (bytes, bytearray)) or len(alpha) != net.H:
                    got = len(alpha) if isinstance(alpha, (bytes, bytearray)) else type(alpha).__name__
                    raise _Reject(f"{where}: alpha must have {net.H} bytes (one per hidden neuron), got {got}",
                                  (d_i, idx))
            leaves.append((idx, lo, hi, cons, lam, alpha if beta is None else LeafBeta(alpha, beta)))
        else:
            raise _Reject(f"{where}: unknown node {nd!r:.60}", (d_i, idx))
    if stack:
        raise _Reject(f"disjunct {d_i}: the tree is truncated ({len(stack)} subtree(s) missing after "
                      f"{len(dis.nodes)} nodes)", (d_i, len(dis.nodes)))
    return leaves, lo_b, hi_b


def _beta_array(raw: Any, net: Net, cons: Any, where: str, node: tuple[int, int]) -> np.ndarray:
    """The leaf's split multipliers: ``H`` finite nonnegative float64 values, nonzero only on neurons
    whose sign the leaf's ReLU splits constrain (elsewhere ``beta_j p_j z_j >= 0`` would not hold)."""
    if not isinstance(raw, (bytes, bytearray)) or len(raw) != 8 * net.H:
        got = len(raw) if isinstance(raw, (bytes, bytearray)) else type(raw).__name__
        raise _Reject(f"{where}: beta must have {8 * net.H} bytes (one float64 per hidden neuron), got {got}", node)
    beta = np.frombuffer(bytes(raw), dtype="<f8").astype(np.float64)
    if not ((beta >= 0) & (beta < np.inf)).all():  # NaN fails both comparisons
        raise _Reject(f"{where}: beta must be finite and nonnegative", node)
    constrained: set[int] = set()
    c = cons
    while c is not None:
        constrained.add(int(c[0]))
        c = c[2]
    for j in np.flatnonzero(beta).tolist():
        if j not in constrained:
            raise _Reject(f"{where}: beta on hidden neuron {j}, which no ReLU split above the leaf constrains", node)
    return beta


# ------------------------------------------------------------------------------ per disjunct
def _atom_matrices(d_i: int, dis: DisjunctProof, n0: int, n_out: int) -> tuple[np.ndarray, ...]:
    """The atoms' coefficients as floats with bounds of their rounding errors."""
    try:
        ys: list[dict[int, Fraction]] = []
        xs: list[dict[int, Fraction]] = []
        for a in dis.atoms:
            yd: dict[int, Fraction] = {}
            xd: dict[int, Fraction] = {}
            for j, c in a.y:
                yd[int(j)] = yd.get(int(j), Fraction(0)) + Fraction(c)
            for i, c in a.x:
                xd[int(i)] = xd.get(int(i), Fraction(0)) + Fraction(c)
            ys.append(yd)
            xs.append(xd)
        by, by_err = rational_matrix(ys, n_out)
        bx, bx_err = rational_matrix(xs, n0)
        cs, cs_err = rational_matrix([{0: Fraction(a.const)} for a in dis.atoms], 1)
    except OverflowError as e:
        raise _Reject(f"disjunct {d_i}: an atom coefficient does not fit in float64") from e
    return by, by_err, bx, bx_err, cs[:, 0], cs_err[:, 0]


PARALLEL_FROM = 512
CHECK_WORKERS = 2

_JOB: Any = None  # the chunks' shared data, inherited by forked workers (never pickled)


def _chunk(s0: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    net, method, domains, rows, dom, order, dom_sorted, per = _JOB
    lo_r, hi_r = np.searchsorted(dom_sorted, [s0, s0 + per])
    sel = order[lo_r:hi_r]
    with np.errstate(all="ignore"):
        bnd, emp, _ = bound_batch(net, method, domains[s0:s0 + per], rows.take(sel), dom[sel] - s0)
    return sel, bnd, emp


def _map_chunks(job: Any, starts: list[int], deadline: float | None = None
                ) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """The chunks' bounds, in order; on two processes (``fork``) when there are enough domains.  The
    arithmetic is the same either way: each chunk is bounded by :func:`bound_batch` alone.  Past
    ``deadline`` no further chunk is waited for (:class:`_CheckTimeout`)."""
    global _JOB
    _JOB = job

    def late() -> bool:
        return deadline is not None and time.perf_counter() > deadline

    try:
        if len(job[2]) >= PARALLEL_FROM and len(starts) > 1 and CHECK_WORKERS > 1:
            import multiprocessing as mp

            try:
                with mp.get_context("fork").Pool(CHECK_WORKERS) as pool:
                    out = []
                    for r in pool.imap(_chunk, starts, chunksize=1):
                        out.append(r)
                        if late() and len(out) < len(starts):
                            pool.terminate()
                            raise _CheckTimeout
                    return out
            except (OSError, ValueError):  # no fork here: bound the chunks in this process
                pass
        out = []
        for s0 in starts:
            if late():
                raise _CheckTimeout
            out.append(_chunk(s0))
        return out
    finally:
        _JOB = None


def _domain_key(lf: Any, seen: dict[int, tuple[np.ndarray, bytes]]) -> tuple[bytes, bytes, tuple[tuple[int, int], ...]]:
    """A leaf's domain as box bytes and sorted split constraints.  The bytes of each box array are
    computed once (``seen``, by identity: the leaves under ReLU splits share their box's arrays, and the
    arrays are held there so that an identity cannot be reused)."""
    cons = []
    c = lf[3]
    while c is not None:
        cons.append((int(c[0]), int(c[1])))
        c = c[2]
    keys = []
    for arr in (lf[1], lf[2]):
        hit = seen.get(id(arr))
        if hit is None or hit[0] is not arr:
            hit = seen[id(arr)] = (arr, arr.tobytes())
        keys.append(hit[1])
    return keys[0], keys[1], tuple(sorted(cons))


def _check_all(net: Net, tree: ProofTree, which: Any, batch: int, deadline: float | None = None
               ) -> list[LeafBounds]:
    """Rigorous bounds of every leaf of the disjuncts ``which``.

    Leaves of different disjuncts over the same domain (same box, same split constraints: the trees of
    disjuncts searched together share their boxes) have their layer bounds computed once; only the
    final back-substitution is per leaf objective.
    """
    n0, n_out = net.dims[0], net.dims[-1]
    which = list(which)
    leaves: list[Any] = []
    owner: list[int] = []
    row_parts: list[Rows] = []
    rung: list[tuple[int, int, float]] = []  # (disjunct, node index, margin)
    for d_i in which:
        dis = tree.disjuncts[d_i]
        lv, _, _ = _walk(net, d_i, dis)
        for lf in lv:
            if isinstance(lf[5], _RungCert):
                if deadline is not None and time.perf_counter() > deadline:
                    raise _CheckTimeout
                rung.append((d_i, lf[0], _rung_margin(net, tree, d_i, dis, lf)))
        lv = [lf for lf in lv if not isinstance(lf[5], _RungCert)]
        obj = _atom_matrices(d_i, dis, n0, n_out)
        if lv:
            row_parts.append(objective_rows(np.stack([lf[4] for lf in lv]), obj, [lf[5] for lf in lv], net.H))
        leaves += lv
        owner += [d_i] * len(lv)
    bounds = np.full(len(leaves), np.nan)
    empty = np.zeros(len(leaves), dtype=bool)
    if leaves:
        rows = Rows.concatenate(row_parts, n0)
        index: dict[Any, int] = {}
        seen: dict[int, tuple[np.ndarray, bytes]] = {}
        dom = np.array([index.setdefault(_domain_key(lf, seen), len(index)) for lf in leaves], dtype=np.int64)
        # number the domains by box and first-layer splits, so that a batch's domains share their
        # second-layer bounds (arith._layer2_unit_bounds); the order changes no bound
        n1 = int(net.offsets[1]) if net.L > 1 else 0
        keys = list(index)
        perm = sorted(range(len(keys)), key=lambda k: (keys[k][0], keys[k][1],
                                                        tuple(c for c in keys[k][2] if c[0] < n1)))
        rank = np.empty(len(keys), dtype=np.int64)
        rank[perm] = np.arange(len(keys))
        dom = rank[dom]
        first: dict[int, int] = {}
        for r, k in enumerate(dom):
            first.setdefault(int(k), r)
        domains = [leaves[first[k]][1:4] for k in range(len(index))]
        order = np.argsort(dom, kind="stable")
        nmax = max(net.dims)
        per = max(1, min(batch, _BATCH_ELEMENTS // (2 * nmax * nmax)))
        starts = list(range(0, len(domains), per))
        job = (net, tree.intermediate, domains, rows, dom, order, dom[order], per)
        for sel, bnd, emp in _map_chunks(job, starts, deadline):
            bounds[sel] = bnd
            empty[sel] = emp
    own = np.array(owner + [r[0] for r in rung], dtype=np.int64)
    idx = np.array([lf[0] for lf in leaves] + [r[1] for r in rung], dtype=np.int64)
    bounds = np.concatenate([bounds, np.array([r[2] for r in rung])])
    empty = np.concatenate([empty, np.zeros(len(rung), dtype=bool)])
    out = []
    for d_i in which:
        sel = np.flatnonzero(own == d_i)
        sel = sel[np.argsort(idx[sel], kind="stable")]
        out.append(LeafBounds(d_i, idx[sel], bounds[sel], empty[sel]))
    return out


class _RungCert:
    """A rung leaf's certificate, told apart from a linear leaf's slopes."""

    def __init__(self, cert: Any) -> None:
        self.cert = cert


def _rung_margin(net: Net, tree: ProofTree, d_i: int, dis: DisjunctProof, lf: Any) -> float:
    """The rigorous margin of a rung leaf (``> 0``: the leaf holds); a certificate that is not about
    the leaf, or that the exact checker rejects, rejects the tree."""
    from sosrelax.certificate.proof_tree.rung_leaf import check_rung_leaf

    lo, hi = seen_box(net, lf[1][None], lf[2][None])
    dev = output_deviation(net, lf[1], lf[2]) if net.f32 else None
    m, why = check_rung_leaf(tree.layers, dis.atoms, lo[0], hi[0], lf[4], lf[5].cert, dev)
    if not np.isfinite(m):
        raise _Reject(f"disjunct {d_i}, node {lf[0]}: rung leaf rejected: {why}", (d_i, lf[0]))
    return m


def float32_output_deviation(layers: Sequence[tuple[np.ndarray, np.ndarray]], lo: np.ndarray,
                             hi: np.ndarray) -> np.ndarray:
    """A rigorous bound ``D`` (per output) of ``|f32(x) - f(fl32(x))|`` over the box ``[lo, hi]``.

    ``f32`` is any IEEE binary32 execution of the network and ``f`` the exact one at the rounded input.
    With ``e_m`` the checker's bound of one layer's float32 error, ``D_1 = e_1`` and
    ``D_m = |W_m| D_{m-1} + e_m`` (ReLU is 1-Lipschitz and exact in floating point); every float64
    operation is rounded upward.
    """
    net = Net(tuple((np.asarray(w, dtype=np.float64), np.asarray(b, dtype=np.float64)) for w, b in layers), True)
    return output_deviation(net, np.asarray(lo, dtype=np.float64), np.asarray(hi, dtype=np.float64))

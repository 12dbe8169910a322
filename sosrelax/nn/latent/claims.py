"""Latent claims: a catastrophe checker verified for every hidden state of an envelope.

The adversary sets hidden layer ``k`` to any state of an :class:`~sosrelax.nn.latent.envelope.Envelope`
``S = {φ(c + G e) : lo <= e <= hi (, ‖e‖₂ <= 1)}``; the network from that layer on decides the
outputs.  The claim is the property on the *latent network*

.. math::

    g(e) = W_L\\,\\mathrm{relu}(\\cdots W_{k+2}\\,\\mathrm{relu}(W_{k+1}\\,\\mathrm{relu}(c + G e) + b_{k+1})\\cdots) + b_L,

whose first affine layer is ``e -> c + G e`` (the envelope's own float64 numbers, taken exactly, no
product with ``W_{k+1}`` is formed) followed by the ReLU the network applies after layer ``k``
anyway; the remaining layers are the network's own.  For a pre-activation envelope ``g`` is exactly
the network from ``z_{k+1}`` on.  For a post-activation envelope the states are ``relu(c + G e)``:
for an interval envelope (``c = 0``, ``G = I``, ``lo >= 0``) the ReLU is the identity on the box;
for the other kinds the set is the image ``relu(Z)`` of the zonotope, which contains ``Z ∩ {h >= 0}``
and hence the data.  No extra constraint (such as ``h >= 0``) is needed: it holds by construction.

Deciding, with the verdicts of :func:`sosrelax.nn.verify`:

* properties with linear output atoms go to the batched search (:mod:`sosrelax.nn.search`) over the
  box of ``e``; its ``unsat`` comes with the proof tree that the checker accepted;
* an ellipsoid adds ``1 - Σ e_i² >= 0``.  The search decides its interval hull (``c_i ± ‖G_i‖₂``,
  rounded outward, :func:`interval_hull`): its ``unsat`` covers the ellipsoid.  Otherwise a projected attack inside the ball, then the exact rungs
  (``method="rungs"``), which take the quadratic as a polynomial atom of the disjunct and prove the
  output atoms violated with it as a constraint (Shor's SDP / Lasserre, certificates checked);
* polynomial and hidden-node atoms (VNN-LIB 2.0; variables ``("Z"|"R", l, j)`` with ``l >= k``) go
  to the exact rungs on the latent network, their layers renumbered from ``k``.

``sat`` only with a latent witness ``e`` re-checked in rational arithmetic: ``e`` in the box (and
the ball), the state ``φ(c + G e)`` computed exactly, the network's own layers ``k+1..L`` evaluated
exactly on it, and a disjunct of the property true there.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from fractions import Fraction
from typing import Any

import numpy as np

from sosrelax.certificate.format import Certificate
from sosrelax.certificate.proof_tree import ProofReport, ProofTree
from sosrelax.errors import InvalidValueError
from sosrelax.nn.ir import Network
from sosrelax.nn.latent.envelope import Envelope, network_prefix_sha256
from sosrelax.nn.rungs import DEFAULT_RUNGS, Result
from sosrelax.nn.vnnlib import Disjunct, PolyAtom, PolyVar, Property

__all__ = [
    "LatentClaim",
    "LatentResult",
    "LatentWitness",
    "attack_latent",
    "ball_atom",
    "confirm_latent",
    "interval_hull",
    "latent_network",
    "latent_property",
    "verify_latent",
]


def latent_network(net: Network, env: Envelope) -> Network:
    """The network ``e -> f_tail(φ(c + G e))`` (see the module): ``(G, c)`` then layers ``k+1..L``."""
    k = env.layer
    if not 0 <= k < len(net.weights) - 1:
        raise InvalidValueError(f"envelope of layer {k}, but {net!r} has hidden layers 0..{len(net.weights) - 2}")
    net.require_logits("a latent claim")
    if not net.all_relu:
        raise InvalidValueError(f"latent claims need a ReLU network; {net!r} has "
                                f"{sorted(set(net.hidden_activations) - {'relu'})} layers")
    if env.n_neurons != net.hidden_sizes[k]:
        raise InvalidValueError(f"the envelope has {env.n_neurons} neurons but layer {k} of {net!r} has "
                                f"{net.hidden_sizes[k]}")
    if env.network_sha256 and env.network_sha256 != network_prefix_sha256(net, k):
        raise InvalidValueError(f"the envelope was fitted on another network (layers 0..{k} differ from "
                                f"{net!r}); fit it again on this one")
    return Network((env.generators, *net.weights[k + 1:]), (env.center, *net.biases[k + 1:]),
                   name=f"{net.name or 'network'} from layer {k} ({env.kind} envelope)")


def interval_hull(env: Envelope) -> Envelope:
    """The smallest box containing ``{c + G e : ‖e‖₂ <= 1}`` (``c_i ± ‖G_i‖₂``), rounded outward, as an
    interval envelope of the same layer and stage (a sound outer set of an ellipsoid for the search)."""
    r = np.sqrt(np.sum(env.generators**2, axis=1)) * (1 + 1e-9) + 1e-12 * np.abs(env.center) + 1e-300
    lo = np.nextafter(env.center - r, -np.inf)
    hi = np.nextafter(env.center + r, np.inf)
    n = env.n_neurons
    return Envelope("interval", env.layer, env.stage, np.zeros(n), np.eye(n), lo, hi, False, env.margin,
                    env.network_sha256, env.coverage)


def ball_atom(m: int) -> PolyAtom:
    """``1 - Σ_i X_i² >= 0`` over the latent network's ``m`` inputs (the ellipsoid's unit ball)."""
    terms: list[tuple[Any, Fraction]] = [((), Fraction(1))]
    terms += [(((("X", 0, i), 2),), Fraction(-1)) for i in range(m)]
    return PolyAtom(tuple(sorted(terms)))


def _remap(v: PolyVar, env: Envelope, source: str) -> PolyVar:
    kind, layer, j = v
    if kind == "X":
        raise InvalidValueError(f"{source}: an atom of a latent claim mentions the input X_{j}; a latent claim "
                                "speaks about outputs and hidden nodes from the envelope's layer on")
    if kind in ("Z", "R"):
        if layer < env.layer or (layer == env.layer and kind == "Z" and env.stage == "post"):
            raise InvalidValueError(
                f"{source}: an atom mentions {'pre' if kind == 'Z' else 'post'}-activation {j} of layer "
                f"{layer}, which the latent adversary at layer {env.layer} ({env.stage}) does not determine")
        return (kind, layer - env.layer, j)
    if kind == "H":
        raise InvalidValueError(f"{source}: hidden tensors must be bound to layers first (nn.verify binds "
                                "them for ONNX models: sosrelax.nn.spec_poly.bind_hidden)")
    return v


def latent_property(net: Network, prop: Property, env: Envelope, *, ball: bool | None = None) -> Property:
    """The property over the latent network's inputs ``e``: each disjunct's box becomes the
    envelope's box, its output atoms stay, hidden-node variables are renumbered from the envelope's
    layer, and (``ball``, default ``env.ball``) the unit-ball atom is added."""
    if prop.n_outputs != net.n_outputs:
        raise InvalidValueError(f"the property has {prop.n_outputs} outputs but the network has {net.n_outputs}")
    if prop.hidden:
        from sosrelax.nn.spec_poly import bind_hidden

        prop = bind_hidden(prop, net)
    lo = tuple(Fraction(float(v)) for v in env.lo)
    hi = tuple(Fraction(float(v)) for v in env.hi)
    extra = (ball_atom(env.n_generators),) if (env.ball if ball is None else ball) else ()
    src = prop.source or "the property"
    ds = []
    for d in prop.disjuncts:
        if any(a.x for a in d.atoms):
            raise InvalidValueError(f"{src}: an atom of a latent claim mentions the inputs X; a latent claim "
                                    "speaks about outputs and hidden nodes from the envelope's layer on")
        poly = tuple(replace(a, terms=tuple(sorted((tuple(sorted((_remap(v, env, src), e) for v, e in m)), c)
                                                   for m, c in a.terms))) for a in d.poly)
        ds.append(Disjunct(lo, hi, d.atoms, poly + extra))
    return Property(env.n_generators, prop.n_outputs, tuple(ds), prop.source)


@dataclass(frozen=True)
class LatentWitness:
    """A latent counterexample, checked exactly.

    Attributes
    ----------
    coordinates : tuple of Fraction
        ``e`` (exact rationals of float64 values), in the box (and the ball).
    state : tuple of Fraction
        The hidden state ``φ(c + G e)`` of layer ``layer``, exact.
    outputs : tuple of Fraction
        The network's layers ``layer+1..L`` on the state, exact.
    disjunct : int
        The disjunct of the property that holds.
    """

    coordinates: tuple[Fraction, ...]
    state: tuple[Fraction, ...]
    outputs: tuple[Fraction, ...]
    disjunct: int

    def state_array(self) -> np.ndarray:
        """The state as float64 (rounded)."""
        return np.array([float(v) for v in self.state])

    def as_dict(self) -> dict[str, float]:
        """``E_i`` (coordinates), ``H_i`` (state) and ``Y_i`` (outputs) as floats, for result records."""
        return {**{f"E_{i}": float(v) for i, v in enumerate(self.coordinates)},
                **{f"H_{i}": float(v) for i, v in enumerate(self.state)},
                **{f"Y_{i}": float(v) for i, v in enumerate(self.outputs)}}


def confirm_latent(net: Network, prop: Property, env: Envelope, e: Sequence[float]) -> LatentWitness | None:
    """Re-check a latent candidate ``e`` exactly; the witness when a disjunct holds at its state."""
    eq = [Fraction(float(v)) for v in np.asarray(e, dtype=np.float64).reshape(-1)]
    if len(eq) != env.n_generators:
        return None
    if any(not (Fraction(float(a)) <= v <= Fraction(float(b))) for a, v, b in zip(env.lo, eq, env.hi, strict=True)):
        return None
    if env.ball and sum((v * v for v in eq), Fraction(0)) > 1:
        return None
    sub = latent_network(net, env)
    zs = sub.activations_exact(eq)  # zs[0] = c + G e exactly
    relu0 = [v if v > 0 else Fraction(0) for v in zs[0]]
    state = relu0 if env.stage == "post" else list(zs[0])
    # the network's own layers k+1..L on the state, independently of the latent network's pass
    k = env.layer
    tail = Network(net.weights[k + 1:], net.biases[k + 1:])
    y = tail.forward_exact(relu0)
    if y != zs[-1]:  # pragma: no cover - the same rational arithmetic; a guard, not a branch
        return None
    lp = latent_property(net, prop, env)
    for i, d in enumerate(lp.disjuncts):
        if d.holds(eq, y, zs):
            return LatentWitness(tuple(eq), tuple(state), tuple(y), i)
    return None


def _atom_matrix(d: Disjunct, n_out: int) -> tuple[np.ndarray, np.ndarray]:
    B = np.zeros((len(d.atoms), n_out))
    c = np.zeros(len(d.atoms))
    for r, a in enumerate(d.atoms):
        for j, v in a.y:
            B[r, j] = float(v)
        c[r] = float(a.const)
    return B, c


def _project(E: np.ndarray, env: Envelope) -> np.ndarray:
    E = np.clip(E, env.lo, env.hi)
    if env.ball:
        E = E / np.maximum(1.0, np.linalg.norm(E, axis=1))[:, None]
    return E


def attack_latent(net: Network, prop: Property, env: Envelope, rng: np.random.Generator | int | None = 0, *,
                  starts: int = 256, steps: int = 200, seconds: float = 2.0) -> LatentWitness | None:
    """Projected signed-gradient ascent on the worst linear atom over the envelope (box, ball);
    every end point is re-checked by :func:`confirm_latent`.  ``None`` when nothing is confirmed."""
    gen = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
    sub = latent_network(net, env)
    t0 = time.perf_counter()
    width = env.hi - env.lo
    for di, d in enumerate(prop.disjuncts):
        if d.poly or not d.atoms or any(a.x for a in d.atoms):
            continue
        B, c = _atom_matrix(d, net.n_outputs)
        E = _project(env.lo + gen.random((starts, env.n_generators)) * width, env)
        step = 0.1 * np.maximum(width, 1e-12)
        for it in range(steps):
            zs = sub.activations(E)
            vals = zs[-1] @ B.T + c
            idx = np.argmin(vals, axis=1)
            g = B[idx]
            for layer in range(len(sub.weights) - 1, 0, -1):
                g = (g @ sub.weights[layer]) * (zs[layer - 1] > 0)
            g = g @ sub.weights[0]
            E = _project(E + step * (0.97 ** it) * np.sign(g), env)
            if it % 20 == 19 or it == steps - 1:
                best = np.argsort(-np.min(sub.forward(E) @ B.T + c, axis=1))[:4]
                for b in best:
                    w = confirm_latent(net, replace(prop, disjuncts=(d,)), env, E[b])
                    if w is not None:
                        return replace(w, disjunct=di)
                if time.perf_counter() - t0 > seconds:
                    return None
    return None


@dataclass(frozen=True)
class LatentClaim:
    """A latent claim for :func:`sosrelax.certify`: no hidden state of ``envelope`` makes the property
    ``prop`` (a catastrophe checker over the outputs, or over hidden nodes from the envelope's layer on)
    true for ``net``.  ``certify`` decides it with :func:`verify_latent`."""

    net: Network
    prop: Property
    envelope: Envelope


@dataclass(frozen=True)
class LatentResult:
    """Outcome of :func:`verify_latent`.

    Attributes
    ----------
    status : Result
        ``sat`` (``witness`` checked exactly), ``unsat`` (``proof`` or ``certificates`` accepted by the
        checker), ``unknown`` or ``timeout``.
    witness : LatentWitness or None
    proof : ProofTree or None
        The search's proof tree over the latent network (``network``) and the box of ``e``.
    proof_report : ProofReport or None
    certificates : tuple of Certificate
        The exact rungs' verified certificates (ellipsoids and polynomial atoms).
    network : Network
        The latent network the proof speaks about.
    message : str
    stats : dict
    """

    status: Result
    witness: LatentWitness | None
    proof: ProofTree | None
    proof_report: ProofReport | None
    certificates: tuple[Certificate, ...]
    network: Network
    message: str
    stats: dict[str, float] = field(default_factory=dict)

    @property
    def success(self) -> bool:
        """True when the claim was decided."""
        return self.status in (Result.SAT, Result.UNSAT)

    def __repr__(self) -> str:
        return f"LatentResult({self.status.value}: {self.message})"


def verify_latent(net: Network, prop: Property, env: Envelope, *, timeout: float = 60.0,
                  rng: np.random.Generator | int | None = 0, method: str = "auto",
                  rungs: Sequence[str] = DEFAULT_RUNGS) -> LatentResult:
    """Decide ``prop`` for every hidden state of ``env`` (see the module for the verdicts).

    Parameters
    ----------
    net : Network
    prop : Property
        Output atoms (and VNN-LIB 2.0 hidden-node or polynomial atoms of layers from the envelope's
        on); its input boxes are ignored: the envelope is the input set.
    env : Envelope
        Fitted on ``net`` (its hash of layers ``0..layer`` must match).
    timeout : float
        Seconds for the whole decision.
    method : {"auto", "search", "rungs"}
        ``"auto"``: the search for linear atoms (the outer box for an ellipsoid, then the rungs with the
        ball), the rungs for polynomial ones.
    rungs : sequence of str
        Rungs of the exact path (:data:`sosrelax.nn.rungs.RUNGS`).
    """
    from sosrelax.nn.verify import verify

    if method not in ("auto", "search", "rungs"):
        raise InvalidValueError(f"method must be 'auto', 'search' or 'rungs', got {method!r}")
    t_end = time.perf_counter() + timeout
    gen = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
    sub = latent_network(net, env)
    full = latent_property(net, prop, env)
    box = latent_property(net, prop, env, ball=False)
    linear = not any(d.poly for d in box.disjuncts)
    stats: dict[str, float] = {}

    def out(status: Result, msg: str, witness: LatentWitness | None = None, res: Any = None) -> LatentResult:
        if status is Result.SAT and witness is None:
            status = Result.UNKNOWN  # never sat without an exactly checked latent witness
        proof = getattr(res, "proof", None) if status is Result.UNSAT else None
        report = getattr(res, "proof_report", None)
        certs = tuple(getattr(res, "certificates", ())) if status is Result.UNSAT else ()
        if status is Result.UNSAT and proof is None and not certs:
            status, msg = Result.UNKNOWN, "internal: unsat without a checked proof"
        if proof is not None and not (report is not None and report.valid):
            status, msg, proof = Result.UNKNOWN, "the proof tree was not accepted", None
        return LatentResult(status, witness, proof, report, certs, sub, msg, stats)

    if env.ball and linear:
        w = attack_latent(net, prop, env, gen, seconds=min(2.0, timeout / 10))
        if w is not None:
            return out(Result.SAT, "latent witness inside the ellipsoid, re-checked exactly", w)
    res = None
    if linear and method in ("auto", "search"):
        if env.ball:  # the search decides the ellipsoid's interval hull, which contains it
            hull = interval_hull(env)
            sub = latent_network(net, hull)
            box = latent_property(net, prop, hull)
        res = verify(sub, box, timeout=max(0.1, (t_end - time.perf_counter()) * (0.5 if env.ball else 1.0)),
                     rng=gen, method="search", semantics="real")
        stats.update(res.stats)
        if res.status is Result.UNSAT:
            where = "the ellipsoid's interval hull" if env.ball else "the envelope"
            return out(Result.UNSAT, f"proof tree over {where} accepted by the checker", None, res)
        sub = latent_network(net, env)
        if res.status is Result.SAT and res.counterexample is not None:
            e = res.counterexample[0]
            if env.ball:  # a state of the hull: its coordinates in the ellipsoid, checked exactly below
                e = np.linalg.lstsq(env.generators, np.asarray(e) - env.center, rcond=None)[0]
            w = confirm_latent(net, prop, env, e)
            if w is not None:
                return out(Result.SAT, "latent witness re-checked exactly", w)
        if not env.ball or method == "search":
            return out(res.status, res.message)
    left = t_end - time.perf_counter()
    if left <= 0:
        return out(Result.TIMEOUT, "time budget spent")
    res = verify(sub, full, timeout=left, rng=gen, method="rungs", rungs=rungs)
    if res.status is Result.SAT and res.counterexample is not None:
        w = confirm_latent(net, prop, env, res.counterexample[0])
        return out(Result.SAT if w is not None else Result.UNKNOWN, res.message, w)
    if res.status is Result.UNSAT:
        return out(Result.UNSAT, f"exact rungs: {res.message}", None, res)
    return out(res.status, res.message)

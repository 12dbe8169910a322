"""Activation envelopes: sets of hidden states that a network reaches on natural data.

An envelope of hidden layer ``k`` (0-based, as ``Network.tensor_names`` and the ``("Z", k, j)`` /
``("R", k, j)`` variables of VNN-LIB 2.0 atoms count) is the set

.. math::

    S = \\{\\, \\varphi(c + G e) \\;:\\; lo \\le e \\le hi,\\ (\\|e\\|_2 \\le 1 \\text{ for an ellipsoid}) \\,\\}

with ``φ`` the identity for the pre-activation ``z_{k+1}`` (``stage="pre"``) and the ReLU for the
post-activation ``relu(z_{k+1})`` (``stage="post"``, the default).  One parametrisation for every
kind, so that a latent claim is the network ``e -> f_tail(φ(c + G e))`` over a box (plus one
quadratic constraint for an ellipsoid), see :mod:`sosrelax.nn.latent.claims`:

``interval``
    ``G = I``, ``c = 0``: per-neuron ranges of the data, each widened by ``margin`` times its width
    on both sides (post-activation lower ends stay at ``max(lo, 0)``: ``relu`` maps negative values to
    0 anyway, the data are non-negative);
``polytope``
    a parallelotope aligned with all principal directions ``V`` of the data: ``G = V diag(w)``, the
    coordinates ``V^T (h - μ)`` of the data fill ``[lo, hi]`` (widened by ``margin``); with the
    interval envelope's box it would be a polytope, alone it is the PCA-aligned box;
``zonotope``
    the ``rank`` leading principal directions (their data ranges) plus one axis-aligned generator per
    neuron for the residual ``h - μ - V_r V_r^T (h - μ)``: ``rank + n`` generators;
``ellipsoid``
    covariance-scaled: ``G = ρ L`` with ``L L^T = Σ + δ I`` (the data covariance, ``δ`` a small ridge
    for dead neurons) and ``ρ`` the largest Mahalanobis radius of the data times ``1 + margin``;
    ``e`` in the unit ball (the box ``[-1, 1]`` is its outer box).

Coverage: the fraction of points whose activations are in ``S``.  The test used is sufficient (a
point counts when ``h = c + G e`` for some admissible ``e``, and since ``relu(h) = h`` for post
activations that puts it in ``S``), so a reported coverage is a lower bound of the true one.

Files: :meth:`Envelope.save` writes canonical, versioned JSON (floats as their shortest repr, read
back bit-exact); :func:`load_envelope` validates sizes and finiteness before anything is allocated.
:func:`check_envelope` re-measures coverage on data and compares it with the recorded held-out
coverage: an envelope shrunk after fitting loses coverage and is rejected.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from sosrelax.errors import InvalidValueError, ParseError
from sosrelax.files import write_atomic
from sosrelax.nn.ir import Network

__all__ = [
    "ENVELOPE_FORMAT",
    "ENVELOPE_VERSION",
    "KINDS",
    "Envelope",
    "EnvelopeReport",
    "check_envelope",
    "envelope",
    "layer_activations",
    "load_envelope",
    "network_prefix_sha256",
]

ENVELOPE_FORMAT = "sosrelax-envelope"
ENVELOPE_VERSION = 1
KINDS = ("interval", "zonotope", "polytope", "ellipsoid")
STAGES = ("post", "pre")

#: Largest number of neurons or generators an envelope file may declare (checked before allocating).
MAX_DIMENSION = 100_000


@dataclass(frozen=True, eq=False)
class Envelope:
    """The set ``{φ(c + G e) : lo <= e <= hi, ‖e‖₂ <= 1 if ball}`` of hidden states of one layer.

    Attributes
    ----------
    kind : str
        One of :data:`KINDS`.
    layer : int
        Hidden layer (0-based): the states are ``z_{layer+1}`` or ``relu(z_{layer+1})``.
    stage : str
        ``"post"`` (after the ReLU; ``φ = relu``) or ``"pre"`` (``φ`` the identity).
    center : ndarray
        ``c``, shape ``(n,)``.
    generators : ndarray
        ``G``, shape ``(n, m)``.
    lo, hi : ndarray
        The box of ``e``, shape ``(m,)``.
    ball : bool
        Ellipsoids: ``e`` also lies in the closed unit ball.
    margin : float
        The dilation the envelope was fitted with.
    network_sha256 : str
        Hash of the layers ``0..layer`` of the network (weights and biases); an envelope speaks
        about the network it was fitted on.
    coverage : dict
        ``fit`` and ``held_out`` coverage and the point counts ``n_fit``, ``n_held_out``.
    """

    kind: str
    layer: int
    stage: str
    center: np.ndarray
    generators: np.ndarray
    lo: np.ndarray
    hi: np.ndarray
    ball: bool = False
    margin: float = 0.0
    network_sha256: str = ""
    coverage: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        c = np.array(self.center, dtype=np.float64).reshape(-1)
        g = np.array(self.generators, dtype=np.float64)
        lo = np.array(self.lo, dtype=np.float64).reshape(-1)
        hi = np.array(self.hi, dtype=np.float64).reshape(-1)
        if self.kind not in KINDS:
            raise InvalidValueError(f"envelope kind {self.kind!r}: choose from {', '.join(KINDS)}")
        if self.stage not in STAGES:
            raise InvalidValueError(f"envelope stage {self.stage!r}: choose 'post' or 'pre'")
        if g.ndim != 2 or g.shape[0] != c.size or lo.size != g.shape[1] or hi.size != g.shape[1]:
            raise InvalidValueError(
                f"envelope: centre of {c.size} entries, generators of shape {g.shape} and a box of "
                f"{lo.size}/{hi.size} entries do not fit together (need (n,), (n, m), (m,))"
            )
        if not all(np.all(np.isfinite(a)) for a in (c, g, lo, hi)):
            raise InvalidValueError("envelope: centre, generators and box must be finite")
        if np.any(lo > hi):
            raise InvalidValueError(f"envelope: box has lo > hi at e[{int(np.argmax(lo > hi))}]")
        if self.layer < 0:
            raise InvalidValueError(f"envelope layer {self.layer}: hidden layers count from 0")
        for a in (c, g, lo, hi):
            a.setflags(write=False)
        object.__setattr__(self, "center", c)
        object.__setattr__(self, "generators", g)
        object.__setattr__(self, "lo", lo)
        object.__setattr__(self, "hi", hi)
        object.__setattr__(self, "coverage", {str(k): float(v) for k, v in self.coverage.items()})

    @property
    def n_neurons(self) -> int:
        """Width ``n`` of the layer."""
        return int(self.center.size)

    @property
    def n_generators(self) -> int:
        """Number ``m`` of latent coordinates ``e``."""
        return int(self.generators.shape[1])

    # membership ----------------------------------------------------------------------------
    def coordinates(self, H: np.ndarray) -> np.ndarray | None:
        """``e`` with ``c + G e = h`` for each row of ``H`` when ``G`` is square and invertible, else None."""
        g = self.generators
        if g.shape[0] != g.shape[1]:
            return None
        if np.array_equal(g, np.eye(g.shape[0])):
            return np.asarray(H, dtype=np.float64) - self.center
        return np.linalg.solve(g, (np.asarray(H, dtype=np.float64) - self.center).T).T

    def contains(self, H: np.ndarray, tol: float = 1e-9) -> np.ndarray:
        """For each row ``h`` of ``H`` (states of the layer): is ``h = c + G e`` for an admissible ``e``?

        Floating point, with relative tolerance ``tol`` (a statistic, not a proof: witnesses are
        checked exactly by :mod:`sosrelax.nn.latent.claims`).  ``relu(h) = h`` for post-activation
        states, so a ``True`` puts ``h`` in the envelope.
        """
        H = np.atleast_2d(np.asarray(H, dtype=np.float64))
        if H.shape[1] != self.n_neurons:
            raise InvalidValueError(f"states of {H.shape[1]} neurons for an envelope of {self.n_neurons}")
        E = self.coordinates(H)
        if E is None:
            return self._contains_lp(H, tol)
        slack = tol * np.maximum(1.0, np.abs(self.hi - self.lo))
        inside = np.all((E >= self.lo - slack) & (E <= self.hi + slack), axis=1)
        if self.ball:
            inside &= np.sum(E * E, axis=1) <= 1.0 + tol
        return np.asarray(inside)

    def _contains_lp(self, H: np.ndarray, tol: float) -> np.ndarray:
        from scipy.optimize import linprog

        g = self.generators
        n, m = g.shape
        out = np.zeros(H.shape[0], dtype=bool)
        if m > n and np.array_equal(g[:, m - n:], np.eye(n)):
            # principal directions A plus the identity: try e = (A^T d, d - A A^T d) first (d = h - c),
            # an exact decomposition of d; the LP decides only the points it leaves outside the box
            A = g[:, : m - n]
            D = H - self.center
            a = D @ A
            E = np.hstack([a, D - a @ A.T])
            slack = tol * np.maximum(1.0, np.abs(self.hi - self.lo))
            out = np.all((E >= self.lo - slack) & (E <= self.hi + slack), axis=1)
        bounds = list(zip(self.lo - tol, self.hi + tol, strict=True))
        for i, h in enumerate(H):
            if out[i]:
                continue
            res = linprog(np.zeros(g.shape[1]), A_eq=g, b_eq=h - self.center, bounds=bounds, method="highs")
            out[i] = res.status == 0
        return out

    def coverage_of(self, net: Network, X: np.ndarray) -> float:
        """Fraction of the inputs ``X`` whose activations lie in the envelope (a lower bound)."""
        if len(X) == 0:
            raise InvalidValueError("coverage needs at least one point")
        return float(np.mean(self.contains(layer_activations(net, X, self.layer, self.stage))))

    # files ----------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """The file's content (JSON types only)."""
        return {
            "format": ENVELOPE_FORMAT, "version": ENVELOPE_VERSION, "kind": self.kind,
            "layer": int(self.layer), "stage": self.stage, "ball": bool(self.ball), "margin": float(self.margin),
            "network_sha256": self.network_sha256, "coverage": dict(sorted(self.coverage.items())),
            "center": [float(v) for v in self.center],
            "generators": [[float(v) for v in row] for row in self.generators],
            "lo": [float(v) for v in self.lo], "hi": [float(v) for v in self.hi],
        }

    def to_json(self) -> str:
        """Canonical JSON (sorted keys; floats read back bit-exact)."""
        return json.dumps(self.to_dict(), sort_keys=True, allow_nan=False, separators=(",", ":")) + "\n"

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the envelope file atomically; return its path."""
        write_atomic(os.fspath(path), self.to_json())
        return Path(path)

    def __repr__(self) -> str:
        cov = self.coverage.get("held_out")
        c = f", held-out coverage {cov:.4f}" if cov is not None else ""
        return (f"Envelope({self.kind}, layer {self.layer} {self.stage}, {self.n_neurons} neurons, "
                f"{self.n_generators} generators, margin {self.margin}{c})")


def network_prefix_sha256(net: Network, layer: int) -> str:
    """SHA-256 of the shapes and float64 bytes of weights and biases ``0..layer``."""
    h = hashlib.sha256()
    for w, b in zip(net.weights[: layer + 1], net.biases[: layer + 1], strict=True):
        h.update(repr(w.shape).encode())
        h.update(np.ascontiguousarray(w, dtype="<f8").tobytes())
        h.update(np.ascontiguousarray(b, dtype="<f8").tobytes())
    return h.hexdigest()


def _check_layer(net: Network, layer: int) -> None:
    if not 0 <= layer < len(net.weights) - 1:
        raise InvalidValueError(
            f"layer {layer}: {net!r} has hidden layers 0..{len(net.weights) - 2} (0-based); "
            "an envelope sits on a hidden layer"
        )


def layer_activations(net: Network, X: np.ndarray, layer: int, stage: str = "post") -> np.ndarray:
    """States of hidden layer ``layer`` for the inputs ``X`` (rows): ``z_{layer+1}`` or its ReLU."""
    _check_layer(net, layer)
    if stage not in STAGES:
        raise InvalidValueError(f"stage {stage!r}: choose 'post' or 'pre'")
    X = np.atleast_2d(np.asarray(X, dtype=np.float64))
    z = net.activations(X.reshape(X.shape[0], -1))[layer]
    return np.maximum(z, 0.0) if stage == "post" else z


def _as_network(model: Any) -> Network:
    if isinstance(model, Network):
        return model
    if hasattr(model, "forward") and hasattr(model, "parameters"):
        from sosrelax.nn import from_torch

        return from_torch(model)
    raise InvalidValueError(f"model of type {type(model).__name__}: give a sosrelax.nn.Network or a torch "
                            "nn.Sequential")


def _inputs(data: Any) -> np.ndarray:
    x = data[0] if isinstance(data, tuple) else getattr(data, "x", data)
    X = np.asarray(x, dtype=np.float64)
    return X.reshape(X.shape[0], -1)


def _fit(kind: str, H: np.ndarray, margin: float, stage: str, rank: int | None
         ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, bool]:
    """``(c, G, lo, hi, ball)`` of an envelope containing every row of ``H``, dilated by ``1 + margin``."""
    n = H.shape[1]
    mu = H.mean(axis=0)
    if kind == "interval":
        a, b = H.min(axis=0), H.max(axis=0)
        w = b - a
        lo, hi = a - margin * w, b + margin * w
        if stage == "post":
            lo = np.maximum(lo, 0.0)
        return np.zeros(n), np.eye(n), lo, hi, False
    D = H - mu
    if kind == "ellipsoid":
        cov = D.T @ D / max(1, H.shape[0] - 1)
        ridge = 1e-6 * max(float(np.trace(cov)) / n, 1e-12)
        L = np.linalg.cholesky(cov + ridge * np.eye(n))
        E = np.linalg.solve(L, D.T).T
        rho = float(np.sqrt(np.max(np.sum(E * E, axis=1)))) * (1.0 + margin) * (1.0 + 1e-9)
        return mu, rho * L, -np.ones(n), np.ones(n), True
    _, _, vt = np.linalg.svd(D, full_matrices=True)
    V = vt.T
    if kind == "zonotope":
        r = min(n, max(1, rank if rank is not None else min(8, n)))
        V = V[:, :r]
        R = D - (D @ V) @ V.T
        V = np.hstack([V, np.eye(n)])
        P = np.hstack([D @ V[:, :r], R])
    else:
        P = D @ V
    a, b = P.min(axis=0), P.max(axis=0)
    mid, half = (a + b) / 2, (b - a) / 2 * (1.0 + margin) * (1.0 + 1e-9) + 1e-12
    c = mu + V @ mid
    return c, V, -half, half, False


def envelope(model: Any, data: Any, layer: int, kind: str = "interval", *, margin: float = 0.05,
             stage: str = "post", held_out: Any = 0.2, rank: int | None = None,
             rng: np.random.Generator | int | None = 0) -> Envelope:
    """Fit an activation envelope of hidden layer ``layer`` (0-based) on ``data``.

    Parameters
    ----------
    model : Network or torch.nn.Sequential
    data : array or (x, y) or Dataset
        Inputs, one per row (flattened).
    layer : int
        Hidden layer, 0-based.
    kind : {"interval", "zonotope", "polytope", "ellipsoid"}
        See the module.
    margin : float
        Dilation about the centre: the fitted set is scaled by ``1 + margin`` (interval: each range
        widened by ``margin`` of its width on both sides).
    stage : {"post", "pre"}
        After or before the layer's ReLU.
    held_out : float or array or (x, y)
        A fraction of ``data`` kept out of the fit (random rows under ``rng``), or separate held-out
        inputs; their coverage is recorded in ``Envelope.coverage["held_out"]``.  ``0``: none.
    rank : int, optional
        Principal directions of a zonotope (default ``min(8, n)``).

    Returns
    -------
    Envelope
        Contains the activations of every fitted point (``coverage["fit"]`` is measured, 1 up to
        floating-point membership tests).
    """
    net = _as_network(model)
    _check_layer(net, layer)
    if kind not in KINDS:
        raise InvalidValueError(f"envelope kind {kind!r}: choose from {', '.join(KINDS)}")
    if not (math.isfinite(margin) and margin >= 0):
        raise InvalidValueError(f"margin {margin}: must be finite and >= 0")
    X = _inputs(data)
    if isinstance(held_out, (int, float)) and not isinstance(held_out, bool):
        if not 0 <= held_out < 1:
            raise InvalidValueError(f"held_out {held_out}: a fraction in [0, 1), or held-out inputs")
        gen = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
        order = gen.permutation(X.shape[0])
        k = int(round(held_out * X.shape[0]))
        Xh, Xf = X[order[:k]], X[order[k:]]
    else:
        Xh, Xf = _inputs(held_out), X
    if Xf.shape[0] < 2:
        raise InvalidValueError(f"an envelope needs at least 2 fitted points, got {Xf.shape[0]}")
    H = layer_activations(net, Xf, layer, stage)
    c, G, lo, hi, ball = _fit(kind, H, margin, stage, rank)
    env = Envelope(kind, layer, stage, c, G, lo, hi, ball, float(margin), network_prefix_sha256(net, layer))
    cov = {"fit": float(np.mean(env.contains(H))), "n_fit": float(Xf.shape[0])}
    if Xh.shape[0]:
        cov.update(held_out=env.coverage_of(net, Xh), n_held_out=float(Xh.shape[0]))
    return Envelope(kind, layer, stage, c, G, lo, hi, ball, float(margin), env.network_sha256, cov)


# ------------------------------------------------------------------------------------------------
# files and the coverage check


def load_envelope(path: str | os.PathLike[str]) -> Envelope:
    """Read an envelope file (:meth:`Envelope.save`); ``ParseError`` naming the file and the field."""
    p = Path(path)
    try:
        doc = json.loads(p.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ParseError(f"{p}: not a readable envelope file ({e})") from e
    return envelope_from_dict(doc, source=str(p))


def envelope_from_dict(doc: Any, *, source: str = "<envelope>") -> Envelope:
    """An :class:`Envelope` from the content of a file, validated field by field."""
    if not isinstance(doc, dict) or doc.get("format") != ENVELOPE_FORMAT:
        raise ParseError(f"{source}: not an envelope file (format must be {ENVELOPE_FORMAT!r})")
    if doc.get("version") != ENVELOPE_VERSION:
        raise ParseError(f"{source}: envelope version {doc.get('version')!r}; this sosrelax reads "
                         f"version {ENVELOPE_VERSION}")
    center, gens = doc.get("center"), doc.get("generators")
    if not isinstance(center, list) or not isinstance(gens, list) or len(gens) != len(center):
        raise ParseError(f"{source}: 'center' and 'generators' must be lists of the same length")
    m = len(doc.get("lo") or [])
    if len(center) > MAX_DIMENSION or m > MAX_DIMENSION or len(center) * max(m, 1) > 50_000_000:
        raise ParseError(f"{source}: envelope of {len(center)} neurons and {m} generators is too large")
    if any(not isinstance(r, list) or len(r) != m for r in gens):
        raise ParseError(f"{source}: every row of 'generators' must have {m} entries (the length of 'lo')")
    try:
        cov = {str(k): float(v) for k, v in dict(doc.get("coverage", {})).items()}
        return Envelope(str(doc["kind"]), int(doc["layer"]), str(doc["stage"]),
                        np.array(center, dtype=np.float64), np.array(gens, dtype=np.float64).reshape(len(center), m),
                        np.array(doc["lo"], dtype=np.float64), np.array(doc["hi"], dtype=np.float64),
                        bool(doc.get("ball", False)), float(doc.get("margin", 0.0)),
                        str(doc.get("network_sha256", "")), cov)
    except (KeyError, TypeError, ValueError) as e:
        raise ParseError(f"{source}: invalid envelope field ({e})") from e


@dataclass(frozen=True)
class EnvelopeReport:
    """Outcome of :func:`check_envelope`.

    Attributes
    ----------
    valid : bool
        The envelope belongs to the network and covers the data at least as well as it claims.
    coverage : float
        Measured on the data given.
    required : float
        The least coverage accepted.
    reason : str
    """

    valid: bool
    coverage: float
    required: float
    reason: str

    def __repr__(self) -> str:
        return f"EnvelopeReport({'valid' if self.valid else 'rejected'}: {self.reason})"


def check_envelope(env: Envelope, model: Any, data: Any, *, min_coverage: float | None = None
                   ) -> EnvelopeReport:
    """Is ``env`` an honest envelope of ``model`` on ``data``?

    Rejected when it was fitted on another network (hash of layers ``0..layer``) or when its
    coverage of ``data`` falls below ``min_coverage``; the default is the held-out coverage recorded
    in the file minus three binomial standard deviations and ``1/n`` (a file that claims no
    held-out coverage needs ``0.99``).  An envelope shrunk after fitting leaves data out and fails.
    """
    net = _as_network(model)
    _check_layer(net, env.layer)
    if env.n_neurons != net.hidden_sizes[env.layer]:
        return EnvelopeReport(False, 0.0, 1.0, f"the envelope has {env.n_neurons} neurons but layer "
                              f"{env.layer} of the network has {net.hidden_sizes[env.layer]}")
    if env.network_sha256 and env.network_sha256 != network_prefix_sha256(net, env.layer):
        return EnvelopeReport(False, 0.0, 1.0, "the envelope was fitted on another network (layers "
                              f"0..{env.layer} differ)")
    X = _inputs(data)
    cov = env.coverage_of(net, X)
    if min_coverage is None:
        p = env.coverage.get("held_out", 0.99)
        n = X.shape[0]
        min_coverage = max(0.0, p - 3.0 * math.sqrt(max(p * (1 - p), 1.0 / n) / n) - 1.0 / n)
    ok = cov >= min_coverage
    why = (f"coverage {cov:.4f} of {X.shape[0]} points {'>=' if ok else '<'} required {min_coverage:.4f}")
    return EnvelopeReport(bool(ok), cov, float(min_coverage), why)

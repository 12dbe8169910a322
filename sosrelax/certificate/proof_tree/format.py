"""The network proof-tree file: a network, a property and, per disjunct, a split tree.

The network's hidden layers are ReLU layers unless the file says otherwise: from version 2 on the
optional field ``network.activations`` names each hidden layer's activation (``"relu"``, ``"sigmoid"``,
``"tanh"``, or the piecewise-constant ``"sign"``, ``"step"`` (``[z > 0]``), ``"eq"`` (``[z = 0]``)); a
version-1 file with that field is refused.

A proof tree claims that no input ``x`` in a disjunct's box makes every linear atom of that
disjunct true for the network output ``f(x)``.  Each disjunct carries a binary tree of
sub-domains in preorder: input splits ``("s", i, v)``, ReLU splits ``("r", k, j)`` and leaves:
``("l", lambdas, alpha)`` (linear bounds) or, from version 2 on, ``("b", lambdas, (alpha, beta))`` (linear
bounds with multipliers ``beta`` of the leaf's ReLU-split constraints) and ``("c", lambdas, certificate)``
(a leaf closed by a certified LP/SDP/SOS rung, see :mod:`sosrelax.certificate.proof_tree.rung_leaf`).  This module only reads and writes the file (strictly: every field is
checked for type, length and finiteness before it is used, sizes are bounded before anything is
allocated); :mod:`sosrelax.certificate.proof_tree.check` decides whether the tree proves the
claim.  The layout is documented in ``docs/proof-trees.md``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import math
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

import numpy as np

from sosrelax.certificate.format import Certificate
from sosrelax.errors import CertificateFormatError

__all__ = [
    "ACTIVATIONS",
    "DEFAULT_TREE_LIMITS",
    "INTERMEDIATE_METHODS",
    "PROOF_TREE_FORMAT",
    "PROOF_TREE_VERSION",
    "READ_VERSIONS",
    "SEMANTICS",
    "AtomSpec",
    "DisjunctProof",
    "Node",
    "ProofTree",
    "TreeLimits",
    "network_sha256",
]

PROOF_TREE_FORMAT = "sosrelax-proof-tree"
PROOF_TREE_VERSION = 2
"""The newest version; a tree without rung leaves is written as version 1 (older readers accept it)."""
READ_VERSIONS = (1, 2)
SEMANTICS = ("real", "float32")
INTERMEDIATE_METHODS = ("crown", "forward")

Node = tuple[str, int, float] | tuple[str, int, int] | tuple[str, tuple[float, ...], Any]
"""``("s", i, v)``, ``("r", k, j)``, ``("l", lambdas, alpha)`` (``alpha``: raw uint8 bytes or None) or
``("b", lambdas, (alpha, beta))`` (``beta``: raw float64 little-endian bytes, one per hidden neuron) or
``("c", lambdas, certificate)`` (a :class:`~sosrelax.certificate.format.Certificate`)."""

_RATIONAL = re.compile(r"-?[0-9]+(/[0-9]+)?\Z")
_TOP_KEYS = {"format", "version", "semantics", "intermediate", "network", "disjuncts", "meta"}
_NET_KEYS = {"input_shape", "layers", "sha256"}
#: Hidden-layer activations a proof tree may name (``network.activations``, version 2).
ACTIVATIONS = ("relu", "sigmoid", "tanh", "sign", "step", "eq")
_LAYER_KEYS = {"rows", "cols", "weight", "bias"}
_DISJ_KEYS = {"lo", "hi", "atoms", "nodes"}
_ATOM_KEYS = {"x", "y", "const", "strict"}


@dataclass(frozen=True)
class TreeLimits:
    """Sizes a proof-tree file may have; checked before anything of that size is allocated."""

    max_file_bytes: int = 512 * 2**20
    max_nodes: int = 10**8
    max_parameters: int = 2**28
    max_layers: int = 4096
    max_digits: int = 10_000


DEFAULT_TREE_LIMITS = TreeLimits()


@dataclass(frozen=True)
class AtomSpec:
    """``Σ c_i x_i + Σ c_j y_j + const >= 0`` (``> 0`` when ``strict``), as in a VNN-LIB atom."""

    x: tuple[tuple[int, Fraction], ...]
    y: tuple[tuple[int, Fraction], ...]
    const: Fraction
    strict: bool = False


@dataclass(frozen=True)
class DisjunctProof:
    """One disjunct (box ``lo <= x <= hi`` and atoms) with its split tree in preorder."""

    lo: tuple[Fraction, ...]
    hi: tuple[Fraction, ...]
    atoms: tuple[AtomSpec, ...]
    nodes: tuple[Node, ...]


def network_sha256(layers: Sequence[tuple[np.ndarray, np.ndarray]], activations: Sequence[str] = ()) -> str:
    """SHA-256 over the float64 little-endian row-major bytes of ``W_1, b_1, W_2, b_2, …``, followed,
    when some hidden layer is not a ReLU layer, by the ASCII bytes ``activations:`` and the comma-separated
    activation names (a ReLU network's hash does not depend on how its activations are spelled)."""
    h = hashlib.sha256()
    for w, b in layers:
        h.update(np.ascontiguousarray(w, dtype="<f8").tobytes())
        h.update(np.ascontiguousarray(b, dtype="<f8").tobytes())
    if any(a != "relu" for a in activations):
        h.update(("activations:" + ",".join(activations)).encode("ascii"))
    return h.hexdigest()


@dataclass(frozen=True, eq=False)
class ProofTree:
    """A network, its input shape and one :class:`DisjunctProof` per disjunct of the property.

    ``layers`` are the affine maps ``(W_k, b_k)`` (float64, taken as exact binary64 values), with an
    activation after every layer but the last: ReLU, or ``activations[k]`` (one of :data:`ACTIVATIONS` per
    hidden layer; normalised to ``()`` when every one is ``"relu"``).  ``semantics`` is ``"real"`` (exact real arithmetic) or
    ``"float32"`` (every IEEE binary32 execution, any summation order); ``intermediate`` names the
    bound method for pre-activation bounds (``"crown"`` or ``"forward"``).
    """

    layers: tuple[tuple[np.ndarray, np.ndarray], ...]
    input_shape: tuple[int, ...]
    disjuncts: tuple[DisjunctProof, ...]
    semantics: str = "real"
    intermediate: str = "crown"
    meta: Mapping[str, str] = field(default_factory=dict)
    activations: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        layers = tuple(
            (np.array(w, dtype=np.float64, copy=True), np.array(b, dtype=np.float64, copy=True).reshape(-1))
            for w, b in self.layers
        )
        object.__setattr__(self, "layers", layers)
        object.__setattr__(self, "input_shape", tuple(int(s) for s in self.input_shape))
        object.__setattr__(self, "disjuncts", tuple(self.disjuncts))
        object.__setattr__(self, "meta", dict(self.meta))
        acts = tuple(str(a) for a in self.activations)
        if acts and (len(acts) != len(layers) - 1 or any(a not in ACTIVATIONS for a in acts)):
            raise CertificateFormatError(
                f"proof tree: activations {list(acts)} must name one of {ACTIVATIONS} for each of the "
                f"{len(layers) - 1} hidden layers"
            )
        object.__setattr__(self, "activations", acts if any(a != "relu" for a in acts) else ())

    @property
    def hidden_activations(self) -> tuple[str, ...]:
        """The activation of every hidden layer (``"relu"`` where the file names none)."""
        return self.activations or ("relu",) * (len(self.layers) - 1)

    @property
    def network_sha256(self) -> str:
        """The hash the file records for its network (see :func:`network_sha256`)."""
        return network_sha256(self.layers, self.activations)

    # ---------------------------------------------------------------- writing
    def to_dict(self) -> dict[str, Any]:
        """The JSON object (see ``docs/proof-trees.md``)."""
        layers = []
        for w, b in self.layers:
            if w.ndim != 2:
                raise CertificateFormatError(f"proof tree: weight of shape {w.shape} is not a matrix")
            layers.append({
                "rows": int(w.shape[0]), "cols": int(w.shape[1]),
                "weight": base64.b64encode(np.ascontiguousarray(w, dtype="<f8").tobytes()).decode(),
                "bias": base64.b64encode(np.ascontiguousarray(b, dtype="<f8").tobytes()).decode(),
            })
        network: dict[str, Any] = {"input_shape": list(self.input_shape), "layers": layers,
                                   "sha256": self.network_sha256}
        if self.activations:
            network["activations"] = list(self.activations)
        v2 = bool(self.activations) or any(nd[0] in ("b", "c") for d in self.disjuncts for nd in d.nodes)
        return {
            "format": PROOF_TREE_FORMAT,
            "version": 2 if v2 else 1,
            "semantics": self.semantics,
            "intermediate": self.intermediate,
            "network": network,
            "disjuncts": [_disjunct_to_dict(d) for d in self.disjuncts],
            "meta": {str(k): str(v) for k, v in self.meta.items()},
        }

    def to_json(self) -> str:
        """Canonical JSON: sorted keys, no whitespace, no NaN; same tree, same bytes."""
        return json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"), allow_nan=False) + "\n"

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write :meth:`to_json` to ``path``."""
        with open(path, "w", encoding="ascii", newline="\n") as fh:
            fh.write(self.to_json())

    # ---------------------------------------------------------------- reading
    @classmethod
    def from_json(cls, text: str | bytes, *, limits: TreeLimits = DEFAULT_TREE_LIMITS) -> ProofTree:
        """Parse a proof-tree file's text; raises :class:`CertificateFormatError` naming the field."""
        if len(text) > limits.max_file_bytes:
            raise CertificateFormatError(
                f"proof tree: {len(text)} bytes is over the limit of {limits.max_file_bytes}; "
                "raise TreeLimits.max_file_bytes if the file is trusted to be this large"
            )
        try:
            data = json.loads(text, parse_constant=_no_constant)
        except (ValueError, RecursionError) as e:
            raise CertificateFormatError(f"proof tree: not valid JSON ({e})") from e
        return cls.from_dict(data, limits=limits)

    @classmethod
    def load(cls, path: str | os.PathLike[str], *, limits: TreeLimits = DEFAULT_TREE_LIMITS) -> ProofTree:
        """Read a proof-tree file (size checked before reading)."""
        try:
            size = os.path.getsize(path)
            if size > limits.max_file_bytes:
                raise CertificateFormatError(
                    f"{path}: {size} bytes is over the limit of {limits.max_file_bytes}; raise "
                    "TreeLimits.max_file_bytes if the file is trusted to be this large"
                )
            with open(path, "rb") as fh:
                raw = fh.read()
        except OSError as e:
            raise CertificateFormatError(f"{path}: cannot read the proof tree ({e})") from e
        try:
            return cls.from_json(raw, limits=limits)
        except CertificateFormatError as e:
            raise CertificateFormatError(f"{path}: {e}") from e

    @classmethod
    def from_dict(cls, data: Any, *, limits: TreeLimits = DEFAULT_TREE_LIMITS) -> ProofTree:
        """Build from the parsed JSON object, checking every field (see :meth:`from_json`)."""
        d = _obj(data, _TOP_KEYS, "proof tree")
        if d["format"] != PROOF_TREE_FORMAT:
            raise CertificateFormatError(f"proof tree: unknown format {d['format']!r}; expected {PROOF_TREE_FORMAT!r}")
        if type(d["version"]) is not int or d["version"] not in READ_VERSIONS:
            raise CertificateFormatError(
                f"proof tree: unsupported version {d['version']!r}; this reader knows versions {READ_VERSIONS}"
            )
        if d["semantics"] not in SEMANTICS:
            raise CertificateFormatError(f"proof tree: semantics {d['semantics']!r} is not one of {SEMANTICS}")
        if d["intermediate"] not in INTERMEDIATE_METHODS:
            raise CertificateFormatError(
                f"proof tree: intermediate {d['intermediate']!r} is not one of {INTERMEDIATE_METHODS}"
            )
        meta = d["meta"]
        if not isinstance(meta, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in meta.items()):
            raise CertificateFormatError("proof tree: meta must map strings to strings")
        layers, input_shape, acts = _network_from_dict(d["network"], limits, d["version"])
        n_in = layers[0][0].shape[1]
        n_out = layers[-1][0].shape[0]
        disj = d["disjuncts"]
        if not isinstance(disj, list) or not disj:
            raise CertificateFormatError("proof tree: disjuncts must be a non-empty list")
        total = sum(len(x.get("nodes", ())) if isinstance(x, dict) else 0 for x in disj)
        if total > limits.max_nodes:
            raise CertificateFormatError(
                f"proof tree: {total} nodes is over the limit of {limits.max_nodes}; raise TreeLimits.max_nodes"
            )
        disjuncts = tuple(_disjunct_from_dict(x, i, n_in, n_out, limits, d["version"]) for i, x in enumerate(disj))
        return cls(layers, input_shape, disjuncts, d["semantics"], d["intermediate"], meta, acts)


# -------------------------------------------------------------------- helpers: writing
def _rat(q: Fraction | int) -> str:
    q = Fraction(q)
    return str(q.numerator) if q.denominator == 1 else f"{q.numerator}/{q.denominator}"


def _disjunct_to_dict(d: DisjunctProof) -> dict[str, Any]:
    nodes: list[list[Any]] = []
    for nd in d.nodes:
        if nd[0] == "s":
            nodes.append(["s", int(nd[1]), float(nd[2]).hex()])  # type: ignore[arg-type]
        elif nd[0] == "r":
            nodes.append(["r", int(nd[1]), int(nd[2])])  # type: ignore[arg-type]
        elif nd[0] == "l":
            lam = [float(v).hex() for v in nd[1]]  # type: ignore[union-attr]
            alpha = None if nd[2] is None else base64.b64encode(bytes(nd[2])).decode()  # type: ignore[arg-type]
            nodes.append(["l", lam, alpha])
        elif nd[0] == "c":
            lam = [float(v).hex() for v in nd[1]]  # type: ignore[union-attr]
            nodes.append(["c", lam, nd[2].to_json().decode("ascii")])  # type: ignore[union-attr]
        elif nd[0] == "b":
            lam = [float(v).hex() for v in nd[1]]  # type: ignore[union-attr]
            codes, beta = nd[2]  # type: ignore[misc]
            nodes.append(["b", lam, [None if codes is None else base64.b64encode(bytes(codes)).decode(),
                                     base64.b64encode(bytes(beta)).decode()]])
        else:
            raise CertificateFormatError(f"proof tree: unknown node kind {nd[0]!r}; use 's', 'r', 'l' or 'c'")
    return {
        "lo": [_rat(v) for v in d.lo],
        "hi": [_rat(v) for v in d.hi],
        "atoms": [{"x": [[int(i), _rat(c)] for i, c in a.x], "y": [[int(j), _rat(c)] for j, c in a.y],
                   "const": _rat(a.const), "strict": bool(a.strict)} for a in d.atoms],
        "nodes": nodes,
    }


# -------------------------------------------------------------------- helpers: reading
def _no_constant(name: str) -> Any:
    raise CertificateFormatError(f"proof tree: {name} is not allowed (no NaN or Infinity in a proof)")


def _obj(v: Any, keys: set[str], where: str) -> dict[str, Any]:
    if not isinstance(v, dict):
        raise CertificateFormatError(f"{where}: expected a JSON object")
    unknown = set(v) - keys
    if unknown:
        raise CertificateFormatError(f"{where}: unknown field {sorted(unknown)[0]!r}; allowed: {sorted(keys)}")
    missing = keys - set(v)
    if missing:
        raise CertificateFormatError(f"{where}: missing field {sorted(missing)[0]!r}")
    return v


def _int(v: Any, where: str, lo: int = 0, hi: int | None = None) -> int:
    if type(v) is not int or v < lo or (hi is not None and v >= hi):
        rng = f"[{lo}, {hi})" if hi is not None else f">= {lo}"
        raise CertificateFormatError(f"{where}: expected an integer in {rng}, got {v!r}")
    return v


def _parse_rational(v: Any, where: str, limits: TreeLimits) -> Fraction:
    if not isinstance(v, str) or len(v) > limits.max_digits or not _RATIONAL.match(v):
        raise CertificateFormatError(
            f"{where}: expected an exact rational written 'p' or 'p/q' (at most {limits.max_digits} characters), "
            f"got {v!r:.60}"
        )
    if "/" in v and int(v.split("/")[1]) == 0:
        raise CertificateFormatError(f"{where}: zero denominator in {v!r}")
    return Fraction(v)


def _parse_hex_float(v: Any, where: str) -> float:
    if not isinstance(v, str) or len(v) > 64:
        raise CertificateFormatError(f"{where}: expected a float64 written with float.hex, got {v!r:.60}")
    try:
        f = float.fromhex(v)
    except (ValueError, OverflowError) as e:
        raise CertificateFormatError(f"{where}: {v!r} is not a float.hex value") from e
    if not math.isfinite(f):
        raise CertificateFormatError(f"{where}: {v!r} is not finite (NaN and infinities are never accepted)")
    return f


def _b64_floats(s: Any, count: int, where: str) -> np.ndarray:
    expected = 4 * ((8 * count + 2) // 3)
    if not isinstance(s, str) or len(s) != expected:
        got = len(s) if isinstance(s, str) else type(s).__name__
        raise CertificateFormatError(
            f"{where}: base64 of {count} float64 values must have length {expected}, got {got}"
        )
    try:
        raw = base64.b64decode(s, validate=True)
    except (binascii.Error, ValueError) as e:
        raise CertificateFormatError(f"{where}: not valid base64 ({e})") from e
    if len(raw) != 8 * count:
        raise CertificateFormatError(f"{where}: decodes to {len(raw)} bytes, expected {8 * count}")
    arr = np.frombuffer(raw, dtype="<f8").astype(np.float64)
    if not np.all(np.isfinite(arr)):
        raise CertificateFormatError(f"{where}: contains NaN or an infinity; weights must be finite")
    return arr


def _network_from_dict(v: Any, limits: TreeLimits, version: int = PROOF_TREE_VERSION
                       ) -> tuple[tuple[tuple[np.ndarray, np.ndarray], ...], tuple[int, ...], tuple[str, ...]]:
    acts_raw: Any = None
    if isinstance(v, dict) and "activations" in v:
        if version < 2:
            raise CertificateFormatError("proof tree: network.activations needs a version 2 file (a version 1 "
                                         "file describes a ReLU network)")
        v = dict(v)
        acts_raw = v.pop("activations")
    net = _obj(v, _NET_KEYS, "proof tree: network")
    shape = net["input_shape"]
    if not isinstance(shape, list) or len(shape) > 16:
        raise CertificateFormatError("proof tree: network.input_shape must be a list of at most 16 integers")
    shp = tuple(_int(s, "proof tree: network.input_shape", 1) for s in shape)
    lays = net["layers"]
    if not isinstance(lays, list) or not 1 <= len(lays) <= limits.max_layers:
        raise CertificateFormatError(f"proof tree: network.layers must be a list of 1 to {limits.max_layers} layers")
    dims: list[tuple[int, int]] = []
    params = 0
    for k, ly in enumerate(lays):
        where = f"proof tree: network.layers[{k}]"
        ly = _obj(ly, _LAYER_KEYS, where)
        r = _int(ly["rows"], f"{where}.rows", 1)
        c = _int(ly["cols"], f"{where}.cols", 1)
        if dims and c != dims[-1][0]:
            raise CertificateFormatError(f"{where}: cols {c} does not match the previous layer's rows {dims[-1][0]}")
        dims.append((r, c))
        params += r * c + r
    if params > limits.max_parameters:
        raise CertificateFormatError(
            f"proof tree: {params} network parameters is over the limit of {limits.max_parameters}; "
            "raise TreeLimits.max_parameters"
        )
    if math.prod(shp) != dims[0][1]:
        raise CertificateFormatError(
            f"proof tree: network.input_shape {list(shp)} has {math.prod(shp)} entries but layer 0 has {dims[0][1]} columns"
        )
    layers = []
    for k, ((r, c), ly) in enumerate(zip(dims, lays, strict=True)):
        where = f"proof tree: network.layers[{k}]"
        w = _b64_floats(ly["weight"], r * c, f"{where}.weight").reshape(r, c)
        b = _b64_floats(ly["bias"], r, f"{where}.bias")
        layers.append((w, b))
    out = tuple(layers)
    acts: tuple[str, ...] = ()
    if acts_raw is not None:
        if (not isinstance(acts_raw, list) or len(acts_raw) != len(out) - 1
                or not all(isinstance(a, str) and a in ACTIVATIONS for a in acts_raw)):
            raise CertificateFormatError(
                f"proof tree: network.activations must be a list of {len(out) - 1} names from {ACTIVATIONS} "
                "(one per hidden layer)")
        acts = tuple(acts_raw)
    sha = net["sha256"]
    if not isinstance(sha, str) or sha != network_sha256(out, acts):
        raise CertificateFormatError(
            "proof tree: network.sha256 does not match the weights, biases and activations (the network was "
            "changed or the hash is wrong)"
        )
    return out, shp, acts


def _disjunct_from_dict(v: Any, idx: int, n_in: int, n_out: int, limits: TreeLimits,
                        version: int = PROOF_TREE_VERSION) -> DisjunctProof:
    where = f"proof tree: disjuncts[{idx}]"
    d = _obj(v, _DISJ_KEYS, where)
    for key in ("lo", "hi"):
        if not isinstance(d[key], list) or len(d[key]) != n_in:
            raise CertificateFormatError(f"{where}.{key}: expected {n_in} rationals (one per network input)")
    lo = tuple(_parse_rational(q, f"{where}.lo[{i}]", limits) for i, q in enumerate(d["lo"]))
    hi = tuple(_parse_rational(q, f"{where}.hi[{i}]", limits) for i, q in enumerate(d["hi"]))
    if not isinstance(d["atoms"], list):
        raise CertificateFormatError(f"{where}.atoms: expected a list")
    atoms = []
    for a_i, a in enumerate(d["atoms"]):
        aw = f"{where}.atoms[{a_i}]"
        a = _obj(a, _ATOM_KEYS, aw)
        terms = []
        for key, n in (("x", n_in), ("y", n_out)):
            if not isinstance(a[key], list) or len(a[key]) > n:
                raise CertificateFormatError(f"{aw}.{key}: expected a list of at most {n} [index, rational] pairs")
            tt = []
            for t_i, t in enumerate(a[key]):
                if not isinstance(t, list) or len(t) != 2:
                    raise CertificateFormatError(f"{aw}.{key}[{t_i}]: expected [index, rational]")
                tt.append((_int(t[0], f"{aw}.{key}[{t_i}]", 0, n), _parse_rational(t[1], f"{aw}.{key}[{t_i}]", limits)))
            terms.append(tuple(tt))
        if not isinstance(a["strict"], bool):
            raise CertificateFormatError(f"{aw}.strict: expected true or false")
        atoms.append(AtomSpec(terms[0], terms[1], _parse_rational(a["const"], f"{aw}.const", limits), a["strict"]))
    if not isinstance(d["nodes"], list):
        raise CertificateFormatError(f"{where}.nodes: expected a list")
    nodes: list[Node] = []
    for n_i, nd in enumerate(d["nodes"]):
        nw = f"{where}.nodes[{n_i}]"
        kinds = ("s", "r", "l", "b", "c") if version >= 2 else ("s", "r", "l")
        if not isinstance(nd, list) or len(nd) != 3 or nd[0] not in kinds:
            raise CertificateFormatError(
                f"{nw}: expected ['s', i, v], ['r', k, j], ['l', lambdas, alpha]"
                + (", ['b', lambdas, [alpha, beta]] or ['c', lambdas, certificate]" if version >= 2 else ""))
        if nd[0] == "s":
            nodes.append(("s", _int(nd[1], f"{nw} input index"), _parse_hex_float(nd[2], f"{nw} split value")))
        elif nd[0] == "r":
            nodes.append(("r", _int(nd[1], f"{nw} layer index"), _int(nd[2], f"{nw} neuron index")))
        elif nd[0] == "c":
            nodes.append(_rung_leaf_from_list(nd, nw, len(atoms), limits))
        elif nd[0] == "b":
            nodes.append(_beta_leaf_from_list(nd, nw, len(atoms), limits))
        else:
            if not isinstance(nd[1], list) or len(nd[1]) != len(atoms):
                raise CertificateFormatError(f"{nw}: expected {len(atoms)} lambdas (one per atom)")
            lam = tuple(_parse_hex_float(x, f"{nw} lambda") for x in nd[1])
            alpha: bytes | None = None
            if nd[2] is not None:
                if not isinstance(nd[2], str) or len(nd[2]) > 4 * limits.max_parameters:
                    raise CertificateFormatError(f"{nw}: alpha must be null or a base64 string")
                try:
                    alpha = base64.b64decode(nd[2], validate=True)
                except (binascii.Error, ValueError) as e:
                    raise CertificateFormatError(f"{nw}: alpha is not valid base64 ({e})") from e
            nodes.append(("l", lam, alpha))
    return DisjunctProof(lo, hi, tuple(atoms), tuple(nodes))


def _rung_leaf_from_list(nd: list[Any], nw: str, n_atoms: int, limits: TreeLimits) -> Node:
    if not isinstance(nd[1], list) or len(nd[1]) != n_atoms:
        raise CertificateFormatError(f"{nw}: expected {n_atoms} lambdas (one per atom)")
    lam = tuple(_parse_hex_float(x, f"{nw} lambda") for x in nd[1])
    if not isinstance(nd[2], str) or len(nd[2]) > limits.max_file_bytes:
        raise CertificateFormatError(f"{nw}: the rung leaf's certificate must be a JSON string")
    try:
        cert = Certificate.from_json(nd[2])
    except CertificateFormatError as e:
        raise CertificateFormatError(f"{nw}: rung certificate: {e}") from e
    return ("c", lam, cert)


def _b64_bytes(v: Any, where: str, limit: int) -> bytes:
    if not isinstance(v, str) or len(v) > limit:
        raise CertificateFormatError(f"{where}: expected a base64 string")
    try:
        return base64.b64decode(v, validate=True)
    except (binascii.Error, ValueError) as e:
        raise CertificateFormatError(f"{where}: not valid base64 ({e})") from e


def _beta_leaf_from_list(nd: list[Any], nw: str, n_atoms: int, limits: TreeLimits) -> Node:
    if not isinstance(nd[1], list) or len(nd[1]) != n_atoms:
        raise CertificateFormatError(f"{nw}: expected {n_atoms} lambdas (one per atom)")
    lam = tuple(_parse_hex_float(x, f"{nw} lambda") for x in nd[1])
    if not isinstance(nd[2], list) or len(nd[2]) != 2:
        raise CertificateFormatError(f"{nw}: expected [alpha, beta] (alpha may be null)")
    alpha = None if nd[2][0] is None else _b64_bytes(nd[2][0], f"{nw}: alpha", 4 * limits.max_parameters)
    beta = _b64_bytes(nd[2][1], f"{nw}: beta", 16 * limits.max_parameters)
    if len(beta) % 8:
        raise CertificateFormatError(f"{nw}: beta must be float64 values (a multiple of 8 bytes)")
    return ("b", lam, (alpha, beta))

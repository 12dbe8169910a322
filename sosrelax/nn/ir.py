"""The network IR: a feed-forward network as alternating affine maps and elementwise activations.

A :class:`Network` computes

.. math::

    z_1 = W_1 x + b_1,\\quad y_k = \\phi_k(z_k),\\quad z_{k+1} = W_{k+1} y_k + b_{k+1},
    \\quad f(x) = z_L,

with an activation after every affine layer except the last: ``relu`` (:math:`\\max(z, 0)`, the
default), ``sigmoid`` (:math:`1/(1+e^{-z})`), ``tanh``, or one of the piecewise-constant :data:`STEPS`
(``sign``, ``step`` :math:`[z > 0]`, ``eq`` :math:`[z = 0]`), one kind per hidden layer; optionally a softmax
of the last layer, :math:`f(x)_i = e^{z_{L,i}} / \\sum_k e^{z_{L,k}}` (``output_softmax``; the logits
:math:`z_L` are then the last of :meth:`Network.activations`).  Weights are float64 arrays whose values are
taken exactly (an ONNX float32 weight converts to float64 without rounding), so that
:meth:`Network.forward_exact` evaluates the very network a certificate speaks about in rational
arithmetic.  Loaders build a :class:`Network` from a list of :class:`Affine` and :class:`ReLU`
operations with :func:`from_operations`, which merges consecutive affine maps (exactly when the
product is computed in rationals, see ``exact_merge``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from sosrelax.errors import InvalidValueError

__all__ = ["ACTIVATIONS", "STEPS", "Activation", "Affine", "Network", "ReLU", "activate", "from_operations",
           "from_weights"]

#: Piecewise-constant activations: ``sign`` (-1, 0, 1), ``step`` (1 where ``z > 0``, else 0) and ``eq`` (1
#: where ``z = 0``, else 0); the ONNX ``Sign``, comparisons with a constant and ``Where`` are made of them.
STEPS = ("sign", "step", "eq")
#: The activations a hidden layer may have.
ACTIVATIONS = ("relu", "sigmoid", "tanh", *STEPS)


def activate(kind: str, z: np.ndarray) -> np.ndarray:
    """The activation ``kind`` (one of :data:`ACTIVATIONS`) applied elementwise to ``z`` (float64)."""
    if kind == "relu":
        return np.maximum(z, 0.0)
    if kind == "sigmoid":
        with np.errstate(over="ignore"):
            return 1.0 / (1.0 + np.exp(-z))
    if kind == "tanh":
        return np.tanh(z)
    if kind == "sign":
        return np.sign(z)
    if kind == "step":
        return (z > 0).astype(np.float64)
    if kind == "eq":
        return (z == 0).astype(np.float64)
    raise InvalidValueError(f"unknown activation {kind!r}; choose from {ACTIVATIONS}")


@dataclass(frozen=True)
class Affine:
    """The affine map ``x -> W x + b`` (``W`` of shape ``(out, in)``)."""

    weight: np.ndarray
    bias: np.ndarray
    name: str = ""


@dataclass(frozen=True)
class ReLU:
    """The elementwise ``max(x, 0)``."""

    name: str = ""


@dataclass(frozen=True)
class Activation:
    """An elementwise activation other than ReLU (its own operation): ``kind`` ``"sigmoid"``, ``"tanh"`` or
    one of :data:`STEPS`."""

    kind: str
    name: str = ""


@dataclass(frozen=True, eq=False)
class Network:
    """A network ``f = A_L ∘ φ_{L-1} ∘ A_{L-1} ∘ … ∘ φ_1 ∘ A_1`` (ReLU activations unless told otherwise).

    Attributes
    ----------
    weights : tuple of ndarray
        ``W_k`` of shape ``(n_k, n_{k-1})``, float64.
    biases : tuple of ndarray
        ``b_k`` of shape ``(n_k,)``, float64.
    input_shape : tuple of int
        The shape the model's input had (flattened row-major into ``x``).
    name : str
        Informational.
    tensor_names : tuple of (str, str, int)
        Names of the source model's tensors that are layer quantities: ``(name, stage, layer)`` with
        stage ``"pre"`` (the pre-activation ``z_{layer+1}``) or ``"post"`` (its ReLU); filled by the
        ONNX loader, used to bind VNN-LIB hidden-node declarations.
    float32_layers : bool
        Set by the ONNX loader when the model's weights are float32 and each layer of the IR is one
        matrix product plus at most one bias addition of the model (no merged operators), so that a
        float32 execution of the model rounds exactly as the ``float32`` proof semantics assumes.
    hidden_activations : tuple of str
        The activation of each hidden layer, from :data:`ACTIVATIONS`; ``()`` (the default) means ReLU
        everywhere.  Normalised to one entry per hidden layer.
    output_softmax : bool
        The outputs are the softmax of the last layer (ONNX ``Softmax`` over every output, opset-13
        semantics); :meth:`logits` is the network without it.
    """

    weights: tuple[np.ndarray, ...]
    biases: tuple[np.ndarray, ...]
    input_shape: tuple[int, ...] = ()
    name: str = ""
    tensor_names: tuple[tuple[str, str, int], ...] = ()
    float32_layers: bool = False
    hidden_activations: tuple[str, ...] = ()
    output_softmax: bool = False

    def __post_init__(self) -> None:
        ws = tuple(np.array(w, dtype=np.float64, copy=True) for w in self.weights)
        bs = tuple(np.array(b, dtype=np.float64, copy=True).reshape(-1) for b in self.biases)
        if not ws or len(ws) != len(bs):
            raise InvalidValueError(
                f"a network needs as many biases as weight matrices and at least one layer, got "
                f"{len(ws)} weights and {len(bs)} biases"
            )
        for k, (w, b) in enumerate(zip(ws, bs, strict=True)):
            if w.ndim != 2 or w.shape[0] != b.shape[0]:
                raise InvalidValueError(
                    f"layer {k}: weight of shape {w.shape} does not match bias of length {b.shape[0]}"
                )
            if k and w.shape[1] != ws[k - 1].shape[0]:
                raise InvalidValueError(
                    f"layer {k}: takes {w.shape[1]} inputs but layer {k - 1} has {ws[k - 1].shape[0]} "
                    "outputs"
                )
            if not (np.all(np.isfinite(w)) and np.all(np.isfinite(b))):
                raise InvalidValueError(f"layer {k}: weights or biases are not finite")
            w.setflags(write=False)
            b.setflags(write=False)
        object.__setattr__(self, "weights", ws)
        object.__setattr__(self, "biases", bs)
        shape = tuple(int(s) for s in self.input_shape) or (ws[0].shape[1],)
        if int(np.prod(shape)) != ws[0].shape[1]:
            raise InvalidValueError(
                f"input shape {shape} has {int(np.prod(shape))} entries but the first layer takes "
                f"{ws[0].shape[1]}"
            )
        object.__setattr__(self, "input_shape", shape)
        acts = tuple(str(a) for a in self.hidden_activations) or ("relu",) * (len(ws) - 1)
        if len(acts) != len(ws) - 1 or any(a not in ACTIVATIONS for a in acts):
            raise InvalidValueError(
                f"hidden_activations {acts} must name one of {ACTIVATIONS} for each of the {len(ws) - 1} "
                "hidden layers"
            )
        object.__setattr__(self, "hidden_activations", acts)
        if self.output_softmax and ws[-1].shape[0] < 2:
            raise InvalidValueError("a softmax output needs at least two outputs (over one it is the constant 1)")

    def logits(self) -> Network:
        """The same network without the output softmax (itself when it has none)."""
        if not self.output_softmax:
            return self
        from dataclasses import replace

        return replace(self, output_softmax=False)

    def require_logits(self, what: str) -> None:
        """Refuse a network with an output softmax where ``what`` works on the last affine layer's values:
        a result about the logits must never be reported as one about the probabilities."""
        if self.output_softmax:
            raise InvalidValueError(f"{self!r} ends with a softmax; {what} works on the logits (use "
                                    "sosrelax.nn.verify, which decides softmax properties over the logits, or "
                                    "pass net.logits() for a claim about the logits)")

    @property
    def all_relu(self) -> bool:
        """Whether every hidden layer is a ReLU layer (the networks exact rational evaluation exists for)."""
        return all(a == "relu" for a in self.hidden_activations)

    # sizes -------------------------------------------------------------------------------
    @property
    def n_inputs(self) -> int:
        """Length of the flattened input ``x``."""
        return int(self.weights[0].shape[1])

    @property
    def n_outputs(self) -> int:
        """Length of the output ``f(x)``."""
        return int(self.weights[-1].shape[0])

    @property
    def hidden_sizes(self) -> tuple[int, ...]:
        """Number of neurons (activations) of each hidden layer."""
        return tuple(int(w.shape[0]) for w in self.weights[:-1])

    @property
    def n_relus(self) -> int:
        """Total number of hidden neurons (ReLUs in a ReLU network)."""
        return int(sum(self.hidden_sizes))

    # evaluation ----------------------------------------------------------------------------
    def forward(self, x: np.ndarray) -> np.ndarray:
        """Outputs for one input ``(n_inputs,)`` or a batch ``(m, n_inputs)`` (float64)."""
        z = self.activations(x)[-1]
        if not self.output_softmax:
            return z
        e = np.exp(z - np.max(z, axis=-1, keepdims=True))
        return e / np.sum(e, axis=-1, keepdims=True)

    def activations(self, x: np.ndarray) -> list[np.ndarray]:
        """``[z_1, …, z_L]``: every layer's pre-activation (the last one is the output, or the logits of
        the output softmax)."""
        a = np.asarray(x, dtype=np.float64)
        single = a.ndim == 1
        a = a.reshape(1, -1) if single else a.reshape(a.shape[0], -1)
        if a.shape[1] != self.n_inputs:
            raise InvalidValueError(
                f"the network takes {self.n_inputs} inputs, got {a.shape[1]}"
            )
        out: list[np.ndarray] = []
        for k, (w, b) in enumerate(zip(self.weights, self.biases, strict=True)):
            z = a @ w.T + b
            out.append(z[0] if single else z)
            if k < len(self.hidden_activations):
                a = activate(self.hidden_activations[k], z)
        return out

    def forward_exact(self, x: Sequence[Fraction | float | int]) -> list[Fraction]:
        """The output in exact rational arithmetic (weights taken as the exact float64 values; ReLU
        networks without an output softmax, whose values are irrational)."""
        if self.output_softmax:
            raise InvalidValueError(f"{self!r}: a softmax output has no exact rational value; evaluate it with "
                                    "rigorous intervals (sosrelax.nn.witness.interval_forward)")
        return self.activations_exact(x)[-1]

    def activations_exact(self, x: Sequence[Fraction | float | int]) -> list[list[Fraction]]:
        """Exact ``[z_1, …, z_L]`` at the rational point ``x`` (ReLU networks only: a sigmoid or tanh value
        at a rational point is irrational, see :func:`sosrelax.nn.witness.confirm_counterexample`; the
        steps are evaluated there in ball arithmetic too)."""
        if not self.all_relu:
            raise InvalidValueError(
                f"{self!r}: the exact forward pass needs ReLU activations, this network has "
                f"{sorted(set(self.hidden_activations) - {'relu'})}; evaluate it with rigorous intervals "
                "(sosrelax.nn.witness.interval_forward)"
            )
        a = [Fraction(v) for v in x]
        if len(a) != self.n_inputs:
            raise InvalidValueError(f"the network takes {self.n_inputs} inputs, got {len(a)}")
        out: list[list[Fraction]] = []
        for w, b in zip(self.weights, self.biases, strict=True):
            rows = _fraction_rows(w)
            bias = [Fraction(float(v)) for v in b]
            z = [sum((c * v for c, v in zip(row, a, strict=True) if c), bias[i])
                 for i, row in enumerate(rows)]
            out.append(z)
            a = [v if v > 0 else Fraction(0) for v in z]
        return out

    def __repr__(self) -> str:
        sizes = "-".join(str(s) for s in (self.n_inputs, *self.hidden_sizes, self.n_outputs))
        kinds = sorted(set(self.hidden_activations) - {"relu"})
        units = "ReLUs" if not kinds else "/".join(kinds) + " neurons"
        soft = ", softmax output" if self.output_softmax else ""
        return f"Network({sizes}, {self.n_relus} {units}{soft}{', ' + self.name if self.name else ''})"


def _fraction_rows(w: np.ndarray) -> list[list[Fraction]]:
    return [[Fraction(float(v)) if v else Fraction(0) for v in row] for row in w]


def from_weights(
    weights: Sequence[np.ndarray], biases: Sequence[np.ndarray] | None = None, *, name: str = "",
    activations: Sequence[str] = (),
) -> Network:
    """A network from numpy weight lists (an activation between consecutive layers, none after the last;
    ``activations`` names each hidden layer's, ReLU by default)."""
    ws = [np.asarray(w, dtype=np.float64) for w in weights]
    bs = [np.zeros(w.shape[0]) for w in ws] if biases is None else [np.asarray(b) for b in biases]
    return Network(tuple(ws), tuple(bs), name=name, hidden_activations=tuple(activations))


def from_operations(
    ops: Sequence[Affine | ReLU | Activation], n_inputs: int, *, input_shape: Sequence[int] = (),
    name: str = "",
) -> Network:
    """Normalise a chain of affine maps and activations into a :class:`Network`.

    Consecutive affine maps are multiplied out (``W2 (W1 x + b1) + b2``); a repeated ReLU is
    idempotent; a chain that starts with an activation gets an identity layer in front, one that ends
    with an activation gets an identity layer behind, and two consecutive activations other than a
    repeated ReLU get an identity layer between them.

    The product of two float64 matrices is not exact in general; products are computed in float64
    and the merged network is the one every later step (forward pass, encoding, certificate)
    speaks about.  Loaders cross-check it against the original model (onnxruntime).
    """
    w = np.eye(n_inputs)
    b = np.zeros(n_inputs)
    pending = True  # an affine map (w, b) waits to be emitted
    identity = True
    weights: list[np.ndarray] = []
    biases: list[np.ndarray] = []
    kinds: list[str] = []
    last: str | None = None  # the activation just emitted, if the previous operation was one
    for op in ops:
        if isinstance(op, Affine):
            wk = np.asarray(op.weight, dtype=np.float64)
            if wk.shape[1] != w.shape[0]:
                raise InvalidValueError(
                    f"operation {op.name or '?'}: takes {wk.shape[1]} inputs but receives {w.shape[0]}"
                )
            if identity:
                w, b = wk.copy(), np.asarray(op.bias, dtype=np.float64).copy()
            else:
                w, b = wk @ w, wk @ b + np.asarray(op.bias, dtype=np.float64)
            identity = False
            pending = True
            last = None
        elif isinstance(op, (ReLU, Activation)):
            kind = "relu" if isinstance(op, ReLU) else op.kind
            if kind not in ACTIVATIONS:
                raise InvalidValueError(f"operation {op.name or '?'}: unknown activation {kind!r}")
            if last == "relu" and kind == "relu":
                continue
            weights.append(w)
            biases.append(b)
            kinds.append(kind)
            w, b = np.eye(w.shape[0]), np.zeros(w.shape[0])
            identity = True
            pending = True
            last = kind
        else:
            raise InvalidValueError(f"unsupported operation {type(op).__name__}")
    if pending:
        weights.append(w)
        biases.append(b)
    return Network(tuple(weights), tuple(biases), input_shape=tuple(input_shape), name=name,
                   hidden_activations=tuple(kinds))

"""Several networks side by side: the one network a VNN-LIB 2.0 property over several networks
speaks about.

For networks ``f_1, …, f_k`` declared by a property (:class:`~sosrelax.nn.vnnlib_common.NetworkDecl`),
the combined network maps the property's input vector ``X`` to ``Y = (f_1(X_{I_1}), …, f_k(X_{I_k}))``,
where ``I_j`` are the positions of network ``j``'s inputs in ``X`` (shared where the property equates
inputs).  Its layers are block diagonal; a shallower network's outputs are carried to the common
depth as ``v = relu(v) - relu(-v)``.  The weights are the networks' own, copied exactly, so comparisons
between outputs of different networks are linear atoms over one ReLU network that the search and the
rungs decide.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

import numpy as np

from sosrelax.errors import InvalidValueError, ParseError
from sosrelax.nn.ir import Network
from sosrelax.nn.lower.builder import BatchFn, Builder
from sosrelax.nn.vnnlib_common import Property

__all__ = ["combine_networks"]


def combine_networks(prop: Property, models: Mapping[str, str | os.PathLike[str] | Network]) -> Network:
    """The combined network of the networks ``prop`` declares (see the module docstring).

    Parameters
    ----------
    prop : Property
        Read from VNN-LIB 2.0 (:func:`~sosrelax.nn.vnnlib2.read_vnnlib2`), with its ``networks``.
    models : mapping
        Declared network name -> ONNX file (loaded and cross-checked by
        :func:`~sosrelax.nn.onnx_loader.load_onnx_graph`) or a :class:`Network` whose input and
        output are the concatenations of the declared tensors.  A network declared ``equal-to``
        another may be left out: it is the other's model.

    Raises
    ------
    ParseError
        A declared network without a model, a model whose inputs or outputs do not match the
        declaration, or an ``isomorphic-to`` network of another architecture.
    """
    if not prop.networks:
        raise InvalidValueError(f"{prop.source}: the property declares no networks (VNN-LIB 2.0 only)")
    nets: dict[str, Network] = {}
    for d in prop.networks:
        model = models.get(d.name, models.get(d.equal_to) if d.equal_to else None)
        if model is None:
            raise ParseError(f"{prop.source}: no model given for network {d.name!r}; pass "
                             f"{{{d.name!r}: 'model.onnx'}}")
        nets[d.name] = _network(model, d.inputs, d.outputs, d.name, prop.source)
    for d in prop.networks:
        ref = d.isomorphic_to or d.equal_to
        if ref and ref in nets and _architecture(nets[ref]) != _architecture(nets[d.name]):
            raise ParseError(f"{prop.source}: network {d.name!r} is declared "
                             f"{'isomorphic' if d.isomorphic_to else 'equal'} to {ref!r} but its layers "
                             f"{_architecture(nets[d.name])} differ from {_architecture(nets[ref])}")
        if d.equal_to and d.equal_to in nets and not _same_weights(nets[d.equal_to], nets[d.name]):
            raise ParseError(f"{prop.source}: network {d.name!r} is declared equal to {d.equal_to!r} but its "
                             "weights differ")
    b = Builder(prop.n_inputs)
    x = b.input(0, (prop.n_inputs,))
    outs = []
    for d in prop.networks:
        net = nets[d.name]
        idx = np.array([i for _, _, ix in d.inputs for i in ix], dtype=np.int64)
        e = b.select([x], idx + 1, np.zeros(idx.size))
        for k, (w, bias) in enumerate(zip(net.weights, net.biases, strict=True)):
            e = b.apply(e, _affine(w, bias))
            if k < len(net.weights) - 1:
                e = b.relu(e)
        outs.append(e)
    combined, _ = b.finish(outs, input_shape=(prop.n_inputs,), name="+".join(d.name for d in prop.networks))
    if combined.n_outputs != prop.n_outputs:  # pragma: no cover - the layout guarantees it
        raise InvalidValueError(f"internal: {combined.n_outputs} outputs for {prop.n_outputs} declared")
    return combined


def _affine(w: np.ndarray, bias: np.ndarray) -> BatchFn:
    return lambda X, with_bias: X @ w.T + (bias if with_bias else 0.0)


def _network(model: str | os.PathLike[str] | Network, inputs: tuple[tuple[str, tuple[int, ...], tuple[int, ...]], ...],
             outputs: tuple[tuple[str, tuple[int, ...], tuple[int, ...]], ...], name: str, source: str) -> Network:
    n_in = sum(len(ix) for _, _, ix in inputs)
    n_out = sum(len(ix) for _, _, ix in outputs)
    if isinstance(model, Network):
        net = model
    else:
        from sosrelax.nn.onnx_loader import load_onnx_graph

        lowered = load_onnx_graph(model)
        net = lowered.network
        if len(lowered.inputs) != len(inputs) or len(lowered.outputs) != len(outputs):
            raise ParseError(f"{source}: network {name!r} declares {len(inputs)} inputs and {len(outputs)} "
                             f"outputs but {model} has {len(lowered.inputs)} and {len(lowered.outputs)}")
        for (dn, _, ix), (mn, shape) in zip(inputs + outputs, lowered.inputs + lowered.outputs, strict=True):
            if len(ix) != int(np.prod(shape)):
                raise ParseError(f"{source}: {dn} of network {name!r} has {len(ix)} entries but the model's "
                                 f"tensor {mn!r} has shape {list(shape)}")
    if not net.all_relu or net.output_softmax:
        kinds = sorted(set(net.hidden_activations) - {"relu"}) + (["softmax"] if net.output_softmax else [])
        raise ParseError(f"{source}: network {name!r} has {kinds} layers; several networks are combined only "
                         "when each is a ReLU network")
    if net.n_inputs != n_in or net.n_outputs != n_out:
        raise ParseError(f"{source}: network {name!r} declares {n_in} input and {n_out} output entries but "
                         f"its model has {net.n_inputs} and {net.n_outputs}")
    return net


def _architecture(net: Network) -> tuple[int, ...]:
    return (net.n_inputs, *net.hidden_sizes, net.n_outputs)


def _same_weights(a: Network, b: Network) -> bool:
    return all(np.array_equal(u, v) for u, v in zip(a.weights + a.biases, b.weights + b.biases, strict=True))

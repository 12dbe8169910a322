"""``sosrelax verify SPEC --network N=MODEL.onnx --latent LAYER=ENVELOPE.json``: a latent claim.

The property's output atoms (and hidden-node atoms of layers from ``LAYER`` on) are decided for every
state of the envelope (:func:`~sosrelax.nn.latent.claims.verify_latent`); the property's input box is
not used.  The answer is printed as by ``verify``; after ``sat`` the assignment is the latent state
``H`` (the envelope's layer, exact values as floats) and the outputs ``Y``.
"""

from __future__ import annotations

import argparse
import sys

from sosrelax.errors import ParseError

__all__ = ["run_latent"]


def run_latent(args: argparse.Namespace, model: str) -> int:
    """Decide the latent claim named by ``args.latent``; print the answer; exit code 0."""
    from sosrelax.files import write_atomic
    from sosrelax.nn import load_onnx, read_vnnlib
    from sosrelax.nn.latent.claims import verify_latent
    from sosrelax.nn.latent.envelope import load_envelope

    layer_text, sep, path = args.latent.partition("=")
    if not sep or not layer_text.strip().isdigit():
        raise ParseError(f"--latent {args.latent!r}: give LAYER=ENVELOPE.json (LAYER a hidden layer, 0-based)")
    env = load_envelope(path)
    if env.layer != int(layer_text):
        raise ParseError(f"--latent: {path} is an envelope of layer {env.layer}, not of layer {layer_text}")
    net = load_onnx(model)
    prop = read_vnnlib(args.spec)
    if prop.n_outputs != net.n_outputs:
        raise ParseError(f"{args.spec} declares {prop.n_outputs} outputs but {model} has {net.n_outputs}")
    res = verify_latent(net, prop, env, timeout=args.timeout, rng=args.seed)
    if args.verbose:
        print(f"sosrelax: {res.status.value}: {res.message}", file=sys.stderr)
    status = res.status.value
    out = [{"timeout": "timed-out"}.get(status, status)]
    if res.witness is not None and status == "sat":
        out.append(f"H{env.layer} Real [{len(res.witness.state)}]")
        out += [repr(float(v)) for v in res.witness.state]
        out.append(f"Y Real [{len(res.witness.outputs)}]")
        out += [repr(float(v)) for v in res.witness.outputs]
    sys.stdout.write("\n".join(out) + "\n")
    if args.proof and status == "unsat":
        text = res.proof.to_json() if res.proof is not None else (
            "[" + ",".join(c.to_json().decode("utf-8").strip() for c in res.certificates) + "]\n")
        write_atomic(args.proof, text)
    return 0

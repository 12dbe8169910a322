"""The VNN-LIB solver interface of the ``sosrelax`` command: ``verify`` and ``supports``.

``sosrelax verify SPEC --network NAME=MODEL.onnx [--network NAME2=MODEL2.onnx …] [--timeout T]`` (one
``--network`` per network a VNN-LIB 2.0 property declares; they are combined side by side,
:func:`sosrelax.nn.lower.combine.combine_networks`) prints one of ``sat``, ``unsat``,
``unknown``, ``timed-out``; after ``sat`` the assignment follows in the standard's format (section
5.3.1): per declared tensor (inputs, hidden tensors, outputs) one header line ``NAME TYPE [dims]``
and its values, row-major, one per line.  ``--vnncomp-result PATH`` also writes a VNN-COMP result file (``sat`` with the witness
``((X_0 v) … (Y_0 v) …)``, ``unsat``, ``unknown``, ``timeout`` or ``error``), atomically, creating
missing parent folders; a folder given as that path is bad input (checked before any work), and a
result file that still cannot be written is reported on stderr after the answer (exit code unchanged).

Exit codes: 0 whenever an answer was printed (whatever the answer), 2 for bad input (unreadable or
unsupported model, syntax error in the property, mismatched dimensions), with one line on stderr.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from sosrelax.files import write_atomic

__all__ = ["add_commands", "run_supports", "run_verify"]

EXIT_ANSWERED = 0
EXIT_INPUT = 2

_ANSWER = {"sat": "sat", "unsat": "unsat", "unknown": "unknown", "timeout": "timed-out"}
_VNNCOMP = {"sat": "sat", "unsat": "unsat", "unknown": "unknown", "timeout": "timeout"}


def add_commands(sub: Any) -> None:
    """Register the ``verify`` and ``supports`` sub-commands."""
    v = sub.add_parser("verify", help="decide a VNN-LIB property of an ONNX network (sat/unsat/unknown)")
    v.add_argument("spec", help="VNN-LIB property file")
    v.add_argument("--network", action="append", required=True, metavar="NAME=MODEL.onnx",
                   help="a network the property names (VNN-LIB 1.0: any name); once per network a "
                        "VNN-LIB 2.0 property declares")
    v.add_argument("--timeout", type=float, default=60.0, help="seconds (default 60)")
    v.add_argument("--vnncomp-result", metavar="PATH", help="also write a VNN-COMP result file")
    v.add_argument("--seed", type=int, default=0, help="seed of the counterexample search")
    v.add_argument("--proof", metavar="OUT.json",
                   help="after unsat, write the proof there (the search's proof tree, or the exact rungs' "
                   "certificates); `sosrelax check OUT.json` re-checks it")
    v.add_argument("--semantics", choices=["auto", "real", "float32"], default="auto",
                   help="what unsat covers: exact real arithmetic, or also every float32 execution "
                   "(default auto: float32 for float32 ONNX models)")
    v.add_argument("--method", choices=["auto", "search", "rungs"], default="auto",
                   help="batched search with one proof tree (auto for linear atoms), or exact rungs per piece")
    v.add_argument("--leaf-rungs", metavar="RUNGS", default="",
                   help="comma-separated subset of lp,sdp,sos tried on small open boxes of the search before "
                   "they are split (real semantics; their certificates go into the proof tree)")
    v.add_argument("--verbose", action="store_true",
                   help="progress on stderr: open domains, lowest bound, time (also shown on terminals)")
    v.add_argument("--latent", metavar="LAYER=ENVELOPE.json",
                   help="a latent claim: decide the property's output atoms for every hidden state of the "
                   "envelope file (sosrelax.nn.latent) of hidden layer LAYER (0-based), not over the input box")
    s = sub.add_parser("supports", help="report the VNN-LIB capabilities this solver really has")
    g = s.add_mutually_exclusive_group(required=True)
    for flag in _CAPABILITIES:
        if flag == "--multiple-input-output-theories":
            # the standard's own example spells it with an extra 's'; accept both
            g.add_argument(flag, "--multiple-inputs-output-theories", action="store_true",
                           dest="multiple_input_output_theories")
        else:
            g.add_argument(flag, action="store_true")


_CAPABILITIES: dict[str, list[str]] = {
    "--onnx-opset-versions": ["7", "21"],
    # float16 and float64 models are decided in exact real arithmetic over their exact weights
    "--onnx-element-types": ["float16", "float32", "float64"],
    "--onnx-operators": [],  # filled from the loader
    "--vnnlib-versions": ["1.0", "2.0"],
    # theory identifiers of the standard: NH/H, SIO/MIO, SNET/MNET/MENET/MINET, SNC/MNC,
    # BND/OUTC/LIN/POLY; only what the loader and the readers really handle (H: hidden tensors that
    # name a ReLU's input or output, sosrelax.nn.spec_poly; POLY: polynomial atoms, decided there;
    # MIO: several input and output tensors, concatenated in declaration order; MNET: several
    # ReLU networks, one --network each, combined side by side by sosrelax.nn.lower.combine; MENET /
    # MINET claims, equal-to / isomorphic-to declarations, are checked there too but not claimed).
    "--hidden-node-theories": ["NH", "H"],
    "--multiple-input-output-theories": ["SIO", "MIO"],
    "--multiple-network-theories": ["SNET", "MNET"],
    "--multiple-node-comparison-theories": [],
    "--arithmetic-complexity-theories": ["BND", "OUTC", "LIN", "POLY"],
    "--optimised-disjunctive-reasoning": ["false"],
    "--serialise-assignments": ["false"],
}


def run_supports(args: argparse.Namespace) -> int:
    """Print the answer to one capability question."""
    from sosrelax.nn.onnx_loader import (
        CHAIN_ONLY_OPERATORS,
        POLY_HEAD_OPERATORS,
        SUPPORTED_OPERATORS,
    )

    for flag, answer in _CAPABILITIES.items():
        if getattr(args, flag[2:].replace("-", "_")):
            # and those of models that are one chain of operators (the chain reader) or of polynomial heads
            lines = (sorted({*SUPPORTED_OPERATORS, *CHAIN_ONLY_OPERATORS, *POLY_HEAD_OPERATORS})
                     if flag == "--onnx-operators"
                     else answer)
            sys.stdout.write("".join(f"{line}\n" for line in lines))
            return EXIT_ANSWERED
    return EXIT_INPUT  # pragma: no cover - argparse requires one flag


def run_verify(args: argparse.Namespace) -> int:
    """Decide the property; print the answer (and the assignment after ``sat``)."""
    from sosrelax.errors import ParseError
    from sosrelax.nn import vnnlib_claims
    from sosrelax.nn.verify import verify

    bad_arg = [a for a in args.network if "=" not in a or not a.split("=", 1)[0] or not a.split("=", 1)[1]]
    if bad_arg:
        raise ParseError(f"--network {bad_arg[0]!r}: give NAME=MODEL.onnx (once per declared network)")
    models = dict(a.split("=", 1) for a in args.network)
    if len(models) != len(args.network):
        raise ParseError("--network: a network name is given twice")
    model = args.network[0].split("=", 1)[1]
    for path, what in ((args.spec, "property"), *((m, "network") for m in models.values())):
        if os.path.isdir(path):
            raise ParseError(f"{path}: is a folder; give the {what} file")
    if args.vnncomp_result and os.path.isdir(args.vnncomp_result):
        raise ParseError(f"--vnncomp-result {args.vnncomp_result}: is a folder; give a file name, "
                         f"e.g. {os.path.join(args.vnncomp_result, 'result.txt')}")
    if args.proof and os.path.isdir(args.proof):
        raise ParseError(f"--proof {args.proof}: is a folder; give a file name, "
                         f"e.g. {os.path.join(args.proof, 'proof.json')}")
    leaf_rungs = tuple(r.strip() for r in args.leaf_rungs.split(",") if r.strip())
    bad = [r for r in leaf_rungs if r not in ("lp", "sdp", "sos")]
    if bad:
        raise ParseError(f"--leaf-rungs: unknown rung {bad[0]!r}; choose from lp, sdp, sos")
    if getattr(args, "latent", None):
        from sosrelax.nn.latent.cli import run_latent
        from sosrelax.nn.onnx_loader import load_onnx

        loaded = load_onnx(model, check=False)
        if not loaded.all_relu or loaded.output_softmax:
            raise ParseError(f"--latent: {model} has sigmoid, tanh or softmax layers; latent claims need a ReLU "
                             "network")

        return run_latent(args, model)
    onnx_path: str | None = model
    if len(models) > 1:
        net, prop = _combined(args.spec, models)
        onnx_path = None  # several models: witnesses are confirmed on the combined network alone
    else:
        net, prop = vnnlib_claims(model, args.spec)
    res = verify(net, prop, onnx_path=onnx_path, timeout=args.timeout, rng=args.seed, method=args.method,
                 semantics=args.semantics, progress=_progress(args.verbose), leaf_rungs=leaf_rungs)
    if args.verbose or sys.stderr.isatty():
        sys.stderr.write("\r\033[K" if sys.stderr.isatty() else "")
    if args.verbose:
        print(f"sosrelax: {res.status.value}: {res.message}", file=sys.stderr)
    status = res.status.value
    out = [_ANSWER[status]]
    if status == "sat" and res.counterexample is not None:
        x, y = res.counterexample
        out.append(f"X Real [{len(x)}]")
        out += [repr(float(v)) for v in x]
        if prop.hidden:  # the declared hidden tensors at the witness (exact IR values)
            from sosrelax.nn.spec_poly import hidden_values

            for name, vals in hidden_values(net, prop, x):
                out.append(f"{name} Real [{len(vals)}]")
                out += [repr(v) for v in vals]
        out.append(f"Y Real [{len(y)}]")
        out += [repr(float(v)) for v in y]
    sys.stdout.write("\n".join(out) + "\n")
    if args.vnncomp_result:
        text = _VNNCOMP[status]
        if status == "sat" and res.counterexample is not None:
            x, y = res.counterexample
            pairs = [f"(X_{i} {float(v)!r})" for i, v in enumerate(x)]
            pairs += [f"(Y_{j} {float(v)!r})" for j, v in enumerate(y)]
            text += "\n(" + "\n".join(pairs) + ")"
        try:
            write_atomic(args.vnncomp_result, text + "\n")
        except OSError as e:
            print(f"sosrelax: error: cannot write the result file {args.vnncomp_result}: "
                  f"{e.strerror or e} (the answer above stands)", file=sys.stderr)
    if args.proof and status == "unsat":
        _write_proof(args.proof, res)
    return EXIT_ANSWERED


def _combined(spec: str, models: dict[str, str]) -> tuple[Any, Any]:
    """The combined network and the property of a VNN-LIB 2.0 property over several networks."""
    from sosrelax.errors import ParseError
    from sosrelax.nn.lower.combine import combine_networks
    from sosrelax.nn.vnnlib import read_vnnlib

    prop = read_vnnlib(spec)
    if not prop.networks:
        raise ParseError(f"{spec}: {len(models)} --network options but the property declares no networks "
                         "(VNN-LIB 1.0 speaks about one network)")
    declared = {d.name for d in prop.networks}
    unknown = sorted(set(models) - declared)
    if unknown:
        raise ParseError(f"--network {unknown[0]}=…: the property declares no network {unknown[0]!r} "
                         f"(it declares {sorted(declared)})")
    return combine_networks(prop, models), prop


def _write_proof(path: str, res: Any) -> None:
    """The unsat answer's proof: the proof tree, or the exact rungs' certificates (a JSON list)."""
    if res.proof is not None:
        text = res.proof.to_json()
    else:
        certs = [c.to_json().decode("utf-8").strip() for c in res.certificates]
        text = (certs[0] if len(certs) == 1 else "[" + ",".join(certs) + "]") + "\n"
    try:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path, text)
    except OSError as e:
        print(f"sosrelax: error: cannot write the proof {path}: {e.strerror or e} (the answer above "
              "stands)", file=sys.stderr)


def _progress(verbose: bool) -> Any:
    """A progress callback for the search: one line on stderr, rewritten in place on a terminal."""
    import time

    tty = sys.stderr.isatty()
    if not (verbose or tty):
        return None
    t0 = time.perf_counter()
    last = [0.0]

    def show(stats: Any, open_domains: int, lowest: float) -> None:
        now = time.perf_counter()
        if now - last[0] < (0.2 if tty else 1.0):
            return
        last[0] = now
        line = (f"sosrelax: {now - t0:7.1f} s  domains {stats.domains:8d}  open {open_domains:7d}  "
                f"leaves {stats.leaves:8d}  lowest bound {lowest:+.4g}")
        sys.stderr.write(("\r\033[K" + line) if tty else line + "\n")
        sys.stderr.flush()

    return show


def run_check_proof(args: argparse.Namespace, data: bytes) -> int:
    """``sosrelax check PROOF.json``: re-check a network proof tree (exit 0 verified, 1 rejected,
    2 unreadable), bound to ``--network`` and ``--property`` when they are given."""
    import json

    from sosrelax.certificate.proof_tree import ProofTree, check_proof_tree
    from sosrelax.errors import CertificateFormatError, SosrelaxError

    def out(status: str, why: str, code: int, report: Any = None) -> int:
        if args.json:
            doc: dict[str, Any] = {"status": status, "reason": why, "kind": "network_proof_tree"}
            if report is not None:
                doc.update(valid=bool(report.valid), leaves=report.leaves, nodes=report.nodes,
                           disjuncts=report.disjuncts, semantics=report.semantics,
                           network_sha256=report.network_sha256, min_margin=report.min_margin,
                           seconds=report.seconds)
            print(json.dumps(doc, indent=2, sort_keys=True))
        elif code == EXIT_INPUT:
            print(f"sosrelax: {args.certificate}: {status}: {why}", file=sys.stderr)
        else:
            print(f"{status}: {why}")
        return code

    if getattr(args, "problem", None):
        return out("unreadable", "--problem applies to polynomial certificates; this is a network proof "
                   "tree (bind it with --network and --property)", EXIT_INPUT)
    try:
        tree = ProofTree.from_json(data)
    except (CertificateFormatError, ValueError, TypeError, RecursionError, MemoryError) as e:
        return out("unreadable", str(e), EXIT_INPUT)
    net = None
    try:
        if getattr(args, "network", None):
            from sosrelax.nn import load_onnx

            net = load_onnx(args.network.split("=", 1)[-1])
        softmax = net is not None and net.output_softmax
        mismatch = _property_mismatch(tree, args.property, softmax) if getattr(args, "property", None) else None
    except SosrelaxError as e:
        return out("unreadable", str(e), EXIT_INPUT)
    if not args.json:
        acts = f" ({', '.join(tree.activations)} activations)" if tree.activations else ""
        print(f"network  : {len(tree.layers)} affine layers{acts}, input shape {list(tree.input_shape)}, "
              f"sha256 {tree.network_sha256[:16]}…")
        boxes = "; ".join(_describe(d) for d in tree.disjuncts[:3])
        more = f" (and {len(tree.disjuncts) - 3} more)" if len(tree.disjuncts) > 3 else ""
        print(f"claim    : no input satisfies any of {len(tree.disjuncts)} disjunct(s): {boxes}{more}")
        print(f"semantics: {tree.semantics}")
        if net is not None and net.output_softmax:
            print("softmax  : the model ends in a softmax; Y are its logits (sosrelax.nn.softmax)")
    if mismatch:
        return out("rejected", mismatch, EXIT_NEGATIVE)
    report = check_proof_tree(tree, network=net)
    if report.valid:
        return out("verified", f"{report.reason} in {report.seconds:.2f} s", EXIT_ANSWERED, report)
    return out("rejected", report.reason, EXIT_NEGATIVE, report)


EXIT_NEGATIVE = 1


def _describe(d: Any) -> str:
    def rat(q: Any) -> str:
        return str(q) if q.denominator == 1 else f"{float(q):.6g}"

    box = " x ".join(f"[{rat(a)}, {rat(b)}]" for a, b in zip(d.lo, d.hi, strict=True))
    if len(d.lo) > 6:
        box = f"a box in {len(d.lo)} dimensions"
    atoms = " and ".join(
        " + ".join([f"{rat(c)}*X_{i}" for i, c in a.x] + [f"{rat(c)}*Y_{j}" for j, c in a.y]
                   + [rat(a.const)]) + (" > 0" if a.strict else " >= 0") for a in d.atoms[:4])
    return f"x in {box} with {atoms}"


def _property_mismatch(tree: Any, spec: str, softmax: bool = False) -> str | None:
    """Why the proof's disjuncts are not exactly those of the VNN-LIB file, or None.  For a model ending in
    a softmax (``softmax``) the proof speaks of the logits: it must be exactly the property over the logits
    that the file's property implies (:func:`sosrelax.nn.softmax.logit_property`)."""
    from sosrelax.nn import read_vnnlib

    prop = read_vnnlib(spec)
    if any(d.poly for d in prop.disjuncts):
        return f"{spec} has polynomial atoms, which proof trees do not cover"
    if softmax:
        from sosrelax.nn.softmax import logit_property

        prop = logit_property(prop, "implied")[0]
    mine = [(tuple(d.lo), tuple(d.hi), tuple((a.x, a.y, a.const, a.strict) for a in d.atoms))
            for d in prop.disjuncts]
    theirs = [(tuple(d.lo), tuple(d.hi), tuple((a.x, a.y, a.const, a.strict) for a in d.atoms))
              for d in tree.disjuncts]
    if mine != theirs:
        return (f"the proof's {len(theirs)} disjunct(s) are not exactly those of {spec} "
                f"({len(mine)} disjunct(s)): it proves another property")
    return None

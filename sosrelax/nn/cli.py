"""The VNN-LIB solver interface of the ``sosrelax`` command: ``verify`` and ``supports``.

``sosrelax verify SPEC --network NAME=MODEL.onnx [--timeout T]`` prints one of ``sat``, ``unsat``,
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
import tempfile
from pathlib import Path
from typing import Any

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
                   help="the network the property names (VNN-LIB 1.0: any name)")
    v.add_argument("--timeout", type=float, default=60.0, help="seconds (default 60)")
    v.add_argument("--vnncomp-result", metavar="PATH", help="also write a VNN-COMP result file")
    v.add_argument("--seed", type=int, default=0, help="seed of the counterexample search")
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
    "--onnx-element-types": ["float32", "float64"],
    "--onnx-operators": [],  # filled from the loader
    "--vnnlib-versions": ["1.0", "2.0"],
    # theory identifiers of the standard: NH/H, SIO/MIO, SNET/MNET/MENET/MINET, SNC/MNC,
    # BND/OUTC/LIN/POLY; only what the loader and the readers really handle (H: hidden tensors that
    # name a ReLU's input or output, sosrelax.nn.spec_poly; POLY: polynomial atoms, decided there)
    "--hidden-node-theories": ["NH", "H"],
    "--multiple-input-output-theories": ["SIO"],
    "--multiple-network-theories": ["SNET"],
    "--multiple-node-comparison-theories": [],
    "--arithmetic-complexity-theories": ["BND", "OUTC", "LIN", "POLY"],
    "--optimised-disjunctive-reasoning": ["false"],
    "--serialise-assignments": ["false"],
}


def run_supports(args: argparse.Namespace) -> int:
    """Print the answer to one capability question."""
    from sosrelax.nn.onnx_loader import SUPPORTED_OPERATORS

    for flag, answer in _CAPABILITIES.items():
        if getattr(args, flag[2:].replace("-", "_")):
            lines = list(SUPPORTED_OPERATORS) if flag == "--onnx-operators" else answer
            sys.stdout.write("".join(f"{line}\n" for line in lines))
            return EXIT_ANSWERED
    return EXIT_INPUT  # pragma: no cover - argparse requires one flag


def _write_atomic(path: str, text: str) -> None:
    p = Path(path)
    parent = p.parent if str(p.parent) else Path(".")
    parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=str(parent), prefix=p.name, suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.replace(tmp, p)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def run_verify(args: argparse.Namespace) -> int:
    """Decide the property; print the answer (and the assignment after ``sat``)."""
    from sosrelax.errors import ParseError
    from sosrelax.nn import vnnlib_claims
    from sosrelax.nn.verify import verify

    if len(args.network) != 1 or "=" not in args.network[0]:
        raise ParseError("--network takes NAME=MODEL.onnx, once (one network per property)")
    model = args.network[0].split("=", 1)[1]
    for path, what in ((args.spec, "property"), (model, "network")):
        if os.path.isdir(path):
            raise ParseError(f"{path}: is a folder; give the {what} file")
    if args.vnncomp_result and os.path.isdir(args.vnncomp_result):
        raise ParseError(f"--vnncomp-result {args.vnncomp_result}: is a folder; give a file name, "
                         f"e.g. {os.path.join(args.vnncomp_result, 'result.txt')}")
    net, prop = vnnlib_claims(model, args.spec)
    res = verify(net, prop, onnx_path=model, timeout=args.timeout, rng=args.seed)
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
            _write_atomic(args.vnncomp_result, text + "\n")
        except OSError as e:
            print(f"sosrelax: error: cannot write the result file {args.vnncomp_result}: "
                  f"{e.strerror or e} (the answer above stands)", file=sys.stderr)
    return EXIT_ANSWERED

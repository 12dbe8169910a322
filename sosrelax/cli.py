"""The ``sosrelax`` command.

Exit codes
----------
``sosrelax solve``: 0 a bound was proven, 1 no bound proven (infeasible/unbounded/inaccurate relaxation),
2 bad input.  ``sosrelax check``: 0 the file's stated claim is proven exactly,
1 rejected (or only a weaker bound than stated is proven), 2 unreadable or over a resource limit.  ``sosrelax certify``: 0 certified,
10 falsified, 20 unknown, 2 bad input.  ``sosrelax batch``: 0 every claim certified, 10 at least one
falsified, 20 otherwise (some unknown, error or timeout), 2 bad input; ``sosrelax batch export``: 0.  Errors go to stderr as one line, without a traceback unless
``--debug`` is given.  A file that cannot be read (a folder, no permission) is bad input (2).  An output file
(``--certificate``, ``--counterexample``) is written atomically after the answer is printed, creating missing
parent folders; if it still cannot be written, one line on stderr says so and the exit code stays the
answer's.  When the reader of stdout goes away (``sosrelax solve ... | head``) the command stops quietly
with 141 (128 + SIGPIPE, as the shell reports a process killed by it).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from typing import Any

from sosrelax.errors import ParseError, SosrelaxError
from sosrelax.files import write_atomic

__all__ = ["main"]

EXIT_OK = 0
EXIT_NEGATIVE = 1
EXIT_INPUT = 2
EXIT_CERTIFIED = 0
EXIT_FALSIFIED = 10
EXIT_UNKNOWN = 20
EXIT_BROKEN_PIPE = 141

#: ``--sparsity`` values of ``sosrelax solve`` (``none``: the dense relaxation).
_SPARSITY_CHOICES = ("none", "correlative", "term", "correlative+term")


def _version() -> str:
    from sosrelax import __version__

    return __version__


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="sosrelax",
        description="Prove worst-case properties of polynomial systems with moment-SOS relaxations "
        "and independently checked certificates.",
    )
    p.add_argument("--version", action="store_true", help="print the version and exit")
    p.add_argument("--name", action="store_true", help="print the tool name and exit")
    p.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    sub = p.add_subparsers(dest="command")

    s = sub.add_parser("solve", help="solve a relaxation of PROBLEM.toml and prove its bound")
    s.add_argument("problem", help="problem file (TOML)")
    s.add_argument("--relaxation", choices=["sos", "sdp", "lp", "dsos", "sdsos"], default=None,
                   help="the rung (default: [relaxation].kind of the file, else sos)")
    s.add_argument("--level", type=int, default=None)
    s.add_argument("--solver", default=None)
    s.add_argument("--sparsity", choices=_SPARSITY_CHOICES, default=None,
                   help="exploit sparsity (default: [relaxation].sparsity of the file, else none)")
    s.add_argument("--time-limit", type=float, default=None,
                   help="seconds given to the solver (default: [relaxation].time_limit of the file)")
    s.add_argument("--certificate", metavar="PATH", help="write the verified certificate here")
    s.add_argument("--json", action="store_true", help="print the result as JSON")

    c = sub.add_parser("check", help="check a certificate file with the independent exact checker")
    c.add_argument("certificate", help="certificate file (JSON)")
    c.add_argument("--json", action="store_true", help="print the report as JSON")
    c.add_argument("--problem", metavar="FILE.toml",
                   help="valid only if the certificate is about exactly this problem (objective, "
                   "sense and constraints)")
    c.add_argument("--network", metavar="[NAME=]MODEL.onnx",
                   help="network proof trees: valid only if the proof is about exactly this network")
    c.add_argument("--property", metavar="SPEC.vnnlib",
                   help="network proof trees: valid only if the proof covers exactly this property")

    v = sub.add_parser("certify", help="certify or falsify a claim over the set of PROBLEM.toml")
    v.add_argument(
        "problem", help="problem file (TOML); its [claim] section, or --claim, states the claim"
    )
    v.add_argument("--claim", help='the claim, e.g. "x^2 + y^2 <= 2" (for every point of the set)')
    v.add_argument("--time-limit", type=float, default=60.0, help="seconds (default 60)")
    v.add_argument("--max-level", type=int, default=6, help="highest SOS level tried (default 6)")
    v.add_argument("--solver", default=None)
    v.add_argument("--certificate", metavar="PATH", help="write the verified certificate here")
    v.add_argument("--counterexample", metavar="PATH", help="write the counterexample (JSON) here")
    v.add_argument("--seed", type=int, default=0, help="seed of the adversary's randomness")
    v.add_argument("--quiet", action="store_true", help="no progress table")

    sub.add_parser("demo", help="run the main job end to end on the embedded default solver")
    from sosrelax.nn.cli import add_commands as nn_commands

    nn_commands(sub)  # verify, supports (the VNN-LIB solver interface)
    from sosrelax.train.cli import add_command as train_command

    train_command(sub)  # train (worst-case training on torch, an optional extra)

    b = sub.add_parser(
        "batch",
        help="certify many claims in parallel into a resumable result store (or: batch export STORE)",
        description="sosrelax batch INPUT [options]: INPUT is a TOML list of claims ([[claims]]), a "
        "PROBLEM.toml with [claim], a folder of them, or a VNN-COMP instances.csv. Finished claims are "
        "skipped on a re-run. sosrelax batch export STORE --csv F --json F: export a store.",
    )
    b.add_argument("input", help="claims file or folder, or the word 'export'")
    b.add_argument("export_store", nargs="?", metavar="STORE", help="with 'export': the store to export")
    b.add_argument("--store", default="results.sqlite", help="SQLite result store (default results.sqlite)")
    b.add_argument("--workers", type=int, default=None, help="local worker processes (default: CPUs)")
    b.add_argument("--time-limit", type=float, default=60.0, help="seconds per claim (default 60)")
    b.add_argument("--wall-limit", type=float, default=None,
                   help="hard seconds per claim before its worker is killed (default T + max(5, T/2))")
    b.add_argument("--memory-limit", default="4G", help="memory per claim, e.g. 512M, 4G, or 'none'")
    b.add_argument("--max-level", type=int, default=6, help="highest SOS level tried (default 6)")
    b.add_argument("--solver", default="clarabel")
    b.add_argument("--seed", type=int, default=0, help="seed of the adversary's randomness")
    b.add_argument("--dask", metavar="ADDRESS",
                   help="run on a dask.distributed scheduler at ADDRESS ('local': a LocalCluster)")
    b.add_argument("--retry-errors", action="store_true", help="re-run claims stored as error/timeout")
    b.add_argument("--csv", metavar="PATH", help="also write every stored row to this CSV file")
    b.add_argument("--json", metavar="PATH", help="also write every stored row to this JSON file")
    b.add_argument("--quiet", action="store_true", help="no progress bar")
    return p


def _solve(args: argparse.Namespace) -> int:
    import sosrelax as sr
    from sosrelax.problemfile import read_problem_file

    _check_output(args.certificate, "--certificate")
    pf = read_problem_file(_input_file(args.problem))
    rel = pf.relaxation
    sparsity = args.sparsity if args.sparsity is not None else rel.get("sparsity")
    res = sr.solve(
        pf.problem,
        relaxation=args.relaxation or rel.get("kind", "sos"),
        level=args.level if args.level is not None else rel.get("level"),
        solver=args.solver or rel.get("solver", "clarabel"),
        sparsity=None if sparsity == "none" else sparsity,
        time_limit=args.time_limit if args.time_limit is not None else rel.get("time_limit"),
    )
    code = EXIT_OK if res.bound is not None else EXIT_NEGATIVE
    written = False
    if args.certificate and res.certificate is not None and res.certified:
        written = _write_output(args.certificate, res.certificate.to_json(), "certificate")
    if args.json:
        out: dict[str, Any] = {
            "status": res.status.value,
            "bound": res.bound,
            "solver_bound": res.solver_bound,
            "certified": res.certified,
            "message": res.message,
            "sizes": res.info.get("sizes"),
            "time": res.info.get("time"),
        }
        print(json.dumps(out, indent=2, sort_keys=True, default=str))
    else:
        _print_result(pf.problem, res)
        if args.certificate:
            if written:
                print(f"certificate written to {args.certificate}")
            elif not res.certified:
                print("no verified certificate: nothing written", file=sys.stderr)
    return code


def _input_file(path: str) -> str:
    """``path`` when it names a readable regular file; else a :class:`ParseError` saying what it is."""
    if os.path.isdir(path):
        raise ParseError(f"{path}: is a folder; give a problem file (TOML), e.g. examples/camel.toml")
    if os.path.exists(path) and not os.access(path, os.R_OK):
        raise ParseError(f"{path}: not readable (permission denied)")
    return path


def _check_output(path: str | None, option: str) -> None:
    """Refuse, before any work, an output path that can never be a file (an existing folder)."""
    if path and os.path.isdir(path):
        raise ParseError(f"{option} {path}: is a folder; give a file name, e.g. {os.path.join(path, 'out.json')}")


def _write_output(path: str, data: str | bytes, what: str) -> bool:
    """Write ``data`` to ``path`` atomically (missing parent folders are created).

    Called after the answer is printed: a failure is reported on stderr as one line and returns
    ``False`` (the caller keeps the answer's exit code), it never raises.
    """
    try:
        write_atomic(path, data)
    except OSError as e:
        reason = e.strerror or str(e)
        print(f"sosrelax: error: cannot write the {what} to {path}: {reason} (the answer above stands)",
              file=sys.stderr)
        return False
    return True


def _print_result(problem: Any, res: Any) -> None:
    sizes = res.info.get("sizes", {})
    t = res.info.get("time", {})
    print(
        f"problem     : {problem.sense.value} over {len(problem.variables)} variables, "
        f"{len(problem.inequalities)} inequalities, {len(problem.equalities)} equalities"
    )
    print(
        f"relaxation  : {res.info.get('relaxation')} level {res.info.get('level')}, "
        f"{sizes.get('moments')} moments, PSD blocks {sizes.get('psd_blocks')}"
    )
    print(f"solver      : {res.info.get('solver')} ({res.info.get('solver_status')})")
    print(f"status      : {res.status.value}")
    print(f"solver bound: {res.solver_bound}")
    print(f"proven bound: {res.bound}")
    print(f"message     : {res.message}")
    if t:
        print("time        : " + ", ".join(f"{k} {v:.3f}s" for k, v in t.items()))


def _check_poly_text(terms: Any, names: Sequence[str], limit: int = 200) -> str:
    """A certificate polynomial as text (``x^2 - 2*x + 1``), exact coefficients, shortened."""
    from fractions import Fraction

    parts: list[str] = []
    for e, c in terms:
        c = Fraction(c)
        if c == 0:
            continue
        mono = "*".join(
            (v if k == 1 else f"{v}^{k}") for v, k in zip(names, e, strict=False) if k
        )
        mag = abs(c)
        coef = str(mag.numerator) if mag.denominator == 1 else f"({mag.numerator}/{mag.denominator})"
        body = mono if mono and mag == 1 else (f"{coef}*{mono}" if mono else coef)
        parts.append(("- " if c < 0 else "+ ") + body)
        if sum(len(p) + 1 for p in parts) > limit:
            parts.append("+ ...")
            break
    if not parts:
        return "0"
    text = " ".join(parts)
    return text[2:] if text.startswith("+ ") else "-" + text[2:]


def _check_statement(cert: Any) -> tuple[str, str]:
    """(objective line, set line) of a polynomial certificate, for the report."""
    names = list(cert.variables)
    derived = set(cert.derived)
    cons = [f"{_check_poly_text(g, names, 80)} >= 0"
            for i, g in enumerate(cert.inequalities) if i not in derived]
    cons += [f"{_check_poly_text(h, names, 80)} == 0" for h in cert.equalities]
    shown = ", ".join(cons[:8]) + (f", ... ({len(cons)} constraints)" if len(cons) > 8 else "")
    space = f"x = ({', '.join(names[:8])}{', ...' if len(names) > 8 else ''}) in R^{len(names)}"
    where = f"{space} with {shown}" if cons else f"every {space}"
    sense = {"lower_bound": "minimize", "upper_bound": "maximize"}.get(cert.kind, "none")
    obj = "none (infeasibility)" if cert.kind == "infeasible" else (
        f"{sense} {_check_poly_text(cert.objective, names)}")
    return obj, where


def _check_float(q: Any, down: bool) -> float | None:
    """A proven bound as a float rounded so that it stays proven (±inf or the largest float
    beyond the float range)."""
    import math

    from sosrelax.certificate.format import float_toward

    if q is None:
        return None
    try:
        return float_toward(q, down)
    except OverflowError:
        if q > 0:
            return math.inf if not down else sys.float_info.max
        return -math.inf if down else -sys.float_info.max


def _check(args: argparse.Namespace) -> int:
    from sosrelax.certificate.check import check_certificate, show_rational
    from sosrelax.certificate.format import DEFAULT_LIMITS, Certificate, read_limited
    from sosrelax.certificate.sdp import SDPCertificate
    from sosrelax.certificate.sdpcheck import check_sdp_certificate
    from sosrelax.errors import CertificateFormatError

    def fail(status: str, why: str) -> int:
        if args.json:
            print(json.dumps({"status": status, "reason": why}, sort_keys=True))
        else:
            print(f"sosrelax: {args.certificate}: {status}: {why}", file=sys.stderr)
        return EXIT_INPUT

    problem = None
    if args.problem:
        from sosrelax.problemfile import read_problem_file

        problem = read_problem_file(args.problem).problem
    cert: Any
    try:
        _, data = read_limited(args.certificate, DEFAULT_LIMITS)
        if b'"format":"sosrelax-sos-program"' in data:
            from sosrelax.program.cli import run_check_program

            return run_check_program(args, data)
        if b'"sosrelax-proof-tree"' in data:
            from sosrelax.nn.cli import run_check_proof

            return run_check_proof(args, data)
        try:
            cert = Certificate.from_json(data)
        except CertificateFormatError as e:
            try:  # an SDPA dual-bound certificate?
                cert = SDPCertificate.from_json(data)
            except CertificateFormatError:
                raise e from None
    except CertificateFormatError as e:
        return fail("unreadable", str(e))
    except (ValueError, TypeError, OverflowError, RecursionError, MemoryError) as e:
        return fail("unreadable", f"{type(e).__name__}: {e}")
    kind = getattr(cert, "kind", "sdpa_dual_bound")
    report: Any
    if isinstance(cert, SDPCertificate):
        if problem is not None:
            return fail("unreadable", "--problem applies to polynomial certificates only; this is "
                        "an SDPA dual-bound certificate")
        report = check_sdp_certificate(cert)
        holds = bool(report.valid)
        over = False
        statement: tuple[str, str] | None = None
    else:
        report = check_certificate(cert, problem=problem)
        holds = bool(report.claim_holds)
        over = bool(report.over_limit)
        statement = _check_statement(cert)
    if over:
        return fail("refused", report.reason)
    word = "lower" if kind == "lower_bound" else "upper"
    if args.json:
        print(
            json.dumps(
                {
                    "status": report.status.value,
                    "valid": report.valid,
                    "claim_holds": holds,
                    "bound": None if report.bound is None else str(report.bound),
                    "bound_float": _check_float(report.bound, down=kind != "upper_bound"),
                    "claimed_bound": None
                    if report.claimed_bound is None
                    else str(report.claimed_bound),
                    "kind": kind,
                    "objective": None if statement is None else statement[0],
                    "set": None if statement is None else statement[1],
                    "reason": report.reason,
                },
                indent=2,
                sort_keys=True,
            )
        )
    else:
        if statement is not None:
            print(f"objective: {statement[0]}")
            print(f"set      : {statement[1]}")
        if holds:
            what = (
                "infeasibility (the set is empty)"
                if kind == "infeasible"
                else f"{kind.replace('_', ' ')} {show_rational(report.bound)}"
            )
            print(f"verified: {what}  ({report.reason})")
        elif report.valid:
            print(
                f"rejected: the stated {word} bound {show_rational(report.claimed_bound)} is not "
                f"proven; only the weaker {word} bound {show_rational(report.bound)} holds  "
                f"({report.reason})"
            )
        else:
            print(f"rejected: {report.reason}")
    return EXIT_OK if holds else EXIT_NEGATIVE


def _certify(args: argparse.Namespace) -> int:
    from sosrelax.certify import certify
    from sosrelax.problem import Claim
    from sosrelax.problemfile import parse_relation, read_problem_file

    _check_output(args.certificate, "--certificate")
    _check_output(args.counterexample, "--counterexample")
    pf = read_problem_file(_input_file(args.problem))
    if args.claim:
        names = list(pf.problem.variables)
        statement = parse_relation(args.claim, names, "--claim")
        box = []
        for g in pf.problem.inequalities:
            box.append(g >= 0)
        claim = Claim(statement, subject_to=[*box, *(h == 0 for h in pf.problem.equalities)])
    elif pf.claim is not None:
        claim = pf.claim
    else:
        raise ParseError(
            f'{args.problem}: no claim: add a [claim] section or pass --claim "f(x) <= t"'
        )
    verdict = certify(
        claim,
        time_limit=args.time_limit,
        max_level=args.max_level,
        solver=args.solver or pf.relaxation.get("solver", "clarabel"),
        rng=args.seed,
        progress=False if args.quiet else None,
    )
    print(f"{verdict.status.value}: {verdict.message}")
    if verdict.counterexample is not None:
        print(
            "counterexample: "
            + ", ".join(f"{k} = {v!r}" for k, v in verdict.counterexample.items())
        )
        if args.counterexample:
            text = json.dumps(verdict.counterexample, indent=2, sort_keys=True) + "\n"
            if _write_output(args.counterexample, text, "counterexample"):
                print(f"counterexample written to {args.counterexample}")
    if verdict.certificate is not None and args.certificate:
        if _write_output(args.certificate, verdict.certificate.to_json(), "certificate"):
            print(f"certificate written to {args.certificate}")
    return {"certified": EXIT_CERTIFIED, "falsified": EXIT_FALSIFIED}.get(
        verdict.status.value, EXIT_UNKNOWN
    )


def _demo(args: argparse.Namespace) -> int:
    from sosrelax.demo import run_demo

    return run_demo()


def _batch(args: argparse.Namespace) -> int:
    from sosrelax.batch import certify_many, load_instances, parse_size, summary_table
    from sosrelax.store import ResultStore

    if args.input == "export":
        if not args.export_store:
            raise ParseError("batch export: give the store, e.g. sosrelax batch export results.sqlite --csv out.csv")
        import os

        if not os.path.isfile(args.export_store):
            raise ParseError(f"{args.export_store}: no such result store")
        with ResultStore(args.export_store) as db:
            if args.csv:
                db.export_csv(args.csv)
            if args.json:
                db.export_json(args.json)
            if not args.csv and not args.json:
                sys.stdout.write(db.export_json())
        return EXIT_OK
    if args.export_store:
        raise ParseError(f"batch: unexpected argument {args.export_store!r} (only 'batch export' takes a STORE)")
    items = load_instances(args.input)
    memory = None if args.memory_limit.strip().lower() == "none" else parse_size(args.memory_limit)
    client: Any = None
    cluster: Any = None
    if args.dask:
        try:
            from dask.distributed import Client, LocalCluster
        except ImportError as e:
            from sosrelax.errors import BackendNotAvailableError

            raise BackendNotAvailableError(
                "--dask needs dask.distributed: pip install 'sosrelax[dask]'"
            ) from e
        if args.dask == "local":
            cluster = LocalCluster(n_workers=args.workers, threads_per_worker=1, processes=True)
            client = Client(cluster)
        else:
            client = Client(args.dask)
    try:
        results = certify_many(
            items,
            store=args.store,
            executor=client,
            time_limit=args.time_limit,
            wall_limit=args.wall_limit,
            memory_limit=memory,
            workers=args.workers,
            solver=args.solver,
            max_level=args.max_level,
            seed=args.seed,
            retry_errors=args.retry_errors,
            progress=False if args.quiet else None,
        )
    finally:
        if client is not None:
            client.close()
        if cluster is not None:
            cluster.close()
    if args.csv or args.json:
        with ResultStore(args.store) as db:
            if args.csv:
                db.export_csv(args.csv)
            if args.json:
                db.export_json(args.json)
    for r in results:
        if r.status.value != "certified":
            print(f"{r.status.value:>9}  {r.name}: {r.error or r.message}")
    print(summary_table(results))
    statuses = {r.status.value for r in results}
    if statuses <= {"certified"}:
        return EXIT_CERTIFIED
    return EXIT_FALSIFIED if "falsified" in statuses else EXIT_UNKNOWN


def _nn_verify(args: argparse.Namespace) -> int:
    from sosrelax.nn.cli import run_verify

    return run_verify(args)


def _train(args: argparse.Namespace) -> int:
    from sosrelax.train.cli import run_train

    return run_train(args)


def _nn_supports(args: argparse.Namespace) -> int:
    from sosrelax.nn.cli import run_supports

    return run_supports(args)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``sosrelax`` command; returns the exit code."""
    parser = _parser()
    args = parser.parse_args(argv)
    if args.version:
        print(_version())
        return EXIT_OK
    if args.name:
        print("sosrelax")
        return EXIT_OK
    handlers = {"solve": _solve, "check": _check, "certify": _certify, "demo": _demo, "batch": _batch,
                "verify": _nn_verify, "supports": _nn_supports, "train": _train}
    if args.command not in handlers:
        parser.print_help(sys.stderr)
        return EXIT_INPUT
    try:
        code = handlers[args.command](args)
        sys.stdout.flush()  # a closed pipe shows up here at the latest
        return code
    except BrokenPipeError:
        return _broken_pipe()
    except SosrelaxError as e:
        if args.debug:
            raise
        print(f"sosrelax: error: {e}", file=sys.stderr)
        return EXIT_INPUT
    except OSError as e:  # an input file that cannot be read: a folder, no permission, a device
        if args.debug:
            raise
        where = f"{e.filename}: " if e.filename else ""
        print(f"sosrelax: error: {where}{e.strerror or e}", file=sys.stderr)
        return EXIT_INPUT
    except KeyboardInterrupt:
        print("sosrelax: interrupted", file=sys.stderr)
        return 130


def _broken_pipe() -> int:
    """The reader of stdout went away: point stdout at the null device so that the interpreter's
    final flush stays silent, and exit with 141."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):  # stdout is no real file (e.g. captured in-process)
        pass
    return EXIT_BROKEN_PIPE


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

"""The ``sosrelax`` command.

Exit codes
----------
``sosrelax solve``: 0 a bound was proven, 1 no bound proven (infeasible/unbounded/inaccurate relaxation),
2 bad input.  ``sosrelax check``: 0 verified, 1 rejected, 2 unreadable.  ``sosrelax certify``: 0 certified,
10 falsified, 20 unknown, 2 bad input.  ``sosrelax batch``: 0 every claim certified, 10 at least one
falsified, 20 otherwise (some unknown, error or timeout), 2 bad input; ``sosrelax batch export``: 0.  Errors go to stderr as one line, without a traceback unless
``--debug`` is given.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import Any

from sosrelax.errors import ParseError, SosrelaxError

__all__ = ["main"]

EXIT_OK = 0
EXIT_NEGATIVE = 1
EXIT_INPUT = 2
EXIT_CERTIFIED = 0
EXIT_FALSIFIED = 10
EXIT_UNKNOWN = 20


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
    s.add_argument("--relaxation", choices=["sos", "sdp"], default=None)
    s.add_argument("--level", type=int, default=None)
    s.add_argument("--solver", default=None)
    s.add_argument("--certificate", metavar="PATH", help="write the verified certificate here")
    s.add_argument("--json", action="store_true", help="print the result as JSON")

    c = sub.add_parser("check", help="check a certificate file with the independent exact checker")
    c.add_argument("certificate", help="certificate file (JSON)")
    c.add_argument("--json", action="store_true", help="print the report as JSON")

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

    pf = read_problem_file(args.problem)
    rel = pf.relaxation
    res = sr.solve(
        pf.problem,
        relaxation=args.relaxation or rel.get("kind", "sos"),
        level=args.level if args.level is not None else rel.get("level"),
        solver=args.solver or rel.get("solver", "clarabel"),
        time_limit=rel.get("time_limit"),
    )
    if args.certificate and res.certificate is not None and res.certified:
        res.certificate.save(args.certificate)
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
            if res.certified:
                print(f"certificate written to {args.certificate}")
            else:
                print("no verified certificate: nothing written", file=sys.stderr)
    return EXIT_OK if res.bound is not None else EXIT_NEGATIVE


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


def _check(args: argparse.Namespace) -> int:
    from sosrelax.certificate import check_any
    from sosrelax.certificate.format import Certificate
    from sosrelax.certificate.sdp import SDPCertificate
    from sosrelax.errors import CertificateFormatError

    try:
        cert: Any = Certificate.load(args.certificate)
    except (CertificateFormatError, OSError) as e:
        try:  # an SDPA dual-bound certificate?
            cert = SDPCertificate.load(args.certificate)
        except (CertificateFormatError, OSError):
            if args.json:
                print(json.dumps({"status": "unreadable", "reason": str(e)}, sort_keys=True))
            else:
                print(f"sosrelax: {args.certificate}: unreadable: {e}", file=sys.stderr)
            return EXIT_INPUT
    report = check_any(cert)
    kind = getattr(cert, "kind", "sdpa_dual_bound")
    if args.json:
        print(
            json.dumps(
                {
                    "status": report.status.value,
                    "valid": report.valid,
                    "bound": None if report.bound is None else str(report.bound),
                    "bound_float": None if report.bound is None else float(report.bound),
                    "claimed_bound": None
                    if report.claimed_bound is None
                    else str(report.claimed_bound),
                    "kind": kind,
                    "reason": report.reason,
                },
                indent=2,
                sort_keys=True,
            )
        )
    else:
        if report.valid:
            what = (
                "infeasibility"
                if kind == "infeasible"
                else f"{kind.replace('_', ' ')} {report.bound_float:.12g}"
            )
            print(f"verified: {what}  ({report.reason})")
        else:
            print(f"rejected: {report.reason}")
    return EXIT_OK if report.valid else EXIT_NEGATIVE


def _certify(args: argparse.Namespace) -> int:
    from sosrelax.certify import certify
    from sosrelax.problem import Claim
    from sosrelax.problemfile import parse_relation, read_problem_file

    pf = read_problem_file(args.problem)
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
            _write_atomic(
                args.counterexample, json.dumps(verdict.counterexample, indent=2, sort_keys=True)
            )
    if verdict.certificate is not None and args.certificate:
        verdict.certificate.save(args.certificate)
        print(f"certificate written to {args.certificate}")
    return {"certified": EXIT_CERTIFIED, "falsified": EXIT_FALSIFIED}.get(
        verdict.status.value, EXIT_UNKNOWN
    )


def _write_atomic(path: str, text: str) -> None:
    import os
    import tempfile

    d = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=d, prefix=".tmp-")
    with os.fdopen(fd, "w") as fh:
        fh.write(text + "\n")
    os.replace(tmp, path)


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
                "verify": _nn_verify, "supports": _nn_supports}
    if args.command not in handlers:
        parser.print_help(sys.stderr)
        return EXIT_INPUT
    try:
        return handlers[args.command](args)
    except SosrelaxError as e:
        if args.debug:
            raise
        print(f"sosrelax: error: {e}", file=sys.stderr)
        return EXIT_INPUT
    except KeyboardInterrupt:
        print("sosrelax: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

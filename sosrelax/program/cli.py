"""``sosrelax check`` for SOS program certificates (format ``"sosrelax-sos-program"``)."""

from __future__ import annotations

import argparse
import json
import sys

__all__ = ["run_check_program"]

#: Exit codes of ``sosrelax check``: verified, rejected, unreadable input.
EXIT_VERIFIED, EXIT_REJECTED, EXIT_INPUT = 0, 1, 2


def run_check_program(args: argparse.Namespace, data: bytes) -> int:
    """Check an SOS program certificate given as bytes; print the verdict (``--json``: one JSON object).

    Returns 0 when the checker verified it, 1 when it refused it, 2 when the file is unreadable or
    ``--problem`` was given (which applies to polynomial bound certificates only).
    """
    from sosrelax.certificate.program_check import check_program_certificate
    from sosrelax.certificate.program_format import ProgramCertificate
    from sosrelax.errors import CertificateFormatError

    def unreadable(why: str) -> int:
        if args.json:
            print(json.dumps({"status": "unreadable", "reason": why, "kind": "sos_program"}, sort_keys=True))
        else:
            print(f"sosrelax: {args.certificate}: unreadable: {why}", file=sys.stderr)
        return EXIT_INPUT

    if getattr(args, "problem", None):
        return unreadable("--problem applies to polynomial bound certificates; an SOS program certificate "
                          "states its own constraints")
    try:
        cert = ProgramCertificate.from_json(data)
    except (CertificateFormatError, ValueError, TypeError, RecursionError, MemoryError) as e:
        return unreadable(str(e))
    report = check_program_certificate(cert)
    if args.json:
        print(json.dumps({"status": report.status.value, "valid": report.valid, "kind": "sos_program",
                          "sense": report.sense, "objective": None if report.objective is None
                          else str(report.objective), "over_limit": report.over_limit,
                          "reason": report.reason}, indent=2, sort_keys=True))
    else:
        print(f"program  : {len(cert.variables)} variables, {len(cert.decisions)} unknowns, "
              f"{len(cert.sos)} SOS constraints ({cert.objective.sense})")
        print(("verified" if report.valid else "rejected") + f": {report.reason}")
    if report.over_limit:
        return EXIT_INPUT
    return EXIT_VERIFIED if report.valid else EXIT_REJECTED

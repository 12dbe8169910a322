"""Certificates: the exact file format, the independent checker, and float-to-exact rounding.

``format`` reads and writes certificate files; ``check`` proves (or refuses) what a certificate
claims using exact arithmetic only; ``rational`` turns a floating-point certificate into an exact
one that the checker can accept (it is not trusted: its output goes through the checker).
"""

from typing import Any

from sosrelax.certificate.check import CheckReport, CheckStatus, check_certificate, prove_psd
from sosrelax.certificate.format import (
    DEFAULT_LIMITS,
    FORMAT_NAME,
    FORMAT_VERSION,
    Certificate,
    EqualityMultiplier,
    Limits,
    ProductMultiplier,
    RationalMatrix,
    SOSMultiplier,
    Terms,
    gram_from_array,
    terms_from_arrays,
)
from sosrelax.certificate.proof_tree import ProofReport, ProofTree, check_proof_tree
from sosrelax.certificate.rational import rationalize
from sosrelax.certificate.sdp import SDPCertificate
from sosrelax.certificate.sdpcheck import SDPCheckReport, check_sdp_certificate
from sosrelax.certificate.sdpround import SDPBoundResult, prove_sdpa_bound


def check_any(cert: object) -> Any:
    """Check a certificate of any kind: a polynomial (Positivstellensatz) certificate, an SDPA
    dual-bound certificate or an SOS-program certificate, given as an object or a file path.  Never
    raises on a bad proof.

    A path is read once, at most ``DEFAULT_LIMITS.max_file_bytes`` bytes, and its JSON nesting
    is bounded before it is parsed to find its kind."""
    import json
    import os

    from sosrelax.certificate.format import read_limited
    from sosrelax.certificate.jsonlimits import nesting_depth
    from sosrelax.certificate.program_check import check_program_certificate
    from sosrelax.certificate.program_format import PROGRAM_FORMAT_NAME, ProgramCertificate

    if isinstance(cert, SDPCertificate):
        return check_sdp_certificate(cert)
    if isinstance(cert, ProgramCertificate):
        return check_program_certificate(cert)
    if isinstance(cert, (str, os.PathLike)):
        try:
            _, data = read_limited(cert, DEFAULT_LIMITS)
            if nesting_depth(data) <= DEFAULT_LIMITS.max_depth:
                doc = json.loads(data)
                if isinstance(doc, dict) and doc.get("kind") == "sdpa_dual_bound":
                    return check_sdp_certificate(cert)
                if isinstance(doc, dict) and doc.get("format") == PROGRAM_FORMAT_NAME:
                    return check_program_certificate(cert)
        except (OSError, ValueError, RecursionError):
            pass  # the regular reader reports what is wrong with the file
    return check_certificate(cert)  # type: ignore[arg-type]


__all__ = [
    "DEFAULT_LIMITS",
    "FORMAT_NAME",
    "FORMAT_VERSION",
    "Certificate",
    "CheckReport",
    "CheckStatus",
    "EqualityMultiplier",
    "Limits",
    "ProductMultiplier",
    "ProofReport",
    "ProofTree",
    "RationalMatrix",
    "SOSMultiplier",
    "Terms",
    "SDPBoundResult",
    "SDPCertificate",
    "SDPCheckReport",
    "check_any",
    "check_certificate",
    "check_proof_tree",
    "check_sdp_certificate",
    "gram_from_array",
    "prove_psd",
    "prove_sdpa_bound",
    "rationalize",
    "terms_from_arrays",
]

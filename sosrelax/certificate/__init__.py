"""Certificates: the exact file format, the independent checker, and float-to-exact rounding.

``format`` reads and writes certificate files; ``check`` proves (or refuses) what a certificate
claims using exact arithmetic only; ``rational`` turns a floating-point certificate into an exact
one that the checker can accept (it is not trusted: its output goes through the checker).
"""

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
from sosrelax.certificate.rational import rationalize

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
    "RationalMatrix",
    "SOSMultiplier",
    "Terms",
    "check_certificate",
    "gram_from_array",
    "prove_psd",
    "rationalize",
    "terms_from_arrays",
]

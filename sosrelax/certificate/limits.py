"""Size limits of the certificate readers, and reading a file under them.

Certificate files are untrusted input: every limit here is enforced before anything proportional
to the content is allocated.  Only the standard library is imported, so the independent checker
can rely on this module.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from sosrelax.errors import CertificateFormatError

__all__ = ["DEFAULT_LIMITS", "Limits", "read_limited"]


@dataclass(frozen=True)
class Limits:
    """Size limits enforced by the reader before allocation.

    Attributes
    ----------
    max_file_bytes : int
        Largest accepted file (or byte string).
    max_variables : int
        Largest number of variables.
    max_terms : int
        Largest number of terms in one polynomial.
    max_gram_order : int
        Largest Gram matrix order (the matrix has ``order**2`` entries).
    max_digits : int
        Largest number of characters in one number string ``"p/q"``.
    max_depth : int
        Deepest JSON nesting of arrays and objects.
    max_items : int
        Largest number of constraints, multipliers or products in one list.
    max_exponent : int
        Largest single exponent.
    max_degree : int
        Largest total degree of any polynomial the checker forms: the problem's polynomials, each
        :math:`b^T Q b` and :math:`\\sigma_i g_i`, each product :math:`\\prod_i g_i^{a_i}`, each
        :math:`\\lambda_j h_j` and every polynomial after the change of variables.
    max_work : int
        Largest estimated number of exact coefficient products needed to expand the identity
        (Gram forms, multiplier products, constraint products, the change of variables).
    max_ldl_work : int
        Largest work of one exact :math:`LDL^T` (counted while it runs: :math:`12 m^2 b` per
        elimination step on an :math:`m \\times m` block with a :math:`b`-bit pivot, about
        :math:`k^4 b` for a dense order-:math:`k` matrix; about 1 ns per unit); a matrix whose
        semidefiniteness only a longer factorisation could prove is refused.

    Notes
    -----
    The limits bound the resources a check may use; they never decide soundness.  A certificate
    over a limit is refused (the checker says which limit and by how much), never accepted
    without its proof.  The same limits apply to certificates read from files and to
    :class:`Certificate` objects built in memory.
    """

    max_file_bytes: int = 256 * 2**20
    max_variables: int = 10_000
    max_terms: int = 1_000_000
    max_gram_order: int = 5_000
    max_digits: int = 4_000
    max_depth: int = 8
    max_items: int = 100_000
    max_exponent: int = 10_000
    max_degree: int = 1_000
    max_work: int = 20_000_000
    max_ldl_work: int = 500_000_000


DEFAULT_LIMITS = Limits()


def read_limited(path: str | os.PathLike[str], limits: Limits) -> tuple[Path, bytes]:
    """The bytes of a certificate file, at most ``limits.max_file_bytes`` of them.

    The size is checked before the file is read, and the read itself stops one byte past the
    limit, so a device or pipe that never ends (``/dev/zero``) or a file that grows while it is
    read is refused instead of exhausting memory.

    Raises
    ------
    CertificateFormatError
        When the file cannot be read or is over the limit.
    """
    p = Path(path)
    cap = limits.max_file_bytes
    try:
        size = p.stat().st_size
        if size > cap:
            raise CertificateFormatError(
                f"{p}: file has {size} bytes, over the limit of {cap}; raise "
                "Limits.max_file_bytes if the file is trusted"
            )
        with p.open("rb") as fh:
            data = fh.read(cap + 1)
    except OSError as e:
        raise CertificateFormatError(f"{p}: cannot read certificate file ({e})") from e
    if len(data) > cap:
        raise CertificateFormatError(
            f"{p}: more than {cap} bytes, over the limit; raise Limits.max_file_bytes if the "
            "file is trusted"
        )
    return p, data

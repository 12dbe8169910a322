"""sosrelax: prove worst-case properties of polynomial models with moment–SOS relaxations.

The public API (see the README and docs/):

>>> import sosrelax as sr
>>> x, y = sr.variables("x y")
>>> res = sr.solve(sr.Problem(minimize=x**2 - 2*x*y + 2*y**2 + 1), relaxation="sos", level=1)
>>> res.status.value, round(res.bound, 6)
('optimal', 1.0)
"""

from __future__ import annotations

from sosrelax import dynamics, errors
from sosrelax.adversary.pseudo import PseudoDistribution
from sosrelax.api import solve
from sosrelax.batch import BatchResult, BatchStatus, DeferredClaim, certify_many
from sosrelax.certificate import check_any as check_certificate
from sosrelax.certificate.check import CheckReport
from sosrelax.certificate.format import Certificate
from sosrelax.certify import Verdict, VerdictStatus, certify
from sosrelax.errors import (
    BackendNotAvailableError,
    CertificateFormatError,
    InvalidOperationError,
    InvalidValueError,
    ParseError,
    SizeLimitError,
    SosrelaxError,
    UnknownVariableError,
)
from sosrelax.poly import Constraint, ConstraintKind, Polynomial, monomial_basis, variables
from sosrelax.problem import Claim, Problem, Sense, ball, box, hypercube, simplex
from sosrelax.program import ProgramResult, SOSProgram, poly_variable, sos, sos_matrix
from sosrelax.result import SolveResult, Status

__version__ = "0.1.0"

__all__ = [
    "BackendNotAvailableError",
    "BatchResult",
    "BatchStatus",
    "Certificate",
    "CertificateFormatError",
    "CheckReport",
    "Claim",
    "Constraint",
    "ConstraintKind",
    "DeferredClaim",
    "InvalidOperationError",
    "InvalidValueError",
    "ParseError",
    "ProgramResult",
    "PseudoDistribution",
    "Polynomial",
    "Problem",
    "Sense",
    "SOSProgram",
    "SizeLimitError",
    "SolveResult",
    "SosrelaxError",
    "Status",
    "UnknownVariableError",
    "Verdict",
    "VerdictStatus",
    "__version__",
    "ball",
    "box",
    "certify",
    "certify_many",
    "check_certificate",
    "dynamics",
    "errors",
    "hypercube",
    "monomial_basis",
    "poly_variable",
    "simplex",
    "solve",
    "sos",
    "sos_matrix",
    "variables",
]

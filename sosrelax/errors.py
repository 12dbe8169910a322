"""Exceptions raised for bad *input*.

Mathematical outcomes (infeasible, unbounded, inaccurate solve, rejected certificate, no atoms found)
are returned as statuses, never raised.  Everything raised here derives from :class:`SosrelaxError`
and also from the matching builtin so that ``except ValueError`` keeps working.
"""

from __future__ import annotations


class SosrelaxError(Exception):
    """Base class of every error sosrelax raises on purpose."""


class ParseError(SosrelaxError, ValueError):
    """A string, file or expression could not be read; the message names the culprit."""


class UnknownVariableError(SosrelaxError, KeyError):
    """A polynomial mentions a variable the problem does not declare."""

    def __str__(self) -> str:  # KeyError quotes its argument; keep the message readable
        return str(self.args[0]) if self.args else ""


class InvalidValueError(SosrelaxError, ValueError):
    """A number is NaN/Inf, a degree is absurd, a dimension does not match."""


class SizeLimitError(SosrelaxError, ValueError):
    """A request would allocate more than the configured limit; refused before allocation."""


class BackendNotAvailableError(SosrelaxError, ImportError):
    """A solver backend is not installed or not licensed; the message says how to get it."""


class CertificateFormatError(SosrelaxError, ValueError):
    """A certificate file is unreadable: bad JSON, wrong schema, unknown version, oversized."""


class InvalidOperationError(SosrelaxError, TypeError):
    """An operation that has no meaning for the objects involved.

    Dividing by a polynomial, using a constraint as a truth value (``if p == q:``), passing a
    polynomial where a constraint is expected.  The message says what was given and what to write
    instead.
    """

"""Claims as plain, picklable data: what travels to a worker and what the result key is made of.

:class:`ClaimSpec` holds a claim's polynomials as exponent rows and float64 coefficients (exact, so the claim
rebuilds bit for bit and its canonical form, with hexadecimal coefficients, identifies it); a
:class:`DeferredClaim` is built inside the worker; a :class:`NetworkInstance` is verified there by
:func:`sosrelax.nn.verify`.  :class:`Task` bundles one of them with the settings and limits a worker needs.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import numpy as np

from sosrelax.errors import InvalidValueError
from sosrelax.poly import Constraint, ConstraintKind, Polynomial
from sosrelax.problem import Claim

__all__ = ["BatchItem", "BatchStatus", "ClaimSpec", "DeferredClaim", "NetworkInstance", "Task"]


class BatchStatus(StrEnum):
    """Outcome of one claim of a batch.

    ``CERTIFIED``, ``FALSIFIED``, ``UNKNOWN``: the verdict of :func:`sosrelax.certify.certify`.
    ``ERROR``: the claim could not be run to a verdict (bad input, crash, out of memory).
    ``TIMEOUT``: its worker exceeded the wall-clock limit and was killed.
    """

    CERTIFIED = "certified"
    FALSIFIED = "falsified"
    UNKNOWN = "unknown"
    ERROR = "error"
    TIMEOUT = "timeout"


_PolyData = tuple[tuple[tuple[int, ...], ...], tuple[float, ...]]


def _poly_data(p: Polynomial) -> _PolyData:
    return tuple(map(tuple, p.exps.tolist())), tuple(p.coefs.tolist())


def _poly_from(data: _PolyData, names: Sequence[str]) -> Polynomial:
    exps, coefs = data
    e = np.array(exps, dtype=np.int64).reshape(len(coefs), len(names))
    return Polynomial(e, np.array(coefs, dtype=np.float64), names)


def _poly_canonical(data: _PolyData) -> dict[str, Any]:
    return {"exps": [list(r) for r in data[0]], "coefs": [float.hex(c) for c in data[1]]}


@dataclass(frozen=True)
class ClaimSpec:
    """A claim as plain, picklable data: exact enough to rebuild the same claim bit for bit.

    The claim ``p(x) >= 0`` (``> 0`` if ``strict``) for every ``x`` with ``g_i(x) >= 0`` (``> 0`` where
    ``strict_inequalities[i]``) and ``h_j(x) == 0``; every polynomial is given by its exponent rows over
    ``variables`` and its float64 coefficients, in the canonical order of :class:`~sosrelax.poly.Polynomial`.
    """

    variables: tuple[str, ...]
    margin: _PolyData
    strict: bool
    inequalities: tuple[_PolyData, ...]
    strict_inequalities: tuple[bool, ...]
    equalities: tuple[_PolyData, ...]

    @classmethod
    def from_claim(cls, claim: Claim) -> ClaimSpec:
        """The spec of ``claim`` (its normalised form ``p >= 0`` on ``K``)."""
        pr = claim.problem
        return cls(
            variables=tuple(pr.variables),
            margin=_poly_data(claim.margin_poly),
            strict=claim.strict,
            inequalities=tuple(_poly_data(g) for g in pr.inequalities),
            strict_inequalities=tuple(bool(s) for s in pr.strict),
            equalities=tuple(_poly_data(h) for h in pr.equalities),
        )

    def to_claim(self) -> Claim:
        """Rebuild the claim; its polynomials equal the original ones exactly."""
        names = list(self.variables)
        p = _poly_from(self.margin, names)
        cons = [
            Constraint(_poly_from(g, names), ConstraintKind.GT if s else ConstraintKind.GE)
            for g, s in zip(self.inequalities, self.strict_inequalities, strict=True)
        ]
        cons += [Constraint(_poly_from(h, names), ConstraintKind.EQ) for h in self.equalities]
        stmt = Constraint(p, ConstraintKind.GT if self.strict else ConstraintKind.GE)
        return Claim(stmt, subject_to=cons, variables=names)

    def canonical(self) -> dict[str, Any]:
        """A JSON-able description with coefficients in hexadecimal (exact; the basis of the result key)."""
        return {
            "variables": list(self.variables),
            "margin": _poly_canonical(self.margin),
            "strict": self.strict,
            "inequalities": [_poly_canonical(g) for g in self.inequalities],
            "strict_inequalities": list(self.strict_inequalities),
            "equalities": [_poly_canonical(h) for h in self.equalities],
        }


@dataclass(frozen=True)
class DeferredClaim:
    """A claim that is built inside the worker: ``build(*args)`` must return a :class:`~sosrelax.Claim`.

    ``build`` and ``args`` must be picklable (a module-level function, or a :func:`functools.partial` of one).
    The result key is made from ``key`` when given, else from the function's qualified name and ``repr(args)``:
    give ``key`` whenever ``repr(args)`` does not identify the claim (e.g. a file whose content may change).
    """

    build: Callable[..., Claim]
    args: tuple[Any, ...] = ()
    key: str | None = None

    def identity(self) -> str:
        """The text hashed into the result key."""
        if self.key is not None:
            return self.key
        fn = self.build
        name = f"{getattr(fn, '__module__', '?')}.{getattr(fn, '__qualname__', repr(fn))}"
        return f"{name}{self.args!r}"


@dataclass(frozen=True)
class NetworkInstance:
    """A neural-network property (an ONNX model and a VNN-LIB specification), verified in the worker by
    :func:`sosrelax.nn.verify`: ``unsat`` (every certificate checked) becomes *certified*, ``sat`` (a
    counterexample re-executed exactly) *falsified*.  With ``envelope_path`` (an activation envelope
    file, :mod:`sosrelax.nn.latent`) it is a latent claim, decided by
    :func:`~sosrelax.nn.latent.verify_latent` over the envelope's hidden states instead of the input
    box.  The result key hashes the files' contents."""

    onnx_path: str
    vnnlib_path: str
    envelope_path: str | None = None

    def identity(self) -> str:
        """The text hashed into the result key: the files' SHA-256."""
        import hashlib

        digests = []
        paths = (self.onnx_path, self.vnnlib_path) + ((self.envelope_path,) if self.envelope_path else ())
        for p in paths:
            h = hashlib.sha256()
            with open(p, "rb") as fh:
                while chunk := fh.read(1 << 20):
                    h.update(chunk)
            digests.append(h.hexdigest())
        return "network:" + ":".join(digests)


@dataclass(frozen=True)
class BatchItem:
    """One entry of a batch: a name, a claim (or a network instance), and optionally its own time limit (s)."""

    name: str
    claim: Claim | DeferredClaim | NetworkInstance
    time_limit: float | None = None


@dataclass(frozen=True)
class Task:
    """What a worker needs to settle one claim (picklable)."""

    key: str
    name: str
    spec: ClaimSpec | None
    deferred: DeferredClaim | None
    certify_kwargs: dict[str, Any]
    memory_limit: int | None
    wall_limit: float
    isolate: bool = True
    network: NetworkInstance | None = None

    def build_claim(self) -> Claim:
        """The claim to settle (rebuilt from its spec, or built by the deferred callable)."""
        if self.spec is not None:
            return self.spec.to_claim()
        assert self.deferred is not None
        claim = self.deferred.build(*self.deferred.args)
        if not isinstance(claim, Claim):
            raise InvalidValueError(
                f"the deferred claim {self.name!r} built {type(claim).__name__}, expected a sosrelax.Claim"
            )
        return claim

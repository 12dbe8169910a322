"""The recorded outcome of one claim of a batch (one row of the result store)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sosrelax.batch.claims import BatchStatus
from sosrelax.store import ResultStore

__all__ = ["BatchResult"]


@dataclass(frozen=True)
class BatchResult:
    """The recorded outcome of one claim of a batch (one row of the store).

    Attributes
    ----------
    name : str
    key : str
        Content hash of the claim and of the verdict-deciding settings (hex SHA-256).
    status : BatchStatus
    bound : float or None
        Best proven lower bound on ``min_K p`` (``inf`` when ``K`` was proven empty).
    attack_value : float or None
        Smallest ``p`` found at an exactly feasible point.
    counterexample : dict or None
        Variable name → value for a ``falsified`` claim (exactly re-checked in the worker).
    certificate_path, counterexample_path : Path or None
        Files next to the store (a certificate is the verified one behind ``certified``).
    message : str
    error : str or None
        What went wrong for ``error`` / ``timeout``.
    solve_time_s : float or None
        Time of ``certify`` inside the worker.
    wall_time_s : float or None
        From handing the claim to a worker to receiving its result (isolation and transport included).
    resumed : bool
        ``True`` when the result was read from the store rather than computed by this call.
    """

    name: str
    key: str
    status: BatchStatus
    bound: float | None
    attack_value: float | None
    counterexample: dict[str, float] | None
    certificate_path: Path | None
    counterexample_path: Path | None
    message: str
    error: str | None = None
    solve_time_s: float | None = None
    wall_time_s: float | None = None
    resumed: bool = False

    @property
    def settled(self) -> bool:
        """``True`` for ``certified`` and ``falsified``."""
        return self.status in (BatchStatus.CERTIFIED, BatchStatus.FALSIFIED)

    def load_certificate(self) -> Any:
        """The certificate file as a :class:`~sosrelax.certificate.format.Certificate`, or ``None``."""
        if self.certificate_path is None:
            return None
        from sosrelax.certificate.format import Certificate

        return Certificate.load(self.certificate_path)

    def __repr__(self) -> str:
        b = "-" if self.bound is None else f"{self.bound:.8g}"
        extra = " (stored)" if self.resumed else ""
        return f"BatchResult({self.name!r}: {self.status.value}, bound {b}{extra}: {self.message})"

    @classmethod
    def from_row(cls, row: Mapping[str, Any], store: ResultStore, resumed: bool) -> BatchResult:
        """The result of a store row (file paths resolved against ``store``)."""
        cx = row.get("counterexample")
        return cls(
            name=row["name"],
            key=row["key"],
            status=BatchStatus(row["status"]),
            bound=row["bound"],
            attack_value=row["attack_value"],
            counterexample=json.loads(cx) if isinstance(cx, str) else cx,
            certificate_path=store.resolve(row["certificate_path"]),
            counterexample_path=store.resolve(row["counterexample_path"]),
            message=row["message"],
            error=row["error"],
            solve_time_s=row["solve_time_s"],
            wall_time_s=row["wall_time_s"],
            resumed=resumed,
        )

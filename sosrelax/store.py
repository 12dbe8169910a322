"""``sosrelax.store``: the embedded SQLite store of batch results.

One row per claim, keyed by a content hash of the claim and of the settings that decide its verdict
(see :func:`sosrelax.batch.certify_many`).  Rows are written one transaction each, in SQLite's WAL mode, and
the key is the primary key with ``ON CONFLICT DO NOTHING``: a row is either fully there or absent, and a claim
can never have two rows.  A batch killed at any instant therefore loses at most the claims that were running,
and a re-run computes exactly those.

Certificates and counterexamples are files next to the store, in the folder ``<store stem>.files/``; the row
keeps their paths relative to the store's folder, so a store and its files can be moved together.  Files are
written (to a temporary name, then renamed) *before* the row that names them is committed.
"""

from __future__ import annotations

import csv
import json
import math
import os
import sqlite3
import tempfile
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from sosrelax.errors import InvalidValueError

__all__ = ["COLUMNS", "STORE_FORMAT_VERSION", "ResultStore"]

#: Bumped when the table layout changes; a store of another version is refused, not guessed at.
STORE_FORMAT_VERSION = 1

#: The columns of a result row, in export order.
COLUMNS: tuple[str, ...] = (
    "key",
    "name",
    "status",
    "bound",
    "attack_value",
    "solve_time_s",
    "wall_time_s",
    "started_at",
    "finished_at",
    "certificate_path",
    "counterexample_path",
    "counterexample",
    "message",
    "error",
    "settings",
    "claim",
    "log",
)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS results (
    key                 TEXT PRIMARY KEY,
    name                TEXT NOT NULL,
    status              TEXT NOT NULL,
    bound               REAL,
    attack_value        REAL,
    solve_time_s        REAL,
    wall_time_s         REAL,
    started_at          TEXT,
    finished_at         TEXT,
    certificate_path    TEXT,
    counterexample_path TEXT,
    counterexample      TEXT,
    message             TEXT NOT NULL,
    error               TEXT,
    settings            TEXT NOT NULL,
    claim               TEXT,
    log                 TEXT
) WITHOUT ROWID
"""


class ResultStore:
    """A SQLite file of batch results (one row per claim key) and its folder of proof files.

    Parameters
    ----------
    path : str or PathLike or None
        The database file; created when absent.  ``None`` keeps the results in memory and writes no files.

    Notes
    -----
    Only the process that runs a batch writes to its store (workers return their results to it), so one
    connection suffices; a second process opening the same store concurrently is safe too (WAL mode, a busy
    timeout, and inserts that keep the first row of a key).
    """

    def __init__(self, path: str | os.PathLike[str] | None) -> None:
        self.path: Path | None = None if path is None else Path(path).resolve()
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            target = str(self.path)
        else:
            target = ":memory:"
        try:
            self._db = sqlite3.connect(target, timeout=60.0, isolation_level=None)
            self._db.execute("PRAGMA busy_timeout = 60000")
            if self.path is not None:
                self._db.execute("PRAGMA journal_mode = WAL")
                self._db.execute("PRAGMA synchronous = NORMAL")
            version = self._db.execute("PRAGMA user_version").fetchone()[0]
            tables = self._db.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'results'"
            ).fetchone()
        except sqlite3.DatabaseError as e:
            raise InvalidValueError(
                f"{target}: not a sosrelax result store ({e}); give another --store path"
            ) from e
        if tables is not None and version != STORE_FORMAT_VERSION:
            self._db.close()
            raise InvalidValueError(
                f"{target}: result store format version {version}, this sosrelax writes version "
                f"{STORE_FORMAT_VERSION}; export it with the version that wrote it or use a new store"
            )
        self._db.execute("BEGIN IMMEDIATE")
        try:
            self._db.execute(_SCHEMA)
            self._db.execute(f"PRAGMA user_version = {STORE_FORMAT_VERSION}")
            self._db.execute("COMMIT")
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        if self.files_dir is not None and self.files_dir.is_dir():
            for stale in self.files_dir.glob(".tmp-*"):  # left by a process killed mid-write
                stale.unlink(missing_ok=True)

    # -- files -----------------------------------------------------------------------------------

    @property
    def files_dir(self) -> Path | None:
        """Folder of certificate and counterexample files (``None`` for an in-memory store)."""
        if self.path is None:
            return None
        return self.path.with_name(self.path.stem + ".files")

    def write_file(self, name: str, data: bytes) -> str | None:
        """Write ``data`` atomically as ``files_dir/name``; return the path relative to the store's folder."""
        if self.files_dir is None or self.path is None:
            return None
        self.files_dir.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.files_dir, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, self.files_dir / name)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return os.path.relpath(self.files_dir / name, self.path.parent)

    def resolve(self, relative: str | None) -> Path | None:
        """Absolute path of a file named in a row (``None`` stays ``None``)."""
        if relative is None:
            return None
        if self.path is None:
            return Path(relative)
        return (self.path.parent / relative).resolve()

    # -- rows ------------------------------------------------------------------------------------

    def put(self, row: Mapping[str, Any]) -> bool:
        """Insert one result row in its own transaction; ``False`` if the key already had a row (kept)."""
        values = [_db_value(row.get(c)) for c in COLUMNS]
        self._db.execute("BEGIN IMMEDIATE")
        try:
            cur = self._db.execute(
                f"INSERT INTO results ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))}) "
                "ON CONFLICT(key) DO NOTHING",
                values,
            )
            self._db.execute("COMMIT")
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        return cur.rowcount == 1

    def get_many(self, keys: Iterable[str]) -> dict[str, dict[str, Any]]:
        """The stored rows among ``keys`` (key → row dict); absent keys are left out."""
        out: dict[str, dict[str, Any]] = {}
        keys = list(dict.fromkeys(keys))
        for i in range(0, len(keys), 500):
            chunk = keys[i:i + 500]
            cur = self._db.execute(
                f"SELECT {', '.join(COLUMNS)} FROM results WHERE key IN ({', '.join('?' * len(chunk))})",
                chunk,
            )
            for r in cur:
                out[r[0]] = dict(zip(COLUMNS, r, strict=True))
        return out

    def get(self, key: str) -> dict[str, Any] | None:
        """The row of ``key`` or ``None``."""
        return self.get_many([key]).get(key)

    def delete(self, keys: Sequence[str]) -> int:
        """Delete the rows of ``keys`` in one transaction; return how many were deleted."""
        self._db.execute("BEGIN IMMEDIATE")
        try:
            n = 0
            for i in range(0, len(keys), 500):
                chunk = list(keys[i:i + 500])
                n += self._db.execute(
                    f"DELETE FROM results WHERE key IN ({', '.join('?' * len(chunk))})", chunk
                ).rowcount
            self._db.execute("COMMIT")
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        return n

    def rows(self) -> Iterator[dict[str, Any]]:
        """Every row, ordered by finishing time then name."""
        cur = self._db.execute(
            f"SELECT {', '.join(COLUMNS)} FROM results ORDER BY finished_at, name, key"
        )
        for r in cur.fetchall():
            yield dict(zip(COLUMNS, r, strict=True))

    def counts(self) -> dict[str, int]:
        """Number of rows per status."""
        return dict(self._db.execute("SELECT status, COUNT(*) FROM results GROUP BY status").fetchall())

    def __len__(self) -> int:
        return int(self._db.execute("SELECT COUNT(*) FROM results").fetchone()[0])

    # -- export ----------------------------------------------------------------------------------

    def export_csv(self, path: str | os.PathLike[str]) -> int:
        """Write every row to a CSV file (header = :data:`COLUMNS`); return the number of rows."""
        rows = list(self.rows())
        with _atomic_text(path) as fh:
            w = csv.writer(fh, lineterminator="\n")
            w.writerow(COLUMNS)
            for r in rows:
                w.writerow(["" if r[c] is None else _csv_value(r[c]) for c in COLUMNS])
        return len(rows)

    def export_json(self, path: str | os.PathLike[str] | None = None) -> str:
        """Every row as a JSON array of objects (non-finite numbers as the strings ``"inf"``/``"-inf"``).

        ``settings``, ``counterexample`` and ``log`` are embedded as JSON values, not strings.  Writes the text
        to ``path`` when given and returns it.
        """
        rows = []
        for r in self.rows():
            obj = {c: _json_value(r[c]) for c in COLUMNS}
            for c in ("settings", "counterexample", "log"):
                if isinstance(obj[c], str):
                    obj[c] = json.loads(obj[c])
            rows.append(obj)
        text = json.dumps(rows, indent=2, sort_keys=True, allow_nan=False) + "\n"
        if path is not None:
            with _atomic_text(path) as fh:
                fh.write(text)
        return text

    # -- lifetime --------------------------------------------------------------------------------

    def close(self) -> None:
        """Close the database connection."""
        self._db.close()

    def __enter__(self) -> ResultStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        where = ":memory:" if self.path is None else str(self.path)
        return f"ResultStore({where!r}, {len(self)} rows)"


def _db_value(v: Any) -> Any:
    if isinstance(v, (dict, list, tuple)):
        return json.dumps(v, sort_keys=True)
    return v


def _json_value(v: Any) -> Any:
    if isinstance(v, float) and not math.isfinite(v):
        return "nan" if math.isnan(v) else ("inf" if v > 0 else "-inf")
    return v


def _csv_value(v: Any) -> str:
    return repr(v) if isinstance(v, float) else str(v)


class _atomic_text:
    """Write a text file under a temporary name and rename it into place on success."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)

    def __enter__(self) -> Any:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, self.tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".tmp-")
        self.fh = os.fdopen(fd, "w", newline="")
        return self.fh

    def __exit__(self, exc_type: Any, *exc: object) -> None:
        self.fh.close()
        if exc_type is None:
            os.replace(self.tmp, self.path)
        else:
            Path(self.tmp).unlink(missing_ok=True)

"""Instance lists: a registry of loaders keyed by file suffix (TOML claim lists, VNN-COMP ``instances.csv``)."""

from __future__ import annotations

import os
import tomllib
from collections.abc import Callable
from pathlib import Path

from sosrelax.batch.claims import BatchItem, NetworkInstance
from sosrelax.errors import BackendNotAvailableError, InvalidValueError, ParseError
from sosrelax.problem import Claim
from sosrelax.problemfile import (
    bounds_from_table,
    constraints_from_table,
    parse_relation,
    read_problem_file,
)

__all__ = ["InstanceLoader", "load_instances", "register_loader"]

InstanceLoader = Callable[[Path], list[BatchItem]]

_LOADERS: dict[str, InstanceLoader] = {}


def register_loader(suffix: str, loader: InstanceLoader, *, replace: bool = False) -> None:
    """Make :func:`load_instances` read files ending in ``suffix`` (e.g. ``".toml"``) with ``loader``.

    ``loader(path)`` returns the :class:`BatchItem` list of that file.  An existing suffix is kept unless
    ``replace`` is true.
    """
    suffix = suffix.lower()
    if not suffix.startswith("."):
        raise InvalidValueError(f"suffix {suffix!r} must start with a dot, e.g. '.toml'")
    if suffix in _LOADERS and not replace:
        raise InvalidValueError(f"a loader for {suffix!r} is already registered; pass replace=True")
    _LOADERS[suffix] = loader


def load_instances(path: str | os.PathLike[str]) -> list[BatchItem]:
    """The batch items of a file or folder.

    * a ``.toml`` file: a claims list (``[[claims]]`` tables) or a ``PROBLEM.toml`` with a ``[claim]``;
    * a ``.csv`` file: a VNN-COMP ``instances.csv`` (rows ``onnx, vnnlib, timeout``);
    * a folder: its ``instances.csv`` if it has one, else every file with a registered suffix, sorted by
      name (items are named ``<file stem>/<claim name>`` when a file holds several claims).
    """
    p = Path(path)
    if p.is_dir():
        if (p / "instances.csv").is_file():
            return _LOADERS[".csv"](p / "instances.csv")
        files = sorted(f for f in p.iterdir() if f.is_file() and f.suffix.lower() in _LOADERS)
        if not files:
            raise ParseError(
                f"{p}: no instances found (expected instances.csv or files ending in "
                f"{', '.join(sorted(_LOADERS))})"
            )
        out: list[BatchItem] = []
        for f in files:
            items = _LOADERS[f.suffix.lower()](f)
            if len(items) == 1 and items[0].name == f.stem:
                out.extend(items)
            else:
                out.extend(BatchItem(f"{f.stem}/{it.name}", it.claim, it.time_limit) for it in items)
        return out
    if not p.exists():
        raise ParseError(f"{p}: no such file or folder")
    loader = _LOADERS.get(p.suffix.lower())
    if loader is None:
        raise ParseError(
            f"{p}: unknown instance type {p.suffix!r}; known: {', '.join(sorted(_LOADERS))} "
            "(or a folder of them)"
        )
    return loader(p)


_CLAIM_KEYS = {"name", "statement", "subject_to", "variables", "bounds", "time_limit"}


def _load_toml(path: Path) -> list[BatchItem]:
    """A ``[[claims]]`` list, or a ``PROBLEM.toml`` with a ``[claim]`` section."""
    try:
        with open(path, "rb") as fh:
            data = tomllib.load(fh)
    except tomllib.TOMLDecodeError as e:
        raise ParseError(f"{path}: invalid TOML: {e}") from e
    if "problem" in data:
        pf = read_problem_file(path)
        if pf.claim is None:
            raise ParseError(f"{path}: no [claim] section; add statement = \"f(x) <= t\" under [claim]")
        tl = pf.relaxation.get("time_limit")
        return [BatchItem(path.stem, pf.claim, None if tl is None else float(tl))]
    if set(data) - {"claims", "defaults"} or not isinstance(data.get("claims"), list):
        raise ParseError(
            f"{path}: expected [[claims]] tables (name, statement, subject_to, variables) or a "
            "PROBLEM.toml with [problem] and [claim]"
        )
    defaults = data.get("defaults", {})
    if not isinstance(defaults, dict) or set(defaults) - (_CLAIM_KEYS - {"name", "statement"}):
        raise ParseError(f"{path}: [defaults] may set {sorted(_CLAIM_KEYS - {'name', 'statement'})}")
    out: list[BatchItem] = []
    seen: set[str] = set()
    for i, entry in enumerate(data["claims"]):
        where = f"{path}: claims[{i}]"
        if not isinstance(entry, dict):
            raise ParseError(f"{where} must be a table")
        unknown = set(entry) - _CLAIM_KEYS
        if unknown:
            raise ParseError(f"{where}: unknown key(s) {sorted(unknown)}; expected {sorted(_CLAIM_KEYS)}")
        t = {**defaults, **entry}
        name = str(t.get("name", f"claim-{i}"))
        if name in seen:
            raise ParseError(f"{where}: the name {name!r} is used twice")
        seen.add(name)
        variables = t.get("variables")
        if variables is not None and (not isinstance(variables, list)
                                      or not all(isinstance(v, str) for v in variables)):
            raise ParseError(f"{where}: variables must be a list of names, e.g. [\"x\", \"y\"]")
        if not isinstance(t.get("statement"), str):
            raise ParseError(f"{where}: needs statement = \"f(x) <= t\"")
        statement = parse_relation(t["statement"], variables, f"{where}.statement")
        cons = constraints_from_table(str(path), f"claims[{i}].subject_to", t.get("subject_to", []), variables)
        bounds = bounds_from_table(str(path), t.get("bounds"))
        tl = t.get("time_limit")
        if tl is not None and (not isinstance(tl, (int, float)) or isinstance(tl, bool) or tl <= 0):
            raise ParseError(f"{where}: time_limit must be a positive number of seconds")
        claim = Claim(statement, subject_to=cons, bounds=bounds, variables=variables)
        out.append(BatchItem(name, claim, None if tl is None else float(tl)))
    return out


def _nn_claims_function() -> Callable[[str, str], list[Claim]] | None:
    """The network module's claim builder, or ``None`` when it verifies instances itself (``nn.verify``)."""
    import importlib

    try:
        nn = importlib.import_module("sosrelax.nn")
    except ImportError as e:
        raise BackendNotAvailableError(
            "VNN-COMP instances need sosrelax.nn (neural-network encoding), which this installation does "
            "not have; install a sosrelax with neural-network support"
        ) from e
    if hasattr(nn, "verify") and hasattr(nn, "load_onnx"):
        return None
    fn = getattr(nn, "vnnlib_claims", None)
    if fn is None:
        raise BackendNotAvailableError(
            "sosrelax.nn has no vnnlib_claims(onnx_path, vnnlib_path) -> list[Claim]; "
            "update sosrelax"
        )
    return fn


def _load_vnncomp_csv(path: Path) -> list[BatchItem]:
    """A VNN-COMP ``instances.csv``: ``onnx, vnnlib, timeout`` per row, paths relative to the file."""
    import csv

    rows: list[tuple[Path, Path, float]] = []
    with open(path, newline="") as fh:
        for lineno, row in enumerate(csv.reader(fh), start=1):
            if not row or all(not c.strip() for c in row):
                continue
            if len(row) != 3:
                raise ParseError(f"{path}:{lineno}: expected 3 columns onnx,vnnlib,timeout, got {len(row)}")
            onnx, vnnlib, timeout = (c.strip() for c in row)
            try:
                tl = float(timeout)
            except ValueError as e:
                if lineno == 1:  # a header row
                    continue
                raise ParseError(f"{path}:{lineno}: timeout {timeout!r} is not a number") from e
            if not tl > 0:
                raise ParseError(f"{path}:{lineno}: timeout {timeout!r} must be positive")
            rows.append((path.parent / onnx, path.parent / vnnlib, tl))
    claims_of = _nn_claims_function()
    out: list[BatchItem] = []
    for onnx_path, vnnlib_path, tl in rows:
        base = f"{_stem(onnx_path)}/{_stem(vnnlib_path)}"
        if claims_of is None:  # the network module verifies instances itself
            out.append(BatchItem(base, NetworkInstance(str(onnx_path), str(vnnlib_path)), tl))
            continue
        claims = claims_of(str(onnx_path), str(vnnlib_path))
        for k, c in enumerate(claims):
            out.append(BatchItem(base if len(claims) == 1 else f"{base}#{k}", c, tl))
    return out


def _stem(p: Path) -> str:
    name = p.name
    for suf in (".gz", ".onnx", ".vnnlib"):
        if name.endswith(suf):
            name = name[: -len(suf)]
    return name


register_loader(".toml", _load_toml)
register_loader(".csv", _load_vnncomp_csv)

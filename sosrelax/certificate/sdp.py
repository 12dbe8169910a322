r"""Certificates for plain semidefinite programs in SDPA form: exact dual points, canonical JSON.

For the SDPA pair (see :mod:`sosrelax.sdpa`)

.. math::

    (P)\quad \min_x \sum_i c_i x_i \ \text{ s.t. } X = \sum_i F_i x_i - F_0 \succeq 0, \qquad
    (D)\quad \max_Y F_0 \bullet Y \ \text{ s.t. } F_i \bullet Y = c_i,\ Y \succeq 0,

weak duality is an identity: for every :math:`x` and every symmetric :math:`Y`,

.. math::

    c^T x = F_0 \bullet Y + X \bullet Y + \sum_i x_i \, (c_i - F_i \bullet Y).

So an *exact* :math:`Y \succeq 0` with :math:`F_i \bullet Y = c_i` for every :math:`i` proves
:math:`c^T x \ge F_0 \bullet Y` for every (P)-feasible :math:`x` (because
:math:`X \bullet Y \ge 0`): :math:`F_0 \bullet Y` is a lower bound on (P)'s optimum.  A
certificate of kind ``"sdpa_dual_bound"`` carries the problem data :math:`(c, F_0, \dots, F_m)`
and such a :math:`Y`, all as exact rationals, and the bound :math:`\gamma` it claims;
:mod:`sosrelax.certificate.sdpcheck` recomputes every inner product exactly, proves every block of
:math:`Y` positive semidefinite and reports the bound :math:`F_0 \bullet Y` it proved.

File layout (canonical JSON, like :mod:`sosrelax.certificate.format`: numbers are exact rationals
written as strings ``"p"`` / ``"p/q"``, sorted keys, no whitespace, trailing newline)::

    {"format": "sosrelax-certificate", "version": 1, "kind": "sdpa_dual_bound",
     "problem": {"blocks": [n1, -d2, ...], "c": ["c1", ...],
                 "entries": {"matrix": [...], "block": [...], "row": [...], "col": [...],
                             "value": [...]}},
     "dual": [[[row], ...] for a block n > 0, ["y11", ...] for a diagonal block -d],
     "bound": "gamma", "metadata": {...}}

``entries`` lists the upper triangles of :math:`F_0, \dots, F_m` as SDPA does (``matrix`` 0..m,
``block``, ``row``, ``col`` 1-based, ``row <= col``), sorted by ``(matrix, block, row, col)``,
unique and non-zero, so that one problem has one text.  A PSD block of :math:`Y` is written as
full rows (the checker verifies symmetry); a diagonal block as its diagonal.  The schema is
``sdp_certificate.schema.json`` beside this module; see ``docs/sdp-certificates.md``.

The problem data in a certificate made from an :class:`~sosrelax.sdpa.SDPAProblem` are the exact
values of its binary64 floats (what every solver sees); they differ from the decimal text of an
SDPLIB file by at most half a unit in the last place per entry.

This module imports only the standard library, numpy and the certificate format, so that the
checker can read certificates without loading any solver; the (untrusted) solving and rounding that make
certificates, :func:`sosrelax.certificate.sdpround.prove_sdpa_bound`, live in
:mod:`sosrelax.certificate.sdpround`.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from sosrelax.certificate.format import (
    DEFAULT_LIMITS,
    FORMAT_NAME,
    Limits,
    RationalMatrix,
    canonical_json,
    format_rational,
    parse_rational,
    read_limited,
)
from sosrelax.certificate.jsonlimits import parse_exact_json
from sosrelax.errors import CertificateFormatError, InvalidValueError

__all__ = [
    "SDP_FORMAT_VERSION",
    "SDP_KIND",
    "SDPCertificate",
]

SDP_KIND = "sdpa_dual_bound"
SDP_FORMAT_VERSION = 1

_TOP_FIELDS = {"format", "version", "kind", "problem", "dual", "bound", "metadata"}
_PROBLEM_FIELDS = {"blocks", "c", "entries"}
_ENTRY_FIELDS = ("matrix", "block", "row", "col", "value")


def _frozen_int(a: Any) -> np.ndarray:
    arr = np.array(a, dtype=np.int64).reshape(-1)
    arr.setflags(write=False)
    return arr


@dataclass(frozen=True, eq=False)
class SDPCertificate:
    """An exact dual point of an SDPA problem and the lower bound it claims on (P).

    Attributes
    ----------
    blocks : tuple of int
        SDPA block sizes (negative: a diagonal block of that order).
    c : tuple of Fraction
        The objective of (P), length ``m``.
    mat, block, row, col : ndarray of int64
        Entry ``k`` is :math:`(F_{mat_k})` in block ``block[k]`` at ``(row[k], col[k])``, 0-based
        (``mat`` 0 is :math:`F_0`), ``row <= col``; sorted by ``(mat, block, row, col)``, unique.
    value : tuple of Fraction
        The entries' exact values, none zero.
    dual : tuple of RationalMatrix
        :math:`Y` block by block: ``n x n`` for a PSD block, ``1 x d`` (the diagonal) for a
        diagonal block of order ``d``.
    bound : Fraction
        The claimed :math:`\\gamma \\le F_0 \\bullet Y`: a lower bound on (P)'s optimum (and on
        (D)'s), once the checker has verified it.
    metadata : dict of str to str
        Informational only (instance, solver, method); never trusted.

    Construction validates shapes and canonical order (an :class:`InvalidValueError` names the
    culprit) but proves nothing: only :func:`sosrelax.certificate.sdpcheck.check_sdp_certificate`
    does.
    """

    blocks: tuple[int, ...]
    c: tuple[Fraction, ...]
    mat: np.ndarray
    block: np.ndarray
    row: np.ndarray
    col: np.ndarray
    value: tuple[Fraction, ...]
    dual: tuple[RationalMatrix, ...]
    bound: Fraction
    metadata: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        s = object.__setattr__
        blocks = tuple(int(b) for b in self.blocks)
        if not blocks or any(b == 0 for b in blocks):
            raise InvalidValueError(f"block sizes must be non-zero integers, got {blocks[:10]}")
        s(self, "blocks", blocks)
        s(self, "c", tuple(Fraction(v) for v in self.c))
        for name in ("mat", "block", "row", "col"):
            s(self, name, _frozen_int(getattr(self, name)))
        s(self, "value", tuple(Fraction(v) for v in self.value))
        s(self, "bound", Fraction(self.bound))
        s(self, "metadata", {str(k): str(v) for k, v in self.metadata.items()})
        dual = tuple(self.dual)
        s(self, "dual", dual)
        n = len(self.value)
        mat, blk, r, cc = self.mat, self.block, self.row, self.col
        if any(a.size != n for a in (mat, blk, r, cc)):
            raise InvalidValueError("entry arrays matrix, block, row, col, value differ in length")
        if any(v == 0 for v in self.value):
            raise InvalidValueError("explicit zero entry; canonical certificates omit zeros")
        m = len(self.c)
        if n:
            if int(mat.min()) < 0 or int(mat.max()) > m:
                raise InvalidValueError(f"entry matrix numbers must lie in 0..{m}")
            if int(blk.min()) < 0 or int(blk.max()) >= len(blocks):
                raise InvalidValueError(f"entry block numbers must lie in 1..{len(blocks)}")
            order = np.abs(np.asarray(blocks, dtype=np.int64))[blk]
            if int(r.min()) < 0 or np.any(r > cc) or np.any(cc >= order):
                k = int(np.flatnonzero((r < 0) | (r > cc) | (cc >= order))[0])
                raise InvalidValueError(
                    f"entry {k}: (row, col) = ({r[k] + 1}, {cc[k] + 1}) is not in the upper "
                    f"triangle of block {blk[k] + 1}"
                )
            diag = np.asarray(blocks, dtype=np.int64)[blk] < 0
            if np.any(diag & (r != cc)):
                k = int(np.flatnonzero(diag & (r != cc))[0])
                raise InvalidValueError(f"entry {k}: off-diagonal entry in diagonal block")
            if n > 1:
                key = np.stack([mat, blk, r, cc], axis=1)
                d = np.diff(key, axis=0)
                # lexicographic increase: the first non-zero difference must be positive
                first = np.argmax(d != 0, axis=1)
                lead = d[np.arange(n - 1), first]
                if np.any(lead <= 0):
                    k = int(np.flatnonzero(lead <= 0)[0]) + 1
                    raise InvalidValueError(
                        f"entry {k} is out of (matrix, block, row, col) order or repeated; "
                        "canonical certificates sort their entries"
                    )
        if len(dual) != len(blocks):
            raise InvalidValueError(f"{len(dual)} dual blocks for {len(blocks)} problem blocks")
        for i, (y, b) in enumerate(zip(dual, blocks, strict=True)):
            if not isinstance(y, RationalMatrix):
                raise InvalidValueError(f"dual block {i + 1} must be a RationalMatrix")
            want = (b, b) if b > 0 else (1, -b)
            if y.shape != want:
                raise InvalidValueError(
                    f"dual block {i + 1} has shape {y.shape}, block size {b} needs {want}"
                )

    @property
    def m(self) -> int:
        """Number of constraint matrices :math:`F_1, \\dots, F_m`."""
        return len(self.c)

    # I/O --------------------------------------------------------------------------------------
    def to_json(self) -> bytes:
        """Canonical UTF-8 JSON bytes (sorted keys, compact, trailing newline)."""
        return canonical_json(_obj(self))

    @classmethod
    def from_json(cls, data: bytes | str, *, limits: Limits = DEFAULT_LIMITS) -> SDPCertificate:
        """Parse certificate bytes; raises :class:`CertificateFormatError` naming the field."""
        return _load(data, limits)

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write :meth:`to_json` to ``path``."""
        Path(path).write_bytes(self.to_json())

    @classmethod
    def load(
        cls, path: str | os.PathLike[str], *, limits: Limits = DEFAULT_LIMITS
    ) -> SDPCertificate:
        """Read a certificate file; its size is checked before it is read."""
        p, data = read_limited(path, limits)
        try:
            return _load(data, limits)
        except CertificateFormatError as e:
            raise CertificateFormatError(f"{p}: {e}") from e

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, SDPCertificate):
            return NotImplemented
        return self.to_json() == other.to_json()

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return (
            f"SDPCertificate(m={self.m}, blocks={self.blocks[:6]}"
            f"{'...' if len(self.blocks) > 6 else ''}, nnz={len(self.value)}, "
            f"bound={float(self.bound):.12g})"
        )


# ----------------------------------------------------------------------------------------------
# writer


def _rat(num: int, den: int) -> str:
    g = math.gcd(num, den)
    a, b = num // g, den // g
    return str(a) if b == 1 else f"{a}/{b}"


def _matrix_rows(y: RationalMatrix) -> list[list[str]]:
    num, den = y.numerators, y.denominator
    if num.dtype == np.int64 and den < 2**62:
        g = np.gcd(num, np.int64(den))
        p, q = (num // g).tolist(), (np.int64(den) // g).tolist()
        return [
            [str(a) if b == 1 else f"{a}/{b}" for a, b in zip(pr, qr, strict=True)]
            for pr, qr in zip(p, q, strict=True)
        ]
    return [[_rat(int(v), den) for v in row] for row in num]


def _obj(cert: SDPCertificate) -> dict[str, Any]:
    dual: list[Any] = []
    for y, b in zip(cert.dual, cert.blocks, strict=True):
        rows = _matrix_rows(y)
        dual.append(rows if b > 0 else rows[0])
    return {
        "format": FORMAT_NAME,
        "version": SDP_FORMAT_VERSION,
        "kind": SDP_KIND,
        "problem": {
            "blocks": list(cert.blocks),
            "c": [format_rational(v) for v in cert.c],
            "entries": {
                "matrix": cert.mat.tolist(),
                "block": (cert.block + 1).tolist(),
                "row": (cert.row + 1).tolist(),
                "col": (cert.col + 1).tolist(),
                "value": [format_rational(v) for v in cert.value],
            },
        },
        "dual": dual,
        "bound": format_rational(cert.bound),
        "metadata": dict(cert.metadata),
    }


# ----------------------------------------------------------------------------------------------
# reader


def _obj_fields(v: Any, path: str, required: set[str]) -> dict[str, Any]:
    if not isinstance(v, dict):
        raise CertificateFormatError(f"{path}: expected an object, got {type(v).__name__}")
    missing = required - v.keys()
    if missing:
        raise CertificateFormatError(f"{path}: missing field(s) {sorted(missing)}")
    extra = v.keys() - required
    if extra:
        raise CertificateFormatError(f"{path}: unknown field(s) {sorted(extra)}")
    return v


def _list(v: Any, path: str, max_len: int) -> list[Any]:
    if not isinstance(v, list):
        raise CertificateFormatError(f"{path}: expected an array, got {type(v).__name__}")
    if len(v) > max_len:
        raise CertificateFormatError(f"{path}: {len(v)} entries, over the limit of {max_len}")
    return v


def _int_list(v: Any, path: str, n: int, lo: int, hi: int) -> np.ndarray:
    items = _list(v, path, n)
    if len(items) != n:
        raise CertificateFormatError(f"{path}: {len(items)} entries, expected {n}")
    for i, x in enumerate(items):
        if not isinstance(x, int) or isinstance(x, bool) or not lo <= x <= hi:
            raise CertificateFormatError(
                f"{path}[{i}]: expected an integer in [{lo}, {hi}], got {str(x)[:20]!r}"
            )
    return np.array(items, dtype=np.int64)


def _rationals(items: list[Any], path: str, limits: Limits) -> tuple[list[int], list[int]]:
    nums: list[int] = []
    dens: list[int] = []
    for j, s in enumerate(items):
        if isinstance(s, str) and len(s) <= limits.max_digits and s.isdigit() and (
            s == "0" or s[0] != "0"
        ):
            nums.append(int(s))
            dens.append(1)
        else:
            q = parse_rational(s, f"{path}[{j}]", limits)
            nums.append(q.numerator)
            dens.append(q.denominator)
    return nums, dens


def _matrix(nums: list[int], dens: list[int], shape: tuple[int, int]) -> RationalMatrix:
    den = 1
    for d in set(dens):
        den = math.lcm(den, d)
    num = np.array(
        [a * (den // b) for a, b in zip(nums, dens, strict=True)], dtype=object
    ).reshape(shape)
    if num.size == 0:
        num = np.zeros(shape, dtype=np.int64)
    return RationalMatrix(num, den)


def _dual_block(yb: Any, b: int, path: str, limits: Limits) -> RationalMatrix:
    """One block of ``Y``: full rows for a PSD block of order ``b > 0``, the diagonal when ``b < 0``."""
    if b < 0:
        items = _list(yb, path, -b)
        if len(items) != -b:
            raise CertificateFormatError(f"{path}: {len(items)} entries, diagonal block order is {-b}")
        a, d = _rationals(items, path, limits)
        return _matrix(a, d, (1, -b))
    rows = _list(yb, path, b)
    if len(rows) != b:
        raise CertificateFormatError(f"{path}: {len(rows)} rows, block order is {b}")
    nums: list[int] = []
    dens: list[int] = []
    for r_i, rw in enumerate(rows):
        items = _list(rw, f"{path}[{r_i}]", b)
        if len(items) != b:
            raise CertificateFormatError(
                f"{path}[{r_i}]: {len(items)} entries, block order is {b} "
                "(PSD blocks are written as full rows)"
            )
        a, d = _rationals(items, f"{path}[{r_i}]", limits)
        nums.extend(a)
        dens.extend(d)
    return _matrix(nums, dens, (b, b))


def _load(data: bytes | str, limits: Limits) -> SDPCertificate:
    raw = data.encode("utf-8") if isinstance(data, str) else bytes(data)
    doc = parse_exact_json(raw, max_bytes=limits.max_file_bytes, max_depth=limits.max_depth)
    if not isinstance(doc, dict):
        raise CertificateFormatError("(root): expected a JSON object")
    if doc.get("format") != FORMAT_NAME:
        raise CertificateFormatError(
            f"format: {str(doc.get('format'))[:60]!r} is not {FORMAT_NAME!r}; "
            "this is not a sosrelax certificate"
        )
    if doc.get("kind") != SDP_KIND:
        raise CertificateFormatError(
            f"kind: {str(doc.get('kind'))[:40]!r} is not {SDP_KIND!r}; polynomial certificates "
            "are read by sosrelax.certificate.format.Certificate"
        )
    ver = doc.get("version")
    if ver != SDP_FORMAT_VERSION or isinstance(ver, bool):
        raise CertificateFormatError(
            f"version: {str(ver)[:20]!r} is not supported (this reader knows version "
            f"{SDP_FORMAT_VERSION}); upgrade sosrelax"
        )
    _obj_fields(doc, "(root)", _TOP_FIELDS)
    prob = _obj_fields(doc["problem"], "problem", _PROBLEM_FIELDS)
    blocks_l = _list(prob["blocks"], "problem.blocks", limits.max_items)
    if not blocks_l:
        raise CertificateFormatError("problem.blocks: at least one block is needed")
    order_max = limits.max_gram_order
    blocks = _int_list(blocks_l, "problem.blocks", len(blocks_l), -(2**40), 2**40)
    if np.any(blocks == 0) or np.any(np.abs(blocks) > order_max):
        k = int(np.flatnonzero((blocks == 0) | (np.abs(blocks) > order_max))[0])
        raise CertificateFormatError(
            f"problem.blocks[{k}]: {blocks[k]} is zero or over the order limit {order_max}"
        )
    c_l = _list(prob["c"], "problem.c", limits.max_items)
    cn, cd = _rationals(c_l, "problem.c", limits)
    m = len(c_l)
    ent = prob["entries"]
    if not isinstance(ent, dict):
        raise CertificateFormatError("problem.entries: expected an object")
    _obj_fields(ent, "problem.entries", set(_ENTRY_FIELDS))
    vals = _list(ent["value"], "problem.entries.value", limits.max_terms)
    nnz = len(vals)
    mat = _int_list(ent["matrix"], "problem.entries.matrix", nnz, 0, m)
    blk = _int_list(ent["block"], "problem.entries.block", nnz, 1, len(blocks))
    row = _int_list(ent["row"], "problem.entries.row", nnz, 1, order_max)
    col = _int_list(ent["col"], "problem.entries.col", nnz, 1, order_max)
    vn, vd = _rationals(vals, "problem.entries.value", limits)
    dual_l = _list(doc["dual"], "dual", limits.max_items)
    if len(dual_l) != len(blocks):
        raise CertificateFormatError(
            f"dual: {len(dual_l)} blocks but the problem has {len(blocks)}"
        )
    dual = [
        _dual_block(yb, b, f"dual[{i}]", limits)
        for i, (yb, b) in enumerate(zip(dual_l, blocks.tolist(), strict=True))
    ]
    meta = doc["metadata"]
    if not isinstance(meta, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in meta.items()
    ):
        raise CertificateFormatError("metadata: expected an object of strings")
    if len(meta) > 1000:
        raise CertificateFormatError("metadata: too many entries")
    bound = parse_rational(doc["bound"], "bound", limits)
    try:
        return SDPCertificate(
            blocks=tuple(blocks.tolist()),
            c=tuple(Fraction(a, d) for a, d in zip(cn, cd, strict=True)),
            mat=mat,
            block=blk - 1,
            row=row - 1,
            col=col - 1,
            value=tuple(Fraction(a, d) for a, d in zip(vn, vd, strict=True)),
            dual=tuple(dual),
            bound=bound,
            metadata=dict(meta),
        )
    except InvalidValueError as e:
        raise CertificateFormatError(f"problem/dual: {e}") from e

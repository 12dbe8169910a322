r"""Read and write the SDPA sparse format (``.dat-s``) used by SDPLIB and most SDP solvers.

SDPA's convention (as in SDPLIB's published table)::

    (P)  minimise  Σᵢ cᵢ xᵢ   s.t.  X = Σᵢ Fᵢ xᵢ − F₀ ⪰ 0
    (D)  maximise  F₀ • Y     s.t.  Fᵢ • Y = cᵢ (i = 1..m),  Y ⪰ 0

All matrices share one block-diagonal structure; a negative block size ``−d`` marks a diagonal
block of order ``d``.  The file lists only upper-triangle entries, one per line:
``<matno> <blkno> <i> <j> <value>`` with ``matno`` in ``0..m`` (0 is F₀), indices 1-based.

In the conic standard form (:mod:`sosrelax.conic`) (P) is ``min cᵀx`` s.t. ``A x + s = b`` with
``s = svec(X)``, ``A = −[svec(F₁) … svec(F_m)]`` and ``b = −svec(F₀)``; a diagonal block becomes a
nonnegative cone.  The conic dual ``max −bᵀz`` is then exactly (D) with ``Y = smat(z)``, so both
objectives are directly comparable with SDPLIB's table.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from sosrelax.conic import Cone, ConeKind, ConicProgram, ConicSolution, SolverStatus, svec_indices
from sosrelax.errors import InvalidValueError, ParseError

__all__ = [
    "SDPAProblem",
    "conic_to_sdpa",
    "format_sdpa",
    "objective_in_sdpa_convention",
    "read_sdpa",
    "sdpa_to_conic",
    "write_sdpa",
]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

_PUNCT = str.maketrans({ch: " " for ch in ",(){}"})
_SQRT2 = math.sqrt(2.0)


def _frozen(a: np.ndarray) -> np.ndarray:
    a.setflags(write=False)
    return a


@dataclass(frozen=True, eq=False)
class SDPAProblem:
    """An SDP in SDPA form, stored as a canonical list of upper-triangle entries.

    Attributes
    ----------
    c : ndarray, shape (m,)
        Objective of (P).
    blocks : tuple of int
        Block sizes; negative means a diagonal block of that order.
    mat, block, row, col : ndarray of int, shape (nnz,)
        Entry ``k`` is ``F_{mat[k]}`` in block ``block[k]`` at ``(row[k], col[k])``, all 0-based
        except ``mat`` (0 is F₀, 1..m the constraint matrices); ``row ≤ col``.
    value : ndarray of float, shape (nnz,)
        Entry values (no explicit zeros).  Entries are sorted by ``(mat, block, row, col)`` and
        unique, so equal problems have equal arrays.
    """

    c: FloatArray
    blocks: tuple[int, ...]
    mat: IntArray
    block: IntArray
    row: IntArray
    col: IntArray
    value: FloatArray

    def __post_init__(self) -> None:
        c = np.array(self.c, dtype=np.float64).ravel()
        if not np.all(np.isfinite(c)):
            raise InvalidValueError("SDPA objective c has non-finite entries")
        blocks = tuple(int(k) for k in self.blocks)
        if not blocks or any(k == 0 for k in blocks):
            raise InvalidValueError(f"SDPA block sizes must be non-zero integers, got {blocks}")
        arrays = {
            name: np.array(getattr(self, name), dtype=np.int64).ravel()
            for name in ("mat", "block", "row", "col")
        }
        value = np.array(self.value, dtype=np.float64).ravel()
        n = value.size
        if any(a.size != n for a in arrays.values()):
            raise InvalidValueError(
                "SDPA entry arrays mat, block, row, col, value differ in length"
            )
        if not np.all(np.isfinite(value)):
            raise InvalidValueError("SDPA entries have non-finite values")
        mat, blk, r, cc = arrays["mat"], arrays["block"], arrays["row"], arrays["col"]
        order = np.abs(np.asarray(blocks, dtype=np.int64))
        if n:
            if mat.min() < 0 or mat.max() > c.size:
                raise InvalidValueError(f"SDPA matrix numbers must lie in 0..{c.size}")
            if blk.min() < 0 or blk.max() >= len(blocks):
                raise InvalidValueError(f"SDPA block numbers must lie in 0..{len(blocks) - 1}")
            lo, hi = np.minimum(r, cc), np.maximum(r, cc)
            if lo.min() < 0 or np.any(hi >= order[blk]):
                raise InvalidValueError("SDPA entry index outside its block")
            diag = np.asarray(blocks, dtype=np.int64)[blk] < 0
            if np.any(diag & (lo != hi)):
                raise InvalidValueError("SDPA off-diagonal entry in a diagonal block")
            r, cc = lo, hi
        keep = value != 0.0
        mat, blk, r, cc, value = mat[keep], blk[keep], r[keep], cc[keep], value[keep]
        perm = np.lexsort((cc, r, blk, mat))
        mat, blk, r, cc, value = mat[perm], blk[perm], r[perm], cc[perm], value[perm]
        if value.size > 1:
            same = (
                (np.diff(mat) == 0) & (np.diff(blk) == 0) & (np.diff(r) == 0) & (np.diff(cc) == 0)
            )
            if np.any(same):
                k = int(np.flatnonzero(same)[0])
                raise InvalidValueError(
                    f"SDPA entry F{mat[k]} block {blk[k] + 1} ({r[k] + 1},{cc[k] + 1}) given twice"
                )
        object.__setattr__(self, "c", _frozen(c))
        object.__setattr__(self, "blocks", blocks)
        object.__setattr__(self, "mat", _frozen(mat))
        object.__setattr__(self, "block", _frozen(blk))
        object.__setattr__(self, "row", _frozen(r))
        object.__setattr__(self, "col", _frozen(cc))
        object.__setattr__(self, "value", _frozen(value))

    @property
    def m(self) -> int:
        """Number of constraint matrices (variables of (P))."""
        return int(self.c.size)

    def matrix(self, i: int, block: int) -> sp.csr_matrix:
        """``F_i`` restricted to block ``block`` (0-based) as a full symmetric sparse matrix."""
        if not 0 <= i <= self.m or not 0 <= block < len(self.blocks):
            raise InvalidValueError(
                f"no matrix F{i} block {block} (m={self.m}, {len(self.blocks)} blocks)"
            )
        n = abs(self.blocks[block])
        sel = (self.mat == i) & (self.block == block)
        r, c, v = self.row[sel], self.col[sel], self.value[sel]
        off = r != c
        rows = np.concatenate([r, c[off]])
        cols = np.concatenate([c, r[off]])
        vals = np.concatenate([v, v[off]])
        return sp.csr_matrix((vals, (rows, cols)), shape=(n, n))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, SDPAProblem):
            return NotImplemented
        return (
            self.blocks == other.blocks
            and np.array_equal(self.c, other.c)
            and all(
                np.array_equal(getattr(self, k), getattr(other, k))
                for k in ("mat", "block", "row", "col", "value")
            )
        )

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"SDPAProblem(m={self.m}, blocks={self.blocks}, nnz={self.value.size})"


# ----------------------------------------------------------------------------------------------
# reading
# ----------------------------------------------------------------------------------------------


def _numbered_lines(text: str) -> list[tuple[int, str]]:
    """Non-blank, non-comment lines with their 1-based line numbers."""
    out = []
    for no, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if not stripped or stripped[0] in '"*':
            continue
        out.append((no, stripped))
    return out


def _header_ints(where: str, no: int, line: str, count: int, what: str) -> list[int]:
    tokens = line.translate(_PUNCT).split()
    if len(tokens) < count:
        raise ParseError(
            f"{where}line {no}: expected {count} {what}, found {len(tokens)}: {line!r}"
        )
    try:
        vals = [int(float(t)) if float(t).is_integer() else None for t in tokens[:count]]
    except ValueError as e:
        raise ParseError(f"{where}line {no}: {what} must be integers: {line!r}") from e
    if any(v is None for v in vals):
        raise ParseError(f"{where}line {no}: {what} must be integers: {line!r}")
    return [int(v) for v in vals if v is not None]


def read_sdpa(source: str | os.PathLike[str]) -> SDPAProblem:
    """Read an SDPA sparse file (``.dat-s``), given as a path or as the text itself.

    Comments (lines starting with ``"`` or ``*``), blank lines, the punctuation ``, ( ) { }``
    and trailing text on the three size lines (``2 =mdim``) are accepted as SDPLIB writes
    them.  Lower-triangle entries are mirrored to the upper triangle; explicit zeros are dropped.

    Raises
    ------
    ParseError
        On wrong counts, non-numbers, indices out of range, an off-diagonal entry in a diagonal
        block or an entry given twice; the message names the file and line.
    """
    if isinstance(source, os.PathLike) or ("\n" not in source and Path(source).exists()):
        path = Path(source)
        try:
            text = path.read_text()
        except OSError as e:
            raise ParseError(f"cannot read SDPA file {path}: {e}") from e
        where = f"{path.name}, "
    else:
        text = str(source)
        where = ""
    lines = _numbered_lines(text)
    if len(lines) < 4:
        raise ParseError(
            f"{where}an SDPA file needs m, nblocks, block sizes and c before the entries; "
            f"found only {len(lines)} non-comment lines"
        )
    (no_m, l_m), (no_nb, l_nb), (no_bs, l_bs), (no_c, l_c) = lines[:4]
    m = _header_ints(where, no_m, l_m, 1, "number of matrices m")[0]
    nb = _header_ints(where, no_nb, l_nb, 1, "number of blocks")[0]
    if m < 0 or nb < 1:
        raise ParseError(
            f"{where}line {no_m}-{no_nb}: need m ≥ 0 and nblocks ≥ 1, got m={m}, nblocks={nb}"
        )
    blocks = _header_ints(where, no_bs, l_bs, nb, "block sizes")
    if any(b == 0 for b in blocks):
        raise ParseError(f"{where}line {no_bs}: block sizes must be non-zero: {l_bs!r}")
    ctoks = l_c.translate(_PUNCT).split()
    if len(ctoks) < m:
        raise ParseError(
            f"{where}line {no_c}: expected {m} objective coefficients, found {len(ctoks)}"
        )
    try:
        c = np.array([float(t) for t in ctoks[:m]], dtype=np.float64)
    except ValueError as e:
        raise ParseError(f"{where}line {no_c}: objective coefficients must be numbers: {e}") from e
    if not np.all(np.isfinite(c)):
        raise ParseError(f"{where}line {no_c}: objective coefficients must be finite")

    body = lines[4:]
    nos = np.fromiter((no for no, _ in body), dtype=np.int64, count=len(body))
    toks = [line.translate(_PUNCT).split() for _, line in body]
    for (no, line), t in zip(body, toks, strict=True):
        if len(t) != 5:
            raise ParseError(
                f"{where}line {no}: an entry needs 5 fields <matno> <blkno> <i> <j> <value>, "
                f"found {len(t)}: {line!r}"
            )
    if body:
        flat = np.array(toks, dtype=str).reshape(len(body), 5)
        try:
            idx = flat[:, :4].astype(np.int64)
            val = flat[:, 4].astype(np.float64)
        except ValueError:
            for (no, line), t in zip(body, toks, strict=True):
                try:
                    [int(x) for x in t[:4]]
                    float(t[4])
                except ValueError as e:
                    raise ParseError(f"{where}line {no}: not a number in {line!r}") from e
            raise
    else:
        idx = np.zeros((0, 4), dtype=np.int64)
        val = np.zeros(0)

    def fail(mask: np.ndarray, what: str) -> None:
        if np.any(mask):
            k = int(np.flatnonzero(mask)[0])
            raise ParseError(f"{where}line {nos[k]}: {what}: {body[k][1]!r}")

    fail(~np.isfinite(val), "entry value must be finite")
    mat, blk, i, j = idx.T
    fail((mat < 0) | (mat > m), f"matrix number out of range 0..{m}")
    fail((blk < 1) | (blk > nb), f"block number out of range 1..{nb}")
    sizes = np.asarray(blocks, dtype=np.int64)
    order = np.abs(sizes)[np.clip(blk - 1, 0, nb - 1)]
    fail((i < 1) | (j < 1) | (i > order) | (j > order), "row or column outside its block")
    fail((sizes[blk - 1] < 0) & (i != j), "off-diagonal entry in a diagonal block")
    r, cc = np.minimum(i, j) - 1, np.maximum(i, j) - 1
    keys = np.stack([mat, blk, r, cc], axis=1)
    if keys.shape[0] > 1:
        perm = np.lexsort((cc, r, blk, mat))
        sk = keys[perm]
        dup = np.all(sk[1:] == sk[:-1], axis=1)
        if np.any(dup):
            k = int(np.flatnonzero(dup)[0])
            a, b2 = sorted((int(nos[perm[k]]), int(nos[perm[k + 1]])))
            raise ParseError(
                f"{where}line {b2}: entry already given on line {a}: {text.splitlines()[b2 - 1]!r}"
            )
    return SDPAProblem(c=c, blocks=tuple(blocks), mat=mat, block=blk - 1, row=r, col=cc, value=val)


# ----------------------------------------------------------------------------------------------
# writing
# ----------------------------------------------------------------------------------------------


def format_sdpa(prob: SDPAProblem, *, comment: str | None = None) -> str:
    """The SDPA sparse text of ``prob``; floats use ``repr`` so they read back bit-exact."""
    out: list[str] = []
    if comment:
        out.extend('"' + line for line in comment.splitlines())
    out.append(f"{prob.m} =mdim")
    out.append(f"{len(prob.blocks)} =nblocks")
    out.append("{" + ", ".join(str(b) for b in prob.blocks) + "}")
    out.append(" ".join(repr(float(v)) for v in prob.c))
    cols = zip(
        prob.mat.tolist(),
        (prob.block + 1).tolist(),
        (prob.row + 1).tolist(),
        (prob.col + 1).tolist(),
        prob.value.tolist(),
        strict=True,
    )
    out.extend(f"{a} {b} {i} {j} {v!r}" for a, b, i, j, v in cols)
    return "\n".join(out) + "\n"


def write_sdpa(
    prob: SDPAProblem, path: str | os.PathLike[str], *, comment: str | None = None
) -> None:
    """Write ``prob`` to ``path`` in SDPA sparse format (see :func:`format_sdpa`)."""
    Path(path).write_text(format_sdpa(prob, comment=comment))


# ----------------------------------------------------------------------------------------------
# conversion
# ----------------------------------------------------------------------------------------------


def _block_layout(blocks: tuple[int, ...]) -> tuple[list[Cone], np.ndarray]:
    cones = [Cone(ConeKind.PSD, b) if b > 0 else Cone(ConeKind.NONNEG, -b) for b in blocks]
    starts = np.cumsum([0] + [k.size for k in cones])[:-1]
    return cones, starts


def sdpa_to_conic(prob: SDPAProblem) -> ConicProgram:
    """The conic standard form of (P): ``A = −[svec(F₁) …]``, ``b = −svec(F₀)``, cones by block.

    A block of order ``n > 0`` becomes a PSD cone of order ``n``, a diagonal block ``−d`` a
    nonnegative cone of dimension ``d``, in block order.  The conic primal objective equals (P)'s,
    and the conic dual objective equals (D)'s with ``Y = smat(z)``.
    """
    cones, starts = _block_layout(prob.blocks)
    is_psd = np.asarray(prob.blocks, dtype=np.int64)[prob.block] > 0
    r, c = prob.row, prob.col
    pos = np.where(is_psd, c * (c + 1) // 2 + r, r) + starts[prob.block]
    w = np.where(is_psd & (r != c), _SQRT2, 1.0)
    coef = -w * prob.value
    nrows = int(sum(k.size for k in cones))
    f0 = prob.mat == 0
    b = np.zeros(nrows)
    np.add.at(b, pos[f0], coef[f0])
    A = sp.csc_matrix((coef[~f0], (pos[~f0], prob.mat[~f0] - 1)), shape=(nrows, prob.m))
    return ConicProgram(c=prob.c.copy(), A=A, b=b, cones=tuple(cones))


def conic_to_sdpa(prog: ConicProgram) -> SDPAProblem:
    """Write ``prog`` in SDPA form, when it fits: PSD and nonnegative cones, zero offset.

    A PSD cone becomes a block, a nonnegative cone a diagonal block, and a zero cone of
    dimension ``d`` a diagonal block of order ``2d`` holding ``s ≥ 0`` and ``−s ≥ 0`` (the dual
    multiplier of the equality is the difference of the two halves).  ``sdpa_to_conic`` inverts
    this exactly for programs without zero cones.

    Raises
    ------
    InvalidValueError
        For second-order cones (SDPA has none) or a non-zero offset (SDPA has no constant term).
    """
    if prog.offset != 0.0:
        raise InvalidValueError(
            f"SDPA has no objective constant but the program has offset {prog.offset!r}; "
            "add it back to the objective after solving"
        )
    blocks: list[int] = []
    row_map: list[np.ndarray] = []  # conic row of each SDPA (block, position) row, in order
    signs: list[np.ndarray] = []
    kinds: list[bool] = []  # True for PSD blocks
    for k, sl in zip(prog.cones, prog.cone_slices(), strict=True):
        if k.size == 0:
            continue
        rows = np.arange(sl.start, sl.stop)
        if k.kind is ConeKind.SOC:
            raise InvalidValueError(
                "SDPA format has no second-order cones; rewrite ‖u‖ ≤ t as the PSD arrow "
                "matrix [[t, uᵀ], [u, t I]] ⪰ 0 before exporting"
            )
        if k.kind is ConeKind.PSD:
            blocks.append(k.dim)
            row_map.append(rows)
            signs.append(np.ones(rows.size))
        elif k.kind is ConeKind.NONNEG:
            blocks.append(-k.dim)
            row_map.append(rows)
            signs.append(np.ones(rows.size))
        else:
            blocks.append(-2 * k.dim)
            row_map.append(np.concatenate([rows, rows]))
            signs.append(np.concatenate([np.ones(rows.size), -np.ones(rows.size)]))
        kinds.append(k.kind is ConeKind.PSD)
    if not blocks:
        raise InvalidValueError("the program has no constraint rows; SDPA needs at least one block")
    # every SDPA row (block b, svec or diagonal position p) with its conic row and sign
    blk_ids, local_r, local_c, conic_rows, sign_all, weight = [], [], [], [], [], []
    for bi, (nb, rows, sg, psd) in enumerate(zip(blocks, row_map, signs, kinds, strict=True)):
        if psd:
            rr, cc = svec_indices(nb)
            w = np.where(rr == cc, 1.0, _SQRT2)
        else:
            rr = cc = np.arange(-nb)
            w = np.ones(-nb)
        blk_ids.append(np.full(rows.size, bi))
        local_r.append(rr)
        local_c.append(cc)
        conic_rows.append(rows)
        sign_all.append(sg)
        weight.append(w)
    blk_a = np.concatenate(blk_ids)
    r_a, c_a = np.concatenate(local_r), np.concatenate(local_c)
    crow, sgn, wt = np.concatenate(conic_rows), np.concatenate(sign_all), np.concatenate(weight)
    # F_i entry = −A[row, i] · sign / w ;  F_0 entry = −b[row] · sign / w
    Ar = prog.A.tocsr()[crow].tocoo()
    mats = [np.zeros(crow.size, dtype=np.int64), Ar.col.astype(np.int64) + 1]
    sel = [np.arange(crow.size), Ar.row]
    vals = [-prog.b[crow] * sgn / wt, -Ar.data * sgn[Ar.row] / wt[Ar.row]]
    k_sel = np.concatenate(sel)
    return SDPAProblem(
        c=prog.c.copy(),
        blocks=tuple(blocks),
        mat=np.concatenate(mats),
        block=blk_a[k_sel],
        row=r_a[k_sel],
        col=c_a[k_sel],
        value=np.concatenate(vals),
    )


def objective_in_sdpa_convention(sol: ConicSolution, prob: SDPAProblem) -> float:
    """The objective of ``sol`` (from ``sdpa_to_conic(prob)``) as SDPLIB's table reports it.

    That is (P)'s ``Σ cᵢ xᵢ`` — the conic primal objective — or, without a primal point,
    (D)'s ``F₀ • Y`` — the conic dual objective.  A checked primal-infeasibility certificate
    gives ``+inf`` (the minimum of an empty set), a checked unboundedness certificate ``−inf``.
    """
    if sol.status is SolverStatus.INFEASIBLE:
        return math.inf
    if sol.status is SolverStatus.UNBOUNDED:
        return -math.inf
    if sol.x is not None and sol.x.size != prob.m:
        raise InvalidValueError(
            f"solution has {sol.x.size} variables but the SDPA problem has m = {prob.m}"
        )
    if math.isfinite(sol.primal_objective):
        return float(sol.primal_objective)
    return float(sol.dual_objective)

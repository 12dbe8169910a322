"""The certificate file format: exact, versioned, canonical JSON.

A certificate states the polynomial identity (Putinar / Positivstellensatz form)

.. math::

    \\ell(x) = \\sigma_0(x) + \\sum_i \\sigma_i(x) g_i(x) + \\sum_j \\lambda_j(x) h_j(x)
             + \\sum_k c_k \\prod_i g_i(x)^{a_{ki}},

with :math:`\\ell = f - \\gamma` (``"lower_bound"``), :math:`\\gamma - f` (``"upper_bound"``) or
:math:`-1` (``"infeasible"``), :math:`\\sigma = b(x)^T Q b(x)` with :math:`Q \\succeq 0`,
:math:`\\lambda_j` arbitrary polynomials and :math:`c_k \\ge 0`.  It implies :math:`f \\ge \\gamma`
(resp. :math:`f \\le \\gamma`, resp. :math:`K = \\emptyset`) on
:math:`K = \\{x : g(x) \\ge 0,\\ h(x) = 0\\}`.  This module only reads and writes such objects;
``sosrelax.certificate.check`` decides whether the identity really holds.

Every number in a file is an exact rational written as a string ``"p"`` or ``"p/q"`` (reduced,
``q > 1``); Gram matrices are written as full rows so that the checker can verify symmetry.
The output is canonical: sorted keys, no whitespace, no timestamps, trailing newline, so that
``to_json(from_json(b)) == b``.  The reader refuses unknown formats and versions and enforces
size limits (:class:`Limits`) before it allocates anything proportional to the content.
See ``docs/certificates.md`` for the full specification.
"""


from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from sosrelax.certificate.exactnum import (
    RationalMatrix,
    Terms,
    as_rational_matrix,
    canonical_basis,
    canonical_terms,
    float_toward,
    format_rational,
    gram_from_array,
    gram_json,
    parse_rational,
    terms_from_arrays,
)
from sosrelax.certificate.jsonlimits import parse_exact_json
from sosrelax.certificate.limits import DEFAULT_LIMITS, Limits, read_limited
from sosrelax.errors import CertificateFormatError

FORMAT_NAME = "sosrelax-certificate"
FORMAT_VERSION = 1

KINDS = ("lower_bound", "upper_bound", "infeasible")
CONES = ("psd", "dd", "sdd")
__all__ = [
    "CONES",
    "DEFAULT_LIMITS",
    "FORMAT_NAME",
    "FORMAT_VERSION",
    "KINDS",
    "Certificate",
    "EqualityMultiplier",
    "Limits",
    "ProductMultiplier",
    "RationalMatrix",
    "SOSMultiplier",
    "Terms",
    "canonical_json",
    "canonical_terms",
    "float_toward",
    "format_rational",
    "gram_from_array",
    "parse_rational",
    "read_limited",
    "terms_from_arrays",
]
@dataclass(frozen=True)
class SOSMultiplier:
    """An SOS multiplier :math:`\\sigma(x) = b(x)^T Q b(x)` of inequality ``constraint``.

    Attributes
    ----------
    constraint : int or None
        Index into ``Certificate.inequalities``; ``None`` for :math:`\\sigma_0` (multiplies 1).
    basis : tuple of exponent tuples
        The monomials :math:`b_1, \\dots, b_k`.
    gram : k x k symmetric exact rational matrix
        Reads as ``tuple[tuple[Fraction, ...], ...]``; stored as a :class:`RationalMatrix`.
    cone : {"psd", "dd", "sdd"}
        The cone the producer intended: PSD (SOS), diagonally dominant (DSOS) or scaled
        diagonally dominant (SDSOS).  DD and SDD are subsets of PSD; the checker proves the
        property it needs (nonnegativity of :math:`\\sigma`), trying the cheap DD test first.
    """

    constraint: int | None
    basis: tuple[tuple[int, ...], ...]
    gram: tuple[tuple[Fraction, ...], ...] | RationalMatrix
    cone: str = "psd"

    def __post_init__(self) -> None:
        object.__setattr__(self, "basis", canonical_basis(self.basis))
        object.__setattr__(self, "gram", as_rational_matrix(self.gram))


@dataclass(frozen=True)
class EqualityMultiplier:
    """A polynomial multiplier :math:`\\lambda(x)` of equality ``constraint`` (any sign)."""

    constraint: int
    poly: Terms

    def __post_init__(self) -> None:
        object.__setattr__(self, "poly", canonical_terms(self.poly))


@dataclass(frozen=True)
class ProductMultiplier:
    """A term :math:`c \\prod_{i \\in \\text{constraints}} g_i(x)` with :math:`c \\ge 0`.

    ``constraints`` lists inequality indices (repeats allowed: ``(0, 0)`` is :math:`g_0^2`);
    the empty tuple is the constant 1.  The checker rejects a negative ``coefficient``.
    """

    constraints: tuple[int, ...]
    coefficient: Fraction

    def __post_init__(self) -> None:
        object.__setattr__(self, "constraints", tuple(int(v) for v in self.constraints))
        object.__setattr__(self, "coefficient", Fraction(self.coefficient))


@dataclass(frozen=True)
class Certificate:
    """A self-contained, exactly checkable proof (see the module docstring for the identity).

    Attributes
    ----------
    variables : tuple of str
    kind : {"lower_bound", "upper_bound", "infeasible"}
    objective : Terms
        :math:`f` (empty for ``"infeasible"``).
    bound : Fraction
        The claimed :math:`\\gamma` (0 for ``"infeasible"``).
    inequalities, equalities : tuple of Terms
        :math:`g_i \\ge 0` and :math:`h_j = 0`.
    sos, equality_multipliers, products
        The multipliers.
    box : tuple of (lower, upper) or None
        Per-variable bounds implied by the constraints; the checker verifies the implication
        and then uses the box to absorb residuals and small negative eigenvalues.
    lemmas : tuple of Certificate
        Bound certificates checked first, in order, each over a subset of this certificate's
        constraints (plus the conclusions of earlier lemmas); their conclusions (``f − γ ≥ 0`` for
        a lower bound, ``γ − f ≥ 0`` for an upper bound) may stand among the inequalities here.
    derived : tuple of int
        Indices of the inequalities that are lemma conclusions rather than part of the set; the
        checker verifies each against a proven lemma.  The set the certificate is about is made
        of the other constraints.
    substitution : tuple of (center, scale) or None
        The multipliers are written in the variables ``u`` of the change of variables
        ``x_i = center_i + scale_i * u_i`` (``scale_i > 0``); the checker substitutes it into the
        problem's polynomials itself, exactly.  ``None``: the multipliers are in ``x``.
    metadata : dict of str to str
        Informational only (solver, relaxation, level, expected_bound); never trusted.
    """

    variables: tuple[str, ...]
    kind: str
    objective: Terms
    bound: Fraction
    inequalities: tuple[Terms, ...]
    equalities: tuple[Terms, ...]
    sos: tuple[SOSMultiplier, ...]
    equality_multipliers: tuple[EqualityMultiplier, ...]
    products: tuple[ProductMultiplier, ...] = ()
    box: tuple[tuple[Fraction, Fraction], ...] | None = None
    metadata: dict[str, str] = field(default_factory=dict)
    substitution: tuple[tuple[Fraction, Fraction], ...] | None = None
    lemmas: tuple[Certificate, ...] = ()
    derived: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        s = object.__setattr__
        s(self, "variables", tuple(str(v) for v in self.variables))
        s(self, "objective", canonical_terms(self.objective))
        s(self, "bound", Fraction(self.bound))
        s(self, "inequalities", tuple(canonical_terms(g) for g in self.inequalities))
        s(self, "equalities", tuple(canonical_terms(h) for h in self.equalities))
        s(self, "sos", tuple(self.sos))
        s(self, "equality_multipliers", tuple(self.equality_multipliers))
        s(self, "products", tuple(self.products))
        if self.box is not None:
            s(self, "box", tuple((Fraction(lo), Fraction(hi)) for lo, hi in self.box))
        s(self, "metadata", {str(k): str(v) for k, v in self.metadata.items()})
        s(self, "lemmas", tuple(self.lemmas))
        s(self, "derived", tuple(int(i) for i in self.derived))
        if self.substitution is not None and not _exact_pairs(self.substitution):
            s(self, "substitution",
              tuple((Fraction(c), Fraction(sc)) for c, sc in self.substitution))

    # I/O ----------------------------------------------------------------------------------
    def to_json(self) -> bytes:
        """Canonical UTF-8 JSON bytes (sorted keys, compact, trailing newline)."""
        return _dump(self)

    @classmethod
    def from_json(cls, data: bytes | str, *, limits: Limits = DEFAULT_LIMITS) -> Certificate:
        """Parse certificate bytes; raises :class:`CertificateFormatError` naming the field."""
        return _load(data, limits)

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write :meth:`to_json` to ``path``."""
        Path(path).write_bytes(self.to_json())

    @classmethod
    def load(
        cls, path: str | os.PathLike[str], *, limits: Limits = DEFAULT_LIMITS
    ) -> Certificate:
        """Read a certificate file; the size is checked before the file is read."""
        p, data = read_limited(path, limits)
        try:
            return _load(data, limits)
        except CertificateFormatError as e:
            raise CertificateFormatError(f"{p}: {e}") from e


def _exact_pairs(pairs: Any) -> bool:
    """Whether ``pairs`` is already a tuple of ``(Fraction, Fraction)`` tuples (kept as the same object, so
    that the checker recognises the substitution it expanded for the previous certificate)."""
    return type(pairs) is tuple and all(
        type(p) is tuple and len(p) == 2 and type(p[0]) is Fraction and type(p[1]) is Fraction for p in pairs
    )


# --------------------------------------------------------------------------------------------
# writer


def _terms_json(t: Terms) -> dict[str, Any]:
    return {
        "coefficients": [format_rational(c) for _, c in t],
        "exponents": [list(e) for e, _ in t],
    }






def canonical_json(obj: dict[str, Any]) -> bytes:
    """Canonical bytes of a certificate document: sorted keys, compact, ASCII, trailing newline."""
    text = json.dumps(
        obj, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False
    )
    return (text + "\n").encode("ascii")



def _dump(c: Certificate) -> bytes:
    return canonical_json(_obj(c))


def _obj(c: Certificate) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "format": FORMAT_NAME,
        "version": FORMAT_VERSION,
        "variables": list(c.variables),
        "kind": c.kind,
        "objective": _terms_json(c.objective),
        "bound": format_rational(c.bound),
        "inequalities": [_terms_json(g) for g in c.inequalities],
        "equalities": [_terms_json(h) for h in c.equalities],
        "sos": [
            {
                "constraint": m.constraint,
                "basis": [list(b) for b in m.basis],
                "gram": gram_json(as_rational_matrix(m.gram)),
                "cone": m.cone,
            }
            for m in c.sos
        ],
        "equality_multipliers": [
            {"constraint": m.constraint, "poly": _terms_json(m.poly)}
            for m in c.equality_multipliers
        ],
        "products": [
            {"constraints": list(p.constraints), "coefficient": format_rational(p.coefficient)}
            for p in c.products
        ],
        "box": None
        if c.box is None
        else [[format_rational(lo), format_rational(hi)] for lo, hi in c.box],
        "metadata": dict(c.metadata),
    }
    # optional fields are written only when present: older files stay byte-identical
    if c.substitution is not None:
        obj["substitution"] = [[format_rational(a), format_rational(b)] for a, b in c.substitution]
    if c.lemmas:
        obj["lemmas"] = [_obj(lem) for lem in c.lemmas]
    if c.derived:
        obj["derived"] = list(c.derived)
    return obj


# --------------------------------------------------------------------------------------------
# reader


class _Reader:
    def __init__(self, limits: Limits) -> None:
        self.lim = limits

    # primitives -------------------------------------------------------------------------------
    def obj(self, v: Any, path: str, required: set[str], optional: frozenset[str] = frozenset()
            ) -> dict[str, Any]:
        if not isinstance(v, dict):
            raise CertificateFormatError(f"{path}: expected an object, got {type(v).__name__}")
        missing = required - v.keys()
        if missing:
            raise CertificateFormatError(f"{path}: missing field(s) {sorted(missing)}")
        extra = v.keys() - required - optional
        if extra:
            raise CertificateFormatError(f"{path}: unknown field(s) {sorted(extra)}")
        return v

    def lst(self, v: Any, path: str, max_len: int) -> list[Any]:
        if not isinstance(v, list):
            raise CertificateFormatError(f"{path}: expected an array, got {type(v).__name__}")
        if len(v) > max_len:
            raise CertificateFormatError(
                f"{path}: {len(v)} entries, over the limit of {max_len}"
            )
        return v

    def int_(self, v: Any, path: str, lo: int, hi: int) -> int:
        if not isinstance(v, int) or isinstance(v, bool):
            raise CertificateFormatError(f"{path}: expected an integer, got {type(v).__name__}")
        if not lo <= v <= hi:
            raise CertificateFormatError(f"{path}: {v} is outside [{lo}, {hi}]")
        return v

    def num(self, v: Any, path: str) -> Fraction:
        return parse_rational(v, path, self.lim)

    def exps(self, v: Any, path: str, n: int) -> tuple[int, ...]:
        e = self.lst(v, path, n)
        if len(e) != n:
            raise CertificateFormatError(
                f"{path}: exponent has {len(e)} entries but there are {n} variables"
            )
        top = self.lim.max_exponent
        return tuple(self.int_(x, f"{path}[{i}]", 0, top) for i, x in enumerate(e))

    def terms(self, v: Any, path: str, n: int) -> Terms:
        d = self.obj(v, path, {"exponents", "coefficients"})
        ex = self.lst(d["exponents"], f"{path}.exponents", self.lim.max_terms)
        co = self.lst(d["coefficients"], f"{path}.coefficients", self.lim.max_terms)
        if len(ex) != len(co):
            raise CertificateFormatError(
                f"{path}: {len(ex)} exponents but {len(co)} coefficients"
            )
        return tuple(
            (self.exps(e, f"{path}.exponents[{i}]", n), self.num(c, f"{path}.coefficients[{i}]"))
            for i, (e, c) in enumerate(zip(ex, co, strict=True))
        )

    def gram(self, v: Any, path: str, k: int) -> RationalMatrix:
        rows = self.lst(v, path, self.lim.max_gram_order)
        if len(rows) != k:
            raise CertificateFormatError(
                f"{path}: {len(rows)} rows but the basis has {k} monomials"
            )
        nums: list[int] = []
        dens: list[int] = []
        for i, row in enumerate(rows):
            r = self.lst(row, f"{path}[{i}]", self.lim.max_gram_order)
            if len(r) != k:
                raise CertificateFormatError(
                    f"{path}[{i}]: {len(r)} entries but the basis has {k} monomials "
                    "(Gram matrices are written as full rows)"
                )
            for j, s in enumerate(r):
                if isinstance(s, str) and len(s) <= self.lim.max_digits and s.isascii() and (
                    s.isdigit()
                ) and (
                    s == "0" or s[0] != "0"
                ):
                    nums.append(int(s))
                    dens.append(1)
                else:
                    q = self.num(s, f"{path}[{i}][{j}]")
                    nums.append(q.numerator)
                    dens.append(q.denominator)
        den = 1
        for d in set(dens):
            den = math.lcm(den, d)
        if den == 1:
            num = np.array(nums, dtype=object).reshape(k, k)
        else:
            num = np.array(
                [a * (den // b) for a, b in zip(nums, dens, strict=True)], dtype=object
            ).reshape(k, k)
        return RationalMatrix(num if k else np.zeros((0, 0), dtype=np.int64), den)

    # document ---------------------------------------------------------------------------------
    def certificate(self, doc: Any, nested: bool = False) -> Certificate:
        """The certificate in ``doc``, every field checked in file order; errors name the path."""
        var = self.header(doc)
        lim = self.lim
        n = len(var)
        kind = doc["kind"]
        if kind not in KINDS:
            raise CertificateFormatError(f"kind: {str(kind)[:40]!r} is not one of {KINDS}")
        objective = self.terms(doc["objective"], "objective", n)
        bound = self.num(doc["bound"], "bound")
        ineq = tuple(
            self.terms(g, f"inequalities[{i}]", n)
            for i, g in enumerate(self.lst(doc["inequalities"], "inequalities", lim.max_items))
        )
        eq = tuple(
            self.terms(h, f"equalities[{i}]", n)
            for i, h in enumerate(self.lst(doc["equalities"], "equalities", lim.max_items))
        )
        sos = self.sos_multipliers(doc["sos"], n)
        em = self.equality_multipliers(doc["equality_multipliers"], n)
        prods = self.products(doc["products"])
        box = None if doc["box"] is None else self.box(doc["box"])
        subst = None
        if doc.get("substitution") is not None:
            subst = self.substitution(doc["substitution"], n)
        lemmas = []
        if doc.get("lemmas"):
            if nested:
                raise CertificateFormatError("lemmas: a lemma cannot carry lemmas of its own")
            for i, lem in enumerate(self.lst(doc["lemmas"], "lemmas", lim.max_items)):
                try:
                    lemmas.append(self.certificate(lem, nested=True))
                except CertificateFormatError as e:
                    raise CertificateFormatError(f"lemmas[{i}].{e}") from e
        derived = tuple(
            self.int_(v, f"derived[{i}]", 0, max(0, len(ineq) - 1))
            for i, v in enumerate(self.lst(doc.get("derived") or [], "derived", lim.max_items))
        )
        meta = doc["metadata"]
        if not isinstance(meta, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in meta.items()
        ):
            raise CertificateFormatError("metadata: expected an object of strings")
        if len(meta) > 1000:
            raise CertificateFormatError("metadata: too many entries")
        return Certificate(
            variables=tuple(var), kind=kind, objective=objective, bound=bound,
            inequalities=ineq, equalities=eq, sos=tuple(sos), equality_multipliers=tuple(em),
            products=tuple(prods), box=box, metadata=dict(meta), substitution=subst,
            lemmas=tuple(lemmas), derived=derived,
        )

    def header(self, doc: Any) -> list[Any]:
        """Check format name, version and top-level fields; return the variable names."""
        top_req = {
            "format", "version", "variables", "kind", "objective", "bound", "inequalities",
            "equalities", "sos", "equality_multipliers", "products", "box", "metadata",
        }
        if not isinstance(doc, dict):
            raise CertificateFormatError("(root): expected a JSON object")
        fmt = doc.get("format")
        if fmt != FORMAT_NAME:
            raise CertificateFormatError(
                f"format: {str(fmt)[:60]!r} is not {FORMAT_NAME!r}; "
                "this is not a sosrelax certificate"
            )
        ver = doc.get("version")
        if ver != FORMAT_VERSION or isinstance(ver, bool):
            raise CertificateFormatError(
                f"version: {str(ver)[:20]!r} is not supported (this reader knows version "
                f"{FORMAT_VERSION}); upgrade sosrelax"
            )
        self.obj(doc, "(root)", top_req, frozenset({"substitution", "lemmas", "derived"}))
        var = self.lst(doc["variables"], "variables", self.lim.max_variables)
        for i, name in enumerate(var):
            if not isinstance(name, str) or not name or len(name) > 256:
                raise CertificateFormatError(f"variables[{i}]: expected a non-empty name")
        if len(set(var)) != len(var):
            raise CertificateFormatError("variables: names repeat")
        return var

    def sos_multipliers(self, v: Any, n: int) -> list[SOSMultiplier]:
        """The ``sos`` array: constraint index (or null), monomial basis, full Gram rows, cone."""
        lim = self.lim
        sos = []
        for i, m in enumerate(self.lst(v, "sos", lim.max_items)):
            p = f"sos[{i}]"
            d = self.obj(m, p, {"constraint", "basis", "gram", "cone"})
            con = d["constraint"]
            if con is not None:
                con = self.int_(con, f"{p}.constraint", 0, 2**31)
            basis = tuple(
                self.exps(b, f"{p}.basis[{j}]", n)
                for j, b in enumerate(self.lst(d["basis"], f"{p}.basis", lim.max_gram_order))
            )
            if d["cone"] not in CONES:
                raise CertificateFormatError(
                    f"{p}.cone: {str(d['cone'])[:20]!r} is not one of {CONES}"
                )
            gram = self.gram(d["gram"], f"{p}.gram", len(basis))
            sos.append(SOSMultiplier(con, basis, gram, d["cone"]))
        return sos

    def equality_multipliers(self, v: Any, n: int) -> list[EqualityMultiplier]:
        """The ``equality_multipliers`` array: constraint index and multiplier polynomial."""
        em = []
        for i, m in enumerate(
            self.lst(v, "equality_multipliers", self.lim.max_items)
        ):
            p = f"equality_multipliers[{i}]"
            d = self.obj(m, p, {"constraint", "poly"})
            em.append(
                EqualityMultiplier(
                    self.int_(d["constraint"], f"{p}.constraint", 0, 2**31),
                    self.terms(d["poly"], f"{p}.poly", n),
                )
            )
        return em

    def products(self, v: Any) -> list[ProductMultiplier]:
        """The ``products`` array: constraint indices of each product and its coefficient."""
        prods = []
        for i, m in enumerate(self.lst(v, "products", self.lim.max_items)):
            p = f"products[{i}]"
            d = self.obj(m, p, {"constraints", "coefficient"})
            cons = tuple(
                self.int_(c, f"{p}.constraints[{j}]", 0, 2**31)
                for j, c in enumerate(self.lst(d["constraints"], f"{p}.constraints", 1000))
            )
            prods.append(ProductMultiplier(cons, self.num(d["coefficient"], f"{p}.coefficient")))
        return prods

    def box(self, v: Any) -> tuple[tuple[Fraction, Fraction], ...]:
        """The ``box`` field: one ``[lower, upper]`` pair per variable."""
        bl = self.lst(v, "box", self.lim.max_variables)
        bx = []
        for i, pair in enumerate(bl):
            pr = self.lst(pair, f"box[{i}]", 2)
            if len(pr) != 2:
                raise CertificateFormatError(f"box[{i}]: expected [lower, upper]")
            bx.append((self.num(pr[0], f"box[{i}][0]"), self.num(pr[1], f"box[{i}][1]")))
        return tuple(bx)

    def substitution(self, v: Any, n: int) -> tuple[tuple[Fraction, Fraction], ...]:
        """The ``substitution`` field: ``[center, scale]`` per variable, scales positive."""
        sl = self.lst(v, "substitution", self.lim.max_variables)
        if len(sl) != n:
            raise CertificateFormatError(
                f"substitution: {len(sl)} entries but there are {n} variables"
            )
        sub = []
        for i, pair in enumerate(sl):
            pr = self.lst(pair, f"substitution[{i}]", 2)
            if len(pr) != 2:
                raise CertificateFormatError(f"substitution[{i}]: expected [center, scale]")
            c0 = self.num(pr[0], f"substitution[{i}][0]")
            c1 = self.num(pr[1], f"substitution[{i}][1]")
            if c1 <= 0:
                raise CertificateFormatError(f"substitution[{i}][1]: scale must be positive")
            sub.append((c0, c1))
        return tuple(sub)


def _load(data: bytes | str, limits: Limits) -> Certificate:
    raw = data.encode("utf-8") if isinstance(data, str) else bytes(data)
    doc = parse_exact_json(raw, max_bytes=limits.max_file_bytes, max_depth=limits.max_depth)
    return _Reader(limits).certificate(doc)

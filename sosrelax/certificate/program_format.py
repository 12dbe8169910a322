r"""The SOS program certificate file: exact values of a program's unknowns and the Gram matrices of every
SOS constraint, as canonical versioned JSON (format ``"sosrelax-sos-program"``).

An SOS program has unknowns :math:`d \in \mathbb{Q}^D` and constraints whose polynomials have coefficients
affine in :math:`d`:

* SOS constraints ``p(x; d) = σ_0 + Σ_i σ_i g_i + Σ_j λ_j h_j`` with every
  :math:`\sigma = b(x)^T Q b(x)`, :math:`Q \succeq 0` (which makes :math:`p(\cdot; d) \ge 0` on
  :math:`\{g \ge 0, h = 0\}`);
* coefficient equalities ``e(x; d) ≡ 0``;
* linear inequalities ``e(d) ≥ 0`` (expressions without :math:`x`);

and a linear objective :math:`c_0 + c^T d`.  The certificate gives :math:`d` exactly and every
:math:`Q` and :math:`\lambda`; ``sosrelax.certificate.program_check`` verifies every constraint exactly
and recomputes the objective, which proves that the program is feasible with that objective value (so its
optimum is at most that value for a minimisation, at least for a maximisation).

An affine polynomial (:class:`AffineTerms`) is written as its monomials' exponents, their constant
coefficients and the sparse triplets ``[monomial, unknown, coefficient]`` of the linear part.  Numbers are
exact rationals written as strings ``"p"`` or ``"p/q"``.  The document's schema is
``program_certificate.schema.json`` next to this module.  Only the standard library, numpy and the
certificate format modules are imported (the checker's independence rule).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

from sosrelax.certificate.exactnum import (
    RationalMatrix,
    Terms,
    as_rational_matrix,
    canonical_terms,
    format_rational,
    gram_json,
    parse_rational,
)
from sosrelax.certificate.format import canonical_json
from sosrelax.certificate.jsonlimits import parse_exact_json
from sosrelax.certificate.limits import DEFAULT_LIMITS, Limits, read_limited
from sosrelax.errors import CertificateFormatError

__all__ = [
    "PROGRAM_FORMAT_NAME",
    "PROGRAM_FORMAT_VERSION",
    "AffineTerms",
    "GramTerm",
    "ProgramCertificate",
    "ProgramObjective",
    "SOSProof",
]

PROGRAM_FORMAT_NAME = "sosrelax-sos-program"
PROGRAM_FORMAT_VERSION = 1
SENSES = ("minimize", "maximize", "feasibility")
CONES = ("psd", "dd", "sdd")


@dataclass(frozen=True)
class AffineTerms:
    """:math:`\\sum_i (c_i + \\sum_k a_{ik} d_k) x^{\\alpha_i}`: ``exponents[i]``, ``constant[i]`` and the
    triplets ``(i, k, a_ik)`` of ``linear``."""

    exponents: tuple[tuple[int, ...], ...]
    constant: tuple[Fraction, ...]
    linear: tuple[tuple[int, int, Fraction], ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "exponents", tuple(tuple(int(v) for v in e) for e in self.exponents))
        object.__setattr__(self, "constant", tuple(Fraction(c) for c in self.constant))
        object.__setattr__(self, "linear", tuple((int(i), int(k), Fraction(a)) for i, k, a in self.linear))


@dataclass(frozen=True)
class GramTerm:
    """:math:`\\sigma = b^T Q b` multiplying inequality ``constraint`` of its SOS constraint (``None``: 1)."""

    constraint: int | None
    basis: tuple[tuple[int, ...], ...]
    gram: RationalMatrix | tuple[tuple[Fraction, ...], ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "basis", tuple(tuple(int(v) for v in b) for b in self.basis))
        object.__setattr__(self, "gram", as_rational_matrix(self.gram))


@dataclass(frozen=True)
class SOSProof:
    """One SOS constraint and its certificate: ``expression = Σ grams + Σ λ_j h_j`` exactly."""

    name: str
    cone: str
    expression: AffineTerms
    inequalities: tuple[Terms, ...]
    equalities: tuple[Terms, ...]
    grams: tuple[GramTerm, ...]
    equality_multipliers: tuple[tuple[int, Terms], ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "inequalities", tuple(canonical_terms(g) for g in self.inequalities))
        object.__setattr__(self, "equalities", tuple(canonical_terms(h) for h in self.equalities))
        object.__setattr__(self, "grams", tuple(self.grams))
        object.__setattr__(self, "equality_multipliers",
                           tuple((int(j), canonical_terms(t)) for j, t in self.equality_multipliers))


@dataclass(frozen=True)
class ProgramObjective:
    """The objective :math:`c_0 + \\sum_k c_k d_k`, its sense and its claimed exact value."""

    sense: str
    constant: Fraction
    linear: tuple[tuple[int, Fraction], ...]
    value: Fraction

    def __post_init__(self) -> None:
        object.__setattr__(self, "constant", Fraction(self.constant))
        object.__setattr__(self, "linear", tuple((int(k), Fraction(c)) for k, c in self.linear))
        object.__setattr__(self, "value", Fraction(self.value))


@dataclass(frozen=True)
class ProgramCertificate:
    """A checkable solution of an SOS program (see the module docstring).

    Attributes
    ----------
    variables : tuple of str
        The program variables :math:`x` (auxiliary variables of matrix constraints included).
    decisions : tuple of str
        Names of the unknowns :math:`d_k`.
    values : tuple of Fraction
        Their exact values.
    objective : ProgramObjective
    sos : tuple of SOSProof
    equalities : tuple of AffineTerms
        Expressions that must vanish identically.
    inequalities : tuple of AffineTerms
        Expressions without :math:`x` that must be nonnegative.
    metadata : dict of str to str
        Informational only; never trusted.
    """

    variables: tuple[str, ...]
    decisions: tuple[str, ...]
    values: tuple[Fraction, ...]
    objective: ProgramObjective
    sos: tuple[SOSProof, ...]
    equalities: tuple[AffineTerms, ...] = ()
    inequalities: tuple[AffineTerms, ...] = ()
    metadata: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        s = object.__setattr__
        s(self, "variables", tuple(str(v) for v in self.variables))
        s(self, "decisions", tuple(str(v) for v in self.decisions))
        s(self, "values", tuple(Fraction(v) for v in self.values))
        s(self, "sos", tuple(self.sos))
        s(self, "equalities", tuple(self.equalities))
        s(self, "inequalities", tuple(self.inequalities))
        s(self, "metadata", {str(k): str(v) for k, v in self.metadata.items()})

    def to_json(self) -> bytes:
        """Canonical bytes (sorted keys, compact, trailing newline)."""
        return canonical_json(_obj(self))

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write :meth:`to_json` to ``path``."""
        Path(path).write_bytes(self.to_json())

    @classmethod
    def from_json(cls, data: bytes | str, *, limits: Limits = DEFAULT_LIMITS) -> ProgramCertificate:
        """Parse certificate bytes; raises :class:`CertificateFormatError` naming the field at fault."""
        raw = data.encode("utf-8") if isinstance(data, str) else bytes(data)
        doc = parse_exact_json(raw, max_bytes=limits.max_file_bytes, max_depth=limits.max_depth)
        return _Reader(limits).document(doc)

    @classmethod
    def load(cls, path: str | os.PathLike[str], *, limits: Limits = DEFAULT_LIMITS) -> ProgramCertificate:
        """Read a certificate file (its size checked before it is read)."""
        p, data = read_limited(path, limits)
        try:
            return cls.from_json(data, limits=limits)
        except CertificateFormatError as e:
            raise CertificateFormatError(f"{p}: {e}") from e


# ------------------------------------------------------------------------------------------------
# writer


def _terms(t: Terms) -> dict[str, Any]:
    return {"coefficients": [format_rational(c) for _, c in t], "exponents": [list(e) for e, _ in t]}


def _affine(a: AffineTerms) -> dict[str, Any]:
    return {"constant": [format_rational(c) for c in a.constant], "exponents": [list(e) for e in a.exponents],
            "linear": [[i, k, format_rational(v)] for i, k, v in a.linear]}


def _obj(c: ProgramCertificate) -> dict[str, Any]:
    return {
        "format": PROGRAM_FORMAT_NAME,
        "version": PROGRAM_FORMAT_VERSION,
        "variables": list(c.variables),
        "decisions": {"names": list(c.decisions), "values": [format_rational(v) for v in c.values]},
        "objective": {"sense": c.objective.sense, "constant": format_rational(c.objective.constant),
                      "linear": [[k, format_rational(v)] for k, v in c.objective.linear],
                      "value": format_rational(c.objective.value)},
        "sos": [{
            "name": s.name, "cone": s.cone, "expression": _affine(s.expression),
            "inequalities": [_terms(g) for g in s.inequalities],
            "equalities": [_terms(h) for h in s.equalities],
            "grams": [{"constraint": g.constraint, "basis": [list(b) for b in g.basis],
                       "gram": gram_json(as_rational_matrix(g.gram))} for g in s.grams],
            "equality_multipliers": [{"constraint": j, "poly": _terms(t)} for j, t in s.equality_multipliers],
        } for s in c.sos],
        "equalities": [_affine(a) for a in c.equalities],
        "inequalities": [_affine(a) for a in c.inequalities],
        "metadata": dict(c.metadata),
    }


# ------------------------------------------------------------------------------------------------
# reader


class _Reader:
    """Checks every field against the schema and the limits, naming the JSON path of what is wrong."""

    def __init__(self, limits: Limits) -> None:
        self.lim = limits
        self.n = 0
        self.nd = 0

    def obj(self, v: Any, path: str, keys: set[str]) -> dict[str, Any]:
        if not isinstance(v, dict):
            raise CertificateFormatError(f"{path}: expected an object, got {type(v).__name__}")
        missing, extra = keys - v.keys(), v.keys() - keys
        if missing:
            raise CertificateFormatError(f"{path}: missing field(s) {sorted(missing)}")
        if extra:
            raise CertificateFormatError(f"{path}: unknown field(s) {sorted(extra)}")
        return v

    def lst(self, v: Any, path: str, cap: int) -> list[Any]:
        if not isinstance(v, list):
            raise CertificateFormatError(f"{path}: expected an array, got {type(v).__name__}")
        if len(v) > cap:
            raise CertificateFormatError(f"{path}: {len(v)} entries, over the limit of {cap}")
        return v

    def int_(self, v: Any, path: str, lo: int, hi: int) -> int:
        if not isinstance(v, int) or isinstance(v, bool):
            raise CertificateFormatError(f"{path}: expected an integer, got {type(v).__name__}")
        if not lo <= v <= hi:
            raise CertificateFormatError(f"{path}: {v} is outside [{lo}, {hi}]")
        return v

    def num(self, v: Any, path: str) -> Fraction:
        return parse_rational(v, path, self.lim)

    def text(self, v: Any, path: str) -> str:
        if not isinstance(v, str) or len(v) > 256:
            raise CertificateFormatError(f"{path}: expected a string of at most 256 characters")
        return v

    def exps(self, v: Any, path: str) -> tuple[int, ...]:
        e = self.lst(v, path, self.n)
        if len(e) != self.n:
            raise CertificateFormatError(f"{path}: exponent has {len(e)} entries but there are {self.n} variables")
        return tuple(self.int_(x, f"{path}[{i}]", 0, self.lim.max_exponent) for i, x in enumerate(e))

    def terms(self, v: Any, path: str) -> Terms:
        d = self.obj(v, path, {"exponents", "coefficients"})
        ex = self.lst(d["exponents"], f"{path}.exponents", self.lim.max_terms)
        co = self.lst(d["coefficients"], f"{path}.coefficients", self.lim.max_terms)
        if len(ex) != len(co):
            raise CertificateFormatError(f"{path}: {len(ex)} exponents but {len(co)} coefficients")
        return tuple((self.exps(e, f"{path}.exponents[{i}]"), self.num(c, f"{path}.coefficients[{i}]"))
                     for i, (e, c) in enumerate(zip(ex, co, strict=True)))

    def affine(self, v: Any, path: str) -> AffineTerms:
        d = self.obj(v, path, {"exponents", "constant", "linear"})
        ex = self.lst(d["exponents"], f"{path}.exponents", self.lim.max_terms)
        co = self.lst(d["constant"], f"{path}.constant", self.lim.max_terms)
        if len(ex) != len(co):
            raise CertificateFormatError(f"{path}: {len(ex)} exponents but {len(co)} constants")
        lin = []
        for t, trip in enumerate(self.lst(d["linear"], f"{path}.linear", self.lim.max_terms)):
            p = f"{path}.linear[{t}]"
            tr = self.lst(trip, p, 3)
            if len(tr) != 3:
                raise CertificateFormatError(f"{p}: expected [monomial, unknown, coefficient]")
            lin.append((self.int_(tr[0], f"{p}[0]", 0, max(0, len(ex) - 1)),
                        self.int_(tr[1], f"{p}[1]", 0, max(0, self.nd - 1)), self.num(tr[2], f"{p}[2]")))
        if lin and not ex:
            raise CertificateFormatError(f"{path}.linear: refers to monomials but there are none")
        if lin and self.nd == 0:
            raise CertificateFormatError(f"{path}.linear: refers to unknowns but there are none")
        return AffineTerms(tuple(self.exps(e, f"{path}.exponents[{i}]") for i, e in enumerate(ex)),
                           tuple(self.num(c, f"{path}.constant[{i}]") for i, c in enumerate(co)), tuple(lin))

    def gram(self, v: Any, path: str, k: int) -> RationalMatrix:
        rows = self.lst(v, path, self.lim.max_gram_order)
        if len(rows) != k:
            raise CertificateFormatError(f"{path}: {len(rows)} rows but the basis has {k} monomials")
        out = []
        for i, row in enumerate(rows):
            r = self.lst(row, f"{path}[{i}]", self.lim.max_gram_order)
            if len(r) != k:
                raise CertificateFormatError(f"{path}[{i}]: {len(r)} entries but the basis has {k} monomials")
            out.append([self.num(s, f"{path}[{i}][{j}]") for j, s in enumerate(r)])
        return RationalMatrix.from_rows(out) if k else as_rational_matrix(())

    def proof(self, v: Any, path: str) -> SOSProof:
        keys = {"name", "cone", "expression", "inequalities", "equalities", "grams", "equality_multipliers"}
        d = self.obj(v, path, keys)
        if d["cone"] not in CONES:
            raise CertificateFormatError(f"{path}.cone: {str(d['cone'])[:20]!r} is not one of {CONES}")
        lim = self.lim
        ineq = tuple(self.terms(g, f"{path}.inequalities[{i}]")
                     for i, g in enumerate(self.lst(d["inequalities"], f"{path}.inequalities", lim.max_items)))
        eq = tuple(self.terms(h, f"{path}.equalities[{i}]")
                   for i, h in enumerate(self.lst(d["equalities"], f"{path}.equalities", lim.max_items)))
        grams = []
        for i, g in enumerate(self.lst(d["grams"], f"{path}.grams", lim.max_items)):
            p = f"{path}.grams[{i}]"
            gd = self.obj(g, p, {"constraint", "basis", "gram"})
            con = gd["constraint"]
            if con is not None:
                con = self.int_(con, f"{p}.constraint", 0, len(ineq) - 1) if ineq else self._no_index(p)
            basis = tuple(self.exps(b, f"{p}.basis[{j}]")
                          for j, b in enumerate(self.lst(gd["basis"], f"{p}.basis", lim.max_gram_order)))
            grams.append(GramTerm(con, basis, self.gram(gd["gram"], f"{p}.gram", len(basis))))
        mults = []
        for i, m in enumerate(self.lst(d["equality_multipliers"], f"{path}.equality_multipliers", lim.max_items)):
            p = f"{path}.equality_multipliers[{i}]"
            md = self.obj(m, p, {"constraint", "poly"})
            j = self.int_(md["constraint"], f"{p}.constraint", 0, len(eq) - 1) if eq else self._no_index(p)
            mults.append((j, self.terms(md["poly"], f"{p}.poly")))
        return SOSProof(self.text(d["name"], f"{path}.name"), d["cone"], self.affine(d["expression"],
                        f"{path}.expression"), ineq, eq, tuple(grams), tuple(mults))

    @staticmethod
    def _no_index(path: str) -> int:
        raise CertificateFormatError(f"{path}.constraint: refers to a constraint but the set has none")

    def document(self, doc: Any) -> ProgramCertificate:
        if not isinstance(doc, dict):
            raise CertificateFormatError("(root): expected a JSON object")
        if doc.get("format") != PROGRAM_FORMAT_NAME:
            raise CertificateFormatError(f"format: {str(doc.get('format'))[:60]!r} is not {PROGRAM_FORMAT_NAME!r}")
        ver = doc.get("version")
        if ver != PROGRAM_FORMAT_VERSION or isinstance(ver, bool):
            raise CertificateFormatError(f"version: {str(ver)[:20]!r} is not supported (this reader knows "
                                         f"version {PROGRAM_FORMAT_VERSION}); upgrade sosrelax")
        keys = {"format", "version", "variables", "decisions", "objective", "sos", "equalities", "inequalities",
                "metadata"}
        self.obj(doc, "(root)", keys)
        lim = self.lim
        var = [self.text(v, f"variables[{i}]") for i, v in enumerate(self.lst(doc["variables"], "variables",
                                                                               lim.max_variables))]
        if len(set(var)) != len(var) or not all(var):
            raise CertificateFormatError("variables: names must be nonempty and distinct")
        self.n = len(var)
        dec = self.obj(doc["decisions"], "decisions", {"names", "values"})
        names = [self.text(v, f"decisions.names[{i}]")
                 for i, v in enumerate(self.lst(dec["names"], "decisions.names", lim.max_terms))]
        vals = [self.num(v, f"decisions.values[{i}]")
                for i, v in enumerate(self.lst(dec["values"], "decisions.values", lim.max_terms))]
        if len(names) != len(vals):
            raise CertificateFormatError(f"decisions: {len(names)} names but {len(vals)} values")
        self.nd = len(vals)
        ob = self.obj(doc["objective"], "objective", {"sense", "constant", "linear", "value"})
        if ob["sense"] not in SENSES:
            raise CertificateFormatError(f"objective.sense: {str(ob['sense'])[:20]!r} is not one of {SENSES}")
        lin = []
        for i, t in enumerate(self.lst(ob["linear"], "objective.linear", lim.max_terms)):
            tr = self.lst(t, f"objective.linear[{i}]", 2)
            if len(tr) != 2:
                raise CertificateFormatError(f"objective.linear[{i}]: expected [unknown, coefficient]")
            lin.append((self.int_(tr[0], f"objective.linear[{i}][0]", 0, max(0, self.nd - 1)),
                        self.num(tr[1], f"objective.linear[{i}][1]")))
        objective = ProgramObjective(ob["sense"], self.num(ob["constant"], "objective.constant"), tuple(lin),
                                     self.num(ob["value"], "objective.value"))
        sos = tuple(self.proof(s, f"sos[{i}]") for i, s in enumerate(self.lst(doc["sos"], "sos", lim.max_items)))
        eqs = tuple(self.affine(a, f"equalities[{i}]")
                    for i, a in enumerate(self.lst(doc["equalities"], "equalities", lim.max_items)))
        ineqs = tuple(self.affine(a, f"inequalities[{i}]")
                      for i, a in enumerate(self.lst(doc["inequalities"], "inequalities", lim.max_items)))
        meta = doc["metadata"]
        if not isinstance(meta, dict) or len(meta) > 1000 or not all(
                isinstance(k, str) and isinstance(v, str) for k, v in meta.items()):
            raise CertificateFormatError("metadata: expected an object of at most 1000 strings")
        return ProgramCertificate(tuple(var), tuple(names), tuple(vals), objective, sos, eqs, ineqs, dict(meta))

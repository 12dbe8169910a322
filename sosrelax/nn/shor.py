"""Shor's relaxation of a network encoding, built directly as one conic program and made exact.

The moments of degree <= 2 are indexed by the upper triangle of the moment matrix of the basis
``(1, x)`` (the svec order); the constraint matrix is shared by every objective over the same chain
and cached for the last chain seen.  :func:`fast_sdp` solves the dense relaxation and
:func:`sparse_sdp` the one with a PSD block per clique of a chordal extension; both round the
solver's dual to an exact certificate with zero residual and positive definite Gram matrices, which
the checker then verifies with the chain's lemmas.  :class:`SdpForm` chooses the constraints (see
:mod:`sosrelax.nn.moment`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum
from fractions import Fraction
from typing import Any

import numpy as np

from sosrelax.certificate.check import check_certificate
from sosrelax.certificate.format import Certificate, ProductMultiplier, RationalMatrix, Terms
from sosrelax.nn.chain import Chain, Lin, NeuronState, quad_terms

__all__ = ["SdpForm", "fast_sdp", "form_products", "product_lemma", "shor_sparse", "sparse_sdp"]


class SdpForm(Enum):
    """Which constraints the moment relaxation of a network encoding sees (see module docstring)."""

    SDP_CERT = "sdp-cert"
    FACTS = "facts"
    WITH_LP = "sdp+lp"



def form_products(chain: Chain, form: SdpForm) -> list[tuple[int, int]]:
    """Pairs of facts whose products the relaxation sees: a box product for every variable
    (``(x - l)(u - x)``, ``h (u_h - h)``) and, in ``WITH_LP``, the LP rung's products of every
    unstable neuron.  Adds the facts ``u_h - h >= 0`` (with lemmas) when they are new."""
    pairs = [(lo, hi) for lo, hi in zip(chain.box_lo, chain.box_hi, strict=True)]
    for layer in chain.layers:
        for nr in layer:
            if nr.var < 0:
                continue  # a stable neuron of a reduced chain: no variable
            pairs.append((nr.e1, chain.h_upper(nr)))
            if form is SdpForm.WITH_LP and nr.state is NeuronState.UNSTABLE:
                pairs += [(nr.e1, nr.fu), (nr.e2, nr.fl)]
    return pairs


def product_lemma(chain: Chain, i: int, j: int, derived: set[int]) -> Certificate:
    """The lemma ``g_i g_j >= 0`` of two facts: the one-term certificate ``g_i g_j - 0 = 1 · g_i g_j``."""
    gi, gj = chain.lin[i], chain.lin[j]
    assert gi is not None and gj is not None
    return Certificate(
        variables=chain.variables, kind="lower_bound", objective=quad_terms(chain.n, gi, gj),
        bound=Fraction(0), inequalities=(chain.inequalities[i], chain.inequalities[j]),
        equalities=(), sos=(), equality_multipliers=(),
        products=(ProductMultiplier((0, 1), Fraction(1)),),
        metadata={"lemma": "product of two facts"},
        derived=tuple(k for k, g in enumerate((i, j)) if g in derived),
    )



@dataclass
class _Shor:
    """The part of Shor's relaxation shared by every objective over one chain and form.

    Moments are indexed by the upper triangle of the moment matrix of the basis ``(1, x)``,
    column by column (the svec order): ``(0, 0)`` is 1, ``(0, 1 + i)`` is ``x_i`` and
    ``(1 + i, 1 + j)`` is ``x_i x_j``, so every monomial of degree <= 2 has exactly one entry.
    """

    key: tuple[int, int, int, SdpForm]
    ineqs: list[Terms]
    lemmas: list[Certificate]
    derived: tuple[int, ...]
    rows_g: list[tuple[np.ndarray, list[Any]]]  # per inequality: positions, exact coefficients
    rows_h: list[tuple[np.ndarray, list[Any]]]
    boxes: list[tuple[int, int, Fraction, Fraction]]  # product index, variable, centre, radius^2
    program: Any  # ConicProgram with a zero objective
    n_eq: int


def _pos(e: tuple[int, ...]) -> int:
    """svec position of the moment of exponent ``e`` (degree <= 2)."""
    nz = [v for v, k in enumerate(e) for _ in range(k)]
    if not nz:
        return 0
    if len(nz) == 1:
        r, c = 0, nz[0] + 1
    else:
        r, c = nz[0] + 1, nz[1] + 1
    return c * (c + 1) // 2 + r


def _sparse_row(terms: Terms) -> tuple[np.ndarray, list[Any]]:
    import flint

    pos = np.array([_pos(e) for e, _ in terms], dtype=np.int64)
    return pos, [flint.fmpq(Fraction(c).numerator, Fraction(c).denominator) for _, c in terms]


def _shor_constraints(chain: Chain, form: SdpForm, pairs: list[tuple[int, int]]
                      ) -> tuple[list[Terms], list[int], list[Certificate], list[tuple[int, int, Fraction, Fraction]]]:
    """The inequalities of Shor's relaxation (the form's base constraints, then one product lemma per
    pair), the indices of the derived ones, the lemma chain, and one box product per variable
    ``(index, variable, centre, radius^2)`` read off the products ``-a x^2 + b x + k``, ``a > 0``."""
    derived_set = set(chain.derived)
    if form is SdpForm.SDP_CERT:
        used = sorted({i for i in chain.box_lo + chain.box_hi}
                      | {k for layer in chain.layers for nr in layer for k in (nr.e1, nr.e2) if k >= 0})
    else:
        used = list(range(len(chain.inequalities)))
    ineqs: list[Terms] = [chain.inequalities[i] for i in used]
    derived = [k for k, i in enumerate(used) if i in derived_set]
    lemmas = list(chain.lemmas)
    boxes: list[tuple[int, int, Fraction, Fraction]] = []
    seen: set[int] = set()
    for i, j in pairs:
        lem = product_lemma(chain, i, j, derived_set)
        lemmas.append(lem)
        derived.append(len(ineqs))
        ineqs.append(lem.objective)
        d = {e: Fraction(c) for e, c in lem.objective}
        sq = [e for e in d if sum(e) == 2]
        one_var = all(sum(1 for t in e if t) <= 1 for e in d)
        if one_var and len(sq) == 1 and max(sq[0]) == 2 and d[sq[0]] < 0 and sq[0].index(2) not in seen:
            v = sq[0].index(2)
            seen.add(v)
            a = -d[sq[0]]
            e1 = tuple(1 if t == v else 0 for t in range(chain.n))
            b = d.get(e1, Fraction(0)) / a
            k = d.get(tuple([0] * chain.n), Fraction(0)) / a
            boxes.append((len(ineqs) - 1, v, b / 2, b * b / 4 + k))
    return ineqs, derived, lemmas, boxes


def _row_block(rows: list[tuple[np.ndarray, list[Any]]], sign: float, N: int) -> Any:
    """The sparse matrix whose row ``k`` holds ``sign ×`` the coefficients of ``rows[k]`` at their positions."""
    import scipy.sparse as sp

    r = np.concatenate([np.full(len(p), k) for k, (p, _) in enumerate(rows)]) if rows else np.zeros(0, int)
    c = np.concatenate([p for p, _ in rows]) if rows else np.zeros(0, int)
    v = np.array([sign * float(x) for _, cs in rows for x in cs])
    return sp.csr_matrix((v, (r, c)), shape=(len(rows), N))


_SHOR_LAST: list[tuple[Any, _Shor]] = []  # (weak reference to the chain, data): the last chain only


def _shor(chain: Chain, form: SdpForm) -> _Shor:
    """The shared relaxation data of ``chain`` (cached for the last chain seen)."""
    import weakref

    import scipy.sparse as sp

    from sosrelax.conic import Cone, ConeKind, ConicProgram

    if _SHOR_LAST:
        ref, data = _SHOR_LAST[0]
        if ref() is chain and data.key == (len(chain.inequalities), len(chain.lemmas),
                                           len(chain.equalities), form):
            return data
    pairs = form_products(chain, form)  # may add facts u_h - h >= 0 first
    ineqs, derived, lemmas, boxes = _shor_constraints(chain, form, pairs)
    rows_g = [_sparse_row(g) for g in ineqs]
    rows_h = [_sparse_row(h) for h in chain.equalities]
    n = chain.n
    N = (n + 1) * (n + 2) // 2

    from sosrelax.conic import svec_scale

    one = sp.csr_matrix(([1.0], ([0], [0])), shape=(1, N))
    A = sp.vstack([one, _row_block(rows_h, 1.0, N), _row_block(rows_g, -1.0, N),
                   sp.diags(-svec_scale(n + 1), format="csr")]).tocsc()
    rhs = np.zeros(A.shape[0])
    rhs[0] = 1.0
    cones = (Cone(ConeKind.ZERO, 1 + len(rows_h)), Cone(ConeKind.NONNEG, len(rows_g)),
             Cone(ConeKind.PSD, n + 1))
    program = ConicProgram(np.zeros(N), A, rhs, cones)
    data = _Shor((len(chain.inequalities), len(chain.lemmas), len(chain.equalities), form),
                 ineqs, lemmas, tuple(derived), rows_g, rows_h, boxes, program, len(rows_h))
    _SHOR_LAST[:] = [(weakref.ref(chain), data)]
    return data


def _input_cross(chain: Chain, i: int, j: int, inputs: set[int]) -> bool:
    """Whether the product of facts ``i`` and ``j`` has a term ``x_a x_b`` of two distinct inputs."""
    gi, gj = chain.lin[i], chain.lin[j]
    assert gi is not None and gj is not None
    a = [v for v in gi[0] if v in inputs and gi[0][v]]
    b = [v for v in gj[0] if v in inputs and gj[0][v]]
    if not a or not b:
        return False
    # the coefficient of x_a x_b (a != b) is c_ia c_jb + c_ib c_ja; it can cancel only by accident,
    # which makes the test conservative (a product is dropped, never kept wrongly: the pattern is
    # computed from the kept products themselves)
    return len(set(a) | set(b)) > 1 or len(a) > 1 or len(b) > 1


@dataclass
class _ShorSparse:
    """Shor's relaxation with one PSD block per clique of a chordal extension (see :func:`sparse_sdp`).

    Moments are the entries of the dense svec order (:class:`_Shor`) that lie in some clique's
    moment matrix, numbered ``0, 1, ...`` in increasing dense position (``mono``).
    """

    key: tuple[int, int, int, SdpForm]
    ineqs: list[Terms]
    lemmas: list[Certificate]
    derived: tuple[int, ...]
    rows_g: list[tuple[np.ndarray, list[Any]]]  # positions are compressed moment indices
    rows_h: list[tuple[np.ndarray, list[Any]]]
    boxes: list[tuple[int, int, Fraction, Fraction]]
    cliques: list[tuple[int, ...]]
    clique_idx: list[np.ndarray]  # per clique: compressed moment index of each svec entry
    index: dict[int, int]  # dense svec position -> compressed moment index
    program: Any
    n_eq: int


_SPARSE_LAST: list[tuple[Any, _ShorSparse]] = []


def shor_sparse(chain: Chain, form: SdpForm) -> _ShorSparse:
    """The clique-sparse relaxation data of ``chain`` (cached for the last chain seen).

    The constraints are those of ``form`` except the products with a term ``x_a x_b`` of two
    distinct inputs (in ``WITH_LP``: the lower triangle sides ``(h - z)(z - l)`` of first-layer
    neurons, whose ``z^2`` couples every input with every other); every other constraint's terms
    lie in the aggregate sparsity pattern, whose chordal extension (minimum degree) gives the
    cliques.  Over that pattern the clique relaxation has the value of the dense one (Grone et
    al.'s completion theorem; Agler et al. for the dual), so the only loss is the dropped products.
    """
    import weakref

    import scipy.sparse as sp

    from sosrelax.conic import Cone, ConeKind, ConicProgram, svec_indices, svec_scale
    from sosrelax.relax.sparsity import minimum_degree_cliques

    key = (len(chain.inequalities), len(chain.lemmas), len(chain.equalities), form)
    if _SPARSE_LAST:
        ref, data = _SPARSE_LAST[0]
        if ref() is chain and data.key == key:
            return data
    pairs = form_products(chain, form)  # may add facts u_h - h >= 0 first
    key = (len(chain.inequalities), len(chain.lemmas), len(chain.equalities), form)  # after new facts
    hidden = {nr.var for layer in chain.layers for nr in layer if nr.var >= 0}
    inputs = set(range(chain.n)) - hidden
    pairs = [(i, j) for i, j in pairs if not _input_cross(chain, i, j, inputs)]
    ineqs, derived, lemmas, boxes = _shor_constraints(chain, form, pairs)
    n = chain.n
    edges = set()
    for terms in [*ineqs, *chain.equalities]:
        for e, _ in terms:
            nz = [v for v, k in enumerate(e) if k]
            if len(nz) == 2:
                edges.add((nz[0], nz[1]))
    cliques, _fill = minimum_degree_cliques(n, np.array(sorted(edges), dtype=np.int64).reshape(-1, 2))
    dense_pos: list[np.ndarray] = []
    for C in cliques:
        B = np.array([0] + [1 + v for v in C], dtype=np.int64)
        r, c = svec_indices(len(B))
        dense_pos.append(B[c] * (B[c] + 1) // 2 + B[r])
    allpos = np.unique(np.concatenate([np.zeros(1, np.int64), *dense_pos]))
    index = {int(p_): k for k, p_ in enumerate(allpos.tolist())}
    clique_idx = [np.array([index[int(p_)] for p_ in dp], dtype=np.int64) for dp in dense_pos]

    def compress(terms: Terms) -> tuple[np.ndarray, list[Any]]:
        pos, cs = _sparse_row(terms)
        missing = [int(p_) for p_ in pos if int(p_) not in index]
        if missing:
            raise AssertionError("a constraint term lies outside the cliques' moment matrices")
        return np.array([index[int(p_)] for p_ in pos], dtype=np.int64), cs

    rows_g = [compress(g) for g in ineqs]
    rows_h = [compress(h) for h in chain.equalities]
    N = len(allpos)

    one = sp.csr_matrix(([1.0], ([0], [0])), shape=(1, N))
    psd_rows = np.concatenate([np.arange(len(ix)) for ix in clique_idx])
    offs = np.cumsum([0] + [len(ix) for ix in clique_idx])
    psd = sp.csr_matrix((np.concatenate([-svec_scale(len(C) + 1) for C in cliques]),
                         (psd_rows + np.repeat(offs[:-1], [len(ix) for ix in clique_idx]),
                          np.concatenate(clique_idx))), shape=(int(offs[-1]), N))
    A = sp.vstack([one, _row_block(rows_h, 1.0, N), _row_block(rows_g, -1.0, N), psd]).tocsc()
    rhs = np.zeros(A.shape[0])
    rhs[0] = 1.0
    cones = (Cone(ConeKind.ZERO, 1 + len(rows_h)), Cone(ConeKind.NONNEG, len(rows_g)),
             *(Cone(ConeKind.PSD, len(C) + 1) for C in cliques))
    program = ConicProgram(np.zeros(N), A, rhs, cones)
    data = _ShorSparse(key, ineqs, lemmas, tuple(derived), rows_g, rows_h, boxes, list(cliques),
                       clique_idx, index, program, len(rows_h))
    _SPARSE_LAST[:] = [(weakref.ref(chain), data)]
    return data


def _clique_matrices(data: _ShorSparse, z: np.ndarray, off: int) -> tuple[list[np.ndarray], float, float]:
    """The solver's clique moment matrices (float, read from ``z`` from position ``off``), their
    smallest eigenvalue (at most 0) and largest entry (at least 1)."""
    from sosrelax.conic import svec_indices, svec_scale

    Zs: list[np.ndarray] = []
    lam_min = 0.0
    scale = 1.0
    for C in data.cliques:
        k = len(C) + 1
        rr, cc = svec_indices(k)
        zc = z[off:off + len(rr)] / svec_scale(k)
        off += len(rr)
        Z = np.zeros((k, k))
        Z[rr, cc] = zc
        Z[cc, rr] = zc
        Zs.append(Z)
        lam_min = min(lam_min, float(np.linalg.eigvalsh(Z)[0]))
        scale = max(scale, float(np.abs(Z).max()))
    return Zs, lam_min, scale


def _unit_perturbation(C: tuple[int, ...], box_of: dict[int, tuple[int, Fraction, Fraction]]) -> np.ndarray:
    """The Gram matrix of ``Σ_{i ∈ C} (x_i - c_i)^2 + 1`` over the clique basis ``(1, x_C)``."""
    E = np.zeros((len(C) + 1, len(C) + 1))
    E[0, 0] = 1.0
    for t, v in enumerate(C, start=1):
        cen = float(box_of[v][1])
        E[t, t] += 1.0
        E[0, t] -= cen
        E[t, 0] -= cen
        E[0, 0] += cen * cen
    return E


def _clique_certificate(chain: Chain, data: _ShorSparse, form: SdpForm, obj: Terms, gq: Fraction,
                        grams: list[RationalMatrix], nu: list[Fraction], lam_e: list[Fraction],
                        sol: Any) -> Certificate:
    """The certificate of the clique relaxation: one Gram block per clique, the base constraints and
    the derived facts it multiplies, the chain's lemmas."""
    from sosrelax.certificate.format import SOSMultiplier

    n = chain.n
    zero = tuple([0] * n)
    sos = tuple(SOSMultiplier(None, (zero, *(tuple(1 if t == v else 0 for t in range(n)) for v in C)), Q)
                for C, Q in zip(data.cliques, grams, strict=True))
    return _assemble(chain, data.ineqs, data.derived, data.lemmas, obj, gq, sos, nu, lam_e,
                     {"relaxation": "sdp", "form": form.value, "sparsity": "cliques",
                      "cliques": str(len(data.cliques)), "max_clique": str(max(len(C) for C in data.cliques)),
                      "solver": sol.solver, "solver_status": sol.solver_status})


def _assemble(chain: Chain, ineqs: Sequence[Terms], derived: Sequence[int], lemmas: Sequence[Certificate],
              obj: Terms, gq: Fraction, sos: tuple[Any, ...], nu: Sequence[Fraction], lam_e: Sequence[Fraction],
              metadata: dict[str, str]) -> Certificate:
    """A Shor certificate over the chain: the base constraints (the set it speaks about, which the lemmas
    use) and the derived facts it multiplies (unused derived facts are left out), its Gram blocks ``sos``,
    constant equality multipliers ``nu`` and linear multipliers ``lam_e``, with the chain's lemmas."""
    from sosrelax.certificate.format import EqualityMultiplier

    zero = tuple([0] * chain.n)
    der = set(derived)
    keep = [k for k in range(len(ineqs)) if k not in der or lam_e[k]]
    at = {k: i for i, k in enumerate(keep)}
    return Certificate(
        variables=chain.variables, kind="lower_bound", objective=obj, bound=gq,
        inequalities=tuple(ineqs[k] for k in keep), equalities=tuple(chain.equalities), sos=sos,
        equality_multipliers=tuple(EqualityMultiplier(j, ((zero, m),)) for j, m in enumerate(nu) if m),
        products=tuple(ProductMultiplier((at[k],), m) for k, m in enumerate(lam_e) if m),
        metadata=metadata, lemmas=tuple(lemmas), derived=tuple(at[k] for k in keep if k in der),
    )


def sparse_sdp(chain: Chain, f: Lin, form: SdpForm, time_limit: float | None, solver: str
               ) -> tuple[float | None, Certificate | None, str]:
    """Shor's relaxation with one PSD block per clique (:func:`shor_sparse`), made exact.

    The certificate is ``f - γ = Σ λ_i g_i + Σ ν_j h_j + Σ_C (1, x_C)ᵀ Q_C (1, x_C)``.  As in
    :func:`fast_sdp`, ``λ`` and ``ν`` are rounded to multiples of ``2^-40``; a monomial shared by
    several cliques has its Gram entries rounded in every clique but one (its owner, the first clique
    containing it), whose entry is *defined* by the identity, so the residual is exactly zero.
    Positive definiteness: the box product of variable ``i`` gets ``ε m_i`` more multiplier
    (``m_i`` cliques contain ``i``) and ``γ`` drops by ``ε (Σ m_i r_i^2 + K)``, which adds
    ``ε (Σ_{i ∈ C} (x_i - c_i)^2 + 1)`` to every one of the ``K`` clique blocks.
    """
    import flint

    from sosrelax.certificate.check import prove_psd
    from sosrelax.certificate.format import float_toward
    from sosrelax.conic import svec_indices

    data = shor_sparse(chain, form)
    n = chain.n
    prog = data.program
    N = prog.A.shape[1]
    obj = chain.terms(f)
    fpos, fco = _sparse_row(obj)
    fpos = np.array([data.index[int(p_)] for p_ in fpos], dtype=np.int64)
    solved = _solve_rounded(data, prog, fpos, fco, N, n, solver, time_limit, "SDP (cliques)",
                            qdldl=solver == "clarabel")
    if isinstance(solved, str):
        return None, None, solved
    sol, z, gamma, lam, nu, P = solved
    m_h, m_g = data.n_eq, len(data.rows_g)
    K = len(data.cliques)
    Zs, lam_min, scale = _clique_matrices(data, z, 1 + m_h + m_g)
    owner = np.full(N, -1, dtype=np.int64)
    for ci, ix in enumerate(data.clique_idx):
        fresh = owner[ix] < 0
        owner[ix[fresh]] = ci
    box_of = {v: (k, cen, r2) for k, v, cen, r2 in data.boxes}
    lead = {v: -Fraction(dict(data.ineqs[k])[tuple(2 if t == v else 0 for t in range(n))])
            for v, (k, _c, _r) in box_of.items()}
    base = max(4 * max(0.0, -lam_min), 1e-12 * scale)
    # one exponent per clique: a clique whose exact matrix is not proven positive definite gets a
    # larger perturbation in the next round, the others keep theirs
    expo = [math.ceil(math.log2(base))] * K
    proven: set[RationalMatrix] = set()
    for _ in range(30):
        e_c = [Fraction(2) ** x for x in expo]
        Pe = list(P)
        lam_e = list(lam)
        shift = Fraction(0)
        per_var = [Fraction(0)] * n
        for ci, C in enumerate(data.cliques):
            shift += e_c[ci]
            for v in C:
                per_var[v] += e_c[ci]
                shift += e_c[ci] * box_of[v][2]
        for v in range(n):
            k = box_of[v][0]
            de = per_var[v] / lead[v]
            lam_e[k] += de
            dq = flint.fmpq(de.numerator, de.denominator)
            for p_, q in zip(*data.rows_g[k], strict=True):
                Pe[p_] -= dq * q
        gq = Fraction(math.floor((gamma - float(shift)) * 2.0**40), 2**40)
        Pe[0] -= flint.fmpq(gq.numerator, gq.denominator)
        # clique targets: the solver's matrix plus e_C ((x_C - c_C)^2 + 1); entries of monomials
        # the clique does not own are rounded, owned ones take what the identity leaves
        coefs: list[list[Any]] = []
        used = [flint.fmpq(0)] * N
        for ci, C in enumerate(data.cliques):
            k = len(C) + 1
            ef = float(e_c[ci])
            T = Zs[ci].copy()
            T[0, 0] += ef
            for t, v in enumerate(C, start=1):
                cen = float(box_of[v][1])
                T[t, t] += ef
                T[0, t] -= ef * cen
                T[t, 0] -= ef * cen
                T[0, 0] += ef * cen * cen
            rr, cc = svec_indices(k)
            vals = np.where(rr == cc, T[rr, cc], 2.0 * T[rr, cc])
            row: list[Any] = []
            for s_, m in enumerate(data.clique_idx[ci].tolist()):
                if owner[m] == ci:
                    row.append(None)
                else:
                    q = _dyadic_round(float(vals[s_]), 40)
                    fq = flint.fmpq(q.numerator, q.denominator)
                    used[m] += fq
                    row.append(fq)
            coefs.append(row)
        grams = []
        for ci, C in enumerate(data.cliques):
            row = coefs[ci]
            full = [Pe[m] - used[m] if row[s_] is None else row[s_]
                    for s_, m in enumerate(data.clique_idx[ci].tolist())]
            Q = _gram(full, len(C))
            if Q in proven or prove_psd(Q, method="congruence")[0]:
                proven.add(Q)
                grams.append(Q)
                continue
            # jump to about twice the perturbation that lifts the float matrix's smallest
            # eigenvalue to zero (E: the perturbation of unit size on this clique)
            E = _unit_perturbation(C, box_of)
            need = 2.0 * max(0.0, -float(np.linalg.eigvalsh(Q.to_float())[0])) / float(np.linalg.eigvalsh(E)[0])
            want = float(e_c[ci]) + need
            expo[ci] = max(expo[ci] + 1, math.ceil(math.log2(want)) if want > 0 else expo[ci] + 1)
        if len(grams) == K:
            break
    else:
        return None, None, "SDP (cliques): no positive definite Gram matrices near the solver's dual"
    cert = _clique_certificate(chain, data, form, obj, gq, grams, nu, lam_e, sol)
    rep = check_certificate(cert)
    if not rep.valid or rep.bound is None:
        return None, None, "certificate rejected: " + rep.reason
    return float_toward(rep.bound, down=True), cert, rep.reason


def _dyadic_round(v: float, bits: int = 40) -> Fraction:
    """``v`` rounded to a multiple of ``2^-bits`` (short numerators and denominators)."""
    return Fraction(round(v * 2.0**bits), 2**bits)


def _solve_rounded(data: Any, prog: Any, fpos: np.ndarray, fco: Any, N: int, n: int, solver: str,
                   time_limit: float | None, label: str, *, qdldl: bool) -> tuple[Any, ...] | str:
    """Solve a Shor program (objective ``f`` at moment positions ``fpos``) and round its multipliers
    (:func:`_rounded_multipliers`): ``(solution, z, γ, λ, ν, P)``, or why not (a message starting with ``label``)."""
    from sosrelax.conic import ConicProgram, SolverStatus
    from sosrelax.solvers import solve_conic

    c = np.zeros(N)
    for p_, q in zip(fpos, fco, strict=True):
        c[p_] += float(q)
    opts = {"direct_solve_method": "qdldl"} if qdldl else None
    sol = solve_conic(ConicProgram(c, prog.A, prog.b, prog.cones), solver, time_limit=time_limit,
                      options=opts)
    if sol.z is None or not np.all(np.isfinite(sol.z)) or sol.status not in (
            SolverStatus.OPTIMAL, SolverStatus.INACCURATE):
        return f"{label}: solver status {sol.status.value} ({sol.solver_status})"
    z = np.asarray(sol.z, float)
    lam, nu, P = _rounded_multipliers(z, data.rows_g, data.rows_h, fpos, fco, N)
    if len(data.boxes) != n:
        return f"{label}: not every variable has a box product"
    return sol, z, -float(z[0]), lam, nu, P


def _rounded_multipliers(z: np.ndarray, rows_g: list[tuple[np.ndarray, list[Any]]],
                         rows_h: list[tuple[np.ndarray, list[Any]]], fpos: np.ndarray, fco: list[Any],
                         N: int) -> tuple[list[Fraction], list[Fraction], list[Any]]:
    """From the dual ``z`` of a Shor program: the inequality multipliers ``λ`` (those at interior-point
    noise level dropped: the Gram matrix absorbs them) and equality multipliers ``ν``, rounded to
    multiples of ``2^-40``, and ``P = f - Σ λ g - Σ ν h`` exactly, by moment position."""
    import flint

    m_h, m_g = len(rows_h), len(rows_g)
    nu = [_dyadic_round(-v) for v in z[1:1 + m_h]]
    zg = z[1 + m_h:1 + m_h + m_g]
    tiny = 1e-9 * (1.0 + float(np.abs(zg).max(initial=0.0)))
    lam = [_dyadic_round(v) if v > tiny else Fraction(0) for v in zg]
    P = [flint.fmpq(0)] * N
    for p_, q in zip(fpos, fco, strict=True):
        P[p_] += q
    for mult, rows in ((lam, rows_g), (nu, rows_h)):
        for m, (pos, cs) in zip(mult, rows, strict=True):
            if not m:
                continue
            mq = flint.fmpq(m.numerator, m.denominator)
            for p_, q in zip(pos, cs, strict=True):
                P[p_] -= mq * q
    return lam, nu, P


def _gram(P: list[Any], n: int) -> RationalMatrix:
    """The Gram matrix of basis ``(1, x)`` with ``b^T Q b`` equal to the svec-indexed polynomial ``P``."""
    from sosrelax.conic import svec_indices

    rows, cols = svec_indices(n + 1)
    den = 1
    for v in P:
        den = math.lcm(den, int(v.q))
    den *= 2
    num = np.zeros((n + 1, n + 1), dtype=object)
    for k, (r, c) in enumerate(zip(rows, cols, strict=True)):
        q = P[k]
        v = int(q.p) * (den // int(q.q))
        if r == c:
            num[r, c] = v
        else:
            num[r, c] = num[c, r] = v // 2  # den is even, v even
    return RationalMatrix(num, den)


def fast_sdp(chain: Chain, f: Lin, form: SdpForm, time_limit: float | None, solver: str
             ) -> tuple[float | None, Certificate | None, str]:
    """Shor's relaxation solved as one conic program; the certificate is made exact directly.

    From the solver's dual, ``f - γ = Σ λ_i g_i + Σ ν_j h_j + (1, x)ᵀ Z (1, x)``, the multipliers
    ``λ`` (clipped at 0) and ``ν`` are rounded to multiples of ``2^-40`` and the Gram matrix ``Q`` is
    *defined* by the identity (each monomial of degree <= 2 has one Gram entry), so the residual is
    exactly zero.  ``Q`` is then made positive definite by raising the multiplier of every box
    product ``(x - l)(u - x)`` by ``ε`` and lowering ``γ`` by ``ε Σ r_i^2 + ε``: this adds
    ``ε (Σ (x_i - c_i)^2 + 1)`` to the SOS part.  ``ε`` grows until the exact congruence test proves
    ``Q`` positive definite; the checker then verifies everything, lemma chain included.
    """
    import flint

    from sosrelax.certificate.check import prove_psd
    from sosrelax.certificate.format import SOSMultiplier, float_toward
    from sosrelax.conic import svec_scale

    data = _shor(chain, form)
    n = chain.n
    N = (n + 1) * (n + 2) // 2
    obj = chain.terms(f)
    fpos, fco = _sparse_row(obj)
    # measured on digits networks: on programs this small qdldl reaches full accuracy where the
    # default (faer) often stops at "almost solved", whose dual costs ~1e-3 of the bound; on large
    # dense PSD blocks (thousands of moments) qdldl is ten times slower than faer
    solved = _solve_rounded(data, data.program, fpos, fco, N, n, solver, time_limit, "SDP",
                            qdldl=solver == "clarabel" and N <= 1000)
    if isinstance(solved, str):
        return None, None, solved
    sol, z, gamma, lam, nu, P = solved
    Zf = np.asarray([float(v) for v in P]) / np.where(svec_scale(n + 1) > 1, 2.0, 1.0)
    from sosrelax.conic import svec_indices

    ri, ci = svec_indices(n + 1)
    Qf = np.zeros((n + 1, n + 1))
    Qf[ri, ci] = Zf
    Qf[ci, ri] = Zf
    Qf[0, 0] -= gamma
    scale = max(1.0, float(np.abs(Qf).max()))
    lam_min = float(np.linalg.eigvalsh(Qf)[0])
    eps = max(4 * max(0.0, -lam_min), 1e-10 * scale * (n + 1))
    r2 = sum((b[3] for b in data.boxes), Fraction(0))
    for _ in range(6):
        e = Fraction(2) ** (math.ceil(math.log2(eps)))
        Pe = list(P)
        lam_e = list(lam)
        for k, _v, _c, _r in data.boxes:
            lam_e[k] += e
            for p_, q in zip(*data.rows_g[k], strict=True):
                Pe[p_] -= flint.fmpq(e.numerator, e.denominator) * q
        g = gamma - float(e * r2 + e)
        gq = Fraction(math.floor(g * 2.0**40), 2**40)
        Pe[0] -= flint.fmpq(gq.numerator, gq.denominator)
        Q = _gram(Pe, n)
        ok, _, _ = prove_psd(Q, method="congruence")
        if ok:
            break
        eps *= 100
    else:
        return None, None, "SDP: no positive definite Gram matrix near the solver's dual"
    zero = tuple([0] * n)
    basis = [zero] + [tuple(1 if t == v else 0 for t in range(n)) for v in range(n)]
    cert = _assemble(chain, data.ineqs, data.derived, data.lemmas, obj, gq,
                     (SOSMultiplier(None, tuple(basis), Q),), nu, lam_e,
                     {"relaxation": "sdp", "form": form.value, "solver": sol.solver,
                      "solver_status": sol.solver_status})
    rep = check_certificate(cert)
    if not rep.valid or rep.bound is None:
        return None, None, "certificate rejected: " + rep.reason
    return float_toward(rep.bound, down=True), cert, rep.reason

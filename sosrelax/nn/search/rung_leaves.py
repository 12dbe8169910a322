"""The hierarchy inside the search: LP, SDP and SOS rungs that close leaves the linear bounds leave open.

A box whose linear bound does not close a disjunct, and whose exact encoding is small (few unstable
neurons), is tried with stronger relaxations before it is split further:

``lp``
    The triangle LP of the exact leaf encoding, with every atom at once: ``min s`` subject to the
    encoding and ``atom_j + s >= 0``.  When ``s* > 0`` its duals on the atom rows are weights
    ``lambda`` with ``sum_j lambda_j (-atom_j) > 0`` on the LP; that objective's bound is then
    proven exactly (:func:`~sosrelax.nn.rungs.lp_rung`: dual rounded and repaired in rationals).
``sdp``
    Shor's SDP with the products ``h (h - z) = 0`` (:func:`~sosrelax.nn.rungs.sdp_rung`), proving
    one atom violated with the other atoms as constraints.
``sos``
    Lasserre level 2 on the same encoding (only up to
    :data:`~sosrelax.nn.rungs.SOS_MAX_VARIABLES` variables).

A success is a rung leaf of the proof tree (``("c", lambdas, certificate)``), bound to the leaf's
box through :func:`~sosrelax.certificate.proof_tree.rung_leaf.leaf_chain`, which the checker calls
again.  The search uses rung leaves in the real semantics only: in the float32 semantics a leaf
would need a margin of the rigorous float32 output deviation, and that bound (propagated through
``|W|``) is far too loose on deep networks (about 4 on the outputs of an ACAS Xu network).

No exact checking runs here: the LP rung's bound is exact by construction (its dual is repaired in
rationals) and the certificate is checked once, by the proof-tree checker.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from fractions import Fraction
from typing import Any

import numpy as np

from sosrelax.certificate.proof_tree.arith import float_down, float_up
from sosrelax.certificate.proof_tree.rung_leaf import atom_lin, leaf_chain
from sosrelax.nn.ir import Network
from sosrelax.nn.search.bab import RungLeaf
from sosrelax.nn.vnnlib import Disjunct

__all__ = ["LEAF_RUNGS", "MAX_VARIABLES", "RungLeaves"]

log = logging.getLogger(__name__)

#: The rungs a search may use at its leaves, cheapest first.
LEAF_RUNGS = ("lp", "sdp", "sos")

#: Largest leaf encoding (inputs plus unstable neurons) each rung is tried on.
MAX_VARIABLES = {"lp": 40, "sdp": 30, "sos": 12}


class RungLeaves:
    """Tries the rungs ``rungs`` on one box of one disjunct; callable by the search.

    Parameters
    ----------
    net : Network
    disjuncts : sequence of Disjunct
        The disjuncts searched together (the search's ``k`` indexes them).
    semantics : {"real", "float32"}
        Rung leaves are made in the real semantics only (see the module docstring).
    rungs : sequence of str
        A subset of :data:`LEAF_RUNGS`, tried in that order.
    inner : sequence of (lo, hi) arrays
        Each disjunct's box as the search holds it (rounded inward); a leaf coordinate equal to it is
        the checker's outward-rounded bound of the exact box.
    """

    def __init__(self, net: Network, disjuncts: Sequence[Disjunct], semantics: str, rungs: Sequence[str],
                 inner: Sequence[tuple[np.ndarray, np.ndarray]]) -> None:
        bad = [r for r in rungs if r not in LEAF_RUNGS]
        if bad:
            from sosrelax.errors import InvalidValueError

            raise InvalidValueError(f"unknown leaf rung {bad[0]!r}; choose from {LEAF_RUNGS}")
        self.net = net
        self.layers = tuple(zip(net.weights, net.biases, strict=True))
        self.disjuncts = list(disjuncts)
        self.float32 = semantics == "float32"
        self.rungs = tuple(r for r in LEAF_RUNGS if r in rungs)
        self.inner = [(np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)) for a, b in inner]
        self.outer = [(np.array([float_down(Fraction(q)) for q in d.lo]),
                       np.array([float_up(Fraction(q)) for q in d.hi])) for d in self.disjuncts]
        self.max_variables = max((MAX_VARIABLES[r] for r in self.rungs), default=0)

    def usable(self, k: int) -> bool:
        """Whether the search makes rung leaves for disjunct ``k`` (real semantics only)."""
        return bool(self.rungs) and not self.float32 and 0 <= k < len(self.disjuncts)

    def _box(self, k: int, lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The checker's box of the leaf: a coordinate on the search's (inward-rounded) root box is
        the checker's outward-rounded bound of the exact box."""
        ilo, ihi = self.inner[k]
        olo, ohi = self.outer[k]
        return np.where(lo == ilo, olo, lo), np.where(hi == ihi, ohi, hi)

    def __call__(self, k: int, lo: np.ndarray, hi: np.ndarray, deadline: float) -> RungLeaf | None:
        """A rung leaf closing disjunct ``k`` on ``[lo, hi]``, or ``None``."""
        if not self.usable(k):
            return None
        d = self.disjuncts[k]
        lo_n, hi_n = self._box(k, lo, hi)
        n_out = self.net.n_outputs
        chain = leaf_chain(self.layers, lo_n, hi_n)
        if chain.n > self.max_variables:
            return None
        lam = None
        if "lp" in self.rungs and chain.n <= MAX_VARIABLES["lp"]:
            found, lam = self._lp(chain, d, n_out)
            if found is not None:
                return found
        for rung in ("sdp", "sos"):
            if rung not in self.rungs or chain.n > MAX_VARIABLES[rung] or time.perf_counter() > deadline:
                continue
            order = np.argsort(-lam) if lam is not None else range(len(d.atoms))
            for j in list(order)[:1]:
                found = self._sdp(lo_n, hi_n, d, int(j), n_out, rung, deadline)
                if found is not None:
                    return found
        return None

    def _lp(self, chain: Any, d: Disjunct, n_out: int) -> tuple[RungLeaf | None, np.ndarray | None]:
        from scipy.optimize import linprog

        from sosrelax.nn.rungs import lp_rung

        forms = [atom_lin(chain, a.x, a.y, a.const, n_out) for a in d.atoms]
        if any(f is None for f in forms):
            return None, None
        rows = [g for g in chain.lin if g is not None]
        n, m, K = chain.n, len(rows), len(forms)
        A = np.zeros((m + K, n + 1))
        b = np.zeros(m + K)
        for r, (coef, const) in enumerate(rows):
            for v, w in coef.items():
                A[r, v] = -float(w)
            b[r] = float(const)
        for j, f in enumerate(forms):
            assert f is not None
            for v, w in f[0].items():
                A[m + j, v] = -float(w)
            A[m + j, n] = -1.0
            b[m + j] = float(f[1])
        cost = np.zeros(n + 1)
        cost[n] = 1.0
        res = linprog(cost, A_ub=A, b_ub=b, bounds=[(None, None)] * (n + 1), method="highs")
        if res.status != 0:
            return None, None
        lam = np.maximum(-np.asarray(res.ineqlin.marginals[m:]), 0.0)
        if lam.sum() <= 0:
            return None, None
        lam = lam / lam.sum()
        lam[lam < 1e-9] = 0.0
        if res.fun <= 0:
            return None, lam
        obj: dict[int, Fraction] = {}
        k0 = Fraction(0)
        for j, f in enumerate(forms):
            assert f is not None
            if lam[j] == 0:
                continue
            q = Fraction(float(lam[j]))
            for v, w in f[0].items():
                obj[v] = obj.get(v, Fraction(0)) - q * w
            k0 -= q * f[1]
        # the bound is exact by construction; the proof-tree checker runs the exact checker on it
        ok, _, cert, _ = lp_rung(chain, ({v: w for v, w in obj.items() if w}, k0), True, check=False)
        if ok and cert is not None and cert.bound > 0:
            return RungLeaf("lp", tuple(float(v) for v in lam), cert), lam
        return None, lam

    def _sdp(self, lo_n: np.ndarray, hi_n: np.ndarray, d: Disjunct, j: int, n_out: int, rung: str,
             deadline: float) -> RungLeaf | None:
        from sosrelax.nn.rungs import sdp_rung

        chain = leaf_chain(self.layers, lo_n, hi_n)  # fresh: the other atoms are added to it
        a = d.atoms[j]
        f = atom_lin(chain, a.x, a.y, a.const, n_out, Fraction(-1))
        if f is None:
            return None
        for i, other in enumerate(d.atoms):
            if i == j:
                continue
            g = atom_lin(chain, other.x, other.y, other.const, n_out)
            if g is not None:
                chain.add(g)
        left = max(0.5, deadline - time.perf_counter())
        ok, bnd, cert, _ = sdp_rung(chain, f, True, left, level=2 if rung == "sos" else 1)
        if ok and cert is not None and bnd is not None and bnd > 0:
            lam = [0.0] * len(d.atoms)
            lam[j] = 1.0
            return RungLeaf(rung, tuple(lam), cert)
        return None

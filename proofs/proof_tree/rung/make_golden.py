"""Write the golden proof tree with rung leaves (deterministic: same bytes on every run).

The network is the 2-6-6-2 network of ``proofs/proof_tree/make_golden.py``; the property has two
disjuncts over [-1, 1]^2, each ``y0 >= t`` and ``y1 + 100 >= 0``:

* ``t = 19/2``: the box is halved along input 0 and each half is closed by a certified LP rung leaf
  (``("c", lambdas, certificate)``): the triangle LP of the exact encoding over the half, with the
  weights ``lambdas`` of the two atoms from the LP's duals;
* ``t = 9``: one SDP rung leaf (Shor's relaxation with the products ``h (h - z) = 0``) closes the whole
  box, where the LP rung does not and the linear bounds need 16 leaves.

Run ``python proofs/proof_tree/rung/make_golden.py`` from the repository root.
"""

from __future__ import annotations

import importlib.util
import time
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from sosrelax.certificate.proof_tree import AtomSpec, DisjunctProof, ProofTree, check_proof_tree

HERE = Path(__file__).resolve().parent
NAME = "tiny_relu_rung_leaves"


def _base() -> Any:
    spec = importlib.util.spec_from_file_location("make_golden", HERE.parent / "make_golden.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def rung_tree() -> ProofTree:
    from sosrelax.nn.ir import from_weights
    from sosrelax.nn.search.rung_leaves import RungLeaves
    from sosrelax.nn.vnnlib_common import Atom, Disjunct

    layers = _base().network()
    net = from_weights([w for w, _ in layers], [b for _, b in layers])
    lo = (Fraction(-1), Fraction(-1))
    hi = (Fraction(1), Fraction(1))
    box = (np.array([-1.0, -1.0]), np.array([1.0, 1.0]))
    specs = []
    for t, rung, halves in ((Fraction(19, 2), "lp", True), (Fraction(9), "sdp", False)):
        atoms = (Atom((), ((0, Fraction(1)),), -t), Atom((), ((1, Fraction(1)),), Fraction(100)))
        rungs = RungLeaves(net, [Disjunct(lo, hi, atoms)], "real", (rung,), [box])
        pieces = [([-1.0, -1.0], [0.0, 1.0]), ([0.0, -1.0], [1.0, 1.0])] if halves else [([-1.0, -1.0], [1.0, 1.0])]
        nodes: list[Any] = [("s", 0, 0.0)] if halves else []
        for a, b in pieces:
            leaf = rungs(0, np.array(a), np.array(b), time.perf_counter() + 60)
            assert leaf is not None and leaf.rung == rung, f"the {rung} rung must close the piece"
            nodes.append(("c", leaf.lambdas, leaf.certificate))
        specs.append(DisjunctProof(lo, hi, tuple(AtomSpec(a.x, a.y, a.const, a.strict) for a in atoms),
                                   tuple(nodes)))
    return ProofTree(layers, (2,), tuple(specs), "real", "crown",
                     {"generator": "proofs/proof_tree/rung/make_golden.py"})


def main() -> None:
    tree = rung_tree()
    rep = check_proof_tree(tree)
    assert rep.valid, rep.reason
    tree.save(HERE / f"{NAME}.json")
    print(NAME, rep)


if __name__ == "__main__":
    main()

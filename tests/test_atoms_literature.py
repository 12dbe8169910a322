"""Minimisers read off the moments (Henrion–Lasserre) at the level where the literature says the
relaxation becomes exact — and not before."""

from __future__ import annotations

import numpy as np
from test_literature import camel, floudas46, gloptipoly_qp

import sosrelax as sr


def sorted_rows(a: np.ndarray) -> np.ndarray:
    return a[np.lexsort(a.T[::-1])]


def test_camel_two_minimisers_at_level_3():
    res = sr.solve(camel(), level=3)
    atoms = res.pseudo.atoms()
    assert atoms.found and len(atoms.points) == 2
    known = np.array([[-0.0898420131, 0.7126564030], [0.0898420131, -0.7126564030]])
    assert np.allclose(sorted_rows(atoms.points), known, atol=1e-4)  # straight from the moments
    assert np.allclose(atoms.weights.sum(), 1.0, atol=1e-6)
    # polished on the real problem, then accepted only within 1e-6 of the proven bound
    assert np.allclose(sorted_rows(res.minimizers()), known, atol=1e-6)


def test_floudas46_exact_at_level_3_not_level_2():
    assert not sr.solve(floudas46(), level=2).pseudo.atoms().found
    res = sr.solve(floudas46(), level=3)
    atoms = res.pseudo.atoms()
    assert atoms.found and len(atoms.points) == 1
    p = atoms.points[0]
    assert np.allclose(p, [2.3295, 3.1785], atol=5e-5)  # published to four decimals
    assert np.allclose(res.minimizers(), [[2.3295201977, 3.1784930731]], atol=1e-6)
    prob = floudas46()
    assert prob.violation(dict(zip(prob.variables, p, strict=True))) <= 1e-5
    assert abs(-p.sum() - res.bound) <= 1e-5


def test_gloptipoly_qp_exact_at_level_4_not_level_3():
    assert not sr.solve(gloptipoly_qp(), level=3).pseudo.atoms().found
    atoms = sr.solve(gloptipoly_qp(), level=4).pseudo.atoms()
    assert atoms.found
    assert np.allclose(sorted_rows(atoms.points), [[0.5, 0.0, 3.0], [2.0, 0.0, 0.0]], atol=1e-5)

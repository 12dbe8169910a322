"""The clique-sparse SDP rung on small random ReLU networks: a relaxation of the dense one (its
proven bound is at most the dense bound), sound (at most the exact MILP value), its certificate
verified by the checker with one Gram block per clique, and tampered certificates rejected."""

from __future__ import annotations

from dataclasses import replace
from fractions import Fraction

import numpy as np
import pytest

from sosrelax.certificate.check import check_certificate
from sosrelax.certificate.format import RationalMatrix, SOSMultiplier
from sosrelax.nn.encode import build_chain
from sosrelax.nn.ir import from_weights
from sosrelax.nn.moment import SdpForm, sdp_bound
from sosrelax.nn.robustness import box_of, milp_margin


def _net(seed: int, sizes: tuple[int, ...]):
    rng = np.random.default_rng(seed)
    ws = [rng.normal(size=(b, a)) / np.sqrt(a) for a, b in zip(sizes, sizes[1:], strict=False)]
    bs = [0.1 * rng.normal(size=b) for b in sizes[1:]]
    return from_weights(ws, bs)


def _margin_net(net, c: np.ndarray):
    """The network whose output 1 is ``c . f`` and output 0 is 0 (``milp_margin`` with label 0
    then returns ``-min c . f`` over the box)."""
    W, b = net.weights[-1], net.biases[-1]
    last_w = np.vstack([np.zeros(W.shape[1]), -(c @ W)])
    last_b = np.array([0.0, -float(c @ b)])
    return from_weights([*net.weights[:-1], last_w], [*net.biases[:-1], last_b])


@pytest.mark.parametrize("seed,sizes", [(0, (4, 8, 3)), (1, (4, 5, 5, 3)), (2, (6, 6, 4, 2))])
def test_sparse_between_exact_and_dense(seed: int, sizes: tuple[int, ...]) -> None:
    net = _net(seed, sizes)
    rng = np.random.default_rng(100 + seed)
    x0 = rng.uniform(0.2, 0.8, size=sizes[0])
    box = box_of(x0, 0.5)
    chain = build_chain(net, *box, eliminate_stable=True)
    n_hidden = sum(1 for layer in chain.layers for nr in layer if nr.var >= 0)
    assert n_hidden >= 3  # enough unstable neurons for a nontrivial relaxation
    several = False
    for j in range(1, sizes[-1]):
        c = np.zeros(sizes[-1])
        c[0], c[j] = 1.0, -1.0
        f = chain.output_form([Fraction(int(v)) for v in c], Fraction(0))
        exact = -milp_margin(_margin_net(net, c), box, 0)
        dense, _, why_d = sdp_bound(chain, f)
        sparse, cert, why_s = sdp_bound(chain, f, sparsity="cliques")
        assert dense is not None, why_d
        assert sparse is not None and cert is not None, why_s
        # a relaxation of the dense relaxation: never above it (up to both exactness margins)
        assert sparse <= dense + 1e-6 * (1 + abs(dense))
        # sound: below the exact minimum of the margin
        assert sparse <= exact + 1e-6 * (1 + abs(exact))
        rep = check_certificate(cert)
        assert rep.valid and rep.bound is not None and float(rep.bound) >= sparse
        several |= len(cert.sos) > 1
        assert all(len(s.basis) <= chain.n + 1 for s in cert.sos)
    assert several  # the chordal extension split the moment matrix


def test_sparse_cert_form_and_tampering() -> None:
    net = _net(3, (5, 6, 6, 3))
    box = box_of(np.full(5, 0.5), 0.4)
    chain = build_chain(net, *box, eliminate_stable=True)
    f = chain.output_form([Fraction(1), Fraction(-1), Fraction(0)], Fraction(0))
    b_cert, _, _ = sdp_bound(chain, f, form=SdpForm.SDP_CERT)
    b_sparse, _, why0 = sdp_bound(chain, f, form=SdpForm.SDP_CERT, sparsity="cliques")
    assert b_cert is not None and b_sparse is not None, why0
    assert b_sparse <= b_cert + 1e-6 * (1 + abs(b_cert))
    b, cert, why = sdp_bound(chain, f, sparsity="cliques")
    assert b is not None and cert is not None, why
    assert check_certificate(cert).valid
    # a larger bound than proven
    bad = replace(cert, bound=cert.bound + Fraction(1, 1000))
    assert not check_certificate(bad).valid
    # one Gram entry of one clique block changed (still positive definite: the diagonal grows)
    s = cert.sos[-1]
    Q = s.gram
    num = np.array(Q.numerators, dtype=object)
    num[1, 1] += Q.denominator // 1000 + 1
    sos = (*cert.sos[:-1], SOSMultiplier(s.constraint, s.basis, RationalMatrix(num, Q.denominator)))
    assert not check_certificate(replace(cert, sos=sos)).valid
    # a clique block dropped
    assert not check_certificate(replace(cert, sos=cert.sos[1:])).valid
    with pytest.raises(ValueError):
        sdp_bound(chain, f, sparsity="layers")


def test_sdp_rung_uses_cliques_on_a_wide_input_layer() -> None:
    from sosrelax.nn.moment import SPARSE_ABOVE, auto_sparsity
    from sosrelax.nn.verify import prove_atom_violated
    from sosrelax.nn.vnnlib import Atom, Disjunct

    net = _net(6, (30, 6, 2))
    box = box_of(np.full(30, 0.5), 0.1)
    chain = build_chain(net, *box, eliminate_stable=True)
    assert chain.n > SPARSE_ABOVE
    assert auto_sparsity(chain) == "cliques"
    exact = -milp_margin(_margin_net(net, np.array([1.0, -1.0])), box, 0)  # min f_0 - f_1
    assert exact > 0
    # atom f_1 - f_0 >= 0: proving it violated bounds f_0 - f_1 from below
    atom = Atom((), ((0, Fraction(-1)), (1, Fraction(1))), Fraction(0))
    ok, b, cert, why = prove_atom_violated(net, Disjunct(*box, (atom,)), 0, "sdp", chain)
    assert ok and b is not None and cert is not None, why
    assert len(cert.sos) == 30  # one block per input: the unstable neurons and that input
    assert check_certificate(cert).valid
    assert 0 < b <= exact + 1e-6 * (1 + abs(exact))
    dense, _, _ = sdp_bound(chain, chain.output_form([Fraction(1), Fraction(-1)], Fraction(0)))
    assert dense is not None and b <= dense + 1e-6 * (1 + abs(dense))

"""Latent claims through ``sosrelax verify --latent`` and with VNN-LIB 2.0 hidden-node atoms."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from sosrelax.certificate.proof_tree import ProofTree, check_proof_tree  # noqa: E402
from sosrelax.cli import main  # noqa: E402
from sosrelax.nn.latent import envelope, latent_network, verify_latent  # noqa: E402
from sosrelax.nn.onnx_loader import load_onnx  # noqa: E402
from sosrelax.nn.rungs import Result  # noqa: E402
from sosrelax.nn.vnnlib import PolyAtom, read_vnnlib  # noqa: E402

SPEC = """(declare-const X_0 Real)
(declare-const X_1 Real)
(declare-const Y_0 Real)
(assert (>= X_0 0.0))
(assert (<= X_0 1.0))
(assert (>= X_1 0.0))
(assert (<= X_1 1.0))
(assert (>= Y_0 {t}))
"""


@pytest.fixture(scope="module")
def corner(tmp_path_factory):
    """``h = relu(x)``, ``u = relu(h1 + h2 - 1.75)``, ``y = u``; data keep ``h1 + h2 <= 1.5``."""
    arrays = {"w1": np.eye(2, dtype=np.float32), "b1": np.zeros(2, np.float32),
              "w2": np.array([[1, 1]], np.float32), "b2": np.array([-1.75], np.float32),
              "w3": np.array([[1]], np.float32), "b3": np.zeros(1, np.float32)}
    nodes = [helper.make_node("Gemm", ["x", "w1", "b1"], ["z1"], transB=1),
             helper.make_node("Relu", ["z1"], ["h1"]),
             helper.make_node("Gemm", ["h1", "w2", "b2"], ["z2"], transB=1),
             helper.make_node("Relu", ["z2"], ["h2"]),
             helper.make_node("Gemm", ["h2", "w3", "b3"], ["y"], transB=1)]
    g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 1])],
                          [numpy_helper.from_array(v, k) for k, v in arrays.items()])
    d = tmp_path_factory.mktemp("latent")
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)]), str(d / "corner.onnx"))
    net = load_onnx(d / "corner.onnx")
    rng = np.random.default_rng(0)
    X = rng.random((3000, 2))
    X = X[X.sum(axis=1) <= 1.5][:500]
    env = envelope(net, X, 0, "interval", margin=0.0, held_out=0.2)
    env.save(d / "env.json")
    return d, net, env


def test_cli_latent_sat_and_unsat_with_proof(corner, tmp_path, capsys):
    d, net, env = corner
    (tmp_path / "p.vnnlib").write_text(SPEC.format(t="0.1"))
    args = ["verify", str(tmp_path / "p.vnnlib"), "--network", f"f={d / 'corner.onnx'}", "--latent", f"0={d / 'env.json'}"]
    assert main(args) == 0
    lines = capsys.readouterr().out.split()
    assert lines[0] == "sat" and lines[1] == "H0"
    h = [float(v) for v in lines[4:6]]
    assert h[0] + h[1] >= 1.85 and all(a <= v <= b for a, v, b in zip(env.lo, h, env.hi, strict=True))
    # the input-space claim over [0, 1]^2 is sat too (the corner is an input), but over the data's
    # envelope a larger threshold is unsat, with a proof tree the checker accepts
    (tmp_path / "q.vnnlib").write_text(SPEC.format(t="0.3"))
    args[1] = str(tmp_path / "q.vnnlib")
    assert main([*args, "--proof", str(tmp_path / "proof.json")]) == 0
    assert capsys.readouterr().out.split() == ["unsat"]
    tree = ProofTree.from_json((tmp_path / "proof.json").read_bytes())
    assert check_proof_tree(tree, network=latent_network(net, env)).valid
    assert main([*args[:-1], f"1={d / 'env.json'}"]) == 2  # the layer does not match the file


def test_hidden_node_atoms_in_a_latent_claim(corner):
    """``u >= t`` on the next layer's post-activation: sat below the envelope's maximum 0.25, unsat above."""
    _, net, env = corner
    prop = read_vnnlib_text(SPEC.format(t="-1000"))
    for t, expected in ((Fraction(1, 10), Result.SAT), (Fraction(3, 10), Result.UNSAT)):
        atom = PolyAtom(((((("R", 1, 0), 1),), Fraction(1)), ((), -t)))
        d = prop.disjuncts[0]
        p = type(prop)(prop.n_inputs, prop.n_outputs, (type(d)(d.lo, d.hi, d.atoms, (atom,)),), "hidden")
        res = verify_latent(net, p, env, timeout=60)
        assert res.status is expected
        if expected is Result.SAT:
            assert res.witness is not None and sum(res.witness.state) >= Fraction(175, 100) + t
        else:
            assert res.certificates  # verified by the checker inside verify


def read_vnnlib_text(text: str):
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as t:
        p = Path(t) / "p.vnnlib"
        p.write_text(text)
        return read_vnnlib(p)


def test_latent_claims_in_the_batch_runner(corner, tmp_path):
    """A network instance with an envelope file is a latent claim in ``certify_many``: the threshold 0.3
    is certified over the envelope (proof tree checked), 0.1 falsified with an exactly checked latent
    witness, and the results resume from the store."""
    from sosrelax.batch import BatchItem, BatchStatus, NetworkInstance, certify_many

    d, net, env = corner
    items = []
    for name, t in (("unsafe", "0.1"), ("safe", "0.3")):
        (tmp_path / f"{name}.vnnlib").write_text(SPEC.format(t=t))
        inst = NetworkInstance(str(d / "corner.onnx"), str(tmp_path / f"{name}.vnnlib"), str(d / "env.json"))
        items.append(BatchItem(name, inst, 30.0))
    store = tmp_path / "results.sqlite"
    res = certify_many(items, store=store, workers=1, progress=False)
    assert [r.status for r in res] == [BatchStatus.FALSIFIED, BatchStatus.CERTIFIED], [r.message for r in res]
    cx = res[0].counterexample
    assert cx is not None and cx["H_0"] + cx["H_1"] >= 1.85
    assert res[1].certificate_path is not None
    tree = ProofTree.from_json(open(res[1].certificate_path, "rb").read())
    assert check_proof_tree(tree, network=latent_network(net, env)).valid
    # the input-space instance (no envelope) has its own result key
    plain = NetworkInstance(str(d / "corner.onnx"), str(tmp_path / "safe.vnnlib"))
    assert plain.identity() != items[1].claim.identity()
    again = certify_many(items, store=store, workers=1, progress=False)
    assert all(r.resumed for r in again)


def test_latent_claims_through_certify(corner):
    """``sr.certify(LatentClaim(...))``: certified with the checked proof tree, falsified with the latent
    witness; a plain object is still refused with a message."""
    import sosrelax as sr
    from sosrelax.errors import InvalidValueError
    from sosrelax.nn.latent import LatentClaim
    from sosrelax.nn.vnnlib import parse_vnnlib

    _, net, env = corner
    safe = sr.certify(LatentClaim(net, parse_vnnlib(SPEC.format(t="0.3"), source="s.vnnlib"), env), time_limit=30)
    assert safe.status == sr.VerdictStatus.CERTIFIED and isinstance(safe.certificate, ProofTree)
    assert check_proof_tree(safe.certificate, network=latent_network(net, env)).valid
    bad = sr.certify(LatentClaim(net, parse_vnnlib(SPEC.format(t="0.1"), source="u.vnnlib"), env), time_limit=30)
    assert bad.status == sr.VerdictStatus.FALSIFIED and bad.counterexample is not None
    assert bad.counterexample["H_0"] + bad.counterexample["H_1"] >= 1.85
    with pytest.raises(InvalidValueError, match="LatentClaim"):
        sr.certify(object())  # type: ignore[arg-type]

"""VNN-LIB 2.0 hidden-node declarations and polynomial (POLY) atoms: parsing, binding to layers,
sat/unsat against brute force (dense grids with a Lipschitz margin), and the command line."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest

pytest.importorskip("vnnlib")
onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from sosrelax.certificate.check import check_certificate  # noqa: E402
from sosrelax.cli import main  # noqa: E402
from sosrelax.errors import ParseError  # noqa: E402
from sosrelax.nn.onnx_loader import load_onnx  # noqa: E402
from sosrelax.nn.spec_poly import bind_hidden  # noqa: E402
from sosrelax.nn.verify import Result, verify  # noqa: E402
from sosrelax.nn.vnnlib import Atom, PolyAtom  # noqa: E402
from sosrelax.nn.vnnlib2 import parse_vnnlib2  # noqa: E402

# y = W2 relu(W1 x + b1) + b2 on [-1, 1]^2; dyadic weights (exact in float32)
W1 = np.array([[1, -1], [0.5, 1], [-1, 0.5]], np.float32)
B1 = np.array([0, -0.25, 0.5], np.float32)
W2 = np.array([[1, 0.5, -1], [-0.5, 1, 1]], np.float32)
B2 = np.array([0.25, 0], np.float32)

HEAD = """(vnnlib-version <2.0>)
(declare-network f
  (declare-input X float32 [1, 2])
  (declare-hidden H float32 [1, 3] "h1")
  (declare-hidden Z float32 [1, 3] "z1")
  (declare-output Y float32 [1, 2])
)
(assert (and (>= X[0, 0] -1.0) (<= X[0, 0] 1.0) (>= X[0, 1] -1.0) (<= X[0, 1] 1.0)))
"""


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    inits = [numpy_helper.from_array(W1, "w1"), numpy_helper.from_array(B1, "b1"),
             numpy_helper.from_array(W2, "w2"), numpy_helper.from_array(B2, "b2")]
    nodes = [helper.make_node("Gemm", ["x", "w1", "b1"], ["z1"], transB=1, name="fc1"),
             helper.make_node("Relu", ["z1"], ["h1"], name="act1"),
             helper.make_node("Identity", ["h1"], ["h1copy"]),
             helper.make_node("Gemm", ["h1copy", "w2", "b2"], ["y"], transB=1, name="fc2")]
    g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 2])], inits)
    path = tmp_path_factory.mktemp("m") / "tiny.onnx"
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)]), str(path))
    return path, load_onnx(path)


def _grid(n: int = 801) -> tuple[np.ndarray, float]:
    xs = np.linspace(-1.0, 1.0, n)
    return np.array(np.meshgrid(xs, xs)).reshape(2, -1).T, 2.0 / (n - 1)


def _layers(X: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    Z = X @ W1.T.astype(np.float64) + B1
    H = np.maximum(Z, 0.0)
    return Z, H, H @ W2.T.astype(np.float64) + B2


# Lipschitz constants in the infinity norm of the input: |z_j(x) - z_j(x')| <= LZ_j |x - x'|_inf
LZ = np.abs(W1).sum(axis=1).astype(np.float64)
LY = np.abs(W2).astype(np.float64) @ LZ


def _check_witness(prop, res, path):
    """Every atom of some disjunct holds exactly at the witness (IR in rationals) and by onnxruntime."""
    import onnxruntime as ort

    x, y = res.counterexample
    xq = [Fraction(v) for v in x]
    zq = [[Fraction(float(b)) + sum(Fraction(float(w)) * v for w, v in zip(row, xq, strict=True))
           for row, b in zip(W1, B1, strict=True)]]
    hq = [max(v, Fraction(0)) for v in zq[0]]
    yq = [Fraction(float(b)) + sum(Fraction(float(w)) * v for w, v in zip(row, hq, strict=True))
          for row, b in zip(W2, B2, strict=True)]
    assert [float(v) for v in yq] == list(y)
    bound = bind_hidden(prop, load_onnx(path))
    assert any(d.holds(xq, yq, zq + [yq]) for d in bound.disjuncts)
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    y_ort = sess.run(None, {"x": np.array(x, np.float32).reshape(1, 2)})[0].ravel()
    assert np.allclose(y_ort, y, atol=1e-5)


# ------------------------------------------------------------------------------------------------
# (a) parsing


def test_parse_hidden_declarations_and_poly_atoms():
    text = HEAD + ("(assert (or (>= (* Y[0, 0] Y[0, 1]) 0.5)\n"
                   "            (<= (+ (* X[0, 0] X[0, 0] 2.5) (* -1.0 H[0, 1] Y[0, 1])) 0.1)\n"
                   "            (>= H[0, 2] (- Y[0, 0] 0.75))\n"
                   "            (<= (- Y[0, 0] Y[0, 1]) 0.3)))\n")
    prop = parse_vnnlib2(text, source="p.vnnlib")
    assert [(t.name, t.onnx_name, t.shape, t.line) for t in prop.hidden] == [
        ("H", "h1", (1, 3), 4), ("Z", "z1", (1, 3), 5)]
    d0, d1, d2, d3 = prop.disjuncts
    assert d0.lo == (-1, -1) and d0.hi == (1, 1) and not d0.atoms
    (a0,) = d0.poly
    y0, y1, x0 = ("Y", 0, 0), ("Y", 0, 1), ("X", 0, 0)
    assert dict(a0.terms) == {((y0, 1), (y1, 1)): 1, (): Fraction(-1, 2)} and a0.line == 9
    assert a0.degree == 2 and not a0.strict
    # 0.1 - (2.5 X0^2 - H1 Y1) >= 0: exact decimal coefficients, exponent 2
    (a1,) = d1.poly
    assert dict(a1.terms) == {(): Fraction(1, 10), ((x0, 2),): Fraction(-5, 2),
                              ((("H", 0, 1), 1), (y1, 1)): 1}
    assert a1.line == 10
    (a2,) = d2.poly  # linear, but over a hidden tensor
    assert dict(a2.terms) == {((("H", 0, 2), 1),): 1, ((y0, 1),): -1, (): Fraction(3, 4)}
    assert not d3.poly and d3.atoms == (Atom((), ((0, Fraction(-1)), (1, Fraction(1))), Fraction(3, 10)),)


def test_parse_errors_name_the_line_and_the_name(model):
    path, net = model
    with pytest.raises(ParseError, match=r"p\.vnnlib:9: Index out of bounds.*H\[0,3\]"):
        parse_vnnlib2(HEAD + "(assert (>= H[0, 3] 1.0))\n", source="p.vnnlib")
    with pytest.raises(ParseError, match="NotEqual is not supported"):
        parse_vnnlib2(HEAD + "(assert (!= Y[0, 0] 1.0))\n")
    with pytest.raises(ParseError, match="syntax error"):
        parse_vnnlib2(HEAD + "(assert (>= (* Y[0, 0] Y[0, 1]) 1.0)\n")
    bad = HEAD.replace('"h1"', '"no_such_tensor"')
    prop = parse_vnnlib2(bad + "(assert (>= H[0, 0] 1.0))\n", source="q.vnnlib")
    with pytest.raises(ParseError, match=r"q\.vnnlib:4: hidden tensor H names 'no_such_tensor'.*'h1'"):
        verify(net, prop)
    wrong = HEAD.replace('(declare-hidden H float32 [1, 3] "h1")', '(declare-hidden H float32 [1, 2] "h1")')
    with pytest.raises(ParseError, match=r":4: hidden tensor H has shape \[1, 2\] \(2 entries\) but 'h1' has 3"):
        bind_hidden(parse_vnnlib2(wrong + "(assert (>= H[0, 0] 1.0))\n"), net)


def test_onnx_tensor_names_map_onto_layers(model):
    _, net = model
    names = {n: (st, k) for n, st, k in net.tensor_names}
    # the ReLU's input is the pre-activation, its output (and an Identity of it) the post-activation;
    # node names stand for their outputs
    assert names["z1"] == ("pre", 0) and names["fc1"] == ("pre", 0)
    assert names["h1"] == names["h1copy"] == names["act1"] == ("post", 0)
    prop = bind_hidden(parse_vnnlib2(HEAD + "(assert (>= (* H[0, 1] Z[0, 2]) 1.0))\n"), net)
    assert {v for v, _ in prop.disjuncts[0].poly[0].terms[-1][0]} == {("R", 0, 1), ("Z", 0, 2)}


# ------------------------------------------------------------------------------------------------
# (b), (c) polynomial atoms


def test_product_of_outputs_unsat_with_a_verified_certificate(model):
    path, net = model
    X, h = _grid()
    _, _, Y = _layers(X)
    # max of Y0 Y1 on the box, rigorously: grid maximum plus a Lipschitz margin (h/2 in inf-norm)
    M = np.abs(Y).max(axis=0) + LY * h / 2
    upper = float((Y[:, 0] * Y[:, 1]).max()) + (M[0] * LY[1] + M[1] * LY[0]) * h / 2
    assert upper < 1.2  # so "Y0 Y1 >= 1.2" has no point
    prop = parse_vnnlib2(HEAD + "(assert (>= (* Y[0, 0] Y[0, 1]) 1.2))\n")
    res = verify(net, prop, onnx_path=path, timeout=30)
    assert res.status is Result.UNSAT, res.log
    assert res.certificates and all(check_certificate(c).valid for c in res.certificates)
    assert any(r.rung == "sdp" and r.certified for r in res.log)


def test_product_of_outputs_sat_with_an_exact_witness(model):
    path, net = model
    X, _ = _grid(201)
    _, _, Y = _layers(X)
    assert (Y[:, 0] * Y[:, 1]).max() >= 1.0  # a grid point is a witness
    prop = parse_vnnlib2(HEAD + "(assert (>= (* Y[0, 0] Y[0, 1]) 1.0))\n")
    res = verify(net, prop, onnx_path=path, timeout=30)
    assert res.status is Result.SAT
    _check_witness(prop, res, path)
    x, y = res.counterexample
    assert Fraction(y[0]) * Fraction(y[1]) >= 1


def test_degree_three_atom_goes_to_the_sos_rung(model):
    """X0^2 Y0 >= 4 (degree 3): unsat through Lasserre level 2; the grid bound is below 2.3."""
    path, net = model
    X, h = _grid()
    _, _, Y = _layers(X)
    M0 = np.abs(Y[:, 0]).max() + LY[0] * h / 2
    upper = float((X[:, 0] ** 2 * Y[:, 0]).max()) + (2 * M0 + LY[0]) * h / 2  # |X0| <= 1
    assert upper < 4.0
    res = verify(net, parse_vnnlib2(HEAD + "(assert (>= (* X[0, 0] X[0, 0] Y[0, 0]) 4.0))\n"),
                 onnx_path=path, timeout=30)
    assert res.status is Result.UNSAT and all(check_certificate(c).valid for c in res.certificates)
    assert any(r.rung == "sos" and r.certified for r in res.log)


def test_mixed_degree_two_atom_over_hidden_and_outputs(model):
    """H0 H1 + Y0^2 >= 6: both sides against the grid bound of the left-hand side."""
    path, net = model
    X, h = _grid()
    _, H, Y = _layers(X)
    MH = H.max(axis=0) + LZ * h / 2
    MY = np.abs(Y).max(axis=0) + LY * h / 2
    lip = MH[1] * LZ[0] + MH[0] * LZ[1] + 2 * MY[0] * LY[0]
    upper = float((H[:, 0] * H[:, 1] + Y[:, 0] ** 2).max()) + lip * h / 2
    assert upper < 6.0
    res = verify(net, parse_vnnlib2(HEAD + "(assert (>= (+ (* H[0, 0] H[0, 1]) (* Y[0, 0] Y[0, 0])) 6.0))\n"),
                 onnx_path=path, timeout=30)
    assert res.status is Result.UNSAT and all(check_certificate(c).valid for c in res.certificates)
    low = float((H[:, 0] * H[:, 1] + Y[:, 0] ** 2).max()) - 0.01
    prop = parse_vnnlib2(HEAD + f"(assert (>= (+ (* H[0, 0] H[0, 1]) (* Y[0, 0] Y[0, 0])) {low:.4f}))\n")
    res = verify(net, prop, onnx_path=path, timeout=30)
    assert res.status is Result.SAT
    _check_witness(prop, res, path)


# ------------------------------------------------------------------------------------------------
# (d) hidden-node properties


def test_hidden_relu_output_exceeds_threshold(model):
    path, net = model
    # h0 = relu(x0 - x1) <= |x0| + |x1| <= 2, attained at (1, -1)
    res = verify(net, parse_vnnlib2(HEAD + "(assert (>= H[0, 0] 2.5))\n"), onnx_path=path, timeout=30)
    assert res.status is Result.UNSAT and all(check_certificate(c).valid for c in res.certificates)
    prop = parse_vnnlib2(HEAD + "(assert (>= H[0, 0] 1.9))\n")
    res = verify(net, prop, onnx_path=path, timeout=30)
    assert res.status is Result.SAT
    _check_witness(prop, res, path)
    x, _ = res.counterexample
    assert Fraction(x[0]) - Fraction(x[1]) >= Fraction(19, 10)


def test_two_hidden_neurons_cannot_both_fire_and_a_pre_activation_bound(model):
    path, net = model
    X, h = _grid()
    Z, H, _ = _layers(X)
    # max over x of min(h1 - 1, h2 - 1) < 0 with the Lipschitz margin: no point has both >= 1
    assert float(np.minimum(H[:, 1], H[:, 2]).max()) + max(LZ[1], LZ[2]) * h / 2 < 1.0
    res = verify(net, parse_vnnlib2(HEAD + "(assert (and (>= H[0, 1] 1.0) (>= H[0, 2] 1.0)))\n"),
                 onnx_path=path, timeout=30)
    assert res.status is Result.UNSAT and all(check_certificate(c).valid for c in res.certificates)
    # z2 = -x0 + x1/2 + 1/2 >= -1 on the box (at (1, -1)); so z2 <= -1.25 is unsat, z2 <= -0.9 sat
    assert Z[:, 2].min() == -1.0
    res = verify(net, parse_vnnlib2(HEAD + "(assert (<= Z[0, 2] -1.25))\n"), onnx_path=path, timeout=30)
    assert res.status is Result.UNSAT
    prop = parse_vnnlib2(HEAD + "(assert (<= Z[0, 2] -0.9))\n")
    res = verify(net, prop, onnx_path=path, timeout=30)
    assert res.status is Result.SAT
    _check_witness(prop, res, path)


# ------------------------------------------------------------------------------------------------
# (e) command line


def test_cli_round_trip_prints_sat_with_hidden_tensors_and_unsat(model, tmp_path, capsys):
    path, _ = model
    spec = tmp_path / "p.vnnlib"
    spec.write_text(HEAD + "(assert (>= (* Y[0, 0] Y[0, 1]) 1.2))\n")
    assert main(["verify", str(spec), "--network", f"f={path}", "--timeout", "30"]) == 0
    assert capsys.readouterr().out == "unsat\n"
    X, _ = _grid(201)
    _, H, Y = _layers(X)
    assert (Y[:, 0] * Y[:, 1])[H[:, 0] >= 0.5].max() >= 0.25  # a grid point is a witness
    spec.write_text(HEAD + "(assert (and (>= H[0, 0] 0.5) (>= (* Y[0, 0] Y[0, 1]) 0.25)))\n")
    out_file = tmp_path / "r.txt"
    assert main(["verify", str(spec), "--network", f"f={path}", "--vnncomp-result", str(out_file)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "sat"
    assert lines[1] == "X Real [2]" and lines[4] == "H Real [3]" and lines[8] == "Z Real [3]"
    assert lines[12] == "Y Real [2]" and len(lines) == 15
    x = [Fraction(float(v)) for v in lines[2:4]]
    h = [Fraction(float(v)) for v in lines[5:8]]
    z = [Fraction(float(v)) for v in lines[9:12]]
    y = [Fraction(float(v)) for v in lines[13:15]]
    assert z == [Fraction(float(b)) + sum(Fraction(float(w)) * v for w, v in zip(row, x, strict=True))
                 for row, b in zip(W1, B1, strict=True)]
    assert h == [max(v, Fraction(0)) for v in z] and h[0] >= Fraction(1, 2) and y[0] * y[1] >= Fraction(1, 4)
    assert out_file.read_text().startswith("sat\n((X_0 ")
    bad = tmp_path / "bad.vnnlib"
    bad.write_text(HEAD.replace('"z1"', '"nowhere"') + "(assert (>= Z[0, 0] 1.0))\n")
    assert main(["verify", str(bad), "--network", f"f={path}"]) == 2
    assert "bad.vnnlib:5: hidden tensor Z names 'nowhere'" in capsys.readouterr().err


def test_supports_lists_hidden_and_poly_theories(capsys):
    assert main(["supports", "--hidden-node-theories"]) == 0
    assert capsys.readouterr().out.split() == ["NH", "H"]
    assert main(["supports", "--arithmetic-complexity-theories"]) == 0
    assert capsys.readouterr().out.split() == ["BND", "OUTC", "LIN", "POLY"]


def test_poly_atom_is_exact_rational_polynomial():
    a = PolyAtom(((((("X", 0, 0), 2),), Fraction(1, 3)), ((), Fraction(-1, 12))))
    assert a.value([Fraction(1, 2)], []) == 0 and a.holds([Fraction(1, 2)], [])
    assert not PolyAtom(a.terms, strict=True).holds([Fraction(1, 2)], [])
    with pytest.raises(ValueError, match="not bound"):
        PolyAtom(((((("H", 0, 0), 1),), Fraction(1)),)).value([], [])

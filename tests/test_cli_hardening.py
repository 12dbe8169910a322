"""Bad input to ``sosrelax solve``, ``certify`` and ``verify`` gives one line on stderr and the documented
exit code, never a traceback; the API pieces behind them (constant objectives, the size estimate,
``device=``, the exported error classes)."""

from __future__ import annotations

import io
import json
import math
from pathlib import Path
from typing import Any

import pytest

import sosrelax as sr
from sosrelax import errors
from sosrelax.cli import main
from sosrelax.relax.footprint import check_fits, default_memory_limit, estimate

DATA = Path("/work/shared/data/vnncomp")


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def _one_error_line(err: str) -> str:
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1, err
    assert "Traceback" not in err
    assert lines[0].startswith("sosrelax: error:")
    return lines[0]


@pytest.fixture
def small(tmp_path: Path) -> Path:
    # min x^2 - x over [-1, 1] is -1/4; the claim x^2 <= 1/2 fails at x = ±1
    return _write(tmp_path / "small.toml", '[problem]\nminimize = "x^2 - x"\nbounds = { x = [-1, 1] }\n'
                  '[claim]\nstatement = "x^2 <= 0.5"\n')


# -- constant objectives and claims ---------------------------------------------------------------


def test_constant_objective_without_variables_has_its_value_as_bound(tmp_path: Path, capsys: Any) -> None:
    p = _write(tmp_path / "c.toml", '[problem]\nminimize = "3"\n')
    assert main(["solve", str(p), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["certified"] is True and data["bound"] == 3.0


def test_constant_objective_api() -> None:
    res = sr.solve(sr.Problem(minimize=sr.Polynomial.parse("-2.5")))
    assert res.certified and res.bound == -2.5
    res = sr.solve(sr.Problem(maximize=sr.Polynomial.parse("7")))
    assert res.certified and res.bound == 7.0


def test_constant_claims_are_decided(tmp_path: Path, capsys: Any) -> None:
    true = _write(tmp_path / "t.toml", '[problem]\nminimize = "3"\n[claim]\nstatement = "2 <= 5"\n')
    assert main(["certify", str(true), "--quiet"]) == 0
    assert capsys.readouterr().out.startswith("certified")
    false = _write(tmp_path / "f.toml", '[problem]\nminimize = "3"\n[claim]\nstatement = "7 <= 5"\n')
    assert main(["certify", str(false), "--quiet"]) == 10
    assert capsys.readouterr().out.startswith("falsified")


# -- folders and output files ---------------------------------------------------------------------


@pytest.mark.parametrize("verb", ["solve", "certify"])
def test_folder_as_problem_file(tmp_path: Path, capsys: Any, verb: str) -> None:
    assert main([verb, str(tmp_path)]) == 2
    assert "is a folder" in _one_error_line(capsys.readouterr().err)


@pytest.mark.parametrize("verb", ["solve", "certify"])
def test_folder_as_certificate_target(tmp_path: Path, capsys: Any, small: Path, verb: str) -> None:
    assert main([verb, str(small), "--certificate", str(tmp_path)]) == 2
    cap = capsys.readouterr()
    assert "--certificate" in _one_error_line(cap.err) and cap.out == ""


def test_counterexample_into_missing_folder_is_written(tmp_path: Path, capsys: Any, small: Path) -> None:
    target = tmp_path / "new" / "deeper" / "cex.json"
    assert main(["certify", str(small), "--quiet", "--counterexample", str(target)]) == 10
    cap = capsys.readouterr()
    assert cap.out.startswith("falsified") and "Traceback" not in cap.err
    x = json.loads(target.read_text())["x"]
    assert x * x > 0.5  # a real counterexample


def test_counterexample_that_cannot_be_written_keeps_the_verdict(
    tmp_path: Path, capsys: Any, small: Path
) -> None:
    blocker = _write(tmp_path / "afile", "")
    target = blocker / "cex.json"  # the parent is a file: no folder can be made there
    assert main(["certify", str(small), "--quiet", "--counterexample", str(target)]) == 10
    cap = capsys.readouterr()
    assert "counterexample: x =" in cap.out  # the answer is not lost
    line = _one_error_line(cap.err)
    assert "cannot write the counterexample" in line and str(target) in line


class _ClosedPipe(io.StringIO):
    def write(self, s: str) -> int:
        raise BrokenPipeError(32, "Broken pipe")

    def flush(self) -> None:
        raise BrokenPipeError(32, "Broken pipe")


def test_broken_pipe_exits_quietly(monkeypatch: Any, capsys: Any, small: Path) -> None:
    monkeypatch.setattr("sys.stdout", _ClosedPipe())
    assert main(["solve", str(small)]) == 141
    assert capsys.readouterr().err == ""


# -- the size estimate ---------------------------------------------------------------------------


def _dense_quartic(n: int) -> sr.Problem:
    xs = sr.variables(" ".join(f"x{i}" for i in range(n)))
    f = sum(xs[i] ** 2 * xs[j] ** 2 for i in range(n) for j in range(i, n)) + sum(xs)
    return sr.Problem(minimize=f, subject_to=[sum(x**2 for x in xs) <= 1])


def test_estimate_counts() -> None:
    fp = estimate(_dense_quartic(20), 3)
    assert fp.moments == math.comb(26, 6)
    assert fp.psd_orders == (math.comb(23, 3), math.comb(22, 2))  # moment matrix, the ball's localizer
    s = math.comb(23, 3) * (math.comb(23, 3) + 1) // 2
    assert fp.bytes >= 8.0 * s * s  # the dense scaling block of the interior-point solver alone
    # a first-order solver has no such block: orders of magnitude less
    assert estimate(_dense_quartic(20), 3, solver="scs").bytes < fp.bytes / 1000


def test_dense_20_variable_quartic_at_level_3_is_refused_before_building() -> None:
    with pytest.raises(sr.SizeLimitError, match="sparsity='correlative'"):
        sr.solve(_dense_quartic(20), level=3, time_limit=20)


def test_memory_limit_overrides_the_default() -> None:
    p = _dense_quartic(3)
    assert default_memory_limit() > 1e6
    with pytest.raises(errors.SizeLimitError, match="limit 1 B"):
        sr.solve(p, level=2, memory_limit=1)
    check_fits(p, 2, "psd", "clarabel", math.inf)  # no limit


def test_solve_command_refuses_the_oversized_relaxation(tmp_path: Path, capsys: Any) -> None:
    names = [f"x{i}" for i in range(20)]
    f = " + ".join(f"{a}^2*{b}^2" for i, a in enumerate(names) for b in names[i:])
    p = _write(tmp_path / "big.toml", f'[problem]\nminimize = "{f}"\n[relaxation]\nlevel = 3\ntime_limit = 20\n')
    assert main(["solve", str(p)]) == 2
    assert "too large" in _one_error_line(capsys.readouterr().err)


# -- solve options -------------------------------------------------------------------------------


@pytest.mark.parametrize("relaxation", ["lp", "dsos", "sdsos"])
def test_solve_accepts_every_relaxation(capsys: Any, small: Path, relaxation: str) -> None:
    assert main(["solve", str(small), "--relaxation", relaxation, "--level", "1", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["certified"] is True and data["bound"] <= -0.25 + 1e-9


def test_solve_sparsity_and_time_limit_options(tmp_path: Path, capsys: Any) -> None:
    p = _write(tmp_path / "chain.toml", '[problem]\nminimize = "x*y + y*z"\n'
               "bounds = { x = [-1, 1], y = [-1, 1], z = [-1, 1] }\n")
    assert main(["solve", str(p), "--level", "2", "--sparsity", "correlative", "--time-limit", "30",
                 "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["sizes"]["cliques"] == 2 and data["bound"] <= -2 + 1e-9 and data["bound"] >= -2 - 1e-6
    assert main(["solve", str(p), "--level", "2", "--json"]) == 0
    assert "cliques" not in json.loads(capsys.readouterr().out)["sizes"]


def test_problem_file_sparsity_is_honoured(tmp_path: Path, capsys: Any) -> None:
    p = _write(tmp_path / "chain.toml", '[problem]\nminimize = "x*y + y*z"\n'
               "bounds = { x = [-1, 1], y = [-1, 1], z = [-1, 1] }\n"
               '[relaxation]\nsparsity = "correlative"\nlevel = 2\n')
    assert main(["solve", str(p), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["sizes"]["cliques"] == 2
    assert main(["solve", str(p), "--sparsity", "none", "--json"]) == 0  # the command line wins
    assert "cliques" not in json.loads(capsys.readouterr().out)["sizes"]


# -- device= and the exports ---------------------------------------------------------------------


def test_device_reaches_the_first_order_backend(monkeypatch: Any) -> None:
    import sosrelax.api as api

    seen: list[Any] = []
    real = api.solve_conic

    def spy(prog: Any, name: str, **kw: Any) -> Any:
        seen.append((name, kw.get("options")))
        return real(prog, name, **kw)

    monkeypatch.setattr(api, "solve_conic", spy)
    x, y = sr.variables("x y")
    res = sr.solve(sr.Problem(minimize=x**2 + y**2 - x), level=1, solver="firstorder", device="cpu",
                   solver_options={"max_iters": 20000})
    assert seen[0] == ("firstorder", {"max_iters": 20000, "device": "cpu"})
    assert res.bound is not None and res.bound <= -0.25


def test_device_for_other_solvers_is_refused() -> None:
    x = sr.variables("x")[0]
    with pytest.raises(sr.InvalidValueError, match="solver='firstorder'"):
        sr.solve(sr.Problem(minimize=x**2), device="gpu")
    with pytest.raises(sr.InvalidValueError, match="device must be one of"):
        sr.solve(sr.Problem(minimize=x**2), solver="firstorder", device="tpu")
    assert sr.solve(sr.Problem(minimize=x**2), device="cpu").certified  # the CPU is every solver's


def test_error_classes_are_exported() -> None:
    for name in ("SosrelaxError", "ParseError", "UnknownVariableError", "InvalidValueError",
                 "SizeLimitError", "BackendNotAvailableError", "CertificateFormatError",
                 "InvalidOperationError"):
        assert getattr(sr, name) is getattr(errors, name)
        assert name in sr.__all__


# -- verify ----------------------------------------------------------------------------------------


def _nano() -> Path:
    if not (DATA / "test_nano.onnx").is_file():
        pytest.skip("no shared VNN-COMP data on this machine")
    return DATA / "test_nano.onnx"


_NANO_PROP = "(declare-const X_0 Real)\n(declare-const Y_0 Real)\n(assert (>= X_0 {lo}))\n" \
             "(assert (<= X_0 1))\n(assert (<= Y_0 -1))\n"


def test_verify_deeply_nested_property(tmp_path: Path, capsys: Any) -> None:
    spec = _write(tmp_path / "deep.vnnlib", "(declare-const X_0 Real)\n(declare-const Y_0 Real)\n(assert "
                  + "(and " * 20000 + "(>= X_0 0)" + ")" * 20000 + ")\n")
    assert main(["verify", str(spec), "--network", f"N={_nano()}"]) == 2
    assert "nested deeper" in _one_error_line(capsys.readouterr().err)


def test_verify_deeply_nested_vnnlib2(tmp_path: Path, capsys: Any) -> None:
    spec = _write(tmp_path / "deep2.vnnlib", "(vnnlib-version <2.0>)\n(declare-network N (declare-input X "
                  "Real [1]) (declare-output Y Real [1]))\n(assert " + "(and " * 20000 + "(>= X[0] 0.0)"
                  + ")" * 20000 + ")\n")
    assert main(["verify", str(spec), "--network", f"N={_nano()}"]) == 2
    assert "nested deeper" in _one_error_line(capsys.readouterr().err)


def test_verify_bound_outside_float_range(tmp_path: Path, capsys: Any) -> None:
    spec = _write(tmp_path / "huge.vnnlib", _NANO_PROP.format(lo="-1e400"))
    assert main(["verify", str(spec), "--network", f"N={_nano()}"]) == 2
    line = _one_error_line(capsys.readouterr().err)
    assert "-1e400" in line and "huge.vnnlib:3" in line


def test_verify_result_into_missing_folder(tmp_path: Path, capsys: Any) -> None:
    spec = _write(tmp_path / "p.vnnlib", _NANO_PROP.format(lo="-1"))
    result = tmp_path / "out" / "sub" / "result.txt"
    assert main(["verify", str(spec), "--network", f"N={_nano()}", "--vnncomp-result", str(result)]) == 0
    answer = capsys.readouterr().out.splitlines()[0]
    assert result.read_text().splitlines()[0] == {"timed-out": "timeout"}.get(answer, answer)


def test_verify_result_into_a_folder(tmp_path: Path, capsys: Any) -> None:
    spec = _write(tmp_path / "p.vnnlib", _NANO_PROP.format(lo="-1"))
    assert main(["verify", str(spec), "--network", f"N={_nano()}", "--vnncomp-result", str(tmp_path)]) == 2
    assert "is a folder" in _one_error_line(capsys.readouterr().err)


def _model(tmp_path: Path, *, elem: int, opset: int) -> Path:
    onnx = pytest.importorskip("onnx")
    from onnx import helper

    g = helper.make_graph([helper.make_node("Relu", ["inp"], ["out"], name="r")], "g",
                          [helper.make_tensor_value_info("inp", elem, [1])],
                          [helper.make_tensor_value_info("out", elem, [1])])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])
    m.ir_version = 8
    p = tmp_path / f"m{elem}_{opset}.onnx"
    onnx.save(m, str(p))
    return p


def test_verify_float16_model(tmp_path: Path, capsys: Any) -> None:
    """float16 models are read (proven in real arithmetic over their exact weights): y = relu(x) >= 0 on
    [-1, 1], so y <= -1 never holds and the property is unsat."""
    from onnx import TensorProto

    spec = _write(tmp_path / "p.vnnlib", _NANO_PROP.format(lo="-1"))
    model = _model(tmp_path, elem=TensorProto.FLOAT16, opset=13)
    assert main(["verify", str(spec), "--network", f"N={model}"]) == 0
    assert capsys.readouterr().out.split()[0] == "unsat"


def test_verify_int8_model_is_refused(tmp_path: Path, capsys: Any) -> None:
    from onnx import TensorProto

    spec = _write(tmp_path / "p.vnnlib", _NANO_PROP.format(lo="-1"))
    model = _model(tmp_path, elem=TensorProto.INT8, opset=13)
    assert main(["verify", str(spec), "--network", f"N={model}"]) == 2
    line = _one_error_line(capsys.readouterr().err)
    assert "'inp'" in line and "int8" in line


def test_verify_opset_99_model(tmp_path: Path, capsys: Any) -> None:
    pytest.importorskip("onnx")
    from onnx import TensorProto

    spec = _write(tmp_path / "p.vnnlib", _NANO_PROP.format(lo="-1"))
    model = _model(tmp_path, elem=TensorProto.FLOAT, opset=99)
    assert main(["verify", str(spec), "--network", f"N={model}"]) == 2
    assert "operator set 99" in _one_error_line(capsys.readouterr().err)

"""``sosrelax train``: in-process runs, files written, exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sosrelax.cli import main

torch = pytest.importorskip("torch")


@pytest.fixture(autouse=True)
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def test_train_writes_a_model_that_verify_reads(tmp_path: Path, capsys):
    pytest.importorskip("onnxruntime")
    out = tmp_path / "run"
    code = main(["train", "--mode", "ibp", "--eps", "0.05", "--hidden", "8", "--epochs", "2", "--warmup", "0",
                 "--ramp", "1", "--out", str(out), "--evaluate", "--eval-points", "5", "--quiet"])
    assert code == 0
    text = capsys.readouterr().out
    assert "certified" in text
    metrics = json.loads((out / "metrics.json").read_text())
    ev = metrics["evaluation"]
    assert ev["points"] == 5 and ev["certified"] <= ev["attack"] <= ev["clean"]
    assert len(metrics["history"]) == 2
    from sosrelax.nn import load_onnx

    net = load_onnx(out / "model.onnx")
    assert (net.n_inputs, net.n_outputs) == (64, 10)
    # a finished run resumes to the same model without training again
    assert main(["train", "--mode", "ibp", "--eps", "0.05", "--hidden", "8", "--epochs", "2", "--warmup", "0",
                 "--ramp", "1", "--out", str(out), "--resume", "--quiet"]) == 0
    assert len(json.loads((out / "metrics.json").read_text())["history"]) == 2


def test_train_bad_input_exits_2(tmp_path: Path, capsys):
    f = tmp_path / "file"
    f.write_text("x")
    assert main(["train", "--out", str(f), "--epochs", "1", "--quiet"]) == 2
    assert "not a folder" in capsys.readouterr().err
    with pytest.raises(SystemExit) as e:
        main(["train", "--out", str(tmp_path), "--hidden", "0"])
    assert e.value.code == 2

"""VNN-COMP instances in a batch: an instances.csv run through the network verifier in isolated workers."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from sosrelax.batch import BatchStatus, NetworkInstance, certify_many, load_instances

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "vnncomp"


@pytest.fixture()
def bench(tmp_path: Path) -> Path:
    if not (DATA / "test_nano.onnx").exists():
        pytest.skip("shared VNN-COMP instances not available")
    pytest.importorskip("onnxruntime")
    for name in ("test_nano.onnx", "test_nano.vnnlib", "test_sat.onnx", "test_prop.vnnlib"):
        shutil.copy(DATA / name, tmp_path / name)
    (tmp_path / "instances.csv").write_text(
        "test_nano.onnx,test_nano.vnnlib,30\ntest_sat.onnx,test_prop.vnnlib,30\n"
    )
    return tmp_path


def test_instances_csv_runs_through_the_network_verifier(bench: Path):
    items = load_instances(bench / "instances.csv")
    assert [i.name for i in items] == ["test_nano/test_nano", "test_sat/test_prop"]
    assert all(isinstance(i.claim, NetworkInstance) for i in items)
    store = bench / "results.sqlite"
    results = certify_many(items, store=store, workers=1, progress=False)
    assert [r.status for r in results] == [BatchStatus.CERTIFIED, BatchStatus.FALSIFIED], [
        (r.message, r.error) for r in results
    ]
    assert results[0].certificate_path is not None
    assert results[1].counterexample is not None and "X_0" in results[1].counterexample
    again = certify_many(items, store=store, workers=1, progress=False)  # resumed, not re-run
    assert all(r.resumed for r in again)
    assert [r.status for r in again] == [r.status for r in results]

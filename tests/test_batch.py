"""Batch certification: verdicts equal to direct certify(), isolation of crashing claims, crash-safe resume."""

from __future__ import annotations

import ctypes
import json
import math
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
import types
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

import sosrelax as sr
from sosrelax.batch import (
    BatchItem,
    BatchResult,
    BatchStatus,
    ClaimSpec,
    DeferredClaim,
    certify_many,
    load_instances,
    parse_size,
)
from sosrelax.certify import certify
from sosrelax.cli import main
from sosrelax.errors import BackendNotAvailableError, InvalidValueError, ParseError
from sosrelax.store import ResultStore

REPO = Path(__file__).resolve().parents[1]


def disc_claims() -> list[sr.Claim]:
    """``x² + y² <= t`` on ``{x⁴ + y⁴ <= 1}``: max of x² + y² there is √2, so t >= √2 holds."""
    x, y = sr.variables("x y")
    return [sr.Claim(x**2 + y**2 <= t, subject_to=[x**4 + y**4 <= 1]) for t in (2.0, 1.5, 1.2)]


def box_claim() -> sr.Claim:
    x, y = sr.variables("x y")
    return sr.Claim(x * y - x**2 <= 0.3, subject_to=sr.box([x, y]))  # max of xy - x² on the box: 1/4


# -- claims whose worker fails (built inside the worker) --------------------------------------


def segfault_claim() -> sr.Claim:
    ctypes.string_at(0)  # reads address 0: SIGSEGV
    raise AssertionError("unreachable")


def memory_hog_claim() -> sr.Claim:
    hog = np.ones(2**31)  # 16 GiB of float64
    raise AssertionError(f"allocated {hog.nbytes} bytes despite the limit")


def exiting_claim() -> sr.Claim:
    os._exit(7)


def hanging_claim() -> sr.Claim:
    time.sleep(3600)
    raise AssertionError("unreachable")


def raising_claim() -> sr.Claim:
    raise ValueError("the model file is corrupt")


def scaled_disc_claim(t: float) -> sr.Claim:
    x, y = sr.variables("x y")
    return sr.Claim(x**2 + y**2 <= t, subject_to=[x**4 + y**4 <= 1])


# -- the portable claim form -----------------------------------------------------------------


def test_claim_spec_round_trip_is_bit_exact() -> None:
    rng = np.random.default_rng(7)
    names = ["a", "b", "c"]
    for _ in range(5):
        def rand_poly(deg: int) -> sr.Polynomial:
            exps = rng.integers(0, deg + 1, size=(6, 3))
            return sr.Polynomial(exps, rng.standard_normal(6) / 3.0, names)

        claim = sr.Claim(rand_poly(3) <= rng.standard_normal(), subject_to=[
            rand_poly(2) >= 0, rand_poly(2) > 0.1, rand_poly(1) == 0])
        back = ClaimSpec.from_claim(claim).to_claim()
        assert back.strict == claim.strict
        assert back.problem.variables == claim.problem.variables
        assert back.margin_poly.equals(claim.margin_poly)
        assert back.problem.strict == claim.problem.strict
        for p, q in zip((*back.problem.inequalities, *back.problem.equalities),
                        (*claim.problem.inequalities, *claim.problem.equalities), strict=True):
            assert p.equals(q)
            assert np.array_equal(p.coefs, q.coefs)
        assert ClaimSpec.from_claim(back).canonical() == ClaimSpec.from_claim(claim).canonical()


# -- verdicts --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def local_results(tmp_path_factory: pytest.TempPathFactory) -> list[BatchResult]:
    store = tmp_path_factory.mktemp("local") / "r.sqlite"
    return certify_many([*disc_claims(), box_claim()], store=store, workers=2, time_limit=20,
                        progress=False)


def test_verdicts_equal_direct_certify_and_files_check(local_results: list[BatchResult]) -> None:
    claims = [*disc_claims(), box_claim()]
    direct = [certify(c, time_limit=20, progress=False) for c in claims]
    results = local_results
    assert [r.status.value for r in results] == [v.status.value for v in direct]
    assert [r.status.value for r in results] == ["certified", "certified", "falsified", "certified"]
    for r, v, c in zip(results, direct, claims, strict=True):
        assert r.bound is not None and v.bound is not None
        assert math.isclose(r.bound, v.bound, rel_tol=1e-9, abs_tol=1e-12)
        assert not r.resumed
        if r.status is BatchStatus.CERTIFIED:
            report = sr.check_certificate(str(r.certificate_path))
            assert report.valid and float(report.bound) >= 0
        else:
            assert r.counterexample is not None
            assert c.is_counterexample(r.counterexample)  # exact re-check
            assert r.counterexample_path is not None
            assert json.loads(r.counterexample_path.read_text()) == r.counterexample
    # the √2 threshold: min of t - x² - y² is t - √2, so a proven bound lies in [0, t - √2]
    for r, t in zip(results[:2], (2.0, 1.5), strict=True):
        assert r.bound is not None and 0 <= r.bound <= t - math.sqrt(2) + 1e-7


def test_rerun_returns_stored_results_and_runs_only_new_claims(tmp_path: Path) -> None:
    store = tmp_path / "r.sqlite"
    claims = disc_claims()
    first = certify_many(claims[:2], store=store, workers=1, time_limit=20, progress=False)
    both = certify_many([*claims, claims[0]], store=store, workers=1, time_limit=20, progress=False)
    assert [r.resumed for r in both] == [True, True, False, True]
    assert [r.status for r in both[:2]] == [r.status for r in first]
    assert both[0].bound == first[0].bound and both[3].key == both[0].key
    with ResultStore(store) as db:
        assert len(db) == 3
    # another time limit is another question: a new row
    other = certify_many(claims[:1], store=store, workers=1, time_limit=19, progress=False)
    assert not other[0].resumed and other[0].key != first[0].key


def test_crashing_claims_are_errors_and_the_others_complete(tmp_path: Path) -> None:
    good = disc_claims()[:2]
    items = [
        good[0],
        DeferredClaim(segfault_claim),
        DeferredClaim(memory_hog_claim),
        DeferredClaim(exiting_claim),
        BatchItem("hang", DeferredClaim(hanging_claim), time_limit=0.5),
        DeferredClaim(raising_claim),
        DeferredClaim(scaled_disc_claim, (2.0,)),
        good[1],
    ]
    t0 = time.perf_counter()
    res = certify_many(items, store=tmp_path / "r.sqlite", workers=2, time_limit=20, wall_limit=2.0,
                       memory_limit=2**30, progress=False)
    assert time.perf_counter() - t0 < 30
    st = [r.status.value for r in res]
    assert st == ["certified", "error", "error", "error", "timeout", "error", "certified", "certified"]
    assert "SIGSEGV" in (res[1].error or "")
    assert "MemoryError" in (res[2].error or "")
    assert "code 7" in (res[3].error or "")
    assert "wall-clock limit" in (res[4].error or "")
    assert "corrupt" in (res[5].error or "")
    assert res[6].bound == res[0].bound  # built in the worker, same claim, same proof
    # errors are results too: a re-run does not retry them unless asked
    again = certify_many(items[1:2], store=tmp_path / "r.sqlite", workers=1, time_limit=20,
                         progress=False)
    assert again[0].resumed and again[0].status is BatchStatus.ERROR
    retried = certify_many(items[1:2], store=tmp_path / "r.sqlite", workers=1, time_limit=20,
                           retry_errors=True, progress=False)
    assert not retried[0].resumed and retried[0].status is BatchStatus.ERROR


def test_any_executor_with_isolation(tmp_path: Path) -> None:
    claims = [disc_claims()[0], DeferredClaim(segfault_claim), disc_claims()[2]]
    with ThreadPoolExecutor(max_workers=2) as ex:
        res = certify_many(claims, store=tmp_path / "r.sqlite", executor=ex, time_limit=20,
                           progress=False)
    assert [r.status.value for r in res] == ["certified", "error", "falsified"]


_KILL_SCRIPT = """
import sys, time
import sosrelax as sr
from sosrelax.batch import DeferredClaim, certify_many

def slow_claim(t):
    time.sleep(0.25)
    x, y = sr.variables("x y")
    return sr.Claim(x**2 + y**2 <= t, subject_to=[x**4 + y**4 <= 1])

claims = [DeferredClaim(slow_claim, (1.5 + k / 8,), key=f"slow-{k}") for k in range(10)]
res = certify_many(claims, store=sys.argv[1], workers=2, time_limit=20, progress=False)
print("RESUMED", sum(r.resumed for r in res), "STATUS", ",".join(r.status.value for r in res))
"""


def test_sigkill_mid_batch_then_restart_gives_exactly_one_result_per_claim(tmp_path: Path) -> None:
    script = tmp_path / "run.py"
    script.write_text(textwrap.dedent(_KILL_SCRIPT))
    store = tmp_path / "kill.sqlite"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen([sys.executable, str(script), str(store)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    before = 0
    deadline = time.monotonic() + 40
    while time.monotonic() < deadline and proc.poll() is None:
        if store.exists():
            try:
                with sqlite3.connect(store, timeout=5) as db:
                    before = db.execute("SELECT COUNT(*) FROM results").fetchone()[0]
            except sqlite3.OperationalError:
                before = 0
            if before >= 3:
                break
        time.sleep(0.05)
    assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
    os.killpg(proc.pid, signal.SIGKILL)  # the driver and its workers
    proc.wait()
    with sqlite3.connect(store) as db:
        at_kill = db.execute("SELECT COUNT(*) FROM results").fetchone()[0]
    assert 3 <= at_kill < 10
    out = subprocess.run([sys.executable, str(script), str(store)], env=env, capture_output=True,
                         text=True, timeout=120, check=True).stdout
    resumed = int(out.split()[1])
    statuses = out.split()[3].split(",")
    assert resumed == at_kill
    assert len(statuses) == 10 and set(statuses) == {"certified"}  # t >= 1.5 > √2: all hold
    with sqlite3.connect(store) as db:
        keys = [r[0] for r in db.execute("SELECT key FROM results")]
        names = [r[0] for r in db.execute("SELECT name FROM results")]
    assert len(keys) == len(set(keys)) == 10
    assert sorted(names) == sorted(f"claim-{k}" for k in range(10))


# -- dask ------------------------------------------------------------------------------------


def test_dask_local_cluster_gives_the_same_verdicts(tmp_path: Path,
                                                    local_results: list[BatchResult]) -> None:
    distributed = pytest.importorskip("dask.distributed")
    claims = [*disc_claims(), box_claim()]
    local = local_results
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        remote = certify_many(claims, store=tmp_path / "dask.sqlite", executor=client, time_limit=20,
                              progress=False)
    assert [(r.status, r.error) for r in remote] == [(r.status, r.error) for r in local]
    assert [r.key for r in remote] == [r.key for r in local]
    for a, b in zip(local, remote, strict=True):
        assert a.bound is not None and b.bound is not None
        assert math.isclose(a.bound, b.bound, rel_tol=1e-9, abs_tol=1e-12)


# -- inputs ----------------------------------------------------------------------------------

_CLAIMS_TOML = """
[defaults]
variables = ["x", "y"]
subject_to = ["x^4 + y^4 <= 1"]

[[claims]]
name = "holds"
statement = "x^2 + y^2 <= 2"

[[claims]]
name = "fails"
statement = "x^2 + y^2 <= 1.2"
time_limit = 15

[[claims]]
name = "box"
statement = "x*y - x^2 <= 0.3"
subject_to = []
bounds = { x = [-1, 1], y = [-1, 1] }
"""


def test_toml_claim_list_and_problem_folder(tmp_path: Path) -> None:
    f = tmp_path / "claims.toml"
    f.write_text(_CLAIMS_TOML)
    items = load_instances(f)
    assert [i.name for i in items] == ["holds", "fails", "box"]
    assert [i.time_limit for i in items] == [None, 15.0, None]
    assert ClaimSpec.from_claim(items[0].claim).canonical() == ClaimSpec.from_claim(  # type: ignore[arg-type]
        disc_claims()[0]).canonical()
    folder = tmp_path / "problems"
    folder.mkdir()
    (folder / "a.toml").write_text(
        '[problem]\nminimize = "x^2 + y^2"\nsubject_to = ["x^4 + y^4 <= 1"]\n'
        '[claim]\nstatement = "x^2 + y^2 <= 2"\n')
    (folder / "b.toml").write_text(_CLAIMS_TOML)
    (folder / "notes.txt").write_text("ignored")
    names = [i.name for i in load_instances(folder)]
    assert names == ["a", "b/holds", "b/fails", "b/box"]
    bad = tmp_path / "bad.toml"
    bad.write_text('[[claims]]\nname = "x"\nstatement = "x^2 <= 1"\nunknown = 1\n')
    with pytest.raises(ParseError, match="unknown key"):
        load_instances(bad)
    with pytest.raises(ParseError, match="unknown instance type"):
        load_instances(folder / "notes.txt")


def test_vnncomp_csv_needs_nn_and_uses_its_entry_point(tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    bench = tmp_path / "bench"
    bench.mkdir()
    (bench / "instances.csv").write_text("onnx/net.onnx,vnnlib/prop_0.vnnlib,30\n"
                                         "onnx/net.onnx,vnnlib/prop_1.vnnlib,45.5\n")
    monkeypatch.setitem(sys.modules, "sosrelax.nn", None)  # import fails as if absent
    with pytest.raises(BackendNotAvailableError, match="sosrelax.nn"):
        load_instances(bench)
    seen: list[tuple[str, str]] = []

    def vnnlib_claims(onnx_path: str, vnnlib_path: str) -> list[sr.Claim]:
        seen.append((onnx_path, vnnlib_path))
        return disc_claims()[:2] if vnnlib_path.endswith("prop_0.vnnlib") else disc_claims()[:1]

    fake = types.ModuleType("sosrelax.nn")
    fake.vnnlib_claims = vnnlib_claims  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "sosrelax.nn", fake)
    items = load_instances(bench)
    assert seen == [(str(bench / "onnx/net.onnx"), str(bench / "vnnlib/prop_0.vnnlib")),
                    (str(bench / "onnx/net.onnx"), str(bench / "vnnlib/prop_1.vnnlib"))]
    assert [(i.name, i.time_limit) for i in items] == [
        ("net/prop_0#0", 30.0), ("net/prop_0#1", 30.0), ("net/prop_1", 45.5)]


# -- command line and export -----------------------------------------------------------------


def test_cli_batch_and_export(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    f = tmp_path / "claims.toml"
    f.write_text(_CLAIMS_TOML)
    store = tmp_path / "out" / "res.sqlite"
    code = main(["batch", str(f), "--store", str(store), "--workers", "2", "--time-limit", "20",
                 "--quiet", "--csv", str(tmp_path / "a.csv")])
    out = capsys.readouterr().out
    assert code == 10  # one claim is false
    assert "falsified" in out and "fails" in out
    code = main(["batch", "export", str(store), "--json", str(tmp_path / "a.json")])
    assert code == 0
    rows = json.loads((tmp_path / "a.json").read_text())
    assert sorted((r["name"], r["status"]) for r in rows) == [
        ("box", "certified"), ("fails", "falsified"), ("holds", "certified")]
    assert all(isinstance(r["settings"], dict) for r in rows)
    csv_lines = (tmp_path / "a.csv").read_text().splitlines()
    assert csv_lines[0].startswith("key,name,status,bound")
    cert = next(r for r in rows if r["name"] == "holds")["certificate_path"]
    assert main(["check", str(store.parent / cert)]) == 0
    # a re-run is all from the store
    assert main(["batch", str(f), "--store", str(store), "--time-limit", "20", "--quiet"]) == 10
    assert "3 from the store" in capsys.readouterr().out
    assert main(["batch", str(tmp_path / "missing.toml"), "--store", str(store)]) == 2


def test_store_rows_are_unique_and_export_is_strict_json(tmp_path: Path) -> None:
    with ResultStore(tmp_path / "s.sqlite") as db:
        row = {"key": "k1", "name": "a", "status": "certified", "bound": math.inf, "message": "empty set",
               "settings": {"time_limit": 1.0}}
        assert db.put(row)
        assert not db.put({**row, "name": "b", "status": "error"})
        assert len(db) == 1 and db.get("k1")["name"] == "a"  # type: ignore[index]
        data = json.loads(db.export_json())
        assert data[0]["bound"] == "inf"


def test_bad_arguments() -> None:
    assert parse_size("512M") == 512 * 2**20 and parse_size("4GiB") == 4 * 2**30
    assert parse_size("1000") == 1000
    with pytest.raises(InvalidValueError):
        parse_size("lots")
    with pytest.raises(InvalidValueError, match="expected a sosrelax.Claim"):
        certify_many(["x <= 1"], store=None)  # type: ignore[list-item]
    with pytest.raises(InvalidValueError, match="workers"):
        certify_many(disc_claims(), store=None, workers=0)

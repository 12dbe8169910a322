"""Fuzz the certificate checker: mutations of the golden proofs in ``proofs/`` (numbers, strings,
structure) are checked or refused with a clean report, never an exception; a mutated proof that
still verifies proves what the checker says about the mutated statement.

The number of examples is ``SOSRELAX_FUZZ_EXAMPLES`` (default 30, a few seconds); ``make fuzz``
runs many more.
"""

from __future__ import annotations

import json
import os
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sosrelax.certificate import Certificate, CheckReport, check_any, check_certificate
from sosrelax.certificate.check import residual
from sosrelax.errors import SosrelaxError

pytestmark = pytest.mark.fuzz

EXAMPLES = int(os.environ.get("SOSRELAX_FUZZ_EXAMPLES", "30"))
PROOFS = Path(__file__).resolve().parents[1] / "proofs"
# small golden proofs only: each example must check in milliseconds
GOLDEN = {p.stem: json.loads(p.read_text()) for p in sorted(PROOFS.glob("*.json"))
          if p.stat().st_size < 20_000}
FUZZ = settings(max_examples=EXAMPLES, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

_NUMBERS = st.one_of(
    st.integers(-(2**70), 2**70).map(str),
    st.sampled_from(["0", "-1", "1/2", "-0", "01", "1/1", "2/4", "1e3", "NaN", "\u00b9", "", "1/0",
                     "9" * 5000, str(2**63), str(2**64 + 1)]),
    st.integers(-(2**64), 2**64),
    st.floats(allow_nan=True, allow_infinity=True),
    st.none(),
    st.booleans(),
)
_LEAVES = st.one_of(_NUMBERS, st.text(max_size=8), st.just([]), st.just({}))


def _paths(doc: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(doc, dict):
        for k, v in doc.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(doc, list):
        for i, v in enumerate(doc[:6]):
            out += _paths(v, (*prefix, i))
    return out


def _get(doc: Any, path: tuple[Any, ...]) -> Any:
    for k in path:
        doc = doc[k]
    return doc


def _mutate(doc: Any, data: st.DataObject) -> Any:
    for _ in range(data.draw(st.integers(1, 3))):
        paths = _paths(doc)
        path = data.draw(st.sampled_from(paths))
        op = data.draw(st.sampled_from(["replace", "delete", "duplicate", "exponent", "wrap"]))
        if not path:
            continue
        parent, key = _get(doc, path[:-1]), path[-1]
        if op == "replace":
            parent[key] = data.draw(_LEAVES)
        elif op == "delete":
            if isinstance(parent, dict):
                del parent[key]
            else:
                parent.pop(key)
        elif op == "duplicate" and isinstance(parent, list):
            parent.insert(key, parent[key])
        elif op == "exponent" and isinstance(parent[key], int) and not isinstance(parent[key], bool):
            parent[key] = data.draw(st.sampled_from([2**62, 3 * 2**61, 2**63 - 1, 10_000, 1001,
                                                     -1, parent[key] + 1]))
        elif op == "wrap":
            parent[key] = [parent[key]]
    return doc


def _clean(rep: CheckReport) -> None:
    assert isinstance(rep.reason, str) and rep.reason
    if rep.valid:
        assert rep.bound is not None or rep.claimed_bound is None
    else:
        assert rep.bound is None
    assert not rep.claim_holds or rep.valid


@FUZZ
@given(st.sampled_from(sorted(GOLDEN)), st.data())
def test_mutated_files_never_raise(name: str, data: st.DataObject) -> None:
    doc = _mutate(json.loads(json.dumps(GOLDEN[name])), data)
    raw = json.dumps(doc, sort_keys=True, separators=(",", ":"))
    if data.draw(st.booleans()):  # byte-level edits as well
        i = data.draw(st.integers(0, max(0, len(raw) - 1)))
        raw = raw[:i] + data.draw(st.sampled_from(["", "[", "]", "\"", "{", "9", ",", "\\"])) + raw[i + 1:]
    try:
        cert = Certificate.from_json(raw)
    except SosrelaxError:
        return
    rep = check_certificate(cert)
    _clean(rep)
    if rep.valid and cert.kind != "infeasible" and not cert.lemmas:
        assert rep.bound is not None
        # the proven statement is about the mutated certificate's own polynomials
        r = residual(cert)
        assert all(not any(e) for e, _ in r) or cert.box is not None


@FUZZ
@given(st.sampled_from(sorted(GOLDEN)), st.data())
def test_mutated_files_through_check_any(tmp_path_factory: pytest.TempPathFactory, name: str,
                                         data: st.DataObject) -> None:
    doc = _mutate(json.loads(json.dumps(GOLDEN[name])), data)
    p = tmp_path_factory.mktemp("fuzz") / "cert.json"
    p.write_text(json.dumps(doc))
    rep = check_any(p)
    assert isinstance(rep.reason, str)


def test_golden_corpus_is_present() -> None:
    assert len(GOLDEN) >= 10
    for doc in GOLDEN.values():
        assert Fraction(doc["bound"]) is not None

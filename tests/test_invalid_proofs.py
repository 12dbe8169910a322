"""Every file in proofs/invalid must be rejected, for its stated reason; golden proofs verify."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import pytest

from sosrelax.certificate import CheckStatus, check_certificate

ROOT = Path(__file__).resolve().parents[1] / "proofs"
VALID = sorted(ROOT.glob("*.json"))
INVALID = sorted((ROOT / "invalid").glob("*.json"))
REASON = {
    "sign_flipped": "residual is not constant",
    "indefinite_gram": "not PSD",
    "bound_raised": "proves only",
    "basis_matrix_size_mismatch": "sos[0].gram",
    "wrong_variable_count": "variables",
    "truncated_json": "not valid JSON",
    "nan_bound": "NaN",
    "float_number": "floats are not allowed",
    "huge_number": "over the limit",
    "unknown_version": "version",
    "unknown_format": "format",
    "objective_changed": "residual is not constant",
    "non_symmetric_gram": "not symmetric",
    "negative_product_coefficient": "negative",
    "box_not_implied": "not implied",
    "infeasibility_of_feasible_set": "residual is not constant",
    "constraint_index_out_of_range": "not an inequality index",
    "nesting_too_deep": "nesting",
    "unknown_field": "unknown field",
    "nesting_100000_deep": "nesting",
    "exponent_overflow": "outside [0, 10000]",
    "tolerance_edge": "constant residual",
    "product_power_200": "Limits.max_work",
    "degree_10000_in_box": "Limits.max_degree",
    "exact_ldl_80_by_80_300_digits": "Limits.max_ldl_work",
}
# valid for a weaker bound within the tolerance, but the file's stated claim does not hold
WEAKER_ONLY = {"tolerance_edge"}


def test_enough_invalid_files() -> None:
    assert len(INVALID) >= 12
    assert {p.stem for p in INVALID} == set(REASON)
    readme = (ROOT / "invalid" / "README.md").read_text()
    assert all(p.stem in readme for p in INVALID)


@pytest.mark.parametrize("path", INVALID, ids=lambda p: p.stem)
def test_invalid_rejected(path: Path) -> None:
    rep = check_certificate(path)
    assert not rep.claim_holds
    if path.stem in WEAKER_ONLY:
        assert rep.valid and rep.bound is not None and rep.bound < rep.claimed_bound
    else:
        assert not rep.valid and rep.status is CheckStatus.REJECTED and rep.bound is None
    assert REASON[path.stem] in rep.reason


@pytest.mark.parametrize("path", VALID, ids=lambda p: p.stem)
def test_golden_proofs_verify(path: Path) -> None:
    from sosrelax.certificate import Certificate

    cert = Certificate.load(path)
    rep = check_certificate(path)
    assert rep.valid, rep.reason
    expected = cert.metadata["expected_bound"]
    if cert.kind == "infeasible":
        assert expected == "none" and rep.bound is None
    else:
        assert rep.bound == Fraction(expected)
        assert rep.claimed_bound == cert.bound

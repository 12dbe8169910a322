"""Regenerate the certificates in this folder that the checker must reject.

Each file is a small edit of a valid proof from ``proofs/``; ``README.md`` lists the reasons.
Run from the repository root: ``.venv/bin/python proofs/invalid/make_invalid.py``.
"""

from __future__ import annotations

import json
from pathlib import Path

HERE = Path(__file__).resolve().parent
PROOFS = HERE.parent


def _load(name: str) -> dict:
    return json.loads((PROOFS / f"{name}.json").read_text())


def _dump(doc: dict) -> bytes:
    return (json.dumps(doc, sort_keys=True, separators=(",", ":")) + "\n").encode("ascii")


def _write(name: str, data: bytes) -> None:
    (HERE / f"{name}.json").write_bytes(data)


def main() -> None:
    sq = "square_x_minus_1_nonnegative"

    d = _load(sq)
    d["sos"][0]["gram"] = [["1", "1"], ["1", "1"]]  # (x + 1)^2: sign of the cross term flipped
    _write("sign_flipped", _dump(d))

    d = _load(sq)
    d["objective"]["coefficients"] = ["1", "-3", "1"]  # x^2 - 3x + 1 has minimum -5/4
    d["sos"][0]["gram"] = [["1", "-3/2"], ["-3/2", "1"]]  # exact identity, indefinite Gram
    _write("indefinite_gram", _dump(d))

    d = _load(sq)
    d["bound"] = "1/2"  # claims x^2 - 2x + 1 >= 1/2
    _write("bound_raised", _dump(d))

    d = _load(sq)
    d["sos"][0]["gram"] = [["1", "-1", "0"], ["-1", "1", "0"], ["0", "0", "0"]]
    _write("basis_matrix_size_mismatch", _dump(d))

    d = _load(sq)
    d["variables"] = ["x", "y"]  # exponents have one entry, two variables declared
    _write("wrong_variable_count", _dump(d))

    raw = _dump(_load(sq))
    _write("truncated_json", raw[: len(raw) // 2])

    _write("nan_bound", raw.replace(b'"bound":"0"', b'"bound":NaN'))
    _write("float_number", raw.replace(b'"bound":"0"', b'"bound":0.0'))

    d = _load(sq)
    d["bound"] = "1" + "0" * 5000  # over the digit limit
    _write("huge_number", _dump(d))

    d = _load(sq)
    d["version"] = 99
    _write("unknown_version", _dump(d))

    d = _load(sq)
    d["format"] = "some-other-format"
    _write("unknown_format", _dump(d))

    d = _load(sq)
    d["objective"]["exponents"] = [[3], [1], [0]]  # altered after proving: x^3 - 2x + 1
    _write("objective_changed", _dump(d))

    d = _load(sq)
    d["sos"][0]["gram"] = [["1", "-1/2"], ["-3/2", "1"]]  # same polynomial, not symmetric
    _write("non_symmetric_gram", _dump(d))

    d = _load("one_minus_x2_on_interval_products")
    d["products"][0]["coefficient"] = "-1"
    d["objective"]["coefficients"] = [str(-int(c)) for c in d["objective"]["coefficients"]]
    _write("negative_product_coefficient", _dump(d))

    d = _load("x2_plus_x_inexact_gram_on_box")
    d["inequalities"] = [d["inequalities"][0]]  # x <= 1 dropped: the box is no longer implied
    _write("box_not_implied", _dump(d))

    d = _load("x2_plus_1_equals_0_infeasible")
    d["equalities"][0]["coefficients"] = ["1", "-1"]  # x^2 - 1 = 0 is feasible
    _write("infeasibility_of_feasible_set", _dump(d))

    d = _load(sq)
    d["sos"][0]["constraint"] = 3  # there are no inequalities
    _write("constraint_index_out_of_range", _dump(d))

    doc = b"[" * 100 + b"]" * 100
    _write("nesting_too_deep", doc)

    d = _load(sq)
    d["unexpected"] = "field"
    _write("unknown_field", _dump(d))

    _write("nesting_100000_deep", b"[" * 100_000 + b"]" * 100_000)

    # f = x^2 + y^2 >= 4 on K = {-x^(2^62) >= 0} = {x = 0} is false (f(0, 0) = 0).  The product
    # sigma_1 g_0 = -4 x^(2^64) wraps around to the constant -4 in 64-bit exponent arithmetic.
    e = 3 * 2**61
    d = _load(sq)
    d.update(variables=["x", "y"], bound="4",
             objective={"exponents": [[2, 0], [0, 2]], "coefficients": ["1", "1"]},
             inequalities=[{"exponents": [[2**62, 0]], "coefficients": ["-1"]}],
             sos=[{"constraint": None, "basis": [[1, 0], [0, 1]], "cone": "psd",
                   "gram": [["1", "0"], ["0", "1"]]},
                  {"constraint": 0, "basis": [[e, 0]], "cone": "psd", "gram": [["4"]]}])
    d["metadata"] = {}
    _write("exponent_overflow", _dump(d))

    # f = x^2 + 10^12 >= 10^12 + 999999: min f = 10^12; the gap is inside the relative tolerance,
    # so the proof is valid for the weaker bound 10^12, but the stated claim is false
    d = _load(sq)
    d.update(bound=str(10**12 + 999_999),
             objective={"exponents": [[2], [0]], "coefficients": ["1", str(10**12)]},
             sos=[{"constraint": None, "basis": [[1]], "cone": "psd", "gram": [["1"]]}])
    d["metadata"] = {}
    _write("tolerance_edge", _dump(d))

    # (1 - x - y - z)^200 as one product term: a 1.4 million term expansion from a short file
    d = _load("one_minus_x2_on_interval_products")
    d.update(variables=["x", "y", "z"],
             objective={"exponents": [[0, 0, 0]], "coefficients": ["0"]},
             inequalities=[{"exponents": [[0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1]],
                            "coefficients": ["1", "-1", "-1", "-1"]}],
             products=[{"constraints": [0] * 200, "coefficient": "1"}], sos=[], box=None)
    d["metadata"] = {}
    _write("product_power_200", _dump(d))

    # x^10000 over the box [-1, 1]: degree beyond what the checker expands
    d = _load("x2_plus_x_inexact_gram_on_box")
    d["objective"] = {"exponents": [[10_000], [1]], "coefficients": ["1", "1"]}
    d["metadata"] = {}
    _write("degree_10000_in_box", _dump(d))

    # an 80 x 80 Gram matrix of rank 79 with 300-digit entries: singular, so only exact LDL^T
    # can prove it PSD, and its 79 elimination steps grow the entries to ~10^5 digits
    k, width, rank = 80, 150, 79
    v = [[(7 ** (i + 97 * j + 200)) % 10**width + 10 ** (width - 1) for j in range(rank)]
         for i in range(k)]
    gram = [[str(sum(v[i][t] * v[j][t] for t in range(rank))) for j in range(k)]
            for i in range(k)]
    basis = [[i] for i in range(k)]
    obj: dict[tuple[int, ...], int] = {}
    for i in range(k):
        for j in range(k):
            obj[(i + j,)] = obj.get((i + j,), 0) + int(gram[i][j])
    keys = sorted(obj)
    d = _load(sq)
    d.update(objective={"exponents": [list(a) for a in keys],
                        "coefficients": [str(obj[a]) for a in keys]},
             sos=[{"constraint": None, "basis": basis, "cone": "psd", "gram": gram}])
    d["metadata"] = {}
    _write("exact_ldl_80_by_80_300_digits", _dump(d))


if __name__ == "__main__":
    main()

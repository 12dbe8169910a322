"""Write the tampered network proof trees of this folder (deterministic: same bytes on every run).

Each file is the golden proof ``proofs/proof_tree/tiny_relu_three_disjuncts.json`` (or, for the names in
``RUNG_VARIANTS``, ``proofs/proof_tree/rung/tiny_relu_rung_leaves.json``, whose leaves are certified LP
and SDP rungs) with one defect; ``VARIANTS`` maps the file name to the defect and to a phrase the
checker's reason must contain.
``README.md`` lists them.  Run ``python proofs/invalid/proof_tree/make_invalid.py`` from the
repository root after regenerating the golden proofs.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
GOLDEN = HERE.parents[1] / "proof_tree" / "tiny_relu_three_disjuncts.json"
RUNG_GOLDEN = HERE.parents[1] / "proof_tree" / "rung" / "tiny_relu_rung_leaves.json"


def _dump(d: dict[str, Any]) -> str:
    return json.dumps(d, sort_keys=True, separators=(",", ":")) + "\n"


def _rehash(d: dict[str, Any]) -> None:
    h = hashlib.sha256()
    for ly in d["network"]["layers"]:
        h.update(base64.b64decode(ly["weight"]))
        h.update(base64.b64decode(ly["bias"]))
    d["network"]["sha256"] = h.hexdigest()


def _set_weights(d: dict[str, Any], k: int, fn: Callable[[np.ndarray], np.ndarray], rehash: bool = True) -> None:
    ly = d["network"]["layers"][k]
    w = np.frombuffer(base64.b64decode(ly["weight"]), dtype="<f8").copy()
    ly["weight"] = base64.b64encode(fn(w).astype("<f8").tobytes()).decode()
    if rehash:
        _rehash(d)


def _leaves(d: dict[str, Any], disjunct: int) -> list[list[Any]]:
    return [n for n in d["disjuncts"][disjunct]["nodes"] if n[0] == "l"]


def _first(d: dict[str, Any], kind: str, disjunct: int = 0) -> list[Any]:
    return next(n for n in d["disjuncts"][disjunct]["nodes"] if n[0] == kind)


def leaf_dropped(d: dict[str, Any]) -> None:
    d["disjuncts"][0]["nodes"].pop()


def no_nodes(d: dict[str, Any]) -> None:
    d["disjuncts"][1]["nodes"] = []


def trailing_node(d: dict[str, Any]) -> None:
    d["disjuncts"][0]["nodes"].append(copy.deepcopy(_leaves(d, 0)[0]))


def split_outside_box(d: dict[str, Any]) -> None:
    _first(d, "s")[2] = (1.5).hex()


def split_nan(d: dict[str, Any]) -> None:
    _first(d, "s")[2] = "nan"


def split_input_missing(d: dict[str, Any]) -> None:
    _first(d, "s")[1] = 5


def relu_split_missing_neuron(d: dict[str, Any]) -> None:
    _first(d, "r")[2] = 99


def relu_split_output_layer(d: dict[str, Any]) -> None:
    _first(d, "r")[1] = 2


def lambda_negative(d: dict[str, Any]) -> None:
    _leaves(d, 0)[0][1][1] = (-0.0625).hex()


def lambda_all_zero(d: dict[str, Any]) -> None:
    _leaves(d, 0)[0][1] = [(0.0).hex(), (0.0).hex()]


def lambda_nan(d: dict[str, Any]) -> None:
    _leaves(d, 0)[0][1][0] = "nan"


def lambda_count(d: dict[str, Any]) -> None:
    _leaves(d, 0)[0][1].append((1.0).hex())


def lambda_wrong_atom(d: dict[str, Any]) -> None:
    for leaf in _leaves(d, 0):
        leaf[1] = [(0.0).hex(), (1.0).hex()]  # the atom y1 + 100 >= 0 holds everywhere


def alpha_wrong_length(d: dict[str, Any]) -> None:
    leaf = next(n for n in _leaves(d, 0) if n[2] is not None)
    leaf[2] = base64.b64encode(bytes([128] * 11)).decode()


def alpha_bad_slope(d: dict[str, Any]) -> None:
    # disjunct 2 is one leaf that the adaptive slopes close; slope 1 on every unstable neuron does not
    _leaves(d, 2)[0][2] = base64.b64encode(bytes([255] * 12)).decode()


def property_violated(d: dict[str, Any]) -> None:
    d["disjuncts"][1]["atoms"][0]["const"] = "-11"  # y1 reaches 11.43 on the box


def atom_constant_changed(d: dict[str, Any]) -> None:
    d["disjuncts"][0]["atoms"][0]["const"] = "-17/2"  # y0 reaches 8.5703125 at a corner


def box_enlarged(d: dict[str, Any]) -> None:
    d["disjuncts"][0]["hi"] = ["2", "2"]


def weights_changed(d: dict[str, Any]) -> None:
    _set_weights(d, 2, lambda w: w * 2, rehash=False)


def weights_changed_rehashed(d: dict[str, Any]) -> None:
    _set_weights(d, 2, lambda w: w * 2)


def nan_in_weights(d: dict[str, Any]) -> None:
    _set_weights(d, 1, lambda w: np.where(np.arange(w.size) == 3, np.nan, w))


def wrong_base64_length(d: dict[str, Any]) -> None:
    d["network"]["layers"][0]["bias"] = d["network"]["layers"][0]["bias"][:-4]


def layer_shape_mismatch(d: dict[str, Any]) -> None:
    d["network"]["layers"][1]["cols"] = 5


def input_shape_mismatch(d: dict[str, Any]) -> None:
    d["network"]["input_shape"] = [3]


def float32_weights_not_float32(d: dict[str, Any]) -> None:
    d["semantics"] = "float32"
    _set_weights(d, 0, lambda w: w + 0.1)


def zero_denominator(d: dict[str, Any]) -> None:
    d["disjuncts"][0]["lo"][0] = "1/0"


def unknown_version(d: dict[str, Any]) -> None:
    d["version"] = 99


# ---------------------------------------------------------------- rung leaves (base: RUNG_GOLDEN)
def _cert(d: dict[str, Any], disjunct: int, leaf: int, fn: Callable[[dict[str, Any]], None]) -> None:
    node = [n for n in d["disjuncts"][disjunct]["nodes"] if n[0] == "c"][leaf]
    c = json.loads(node[2])
    fn(c)
    node[2] = json.dumps(c, sort_keys=True, separators=(",", ":")) + "\n"


def rung_bound_raised(d: dict[str, Any]) -> None:
    def raise_bound(c: dict[str, Any]) -> None:
        c["bound"] = "100"
    _cert(d, 0, 0, raise_bound)


def rung_multiplier_changed(d: dict[str, Any]) -> None:
    def change(c: dict[str, Any]) -> None:
        c["products"][0]["coefficient"] = "3"
    _cert(d, 0, 1, change)


def rung_gram_changed(d: dict[str, Any]) -> None:
    def change(c: dict[str, Any]) -> None:
        c["sos"][0]["gram"][0][0] = "1/1000"
    _cert(d, 1, 0, change)


def rung_constraint_added(d: dict[str, Any]) -> None:
    def add(c: dict[str, Any]) -> None:  # x_0 >= 1/2: true of no point of the left half
        n = len(c["variables"])
        c["inequalities"].append({"coefficients": ["-1/2", "1"],
                                  "exponents": [[0] * n, [1] + [0] * (n - 1)]})
    _cert(d, 0, 0, add)


def rung_lambdas_changed(d: dict[str, Any]) -> None:
    node = [n for n in d["disjuncts"][0]["nodes"] if n[0] == "c"][0]
    node[1] = [0.5.hex(), 0.5.hex()]


def rung_box_enlarged(d: dict[str, Any]) -> None:
    d["disjuncts"][0]["hi"][0] = "2"


def rung_weights_changed_rehashed(d: dict[str, Any]) -> None:
    _set_weights(d, 0, lambda w: w * 1.5)


def rung_under_relu_split(d: dict[str, Any]) -> None:
    nodes = d["disjuncts"][1]["nodes"]
    d["disjuncts"][1]["nodes"] = [["r", 0, 0], nodes[0], copy.deepcopy(nodes[0])]


def rung_in_version_1(d: dict[str, Any]) -> None:
    d["version"] = 1


def unknown_format(d: dict[str, Any]) -> None:
    d["format"] = "sosrelax-certificate"


def unknown_field(d: dict[str, Any]) -> None:
    d["disjuncts"][0]["claimed_margin"] = "1"


def unknown_semantics(d: dict[str, Any]) -> None:
    d["semantics"] = "float16"


def unknown_intermediate(d: dict[str, Any]) -> None:
    d["intermediate"] = "ibp"


def bad_json(d: dict[str, Any]) -> str:
    return _dump(d)[:-40]


def nan_token(d: dict[str, Any]) -> str:
    return _dump(d).replace('"rows":6', '"rows":NaN', 1)


VARIANTS: dict[str, tuple[Callable[[dict[str, Any]], Any], str, str]] = {
    "leaf_dropped": (leaf_dropped, "truncated", "the last leaf of disjunct 0 is missing"),
    "no_nodes": (no_nodes, "truncated", "disjunct 1 has no nodes at all"),
    "trailing_node": (trailing_node, "trailing node", "a leaf after the complete tree of disjunct 0"),
    "split_outside_box": (split_outside_box, "outside the box", "the root split value is 1.5 on [-1, 1]"),
    "split_nan": (split_nan, "not finite", "the root split value is NaN"),
    "split_input_missing": (split_input_missing, "input index 5 does not exist", "split on input 5 of 2"),
    "relu_split_missing_neuron": (relu_split_missing_neuron, "does not exist", "ReLU split on neuron 99 of 6"),
    "relu_split_output_layer": (relu_split_output_layer, "does not exist", "ReLU split on the output layer"),
    "lambda_negative": (lambda_negative, "nonnegative", "a negative lambda"),
    "lambda_all_zero": (lambda_all_zero, "all zero", "all lambdas of a leaf are zero"),
    "lambda_nan": (lambda_nan, "not finite", "a NaN lambda"),
    "lambda_count": (lambda_count, "expected 2 lambdas", "three lambdas for two atoms"),
    "lambda_wrong_atom": (lambda_wrong_atom, "not proven", "lambdas on the atom that always holds"),
    "alpha_wrong_length": (alpha_wrong_length, "alpha must have 12 bytes", "alpha with 11 of 12 bytes"),
    "alpha_bad_slope": (alpha_bad_slope, "not proven",
                        "slope 1 where the adaptive slopes closed the leaf, so the bound fails"),
    "property_violated": (property_violated, "not proven", "disjunct 1 becomes y1 >= 11, which the network reaches"),
    "atom_constant_changed": (atom_constant_changed, "not proven", "the threshold 9 of disjunct 0 lowered to 8.5, below the maximum of y0"),
    "box_enlarged": (box_enlarged, "not proven", "the box of disjunct 0 enlarged to [-1, 2]^2"),
    "weights_changed": (weights_changed, "sha256", "the output layer doubled, hash not updated"),
    "weights_changed_rehashed": (weights_changed_rehashed, "not proven",
                                 "the output layer doubled and the hash updated"),
    "nan_in_weights": (nan_in_weights, "NaN or an infinity", "a NaN weight (hash updated)"),
    "wrong_base64_length": (wrong_base64_length, "base64 of 6 float64", "a bias four base64 characters short"),
    "layer_shape_mismatch": (layer_shape_mismatch, "does not match the previous layer", "layer 1 claims 5 columns"),
    "input_shape_mismatch": (input_shape_mismatch, "input_shape", "input shape [3] for 2 inputs"),
    "float32_weights_not_float32": (float32_weights_not_float32, "float32 values",
                                    "float32 semantics with weights that are not float32 values"),
    "zero_denominator": (zero_denominator, "zero denominator", "a box bound 1/0"),
    "unknown_version": (unknown_version, "unsupported version", "version 99"),
    "unknown_format": (unknown_format, "unknown format", "another format name"),
    "unknown_field": (unknown_field, "unknown field", "a field the format does not define"),
    "unknown_semantics": (unknown_semantics, "semantics", "semantics float16"),
    "unknown_intermediate": (unknown_intermediate, "intermediate", "intermediate method ibp"),
    "bad_json": (bad_json, "not valid JSON", "the file cut short"),
    "nan_token": (nan_token, "not allowed", "a NaN token in the JSON"),
    "rung_bound_raised": (rung_bound_raised, "exact checker rejected",
                          "an LP leaf's certificate claims the bound 100"),
    "rung_multiplier_changed": (rung_multiplier_changed, "exact checker rejected",
                                "an LP multiplier of a rung leaf changed"),
    "rung_gram_changed": (rung_gram_changed, "exact checker rejected", "a Gram entry of the SDP leaf changed"),
    "rung_constraint_added": (rung_constraint_added, "neither in the leaf's encoding",
                              "an LP leaf's certificate assumes x_0 >= 1/2 on the half x_0 <= 0"),
    "rung_lambdas_changed": (rung_lambdas_changed, "objective", "the atom weights of an LP leaf changed"),
    "rung_box_enlarged": (rung_box_enlarged, "rung leaf rejected",
                          "the box of disjunct 0 enlarged to x_0 <= 2 (the right LP leaf's encoding changes)"),
    "rung_weights_changed_rehashed": (rung_weights_changed_rehashed, "rung leaf rejected",
                                      "the first layer scaled by 3/2 and the hash updated"),
    "rung_under_relu_split": (rung_under_relu_split, "under a ReLU split", "a rung leaf below a ReLU split"),
    "rung_in_version_1": (rung_in_version_1, "['l', lambdas, alpha]",
                          "a rung leaf in a version 1 file (rung leaves need version 2)"),
}

#: The variants made from the golden proof with rung leaves.
RUNG_VARIANTS = frozenset(name for name in VARIANTS if name.startswith("rung_"))


def build() -> dict[str, str]:
    """File name -> file text, for every variant."""
    base = json.loads(GOLDEN.read_text())
    rung_base = json.loads(RUNG_GOLDEN.read_text())
    out = {}
    for name, (fn, _, _) in VARIANTS.items():
        d = copy.deepcopy(rung_base if name in RUNG_VARIANTS else base)
        text = fn(d)
        out[name] = text if isinstance(text, str) else _dump(d)
    return out


def main() -> None:
    from sosrelax.certificate.proof_tree import check_proof_tree

    lines = ["# Invalid network proof trees", "",
             "Each file is `proofs/proof_tree/tiny_relu_three_disjuncts.json` (files `rung_*`:",
             "`proofs/proof_tree/rung/tiny_relu_rung_leaves.json`, with certified LP and SDP leaves) with one",
             "defect; the checker must reject it with a reason containing the phrase shown.  Generated by",
             "`make_invalid.py`.", "",
             "| file | defect | reason contains |", "| --- | --- | --- |"]
    for name, text in build().items():
        path = HERE / f"{name}.json"
        path.write_text(text)
        rep = check_proof_tree(path)
        _, phrase, what = VARIANTS[name]
        assert not rep.valid and phrase in rep.reason, (name, rep.reason)
        lines.append(f"| `{name}.json` | {what} | {phrase} |")
    (HERE / "README.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()

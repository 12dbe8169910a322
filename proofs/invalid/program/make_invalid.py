"""Write the tampered SOS program certificates of this folder (deterministic: same bytes on every run).

Each file is a golden certificate of ``proofs/program/`` with one defect; ``VARIANTS`` maps the file name to
the source, the defect and a phrase the checker's reason must contain (``tests/test_program_proofs.py``).
Run ``.venv/bin/python proofs/invalid/program/make_invalid.py`` from the repository root after regenerating
the golden certificates.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
GOLDEN = HERE.parents[1] / "program"


def _dump(d: dict[str, Any]) -> bytes:
    return (json.dumps(d, sort_keys=True, separators=(",", ":")) + "\n").encode("ascii")


def _q(s: str) -> Fraction:
    return Fraction(s)


def _s(q: Fraction) -> str:
    return str(q.numerator) if q.denominator == 1 else f"{q.numerator}/{q.denominator}"


def gram_entry(d: dict[str, Any]) -> None:
    """Add 1/1000 to the off-diagonal entry (0, 1) and (1, 0) of the first Gram matrix: symmetric, but
    the identity no longer holds."""
    G = d["sos"][0]["grams"][0]["gram"]
    for i, j in ((0, 1), (1, 0)):
        G[i][j] = _s(_q(G[i][j]) + Fraction(1, 1000))


def decision_value(d: dict[str, Any]) -> None:
    """Raise the first unknown (gamma) by 1/1000 without touching the Gram matrices."""
    v = d["decisions"]["values"]
    v[0] = _s(_q(v[0]) + Fraction(1, 1000))
    d["objective"]["value"] = _s(_q(d["objective"]["value"]) + Fraction(1, 1000))


def objective_value(d: dict[str, Any]) -> None:
    """State an objective value 1/1000 above what the unknowns give."""
    d["objective"]["value"] = _s(_q(d["objective"]["value"]) + Fraction(1, 1000))


def gram_not_psd(d: dict[str, Any]) -> None:
    """Negate the first Gram matrix and the expression: the identity still holds exactly, but the Gram
    matrix is negative definite."""
    G = d["sos"][0]["grams"][0]["gram"]
    d["sos"][0]["grams"][0]["gram"] = [[_s(-_q(v)) for v in row] for row in G]
    e = d["sos"][0]["expression"]
    e["constant"] = [_s(-_q(v)) for v in e["constant"]]
    e["linear"] = [[i, k, _s(-_q(v))] for i, k, v in e["linear"]]


def unsafe_moved(d: dict[str, Any]) -> None:
    """Move the unsafe disc of the barrier certificate to centre (1.5, 0), inside the initial set:
    0.16 - (x1 - 1.5)^2 - x2^2 >= 0."""
    g = d["sos"][1]["inequalities"][0]
    g["exponents"] = [[0, 0], [1, 0], [2, 0], [0, 2]]
    g["coefficients"] = ["-209/100", "3", "-1", "-1"]


def controller_changed(d: dict[str, Any]) -> None:
    """Change the controller in the closed-loop certificate's encoding: the output layer's gain 2 on the
    neuron ReLU(x2) becomes 3 (u = -x1 - 3 x2), everything else untouched."""
    h = d["sos"][1]["equalities"][-1]
    k = h["coefficients"].index("2")
    h["coefficients"][k] = "3"


def unknown_version(d: dict[str, Any]) -> None:
    d["version"] = 99


VARIANTS: dict[str, tuple[str, Callable[[dict[str, Any]], None], str]] = {
    "camel_gram_entry_changed": ("camel_global_bound", gram_entry, "grams[0]: the Gram matrix is not PSD"),
    "camel_decision_changed": ("camel_global_bound", decision_value, "identity fails"),
    "camel_objective_value_raised": ("camel_global_bound", objective_value, "not the stated"),
    "camel_gram_negated": ("camel_global_bound", gram_not_psd, "not PSD"),
    "lyapunov_gram_entry_changed": ("lyapunov_damped_cubic", gram_entry, "identity fails"),
    "barrier_unsafe_set_moved": ("prajna_jadbabaie_barrier", unsafe_moved, "identity fails"),
    "barrier_unknown_version": ("prajna_jadbabaie_barrier", unknown_version, "version"),
    "relu_closed_loop_controller_changed": ("relu_closed_loop_lyapunov", controller_changed, "identity fails"),
}


def main() -> None:
    for name, (src, edit, _) in VARIANTS.items():
        d = json.loads((GOLDEN / f"{src}.json").read_text())
        edit(d)
        (HERE / f"{name}.json").write_bytes(_dump(d))


if __name__ == "__main__":
    main()

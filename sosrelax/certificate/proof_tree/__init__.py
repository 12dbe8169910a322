"""Network proof trees: the file format and its independent, rigorous float64 checker.

``format`` reads and writes proof-tree files; ``check`` proves (or refuses) what a tree claims.
The mathematics and the soundness argument are in ``docs/proof-trees.md``.
"""

from sosrelax.certificate.proof_tree.check import (
    LeafBounds,
    ProofReport,
    check_leaves,
    check_proof_tree,
    float32_output_deviation,
    leaf_layer_bounds,
)
from sosrelax.certificate.proof_tree.format import (
    DEFAULT_TREE_LIMITS,
    PROOF_TREE_FORMAT,
    PROOF_TREE_VERSION,
    AtomSpec,
    DisjunctProof,
    Node,
    ProofTree,
    TreeLimits,
    network_sha256,
)

__all__ = [
    "DEFAULT_TREE_LIMITS",
    "PROOF_TREE_FORMAT",
    "PROOF_TREE_VERSION",
    "AtomSpec",
    "DisjunctProof",
    "LeafBounds",
    "Node",
    "ProofReport",
    "ProofTree",
    "TreeLimits",
    "check_leaves",
    "check_proof_tree",
    "float32_output_deviation",
    "leaf_layer_bounds",
    "network_sha256",
]

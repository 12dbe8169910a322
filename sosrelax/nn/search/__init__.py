"""The batched branch and bound for network properties: bounds, attack, search and its proof.

:func:`~sosrelax.nn.search.driver.decide` decides a VNN-LIB property whose atoms are linear:
``sat`` with a counterexample confirmed exactly, ``unsat`` with a proof tree
(:mod:`sosrelax.certificate.proof_tree`) that the independent checker accepted.
"""

from sosrelax.nn.search.driver import SEMANTICS, SearchResult, decide

__all__ = ["SEMANTICS", "SearchResult", "decide"]

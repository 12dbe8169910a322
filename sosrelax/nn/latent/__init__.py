"""Latent adversaries: activation envelopes, latent claims over them, and inversion to inputs.

* :func:`envelope` fits a set of hidden states of one layer to data (interval, zonotope, polytope,
  ellipsoid), reports its coverage of held-out data; :func:`check_envelope` detects envelopes that
  were shrunk after fitting; :func:`load_envelope` reads the versioned JSON file.
* :func:`verify_latent` decides a catastrophe checker for every state of an envelope, on the network
  from that layer on: ``unsat`` with a checked proof, ``sat`` with an exactly checked latent witness.
* :func:`invert` looks for an input whose state comes close to a latent witness, and re-checks it as
  an input counterexample.
"""

from __future__ import annotations

from sosrelax.nn.latent.claims import (
    LatentClaim,
    LatentResult,
    LatentWitness,
    attack_latent,
    confirm_latent,
    latent_network,
    latent_property,
    verify_latent,
)
from sosrelax.nn.latent.envelope import (
    KINDS,
    Envelope,
    EnvelopeReport,
    check_envelope,
    envelope,
    layer_activations,
    load_envelope,
)
from sosrelax.nn.latent.inversion import Inversion, invert

__all__ = [
    "KINDS",
    "Envelope",
    "EnvelopeReport",
    "Inversion",
    "LatentClaim",
    "LatentResult",
    "LatentWitness",
    "attack_latent",
    "check_envelope",
    "confirm_latent",
    "envelope",
    "invert",
    "latent_network",
    "latent_property",
    "layer_activations",
    "load_envelope",
    "verify_latent",
]

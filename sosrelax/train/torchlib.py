"""The one place that imports torch for :mod:`sosrelax.train` (an optional dependency)."""

from __future__ import annotations

from typing import Any

from sosrelax.errors import BackendNotAvailableError

__all__ = ["require_torch"]


def require_torch() -> Any:
    """Return the ``torch`` module, or raise :class:`BackendNotAvailableError` saying how to get it."""
    try:
        import torch
    except ImportError as e:
        raise BackendNotAvailableError(
            "sosrelax.train needs PyTorch; install it with pip install 'sosrelax[train]' (or pip install torch)"
        ) from e
    return torch

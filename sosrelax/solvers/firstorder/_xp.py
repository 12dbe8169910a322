"""Array-namespace selection: numpy on the CPU, cupy on a CUDA GPU, chosen at run time.

Everything in :mod:`sosrelax.solvers.firstorder` is written against the object returned by
:func:`select_backend`: ``xp`` (``numpy`` or ``cupy``), its sparse module (``scipy.sparse`` or
``cupyx.scipy.sparse``) and the two copies across the host–device boundary.  cupy is imported only
here and only when a GPU is asked for (``device="gpu"``) or allowed (``device="auto"``).
"""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import numpy as np
import scipy.sparse as sp

from sosrelax.errors import BackendNotAvailableError, InvalidValueError

__all__ = [
    "ArrayBackend",
    "DEVICES",
    "cuda_available",
    "limited_blas_threads",
    "select_backend",
]

DEVICES = ("cpu", "gpu", "auto")


def cuda_available() -> bool:
    """True when cupy imports and sees at least one CUDA device (never raises)."""
    try:
        import cupy
    except Exception:  # noqa: BLE001 - a broken cupy install is "no GPU", not an error
        return False
    try:
        return int(cupy.cuda.runtime.getDeviceCount()) > 0
    except Exception:  # noqa: BLE001
        return False


@dataclass(frozen=True)
class ArrayBackend:
    """The array namespace the solvers run on.

    Attributes
    ----------
    xp : module
        ``numpy`` or ``cupy``.
    sparse : module
        ``scipy.sparse`` or ``cupyx.scipy.sparse``.
    device : str
        ``"cpu"`` or ``"gpu"``.
    """

    xp: ModuleType
    sparse: ModuleType
    device: str

    @property
    def is_gpu(self) -> bool:
        return self.device == "gpu"

    def asarray(self, a: Any, dtype: Any = np.float64) -> Any:
        """Host array → device array (a no-op on the CPU)."""
        return self.xp.asarray(np.asarray(a, dtype=dtype))

    def csr(self, a: sp.spmatrix) -> Any:
        """Host sparse matrix → device CSR matrix (float64, sorted indices)."""
        m = sp.csr_matrix(a, dtype=np.float64)
        m.sort_indices()
        if not self.is_gpu:
            return m
        return self.sparse.csr_matrix(m)

    def to_host(self, a: Any) -> np.ndarray:
        """Device array → host numpy array (a no-op on the CPU)."""
        if self.is_gpu:
            return np.asarray(a.get())
        return np.asarray(a)

    def scalar(self, a: Any) -> float:
        """A 0-d device value as a Python float (one synchronisation on the GPU)."""
        return float(a)

    def synchronize(self) -> None:
        """Wait for queued device work (for honest timings on the GPU)."""
        if self.is_gpu:
            self.xp.cuda.Stream.null.synchronize()


def select_backend(device: str = "cpu") -> ArrayBackend:
    """The array backend for ``device``.

    Parameters
    ----------
    device : {"cpu", "gpu", "auto"}
        ``"auto"`` takes the GPU when cupy and a CUDA device are present, else the CPU.

    Raises
    ------
    InvalidValueError
        Unknown device name.
    BackendNotAvailableError
        ``device="gpu"`` without a working cupy and CUDA device.
    """
    key = str(device).strip().lower()
    if key not in DEVICES:
        raise InvalidValueError(
            f"device must be one of {', '.join(DEVICES)}, got {device!r}"
        )
    if key == "cpu" or (key == "auto" and not cuda_available()):
        return ArrayBackend(np, sp, "cpu")
    if not cuda_available():
        raise BackendNotAvailableError(
            "device='gpu' needs cupy and a CUDA device; install the gpu extra "
            "(`pip install sosrelax[gpu]`) on a machine with CUDA, or use device='cpu'"
        )
    import cupy
    import cupyx.scipy.sparse as csp

    return ArrayBackend(cupy, csp, "gpu")


def limited_blas_threads(limit: int | None) -> AbstractContextManager[Any]:
    """Limit the host BLAS/LAPACK thread pool inside a ``with`` block (``None``: no limit).

    Small batched ``eigh`` calls are slower with several threads than with one, badly so on a
    loaded machine.  Uses ``threadpoolctl`` when it is installed; otherwise does nothing.
    """
    if limit is None:
        return nullcontext()
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return nullcontext()
    return threadpool_limits(limits=int(limit), user_api="blas")

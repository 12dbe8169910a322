"""Bundled datasets for worst-case training: scikit-learn's ``load_digits``, no download.

The digits are 1797 grey-scale 8×8 images of the digits 0–9 (values 0–16), shipped inside
scikit-learn.  Here they are scaled to ``[0, 1]`` (divided by 16) and flattened to 64 inputs, so
that an L∞ ball of radius ε around an image, clipped to ``[0, 1]``, is the perturbation set of the
robustness claims.  The split is fixed: a stratified split with ``test_size=360`` and
``random_state=0`` (:func:`sklearn.model_selection.train_test_split`), 1437 training and 360 test
images, the same on every machine and every run.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sosrelax.errors import BackendNotAvailableError, InvalidValueError

__all__ = ["DIGITS_TEST_SIZE", "Dataset", "as_dataset", "digits"]

#: Size of the fixed test split of :func:`digits`.
DIGITS_TEST_SIZE = 360


@dataclass(frozen=True)
class Dataset:
    """Inputs and labels of a classification split.

    Attributes
    ----------
    x : ndarray, shape (n, d), float32
        Inputs, flattened, in ``[lower, upper]``.
    y : ndarray, shape (n,), int64
        Class labels ``0 .. n_classes - 1``.
    n_classes : int
    lower, upper : float
        The input domain: every perturbed input is clipped to it.
    image_shape : tuple of int
        ``(channels, height, width)`` of one flattened input (used by convolutional models).
    name : str
    """

    x: np.ndarray
    y: np.ndarray
    n_classes: int
    lower: float = 0.0
    upper: float = 1.0
    image_shape: tuple[int, ...] = ()
    name: str = ""

    def __post_init__(self) -> None:
        if self.x.ndim != 2 or self.y.shape != (self.x.shape[0],):
            raise InvalidValueError(
                f"dataset {self.name!r}: x must be (n, d) and y (n,), got {self.x.shape} and {self.y.shape}"
            )

    def __len__(self) -> int:
        return int(self.x.shape[0])

    def subset(self, index: np.ndarray | slice) -> Dataset:
        """The points ``index`` (same domain and shape)."""
        return Dataset(self.x[index], self.y[index], self.n_classes, self.lower, self.upper,
                       self.image_shape, self.name)

    def __repr__(self) -> str:
        return f"Dataset({self.name!r}, n={len(self)}, d={self.x.shape[1]}, classes={self.n_classes})"


def as_dataset(data: Dataset | tuple[np.ndarray, np.ndarray], n_classes: int | None = None) -> Dataset:
    """A :class:`Dataset` from itself or from a pair ``(x, y)`` (inputs taken to lie in ``[0, 1]``)."""
    if isinstance(data, Dataset):
        return data
    try:
        x, y = data
    except (TypeError, ValueError) as e:
        raise InvalidValueError("data must be a Dataset or a pair (x, y) of arrays") from e
    xa = np.asarray(x, dtype=np.float32)
    xa = xa.reshape(xa.shape[0], -1)
    ya = np.asarray(y).astype(np.int64).reshape(-1)
    if not np.all(np.isfinite(xa)):
        raise InvalidValueError("data: x has NaN or Inf entries")
    k = int(n_classes if n_classes is not None else ya.max() + 1)
    if ya.min(initial=0) < 0 or ya.max(initial=0) >= k:
        raise InvalidValueError(f"data: labels must lie in 0..{k - 1}")
    lo = float(min(0.0, xa.min(initial=0.0)))
    hi = float(max(1.0, xa.max(initial=1.0)))
    return Dataset(xa, ya, k, lo, hi, (), "user")


def digits(split: str = "train") -> Dataset:
    """scikit-learn's 8×8 digits, scaled to ``[0, 1]``; the fixed split described in the module.

    Parameters
    ----------
    split : {"train", "test", "all"}
        1437 training images, 360 test images, or all 1797 (in scikit-learn's order).
    """
    try:
        from sklearn.datasets import load_digits
        from sklearn.model_selection import train_test_split
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise BackendNotAvailableError(
            "the digits dataset needs scikit-learn; install it with pip install 'sosrelax[train]'"
        ) from e
    d = load_digits()
    x = (d.data / 16.0).astype(np.float32)
    y = d.target.astype(np.int64)
    if split == "all":
        return Dataset(x, y, 10, 0.0, 1.0, (1, 8, 8), "digits")
    if split not in ("train", "test"):
        raise InvalidValueError(f"unknown digits split {split!r}; use 'train', 'test' or 'all'")
    idx = np.arange(len(y))
    tr, te = train_test_split(idx, test_size=DIGITS_TEST_SIZE, random_state=0, stratify=y)
    pick = np.sort(tr if split == "train" else te)
    return Dataset(x[pick], y[pick], 10, 0.0, 1.0, (1, 8, 8), f"digits-{split}")

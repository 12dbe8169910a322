"""Worst-case training on PyTorch: the adversary, the verifier and training in one loop.

Five modes behind one function, :func:`train` — ``standard``, ``pgd`` (Madry et al.), ``ibp``
(Gowal et al.), ``crown-ibp`` (Zhang et al.) and ``loop`` (the engine's verifier in the training
loop) — and one proven evaluation, :func:`evaluate`: a point counts as certified only when
:func:`sosrelax.nn.verify` proved it on the exported ONNX model and the checker accepted the proof.
torch is imported when a function needs it, not at import time.

>>> import sosrelax.train as T                                             # doctest: +SKIP
>>> run = T.train(T.digits("train"), mode="crown-ibp", eps=0.1)            # doctest: +SKIP
>>> T.evaluate(run, T.digits("test"), eps=0.1)                             # doctest: +SKIP
"""

from __future__ import annotations

from sosrelax.train.data import DIGITS_TEST_SIZE, Dataset, as_dataset, digits
from sosrelax.train.evaluate import Evaluation, PointResult, evaluate
from sosrelax.train.export import onnx_bytes, save_onnx, to_network
from sosrelax.train.losses import MODES, pgd
from sosrelax.train.models import affine_layers, cnn, mlp
from sosrelax.train.proofs import PointVerdict, box_property, verify_point
from sosrelax.train.trainer import LoopOptions, Schedule, Trained, train

__all__ = [
    "DIGITS_TEST_SIZE",
    "MODES",
    "Dataset",
    "Evaluation",
    "LoopOptions",
    "PointResult",
    "PointVerdict",
    "Schedule",
    "Trained",
    "affine_layers",
    "as_dataset",
    "box_property",
    "cnn",
    "digits",
    "evaluate",
    "mlp",
    "onnx_bytes",
    "pgd",
    "save_onnx",
    "to_network",
    "train",
    "verify_point",
]

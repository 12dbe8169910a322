"""The torch ``nn.Sequential`` loader (skipped without torch)."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from sosrelax.errors import ParseError  # noqa: E402
from sosrelax.nn import from_torch, robustness_claim, verify  # noqa: E402
from sosrelax.nn.verify import Result  # noqa: E402


def test_sequential_matches_module_and_verifies():
    m = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4, 6), torch.nn.BatchNorm1d(6),
                            torch.nn.ReLU(), torch.nn.Dropout(0.1),
                            torch.nn.Sequential(torch.nn.Linear(6, 5), torch.nn.ReLU()),
                            torch.nn.Linear(5, 3))
    rng = np.random.default_rng(0)
    with torch.no_grad():  # every parameter from an explicit generator
        for p in m.parameters():
            p.copy_(torch.from_numpy(rng.normal(size=tuple(p.shape))))
        m[2].running_mean.copy_(torch.from_numpy(rng.uniform(-0.5, 0.5, size=6)))
        m[2].running_var.copy_(torch.from_numpy(rng.uniform(0.5, 2.0, size=6)))
    m.eval()
    net = from_torch(m, (2, 2))
    assert net.hidden_sizes == (6, 5) and net.input_shape == (2, 2)
    x = np.random.default_rng(1).uniform(-1, 1, size=(8, 4))
    with torch.no_grad():
        ref = m.double()(torch.from_numpy(x).reshape(8, 2, 2)).numpy()
    assert np.allclose(net.forward(x), ref, atol=1e-12)
    x0 = x[0]
    label = int(np.argmax(net.forward(x0)))
    res = verify(net, robustness_claim(net, x0, 1e-3, label), timeout=20)
    assert res.status is Result.UNSAT


def test_unsupported_layer_is_named():
    m = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.Sigmoid(), torch.nn.Linear(2, 1))
    with pytest.raises(ParseError, match=r"layer 1 \(Sigmoid\)"):
        from_torch(m)

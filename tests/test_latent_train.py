"""The ``latent`` training mode: its losses bound each other as the mathematics says, and it trains."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import sosrelax.train as T  # noqa: E402
from sosrelax.errors import InvalidValueError  # noqa: E402
from sosrelax.train.latent import LatentOptions, latent_loss  # noqa: E402
from sosrelax.train.trainer import Schedule  # noqa: E402


def _data(n: int = 240):
    ds = T.digits("train")
    return ds.subset(np.arange(n))


def test_ibp_bound_dominates_the_attack_and_eps_zero_is_natural():
    ds = _data()
    net = T.mlp(64, (32, 16), seed=0)
    x, y = torch.as_tensor(ds.x[:64]), torch.as_tensor(ds.y[:64])
    X = torch.as_tensor(ds.x)
    gen = torch.Generator().manual_seed(0)
    for layer in (0, 1):
        att = latent_loss(net, x, y, 1.0, 0.2, 0.0, X, LatentOptions(layer, "attack", 10), gen)
        ibp = latent_loss(net, x, y, 1.0, 0.2, 0.0, X, LatentOptions(layer, "ibp"), gen)
        nat = torch.nn.functional.cross_entropy(net(x), y)
        # the IBP worst case bounds the cross-entropy at every state of the box, the PGD one included,
        # and the natural state lies in the box (the training data define the envelope)
        assert float(ibp.detach()) >= float(att.detach()) - 1e-5
        assert float(ibp.detach()) >= float(nat.detach()) - 1e-5
        zero = latent_loss(net, x, y, 1.0, 0.0, 0.0, X, LatentOptions(layer), gen)
        assert abs(float(zero.detach()) - float(nat.detach())) < 1e-5
    with pytest.raises(InvalidValueError):
        latent_loss(net, x, y, 1.0, 0.1, 0.0, X, LatentOptions(2), gen)


def test_latent_mode_trains_deterministically():
    ds = _data()
    sch = Schedule(epochs=2, warmup=0, ramp=1, batch_size=64)
    runs = [T.train(ds, "latent", eps=0.1, schedule=sch, latent=LatentOptions(0, "attack", 3), seed=1,
                    model=T.mlp(64, (32, 16), seed=1), progress=False) for _ in range(2)]
    a, b = (dict(r.model.state_dict()) for r in runs)
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert all(np.isfinite(row["loss"]) for row in runs[0].history)
    assert "latent" in T.MODES

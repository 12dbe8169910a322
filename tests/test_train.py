"""Worst-case training (sosrelax.train): data, models, bounds against the engine, modes, proven evaluation."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import sosrelax.train as T  # noqa: E402
from sosrelax.errors import BackendNotAvailableError, InvalidValueError, ParseError  # noqa: E402
from sosrelax.train.bounds import crown_ibp_margins, ibp_margins  # noqa: E402


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Tiny models train several times faster on one thread than on two busy cores."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def train_data() -> T.Dataset:
    return T.digits("train")


@pytest.fixture(scope="module")
def test_data() -> T.Dataset:
    return T.digits("test")


def _chain(model):
    Ws, bs = T.affine_layers(model)
    return [w.detach().double() for w in Ws], [b.detach().double() for b in bs]


def _forward(Ws, bs, x):
    h = x
    for m, (w, b) in enumerate(zip(Ws, bs, strict=True)):
        h = h @ w.T + b
        if m < len(Ws) - 1:
            h = h.clamp(min=0)
    return h


# -- data and models -------------------------------------------------------------------------------


def test_digits_split_is_fixed_disjoint_and_stratified(train_data, test_data):
    assert (len(train_data), len(test_data)) == (1797 - T.DIGITS_TEST_SIZE, T.DIGITS_TEST_SIZE)
    both = np.concatenate([train_data.x, test_data.x])
    assert both.min() >= 0.0 and both.max() <= 1.0
    rows = {r.tobytes() for r in T.digits("all").x}
    assert {r.tobytes() for r in both} <= rows
    # stratified: every class has about a fifth of its images in the test split
    frac = np.bincount(test_data.y, minlength=10) / np.bincount(T.digits("all").y, minlength=10)
    assert np.all(np.abs(frac - T.DIGITS_TEST_SIZE / 1797) < 0.02)
    assert np.array_equal(T.digits("test").x, test_data.x)  # the same on every call
    with pytest.raises(InvalidValueError):
        T.digits("validation")


@pytest.mark.parametrize("make", [lambda: T.mlp(hidden=(12, 8)), lambda: T.cnn(channels=(2, 4), hidden=8)])
def test_affine_layers_compose_to_the_model(make):
    model = make()
    x = torch.rand(7, 64, dtype=torch.float64)
    Ws, bs = _chain(model)
    ref = model.double()(x)
    assert torch.allclose(_forward(Ws, bs, x), ref, atol=1e-10)


def test_exported_onnx_is_the_model(tmp_path: Path):
    pytest.importorskip("onnxruntime")
    for model in (T.mlp(hidden=(10,)), T.cnn(channels=(2, 3), hidden=6)):
        net = T.to_network(model, tmp_path / "m.onnx")
        x = np.random.default_rng(0).random((5, 64))
        with torch.no_grad():
            ref = model(torch.tensor(x, dtype=torch.float32)).double().numpy()
        assert np.allclose(net.forward(x), ref, atol=1e-5)
        assert T.onnx_bytes(model) == T.onnx_bytes(model)  # deterministic bytes


def test_unsupported_layer_is_named():
    model = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.Tanh(), torch.nn.Linear(3, 2))
    with pytest.raises(ParseError, match=r"'1'.*Tanh"):
        T.affine_layers(model)
    with pytest.raises(ParseError, match="ends with a ReLU"):
        T.affine_layers(torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.ReLU()))


def test_missing_torch_is_reported(monkeypatch):
    import sys

    from sosrelax.train.torchlib import require_torch

    monkeypatch.setitem(sys.modules, "torch", None)
    with pytest.raises(BackendNotAvailableError, match="sosrelax\\[train\\]"):
        require_torch()


# -- bounds ----------------------------------------------------------------------------------------


def test_ibp_bound_equals_the_engines_interval_rung_on_the_exported_model(tmp_path: Path, test_data):
    """The margin bound of ``ibp`` training is the interval rung's checked bound on the ONNX model."""
    pytest.importorskip("onnxruntime")
    from sosrelax.nn.rungs import prove_atom_violated
    from sosrelax.nn.vnnlib import Atom, Disjunct

    model = T.mlp(hidden=(6, 5), seed=3)
    net = T.to_network(model, tmp_path / "m.onnx")
    x, label, eps = test_data.x[0], int(test_data.y[0]), 0.02
    prop = T.box_property(net, x, label, eps)
    lo = torch.tensor([[float(v) for v in prop.disjuncts[0].lo]], dtype=torch.float64)
    hi = torch.tensor([[float(v) for v in prop.disjuncts[0].hi]], dtype=torch.float64)
    Ws, bs = _chain(model)
    ours = ibp_margins(Ws, bs, lo, hi, torch.tensor([label]))[0]
    for j in (label + 1) % 10, (label + 5) % 10:
        atom = Atom((), tuple(sorted([(j, Fraction(1)), (label, Fraction(-1))])), Fraction(0))
        d = Disjunct(prop.disjuncts[0].lo, prop.disjuncts[0].hi, (atom,))
        _, engine, _, note = prove_atom_violated(net, d, 0, "interval")
        assert engine is not None, note
        assert abs(engine - float(ours[j])) <= 1e-9 * max(1.0, abs(engine)), (j, engine, float(ours[j]))


@pytest.mark.parametrize("bound", [ibp_margins, crown_ibp_margins])
def test_margin_bounds_hold_at_sampled_points(bound, test_data):
    model = T.mlp(hidden=(16, 16), seed=1)
    Ws, bs = _chain(model)
    x = torch.tensor(test_data.x[:6], dtype=torch.float64)
    y = torch.tensor(test_data.y[:6])
    lo, hi = (x - 0.05).clamp(0, 1), (x + 0.05).clamp(0, 1)
    m = bound(Ws, bs, lo, hi, y)
    assert torch.all(m.gather(1, y[:, None]) == 0)
    gen = torch.Generator().manual_seed(0)
    for _ in range(20):
        pts = lo + (hi - lo) * torch.rand(lo.shape, generator=gen, dtype=torch.float64)
        z = _forward(Ws, bs, pts)
        true = z.gather(1, y[:, None]) - z
        assert torch.all(m <= true + 1e-12)


def test_crown_ibp_is_exact_without_unstable_neurons(test_data):
    """A zero-radius box: no neuron is unstable, both bounds equal the network's margins."""
    model = T.mlp(hidden=(8,), seed=2)
    Ws, bs = _chain(model)
    x = torch.tensor(test_data.x[:3], dtype=torch.float64)
    y = torch.tensor(test_data.y[:3])
    z = _forward(Ws, bs, x)
    true = z.gather(1, y[:, None]) - z
    for bound in (ibp_margins, crown_ibp_margins):
        assert torch.allclose(bound(Ws, bs, x, x, y), true, atol=1e-12)


# -- training ----------------------------------------------------------------------------------------


TINY = T.Schedule(epochs=2, warmup=0, ramp=1, batch_size=50)


@pytest.mark.parametrize("mode", T.MODES)
def test_every_mode_trains_a_tiny_model(mode, train_data):
    data = train_data.subset(slice(0, 100))
    model = T.mlp(hidden=(8,), seed=0)
    before = [p.detach().clone() for p in model.parameters()]
    run = T.train(data, mode, eps=0.05, model=model, schedule=TINY, pgd_steps=3,
                  loop=T.LoopOptions(every=1, sample=4, timeout=2.0), progress=False)
    assert len(run.history) == 2 and all(np.isfinite(r["loss"]) for r in run.history)
    assert any(not torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True))
    if mode == "loop":
        assert "round" in run.history[0]


def test_training_is_deterministic_under_a_seed(train_data):
    data = train_data.subset(slice(0, 100))
    runs = [T.train(data, "crown-ibp", eps=0.05, model=T.mlp(hidden=(8,), seed=4), schedule=TINY, seed=7,
                    progress=False) for _ in range(2)]
    for a, b in zip(runs[0].model.parameters(), runs[1].model.parameters(), strict=True):
        assert torch.equal(a, b)


def test_resume_from_a_checkpoint_gives_the_uninterrupted_weights(tmp_path: Path, train_data):
    data = train_data.subset(slice(0, 100))
    sch = T.Schedule(epochs=4, warmup=1, ramp=2, batch_size=50)
    full = T.train(data, "ibp", eps=0.05, model=T.mlp(hidden=(8,)), schedule=sch, seed=1, progress=False)

    class Stop(Exception):
        pass

    def stop_after_two(run: T.Trained) -> None:
        if len(run.history) == 2:
            raise Stop

    with pytest.raises(Stop):
        T.train(data, "ibp", eps=0.05, model=T.mlp(hidden=(8,)), schedule=sch, seed=1, progress=False,
                checkpoint=tmp_path, callback=stop_after_two)
    resumed = T.train(data, "ibp", eps=0.05, model=T.mlp(hidden=(8,)), schedule=sch, seed=1, progress=False,
                      checkpoint=tmp_path, resume=True)
    assert len(resumed.history) == 4
    for a, b in zip(full.model.parameters(), resumed.model.parameters(), strict=True):
        assert torch.equal(a, b)
    with pytest.raises(InvalidValueError, match="mode 'ibp'"):
        T.train(data, "pgd", eps=0.05, model=T.mlp(hidden=(8,)), schedule=sch, seed=1, progress=False,
                checkpoint=tmp_path, resume=True)


def test_pgd_training_beats_standard_under_attack(train_data, test_data):
    """Same seed, same model and epochs: PGD training resists the attack better than standard training."""
    sch = T.Schedule(epochs=8, warmup=0, ramp=0, batch_size=32, lr=3e-3)
    x = torch.tensor(test_data.x[:200])
    y = torch.tensor(test_data.y[:200])
    acc = {}
    for mode in ("standard", "pgd"):
        run = T.train(train_data, mode, eps=0.1, model=T.mlp(hidden=(32,), seed=0), schedule=sch, seed=0,
                      pgd_steps=5, progress=False)
        _, fooled = T.pgd(run.model, x, y, 0.1, steps=10, restarts=2, loss="margin",
                          generator=torch.Generator().manual_seed(1))
        with torch.no_grad():
            correct = run.model(x).argmax(1) == y
        acc[mode] = float((correct & ~fooled).float().mean())
    assert acc["pgd"] > acc["standard"] + 0.1, acc


def test_unknown_mode_and_bad_data_are_refused(train_data):
    with pytest.raises(InvalidValueError, match="unknown training mode"):
        T.train(train_data, "fgsm")
    with pytest.raises(InvalidValueError, match="inputs"):
        T.train(train_data, model=T.mlp(n_inputs=10), schedule=TINY, progress=False)


# -- evaluation --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ibp_model(train_data):
    sch = T.Schedule(epochs=8, warmup=1, ramp=4, batch_size=64, lr=3e-3)
    return T.train(train_data, "ibp", eps=0.1, model=T.mlp(hidden=(16,), seed=0), schedule=sch, progress=False)


def test_evaluation_orders_certified_attack_clean_and_every_proof_checks(tmp_path: Path, ibp_model,
                                                                         test_data):
    pytest.importorskip("onnxruntime")
    from sosrelax.certificate.proof_tree import ProofTree, check_proof_tree
    from sosrelax.store import ResultStore

    data = test_data.subset(slice(0, 24))
    store = tmp_path / "eval.sqlite"
    ev = T.evaluate(ibp_model, data, 0.1, timeout=5.0, store=store, verify_attacked=True, progress=False)
    assert ev.certified <= ev.attack <= ev.clean
    assert ev.counts["certified"] > 0 and ev.counts["clean"] > ev.counts["attack"] - 1
    for p in ev.points:
        assert not (p.certified and p.attacked), p  # a proof and an attack cannot both exist
        assert p.certified <= (p.correct and not p.attacked) <= p.correct
    # every certified point has a proof file that the checker accepts for this network, and only for it
    net = T.to_network(ibp_model.model, tmp_path / "m.onnx")
    other = T.to_network(T.mlp(hidden=(16,), seed=5), tmp_path / "other.onnx")
    with ResultStore(store) as db:
        proven = [p for p in ev.points if p.certified]
        for p in proven[:3]:
            assert p.proof_path is not None
            tree = ProofTree.from_json(db.resolve(p.proof_path).read_text())
            assert check_proof_tree(tree, network=net).valid
            assert not check_proof_tree(tree, network=other).valid
    # a re-run resumes every verified point from the store, with the same verdicts
    again = T.evaluate(ibp_model, data, 0.1, timeout=5.0, store=store, verify_attacked=True, progress=False)
    ran = [p for p in again.points if p.status != "not run"]
    assert ran and all(p.resumed for p in ran)
    assert [p.status for p in again.points] == [p.status for p in ev.points]
    assert again.certified == ev.certified


def test_a_convolutional_model_trains_exports_and_is_verified(train_data, test_data):
    pytest.importorskip("onnxruntime")
    model = T.cnn(channels=(4, 8), hidden=16, seed=0)
    sch = T.Schedule(epochs=5, warmup=3, ramp=1, batch_size=50, lr=1e-2)
    run = T.train(train_data.subset(slice(0, 600)), "crown-ibp", eps=0.02, model=model, schedule=sch,
                  progress=False)
    ev = T.evaluate(run, test_data.subset(slice(0, 8)), 0.02, timeout=5.0, verify_attacked=True,
                    progress=False)
    assert ev.counts["certified"] > 0  # the convolutions went through export, loader and verifier
    assert all(not (p.certified and p.attacked) for p in ev.points)
    assert ev.certified <= ev.attack <= ev.clean


def test_at_radius_zero_every_correct_point_is_proven(ibp_model, test_data):
    """A box of radius 0 is the point itself: certified = attack = clean accuracy."""
    pytest.importorskip("onnxruntime")
    ev = T.evaluate(ibp_model, test_data.subset(slice(0, 10)), 0.0, timeout=5.0, progress=False)
    assert ev.counts["clean"] > 0
    assert ev.certified == ev.attack == ev.clean


def test_a_pair_of_arrays_is_data(train_data):
    x, y = train_data.x[:60].astype(np.float64), train_data.y[:60].tolist()
    run = T.train((x, y), "standard", schedule=T.Schedule(epochs=1, batch_size=30), progress=False)
    assert T.affine_layers(run.model)[0][0].shape[1] == 64
    with pytest.raises(InvalidValueError, match="labels"):
        T.train((x, [-1] * 60), "standard", schedule=TINY, progress=False)

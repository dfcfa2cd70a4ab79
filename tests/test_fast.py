"""The fast engine: stacked training equals separate training, the capturable step equals the
eager one, and a spec with seeds stores one run per seed.

CPU tests run everywhere; the CUDA-marked ones capture real CUDA graphs.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from redundancy.data import DataBundle, load_data
from redundancy.engine import make_plan
from redundancy.engine.stacking import stack_groups
from redundancy.fast.graph import CapturedStep, StateSnapshot
from redundancy.fast.mlp import LinearStep, linear_chain
from redundancy.fast.stacked import StackedNet, can_stack
from redundancy.models import MODELS, build_model
from redundancy.spec.loader import load_spec
from redundancy.spec.schema import DataConfig, ModelConfig, TrainConfig, resolve_train
from redundancy.train import Member, TrainingDiverged, TrainResult, _train, lr_changes, stacking_pays, train_members, train_model, train_stacked
from support.tiny import run_spec, tiny_text, write_spec

cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")

MLP = ModelConfig(name="mlp", widths=[16])


@pytest.fixture(scope="module")
def digits() -> DataBundle:
    return load_data(DataConfig(name="mnist-5k", train_samples=500, test_samples=200), validation=100)


def sgd(**kw: object) -> TrainConfig:
    return resolve_train(TrainConfig(iterations=90, batch_size=32, lr=0.05, momentum=0.9, eval_interval=30, **kw), MLP)  # type: ignore[arg-type]


def adam(**kw: object) -> TrainConfig:
    return resolve_train(TrainConfig(optimizer="adam", iterations=90, batch_size=32, lr=0.01, eval_interval=30, **kw), MLP)  # type: ignore[arg-type]


def assert_close(a: TrainResult, b: TrainResult, atol: float = 1e-5) -> None:
    assert sorted(a.checkpoints) == sorted(b.checkpoints)
    assert a.best_iteration == b.best_iteration and a.final_iteration == b.final_iteration
    for it in a.checkpoints:
        assert a.checkpoints[it].keys() == b.checkpoints[it].keys()
        for key, value in a.checkpoints[it].items():
            torch.testing.assert_close(b.checkpoints[it][key], value, atol=atol, rtol=1e-4, msg=lambda m, it=it, key=key: f"iteration {it}, {key}: {m}")
    for key in a.metrics:
        np.testing.assert_allclose(b.metrics[key], a.metrics[key], atol=atol, rtol=1e-4, err_msg=key)


def assert_identical(a: TrainResult, b: TrainResult) -> None:
    assert sorted(a.checkpoints) == sorted(b.checkpoints) and a.best_iteration == b.best_iteration
    for it in a.checkpoints:
        for key, value in a.checkpoints[it].items():
            assert torch.equal(b.checkpoints[it][key], value), (it, key)
    for key in a.metrics:
        assert np.array_equal(a.metrics[key], b.metrics[key], equal_nan=True), key


def some_masks(seed: int) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return {"blocks.fc1.layer.weight": torch.rand(16, 6, generator=g) > 0.4}


# --- stacked == separate ------------------------------------------------------------------------


@pytest.mark.parametrize("train", [sgd(), adam(lr_milestones=[40])], ids=["sgd-momentum", "adam-milestone"])
def test_stacked_equals_separate(xord: DataBundle, train: TrainConfig) -> None:
    members = [Member(0), Member(1, masks=some_masks(1)), Member(7)]
    alone = [train_model(MLP, train, xord, seed=m.seed, masks=m.masks) for m in members]
    stacked = train_stacked(MLP, train, xord, members)
    for a, b in zip(alone, stacked):
        assert isinstance(b, TrainResult)
        assert_close(a, b)
    # members really differ: their own init and batches
    w0 = stacked[0].checkpoints[0]["blocks.fc1.layer.weight"]  # type: ignore[union-attr]
    w2 = stacked[2].checkpoints[0]["blocks.fc1.layer.weight"]  # type: ignore[union-attr]
    assert not torch.equal(w0, w2)
    # masked weights stay exactly zero in the stacked member too
    mask = members[1].masks["blocks.fc1.layer.weight"]  # type: ignore[index]
    final = stacked[1].checkpoints[90]["blocks.fc1.layer.weight"]  # type: ignore[union-attr]
    assert torch.all(final[~mask] == 0) and torch.any(final[mask] != 0)


def test_stacked_conv_equals_separate(digits: DataBundle) -> None:
    model = ModelConfig(name="conv2", width=0.125)
    train = resolve_train(TrainConfig(iterations=12, batch_size=16, eval_interval=6), model)
    alone = [train_model(model, train, digits, seed=s) for s in (0, 1)]
    stacked = train_stacked(model, train, digits, [Member(0), Member(1)])
    for a, b in zip(alone, stacked):
        assert isinstance(b, TrainResult)
        assert_close(a, b, atol=1e-4)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_stacked_forward_and_gradients_equal_each_member(name: str) -> None:
    """Every registered model stacks, in float64 to the last bits: logits, gradients, batch-norm statistics."""
    cfg = ModelConfig(name=name, width=0.0625, widths=[8, 8] if name == "mlp" else None)
    shape = (3, 32, 32)
    nets = [build_model(cfg, shape, 10, seed).double() for seed in (0, 1)]
    for net in nets:  # non-trivial batch-norm affine parameters
        for module in net.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                with torch.no_grad():
                    module.weight.uniform_(0.5, 1.5)
                    module.bias.normal_()
    assert can_stack(nets[0])
    stacked = StackedNet(nets)
    g = torch.Generator().manual_seed(0)
    x = torch.randn(2, 4, *shape, generator=g, dtype=torch.float64)
    y = torch.randint(0, 10, (2, 4), generator=g)
    stacked.losses(x, y).sum().backward()
    for i, net in enumerate(nets):
        net.train()
        torch.nn.functional.cross_entropy(net(x[i]), y[i]).backward()
    for key, p in stacked.params.items():
        expected = torch.stack([dict(n.named_parameters())[key].grad for n in nets])  # type: ignore[misc]
        torch.testing.assert_close(p.grad, expected, atol=1e-12, rtol=1e-10, msg=key)
    for key, buf in stacked.buffers.items():
        expected = torch.stack([n.state_dict()[key] for n in nets])
        torch.testing.assert_close(buf, expected.to(buf.dtype), atol=1e-12, rtol=1e-10, msg=key)
    stacked.eval()
    for net in nets:
        net.eval()
    shared = stacked(x[0], shared=True)
    torch.testing.assert_close(shared, torch.stack([n(x[0]) for n in nets]), atol=1e-10, rtol=1e-10)
    states = stacked.member_states()
    for i, net in enumerate(nets):
        assert list(states[i]) == list(net.state_dict())


def test_train_members_stacks_where_it_pays_and_equals_train_model(xord: DataBundle, digits: DataBundle) -> None:
    members = [Member(0, masks=some_masks(0)), Member(0)]  # a lottery round: same seed, own masks
    for train, data, model in [(sgd(), xord, MLP), (sgd(stack="off"), xord, MLP)]:
        results = train_members(model, train, data, members)
        for m, r in zip(members, results):
            assert isinstance(r, TrainResult)
            assert_close(train_model(model, train, data, seed=m.seed, masks=m.masks), r)


def test_a_diverging_member_fails_alone(xord: DataBundle) -> None:
    state = {k: v.clone() for k, v in build_model(MLP, xord.input_shape, xord.num_classes, 5).state_dict().items()}
    state["blocks.fc2.layer.weight"][0, 0] = float("nan")
    train = sgd()
    results = train_stacked(MLP, train, xord, [Member(0), Member(5, init_state=state)])
    assert isinstance(results[1], TrainingDiverged)
    assert isinstance(results[0], TrainResult)
    assert_close(train_model(MLP, train, xord, seed=0), results[0])
    with pytest.raises(TrainingDiverged):
        train_model(MLP, train, xord, seed=5, init_state=state)


# --- eager determinism, the hand-written step and the capturable step ---------------------------


@pytest.mark.parametrize("bias", [True, False])
def test_linear_step_gradients_are_autograds_bit_for_bit(bias: bool) -> None:
    for cfg, shape in [(ModelConfig(name="lenet_300_100", bias=bias), (1, 28, 28)), (ModelConfig(name="mlp", widths=[20, 7], bias=bias), (5,))]:
        a, b = build_model(cfg, shape, 10, 0), build_model(cfg, shape, 10, 0)
        g = torch.Generator().manual_seed(1)
        x, y = torch.randn(64, *shape, generator=g), torch.randint(0, 10, (64,), generator=g)
        loss = torch.nn.functional.cross_entropy(a(x), y)
        loss.backward()
        chain = linear_chain(b)
        assert chain is not None
        assert torch.equal(LinearStep(chain)(x, y), loss.detach())
        for (name, p), q in zip(a.named_parameters(), b.parameters()):
            assert torch.equal(p.grad, q.grad), (cfg.name, name)  # type: ignore[arg-type]
    assert linear_chain(build_model(ModelConfig(name="conv2", width=0.1), (3, 32, 32), 10, 0)) is None


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_cpu_engine_is_the_textbook_loop_bit_for_bit(digits: DataBundle, optimizer: str) -> None:
    """With the same batches, train_model on CPU gives exactly the weights of the tutorial loop."""
    model = ModelConfig(name="lenet_300_100", width=0.25)
    train = resolve_train(TrainConfig(optimizer=optimizer, iterations=20, batch_size=32, eval_interval=20), model)  # type: ignore[arg-type]
    result = train_model(model, train, digits, seed=4)
    torch.manual_seed(4)
    net = build_model(model, digits.input_shape, digits.num_classes, 4)
    opt = torch.optim.Adam(net.parameters(), lr=train.lr) if optimizer == "adam" else torch.optim.SGD(net.parameters(), lr=train.lr, momentum=0.9)  # type: ignore[arg-type]
    gen = torch.Generator().manual_seed(4)
    n = digits.train_x.shape[0]
    order, cursor = torch.randperm(n, generator=gen), 0
    for _ in range(20):
        if cursor + 32 > n:
            order, cursor = torch.randperm(n, generator=gen), 0
        idx = order[cursor : cursor + 32]
        cursor += 32
        opt.zero_grad()
        torch.nn.functional.cross_entropy(net(digits.train_x[idx]), digits.train_y[idx]).backward()
        opt.step()
    for name, value in net.state_dict().items():
        assert torch.equal(result.checkpoints[20][name], value), name



def test_graph_off_path_is_deterministic(xord: DataBundle) -> None:
    train = sgd(graph="off", lr_milestones=[50], weight_decay=1e-4)
    masks = some_masks(3)
    assert_identical(train_model(MLP, train, xord, seed=2, masks=masks), train_model(MLP, train, xord, seed=2, masks=masks))
    a = train_stacked(MLP, train, xord, [Member(0), Member(1)])
    b = train_stacked(MLP, train, xord, [Member(0), Member(1)])
    for ra, rb in zip(a, b):
        assert isinstance(ra, TrainResult) and isinstance(rb, TrainResult)
        assert_identical(ra, rb)


@pytest.mark.parametrize("stacked", [False, True], ids=["single", "stacked"])
@pytest.mark.parametrize("train", [sgd(lr_milestones=[0, 45]), adam(lr_milestones=[20])], ids=["sgd", "adam"])
def test_capturable_step_run_eagerly_equals_eager(xord: DataBundle, train: TrainConfig, stacked: bool) -> None:
    """The step CUDA captures — device-side batch positions, warm-up and restore, recapture at each
    milestone — run eagerly on CPU gives the eager loop's results bit for bit."""
    members = [Member(4, masks=some_masks(4))] + ([Member(9)] if stacked else [])
    kw = dict(stacked=stacked, device="cpu", keep=(10,), callback=None)
    eager = _train(MLP, train, xord, members, graph=False, **kw)  # type: ignore[arg-type]
    capturable = _train(MLP, train, xord, members, graph=True, **kw)  # type: ignore[arg-type]
    for a, b in zip(eager, capturable):
        assert isinstance(a, TrainResult) and isinstance(b, TrainResult)
        assert_identical(a, b)


def test_warmup_is_undone_and_new_optimizer_state_zeroed() -> None:
    w = torch.ones(3, requires_grad=True)
    opt = torch.optim.SGD([w], lr=0.5, momentum=0.9)
    counter = torch.zeros(())

    def step() -> None:
        opt.zero_grad(set_to_none=True)
        (w * w).sum().backward()
        opt.step()
        counter.add_(1)

    captured = CapturedStep(step, lambda: [w, counter], opt, device=torch.device("cpu"), warmup=2)
    assert not captured.captured and captured.captures == 1
    assert torch.equal(w.detach(), torch.ones(3)) and counter.item() == 0
    assert torch.equal(opt.state[w]["momentum_buffer"], torch.zeros(3))
    captured()
    assert torch.allclose(w.detach(), torch.zeros(3)) and counter.item() == 1  # 1 - 0.5 * 2
    snap = StateSnapshot([w], opt)
    step()
    snap.restore()
    assert torch.allclose(w.detach(), torch.zeros(3)) and torch.equal(opt.state[w]["momentum_buffer"], torch.full((3,), 2.0))


def test_graph_on_needs_cuda(xord: DataBundle) -> None:
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA; the error is for machines without it")
    from redundancy.errors import RedundancyError

    with pytest.raises(RedundancyError, match="CUDA"):
        train_model(MLP, sgd(graph="on"), xord, seed=0)


def test_lr_changes_follow_multistep_lr() -> None:
    train = TrainConfig(iterations=30, lr=1.0, lr_milestones=[0, 5, 5, 12, 40], lr_gamma=0.5)
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=1.0)
    sched = torch.optim.lr_scheduler.MultiStepLR(opt, milestones=train.lr_milestones, gamma=0.5)  # type: ignore[arg-type]
    lr, changes = 1.0, lr_changes(train)
    for it in range(1, 31):
        lr *= changes.get(it, 1.0)
        assert lr == opt.param_groups[0]["lr"], it
        opt.step()
        sched.step()


# --- the engine: seeds -> stacked -> one stored run each -----------------------------------------

SEEDS_SPEC = tiny_text("seeds", seeds=[0, 1, 2], stack="{stack}")


def run_logged(folder: Path, text: str, **kwargs: Any):  # type: ignore[no-untyped-def]
    """The tiny run into ``folder/store``, and what it logged; ``kwargs`` go to ``run_plan``."""
    folder.mkdir()
    log: list[str] = []
    plan, store, report = run_spec(folder, text, store=folder / "store", on_event=lambda e: log.append(e.line()), **kwargs)
    return plan, store, report, "\n".join(log)


def test_spec_with_seeds_stores_one_run_per_seed(tmp_path: Path) -> None:
    # on CPU runs never stack (Ray and SLURM train each run alone): auto and off store the same bits
    plan, store, report, log = run_logged(tmp_path / "auto", SEEDS_SPEC.format(stack="auto"))
    assert "stacked" not in log and "train seed2 it 60/60" in log
    assert [r.label for r in plan.runs] == ["seed0", "seed1", "seed2"]
    assert sorted(report.trained) == sorted(r.id for r in plan.runs) and not report.failed
    assert [store.stage(r.id).attrs["seed"] for r in plan.runs] == [0, 1, 2]
    plan_off, store_off, _, log_off = run_logged(tmp_path / "off", SEEDS_SPEC.format(stack="off"))
    assert [r.id for r in plan_off.runs] == [r.id for r in plan.runs]  # stacking is not part of a run's identity
    for run in plan.runs:
        a, b = store.read_tensors(run.id), store_off.read_tensors(run.id)
        assert a.keys() == b.keys() and all(np.array_equal(a[k], b[k], equal_nan=True) for k in a), run.label
    first = store.read_tensors(plan.runs[0].id)["checkpoints/00000060/blocks.fc1.layer.weight"]
    second = store.read_tensors(plan.runs[1].id)["checkpoints/00000060/blocks.fc1.layer.weight"]
    assert not np.array_equal(first, second)

    # where runs stack (CUDA; forced here), each is stored as its own stage, equal to training it alone
    folder = tmp_path / "stacked"
    plan_s, store_s, report_s, log_s = run_logged(folder, SEEDS_SPEC.format(stack="auto"), stacking=lambda run: True)
    assert "train seed0 +2 stacked" in log_s and sorted(report_s.trained) == sorted(r.id for r in plan.runs)
    for run in plan.runs:
        a, b = store_s.read_tensors(run.id), store_off.read_tensors(run.id)
        for key in a:
            np.testing.assert_allclose(a[key], b[key], atol=1e-5, rtol=1e-4, err_msg=f"{run.label} {key}")
    # a group with a member missing trains whole again and writes only that member, the same bits as before
    stored = {r.id: store_s.read_tensors(r.id) for r in plan.runs}
    store_s.stage_path(plan.runs[1].id).unlink()
    lines: list[str] = []
    _, _, again = run_spec(folder, SEEDS_SPEC.format(stack="auto"), store=folder / "store", stacking=lambda run: True, on_event=lambda e: lines.append(e.line()))
    assert "train seed0 +2 stacked" in "\n".join(lines)
    assert again.trained == [plan.runs[1].id] and sorted(again.cached) == sorted([plan.runs[0].id, plan.runs[2].id])
    rewritten = store_s.read_tensors(plan.runs[1].id)
    assert all(np.array_equal(rewritten[k], stored[plan.runs[1].id][k], equal_nan=True) for k in rewritten)


def test_stacking_pays_for_small_networks_on_cpu_and_always_on_cuda(xord: DataBundle, digits: DataBundle) -> None:
    lenet = ModelConfig(name="lenet_300_100")
    assert stacking_pays(MLP, xord, "cpu")
    assert not stacking_pays(lenet, digits, "cpu")
    assert stacking_pays(lenet, digits, "cuda")


def test_stack_groups_only_gather_runs_equal_but_for_the_seed(tmp_path: Path) -> None:
    text = SEEDS_SPEC.format(stack="auto").replace("seeds: [0, 1, 2]\n", "") + "grid:\n  seed: [0, 1, 2]\n  train.lr: [0.05, 0.1]\n"
    plan = make_plan(load_spec(write_spec(tmp_path, text)))
    groups = stack_groups(plan.runs, lambda run: True)
    assert sorted(len(g) for g in groups) == [3, 3]
    for group in groups:
        assert len({g.config.train.lr for g in group}) == 1 and [g.config.seed for g in group] == [0, 1, 2]
    assert stack_groups(plan.runs[:1] + plan.runs[2:3], lambda run: False) == [[plan.runs[0]], [plan.runs[2]]]
    assert [len(g) for g in stack_groups(plan.runs, lambda run: True, max_size=2)] == [2, 1, 2, 1]


# --- CUDA ---------------------------------------------------------------------------------------


@pytest.mark.cuda
@cuda
@pytest.mark.parametrize("train", [sgd(lr_milestones=[45]), adam(lr_milestones=[45])], ids=["sgd-milestone", "adam-milestone"])
def test_cuda_graph_capture_equals_eager(train: TrainConfig, digits: DataBundle) -> None:
    model = ModelConfig(name="lenet_300_100", width=0.25)
    train = resolve_train(train.model_copy(update={"lr": 0.01}), model)
    data = digits.to("cuda")
    masks = {"blocks.fc1.layer.weight": torch.rand(75, 784, generator=torch.Generator().manual_seed(0)) > 0.5}
    eager = train_model(model, train.model_copy(update={"graph": "off"}), data, seed=3, device="cuda", masks=masks)
    graphed = train_model(model, train.model_copy(update={"graph": "on"}), data, seed=3, device="cuda", masks=masks)
    assert_close(eager, graphed, atol=1e-4)
    final = graphed.checkpoints[graphed.final_iteration]["blocks.fc1.layer.weight"]
    assert torch.all(final[~masks["blocks.fc1.layer.weight"]] == 0)


@pytest.mark.cuda
@cuda
def test_cuda_captured_step_replays_a_graph() -> None:
    w = torch.ones(3, device="cuda", requires_grad=True)
    opt = torch.optim.Adam([w], lr=0.1, capturable=True)

    def step() -> None:
        opt.zero_grad(set_to_none=True)
        (w * w).sum().backward()
        opt.step()

    captured = CapturedStep(step, lambda: [w], opt, device=torch.device("cuda"))
    assert captured.captured
    assert torch.equal(w.detach().cpu(), torch.ones(3))
    for _ in range(5):
        captured()
    reference = torch.ones(3, requires_grad=True)
    ref_opt = torch.optim.Adam([reference], lr=0.1)
    for _ in range(5):
        ref_opt.zero_grad()
        (reference * reference).sum().backward()
        ref_opt.step()
    torch.testing.assert_close(w.detach().cpu(), reference.detach(), atol=1e-6, rtol=1e-5)


def test_stacked_equals_separate_exactly_in_float64(digits: DataBundle, float64: None) -> None:
    """In float64 the stacked CPU path gives separate training's numbers to rounding (here: exactly)."""
    model = ModelConfig(name="lenet_300_100", width=0.25)
    train = resolve_train(TrainConfig(iterations=40, batch_size=32, lr=0.01, eval_interval=20), model)  # type: ignore[arg-type]
    data = in_float64(digits)
    members = [Member(0), Member(1, masks={"blocks.fc2.layer.weight": torch.rand(25, 75, generator=torch.Generator().manual_seed(1)) > 0.5})]
    alone = [train_model(model, train, data, seed=m.seed, masks=m.masks) for m in members]
    stacked = train_stacked(model, train, data, members)
    for a, b in zip(alone, stacked):
        assert isinstance(b, TrainResult)
        assert b.checkpoints[b.final_iteration]["blocks.fc1.layer.weight"].dtype == torch.float64
        assert_close(a, b, atol=1e-12)


def in_float64(data: DataBundle) -> DataBundle:
    return dataclasses.replace(data, train_x=data.train_x.double(), val_x=data.val_x.double(), test_x=data.test_x.double())


@pytest.fixture
def float64() -> Iterator[None]:
    """Models built as float64: rounding then cannot hide a real difference between two paths."""
    before = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(before)


@pytest.mark.cuda
@cuda
@pytest.mark.parametrize("graph", ["on", "off"])
def test_cuda_stacked_equals_separate(graph: str, digits: DataBundle, float64: None) -> None:
    """The stacked model computes what separate training computes (float64, so rounding stays at
    1e-16: batched and single matrix products sum in different orders, and over 60 float32 steps
    that difference grows to about 1e-4 on an H100; below, float32 is checked to that scale)."""
    model = ModelConfig(name="lenet_300_100", width=0.25)
    train = resolve_train(TrainConfig(iterations=60, batch_size=32, lr=0.01, eval_interval=20, graph=graph), model)  # type: ignore[arg-type]
    data = in_float64(digits).to("cuda")
    members = [Member(0), Member(1, masks={"blocks.fc2.layer.weight": torch.rand(25, 75) > 0.5}), Member(2)]
    alone = [train_model(model, train, data, seed=m.seed, masks=m.masks, device="cuda") for m in members]
    stacked = train_stacked(model, train, data, members, device="cuda")
    for a, b in zip(alone, stacked):
        assert isinstance(b, TrainResult)
        assert b.checkpoints[b.final_iteration]["blocks.fc1.layer.weight"].dtype == torch.float64
        assert_close(a, b, atol=1e-9)


@pytest.mark.cuda
@cuda
@pytest.mark.parametrize("graph", ["on", "off"])
def test_cuda_stacked_float32_stays_within_rounding(graph: str, digits: DataBundle) -> None:
    model = ModelConfig(name="lenet_300_100", width=0.25)
    train = resolve_train(TrainConfig(iterations=60, batch_size=32, lr=0.01, eval_interval=20, graph=graph), model)  # type: ignore[arg-type]
    data = digits.to("cuda")
    members = [Member(0), Member(1)]
    alone = [train_model(model, train, data, seed=m.seed, device="cuda") for m in members]
    stacked = train_stacked(model, train, data, members, device="cuda")
    for a, b in zip(alone, stacked):
        assert isinstance(b, TrainResult) and a.best_iteration == b.best_iteration
        for key, value in a.checkpoints[a.final_iteration].items():
            torch.testing.assert_close(b.checkpoints[b.final_iteration][key], value, atol=2e-3, rtol=1e-2)
        for key in ("train_loss", "val_loss", "test_loss"):
            np.testing.assert_allclose(b.metrics[key], a.metrics[key], rtol=1e-2, err_msg=key)
        for key in ("val_accuracy", "test_accuracy"):
            np.testing.assert_allclose(b.metrics[key], a.metrics[key], atol=0.02, err_msg=key)  # a sample or two may flip


# --- make bench's driver ------------------------------------------------------------------------


def test_run_all_reports_missing_and_failing_modules_and_writes_json(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util
    import json
    import sys

    (tmp_path / "fake_ok.py").write_text(
        "def run(device):\n"
        "    return [{'benchmark': 'fake', 'textbook': 2.0, 'engine': 5.0, 'unit': 'it/s', 'ratio': 2.5, 'note': device, 'target': ''}]\n"
    )
    (tmp_path / "fake_broken.py").write_text("def run(device):\n    raise RuntimeError('boom')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    path = Path(__file__).resolve().parent.parent / "benchmarks" / "run_all.py"
    spec = importlib.util.spec_from_file_location("run_all_under_test", path)
    assert spec is not None and spec.loader is not None
    run_all = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "run_all_under_test", run_all)
    spec.loader.exec_module(run_all)
    monkeypatch.setattr(run_all, "MODULES", ["fake_ok", "fake_absent", "fake_broken"])
    assert run_all.main(["--device", "cpu", "--out", str(tmp_path / "results")]) == 0
    (written,) = (tmp_path / "results").glob("*.json")
    doc = json.loads(written.read_text())
    for key in ("device_name", "cpu_count", "date", "versions", "load_average_before"):
        assert key in doc
    assert doc["versions"]["torch"] == torch.__version__
    status = {r["benchmark"]: r["status"] for r in doc["rows"]}
    assert status == {"fake": "measured", "fake_absent": "missing", "fake_broken": "failed"}
    assert doc["rows"][0]["ratio"] == 2.5 and doc["rows"][0]["note"] == "cpu"

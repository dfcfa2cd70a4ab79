"""Structurally smaller networks: removal equals masking for the forward pass (brute force over
models and layers), their parameter and FLOP counts, and the pruning study's fine-tuning."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from redundancy.cli import app
from redundancy.data import load_data
from redundancy.errors import SpecError
from redundancy.models import build_model
from redundancy.spec.loader import load_spec
from redundancy.spec.schema import DataConfig, ModelConfig, RunConfig, TrainConfig, resolve_train
from redundancy.studies import RunArtifacts, StudyContext
from redundancy.studies.pruning.config import FinetuneConfig, PruningConfig
from redundancy.studies.pruning.finetune import finetune_pruned, finetune_train
from redundancy.studies.pruning.study import run
from redundancy.studies.pruning.summary import kendall_tau, ranking
from redundancy.studies.common.structural import (
    hidden_widths,
    kept_after,
    layer_costs,
    narrow_model_config,
    pruned_cost,
    shrink,
    shrink_state,
    total_cost,
)
from redundancy.train import train_model
from support.tiny import run_spec, tiny_text, write_spec

CASES = [
    ("mlp fc1", ModelConfig(name="mlp", widths=[12, 9]), (3, 4), "fc1"),
    ("mlp fc2", ModelConfig(name="mlp", widths=[12, 9]), (3, 4), "fc2"),
    ("lenet fc1", ModelConfig(name="lenet_300_100", width=0.05), (1, 6, 6), "fc1"),
    ("conv2 conv1 (next is a conv)", ModelConfig(name="conv2", width=0.125), (3, 8, 8), "conv1"),
    ("conv2 conv2 (next reads it flattened)", ModelConfig(name="conv2", width=0.125), (3, 8, 8), "conv2"),
    ("conv2 fc2", ModelConfig(name="conv2", width=0.125), (3, 8, 8), "fc2"),
    ("vgg19 conv3 (batch norm)", ModelConfig(name="vgg19", width=0.0625), (3, 32, 32), "conv3"),
]


@pytest.mark.parametrize("label,cfg,shape,layer", CASES, ids=[c[0] for c in CASES])
def test_structural_removal_equals_masking(label: str, cfg: ModelConfig, shape: tuple[int, ...], layer: str) -> None:
    net = build_model(cfg, shape, 5, seed=0).double().eval()
    gen = torch.Generator().manual_seed(1)
    with torch.no_grad():  # non-zero biases and batch-norm statistics, so nothing vanishes by accident
        for name, p in net.named_parameters():
            if not name.endswith("layer.weight"):
                p.copy_(0.3 * torch.randn(p.shape, generator=gen, dtype=torch.float64) + (1.0 if name.endswith("norm.weight") else 0.0))
        for name, b in net.named_buffers():
            if name.endswith("running_mean"):
                b.copy_(0.1 * torch.randn(b.shape, generator=gen, dtype=torch.float64))
            elif name.endswith("running_var"):
                b.copy_(0.5 + torch.rand(b.shape, generator=gen, dtype=torch.float64))
    x = torch.randn((7, *shape), generator=gen, dtype=torch.float64)
    n = net.block(layer).units
    for removed in (1, n // 2, n - 1):
        order = torch.randperm(n, generator=gen)
        keep = kept_after(order, removed)
        mask = torch.ones(n, dtype=torch.float64)
        mask[order[:removed]] = 0.0
        small = shrink(net, {layer: keep})
        assert small.block(layer).units == n - removed
        torch.testing.assert_close(small(x), net(x, {layer: mask}), rtol=1e-12, atol=1e-12)
        # the counts of the smaller network are what the study computes from the dense one
        counted = total_cost(layer_costs(small, shape))
        assert sum(p.numel() for p in small.parameters()) == counted.params
        assert pruned_cost(net, layer_costs(net, shape), layer, removed) == counted
    assert torch.equal(net.state_dict()[f"blocks.{layer}.layer.weight"], build_model(cfg, shape, 5, seed=0).state_dict()[f"blocks.{layer}.layer.weight"].double())


def test_costs_by_hand_and_output_layer_is_refused() -> None:
    net = build_model(ModelConfig(name="mlp", widths=[6]), (4,), 3, seed=0)
    costs = layer_costs(net, (4,))
    assert costs["fc1"].params == 6 * 4 + 6 and costs["fc1"].flops == 2 * 24
    assert pruned_cost(net, costs, "fc1", 2).params == 4 * 4 + 4 + 3 * 4 + 3
    with pytest.raises(ValueError, match="output layer"):
        shrink_state(net.state_dict(), net.names, {"fc2": torch.tensor([0, 1])})


def test_narrow_config_builds_the_shrunk_architecture() -> None:
    cfg = ModelConfig(name="lenet_300_100", width=0.1)
    net = build_model(cfg, (1, 5, 5), 10, seed=0)
    keep = {"fc1": torch.tensor([0, 3, 7]), "fc2": torch.tensor([1, 2])}
    state = shrink_state(net.state_dict(), net.names, keep)
    narrow = narrow_model_config(cfg, [3, 2])
    small = build_model(narrow, (1, 5, 5), 10, seed=0)
    small.load_state_dict(state)
    assert hidden_widths(small) == [3, 2]
    with pytest.raises(ValueError, match="conv2"):
        narrow_model_config(ModelConfig(name="conv2"), [3])


def test_kendall_tau_and_ranking() -> None:
    assert kendall_tau([1, 2, 3], [10, 20, 30]) == 1.0
    assert kendall_tau([1, 2, 3], [3, 2, 1]) == -1.0
    assert kendall_tau([1, 2, 3], [2, 1, 3]) == pytest.approx(1 / 3)
    assert ranking({"a": 0.5, "b": 0.9, "c": 0.5}) == "b > a = c"


@pytest.fixture(scope="module")
def xord_context() -> StudyContext:
    run_cfg = RunConfig(
        data=DataConfig(name="xord", input_dim=3, train_samples=400, test_samples=200),
        model=ModelConfig(name="mlp", widths=[16, 8]),
        train=TrainConfig(iterations=60, batch_size=32, lr=0.05, eval_interval=20),
    )
    run_cfg = run_cfg.model_copy(update={"train": resolve_train(run_cfg.train, run_cfg.model)})
    data = load_data(run_cfg.data, validation=run_cfg.train.validation)
    result = train_model(run_cfg.model, run_cfg.train, data, seed=0)
    artifacts = RunArtifacts("train-test", run_cfg, result.checkpoints, result.best_iteration, result.final_iteration, result.metrics)
    return StudyContext(run=artifacts, data=data, device=torch.device("cpu"))


def test_finetuning_starts_from_exactly_the_pruned_network(xord_context: StudyContext) -> None:
    state = xord_context.state("best")
    model = xord_context.build_model(state)
    orders = [torch.randperm(16, generator=torch.Generator().manual_seed(s)) for s in range(2)]
    train = finetune_train(FinetuneConfig(iterations=10, levels=[0.5]), xord_context.run.config.train)
    results = finetune_pruned(xord_context, model, state, "fc1", orders, 8, train, keep=[0])
    for order, result in zip(orders, results):
        pruned = shrink_state(state, model.names, {"fc1": kept_after(order, 8)})
        start = result.checkpoints[0]
        assert set(start) == set(pruned)
        for key in pruned:
            assert torch.equal(start[key], pruned[key]), key
        assert not torch.equal(result.checkpoints[result.final_iteration]["blocks.fc1.layer.weight"], pruned["blocks.fc1.layer.weight"])
        # and its accuracy before training is the masked network's at the same removal
        mask = torch.ones(16)
        mask[order[:8]] = 0
        with torch.no_grad():
            masked = model(xord_context.data.test_x, {"fc1": mask}).argmax(1)
        acc = float((masked == xord_context.data.test_y).double().mean())
        assert result.metric_at("test_accuracy", 0) == pytest.approx(acc, abs=1e-12)


def test_pruning_study_with_finetune(xord_context: StudyContext) -> None:
    cfg = PruningConfig(layer="fc1", criteria=["magnitude:smallest", "magnitude:largest", "random"], seeds=2,
                        finetune=FinetuneConfig(iterations=20, levels=[0.25, 0.5]))
    result = run(cfg, xord_context)
    curve = result.curves["magnitude:largest"]
    assert curve["finetune_units_removed"] == [4, 8]
    assert len(curve["finetuned_accuracy"]) == 2 and len(result.curves["random"]["finetuned_std"]) == 2
    # before fine-tuning is the sweep's own accuracy at that level
    assert curve["pruned_accuracy"][1] == pytest.approx(curve["accuracy"][8], abs=1e-12)
    assert curve["params"][0] > curve["params"][8] > curve["params"][-1] and len(curve["flops"]) == 17
    assert result.tensors["fc1@best/random/finetuned/000008/accuracy"].shape == (2,)
    changes = result.summary["finetune"]["50% removed (8 units)"]
    assert set(changes) == {"best_pruned", "best_finetuned", "kendall_tau", "ranking_pruned", "ranking_finetuned"}
    assert "ft@50%" in result.summary["magnitude:smallest"]
    assert result.summary["costs"]["params_dense"] == sum(p.numel() for p in xord_context.build_model().parameters())


SPEC = tiny_text("ft", model={"widths": [16, 8]}, tail="""\
studies:
  - kind: pruning
    criteria: [magnitude, random]
    seeds: 2
    finetune: {iterations: 20, levels: [0.5]}
""")


def test_finetune_end_to_end_and_show(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    plan, store, report = run_spec(tmp_path, SPEC, "ft.yaml")
    assert not report.failed, report.failed
    shown = CliRunner().invoke(app, ["show", "store/ft"], env={"COLUMNS": "200"})
    assert shown.exit_code == 0, shown.output
    assert "best_finetuned" in shown.output and "ft@50%" in shown.output
    doc = json.loads(CliRunner().invoke(app, ["show", "store/ft", "--json"]).stdout)
    assert len(doc["studies"][0]["curves"]["random"]["finetuned_accuracy"]) == 1


@pytest.mark.parametrize(
    "model,study,words",
    [
        ("{name: conv2, width: 0.125}", "finetune: {iterations: 5, levels: [0.5]}", ["lenet_300_100, mlp", "'conv2'"]),
        ("{name: mlp, widths: [16]}", "layer: fc2\n    finetune: {iterations: 5, levels: [0.5]}", ["output layer"]),
        ("{name: mlp, widths: [16]}", "finetune: {iterations: 5, levels: [1.5]}", ["less than 1"]),
        ("{name: mlp, widths: [16]}", "finetune: {levels: [0.5]}", ["iterations"]),
    ],
)
def test_bad_finetune_fields(tmp_path: Path, model: str, study: str, words: list[str]) -> None:
    text = tiny_text("bad", tail=f"studies:\n  - kind: pruning\n    {study}\n").replace("model:\n  name: mlp\n  widths: [16]", f"model: {model}")
    if "conv2" in model:
        text = text.replace("name: xord\n  input_dim: 3", "name: mnist-5k")
    with pytest.raises(SpecError) as err:
        load_spec(write_spec(tmp_path, text))
    for word in words:
        assert word in str(err.value)

"""The lottery study at tiny scale: masks, rewinding, controls, the store and the CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from redundancy.cli import app
from redundancy.data import load_data
from redundancy.engine.codec import load_run
from redundancy.errors import SpecError
from redundancy.spec.loader import load_spec
from redundancy.spec.schema import ModelConfig, TrainConfig, resolve_train
from redundancy.store import Store
from redundancy.studies.base import StudyContext
from redundancy.studies.common.imp import keep_largest, prune_round, pruning_groups, random_masks_like, rewound_train, survivors_after
from redundancy.studies.lottery.config import LotteryConfig, effective_train, first_drop_round, same_learning
from redundancy.studies.lottery.study import KIND as LOTTERY
from redundancy.train import TrainResult, train_model
from support.tiny import run_spec_file, stage_arrays, tiny_text, write_spec

SPECS = Path(__file__).resolve().parent.parent / "specs"

TINY = tiny_text(
    "tinylottery", model={"widths": [16, 12]}, iterations=50, optimizer="sgd", momentum=0.9, eval_interval=10, checkpoints=[20]
)


def tiny_spec(tmp_path: Path, study: str, name: str = "spec.yaml") -> Path:
    return write_spec(tmp_path, TINY + "studies:\n" + study, name)


def run_ok(path: Path) -> tuple[Any, Store]:
    plan, store, report = run_spec_file(path)
    assert not report.failed, report.failed
    return plan, store


# --- pure helpers --------------------------------------------------------------------------------


def test_layerwise_sparsity_after_r_rounds_is_one_minus_keep_to_the_r_within_one_weight() -> None:
    gen = torch.Generator().manual_seed(0)
    shapes = {"fc1": (37, 23), "fc2": (11, 37), "conv1": (5, 3, 3, 3), "fc3": (3, 11)}
    config = LotteryConfig(rate=0.2)
    groups = pruning_groups(list(shapes), "fc3", config)
    masks = {n: torch.ones(s, dtype=torch.bool) for n, s in shapes.items()}
    for r in range(1, 13):
        weights = {n: torch.randn(s, generator=gen) for n, s in shapes.items()}
        new = prune_round(weights, masks, groups, r)
        for n in shapes:
            assert not (new[n] & ~masks[n]).any(), "masks must be nested"
            rate = 0.1 if n == "fc3" else 0.2
            total = masks[n].numel()
            assert abs(int(new[n].sum()) - total * (1 - rate) ** r) <= 1
            # the pruned ones are the survivors of smallest magnitude
            dropped = masks[n] & ~new[n]
            if dropped.any() and new[n].any():
                assert weights[n][dropped].abs().max() <= weights[n][new[n]].abs().min()
        masks = new


def test_global_scope_ranks_hidden_layers_together_and_the_output_alone() -> None:
    config = LotteryConfig(scope="global", rate=0.5)
    groups = pruning_groups(["fc1", "fc2", "fc3"], "fc3", config)
    assert groups == [(("fc1", "fc2"), 0.5), (("fc3",), 0.25)]
    big = torch.full((4, 4), 10.0)
    small = torch.full((2, 4), 0.1)
    masks = {"fc1": torch.ones(4, 4, dtype=torch.bool), "fc2": torch.ones(2, 4, dtype=torch.bool)}
    kept = keep_largest({"fc1": big, "fc2": small}, masks, 12)
    assert int(kept["fc1"].sum()) == 12 and int(kept["fc2"].sum()) == 0
    assert survivors_after(24, 0.5, 1) == 12
    with pytest.raises(ValueError):
        keep_largest({"fc1": big}, {"fc1": kept["fc1"]}, 13)


def test_random_masks_keep_each_layers_count_and_are_seeded() -> None:
    masks = {"a": torch.rand(20, 30) < 0.3, "b": torch.rand(5, 20) < 0.7}
    one = random_masks_like(masks, 1)
    assert all(int(one[n].sum()) == int(masks[n].sum()) for n in masks)
    assert all(torch.equal(one[n], random_masks_like(masks, 1)[n]) for n in masks)
    assert not torch.equal(one["a"], random_masks_like(masks, 2)["a"])


def test_training_configs_for_overrides_and_late_rewinding() -> None:
    model = ModelConfig(name="mlp")
    run_train = resolve_train(TrainConfig(iterations=1000, lr=0.1, lr_milestones=[300, 700], checkpoints=[50]), model)
    plain = effective_train(LotteryConfig(), run_train, model)
    assert same_learning(plain, run_train) and plain.checkpoints is None
    shorter = effective_train(LotteryConfig(train=TrainConfig(iterations=200)), run_train, model)
    assert shorter.iterations == 200 and shorter.eval_interval == 10 and not same_learning(shorter, run_train)
    assert shorter.lr == 0.1 and shorter.optimizer == run_train.optimizer
    late = rewound_train(run_train, 400)
    assert late.iterations == 600 and late.lr == pytest.approx(0.01) and late.lr_milestones == [300]
    assert rewound_train(run_train, 0) is run_train
    assert first_drop_round([0.9, 0.895, 0.889, 0.95], 0.9) == 2
    assert first_drop_round([0.9, 0.9], 0.9) is None


# --- the train loop keeps pruned weights at zero ------------------------------------------------


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_pruned_weights_stay_exactly_zero_through_training(optimizer: str) -> None:
    model = ModelConfig(name="mlp", widths=[16])
    spec = load_spec_text(TINY)
    data = load_data(spec.data, validation=0.1)
    train = resolve_train(
        TrainConfig(optimizer=optimizer, lr=0.05, momentum=0.9 if optimizer == "sgd" else None, weight_decay=1e-3,
                    iterations=40, batch_size=32, eval_interval=10),
        model,
    )
    gen = torch.Generator().manual_seed(3)
    masks = {"blocks.fc1.layer.weight": torch.rand(16, 6, generator=gen) < 0.5, "blocks.fc2.layer.weight": torch.rand(2, 16, generator=gen) < 0.5}
    result = train_model(model, train, data, seed=0, masks=masks)
    start = result.checkpoints[0]
    for state in result.checkpoints.values():
        for name, mask in masks.items():
            assert torch.all(state[name][~mask] == 0), f"{optimizer}: a pruned weight of {name} moved"
    final = result.checkpoints[result.final_iteration]
    for name, mask in masks.items():
        assert not torch.equal(final[name][mask], start[name][mask]), "the survivors should train"


def load_spec_text(text: str) -> Any:
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        return load_spec(write_spec(Path(folder), text, "s.yaml")).spec


# --- the study on a real store -------------------------------------------------------------------


class RecordingContext(StudyContext):
    """The real context, remembering what every training was given and what it returned."""

    calls: list[tuple[dict[str, Any], TrainResult]]

    def train(self, train=None, **kwargs):  # type: ignore[no-untyped-def,override]
        result = super().train(train, **kwargs)
        self.calls.append(({"train": train, **kwargs}, result))
        return result

    def train_many(self, train, inits, **kwargs):  # type: ignore[no-untyped-def,override]
        results = super().train_many(train, inits, **kwargs)
        for (init_state, masks), result in zip(inits, results):
            self.calls.append(({"train": train, "init_state": init_state, "masks": masks, **kwargs}, result))
        return results


def recorded_study(tmp_path: Path, study: dict[str, Any]) -> tuple[RecordingContext, Any, Any]:
    """Train the tiny run into a real store, read it back, and run the study with a recording context."""
    path = tiny_spec(tmp_path, "  []\n")
    plan, store = run_ok(path)
    artifacts = load_run(store, plan.runs[0].id)
    data = load_data(artifacts.config.data, validation=artifacts.config.train.validation)
    ctx = RecordingContext(run=artifacts, data=data, device=torch.device("cpu"))
    ctx.calls = []
    config = LotteryConfig(**study)
    return ctx, config, LOTTERY.run(config, ctx)


@pytest.mark.parametrize(
    "study",
    [
        {"rounds": 3, "rate": 0.3},
        {"rounds": 2, "rate": 0.3, "rewind": 20, "train": {"optimizer": "adam", "lr": 0.01}},
    ],
    ids=["sgd-momentum-rewind-init", "adam-late-rewind"],
)
def test_rounds_rewind_to_the_stored_weights_and_keep_pruned_weights_zero(tmp_path: Path, study: dict[str, Any]) -> None:
    ctx, config, result = recorded_study(tmp_path, study)
    k = config.rewind_iteration
    stored = ctx.run.checkpoints  # read back from the HDF5 file
    masked = [(kw, res) for kw, res in ctx.calls if kw.get("masks")]
    overridden = config.train is not None
    if overridden:
        # the dense round is trained again (Adam) and keeps the rewind point
        dense_kw, dense = ctx.calls[0]
        assert dense_kw.get("masks") is None and k in dense.checkpoints and dense_kw["keep"] == [k]
        rewind_state = dense.checkpoints[k]
        assert all(kw["train"].optimizer == "adam" for kw, _ in ctx.calls)
    else:
        rewind_state = stored[k]
    # 1 ticket + 2 controls per round, plus round 0's reinit (and the dense round when retrained)
    assert len(ctx.calls) == config.rounds * 3 + 1 + int(overridden)
    assert len(masked) == config.rounds * 3
    tickets = masked[0::3]
    for r, (kw, res) in enumerate(tickets, start=1):
        for name, value in rewind_state.items():
            assert torch.equal(kw["init_state"][name], value), "a ticket must start from the exact stored weights"
        for name, mask in kw["masks"].items():
            layer = name.split(".")[1]
            assert np.array_equal(result.tensors[f"masks/{layer}"][r], mask.numpy().astype(np.uint8))
            # training starts from the rewound survivors, pruned weights at zero
            assert torch.equal(res.checkpoints[0][name], rewind_state[name] * mask)
        assert kw["train"].iterations == 50 - k
    for kw, res in masked:  # ticket and both controls
        final = res.checkpoints[res.final_iteration]
        for name, mask in kw["masks"].items():
            assert torch.all(final[name][~mask.bool()] == 0)
    reinit_kw, _ = masked[1]
    random_kw, _ = masked[2]
    assert not torch.equal(reinit_kw["init_state"]["blocks.fc1.layer.weight"], stored[0]["blocks.fc1.layer.weight"])
    assert torch.equal(random_kw["init_state"]["blocks.fc1.layer.weight"], rewind_state["blocks.fc1.layer.weight"])
    for layer in ("fc1", "fc2", "fc3"):
        ticket_mask, random_mask = result.tensors[f"masks/{layer}"], result.tensors[f"random_masks/{layer}"]
        assert ticket_mask.dtype == np.uint8
        assert np.array_equal(ticket_mask.reshape(ticket_mask.shape[0], -1).sum(1), random_mask.reshape(random_mask.shape[0], -1).sum(1))
        assert not np.array_equal(ticket_mask[-1], random_mask[-1])
    assert result.attrs["dense_reused"] is (not overridden)


def test_study_writes_nested_masks_counts_and_the_documented_curves(tmp_path: Path) -> None:
    path = tiny_spec(tmp_path, "  - kind: lottery\n    rounds: 3\n    rate: 0.4\n")
    plan, store = run_ok(path)
    arrays = stage_arrays(store.stage_path(plan.studies[0].id), "results")
    for layer, rate in (("fc1", 0.4), ("fc2", 0.4), ("fc3", 0.2)):
        masks = arrays[f"masks/{layer}"].astype(bool)
        assert masks.shape[0] == 4 and masks[0].all()
        for r in range(1, 4):
            assert not (masks[r] & ~masks[r - 1]).any()
            assert abs(masks[r].sum() - masks[0].size * (1 - rate) ** r) <= 1
            assert arrays[f"sparsity/{layer}"][r] == pytest.approx(1 - masks[r].sum() / masks[r].size)
        counts = arrays[f"concentration/{layer}/counts"]
        assert np.array_equal(counts, masks.reshape(4, masks.shape[1], -1).sum(2))
    # outgoing weights of fc1 are fc2's columns
    fc2 = arrays["masks/fc2"].astype(bool)
    assert np.array_equal(arrays["concentration/fc1/outgoing/counts"], fc2.sum(1))
    assert "concentration/fc3/outgoing/counts" not in arrays

    doc = json.loads(CliRunner().invoke(app, ["show", str(store.root), "--json"]).stdout)
    curves = doc["studies"][0]["curves"]
    for key in ("rounds", "sparsity", "accuracy", "early_stop_iteration", "reinit", "random_mask", "concentration"):
        assert key in curves
    assert curves["rounds"] == [0, 1, 2, 3]
    assert len(curves["reinit"]["accuracy"]) == len(curves["random_mask"]["accuracy"]) == 4
    assert curves["random_mask"]["accuracy"][0] == curves["accuracy"][0]  # nothing pruned: the dense network
    for layer in ("fc1", "fc2", "fc3"):
        stats = curves["concentration"][layer]
        for key in ("dispersion", "null_dispersion", "p_value", "gini", "null_gini", "empty_units",
                    "expected_empty_units", "conditional_survival", "density"):
            assert len(stats[key]) == 4, (layer, key)
    summary = doc["studies"][0]["summary"]
    assert set(summary["fc1"]) >= {"p_value", "concentrated", "gini", "null_gini", "empty", "expected_empty"}
    assert summary["dense_accuracy"] == curves["accuracy"][0]
    assert summary["first_round_below_dense"] == first_drop_round(curves["accuracy"], curves["accuracy"][0])


def test_cli_runs_the_study_and_shows_its_table(tmp_path: Path) -> None:
    path = tiny_spec(tmp_path, "  - kind: lottery\n    rounds: 2\n    controls: [random_mask]\n    layers: [fc1, fc2]\n")
    store = tmp_path / "cli-store"
    cmd = [sys.executable, "-m", "redundancy.cli", "run", str(path), "--store", str(store), "--quiet"]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120, env={**os.environ, "OMP_NUM_THREADS": "1", "COLUMNS": "200"})
    assert done.returncode == 0, done.stderr
    assert "lottery" in done.stdout and "concentrated" in done.stdout and "fc2" in done.stdout
    curves = json.loads(CliRunner().invoke(app, ["show", str(store), "--json"]).stdout)["studies"][0]["curves"]
    assert "reinit" not in curves and len(curves["random_mask"]["accuracy"]) == 3
    assert set(curves["concentration"]) == {"fc1", "fc2"}


# --- validation ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "study,path,words",
    [
        ("    layers: [fc1, fc9]\n", "studies[0].layers[1]", ["unknown layer 'fc9'", "fc1, fc2, fc3"]),
        ("    rewind: 50\n", "studies[0].rewind", ["before the end of training", "50 iterations"]),
        ("    rewind: -1\n", "studies[0].rewind", ["'init' or an iteration"]),
        ("    rounds: 40\n", "studies[0].rounds", ["keeps no weight", "fc1 (96 weights)", "at most 23 rounds"]),
        ("    scope: everywhere\n", "studies[0].scope", ["'layerwise'", "'global'"]),
        ("    controls: [reinit, reinit]\n", "studies[0].controls", ["listed twice"]),
        ("    controls: [shuffle]\n", "studies[0].controls[0]", ["'reinit'", "'random_mask'"]),
        ("    rate: 1.0\n", "studies[0].rate", ["less than 1"]),
        ("    train:\n      validation: 0.3\n", "studies[0].train.validation", ["run's"]),
        ("    train:\n      iteration: 10\n", "studies[0].train.iteration", ["unknown field 'iteration'"]),
    ],
)
def test_bad_study_fields_name_the_field_and_line(tmp_path: Path, study: str, path: str, words: list[str]) -> None:
    spec = tiny_spec(tmp_path, "  - kind: lottery\n" + study)
    with pytest.raises(SpecError) as info:
        load_spec(spec)
    problems = info.value.problems
    assert any(p.path == path for p in problems), [str(p) for p in problems]
    problem = next(p for p in problems if p.path == path)
    assert problem.line is not None and problem.line >= 20
    for word in words:
        assert word in problem.message, problem.message


def test_shipped_specs_validate() -> None:
    for name in ("lottery_lenet", "lottery_conv2", "lottery_mnist5k"):
        spec = load_spec(SPECS / f"{name}.yaml").spec
        assert spec.studies[0].kind == "lottery"

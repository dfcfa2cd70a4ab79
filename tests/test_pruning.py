"""The pruning study: greedy orders against brute force, the fast sweep against the textbook loop,
reproducible random orders, validation messages, and the study end to end through the CLI."""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from redundancy.cli import app
from redundancy.data import load_data
from redundancy.errors import SpecError
from redundancy.studies.common.measures import fp_contributions, frame_potential
from redundancy.models import LayeredNet, build_model
from redundancy.spec.loader import load_spec
from redundancy.spec.schema import DataConfig, ModelConfig, RunConfig, TrainConfig, resolve_train
from redundancy.studies import RunArtifacts, StudyContext
from redundancy.studies.pruning.config import PruningConfig, removal_levels
from redundancy.studies.pruning.criteria import CRITERIA, parse_criterion
from redundancy.studies.pruning.study import curve_panels, run
from redundancy.studies.pruning.summary import auc_percentile, curve_auc, removable_within, summary_row
from redundancy.studies.common.removal import removal_sweep, single_unit_removal, textbook_removal
from redundancy.studies.common.orders import (
    mean_abs_activation,
    TIE_RTOL,
    frame_potential_along,
    greedy_frame_potential_order,
    order_by_scores,
)
from redundancy.train import train_model
from support.tiny import tiny_text, write_spec

# --- greedy orders against brute force -------------------------------------------------------


def brute_force_greedy(w: torch.Tensor, direction: str) -> list[int]:
    """Recompute every remaining unit's contribution from scratch before each removal."""
    remaining = list(range(w.shape[0]))
    order = []
    while remaining:
        c = fp_contributions(w[remaining]).numpy()
        best = c.min() if direction == "smallest" else c.max()
        tol = TIE_RTOL * max(1.0, abs(best))
        ties = [i for i, v in enumerate(c) if (v <= best + tol if direction == "smallest" else v >= best - tol)]
        pick = remaining[ties[0]]  # remaining is sorted, so the first tie is the lowest unit index
        order.append(pick)
        remaining.remove(pick)
    return order


@pytest.mark.parametrize("shape", [(1, 3), (5, 3), (12, 4), (30, 7), (40, 40), (64, 10), (8, 2, 3, 3)])
@pytest.mark.parametrize("direction", ["smallest", "largest"])
def test_greedy_frame_potential_equals_brute_force(shape: tuple[int, ...], direction: str) -> None:
    w = torch.randn(shape, generator=torch.Generator().manual_seed(sum(shape)), dtype=torch.float64)
    assert greedy_frame_potential_order(w, direction).tolist() == brute_force_greedy(w.reshape(shape[0], -1), direction)


@pytest.mark.parametrize("direction", ["smallest", "largest"])
def test_greedy_ties_go_to_the_lowest_index(direction: str) -> None:
    # Entries ±1 with 16 columns: normalized entries ±1/4 and every ⟨ŵ_i, ŵ_j⟩² is exact, so
    # incremental updates and recomputation agree bit for bit and ties are exact.
    g = torch.Generator().manual_seed(3)
    base = torch.randint(0, 2, (6, 16), generator=g).double() * 2 - 1
    w = torch.cat([base, base[[1, 4, 1]], base[[0]] * 3.0])  # repeated units and a scaled copy
    order = greedy_frame_potential_order(w, direction).tolist()
    assert order == brute_force_greedy(w, direction)
    identical = torch.ones(5, 4)  # all contributions equal: index order, both directions
    assert greedy_frame_potential_order(identical, direction).tolist() == [0, 1, 2, 3, 4]
    orthogonal = torch.eye(4)
    assert greedy_frame_potential_order(orthogonal, direction).tolist() == [0, 1, 2, 3]


def test_frame_potential_along_equals_recomputation() -> None:
    w = torch.randn(20, 6, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    order = torch.randperm(20, generator=torch.Generator().manual_seed(2))
    fp = frame_potential_along(w, order)
    for k in range(21):
        kept = sorted(set(range(20)) - set(order[:k].tolist()))
        expected = frame_potential(w[kept]) if kept else 0.0
        assert fp[k].item() == pytest.approx(expected, rel=1e-12, abs=1e-12)


def test_magnitude_order_is_a_stable_sort() -> None:
    scores = torch.tensor([2.0, 1.0, 3.0, 1.0, 2.0])
    assert order_by_scores(scores, "smallest").tolist() == [1, 3, 0, 4, 2]
    assert order_by_scores(scores, "largest").tolist() == [2, 0, 4, 1, 3]


def test_removal_levels_and_summary_row() -> None:
    assert removal_levels(10, 1.0, 3) == [0, 3, 6, 9, 10]
    assert removal_levels(10, 0.5, 3) == [0, 3, 5]
    assert removal_levels(300, 1.0, 1) == list(range(301))
    row = summary_row([0, 2, 4], [1.0, 0.5, 0.0], 4)  # linear from 1 to 0 over all units
    assert row["acc@10%"] == pytest.approx(0.9) and row["acc@75%"] == pytest.approx(0.25)
    assert row["auc"] == pytest.approx(0.5)
    half = summary_row([0, 2], [1.0, 0.5], 4)  # max_fraction 0.5: nothing past 50 %
    assert half["acc@50%"] == pytest.approx(0.5) and half["acc@75%"] is None
    assert row["removable@1pt"] == 0 and row["removable@5pt_fraction"] == 0.0


def test_auc_percentile_against_counting() -> None:
    null = [0.5, 0.6, 0.6, 0.7, 0.8]
    assert auc_percentile(0.65, null) == pytest.approx(60.0)  # 3 of 5 below
    assert auc_percentile(0.6, null) == pytest.approx(100 * (1 + 0.5 * 2) / 5)  # ties count half
    assert auc_percentile(0.1, null) == 0.0 and auc_percentile(0.9, null) == 100.0
    rng = np.random.default_rng(0)
    draws = rng.normal(size=1000)
    for q in (0.1, 0.5, 0.9):
        value = float(np.quantile(draws, q))
        assert auc_percentile(value, draws) == pytest.approx(100 * q, abs=0.2)
    # the AUC of the mean curve is the mean of the per-seed AUCs (trapezoids are linear)
    levels, curves = [0, 3, 5, 10], rng.uniform(0.5, 1.0, (7, 4))
    assert curve_auc(levels, curves.mean(0), 10) == pytest.approx(np.mean([curve_auc(levels, c, 10) for c in curves]))
    assert curve_auc(levels, curves[0], 10) == pytest.approx(np.trapezoid(curves[0], np.asarray(levels) / 10))


@pytest.mark.parametrize("seed", range(20))
def test_removable_within_is_the_longest_prefix_within_the_drop(seed: int) -> None:
    """Brute force: the largest evaluated k such that every level up to it is within the drop."""
    rng = np.random.default_rng(seed)
    levels = sorted(rng.choice(np.arange(1, 40), size=int(rng.integers(1, 10)), replace=False).tolist())
    levels = [0, *levels]
    acc = (0.9 - np.cumsum(rng.uniform(-0.01, 0.03, len(levels))) + 0.0).tolist()
    acc[0] = 0.9
    for points in (1, 5):
        want = max(k for j, k in enumerate(levels) if all(a >= 0.9 - points / 100 - 1e-12 for a in acc[: j + 1]))
        assert removable_within(levels, acc, points) == want
    row = summary_row(levels, acc, 40)
    assert row["removable@5pt_fraction"] == pytest.approx(removable_within(levels, acc, 5) / 40)
    # by hand: 100 units, accuracy 0.95, 0.945, 0.93, 0.96 at 0, 10, 20, 30 removed
    assert removable_within([0, 10, 20, 30], [0.95, 0.945, 0.93, 0.96], 1) == 10
    assert removable_within([0, 10, 20, 30], [0.95, 0.945, 0.93, 0.96], 5) == 30


def test_parse_criterion() -> None:
    assert parse_criterion("magnitude") == ("magnitude", "smallest")
    assert parse_criterion("frame_potential:largest") == ("frame_potential", "largest")
    assert parse_criterion("random") == ("random", None)
    for bad, words in [("magnitud", "did you mean 'magnitude'"), ("random:largest", "has no direction"), ("magnitude:biggest", "smallest or largest")]:
        with pytest.raises(ValueError, match=words):
            parse_criterion(bad)


# --- fast sweep against the textbook loop on small trained models ----------------------------


def _trained(name: str, width: float, iterations: int, data: object) -> LayeredNet:
    cfg = ModelConfig(name=name, width=width)
    train = resolve_train(TrainConfig(iterations=iterations, batch_size=32, eval_interval=iterations, lr=0.01 if name != "conv2" else 1e-3), cfg)
    result = train_model(cfg, train, data, seed=0)  # type: ignore[arg-type]
    model = build_model(cfg, data.input_shape, data.num_classes, 0)  # type: ignore[attr-defined]
    model.load_state_dict(result.checkpoints[iterations])
    return model.eval()


@pytest.fixture(scope="module")
def lenet(mnist5k: object) -> LayeredNet:
    return _trained("lenet_300_100", 0.1, 150, mnist5k)


@pytest.fixture(scope="module")
def conv(mnist5k: object) -> LayeredNet:
    return _trained("conv2", 0.125, 40, mnist5k)


def _compare(model: LayeredNet, layer: str, x: torch.Tensor, y: torch.Tensor, **kwargs: object) -> None:
    n = model.block(layer).units
    order = torch.randperm(n, generator=torch.Generator().manual_seed(n))
    for levels in (list(range(n + 1)), removal_levels(n, 0.8, 3)):
        acc, loss = removal_sweep(model, layer, [order, order.flip(0)], levels, x, y, **kwargs)  # type: ignore[arg-type]
        for i, o in enumerate((order, order.flip(0))):
            ref_acc, ref_loss = textbook_removal(model, layer, [o[:k].tolist() for k in levels], x, y, batch_size=64)
            torch.testing.assert_close(acc[i], ref_acc, rtol=0, atol=1e-12)
            torch.testing.assert_close(loss[i], ref_loss, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("layer", ["fc1", "fc2", "fc3"])
@pytest.mark.parametrize("fused", [True, False])
def test_linear_sweep_equals_textbook(lenet: LayeredNet, mnist5k: object, layer: str, fused: bool) -> None:
    model = copy.deepcopy(lenet).double()
    x, y = mnist5k.test_x[:300].double(), mnist5k.test_y[:300]  # type: ignore[attr-defined]
    _compare(model, layer, x, y, fused=fused, batch_size=128, chunk=7)


@pytest.mark.parametrize("layer", ["conv1", "conv2", "fc1"])
def test_conv_sweep_equals_textbook(conv: LayeredNet, mnist5k: object, layer: str) -> None:
    model = copy.deepcopy(conv).double()
    x, y = mnist5k.test_x[:60].double(), mnist5k.test_y[:60]  # type: ignore[attr-defined]
    _compare(model, layer, x, y, batch_size=25, chunk=4)


def test_batch_norm_channel_is_zeroed_after_normalization() -> None:
    torch.manual_seed(0)
    model = build_model(ModelConfig(name="vgg19", width=1 / 16), (3, 32, 32), 10, 0).double().eval()
    with torch.no_grad():  # a trained-looking batch norm: non-trivial statistics, scale and shift
        for block in model.blocks.values():
            if block.norm is not None:
                block.norm.running_mean.uniform_(-0.5, 0.5)
                block.norm.running_var.uniform_(0.5, 2.0)
                block.norm.weight.uniform_(0.5, 1.5)
                block.norm.bias.uniform_(-0.2, 0.4)
    x, y = torch.randn(12, 3, 32, 32, dtype=torch.float64), torch.randint(0, 10, (12,))
    _compare(model, "conv15", x, y)


def test_float32_sweep_matches_textbook(lenet: LayeredNet, mnist5k: object) -> None:
    x, y = mnist5k.test_x, mnist5k.test_y  # type: ignore[attr-defined]
    order = torch.randperm(30, generator=torch.Generator().manual_seed(0))
    levels = list(range(31))
    acc, loss = removal_sweep(lenet, "fc1", [order], levels, x, y)
    ref_acc, ref_loss = textbook_removal(lenet, "fc1", [order[:k].tolist() for k in levels], x, y)
    assert (acc[0] - ref_acc).abs().max() <= 1 / len(y)  # at most one near-tie decided differently
    assert (loss[0] - ref_loss).abs().max() < 1e-5


@pytest.mark.parametrize("name, shape, layer", [("lenet_300_100", (1, 28, 28), "fc1"), ("conv2", (3, 16, 16), "fc1")])
def test_silent_units_give_the_textbook_ties(name: str, shape: tuple[int, ...], layer: str) -> None:
    # Freshly initialized: every bias is zero, so a sample whose remaining units are all silent
    # gets exactly equal logits, and argmax picks class 0, in the textbook network. The sweep
    # must produce the same exact zeros, not a rounding residue that decides the tie otherwise.
    model = build_model(ModelConfig(name=name, width=0.25), shape, 10, seed=0).eval()
    gen = torch.Generator().manual_seed(0)
    x, y = torch.randn(300, *shape, generator=gen), torch.randint(0, 10, (300,), generator=gen)
    n = model.block(layer).units
    order = torch.randperm(n, generator=gen)
    levels = list(range(n - 8, n + 1))
    acc, _ = removal_sweep(model, layer, [order], levels, x, y)
    ref_acc, _ = textbook_removal(model, layer, [order[:k].tolist() for k in levels], x, y)
    assert torch.equal(acc[0], ref_acc)


@pytest.mark.parametrize("layer", ["fc1", "fc3"])
def test_single_unit_removal_equals_textbook(lenet: LayeredNet, mnist5k: object, layer: str) -> None:
    model = copy.deepcopy(lenet).double()
    x, y = mnist5k.test_x[:200].double(), mnist5k.test_y[:200]  # type: ignore[attr-defined]
    acc, loss = single_unit_removal(model, layer, x, y, batch_size=64)
    n = model.block(layer).units
    ref_acc, ref_loss = textbook_removal(model, layer, [[u] for u in range(n)], x, y)
    assert acc.shape == (n,) and loss.shape == (n,)
    torch.testing.assert_close(acc, ref_acc, rtol=0, atol=1e-12)
    torch.testing.assert_close(loss, ref_loss, rtol=1e-10, atol=1e-10)


def test_mean_abs_activation_equals_direct_computation(lenet: LayeredNet, mnist5k: object) -> None:
    x = mnist5k.train_x[:100]  # type: ignore[attr-defined]
    w, b = lenet.block("fc1").layer.weight, lenet.block("fc1").layer.bias
    direct = torch.relu(x.flatten(1) @ w.T + b).abs().mean(0).double()
    torch.testing.assert_close(mean_abs_activation(lenet, "fc1", x, batch_size=33), direct, rtol=1e-5, atol=1e-6)


# --- the study's run: seeds, result layout ---------------------------------------------------


@pytest.fixture(scope="module")
def xord_context() -> StudyContext:
    run_cfg = RunConfig(
        data=DataConfig(name="xord", input_dim=3, train_samples=400, test_samples=200),
        model=ModelConfig(name="mlp", widths=[16]),
        train=TrainConfig(iterations=60, batch_size=32, lr=0.05, eval_interval=20),
    )
    run_cfg = run_cfg.model_copy(update={"train": resolve_train(run_cfg.train, run_cfg.model)})
    data = load_data(run_cfg.data, validation=run_cfg.train.validation)
    result = train_model(run_cfg.model, run_cfg.train, data, seed=0)
    artifacts = RunArtifacts("train-test", run_cfg, result.checkpoints, result.best_iteration, result.final_iteration, result.metrics)
    return StudyContext(run=artifacts, data=data, device=torch.device("cpu"))


def test_random_seeds_reproduce(xord_context: StudyContext) -> None:
    cfg = PruningConfig(layer="fc1", criteria=["random"], seeds=3, step=2)
    first, second = run(cfg, xord_context), run(cfg, xord_context)
    orders = first.tensors["fc1@best/random/order"]
    assert orders.shape == (3, 16)
    np.testing.assert_array_equal(orders, second.tensors["fc1@best/random/order"])
    np.testing.assert_array_equal(first.tensors["fc1@best/random/accuracy"], second.tensors["fc1@best/random/accuracy"])
    assert len({tuple(o) for o in orders}) == 3  # independent orders
    other = run(cfg.model_copy(update={"seed": 1}), xord_context).tensors["fc1@best/random/order"]
    assert not np.array_equal(orders, other)


def test_run_layout_and_curves(xord_context: StudyContext) -> None:
    cfg = PruningConfig(layer="fc1", checkpoint="final", criteria=[*PruningConfig().criteria, "activation:largest"], seeds=2)
    result = run(cfg, xord_context)
    assert set(result.curves) == {"magnitude:smallest", "magnitude:largest", "frame_potential:smallest", "frame_potential:largest", "random", "activation:largest"}
    curve = result.curves["frame_potential:smallest"]
    assert curve["units_removed"] == list(range(17)) and curve["units"] == 16
    assert curve["frame_potential"][-1] == pytest.approx(0.0, abs=1e-9)
    assert result.curves["random"]["std"] and len(result.curves["random"]["seeds"]) == 2
    # Every curve starts at the unpruned network and the stored order is a permutation.
    for key, c in result.curves.items():
        assert c["accuracy"][0] == pytest.approx(result.summary["accuracy_unpruned"])
    order = result.tensors["fc1@final/frame_potential/smallest/order"]
    assert sorted(order.tolist()) == list(range(16))
    assert result.summary["frame_potential:smallest"]["auc"] > 0
    w = xord_context.state("final")["blocks.fc1.layer.weight"].double()
    assert order.tolist() == greedy_frame_potential_order(w).tolist()
    assert result.tensors["fc1@final/iteration"] == xord_context.run.final_iteration

    several = run(PruningConfig(layer=["fc1", "fc2"], checkpoint=["best", "final"], criteria=["magnitude"]), xord_context)
    assert set(several.curves) == {"fc1@best", "fc2@best", "fc1@final", "fc2@final"}
    assert "fc2@final magnitude:smallest" in several.summary
    assert set(curve_panels(several.curves)) == set(several.curves)
    assert set(curve_panels(result.curves)) == {""}


def test_registry_has_the_seed_criteria() -> None:
    assert {"magnitude", "frame_potential", "random", "activation"} <= set(CRITERIA)
    assert CRITERIA["random"].stochastic and not CRITERIA["random"].directed


# --- validation ------------------------------------------------------------------------------

SPEC = tiny_text(seed=None, iterations=40, tail="studies:\n  - kind: pruning\n{study}")


@pytest.mark.parametrize(
    "study, path, words",
    [
        ("    layer: fc9\n", "studies[0].layer", ["unknown layer 'fc9'", "fc1, fc2"]),
        ("    layer: [fc1, fcl]\n", "studies[0].layer[1]", ["unknown layer 'fcl'", "did you mean"]),
        ("    max_fraction: 0\n", "studies[0].max_fraction", ["greater than 0"]),
        ("    max_fraction: 1.5\n", "studies[0].max_fraction", ["less than or equal to 1"]),
        ("    max_fraction: 0.01\n", "studies[0].max_fraction", ["removes no unit of fc1"]),
        ("    criteria: [magnitude, frame_potentail]\n", "studies[0].criteria[1]", ["unknown criterion", "did you mean 'frame_potential'"]),
        ("    criteria: [random:largest]\n", "studies[0].criteria[0]", ["has no direction"]),
        ("    criteria: [magnitude, 'magnitude:smallest']\n", "studies[0].criteria", ["listed twice"]),
        ("    checkpoint: 7\n", "studies[0].checkpoint", ["no checkpoint at iteration 7", "final/best"]),
        ("    checkpoint: [best, 33]\n", "studies[0].checkpoint[1]", ["no checkpoint at iteration 33"]),
        ("    step: 0\n", "studies[0].step", ["greater than or equal to 1"]),
        ("    split: train\n", "studies[0].split", ["'test'", "'validation'"]),
    ],
)
def test_bad_study_fields_get_clear_messages(tmp_path: Path, study: str, path: str, words: list[str]) -> None:
    spec = write_spec(tmp_path, SPEC.format(study=study))
    with pytest.raises(SpecError) as info:
        load_spec(spec)
    problems = info.value.problems
    assert any(p.path == path for p in problems), [str(p) for p in problems]
    message = next(str(p) for p in problems if p.path == path)
    assert message.startswith(f"{spec}:17:"), message
    for word in words:
        assert word in message, message


def test_good_study_spec_loads_with_defaults(tmp_path: Path) -> None:
    spec = write_spec(tmp_path, SPEC.format(study="    layer: fc1\n    checkpoint: [best, final, 40]\n"))
    study = load_spec(spec).spec.studies[0]
    assert isinstance(study, PruningConfig)
    assert study.criteria == ["magnitude:smallest", "magnitude:largest", "frame_potential:smallest", "frame_potential:largest", "random"]


def test_cli_run_and_show_json(tmp_path: Path) -> None:
    spec = write_spec(tmp_path, SPEC.format(study="    layer: fc1\n    step: 4\n    seeds: 2\n"))
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    store = tmp_path / "store"
    subprocess.run([sys.executable, "-m", "redundancy.cli", "run", str(spec), "--store", str(store), "--quiet"], check=True, env=env, capture_output=True)
    shown = CliRunner().invoke(app, ["show", str(store), "--json"])
    assert shown.exit_code == 0, shown.output
    (study,) = [s for s in json.loads(shown.stdout)["studies"] if s["kind"] == "pruning"]
    assert study["status"] == "done"
    curves = study["curves"]
    assert curves["magnitude:largest"]["units_removed"] == [0, 4, 8, 12, 16]
    for key in ("accuracy", "loss", "frame_potential"):
        assert len(curves["frame_potential:smallest"][key]) == 5
    assert set(curves["random"]) >= {"units_removed", "accuracy", "std", "seeds"}
    removable = {"removable@1pt", "removable@1pt_fraction", "removable@5pt", "removable@5pt_fraction"}
    assert set(study["summary"]["random"]) == {"acc@10%", "acc@25%", "acc@50%", "acc@75%", "acc@90%", "auc", "auc_percentile", *removable}
    assert set(study["summary"]["magnitude:largest"]) == set(study["summary"]["random"]) and study["summary"]["random"]["auc_percentile"] is None
    assert 0 <= study["summary"]["magnitude:largest"]["auc_percentile"] <= 100
    table = CliRunner().invoke(app, ["show", str(store)], terminal_width=160)
    assert table.exit_code == 0, table.output
    assert all(word in table.stdout for word in ("pruning", "random", "acc@50%", "auc")), table.stdout

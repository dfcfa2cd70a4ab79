"""The subspace study: its linear algebra against brute force, the fast sweep against the
textbook rebuild (Linear and Conv), exact end points, the study end to end, and spec errors."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from redundancy.cli import app
from redundancy.errors import SpecError
from redundancy.models import LayeredNet, build_model
from redundancy.spec.loader import load_spec
from redundancy.spec.schema import ModelConfig
from redundancy.studies.subspace.study import evaluated_ks
from redundancy.studies.subspace.sweep import projected_sweep, rebuilt_sweep
from redundancy.studies.common.weights import as_matrix64 as as_matrix
from redundancy.studies.subspace.linalg import (
    first_within,
    left_singular,
    ordered_basis,
    projected_weight,
    random_orthonormal,
    residual_norms,
)
from redundancy.store.reader import read_document
from redundancy.train import evaluate
from support.tiny import run_spec, tiny_text, write_spec

SHAPES = [(7, 12), (12, 7), (9, 9)]


def _rank_deficient(n: int, m: int, rank: int, seed: int) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(n, rank, generator=gen, dtype=torch.float64) @ torch.randn(rank, m, generator=gen, dtype=torch.float64)


@pytest.mark.parametrize("shape", SHAPES + [(10, 8, 2)])
def test_top_residual_spectral_norm_is_the_next_singular_value(shape: tuple[int, ...]) -> None:
    n, m = shape[:2]
    delta = _rank_deficient(n, m, shape[2], 1) if len(shape) == 3 else torch.randn(n, m, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    u, s = left_singular(delta)
    r = min(n, m)
    ks = list(range(r + 1))
    norms = residual_norms(ordered_basis(u, "top"), delta, ks)
    expected = torch.cat([s, s.new_zeros(1)])  # σ_{k+1}, and 0 once every direction is kept
    torch.testing.assert_close(norms.spectral, expected, rtol=1e-9, atol=1e-9)
    tail = torch.tensor([float(s[k:].pow(2).sum()) ** 0.5 for k in ks], dtype=torch.float64)
    torch.testing.assert_close(norms.frobenius, tail, rtol=1e-9, atol=1e-9)
    assert norms.energy_kept[0] == 0.0 and norms.energy_kept[-1] == 1.0


@pytest.mark.parametrize("basis", ["top", "bottom", "random"])
@pytest.mark.parametrize("shape", SHAPES)
def test_residual_norms_equal_brute_force(basis: str, shape: tuple[int, int]) -> None:
    """Against R_k = Δ − B_k B_kᵀ Δ formed explicitly and measured with full SVDs."""
    n, m = shape
    gen = torch.Generator().manual_seed(n * 100 + m)
    z = torch.randn(n, m, generator=gen, dtype=torch.float64)
    delta = torch.randn(n, m, generator=gen, dtype=torch.float64)
    u, _ = left_singular(delta)
    b = ordered_basis(u, basis, seed=3)  # type: ignore[arg-type]
    ks = list(range(min(n, m) + 1))
    norms = residual_norms(b, delta, ks)
    for i, k in enumerate(ks):
        residual = z + delta - projected_weight(z, delta, b, k)
        assert float(norms.spectral[i]) == pytest.approx(float(torch.linalg.matrix_norm(residual, ord=2)), abs=1e-9)
        assert float(norms.frobenius[i]) == pytest.approx(float(residual.norm()), abs=1e-9)
        kept = projected_weight(torch.zeros_like(z), delta, b, k)
        assert float(norms.energy_kept[i]) == pytest.approx(float(kept.norm() ** 2 / delta.norm() ** 2), abs=1e-9)


def test_bases_are_orthonormal_ordered_and_reproducible() -> None:
    delta = torch.randn(6, 10, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    u, s = left_singular(delta)
    bottom = ordered_basis(u, "bottom")
    # the first bottom direction carries the smallest singular value
    assert float((bottom[:, 0] @ delta).norm()) == pytest.approx(float(s[-1]))
    q = random_orthonormal(6, seed=4)
    torch.testing.assert_close(q.T @ q, torch.eye(6, dtype=torch.float64))
    assert torch.equal(q, random_orthonormal(6, seed=4))
    assert not torch.allclose(q, random_orthonormal(6, seed=5))
    # a full basis reproduces the target, an empty one the start
    z = torch.ones(6, 10, dtype=torch.float64)
    torch.testing.assert_close(projected_weight(z, delta, u, 6), z + delta)
    torch.testing.assert_close(projected_weight(z, delta, q, 6), z + delta)
    assert torch.equal(projected_weight(z, delta, u, 0), z)


def test_first_within_and_evaluated_ks() -> None:
    ks, acc = [0, 1, 2, 4, 8], [0.50, 0.80, 0.955, 0.93, 0.97]
    assert first_within(ks, acc, 0.97, 1.0) == 8
    assert first_within(ks, acc, 0.97, 5.0) == 2
    assert first_within(ks, acc, 0.99, 0.5) is None
    assert evaluated_ks([3, 5], 12) == [0, 1, 3, 5, 10, 12]
    assert evaluated_ks("all", 4) == [0, 1, 2, 3, 4]
    assert evaluated_ks([2], 20) == [0, 1, 2, 10, 16, 20]


# --- the fast sweep against the textbook rebuild ---------------------------------------------


def _pair(cfg: ModelConfig, input_shape: tuple[int, ...], classes: int) -> tuple[LayeredNet, dict[str, torch.Tensor]]:
    """A "trained" network W (init of seed 1 plus a low-rank push) and its initialization Z (seed 0)."""
    init = build_model(cfg, input_shape, classes, seed=0).state_dict()
    net = build_model(cfg, input_shape, classes, seed=1)
    gen = torch.Generator().manual_seed(7)
    with torch.no_grad():
        for name, p in net.named_parameters():
            if name.endswith("weight"):
                rows = p.reshape(p.shape[0], -1)
                push = torch.randn(rows.shape[0], 2, generator=gen) @ torch.randn(2, rows.shape[1], generator=gen)
                scale = float(init[name].std())  # keeps activations of the order of the initial ones
                p.copy_(init[name] + 0.5 * p + 0.7 * scale * push.reshape(p.shape))
            else:
                p.copy_(0.01 * torch.randn(p.shape, generator=gen))
    return net.eval(), init


def _data(net: LayeredNet, input_shape: tuple[int, ...], n: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Inputs with labels mostly the network's own predictions, so accuracy moves with k.

    The output bias is first shifted so that every class is predicted about as
    often (a random deep net otherwise predicts one class for almost every input).
    """
    gen = torch.Generator().manual_seed(11)
    x = torch.randn((n, *input_shape), generator=gen)
    with torch.no_grad():
        last = net.block(net.names[-1]).layer
        last.bias -= net(x).mean(0)
        y = net(x).argmax(1)
    flip = torch.rand(n, generator=gen) < 0.2
    y[flip] = torch.randint(0, int(y.max()) + 1, (int(flip.sum()),), generator=gen)
    return x, y


CASES = [
    ("mlp fc1 (more units than inputs)", ModelConfig(name="mlp", widths=[24, 16]), (20,), 5, "fc1"),
    ("mlp fc2", ModelConfig(name="mlp", widths=[24, 16]), (20,), 5, "fc2"),
    ("conv2 conv2 (a Conv layer)", ModelConfig(name="conv2", width=0.125), (3, 8, 8), 4, "conv2"),
    ("conv2 conv1 (27 inputs per filter, 8 filters)", ModelConfig(name="conv2", width=0.125), (3, 8, 8), 4, "conv1"),
]


@pytest.mark.parametrize("target", ["update", "weights"])
@pytest.mark.parametrize("label,cfg,shape,classes,layer", CASES, ids=[c[0] for c in CASES])
def test_fast_sweep_equals_textbook_rebuild(
    label: str, cfg: ModelConfig, shape: tuple[int, ...], classes: int, layer: str, target: str
) -> None:
    net, init = _pair(cfg, shape, classes)
    x, y = _data(net, shape, 300)
    key = f"blocks.{layer}.layer.weight"
    w = net.state_dict()[key].clone()
    start = init[key] if target == "update" else torch.zeros_like(w)
    delta = as_matrix(w) - as_matrix(start)
    u, _ = left_singular(delta)
    bases = [ordered_basis(u, "top"), ordered_basis(u, "bottom"), ordered_basis(u, "random", 0), ordered_basis(u, "random", 1)]
    ks = list(range(min(delta.shape) + 1))
    fast = projected_sweep(net, layer, start, w, bases, ks, x, y, batch_size=128)
    slow = rebuilt_sweep(net, layer, start, w, bases, ks, x, y, batch_size=128)
    np.testing.assert_allclose(fast.loss, slow.loss, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(fast.accuracy, slow.accuracy)
    assert np.ptp(fast.accuracy[0]) > 0.05, "the test data must make accuracy depend on k"
    assert torch.equal(net.state_dict()[key], w), "the sweep must leave the network's weights alone"


@pytest.mark.parametrize("label,cfg,shape,classes,layer", CASES, ids=[c[0] for c in CASES])
def test_end_points_are_exactly_the_reset_and_trained_networks(
    label: str, cfg: ModelConfig, shape: tuple[int, ...], classes: int, layer: str
) -> None:
    net, init = _pair(cfg, shape, classes)
    x, y = _data(net, shape, 250)
    key = f"blocks.{layer}.layer.weight"
    w = net.state_dict()[key].clone()
    delta = as_matrix(w) - as_matrix(init[key])
    u, _ = left_singular(delta)
    rank = min(delta.shape)
    fast = projected_sweep(net, layer, init[key], w, [ordered_basis(u, "top"), ordered_basis(u, "bottom")], [0, 1, rank], x, y, 100)
    reset = copy.deepcopy(net)
    with torch.no_grad():
        reset.block(layer).layer.weight.copy_(init[key])
    loss_full, acc_full = evaluate(net, x, y, 100)
    loss_reset, acc_reset = evaluate(reset, x, y, 100)
    for row in range(2):
        assert fast.accuracy[row, -1] == acc_full and fast.loss[row, -1] == loss_full
        assert fast.accuracy[row, 0] == acc_reset and fast.loss[row, 0] == loss_reset
    assert acc_full != acc_reset
    # by default the engine takes all images in one batch: the same accuracies, losses up to rounding
    whole = projected_sweep(net, layer, init[key], w, [ordered_basis(u, "top")], [0, 1, rank], x, y)
    assert whole.accuracy[0, -1] == acc_full and whole.accuracy[0, 0] == acc_reset
    assert whole.loss[0, -1] == pytest.approx(loss_full, rel=1e-6) and whole.loss[0, 0] == pytest.approx(loss_reset, rel=1e-6)


# --- the study end to end -----------------------------------------------------------------------

SPEC = tiny_text("sub", iterations=150, eval_interval=50, checkpoints=[50], tail="""\
studies:
  - kind: subspace
    layer: [fc1, fc2]
    checkpoint: [final, 50]
    target: [update, weights]
    basis: [top, bottom, random]
    seeds: 3
""")


def test_study_end_to_end_store_curves_summary_and_show(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    plan, store, report = run_spec(tmp_path, SPEC, "sub.yaml")
    assert not report.failed, report.failed
    study = plan.studies[0]
    tensors = store.read_tensors(study.id, "results")
    doc = read_document(store.root)
    entry = next(s for s in doc["studies"] if s["kind"] == "subspace")
    curves, summary = entry["curves"], entry["summary"]
    rows = {f"{layer}@{cp}:{target}" for layer in ("fc1", "fc2") for cp in ("final", 50) for target in ("update", "weights")}
    assert set(curves) == rows
    assert set(summary) == {f"{row}/{basis}" for row in rows for basis in ("top", "bottom", "random")}
    run_tensors = store.read_tensors(plan.runs[0].id)
    final = int(store.stage(plan.runs[0].id).attrs["iterations"])
    for layer, rank in (("fc1", 6), ("fc2", 2)):
        for cp in ("final", 50):
            it = final if cp == "final" else 50
            w = run_tensors[f"checkpoints/{it:08d}/blocks.{layer}.layer.weight"].astype(np.float64)
            z = run_tensors[f"checkpoints/00000000/blocks.{layer}.layer.weight"].astype(np.float64)
            lc = f"{layer}@{cp}"
            np.testing.assert_allclose(tensors[f"{lc}/singular_values/update"], np.linalg.svd(w - z, compute_uv=False), rtol=1e-9)
            np.testing.assert_allclose(tensors[f"{lc}/singular_values/weights"], np.linalg.svd(w, compute_uv=False), rtol=1e-9)
            for target in ("update", "weights"):
                c = curves[f"{lc}:{target}"]
                assert c["rank"] == rank and c["top"]["k"] == list(range(rank + 1))
                sv = c["singular_values"] + [0.0]
                np.testing.assert_allclose(c["top"]["residual_spectral_norm"], sv[: rank + 1], rtol=1e-6, atol=1e-9)
                assert c["top"]["accuracy"][-1] == c["bottom"]["accuracy"][-1] == c["accuracy_full"]
                assert c["top"]["accuracy"][0] == c["accuracy_reset"] == tensors[f"{lc}/{target}/accuracy_reset"]
                assert len(c["random"]["seeds"]) == 3 and len(c["random"]["std"]) == rank + 1
                assert tensors[f"{lc}/{target}/random/accuracy"].shape == (3, rank + 1)
                # the stored seeds rebuild the random bases: the kept energy of seed s follows from B_s
                assert tensors[f"{lc}/{target}/random/basis_seed"].tolist() == [0, 1, 2]
                delta = w - (z if target == "update" else 0.0)
                for s in (0, 2):
                    b = random_orthonormal(delta.shape[0], s).numpy()
                    kept = [np.sum((b[:, :k].T @ delta) ** 2) / np.sum(delta**2) for k in range(rank + 1)]
                    np.testing.assert_allclose(tensors[f"{lc}/{target}/random/energy_kept"][s], kept, rtol=1e-5)
                top = summary[f"{lc}:{target}/top"]
                assert top["acc_full"] == c["accuracy_full"] and top["acc_k1"] == c["top"]["accuracy"][1]
                assert top["acc_k10"] is None  # above the rank: not evaluated
                assert top["k_within_1pt"] <= rank
    # the run's own accuracy is what the study calls the unprojected network's
    assert curves["fc1@final:update"]["accuracy_full"] == pytest.approx(doc["runs"][0]["test_accuracy"])
    shown = CliRunner().invoke(app, ["show", "store/sub"], env={"COLUMNS": "160"})
    assert shown.exit_code == 0, shown.output
    assert "fc1@final:update/top" in shown.output and "k_within_1pt" in shown.output
    as_json = CliRunner().invoke(app, ["show", "store/sub", "--json"])
    assert json.loads(as_json.stdout)["studies"][0]["curves"]["fc2@50:weights"]["random"]["k"] == [0, 1, 2]


# --- spec validation ---------------------------------------------------------------------------

BASE = SPEC.split("studies:")[0] + "studies:\n  - kind: subspace\n"


@pytest.mark.parametrize(
    "extra,path,line,words",
    [
        ("    layer: fc1\n    ks: [0, 4, 7]\n", "studies[0].ks[2]", 20, ["k = 7", "rank of fc1", "min(16 units, 6 inputs) = 6"]),
        ("    layer: [fc1, fc2]\n    ks: [3]\n", "studies[0].ks[0]", 20, ["k = 3", "rank of fc2", "= 2"]),
        ("    basis: middle\n", "studies[0].basis", 19, ["'top'", "'bottom'", "'random'", "middle"]),
        ("    basis: [top, sideways]\n", "studies[0].basis[1]", 19, ["'random'", "sideways"]),
        ("    layer: fc4\n", "studies[0].layer", 19, ["unknown layer 'fc4'", "fc1, fc2"]),
        ("    layer: [fc1, fcc2]\n", "studies[0].layer[1]", 19, ["did you mean 'fc2'"]),
        ("    checkpoint: 70\n", "studies[0].checkpoint", 19, ["no checkpoint at iteration 70", "train.checkpoints"]),
        ("    checkpoint: 0\n", "studies[0].checkpoint", 19, ["W − Z = 0"]),
        ("    checkpoint: latest\n", "studies[0].checkpoint", 19, ["'final'", "latest"]),
        ("    target: bias\n", "studies[0].target", 19, ["'update'", "'weights'"]),
        ("    ks: some\n", "studies[0].ks", 19, ["'all'", "some"]),
        ("    ks: [2, -1]\n", "studies[0].ks[1]", 19, ["greater than or equal to 0"]),
        ("    seeds: 0\n", "studies[0].seeds", 19, ["greater than or equal to 1"]),
        ("    split: train\n", "studies[0].split", 19, ["'test'", "'validation'"]),
        ("    bases: [top]\n", "studies[0].bases", 19, ["did you mean 'basis'"]),
    ],
)
def test_bad_fields_get_clear_messages(tmp_path: Path, extra: str, path: str, line: int, words: list[str]) -> None:
    spec = write_spec(tmp_path, BASE + extra, "bad.yaml")
    with pytest.raises(SpecError) as info:
        load_spec(spec)
    messages = [p for p in info.value.problems if p.path == path]
    assert messages, [str(p) for p in info.value.problems]
    problem = messages[0]
    assert problem.line == line, str(problem)
    for word in words:
        assert word in problem.message, str(problem)


def test_valid_spec_with_all_fields_loads(tmp_path: Path) -> None:
    spec = write_spec(tmp_path, BASE + "    layer: fc1\n    ks: [0, 2, 6]\n    basis: random\n    seeds: 2\n    split: validation\n    checkpoint: best\n", "ok.yaml")
    loaded = load_spec(spec).spec
    assert loaded.studies[0].kind == "subspace"

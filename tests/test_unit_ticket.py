"""The unit_ticket study: selection and the paired t-test against brute force, the narrow network's
starting weights, a tiny run end to end (store, show, show --json), and spec errors."""

from __future__ import annotations

import itertools
import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from redundancy.cli import app
from redundancy.errors import SpecError
from redundancy.spec.loader import load_spec
from redundancy.studies.common.orders import greedy_frame_potential_order
from redundancy.studies.common.structural import shrink_state
from redundancy.studies.unit_ticket.stats import (
    keep_count,
    last_removed,
    paired_t_test,
    random_units,
    regularized_beta,
    t_two_sided_p,
    top_units,
)
from redundancy.store.reader import read_document
from redundancy.store.results import decode
from support.tiny import run_spec, tiny_text, write_spec


def test_top_units_is_the_best_subset_by_brute_force() -> None:
    gen = torch.Generator().manual_seed(0)
    for n, k in [(6, 2), (7, 3), (5, 5), (8, 1)]:
        scores = torch.randint(0, 4, (n,), generator=gen).double()  # ties on purpose
        got = top_units(scores, k).tolist()
        # the subset of largest total score; among those, the lexicographically smallest
        best = max(itertools.combinations(range(n), k), key=lambda c: (float(scores[list(c)].sum()), [-i for i in c]))
        assert got == list(best)
    assert keep_count(300, 0.1) == 30 and keep_count(3, 0.1) == 1 and keep_count(4, 0.99) == 4
    assert last_removed(torch.tensor([3, 0, 2, 1]), 2).tolist() == [1, 2]
    a, b = random_units(10, 4, 5), random_units(10, 4, 5)
    assert torch.equal(a, b) and len(set(a.tolist())) == 4 and a.tolist() == sorted(a.tolist())


def _t_density(x: float, df: int) -> float:
    c = math.gamma((df + 1) / 2) / (math.sqrt(df * math.pi) * math.gamma(df / 2))
    return c * (1 + x * x / df) ** (-(df + 1) / 2)


@pytest.mark.parametrize("t,df", [(0.0, 4), (1.0, 4), (2.776, 4), (-3.5, 2), (0.7, 9), (12.0, 3)])
def test_t_p_value_equals_integrated_density(t: float, df: int) -> None:
    """Two-sided p as 1 − ∫_{-|t|}^{|t|} of Student's density (Simpson's rule)."""
    steps = 20000
    h = 2 * abs(t) / steps
    xs = [-abs(t) + i * h for i in range(steps + 1)]
    weights = [1 if i in (0, steps) else (4 if i % 2 else 2) for i in range(steps + 1)]
    inside = h / 3 * sum(w * _t_density(x, df) for w, x in zip(weights, xs)) if t else 0.0
    assert t_two_sided_p(t, df) == pytest.approx(1 - inside, abs=1e-8)
    assert t_two_sided_p(2.776445, 4) == pytest.approx(0.05, abs=1e-5)  # the table's 5 % point


def test_regularized_beta_closed_forms() -> None:
    for x in (0.1, 0.5, 0.93):
        assert regularized_beta(1, 1, x) == pytest.approx(x, rel=1e-12)
        assert regularized_beta(2, 1, x) == pytest.approx(x * x, rel=1e-12)
        assert regularized_beta(1, 3, x) == pytest.approx(1 - (1 - x) ** 3, rel=1e-12)


def test_paired_t_test() -> None:
    a, b = [0.9, 0.8, 0.85, 0.95], [0.7, 0.75, 0.8, 0.7]
    d = np.subtract(a, b)
    want_t = d.mean() / (d.std(ddof=1) / 2)
    test = paired_t_test(a, b)
    assert test.t == pytest.approx(want_t) and test.mean_difference == pytest.approx(d.mean()) and test.n == 4
    assert test.p_value == pytest.approx(t_two_sided_p(want_t, 3))
    assert paired_t_test([1.0], [0.0]).p_value is None
    assert paired_t_test([0.5, 0.5], [0.5, 0.5]).t is None
    assert paired_t_test([0.6, 0.7], [0.5, 0.6]).p_value == 0.0


SPEC = tiny_text("ut", model={"widths": [16, 8]}, iterations=80, checkpoints=[40], tail="""\
studies:
  - kind: unit_ticket
    keep_fractions: [0.5, 0.25]
    seeds: 2
    selected_at: [final, 40]
    ticket_round: 2
""")


def test_unit_ticket_end_to_end(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    plan, store, report = run_spec(tmp_path, SPEC, "ut.yaml")
    assert not report.failed, report.failed
    entry = next(s for s in read_document(store.root)["studies"] if s["kind"] == "unit_ticket")
    curves, summary = entry["curves"], entry["summary"]
    arms = {"ticket_counts", "magnitude_final@final", "magnitude_final@40", "magnitude_init", "frame_potential@final",
            "frame_potential@40", "activation@final", "activation@40", "random"}
    assert set(curves) == {"dense"} | {f"{a}:{i}" for a in arms for i in ("original", "reinit")}
    c = curves["magnitude_init:original"]
    assert c["selector"] == "magnitude_init" and c["init"] == "original" and c["keep_fraction"] == [0.5, 0.25]
    assert c["units"] == [[8, 4], [4, 2]] and len(c["seeds"]) == 2 and len(c["seeds"][0]) == 2
    assert curves["activation@40:reinit"]["selected_at"] == 40
    tensors = store.read_tensors(plan.studies[0].id, "results")
    run_tensors = store.read_tensors(plan.runs[0].id)
    z1 = torch.from_numpy(run_tensors["checkpoints/00000000/blocks.fc1.layer.weight"])
    sel = tensors["magnitude_init:original/selected/fc1"]
    assert sel.shape == (2, 2, 16) and sel[0].sum(axis=1).tolist() == [8, 8]
    want = torch.sort(torch.argsort(z1.double().norm(dim=1), descending=True, stable=True)[:8]).values
    assert np.flatnonzero(sel[0, 0]).tolist() == want.tolist()
    rnd = tensors["random:reinit/selected/fc1"]
    assert not np.array_equal(rnd[0, 0], rnd[0, 1])  # each seed draws its own units
    assert np.array_equal(rnd, tensors["random:original/selected/fc1"])  # ... the same for both inits
    # a fresh init makes the kept units exchangeable: every reinit arm is the one smaller network from scratch
    for arm in arms:
        np.testing.assert_array_equal(tensors[f"{arm}:reinit/accuracy"], tensors["random:reinit/accuracy"])
    assert not summary["keep 50%"]["best"].endswith(":reinit") or summary["keep 50%"]["best"] == "random:reinit"
    counts = tensors["ticket_counts/fc1"]
    assert counts.shape == (16,)
    kept = tensors["ticket_counts:original/selected/fc1"][1, 0].astype(bool)  # keep 25%: 4 units
    assert counts[kept].min() >= counts[~kept].max()
    final = int(store.stage(plan.runs[0].id).attrs["iterations"])
    w1 = torch.from_numpy(run_tensors[f"checkpoints/{final:08d}/blocks.fc1.layer.weight"]).double()
    fp = tensors["frame_potential@final:reinit/selected/fc1"][0, 0]
    assert np.flatnonzero(fp).tolist() == last_removed(greedy_frame_potential_order(w1), 8).tolist()
    row = summary["keep 50%"]
    assert row["reference"] == "random:reinit" and row["best"] in curves and row["units"] == "8 4"
    assert row["margin"] == pytest.approx(row["accuracy"] - row["reference_accuracy"])
    assert row["dense"] == curves["dense"]["accuracy"]
    shown = CliRunner().invoke(app, ["show", "store/ut"], env={"COLUMNS": "200"})
    assert shown.exit_code == 0, shown.output
    assert "random:reinit" in shown.output and "keep 25%" in shown.output
    doc = json.loads(CliRunner().invoke(app, ["show", "store/ut", "--json"]).stdout)
    assert doc["studies"][0]["curves"]["random:reinit"]["keep_fraction"] == [0.5, 0.25]
    typed = decode("unit_ticket", summary, curves)
    arm = typed.select(arm="activation@40:reinit")[0]
    assert (arm.key["selector"], arm.key["selected_at"], arm.key["init"], arm.x) == ("activation", 40, "reinit", "keep_fraction")
    assert arm.xs == [0.5, 0.25] and len(arm.seeds["accuracy"]) == 2 and len(arm.series["accuracy_std"]) == 2
    assert len(typed.curves) == len(curves) - 1 and typed.scalars["dense_accuracy"] == curves["dense"]["accuracy"]
    assert typed.rows(keep="keep 50%")[0].values["best"] == row["best"]


def test_original_init_is_the_kept_units_own_weights() -> None:
    """The narrow network's start under ``original`` is the initialization with rows and next columns cut."""
    from redundancy.models import build_model
    from redundancy.spec.schema import ModelConfig
    from redundancy.studies.common.structural import narrow_model_config

    cfg = ModelConfig(name="mlp", widths=[6, 5])
    init = build_model(cfg, (4,), 3, seed=0).state_dict()
    keep = {"fc1": torch.tensor([1, 4]), "fc2": torch.tensor([0, 2, 3])}
    small = shrink_state(init, ["fc1", "fc2", "fc3"], keep)
    assert torch.equal(small["blocks.fc1.layer.weight"], init["blocks.fc1.layer.weight"][[1, 4]])
    assert torch.equal(small["blocks.fc2.layer.weight"], init["blocks.fc2.layer.weight"][[0, 2, 3]][:, [1, 4]])
    assert torch.equal(small["blocks.fc3.layer.weight"], init["blocks.fc3.layer.weight"][:, [0, 2, 3]])
    build_model(narrow_model_config(cfg, [2, 3]), (4,), 3, seed=0).load_state_dict(small)


@pytest.mark.parametrize(
    "extra,words",
    [
        ("    layers: [fc3]\n", ["output layer"]),
        ("    layers: [fcc1]\n", ["did you mean 'fc1'"]),
        ("    selectors: [magnitude_final]\n", ["random:reinit"]),
        ("    selectors: [random, size]\n", ["ticket_counts", "size"]),
        ("    keep_fractions: [0.5, 0.5]\n", ["listed twice"]),
        ("    keep_fractions: [1.0]\n", ["less than 1"]),
        ("    selected_at: [70]\n", ["no checkpoint at iteration 70"]),
    ],
)
def test_bad_fields(tmp_path: Path, extra: str, words: list[str]) -> None:
    text = tiny_text("bad", model={"widths": [16, 8]}, tail="studies:\n  - kind: unit_ticket\n" + extra)
    with pytest.raises(SpecError) as err:
        load_spec(write_spec(tmp_path, text))
    for word in words:
        assert word in str(err.value)


def test_conv_model_is_refused(tmp_path: Path) -> None:
    text = tiny_text("bad", data={"name": "mnist-5k", "input_dim": None}, model={"name": "conv2", "widths": None}, tail="studies:\n  - kind: unit_ticket\n")
    with pytest.raises(SpecError, match="lenet_300_100, mlp"):
        load_spec(write_spec(tmp_path, text))

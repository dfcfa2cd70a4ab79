"""The grid summary: headline numbers by grid point, mean ± std over seeds, from real and hand-made stores."""

from __future__ import annotations

import json
import math
import statistics
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from redundancy.cli import app
from redundancy.grid import GridSummary, aggregate, flatten_numbers, format_cell, grid_axes, grid_summary, headline_numbers, summarize_grid
from redundancy.store.reader import read_document
from support import grid_study  # a test study kind, registered only inside the fixture below
from support.tiny import run_spec, tiny_text

grid_study.unregister()


def run_entry(width: float, seed: int, acc: float | None, status: str = "done") -> dict[str, Any]:
    point = {"model.width": width, "seed": seed}
    name = f"width{width}_seed{seed}"
    if status != "done":
        return {"id": f"train-{name}", "name": name, "status": status, "grid_point": point}
    return {"id": f"train-{name}", "name": name, "status": "done", "grid_point": point, "test_accuracy": acc,
            "test_accuracy_at_best": acc, "best_iteration": 100}


def study_entry(kind: str, name: str, width: float, seed: int, summary: dict[str, Any], status: str = "done") -> dict[str, Any]:
    run = f"width{width}_seed{seed}"
    entry = {"id": f"{kind}-{run}", "kind": kind, "name": name, "run": run, "status": status, "summary": summary if status == "done" else {}}
    if status != "done":
        entry["grid_point"] = {"model.width": width, "seed": seed}
    return entry


def hand_doc() -> dict[str, Any]:
    """Two widths x three seeds, one study of each kind's summary format, a failed and a pending stage."""
    widths, seeds = [0.5, 1.0], [0, 1, 2]
    runs, studies = [], []
    for w in widths:
        for s in seeds:
            if (w, s) == (1.0, 2):
                runs.append(run_entry(w, s, None, status="failed"))
                for kind in ("pruning", "subspace", "lottery", "dynamics"):
                    studies.append(study_entry(kind, kind, w, s, {}, status="failed"))
                continue
            runs.append(run_entry(w, s, 0.9 + 0.01 * s + 0.05 * (w == 1.0)))
            studies.append(study_entry("pruning", "pruning", w, s, {
                "magnitude:ascending": {"acc@50": 0.8, "auc": 0.7 + 0.01 * s},
                "random": {"acc@50": 0.6, "auc": 0.5},
            }))
            studies.append(study_entry("subspace", "subspace", w, s, {
                "fc1@final/update/top": {"rank": 10, "k_within_1pt": None if s == 0 else 2 * s, "k_within_5pt": 1, "acc_k1": 0.4},
            }))
            if (w, s) != (0.5, 1):  # still pending
                studies.append(study_entry("lottery", "lottery", w, s, {
                    "fc1": {"p_value": 0.001 * (s + 1), "concentrated": True, "gini": 0.3},
                    "ticket_accuracy": 0.95, "first_round_below_dense": 7, "final_sparsity": 0.9,
                }))
            else:
                studies.append(study_entry("lottery", "lottery", w, s, {}, status="pending"))
            studies.append(study_entry("dynamics", "dynamics", w, s, {
                "width": w, "layers": ["fc1"], "iterations": [0, 100],
                "fc1": {"distance_end": w * (1 + s), "fp_ratio_end": 1.5, "fp_grew": True, "alpha_end": float("nan"), "alpha_status": "few"},
            }))
    spec = {"name": "hand", "grid": {"model.width": widths}, "seeds": seeds}
    return {"store": "store/hand", "spec": spec, "runs": runs, "studies": studies}


def table(summary: dict[str, Any], study: str) -> dict[str, Any]:
    return next(t for t in summary["tables"] if t["study"] == study)


def test_axes_seed_shorthand_and_groups() -> None:
    assert grid_axes({"grid": {"model.width": [1, 2]}, "seeds": [0, 1]}) == {"model.width": [1, 2], "seed": [0, 1]}
    assert grid_axes({"grid": {"seed": [3], "train.lr": [0.1]}}) == {"seed": [3], "train.lr": [0.1]}
    assert grid_axes({}) == {}
    s = grid_summary(hand_doc())
    assert s["seed_axis"] == "seed" and s["group_axes"] == ["model.width"]
    assert s["groups"] == [{"model.width": 0.5}, {"model.width": 1.0}]
    assert [t["study"] for t in s["tables"]] == ["train", "pruning", "subspace", "lottery", "dynamics"]


def test_means_and_sample_std_over_seeds() -> None:
    s = grid_summary(hand_doc())
    train = table(s, "train")
    half, one = train["rows"]
    assert half["point"] == {"model.width": 0.5} and (half["done"], half["failed"], half["pending"]) == (3, 0, 0)
    accs = [0.90, 0.91, 0.92]
    assert half["cells"]["test_accuracy"]["mean"] == pytest.approx(statistics.mean(accs))
    assert half["cells"]["test_accuracy"]["std"] == pytest.approx(statistics.stdev(accs))
    assert (one["done"], one["failed"]) == (2, 1) and one["cells"]["test_accuracy"]["n"] == 2
    dyn = table(s, "dynamics")["rows"][0]["cells"]
    assert dyn["fc1/distance_end"]["mean"] == pytest.approx(0.5 * 2) and dyn["fc1/distance_end"]["n"] == 3
    # NaN is not averaged in; it counts as missing
    alpha = dyn["fc1/alpha_end"]
    assert (alpha["mean"], alpha["n"], alpha["missing"]) == (None, 0, 3) and all(math.isnan(v) for v in alpha["values"])


def test_headline_numbers_per_kind() -> None:
    s = grid_summary(hand_doc())
    assert table(s, "pruning")["metrics"] == ["magnitude:ascending/auc", "random/auc"]
    assert table(s, "subspace")["metrics"] == ["fc1@final/update/top/k_within_1pt"]
    assert table(s, "lottery")["metrics"] == ["fc1/p_value", "ticket_accuracy", "first_round_below_dense"]
    assert table(s, "dynamics")["metrics"] == ["fc1/distance_end", "fc1/fp_ratio_end", "fc1/alpha_end"]
    # "never within 1 point" (None) is counted, not averaged
    k = table(s, "subspace")["rows"][0]["cells"]["fc1@final/update/top/k_within_1pt"]
    assert (k["mean"], k["n"], k["missing"]) == (3.0, 2, 1)
    lottery = table(s, "lottery")["rows"][0]
    assert (lottery["done"], lottery["pending"]) == (2, 1)
    # a kind without headline keys shows every number; labels and lists are left out
    assert headline_numbers("other", {"a": 1, "b": {"c": 2.5, "d": "label", "e": [1, 2], "f": False}}) == {"a": 1.0, "b/c": 2.5}
    assert flatten_numbers({"x": {"y": None}}) == {"x/y": None}


def test_aggregate_and_cells() -> None:
    assert aggregate([1.0]) == {"mean": 1.0, "std": None, "n": 1, "missing": 0, "values": [1.0]}
    assert aggregate([])["mean"] is None
    cell = aggregate([1.0, 3.0, None])
    assert cell["std"] == pytest.approx(math.sqrt(2)) and cell["missing"] == 1
    assert format_cell(cell) == "2 ± 1.4 (1 n/a)"
    assert format_cell(aggregate([None])) == "n/a" and format_cell(None) == "—"


def test_the_typed_summary_renders_and_reads_back_the_json_shape() -> None:
    typed = summarize_grid(hand_doc())
    shape = grid_summary(hand_doc())
    assert json.dumps(typed.to_json()) == json.dumps(shape)  # same keys in the same order (NaN compares as text)
    assert json.dumps(GridSummary.from_json(shape).to_json()) == json.dumps(shape)
    assert typed.seeds == [0, 1, 2] and [t.study for t in typed.tables] == [t["study"] for t in shape["tables"]]
    train = typed.tables[0].rows[1]
    assert (train.done, train.failed, train.pending) == (2, 1, 0) and train.cells["test_accuracy"].n == 2
    assert format_cell(train.cells["test_accuracy"]) == format_cell(shape["tables"][0]["rows"][1]["cells"]["test_accuracy"])


def test_no_grid_is_one_group() -> None:
    doc = {"store": "s", "spec": {"name": "x"}, "runs": [{"id": "t", "name": "run", "status": "done", "grid_point": {}, "test_accuracy": 0.5}], "studies": []}
    s = grid_summary(doc)
    assert s["axes"] == {} and s["groups"] == [{}]
    assert table(s, "train")["rows"][0]["cells"]["test_accuracy"]["mean"] == 0.5


SPEC = tiny_text("gridded", seed=None, data={"train_samples": 300, "test_samples": 100}, model={"widths": [8]}, eval_interval=30, tail="""\
grid:
  model.width: [1, 2]
seeds: [0, 1]
studies:
  - kind: tiny_norms
""")


@pytest.fixture
def tiny_kind() -> Iterator[None]:
    with grid_study.installed():
        yield


def test_show_prints_the_grid_summary_of_a_real_store(tiny_kind: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    with grid_study.one_thread():
        _, store, report = run_spec(tmp_path, SPEC)
    assert not report.failed and len(report.studied) == 4
    doc = read_document(store.root, curves=False)
    s = grid_summary(doc)
    norms = table(s, "tiny_norms")
    assert norms["metrics"] == ["distance_from_init/fc1", "distance_from_init/fc2"]
    # the mean over seeds equals the mean of the stored per-run summaries
    for row in norms["rows"]:
        width = row["point"]["model.width"]
        per_run = [st["summary"]["distance_from_init"]["fc1"] for st in doc["studies"] if st["run"].startswith(f"width{width}_")]
        assert len(per_run) == 2
        assert row["cells"]["distance_from_init/fc1"]["mean"] == pytest.approx(statistics.mean(per_run))
        assert row["cells"]["distance_from_init/fc1"]["std"] == pytest.approx(statistics.stdev(per_run))
    runner = CliRunner()
    shown = runner.invoke(app, ["show", "store/gridded"], env={"COLUMNS": "160"})
    assert shown.exit_code == 0, shown.output
    assert "grid: tiny_norms, mean ± std over 2 seeds" in shown.output and "distance_from_init/fc1" in shown.output
    assert " ± " in shown.output and "2/2" in shown.output
    assert shown.output.count("tiny_norms width") == 0  # a grid's studies are summarized by grid point
    per_study = runner.invoke(app, ["show", "store/gridded", "--studies"], env={"COLUMNS": "160"})
    assert per_study.exit_code == 0 and per_study.output.count("tiny_norms width") == 4
    as_json = json.loads(runner.invoke(app, ["show", "store/gridded", "--json"]).stdout)
    assert as_json["grid"]["axes"] == {"model.width": [1, 2], "seed": [0, 1]}
    assert table(as_json["grid"], "tiny_norms")["rows"] == norms["rows"]

"""Results say which weights they describe, and grids show their runs: show, ls, the API, compare, figures."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from redundancy.api import open_store
from redundancy.cli import app
from redundancy.grid import flatten_numbers
from redundancy.report import build_report
from redundancy.store.reader import read_document
from redundancy.tui.compare import Item, compare_detail
from redundancy.tui.details import study_detail
from redundancy.tui.source import list_store
from support.tiny import run_spec, tiny_text

GRID = tiny_text("named", seed=None, seeds=[0, 1], checkpoints=[10, 30], tail="""\
studies:
  - {kind: pruning, layer: fc1, checkpoint: best, seeds: 1}
  - {kind: subspace, layer: fc1, basis: [top], seeds: 1}
""")


@pytest.fixture(scope="module")
def named(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("named")
    _, store, report = run_spec(root, GRID)
    assert not report.failed, report.failed
    doc = read_document(store.root)
    best = {r["name"]: r["best_iteration"] for r in doc["runs"]}
    return {"root": store.root, "doc": doc, "best": best}


def cli(*args: str) -> str:
    result = CliRunner().invoke(app, list(args), env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    return result.output


def test_show_names_the_weights_and_lists_each_run_of_the_grid(named: dict[str, Any]) -> None:
    out = cli("show", str(named["root"]), "--studies")
    for run, best in named["best"].items():
        assert f"pruning {run}/pruning · weights best (iteration {best})" in out
        assert f"subspace {run}/subspace · weights final (iteration 60)" in out
    runs_of = out[out.index("runs of grid: pruning"):]
    first = next(line for line in runs_of.splitlines()[1:] if "seed0" in line)
    assert "seed1" in first  # a column per run beside the grid's mean ± std
    assert "runs of grid" not in cli("show", str(named["root"]), "--no-runs")


def test_ls_fills_the_headline_of_every_stage(named: dict[str, Any]) -> None:
    out = cli("ls", str(named["root"]))
    rows = [line for line in out.splitlines() if "done" in line]
    assert len(rows) == 6
    assert all("auc" in r for r in rows if "pruning" in r) and all("k_within_1pt" in r for r in rows if "subspace" in r)
    assert all("test acc" in r for r in rows if "train-" in r)


def test_the_api_row_names_the_weights_and_carries_every_scalar(named: dict[str, Any]) -> None:
    studies = open_store(named["root"]).studies
    for _, row in studies.iterrows():
        want = f"best (iteration {named['best'][row['run']]})" if row["kind"] == "pruning" else "final (iteration 60)"
        assert row["weights"] == want
    for st in named["doc"]["studies"]:
        row = studies[studies["id"] == st["id"]].iloc[0]
        for key, value in flatten_numbers(st["summary"]).items():
            assert row[key] == pytest.approx(float("nan") if value is None else value, nan_ok=True), key
    assert set(studies[studies["kind"] == "pruning"]["layer"]) == {"fc1"}


def test_compare_always_shows_which_weights_each_study_read(named: dict[str, Any]) -> None:
    listing = list_store(named["root"])
    items = []
    for group in listing.runs:
        entry = next(e for e in listing.entries() if e.study_kind == "pruning" and e.run == group.label)
        items.append(Item(listing, group, entry))
    detail = compare_detail(items)
    assert detail.table is not None
    assert detail.table.rows[0] == ["weights", *(f"best (iteration {named['best'][i.group.label]})" for i in items)]
    for item in items:  # and each study's own view says it in its title
        assert study_detail(listing, item.entry).title.endswith(f"· weights best (iteration {named['best'][item.group.label]})")


def test_figure_titles_name_the_checkpoint_and_its_iteration(named: dict[str, Any], tmp_path: Path) -> None:
    report = build_report([named["root"]], tmp_path / "report")
    titles = {f.title for f in report.figures}
    for run, best in named["best"].items():
        assert any(t.startswith(f"Pruning fc1 at checkpoint best (iteration {best})") for t in titles), titles
    assert any("fc1 at final (iteration 60)" in t for t in titles), titles

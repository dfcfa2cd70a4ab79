"""Every metric is defined where it is shown: `show --explain` defines each number its tables print, with its unit."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from redundancy.cli import app
from redundancy.grid import grid_summary
from redundancy.present.glossary import define, glossary
from redundancy.present.tables import summary_columns, summary_rows
from redundancy.store.reader import read_document
from support.tiny import run_spec, tiny_text

EVERY_KIND = tiny_text("every", seed=None, seeds=[0, 1], model={"widths": [16, 8]}, checkpoints=[10, 30], tail="""\
studies:
  - {kind: pruning, layer: fc1, checkpoint: best, seeds: 2}
  - {kind: pruning, name: ft, layer: fc1, checkpoint: final, seeds: 1, finetune: {iterations: 5, levels: [0.5]}}
  - {kind: subspace, layer: fc1, basis: [top, bottom, random], seeds: 1}
  - {kind: subspace, name: aligned, layer: fc1, basis: [top], seeds: 1, alignment: true}
  - {kind: lottery, layers: [fc1, fc2], rounds: 1, rate: 0.5, draws: 199}
  - {kind: dynamics, layers: [fc1], probe: 50, restarts: 1}
  - {kind: unit_ticket, layers: [fc1], keep_fractions: [0.5], seeds: 1, selectors: [magnitude_final, random]}
  - {kind: correspondence, partner: seed, path_points: 3}
""")


@pytest.fixture(scope="module")
def every(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("glossary")
    _, store, report = run_spec(root, EVERY_KIND)
    assert not report.failed, report.failed
    return read_document(store.root) | {"root": store.root}


def printed_keys(doc: dict[str, Any]) -> dict[str, set[str]]:
    """Kind -> every metric key `show` prints: the run table's columns, each study's columns and
    caption scalars (``--studies``), and each grid table's headline numbers."""
    keys: dict[str, set[str]] = {"train": {"iters", "best", "test acc", "acc@best"}}
    for st in doc["studies"]:
        rows, scalars = summary_rows(st["summary"])
        keys.setdefault(st["kind"], set()).update([*summary_columns(rows), *scalars])
    for table in grid_summary(doc)["tables"]:
        keys.setdefault(table["kind"], set()).update(table["metrics"])
    return keys


def test_show_explain_defines_every_metric_it_prints(every: dict[str, Any]) -> None:
    result = CliRunner().invoke(app, ["show", str(every["root"]), "--explain", "--studies"], env={"COLUMNS": "400"})
    assert result.exit_code == 0, result.output
    assert "no definition declared" not in result.output
    tables, _, explained = result.output.partition("what the numbers mean")
    keys = printed_keys(every)
    assert set(keys) == {"train", "pruning", "subspace", "lottery", "dynamics", "unit_ticket", "correspondence"}
    for kind, shown in keys.items():
        for key in shown:
            metric = define(kind, key)
            assert metric is not None, (kind, key)
            assert metric.meaning in explained, (kind, key)
    # the columns that carry a unit say it: an accuracy is a fraction of test samples, a count counts something
    assert "[fraction of test samples, 0–1]" in explained and "[count of pairs]" in explained and "[degrees]" in explained
    for line in explained.splitlines():
        cells = line.split()
        if cells and cells[0] in keys:
            assert len(cells) > 2, line  # kind, metric and a definition on every row


def test_keys_a_pattern_defines_share_one_line() -> None:
    lines = glossary("pruning", ["acc@10%", "acc@25%", "auc", "mystery"])
    assert [name for name, _ in lines] == ["acc@*%", "auc", "mystery"]
    assert lines[2][1] == "no definition declared by kind 'pruning'"
    assert define("pruning", "magnitude:smallest/auc") is define("pruning", "auc")  # a grid column's last part
    assert define("a_plugin_kind", "auc") is None


def test_without_explain_show_prints_no_glossary(every: dict[str, Any]) -> None:
    result = CliRunner().invoke(app, ["show", str(every["root"])], env={"COLUMNS": "200"})
    assert result.exit_code == 0 and "what the numbers mean" not in result.output

"""Unit tickets compared across networks: a tiny seed grid's store read by ``show``, ``show --json``, the
TUI's store detail and the report, each giving mean paired differences with intervals; one network says
its result is conditional."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from redundancy.cli import app
from redundancy.report.builder import build_report
from redundancy.store.reader import read_document
from redundancy.tui.details import store_detail
from redundancy.tui.source import list_store
from support.tiny import run_spec, tiny_text

# Small enough that 25 % of the units sometimes fail to learn, so arms differ between networks.
TINY = {"data": {"input_dim": 2}, "model": {"widths": [16, 8]}, "iterations": 150, "lr": 0.1, "eval_interval": 50}
STUDY = """\
studies:
  - kind: unit_ticket
    name: ut
    keep_fractions: [0.5, 0.25]
    selectors: [magnitude_init, random]
    seeds: 2
"""


@pytest.fixture(scope="module")
def grid_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("networks")
    text = tiny_text("nets", seeds=[0, 1, 2], seed=None, **TINY, tail=STUDY)
    _, store, report = run_spec(folder, text, "nets.yaml", workers=1)
    assert not report.failed, report.failed
    return store.root


def test_show_json_compares_arms_across_three_networks(grid_store: Path) -> None:
    out = CliRunner().invoke(app, ["show", str(grid_store), "--json"])
    assert out.exit_code == 0, out.output
    (c,) = json.loads(out.stdout)["comparisons"]
    assert c["networks"] == ["seed=0", "seed=1", "seed=2"] and c["ddof"] == 1 and c["confidence"] == 0.95
    assert not c["conditional"] and c["best"] == [] and "no best arm" in c["note"]
    assert {(e["arm"], e["level"]) for e in c["effects"]} == {(a, f"keep {p}%") for a in ("magnitude_init:original", "random:original") for p in (50, 25)}
    doc = read_document(grid_store, curves=False)
    summaries = {s["run"]: s["summary"] for s in doc["studies"]}
    for e in c["effects"]:
        want = [summaries[r][e["arm"]][e["level"]] - summaries[r]["random:reinit"][e["level"]] for r in sorted(summaries)]
        assert e["differences"] == pytest.approx(want)
        assert e["ci_low"] <= e["mean_difference"] <= e["ci_high"] and e["n"] == 3
        if e["p_value"] is not None:
            assert e["p_holm"] >= e["p_value"]
    assert any(e["p_value"] is not None for e in c["effects"])


def test_show_tui_and_report_give_differences_with_intervals(grid_store: Path, tmp_path: Path) -> None:
    out = CliRunner().invoke(app, ["show", str(grid_store)], env={"COLUMNS": "220"})
    assert out.exit_code == 0, out.output
    text = " ".join(out.output.split())
    assert "across networks: ut (unit_ticket), keep 25%: arm − random:reinit, points, 3 networks" in text
    assert "95% CI" in text and "p (Holm)" in text
    detail = store_detail(list_store(grid_store))
    panels = [p for p in detail.panels if "across networks" in p.title]
    assert len(panels) == 2 and panels[0].table.columns == ["arm", "diff", "95% CI", "t", "p", "p (Holm)"]
    assert all(row[2].startswith("[") for p in panels for row in p.table.rows) and "no best arm" in panels[-1].table.caption
    report = build_report([grid_store], tmp_path / "report")
    md = (tmp_path / "report" / "report.md").read_text()
    assert "arms across networks" in md and "t interval" in md and "p (Holm)" in md
    assert any("networks-ut" in str(f.png) for f in report.figures)


def test_one_network_is_conditional(tmp_path: Path) -> None:
    text = tiny_text("one", **TINY, tail=STUDY.replace("[0.5, 0.25]", "[0.25]"))
    _, store, report = run_spec(tmp_path, text, "one.yaml")
    assert not report.failed
    out = CliRunner().invoke(app, ["show", str(store.root)], env={"COLUMNS": "220"})
    assert out.exit_code == 0, out.output
    assert "conditional on one network" in " ".join(out.output.split())
    (c,) = json.loads(CliRunner().invoke(app, ["show", str(store.root), "--json"]).stdout)["comparisons"]
    assert c["conditional"] and all(e["p_value"] is None and e["ci_low"] is None for e in c["effects"])

"""The opt-in outputs of the science studies, from the shipped short mnist-5k specs at reduced
iterations, in ``show``, ``show --json``, the TUI and the report: the subspace study's alignment,
the pruning study's fine-tuning with parameters and FLOPs, and unit tickets as two tables."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from redundancy.tui import RedundancyApp
from redundancy.tui import details as tui_details
from redundancy.tui.model import PlotPanel, TablePanel
from redundancy.tui.source import list_store
from redundancy.tui.tree import StoreTree
from support.pilot import run_async, settle

SPECS = Path(__file__).resolve().parent.parent / "specs"
RUNS = {
    "subspace": ("subspace_alignment_mnist5k.yaml", ["train.iterations=200", "studies.0.seeds=1"]),
    "pruning": ("pruning_finetune_mnist5k.yaml", ["train.iterations=200", "studies.0.finetune.iterations=20", "studies.0.step=25"]),
    "unit_ticket": ("unit_ticket_mnist5k.yaml", ["train.iterations=100", "studies.0.seeds=2"]),
}


def _cli(*args: str) -> str:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    env.pop("COLUMNS", None)
    result = subprocess.run([sys.executable, "-m", "redundancy", *args], capture_output=True, text=True, env=env, timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


@pytest.fixture(scope="module")
def stores(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("opt_in")
    out = {}
    for kind, (spec, sets) in RUNS.items():
        store = root / kind
        _cli("run", str(SPECS / spec), "--store", str(store), *(a for s in sets for a in ("--set", s)))
        out[kind] = store
    return out


def test_show_and_json_carry_the_opt_in_outputs(stores: dict[str, Path]) -> None:
    shown = _cli("show", str(stores["subspace"]))
    assert "rho_residual_k16" in shown and "share_residual_k16" in shown
    doc = json.loads(_cli("show", "--json", str(stores["subspace"])))
    (study,) = doc["studies"]
    series = next(iter(study["curves"].values()))
    assert {"rho_kept", "rho_residual", "residual_share"} <= set(next(iter(series.values())))
    doc = json.loads(_cli("show", "--json", str(stores["pruning"])))
    found: set[str] = set()

    def walk(node: object) -> None:
        if isinstance(node, dict):
            found.update(str(k) for k in node)
            for v in node.values():
                walk(v)

    walk(doc["studies"][0]["curves"])
    assert {"finetuned_accuracy", "params", "flops"} <= found
    assert "ranking_finetuned" in _cli("show", str(stores["pruning"]))


def test_unit_tickets_read_as_two_tables_at_80_columns(stores: dict[str, Path]) -> None:
    shown = _cli("show", "--studies", "--width", "80", str(stores["unit_ticket"]))
    assert max(len(line) for line in shown.splitlines()) <= 80 and "…" not in shown
    assert shown.count("unit_ticket seed0/unit_ticket") == 2  # per-arm rows, then per-keep-fraction comparisons
    arms = [line for line in shown.splitlines() if line.startswith(" random:reinit ")]
    assert arms and len(arms[0].split()) == 3  # the arm and its accuracy at both keep fractions, on one line
    assert "reference_accuracy" in shown and "p_value" in shown
    doc = json.loads(_cli("show", "--json", str(stores["unit_ticket"])))
    assert doc["studies"][0]["kind"] == "unit_ticket" and doc["studies"][0]["summary"]


def test_the_shipped_unit_ticket_spec_compares_arms_across_three_networks(stores: dict[str, Path]) -> None:
    """The spec is a seed grid: each arm's paired difference from random:reinit over the networks, with its
    interval and Holm's p, in show (80 columns), show --json and the TUI's store detail."""
    shown = _cli("show", "--width", "80", str(stores["unit_ticket"]))
    assert max(len(line) for line in shown.splitlines()) <= 80 and "…" not in shown
    for level in ("keep 25%", "keep 10%"):
        assert f"across networks: unit_ticket (unit_ticket), {level}: arm − random:reinit" in " ".join(shown.split())
    assert "95% CI" in shown and "p (Holm)" in shown and "no best arm is named" in " ".join(shown.split())
    (c,) = json.loads(_cli("show", "--json", str(stores["unit_ticket"])))["comparisons"]
    assert c["networks"] == ["seed=0", "seed=1", "seed=2"] and len(c["effects"]) == 12  # 6 arms x 2 fractions
    assert all(e["ci_low"] is not None and e["ci_low"] <= e["mean_difference"] <= e["ci_high"] for e in c["effects"])
    detail = tui_details.store_detail(list_store(stores["unit_ticket"]))
    across = [p for p in detail.panels if p.title.startswith("across networks")]
    assert len(across) == 2 and all(row[2].startswith("[") for p in across for row in p.table.rows)


async def _panels(store: Path) -> tuple[list[str], list[str]]:
    listing = list_store(store)
    entry = next(e for e in listing.entries() if e.stage_kind == "study")
    app = RedundancyApp([store], poll=0)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        key = tui_details.stage_key(store, entry.id)
        app._reveal(key)
        await settle(pilot)
        app.query_one(StoreTree).move_cursor(app.nodes[key])
        for _ in range(100):  # reading a study with a few hundred curves takes a moment
            await pilot.pause(0.05)
            if app.detail is not None and app.detail.key == key:
                break
        await settle(pilot)
        assert app.detail is not None and app.detail.key == key
        assert app.detail is not None and app.detail.table is not None
        titles = [p.title for p in app.detail.panels]
        tables = [p.title for p in app.detail.panels if isinstance(p, TablePanel)]
        assert all(p.series for p in app.detail.panels if isinstance(p, PlotPanel))
        return titles, tables


@run_async
async def test_the_tui_shows_alignment_fine_tuning_costs_and_both_ticket_tables(stores: dict[str, Path]) -> None:
    titles, _ = await _panels(stores["subspace"])
    assert any(t.startswith("alignment ρ of the removed residual") for t in titles)
    assert any(t.startswith("residual's share") for t in titles)
    titles, _ = await _panels(stores["pruning"])
    assert "test accuracy after fine-tuning vs units removed" in titles
    assert {"parameters of the smaller network vs units removed", "FLOPs of the smaller network (one input) vs units removed"} <= set(titles)
    _, tables = await _panels(stores["unit_ticket"])
    assert tables  # the per-keep-fraction comparisons beside the per-arm table


def test_the_report_draws_alignment_and_fine_tuning_beside_accuracy(stores: dict[str, Path], tmp_path: Path) -> None:
    from redundancy.report import build_report

    report = build_report([stores["subspace"], stores["pruning"], stores["unit_ticket"]], tmp_path / "report")
    slugs = {f.slug for f in report.figures}
    assert any("subspace-fc1_final_update" in s for s in slugs) and any("pruning-fc1_best" in s for s in slugs)
    md = (tmp_path / "report" / "report.md").read_text()
    assert "alignment" in md and "fine-tuned" in md
    assert "unit\\_ticket" in md and "reference\\_accuracy" in md
    assert "arms across networks" in md and any("networks-unit_ticket" in s for s in slugs)

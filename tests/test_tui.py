"""The TUI headless: real stores written through ``Store``, the real app driven with ``Pilot``.

Covers the lazy listing (no dataset read while a 100-run × 10-study store is
opened and expanded), navigation, each study kind's view, dataset previews,
search, mark and compare, CSV export, live refresh while stages are written, bad
files of every kind, and store text that looks like Rich markup.
"""

from __future__ import annotations

import asyncio
import csv
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pytest
from rich.text import Text
from textual.widgets import DataTable, Static

from redundancy.store import Store
from redundancy.tui import RedundancyApp
from redundancy.tui import details as tui_details
from redundancy.tui.model import HeatmapPanel, PlotPanel, TablePanel
from redundancy.tui.source import list_store
from redundancy.tui.tree import StoreTree
from support.pilot import goto, run_async, screen_lines, settle
from support.tiny import reseal
from support.tui_samples import big_store, dynamics_result, lottery_result, pruning_result, sample_store, subspace_result, write_index, write_run, write_study

SIZE = (100, 30)


@pytest.fixture
def sample(tui_sample: Path) -> Path:
    """The session's sample store (``tui_sample`` in conftest.py); these tests only read it."""
    return tui_sample


def tree(app: RedundancyApp) -> StoreTree:
    return app.query_one(StoreTree)


def labels(app: RedundancyApp) -> list[str]:
    """Every tree label, depth-first, as plain text."""
    out: list[str] = []

    def walk(node: Any) -> None:
        for child in node.children:
            label = child.label
            out.append(label.plain if isinstance(label, Text) else str(label))
            walk(child)

    walk(tree(app).root)
    return out


def table_rows(app: RedundancyApp, selector: str = "#table") -> list[list[str]]:
    table = app.query_one(selector, DataTable)
    return [[cell.plain if isinstance(cell, Text) else str(cell) for cell in table.get_row_at(i)] for i in range(table.row_count)]


def table_columns(app: RedundancyApp, selector: str = "#table") -> list[str]:
    table = app.query_one(selector, DataTable)
    return [c.label.plain for c in table.columns.values()]


def static_text(app: RedundancyApp, selector: str) -> str:
    content = app.query_one(selector, Static).content
    return content.plain if isinstance(content, Text) else str(content)


# --- lazy listing -------------------------------------------------------------------------------


class DatasetReads:
    """Counts every read of dataset values through h5py's high-level API."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.count = 0
        for name in ("__getitem__", "read_direct", "__array__", "astype", "asstr", "fields"):
            original = getattr(h5py.Dataset, name)

            def counted(ds: Any, *args: Any, __original: Any = original, **kwargs: Any) -> Any:
                self.count += 1
                return __original(ds, *args, **kwargs)

            monkeypatch.setattr(h5py.Dataset, name, counted)


@run_async
async def test_big_store_opens_without_reading_any_dataset(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "big"
    with monkeypatch.context() as m:
        m.setattr(os, "fsync", lambda fd: None)  # durability of a temporary folder is not under test
        big_store(root, runs=100, studies=10)
    reads = DatasetReads(monkeypatch)
    start = time.perf_counter()
    listing = list_store(root)
    listed = time.perf_counter() - start
    assert len(listing.runs) == 100 and sum(len(g.studies) for g in listing.runs) == 1000
    app = RedundancyApp([root], poll=0)
    async with app.run_test(size=SIZE) as pilot:
        start = time.perf_counter()
        await settle(pilot)
        opened = time.perf_counter() - start
        store_node = app.nodes[tui_details.store_key(root)]
        assert len(store_node.children) == 100
        for run in store_node.children:  # open every run: its studies are listed from the plan
            run.expand()
        await settle(pilot)
        study = store_node.children[7].children[3]
        study.expand()  # a study's datasets: names, shapes and dtypes only
        await settle(pilot)
        assert [c.label.plain.split()[0] for c in study.children] == ["results/"]
        assert sum(len(run.children) for run in store_node.children) == 100 * 11
        assert app.detail is not None and app.detail.key == tui_details.store_key(root)
    assert reads.count == 0
    # Without index.h5 every stage is placed from its own attributes, still without reading data.
    (root / "index.h5").unlink()
    plain = list_store(root)
    assert sum(len(g.studies) for g in plain.runs) == 1000 and not plain.problems
    assert reads.count == 0
    # The counter sees reads: selecting a run's curves is one read per metric series.
    tui_details.run_detail(plain, plain.runs[0])
    assert reads.count == 2
    print(f"\n100 runs x 10 studies: list_store {listed:.3f} s, app open until settled {opened:.3f} s")


@run_async
async def test_a_run_shows_its_training_curves(sample: Path) -> None:
    app = RedundancyApp([sample], poll=0)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert labels(app)[:3] == ["sample  2 runs · 8 studies", "seed0", "seed1"]
        assert app.detail is not None and app.detail.title == "store sample"
        assert [r[0] for r in table_rows(app)] == ["seed0", "seed1"]
        assert app.query_one("#table", DataTable).size.height == 3  # laid out: header and both rows
        # A grid spec: headline numbers by grid point, mean ± std over the seeds (as `show` prints).
        grid = app.detail.panels[0]
        assert isinstance(grid, TablePanel) and grid.title == "grid: train, mean ± std over 2 seeds"
        assert grid.table.rows[:2] == [["done", "2/2"], ["test_accuracy", "0.89 ± 0.014"]]
        grids = [p.title for p in app.detail.panels[1:] if p.title.startswith("grid: ")]
        assert sorted(grids) == [f"grid: {k}, mean ± std over 2 seeds" for k in ("dynamics", "lottery", "pruning", "subspace")]
        # then the pruning criteria compared with the random order across the two networks
        across = [p for p in app.detail.panels if p.title.startswith("across networks")]
        assert [p.title for p in across] == ["across networks: pruning (pruning), auc: arm − random, points, 2 networks"]
        assert across[0].table.columns == ["arm", "diff", "95% CI", "t", "p", "p (Holm)"]
        await pilot.press("down")
        await settle(pilot)
        assert static_text(app, "#title") == "run seed0 · mlp on xord"
        rows = dict((r[0], r[1]) for r in table_rows(app))
        assert rows["test_accuracy"] == "0.9" and rows["dataset"] == "xord"
        assert [p.title for p in app.detail.panels] == ["loss vs iteration", "accuracy vs iteration"]
        loss = app.detail.panels[0]
        assert isinstance(loss, PlotPanel)
        assert [s.label for s in loss.series] == ["train_loss", "val_loss", "test_loss"]
        assert loss.series[0].x == [0.0, 20.0, 40.0, 60.0]
        await pilot.press("right_square_bracket")
        await settle(pilot)
        assert "accuracy vs iteration" in static_text(app, "#caption")
        plot_height = app.query_one("#plot").size.height
        await pilot.press("z")  # zoom: the table gives its rows to the plot
        await settle(pilot)
        assert not app.query_one("#table").display and app.query_one("#plot").size.height > plot_height
        await pilot.press("z")
        await settle(pilot)
        assert app.query_one("#table").display and app.query_one("#plot").size.height == plot_height
        await pilot.press("right", "down")  # open the run, step onto its first study
        await settle(pilot)
        assert static_text(app, "#title") == "pruning seed0/pruning"


KINDS = {
    "pruning": (["criterion", "auc", "acc@10%", "acc@25%", "acc@50%", "acc@75%", "acc@90%"],
                "test accuracy vs units removed",
                ["magnitude:smallest", "magnitude:largest", "frame_potential:smallest", "frame_potential:largest", "random"]),
    "subspace": (["layer", "rank", "k_within_1pt", "k_within_5pt", "acc_k1", "acc_full"], "test accuracy vs k", ["top", "bottom", "random"]),
    "lottery": (["layer", "first_round_below_dense", "concentrated", "p_value"], "test accuracy per round", ["ticket", "reinit", "random_mask"]),
    "dynamics": (["layer", "start", "end", "grew"], "frame potential", ["fc1", "fc2"]),
}


@run_async
async def test_each_study_kind_has_its_table_and_plots(sample: Path) -> None:
    listing = list_store(sample)
    app = RedundancyApp([sample], poll=0)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        for kind, (columns, first_panel, series) in KINDS.items():
            entry = next(e for e in listing.entries() if e.study_kind == kind and e.run == "seed1")
            await goto(pilot, tui_details.stage_key(sample, entry.id))
            assert static_text(app, "#title") == f"{kind} seed1/{kind}"
            assert table_columns(app) == columns
            detail = app.detail
            assert detail is not None and detail.panels
            assert static_text(app, "#caption").startswith(f"‹ 1/{len(detail.panels)} › {first_panel}")
            first = detail.panels[0]
            assert isinstance(first, PlotPanel) and [s.label for s in first.series] == series
            for _ in detail.panels:  # every panel can be reached and drawn
                await pilot.press("right_square_bracket")
            await settle(pilot)
            assert app.panel_index == 0
            if kind == "pruning":
                random = first.series[-1]
                assert random.std is not None and len(random.std) == len(random.y)
                assert table_rows(app)[0][0] == "magnitude:smallest"
            if kind == "subspace":
                assert any(isinstance(p, PlotPanel) and p.title == "singular values" for p in detail.panels)
            if kind == "lottery":
                assert any(isinstance(p, TablePanel) and p.title == "per round" for p in detail.panels)
                dispersion = next(p for p in detail.panels if isinstance(p, PlotPanel) and "dispersion" in p.title)
                assert [s.label for s in dispersion.series] == ["fc1", "fc1 null dispersion", "fc2", "fc2 null dispersion"]


@run_async
async def test_datasets_preview_as_heatmap_values_and_histogram(sample: Path) -> None:
    listing = list_store(sample)
    train = listing.runs[0].train
    assert train is not None and train.path is not None
    app = RedundancyApp([sample], poll=0)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        run = app.nodes[tui_details.run_key(sample, "seed0")]
        run.expand()
        await settle(pilot)
        files = app.nodes[tui_details.h5_key(train.path, "/")]
        files.expand()
        await settle(pilot)
        assert [c.label.plain.split()[0] for c in files.children] == ["checkpoints/", "metrics/"]
        app.nodes[tui_details.h5_key(train.path, "/checkpoints")].expand()
        await settle(pilot)
        app.nodes[tui_details.h5_key(train.path, "/checkpoints/00000060")].expand()
        await settle(pilot)
        weight = tui_details.h5_key(train.path, "/checkpoints/00000060/blocks.fc1.layer.weight")
        assert "16×6 float32" in app.nodes[weight].label.plain
        await goto(pilot, weight)
        rows = dict((r[0], r[1]) for r in table_rows(app))
        assert rows["shape"] == "16 × 6" and rows["dtype"] == "float32"
        assert [type(p) for p in app.detail.panels] == [HeatmapPanel, TablePanel, PlotPanel]
        assert app.query_one("#area").current == "heatmap"
        await pilot.press("right_square_bracket")
        await settle(pilot)
        assert app.query_one("#area").current == "values"
        assert len(table_rows(app, "#values")) == 16 and table_columns(app, "#values")[:3] == ["row", "0", "1"]
        await pilot.press("right_square_bracket")
        await settle(pilot)
        assert app.query_one("#area").current == "plot"
        assert "histogram of 96 values" in static_text(app, "#caption")
        app.nodes[tui_details.h5_key(train.path, "/metrics")].expand()
        await settle(pilot)
        await goto(pilot, tui_details.h5_key(train.path, "/metrics/test_accuracy"))
        assert [p.title for p in app.detail.panels] == ["values", "values vs index"]
        assert table_rows(app, "#values")[-1] == ["3", "0.9"]


@run_async
async def test_provenance_shows_spec_hashes_versions_device_and_data(sample: Path) -> None:
    listing = list_store(sample)
    study = next(e for e in listing.entries() if e.study_kind == "pruning")
    app = RedundancyApp([sample], poll=0)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("p")
        await settle(pilot)
        assert app.query_one("#tabs").active == "provenance"
        assert app.detail is not None and app.detail.provenance is not None
        assert "grid:\n  seed: [0, 1]" in app.detail.provenance.text
        await pilot.press("down")
        await settle(pilot)
        facts = dict(app.detail.provenance.facts)
        assert facts["device"] == "cpu" and facts["torch_version"] == "2.4.0" and facts["data_source"] == "synthetic xor-of-pairs"
        assert facts["stage_id"] == listing.runs[0].train.id  # type: ignore[union-attr]
        assert "lr: 0.05" in app.detail.provenance.text
        await goto(pilot, tui_details.stage_key(sample, study.id))
        facts = dict(app.detail.provenance.facts)
        assert facts["run_stage_id"] == listing.runs[0].train.id and "identity (hashed)" in facts  # type: ignore[union-attr]
        await pilot.press("v")
        await settle(pilot)
        assert app.query_one("#tabs").active == "view"


@run_async
async def test_search_jumps_to_names_and_spec_values(sample: Path) -> None:
    listing = list_store(sample)
    lottery = [e.id for e in listing.entries() if e.study_kind == "lottery"]
    app = RedundancyApp([sample], poll=0)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("slash")
        assert app.focused is not None and app.focused.id == "search"
        await pilot.press(*"lottery", "enter")
        await settle(pilot)
        # The store matches through its spec text, then each lottery study by name.
        assert static_text(app, "#status") == "3 matches for 'lottery' · n / N: next / previous"
        assert tree(app).cursor_node.data.key == tui_details.store_key(sample)
        await pilot.press("n")
        await settle(pilot)
        assert tree(app).cursor_node.data.key == tui_details.stage_key(sample, lottery[0])
        assert static_text(app, "#title") == "lottery seed0/lottery"
        await pilot.press("n")
        await settle(pilot)
        assert tree(app).cursor_node.data.key == tui_details.stage_key(sample, lottery[1])
        await pilot.press("N", "N")
        await settle(pilot)
        assert tree(app).cursor_node.data.key == tui_details.store_key(sample)
        # Spec values: only seed1's run has seed=1 in its resolved config.
        await pilot.press("slash", *"seed=1", "enter")
        await settle(pilot)
        assert tree(app).cursor_node.data.key == tui_details.run_key(sample, "seed1")
        await pilot.press("slash", *"zzz", "enter")
        await settle(pilot)
        assert static_text(app, "#status") == "no match for 'zzz'"
        await pilot.press("slash", "x", "escape")
        assert app.focused is tree(app)


@run_async
async def test_mark_two_runs_and_compare(sample: Path) -> None:
    app = RedundancyApp([sample], poll=0)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("down", "space", "down", "space")
        await settle(pilot)
        assert labels(app)[1:3] == ["● seed0", "● seed1"]
        await pilot.press("c")
        await settle(pilot)
        assert static_text(app, "#title") == "compare 2 runs: seed0, seed1"
        rows = table_rows(app)
        spec_rows = [r for r in rows if r[0].startswith("spec ")]
        assert spec_rows == [["spec seed", "0", "1"]]  # only the field that differs
        assert ["test_accuracy", "0.9", "0.88"] in rows
        loss = app.detail.panels[0]
        assert isinstance(loss, PlotPanel) and loss.title == "loss vs iteration"
        assert [s.label for s in loss.series][:4] == ["seed0: train_loss", "seed0: val_loss", "seed0: test_loss", "seed1: train_loss"]
        # Unmark one: compare now asks for more.
        await pilot.press("space", "c")
        await settle(pilot)
        assert "mark two or more" in static_text(app, "#message")


@run_async
async def test_compare_two_pruning_studies_overlays_their_curves(sample: Path) -> None:
    listing = list_store(sample)
    ids = [e.id for e in listing.entries() if e.study_kind == "pruning"]
    app = RedundancyApp([sample], poll=0)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        for sid in ids:
            await goto(pilot, tui_details.stage_key(sample, sid))
            await pilot.press("space")
        await pilot.press("c")
        await settle(pilot)
        assert static_text(app, "#title") == "compare 2 pruning studies: seed0/pruning, seed1/pruning"
        rows = {r[0]: r[1:] for r in table_rows(app)}
        assert rows["spec run.seed"] == ["0", "1"]
        assert rows["magnitude:smallest · auc"][0] != rows["magnitude:smallest · auc"][1]
        accuracy = app.detail.panels[0]
        assert isinstance(accuracy, PlotPanel) and len(accuracy.series) == 10


def test_export_writes_table_and_curve_csv_to_the_export_folder_never_the_store(sample: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))  # the default folder is ~/redundancy-exports
    listing = list_store(sample)
    entry = next(e for e in listing.entries() if e.study_kind == "pruning" and e.run == "seed0")
    before = sorted(p for p in sample.parent.rglob("*") if p.is_file())

    async def export_twice() -> list[str]:
        app = RedundancyApp([sample], poll=0)
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            await goto(pilot, tui_details.stage_key(sample, entry.id))
            shown = []
            for _ in range(2):
                await pilot.press("e")
                await settle(pilot)
                shown.append(static_text(app, "#status"))
                status = app.query_one("#status", Static)
                screens.append((status.content_size.width, status.content_size.height))
            return shown

    screens: list[tuple[int, int]] = []
    first, second = asyncio.run(export_twice())
    folder = tmp_path / "home" / "redundancy-exports"
    table_csv = folder / "sample-seed0-pruning-table.csv"
    curve_csv = folder / "sample-seed0-pruning-test_accuracy_vs_units_removed_random_mean_std.csv"
    assert first == f"exported to {folder}: {table_csv.name}, {curve_csv.name}"  # the folder once, whole names
    assert second == f"exported to {folder}: sample-seed0-pruning-table-2.csv, {curve_csv.stem}-2.csv"  # never replaced
    width, height = screens[0]  # the status line wraps onto as many lines as the message needs, not cut at the edge
    assert len(first) > width and 2 <= height <= 3 and width * height >= len(first)
    assert sorted(p for p in sample.parent.rglob("*") if p.is_file()) == before  # nothing written beside or inside the store
    summary, curves, _ = pruning_result(0)
    with table_csv.open() as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["criterion", "acc@10%", "acc@25%", "acc@50%", "acc@75%", "acc@90%", "auc"]
    assert rows[1][0] == "magnitude:smallest" and float(rows[1][6]) == pytest.approx(summary["magnitude:smallest"]["auc"], rel=1e-11)
    assert all(len(cell) <= 14 for row in rows[1:] for cell in row[1:])  # 0.538, never 0.5379999999999999
    with curve_csv.open() as f:
        points = list(csv.DictReader(f))
    assert list(points[0]) == ["series", "units removed", "accuracy", "std"]
    random = [p for p in points if p["series"] == "random"]
    assert [float(p["accuracy"]) for p in random] == pytest.approx(curves["random"]["accuracy"], rel=1e-11)
    assert [float(p["std"]) for p in random] == pytest.approx(curves["random"]["std"], rel=1e-11)
    assert len(points) == 5 * len(curves["random"]["units_removed"])


# --- bad input, markup, live refresh ---------------------------------------------------------------


def hold_open_for_write(path: Path) -> subprocess.Popen[str]:
    """Another process that has an HDF5 file open for writing (and so locked) until killed."""
    code = (
        "import h5py, sys, time\n"
        f"f = h5py.File({str(path)!r}, 'w', libver='latest')\n"
        "f.attrs['stage_kind'] = 'train'\n"
        "f.flush()\n"
        "print('open', flush=True)\n"
        "time.sleep(120)\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "open"
    return proc


@run_async
async def test_bad_files_become_error_nodes_and_the_app_keeps_working(tmp_path: Path) -> None:
    root = tmp_path / "broken"
    store = Store(root)
    run_id = write_run(store, "[bold red]run[/]", 0)
    summary, curves, tensors = pruning_result(0)
    good = write_study(store, "pruning", run_id, "[bold red]run[/]", "[i]pruning", summary, curves, tensors)
    bad_json = write_study(store, "pruning", run_id, "[bold red]run[/]", "bad-json", summary, curves, tensors)
    with h5py.File(store.stage_path(bad_json), "a") as f:
        f.attrs["curves"] = "{not json"
    reseal(store.stage_path(bad_json))
    stages = root / "stages"
    (stages / "zero-0000000000000000.h5").write_bytes(b"")
    (stages / "text-0000000000000000.h5").write_text("these are not the bytes of an HDF5 file\n")
    whole = store.stage_path(good).read_bytes()
    (stages / "cut-0000000000000000.h5").write_bytes(whole[: len(whole) // 2])
    with h5py.File(stages / "odd-0000000000000000.h5", "w") as f:
        f["x"] = np.zeros(3)
    (stages / ".pending-0000000000000000.h5.123.tmp").write_bytes(b"half")  # a writer's temporary: ignored
    writer = hold_open_for_write(stages / "busy-0000000000000000.h5")
    missing = tmp_path / "nowhere"
    lone = tmp_path / "notes.h5"
    lone.write_text("plain text")
    try:
        app = RedundancyApp([root, missing, lone], poll=0)
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            shown = labels(app)
            assert "⚠ busy-0000000000000000.h5: locked: another process has it open for writing" in shown
            assert "⚠ cut-0000000000000000.h5: truncated HDF5 file (" in " ".join(shown)
            assert "⚠ odd-0000000000000000.h5: has no stage_id attribute" in shown
            assert "⚠ text-0000000000000000.h5: not an HDF5 file (no HDF5 signature)" in shown
            assert "⚠ zero-0000000000000000.h5: empty file (0 bytes)" in shown
            assert f"⚠ {missing}: no such file or folder" in shown
            assert not any("pending" in s for s in shown)
            # Store text is literal: brackets stay brackets in the tree, tables and titles.
            assert "[bold red]run[/]" in shown
            run_key = tui_details.run_key(root, "[bold red]run[/]")
            await goto(pilot, run_key)
            assert static_text(app, "#title") == "run [bold red]run[/] · mlp on xord"
            await goto(pilot, tui_details.stage_key(root, good))
            assert static_text(app, "#title") == "pruning [bold red]run[/]/[i]pruning"
            await goto(pilot, tui_details.stage_key(root, bad_json))
            assert "attribute 'curves' is not valid JSON" in static_text(app, "#message")
            # The lone file that is not HDF5 opens to its reason; the app still navigates.
            lone_node = app.nodes[tui_details.h5_key(lone, "/")]
            lone_node.expand()
            await settle(pilot)
            assert [c.label.plain for c in lone_node.children] == ["⚠ notes.h5: not an HDF5 file (no HDF5 signature)"]
            await goto(pilot, tui_details.store_key(root))
            store_rows = table_rows(app)
            assert any(r[0] == "busy-0000000000000000.h5" and r[3].startswith("error: locked") for r in store_rows)
    finally:
        writer.kill()
        writer.wait()


@run_async
async def test_live_refresh_shows_stages_as_a_run_writes_them(tmp_path: Path) -> None:
    folder = tmp_path / "stores"
    folder.mkdir()
    root = folder / "live"
    app = RedundancyApp([folder], poll=0.1)

    async def until(condition: Any) -> None:
        for _ in range(200):  # polled every 0.1 s; a burst of files may arrive in one rescan or two
            await pilot.pause(0.05)
            if condition():
                break
        await settle(pilot)

    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert labels(app) == [f"⚠ {folder}: no store here (no index.h5 or stages/ in it or its subfolders)"]
        # A run starts: its index lists the planned stages, the train stage lands first.
        store = Store(root)
        run_id = write_run(store, "run", 0)
        plan = [
            {"id": run_id, "kind": "train", "run": "run", "name": "run", "point": {}},
            {"id": "pruning-00000000000000aa", "kind": "pruning", "run": "run", "name": "pruning", "point": {}},
            {"id": "lottery-00000000000000bb", "kind": "lottery", "run": "run", "name": "lottery", "point": {}},
            {"id": "dynamics-00000000000000cc", "kind": "dynamics", "run": "run", "name": "dynamics", "point": {}},
        ]
        failed = [{"stage_id": "dynamics-00000000000000cc", "label": "dynamics", "point": {}, "error": "RuntimeError: [no] probe"}]
        write_index(store, plan, failed)
        await until(lambda: labels(app)[:1] == ["live  1 run · 0 studies · 2 pending · 1 bad"])
        assert labels(app)[:2] == ["live  1 run · 0 studies · 2 pending · 1 bad", "run"]
        # the status line follows the store as it appears, not the "no store" it started with
        assert static_text(app, "#status").startswith("1 store · 1 run, 0 studies done · 2 pending · polled")
        assert app.detail is not None and app.detail.title == "store live (spec sample)"  # the problem node it showed is gone
        await goto(pilot, tui_details.stage_key(root, "pruning-00000000000000aa"))
        assert labels(app)[1:5] == ["run", "pruning  pending", "lottery  pending", "dynamics  failed"]
        assert "pending" in static_text(app, "#message")
        await goto(pilot, tui_details.stage_key(root, "dynamics-00000000000000cc"))
        assert static_text(app, "#message") == "dynamics-00000000000000cc: failed in the last run:\nRuntimeError: [no] probe"
        await goto(pilot, tui_details.stage_key(root, "pruning-00000000000000aa"))
        # The run writes its studies; a writer's temporary file sits beside them meanwhile.
        (root / "stages" / ".lottery-00000000000000bb.h5.99.tmp").write_bytes(b"\x89HDF\r\n\x1a\npartial")
        summary, curves, tensors = pruning_result(0)
        write_study(store, "pruning", run_id, "run", "pruning", summary, curves, tensors, sid="pruning-00000000000000aa")
        summary, curves, tensors = lottery_result(0)
        write_study(store, "lottery", run_id, "run", "lottery", summary, curves, tensors, sid="lottery-00000000000000bb")
        write_index(store, plan, failed)
        await until(lambda: app.detail is not None and app.detail.table is not None and labels(app)[1:4] == ["run", "pruning", "lottery"])
        assert labels(app)[:5] == ["live  1 run · 2 studies · 1 bad", "run", "pruning", "lottery", "dynamics  failed"]
        assert static_text(app, "#status").startswith("1 store · 1 run, 2 studies done · polled")
        assert static_text(app, "#title") == "pruning run/pruning"
        assert table_columns(app)[0] == "criterion"


@run_async
async def test_results_that_arrive_after_the_app_closed_are_dropped(sample: Path) -> None:
    """A poll's scan (or a detail, or a search) can finish while the app shuts down; what it
    posts then must not raise into the closing app."""
    from redundancy.tui import source
    from redundancy.tui.app import Rescanned

    root = sample
    app = RedundancyApp([root], poll=0)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        detail = app.detail
        assert detail is not None
    assert not app.query(StoreTree)
    app.scanning = True
    app.on_rescanned(Rescanned(source.discover([root]), {root: list_store(root)}, True))
    assert app.scanning is False
    app.show_detail(detail)
    app._found("pruning", [])


# --- pure pieces -----------------------------------------------------------------------------------


REAL_SPEC = """\
name: real
seed: 0
data: {name: xord, input_dim: 3, train_samples: 400, test_samples: 200}
model: {name: mlp, widths: [16]}
train: {iterations: 60, batch_size: 32, lr: 0.05, eval_interval: 20, checkpoints: "log:4"}
studies:
  - {kind: pruning, layer: fc1}
  - {kind: subspace, layer: fc1}
  - {kind: lottery, rounds: 2}
  - {kind: dynamics}
"""


def test_every_view_reads_what_the_real_engine_writes(tmp_path: Path) -> None:
    """The views against the studies' own output (not only the documented formats)."""
    from support.tiny import run_spec

    _, store, report = run_spec(tmp_path, REAL_SPEC, "real.yaml")
    assert not report.failed
    listing = list_store(store.root)
    studies = {e.study_kind: e for e in listing.entries() if e.stage_kind == "study"}
    assert set(studies) == {"pruning", "subspace", "lottery", "dynamics"}
    first = {
        "pruning": ("test accuracy vs units removed", 5),
        "subspace": ("test accuracy vs k", 1),
        "lottery": ("test accuracy per round", 3),
        "dynamics": ("frame potential", 2),
    }
    for kind, entry in studies.items():
        detail = tui_details.study_detail(listing, entry)
        assert detail.message == "" and detail.table is not None and detail.table.rows, kind
        title, lines = first[kind]
        panel = detail.panels[0]
        assert isinstance(panel, PlotPanel) and panel.title.startswith(title), kind
        assert len(panel.series) == lines and all(len(s.x) == len(s.y) > 1 for s in panel.series), kind
        assert all(isinstance(p, TablePanel) or p.series for p in detail.panels if not isinstance(p, HeatmapPanel)), kind
        # the table's tooltip defines its metrics from the kind's own definitions
        defined = detail.table.definitions
        for row in detail.table.rows:  # every number is under a defined column or beside a defined row label
            for column, cell in zip(detail.table.columns[1:], row[1:]):
                assert not isinstance(cell, (int, float)) or column in defined or str(row[0]) in defined, (kind, column, row[0])
    trajectories = [p for p in tui_details.study_detail(listing, studies["dynamics"]).panels if "trajectory" in p.title]
    assert [p.title.split(":")[0] for p in trajectories] == ["fc1", "fc2"]
    run = tui_details.run_detail(listing, listing.runs[0])
    assert [p.title for p in run.panels] == ["loss vs iteration", "accuracy vs iteration"]



def test_views_read_typed_results_decoded_from_every_stored_form() -> None:
    from redundancy.store.results import decode
    from redundancy.tui.views import VIEWS, view_for

    assert set(VIEWS) == {"pruning", "subspace", "lottery", "dynamics", "unit_ticket", "correspondence"}
    summary, curves, _ = pruning_result(0)
    nested = decode("pruning", {}, {"fc1@best": curves, "fc2@best": curves})
    assert {(c.key["layer"], c.key["checkpoint"]) for c in nested.curves} == {("fc1", "best"), ("fc2", "best")}
    panel = VIEWS["pruning"].panels(nested)[0]
    assert isinstance(panel, PlotPanel)
    assert [s.label for s in panel.series][:2] == ["fc1@best/magnitude:smallest", "fc1@best/magnitude:largest"]
    single = VIEWS["pruning"].panels(decode("pruning", {}, {"fc1@best": curves}))[0]
    assert [s.label for s in single.series][0] == "magnitude:smallest"  # a single panel names what varies only
    bare = decode("pruning", summary, curves, {"layer": "fc1", "checkpoint": "best"})
    assert bare.curves[0].key["layer"] == "fc1" and bare.rows(criterion="random")
    for kind, result in (("subspace", subspace_result), ("lottery", lottery_result), ("dynamics", dynamics_result)):
        s, c, _ = result(0)
        assert VIEWS[kind].table(s).rows and VIEWS[kind].panels(decode(kind, s, c))
    # Log-spaced checkpoints and ranks into the hundreds get a log(1 + x) axis; pruning stays linear.
    logspaced = {"fc1": {"iteration": [0, 1, 3, 10, 31, 97, 305, 956, 3000], "frame_potential": [1.0] * 9}}
    assert VIEWS["dynamics"].panels(decode("dynamics", {}, logspaced))[0].logx
    ranks = {"fc1@final:update": {"top": {"k": list(range(301)), "accuracy": [0.5] * 301}}}
    assert VIEWS["subspace"].panels(decode("subspace", {}, ranks))[0].logx
    assert not VIEWS["pruning"].panels(bare)[0].logx
    generic = view_for("unheard-of")
    assert generic.kind == "generic"
    panels = generic.panels(decode("unheard-of", {}, {"a": {"iteration": [0, 1, 2], "score": [1, 2, 3]}}))
    assert isinstance(panels[0], PlotPanel) and panels[0].title == "score vs iteration"


def test_only_the_tui_imports_textual() -> None:
    """The engine, store, studies and every other module run without the UI (an import contract)."""
    import ast

    package = Path(__file__).resolve().parents[1] / "redundancy"
    ui = ("textual", "textual_plotext", "plotext", "redundancy.tui")
    offenders = []
    for path in sorted(package.rglob("*.py")):
        if path.is_relative_to(package / "tui"):
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            offenders += [f"{path.relative_to(package)}: {n}" for n in names if n.split(".")[0] in ui or n.startswith("redundancy.tui")]
    # The one allowed use: the `tui` command imports the app inside its function.
    assert offenders == ["cli.py: redundancy.tui"]
    cli = ast.parse((package / "cli.py").read_text(encoding="utf-8"))
    top_level = [n for n in cli.body if isinstance(n, (ast.Import, ast.ImportFrom))]
    assert not any(isinstance(n, ast.ImportFrom) and (n.module or "").startswith("redundancy.tui") for n in top_level)


def test_cli_tui_without_a_store_says_how_to_make_one(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from redundancy.cli import app

    result = CliRunner().invoke(app, ["tui", str(tmp_path / "absent")])
    assert result.exit_code == 1
    assert "redundancy run specs/quickstart.yaml" in result.output


# --- small terminals, frozen columns, compare ----------------------------------------------------------


@run_async
async def test_at_80x24_the_pruning_table_keeps_criterion_and_auc_in_view(sample: Path) -> None:
    entry = next(e for e in list_store(sample).entries() if e.study_kind == "pruning" and e.run == "seed0")
    app = RedundancyApp([sample], poll=0)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await goto(pilot, tui_details.stage_key(sample, entry.id))
        header = next(line for line in screen_lines(app) if "criterion" in line)
        assert "auc" in header and "acc@90%" not in header  # too narrow for every column
        tooltip = str(app.query_one("#table", DataTable).tooltip)
        assert "auc: area under accuracy" in tooltip and "acc@10%: test accuracy with that percentage" in tooltip
        assert any("magnitude:smallest" in line and "0.7984" in line for line in screen_lines(app))
        table = app.query_one("#table", DataTable)
        table.focus()
        table.scroll_to(x=table.max_scroll_x, animate=False)
        await settle(pilot)
        header = next(line for line in screen_lines(app) if "criterion" in line)
        assert "auc" in header and "acc@90%" in header  # scrolled sideways, the first two columns stay
        assert any("magnitude:smallest" in line and "0.7984" in line for line in screen_lines(app))


@run_async
async def test_compare_shows_differing_rows_and_both_items_at_120_columns(tmp_path: Path) -> None:
    root = tmp_path / "wide"
    sample_store(root, kinds=("pruning",))
    long_source = "a data source described at great length: " + "x" * 150
    for group in list_store(root).runs:
        assert group.train is not None and group.train.path is not None
        with h5py.File(group.train.path, "a") as f:
            f.attrs["data_source"] = long_source
        reseal(group.train.path)
    app = RedundancyApp([root], poll=0)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("down", "space", "down", "space", "c")
        await settle(pilot)
        rows = {r[0]: r[1:] for r in table_rows(app)}
        assert rows["test_accuracy"] == ["0.9", "0.88"] and "model" not in rows and "data_source" not in rows
        assert any(label.endswith("row(s) the same in all") for label in rows), list(rows)
        await pilot.press("a")
        await settle(pilot)
        rows = {r[0]: r[1:] for r in table_rows(app)}
        assert rows["model"] == ["mlp", "mlp"] and rows["data_source"][0].endswith("…")
        header = next(line for line in screen_lines(app) if "seed0" in line and "▕" in line and "seed1" in line.split("▕", 1)[1])
        assert header.index("seed0") < header.rindex("seed1") <= 120
        await pilot.press("a")
        await settle(pilot)
        assert "model" not in {r[0] for r in table_rows(app)}


@run_async
async def test_help_is_made_from_the_bindings(sample: Path) -> None:
    from textual.binding import Binding

    from redundancy.tui.widgets import HelpScreen, help_rows

    bindings = [b for b in (*StoreTree.BINDINGS, *RedundancyApp.BINDINGS) if isinstance(b, Binding)]
    rows = help_rows(bindings)
    assert len(rows) == len(bindings) and all(what for _, what in rows)
    assert ("c", RedundancyApp.BINDINGS[3].tooltip) in rows  # type: ignore[union-attr]
    keys = dict(rows)  # each binding under its own key, not the footer's "[ ]" for the pair
    assert keys["]"].startswith("next plot") and keys["["].startswith("previous plot") and "[ ]" not in keys
    app = RedundancyApp([sample], poll=0)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("question_mark")
        await settle(pilot)
        assert isinstance(app.screen, HelpScreen) and app.screen.rows == rows
        shown = "\n".join(screen_lines(app))
        for key, what in rows:
            assert what[:30] in shown, what


def test_every_tui_module_stays_small() -> None:
    """The browser is split by screen area; a module past 350 lines is doing two areas' work."""
    package = Path(__file__).resolve().parents[1] / "redundancy" / "tui"
    sizes = {p.relative_to(package).as_posix(): len(p.read_text(encoding="utf-8").splitlines()) for p in package.rglob("*.py")}
    assert len(sizes) > 10 and not {name: n for name, n in sizes.items() if n > 350}


def test_the_tree_tells_weight_from_bias_however_narrow() -> None:
    from redundancy.tui.tree import member_label

    assert member_label("blocks.fc1.layer.weight") == "fc1.weight" and member_label("blocks.fc1.layer.bias") == "fc1.bias"
    assert member_label("blocks.conv1.norm.running_mean") == "conv1.norm.running_mean"
    assert member_label("accuracy") == "accuracy" and member_label("blocks.x") == "blocks.x"

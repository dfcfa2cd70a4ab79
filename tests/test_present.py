"""The presentation module: one formatter, one palette, one label table, without a UI library."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np

from redundancy.present.format import MISSING, PALETTE, fmt, label, mean_std, terminal_palette
from redundancy.store import Store


def test_present_imports_no_rich_textual_or_matplotlib() -> None:
    code = (
        "import sys, redundancy.present.format, redundancy.present.text\n"
        "loaded = sorted(m for m in ('rich', 'textual', 'matplotlib') if m in sys.modules)\n"
        "print(','.join(loaded))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_one_formatter_for_every_medium() -> None:
    assert fmt(None) == MISSING == "—"
    assert (fmt(True), fmt(np.bool_(False))) == ("yes", "no")
    assert (fmt(0.123456), fmt(np.float32(2.5)), fmt(float("nan")), fmt(np.int64(7))) == ("0.1235", "2.5", "n/a", "7")
    assert (fmt([1, 2.0]), fmt(list(range(9))), fmt({"a": None})) == ("[1, 2]", "[9 values]", "a: —")
    assert mean_std(0.91234, 0.0042) == "0.9123 ± 0.0042" and mean_std(None, None) == "—" and mean_std(None, None, missing=2) == "n/a"


def test_the_cli_tui_and_report_use_the_one_formatter_and_palette() -> None:
    import redundancy.cli as cli
    import redundancy.present.tables as tables
    import redundancy.report.model as report_model
    import redundancy.report.style as style
    import redundancy.tui.views.base as views
    import redundancy.tui.widgets as widgets

    assert cli.fmt is fmt and report_model.fmt is fmt and tables.fmt is fmt
    # one summary-to-table builder and one grid-table builder behind show, the TUI and the report
    assert views.summary_tables is tables.summary_tables and report_model.build_summary_tables is tables.summary_tables
    import redundancy.report.grid as report_grid
    import redundancy.tui.details as details

    assert report_grid.grid_table_data is tables.grid_table_data and details.grid_table_data is tables.grid_table_data
    assert style.PALETTE is PALETTE and widgets.PALETTE == terminal_palette() and len(widgets.PALETTE) == len(PALETTE)


def test_labels_are_readable() -> None:
    assert label("magnitude:smallest") == "magnitude, smallest first"
    assert label("frame_potential:largest") == "frame potential, largest first"
    assert label("fc1@final:update/top/k_within_1pt") == "fc1 at final · update W − W₀ · top · first evaluated k within 1 pt"
    assert (label("auc"), label("acc@75%"), label("test_accuracy")) == ("AUC", "acc@75%", "test accuracy")


LONG = "width0.25_lr0.1_a_run_name_longer_than_any_80_column_table_leaves_room_for"


def _show(root: Path, *args: str) -> str:
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
    result = subprocess.run([sys.executable, "-m", "redundancy", "show", str(root), *args], capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_show_piped_prints_whole_names_and_width_forces_a_layout(tmp_path: Path) -> None:
    from support.tui_samples import pruning_result, write_index, write_run, write_study

    store = Store(tmp_path / "store")
    plan = []
    for seed in (0, 1):
        run_id = write_run(store, f"{LONG}_seed{seed}", seed)
        summary, curves, tensors = pruning_result(seed)
        study = write_study(store, "pruning", run_id, f"{LONG}_seed{seed}", "magnitude_and_frame_potential_criteria", summary, curves, tensors)
        plan += [
            {"id": run_id, "kind": "train", "run": f"{LONG}_seed{seed}", "name": f"{LONG}_seed{seed}", "point": {"seed": seed}},
            {"id": study, "kind": "pruning", "run": f"{LONG}_seed{seed}", "name": "magnitude_and_frame_potential_criteria", "point": {"seed": seed}},
        ]
    write_index(store, plan)

    piped = _show(store.root, "--studies")
    assert f"{LONG}_seed0" in piped and f"{LONG}_seed1" in piped and "…" not in piped
    assert "frame_potential:smallest" in piped and "magnitude_and_frame_potential_criteria" in piped
    assert re.search(r"\d\.\d+ ± \d", piped)

    narrow = _show(store.root, "--width", "80")
    assert max(len(line) for line in narrow.splitlines()) <= 80
    assert LONG not in narrow  # folded onto more lines, not cut short with an ellipsis
    assert "…" not in narrow
    means = [line for line in narrow.splitlines() if "±" in line and line.startswith("│")]
    assert means and all(re.search(r"\d ± \d", line) for line in means)  # mean ± std never breaks across lines

"""The presentation module: one formatter, one palette, one label table, without a UI library."""

from __future__ import annotations

import subprocess
import sys

import numpy as np

from redundancy.present.format import MISSING, PALETTE, fmt, label, mean_std, terminal_palette


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
    import redundancy.report.model as report_model
    import redundancy.report.style as style
    import redundancy.tui.views.base as views
    import redundancy.tui.widgets as widgets

    assert cli.fmt is fmt and report_model.fmt is fmt and views.fmt is fmt
    assert style.PALETTE is PALETTE and widgets.PALETTE == terminal_palette() and len(widgets.PALETTE) == len(PALETTE)


def test_labels_are_readable() -> None:
    assert label("magnitude:smallest") == "magnitude, smallest first"
    assert label("frame_potential:largest") == "frame potential, largest first"
    assert label("fc1@final:update/top/k_within_1pt") == "fc1 at final · update W − W₀ · top · first evaluated k within 1 pt"
    assert (label("auc"), label("acc@75%"), label("test_accuracy")) == ("AUC", "acc@75%", "test accuracy")

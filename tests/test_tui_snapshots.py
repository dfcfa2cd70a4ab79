"""Screenshots of the TUI's main screens, compared with the accepted ones in ``__snapshots__``.

The sample store holds fixed, closed-form data and no screen shows a path or a
clock, so a screenshot changes only when what the app draws changes. After an
intended change, review the new pictures with
``pytest tests/test_tui_snapshots.py --snapshot-update`` and commit them.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from redundancy.tui import RedundancyApp
from redundancy.tui import details as tui_details
from redundancy.tui.source import list_store
from support.pilot import settle

SnapCompare = Callable[..., bool]


@pytest.fixture
def sample(tui_sample: Path) -> Path:
    """The session's sample store (``tui_sample`` in conftest.py); these tests only read it."""
    return tui_sample


def at_study(root: Path, kind: str, *keys: str) -> Callable[[Any], Awaitable[None]]:
    """A ``run_before`` that opens seed0's study of ``kind`` and then presses ``keys``."""

    async def run_before(pilot: Any) -> None:
        entry = next(e for e in list_store(root).entries() if e.study_kind == kind and e.run == "seed0")
        await settle(pilot)
        app: RedundancyApp = pilot.app
        app._reveal(tui_details.stage_key(root, entry.id))
        await settle(pilot)
        app.query_one("#tree").move_cursor(app.nodes[tui_details.stage_key(root, entry.id)])
        await settle(pilot)
        for key in keys:
            await pilot.press(key)
        await settle(pilot)

    return run_before


@pytest.mark.parametrize("kind", ["pruning", "subspace", "lottery", "dynamics"])
def test_study_view(snap_compare: SnapCompare, sample: Path, kind: str) -> None:
    """Each study kind's table and first plot at 100 × 30."""
    assert snap_compare(RedundancyApp([sample], poll=0), terminal_size=(100, 30), run_before=at_study(sample, kind))


def test_run_training_curves(snap_compare: SnapCompare, sample: Path) -> None:
    """A run: headline numbers and loss vs iteration."""

    async def run_before(pilot: Any) -> None:
        await settle(pilot)
        await pilot.press("down")
        await settle(pilot)

    assert snap_compare(RedundancyApp([sample], poll=0), terminal_size=(100, 30), run_before=run_before)


def test_weight_matrix_heatmap(snap_compare: SnapCompare, sample: Path) -> None:
    """A 2-D weight shown as a heatmap with its scale, beside shape, dtype and statistics."""

    async def run_before(pilot: Any) -> None:
        await settle(pilot)
        app: RedundancyApp = pilot.app
        train = list_store(sample).runs[0].train
        assert train is not None and train.path is not None
        app.nodes[tui_details.run_key(sample, "seed0")].expand()
        await settle(pilot)
        for name in ("/", "/checkpoints", "/checkpoints/00000060"):
            app.nodes[tui_details.h5_key(train.path, name)].expand()
            await settle(pilot)
        app.query_one("#tree").move_cursor(app.nodes[tui_details.h5_key(train.path, "/checkpoints/00000060/blocks.fc1.layer.weight")])
        await settle(pilot)

    assert snap_compare(RedundancyApp([sample], poll=0), terminal_size=(100, 30), run_before=run_before)


SIZES = [(80, 24), (120, 40)]


def marked_compare(root: Path, kind: str | None, *keys: str) -> Callable[[Any], Awaitable[None]]:
    """A ``run_before`` that marks seed0's and seed1's runs (``kind`` None) or studies of ``kind``, then compares."""

    async def run_before(pilot: Any) -> None:
        await settle(pilot)
        app: RedundancyApp = pilot.app
        listing = list_store(root)
        if kind is None:
            targets = [tui_details.run_key(root, label) for label in ("seed0", "seed1")]
        else:
            targets = [tui_details.stage_key(root, e.id) for e in listing.entries() if e.study_kind == kind]
        for key in targets:
            app._reveal(key)
            await settle(pilot)
            app.query_one("#tree").move_cursor(app.nodes[key])
            await settle(pilot)
            await pilot.press("space")
        for key in ("c", *keys):
            await pilot.press(key)
            await settle(pilot)

    return run_before


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_pruning_table(snap_compare: SnapCompare, sample: Path, size: tuple[int, int]) -> None:
    """The pruning table: criterion and auc first, both frozen while the accuracies scroll."""
    assert snap_compare(RedundancyApp([sample], poll=0), terminal_size=size, run_before=at_study(sample, "pruning"))


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_compare_pruning_studies(snap_compare: SnapCompare, sample: Path, size: tuple[int, int]) -> None:
    """Two pruning studies compared: only the rows that differ, the curves overlaid."""
    assert snap_compare(RedundancyApp([sample], poll=0), terminal_size=size, run_before=marked_compare(sample, "pruning"))


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_grid_summary(snap_compare: SnapCompare, sample: Path, size: tuple[int, int]) -> None:
    """The store node of a grid (two seeds): runs, and each study's headline numbers, mean ± std over seeds."""

    async def run_before(pilot: Any) -> None:
        await settle(pilot)
        await pilot.press("right_square_bracket", "right_square_bracket", "right_square_bracket", "right_square_bracket")
        await settle(pilot)

    assert snap_compare(RedundancyApp([sample], poll=0), terminal_size=size, run_before=run_before)

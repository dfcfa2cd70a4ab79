"""TUI controls: the tree's width, the loss axes' scale, node kinds, compared curves of
networks of different widths against the fraction of units removed, and the screen areas
as widgets that post messages."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.app import App
from textual.message import Message

from redundancy.store.results import Curve, Results
from redundancy.tui import RedundancyApp
from redundancy.tui import details as tui_details
from redundancy.tui.compare import relative_axis, with_x
from redundancy.tui.model import PlotPanel
from redundancy.tui.nodes import NODE_KINDS, GONE, StudyNode, node_kind
from redundancy.tui.pane import DetailPane
from redundancy.tui.search import SearchBox
from redundancy.tui.tree import NodeRef, StoreTree
from redundancy.tui.views import view_for
from redundancy.tui.widgets import CurvePlot, help_rows
from support.pilot import run_async, settle
from support.tui_samples import sample_store

SIZE = (100, 30)


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("controls") / "sample"
    sample_store(root, kinds=("pruning",), seeds=(0,))
    return root


@run_async
async def test_the_tree_widens_and_narrows_and_loss_axes_toggle_log(sample: Path) -> None:
    keys = dict(help_rows([*StoreTree.BINDINGS, *RedundancyApp.BINDINGS]))
    assert {"<", ">", "l"} <= set(keys) and "log" in keys["l"]  # in the generated help
    app = RedundancyApp([sample], poll=0)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        tree = app.query_one(StoreTree)
        start = tree.outer_size.width
        await pilot.press("greater_than_sign", "greater_than_sign")
        await settle(pilot)
        assert tree.outer_size.width == start + 8
        await pilot.press("less_than_sign")
        await settle(pilot)
        assert tree.outer_size.width == start + 4
        for _ in range(40):  # never past the pane's minimum, never below the tree's
            await pilot.press("greater_than_sign")
        await settle(pilot)
        assert tree.outer_size.width == SIZE[0] - 30
        for _ in range(40):
            await pilot.press("less_than_sign")
        await settle(pilot)
        assert tree.outer_size.width == 12
        await pilot.press("down")  # the run: its loss curves
        await settle(pilot)
        plot = app.query_one("#plot", CurvePlot)
        assert app.detail is not None and app.detail.panels[0].title == "loss vs iteration"
        assert not plot.logy
        await pilot.press("l")
        await settle(pilot)
        assert plot.logy and "log" in app.status_text.plain
        await pilot.press("right_square_bracket")  # accuracy is never drawn on a log axis
        await settle(pilot)
        assert not plot.logy
        await pilot.press("left_square_bracket", "l")
        await settle(pilot)
        assert not plot.logy


def test_node_kinds_are_classes() -> None:
    assert {k for k, c in NODE_KINDS.items() if c.markable} == {"run", "study"}
    assert {k for k, c in NODE_KINDS.items() if c.lazy} == {"study", "group", "file"}
    assert node_kind("study") is StudyNode and NodeRef("study", "k").markable and not NodeRef("store", "k").markable
    gone = node_kind("no such kind").detail(NodeRef("x", "key"), {}, [], False)
    assert gone.message == GONE
    assert "no file" in node_kind("dataset").detail(NodeRef("dataset", "key"), {}, [], False).message


def pruning(n: int) -> Results:
    removed = list(range(0, n + 1, n // 4))
    return Results("pruning", curves=[Curve(
        {"layer": "fc1", "checkpoint": "final", "criterion": "random", "direction": None}, "units_removed",
        {"units_removed": removed, "fraction_removed": [r / n for r in removed], "accuracy": [0.9 - 0.5 * r / n for r in removed]},
    )])


def test_curves_of_different_widths_compare_against_the_fraction_removed() -> None:
    assert relative_axis([pruning(16), pruning(16)]) is None  # same size: units removed as stored
    axis = relative_axis([pruning(16), pruning(64)])
    assert axis == ("fraction_removed", "fraction of units removed", "units_removed")
    (accuracy,) = [p for p in view_for("pruning").panels(with_x(pruning(64), axis[0])) if isinstance(p, PlotPanel)][:1]
    assert accuracy.series[0].x == [0.0, 0.25, 0.5, 0.75, 1.0]


@run_async
async def test_screen_areas_are_widgets_that_keep_their_state_and_post_messages(sample: Path) -> None:
    """The app is no mix of its areas: the tree keeps the marks and says when they change, the
    search box keeps its matches and says when a search is done, the pane keeps what it shows."""
    assert RedundancyApp.__bases__ == (App,)
    seen: list[Message] = []
    app = RedundancyApp([sample], poll=0)
    async with app.run_test(size=SIZE, message_hook=seen.append) as pilot:
        await settle(pilot)
        run = tui_details.run_key(sample, "seed0")
        await pilot.press("space", "down", "space")  # the store cannot be marked; the run can
        await settle(pilot)
        posted = list({id(m): m for m in seen if isinstance(m, (StoreTree.NotMarkable, StoreTree.MarksChanged))}.values())
        assert [type(m) for m in posted] == [StoreTree.NotMarkable, StoreTree.MarksChanged]
        assert posted[1].marked == (run,) and app.query_one(StoreTree).marked == [run]
        assert app.query_one(DetailPane).detail is app.detail and app.detail is not None and app.detail.key == run
        await pilot.press("slash", *"seed0", "enter")
        await settle(pilot)
        found = [m for m in seen if isinstance(m, SearchBox.Found)]
        assert found and found[-1].words == "seed0" and run in found[-1].found
        assert app.query_one(SearchBox).matches == found[-1].found

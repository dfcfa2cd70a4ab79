"""Driving the Textual app in the TUI tests: async tests without a plugin, waiting for the app to
settle, moving the tree cursor to a node, and reading the screen back as text."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable
from typing import Any


def run_async(test: Callable[..., Awaitable[None]]) -> Callable[..., None]:
    """Run an ``async def`` test with ``asyncio.run`` (no asyncio pytest plugin is needed)."""

    @functools.wraps(test)
    def wrapper(*args: Any, **kwargs: Any) -> None:
        asyncio.run(test(*args, **kwargs))

    return wrapper


async def settle(pilot: Any) -> None:
    """Wait until the app's workers are done and their results are on screen."""
    app = pilot.app
    for _ in range(3):
        await pilot.pause()
        await app.workers.wait_for_complete()
    await pilot.pause()
    await asyncio.sleep(0)


def screen_lines(app: Any) -> list[str]:
    """The app's screen as text lines, from its SVG screenshot (one <text> per run of a style)."""
    import html
    import re

    svg = app.export_screenshot()
    rows: dict[float, list[tuple[float, str]]] = {}
    for m in re.finditer(r'<text class="[^"]*" x="([\d.]+)" y="([\d.]+)"[^>]*>(.*?)</text>', svg):
        rows.setdefault(float(m.group(2)), []).append((float(m.group(1)), html.unescape(m.group(3)).replace("\xa0", " ")))
    lines = []
    for y in sorted(rows):
        line = ""
        for x, text in sorted(rows[y]):
            line = line.ljust(int(round(x / 12.2))) + text
        lines.append(line.rstrip())
    return lines


async def goto(pilot: Any, key: str) -> None:
    """Put the tree cursor on the node with ``key`` (expanding what leads to it) and wait."""
    from redundancy.tui.tree import StoreTree

    app = pilot.app
    app._reveal(key)
    await settle(pilot)
    app.query_one(StoreTree).move_cursor(app.nodes[key])
    await settle(pilot)

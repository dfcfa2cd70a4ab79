"""The status line: one message at a time, every one made safe for the terminal.

It shows either what the last action did or a summary of the stores; the
summary is kept current by each scan (a store appears, stages finish) until an
action says something else.
"""

from __future__ import annotations

from pathlib import Path

from rich.text import Text
from textual.widgets import Static

from redundancy.tui.source import Listing, Source
from redundancy.tui.text import safe_text


class StatusLine(Static):
    """The line under the pane: what the last action did, or the stores' summary."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(Text(""), id=id)
        self.text = Text("")
        self.is_summary = False  # it shows the store counts, kept current by each scan

    def say(self, text: Text, *, summary: bool = False) -> None:
        self.is_summary = summary
        self.text = safe_text(text)
        self.update(self.text)


def summary(sources: list[Source], listings: dict[Path, Listing], poll: float) -> Text:
    """The stores' summary: stores, runs and studies done, pending, paths without a store, polling."""
    n = sum(1 for s in sources if s.kind == "store")
    bad = sum(1 for s in sources if s.kind == "problem")
    text = Text(f"{n} store{'s' * (n != 1)}")
    counts = [listing.counts() for listing in listings.values()]
    runs, studies, running = (sum(c.get(k, 0) for c in counts) for k in ("runs", "studies", "pending"))
    if n:
        text.append(f" · {runs} run{'s' * (runs != 1)}, {studies} stud{'ies' if studies != 1 else 'y'} done")
    if running:
        text.append(f" · {running} pending")
    if bad:
        text.append(f" · {bad} path{'s' * (bad != 1)} without a store", style="red")
    if poll > 0:
        text.append(f" · polled every {poll:g} s")
    text.append(" · ? for help")
    return text

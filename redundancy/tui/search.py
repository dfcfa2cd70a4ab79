"""Search: ``/`` opens a box, enter finds every node whose names or spec values hold all the words.

The texts are gathered in a worker thread (reading attributes of every stage);
``n`` / ``N`` step through the matches, opening the tree down to each.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rich.text import Text
from textual import work
from textual.widgets import Input
from textual.worker import get_current_worker

from redundancy.store import layout as L
from redundancy.tui import source
from redundancy.tui.details import complete, index_attrs, run_key, stage_key, store_key
from redundancy.tui.source import Listing, SourceError
from redundancy.tui.tree import StoreTree


def search_texts(listing: Listing) -> list[tuple[str, str]]:
    """(node key, searchable text) for a store, its runs and studies: names and spec values."""
    def spec_words(attrs: dict[str, Any]) -> str:
        try:
            config = source.json_attr(attrs, L.A_CONFIG, {}) or {}
        except SourceError:
            return ""
        return " ".join(f"{k}={v}" for k, v in source.flatten(config).items())

    out: list[tuple[str, str]] = []
    try:
        spec_text = str(index_attrs(listing).get(L.A_SPEC_TEXT, ""))
    except SourceError:
        spec_text = ""
    out.append((store_key(listing.root), f"{listing.name} {listing.spec_name} {spec_text}"))
    for group in listing.runs:
        words = group.label
        complete(group.train)
        if group.train is not None and group.train.record is not None and group.train.status == "done":
            attrs = group.train.record.attrs
            words += f" {group.train.id} {attrs.get(L.A_MODEL, '')} {attrs.get(L.A_DATASET, '')} {spec_words(attrs)}"
        out.append((run_key(listing.root, group.label), words))
        for entry in group.studies:
            words = f"{entry.name} {entry.study_kind} {entry.id} {entry.status}"
            complete(entry)
            if entry.record is not None and entry.status == "done":
                words += " " + spec_words(entry.record.attrs)
            out.append((stage_key(listing.root, entry.id), words))
    return out


def matches(texts: Sequence[tuple[str, str]], query: str) -> list[str]:
    """Keys whose text holds every word of ``query`` (case-insensitive)."""
    words = query.lower().split()
    if not words:
        return []
    return [key for key, text in texts if all(w in text.lower() for w in words)]


class Search:
    """The app's search box and match stepping (a part of :class:`redundancy.tui.app.RedundancyApp`)."""

    matches: list[str]
    match_index: int
    nodes: dict[str, Any]
    listings: dict[Path, Listing]
    query_one: Any

    def action_search(self) -> None:
        box = self.query_one("#search", Input)
        box.add_class("-active")
        box.focus()

    def action_close_search(self) -> None:
        box = self.query_one("#search", Input)
        if box.has_class("-active"):
            box.remove_class("-active")
            self.query_one(StoreTree).focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id != "search":
            return
        query = event.value.strip()
        self.action_close_search()
        if query:
            self.set_status(Text(f"searching for {query!r}…"))
            self._search_worker(query, dict(self.listings))

    @work(thread=True, exclusive=True, group="search")
    def _search_worker(self, query: str, listings: dict[Path, Listing]) -> None:
        texts: list[tuple[str, str]] = []
        for listing in listings.values():
            texts += search_texts(listing)
        texts += [(key, node.label.plain if isinstance(node.label, Text) else str(node.label)) for key, node in list(self.nodes.items()) if key.startswith("h5:")]
        found = matches(texts, query)
        if not get_current_worker().is_cancelled:
            self.call_from_thread(self._found, query, found)

    def _found(self, query: str, found: list[str]) -> None:
        if not self._mounted():
            return
        self.matches = found
        self.match_index = -1
        if not found:
            self.set_status(Text(f"no match for {query!r}"))
            return
        self.action_next_match(1)
        self.set_status(Text(f"{len(found)} match{'es' * (len(found) != 1)} for {query!r} · n / N: next / previous"))

    def action_next_match(self, step: int) -> None:
        if not self.matches:
            return
        self.match_index = (self.match_index + step) % len(self.matches)
        key = self.matches[self.match_index]
        self._reveal(key)
        node = self.nodes.get(key)
        if node is None:
            return
        tree = self.query_one(StoreTree)
        # Nodes just revealed get their line numbers at the next repaint; move after it.
        tree.call_after_refresh(tree.move_cursor, node)
        tree.focus()

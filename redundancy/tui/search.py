"""Search: ``/`` opens a box, enter finds every node whose names or spec values hold all the words.

The texts are gathered in a worker thread (reading attributes of every stage);
``n`` / ``N`` step through the matches, opening the tree down to each.
:class:`SearchBox` owns the box and the matches.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from textual import work
from textual.message import Message
from textual.widgets import Input
from textual.worker import get_current_worker

from redundancy.store import layout as L
from redundancy.tui import source
from redundancy.tui.details import complete, index_attrs, run_key, stage_key, store_key
from redundancy.tui.source import Listing, SourceError


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


class SearchBox(Input):
    """The search box (hidden until ``/``) and the matches of the last search, which ``n`` / ``N`` step through.

    It posts :class:`Asked` when enter is pressed and :class:`Found` when a search is done; the app
    hands it what to search and moves the tree to each match it steps onto."""

    class Asked(Message):
        """Enter pressed in the box: search for ``words`` (empty: the box was closed with nothing to find)."""

        def __init__(self, words: str) -> None:
            super().__init__()
            self.words = words

    class Found(Message):
        """A search is done: the keys of the nodes that match ``words`` (the box keeps them to step through)."""

        def __init__(self, words: str, found: list[str]) -> None:
            super().__init__()
            self.words = words
            self.found = found

    def __init__(self, *, placeholder: str, id: str | None = None) -> None:
        super().__init__(placeholder=placeholder, id=id)
        self.matches: list[str] = []
        self.match_index = -1

    def open(self) -> None:
        self.add_class("-active")
        self.focus()

    def close(self) -> bool:
        """Hide the box; whether it was open."""
        if not self.has_class("-active"):
            return False
        self.remove_class("-active")
        return True

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.post_message(self.Asked(event.value.strip()))

    def search(self, words: str, listings: dict[Path, Listing], members: list[tuple[str, str]]) -> None:
        """Find ``words`` in the stores of ``listings`` (read in a worker) and in ``members``' labels."""
        self._search_worker(words, listings, members)

    @work(thread=True, exclusive=True, group="search")
    def _search_worker(self, words: str, listings: dict[Path, Listing], members: list[tuple[str, str]]) -> None:
        texts: list[tuple[str, str]] = []
        for listing in listings.values():
            texts += search_texts(listing)
        found = matches([*texts, *members], words)
        if not get_current_worker().is_cancelled:
            self.app.call_from_thread(self._found, words, found)

    def _found(self, words: str, found: list[str]) -> None:
        self.matches = found
        self.match_index = -1
        self.post_message(self.Found(words, found))

    def step(self, step: int) -> str | None:
        """The key of the next (``step`` 1) or previous (-1) match, or None when there are none."""
        if not self.matches:
            return None
        self.match_index = (self.match_index + step) % len(self.matches)
        return self.matches[self.match_index]

"""Tree labels: a ``Text`` for each kind of node, never a string, so store contents are never read as markup."""

from __future__ import annotations

from rich.text import Text

from redundancy.tui import source
from redundancy.tui.source import Listing


def store_label(listing: Listing) -> Text:
    c = listing.counts()
    text = Text(listing.name, style="bold")
    text.append(f"  {c['runs']} run{'s' * (c['runs'] != 1)} · {c['studies']} stud{'ies' if c['studies'] != 1 else 'y'}", style="dim")
    if c["pending"]:
        text.append(f" · {c['pending']} pending", style="dim")
    if c["failed"] or c["errors"]:
        text.append(f" · {c['failed'] + c['errors']} bad", style="red")
    return text


def run_label(group: source.RunGroup) -> Text:
    text = Text(group.label)
    if group.train is None:
        text.append("  no train stage", style="dim")
    elif group.train.status != "done":
        text.append(f"  {group.train.status}", style="red" if group.train.status in ("failed", "unreadable", "corrupt") else "dim")
    elif group.train.record is not None and group.train.record.stale:
        text.append("  stale", style="dim italic")
    return text


def study_label(entry: source.StageEntry) -> Text:
    text = Text(entry.name)
    if entry.study_kind and entry.study_kind != entry.name:
        text.append(f"  {entry.study_kind}", style="dim")
    if entry.status != "done":
        text.append(f"  {entry.status}", style="red" if entry.status in ("failed", "unreadable", "corrupt") else "dim italic")
    elif entry.record is not None and entry.record.stale:
        text.append("  stale", style="dim italic")
    return text


def problem_label(name: str, reason: str) -> Text:
    return Text("⚠ ", style="red") + Text(name) + Text(f": {reason}", style="red")


def member_label(name: str) -> str:
    """A stored parameter's name as the tree shows it: ``blocks.fc1.layer.weight`` -> ``fc1.weight``, so the
    part that tells a weight from a bias survives a narrow tree (its full name is in the dataset's view)."""
    parts = name.split(".")
    if len(parts) > 2 and parts[0] == "blocks":
        parts = [p for i, p in enumerate(parts[1:]) if not (p == "layer" and i == 1)]
    return ".".join(parts)

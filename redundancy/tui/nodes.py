"""What each kind of tree node is: whether it can be marked, whether its children are listed
when it opens, and what the right-hand pane reads for it.

A node's ``kind`` (a :class:`NodeRef` field) names one of the small classes
in :data:`NODE_KINDS`; code that used to switch on the string asks the class
instead, so a new kind of node is one class and one line here. Imports run
one way: the tree and the pane import this module, which imports the readers
(:mod:`.details`, :mod:`.datasets`, :mod:`.compare`) and nothing of the widgets.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from rich.text import Text

from redundancy.tui import compare, datasets, details
from redundancy.tui.model import Detail
from redundancy.tui.source import Listing

GONE = "this node is gone from the store (it was re-read)"


@dataclass
class NodeRef:
    """What a tree node stands for; ``key`` is stable across refreshes (see ``details.*_key``)."""

    kind: str  # store | run | study | group | dataset | file | problem | info
    key: str
    root: Path | None = None  # the store this node belongs to
    label: str = ""  # run label (run, study)
    stage_id: str = ""
    path: Path | None = None  # HDF5 file (study, group, dataset, file)
    name: str = "/"  # path inside that file
    reason: str = ""  # problem nodes
    loaded: bool = False  # children of a lazy node are listed
    mtime_ns: int = 0
    title: Text | None = None  # the label without the compare mark

    @property
    def markable(self) -> bool:
        return node_kind(self.kind).markable


class NodeKind:
    """A kind of node: ``markable`` for compare, ``lazy`` when opening it lists its HDF5 members."""

    name: ClassVar[str] = ""
    markable: ClassVar[bool] = False
    lazy: ClassVar[bool] = False

    @classmethod
    def detail(cls, ref: NodeRef, listings: dict[Path, Listing], items: list[compare.Item], all_rows: bool) -> Detail:
        return Detail(key=ref.key, title=ref.key, message=GONE)

    @staticmethod
    def listing(ref: NodeRef, listings: dict[Path, Listing]) -> Listing | None:
        return listings.get(ref.root) if ref.root is not None else None


class StoreNode(NodeKind):
    name = "store"

    @classmethod
    def detail(cls, ref: NodeRef, listings: dict[Path, Listing], items: list[compare.Item], all_rows: bool) -> Detail:
        listing = cls.listing(ref, listings)
        return details.store_detail(listing) if listing is not None else super().detail(ref, listings, items, all_rows)


class RunNode(NodeKind):
    name = "run"
    markable = True

    @classmethod
    def detail(cls, ref: NodeRef, listings: dict[Path, Listing], items: list[compare.Item], all_rows: bool) -> Detail:
        listing = cls.listing(ref, listings)
        group = listing.group(ref.label) if listing is not None else None
        if listing is None or group is None:
            return super().detail(ref, listings, items, all_rows)
        return details.run_detail(listing, group)


class StudyNode(NodeKind):
    name = "study"
    markable = True
    lazy = True

    @classmethod
    def detail(cls, ref: NodeRef, listings: dict[Path, Listing], items: list[compare.Item], all_rows: bool) -> Detail:
        listing = cls.listing(ref, listings)
        entry = listing.entry(ref.stage_id) if listing is not None else None
        if listing is None or entry is None:
            return super().detail(ref, listings, items, all_rows)
        return details.study_detail(listing, entry)


class _FileMember(NodeKind):
    """A node inside an HDF5 file: without its file there is nothing to read."""

    @classmethod
    def detail(cls, ref: NodeRef, listings: dict[Path, Listing], items: list[compare.Item], all_rows: bool) -> Detail:
        if ref.path is None:
            return Detail(key=ref.key, title=ref.key, message="no file for this node")
        return cls.read(ref)

    @classmethod
    def read(cls, ref: NodeRef) -> Detail:
        raise TypeError(f"{cls.__name__} names no reader")


class FileNode(_FileMember):
    name = "file"
    lazy = True

    @classmethod
    def read(cls, ref: NodeRef) -> Detail:
        assert ref.path is not None
        return datasets.file_detail(ref.path)


class GroupNode(_FileMember):
    name = "group"
    lazy = True

    @classmethod
    def read(cls, ref: NodeRef) -> Detail:
        assert ref.path is not None
        return datasets.group_detail(ref.path, ref.name, ref.root)


class DatasetNode(_FileMember):
    name = "dataset"

    @classmethod
    def read(cls, ref: NodeRef) -> Detail:
        assert ref.path is not None
        return datasets.dataset_detail(ref.path, ref.name, ref.root)


class ProblemNode(NodeKind):
    name = "problem"

    @classmethod
    def detail(cls, ref: NodeRef, listings: dict[Path, Listing], items: list[compare.Item], all_rows: bool) -> Detail:
        return details.problem_detail(ref.path or Path("?"), ref.reason)


class CompareNode(NodeKind):
    """Not in the tree: the comparison of the marked nodes, shown like a node's detail."""

    name = "compare"

    @classmethod
    def detail(cls, ref: NodeRef, listings: dict[Path, Listing], items: list[compare.Item], all_rows: bool) -> Detail:
        return compare.compare_detail(items, all_rows=all_rows)


class InfoNode(NodeKind):
    name = "info"


NODE_KINDS: dict[str, type[NodeKind]] = {
    k.name: k for k in (StoreNode, RunNode, StudyNode, FileNode, GroupNode, DatasetNode, ProblemNode, CompareNode, InfoNode)
}


def node_kind(name: str) -> type[NodeKind]:
    """The class of a node kind; an unknown name reads as a node that is gone."""
    return NODE_KINDS.get(name, NodeKind)


def marked_items(keys: list[str], refs: dict[str, NodeRef], listings: dict[Path, Listing]) -> list[compare.Item]:
    """The marked runs and studies (``keys``, in the order they were marked) that are still in the
    tree (``refs``) and in the current listings, resolved for a comparison."""
    items = []
    for key in keys:
        ref = refs.get(key)
        if ref is None or ref.root not in listings:
            continue
        listing = listings[ref.root]
        group = listing.group(ref.label)
        if group is None:
            continue
        entry = listing.entry(ref.stage_id) if node_kind(ref.kind) is StudyNode else None
        items.append(compare.Item(listing, group, entry))
    return items

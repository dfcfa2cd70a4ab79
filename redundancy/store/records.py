"""What a store holds as its reader sees it: a :class:`StageRecord` per stage (done, pending, failed,
unreadable or corrupt, with what its attributes say) and a :class:`StoreReading` per store.

The records are filled by :mod:`redundancy.store.listing`; tensors are read through
:mod:`redundancy.store.tensors`. No torch, Textual, Rich or matplotlib here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from redundancy.store import layout as L
from redundancy.store.attrs import ReadError, parse_json
from redundancy.store.environment import Mix, mixed_message, mixes
from redundancy.store.files import Store

DONE, PENDING, FAILED, UNREADABLE, CORRUPT = "done", "pending", "failed", "unreadable", "corrupt"
#: Statuses of a stage file that is there but is not served: each is a problem of its store.
BAD = (UNREADABLE, CORRUPT)
# Attributes that hold JSON text; one that does not parse makes its stage unreadable.
JSON_ATTRS = (L.A_CONFIG, L.A_IDENTITY, L.A_GRID_POINT, L.A_SUMMARY, L.A_CURVES, L.A_RESULTS, L.A_CHECKPOINT_ITERATIONS)
INDEX_JSON_ATTRS = (L.A_PLAN, L.A_FAILURES, L.A_SPEC_RESOLVED)


@dataclass
class StageRecord:
    """One stage of a store: done, pending, failed, unreadable or corrupt, with what its attributes say."""

    id: str
    stage_kind: str  # "train", "study", or "" when a file does not say
    run: str = ""
    name: str = ""
    study_kind: str = ""
    status: str = DONE
    error: str = ""  # one line: why failed, unreadable or corrupt
    path: Path | None = None
    attrs: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)  # repairs made while decoding (bytes replaced ...)
    grid_point: dict[str, Any] = field(default_factory=dict)
    planned: bool = True
    mtime_ns: int = 0
    run_id: str = ""  # a study's train stage
    complete: bool = True  # every attribute read and checked (False: only the labels, see read_store)
    verified: bool = False  # sizes and checksum checked in this process (see complete)

    @property
    def kind(self) -> str:
        """``train`` or the study kind."""
        return self.study_kind if self.stage_kind == L.KIND_STUDY else (self.stage_kind or "?")

    @property
    def stale(self) -> bool:
        """A stage file the recorded plan does not name (left by an earlier version of the spec)."""
        return not self.planned

    @property
    def done(self) -> bool:
        return self.status == DONE

    def json(self, name: str, default: Any = None) -> Any:
        """A JSON attribute (already checked to parse when the stage is done)."""
        try:
            return parse_json(self.attrs, name, default)
        except ReadError:
            return default

    @property
    def config(self) -> dict[str, Any]:
        value = self.json(L.A_CONFIG, {})
        return value if isinstance(value, dict) else {}


@dataclass
class StoreReading:
    """A store as its reader sees it: index attributes (or why they could not be read) and every stage."""

    root: Path
    index: dict[str, Any] = field(default_factory=dict)
    index_error: str = ""
    index_notes: list[str] = field(default_factory=list)
    spec: dict[str, Any] = field(default_factory=dict)
    stages: list[StageRecord] = field(default_factory=list)
    folder_error: str = ""

    @property
    def name(self) -> str:
        return self.root.name

    @property
    def spec_name(self) -> str:
        return str(self.index.get(L.A_SPEC_NAME) or "")

    @property
    def store(self) -> Store:
        return Store(self.root)

    def runs(self) -> list[StageRecord]:
        return [s for s in self.stages if s.stage_kind == L.KIND_TRAIN]

    def studies(self) -> list[StageRecord]:
        return [s for s in self.stages if s.stage_kind == L.KIND_STUDY]

    def unplaced(self) -> list[StageRecord]:
        """Files in ``stages/`` that say neither train nor study (unreadable, or not stage files)."""
        return [s for s in self.stages if s.stage_kind not in (L.KIND_TRAIN, L.KIND_STUDY)]

    def stage(self, stage_id: str) -> StageRecord | None:
        return next((s for s in self.stages if s.id == stage_id), None)

    def environment_mixes(self) -> list[Mix]:
        """The environment fields on which the store's finished, current stages disagree (none when
        they agree): library versions, BLAS, CPU capability (:mod:`redundancy.store.environment`)."""
        return mixes(s.attrs for s in self.stages if s.done and not s.stale)

    def environment_warning(self) -> str:
        """One line naming what differs between the store's stages, or ``""``."""
        found = self.environment_mixes()
        return mixed_message(found) if found else ""

    def problems(self) -> list[str]:
        """Every one-line problem of the store: its index, its folder, its unreadable stages."""
        out = []
        if self.index_error:
            out.append(f"{self.root / L.INDEX}: {self.index_error}")
        if self.folder_error:
            out.append(f"{self.root / L.STAGES}: {self.folder_error}")
        out += [f"{self.root / L.INDEX}: {note}" for note in self.index_notes]
        for s in self.stages:
            if s.status in BAD:
                out.append(f"{s.path or s.id}: {s.error}")
            out += [f"{s.path or s.id}: {note}" for note in s.notes]
        return out


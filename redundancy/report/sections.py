"""A store's sections of the report: its runs, what is missing, training, the grid, arms across
networks, one section per study and the glossary, read from the store's typed document
(:class:`~redundancy.store.document.Document`) and drawn through a :class:`Drawer`."""

from __future__ import annotations

import re
from typing import Any, Protocol

from redundancy.present.format import name_label
from redundancy.report.document import Section
from redundancy.report.model import Block, NoteBlock, Provenance, StageView, TableBlock, fmt
from redundancy.store import layout as L
from redundancy.store.document import Document, RunEntry, StudyEntry
from redundancy.store.reader import StageRecord, StoreReading


class Drawer(Protocol):
    """What the sections ask of the report being built: which kinds it wants, drawing a stage, placing blocks."""

    @property
    def options(self) -> Any: ...

    def draw(self, kind: str, view: StageView, stem: str, section: Section) -> None: ...

    def place(self, blocks: list[Block], stem: str, prov: Provenance, section: Section) -> None: ...


def _slug(*parts: str) -> str:
    """A file stem from labels: letters, digits, ``_`` and ``-`` only, so it is safe in a URL and on any disk."""
    text = "-".join(p for p in parts if p)
    text = re.sub(r"[^A-Za-z0-9_-]+", "_", text).strip("_-")
    return text or "figure"


def provenance_of(stage_id: str, attrs: dict[str, Any], run: StageRecord | None, spec_name: str) -> Provenance:
    """Provenance of a stage: its own id, device and date; model and data from the run it studies."""
    source = run.attrs if run is not None else attrs
    return Provenance(
        spec_name=str(attrs.get(L.A_SPEC_NAME) or spec_name),
        stage_id=stage_id,
        model=name_label(str(source.get(L.A_MODEL, "model not recorded"))),
        dataset=name_label(str(source.get(L.A_DATASET, "dataset not recorded"))),
        offline_subset=bool(source.get(L.A_OFFLINE_SUBSET, False)),
        data_source=str(source.get(L.A_DATA_SOURCE, "")),
        device=str(attrs.get(L.A_DEVICE, "device not recorded")),
        created=str(attrs.get(L.A_CREATED, "")),
    )


def _runs_table(runs: list[RunEntry]) -> TableBlock:
    columns = ["run", "model", "width", "dataset", "seed", "iterations", "best it.", "test acc.", "test acc. @best", "device"]
    keys = [L.A_MODEL, L.A_WIDTH, L.A_DATASET, L.A_SEED, L.A_ITERATIONS, L.A_BEST_ITERATION, L.A_TEST_ACCURACY,
            L.A_TEST_ACCURACY_AT_BEST, L.A_DEVICE]
    rows = []
    for r in runs:
        if not r.done:
            continue
        row = [fmt(r.name), *(fmt(r.value(k)) for k in keys)]
        for i in (7, 8):
            value = r.value(keys[i - 1])
            row[i] = f"{value:.2%}" if isinstance(value, float) else row[i]
        if r.offline_subset:
            row[3] += " (offline subset)"
        rows.append(row)
    return TableBlock(title="Runs", columns=columns, rows=rows)


def _status_table(doc: Document) -> TableBlock | None:
    rows = []
    for entry in [*doc.runs, *doc.studies]:
        if not entry.done:
            kind = entry.kind if isinstance(entry, StudyEntry) else "train"
            rows.append([entry.id, kind, str(entry.name), entry.status, str(entry.error)])
    if not rows:
        return None
    return TableBlock(
        title="Stages planned but not in the store",
        columns=["stage", "kind", "name", "status", "error"],
        rows=rows,
        caption="Finish them with `redundancy run` on the spec; the report includes them once they are stored.",
    )


def spec_name(store: StoreReading) -> str:
    """The spec a store was written by, else its folder's name."""
    return store.spec_name or store.root.name


def _across_stages(builder: Drawer, reading: StoreReading, blocks_of: Any, title: str, *stem: str) -> Section | None:
    """A section drawn from many stages (``blocks_of(model)`` gives its blocks; none: no section). Its
    provenance names the store's index and how many stages it rests on."""
    runs = [s for s in reading.runs() if s.done]
    blocks = blocks_of(str(runs[0].attrs.get(L.A_MODEL, "")) if runs else "")
    if not blocks:
        return None
    section = Section(title=title, level=3)
    name = spec_name(reading)
    prov = provenance_of(f"{L.INDEX} ({len(reading.stages)} stages)", reading.index, runs[0] if runs else None, name)
    builder.place(blocks, _slug(name, *stem), prov, section)
    return section


def _grid_section(builder: Drawer, reading: StoreReading, doc: Document, name: str) -> Section | None:
    """Headline numbers against the grid's axes, for a spec with a grid (or several seeds)."""
    from redundancy.report.grid import grid_blocks

    return _across_stages(builder, reading, lambda model: grid_blocks(doc, model), f"{name}: grid")


def _comparison_section(builder: Drawer, reading: StoreReading, doc: Document, name: str) -> Section | None:
    """Arms compared across the store's networks (mean paired differences with intervals), when any study compares arms."""
    from redundancy.report.comparisons import comparison_blocks

    return _across_stages(builder, reading, lambda model: comparison_blocks(doc, model), f"{name}: arms across networks", "networks")


def store_sections(builder: Drawer, reading: StoreReading) -> tuple[list[Section], bool]:
    """The store's sections, and whether any of its planned stages failed."""
    doc = Document.of(reading, curves=True)
    spec_name = reading.spec_name or reading.root.name
    head = Section(title=f"Store {spec_name}", level=2, folder=str(reading.root))
    done_runs = [r for r in doc.runs if r.done]
    done_studies = [s for s in doc.studies if s.done]
    head.intro.append(
        f"Folder {reading.root}: {len(done_runs)} run(s) and {len(done_studies)} study stage(s) stored"
        + (f", spec {spec_name}." if spec_name else ".")
    )
    for problem in reading.problems():
        head.items.append(NoteBlock(f"Unreadable: {problem}"))
    if mixed := reading.environment_warning():
        head.items.append(NoteBlock(f"Mixed environments: {mixed}"))
    head.items.append(_runs_table(doc.runs))
    status = _status_table(doc)
    if status is not None:
        head.items.append(status)
    sections = [head, *_training_sections(builder, reading, done_runs, spec_name)]

    grid = _grid_section(builder, reading, doc, spec_name) if builder.options.wants("grid") else None
    if grid is not None:
        sections.append(grid)
    across = _comparison_section(builder, reading, doc, spec_name)
    if across is not None:
        sections.append(across)

    wanted = [s for s in done_studies if builder.options.wants(s.kind)]
    sections += [_study_section(builder, reading, study, spec_name) for study in wanted]
    glossary = _glossary_section(spec_name, done_runs, wanted)
    if glossary is not None:
        sections.append(glossary)
    failed = any(e.status == "failed" for e in [*doc.runs, *doc.studies])
    return sections, failed


def _training_sections(builder: Drawer, reading: StoreReading, runs: list[RunEntry], spec_name: str) -> list[Section]:
    """The training figures of the done runs, one section (none when the report leaves training out)."""
    stages = {s.id: s for s in reading.stages}
    training = Section(title=f"{spec_name}: training", level=3)
    for run in runs if builder.options.wants("train") else []:
        info = stages[run.id]
        view = StageView(info, run, info, provenance_of(info.id, info.attrs, None, spec_name), str(run.name))
        builder.draw("train", view, _slug(spec_name, str(run.name), "training"), training)
    return [training] if training.items else []


def _study_section(builder: Drawer, reading: StoreReading, study: StudyEntry, spec_name: str) -> Section:
    """One study's section: its figures (the kind's own, or the generic ones) under its provenance."""
    stages = {s.id: s for s in reading.stages}
    info = stages[study.id]
    run_info = stages.get(str(study.run_id))
    run_info = run_info if run_info is not None and run_info.done else None
    section = Section(title=f"{spec_name}: {study.kind} study {study.label}", level=3)
    if run_info is None:
        section.intro.append(f"The studied run {study.run_id} is not in this store; model and data are not recorded.")
    view = StageView(info, study, run_info, provenance_of(info.id, info.attrs, run_info, spec_name), study.label)
    builder.draw(study.kind, view, _slug(spec_name, study.run, study.name), section)
    return section


def _glossary_section(spec_name: str, runs: list[RunEntry], studies: list[StudyEntry]) -> Section | None:
    """What every number in the store's tables means, with its unit, from the definitions each kind declares."""
    from redundancy.present.glossary import glossary
    from redundancy.present.tables import summary_columns, summary_rows

    shown: dict[str, list[str]] = {"train": ["iterations", "best it.", "test acc.", "test acc. @best"]} if runs else {}
    for study in studies:
        rows, scalars = summary_rows(study.summary or {})
        shown.setdefault(study.kind, []).extend([*summary_columns(rows), *scalars])
    lines = [[kind, name, text] for kind, keys in shown.items() for name, text in glossary(kind, keys)]
    if not lines:
        return None
    section = Section(title=f"{spec_name}: what the numbers mean", level=3)
    section.items.append(TableBlock(title="Glossary", columns=["kind", "metric", "meaning [unit]"], rows=lines))
    return section

"""The ``show --json`` document, typed: a store's document renders the JSON shape ``show --json`` prints,
reads back into the same types, and serves typed fields to the grid summary."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from redundancy.cli import app
from redundancy.grid import grid_summary
from redundancy.store.document import Document, RunEntry, StudyEntry, load_document, read_document, strict_json
from support.tiny import run_spec, tiny_text

STUDIES = "studies:\n  - kind: pruning\n    layer: fc1\n    seeds: 1\n"


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("document")
    _, target, report = run_spec(folder, tiny_text("doc", seed=None, seeds=[0, 1], iterations=20, tail=STUDIES), workers=1)
    assert not report.failed, report.failed
    return target.root


def test_the_typed_document_renders_and_reads_back_the_json_shape(store: Path) -> None:
    doc = load_document(store)
    assert doc.to_json() == read_document(store)
    assert Document.from_json(doc.to_json()).to_json() == doc.to_json()
    assert [type(r) for r in doc.runs] == [RunEntry, RunEntry] and all(r.done for r in doc.runs)
    (study, *_) = doc.studies
    assert isinstance(study, StudyEntry) and study.kind == "pruning" and study.run in {r.name for r in doc.runs}
    assert study.results().kind == "pruning"  # decoded through the store's typed results
    assert grid_summary(doc) == grid_summary(doc.to_json())


def test_show_json_is_the_documents_json(store: Path) -> None:
    out = CliRunner().invoke(app, ["show", str(store), "--json"])
    assert out.exit_code == 0, out.output
    printed = json.loads(out.stdout)
    doc = load_document(store)
    assert list(printed) == [*doc.to_json(), "grid", "comparisons"]
    assert printed["runs"] == json.loads(strict_json(doc.to_json()["runs"]))


def test_a_hand_made_entry_reads_with_defaults() -> None:
    doc = Document.from_json({"store": "s", "runs": [{"id": "t", "name": "run", "status": "failed", "grid_point": {}}]})
    (run,) = doc.runs
    assert not run.done and run.test_accuracy is None and doc.studies == [] and doc.spec == {}

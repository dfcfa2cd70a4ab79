"""The store's one reader, end to end: real stores made by the engine, then damaged on disk.

Each test copies a store the module built once (a tiny MLP with a pruning and a
dynamics study, and a small width grid) and breaks one thing in the copy: a
garbage ``index.h5``, an attribute that is not UTF-8, an attribute that is not
JSON, an external link or a symlink to a file outside the store. ``show``,
``ls``, ``report`` and the TUI must each name the bad piece in one line, with
no traceback, and still list everything else; ``show --json`` must be strict
JSON; ``redundancy.open_store`` must read a single-run store, a grid store and
a folder of stores.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pytest
from rich.text import Text
from typer.testing import CliRunner

import redundancy
from redundancy.cli import app
from redundancy.errors import RedundancyError
from redundancy.store import layout as L
from redundancy.store.reader import ReadError, read_dataset, read_store, read_tensor
from redundancy.tui import RedundancyApp
from redundancy.tui import details as tui_details
from redundancy.tui.source import list_group
from support.pilot import goto, run_async, settle
from support.tiny import reseal, run_spec, tiny_text

SPEC = tiny_text("single", model={"widths": [8]}, checkpoints=[10, 30], tail="""\
studies:
  - kind: pruning
    layer: fc1
    checkpoint: best
    seeds: 2
  - kind: dynamics
    layers: [fc1]
    probe: 50
    restarts: 1
""")

GRID = tiny_text("widths", seed=None, model={"widths": [8]}, iterations=40, tail="""\
grid:
  model.width: [1, 2]
seeds: [0, 1]
studies:
  - kind: pruning
    layer: fc1
    checkpoint: final
    seeds: 2
""")


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("reader")
    _, single, report = run_spec(root, SPEC, "single.yaml")
    assert not report.failed
    _, grid, report = run_spec(root, GRID, "grid.yaml")
    assert not report.failed
    return {"single": single.root, "grid": grid.root}


def copy(made: dict[str, Path], tmp_path: Path, name: str = "single") -> Path:
    """A copy of a made store in a folder of its own (``tmp_path/stores/<name>``)."""
    dest = tmp_path / "stores" / name
    shutil.copytree(made[name], dest)
    return dest


def stage_of(root: Path, kind: str) -> Path:
    reading = read_store(root)
    return next(s.path for s in reading.stages if s.kind == kind and s.path is not None)


def cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """The real command in a subprocess, so a traceback would show on stderr as it does for a user."""
    return subprocess.run([sys.executable, "-m", "redundancy", *args], capture_output=True, text=True, cwd=cwd, timeout=300)


def no_traceback(result: subprocess.CompletedProcess[str]) -> None:
    assert "Traceback" not in result.stderr and "Traceback" not in result.stdout, result.stderr


def error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("error: ")]


def set_attr_bytes(path: Path, name: str, raw: bytes) -> None:
    """Overwrite a text attribute with raw bytes stored as (invalid) UTF-8 text."""
    with h5py.File(path, "a") as f:
        del f.attrs[name]
        f.attrs.create(name, raw, dtype=h5py.string_dtype("utf-8"))
    reseal(path)


def tree_labels(app: RedundancyApp) -> list[str]:
    out: list[str] = []

    def walk(node: Any) -> None:
        for child in node.children:
            out.append(child.label.plain if isinstance(child.label, Text) else str(child.label))
            walk(child)

    walk(app.query_one("StoreTree").root)
    return out


# --- garbage index.h5 ---------------------------------------------------------------------------------


def test_garbage_index_is_one_line_and_every_stage_is_still_listed(made: dict[str, Path], tmp_path: Path) -> None:
    root = copy(made, tmp_path)
    (root / L.INDEX).write_bytes(b"this is not an HDF5 file at all\n" * 10)
    reading = read_store(root)
    assert reading.index_error == "not an HDF5 file (no HDF5 signature)"
    assert sorted(s.kind for s in reading.stages) == ["dynamics", "pruning", "train"]
    assert all(s.status == "done" for s in reading.stages)

    shown = cli("show", str(root))
    no_traceback(shown)
    assert shown.returncode == 1
    assert error_lines(shown.stderr) == [f"error: {root / L.INDEX}: not an HDF5 file (no HDF5 signature)"]
    assert "pruning run/pruning" in shown.stdout and "dynamics run/dynamics" in shown.stdout

    listed = cli("ls", str(root.parent))
    no_traceback(listed)
    assert listed.returncode == 1 and len(error_lines(listed.stderr)) == 1
    assert listed.stdout.count("done") == 3


# --- a non-UTF-8 attribute and an attribute that is not JSON -------------------------------------------


def test_bad_text_is_replaced_and_flagged_bad_json_makes_its_stage_unreadable(made: dict[str, Path], tmp_path: Path) -> None:
    root = copy(made, tmp_path)
    pruning, dynamics = stage_of(root, "pruning"), stage_of(root, "dynamics")
    set_attr_bytes(pruning, L.A_DEVICE, b"cpu \xff\xfe caf\xe9")
    with h5py.File(dynamics, "a") as f:
        f.attrs[L.A_SUMMARY] = '{"fc1": {"fp_end": 1.0,'  # cut short
    reseal(dynamics)
    reading = read_store(root)
    by_kind = {s.kind: s for s in reading.stages}
    assert by_kind["pruning"].status == "done"
    assert by_kind["pruning"].attrs[L.A_DEVICE] == "cpu \ufffd\ufffd caf\ufffd"
    assert by_kind["pruning"].notes == [f"attribute {L.A_DEVICE!r} holds bytes that are not UTF-8 (replaced by U+FFFD)"]
    assert by_kind["dynamics"].status == "unreadable"
    assert by_kind["dynamics"].error.startswith(f"attribute {L.A_SUMMARY!r} is not valid JSON (")
    assert by_kind["train"].status == "done"

    shown = cli("show", str(root))
    no_traceback(shown)
    assert shown.returncode == 1
    errors = error_lines(shown.stderr)
    assert len(errors) == 2 and all(str(root) in e and "\n" not in e for e in errors)
    assert any("is not valid JSON" in e and dynamics.name in e for e in errors)
    assert any("not UTF-8" in e and pruning.name in e for e in errors)
    assert "pruning run/pruning" in shown.stdout  # its summary table is still printed

    doc = cli("show", "--json", str(root))
    no_traceback(doc)
    parsed = json.loads(doc.stdout)
    studies = {s["kind"]: s for s in parsed["studies"]}
    assert studies["dynamics"]["status"] == "unreadable" and "not valid JSON" in studies["dynamics"]["error"]
    assert studies["pruning"]["status"] == "done" and studies["pruning"]["summary"]

    out = tmp_path / "report"
    built = cli("report", str(root.parent), "--out", str(out))
    no_traceback(built)
    assert built.returncode == 1
    assert sorted(p.stem for p in (out / "figures").glob("*.png")) == ["single-run-pruning-fc1_best", "single-run-training-curves"]
    assert "is not valid JSON" in (out / "index.html").read_text()


@run_async
async def test_the_tui_names_bad_stages_and_keeps_the_others(made: dict[str, Path], tmp_path: Path) -> None:
    root = copy(made, tmp_path)
    other = copy(made, tmp_path, "grid")
    (root / L.INDEX).write_bytes(b"garbage")
    set_attr_bytes(stage_of(root, "pruning"), L.A_STUDY, b"pr\xffning")
    dynamics = stage_of(root, "dynamics")
    with h5py.File(dynamics, "a") as f:
        f.attrs[L.A_CURVES] = "[not json"
    reseal(dynamics)
    app = RedundancyApp([root.parent], poll=0)
    async with app.run_test(size=(110, 32)) as pilot:
        await settle(pilot)
        for node in list(app.nodes.values()):
            node.expand()
        await settle(pilot)
        shown = tree_labels(app)
        assert "⚠ index.h5: not an HDF5 file (no HDF5 signature)" in shown
        assert any("pr\ufffdning" in s for s in shown)
        # The tree is listed from the attributes that place each stage; a bad summary or curves
        # attribute is found when the study is opened (below), as one line in its detail.
        assert len(app.query_one("StoreTree").root.children) == 2  # the good store beside it is listed
        listing = app.listings[root]
        entry = next(e for e in listing.entries() if e.study_kind == "dynamics")
        await goto(pilot, tui_details.stage_key(root, entry.id))
        assert "attribute 'curves' is not valid JSON" in str(app.detail.message if app.detail else "")
        pruning = next(e for e in listing.entries() if e.study_kind == "pruning")
        await goto(pilot, tui_details.stage_key(root, pruning.id))
        assert app.detail is not None and app.detail.panels and app.detail.title.startswith("pruning run/pr\ufffdning · weights best (iteration ")
        assert other in app.listings


# --- links out of the store ------------------------------------------------------------------------------


def test_external_links_and_symlinks_out_of_the_store_are_not_followed(made: dict[str, Path], tmp_path: Path) -> None:
    root = copy(made, tmp_path)
    secret = tmp_path / "secret.h5"
    with h5py.File(secret, "w") as f:
        f["data"] = np.arange(5.0)
        f.attrs[L.A_STAGE_ID] = "outside"
    pruning = stage_of(root, "pruning")
    with h5py.File(pruning, "a") as f:
        f[f"{L.RESULTS}/leak"] = h5py.ExternalLink(str(secret), "/data")
    members = {m.name: m for m in list_group(pruning, f"/{L.RESULTS}", root)}
    assert not members["leak"].is_group and "outside the store; not followed" in members["leak"].dtype
    with pytest.raises(ReadError, match="outside the store"):
        read_dataset(pruning, f"/{L.RESULTS}/leak", root=root)
    rec = next(s for s in read_store(root).stages if s.kind == "pruning")
    with pytest.raises(ReadError):
        read_tensor(rec, "leak")
    # A link to a file inside the store is followed.
    inner = root / "inner.h5"
    with h5py.File(inner, "w") as f:
        f["data"] = np.arange(3.0)
    with h5py.File(pruning, "a") as f:
        f[f"{L.RESULTS}/inside"] = h5py.ExternalLink("../inner.h5", "/data")
    assert read_dataset(pruning, f"/{L.RESULTS}/inside", root=root).values.tolist() == [0.0, 1.0, 2.0]

    # A symlink in stages/ to an outside file is a problem, never a stage whose data is shown.
    link = root / L.STAGES / "pruning-0123456789abcdef.h5"
    link.symlink_to(secret)
    loop = root / L.STAGES / "loop-0000000000000000.h5"
    loop.symlink_to(loop)
    reading = read_store(root)
    bad = {s.id: s for s in reading.stages if s.status == "unreadable"}
    assert bad["pruning-0123456789abcdef"].error == "is a symbolic link, not a stage file"
    assert bad["loop-0000000000000000"].error == "is a symbolic link, not a stage file"
    assert not bad["pruning-0123456789abcdef"].attrs
    shown = cli("show", str(root))
    no_traceback(shown)
    assert "outside" not in shown.stdout


# --- show --json -----------------------------------------------------------------------------------------


def refuse(name: str) -> Any:
    raise ValueError(f"not JSON: {name}")


def test_show_json_is_strict_json(made: dict[str, Path], tmp_path: Path) -> None:
    root = copy(made, tmp_path)
    with h5py.File(stage_of(root, "pruning"), "a") as f:  # make sure there is something to replace
        f.attrs[L.A_SUMMARY] = '{"x": {"a": NaN, "b": Infinity, "c": -Infinity, "d": 1.5}}'
    reseal(stage_of(root, "pruning"))
    result = CliRunner().invoke(app, ["show", "--json", str(root)])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout, parse_constant=refuse)
    (pruning,) = [s for s in doc["studies"] if s["kind"] == "pruning"]
    assert pruning["summary"] == {"x": {"a": None, "b": None, "c": None, "d": 1.5}}
    assert {s["kind"] for s in doc["studies"]} == {"pruning", "dynamics"}


# --- the Python API -------------------------------------------------------------------------------------


def test_open_store_on_a_single_run_store(made: dict[str, Path]) -> None:
    s = redundancy.open_store(made["single"])
    assert len(s.runs) == 1 and s.runs.loc[0, "status"] == "done" and 0 <= s.runs.loc[0, "test_accuracy"] <= 1
    assert sorted(s.studies["kind"]) == ["dynamics", "pruning"]
    assert "magnitude:smallest/auc" in s.studies.columns
    curves = s.curves("pruning")
    assert {"layer", "checkpoint", "criterion", "direction", "x", "y", "series"} <= set(curves.columns)
    assert set(curves["layer"]) == {"fc1"} and set(curves["checkpoint"]) == {"best"}
    random = curves[(curves.criterion == "random") & (curves.series == "accuracy")]
    assert random["direction"].isna().all() and len(random) == len(random["x"].unique())
    # the tidy curve equals the stored tensor, point for point
    study = s.results("run/pruning")
    (mag,) = study.select(criterion="magnitude", direction="smallest")
    stored = s.tensor("run/pruning", "fc1@best/magnitude/smallest/accuracy")
    assert np.allclose(stored, mag.series["accuracy"])
    assert s.tensor("run", "test_accuracy").ndim == 1
    assert s.curves("dynamics")["layer"].unique().tolist() == ["fc1"]


def test_open_store_on_a_grid_store_and_on_a_folder(made: dict[str, Path], tmp_path: Path) -> None:
    grid = redundancy.open_store(made["grid"])
    assert len(grid.runs) == 4 and set(grid.runs["model.width"]) == {1, 2} and set(grid.runs["seed"]) == {0, 1}
    assert len(grid.studies) == 4 and (grid.studies["status"] == "done").all()
    curves = grid.curves("pruning")
    assert set(curves["model.width"]) == {1, 2} and set(curves["run"]) == set(grid.runs["run"])
    units = curves.groupby("model.width")["units"].unique()
    assert units[1].tolist() == [8] and units[2].tolist() == [16]  # width 2 doubles the layer
    folder = tmp_path / "stores"
    copy(made, tmp_path, "single")
    broken = copy(made, tmp_path, "grid")
    (broken / L.INDEX).write_bytes(b"")
    both = redundancy.open_store(folder)
    assert set(both.runs["store"]) == {"single", "grid"} and len(both.runs) == 5
    assert both.problems == [f"{broken / L.INDEX}: empty file (0 bytes)"]
    with pytest.raises(RedundancyError, match="no run or study 'nothing-here'"):
        both.tensor("nothing-here", "x")
    assert both.stage("single:run").stage_kind == "train"


# --- typed results ------------------------------------------------------------------------------------


def test_typed_results_round_trip_through_their_json_and_win_over_0_1_text(made: dict[str, Path], tmp_path: Path) -> None:
    from redundancy.store.reader import study_results
    from redundancy.store.results import decode, from_plain, to_plain

    root = copy(made, tmp_path)
    rec = next(s for s in read_store(root).stages if s.kind == "pruning")
    typed = study_results(rec)
    assert {c.key["iteration"] for c in typed.curves} == {int(read_tensor(rec, "fc1@best/iteration"))}
    text = json.dumps(to_plain(typed), allow_nan=False)
    assert from_plain(json.loads(text)) == typed
    # A stage that carries the schema's object is read from it, not from summary/curves.
    only = to_plain(decode("pruning", {}, {"fc2@final": {"random": {"units_removed": [0, 1], "accuracy": [0.5, float("nan")]}}}))
    with h5py.File(rec.path, "a") as f:
        f.attrs[L.A_RESULTS] = json.dumps(only)
    reseal(rec.path)
    again = study_results(next(s for s in read_store(root).stages if s.kind == "pruning"))
    assert [c.key["layer"] for c in again.curves] == ["fc2"] and again.curves[0].series["accuracy"] == [0.5, None]


def test_0_1_lottery_and_subspace_text_decode_into_fields() -> None:
    from redundancy.store.results import decode
    from support.tui_samples import lottery_result, subspace_result

    summary, curves, _ = lottery_result(0)
    lottery = decode("lottery", summary, curves)
    variants = [c.key["variant"] for c in lottery.curves if c.key["variant"]]
    assert variants[0] == "ticket" and set(variants) <= {"ticket", "reinit", "random_mask"}
    layers = lottery.select(variant=None, direction="incoming")
    assert [c.key["layer"] for c in layers] == list(curves["concentration"])
    assert all(len(c.series["round"]) == len(curves["rounds"]) for c in layers)
    assert not any(k.endswith("acc %") or k == "pruned %" for k in lottery.scalars)
    summary, curves, _ = subspace_result(0)
    subspace = decode("subspace", summary, curves)
    for c in subspace.curves:
        assert isinstance(c.key["layer"], str) and "@" not in c.key["layer"] and c.key["target"] in ("update", "weights")
    assert {r.key["basis"] for r in subspace.summary} <= {"top", "bottom", "random"}


def test_reading_a_store_from_python_imports_no_torch(made: dict[str, Path]) -> None:
    code = (
        "import sys, redundancy\n"
        "assert 'pandas' not in sys.modules and 'h5py' not in sys.modules\n"
        f"s = redundancy.open_store({str(made['single'])!r})\n"
        "s.runs, s.studies, s.curves('pruning'), s.tensor('run', 'test_accuracy')\n"
        "print(sorted(m for m in ('torch', 'matplotlib', 'textual') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_stages_of_an_earlier_spec_are_listed_apart_as_stale(tmp_path: Path) -> None:
    text = tiny_text("evolving", iterations=20, tail="studies:\n  - kind: pruning\n    layer: fc1\n")
    _, store, _ = run_spec(tmp_path, text)
    old = {s.id for s in read_store(store.root).stages}
    _, store, _ = run_spec(tmp_path, text.replace("iterations: 20", "iterations: 30"))
    reading = read_store(store.root)
    assert {s.id for s in reading.stages if s.stale} == old and len(reading.stages) == 4
    shown = CliRunner().invoke(app, ["show", "--json", str(store.root)])
    doc = json.loads(shown.stdout)
    assert {e["id"] for e in doc["stale"]} == old
    assert not old & {e["id"] for e in doc["runs"] + doc["studies"]}
    printed = CliRunner().invoke(app, ["show", str(store.root)], env={"COLUMNS": "200"})
    assert printed.exit_code == 0 and "2 stale stage(s)" in printed.output
    s = redundancy.open_store(store.root)
    assert sorted(s.runs["stale"]) == [False, True] and sorted(s.studies["stale"]) == [False, True]
    curves = s.curves("pruning")  # both studies' points, told apart: the current plan's are not stale
    current = {i for i in s.studies.loc[~s.studies["stale"], "id"]}
    assert set(curves.loc[~curves["stale"], "id"]) == current and set(curves.loc[curves["stale"], "id"]) & old


def test_a_stages_folder_linked_out_of_the_store_is_not_listed(made: dict[str, Path], tmp_path: Path) -> None:
    root = copy(made, tmp_path)
    outside = tmp_path / "elsewhere"
    (root / L.STAGES).rename(outside)
    (root / L.STAGES).symlink_to(outside)
    reading = read_store(root)
    assert reading.folder_error == "a symbolic link to a folder outside the store; not followed"
    assert all(s.status == "pending" for s in reading.stages) and len(reading.stages) == 3
    shown = cli("ls", str(root))
    no_traceback(shown)
    assert shown.returncode == 1 and "not followed" in shown.stderr

"""The tool deletes, moves or overwrites only what it wrote.

Each test sets up what a careless or hostile user could hand the tool (their
own ``*.tmp`` files in and beside a store, a folder of other files as
``--store``, a received store whose folders are links out of it, an edited
report manifest, a disk that fills up) and runs the real command line in a
subprocess, under a timeout and an address-space limit, on the tiny spec. The
last test runs ``run``, ``gc``, ``report`` and ``run --replace`` in a folder
full of user files named like the tool's and compares hashes of the whole
tree, and of the folder its links point to, before and after.
"""

from __future__ import annotations

import hashlib
import json
import os
import resource
import shutil
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest
from support.tiny import tiny_text, write_spec

from redundancy.errors import StoreRefused, StoreWriteError
from redundancy.store import Store, layout

SPEC = tiny_text(iterations=20)
ADDRESS_SPACE = 8 << 30  # bytes: torch's libraries map about 3 GiB; a runaway allocation stops here
TIMEOUT_S = 180


def _limit() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (ADDRESS_SPACE, ADDRESS_SPACE))


def cli(cwd: Path, *args: str, code: str | None = None) -> tuple[int, str]:
    """``python -m redundancy ARGS`` in ``cwd`` (or ``python -c CODE ARGS``); exit status and output."""
    head = ["-c", code] if code is not None else ["-m", "redundancy"]
    done = subprocess.run(
        [sys.executable, *head, *args], cwd=cwd, capture_output=True, text=True, timeout=TIMEOUT_S, preexec_fn=_limit,
        env={**os.environ, "OMP_NUM_THREADS": "1", "COLUMNS": "200"},
    )
    return done.returncode, done.stdout + done.stderr


def run(cwd: Path, *args: str) -> tuple[int, str]:
    return cli(cwd, "run", "spec.yaml", "--device", "cpu", "--quiet", *args)


def snapshot(root: Path) -> dict[str, str]:
    """Every entry below ``root``: a file by its SHA-256, a link by where it points, a folder as such (links not followed)."""
    out: dict[str, str] = {}
    for folder, dirs, files in os.walk(root):
        for name in [*dirs, *files]:
            path = Path(folder, name)
            rel = path.relative_to(root).as_posix()
            if path.is_symlink():
                out[rel] = "link -> " + os.readlink(path)
            elif path.is_dir():
                out[rel] = "folder"
            else:
                out[rel] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


def one_error_line(output: str) -> str:
    lines = [line for line in output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in output, output
    return " ".join(output.split())


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder with the tiny spec and its store, made once by the real command; tests work on copies."""
    root = tmp_path_factory.mktemp("made")
    write_spec(root, SPEC)
    rc, out = run(root)
    assert rc == 0, out
    return root


def copy_of(made: Path, tmp_path: Path) -> tuple[Path, Store]:
    work = tmp_path / "work"
    shutil.copytree(made, work, symlinks=True)
    return work, Store(work / "store" / "tiny")


def train_id(store: Store) -> str:
    (sid,) = [s for s in store.stage_ids() if s.startswith("train-")]
    return sid


# --- 1. temporaries ------------------------------------------------------------------------------


def test_run_removes_no_tmp_file_it_did_not_write(made: Path, tmp_path: Path) -> None:
    work, store = copy_of(made, tmp_path)
    (store.root / layout.RESUME).mkdir(exist_ok=True)
    mine = [
        store.root / "draft.tmp",
        store.stage_dir / "notes.tmp",
        store.root / layout.RESUME / "draft.tmp",
        store.root / layout.PROGRESS / "draft.tmp",
        store.root / ".index.h5.999999999.tmp",  # the form of an earlier version's temporary, of no running process
        store.stage_dir / ".redundancy-999999999-0123456789abcdef-x.h5.tmp",  # the tool's form, but journaled by no writer
    ]
    for path in mine:
        path.write_bytes(b"a user's own " + path.name.encode())
    rc, out = run(work)
    assert rc == 0 and "1 cached" in out, out
    assert [p.read_bytes() for p in mine] == [b"a user's own " + p.name.encode() for p in mine]


def test_store_option_naming_a_folder_of_other_files_is_refused_even_with_replace(made: Path, tmp_path: Path) -> None:
    work, _ = copy_of(made, tmp_path)
    mine = work / "papers"
    mine.mkdir()
    (mine / "draft.tmp").write_text("draft")
    (mine / "results.h5").write_bytes(b"\x89HDF mine")
    before = snapshot(work)
    for extra in ([], ["--replace"]):
        rc, out = run(work, "--store", "papers", *extra)
        assert rc == 2, out
        assert "papers is not a store and is not empty" in one_error_line(out)
        assert snapshot(work) == before


# --- 2. a received store with links out of it ------------------------------------------------------


def test_a_received_store_with_resume_linked_out_is_refused_and_the_linked_folder_untouched(made: Path, tmp_path: Path) -> None:
    work, store = copy_of(made, tmp_path)
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (outside / "notes.tmp").write_text("my notes")
    (outside / layout.resume_file(train_id(store))).write_bytes(b"a file named like the stage's resume state")
    (store.root / layout.RESUME).symlink_to(outside, target_is_directory=True)
    before, away = snapshot(work), snapshot(outside)
    rc, out = run(work, "--force")
    assert snapshot(outside) == away, out  # an earlier version removed notes.tmp and the .pt there
    assert rc == 2, out
    assert "store/tiny/resume is a symbolic link" in one_error_line(out)
    assert snapshot(work) == before


def test_a_received_store_with_stages_broken_linked_out_is_refused_and_no_stage_leaves_the_store(made: Path, tmp_path: Path) -> None:
    work, store = copy_of(made, tmp_path)
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (store.stage_dir / layout.BROKEN).symlink_to(outside, target_is_directory=True)
    stage = store.stage_path(train_id(store))
    stage.write_bytes(stage.read_bytes()[:100])  # a damaged stage file, which a run moves to stages/broken/
    before = snapshot(work)
    rc, out = run(work)
    assert not any(outside.iterdir()), out  # an earlier version moved the stage file there
    assert rc == 2, out
    assert "store/tiny/stages/broken is a symbolic link" in one_error_line(out)
    assert snapshot(work) == before


def test_gc_refuses_a_store_whose_stale_folder_is_a_link(made: Path, tmp_path: Path) -> None:
    work, store = copy_of(made, tmp_path)
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (store.stage_dir / layout.STALE).symlink_to(outside, target_is_directory=True)
    before = snapshot(work)
    rc, out = cli(work, "gc", str(store.root))
    assert rc == 2 and "is a symbolic link" in one_error_line(out), out
    assert not any(outside.iterdir()) and snapshot(work) == before


@pytest.mark.parametrize("linked", [(layout.RESUME,), (layout.PROGRESS,), (layout.STAGES, layout.BROKEN), (layout.STAGES, layout.STALE)])
def test_no_write_rename_or_removal_goes_through_a_linked_folder(made: Path, tmp_path: Path, linked: tuple[str, ...]) -> None:
    """The refusal comes first; below it, each write itself never follows a link (what a worker would meet mid-run)."""
    work, store = copy_of(made, tmp_path)
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    sid = train_id(store)
    for name in (layout.resume_file(sid), layout.progress_file(sid), layout.stage_file(sid)):
        (outside / name).write_bytes(b"mine")
    shutil.rmtree(store.root.joinpath(*linked), ignore_errors=True)
    store.root.joinpath(*linked).symlink_to(outside, target_is_directory=True)
    away = snapshot(outside)
    with pytest.raises(StoreRefused, match="is a symbolic link"):
        store.prepare()
    if linked == (layout.RESUME,):
        with pytest.raises(OSError):
            store.write_resume(sid, b"state")
        with pytest.raises(StoreWriteError, match="symbolic link"):
            store.drop_resume(sid)
    elif linked == (layout.PROGRESS,):
        store.write_progress(sid, {"iteration": 1})  # a view: skipped without a word
        store.drop_progress(sid)
    else:
        assert not store.stale_reusable(sid)
        with pytest.raises(StoreWriteError, match="symbolic link"):
            store.move_aside(store.stage_path(sid), linked[-1])
        assert store.stage_problem(sid) is None
    assert snapshot(outside) == away


# --- 3. the report folder --------------------------------------------------------------------------


def test_report_removes_or_replaces_only_files_that_still_match_its_manifest(made: Path, tmp_path: Path) -> None:
    work, _ = copy_of(made, tmp_path)
    out = work / "paper"
    out.mkdir()
    (out / "notes.txt").write_text("my notes")
    rc, output = cli(work, "report", "store", "--out", "paper")
    assert rc == 0, output
    manifest = json.loads((out / ".redundancy-report.json").read_text())
    (figure,) = [f for f in manifest["files"] if f.endswith(".png")]
    # The user edits the manifest to name their notes and a file they add, with made-up hashes, and the figure...
    (out / "mine.svg").write_text("<svg>my drawing</svg>")
    for name in ("notes.txt", "mine.svg"):
        manifest["files"].append(name)
        manifest.setdefault("sha256", {})[name] = "0" * 64
    (out / ".redundancy-report.json").write_text(json.dumps(manifest))
    (out / figure).write_bytes(b"the user's edit of the report's figure")  # ...and edits the figure the report made
    before = snapshot(out)
    rc, output = cli(work, "report", "store", "--out", "paper")
    assert rc == 0, output
    after = snapshot(out)
    for name in ("notes.txt", "mine.svg", figure):
        assert after.get(name) == before[name], name
    rebuilt = json.loads((out / ".redundancy-report.json").read_text())
    assert figure not in rebuilt["files"] and figure.replace(".png", "-2.png") in rebuilt["files"]
    assert rebuilt["sha256"] == {name: hashlib.sha256((out / name).read_bytes()).hexdigest() for name in rebuilt["files"]}


def test_a_manifest_without_hashes_removes_nothing_it_names(made: Path, tmp_path: Path) -> None:
    from redundancy.report import build_report

    work, _ = copy_of(made, tmp_path)
    out = work / "paper"
    (out / "figures").mkdir(parents=True)
    names = ["notes.txt", "figures/old.png", "figures/old.svg", "index.html"]
    for name in names:
        (out / name).write_text(f"my {name}")
    (out / ".redundancy-report.json").write_text(json.dumps({"generator": "redundancy report", "files": names}))
    # index.html is not the report's page (no report title): the build stops before writing anything.
    with pytest.raises(Exception, match="index.html exists and was not made by redundancy report"):
        build_report([work / "store"], out)
    (out / "index.html").write_text("<html><head><title>redundancy report</title></head></html>")  # an earlier report's page
    before = snapshot(out)
    build_report([work / "store"], out)
    after = snapshot(out)
    assert all(after[n] == before[n] for n in before if n != "index.html" and n != ".redundancy-report.json")


def test_report_never_writes_through_a_linked_figures_folder(made: Path, tmp_path: Path) -> None:
    work, _ = copy_of(made, tmp_path)
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    out = work / "paper"
    out.mkdir()
    (out / "figures").symlink_to(outside, target_is_directory=True)
    rc, output = cli(work, "report", "store", "--out", "paper")
    assert rc == 1 and "figures is a symbolic link" in one_error_line(output), output
    assert not any(outside.iterdir()) and sorted(p.name for p in out.iterdir()) == ["figures"]


# --- a resume state that cannot be written ------------------------------------------------------------

FULL_DISK = """
import errno, sys
from redundancy.cli import main
from redundancy.store.files import Store


def full(self, stage_id, content):  # the disk fills up exactly when a resume state is written
    raise OSError(errno.ENOSPC, "No space left on device")


Store.write_resume = full
sys.argv[0] = "redundancy"
main()
"""


def test_a_resume_state_that_cannot_be_written_is_said_once_and_the_run_goes_on(tmp_path: Path) -> None:
    write_spec(tmp_path, tiny_text(iterations=60, checkpoints=[10, 20, 30]) + "  resume_every: 10\n")
    rc, out = cli(tmp_path, "run", "spec.yaml", "--device", "cpu", "--quiet", code=FULL_DISK)
    assert rc == 0 and "1 trained" in out, out
    warnings = [line for line in out.splitlines() if "resume state" in line]
    assert len(warnings) == 1 and warnings[0].startswith("warning: ") and "the disk is full" in warnings[0], out
    assert not (tmp_path / "store" / "tiny" / layout.RESUME).exists() or not any((tmp_path / "store" / "tiny" / layout.RESUME).iterdir())


# --- the whole tree -----------------------------------------------------------------------------------------


def _user_tree(work: Path, outside: Path) -> None:
    """A folder full of files named like the tool's, and links out of it."""
    rng = np.random.default_rng(0)
    outside.mkdir()
    (outside / "secret.txt").write_text("outside the folder")
    (outside / "notes.tmp").write_text("outside notes")
    for folder in (work, work / "sub", work / "sub" / "stages", work / "sub" / "resume", work / "store", work / "paper" / "figures"):
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "draft.tmp").write_bytes(rng.bytes(64))
        (folder / "weights.pt").write_bytes(rng.bytes(64))
        (folder / ".index.h5.1.tmp").write_bytes(rng.bytes(16))
        with h5py.File(folder / "index.h5", "w") as f:  # a real HDF5 file of the user's, named like a store's index
            f["x"] = rng.normal(size=8)
    (work / "sub" / "stages" / "train-0000000000000000.h5").write_bytes(rng.bytes(64))
    (work / "paper" / "notes.md").write_text("# my paper\n")
    (work / "link-out").symlink_to(outside, target_is_directory=True)
    (work / "sub" / "secret-link").symlink_to(outside / "secret.txt")
    (work / "sub" / "dangling.tmp").symlink_to(outside / "nothing-here.tmp")


def test_run_gc_report_and_replace_in_a_folder_of_look_alike_files_change_nothing_they_did_not_write(tmp_path: Path) -> None:
    work, outside = tmp_path / "work", tmp_path / "outside"
    work.mkdir()
    write_spec(work, SPEC)
    _user_tree(work, outside)
    mine, away = snapshot(work), snapshot(outside)
    store = Store(work / "store" / "tiny")

    rc, out = run(work, "--store", "sub")  # a folder of the user's is never adopted as a store
    assert snapshot(work) == mine, out
    assert rc == 2 and "is not a store" in one_error_line(out), out
    rc, out = run(work)
    assert rc == 0 and "1 trained" in out, out
    # files of the user's inside the store folder and its own folders, named like the tool's
    inside = [store.root / "draft.tmp", store.root / "notes.h5", store.stage_dir / "draft.tmp", store.root / layout.PROGRESS / "old.tmp"]
    (store.root / layout.RESUME).mkdir(exist_ok=True)
    inside.append(store.root / layout.RESUME / "draft.pt")
    for path in inside:
        path.write_bytes(b"mine: " + path.name.encode())
    (store.root / "sub").mkdir()
    with h5py.File(store.root / "sub" / "index.h5", "w") as f:
        f["y"] = np.arange(4)
    (store.root / "out-link").symlink_to(outside, target_is_directory=True)
    added = {p.relative_to(work).as_posix() for p in [*inside, store.root / "sub", store.root / "sub" / "index.h5", store.root / "out-link"]}
    theirs = {rel: h for rel, h in snapshot(work).items() if rel in added}

    rc, out = run(work, "--set", "seed=1")  # a one-off run...
    assert rc == 0 and "1 trained" in out, out
    rc, out = cli(work, "gc", "store/tiny")  # ...whose gc moves the full run's stage aside...
    assert rc == 0 and "1 stale" in out, out
    rc, out = run(work)  # ...which the next full run takes back instead of training again
    assert rc == 0 and "0 trained" in out and "1 cached" in out and "reused" in out, out
    rc, out = cli(work, "report", "store", "--out", "paper")
    assert rc == 0, out
    rc, out = run(work, "--replace")
    assert rc == 0 and "1 trained" in out, out

    after = snapshot(work)
    assert {rel: after.get(rel) for rel in mine} == mine, "a file the tool did not write changed"
    assert snapshot(outside) == away, "a file outside the folder changed"
    (replaced,) = (work / "store").glob(f"tiny.{layout.REPLACED_TAG}-*")
    moved = set(os.listdir(replaced))
    assert {layout.INDEX, layout.STAGES} <= moved <= set(layout.ENTRIES), moved  # the store's entries, and only those
    old = replaced.relative_to(work).as_posix()
    for rel, h in theirs.items():  # in the store folder, they stay; in its own folders, they moved with them, unchanged
        own = rel.split("/")[2] in (layout.STAGES, layout.RESUME, layout.PROGRESS)
        assert after.get(rel.replace("store/tiny", old, 1) if own else rel) == h, rel
    report_files = set(json.loads((work / "paper" / ".redundancy-report.json").read_text())["files"])
    for rel in sorted(set(after) - set(mine)):  # everything else is the tool's: the store, the old store, the report
        top = rel.split("/")
        assert (top[0] == "store" and top[1] in ("tiny", replaced.name)) or (
            top[0] == "paper" and "/".join(top[1:]) in report_files | {".redundancy-report.json"}
        ), rel


def test_a_stale_stage_is_moved_back_only_when_its_file_still_holds_that_stage(tmp_path: Path) -> None:
    store = Store(tmp_path / "s")
    store.prepare()
    for sid in ("train-00000000000000aa", "train-00000000000000bb"):
        store.write_stage(sid, {layout.A_STAGE_KIND: layout.KIND_TRAIN}, {layout.metric_path("loss"): np.arange(3.0)})
        store.move_aside(store.stage_path(sid), layout.STALE)
    damaged = store.stale_path("train-00000000000000bb")
    with h5py.File(damaged, "a") as f:
        f[layout.metric_path("loss")][0] = 7.0  # no longer what was written: its checksum says so
    lines: list[str] = []
    assert store.done("train-00000000000000aa", lines.append) and store.stage_problem("train-00000000000000aa") is None
    assert lines and lines[0].startswith("reused  train-00000000000000aa")
    assert not store.done("train-00000000000000bb", lines.append) and damaged.is_file() and len(lines) == 1

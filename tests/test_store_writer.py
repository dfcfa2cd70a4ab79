"""The store's writer: one writer per store, the store's identity, validated stages, failed writes.

Real processes on real files: ``redundancy run`` as subprocesses racing for one
store, stage files damaged on disk, a file size limit set with ``ulimit -f``.
"""

from __future__ import annotations

import errno
import json
import os
import shlex
import subprocess
import sys
import time
from pathlib import Path

import h5py
import pytest
from support.tiny import TINY, tiny_text, write_spec
from typer.testing import CliRunner

from redundancy.cli import app
from redundancy.errors import StoreError
from redundancy.store import Store, layout, open_h5
from redundancy.store.writer import NO_LOCK_ENV, WriterLock, stale_stage_ids

# Two seeds trained one after the other, each long enough (a second or more on a busy
# 2-core machine) for a second process to arrive while the first is writing.
SLOW = TINY.format(iterations=3000) + "  stack: off\ngrid:\n  seed: [0, 1]\n"


def _cli(args: list[str], cwd: Path, **env: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "redundancy", *args],
        cwd=cwd,
        env={**os.environ, "OMP_NUM_THREADS": "1", **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _finish(proc: subprocess.Popen[str], timeout: float = 300) -> tuple[int, str]:
    out, err = proc.communicate(timeout=timeout)
    return proc.returncode, out + err


def _stage_bytes(store: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted((store / "stages").glob("*.h5"))}


def _created(store: Path) -> dict[str, str]:
    out = {}
    for p in sorted((store / "stages").glob("*.h5")):
        with open_h5(p) as f:
            out[p.name] = str(f.attrs[layout.A_CREATED])
    return out


def _temporaries(store: Path) -> list[Path]:
    return list(store.rglob(f"*{layout.TMP_SUFFIX}"))


def test_two_concurrent_runs_compute_every_stage_once(tmp_path: Path) -> None:
    write_spec(tmp_path, SLOW)
    a = _cli(["run", "spec.yaml", "--device", "cpu", "--quiet"], tmp_path)
    b = _cli(["run", "spec.yaml", "--device", "cpu", "--quiet"], tmp_path)
    (rc_a, out_a), (rc_b, out_b) = _finish(a), _finish(b)
    assert rc_a == 0 and rc_b == 0, out_a + out_b
    trained = [int(o.split(" trained")[0].split()[-1]) for o in (out_a, out_b)]
    assert sorted(trained) == [0, 2], (out_a, out_b)
    store = tmp_path / "store" / "tiny"
    assert len(_created(store)) == 2 and not _temporaries(store)


def test_no_wait_exits_3_naming_the_process_that_holds_the_store(tmp_path: Path) -> None:
    write_spec(tmp_path, tiny_text(iterations=30))
    store = tmp_path / "store" / "tiny"
    store.mkdir(parents=True)
    lock = WriterLock(store)
    lock.acquire()
    try:
        rc, out = _finish(_cli(["run", "spec.yaml", "--device", "cpu", "--quiet", "--no-wait"], tmp_path))
    finally:
        lock.release()
    assert rc == 3 and f"pid {os.getpid()}" in out and "Traceback" not in out, out
    assert not list((store / "stages").glob("*.h5")) if (store / "stages").exists() else True


def test_a_second_run_waits_for_the_first_and_reuses_its_stages(tmp_path: Path) -> None:
    write_spec(tmp_path, SLOW.replace("seed: [0, 1]", "seed: [0, 1, 2, 3]"))
    store = tmp_path / "store" / "tiny"
    first = _cli(["run", "spec.yaml", "--device", "cpu", "--quiet"], tmp_path)
    deadline = time.time() + 120
    while time.time() < deadline and not list((store / "stages").glob("train-*.h5")):
        time.sleep(0.05)
    assert first.poll() is None, "the first run ended before the test could race it"
    second = _cli(["run", "spec.yaml", "--device", "cpu", "--quiet"], tmp_path)
    rc_1, out_1 = _finish(first)
    done_by_first = _created(store)
    rc_2, out_2 = _finish(second)
    assert rc_1 == 0 and "4 trained" in out_1, out_1
    assert rc_2 == 0 and "0 trained" in out_2 and "4 cached" in out_2, out_2
    if "being written by" in out_2:  # it arrived while the first still wrote (the usual case)
        assert f"pid {first.pid}" in out_2
    assert _created(store) == done_by_first  # nothing rewritten
    assert not _temporaries(store)


def test_a_different_spec_with_the_same_name_is_refused_and_replace_moves_the_old_store_aside(tmp_path: Path) -> None:
    write_spec(tmp_path, tiny_text(iterations=30))
    other = tmp_path / "other"
    other.mkdir()
    write_spec(other, tiny_text(iterations=30, lr=0.1))
    rc, out = _finish(_cli(["run", "spec.yaml", "--device", "cpu", "--quiet"], tmp_path))
    assert rc == 0, out
    store = tmp_path / "store" / "tiny"
    before = _stage_bytes(store)
    rc, out = _finish(_cli(["run", "other/spec.yaml", "--device", "cpu", "--quiet"], tmp_path))
    assert rc == 1 and "Traceback" not in out, out
    flat = " ".join(out.split())
    assert str(tmp_path / "spec.yaml") in flat and str(other / "spec.yaml") in flat and "--replace" in flat, out
    assert _stage_bytes(store) == before
    # the same spec, copied elsewhere, is the same spec
    (other / "copy.yaml").write_text((tmp_path / "spec.yaml").read_text())
    rc, out = _finish(_cli(["run", "other/copy.yaml", "--device", "cpu", "--quiet"], tmp_path))
    assert rc == 0 and "1 cached" in out, out
    rc, out = _finish(_cli(["run", "other/spec.yaml", "--device", "cpu", "--quiet", "--replace"], tmp_path))
    assert rc == 0 and "1 trained" in out, out
    (old,) = tmp_path.joinpath("store").glob(f"tiny.{layout.REPLACED_TAG}-*")
    assert _stage_bytes(old) == before
    with open_h5(store / layout.INDEX) as f:
        assert f.attrs[layout.A_SPEC_PATH] == str(other / "spec.yaml")


def _dataset_offset(path: Path) -> int:
    with h5py.File(path, "r") as f:
        ds = f[layout.metric_path("val_loss")]
        return int(ds.id.get_offset())


def _truncate(p: Path) -> None:
    os.truncate(p, p.stat().st_size // 2)


def _empty(p: Path) -> None:
    p.write_bytes(b"")


def _no_attributes(p: Path) -> None:
    p.unlink()
    with h5py.File(p, "w") as f:
        f.create_dataset("x", data=[1.0])


def _a_folder(p: Path) -> None:
    p.unlink()
    p.mkdir()


def _symlink_loop(p: Path) -> None:
    p.unlink()
    p.symlink_to(p.name)


def _other_stage_id(p: Path) -> None:
    with h5py.File(p, "r+") as f:
        f.attrs[layout.A_STAGE_ID] = "train-0000000000000000"


def _flipped_data(p: Path) -> None:
    offset = _dataset_offset(p)
    with open(p, "r+b") as f:
        f.seek(offset)
        byte = f.read(1)
        f.seek(offset)
        f.write(bytes([byte[0] ^ 0xFF]))


@pytest.mark.parametrize(
    "damage", [_truncate, _empty, _no_attributes, _a_folder, _symlink_loop, _other_stage_id, _flipped_data], ids=lambda d: d.__name__.strip("_")
)
def test_a_damaged_stage_is_moved_aside_and_recomputed_by_a_plain_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, damage) -> None:
    monkeypatch.chdir(tmp_path)
    write_spec(tmp_path, tiny_text(iterations=30))
    runner = CliRunner()
    assert runner.invoke(app, ["run", "spec.yaml", "--device", "cpu", "--quiet"]).exit_code == 0
    store = Store(tmp_path / "store" / "tiny")
    (sid,) = store.stage_ids()
    good = store.stage_path(sid).read_bytes()
    damage(store.stage_path(sid))
    dry = runner.invoke(app, ["run", "spec.yaml", "--dry-run"])
    assert dry.exit_code == 0 and "to run" in dry.output
    again = runner.invoke(app, ["run", "spec.yaml", "--device", "cpu", "--quiet"])
    assert again.exit_code == 0 and "1 trained" in again.output, again.output
    assert "broken" in again.output and "store/tiny/stages/broken/" in " ".join(again.output.split())
    assert Store(store.root).stage_problem(sid) is None
    assert len(list((store.stage_dir / layout.BROKEN).iterdir())) == 1
    with open_h5(store.stage_path(sid)) as f, h5py.File(__import__("io").BytesIO(good), "r") as g:
        assert (f[layout.metric_path("val_loss")][()] == g[layout.metric_path("val_loss")][()]).all()
    third = runner.invoke(app, ["run", "spec.yaml", "--device", "cpu", "--quiet"])
    assert third.exit_code == 0 and "1 cached" in third.output


def test_a_version_0_1_stage_without_checksum_counts_as_done(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    write_spec(tmp_path, tiny_text(iterations=30))
    runner = CliRunner()
    assert runner.invoke(app, ["run", "spec.yaml", "--device", "cpu", "--quiet"]).exit_code == 0
    store = Store(tmp_path / "store" / "tiny")
    (sid,) = store.stage_ids()
    with h5py.File(store.stage_path(sid), "r+") as f:
        del f.attrs[layout.A_CHECKSUM]
    again = runner.invoke(app, ["run", "spec.yaml", "--device", "cpu", "--quiet"])
    assert again.exit_code == 0 and "1 cached" in again.output, again.output


def test_a_file_size_limit_stops_the_run_with_one_message_and_keeps_finished_stages(tmp_path: Path) -> None:
    # width 1 writes a 15 KB stage; width 200 needs far more than the 100 KB limit
    write_spec(tmp_path, tiny_text(iterations=30, stack="off", tail="grid:\n  model.width: [1, 200]\n"))
    command = f"ulimit -f 100; exec {shlex.quote(sys.executable)} -m redundancy run spec.yaml --device cpu --quiet --workers 1"
    proc = subprocess.run(["bash", "-c", command], cwd=tmp_path, env={**os.environ, "OMP_NUM_THREADS": "1"}, capture_output=True, text=True, timeout=300)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 1 and "Traceback" not in out and "File too large" in out, out
    store = Store(tmp_path / "store" / "tiny")
    assert " ".join(out.split()).count("error:") == 1 and "store/tiny/stages/train-" in " ".join(out.split())
    (sid,) = store.stage_ids()
    assert store.stage_problem(sid) is None
    assert not _temporaries(store.root)


def test_a_store_path_that_is_a_file_or_too_long_is_one_message(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    write_spec(tmp_path, tiny_text(iterations=30))
    (tmp_path / "afile").write_text("mine\n")
    runner = CliRunner()
    for store, words in (("afile", "is a file"), ("afile/sub", "Not a directory"), ("x" * 300, "too long")):
        result = runner.invoke(app, ["run", "spec.yaml", "--device", "cpu", "--quiet", "--store", store])
        assert result.exit_code == 1 and words in " ".join(result.output.split()), result.output
        assert "Traceback" not in result.output
    assert (tmp_path / "afile").read_text() == "mine\n"


def _lock_folders(folders: list[Path], locked: bool) -> str:
    """Make ``folders`` unwritable (or writable again); the error a write then meets.

    Permissions do not stop root, so as root the folders are made immutable
    (``chattr +i``), which stops root too; where the file system has no such
    flag the test cannot make a folder unwritable, and is skipped."""
    if os.geteuid() != 0:
        for folder in folders:
            folder.chmod(0o555 if locked else 0o755)
        return "Permission denied"
    for folder in folders:
        done = subprocess.run(["chattr", "+i" if locked else "-i", str(folder)], capture_output=True, text=True)
        if done.returncode != 0:
            if locked:
                _lock_folders(folders, False)
                pytest.skip(f"running as root, and this file system cannot make a folder immutable ({done.stderr.strip()})")
    return "Operation not permitted"


def test_a_read_only_store_is_one_message(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    write_spec(tmp_path, tiny_text(iterations=30))
    runner = CliRunner()
    assert runner.invoke(app, ["run", "spec.yaml", "--device", "cpu", "--quiet"]).exit_code == 0
    store = tmp_path / "store" / "tiny"
    before = _stage_bytes(store)
    folders = [store, store / "stages"]
    reason = _lock_folders(folders, True)
    try:
        result = runner.invoke(app, ["run", "spec.yaml", "--device", "cpu", "--quiet", "--force"])
    finally:
        _lock_folders(folders, False)
    assert result.exit_code == 1 and reason in result.output, result.output
    assert _stage_bytes(store) == before


_LEAVE_A_TEMPORARY = """
import os, sys
from redundancy.store import Store, layout
store = Store(sys.argv[1])
with store.folder() as root:
    token = store._token(root)
name = layout.tmp_name("train-b.h5", os.getpid(), token)
(store.stage_dir / name).write_bytes(b"x")
print(name)
"""


def test_temporaries_of_a_running_writer_are_kept_of_a_dead_one_removed_and_of_no_writer_never(tmp_path: Path) -> None:
    store = Store(tmp_path / "s")
    store.prepare()
    child = subprocess.run([sys.executable, "-c", _LEAVE_A_TEMPORARY, str(store.root)], capture_output=True, text=True, timeout=60)
    assert child.returncode == 0, child.stderr
    gone = store.stage_dir / child.stdout.strip()
    with store.folder() as root:
        live = store.stage_dir / layout.tmp_name("train-a.h5", os.getpid(), store._token(root))
    live.write_bytes(b"x")
    unknown = layout.tmp_name("train-c.h5", 999_999_999, "0" * 16)  # the tool's form, but no journaled writer
    mine = [store.stage_dir / "draft.tmp", store.root / "notes.tmp", store.stage_dir / unknown, store.root / ".index.h5.12.tmp"]
    for path in mine:
        path.write_bytes(b"a user's")
    assert gone.exists() and store.clean_temporaries() == 1
    assert live.exists() and not gone.exists() and all(p.read_bytes() == b"a user's" for p in mine)
    assert {w.pid for w in store.writers()} == {os.getpid()}  # the gone writer's line is dropped


def test_a_file_system_without_locks_is_one_message_with_a_way_out(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import fcntl

    def no_locks(fd: int, op: int) -> None:
        raise OSError(errno.ENOLCK, os.strerror(errno.ENOLCK))

    monkeypatch.setattr(fcntl, "flock", no_locks)
    lock = WriterLock(tmp_path)
    with pytest.raises(StoreError, match=NO_LOCK_ENV):
        lock.acquire()
    monkeypatch.setenv(NO_LOCK_ENV, "1")
    lines: list[str] = []
    lock.acquire(log=lines.append)
    assert lines and NO_LOCK_ENV in lines[0]


def test_gc_moves_stages_of_earlier_spec_versions_aside(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    write_spec(tmp_path, tiny_text(iterations=30, seed=0))
    assert runner.invoke(app, ["run", "spec.yaml", "--device", "cpu", "--quiet"]).exit_code == 0
    write_spec(tmp_path, tiny_text(iterations=30, seed=1))  # the same file, edited
    edited = runner.invoke(app, ["run", "spec.yaml", "--device", "cpu", "--quiet"])
    assert edited.exit_code == 0 and "1 trained" in edited.output, edited.output
    store = Store(tmp_path / "store" / "tiny")
    with open_h5(store.index_path) as f:
        assert len(json.loads(f.attrs[layout.A_SPEC_HISTORY])) == 2
    (stale,) = stale_stage_ids(store)
    result = runner.invoke(app, ["gc", str(store.root)])
    assert result.exit_code == 0 and "1 stale" in result.output, result.output
    assert (store.stage_dir / layout.STALE / layout.stage_file(stale)).is_file()
    assert stale not in store.stage_ids() and len(store.stage_ids()) == 1
    assert runner.invoke(app, ["run", "spec.yaml", "--device", "cpu", "--quiet"]).output.count("1 cached") == 1


def test_gc_delete_frees_stale_stages_after_confirmation_and_only_files_it_wrote(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    for seed in (0, 1, 2):  # each edit of the spec leaves the previous training stale
        write_spec(tmp_path, tiny_text(iterations=20, seed=seed))
        assert runner.invoke(app, ["run", "spec.yaml", "--device", "cpu", "--quiet"]).exit_code == 0
    store = Store(tmp_path / "store" / "tiny")
    assert len(stale_stage_ids(store)) == 2
    assert runner.invoke(app, ["gc", str(store.root)]).exit_code == 0  # moved to stages/stale/, still taking space
    aside = store.stage_dir / layout.STALE
    mine = {  # files in stages/stale/ the tool did not write: never deleted
        "notes.txt": b"my notes",
        "train-0123456789abcdef.h5": b"not HDF5",
    }
    for name, data in mine.items():
        (aside / name).write_bytes(data)
    with h5py.File(aside / "train-fedcba9876543210.h5", "w") as f:
        f.attrs[layout.A_STAGE_ID] = "train-0000000000000000"  # HDF5, but its id is not its name
    before = {p.name for p in aside.iterdir()}
    dry = runner.invoke(app, ["gc", str(store.root), "--delete"])
    assert dry.exit_code == 0 and "dry run: 2 stale stage file(s)" in dry.output and "nothing was" in dry.output, dry.output
    assert {p.name for p in aside.iterdir()} == before
    for name in (*mine, "train-fedcba9876543210.h5"):
        assert f"keep    {aside / name}" in dry.output.replace("\n", "")
    done = runner.invoke(app, ["gc", str(store.root), "--delete", "--yes"])
    assert done.exit_code == 0 and "MiB freed" in done.output, done.output
    left = {p.name for p in aside.iterdir()}
    assert left == {*mine, "train-fedcba9876543210.h5"} and (aside / "notes.txt").read_bytes() == b"my notes"
    assert stale_stage_ids(store) == [] and len(store.stage_ids()) == 1
    again = runner.invoke(app, ["run", "spec.yaml", "--device", "cpu", "--quiet"])  # the current plan's stage is untouched
    assert again.exit_code == 0 and "0 trained" in again.output and "1 cached" in again.output, again.output
    assert runner.invoke(app, ["gc", str(store.root), "--delete"]).output.strip().endswith("no stale stage file to delete")

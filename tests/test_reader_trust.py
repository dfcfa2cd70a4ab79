"""Readers trust no byte: a stage's declared sizes and its checksum are checked before it is served.

Each failure is reproduced as a user meets it, by the real command in a subprocess under a memory
limit (``RLIMIT_AS``) and a timeout, at a scale that keeps the test fast:

- a decompression bomb: a train stage whose metric series are chunked gzip datasets declaring
  2^31 float64 values each (16 GiB, past the memory limit) in a file of a few kB, its checksum
  removed as a version 0.1 stage has none. ``report`` used to grow until the kernel killed it and
  the TUI to print a MemoryError traceback; every reader now names the dataset in one line and
  reads none of it;
- an edited or bit-rotted stage: ``show``, ``ls``, ``open_store(...).tensor()``, the TUI and the
  report used to serve it as done; the first read of its results or tensors in a process now
  verifies it against its checksum and shows it as corrupt (``ls`` stays a listing of attributes:
  ``ls --verify`` checks).

And ``report`` says which store it is on, one line per store on stderr.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import pytest

from redundancy.store import layout as L
from redundancy.store.files import content_checksum
from redundancy.store.reader import read_store
from support.tiny import reseal, run_spec, tiny_text

MEMORY = 3 << 30  # the address space each command may use: a reader that reads a bomb fails at once
TIMEOUT = 120
BOMB = 1 << 31  # float64 values each bombed metric declares: 16 GiB

SPEC = tiny_text("trust", model={"widths": [8]}, iterations=40, checkpoints=[20], tail="""\
studies:
  - kind: pruning
    layer: fc1
    checkpoint: best
    seeds: 1
""")


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("trust")
    _, store, report = run_spec(root, SPEC, "trust.yaml")
    assert not report.failed
    return store.root


def copy(made: Path, tmp_path: Path) -> Path:
    dest = tmp_path / "stores" / made.name
    shutil.copytree(made, dest)
    return dest


def train_stage(root: Path) -> Path:
    return next(s.path for s in read_store(root).stages if s.kind == "train" and s.path is not None)


def study_stage(root: Path) -> Path:
    return next(s.path for s in read_store(root).stages if s.kind == "pruning" and s.path is not None)


def bomb(path: Path) -> None:
    """Replace the metric series every reader draws by datasets that declare 16 GiB each and hold
    nothing (unwritten chunks read as zeros), and drop the checksum as a version 0.1 stage has none."""
    with h5py.File(path, "r+") as f:
        for name in ("test_accuracy", "val_loss", "train_loss"):
            del f[L.metric_path(name)]
            f.create_dataset(L.metric_path(name), shape=(BOMB,), dtype="f8", chunks=(1 << 16,), compression="gzip")
        del f.attrs[L.A_CHECKSUM]
    assert path.stat().st_size < 200_000


def edit_accuracy(path: Path) -> None:
    """An edited headline number: the file is a well-formed stage that no longer holds what was written."""
    with h5py.File(path, "r+") as f:
        f.attrs[L.A_TEST_ACCURACY] = 0.987654


def rot_a_byte(path: Path) -> None:
    """Bit rot: one byte of a checkpoint's weights flipped on disk."""
    with h5py.File(path, "r") as f:
        offset = int(f[L.checkpoint_path(20, "blocks.fc1.layer.weight")].id.get_offset()) + 5
    with open(path, "r+b") as f:
        f.seek(offset)
        byte = f.read(1)
        f.seek(offset)
        f.write(bytes([byte[0] ^ 0x10]))


def _limit_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY, MEMORY))


def bounded(*args: str) -> subprocess.CompletedProcess[str]:
    """``python args...`` with at most :data:`MEMORY` of address space and :data:`TIMEOUT` seconds."""
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, timeout=TIMEOUT, preexec_fn=_limit_memory)


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return bounded("-m", "redundancy", *args)


def clean_exit(result: subprocess.CompletedProcess[str]) -> str:
    """stdout and stderr, checked to hold no traceback and no memory error."""
    both = result.stdout + result.stderr
    assert "Traceback" not in both and "MemoryError" not in both and result.returncode >= 0, both
    return both


TENSOR = """\
import sys
import redundancy
from redundancy.errors import RedundancyError
s = redundancy.open_store(sys.argv[1])
print("runs:", s.runs.loc[0, "status"], s.runs.loc[0, "test_accuracy"])
try:
    print("tensor:", s.tensor("run", sys.argv[2]).shape)
except RedundancyError as exc:
    print("refused:", exc)
"""

TUI = """\
import asyncio, sys
from pathlib import Path
from redundancy.tui import RedundancyApp, details
from redundancy.tui.tree import StoreTree

async def settle(pilot):
    for _ in range(3):
        await pilot.pause()
        await pilot.app.workers.wait_for_complete()
    await pilot.pause()

async def main(root):
    app = RedundancyApp([root], poll=0)
    async with app.run_test(size=(110, 32)) as pilot:
        await settle(pilot)
        key = details.run_key(root, "run")
        app._reveal(key)
        await settle(pilot)
        app.query_one(StoreTree).move_cursor(app.nodes[key])
        await settle(pilot)
        print("detail:", app.detail.title if app.detail else None, "|", app.detail.message if app.detail else None)

asyncio.run(main(Path(sys.argv[1]).resolve()))
"""


def read_with(reader: str, root: Path, tmp_path: Path) -> tuple[subprocess.CompletedProcess[str], str]:
    """Run one reader on the store at ``root``; its exit and its output without traceback."""
    if reader == "show":
        result = cli("show", str(root))
    elif reader == "ls":
        result = cli("ls", "--verify", str(root))
    elif reader == "tensor":
        result = bounded("-c", TENSOR, str(root), "test_accuracy")
    elif reader == "tui":
        result = bounded("-c", TUI, str(root))
    else:
        result = cli("report", str(root.parent), "--out", str(tmp_path / "report"))
    return result, clean_exit(result)


READERS = ["show", "ls", "tensor", "tui", "report"]


# --- 7. decompression bombs ------------------------------------------------------------------------


@pytest.mark.parametrize("reader", READERS)
def test_a_decompression_bomb_is_one_line_and_never_read(made: Path, tmp_path: Path, reader: str) -> None:
    root = copy(made, tmp_path)
    path = train_stage(root)
    bomb(path)
    started = time.perf_counter()
    result, both = read_with(reader, root, tmp_path)
    seconds = time.perf_counter() - started
    refusal = "dataset 'metrics/test_accuracy' declares"
    assert seconds < 60, f"{reader} took {seconds:.0f} s"
    if reader == "tensor":
        assert "runs: unreadable None" in result.stdout and f"refused: run is unreadable: {refusal}" in result.stdout, both
        return
    if reader == "tui":
        assert result.returncode == 0 and f"| {path.name}: {refusal}" in result.stdout and "(not read" in result.stdout, both
        return
    assert result.returncode == 1, both
    lines = [line for line in result.stderr.splitlines() if refusal in line]
    assert len(lines) == 1 and path.name in lines[0] and "(not read" in lines[0], both
    if reader == "report":
        page = (tmp_path / "report" / "index.html").read_text(encoding="utf-8")
        assert "declares" in page and not list((tmp_path / "report" / "figures").glob("*training*"))
        assert list((tmp_path / "report" / "figures").glob("*pruning*.png"))  # the study beside it is still drawn


def test_declared_sizes_are_checked_against_the_kind_and_the_cap(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from redundancy.store.bounds import READ_LIMIT_ENV, Limits, file_problem, read_limit

    path = tmp_path / "f.h5"
    with h5py.File(path, "w") as f:
        f.attrs[L.A_STAGE_KIND] = L.KIND_TRAIN
        f.attrs[L.A_ITERATIONS] = 40
        f[L.metric_path("iteration")] = np.arange(0, 41, 10)
        f.create_dataset("results/big", shape=(1 << 20,), dtype="f4", chunks=(1 << 18,))
    with h5py.File(path, "r") as f:
        assert file_problem(f) is None
        assert "declares 4.2 MB (float32 of shape (1048576,)), over the 1.0 MB" in str(Limits(10**6).problem(f["results/big"]))
    with h5py.File(path, "r+") as f:  # more evaluations than a 40-iteration training has
        del f[L.metric_path("iteration")]
        f[L.metric_path("iteration")] = np.arange(42)
    with h5py.File(path, "r") as f:
        assert "'metrics/iteration' declares 42 entries; a training of 40 iterations records at most 41" in str(file_problem(f))
    with h5py.File(path, "r+") as f:  # one chunk larger than the cap, in a dataset of 80 bytes
        del f[L.metric_path("iteration")]
        f.create_dataset("results/wide", shape=(10,), maxshape=(None,), dtype="f8", chunks=(1 << 20,))
    with h5py.File(path, "r") as f:
        assert "'results/wide' declares chunks of 8.4 MB, over the 5.0 MB" in str(Limits(5 * 10**6).problem(f["results/wide"]))
        assert Limits(5 * 10**6).problem(f["results/big"]) is None
    monkeypatch.setenv(READ_LIMIT_ENV, "512M")
    assert read_limit() == 512 << 20
    monkeypatch.setenv(READ_LIMIT_ENV, "lots")
    with pytest.raises(Exception, match="not a size in bytes"):
        read_limit()


def test_a_bad_read_limit_is_one_line(made: Path) -> None:
    from redundancy.store.bounds import READ_LIMIT_ENV

    result = subprocess.run([sys.executable, "-m", "redundancy", "show", str(made)], capture_output=True, text=True,
                            timeout=TIMEOUT, env={**os.environ, READ_LIMIT_ENV: "lots"})
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    assert f"{READ_LIMIT_ENV}='lots' is not a size in bytes" in " ".join(result.stderr.split())


# --- 10. edited and bit-rotted stages ---------------------------------------------------------------


@pytest.mark.parametrize("reader", READERS)
def test_an_edited_stage_is_corrupt_not_done(made: Path, tmp_path: Path, reader: str) -> None:
    root = copy(made, tmp_path)
    path = train_stage(root)
    edit_accuracy(path)
    result, both = read_with(reader, root, tmp_path)
    assert "0.9877" not in result.stdout and "98.77" not in both  # the edited number is never served
    mismatch = "does not match its checksum"
    if reader == "tensor":
        assert "runs: corrupt None" in result.stdout and f"refused: run is corrupt: {mismatch}" in result.stdout, both
        return
    if reader == "tui":
        assert result.returncode == 0 and f"| {path.name}: {mismatch}" in result.stdout, both
        return
    assert result.returncode == 1, both
    lines = [line for line in result.stderr.splitlines() if mismatch in line]
    assert len(lines) == 1 and path.name in lines[0], both
    if reader in ("show", "ls"):
        assert "corrupt" in result.stdout, result.stdout
    if reader == "report":
        assert "corrupt" in (tmp_path / "report" / "index.html").read_text(encoding="utf-8")


def test_ls_lists_from_attributes_alone(made: Path, tmp_path: Path) -> None:
    """Plain ``ls`` reads no dataset (it stays fast), so it cannot know of an edit; ``ls --verify`` does."""
    root = copy(made, tmp_path)
    edit_accuracy(train_stage(root))
    listed = cli("ls", str(root))
    assert listed.returncode == 0 and "done" in listed.stdout and "corrupt" not in listed.stdout, listed.stderr


def test_bit_rot_in_a_tensor_is_corrupt_and_a_stage_without_checksum_is_still_read(made: Path, tmp_path: Path) -> None:
    root = copy(made, tmp_path)
    rot_a_byte(train_stage(root))
    study = study_stage(root)
    with h5py.File(study, "r+") as f:  # a version 0.1 stage: no checksum, read as it is
        del f.attrs[L.A_CHECKSUM]
    shown = cli("show", "--json", str(root))
    clean_exit(shown)
    doc = json.loads(shown.stdout)
    (run,) = doc["runs"]
    assert run["status"] == "corrupt" and run["test_accuracy"] is None and "checksum" in run["error"]
    (pruning,) = doc["studies"]
    assert pruning["status"] == "done" and pruning["summary"]
    result = bounded("-c", TENSOR, str(root), "fc1@best/random/accuracy")
    assert "refused: run is corrupt" in result.stdout, result.stdout + result.stderr


def test_the_slab_checksum_equals_the_whole_array_checksum(tmp_path: Path) -> None:
    path = tmp_path / "f.h5"
    with h5py.File(path, "w") as f:
        f.attrs["a"] = "x"
        f["m"] = np.arange(1000, dtype=np.float32).reshape(100, 10)
        f["s"] = np.float64(3.5)
        f["e"] = np.zeros((0, 3))
        f["v"] = np.arange(7, dtype=np.int64)
    with h5py.File(path, "r") as f:
        whole = content_checksum(f)
        assert content_checksum(f, slab_bytes=64) == whole  # 1 row of the matrix, parts of the vector
        assert content_checksum(f, slab_bytes=1) == whole
    reseal(path)
    with h5py.File(path, "r") as f:
        assert f.attrs[L.A_CHECKSUM] == whole


# --- report progress ----------------------------------------------------------------------------------


def test_report_says_which_store_it_is_on(made: Path, tmp_path: Path) -> None:
    first = copy(made, tmp_path)
    second = first.with_name("again")
    shutil.copytree(first, second)
    result = cli("report", str(first.parent), "--out", str(tmp_path / "report"))
    clean_exit(result)
    assert result.returncode == 0, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("report: store")]
    assert lines == [f"report: store 1 of 2, {second} (2 stage(s))", f"report: store 2 of 2, {first} (2 stage(s))"], result.stderr

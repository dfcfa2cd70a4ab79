"""docs/recompute_pruning.py recomputes stored pruning curves with numpy and h5py alone.

The store is the quickstart's spec with shorter training and only pruning studies: the
quickstart's own pruning study, and one over two layers with a step and a max_fraction (several
panels, keys prefixed by ``<layer>@<checkpoint>``). Both the run and the script are real
subprocesses; one thread, as the docs say, so the run is deterministic.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "docs" / "recompute_pruning.py"

EXTRA_STUDY = """  - kind: pruning
    name: two_layers
    layer: [fc1, fc2]
    checkpoint: best
    max_fraction: 0.6
    step: 7
    seeds: 2
    seed: 3
"""


def _env() -> dict[str, str]:
    return {**os.environ, "OMP_NUM_THREADS": "1"}


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("recompute")
    text = (ROOT / "specs" / "quickstart.yaml").read_text()
    head, _, studies = text.partition("studies:\n")
    pruning = re.search(r"  - kind: pruning\b.*\n(?:    .*\n)*", studies)
    assert pruning is not None, "the quickstart spec has a pruning study"
    head = re.sub(r"iterations: \d+", "iterations: 600", head)
    spec = folder / "quickstart.yaml"
    spec.write_text(head + "studies:\n" + pruning.group(0) + EXTRA_STUDY)
    out = folder / "store"
    done = subprocess.run(
        [sys.executable, "-m", "redundancy", "run", str(spec), "--store", str(out), "--device", "cpu", "--quiet"],
        capture_output=True, text=True, env=_env(), timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return out


def _recompute(store: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPT), str(store)], capture_output=True, text=True, env=_env(), timeout=300, cwd=ROOT
    )


def test_script_imports_neither_redundancy_nor_torch() -> None:
    text = SCRIPT.read_text()
    imports = re.findall(r"^\s*(?:import|from)\s+(\w+)", text, flags=re.M)
    assert "redundancy" not in imports and "torch" not in imports
    assert {"numpy", "h5py"} <= set(imports)


def test_recomputes_the_stored_pruning_curves_exactly(store: Path) -> None:
    done = _recompute(store)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.count(": recomputed") == 2
    assert re.search(r"accuracy\s+0\n", done.stdout), done.stdout
    assert re.search(r"order\s+0\n", done.stdout), done.stdout
    assert re.search(r"data \(sha256\)\s+0\n", done.stdout), done.stdout  # the rebuilt test set is the run's
    assert re.search(r"near-tied sample evaluations\s+\d+ \(logits within 0.0001; allowed to differ\), \d+ counted differently", done.stdout)
    assert done.stdout.rstrip().endswith("match")


def _script_module():
    import importlib.util

    spec = importlib.util.spec_from_file_location("recompute_pruning", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_only_near_tied_samples_may_count_differently() -> None:
    """A sample whose label's logit and another's are within the stated tolerance may go either way;
    any other sample must count as the script counts it."""
    rp = _script_module()
    y = np.array([0, 1, 2, 0])
    logits = np.array(
        [
            [5.0, 5.0 - 1e-6, 0.0],  # label first, a near tie: ambiguous
            [1.0, 3.0, 0.0],  # clearly right
            [4.0, 4.0 + 1e-7, 0.0],  # near tie of two wrong classes: wrong either way, not ambiguous
            [1.0, 9.0, 0.0],  # clearly wrong
        ],
        dtype=np.float32,
    )
    assert rp.ambiguous_samples(logits, y).tolist() == [True, False, False, False]
    sure, unsure, n = np.array([[1]]), np.array([[1]]), 4  # one sure right, one that may go either way
    for stored in (1 / 4, 2 / 4):  # the ambiguous sample counted wrong, or right
        rep = rp.Report()
        rep.check_accuracy("acc", np.array([[stored]]), np.array([[0.5]]), sure, unsure, n)
        assert not rep.failures and rep.ambiguous == 1
    for stored in (0 / 4, 3 / 4):  # a sure sample counted differently
        rep = rp.Report()
        rep.check_accuracy("acc", np.array([[stored]]), np.array([[0.5]]), sure, unsure, n)
        assert rep.failures and "beyond the near-tied samples" in rep.failures[0]


def test_the_train_stage_records_the_data_files_hash(store: Path) -> None:
    from redundancy.data.mnist5k import csv_path

    (train,) = (store / "stages").glob("train-*.h5")
    with h5py.File(train, "r") as f:
        files = json.loads(f.attrs["data_files"])
        tensors = json.loads(f.attrs["data_sha256"])
    assert files == {"mnist_5k.csv.gz": hashlib.sha256(csv_path().read_bytes()).hexdigest()}
    assert sorted(tensors) == ["test_x", "test_y", "train_x", "train_y", "val_x", "val_y"]


def test_a_changed_accuracy_is_a_mismatch(store: Path, tmp_path: Path) -> None:
    copy = tmp_path / "store"
    shutil.copytree(store, copy)
    for stage in (copy / "stages").glob("pruning-*.h5"):
        with h5py.File(stage, "r+") as f:
            if f.attrs["study"] != "two_layers":  # the quickstart's study
                values = f["results/fc1@best/magnitude/smallest/accuracy"][()]
                values[5] += 0.01  # ten more digits right at one level: more than near ties could explain
                f["results/fc1@best/magnitude/smallest/accuracy"][...] = values
    done = _recompute(copy)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "MISMATCH fc1@best/magnitude/smallest/accuracy" in done.stdout

"""The engine end to end at tiny scale: plan, cache, re-run, reproducibility, crash safety."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from redundancy.cli import app
from redundancy.engine import make_plan
from redundancy.engine.plan import canonical_run, digest
from redundancy.spec.loader import load_spec
from redundancy.spec.schema import RunConfig, TrainConfig
from redundancy.store import Store
from redundancy.store.reader import read_document
from support.tiny import TINY, run_spec, stage_arrays, write_spec


def test_train_stage_writes_checkpoints_and_metrics(tmp_path: Path) -> None:
    plan, store, report = run_spec(tmp_path, TINY.format(iterations=60))
    assert report.trained == [plan.runs[0].id] and not report.failed
    info = store.stage(plan.runs[0].id)
    assert info.kind == "train"
    arrays = stage_arrays(info.path)
    iterations = sorted({int(k.split("/")[1]) for k in arrays if k.startswith("checkpoints/")})
    assert 0 in iterations and 10 in iterations and 60 in iterations
    assert info.attrs["best_iteration"] in iterations
    assert arrays["metrics/iteration"].tolist() == [0, 20, 40, 60]
    for key in ("train_loss", "val_loss", "val_accuracy", "test_loss", "test_accuracy"):
        assert arrays[f"metrics/{key}"].shape == (4,)
    assert arrays["checkpoints/00000060/blocks.fc1.layer.weight"].dtype == np.float32
    # the index links every stage for h5py users
    with h5py.File(store.index_path, "r") as f:
        assert "runs/run/checkpoints" in f
        assert "spec_text" in f.attrs


def test_second_run_is_cached_and_changing_a_field_reruns_only_it(tmp_path: Path) -> None:
    text = TINY.format(iterations=40)
    plan, store, report = run_spec(tmp_path, text)
    assert len(report.trained) == 1
    mtime = store.stage_path(plan.runs[0].id).stat().st_mtime_ns
    plan2, _, report2 = run_spec(tmp_path, text)
    assert report2.trained == [] and report2.cached == [plan.runs[0].id]
    assert store.stage_path(plan.runs[0].id).stat().st_mtime_ns == mtime
    # a grid with the old point and a new one: only the new one trains
    grid = text + "grid:\n  seed: [0, 1]\n"
    plan3, _, report3 = run_spec(tmp_path, grid)
    assert len(plan3.runs) == 2
    assert report3.cached == [plan.runs[0].id] and len(report3.trained) == 1
    # --force recomputes
    _, _, report4 = run_spec(tmp_path, text, force=True)
    assert report4.trained == [plan.runs[0].id]


def test_new_optional_field_with_default_keeps_hashes() -> None:
    run = RunConfig()
    before = digest(canonical_run(run))
    # Simulate a future optional field by dumping with an extra default-valued key dropped:
    payload = canonical_run(run)
    assert "graph" not in payload.get("train", {})
    assert digest(payload) == before
    changed = run.model_copy(update={"train": TrainConfig(lr=0.5)})
    assert digest(canonical_run(changed)) != before


def test_hash_ignores_defaults_spelled_out(tmp_path: Path) -> None:
    a = make_plan(load_spec(write_spec(tmp_path, TINY.format(iterations=30), "a.yaml")))
    b = make_plan(load_spec(write_spec(tmp_path, TINY.format(iterations=30) + "  weight_decay: 0.0\n  graph: off\n", "b.yaml")))
    assert a.runs[0].id == b.runs[0].id


def test_cpu_training_is_bit_identical(tmp_path: Path) -> None:
    text = TINY.format(iterations=50)
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    plan_a, store_a, _ = run_spec(tmp_path / "a", text)
    plan_b, store_b, _ = run_spec(tmp_path / "b", text)
    a = stage_arrays(store_a.stage_path(plan_a.runs[0].id))
    b = stage_arrays(store_b.stage_path(plan_b.runs[0].id))
    assert a.keys() == b.keys()
    for key in a:
        assert np.array_equal(a[key], b[key], equal_nan=True), key


def test_failed_stage_is_reported_and_others_continue(tmp_path: Path) -> None:
    text = TINY.format(iterations=40) + "grid:\n  train.lr: [0.05, 1.0e+30]\n"
    plan, store, report = run_spec(tmp_path, text)
    assert len(report.failed) == 1 and "lr1e+30" in report.failed[0].label
    assert len(report.trained) == 1
    doc = read_document(store.root)
    statuses = sorted(r["status"] for r in doc["runs"])
    assert statuses == ["done", "failed"]


# stack: off trains the four seeds one after another (not as one stacked model), so a
# kill can land between two stage writes; 4,000 iterations keep each run well over
# the 0.3 s the kill waits.
CLI_SPEC = TINY.format(iterations=4000).replace("name: tiny", "name: crash") + "  stack: off\ngrid:\n  seed: [0, 1, 2, 3]\n"


def _cli(args: list[str], cwd: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.Popen([sys.executable, "-m", "redundancy.cli", *args], cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def test_sigkill_mid_run_then_resume_equals_uninterrupted(tmp_path: Path) -> None:
    crash, clean = tmp_path / "crash", tmp_path / "clean"
    crash.mkdir()
    clean.mkdir()
    write_spec(crash, CLI_SPEC)
    write_spec(clean, CLI_SPEC)
    proc = _cli(["run", "spec.yaml", "--device", "cpu", "--quiet"], crash)
    stages = crash / "store" / "crash" / "stages"
    deadline = time.time() + 120
    while time.time() < deadline and len(list(stages.glob("train-*.h5"))) < 1:
        time.sleep(0.05)
    time.sleep(0.3)  # well inside the next stage's training
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    finished = list(stages.glob("train-*.h5"))
    assert 1 <= len(finished) < 4, "kill landed outside the run"
    # every finished stage and the index are readable after the kill
    for path in finished:
        stage_arrays(path)
    with h5py.File(crash / "store" / "crash" / "index.h5", "r"):
        pass
    resumed = _cli(["run", "spec.yaml", "--device", "cpu", "--quiet"], crash)
    assert resumed.wait(timeout=300) == 0, resumed.stderr.read().decode() if resumed.stderr else ""
    full = _cli(["run", "spec.yaml", "--device", "cpu", "--quiet"], clean)
    assert full.wait(timeout=300) == 0
    a = sorted((crash / "store" / "crash" / "stages").glob("*.h5"))
    b = sorted((clean / "store" / "crash" / "stages").glob("*.h5"))
    assert [p.name for p in a] == [p.name for p in b] and len(a) == 4
    assert not list((crash / "store" / "crash").rglob("*.tmp"))
    for pa, pb in zip(a, b):
        xa, xb = stage_arrays(pa), stage_arrays(pb)
        assert xa.keys() == xb.keys()
        for key in xa:
            assert np.array_equal(xa[key], xb[key], equal_nan=True), (pa.name, key)


def test_reader_opens_store_while_a_run_writes(tmp_path: Path) -> None:
    write_spec(tmp_path, CLI_SPEC)
    proc = _cli(["run", "spec.yaml", "--device", "cpu", "--quiet"], tmp_path)
    store = Store(tmp_path / "store" / "crash")
    seen: set[int] = set()
    reads = 0
    try:
        while proc.poll() is None:
            if store.exists():
                doc = read_document(store.root)  # must never raise on a store being written
                seen.add(sum(r["status"] == "done" for r in doc["runs"]))
                reads += 1
            time.sleep(0.02)
    finally:
        proc.wait(timeout=300)
    assert proc.returncode == 0
    assert reads > 5 and len(seen) >= 2, (reads, seen)
    assert len([r for r in read_document(store.root)["runs"] if r["status"] == "done"]) == 4


def test_cli_run_show_ls_dry_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    write_spec(tmp_path, TINY.format(iterations=30))
    runner = CliRunner()
    dry = runner.invoke(app, ["run", "spec.yaml", "--dry-run"])
    assert dry.exit_code == 0 and "to run" in dry.output and not (tmp_path / "store" / "tiny").exists()
    first = runner.invoke(app, ["run", "spec.yaml", "--device", "cpu", "--quiet"])
    assert first.exit_code == 0, first.output
    again = runner.invoke(app, ["run", "spec.yaml", "--device", "cpu", "--quiet"])
    assert again.exit_code == 0 and "1 cached" in again.output
    ls = runner.invoke(app, ["ls"])
    assert ls.exit_code == 0 and "train" in ls.output and "done" in ls.output
    shown = runner.invoke(app, ["show", "store/tiny", "--json"])
    assert shown.exit_code == 0
    import json

    doc = json.loads(shown.stdout)
    run = doc["runs"][0]
    for key in ("id", "model", "dataset", "seed", "status", "iterations", "best_iteration", "test_accuracy"):
        assert key in run
    assert doc["spec"]["name"] == "tiny" and doc["studies"] == []
    missing = runner.invoke(app, ["show", "store/nothing"])
    assert missing.exit_code == 1 and "not a store" in missing.output


def test_cuda_device_requested_without_cuda_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA; the error path is for machines without it")
    monkeypatch.chdir(tmp_path)
    write_spec(tmp_path, TINY.format(iterations=30))
    result = CliRunner().invoke(app, ["run", "spec.yaml", "--device", "cuda"])
    assert result.exit_code == 1 and "CUDA is not available" in result.output


def test_study_override_naming_a_default_value_changes_the_identity(tmp_path: Path) -> None:
    base = TINY.format(iterations=30) + "studies:\n  - kind: lottery\n    rounds: 1\n"
    plain = make_plan(load_spec(write_spec(tmp_path, base, "plain.yaml")))
    override = make_plan(load_spec(write_spec(tmp_path, base + "    train:\n      weight_decay: 0.0\n", "override.yaml")))
    renamed = make_plan(load_spec(write_spec(tmp_path, base + "    name: ticket\n", "renamed.yaml")))
    assert plain.studies[0].id != override.studies[0].id
    assert plain.studies[0].id == renamed.studies[0].id


def test_python_dash_m_redundancy_is_the_command(tmp_path: Path) -> None:
    """``python -m redundancy`` (where no console script is on PATH) runs the same CLI under its name."""
    spec = write_spec(tmp_path, TINY.format(iterations=10))
    out = subprocess.run([sys.executable, "-m", "redundancy", "validate", str(spec)], capture_output=True, text=True, cwd=tmp_path)
    assert out.returncode == 0 and "ok" in out.stdout, out.stderr
    usage = subprocess.run([sys.executable, "-m", "redundancy", "--help"], capture_output=True, text=True, cwd=tmp_path)
    assert usage.returncode == 0 and "Usage: redundancy " in usage.stdout

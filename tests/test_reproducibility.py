"""Stored results depend on the spec, not on where or how the stages ran.

- The same 2-seed grid run locally (seeds may stack there) and on Ray stores the
  same arrays, bit for bit, whatever this process's own thread count.
- Provenance records the thread count, the CPU libraries and the device.
- A training stage killed with SIGKILL after a stored resume state goes on
  from it and stores what an uninterrupted run stores, bit for bit.
- Nothing on the ``run`` path imports torchvision, Textual, matplotlib or SciPy
  for specs that do not need them.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from redundancy.engine import drive, make_plan
from redundancy.engine.executors import RayExecutor, RayOptions
from redundancy.engine.plan import canonical_run
from redundancy.spec.loader import load_spec
from redundancy.store import Store
from support.tiny import run_spec, stage_arrays, tiny_text, write_spec

STUDY_TAIL = """\
studies:
  - kind: pruning
    layer: fc1
    seeds: 2
"""
GRID = tiny_text("seeds", seeds=[0, 1], iterations=120, eval_interval=40, checkpoints=[10], tail=STUDY_TAIL)


@pytest.fixture
def two_threads() -> Iterator[None]:
    """This process computes with two threads, as PyTorch's default would on this machine."""
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(before)


def assert_same_stages(a: Store, b: Store) -> None:
    names = sorted(p.name for p in a.stage_dir.glob("*.h5"))
    assert names == sorted(p.name for p in b.stage_dir.glob("*.h5")) and names
    for name in names:
        xa, xb = stage_arrays(a.stage_dir / name), stage_arrays(b.stage_dir / name)
        assert xa.keys() == xb.keys(), name
        for key in xa:
            assert np.array_equal(xa[key], xb[key], equal_nan=True), (name, key)


def test_provenance_has_threads_libraries_and_device(tmp_path: Path, two_threads: None) -> None:
    plan, store, report = run_spec(tmp_path, GRID)
    assert not report.failed
    for stage in plan.stages:
        attrs = store.stage(stage.id).attrs
        assert attrs["threads"] == 1 and attrs["device_type"] == "cpu" and attrs["device"] == "cpu"
        assert attrs["parallel_backend"] and attrs["blas"] and attrs["cpu_capability"]
    assert torch.get_num_threads() == 2  # the run leaves this process's own setting as it was
    # a thread count the spec sets is used, recorded, and part of the run's identity
    text = GRID.replace("  checkpoints: [10]\n", "  checkpoints: [10]\n  threads: 2\n")
    (tmp_path / "two").mkdir()
    plan2, store2, _ = run_spec(tmp_path / "two", text)
    assert {store2.stage(s.id).attrs["threads"] for s in plan2.stages} == {2}
    assert canonical_run(plan2.runs[0].config)["train"]["threads"] == 2
    assert {r.id for r in plan2.runs}.isdisjoint(r.id for r in plan.runs)


def test_local_grid_equals_ray_bit_for_bit(tmp_path: Path, two_threads: None) -> None:
    ray = pytest.importorskip("ray", reason="the ray extra is not installed (pip install 'redundancy[ray]')")
    (tmp_path / "local").mkdir()
    _, local, report = run_spec(tmp_path / "local", GRID)
    assert not report.failed and len(report.trained) == 2 and len(report.studied) == 2
    plan = make_plan(load_spec(write_spec(tmp_path, GRID)))
    remote = Store(tmp_path / "ray")
    ray.init(num_cpus=2, include_dashboard=False, logging_level="WARNING", log_to_driver=False)
    try:
        executor = RayExecutor(RayOptions(cpus_per_stage=2))
        report = drive(plan, remote, executor, device="cpu")
        executor.close()
    finally:
        ray.shutdown()
    assert not report.failed and len(report.trained) == 2
    assert_same_stages(local, remote)
    assert {remote.stage(s.id).attrs["threads"] for s in plan.stages} == {1}


# --- resume inside a training stage --------------------------------------------------------------

LONG = tiny_text("long", iterations=6000, eval_interval=500, checkpoints=[10, 3000]) + "  resume_every: 100\n"


def _cli(folder: Path, *args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (str(Path(__file__).parents[1]), os.environ.get("PYTHONPATH", "")) if p)}
    return subprocess.Popen(
        [sys.executable, "-m", "redundancy", "run", "spec.yaml", "--device", "cpu", "--quiet", *args],
        cwd=folder, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )


def test_training_killed_after_a_resume_state_resumes_bit_for_bit(tmp_path: Path) -> None:
    (tmp_path / "whole").mkdir()
    plan, whole, report = run_spec(tmp_path / "whole", LONG)
    assert not report.failed and not list(whole.root.glob("resume/*"))  # removed once the stage is stored
    (stage,) = plan.runs

    folder = tmp_path / "killed"
    folder.mkdir()
    write_spec(folder, LONG)
    killed = Store(folder / "store" / "long")
    proc = _cli(folder)
    deadline = time.monotonic() + 120
    while not killed.resume_path(stage.id).exists():
        assert proc.poll() is None, proc.communicate()[0]
        assert time.monotonic() < deadline, "no resume state appeared"
        time.sleep(0.02)
    time.sleep(0.3)  # let it move past the first resume state
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not killed.has(stage.id) and killed.resume_path(stage.id).exists()

    again = _cli(folder)
    out, _ = again.communicate(timeout=300)
    assert again.returncode == 0, out
    assert f"resume  train run ({stage.id}) from iteration" in out
    resumed_at = int(out.split("from iteration ")[1].split()[0])
    assert 100 <= resumed_at < 6000
    assert not killed.resume_path(stage.id).exists()
    xa, xb = stage_arrays(whole.stage_path(stage.id)), stage_arrays(killed.stage_path(stage.id))
    assert xa.keys() == xb.keys()
    for key in xa:
        assert np.array_equal(xa[key], xb[key], equal_nan=True), key


def test_unreadable_resume_state_trains_from_the_start(tmp_path: Path) -> None:
    text = tiny_text("short", iterations=60, checkpoints=[10])
    (tmp_path / "a").mkdir()
    plan, ref, _ = run_spec(tmp_path / "a", text)
    (stage,) = plan.runs
    store = Store(tmp_path / "b")
    store.resume_path(stage.id).parent.mkdir(parents=True)
    store.resume_path(stage.id).write_bytes(b"not a resume state")
    (tmp_path / "bspec").mkdir()
    _, _, report = run_spec(tmp_path / "bspec", text, store=store.root)
    assert report.trained == [stage.id] and not store.resume_path(stage.id).exists()
    xa, xb = stage_arrays(ref.stage_path(stage.id)), stage_arrays(store.stage_path(stage.id))
    assert all(np.array_equal(xa[k], xb[k], equal_nan=True) for k in xa)


# --- imports ---------------------------------------------------------------------------------------

HEAVY = ("torchvision", "textual", "matplotlib", "scipy")

WRAPPER = """\
import atexit, runpy, sys
out = sys.argv[1]
atexit.register(lambda: open(out, "w").write("\\n".join(sorted(sys.modules))))
sys.argv = ["redundancy", *sys.argv[2:]]
runpy.run_module("redundancy", run_name="__main__", alter_sys=True)
"""

MNIST5K = """\
name: imports
seed: 0
data: {name: mnist-5k}
model: {name: lenet_300_100}
train: {iterations: 40, eval_interval: 20, checkpoints: "log:3"}
studies:
  - {kind: pruning, layer: fc1, seeds: 1}
  - {kind: dynamics}
  - {kind: subspace, layer: fc1, ks: [1, 4], seeds: 1}
"""


def test_run_imports_no_ui_plotting_or_scipy(tmp_path: Path) -> None:
    (tmp_path / "wrap.py").write_text(WRAPPER, encoding="utf-8")
    write_spec(tmp_path, MNIST5K)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (str(Path(__file__).parents[1]), os.environ.get("PYTHONPATH", "")) if p)}
    done = subprocess.run(
        [sys.executable, "wrap.py", "modules.txt", "run", "spec.yaml", "--device", "cpu", "--quiet"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 trained, 3 studies run" in done.stdout + done.stderr
    modules = (tmp_path / "modules.txt").read_text(encoding="utf-8").split()
    assert "redundancy.studies.dynamics" in modules and "torch" in modules  # the wrapper saw the run
    heavy = sorted({m.split(".")[0] for m in modules} & set(HEAVY))
    assert not heavy, f"the run imported {heavy}"

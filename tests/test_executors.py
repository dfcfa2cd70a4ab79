"""Executors for real: a local Ray instance, submitit's local executor (real subprocesses), killed workers.

The same 4-point grid (width x seed, with a study per run) runs on the local
executor, on Ray and through submitit; every stage file must hold the same
datasets and the same headline attributes, bit for bit. The grid turns off the
local executor's stacking of seeds (``train.stack: off``, not part of any stage
id): stacked training equals separate training only within float tolerance,
and here the executors, not the stacking, are under test. Ray starts once for
the module.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from redundancy.cli import app
from redundancy.engine import drive, make_plan, run_plan
from redundancy.engine.executors import (
    LocalOptions,
    RayExecutor,
    RayOptions,
    SlurmExecutor,
    SlurmOptions,
    make_executor,
    parse_time_limit,
    resolve_options,
    slurm_parameters,
)
from redundancy.engine.jobs import StageJob, run_job
from redundancy.engine.plan import Plan
from redundancy.errors import RedundancyError
from redundancy.spec.loader import load_spec
from redundancy.store import Store, open_h5
from support import grid_study  # a test study kind, registered only inside the fixture below
from support.tiny import datasets, tiny_text, write_spec

grid_study.unregister()

# The tiny run on a 2 x 2 grid, with the test study kind on every point.
GRID_TAIL = """\
grid:
  model.width: [1, 2]
  seed: [0, 1]
studies:
  - kind: tiny_norms
"""

# Attributes that describe the result (not when or where it was computed) must match across executors.
RESULT_ATTRS = ("run", "grid_point", "config", "identity", "best_iteration", "test_accuracy", "best_val_loss", "summary", "curves")


@pytest.fixture(scope="module")
def tiny_kind() -> Iterator[None]:
    """Registers the test study kind here and lets workers import it (they unpickle its config)."""
    with grid_study.installed():
        yield


@pytest.fixture(scope="module")
def ray_instance(tiny_kind: None) -> Iterator[Any]:
    ray = pytest.importorskip("ray", reason="the ray extra is not installed (pip install 'redundancy[ray]')")
    ray.init(num_cpus=2, include_dashboard=False, logging_level="WARNING", log_to_driver=False)
    yield ray
    ray.shutdown()


def grid_text(name: str, iterations: int) -> str:
    return tiny_text(name, iterations=iterations, eval_interval=50, checkpoints=[10], stack="off", tail=GRID_TAIL)


def make_grid(folder: Path, name: str = "grid", iterations: int = 200, extra: str = "") -> Plan:
    folder.mkdir(parents=True, exist_ok=True)
    text = grid_text(name, iterations) + extra
    return make_plan(load_spec(write_spec(folder, text)))


@pytest.fixture(scope="module")
def local_reference(tiny_kind: None, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The grid run by the local executor: what every other executor must reproduce."""
    folder = tmp_path_factory.mktemp("local")
    plan = make_grid(folder)
    store = Store(folder / "store")
    with grid_study.one_thread():
        report = run_plan(plan, store, device=torch.device("cpu"))
    assert not report.failed and len(report.trained) == 4 and len(report.studied) == 4
    return store.root


def stage_files(root: Path) -> dict[str, Path]:
    return {p.name: p for p in sorted((root / "stages").glob("*.h5"))}


def read_stage(path: Path) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    with open_h5(path) as f:
        arrays = datasets(f)
        attrs = {k: f.attrs[k] for k in RESULT_ATTRS if k in f.attrs}
    return arrays, attrs


def assert_same_store(a: Path, b: Path) -> None:
    fa, fb = stage_files(a), stage_files(b)
    assert list(fa) == list(fb) and len(fa) == 8
    for name in fa:
        xa, aa = read_stage(fa[name])
        xb, ab = read_stage(fb[name])
        assert xa.keys() == xb.keys(), name
        for key in xa:
            # CPU training and studies are deterministic, so equal means bit-for-bit.
            assert np.array_equal(xa[key], xb[key], equal_nan=True), (name, key)
        assert {k: str(v) for k, v in aa.items()} == {k: str(v) for k, v in ab.items()}, name
    with h5py.File(b / "index.h5", "r") as f:
        assert len(f["runs"]) == 4 and "tiny_norms" in f["studies/width2_seed1"]


class CountingStore(Store):
    """A store that counts how often each stage file is written."""

    def __init__(self, root: Path):
        super().__init__(root)
        self.writes: Counter[str] = Counter()

    def write_stage(self, stage_id: str, attrs: dict[str, Any], tensors: dict[str, Any]) -> Path:
        self.writes[stage_id] += 1
        return super().write_stage(stage_id, attrs, tensors)


# --- submitit -------------------------------------------------------------------------------------


def _processes(marker: bytes) -> list[int]:
    """PIDs of processes whose command line contains ``marker``."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if marker in (entry / "cmdline").read_bytes():
                    pids.append(int(entry.name))
            except OSError:
                continue
    return pids


class CountingSubmitit(SlurmExecutor):
    submitted = 0

    def submit(self, job: StageJob, shared: Any = None) -> Any:
        self.submitted += 1
        return super().submit(job, shared)


@pytest.mark.skipif(not Path("/proc/self/cmdline").exists(), reason="finds the job's process through /proc (Linux)")
def test_submitit_local_subprocesses_equal_local_and_a_killed_job_reruns(
    tiny_kind: None, local_reference: Path, tmp_path: Path
) -> None:
    pytest.importorskip("submitit", reason="the slurm extra is not installed (pip install 'redundancy[slurm]')")
    plan = make_grid(tmp_path)
    store = CountingStore(tmp_path / "store")
    jobs = tmp_path / "jobs"
    options = SlurmOptions(cluster="local", max_in_flight=2, time_limit=10)
    executor = CountingSubmitit(options, jobs)
    assert executor.chain_studies  # one job per grid point: its train stage, then its study
    killed: list[int] = []

    def killer() -> None:  # SIGKILL the first job's process while it starts up
        deadline = time.time() + 60
        while time.time() < deadline and not killed:
            pids = _processes(b"submitit.core._submit")
            if pids:
                time.sleep(0.3)
                try:
                    os.kill(pids[0], signal.SIGKILL)
                    killed.append(pids[0])
                except ProcessLookupError:
                    continue
            time.sleep(0.02)

    thread = threading.Thread(target=killer, daemon=True)
    thread.start()
    report = drive(plan, store, executor, device="cpu")
    thread.join(timeout=5)
    assert killed and executor.submitted == 5, (killed, executor.submitted)  # 4 grid points + 1 re-run
    assert not report.failed and len(report.trained) == 4 and len(report.studied) == 4
    assert set(store.writes.values()) == {1} and len(store.writes) == 8
    assert_same_store(local_reference, store.root)
    # the job pickles (inputs and outputs) are removed once stored; the logs stay for the user
    assert not list(jobs.glob("*_result.pkl")) and list(jobs.glob("*.out"))


# --- Ray ------------------------------------------------------------------------------------------


def test_ray_grid_equals_local_and_resumes(ray_instance: Any, local_reference: Path, tmp_path: Path) -> None:
    plan = make_grid(tmp_path)
    store = CountingStore(tmp_path / "store")
    executor = RayExecutor(RayOptions())
    assert executor.capacity() == 2  # two CPUs, one per stage
    report = drive(plan, store, executor, device="cpu")
    executor.close()  # leaves the fixture's instance running: it did not start it
    assert ray_instance.is_initialized()
    assert not report.failed and len(report.trained) == 4 and len(report.studied) == 4
    assert set(store.writes.values()) == {1} and len(store.writes) == 8
    assert_same_store(local_reference, store.root)
    # a second run finds everything stored and submits nothing
    again = CountingStore(store.root)
    report2 = drive(plan, again, RayExecutor(RayOptions()), device="cpu")
    assert len(report2.cached) == 8 and not again.writes


class InterruptingStore(CountingStore):
    """A store whose driver is interrupted (Ctrl-C) as it is about to write its ``after``-th stage."""

    def __init__(self, root: Path, after: int):
        super().__init__(root)
        self.after = after

    def write_stage(self, stage_id: str, attrs: dict[str, Any], tensors: dict[str, Any]) -> Path:
        if sum(self.writes.values()) + 1 == self.after:
            raise KeyboardInterrupt
        return super().write_stage(stage_id, attrs, tensors)


def test_ray_driver_interrupted_then_resumed(ray_instance: Any, local_reference: Path, tmp_path: Path) -> None:
    plan = make_grid(tmp_path)
    store = InterruptingStore(tmp_path / "store", after=3)
    with pytest.raises(KeyboardInterrupt):
        drive(plan, store, RayExecutor(RayOptions()), device="cpu")
    assert len(stage_files(store.root)) == 2 and not list(store.root.rglob("*.tmp"))
    with h5py.File(store.root / "index.h5", "r") as f:  # the index was rebuilt on the way out
        assert len(f["runs"]) + len(f.get("studies", {})) >= 1
    resumed = CountingStore(store.root)
    report = drive(plan, resumed, RayExecutor(RayOptions()), device="cpu")
    assert len(report.cached) == 2 and len(resumed.writes) == 6 and not report.failed
    assert_same_store(local_reference, store.root)


def _ray_train_workers() -> list[int]:
    """PIDs of Ray workers running a train stage now (Ray titles a busy worker ``ray::<task name>``)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            title = (entry / "cmdline").read_bytes().split(b"\0")[0]
        except OSError:
            continue
        if title.startswith(b"ray::redundancy train-"):
            pids.append(int(entry.name))
    return pids


@pytest.mark.skipif(not Path("/proc/self/cmdline").exists(), reason="finds the Ray worker through /proc (Linux)")
def test_ray_worker_killed_mid_task_is_retried_and_stored_once(ray_instance: Any, tmp_path: Path) -> None:
    plan = make_grid(tmp_path, name="killed", iterations=1000)
    store = CountingStore(tmp_path / "store")
    killed: list[tuple[int, str]] = []
    stop = threading.Event()

    def killer() -> None:
        while not stop.is_set() and not killed:
            for pid in _ray_train_workers():
                title = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0].decode()
                time.sleep(0.2)  # well inside the training loop
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    continue
                killed.append((pid, title.split()[1]))
                return
            time.sleep(0.02)

    thread = threading.Thread(target=killer, daemon=True)
    thread.start()
    try:
        report = drive(plan, store, RayExecutor(RayOptions(max_retries=2)), device="cpu")
    finally:
        stop.set()
        thread.join(timeout=5)
    assert killed, "no Ray worker was caught running a train stage"
    pid, stage_id = killed[0]
    assert not report.failed, report.failed
    assert len(report.trained) == 4 and len(report.studied) == 4
    assert store.writes[stage_id] == 1 and set(store.writes.values()) == {1} and len(store.writes) == 8
    assert not list(store.root.rglob("*.tmp"))
    # the retried stage is complete: it equals the same stage computed in this process
    stage = next(r for r in plan.runs if r.id == stage_id)
    with grid_study.one_thread():
        (direct,) = run_job(StageJob((stage,), (), spec_name=plan.spec.name, device="cpu"))
    stored, _ = read_stage(store.stage_path(stage_id))
    assert stored.keys() == direct.tensors.keys()
    for key, value in direct.tensors.items():
        assert np.array_equal(stored[key], np.asarray(value), equal_nan=True), key


FAILING = """\
  - kind: tiny_norms
    name: picky
    fail_on_seed: 1
"""


def test_cli_ray_failures_are_reported_with_their_grid_point(
    ray_instance: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A diverging run and a crashing study fail alone; everything else is stored."""
    monkeypatch.chdir(tmp_path)
    make_grid(tmp_path, name="failing", extra=FAILING)
    text = (tmp_path / "spec.yaml").read_text().replace("model.width: [1, 2]", "train.lr: [0.05, 1.0e+30]")
    (tmp_path / "spec.yaml").write_text(text)
    result = CliRunner().invoke(app, ["run", "spec.yaml", "--executor", "ray", "--device", "cpu", "--quiet"])
    assert result.exit_code == 1, result.output
    assert "lr1e+30_seed0" in result.output and "training loss is" in result.output
    assert "tiny_norms refuses seed 1" in result.output
    index = Store(tmp_path / "store" / "failing").index_attrs()
    failures = {f["label"]: f for f in json.loads(index["failures"])}
    # 2 diverged runs, their 4 studies, and the picky study of the healthy seed-1 run
    assert len(failures) == 7
    assert failures["train lr1e+30_seed1"]["point"] == {"train.lr": 1e30, "seed": 1}
    assert "its run lr1e+30_seed1 failed" in failures["tiny_norms lr1e+30_seed1/picky"]["error"]
    assert failures["tiny_norms lr0.05_seed1/picky"]["point"] == {"train.lr": 0.05, "seed": 1}
    done = stage_files(tmp_path / "store" / "failing")
    assert sum(n.startswith("train-") for n in done) == 2 and sum(n.startswith("tiny_norms-") for n in done) == 3
    shown = CliRunner().invoke(app, ["show", "store/failing"])
    assert shown.exit_code == 0 and "grid: picky" in shown.output and "1 failed" in shown.output


# --- options and errors ---------------------------------------------------------------------------


def test_time_limits() -> None:
    assert parse_time_limit(90) == 90 and parse_time_limit("90") == 90
    assert parse_time_limit("2:00:00") == 120 and parse_time_limit("1:30") == 90
    assert parse_time_limit("1-00") == 1440 and parse_time_limit("1-2:00:30") == 1440 + 121
    for bad in ("soon", "0", -5, "1:2:3:4"):
        with pytest.raises(ValueError):
            parse_time_limit(bad)


def test_executor_section_is_validated_by_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    text = grid_text("opts", 10).replace("studies:\n  - kind: tiny_norms\n", "")
    (tmp_path / "spec.yaml").write_text(text + "executor:\n  kind: slurm\n  partiton: gpu\n  time_limit: later\n")
    result = CliRunner().invoke(app, ["validate", "spec.yaml"])
    assert result.exit_code == 2
    assert "spec.yaml:23:3: executor.partiton: unknown field 'partiton'; did you mean 'partition'?" in " ".join(result.output.split())
    assert "executor.time_limit" in result.output and "Traceback" not in result.output
    (tmp_path / "spec.yaml").write_text(text + "executor:\n  kind: slurm\n  partition: gpu\n  time_limit: '4:00:00'\n")
    ok = CliRunner().invoke(app, ["validate", "spec.yaml"])
    assert ok.exit_code == 0, ok.output
    # the command line overrides the spec; a cluster without sbatch is a clear error, nothing written
    run = CliRunner().invoke(app, ["run", "spec.yaml", "--time-limit", "30"])
    assert run.exit_code == 1 and "sbatch" in run.output and "login node" in run.output
    assert not (tmp_path / "store").exists() and not (tmp_path / "slurm_jobs").exists()


def test_slurm_job_script_carries_the_options() -> None:
    """The #SBATCH lines submitit writes for a job, from the spec's executor section and the flags."""
    slurm = pytest.importorskip("submitit.slurm.slurm", reason="the slurm extra is not installed (pip install 'redundancy[slurm]')")
    options = resolve_options(
        SlurmOptions(partition="gpu", mem_gb=31.5, setup=["module load cuda"], sbatch={"constraint": "a100"}),
        time_limit="1-2:00:00", gpus_per_stage=2, cpus_per_stage=3.5,
    )
    script = slurm._make_sbatch_string(command="python -m job", folder="/jobs", **slurm_parameters(options))
    for line in ("--partition=gpu", "--time=1560", "--gpus-per-node=2", "--cpus-per-task=4", "--mem=32G",
                 "--constraint=a100", "--job-name=redundancy", "--ntasks-per-node=1"):
        assert f"#SBATCH {line}\n" in script, line
    assert "module load cuda" in script


def test_flag_checks() -> None:
    base = LocalOptions()
    with pytest.raises(RedundancyError, match="--gpus-per-stage applies to --executor ray or slurm"):
        resolve_options(base, gpus_per_stage=1)
    with pytest.raises(RedundancyError, match="whole GPUs"):
        resolve_options(base, kind="slurm", gpus_per_stage=0.5, time_limit="60")
    with pytest.raises(RedundancyError, match="time limit"):
        resolve_options(base, kind="slurm")
    with pytest.raises(RedundancyError, match="--executor: .*'local', 'ray' or 'slurm'"):
        resolve_options(base, kind="kubernetes")
    options = resolve_options(RayOptions(cpus_per_stage=4), gpus_per_stage=0.25, kind=None)
    assert options.kind == "ray" and options.gpus_per_stage == 0.25 and options.cpus_per_stage == 4


@pytest.mark.parametrize("module, kind, extra", [("ray", "ray", "ray"), ("submitit", "slurm", "slurm")])
def test_missing_extra_names_the_install_command(monkeypatch: pytest.MonkeyPatch, module: str, kind: str, extra: str) -> None:
    monkeypatch.setitem(sys.modules, module, None)  # import fails as if the package were absent
    options = RayOptions() if kind == "ray" else SlurmOptions(time_limit=10)
    with pytest.raises(RedundancyError, match=rf"pip install 'redundancy\[{extra}\]'"):
        make_executor(options, spec_name="x")

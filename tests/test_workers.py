"""The local executor's worker processes: the same stored bits as one job at a time, live progress,
and nothing left computing or hanging when a worker or the whole run is killed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner

from redundancy.cli import app
from redundancy.engine import drive, make_plan, run_plan
from redundancy.engine import events as ev
from redundancy.engine.executors import LocalExecutor, LocalOptions, resolve_options, spec_executor_options
from redundancy.engine import spawn
from redundancy.engine.spawn import usable_cores, worker_count
from redundancy.engine.jobs import StageJob
from redundancy.errors import RedundancyError, SpecError
from redundancy.spec.loader import load_spec
from redundancy.store import Store
from support.tiny import stage_arrays, tiny_text, write_spec

GRID = tiny_text("grid", seeds=[0, 1], iterations=60, checkpoints=[10], tail="studies:\n  - kind: pruning\n    layer: fc1\n    seeds: 1\n")
LONG = tiny_text("long", seeds=[0, 1], iterations=4000, eval_interval=200, checkpoints=[10]) + "  resume_every: 500\n"


def same_stages(a: Store, b: Store) -> None:
    """Both stores hold the same stage files with bit-identical arrays."""
    ids = sorted(a.stage_ids())
    assert ids == sorted(b.stage_ids()) and ids
    for stage_id in ids:
        xa, xb = stage_arrays(a.stage_path(stage_id)), stage_arrays(b.stage_path(stage_id))
        assert xa.keys() == xb.keys(), stage_id
        for key in xa:
            assert np.array_equal(xa[key], xb[key], equal_nan=True), (stage_id, key)


def plan_in(folder: Path, text: str) -> Any:
    folder.mkdir(parents=True, exist_ok=True)
    return make_plan(load_spec(write_spec(folder, text)))


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> Store:
    """The tiny grid with its studies, one job at a time in this process."""
    folder = tmp_path_factory.mktemp("reference")
    store = Store(folder / "store")
    report = run_plan(plan_in(folder, GRID), store, device="cpu")
    assert not report.failed and len(report.trained) == 2
    return store


#: How a worker starts: a copy of the driver (one-thread jobs on Linux), or a fresh Python (``engine/spawn.py``).
STARTS = ["fork", "exec"]


@pytest.mark.parametrize("start", STARTS)
def test_two_workers_store_the_same_bits_and_forward_progress(reference: Store, tmp_path: Path, start: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REDUNDANCY_WORKER_START", start)
    store = Store(tmp_path / "store")
    seen: list[ev.Event] = []
    report = run_plan(plan_in(tmp_path, GRID), store, device="cpu", on_event=seen.append, workers=2)
    assert not report.failed and len(report.trained) == 2 and len(report.studied) == 2
    same_stages(reference, store)
    started = [e for e in seen if isinstance(e, ev.RunStarted)]
    assert started[0].where == "2 worker processes"
    assert {e.stage_id for e in seen if isinstance(e, ev.StageStarted)} == set(store.stage_ids())
    trained = {e.stage_id for e in seen if isinstance(e, ev.StageStep) and e.evaluated and e.completed > 0}
    assert trained == set(report.trained)  # every training's steps reached the driver while it ran
    assert [type(e).__name__ for e in seen].count("StageDone") == 4 and not store.progress_ids()


@pytest.mark.parametrize("retries", [1, 0])
def test_a_worker_killed_mid_job_is_retried_or_fails_its_job(reference: Store, tmp_path: Path, retries: int) -> None:
    plan = plan_in(tmp_path, GRID.replace("iterations: 60", "iterations: 1500"))
    store = Store(tmp_path / "store")
    executor = LocalExecutor(LocalOptions(workers=2, max_retries=retries), spec_name=plan.spec.name)
    victim = plan.runs[0]
    killed: list[int] = []
    seen: list[ev.Event] = []

    def on_event(event: ev.Event) -> None:
        seen.append(event)
        if not killed and isinstance(event, ev.StageStep) and event.stage_id == victim.id and event.evaluated and event.completed > 0:
            pid = store.read_progress(victim.id)["pid"]  # type: ignore[index]
            assert pid in executor.pids() and pid != os.getpid()
            os.kill(pid, signal.SIGKILL)
            killed.append(pid)

    try:
        report = drive(plan, store, executor, device="cpu", on_event=on_event)
    finally:
        executor.close()
    assert killed and not executor.pids()
    died = f"its worker process {killed[0]} died (killed by SIGKILL)"
    if retries:
        retried = [e for e in seen if isinstance(e, ev.StageRetried)]
        assert [(e.stage_id, e.attempt, e.reason) for e in retried] == [(victim.id, 2, died)]
        assert not report.failed and len(store.stage_ids()) == 4
    else:
        failed = {f.label: f.error for f in report.failed}
        assert failed == {"train seed0": died, "pruning seed0/pruning": "its run seed0 failed"}
        assert set(report.trained) == {plan.runs[1].id} and len(report.studied) == 1
    other = Store(tmp_path / "again")
    run_plan(plan, other, device="cpu")  # the same long spec in this process: the stored bits agree
    for stage_id in store.stage_ids():
        xa, xb = stage_arrays(store.stage_path(stage_id)), stage_arrays(other.stage_path(stage_id))
        assert all(np.array_equal(xa[k], xb[k], equal_nan=True) for k in xa), stage_id


def _gone(pid: int) -> bool:
    """Whether process ``pid`` has ended (a zombie waiting for its new parent to reap it has)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return True
    except OSError:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        return False
    return state in ("Z", "X")


def _cli(folder: Path, *args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (str(Path(__file__).parents[1]), os.environ.get("PYTHONPATH", "")) if p)}
    return subprocess.Popen(
        [sys.executable, "-m", "redundancy", "run", "spec.yaml", "--device", "cpu", "--quiet", *args],
        cwd=folder, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="workers die with their driver through Linux's prctl")
@pytest.mark.parametrize("start", STARTS)
def test_a_killed_run_leaves_no_worker_and_the_next_run_completes(tmp_path: Path, start: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REDUNDANCY_WORKER_START", start)
    plan = plan_in(tmp_path, LONG)
    store = Store(tmp_path / "store" / "long")
    proc = _cli(tmp_path, "--workers", "2")
    deadline = time.monotonic() + 120
    pids: dict[str, int] = {}
    while len(pids) < 2:
        assert proc.poll() is None, proc.communicate()[0]
        assert time.monotonic() < deadline, "the workers reported no progress"
        for run in plan.runs:
            progress = store.read_progress(run.id)
            if progress and progress.get("iteration", 0) > 0:
                pids[run.id] = int(progress["pid"])
        time.sleep(0.05)
    assert len(set(pids.values())) == 2 and proc.pid not in pids.values()  # two worker processes, not the driver
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    deadline = time.monotonic() + 20
    while not all(_gone(pid) for pid in pids.values()):
        assert time.monotonic() < deadline, f"workers still alive after their run was killed: {pids}"
        time.sleep(0.05)
    assert not any(store.has(run.id) for run in plan.runs)

    again = _cli(tmp_path, "--workers", "2")
    out, _ = again.communicate(timeout=300)
    assert again.returncode == 0, out
    assert "Traceback" not in out and "on 2 worker processes" in out
    assert sorted(store.stage_ids()) == sorted(r.id for r in plan.runs) and not store.progress_ids()


def test_workers_option_flag_and_auto(monkeypatch: pytest.MonkeyPatch) -> None:
    assert resolve_options(LocalOptions(), workers="3") == LocalOptions(workers=3)
    assert resolve_options(spec_executor_options({"kind": "local", "workers": "auto"})).workers == "auto"  # type: ignore[attr-defined]
    assert resolve_options(spec_executor_options({"workers": 2})).workers == 2  # type: ignore[attr-defined]
    for bad in ("0", "many", "-1"):
        with pytest.raises(RedundancyError, match=rf"--workers: expected a number of worker processes \(1 or more\) or 'auto'; found '{bad}'"):
            resolve_options(LocalOptions(), workers=bad)
    with pytest.raises(RedundancyError, match="--workers applies to --executor local, not ray"):
        resolve_options(LocalOptions(), kind="ray", workers=2)
    with pytest.raises(SpecError, match="executor.workers"):
        spec_executor_options({"kind": "local", "workers": True})
    # auto: one per usable core for two or more jobs on the CPU; one job, or a GPU, runs in the driver's process
    assert worker_count("auto", "cpu", 2) == usable_cores() == len(os.sched_getaffinity(0))
    assert worker_count("auto", "cpu", 1) == 1 and worker_count("auto", "cuda", 8) == 1 and worker_count(3, "cpu", 1) == 3
    # auto never oversubscribes: as many workers as the cores hold at the spec's threads a job
    monkeypatch.setattr(spawn, "usable_cores", lambda: 8)
    assert [worker_count("auto", "cpu", 4, threads) for threads in (1, 2, 3, 8, 16)] == [8, 4, 2, 1, 1]
    assert worker_count(3, "cpu", 4, 8) == 3  # a number is the user's to choose


def _open_files(pid: int) -> list[str]:
    """What process ``pid``'s file descriptors point at (those that close while being read are left out)."""
    targets = []
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            targets.append(os.readlink(f"/proc/{pid}/fd/{fd}"))
        except FileNotFoundError:
            pass
    return targets


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="workers start as copies of the driver on Linux only")
def test_a_forked_worker_keeps_none_of_the_drivers_files(tmp_path: Path) -> None:
    """A copy of the driver closes what it inherited (the store's lock, open files, the other workers' sockets):
    a held copy of the lock would keep the store locked, and of a socket would hide a worker's death."""
    plan = plan_in(tmp_path, GRID)
    held = tmp_path / "held.lock"
    executor = LocalExecutor(LocalOptions(workers=2), spec_name=plan.spec.name)
    with held.open("w"):
        try:
            executor.prepare([StageJob((r,)) for r in plan.runs], "cpu")
            assert executor._pool is not None and executor._pool.fork
            pids = executor.pids()
            assert len(pids) == 2
            for pid in pids:
                deadline = time.monotonic() + 30
                while True:  # the copy closes what it inherited first thing, a moment after the fork
                    targets = _open_files(pid)
                    if str(held) not in targets or time.monotonic() > deadline:
                        break
                    time.sleep(0.01)
                assert str(held) not in targets
                assert sum(t.startswith("socket:") for t in targets) == 1, targets  # its own, none of its sibling's
        finally:
            executor.close()
    assert all(not Path(f"/proc/{pid}").exists() or "zombie" in Path(f"/proc/{pid}/status").read_text() for pid in pids)


def test_workers_start_fresh_for_jobs_of_more_than_one_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    """OpenMP's thread team does not survive a fork (a copy that computes with two threads can hang), nor does CUDA."""
    assert spawn.can_fork(1) == sys.platform.startswith("linux")
    assert not spawn.can_fork(2) and not spawn.can_fork(1, "cuda")
    monkeypatch.setenv("REDUNDANCY_WORKER_START", "exec")
    assert not spawn.can_fork(1)


def test_auto_workers_hold_the_specs_thread_count(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A grid whose spec sets ``train.threads: 2`` gets half as many auto workers as one that does not."""
    plain = plan_in(tmp_path / "plain", GRID)
    wide = make_plan(load_spec(write_spec(tmp_path / "plain", GRID), ["train.threads=2"]))
    assert {StageJob((r,)).threads for r in plain.runs} == {1} and {StageJob((r,)).threads for r in wide.runs} == {2}
    assert {StageJob((), (s,)).threads for s in wide.studies} == {2}
    monkeypatch.setattr(spawn, "usable_cores", lambda: 2)
    for plan, workers in ((plain, 2), (wide, 1)):
        executor = LocalExecutor(LocalOptions(workers="auto"))
        try:
            executor.prepare([StageJob((r,)) for r in plan.runs], "cpu")
            assert executor.workers == workers and len(executor.pids()) == (workers if workers > 1 else 0)
        finally:
            executor.close()


def test_cli_rejects_a_bad_workers_flag_in_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    write_spec(tmp_path, GRID)
    result = CliRunner().invoke(app, ["run", "spec.yaml", "--device", "cpu", "--workers", "lots"])
    assert result.exit_code != 0 and "Traceback" not in result.output
    assert "--workers: expected a number of worker processes (1 or more) or 'auto'; found 'lots'" in " ".join(result.output.split())
    assert not (tmp_path / "store").exists()

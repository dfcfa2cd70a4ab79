"""Training beside other work: the engine's thread policy against PyTorch's default, in one run.

Quickstart training (LeNet-300-100 on the offline MNIST 5k digits, SGD, batch
64) runs in a fresh process per measurement, timed from its first step to its
last (imports and data loading excluded), in three conditions:

- alone;
- beside one busy single-threaded process (a Python loop);
- beside a competing two-thread PyTorch training process;

each with the policy (one thread: what ``redundancy run`` uses unless the spec
sets ``train.threads``) and with PyTorch's default (one thread per core). A
row's ``textbook`` is PyTorch's default, ``engine`` the policy, in iterations
per second; the note gives both times and each one's slowdown against its own
quiet time.

Then a seed grid's throughput through the engine itself: ``redundancy run`` of
4 seeds, each way from a fresh process into a fresh store, so imports, data
loading and worker start-up count: with ``workers: auto`` (independent stages
side by side, one thread each), one stage at a time with one thread
(``workers: 1``), and one stage at a time with PyTorch's default thread count
(``workers: 1``, ``train.threads`` set to the core count), interleaved, the
best of each counting. Two grids: the quickstart's training alone (the hardest
case for side by side: two-thread training scales best), and
``specs/quickstart.yaml`` whole (its studies gain little from a second
thread). Runs per second; the ratio is the workers' rate over the best of the
two one-at-a-time ways.

On CPU only: on CUDA the host threads do not compute.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

HERE = Path(__file__).resolve().parent
ITERATIONS = 1500


def _train(threads: int, iterations: int, seed: int) -> float:
    """Seconds of quickstart training with ``threads`` threads in this process."""
    from redundancy.data import load_data
    from redundancy.spec.schema import DataConfig, ModelConfig, TrainConfig, resolve_train
    from redundancy.train import train_model

    torch.set_num_threads(threads)
    data = load_data(DataConfig(name="mnist-5k"), validation=0.1, device=torch.device("cpu"))
    model = ModelConfig(name="lenet_300_100")
    train = resolve_train(TrainConfig(iterations=iterations, batch_size=64, optimizer="sgd", lr=0.01, momentum=0.9, eval_interval=iterations), model)
    marks: dict[str, float] = {}

    def callback(it: int, metrics: dict[str, float] | None) -> None:
        if it == 1:
            marks["first"] = time.perf_counter()
        if it == iterations:
            marks["last"] = time.perf_counter()

    train_model(model, train, data, seed=seed, callback=callback)
    return marks["last"] - marks["first"]


def _spawn(*args: str) -> subprocess.Popen[str]:
    env = {**os.environ}
    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        env.pop(name, None)  # PyTorch's default must be its own
    return subprocess.Popen([sys.executable, str(Path(__file__).resolve()), *args], env=env, stdout=subprocess.PIPE, text=True)


def _seconds(proc: subprocess.Popen[str]) -> float:
    out, _ = proc.communicate(timeout=1800)
    if proc.returncode != 0:
        raise RuntimeError(f"training subprocess exited with {proc.returncode}")
    return float(out.strip().splitlines()[-1])


def _timed(threads: int, seed: int = 0) -> float:
    return _seconds(_spawn("train", str(threads), str(ITERATIONS), str(seed)))


def _beside(competitor: list[str], threads: int) -> float:
    comp = subprocess.Popen(competitor, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        time.sleep(2.0)  # the competitor is running (and a training competitor has loaded its data)
        return _timed(threads)
    finally:
        comp.kill()
        comp.wait()


def run(device: str) -> list[dict[str, Any]]:
    if torch.device(device).type != "cpu":
        return [{"benchmark": "contention", "status": "skipped", "note": "CPU only (on CUDA the host threads do not compute)"}]
    cores = os.cpu_count() or 1
    busy = [sys.executable, "-c", "while True: pass"]
    rival = [sys.executable, str(Path(__file__).resolve()), "compete"]
    conditions = [("alone", None), ("beside one busy single-threaded process", busy), ("beside a two-thread PyTorch training", rival)]
    quiet: dict[int, float] = {}
    rows = []
    for name, competitor in conditions:
        seconds = {}
        for threads in (1, cores):
            seconds[threads] = _timed(threads) if competitor is None else _beside(competitor, threads)
            quiet.setdefault(threads, seconds[threads])
        policy, default = seconds[1], seconds[cores]
        rows.append(
            {
                "benchmark": f"quickstart training {ITERATIONS} it, {name}: 1 thread vs PyTorch's default ({cores})",
                "textbook": ITERATIONS / default,
                "engine": ITERATIONS / policy,
                "unit": "it/s",
                "ratio": default / policy,
                "note": f"1 thread {policy:.1f} s ({policy / quiet[1]:.1f}× its quiet time), default {default:.1f} s ({default / quiet[cores]:.1f}×)",
                "target": "≤2× quiet beside a two-thread training" if competitor is rival else "",
            }
        )

    rows.append(_single_row(cores))
    rows += _grid_rows(cores)
    return rows


def _run_quickstart(store: Path, threads: int | None) -> float:
    """Seconds of ``redundancy run specs/quickstart.yaml`` (training and its three studies), start to exit."""
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "MKL_NUM_THREADS")}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(HERE.parent), env.get("PYTHONPATH", "")) if p)
    extra = ["--set", f"train.threads={threads}"] if threads else []
    cmd = [sys.executable, "-m", "redundancy", "run", str(HERE.parent / "specs" / "quickstart.yaml"), "--store", str(store), "--device", "cpu", "--quiet", *extra]
    start = time.perf_counter()
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=1800)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"redundancy run exited with {done.returncode}: {(done.stdout + done.stderr).strip().splitlines()[-1:]}")
    return seconds


def _single_row(cores: int) -> dict[str, Any]:
    """One ``redundancy run`` of the quickstart: the policy (1 thread) against the spec asking for every core."""
    with tempfile.TemporaryDirectory() as tmp:
        policy = min(_run_quickstart(Path(tmp) / f"policy{i}", None) for i in range(2))
        default = min(_run_quickstart(Path(tmp) / f"cores{i}", cores) for i in range(2))
    best_fixed = min(policy, default)
    return {
        "benchmark": f"one redundancy run of specs/quickstart.yaml (training and 3 studies): 1 thread vs {cores} threads",
        "textbook": 1 / best_fixed,
        "engine": 1 / policy,
        "unit": "runs/s",
        "ratio": best_fixed / policy,
        "note": f"whole command, best of 2: 1 thread {policy:.1f} s, {cores} threads {default:.1f} s",
        "target": "≥0.77 (within 30 % of the best fixed thread count)",
    }


#: Enough runs that the workers' start is paid once per worker, as in a real grid.
GRID_SEEDS = 4
TRAINING_ONLY = """\
name: grid
seeds: {seeds}
data: {name: mnist-5k}
model: {name: lenet_300_100}
train: {iterations: 3000, batch_size: 64, optimizer: sgd, lr: 0.01, momentum: 0.9, validation: 0.1, eval_interval: 100}
"""


def _quickstart_grid() -> str:
    """``specs/quickstart.yaml`` (training and its three studies) for seeds 0 to ``GRID_SEEDS - 1``."""
    text = (HERE.parent / "specs" / "quickstart.yaml").read_text(encoding="utf-8")
    if "\nseed: 0\n" not in text:
        raise RuntimeError("specs/quickstart.yaml no longer says 'seed: 0'; update benchmarks/contention.py")
    return text.replace("\nseed: 0\n", "\nseeds: {seeds}\n")


def _run_grid(folder: Path, template: str, workers: str, threads: int | None) -> float:
    """Seconds of ``redundancy run`` of a seed grid, from process start to exit."""
    folder.mkdir()
    text = template.replace("{seeds}", str(list(range(GRID_SEEDS)))) + f"executor: {{kind: local, workers: {workers}}}\n"
    (folder / "spec.yaml").write_text(text, encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "MKL_NUM_THREADS")}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(HERE.parent), env.get("PYTHONPATH", "")) if p)
    extra = ["--set", f"train.threads={threads}"] if threads else []
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "redundancy", "run", "spec.yaml", "--device", "cpu", "--quiet", *extra],
        cwd=folder, env=env, capture_output=True, text=True, timeout=1800,
    )
    seconds = time.perf_counter() - start
    if done.returncode != 0 or f"{GRID_SEEDS} trained" not in done.stdout + done.stderr:
        raise RuntimeError(f"redundancy run exited with {done.returncode}: {(done.stdout + done.stderr).strip().splitlines()[-1:]}")
    return seconds


#: Each way runs this many times, the three ways interleaved so that drift in the machine's speed touches all
#: alike; the best of each counts (a single run varied by up to 30 % from one minute to the next).
GRID_REPEATS = 3


def _grid_row(cores: int, what: str, template: str, repeats: int = GRID_REPEATS) -> dict[str, Any]:
    ways = {"auto": ("auto", None), "one": ("1", None), "default": ("1", cores)}
    times: dict[str, list[float]] = {name: [] for name in ways}
    with tempfile.TemporaryDirectory() as tmp:
        for repeat in range(repeats):
            for name, (workers, threads) in ways.items():
                times[name].append(_run_grid(Path(tmp) / f"{name}{repeat}", template, workers, threads))
    parallel, one, default = (min(times[name]) for name in ways)
    best_fixed = min(one, default)
    spread = ", ".join(f"{name} " + "/".join(f"{t:.1f}" for t in ts) for name, ts in times.items())
    return {
        "benchmark": f"seed grid of {GRID_SEEDS} {what}, redundancy run: workers auto ({cores} cores) vs the best fixed thread count one stage at a time",
        "textbook": GRID_SEEDS / best_fixed,
        "engine": GRID_SEEDS / parallel,
        "unit": "runs/s",
        "ratio": best_fixed / parallel,
        "note": (
            f"whole command (start, imports, data): workers auto {parallel:.1f} s, "
            f"one at a time with 1 thread {one:.1f} s, one at a time with {cores} threads {default:.1f} s "
            f"(best of {repeats}; all runs in s: {spread})"
        ),
        "target": "≥1",
    }


def _grid_rows(cores: int) -> list[dict[str, Any]]:
    return [
        _grid_row(cores, "quickstart trainings (3,000 it each, no studies)", TRAINING_ONLY),
        _grid_row(cores, "specs/quickstart.yaml runs (training and 3 studies each)", _quickstart_grid(), repeats=2),
    ]


def _compete() -> None:
    """A two-thread PyTorch training that runs until killed."""
    while True:
        _train(2, 100_000, 7)


if __name__ == "__main__":
    sys.path.insert(0, str(HERE.parent))
    if sys.argv[1:2] == ["train"]:
        print(_train(int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])))
    elif sys.argv[1:2] == ["grid"]:
        for row in _grid_rows(os.cpu_count() or 1):
            print(row)
    elif sys.argv[1:2] == ["compete"]:
        _compete()
    else:
        for r in run(sys.argv[1] if len(sys.argv) > 1 else "cpu"):
            print(r)

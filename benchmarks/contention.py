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

Then a seed grid's throughput, two quickstart trainings (seeds 0 and 1) on a
quiet machine: one after another with one thread, one after another with two
threads, and side by side as two one-thread processes (what running a grid's
independent stages in parallel would give). Trainings per second.

On CPU only: on CUDA the host threads do not compute.
"""

from __future__ import annotations

import os
import subprocess
import sys
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

    # A seed grid of two trainings on a quiet machine.
    start = time.perf_counter()
    for seed in (0, 1):
        _timed(1, seed)
    one = time.perf_counter() - start
    start = time.perf_counter()
    for seed in (0, 1):
        _timed(2, seed)
    two = time.perf_counter() - start
    start = time.perf_counter()
    procs = [_spawn("train", "1", str(ITERATIONS), str(seed)) for seed in (0, 1)]
    for p in procs:
        _seconds(p)
    parallel = time.perf_counter() - start
    best_fixed = min(one, two)
    note = f"2 trainings (process start and data loading included): 1 thread in turn {one:.1f} s, 2 threads in turn {two:.1f} s, 2 one-thread processes side by side {parallel:.1f} s"
    rows.append(
        {
            "benchmark": "seed grid of 2 quickstart trainings: 2 one-thread processes side by side vs the best fixed thread count in turn",
            "textbook": 2 / best_fixed,
            "engine": 2 / parallel,
            "unit": "trainings/s",
            "ratio": best_fixed / parallel,
            "note": note,
            "target": "≥1",
        }
    )
    return rows


def _compete() -> None:
    """A two-thread PyTorch training that runs until killed."""
    while True:
        _train(2, 100_000, 7)


if __name__ == "__main__":
    sys.path.insert(0, str(HERE.parent))
    if sys.argv[1:2] == ["train"]:
        print(_train(int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])))
    elif sys.argv[1:2] == ["compete"]:
        _compete()
    else:
        for r in run(sys.argv[1] if len(sys.argv) > 1 else "cpu"):
            print(r)

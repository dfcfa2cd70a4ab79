"""End to end: ``redundancy run`` of the seed's LeNet experiment on mnist-5k, and the memory of ``make run``.

The first row times, as a subprocess, the whole command a researcher types:
50,000 iterations of LeNet-300-100 (the seed's training config) on the
offline MNIST 5k digits, then every pruning curve of fc1 (each criterion in
both directions, random orders), all written to a fresh store. Its textbook
counterpart is only the tutorial training loop for the same 50,000 iterations,
at the rate measured here (no evaluation, no pruning, no store): a lower bound
on the textbook time.

The second row is the peak resident memory of ``make run`` (``redundancy run
specs/quickstart.yaml``, CPU, fresh store), read from ``getrusage`` of a
wrapper process whose only child is that command.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

from common import best_of, on_cuda, random_bundle, row, tensor_loader, textbook_rate, threads_note

from redundancy.spec.schema import ModelConfig

ITERATIONS = 50_000
REPO = Path(__file__).resolve().parent.parent

SPEC = """\
name: bench_end_to_end
seed: 0
data:
  name: mnist-5k
model:
  name: lenet_300_100
train:
  iterations: {iterations}
studies: {studies}
"""


def pruning_study() -> tuple[list[dict[str, Any]], str]:
    """The pruning study with every criterion (both directions where it has them), if the study kind exists."""
    try:
        from redundancy.studies.pruning.study import CRITERIA
    except ImportError:
        return [], "no pruning study kind in this checkout"
    criteria: list[str] = []
    for name, criterion in CRITERIA.items():
        criteria += [f"{name}:smallest", f"{name}:largest"] if criterion.directed else [name]
    study = {"kind": "pruning", "layer": "fc1", "checkpoint": "best", "criteria": criteria}
    return [study], f"pruning fc1: {len(criteria)} curves"


def redundancy_run(spec: Path, store: Path, device: str) -> float:
    """Seconds of ``redundancy run SPEC`` in a subprocess (raises with its output if it fails)."""
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "redundancy.cli", "run", str(spec), "--store", str(store), "--device", device, "--quiet"],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"redundancy run failed ({done.returncode}):\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
    return seconds


PEAK = """\
import resource, subprocess, sys, time
start = time.perf_counter()
code = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, time.perf_counter() - start, code)
"""


def make_run_peak(store: Path) -> tuple[float, float]:
    """Peak RSS (GiB) and seconds of ``redundancy run specs/quickstart.yaml`` on CPU into ``store``."""
    command = [sys.executable, "-m", "redundancy.cli", "run", "specs/quickstart.yaml", "--store", str(store), "--device", "cpu", "--quiet"]
    out = subprocess.run([sys.executable, "-c", PEAK, *command], cwd=REPO, capture_output=True, text=True, check=True)
    kib, seconds, code = out.stdout.split()
    if int(code) != 0:
        raise RuntimeError(f"make run's command failed with exit code {code}")
    return int(kib) / 2**20, float(seconds)


def run(device: str) -> list[dict[str, Any]]:
    gpu = on_cuda(device)
    lenet = ModelConfig(name="lenet_300_100")
    data = random_bundle((1, 28, 28), 10_000, device)
    loader = tensor_loader(data, 64)
    (textbook_its,) = best_of(2, lambda: textbook_rate(lenet, loader, device, 2_000 if gpu else 1_000))
    studies, what = pruning_study()
    rows = []
    with tempfile.TemporaryDirectory(prefix="redundancy-bench-") as tmp:
        spec = Path(tmp) / "spec.yaml"
        spec.write_text(SPEC.format(iterations=ITERATIONS, studies=json.dumps(studies)))
        seconds = redundancy_run(spec, Path(tmp) / "store", device)
        textbook_seconds = ITERATIONS / textbook_its
        rows.append(
            row(
                "end to end: redundancy run, LeNet 50K iterations on mnist-5k + pruning curves",
                3600 / textbook_seconds,
                3600 / seconds,
                "runs/h",
                f"engine {seconds:.1f} s for training, {what}, store; textbook: its training loop alone, "
                f"{textbook_seconds:.1f} s at {textbook_its:,.0f} it/s; {threads_note()}",
                "≤ 15 s" if gpu else "≤ 90 s",
            )
        )
        peak, make_seconds = make_run_peak(Path(tmp) / "quickstart")
        rows.append(
            {
                "benchmark": "peak memory of make run (specs/quickstart.yaml, CPU)",
                "textbook": None,
                "engine": peak,
                "unit": "GiB",
                "ratio": None,
                "note": f"peak resident set of the run, {make_seconds:.1f} s; lower is better",
                "target": "≤ 2 GiB",
            }
        )
    return rows


if __name__ == "__main__":
    for r in run("cuda" if torch.cuda.is_available() else "cpu"):
        print(r)

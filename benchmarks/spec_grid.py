"""Validating a 10,000-point grid: ``load_spec`` + ``make_plan``, and the whole ``redundancy validate`` command;
then ``validate`` and ``run --dry-run`` of a 100,000-point grid (1,000 learning rates x 100 seeds).

The spec is LeNet-300-100 on mnist-5k with a pruning and a dynamics study,
100 widths × 100 seeds. Reading resolves every point's run config once, builds
layer shapes once per distinct model and checks each study once per distinct run
(seeds aside), so the cost per point is a validated config and its hash. The
target is under 5 s on one CPU core for the whole command. There is no textbook
counterpart: the figure before this loader was about 1.5 ms per point (layers
rebuilt for each), 15 s for this grid. The 100,000-point grid's target is under 10 s for
each command on a quiet machine (``validate`` took 27.6 s and ``--dry-run`` did not finish in
180 s before libyaml parsing, cached registry lookups and plain ``--dry-run`` lines past 2,000 stages).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from common import row

REPO = Path(__file__).resolve().parent.parent
WIDTHS = [round(0.25 + 0.01 * i, 2) for i in range(100)]

SPEC = f"""\
name: bench_grid
seeds: {list(range(100))}
data: {{name: mnist-5k}}
model: {{name: lenet_300_100}}
train: {{iterations: 1000, checkpoints: [100, 500]}}
grid:
  model.width: {WIDTHS}
studies:
  - {{kind: pruning, layer: fc1, checkpoint: best}}
  - {{kind: dynamics, layers: [fc1]}}
"""

LRS = [round(0.0001 * (i + 1), 4) for i in range(1000)]
SPEC_100K = SPEC.replace("name: bench_grid", "name: bench_grid_100k").replace(f"  model.width: {WIDTHS}", f"  train.lr: {LRS}")


def run(device: str) -> list[dict[str, Any]]:
    del device  # CPU work: parsing, validation, hashing
    import torch

    from redundancy.engine import make_plan
    from redundancy.spec.loader import load_spec

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "grid.yaml"
            path.write_text(SPEC)
            load_spec(path)  # warm: registries imported, first layer shapes built
            times = []
            for _ in range(3):
                start = time.perf_counter()
                plan = make_plan(load_spec(path))
                times.append(time.perf_counter() - start)
            points = len(plan.runs)
            best = min(times)
            env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
            start = time.perf_counter()
            proc = subprocess.run(
                ["taskset", "-c", "0", sys.executable, "-m", "redundancy", "validate", str(path)] if _has_taskset() else [sys.executable, "-m", "redundancy", "validate", str(path)],
                capture_output=True, text=True, env=env, timeout=600,
            )
            command = time.perf_counter() - start
            if proc.returncode != 0:
                raise RuntimeError(proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else f"exit {proc.returncode}")
            big = Path(folder) / "grid100k.yaml"
            big.write_text(SPEC_100K)
            large = {}
            for name, args in (("validate", ["validate"]), ("run --dry-run", ["run", "--dry-run", "--store", str(Path(folder) / "store")])):
                start = time.perf_counter()
                proc = subprocess.run([sys.executable, "-m", "redundancy", *args, str(big)], capture_output=True, text=True, env=env, timeout=600)
                large[name] = time.perf_counter() - start
                if proc.returncode != 0:
                    raise RuntimeError(proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else f"exit {proc.returncode}")
    finally:
        torch.set_num_threads(threads)
    return [
        row(f"load_spec + make_plan, {points:,}-point grid", None, points / best, "points/s", f"{best:.2f} s, best of 3, 1 thread", "10,000 points < 5 s"),
        row("redundancy validate, same grid (whole command, one core)", None, points / command, "points/s", f"{command:.2f} s including imports", "< 5 s"),
        *(row(f"redundancy {name}, 100,000-point grid (whole command)", None, 100_000 / seconds, "points/s", f"{seconds:.2f} s including imports", "< 10 s")
          for name, seconds in large.items()),
    ]


def _has_taskset() -> bool:
    from shutil import which

    return which("taskset") is not None


if __name__ == "__main__":
    for r in run("cpu"):
        print(r)

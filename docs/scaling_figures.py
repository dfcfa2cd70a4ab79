"""Measure the figures docs/scaling.md builds its estimate on, on this machine.

    python docs/scaling_figures.py [--out figures.json] [--skip-ray] [--skip-submitit]

What it measures (each printed and written as JSON, with the load average so a
busy machine's figures can be read as such):

- VGG19 (CIFAR form, the model registry's) per width, and Conv-2: parameters,
  bytes of one float32 checkpoint, multiply-accumulates per image (forward),
  from the real model built on the meta device;
- the store writer: seconds to write one train stage file holding three VGG19
  width-1 checkpoints (HDF5, fsync, rename: ``Store.write_stage``), to read it
  back (``Store.read_tensors``), and to rebuild ``index.h5`` for a plan of
  1,000 runs x 3 studies;
- Ray: startup, the driver-side cost per stage of a grid of near-empty stages
  (train stages of one iteration) on a local instance against the same grid in
  this process, and the object store's throughput for one run's checkpoints;
- submitit: wall time of one near-empty stage job in a local subprocess
  (Python start, ``import redundancy``, unpickling, the result coming back).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from redundancy.engine import drive, make_plan, run_plan
from redundancy.engine.driver import write_index
from redundancy.engine.executors import RayExecutor, RayOptions, SlurmExecutor, SlurmOptions
from redundancy.engine.jobs import StageJob
from redundancy.models import build_model
from redundancy.spec.loader import resolve
from redundancy.spec.schema import ModelConfig, Spec
from redundancy.store import Store
from redundancy.studies import STUDIES

WIDTHS = (0.25, 0.5, 1.0, 2.0, 4.0)


def model_sizes(name: str, widths: tuple[float, ...]) -> list[dict[str, Any]]:
    """Parameters, checkpoint bytes and forward MACs per image of a registry model on CIFAR-10 inputs, per width."""
    rows = []
    for width in widths:
        with torch.device("meta"):
            model = build_model(ModelConfig(name=name, width=width), (3, 32, 32), 10, seed=0)
            macs = 0

            def hook(module: torch.nn.Module, inputs: Any, output: torch.Tensor) -> None:
                nonlocal macs
                if isinstance(module, torch.nn.Conv2d):
                    k = module.kernel_size[0] * module.kernel_size[1]
                    macs += output.numel() * (module.in_channels // module.groups) * k
                elif isinstance(module, torch.nn.Linear):
                    macs += output.numel() * module.in_features

            handles = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear))]
            model(torch.empty(1, 3, 32, 32))
            for h in handles:
                h.remove()
        params = sum(p.numel() for p in model.parameters())
        state_bytes = sum(v.numel() * 4 for v in model.state_dict().values() if v.is_floating_point())
        rows.append({"width": width, "params": params, "checkpoint_mb": state_bytes / 1e6, "forward_mmacs_per_image": macs / 1e6})
    return rows


def writer_figures(folder: Path) -> dict[str, Any]:
    """Write and read back one VGG19 width-1 train stage with three checkpoints; rebuild a 4,000-stage index."""
    with torch.device("meta"):
        shapes = {k: v.shape for k, v in build_model(ModelConfig(name="vgg19"), (3, 32, 32), 10, seed=0).state_dict().items()}
    gen = torch.Generator().manual_seed(0)
    tensors: dict[str, Any] = {}
    for it in (0, 56_000, 112_000):
        for name, shape in shapes.items():
            tensors[f"checkpoints/{it:08d}/{name}"] = torch.randn(shape, generator=gen) if len(shape) else torch.zeros(shape)
    tensors["metrics/iteration"] = np.arange(0, 112_001, 1000)
    store = Store(folder / "writer")
    start = time.perf_counter()
    path = store.write_stage("train-0000000000000000", {"stage_kind": "train"}, tensors)
    write_s = time.perf_counter() - start
    size_mb = path.stat().st_size / 1e6
    start = time.perf_counter()
    store.read_tensors("train-0000000000000000")
    read_s = time.perf_counter() - start

    # index.h5 for 1,000 runs x 3 studies, every stage file present
    spec = Spec.model_validate(
        {"name": "index", "data": {"name": "xord"}, "model": {"name": "mlp", "widths": [4]}, "train": {"iterations": 10}, "seeds": list(range(1000))}
    )
    kinds = [k for k in ("pruning", "subspace", "dynamics") if k in STUDIES] or list(STUDIES)[:3]
    spec = spec.model_copy(update={"studies": [STUDIES[k].config.model_validate({"kind": k}) for k in kinds]})
    plan = make_plan(resolve(spec))
    big = Store(folder / "index")
    big.stage_dir.mkdir(parents=True)
    for stage in plan.stages:
        big.stage_path(stage.id).touch()
    start = time.perf_counter()
    write_index(big, plan, [], torch.device("cpu"))
    index_s = time.perf_counter() - start
    return {
        "vgg19_w1_train_stage_mb": size_mb,
        "write_s": write_s,
        "write_mb_per_s": size_mb / write_s,
        "read_s": read_s,
        "read_mb_per_s": size_mb / read_s,
        "index_stages": len(plan.stages),
        "index_rebuild_s": index_s,
    }


GRID = """\
name: overhead
data: {{name: xord, input_dim: 3, train_samples: 200, test_samples: 100}}
model: {{name: mlp, widths: [8]}}
train: {{iterations: 1, batch_size: 32, lr: 0.05, eval_interval: 1, stack: "off"}}
seeds: {seeds}
"""


def _overhead_plan(n: int) -> Any:
    import yaml

    text = GRID.format(seeds=list(range(n)))
    return make_plan(resolve(Spec.model_validate(yaml.safe_load(text)), text))


def ray_figures(folder: Path, n: int = 24) -> dict[str, Any]:
    import ray

    plan = _overhead_plan(n)
    start = time.perf_counter()
    run_plan(plan, Store(folder / "local"), device=torch.device("cpu"))
    local_s = time.perf_counter() - start
    start = time.perf_counter()
    ray.init(num_cpus=2, include_dashboard=False, logging_level="ERROR", log_to_driver=False)
    init_s = time.perf_counter() - start
    try:
        executor = RayExecutor(RayOptions())
        drive(_overhead_plan(2), Store(folder / "warm"), executor, device="cpu")  # start the workers
        start = time.perf_counter()
        report = drive(plan, Store(folder / "ray"), executor, device="cpu")
        ray_s = time.perf_counter() - start
        assert not report.failed and len(report.trained) == n
        # one run's checkpoints (VGG19 width 1, three checkpoints) through the object store to a task and back
        blob = {f"c{i}": torch.randn(20_000_000 // 4) for i in range(12)}  # 3 x 80 MB
        mb = sum(t.numel() * 4 for t in blob.values()) / 1e6

        @ray.remote
        def touch(x: dict[str, torch.Tensor]) -> float:
            return float(sum(float(t[0]) for t in x.values()))

        start = time.perf_counter()
        ray.get(touch.remote(ray.put(blob)))
        put_s = time.perf_counter() - start
    finally:
        ray.shutdown()
    return {
        "stages": n,
        "local_s_per_stage": local_s / n,
        "ray_init_s": init_s,
        "ray_s_per_stage_2cpus": ray_s / n,
        "object_store_mb": mb,
        "object_store_s": put_s,
    }


def submitit_figures(folder: Path) -> dict[str, Any]:
    plan = _overhead_plan(1)
    executor = SlurmExecutor(SlurmOptions(cluster="local", time_limit=10), folder / "jobs")
    job = StageJob((plan.runs[0],), (), spec_name=plan.spec.name, device="cpu")
    start = time.perf_counter()
    handle = executor.submit(job)
    while not executor.wait([handle], timeout=0.2):
        pass
    (outcome,) = executor.result(handle)
    return {"job_wall_s": time.perf_counter() - start, "stage_s_inside_job": outcome.seconds}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--skip-ray", action="store_true")
    parser.add_argument("--skip-submitit", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(1)
    figures: dict[str, Any] = {
        "host": platform.node(),
        "cpus": os.cpu_count(),
        "load_average_before": os.getloadavg(),
        "torch": torch.__version__,
        "python": platform.python_version(),
    }
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        figures["vgg19"] = model_sizes("vgg19", WIDTHS)
        figures["conv2"] = model_sizes("conv2", (1.0,))  # calibrates the GPU throughput assumption (ANCHORS.md)
        figures["writer"] = writer_figures(folder)
        if not args.skip_ray:
            figures["ray"] = ray_figures(folder)
        if not args.skip_submitit:
            figures["submitit"] = submitit_figures(folder)
    figures["load_average_after"] = os.getloadavg()
    text = json.dumps(figures, indent=1)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    sys.exit(main())

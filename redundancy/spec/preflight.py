"""What a valid spec still needs from this machine: its data and enough memory.

These are not errors of the spec (one may validate on a laptop and run on a
cluster), so ``redundancy validate`` prints them as warnings, while ``redundancy
run`` with the local executor stops on them before it writes anything.

The memory figure is an estimate of what one run holds at once: weights,
gradients and optimizer state, the checkpoints kept in memory, one training
batch with its activations, and one evaluation batch. It is compared with the
device's total memory (RAM for the CPU), so it catches a width typed as 1.0e6,
not a run that is a few percent too large.
"""

from __future__ import annotations

import math
import os
from typing import Any

from redundancy.errors import Problem
from redundancy.spec.loader import GridPoint, ResolvedSpec

GiB = 2**30


def run_bytes(point: GridPoint, input_shape: tuple[int, ...]) -> int:
    """Estimated bytes one run of ``point`` holds at its peak (float32 throughout)."""
    train = point.run.train
    params = sum(info.units * info.fan_in + (info.units if point.run.model.bias else 0) for info in point.layers.values())
    states = 2 if train.optimizer == "adam" else (1 if train.momentum > 0 else 0)
    weights = params * (2 + states + len(point.checkpoints) + 1)  # weights, grads, optimizer, checkpoints, best
    spatial = math.prod(input_shape[1:]) if len(input_shape) == 3 else 1  # conv activations: at most the input's size per unit
    units = sum(info.units * (spatial if info.kind == "conv" else 1) for info in point.layers.values())
    batch = train.batch_size * (math.prod(input_shape) + 3 * units)  # input, activations, their gradients and masks
    evaluation = train.eval_batch_size * (math.prod(input_shape) + 2 * units)
    return 4 * (weights + batch + evaluation)


def device_memory(device: str = "auto") -> tuple[str, int | None]:
    """(name, total bytes) of the device a local run would use; None when unknown."""
    import torch

    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    try:
        dev = torch.device(device)
    except RuntimeError:
        return device, None
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            return device, None
        index = dev.index if dev.index is not None else torch.cuda.current_device()
        if index >= torch.cuda.device_count():
            return device, None
        return f"{device} ({torch.cuda.get_device_name(index)})", int(torch.cuda.get_device_properties(index).total_memory)
    if dev.type == "cpu":
        try:
            return "cpu", int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
        except (ValueError, OSError, AttributeError):
            return "cpu", None
    return device, None


def preflight(resolved: ResolvedSpec, *, device: str = "auto", data_root: str | None = None) -> list[Problem]:
    """Data that cannot be loaded here and runs that would not fit this machine's ``device``, each with its fix."""
    from redundancy.data import get_dataset, resolve_root

    problems: list[Problem] = []
    seen_data: dict[tuple[str, str | None, bool], Any] = {}
    seen_model: set[str] = set()
    name, total = device_memory(device)
    for point in resolved.points:
        data = point.run.data
        key = (data.name, data.root, data.download)
        if key not in seen_data:
            root = resolve_root(data.root, data_root)
            seen_data[key] = get_dataset(data.name).missing(data, root)
            if seen_data[key]:
                problems.append(resolved.problem(point, [("data", "name"), ("data",)], seen_data[key]))
        if total is None:
            continue
        if point.shared in seen_model:  # memory does not depend on the seed
            continue
        seen_model.add(point.shared)
        shape, _ = get_dataset(data.name).shape(data)
        need = run_bytes(point, tuple(shape))
        if need > total:
            locs = [("model", "width"), ("model",)]  # the width's line when the spec sets it, else the model's
            problems.append(
                resolved.problem(
                    point,
                    locs,
                    f"one run of model {point.run.model.name!r} (width {point.run.model.width:g}) with batch size "
                    f"{point.run.train.batch_size} needs about {need / GiB:,.1f} GiB; this machine's {name} has "
                    f"{total / GiB:,.1f} GiB. Lower model.width or train.batch_size, or run it where the memory is "
                    "(--device, or a cluster executor).",
                )
            )
    return list(dict.fromkeys(problems))

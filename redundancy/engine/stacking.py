"""Which run stages train together as one stacked model, and training such a group.

Runs that differ only in their seed (same data, model and training config) and
ask for ``train.stack: auto`` train, where that is faster (:func:`redundancy.train.stacking_pays`), as one :class:`~redundancy.fast.stacked.StackedNet`:
one set of batched weights for all of them, each member with its own
initialization and its own batch order. Every member is stored as its own train
stage, exactly as if it had been trained alone (its stage id does not depend on
how it was trained), and equals that training within floating-point tolerance.

Stacking changes rounding (a batched product may sum in another order), so
whether and with whom a run stacks depends on the plan and the device type
alone, never on which stages happen to be cached: groups are formed from the
whole plan, and a group with some members stored trains whole again and writes
only the missing ones. On CPU run stages never stack: the Ray and SLURM
executors train each run alone, and the same spec must give the same stored
results on every executor (stacking paid at most 1.29× on a 2-core CPU, for
networks of up to 64K parameters, and not at all for LeNet-300-100).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence

import torch

from redundancy.data import DataBundle
from redundancy.engine.plan import TrainStage
from redundancy.engine.stages import DataCache
from redundancy.errors import RedundancyError
from redundancy.spec.schema import RunConfig
from redundancy.train import Member, StepCallback, TrainingDiverged, TrainResult, stacking_pays, train_stacked

MAX_STACK = 128
"""Most runs stacked in one model; larger groups are split (memory grows with every member)."""


def stack_key(run: RunConfig) -> str:
    """Everything of a run but its seed: runs with equal keys may train stacked."""
    return json.dumps(run.model_dump(mode="json", exclude={"seed"}), sort_keys=True)


def stack_groups(
    stages: Sequence[TrainStage], supported: Callable[[RunConfig], bool], max_size: int = MAX_STACK
) -> list[list[TrainStage]]:
    """``stages`` in plan order, runs that may stack gathered into groups at their first member's place.

    A run stacks when its ``train.stack`` is ``auto``, another stage shares its
    :func:`stack_key` and ``supported(run)`` (the model has a stacked form).
    Every other stage is a group of one.
    """
    by_key: dict[str, list[TrainStage]] = {}
    for stage in stages:
        if stage.config.train.stack == "auto":
            by_key.setdefault(stack_key(stage.config), []).append(stage)
    stackable = {key for key, members in by_key.items() if len(members) > 1 and supported(members[0].config)}
    groups: list[list[TrainStage]] = []
    placed: set[str] = set()
    for stage in stages:
        if stage.id in placed:
            continue
        key = stack_key(stage.config) if stage.config.train.stack == "auto" else None
        if key in stackable:
            members = [s for s in by_key[key] if s.id not in placed]
            for start in range(0, len(members), max_size):
                chunk = members[start : start + max_size]
                groups.append(chunk)
                placed.update(s.id for s in chunk)
        else:
            groups.append([stage])
            placed.add(stage.id)
    return groups


def execute_train_group(
    runs: Sequence[RunConfig], data: DataBundle, device: torch.device, callback: StepCallback | None = None
) -> list[TrainResult | TrainingDiverged]:
    """Train ``runs`` (equal but for their seeds) as one stacked model; one result or error per run."""
    first = runs[0]
    if any(stack_key(r) != stack_key(first) for r in runs):
        raise ValueError("runs of a stacked group must be equal but for their seeds")
    return train_stacked(first.model, first.train, data, [Member(r.seed) for r in runs], device=device, callback=callback)


def stacking_support(device_type: str, data_cache: DataCache) -> Callable[[RunConfig], bool]:
    """``supported(run)`` for :func:`stack_groups`: never on CPU, else :func:`stacking_pays` on ``device_type``.

    ``data_cache`` loads the run's data (on any device: only its shapes
    count), so the answer is the same whichever process asks. Data that cannot
    be loaded answers no; the run then fails on its own with the loader's
    error, as it would unstacked.
    """

    def supported(run: RunConfig) -> bool:
        if device_type == "cpu" or run.train.from_checkpoints:  # imported runs are never stacked
            return False
        try:
            data = data_cache.get(run)
            return stacking_pays(run.model, data, device_type)
        except (RedundancyError, KeyError):
            return False

    return supported

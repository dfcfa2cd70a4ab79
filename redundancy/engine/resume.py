"""A training stage's resume state in its store: how the training loop's :class:`~redundancy.train.Resume` is kept.

The state lives in ``resume/<stage id>.pt`` in the store folder (the store
writes and removes it; see :meth:`redundancy.store.Store.write_resume`). It is
written with ``torch.save`` and read back with ``weights_only=True``, which
unpickles only tensors and plain containers. A state that cannot be read, or
belongs to another stage, is ignored and the stage trains from the start.

A state that cannot be written (a full disk, say) does not stop the training,
which needs nothing from it, but is said once per stage through ``warn``: a
run killed afterwards would restart that stage from its last written state.
"""

from __future__ import annotations

import io
import pickle
from collections.abc import Callable
from typing import Any

import torch

from redundancy.engine.plan import TrainStage
from redundancy.store import Store
from redundancy.store.files import os_reason
from redundancy.train import Resume

DEFAULT_RESUME_EVERY = 10_000
"""Iterations between resume states when ``train.resume_every`` is not set (besides every checkpoint).

A LeNet-300-100 state (weights, momentum, kept checkpoints) is a few MB,
written in milliseconds; 10,000 iterations are several seconds on any device.
"""


def store_resume(
    store: Store, stage: TrainStage, announce: Callable[[int], None] | None = None, warn: Callable[[str], None] | None = None
) -> Resume:
    """The resume hooks of ``stage``, keeping its state in ``store``; ``announce(iteration)`` hears of a resume,
    ``warn(line)`` of the first state that could not be written."""
    warned: list[bool] = []

    def load() -> dict[str, Any] | None:
        content = store.read_resume(stage.id)
        if content is None:
            return None
        try:
            state = torch.load(io.BytesIO(content), map_location="cpu", weights_only=True)
        except (RuntimeError, EOFError, ValueError, pickle.UnpicklingError):
            return None
        if not isinstance(state, dict) or state.get("stage") != stage.id:
            return None
        if announce is not None:
            announce(int(state.get("iteration", 0)))
        return state

    def save(state: dict[str, Any]) -> None:
        buffer = io.BytesIO()
        torch.save({**state, "stage": stage.id}, buffer)
        try:
            store.write_resume(stage.id, buffer.getvalue())
        except OSError as exc:  # a resume state is a convenience: a full disk fails the stage file, not the training
            if warn is not None and not warned:
                warned.append(True)
                warn(
                    f"warning: cannot write the resume state of train {stage.label} to {store.resume_path(stage.id)}: "
                    f"{os_reason(exc)}; the training goes on, but if this run is stopped it restarts from its last written state"
                )

    return Resume(load, save, stage.config.train.resume_every or DEFAULT_RESUME_EVERY)

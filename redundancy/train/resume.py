"""Resume states: everything the loop carries from one iteration to the next, kept so a killed training goes on.

Where a state is kept is the caller's (:class:`Resume`'s hooks; the engine keeps
it in the store, :mod:`redundancy.engine.resume`); this module says what is in
it, checks that a state belongs to the very training it is put back into, and
puts it back.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from redundancy.fast.optim import Update
from redundancy.train.batches import Batches
from redundancy.train.result import Record
from redundancy.train.trainee import Trainee


@dataclass(frozen=True)
class Resume:
    """Where a training keeps its resume state, so that a killed training goes on from its last one.

    ``load()`` returns the last state ``save(state)`` stored, or None. The loop
    saves after every ``every``-th iteration and after every checkpoint
    iteration: the weights, the optimizer state, the learning rate, each
    member's batch generator, epoch permutation and position in it, PyTorch's
    global generator, the running training loss and every metric, checkpoint
    and best state so far. Training resumed from it is bit for bit the
    training that was not interrupted (on CPU; on CUDA as far as CUDA's own
    kernels are deterministic). Only single-network training resumes; a
    stacked training starts over.
    """

    load: Callable[[], dict[str, Any] | None]
    save: Callable[[dict[str, Any]], None]
    every: int = 10_000


def _cpu(t: torch.Tensor) -> torch.Tensor:
    return t.detach().to("cpu", copy=True)


def resume_state(
    it: int, running_count: int, trainee: Trainee, opt: Update, batches: Batches, records: list[Record], running: torch.Tensor
) -> dict[str, Any]:
    """Everything the loop carries from one iteration to the next, on the host (see :class:`Resume`)."""
    cuda = batches.device.type == "cuda"
    return {
        "iteration": it,
        "running_count": running_count,
        "running": _cpu(running),
        "tensors": [_cpu(t) for t in trainee.state_tensors()],
        "optimizer": [{k: _cpu(v) for k, v in opt.state[p].items()} for p in opt.params],
        "lr": float(opt.param_groups[0]["lr"]),
        "generators": [g.get_state() for g in batches.gens],
        "order": _cpu(batches.order),
        "cursor": batches.cursor,
        "rng": torch.get_rng_state(),
        "cuda_rng": torch.cuda.get_rng_state(batches.device) if cuda else None,
        "records": [
            {
                "series": {k: list(v) for k, v in r.series.items()},
                "checkpoints": r.checkpoints,
                "best_loss": r.best_loss,
                "best_at": r.best_iteration,
                "best_state": r.best_state,
            }
            for r in records
        ],
    }


def fits(state: dict[str, Any], trainee: Trainee, opt: Update, batches: Batches, records: list[Record]) -> bool:
    """Whether ``state`` is a resume state of this very training (same shapes, members and data)."""
    try:
        tensors, optimizer = state["tensors"], state["optimizer"]
        live = trainee.state_tensors()
        return (
            len(tensors) == len(live)
            and all(a.shape == b.shape and a.dtype == b.dtype for a, b in zip(tensors, live))
            and len(optimizer) == len(opt.params)
            and all(set(saved) == set(opt.state[p]) for saved, p in zip(optimizer, opt.params))
            and all(v.shape == opt.state[p][k].shape for saved, p in zip(optimizer, opt.params) for k, v in saved.items())
            and len(state["generators"]) == len(batches.gens)
            and tuple(state["order"].shape) == tuple(batches.order.shape)
            and len(state["records"]) == len(records)
            and int(state["iteration"]) >= 1
        )
    except (KeyError, TypeError, AttributeError):
        return False


@torch.no_grad()
def restore(
    state: dict[str, Any] | None, trainee: Trainee, opt: Update, batches: Batches, records: list[Record], running: torch.Tensor
) -> tuple[int, int] | None:
    """Put a resume state back into the loop's objects; (iteration, running count), or None to start afresh."""
    if state is None or not fits(state, trainee, opt, batches, records):
        return None
    for t, saved in zip(trainee.state_tensors(), state["tensors"]):
        t.copy_(saved)
    for p, saved in zip(opt.params, state["optimizer"]):
        for k, v in saved.items():
            opt.state[p][k].copy_(v)
    opt.param_groups[0]["lr"] = state["lr"]
    for g, gen_state in zip(batches.gens, state["generators"]):
        g.set_state(gen_state)
    batches.order = state["order"].to(batches.device)
    batches.cursor = int(state["cursor"])
    batches.static_order.copy_(batches.order)
    batches.positions.copy_(batches.offsets + batches.cursor)
    torch.set_rng_state(state["rng"])
    if state.get("cuda_rng") is not None and batches.device.type == "cuda":
        torch.cuda.set_rng_state(state["cuda_rng"], batches.device)
    running.copy_(state["running"])
    for record, saved in zip(records, state["records"]):
        record.series = {k: list(v) for k, v in saved["series"].items()}
        record.checkpoints = dict(saved["checkpoints"])
        record.best_loss = float(saved["best_loss"])
        record.best_iteration = int(saved["best_at"])
        record.best_state = saved["best_state"]
    return int(state["iteration"]), int(state["running_count"])

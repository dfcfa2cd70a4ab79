"""The spec's optimizer over a training's parameters, and its learning-rate milestones."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

import torch

from redundancy.fast.optim import Update
from redundancy.spec.schema import ResolvedTrain


def make_optimizer(params: Iterable[torch.Tensor], train: ResolvedTrain) -> Update:
    """The spec's optimizer over ``params`` (:class:`~redundancy.fast.optim.Update`).

    On CPU, PyTorch's default per-tensor updates, so that CPU results are bit for
    bit those of the textbook loop with the same batches. (The fused CPU SGD is a
    little faster but rounds differently.) On CUDA, PyTorch's fused kernels: one
    kernel for the whole update instead of a few per parameter, which at LeNet's
    size is about a tenth of a step (8,521 against 7,691 it/s for the captured
    step on an H100); they keep Adam's step count on the device, as graph capture
    needs.
    """
    params = list(params)
    fused = bool(params) and all(p.is_cuda for p in params)
    return Update(params, train.optimizer, lr=train.lr, momentum=train.momentum or 0.0, weight_decay=train.weight_decay, fused=fused)


def lr_changes(train: ResolvedTrain) -> dict[int, float]:
    """Iteration -> factor applied to the learning rate before that iteration's step.

    The semantics of ``torch.optim.lr_scheduler.MultiStepLR`` stepped once per
    iteration: a milestone k multiplies the rate used from step k + 1 on (by
    ``lr_gamma`` once per time k is listed). The loop applies the factors itself
    so that no scheduler runs every step.
    """
    counts = Counter(train.lr_milestones or [])
    return {k + 1: train.lr_gamma**c for k, c in counts.items() if k + 1 <= (train.iterations or 0)}

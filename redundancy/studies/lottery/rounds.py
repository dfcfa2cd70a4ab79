"""The ``lottery`` study's rounds: train the dense network, then each round's ticket beside its controls.

Round 0 is the dense network (the run itself when the study trains as the run
did); round r prunes the previous ticket's trained weights
(:func:`~redundancy.studies.common.imp.prune_round`), rewinds the survivors and
trains the ticket with its ``reinit`` and ``random_mask`` controls together.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from redundancy.spec.schema import ResolvedTrain
from redundancy.studies.base import StudyContext
from redundancy.studies.common.imp import param_masks, prune_round, pruning_groups, random_masks_like, rewound_train, weight_name
from redundancy.studies.common.seeds import derived_seed
from redundancy.studies.lottery.config import (
    CONTROLS,
    METRIC_SERIES,
    RANDOM_MASK_STREAM,
    REINIT_STREAM,
    LotteryConfig,
    effective_train,
    same_learning,
)
from redundancy.train import TrainResult

Masks = dict[str, torch.Tensor]


@dataclass
class Outcome:
    """What one trained network contributes to the study."""

    accuracy: float
    early_stop_accuracy: float
    early_stop_iteration: int
    metrics: dict[str, np.ndarray]
    trained: dict[str, torch.Tensor]


def outcome_of(result: TrainResult) -> Outcome:
    return Outcome(
        accuracy=result.metric_at("test_accuracy", result.final_iteration),
        early_stop_accuracy=result.metric_at("test_accuracy", result.best_iteration),
        early_stop_iteration=int(result.best_iteration),
        metrics={k: np.asarray(result.metrics[k]) for k in METRIC_SERIES},
        trained=result.checkpoints[result.final_iteration],
    )


def run_outcome(ctx: StudyContext) -> Outcome:
    """The run's own network as round 0 (when the study trains as the run did)."""
    art = ctx.run
    it_index = {int(it): i for i, it in enumerate(art.metrics["iteration"])}
    test_acc = art.metrics["test_accuracy"]
    return Outcome(
        accuracy=float(test_acc[it_index[art.final_iteration]]),
        early_stop_accuracy=float(test_acc[it_index[art.best_iteration]]),
        early_stop_iteration=int(art.best_iteration),
        metrics={m: np.asarray(art.metrics[m]) for m in METRIC_SERIES},
        trained=art.checkpoints[art.final_iteration],
    )


@dataclass
class Job:
    """One network to train in a round: a variant's initial weights and masks."""

    variant: str
    init_state: dict[str, torch.Tensor]
    masks: Masks | None


def train_jobs(ctx: StudyContext, train: ResolvedTrain, jobs: Sequence[Job]) -> list[TrainResult]:
    """Train a round's networks, each through ``ctx.train`` with the run's seed (same batches for all).

    The jobs of a round are independent: they train as one stacked model where
    that pays (``train.stack: auto``), each as it would alone.
    """
    return ctx.train_many(train, [(job.init_state, job.masks) for job in jobs])


def fresh_state(ctx: StudyContext, seed: int) -> dict[str, torch.Tensor]:
    """The run's model initialized with another seed: weights drawn anew from the initial distribution."""
    from redundancy.models import build_model

    cfg = ctx.run.config.model
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)  # PyTorch's default init draws from the global generator
        model = build_model(cfg, ctx.data.input_shape, ctx.data.num_classes, seed)
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


@dataclass
class Rounds:
    """Everything the rounds produced: per round r, the ticket's and the random control's masks, and
    each variant's outcome; ``layers`` are the pruned layers, ``order`` every layer, input to output."""

    layers: list[str]
    order: list[str]
    masks: list[Masks]
    random_masks: list[Masks]
    outcomes: dict[str, list[Outcome]]
    init_state: dict[str, torch.Tensor]
    dense: Outcome
    reused: bool
    rewind: int


class _Progress:
    """Counts the networks trained, for the progress line."""

    def __init__(self, ctx: StudyContext, total: int):
        self.ctx, self.total, self.done = ctx, total, 0

    def tick(self, message: str) -> None:
        self.done += 1
        self.ctx.progress(self.done / self.total, message)


def run_rounds(config: LotteryConfig, ctx: StudyContext, layers: list[str], order: list[str]) -> Rounds:
    """Round 0, then ``config.rounds`` rounds of pruning, rewinding and training the ticket and its controls."""
    run_cfg = ctx.run.config
    train = effective_train(config, run_cfg.train, run_cfg.model)
    k = config.rewind_iteration
    if k >= train.iterations:
        raise ValueError(f"rewind iteration {k} is not before the end of training ({train.iterations})")
    train_r = rewound_train(train, k)
    controls = [c for c in CONTROLS if c in config.controls]
    groups = pruning_groups(layers, order[-1], config)

    total_jobs = config.rounds * (1 + len(controls)) + ("reinit" in controls)
    reuse = same_learning(train, run_cfg.train) and k in ctx.run.checkpoints
    total_jobs += 0 if reuse else 1
    progress = _Progress(ctx, total_jobs)

    # Round 0: the dense network, the run itself when the study trains as the run did.
    if reuse:
        dense = run_outcome(ctx)
        init_state, rewind_state = ctx.run.checkpoints[0], ctx.run.checkpoints[k]
    else:
        result = ctx.train(train, keep=[k])
        dense = outcome_of(result)
        init_state, rewind_state = result.checkpoints[0], result.checkpoints[k]
        progress.tick("round 0: dense")

    full = {n: torch.ones_like(init_state[weight_name(n)], dtype=torch.bool) for n in layers}
    masks: list[Masks] = [full]
    random_masks: list[Masks] = [full]
    outcomes: dict[str, list[Outcome]] = {"ticket": [dense]}
    if "random_mask" in controls:
        outcomes["random_mask"] = [dense]  # nothing pruned + original init: the dense network itself
    if "reinit" in controls:
        fresh = fresh_state(ctx, derived_seed(run_cfg.seed, 0, REINIT_STREAM))
        outcomes["reinit"] = [outcome_of(train_jobs(ctx, train, [Job("reinit", fresh, None)])[0])]
        progress.tick("round 0: reinit")

    previous = dense.trained
    for r in range(1, config.rounds + 1):
        current = prune_round({n: previous[weight_name(n)] for n in layers}, masks[-1], groups, r)
        masks.append(current)
        jobs = [Job("ticket", rewind_state, param_masks(current))]
        if "reinit" in controls:
            jobs.append(Job("reinit", fresh_state(ctx, derived_seed(run_cfg.seed, r, REINIT_STREAM)), param_masks(current)))
        if "random_mask" in controls:
            rand = random_masks_like(current, derived_seed(run_cfg.seed, r, RANDOM_MASK_STREAM))
            random_masks.append(rand)
            jobs.append(Job("random_mask", rewind_state, param_masks(rand)))
        for job, result in zip(jobs, train_jobs(ctx, train_r, jobs)):
            outcomes[job.variant].append(outcome_of(result))
            progress.tick(f"round {r}/{config.rounds}: {job.variant} acc {outcomes[job.variant][-1].accuracy:.4f}")
        previous = outcomes["ticket"][-1].trained

    return Rounds(layers, order, masks, random_masks, outcomes, init_state, dense, reuse, k)

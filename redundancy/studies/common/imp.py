"""Iterative magnitude pruning (Frankle & Carbin 2018): the masks of each round, written once.

Round r keeps, in each group of layers ranked together, round(total · (1 − rate)^r)
of the weights with the largest |w| among the previous round's survivors
(:func:`prune_round`); the output layer is pruned alone at its own rate
(half the others' by default). ``lottery`` runs the rounds and trains each
ticket; ``unit_ticket`` and ``correspondence`` need only the ticket of one
round (:func:`ticket_after_round`). Masks are keyed by layer name;
:func:`param_masks` keys them by the parameter they mask, as training takes them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, Protocol

import torch

from redundancy.models import param_name
from redundancy.spec.schema import ResolvedTrain

if TYPE_CHECKING:
    from redundancy.studies.base import StudyContext

Scope = Literal["layerwise", "global"]
Groups = list[tuple[tuple[str, ...], float]]


class Schedule(Protocol):
    """How a round prunes: ``rate`` of the remaining weights per group, ``output_layer_rate`` for the output layer."""

    @property
    def scope(self) -> Scope: ...

    @property
    def rate(self) -> float: ...

    @property
    def output_layer_rate(self) -> float: ...


@dataclass(frozen=True)
class ImpSchedule:
    """A :class:`Schedule` of its own: every layer alone at ``rate``, the output layer at ``output_rate`` (default rate / 2)."""

    rate: float
    output_rate: float | None = None
    scope: Scope = "layerwise"

    @property
    def output_layer_rate(self) -> float:
        return self.rate / 2 if self.output_rate is None else self.output_rate


def weight_name(layer: str) -> str:
    """The parameter a layer's mask applies to (its weight)."""
    return param_name(layer)


def param_masks(masks: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Masks keyed by layer, keyed by the parameter they mask instead (as training takes them)."""
    return {weight_name(layer): mask for layer, mask in masks.items()}


def survivors_after(total: int, rate: float, rounds: int) -> int:
    """Weights left of ``total`` after ``rounds`` rounds pruning ``rate`` of the remainder: round(total (1 − rate)^r).

    Targets are taken from the total, not the previous round, so rounding never
    accumulates: the sparsity after r rounds is 1 − (1 − rate)^r within half a weight.
    """
    return int(round(total * (1 - rate) ** rounds))


def keep_largest(weights: dict[str, torch.Tensor], masks: dict[str, torch.Tensor], keep: int) -> dict[str, torch.Tensor]:
    """New masks keeping the ``keep`` surviving weights of largest |w|, ranked together across ``weights``.

    Only survivors compete (pruned weights score −1), so the new masks are
    nested in the old ones; equal magnitudes are broken by position, deterministically.
    """
    names = list(weights)
    scores = torch.cat([torch.where(masks[n], weights[n].abs().double(), -1.0).flatten() for n in names])
    surviving = int(sum(int(masks[n].sum()) for n in names))
    if keep > surviving:
        raise ValueError(f"cannot keep {keep} weights of {surviving} survivors")
    kept = torch.zeros(scores.numel(), dtype=torch.bool)
    kept[torch.argsort(scores, descending=True, stable=True)[:keep]] = True
    out: dict[str, torch.Tensor] = {}
    start = 0
    for n in names:
        size = masks[n].numel()
        out[n] = kept[start : start + size].view(masks[n].shape).clone()
        start += size
    return out


def pruning_groups(layers: Sequence[str], output: str | None, schedule: Schedule) -> Groups:
    """Which layers are ranked together, and at what rate: one group per layer (layerwise) or the
    hidden layers together (global); the output layer always alone at the output rate."""
    hidden = tuple(n for n in layers if n != output)
    groups: Groups = []
    if schedule.scope == "global" and hidden:
        groups.append((hidden, schedule.rate))
    else:
        groups += [((n,), schedule.rate) for n in hidden]
    if output is not None and output in layers:
        groups.append(((output,), schedule.output_layer_rate))
    return groups


def prune_round(
    weights: dict[str, torch.Tensor],
    masks: dict[str, torch.Tensor],
    groups: Sequence[tuple[tuple[str, ...], float]],
    round_: int,
) -> dict[str, torch.Tensor]:
    """Masks of round ``round_`` from the previous round's masks and trained weights."""
    out: dict[str, torch.Tensor] = {}
    for names, rate in groups:
        total = sum(masks[n].numel() for n in names)
        out.update(keep_largest({n: weights[n] for n in names}, {n: masks[n] for n in names}, survivors_after(total, rate, round_)))
    return out


def random_masks_like(masks: dict[str, torch.Tensor], seed: int) -> dict[str, torch.Tensor]:
    """For each layer, a uniformly random mask with as many survivors as ``masks`` has there."""
    gen = torch.Generator().manual_seed(seed)
    out: dict[str, torch.Tensor] = {}
    for name, mask in masks.items():
        flat = torch.zeros(mask.numel(), dtype=torch.bool)
        flat[torch.randperm(mask.numel(), generator=gen)[: int(mask.sum())]] = True
        out[name] = flat.view(mask.shape)
    return out


def rewound_train(train: ResolvedTrain, k: int) -> ResolvedTrain:
    """Training from θ_k: the remaining T − k iterations, with the learning-rate schedule's remaining part.

    Milestones at or before k have already decayed the rate; later ones move k earlier.
    """
    if k == 0:
        return train
    milestones = list(train.lr_milestones or [])
    passed = sum(1 for m in milestones if m <= k)
    return train.model_copy(
        update={
            "iterations": train.iterations - k,
            "lr": train.lr * train.lr_gamma**passed,
            "lr_milestones": [m - k for m in milestones if m > k],
        }
    )


def ticket_after_round(ctx: StudyContext, names: list[str], rounds: int, rate: float, label: str) -> dict[str, torch.Tensor]:
    """Each layer's mask after round ``rounds`` of iterative magnitude pruning of every layer at ``rate``
    (the output layer at half of it), from the run's final weights, the rounds before it retrained from
    the initialization with the run's training: the ticket the lottery study finds at that round.
    ``label`` starts the progress lines."""
    groups = pruning_groups(names, names[-1], ImpSchedule(rate=rate))
    init = ctx.state("init")
    masks = {n: torch.ones_like(init[weight_name(n)], dtype=torch.bool) for n in names}
    trained = ctx.state("final")
    for r in range(1, rounds + 1):
        masks = prune_round({n: trained[weight_name(n)] for n in names}, masks, groups, r)
        if r < rounds:
            ctx.progress(0.0, f"{label}: training round {r} of iterative magnitude pruning")
            retrained = ctx.train(init_state=init, masks=param_masks(masks))
            trained = retrained.checkpoints[retrained.final_iteration]
    return masks

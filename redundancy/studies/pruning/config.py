"""The ``pruning`` study's config: which layers and checkpoints, which criteria, how far, and fine-tuning."""

from __future__ import annotations

import math
from typing import Annotated, Literal

from pydantic import Field, field_validator

from redundancy.spec.schema import ITERATIONS_MAX, LIST_MAX, REPEATS_MAX, SAMPLES_MAX, SEED_MAX, UNITS_MAX, Strict, StudyConfig
from redundancy.studies.common.refs import CheckpointRef
from redundancy.studies.common.seeds import FOLLOW_RUN_SEED_HELP, derived_seed, seed_words
from redundancy.studies.pruning.criteria import CRITERIA, DEFAULT_CRITERIA, CriterionRef


class FinetuneConfig(Strict):
    """Retrain each criterion's structurally pruned network (all parameters, the run's optimizer and batch size)."""

    iterations: int = Field(..., ge=1, le=ITERATIONS_MAX, description="fine-tuning iterations")
    lr: float | None = Field(None, gt=0, description="learning rate; default the run's (no decay schedule)")
    levels: Annotated[list[Annotated[float, Field(gt=0, lt=1)]], Field(min_length=1, max_length=LIST_MAX)] = Field(
        ..., description="fractions of the layer's units removed at which to fine-tune, in (0, 1)"
    )


class PruningConfig(StudyConfig):
    """Remove units of a trained layer by a criterion, without retraining, and measure accuracy."""

    kind: Literal["pruning"] = "pruning"
    layer: str | Annotated[list[str], Field(min_length=1)] = Field(
        "fc1", description="layer to prune (fc1, conv2, ...) or a list; a unit is a row of a Linear or a Conv filter"
    )
    checkpoint: CheckpointRef | Annotated[list[CheckpointRef], Field(min_length=1)] = Field(
        "best", description="best (minimum validation loss: the seed's iteration j), final, or a stored iteration; or a list"
    )
    criteria: Annotated[list[CriterionRef], Field(min_length=1)] = Field(
        default_factory=lambda: list(DEFAULT_CRITERIA),
        description="name or name:direction (smallest first, the default, or largest first); names: " + ", ".join(CRITERIA),
    )
    max_fraction: float = Field(1.0, gt=0, le=1, description="fraction of the layer's units to remove, in (0, 1]")
    step: int = Field(1, ge=1, le=UNITS_MAX, description="units removed between two evaluations")
    split: Literal["test", "validation"] = Field("test", description="data the accuracy is measured on")
    seeds: int = Field(5, ge=1, le=REPEATS_MAX, description="random orders per stochastic criterion (the seed's error bars use 5); their AUCs are the null each criterion's AUC is a percentile of")
    seed: int = Field(0, ge=0, le=SEED_MAX, description="random orders: order i is drawn from the generator seeded with (seed, i)")
    follow_run_seed: bool = Field(False, description=FOLLOW_RUN_SEED_HELP)
    store_weights: bool = Field(False, description="with finetune: also store each fine-tuned network's parameters (.../finetuned/<removed>/weights/<parameter>)")
    include_bias: bool = Field(False, description="magnitude: take the norm of [w_i, b_i] instead of w_i")
    activation_samples: int = Field(1000, ge=1, le=SAMPLES_MAX, description="activation: training inputs the mean |activation| is taken over")
    costs: bool = Field(False, description="record parameters and FLOPs of the structurally smaller network at every level")
    finetune: FinetuneConfig | None = Field(
        None, description="fine-tune each criterion's structurally pruned network at some levels (fully connected models); implies costs"
    )

    @field_validator("criteria")
    @classmethod
    def _no_repeats(cls, value: list[str]) -> list[str]:
        repeated = sorted({c for c in value if value.count(c) > 1})
        if repeated:
            raise ValueError(f"criteria listed twice: {', '.join(repeated)}")
        return value


def removal_levels(n_units: int, max_fraction: float, step: int) -> list[int]:
    """Units removed at each evaluation: 0, step, 2·step, ... up to K = ⌊max_fraction·n⌋, K included."""
    k_max = int(math.floor(max_fraction * n_units + 1e-9))
    levels = list(range(0, k_max + 1, step))
    if levels[-1] != k_max:
        levels.append(k_max)
    return levels


_ORDERS = 21  # stream of the random orders when they follow the run's seed (common.seeds.derived_seed)


def order_seed(config: PruningConfig, run_seed: int, s: int) -> list[int]:
    """Entropy of random order ``s``: (``seed``, s) alone by default (the same orders for every run), or
    also the run's seed with ``follow_run_seed``, so each network of a seed grid gets its own orders."""
    if config.follow_run_seed:
        return [derived_seed(run_seed, s, _ORDERS, config.seed)]
    return seed_words(config.seed, s)

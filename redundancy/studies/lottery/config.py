"""The ``lottery`` study's config, the training each round uses, and the constants its parts share."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

from pydantic import Field, field_validator

from redundancy.spec.schema import DRAWS_MAX, ROUNDS_MAX, ModelConfig, ResolvedTrain, StudyConfig, TrainConfig, resolve_train

Control = Literal["reinit", "random_mask"]
CONTROLS: tuple[Control, ...] = ("reinit", "random_mask")
# Train fields that do not change what a round learns: the dense run is reused when only these differ.
NOT_LEARNING = {"checkpoints", "graph", "stack", "eval_batch_size", "resume_every"}
# A ticket keeps the dense network's accuracy while it is within this many accuracy points (1 point = 0.01).
TOLERANCE_POINTS = 1.0
SIGNIFICANCE = 0.01
METRIC_SERIES = ("iteration", "train_loss", "val_loss", "val_accuracy", "test_accuracy")
# Streams of the seeded draws (common.seeds.derived_seed), so the controls and the tests never share random numbers.
REINIT_STREAM, RANDOM_MASK_STREAM, TEST_STREAM = 1, 2, 3


class LotteryConfig(StudyConfig):
    """Fields of a ``lottery`` study; ``{kind: lottery}`` alone is Frankle & Carbin's procedure with both controls."""

    kind: Literal["lottery"] = "lottery"
    rounds: int = Field(15, ge=1, le=ROUNDS_MAX, description="pruning rounds after the dense round 0")
    rate: float = Field(0.2, gt=0, lt=1, description="fraction of the remaining weights pruned per round (per layer)")
    output_rate: float | None = Field(None, gt=0, lt=1, description="rate of the output layer; default rate / 2")
    scope: Literal["layerwise", "global"] = Field(
        "layerwise", description="rank weights within each layer, or across all studied hidden layers together"
    )
    layers: list[str] | None = Field(None, min_length=1, description="layers to prune; default every Linear and Conv weight")
    rewind: Literal["init"] | int = Field(
        "init", description="reset survivors to the initialization (init) or to iteration k of the dense training"
    )
    controls: list[Control] = Field(default_factory=lambda: list(CONTROLS), description="reinit and/or random_mask")
    train: TrainConfig | None = Field(None, description="fields replacing the run's training config for every round")
    test: Literal["auto", "chi2", "monte_carlo"] = Field(
        "auto", description="concentration test: chi-square when every expected count is >= 5 (auto), or seeded Monte Carlo"
    )
    draws: int = Field(999, ge=199, le=DRAWS_MAX, description="Monte-Carlo draws of the null per test (199 is the fewest that can reach p < 0.01)")
    store_weights: bool = Field(
        False, description="also store each round's trained ticket weights (trained/<layer>), so every mask can be recomputed from the store"
    )

    @field_validator("rewind")
    @classmethod
    def _rewind(cls, v: Any) -> Any:
        if isinstance(v, int) and v < 0:
            raise ValueError(f"rewind must be 'init' or an iteration >= 0, found {v}")
        return v

    @field_validator("controls")
    @classmethod
    def _unique_controls(cls, v: list[str]) -> list[str]:
        if len(set(v)) != len(v):
            raise ValueError(f"a control is listed twice: {v}")
        return v

    @property
    def rewind_iteration(self) -> int:
        return 0 if self.rewind == "init" else int(self.rewind)

    @property
    def output_layer_rate(self) -> float:
        return self.rate / 2 if self.output_rate is None else self.output_rate


def effective_train(config: LotteryConfig, run_train: ResolvedTrain, model: ModelConfig) -> ResolvedTrain:
    """The run's (resolved) training config with the study's ``train`` fields replacing its own.

    Changing ``iterations`` without ``eval_interval`` re-derives the evaluation
    interval from the new length, as the run's own default would.
    """
    values = run_train.model_dump()
    values["checkpoints"] = None  # rounds keep only what they need (0, final, best, the rewind point)
    if config.train is not None:
        override = config.train.model_dump(include=set(config.train.model_fields_set))
        values.update(override)
        if "iterations" in override and "eval_interval" not in override:
            values["eval_interval"] = None
    return resolve_train(TrainConfig(**values), model)


def same_learning(a: TrainConfig, b: TrainConfig) -> bool:
    """Whether two resolved training configs train the same network (execution options aside)."""
    return a.model_dump(exclude=NOT_LEARNING) == b.model_dump(exclude=NOT_LEARNING)


def first_drop_round(accuracy: Sequence[float], dense: float, points: float = TOLERANCE_POINTS) -> int | None:
    """The first round whose accuracy is more than ``points`` accuracy points below ``dense``; None if none is."""
    for r, acc in enumerate(accuracy):
        if acc < dense - points / 100:
            return r
    return None

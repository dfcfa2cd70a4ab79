"""The spec schema: every field, its default and what it means.

A spec is YAML with five sections (``data``, ``model``, ``train``, ``studies``
and the optional ``grid``) plus ``name`` and ``seed``. Fields left out take the
defaults below; fields marked "model default" take the value of the seed
report's table for the chosen model (see :data:`MODEL_TRAIN_DEFAULTS`).
"""

from __future__ import annotations

import math
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SerializeAsAny, field_validator


class Strict(BaseModel):
    """Base for every spec section: unknown keys are errors, values are frozen."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class DataConfig(Strict):
    """Which data to train and evaluate on."""

    name: str = Field("mnist-5k", description="dataset from the data registry (see `redundancy.data.DATASETS`)")
    root: str | None = Field(None, description="folder holding torchvision datasets (else --data-root, $REDUNDANCY_DATA, user cache)")
    download: bool = Field(True, description="download torchvision datasets on first use when the network allows")
    train_samples: int | None = Field(None, ge=1, description="use only the first N training samples (after the seeded shuffle); None = all")
    test_samples: int | None = Field(None, ge=1, description="use only the first N test samples; None = all")
    input_dim: int | None = Field(None, ge=1, description="teacher-student: input size (default 500); xord: number of pairs d (default 4)")
    teacher_width: int = Field(4, ge=1, description="teacher-student: hidden units of the teacher")
    noise: float = Field(0.0, ge=0.0, description="teacher-student: std of Gaussian label noise added to the teacher's logits")
    data_seed: int = Field(0, description="seed of the dataset itself (teacher weights, splits, synthetic samples)")


class ModelConfig(Strict):
    """Which network to train."""

    name: str = Field("lenet_300_100", description="model from the model registry (see `redundancy.models.MODELS`)")
    width: float = Field(1.0, gt=0, description="multiplier on every hidden width (units and filters)")
    widths: list[int] | None = Field(None, description="mlp only: hidden layer widths before the multiplier")
    init: Literal["glorot_normal", "kaiming_normal", "default"] = Field(
        "glorot_normal", description="weight initialization (the seed uses Gaussian Glorot)"
    )
    bias: bool = Field(True, description="layers carry a bias")


class TrainConfig(Strict):
    """How to train; None means the model's default from the seed's table."""

    optimizer: Literal["sgd", "adam"] | None = Field(None, description="model default")
    lr: float | None = Field(None, gt=0, description="learning rate; model default")
    momentum: float | None = Field(None, ge=0, lt=1, description="SGD momentum; model default")
    weight_decay: float = Field(0.0, ge=0)
    lr_milestones: list[int] | None = Field(None, description="iterations where lr is multiplied by lr_gamma; model default")
    lr_gamma: float = Field(0.1, gt=0)
    batch_size: int | None = Field(None, ge=1, description="model default")
    iterations: int | None = Field(None, ge=1, description="model default")
    validation: float = Field(
        0.1, gt=0, description="held out of training for validation: a fraction (<1) or a count (>=1)"
    )
    eval_interval: int | None = Field(None, ge=1, description="iterations between evaluations; default iterations/20 (at most 1000)")
    eval_batch_size: int = Field(1000, ge=1, description="batch size for evaluation")
    checkpoints: list[int] | str | None = Field(
        None, description="extra checkpoint iterations: a list, or 'log:N' for N log-spaced ones (0, final and best always kept)"
    )
    graph: Literal["auto", "on", "off"] = Field("auto", description="capture the training step as a CUDA graph (CUDA only)")
    stack: Literal["auto", "off"] = Field("auto", description="train runs of the same shape as one stacked model (CUDA only)")
    threads: int | None = Field(
        None, ge=1, description="CPU threads of every stage of the run; changes float rounding, so part of the identity when set (default 1)"
    )
    resume_every: int | None = Field(
        None, ge=1, description="iterations between stored resume states of a training stage (default 10000; also at every checkpoint)"
    )

    @field_validator("graph", "stack", mode="before")
    @classmethod
    def _yaml_on_off(cls, v: Any) -> Any:
        # YAML 1.1 reads a bare on/off as a boolean.
        if v is True:
            return "on"
        if v is False:
            return "off"
        return v

    @field_validator("checkpoints")
    @classmethod
    def _checkpoints(cls, v: Any) -> Any:
        if isinstance(v, str):
            head, _, n = v.partition(":")
            if head != "log" or not n.isdigit() or int(n) < 1:
                raise ValueError(f"expected a list of iterations or 'log:N' with N >= 1, found {v!r}")
        elif isinstance(v, list):
            bad = [i for i in v if i < 0]
            if bad:
                raise ValueError(f"checkpoint iterations must be >= 0, found {bad}")
        return v


class StudyConfig(Strict):
    """Base of every study kind's config; ``kind`` selects the kind in the registry."""

    kind: str
    name: str | None = Field(None, description="label of this study in the store (default: kind and index)")


# The seed report's table (Figure 1); Gaussian Glorot init for all.
MODEL_TRAIN_DEFAULTS: dict[str, dict[str, Any]] = {
    "lenet_300_100": dict(optimizer="sgd", lr=3e-3, momentum=0.9, batch_size=64, iterations=50_000, lr_milestones=[]),
    "mlp": dict(optimizer="sgd", lr=3e-3, momentum=0.9, batch_size=64, iterations=50_000, lr_milestones=[]),
    "conv2": dict(optimizer="adam", lr=2e-4, momentum=0.0, batch_size=64, iterations=20_000, lr_milestones=[]),
    "conv4": dict(optimizer="adam", lr=3e-4, momentum=0.0, batch_size=60, iterations=25_000, lr_milestones=[]),
    "conv6": dict(optimizer="adam", lr=3e-4, momentum=0.0, batch_size=60, iterations=40_000, lr_milestones=[]),
    "vgg19": dict(
        optimizer="sgd", lr=0.1, momentum=0.9, batch_size=64, iterations=112_000, lr_milestones=[56_000, 84_000]
    ),
}
FALLBACK_TRAIN_DEFAULTS = MODEL_TRAIN_DEFAULTS["lenet_300_100"]


def resolve_train(train: TrainConfig, model: ModelConfig) -> TrainConfig:
    """Fill every model-dependent default in ``train`` (the resolved config is what gets hashed)."""
    defaults = MODEL_TRAIN_DEFAULTS.get(model.name, FALLBACK_TRAIN_DEFAULTS)
    values = train.model_dump()
    for key, value in defaults.items():
        if values.get(key) is None:
            values[key] = value
    if values["optimizer"] == "adam" and train.momentum is None:
        values["momentum"] = 0.0
    if values["momentum"] is None:
        values["momentum"] = 0.9
    if values["eval_interval"] is None:
        values["eval_interval"] = max(1, min(1000, values["iterations"] // 20))
    return TrainConfig(**values)


def checkpoint_iterations(train: TrainConfig) -> list[int]:
    """Iterations at which weights are kept (besides the best one, known only after training)."""
    assert train.iterations is not None
    total = train.iterations
    points = {0, total}
    spec = train.checkpoints
    if isinstance(spec, str):
        n = int(spec.split(":")[1])
        for i in range(n):
            points.add(int(round(math.exp(math.log(total) * i / max(1, n - 1)))) if n > 1 else total)
    elif spec:
        points.update(i for i in spec if i <= total)
    return sorted(points)


class RunConfig(Strict):
    """Everything that determines one training run: the identity of a train stage."""

    seed: int = 0
    data: DataConfig = DataConfig()
    model: ModelConfig = ModelConfig()
    train: TrainConfig = TrainConfig()


class Spec(Strict):
    """A whole spec file once validated. ``studies`` holds each kind's own config."""

    name: str = Field(..., pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", description="store name: letters, digits, _ . -")
    seed: int = 0
    seeds: list[int] | None = Field(None, description="shorthand for grid: {seed: [...]}")
    data: DataConfig = DataConfig()
    model: ModelConfig = ModelConfig()
    train: TrainConfig = TrainConfig()
    studies: list[SerializeAsAny[StudyConfig]] = Field(default_factory=list)
    grid: dict[str, list[Any]] | None = Field(None, description="spec field path -> list of values; the plan is their product")
    executor: dict[str, Any] | None = Field(None, description="executor options (partition, gpus, time limit) for ray/slurm")

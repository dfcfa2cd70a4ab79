"""The ``correspondence`` study's config: the partner, the matchings, and what is measured of each pair."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from redundancy.spec.schema import ITERATIONS_MAX, LIST_MAX, ROUNDS_MAX, SAMPLES_MAX, UNITS_MAX, StudyConfig
from redundancy.studies.common.refs import CheckpointRef

Partner = Literal["seed", "spawn", "teacher"]
Matching = Literal["weights", "activations"]


class SpawnConfig(BaseModel):
    """Copies trained from rewind iterations of the run, each with its own batch order."""

    model_config = ConfigDict(extra="forbid")
    iterations: Annotated[list[Annotated[int, Field(ge=0, le=ITERATIONS_MAX)]], Field(min_length=1, max_length=LIST_MAX)] = Field(description="rewind iterations k the copies start from")
    copies: int = Field(2, ge=2, le=8, description="copies per rewind iteration; every pair of them is compared")
    ticket_round: int | None = Field(None, ge=1, le=ROUNDS_MAX, description="train the ticket of this round of iterative magnitude pruning; none: the dense network")
    ticket_rate: float = Field(0.2, gt=0, lt=1, description="fraction of the remaining weights each pruning round removes (the output layer half of it)")

    @field_validator("iterations")
    @classmethod
    def _distinct(cls, v: list[int]) -> list[int]:
        if len(set(v)) != len(v):
            raise ValueError("a rewind iteration is listed twice")
        return sorted(v)


class CorrespondenceConfig(StudyConfig):
    """Match the units of the run with a partner's; mode connectivity before and after alignment."""

    kind: Literal["correspondence"] = "correspondence"
    partner: Partner = Field("seed", description="seed: the next run of the seed grid; spawn: copies from rewind iterations; teacher: the teacher-student data's teacher")
    layers: list[str] | None = Field(None, min_length=1, description="hidden layers reported (every hidden layer is aligned); default all")
    checkpoint: CheckpointRef = Field("final", description="the checkpoint of both networks compared (spawned copies: their final weights)")
    matching: Annotated[list[Matching], Field(min_length=1)] = Field(default_factory=lambda: ["weights", "activations"], description="weights and/or activations")
    refine: int = Field(2, ge=0, le=50, description="weight matching: most sweeps of coordinate descent after the layer-by-layer pass")
    probe_samples: int = Field(1000, ge=2, le=SAMPLES_MAX, description="training inputs the activations are correlated on")
    path_points: int = Field(11, ge=0, le=201, description="networks on the linear path, both ends included (0: no path)")
    thresholds: Annotated[list[Annotated[float, Field(ge=-1, le=1)]], Field(min_length=1)] = Field(
        default_factory=lambda: [0.5, 0.8, 0.9], description="matched similarities counted above each"
    )
    removed: Annotated[list[Annotated[float, Field(gt=0, lt=1)]], Field(min_length=1)] = Field(
        default_factory=lambda: [0.5, 0.9], description="fractions of units magnitude pruning removes, for the kept-set overlap"
    )
    null_draws: int = Field(100, ge=1, le=10_000, description="random permutations of the null of unmatched pairs")
    teacher_threshold: float = Field(0.5, gt=0, le=1, description="teacher: a student unit specializes when its |similarity| to a teacher unit reaches this")
    max_stored: int = Field(512, ge=8, le=UNITS_MAX, description="similarity matrices are stored for at most this many units per side (evenly spaced)")
    spawn: SpawnConfig | None = Field(None, description="partner spawn: {iterations: [...], copies: 2, ticket_round: null}")

    @field_validator("matching", "thresholds", "removed")
    @classmethod
    def _no_repeats(cls, value: list[Any]) -> list[Any]:
        if len(set(value)) != len(value):
            raise ValueError("an item is listed twice")
        return value

    @model_validator(mode="after")
    def _spawn_for_spawn(self) -> CorrespondenceConfig:
        if self.partner == "spawn" and self.spawn is None:
            raise ValueError("partner: spawn needs spawn: {iterations: [...], copies: 2}")
        if self.partner != "spawn" and self.spawn is not None:
            raise ValueError(f"spawn applies to partner: spawn, not {self.partner}")
        return self

    @property
    def paired_run(self) -> bool:
        """Whether the stage reads a second training stage (the engine pairs each run with the next seed)."""
        return self.partner == "seed"

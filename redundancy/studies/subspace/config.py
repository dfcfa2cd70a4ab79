"""The ``subspace`` study's config, its seeds and the ranks it evaluates."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Literal

from pydantic import Field

from redundancy.spec.schema import LIST_MAX, REPEATS_MAX, SAMPLES_MAX, UNITS_MAX, StudyConfig
from redundancy.studies.common.refs import CheckpointRef
from redundancy.studies.common.seeds import FOLLOW_RUN_SEED_HELP, derived_seed
from redundancy.studies.subspace.linalg import Basis

if TYPE_CHECKING:
    from redundancy.models import LayerInfo

Target = Literal["update", "weights"]
SUMMARY_KS = (1, 10, 16)
ALIGNMENT_K = 16  # the summary's alignment columns are the residual's after this many directions


class SubspaceConfig(StudyConfig):
    """Project one layer's update (or weights) onto k singular directions and evaluate."""

    kind: Literal["subspace"] = "subspace"
    layer: str | Annotated[list[str], Field(min_length=1)] = Field(
        "fc1", description="layer name (fc1, conv2, ...) or a list; a Conv weight is read with one row per filter"
    )
    checkpoint: CheckpointRef | Annotated[list[CheckpointRef], Field(min_length=1)] = Field(
        "final", description="final, best (minimum validation loss) or a stored iteration; or a list"
    )
    target: Target | Annotated[list[Target], Field(min_length=1)] = Field(
        "update", description="update = project W − Z; weights = project W itself; or both as a list"
    )
    ks: Literal["all"] | Annotated[list[Annotated[int, Field(ge=0, le=UNITS_MAX)]], Field(min_length=1, max_length=LIST_MAX)] = Field(
        "all", description="ranks to evaluate, or all (0..rank); 0, 1, 10, 16 and the rank are always added"
    )
    basis: Basis | Annotated[list[Basis], Field(min_length=1)] = Field(
        "top", description="top (leading singular vectors), bottom (trailing) or random (controls); or a list"
    )
    seeds: int = Field(5, ge=1, le=REPEATS_MAX, description="random basis: number of random subspaces (seeds 0..seeds-1)")
    follow_run_seed: bool = Field(False, description=FOLLOW_RUN_SEED_HELP)
    split: Literal["test", "validation"] = Field("test", description="data the accuracy is measured on")
    alignment: bool = Field(
        False, description="also record ρ (alignment with the layer's inputs) of the kept part and residual, and the residual's share"
    )
    alignment_samples: int = Field(
        20_000, ge=1, le=SAMPLES_MAX, description="alignment on a Conv: unfolded input patches sampled (seeded) to estimate XᵀX"
    )
    alignment_inputs: Literal["uncentred", "centred"] = Field(
        "uncentred", description="alignment: the layer's inputs as they are (uncentred) or minus their mean (centred)"
    )
    alignment_draws: int = Field(
        20, ge=2, description="alignment: random matrices of the data-span baseline (rows random combinations of the inputs)"
    )


SPAN_STREAM = 23  # stream of the data-span baseline's random matrices (fixed: a property of the data, not of the run)
_BASES = 22  # stream of the random bases when they follow the run's seed (common.seeds.derived_seed)


def basis_seed(config: SubspaceConfig, run_seed: int, s: int) -> int:
    """Seed of random basis ``s``: ``s`` itself by default (the same bases for every run), or derived from
    the run's seed with ``follow_run_seed``, so each network of a seed grid gets its own bases."""
    return derived_seed(run_seed, s, _BASES) if config.follow_run_seed else s


def layer_rank(info: LayerInfo) -> int:
    """The largest rank a layer's weight matrix can have: min(units, fan-in)."""
    return int(min(info.units, info.fan_in))


def evaluated_ks(ks: Literal["all"] | list[int], rank: int) -> list[int]:
    """The ranks evaluated for a layer of this rank: the spec's, plus 0, 1, 10, 16 and the rank."""
    chosen = set(range(rank + 1)) if ks == "all" else set(ks)
    chosen |= {0, rank, *SUMMARY_KS}
    return sorted(k for k in chosen if k <= rank)

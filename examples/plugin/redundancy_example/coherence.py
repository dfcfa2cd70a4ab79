"""A study-kind plugin: the coherence of a layer's units over training.

The mutual coherence of a layer is μ(W) = max_{i≠j} |⟨ŵ_i, ŵ_j⟩|, the largest
absolute cosine between two of its units' weight rows (ŵ_i = w_i / ‖w_i‖); its
mean over pairs says how alike the units are on average. Two units with
coherence near 1 compute nearly the same feature: one of them is redundant.
The study measures both at every stored checkpoint of the run.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import torch
from pydantic import Field

from redundancy.spec.schema import StudyConfig
from redundancy.store.results import Curve, KindSchema, Results, Row
from redundancy.studies.base import StudyContext, StudyKind, StudyResult
from redundancy.studies.common.checks import check_layers
from redundancy.studies.common.weights import unit_matrix


def coherence(w: torch.Tensor) -> tuple[float, float]:
    """(max, mean) of |⟨ŵ_i, ŵ_j⟩| over pairs i ≠ j of the rows of W (n × m, n ≥ 2)."""
    w_hat = w / w.norm(dim=1, keepdim=True).clamp_min(1e-12)
    cos = (w_hat @ w_hat.T).abs()  # (n, n)
    n = cos.shape[0]
    off = cos[~torch.eye(n, dtype=torch.bool)]
    return float(off.max()), float(off.mean())


class CoherenceConfig(StudyConfig):
    """Fields of a ``coherence`` study."""

    kind: Literal["coherence"] = "coherence"
    layer: str = Field("fc1", description="the layer whose units are compared")


def check(config: CoherenceConfig, info) -> list:
    problems = check_layers(config.layer, "layer", info)
    if not problems and info.layers[config.layer].units < 2:
        problems.append((("layer",), f"{config.layer} has one unit; coherence compares pairs"))
    return problems


def run(config: CoherenceConfig, ctx: StudyContext) -> StudyResult:
    iterations = sorted(ctx.run.checkpoints)
    values = np.array([coherence(unit_matrix(ctx.run.checkpoints[it], config.layer)) for it in iterations])  # (checkpoints, 2)
    ctx.progress(1.0, "done")
    return StudyResult(
        tensors={"iterations": np.asarray(iterations), "coherence": values},
        summary={"coherence_max_final": float(values[-1, 0]), "coherence_mean_final": float(values[-1, 1])},
        curves={"iteration": iterations, "coherence_max": values[:, 0].tolist(), "coherence_mean": values[:, 1].tolist()},
    )


def decode(summary, curves, config) -> Results:
    """The typed results: one row and one curve keyed by the layer."""
    key = {"layer": config.get("layer")}
    series = {k: v for k, v in curves.items() if isinstance(v, list)}
    return Results("coherence", [Row(key, dict(summary))], [Curve(key, "iteration", series)])


KIND = StudyKind(
    name="coherence",
    config=CoherenceConfig,
    run=run,
    check=check,
    description="mutual coherence of a layer's units at every stored checkpoint",
    results=KindSchema("coherence", ("layer",), decode),
)

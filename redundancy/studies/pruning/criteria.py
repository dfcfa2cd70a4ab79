"""The ``pruning`` study's criteria: a registry of removal orders, one function and one entry each.

A criterion looks at one layer at one checkpoint (:class:`CriterionInput`) and
returns the order in which its units are removed; the orders themselves are
:mod:`redundancy.studies.common.orders`'s, shared with the kinds that rank units.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated

import numpy as np
import torch
from pydantic import AfterValidator

from redundancy.models import LayeredNet
from redundancy.store.keys import criterion_key, split_criterion
from redundancy.studies.common.orders import Direction, greedy_frame_potential_order, mean_abs_activation, order_by_scores

DIRECTIONS: tuple[Direction, ...] = ("smallest", "largest")


@dataclass(frozen=True)
class CriterionInput:
    """What a criterion may look at for one layer at one checkpoint.

    ``weight`` is W as (n units, fan-in) float64 on the CPU, ``bias`` (n,) or
    None; ``model`` is the loaded network (eval mode, on the study's device)
    and ``train_x`` a batch of training inputs on that device, for criteria
    that look at data.
    """

    model: LayeredNet
    layer: str
    weight: torch.Tensor
    bias: torch.Tensor | None
    train_x: torch.Tensor
    include_bias: bool


OrderFn = Callable[[CriterionInput, Direction, np.random.Generator], torch.Tensor]


@dataclass(frozen=True)
class Criterion:
    """A registered criterion: ``order(input, direction, rng)`` returns the removal order (n,) int64.

    ``directed``: takes ``smallest``/``largest``; ``stochastic``: one order per
    seed, reported as mean ± std (``rng`` is seeded per order).
    """

    name: str
    order: OrderFn
    directed: bool = True
    stochastic: bool = False
    description: str = ""


def magnitude_order(inp: CriterionInput, direction: Direction, rng: np.random.Generator) -> torch.Tensor:
    """‖w_i‖ (or ‖[w_i, b_i]‖): a sort, since removing a unit leaves the others' norms unchanged."""
    w = inp.weight
    if inp.include_bias and inp.bias is not None:
        w = torch.cat([w, inp.bias[:, None]], dim=1)
    return order_by_scores(w.norm(dim=1), direction)


def frame_potential_order(inp: CriterionInput, direction: Direction, rng: np.random.Generator) -> torch.Tensor:
    """Greedy on c_i(R) = Σ_{j∈R} ⟨ŵ_i, ŵ_j⟩², updated after every removal."""
    return greedy_frame_potential_order(inp.weight, direction)


def random_order(inp: CriterionInput, direction: Direction, rng: np.random.Generator) -> torch.Tensor:
    """A uniformly random permutation of the units (the baseline)."""
    return torch.from_numpy(rng.permutation(inp.weight.shape[0]).astype(np.int64))


def activation_order(inp: CriterionInput, direction: Direction, rng: np.random.Generator) -> torch.Tensor:
    """Mean |activation| on training inputs: a fixed score (removal does not change the others'), so a sort."""
    return order_by_scores(mean_abs_activation(inp.model, inp.layer, inp.train_x), direction)


CRITERIA: dict[str, Criterion] = {
    "magnitude": Criterion("magnitude", magnitude_order, description="ℓ2 norm of the unit's incoming weights"),
    "frame_potential": Criterion(
        "frame_potential", frame_potential_order, description="contribution to FP(Ŵ) of the remaining units, greedy"
    ),
    "random": Criterion("random", random_order, directed=False, stochastic=True, description="random order (baseline)"),
    "activation": Criterion("activation", activation_order, description="mean |activation| on training inputs"),
}


def parse_criterion(text: str) -> tuple[str, Direction | None]:
    """``"name"`` or ``"name:direction"`` -> (name, direction); direction None for undirected criteria.

    A directed criterion without a direction means ``smallest`` (the seed's pruning).
    Raises ValueError with the accepted forms.
    """
    name, direction = split_criterion(text)
    if name not in CRITERIA:
        close = difflib.get_close_matches(name, list(CRITERIA), n=1, cutoff=0.6)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise ValueError(f"unknown criterion {name!r}{hint} (expected one of: {', '.join(CRITERIA)})")
    criterion = CRITERIA[name]
    if not criterion.directed:
        if direction is not None:
            raise ValueError(f"criterion {name!r} has no direction; write {name!r}")
        return name, None
    if direction is None:
        return name, "smallest"
    if direction not in DIRECTIONS:
        raise ValueError(f"unknown direction {direction!r} for {name!r} (expected smallest or largest)")
    return name, direction  # type: ignore[return-value]


def _canonical_criterion(text: str) -> str:
    return criterion_key(*parse_criterion(text))


CriterionRef = Annotated[str, AfterValidator(_canonical_criterion)]
DEFAULT_CRITERIA = [
    "magnitude:smallest",
    "magnitude:largest",
    "frame_potential:smallest",
    "frame_potential:largest",
    "random",
]


def criterion_of(key: str) -> Criterion:
    """The registered criterion of a curve key (``"magnitude:smallest"``, ``"random"``)."""
    return CRITERIA[split_criterion(key)[0]]

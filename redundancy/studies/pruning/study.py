"""Study ``pruning``: structured pruning without retraining (seed §3.1, Figure 2).

Units of one trained layer (rows of a Linear weight, output filters of a Conv)
are removed greedily by a saliency criterion, and test accuracy and loss are
measured after every ``step`` removals. Removing a unit means its output is
zero for every input (with batch norm: zero after normalization), i.e. the
unit and its outgoing weights are dropped. The seed compares

- ``magnitude``: ‖w_i‖ (with ``include_bias``, ‖[w_i, b_i]‖);
- ``frame_potential``: c_i(R) = Σ_{j∈R} ⟨ŵ_i, ŵ_j⟩² on the row-normalized Ŵ,
  over the units R still present, updated after every removal (greedy);
- ``random``: ``seeds`` independent random orders, reported as mean ± std;

each with a direction: ``smallest`` removes the lowest score first (the seed's
pruning), ``largest`` the highest first (how much harm can be done).
``activation`` (mean |activation| of the unit on training inputs) is the
second example of the :data:`CRITERIA` registry: a new criterion is one
function returning a removal order, and one entry.

Spec fields: ``layer``, ``checkpoint``, ``criteria`` (``name`` or
``name:direction``; default the seed's five curves), ``max_fraction``,
``step``, ``split``, ``seeds``, ``seed``, ``include_bias``,
``activation_samples`` (see :class:`PruningConfig`). Evaluated levels are
k = 0, step, 2·step, ... up to K = ⌊max_fraction · n⌋, with K always included.

Outputs. A *panel* is one (layer, checkpoint), keyed ``"<layer>@<checkpoint>"``
(e.g. ``"fc1@best"``). ``curves`` of a panel::

    {"<criterion>:<direction>": {"units_removed": [...], "units": n,
                                 "accuracy": [...], "loss": [...], "frame_potential": [...]},
     "random": {"units_removed": [...], "units": n, "accuracy": [...mean], "std": [...],
                "seeds": [[...accuracy per seed...], ...], "loss": [...mean], "frame_potential": [...mean]}}

With one layer and one checkpoint, ``curves`` is that panel itself; with
several, ``curves = {"<layer>@<checkpoint>": panel, ...}``
(:func:`curve_panels` gives the second form in both cases). ``summary`` maps
each curve (``"<criterion>:<direction>"``, ``"random"``; prefixed with
``"<layer>@<checkpoint> "`` when there are several panels) to its accuracy at
10, 25, 50, 75 and 90 % of units removed (linear interpolation between levels;
null above ``max_fraction``) and ``auc``, the area under accuracy against the
fraction of units removed (trapezoids over [0, K/n]; the mean accuracy over the
sweep when ``max_fraction`` is 1), and how much can go: ``removable@1pt`` and
``removable@5pt``, the most units removed (an evaluated level, in the curve's
order) with accuracy within 1 and 5 points of the unpruned network at every level
up to it, and the same as a fraction of the layer's units (``..._fraction``; for
``random``, of the mean curve).

Tensors (under ``results/`` in the stage file), ``<lc>`` = ``<layer>@<checkpoint>``:
``<lc>/units_removed`` (levels,), ``<lc>/iteration`` (the checkpoint's
iteration), and per curve ``<lc>/<criterion>/<direction>/{order (n,),
accuracy, loss, frame_potential (levels,)}``; for a stochastic criterion
(``random``) ``<lc>/random/{order (seeds, n), accuracy, loss, frame_potential
(seeds, levels), accuracy_mean, accuracy_std (levels,)}``.

Retraining (seed §2.3: pruning the largest components "can lead to better
test accuracy after re-training"). ``finetune: {iterations, lr, levels}``
takes, at each listed fraction of units removed, every criterion's pruned
network built structurally smaller (:mod:`redundancy.studies.common.structural`:
the layer's rows and the next layer's matching inputs removed) and trains all
its parameters for ``iterations`` steps with the run's optimizer, batch size
and seed (same batches for every criterion). Each curve gains
``finetune_units_removed``, ``pruned_accuracy`` (before, = iteration 0 of the
fine-tuning) and ``finetuned_accuracy`` (mean over seeds for ``random``, with
``finetuned_std``); each curve's summary row gains ``ft@<p>%``, and
``summary["finetune"]`` says per level which criterion is best before and after
and Kendall's τ between the two rankings. Tensors:
``<lc>/<criterion>/<direction>/finetuned/<removed:06d>/{accuracy, pruned_accuracy}``, and with
``store_weights`` the fine-tuned parameters, ``.../finetuned/<removed:06d>/weights/<parameter>``.
``costs: true`` (implied by ``finetune``) adds ``params`` and ``flops`` (per
level, of the structurally smaller network; FLOPs = 2 × multiply-adds of one
input's forward pass) to every curve, ``<lc>/params`` and ``<lc>/flops``
tensors, and ``summary["costs"]``. Both are off by default, so earlier stage ids
stay valid.

The sweep runs on :mod:`redundancy.studies.common.removal` (layers below the
pruned one evaluated once); orders come from
:mod:`redundancy.studies.common.orders`.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Literal

import numpy as np
import torch
from pydantic import AfterValidator, Field, field_validator

from redundancy.models import LayeredNet, param_name
from redundancy.spec.schema import ITERATIONS_MAX, LIST_MAX, REPEATS_MAX, SAMPLES_MAX, SEED_MAX, UNITS_MAX, ResolvedTrain, Strict, StudyConfig, TrainConfig
from redundancy.studies.base import StudyContext, StudyKind, StudyResult
from redundancy.studies.common.checks import check_checkpoints, check_layers
from redundancy.studies.common.refs import CheckpointRef, listed, loc
from redundancy.studies.common.seeds import FOLLOW_RUN_SEED_HELP, derived_seed, seed_words
from redundancy.studies.common.weights import unit_matrix
from redundancy.studies.common.removal import removal_sweep
from redundancy.studies.common.structural import (
    FULLY_CONNECTED,
    hidden_widths,
    kept_after,
    layer_costs,
    narrow_model_config,
    pruned_cost,
    shrink_state,
    total_cost,
)
from redundancy.studies.common.orders import (
    Direction,
    frame_potential_along,
    greedy_frame_potential_order,
    mean_abs_activation,
    order_by_scores,
)

DIRECTIONS: tuple[Direction, ...] = ("smallest", "largest")
SUMMARY_PERCENTS = (10, 25, 50, 75, 90)


# --- criteria registry --------------------------------------------------------------------------


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
    name, sep, direction = text.partition(":")
    if name not in CRITERIA:
        close = difflib.get_close_matches(name, list(CRITERIA), n=1, cutoff=0.6)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise ValueError(f"unknown criterion {name!r}{hint} (expected one of: {', '.join(CRITERIA)})")
    criterion = CRITERIA[name]
    if not criterion.directed:
        if sep:
            raise ValueError(f"criterion {name!r} has no direction; write {name!r}")
        return name, None
    if not sep:
        return name, "smallest"
    if direction not in DIRECTIONS:
        raise ValueError(f"unknown direction {direction!r} for {name!r} (expected smallest or largest)")
    return name, direction  # type: ignore[return-value]


def _canonical_criterion(text: str) -> str:
    name, direction = parse_criterion(text)
    return name if direction is None else f"{name}:{direction}"


CriterionRef = Annotated[str, AfterValidator(_canonical_criterion)]
DEFAULT_CRITERIA = [
    "magnitude:smallest",
    "magnitude:largest",
    "frame_potential:smallest",
    "frame_potential:largest",
    "random",
]


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


def check(config: PruningConfig, info: Any) -> list[tuple[Sequence[str | int], str]]:
    """Layers exist, checkpoints are kept by the run, and max_fraction removes at least one unit."""
    problems = check_layers(config.layer, "layer", info) + check_checkpoints(config.checkpoint, "checkpoint", info)
    for name in listed(config.layer):
        if name not in info.layers:
            continue
        units = info.layers[name].units
        if math.floor(config.max_fraction * units + 1e-9) < 1:
            problems.append(
                (("max_fraction",), f"removes no unit of {name} ({config.max_fraction} × {units} units < 1); raise it to at least {1 / units:.3g}")
            )
    if config.finetune is not None:
        model = info.run.model.name
        if model not in FULLY_CONNECTED:
            problems.append((("finetune",), f"fine-tuning trains the structurally smaller network, which exists for {', '.join(FULLY_CONNECTED)}; this spec's model is {model!r}"))
        for i, name in enumerate(config.layer if isinstance(config.layer, list) else [config.layer]):
            if name in info.layers and info.layers[name].is_output:
                problems.append((loc(config.layer, "layer", i), f"{name} is the output layer: its units are the classes, so the network cannot be made smaller; drop finetune or prune a hidden layer"))
            elif name in info.layers and any(int(round(f * info.layers[name].units)) >= info.layers[name].units for f in config.finetune.levels):
                problems.append((("finetune", "levels"), f"a level removes every unit of {name} ({info.layers[name].units} units); use fractions below {1 - 0.5 / info.layers[name].units:.4g}"))
    return problems


# --- results ----------------------------------------------------------------------------------


_ORDERS = 21  # stream of the random orders when they follow the run's seed (common.seeds.derived_seed)


def order_seed(config: PruningConfig, run_seed: int, s: int) -> list[int]:
    """Entropy of random order ``s``: (``seed``, s) alone by default (the same orders for every run), or
    also the run's seed with ``follow_run_seed``, so each network of a seed grid gets its own orders."""
    if config.follow_run_seed:
        return [derived_seed(run_seed, s, _ORDERS, config.seed)]
    return seed_words(config.seed, s)


def summary_row(units_removed: Sequence[int], accuracy: Sequence[float], n_units: int) -> dict[str, float | None]:
    """Accuracy at 10/25/50/75/90 % of units removed (interpolated; None past the sweep) and the AUC.

    The AUC is ∫ accuracy d(fraction removed) over the sweep, by trapezoids.
    """
    x = np.asarray(units_removed, dtype=np.float64) / n_units
    acc = np.asarray(accuracy, dtype=np.float64)
    row: dict[str, float | None] = {}
    for p in SUMMARY_PERCENTS:
        f = p / 100
        row[f"acc@{p}%"] = float(np.interp(f, x, acc)) if f <= x[-1] + 1e-12 else None
    row["auc"] = curve_auc(units_removed, accuracy, n_units)
    for points in REMOVABLE_POINTS:
        k = removable_within(units_removed, accuracy, points)
        row[f"removable@{points}pt"] = k
        row[f"removable@{points}pt_fraction"] = k / n_units
    return row


def curve_auc(units_removed: Sequence[int], accuracy: Sequence[float], n_units: int) -> float:
    """∫ accuracy d(fraction removed) over the sweep, by trapezoids (0 for a single level)."""
    x = np.asarray(units_removed, dtype=np.float64) / n_units
    acc = np.asarray(accuracy, dtype=np.float64)
    return float(np.sum((x[1:] - x[:-1]) * (acc[1:] + acc[:-1]) / 2)) if len(x) > 1 else 0.0


def auc_percentile(auc: float, null: Sequence[float]) -> float:
    """Where ``auc`` sits in the null distribution of the random orders' AUCs, in percent:
    100 · (#{null < auc} + ½ #{null = auc}) / |null| (mid-rank, so a tie with every draw is 50)."""
    v = np.asarray(null, dtype=np.float64)
    return float(100.0 * ((v < auc).sum() + 0.5 * (v == auc).sum()) / len(v))


#: Accuracy drops (points) within which the summary says how many units can go.
REMOVABLE_POINTS = (1, 5)


def removable_within(units_removed: Sequence[int], accuracy: Sequence[float], points: float) -> int:
    """The most units removable with accuracy within ``points`` of the unpruned network:
    max{k_j : a(k_i) >= a(0) − points/100 for every evaluated k_i <= k_j}, with a(0) = accuracy[0]
    the unpruned accuracy (every order starts at k = 0). Removal follows the order, so the first
    evaluated level that falls below ends the run even if a later one recovers."""
    floor = float(accuracy[0]) - points / 100.0
    best = 0
    for k, a in zip(units_removed, accuracy):
        if a is None or not float(a) >= floor - 1e-12:
            break
        best = int(k)
    return best


def kendall_tau(a: Sequence[float], b: Sequence[float]) -> float:
    """Kendall's τ_a of two scorings of the same items: (concordant − discordant pairs) / all pairs."""
    n = len(a)
    pairs = n * (n - 1) // 2
    if pairs == 0:
        return 1.0
    total = 0.0
    for i in range(n):
        for j in range(i + 1, n):
            total += float(np.sign(a[i] - a[j]) * np.sign(b[i] - b[j]))
    return total / pairs


def ranking(scores: dict[str, float]) -> str:
    """Curves from the highest score to the lowest, ``"a > b = c"`` (equal scores joined by =)."""
    items = sorted(scores.items(), key=lambda kv: -kv[1])
    text = ""
    for i, (key, value) in enumerate(items):
        if i:
            text += " = " if value == items[i - 1][1] else " > "
        text += key
    return text


def finetune_train(config: FinetuneConfig, run_train: ResolvedTrain) -> ResolvedTrain:
    """The run's resolved training config for fine-tuning: ``iterations`` steps at ``lr`` (no schedule),
    evaluated 20 times, keeping only what the loop always keeps."""
    return run_train.model_copy(
        update={
            "iterations": config.iterations,
            "lr": config.lr if config.lr is not None else run_train.lr,
            "lr_milestones": [],
            "checkpoints": None,
            "eval_interval": max(1, min(1000, config.iterations // 20)),
        }
    )


def finetune_pruned(
    ctx: StudyContext, model: LayeredNet, state: dict[str, torch.Tensor], layer: str, orders: Sequence[torch.Tensor],
    removed: int, train: ResolvedTrain, keep: Sequence[int] = (),
) -> list[Any]:
    """Train the structurally pruned network of each order (``removed`` units of ``layer`` gone) from its
    pruned weights, all with the run's seed (same batches); one stacked model where that pays."""
    from redundancy.train import Member, TrainingDiverged, train_members

    names = model.names
    states = [shrink_state(state, names, {layer: kept_after(order, removed)}) for order in orders]
    widths = hidden_widths(model)
    widths[names.index(layer)] -= removed
    narrow = narrow_model_config(ctx.run.config.model, widths)
    seed = ctx.run.config.seed
    results = train_members(narrow, train, ctx.data, [Member(seed, st, None) for st in states], device=ctx.device, keep=keep)
    for result in results:
        if isinstance(result, TrainingDiverged):
            raise result
    return results


def curve_panels(curves: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """A pruning study's ``curves`` as ``{"<layer>@<checkpoint>": panel}``, whether it held one panel or several.

    A single panel is stored as itself (its values are curves, with
    ``units_removed``); its key is then ``""`` here.
    """
    if any(isinstance(v, dict) and "units_removed" in v for v in curves.values()):
        return {"": curves}
    return curves


def run(config: PruningConfig, ctx: StudyContext) -> StudyResult:
    """For each layer and checkpoint: every criterion's order, then one fast sweep over all orders."""
    data = ctx.data
    x, y = (data.test_x, data.test_y) if config.split == "test" else (data.val_x, data.val_y)
    train_x = data.train_x[: config.activation_samples]
    layers, checkpoints = listed(config.layer), listed(config.checkpoint)
    several = len(layers) * len(checkpoints) > 1
    result = StudyResult()
    total, done = len(layers) * len(checkpoints), 0
    for ref in checkpoints:
        iteration = ctx.checkpoint_iteration(ref)
        state = ctx.state(ref)
        model = ctx.build_model(state)
        for layer in layers:
            lc = f"{layer}@{ref}"
            ctx.progress(done / total, f"{lc}: orders")
            bias = state.get(param_name(layer, "bias"))
            inp = CriterionInput(
                model=model,
                layer=layer,
                weight=unit_matrix(state, layer),
                bias=None if bias is None else bias.double(),
                train_x=train_x,
                include_bias=config.include_bias,
            )
            n = inp.weight.shape[0]
            levels = removal_levels(n, config.max_fraction, config.step)
            # (curve key, tensor path, seed index, order) for every order to evaluate.
            plan: list[tuple[str, str, int, torch.Tensor]] = []
            for text in config.criteria:
                name, direction = parse_criterion(text)
                criterion = CRITERIA[name]
                seeds = range(config.seeds) if criterion.stochastic else [0]
                for s in seeds:
                    rng = np.random.default_rng(order_seed(config, ctx.run.config.seed, s))
                    order = criterion.order(inp, direction or "smallest", rng).to(torch.int64).cpu()
                    path = name if direction is None else f"{name}/{direction}"
                    plan.append((text, path, s, order))
            ctx.progress(done / total, f"{lc}: sweep of {len(plan)} orders × {len(levels)} levels")
            acc, loss = removal_sweep(model, layer, [o for *_, o in plan], levels, x, y)
            level_idx = torch.as_tensor(levels)
            panel: dict[str, Any] = {}
            result.tensors[f"{lc}/units_removed"] = np.asarray(levels, dtype=np.int64)
            result.tensors[f"{lc}/iteration"] = np.int64(iteration)
            for key in dict.fromkeys(k for k, *_ in plan):
                rows = [i for i, (k, *_) in enumerate(plan) if k == key]
                path = plan[rows[0]][1]
                orders = torch.stack([plan[i][3] for i in rows])
                fp = torch.stack([frame_potential_along(inp.weight, o)[level_idx] for o in orders]).numpy()
                a, lo = acc[rows].numpy(), loss[rows].numpy()
                curve: dict[str, Any] = {"units_removed": levels, "units": n}
                if CRITERIA[key.partition(":")[0]].stochastic:
                    curve.update(
                        accuracy=a.mean(0).tolist(),
                        std=a.std(0).tolist(),
                        seeds=a.tolist(),
                        loss=lo.mean(0).tolist(),
                        frame_potential=fp.mean(0).tolist(),
                    )
                    tensors = {"order": orders.numpy(), "accuracy": a, "loss": lo, "frame_potential": fp,
                               "accuracy_mean": a.mean(0), "accuracy_std": a.std(0)}
                else:
                    curve.update(accuracy=a[0].tolist(), loss=lo[0].tolist(), frame_potential=fp[0].tolist())
                    tensors = {"order": orders[0].numpy(), "accuracy": a[0], "loss": lo[0], "frame_potential": fp[0]}
                for field, value in tensors.items():
                    result.tensors[f"{lc}/{path}/{field}"] = value
                panel[key] = curve
                result.summary[f"{lc} {key}" if several else key] = summary_row(levels, curve["accuracy"], n)
            # The random orders' AUCs are the null: each criterion's AUC as a percentile of it.
            null = next((np.asarray([curve_auc(levels, acc_s, n) for acc_s in curve["seeds"]]) for key, curve in panel.items()
                         if CRITERIA[key.partition(":")[0]].stochastic and len(curve.get("seeds", [])) >= 2), None)
            if null is not None:
                result.tensors[f"{lc}/random/auc"] = null
                for key in panel:
                    row = result.summary[f"{lc} {key}" if several else key]
                    stochastic = CRITERIA[key.partition(":")[0]].stochastic  # the null itself: no percentile
                    row["auc_percentile"] = None if stochastic else auc_percentile(row["auc"], null)
            if config.costs or config.finetune is not None:
                dense = layer_costs(model, data.input_shape)
                costs = [pruned_cost(model, dense, layer, k) for k in levels]
                result.tensors[f"{lc}/params"] = np.asarray([c.params for c in costs], dtype=np.int64)
                result.tensors[f"{lc}/flops"] = np.asarray([c.flops for c in costs], dtype=np.int64)
                for curve in panel.values():
                    curve.update(params=[c.params for c in costs], flops=[c.flops for c in costs])
                whole = total_cost(dense)
                result.summary[f"{lc} costs" if several else "costs"] = {
                    "params_dense": whole.params, "flops_dense": whole.flops,
                    "params_at_max": costs[-1].params, "flops_at_max": costs[-1].flops,
                }
            if config.finetune is not None:
                ft_train = finetune_train(config.finetune, ctx.run.config.train)
                metric = "test_accuracy" if config.split == "test" else "val_accuracy"
                removed_levels = sorted({int(round(f * n)) for f in config.finetune.levels})
                keys = list(dict.fromkeys(k for k, *_ in plan))
                before: dict[int, dict[str, float]] = {r: {} for r in removed_levels}
                after: dict[int, dict[str, float]] = {r: {} for r in removed_levels}
                for key in keys:
                    panel[key].update(finetune_units_removed=removed_levels, pruned_accuracy=[], finetuned_accuracy=[])
                for r in removed_levels:
                    ctx.progress(done / total, f"{lc}: fine-tuning {len(plan)} networks with {r} of {n} units removed")
                    trained = finetune_pruned(ctx, model, state, layer, [o for *_, o in plan], r, ft_train)
                    pre = np.asarray([t.metric_at(metric, 0) for t in trained])
                    post = np.asarray([t.metric_at(metric, t.final_iteration) for t in trained])
                    for key in keys:
                        rows = [i for i, (k, *_) in enumerate(plan) if k == key]
                        path = plan[rows[0]][1]
                        curve = panel[key]
                        curve["pruned_accuracy"].append(float(pre[rows].mean()))
                        curve["finetuned_accuracy"].append(float(post[rows].mean()))
                        if len(rows) > 1:
                            curve.setdefault("finetuned_std", []).append(float(post[rows].std()))
                        before[r][key], after[r][key] = float(pre[rows].mean()), float(post[rows].mean())
                        result.tensors[f"{lc}/{path}/finetuned/{r:06d}/accuracy"] = post[rows] if len(rows) > 1 else np.float64(post[rows][0])
                        result.tensors[f"{lc}/{path}/finetuned/{r:06d}/pruned_accuracy"] = pre[rows] if len(rows) > 1 else np.float64(pre[rows][0])
                        if config.store_weights:  # the fine-tuned smaller network's parameters, (seeds, ...) for random
                            finals = [trained[i].checkpoints[trained[i].final_iteration] for i in rows]
                            for param in finals[0]:
                                values = [f[param].detach().cpu().numpy() for f in finals]
                                result.tensors[f"{lc}/{path}/finetuned/{r:06d}/weights/{param}"] = np.stack(values) if len(rows) > 1 else values[0]
                for key in keys:
                    row_key = f"{lc} {key}" if several else key
                    for r, ft_acc in zip(removed_levels, panel[key]["finetuned_accuracy"]):
                        result.summary[row_key][f"ft@{100 * r / n:.0f}%"] = ft_acc
                changes: dict[str, Any] = {}
                for r in removed_levels:
                    order_keys = list(before[r])
                    changes[f"{100 * r / n:.0f}% removed ({r} units)"] = {
                        "best_pruned": ranking(before[r]).split(" ")[0],
                        "best_finetuned": ranking(after[r]).split(" ")[0],
                        "kendall_tau": kendall_tau([before[r][k] for k in order_keys], [after[r][k] for k in order_keys]),
                        "ranking_pruned": ranking(before[r]),
                        "ranking_finetuned": ranking(after[r]),
                    }
                result.summary[f"{lc} finetune" if several else "finetune"] = changes
            if several:
                result.curves[lc] = panel
            else:
                result.curves = panel
                result.summary.update(layer=layer, checkpoint=f"{ref} (iteration {iteration})", units=n,
                                      accuracy_unpruned=float(acc[0, 0]))
            done += 1
    ctx.progress(1.0, "done")
    return result


KIND = StudyKind(
    name="pruning",
    config=PruningConfig,
    run=run,
    check=check,
    description="accuracy as units of a layer are removed by magnitude, frame potential or at random",
)

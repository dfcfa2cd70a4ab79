"""Study ``lottery``: winning tickets by iterative magnitude pruning, and where their weights live (seed §2.2, §3).

Frankle & Carbin (2018): train the network, prune a fraction ``rate`` of the
remaining weights of each layer by magnitude (half of it for the output
layer), reset the survivors to their initial values θ_0 (or to θ_k of the
dense training: late rewinding, Frankle et al. 2019), and repeat. Round 0 is
the dense network. Each round's ticket is trained beside two controls:
``reinit`` (the same mask, weights drawn afresh from the initial distribution)
and ``random_mask`` (a random mask with the ticket's per-layer sparsity, the
original initialization).

The seed's question is whether the survivors of a layer spread over its units
(rows of a Linear weight, filters of a Conv) as the hypothesis implies, or
concentrate on a few "trainable" units. Per layer and round the mask's counts
k_i are compared with the hypergeometric null (:mod:`.concentration`), for the
incoming weights and for the outgoing ones (the next layer's columns), and
ranked against each unit's norm and frame-potential contribution in the dense
network (as the ``pruning`` study ranks units).

Tensors (under ``/results``), R rounds, n units of a layer:

    masks/<layer>                          (R+1, *weight shape) uint8, round 0 all ones
    trained/<layer>                        (R+1, *weight shape) the ticket's trained weights per round (``store_weights``)
    random_masks/<layer>                   (R+1, *weight shape) uint8, the random_mask control's
    sparsity/<layer>, sparsity/total       (R+1,) fraction of the studied weights pruned
    <variant>/accuracy                     (R+1,) test accuracy at the end of training
    <variant>/early_stop_accuracy          (R+1,) test accuracy at the minimum validation loss
    <variant>/early_stop_iteration         (R+1,) that iteration
    <variant>/rounds/<rr>/<metric>         (E,) the round's metric series (iteration, test_accuracy, ...)
    concentration/<layer>/counts           (R+1, n) k_i, surviving incoming weights per unit
    concentration/<layer>/<statistic>      (R+1,) see :class:`.concentration.Concentration`
    concentration/<layer>/outgoing/...     the same for outgoing weights (not for the output layer)
    concentration/<layer>/no_incoming, no_outgoing, disconnected_units   (R+1,)
    concentration/<layer>/spearman/<norm|fp>_<init|trained>              (R+1,)

``<variant>`` is ``ticket``, ``reinit`` or ``random_mask``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import torch
from pydantic import Field, field_validator

from redundancy.measures import fp_contributions
from redundancy.models import param_name
from redundancy.spec.schema import DRAWS_MAX, ROUNDS_MAX, ModelConfig, ResolvedTrain, StudyConfig, TrainConfig, resolve_train
from redundancy.studies.base import StudyContext, StudyKind, StudyResult
from redundancy.studies.common.checks import check_layers
from redundancy.studies.common.seeds import derived_seed
from redundancy.studies.common.weights import as_matrix64
from redundancy.studies.lottery.concentration import Concentration, concentration, outgoing_counts, spearman, unit_counts
from redundancy.train import TrainResult

Control = Literal["reinit", "random_mask"]
CONTROLS: tuple[Control, ...] = ("reinit", "random_mask")
# Train fields that do not change what a round learns: the dense run is reused when only these differ.
NOT_LEARNING = {"checkpoints", "graph", "stack", "eval_batch_size", "resume_every"}
# A ticket keeps the dense network's accuracy while it is within this many accuracy points (1 point = 0.01).
TOLERANCE_POINTS = 1.0
SIGNIFICANCE = 0.01
METRIC_SERIES = ("iteration", "train_loss", "val_loss", "val_accuracy", "test_accuracy")
# Streams of the seeded draws, so the controls and the tests never share random numbers.
_REINIT, _RANDOM_MASK, _TEST = 1, 2, 3


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


# --- pure helpers: training configs -------------------------------------------------------------


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


# --- pure helpers: masks ------------------------------------------------------------------------


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


def pruning_groups(
    layers: Sequence[str], output: str | None, config: LotteryConfig
) -> list[tuple[tuple[str, ...], float]]:
    """Which layers are ranked together, and at what rate: one group per layer (layerwise) or the
    hidden layers together (global); the output layer always alone at the output rate."""
    hidden = tuple(n for n in layers if n != output)
    groups: list[tuple[tuple[str, ...], float]] = []
    if config.scope == "global" and hidden:
        groups.append((hidden, config.rate))
    else:
        groups += [((n,), config.rate) for n in hidden]
    if output is not None and output in layers:
        groups.append(((output,), config.output_layer_rate))
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


def weight_name(layer: str) -> str:
    return param_name(layer)


def first_drop_round(accuracy: Sequence[float], dense: float, points: float = TOLERANCE_POINTS) -> int | None:
    """The first round whose accuracy is more than ``points`` accuracy points below ``dense``; None if none is."""
    for r, acc in enumerate(accuracy):
        if acc < dense - points / 100:
            return r
    return None


# --- training -------------------------------------------------------------------------------------


@dataclass
class Outcome:
    """What one trained network contributes to the study."""

    accuracy: float
    early_stop_accuracy: float
    early_stop_iteration: int
    metrics: dict[str, np.ndarray]
    trained: dict[str, torch.Tensor]


def outcome_of(result: TrainResult) -> Outcome:
    return Outcome(
        accuracy=result.metric_at("test_accuracy", result.final_iteration),
        early_stop_accuracy=result.metric_at("test_accuracy", result.best_iteration),
        early_stop_iteration=int(result.best_iteration),
        metrics={k: np.asarray(result.metrics[k]) for k in METRIC_SERIES},
        trained=result.checkpoints[result.final_iteration],
    )


@dataclass
class Job:
    """One network to train in a round: a variant's initial weights and masks."""

    variant: str
    init_state: dict[str, torch.Tensor]
    masks: dict[str, torch.Tensor] | None


def train_jobs(ctx: StudyContext, train: ResolvedTrain, jobs: Sequence[Job]) -> list[TrainResult]:
    """Train a round's networks, each through ``ctx.train`` with the run's seed (same batches for all).

    The jobs of a round are independent: they train as one stacked model where
    that pays (``train.stack: auto``), each as it would alone.
    """
    return ctx.train_many(train, [(job.init_state, job.masks) for job in jobs])


def fresh_state(ctx: StudyContext, seed: int) -> dict[str, torch.Tensor]:
    """The run's model initialized with another seed: weights drawn anew from the initial distribution."""
    from redundancy.models import build_model

    cfg = ctx.run.config.model
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)  # PyTorch's default init draws from the global generator
        model = build_model(cfg, ctx.data.input_shape, ctx.data.num_classes, seed)
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def param_masks(masks: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {weight_name(layer): mask for layer, mask in masks.items()}


def ticket_after_round(ctx: StudyContext, names: list[str], rounds: int, rate: float, label: str) -> dict[str, torch.Tensor]:
    """Each layer's mask after round ``rounds`` of iterative magnitude pruning of every layer at ``rate``
    (the output layer at half of it), from the run's final weights, the rounds before it retrained from
    the initialization with the run's training: the ticket the lottery study finds at that round.
    ``label`` starts the progress lines."""
    groups = pruning_groups(names, names[-1], LotteryConfig(rounds=rounds, rate=rate))
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


# --- the study ------------------------------------------------------------------------------------


def _unit_scores(weight: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    """Each unit's ‖w_i‖ and frame-potential contribution c_i = Σ_j ⟨ŵ_i, ŵ_j⟩²."""
    w = as_matrix64(weight)
    return w.norm(dim=1).numpy(), fp_contributions(w).numpy()


def _stat_series(stats: Sequence[Concentration]) -> dict[str, list[Any]]:
    keys = stats[0].as_dict().keys()
    return {k: [s.as_dict()[k] for s in stats] for k in keys}


CURVE_KEYS = (
    "dispersion", "null_dispersion", "p_value", "gini", "null_gini", "empty_units",
    "expected_empty_units", "conditional_survival", "density",
)
EXTRA_CURVE_KEYS = ("null_conditional_survival", "chi2", "test")


def run(config: LotteryConfig, ctx: StudyContext) -> StudyResult:
    from redundancy.models import layer_infos

    run_cfg = ctx.run.config
    infos = layer_infos(ctx.build_model())
    order = list(infos)
    layers = [n for n in order if config.layers is None or n in config.layers]
    output = order[-1]
    train = effective_train(config, run_cfg.train, run_cfg.model)
    k = config.rewind_iteration
    if k >= train.iterations:
        raise ValueError(f"rewind iteration {k} is not before the end of training ({train.iterations})")
    train_r = rewound_train(train, k)
    controls = [c for c in CONTROLS if c in config.controls]
    groups = pruning_groups(layers, output, config)

    total_jobs = config.rounds * (1 + len(controls)) + ("reinit" in controls)
    reuse = same_learning(train, run_cfg.train) and k in ctx.run.checkpoints
    total_jobs += 0 if reuse else 1
    done = 0

    def tick(message: str) -> None:
        nonlocal done
        done += 1
        ctx.progress(done / total_jobs, message)

    # Round 0: the dense network, the run itself when the study trains as the run did.
    if reuse:
        art = ctx.run
        it_index = {int(it): i for i, it in enumerate(art.metrics["iteration"])}
        test_acc = art.metrics["test_accuracy"]
        dense = Outcome(
            accuracy=float(test_acc[it_index[art.final_iteration]]),
            early_stop_accuracy=float(test_acc[it_index[art.best_iteration]]),
            early_stop_iteration=int(art.best_iteration),
            metrics={m: np.asarray(art.metrics[m]) for m in METRIC_SERIES},
            trained=art.checkpoints[art.final_iteration],
        )
        init_state, rewind_state = art.checkpoints[0], art.checkpoints[k]
    else:
        result = ctx.train(train, keep=[k])
        dense = outcome_of(result)
        init_state, rewind_state = result.checkpoints[0], result.checkpoints[k]
        tick("round 0: dense")

    full = {n: torch.ones_like(init_state[weight_name(n)], dtype=torch.bool) for n in layers}
    masks: list[dict[str, torch.Tensor]] = [full]
    random_masks: list[dict[str, torch.Tensor]] = [full]
    outcomes: dict[str, list[Outcome]] = {"ticket": [dense]}
    if "random_mask" in controls:
        outcomes["random_mask"] = [dense]  # nothing pruned + original init: the dense network itself
    if "reinit" in controls:
        fresh = fresh_state(ctx, derived_seed(run_cfg.seed, 0, _REINIT))
        outcomes["reinit"] = [outcome_of(train_jobs(ctx, train, [Job("reinit", fresh, None)])[0])]
        tick("round 0: reinit")

    previous = dense.trained
    for r in range(1, config.rounds + 1):
        current = prune_round({n: previous[weight_name(n)] for n in layers}, masks[-1], groups, r)
        masks.append(current)
        jobs = [Job("ticket", rewind_state, param_masks(current))]
        if "reinit" in controls:
            jobs.append(Job("reinit", fresh_state(ctx, derived_seed(run_cfg.seed, r, _REINIT)), param_masks(current)))
        if "random_mask" in controls:
            rand = random_masks_like(current, derived_seed(run_cfg.seed, r, _RANDOM_MASK))
            random_masks.append(rand)
            jobs.append(Job("random_mask", rewind_state, param_masks(rand)))
        for job, result in zip(jobs, train_jobs(ctx, train_r, jobs)):
            outcomes[job.variant].append(outcome_of(result))
            tick(f"round {r}/{config.rounds}: {job.variant} acc {outcomes[job.variant][-1].accuracy:.4f}")
        previous = outcomes["ticket"][-1].trained

    return _assemble(config, ctx, layers, order, infos, masks, random_masks, outcomes, init_state, dense, reuse, k)


def _layer_concentration(
    config: LotteryConfig,
    seed: int,
    layer: str,
    next_layer: str | None,
    masks: list[dict[str, torch.Tensor]],
    shapes: dict[str, torch.Size],
    scores: dict[str, np.ndarray],
    layer_index: int,
) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Every concentration statistic of one layer through the rounds: tensors and curves."""
    incoming: list[Concentration] = []
    outgoing: list[Concentration] = []
    counts, out_counts, no_in, no_out, disconnected = [], [], [], [], []
    spear: dict[str, list[float]] = {name: [] for name in scores}
    for r, round_masks in enumerate(masks):
        mask = round_masks[layer].numpy()
        k_in = unit_counts(mask)
        m_in = int(mask[0].size)
        test_seed = derived_seed(seed, r, _TEST, 2 * layer_index)
        incoming.append(concentration(k_in, m_in, method=config.test, draws=config.draws, seed=test_seed))
        counts.append(k_in)
        no_in.append(int((k_in == 0).sum()))
        dead = k_in == 0
        if next_layer is not None:
            nxt = round_masks[next_layer].numpy() if next_layer in round_masks else np.ones(shapes[next_layer], dtype=bool)
            k_out, m_out = outgoing_counts(nxt, k_in.size)
            out_seed = derived_seed(seed, r, _TEST, 2 * layer_index + 1)
            outgoing.append(concentration(k_out, m_out, method=config.test, draws=config.draws, seed=out_seed))
            out_counts.append(k_out)
            no_out.append(int((k_out == 0).sum()))
            dead = dead | (k_out == 0)
        disconnected.append(int(dead.sum()))
        for name, values in scores.items():
            spear[name].append(spearman(k_in, values))

    tensors: dict[str, np.ndarray] = {"counts": np.stack(counts), "no_incoming": np.asarray(no_in)}
    series = _stat_series(incoming)
    for key, values in series.items():
        if key != "test":
            tensors[key] = np.asarray(values, dtype=np.float64)
    curves: dict[str, Any] = {key: series[key] for key in CURVE_KEYS + EXTRA_CURVE_KEYS}
    curves["no_incoming"] = no_in
    curves["disconnected_units"] = disconnected
    tensors["disconnected_units"] = np.asarray(disconnected)
    if outgoing:
        out_series = _stat_series(outgoing)
        tensors["outgoing/counts"] = np.stack(out_counts)
        for key, values in out_series.items():
            if key != "test":
                tensors[f"outgoing/{key}"] = np.asarray(values, dtype=np.float64)
        tensors["no_outgoing"] = np.asarray(no_out)
        curves["no_outgoing"] = no_out
        curves["outgoing"] = {key: out_series[key] for key in CURVE_KEYS + EXTRA_CURVE_KEYS}
    curves["spearman"] = spear
    for name, values in spear.items():
        tensors[f"spearman/{name}"] = np.asarray(values, dtype=np.float64)
    return tensors, curves


def _assemble(
    config: LotteryConfig,
    ctx: StudyContext,
    layers: list[str],
    order: list[str],
    infos: dict[str, Any],
    masks: list[dict[str, torch.Tensor]],
    random_masks: list[dict[str, torch.Tensor]],
    outcomes: dict[str, list[Outcome]],
    init_state: dict[str, torch.Tensor],
    dense: Outcome,
    reused: bool,
    rewind: int,
) -> StudyResult:
    rounds = list(range(len(masks)))
    tensors: dict[str, np.ndarray] = {}
    total = sum(masks[0][n].numel() for n in layers)
    sparsity_total = [1 - sum(int(m[n].sum()) for n in layers) / total for m in masks]
    per_layer = {n: [1 - float(m[n].sum()) / m[n].numel() for m in masks] for n in layers}
    tensors["sparsity/total"] = np.asarray(sparsity_total)
    for n in layers:
        tensors[f"masks/{n}"] = np.stack([m[n].numpy().astype(np.uint8) for m in masks])
        if config.store_weights:  # round r's trained ticket: round r + 1's mask is cut from it
            tensors[f"trained/{n}"] = np.stack([o.trained[weight_name(n)].detach().cpu().numpy() for o in outcomes["ticket"]])
        tensors[f"sparsity/{n}"] = np.asarray(per_layer[n])
        if "random_mask" in outcomes:
            tensors[f"random_masks/{n}"] = np.stack([m[n].numpy().astype(np.uint8) for m in random_masks])

    variant_curves: dict[str, dict[str, list[Any]]] = {}
    for variant, outs in outcomes.items():
        entry = {
            "accuracy": [o.accuracy for o in outs],
            "early_stop_accuracy": [o.early_stop_accuracy for o in outs],
            "early_stop_iteration": [o.early_stop_iteration for o in outs],
        }
        variant_curves[variant] = entry
        for key, values in entry.items():
            tensors[f"{variant}/{key}"] = np.asarray(values)
        for r, o in enumerate(outs):
            for metric, series in o.metrics.items():
                tensors[f"{variant}/rounds/{r:02d}/{metric}"] = series

    # Rank each unit's ticket count against its norm and frame-potential contribution in the dense network.
    scores: dict[str, dict[str, np.ndarray]] = {}
    for n in layers:
        norm0, fp0 = _unit_scores(init_state[weight_name(n)])
        norm_t, fp_t = _unit_scores(dense.trained[weight_name(n)])
        scores[n] = {"norm_init": norm0, "norm_trained": norm_t, "fp_init": fp0, "fp_trained": fp_t}
    shapes = {n: init_state[weight_name(n)].shape for n in order}
    concentration_curves: dict[str, Any] = {}
    seed = ctx.run.config.seed
    for index, n in enumerate(layers):
        position = order.index(n)
        next_layer = order[position + 1] if position + 1 < len(order) else None
        layer_tensors, layer_curves = _layer_concentration(config, seed, n, next_layer, masks, shapes, scores[n], index)
        for key, value in layer_tensors.items():
            tensors[f"concentration/{n}/{key}"] = value
        concentration_curves[n] = layer_curves

    ticket = variant_curves["ticket"]
    curves: dict[str, Any] = {
        "rounds": rounds,
        "sparsity": sparsity_total,
        "accuracy": ticket["accuracy"],
        "early_stop_accuracy": ticket["early_stop_accuracy"],
        "early_stop_iteration": ticket["early_stop_iteration"],
        **{c: variant_curves[c] for c in CONTROLS if c in variant_curves},
        "sparsity_per_layer": per_layer,
        "concentration": concentration_curves,
    }

    summary: dict[str, Any] = {}
    last = len(masks) - 1
    for n in layers:
        c = concentration_curves[n]
        summary[n] = {
            "sparsity": per_layer[n][last],
            "p_value": c["p_value"][last],
            "concentrated": bool(c["p_value"][last] < SIGNIFICANCE),
            "gini": c["gini"][last],
            "null_gini": c["null_gini"][last],
            "empty": c["empty_units"][last],
            "expected_empty": c["expected_empty_units"][last],
            "cond_survival": c["conditional_survival"][last],
            "density": c["density"][last],
            "disconnected": c["disconnected_units"][last],
            "rho_norm": c["spearman"]["norm_trained"][last],
            "rho_fp": c["spearman"]["fp_trained"][last],
        }
    # Network-wide headline, the table's caption: the rounds side by side as text so that `show`
    # prints the whole accuracy curve of the ticket beside its controls (the numbers are in the curves).
    drop = first_drop_round(ticket["accuracy"], dense.accuracy)
    summary["dense_accuracy"] = dense.accuracy
    summary["first_round_below_dense"] = drop
    summary["sparsity_at_first_drop"] = None if drop is None else sparsity_total[drop]
    summary["pruned %"] = " ".join(f"{100 * s:.0f}" for s in sparsity_total)
    for variant in ("ticket", *CONTROLS):
        if variant in variant_curves:
            summary[f"{variant} acc %"] = " ".join(f"{100 * a:.1f}" for a in variant_curves[variant]["accuracy"])

    attrs = {"rewind_iteration": rewind, "dense_reused": reused, "layers": layers, "output_layer": order[-1]}
    return StudyResult(tensors=tensors, summary=summary, curves=curves, attrs=attrs)


def check(config: LotteryConfig, info: Any) -> list[tuple[Sequence[str | int], str]]:
    """Layers must exist, rewinding must fall inside training, and every group must keep a weight to the last round."""
    problems: list[tuple[Sequence[str | int], str]] = []
    names = list(info.layers)
    problems += check_layers(config.layers, "layers", info)
    if config.train is not None and "validation" in config.train.model_fields_set:
        if config.train.validation != info.run.train.validation:
            problems.append(
                (("train", "validation"), f"the validation split is the run's ({info.run.train.validation}); it cannot change per study")
            )
    train = effective_train(config, info.run.train, info.run.model)
    if config.rewind_iteration >= train.iterations:
        problems.append((("rewind",), f"rewind iteration {config.rewind_iteration} must be before the end of training ({train.iterations} iterations)"))
    if problems:
        return problems
    layers = [n for n in names if config.layers is None or n in config.layers]
    emptied = []  # (rounds that still leave a weight, group, rate, weights) for each group emptied too soon
    for group, rate in pruning_groups(layers, names[-1], config):
        total = sum(info.layers[n].units * info.layers[n].fan_in for n in group)
        if survivors_after(total, rate, config.rounds) < 1:
            most = max(r for r in range(config.rounds + 1) if survivors_after(total, rate, r) >= 1)
            emptied.append((most, group, rate, total))
    if emptied:
        most, group, rate, total = min(emptied)
        problems.append(
            (("rounds",), f"after {config.rounds} rounds at rate {rate:g}, {'+'.join(group)} ({total} weights) keeps no weight; at most {most} rounds")
        )
    return problems


KIND = StudyKind(
    "lottery",
    LotteryConfig,
    run,
    check,
    description="winning tickets by iterative magnitude pruning; do their weights concentrate on few units?",
)

__all__ = [
    "KIND",
    "LotteryConfig",
    "check",
    "effective_train",
    "first_drop_round",
    "keep_largest",
    "prune_round",
    "pruning_groups",
    "random_masks_like",
    "rewound_train",
    "run",
    "survivors_after",
]

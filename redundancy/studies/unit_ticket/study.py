"""Study ``unit_ticket``: do "trainable" units exist, as winning-ticket weights do? (seed §3)

The seed asks whether, as well-initialized weights are in the lottery-ticket
setting, some nodes are "trainable", and whether they can be found early so
that the rest can be pruned and training made faster; Liu et al. (2018) find
that a structurally pruned network trained from scratch does as well. This
study trains that structurally pruned network directly.

For the hidden layers (``layers``: all, or the listed ones, pruned jointly at
one keep fraction f), each layer keeps k = round(f · n) of its n units chosen by
a *selector*; the network is built structurally smaller (the layer's rows and
the next layer's matching inputs removed, :mod:`.structural`) and trained for
the run's iterations with the run's optimizer from

- ``original``: the kept units' own initial weights (the ticket), or
- ``reinit``: a fresh initialization of the smaller network (Liu et al.).

Selectors (scores per unit; the k highest are kept):

- ``ticket_counts``: surviving incoming weights after round ``ticket_round`` of
  iterative magnitude pruning (Frankle & Carbin; the lottery study's masks,
  :func:`.lottery.prune_round`, every layer pruned at ``ticket_rate``, the
  output layer at half of it), ties broken by the trained weights' norm;
- ``magnitude_final``: ‖w_i‖ of the trained weights at ``selected_at``;
- ``magnitude_init``: ‖z_i‖ at initialization (the only one that needs no training);
- ``frame_potential``: the units the seed's greedy frame-potential pruning
  (smallest contribution removed first, :mod:`.pruning_orders`) removes last,
  on the trained weights at ``selected_at``;
- ``activation``: mean |activation| on ``activation_samples`` training inputs,
  of the trained network at ``selected_at``;
- ``random``: k units drawn at random, anew for every seed.

A fresh initialization makes the units of a fully connected layer
exchangeable: which units were kept no longer matters, only how many. So every
``<selector>:reinit`` arm is the same network — the smaller architecture
trained from scratch, Liu et al.'s baseline — trained once per seed and
reported under each key; the summary's best arm is chosen among the
``:original`` arms and ``random:reinit``.

Seeds: seed s (0..seeds−1) fixes, for every arm alike, the batch order, the
fresh initialization of ``reinit`` and the units ``random`` draws, so arms are
compared pairwise over seeds. The dense run is the reference.

Outputs. ``curves``: ``{"dense": {accuracy, early_stop_accuracy, units},
"<selector>[@<checkpoint>]:<init>": {"selector", "selected_at", "init",
"keep_fraction": [...], "units": [[kept per layer] per fraction], "accuracy":
[mean per fraction], "std": [...], "seeds": [[per seed] per fraction],
"early_stop_accuracy": [...], "early_stop_std": [...], "params": [...]}}``;
``@<checkpoint>`` appears when ``selected_at`` lists several checkpoints.
``summary["keep <p>%"]``: the best arm, its accuracy, ``random:reinit``'s,
the margin and a paired t-test over seeds (t, p), the dense accuracy and the
kept units; ``summary[<arm>]``: accuracy per keep fraction.
Tensors: ``<arm>/accuracy``, ``<arm>/early_stop_accuracy`` (fractions × seeds),
``<arm>/selected/<layer>`` (fractions × seeds × n) 0/1 (seed-independent
selectors repeat their row), ``ticket_counts/<layer>`` (n,) and ``dense/accuracy``; with
``store_weights``, ``ticket_masks/<layer>`` (weight shape, 0/1) of every layer: the masks after
round ``ticket_round`` that ``ticket_counts`` counts (its row sums).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any, Literal

import numpy as np
import torch
from pydantic import Field, field_validator

from redundancy.store.keys import at_checkpoint, tensor_path
from redundancy.spec.schema import REPEATS_MAX, ROUNDS_MAX, SAMPLES_MAX, StudyConfig, TrainConfig
from redundancy.studies.base import StudyContext, StudyKind, StudyResult
from redundancy.studies.common.checks import check_checkpoints, check_layers
from redundancy.studies.common.refs import CheckpointRef
from redundancy.studies.common.seeds import derived_seed
from redundancy.studies.common.imp import ticket_after_round, weight_name
from redundancy.studies.common.masks import unit_counts
from redundancy.studies.common.orders import greedy_frame_potential_order, mean_abs_activation
from redundancy.studies.common.structural import FULLY_CONNECTED, hidden_widths, narrow_model_config, shrink_state
from redundancy.studies.common.weights import unit_matrix
from redundancy.studies.unit_ticket.results import REFERENCE, arm_key
from redundancy.studies.unit_ticket.stats import keep_count, paired_t_test, random_units, top_units

Selector = Literal["ticket_counts", "magnitude_final", "magnitude_init", "frame_potential", "activation", "random"]
Init = Literal["original", "reinit"]
SELECTORS: tuple[str, ...] = ("ticket_counts", "magnitude_final", "magnitude_init", "frame_potential", "activation", "random")
# Selectors that read the trained network, and so take ``selected_at``.
AT_CHECKPOINT = {"magnitude_final", "frame_potential", "activation"}
# Streams of the seeded draws (see common.seeds.derived_seed), so they never share random numbers.
_BATCHES, _RANDOM = 11, 12


class UnitTicketConfig(StudyConfig):
    """Keep a fraction of the hidden units chosen by a selector and train the smaller network."""

    kind: Literal["unit_ticket"] = "unit_ticket"
    layers: list[str] | None = Field(None, min_length=1, description="hidden layers pruned jointly; default every hidden layer")
    keep_fractions: Annotated[list[Annotated[float, Field(gt=0, lt=1)]], Field(min_length=1)] = Field(
        default_factory=lambda: [0.5, 0.25, 0.1], description="fractions of each layer's units kept, in (0, 1)"
    )
    selectors: Annotated[list[Selector], Field(min_length=1)] = Field(
        default_factory=lambda: list(SELECTORS), description="how units are chosen: " + ", ".join(SELECTORS)
    )
    inits: Annotated[list[Init], Field(min_length=1)] = Field(
        default_factory=lambda: ["original", "reinit"], description="original (the kept units' initial weights) and/or reinit (fresh)"
    )
    seeds: int = Field(3, ge=1, le=REPEATS_MAX, description="seeds per arm: seed s fixes batch order, fresh init and random selection")
    selected_at: Annotated[list[CheckpointRef], Field(min_length=1)] = Field(
        default_factory=lambda: ["final"], description="checkpoints the trained-weight selectors read (final, best, an iteration)"
    )
    ticket_round: int = Field(3, ge=1, le=ROUNDS_MAX, description="ticket_counts: round of iterative magnitude pruning whose masks count")
    ticket_rate: float = Field(0.2, gt=0, lt=1, description="ticket_counts: fraction of the remaining weights pruned per round")
    activation_samples: int = Field(1000, ge=1, le=SAMPLES_MAX, description="activation: training inputs the mean |activation| is taken over")
    store_weights: bool = Field(False, description="ticket_counts: also store the masks of iterative magnitude pruning it counts (ticket_masks/<layer>)")

    @field_validator("selectors", "inits", "keep_fractions", "selected_at")
    @classmethod
    def _no_repeats(cls, value: list[Any]) -> list[Any]:
        repeated = sorted({str(v) for v in value if value.count(v) > 1})
        if repeated:
            raise ValueError(f"listed twice: {', '.join(repeated)}")
        return value


def check(config: UnitTicketConfig, info: Any) -> list[tuple[Sequence[str | int], str]]:
    """A fully connected model, hidden layers that exist, stored checkpoints, a reference arm."""
    problems: list[tuple[Sequence[str | int], str]] = []
    model = info.run.model.name
    if model not in FULLY_CONNECTED:
        problems.append((("kind",), f"unit_ticket trains structurally smaller networks, which exist for {', '.join(FULLY_CONNECTED)}; this spec's model is {model!r}"))
    problems += check_layers(config.layers, "layers", info, hidden=True)
    problems += check_checkpoints(config.selected_at, "selected_at", info)
    if "random" not in config.selectors or "reinit" not in config.inits:
        problems.append((("selectors",), "the summary compares every arm with random:reinit; list random among the selectors and reinit among the inits"))
    return problems


def _arms(config: UnitTicketConfig) -> list[tuple[str, str, CheckpointRef | None]]:
    """(selector, label, selected_at) of every selection; label adds ``@<checkpoint>`` when there are several."""
    several = len(config.selected_at) > 1
    out: list[tuple[str, str, CheckpointRef | None]] = []
    for sel in config.selectors:
        if sel in AT_CHECKPOINT:
            out += [(sel, at_checkpoint(sel, ref) if several else sel, ref) for ref in config.selected_at]
        else:
            out.append((sel, sel, None))
    return out


def ticket_masks(ctx: StudyContext, config: UnitTicketConfig, names: list[str]) -> dict[str, torch.Tensor]:
    """Masks after round ``ticket_round`` of iterative magnitude pruning of every layer, from the run's
    final weights, rounds retrained from the initialization with the run's training (the lottery's ticket)."""
    return ticket_after_round(ctx, names, config.ticket_round, config.ticket_rate, "ticket_counts")


def _scores(selector: str, ctx: StudyContext, ref: CheckpointRef | None, layer: str, config: UnitTicketConfig,
            counts: dict[str, np.ndarray]) -> torch.Tensor:
    """Higher = kept first (random is handled apart)."""
    key = weight_name(layer)
    if selector == "magnitude_init":
        return unit_matrix(ctx.state("init"), layer).norm(dim=1)
    assert selector == "ticket_counts" or ref is not None
    state = ctx.state("final" if ref is None else ref)
    norms = unit_matrix(state, layer).norm(dim=1)
    if selector == "ticket_counts":
        # counts first; among equal counts the larger trained norm (norms < 1 + max so counts dominate)
        return torch.as_tensor(counts[layer], dtype=torch.float64) + norms / (1.0 + float(norms.max()))
    if selector == "magnitude_final":
        return norms
    if selector == "frame_potential":
        # the greedy removal order (smallest contribution first); a unit removed later scores higher
        order = greedy_frame_potential_order(state[key], "smallest")
        scores = torch.empty(len(order), dtype=torch.float64)
        scores[order] = torch.arange(len(order), dtype=torch.float64)
        return scores
    if selector == "activation":
        model = ctx.build_model(state)
        return mean_abs_activation(model, layer, ctx.data.train_x[: config.activation_samples].to(ctx.device))
    raise ValueError(selector)


def _ticket_counts(ctx: StudyContext, config: UnitTicketConfig, names: list[str], layers: list[str],
                   result: StudyResult) -> dict[str, np.ndarray]:
    """k_i of every studied layer's units in the ticket's masks (and, with ``store_weights``, the masks)."""
    masks = ticket_masks(ctx, config, names)
    counts = {n: unit_counts(masks[n].numpy()) for n in layers}
    for n in layers:
        result.tensors[tensor_path("ticket_counts", n)] = counts[n]
    if config.store_weights:  # every layer's mask, the output layer's too: the counts are its rows' sums
        for n in names:
            result.tensors[tensor_path("ticket_masks", n)] = masks[n].numpy().astype(np.uint8)
    return counts


class _Arms:
    """Every arm's accuracies, (fractions, seeds), and the units it kept, (fractions, seeds, units), by arm key."""

    def __init__(self, config: UnitTicketConfig, arms: list[tuple[str, str, CheckpointRef | None]], layers: list[str], width: dict[str, int]):
        self.keys = [arm_key(label, init_kind) for _, label, _ in arms for init_kind in config.inits]
        shape = (len(config.keep_fractions), config.seeds)
        self.acc = {k: np.zeros(shape) for k in self.keys}
        self.early = {k: np.zeros(shape) for k in self.keys}
        self.selected = {(k, n): np.zeros(shape + (width[n],), dtype=np.uint8) for k in self.keys for n in layers}


def _train_fraction(config: UnitTicketConfig, ctx: StudyContext, fi: int, arms: list[tuple[str, str, CheckpointRef | None]],
                    fixed: dict[tuple[str, str], torch.Tensor], layers: list[str], names: list[str], widths: list[int],
                    out: _Arms) -> tuple[list[int], int]:
    """Train every arm's network keeping ``keep_fractions[fi]`` of the units, each seed; returns the units
    kept per layer and the smaller network's parameter count."""
    from redundancy.train import Member, TrainingDiverged, parameter_count, train_members

    run_cfg = ctx.run.config
    fraction = config.keep_fractions[fi]
    seeds = [derived_seed(run_cfg.seed, s, _BATCHES) for s in range(config.seeds)]
    init = ctx.state("init")
    train: TrainConfig = run_cfg.train.model_copy(update={"checkpoints": None})
    ks = {n: keep_count(widths[names.index(n)], fraction) for n in layers}
    narrow_widths = [ks.get(n, w) for n, w in zip(names[:-1], widths)]
    narrow = narrow_model_config(run_cfg.model, narrow_widths)
    members: list[Member] = []
    where: list[list[tuple[str, int]]] = []
    fresh: dict[int, int] = {}  # seed index -> its reinit member (one per seed, see the module docstring)
    for sel, label, _ in arms:
        for s, seed in enumerate(seeds):
            if sel == "random":
                keep = {n: random_units(widths[names.index(n)], ks[n], derived_seed(run_cfg.seed, s, _RANDOM, names.index(n))) for n in layers}
            else:
                keep = {n: top_units(fixed[(label, n)], ks[n]) for n in layers}
            for init_kind in config.inits:
                key = arm_key(label, init_kind)
                for n in layers:
                    out.selected[(key, n)][fi, s, keep[n].numpy()] = 1
                if init_kind == "reinit" and s in fresh:
                    where[fresh[s]].append((key, s))
                    continue
                start = shrink_state(init, names, keep) if init_kind == "original" else None
                if init_kind == "reinit":
                    fresh[s] = len(members)
                members.append(Member(seed, start, None))
                where.append([(key, s)])
    ctx.progress(fi / len(config.keep_fractions), f"keep {fraction:.0%}: training {len(members)} networks of widths {narrow_widths}")
    params = parameter_count(narrow, ctx.data)
    results = train_members(narrow, train, ctx.data, members, device=ctx.device)
    for shared, res in zip(where, results):
        if isinstance(res, TrainingDiverged):
            raise res
        for key, s in shared:
            out.acc[key][fi, s] = res.metric_at("test_accuracy", res.final_iteration)
            out.early[key][fi, s] = res.metric_at("test_accuracy", res.best_iteration)
    return [ks[n] for n in layers], params


def _comparison(config: UnitTicketConfig, out: _Arms, fi: int, dense_accuracy: float, kept: list[int]) -> dict[str, Any]:
    """One fraction's row: the best arm against ``random:reinit``, paired over seeds."""
    acc, keys = out.acc, out.keys
    distinct = [k for k in keys if not k.endswith(":reinit") or k == REFERENCE]
    best = max(distinct, key=lambda k: (acc[k][fi].mean(), -distinct.index(k)))
    reference = acc[REFERENCE][fi] if REFERENCE in acc else None
    row: dict[str, Any] = {"best": best, "accuracy": float(acc[best][fi].mean())}
    if reference is not None:
        # best against random:reinit, paired over seeds (none to test when the reference is the best)
        test = paired_t_test(acc[best][fi], reference) if best != REFERENCE else None
        row.update(
            reference=REFERENCE, reference_accuracy=float(reference.mean()),
            margin=float(acc[best][fi].mean() - reference.mean()),
            t=None if test is None or test.t is None or not np.isfinite(test.t) else float(test.t),
            p_value=None if test is None else test.p_value,
        )
    row.update(dense=dense_accuracy, units=" ".join(str(u) for u in kept), seeds=config.seeds)
    return row


def run(config: UnitTicketConfig, ctx: StudyContext) -> StudyResult:
    dense_net = ctx.build_model()
    names = dense_net.names
    layers = config.layers or names[:-1]
    widths = hidden_widths(dense_net)
    arms = _arms(config)

    counts: dict[str, np.ndarray] = {}
    result = StudyResult()
    if "ticket_counts" in config.selectors:
        counts = _ticket_counts(ctx, config, names, layers, result)
    fixed: dict[tuple[str, str], torch.Tensor] = {}  # (label, layer) -> scores
    for sel, label, ref in arms:
        if sel != "random":
            for layer in layers:
                fixed[(label, layer)] = _scores(sel, ctx, ref, layer, config, counts)

    it = ctx.run.metrics["iteration"].tolist()
    test_acc = ctx.run.metrics["test_accuracy"]
    dense = {
        "accuracy": float(test_acc[it.index(ctx.run.final_iteration)]),
        "early_stop_accuracy": float(test_acc[it.index(ctx.run.best_iteration)]),
        "units": [widths[names.index(n)] for n in layers],
    }
    result.tensors[tensor_path("dense", "accuracy")] = np.float64(dense["accuracy"])
    curves: dict[str, Any] = {"dense": dense}
    out = _Arms(config, arms, layers, {n: widths[names.index(n)] for n in layers})
    kept_units: list[list[int]] = []
    params: list[int] = []
    for fi in range(len(config.keep_fractions)):
        kept, count = _train_fraction(config, ctx, fi, arms, fixed, layers, names, widths, out)
        kept_units.append(kept)
        params.append(count)
    acc, early = out.acc, out.early
    for sel, label, ref in arms:
        for init_kind in config.inits:
            key = arm_key(label, init_kind)
            curves[key] = {
                "selector": sel, "selected_at": None if ref is None else ref, "init": init_kind,
                "keep_fraction": list(config.keep_fractions), "units": kept_units, "params": params,
                "accuracy": acc[key].mean(1).tolist(), "std": acc[key].std(1).tolist(), "seeds": acc[key].tolist(),
                "early_stop_accuracy": early[key].mean(1).tolist(), "early_stop_std": early[key].std(1).tolist(),
            }
            result.tensors[tensor_path(key, "accuracy")] = acc[key]
            result.tensors[tensor_path(key, "early_stop_accuracy")] = early[key]
            for n in layers:
                result.tensors[tensor_path(key, "selected", n)] = out.selected[(key, n)]
            result.summary[key] = {f"keep {f:.0%}": float(a) for f, a in zip(config.keep_fractions, acc[key].mean(1))}
    for fi, fraction in enumerate(config.keep_fractions):
        result.summary[f"keep {fraction:.0%}"] = _comparison(config, out, fi, dense["accuracy"], kept_units[fi])
    result.curves = curves
    ctx.progress(1.0, "done")
    return result


KIND = StudyKind(
    name="unit_ticket",
    config=UnitTicketConfig,
    run=run,
    check=check,
    description="train the network of a fraction of units chosen by a selector, from their own or a fresh init",
)

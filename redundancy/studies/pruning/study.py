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

The study's parts: :mod:`.config`, :mod:`.criteria` (the registry),
:mod:`.panel` (one layer at one checkpoint), :mod:`.summary` (its numbers),
:mod:`.finetune` (retraining).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from redundancy.models import param_name
from redundancy.store.keys import LayerAt
from redundancy.studies.base import StudyContext, StudyKind, StudyResult
from redundancy.studies.common.checks import check_checkpoints, check_layers
from redundancy.studies.common.refs import listed, loc
from redundancy.studies.common.removal import removal_sweep
from redundancy.studies.common.structural import FULLY_CONNECTED
from redundancy.studies.common.weights import unit_matrix
from redundancy.studies.pruning.config import PruningConfig, removal_levels
from redundancy.studies.pruning.criteria import CRITERIA, CriterionInput
from redundancy.studies.pruning.finetune import finetune_panel
from redundancy.studies.pruning.panel import Panel, costs, null_percentiles, plan_orders, sweep_curves


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


def curve_panels(curves: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """A pruning study's ``curves`` as ``{"<layer>@<checkpoint>": panel}``, whether it held one panel or several.

    A single panel is stored as itself (its values are curves, with
    ``units_removed``); its key is then ``""`` here.
    """
    if any(isinstance(v, dict) and "units_removed" in v for v in curves.values()):
        return {"": curves}
    return curves


def _measure(config: PruningConfig, ctx: StudyContext, at: LayerAt, state: dict[str, Any], model: Any, several: bool,
             result: StudyResult, progress: float) -> None:
    """One layer at one checkpoint: every criterion's order, one fast sweep over all orders, then the
    summary, costs and fine-tuning the config asks for."""
    data = ctx.data
    x, y = (data.test_x, data.test_y) if config.split == "test" else (data.val_x, data.val_y)
    ctx.progress(progress, f"{at}: orders")
    bias = state.get(param_name(at.layer, "bias"))
    inp = CriterionInput(
        model=model,
        layer=at.layer,
        weight=unit_matrix(state, at.layer),
        bias=None if bias is None else bias.double(),
        train_x=data.train_x[: config.activation_samples],
        include_bias=config.include_bias,
    )
    n = inp.weight.shape[0]
    levels = removal_levels(n, config.max_fraction, config.step)
    panel = Panel(at, several, n, levels, plan_orders(config, ctx.run.config.seed, inp))
    ctx.progress(progress, f"{at}: sweep of {len(panel.plan)} orders × {len(levels)} levels")
    acc, loss = removal_sweep(model, at.layer, panel.orders, levels, x, y)
    result.tensors[panel.path("units_removed")] = np.asarray(levels, dtype=np.int64)
    result.tensors[panel.path("iteration")] = np.int64(ctx.checkpoint_iteration(at.checkpoint))
    sweep_curves(panel, inp.weight, acc, loss, result)
    null_percentiles(panel, result)
    if config.costs or config.finetune is not None:
        costs(panel, model, data.input_shape, result)
    if config.finetune is not None:
        finetune_panel(config, ctx, panel, model, state, result, progress)
    if several:
        result.curves[str(at)] = panel.curves
    else:
        result.curves = panel.curves
        result.summary.update(layer=at.layer, checkpoint=f"{at.checkpoint} (iteration {ctx.checkpoint_iteration(at.checkpoint)})",
                              units=n, accuracy_unpruned=float(acc[0, 0]))


def run(config: PruningConfig, ctx: StudyContext) -> StudyResult:
    """For each layer and checkpoint: every criterion's order, then one fast sweep over all orders."""
    layers, checkpoints = listed(config.layer), listed(config.checkpoint)
    several = len(layers) * len(checkpoints) > 1
    result = StudyResult()
    total, done = len(layers) * len(checkpoints), 0
    for ref in checkpoints:
        state = ctx.state(ref)
        model = ctx.build_model(state)
        for layer in layers:
            _measure(config, ctx, LayerAt(layer, ref), state, model, several, result, done / total)
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

__all__ = ["CRITERIA", "KIND", "PruningConfig", "check", "curve_panels", "run"]

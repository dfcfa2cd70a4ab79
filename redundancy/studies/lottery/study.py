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

The parts: :mod:`.config` (the config and each round's training), :mod:`.rounds`
(training the rounds), :mod:`.assemble` (tensors, curves and summary),
:mod:`.concentration` (the statistics); the masks of each round are
:mod:`redundancy.studies.common.imp`'s, shared with the kinds that need a ticket.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from redundancy.studies.base import StudyContext, StudyKind, StudyResult
from redundancy.studies.common.checks import check_layers
from redundancy.studies.common.imp import pruning_groups, survivors_after
from redundancy.studies.lottery.assemble import assemble
from redundancy.studies.lottery.config import LotteryConfig, effective_train
from redundancy.studies.lottery.rounds import run_rounds


def run(config: LotteryConfig, ctx: StudyContext) -> StudyResult:
    """Train the rounds, then measure where each round's survivors live."""
    from redundancy.models import layer_infos

    order = list(layer_infos(ctx.build_model()))
    layers = [n for n in order if config.layers is None or n in config.layers]
    rounds = run_rounds(config, ctx, layers, order)
    return assemble(config, ctx.run.config.seed, rounds)


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

__all__ = ["KIND", "LotteryConfig", "check", "run"]

"""The ``lottery`` study's rounds as stored tensors, curves and a summary (the layout is in ``study.py``).

Per layer and round the mask's counts k_i are tested against the hypergeometric
null (:mod:`.concentration`), for the incoming weights and for the outgoing ones
(the next layer's columns), and ranked against each unit's norm and
frame-potential contribution in the dense network.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from redundancy.store.keys import tensor_path
from redundancy.studies.base import StudyResult
from redundancy.studies.common.imp import weight_name
from redundancy.studies.common.masks import unit_counts
from redundancy.studies.common.measures import fp_contributions
from redundancy.studies.common.seeds import derived_seed
from redundancy.studies.common.weights import as_matrix64
from redundancy.studies.lottery.concentration import Concentration, concentration, outgoing_counts, spearman
from redundancy.studies.lottery.config import CONTROLS, SIGNIFICANCE, TEST_STREAM, LotteryConfig, first_drop_round
from redundancy.studies.lottery.rounds import Masks, Rounds

CURVE_KEYS = (
    "dispersion", "null_dispersion", "p_value", "gini", "null_gini", "empty_units",
    "expected_empty_units", "conditional_survival", "density",
)
EXTRA_CURVE_KEYS = ("null_conditional_survival", "chi2", "test")


def _unit_scores(weight: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    """Each unit's ‖w_i‖ and frame-potential contribution c_i = Σ_j ⟨ŵ_i, ŵ_j⟩²."""
    w = as_matrix64(weight)
    return w.norm(dim=1).numpy(), fp_contributions(w).numpy()


def _stat_series(stats: Sequence[Concentration]) -> dict[str, list[Any]]:
    keys = stats[0].as_dict().keys()
    return {k: [s.as_dict()[k] for s in stats] for k in keys}


def _layer_concentration(
    config: LotteryConfig,
    seed: int,
    layer: str,
    next_layer: str | None,
    masks: list[Masks],
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
        test_seed = derived_seed(seed, r, TEST_STREAM, 2 * layer_index)
        incoming.append(concentration(k_in, m_in, method=config.test, draws=config.draws, seed=test_seed))
        counts.append(k_in)
        no_in.append(int((k_in == 0).sum()))
        dead = k_in == 0
        if next_layer is not None:
            nxt = round_masks[next_layer].numpy() if next_layer in round_masks else np.ones(shapes[next_layer], dtype=bool)
            k_out, m_out = outgoing_counts(nxt, k_in.size)
            out_seed = derived_seed(seed, r, TEST_STREAM, 2 * layer_index + 1)
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
        tensors[tensor_path("outgoing", "counts")] = np.stack(out_counts)
        for key, values in out_series.items():
            if key != "test":
                tensors[tensor_path("outgoing", key)] = np.asarray(values, dtype=np.float64)
        tensors["no_outgoing"] = np.asarray(no_out)
        curves["no_outgoing"] = no_out
        curves["outgoing"] = {key: out_series[key] for key in CURVE_KEYS + EXTRA_CURVE_KEYS}
    curves["spearman"] = spear
    for name, values in spear.items():
        tensors[tensor_path("spearman", name)] = np.asarray(values, dtype=np.float64)
    return tensors, curves


def _mask_tensors(config: LotteryConfig, rounds: Rounds, tensors: dict[str, np.ndarray]) -> tuple[list[float], dict[str, list[float]]]:
    """Masks, trained tickets and sparsities into ``tensors``; returns the sparsity per round, total and per layer."""
    layers, masks = rounds.layers, rounds.masks
    total = sum(masks[0][n].numel() for n in layers)
    sparsity_total = [1 - sum(int(m[n].sum()) for n in layers) / total for m in masks]
    per_layer = {n: [1 - float(m[n].sum()) / m[n].numel() for m in masks] for n in layers}
    tensors[tensor_path("sparsity", "total")] = np.asarray(sparsity_total)
    for n in layers:
        tensors[tensor_path("masks", n)] = np.stack([m[n].numpy().astype(np.uint8) for m in masks])
        if config.store_weights:  # round r's trained ticket: round r + 1's mask is cut from it
            tensors[tensor_path("trained", n)] = np.stack([o.trained[weight_name(n)].detach().cpu().numpy() for o in rounds.outcomes["ticket"]])
        tensors[tensor_path("sparsity", n)] = np.asarray(per_layer[n])
        if "random_mask" in rounds.outcomes:
            tensors[tensor_path("random_masks", n)] = np.stack([m[n].numpy().astype(np.uint8) for m in rounds.random_masks])
    return sparsity_total, per_layer


def _variant_tensors(rounds: Rounds, tensors: dict[str, np.ndarray]) -> dict[str, dict[str, list[Any]]]:
    """Each variant's accuracies and metric series into ``tensors``; returns its curves."""
    variant_curves: dict[str, dict[str, list[Any]]] = {}
    for variant, outs in rounds.outcomes.items():
        entry = {
            "accuracy": [o.accuracy for o in outs],
            "early_stop_accuracy": [o.early_stop_accuracy for o in outs],
            "early_stop_iteration": [o.early_stop_iteration for o in outs],
        }
        variant_curves[variant] = entry
        for key, values in entry.items():
            tensors[tensor_path(variant, key)] = np.asarray(values)
        for r, o in enumerate(outs):
            for metric, series in o.metrics.items():
                tensors[tensor_path(variant, "rounds", f"{r:02d}", metric)] = series
    return variant_curves


def _concentration_tensors(config: LotteryConfig, seed: int, rounds: Rounds, tensors: dict[str, np.ndarray]) -> dict[str, Any]:
    """Every layer's concentration statistics into ``tensors``; returns their curves, by layer."""
    # Rank each unit's ticket count against its norm and frame-potential contribution in the dense network.
    scores: dict[str, dict[str, np.ndarray]] = {}
    for n in rounds.layers:
        norm0, fp0 = _unit_scores(rounds.init_state[weight_name(n)])
        norm_t, fp_t = _unit_scores(rounds.dense.trained[weight_name(n)])
        scores[n] = {"norm_init": norm0, "norm_trained": norm_t, "fp_init": fp0, "fp_trained": fp_t}
    order = rounds.order
    shapes = {n: rounds.init_state[weight_name(n)].shape for n in order}
    curves: dict[str, Any] = {}
    for index, n in enumerate(rounds.layers):
        position = order.index(n)
        next_layer = order[position + 1] if position + 1 < len(order) else None
        layer_tensors, layer_curves = _layer_concentration(config, seed, n, next_layer, rounds.masks, shapes, scores[n], index)
        for key, value in layer_tensors.items():
            tensors[tensor_path("concentration", n, key)] = value
        curves[n] = layer_curves
    return curves


def _summary(rounds: Rounds, per_layer: dict[str, list[float]], sparsity_total: list[float],
             concentration_curves: dict[str, Any], variant_curves: dict[str, dict[str, list[Any]]]) -> dict[str, Any]:
    """One row per layer at the last round, and the network-wide headline."""
    summary: dict[str, Any] = {}
    last = len(rounds.masks) - 1
    for n in rounds.layers:
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
    dense = rounds.dense
    drop = first_drop_round(variant_curves["ticket"]["accuracy"], dense.accuracy)
    summary["dense_accuracy"] = dense.accuracy
    summary["first_round_below_dense"] = drop
    summary["sparsity_at_first_drop"] = None if drop is None else sparsity_total[drop]
    summary["pruned %"] = " ".join(f"{100 * s:.0f}" for s in sparsity_total)
    for variant in ("ticket", *CONTROLS):
        if variant in variant_curves:
            summary[f"{variant} acc %"] = " ".join(f"{100 * a:.1f}" for a in variant_curves[variant]["accuracy"])
    return summary


def assemble(config: LotteryConfig, seed: int, rounds: Rounds) -> StudyResult:
    """The study's tensors, curves, summary and attributes from its rounds (``seed``: the run's)."""
    tensors: dict[str, np.ndarray] = {}
    sparsity_total, per_layer = _mask_tensors(config, rounds, tensors)
    variant_curves = _variant_tensors(rounds, tensors)
    concentration_curves = _concentration_tensors(config, seed, rounds, tensors)
    ticket = variant_curves["ticket"]
    curves: dict[str, Any] = {
        "rounds": list(range(len(rounds.masks))),
        "sparsity": sparsity_total,
        "accuracy": ticket["accuracy"],
        "early_stop_accuracy": ticket["early_stop_accuracy"],
        "early_stop_iteration": ticket["early_stop_iteration"],
        **{c: variant_curves[c] for c in CONTROLS if c in variant_curves},
        "sparsity_per_layer": per_layer,
        "concentration": concentration_curves,
    }
    summary = _summary(rounds, per_layer, sparsity_total, concentration_curves, variant_curves)
    attrs = {"rewind_iteration": rounds.rewind, "dense_reused": rounds.reused, "layers": rounds.layers, "output_layer": rounds.order[-1]}
    return StudyResult(tensors=tensors, summary=summary, curves=curves, attrs=attrs)

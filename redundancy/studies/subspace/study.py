"""Study ``subspace``: how much of a layer's learned update lives in a few singular directions.

Nagarajan & Kolter (2019) project the update W − Z of a trained layer (final
minus initial weights) onto its top-k left-singular vectors and find that the
network keeps its accuracy for very small k: what training wrote outside that
subspace behaves as noise (seed §2.1 and §3.3). For each layer, checkpoint and
target this study evaluates, for every k,

    W_k = Z + U_k U_kᵀ (W − Z)       (``target: update``)
    W_k = U_k U_kᵀ W                 (``target: weights``)

with every other layer (and this layer's bias) unchanged, and records test
accuracy and loss, the spectral and Frobenius norms of the removed residual and
the fraction of ‖W − Z‖²_F kept. ``basis: bottom`` (trailing singular vectors
first) and ``basis: random`` (random nested subspaces, ``seeds`` of them) are
the controls. The math is in :mod:`redundancy.studies.subspace.linalg`, the fast
evaluation in :mod:`redundancy.studies.subspace.sweep`.

Evaluated ranks: ``ks`` (``all`` = 0..rank, rank = min(units, fan-in)), plus
0, 1, 10, 16 and the rank whenever they are at most the rank, because the
summary reports them.

Result layout. A *row* is one (layer, checkpoint, target), keyed
``"<layer>@<checkpoint>:<target>"``, e.g. ``"fc1@final:update"``; the key is
always present, even when the spec names a single layer, checkpoint and target.

``curves[row]``::

    {"top":    {"k": [...], "accuracy": [...], "loss": [...],
                "residual_spectral_norm": [...], "residual_frobenius_norm": [...],
                "energy_kept": [...]},
     "bottom": {... same keys ...},
     "random": {... same keys, each the mean over seeds ..., "std": [... of accuracy],
                "seeds": [[accuracy per k] per seed]},
     "singular_values": [...],           # σ of the row's target, descending
     "accuracy_full": a, "accuracy_reset": a0, "rank": r}

only the bases the spec asks for appear. ``accuracy_reset`` is k = 0: the
layer at Z (``update``) or at zero (``weights``).

``summary["<row>/<basis>"]`` = ``{rank, k_within_1pt, k_within_5pt, acc_k1,
acc_k10, acc_k16, acc_full, acc_reset}``: the smallest evaluated k whose
accuracy is within 1 (5) percentage points of the unprojected network (null if
none), and accuracies (fractions; the mean over seeds for ``random``).

``alignment: true`` adds, per basis curve, ``rho_kept``, ``rho_residual``
(ρ of P_k = B_k B_kᵀ Δ and of R_k = Δ − P_k, see
:mod:`redundancy.studies.subspace.alignment`; null where the part is zero) and
``residual_share`` (‖R_k Xᵀ‖_F / ‖Δ Xᵀ‖_F), each the mean over seeds for
``random``; per row ``rho_target`` (ρ of Δ: W − Z, or W for ``weights``) and,
for ``update``, ``rho_init`` (ρ of Z); and summary columns
``rho_residual_k16`` and ``share_residual_k16``. X holds the layer's inputs
on the evaluation split computed by the unmodified trained layers below (the
data for the first layer; ``alignment_samples`` unfolded patches for a Conv).
Off by default, so stages without it keep their ids.

Tensors (under ``results/`` in the stage file), ``<lc>`` = ``<layer>@<checkpoint>``:
``<lc>/singular_values/update`` and ``/weights`` (all σ of W − Z and of W),
``<lc>/accuracy_full``, ``<lc>/loss_full``, ``<lc>/<target>/ks``,
``<lc>/<target>/accuracy_reset``, ``<lc>/<target>/loss_reset`` and per basis
``<lc>/<target>/<basis>/{accuracy, loss, residual_spectral_norm,
residual_frobenius_norm, energy_kept}`` of shape (ks,), or (seeds, ks) for
``random``, whose ``basis_seed`` (seeds,) holds the seed of each random basis
(:func:`~redundancy.studies.subspace.linalg.random_orthonormal`; s for basis s, or with
``follow_run_seed`` one derived from the run's seed and s, :func:`basis_seed`); with
``alignment``, also ``.../<basis>/{rho_kept, rho_residual, residual_share}``
(same shapes) and ``<lc>/alignment/rho_{update,weights,init}``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from redundancy.models import param_name
from redundancy.store.keys import LayerAt, row_part, target_row, tensor_path
from redundancy.studies.base import StudyContext, StudyKind, StudyResult
from redundancy.studies.common.checks import check_layers, missing_checkpoint
from redundancy.studies.common.refs import listed, loc
from redundancy.studies.common.seeds import derived_seed
from redundancy.studies.common.weights import as_matrix64
from redundancy.studies.subspace.alignment import (
    alignment_along,
    alignment_from_moment,
    centred_moment,
    data_span_alignment,
    input_rows,
    span_position,
)
from redundancy.studies.subspace.config import (
    ALIGNMENT_K,
    SPAN_STREAM,
    SUMMARY_KS,
    SubspaceConfig,
    basis_seed,
    evaluated_ks,
    layer_rank,
)
from redundancy.studies.subspace.linalg import (
    ResidualNorms,
    first_within,
    left_singular,
    ordered_basis,
    residual_norms,
)
from redundancy.studies.subspace.sweep import projected_sweep
from redundancy.train import evaluate

def check(config: SubspaceConfig, info: Any) -> list[tuple[Sequence[str | int], str]]:
    """Layers exist, checkpoints are kept by the run, no k above a layer's rank."""
    problems: list[tuple[Sequence[str | int], str]] = []
    problems += check_layers(config.layer, "layer", info)
    layers = [info.layers[name] for name in listed(config.layer) if name in info.layers]
    targets = listed(config.target)
    for i, ref in enumerate(config.checkpoint if isinstance(config.checkpoint, list) else [config.checkpoint]):
        if isinstance(ref, int):
            if ref == 0 and "update" in targets:
                problems.append((loc(config.checkpoint, "checkpoint", i), "iteration 0 is the initialization Z itself, so W − Z = 0 there; use a later checkpoint"))
            elif ref not in info.checkpoints:
                problems.append((loc(config.checkpoint, "checkpoint", i), missing_checkpoint(ref, info)))
    if isinstance(config.ks, list):
        for j, k in enumerate(config.ks):
            for layer in layers:
                rank = layer_rank(layer)
                if k > rank:
                    problems.append(
                        (("ks", j), f"k = {k} is above the rank of {layer.name} (min({layer.units} units, {layer.fan_in} inputs) = {rank})")
                    )
                    break
    return problems


def _nan_to_none(values: Sequence[float]) -> list[float | None]:
    return [None if not np.isfinite(v) else float(v) for v in values]


@torch.no_grad()
def layer_input_moment(net: Any, name: str, x: torch.Tensor, samples: int, batch: int, seed: int = 0,
                       centred: bool = False) -> torch.Tensor:
    """C = XᵀX (float64, CPU) of the rows layer ``name`` multiplies, over the network inputs ``x``
    (``centred``: of the rows minus their mean, :func:`.alignment.centred_moment`).

    The rows are the layer's inputs computed by the (unmodified) layers below:
    the data itself for the first layer. For a Conv they are its unfolded
    patches, of which ``samples`` (over all images and positions, seeded) are used.
    """
    block = net.block(name)
    layer = block.layer
    conv = isinstance(layer, torch.nn.Conv2d)
    chosen: torch.Tensor | None = None
    per_image = 1
    moment: torch.Tensor | None = None
    row_sum: torch.Tensor | None = None
    count = 0
    for lo in range(0, x.shape[0], batch):
        h = net.features(x[lo : lo + batch], name)
        rows = input_rows(h if conv else h.flatten(1), layer).to(torch.float64)
        if conv:
            if chosen is None:
                per_image = rows.shape[0] // max(1, h.shape[0])
                total = per_image * x.shape[0]
                gen = torch.Generator().manual_seed(seed)
                chosen = torch.randperm(total, generator=gen)[: min(samples, total)].sort().values
            start, stop = lo * per_image, (lo + h.shape[0]) * per_image
            pick = chosen[(chosen >= start) & (chosen < stop)] - start
            rows = rows[pick.to(rows.device)]
        part = (rows.T @ rows).cpu()
        moment = part if moment is None else moment + part
        row_sum = rows.sum(0).cpu() if row_sum is None else row_sum + rows.sum(0).cpu()
        count += rows.shape[0]
    assert moment is not None and row_sum is not None
    return centred_moment(moment, row_sum, count) if centred else moment


def _rows_for_basis(
    basis: str, ks: list[int], accuracy: np.ndarray, loss: np.ndarray, norms: list[ResidualNorms]
) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Curve entry and tensors of one basis; ``accuracy``/``loss`` are (seeds, ks)."""
    spectral = np.stack([n.spectral.numpy() for n in norms])
    frobenius = np.stack([n.frobenius.numpy() for n in norms])
    energy = np.stack([n.energy_kept.numpy() for n in norms])
    tensors = {
        "accuracy": accuracy, "loss": loss, "residual_spectral_norm": spectral,
        "residual_frobenius_norm": frobenius, "energy_kept": energy,
    }
    curve: dict[str, Any] = {"k": list(ks)}
    for key, value in tensors.items():
        curve[key] = value.mean(axis=0).tolist()
    if basis == "random":
        curve["std"] = accuracy.std(axis=0).tolist()
        curve["seeds"] = accuracy.tolist()
    else:
        tensors = {key: value[0] for key, value in tensors.items()}
    return curve, tensors


def _summary_row(ks: list[int], accuracy: list[float], rank: int, acc_full: float, acc_reset: float) -> dict[str, Any]:
    at = dict(zip(ks, accuracy))
    row: dict[str, Any] = {
        "rank": rank,
        "k_within_1pt": first_within(ks, accuracy, acc_full, 1.0),
        "k_within_5pt": first_within(ks, accuracy, acc_full, 5.0),
    }
    for k in SUMMARY_KS:
        row[f"acc_k{k}"] = at.get(k)
    row["acc_full"] = acc_full
    row["acc_reset"] = acc_reset
    return row
@dataclass
class _Layer:
    """One layer at one checkpoint: its weights W and initialization Z (as stored and as float64 matrices),
    the unprojected network's accuracy and loss, and, with ``alignment``, its inputs' second moment C."""

    at: LayerAt
    w: torch.Tensor
    z: torch.Tensor
    w64: torch.Tensor
    z64: torch.Tensor
    acc_full: float
    loss_full: float
    moment: torch.Tensor | None = None
    rho_whole: dict[str, float] | None = None
    rho_span: float = float("nan")


def _alignment(config: SubspaceConfig, lay: _Layer, net: Any, x: torch.Tensor, batch: int, result: StudyResult) -> None:
    """C of the layer's inputs, ρ of W − Z, W and Z, and the data-span baseline beside them."""
    lc = lay.at
    lay.moment = layer_input_moment(net, lc.layer, x, config.alignment_samples, batch,
                                    centred=config.alignment_inputs == "centred")
    rho_whole = {
        "update": alignment_from_moment(lay.w64 - lay.z64, lay.moment),
        "weights": alignment_from_moment(lay.w64, lay.moment),
        "init": alignment_from_moment(lay.z64, lay.moment),
    }
    for what, value in rho_whole.items():
        result.tensors[tensor_path(lc, "alignment", f"rho_{what}")] = np.float64(value)
    # the nulls beside each ρ: 1 (isotropic rows) and random matrices whose rows lie in the inputs' span
    span = data_span_alignment(lay.moment, lay.w64.shape[0], config.alignment_draws, derived_seed(0, 0, SPAN_STREAM))
    result.tensors[tensor_path(lc, "alignment", "rho_data_span")] = span.numpy()
    rho_span = float(span.mean())
    result.summary[target_row(lc, "alignment")] = {
        "inputs": config.alignment_inputs, "isotropic": 1.0, "data_span": rho_span,
        "data_span_min": float(span.min()), "data_span_max": float(span.max()),
        **{f"rho_{what}": value for what, value in rho_whole.items()},
        **{f"position_{what}": span_position(value, rho_span) for what, value in rho_whole.items()},
    }
    lay.rho_whole, lay.rho_span = rho_whole, rho_span


def _basis(config: SubspaceConfig, lay: _Layer, row: str, prefix: str, basis: str, plan: list[tuple[str, int, torch.Tensor]],
           sweep: Any, delta: torch.Tensor, ks: list[int], rank: int, acc_reset: float, result: StudyResult) -> dict[str, Any]:
    """One basis of a row: its curve (returned), its tensors and its summary row."""
    picks = [i for i, (b, _, _) in enumerate(plan) if b == basis]
    norms = [residual_norms(plan[i][2], delta, ks) for i in picks]
    curve, tensors = _rows_for_basis(basis, ks, sweep.accuracy[picks], sweep.loss[picks], norms)
    if lay.moment is not None:
        along = [alignment_along(plan[i][2], delta, lay.moment, ks) for i in picks]
        for field in ("rho_kept", "rho_residual", "residual_share"):
            per_seed = np.stack([getattr(a, field).numpy() for a in along])
            tensors[field] = per_seed if basis == "random" else per_seed[0]
            curve[field] = _nan_to_none(per_seed.mean(axis=0))
    if basis == "random":  # random_orthonormal(n, seed) of each; docs/store.md gives its derivation
        tensors["basis_seed"] = np.asarray([plan[i][1] for i in picks], dtype=np.int64)
    for path, value in tensors.items():
        result.tensors[tensor_path(prefix, basis, path)] = value
    summary_key = row_part(row, basis)
    result.summary[summary_key] = _summary_row(ks, curve["accuracy"], rank, lay.acc_full, acc_reset)
    if lay.moment is not None:
        at = dict(zip(ks, zip(curve["rho_residual"], curve["residual_share"])))
        rho16, share16 = at.get(ALIGNMENT_K, (None, None))
        result.summary[summary_key].update(rho_residual_k16=rho16, share_residual_k16=share16)
    return curve


def _target(config: SubspaceConfig, ctx: StudyContext, lay: _Layer, target: str, net: Any, sv: dict[str, torch.Tensor],
            data: tuple[torch.Tensor, torch.Tensor], result: StudyResult, progress: float) -> None:
    """One row (layer, checkpoint, target): the SVD of its matrix, one sweep over k for every basis."""
    x, y = data
    rank = min(lay.w64.shape)
    ks = evaluated_ks(config.ks, rank)
    row = target_row(lay.at, target)
    ctx.progress(progress, f"{row}: SVD and sweep over {len(ks)} ranks")
    start = lay.z if target == "update" else torch.zeros_like(lay.z)
    delta = lay.w64 - as_matrix64(start)
    u, _ = left_singular(delta)
    plan: list[tuple[str, int, torch.Tensor]] = []
    bases = listed(config.basis)
    for basis in bases:
        seeds = [basis_seed(config, ctx.run.config.seed, s) for s in range(config.seeds)] if basis == "random" else [0]
        plan += [(basis, seed, ordered_basis(u, basis, seed)) for seed in seeds]
    sweep = projected_sweep(net, lay.at.layer, start, lay.w, [b for _, _, b in plan], ks, x, y)
    acc_reset, loss_reset = float(sweep.accuracy[0, 0]), float(sweep.loss[0, 0])
    prefix = tensor_path(lay.at, target)
    result.tensors[tensor_path(prefix, "ks")] = np.asarray(ks, dtype=np.int64)
    result.tensors[tensor_path(prefix, "accuracy_reset")] = np.float64(acc_reset)
    result.tensors[tensor_path(prefix, "loss_reset")] = np.float64(loss_reset)
    curves: dict[str, Any] = {}
    for basis in bases:
        curves[basis] = _basis(config, lay, row, prefix, basis, plan, sweep, delta, ks, rank, acc_reset, result)
    curves["singular_values"] = sv[target].tolist()
    curves["accuracy_full"] = lay.acc_full
    curves["accuracy_reset"] = acc_reset
    curves["rank"] = rank
    if lay.moment is not None and lay.rho_whole is not None:
        curves["rho_data_span"] = _nan_to_none([lay.rho_span])[0]  # the baselines: 1 and this
        curves["alignment_inputs"] = config.alignment_inputs
        curves["rho_target"] = _nan_to_none([lay.rho_whole[target]])[0]
        if target == "update":
            curves["rho_init"] = _nan_to_none([lay.rho_whole["init"]])[0]
    result.curves[row] = curves


def run(config: SubspaceConfig, ctx: StudyContext) -> StudyResult:
    """One SVD per (layer, checkpoint, target), then a fast sweep over k per basis."""
    data = ctx.data
    x, y = (data.test_x, data.test_y) if config.split == "test" else (data.val_x, data.val_y)
    batch = ctx.run.config.train.eval_batch_size
    layers, checkpoints, targets = listed(config.layer), listed(config.checkpoint), listed(config.target)
    init = ctx.state("init")
    result = StudyResult()
    total = len(layers) * len(checkpoints) * len(targets)
    done = 0
    for ref in checkpoints:
        state = ctx.state(ref)
        net = ctx.build_model(state)
        loss_full, acc_full = evaluate(net, x, y, batch)
        for name in layers:
            key = param_name(name)
            w, z = state[key], init[key]
            lay = _Layer(LayerAt(name, ref), w, z, as_matrix64(w), as_matrix64(z), acc_full, loss_full)
            if config.alignment:
                ctx.progress(done / total, f"{lay.at}: second moment of the layer's inputs")
                _alignment(config, lay, net, x, batch, result)
            sv = {"update": torch.linalg.svdvals(lay.w64 - lay.z64), "weights": torch.linalg.svdvals(lay.w64)}
            for target_name, values in sv.items():
                result.tensors[tensor_path(lay.at, "singular_values", target_name)] = values.numpy()
            result.tensors[tensor_path(lay.at, "accuracy_full")] = np.float64(acc_full)
            result.tensors[tensor_path(lay.at, "loss_full")] = np.float64(loss_full)
            for target in targets:
                _target(config, ctx, lay, target, net, sv, (x, y), result, done / total)
                done += 1
    ctx.progress(1.0, "done")
    return result

KIND = StudyKind(
    name="subspace",
    config=SubspaceConfig,
    run=run,
    check=check,
    description="accuracy when a layer's update W − Z is projected onto k singular directions",
)

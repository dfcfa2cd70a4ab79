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
from typing import TYPE_CHECKING, Annotated, Any, Literal

import numpy as np
import torch
from pydantic import Field

from redundancy.models import param_name
from redundancy.spec.schema import LIST_MAX, REPEATS_MAX, SAMPLES_MAX, UNITS_MAX, StudyConfig
from redundancy.studies.base import StudyContext, StudyKind, StudyResult
from redundancy.studies.common.checks import check_layers, missing_checkpoint
from redundancy.studies.common.refs import CheckpointRef, listed, loc
from redundancy.studies.common.seeds import FOLLOW_RUN_SEED_HELP, derived_seed
from redundancy.studies.common.weights import as_matrix64
from redundancy.studies.subspace.alignment import (
    alignment_along,
    alignment_from_moment,
    centred_moment,
    data_span_alignment,
    input_rows,
    span_position,
)
from redundancy.studies.subspace.sweep import projected_sweep
from redundancy.studies.subspace.linalg import (
    Basis,
    first_within,
    left_singular,
    ResidualNorms,
    ordered_basis,
    residual_norms,
)
from redundancy.train import evaluate

if TYPE_CHECKING:
    from redundancy.models import LayerInfo
    from redundancy.spec.loader import SpecInfo

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


_SPAN = 23  # stream of the data-span baseline's random matrices (fixed: a property of the data, not of the run)
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


def check(config: SubspaceConfig, info: SpecInfo) -> list[tuple[Sequence[str | int], str]]:
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


def run(config: SubspaceConfig, ctx: StudyContext) -> StudyResult:
    """One SVD per (layer, checkpoint, target), then a fast sweep over k per basis."""
    data = ctx.data
    x, y = (data.test_x, data.test_y) if config.split == "test" else (data.val_x, data.val_y)
    batch = ctx.run.config.train.eval_batch_size
    layers, checkpoints = listed(config.layer), listed(config.checkpoint)
    targets, bases = listed(config.target), listed(config.basis)
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
            w64, z64 = as_matrix64(w), as_matrix64(z)
            lc = f"{name}@{ref}"
            moment = None
            rho_span = float("nan")
            if config.alignment:
                ctx.progress(done / total, f"{lc}: second moment of the layer's inputs")
                moment = layer_input_moment(net, name, x, config.alignment_samples, batch,
                                            centred=config.alignment_inputs == "centred")
                rho_whole = {
                    "update": alignment_from_moment(w64 - z64, moment),
                    "weights": alignment_from_moment(w64, moment),
                    "init": alignment_from_moment(z64, moment),
                }
                for what, value in rho_whole.items():
                    result.tensors[f"{lc}/alignment/rho_{what}"] = np.float64(value)
                # the nulls beside each ρ: 1 (isotropic rows) and random matrices whose rows lie in the inputs' span
                span = data_span_alignment(moment, w64.shape[0], config.alignment_draws, derived_seed(0, 0, _SPAN))
                result.tensors[f"{lc}/alignment/rho_data_span"] = span.numpy()
                rho_span = float(span.mean())
                result.summary[f"{lc}:alignment"] = {
                    "inputs": config.alignment_inputs, "isotropic": 1.0, "data_span": rho_span,
                    "data_span_min": float(span.min()), "data_span_max": float(span.max()),
                    **{f"rho_{what}": value for what, value in rho_whole.items()},
                    **{f"position_{what}": span_position(value, rho_span) for what, value in rho_whole.items()},
                }
            sv = {"update": torch.linalg.svdvals(w64 - z64), "weights": torch.linalg.svdvals(w64)}
            for target_name, values in sv.items():
                result.tensors[f"{lc}/singular_values/{target_name}"] = values.numpy()
            result.tensors[f"{lc}/accuracy_full"] = np.float64(acc_full)
            result.tensors[f"{lc}/loss_full"] = np.float64(loss_full)
            rank = min(w64.shape)
            ks = evaluated_ks(config.ks, rank)
            for target in targets:
                row = f"{lc}:{target}"
                ctx.progress(done / total, f"{row}: SVD and sweep over {len(ks)} ranks")
                start = z if target == "update" else torch.zeros_like(z)
                delta = w64 - as_matrix64(start)
                u, _ = left_singular(delta)
                plan: list[tuple[str, int, torch.Tensor]] = []
                for basis in bases:
                    seeds = [basis_seed(config, ctx.run.config.seed, s) for s in range(config.seeds)] if basis == "random" else [0]
                    plan += [(basis, seed, ordered_basis(u, basis, seed)) for seed in seeds]
                sweep = projected_sweep(net, name, start, w, [b for _, _, b in plan], ks, x, y)
                acc_reset, loss_reset = float(sweep.accuracy[0, 0]), float(sweep.loss[0, 0])
                prefix = f"{lc}/{target}"
                result.tensors[f"{prefix}/ks"] = np.asarray(ks, dtype=np.int64)
                result.tensors[f"{prefix}/accuracy_reset"] = np.float64(acc_reset)
                result.tensors[f"{prefix}/loss_reset"] = np.float64(loss_reset)
                curves: dict[str, Any] = {}
                for basis in bases:
                    picks = [i for i, (b, _, _) in enumerate(plan) if b == basis]
                    norms = [residual_norms(plan[i][2], delta, ks) for i in picks]
                    curve, tensors = _rows_for_basis(basis, ks, sweep.accuracy[picks], sweep.loss[picks], norms)
                    if moment is not None:
                        along = [alignment_along(plan[i][2], delta, moment, ks) for i in picks]
                        for field in ("rho_kept", "rho_residual", "residual_share"):
                            per_seed = np.stack([getattr(a, field).numpy() for a in along])
                            tensors[field] = per_seed if basis == "random" else per_seed[0]
                            curve[field] = _nan_to_none(per_seed.mean(axis=0))
                    curves[basis] = curve
                    if basis == "random":  # random_orthonormal(n, seed) of each; docs/store.md gives its derivation
                        tensors["basis_seed"] = np.asarray([plan[i][1] for i in picks], dtype=np.int64)
                    for path, value in tensors.items():
                        result.tensors[f"{prefix}/{basis}/{path}"] = value
                    result.summary[f"{row}/{basis}"] = _summary_row(ks, curve["accuracy"], rank, acc_full, acc_reset)
                    if moment is not None:
                        at = dict(zip(ks, zip(curve["rho_residual"], curve["residual_share"])))
                        rho16, share16 = at.get(ALIGNMENT_K, (None, None))
                        result.summary[f"{row}/{basis}"].update(rho_residual_k16=rho16, share_residual_k16=share16)
                curves["singular_values"] = sv[target].tolist()
                curves["accuracy_full"] = acc_full
                curves["accuracy_reset"] = acc_reset
                curves["rank"] = rank
                if moment is not None:
                    curves["rho_data_span"] = _nan_to_none([rho_span])[0]  # the baselines: 1 and this
                    curves["alignment_inputs"] = config.alignment_inputs
                    curves["rho_target"] = _nan_to_none([rho_whole[target]])[0]
                    if target == "update":
                        curves["rho_init"] = _nan_to_none([rho_whole["init"]])[0]
                result.curves[row] = curves
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

"""Study ``dynamics``: how redundancy forms during training (seed §2.1, §3.2).

Every stored checkpoint of a run is measured, layer by layer, with the
signatures of self-regularization the seed's related work proposes: frame
potential (clustering of unit directions), distance from initialization
(Neyshabur et al. 2018), the spectrum of X = W Wᵀ / d against the
Marchenko–Pastur bulk fitted to the initialization and its power-law tail
(Martin & Mahoney 2018), spherical K-Means of unit directions (Brutzkus &
Globerson 2019), repeated and removable units (Casper et al. 2019), and a 2-D
PCA trajectory of every unit. The initialization (iteration 0) is always
measured: distance, the bulk edge and the clustering comparison refer to it.

A width sweep is a ``grid: {model.width: [...]}``; each run gets its own stage,
its summary records its width, and :func:`compare_widths` lines the stages up.

Tensors (under ``/results`` of the stage file), T checkpoints, n units, k clusters:

    iterations                              (T,)  the checkpoints measured
    <layer>/frame_potential, fp_ratio       (T,)
    <layer>/distance_from_init              (T,)  ‖W − Z‖_F
    <layer>/relative_distance               (T,)  ‖W − Z‖_F / ‖Z‖_F
    <layer>/spectrum/eigenvalues            (T, n) all eigenvalues of W Wᵀ / d, ascending
    <layer>/spectrum/sigma2, mp_lower, mp_upper, spike_threshold   ()  bulk fitted to Z
    <layer>/spectrum/spikes, stable_rank    (T,)
    <layer>/spectrum/alpha, alpha_xmin, alpha_ks, alpha_tail        (T,)  NaN when not fitted
    <layer>/clustering/angles               (T, n) degrees to the closest centre
    <layer>/clustering/labels               (T, n)
    <layer>/clustering/sizes                (T, k)
    <layer>/clustering/centres              (T, k, d)
    <layer>/clustering/mean_angle           (T,)
    <layer>/repeated/count, units, dead     (T,)  pairs, units in a pair, constant units
    <layer>/repeated/pairs                  (P, 3) rows (checkpoint index, i, j)
    <layer>/repeated/correlation            (P,)
    <layer>/removable/base_accuracy         (T,)  probe accuracy of the whole network
    <layer>/removable/accuracy_drop         (T, n) points lost when the unit alone is removed
    <layer>/removable/count                 (T,)
    <layer>/trajectory/points               (T, n, 2)
    <layer>/trajectory/components           (2, d)
    <layer>/trajectory/explained            (2,)
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
import torch
from pydantic import Field, field_validator

from redundancy.models import LayeredNet
from redundancy.spec.schema import REPEATS_MAX, SAMPLES_MAX, SEED_MAX, UNITS_MAX, StudyConfig
from redundancy.studies.base import StudyContext, StudyKind, StudyResult
from redundancy.studies.common.checks import check_checkpoints, check_layers
from redundancy.studies.common.refs import CheckpointRef
from redundancy.studies.common.weights import layer_weight
from redundancy.studies.common.removal import single_unit_removal
from redundancy.studies.dynamics.activations import activation_moments
from redundancy.studies.dynamics.signatures import (
    Trajectory,
    angles_to_closest_centre,
    compare_widths,
    correlated_pairs_from_moments,
    distance_from_init,
    frame_potential_ratio,
    pca_trajectory,
    spherical_kmeans,
)
from redundancy.studies.dynamics.spectrum import (
    correlation_eigenvalues,
    count_spikes,
    fit_power_law,
    mp_edges,
    mp_variance,
    spike_threshold,
    stable_rank,
)
from redundancy.store.keys import tensor_path
from redundancy.train import evaluate

METRICS = ("frame_potential", "distance", "spectrum", "clustering", "repeated_units", "removable_units", "trajectory")
Metric = Literal["frame_potential", "distance", "spectrum", "clustering", "repeated_units", "removable_units", "trajectory"]

class DynamicsConfig(StudyConfig):
    """Fields of a ``dynamics`` study; every field has a default, so ``{kind: dynamics}`` is a full study."""

    kind: Literal["dynamics"] = "dynamics"
    layers: list[str] | None = Field(None, min_length=1, description="layers to measure; default all")
    checkpoints: list[CheckpointRef] | None = Field(
        None, min_length=1, description="stored iterations (or best/final) to measure; default every stored one; 0 is always added"
    )
    metrics: list[Metric] | None = Field(None, min_length=1, description=f"subset of {', '.join(METRICS)}; default all")
    clusters: int = Field(4, ge=1, le=UNITS_MAX, description="K-Means clusters (Brutzkus & Globerson use 4); at most a layer's units")
    restarts: int = Field(10, ge=1, le=REPEATS_MAX, description="seeded K-Means restarts; the best objective is kept")
    probe: int = Field(1000, ge=2, le=SAMPLES_MAX, description="validation inputs for activation correlations and removal accuracy")
    correlation_threshold: float = Field(0.5, gt=0, lt=1, description="|ρ| above which two units are repeated (Casper et al.)")
    removable_tolerance: float = Field(
        0.1, ge=0, description="a unit is removable when removing it alone costs less than this many accuracy points"
    )
    seed: int = Field(0, ge=0, le=SEED_MAX, description="seed of the K-Means restarts and the randomized PCA")

    @field_validator("metrics")
    @classmethod
    def _unique_metrics(cls, v: list[str] | None) -> list[str] | None:
        if v is not None and len(set(v)) != len(v):
            raise ValueError(f"metrics are listed twice: {sorted({m for m in v if v.count(m) > 1})}")
        return v

    def selected_metrics(self) -> tuple[str, ...]:
        return tuple(m for m in METRICS if self.metrics is None or m in self.metrics)


def check(config: DynamicsConfig, info: Any) -> list[tuple[Sequence[str | int], str]]:
    """Layers must exist; fixed checkpoint iterations must be ones the run stores."""
    problems: list[tuple[Sequence[str | int], str]] = []
    return check_layers(config.layers, "layers", info) + check_checkpoints(config.checkpoints, "checkpoints", info)


def _iterations(config: DynamicsConfig, ctx: StudyContext) -> list[int]:
    if config.checkpoints is None:
        chosen = set(ctx.run.checkpoints)
    else:
        chosen = {ctx.checkpoint_iteration(ref) for ref in config.checkpoints}
    chosen.add(0)
    return sorted(chosen)


def _weight(state: dict[str, torch.Tensor], layer: str) -> np.ndarray:
    """The layer's stored weight as a NumPy view (no copy: checkpoints are CPU tensors)."""
    return layer_weight(state, layer).detach().cpu().numpy()


def _grew(start: float, end: float) -> bool | None:
    """Whether a value rose from start to end; None when either is NaN (not measured or not fitted)."""
    if math.isnan(start) or math.isnan(end):
        return None
    return bool(end > start)


class _Measurements:
    """Every selected measure of every layer, appended checkpoint by checkpoint (``per_layer[layer][key]``)."""

    def __init__(self, config: DynamicsConfig, metrics: tuple[str, ...], layers: list[str]):
        self.config, self.metrics = config, metrics
        self.per_layer: dict[str, dict[str, list[Any]]] = {name: {} for name in layers}
        self.weights: dict[str, list[np.ndarray]] = {name: [] for name in layers}
        self.clusters_used: dict[str, int] = {}
        self.alpha_status: dict[str, str] = {}

    def put(self, layer: str, key: str, value: Any) -> None:
        self.per_layer[layer].setdefault(key, []).append(value)

    def of_weights(self, t: int, name: str, w: np.ndarray, z: np.ndarray, tensors: dict[str, np.ndarray]) -> None:
        """The measures read from the weights W of checkpoint ``t`` (Z: the initialization)."""
        if "trajectory" in self.metrics:
            self.weights[name].append(w)
        if "frame_potential" in self.metrics:
            fp, ratio = frame_potential_ratio(w)
            self.put(name, "frame_potential", fp)
            self.put(name, "fp_ratio", ratio)
        if "distance" in self.metrics:
            dist, rel = distance_from_init(w, z)
            self.put(name, "distance_from_init", dist)
            self.put(name, "relative_distance", rel)
        if "spectrum" in self.metrics:
            self._spectrum(t, name, w, z, tensors)
        if "clustering" in self.metrics:
            self._clustering(name, w)

    def _spectrum(self, t: int, name: str, w: np.ndarray, z: np.ndarray, tensors: dict[str, np.ndarray]) -> None:
        n, d = w.shape[0], int(np.prod(w.shape[1:]))
        sigma2 = mp_variance(z)
        threshold = spike_threshold(sigma2, n, d)
        lam = correlation_eigenvalues(w)
        fit = fit_power_law(lam)
        self.alpha_status[name] = fit.status
        self.put(name, "eigenvalues", lam)
        self.put(name, "spikes", count_spikes(lam, threshold))
        self.put(name, "stable_rank", stable_rank(lam))
        self.put(name, "alpha", fit.alpha)
        self.put(name, "alpha_xmin", fit.x_min)
        self.put(name, "alpha_ks", fit.ks)
        self.put(name, "alpha_tail", fit.n_tail)
        if t == 0:
            lower, upper = mp_edges(sigma2, n, d)
            tensors[tensor_path(name, "spectrum", "sigma2")] = np.float64(sigma2)
            tensors[tensor_path(name, "spectrum", "mp_lower")] = np.float64(lower)
            tensors[tensor_path(name, "spectrum", "mp_upper")] = np.float64(upper)
            tensors[tensor_path(name, "spectrum", "spike_threshold")] = np.float64(threshold)

    def _clustering(self, name: str, w: np.ndarray) -> None:
        km = spherical_kmeans(w, self.config.clusters, restarts=self.config.restarts, seed=self.config.seed)
        self.clusters_used[name] = km.centres.shape[0]
        angles = angles_to_closest_centre(w, km.centres)
        self.put(name, "angles", angles)
        self.put(name, "labels", km.labels)
        self.put(name, "sizes", km.sizes)
        self.put(name, "centres", km.centres)
        self.put(name, "mean_angle_to_centre", float(angles.mean()))

    def of_activations(self, t: int, name: str, model: LayeredNet, moments: dict[str, Any], base_acc: float,
                       probe_x: torch.Tensor, probe_y: torch.Tensor) -> None:
        """The measures read from the network's outputs on the probe (the model holds checkpoint ``t``)."""
        if "repeated_units" in self.metrics:
            count, s, ss = moments[name]
            found = correlated_pairs_from_moments(count, s, ss, self.config.correlation_threshold)
            self.put(name, "repeated_pairs", found.count)
            self.put(name, "repeated_units", found.units_in_pairs)
            self.put(name, "dead_units", int(found.dead.sum()))
            self.put(name, "pairs", np.column_stack([np.full(found.count, t), found.pairs]))
            self.put(name, "pair_correlation", found.correlation)
        if "removable_units" in self.metrics:
            acc, _ = single_unit_removal(model, name, probe_x, probe_y)
            drop = (base_acc - acc.numpy()) * 100.0
            self.put(name, "base_accuracy", base_acc)
            self.put(name, "accuracy_drop", drop)
            self.put(name, "removable_units", int(np.sum(drop < self.config.removable_tolerance)))


def run(config: DynamicsConfig, ctx: StudyContext) -> StudyResult:
    """Measure every selected layer at every selected checkpoint (and at initialization).

    Weight measures read the stored checkpoints directly; activation measures (repeated and
    removable units) load each checkpoint into the run's model and evaluate the first
    ``probe`` validation inputs, never the test set.
    """
    metrics = config.selected_metrics()
    iterations = _iterations(config, ctx)
    model = ctx.build_model()
    layers = list(config.layers or model.names)
    t_count = len(iterations)
    need_model = "repeated_units" in metrics or "removable_units" in metrics
    probe_x = ctx.data.val_x[: config.probe].to(ctx.device)
    probe_y = ctx.data.val_y[: config.probe].to(ctx.device)

    tensors: dict[str, np.ndarray] = {"iterations": np.asarray(iterations, dtype=np.int64)}
    init = {name: _weight(ctx.run.checkpoints[0], name) for name in layers}
    measured = _Measurements(config, metrics, layers)
    for t, it in enumerate(iterations):
        ctx.progress(t / t_count, f"checkpoint {it} ({t + 1}/{t_count})")
        state = ctx.run.checkpoints[it]
        if need_model:
            model.load_state_dict(state)
            model.eval()
        moments = activation_moments(model, layers, probe_x) if "repeated_units" in metrics else {}
        base_acc = evaluate(model, probe_x, probe_y)[1] if "removable_units" in metrics else math.nan
        for name in layers:
            measured.of_weights(t, name, _weight(state, name), init[name], tensors)
            measured.of_activations(t, name, model, moments, base_acc, probe_x, probe_y)

    ctx.progress(1.0, "trajectories")
    trajectories = {}
    if "trajectory" in metrics:
        for name in layers:
            trajectories[name] = pca_trajectory(measured.weights[name], seed=config.seed)
    return _result(ctx, measured, tensors, trajectories, iterations, int(probe_x.shape[0]))


def _result(ctx: StudyContext, measured: _Measurements, tensors: dict[str, np.ndarray], trajectories: dict[str, Trajectory],
            iterations: list[int], probe: int) -> StudyResult:
    """The measurements as tensors, one curve per layer and the summary (start and end values)."""
    layers = list(measured.per_layer)
    curves: dict[str, Any] = {}
    summary: dict[str, Any] = {
        "width": float(ctx.run.config.model.width),
        "layers": layers,
        "iterations": iterations,
        "probe": probe,
    }
    for name in layers:
        v = measured.per_layer[name]
        _layer_tensors(tensors, name, v, trajectories.get(name))
        curve: dict[str, list[Any]] = {"iteration": list(iterations)}
        for key in ("frame_potential", "fp_ratio", "distance_from_init", "relative_distance", "stable_rank",
                    "alpha", "spikes", "mean_angle_to_centre", "repeated_pairs", "removable_units"):
            if key in v:
                curve[key] = [float(x) if isinstance(x, float) else int(x) for x in v[key]]
        curves[name] = curve
        units = int(layer_weight(ctx.state(iterations[-1]), name).shape[0])
        summary[name] = {"units": units, **_layer_summary(v, measured.clusters_used.get(name), measured.alpha_status.get(name))}
        if "repeated_end" in summary[name] and units > 1:  # pairs grow as n², so widths compare by the fraction
            summary[name]["repeated_fraction_end"] = summary[name]["repeated_end"] / (units * (units - 1) / 2)
    return StudyResult(tensors=tensors, summary=summary, curves=curves, attrs={"alpha_status": measured.alpha_status})


def _layer_tensors(tensors: dict[str, np.ndarray], name: str, v: dict[str, list[Any]], trajectory: Any) -> None:
    """The per-checkpoint lists of one layer as stacked arrays at their store paths."""
    paths = {
        "frame_potential": "frame_potential",
        "fp_ratio": "fp_ratio",
        "distance_from_init": "distance_from_init",
        "relative_distance": "relative_distance",
        "eigenvalues": "spectrum/eigenvalues",
        "spikes": "spectrum/spikes",
        "stable_rank": "spectrum/stable_rank",
        "alpha": "spectrum/alpha",
        "alpha_xmin": "spectrum/alpha_xmin",
        "alpha_ks": "spectrum/alpha_ks",
        "alpha_tail": "spectrum/alpha_tail",
        "angles": "clustering/angles",
        "labels": "clustering/labels",
        "sizes": "clustering/sizes",
        "centres": "clustering/centres",
        "mean_angle_to_centre": "clustering/mean_angle",
        "repeated_pairs": "repeated/count",
        "repeated_units": "repeated/units",
        "dead_units": "repeated/dead",
        "base_accuracy": "removable/base_accuracy",
        "accuracy_drop": "removable/accuracy_drop",
        "removable_units": "removable/count",
    }
    for key, path in paths.items():
        if key in v:
            tensors[tensor_path(name, path)] = np.asarray(np.stack(v[key]))
    if "pairs" in v:
        tensors[tensor_path(name, "repeated", "pairs")] = np.concatenate(v["pairs"]).astype(np.int64).reshape(-1, 3)
        tensors[tensor_path(name, "repeated", "correlation")] = np.concatenate(v["pair_correlation"]).astype(np.float64)
    if trajectory is not None:
        tensors[tensor_path(name, "trajectory", "points")] = trajectory.points
        tensors[tensor_path(name, "trajectory", "components")] = trajectory.components
        tensors[tensor_path(name, "trajectory", "explained")] = trajectory.explained


def _layer_summary(v: dict[str, list[Any]], clusters: int | None, alpha_status: str | None) -> dict[str, Any]:
    """Start and end values of one layer and whether each signature grew.

    Keys ending in ``_end`` are what :func:`compare_widths` lines up across widths
    (``dynamics_signatures.WIDTH_METRICS``); NaN marks a value that could not be computed.
    """
    out: dict[str, Any] = {}

    def ends(key: str, label: str) -> tuple[float, float] | None:
        if key not in v:
            return None
        start, end = v[key][0], v[key][-1]
        out[f"{label}_start"] = start
        out[f"{label}_end"] = end
        return float(start), float(end)

    if (fp := ends("frame_potential", "fp")) is not None:
        out["fp_ratio_end"] = float(v["fp_ratio"][-1])
        out["fp_grew"] = _grew(*fp)
    if "distance_from_init" in v:
        dist = (float(v["distance_from_init"][0]), float(v["distance_from_init"][-1]))
        out["distance_end"] = dist[1]
        out["rel_distance_end"] = float(v["relative_distance"][-1])
        out["distance_grew"] = _grew(*dist)
    if (spikes := ends("spikes", "spikes")) is not None:
        out["spikes_grew"] = _grew(*spikes)
        out["stable_rank_end"] = float(v["stable_rank"][-1])
        out["alpha_end"] = float(v["alpha"][-1])
        out["alpha_status"] = alpha_status
    if (angle := ends("mean_angle_to_centre", "angle")) is not None:
        # clustering grows when units move closer to their centres (the mean angle shrinks)
        out["clustering_grew"] = _grew(angle[1], angle[0])
        out["clusters"] = clusters
    ends("repeated_pairs", "repeated")
    ends("removable_units", "removable")
    return out


KIND = StudyKind(
    name="dynamics",
    config=DynamicsConfig,
    run=run,
    check=check,
    description="how redundancy forms during training: FP, distance from init, spectrum, clustering, repeated/removable units",
)

__all__ = ["KIND", "DynamicsConfig", "METRICS", "activation_moments", "compare_widths", "check", "run"]

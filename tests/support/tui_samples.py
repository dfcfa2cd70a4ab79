"""Sample stores for the TUI tests, written through the real ``Store`` with fixed data.

Stage files carry the attributes the engine writes (``redundancy.store.stages``)
and each study's ``summary`` and ``curves`` in the JSON format its issue
documents, with values from closed-form curves, so screenshots are the same on
every machine. The TUI test modules import these builders (and ``tests/conftest.py`` builds the
default sample once per session as the ``tui_sample`` fixture).
"""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from redundancy.store import Store

FIXED = {
    "redundancy_version": "0.1.0",
    "torch_version": "2.4.0",
    "cuda_version": "none",
    "python_version": "3.11.0",
    "device": "cpu",
    "host": "lab",
    "created": "2026-01-01T00:00:00+0000",
    "spec_name": "sample",
}

SPEC_TEXT = """\
name: sample
seed: 0
data:
  name: xord
model:
  name: mlp
  widths: [16]
train:
  iterations: 60
grid:
  seed: [0, 1]
studies:
  - kind: pruning
  - kind: subspace
  - kind: lottery
  - kind: dynamics
"""


def stage_id(kind: str, *parts: object) -> str:
    return f"{kind}-" + hashlib.sha256(json.dumps(parts).encode()).hexdigest()[:16]


def run_config(seed: int, width: float = 1.0) -> dict[str, Any]:
    return {
        "seed": seed,
        "data": {"name": "xord", "input_dim": 3},
        "model": {"name": "mlp", "widths": [16], "width": width},
        "train": {"iterations": 60, "lr": 0.05, "optimizer": "sgd", "batch_size": 32},
    }


def write_run(store: Store, label: str, seed: int, *, width: float = 1.0, sid: str | None = None) -> str:
    """A train stage: metrics over 4 evaluations and weights at iterations 0 and 60."""
    sid = sid or stage_id("train", label, seed, width)
    it = np.array([0, 20, 40, 60])
    shift = 0.02 * seed
    metrics = {
        "iteration": it,
        "train_loss": np.array([0.69, 0.40, 0.25, 0.18]) + shift,
        "val_loss": np.array([0.70, 0.45, 0.31, 0.27]) + shift,
        "test_loss": np.array([0.70, 0.46, 0.33, 0.28]) + shift,
        "val_accuracy": np.array([0.50, 0.78, 0.88, 0.91]) - shift,
        "test_accuracy": np.array([0.49, 0.77, 0.87, 0.90]) - shift,
    }
    grid = np.add.outer(np.arange(16.0), np.arange(6.0))
    tensors: dict[str, Any] = {f"metrics/{k}": v for k, v in metrics.items()}
    tensors["checkpoints/00000000/blocks.fc1.layer.weight"] = (np.sin(grid) * 0.3).astype(np.float32)
    tensors["checkpoints/00000060/blocks.fc1.layer.weight"] = (np.sin(grid) * 0.3 + np.cos(grid) * 0.1).astype(np.float32)
    tensors["checkpoints/00000060/blocks.fc1.layer.bias"] = np.linspace(-0.1, 0.1, 16).astype(np.float32)
    tensors["checkpoints/00000060/blocks.fc2.layer.weight"] = np.cos(np.add.outer(np.arange(2.0), np.arange(16.0))).astype(np.float32)
    config = run_config(seed, width)
    attrs = {
        **FIXED,
        "stage_kind": "train",
        "run": label,
        "grid_point": json.dumps({"seed": seed}),
        "config": json.dumps(config),
        "identity": json.dumps(config),
        "model": "mlp",
        "width": width,
        "dataset": "xord",
        "data_source": "synthetic xor-of-pairs",
        "offline_subset": False,
        "seed": seed,
        "iterations": 60,
        "best_iteration": 60,
        "checkpoint_iterations": "[0, 60]",
        "test_accuracy": float(metrics["test_accuracy"][-1]),
        "test_accuracy_at_best": float(metrics["test_accuracy"][-1]),
        "best_val_loss": float(metrics["val_loss"].min()),
    }
    store.write_stage(sid, attrs, tensors)
    return sid


# --- each kind's curves and summary, in its issue's documented format -----------------------------


def _r(values: Any) -> list[float]:
    return [round(float(v), 4) for v in values]


def pruning_result(seed: int) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    n = 16
    k = np.arange(0, n + 1, 2)
    f = k / n
    base = 0.9 - 0.02 * seed
    shapes = {
        "magnitude:smallest": base - 0.4 * f**3,
        "magnitude:largest": base - 0.4 * f**0.5,
        "frame_potential:smallest": base - 0.4 * f**4,
        "frame_potential:largest": base - 0.4 * f**0.4,
    }
    curves: dict[str, Any] = {}
    for name, acc in shapes.items():
        curves[name] = {
            "units_removed": k.tolist(), "units": n, "accuracy": _r(acc), "loss": _r(1.2 - acc),
            "frame_potential": _r((n - k) ** 2 / 6 + (n - k)),
        }
    mean = base - 0.4 * f**1.5
    curves["random"] = {
        "units_removed": k.tolist(), "units": n, "accuracy": _r(mean), "std": _r(0.03 * np.sin(np.pi * f)),
        "seeds": [_r(mean + d * 0.02 * np.sin(np.pi * f)) for d in (-1, 0, 1)], "loss": _r(1.2 - mean),
        "frame_potential": _r((n - k) ** 2 / 6 + (n - k)),
    }
    summary = {}
    for name, c in curves.items():
        acc = np.array(c["accuracy"])
        row = {f"acc@{p}%": round(float(np.interp(p / 100, f, acc)), 4) for p in (10, 25, 50, 75, 90)}
        row["auc"] = round(float(np.sum((f[1:] - f[:-1]) * (acc[1:] + acc[:-1]) / 2)), 4)
        summary[name] = row
    tensors = {"fc1@final/units_removed": k, "fc1@final/magnitude/smallest/order": np.arange(n)}
    return summary, curves, tensors


def subspace_result(seed: int) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    ks = list(range(0, 7))
    full = 0.9 - 0.02 * seed
    curves: dict[str, Any] = {}
    for basis, rate in (("top", 1.5), ("bottom", 0.25), ("random", 0.6)):
        acc = [full - 0.4 * math.exp(-rate * k) for k in ks]
        curve: dict[str, Any] = {
            "k": ks, "accuracy": _r(acc), "loss": _r([1.2 - a for a in acc]),
            "residual_spectral_norm": _r([2.0 * math.exp(-0.5 * k) for k in ks]),
            "energy_kept": _r([1 - math.exp(-rate * k) for k in ks]),
        }
        if basis == "random":
            curve["std"] = _r([0.02 * math.exp(-0.3 * k) for k in ks])
        curves[basis] = curve
    row = {"fc1@final:update": {**curves, "singular_values": _r([2.0 * math.exp(-0.5 * i) for i in range(6)]),
                                "accuracy_full": full, "accuracy_reset": full - 0.4, "rank": 6}}
    summary = {
        f"fc1@final:update/{b}": {"rank": 6, "k_within_1pt": k1, "k_within_5pt": k5, "acc_k1": curves[b]["accuracy"][1],
                                  "acc_full": full}
        for b, k1, k5 in (("top", 4, 2), ("bottom", None, 6), ("random", 6, 4))
    }
    tensors = {"fc1@final/singular_values/update": np.array([2.0 * math.exp(-0.5 * i) for i in range(6)])}
    return summary, row, tensors


def lottery_result(seed: int) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    rounds = list(range(6))
    sparsity = [1 - 0.8**r for r in rounds]
    ticket = [0.9 - 0.02 * seed - (0.002 * r if r < 4 else 0.05 * (r - 3)) for r in rounds]
    curves = {
        "rounds": rounds,
        "sparsity": _r(sparsity),
        "accuracy": _r(ticket),
        "early_stop_iteration": [60, 60, 40, 40, 60, 20],
        "reinit": {"accuracy": _r([0.9 - 0.04 * r for r in rounds])},
        "random_mask": {"accuracy": _r([0.9 - 0.05 * r for r in rounds])},
        "concentration": {
            layer: {
                "dispersion": _r([1 + scale * r for r in rounds]),
                "null_dispersion": _r([1 - 0.05 * r for r in rounds]),
                "p_value": _r([1.0] + [10 ** (-r * scale) for r in rounds[1:]]),
                "gini": _r([0.0] + [0.05 * r * scale + 0.02 for r in rounds[1:]]),
                "null_gini": _r([0.0] + [0.03 * r for r in rounds[1:]]),
                "empty_units": [0, 0, 0, 1, 2, 4],
                "expected_empty_units": _r([0, 0, 0, 0.1, 0.4, 1.2]),
                "conditional_survival": _r([1 - 0.15 * r * (1 - scale / 4) for r in rounds]),
                "density": _r([0.8**r for r in rounds]),
            }
            for layer, scale in (("fc1", 1.0), ("fc2", 0.2))
        },
    }
    summary = {
        "fc1": {"first_round_below_dense": 4, "concentrated": True, "p_value": 1e-5},
        "fc2": {"first_round_below_dense": 4, "concentrated": False, "p_value": 0.12},
        "dense_accuracy": 0.9 - 0.02 * seed,
        "ticket_accuracy": ticket[-1],
    }
    tensors = {"masks/fc1": (np.add.outer(np.arange(6), np.arange(16)) % 3 > 0).astype(np.uint8)}
    return summary, curves, tensors


def dynamics_result(seed: int) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    it = [0, 1, 3, 10, 30, 60]
    curves = {}
    for layer, scale in (("fc1", 1.0), ("fc2", 0.5)):
        growth = [1 - math.exp(-i / 20) for i in it]
        curves[layer] = {
            "iteration": it,
            "frame_potential": _r([40 + 30 * scale * g for g in growth]),
            "fp_ratio": _r([1.1 + 0.8 * scale * g for g in growth]),
            "distance_from_init": _r([3 * scale * g for g in growth]),
            "stable_rank": _r([5 - 2 * scale * g for g in growth]),
            "alpha": _r([6 - 2 * scale * g for g in growth]),
            "spikes": [0, 0, 0, 1, 1, 2],
            "mean_angle_to_centre": _r([50 - 10 * scale * g for g in growth]),
            "repeated_pairs": [0, 0, 0, 0, 1, 2],
            "removable_units": [3, 3, 4, 5, 6, 6],
        }
    summary = {
        layer: {
            "frame_potential": {"start": c["frame_potential"][0], "end": c["frame_potential"][-1], "grew": True},
            "distance_from_init": {"start": 0.0, "end": c["distance_from_init"][-1], "grew": True},
        }
        for layer, c in curves.items()
    }
    tensors = {"fc1/trajectory/points": np.zeros((6, 16, 2)), "iterations": np.array(it)}
    return summary, curves, tensors


RESULTS = {"pruning": pruning_result, "subspace": subspace_result, "lottery": lottery_result, "dynamics": dynamics_result}


def write_study(
    store: Store, kind: str, run_id: str, run_label: str, name: str,
    summary: dict[str, Any], curves: dict[str, Any], tensors: dict[str, Any], *, sid: str | None = None,
) -> str:
    """A study stage with the attributes ``store.stages.study_attrs`` writes."""
    sid = sid or stage_id(kind, run_id, name)
    config = {"kind": kind, "name": name}
    attrs = {
        **FIXED,
        "stage_kind": "study",
        "study_kind": kind,
        "study": name,
        "run": run_label,
        "run_stage_id": run_id,
        "config": json.dumps(config),
        "identity": json.dumps({**config, "run": run_id}),
        "summary": json.dumps(summary),
        "curves": json.dumps(curves),
    }
    store.write_stage(sid, attrs, {f"results/{k}": v for k, v in tensors.items()})
    return sid


def write_index(store: Store, plan: list[dict[str, Any]], failures: list[dict[str, Any]] | None = None) -> None:
    links = {}
    for row in plan:
        path = f"runs/{row['run']}" if row["kind"] == "train" else f"studies/{row['run']}/{row['name']}"
        links[path] = row["id"]
    store.write_index(
        {
            **FIXED,
            "spec_text": SPEC_TEXT,
            "spec_resolved": json.dumps({"name": "sample", "seed": 0, "grid": {"seed": [0, 1]}}),
            "plan": json.dumps(plan),
            "failures": json.dumps(failures or []),
        },
        links,
    )


def sample_store(root: Path, *, kinds: tuple[str, ...] = tuple(RESULTS), seeds: tuple[int, ...] = (0, 1)) -> Store:
    """A grid of runs (one per seed), each with one study of every kind, and its index."""
    store = Store(root)
    plan: list[dict[str, Any]] = []
    studies: list[dict[str, Any]] = []
    for seed in seeds:
        label = f"seed{seed}"
        run_id = write_run(store, label, seed)
        plan.append({"id": run_id, "kind": "train", "run": label, "name": label, "point": {"seed": seed}})
        for kind in kinds:
            summary, curves, tensors = RESULTS[kind](seed)
            sid = write_study(store, kind, run_id, label, kind, summary, curves, tensors)
            studies.append({"id": sid, "kind": kind, "run": label, "name": kind, "point": {"seed": seed}})
    write_index(store, plan + studies)
    return store


def big_store(root: Path, runs: int = 100, studies: int = 10) -> Store:
    """``runs`` × ``studies`` stages with tiny tensors, for the listing test and its timing."""
    store = Store(root)
    plan: list[dict[str, Any]] = []
    tiny = {"results/x": np.zeros(4)}
    kinds = list(RESULTS)
    summary, curves, _ = pruning_result(0)
    for r in range(runs):
        label = f"width{r}"
        run_id = stage_id("train", label)
        store.write_stage(run_id, {**FIXED, "stage_kind": "train", "run": label, "config": "{}"},
                          {"metrics/iteration": np.arange(3), "metrics/test_accuracy": np.zeros(3)})
        plan.append({"id": run_id, "kind": "train", "run": label, "name": label, "point": {}})
        for s in range(studies):
            kind = kinds[s % len(kinds)]
            name = f"{kind}{s}"
            sid = write_study(store, kind, run_id, label, name, summary, curves, tiny, sid=stage_id(kind, label, s))
            plan.append({"id": sid, "kind": kind, "run": label, "name": name, "point": {}})
    write_index(store, plan)
    return store

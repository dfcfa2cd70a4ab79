"""Stages as pure functions, and how their results become store files.

``execute_train`` and ``execute_study`` take a resolved config and input
tensors and return result tensors; they never touch the store, so any executor
(this process, a Ray task, a SLURM job) can run them and the driver alone
writes what they return with ``store_train`` / ``store_study``.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from redundancy import __version__
from redundancy.data import DataBundle, load_data
from redundancy.engine.plan import StudyStage, TrainStage, canonical_run, canonical_study
from redundancy.spec.schema import RunConfig, StudyConfig
from redundancy.store import Store, StageInfo, now_iso, to_json
from redundancy.studies import STUDIES, RunArtifacts, StudyContext, StudyResult
from redundancy.studies.base import ProgressFn
from redundancy.train import StepCallback, TrainResult, train_model


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """``auto`` is CUDA when present, else CPU."""
    if str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        from redundancy.errors import RedundancyError

        raise RedundancyError(f"device {device!r} asked for, but CUDA is not available here; use --device cpu")
    return dev


def _git_commit() -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5, cwd=os.getcwd()
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def provenance(device: torch.device) -> dict[str, Any]:
    """Versions, device and time recorded on every stage file."""
    name = str(device)
    if device.type == "cuda":
        name = f"{device} ({torch.cuda.get_device_name(device)})"
    return {
        "redundancy_version": __version__,
        "torch_version": torch.__version__,
        "cuda_version": torch.version.cuda or "none",
        "python_version": platform.python_version(),
        "device": name,
        "host": platform.node(),
        "created": now_iso(),
        "git_commit": _git_commit(),
    }


class DataCache:
    """Loads each (data config, validation split) once per process."""

    def __init__(self, device: torch.device, data_root: str | None = None):
        self.device = device
        self.data_root = data_root
        self._cache: dict[str, DataBundle] = {}

    def get(self, run: RunConfig) -> DataBundle:
        key = json.dumps([run.data.model_dump(mode="json"), run.train.validation], sort_keys=True)
        if key not in self._cache:
            self._cache[key] = load_data(run.data, validation=run.train.validation, data_root=self.data_root, device=self.device)
        return self._cache[key]


# --- pure stage functions ---------------------------------------------------------------------


def execute_train(
    run: RunConfig, data: DataBundle, device: torch.device, callback: StepCallback | None = None
) -> TrainResult:
    return train_model(run.model, run.train, data, seed=run.seed, device=device, callback=callback)


def execute_study(
    study: StudyConfig, run: RunArtifacts, data: DataBundle, device: torch.device, progress: ProgressFn | None = None
) -> StudyResult:
    ctx = StudyContext(run=run, data=data, device=device)
    if progress is not None:
        ctx.progress = progress
    return STUDIES[study.kind].run(study, ctx)


# --- serialization ----------------------------------------------------------------------------


def checkpoint_group(iteration: int) -> str:
    return f"checkpoints/{iteration:08d}"


def train_tensors(result: TrainResult) -> dict[str, Any]:
    tensors: dict[str, Any] = {}
    for it, state in result.checkpoints.items():
        for name, value in state.items():
            tensors[f"{checkpoint_group(it)}/{name}"] = value.float() if value.is_floating_point() else value
    for name, series in result.metrics.items():
        tensors[f"metrics/{name}"] = series
    return tensors


def train_attrs(stage: TrainStage, result: TrainResult, data: DataBundle, prov: dict[str, Any], spec_name: str) -> dict[str, Any]:
    m = result.metrics
    final = result.metric_at("test_accuracy", result.final_iteration)
    at_best = result.metric_at("test_accuracy", result.best_iteration)
    return {
        "stage_kind": "train",
        "spec_name": spec_name,
        "run": stage.label,
        "grid_point": to_json(stage.point),
        "config": to_json(stage.config.model_dump(mode="json")),
        "identity": to_json(canonical_run(stage.config)),
        "model": stage.config.model.name,
        "width": stage.config.model.width,
        "dataset": stage.config.data.name,
        "data_source": data.source,
        "offline_subset": bool(data.offline_subset),
        "data_sha256": to_json(data.sha256),
        "data_files": to_json(data.files),
        "seed": stage.config.seed,
        "iterations": int(result.final_iteration),
        "best_iteration": int(result.best_iteration),
        "checkpoint_iterations": to_json(sorted(result.checkpoints)),
        "test_accuracy": final,
        "test_accuracy_at_best": at_best,
        "best_val_loss": float(np.min(m["val_loss"])),
        **prov,
    }


def store_train(store: Store, stage: TrainStage, result: TrainResult, data: DataBundle, prov: dict[str, Any], spec_name: str) -> None:
    store.write_stage(stage.id, train_attrs(stage, result, data, prov, spec_name), train_tensors(result))


def study_attrs(stage: StudyStage, result: StudyResult, prov: dict[str, Any], spec_name: str) -> dict[str, Any]:
    return {
        "stage_kind": "study",
        "spec_name": spec_name,
        "study_kind": stage.config.kind,
        "study": stage.name,
        "run": stage.run.label,
        "run_stage_id": stage.run.id,
        "config": to_json(stage.config.model_dump(mode="json")),
        "identity": to_json(canonical_study(stage.config)),
        "summary": to_json(result.summary),
        "curves": to_json(result.curves),
        **{f"result_{k}": v for k, v in result.attrs.items()},
        **prov,
    }


def store_study(store: Store, stage: StudyStage, result: StudyResult, prov: dict[str, Any], spec_name: str) -> None:
    tensors = {f"results/{path}": value for path, value in result.tensors.items()}
    store.write_stage(stage.id, study_attrs(stage, result, prov, spec_name), tensors)


def load_run(store: Store, run_stage_id: str) -> RunArtifacts:
    """Read a finished train stage back: config, checkpoints and metrics."""
    info: StageInfo = store.stage(run_stage_id)
    config = RunConfig.model_validate(info.json_attr("config"))
    tensors = store.read_tensors(run_stage_id)
    checkpoints: dict[int, dict[str, torch.Tensor]] = {}
    metrics: dict[str, np.ndarray] = {}
    for path, value in tensors.items():
        head, _, rest = path.partition("/")
        if head == "checkpoints":
            it, _, name = rest.partition("/")
            checkpoints.setdefault(int(it), {})[name] = torch.from_numpy(np.ascontiguousarray(value))
        elif head == "metrics":
            metrics[rest] = value
    return RunArtifacts(
        run_id=run_stage_id,
        config=config,
        checkpoints=checkpoints,
        best_iteration=int(info.attrs["best_iteration"]),
        final_iteration=int(info.attrs["iterations"]),
        metrics=metrics,
    )


@dataclass
class StageFailure:
    stage_id: str
    label: str
    point: dict[str, Any]
    error: str

"""Stages as pure functions, and how their results become store files.

``execute_train`` and ``execute_study`` take a resolved config and input
tensors and return result tensors; they never touch the store, so any executor
(this process, a Ray task, a SLURM job) can run them and the driver alone
writes what they return (:mod:`redundancy.engine.codec` turns results into
stage files and back).
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
from dataclasses import dataclass
from typing import Any

import torch

from redundancy.data import DataBundle, load_data
from redundancy.engine.threads import compute_library
from redundancy.errors import RedundancyError
from redundancy.spec.schema import RunConfig, StudyConfig
from redundancy.store import layout as L
from redundancy.store import now_iso
from redundancy.studies import RunArtifacts, StudyContext, StudyResult
from redundancy.studies.plugins import kind_of, plugin_of
from redundancy.studies.base import ProgressFn
from redundancy.train import Resume, StepCallback, TrainResult, train_model
from redundancy.version import __version__


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
    """Versions, device, CPU threads and libraries, and time recorded on every stage file."""
    name = str(device)
    if device.type == "cuda":
        name = f"{device} ({torch.cuda.get_device_name(device)})"
    return {
        L.A_REDUNDANCY_VERSION: __version__,
        L.A_TORCH_VERSION: torch.__version__,
        L.A_CUDA_VERSION: torch.version.cuda or "none",
        L.A_PYTHON_VERSION: platform.python_version(),
        L.A_DEVICE: name,
        L.A_DEVICE_TYPE: device.type,
        **compute_library(),
        L.A_HOST: platform.node(),
        L.A_CREATED: now_iso(),
        L.A_GIT_COMMIT: _git_commit(),
    }


def current_environment() -> dict[str, str]:
    """This process's environment as a stage would record it (:data:`layout.ENVIRONMENT`)."""
    from redundancy.store.environment import environment_of

    return environment_of({L.A_TORCH_VERSION: torch.__version__, L.A_CUDA_VERSION: torch.version.cuda or "none", **compute_library()})


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
    run: RunConfig, data: DataBundle, device: torch.device, callback: StepCallback | None = None, resume: Resume | None = None
) -> TrainResult:
    if getattr(run.train, "from_checkpoints", None):  # weights trained elsewhere: import and evaluate them
        from redundancy.checkpoints import import_checkpoints

        return import_checkpoints(run, data, device)  # type: ignore[arg-type]
    return train_model(run.model, run.train, data, seed=run.seed, device=device, callback=callback, resume=resume)


class NonFiniteWeights(RedundancyError):
    """A checkpoint a study would read holds NaN or infinite weights."""


def non_finite_weights(run: RunArtifacts) -> None:
    """Refuse a run whose checkpoints hold NaN or infinite values, naming the first such layer.

    Every study computes on weights (norms, Gram matrices, SVDs, K-Means): on non-finite ones
    they either fail deep inside a library (an eigensolver that does not converge, an index
    past an empty selection) or, worse, return numbers. The training stage reports a loss that
    stops being finite as diverged; this catches what gets past it (a layer the loss does not see).
    """
    from redundancy.models import param_layer

    for iteration, state in sorted(run.checkpoints.items()):
        for name, value in state.items():
            if value.is_floating_point() and not bool(torch.isfinite(value).all()):
                bad = int((~torch.isfinite(value)).sum())
                raise NonFiniteWeights(
                    f"layer {param_layer(name)} {name.split('.')[-1]} holds {bad:,} non-finite value(s) (NaN or inf) "
                    f"at iteration {iteration} of run {run.run_id}; the study needs finite weights"
                )


def execute_study(
    study: StudyConfig, run: RunArtifacts, data: DataBundle, device: torch.device, progress: ProgressFn | None = None
) -> StudyResult:
    non_finite_weights(run)
    ctx = StudyContext(run=run, data=data, device=device)
    if progress is not None:
        ctx.progress = progress
    plugin = plugin_of(study)
    if plugin is None:
        return kind_of(study).run(study, ctx)
    from redundancy.store.results import Results
    from redundancy.studies.plugins import PluginError, call

    if study.plugin_identity is not None and plugin.identity != study.plugin_identity:
        # e.g. a worker with another version installed than where the spec was resolved
        raise PluginError(f"{plugin.describe()} is not the one the spec was resolved with ({study.plugin_identity}); install the same version")
    result = call(plugin, "run", plugin.kind.run, study, ctx)
    if not isinstance(result, StudyResult):
        raise PluginError(f"{plugin.describe()} returned a {type(result).__name__}, not a StudyResult")
    schema = plugin.kind.results
    if schema is not None and result.results is None:
        result.results = call(plugin, "its result schema", schema.decode_v01, result.summary, result.curves, study.model_dump(mode="json"))
    if result.results is not None and not isinstance(result.results, Results):
        raise PluginError(f"{plugin.describe()}: its typed results are a {type(result.results).__name__}, not a redundancy.store.results.Results")
    return result


@dataclass
class StageFailure:
    stage_id: str
    label: str
    point: dict[str, Any]
    error: str

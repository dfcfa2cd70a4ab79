"""The stage codec: how a train or study result becomes a stage file's content, and back.

``train_attrs`` / ``train_tensors`` and ``study_attrs`` / ``study_tensors`` give
a stage file's attributes and datasets as plain objects, so a worker anywhere
can build them and the driver alone writes them (``store_train`` /
``store_study``). ``load_run`` reads a train stage back as the studies'
:class:`RunArtifacts`; ``artifacts_from`` gives the same from a fresh result
without a round trip through the disk.

It lives in the engine, not the store: it speaks the train and study results'
types, which sit above the store (the store knows only paths, attributes and files).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from redundancy.data import DataBundle, get_dataset
from redundancy.data.contract import contract_kind, describe
from redundancy.engine.plan import StudyStage, TrainStage
from redundancy.spec.schema import RunConfig
from redundancy.store import layout as L
from redundancy.store.files import StageInfo, Store, to_json
from redundancy.store.results import to_plain
from redundancy.studies.base import RunArtifacts, StudyResult
from redundancy.train import TrainResult


def train_tensors(result: TrainResult) -> dict[str, Any]:
    tensors: dict[str, Any] = {}
    for it, state in result.checkpoints.items():
        for name, value in state.items():
            tensors[L.checkpoint_path(it, name)] = value.float() if value.is_floating_point() else value
    for name, series in result.metrics.items():
        tensors[L.metric_path(name)] = series
    return tensors


def train_attrs(stage: TrainStage, result: TrainResult, data: DataBundle, prov: dict[str, Any], spec_name: str) -> dict[str, Any]:
    m = result.metrics
    final = result.metric_at("test_accuracy", result.final_iteration)
    at_best = result.metric_at("test_accuracy", result.best_iteration)
    return {
        L.A_STAGE_KIND: L.KIND_TRAIN,
        L.A_SPEC_NAME: spec_name,
        L.A_RUN: stage.label,
        L.A_GRID_POINT: to_json(stage.point),
        L.A_CONFIG: to_json(stage.config.model_dump(mode="json")),
        L.A_IDENTITY: to_json(stage.identity),
        L.A_MODEL: stage.config.model.name,
        L.A_WIDTH: stage.config.model.width,
        L.A_DATASET: stage.config.data.name,
        L.A_DATA_SOURCE: data.source,
        L.A_OFFLINE_SUBSET: bool(data.offline_subset),
        L.A_DATA_SHA256: to_json(data.sha256),
        L.A_DATA_FILES: to_json(data.files),
        L.A_SEED: stage.config.seed,
        L.A_ITERATIONS: int(result.final_iteration),
        L.A_BEST_ITERATION: int(result.best_iteration),
        L.A_CHECKPOINT_ITERATIONS: to_json(sorted(result.checkpoints)),
        L.A_TEST_ACCURACY: final,
        L.A_TEST_ACCURACY_AT_BEST: at_best,
        L.A_BEST_VAL_LOSS: float(np.min(m["val_loss"])),
        **_contract_attrs(stage.config, data),
        **prov,
    }


def _contract_attrs(run: Any, data: DataBundle) -> dict[str, Any]:
    """For an imported run, the data contract it was evaluated under (trained runs carry none: their data is the tool's)."""
    kind = contract_kind(run)
    if kind is None:
        return {}
    try:
        entry = get_dataset(run.data.name)
        text = describe(run, entry.sizes(run.data), entry.normalization)
    except Exception as exc:  # the description is for readers; the contract's kind is what counts
        text = f"data contract not described ({type(exc).__name__})"
    return {L.A_DATA_CONTRACT: kind, L.A_DATA_CONTRACT_TEXT: text}


def store_train(store: Store, stage: TrainStage, result: TrainResult, data: DataBundle, prov: dict[str, Any], spec_name: str) -> None:
    store.write_stage(stage.id, train_attrs(stage, result, data, prov, spec_name), train_tensors(result))


def study_attrs(stage: StudyStage, result: StudyResult, prov: dict[str, Any], spec_name: str) -> dict[str, Any]:
    return {
        L.A_STAGE_KIND: L.KIND_STUDY,
        L.A_SPEC_NAME: spec_name,
        L.A_STUDY_KIND: stage.config.kind,
        L.A_STUDY: stage.name,
        L.A_RUN: stage.run.label,
        L.A_RUN_STAGE_ID: stage.run.id,
        L.A_CONFIG: to_json(stage.config.model_dump(mode="json", exclude=None if stage.config.plugin else {"plugin", "plugin_identity"})),
        L.A_IDENTITY: to_json(stage.identity),
        L.A_SUMMARY: to_json(result.summary),
        L.A_CURVES: to_json(result.curves),
        **({L.A_RESULTS: to_json(to_plain(result.results))} if result.results is not None else {}),
        **{L.result_attr(k): v for k, v in result.attrs.items()},
        **prov,
    }


def study_tensors(result: StudyResult) -> dict[str, Any]:
    return {L.result_path(path): value for path, value in result.tensors.items()}


def store_study(store: Store, stage: StudyStage, result: StudyResult, prov: dict[str, Any], spec_name: str) -> None:
    store.write_stage(stage.id, study_attrs(stage, result, prov, spec_name), study_tensors(result))


def load_run(store: Store, run_stage_id: str) -> RunArtifacts:
    """Read a finished train stage back: config, checkpoints and metrics."""
    info: StageInfo = store.stage(run_stage_id)
    config = RunConfig.model_validate(info.json_attr(L.A_CONFIG))
    tensors = store.read_tensors(run_stage_id)
    checkpoints: dict[int, dict[str, torch.Tensor]] = {}
    metrics: dict[str, np.ndarray] = {}
    for path, value in tensors.items():
        head, rest = L.split_dataset_path(path)
        if head == L.CHECKPOINTS:
            it, name = L.split_checkpoint(rest)
            checkpoints.setdefault(it, {})[name] = torch.from_numpy(np.ascontiguousarray(value))
        elif head == L.METRICS:
            metrics[rest] = value
    return RunArtifacts(
        run_id=run_stage_id,
        config=config,
        checkpoints=checkpoints,
        best_iteration=int(info.attrs[L.A_BEST_ITERATION]),
        final_iteration=int(info.attrs[L.A_ITERATIONS]),
        metrics=metrics,
    )


def artifacts_from(run_stage_id: str, config: Any, result: TrainResult) -> RunArtifacts:
    """A fresh train result as :func:`load_run` would read it back from its stage file.

    Checkpoints go through the same float32 cast the store applies, so a study
    chained behind its train stage sees exactly what a separate study stage
    would; they are copies, so a study can never alter what is stored.
    """
    checkpoints: dict[int, dict[str, torch.Tensor]] = {}
    for path, value in train_tensors(result).items():
        head, rest = L.split_dataset_path(path)
        if head == L.CHECKPOINTS:
            it, name = L.split_checkpoint(rest)
            checkpoints.setdefault(it, {})[name] = value.detach().cpu().clone(memory_format=torch.contiguous_format)
    return RunArtifacts(
        run_id=run_stage_id,
        config=config,
        checkpoints=checkpoints,
        best_iteration=int(result.best_iteration),
        final_iteration=int(result.final_iteration),
        metrics={k: np.array(v, copy=True) for k, v in result.metrics.items()},
    )

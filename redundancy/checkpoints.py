"""Studying weights trained elsewhere: ``train.from_checkpoints`` instead of training.

A spec's ``train: {from_checkpoints: {0: init.pt, 50000: trained.pt}}`` gives an
iteration and a state-dict file for each checkpoint; the largest iteration is
``final`` and ``train.best_iteration`` (optional) names the one studies may call
``best``. A file is read without running code from it: PyTorch files with
``torch.load(weights_only=True)``, ``.safetensors`` files with safetensors. A file
holding ``{"state_dict": {...}}`` is read as its inner dict.

Parameter names are matched to the model's in this order: ``train.keys`` (file
name -> model name, written ``fc1.weight`` or ``blocks.fc1.layer.weight``), the
model's own names, the names of a plugin module's own ``state_dict`` (an adapted
``nn.Sequential``'s ``0.weight``, see :mod:`redundancy.models.adapt`), and the short
``<layer>.<param>`` form. A name that matches nothing, a model parameter no file
entry gives, a shape that differs, weights that are not floating point (int8 would be
truncated into the model's float) and NaN or infinite values are errors naming the layer.

The imported run is then evaluated on the spec's data (train, validation and
test loss and accuracy at each imported iteration), so it is stored like a
trained run and every study runs on it. Its identity is the SHA-256 of the files,
not their paths (:func:`file_digests`); the loader resolves paths relative to the
spec file. Remote workers read the files from the same absolute paths: they must
be on a file system every worker shares, and a worker whose file is missing or
differs from the one validated fails that stage saying so.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

from redundancy.errors import RedundancyError
from redundancy.models import full_param_name, param_layer, short_param_names
from redundancy.spec.schema import ResolvedRun, ResolvedTrain


class CheckpointError(RedundancyError):
    """A checkpoint file that cannot be read or does not fit the model."""


def file_digests(paths: Mapping[int, str | Path]) -> dict[int, str]:
    """SHA-256 of each file's bytes, by iteration."""
    from redundancy.data import file_sha256

    return {int(it): file_sha256(Path(p)) for it, p in paths.items()}


def read_state(path: str | Path) -> dict[str, torch.Tensor]:
    """A state dict from a PyTorch (``weights_only``) or safetensors file, on the CPU."""
    path = Path(path)
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            state: Any = load_file(str(path), device="cpu")
        else:
            state = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise CheckpointError(f"checkpoint file {path} not found (from_checkpoints files must be on a file system this machine shares)") from None
    except OSError as exc:
        raise CheckpointError(f"cannot read checkpoint {path}: {exc.strerror or exc}") from None
    except Exception as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        if "weights only" in first.lower():  # a pickle with objects other than tensors: refused, not run
            raise CheckpointError(f"cannot read checkpoint {path}: it holds objects other than tensors, which are not loaded ({first})") from None
        # Anything else (a text file, a truncated archive) fails inside the unpickler with whatever
        # error its bytes lead to (IndexError, EOFError...): that is not the user's news.
        raise CheckpointError(f"cannot read checkpoint {path}: not a state-dict file written by torch.save or safetensors") from None
    if isinstance(state, Mapping) and isinstance(state.get("state_dict"), Mapping):
        state = state["state_dict"]
    if not isinstance(state, Mapping) or not all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state.items()):
        raise CheckpointError(f"checkpoint {path} does not hold a state dict (parameter name -> tensor); found {type(state).__name__}")
    return dict(state)


def match_state(
    state: Mapping[str, torch.Tensor], model_state: Mapping[str, torch.Tensor], keys: Mapping[str, str] | None, foreign: Mapping[str, str], file: str
) -> dict[str, torch.Tensor]:
    """``state`` renamed to the model's names and checked against ``model_state`` (names and shapes)."""
    short = short_param_names(model_state)
    keys = dict(keys or {})
    bad_targets = sorted(t for t in keys.values() if full_param_name(t, model_state) not in model_state)
    if bad_targets:
        layers = ", ".join(dict.fromkeys(param_layer(k) for k in model_state))
        raise CheckpointError(f"train.keys maps to {', '.join(map(repr, bad_targets))}, not parameters of the model (its layers: {layers})")
    out: dict[str, torch.Tensor] = {}
    source: dict[str, str] = {}
    unknown = []
    for name, value in state.items():
        if name in keys:
            target = full_param_name(keys[name], model_state)
        elif name in model_state:
            target = name
        elif name in foreign:
            target = foreign[name]
        elif name in short:
            target = short[name]
        else:
            unknown.append(name)
            continue
        if target in out:
            raise CheckpointError(f"checkpoint {file}: {source[target]!r} and {name!r} both give {target} (layer {param_layer(target)})")
        out[target] = value
        source[target] = name
    if unknown:
        layers = ", ".join(dict.fromkeys(param_layer(k) for k in model_state))
        shown = ", ".join(map(repr, unknown[:5])) + (f" and {len(unknown) - 5} more" if len(unknown) > 5 else "")
        raise CheckpointError(f"checkpoint {file}: {shown} match no parameter of the model (its layers: {layers}); map them with train.keys")
    missing = [k for k in model_state if k not in out and not k.endswith("num_batches_tracked")]
    if missing:
        k = missing[0]
        more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
        raise CheckpointError(f"checkpoint {file} gives no {k.split('.')[-1]} for layer {param_layer(k)} ({k}){more}; map its name with train.keys")
    for k, value in out.items():
        want = model_state[k]
        if tuple(value.shape) != tuple(want.shape):
            raise CheckpointError(
                f"checkpoint {file}: layer {param_layer(k)} {k.split('.')[-1]} ({source[k]}) has shape {tuple(value.shape)}; the model's is {tuple(want.shape)}"
            )
        what = f"checkpoint {file}: layer {param_layer(k)} {k.split('.')[-1]} ({source[k]})"
        if want.is_floating_point() and not value.is_floating_point():
            # int8 or bool weights would be cast to float silently: quantized files need dequantizing first
            raise CheckpointError(f"{what} is {str(value.dtype).removeprefix('torch.')}, not floating point; dequantize it to float32 before importing")
        if value.is_floating_point() or value.is_complex():
            bad = int((~torch.isfinite(value)).sum())
            if bad:
                raise CheckpointError(f"{what} holds {bad:,} non-finite value(s) (NaN or inf) of {value.numel():,}; studies need finite weights")
    for k, want in model_state.items():
        if k not in out:
            out[k] = want.detach().clone()  # num_batches_tracked, which the files may leave out
    return {k: v.detach().to(model_state[k].dtype).clone() for k, v in out.items()}


def check_files(run: ResolvedRun, input_shape: tuple[int, ...], num_classes: int) -> list[tuple[int, str]]:
    """(iteration, message) for each imported file that cannot be read or does not fit the model."""
    from redundancy.models import shape_model

    model = shape_model(run.model, input_shape, num_classes)
    model_state = model.state_dict()
    foreign = getattr(model, "foreign_names", {}) or {}
    problems = []
    for it, path in sorted((run.train.from_checkpoints or {}).items()):
        try:
            match_state(read_state(path), model_state, run.train.keys, foreign, str(path))
        except CheckpointError as exc:
            problems.append((it, str(exc)))
    return problems


def _verify(train: ResolvedTrain) -> None:
    expected = train.checkpoint_sha256 or {}
    for it, path in (train.from_checkpoints or {}).items():
        p = Path(path)
        if not p.is_file():
            raise CheckpointError(f"checkpoint file {path} (iteration {it}) is not on this machine; from_checkpoints files must be on a file system every worker shares")
        got = file_digests({it: p})[it]
        if it in expected and expected[it] != got:
            raise CheckpointError(f"checkpoint file {path} (iteration {it}) changed since the spec was validated (SHA-256 {got[:12]}…, expected {expected[it][:12]}…)")


def import_checkpoints(run: ResolvedRun, data: Any, device: torch.device) -> Any:
    """The run's imported checkpoints as a :class:`~redundancy.train.TrainResult`, evaluated on ``data``."""
    from redundancy.models import build_model
    from redundancy.train import METRICS, TrainResult, evaluate

    train = run.train
    files = dict(sorted((train.from_checkpoints or {}).items()))
    _verify(train)
    model = build_model(run.model, data.input_shape, data.num_classes, run.seed)
    model_state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    foreign = getattr(model, "foreign_names", {}) or {}
    model = model.to(device).eval()
    checkpoints: dict[int, dict[str, torch.Tensor]] = {}
    series: dict[str, list[float]] = {m: [] for m in METRICS}
    for it, path in files.items():
        state = match_state(read_state(path), model_state, train.keys, foreign, str(path))
        checkpoints[it] = state
        model.load_state_dict(state)
        batch = train.eval_batch_size
        loss, _ = evaluate(model, data.train_x, data.train_y, batch)
        val_loss, val_acc = evaluate(model, data.val_x, data.val_y, batch)
        test_loss, test_acc = evaluate(model, data.test_x, data.test_y, batch)
        for name, value in zip(METRICS, (loss, val_loss, val_acc, test_loss, test_acc)):
            series[name].append(value)
    metrics = {"iteration": np.asarray(list(files), dtype=np.int64)}
    metrics.update({k: np.asarray(v, dtype=np.float64) for k, v in series.items()})
    final = max(files)
    best = train.best_iteration if train.best_iteration is not None else final
    return TrainResult(checkpoints, metrics, best, final)

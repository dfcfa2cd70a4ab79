"""Training: one run of a model on device-resident data, with checkpoints and metric series.

The loop samples batches from tensors already on the device (no per-sample
loader), evaluates every ``eval_interval`` iterations, and keeps the weights at
the requested iterations, always including iteration 0 (the initialization Z),
the final iteration and the iteration of minimum validation loss (the seed's
"iteration j").
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from redundancy.data import DataBundle
from redundancy.errors import RedundancyError
from redundancy.models import build_model
from redundancy.spec.schema import ModelConfig, TrainConfig, checkpoint_iterations

METRICS = ("train_loss", "val_loss", "val_accuracy", "test_loss", "test_accuracy")


@dataclass
class TrainResult:
    """Checkpoints (iteration -> CPU state dict), metric series on the eval axis, best iteration."""

    checkpoints: dict[int, dict[str, torch.Tensor]]
    metrics: dict[str, np.ndarray]
    best_iteration: int
    final_iteration: int
    extra: dict[str, float] = field(default_factory=dict)

    def metric_at(self, name: str, iteration: int) -> float:
        idx = int(np.searchsorted(self.metrics["iteration"], iteration))
        return float(self.metrics[name][idx])


class TrainingDiverged(RedundancyError):
    """The loss became NaN or infinite."""


@torch.no_grad()
def evaluate(
    model: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, y: torch.Tensor, batch_size: int = 1000
) -> tuple[float, float]:
    """Mean cross-entropy and accuracy of ``model`` on (x, y), one host sync at the end."""
    total_loss = torch.zeros((), device=x.device, dtype=torch.float64)
    correct = torch.zeros((), device=x.device, dtype=torch.int64)
    for start in range(0, x.shape[0], batch_size):
        logits = model(x[start : start + batch_size])
        target = y[start : start + batch_size]
        total_loss += F.cross_entropy(logits, target, reduction="sum").double()
        correct += (logits.argmax(1) == target).sum()
    n = max(1, x.shape[0])
    return float(total_loss) / n, float(correct) / n


def make_optimizer(model: nn.Module, train: TrainConfig) -> tuple[torch.optim.Optimizer, torch.optim.lr_scheduler.LRScheduler]:
    assert train.lr is not None
    if train.optimizer == "adam":
        opt: torch.optim.Optimizer = torch.optim.Adam(model.parameters(), lr=train.lr, weight_decay=train.weight_decay)
    else:
        opt = torch.optim.SGD(model.parameters(), lr=train.lr, momentum=train.momentum or 0.0, weight_decay=train.weight_decay)
    sched = torch.optim.lr_scheduler.MultiStepLR(opt, milestones=list(train.lr_milestones or []), gamma=train.lr_gamma)
    return opt, sched


def _snapshot(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}


StepCallback = Callable[[int, dict[str, float] | None], None]


def train_model(
    model_cfg: ModelConfig,
    train: TrainConfig,
    data: DataBundle,
    *,
    seed: int,
    device: torch.device | str = "cpu",
    init_state: dict[str, torch.Tensor] | None = None,
    masks: dict[str, torch.Tensor] | None = None,
    keep: Sequence[int] = (),
    callback: StepCallback | None = None,
) -> TrainResult:
    """Train ``model_cfg`` on ``data`` as ``train`` (resolved) says.

    ``masks`` maps parameter names to 0/1 tensors: masked weights start at zero,
    their gradients are zeroed before every step (so momentum and Adam moments
    stay zero) and they are zeroed again after it, so they stay exactly zero.
    ``keep`` adds checkpoint iterations to the spec's. ``callback(it, metrics)``
    is called every iteration (metrics only at evaluations).
    """
    assert train.iterations is not None and train.batch_size is not None and train.eval_interval is not None
    device = torch.device(device)
    torch.manual_seed(seed)
    model = build_model(model_cfg, data.input_shape, data.num_classes, seed)
    if init_state is not None:
        model.load_state_dict(init_state)
    model.to(device)
    params = dict(model.named_parameters())
    dev_masks: dict[str, torch.Tensor] = {}
    for name, mask in (masks or {}).items():
        if name not in params:
            raise KeyError(f"mask for unknown parameter {name!r}")
        dev_masks[name] = mask.to(device=device, dtype=params[name].dtype)
    with torch.no_grad():
        for name, mask in dev_masks.items():
            params[name].mul_(mask)

    opt, sched = make_optimizer(model, train)
    keep_at = set(checkpoint_iterations(train)) | set(keep)
    checkpoints: dict[int, dict[str, torch.Tensor]] = {}
    series: dict[str, list[float]] = {m: [] for m in ("iteration",) + METRICS}
    best_loss, best_iteration, best_state = float("inf"), 0, None

    n = data.train_x.shape[0]
    batch = min(train.batch_size, n)
    gen = torch.Generator(device=device).manual_seed(seed)
    order = torch.randperm(n, generator=gen, device=device)
    cursor = 0
    running = torch.zeros((), device=device, dtype=torch.float64)
    running_count = 0

    def eval_point(it: int) -> None:
        nonlocal best_loss, best_iteration, best_state, running, running_count
        model.eval()
        val_loss, val_acc = evaluate(model, data.val_x, data.val_y, train.eval_batch_size)
        test_loss, test_acc = evaluate(model, data.test_x, data.test_y, train.eval_batch_size)
        model.train()
        train_loss = float(running) / running_count if running_count else float("nan")
        running = torch.zeros((), device=device, dtype=torch.float64)
        running_count = 0
        if it > 0 and not np.isfinite(train_loss):
            raise TrainingDiverged(f"training loss is {train_loss} at iteration {it}")
        for key, value in zip(series, (it, train_loss, val_loss, val_acc, test_loss, test_acc)):
            series[key].append(value)
        if val_loss < best_loss:
            best_loss, best_iteration = val_loss, it
            best_state = _snapshot(model)
        if callback is not None:
            callback(it, {"train_loss": train_loss, "val_loss": val_loss, "val_accuracy": val_acc, "test_accuracy": test_acc})

    model.train()
    if 0 in keep_at:
        checkpoints[0] = _snapshot(model)
    eval_point(0)
    for it in range(1, train.iterations + 1):
        if cursor + batch > n:
            order = torch.randperm(n, generator=gen, device=device)
            cursor = 0
        idx = order[cursor : cursor + batch]
        cursor += batch
        logits = model(data.train_x[idx])
        loss = F.cross_entropy(logits, data.train_y[idx])
        opt.zero_grad(set_to_none=False)
        loss.backward()
        if dev_masks:
            for name, mask in dev_masks.items():
                params[name].grad.mul_(mask)  # type: ignore[union-attr]
        opt.step()
        sched.step()
        if dev_masks:
            with torch.no_grad():
                for name, mask in dev_masks.items():
                    params[name].mul_(mask)
        running += loss.detach().double()
        running_count += 1
        if it % train.eval_interval == 0 or it == train.iterations:
            eval_point(it)
        elif callback is not None:
            callback(it, None)
        if it in keep_at:
            checkpoints[it] = _snapshot(model)

    assert best_state is not None
    checkpoints.setdefault(best_iteration, best_state)
    metrics = {k: np.asarray(v, dtype=np.int64 if k == "iteration" else np.float64) for k, v in series.items()}
    return TrainResult(checkpoints, metrics, best_iteration, train.iterations)

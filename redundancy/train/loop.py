"""The training loop: one network, or several stacked as one model, each member with its own seed, batches and masks.

:class:`Loop` holds what the loop carries from one iteration to the next (the
trainee, its masks and optimizer, each member's batches and record, the running
training loss) with a method per part of an iteration; :func:`train_model`,
:func:`train_stacked` and :func:`train_members` are the ways in.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from redundancy.data import DataBundle
from redundancy.errors import RedundancyError
from redundancy.fast.graph import CapturedStep
from redundancy.fast.stacked import StackedNet
from redundancy.models import build_model
from redundancy.spec.schema import ModelConfig, ResolvedTrain, checkpoint_iterations
from redundancy.train.batches import Batches, gather
from redundancy.train.optimizer import lr_changes, make_optimizer
from redundancy.train.result import Record, TrainingDiverged, TrainResult
from redundancy.train.resume import Resume, restore, resume_state
from redundancy.train.stacking import stacking_pays
from redundancy.train.trainee import Single, Stacked, Trainee

StepCallback = Callable[[int, dict[str, float] | None], None]


@dataclass(frozen=True)
class Member:
    """One network of a (possibly stacked) training: its seed, initial weights and weight masks."""

    seed: int
    init_state: dict[str, torch.Tensor] | None = None
    masks: dict[str, torch.Tensor] | None = None


def use_graph(train: ResolvedTrain, device: torch.device | str) -> bool:
    """Whether training on ``device`` replays a captured CUDA graph (``train.graph``)."""
    device = torch.device(device)
    if train.graph == "off":
        return False
    if device.type != "cuda":
        if train.graph == "on":
            raise RedundancyError("train.graph: on needs a CUDA device; use auto or off on CPU")
        return False
    return True


def _trainee(model_cfg: ModelConfig, data: DataBundle, members: Sequence[Member], stacked: bool, device: torch.device) -> Trainee:
    """The members' networks built from their seeds (and initial weights), one network or stacked as one."""
    nets = []
    for m in members:
        torch.manual_seed(m.seed)  # PyTorch's default init (init: default) draws from the global generator
        net = build_model(model_cfg, data.input_shape, data.num_classes, m.seed)
        if m.init_state is not None:
            net.load_state_dict(m.init_state)
        nets.append(net)
    return Stacked(StackedNet(nets, device)) if stacked else Single(nets[0].to(device), device)


@torch.no_grad()
def _masks(trainee: Trainee, members: Sequence[Member]) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """(parameter, 0/1 mask of the same shape) for every masked parameter, the masked weights zeroed now;
    the loop applies them to gradients and weights every step."""
    masks: list[tuple[torch.Tensor, torch.Tensor]] = []
    for name in sorted({name for m in members for name in (m.masks or {})}):
        param = trainee.param(name)
        if param is None:
            raise KeyError(f"mask for unknown parameter {name!r}")
        masks.append((param, trainee.stack_masks(name, [(m.masks or {}).get(name) for m in members], param)))
    for param, mask in masks:
        param.mul_(mask)
    return masks


class Loop:
    """One training of ``members`` (see :func:`train_model` and :func:`train_stacked`)."""

    def __init__(
        self,
        model_cfg: ModelConfig,
        train: ResolvedTrain,
        data: DataBundle,
        members: Sequence[Member],
        *,
        stacked: bool,
        device: torch.device,
        keep: Sequence[int],
        callback: StepCallback | None,
        resume: Resume | None,
    ):
        self.train, self.data, self.stacked, self.callback = train, data, stacked, callback
        self.trainee = _trainee(model_cfg, data, members, stacked, device)
        self.size = self.trainee.size
        self.masks = _masks(self.trainee, members)
        self.opt = make_optimizer(self.trainee.parameters(), train)
        self.changes = lr_changes(train)
        self.keep_at = set(checkpoint_iterations(train)) | set(keep)
        self.records = [Record() for _ in range(self.size)]
        n = data.train_x.shape[0]
        self.batches = Batches([m.seed for m in members], n, min(train.batch_size, n), device, stacked)
        self.running = torch.zeros(self.size, device=device, dtype=torch.float64)
        self.running_count = 0
        self.resume = None if stacked else resume  # only single-network training resumes
        self.captured: CapturedStep | None = None

    def step_on(self, idx: torch.Tensor) -> None:
        """One optimizer step on the batch at ``idx``, masks applied to gradients and weights."""
        # gradients are set afresh each step (as after zero_grad(set_to_none=True)): no fill, no accumulate
        losses = self.trainee.forward_backward(gather(self.data.train_x, idx), gather(self.data.train_y, idx))
        for param, mask in self.masks:
            param.grad.mul_(mask)  # type: ignore[union-attr]
        self.opt.step()
        if self.masks:
            with torch.no_grad():
                for param, mask in self.masks:
                    param.mul_(mask)
        self.running.add_(losses)  # float32 losses summed in float64

    def capture(self, device: torch.device) -> None:
        """Capture the step (batch sampling included) as a CUDA graph; a step that cannot be captured runs eagerly."""
        batches, trainee = self.batches, self.trainee
        self.captured = CapturedStep(
            lambda: self.step_on(batches.graph_indices()),
            lambda: [*trainee.state_tensors(), self.running, batches.positions],
            self.opt,
            device=device,
            before_warmup=batches.rewind_positions,
            strict=self.train.graph == "on",
        )
        if self.captured.failure is not None:
            warnings.warn(f"training step could not be captured as a CUDA graph, running it eagerly: {self.captured.failure}", stacklevel=4)

    def live(self) -> list[int]:
        """The members whose loss has not diverged."""
        return [i for i, r in enumerate(self.records) if r.failure is None]

    def eval_point(self, it: int) -> None:
        """Evaluate every live member at iteration ``it``: record its metrics, its best state, or its divergence."""
        trainee, data, size = self.trainee, self.data, self.size
        trainee.train(False)
        val_loss, val_correct = trainee.evaluate_sums(data.val_x, data.val_y, self.train.eval_batch_size)
        test_loss, test_correct = trainee.evaluate_sums(data.test_x, data.test_y, self.train.eval_batch_size)
        trainee.train(True)
        host = torch.cat([val_loss, val_correct.double(), test_loss, test_correct.double(), self.running]).cpu().numpy()
        self.running.zero_()
        count, self.running_count = self.running_count, 0
        n_val, n_test = max(1, data.val_x.shape[0]), max(1, data.test_x.shape[0])
        improved: list[int] = []
        for i in self.live():
            vl, va = host[i] / n_val, host[size + i] / n_val
            tl, ta = host[2 * size + i] / n_test, host[3 * size + i] / n_test
            train_loss = host[4 * size + i] / count if count else float("nan")
            record = self.records[i]
            if it > 0 and not math.isfinite(train_loss):
                record.failure = TrainingDiverged(f"diverged: training loss is {train_loss} at iteration {it}")
                if not self.stacked:
                    raise record.failure
                continue
            for key, value in zip(record.series, (it, train_loss, vl, va, tl, ta)):
                record.series[key].append(float(value))
            if vl < record.best_loss:
                record.best_loss, record.best_iteration = float(vl), it
                improved.append(i)
        for i, state in trainee.states(improved).items():
            self.records[i].best_state = state
        self.report(it)

    def report(self, it: int) -> None:
        """The callback with the live members' mean metrics at an evaluation."""
        alive = self.live()
        if self.callback is not None and alive:
            series = [self.records[i].series for i in alive]
            self.callback(it, {k: float(np.mean([s[k][-1] for s in series])) for k in ("train_loss", "val_loss", "val_accuracy", "test_accuracy")})

    def keep_point(self, it: int) -> None:
        """Keep the live members' weights as iteration ``it``'s checkpoint."""
        for i, state in self.trainee.states(self.live()).items():
            self.records[i].checkpoints[it] = state

    def iteration(self, it: int) -> bool:
        """Iteration ``it``: its step, then its evaluation, checkpoint and resume state when due; False once every member diverged."""
        train = self.train
        factor = self.changes.get(it)
        if factor is not None:
            for group in self.opt.param_groups:
                group["lr"] = group["lr"] * factor
            if self.captured is not None:
                self.captured.recapture()
        if self.captured is not None:
            self.batches.advance()
            self.captured()
        else:
            self.step_on(self.batches.next_slice())
        self.running_count += 1
        if it % train.eval_interval == 0 or it == train.iterations:
            self.eval_point(it)
            if not self.live():
                return False
        elif self.callback is not None:
            self.callback(it, None)
        if it in self.keep_at:
            self.keep_point(it)
        resume = self.resume
        if resume is not None and it < train.iterations and (it % resume.every == 0 or it in self.keep_at):
            resume.save(resume_state(it, self.running_count, self.trainee, self.opt, self.batches, self.records, self.running))
        return True

    def run(self, graphed: bool, device: torch.device) -> list[TrainResult | TrainingDiverged]:
        """Train from the resume state when there is one, else from iteration 0; one result or divergence per member."""
        resumed = None
        if self.resume is not None:
            resumed = restore(self.resume.load(), self.trainee, self.opt, self.batches, self.records, self.running)
        if resumed is not None:
            self.running_count = resumed[1]
        if graphed:
            self.capture(device)
        self.trainee.train(True)
        if resumed is None:
            if 0 in self.keep_at:
                self.keep_point(0)
            self.eval_point(0)
        for it in range(1 if resumed is None else resumed[0] + 1, self.train.iterations + 1):
            if not self.iteration(it):
                break
        return [r.result(self.train.iterations) for r in self.records]


def train_loop(
    model_cfg: ModelConfig,
    train: ResolvedTrain,
    data: DataBundle,
    members: Sequence[Member],
    *,
    stacked: bool,
    device: torch.device | str,
    keep: Sequence[int],
    callback: StepCallback | None,
    graph: bool | None = None,
    resume: Resume | None = None,
) -> list[TrainResult | TrainingDiverged]:
    """Train ``members`` alone (one) or ``stacked``; ``graph`` overrides ``train.graph`` (None: :func:`use_graph`)."""
    device = torch.device(device)
    graphed = use_graph(train, device) if graph is None else graph
    loop = Loop(model_cfg, train, data, members, stacked=stacked, device=device, keep=keep, callback=callback, resume=resume)
    return loop.run(graphed, device)


def train_model(
    model_cfg: ModelConfig,
    train: ResolvedTrain,
    data: DataBundle,
    *,
    seed: int,
    device: torch.device | str = "cpu",
    init_state: dict[str, torch.Tensor] | None = None,
    masks: dict[str, torch.Tensor] | None = None,
    keep: Sequence[int] = (),
    callback: StepCallback | None = None,
    resume: Resume | None = None,
) -> TrainResult:
    """Train ``model_cfg`` on ``data`` as ``train`` (resolved) says.

    ``masks`` maps parameter names to 0/1 tensors: masked weights start at zero,
    their gradients are zeroed before every step (so momentum and Adam moments
    stay zero) and they are zeroed again after it, so they stay exactly zero.
    ``keep`` adds checkpoint iterations to the spec's. ``callback(it, metrics)``
    is called every iteration (metrics only at evaluations). ``resume`` keeps
    resume states and starts from the last one (:class:`Resume`). Raises
    :class:`TrainingDiverged` when the training loss stops being finite.
    """
    (result,) = train_loop(
        model_cfg, train, data, [Member(seed, init_state, masks)], stacked=False, device=device, keep=keep, callback=callback, resume=resume
    )
    if isinstance(result, TrainingDiverged):
        raise result
    return result


def train_stacked(
    model_cfg: ModelConfig,
    train: ResolvedTrain,
    data: DataBundle,
    members: Sequence[Member],
    *,
    device: torch.device | str = "cpu",
    keep: Sequence[int] = (),
    callback: StepCallback | None = None,
) -> list[TrainResult | TrainingDiverged]:
    """Train ``members`` (same architecture and training config) together as one stacked model.

    Member i gets what ``train_model(..., seed=members[i].seed, init_state=...,
    masks=...)`` would give, within floating-point tolerance: its own
    initialization, its own batch order and its own masks. A member whose loss
    diverges is returned as its :class:`TrainingDiverged` error while the others
    go on. ``callback`` gets the members' mean metrics.
    """
    if not members:
        return []
    return train_loop(model_cfg, train, data, list(members), stacked=True, device=device, keep=keep, callback=callback)


def train_members(
    model_cfg: ModelConfig,
    train: ResolvedTrain,
    data: DataBundle,
    members: Sequence[Member],
    *,
    device: torch.device | str = "cpu",
    keep: Sequence[int] = (),
) -> list[TrainResult | TrainingDiverged]:
    """Train independent networks of one architecture and config the fastest way this device allows.

    Stacked (:func:`train_stacked`) when ``train.stack`` is ``auto``, there are
    several and :func:`stacking_pays`; else one after another with
    :func:`train_model`. Either way member i's result is what ``train_model``
    gives it, within floating-point tolerance, and a diverging member is
    returned as its :class:`TrainingDiverged` error. (Lottery rounds: the ticket
    and its controls.)
    """
    if len(members) > 1 and train.stack == "auto" and stacking_pays(model_cfg, data, device):
        return train_stacked(model_cfg, train, data, members, device=device, keep=keep)
    out: list[TrainResult | TrainingDiverged] = []
    for m in members:
        try:
            out.append(train_model(model_cfg, train, data, seed=m.seed, device=device, init_state=m.init_state, masks=m.masks, keep=keep))
        except TrainingDiverged as exc:
            out.append(exc)
    return out

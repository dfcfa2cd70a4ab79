"""Training: runs of a model on device-resident data, with checkpoints and metric series.

The loop samples batches from tensors already on the device (no per-sample
loader), evaluates every ``eval_interval`` iterations with one host
synchronization, and keeps the weights at the requested iterations, always
including iteration 0 (the initialization Z), the final iteration and the
iteration of minimum validation loss (the seed's "iteration j").

Two speed-ups share this one loop, and both give the results of the plain
eager loop within floating-point tolerance:

- on CUDA the whole step (sampling included) is captured once as a CUDA graph
  and replayed (``train.graph``; :mod:`redundancy.fast.graph`);
- :func:`train_stacked` trains several networks of one architecture — seeds of
  a spec, controls of a lottery round — as one stacked model, each with its own
  initialization, batches and masks (:mod:`redundancy.fast.stacked`).

Each member draws its batches from its own device generator seeded with its
seed: a fresh ``randperm`` of the training set every epoch, consumed in
slices of ``batch_size``. A member of a stack therefore sees exactly the
batches it would see alone.
"""

from __future__ import annotations

import math
import warnings
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from redundancy.data import DataBundle
from redundancy.errors import RedundancyError
from redundancy.fast.graph import CapturedStep
from redundancy.fast.optim import Update
from redundancy.fast.mlp import LinearStep, linear_chain
from redundancy.fast.stacked import StackedNet, can_stack
from redundancy.models import LayeredNet, build_model, shape_model
from redundancy.spec.schema import ModelConfig, ResolvedTrain, checkpoint_iterations

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
    total, correct = _evaluate_sums(model, x, y, batch_size)
    n = max(1, x.shape[0])
    return float(total) / n, float(correct) / n


@torch.no_grad()
def _evaluate_sums(
    model: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, y: torch.Tensor, batch_size: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Summed cross-entropy (float64) and correct count, left on the device."""
    total = torch.zeros((), device=x.device, dtype=torch.float64)
    correct = torch.zeros((), device=x.device, dtype=torch.int64)
    for start in range(0, x.shape[0], batch_size):
        logits = model(x[start : start + batch_size])
        target = y[start : start + batch_size]
        total += F.cross_entropy(logits, target, reduction="sum").double()
        correct += (logits.argmax(1) == target).sum()
    return total, correct


def make_optimizer(params: Iterable[torch.Tensor], train: ResolvedTrain) -> Update:
    """The spec's optimizer over ``params`` (:class:`~redundancy.fast.optim.Update`).

    On CPU, PyTorch's default per-tensor updates, so that CPU results are bit for
    bit those of the textbook loop with the same batches. (The fused CPU SGD is a
    little faster but rounds differently.) On CUDA, PyTorch's fused kernels: one
    kernel for the whole update instead of a few per parameter, which at LeNet's
    size is about a tenth of a step (8,521 against 7,691 it/s for the captured
    step on an H100); they keep Adam's step count on the device, as graph capture
    needs.
    """
    params = list(params)
    fused = bool(params) and all(p.is_cuda for p in params)
    return Update(params, train.optimizer, lr=train.lr, momentum=train.momentum or 0.0, weight_decay=train.weight_decay, fused=fused)


def lr_changes(train: ResolvedTrain) -> dict[int, float]:
    """Iteration -> factor applied to the learning rate before that iteration's step.

    The semantics of ``torch.optim.lr_scheduler.MultiStepLR`` stepped once per
    iteration: a milestone k multiplies the rate used from step k + 1 on (by
    ``lr_gamma`` once per time k is listed). The loop applies the factors itself
    so that no scheduler runs every step.
    """
    counts = Counter(train.lr_milestones or [])
    return {k + 1: train.lr_gamma**c for k, c in counts.items() if k + 1 <= (train.iterations or 0)}


def _snapshot(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}


StepCallback = Callable[[int, dict[str, float] | None], None]


@dataclass(frozen=True)
class Resume:
    """Where a training keeps its resume state, so that a killed training goes on from its last one.

    ``load()`` returns the last state ``save(state)`` stored, or None. The loop
    saves after every ``every``-th iteration and after every checkpoint
    iteration: the weights, the optimizer state, the learning rate, each
    member's batch generator, epoch permutation and position in it, PyTorch's
    global generator, the running training loss and every metric, checkpoint
    and best state so far. Training resumed from it is bit for bit the
    training that was not interrupted (on CPU; on CUDA as far as CUDA's own
    kernels are deterministic). Only single-network training resumes; a
    stacked training starts over.
    """

    load: Callable[[], dict[str, Any] | None]
    save: Callable[[dict[str, Any]], None]
    every: int = 10_000


@dataclass(frozen=True)
class Member:
    """One network of a (possibly stacked) training: its seed, initial weights and weight masks."""

    seed: int
    init_state: dict[str, torch.Tensor] | None = None
    masks: dict[str, torch.Tensor] | None = None


# --- what is trained: one LayeredNet, or a stack of them ---------------------------------------


class _Single:
    """One :class:`LayeredNet`; batches are ``(B, ...)``.

    On CPU an all-Linear network takes its gradients from :class:`LinearStep`
    (the same kernels as autograd, without its bookkeeping); on CUDA the graph
    replay removes that overhead anyway, so autograd stays.
    """

    stacked = False

    def __init__(self, model: LayeredNet, device: torch.device):
        self.model = model
        self.size = 1
        self.named = dict(model.named_parameters())
        chain = linear_chain(model) if device.type == "cpu" else None
        self.by_hand = LinearStep(chain) if chain is not None else None

    def parameters(self) -> list[torch.Tensor]:
        return list(self.model.parameters())

    def state_tensors(self) -> list[torch.Tensor]:
        return [*self.model.parameters(), *self.model.buffers()]

    def param(self, name: str) -> torch.Tensor | None:
        return self.named.get(name)

    def stack_masks(self, name: str, masks: list[torch.Tensor | None], like: torch.Tensor) -> torch.Tensor:
        (mask,) = masks
        assert mask is not None
        return mask.to(device=like.device, dtype=like.dtype)

    def forward_backward(self, xb: torch.Tensor, yb: torch.Tensor) -> torch.Tensor:
        """Set fresh gradients of the mean cross-entropy on the batch; return the loss, detached."""
        if self.by_hand is not None:
            return self.by_hand(xb, yb)
        for p in self.named.values():
            p.grad = None
        loss = F.cross_entropy(self.model(xb), yb)
        loss.backward()
        return loss.detach()

    def evaluate_sums(self, x: torch.Tensor, y: torch.Tensor, batch_size: int) -> tuple[torch.Tensor, torch.Tensor]:
        total, correct = _evaluate_sums(self.model, x, y, batch_size)
        return total.reshape(1), correct.reshape(1)

    def states(self, members: Sequence[int]) -> dict[int, dict[str, torch.Tensor]]:
        return {0: _snapshot(self.model)} if members else {}

    def train(self, mode: bool) -> None:
        self.model.train(mode)


class _Stacked:
    """A :class:`StackedNet`; batches are ``(M, B, ...)``."""

    stacked = True

    def __init__(self, net: StackedNet):
        self.net = net
        self.size = net.size

    def parameters(self) -> list[torch.Tensor]:
        return self.net.parameters()

    def state_tensors(self) -> list[torch.Tensor]:
        return [*self.net.params.values(), *self.net.buffers.values()]

    def param(self, name: str) -> torch.Tensor | None:
        return self.net.params.get(name)

    def stack_masks(self, name: str, masks: list[torch.Tensor | None], like: torch.Tensor) -> torch.Tensor:
        ones = torch.ones(like.shape[1:], dtype=like.dtype)
        rows = [ones if m is None else m.to(dtype=like.dtype, device="cpu") for m in masks]
        return torch.stack(rows).to(like.device)

    def forward_backward(self, xb: torch.Tensor, yb: torch.Tensor) -> torch.Tensor:
        """Set fresh gradients of the sum of the members' mean losses; return the members' losses, detached."""
        for p in self.net.params.values():
            p.grad = None
        losses = self.net.losses(xb, yb)
        losses.sum().backward()
        return losses.detach()

    def evaluate_sums(self, x: torch.Tensor, y: torch.Tensor, batch_size: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.net.evaluate_sums(x, y, batch_size)

    def states(self, members: Sequence[int]) -> dict[int, dict[str, torch.Tensor]]:
        return self.net.member_states(members)

    def train(self, mode: bool) -> None:
        self.net.train(mode)


_Trainee = _Single | _Stacked


# --- batches -------------------------------------------------------------------------------------


class _Batches:
    """Each member's epoch permutations, drawn from its own generator on the device.

    The eager loop slices the current permutation on the host (``order[..., c:c+B]``);
    the captured step reads the same indices inside the graph from a static copy
    of the permutation at a device-side cursor (:meth:`graph_indices`), while the
    host keeps the epoch bookkeeping (:meth:`advance`). Both give identical batches.
    """

    def __init__(self, seeds: Sequence[int], n: int, batch: int, device: torch.device, stacked: bool):
        self.n, self.batch, self.device, self.stacked = n, batch, device, stacked
        self.gens = [torch.Generator(device=device).manual_seed(s) for s in seeds]
        self.order = self._draw()
        self.cursor = 0
        # static buffers for the captured step: the epoch's permutation and the positions read next
        self.static_order = self.order.clone()
        self.offsets = torch.arange(batch, device=device)
        self.positions = self.offsets.clone()

    def _draw(self) -> torch.Tensor:
        perms = [torch.randperm(self.n, generator=g, device=self.device) for g in self.gens]
        return torch.stack(perms) if self.stacked else perms[0]

    def next_slice(self) -> torch.Tensor:
        """Eager: the next batch's indices, ``(B,)`` or ``(M, B)``."""
        if self.cursor + self.batch > self.n:
            self.order = self._draw()
            self.cursor = 0
        idx = self.order[..., self.cursor : self.cursor + self.batch]
        self.cursor += self.batch
        return idx

    def advance(self) -> None:
        """Graph: host bookkeeping for the next replay; a new epoch refills the static permutation."""
        if self.cursor + self.batch > self.n:
            self.order = self._draw()
            self.static_order.copy_(self.order)
            self.positions.copy_(self.offsets)
            self.cursor = 0
        self.cursor += self.batch

    def graph_indices(self) -> torch.Tensor:
        """Inside the graph: the indices at the device-side positions, which then move on by one batch."""
        idx = self.static_order.index_select(-1, self.positions)
        self.positions.add_(self.batch)
        return idx

    def rewind_positions(self) -> None:
        self.positions.copy_(self.offsets)


def _gather(x: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
    """Rows ``idx`` of ``x``: ``(B, ...)`` for ``idx (B,)``, ``(M, B, ...)`` for ``idx (M, B)``."""
    return x.index_select(0, idx.reshape(-1)).view(*idx.shape, *x.shape[1:])


# --- per-member records ---------------------------------------------------------------------------


@dataclass
class _Record:
    """One member's metric series, checkpoints and best point, filled as training goes."""

    series: dict[str, list[float]] = field(default_factory=lambda: {m: [] for m in ("iteration",) + METRICS})
    checkpoints: dict[int, dict[str, torch.Tensor]] = field(default_factory=dict)
    best_loss: float = float("inf")
    best_iteration: int = 0
    best_state: dict[str, torch.Tensor] | None = None
    failure: TrainingDiverged | None = None

    def result(self, final: int) -> TrainResult | TrainingDiverged:
        if self.failure is not None:
            return self.failure
        assert self.best_state is not None
        self.checkpoints.setdefault(self.best_iteration, self.best_state)
        metrics = {k: np.asarray(v, dtype=np.int64 if k == "iteration" else np.float64) for k, v in self.series.items()}
        return TrainResult(self.checkpoints, metrics, self.best_iteration, final)


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


def _meta_model(model_cfg: ModelConfig, data: DataBundle) -> LayeredNet:
    return shape_model(model_cfg, tuple(data.input_shape), data.num_classes)


def stack_supported(model_cfg: ModelConfig, data: DataBundle) -> bool:
    """Whether :func:`train_stacked` can stack ``model_cfg`` (every block type has a stacked form)."""
    return can_stack(_meta_model(model_cfg, data))


def parameter_count(model_cfg: ModelConfig, data: DataBundle) -> int:
    """Trainable parameters of ``model_cfg`` on ``data`` (counted without allocating them)."""
    return sum(p.numel() for p in _meta_model(model_cfg, data).parameters())


CPU_STACK_MAX_PARAMS = 64_000
"""On CPU, networks up to this many parameters stack; larger ones train one after another.

A CPU step of a larger network is bound by its matrix products, which a batched
product does no faster (and the single-network CPU step skips autograd), so
stacking stops paying: measured on a 2-core CPU with five stacked MNIST MLPs,
model-iterations/s over separate training were 1.16× at 6K parameters, 1.29×
at 25K, 1.18× at 51K and 1.02× at 102K; four stacked LeNet-300-100s (266K)
ran at 0.83×. On CUDA a step is bound by launches, and stacking always pays.
"""


def stacking_pays(model_cfg: ModelConfig, data: DataBundle, device: torch.device | str) -> bool:
    """Whether ``model_cfg`` has a stacked form and training several of it stacked is faster on ``device``."""
    if not stack_supported(model_cfg, data):
        return False
    if torch.device(device).type == "cuda":
        return True
    return parameter_count(model_cfg, data) <= CPU_STACK_MAX_PARAMS


# --- the loop -----------------------------------------------------------------------------------------


def _train(
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
    device = torch.device(device)
    graphed = use_graph(train, device) if graph is None else graph
    nets = []
    for m in members:
        torch.manual_seed(m.seed)  # PyTorch's default init (init: default) draws from the global generator
        net = build_model(model_cfg, data.input_shape, data.num_classes, m.seed)
        if m.init_state is not None:
            net.load_state_dict(m.init_state)
        nets.append(net)
    trainee: _Trainee = _Stacked(StackedNet(nets, device)) if stacked else _Single(nets[0].to(device), device)
    del nets
    size = trainee.size

    # masks: (parameter, 0/1 mask of the same shape), applied to gradients and weights every step
    masks: list[tuple[torch.Tensor, torch.Tensor]] = []
    mask_names = sorted({name for m in members for name in (m.masks or {})})
    for name in mask_names:
        param = trainee.param(name)
        if param is None:
            raise KeyError(f"mask for unknown parameter {name!r}")
        masks.append((param, trainee.stack_masks(name, [(m.masks or {}).get(name) for m in members], param)))
    with torch.no_grad():
        for param, mask in masks:
            param.mul_(mask)

    opt = make_optimizer(trainee.parameters(), train)
    changes = lr_changes(train)
    keep_at = set(checkpoint_iterations(train)) | set(keep)
    records = [_Record() for _ in range(size)]

    n = data.train_x.shape[0]
    batch = min(train.batch_size, n)
    batches = _Batches([m.seed for m in members], n, batch, device, stacked)
    running = torch.zeros(size, device=device, dtype=torch.float64)
    running_count = 0
    train_x, train_y = data.train_x, data.train_y

    def step_on(idx: torch.Tensor) -> None:
        # gradients are set afresh each step (as after zero_grad(set_to_none=True)): no fill, no accumulate
        losses = trainee.forward_backward(_gather(train_x, idx), _gather(train_y, idx))
        for param, mask in masks:
            param.grad.mul_(mask)  # type: ignore[union-attr]
        opt.step()
        if masks:
            with torch.no_grad():
                for param, mask in masks:
                    param.mul_(mask)
        running.add_(losses)  # float32 losses summed in float64

    if stacked:
        resume = None
    resumed = _restore(resume.load(), trainee, opt, batches, records, running) if resume is not None else None
    if resumed is not None:
        running_count = resumed[1]

    captured: CapturedStep | None = None
    if graphed:
        captured = CapturedStep(
            lambda: step_on(batches.graph_indices()),
            lambda: [*trainee.state_tensors(), running, batches.positions],
            opt,
            device=device,
            before_warmup=batches.rewind_positions,
            strict=train.graph == "on",
        )
        if captured.failure is not None:
            warnings.warn(f"training step could not be captured as a CUDA graph, running it eagerly: {captured.failure}", stacklevel=2)

    def live() -> list[int]:
        return [i for i, r in enumerate(records) if r.failure is None]

    def eval_point(it: int) -> None:
        nonlocal running_count
        trainee.train(False)
        val_loss, val_correct = trainee.evaluate_sums(data.val_x, data.val_y, train.eval_batch_size)
        test_loss, test_correct = trainee.evaluate_sums(data.test_x, data.test_y, train.eval_batch_size)
        trainee.train(True)
        host = torch.cat([val_loss, val_correct.double(), test_loss, test_correct.double(), running]).cpu().numpy()
        running.zero_()
        count, running_count = running_count, 0
        n_val, n_test = max(1, data.val_x.shape[0]), max(1, data.test_x.shape[0])
        improved: list[int] = []
        for i in live():
            vl, va = host[i] / n_val, host[size + i] / n_val
            tl, ta = host[2 * size + i] / n_test, host[3 * size + i] / n_test
            train_loss = host[4 * size + i] / count if count else float("nan")
            record = records[i]
            if it > 0 and not math.isfinite(train_loss):
                record.failure = TrainingDiverged(f"diverged: training loss is {train_loss} at iteration {it}")
                if not stacked:
                    raise record.failure
                continue
            for key, value in zip(record.series, (it, train_loss, vl, va, tl, ta)):
                record.series[key].append(float(value))
            if vl < record.best_loss:
                record.best_loss, record.best_iteration = float(vl), it
                improved.append(i)
        for i, state in trainee.states(improved).items():
            records[i].best_state = state
        if callback is not None:
            alive = live()
            if alive:
                last = {k: float(np.mean([records[i].series[k][-1] for i in alive])) for k in ("train_loss", "val_loss", "val_accuracy", "test_accuracy")}
                callback(it, last)

    def keep_point(it: int) -> None:
        for i, state in trainee.states(live()).items():
            records[i].checkpoints[it] = state

    trainee.train(True)
    first = 1 if resumed is None else resumed[0] + 1
    if resumed is None:
        if 0 in keep_at:
            keep_point(0)
        eval_point(0)
    for it in range(first, train.iterations + 1):
        factor = changes.get(it)
        if factor is not None:
            for group in opt.param_groups:
                group["lr"] = group["lr"] * factor
            if captured is not None:
                captured.recapture()
        if captured is not None:
            batches.advance()
            captured()
        else:
            step_on(batches.next_slice())
        running_count += 1
        if it % train.eval_interval == 0 or it == train.iterations:
            eval_point(it)
            if not live():
                break
        elif callback is not None:
            callback(it, None)
        if it in keep_at:
            keep_point(it)
        if resume is not None and it < train.iterations and (it % resume.every == 0 or it in keep_at):
            resume.save(_resume_state(it, running_count, trainee, opt, batches, records, running))

    return [r.result(train.iterations) for r in records]


# --- resume states -------------------------------------------------------------------------------


def _cpu(t: torch.Tensor) -> torch.Tensor:
    return t.detach().to("cpu", copy=True)


def _resume_state(
    it: int, running_count: int, trainee: _Trainee, opt: Update, batches: _Batches, records: list[_Record], running: torch.Tensor
) -> dict[str, Any]:
    """Everything the loop carries from one iteration to the next, on the host (see :class:`Resume`)."""
    cuda = batches.device.type == "cuda"
    return {
        "iteration": it,
        "running_count": running_count,
        "running": _cpu(running),
        "tensors": [_cpu(t) for t in trainee.state_tensors()],
        "optimizer": [{k: _cpu(v) for k, v in opt.state[p].items()} for p in opt.params],
        "lr": float(opt.param_groups[0]["lr"]),
        "generators": [g.get_state() for g in batches.gens],
        "order": _cpu(batches.order),
        "cursor": batches.cursor,
        "rng": torch.get_rng_state(),
        "cuda_rng": torch.cuda.get_rng_state(batches.device) if cuda else None,
        "records": [
            {
                "series": {k: list(v) for k, v in r.series.items()},
                "checkpoints": r.checkpoints,
                "best_loss": r.best_loss,
                "best_at": r.best_iteration,
                "best_state": r.best_state,
            }
            for r in records
        ],
    }


def _fits(state: dict[str, Any], trainee: _Trainee, opt: Update, batches: _Batches, records: list[_Record]) -> bool:
    """Whether ``state`` is a resume state of this very training (same shapes, members and data)."""
    try:
        tensors, optimizer = state["tensors"], state["optimizer"]
        live = trainee.state_tensors()
        return (
            len(tensors) == len(live)
            and all(a.shape == b.shape and a.dtype == b.dtype for a, b in zip(tensors, live))
            and len(optimizer) == len(opt.params)
            and all(set(saved) == set(opt.state[p]) for saved, p in zip(optimizer, opt.params))
            and all(v.shape == opt.state[p][k].shape for saved, p in zip(optimizer, opt.params) for k, v in saved.items())
            and len(state["generators"]) == len(batches.gens)
            and tuple(state["order"].shape) == tuple(batches.order.shape)
            and len(state["records"]) == len(records)
            and int(state["iteration"]) >= 1
        )
    except (KeyError, TypeError, AttributeError):
        return False


@torch.no_grad()
def _restore(
    state: dict[str, Any] | None, trainee: _Trainee, opt: Update, batches: _Batches, records: list[_Record], running: torch.Tensor
) -> tuple[int, int] | None:
    """Put a resume state back into the loop's objects; (iteration, running count), or None to start afresh."""
    if state is None or not _fits(state, trainee, opt, batches, records):
        return None
    for t, saved in zip(trainee.state_tensors(), state["tensors"]):
        t.copy_(saved)
    for p, saved in zip(opt.params, state["optimizer"]):
        for k, v in saved.items():
            opt.state[p][k].copy_(v)
    opt.param_groups[0]["lr"] = state["lr"]
    for g, gen_state in zip(batches.gens, state["generators"]):
        g.set_state(gen_state)
    batches.order = state["order"].to(batches.device)
    batches.cursor = int(state["cursor"])
    batches.static_order.copy_(batches.order)
    batches.positions.copy_(batches.offsets + batches.cursor)
    torch.set_rng_state(state["rng"])
    if state.get("cuda_rng") is not None and batches.device.type == "cuda":
        torch.cuda.set_rng_state(state["cuda_rng"], batches.device)
    running.copy_(state["running"])
    for record, saved in zip(records, state["records"]):
        record.series = {k: list(v) for k, v in saved["series"].items()}
        record.checkpoints = dict(saved["checkpoints"])
        record.best_loss = float(saved["best_loss"])
        record.best_iteration = int(saved["best_at"])
        record.best_state = saved["best_state"]
    return int(state["iteration"]), int(state["running_count"])


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
    (result,) = _train(
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
    return _train(model_cfg, train, data, list(members), stacked=True, device=device, keep=keep, callback=callback)


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

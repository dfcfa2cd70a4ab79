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

The package: :mod:`~redundancy.train.loop` (the loop and the ways in),
:mod:`~redundancy.train.trainee` (one network or a stack, behind one interface),
:mod:`~redundancy.train.batches`, :mod:`~redundancy.train.optimizer`,
:mod:`~redundancy.train.evaluate`, :mod:`~redundancy.train.result`,
:mod:`~redundancy.train.resume` (resume states) and
:mod:`~redundancy.train.stacking` (whether stacking pays).
"""

from redundancy.train.evaluate import evaluate
from redundancy.train.loop import Member, StepCallback, train_loop, train_members, train_model, train_stacked, use_graph
from redundancy.train.optimizer import lr_changes, make_optimizer
from redundancy.train.result import METRICS, TrainingDiverged, TrainResult
from redundancy.train.resume import Resume
from redundancy.train.stacking import CPU_STACK_MAX_PARAMS, parameter_count, stack_supported, stacking_pays

_train = train_loop  # the loop itself, by its former name (tests compare its eager and captured steps)

__all__ = [
    "CPU_STACK_MAX_PARAMS", "METRICS", "Member", "Resume", "StepCallback", "TrainResult", "TrainingDiverged", "evaluate", "lr_changes",
    "make_optimizer", "parameter_count", "stack_supported", "stacking_pays", "train_loop", "train_members", "train_model", "train_stacked",
    "use_graph",
]

"""A small real study kind for the executor and grid tests: weight norms and distance from init.

It reads every checkpoint of the run it is given and evaluates the final model
on the test set, so a study stage sent to a Ray worker or a SLURM subprocess
exercises the whole path (checkpoints shipped, data loaded on the worker,
tensors and summary brought back). Workers import this module when they
unpickle its config, which registers the kind there; the tests use
:func:`installed` so that other test modules never see it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Literal

import numpy as np
import torch

from redundancy.spec.schema import StudyConfig
from redundancy.studies import STUDIES, StudyContext, StudyKind, StudyResult
from redundancy.train import evaluate

KIND = "tiny_norms"


class TinyNormsConfig(StudyConfig):
    kind: Literal["tiny_norms"] = "tiny_norms"
    fail_on_seed: int | None = None  # a study that raises ValueError for this seed (failure reporting)


def run(config: TinyNormsConfig, ctx: StudyContext) -> StudyResult:
    if config.fail_on_seed is not None and ctx.run.config.seed == config.fail_on_seed:
        raise ValueError(f"tiny_norms refuses seed {config.fail_on_seed}")
    iterations = sorted(ctx.run.checkpoints)
    init = ctx.state("init")
    names = [k for k in init if k.endswith("weight")]
    norms = np.array([[float(ctx.run.checkpoints[it][n].norm()) for n in names] for it in iterations])  # (checkpoints, layers)
    final = ctx.state("final")
    distance = {n.split(".")[1]: float((final[n] - init[n]).norm() / init[n].norm()) for n in names}
    model = ctx.build_model(final)
    loss, accuracy = evaluate(model, ctx.data.test_x.to(ctx.device), ctx.data.test_y.to(ctx.device))
    ctx.progress(1.0, "done")
    return StudyResult(
        tensors={"norms": norms, "iterations": np.array(iterations), "first_layer": final[names[0]].clone()},
        summary={"distance_from_init": distance, "test_accuracy": accuracy, "test_loss": loss, "layers": len(names)},
        curves={"iteration": iterations, "norm": norms.tolist()},
    )


TINY_NORMS = StudyKind(KIND, TinyNormsConfig, run, description="weight norms per checkpoint (tests only)")


def register() -> None:
    STUDIES[KIND] = TINY_NORMS


def unregister() -> None:
    STUDIES.pop(KIND, None)


@contextmanager
def installed() -> Iterator[None]:
    """The kind registered here and importable by worker processes (Ray workers, submitit subprocesses)."""
    folder = str(Path(__file__).resolve().parents[1])  # the folder that holds the ``support`` package
    old = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (folder, old) if p)
    register()
    try:
        yield
    finally:
        unregister()
        if old is None:
            os.environ.pop("PYTHONPATH", None)
        else:
            os.environ["PYTHONPATH"] = old


@contextmanager
def one_thread() -> Iterator[None]:
    """torch on one thread, as the executors' workers run (``cpus_per_stage`` 1), restored after.

    The test networks are tiny: a second thread only adds synchronization, which
    on a busy machine costs more than the arithmetic.
    """
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


register()  # in a worker, importing this module (to unpickle a config) is what registers the kind

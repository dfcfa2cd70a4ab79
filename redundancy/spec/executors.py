"""The executors a spec's ``executor:`` section may name, by kind.

Each executor is a class in the engine (:mod:`redundancy.engine.executors`), above the
spec, carrying its options model. Naming each one here as ``"module:attribute"`` lets the
spec loader check an ``executor:`` section against the options of the executor its kind
names without the spec importing the engine: a class loads the first time its kind is
looked up. The engine reads this same table, so an executor added at run time
(``EXECUTORS[kind] = cls``) is one the loader validates. A new executor is its module and
one line here.
"""

from __future__ import annotations

from typing import Any

from redundancy.registry import Registry, load_target

#: Executor kind -> its class (an :class:`~redundancy.engine.executors.base.Executor`).
EXECUTORS: Registry[Any] = Registry(
    "executor",
    {
        "local": "redundancy.engine.executors.local:LocalExecutor",
        "ray": "redundancy.engine.executors.ray:RayExecutor",
        "slurm": "redundancy.engine.executors.slurm:SlurmExecutor",
    },
    load=load_target,
)

#: Where stages run when neither the spec nor the command line names an executor.
DEFAULT_KIND = "local"


def choices() -> str:
    """The executor kinds as a message lists them: ``'local', 'ray' or 'slurm'``."""
    kinds = [repr(k) for k in EXECUTORS]
    return kinds[0] if len(kinds) == 1 else f"{', '.join(kinds[:-1])} or {kinds[-1]}"


__all__ = ["DEFAULT_KIND", "EXECUTORS", "choices"]

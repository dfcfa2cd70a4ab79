"""The tiny xord spec the end-to-end tests train, and the helpers that write it, run it and read it back.

Test modules import it as ``from support.tiny import ...`` (pyproject.toml puts ``tests/`` on pytest's
``pythonpath``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import h5py
import numpy as np
import torch

from redundancy.engine import Plan, RunReport, make_plan, run_plan
from redundancy.spec.loader import load_spec
from redundancy.store import Store, open_h5
from redundancy.store import layout as L
from redundancy.store.files import content_checksum

# Each section's keys in the order a spec writes them; a value of None leaves the key out.
DATA: dict[str, Any] = {"name": "xord", "input_dim": 3, "train_samples": 400, "test_samples": 200}
MODEL: dict[str, Any] = {"name": "mlp", "widths": [16]}
TRAIN: dict[str, Any] = {
    "iterations": 60,
    "batch_size": 32,
    "optimizer": None,
    "lr": 0.05,
    "momentum": None,
    "eval_interval": 20,
    "checkpoints": None,
    "stack": None,
}


def tiny_text(
    name: str = "tiny",
    *,
    seed: int | None = 0,
    seeds: list[int] | None = None,
    data: dict[str, Any] | None = None,
    model: dict[str, Any] | None = None,
    tail: str = "",
    **train: Any,
) -> str:
    """The tiny spec's YAML: ``data``, ``model`` and keyword ``train`` values override the defaults above.

    ``seeds`` writes a ``seeds:`` line in place of ``seed:``; ``tail`` (grid, studies) follows the
    train section, which the text ends with otherwise, so more train keys may be appended to it.
    """
    lines = [f"name: {name}"]
    if seeds is not None:
        lines.append(f"seeds: {seeds}")
    elif seed is not None:
        lines.append(f"seed: {seed}")
    for section, defaults, overrides in (("data", DATA, data), ("model", MODEL, model), ("train", TRAIN, train)):
        unknown = set(overrides or {}) - set(defaults)
        assert not unknown, f"{section} has no key {sorted(unknown)} in the tiny spec"
        lines.append(f"{section}:")
        lines += [f"  {key}: {value}" for key, value in {**defaults, **(overrides or {})}.items() if value is not None]
    return "\n".join(lines) + "\n" + tail


# The engine's tiny run, as a template: ``TINY.format(iterations=60)``.
TINY = tiny_text(iterations="{iterations}", checkpoints=[10])


def write_spec(folder: Path, text: str, name: str = "spec.yaml") -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def run_spec_file(path: Path, *, store: Path | None = None, **kwargs: Any) -> tuple[Plan, Store, RunReport]:
    """Load, plan and run a spec file on the CPU into ``store`` (by default ``store/<spec name>`` beside it)."""
    plan = make_plan(load_spec(path))
    target = Store(store if store is not None else path.parent / "store" / plan.spec.name)
    report = run_plan(plan, target, device=torch.device("cpu"), **kwargs)
    return plan, target, report


def run_spec(
    folder: Path, text: str, name: str = "spec.yaml", *, store: Path | None = None, **kwargs: Any
) -> tuple[Plan, Store, RunReport]:
    """Write ``text`` to ``folder/name`` and run it as :func:`run_spec_file` does; extra arguments go to ``run_plan``."""
    return run_spec_file(write_spec(folder, text, name), store=store, **kwargs)


def datasets(group: h5py.Group) -> dict[str, np.ndarray]:
    """Every dataset below an open HDF5 group, by its path relative to the group."""
    out: dict[str, np.ndarray] = {}
    group.visititems(lambda n, o: out.__setitem__(n, o[()]) if isinstance(o, h5py.Dataset) else None)
    return out


def reseal(path: Path) -> None:
    """Stamp a stage file edited in place with the checksum of its new content, as though the writer
    had written it so: for tests of what readers make of odd content, which is not corruption."""
    with h5py.File(path, "r+") as f:
        f.attrs[L.A_CHECKSUM] = content_checksum(f)


def stage_arrays(path: Path, group: str = "/") -> dict[str, np.ndarray]:
    """The arrays of a stage file (or of one group in it, such as a study's ``results``)."""
    with open_h5(path) as f:
        return datasets(f[group])

"""Which environment computed a stage, and whether a store's stages agree on it.

Every stage file records its provenance (:data:`layout.PROVENANCE`): versions,
device, threads, both BLAS libraries and what they picked for this CPU. That is
provenance, not identity: a stage cached under another environment stays valid
and is reused. But two stages computed with other library versions, another
BLAS or another CPU capability may round differently, so a store whose stages
disagree on :data:`layout.ENVIRONMENT` is *mixed*, and every reader says so,
naming what differs.

A stage written before a field was recorded does not say it; a missing value is
never counted as a difference (it is unknown, not different).

Pure functions on attribute dictionaries: no h5py, no torch.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from redundancy.store import layout as L

# How a user reads each field in a one-line message.
LABELS: dict[str, str] = {
    L.A_TORCH_VERSION: "torch",
    L.A_CUDA_VERSION: "CUDA",
    L.A_NUMPY_VERSION: "NumPy",
    L.A_SCIPY_VERSION: "SciPy",
    L.A_H5PY_VERSION: "h5py",
    L.A_BLAS: "torch's BLAS",
    L.A_CPU_CAPABILITY: "CPU capability",
    L.A_NUMPY_BLAS: "NumPy's BLAS",
    L.A_NUMPY_BLAS_CORETYPE: "NumPy's BLAS kernels",
}


def environment_of(attrs: Mapping[str, Any]) -> dict[str, str]:
    """The fields of :data:`layout.ENVIRONMENT` that ``attrs`` records, as text."""
    return {key: str(attrs[key]) for key in L.ENVIRONMENT if attrs.get(key) not in (None, "")}


def describe(env: Mapping[str, str]) -> str:
    """``torch 2.11.0 + NumPy 2.3.1``: an environment (or the part of it that differs) in words."""
    return " + ".join(f"{LABELS.get(key, key)} {value}" for key, value in env.items())


def differences(stage: Mapping[str, str], current: Mapping[str, str]) -> dict[str, str]:
    """The fields where ``stage`` recorded something other than ``current`` (both recorded), with the stage's value."""
    return {key: value for key, value in stage.items() if key in current and current[key] != value}


@dataclass(frozen=True)
class Mix:
    """One field on which a store's stages disagree: each value with the number of stages that recorded it."""

    field: str
    counts: tuple[tuple[str, int], ...]

    def line(self) -> str:
        values = ", ".join(f"{value} ({n} stage{'s' if n != 1 else ''})" for value, n in self.counts)
        return f"{LABELS.get(self.field, self.field)}: {values}"


def mixes(stages: Iterable[Mapping[str, Any]]) -> list[Mix]:
    """The fields of :data:`layout.ENVIRONMENT` on which ``stages`` (their attributes) disagree."""
    seen: dict[str, Counter[str]] = {key: Counter() for key in L.ENVIRONMENT}
    for attrs in stages:
        for key, value in environment_of(attrs).items():
            seen[key][value] += 1
    return [Mix(key, tuple(sorted(counter.items()))) for key, counter in seen.items() if len(counter) > 1]


def mixed_message(found: list[Mix] | list[str]) -> str:
    """One line for a mixed store: ``stages computed under different environments: torch: ...; NumPy: ...``
    (from its mixes, or from their lines as ``show --json`` lists them)."""
    return "stages computed under different environments: " + "; ".join(m if isinstance(m, str) else m.line() for m in found)


def cached_elsewhere_message(count: int, others: Mapping[str, str]) -> str:
    """The ``run`` notice for ``count`` reused stages whose environment differs from this one in ``others``."""
    stages = f"{count} stage{'s' if count != 1 else ''}"
    return f"{stages} cached under {describe(others)}; `--refresh-env` recomputes them"

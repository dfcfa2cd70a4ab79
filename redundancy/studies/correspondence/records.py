"""What the ``correspondence`` study measures between two networks, as plain records (stored by :mod:`.encode`)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from redundancy.studies.correspondence import matching as M
from redundancy.studies.correspondence.paths import PathCurve


@dataclass
class LayerMatch:
    """One hidden layer matched by one method: π, the similarity matrix, matched and null similarities."""

    layer: str
    matching: str
    perm: np.ndarray
    similarity: np.ndarray  # (n × n), rows A, columns B (unaligned)
    matched: np.ndarray  # S[i, π(i)]
    null: np.ndarray  # S[i, σ(i)] for random σ
    above: dict[float, float]
    null_above: dict[float, float]
    rank_correlation: float
    kept: list[M.KeptOverlap]


@dataclass
class PairResult:
    """Everything measured between two networks A and B."""

    label: str
    layers: list[LayerMatch] = field(default_factory=list)
    paths: dict[str, PathCurve] = field(default_factory=dict)  # alignment -> curve


@dataclass
class TeacherMatch:
    """Student units of the first hidden layer against the teacher's units, by one method."""

    matching: str
    similarity: np.ndarray  # (students × teacher units), absolute
    spec: M.Specialization
    null_specialized: float  # fraction of student units specialized to a random teacher

"""Counts read from 0/1 pruning masks, in NumPy alone (the report draws them without torch).

A mask has the shape of a layer's weight: axis 0 is the unit (a row of a
Linear weight, an output filter of a Conv), the rest its incoming weights.
"""

from __future__ import annotations

import numpy as np


def unit_counts(mask: np.ndarray) -> np.ndarray:
    """k_i: surviving incoming weights of each unit (axis 0 is the unit; a Conv filter is flattened)."""
    m = np.asarray(mask)
    return m.reshape(m.shape[0], -1).astype(bool).sum(axis=1).astype(np.int64)

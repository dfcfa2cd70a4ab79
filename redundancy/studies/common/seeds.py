"""Seeds for one purpose derived from a run's seed, so no two purposes share random numbers.

``derived_seed(seed, round, stream)`` gives a 31-bit seed (torch's and NumPy's
generators take it) from NumPy's SeedSequence of the words; ``seed_words`` the
words a NumPy generator is seeded with directly. A kind names its streams as
small module constants, different from the other streams it draws.
"""

from __future__ import annotations

import numpy as np

from redundancy.data.base import seed_words


def derived_seed(seed: int, round_: int, stream: int, extra: int = 0) -> int:
    """A 31-bit seed for one (run seed, round, purpose) from NumPy's SeedSequence."""
    words = [seed & (2**63 - 1), round_, stream, extra]
    return int(np.random.SeedSequence(words).generate_state(1)[0] & 0x7FFFFFFF)


__all__ = ["derived_seed", "seed_words"]

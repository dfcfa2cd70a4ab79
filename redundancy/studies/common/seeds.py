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


#: What ``follow_run_seed`` says in a kind's config (pruning's random orders, subspace's random bases).
FOLLOW_RUN_SEED_HELP = (
    "random draws derive from the run's seed, so runs of a seed grid (or --set seed=N) draw anew; "
    "false keeps the draws of earlier versions, fixed whatever the run's seed"
)

__all__ = ["FOLLOW_RUN_SEED_HELP", "derived_seed", "seed_words"]

"""redundancy: where redundancy lives in trained neural networks.

``redundancy.open_store(path)`` reads stores as pandas DataFrames (:mod:`redundancy.api`);
it is imported on first use, so ``import redundancy`` stays light and never imports torch.
"""

from typing import Any

from redundancy.version import __version__

__all__ = ["__version__", "open_store"]

# The study registry registers the built-in kinds' result schemas with the store (plain Python, no torch).
from redundancy import studies as _studies  # noqa: E402,F401


def __getattr__(name: str) -> Any:
    if name == "open_store":
        from redundancy.api import open_store

        return open_store
    raise AttributeError(f"module 'redundancy' has no attribute {name!r}")

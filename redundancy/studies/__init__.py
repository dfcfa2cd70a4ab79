"""Registry of study kinds: name -> :class:`StudyKind` (a plain dict).

A new kind is one module that defines its config, its compute and optionally
its checks, and one line below that registers it.
"""

from __future__ import annotations

from redundancy.studies.base import RunArtifacts, StudyContext, StudyKind, StudyResult

STUDIES: dict[str, StudyKind] = {}


def register(kind: StudyKind) -> StudyKind:
    STUDIES[kind.name] = kind
    return kind


def get(name: str) -> StudyKind:
    try:
        return STUDIES[name]
    except KeyError:
        raise KeyError(f"unknown study kind {name!r}; expected one of {', '.join(STUDIES)}") from None



__all__ = ["STUDIES", "RunArtifacts", "StudyContext", "StudyKind", "StudyResult", "get", "register"]

from redundancy.studies import subspace  # noqa: E402,F401
from redundancy.studies import lottery  # noqa: E402,F401
from redundancy.studies import dynamics  # noqa: E402,F401
from redundancy.studies import pruning  # noqa: E402,F401
from redundancy.studies import unit_ticket  # noqa: E402,F401

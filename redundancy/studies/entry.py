"""What the registry knows of a study kind before anything of it is imported: :class:`Entry`.

Each built-in kind's package (``redundancy/studies/<kind>/__init__.py``) declares
its ``ENTRY``; the registry (:mod:`redundancy.studies`) names the package in one
line. Plain Python: importing an entry imports no torch and none of the kind's
compute.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Entry:
    """A study kind as the registry knows it.

    ``compute``, ``results`` and ``panels`` are ``"module:attribute"``: the
    :class:`~redundancy.studies.base.StudyKind` (imports torch), the
    :class:`~redundancy.store.results.KindSchema` and the panels every reader
    draws (plain Python). ``headline`` are substrings of the summary paths a grid
    table shows for this kind (besides ``HEADLINE_ANY``); a kind with no match
    shows every number. ``reads_init``: the kind reads the initialization
    (iteration 0), so imported checkpoints must include it; ``retrains``: the kind
    trains networks again with the run's training settings.
    """

    name: str
    compute: str
    results: str | None = None
    headline: tuple[str, ...] = ()
    reads_init: bool = False
    retrains: bool = False
    panels: str | None = None


def in_package(package: str, name: str, **fields: object) -> Entry:
    """The entry of a kind laid out as usual in ``package``: ``study.py`` (``KIND``), ``results.py`` (``SCHEMA``)."""
    return Entry(name, f"{package}.study:KIND", f"{package}.results:SCHEMA", **fields)  # type: ignore[arg-type]

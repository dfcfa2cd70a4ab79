"""The unit_ticket study kind: see ``study.py`` (config and compute) and ``results.py`` (typed results)."""

from redundancy.studies.entry import in_package

ENTRY = in_package(__name__, "unit_ticket", reads_init=True, retrains=True)

"""The unit_ticket study kind: see ``study.py`` (config and compute) and ``results.py`` (typed results)."""

"""The lottery study kind: see ``study.py`` (config and compute) and ``results.py`` (typed results)."""

from redundancy.studies.entry import in_package

ENTRY = in_package(__name__, "lottery", reads_init=True, retrains=True, headline=('p_value', 'ticket_accuracy', 'dense_accuracy', 'first_round_below_dense'))

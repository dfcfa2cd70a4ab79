"""The dynamics study kind: see ``study.py`` (config and compute) and ``results.py`` (typed results)."""

from redundancy.studies.entry import in_package

ENTRY = in_package(__name__, "dynamics", reads_init=True, headline=('distance_end', 'fp_ratio_end', 'alpha_end', 'repeated_fraction_end'))

"""Code the test modules share: spec builders and runners (``tiny``), sample stores (``tui_samples``),
Textual pilot helpers (``pilot``), a test study kind (``grid_study``) and the frozen-data helpers.

pyproject.toml puts ``tests/`` on pytest's ``pythonpath``, so test modules import this package as
``support``; no test module imports another. Worker processes import ``support.grid_study`` to
unpickle its config, so this file imports nothing.
"""

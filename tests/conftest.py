"""Fixtures shared by several test modules: what more than one of them built the same way, built once.

Session fixtures are read only: a test that writes into one of them must take its own copy first
(``shutil.copytree`` into its ``tmp_path``), so no test sees another's writes. Stores and data that
one module alone needs stay in that module.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from redundancy.data import DataBundle, load_data
from redundancy.spec.schema import DataConfig
from support.tui_samples import sample_store


@pytest.fixture(scope="session")
def tui_sample(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The TUI's sample store (``support.tui_samples.sample_store``: every kind, seeds 0 and 1), in a
    folder of its own (``<tmp>/tui-sample0/sample``); read only."""
    root = tmp_path_factory.mktemp("tui-sample") / "sample"
    sample_store(root)
    return root


@pytest.fixture(scope="session")
def mnist5k() -> DataBundle:
    """The offline mnist-5k set as specs load it by default (a tenth of the training set for validation); read only."""
    return load_data(DataConfig(name="mnist-5k"), validation=0.1)


@pytest.fixture(scope="session")
def xord() -> DataBundle:
    """The tiny spec's data (``support.tiny.DATA``: xord, 3 inputs, 400 training and 200 test samples); read only."""
    return load_data(DataConfig(name="xord", input_dim=3, train_samples=400, test_samples=200), validation=0.1)

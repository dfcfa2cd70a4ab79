"""Golden headline numbers of the quickstart on CPU: a refactor must not move what README reports.

The frozen copy of ``specs/quickstart.yaml`` is run as a user would (``redundancy run``, then
``redundancy show --json``) and its headline numbers are compared with
``tests/frozen/quickstart_golden.json`` (frozen by ``tests/frozen/freeze_golden.py``).

Two modes, each its own test so the outcome says which one ran:

- **exact**: where the run's whole fingerprint (library versions, both BLAS libraries and their
  kernels, NumPy's SIMD dispatch, CPU model, threads: ``layout.BIT_IDENTITY``) equals the frozen
  one, every number must be equal to the bit. Elsewhere it is skipped, naming what differs.
- **tolerant**: always; every number within the stated tolerances (``golden_quickstart.ABS_TOL``,
  ``REL_TOL``): another BLAS or CPU rounds a near-tied test digit the other way.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from support.golden_quickstart import GOLDEN, close, fingerprint, fingerprint_differences, headline, run_quickstart

import redundancy


@pytest.fixture(scope="module")
def quickstart(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    store = tmp_path_factory.mktemp("golden") / "quickstart"
    return store, run_quickstart(store)


@pytest.fixture(scope="module")
def golden() -> dict[str, Any]:
    return json.loads(GOLDEN.read_text())


def test_golden_numbers_within_tolerance(quickstart: tuple[Path, dict[str, Any]], golden: dict[str, Any]) -> None:
    store, document = quickstart
    now, want = headline(document), golden["headline"]
    assert sorted(now) == sorted(want)
    far = [f"{name}: {now[name]} far from golden {value}" for name, value in want.items() if not close(now[name], value)]
    assert not far, "\n".join(far)
    # the Python API reads the same store: one run, the three studies, tidy curves, tensors
    s = redundancy.open_store(store)
    assert list(s.runs["status"]) == ["done"] and s.runs.loc[0, "test_accuracy"] == now["test_accuracy"]
    assert sorted(s.studies["kind"]) == ["dynamics", "pruning", "subspace"] and (s.studies["status"] == "done").all()
    pruning = s.curves("pruning")
    assert {"criterion", "direction", "x", "y"} <= set(pruning.columns) and len(pruning) > 1000
    assert s.tensor("run", "test_accuracy").ndim == 1


def test_golden_numbers_bit_exact_in_the_frozen_environment(quickstart: tuple[Path, dict[str, Any]], golden: dict[str, Any]) -> None:
    store, document = quickstart
    differs = fingerprint_differences(fingerprint(store), golden["fingerprint"])
    if differs:
        pytest.skip("not the environment that froze the golden numbers (the tolerant test ran): " + "; ".join(differs))
    now, want = headline(document), golden["headline"]
    unequal = [f"{name}: {now[name]!r} != golden {value!r}" for name, value in want.items() if now[name] != value]
    assert not unequal, "\n".join(unequal)


def test_a_changed_fingerprint_is_reported_and_compared_with_tolerance(golden: dict[str, Any]) -> None:
    """A fingerprint that differs only in NumPy's version is not the frozen environment: the exact test
    would skip naming the version, and the tolerant comparison accepts a one-digit-in-a-hundred shift."""
    frozen = golden["fingerprint"]
    patched = {**frozen, "numpy_version": "0.0.1-patched"}
    assert fingerprint_differences(frozen, frozen) == []
    assert fingerprint_differences(patched, frozen) == [f"numpy_version: 0.0.1-patched != frozen {frozen['numpy_version']}"]
    acc = golden["headline"]["test_accuracy"]
    assert close(acc + 0.001, acc) and not close(acc + 0.05, acc)
    count = golden["headline"]["dynamics/fc1/repeated_end"]
    assert close(count * 1.04, count) and not close(count * 1.2, count)

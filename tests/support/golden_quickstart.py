"""The quickstart's golden numbers: how they are computed, read and compared (shared by
``tests/frozen/freeze_golden.py``, which freezes them, and ``tests/test_golden_quickstart.py``).

The frozen file holds the headline numbers README quotes and the *fingerprint* of the environment
that computed them: every provenance field of :data:`redundancy.store.layout.BIT_IDENTITY` (library
versions, both BLAS libraries and the kernels they picked, NumPy's SIMD dispatch, CPU model,
threads, ...). Where a new run's fingerprint equals the frozen one, the numbers must be equal to the
bit; elsewhere they must agree within stated tolerances.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import h5py

from redundancy.store import layout as L

FROZEN = Path(__file__).resolve().parents[1] / "frozen"
GOLDEN = FROZEN / "quickstart_golden.json"
SPEC = FROZEN / "specs" / "quickstart.yaml"

# Elsewhere than the frozen environment: a probability or fraction may move by one test digit in a
# hundred (another BLAS rounds a near-tied logit the other way), a count by 5 %.
ABS_TOL = 0.01
REL_TOL = 0.05


def run_quickstart(store: Path) -> dict[str, Any]:
    """Run the frozen quickstart spec into ``store`` as a user would and return ``show --json``'s document."""
    # no thread variables: the engine alone must hold torch and NumPy's BLAS to the policy's one thread
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")}
    env["COLUMNS"] = "200"
    cmd = [sys.executable, "-m", "redundancy", "run", str(SPEC), "--store", str(store), "--quiet"]
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=900)
    assert done.returncode == 0, done.stderr[-2000:]
    shown = subprocess.run([sys.executable, "-m", "redundancy", "show", str(store), "--json"], capture_output=True, text=True, env=env, timeout=300)
    assert shown.returncode == 0, shown.stderr[-2000:]
    return json.loads(shown.stdout)


def fingerprint(store: Path) -> dict[str, str]:
    """The bit-identity fingerprint the store's training stage recorded (its studies ran in the same process)."""
    (train,) = sorted((store / "stages").glob("train-*.h5"))
    with h5py.File(train, "r") as f:
        return {key: str(f.attrs[key]) for key in L.BIT_IDENTITY if key in f.attrs}


def fingerprint_differences(now: dict[str, str], frozen: dict[str, str]) -> list[str]:
    """What differs between two fingerprints, one ``field: now != frozen`` each (a field either lacks counts)."""
    return [f"{key}: {now.get(key, 'not recorded')} != frozen {frozen.get(key, 'not recorded')}"
            for key in sorted(set(now) | set(frozen)) if now.get(key) != frozen.get(key)]


def close(now: float, want: float) -> bool:
    """The tolerant comparison: ``ABS_TOL`` for numbers within [-1, 1], ``REL_TOL`` for larger ones."""
    if abs(want) <= 1:
        return math.isclose(now, want, abs_tol=ABS_TOL)
    return math.isclose(now, want, rel_tol=REL_TOL)


def headline(document: dict[str, Any]) -> dict[str, float]:
    """A flat {name: number} of what README quotes: accuracy, pruning AUCs, subspace k, dynamics counts."""
    (run,) = document["runs"]
    out: dict[str, float] = {
        "test_accuracy": run["test_accuracy"],
        "test_accuracy_at_best": run["test_accuracy_at_best"],
        "best_iteration": run["best_iteration"],
    }
    studies = {s["kind"]: s["summary"] for s in document["studies"]}
    pruning = studies["pruning"]
    out["pruning/accuracy_unpruned"] = pruning["accuracy_unpruned"]
    for criterion in ("magnitude:smallest", "magnitude:largest", "frame_potential:smallest", "frame_potential:largest", "random"):
        for column in ("auc", "acc@50%", "acc@90%"):
            out[f"pruning/{criterion}/{column}"] = pruning[criterion][column]
    for basis in ("top", "bottom", "random"):
        row = studies["subspace"][f"fc1@final:update/{basis}"]
        for column in ("k_within_1pt", "acc_k1", "acc_k16"):
            out[f"subspace/{basis}/{column}"] = row[column]
    for layer in ("fc1", "fc2"):
        for column in ("spikes_end", "repeated_end", "removable_end", "rel_distance_end"):
            out[f"dynamics/{layer}/{column}"] = studies["dynamics"][layer][column]
    return out

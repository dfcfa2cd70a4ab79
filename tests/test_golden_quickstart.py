"""Golden headline numbers of the quickstart on CPU: a refactor must not move what README reports.

The frozen copy of ``specs/quickstart.yaml`` is run as a user would (``redundancy run``, then
``redundancy show --json``) and its headline numbers are compared with
``tests/frozen/quickstart_golden.json``. With one thread (the engine's policy) the numbers are
bit-identical on a CPU of the same vector capability and BLAS as the one that froze them, so there
they must be equal; another CPU (say AVX2 instead of AVX-512) rounds differently inside the
matrix kernels, so there a shift of one test digit in a thousand is allowed (counts within 5 %).
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import h5py
from golden_quickstart import headline

import redundancy

FROZEN = Path(__file__).parent / "frozen"


def _same_machine_type(store: Path, measured: dict[str, object]) -> bool:
    (train,) = sorted((store / "stages").glob("train-*.h5"))
    with h5py.File(train, "r") as f:
        return all(str(f.attrs.get(key)) == str(value) for key, value in measured.items() if key != "spec")


def test_quickstart_headline_numbers_are_golden(tmp_path: Path):
    golden = json.loads((FROZEN / "quickstart_golden.json").read_text())
    store = tmp_path / "quickstart"
    # no thread variables: the engine alone must hold torch and NumPy's BLAS to the policy's one thread
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")}
    env["COLUMNS"] = "200"
    cmd = [sys.executable, "-m", "redundancy", "run", str(FROZEN / "specs" / "quickstart.yaml"), "--store", str(store), "--quiet"]
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=900)
    assert done.returncode == 0, done.stderr[-2000:]
    shown = subprocess.run([sys.executable, "-m", "redundancy", "show", str(store), "--json"], capture_output=True, text=True, env=env, timeout=300)
    assert shown.returncode == 0, shown.stderr[-2000:]
    now = headline(json.loads(shown.stdout))
    want = golden["headline"]
    assert sorted(now) == sorted(want)
    exact = _same_machine_type(store, golden["measured_with"])
    for name, value in want.items():
        if exact:
            assert now[name] == value, f"{name}: {now[name]} != golden {value}"
        elif abs(value) <= 1:
            assert math.isclose(now[name], value, abs_tol=0.01), f"{name}: {now[name]} far from golden {value}"
        else:
            assert math.isclose(now[name], value, rel_tol=0.05), f"{name}: {now[name]} far from golden {value}"
    # the Python API reads the same store: one run, the three studies, tidy curves, tensors
    s = redundancy.open_store(store)
    assert list(s.runs["status"]) == ["done"] and s.runs.loc[0, "test_accuracy"] == now["test_accuracy"]
    assert sorted(s.studies["kind"]) == ["dynamics", "pruning", "subspace"] and (s.studies["status"] == "done").all()
    pruning = s.curves("pruning")
    assert {"criterion", "direction", "x", "y"} <= set(pruning.columns) and len(pruning) > 1000
    assert s.tensor("run", "test_accuracy").ndim == 1

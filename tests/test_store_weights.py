"""``store_weights: true``: the lottery keeps each round's trained ticket, so ``docs/recompute_lottery.py``
(numpy and h5py only) recomputes every round's mask from the previous round's weights and mask; pruning keeps
its fine-tuned networks and unit_ticket the masks behind ``ticket_counts``. Off by default, ids unchanged."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest

from redundancy.engine.plan import make_plan
from redundancy.spec.loader import load_spec
from support.tiny import run_spec, stage_arrays, tiny_text, write_spec

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "docs" / "recompute_lottery.py"

STUDIES = """\
studies:
  - kind: lottery
    rounds: 3
    rate: 0.3
    controls: [reinit]
    store_weights: true
  - kind: lottery
    name: global
    rounds: 2
    rate: 0.4
    scope: global
    layers: [fc1, fc2]
    controls: []
    store_weights: true
  - kind: unit_ticket
    keep_fractions: [0.5]
    selectors: [ticket_counts, random]
    seeds: 1
    ticket_round: 2
    store_weights: true
  - kind: pruning
    criteria: [magnitude, random]
    seeds: 2
    finetune: {iterations: 10, levels: [0.25]}
    store_weights: true
"""


@pytest.fixture(scope="module")
def stored(tmp_path_factory: pytest.TempPathFactory):
    folder = tmp_path_factory.mktemp("weights")
    text = tiny_text("weights", model={"widths": [16, 8]}, iterations=60, tail=STUDIES)
    plan, store, report = run_spec(folder, text, "weights.yaml")
    assert not report.failed, report.failed
    return plan, store


def _recompute(store: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(SCRIPT), str(store)], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "OMP_NUM_THREADS": "1"}, cwd=ROOT)


def test_script_uses_only_numpy_and_h5py() -> None:
    imports = {a or b for a, b in re.findall(r"^(?:from\s+(\w+)\S*\s+import|import\s+(\w+))", SCRIPT.read_text(), flags=re.M)}
    assert imports <= {"__future__", "argparse", "json", "sys", "pathlib", "numpy", "h5py"}


def test_lottery_masks_recompute_from_stored_weights(stored, tmp_path: Path) -> None:
    plan, store = stored
    done = _recompute(store.root)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.count("every mask matches") == 2
    # the check can fail: one flipped survivor in round 2 of a copy is found
    copy = tmp_path / "copy"
    shutil.copytree(store.root, copy)
    lottery = next(s for s in plan.studies if s.config.kind == "lottery" and s.name != "global")
    with h5py.File(copy / "stages" / f"{lottery.id}.h5", "r+") as f:
        masks = f["results/masks/fc2"]
        m = masks[()]
        m[2].flat[int(np.flatnonzero(m[2])[0])] = 0
        masks[...] = m
    bad = _recompute(copy)
    assert bad.returncode == 1 and "round 2 mask of fc2" in bad.stdout


def test_lottery_trained_weights_are_the_tickets(stored) -> None:
    plan, store = stored
    lottery = next(s for s in plan.studies if s.config.kind == "lottery" and s.name != "global")
    arrays = stage_arrays(store.stage_path(lottery.id), "results")
    run = stage_arrays(store.stage_path(plan.runs[0].id))
    final = max(int(k.split("/")[1]) for k in run if k.startswith("checkpoints/"))
    for layer in ("fc1", "fc2", "fc3"):
        trained, masks = arrays[f"trained/{layer}"], arrays[f"masks/{layer}"]
        assert trained.shape == masks.shape and trained.dtype == np.float32
        np.testing.assert_array_equal(trained[0], run[f"checkpoints/{final:08d}/blocks.{layer}.layer.weight"])
        assert not trained[1:][masks[1:] == 0].any()  # a ticket's pruned weights stay zero


def test_pruning_and_unit_ticket_keep_their_weights(stored) -> None:
    plan, store = stored
    ut = next(s for s in plan.studies if s.config.kind == "unit_ticket")
    arrays = stage_arrays(store.stage_path(ut.id), "results")
    for layer in ("fc1", "fc2"):
        np.testing.assert_array_equal(arrays[f"ticket_masks/{layer}"].sum(axis=1), arrays[f"ticket_counts/{layer}"])
    assert arrays["ticket_masks/fc3"].shape == (2, 8)
    pruning = next(s for s in plan.studies if s.config.kind == "pruning")
    arrays = stage_arrays(store.stage_path(pruning.id), "results")
    w = arrays["fc1@best/magnitude/smallest/finetuned/000004/weights/blocks.fc1.layer.weight"]
    assert w.shape == (12, 6)  # 16 units, 4 removed; xord with 3 pairs has 6 inputs
    assert arrays["fc1@best/random/finetuned/000004/weights/blocks.fc1.layer.weight"].shape == (2, 12, 6)


def test_store_weights_off_by_default_keeps_ids(tmp_path: Path) -> None:
    for kind in ("lottery", "pruning", "unit_ticket"):
        ids = []
        for extra in ("", "    store_weights: false\n"):
            path = write_spec(tmp_path, tiny_text(model={"widths": [16, 8]}, tail=f"studies:\n  - kind: {kind}\n{extra}"), f"{kind}{len(ids)}.yaml")
            ids.append(make_plan(load_spec(path)).studies[0].id)
        assert ids[0] == ids[1]

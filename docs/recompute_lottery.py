"""Recompute a store's lottery masks from its HDF5 files and docs/store.md alone.

Uses only numpy and h5py: no ``redundancy`` import, no torch. For every
``lottery`` study stored with ``store_weights: true`` it cuts round r + 1's mask
from round r's stored trained ticket (``trained/<layer>``) and mask
(``masks/<layer>``), as docs/store.md "Rate schedule" says, and compares it with
the stored ``masks/<layer>`` of round r + 1, for every round.

Prints one line per stage and exits 0 when every mask matches, 1 on a mismatch,
2 when there is nothing to recompute (no lottery study with stored weights).

    python docs/recompute_lottery.py STORE
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import h5py
import numpy as np


def groups(layers: list[str], output: str, config: dict) -> list[tuple[list[str], float]]:
    """The layers ranked together and their rate: each hidden layer alone (layerwise) or all together
    (global); the output layer alone at ``output_rate`` (default rate / 2)."""
    rate = float(config["rate"])
    output_rate = rate / 2 if config.get("output_rate") is None else float(config["output_rate"])
    hidden = [n for n in layers if n != output]
    out: list[tuple[list[str], float]] = [(hidden, rate)] if config.get("scope") == "global" and hidden else [([n], rate) for n in hidden]
    if output in layers:
        out.append(([output], output_rate))
    return out


def cut(weights: dict[str, np.ndarray], masks: dict[str, np.ndarray], rate: float, round_: int) -> dict[str, np.ndarray]:
    """Keep round(N (1 − rate)^r) of the group's N weights: the largest |w| among the survivors, ranked
    together (pruned weights score −1, ties by position, layers flattened in forward order)."""
    names = list(weights)
    total = sum(masks[n].size for n in names)
    keep = int(round(total * (1 - rate) ** round_))
    scores = np.concatenate([np.where(masks[n] > 0, np.abs(weights[n].astype(np.float64)), -1.0).ravel() for n in names])
    kept = np.zeros(scores.size, dtype=bool)
    kept[np.argsort(-scores, kind="stable")[:keep]] = True
    out, start = {}, 0
    for n in names:
        out[n] = kept[start : start + masks[n].size].reshape(masks[n].shape)
        start += masks[n].size
    return out


def check_stage(path: Path) -> list[str]:
    """Mismatches of one lottery stage (empty: every round's mask recomputed exactly)."""
    problems = []
    with h5py.File(path, "r") as f:
        config = json.loads(f.attrs["config"])
        layers = [str(n) for n in json.loads(f.attrs["result_layers"])]
        output = str(f.attrs["result_output_layer"])
        res = f["results"]
        masks = {n: res[f"masks/{n}"][()] for n in layers}
        trained = {n: res[f"trained/{n}"][()] for n in layers}
    rounds = masks[layers[0]].shape[0] - 1
    for r in range(rounds):
        for names, rate in groups(layers, output, config):
            new = cut({n: trained[n][r] for n in names}, {n: masks[n][r] for n in names}, rate, r + 1)
            for n in names:
                differ = int((new[n] != (masks[n][r + 1] > 0)).sum())
                if differ:
                    problems.append(f"{path.name}: round {r + 1} mask of {n}: {differ} weights differ")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("store")
    args = parser.parse_args(argv)
    stages = []
    for path in sorted(Path(args.store, "stages").glob("lottery-*.h5")):
        with h5py.File(path, "r") as f:
            if "results" in f and "result_output_layer" in f.attrs and any(k.startswith("trained/") or k == "trained" for k in f["results"]):
                stages.append(path)
    if not stages:
        print(f"{args.store}: no lottery study stored with store_weights: true", file=sys.stderr)
        return 2
    problems = []
    for path in stages:
        found = check_stage(path)
        problems += found
        print(f"{path.name}: {'recomputed, every mask matches' if not found else f'{len(found)} mismatches'}")
    for line in problems:
        print(f"MISMATCH {line}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())

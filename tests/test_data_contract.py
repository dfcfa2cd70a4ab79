"""Imported work is evaluated honestly: on the samples and preprocessing its author declares, or with a warning.

The network here is trained the way a user outside this project would: the mnist-5k CSV read with gzip
and numpy, their own shuffled split and their own ``/ 255`` scaling, plain PyTorch.
"""

from __future__ import annotations

import gzip
from functools import lru_cache
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn
from typer.testing import CliRunner, Result

from redundancy.cli import app
from redundancy.data import DataBundle, load_data
from redundancy.data.contract import read_indices
from redundancy.data.mnist5k import csv_path
from redundancy.errors import SpecError
from redundancy.spec.loader import load_spec
from redundancy.spec.schema import DataConfig
from redundancy.store.reader import read_document

STEPS = 150


@lru_cache(maxsize=1)
def users_own_data() -> tuple[np.ndarray, np.ndarray]:
    """The CSV's rows as the user reads them: pixels 0..255 and labels, in file order."""
    with gzip.open(csv_path(), "rb") as f:
        table = np.array(f.read().replace(b",", b" ").split(), dtype=np.float32).reshape(-1, 785)
    return table[:, :-1], table[:, -1].astype(np.int64)


def train_plainly(folder: Path) -> tuple[float, np.ndarray, np.ndarray]:
    """Train on the user's own split (seed 1, 4,000 / 1,000) scaled by 1/255; save init.pt and trained.pt."""
    pixels, labels = users_own_data()
    order = np.random.default_rng(1).permutation(len(labels))
    train, held_out = order[:4000], order[4000:]
    x = torch.from_numpy(pixels / 255.0).float().view(-1, 1, 28, 28)
    y = torch.from_numpy(labels)
    torch.manual_seed(0)
    net = nn.Sequential(nn.Flatten(), nn.Linear(784, 32), nn.ReLU(), nn.Linear(32, 10))
    rename = {"1.weight": "fc1.weight", "1.bias": "fc1.bias", "3.weight": "fc2.weight", "3.bias": "fc2.bias"}
    torch.save({rename[k]: v.clone() for k, v in net.state_dict().items()}, folder / "init.pt")
    opt = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9)
    gen = torch.Generator().manual_seed(0)
    xt, yt = x[torch.from_numpy(train)], y[torch.from_numpy(train)]
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny batches: more threads only contend on a shared machine
    try:
        for _ in range(STEPS):
            batch = torch.randint(0, len(xt), (64,), generator=gen)
            opt.zero_grad()
            nn.functional.cross_entropy(net(xt[batch]), yt[batch]).backward()
            opt.step()
    finally:
        torch.set_num_threads(threads)
    torch.save({rename[k]: v.clone() for k, v in net.state_dict().items()}, folder / "trained.pt")
    with torch.no_grad():
        held = torch.from_numpy(held_out)
        accuracy = int((net(x[held]).argmax(1) == y[held]).sum()) / len(held)
    return accuracy, train, held_out


SPEC = """\
name: imported
data:
  name: mnist-5k
{data}model: {{name: mlp, widths: [32]}}
train:
  from_checkpoints: {{0: init.pt, %d: trained.pt}}
{train}""" % STEPS

DECLARED = """\
  preprocess: {scale: 0.00392156862745098, mean: 0, std: 1}
  split: {train: mine/train.npy, test: mine/held_out.txt}
"""


def cli(*args: str, cwd: Path, monkeypatch: pytest.MonkeyPatch) -> Result:
    monkeypatch.chdir(cwd)
    return CliRunner().invoke(app, list(args), env={"COLUMNS": "200"})


def test_a_checkpoint_trained_on_another_split_is_scored_on_its_own_held_out_set(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mnist5k: DataBundle) -> None:
    accuracy, train, held_out = train_plainly(tmp_path)
    assert 0.5 < accuracy < 0.99  # learned something, with room for a contaminated test set to inflate it
    (tmp_path / "mine").mkdir()
    np.save(tmp_path / "mine" / "train.npy", train)
    (tmp_path / "mine" / "held_out.txt").write_text("\n".join(map(str, held_out)) + "\n")
    (tmp_path / "spec.yaml").write_text(SPEC.format(data=DECLARED, train=""))

    done = cli("run", "spec.yaml", "--store", "out", "--quiet", cwd=tmp_path, monkeypatch=monkeypatch)
    assert done.exit_code == 0, done.output
    assert "data contract of the imported checkpoints: trained on the 4,000 samples of train.npy; tested on 1,000 held-out samples" in done.output
    assert "preprocessing declared: x = (pixel × 0.00392157 − 0) / 1" in done.output
    assert "cannot know that the test set is unseen" not in done.output
    (run,) = read_document(tmp_path / "out")["runs"]
    assert run["test_accuracy"] == pytest.approx(accuracy, abs=1e-12)
    assert run["data_contract"] == "declared"
    assert "note:" not in cli("show", "out", cwd=tmp_path, monkeypatch=monkeypatch).output

    # The tool's own test set holds digits this network trained on: evaluated there, it warns.
    (tmp_path / "undeclared.yaml").write_text(SPEC.format(data="", train=""))
    checked = cli("validate", "undeclared.yaml", cwd=tmp_path, monkeypatch=monkeypatch)
    assert checked.exit_code == 0, checked.output
    assert "warning:" in checked.output and "cannot know that the test set is unseen" in checked.output
    assert cli("run", "undeclared.yaml", "--store", "inflated", "--quiet", cwd=tmp_path, monkeypatch=monkeypatch).exit_code == 0
    (inflated,) = read_document(tmp_path / "inflated")["runs"]
    assert inflated["data_contract"] == "unknown"
    shown = cli("show", "inflated", cwd=tmp_path, monkeypatch=monkeypatch).output  # said again wherever the accuracy is shown
    assert "note: run: imported checkpoints whose spec declares no data contract" in shown
    tool_test = mnist5k
    pixels, _ = users_own_data()
    seen = {row.tobytes() for row in pixels[train].astype(np.uint8)}
    tool_pixels = ((tool_test.test_x.view(-1, 784).double() * 0.3081 + 0.1307) * 255).round().to(torch.uint8).numpy()
    assert sum(row.tobytes() in seen for row in tool_pixels) > 500  # most of the tool's test digits were trained on


def test_the_declared_data_are_the_users_samples_preprocessed_the_users_way(tmp_path: Path) -> None:
    pixels, labels = users_own_data()
    rows = np.array([4999, 3, 17, 256])
    np.save(tmp_path / "train.npy", np.arange(100, 200))
    torch.save(torch.from_numpy(rows), tmp_path / "test.pt")
    cfg = DataConfig.model_validate(
        {"name": "mnist-5k", "preprocess": {"scale": 2.0, "mean": 10.0, "std": 4.0},
         "split": {"train": str(tmp_path / "train.npy"), "test": str(tmp_path / "test.pt")}}
    )
    bundle = load_data(cfg, validation=10)
    assert torch.equal(bundle.test_y, torch.from_numpy(labels[rows]))
    want = torch.from_numpy((pixels[rows] * 2.0 - 10.0) / 4.0).float()
    assert torch.allclose(bundle.test_x.view(len(rows), -1), want, atol=1e-5)
    assert len(bundle.train_y) == 90 and len(bundle.val_y) == 10
    assert set(bundle.train_y.tolist() + bundle.val_y.tolist()) <= set(labels[100:200].tolist())


def test_contract_problems_are_spec_errors_and_the_tools_own_contract_is_quiet(tmp_path: Path) -> None:
    torch.save({"fc1.weight": torch.zeros(32, 784), "fc1.bias": torch.zeros(32), "fc2.weight": torch.zeros(10, 32), "fc2.bias": torch.zeros(10)}, tmp_path / "w.pt")
    for name in ("init.pt", "trained.pt"):
        (tmp_path / name).write_bytes((tmp_path / "w.pt").read_bytes())
    (tmp_path / "a.txt").write_text("1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12")
    (tmp_path / "b.txt").write_text("12 13")
    spec = tmp_path / "spec.yaml"
    spec.write_text(SPEC.format(data="  split: {train: a.txt, test: b.txt}\n", train=""))
    with pytest.raises(SpecError, match=r"data.split.test shares 1 samples with data.split.train \(the first is 12\)"):
        load_spec(spec)
    spec.write_text(SPEC.format(data="  split: {train: a.txt, test: gone.txt}\n", train=""))
    with pytest.raises(SpecError, match="no split file 'gone.txt'"):
        load_spec(spec)
    spec.write_text(SPEC.format(data="", train="  data_contract: declared\n"))
    with pytest.raises(SpecError, match="train.data_contract is 'declared' but the data section declares no split"):
        load_spec(spec)
    spec.write_text(SPEC.format(data="", train="  data_contract: redundancy\n"))
    assert not any("unseen" in w.message for w in load_spec(spec).warnings)
    spec.write_text("name: x\ndata: {name: xord, preprocess: {std: 2}}\n")
    with pytest.raises(SpecError, match="data.preprocess applies to image datasets"):
        load_spec(spec)


def test_index_files_must_hold_distinct_whole_numbers(tmp_path: Path) -> None:
    (tmp_path / "twice.txt").write_text("1 2 2")
    (tmp_path / "floats.npy").write_bytes(b"")
    np.save(tmp_path / "floats.npy", np.array([1.5, 2.0]))
    (tmp_path / "words.txt").write_text("1 two")
    assert read_indices_ok(tmp_path / "ok.txt", "[3, 1,\n2]") == [3, 1, 2]
    for name, why in (("twice.txt", "more than once"), ("floats.npy", "list of sample indices"), ("words.txt", "cannot read")):
        with pytest.raises(Exception, match=why):
            read_indices(tmp_path / name)


def read_indices_ok(path: Path, text: str) -> list[int]:
    path.write_text(text)
    return read_indices(path).tolist()

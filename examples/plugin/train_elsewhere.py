"""Train the example network with plain PyTorch and save two state dicts, as a network trained elsewhere.

``spec_import.yaml`` imports them (``train.from_checkpoints``) instead of
training. The network is the one ``redundancy_example.nets:build`` makes, so
its ``nn.Sequential`` parameter names (``1.weight``, ``3.weight``) need no
``keys:`` map; the data is the spec's, read through redundancy's loader.

    python train_elsewhere.py      # writes init.pt and trained.pt here
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

import torch
from torch import nn

from redundancy.data import load_data
from redundancy.spec.schema import DataConfig

ITERATIONS = 200


def main(folder: Path) -> None:
    data = load_data(DataConfig(name="xord", input_dim=3, train_samples=400, test_samples=200), validation=0.1)
    torch.manual_seed(0)
    inputs, classes = math.prod(data.train_x.shape[1:]), int(data.train_y.max()) + 1
    net = nn.Sequential(nn.Flatten(), nn.Linear(inputs, 16), nn.ReLU(), nn.Linear(16, classes))
    torch.save(net.state_dict(), folder / "init.pt")
    opt = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9)
    gen = torch.Generator().manual_seed(0)
    for _ in range(ITERATIONS):
        batch = torch.randint(0, len(data.train_x), (32,), generator=gen)
        loss = nn.functional.cross_entropy(net(data.train_x[batch]), data.train_y[batch])
        opt.zero_grad()
        loss.backward()
        opt.step()
    torch.save(net.state_dict(), folder / "trained.pt")
    with torch.no_grad():
        accuracy = (net(data.test_x).argmax(1) == data.test_y).float().mean().item()
    print(f"test accuracy {accuracy:.4f}; wrote {folder / 'init.pt'} and {folder / 'trained.pt'}")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parent)

"""Every model at small shapes: names, unit counts, widths, init, and the block API studies use."""

from __future__ import annotations

import math

import pytest
import torch

from redundancy.errors import RedundancyError
from redundancy.models import MODELS, build_model, describe_layers, layer_infos
from redundancy.spec.schema import ModelConfig

IMAGE = {"lenet_300_100": (1, 28, 28), "mlp": (12,), "conv2": (3, 32, 32), "conv4": (3, 32, 32), "conv6": (3, 32, 32), "vgg19": (3, 32, 32)}

EXPECTED = {
    "lenet_300_100": ["fc1", "fc2", "fc3"],
    "mlp": ["fc1", "fc2"],
    "conv2": ["conv1", "conv2", "fc1", "fc2", "fc3"],
    "conv4": ["conv1", "conv2", "conv3", "conv4", "fc1", "fc2", "fc3"],
    "conv6": [f"conv{i}" for i in range(1, 7)] + ["fc1", "fc2", "fc3"],
    "vgg19": [f"conv{i}" for i in range(1, 17)] + ["fc1", "fc2", "fc3"],
}


@pytest.mark.parametrize("name", sorted(MODELS))
def test_forward_shapes_and_layer_names(name: str) -> None:
    width = 0.25 if name in {"conv6", "vgg19"} else 1.0
    model = build_model(ModelConfig(name=name, width=width), IMAGE[name], 10, seed=0)
    assert model.names == EXPECTED[name]
    x = torch.randn(2, *IMAGE[name])
    model.eval()
    assert model(x).shape == (2, 10)
    infos = layer_infos(model)
    assert infos[model.names[-1]].is_output and infos[model.names[-1]].units == 10
    # the meta-device description agrees with the real model
    assert describe_layers(ModelConfig(name=name, width=width), IMAGE[name], 10) == infos


def test_seed_table_sizes() -> None:
    lenet = build_model(ModelConfig(), (1, 28, 28), 10, seed=0)
    assert sum(p.numel() for p in lenet.parameters()) == 266_610  # the seed's "266K"
    conv2 = build_model(ModelConfig(name="conv2"), (3, 32, 32), 10, seed=0)
    conv_weights = sum(b.layer.weight.numel() for n, b in conv2.blocks.items() if n.startswith("conv"))
    assert conv_weights == 38_592  # "38K" conv weights
    assert sum(p.numel() for p in conv2.parameters()) // 100_000 == 43  # "4.3M"


def test_width_multiplier_scales_hidden_units_only() -> None:
    infos = describe_layers(ModelConfig(width=2.0), (1, 28, 28), 10)
    assert [i.units for i in infos.values()] == [600, 200, 10]
    assert infos["fc2"].fan_in == 600
    conv = describe_layers(ModelConfig(name="conv2", width=0.5), (3, 32, 32), 10)
    assert conv["conv1"].units == 32 and conv["conv2"].fan_in == 32 * 9


def test_glorot_normal_init_statistics_and_seed() -> None:
    a = build_model(ModelConfig(), (1, 28, 28), 10, seed=3)
    b = build_model(ModelConfig(), (1, 28, 28), 10, seed=3)
    c = build_model(ModelConfig(), (1, 28, 28), 10, seed=4)
    wa = a.block("fc1").layer.weight
    assert torch.equal(wa, b.block("fc1").layer.weight)
    assert not torch.equal(wa, c.block("fc1").layer.weight)
    expected = math.sqrt(2.0 / (784 + 300))
    assert abs(wa.std().item() - expected) / expected < 0.02
    assert abs(wa.mean().item()) < 3 * expected / math.sqrt(wa.numel())
    assert torch.count_nonzero(a.block("fc1").layer.bias) == 0


def test_features_and_forward_from_compose_to_forward() -> None:
    model = build_model(ModelConfig(name="conv2", width=0.25), (3, 32, 32), 10, seed=0).eval()
    x = torch.randn(4, 3, 32, 32)
    for name in model.names:
        h = model.features(x, name)
        out = model.forward_from(name, model.block(name)(h))
        assert torch.allclose(out, model(x), atol=1e-6)


def test_unit_mask_zeroes_units_after_batch_norm() -> None:
    model = build_model(ModelConfig(name="vgg19", width=0.125), (3, 32, 32), 10, seed=0).eval()
    x = torch.randn(2, 3, 32, 32)
    block = model.block("conv1")
    mask = torch.ones(block.units)
    mask[[0, 3]] = 0
    out = block(model.features(x, "conv1"), mask)
    assert torch.count_nonzero(out[:, [0, 3]]) == 0 and torch.count_nonzero(out[:, 1]) > 0


def test_conv_models_need_images() -> None:
    with pytest.raises(RedundancyError, match="needs image data"):
        build_model(ModelConfig(name="conv2"), (784,), 10, seed=0)


def test_unknown_model() -> None:
    with pytest.raises(RedundancyError, match="unknown model"):
        build_model(ModelConfig(name="resnet"), (1, 28, 28), 10, seed=0)

"""The engine's optimizers against torch.optim: same numbers, bit for bit, on CPU."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch

from redundancy.fast.optim import Update


def params(seed: int, dtype: torch.dtype = torch.float32) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(*shape, generator=g, dtype=dtype).requires_grad_() for shape in [(7, 5), (7,), (3, 7), (3,)]]


def run(make: object, kind_params: list[torch.Tensor], steps: int, lr_at: dict[int, float]) -> list[torch.Tensor]:
    opt = make(kind_params)  # type: ignore[operator]
    g = torch.Generator().manual_seed(99)
    for step in range(steps):
        if step in lr_at:
            opt.param_groups[0]["lr"] = lr_at[step]
        for p in kind_params:
            p.grad = torch.randn(p.shape, generator=g, dtype=p.dtype)
            if step == 3:
                p.grad[0] = 0.0  # exact zeros and a skipped parameter on one step
        if step == 5:
            kind_params[1].grad = None
        opt.step()
    return [p.detach().clone() for p in kind_params]


CASES = {
    "sgd": (dict(kind="sgd", lr=0.05), lambda ps: torch.optim.SGD(ps, lr=0.05)),
    "sgd-momentum": (dict(kind="sgd", lr=0.05, momentum=0.9), lambda ps: torch.optim.SGD(ps, lr=0.05, momentum=0.9)),
    "sgd-momentum-decay": (
        dict(kind="sgd", lr=0.05, momentum=0.9, weight_decay=1e-3),
        lambda ps: torch.optim.SGD(ps, lr=0.05, momentum=0.9, weight_decay=1e-3),
    ),
    "adam": (dict(kind="adam", lr=0.01), lambda ps: torch.optim.Adam(ps, lr=0.01)),
    "adam-decay": (dict(kind="adam", lr=0.01, weight_decay=1e-3), lambda ps: torch.optim.Adam(ps, lr=0.01, weight_decay=1e-3)),
}


@pytest.mark.parametrize("fused", [False, True], ids=["per-tensor", "fused"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["float32", "float64"])
@pytest.mark.parametrize("case", list(CASES))
def test_updates_equal_torch_optim_bit_for_bit(case: str, dtype: torch.dtype, fused: bool) -> None:
    ours, theirs = CASES[case]
    lr_at = {6: 0.01}  # a learning-rate milestone, set as a scheduler would
    mine = run(lambda ps: Update(ps, fused=fused, **ours), params(0, dtype), 9, lr_at)

    def reference(ps: list[torch.Tensor]) -> torch.optim.Optimizer:
        opt = theirs(ps)
        for group in opt.param_groups:
            group["fused"] = fused  # torch.optim's own fused CPU kernels
        return opt

    expected = run(reference, params(0, dtype), 9, lr_at)
    for a, b in zip(mine, expected):
        assert torch.equal(a, b), (a - b).abs().max()


def test_update_state_exists_before_the_first_step() -> None:
    """A captured graph and the state snapshot need every state tensor before step one."""
    ps = params(1)
    sgd = Update(ps, "sgd", lr=0.1, momentum=0.9)
    assert all(torch.count_nonzero(s["momentum_buffer"]) == 0 for s in sgd.state.values())
    adam = Update(ps, "adam", lr=0.1, fused=True)
    assert sorted(adam.state[ps[0]]) == ["exp_avg", "exp_avg_sq", "step"]
    assert adam.state[ps[0]]["step"].device == ps[0].device
    with pytest.raises(ValueError, match="unknown optimizer 'rmsprop'"):
        Update(ps, "rmsprop", lr=0.1)


def test_training_does_not_import_torch_dynamo() -> None:
    """torch.optim's first optimizer imports torch._dynamo (seconds per process); the engine's do not."""
    code = (
        "import sys, torch\n"
        "from redundancy.data import load_data\n"
        "from redundancy.spec.schema import DataConfig, ModelConfig, TrainConfig, resolve_train\n"
        "from redundancy.train import train_model\n"
        "data = load_data(DataConfig(name='xord', input_dim=3, train_samples=64, test_samples=32), validation=16)\n"
        "for opt in ('sgd', 'adam'):\n"
        "    model = ModelConfig(name='mlp', widths=[8])\n"
        "    train = resolve_train(TrainConfig(optimizer=opt, iterations=4, batch_size=16, lr=0.01, eval_interval=2), model)\n"
        "    train_model(model, train, data, seed=0)\n"
        "print('torch._dynamo' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"

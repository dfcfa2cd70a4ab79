"""Where a LeNet training step's time goes on a GPU: a diagnostic, not part of ``make bench``.

Prints, for one fresh process on one CUDA device:
  - the one-off costs a first training pays (CUDA context, first cuBLAS product,
    first graph capture, the engine's first and second ``train_model``);
  - the steady-state rate of the same LeNet-300-100 step (batch 64, SGD with
    momentum, batch sampled on the device) captured as a CUDA graph in several
    ways: one step per graph, several steps per graph, fused SGD; and the
    engine's own rate;
  - how many kernels one step launches (from the profiler, eagerly).
Usage: python benchmarks/step_anatomy.py
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

T0 = time.perf_counter()
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

T_IMPORT = time.perf_counter() - T0
sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import engine_rate, random_bundle  # noqa: E402

from redundancy.models import build_model  # noqa: E402
from redundancy.spec.schema import ModelConfig, TrainConfig, resolve_train  # noqa: E402
from redundancy.train import train_model  # noqa: E402

LENET = ModelConfig(name="lenet_300_100")


def timed(label: str, fn) -> object:  # type: ignore[no-untyped-def]
    torch.cuda.synchronize()
    start = time.perf_counter()
    out = fn()
    torch.cuda.synchronize()
    print(f"{label:<58} {time.perf_counter() - start:8.3f} s")
    return out


def one_off() -> None:
    print(f"{'import torch':<58} {T_IMPORT:8.3f} s")
    start = time.perf_counter()
    torch.cuda.init()
    torch.zeros(1, device="cuda")
    torch.cuda.synchronize()
    print(f"{'CUDA context and first tensor':<58} {time.perf_counter() - start:8.3f} s")
    a = torch.randn(64, 784, device="cuda")
    b = torch.randn(784, 300, device="cuda")
    timed("first cuBLAS product", lambda: a @ b)
    timed("second cuBLAS product", lambda: a @ b)

    def capture() -> None:
        g = torch.cuda.CUDAGraph()
        s = torch.cuda.Stream()
        s.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(s):
            a @ b
        torch.cuda.current_stream().wait_stream(s)
        with torch.cuda.graph(g):
            a @ b
        g.replay()

    timed("first graph capture (one product)", capture)
    data = random_bundle((1, 28, 28), 4000, "cuda")
    train = resolve_train(TrainConfig(iterations=200, eval_interval=100), LENET)
    timed("engine train_model, 200 iterations, first", lambda: train_model(LENET, train, data, seed=0, device="cuda"))
    timed("engine train_model, 200 iterations, second", lambda: train_model(LENET, train, data, seed=1, device="cuda"))
    train = resolve_train(TrainConfig(iterations=200, eval_interval=100, graph="off"), LENET)
    timed("engine train_model, 200 iterations, eager", lambda: train_model(LENET, train, data, seed=1, device="cuda"))


def graph_rate(steps_per_graph: int, fused: bool, iterations: int = 20_000) -> float:
    data = random_bundle((1, 28, 28), 4000, "cuda")
    net = build_model(LENET, (1, 28, 28), 10, seed=0).to("cuda")
    opt = torch.optim.SGD(net.parameters(), lr=3e-3, momentum=0.9, fused=fused or None)
    perm = torch.randperm(4000, device="cuda")
    pos = torch.arange(64, device="cuda")
    x, y = data.train_x, data.train_y

    def step() -> None:
        idx = perm.index_select(0, pos % 4000)
        pos.add_(64)
        for p in net.parameters():
            p.grad = None
        F.cross_entropy(net(x.index_select(0, idx)), y.index_select(0, idx)).backward()
        opt.step()

    s = torch.cuda.Stream()
    s.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(s):
        for _ in range(3):
            step()
    torch.cuda.current_stream().wait_stream(s)
    g = torch.cuda.CUDAGraph()
    with torch.cuda.graph(g):
        for _ in range(steps_per_graph):
            step()
    replays = iterations // steps_per_graph
    for _ in range(10):
        g.replay()
    torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(replays):
        g.replay()
    torch.cuda.synchronize()
    return replays * steps_per_graph / (time.perf_counter() - start)


def kernels_per_step() -> int:
    data = random_bundle((1, 28, 28), 4000, "cuda")
    net = build_model(LENET, (1, 28, 28), 10, seed=0).to("cuda")
    opt = torch.optim.SGD(net.parameters(), lr=3e-3, momentum=0.9)
    idx = torch.arange(64, device="cuda")

    def step() -> None:
        for p in net.parameters():
            p.grad = None
        F.cross_entropy(net(data.train_x.index_select(0, idx)), data.train_y.index_select(0, idx)).backward()
        opt.step()

    for _ in range(3):
        step()
    torch.cuda.synchronize()
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CUDA]) as prof:
        step()
        torch.cuda.synchronize()
    names = [e.name for e in prof.events() if e.device_type.name == "CUDA"]
    print("  kernels:", ", ".join(n[:40] for n in names))
    return len(names)


def end_to_end() -> None:
    """The end-to-end benchmark's command, with its per-stage log, and the import time of the CLI."""
    import subprocess
    import tempfile

    from end_to_end import ITERATIONS, REPO, SPEC, pruning_study

    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import redundancy.cli, redundancy.engine.driver"], cwd=REPO, check=True)
    print(f"{'python -c import redundancy.cli, driver':<58} {time.perf_counter() - start:8.3f} s")
    studies, _ = pruning_study()
    with tempfile.TemporaryDirectory() as tmp:
        spec = Path(tmp) / "e2e.yaml"
        import json

        spec.write_text(SPEC.format(iterations=ITERATIONS, studies=json.dumps(studies)))
        start = time.perf_counter()
        out = subprocess.run([sys.executable, "-m", "redundancy", "run", str(spec), "--store", f"{tmp}/store", "--device", "cuda"], cwd=REPO, capture_output=True, text=True)
        print(f"{'redundancy run, end-to-end spec':<58} {time.perf_counter() - start:8.3f} s")
        print("\n".join(line for line in out.stdout.splitlines() if line.startswith("done") or "trained" in line))
        if out.returncode:
            print(out.stdout[-1500:], out.stderr[-1500:])


def main() -> None:
    print(f"on {torch.cuda.get_device_name(0)}, torch {torch.__version__}")
    one_off()
    for steps, fused in [(1, False), (1, True), (8, False), (8, True), (32, True)]:
        try:
            print(f"{f'graph of {steps} step(s), fused SGD {fused}':<58} {graph_rate(steps, fused):8,.0f} it/s")
        except Exception as exc:
            print(f"graph of {steps} step(s), fused SGD {fused}: failed: {str(exc)[:200]}")
    print(f"{'engine (train_model, graph on)':<58} {engine_rate(LENET, random_bundle((1, 28, 28), 10_000, 'cuda'), 'cuda', 20_000):8,.0f} it/s")
    try:
        print(f"{'kernels in one eager step':<58} {kernels_per_step():8d}")
    except Exception as exc:  # the profiler may be unavailable in a VM
        print(f"kernel count unavailable: {exc}")
    end_to_end()


if __name__ == "__main__":
    main()

"""Bring your own: model and dataset plugins, networks not written against our classes, imported checkpoints.

Plugins are real packages written into ``tmp_path`` and put on ``sys.path``; entry points come from a
real ``.dist-info`` folder in a site folder on ``sys.path``. Imported checkpoints are trained here with
plain PyTorch, saved, studied through a spec, and the studies' unpruned accuracy is compared with the
accuracy plain PyTorch measures on the same weights.
"""

from __future__ import annotations

import sys
import textwrap
from collections import OrderedDict
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file
from torch import nn
from support.tiny import run_spec, write_spec

from redundancy import plugins
from redundancy.data import DataBundle
from redundancy.data import plugin as data_plugin
from redundancy.engine import make_plan
from redundancy.errors import SpecError
from redundancy.spec.loader import load_spec
from redundancy.store import layout as L
from redundancy.store import open_h5
from redundancy.store.reader import read_document

def own_net() -> nn.Sequential:
    """A plain PyTorch network with its own parameter names (hidden.*, out.*)."""
    torch.manual_seed(7)
    return nn.Sequential(OrderedDict(hidden=nn.Linear(6, 16), act=nn.ReLU(), out=nn.Linear(16, 2)))


def plain_accuracy(net: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    with torch.no_grad():
        return int((net(x).argmax(1) == y).sum()) / len(y)


def train_few(net: nn.Module, data, steps: int = 40) -> None:
    opt = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9)
    gen = torch.Generator().manual_seed(0)
    for _ in range(steps):
        idx = torch.randint(0, data.train_x.shape[0], (32,), generator=gen)
        opt.zero_grad()
        nn.functional.cross_entropy(net(data.train_x[idx]), data.train_y[idx]).backward()
        opt.step()


@pytest.fixture
def on_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """A folder on ``sys.path`` to write plugin packages into; resolved plugins forgotten around the test."""
    site = tmp_path / "site"
    site.mkdir()
    monkeypatch.syspath_prepend(str(site))
    plugins.forget()
    data_plugin.forget()
    yield site
    plugins.forget()
    data_plugin.forget()
    for name in [m for m in sys.modules if m.split(".")[0] in {"mynets", "mydata", "epnets"}]:
        del sys.modules[name]


def write_package(site: Path, name: str, source: str) -> None:
    pkg = site / name
    pkg.mkdir()
    (pkg / "__init__.py").write_text(textwrap.dedent(source), encoding="utf-8")


def spec_yaml(data: str, model: str, train: str, studies: str) -> str:
    return f"name: byo\nseed: 0\ndata:\n{data}\nmodel:\n{model}\ntrain:\n{train}\nstudies:\n{studies}\n"


XORD_YAML = "  name: xord\n  input_dim: 3\n  train_samples: 400\n  test_samples: 200"


# --- imported checkpoints ------------------------------------------------------------------------


def test_imported_checkpoints_of_a_plain_sequential_are_studied_at_their_own_accuracy(tmp_path: Path, xord: DataBundle) -> None:
    data = xord
    net = own_net()
    torch.save(net.state_dict(), tmp_path / "init.pt")
    init_acc = plain_accuracy(net, data.test_x, data.test_y)
    train_few(net, data)
    save_file({k: v.contiguous() for k, v in net.state_dict().items()}, str(tmp_path / "trained.safetensors"))
    trained_acc = plain_accuracy(net, data.test_x, data.test_y)
    assert trained_acc > init_acc  # the weights learned something: the comparison below is not between two chance levels

    keys = "\n".join(f"    {a}: {b}" for a, b in {"hidden.weight": "fc1.weight", "hidden.bias": "fc1.bias", "out.weight": "fc2.weight", "out.bias": "fc2.bias"}.items())
    text = spec_yaml(
        XORD_YAML,
        "  name: mlp\n  widths: [16]",
        f"  from_checkpoints:\n    0: init.pt\n    40: trained.safetensors\n  keys:\n{keys}",
        "  - kind: pruning\n    layer: fc1\n    checkpoint: final\n    seeds: 1\n"
        "  - kind: subspace\n    layer: fc1\n    checkpoint: final\n    ks: [0, 1, 4]\n    basis: [top]\n    seeds: 1",
    )
    plan, store, report = run_spec(tmp_path, text)
    assert not report.failed, report.failed
    doc = read_document(store.root)
    (run,) = doc["runs"]
    assert run["test_accuracy"] == pytest.approx(trained_acc, abs=1e-12)
    pruning = next(s for s in doc["studies"] if s["kind"] == "pruning")
    assert pruning["summary"]["accuracy_unpruned"] == pytest.approx(trained_acc, abs=1e-12)
    for curve in pruning["curves"].values():
        assert curve["accuracy"][0] == pytest.approx(trained_acc, abs=1e-12)
    subspace = next(s for s in doc["studies"] if s["kind"] == "subspace")
    rows = [v for v in subspace["summary"].values() if isinstance(v, dict) and "acc_full" in v]
    assert rows and all(r["acc_full"] == pytest.approx(trained_acc, abs=1e-12) for r in rows)
    # the stored weights are the files' weights under the model's names
    with open_h5(store.stage(plan.runs[0].id).path) as f:
        stored = f[L.checkpoint_path(0, "blocks.fc1.layer.weight")][()]
    assert torch.equal(torch.from_numpy(stored), torch.load(tmp_path / "init.pt", weights_only=True)["hidden.weight"])


def test_the_identity_of_an_imported_run_is_the_files_not_their_paths(tmp_path: Path) -> None:
    net = own_net()
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    for folder in ("a", "b"):
        torch.save(net.state_dict(), tmp_path / folder / "w.pt")
    text = spec_yaml(XORD_YAML, "  name: mlp\n  widths: [16]", "  from_checkpoints:\n    7: {f}/w.pt\n  keys: {{hidden.weight: fc1.weight, hidden.bias: fc1.bias, out.weight: fc2.weight, out.bias: fc2.bias}}", "  - kind: pruning\n    layer: fc1\n    checkpoint: final")
    ids = [make_plan(load_spec(write_spec(tmp_path, text.format(f=f), f"{f}.yaml"))).runs[0].id for f in ("a", "b")]
    assert ids[0] == ids[1]
    with torch.no_grad():
        net.hidden.weight[0, 0] += 1
    torch.save(net.state_dict(), tmp_path / "b" / "w.pt")
    assert make_plan(load_spec(tmp_path / "b.yaml")).runs[0].id != ids[0]


def test_a_plain_sequential_state_dict_imports_without_keys(tmp_path: Path) -> None:
    """Indices as names (0.weight, 2.weight) match the built-in mlp's fc1, fc2 through the short form only with keys;
    a model plugin returning the same nn.Sequential needs none."""
    (tmp_path / "site").mkdir()
    net = nn.Sequential(nn.Linear(6, 16), nn.ReLU(), nn.Linear(16, 2))
    torch.save(net.state_dict(), tmp_path / "w.pt")
    text = spec_yaml(XORD_YAML, "  name: mlp\n  widths: [16]", "  from_checkpoints: {5: w.pt}", "  - kind: pruning\n    layer: fc1\n    checkpoint: final")
    with pytest.raises(SpecError) as info:
        load_spec(write_spec(tmp_path, text))
    (problem,) = info.value.problems
    assert problem.line == 12 and problem.path == "train.from_checkpoints[5]"
    assert "'0.weight', '0.bias', '2.weight', '2.bias' match no parameter of the model (its layers: fc1, fc2); map them with train.keys" in problem.message


def test_mismatched_keys_and_shapes_name_the_layer(tmp_path: Path) -> None:
    net = own_net()
    state = net.state_dict()
    torch.save({k: v for k, v in state.items() if not k.startswith("out.")}, tmp_path / "partial.pt")
    wide = nn.Sequential(OrderedDict(hidden=nn.Linear(6, 20), act=nn.ReLU(), out=nn.Linear(20, 2)))
    torch.save(wide.state_dict(), tmp_path / "wide.pt")
    torch.save([1, 2, 3], tmp_path / "list.pt")
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    keys = "  keys: {hidden.weight: fc1.weight, hidden.bias: fc1.bias, out.weight: fc2.weight, out.bias: fc2.bias}"
    text = spec_yaml(XORD_YAML, "  name: mlp\n  widths: [16]", f"  from_checkpoints:\n    0: partial.pt\n    1: wide.pt\n    2: list.pt\n    3: junk.pt\n    4: gone.pt\n{keys}", "  - kind: pruning\n    layer: fc1\n    checkpoint: final")
    with pytest.raises(SpecError) as info:
        load_spec(write_spec(tmp_path, text))
    messages = {p.path: p.message for p in info.value.problems}
    assert messages == {"train.from_checkpoints[4]": f"no checkpoint file 'gone.pt' (looked for {tmp_path / 'gone.pt'})"}
    (tmp_path / "gone.pt").write_bytes((tmp_path / "partial.pt").read_bytes())
    with pytest.raises(SpecError) as info:
        load_spec(tmp_path / "spec.yaml")
    messages = {p.path: p.message for p in info.value.problems}
    assert messages["train.from_checkpoints[0]"].endswith("gives no weight for layer fc2 (blocks.fc2.layer.weight) (and 1 more); map its name with train.keys")
    assert messages["train.from_checkpoints[1]"].endswith("layer fc1 weight (hidden.weight) has shape (20, 6); the model's is (16, 6)")
    assert "does not hold a state dict" in messages["train.from_checkpoints[2]"]
    assert messages["train.from_checkpoints[3]"].startswith(f"cannot read checkpoint {tmp_path / 'junk.pt'}")


def test_best_and_the_initialization_must_be_imported_to_be_used(tmp_path: Path) -> None:
    torch.save({"fc1.weight": torch.zeros(16, 6), "fc1.bias": torch.zeros(16), "fc2.weight": torch.zeros(2, 16), "fc2.bias": torch.zeros(2)}, tmp_path / "w.pt")
    text = spec_yaml(
        XORD_YAML,
        "  name: mlp\n  widths: [16]",
        "  from_checkpoints: {9: w.pt}\n  iterations: 20",
        "  - kind: pruning\n    layer: fc1\n  - kind: subspace\n    layer: fc1\n    checkpoint: final\n  - kind: lottery\n    layers: [fc1]\n",
    )
    with pytest.raises(SpecError) as info:
        load_spec(write_spec(tmp_path, text))
    messages = [str(p) for p in info.value.problems]
    assert any("pruning uses checkpoint 'best', but the run imports its checkpoints without train.best_iteration" in m for m in messages)
    assert any(":17:" in m and "subspace needs the initialization, iteration 0; train.from_checkpoints has no file for it (it has [9])" in m for m in messages)
    fixed = text.replace("{9: w.pt}", "{0: w.pt, 9: w.pt}\n  best_iteration: 9\n  lr: 0.5")
    resolved = load_spec(write_spec(tmp_path, fixed))
    (note,) = [w.message for w in resolved.warnings if "studies that train again" in w.message]
    assert note.startswith("the run imports its checkpoints; studies that train again (lottery) train with optimizer sgd, lr 0.5, momentum 0.9, batch_size 64, iterations 20")
    assert note.endswith("(model 'mlp' defaults: optimizer, momentum, batch_size, lr_milestones)")
    bad_best = fixed.replace("best_iteration: 9", "best_iteration: 3")
    with pytest.raises(SpecError, match=r"best_iteration 3 is not an imported iteration \(from_checkpoints has \[0, 9\]\)"):
        load_spec(write_spec(tmp_path, bad_best))


# --- model and dataset plugins -------------------------------------------------------------------

MODEL_SOURCE = """
import torch
from torch import nn
from pydantic import BaseModel

class Options(BaseModel):
    hidden: int = 8

def build(request):
    hidden = Options(**request.options).hidden
    return nn.Sequential(nn.Flatten(), nn.Linear(request.input_shape[0], round(hidden * request.width)), nn.ReLU(),
                         nn.Linear(round(hidden * request.width), request.num_classes))
build.options = Options

class Skip(nn.Module):
    def __init__(self, n):
        super().__init__()
        self.a = nn.Linear(n, 8)
        self.b = nn.Linear(8, 2)
    def forward(self, x):
        return self.b(torch.relu(self.a(x)))

def adapted(request):
    from redundancy.models import Block
    net = Skip(request.input_shape[0])
    return net, [("hidden", Block(net.a)), ("logits", Block(net.b, relu=False))]

def wrong_adapter(request):
    from redundancy.models import Block
    net = Skip(request.input_shape[0])
    return net, [("hidden", Block(net.a, relu=False)), ("logits", Block(net.b, relu=False))]

def not_a_model(request):
    return 42

def broken(request):
    raise RuntimeError("the builder is broken")

NOT_CALLABLE = 3
"""

DATA_SOURCE = """
import torch

def load(request):
    g = torch.Generator().manual_seed(request.data_seed)
    n = request.options.get("n", 300)
    x = torch.randn(n + 100, 6, generator=g)
    y = (x[:, 0] * x[:, 1] > 0).long()
    return x[:n], y[:n], x[n:], y[n:]

def as_dict(request):
    x, y, tx, ty = load(request)
    return {"train_x": x.numpy(), "train_y": y, "test_x": tx, "test_y": ty, "num_classes": 2}

def floats(request):
    x, y, tx, ty = load(request)
    return x, y.float(), tx, ty

def broken(request):
    raise OSError("the data server is down")
"""


def test_import_path_plugins_train_and_study_with_identity_in_the_config(on_path: Path, tmp_path: Path) -> None:
    write_package(on_path, "mynets", MODEL_SOURCE)
    write_package(on_path, "mydata", DATA_SOURCE)
    text = spec_yaml(
        "  name: mydata:load\n  options: {n: 200}",
        "  name: mynets:build\n  options: {hidden: 6}",
        "  iterations: 30\n  lr: 0.05\n  eval_interval: 10",
        "  - kind: pruning\n    layer: fc1\n  - kind: subspace\n    layer: fc1\n    ks: [0, 1]\n    basis: [top]\n    seeds: 1",
    )
    plan, store, report = run_spec(tmp_path, text)
    assert not report.failed, report.failed
    config = plan.runs[0].config
    import hashlib

    digest = hashlib.sha256((on_path / "mynets" / "__init__.py").read_bytes()).hexdigest()
    assert config.model.plugin == f"mynets sha256:{digest}"
    assert config.data.plugin.startswith("mydata sha256:")
    assert plan.runs[0].identity["model"]["plugin"] == config.model.plugin  # in the identity
    doc = read_document(store.root)
    assert doc["runs"][0]["test_accuracy"] > 0.5
    stored = store.stage(plan.runs[0].id).attrs
    assert "mynets sha256:" in stored["config"]
    # readers never import code named in store text: with the plugins gone, show and ls still read the store
    for name in ("mynets", "mydata"):
        sys.modules.pop(name, None)
    with pytest.MonkeyPatch.context() as off_path:  # the plugins' folder off sys.path until the block ends
        off_path.setattr(sys, "path", [p for p in sys.path if p != str(on_path)])
        plugins.forget()
        from typer.testing import CliRunner

        from redundancy.cli import app

        for args in (["show", "--json", str(store.root)], ["ls", str(store.root)]):
            result = CliRunner().invoke(app, args)
            assert result.exit_code == 0, result.output
        assert "mynets" not in sys.modules and "mydata" not in sys.modules
        assert "mynets:build" in CliRunner().invoke(app, ["show", "--json", str(store.root)]).output
    # an edited plugin is another computation: another run id
    (on_path / "mynets" / "__init__.py").write_text(MODEL_SOURCE + "\n# edited\n", encoding="utf-8")
    plugins.forget()
    assert make_plan(load_spec(tmp_path / "spec.yaml")).runs[0].id != plan.runs[0].id


def test_an_adapter_names_the_layers_and_is_checked_against_the_forward(on_path: Path, tmp_path: Path) -> None:
    write_package(on_path, "mynets", MODEL_SOURCE)
    text = spec_yaml(XORD_YAML, "  name: mynets:adapted", "  iterations: 20", "  - kind: pruning\n    layer: hidden")
    resolved = load_spec(write_spec(tmp_path, text))
    assert list(resolved.points[0].layers) == ["hidden", "logits"]
    with pytest.raises(SpecError) as info:
        load_spec(write_spec(tmp_path, text.replace("mynets:adapted", "mynets:wrong_adapter")))
    (problem,) = info.value.problems
    assert "the adapted layers do not compute what the module computes" in problem.message
    # the module's own names import without keys
    net_state = {"a.weight": torch.ones(8, 6), "a.bias": torch.zeros(8), "b.weight": torch.ones(2, 8), "b.bias": torch.zeros(2)}
    torch.save(net_state, tmp_path / "w.pt")
    imported = text.replace("  iterations: 20", "  from_checkpoints: {3: w.pt}").replace("layer: hidden", "layer: hidden\n    checkpoint: final")
    load_spec(write_spec(tmp_path, imported))


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("nosuchpkg.nets:build", "model 'nosuchpkg.nets:build': cannot import module 'nosuchpkg.nets' (looked for nosuchpkg.py or nosuchpkg/ beside the spec"),
        ("mynets:missing", "model 'mynets:missing': module 'mynets' has no attribute 'missing'"),
        ("mynets:NOT_CALLABLE", "model 'mynets:NOT_CALLABLE': mynets:NOT_CALLABLE is a int, not a callable"),
        ("mynets:not_a_model", "returned int; expected a redundancy.models.LayeredNet, a plain nn.Sequential"),
        ("mynets:broken", "failed: RuntimeError: the builder is broken (at __init__.py:"),
        ("lenet_300_10", "unknown model 'lenet_300_10'; did you mean 'lenet_300_100'?"),
    ],
)
def test_bad_model_plugins_are_spec_problems_at_their_line(on_path: Path, tmp_path: Path, name: str, message: str) -> None:
    write_package(on_path, "mynets", MODEL_SOURCE)
    text = spec_yaml(XORD_YAML, f"  name: {name!r}", "  iterations: 20", "  - kind: pruning\n    layer: fc1")
    with pytest.raises(SpecError) as info:
        load_spec(write_spec(tmp_path, text))
    (problem,) = info.value.problems
    assert problem.line == 9 and problem.path in {"model.name", "model"}
    assert message in problem.message


def test_plugin_options_are_checked_by_the_plugins_schema(on_path: Path, tmp_path: Path) -> None:
    write_package(on_path, "mynets", MODEL_SOURCE)
    text = spec_yaml(XORD_YAML, "  name: mynets:build\n  options:\n    hidden: lots", "  iterations: 20", "  - kind: pruning\n    layer: fc1")
    with pytest.raises(SpecError) as info:
        load_spec(write_spec(tmp_path, text))
    (problem,) = info.value.problems
    assert (problem.line, problem.path) == (11, "model.options.hidden") and "integer" in problem.message
    builtin = spec_yaml(XORD_YAML, "  name: mlp\n  options: {hidden: 3}", "  iterations: 20", "  - kind: pruning\n    layer: fc1")
    with pytest.raises(SpecError, match="options are passed to model plugins; model 'mlp' is built in"):
        load_spec(write_spec(tmp_path, builtin))
    derived = spec_yaml(XORD_YAML, "  name: mlp\n  plugin: mine 1.0", "  iterations: 20", "  - kind: pruning\n    layer: fc1")
    with pytest.raises(SpecError, match=r"model.plugin is set by redundancy \(the model plugin's version\); remove it"):
        load_spec(write_spec(tmp_path, derived))


def test_dataset_plugins_return_tensors_dicts_or_fail_as_problems(on_path: Path, tmp_path: Path) -> None:
    write_package(on_path, "mydata", DATA_SOURCE)
    base = spec_yaml("  name: mydata:as_dict", "  name: mlp\n  widths: [4]", "  iterations: 20", "  - kind: pruning\n    layer: fc1")
    (point,) = load_spec(write_spec(tmp_path, base)).points
    assert point.layers["fc1"].fan_in == 6
    for name, message in (("mydata:floats", "train_y holds torch.float32; expected integer class labels"), ("mydata:broken", "failed: OSError: the data server is down")):
        with pytest.raises(SpecError) as info:
            load_spec(write_spec(tmp_path, base.replace("mydata:as_dict", name)))
        (problem,) = info.value.problems
        assert problem.line == 4 and message in problem.message


def test_a_plugin_error_at_run_time_is_the_stages_failure(on_path: Path, tmp_path: Path) -> None:
    write_package(on_path, "mydata", DATA_SOURCE)
    text = spec_yaml("  name: mydata:load", "  name: mlp\n  widths: [4]", "  iterations: 20", "  - kind: pruning\n    layer: fc1")
    path = write_spec(tmp_path, text)
    plan = make_plan(load_spec(path))
    # the plugin breaks after validation (a server that goes down): the run fails as a stage, naming the plugin
    (on_path / "mydata" / "__init__.py").write_text(DATA_SOURCE.replace("def load(request):", "def load(request):\n    raise OSError('the data server is down')"), encoding="utf-8")
    del sys.modules["mydata"]
    plugins.forget()
    data_plugin.forget()
    from redundancy.engine import run_plan
    from redundancy.store import Store

    report = run_plan(plan, Store(tmp_path / "store"), device=torch.device("cpu"))
    failures = {f.stage_id: f.error for f in report.failed}
    assert "dataset plugin 'mydata:load' (mydata sha256:" in failures[plan.runs[0].id]
    assert "failed: OSError: the data server is down" in failures[plan.runs[0].id]


def test_entry_point_plugins_carry_their_distribution_version(on_path: Path, tmp_path: Path) -> None:
    write_package(on_path, "epnets", MODEL_SOURCE)
    info = on_path / "epnets-1.2.3.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: epnets\nVersion: 1.2.3\n", encoding="utf-8")
    (info / "entry_points.txt").write_text("[redundancy.models]\ntinynet = epnets:build\n\n[redundancy.datasets]\ntinydata = epnets:build\n", encoding="utf-8")
    (info / "RECORD").write_text("epnets/__init__.py,,\n", encoding="utf-8")
    plugins.forget()
    text = spec_yaml(XORD_YAML, "  name: tinynet", "  iterations: 20", "  - kind: pruning\n    layer: fc1")
    plan = make_plan(load_spec(write_spec(tmp_path, text)))
    assert plan.runs[0].config.model.plugin == "epnets 1.2.3"
    assert plan.runs[0].identity["model"] == {"name": "tinynet", "plugin": "epnets 1.2.3"}
    with pytest.raises(SpecError, match=r"expected one of: lenet_300_100, .*, vgg19, tinynet, or an import path"):
        load_spec(write_spec(tmp_path, text.replace("name: tinynet", "name: tinynet2")))


def test_built_in_runs_have_no_plugin_in_their_identity(tmp_path: Path) -> None:
    text = spec_yaml(XORD_YAML, "  name: mlp", "  iterations: 20", "  - kind: pruning\n    layer: fc1")
    identity = make_plan(load_spec(write_spec(tmp_path, text))).runs[0].identity
    assert "plugin" not in identity["model"] and "plugin" not in identity["data"] and "checkpoint_sha256" not in identity["train"]


def test_a_plain_sequential_with_convolutions_is_adapted_with_forward_order_names() -> None:
    from redundancy.models import layer_infos
    from redundancy.models.adapt import adapt
    from redundancy.plugins import PluginError

    torch.manual_seed(0)
    seq = nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(4, 6, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(6 * 4 * 4, 10), nn.ReLU(), nn.Linear(10, 3),
    )
    net = adapt(seq, (1, 8, 8), "model plugin 'test'")
    assert {n: (i.kind, i.units) for n, i in layer_infos(net).items()} == {"conv1": ("conv", 4), "conv2": ("conv", 6), "fc1": ("linear", 10), "fc2": ("linear", 3)}
    assert net.foreign_names["0.weight"] == "blocks.conv1.layer.weight" and net.foreign_names["1.running_mean"] == "blocks.conv1.norm.running_mean"
    x = torch.randn(5, 1, 8, 8)
    seq.eval(), net.eval()
    assert torch.equal(net(x), seq(x))

    class Own(nn.Module):  # an adapter as a method of the module
        def __init__(self) -> None:
            super().__init__()
            self.first, self.second = nn.Linear(4, 5), nn.Linear(5, 2)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.second(torch.relu(self.first(x)))

        def redundancy_layers(self) -> list:
            from redundancy.models import Block

            return [("a", Block(self.first)), ("b", Block(self.second, relu=False))]

    own = adapt(Own(), (4,), "model plugin 'own'")
    assert own.names == ["a", "b"] and own.foreign_names == {"first.weight": "blocks.a.layer.weight", "first.bias": "blocks.a.layer.bias", "second.weight": "blocks.b.layer.weight", "second.bias": "blocks.b.layer.bias"}
    with pytest.raises(PluginError, match=r"layer 1 \(Tanh\) cannot be adapted"):
        adapt(nn.Sequential(nn.Linear(4, 5), nn.Tanh(), nn.Linear(5, 2)), (4,), "model plugin 'tanh'")
    with pytest.raises(PluginError, match=r"layer 2 \(BatchNorm1d\) cannot be adapted"):
        adapt(nn.Sequential(nn.Linear(4, 5), nn.ReLU(), nn.BatchNorm1d(5), nn.Linear(5, 2)), (4,), "model plugin 'order'")

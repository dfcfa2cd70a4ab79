"""`redundancy report` end to end: a tiny store made by the real engine, the real command, the page in Chromium.

One store is built per test session (a 60-iteration MLP on xord with every
study kind) and reported once through the command line; the tests then check
the files, the HTML and the rendered page. Chromium is driven over the
DevTools protocol through ``--remote-debugging-pipe`` (NUL-separated JSON on
file descriptors 3 and 4), so no websocket library is needed.
"""

from __future__ import annotations

import base64
import fcntl
import json
import os
import re
import select
import shutil
import subprocess
import tempfile
import time
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from redundancy.cli import app
from redundancy.report import FIGURES, build_report
from redundancy.report.model import table_blocks as summary_tables
from redundancy.store.results import decode
from redundancy.store import Store
from support.tiny import run_spec, tiny_text

TINY = tiny_text(model={"widths": [16, 8]}, checkpoints=[10, 30], tail="""\
studies:
  - kind: pruning
    layer: fc1
    checkpoint: best
    seeds: 3
  - kind: subspace
    layer: fc1
    basis: [top, bottom, random]
    seeds: 2
  - kind: lottery
    layers: [fc1, fc2]
    rounds: 2
    rate: 0.5
    draws: 199
  - kind: dynamics
    layers: [fc1]
    probe: 100
    restarts: 2
""")

# Every figure the tiny store must produce: training, one per pruned layer (the seed's Figure 2),
# one per subspace row, the lottery's rounds, survivors per layer and concentration, dynamics per layer.
EXPECTED = [
    "tiny-run-training-curves",
    "tiny-run-pruning-fc1_best",
    "tiny-run-subspace-fc1_final_update",
    "tiny-run-lottery-rounds",
    "tiny-run-lottery-fc1-survivors",
    "tiny-run-lottery-fc2-survivors",
    "tiny-run-lottery-concentration",
    "tiny-run-dynamics-fc1",
    "tiny-run-dynamics-fc1-directions",
]

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A real store from the real engine, and its report made by the real command."""
    root = tmp_path_factory.mktemp("report")
    _, store, outcome = run_spec(root, TINY, "tiny.yaml")
    assert not outcome.failed, outcome.failed
    out = root / "report"
    started = time.perf_counter()
    result = CliRunner().invoke(app, ["report", str(root / "store"), "--out", str(out)])
    seconds = time.perf_counter() - started
    assert result.exit_code == 0, result.output
    return {"root": root, "store": store, "out": out, "output": result.output, "seconds": seconds}


# --- files ---------------------------------------------------------------------------------------


def png_size(data: bytes) -> tuple[int, int]:
    """Width and height from the IHDR chunk, which a valid PNG has right after its signature."""
    assert data[:8] == PNG_SIGNATURE, "not a PNG signature"
    assert data[12:16] == b"IHDR", "PNG without IHDR first"
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


def test_every_expected_figure_is_a_valid_png_and_svg(built: dict[str, Any]) -> None:
    figures = built["out"] / "figures"
    assert sorted(p.stem for p in figures.glob("*.png")) == sorted(EXPECTED)
    for stem in EXPECTED:
        png = (figures / f"{stem}.png").read_bytes()
        width, height = png_size(png)
        assert width > 200 and height > 150 and len(png) > 5_000, stem
        svg = ET.parse(figures / f"{stem}.svg").getroot()
        assert svg.tag == "{http://www.w3.org/2000/svg}svg", stem
        assert len(list(svg.iter("{http://www.w3.org/2000/svg}path"))) > 10, f"{stem}.svg draws nothing"


def test_every_figure_carries_its_provenance(built: dict[str, Any]) -> None:
    store: Store = built["store"]
    by_kind = {s.attrs.get("study_kind", "training"): s for s in store.stages()}
    html = (built["out"] / "index.html").read_text()
    for stem in EXPECTED:
        kind = stem.split("-")[2]
        stage = by_kind[kind]
        # In the image itself (the SVG keeps its text as text) ...
        svg_text = (built["out"] / "figures" / f"{stem}.svg").read_text()
        for needed in (stage.id, "spec tiny", "MLP on XORD", "cpu", str(stage.attrs["created"])[:10]):
            assert needed in svg_text, (stem, needed)
        # ... and in the page's caption under it.
        figure = re.search(rf'<figure id="{re.escape(stem)}">(.*?)</figure>', html, re.S)
        assert figure is not None, stem
        for needed in (f"<code>{stage.id}</code>", "<code>tiny</code>", "model MLP", "dataset XORD", "device cpu"):
            assert needed in figure.group(1), (stem, needed)


def test_report_options_choose_formats_resolution_footer_and_sections(built: dict[str, Any]) -> None:
    store, root = str(built["root"] / "store"), built["root"]
    out = root / "paper"
    result = CliRunner().invoke(app, ["report", store, "--out", str(out), "--format", "svg", "--no-footer", "--kind", "pruning", "--kind", "train"])
    assert result.exit_code == 0, result.output
    files = sorted(p.name for p in (out / "figures").iterdir())
    assert files == ["tiny-run-pruning-fc1_best.svg", "tiny-run-training-curves.svg"]
    stages = {s.attrs.get("study_kind", "training"): s.id for s in built["store"].stages()}
    for name, kind in zip(files, ("pruning", "training")):
        svg = (out / "figures" / name).read_text()
        assert ET.fromstring(svg).tag == "{http://www.w3.org/2000/svg}svg"
        assert stages[kind] not in svg and "spec tiny" not in svg  # no provenance footer in the image
        assert "MLP" in svg  # the model as a paper names it, not its registry key
    html = (out / "index.html").read_text()
    assert html.count("data:image/png;base64,") == 2 and ".png" not in html  # the page still shows them
    assert stages["pruning"] in html  # ... with the provenance in the caption
    glossary = html[html.index("what the numbers mean"):]  # the shown kinds' metrics defined, units included
    assert "area under accuracy" in glossary and "[fraction of test samples, 0–1]" in glossary and "Gini" not in glossary

    wide = root / "pdf"
    result = CliRunner().invoke(app, ["report", store, "--out", str(wide), "--format", "pdf", "--format", "png", "--dpi", "300", "--kind", "train"])
    assert result.exit_code == 0, result.output
    assert (wide / "figures" / "tiny-run-training-curves.pdf").read_bytes()[:5] == b"%PDF-"
    sharp = png_size((wide / "figures" / "tiny-run-training-curves.png").read_bytes())
    default = png_size((built["out"] / "figures" / "tiny-run-training-curves.png").read_bytes())
    assert sharp[0] > 1.8 * default[0]

    for args, message in ((["--kind", "nosuch"], "--kind nosuch: no such section in these stores"), (["--format", "gif"], "--format: expected png, svg, pdf; found gif"), (["--dpi", "0"], "--dpi")):
        result = CliRunner().invoke(app, ["report", store, "--out", str(root / "bad"), *args])
        assert result.exit_code == 2 and message in result.output and "Traceback" not in result.output, result.output


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.refs: list[tuple[str, str, str]] = []  # (tag, attribute, value)
        self.ids: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if name in ("src", "href") and value is not None:
                self.refs.append((tag, name, value))
            if name == "id" and value:
                self.ids.add(value)


def test_index_html_embeds_figures_and_references_only_existing_files(built: dict[str, Any]) -> None:
    out: Path = built["out"]
    parser = _Links()
    parser.feed((out / "index.html").read_text())
    embedded = 0
    for tag, _attr, value in parser.refs:
        if value.startswith("data:"):
            if tag == "img":
                assert value.startswith("data:image/png;base64,")
                png_size(base64.b64decode(value.split(",", 1)[1]))
                embedded += 1
        elif value.startswith("#"):
            assert value[1:] in parser.ids, value
        else:
            assert "://" not in value and not value.startswith("/"), f"external or absolute reference {value}"
            assert (out / value).is_file(), f"index.html references missing {value}"
    assert embedded == len(EXPECTED)  # every figure is in the page itself: it needs no other file


def test_markdown_has_the_same_figures_and_tables(built: dict[str, Any]) -> None:
    out: Path = built["out"]
    md = (out / "report.md").read_text()
    images = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", md)
    assert sorted(images) == sorted(f"figures/{s}.png" for s in EXPECTED)
    for link in re.findall(r"\]\((figures/[^)]+)\)", md):
        assert (out / link).is_file(), link
    assert "| magnitude, smallest first |" in md  # the pruning summary table beneath its figure
    assert md.index("![Pruning") < md.index("| magnitude, smallest first |")


def test_report_of_a_folder_without_stores_names_the_command_that_fills_it(tmp_path: Path) -> None:
    (tmp_path / "store").mkdir()
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        result = CliRunner().invoke(app, ["report", "store", "--out", "report"])
    finally:
        os.chdir(cwd)
    assert result.exit_code != 0
    text = " ".join(result.output.split())
    assert "no store under store" in text
    assert "make run" in text and "redundancy run specs/quickstart.yaml" in text
    assert not (tmp_path / "report").exists()


def test_a_failing_figure_is_reported_the_rest_written_and_its_old_files_removed(
    built: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(view: Any) -> list[Any]:
        raise ValueError("curves in a format this figure does not know")

    out = tmp_path / "r"
    first = CliRunner().invoke(app, ["report", str(built["root"] / "store"), "--out", str(out)])
    assert first.exit_code == 0, first.output
    assert (out / "figures" / "tiny-run-subspace-fc1_final_update.png").is_file()
    monkeypatch.setitem(FIGURES, "subspace", broken)
    result = CliRunner().invoke(app, ["report", str(built["root"] / "store"), "--out", str(out)])
    assert result.exit_code == 1
    assert "figures for subspace" in " ".join(result.output.split())
    assert "curves in a format this figure does not know" in (out / "index.html").read_text()
    written = sorted(p.stem for p in (out / "figures").glob("*.png"))
    assert written == sorted(s for s in EXPECTED if "-subspace-" not in s)  # the last report's subspace figure is gone
    manifest = json.loads((out / ".redundancy-report.json").read_text())
    assert "figures/tiny-run-subspace-fc1_final_update.png" not in manifest["files"] and "index.html" in manifest["files"]


def test_report_into_a_folder_with_user_files_keeps_every_one(built: dict[str, Any], tmp_path: Path) -> None:
    out = tmp_path / "paper"
    (out / "figures").mkdir(parents=True)
    mine = {
        out / "notes.txt": b"my notes",
        out / "figures" / "fig1.pdf": b"%PDF-1.4 mine",
        out / "figures" / "tiny-run-training-curves.png": b"my own picture with the report's name",
    }
    for path, data in mine.items():
        path.write_bytes(data)
    for _ in range(2):  # a rebuild replaces its own files and still none of the user's
        result = CliRunner().invoke(app, ["report", str(built["root"] / "store"), "--out", str(out)])
        assert result.exit_code == 0, result.output
        for path, data in mine.items():
            assert path.read_bytes() == data, path
    page = (out / "index.html").read_text()
    assert 'href="figures/tiny-run-training-curves-2.png"' in page  # a new name beside the user's file
    made = set(json.loads((out / ".redundancy-report.json").read_text())["files"])
    assert not {p.relative_to(out).as_posix() for p in mine} & made
    assert {p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()} == made | {p.relative_to(out).as_posix() for p in mine} | {".redundancy-report.json"}


def test_a_page_name_taken_by_a_user_file_stops_the_report_before_it_writes(built: dict[str, Any], tmp_path: Path) -> None:
    out = tmp_path / "site"
    out.mkdir()
    (out / "index.html").write_text("<p>my home page</p>")
    result = CliRunner().invoke(app, ["report", str(built["root"] / "store"), "--out", str(out)])
    assert result.exit_code == 1
    text = " ".join(result.output.split())
    assert "index.html exists and was not made by redundancy report" in text and "Traceback" not in text
    assert (out / "index.html").read_text() == "<p>my home page</p>"
    assert sorted(p.name for p in out.iterdir()) == ["index.html"]


def test_several_stores_get_a_page_each_failed_ones_last_and_a_linked_contents(built: dict[str, Any], tmp_path: Path) -> None:
    from support.tui_samples import pruning_result, write_index, write_run, write_study

    folder = tmp_path / "stores"
    shutil.copytree(built["store"].root, folder / "good")
    shutil.copytree(built["store"].root, folder / "good2")  # the same spec twice: told apart by folder
    bad = Store(folder / "another")  # sorts first, but has a failed stage: its page comes last
    run_id = write_run(bad, "run", 0)
    summary, curves, tensors = pruning_result(0)
    study = write_study(bad, "pruning", run_id, "run", "pruning", summary, curves, tensors)
    plan = [
        {"id": run_id, "kind": "train", "run": "run", "name": "run", "point": {}},
        {"id": study, "kind": "pruning", "run": "run", "name": "pruning", "point": {}},
        {"id": "pruning-ffffffffffffffff", "kind": "pruning", "run": "run", "name": "late", "point": {}},
    ]
    write_index(bad, plan, failures=[{"stage_id": "pruning-ffffffffffffffff", "error": "out of memory"}])
    out = tmp_path / "report"
    report = build_report([folder], out)
    assert [p.name for p in report.pages] == ["store-tiny.html", "store-tiny-2.html", "store-sample.html"]
    index = (out / "index.html").read_text()
    assert "<img" not in index  # the index only links the stores' pages
    links = re.findall(r'<a href="([^"]+)">', index)
    assert links[0] == "store-tiny.html#Store_tiny" and "store-tiny-2.html#Store_tiny-2" in links and links[-1].startswith("store-sample.html#")
    assert f"Store tiny ({folder / 'good'})" in index and f"Store tiny ({folder / 'good2'})" in index
    for page in ("store-tiny.html", "store-tiny-2.html", "store-sample.html"):
        parser = _Links()
        parser.feed((out / page).read_text())
        targets = [v[1:] for _t, _a, v in parser.refs if v.startswith("#")]
        assert targets and all(t in parser.ids for t in targets), page
    tiny_page = (out / "store-tiny.html").read_text()
    assert tiny_page.count("<img") == len(EXPECTED) and "Store sample" not in tiny_page
    md = (out / "report.md").read_text()
    assert md.index("## Store tiny") < md.index("## Store sample")
    assert re.search(r"- \[Store tiny \([^)]*good\)\]\(#(Store_tiny[^)]*)\)", md) and '<a id="Store_tiny' in md


GRID = """\
name: gridtiny
seed: 0
data: {name: xord, input_dim: 3, train_samples: 200, test_samples: 100}
model: {name: mlp, widths: [8]}
train: {iterations: 20, batch_size: 32, lr: 0.05, eval_interval: 10}
grid:
  model.width: [0.5, 1]
  seed: [0, 1]
"""


def test_a_grid_store_gets_its_headline_numbers_against_the_grid_axes(tmp_path: Path) -> None:
    _, _, outcome = run_spec(tmp_path, GRID, "grid.yaml")
    assert not outcome.failed
    report = build_report([tmp_path / "store"], tmp_path / "report")
    grid_figure = tmp_path / "report" / "figures" / "gridtiny-grid-train.png"
    png_size(grid_figure.read_bytes())
    md = (tmp_path / "report" / "report.md").read_text()
    table = md[md.index("**Grid: train, mean ± std over 2 seeds**"):]
    assert "| width | stages done | test\\_accuracy |" in table  # store text is escaped for Markdown
    rows = [line for line in table.splitlines()[4:6]]
    assert rows[0].startswith("| 0.5 | 2/2 | ") and rows[1].startswith("| 1 | 2/2 | ") and " ± " in rows[0]
    assert {f.slug for f in report.figures} == {"gridtiny-grid-train"} | {
        f"gridtiny-width{w}_seed{s}-training-curves" for w in ("0_5", "1") for s in (0, 1)
    }


# --- helpers the figure modules share -------------------------------------------------------------


def test_curve_groups_come_typed_from_0_1_keys_and_summaries_become_tables() -> None:
    curves = {"fc1@best": {"random": {"units_removed": [0, 1]}}, "fc2@3000": {"a:b": {"units_removed": [0]}}}
    groups = decode("pruning", {}, curves).groups("layer", "checkpoint", "criterion", "direction")
    assert list(groups) == [("fc1", "best", "random", None), ("fc2", 3000, "a", "b")]
    summary = {"fc1@final:update/top": {"rank": 3, "acc_k1": 0.5}, "fc1@final:update/bottom": {"rank": 3, "acc_k1": 0.25}, "x": 1.0}
    results = decode("subspace", summary, {})
    assert results.scalars == {"x": 1.0}
    own = {r.key["basis"]: {"rank": r.key["rank"], **r.values} for r in results.rows(layer="fc1", checkpoint="final", target="update")}
    assert own == {"top": {"rank": 3, "acc_k1": 0.5}, "bottom": {"rank": 3, "acc_k1": 0.25}}
    (table,) = summary_tables(own, "t")
    assert table.columns == ["", "rank", "acc_k1"]
    assert table.rows == [["top", "3", "0.5"], ["bottom", "3", "0.25"]]
    tables = summary_tables({"fc1": {"p": None, "ok": True}, "dense": 0.123456}, "t")
    assert tables[0].rows == [["fc1", "—", "yes"]] and tables[1].rows == [["dense", "0.1235"]]
    wide = {f"m{i}": float(i) for i in range(10)}  # ten numbers about one layer: one column per layer instead
    (transposed,) = summary_tables({"fc1": wide}, "t")
    assert transposed.columns == ["", "fc1"] and transposed.rows[0] == ["m0", "0"] and len(transposed.rows) == 10


# --- the page in a real browser ------------------------------------------------------------------


def chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        path = shutil.which(name)
        if path:
            return path
    return None


class DevTools:
    """Headless Chromium driven over ``--remote-debugging-pipe``: commands on fd 3, replies on fd 4."""

    def __init__(self, binary: str, profile: Path):
        to_browser_r, self._to_browser = os.pipe()
        self._from_browser, from_browser_w = os.pipe()
        args = [
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            f"--user-data-dir={profile}", "--remote-debugging-pipe", "about:blank",
        ]
        def to_fds_3_and_4() -> None:
            # In the child, before exec: move our pipe ends to the descriptors the browser reads and writes.
            # Copy them above 9 first so neither dup2 can overwrite the other's source.
            high_r = fcntl.fcntl(to_browser_r, fcntl.F_DUPFD, 10)
            high_w = fcntl.fcntl(from_browser_w, fcntl.F_DUPFD, 10)
            os.dup2(high_r, 3)
            os.dup2(high_w, 4)

        self.proc = subprocess.Popen(
            [binary, *args], preexec_fn=to_fds_3_and_4, close_fds=False,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        os.close(to_browser_r)
        os.close(from_browser_w)
        self._buffer = b""
        self._next_id = 0
        self.events: list[dict[str, Any]] = []

    def _receive(self, deadline: float) -> dict[str, Any]:
        while b"\0" not in self._buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError("Chromium did not answer in time")
            ready, _, _ = select.select([self._from_browser], [], [], remaining)
            if ready:
                chunk = os.read(self._from_browser, 1 << 16)
                if not chunk:
                    raise EOFError("Chromium closed the DevTools pipe")
                self._buffer += chunk
        message, _, self._buffer = self._buffer.partition(b"\0")
        return json.loads(message)

    def call(self, method: str, params: dict[str, Any] | None = None, session: str | None = None, timeout: float = 30.0) -> dict[str, Any]:
        self._next_id += 1
        message: dict[str, Any] = {"id": self._next_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        os.write(self._to_browser, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + timeout
        while True:
            reply = self._receive(deadline)
            if reply.get("id") == self._next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            self.events.append(reply)

    def open(self, url: str, timeout: float = 30.0) -> tuple[str, list[str]]:
        """Load ``url`` in a new tab; return the session and every console error, exception and failed load."""
        target = self.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = self.call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        for domain in ("Runtime.enable", "Log.enable", "Page.enable"):
            self.call(domain, session=session)
        self.events.clear()
        self.call("Page.navigate", {"url": url}, session=session)
        deadline = time.monotonic() + timeout
        while not any(e.get("method") == "Page.loadEventFired" and e.get("sessionId") == session for e in self.events):
            self.events.append(self._receive(deadline))
        errors = []
        for e in self.events:
            params = e.get("params", {})
            if e.get("method") == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
                errors.append("console: " + " ".join(str(a.get("value", a.get("description"))) for a in params.get("args", [])))
            elif e.get("method") == "Runtime.exceptionThrown":
                errors.append("exception: " + str(params.get("exceptionDetails", {}).get("text")))
            elif e.get("method") == "Log.entryAdded" and params.get("entry", {}).get("level") == "error":
                errors.append(f"log: {params['entry'].get('text')} {params['entry'].get('url', '')}")
        return session, errors

    def evaluate(self, session: str, expression: str) -> Any:
        return self.call("Runtime.evaluate", {"expression": expression, "returnByValue": True}, session=session)["result"].get("value")

    def close(self) -> None:
        try:
            self.call("Browser.close", timeout=10)
        except (TimeoutError, EOFError, OSError, RuntimeError):
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        os.close(self._to_browser)
        os.close(self._from_browser)


@pytest.fixture(scope="module")
def browser() -> Any:
    binary = chromium()
    if binary is None:
        pytest.skip("no Chromium on this machine and tests/setup.sh could not install it (needs root and apt); "
                    "the page's files are still checked by the other tests")
    profile = Path(tempfile.mkdtemp(prefix="report-chromium-"))
    devtools = DevTools(binary, profile)
    try:
        yield devtools
    finally:
        devtools.close()
        shutil.rmtree(profile, ignore_errors=True)


IMAGES_JS = "JSON.stringify([...document.images].map(i => [i.complete, i.naturalWidth, i.naturalHeight]))"


def test_chromium_flags_console_errors_and_broken_images(browser: DevTools, tmp_path: Path) -> None:
    """The check below can fail: a page with a script error and a missing image is caught."""
    bad = tmp_path / "bad.html"
    bad.write_text('<!doctype html><meta charset="utf-8"><title>bad</title><script>console.error("boom")</script><img src="missing.png">')
    session, errors = browser.open(bad.as_uri())
    assert any("boom" in e for e in errors) and any("missing.png" in e for e in errors), errors
    assert json.loads(browser.evaluate(session, IMAGES_JS)) == [[True, 0, 0]]


def test_chromium_renders_the_report_without_console_errors(browser: DevTools, built: dict[str, Any]) -> None:
    session, errors = browser.open((built["out"] / "index.html").as_uri())
    assert errors == []
    images = json.loads(browser.evaluate(session, IMAGES_JS))
    assert len(images) == len(EXPECTED)
    assert all(complete and width > 200 and height > 150 for complete, width, height in images), images
    assert browser.evaluate(session, "document.title") == "redundancy report"
    assert browser.evaluate(session, "document.querySelectorAll('table').length") >= 5


def test_the_report_modules_import_no_cycle() -> None:
    """Module imports inside ``redundancy.report`` form no cycle (builder -> writer -> document, never back).

    A registry package importing its own modules so they register (``figures/__init__``) is not an edge."""
    import ast

    package = Path(__file__).resolve().parents[1] / "redundancy" / "report"
    graph: dict[str, set[str]] = {}
    for path in package.rglob("*.py"):
        name = "redundancy.report." + ".".join(path.relative_to(package).with_suffix("").parts)
        name = name.removesuffix(".__init__")
        deps = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("redundancy.report"):
                if node.module != name:
                    deps.add(node.module)
            elif isinstance(node, ast.Import):
                deps.update(a.name for a in node.names if a.name.startswith("redundancy.report"))
        graph[name] = deps

    def reaches(start: str, target: str, seen: set[str]) -> bool:
        for dep in graph.get(start, ()):
            if dep == target or (dep not in seen and reaches(dep, target, seen | {dep})):
                return True
        return False

    assert graph["redundancy.report.builder"] and graph["redundancy.report.writer"]
    cycles = [m for m in graph if m != "redundancy.report" and reaches(m, m, set())]
    assert not cycles, cycles


def test_report_into_a_path_that_is_a_file_is_one_line_not_a_traceback(built: dict[str, Any], tmp_path: Path) -> None:
    target = tmp_path / "taken"
    target.write_text("a file, not a folder")
    result = CliRunner().invoke(app, ["report", str(built["root"] / "store"), "--out", str(target)])
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit)  # an exit, not an exception
    text = " ".join(result.output.split())
    assert "cannot write the report to" in text and "Traceback" not in text
    assert target.read_text() == "a file, not a folder"


def test_grid_figures_overlay_criteria_with_random_and_say_what_the_error_bars_are() -> None:
    from redundancy.grid import GridSummary, GridTable
    from redundancy.report.grid import _figure
    from redundancy.report.style import SLOT_LABEL, legend_of

    def cell(v: float) -> dict[str, Any]:
        return {"mean": v, "std": 0.01, "n": 3, "missing": 0, "values": [v] * 3}

    metrics = ["magnitude:smallest/auc", "random/auc", "frame_potential:largest/auc", "fc1@final:update/top/k_within_1pt"]
    rows = [{"point": {"model.width": w}, "done": 3, "failed": 0, "pending": 0, "cells": {m: cell(0.5 + 0.1 * w) for m in metrics}}
            for w in (0.5, 1, 2)]
    summary = {"axes": {"model.width": [0.5, 1, 2], "seed": [0, 1, 2]}, "seed_axis": "seed", "group_axes": ["model.width"],
               "groups": [], "tables": []}
    t = {"study": "pruning", "kind": "pruning", "metrics": metrics, "rows": rows}
    block = _figure(GridSummary.from_json(summary), GridTable.from_json(t), "model.width", "mlp", ", mean ± std over 3 seeds")
    assert block is not None and "standard deviation over 3 seeds" in block.caption
    auc, k = [ax for ax in block.figure.axes if ax.get_visible() and ax.get_label() != SLOT_LABEL]
    legend = [text.get_text() for text in legend_of(auc).get_texts()]
    assert legend == ["magnitude, smallest first", "random", "frame potential, largest first"]  # one panel, random among them
    assert auc.get_ylabel() == "AUC\n(mean ± std over 3 seeds)"
    assert k.get_ylabel().startswith("fc1 at final · update W − W₀ · top · first evaluated k") and "snaps" in k.get_title()
    for ax in (auc, k):  # no raw stored key on an axis
        assert "/" not in ax.get_ylabel() and "_" not in ax.get_ylabel()

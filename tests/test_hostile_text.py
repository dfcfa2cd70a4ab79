"""Store text is data: escape sequences, markup, mathtext and HTML in names and attributes are shown literally.

A crafted store holds a run and a study whose names and attributes carry an
ESC[2J (clear screen), ESC[31m (red), an OSC 8 hyperlink, an OSC 0 window title,
Rich/Textual markup, a broken mathtext ``$\\frac{x$``, a right-to-left override
and HTML. ``show``, ``ls`` and the TUI (in a real terminal) must not send any of
those control characters to the terminal, and the report must build and show
the text as text.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import h5py
import pytest

from redundancy.present.text import clean, html_text, markdown_text
from redundancy.store import Store
from support.tiny import reseal
from support.tui_samples import pruning_result, write_index, write_run, write_study

CLEAR = "\x1b[2J"
RED = "\x1b[31m"
TITLE = "\x1b]0;pwned\x07"
LINK = "\x1b]8;;http://evil.example/\x1b\\click me\x1b]8;;\x1b\\"
RUN = f"{CLEAR}{RED}[red]run $\\frac{{x$ <script>\u202eevil"
STUDY = f"{TITLE}[bold]prune <img src=x onerror=alert(1)>"
ERROR = f"{RED}boom{CLEAR}"


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("hostile") / "store"
    store = Store(root)
    run_id = write_run(store, RUN, 0)
    with h5py.File(store.stage_path(run_id), "a") as f:
        f.attrs["data_source"] = LINK
        f.attrs["model"] = f"mlp{RED}"
    reseal(store.stage_path(run_id))
    summary, curves, tensors = pruning_result(0)
    curves[f"{CLEAR}crit"] = curves.pop("magnitude:largest")
    summary[f"{CLEAR}crit"] = summary.pop("magnitude:largest")
    study = write_study(store, "pruning", run_id, RUN, STUDY, summary, curves, tensors)
    plan = [
        {"id": run_id, "kind": "train", "run": RUN, "name": RUN, "point": {}},
        {"id": study, "kind": "pruning", "run": RUN, "name": STUDY, "point": {}},
        {"id": "pruning-ffffffffffffffff", "kind": "pruning", "run": RUN, "name": f"{LINK}late", "point": {}},
    ]
    write_index(store, plan, failures=[{"stage_id": "pruning-ffffffffffffffff", "error": ERROR}])
    return root


def test_the_sanitizer_shows_every_control_character_as_an_escape() -> None:
    assert clean(CLEAR + "a\tb\nc") == "\\x1b[2Ja\tb\nc"
    assert clean("a\tb\nc", one_line=True) == "a\\x09b\\x0ac"
    assert clean("\x00\x7f\x9b\u202e\u2066\u2069x") == "\\x00\\x7f\\x9b\\u202e\\u2066\\u2069x"
    assert clean("[red]$x$ <b> é ✓ \\") == "[red]$x$ <b> é ✓ \\"  # printable text is untouched
    assert html_text("<script>&\x1b") == "&lt;script&gt;&amp;\\x1b"
    assert markdown_text("<b>|x*_[a](b)$\n") == "&lt;b&gt;\\|x\\*\\_\\[a\\](b)\\$ "


def _cli(*args: str, **env: str) -> subprocess.CompletedProcess[bytes]:
    full = {**os.environ, "COLUMNS": "300", **env}
    full.pop("FORCE_COLOR", None)
    return subprocess.run([sys.executable, "-m", "redundancy", *args], capture_output=True, env=full, timeout=120)


@pytest.mark.parametrize("args", [("show",), ("show", "--studies"), ("show", "--json"), ("ls",)])
def test_show_and_ls_send_no_control_character_from_the_store(hostile: Path, args: tuple[str, ...]) -> None:
    result = _cli(*args, str(hostile))
    assert result.returncode == 0, result.stderr.decode()
    for stream in (result.stdout, result.stderr):
        assert b"\x1b" not in stream and b"\x07" not in stream and "\u202e".encode() not in stream
    if "--json" not in args:
        text = result.stdout.decode()
        assert "\\x1b[2J\\x1b[31m[red]run $\\frac{x$ <script>\\u202eevil" in text  # literal, markup included


def test_the_report_builds_and_renders_store_text_literally(hostile: Path, tmp_path: Path) -> None:
    out = tmp_path / "report"
    result = _cli("report", str(hostile), "--out", str(out))
    assert b"Traceback" not in result.stderr, result.stderr.decode()
    assert result.returncode == 0, result.stderr.decode()
    page = (out / "index.html").read_text(encoding="utf-8")
    assert "\x1b" not in page and "\u202e" not in page
    assert "<script" not in page and "<img src=x" not in page
    assert "\\x1b[2J\\x1b[31m[red]run $\\frac{x$ &lt;script&gt;\\u202eevil" in page
    assert "[bold]prune &lt;img src=x onerror=alert(1)&gt;" in page
    md = (out / "report.md").read_text(encoding="utf-8")
    assert "\x1b" not in md and "<script" not in md and "<img" not in md
    assert "&lt;script&gt;" in md and "\\$\\\\frac{x\\$" in md
    svgs = [p.read_text(encoding="utf-8") for p in (out / "figures").glob("*.svg")]
    assert svgs and not any("\x1b" in s for s in svgs)
    assert any("$\\frac{x$" in s for s in svgs)  # drawn as the characters, not as mathtext


TMUX = shutil.which("tmux")


@pytest.mark.skipif(TMUX is None, reason="tmux is not installed (tests/setup.sh installs it)")
def test_the_tui_in_a_terminal_shows_escapes_and_sends_none(hostile: Path, tmp_path: Path) -> None:
    assert TMUX is not None
    base = [TMUX, "-L", f"redundancy-hostile-{os.getpid()}"]
    raw = tmp_path / "raw.out"
    redundancy = Path(sys.executable).with_name("redundancy")
    command = ["env", "-u", "COLUMNS", "-u", "LINES", "OMP_NUM_THREADS=1", "TERM=xterm-256color", str(redundancy), "tui", str(hostile), "--poll", "0"]
    subprocess.run([*base, "new-session", "-d", "-s", "tui", "-x", "160", "-y", "40", "sleep 3600"], check=True)
    try:
        # Every byte the app writes goes to raw.out as well as to the pane.
        subprocess.run([*base, "pipe-pane", "-o", "-t", "tui", f"cat >> {raw}"], check=True)
        subprocess.run([*base, "respawn-pane", "-k", "-t", "tui", *command], check=True)

        def screen(escapes: bool = False) -> str:
            flags = ["-p", "-e"] if escapes else ["-p"]
            return subprocess.run([*base, "capture-pane", *flags, "-t", "tui"], capture_output=True, text=True).stdout

        def wait_for(*texts: str) -> str:
            deadline = time.monotonic() + 60
            shown = ""
            while time.monotonic() < deadline:
                shown = screen()
                if all(t in shown for t in texts):
                    return shown
                time.sleep(0.25)
            raise AssertionError(f"never showed {texts!r}; the screen was:\n{shown}")

        def send(*keys: str) -> None:
            for key in keys:
                subprocess.run([*base, "send-keys", "-t", "tui", key], check=True)
                time.sleep(0.4)

        wait_for("\\x1b[2J\\x1b[31m[red]run")
        send("Down")  # the run: its title, then its provenance (data_source holds the OSC 8 link)
        wait_for("$\\frac{x$ <script>\\u202eevil")
        send("p")
        wait_for("\\x1b]8;;http://evil.example/")
        send("v", "Right", "Down")  # the study: its title and the pruning table with the crafted criterion
        wait_for("\\x1b]0;pwned\\x07[bold]prune", "\\x1b[2Jcrit")
        coloured = screen(escapes=True)
        title = subprocess.run([*base, "display-message", "-p", "-t", "tui", "#{pane_title}"], capture_output=True, text=True).stdout
        send("q")
        time.sleep(1.0)
    finally:
        subprocess.run([*base, "kill-server"], capture_output=True)
    assert "pwned" not in title
    assert "\x1b]8;;http://evil" not in coloured and "\x1b]0;" not in coloured  # no live link or title on screen
    written = raw.read_bytes()
    for sequence in (TITLE, LINK, RED + "[red]", CLEAR + "crit", "\u202e", "\x1b]8;;http://evil"):
        assert sequence.encode() not in written, sequence

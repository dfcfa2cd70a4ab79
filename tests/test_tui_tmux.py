"""The real ``redundancy tui`` in a real terminal (tmux), on a store made by the quickstart spec.

The store comes from ``specs/quickstart.yaml``, exactly as shipped, run by the
real engine (about ten seconds on two cores). tmux runs on its own socket, so
the test neither sees nor touches other tmux sessions.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from support.tiny import run_spec

REPO = Path(__file__).resolve().parents[1]
TMUX = shutil.which("tmux")


@pytest.fixture(scope="module")
def quickstart_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    text = (REPO / "specs" / "quickstart.yaml").read_text(encoding="utf-8")
    assert any(s.get("kind") == "pruning" for s in yaml.safe_load(text)["studies"]), "the quickstart has a pruning study"
    folder = tmp_path_factory.mktemp("quickstart")
    _, store, report = run_spec(folder, text, "quickstart.yaml", store=folder / "store" / "quickstart")
    assert not report.failed
    return store.root


class Terminal:
    """A detached tmux session of a fixed size on a private server socket."""

    def __init__(self, socket: str, width: int, height: int, command: list[str]) -> None:
        assert TMUX is not None
        self.base = [TMUX, "-L", socket]
        # COLUMNS and LINES, when the test runner's environment has them, would override the pane's size.
        env_command = ["env", "-u", "COLUMNS", "-u", "LINES", "OMP_NUM_THREADS=1", "TERM=xterm-256color", *command]
        subprocess.run([*self.base, "new-session", "-d", "-s", "tui", "-x", str(width), "-y", str(height), *env_command], check=True)

    def capture(self) -> str:
        out = subprocess.run([*self.base, "capture-pane", "-p", "-t", "tui"], capture_output=True, text=True)
        return out.stdout

    def send(self, *keys: str) -> None:
        for key in keys:
            subprocess.run([*self.base, "send-keys", "-t", "tui", key], check=True)
            time.sleep(0.3)

    def wait_for(self, *texts: str, timeout: float = 60.0) -> str:
        """Poll the pane until every text is on it; the last capture goes into the failure message."""
        deadline = time.monotonic() + timeout
        screen = ""
        while time.monotonic() < deadline:
            screen = self.capture()
            if all(t in screen for t in texts):
                return screen
            time.sleep(0.25)
        raise AssertionError(f"never showed {texts!r}; the screen was:\n{screen}")

    def close(self) -> None:
        subprocess.run([*self.base, "kill-server"], capture_output=True)


@pytest.fixture
def terminal(quickstart_store: Path) -> Iterator[Terminal]:
    if TMUX is None:
        pytest.skip("tmux is not installed (tests/setup.sh installs it from Debian's packages when run as root)")
    redundancy = Path(sys.executable).with_name("redundancy")
    command = [str(redundancy), "tui", str(quickstart_store), "--poll", "0"]
    term = Terminal(f"redundancy-test-{os.getpid()}", 100, 30, command)
    try:
        yield term
    finally:
        term.close()


def test_tmux_shows_the_pruning_summary_table_of_a_quickstart_store(terminal: Terminal) -> None:
    screen = terminal.wait_for("store quickstart", "1 run(s), 3 study stage(s) done", "lenet_300_100")
    assert "? for help" in screen and "▼ quickstart" in screen
    terminal.send("Down", "Right", "Down")  # the run, open it, its first study
    screen = terminal.wait_for("pruning run/pruning", "criterion")
    for text in ("acc@10%", "acc@25%", "acc@50%", "magnitude:smallest", "magnitude:largest", "random", "units removed"):
        assert text in screen, f"{text!r} missing from:\n{screen}"
    terminal.send("?")
    terminal.wait_for("redundancy tui — keys", "mark or unmark a run or study")
    terminal.send("Escape", "q")
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and "criterion" in terminal.capture():
        time.sleep(0.25)
    assert "criterion" not in terminal.capture()  # q quit the app

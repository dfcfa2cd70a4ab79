"""The getting-started page's commands, as written there, work in a fresh clone.

The commands are read from the page itself: the fenced ``bash`` block that follows the comment
``<!-- tested: ... -->``, so the page and this test cannot drift apart. The repository is cloned
with ``git clone`` into a temporary folder and the block runs there with bash, line by line,
stopping at the first failure.

``make run`` installs the locked set (about 6 GB) into the clone's ``.venv``. Instead of downloading
it again, the test creates that ``.venv`` beforehand, empty, with a ``.pth`` file naming the
site-packages of the interpreter running the tests: pip then finds every locked package installed
and only checks it, offline, and the editable install of the clone goes into the new ``.venv`` alone.
Nothing is written to the environment running the tests.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGE = ROOT / "docs" / "getting-started.md"
MARK = "<!-- tested:"


def commands_of_page(text: str) -> list[str]:
    """The command lines of the fenced bash block right after the page's ``tested`` comment."""
    end_of_comment = text.index("-->", text.index(MARK))
    match = re.compile(r"-->\s*\n```bash\n(.*?)\n```", re.S).match(text, end_of_comment)
    assert match, "the tested comment must be followed by a ```bash block"
    return [line for line in match.group(1).splitlines() if line.strip() and not line.lstrip().startswith("#")]


def test_the_page_has_a_tested_block() -> None:
    lines = commands_of_page(PAGE.read_text(encoding="utf-8"))
    assert lines and lines[0].startswith("make run"), lines


def _site_packages() -> list[str]:
    return [p for p in sys.path if p.endswith("site-packages") and Path(p).is_dir()]


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("git") is None or shutil.which("make") is None, reason="the page's commands are git and make; on a machine without them there is nothing to run as written")
def test_getting_started_commands_in_a_fresh_clone(tmp_path: Path) -> None:
    commands = commands_of_page(PAGE.read_text(encoding="utf-8"))
    clone = tmp_path / "redundancy"
    subprocess.run(["git", "clone", "--quiet", str(ROOT), str(clone)], check=True, timeout=120)

    # The clone's .venv, made before `make run` would make it: a copy of this Python (so that touching
    # .venv/bin/python touches no file outside the clone) with this environment's packages visible.
    venv = clone / ".venv"
    subprocess.run([sys.executable, "-m", "venv", "--copies", "--without-pip", str(venv)], check=True, timeout=120)
    purelib = subprocess.run(
        [str(venv / "bin" / "python"), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
        check=True, capture_output=True, text=True, timeout=60,
    ).stdout.strip()
    Path(purelib, "_test_parent_environment.pth").write_text("\n".join(_site_packages()) + "\n")

    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME", "MAKEFLAGS", "MAKELEVEL")}
    env["PIP_NO_INDEX"] = "1"  # offline: every locked package must already be there
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    for command in commands:
        proc = subprocess.run(["bash", "-c", command], cwd=clone, env=env, capture_output=True, text=True, timeout=480)
        assert proc.returncode == 0, f"`{command}` exited {proc.returncode}:\n{(proc.stdout + proc.stderr)[-4000:]}"
        if command.startswith(".venv/bin/redundancy show"):
            assert "quickstart" in proc.stdout and "done" in proc.stdout, proc.stdout[-2000:]

    assert (clone / "store" / "quickstart" / "index.h5").is_file()
    # The clone's own code ran, installed into the clone's environment.
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    where = subprocess.run(
        [str(venv / "bin" / "python"), "-c", "import redundancy; print(redundancy.__file__)"],
        cwd=elsewhere, env=env, check=True, capture_output=True, text=True, timeout=60,
    ).stdout.strip()
    assert Path(where).resolve().is_relative_to(clone.resolve()), where

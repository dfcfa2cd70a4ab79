"""The documentation site builds in strict mode, and every relative link of README.md and of the site resolves.

The site is built once per module into a temporary folder with ``mkdocs build --strict``: a warning
(a broken link or anchor, a page missing from the navigation, a failing reference generator) fails it.
The links are then checked again independently of MkDocs, on the HTML it wrote: every relative
``href`` and ``src`` must name a file of the site and, with a ``#fragment``, an element with that id.
README.md's links are checked against the repository's files and, for anchors into the site's pages,
against the built pages.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

ROOT = Path(__file__).resolve().parents[1]
README_MAX_LINES = 250


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("site")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "NO_MKDOCS_2_WARNING": "1"}
    proc = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(out)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
    )
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, f"mkdocs build --strict failed:\n{log[-4000:]}"
    warnings = [line for line in log.splitlines() if line.startswith(("WARNING", "ERROR"))]
    assert not warnings, "\n".join(warnings)
    return out


class _Refs(HTMLParser):
    """The ids of a page's elements and the relative links and sources it holds."""

    def __init__(self) -> None:
        super().__init__()
        self.ids: set[str] = set()
        self.links: list[tuple[str, str]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if name in ("id", "name") and value:
                self.ids.add(value)
            if name in ("href", "src") and value is not None:
                self.links.append((tag, value))


def _parse(path: Path) -> _Refs:
    refs = _Refs()
    refs.feed(path.read_text(encoding="utf-8"))
    return refs


def _is_external(target: str) -> bool:
    return bool(urlsplit(target).scheme) or target.startswith("//")


def _page_of(site: Path, target: Path) -> Path:
    return target / "index.html" if target.is_dir() else target


def test_site_has_every_page(site: Path) -> None:
    for page in ("getting-started", "answers", "reference/spec", "reference/cli", "store", "python-api", "grids", "speed"):
        assert (site / page / "index.html").is_file(), page
    for kind in ("pruning", "subspace", "lottery", "dynamics", "unit_ticket", "correspondence"):
        assert (site / "tutorials" / kind / "index.html").is_file(), kind


def test_every_relative_link_of_the_site_resolves(site: Path) -> None:
    pages = sorted(site.rglob("*.html"))
    parsed = {page: _parse(page) for page in pages}
    broken = []
    for page, refs in parsed.items():
        for tag, link in refs.links:
            if not link or _is_external(link):
                continue
            parts = urlsplit(link)
            # Only 404.html links from the site's root (it is served at any address).
            base = site if parts.path.startswith("/") else page.parent
            target = page if not parts.path else (base / unquote(parts.path).lstrip("/")).resolve()
            if not target.exists():
                broken.append(f"{page.relative_to(site)}: {link} (no such file)")
                continue
            if parts.fragment and tag == "a":
                html = _page_of(site, target)
                ids = parsed[html].ids if html in parsed else _parse(html).ids
                if unquote(parts.fragment) not in ids:
                    broken.append(f"{page.relative_to(site)}: {link} (no such anchor)")
    assert not broken, "\n".join(broken)


def test_figures_come_from_docs_figures(site: Path) -> None:
    """Every image the pages show is a committed file of docs/figures/: nothing is drawn while building."""
    shown = set()
    for page in site.rglob("*.html"):
        for tag, link in _parse(page).links:
            if tag == "img" and not _is_external(link) and not link.startswith("data:"):
                shown.add((page.parent / unquote(urlsplit(link).path)).resolve())
    assert shown, "the site shows no figure"
    figures = (site / "figures").resolve()
    outside = [str(p) for p in shown if p.parent != figures]
    assert not outside, outside
    for path in shown:
        assert (ROOT / "docs" / "figures" / path.name).is_file(), path.name


_MD_LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
_FENCE = re.compile(r"^```.*?^```", re.S | re.M)


def _markdown_links(text: str) -> list[str]:
    return _MD_LINK.findall(_FENCE.sub("", text))


def _heading_ids(text: str) -> set[str]:
    """The anchors GitHub and MkDocs give a Markdown file's headings (the same slug for plain headings)."""
    from markdown.extensions.toc import slugify

    return {slugify(m.group(1).replace("`", ""), "-") for m in re.finditer(r"^#{1,6}\s+(.+?)\s*$", _FENCE.sub("", text), re.M)}


def test_every_relative_link_of_the_readme_resolves(site: Path) -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    links = _markdown_links(readme)
    assert links, "README.md has no links"
    broken = []
    for link in links:
        if _is_external(link):
            continue
        parts = urlsplit(link)
        target = (ROOT / unquote(parts.path)).resolve() if parts.path else ROOT / "README.md"
        if not target.exists():
            broken.append(f"{link} (no such file)")
            continue
        if not parts.fragment:
            continue
        if target == ROOT / "README.md":
            ids = _heading_ids(readme)
        elif target.suffix == ".md" and (ROOT / "docs") in target.parents:
            page = target.relative_to(ROOT / "docs").with_suffix("")
            html = site / (page.parent if page.name == "index" else page) / "index.html"
            ids = _parse(html).ids
        else:
            ids = _heading_ids(target.read_text(encoding="utf-8"))
        if parts.fragment not in ids:
            broken.append(f"{link} (no such anchor)")
    assert not broken, "\n".join(broken)


def test_readme_is_a_landing_page() -> None:
    lines = (ROOT / "README.md").read_text(encoding="utf-8").splitlines()
    assert len(lines) <= README_MAX_LINES, f"README.md has {len(lines)} lines; the rest belongs in docs/"


def test_reference_pages_name_every_field_and_option(site: Path) -> None:
    """The generated references follow the code: every spec field and every command option is on them."""
    import typer.main

    from redundancy.cli import app
    from redundancy.spec.schema import DERIVED_FIELDS, DataConfig, ModelConfig, Spec, TrainConfig
    from redundancy.studies import STUDIES

    spec_html = (site / "reference" / "spec" / "index.html").read_text(encoding="utf-8")
    for model in (Spec, DataConfig, ModelConfig, TrainConfig, *(STUDIES[k].config for k in STUDIES)):
        for name in model.model_fields:
            if name not in DERIVED_FIELDS and name not in ("plugin", "plugin_identity"):
                assert f"<code>{name}</code>" in spec_html, f"{model.__name__}.{name} missing from the spec reference"
    cli_html = (site / "reference" / "cli" / "index.html").read_text(encoding="utf-8")
    group = typer.main.get_command(app)
    for name, command in group.commands.items():
        assert f"redundancy {name}" in cli_html, name
        for param in command.params:
            for flag in param.opts if param.param_type_name == "option" else ():
                assert flag in cli_html, f"{name} {flag} missing from the command reference"

"""Store text made safe for a terminal or a document: one sanitizer every consumer uses.

A store is data written by whoever ran the spec (names, attributes, error
messages, spec text). Printed raw, an ESC byte in it would let that text clear
the screen, recolour output, set the window title (OSC 0) or plant a link
(OSC 8), and a right-to-left override would reorder what the reader sees. So
every string from a store passes :func:`clean` before it reaches a terminal or
a document: C0 controls except newline and tab, DEL, C1 controls and the bidi
embedding, override and isolate characters become visible escapes such as
``\\x1b`` and ``\\u202e``. Printable text, including backslashes and brackets,
is left alone; Rich and Textual markup is already kept literal by passing
``rich.text.Text`` objects, HTML and Markdown by :func:`html_text` and
:func:`markdown_text`.
"""

from __future__ import annotations

import html
import re

# Bidi controls: embeddings and overrides (U+202A-U+202E), isolates (U+2066-U+2069),
# and the three marks (LRM, RLM, ALM) that reorder neighbouring text just the same.
_BIDI = "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c"
_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f" + _BIDI + "]")
_UNSAFE_LINE = re.compile("[\x00-\x1f\x7f-\x9f" + _BIDI + "]")


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def clean(text: object, *, one_line: bool = False) -> str:
    """``text`` as a string with every control character shown as an escape (``\\x1b``, ``\\u202e``).

    Newline and tab stay, unless ``one_line`` (a tree label, a table cell, a title), where they
    become ``\\n`` and ``\\t`` too, so one name is one line."""
    return (_UNSAFE_LINE if one_line else _UNSAFE).sub(_escape, str(text))


def is_clean(text: str) -> bool:
    """True when :func:`clean` would leave ``text`` unchanged."""
    return _UNSAFE.search(text) is None


def html_text(text: object) -> str:
    """Store text for an HTML page: cleaned, then ``<``, ``>``, ``&`` and quotes as entities."""
    return html.escape(clean(text), quote=True)


# Characters that start Markdown syntax (emphasis, links, code, headings, tables, math on GitHub).
_MARKDOWN = re.compile(r"([\\`*_\[\]#|$~])")


def markdown_text(text: object, *, one_line: bool = True) -> str:
    """Store text for Markdown: cleaned, HTML entities for ``<``, ``>`` and ``&`` (so no tag or
    entity is ever read), a backslash before every Markdown syntax character, and newlines as
    spaces in headings and table cells (``one_line``)."""
    value = clean(text)
    if one_line:
        value = value.replace("\r", " ").replace("\n", " ")
    value = html.escape(value, quote=False)
    return _MARKDOWN.sub(r"\\\1", value)

"""The only HTML the web UI makes from user text: Markdown, highlighted source, and the
first rows of a CSV file as a table. Each is safe to put in a page as it is:

- **Markdown** (descriptions, README files) is CommonMark by markdown-it-py with raw HTML
  off: a ``<script>`` in the text comes out as the text ``<script>``. Links and images keep
  only the schemes markdown-it lets through (not ``javascript:``, ``vbscript:``, ``file:``
  or ``data:`` other than images), and every link opens with ``rel="nofollow noopener"``.
  Images from other sites would be blocked by the page's CSP anyway.
- **Source** is highlighted by Pygments, which escapes every character of it.
- **CSV** is read from the start of the file, no more than its page's budget of bytes,
  and stops after ``CSV_ROWS`` rows: never the whole file. The cells go
  through the template's escaping.

Sizes are bounded before any of it runs (``TEXT_PREVIEW_BYTES``): a preview is the
beginning of a file, with a link to the whole.
"""

from __future__ import annotations

import contextlib
import csv
import io
from dataclasses import dataclass
from typing import Any

from markdown_it import MarkdownIt
from markupsafe import Markup
from pygments import highlight
from pygments.formatters import HtmlFormatter
from pygments.lexers import TextLexer, get_lexer_for_filename
from pygments.util import ClassNotFound

TEXT_PREVIEW_BYTES = 512 * 1024  # the beginning of a text file that a page shows
HIGHLIGHT_BYTES = 256 * 1024  # highlighting past this is slow for a page; shown plain
CSV_ROWS = 100
CSV_COLUMNS = 50
CSV_CELL_CHARS = 200


def _markdown() -> MarkdownIt:
    engine = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False})
    engine.enable("table").enable("strikethrough")

    def link_open(renderer: Any, tokens: Any, index: int, options: Any, env: Any) -> str:
        tokens[index].attrSet("rel", "nofollow noopener")
        return str(renderer.renderToken(tokens, index, options, env))

    engine.add_render_rule("link_open", link_open)
    return engine


_MARKDOWN = _markdown()


def markdown(text: str) -> Markup:
    """Markdown as HTML that can go into a page as it is (see the module docstring)."""
    return Markup(_MARKDOWN.render(text))


_FORMATTER = HtmlFormatter(nowrap=False, cssclass="code", wrapcode=True)


def highlighted(text: str, filename: str) -> Markup:
    """Source text as HTML, coloured by the language its file name suggests (plain text
    when none does, or when it is too long to highlight quickly)."""
    lexer: Any = TextLexer()
    if len(text) <= HIGHLIGHT_BYTES:
        with contextlib.suppress(ClassNotFound):
            lexer = get_lexer_for_filename(filename, stripnl=False)
    return Markup(highlight(text, lexer, _FORMATTER))


def highlight_styles() -> str:
    """The colours of highlighted source (served as a stylesheet: no inline style)."""
    return str(_FORMATTER.get_style_defs(".code"))  # type: ignore[no-untyped-call]


@dataclass(frozen=True)
class Table:
    header: list[str]
    rows: list[list[str]]
    complete: bool  # every row of the file is here


def csv_table(data: bytes, cut: bool, filename: str) -> Table:
    """The first ``CSV_ROWS`` rows of a CSV (or, by its name, TSV) file whose first bytes
    are ``data`` (``cut``: the file holds more); cells and columns clipped."""
    text = decode_text(data)
    if cut:  # the last line is partial: leave it out
        text = text.rpartition("\n")[0]
    delimiter = "\t" if filename.lower().endswith((".tsv", ".tab")) else ","
    rows: list[list[str]] = []
    complete = not cut
    try:
        for row in csv.reader(io.StringIO(text, newline=""), delimiter=delimiter):
            if len(rows) > CSV_ROWS:  # the header and CSV_ROWS rows are all a page shows
                complete = False
                break
            rows.append([cell[:CSV_CELL_CHARS] for cell in row[:CSV_COLUMNS]])
    except csv.Error:  # a quote left open by the cut, or not CSV at all: what was read
        complete = False
    header, body = (rows[0], rows[1:]) if rows else ([], [])
    return Table(header, body[:CSV_ROWS], complete)


def decode_text(data: bytes) -> str:
    """Bytes as text: UTF-8 (a character cut at the end of a preview dropped), or
    Latin-1 when they are not UTF-8 at all."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        if error.start >= len(data) - 3:
            return data[: error.start].decode("utf-8", "replace")
        return data.decode("latin-1")


def looks_binary(sample: bytes) -> bool:
    """Whether the first bytes of a file look like anything but text (a NUL in them)."""
    return b"\x00" in sample[:8192]

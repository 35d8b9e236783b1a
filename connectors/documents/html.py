"""HTML to plain text, without fetching anything.

Guarantees:
- Nothing is loaded from the network or the disk: lxml's HTML parser runs with `no_network`,
  and HTML has no external entities to resolve; DTD entities are never expanded.
- Scripts, styles, the document head and hidden elements (`hidden`, `display:none`) are
  dropped: readers never see them, and hidden text is a classic carrier of injected
  instructions (docs/SECURITY.md row 10).
- The tree is walked iteratively, so deep nesting cannot exhaust the stack; libxml2 also caps
  the depth it builds (256 without `huge_tree`).
- At most MAX_HTML_ELEMENTS elements are rendered (a few seconds of work); a larger page raises
  LimitExceeded rather than tie up a worker.
- Block elements end lines, `<br>` breaks them, table cells are joined with " | ", headings
  become "# Heading" lines and the content of `<blockquote>` is prefixed with "> ", the way
  mail clients quote, so quoted replies can be told apart later.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from lxml import etree

from connectors.errors import LimitExceeded
from connectors.limits import MAX_HTML_ELEMENTS

BLOCK_TAGS = frozenset(
    {
        "address",
        "article",
        "aside",
        "caption",
        "center",
        "dd",
        "details",
        "dialog",
        "dir",
        "div",
        "dl",
        "dt",
        "fieldset",
        "figcaption",
        "figure",
        "footer",
        "form",
        "header",
        "hr",
        "legend",
        "main",
        "menu",
        "nav",
        "ol",
        "section",
        "summary",
        "table",
        "tbody",
        "tfoot",
        "thead",
        "ul",
        "body",
        "html",
    }
)
PARAGRAPH_TAGS = frozenset({"p", "pre"})
HEADING_TAGS = {f"h{n}": n for n in range(1, 7)}
# Their content is never shown as text.
SKIP_TAGS = frozenset(
    {
        "script",
        "style",
        "head",
        "title",
        "noscript",
        "template",
        "object",
        "embed",
        "iframe",
        "svg",
        "math",
        "select",
        "button",
        "meta",
        "link",
        "base",
    }
)
_HIDDEN_STYLE = re.compile(r"display\s*:\s*none|visibility\s*:\s*hidden", re.IGNORECASE)
_WHITESPACE = re.compile(r"\s+")
_BLANK_RUNS = re.compile(r"\n{3,}")
_XML_DECLARATION = re.compile(rb"^\s*<\?xml[^>]*\?>", re.IGNORECASE)


@dataclass(frozen=True)
class HtmlContent:
    """What an HTML page says: its `<title>`, `<meta name="author">` and visible text."""

    title: str
    author: str
    text: str


def parse_html(markup: str) -> HtmlContent:
    """Return the title, author and visible text of `markup` (empty strings when absent).

    Raise LimitExceeded for a page of more than MAX_HTML_ELEMENTS elements.
    """
    root = _parse(markup)
    if root is None:
        return HtmlContent(title="", author="", text="")
    title = ""
    author = ""
    for element in root.iter("title", "meta"):
        if element.tag == "title" and not title:
            title = _WHITESPACE.sub(" ", "".join(element.itertext())).strip()
        elif (
            element.tag == "meta"
            and not author
            and (element.get("name") or "").strip().lower() == "author"
        ):
            author = _WHITESPACE.sub(" ", element.get("content") or "").strip()
    return HtmlContent(title=title, author=author, text=_render(root))


def html_to_text(markup: str) -> str:
    """Return the visible text of `markup`, quoting `<blockquote>` content with "> ".

    Raise LimitExceeded for a page of more than MAX_HTML_ELEMENTS elements.
    """
    root = _parse(markup)
    return "" if root is None else _render(root)


def _parse(markup: str) -> etree._Element | None:
    # Every element but the implied <html>/<body> starts with "<", and most also end with
    # one: twice the cap in "<" is surely over it, found before parsing anything.
    if markup.count("<") > 2 * MAX_HTML_ELEMENTS + 10:
        raise LimitExceeded(f"the HTML has more than {MAX_HTML_ELEMENTS} elements")
    # Feed bytes with an explicit encoding: lxml refuses str input that carries an XML
    # declaration, and an explicit encoding also overrides a lying <meta charset>.
    data = markup.encode("utf-8", "replace")
    data = _XML_DECLARATION.sub(b"", data, count=1)
    if not data.strip():
        return None
    # etree's HTMLParser, not lxml.html's: plain elements are several times cheaper to walk.
    parser = etree.HTMLParser(
        encoding="utf-8",
        no_network=True,
        remove_comments=True,
        remove_pis=True,
        default_doctype=False,
    )
    try:
        root = etree.fromstring(data, parser)
    except (etree.ParserError, etree.XMLSyntaxError, ValueError) as exc:
        if isinstance(exc, etree.Error) and out_of_memory(exc):
            raise MemoryError(str(exc)) from exc
        return None
    return root


def out_of_memory(exc: etree.Error) -> bool:
    """True if lxml failed for want of memory: libxml2 reports that as a syntax error, an
    "unknown error" with code ERR_NO_MEMORY (what the sandbox's memory limit looks like)."""
    no_memory = etree.ErrorTypes.ERR_NO_MEMORY
    entries = getattr(exc, "error_log", None) or ()
    return getattr(exc, "code", None) == no_memory or any(e.type == no_memory for e in entries)


def _is_hidden(element: etree._Element) -> bool:
    if element.get("hidden") is not None or element.get("aria-hidden") == "true":
        return True
    return bool(_HIDDEN_STYLE.search(element.get("style") or ""))


class _Writer:
    """Accumulate text into lines, remembering the quote depth each line started at."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.parts: list[str] = []
        self.quote_depth = 0
        self.line_depth = 0
        self.preformatted = 0

    def text(self, value: str | None) -> None:
        if not value:
            return
        if self.preformatted:
            for n, piece in enumerate(value.replace("\r\n", "\n").split("\n")):
                if n:
                    self.newline()
                self._append(piece)
            return
        value = _WHITESPACE.sub(" ", value)
        if not self.parts:
            value = value.lstrip()
        elif self.parts[-1].endswith(" ") and value.startswith(" "):
            value = value[1:]
        if value:
            self._append(value)

    def raw(self, value: str) -> None:
        self._append(value)

    def _append(self, value: str) -> None:
        if not self.parts:
            self.line_depth = self.quote_depth
        self.parts.append(value)

    def newline(self) -> None:
        """End the current line, even if it is empty (a `<br>`)."""
        depth = self.line_depth if self.parts else self.quote_depth
        line = "".join(self.parts).rstrip()
        self.parts = []
        self.lines.append(("> " * depth + line).rstrip() if depth else line)

    def block(self) -> None:
        """Make sure the next text starts on a new line."""
        if self.parts:
            self.newline()

    def blank(self) -> None:
        """Make sure the next text starts after an empty line."""
        self.block()
        if self.lines and self.lines[-1].strip("> ") != "":
            self.lines.append(">" * self.quote_depth if self.quote_depth else "")

    def result(self) -> str:
        self.block()
        text = "\n".join(self.lines).strip("\n")
        return _BLANK_RUNS.sub("\n\n", text)


def _render(root: etree._Element) -> str:
    writer = _Writer()
    cells: list[int] = []  # cells seen so far in each open table row
    walker = etree.iterwalk(root, events=("start", "end"))
    # After skip_subtree() the very next event is the skipped element's own "end".
    skipping = False
    elements = 0
    for event, element in walker:
        tag = element.tag.lower() if isinstance(element.tag, str) else ""
        if event == "start":
            elements += 1
            if elements > MAX_HTML_ELEMENTS:
                raise LimitExceeded(f"the HTML has more than {MAX_HTML_ELEMENTS} elements")
            if not tag or tag in SKIP_TAGS or _is_hidden(element):
                walker.skip_subtree()
                skipping = True
                continue
            _open(tag, writer, cells)
            writer.text(element.text)
        else:
            if skipping:
                skipping = False
            else:
                _close(tag, writer, cells)
            writer.text(element.tail)
    return writer.result()


def _open(tag: str, writer: _Writer, cells: list[int]) -> None:
    if tag == "br":
        writer.newline()
    elif tag in PARAGRAPH_TAGS:
        writer.blank()
        if tag == "pre":
            writer.preformatted += 1
    elif tag in HEADING_TAGS:
        writer.blank()
        writer.raw("#" * HEADING_TAGS[tag] + " ")
    elif tag == "blockquote":
        writer.block()
        writer.quote_depth += 1
    elif tag == "li":
        writer.block()
        writer.raw("- ")
    elif tag == "tr":
        writer.block()
        cells.append(0)
    elif tag in ("td", "th"):
        if cells:
            if cells[-1]:
                writer.raw(" | ")
            cells[-1] += 1
    elif tag in BLOCK_TAGS:
        writer.block()


def _close(tag: str, writer: _Writer, cells: list[int]) -> None:
    if tag in PARAGRAPH_TAGS:
        if tag == "pre" and writer.preformatted:
            writer.preformatted -= 1
        writer.blank()
    elif tag in HEADING_TAGS:
        writer.blank()
    elif tag == "blockquote":
        writer.block()
        writer.quote_depth = max(0, writer.quote_depth - 1)
    elif tag == "tr":
        writer.block()
        if cells:
            cells.pop()
    elif tag in BLOCK_TAGS or tag == "li":
        writer.block()

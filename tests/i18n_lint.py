"""Find text in templates that a reader sees but no translation tag wraps (tests/test_i18n.py).

Every template tag and variable is replaced by a placeholder, and the body of each
`{% blocktranslate %}` with it, keeping the newlines; what HTML text or visible attribute is
left with a word of two or more letters in it was written in English and not translated.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

from django.template.base import Lexer, TokenType

# Attributes a reader sees or hears; a button's value only on input buttons.
VISIBLE_ATTRIBUTES = {"title", "placeholder", "aria-label", "alt", "aria-description"}
BUTTON_TYPES = {"submit", "button", "reset"}
# Elements whose text is not prose: commands, file names and scripts.
NOT_PROSE = {"code", "script", "style", "pre"}
# The product's name is the same in every language.
BRAND = re.compile(r"Colleague\.skill|Colleague|\.skill")
WORD = re.compile(r"[^\W\d_]{2,}")
# Spaced, so that a tag inside an HTML tag (`<tr{% if %} class="x"{% endif %}>`) reads as an
# attribute name and the HTML still parses.
PLACEHOLDER = " \x00 "


def untranslated(path: Path) -> list[str]:
    """`file:line: text` of each piece of visible text in `path` outside translation tags."""
    finder = _Finder()
    finder.feed(_without_tags(path.read_text()))
    finder.close()
    return [f"{path}:{line}: {text}" for line, text in finder.found]


def _without_tags(source: str) -> str:
    """The template with tags, variables, comments and blocktranslate bodies as placeholders."""
    out: list[str] = []
    depth = 0
    for token in Lexer(source).tokenize():
        raw = _raw(token)
        newlines = "\n" * raw.count("\n")
        if token.token_type == TokenType.BLOCK:
            name = token.contents.split()[0] if token.contents else ""
            if name in {"blocktranslate", "blocktrans", "comment"}:
                depth += 1
            elif name in {"endblocktranslate", "endblocktrans", "endcomment"}:
                depth -= 1
            out.append(PLACEHOLDER + newlines)
        elif token.token_type == TokenType.TEXT and depth == 0:
            out.append(raw)
        else:
            out.append(PLACEHOLDER + newlines)
    return "".join(out)


def _raw(token: object) -> str:
    token_type = token.token_type  # type: ignore[attr-defined]
    contents: str = token.contents  # type: ignore[attr-defined]
    if token_type == TokenType.TEXT:
        return contents
    # The lexer strips the delimiters; only the newlines inside matter for line numbers.
    return "{%" + contents + "%}"


class _Finder(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[tuple[int, str]] = []
        self.open: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in {"br", "input", "meta", "link", "img", "hr", "source", "wbr"}:
            self.open.append(tag)
        values = dict(attrs)
        for name, value in attrs:
            shown = name in VISIBLE_ATTRIBUTES or (
                name == "value" and tag == "input" and values.get("type") in BUTTON_TYPES
            )
            if shown and value:
                self._check(f'{name}="{value}"', value)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        if self.open and self.open[-1] == tag:
            self.open.pop()

    def handle_endtag(self, tag: str) -> None:
        if tag in self.open:
            while self.open and self.open.pop() != tag:
                pass

    def handle_data(self, data: str) -> None:
        if not NOT_PROSE.intersection(self.open):
            self._check(data.strip(), data)

    def _check(self, shown: str, text: str) -> None:
        words = BRAND.sub(lambda brand: " " * len(brand.group()), text.replace("\x00", " "))
        word = WORD.search(words)
        if word is None:
            return
        # The line of the first word, not of the whitespace or tags before it.
        line = self.getpos()[0] + text[: word.start()].count("\n")
        self.found.append((line, " ".join(shown.replace("\x00", "{…}").split())))

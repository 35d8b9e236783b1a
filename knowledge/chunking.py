"""Split item text into retrievable pieces of bounded size, by kind of item.

- A Slack message: its text, by paragraphs and sentences. The question a thread reply answers
  is not part of its chunks (they hold the author's own words only); it is added to what is
  embedded when the reply's chunks are embedded (knowledge/indexing.py), read from the
  thread's first message as it is then.
- An email: the subject and the body, which the mail connector has already freed of quoted
  text and signature, by paragraphs; pieces after the first carry the subject as context.
- A document: by headings ("#" lines, which the .md, .html and .docx readers write), then by
  size; each piece carries the path of headings it stands under, after the title, as context.

A piece's `context` is embedded with its text and never shown as the author's words. Every
text is at most `MAX_CHUNK_CHARS`, every context at most `MAX_CONTEXT_CHARS`.

Linear in the length of the text: a sentence longer than a piece (a 16 MB single line, the
largest text a document may yield) is cut with offsets into it, never by copying what is left
of it after each cut, which was quadratic.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

MAX_CHUNK_CHARS = 1200
MAX_CONTEXT_CHARS = 300
CONTEXT_SEPARATOR = " › "
_PARAGRAPHS = re.compile(r"\n\s*\n")
_SENTENCES = re.compile(r"(?<=[.!?。！？])\s+")
_NOT_SPACE = re.compile(r"\S")
_HEADING = re.compile(r"^(#{1,6})[ \t]+(\S.*?)[ \t#]*$")
_FENCE = re.compile(r"^[ \t]{0,3}(```|~~~)")
_SPACES = re.compile(r"\s+")


@dataclass(frozen=True)
class Piece:
    """One chunk's text, and what it stands under or answers (embedded with it, not shown)."""

    text: str
    context: str = ""


def chunk_item(kind: str, title: str, body: str) -> list[Piece]:
    """Return the pieces of an item of `kind` ("message", "email" or "document").

    Joined, the pieces' texts hold every word of the body (and of the title, for an email or
    a document), in order.
    """
    if kind == "message":
        return [Piece(text) for text in split_text(body)]
    if kind == "document":
        return _document_pieces(title, body)
    return _with_context(split_text(f"{title}\n\n{body}" if title else body), shorten(title))


def embedding_input(text: str, context: str = "", question: str = "") -> str:
    """What is embedded for a chunk: the question it answers, its context, then its text."""
    return "\n\n".join(part for part in (question, context, text) if part)


def shorten(text: str, max_chars: int = MAX_CONTEXT_CHARS) -> str:
    """`text` on one line, cut at a word to at most `max_chars` (with "…" when cut)."""
    line = _SPACES.sub(" ", text[: max_chars * 4]).strip()
    if len(line) <= max_chars:
        return line
    cut = line.rfind(" ", 0, max_chars)
    return line[: cut if cut > max_chars // 2 else max_chars - 1].rstrip() + "…"


def _with_context(texts: list[str], context: str) -> list[Piece]:
    # A piece that begins with its context (the first, which holds the title) needs no copy.
    return [Piece(text, "" if text.startswith(context) else context) for text in texts]


def _document_pieces(title: str, body: str) -> list[Piece]:
    pieces: list[Piece] = []
    for number, (path, text) in enumerate(_sections(body)):
        if number == 0 and title:
            text = f"{title}\n\n{text}"
        if path and path[0] == title:
            path = path[1:]
        context = shorten(CONTEXT_SEPARATOR.join([title, *path] if title else path))
        pieces.extend(_with_context(split_text(text), context))
    return pieces


def _sections(body: str) -> list[tuple[list[str], str]]:
    """Return the body's sections as (path of headings, text from its heading on).

    A heading followed by nothing but another heading joins the next section; "#" lines inside
    a fenced code block are code, not headings. A body without headings is one section.
    """
    sections: list[tuple[list[str], str]] = []
    stack: list[tuple[int, str]] = []  # (level, name) of the headings above this line
    path: list[str] = []
    lines: list[str] = []
    has_content = False
    in_fence = False
    for line in body.split("\n"):
        if _FENCE.match(line):
            in_fence = not in_fence
        heading = None if in_fence else _HEADING.match(line)
        if heading is None:
            lines.append(line)
            has_content = has_content or bool(line.strip())
            continue
        if has_content:
            sections.append((path, "\n".join(lines)))
            lines, has_content = [], False
        level = len(heading.group(1))
        while stack and stack[-1][0] >= level:
            stack.pop()
        stack.append((level, shorten(heading.group(2), 100)))
        path = [name for _, name in stack]
        lines.append(line)
    if has_content or lines:
        sections.append((path, "\n".join(lines)))
    return sections


def split_text(text: str, *, max_chars: int = MAX_CHUNK_CHARS) -> list[str]:
    """Return pieces of `text` of at most `max_chars`, cut at paragraphs, then sentences.

    Empty text gives no pieces. Pieces keep their order; joined, they hold every word.
    """
    pieces: list[str] = []
    current = ""
    for paragraph in _PARAGRAPHS.split(text.strip()):
        paragraph = paragraph.strip()
        if not paragraph:
            continue
        for part in _fit(paragraph, max_chars):
            if current and len(current) + 2 + len(part) > max_chars:
                pieces.append(current)
                current = part
            else:
                current = f"{current}\n\n{part}" if current else part
    if current:
        pieces.append(current)
    return pieces


def _fit(paragraph: str, max_chars: int) -> list[str]:
    """Return the paragraph in parts of at most `max_chars`: whole sentences joined while
    they fit, and a sentence too long for one part cut at its last space in the second half
    of a part (else at `max_chars`)."""
    if len(paragraph) <= max_chars:
        return [paragraph]
    parts: list[str] = []
    current = ""
    for sentence in _SENTENCES.split(paragraph):
        if len(sentence) > max_chars:
            if current:
                parts.append(current)
                current = ""
            sentence = _cut_long(sentence, max_chars, parts)
        if current and len(current) + 1 + len(sentence) > max_chars:
            parts.append(current)
            current = sentence
        else:
            current = f"{current} {sentence}" if current else sentence
    if current:
        parts.append(current)
    return [p for p in parts if p]


def _cut_long(sentence: str, max_chars: int, parts: list[str]) -> str:
    """Append to `parts` the leading pieces of a sentence longer than `max_chars`; return the
    rest, stripped, which fits in one part.

    Works with offsets into `sentence`: each piece is sliced once, and what is left is never
    copied until it fits.
    """
    start, end = 0, len(sentence)
    stripped_end = len(sentence.rstrip())
    while end - start > max_chars:
        cut = sentence.rfind(" ", start, start + max_chars)
        cut = cut if cut - start > max_chars // 2 else start + max_chars
        parts.append(sentence[start:cut].strip())
        # What is left is stripped on both sides, as the parts are.
        following = _NOT_SPACE.search(sentence, cut, stripped_end)
        start = following.start() if following is not None else stripped_end
        end = stripped_end
    return sentence[start:end]

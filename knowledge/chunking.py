"""Split item text into retrievable pieces of bounded size.

Linear in the length of the text: a sentence longer than a piece (a 16 MB single line, the
largest text a document may yield) is cut with offsets into it, never by copying what is left
of it after each cut, which was quadratic.
"""

from __future__ import annotations

import re

MAX_CHUNK_CHARS = 1200
_PARAGRAPHS = re.compile(r"\n\s*\n")
_SENTENCES = re.compile(r"(?<=[.!?。！？])\s+")
_NOT_SPACE = re.compile(r"\S")


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

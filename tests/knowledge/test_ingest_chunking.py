"""Chunking stored text (knowledge/chunking.py): bounded pieces, every word kept, linear time."""

from __future__ import annotations

import re
import time

from hypothesis import given
from hypothesis import strategies as st

from knowledge.chunking import MAX_CHUNK_CHARS, split_text

MiB = 1024 * 1024


def non_space(text: str) -> str:
    """Every character but whitespace, in order: what chunking must keep."""
    return "".join(text.split())


def _reference_split(text: str, max_chars: int) -> list[str]:
    """The chunker as it was before it was made linear, kept to check the cuts did not move.

    Quadratic on one long line: only ever called on short text.
    """
    paragraphs = re.compile(r"\n\s*\n")
    sentences = re.compile(r"(?<=[.!?。！？])\s+")

    def fit(paragraph: str) -> list[str]:
        if len(paragraph) <= max_chars:
            return [paragraph]
        parts: list[str] = []
        current = ""
        for sentence in sentences.split(paragraph):
            while len(sentence) > max_chars:
                cut = sentence.rfind(" ", 0, max_chars)
                cut = cut if cut > max_chars // 2 else max_chars
                if current:
                    parts.append(current)
                    current = ""
                parts.append(sentence[:cut].strip())
                sentence = sentence[cut:].strip()
            if current and len(current) + 1 + len(sentence) > max_chars:
                parts.append(current)
                current = sentence
            else:
                current = f"{current} {sentence}" if current else sentence
        if current:
            parts.append(current)
        return [p for p in parts if p]

    pieces: list[str] = []
    current = ""
    for paragraph in paragraphs.split(text.strip()):
        paragraph = paragraph.strip()
        if not paragraph:
            continue
        for part in fit(paragraph):
            if current and len(current) + 2 + len(part) > max_chars:
                pieces.append(current)
                current = part
            else:
                current = f"{current}\n\n{part}" if current else part
    if current:
        pieces.append(current)
    return pieces


def test_a_16_mb_single_line_is_chunked_in_linear_time() -> None:
    # One line of words, and one without a single space (cut at the limit).
    for line in ("word " * (16 * MiB // 5), "x" * (16 * MiB)):
        started = time.perf_counter()
        pieces = split_text(line)
        elapsed = time.perf_counter() - started
        assert elapsed < 2.0, f"{elapsed:.1f} s for {line[:10]!r}..."
        assert all(0 < len(piece) <= MAX_CHUNK_CHARS for piece in pieces)
        # Full pieces: no more than one in two below half the limit.
        assert len(pieces) <= 2 * len(line) // MAX_CHUNK_CHARS + 1
        assert non_space("".join(pieces)) == non_space(line)


def test_empty_text_gives_no_pieces_and_short_text_one() -> None:
    assert split_text("") == []
    assert split_text(" \n\n \t ") == []
    assert split_text("  Rotate the keys.  ") == ["Rotate the keys."]


_TEXT = st.lists(
    st.sampled_from(["a", "bb", "word", " ", "  ", ".", "!", "\n", "\n\n", "\t", "。", "x" * 70]),
    max_size=120,
).map("".join)


@given(text=_TEXT, max_chars=st.integers(min_value=4, max_value=60))
def test_pieces_are_bounded_keep_every_word_and_cut_where_they_did(
    text: str, max_chars: int
) -> None:
    pieces = split_text(text, max_chars=max_chars)
    assert all(0 < len(piece) <= max_chars for piece in pieces)
    assert all(piece == piece.strip() for piece in pieces)
    assert non_space("".join(pieces)) == non_space(text)
    assert pieces == _reference_split(text, max_chars)

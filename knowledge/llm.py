"""Chat completions from an OpenAI-compatible server: the one LLM provider of the product.

Ask (and later package writing) talk to a model only through `LLM`, built by
`llm_from_settings()` from the LLM_* settings; without LLM_BASE_URL there is no model and
answers stay extractive. The requests are the documented chat completions shape
(https://platform.openai.com/docs/api-reference/chat/create) sent with the official `openai`
SDK, which vLLM, Ollama, llama.cpp's server and OpenAI all serve.

Every failure surfaces as an `LLMError`: `LLMUnavailable` when the server cannot be reached
or keeps failing (connection refused, timeout, 408/429/5xx after the SDK's retries),
`LLMRefused` when it turns the request down (other 4xx: credentials, unknown model, a prompt
longer than the context). Messages are one line and name LLM_BASE_URL and LLM_MODEL; they
never contain the API key.
"""

from __future__ import annotations

import functools
import re
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal
from urllib.parse import urlsplit, urlunsplit

from django.core.exceptions import ImproperlyConfigured

if TYPE_CHECKING:
    from openai import APIStatusError
    from openai.types.chat import ChatCompletionMessageParam

__all__ = [
    "LLM",
    "ChatMessage",
    "Completion",
    "LLMConfigError",
    "LLMError",
    "LLMRefused",
    "LLMUnavailable",
    "llm_from_settings",
]

Role = Literal["system", "user", "assistant"]
ROLES: frozenset[str] = frozenset({"system", "user", "assistant"})
#: Sent when LLM_API_KEY is empty: the SDK requires a key, local servers ignore it.
PLACEHOLDER_API_KEY = "not-needed"
#: Statuses the SDK retries and that mean "busy or broken", not "no".
TRANSIENT_STATUSES = frozenset({408, 409, 429})
#: Longest server explanation quoted in an error message.
MAX_DETAIL_CHARS = 300


class LLMError(Exception):
    """The model could not produce an answer. `status` is the last HTTP status, if any."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class LLMConfigError(LLMError, ImproperlyConfigured):
    """The LLM_* settings cannot work (a base URL that is not http(s), a negative timeout)."""


class LLMUnavailable(LLMError):
    """The server could not be reached, timed out, or kept failing (408, 429, 5xx) after the
    retries: trying again later may work."""


class LLMRefused(LLMError):
    """The server answered 4xx: bad credentials, unknown model or path, a prompt too long.
    Retrying the same request will not help."""


@dataclass(frozen=True)
class ChatMessage:
    """One turn of a conversation."""

    role: Role
    content: str

    def __post_init__(self) -> None:
        if self.role not in ROLES:
            raise ValueError(f"role must be one of {sorted(ROLES)}, not {self.role!r}")


@dataclass(frozen=True)
class Completion:
    """A finished answer. Token counts are None when the server reports no usage."""

    text: str
    model: str
    finish_reason: str | None
    prompt_tokens: int | None
    completion_tokens: int | None
    seconds: float


class LLM:
    """A chat model behind an OpenAI-compatible API.

    `model` is the configured LLM_MODEL or, when that is empty, the first model the server
    lists at ``GET {base_url}/models``, asked once on first use. Each request waits at most
    `timeout` seconds per network step and is retried `max_retries` times on connection
    errors, 408, 409, 429 and 5xx by the SDK, with exponential backoff.
    """

    def __init__(
        self,
        *,
        base_url: str,
        model: str = "",
        api_key: str = "",
        timeout: float = 60.0,
        max_retries: int = 2,
    ) -> None:
        try:
            parts = urlsplit(base_url)
            usable = parts.scheme in ("http", "https") and bool(parts.hostname)
            _ = parts.port  # raises ValueError for a port that is not a number
        except ValueError:
            usable = False
        if not usable:
            raise LLMConfigError(
                "LLM_BASE_URL must be an http(s) URL such as http://127.0.0.1:8080/v1, "
                f"not {_display_url(base_url)!r}"
            )
        if timeout <= 0 or max_retries < 0:
            raise LLMConfigError("LLM_TIMEOUT must be positive and LLM_MAX_RETRIES not negative")
        self.base_url = base_url
        self.timeout = timeout
        self.max_retries = max_retries
        self._model = model
        self._model_lock = threading.Lock()
        self._api_key = api_key
        # Imported here: the SDK takes half a second to import, and extractive mode never needs it.
        import openai

        self._client = openai.OpenAI(
            base_url=base_url,
            api_key=api_key or PLACEHOLDER_API_KEY,
            timeout=timeout,
            max_retries=max_retries,
        )

    def __repr__(self) -> str:
        return f"LLM(base_url={_display_url(self.base_url)!r}, model={self._model!r})"

    @property
    def model(self) -> str:
        """The model asked for in every request (discovered from the server when unset)."""
        if not self._model:
            with self._model_lock:
                if not self._model:
                    self._model = self._first_listed_model()
        return self._model

    def complete(
        self,
        messages: Sequence[ChatMessage],
        *,
        max_tokens: int = 512,
        temperature: float = 0.0,
    ) -> Completion:
        """Return the model's whole answer to `messages`; raise LLMError if there is none."""
        payload = _payload(messages)
        started = time.monotonic()
        try:
            response = self._client.chat.completions.create(
                model=self.model,
                messages=payload,
                max_tokens=max_tokens,
                temperature=temperature,
                stream=False,
            )
        except Exception as exc:
            error = self._translate(exc)
            if error is None:
                raise
            raise error from exc
        seconds = time.monotonic() - started
        if not response.choices:
            raise LLMError(f"{self._where()} answered with no choices")
        choice = response.choices[0]
        usage = response.usage
        return Completion(
            text=choice.message.content or "",
            model=response.model or self.model,
            finish_reason=choice.finish_reason,
            prompt_tokens=usage.prompt_tokens if usage else None,
            completion_tokens=usage.completion_tokens if usage else None,
            seconds=seconds,
        )

    def stream(
        self,
        messages: Sequence[ChatMessage],
        *,
        max_tokens: int = 512,
        temperature: float = 0.0,
    ) -> Iterator[str]:
        """Yield the answer's text as it is generated, in non-empty pieces.

        The request is sent on the first `next()`; a failure at any point raises LLMError,
        and the connection is closed when the iterator is exhausted, fails or is closed. A
        stream that ends without a finish reason was broken off, and raises LLMError too
        (llama-cpp-python's server answers a prompt longer than its context that way).
        """
        payload = _payload(messages)
        finished = False
        try:
            with self._client.chat.completions.create(
                model=self.model,
                messages=payload,
                max_tokens=max_tokens,
                temperature=temperature,
                stream=True,
            ) as chunks:
                for chunk in chunks:
                    for choice in chunk.choices:
                        if choice.index != 0:
                            continue
                        if choice.delta.content:
                            yield choice.delta.content
                        finished = finished or choice.finish_reason is not None
        except Exception as exc:
            error = self._translate(exc)
            if error is None:
                raise
            raise error from exc
        if not finished:
            raise LLMError(
                f"{self._where()} ended the stream without finishing the answer "
                "(no finish_reason); is the prompt longer than the model's context?"
            )

    def close(self) -> None:
        """Release the HTTP connections."""
        self._client.close()

    # Internals.

    def _first_listed_model(self) -> str:
        try:
            page = self._client.models.list()
        except Exception as exc:
            error = self._translate(exc, asking_models=True)
            if error is None:
                raise
            raise error from exc
        if not page.data:
            raise LLMRefused(f"{self._where()} lists no models at /models; set LLM_MODEL")
        return page.data[0].id

    def _where(self, *, asking_models: bool = False) -> str:
        model = "unset, asking the server" if asking_models else repr(self._model)
        return f"LLM server at LLM_BASE_URL={_display_url(self.base_url)} (LLM_MODEL {model})"

    def _translate(self, exc: Exception, *, asking_models: bool = False) -> LLMError | None:
        """The LLMError for an SDK or transport exception; None for anything else (an
        LLMError already, a bug of ours), which the caller re-raises unchanged."""
        import openai

        where = self._where(asking_models=asking_models)
        tries = f"{self.max_retries + 1} tries"
        if isinstance(exc, openai.APITimeoutError):
            return LLMUnavailable(
                f"{where} did not answer within LLM_TIMEOUT={self.timeout:g}s ({tries})"
            )
        if isinstance(exc, openai.APIConnectionError):
            cause = self._detail(str(exc.__cause__ or exc))
            return LLMUnavailable(f"{where} is unreachable ({tries}): {cause}")
        if isinstance(exc, openai.APIStatusError):
            status = exc.status_code
            detail = self._detail(_error_text(exc))
            if status >= 500 or status in TRANSIENT_STATUSES:
                return LLMUnavailable(
                    f"{where} failed with HTTP {status} ({tries}): {detail}", status=status
                )
            if status in (401, 403):
                # The server's text may quote part of the key (OpenAI does); leave it out.
                return LLMRefused(
                    f"{where} refused the credentials with HTTP {status}; check LLM_API_KEY",
                    status=status,
                )
            hint = "; check LLM_BASE_URL (it usually ends in /v1) and LLM_MODEL"
            return LLMRefused(
                f"{where} refused the request with HTTP {status}: {detail}"
                + (hint if status == 404 else ""),
                status=status,
            )
        if isinstance(exc, openai.OpenAIError):
            return LLMError(f"{where} gave an unusable answer: {self._detail(str(exc))}")
        if _is_transport_error(exc):
            # Raised by the HTTP library while a stream is being read, outside the SDK's
            # retries: the server went away or stalled mid-answer.
            return LLMUnavailable(f"{where} broke off the answer: {self._detail(repr(exc))}")
        return None

    def _detail(self, text: str) -> str:
        """`text` on one line, shortened, with the API key cut out wherever it appears."""
        if self._api_key:
            text = text.replace(self._api_key, "[LLM_API_KEY]")
        text = re.sub(r"\s+", " ", text).strip()
        if len(text) > MAX_DETAIL_CHARS:
            text = text[: MAX_DETAIL_CHARS - 1] + "…"
        return text or "no detail"


def llm_from_settings() -> LLM | None:
    """The configured model, or None when LLM_BASE_URL is empty (extractive mode).

    One LLM (one connection pool, one model lookup) is kept per distinct configuration.
    """
    from django.conf import settings

    if not settings.LLM_BASE_URL:
        return None
    return _cached_llm(
        settings.LLM_BASE_URL,
        settings.LLM_MODEL,
        settings.LLM_API_KEY,
        float(settings.LLM_TIMEOUT),
        int(settings.LLM_MAX_RETRIES),
    )


@functools.lru_cache(maxsize=4)
def _cached_llm(base_url: str, model: str, api_key: str, timeout: float, max_retries: int) -> LLM:
    return LLM(
        base_url=base_url,
        model=model,
        api_key=api_key,
        timeout=timeout,
        max_retries=max_retries,
    )


def _payload(messages: Sequence[ChatMessage]) -> list[ChatCompletionMessageParam]:
    """`messages` in the SDK's shape; at least one is required."""
    if not messages:
        raise ValueError("at least one message is required")
    payload: list[ChatCompletionMessageParam] = []
    for message in messages:
        if message.role == "system":
            payload.append({"role": "system", "content": message.content})
        elif message.role == "assistant":
            payload.append({"role": "assistant", "content": message.content})
        else:
            payload.append({"role": "user", "content": message.content})
    return payload


def _display_url(url: str) -> str:
    """`url` without user, password, query or fragment, which may hold secrets."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = parts.port
    except ValueError:
        return "<unparseable URL>"
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{host}:{port}" if port else host
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def _error_text(exc: APIStatusError) -> str:
    """The server's own explanation: OpenAI's ``{"error": {"message"}}``, FastAPI's
    ``{"detail"}``, or the SDK's summary."""
    body = exc.body
    if isinstance(body, dict):
        error = body.get("error", body)
        if isinstance(error, dict):
            for key in ("message", "detail"):
                if error.get(key):
                    return str(error[key])
        elif isinstance(error, str):
            return error
    return exc.message


def _is_transport_error(exc: Exception) -> bool:
    """Whether `exc` comes from the HTTP stack under the SDK (httpx / httpcore, whichever
    generation the installed SDK uses)."""
    module = type(exc).__module__
    return module.split(".", 1)[0].startswith(("httpx", "httpcore"))

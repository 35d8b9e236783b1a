"""Run hostile cases under a hard deadline and check what they leave behind."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

from connectors.base import SourceBatch, SourceDocument, SourceFailure
from connectors.errors import FileRejected

T = TypeVar("T")

# A case still running after this is a hang, whatever the parse limits say: they end any
# parse after a few seconds in these tests.
HANG_SECONDS = 30.0
# Every typed error a rejected file may end as.
TYPED_ERRORS = frozenset(cls.__name__ for cls in (FileRejected, *FileRejected.__subclasses__()))
# Names a zip slip would write; none may appear anywhere we look.
EVIL_NAMES = ("evil.xml", "evil.json", "evil.png", "evil.sh")


def bounded(function: Callable[[], T], *, seconds: float = HANG_SECONDS) -> T:
    """Return `function()`, run in a thread; fail the test if it is still running after
    `seconds` (a hang), and raise whatever it raised (a crash)."""
    outcome: dict[str, Any] = {}

    def target() -> None:
        try:
            outcome["value"] = function()
        except BaseException as exc:  # handed to the test below, whatever it is
            outcome["error"] = exc

    thread = threading.Thread(target=target, name="hostile-case", daemon=True)
    started = time.monotonic()
    thread.start()
    thread.join(seconds)
    if thread.is_alive():
        pytest.fail(f"still running after {seconds:.0f} s: a hang")
    if "error" in outcome:
        raise outcome["error"]
    assert time.monotonic() - started < seconds
    value: T = outcome["value"]
    return value


class Hang(BaseException):
    """Raised in the main thread at a deadline; a BaseException, so that no connector's
    `except Exception` can swallow it."""


@contextlib.contextmanager
def deadline(seconds: float = HANG_SECONDS) -> Iterator[None]:
    """Interrupt the block with Hang after `seconds` (SIGALRM; main thread only).

    For code that must run in the main thread, such as database work inside a test's
    transaction; `bounded` is the choice everywhere else.
    """

    def alarm(signum: int, frame: object) -> None:
        raise Hang(f"still running after {seconds:.0f} s: a hang")

    previous = signal.signal(signal.SIGALRM, alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def documents_of(batches: Iterable[SourceBatch]) -> list[SourceDocument]:
    return [document for batch in batches for document in batch.documents]


def failures_of(batches: Iterable[SourceBatch]) -> list[SourceFailure]:
    return [failure for batch in batches for failure in batch.failures]


def assert_storable(document: SourceDocument) -> None:
    """A stored document never carries what a database or a reader must not get."""
    # A mail may say everything in its subject; anything else needs a body.
    text = document.body if document.kind != "email" else document.body + document.title
    assert text.strip(), f"{document.external_id}: no text, counted as success"
    for text in (document.body, document.title, document.external_id):
        assert "\x00" not in text
        text.encode("utf-8")  # no lone surrogates
    assert "\r" not in document.title
    assert "\n" not in document.title
    assert document.created_at.utcoffset() is not None
    assert document.updated_at.utcoffset() is not None


def snapshot(root: Path, *, skip: Iterable[Path] = ()) -> dict[str, tuple[int, int, int]]:
    """Return {relative path: (mode, size, mtime_ns)} of everything under `root`."""
    skipped = {path.resolve() for path in skip}
    found: dict[str, tuple[int, int, int]] = {}
    for folder, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if (Path(folder) / d).resolve() not in skipped]
        for name in [*dirs, *files]:
            path = Path(folder) / name
            info = path.lstat()
            found[os.fsdecode(path.relative_to(root))] = (
                info.st_mode,
                info.st_size,
                info.st_mtime_ns,
            )
    return found


def evil_files(*roots: Path) -> list[Path]:
    """Return the files a zip slip would have written, in and around `roots`."""
    places = {Path("/tmp"), Path.cwd()}
    for root in roots:
        places.update({root, *list(root.parents)[:3]})
    return [place / name for place in places for name in EVIL_NAMES if (place / name).exists()]


def child_pids() -> set[int]:
    """The ids of this process's children, running or zombie (read from /proc)."""
    me = os.getpid()
    found = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue  # gone meanwhile
        # "pid (comm) state ppid ...": comm may hold spaces and parentheses.
        if int(stat.rsplit(")", 1)[1].split()[1]) == me:
            found.add(int(entry.name))
    return found


def assert_no_children(before: set[int]) -> None:
    """Every child started since `before` was taken has been reaped.

    Children of session fixtures (a Dovecot, a PostgreSQL) are in `before` and do not count.
    """
    left = child_pids() - before
    assert not left, f"children left behind: {sorted(left)}"


class Canary:
    """A loopback TCP server that records every connection: nothing may ever reach it."""

    def __init__(self) -> None:
        self._server = socket.create_server(("127.0.0.1", 0))
        self._server.settimeout(0.1)
        self.url = f"http://127.0.0.1:{self._server.getsockname()[1]}"
        self.hits: list[bytes] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="canary", daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                connection, _ = self._server.accept()
            except (TimeoutError, OSError):
                continue
            with connection:
                connection.settimeout(0.5)
                try:
                    self.hits.append(connection.recv(200) or b"(connected)")
                except OSError:
                    self.hits.append(b"(connected)")

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2)
        self._server.close()

"""read_ahead: a connector's batches come from a child process, whole, in order, or not at all
(issue 3)."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from connectors.base import SourceBatch
from connectors.errors import CorruptFile
from connectors.prefetch import FetchFailed, read_ahead
from tests import factories as f


def _numbers(count: int, *, fail_at: int | None = None) -> Iterator[SourceBatch]:
    for n in range(count):
        if n == fail_at:
            raise ValueError(f"broken at {n}")
        yield SourceBatch(cursor=str(n))


def test_read_ahead_yields_every_batch_in_order() -> None:
    assert [batch.cursor for batch in read_ahead(_numbers(50))] == [str(n) for n in range(50)]


def test_batches_cross_unchanged() -> None:
    people = (f.slack_person("U1", "Ann"),)
    containers = (f.channel("C1", "general", members=("U1",)),)
    sent = [
        f.batch(
            *(f.message("C1", "U1", f"note {b}.{n} über 🐦", minutes=n) for n in range(200)),
            people=people,
            containers=containers,
        )
        for b in range(5)
    ]
    assert list(read_ahead(iter(sent))) == sent


def test_read_ahead_raises_the_connectors_error_after_the_batches_before_it() -> None:
    batches = read_ahead(_numbers(10, fail_at=3))
    assert [next(batches).cursor for _ in range(3)] == ["0", "1", "2"]
    with pytest.raises(ValueError, match="broken at 3") as raised:
        next(batches)
    # Where it went wrong, in the connector's process, is kept with the error.
    assert "_numbers" in "\n".join(getattr(raised.value, "__notes__", []))


def test_a_typed_connector_error_keeps_its_type() -> None:
    def batches() -> Iterator[SourceBatch]:
        yield SourceBatch(cursor="0")
        raise CorruptFile("users.json is not JSON")

    with pytest.raises(CorruptFile, match=r"users\.json is not JSON"):
        list(read_ahead(batches()))


class _Unpicklable(Exception):
    def __init__(self, message: str, handle: object) -> None:
        super().__init__(message)
        self.handle = handle


def test_an_error_that_cannot_cross_is_reported_by_name_and_message() -> None:
    def batches() -> Iterator[SourceBatch]:
        yield SourceBatch(cursor="0")
        raise _Unpicklable("the socket broke", handle=lambda: None)

    with pytest.raises(FetchFailed, match="_Unpicklable: the socket broke"):
        list(read_ahead(batches()))


def test_a_connector_process_that_dies_fails_the_read_after_what_it_sent() -> None:
    def batches() -> Iterator[SourceBatch]:
        yield SourceBatch(cursor="0")
        yield SourceBatch(cursor="1")
        os.kill(os.getpid(), signal.SIGKILL)  # the out-of-memory killer, say
        yield SourceBatch(cursor="never")

    received = read_ahead(batches())
    assert [next(received).cursor, next(received).cursor] == ["0", "1"]
    with pytest.raises(FetchFailed, match=r"was killed \(SIGKILL\)"):
        next(received)


def test_leaving_early_stops_the_connector_process(tmp_path: Path) -> None:
    produced = tmp_path / "produced"

    def batches() -> Iterator[SourceBatch]:
        for n in range(100_000):
            with produced.open("a") as out:
                out.write(f"{n}\n")
            yield SourceBatch(cursor=str(n))

    before = {child.pid for child in psutil.Process().children()}
    reading = read_ahead(batches(), depth=2)
    assert next(reading).cursor == "0"
    (fetching,) = {child.pid for child in psutil.Process().children()} - before
    for batch in reading:
        if batch.cursor == "2":
            break
    reading.close()
    count = len(produced.read_text().splitlines())
    time.sleep(0.3)
    # Nothing more is read once the caller has left (the child ran ahead by `depth` batches
    # and a pipe's buffer, 64 KB: a few hundred empty batches), and the process is gone.
    assert len(produced.read_text().splitlines()) == count < 1_000
    assert not psutil.pid_exists(fetching)

"""Fetch a connector's next batches in a thread while the last one is being stored."""

from __future__ import annotations

import contextlib
import queue
import threading
from collections.abc import Iterator
from typing import Any

from connectors.base import SourceBatch


def read_ahead(batches: Iterator[SourceBatch], *, depth: int = 2) -> Iterator[SourceBatch]:
    """Yield `batches` in order while a thread fetches up to `depth` more.

    The connector parses while the database stores the batch before it (SQLite and the
    PostgreSQL driver release the GIL while they write), so a sync uses two cores. Connectors
    never touch the database, so the fetching thread needs no connection. An error in the
    connector is raised here, after the batches before it; leaving early stops the thread
    and closes the connector's generator.
    """
    handoff: queue.Queue[tuple[str, Any]] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def fetch() -> None:
        try:
            for batch in batches:
                while not stop.is_set():
                    try:
                        handoff.put(("batch", batch), timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            handoff.put(("done", None))
        except BaseException as exc:  # handed over, and raised in the caller's thread
            handoff.put(("error", exc))
        finally:
            close = getattr(batches, "close", None)
            if close is not None:
                close()

    thread = threading.Thread(target=fetch, name="connector-fetch", daemon=True)
    thread.start()
    try:
        while True:
            kind, value = handoff.get()
            if kind == "done":
                return
            if kind == "error":
                raise value
            yield value
    finally:
        stop.set()
        while thread.is_alive():  # unblock a fetch waiting on a full queue
            with contextlib.suppress(queue.Empty):
                handoff.get(timeout=0.1)
        thread.join()

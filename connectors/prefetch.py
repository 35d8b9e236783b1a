"""Fetch a connector's next batches in a thread while the last one is being stored."""

from __future__ import annotations

import contextlib
import gc
import queue
import threading
from collections.abc import Iterator
from typing import Any

from connectors.base import SourceBatch

# While a sync runs, the cyclic garbage collector runs a young collection every this many
# allocations instead of every 700. A sync allocates millions of objects that live for a batch
# (parsed documents, rows) and makes almost no cycles; at the default every few thousand
# messages trigger a full collection over everything alive, about a third of the parsing time
# (issue 3, docs/BENCHMARKS.md). Reference counting still frees everything else at once.
SYNC_GC_THRESHOLD = 100_000
_gc_lock = threading.Lock()
_gc_users = 0
_gc_saved: tuple[int, int, int] | None = None


@contextlib.contextmanager
def fewer_collections() -> Iterator[None]:
    """Raise the collector's first threshold to SYNC_GC_THRESHOLD while any sync runs."""
    global _gc_users, _gc_saved
    with _gc_lock:
        if _gc_users == 0:
            _gc_saved = gc.get_threshold()
            gc.set_threshold(max(SYNC_GC_THRESHOLD, _gc_saved[0]), *_gc_saved[1:])
        _gc_users += 1
    try:
        yield
    finally:
        with _gc_lock:
            _gc_users -= 1
            if _gc_users == 0 and _gc_saved is not None:
                gc.set_threshold(*_gc_saved)
                _gc_saved = None


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

    with fewer_collections():
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

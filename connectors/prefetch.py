"""Fetch a connector's next batches in a child process while the last one is being stored.

A sync is two kinds of work in one interpreter: parsing (the connector, pure Python) and
storing (SQLite or PostgreSQL, whose driver releases the GIL for each row it writes). In a
thread, the parser took the GIL back at every row the storing thread wrote, and the two ran
one after the other (issue 3, docs/BENCHMARKS.md). `read_ahead` forks: the child runs the
connector's `fetch` and sends each batch, pickled, through a pipe; the parent only unpickles
and stores, so a sync uses both cores.

Guarantees of `read_ahead`:
- It yields the batches `fetch` yields, equal and in order; the child reads at most `depth`
  batches and a pipe's buffer (64 KB) ahead of the caller. An exception the connector raises
  is raised in the caller after the batches before it, with its type and message (the
  child's traceback is added as a note), or as FetchFailed when it cannot cross the process
  boundary.
- The child never touches the parent's database connections (connectors never do, see
  connectors/base.py) and leaves with `os._exit`: no atexit handler, no finaliser closes
  what the parent still uses. A child that ends without finishing (killed, out of memory)
  raises FetchFailed in the caller: a sync never takes a partial read for a whole one.
- Leaving early (an error while storing, a deadline, KeyboardInterrupt) kills and reaps the
  child; a parent killed outright leaves a child that stops at its next write (the pipe is
  broken). Where `fork` does not exist, `fetch` runs in the caller's thread.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import os
import pickle
import queue
import signal
import struct
import threading
import traceback
from collections.abc import Generator, Iterator
from typing import NoReturn

from connectors.base import SourceBatch
from connectors.errors import ConnectorError
from connectors.sandbox import fork_with_pipe, kill, reap, reset_signals

logger = logging.getLogger(__name__)

# While a sync runs, the cyclic garbage collector runs a young collection every this many
# allocations instead of every 700. A sync allocates millions of objects that live for a batch
# (parsed documents, rows) and makes almost no cycles; at the default every few thousand
# messages trigger a full collection over everything alive, about a third of the parsing time
# (issue 3, docs/BENCHMARKS.md). Reference counting still frees everything else at once.
SYNC_GC_THRESHOLD = 100_000
_gc_lock = threading.Lock()
_gc_users = 0
_gc_saved: tuple[int, int, int] | None = None

# A frame on the pipe: its length, then one pickled message.
_HEADER = struct.Struct("<Q")
_READ_BYTES = 1 << 20


class FetchFailed(ConnectorError):
    """The connector's process ended without finishing, or its error could not be sent."""


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


def read_ahead(
    batches: Iterator[SourceBatch], *, depth: int = 2
) -> Generator[SourceBatch, None, None]:
    """Yield `batches` in order while a child process fetches up to `depth` more.

    `batches` must not have been started (a connector's `fetch(...)` as returned): the child
    runs it from the beginning. See the module docstring for what is guaranteed.
    """
    with fewer_collections():
        if not hasattr(os, "fork"):
            yield from batches
            return
        pid, read_fd = fork_with_pipe(lambda write_fd: _child(batches, write_fd))
        # The parent never runs the generator: closing it here releases nothing but our copy.
        close = getattr(batches, "close", None)
        if close is not None:
            close()
        frames = _FrameReader(read_fd, depth=depth)
        finished = False
        try:
            while True:
                message = frames.next()
                if message is None:
                    raise FetchFailed(_ended_early(reap(pid)))
                kind = message[0]
                if kind == "batch":
                    yield message[1]  # type: ignore[misc]
                elif kind == "done":
                    finished = True
                    return
                else:
                    raise _error_from(message)
        finally:
            if not finished:
                kill(pid)
            frames.close()
            reap(pid)


# --- the child -----------------------------------------------------------------------------


def _child(batches: Iterator[SourceBatch], fd: int) -> NoReturn:
    status = 0
    try:
        # The collector would walk every object inherited from the parent, writing to each
        # one and so copying every page (copy-on-write). Inherited objects are never garbage
        # here; only new ones are collected.
        gc.freeze()
        reset_signals()
        try:
            for batch in batches:
                _send(fd, ("batch", batch))
            _send(fd, ("done",))
        except BrokenPipeError:
            status = 1  # the parent left: nobody to tell
        except BaseException as exc:
            _send(fd, _error_message(exc))
    except BaseException:
        status = 70
    os._exit(status)


def _send(fd: int, message: tuple[object, ...]) -> None:
    data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    view = memoryview(_HEADER.pack(len(data)) + data)
    while view:
        view = view[os.write(fd, view) :]


def _error_message(exc: BaseException) -> tuple[object, ...]:
    """The message that raises `exc` in the parent, with the child's traceback as a note."""
    where = "".join(traceback.format_exception(exc)).rstrip()
    with contextlib.suppress(Exception):
        exc.add_note(f"In the connector's process:\n{where}")
    try:
        pickled = pickle.dumps(exc, protocol=pickle.HIGHEST_PROTOCOL)
        pickle.loads(pickled)  # noqa: S301 - our own exception, checked before it is sent
    except Exception:
        return ("failed", type(exc).__name__, str(exc)[:2_000], where[-4_000:])
    return ("error", pickled)


# --- the parent ----------------------------------------------------------------------------


class _FrameReader:
    """Read whole frames from the child in a thread, at most `depth` unread at a time."""

    def __init__(self, fd: int, *, depth: int) -> None:
        self._fd = fd
        self._frames: queue.Queue[bytes | None] = queue.Queue(maxsize=depth)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._read, name="connector-pipe", daemon=True)
        self._thread.start()

    def next(self) -> tuple[object, ...] | None:
        """The next message, or None when the child closed the pipe without one."""
        data = self._frames.get()
        if data is None:
            return None
        message: tuple[object, ...] = pickle.loads(data)  # noqa: S301 - our own child's
        return message

    def close(self) -> None:
        self._stop.set()
        while self._thread.is_alive():  # unblock a read waiting on a full queue
            with contextlib.suppress(queue.Empty):
                self._frames.get(timeout=0.1)
        self._thread.join()
        os.close(self._fd)

    def _read(self) -> None:
        buffer = bytearray()
        try:
            while not self._stop.is_set():
                chunk = os.read(self._fd, _READ_BYTES)
                if not chunk:
                    break
                buffer += chunk
                while len(buffer) >= _HEADER.size:
                    (size,) = _HEADER.unpack_from(buffer)
                    if len(buffer) < _HEADER.size + size:
                        break
                    with memoryview(buffer) as view:
                        frame = bytes(view[_HEADER.size : _HEADER.size + size])
                    del buffer[: _HEADER.size + size]
                    if not self._put(frame):
                        return
        except OSError:
            pass
        self._put(None)

    def _put(self, frame: bytes | None) -> bool:
        while not self._stop.is_set():
            try:
                self._frames.put(frame, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False


def _error_from(message: tuple[object, ...]) -> BaseException:
    if message[0] == "error":
        error: BaseException = pickle.loads(message[1])  # type: ignore[arg-type]  # noqa: S301
        return error
    _, name, text, where = message
    logger.error("The connector failed in its process:\n%s", where)
    return FetchFailed(f"{name}: {text}")


def _ended_early(status: int) -> str:
    if os.WIFSIGNALED(status):
        how = f"was killed ({signal.Signals(os.WTERMSIG(status)).name})"
    else:
        how = f"ended with status {os.WEXITSTATUS(status)}"
    return f"the connector's process {how} before the end of the source"

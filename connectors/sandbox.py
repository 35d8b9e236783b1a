"""Run one parser call in a child process, under wall-time, CPU and memory limits.

`run_sandboxed(parse, data, limits=...)` forks. The child lowers its own limits (address
space: what it already maps plus `limits.memory_mb`; CPU: `limits.cpu_seconds`; no core
files), closes every inherited descriptor but stdin, stdout, stderr and its result pipe,
calls `parse(data)` and sends back the pickled result or typed error. The parent waits at
most `limits.seconds` for it and kills it past that.

Guarantees:
- `run_sandboxed` returns what the function returned, or raises a FileRejected subclass:
  the function's own, or LimitExceeded ("took longer than N s", "used more than N s of CPU",
  "needed more than N MB"), or CorruptFile when the parser crashed (a signal, or an exception
  other than FileRejected, which is logged as the bug it is). OSError means no child could be
  started; the caller may try again later.
- The child is always reaped, also when the caller is interrupted (KeyboardInterrupt, a
  deadline); it never returns into the caller's code, never runs atexit handlers and never
  touches the parent's database connections or files (its copies of their descriptors are
  closed first, and it leaves with `os._exit`). A child orphaned by a killed parent stops at
  its CPU limit.
- Where `fork` does not exist the function runs in-process: only the in-process size and
  count checks of `connectors.limits` then apply.

Why a fork per file rather than a pool of workers: forking a warm process costs about 4 ms
and sends nothing over a pipe on the way in; a child that hit a limit leaves nothing behind to
repair. Only formats with known blow-ups (PDF, DOCX) and big files come here
(`connectors.limits`).

This bounds resources; it is not a security boundary against code execution inside a parser:
the child runs as the same user with a copy of the parent's memory, and its result is
unpickled by the parent.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import os
import pickle
import resource
import selectors
import signal
import time
from collections.abc import Callable
from typing import Any, NoReturn, TypeVar

from connectors.errors import CorruptFile, FileRejected, LimitExceeded
from connectors.limits import MAX_RESULT_BYTES, ParseLimits

logger = logging.getLogger(__name__)

T = TypeVar("T")

_READ_BYTES = 1 << 20
# Signals whose handlers belong to the parent (Celery's, a test harness's): in the child they
# act as they do by default, so a SIGTERM to the process group simply ends the child.
_RESET_SIGNALS = tuple(
    getattr(signal, name)
    for name in ("SIGINT", "SIGTERM", "SIGHUP", "SIGQUIT", "SIGUSR1", "SIGUSR2", "SIGALRM")
    if hasattr(signal, name)
)
# Exit status of a child that could not even report what went wrong.
_EXIT_UNREPORTED = 70


def can_sandbox() -> bool:
    """True where parsers can run in a child process (POSIX with fork)."""
    return hasattr(os, "fork")


def run_sandboxed(function: Callable[..., T], *args: Any, limits: ParseLimits) -> T:
    """Return `function(*args)` computed in a child process under `limits`.

    Raise the FileRejected the function raised, LimitExceeded when the child runs out of
    time, CPU or memory, or CorruptFile when it crashes.
    """
    if not can_sandbox():
        return function(*args)
    pid, read_fd = fork_with_pipe(lambda write_fd: _child(function, args, limits, write_fd))
    status: int | None = None
    try:
        payload, timed_out = _receive(read_fd, limits)
        if timed_out:
            kill(pid)
        status = reap(pid)
    finally:
        os.close(read_fd)
        if status is None:
            # Interrupted while waiting: never leave the child running or unreaped.
            kill(pid)
            reap(pid)
    return _outcome(payload, status, timed_out=timed_out, limits=limits)


def fork_with_pipe(child: Callable[[int], NoReturn]) -> tuple[int, int]:
    """Fork; the child calls `child(write_fd)`, which must end with `os._exit`. Return the
    child's pid and the pipe's read end (the caller closes it, and reaps the child)."""
    read_fd, write_fd = os.pipe()
    try:
        pid = os.fork()
    except OSError:
        os.close(read_fd)
        os.close(write_fd)
        raise
    if pid == 0:
        os.close(read_fd)
        child(write_fd)
    os.close(write_fd)
    return pid, read_fd


def reset_signals() -> None:
    """In a forked child: the parent's signal handlers (Celery's, a test harness's) act as
    they do by default, so a SIGTERM to the process group simply ends the child."""
    for number in _RESET_SIGNALS:
        signal.signal(number, signal.SIG_DFL)


# --- the child -----------------------------------------------------------------------------


def _child(
    function: Callable[..., Any], args: tuple[Any, ...], limits: ParseLimits, fd: int
) -> NoReturn:
    try:
        # The collector would walk every object inherited from the parent, writing to each
        # one and so copying every page (copy-on-write): that doubles the cost of a small
        # parse. Inherited objects are never garbage here; only new ones are collected.
        gc.freeze()
        reset_signals()
        os.closerange(3, fd)
        os.closerange(fd + 1, _max_fd())
        _restrict(limits)
        outcome: tuple[Any, ...]
        try:
            outcome = ("ok", function(*args))
        except FileRejected as exc:
            outcome = ("rejected", exc)
        except MemoryError:
            outcome = ("memory",)
        except BaseException as exc:
            outcome = ("error", type(exc).__name__, str(exc)[:2_000])
        try:
            data = pickle.dumps(outcome, protocol=pickle.HIGHEST_PROTOCOL)
        except MemoryError:
            data = pickle.dumps(("memory",))
        except Exception as exc:
            data = pickle.dumps(("error", type(exc).__name__, f"cannot send the result: {exc}"))
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
    except BaseException:
        os._exit(_EXIT_UNREPORTED)
    os._exit(0)


def _max_fd() -> int:
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    return soft if soft != resource.RLIM_INFINITY else 65_536


def _restrict(limits: ParseLimits) -> None:
    """Lower this process's limits; hard limits too, so nothing can raise them again."""
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    # The hard CPU limit one second later: SIGXCPU first, then SIGKILL if it is ignored.
    _lower(resource.RLIMIT_CPU, limits.cpu_seconds, limits.cpu_seconds + 1)
    mapped = _mapped_bytes()
    if mapped is not None:
        ceiling = mapped + limits.memory_bytes
        _lower(resource.RLIMIT_AS, ceiling, ceiling)


def _lower(which: int, soft: int, hard: int) -> None:
    _, current = resource.getrlimit(which)
    if current != resource.RLIM_INFINITY:
        hard = min(hard, current)
        soft = min(soft, hard)
    resource.setrlimit(which, (soft, hard))


def _mapped_bytes() -> int | None:
    """The address space this process maps now (Linux), or None where it cannot be read."""
    try:
        with open("/proc/self/statm", "rb") as handle:
            pages = int(handle.read().split()[0])
    except (OSError, ValueError, IndexError):
        return None
    return pages * os.sysconf("SC_PAGE_SIZE")


# --- the parent ----------------------------------------------------------------------------


def _receive(fd: int, limits: ParseLimits) -> tuple[bytes, bool]:
    """Read the child's whole result; return (bytes, timed out)."""
    deadline = time.monotonic() + limits.seconds
    chunks: list[bytes] = []
    received = 0
    with selectors.DefaultSelector() as selector:
        selector.register(fd, selectors.EVENT_READ)
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return b"", True
            if not selector.select(remaining):
                continue
            chunk = os.read(fd, _READ_BYTES)
            if not chunk:
                return b"".join(chunks), False
            received += len(chunk)
            if received > MAX_RESULT_BYTES:
                raise LimitExceeded(f"the parse result is over {MAX_RESULT_BYTES} bytes")
            chunks.append(chunk)


def kill(pid: int) -> None:
    """SIGKILL a child not reaped yet (a reaped pid may be another process's by now)."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)


def reap(pid: int) -> int:
    """Reap the child; its wait status, or 0 if something else reaped it first."""
    try:
        _, status = os.waitpid(pid, 0)
    except ChildProcessError:
        # A SIGCHLD handler elsewhere (a process manager's) collected it: the pipe decides.
        return 0
    return status


def _outcome(payload: bytes, status: int, *, timed_out: bool, limits: ParseLimits) -> Any:
    if timed_out:
        raise LimitExceeded(f"parsing took longer than {limits.seconds:g} s")
    if os.WIFSIGNALED(status):
        number = os.WTERMSIG(status)
        if number == signal.SIGXCPU:
            raise LimitExceeded(f"parsing used more than {limits.cpu_seconds} s of CPU")
        if number == signal.SIGKILL:
            # Not ours (we only kill on timeout): the hard CPU limit, or the kernel's OOM killer.
            raise LimitExceeded("the parser was killed: out of CPU time or memory")
        raise CorruptFile(f"the parser crashed on this file ({signal.Signals(number).name})")
    if not payload:
        code = os.WEXITSTATUS(status) if os.WIFEXITED(status) else status
        raise CorruptFile(f"the parser ended without a result (exit status {code})")
    try:
        outcome = pickle.loads(payload)  # noqa: S301 - our own child's result, see the docstring
    except Exception as exc:
        raise CorruptFile(f"the parser's result cannot be read: {exc}") from exc
    kind = outcome[0]
    if kind == "ok":
        return outcome[1]
    if kind == "rejected":
        raise outcome[1]
    if kind == "memory":
        raise LimitExceeded(f"parsing needed more than {limits.memory_mb} MB of memory")
    _, name, message = outcome
    logger.error("Parser failed in the sandbox: %s: %s", name, message)
    raise CorruptFile(f"the file cannot be parsed: {name}: {message}")

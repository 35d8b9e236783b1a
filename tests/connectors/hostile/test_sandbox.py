"""The sandbox: a parse runs in a child bounded in wall time, CPU and memory, and always ends."""

from __future__ import annotations

import ctypes
import os
import signal
import time
from pathlib import Path

import pytest

from connectors import sandbox
from connectors.errors import CorruptFile, EmptyDocument, LimitExceeded
from connectors.limits import ParseLimits
from connectors.sandbox import run_sandboxed
from tests.connectors.hostile.harness import (
    Hang,
    assert_no_children,
    bounded,
    child_pids,
    deadline,
)

LIMITS = ParseLimits(seconds=1.0, memory_mb=128)


def _spin() -> None:
    while True:
        pass


def _sleep() -> None:
    time.sleep(60)


def _allocate(megabytes: int) -> int:
    return len(bytearray(megabytes << 20))


def _reject() -> None:
    raise EmptyDocument("nothing to read")


def _bug() -> None:
    raise KeyError("a bug of ours")


def _segfault() -> None:
    ctypes.string_at(0)


def _kill_self(number: int) -> None:
    os.kill(os.getpid(), number)


def _write_to(descriptor: int) -> str:
    try:
        os.write(descriptor, b"leak")
    except OSError as exc:
        return f"refused: {exc.errno}"
    return "written"


def _core_limit() -> int:
    import resource

    return resource.getrlimit(resource.RLIMIT_CORE)[1]


def test_the_result_comes_back_whole() -> None:
    text = "é" * (5 << 20)
    assert run_sandboxed(str.upper, text, limits=LIMITS) == text.upper()


def test_a_typed_error_comes_back_as_itself() -> None:
    with pytest.raises(EmptyDocument, match="nothing to read"):
        run_sandboxed(_reject, limits=LIMITS)


def test_a_busy_loop_ends_at_the_wall_time() -> None:
    started = time.monotonic()
    with pytest.raises(LimitExceeded, match="took longer than 1 s"):
        run_sandboxed(_spin, limits=LIMITS)
    assert time.monotonic() - started < 4


def test_a_sleeping_parser_ends_at_the_wall_time() -> None:
    with pytest.raises(LimitExceeded, match="took longer than"):
        run_sandboxed(_sleep, limits=ParseLimits(seconds=0.5))


def test_cpu_time_is_capped_even_without_the_wall_clock() -> None:
    with pytest.raises(LimitExceeded, match="CPU"):
        run_sandboxed(_spin, limits=ParseLimits(seconds=30.0, cpu=1))


def test_memory_is_capped() -> None:
    with pytest.raises(LimitExceeded, match="more than 128 MB"):
        run_sandboxed(_allocate, 512, limits=LIMITS)
    assert run_sandboxed(_allocate, 64, limits=LIMITS) == 64 << 20


def test_a_crash_is_a_corrupt_file_not_a_dead_worker() -> None:
    with pytest.raises(CorruptFile, match="SIGSEGV"):
        run_sandboxed(_segfault, limits=LIMITS)
    with pytest.raises(CorruptFile, match="SIGABRT"):
        run_sandboxed(_kill_self, signal.SIGABRT, limits=LIMITS)


def test_a_kill_from_outside_is_a_limit() -> None:
    # The kernel's OOM killer, or the hard CPU limit, end a child with SIGKILL.
    with pytest.raises(LimitExceeded, match="killed"):
        run_sandboxed(_kill_self, signal.SIGKILL, limits=LIMITS)


def test_an_unexpected_exception_is_a_corrupt_file_and_is_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with pytest.raises(CorruptFile, match="KeyError"):
        run_sandboxed(_bug, limits=LIMITS)
    assert "KeyError" in caplog.text


def test_the_child_cannot_use_the_parents_descriptors(tmp_path: Path) -> None:
    with (tmp_path / "parent.log").open("wb") as handle:
        result = run_sandboxed(_write_to, handle.fileno(), limits=LIMITS)
    assert result.startswith("refused")
    assert (tmp_path / "parent.log").read_bytes() == b""


def test_the_child_writes_no_core_file() -> None:
    assert run_sandboxed(_core_limit, limits=LIMITS) == 0


def test_an_interrupted_caller_leaves_no_child_behind() -> None:
    before = child_pids()
    started = time.monotonic()
    with pytest.raises(Hang), deadline(0.5):
        run_sandboxed(_sleep, limits=ParseLimits(seconds=30.0))
    assert time.monotonic() - started < 4
    assert_no_children(before)


def test_the_function_runs_in_another_process() -> None:
    assert run_sandboxed(os.getpid, limits=LIMITS) != os.getpid()


def test_without_fork_the_function_runs_in_process(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sandbox, "can_sandbox", lambda: False)
    assert run_sandboxed(os.getpid, limits=LIMITS) == os.getpid()


def test_the_harness_reports_a_hang_as_a_failure() -> None:
    with pytest.raises(pytest.fail.Exception, match="a hang"):
        bounded(lambda: time.sleep(1), seconds=0.2)

"""A sync queued through a real broker runs to completion in a real Celery worker process."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from email.message import EmailMessage
from pathlib import Path

import pytest
import redis
from django.conf import settings as django_settings
from django.utils import timezone

from colleagues.demo.generate import generate_company
from config.celery import app as celery_app
from connectors.actions import run_sync, source_for_path
from connectors.models import STUCK_AFTER, SyncRun
from connectors.tasks import sync_due_sources, sync_source
from knowledge.models import Chunk, Item
from tests.services import live_database_url, required_env

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

PROJECT_ROOT = Path(django_settings.BASE_DIR)


@pytest.fixture
def broker_url() -> Iterator[str]:
    """Point this process's Celery app at the broker for the test, then back to eager mode."""
    url = required_env("TEST_CELERY_BROKER_URL")
    previous = (celery_app.conf.broker_url, celery_app.conf.task_always_eager)
    forget_connections()
    celery_app.conf.broker_url = url
    celery_app.conf.task_always_eager = False
    with celery_app.connection_for_write() as connection:
        connection.ensure_connection(max_retries=1)  # fails the test if the broker is down
    # Tasks, and unacknowledged tasks of killed workers, that an earlier run left behind.
    redis.Redis.from_url(url).flushdb()
    yield url
    celery_app.conf.broker_url, celery_app.conf.task_always_eager = previous
    forget_connections()


def forget_connections() -> None:
    """Drop the app's connection and producer pools, so the next task goes to the broker now
    configured: an earlier test may have built them for another URL. What Celery itself does
    in a forked child."""
    celery_app._after_fork()


@contextmanager
def worker_process(
    broker_url: str, folder: Path, *queues: str, extra_env: dict[str, str] | None = None
) -> Iterator[WorkerProcess]:
    """Run a `celery worker` on the test database, consuming `queues` (default: celery), with
    `extra_env` added to its environment."""
    folder.mkdir(parents=True, exist_ok=True)
    log = folder / "worker.log"
    env = {
        **os.environ,
        "CELERY_BROKER_URL": broker_url,
        "DATABASE_URL": live_database_url(),
        "COLLEAGUE_VAR_DIR": str(folder / "var"),
        # As in this process (tests/conftest.py): the real model adds minutes, not coverage.
        "COLLEAGUE_EMBEDDER": "hashing",
        **(extra_env or {}),
    }
    with log.open("w") as out:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "config",
                "worker",
                "--pool=solo",
                "--loglevel=INFO",
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
                f"--queues={','.join(queues or ('celery',))}",
                f"--hostname={'-'.join(queues or ('celery',))}-{os.getpid()}@%h",
            ],
            cwd=PROJECT_ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 60
        while "ready." not in log.read_text():
            assert process.poll() is None, f"worker exited:\n{log.read_text()}"
            assert time.monotonic() < deadline, f"worker did not start:\n{log.read_text()}"
            time.sleep(0.1)
        yield WorkerProcess(process=process, log=log)
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@dataclass
class WorkerProcess:
    process: subprocess.Popen[bytes]
    log: Path


@pytest.fixture
def worker(broker_url: str, tmp_path: Path) -> Iterator[Path]:
    """A `celery worker` process on the test database; yields the path of its log."""
    with worker_process(broker_url, tmp_path / "worker") as running:
        yield running.log


def write_mail(folder: Path, count: int) -> None:
    folder.mkdir()
    for n in range(count):
        message = EmailMessage()
        message["From"] = "Ann Lee <ann@acme.test>"
        message["To"] = "bob@acme.test"
        message["Subject"] = f"Runbook step {n}"
        message["Message-ID"] = f"<step-{n}@acme.test>"
        message["Date"] = "Tue, 04 Mar 2025 10:00:00 +0000"
        message.set_content(f"Step {n}: drain the node before patching the kernel.")
        (folder / f"{n}.eml").write_bytes(bytes(message))


def test_sync_queued_through_broker_completes_in_worker(worker: Path, tmp_path: Path) -> None:
    mail = tmp_path / "mail"
    write_mail(mail, 5)
    source = source_for_path(mail, kind="email")
    result = sync_source.delay(source.pk)
    deadline = time.monotonic() + 60
    while not SyncRun.objects.filter(source=source, status__in=["succeeded", "failed"]).exists():
        assert time.monotonic() < deadline, f"no finished run:\n{worker.read_text()}"
        time.sleep(0.2)
    run = SyncRun.objects.get(source=source)
    assert run.status == SyncRun.Status.SUCCEEDED, run.error
    assert run.items_created == 5
    assert Item.objects.filter(source=source).count() == 5
    # The task ran in the worker process, not in this one.
    deadline = time.monotonic() + 10
    while f"Task connectors.tasks.sync_source[{result.id}] succeeded" not in worker.read_text():
        assert time.monotonic() < deadline, worker.read_text()
        time.sleep(0.2)


KILL_TRIALS = 20


def wait_for(condition: Callable[[], bool], what: str, log: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}:\n{log.read_text()}"
        time.sleep(0.02)


def test_a_worker_killed_mid_sync_loses_and_duplicates_nothing(
    broker_url: str, tmp_path: Path
) -> None:
    """SIGKILL a worker at a random point of a ~1,000-message Slack ingest, 20 times; the
    resumed sync must end with exactly the items and chunks of an uninterrupted one."""
    export = generate_company(tmp_path / "demo", scale=0.45).slack_export
    reference = source_for_path(export, name="reference")
    started = time.monotonic()
    run_sync(source=reference)
    duration = time.monotonic() - started
    expected = set(Item.objects.filter(source=reference).values_list("external_id", flat=True))
    expected_chunks = Chunk.objects.filter(item__source=reference).count()
    assert len(expected) > 900
    rng = random.Random(2026)
    killed_mid_run = 0
    with worker_process(broker_url, tmp_path / "resumer") as resumer:
        for trial in range(KILL_TRIALS):
            source = source_for_path(export, name=f"trial {trial}")
            with worker_process(broker_url, tmp_path / f"victim-{trial}", "victim") as victim:
                sync_source.apply_async(args=[source.pk], queue="victim")
                wait_for(lambda: source.runs.exists(), "the run to start", victim.log)  # noqa: B023
                time.sleep(rng.uniform(0, duration))
                victim.process.kill()
                victim.process.wait()
            if source.runs.filter(status=SyncRun.Status.RUNNING).exists():
                killed_mid_run += 1
            # Half an hour later, the scheduler finds the run silent and resumes the source.
            source.runs.filter(status=SyncRun.Status.RUNNING).update(
                heartbeat_at=timezone.now() - STUCK_AFTER - timedelta(minutes=1)
            )
            sync_due_sources()
            wait_for(
                lambda: source.runs.filter(status=SyncRun.Status.SUCCEEDED).exists(),  # noqa: B023
                "the resumed run",
                resumer.log,
            )
            stored = list(Item.objects.filter(source=source).values_list("external_id", flat=True))
            assert len(stored) == len(set(stored)), f"trial {trial}: duplicated items"
            assert set(stored) == expected, f"trial {trial}: lost {len(expected - set(stored))}"
            chunks = Chunk.objects.filter(item__source=source).count()
            assert chunks == expected_chunks, f"trial {trial}: {chunks} chunks"
    print(f"{killed_mid_run} of {KILL_TRIALS} kills landed mid-run")
    # Most kills must land mid-run, or the test proves little.
    assert killed_mid_run >= KILL_TRIALS // 2, f"only {killed_mid_run} kills landed mid-run"

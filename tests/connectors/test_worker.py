"""A sync queued through a real broker runs to completion in a real Celery worker process."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path

import pytest
from django.conf import settings as django_settings

from config.celery import app as celery_app
from connectors.actions import source_for_path
from connectors.models import SyncRun
from connectors.tasks import sync_source
from knowledge.models import Item
from tests.services import live_database_url, required_env

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

PROJECT_ROOT = Path(django_settings.BASE_DIR)


@pytest.fixture
def broker_url() -> Iterator[str]:
    """Point this process's Celery app at the broker for the test, then back to eager mode."""
    url = required_env("TEST_CELERY_BROKER_URL")
    previous = (celery_app.conf.broker_url, celery_app.conf.task_always_eager)
    celery_app.conf.broker_url = url
    celery_app.conf.task_always_eager = False
    with celery_app.connection_for_write() as connection:
        connection.ensure_connection(max_retries=1)  # fails the test if the broker is down
    celery_app.control.purge()  # tasks a crashed earlier run left behind
    yield url
    celery_app.conf.broker_url, celery_app.conf.task_always_eager = previous
    celery_app.pool.force_close_all()


@pytest.fixture
def worker(broker_url: str, tmp_path: Path) -> Iterator[Path]:
    """A `celery worker` process on the test database; yields the path of its log."""
    log = tmp_path / "worker.log"
    env = {
        **os.environ,
        "CELERY_BROKER_URL": broker_url,
        "DATABASE_URL": live_database_url(),
        "COLLEAGUE_VAR_DIR": str(tmp_path / "var"),
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
            time.sleep(0.2)
        yield log
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()


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

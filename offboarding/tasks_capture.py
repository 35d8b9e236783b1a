"""Celery entry point of offboarding captures: takes a run's id and calls the action.

Kept apart from offboarding/tasks.py (reminders and the rest of the case's background work).
`offboarding.apps` imports it, so a worker knows the task without autodiscovery.
"""

from __future__ import annotations

import logging

from celery import shared_task

from offboarding.models import CaptureRun

logger = logging.getLogger(__name__)


@shared_task(acks_late=True)
def run_capture_task(run_id: int) -> str | None:
    """Run one queued capture; return its final state, or None when there is nothing to run.

    A run redelivered after its worker died (still "running") starts again from the
    beginning: storing is idempotent. A failure is recorded on the run, never raised.
    """
    from offboarding.capture import run_capture

    run = CaptureRun.objects.filter(pk=run_id).first()
    if run is None or run.state not in (CaptureRun.State.QUEUED, CaptureRun.State.RUNNING):
        logger.info("Capture run %s is gone or finished; nothing to do", run_id)
        return None
    return run_capture(run).state

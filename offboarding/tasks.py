"""Celery entry points for offboarding: they call offboarding.notifications."""

from __future__ import annotations

from celery import shared_task


@shared_task(acks_late=True)
def remind_overdue_steps() -> int:
    """Remind (and from the second time escalate) overdue checklist steps; daily from beat.
    Return how many steps were reminded. Safe to run twice a day: a step is reminded once."""
    from offboarding.notifications import remind_overdue

    return remind_overdue()

"""Celery entry points for skill packages: they take ids and call skills.actions."""

from __future__ import annotations

import logging
import threading

from celery import shared_task
from django.conf import settings
from django.db import connections, transaction

from colleagues.models import Colleague
from skills.actions import (
    BuildRefused,
    build_package,
    build_packages,
    colleagues_with_new_material,
)
from skills.models import SkillVersion

logger = logging.getLogger(__name__)


@shared_task(acks_late=True)
def build_skill_package(colleague_id: int, user_id: int | None = None) -> int | None:
    """Build one colleague's package now; return the new version's number."""
    from django.contrib.auth import get_user_model

    colleague = Colleague.objects.filter(pk=colleague_id).first()
    if colleague is None:
        return None
    user = get_user_model().objects.filter(pk=user_id).first() if user_id else None
    try:
        return build_package(colleague, user=user).number
    except BuildRefused as exc:
        logger.info("Not built: %s", exc)
        return None


@shared_task(acks_late=True)
def rebuild_stale_packages() -> dict[str, int]:
    """Rebuild the packages of colleagues with material newer than their package (beat)."""
    stale = colleagues_with_new_material()
    outcomes = build_packages(stale, reason=SkillVersion.Reason.NEW_MATERIAL)
    failed = [o for o in outcomes if o.version is None]
    for outcome in failed:
        logger.warning("Skill package of %s failed: %s", outcome.colleague, outcome.error)
    return {"built": len(outcomes) - len(failed), "failed": len(failed)}


def queue_rebuild() -> None:
    """Rebuild the stale packages in the background, after the current transaction commits:
    on a worker, or without a broker (the embedded default) on a thread of this process, so
    a request that asks for it returns at once and the overview page follows the progress."""
    if settings.CELERY_TASK_ALWAYS_EAGER:
        transaction.on_commit(
            lambda: threading.Thread(
                target=_rebuild_here, name="skill-rebuild", daemon=True
            ).start()
        )
    else:
        transaction.on_commit(rebuild_stale_packages.delay)


def _rebuild_here() -> None:
    try:
        rebuild_stale_packages()
    except Exception:
        logger.exception("Rebuilding the skill packages failed")
    finally:
        connections.close_all()

"""The directory sync finding an account disabled (or gone) opens an offboarding case."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.dispatch import receiver
from django.utils import timezone

from colleagues.models import Colleague
from connectors.directory.signals import colleague_departed
from offboarding.models import OffboardingCase

logger = logging.getLogger(__name__)


@receiver(colleague_departed, dispatch_uid="offboarding.open_on_departure")
def open_case_on_departure(sender: Any, colleague: Colleague, reason: str, **kwargs: Any) -> None:
    """Open a case (unless one is open), the last day being the day the account went, the
    accounts' removal OFFBOARDING_ACCOUNT_REMOVAL_DAYS later. Runs in the sync's transaction."""
    from offboarding.cases import open_case, open_case_of

    if open_case_of(colleague) is not None:
        return
    last_day = colleague.departed_on or timezone.localdate()
    days = settings.OFFBOARDING_ACCOUNT_REMOVAL_DAYS
    case = open_case(
        colleague,
        last_day=last_day,
        account_removal_on=last_day + timedelta(days=days),
        via=OffboardingCase.Trigger.DIRECTORY,
    )
    logger.info("Offboarding case %s opened for colleague %s (%s)", case.pk, colleague.pk, reason)

from typing import Any

from django.apps import AppConfig
from django.db.models.signals import post_migrate


def _ensure_default_checklist(**kwargs: Any) -> None:
    from offboarding.cases import ensure_default_checklist

    ensure_default_checklist(using=kwargs.get("using", "default"))


class OffboardingConfig(AppConfig):
    name = "offboarding"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # After every migrate (and a test database's flush): a checklist template exists.
        post_migrate.connect(
            _ensure_default_checklist, sender=self, dispatch_uid="offboarding.default_checklist"
        )
        # The directory sync finding an account disabled opens a case (offboarding.receivers).
        # Celery's autodiscovery finds only offboarding.tasks; workers need this one too.
        from offboarding import (
            receivers,  # noqa: F401
            tasks_capture,  # noqa: F401
        )

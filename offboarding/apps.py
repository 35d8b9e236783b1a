from django.apps import AppConfig


class OffboardingConfig(AppConfig):
    name = "offboarding"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # The directory sync finding an account disabled opens a case (offboarding.receivers).
        # Celery's autodiscovery finds only offboarding.tasks; workers need this one too.
        from offboarding import (
            receivers,  # noqa: F401
            tasks_capture,  # noqa: F401
        )

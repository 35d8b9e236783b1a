from typing import Any

from django.apps import AppConfig
from django.db.models.signals import post_migrate


def _ensure_roles(**kwargs: Any) -> None:
    from colleagues.roles import ensure_roles

    ensure_roles(using=kwargs.get("using", "default"))


class ColleaguesConfig(AppConfig):
    name = "colleagues"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # After every migrate (and the test database's creation): the role groups exist with
        # exactly their permissions. Django creates permissions in its own post_migrate
        # handler, connected before this one (django.contrib.auth comes first in INSTALLED_APPS).
        post_migrate.connect(_ensure_roles, sender=self, dispatch_uid="colleagues.ensure_roles")

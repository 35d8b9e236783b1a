from django.apps import AppConfig
from django.db.backends.signals import connection_created


class KnowledgeConfig(AppConfig):
    name = "knowledge"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from knowledge.index.cjk import register_sqlite_function

        # The CJK keyword index's triggers call it on every write of a chunk's text.
        connection_created.connect(register_sqlite_function, dispatch_uid="colleague_cjk")

from django.apps import AppConfig


class ColleaguesConfig(AppConfig):
    name = "colleagues"
    default_auto_field = "django.db.models.BigAutoField"

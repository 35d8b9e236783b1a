from django.apps import AppConfig


class SlackCommandConfig(AppConfig):
    name = "slack_command"
    default_auto_field = "django.db.models.BigAutoField"
    verbose_name = "Slack slash command"

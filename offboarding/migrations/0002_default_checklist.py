"""The default checklist template (HR edits it on the offboarding templates page)."""

from django.db import migrations

# (step, title, responsible, relative to, offset in days, position)
DEFAULT_STEPS = [
    ("connect_sources", "Connect and scope the sources", "hr", "last_day", -14, 1),
    ("exit_interview", "Exit interview on the gaps in their package", "hr", "last_day", -7, 2),
    ("successors", "Name successors per area and system", "manager", "last_day", -5, 3),
    ("capture", "Capture this person's data", "hr", "account_removal", -3, 4),
    ("review", "Manager review and redaction", "manager", "account_removal", -1, 5),
    ("publish", "Publish with an access policy", "hr", "account_removal", 7, 6),
    ("set_retention", "Set retention", "hr", "account_removal", 14, 7),
]


def create_defaults(apps, schema_editor):  # type: ignore[no-untyped-def]
    step_model = apps.get_model("offboarding", "ChecklistTemplateStep")
    for step, title, responsible, relative_to, offset, position in DEFAULT_STEPS:
        step_model.objects.get_or_create(
            step=step,
            defaults={
                "title": title,
                "responsible": responsible,
                "relative_to": relative_to,
                "offset_days": offset,
                "position": position,
            },
        )


class Migration(migrations.Migration):
    dependencies = [("offboarding", "0001_initial")]

    operations = [migrations.RunPython(create_defaults, migrations.RunPython.noop)]

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("connectors", "0003_quarantinedfile_copy"),
    ]

    operations = [
        migrations.AddField(
            model_name="syncrun",
            name="exclusions",
            field=models.JSONField(blank=True, default=dict),
        ),
    ]

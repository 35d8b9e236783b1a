from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("knowledge", "0012_erasure"),
    ]

    operations = [
        migrations.AddIndex(
            model_name="item",
            index=models.Index(fields=["source", "thread_key"], name="item_source_thread"),
        ),
    ]

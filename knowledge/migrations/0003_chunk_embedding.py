"""Chunk vectors: int8 embedding with its scale, the embedder's name and dimension, when stored."""

from django.db import migrations, models

# Added with plain SQL: Django's SQLite schema editor would rebuild the table for a NOT NULL
# column with a default, dropping the FTS5 triggers of 0002_keyword_index. ADD COLUMN with a
# constant default is a cheap, metadata-only change on both SQLite and PostgreSQL 11+.
ADD_EMBEDDER = "ALTER TABLE knowledge_chunk ADD COLUMN embedder varchar(100) DEFAULT '' NOT NULL"
DROP_EMBEDDER = "ALTER TABLE knowledge_chunk DROP COLUMN embedder"


class Migration(migrations.Migration):
    dependencies = [("knowledge", "0002_keyword_index")]

    operations = [
        migrations.AddField(
            model_name="chunk",
            name="dimension",
            field=models.PositiveIntegerField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="chunk",
            name="embedded_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.SeparateDatabaseAndState(
            database_operations=[migrations.RunSQL(ADD_EMBEDDER, DROP_EMBEDDER)],
            state_operations=[
                migrations.AddField(
                    model_name="chunk",
                    name="embedder",
                    field=models.CharField(blank=True, db_default="", max_length=100),
                ),
            ],
        ),
        migrations.AddField(
            model_name="chunk",
            name="embedding",
            field=models.BinaryField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="chunk",
            name="embedding_scale",
            field=models.FloatField(blank=True, null=True),
        ),
        migrations.AddIndex(
            model_name="chunk",
            index=models.Index(fields=["embedded_at"], name="chunk_embedded_at"),
        ),
        migrations.AddIndex(
            model_name="chunk",
            index=models.Index(
                condition=models.Q(("embedding__isnull", True)), fields=["id"], name="chunk_pending"
            ),
        ),
    ]

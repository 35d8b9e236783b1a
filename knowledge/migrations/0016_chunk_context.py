"""Chunk.context: the headings a document chunk stands under, an email's subject.

Added with plain SQL (SeparateDatabaseAndState): a NOT NULL column with a default is
something both SQLite and PostgreSQL add in place, where Django's AddField would rebuild the
chunk table on SQLite, dropping the keyword index's triggers and copying every row. Chunks
stored before it have no context until they are stored again.
"""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("knowledge", "0015_no_redundant_fk_indexes"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[
                migrations.RunSQL(
                    """ALTER TABLE "knowledge_chunk" ADD COLUMN "context" text NOT NULL DEFAULT ''""",
                    reverse_sql='ALTER TABLE "knowledge_chunk" DROP COLUMN "context"',
                ),
            ],
            state_operations=[
                migrations.AddField(
                    model_name="chunk",
                    name="context",
                    field=models.TextField(blank=True, db_default=""),
                ),
            ],
        ),
    ]

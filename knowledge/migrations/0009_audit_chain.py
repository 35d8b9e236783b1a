"""The audit trail becomes a hash chain (knowledge/audit_chain.py): result, client IP and
request id on every event, its position (`seq`), its hash and the previous event's, and the
chain's head in a table of its own. Events written before are chained in the order they were
written (by id), as they stand when this migration runs."""

import django.utils.timezone
from django.conf import settings
from django.db import migrations, models

from knowledge.audit_chain import FIELDS, GENESIS, event_hash, normalized_detail


def chain_existing_events(apps, schema_editor):  # type: ignore[no-untyped-def]
    AuditEvent = apps.get_model("knowledge", "AuditEvent")
    AuditChainHead = apps.get_model("knowledge", "AuditChainHead")
    db = schema_editor.connection.alias
    previous = GENESIS
    seq = 0
    batch = []
    for event in AuditEvent.objects.using(db).order_by("id").iterator(chunk_size=2000):
        seq += 1
        event.seq = seq
        event.prev_hash = previous
        event.detail = normalized_detail(event.detail or {})
        event.hash = event_hash(**{name: getattr(event, name) for name in FIELDS})
        previous = event.hash
        batch.append(event)
        if len(batch) >= 2000:
            AuditEvent.objects.using(db).bulk_update(batch, ["seq", "prev_hash", "hash", "detail"])
            batch = []
    AuditEvent.objects.using(db).bulk_update(batch, ["seq", "prev_hash", "hash", "detail"])
    if seq:
        AuditChainHead.objects.using(db).create(id=1, seq=seq, hash=previous)


class Migration(migrations.Migration):
    dependencies = [
        ("knowledge", "0008_redacted_document"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AlterField(
            model_name="auditevent",
            name="actor",
            field=models.ForeignKey(
                blank=True,
                db_constraint=False,
                null=True,
                on_delete=models.DO_NOTHING,
                related_name="+",
                to=settings.AUTH_USER_MODEL,
            ),
        ),
        migrations.AlterField(
            model_name="auditevent",
            name="at",
            field=models.DateTimeField(db_index=True, default=django.utils.timezone.now),
        ),
        migrations.AddField(
            model_name="auditevent",
            name="result",
            field=models.CharField(
                choices=[("ok", "OK"), ("denied", "Denied"), ("failed", "Failed")],
                default="ok",
                max_length=8,
            ),
        ),
        migrations.AddField(
            model_name="auditevent",
            name="ip",
            field=models.CharField(blank=True, default="", max_length=45),
            preserve_default=False,
        ),
        migrations.AddField(
            model_name="auditevent",
            name="request_id",
            field=models.CharField(blank=True, default="", max_length=64),
            preserve_default=False,
        ),
        migrations.AddField(
            model_name="auditevent",
            name="prev_hash",
            field=models.CharField(default="", max_length=64),
            preserve_default=False,
        ),
        migrations.AddField(
            model_name="auditevent",
            name="hash",
            field=models.CharField(default="", max_length=64),
            preserve_default=False,
        ),
        migrations.AddField(
            model_name="auditevent",
            name="seq",
            field=models.PositiveBigIntegerField(null=True),
        ),
        migrations.CreateModel(
            name="AuditChainHead",
            fields=[
                (
                    "id",
                    models.PositiveSmallIntegerField(default=1, primary_key=True, serialize=False),
                ),
                ("seq", models.PositiveBigIntegerField()),
                ("hash", models.CharField(max_length=64)),
            ],
            options={
                "constraints": [
                    models.CheckConstraint(condition=models.Q(("id", 1)), name="audit_head_single")
                ],
            },
        ),
        migrations.RunPython(chain_existing_events, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="auditevent",
            name="seq",
            field=models.PositiveBigIntegerField(unique=True),
        ),
        migrations.AlterModelOptions(name="auditevent", options={"ordering": ["-seq"]}),
    ]

"""On PostgreSQL, the audit tables refuse to be rewritten (README "Audit trail and reports").

Triggers raise on UPDATE, DELETE and TRUNCATE of `knowledge_auditevent`, and on anything but
moving the head forward in `knowledge_auditchainhead`, for every role, the table owner
included. The grants in the README keep the application's role from even trying.

Maintenance (emptying a test database, a documented purge by a DBA) is possible only for the
tables' owner or a superuser, inside a transaction that first runs
`SET LOCAL colleague.audit_maintenance = 'on'`. Emptying an empty table is allowed, so that
`TRUNCATE` of every table (Django's `flush`) works once the audit tables were emptied that way.
Nothing here runs on SQLite.
"""

from django.db import migrations

FORWARD = r"""
CREATE OR REPLACE FUNCTION colleague_audit_maintenance(relation oid) RETURNS boolean
LANGUAGE sql STABLE AS $$
    SELECT coalesce(current_setting('colleague.audit_maintenance', true), '') = 'on'
       AND pg_has_role(current_user, (SELECT relowner FROM pg_class WHERE oid = relation), 'USAGE')
$$;

CREATE OR REPLACE FUNCTION colleague_audit_guard() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    has_rows boolean;
BEGIN
    IF colleague_audit_maintenance(TG_RELID) THEN
        IF TG_OP = 'DELETE' THEN RETURN OLD; END IF;
        RETURN NEW;
    END IF;
    IF TG_OP = 'TRUNCATE' THEN
        EXECUTE format('SELECT EXISTS (SELECT 1 FROM %I.%I)', TG_TABLE_SCHEMA, TG_TABLE_NAME)
            INTO has_rows;
        IF NOT has_rows THEN
            RETURN NULL;
        END IF;
    ELSIF TG_OP = 'UPDATE' AND TG_TABLE_NAME = 'knowledge_auditchainhead' THEN
        -- The head only moves forward, one append at a time.
        IF NEW.id = OLD.id AND NEW.seq > OLD.seq THEN
            RETURN NEW;
        END IF;
    END IF;
    RAISE EXCEPTION 'the audit trail is append-only: % on % refused', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege',
              HINT = 'See README, "Audit trail and reports", for the maintenance path.';
END
$$;

CREATE TRIGGER knowledge_auditevent_append_only
    BEFORE UPDATE OR DELETE ON knowledge_auditevent
    FOR EACH ROW EXECUTE FUNCTION colleague_audit_guard();
CREATE TRIGGER knowledge_auditevent_no_truncate
    BEFORE TRUNCATE ON knowledge_auditevent
    FOR EACH STATEMENT EXECUTE FUNCTION colleague_audit_guard();
CREATE TRIGGER knowledge_auditchainhead_forward_only
    BEFORE UPDATE OR DELETE ON knowledge_auditchainhead
    FOR EACH ROW EXECUTE FUNCTION colleague_audit_guard();
CREATE TRIGGER knowledge_auditchainhead_no_truncate
    BEFORE TRUNCATE ON knowledge_auditchainhead
    FOR EACH STATEMENT EXECUTE FUNCTION colleague_audit_guard();
"""

BACKWARD = """
DROP TRIGGER IF EXISTS knowledge_auditevent_append_only ON knowledge_auditevent;
DROP TRIGGER IF EXISTS knowledge_auditevent_no_truncate ON knowledge_auditevent;
DROP TRIGGER IF EXISTS knowledge_auditchainhead_forward_only ON knowledge_auditchainhead;
DROP TRIGGER IF EXISTS knowledge_auditchainhead_no_truncate ON knowledge_auditchainhead;
DROP FUNCTION IF EXISTS colleague_audit_guard();
DROP FUNCTION IF EXISTS colleague_audit_maintenance(oid);
"""


def _run(sql: str):  # type: ignore[no-untyped-def]
    def run(apps, schema_editor):  # type: ignore[no-untyped-def]
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute(sql, params=None)

    return run


class Migration(migrations.Migration):
    dependencies = [("knowledge", "0010_retention")]

    operations = [migrations.RunPython(_run(FORWARD), _run(BACKWARD))]

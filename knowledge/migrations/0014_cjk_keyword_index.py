"""Keyword index for Chinese, Japanese and Korean text: character bigrams of CJK runs.

The English index (0002) is left as it is. Beside it:

- SQLite: a contentless FTS5 table ``knowledge_chunk_cjk`` (rowid = chunk id) holding
  ``colleague_cjk_bigrams(text)`` (knowledge.text.index_bigrams: each CJK run's overlapping
  character pairs and its last character) of each chunk whose text holds CJK, kept by
  triggers. The function is registered on every connection (knowledge/apps.py); a
  connection without it cannot write chunks holding CJK (text without CJK never calls it).
- PostgreSQL: the SQL function ``colleague_cjk_bigrams`` (the same rule; tests hold the two
  equal), a ``search_cjk`` tsvector ('simple') kept by a trigger, NULL for text without CJK
  (a regular expression decides, before any bigram is made), and a partial GIN index on it.

Existing chunks are indexed in batches of ids, only those holding CJK written, with a progress
line on stderr every batch for tables of more than one batch.
"""

import sys

from django.db import migrations

BATCH = 20_000
# knowledge.text.CJK_CLASS, spelled for both databases' regular expressions.
CJK_CLASS = (
    "\u3005\u3007\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff"
    "\U00020000-\U0002fa1f"
)

# Only chunks whose text holds CJK have a row. Before the bigram function (in Python) is
# called, SQL finds a CJK character: text as long in bytes as in characters is ASCII, then GLOB
# (C). English text costs no Python call and no GLOB scan (bench/cjk_index.py). Text the test
# passes always has bigrams (tests/knowledge/test_text.py holds it equal to has_cjk).
CJK_GLOB = f"'*[{CJK_CLASS}]*'"
_HAS_CJK = (
    f"(length(CAST({{row}}.text AS BLOB)) != length({{row}}.text) AND {{row}}.text GLOB {CJK_GLOB})"
)
_ADD = f"""INSERT INTO knowledge_chunk_cjk(rowid, bigrams)
        SELECT {{row}}.id, colleague_cjk_bigrams({{row}}.text) WHERE {_HAS_CJK}"""
_REMOVE = f"""INSERT INTO knowledge_chunk_cjk(knowledge_chunk_cjk, rowid, bigrams)
        SELECT 'delete', {{row}}.id, colleague_cjk_bigrams({{row}}.text) WHERE {_HAS_CJK}"""
SQLITE_FORWARD = [
    """CREATE VIRTUAL TABLE knowledge_chunk_cjk USING fts5(
        bigrams, content='', tokenize='unicode61 remove_diacritics 0')""",
    # One trigger per event, statements in order: SQLite fires several triggers of one event
    # in an order of its own, and a contentless table must see the old row go before the new.
    # WHEN: a row without CJK runs no statement at all.
    f"""CREATE TRIGGER knowledge_chunk_cjk_insert AFTER INSERT ON knowledge_chunk
        WHEN {_HAS_CJK.format(row="new")} BEGIN
        {_ADD.format(row="new")};
    END""",
    f"""CREATE TRIGGER knowledge_chunk_cjk_delete AFTER DELETE ON knowledge_chunk
        WHEN {_HAS_CJK.format(row="old")} BEGIN
        {_REMOVE.format(row="old")};
    END""",
    f"""CREATE TRIGGER knowledge_chunk_cjk_update AFTER UPDATE OF text ON knowledge_chunk BEGIN
        {_REMOVE.format(row="old")};
        {_ADD.format(row="new")};
    END""",
]
SQLITE_BACKWARD = [
    "DROP TRIGGER IF EXISTS knowledge_chunk_cjk_update",
    "DROP TRIGGER IF EXISTS knowledge_chunk_cjk_delete",
    "DROP TRIGGER IF EXISTS knowledge_chunk_cjk_insert",
    "DROP TABLE IF EXISTS knowledge_chunk_cjk",
]
SQLITE_FILL = f"""INSERT INTO knowledge_chunk_cjk(rowid, bigrams)
    SELECT id, colleague_cjk_bigrams(text) FROM knowledge_chunk
    WHERE id > %s AND id <= %s AND {_HAS_CJK.format(row="knowledge_chunk")}"""  # noqa: S608

POSTGRES_FORWARD = [
    # Overlapping pairs of each CJK run and its last character; a run of one character alone.
    # Constant SQL: CJK_CLASS is this file's own.
    f"""CREATE OR REPLACE FUNCTION colleague_cjk_bigrams(value text) RETURNS text
        LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
        SELECT coalesce(string_agg(
            CASE WHEN length(m.run[1]) = 1 THEN m.run[1] ELSE (
                SELECT string_agg(substr(m.run[1], i, 2), ' ' ORDER BY i)
                FROM generate_series(1, length(m.run[1]) - 1) AS i
            ) || ' ' || right(m.run[1], 1) END, ' ' ORDER BY m.n), '')
        FROM regexp_matches(value, '[{CJK_CLASS}]+', 'g') WITH ORDINALITY AS m(run, n)
        $$""",  # noqa: S608
    """CREATE OR REPLACE FUNCTION colleague_cjk_tsvector(value text) RETURNS tsvector
        LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
        SELECT CASE WHEN b = '' THEN NULL ELSE to_tsvector('simple', b) END
        FROM colleague_cjk_bigrams(value) AS b
        $$""",
    "ALTER TABLE knowledge_chunk ADD COLUMN search_cjk tsvector",
    f"""CREATE FUNCTION knowledge_chunk_cjk_keep() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            -- The regular expression alone for text without CJK (most text): no bigrams.
            IF NEW.text ~ '[{CJK_CLASS}]' THEN
                NEW.search_cjk := colleague_cjk_tsvector(NEW.text);
            ELSE
                NEW.search_cjk := NULL;
            END IF;
            RETURN NEW;
        END $$""",
    # Inserts: the function runs only for text with CJK, found in C: ASCII text (as many bytes
    # as characters) is not even scanned by the regular expression.
    f"""CREATE TRIGGER knowledge_chunk_cjk_insert BEFORE INSERT ON knowledge_chunk
        FOR EACH ROW WHEN (
            octet_length(NEW.text) <> char_length(NEW.text) AND NEW.text ~ '[{CJK_CLASS}]'
        )
        EXECUTE FUNCTION knowledge_chunk_cjk_keep()""",
    # Edits: always, so that text losing its CJK loses its bigrams.
    """CREATE TRIGGER knowledge_chunk_cjk_update BEFORE UPDATE OF text ON knowledge_chunk
        FOR EACH ROW EXECUTE FUNCTION knowledge_chunk_cjk_keep()""",
]
POSTGRES_INDEX = (
    "CREATE INDEX knowledge_chunk_search_cjk ON knowledge_chunk USING GIN (search_cjk)"
    " WHERE search_cjk IS NOT NULL"
)
POSTGRES_BACKWARD = [
    "DROP TRIGGER IF EXISTS knowledge_chunk_cjk_update ON knowledge_chunk",
    "DROP TRIGGER IF EXISTS knowledge_chunk_cjk_insert ON knowledge_chunk",
    "DROP FUNCTION IF EXISTS knowledge_chunk_cjk_keep()",
    "DROP INDEX IF EXISTS knowledge_chunk_search_cjk",
    "ALTER TABLE knowledge_chunk DROP COLUMN IF EXISTS search_cjk",
    "DROP FUNCTION IF EXISTS colleague_cjk_tsvector(text)",
    "DROP FUNCTION IF EXISTS colleague_cjk_bigrams(text)",
]
POSTGRES_FILL = f"""UPDATE knowledge_chunk SET search_cjk = colleague_cjk_tsvector(text)
    WHERE id > %s AND id <= %s AND text ~ '[{CJK_CLASS}]'"""  # noqa: S608 (constant)


def _fill(schema_editor, statement, batch=BATCH):
    """Index the existing chunks holding CJK, `batch` ids at a time, with progress."""
    with schema_editor.connection.cursor() as cursor:
        cursor.execute("SELECT min(id), max(id), count(*) FROM knowledge_chunk")
        low, high, total = cursor.fetchone()
        if not total:
            return
        loud = total > batch
        start = low - 1
        while start < high:
            end = start + batch
            cursor.execute(statement, [start, end])
            start = end
            if loud:
                done = min(end, high) - low + 1
                sys.stderr.write(
                    f"  CJK keyword index: chunk ids {done:,} of {high - low + 1:,}"
                    f" ({100 * done // (high - low + 1)}%)\n"
                )


def forward(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "sqlite":
        for statement in SQLITE_FORWARD:
            schema_editor.execute(statement)
        _fill(schema_editor, SQLITE_FILL)
    elif vendor == "postgresql":
        for statement in POSTGRES_FORWARD:
            schema_editor.execute(statement)
        _fill(schema_editor, POSTGRES_FILL)
        schema_editor.execute(POSTGRES_INDEX)


def backward(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    statements = {"sqlite": SQLITE_BACKWARD, "postgresql": POSTGRES_BACKWARD}.get(vendor, [])
    for statement in statements:
        schema_editor.execute(statement)


class Migration(migrations.Migration):
    dependencies = [("knowledge", "0013_item_source_thread")]

    operations = [migrations.RunPython(forward, backward)]

"""The CJK side of the keyword index: character bigrams of CJK runs (knowledge.text).

SQLite keeps them in the contentless FTS5 table ``knowledge_chunk_cjk`` (rowid = chunk id,
one row per chunk whose text holds CJK), filled by triggers that call the registered function
``colleague_cjk_bigrams`` (= knowledge.text.index_bigrams). PostgreSQL keeps them in the
generated, GIN-indexed ``knowledge_chunk.search_cjk`` tsvector ('simple' configuration over
the SQL function of the same name). Both: knowledge/migrations/0014_cjk_keyword_index.py.
The English index (porter / 'english') is left as it was; a query's Latin-script words still
go there alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from knowledge.text import cjk_matches, has_cjk, index_bigrams

SQL_FUNCTION = "colleague_cjk_bigrams"


def register_sqlite_function(sender: Any, connection: Any, **kwargs: Any) -> None:
    """connection_created receiver: give SQLite connections the bigram function the index's
    triggers call."""
    if connection.vendor == "sqlite":
        connection.connection.create_function(SQL_FUNCTION, 1, index_bigrams, deterministic=True)


def split_terms(terms: Sequence[str]) -> tuple[list[str], list[str]]:
    """Query terms (knowledge.search.query_terms) as (Latin-script ones, CJK ones)."""
    latin = [t for t in terms if not has_cjk(t)]
    cjk = [t for t in terms if has_cjk(t)]
    return latin, cjk


def fts5_query(terms: Sequence[str]) -> str:
    """An FTS5 MATCH expression over knowledge_chunk_cjk finding any of the CJK `terms`.

    Tokens are CJK characters only, quoted, so nothing in it is FTS5 syntax."""
    parts = []
    for term in terms:
        for match in cjk_matches(term):
            phrase = '"' + " ".join(match.tokens) + '"'
            parts.append(phrase + " *" if match.prefix else phrase)
    return " OR ".join(parts)


def tsquery_text(terms: Sequence[str]) -> str:
    """A to_tsquery('simple', ...) text over search_cjk finding any of the CJK `terms`.

    Tokens are CJK characters only, so no operator can come from the query."""
    parts = []
    for term in terms:
        for match in cjk_matches(term):
            if match.prefix:
                parts.append(f"{match.tokens[0]}:*")
            else:
                parts.append("(" + " <-> ".join(match.tokens) + ")")
    return " | ".join(parts)

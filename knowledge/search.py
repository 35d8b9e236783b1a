"""Search over what a reader may see: the hit type, query words and the contract's JSON.

`search_items` is the entry point of every surface (command, page, REST); it runs hybrid
retrieval (knowledge/retrieval.py: BM25 + vectors fused by reciprocal rank), with visibility
inside each backend query, so hidden chunks never take a top-k slot.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from colleagues.models import Colleague
from knowledge.index.base import Filters
from knowledge.models import Item
from knowledge.selectors import STOPWORDS
from knowledge.text import CJK_STOPWORDS, has_cjk, query_words
from knowledge.visibility import Reader

# Around each matched word in an excerpt; the UI turns them into <mark>, JSON drops them.
MARK_START = "\ue000"
MARK_END = "\ue001"
MAX_QUERY_TERMS = 32


@dataclass(frozen=True)
class SearchHit:
    item: Item
    score: float
    excerpt: str  # with MARK_START / MARK_END around matches
    matched: tuple[str, ...] = ()  # "keyword", "vector": the sides that found it
    chunk_id: int | None = None  # the chunk the excerpt is from

    @property
    def plain_excerpt(self) -> str:
        return self.excerpt.replace(MARK_START, "").replace(MARK_END, "")

    @property
    def by_meaning_only(self) -> bool:
        """Found by the vector side alone: related in meaning, not sharing the words."""
        return self.matched == ("vector",)


def query_terms(query: str) -> list[str]:
    """The distinct words of a query worth matching, in order.

    Latin-script words as `\\w+` finds them; CJK runs cut at grammar characters
    (knowledge.text.query_words), which the index backends look up by their bigrams
    (`has_cjk(term)` tells them apart). Stop words are left out unless nothing else is left.
    """
    seen: dict[str, None] = {}
    every = query_words(query)
    for token in every:
        if token in STOPWORDS or not token.strip("_"):
            continue
        if has_cjk(token) and token in CJK_STOPWORDS:
            continue
        seen.setdefault(token, None)
    terms = list(seen) or list(dict.fromkeys(every))
    return terms[:MAX_QUERY_TERMS]


def search_items(
    *,
    reader: Reader,
    query: str,
    colleague: Colleague | None = None,
    limit: int = 20,
    offset: int = 0,
    mode: str = "hybrid",
    filters: Filters | None = None,
    recency: bool = False,
) -> list[SearchHit]:
    """Items matching `query` that `reader` may see, best first, one hit per item.

    Hybrid (keyword + vector, knowledge.retrieval) unless `mode` says otherwise; `colleague`
    narrows to what that person wrote, on top of `filters`.
    """
    from knowledge.retrieval import retrieve

    filters = filters or Filters()
    if colleague is not None:
        filters = replace(filters, colleague_id=colleague.pk)
    return retrieve(
        reader, query, filters=filters, limit=limit, offset=offset, mode=mode, recency=recency
    ).hits


def hit_as_json(hit: SearchHit) -> dict[str, object]:
    """A hit in the command-line contract's shape (docs/ARCHITECTURE.md)."""
    item = hit.item
    colleague = item.author.colleague if item.author is not None else None
    return {
        "item_id": item.pk,
        "colleague": colleague.email or None if colleague is not None else None,
        "excerpt": hit.plain_excerpt,
        "score": round(hit.score, 6),
        "source": item.source.name,
        "created_at": item.created_at.isoformat(),
        "url": item.url or None,
    }

"""Reads of captured knowledge, always within the reader's visibility."""

from __future__ import annotations

import json
import math
import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

from django.db import connection
from django.db.models import Count, Q, QuerySet
from django.db.models.expressions import RawSQL
from django.http import Http404

from colleagues.models import Colleague
from knowledge.models import Chunk, Item
from knowledge.text import content_bigrams, has_cjk, script_pieces
from knowledge.visibility import Reader, visible_items_condition


def items_visible_to(reader: Reader) -> QuerySet[Item]:
    """Items `reader` may see, with what listing them needs already joined."""
    items = Item.objects.select_related("author__colleague", "source", "container")
    if reader.unrestricted:
        return items
    return items.filter(visible_items_condition(reader))


def visible_items_among(reader: Reader, item_ids: Iterable[int]) -> QuerySet[Item]:
    """The items among `item_ids` that `reader` may see (`items_visible_to`), any number of
    ids in one query.

    The ids are one SQL parameter (a JSON array on SQLite, an array on PostgreSQL), read
    first: listed one by one, a few hundred ids lead SQLite to read every item of the
    reader's audiences and probe each against the list (40 ms for 540 ids at a million
    items, against 2 ms driven by the ids)."""
    listed = sorted({int(i) for i in item_ids})
    if connection.vendor == "postgresql":
        ids = RawSQL("SELECT unnest(%s::bigint[])", (listed,))
    else:
        ids = RawSQL("SELECT value FROM json_each(%s)", (json.dumps(listed),))
    return items_visible_to(reader).filter(pk__in=ids)


def chunks_visible_to(reader: Reader) -> QuerySet[Chunk]:
    """Chunks `reader` may see (by the chunk's own audience column, or its item's author)."""
    if reader.unrestricted:
        return Chunk.objects.all()
    return Chunk.objects.filter(visible_items_condition(reader, item="item__"))


def items_by(reader: Reader, colleague: Colleague) -> QuerySet[Item]:
    """Items authored by any identity of `colleague` that `reader` may see, newest first."""
    return items_visible_to(reader).filter(author__colleague=colleague)


def access_item(reader: Reader, item_id: int) -> Item:
    """Return the item if `reader` may see it; raise Http404 otherwise (absent or hidden)."""
    item = items_visible_to(reader).filter(pk=item_id).first()
    if item is None:
        raise Http404("No such item.")
    return item


def thread_of(reader: Reader, item: Item) -> list[Item]:
    """The visible items of `item`'s thread in order, or just `item` when it has none."""
    if not item.thread_key:
        return [item]
    return list(
        items_visible_to(reader)
        .filter(source_id=item.source_id, thread_key=item.thread_key)
        .order_by("created_at", "id")[:500]
    )


def items_in_threads(reader: Reader, threads: Iterable[tuple[int, str]]) -> QuerySet[Item]:
    """Visible items of these (source id, thread key) threads, oldest first.

    Pass a bounded batch (a few thousand keys): every key is a query parameter.
    """
    by_source: dict[int, set[str]] = {}
    for source_id, thread_key in threads:
        if thread_key:
            by_source.setdefault(source_id, set()).add(thread_key)
    if not by_source:
        return Item.objects.none()
    condition = Q()
    for source_id, keys in sorted(by_source.items()):
        condition |= Q(source_id=source_id, thread_key__in=sorted(keys))
    # The threads' ids as a subquery, inside the same visible query: SQLite reads them from
    # the covering index (source, thread_key) whatever its statistics say; given the condition
    # directly, it walked every item of the source (the source_id index) or of the reader's
    # audiences (0.3-0.65 s at 1M chunks, for a few hundred items).
    ids = Item.objects.filter(condition).order_by().values("pk")
    return items_visible_to(reader).filter(pk__in=ids).order_by("created_at", "id")


def items_in_windows(
    reader: Reader, windows: Iterable[tuple[int, datetime, datetime]]
) -> QuerySet[Item]:
    """Visible items of container `c` created between `start` and `end` (inclusive), for each
    (c, start, end) in `windows`, oldest first. Pass a bounded batch (a few hundred windows)."""
    condition = Q()
    for container_id, start, end in windows:
        condition |= Q(container_id=container_id, created_at__range=(start, end))
    if not condition:
        return Item.objects.none()
    return items_visible_to(reader).filter(condition).order_by("created_at", "id")


@dataclass(frozen=True)
class SourceCount:
    source: str
    kind: str
    items: int


def item_counts_by_source(reader: Reader, colleague: Colleague) -> list[SourceCount]:
    """How many visible items `colleague` wrote, per source."""
    rows = (
        items_by(reader, colleague)
        .order_by()
        .values("source__name", "source__kind")
        .annotate(items=Count("id"))
        .order_by("-items")
    )
    return [SourceCount(r["source__name"], r["source__kind"], r["items"]) for r in rows]


WORD = re.compile(r"[^\W\d_][\w'-]{2,}", re.UNICODE)
STOPWORDS = frozenset(
    """
    a about above after again against all also am an and any are as at be because been before
    being below between both but by can could did do does doing don't down during each few for
    from further get got had has have having he her here hers herself him himself his how i i'm
    if in into is it it's its itself just let's like me more most my myself no nor not now of
    off on once only or other our ours ourselves out over own same she should so some such than
    that that's the their theirs them themselves then there these they this those through to too
    under until up very was we we're were what when where which while who whom why will with
    would you you're your yours yourself yourselves yes ok okay thanks thank hi hey hello please
    one two also will can we'll i'll i've we've they're there's what's http https www com re fw
    fwd sent wrote subject
    """.split()
)


def tokenize(text: str) -> list[str]:
    """Lower-cased words of three letters or more, stop words left out; a CJK run gives its
    bigrams, grammar characters and question words left out (knowledge.text)."""
    if not has_cjk(text):
        return [w for w in (m.lower() for m in WORD.findall(text)) if w not in STOPWORDS]
    out: list[str] = []
    for cjk, piece in script_pieces(text):
        if cjk:
            out.extend(content_bigrams(piece))
        else:
            out.extend(w for w in (m.lower() for m in WORD.findall(piece)) if w not in STOPWORDS)
    return out


@dataclass(frozen=True)
class Term:
    term: str
    score: float
    count: int


def weighted_log_odds(
    own: Mapping[str, int],
    rest: Mapping[str, int],
    *,
    alpha0: float = 500.0,
    min_count: int = 2,
    rest_total: int | None = None,
) -> list[Term]:
    """Score each term of `own` by how much more `own` uses it than `rest` does.

    Weighted log-odds with an informative Dirichlet prior (Monroe et al., 2008): the prior is
    the pooled frequency of the term in `own` and `rest`, scaled to `alpha0` pseudo-counts; the
    score is the z-score of the log-odds ratio. Terms counted fewer than `min_count` times in
    `own` are left out. `rest_total` is the sum of all of `rest`'s counts, when `rest` holds only
    the terms of `own`. Sorted by score, highest first, ties by term.
    """
    n_own = sum(own.values())
    n_rest = sum(rest.values()) if rest_total is None else rest_total
    n_all = n_own + n_rest
    if not n_own:
        return []
    scores: list[Term] = []
    for term, count in own.items():
        if count < min_count:
            continue
        other = rest.get(term, 0)
        alpha = alpha0 * (count + other) / n_all
        own_logit = math.log((count + alpha) / (n_own + alpha0 - count - alpha))
        rest_logit = math.log((other + alpha) / max(n_rest + alpha0 - other - alpha, 1e-9))
        variance = 1.0 / (count + alpha) + 1.0 / (other + alpha)
        scores.append(Term(term, (own_logit - rest_logit) / math.sqrt(variance), count))
    scores.sort(key=lambda t: (-t.score, t.term))
    return scores


def characteristic_terms(
    reader: Reader, colleague: Colleague, *, limit: int = 15, sample: int = 2000
) -> list[Term]:
    """Words `colleague` uses far more than the organisation does, from visible items only.

    `weighted_log_odds` over the colleague's most recent `sample` visible items against a
    sample of everyone's.
    """
    own_texts = items_by(reader, colleague).values_list("body", flat=True)[:sample]
    own = Counter(t for body in own_texts for t in tokenize(body))
    if not own:
        return []
    background_texts = items_visible_to(reader).values_list("body", flat=True)[: sample * 3]
    background = Counter(t for body in background_texts for t in tokenize(body))
    return weighted_log_odds(own, background)[:limit]

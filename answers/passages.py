"""Passages: what someone wrote, read through the visibility selectors, with where and when.

Every read here goes through `knowledge.selectors` (or `knowledge.retrieval`, which does), so a
passage is always one the reader may see. A passage's text is its author's own words: quoted
lines are left out (`skills.analysis.corpus.own_words`; mail is stored with its quote already
split off).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from answers.matching import is_greeting, segments, stems_of
from knowledge.models import Container, Item
from knowledge.search import SearchHit
from knowledge.selectors import chunks_visible_to, items_in_threads
from knowledge.visibility import Reader
from skills.analysis.corpus import own_words

#: Characters of an item read as one passage when no chunk says which part matched.
MAX_PASSAGE_CHARS = 4000
#: Threads read per query (each key is a query parameter).
MAX_THREADS = 200

ThreadKey = tuple[int, str]


@dataclass(frozen=True)
class Passage:
    """A visible piece of one item, in its author's own words.

    `stems` are the terms of all of it; `said` those of what it states (questions and
    greetings left out), which is what may answer a question.
    """

    item: Item
    text: str
    stems: frozenset[str]
    said: frozenset[str]

    @property
    def item_id(self) -> int:
        return self.item.pk

    @property
    def colleague_id(self) -> int | None:
        author = self.item.author
        return author.colleague_id if author is not None else None

    @property
    def thread(self) -> ThreadKey | None:
        return thread_of(self.item)

    @property
    def created_at(self) -> datetime:
        return self.item.created_at


def passage(item: Item, text: str | None = None) -> Passage:
    """`item` (or the chunk of it in `text`) as a passage of its author's own words.

    A chunk starts with its item's title (knowledge.actions), which is left out of the text: a
    reply's subject ("Re: …") was written by someone else. A document's title still counts
    for its terms.
    """
    raw = item.body[:MAX_PASSAGE_CHARS] if text is None else text
    if item.title and raw.startswith(item.title):
        raw = raw[len(item.title) :]
    own = own_words(raw, item.kind)
    titled = stems_of(item.title) if item.kind == Item.Kind.DOCUMENT else frozenset()
    return Passage(item=item, text=own, stems=stems_of(own) | titled, said=statements(own) | titled)


def statements(text: str) -> frozenset[str]:
    """The terms of what `text` states: its sentences that neither ask nor greet."""
    said = [s for s in segments(text) if not s.endswith(("?", "？")) and not is_greeting(s)]
    return stems_of(" ".join(said))


def thread_of(item: Item) -> ThreadKey | None:
    return (item.source_id, item.thread_key) if item.thread_key else None


def from_hits(reader: Reader, hits: Sequence[SearchHit]) -> list[Passage]:
    """The passage each hit found: its best chunk, read within `reader`'s visibility."""
    chunk_ids = [h.chunk_id for h in hits if h.chunk_id is not None]
    texts = dict(chunks_visible_to(reader).filter(id__in=chunk_ids).values_list("id", "text"))
    out = []
    for hit in hits:
        text = texts.get(hit.chunk_id) if hit.chunk_id is not None else None
        out.append(passage(hit.item, text))
    return out


def threads(reader: Reader, keys: Iterable[ThreadKey]) -> dict[ThreadKey, list[Item]]:
    """The visible items of each thread, oldest first: the first MAX_THREADS distinct keys
    (pass them best first)."""
    wanted = list(dict.fromkeys(keys))[:MAX_THREADS]
    out: dict[ThreadKey, list[Item]] = {key: [] for key in wanted}
    if not wanted:
        return out
    for item in items_in_threads(reader, wanted):
        key = thread_of(item)
        if key in out:
            out[key].append(item)
    return out


def author_name(item: Item) -> str:
    """Who wrote `item`: their colleague's name, else the name the source gave."""
    author = item.author
    if author is None:
        return "someone"
    if author.colleague is not None:
        return author.colleague.name
    return author.display_name or author.value


def day(moment: datetime) -> str:
    """A date as people write it: "1 Jan 2026" (UTC)."""
    return f"{moment.day} {moment:%b %Y}"


def where(item: Item) -> str:
    """Where `item` was written, as the end of "… wrote <where>": "in #payments"."""
    container = item.container
    if item.kind == Item.Kind.EMAIL:
        return f"by mail (“{item.title}”)" if item.title else "by mail"
    if item.kind == Item.Kind.DOCUMENT:
        return f"in the document “{item.title}”" if item.title else "in a document"
    if container is None:
        return f"in {item.source.name}"
    if container.kind in (Container.Kind.CHANNEL, Container.Kind.PRIVATE_CHANNEL):
        return f"in #{container.name}"
    if container.kind == Container.Kind.DM:
        return "in a direct message"
    if container.kind == Container.Kind.MPIM:
        return "in a group message"
    return f"in {container.name}"

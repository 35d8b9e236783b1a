"""Who knows: colleagues ranked by how well what they wrote answers a question.

`who_knows(reader, question)` ranks colleagues, current and departed, on five signals, every
one computed from what `reader` may see (retrieval, the visibility selectors and packages
as `skills.selectors.package_view` shows them to the reader, see `answers.packages`), so the
ranking itself reveals nothing hidden from them:

- **wrote**: their passages among the best retrieved for the question (hybrid retrieval over
  everything the reader may see), each passing the relevance floor (`answers.matching`),
  weighted by retrieval's fused score and by how much of the question it holds;
- **volume**: how many of their items are among the question's nearest by meaning, over
  everything the reader may see: the VOLUME_DEPTH chunks the index's vector side finds,
  those at least VOLUME_FLOOR times as similar as the nearest, counted (a vote each:
  the same on every database; the keyword matches while no vector is stored). Counted only
  when someone wrote on the subject in the question's words (a passage of the pool passes
  the relevance floor): the nearest items to a subject nobody wrote about are only the
  least far. The 150-item pool of `wrote` is a sample; this counts;
- **answered**: their replies in threads whose message matches the question (someone asked,
  they answered), weighted the same way by that message;
- **package**: their skill package names the question's subject — a system they are the
  go-to for, a term of their expertise, or an FAQ entry whose question matches;
- **recency**: how recent their evidence is, next to the newest evidence for the question.

score = (W_WROTE · wrote + W_VOLUME · volume + W_ANSWERED · answered + W_PACKAGE · package) ·
(1 - W_RECENCY + W_RECENCY · recency), where wrote, volume and answered are shares of the best
colleague's, package is from 0 to 1 and recency is 2^(-age / RECENCY_HALF_LIFE_DAYS): scores
run from 0 to 1 and are comparable within one question only. Everyone listed has evidence:
items they wrote that the reader may see (for someone found by `volume` alone, their best
matching items). A departed expert comes with `successors`: current colleagues ranked the
same way for the question, plus how closely they worked with the expert on it (the
collaborators of the expert's package, as the reader sees it). Ties break by name, then id,
so the order is deterministic.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from answers import passages as P
from answers.matching import Query, answers_something, parse_query, similar, stems_of, words
from answers.matching import excerpt as excerpt_of
from answers.packages import named, package_matches, work_seen
from answers.passages import Passage, ThreadKey
from colleagues.models import Colleague
from knowledge.index import get_index, scope_for
from knowledge.index.base import Filters
from knowledge.retrieval import retrieve, vector_side
from knowledge.selectors import visible_items_among
from knowledge.visibility import Reader

logger = logging.getLogger(__name__)

#: Items retrieved for the question, everyone's.
POOL_DEPTH = 150
#: Chunks of the vector side (or, without vectors, the keyword side) read for `volume`.
VOLUME_DEPTH = 2000
#: Of those, the ones counted: at least this share of the nearest one's similarity. Chosen on
#: the tune half of enron-berkeley with the demo's expectations (docs/BENCHMARKS.md): 0.3
#: ranked the tune half higher but at the grid's edge, where the count drifts towards
#: everything each person wrote, and cost a demo system's owner with either embedder.
VOLUME_FLOOR = 0.5
#: Evidence items listed per colleague; successors listed per departed expert.
EVIDENCE_PER_EXPERT = 3
SUCCESSORS = 3
EXCERPT_CHARS = 240

# Chosen on the `tune` half of enron-berkeley's topics (bench/who_knows_quality.py;
# docs/BENCHMARKS.md) under the demo company's expectations on SQLite and PostgreSQL
# (tests/answers/test_who_knows.py: a system's owner first, whoever answered a question first).
# `wrote`, `package` and recency weigh 0 there: each lowered the ranking of the tune half (a
# 150-item sample of fused scores, one generic expertise word, and the newest evidence are
# weaker signs of knowing than how much someone wrote on it). They still find evidence and are
# reported in `signals`. `answered` outweighs `volume`: someone who answered the very question
# asked knows it better than someone who often used its words.
W_WROTE = 0.0
W_VOLUME = 0.4
W_ANSWERED = 0.6
W_PACKAGE = 0.0
W_RECENCY = 0.0
W_WORKED_WITH = 0.3
RECENCY_HALF_LIFE_DAYS = 365.0


@dataclass(frozen=True)
class ExpertEvidence:
    item_id: int
    excerpt: str

    def as_json(self) -> dict[str, Any]:
        return {"item_id": self.item_id, "excerpt": self.excerpt}


@dataclass(frozen=True)
class Signals:
    """The parts of a score, each from 0 to 1 (see the module docstring)."""

    wrote: float
    answered: float
    package: float
    recency: float
    worked_with: float = 0.0  # a successor's closeness to the departed expert
    volume: float = 0.0

    def as_json(self) -> dict[str, float]:
        return {
            "wrote": round(self.wrote, 4),
            "answered": round(self.answered, 4),
            "package": round(self.package, 4),
            "recency": round(self.recency, 4),
            "worked_with": round(self.worked_with, 4),
            "volume": round(self.volume, 4),
        }


@dataclass(frozen=True)
class Expert:
    """A colleague who knows, with the evidence the reader may see; a departed one with the
    current colleagues who know the same (`successors`, best first)."""

    colleague: Colleague
    score: float
    evidence: tuple[ExpertEvidence, ...]
    signals: Signals
    successors: tuple[Expert, ...] = ()

    def as_json(self, *, nested: bool = False) -> dict[str, Any]:
        """One row of the `who_knows` command's JSON. `slug`, `signals` and (except in a
        successor's row) `successors` are additions to the contract."""
        c = self.colleague
        row: dict[str, Any] = {
            "colleague": {"email": c.email, "name": c.name, "status": c.status, "slug": c.slug},
            "score": round(self.score, 4),
            "evidence": [e.as_json() for e in self.evidence],
            "signals": self.signals.as_json(),
        }
        if not nested:
            row["successors"] = [s.as_json(nested=True) for s in self.successors]
        return row


def results_json(experts: Iterable[Expert]) -> dict[str, Any]:
    """The `who_knows` command's JSON (docs/ARCHITECTURE.md, command line contract)."""
    return {"results": [e.as_json() for e in experts]}


@dataclass
class _Tally:
    colleague_id: int
    wrote: float = 0.0
    answered: float = 0.0
    package: float = 0.0
    volume: float = 0.0
    # (-rank, item id) of their items among the matches `volume` counts (best first when
    # sorted by the first value, descending), to cite when they have no other evidence
    matched: list[tuple[float, int]] = field(default_factory=list)
    last: datetime | None = None
    # (weight, item id, excerpt, terms) of each piece of evidence
    evidence: list[tuple[float, int, str, frozenset[str]]] = field(default_factory=list)

    def cite(self, weight: float, item_id: int, excerpt: str, terms: frozenset[str]) -> None:
        self.evidence.append((weight, item_id, excerpt, terms))

    def seen(self, moment: datetime) -> None:
        if self.last is None or moment > self.last:
            self.last = moment


def who_knows(reader: Reader, question: str, *, limit: int = 5) -> list[Expert]:
    """The `limit` colleagues who best know the answer to `question`, best first, as
    `reader` may see it (see the module docstring). Raises ValueError for a blank question
    or a limit below 1."""
    if not question.strip():
        raise ValueError("the question is empty")
    if limit < 1:
        raise ValueError("limit must be at least 1")
    query = parse_query(question)
    if not query.terms:
        return []
    tallies: dict[int, _Tally] = {}

    def tally(colleague_id: int) -> _Tally:
        found = tallies.get(colleague_id)
        if found is None:
            found = tallies[colleague_id] = _Tally(colleague_id)
        return found

    pool = retrieve(reader, question, limit=POOL_DEPTH, excerpts=False)
    found = P.from_hits(reader, pool.hits)
    asked: dict[ThreadKey, list[tuple[float, Passage]]] = {}
    on_subject = False  # someone wrote on it: the question's words, enough of them
    for hit, p in zip(pool.hits, found, strict=True):
        relevant = query.relevant(p.said)
        on_subject = on_subject or relevant
        if p.colleague_id is not None and relevant:
            weight = hit.score * query.coverage(p.said)
            t = tally(p.colleague_id)
            t.wrote += weight
            t.seen(p.created_at)
            t.cite(weight, p.item_id, excerpt_of(p.text, query, max_chars=EXCERPT_CHARS), p.said)
        if p.thread is not None and query.relevant(p.stems):
            asked.setdefault(p.thread, []).append((hit.score * query.coverage(p.stems), p))
    _count_answers(P.threads(reader, asked), asked, query, tally)
    matches = package_matches(reader, query)
    cited = visible_items_among(reader, {i for m in matches for _, i in m.evidence}).in_bulk()
    for match in matches:
        t = tally(match.colleague_id)
        t.package = match.score
        for weight, item_id in match.evidence:
            if (item := cited.get(item_id)) is not None:
                p = P.passage(item)
                if not p.said:
                    continue  # only asks: no evidence of knowing
                t.seen(p.created_at)
                t.cite(weight, item_id, excerpt_of(p.text, query, max_chars=EXCERPT_CHARS), p.said)
    if on_subject:  # else the nearest items by meaning are only the least far
        _count_volume(reader, query, tally)
    ranked = _ranked(list(tallies.values()))
    return [
        _with_successors(reader, query, e, ranked) if e.colleague.is_departed else e
        for e in _with_evidence(reader, query, ranked, limit)
    ]


def _count_answers(
    threads: dict[ThreadKey, list[Any]],
    asked: dict[ThreadKey, list[tuple[float, Passage]]],
    query: Query,
    tally: Callable[[int], _Tally],
) -> None:
    """Credit whoever answered a matching message that asks something: the first reply
    after it, by someone else, that says something (`answers_something`: not a thank-you).
    Each reply answers every matching message still open before it; it is credited with the
    weight of the best of them, and a person once per thread."""
    for key, items in threads.items():
        matches = {p.item_id: (w, p) for w, p in asked.get(key, [])}
        open_: list[tuple[float, int | None]] = []  # (weight, asker's colleague id)
        credited: set[int] = set()
        for item in items:
            author = item.author
            colleague_id = author.colleague_id if author is not None else None
            answered = [o for o in open_ if o[1] is None or o[1] != colleague_id]
            if colleague_id is not None and answered:
                reply = P.passage(item)
                if answers_something(reply.text):
                    open_ = [o for o in open_ if o[1] == colleague_id]
                    if colleague_id not in credited:
                        credited.add(colleague_id)
                        weight = max(o[0] for o in answered)
                        t = tally(colleague_id)
                        t.answered += weight
                        t.seen(item.created_at)
                        text = excerpt_of(reply.text, query, max_chars=EXCERPT_CHARS)
                        t.cite(weight, item.pk, text, reply.said)
            if item.pk in matches and "?" in item.body:  # it asks something
                open_.append((matches[item.pk][0], colleague_id))


def _count_volume(reader: Reader, query: Query, tally: Callable[[int], _Tally]) -> None:
    """Count, for everyone, their items among the question's best matches, an item once
    however many of its chunks match (see `_volume_matches`). Every item is read through
    `items_visible_to`, so nothing hidden counts; the matches' order only picks each
    person's best items to cite."""
    rank: dict[int, int] = {}
    for n, item_id in enumerate(_volume_matches(reader, query)):
        rank.setdefault(item_id, n)
    rows = (
        visible_items_among(reader, rank)
        .filter(author__colleague__isnull=False)
        .values_list("pk", "author__colleague_id", "created_at")
    )
    for item_id, colleague_id, created_at in rows:
        t = tally(colleague_id)
        t.volume += 1.0
        t.matched.append((-rank[item_id], item_id))
        t.seen(created_at)


def _volume_matches(reader: Reader, query: Query) -> list[int]:
    """The item ids of the chunks `volume` counts, best first, all inside the reader's scope:
    of the VOLUME_DEPTH chunks nearest the question by meaning (the index's vector side),
    those at least VOLUME_FLOOR times as similar as the nearest, and similar at all (a
    positive cosine). Meaning finds what is written about a subject in other words; the
    floor keeps a small organisation's count from becoming everything each person wrote.
    Without vectors (the embedder fails, none is stored yet) the VOLUME_DEPTH best keyword
    matches of the question's words, as retrieval falls back to keywords."""
    scope = scope_for(reader)
    try:
        hits = vector_side(query.text, scope=scope, filters=Filters(), limit=VOLUME_DEPTH)
    except Exception as exc:  # the vector side degrades, never fails a question
        logger.warning("who_knows counts keyword matches: %s: %s", type(exc).__name__, exc)
        hits = []
    if hits:
        floor = VOLUME_FLOOR * hits[0].score  # hits are best first
        return [h.item_id for h in hits if h.score > 0 and h.score >= floor]
    text = " ".join(dict.fromkeys(words(query.text)))
    if not text:
        return []
    hits = get_index().keyword_search(text, scope=scope, filters=Filters(), limit=VOLUME_DEPTH)
    return [h.item_id for h in hits]


# Ranking.


@dataclass(frozen=True)
class _Ranked:
    """A colleague's standing for a question, before their row is read: a question tallies
    hundreds of colleagues at a large organisation, and only those shown are loaded."""

    colleague_id: int
    name: str
    departed: bool
    score: float
    signals: Signals
    evidence: tuple[ExpertEvidence, ...]
    # their items among the counted matches (`_Tally.matched`), to cite when `evidence` is empty
    matched: list[tuple[float, int]]

    def expert(self, colleague: Colleague) -> Expert:
        return Expert(colleague, self.score, self.evidence, self.signals)


def _ranked(tallies: list[_Tally]) -> list[_Ranked]:
    """Everyone with evidence or a score above 0, best first (see the module docstring for the
    score; ties by name, then id)."""
    if not tallies:
        return []
    people = {
        pk: (name, status == Colleague.Status.DEPARTED)
        for pk, name, status in Colleague.objects.filter(
            pk__in=[t.colleague_id for t in tallies]
        ).values_list("pk", "name", "status")
    }
    top_wrote = max(t.wrote for t in tallies)
    top_answered = max(t.answered for t in tallies)
    top_volume = max(t.volume for t in tallies)
    newest = max((t.last for t in tallies if t.last is not None), default=None)
    ranked = []
    for t in tallies:
        if t.colleague_id not in people:
            continue
        age = (
            (newest - t.last).total_seconds() / 86400
            if t.last is not None and newest is not None
            else math.inf
        )
        signals = Signals(
            wrote=t.wrote / top_wrote if top_wrote > 0 else 0.0,
            answered=t.answered / top_answered if top_answered > 0 else 0.0,
            package=t.package,
            recency=0.5 ** (age / RECENCY_HALF_LIFE_DAYS),
            volume=t.volume / top_volume if top_volume > 0 else 0.0,
        )
        score = (
            W_WROTE * signals.wrote
            + W_VOLUME * signals.volume
            + W_ANSWERED * signals.answered
            + W_PACKAGE * signals.package
        ) * (1 - W_RECENCY + W_RECENCY * signals.recency)
        if score <= 0 and not t.evidence:
            continue
        name, departed = people[t.colleague_id]
        ranked.append(
            _Ranked(t.colleague_id, name, departed, score, signals, _best_evidence(t), t.matched)
        )
    ranked.sort(key=lambda r: (-r.score, r.name, r.colleague_id))
    return ranked


def _with_evidence(reader: Reader, query: Query, ranked: list[_Ranked], limit: int) -> list[Expert]:
    """The first `limit` ranked with evidence: someone found by `volume` alone is cited by
    their best matching items (what they state, not only asks); without any, they are left
    out. Items are read through `items_visible_to`, and colleagues loaded, for the first
    `limit` such people at a time."""
    out: list[Expert] = []
    start = 0
    while start < len(ranked) and len(out) < limit:
        batch = ranked[start : start + limit - len(out)]
        start += len(batch)
        best = {
            r.colleague_id: sorted(r.matched, key=lambda m: (-m[0], m[1]))[:EVIDENCE_PER_EXPERT]
            for r in batch
            if not r.evidence
        }
        items = visible_items_among(reader, [i for m in best.values() for _, i in m]).in_bulk()
        colleagues = Colleague.objects.in_bulk([r.colleague_id for r in batch])
        for r in batch:
            if (colleague := colleagues.get(r.colleague_id)) is None:
                continue
            if r.evidence:
                out.append(r.expert(colleague))
                continue
            cited = []
            for _, item_id in best[r.colleague_id]:
                if (item := items.get(item_id)) is not None and (p := P.passage(item)).said:
                    cited.append(
                        ExpertEvidence(item_id, excerpt_of(p.text, query, max_chars=EXCERPT_CHARS))
                    )
            if cited:
                out.append(replace(r.expert(colleague), evidence=tuple(cited)))
    return out


def _with_successors(reader: Reader, query: Query, expert: Expert, ranked: list[_Ranked]) -> Expert:
    """`expert` (departed) with the current colleagues who know the same: ranked by their
    own score for the question plus W_WORKED_WITH times how closely they worked with the
    expert on it (`worked_with`, from the collaborators of the expert's package as the reader
    sees it), best first. Someone found only as a collaborator is shown with what they wrote
    on the question, if anything."""
    departed = expert.colleague
    seen = work_seen(reader, departed.pk, ["collaborators"]).get("collaborators", [])
    worked = _worked_with(query, seen)
    known = {r.colleague_id: r for r in ranked}
    strangers = Colleague.objects.in_bulk([c for c in worked if c not in known])
    for colleague_id, colleague in strangers.items():
        known[colleague_id] = _Ranked(
            colleague_id,
            colleague.name,
            colleague.is_departed,
            0.0,
            Signals(0.0, 0.0, 0.0, 0.0),
            (),
            [],
        )
    rows: list[_Ranked] = []
    for current in known.values():
        if current.departed or current.colleague_id == departed.pk:
            continue
        closeness = worked.get(current.colleague_id, 0.0)
        score = current.score + W_WORKED_WITH * closeness
        if score > 0:
            signals = replace(current.signals, worked_with=closeness)
            rows.append(replace(current, score=score, signals=signals))
    rows.sort(key=lambda r: (-r.score, r.name, r.colleague_id))
    chosen = rows[:SUCCESSORS]
    unread = [r.colleague_id for r in chosen if r.colleague_id not in strangers]
    colleagues = {**strangers, **Colleague.objects.in_bulk(unread)}
    successors = []
    for r in chosen:
        e = r.expert(colleagues[r.colleague_id])
        successors.append(
            e if e.evidence else replace(e, evidence=_own_evidence(reader, query, e.colleague))
        )
    return replace(expert, successors=tuple(successors))


def _worked_with(query: Query, collaborators: list[dict[str, Any]]) -> dict[int, float]:
    """Colleague id -> how closely each of a package's `collaborators` worked with its
    colleague on the question: their collaborator score as a share of the top one's, halved
    unless a topic they shared is named by the question."""
    rows = [
        (c["person"].get("colleague_id"), float(c.get("score", 0.0)), c.get("topics", []))
        for c in collaborators
        if isinstance(c.get("person"), dict)
    ]
    top = max((score for _, score, _ in rows), default=0.0)
    out: dict[int, float] = {}
    for colleague_id, score, topics in rows:
        if not isinstance(colleague_id, int) or top <= 0:
            continue
        on_topic = any(named(query, stems_of(str(topic))) > 0 for topic in topics)
        out[colleague_id] = score / top * (1.0 if on_topic else 0.5)
    return out


def _own_evidence(reader: Reader, query: Query, colleague: Colleague) -> tuple[ExpertEvidence, ...]:
    """What `colleague` wrote about the question (asking included), best first."""
    found = retrieve(
        reader, query.text, filters=Filters(colleague_id=colleague.pk), limit=10, excerpts=False
    )
    out: list[tuple[int, str, frozenset[str]]] = []
    for p in P.from_hits(reader, found.hits):
        if query.relevant(p.stems) and all(not similar(p.stems, s) for _, _, s in out):
            out.append((p.item_id, excerpt_of(p.text, query, max_chars=EXCERPT_CHARS), p.stems))
        if len(out) >= EVIDENCE_PER_EXPERT:
            break
    return tuple(ExpertEvidence(item_id, text) for item_id, text, _ in out)


def _best_evidence(t: _Tally) -> tuple[ExpertEvidence, ...]:
    """Their strongest evidence, one entry per item and none saying what another says."""
    kept: list[tuple[int, str, frozenset[str]]] = []
    for _weight, item_id, text, terms in sorted(t.evidence, key=lambda e: (-e[0], e[1])):
        if any(item_id == k or similar(terms, s) for k, _, s in kept):
            continue
        kept.append((item_id, text, terms))
        if len(kept) >= EVIDENCE_PER_EXPERT:
            break
    return tuple(ExpertEvidence(item_id, text) for item_id, text, _ in kept)

"""Ask a colleague: an answer in their own words, with citations, as one reader may see it.

`ask(reader, colleague, question)` gathers the evidence (`gather_evidence`) and composes the
answer from it (`answer_from`). Guarantees:

- Everything read goes through `knowledge.retrieval` / `knowledge.selectors` and the package
  as `skills.selectors.package_view` shows it to `reader` (`answers.packages.work_seen`): no
  passage, question or FAQ entry the reader may not see at the source is used, shown or
  counted.
- Only text the colleague wrote is quoted as theirs, and every citation is an item they wrote.
  A question someone else asked in the thread is shown as context, labelled with its author.
- Nothing is invented: the lead sentence and every excerpt are parts of the cited items' text
  (white space made single, "…" where text is left out); the rest is fixed wording. That is
  the extractive answer, the only one without an LLM configured. With one (LLM_BASE_URL), a
  model writes the answer from the same evidence, as data, and what it writes is checked
  (`answers.llm_mode`: mode "llm", labelled as an AI rendering, citing only the evidence
  given; refusals; the extractive answer with a note when the model fails).
- Only passages passing the relevance floor (`answers.matching`) are used; with none, the
  answer says so and cites nothing.
- Deterministic: the same data and question give the same answer (ties break on item ids).

Where evidence comes from: hybrid retrieval over the colleague's own items; the threads they
took part in whose messages match the question (the question asked in a thread often carries
the words of the query while the reply does not); and their skill package's FAQ, whose
matching entries point at the answer they wrote.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from answers import passages as P
from answers.matching import (
    Query,
    answers_something,
    lead,
    name_terms,
    parse_query,
    similar,
    stems_of,
)
from answers.matching import (
    excerpt as excerpt_of,
)
from answers.packages import work_seen
from answers.passages import Passage, ThreadKey
from colleagues.models import Colleague
from knowledge.index.base import Filters
from knowledge.llm import ChatMessage, llm_from_settings
from knowledge.models import Item
from knowledge.retrieval import retrieve
from knowledge.selectors import visible_items_among
from knowledge.visibility import Reader

if TYPE_CHECKING:
    from answers.llm_mode import AnswerStream

EXTRACTIVE = "extractive"
LLM = "llm"

#: Items of the colleague's own retrieved, and of everyone's (for the threads they joined).
OWN_DEPTH = 30
POOL_DEPTH = 50
#: Most of the colleague's passages shown from one thread.
PER_THREAD = 3
EXCERPT_CHARS = 400
CONTEXT_CHARS = 200

# How a passage's score is made (each part from 0 to 1; see `_score`).
W_ASKED = 0.50  # how well the question they replied to matches (half their own words' share
W_OWN = 0.25  # how much of the question their own words hold        when they reply to none)
W_FAQ = 0.10  # an entry of their package's FAQ matches (outside any thread)
W_RANK = 0.15  # retrieval's fused score of the passage, or of the question it replies to


def no_evidence(colleague: Colleague) -> str:
    return f"No evidence found in what {colleague.name} wrote that you may see."


@dataclass(frozen=True)
class Quote:
    """A passage the colleague wrote, as cited: its excerpt and how well it answers."""

    passage: Passage
    excerpt: str
    score: float
    replies: bool  # it replies to the context question of its exchange

    @property
    def item(self) -> Item:
        return self.passage.item


@dataclass(frozen=True)
class Exchange:
    """The colleague's passages of one thread (or one item), oldest first, with the question
    someone else asked that they reply to, when there is one."""

    context: Passage | None
    quotes: tuple[Quote, ...]
    score: float


@dataclass(frozen=True)
class Evidence:
    """What an answer may rest on, best exchange first: everything in it is visible to the
    reader it was gathered for and passed the relevance floor.

    This is what an answer is composed from, extractive or by an LLM: the colleague's own
    words in `quotes`, other people's words only as `context`, each with its author. `reader`
    is whom it was gathered for (None: unknown, and then nothing else is read for it).
    """

    colleague: Colleague
    question: str
    query: Query
    exchanges: tuple[Exchange, ...]
    reader: Reader | None = field(default=None, compare=False)

    @property
    def quotes(self) -> list[Quote]:
        """Every quote, in the order the answer cites them."""
        return [q for e in self.exchanges for q in e.quotes]


@dataclass(frozen=True)
class Citation:
    """A cited item, in the command-line contract's shape."""

    item_id: int
    excerpt: str
    source: str
    created_at: datetime
    url: str | None

    def as_json(self) -> dict[str, Any]:
        return {
            "item_id": self.item_id,
            "excerpt": self.excerpt,
            "source": self.source,
            "created_at": self.created_at.isoformat(),
            "url": self.url,
        }


CONTRACT_KEYS = frozenset({"answer", "mode", "citations"})


@dataclass(frozen=True)
class Answer:
    """An answer (`mode` "extractive" or "llm") and the items it cites, in order: "[n]" in
    the answer text is `citations[n - 1]`.

    `extra` holds the keys the LLM mode adds to the JSON ("label", "fidelity", "note",
    "refused", "checks"; answers.llm_mode); it never replaces a key of the contract. `prompt`
    is the exact messages sent to the model, kept for the audit (empty when none was asked).
    """

    answer: str
    mode: str
    citations: tuple[Citation, ...]
    evidence: Evidence | None = field(default=None, compare=False)
    extra: dict[str, Any] = field(default_factory=dict, hash=False)
    prompt: tuple[ChatMessage, ...] = field(default=(), compare=False, repr=False)

    def __post_init__(self) -> None:
        if CONTRACT_KEYS & self.extra.keys():
            raise ValueError("extra keys may not replace the contract's keys")

    def as_json(self) -> dict[str, Any]:
        """The `ask` command's JSON (docs/ARCHITECTURE.md, command line contract), followed
        by the `extra` keys, if any."""
        return {
            "answer": self.answer,
            "mode": self.mode,
            "citations": [c.as_json() for c in self.citations],
            **self.extra,
        }


def ask(reader: Reader, colleague: Colleague, question: str, *, limit: int = 5) -> Answer:
    """Answer `question` from what `colleague` wrote that `reader` may see, citing at most
    `limit` of their items. Raises ValueError for a blank question or a limit below 1."""
    if not question.strip():
        raise ValueError("the question is empty")
    if limit < 1:
        raise ValueError("limit must be at least 1")
    return answer_from(gather_evidence(reader, colleague, question, limit=limit))


def answer_from(evidence: Evidence) -> Answer:
    """Compose the answer from `evidence` alone.

    Without an LLM configured (LLM_BASE_URL empty) this is `extractive_answer`, unchanged.
    With one, `answers.llm_mode.llm_answer` has the model write it from the same evidence,
    as data, and checks what it wrote (see that module for the guarantees and policies); it
    falls back to the extractive answer, with a note, when the model fails.
    """
    llm = llm_from_settings()
    if llm is None:
        return extractive_answer(evidence)
    from answers.llm_mode import llm_answer

    return llm_answer(llm, evidence)


def stream_answer(
    reader: Reader, colleague: Colleague, question: str, *, limit: int = 5
) -> AnswerStream:
    """`ask`, for a page that shows the answer as it is written (the chat page).

    Iterate over the result for text deltas to show live; then read its `final`, the
    validated `Answer`, and replace everything shown with it (record it with
    `answers.actions.record_ask`). Contract:

    - Each delta is a sentence (with the space or new line before it) that has already passed
      every check of the final answer: it cites only evidence given, holds no link or image
      outside the allow-list and no commitment in the colleague's name, and its citation
      numbers are those of the final answer. Deltas may still differ from the final text
      (which adds the label and any note), so the UI must replace them with `final.answer`.
    - There may be no delta at all: no LLM configured, a refused request, no evidence, or a
      model that failed or wrote nothing usable. `final` is always an Answer.
    - Reading `final` before the deltas are exhausted reads the rest first; closing the
      iterator (the client went away) closes the model's stream, and `final` is then the
      answer from what was read.

    Raises ValueError for a blank question or a limit below 1, before anything is read.
    """
    if not question.strip():
        raise ValueError("the question is empty")
    if limit < 1:
        raise ValueError("limit must be at least 1")
    from answers.llm_mode import AnswerStream

    evidence = gather_evidence(reader, colleague, question, limit=limit)
    return AnswerStream(evidence, llm_from_settings())


def extractive_answer(evidence: Evidence) -> Answer:
    """A lead sentence in the colleague's words, then each exchange with its quotes, numbered
    as cited; the no-evidence sentence when there is nothing to cite."""
    colleague = evidence.colleague
    if not evidence.exchanges:
        return Answer(no_evidence(colleague), EXTRACTIVE, (), evidence)
    quotes = evidence.quotes
    number = {q.item.pk: n for n, q in enumerate(quotes, start=1)}
    best = max(quotes, key=lambda q: (q.score, -number[q.item.pk]))
    opening = lead(best.passage.text, evidence.query, replies=best.replies)
    lines = [
        f"{colleague.name} wrote on {P.day(best.item.created_at)} {P.where(best.item)}: "
        f"“{opening}” [{number[best.item.pk]}]",
    ]
    for exchange in evidence.exchanges:
        lines.append("")
        context = exchange.context
        if context is not None:
            asked = excerpt_of(context.text, evidence.query, max_chars=CONTEXT_CHARS)
            lines.append(
                f"{P.author_name(context.item)} asked on {P.day(context.created_at)} "
                f"{P.where(context.item)}: “{asked}”"
            )
        for quote in exchange.quotes:
            verb = "replied" if quote.replies else "wrote"
            place = "" if quote.replies else f" {P.where(quote.item)}"
            lines.append(
                f"[{number[quote.item.pk]}] {colleague.name} {verb} on "
                f"{P.day(quote.item.created_at)}{place}: “{quote.excerpt}”"
            )
    citations = tuple(
        Citation(
            item_id=q.item.pk,
            excerpt=q.excerpt,
            source=q.item.source.name,
            created_at=q.item.created_at,
            url=q.item.url or None,
        )
        for q in quotes
    )
    return Answer("\n".join(lines), EXTRACTIVE, citations, evidence)


# Gathering the evidence.


@dataclass
class _Candidate:
    passage: Passage
    context: Passage | None = None
    rank: float = 0.0  # retrieval's fused score of the passage or its context
    faq: float = 0.0  # coverage of the question by a matching FAQ entry's question


def gather_evidence(reader: Reader, colleague: Colleague, question: str, *, limit: int) -> Evidence:
    """The colleague's passages that answer `question`, as `reader` may see them, grouped by
    thread, best first, at most `limit` quotes (see the module docstring)."""
    query = parse_query(question, ignore=name_terms([colleague.name]))
    empty = Evidence(colleague, question, query, (), reader=reader)
    if not query.terms or limit < 1:
        return empty
    candidates: dict[int, _Candidate] = {}

    def add(p: Passage, *, rank: float = 0.0) -> _Candidate:
        found = candidates.get(p.item_id)
        if found is None:
            found = candidates[p.item_id] = _Candidate(p)
        found.rank = max(found.rank, rank)
        return found

    own = retrieve(
        reader,
        question,
        filters=Filters(colleague_id=colleague.pk),
        limit=OWN_DEPTH,
        excerpts=False,
    )
    pool = retrieve(reader, question, limit=POOL_DEPTH, excerpts=False)
    own_passages = P.from_hits(reader, own.hits)
    pool_passages = P.from_hits(reader, pool.hits)
    for hit, p in zip(own.hits, own_passages, strict=True):
        add(p, rank=hit.score)
    pool_rank = {hit.item.pk: hit.score for hit in pool.hits}
    for hit, p in zip(pool.hits, pool_passages, strict=True):
        if p.colleague_id == colleague.pk:
            add(p, rank=hit.score)
    # Threads best first: of the colleague's passages, then of everyone's, then of their FAQ.
    thread_keys = [p.thread for p in (*own_passages, *pool_passages) if p.thread is not None]
    for faq_answer, faq_question, similarity in _faq_matches(reader, colleague, query):
        found = add(P.passage(faq_answer))
        found.faq = max(found.faq, similarity)
        if faq_question is not None and faq_question.pk != faq_answer.pk:
            if (key := P.thread_of(faq_answer)) is not None:
                thread_keys.append(key)
            elif found.context is None:
                found.context = P.passage(faq_question)
    for items in P.threads(reader, thread_keys).values():
        _add_thread(items, colleague, add, pool_rank)
    return Evidence(colleague, question, query, _exchanges(candidates, query, limit), reader=reader)


def _add_thread(
    items: list[Item],
    colleague: Colleague,
    add: Callable[..., _Candidate],
    pool_rank: dict[int, float],
) -> None:
    """Each of the colleague's items in a thread, with the message by someone else it most
    likely replies to: the latest earlier one asking something, else the latest earlier one.
    A reply ranks as high as retrieval ranked that message."""
    earlier: list[Item] = []
    for item in items:
        if _by(item, colleague):
            others = [e for e in earlier if not _by(e, colleague)]
            asking = [e for e in others if "?" in e.body]
            latest = asking or others
            context = latest[-1] if latest else None
            found = add(P.passage(item))
            if context is not None and found.context is None:
                found.context = P.passage(context)
                found.rank = max(found.rank, pool_rank.get(context.pk, 0.0))
        earlier.append(item)


def _by(item: Item, colleague: Colleague) -> bool:
    return item.author is not None and item.author.colleague_id == colleague.pk


def _faq_matches(
    reader: Reader, colleague: Colleague, query: Query
) -> list[tuple[Item, Item | None, float]]:
    """(answer item, question item, similarity) of each FAQ entry of the colleague's package,
    as `reader` may see it, whose question passes the relevance floor; best first."""
    entries = work_seen(reader, colleague.pk, ["faq"]).get("faq", [])
    matched: list[tuple[float, int, int | None]] = []
    for entry in entries:
        ids = [i for i in entry.get("evidence", []) if isinstance(i, int)]
        question = str(entry.get("question", ""))
        stems = stems_of(question)
        if ids and query.relevant(stems):
            matched.append((query.coverage(stems), ids[0], ids[1] if len(ids) > 1 else None))
    if not matched:
        return []
    wanted = {i for _, a, q in matched for i in (a, q) if i is not None}
    items = visible_items_among(reader, wanted).in_bulk()
    out = []
    for similarity, answer_id, question_id in sorted(matched, key=lambda m: (-m[0], m[1])):
        answer = items.get(answer_id)
        if answer is None or answer.author is None or answer.author.colleague_id != colleague.pk:
            continue  # the analyser cites the answer they wrote first; anything else is not theirs
        out.append((answer, items.get(question_id) if question_id else None, similarity))
    return out


def _score(candidate: _Candidate, query: Query, best_rank: float) -> float:
    p, context = candidate.passage, candidate.context
    own = query.coverage(p.said)
    asked = query.coverage(context.stems) if context is not None else 0.5 * own
    rank = candidate.rank / best_rank if best_rank > 0 else 0.0
    # A matching FAQ entry stands for the question they answered only where no thread says
    # which question that was (its entry merges near-identical questions).
    faq = candidate.faq if context is None else 0.0
    return W_ASKED * asked + W_OWN * own + W_FAQ * faq + W_RANK * rank


def _oldest_first(candidate: _Candidate) -> tuple[datetime, int]:
    return (candidate.passage.created_at, candidate.passage.item_id)


def _exchanges(candidates: dict[int, _Candidate], query: Query, limit: int) -> tuple[Exchange, ...]:
    best_rank = max((c.rank for c in candidates.values()), default=0.0)
    scored: list[tuple[float, _Candidate]] = []
    for candidate in candidates.values():
        p, context = candidate.passage, candidate.context
        if not answers_something(p.text):
            continue
        if not query.relevant(p.said | context.stems if context is not None else p.said):
            continue
        scored.append((_score(candidate, query, best_rank), candidate))
    # Best first; of equals, the newer (it may supersede), then the lower id.
    scored.sort(key=lambda s: (-s[0], -s[1].passage.created_at.timestamp(), s[1].passage.item_id))
    kept: list[tuple[float, _Candidate]] = []
    per_thread: dict[ThreadKey | int, int] = {}
    for score, candidate in scored:
        p = candidate.passage
        if any(similar(p.said, k.passage.said) for _, k in kept):
            continue  # the same thing said again: the best-placed one stands for it
        group = p.thread or p.item_id
        if per_thread.get(group, 0) >= PER_THREAD:
            continue
        per_thread[group] = per_thread.get(group, 0) + 1
        kept.append((score, candidate))
        if len(kept) >= limit:
            break
    groups: dict[ThreadKey | int, list[tuple[float, _Candidate]]] = {}
    for score, candidate in kept:
        groups.setdefault(candidate.passage.thread or candidate.passage.item_id, []).append(
            (score, candidate)
        )
    exchanges = []
    for members in groups.values():
        top_score, top = members[0]  # kept is best first
        context = top.context
        quotes = tuple(
            Quote(
                passage=c.passage,
                excerpt=excerpt_of(c.passage.text, query, max_chars=EXCERPT_CHARS),
                score=s,
                replies=context is not None
                and c.context is not None
                and c.context.item_id == context.item_id,
            )
            for s, c in sorted(members, key=lambda m: _oldest_first(m[1]))
        )
        exchanges.append(Exchange(context=context, quotes=quotes, score=top_score))
    return tuple(exchanges)  # in order of their best quote, as `kept` is

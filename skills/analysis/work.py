"""What a colleague knows and how they work, distilled offline from their own words.

`analyse_work(corpus, background)` reads a `Corpus` (skills.analysis.corpus) and returns a
`WorkAnalysis`: expertise areas, systems, channels, documents and links, FAQ, procedures,
standards and review habits, collaborators, counts. `org_background(reader)` is what the
expertise is measured against: phrase counts over a bounded sample of the organisation's
visible items, computed once per batch of builds.

Guarantees:
- Deterministic: the same corpus and background give the same analysis, every list sorted
  with ties broken by stable keys; scores rounded so `to_dict()` round-trips exactly through
  JSON and `WorkAnalysis.from_dict`.
- Every statement carries `evidence`: at most EVIDENCE_LIMIT item ids, best first, each an item
  the colleague wrote (for an FAQ entry, the answer they wrote and the question it answers).
  What a statement says appears in each of its evidence items (a term, a system name, a
  channel, a sentence), so a renderer that keeps a statement for any one visible evidence item
  shows nothing from the others; an FAQ entry's question and answer come from its two items.
- Nothing is read here: the analysis sees only the corpus, which holds only what the corpus's
  reader may see. Build the background for the same reader.
- The text extractors (`questions_in`, `list_blocks`, `rule_sentences`) accept any string.
"""

from __future__ import annotations

import heapq
import math
import re
import types
import typing
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field, fields, is_dataclass
from datetime import datetime
from typing import Any, NamedTuple, TypeVar

from django.db.models.functions import Mod, Substr

from knowledge.selectors import STOPWORDS, items_visible_to, tokenize, weighted_log_odds
from knowledge.text import (
    bigrams,
    cjk_segments,
    has_cjk,
    script_pieces,
    sentences,
    word_count,
)
from knowledge.visibility import Reader
from skills.analysis.corpus import Corpus, Entry, Person

FORMAT_VERSION = 1
EVIDENCE_LIMIT = 5
BACKGROUND_SAMPLE = 5000
# Characters of one item read for phrase counts: a long document says what it is about early.
MAX_TEXT_CHARS = 20_000

# How many of each section are kept.
MAX_AREAS = 6
MAX_AREA_TERMS = 6
MAX_TERMS = 40
MAX_SYSTEMS = 15
MAX_CHANNELS = 10
MAX_LINKS = 10
MAX_FAQ = 40
MAX_PROCEDURES = 20
MAX_STANDARDS = 25
MAX_REVIEW_HABITS = 20
MAX_COLLABORATORS = 15

# A phrase is characteristic when its weighted log-odds z-score against the organisation
# reaches this, it was written at least MIN_COUNT times, in at least MIN_ITEMS items.
MIN_Z = 2.0
MIN_COUNT = 3
MIN_ITEMS = 2
# A shorter phrase is dropped for a longer one that holds at least this share of its uses.
SUBSUMED = 0.6
# A phrase they write in the same few sentences again and again ("Touch wood.", "Strong opinions,
# loosely held.") is a set phrase of their style, not a subject: persona.md's business. It is
# one used FORMULA_COUNT times or more, in fewer distinct sentences than FORMULA_SHARE of its
# uses (six uses or more per sentence).
FORMULA_COUNT = 5
FORMULA_SHARE = 1 / 6
# A phrase of several words must come in this many different sentences: a sentence written
# again and again is not a phrase (every run of its words would pass the counts).
MIN_CONTEXTS = 2
# Others name a word when they ask them at least this often per time they write it elsewhere.
ASKED_SHARE = 0.2
# A rule is a sentence of this many words.
RULE_MIN_WORDS = 4
RULE_MAX_WORDS = 40
# A line this long that does not end a sentence was wrapped by a mail client.
WRAPPED_LINE = 40
# Near-identical questions (Jaccard of their content words) are one FAQ entry.
SAME_QUESTION = 0.6


# -- the analysis, as data ------------------------------------------------------------------------


@dataclass(frozen=True)
class PersonRef:
    """Someone the analysis names: a colleague (with their id) or an outside address."""

    name: str
    email: str = ""
    colleague_id: int | None = None


@dataclass(frozen=True)
class ExpertiseTerm:
    """A word or phrase they use far more than the organisation.

    `score`: its weighted log-odds z-score against the organisation's background, times the
    share of the organisation's uses that are theirs (half again for a phrase or a name, a
    third for an everyday word).
    """

    term: str
    score: float
    count: int
    evidence: list[int]


@dataclass(frozen=True)
class ExpertiseArea:
    """Terms that occur together in their items; `label` is the strongest of them."""

    label: str
    score: float
    count: int  # items holding any of the terms
    terms: list[ExpertiseTerm]
    evidence: list[int]  # items holding the label, those holding most of the terms first


@dataclass(frozen=True)
class System:
    """A named system, service, repository or tool they are the go-to for.

    `kind`: "repository" (a repo path), "identifier" (kebab/snake-case or CamelCase), "code"
    (a `code span`), "name" (a capitalised name or acronym, possibly with its head noun:
    "PagerDuty rotation"), "phrase" (a phrase they use as a name: "the change calendar"),
    "asked" (a word others use when asking them far more than anywhere else: "shipyard").
    `asked`: how often others named it in questions they answered.
    """

    name: str
    kind: str
    score: float
    count: int
    asked: int
    evidence: list[int]


@dataclass(frozen=True)
class ChannelActivity:
    name: str
    kind: str  # knowledge.models.Container.Kind
    items: int
    evidence: list[int]


@dataclass(frozen=True)
class DocumentRef:
    item_id: int
    title: str
    created_at: str  # ISO date
    evidence: list[int]


@dataclass(frozen=True)
class LinkRef:
    """A link they share again and again: a wiki page, a dashboard, a repository."""

    url: str
    label: str
    count: int
    evidence: list[int]


@dataclass(frozen=True)
class FaqEntry:
    """A question a colleague asked them and their answer, in their own words.

    `asker` is None when the question comes from a "questions I get asked" part of their own
    document. `asked` counts the near-identical questions merged into this one. `evidence` is
    [answer item, question item] (one id when both are the same document).
    """

    question: str
    answer: str
    asker: PersonRef | None
    asked: int
    evidence: list[int]


@dataclass(frozen=True)
class Procedure:
    """Steps they wrote down (a numbered or bulleted list, or a document section of steps)."""

    title: str
    steps: list[str]
    note: str
    count: int
    evidence: list[int]


@dataclass(frozen=True)
class Practice:
    """A standard, rule of thumb or review comment they repeat, as they wrote it."""

    text: str
    count: int
    evidence: list[int]


@dataclass(frozen=True)
class Collaborator:
    """Someone they work with: `asked` questions they answered, `answered` messages of theirs
    they replied to, shared `threads` (threads and conversations), `mails` exchanged."""

    person: PersonRef
    score: float
    asked: int
    answered: int
    threads: int
    mails: int
    topics: list[str]
    evidence: list[int]  # their own items answering or written to this person


@dataclass(frozen=True)
class Counts:
    items: int
    by_kind: dict[str, int]
    by_source: dict[str, int]
    first: str | None  # ISO date of the oldest item analysed
    last: str | None
    truncated: bool  # only their most recent items were analysed


@dataclass(frozen=True)
class WorkAnalysis:
    """Everything `analyse_work` found, as plain data (see the module docstring)."""

    version: int
    colleague: PersonRef
    counts: Counts
    expertise: list[ExpertiseArea]
    systems: list[System]
    channels: list[ChannelActivity]
    documents: list[DocumentRef]
    links: list[LinkRef]
    faq: list[FaqEntry]
    procedures: list[Procedure]
    standards: list[Practice]
    review_habits: list[Practice]
    collaborators: list[Collaborator]

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON types only (dicts, lists, str, int, float, bool, None)."""
        result = _plain(self)
        assert isinstance(result, dict)
        return result

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> WorkAnalysis:
        """The analysis `to_dict` gave; KeyError or TypeError if `data` is not one."""
        return _build(cls, data)


def _plain(value: Any) -> Any:
    if is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in fields(value)}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    return value


T = TypeVar("T")


def _build(cls: type[T], data: Mapping[str, Any]) -> T:
    hints = typing.get_type_hints(cls)
    return cls(**{f.name: _value(hints[f.name], data[f.name]) for f in fields(cls)})  # type: ignore[arg-type]


def _value(hint: Any, value: Any) -> Any:
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None:
            return None
        (inner,) = [a for a in typing.get_args(hint) if a is not type(None)]
        return _value(inner, value)
    if origin is list:
        (inner,) = typing.get_args(hint)
        if not isinstance(value, list):
            raise TypeError(f"expected a list, got {type(value).__name__}")
        return [_value(inner, v) for v in value]
    if origin is dict:
        _, inner = typing.get_args(hint)
        if not isinstance(value, dict):
            raise TypeError(f"expected a dict, got {type(value).__name__}")
        return {str(k): _value(inner, v) for k, v in value.items()}
    if isinstance(hint, type) and is_dataclass(hint):
        if not isinstance(value, Mapping):
            raise TypeError(f"expected an object for {hint.__name__}")
        return _build(hint, value)
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    return value


# -- the organisation's background ----------------------------------------------------------------


@dataclass(frozen=True)
class Background:
    """Phrase counts (n = 1, 2, 3 words) over a sample of the organisation's visible items.

    `item_ids` are the sampled items, so a colleague's own sampled items can be taken out again
    when they are compared with everyone else.
    """

    grams: tuple[Mapping[str, int], Mapping[str, int], Mapping[str, int]]
    item_ids: frozenset[int]
    totals: tuple[int, int, int] = (0, 0, 0)  # the sum of each of `grams`


def org_background(reader: Reader, *, sample: int = BACKGROUND_SAMPLE) -> Background:
    """Count phrases over at most about `sample` items `reader` may see, spread evenly over
    the id range (every k-th id) rather than only the newest. One query for the count, one
    for the texts (each cut to MAX_TEXT_CHARS)."""
    visible = items_visible_to(reader).order_by("id")
    total = visible.count()
    if total > sample:
        step = -(-total // max(sample, 1))
        visible = visible.annotate(_slot=Mod("id", step)).filter(_slot=0)
    counts: tuple[Counter[str], Counter[str], Counter[str]] = (Counter(), Counter(), Counter())
    ids: set[int] = set()
    for item_id, body in visible.values_list("id", Substr("body", 1, MAX_TEXT_CHARS)):
        ids.add(item_id)
        for gram in _grams_of(_clean(body or "")):
            counts[gram.n - 1][gram.key] += 1
    totals = (sum(counts[0].values()), sum(counts[1].values()), sum(counts[2].values()))
    return Background(grams=counts, item_ids=frozenset(ids), totals=totals)


# -- text -----------------------------------------------------------------------------------------

_URL = re.compile(r"\bhttps?://[^\s<>()\[\]{}\"'`]+", re.IGNORECASE)
# Slack renders mentions as "@Name"; a name is one word (display names have no spaces here).
_MENTION = re.compile(r"(?<![\w@])@[^\s@,.;:!?()\[\]{}\"'`’]+(?:['’]s)?")
_CODE = re.compile(r"`([^`\n]{2,80})`")
_EMOJI_CODE = re.compile(r":[a-z0-9_+-]{1,40}:")
_LEX = re.compile(
    r"(?P<word>[^\W\d_](?:[\w'’/.+-]*\w)?)"
    r"|(?P<end>[.!?。！？]+(?=\s|$)|[。！？；]+|\n)"
    r"|(?P<brk>\d[\w.,:/%+-]*|[^\w\s])"
)
_IDENTIFIER = re.compile(r"^[a-z0-9]*[a-z][a-z0-9]*(?:[-_][a-z0-9]+)+$")
_CAMEL = re.compile(r"^[A-Za-z]*[a-z][A-Z][A-Za-z0-9]*$")
_SENTENCE_END = re.compile(r"(?<=[.!?。！？])\s+|\n+")
_WORDS = re.compile(r"\S+")
# Words that say nothing about what someone knows: chat filler, greetings, sign-offs, time.
_FILLER = frozenset(
    """
    cheers thanks thx regards best warmly gracias hola morning afternoon evening folks team
    everyone anyone someone guys lovely dear quick question questions just really actually
    think know need want sure good great nice cool awesome perfect fine today tomorrow
    yesterday week weeks day days month months year years time times going done make made use
    used using new last next first still back much many well way thing things see look let
    lets can't won't didn't doesn't isn't aren't wasn't i'd we'd you'll you've they'll it'll
    that'll there'll who's here's how's let's monday tuesday wednesday thursday friday saturday
    sunday january february march april may june july august september october november
    december ago soon later asap fyi btw tbd eta eod etc via per vs also maybe probably
    something anything everything nothing please sorry right left yeah yep nope lol haha said
    says say tell told ask asked getting got give gave take took put keep kept come came goes
    went hear heard feel felt happy glad mind means mean bit lot lots little big small every
    another agree agreed works worked work working able need needs needed looks looking seems
    """.split()
)
# Everyday English words: a single one of them says little about what someone knows (they
# still count inside phrases: "old key", "release process").
_COMMON = frozenset(
    """
    able above account act action actions add added adding again ago ahead allow already
    alone along answer apply around away bad based become begin behind believe better
    between beyond book break bring build built busy call called came care carry case cause
    change changed changes check checked clean clear close closed coming comment comments
    common complete copy cost could course cover create created current cut date deal decide
    decided detail details different direct doing double down draft drop due early easy
    edit edited either else empty enable end enough even ever exact example expect expects
    fail failed fast few field fill final find fine fix fixed follow form found free full
    further future general gets given goes gone group half hand handle hands happen hard
    hear help high hold home hour hours idea important include instead issue issues item
    items job join keep key kind large late least less level light likely line list live
    long longer lose low main mark matter meet minute minutes miss missing move moved name
    near never note number often old once open order others outside over own page part pass
    past pick picked place plan point possible press pretty problem pull push pushes quite
    rather read ready real reason record remember report reports rest result review run
    running same save second send set share short show side simple since single size slow
    sort start started state stay stays step steps stop sure system take talk test tests
    though thought through together top track true try turn type under until update usual
    usually value wait watch whole wide within without word words write wrong yet
    """.split()
)
_GENERIC_NAMES = frozenset(
    """
    utc gmt eur usd gbp ceo cto cfo coo vp hr pm am ok pr prs api apis url urls id ids faq
    it's i'm i've
    """.split()
)
# First parts of hyphenated English compounds ("re-run", "on-call", "two-way", "cut-off"): such a
# word is not an identifier, though it is written like one.
_COMPOUND_HEADS = frozenset(
    """
    re co pre post non self well one two three four five half double cross long short high low
    auto sub multi semi anti inter over under out up down in on off take cut dry home follow
    check sign opt built read write time month year week day end first last full part all
    any so ill hand must know make look set roll
    """.split()
)
_DETERMINERS = frozenset({"the", "our", "my", "their", "this", "that", "your"})
_GREETING_WORDS = 4
_GREETING = re.compile(
    r"^(?:(?:hi|hey|hello|hallo|hola|dear|morning|good (?:morning|afternoon|evening)|greetings|yo)"
    r"\b|你好|您好|大家好|各位|早上好|下午好|晚上好)",
    re.IGNORECASE,
)


class _Gram(NamedTuple):
    key: str  # lower-cased words joined by one space
    surface: str  # as written
    n: int
    initial: bool  # starts a sentence (its capitals say nothing)
    after_determiner: bool  # "the change calendar"
    sentence: int  # a hash of its sentence's content words: the same for a repeated sentence


def _normal(word: str) -> str:
    word = word.lower().replace("’", "'")
    if word.endswith("'s"):
        word = word[:-2]
    return word


def _is_content(key: str, surface: str, names: frozenset[str]) -> bool:
    if not 2 <= len(key) <= 40:
        return False
    if has_cjk(key):
        return True  # a bigram of a CJK word, grammar already cut out (knowledge.text)
    if len(key) == 2 and not surface.isupper():
        return False
    return key not in STOPWORDS and key not in _FILLER and key not in names


def _grams_of(text: str, names: frozenset[str] = frozenset()) -> Iterator[_Gram]:
    """Phrases of one to three content words in `text`, never across punctuation, a stop
    word or a name."""
    for sentence in _runs(text, names):
        fingerprint = hash(tuple(w[0] for run, _ in sentence for w in run))
        for run, after_determiner in sentence:
            for n in (1, 2, 3):
                for i in range(len(run) - n + 1):
                    words = run[i : i + n]
                    yield _Gram(
                        " ".join(w[0] for w in words),
                        _joined([w[1] for w in words]),
                        n,
                        words[0][2],
                        after_determiner and i == 0,
                        fingerprint,
                    )


def _joined(words: list[str]) -> str:
    """Words of a phrase as written: with spaces, but overlapping CJK bigrams merged
    (支付 付网 网关 -> 支付网关). Keys keep the spaces, so a key's n is its spaces + 1."""
    if len(words) > 1 and all(len(w) == 2 and has_cjk(w) for w in words):
        return words[0] + "".join(w[1] for w in words[1:])
    return " ".join(words)


Word = tuple[str, str, bool]  # key, surface, starts a sentence
Run = tuple[list[Word], bool]  # content words in a row, preceded by a determiner


def _runs(text: str, names: frozenset[str]) -> list[list[Run]]:
    """Sentences of `text`, each a list of runs of content words."""
    sentences: list[list[Run]] = []
    sentence: list[Run] = []
    run: list[Word] = []
    initial = True
    after_determiner = False
    previous = ""

    def flush() -> None:
        nonlocal run
        if run:
            sentence.append((run, after_determiner))
            run = []

    for match in _LEX.finditer(text):
        kind = match.lastgroup
        if kind == "word" and has_cjk(match.group()):
            # CJK runs: their bigrams are the words, a run of them per piece between
            # grammar characters (knowledge.text.cjk_segments); Latin parts as words.
            for cjk, piece in script_pieces(match.group()):
                after_determiner = False
                if not cjk:
                    flush()
                    key = _normal(piece)
                    if _is_content(key, piece, names):
                        run.append((key, piece, initial))
                    previous = key
                    initial = False
                    continue
                for segment in cjk_segments(piece):
                    flush()
                    pairs = bigrams(segment) if len(segment) >= 2 else []
                    run.extend((pair, pair, initial and n == 0) for n, pair in enumerate(pairs))
                    initial = False if pairs else initial
                flush()
                previous = ""
        elif kind == "word":
            surface = match.group()
            key = _normal(surface)
            if _is_content(key, surface, names):
                if not run:
                    after_determiner = previous in _DETERMINERS
                run.append((key, surface, initial))
            else:
                flush()
            previous = key
            initial = False
        else:
            flush()
            previous = ""
            if kind == "end":
                if sentence:
                    sentences.append(sentence)
                    sentence = []
                initial = True
            elif match.group() == ":":
                initial = True
    flush()
    if sentence:
        sentences.append(sentence)
    return sentences


def _strip_greeting(text: str) -> str:
    """`text` without a short greeting line first and a short sign-off line last."""
    lines = text.strip().splitlines()
    while lines and not lines[-1].strip():
        lines.pop()
    if len([line for line in lines if line.strip()]) < 2:
        return "\n".join(lines).strip()
    first = lines[0].strip()
    if (
        word_count(first) <= _GREETING_WORDS
        and (first.endswith((",", "!", "，", "！")) or _GREETING.match(first))
        and not first.endswith((".", "?", ":", "。", "？", "："))
    ):
        lines = lines[1:]
    last = lines[-1].strip() if lines else ""
    if (
        lines
        and word_count(last) <= _GREETING_WORDS
        and not last.endswith((".", "?", ":", ";", "。", "？", "：", "；"))
        and not re.match(r"^\s*(?:\d+[.)]|[-*•])\s", last)
    ):
        lines = lines[:-1]
        # "Cheers,\nDana": a two-line sign-off.
        if lines and word_count(lines[-1]) <= 2 and lines[-1].strip().endswith((",", "，")):
            lines = lines[:-1]
    return "\n".join(lines).strip()


def _clean(text: str) -> str:
    """Text for phrase counts: greeting, sign-off, links and @mentions left out."""
    text = _strip_greeting(text[:MAX_TEXT_CHARS])
    return _EMOJI_CODE.sub(" ", _MENTION.sub(" ", _URL.sub(" ", text)))


def _sentences(text: str) -> list[str]:
    """Lines, then sentences (knowledge.text.sentences: Chinese ones end at 。！？； too)."""
    return [s for line in _SENTENCE_END.split(text) if line for s in sentences(line)]


def _fingerprint(text: str) -> tuple[str, ...]:
    """Words of a sentence, lower-cased, punctuation, "@" and links left out: equal for the
    same sentence written again."""
    return tuple(m.group().lower() for m in re.finditer(r"\w+", _URL.sub(" ", text)))


_LIST_START = re.compile(r"^\s*(?:\d{1,2}[.)]|[-*•‣◦]|#{1,6})\s")


def unwrap(text: str) -> str:
    """`text` with hard-wrapped lines (mail wraps at about 72 columns) joined into one.

    An indented line goes on the list item above it; any other line goes on the line before
    when that one is long, does not end a sentence, and neither is a list item, a heading or a
    quote. Only newlines become spaces.
    """
    out: list[str] = []
    in_item = False
    for line in text.splitlines():
        if out and _continues(out[-1], line, in_item=in_item):
            out[-1] = f"{out[-1].rstrip()} {line.strip()}"
        else:
            out.append(line)
            in_item = bool(_LIST_START.match(line)) and not line.lstrip().startswith("#")
    return "\n".join(out)


def _continues(previous: str, line: str, *, in_item: bool) -> bool:
    if not line.strip() or _LIST_START.match(line):
        return False
    indented = line[:1] in (" ", "\t")
    if in_item:
        return indented
    return (
        len(previous) >= WRAPPED_LINE
        and not indented
        and not previous.rstrip().endswith((".", "!", "?", ":", ";"))
        and not _LIST_START.match(previous)
        and not previous.lstrip().startswith(">")
        and not line.lstrip().startswith(">")
    )


def _content_words(text: str, names: frozenset[str] = frozenset()) -> frozenset[str]:
    text = _MENTION.sub(" ", _URL.sub(" ", text))
    return frozenset(w for w in tokenize(text) if w not in names and w not in _FILLER)


def _name_words(people: Iterable[Person]) -> frozenset[str]:
    words: set[str] = set()
    for person in people:
        for part in re.split(r"[\s.,'’()_-]+", person.name.lower()):
            if len(part) >= 2:
                words.add(part)
        local = person.email.split("@", 1)[0].lower()
        words.update(p for p in re.split(r"[._+-]+", local) if len(p) >= 2)
    return frozenset(words)


def _iso(moment: datetime) -> str:
    return moment.date().isoformat()


# -- questions ------------------------------------------------------------------------------------

_LEAD_IN = re.compile(r"^(?:[\w'’ -]{1,30}):\s+(?=\S)")
_LIST_ITEM = re.compile(r"^\s*(?:(\d{1,2})[.)]|[-*•‣◦])\s+(\S.*)$")
_HEADING = re.compile(r"^\s*#{1,6}\s+(\S.*?)\s*#*\s*$")


def questions_in(text: str) -> list[str]:
    """The questions in `text` (sentences ending in "?" of three words or more), without
    leading @mentions and short lead-ins ("Quick question: ..."). Never raises."""
    found: list[str] = []
    for line in _strip_greeting(unwrap(text)).splitlines():
        for sentence in _sentences(line):
            if not sentence.endswith(("?", "？")):
                continue
            sentence = _MENTION.sub(" ", sentence)
            sentence = _LEAD_IN.sub("", sentence.strip())
            sentence = " ".join(sentence.split())
            if word_count(sentence) >= 3 and tokenize(sentence):
                found.append(sentence[0].upper() + sentence[1:])
    return found


def _answer_text(text: str, limit: int = 1200) -> str:
    """Their reply without greeting and sign-off, cut at the end of a line or sentence
    before `limit` characters."""
    text = _strip_greeting(text)
    if len(text) <= limit:
        return text
    cut = text[:limit]
    end = cut.rfind("\n")
    if end < limit // 3:
        end = max(cut.rfind(". "), cut.rfind("? "), cut.rfind("! ")) + 1
    return cut[:end].rstrip() if end > limit // 3 else cut.rstrip() + "…"


def _is_substantive(answer: str) -> bool:
    """An answer that says something: a statement of a few words, not only an ack or a
    question back."""
    sentences = _sentences(answer)
    statements = [s for s in sentences if not s.endswith("?")]
    return bool(statements) and len(_WORDS.findall(" ".join(statements))) >= 5


# -- lists, procedures, rules ---------------------------------------------------------------------


@dataclass(frozen=True)
class ListBlock:
    """A list found in a text: the sentence or heading that leads into it, its items, and a
    "Note: ..." line right after it."""

    lead: str
    items: list[str]
    note: str
    numbered: bool


def list_blocks(text: str) -> list[ListBlock]:
    """Numbered or bulleted lists in `text` (indented lines continue the item above), and
    sections under a heading made of three to fifteen short one-sentence lines (documents
    converted from Word lose their list numbers). Never raises."""
    lines = text.splitlines()
    blocks: list[ListBlock] = []
    used: set[int] = set()
    i = 0
    while i < len(lines):
        match = _LIST_ITEM.match(lines[i])
        if not match:
            i += 1
            continue
        start = i
        items: list[str] = []
        numbered = match.group(1) is not None
        while i < len(lines):
            line = lines[i]
            item = _LIST_ITEM.match(line)
            if item:
                items.append(item.group(2).strip())
            elif items and line[:1] in (" ", "\t") and line.strip():
                items[-1] = f"{items[-1]} {line.strip()}"
            elif not line.strip() and i + 1 < len(lines) and _LIST_ITEM.match(lines[i + 1]):
                pass
            else:
                break
            i += 1
        used.update(range(start, i))
        lead = _lead_before(lines, start)
        note, i = _note_after(lines, i)
        blocks.append(ListBlock(lead=lead, items=items, note=note, numbered=numbered))
    blocks += _heading_sections(lines, used)
    return blocks


def _lead_before(lines: list[str], start: int) -> str:
    for j in range(start - 1, max(start - 3, -1), -1):
        line = lines[j].strip()
        if not line:
            continue
        heading = _HEADING.match(line)
        if heading:
            return heading.group(1)
        sentences = _sentences(line)
        return sentences[-1] if sentences else ""
    return ""


def _note_after(lines: list[str], i: int) -> tuple[str, int]:
    j = i
    while j < len(lines) and not lines[j].strip():
        j += 1
    if j < len(lines) and re.match(r"^\s*(?:note|nb|n\.b\.|caution|warning)\s*:", lines[j], re.I):
        return lines[j].split(":", 1)[1].strip(), j + 1
    return "", i


def _heading_sections(lines: list[str], used: set[int]) -> list[ListBlock]:
    """Sections under a heading ("# Procedure", or a short line without end punctuation)
    made only of short single-sentence lines: steps that lost their numbers."""
    blocks: list[ListBlock] = []
    i = 0
    while i < len(lines):
        heading = _section_heading(lines, i)
        if heading is None or i in used:
            i += 1
            continue
        j = i + 1
        body: list[str] = []
        while j < len(lines) and lines[j].strip() and _section_heading(lines, j) is None:
            body.append(lines[j].strip())
            j += 1
        note = ""
        if body and re.match(r"^(?:note|caution|warning)\s*:", body[-1], re.I):
            note = body.pop().split(":", 1)[1].strip()
        if (
            3 <= len(body) <= 15
            and not any(k in used for k in range(i, j))
            and all(_is_step_line(line) for line in body)
        ):
            blocks.append(ListBlock(lead=heading, items=body, note=note, numbered=False))
        i = max(j, i + 1)
    return blocks


def _section_heading(lines: list[str], i: int) -> str | None:
    line = lines[i].strip()
    match = _HEADING.match(line)
    if match:
        return match.group(1)
    # A plain short line followed by text, in documents converted from PDF or Word.
    if (
        line
        and len(line.split()) <= 5
        and not line.endswith((".", "?", "!", ":", ",", ";"))
        and line[:1].isupper()
        and "|" not in line
        and i + 1 < len(lines)
        and lines[i + 1].strip()
        and (i == 0 or not lines[i - 1].strip() or _HEADING.match(lines[i - 1].strip()) is None)
    ):
        return line
    return None


def _is_step_line(line: str) -> bool:
    words = len(line.split())
    return (
        2 <= words <= 30
        and "|" not in line
        and not line.endswith(("?", "？"))
        and len(_sentences(line)) <= 2
        and _LIST_ITEM.match(line) is None
    )


_RULE = re.compile(
    r"\b(?:always|never|must|mustn't|must not|don't|do not|make sure|ensure|before you|"
    r"rule of thumb|checklist|every time|only ever|should always|should never|under no "
    r"circumstances|no \w+(?: \w+)? without)\b"
    r"|必须|务必|一定要|千万不要|千万别|永远不要|绝对不要|不要|不能|禁止|记得|确保|之前先|每次都",
    re.IGNORECASE,
)
_REVIEW_LEAD = re.compile(
    r"\b(?:review(?:ed|ing|s)?|comments? on|pull request|PR|MR|merge request)\b", re.IGNORECASE
)


def rule_sentences(text: str) -> list[str]:
    """Sentences of `text` that state a rule ("always", "never", "must", "make sure", "before
    you", "rule of thumb", "no X without", ...): four to forty words, no questions. List
    markers and "Note:" are left out. Never raises."""
    found: list[str] = []
    for line in _strip_greeting(text).splitlines():
        line = _LIST_ITEM.sub(r"\2", line)
        line = re.sub(r"^\s*(?:note|nb|tip|rule)\s*:\s*", "", line, flags=re.I)
        for sentence in _sentences(line):
            words = word_count(sentence)
            if (
                RULE_MIN_WORDS <= words <= RULE_MAX_WORDS
                and not sentence.endswith(("?", "？"))
                and _RULE.search(sentence)
            ):
                found.append(" ".join(sentence.split()))
    return found


# -- the analysis ---------------------------------------------------------------------------------


@dataclass(slots=True)
class _Stats:
    """What is known of one phrase across their items."""

    count: int = 0
    items: set[int] = field(default_factory=set)
    surfaces: Counter[str] = field(default_factory=Counter)
    inner_surfaces: Counter[str] = field(default_factory=Counter)  # not starting a sentence
    after_determiner: int = 0
    contexts: set[int] = field(default_factory=set)  # hashes of the sentences it is used in

    def display(self) -> str:
        pool = self.inner_surfaces or self.surfaces
        return min(pool.items(), key=lambda kv: (-kv[1], kv[0]))[0]

    def formulaic(self) -> bool:
        """Written again and again in the same few sentences (see FORMULA_COUNT)."""
        return self.count >= FORMULA_COUNT and len(self.contexts) < FORMULA_SHARE * self.count

    def capitalised(self) -> float:
        """Share of its uses inside a sentence written with a capital or CamelCase."""
        total = sum(self.inner_surfaces.values())
        if not total:
            return 0.0
        upper = sum(c for s, c in self.inner_surfaces.items() if s[:1].isupper())
        return upper / total


@dataclass
class _Text:
    entry: Entry
    text: str  # their own words
    grams: set[str]


@dataclass(frozen=True)
class _Pair:
    """A question someone asked and the item of theirs answering it."""

    question: str
    words: frozenset[str]  # content words of the question
    answer: str
    asker: str  # Person key, "" for their own document
    answer_item: Entry
    question_item: Entry
    taken_up: int = 0  # question words the answer uses (see _Analyser._takes_up)


class _Analyser:
    def __init__(self, corpus: Corpus, background: Background) -> None:
        self.corpus = corpus
        self.background = background
        self.me = corpus.colleague
        self.names = _name_words([*corpus.people.values(), self.me])
        writings = {w.item_id: w.text for w in corpus.writings}
        self.texts: list[_Text] = []
        self.stats: dict[str, _Stats] = {}
        all_stats = self.stats
        own: tuple[Counter[str], Counter[str], Counter[str]] = (Counter(), Counter(), Counter())
        sampled: tuple[Counter[str], Counter[str], Counter[str]] = (
            Counter(),
            Counter(),
            Counter(),
        )
        for entry in corpus.items:
            text = unwrap(writings.get(entry.id, entry.body))
            keys: set[str] = set()
            sample = sampled if entry.id in background.item_ids else None
            item_id = entry.id
            for key, surface, n, initial, after_determiner, sentence in _grams_of(
                _clean(text), self.names
            ):
                stats = all_stats.get(key)
                if stats is None:
                    stats = all_stats[key] = _Stats()
                stats.count += 1
                stats.items.add(item_id)
                stats.surfaces[surface] += 1
                if not initial:
                    stats.inner_surfaces[surface] += 1
                stats.after_determiner += after_determiner
                stats.contexts.add(sentence)
                if sample is not None:
                    # In the background too: taken out of everyone else's counts below.
                    sample[n - 1][key] += 1
                keys.add(key)
            self.texts.append(_Text(entry=entry, text=text, grams=keys))
        for key, stats in all_stats.items():
            own[key.count(" ")][key] = stats.count
        self.by_id = {t.entry.id: t for t in self.texts}
        self.scores: dict[str, float] = {}
        self.share: dict[str, float] = {}
        self.rest: Counter[str] = Counter()
        for n in range(3):
            grams = background.grams[n]
            rest = {k: max(grams.get(k, 0) - sampled[n][k], 0) for k in own[n]}
            rest_total = max(background.totals[n] - sum(sampled[n].values()), 0)
            for term in weighted_log_odds(own[n], rest, min_count=MIN_COUNT, rest_total=rest_total):
                self.scores[term.term] = term.score
                self.share[term.term] = term.count / (term.count + rest[term.term])
                self.rest[term.term] = rest[term.term]
        self.review_sentences: set[tuple[str, ...]] = set()
        # Questions and answers repeat: their words are worked out once.
        self._words_cache: dict[str, frozenset[str]] = {}
        self._grams_cache: dict[str, frozenset[str]] = {}
        self.pairs = self._pairs()
        self.asked: Counter[str] = Counter()
        for pair in self.pairs:
            if pair.asker:
                for asked in self._question_grams(pair.question):
                    self.asked[asked] += 1

    # -- phrases ----------------------------------------------------------------------------

    def characteristic(self, key: str) -> bool:
        """Used far more by them than by the organisation, often enough, and not a set phrase."""
        stats = self.stats.get(key)
        return (
            stats is not None
            and self.scores.get(key, -math.inf) >= MIN_Z
            and stats.count >= MIN_COUNT
            and len(stats.items) >= MIN_ITEMS
            and len(stats.contexts) >= (MIN_CONTEXTS if " " in key else MIN_ITEMS)
            and not stats.formulaic()
        )

    def weight(self, key: str) -> float:
        """How much `key` says about them: its z-score times the share of the organisation's
        uses that are theirs; phrases and names count for more than one everyday word."""
        weight = self.scores[key] * self.share[key]
        words = key.split()
        if len(words) > 1 or self._name_word(key):
            weight *= 1.5
        elif key in _COMMON:
            weight *= 0.3
        return weight

    def drop_subsumed(self, keys: list[str]) -> list[str]:
        """Keys without those a longer kept key holds most uses of ("node" in "node groups")."""
        chosen = set(keys)
        for key in keys:
            for longer in keys:
                if longer == key or len(longer) <= len(key):
                    continue
                if f" {key} " in f" {longer} " and (
                    self.stats[longer].count >= SUBSUMED * self.stats[key].count
                ):
                    chosen.discard(key)
                    break
        return [k for k in keys if k in chosen]

    def evidence_for(self, key: str, *, prefer: Iterable[str] = ()) -> list[int]:
        """Items holding `key`: answers to someone first, then those holding most of
        `prefer`, then the newest."""
        answers = self.corpus.answers
        preferred = set(prefer)
        return heapq.nsmallest(
            EVIDENCE_LIMIT,
            self.stats[key].items,
            key=lambda i: (
                -len(self.by_id[i].grams & preferred),
                i not in answers,
                -self.by_id[i].entry.created_at.timestamp(),
                -i,
            ),
        )

    def expertise(self) -> list[ExpertiseArea]:
        keys = [k for k in self.scores if self.characteristic(k) and not self._generic(k)]
        keys.sort(key=lambda k: (-self.weight(k), k))
        keys = self.drop_subsumed(keys[: MAX_TERMS * 2])[:MAX_TERMS]
        areas: list[list[str]] = []
        assigned: set[str] = set()
        for seed in keys:
            if seed in assigned:
                continue
            area = [seed]
            assigned.add(seed)
            covered = set(self.stats[seed].items)
            for other in keys:
                if other in assigned or len(area) >= MAX_AREA_TERMS:
                    continue
                items = self.stats[other].items
                shared = len(items & covered)
                if shared >= 2 and shared >= 0.5 * len(items):
                    area.append(other)
                    assigned.add(other)
                    covered |= items
            areas.append(area)
        result = []
        for area in areas:
            terms = [
                ExpertiseTerm(
                    term=self.stats[k].display(),
                    score=round(self.weight(k), 3),
                    count=self.stats[k].count,
                    evidence=self.evidence_for(k, prefer=area),
                )
                for k in area
            ]
            covered = set().union(*(self.stats[k].items for k in area))
            result.append(
                ExpertiseArea(
                    label=terms[0].term,
                    score=round(sum(t.score for t in terms), 3),
                    count=len(covered),
                    terms=terms,
                    evidence=self.evidence_for(area[0], prefer=area),
                )
            )
        result.sort(key=lambda a: (-a.score, a.label))
        return result[:MAX_AREAS]

    def _generic(self, key: str) -> bool:
        words = key.split()
        return all(w in _GENERIC_NAMES for w in words)

    # -- systems ----------------------------------------------------------------------------

    def _name_word(self, word: str) -> bool:
        """A word written like a name: an identifier, CamelCase, an acronym, or capitalised
        inside sentences."""
        stats = self.stats.get(word)
        if stats is None or word in _GENERIC_NAMES:
            return False
        if _is_identifier(word) or any(_CAMEL.match(s) for s in stats.surfaces):
            return True
        return sum(stats.inner_surfaces.values()) >= 2 and stats.capitalised() >= 0.8

    def systems(self) -> list[System]:
        candidates = {
            key: kind
            for key in self.stats
            if self.characteristic(key) and not self._generic(key)
            for kind in [self._system_kind(key)]
            if kind
        }
        keys = sorted(candidates, key=lambda k: (-self._system_score(k), k))
        keys = self.drop_subsumed(keys[: MAX_SYSTEMS * 4])
        systems = [
            System(
                name=self.stats[k].display(),
                kind=candidates[k],
                score=round(self._system_score(k), 3),
                count=self.stats[k].count,
                asked=self.asked[k],
                evidence=self.evidence_for(k),
            )
            for k in keys
        ]
        systems += self._repositories(exclude={s.name.lower() for s in systems})
        systems += self._code_spans(exclude={s.name.lower() for s in systems})
        systems.sort(key=lambda s: (-s.score, s.name))
        return systems[:MAX_SYSTEMS]

    def _system_kind(self, key: str) -> str:
        """How `key` looks like the name of a system, or "" when it does not."""
        stats = self.stats[key]
        words = key.split()
        named = [self._name_word(w) for w in words]
        if len(words) == 1 and named[0]:
            return "identifier" if _is_identifier(key) or self._camel(key) else "name"
        if all(named):
            return "name"
        if any(named):
            # A name and its head noun ("PagerDuty rotation", "billing API keys"): only if the
            # name mostly comes with it, and not a verb opening a sentence ("Moved Argo CD").
            base = max(self.stats[w].count for w, n in zip(words, named, strict=True) if n)
            if stats.count >= SUBSUMED * base and (named[0] or stats.inner_surfaces):
                return "name"
            return ""
        # Others name it when they ask them, far more than they mention it otherwise.
        asked = self.asked[key]
        if asked >= 3 and asked >= ASKED_SHARE * self.rest[key] and key not in _COMMON:
            return "asked"
        # A phrase they use as a name: "the change calendar", "our refunds flow".
        if (
            len(words) > 1
            and stats.after_determiner >= 2
            and stats.after_determiner >= 0.3 * stats.count
        ):
            return "phrase"
        return ""

    def _camel(self, key: str) -> bool:
        return any(_CAMEL.match(s) for s in self.stats[key].surfaces)

    def _system_score(self, key: str) -> float:
        return self.weight(key) * (1.0 + 0.25 * min(self.asked[key], 4))

    def _repositories(self, exclude: set[str]) -> list[System]:
        """Repository paths ("payments/billing-svc") from links to a code host and from text."""
        found: dict[str, set[int]] = defaultdict(set)
        for text in self.texts:
            for url in _URL.findall(text.text):
                repo = _repository(url)
                if repo:
                    found[repo].add(text.entry.id)
            for match in re.finditer(
                r"(?<![\w/.:-])([a-z][\w.-]{1,40}/[a-z][\w.-]{1,60})(?![\w/])",
                _URL.sub(" ", text.text),
            ):
                path = match.group(1).rstrip(".")
                head, _, tail = path.partition("/")
                if head not in STOPWORDS and tail not in STOPWORDS and len(tail) > 2:
                    found[path].add(text.entry.id)
        return self._named_systems(found, "repository", exclude)

    def _code_spans(self, exclude: set[str]) -> list[System]:
        found: dict[str, set[int]] = defaultdict(set)
        for text in self.texts:
            for span in _CODE.findall(text.text):
                span = span.strip()
                if span and " " not in span:
                    found[span].add(text.entry.id)
        return self._named_systems(found, "code", exclude)

    def _named_systems(
        self, found: dict[str, set[int]], kind: str, exclude: set[str]
    ) -> list[System]:
        """Names seen in at least MIN_ITEMS items, not excluded, newest evidence first."""
        result = []
        for name, items in found.items():
            if len(items) < MIN_ITEMS or name.lower() in exclude:
                continue
            evidence = sorted(
                items, key=lambda i: (-self.by_id[i].entry.created_at.timestamp(), -i)
            )
            result.append(
                System(
                    name=name,
                    kind=kind,
                    score=round(MIN_Z + math.log(len(items)), 3),
                    count=len(items),
                    asked=0,
                    evidence=evidence[:EVIDENCE_LIMIT],
                )
            )
        return result

    # -- where -----------------------------------------------------------------------------

    def channels(self) -> list[ChannelActivity]:
        by_channel: dict[tuple[str, str], list[_Text]] = defaultdict(list)
        for text in self.texts:
            if text.entry.container_kind in ("channel", "private_channel"):
                by_channel[(text.entry.container, text.entry.container_kind)].append(text)
        result = [
            ChannelActivity(
                name=name,
                kind=kind,
                items=len(texts),
                evidence=[t.entry.id for t in sorted(texts, key=self._substance)][:EVIDENCE_LIMIT],
            )
            for (name, kind), texts in by_channel.items()
        ]
        result.sort(key=lambda c: (-c.items, c.name))
        return result[:MAX_CHANNELS]

    def _substance(self, text: _Text) -> tuple[int, float, int]:
        """Sort key: the items saying most first (capped), then the newest."""
        return (-min(len(text.grams), 60), -text.entry.created_at.timestamp(), -text.entry.id)

    def documents(self) -> list[DocumentRef]:
        docs = [t.entry for t in self.texts if t.entry.kind == "document"]
        docs.sort(key=lambda e: (-e.created_at.timestamp(), e.title, e.id))
        return [
            DocumentRef(
                item_id=e.id,
                title=e.title or e.container,
                created_at=_iso(e.created_at),
                evidence=[e.id],
            )
            for e in docs
        ]

    def links(self) -> list[LinkRef]:
        """Links in at least MIN_ITEMS of their items; the label is the text they put before
        "(link)" most often in the items cited."""
        found: dict[str, set[int]] = defaultdict(set)
        labels: dict[tuple[str, int], str] = {}
        for text in self.texts:
            for match in _URL.finditer(text.text):
                url = match.group().rstrip(".,;:!?")
                found[url].add(text.entry.id)
                before = text.text[max(match.start() - 80, 0) : match.start()].rstrip()
                if before.endswith("("):
                    label = re.split(r"[\n:;,.!?()]", before[:-1])[-1].strip()
                    if 0 < len(label) <= 60:
                        labels.setdefault((url, text.entry.id), label)
        result = []
        for url, items in found.items():
            if len(items) < MIN_ITEMS:
                continue
            evidence = sorted(
                items, key=lambda i: (-self.by_id[i].entry.created_at.timestamp(), -i)
            )[:EVIDENCE_LIMIT]
            named = Counter(labels[(url, i)] for i in evidence if (url, i) in labels)
            label = min(named.items(), key=lambda kv: (-kv[1], kv[0]))[0] if named else ""
            result.append(LinkRef(url=url, label=label, count=len(items), evidence=evidence))
        result.sort(key=lambda link: (-link.count, link.url))
        return result[:MAX_LINKS]

    # -- questions they answer --------------------------------------------------------------

    def _pairs(self) -> list[_Pair]:
        """Every question someone asked them that an item of theirs answers, and the
        questions-and-answers parts of their documents."""
        pairs: list[_Pair] = []
        for text in self.texts:
            entry = text.entry
            question_id = self.corpus.answers.get(entry.id)
            if question_id is None:
                continue
            asked = self.corpus.entry(question_id)
            asker = self.corpus.people.get(asked.author)
            # Questions from colleagues only: a vendor's or customer's mail is correspondence,
            # not what the organisation asks them.
            if asker is None or asker.colleague_id is None or asker.key == self.me.key:
                continue
            questions = questions_in(asked.body)
            answer = _answer_text(text.text)
            if not questions or not _is_substantive(answer):
                continue
            question = " ".join(questions[-2:])
            words = self._words(question)
            taken_up = self._takes_up(words, answer)
            if not taken_up and not self._names_a_subject(question):
                continue
            pairs.append(
                _Pair(
                    question=question,
                    words=words,
                    answer=answer,
                    asker=asker.key,
                    answer_item=entry,
                    question_item=asked,
                    taken_up=taken_up,
                )
            )
        for text in self.texts:
            if text.entry.kind == "document":
                for question, answer in _document_questions(text.text):
                    words = self._words(question)
                    pairs.append(
                        _Pair(
                            question=question,
                            words=words,
                            answer=answer,
                            asker="",
                            answer_item=text.entry,
                            question_item=text.entry,
                            taken_up=self._takes_up(words, answer),
                        )
                    )
        return [p for p in pairs if p.words]

    def _words(self, text: str) -> frozenset[str]:
        found = self._words_cache.get(text)
        if found is None:
            found = self._words_cache[text] = _content_words(text, self.names)
        return found

    def _question_grams(self, question: str) -> frozenset[str]:
        found = self._grams_cache.get(question)
        if found is None:
            grams = _grams_of(_clean(question), self.names)
            found = self._grams_cache[question] = frozenset(g.key for g in grams)
        return found

    def _takes_up(self, question_words: frozenset[str], answer: str) -> int:
        """How many words of the question the answer uses (compared on five letters). An
        answer taking up none answers no question ("Anything I can help with?" followed by an
        update), unless the question names one of their subjects."""
        asked = {w[:5] for w in question_words}
        return len(asked & {w[:5] for w in self._words(answer)})

    def _names_a_subject(self, question: str) -> bool:
        return any(self.characteristic(key) for key in self._question_grams(question))

    def faq(self) -> list[FaqEntry]:
        clusters: list[list[_Pair]] = []
        words_of: list[frozenset[str]] = []
        index: dict[str, list[int]] = defaultdict(list)
        ordered = sorted(
            self.pairs,
            key=lambda p: (p.question_item.created_at, p.question_item.id, p.answer_item.id),
        )
        # Prefix filtering: a question at SAME_QUESTION or more from another shares one of its
        # rarest len - ceil(SAME_QUESTION * len) + 1 words with it, so only clusters holding
        # one of those are compared.
        frequency = Counter(w for p in self.pairs for w in p.words)
        exact: dict[frozenset[str], int] = {}  # the cluster a set of words went to
        for pair in ordered:
            words = pair.words
            if words in exact:
                clusters[exact[words]].append(pair)
                continue
            best, best_similarity = -1, 0.0
            rarest = sorted(words, key=lambda w: (frequency[w], w))
            prefix = rarest[: len(rarest) - math.ceil(SAME_QUESTION * len(rarest)) + 1]
            for c in sorted({c for w in prefix for c in index[w]}):
                other = words_of[c]
                shared = len(words & other)
                similarity = shared / (len(words) + len(other) - shared)
                if similarity > best_similarity:
                    best, best_similarity = c, similarity
            if best < 0 or best_similarity < SAME_QUESTION:
                best = len(clusters)
                clusters.append([])
                words_of.append(words)
                for w in words:
                    index[w].append(best)
            clusters[best].append(pair)
            exact[words] = best
        entries = []
        for cluster in clusters:
            best_pair = max(
                cluster,
                key=lambda p: (
                    p.taken_up,
                    min(len(_WORDS.findall(p.answer)), 80),
                    bool(p.asker),
                    p.answer_item.created_at,
                    p.answer_item.id,
                ),
            )
            asker = self.corpus.people.get(best_pair.asker)
            evidence = list(dict.fromkeys([best_pair.answer_item.id, best_pair.question_item.id]))
            entries.append(
                (
                    max(p.answer_item.created_at for p in cluster),
                    FaqEntry(
                        question=best_pair.question,
                        answer=best_pair.answer,
                        asker=_ref(asker) if asker is not None else None,
                        asked=len(cluster),
                        evidence=evidence,
                    ),
                )
            )
        entries.sort(key=lambda e: (-e[1].asked, -e[0].timestamp(), e[1].question))
        return [entry for _, entry in entries[:MAX_FAQ]]

    # -- how they work ----------------------------------------------------------------------

    def procedures(self) -> tuple[list[Procedure], list[Practice]]:
        found: list[tuple[_Text, ListBlock]] = []
        comments: dict[tuple[str, ...], list[tuple[str, _Text]]] = defaultdict(list)
        for text in self.texts:
            for block in list_blocks(_strip_greeting(text.text)):
                if _REVIEW_LEAD.search(block.lead) and text.entry.kind != "document":
                    for item in block.items:
                        key = _fingerprint(item)
                        if len(key) >= 3:
                            comments[key].append((item, text))
                    continue
                if len(block.items) >= (2 if block.numbered else 3):
                    found.append((text, block))
        # The same lead, steps and note written again: one procedure, counted.
        groups: dict[tuple[tuple[str, ...], ...], list[tuple[_Text, ListBlock]]] = defaultdict(list)
        for text, block in found:
            group: tuple[tuple[str, ...], ...] = (
                _fingerprint(block.lead),
                _fingerprint(block.note),
                *(_fingerprint(step) for step in block.items),
            )
            groups[group].append((text, block))
        procedures = []
        for occurrences in groups.values():
            occurrences.sort(key=lambda o: (-o[0].entry.created_at.timestamp(), -o[0].entry.id))
            text, block = occurrences[0]
            title = block.lead.rstrip(":").strip()
            if text.entry.kind == "document" and text.entry.title and title != text.entry.title:
                title = f"{text.entry.title}: {title}" if title else text.entry.title
            procedures.append(
                Procedure(
                    title=title,
                    steps=list(block.items),
                    note=block.note,
                    count=len(occurrences),
                    evidence=list(dict.fromkeys(o[0].entry.id for o in occurrences))[
                        :EVIDENCE_LIMIT
                    ],
                )
            )
        procedures.sort(key=lambda p: (-p.count, -len(p.steps), p.title, p.evidence))
        reviews = [self._practice(key, uses) for key, uses in comments.items()]
        reviews.sort(key=lambda p: (-p.count, p.text))
        self.review_sentences = set(comments)
        return procedures[:MAX_PROCEDURES], reviews[:MAX_REVIEW_HABITS]

    def _practice(self, key: tuple[str, ...], uses: list[tuple[str, _Text]]) -> Practice:
        uses.sort(key=lambda u: (-u[1].entry.created_at.timestamp(), -u[1].entry.id))
        evidence = list(dict.fromkeys(t.entry.id for _, t in uses))
        return Practice(text=uses[0][0], count=len(evidence), evidence=evidence[:EVIDENCE_LIMIT])

    def standards(self, procedures: list[Procedure]) -> list[Practice]:
        """Rule sentences; one that holds a shorter one ("For what it's worth, never X")
        counts as that one, so every evidence item holds the sentence shown."""
        known = {_fingerprint(s) for p in procedures for s in p.steps} | self.review_sentences
        found: dict[tuple[str, ...], list[tuple[str, _Text]]] = defaultdict(list)
        for text in self.texts:
            for sentence in rule_sentences(text.text):
                key = _fingerprint(sentence)
                if key and key not in known:
                    found[key].append((sentence, text))
        merged: dict[tuple[str, ...], list[tuple[str, _Text]]] = {}
        for key in sorted(found, key=lambda k: (len(k), k)):
            # The shortest kept sentence that is a run of this one's words, if any.
            shorter = next(
                (
                    key[i : i + n]
                    for n in range(RULE_MIN_WORDS, len(key))
                    for i in range(len(key) - n + 1)
                    if key[i : i + n] in merged
                ),
                None,
            )
            if shorter is None:
                merged[key] = list(found[key])
            else:
                # The shorter sentence is shown: it is inside each of these items too.
                merged[shorter] += [(merged[shorter][0][0], text) for _, text in found[key]]
        practices = [self._practice(key, uses) for key, uses in merged.items()]
        # Long-form writing first among equals: documents and mail say it deliberately.
        practices.sort(key=lambda p: (-p.count, -self._long_form(p.evidence), p.text))
        return practices[:MAX_STANDARDS]

    def _long_form(self, evidence: list[int]) -> int:
        return sum(self.by_id[i].entry.kind != "message" for i in evidence)

    # -- people ----------------------------------------------------------------------------

    def collaborators(self, expertise: list[ExpertiseArea]) -> list[Collaborator]:
        corpus = self.corpus
        me = self.me.key
        asked: Counter[str] = Counter()
        answered: Counter[str] = Counter()
        mails: Counter[str] = Counter()
        threads: dict[str, set[tuple[Any, ...]]] = defaultdict(set)
        evidence: dict[str, list[Entry]] = defaultdict(list)
        questions: dict[str, list[str]] = defaultdict(list)
        for pair in self.pairs:
            if pair.asker:
                asked[pair.asker] += 1
                questions[pair.asker].append(pair.question)
        for entry in corpus.items:
            answered_id = corpus.answers.get(entry.id)
            if answered_id is not None:
                other = corpus.entry(answered_id).author
                answered[other] += 1
                evidence[other].append(entry)
                conversation = entry.thread or (entry.container_id, entry.created_at.date())
                threads[other].add(conversation)
            if entry.kind == "email":
                for other in dict.fromkeys([*entry.to, *entry.cc]):
                    mails[other] += 1
                    evidence[other].append(entry)
            for other in corpus.addressees.get(entry.id, ()):
                if entry.kind != "email":
                    evidence[other].append(entry)
        for thread, ids in corpus.threads.items():
            authors = {corpus.entry(i).author for i in ids}
            if me in authors:
                for other in authors - {me, ""}:
                    threads[other].add(thread)
        for other_entry in corpus.context.values():
            if other_entry.kind == "email" and me in (*other_entry.to, *other_entry.cc):
                mails[other_entry.author] += 1
        terms = [(t.term.lower(), t.term) for area in expertise for t in area.terms]
        result = []
        for key in set(asked) | set(answered) | set(mails) | set(threads):
            person = corpus.people.get(key)
            if person is None or person.is_bot or key == me:
                continue
            own_items = sorted(
                {e.id: e for e in evidence[key]}.values(),
                key=lambda e: (-e.created_at.timestamp(), -e.id),
            )
            if not own_items:
                continue
            score = 3 * asked[key] + 2 * answered[key] + len(threads[key]) + mails[key]
            asked_text = " ".join(questions[key]).lower()
            mentions = Counter({shown: asked_text.count(low) for low, shown in terms})
            topics = [t for t, n in sorted(mentions.items(), key=lambda kv: (-kv[1], kv[0])) if n]
            topics = topics[:3]
            result.append(
                Collaborator(
                    person=_ref(person),
                    score=float(score),
                    asked=asked[key],
                    answered=answered[key],
                    threads=len(threads[key]),
                    mails=mails[key],
                    topics=topics,
                    evidence=[e.id for e in own_items[:EVIDENCE_LIMIT]],
                )
            )
        result.sort(key=lambda c: (-c.score, c.person.name, c.person.email))
        return result[:MAX_COLLABORATORS]

    def counts(self) -> Counts:
        items = self.corpus.items
        dates = [e.created_at for e in items]
        return Counts(
            items=len(items),
            by_kind=dict(sorted(Counter(e.kind for e in items).items())),
            by_source=dict(sorted(Counter(e.source for e in items).items())),
            first=_iso(min(dates)) if dates else None,
            last=_iso(max(dates)) if dates else None,
            truncated=self.corpus.truncated,
        )


def _is_identifier(word: str) -> bool:
    """snake_case, or kebab-case that is not an English compound ("billing-svc", not
    "re-run")."""
    if not _IDENTIFIER.match(word):
        return False
    return "_" in word or word.split("-", 1)[0] not in _COMPOUND_HEADS


def _repository(url: str) -> str:
    """ "owner/repo" of a link into a code host (GitHub, GitLab, Bitbucket, a git.* host)."""
    match = re.match(r"https?://([^/\s]+)/([^/\s?#]+)/([^/\s?#]+)(?:/([^/\s?#]*))?", url, re.I)
    if not match:
        return ""
    host, owner, repo, rest = match.groups()
    host = host.lower()
    code_host = host.startswith(("git.", "github.", "gitlab.", "bitbucket.")) or host in (
        "github.com",
        "gitlab.com",
        "bitbucket.org",
    )
    code_path = rest in (
        "pull",
        "pulls",
        "merge_requests",
        "-",
        "blob",
        "tree",
        "commit",
        "commits",
        "issues",
        "compare",
    )
    if not (code_host or code_path):
        return ""
    return f"{owner}/{repo.removesuffix('.git')}"


def _document_questions(text: str) -> Iterator[tuple[str, str]]:
    """(question, answer) from a document's "questions I get asked" / FAQ section: a line
    ending in "?" and the line that follows it."""
    lines = [line.strip() for line in text.splitlines()]
    in_section = False
    for i, line in enumerate(lines):
        heading = _HEADING.match(line)
        plain_heading = (
            line
            and len(line.split()) <= 5
            and not line.endswith((".", "?", "!"))
            and line[:1].isupper()
        )
        if heading or plain_heading:
            title = heading.group(1) if heading else line
            in_section = bool(re.search(r"question|faq|q\s*&\s*a|asked", title, re.I))
            continue
        if not in_section or not line.endswith("?") or i + 1 >= len(lines):
            continue
        answer = lines[i + 1]
        if answer and not answer.endswith("?") and _is_substantive(answer):
            yield line, answer


def _ref(person: Person) -> PersonRef:
    return PersonRef(name=person.name, email=person.email, colleague_id=person.colleague_id)


def analyse_work(corpus: Corpus, background: Background) -> WorkAnalysis:
    """Distil what `corpus`'s colleague knows and how they work (see the module docstring)."""
    analyser = _Analyser(corpus, background)
    expertise = analyser.expertise()
    procedures, reviews = analyser.procedures()
    return WorkAnalysis(
        version=FORMAT_VERSION,
        colleague=_ref(corpus.colleague),
        counts=analyser.counts(),
        expertise=expertise,
        systems=analyser.systems(),
        channels=analyser.channels(),
        documents=analyser.documents(),
        links=analyser.links(),
        faq=analyser.faq(),
        procedures=procedures,
        standards=analyser.standards(procedures),
        review_habits=reviews,
        collaborators=analyser.collaborators(expertise),
    )

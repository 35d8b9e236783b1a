"""Matching a question against passages, in words: the relevance floor and the excerpts.

Pure functions over strings, deterministic, and total: any string is accepted (the empty one
included) and nothing here raises on odd input.

A question becomes a `Query` of *terms*: its words, lower-cased and lightly stemmed (a plural
`s` dropped, then the first five letters kept, so "rotate", "rotation" and "rotating" are one
term), without stop words, question words ("who", "knows", "anyone") or names the caller asks
to ignore (the colleague asked about). Everyday words ("team", "time", "update") weigh less
than the rest.

A passage is *relevant* when it holds at least `MIN_COVERAGE` of the question's term weight and
at least one of its specific (not everyday) terms. The floor is lexical on purpose: it is the
same whatever the embedder, and an answer never rests on a passage that shares no word with
the question. Retrieval (keywords and vectors) decides which passages are looked at and in what
order; this decides which of them may be shown.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from knowledge.selectors import STOPWORDS
from knowledge.text import (
    cjk_units,
    content_bigrams,
    has_cjk,
    has_cjk_stop,
    script_pieces,
    sentences,
    word_count,
)

#: Share of the question's term weight a passage must hold to count as evidence.
MIN_COVERAGE = 0.5
#: Weight of an everyday word, against 1.0 for any other term.
GENERIC_WEIGHT = 0.3
STEM_CHARS = 5
#: A lead takes sentences until it has this many words ("No." alone answers nothing).
LEAD_WORDS = 12
#: An acknowledgement is shorter than this many words.
ACK_WORDS = 12

# Version-like numbers ("1.29", "3.10.2") are one word; anything else splits at non-letters.
_WORD = re.compile(r"\d+(?:\.\d+)+|[^\W_]+", re.UNICODE)
# A name written with hyphens or underscores between its parts: "invoice-runner", "nw_dbt".
_NAME = re.compile(r"\d+(?:\.\d+)+|[^\W_]+(?:[-_][^\W_]+)*", re.UNICODE)
_ACK = re.compile(
    r"^(?:(thanks|thank you|thx|ty|that worked|it worked|worked|perfect|great|got it|nice|cool|"
    r"awesome|ok|okay|will do|makes sense|agreed|\+1|brilliant|lovely|sounds good)\b"
    r"|谢谢|多谢|感谢|好的|收到|明白了|懂了|搞定了|可以了|解决了|没问题)",
    re.IGNORECASE,
)
_GREETING = re.compile(
    r"^(?:(hi|hey|hello|hiya|hola|morning|good morning|afternoon|good afternoon|evening|dear|"
    r"yo|folks|team|all|everyone|thanks|thank you|cheers|best|regards|gracias)\b"
    r"|(?:你好|您好|大家好|各位|早上好|下午好|晚上好|谢谢|多谢|辛苦了|此致|祝好)[，,！!。：:\s]*$)",
    re.IGNORECASE,
)
_QUESTION_MARKS = ("?", "？")
_LATIN_END = re.compile(r"(?<=[.!?])\s+")

# Words of how a question is put, not of what it is about.
QUESTION_WORDS = frozenset(
    """
    who whom whose what which when where why how know knows knew known anyone anybody someone
    somebody ask asks asked asking tell explain question questions wonder wondering remember
    recall exactly usually please thanks thank sorry quick idea ideas expert experts topic
    person does did done don doesn didn isn aren wasn weren won shouldn couldn wouldn haven hasn
    ll ve re
    """.split()
)
# Everyday words: they count, but less than a system's name or a subject.
GENERIC_WORDS = frozenset(
    """
    team teams time times people work working works new use used uses using make makes made day
    days week weeks month months year years good best way ways thing things need needs want
    wants look looking going get gets getting sure right well really much many first last next
    back take takes give gives come see say says said let keep put start stop think help update
    updates today tomorrow yesterday still already anything everything something nothing
    everyone happen happens happened change changes changed check checks fine ever
    """.split()
)


@functools.lru_cache(maxsize=65_536)
def stem(word: str) -> str:
    """A word's term: lower-cased, a plural ending dropped, cut to STEM_CHARS characters.
    A word holding a digit ("1.29", "p95", "s3") is kept whole."""
    w = word.lower()
    if any(ch.isdigit() for ch in w):
        return w
    if len(w) > 4 and w.endswith("ies"):
        w = w[:-3] + "y"
    elif len(w) > 3 and w.endswith("s") and not w.endswith("ss"):
        w = w[:-1]
    return w[:STEM_CHARS]


_GENERIC_STEMS = frozenset(stem(w) for w in GENERIC_WORDS)


def _keep(token: str) -> bool:
    if len(token) < 2 or token in STOPWORDS or token in QUESTION_WORDS:
        return False
    return not token.isdigit() or len(token) >= 3


def words(text: str) -> list[str]:
    """The content words of `text`, lower-cased, in order (repeats kept). A CJK run gives
    its bigrams, grammar characters and question words left out (knowledge.text)."""
    if not has_cjk(text):  # most text: the Latin rule alone, as fast as before
        return [t for t in (m.lower() for m in _WORD.findall(text)) if _keep(t)]
    out: list[str] = []
    for match in _WORD.findall(text):
        for cjk, piece in script_pieces(match):
            if cjk:
                out.extend(content_bigrams(piece))
            elif _keep(token := piece.lower()):
                out.append(token)
    return out


def stems_of(text: str) -> frozenset[str]:
    """The terms `text` holds."""
    return frozenset(stem(w) for w in words(text))


def name_terms(names: Iterable[str]) -> frozenset[str]:
    """The terms of people's names, to leave out of a question about them."""
    return frozenset(stem(t) for name in names for t in _WORD.findall(name.lower()))


@dataclass(frozen=True)
class Query:
    """A question as terms with weights (see the module docstring).

    `units` group the terms of one name written with hyphens or underscores ("invoice-runner",
    "nw-prod-eks"): a name counts as found only with all its parts, so "runners" alone does
    not match "invoice-runner". Any other term is a unit by itself.
    """

    text: str
    terms: tuple[str, ...]  # distinct, in the order the question gives them
    weights: tuple[float, ...]
    units: tuple[frozenset[str], ...] = ()

    @property
    def total(self) -> float:
        return sum(self.weights)

    @property
    def specific(self) -> frozenset[str]:
        return frozenset(t for t, w in zip(self.terms, self.weights, strict=True) if w >= 1.0)

    def found(self, stems: frozenset[str] | set[str]) -> frozenset[str]:
        """The question's terms found in `stems`, each with every other part of its name."""
        units = self.units or tuple(frozenset([t]) for t in self.terms)
        return frozenset(t for unit in units if unit <= stems for t in unit)

    def coverage(self, stems: frozenset[str] | set[str]) -> float:
        """The share of the question's term weight found in `stems`, from 0 to 1."""
        if not self.terms:
            return 0.0
        found = self.found(stems)
        return sum(w for t, w in zip(self.terms, self.weights, strict=True) if t in found) / (
            self.total
        )

    def relevant(self, stems: frozenset[str] | set[str]) -> bool:
        """Whether a passage holding `stems` passes the relevance floor."""
        if not self.terms or self.coverage(stems) < MIN_COVERAGE:
            return False
        specific = self.specific
        return not specific or bool(specific & self.found(stems))


def parse_query(question: str, *, ignore: frozenset[str] = frozenset()) -> Query:
    """The terms of `question`, without those in `ignore` (stems, e.g. from `name_terms`)."""
    seen: dict[str, float] = {}
    units: dict[frozenset[str], None] = {}
    for match in _NAME.finditer(question):
        unit = []
        for cjk, piece in script_pieces(match.group(0)):
            if cjk:
                # A CJK word is found with all its bigrams (knowledge.text.cjk_units).
                for group in cjk_units(piece):
                    kept = [pair for pair in group if pair not in ignore]
                    for pair in kept:
                        seen.setdefault(pair, 1.0)
                    if kept:
                        units.setdefault(frozenset(kept), None)
                continue
            for word in words(piece):
                term = stem(word)
                if term in ignore:
                    continue
                unit.append(term)
                seen.setdefault(term, GENERIC_WEIGHT if term in _GENERIC_STEMS else 1.0)
        if unit:
            units.setdefault(frozenset(unit), None)
    return Query(text=question, terms=tuple(seen), weights=tuple(seen.values()), units=tuple(units))


# Passages: sentences, excerpts and lead sentences.


def normalise(text: str) -> str:
    """`text` on one line, runs of white space made one space."""
    return " ".join(text.split())


def segments(text: str) -> list[str]:
    """The sentences of `text` (lines first, then sentence ends: knowledge.text.sentences,
    which knows 。！？；), each on one line."""
    # Text without a Chinese sentence end (most text) is cut by the Latin rule alone.
    cut = sentences if has_cjk_stop(text) else _LATIN_END.split
    out: list[str] = []
    for line in text.splitlines():
        for sentence in cut(line):
            sentence = normalise(sentence)
            if sentence:
                out.append(sentence)
    return out


def _cut(text: str, max_chars: int) -> str:
    if len(text) <= max_chars:
        return text
    space = text.rfind(" ", 0, max_chars)
    end = space if space > max_chars // 2 else max_chars
    return text[:end].rstrip() + "…"


def excerpt(text: str, query: Query, *, max_chars: int = 400) -> str:
    """About `max_chars` of `text`: consecutive sentences holding most of the question's
    terms, the earliest such run when several tie. "…" marks text left out before or after.

    Without the "…" marks, the excerpt is a part of `normalise(text)`.
    """
    whole = normalise(text)
    if len(whole) <= max_chars:
        return whole
    parts = segments(text)
    best: tuple[float, int, int] | None = None  # (-coverage, start, end)
    for start in range(len(parts)):
        end, size = start, 0
        while end < len(parts) and size + len(parts[end]) + (1 if end > start else 0) <= max_chars:
            size += len(parts[end]) + (1 if end > start else 0)
            end += 1
        end = max(end, start + 1)
        covered = query.coverage(stems_of(" ".join(parts[start:end])))
        key = (-covered, start, end)
        if best is None or key < best:
            best = key
        if end == len(parts):
            break
    assert best is not None
    _, start, end = best
    body = _cut(" ".join(parts[start:end]), max_chars)
    before = "…" if start > 0 else ""
    after = "…" if end < len(parts) and not body.endswith("…") else ""
    return before + body + after


def is_greeting(sentence: str) -> bool:
    """A salutation or sign-off line ("Hi Wei,", "Morning!", "Cheers, Dana")."""
    return word_count(sentence) <= 4 and bool(_GREETING.match(sentence))


def is_substantive(text: str) -> bool:
    """Says something beyond an acknowledgement: five words or more outside greetings (a CJK
    character counts as a word)."""
    return sum(word_count(s) for s in segments(text) if not is_greeting(s)) >= 5


def only_questions(text: str) -> bool:
    """Every sentence outside greetings asks something (it answers nothing)."""
    said = [s for s in segments(text) if not is_greeting(s)]
    return bool(said) and all(s.endswith(_QUESTION_MARKS) for s in said)


def lead(text: str, query: Query, *, replies: bool, max_chars: int = 280) -> str:
    """The sentence of `text` that best leads an answer, in its own words.

    A reply to the question (`replies`) is led by its first sentence after any greeting: that
    is where people answer. Anything else by its sentence holding most of the question's terms.
    Sentences are taken until LEAD_WORDS words ("No." alone, or a set phrase, answers little).
    The result is a part of `normalise(text)`, possibly cut with "…".
    """
    parts = segments(text)
    usable = [
        i for i, s in enumerate(parts) if not is_greeting(s) and not s.endswith(_QUESTION_MARKS)
    ]
    if not usable:
        usable = [i for i, s in enumerate(parts) if not is_greeting(s)] or list(range(len(parts)))
    if not usable:
        return ""
    if replies:
        start = usable[0]
    else:
        start = min(usable, key=lambda i: (-query.coverage(stems_of(parts[i])), i))
    end = start + 1
    while end < len(parts) and word_count(" ".join(parts[start:end])) < LEAD_WORDS:
        end += 1
    return _cut(" ".join(parts[start:end]), max_chars)


def is_acknowledgement(text: str) -> bool:
    """A thank-you or an "it worked": under ACK_WORDS words with a sentence opening like one
    ("Thanks, that's exactly what I needed!", "That worked. Small, but it adds up.")."""
    said = [s for s in segments(text) if not is_greeting(s)]
    if sum(word_count(s) for s in said) >= ACK_WORDS:
        return False
    return any(_ACK.match(s) for s in said)


def answers_something(text: str) -> bool:
    """Says something of its own: five words or more that are not only questions, greetings
    or an acknowledgement."""
    return is_substantive(text) and not only_questions(text) and not is_acknowledgement(text)


def similar(a: frozenset[str], b: frozenset[str], *, threshold: float = 0.8) -> bool:
    """Whether one of two passages says little the other does not: `threshold` or more of
    the terms of the one with fewer are in the other."""
    if not a or not b:
        return a == b
    return len(a & b) / min(len(a), len(b)) >= threshold


def joined(parts: Sequence[str]) -> str:
    """Names as prose: "A", "A and B", "A, B and C"."""
    if len(parts) <= 1:
        return "".join(parts)
    return ", ".join(parts[:-1]) + " and " + parts[-1]

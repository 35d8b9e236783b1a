"""How a colleague writes: an offline stylometric profile, and matching a text to profiles.

`style_profile(writings)` measures habits a reader would recognise (length, punctuation,
capitalisation, emoji, greetings, sign-offs, pet phrases, formality, languages, response
latency, active hours, tone by audience) and a fingerprint for `StyleMatcher`. Every habit
persona.md may quote carries `Example`s: short excerpts that are verbatim substrings of one
writing's text, with its item id, so a caller can cite them and drop those a reader may not see.

Guarantees:
- Pure and deterministic: the same writings (in any order) give an equal profile, and the same
  profiles and text give the same scores. No randomness, no clock, no network; sorted outputs
  with ties broken by key or text.
- Bounded work: at most MAX_WRITINGS writings (evenly spaced in time when there are more) and
  the first MAX_WRITING_CHARS characters of each are read; a matched text is cut to
  MAX_MATCH_CHARS.
- Any str is accepted (NUL, lone surrogates, emoji, CJK, whitespace runs): feature extraction
  never raises and every number is finite.
- `StyleProfile.to_dict()` is plain JSON-serialisable data and `StyleProfile.from_dict`
  rebuilds an equal profile; 35-65 KB of JSON for a colleague with 10,000 messages (the
  fingerprint is at most 6 x FINGERPRINT_KEEP entries, whatever the volume).

Matching (`StyleMatcher`): a score is the mean, over six feature families (character
1- to 4-grams, words, and the words that open and close a message), of the cosine between the
text's and the profile's square-root relative frequencies, each feature weighted by how few of
the matcher's profiles use it (idf ** IDF_POWER). So scores are in [0, 1]: 1 means the text's
features are distributed exactly as the profile's, 0 that they share none. Scores of different
texts against one matcher are on the same scale, but short texts score lower against everyone:
on the demo company, a one-line Slack message scores a median 0.31 against its author and 0.21
against others, ten messages together 0.51 against 0.27. So compare a text's scores across
people, and apply a threshold only across texts of similar length. Adding or removing profiles
changes the weights, so scores from two matchers are not comparable.
"""

from __future__ import annotations

import bisect
import hashlib
import math
import re
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields, is_dataclass
from datetime import UTC, datetime
from types import UnionType
from typing import Any, Union, get_args, get_origin, get_type_hints

import numpy as np
import numpy.typing as npt

from knowledge.text import CJK_CLASS
from skills.analysis.types import Writing

PROFILE_VERSION = 1
MAX_WRITINGS = 20_000
MAX_WRITING_CHARS = 20_000
MAX_MATCH_CHARS = 20_000
EXCERPT_CHARS = 120
EXAMPLES_PER_HABIT = 3

# Word-count buckets of the message-length histogram: (label, low, high inclusive).
LENGTH_BUCKETS: tuple[tuple[str, int, int], ...] = (
    ("0", 0, 0),
    ("1-3", 1, 3),
    ("4-10", 4, 10),
    ("11-25", 11, 25),
    ("26-50", 26, 50),
    ("51-100", 51, 100),
    ("101-250", 101, 250),
    ("251+", 251, 1 << 62),
)
MATTR_WINDOW = 50
MAX_MATTR_TOKENS = 200_000

# Pet phrases: word n-grams of these lengths, in at least PET_MIN_MESSAGES messages and
# PET_MIN_SHARE of them, PET_MIN_RATIO times likelier in this writer's messages than in the
# background's. Only the first PET_MAX_TOKENS words of a writing are read.
PET_MIN_N = 2
PET_MAX_N = 6
# A passage of this many words that recurs as often as a phrase inside it is boilerplate (a
# template, a quoted rule), not a pet phrase: its phrases are dropped.
BOILERPLATE_N = PET_MAX_N + 1
PET_MIN_MESSAGES = 3
PET_MIN_SHARE = 0.01
PET_MIN_RATIO = 4.0
PET_MAX_TOKENS = 400
PET_LIMIT = 15

AUDIENCES = ("manager", "report", "peer")
MIN_AUDIENCE_MESSAGES = 5

# The fingerprint: per family, the FINGERPRINT_KEEP most frequent of FINGERPRINT_DIM hashed
# buckets. Tuned on the validation part of bench/style_attribution.py (docs/BENCHMARKS.md).
FINGERPRINT_VERSION = 1
FINGERPRINT_DIM = 1 << 16
FINGERPRINT_KEEP = 1_000
FAMILIES = ("char1", "char2", "char3", "char4", "word", "edge")
IDF_POWER = 1.5

_CJK = CJK_CLASS  # knowledge.text: the one definition of what CJK is
_CJK_CHAR = re.compile(f"[{_CJK}]")
_HAN = re.compile("[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
# A word: one CJK character, or a run of letters/digits that may hold ' ’ - _ inside.
_WORD = re.compile(rf"[{_CJK}]|[^\W_{_CJK}](?:(?:[^\W{_CJK}]|['’-])*[^\W_{_CJK}])?")
_LATIN_LETTER = re.compile(r"[A-Za-zÀ-ɏ]")
_LETTER = re.compile(r"[^\W\d_]")
_KANA = re.compile("[\u3040-\u30ff]")
_HANGUL = re.compile("[\uac00-\ud7af]")
# Replaced by spaces of the same length before analysis, so offsets still point into the text.
_NOISE = re.compile(
    r"<[@#!][^<>\n]{0,200}>|<(?:https?|mailto):[^<>\n]{0,2000}>"
    r"|https?://[^\s<>]{1,2000}|www\.[^\s<>]{1,2000}"
    r"|[\w.+-]{1,64}@[\w-]{1,63}(?:\.[\w-]{1,63})+"
)
_SLACK_EMOJI = re.compile(
    r"(?<![\w:]):(?=[a-z0-9_+'-]{0,40}[a-z])[a-z0-9_+'-]{1,40}:(?::skin-tone-[2-6]:)?(?!\w)"
)
_EMOJI_BASE = "\U0001f000-\U0001faff\u2600-\u27bf\u2b00-\u2bff\u2300-\u23ff"
_EMOJI_MOD = "\ufe0f\U0001f3fb-\U0001f3ff"
_UNICODE_EMOJI = re.compile(
    rf"[\U0001f1e6-\U0001f1ff]{{2}}"
    rf"|[{_EMOJI_BASE}][{_EMOJI_MOD}]*(?:\u200d[{_EMOJI_BASE}][{_EMOJI_MOD}]*)*"
)
# Latin ends need white space after them; Chinese ones end a sentence where they stand
# (knowledge.text.sentences: 。！？； and ……).
_SENTENCE_SPLIT = re.compile(r"(?<=[.!?。！？…])\s+|\n+|[。！？；]+|…{2,}")
_SEGMENT_SPLIT = re.compile(r"[.!?;:\n。！？；：…]+")
_DIGIT = re.compile(r"\d")
_SPACES = re.compile(r"[^\S\n]+")
_BLANK_LINES = re.compile(r"\n\s*\n+")

# Punctuation habits: name -> pattern, on text with URLs and markup blanked out.
PUNCTUATION: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("!", re.compile(r"!")),
    ("?", re.compile(r"\?")),
    ("…", re.compile(r"…|\.{3,}")),
    (";", re.compile(r";")),
    (":", re.compile(r"(?<!\d):(?!\d)")),
    ("—", re.compile(r"[—–]|(?<=\s)--?(?=\s)")),
)

FUNCTION_WORDS = frozenset(
    """a about above after again against all also although am among an and any are aren't as
    at be because been before being below between both but by can can't could couldn't did
    didn't do does doesn't doing don't down during each either few for from further had has
    have having he her here hers herself him himself his how however i i'd i'll i'm i've if in
    into is isn't it it's its itself just let's may me might more most must my myself neither
    no nor not now of off on once only or other our ours ourselves out over own per rather
    same shall she should since so some such than that that's the their theirs them
    themselves then there there's these they they're this those though through thus to too
    under unless until up upon us very via was we we'll we're we've were what when where
    whether which while who whom whose why will with within without won't would yet you
    you'll you're your yours yourself""".split()
)

# Stop words that tell one language from another; a word may count for several.
LANGUAGE_WORDS: dict[str, frozenset[str]] = {
    "en": frozenset(
        "the and is are to of that it for you with this on not be have we was will i".split()
    ),
    "de": frozenset(
        "der die das und ist nicht ich wir sie es zu mit den ein eine auf für auch sich dem "
        "bitte danke noch oder aber".split()
    ),
    "fr": frozenset(
        "le la les et est une des du pour pas que qui dans nous vous je sur avec ce au merci "
        "mais".split()
    ),
    "es": frozenset(
        "el los las y es una por para que con no se del lo como pero más gracias está son "
        "muy".split()
    ),
    "nl": frozenset(
        "de het een en is van niet dat ik we je op met voor zijn maar ook dank bedankt nog "
        "wel er".split()
    ),
}
_LANGUAGES_OF: dict[str, tuple[str, ...]] = {
    word: tuple(lang for lang, vocab in LANGUAGE_WORDS.items() if word in vocab)
    for word in set().union(*LANGUAGE_WORDS.values())
}
SCRIPTS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("latin", re.compile(r"[A-Za-zÀ-ɏ]")),
    ("cjk", re.compile(f"[{_CJK}]")),
    ("cyrillic", re.compile("[\u0400-\u04ff]")),
    ("greek", re.compile("[\u0370-\u03ff]")),
    ("arabic", re.compile("[\u0600-\u06ff]")),
    ("hebrew", re.compile("[\u0590-\u05ff]")),
)

_GREETING_WORDS = (
    r"good (?:morning|afternoon|evening|day)|greetings|hello|hiya|heya|howdy|hey|hi|yo|dear"
    r"|morning|hallo|moin|servus|guten (?:morgen|tag|abend)|liebe[rs]?|bonjour|salut|coucou"
    r"|hola|buenos d[ií]as|buenas|hoi|goedemorgen|ciao|ol[aá]"
)
_GREETING = re.compile(
    rf"^(?P<word>(?:{_GREETING_WORDS})\b|大家好|你好|您好|各位|早上好|嗨)"
    r"(?:(?P<who>(?:\s+[^\s,!.:;—–\-，！]{1,30}){1,3})?\s*(?P<end>[,!.:;，！]|—|–|--?|$))?",
    re.IGNORECASE,
)
# A line that only names who is addressed: "Wade," / "Louise --" / "All:".
_SALUTATION = re.compile(
    r"^(?P<who>[A-Z][\w.'’-]{0,20}(?:\s+[A-Z][\w.'’-]{0,20}){0,2})\s*(?P<end>,|:|—|–|--?)$"
)
# Lower-case words that address a group rather than start the message: "Hi lovely people,".
_GENERIC_ADDRESSEES = frozenset(
    "all everyone everybody team folks guys there y'all you friends people gang both together "
    "lovely dear wonderful fellow my crew squad peeps colleagues humans again hey hi hello "
    "zusammen tous todos allemaal".split()
)
_CLOSINGS = (
    r"best(?: regards| wishes)?|bests|regards|kind regards|warm regards|warmly|many thanks"
    r"|thanks(?: again| all| so much| a lot)?|thank you|thx|cheers|ta|sincerely"
    r"|yours(?: truly| sincerely)?|talk soon|speak soon|all the best|take care|br"
    r"|viele grüße|liebe grüße|beste grüße|grüße|lg|vg|mfg|cordialement|bien à vous|bises"
    r"|amitiés|saludos|un saludo|abrazos|groeten|met vriendelijke groet|groetjes"
    r"|gracias|merci|danke|grazie|obrigad[oa]|bedankt|dank je"
)
# "Vince", "Alan C.", "R": capitalised words or initials, not "FYI" or "OK".
_NAME_WORD = r"[A-Z](?:[a-z][\w'’-]{0,19})?\.?"
# A closing, then optionally a name: capitalised words, or one lower-case word ("best, helen").
_CLOSING_LINE = re.compile(
    rf"^(?P<closing>(?i:{_CLOSINGS})[,!.]?|谢谢[！!。]?|多谢[！!。]?|祝好[！!。，,]?|辛苦了[！!。]?|此致敬礼[！!。]?)"
    rf"(?:\s+(?P<name>{_NAME_WORD}(?:\s+{_NAME_WORD}){{0,2}}|[a-z][\w'’-]{{0,29}}))?$"
)
_DASH_NAME = re.compile(r"^(?:—|–|--?|~)\s*[A-Z]\S{0,19}(?:\s+[A-Z]\S{0,19})?$")
_NAME_LINE = re.compile(rf"^{_NAME_WORD}(?:\s+{_NAME_WORD}){{0,2}}$")

_INFORMAL_WORDS = frozenset(
    "hey yeah yep yup nope lol haha hahaha gonna wanna gotta btw thx pls plz ok okay cool "
    "awesome guys np tbh imo ya u ur kinda sorta dunno omg lmk fyi asap ty tysm ack".split()
)
_FORMAL_WORDS = frozenset(
    "dear regards sincerely kindly therefore however furthermore moreover accordingly hereby "
    "regarding pursuant attached appreciate respectfully consequently nevertheless please "
    "would".split()
)

# -- the profile ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Example:
    """A short excerpt that is a verbatim substring of the text of item `item_id`."""

    item_id: int
    excerpt: str


@dataclass(frozen=True)
class Summary:
    """Count and quartiles of a quantity (all 0.0 when count is 0)."""

    count: int
    mean: float
    p25: float
    median: float
    p75: float


@dataclass(frozen=True)
class Bucket:
    label: str
    count: int


@dataclass(frozen=True)
class Term:
    """A word, character n-gram or other token and how often it occurs."""

    text: str
    rate: float  # per 1,000 words (words) or per 1,000 characters (character n-grams)


@dataclass(frozen=True)
class Share:
    name: str
    share: float  # of messages


@dataclass(frozen=True)
class Length:
    """Words per message (`histogram` over LENGTH_BUCKETS) and per sentence."""

    words: Summary
    histogram: tuple[Bucket, ...]
    sentence_words: Summary


@dataclass(frozen=True)
class Vocabulary:
    """Moving-average type-token ratio over windows of `window` words (0..1, length-robust)."""

    mattr: float
    window: int
    tokens: int
    types: int


@dataclass(frozen=True)
class PunctuationHabit:
    mark: str  # "!", "?", "…" (also "..."), ";", ":", "—" (also "–", " - ", " -- ")
    message_share: float  # share of messages using it
    per_1000_chars: float
    examples: tuple[Example, ...]


@dataclass(frozen=True)
class Capitalisation:
    lowercase_start_share: float  # of messages whose first letter is cased
    all_lowercase_share: float  # of messages with cased letters, none upper-case
    all_caps_per_1000_words: float  # words of 2+ letters, all capitals ("FERC", "ASAP")
    all_caps_words: tuple[Term, ...]
    examples: tuple[Example, ...]  # messages starting lower-case


@dataclass(frozen=True)
class EmojiUse:
    emoji: str  # "🎉" or the Slack code ":tada:"
    count: int
    examples: tuple[Example, ...]


@dataclass(frozen=True)
class Emoji:
    message_share: float  # of messages with at least one
    per_message: float
    top: tuple[EmojiUse, ...]


@dataclass(frozen=True)
class Habit:
    """A greeting or sign-off form; names of people addressed become "{name}"."""

    form: str  # the commonest way it is written
    count: int
    share: float  # of messages
    examples: tuple[Example, ...]


@dataclass(frozen=True)
class Habits:
    share: float  # of messages with any such habit
    forms: tuple[Habit, ...]


@dataclass(frozen=True)
class PetPhrase:
    phrase: str  # lower-case words joined by spaces (CJK characters without spaces)
    as_written: str  # the commonest surface form
    messages: int
    share: float  # of messages
    background_share: float | None  # of background texts; None without a background
    examples: tuple[Example, ...]


@dataclass(frozen=True)
class Languages:
    cjk_share: float  # of messages containing CJK characters
    primary: str  # "en", "de", "fr", "es", "nl", "zh", "ja", "ko" or "" when unknown
    languages: tuple[Share, ...]  # of messages whose language could be told
    scripts: tuple[Share, ...]  # of messages containing each script
    examples: tuple[Example, ...]  # messages in languages other than the primary one


@dataclass(frozen=True)
class Latency:
    """Seconds from the message replied to until this one, where known and not negative."""

    replies: Summary


@dataclass(frozen=True)
class Activity:
    hours: tuple[int, ...]  # 24 counts, UTC hour of day
    weekdays: tuple[int, ...]  # 7 counts, Monday first


@dataclass(frozen=True)
class AudienceTone:
    audience: str  # "manager" | "report" | "peer"
    messages: int
    mean_words: float
    formality: float
    greeting_share: float
    exclamation_share: float
    shift: str  # one line against the rest of their messages
    examples: tuple[Example, ...]


@dataclass(frozen=True)
class FeatureCounts:
    """The FINGERPRINT_KEEP commonest hashed buckets of one feature family.

    `indices` ascending in [0, FINGERPRINT_DIM); in JSON as `gaps` (first index, then
    differences), which is about half as long.
    """

    family: str
    indices: tuple[int, ...]
    counts: tuple[int, ...]

    def to_dict(self) -> dict[str, Any]:
        gaps = [b - a for a, b in zip((0, *self.indices), self.indices, strict=False)]
        return {"family": self.family, "gaps": gaps, "counts": list(self.counts)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FeatureCounts:
        indices: list[int] = []
        position = 0
        for gap in data["gaps"]:
            position += int(gap)
            indices.append(position)
        return cls(str(data["family"]), tuple(indices), tuple(int(c) for c in data["counts"]))


@dataclass(frozen=True)
class Fingerprint:
    """What StyleMatcher needs from a profile."""

    version: int
    families: tuple[FeatureCounts, ...]


@dataclass(frozen=True)
class StyleProfile:
    """How one person writes. Shares are of analysed writings; rates are rounded to 4 places."""

    version: int
    writings: int  # analysed
    writings_total: int  # given
    words: int
    length: Length
    vocabulary: Vocabulary
    function_words: tuple[Term, ...]
    char_ngrams: tuple[Term, ...]  # commonest character 3-grams, lower-cased
    punctuation: tuple[PunctuationHabit, ...]
    capitalisation: Capitalisation
    emoji: Emoji
    greetings: Habits
    sign_offs: Habits
    pet_phrases: tuple[PetPhrase, ...]
    formality: float  # 0 very casual .. 0.5 neutral .. 1 very formal (see `formality`)
    languages: Languages
    latency: Latency
    activity: Activity
    audiences: tuple[AudienceTone, ...]
    fingerprint: Fingerprint = field(repr=False)

    def to_dict(self) -> dict[str, Any]:
        """Plain data (dicts, lists, str, int, float, None) that json.dumps accepts."""
        result = _to_plain(self)
        assert isinstance(result, dict)
        return result

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> StyleProfile:
        """Rebuild the profile `to_dict` gave; ValueError if `data` is not one."""
        if not isinstance(data, Mapping) or data.get("version") != PROFILE_VERSION:
            raise ValueError(f"not a version {PROFILE_VERSION} style profile")
        try:
            return _from_plain(cls, data)
        except (KeyError, TypeError, AttributeError) as exc:
            raise ValueError(f"malformed style profile: {exc}") from exc


def _to_plain(value: Any) -> Any:
    if hasattr(value, "to_dict") and not isinstance(value, StyleProfile):
        return value.to_dict()
    if is_dataclass(value) and not isinstance(value, type):
        return {f.name: _to_plain(getattr(value, f.name)) for f in fields(value)}
    if isinstance(value, tuple | list):
        return [_to_plain(item) for item in value]
    return value


def _from_plain(kind: Any, data: Any) -> Any:
    origin = get_origin(kind)
    if origin is tuple:
        (item, _ellipsis) = get_args(kind)
        return tuple(_from_plain(item, x) for x in data)
    if origin is Union or origin is UnionType:
        if data is None:
            return None
        (inner,) = [a for a in get_args(kind) if a is not type(None)]
        return _from_plain(inner, data)
    if isinstance(kind, type) and is_dataclass(kind):
        if kind is FeatureCounts:
            return FeatureCounts.from_dict(data)
        hints = get_type_hints(kind)
        return kind(**{f.name: _from_plain(hints[f.name], data[f.name]) for f in fields(kind)})
    if kind is float:
        return float(data)
    if kind is int:
        return int(data)
    if kind is str:
        return str(data)
    raise TypeError(f"cannot rebuild {kind!r}")


# -- reading one writing -------------------------------------------------------------------


@dataclass
class _Text:
    """One writing prepared once: the text (capped), a masked copy and its words."""

    item_id: int
    text: str
    masked: str  # URLs, addresses and Slack markup blanked, same length as text
    plain: str  # masked, and Slack emoji codes blanked too
    words: list[str]  # lower-cased
    spans: list[tuple[int, int]]
    lines: list[tuple[int, int]]  # non-blank lines as spans of text, stripped
    emoji: list[tuple[str, int, int]]  # Slack codes and unicode emoji, with spans
    first_letter: str  # "" if none
    has_upper: bool
    has_lower: bool
    sentences: list[int]  # words per sentence, sentences with words only

    @classmethod
    def read(cls, item_id: int, text: str) -> _Text:
        text = text[:MAX_WRITING_CHARS]
        masked = _mask(text)
        words, spans = _words(masked)
        lines: list[tuple[int, int]] = []
        start = 0
        for line in text.split("\n"):
            stripped = line.strip()
            if stripped:
                offset = start + line.index(stripped[0])
                lines.append((offset, offset + len(stripped)))
            start += len(line) + 1
        plain = _SLACK_EMOJI.sub(_blank, masked)
        emoji = [(m.group(), *m.span()) for m in _SLACK_EMOJI.finditer(masked)]
        emoji += [(m.group(), *m.span()) for m in _UNICODE_EMOJI.finditer(masked)]
        emoji.sort(key=lambda e: e[1])
        first = _LETTER.search(plain)
        bounds = [m.start() for m in _SENTENCE_SPLIT.finditer(masked)]
        per_sentence = Counter(bisect.bisect(bounds, start) for start, _ in spans)
        return cls(
            item_id,
            text,
            masked,
            plain,
            words,
            spans,
            lines,
            emoji,
            first.group() if first else "",
            plain != plain.lower(),
            plain != plain.upper(),
            [per_sentence[n] for n in sorted(per_sentence)],
        )

    def line(self, n: int) -> str:
        start, end = self.lines[n]
        return self.text[start:end]


def _mask(text: str) -> str:
    return _NOISE.sub(_blank, text)


def _words(masked: str) -> tuple[list[str], list[tuple[int, int]]]:
    words: list[str] = []
    spans: list[tuple[int, int]] = []
    for match in _WORD.finditer(masked):
        words.append(match.group().lower())
        spans.append(match.span())
    return words, spans


def excerpt(text: str, start: int, end: int, width: int = EXCERPT_CHARS) -> str:
    """A verbatim substring of `text` around text[start:end], about `width` characters.

    Widened to word boundaries where it can be; whitespace trimmed at both ends.
    """
    start = max(0, min(start, len(text)))
    end = max(start, min(end, len(text)))
    if end - start >= width:
        end = start + width
    spare = (width - (end - start)) // 2
    left = max(0, start - spare)
    right = min(len(text), end + spare)
    if left > 0:
        space = text.find(" ", left, start)
        left = space + 1 if space != -1 else left
    if right < len(text):
        space = text.rfind(" ", end, right)
        right = space if space != -1 else right
    return text[left:right].strip()


def _examples(
    occurrences: Sequence[tuple[_Text, int, int]], k: int = EXAMPLES_PER_HABIT
) -> tuple[Example, ...]:
    """Up to `k` examples from different writings, spread evenly over `occurrences`."""
    distinct: list[tuple[_Text, int, int]] = []
    seen: set[int] = set()
    for occurrence in occurrences:
        if id(occurrence[0]) not in seen:
            seen.add(id(occurrence[0]))
            distinct.append(occurrence)
    if len(distinct) > k:
        last = len(distinct) - 1
        distinct = (
            [distinct[round(i * last / (k - 1))] for i in range(k)] if k > 1 else distinct[:1]
        )
    result = []
    for text, start, end in distinct:
        cut = excerpt(text.text, start, end)
        if cut:
            result.append(Example(text.item_id, cut))
    return tuple(result)


def _r(value: float, places: int = 4) -> float:
    value = float(value)
    return round(value, places) if math.isfinite(value) else 0.0


def _summary(values: Sequence[float]) -> Summary:
    if not values:
        return Summary(0, 0.0, 0.0, 0.0, 0.0)
    array = np.asarray(values, dtype=np.float64)
    p25, median, p75 = np.percentile(array, [25, 50, 75])
    return Summary(len(values), _r(array.mean()), _r(p25), _r(median), _r(p75))


def _ranked(counter: Mapping[str, int] | Counter[str]) -> list[tuple[str, int]]:
    return sorted(counter.items(), key=lambda kv: (-kv[1], kv[0]))


# -- the features ---------------------------------------------------------------------------


def _length(texts: Sequence[_Text]) -> Length:
    counts = [len(t.words) for t in texts]
    histogram = tuple(
        Bucket(label, sum(1 for c in counts if low <= c <= high))
        for label, low, high in LENGTH_BUCKETS
    )
    sentences: list[float] = [n for t in texts for n in t.sentences]
    return Length(_summary(counts), histogram, _summary(sentences))


def _vocabulary(texts: Sequence[_Text]) -> Vocabulary:
    tokens = [w for t in texts for w in t.words][:MAX_MATTR_TOKENS]
    types = len(set(tokens))
    if len(tokens) <= MATTR_WINDOW:
        ratio = types / len(tokens) if tokens else 0.0
        return Vocabulary(_r(ratio), MATTR_WINDOW, len(tokens), types)
    window: Counter[str] = Counter(tokens[:MATTR_WINDOW])
    distinct = len(window)
    total = distinct
    for n in range(MATTR_WINDOW, len(tokens)):
        old, new = tokens[n - MATTR_WINDOW], tokens[n]
        window[old] -= 1
        if window[old] == 0:
            distinct -= 1
        if window[new] == 0:
            distinct += 1
        window[new] += 1
        total += distinct
    windows = len(tokens) - MATTR_WINDOW + 1
    return Vocabulary(_r(total / windows / MATTR_WINDOW), MATTR_WINDOW, len(tokens), types)


def _function_words(texts: Sequence[_Text], total_words: int) -> tuple[Term, ...]:
    counts = Counter(w for t in texts for w in t.words if w in FUNCTION_WORDS)
    return tuple(Term(word, _r(1000 * count / total_words)) for word, count in _ranked(counts)[:40])


def _punctuation(texts: Sequence[_Text]) -> tuple[PunctuationHabit, ...]:
    chars = sum(len(t.text) for t in texts) or 1
    habits = []
    for mark, pattern in PUNCTUATION:
        total = 0
        using = 0
        occurrences: list[tuple[_Text, int, int]] = []
        for t in texts:
            found = list(pattern.finditer(t.plain))
            if found:
                using += 1
                total += len(found)
                occurrences.append((t, *found[0].span()))
        habits.append(
            PunctuationHabit(
                mark,
                _r(using / len(texts)) if texts else 0.0,
                _r(1000 * total / chars),
                _examples(occurrences, 2),
            )
        )
    return tuple(habits)


def _blank(match: re.Match[str]) -> str:
    return " " * len(match.group())


def _capitalisation(texts: Sequence[_Text]) -> Capitalisation:
    cased_start = lower_start = cased = all_lower = 0
    caps: Counter[str] = Counter()
    words = 0
    occurrences: list[tuple[_Text, int, int]] = []
    for t in texts:
        first = t.first_letter
        if first.isupper() or first.islower():
            cased_start += 1
            if first.islower():
                lower_start += 1
                if t.lines:
                    start, end = t.lines[0]
                    occurrences.append((t, start, min(end, start + 60)))
        if t.has_upper or t.has_lower:
            cased += 1
            all_lower += not t.has_upper
        words += len(t.words)
        for start, end in t.spans:
            original = t.text[start:end]
            if len(original) >= 2 and original.isupper() and original.isalpha():
                caps[original] += 1
    return Capitalisation(
        _r(lower_start / cased_start) if cased_start else 0.0,
        _r(all_lower / cased) if cased else 0.0,
        _r(1000 * sum(caps.values()) / words) if words else 0.0,
        tuple(Term(w, _r(1000 * c / words)) for w, c in _ranked(caps)[:10]),
        _examples(occurrences, 3),
    )


def _emoji(texts: Sequence[_Text]) -> Emoji:
    counts: Counter[str] = Counter()
    where: dict[str, list[tuple[_Text, int, int]]] = defaultdict(list)
    using = 0
    for t in texts:
        using += bool(t.emoji)
        for emoji, start, end in t.emoji:
            counts[emoji] += 1
            if not where[emoji] or where[emoji][-1][0] is not t:
                where[emoji].append((t, start, end))
    top = tuple(
        EmojiUse(emoji, count, _examples(where[emoji], 2) if rank < 5 else ())
        for rank, (emoji, count) in enumerate(_ranked(counts)[:10])
    )
    n = len(texts) or 1
    return Emoji(_r(using / n), _r(sum(counts.values()) / n), top)


def greeting_of(text: str) -> tuple[str, int, int] | None:
    """The greeting a message opens with as (form, start, end), or None.

    The form keeps the greeting's words as written and puts "{name}" for a named addressee:
    "Hi Dana, can you" -> ("Hi {name},", 0, 9); "hey anyone?" -> ("hey", 0, 3).
    """
    t = _Text.read(0, text)
    return _greeting(t)


def _greeting(t: _Text) -> tuple[str, int, int] | None:
    if not t.lines:
        return None
    start, end = t.lines[0]
    line = t.text[start : min(end, start + 200)]
    match = _GREETING.match(line)
    if match:
        word = match.group("word")
        who = (match.group("who") or "").strip()
        tail = match.group("end")
        if tail is None:
            return word, start, start + len(word)
        if not who:
            return f"{word}{tail}", start, start + match.end()
        if all(part in _GENERIC_ADDRESSEES for part in who.lower().split()):
            return f"{word} {who}{tail}", start, start + match.end()
        if all(part[:1].isupper() for part in who.split()):
            return f"{word} {{name}}{tail}", start, start + match.end()
        # "hey measure twice, cut once": the words after the greeting are the message.
        return word, start, start + len(word)
    if len(t.lines) > 1:
        salutation = _SALUTATION.match(line)
        if salutation:
            who = salutation.group("who")
            generic = all(part in _GENERIC_ADDRESSEES for part in who.lower().split())
            addressee = who if generic else "{name}"
            separator = "" if salutation.group("end") == "," else " "
            return f"{addressee}{separator}{salutation.group('end')}", start, end
    return None


def sign_off_of(text: str) -> tuple[str, int, int] | None:
    """The sign-off a message of two or more lines closes with as (form, start, end).

    Forms as written, lines joined by a newline: "Best, Helen", "Thanks,\\nVince", "— R",
    "Cheers". A one-line message has none.
    """
    return _sign_off(_Text.read(0, text))


def _sign_off(t: _Text, recurring: frozenset[str] = frozenset()) -> tuple[str, int, int] | None:
    if len(t.lines) < 2:
        return None
    last_start, last_end = t.lines[-1]
    last = t.text[last_start:last_end]
    before_start, before_end = t.lines[-2]
    before = t.text[before_start:before_end]
    if len(last) > 60:
        return None
    if _NAME_LINE.match(last) and len(before) <= 40 and _CLOSING_LINE.match(before):
        closing = _CLOSING_LINE.match(before)
        if closing and not closing.group("name"):
            return f"{before}\n{last}", before_start, last_end
    if _CLOSING_LINE.match(last) or _DASH_NAME.match(last):
        return last, last_start, last_end
    if _NAME_LINE.match(last) or last in recurring:
        return last, last_start, last_end
    return None


def _recurring_last_lines(texts: Sequence[_Text]) -> frozenset[str]:
    """Short closing lines that end many messages: a sign-off in the writer's own words."""
    lasts = Counter(t.line(-1) for t in texts if len(t.lines) >= 2)
    needed = max(3, math.ceil(0.02 * sum(lasts.values())))
    return frozenset(
        line
        for line, count in lasts.items()
        if count >= needed
        and len(line) <= 40
        and len(line.split()) <= 5
        and not line.endswith("?")
        and any(c.isalpha() for c in line)
    )


def _habits(
    texts: Sequence[_Text], find: Callable[[_Text], tuple[str, int, int] | None]
) -> tuple[Habits, list[tuple[int, int] | None]]:
    """The forms `find` sees, commonest first, and the span it found in each text."""
    by_key: dict[str, list[tuple[_Text, int, int, str]]] = defaultdict(list)
    spans: list[tuple[int, int] | None] = []
    for t in texts:
        found = find(t)
        spans.append(found[1:] if found is not None else None)
        if found is not None:
            form, start, end = found
            by_key[" ".join(form.lower().split())].append((t, start, end, form))
    n = len(texts) or 1
    forms = []
    for _key, hits in sorted(by_key.items(), key=lambda kv: (-len(kv[1]), kv[0])):
        if len(hits) < 2 and len(texts) > 3:
            continue
        written = _ranked(Counter(h[3] for h in hits))[0][0]
        forms.append(
            Habit(
                written,
                len(hits),
                _r(len(hits) / n),
                _examples([(h[0], h[1], h[2]) for h in hits]),
            )
        )
        if len(forms) == 6:
            break
    with_habit = sum(1 for span in spans if span is not None)
    return Habits(_r(with_habit / n), tuple(forms)), spans


def formality(text: str) -> float:
    """A message's formality in [0, 1]: 0.5 neutral, lower casual, higher formal.

    A heuristic, English-leaning: casual are lower-case starts, all-lower-case messages,
    contractions, chat words ("hey", "lol", "btw"), emoji and "!!"; formal are formal words
    ("regards", "therefore", "kindly"), long words and long sentences.
    """
    return _formality(_Text.read(0, text))


def _formality(t: _Text) -> float:
    if not t.words:
        return 0.5
    score = 0.0
    if t.first_letter.islower():
        score -= 1.0
    elif t.first_letter.isupper():
        score += 0.3
    if t.has_lower and not t.has_upper:
        score -= 0.7
    score -= 0.4 * min(2, sum(1 for w in t.words if "'" in w or "’" in w))
    score -= 0.8 * min(2, sum(1 for w in t.words if w in _INFORMAL_WORDS))
    score += 0.8 * min(2, sum(1 for w in t.words if w in _FORMAL_WORDS))
    if t.emoji:
        score -= 0.8
    if "!!" in t.masked or "?!" in t.masked:
        score -= 0.6
    elif "!" in t.masked:
        score -= 0.3
    mean_word = sum(len(w) for w in t.words) / len(t.words)
    score += max(-1.0, min(1.0, (mean_word - 4.5) / 1.5))
    if t.sentences:
        score += max(-0.5, min(0.8, (sum(t.sentences) / len(t.sentences) - 12) / 12))
    return 1 / (1 + math.exp(-score))


def _language_of(t: _Text) -> str:
    han = len(_HAN.findall(t.masked))
    kana = len(_KANA.findall(t.masked))
    hangul = len(_HANGUL.findall(t.masked))
    latin_words = sum(1 for w in t.words if _LATIN_LETTER.match(w))
    if kana >= 2 and kana + han >= latin_words:
        return "ja"
    if hangul >= 2 and hangul >= latin_words:
        return "ko"
    if han >= 2 and han >= latin_words:
        return "zh"
    scores = dict.fromkeys(LANGUAGE_WORDS, 0)
    for word in t.words:
        for lang in _LANGUAGES_OF.get(word, ()):
            scores[lang] += 1
    ranked = sorted(scores.items(), key=lambda kv: (-kv[1], kv[0]))
    best, score = ranked[0]
    if score >= 2 and score > ranked[1][1]:
        return best
    return ""


def _languages(texts: Sequence[_Text]) -> Languages:
    n = len(texts) or 1
    guesses = [_language_of(t) for t in texts]
    counted = Counter(g for g in guesses if g)
    known = sum(counted.values())
    languages = tuple(Share(lang, _r(c / known)) for lang, c in _ranked(counted))
    primary = languages[0].name if languages else ""
    scripts = tuple(
        Share(name, _r(share))
        for name, pattern in SCRIPTS
        if (share := sum(1 for t in texts if pattern.search(t.masked)) / n) > 0
    )
    cjk = next((s.share for s in scripts if s.name == "cjk"), 0.0)
    others: list[tuple[_Text, int, int]] = []
    for t, guess in zip(texts, guesses, strict=True):
        if guess and guess != primary and t.lines:
            start, end = t.lines[0]
            others.append((t, start, end))
    return Languages(cjk, primary, languages, scripts, _examples(others, 3))


def _latency(writings: Sequence[Writing]) -> Latency:
    delays = []
    for w in writings:
        if w.replying_to_at is None:
            continue
        seconds = (_aware(w.created_at) - _aware(w.replying_to_at)).total_seconds()
        if seconds >= 0 and math.isfinite(seconds):
            delays.append(seconds)
    return Latency(_summary(delays))


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _activity(writings: Sequence[Writing]) -> Activity:
    hours = [0] * 24
    weekdays = [0] * 7
    for w in writings:
        moment = _aware(w.created_at).astimezone(UTC)
        hours[moment.hour] += 1
        weekdays[moment.weekday()] += 1
    return Activity(tuple(hours), tuple(weekdays))


def _audiences(
    writings: Sequence[Writing],
    texts: Sequence[_Text],
    formal: Sequence[float],
    greeted: Sequence[bool],
) -> tuple[AudienceTone, ...]:
    exclaims = [("!" in t.masked) for t in texts]
    result = []
    for audience in AUDIENCES:
        inside = [i for i, w in enumerate(writings) if w.addressed_to == audience]
        outside = [i for i, w in enumerate(writings) if w.addressed_to != audience]
        if len(inside) < MIN_AUDIENCE_MESSAGES:
            continue

        def stats(group: list[int]) -> tuple[float, float, float, float]:
            if not group:
                return (0.0, 0.5, 0.0, 0.0)
            n = len(group)
            return (
                sum(len(texts[i].words) for i in group) / n,
                sum(formal[i] for i in group) / n,
                sum(greeted[i] for i in group) / n,
                sum(exclaims[i] for i in group) / n,
            )

        words, form, greet, excl = stats(inside)
        shift = _shift(audience, stats(inside), stats(outside) if outside else None)
        ordered = sorted(inside, key=lambda i: (-formal[i], i))
        occurrences = [(texts[i], *texts[i].lines[0]) for i in ordered if texts[i].lines]
        result.append(
            AudienceTone(
                audience,
                len(inside),
                _r(words, 2),
                _r(form),
                _r(greet),
                _r(excl),
                shift,
                _examples(occurrences[:10], 2),
            )
        )
    return tuple(result)


def _shift(
    audience: str,
    inside: tuple[float, float, float, float],
    outside: tuple[float, float, float, float] | None,
) -> str:
    who = {"manager": "To their manager", "report": "To their reports", "peer": "To peers"}[
        audience
    ]
    if outside is None:
        return f"{who}: all their messages with a known audience go here."
    words, form, greet, excl = inside
    o_words, o_form, o_greet, o_excl = outside
    notes = []
    if o_words and words >= 1.3 * o_words:
        notes.append(f"longer ({words:.0f} vs {o_words:.0f} words)")
    elif words and words <= o_words / 1.3:
        notes.append(f"shorter ({words:.0f} vs {o_words:.0f} words)")
    if form - o_form >= 0.08:
        notes.append(f"more formal ({form:.2f} vs {o_form:.2f})")
    elif o_form - form >= 0.08:
        notes.append(f"more casual ({form:.2f} vs {o_form:.2f})")
    if greet - o_greet >= 0.15:
        notes.append(f"greets more often ({greet:.0%} vs {o_greet:.0%})")
    elif o_greet - greet >= 0.15:
        notes.append(f"greets less often ({greet:.0%} vs {o_greet:.0%})")
    if excl - o_excl >= 0.15:
        notes.append(f"more exclamation marks ({excl:.0%} vs {o_excl:.0%} of messages)")
    elif o_excl - excl >= 0.15:
        notes.append(f"fewer exclamation marks ({excl:.0%} vs {o_excl:.0%} of messages)")
    if not notes:
        return f"{who}: no marked shift from the rest of their messages."
    return f"{who}: " + ", ".join(notes) + " than to others."


# -- pet phrases ----------------------------------------------------------------------------

_HASH_STEP = np.uint64(0x100000001B3)
_U64 = npt.NDArray[np.uint64]


def _token_hash(token: str, cache: dict[str, int]) -> int:
    value = cache.get(token)
    if value is None:
        digest = hashlib.blake2b(
            token.encode("utf-8", "surrogatepass"), digest_size=8, person=b"style-tok"
        ).digest()
        value = cache[token] = int.from_bytes(digest, "little")
    return value


@dataclass
class _Grams:
    """Word n-grams of many texts, hashed: for each n, hash, text index and first token."""

    tokens: list[str]
    owner: npt.NDArray[np.int64]  # text index of each token
    by_n: dict[int, tuple[_U64, npt.NDArray[np.int64]]]  # n -> (hashes, start positions)
    # CJK tokens (single characters) before each position: len(tokens) + 1 entries.
    cjk_before: npt.NDArray[np.int64] = field(default_factory=lambda: np.zeros(1, np.int64))

    def units(self, starts: npt.NDArray[np.int64], n: int) -> npt.NDArray[np.int64]:
        """Length in words of the n-grams starting at `starts` (see `_units`)."""
        cjk = self.cjk_before[starts + n] - self.cjk_before[starts]
        return n - cjk // 2


def _units(words: Sequence[str]) -> int:
    """A phrase's length in words, counting two CJK characters as one (a Chinese word is
    mostly two characters): English phrases keep their word count."""
    cjk = sum(1 for w in words if _CJK_CHAR.fullmatch(w))
    return len(words) - cjk // 2


def _grams(texts: Iterable[tuple[str, list[str], list[tuple[int, int]]]]) -> _Grams:
    """Hash the word n-grams (up to BOILERPLATE_N words, `_units`) of (masked text, words,
    spans): an n-gram holding CJK characters may have up to twice as many tokens.

    N-grams do not cross sentence punctuation or line breaks; at most PET_MAX_TOKENS words
    of each text are read.
    """
    cache: dict[str, int] = {}
    tokens: list[str] = []
    hashes: list[int] = []
    owners: list[int] = []
    segment_ids: list[int] = []
    segment = 0
    for index, (masked, words, spans) in enumerate(texts):
        bounds = [m.start() for m in _SEGMENT_SPLIT.finditer(masked)]
        first = segment  # this text's segments: first .. first + len(bounds), no other's
        segment += len(bounds) + 1
        for word, (start, _end) in zip(words[:PET_MAX_TOKENS], spans, strict=False):
            tokens.append(word)
            hashes.append(_token_hash(word, cache))
            owners.append(index)
            segment_ids.append(first + bisect.bisect(bounds, start))
    base = np.array(hashes, dtype=np.uint64)
    owner = np.array(owners, dtype=np.int64)
    seg = np.array(segment_ids, dtype=np.int64)
    is_cjk = np.fromiter((bool(_CJK_CHAR.fullmatch(w)) for w in tokens), bool, len(tokens))
    cjk_before = np.concatenate(([0], np.cumsum(is_cjk, dtype=np.int64)))
    grams = _Grams(tokens, owner, {}, cjk_before)
    # Without CJK, n-grams stop at BOILERPLATE_N tokens, as they always did.
    longest = 2 * BOILERPLATE_N if is_cjk.any() else BOILERPLATE_N
    rolling = base.copy()
    for n in range(2, longest + 1):
        if len(base) < n:
            break
        rolling = rolling[:-1] * _HASH_STEP + base[n - 1 :]
        starts = np.arange(len(rolling), dtype=np.int64)
        valid = seg[: len(rolling)] == seg[n - 1 :]
        if n > BOILERPLATE_N:
            valid &= grams.units(starts, n) <= BOILERPLATE_N
        grams.by_n[n] = (rolling[valid], starts[valid])
    return grams


def _document_frequency(
    grams: _Grams, n: int
) -> tuple[_U64, npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """For n-grams of length n: unique hashes, in how many texts each occurs, a first start."""
    if n not in grams.by_n:
        empty = np.array([], dtype=np.int64)
        return np.array([], dtype=np.uint64), empty, empty
    hashes, starts = grams.by_n[n]
    owners = grams.owner[starts]
    order = np.lexsort((starts, owners, hashes))
    hashes, owners, starts = hashes[order], owners[order], starts[order]
    first_in_text = np.ones(len(hashes), dtype=bool)
    first_in_text[1:] = (hashes[1:] != hashes[:-1]) | (owners[1:] != owners[:-1])
    hashes, starts = hashes[first_in_text], starts[first_in_text]
    unique, index, counts = np.unique(hashes, return_index=True, return_counts=True)
    return unique, counts.astype(np.int64), starts[index]


@dataclass(frozen=True, eq=False)
class PhraseBackground:
    """How many of `texts` other people's texts hold each word n-gram (2-6 words), hashed.

    N-grams found in fewer than two texts are not kept: to `share` they are as rare as unseen.
    """

    texts: int
    hashes: _U64  # ascending
    counts: npt.NDArray[np.int64]

    def share(self, hashes: _U64) -> npt.NDArray[np.float64]:
        """The smoothed share of background texts holding each n-gram hash."""
        found = np.zeros(len(hashes), dtype=np.float64)
        if len(self.hashes):
            at = np.searchsorted(self.hashes, hashes)
            at = np.minimum(at, len(self.hashes) - 1)
            hit = self.hashes[at] == hashes
            found[hit] = self.counts[at[hit]]
        return (found + 1.0) / (self.texts + 2.0)


def phrase_background(texts: Iterable[str]) -> PhraseBackground:
    """Count word n-grams over a sample of other people's texts, for pet-phrase rarity."""
    count = 0

    def read() -> Iterable[tuple[str, list[str], list[tuple[int, int]]]]:
        nonlocal count
        for text in texts:
            count += 1
            masked = _mask(text[:MAX_WRITING_CHARS])
            yield (masked, *_words(masked))

    grams = _grams(read())
    all_hashes = []
    all_counts = []
    for n in range(PET_MIN_N, 2 * PET_MAX_N + 1):
        unique, counts, starts = _document_frequency(grams, n)
        keep = (counts >= 2) & (grams.units(starts, n) <= PET_MAX_N)
        all_hashes.append(unique[keep])
        all_counts.append(counts[keep])
    hashes = np.concatenate(all_hashes) if all_hashes else np.array([], dtype=np.uint64)
    counts = np.concatenate(all_counts) if all_counts else np.array([], dtype=np.int64)
    order = np.argsort(hashes, kind="stable")
    return PhraseBackground(count, hashes[order], counts[order])


def _pet_phrases(
    texts: Sequence[_Text],
    background: PhraseBackground | None,
    habits: Sequence[Sequence[tuple[int, int] | None]] = (),
) -> tuple[PetPhrase, ...]:
    """Recurring phrases; the spans in `habits` (greetings, sign-offs) are left out."""
    n_texts = len(texts)
    if not n_texts:
        return ()

    def without_habits() -> Iterable[tuple[str, list[str], list[tuple[int, int]]]]:
        for index, t in enumerate(texts):
            skip = [span for spans in habits if (span := spans[index]) is not None]
            if not skip:
                yield t.masked, t.words, t.spans
                continue
            kept = [
                (word, span)
                for word, span in zip(t.words, t.spans, strict=True)
                if not any(a <= span[0] < b for a, b in skip)
            ]
            yield t.masked, [w for w, _ in kept], [span for _, span in kept]

    grams = _grams(without_habits())
    min_messages = max(PET_MIN_MESSAGES, math.ceil(PET_MIN_SHARE * n_texts))
    # candidate words tuple -> (messages, background share, hash, n)
    candidates: dict[tuple[str, ...], tuple[int, float | None, int, int]] = {}
    for n in range(PET_MIN_N, max(grams.by_n, default=0) + 1):
        unique, counts, starts = _document_frequency(grams, n)
        keep = counts >= min_messages
        if not keep.any():
            continue
        unique, counts, starts = unique[keep], counts[keep], starts[keep]
        # The background holds phrases of up to PET_MAX_N words (`_units`).
        short = grams.units(starts, n) <= PET_MAX_N
        shares = background.share(unique) if background is not None and short.any() else None
        for i in range(len(unique)):
            words = tuple(grams.tokens[starts[i] : starts[i] + n])
            if all(w in FUNCTION_WORDS for w in words) or any(_DIGIT.search(w) for w in words):
                continue
            if n < 3 and all(_CJK_CHAR.match(w) for w in words):
                continue  # two Chinese characters are usually one word, not a phrase
            bg = None
            if shares is not None and short[i]:
                bg = float(shares[i])
                if counts[i] / n_texts < PET_MIN_RATIO * bg:
                    continue
            candidates[words] = (int(counts[i]), bg, int(unique[i]), n)

    def score(words: tuple[str, ...]) -> float:
        # Used often and, with a background, much likelier here than there.
        messages, bg, _, _ = candidates[words]
        ratio = (messages / n_texts) / bg if bg else 1.0
        return messages * math.log2(1 + ratio)

    ranked = sorted(_maximal(candidates), key=lambda words: (-score(words), words))[:PET_LIMIT]
    result = []
    for words in ranked:
        messages, bg, hashed, n = candidates[words]
        occurrences = _occurrences(grams, texts, hashed, n)
        written = _ranked(Counter(t.text[s:e] for t, s, e in occurrences))
        phrase = _join(words)
        result.append(
            PetPhrase(
                phrase,
                written[0][0] if written else phrase,
                messages,
                _r(messages / n_texts),
                _r(bg, 6) if bg is not None else None,
                _examples(occurrences),
            )
        )
    return tuple(result)


def _join(words: Sequence[str]) -> str:
    text = ""
    for word in words:
        cjk = len(word) == 1 and _CJK_CHAR.match(word)
        previous_cjk = text and _CJK_CHAR.match(text[-1])
        text += word if (cjk and previous_cjk) or not text else " " + word
    return text


def _maximal(
    candidates: Mapping[tuple[str, ...], tuple[int, float | None, int, int]],
) -> list[tuple[str, ...]]:
    """Keep phrases that are not merely part of a longer one, nor a chance extension of one.

    Phrases longer than PET_MAX_N words (`_units`) only absorb the phrases inside them
    (boilerplate).
    """

    def parts(words: tuple[str, ...]) -> Iterable[tuple[str, ...]]:
        for size in range(PET_MIN_N, len(words)):
            for start in range(len(words) - size + 1):
                part = words[start : start + size]
                if part in candidates:
                    yield part

    absorbed: set[tuple[str, ...]] = set()
    for words in sorted(candidates, key=lambda w: (-len(w), w)):
        for part in parts(words):
            if candidates[words][0] >= 0.75 * candidates[part][0]:
                absorbed.add(part)
    kept = []
    for words in sorted(candidates):
        if words in absorbed or _units(words) > PET_MAX_N:
            continue
        messages = candidates[words][0]
        if any(
            messages < 0.3 * candidates[part][0] for part in parts(words) if part not in absorbed
        ):
            continue
        kept.append(words)
    return kept


def _occurrences(
    grams: _Grams, texts: Sequence[_Text], hashed: int, n: int
) -> list[tuple[_Text, int, int]]:
    """Where a phrase occurs, as spans of the original texts, in text order."""
    hashes, starts = grams.by_n[n]
    positions = starts[hashes == np.uint64(hashed)]
    found: list[tuple[_Text, int, int]] = []
    seen: set[int] = set()
    for position in positions.tolist():
        index = int(grams.owner[position])
        if index in seen:
            continue
        seen.add(index)
        span = _locate(texts[index], grams.tokens[position : position + n])
        if span is not None:
            found.append((texts[index], *span))
    return found


def _locate(text: _Text, words: Sequence[str]) -> tuple[int, int] | None:
    n = len(words)
    for i in range(len(text.words) - n + 1):
        if text.words[i : i + n] == list(words):
            return text.spans[i][0], text.spans[i + n - 1][1]
    return None


# -- the fingerprint ------------------------------------------------------------------------

_MIX_A = np.uint64(0x9E3779B97F4A7C15)
_MIX_B = np.uint64(0xBF58476D1CE4E5B9)
_DIM_MASK = np.uint64(FINGERPRINT_DIM - 1)
_START, _END = "\x02", "\x03"


def _fingerprint_text(masked: str) -> str:
    """The text as the fingerprint reads it: URLs and markup out, digits as 0, spaces tidied."""
    text = _DIGIT.sub("0", masked)
    text = _SPACES.sub(" ", text)
    text = _BLANK_LINES.sub("\n\n", text)
    return text.strip()


def _char_buckets(texts: Sequence[str]) -> list[Counter[int]]:
    """Bucket counts of character 1- to 4-grams, each text between start and end marks."""
    joined = "".join(_START + t + _END for t in texts)
    codes = np.frombuffer(joined.encode("utf-32-le", "surrogatepass"), dtype=np.uint32).astype(
        np.uint64
    )
    lengths = np.array([len(t) + 2 for t in texts], dtype=np.int64)
    owner = np.repeat(np.arange(len(texts), dtype=np.int64), lengths)
    result = []
    rolling = codes.copy()
    for n in range(1, 5):
        if n > 1:
            rolling = rolling[:-1] * np.uint64(0x110000) + codes[n - 1 :]
        valid = owner[: len(rolling)] == owner[n - 1 :]
        mixed = (rolling[valid] + np.uint64(n)) * _MIX_A
        mixed ^= mixed >> np.uint64(29)
        mixed *= _MIX_B
        mixed ^= mixed >> np.uint64(32)
        buckets = (mixed & _DIM_MASK).astype(np.int64)
        counts = np.bincount(buckets, minlength=0)
        nonzero = np.flatnonzero(counts)
        result.append(Counter(dict(zip(nonzero.tolist(), counts[nonzero].tolist(), strict=True))))
    return result


def _word_bucket(family: str, token: str, cache: dict[str, int]) -> int:
    return _token_hash(family + "\x1f" + token, cache) & (FINGERPRINT_DIM - 1)


def _edge_tokens(first: list[str], last: list[str], lines: int) -> list[str]:
    """Tokens for how a message opens and closes: its first and last two words, its lines."""
    tokens = [f"F:{w}" for w in first[:1]] + [f"L:{w}" for w in last[-1:]]
    if first:
        tokens.append("F2:" + " ".join(first))
    if last:
        tokens.append("L2:" + " ".join(last))
    tokens.append(f"NL:{min(lines, 6)}")
    return tokens


def _text_features(prepared: Sequence[str]) -> dict[str, Counter[int]]:
    """Bucket counts per family over texts prepared by `_fingerprint_text`."""
    prepared = [t for t in prepared if t]
    families: dict[str, Counter[int]] = {name: Counter() for name in FAMILIES}
    if not prepared:
        return families
    for name, counts in zip(FAMILIES[:4], _char_buckets(prepared), strict=True):
        families[name] = counts
    cache: dict[str, int] = {}
    word_tokens: Counter[str] = Counter()
    edge_tokens: Counter[str] = Counter()
    for text in prepared:
        word_tokens.update(w.lower() for w in _WORD.findall(text))
        lines = [line for line in text.split("\n") if line.strip()]
        first = next((w for w in (_WORD.findall(x) for x in lines) if w), [])
        last = next((w for w in (_WORD.findall(x) for x in reversed(lines)) if w), [])
        edge_tokens.update(
            _edge_tokens([w.lower() for w in first[:2]], [w.lower() for w in last[-2:]], len(lines))
        )
    for family, tokens in (("word", word_tokens), ("edge", edge_tokens)):
        counter: Counter[int] = Counter()
        for token, count in tokens.items():
            counter[_word_bucket(family, token, cache)] += count
        families[family] = counter
    return families


def _fingerprint(prepared: Sequence[str]) -> Fingerprint:
    families = _text_features(prepared)
    kept = []
    for name in FAMILIES:
        top = sorted(families[name].items(), key=lambda kv: (-kv[1], kv[0]))[:FINGERPRINT_KEEP]
        top.sort()
        kept.append(FeatureCounts(name, tuple(i for i, _ in top), tuple(c for _, c in top)))
    return Fingerprint(FINGERPRINT_VERSION, tuple(kept))


def _char_ngrams(prepared: Sequence[str]) -> tuple[Term, ...]:
    """The commonest lower-cased character 3-grams that are printable and not all space."""
    texts = [t.lower() for t in prepared if len(t) >= 3]
    chars = sum(len(t) for t in texts)
    if not chars:
        return ()
    joined = "\x00".join(texts)
    codes = np.frombuffer(joined.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
    wide = codes.astype(np.uint64)
    packed = (wide[:-2] << np.uint64(42)) | (wide[1:-1] << np.uint64(21)) | wide[2:]
    no_separator = (codes[:-2] != 0) & (codes[1:-1] != 0) & (codes[2:] != 0)
    grams, counts = np.unique(packed[no_separator], return_counts=True)
    order = np.lexsort((grams, -counts))
    result = []
    mask = np.uint64((1 << 21) - 1)
    for index in order.tolist():
        value = grams[index]
        gram = "".join(chr(int((value >> np.uint64(shift)) & mask)) for shift in (42, 21, 0))
        if gram.strip() and gram.isprintable():
            result.append(Term(gram, _r(1000 * int(counts[index]) / chars)))
            if len(result) == 20:
                break
    return tuple(result)


# -- the profile, put together --------------------------------------------------------------


def style_profile(
    writings: Sequence[Writing], *, background: PhraseBackground | None = None
) -> StyleProfile:
    """Measure how the author of `writings` writes (module docstring: guarantees).

    Reads at most MAX_WRITINGS writings, evenly spaced in time when there are more.
    `background` (from `phrase_background` over other people's texts) keeps phrases that
    everyone uses out of `pet_phrases`; without it, only phrases made of function words are.
    """
    ordered = sorted(writings, key=lambda w: (_aware(w.created_at), w.item_id, w.text))
    if len(ordered) > MAX_WRITINGS:
        step = len(ordered) / MAX_WRITINGS
        ordered = [ordered[int(i * step)] for i in range(MAX_WRITINGS)]
    texts = [_Text.read(w.item_id, w.text) for w in ordered]
    prepared = [_fingerprint_text(t.masked) for t in texts]
    total_words = sum(len(t.words) for t in texts)
    greetings, greeted = _habits(texts, _greeting)
    recurring = _recurring_last_lines(texts)
    sign_offs, signed = _habits(texts, lambda t: _sign_off(t, recurring))
    formal = [_formality(t) for t in texts]
    return StyleProfile(
        version=PROFILE_VERSION,
        writings=len(texts),
        writings_total=len(writings),
        words=total_words,
        length=_length(texts),
        vocabulary=_vocabulary(texts),
        function_words=_function_words(texts, total_words or 1),
        char_ngrams=_char_ngrams(prepared),
        punctuation=_punctuation(texts),
        capitalisation=_capitalisation(texts),
        emoji=_emoji(texts),
        greetings=greetings,
        sign_offs=sign_offs,
        pet_phrases=_pet_phrases(texts, background, (greeted, signed)),
        formality=_r(sum(formal) / len(formal)) if formal else 0.5,
        languages=_languages(texts),
        latency=_latency(ordered),
        activity=_activity(ordered),
        audiences=_audiences(ordered, texts, formal, [span is not None for span in greeted]),
        fingerprint=_fingerprint(prepared),
    )


# -- matching -------------------------------------------------------------------------------


class EmptyText(ValueError):
    """The text to match has nothing but whitespace and control characters."""


class IncompatibleProfile(ValueError):
    """A profile's fingerprint was made by another version of this module: rebuild it."""


@dataclass(frozen=True)
class StyleMatch:
    key: str
    score: float  # in [0, 1]; see the module docstring


class StyleMatcher:
    """Ranks profiles by how closely a text matches each one's style.

    Memory: about 8 bytes per stored fingerprint entry (at most 6 x FINGERPRINT_KEEP per
    profile), so about 40 MB for 1,000 large profiles.
    """

    def __init__(
        self,
        keys: list[str],
        idf: npt.NDArray[np.float64],
        pointers: npt.NDArray[np.int64],
        rows: npt.NDArray[np.int32],
        values: npt.NDArray[np.float32],
    ) -> None:
        self.keys = keys
        self._idf = idf
        self._pointers = pointers
        self._rows = rows
        self._values = values

    @classmethod
    def from_profiles(cls, profiles: Mapping[str, StyleProfile]) -> StyleMatcher:
        """Build from profiles by key.

        Raises IncompatibleProfile if a profile's fingerprint is of another version.
        """
        keys = sorted(profiles)
        n_families = len(FAMILIES)
        size = n_families * FINGERPRINT_DIM
        indices: list[int] = []
        counts: list[int] = []
        lengths: list[int] = []
        groups: list[int] = []  # row * n_families + family, per (profile, family) present
        for row, key in enumerate(keys):
            fingerprint = profiles[key].fingerprint
            if fingerprint.version != FINGERPRINT_VERSION:
                raise IncompatibleProfile(
                    f"profile {key!r} has fingerprint version {fingerprint.version}, "
                    f"this matcher reads {FINGERPRINT_VERSION}"
                )
            for family in fingerprint.families:
                if family.family not in FAMILIES or not family.counts:
                    continue
                indices.extend(family.indices)
                counts.extend(family.counts)
                lengths.append(len(family.counts))
                groups.append(row * n_families + FAMILIES.index(family.family))
        group_of = np.repeat(np.asarray(groups, dtype=np.int64), lengths)
        rows = group_of // n_families
        cols = np.asarray(indices, dtype=np.int64) + (group_of % n_families) * FINGERPRINT_DIM
        raw = np.asarray(counts, dtype=np.float64)
        totals = np.bincount(group_of, weights=raw, minlength=len(keys) * n_families)
        vals = np.sqrt(raw / np.where(totals[group_of] > 0, totals[group_of], 1.0))
        df = np.bincount(cols, minlength=size).astype(np.float64)
        idf = (np.log((1 + len(keys)) / (1 + df)) + 1) ** IDF_POWER
        vals = vals * idf[cols]
        norms = np.sqrt(
            np.bincount(group_of, weights=vals * vals, minlength=len(keys) * n_families)
        )
        vals = vals / np.where(norms[group_of] > 0, norms[group_of], 1.0)
        # Rows ascend already, so a stable sort by column keeps each column's rows in order.
        order = np.argsort(cols, kind="stable")
        rows, cols, vals = rows[order], cols[order], vals[order]
        pointers = np.zeros(size + 1, dtype=np.int64)
        np.cumsum(np.bincount(cols, minlength=size), out=pointers[1:])
        return cls(keys, idf, pointers, rows.astype(np.int32), vals.astype(np.float32))

    def scores(self, text: str) -> npt.NDArray[np.float64]:
        """Score of `text` against every profile, in the order of `keys`; EmptyText if blank."""
        text = text[:MAX_MATCH_CHARS]
        if not any(c.isprintable() and not c.isspace() for c in text):
            raise EmptyText("the text to match is empty")
        families = _text_features([_fingerprint_text(_mask(text))])
        cols_parts = []
        vals_parts = []
        for f, name in enumerate(FAMILIES):
            counter = families[name]
            if not counter:
                continue
            buckets = np.fromiter(sorted(counter), dtype=np.int64, count=len(counter))
            counts = np.array([counter[b] for b in buckets.tolist()], dtype=np.float64)
            cols = buckets + f * FINGERPRINT_DIM
            vals = np.sqrt(counts / counts.sum()) * self._idf[cols]
            norm = float(np.sqrt(np.dot(vals, vals)))
            if norm > 0:
                cols_parts.append(cols)
                vals_parts.append(vals / (norm * len(FAMILIES)))
        result = np.zeros(len(self.keys), dtype=np.float64)
        if not cols_parts or not self.keys:
            return result
        cols = np.concatenate(cols_parts)
        qvals = np.concatenate(vals_parts)
        starts = self._pointers[cols]
        lengths = self._pointers[cols + 1] - starts
        total = int(lengths.sum())
        if total:
            shift = np.repeat(starts - (np.cumsum(lengths) - lengths), lengths)
            index = shift + np.arange(total, dtype=np.int64)
            contributions = self._values[index].astype(np.float64) * np.repeat(qvals, lengths)
            summed = np.bincount(self._rows[index], weights=contributions, minlength=len(self.keys))
            result = summed.astype(np.float64)
        rounded: npt.NDArray[np.float64] = np.clip(result, 0.0, 1.0).round(6)
        return rounded

    def rank(self, text: str, limit: int = 10) -> list[StyleMatch]:
        """The `limit` best-matching keys, best first, ties by key; EmptyText if `text` is blank."""
        if limit < 0:
            raise ValueError("limit must not be negative")
        scores = self.scores(text)
        order = np.lexsort((np.arange(len(self.keys)), -scores))[:limit]
        return [StyleMatch(self.keys[i], float(scores[i])) for i in order.tolist()]

    def rank_many(self, texts: Iterable[str], limit: int = 10) -> list[list[StyleMatch]]:
        """`rank` for each text, in order; a blank text gets [] so one does not sink a batch."""
        results = []
        for text in texts:
            try:
                results.append(self.rank(text, limit))
            except EmptyText:
                results.append([])
        return results

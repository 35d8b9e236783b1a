"""Words and sentences of text that may be Chinese, Japanese or Korean, or mixed with English.

The one tokeniser every part that splits text shares (keyword index and queries, ask, who
knows, work terms, style analysis). Latin-script text keeps the behaviour it had: words are
runs of letters and digits, and the keyword index stems them (porter, 'english'). A run of CJK
characters has no spaces between its words, so it is cut into overlapping character *bigrams*
(as Lucene's CJKAnalyzer does): "支付网关" gives 支付 付网 网关. A word inside a sentence is
then found by its bigrams, in a row, whatever segmentation a dictionary would have chosen. No
dictionary, no model, no network: the same rule runs in Python (SQLite's index calls
`index_bigrams` through a registered function) and in SQL (PostgreSQL's
`colleague_cjk_bigrams`, knowledge/migrations/0014_cjk_keyword_index.py), and
tests/knowledge/test_text.py holds the two equal.

Everything here is total: any string is accepted and nothing raises.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

# Han (with the compatibility and supplementary planes), kana, hangul syllables, and the
# ideographic iteration mark and zero. The PostgreSQL function uses the same class.
CJK_CLASS = (
    "\u3005\u3007\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff"
    "\U00020000-\U0002fa1f"
)
CJK_RUN = re.compile(f"[{CJK_CLASS}]+")
_CJK_CHAR = re.compile(f"[{CJK_CLASS}]")
# A word outside CJK: letters and digits (underscore excluded), as `\w` without CJK.
_LATIN_WORD = re.compile(f"[^\\W_{CJK_CLASS}]+")

# Single characters that are grammar, not subject, in Chinese questions and chat: a run is
# cut at them before it becomes query terms, so "支付网关的密钥" asks for 支付网关 and 密钥.
# The index keeps every bigram (a word holding one of them, 目的, is still found).
STOP_CHARS = frozenset("的了吗呢吧啊呀嘛哦哈嗯么谁请和与及或是在有把被给对")

#: A CJK query word up to this many characters is matched as one phrase of its bigrams (the
#: word itself, inside any sentence); a longer run, as any of its bigrams (ranked by how many).
PHRASE_CHARS = 4

# Chinese words of how something is put, not of what it is about: left out of queries and of
# the terms matching compares, as English stop words are.
CJK_STOPWORDS = frozenset(
    """
    知道 什么 怎么 怎样 如何 为什么 哪里 哪个 哪些 是否 可以 能否 一下 一个 这个 那个 我们
    你们 他们 她们 大家 现在 谢谢 请问 有人 没有 还是 就是 但是 所以 因为 如果 已经 时候 负责
    懂得 了解 清楚 熟悉
    """.split()
)

# Sentence ends: Latin ones need the space after them ("e.g. this" and "1.5" go on);
# Chinese and full-width ones end a sentence where they stand, with any closing quote or
# bracket that follows them.
_CLOSERS = "”’」』）)】》\"'"
_FULL_STOP = re.compile(rf"(?:[。！？；]+|…{{2,}})[{_CLOSERS}]*")
_LATIN_STOP = re.compile(r"(?<=[.!?])\s+")
_STOP_CHAR = re.compile("[。！？；…]")  # a quick first look for _FULL_STOP


def has_cjk(text: str) -> bool:
    """Whether `text` holds a CJK character."""
    return not text.isascii() and _CJK_CHAR.search(text) is not None  # isascii(): O(1)


def is_cjk(char: str) -> bool:
    """Whether `char` (one character) is CJK."""
    return len(char) == 1 and _CJK_CHAR.match(char) is not None


def bigrams(run: str) -> list[str]:
    """Overlapping character pairs of `run`; a single character stands alone."""
    if len(run) < 2:
        return [run] if run else []
    return [run[i : i + 2] for i in range(len(run) - 1)]


def index_bigrams(text: str | None) -> str:
    """What the CJK keyword index holds of `text`, space-separated ("" for text without CJK):
    the bigrams of every CJK run, then the run's last character alone, so that every CJK
    character starts a token (a one-character query is a prefix query). Equal to
    PostgreSQL's colleague_cjk_bigrams(text)."""
    if not text:
        return ""
    return " ".join(token for run in CJK_RUN.findall(text) for token in _index_tokens(run))


def _index_tokens(run: str) -> list[str]:
    return [*bigrams(run), run[-1]] if len(run) >= 2 else [run]


@dataclass(frozen=True)
class Token:
    """A word of a text and where it is: `text[start:end] == token.text`."""

    text: str
    start: int
    end: int
    cjk: bool


def tokens(text: str) -> Iterator[Token]:
    """The words of `text` in order: Latin-script words as they are, CJK runs as bigrams.

    Offsets point into `text`, so `text[t.start:t.end] == t.text` for every token.
    """
    position = 0
    for run in CJK_RUN.finditer(text):
        for word in _LATIN_WORD.finditer(text, position, run.start()):
            yield Token(word.group(), word.start(), word.end(), False)
        for i, pair in enumerate(bigrams(run.group())):
            yield Token(pair, run.start() + i, run.start() + i + len(pair), True)
        position = run.end()
    for word in _LATIN_WORD.finditer(text, position):
        yield Token(word.group(), word.start(), word.end(), False)


def words(text: str) -> list[str]:
    """The words of `text`, lower-cased (CJK as bigrams)."""
    return [t.text.lower() for t in tokens(text)]


def cjk_segments(run: str) -> list[str]:
    """A CJK run cut at STOP_CHARS and CJK_STOPWORDS, the pieces left (single characters
    included): "谁知道支付网关的密钥" gives 支付网关 and 密钥."""
    out: list[str] = []
    piece: list[str] = []
    i = 0
    while i < len(run):
        cut = next((n for n in (3, 2) if run[i : i + n] in CJK_STOPWORDS), 0)
        if not cut and run[i] in STOP_CHARS:
            cut = 1
        if cut:
            if piece:
                out.append("".join(piece))
            piece = []
            i += cut
        else:
            piece.append(run[i])
            i += 1
    if piece:
        out.append("".join(piece))
    return out


def script_pieces(text: str) -> list[tuple[bool, str]]:
    """`text` cut where CJK runs start and end: (is CJK, piece), in order, joining to `text`."""
    out: list[tuple[bool, str]] = []
    position = 0
    for run in CJK_RUN.finditer(text):
        if run.start() > position:
            out.append((False, text[position : run.start()]))
        out.append((True, run.group()))
        position = run.end()
    if position < len(text):
        out.append((False, text[position:]))
    return out


def cjk_units(run: str) -> list[tuple[str, ...]]:
    """The terms of a CJK run for matching, grouped as they must be found: a piece (see
    `cjk_segments`) up to PHRASE_CHARS characters is one group of its bigrams (all of them, as
    a word); each bigram of a longer piece is a group by itself. Lone characters are left out."""
    out: list[tuple[str, ...]] = []
    for segment in cjk_segments(run):
        if len(segment) < 2:
            continue
        pairs = tuple(dict.fromkeys(bigrams(segment)))
        if len(segment) <= PHRASE_CHARS:
            out.append(pairs)
        else:
            out.extend((pair,) for pair in pairs)
    return out


def word_count(text: str) -> int:
    """Words of `text` as `len(text.split())` counts them, except that a CJK character counts
    as a word (and a Latin word beside it in the same space-free stretch as another)."""
    if not has_cjk(text):
        return len(text.split())
    total = 0
    for chunk in text.split():
        if has_cjk(chunk):
            total += length(chunk)
        else:
            total += 1
    return total


def content_bigrams(text: str) -> list[str]:
    """Bigrams of the CJK runs of `text` cut at STOP_CHARS (grammar characters left out):
    the terms matching compares. Lone characters are left out."""
    return [
        pair
        for run in CJK_RUN.findall(text)
        for segment in cjk_segments(run)
        if len(segment) >= 2
        for pair in bigrams(segment)
    ]


def length(text: str) -> int:
    """How long `text` is in words: Latin-script words, plus one per CJK character (how
    Chinese text is measured)."""
    return sum(1 for _ in _length_tokens(text))


def _length_tokens(text: str) -> Iterator[Token]:
    position = 0
    for run in CJK_RUN.finditer(text):
        for word in _LATIN_WORD.finditer(text, position, run.start()):
            yield Token(word.group(), word.start(), word.end(), False)
        for i, char in enumerate(run.group()):
            yield Token(char, run.start() + i, run.start() + i + 1, True)
        position = run.end()
    for word in _LATIN_WORD.finditer(text, position):
        yield Token(word.group(), word.start(), word.end(), False)


def has_cjk_stop(text: str) -> bool:
    """Whether `text` holds a Chinese or full-width sentence end (。！？； or ……)."""
    return (
        not text.isascii()
        and _STOP_CHAR.search(text) is not None
        and _FULL_STOP.search(text) is not None
    )


def sentences(text: str) -> list[str]:
    """The sentences of one line or paragraph, stripped, none empty.

    Latin ". ! ?" end a sentence when white space follows (as before); Chinese and full-width
    "。！？；" and "……" end one where they stand, with a closing quote or bracket after them.
    """
    if not has_cjk_stop(text):  # no Chinese sentence end: the Latin rule alone
        return [s.strip() for s in _LATIN_STOP.split(text) if s.strip()]
    out: list[str] = []
    for piece in _LATIN_STOP.split(text):
        start = 0
        for stop in _FULL_STOP.finditer(piece):
            out.append(piece[start : stop.end()])
            start = stop.end()
        out.append(piece[start:])
    return [s.strip() for s in out if s.strip()]


# Queries.


@dataclass(frozen=True)
class CjkMatch:
    """One way a CJK query word matches the bigram index: `tokens` in a row, or (`prefix`)
    any bigram starting with the single character in `tokens`."""

    tokens: tuple[str, ...]
    prefix: bool = False


def query_words(query: str) -> list[str]:
    """The words of a query, lower-cased, in order: Latin-script words as `\\w+` finds them
    (as before), and the pieces of CJK runs cut at STOP_CHARS."""
    out: list[str] = []
    for match in _QUERY_WORD.finditer(query.lower()):
        word = match.group()
        if has_cjk(word):
            out.extend(cjk_segments(word))
        else:
            out.append(word)
    return out


_QUERY_WORD = re.compile(f"[{CJK_CLASS}]+|(?:(?![{CJK_CLASS}])\\w)+")


def cjk_matches(word: str) -> list[CjkMatch]:
    """How a CJK query word (from `query_words`) is looked up in the bigram index; any of
    the matches finds it."""
    if not word:
        return []
    if len(word) == 1:
        return [CjkMatch((word,), prefix=True)]
    pairs = tuple(bigrams(word))
    if len(word) <= PHRASE_CHARS:
        return [CjkMatch(pairs)]
    return [CjkMatch((pair,)) for pair in dict.fromkeys(pairs)]

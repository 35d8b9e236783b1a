"""Find and mask third parties' personal data in captured text (issue 7, item 6).

Pure functions, no database. `mask_personal_data` replaces each email address, phone number,
national id, payment card number and IBAN it finds with a typed placeholder (`PLACEHOLDERS`),
except the values in `keep` (the author's own addresses: their text about themselves is theirs
to keep). It returns the masked text and how many of each kind were masked, never the values.

What counts as each kind, chosen to mask real data and leave ordinary numbers alone:

- **email**: `local@domain.tld`.
- **phone**: international numbers written with `+` (8 to 15 digits) or `00`; North American
  `(415) 555-0134`, `415-555-0134`, `415.555.0134`; trunk-0 national numbers written in groups
  (`020 7946 0958`, `030-1234567`); Chinese mobiles (`138 0013 8000`, `13800138000`). A bare run
  of digits otherwise is an id, not a phone; dates, times, versions and IP addresses never
  have the shapes above.
- **national id**: a US SSN written `123-45-6789` (valid area, group and serial), a UK National
  Insurance number (`AB 12 34 56 C`, valid prefix), a Chinese resident id (18 characters, a
  real birth date and the ISO 7064 MOD 11-2 check character).
- **card**: 13 to 19 digits, optionally in groups separated by spaces or dashes, starting as
  card numbers do (2 to 6) and passing the Luhn check.
- **iban**: a country code, two check digits and 11 to 30 letters or digits, optionally in
  groups of four, passing the ISO 13616 mod-97 check.

Masking is idempotent: placeholders hold no digit and no `@`, and masking repeats until nothing
more is replaced, so masking masked text changes nothing.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass, field
from datetime import date
from typing import Final, Literal

Kind = Literal["email", "phone", "national_id", "card", "iban"]

KINDS: Final[tuple[Kind, ...]] = ("email", "phone", "national_id", "card", "iban")
PLACEHOLDERS: Final[dict[Kind, str]] = {
    "email": "[email]",
    "phone": "[phone]",
    "national_id": "[national id]",
    "card": "[card]",
    "iban": "[iban]",
}
# Which kind wins where two candidates overlap: the more specific (checked) shape first.
_PRIORITY: Final[dict[Kind, int]] = {
    "email": 0,
    "iban": 1,
    "national_id": 2,
    "card": 3,
    "phone": 4,
}

# Text with neither a digit nor an @ holds nothing to mask: most messages, skipped cheaply.
_CANDIDATE = re.compile(r"[0-9@]")
# Every kind but email holds at least six digits in a row, single separators allowed ("12 34
# 56" of a NINO, "555-0134" of a phone): text without such a run skips those finders.
_DIGIT_RUN = re.compile(r"\d(?:[ \-.()]?\d){5,}")

# A candidate must stand alone: not glued to a word, an id ("INC-", "#"), a path or a version,
# nor to a placeholder (so masking twice finds nothing new next to one).
_BEFORE = r"(?<![\w\]@#/\\.+\-])"
_AFTER = r"(?![\w\[@]|[./\-:][\w\[])"

_EMAIL = re.compile(
    r"(?<![\w.%+\-])[A-Za-z0-9][A-Za-z0-9._%+\-]*@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*"
    r"\.[A-Za-z]{2,24}(?![\w@])"
)

_SEP = r"[ .\-]"
_PHONE_PATTERNS = (
    # International: +<country> then groups; 8 to 15 digits checked below.
    r"\+\d{1,3}(?:[ .\-]?\(?\d{1,5}\)?){2,6}",
    # International with the 00 prefix, written in groups.
    r"00[1-9]\d{0,2}(?: ?\(?\d{1,5}\)?){2,6}",
    # North American: (415) 555-0134, 415-555-0134, 415.555.0134, 1-415-555-0134.
    r"(?:1[ .\-])?\([2-9]\d{2}\) ?\d{3}[ .\-]\d{4}",
    r"(?:1[ .\-])?[2-9]\d{2}([ .\-])\d{3}\1\d{4}",
    # Trunk-0 national numbers in groups: 020 7946 0958, 07700 900123, 030-1234567.
    r"0[1-9]\d{1,4}[ \-]\d{3,8}(?:[ \-]\d{3,4})?",
    # Chinese mobiles: 138 0013 8000, 138-0013-8000, 13800138000.
    r"1[3-9]\d(?:([ \-])\d{4}\2\d{4}|\d{8})",
)
_PHONE = re.compile(_BEFORE + "(?:" + "|".join(_PHONE_PATTERNS) + ")" + _AFTER)

_SSN = re.compile(_BEFORE + r"(\d{3})-(\d{2})-(\d{4})" + _AFTER)
_NINO = re.compile(
    r"(?<![\w\]])([A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z]) ?\d{2} ?\d{2} ?\d{2} ?[A-D](?![\w\[])"
)
_NINO_BAD_PREFIXES = frozenset({"BG", "GB", "KN", "NK", "NT", "TN", "ZZ"})
_CHINA_ID = re.compile(_BEFORE + r"[1-8]\d{16}[\dXx]" + _AFTER)
_CHINA_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CHINA_CHECK = "10X98765432"

_CARD = re.compile(_BEFORE + r"[2-6]\d(?:[ \-]?\d){11,17}" + _AFTER)
_IBAN = re.compile(r"(?<![\w\]])[A-Z]{2}\d{2}(?: ?[A-Z0-9]){11,30}(?![\w\[])")


@dataclass(frozen=True)
class Found:
    """One piece of personal data in a text: its kind and where it is."""

    kind: Kind
    start: int
    end: int
    value: str


@dataclass(frozen=True)
class Masked:
    """A text with personal data masked, and how many of each kind were masked."""

    text: str
    counts: dict[str, int] = field(default_factory=dict)


def mask_personal_data(
    text: str, *, kinds: Collection[str] = KINDS, keep: Collection[str] = ()
) -> Masked:
    """Return `text` with every piece of personal data of `kinds` replaced by its placeholder.

    A piece whose value is in `keep` is left as it is: email addresses compare case-
    insensitively, phone numbers by their digits (normalise `keep` with `own_values`).
    """
    wanted = tuple(kind for kind in KINDS if kind in kinds)
    if not wanted or not _CANDIDATE.search(text):
        return Masked(text)
    counts: Counter[str] = Counter()
    kept: frozenset[str] | None = None  # normalised when first needed: most texts hold nothing
    while True:
        # Until nothing more is replaced: a piece next to one masked in this pass is judged
        # again beside its placeholder, so masking the result finds nothing new.
        replaced = 0
        pieces: list[str] = []
        at = 0
        for found in find_personal_data(text, kinds=wanted):
            if kept is None:
                kept = own_values(keep)
            if _normalised(found.kind, found.value) in kept:
                continue
            pieces.append(text[at : found.start])
            pieces.append(PLACEHOLDERS[found.kind])
            at = found.end
            counts[found.kind] += 1
            replaced += 1
        if not replaced:
            return Masked(text, dict(sorted(counts.items())))
        pieces.append(text[at:])
        text = "".join(pieces)


def find_personal_data(text: str, *, kinds: Collection[str] = KINDS) -> list[Found]:
    """Return the personal data of `kinds` in `text`, in order, none overlapping another.

    Where candidates of two kinds overlap, the more specific kind wins (`_PRIORITY`).
    """
    if not _CANDIDATE.search(text):
        return []
    digits = _DIGIT_RUN.search(text) is not None
    candidates = [
        found
        for kind, finder in _FINDERS.items()
        if kind in kinds and (digits or kind == "email")
        for found in finder(text)
    ]
    candidates.sort(key=lambda f: (_PRIORITY[f.kind], f.start, -(f.end - f.start)))
    chosen: list[Found] = []
    for candidate in candidates:
        if all(candidate.end <= c.start or candidate.start >= c.end for c in chosen):
            chosen.append(candidate)
    return sorted(chosen, key=lambda f: f.start)


def own_values(values: Collection[str]) -> frozenset[str]:
    """Normalise a person's own addresses and numbers for `mask_personal_data(keep=...)`."""
    normalised: set[str] = set()
    for value in values:
        value = value.strip()
        if not value:
            continue
        normalised.add(value.lower())
        digits = _digits(value)
        if len(digits) >= 7 and "@" not in value:
            normalised.add(digits)
    return frozenset(normalised)


def _normalised(kind: Kind, value: str) -> str:
    if kind == "email":
        return value.lower()
    if kind == "phone":
        return _digits(value)
    return value.lower()


def _digits(value: str) -> str:
    return "".join(ch for ch in value if ch.isdigit())


# Finders: one per kind, each yielding checked candidates.


def _emails(text: str) -> Iterator[Found]:
    if "@" not in text:
        return
    for match in _EMAIL.finditer(text):
        yield Found("email", match.start(), match.end(), match.group())


def _phones(text: str) -> Iterator[Found]:
    for match in _PHONE.finditer(text):
        value = match.group()
        digits = len(_digits(value))
        if value.startswith("+") and not 8 <= digits <= 15:
            continue
        if value.startswith("00") and not 10 <= digits <= 15:
            continue
        if value.startswith("0") and not value.startswith("00") and not 9 <= digits <= 12:
            continue
        if value.startswith("00") and _trunk_zero_after_country_code(value):
            continue
        yield Found("phone", match.start(), match.end(), value)


def _trunk_zero_after_country_code(value: str) -> bool:
    """True for "0044 0532 0130" (digit groups, not a phone): an international number drops
    the national 0. Only for the 00 prefix: after a "+", "+44 020 7946 0958" is a phone."""
    groups = [g for g in re.split(r"[ .\-]+", value) if g]
    return len(groups) > 1 and groups[1].startswith("0")


def _national_ids(text: str) -> Iterator[Found]:
    for match in _SSN.finditer(text):
        area, group, serial = match.groups()
        if area in ("000", "666") or area.startswith("9") or group == "00" or serial == "0000":
            continue
        yield Found("national_id", match.start(), match.end(), match.group())
    for match in _NINO.finditer(text):
        if match.group(1) not in _NINO_BAD_PREFIXES:
            yield Found("national_id", match.start(), match.end(), match.group())
    for match in _CHINA_ID.finditer(text):
        if is_china_resident_id(match.group()):
            yield Found("national_id", match.start(), match.end(), match.group())


def _cards(text: str) -> Iterator[Found]:
    for match in _CARD.finditer(text):
        digits = _digits(match.group())
        if 13 <= len(digits) <= 19 and luhn_valid(digits):
            yield Found("card", match.start(), match.end(), match.group())


def _ibans(text: str) -> Iterator[Found]:
    for match in _IBAN.finditer(text):
        value = match.group()
        # The greedy match may run on into following groups of capitals or digits: try the
        # longest prefix ending at a group boundary that passes the check.
        ends = [i for i in range(len(value), 14, -1) if i == len(value) or value[i] == " "]
        for end in ends:
            if iban_valid(value[:end]):
                yield Found("iban", match.start(), match.start() + end, value[:end])
                break


_FINDERS: Final[dict[Kind, Callable[[str], Iterator[Found]]]] = {
    "email": _emails,
    "phone": _phones,
    "national_id": _national_ids,
    "card": _cards,
    "iban": _ibans,
}


# Checks.


def luhn_valid(digits: str) -> bool:
    """Return True if the string of digits passes the Luhn (mod 10) check."""
    if not digits.isdigit():
        return False
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = int(char)
        if position % 2 == 1:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return total % 10 == 0


def iban_valid(value: str) -> bool:
    """Return True if `value` (spaces allowed) is 15 to 34 characters passing ISO 13616 mod 97."""
    compact = value.replace(" ", "").upper()
    if not 15 <= len(compact) <= 34 or not compact.isascii() or not compact.isalnum():
        return False
    if not (compact[:2].isalpha() and compact[2:4].isdigit()):
        return False
    rearranged = compact[4:] + compact[:4]
    number = "".join(str(int(ch, 36)) for ch in rearranged)
    return int(number) % 97 == 1


def is_china_resident_id(value: str) -> bool:
    """Return True for an 18-character Chinese resident id: a real birth date, a valid check."""
    if len(value) != 18 or not value[:17].isdigit():
        return False
    try:
        born = date(int(value[6:10]), int(value[10:12]), int(value[12:14]))
    except ValueError:
        return False
    if not 1900 <= born.year <= 2100:
        return False
    total = sum(int(d) * w for d, w in zip(value[:17], _CHINA_WEIGHTS, strict=True))
    return _CHINA_CHECK[total % 11] == value[17].upper()

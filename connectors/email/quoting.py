"""Tell the author's own words in a reply from what it quotes and from its signature.

Guarantees of `split_reply`: the returned body, quoted text and signature are made of the
input's lines (nothing invented), every input line ends up in exactly one of them, and the
function runs in time linear in the input (regular expressions only run on bounded text).

What counts as quoted, as mail clients write it (the fixtures of mailgun/talon show each):
- lines starting with ">" (any depth), and the attribution line just above them, e.g.
  "On Mon, Apr 2, 2012 at 6:26 PM, Megan <m@example.com> wrote:" (Gmail, Apple Mail,
  Thunderbird), "02.04.2012 14:20 ... написал:" (Android, wrapped over two lines),
  "26.06.2014, 14:41, "Alexander" <a@example.com>:" (Yandex);
- an "On ... wrote:" line followed by unquoted text: the original, pasted without ">";
- "-----Original Message-----" (Outlook, AOL), "----- Original Message -----" (Yahoo,
  Zimbra), forwarded-message markers, and an Outlook header block ("From: ... / Sent: ... /
  To: ... / Subject: ...", also in French, German, Dutch, Russian...): everything after them.
The signature starts at a line that is exactly "-- " or "--" (RFC 3676 §4.3), or at a mobile
sign-off such as "Sent from my iPhone".
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# How many lines an attribution may be wrapped over ("On ..., Name <\naddr> wrote:").
MAX_ATTRIBUTION_LINES = 3
MAX_ATTRIBUTION_CHARS = 400
# Patterns only ever see a line's first characters (stripped): markers, header fields and
# attributions are short, and a 20 MB line of spaces must not make a regex backtrack for
# minutes.
MAX_PROBE_CHARS = 1_000
# How far an Outlook header block may spread, and how many header lines make one.
HEADER_BLOCK_WINDOW = 6
HEADER_BLOCK_MIN_FIELDS = 3

_ORIGINAL_MARKER = re.compile(
    r"^[-_=*]{2,}\s*(?:original message|forwarded message|reply message"
    r"|ursprüngliche nachricht|weitergeleitete nachricht|message d'origine|message transféré"
    r"|mensaje original|mensaje reenviado|mensagem original|messaggio originale"
    r"|oorspronkelijk bericht|doorgestuurd bericht|ursprungligt meddelande"
    r"|исходное сообщение|пересылаемое сообщение|пересланное сообщение)\s*[-_=*]*\s*$",
    re.IGNORECASE,
)
_FORWARD_INTRO = re.compile(r"^begin forwarded message\s*:?$", re.IGNORECASE)
_SEPARATOR_LINE = re.compile(r"^[-_=]{5,}$")
_FIELD_NAMES = (
    "from|sent|date|to|cc|bcc|subject|reply-to"
    "|de|envoyé|à|objet|von|gesendet|an|betreff|datum|van|verzonden|aan|onderwerp"
    "|da|inviato|oggetto|enviado|para|asunto|assunto|från|skickat|ämne"
    "|от|отправлено|дата|кому|тема|копия"
)
_HEADER_FIELD = re.compile(rf"^[*_]{{0,2}}(?:{_FIELD_NAMES})[*_]{{0,2}}\s*:", re.IGNORECASE)
_FROM_FIELD = re.compile(r"^[*_]{0,2}(?:from|de|von|van|da|från|от)[*_]{0,2}\s*:", re.I)
_OPENER = re.compile(
    r"^(?:(?:on|le|am|el|em|op|il|den|på|w dniu|в)\s"
    r"|\d{1,4}[./-]\d{1,2}[./-]\d{1,4}"
    r"|(?:mon|tue|wed|thu|fri|sat|sun)[a-z]*,?\s)",
    re.IGNORECASE,
)
_WROTE = re.compile(
    r"\b(?:wrote|writes|schrieb|a écrit|escribió|escreveu|schreef|scrisse|skrev"
    r"|kirjoitti|napisał\w*|написал\w*|пишет)\b",
    re.IGNORECASE,
)
_DATE_OR_TIME = re.compile(r"\d{1,2}:\d{2}|\b(?:19|20)\d{2}\b")
_SIGNATURE_MARK = ("-- ", "--")
_SIGN_OFF = re.compile(
    r"^(?:sent from my \S.*|sent from (?:mail|outlook|yahoo mail|samsung)\b.*"
    r"|get outlook for \S.*|sent with sparrow\b.*|envoyé de mon \S.*"
    r"|von meinem \S.* gesendet|enviado desde mi \S.*|отправлено с \S.*)$",
    re.IGNORECASE,
)
_BLANK_RUNS = re.compile(r"\n{3,}")


@dataclass(frozen=True)
class ReplyParts:
    """A message body split into the author's words, what it quotes and the signature."""

    body: str
    quoted: str
    signature: str


def split_reply(text: str) -> ReplyParts:
    """Split a plain-text body (lines separated by "\\n") into body, quoted and signature."""
    lines = text.split("\n")
    probes = [line.strip()[:MAX_PROBE_CHARS] for line in lines]
    quoted = [probe.startswith(">") for probe in probes]
    cut = _cut_index(probes, quoted)
    _mark_attributions(probes, quoted, cut)
    own = [line.rstrip() for n, line in enumerate(lines[:cut]) if not quoted[n]]
    quoted_lines = [line for n, line in enumerate(lines[:cut]) if quoted[n]]
    quoted_lines.extend(lines[cut:])
    start = _signature_start(own)
    return ReplyParts(
        body=_tidy(own[:start]),
        quoted=_tidy(quoted_lines),
        signature=_tidy(own[start:]),
    )


def _tidy(lines: list[str]) -> str:
    return _BLANK_RUNS.sub("\n\n", "\n".join(lines).strip())


def _cut_index(probes: list[str], quoted: list[bool]) -> int:
    """Return where the forwarded or pasted original starts (len(probes) if nowhere)."""
    for n, line in enumerate(probes):
        if quoted[n] or not line:
            continue
        if _ORIGINAL_MARKER.match(line) or _FORWARD_INTRO.match(line):
            return n
        if _header_block_at(probes, n):
            # Outlook draws a line of underscores above the block: it belongs to the quote.
            before = _previous_nonblank(probes, n)
            if before is not None and _SEPARATOR_LINE.match(probes[before]):
                return before
            return n
        width = _attribution_width(probes, n, opener_required=True, strong=True)
        if width:
            following = _next_nonblank(probes, n + width)
            # Followed by ">" probes, the attribution is handled with them; otherwise the
            # original was pasted without quote marks and runs to the end.
            if following is None or not quoted[following]:
                return n
    return len(probes)


def _header_block_at(probes: list[str], start: int) -> bool:
    if not _HEADER_FIELD.match(probes[start]):
        return False
    window: list[str] = []
    for line in probes[start : start + HEADER_BLOCK_WINDOW]:
        if not line.strip():
            break
        window.append(line)
    fields = [line for line in window if _HEADER_FIELD.match(line)]
    return len(fields) >= HEADER_BLOCK_MIN_FIELDS and any(_FROM_FIELD.match(f) for f in fields)


def _attribution_width(
    probes: list[str], start: int, *, opener_required: bool, strong: bool = False
) -> int:
    """Return how many probes from `start` form an attribution ("On ... wrote:"), or 0."""
    if opener_required and not _OPENER.match(probes[start]):
        return 0
    for width in range(1, MAX_ATTRIBUTION_LINES + 1):
        chunk = probes[start : start + width]
        if len(chunk) < width or not chunk[-1].strip():
            return 0
        candidate = " ".join(chunk)
        if _is_attribution(candidate, strong=strong):
            return width
    return 0


def _is_attribution(candidate: str, *, strong: bool) -> bool:
    # Cheap checks first, so the regular expressions only ever see short text.
    if len(candidate) > MAX_ATTRIBUTION_CHARS or not candidate.rstrip().endswith(":"):
        return False
    if _WROTE.search(candidate):
        return True
    # Without a "wrote", only a line that starts like a date and names a time is one
    # (Yandex, Mail.ru); "Notes from the 12:30 meeting:" above a quote is the author's own.
    return not strong and bool(_OPENER.match(candidate) and _DATE_OR_TIME.search(candidate))


def _mark_attributions(probes: list[str], quoted: list[bool], cut: int) -> None:
    """Mark the attribution just above each run of ">" probes as quoted."""
    for n in range(min(cut, len(probes))):
        if not quoted[n] or (n > 0 and quoted[n - 1]):
            continue
        last = _previous_nonblank(probes, n)
        if last is None or quoted[last]:
            continue
        # The attribution is the end of the paragraph above: take the widest suffix that
        # starts like one ("On ...", a date), else the narrowest that reads like one.
        first_of_paragraph = last
        while (
            first_of_paragraph > 0
            and last - first_of_paragraph + 1 < MAX_ATTRIBUTION_LINES
            and probes[first_of_paragraph - 1].strip()
            and not quoted[first_of_paragraph - 1]
        ):
            first_of_paragraph -= 1
        chosen = 0
        for width in range(1, last - first_of_paragraph + 2):
            begin = last - width + 1
            candidate = " ".join(probes[begin : last + 1])
            if not _is_attribution(candidate, strong=False):
                continue
            if _OPENER.match(probes[begin]) or not chosen:
                chosen = width
        for index in range(last - chosen + 1, last + 1):
            quoted[index] = True


def _previous_nonblank(probes: list[str], index: int) -> int | None:
    n = index - 1
    while n >= 0 and not probes[n].strip():
        n -= 1
    return n if n >= 0 else None


def _next_nonblank(probes: list[str], index: int) -> int | None:
    n = index
    while n < len(probes) and not probes[n].strip():
        n += 1
    return n if n < len(probes) else None


def _signature_start(lines: list[str]) -> int:
    for n, line in enumerate(lines):
        if line in _SIGNATURE_MARK or _SIGN_OFF.match(line.strip()[:MAX_PROBE_CHARS]):
            return n
    return len(lines)

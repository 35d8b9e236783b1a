"""Read mail header values without trusting them.

Guarantees:
- Nothing returned contains CR, LF or any other control or line-separator character: a header
  injected through raw CR/LF or an RFC 2047 encoded word (`=?utf-8?q?a=0D=0ABcc:...?=`) can
  never be re-emitted (CVE-2024-6923, CVE-2026-1299).
- Addresses are found in the raw header, before encoded words are decoded, so an encoded
  display name cannot smuggle in a comma or an angle bracket (CVE-2019-16056); the list is
  split by an iterative tokenizer, because `email.utils.getaddresses` recurses on nested
  comments and groups and raises RecursionError on `((((...` or `a:a:a:...`.
- Bytes in an unknown or bogus charset (LookupError) fall back to UTF-8, then Latin-1: nothing
  here raises on hostile input.
"""

from __future__ import annotations

import base64
import binascii
import codecs
import hashlib
import re

# Longer ids cannot be stored (Item.external_id is 500 characters); they are hashed instead.
MAX_ID_CHARS = 500
MAX_TEXT_CHARS = 2_000
MAX_ADDRESS_CHARS = 254

_ASCII_NAMES = frozenset({"ascii", "us-ascii", "us_ascii", "646", "ansi_x3.4-1968"})
_FOLDING = re.compile(r"\r?\n(?=[ \t])|\r(?=[ \t])")
# C0 and C1 controls, DEL, Unicode line and paragraph separators, and lone surrogates.
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]+")
_NUL_AND_SURROGATES = re.compile("[\x00\ud800-\udfff]")
_ENCODED_WORD = re.compile(r"=\?([^?\s]{1,75})\?([bBqQ])\?([^?\s]*)\?=")
_ANGLE_ID = re.compile(r"<([^<>]*)>")
# An encoded word is one opaque token: a comma or bracket inside it never splits the list.
_ADDRESS_TOKEN = re.compile(
    r'=\?[^?\s]{1,75}\?[bBqQ]\?[^?\s]*\?=|\\.|["()<>,;:]|[^\\"()<>,;:=]+|=', re.DOTALL
)
_VALID_ADDRESS = re.compile(r'^[^\s@<>()\[\]\\,;:"]+@[\w-]+(?:\.[\w-]+)*$')
# Mailman's pipermail archives write "goran at domain.com (Göran)" instead of an address.
_PIPERMAIL = re.compile(
    r"^\s*([^\s@()<>\",;:]+) at ([A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+)\s*(\(.*\))?\s*$", re.DOTALL
)


def decode_bytes(data: bytes, charset: str | None) -> str:
    """Decode `data` in its declared `charset`; fall back to UTF-8, then Latin-1.

    A charset Python does not know (or that is not a text encoding) is ignored. Text declared
    ASCII is tried as UTF-8 first: real mail often carries 8-bit text under that label. Text
    that is not valid in its declared charset is decoded with replacement characters, except
    invalid "UTF-8", which is nearly always Latin-1 mislabelled (perceval's
    `=?UTF-8?Q?Luc=eda?=`).
    """
    name = (charset or "").strip().strip('"').lower()
    if name and name not in _ASCII_NAMES:
        try:
            info = codecs.lookup(name)
            try:
                return data.decode(info.name)
            except UnicodeDecodeError:
                if info.name != "utf-8":
                    return data.decode(info.name, errors="replace")
        except (LookupError, UnicodeError, ValueError, TypeError):
            pass  # unknown, bogus or non-text codec: fall back below
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def clean_text(value: str) -> str:
    """Remove NUL and lone surrogates (PostgreSQL and UTF-8 refuse them); keep newlines."""
    return _NUL_AND_SURROGATES.sub("", value)


def single_line(value: str, *, limit: int = MAX_TEXT_CHARS) -> str:
    """Return `value` on one line: control characters become spaces, spaces are collapsed."""
    return " ".join(_UNSAFE.sub(" ", value).split())[:limit]


def raw_header_text(value: str) -> str:
    """Return a raw header value as text: unfolded, 8-bit bytes decoded, encoded words kept.

    `email` parses bytes as ASCII with surrogate escapes; undo that and decode the bytes as
    UTF-8, else Latin-1 (unlabelled 8-bit headers are common: perceval's mbox files, Enron).
    """
    unfolded = _FOLDING.sub("", value)
    try:
        data = unfolded.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        return clean_text(unfolded)
    return decode_bytes(data, None)


def decode_encoded_words(value: str) -> str:
    """Decode RFC 2047 encoded words; whitespace between two adjacent words is dropped."""
    out: list[str] = []
    position = 0
    previous_was_word = False
    for match in _ENCODED_WORD.finditer(value):
        between = value[position : match.start()]
        if not (previous_was_word and not between.strip()):
            out.append(between)
        out.append(_decode_word(match.group(1), match.group(2), match.group(3), match.group()))
        position = match.end()
        previous_was_word = True
    out.append(value[position:])
    return "".join(out)


def _decode_word(charset: str, encoding: str, payload: str, original: str) -> str:
    charset = charset.split("*", 1)[0]  # RFC 2231 language suffix: "utf-8*en"
    try:
        if encoding in "bB":
            data = base64.b64decode(payload + "=" * (-len(payload) % 4))
        else:
            data = binascii.a2b_qp(payload.encode("ascii", "replace"), header=True)
    except (binascii.Error, ValueError):
        return original
    return decode_bytes(data, charset)


def header_text(value: str | None, *, limit: int = MAX_TEXT_CHARS) -> str:
    """Return a header's decoded text on one line (Subject, display names)."""
    if not value:
        return ""
    return single_line(decode_encoded_words(raw_header_text(value)), limit=limit)


def bounded_id(value: str) -> str:
    """Return an id short enough to store: longer ones become "sha256:<hex>"."""
    if len(value) <= MAX_ID_CHARS:
        return value
    return "sha256:" + hashlib.sha256(value.encode("utf-8", "replace")).hexdigest()


def message_ids(value: str | None) -> list[str]:
    """Return the message ids named in a header, without angle brackets, in order."""
    if not value:
        return []
    text = single_line(raw_header_text(value), limit=1_000_000)
    found = ["".join(m.split()) for m in _ANGLE_ID.findall(text)]
    if not found:
        found = text.split()
    return [bounded_id(ident) for ident in found if ident]


def is_address(value: str) -> bool:
    """Return True if `value` looks like a deliverable addr-spec (no quotes, no comments)."""
    return len(value) <= MAX_ADDRESS_CHARS and bool(_VALID_ADDRESS.match(value))


def parse_addresses(value: str | None) -> list[tuple[str, str]]:
    """Return (display name, lower-cased address) pairs of an address-list header.

    Entries without a valid address are left out; display names are decoded, on one line.
    """
    if not value:
        return []
    text = raw_header_text(value)
    pipermail = _PIPERMAIL.match(text)
    if pipermail:
        local, domain, comment = pipermail.groups()
        text = f"{local}@{domain} {comment or ''}"
    pairs: list[tuple[str, str]] = []
    for name, address in _split_address_list(text):
        address = single_line(address).lower()
        if is_address(address):
            pairs.append((header_text(name.strip().strip('"'), limit=200), address))
    return pairs


class _Mailbox:
    """The pieces of one entry of an address list, as the tokenizer finds them."""

    def __init__(self) -> None:
        self.phrase: list[str] = []  # display name or bare addr-spec, quotes removed
        self.raw: list[str] = []  # the same, quotes kept: a quoted local part stays invalid
        self.comments: list[str] = []
        self.angle: list[str] | None = None  # inside <...>
        self.address: str | None = None  # the first complete <...>

    def result(self) -> tuple[str, str] | None:
        if self.angle is not None and self.address is None:
            self.address = "".join(self.angle)  # an unclosed "<": take what is there
        if self.address is not None:
            address = self.address.rsplit(":", 1)[-1]  # drop an obsolete source route
            name = "".join(self.phrase).strip() or " ".join(self.comments).strip()
            return name, "".join(address.split())
        bare = "".join("".join(self.raw).split())
        if not bare:
            return None
        return " ".join(self.comments).strip(), bare


def _split_address_list(text: str) -> list[tuple[str, str]]:
    # An iterative scanner over RFC 5322 address lists: quoted strings, nested comments,
    # angle addresses and groups ("team: a@x, b@y;"), with no recursion at all.
    entries: list[tuple[str, str]] = []
    box = _Mailbox()
    in_quote = False
    comment_depth = 0
    comment: list[str] = []
    for match in _ADDRESS_TOKEN.finditer(text):
        piece = match.group()
        literal = piece[1:] if piece.startswith("\\") else piece
        if in_quote:
            if piece == '"':
                in_quote = False
                box.raw.append('"')
            else:
                (box.angle if box.angle is not None else box.phrase).append(literal)
                box.raw.append(literal)
            continue
        if comment_depth:
            if piece == "(":
                comment_depth += 1
            elif piece == ")":
                comment_depth -= 1
                if not comment_depth:
                    box.comments.append("".join(comment))
                    comment = []
            else:
                comment.append(literal)
            continue
        if piece == '"':
            in_quote = True
            box.raw.append('"')
        elif piece == "(":
            comment_depth = 1
        elif piece == ")":
            continue  # a stray closing parenthesis means nothing
        elif box.angle is not None:
            if piece == ">":
                if box.address is None:
                    box.address = "".join(box.angle)
                box.angle = None
            else:
                box.angle.append(literal)
        elif piece == "<":
            box.angle = []
        elif piece in ",;":
            entry = box.result()
            if entry is not None:
                entries.append(entry)
            box = _Mailbox()
        elif piece == ":":
            box = _Mailbox()  # what came before was a group's name
        elif piece != ">":
            box.phrase.append(literal)
            box.raw.append(literal)
    entry = box.result()
    if entry is not None:
        entries.append(entry)
    return entries

"""One message in, one document out: what users notice, and what hostile mail cannot do."""

from __future__ import annotations

import io
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connectors.base import Audience, PersonRef
from connectors.email.headers import parse_addresses
from connectors.email.mbox import split_mbox
from connectors.email.parsing import (
    MAX_MIME_DEPTH,
    ParsedEmail,
    parse_email,
    safe_filename,
)
from connectors.email.quoting import split_reply
from connectors.errors import CorruptFile, FileRejected, LimitExceeded

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "email"
REPLIES = FIXTURES / "talon-replies" / "standard_replies"
HTML_REPLIES = FIXTURES / "talon-replies" / "html_replies"
FALLBACK = datetime(2020, 5, 17, 8, 30, tzinfo=UTC)
# Hostile inputs must be handled in well under this many seconds.
FAST = 3.0


def parse(raw: bytes, **kwargs: object) -> ParsedEmail:
    return parse_email(raw, fallback_date=FALLBACK, **kwargs)  # type: ignore[arg-type]


def message(*headers: str, body: str = "Hello", content_type: str = "") -> bytes:
    lines = list(headers)
    if content_type:
        lines.append(f"Content-Type: {content_type}")
    return ("\r\n".join(lines) + "\r\n\r\n" + body).encode()


def without_newlines(value: str) -> bool:
    return "\r" not in value and "\n" not in value


# Replies from real mail clients (mailgun/talon fixtures)


@pytest.mark.parametrize(
    ("fixture", "quoted_original"),
    [
        ("android.eml", "> Hi"),
        ("aol.eml", "-----Original Message-----"),
        ("apple_mail.eml", "> Hi"),
        ("apple_mail_2.eml", "Hi there!"),
        ("comcast.eml", "----- Original Message -----"),
        ("gmail.eml", "> Hi"),
        ("hotmail.eml", "> Hi"),
        ("iphone.eml", "> Hi"),
        ("outlook.eml", "The manager's comment"),
        ("sparrow.eml", "On Apr 3, 2012, at 4:19 PM, bob wrote:"),
        ("thunderbird.eml", "> Hi"),
        ("yahoo.eml", "----- Original Message -----"),
    ],
)
def test_reply_body_keeps_the_authors_words_and_drops_the_quote(
    fixture: str, quoted_original: str
) -> None:
    document = parse((REPLIES / fixture).read_bytes()).document
    assert document.body == "Hello"
    assert quoted_original in document.metadata["quoted"]


def test_reply_attribution_line_leaves_the_body() -> None:
    document = parse((REPLIES / "gmail.eml").read_bytes()).document
    assert "wrote:" not in document.body
    assert document.metadata["quoted"].startswith("On Mon, Apr 2, 2012 at 6:26 PM, Megan One")


def test_android_attribution_wrapped_over_two_lines_is_quoted() -> None:
    document = parse((REPLIES / "android.eml").read_bytes()).document
    assert document.body == "Hello"
    assert "написал" in document.metadata["quoted"]
    assert "02.04.2012" in document.metadata["quoted"]


def test_signatures_and_mobile_sign_offs_leave_the_body() -> None:
    iphone = parse((REPLIES / "iphone.eml").read_bytes()).document
    sparrow = parse((REPLIES / "sparrow.eml").read_bytes()).document
    assert "Sent from my iPhone" not in iphone.body
    assert "Sparrow" not in sparrow.body
    assert "Sent with Sparrow" in sparrow.metadata["signature"]


@pytest.mark.parametrize("fixture", sorted(p.name for p in HTML_REPLIES.glob("*.html")))
def test_html_only_reply_is_converted_and_stripped_of_the_quote(fixture: str) -> None:
    markup = (HTML_REPLIES / fixture).read_text(encoding="utf-8")
    raw = message(
        "From: Alex <alex@example.com>",
        "Subject: Re: Test message",
        "Message-ID: <html-reply@example.com>",
        "Date: Thu, 26 Jun 2014 15:00:00 +0400",
        content_type="text/html; charset=utf-8",
        body=markup,
    )
    document = parse(raw).document
    assert document.body.splitlines()[0] == "Hi. I am fine."
    assert "Hello! How are you?" not in document.body
    assert "Hello! How are you?" in document.metadata["quoted"]
    assert "<" not in document.body  # no markup left


def test_text_plain_is_preferred_over_html() -> None:
    raw = message(
        "From: a@example.com",
        'Content-Type: multipart/alternative; boundary="b"',
        body=(
            "--b\r\nContent-Type: text/html\r\n\r\n<p>From HTML</p>\r\n"
            "--b\r\nContent-Type: text/plain\r\n\r\nFrom text\r\n--b--\r\n"
        ),
    )
    assert parse(raw).document.body == "From text"


def test_html_scripts_and_styles_are_dropped() -> None:
    raw = message(
        "From: a@example.com",
        content_type="text/html",
        body="<style>p{color:red}</style><script>alert(1)</script><p>Visible</p>"
        '<div style="display:none">hidden instructions</div>',
    )
    assert parse(raw).document.body == "Visible"


# Headers: decoding, people, threads, audience


def test_subject_and_names_are_decoded() -> None:
    raw = (FIXTURES / "perceval-mbox" / "mbox_iso8859_encoding.mbox").read_bytes()
    (entry,) = list(split_mbox(io.BytesIO(raw)))
    parsed = parse(entry.raw)
    assert parsed.document.title == "[ovs-dev] Remittance Advice"
    assert parsed.people[0].display_name == "Lucía Charlie"


def test_pipermail_obfuscated_sender_becomes_an_address() -> None:
    raw = (FIXTURES / "perceval-mbox" / "mbox_single.mbox").read_bytes()
    (entry,) = list(split_mbox(io.BytesIO(raw)))
    parsed = parse(entry.raw)
    assert parsed.document.author == PersonRef("email", "goran@domain.com")
    assert parsed.people[0].display_name == "Göran Lastname"


def test_non_utf8_enron_mail_parses_with_all_recipients() -> None:
    parsed = parse((FIXTURES / "enron_non_utf8.eml").read_bytes())
    document = parsed.document
    assert document.title == "EnWG Anhoerung"
    assert document.author == PersonRef("email", "paul.hennemeyer@enron.com")
    assert PersonRef("email", "helge-jürgen.beil@enron.com") in document.audience.people
    assert document.created_at == datetime(2001, 9, 25, 17, 8, 59, tzinfo=UTC)
    assert document.body.startswith("Gents")


def test_audience_is_sender_and_all_recipients_without_duplicates() -> None:
    raw = message(
        "From: Ann <ann@example.com>",
        "To: bob@example.com, Ann <ANN@example.com>",
        "Cc: Cid <cid@example.com>",
        "Bcc: dee@example.com",
        "Subject: plans",
    )
    document = parse(raw).document
    assert document.audience == Audience(
        people=(
            PersonRef("email", "ann@example.com"),
            PersonRef("email", "bob@example.com"),
            PersonRef("email", "cid@example.com"),
            PersonRef("email", "dee@example.com"),
        )
    )
    assert not document.audience.public
    assert document.metadata["to"] == ["bob@example.com", "ann@example.com"]
    assert document.metadata["cc"] == ["cid@example.com"]
    assert "bcc" not in document.metadata  # the other recipients never saw the Bcc list


def test_thread_id_links_a_reply_to_its_root() -> None:
    root = parse(message("From: a@example.com", "Message-ID: <root@example.com>")).document
    reply = parse(
        message(
            "From: b@example.com",
            "Message-ID: <reply@example.com>",
            "In-Reply-To: <mid@example.com>",
            "References: <root@example.com>\r\n <mid@example.com>",
        )
    ).document
    only_in_reply_to = parse(
        message("From: c@example.com", "In-Reply-To: <root@example.com> (a wrote)")
    ).document
    assert root.external_id == "root@example.com"
    assert root.thread_id == "root@example.com"
    assert reply.thread_id == root.external_id
    assert reply.metadata["references"] == ["root@example.com", "mid@example.com"]
    assert only_in_reply_to.thread_id == root.external_id


def test_message_without_id_gets_a_content_hash_id() -> None:
    raw = message("From: a@example.com", "Subject: no id")
    first = parse(raw).document
    assert first.external_id.startswith("sha256:")
    assert parse(raw).document.external_id == first.external_id
    assert first.thread_id == first.external_id


def test_date_falls_back_when_missing_or_garbage() -> None:
    missing = parse(message("From: a@example.com")).document
    garbage = parse(message("From: a@example.com", "Date: the day after tomorrow")).document
    minus_zero = parse(message("From: a@example.com", "Date: Tue, 3 Apr 2012 16:55:26 -0000"))
    assert missing.created_at == FALLBACK
    assert garbage.created_at == FALLBACK
    assert minus_zero.document.created_at == datetime(2012, 4, 3, 16, 55, 26, tzinfo=UTC)
    assert missing.updated_at.tzinfo is not None


def test_address_confusion_uses_the_angle_address() -> None:
    document = parse(message('From: "alice@example.org" <bob@evil.example>')).document
    assert document.author == PersonRef("email", "bob@evil.example")


@pytest.mark.parametrize(
    "header",
    [
        "=?utf-8?q?alice@example.org?=",  # an address inside an encoded word is no address
        '"john doe"@example.com',
        "not an address",
    ],
)
def test_unparseable_sender_gives_no_author(header: str) -> None:
    assert parse(message(f"From: {header}", "Subject: x")).document.author is None


def test_attachment_names_are_bare_file_names() -> None:
    raw = message(
        "From: a@example.com",
        'Content-Type: multipart/mixed; boundary="b"',
        body=(
            "--b\r\nContent-Type: text/plain\r\n\r\nSee attached.\r\n"
            "--b\r\nContent-Type: application/octet-stream\r\n"
            'Content-Disposition: attachment; filename="../../x"\r\n\r\nAAAA\r\n'
            '--b\r\nContent-Type: application/pdf; name="C:\\\\temp\\\\report.pdf"\r\n\r\nBBBB\r\n'
            "--b\r\nContent-Type: message/rfc822\r\n"
            'Content-Disposition: attachment; filename="=?utf-8?q?..=2F..=2Fetc=2Fpasswd?="\r\n'
            "\r\nFrom: inner@example.com\r\nSubject: inner\r\n\r\ninner body\r\n--b--\r\n"
        ),
    )
    document = parse(raw).document
    assert document.metadata["attachments"] == ["x", "report.pdf", "passwd"]
    assert document.body == "See attached."
    assert "inner body" not in document.body  # attached messages are not read


@pytest.mark.parametrize(
    ("name", "safe"),
    [("../../x", "x"), ("C:\\Windows\\x.exe", "x.exe"), ("..", None), ("a\r\nb.txt", "a b.txt")],
)
def test_safe_filename(name: str, safe: str | None) -> None:
    assert safe_filename(name) == safe


# Hostile mail (docs/SECURITY.md, Email)


def nested_multipart(depth: int) -> bytes:
    head = b"From: a@example.com\r\nSubject: deep\r\n"
    for level in range(depth):
        head += b'Content-Type: multipart/mixed; boundary="b%d"\r\n\r\n--b%d\r\n' % (level, level)
    tail = b"".join(b"\r\n--b%d--" % level for level in reversed(range(depth)))
    return head + b"Content-Type: text/plain\r\n\r\nbottom" + tail + b"\r\n"


def test_5000_level_multipart_is_rejected_fast_without_recursion_error() -> None:
    started = time.monotonic()
    with pytest.raises(LimitExceeded):
        parse(nested_multipart(5_000))
    assert time.monotonic() - started < FAST


def test_nesting_at_the_limit_still_parses() -> None:
    assert parse(nested_multipart(MAX_MIME_DEPTH - 1)).document.body == "bottom"


def test_5000_nested_attached_messages_are_rejected_fast() -> None:
    raw = b"From: a@example.com\r\n" + b"Content-Type: message/rfc822\r\n\r\n" * 5_000 + b"x"
    started = time.monotonic()
    with pytest.raises(LimitExceeded):
        parse(raw)
    assert time.monotonic() - started < FAST


def test_header_injection_through_encoded_words_is_never_reemitted() -> None:
    raw = message(
        "From: =?utf-8?q?Eve=0D=0ABcc:_x@evil.example?= <eve@example.com>",
        "To: bob@example.com",
        "Subject: =?utf-8?q?a=0D=0ABcc:_x@evil?=",
        "Message-ID: <id@example.com>",
    )
    parsed = parse(raw)
    assert parsed.document.title == "a Bcc: x@evil"
    assert all(without_newlines(p.display_name) for p in parsed.people)
    assert PersonRef("email", "x@evil.example") not in parsed.document.audience.people
    assert len(parsed.document.audience.people) == 2


def test_raw_carriage_returns_in_headers_are_never_reemitted() -> None:
    raw = b"From: a@example.com\r\nSubject: one\rtwo\x0bthree\x00four\xe2\x80\xa8\r\n\r\nbody"
    document = parse(raw).document
    assert without_newlines(document.title)
    assert "\x00" not in document.title


@pytest.mark.parametrize(
    "subject",
    [
        b"Subject: hello\rBcc: victim@example.net",
        b"Subject: hello\r Bcc: victim@example.net",
        b"Subject: hello\rCc: victim@example.net\rTo: victim2@example.net",
    ],
)
def test_a_bare_cr_in_a_header_never_adds_a_recipient(subject: bytes) -> None:
    raw = (
        b"From: Ada <ada@example.com>\r\nTo: Bob <bob@example.com>\r\n"
        + subject
        + b"\r\nMessage-ID: <cr@example.com>\r\n\r\nBody\r\n"
    )
    document = parse(raw).document
    # The audience is exactly the From/To/Cc the raw header lines name.
    assert document.audience == Audience(
        people=(PersonRef("email", "ada@example.com"), PersonRef("email", "bob@example.com"))
    )
    assert document.metadata["to"] == ["bob@example.com"]
    assert document.metadata["cc"] == []
    # The CR was a space inside the Subject line.
    assert document.title.startswith("hello")
    assert "victim@example.net" in document.title
    assert "\r" not in document.title


def test_bare_crs_in_the_body_and_cr_only_messages_are_left_alone() -> None:
    body = parse(message("From: a@example.com", "To: b@example.com", body="one\rtwo")).document
    assert body.body.split() == ["one", "two"]
    # Old Mac files end every line with CR: their headers are still headers.
    mac = parse(b"From: a@example.com\rTo: b@example.com\rSubject: s\r\rbody").document
    assert mac.title == "s"
    assert mac.audience.people == (
        PersonRef("email", "a@example.com"),
        PersonRef("email", "b@example.com"),
    )


def test_bogus_charsets_fall_back() -> None:
    raw = (
        b"From: a@example.com\r\nSubject: =?x-bogus?q?caf=E9?=\r\n"
        b'Content-Type: text/plain; charset="x-no-such-charset"\r\n\r\ncaf\xe9 cr\xc3\xa8me'
    )
    document = parse(raw).document
    assert document.title == "café"
    # Not valid UTF-8 either: Latin-1, the last resort, never fails.
    assert document.body == "café crÃ¨me"


@pytest.mark.parametrize("charset", ["zlib", "rot13", "utf-7", "unknown-8bit", '"', "idna"])
def test_odd_charsets_never_raise(charset: str) -> None:
    raw = f"From: a@example.com\r\nContent-Type: text/plain; charset={charset}\r\n\r\n".encode()
    assert isinstance(parse(raw + b"text \xff\xfe").document.body, str)


def test_unclosed_boundary_keeps_the_text() -> None:
    raw = message(
        "From: a@example.com",
        'Content-Type: multipart/mixed; boundary="never-closed"',
        body="--never-closed\r\nContent-Type: text/plain\r\n\r\nStill here\r\n",
    )
    assert parse(raw).document.body == "Still here"


def test_huge_header_block_is_rejected() -> None:
    raw = b"From: a@example.com\r\nX-Junk: " + b"a" * (2 * 1024 * 1024) + b"\r\n\r\nbody"
    with pytest.raises(LimitExceeded):
        parse(raw)


def test_oversized_message_is_rejected_before_parsing() -> None:
    with pytest.raises(LimitExceeded):
        parse(b"From: a@example.com\r\n\r\n" + b"a" * (26 * 1024 * 1024))


@pytest.mark.parametrize("junk", ["(" * 50_000, "a:" * 50_000, "<" * 50_000, '"' * 50_001])
def test_pathological_address_headers_parse_fast(junk: str) -> None:
    started = time.monotonic()
    document = parse(message(f"From: {junk}", f"To: {junk}", "Subject: s")).document
    assert document.author is None
    assert time.monotonic() - started < FAST


def test_bytes_without_headers_are_not_an_email() -> None:
    with pytest.raises(CorruptFile):
        parse(b"just some text\nthat is not mail\n")
    with pytest.raises(CorruptFile):
        parse(b"")


# Property tests (docs/SECURITY.md rows 4 and 7)

HOSTILE_PIECES = st.sampled_from(
    [
        "\r",
        "\n",
        "\r\n",
        "\u2028",
        "\x00",
        "\x85",
        "=0D",
        "=0A",
        "=?utf-8?q?",
        "=?x?b?",
        "?=",
        "Bcc: ",
        "<",
        ">",
        ",",
        ";",
        ":",
        "@",
        "(",
        ")",
        '"',
        "\\",
        " ",
        "\t",
        "é",
        "example.com",
        "=?utf-8?q?a=0D=0ABcc:_x@evil?=",
    ]
)
HEADER_TEXT = st.lists(st.one_of(HOSTILE_PIECES, st.text(max_size=8)), max_size=20).map("".join)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=4_000))
def test_arbitrary_bytes_raise_only_file_rejected(data: bytes) -> None:
    try:
        parsed = parse_email(data)
    except FileRejected:
        return
    assert parsed.document.created_at.tzinfo is not None
    assert parsed.document.updated_at.tzinfo is not None


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.tuples(
            st.sampled_from(
                [
                    "From",
                    "To",
                    "Cc",
                    "Subject",
                    "Date",
                    "Message-ID",
                    "References",
                    "Content-Type",
                    "Content-Transfer-Encoding",
                    "Content-Disposition",
                    "X-Other",
                ]
            ),
            HEADER_TEXT,
        ),
        max_size=10,
    ),
    st.binary(max_size=500),
)
def test_mail_shaped_bytes_raise_only_file_rejected(
    headers: list[tuple[str, str]], body: bytes
) -> None:
    raw = b"".join(
        f"{name}: {value}\r\n".encode("utf-8", "surrogatepass") for name, value in headers
    )
    try:
        parsed = parse_email(raw + b"\r\n" + body)
    except FileRejected:
        return
    assert parsed.document.created_at.tzinfo is not None


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(subject=HEADER_TEXT, sender=HEADER_TEXT, recipients=HEADER_TEXT)
def test_header_strings_never_put_newlines_in_titles_or_names(
    subject: str, sender: str, recipients: str
) -> None:
    raw = (
        f"Subject: {subject}\r\nFrom: {sender}\r\nTo: {recipients}\r\n"
        "Message-ID: <p@example.com>\r\n\r\nbody"
    ).encode("utf-8", "surrogatepass")
    try:
        parsed = parse_email(raw)
    except FileRejected:
        return
    assert without_newlines(parsed.document.title)
    assert without_newlines(parsed.document.external_id)
    for person in parsed.people:
        assert without_newlines(person.display_name)
        assert without_newlines(person.ref.value)
    for name in parsed.document.metadata["attachments"]:
        assert without_newlines(name)


@settings(max_examples=300, deadline=None)
@given(HEADER_TEXT)
def test_parse_addresses_returns_single_line_addresses(value: str) -> None:
    for name, address in parse_addresses(value):
        assert without_newlines(name)
        assert "@" in address
        assert without_newlines(address)
        assert address == address.lower()


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.one_of(
            HOSTILE_PIECES, st.sampled_from(["> ", "-- ", "On ", " wrote:"]), st.text(max_size=10)
        ),
        max_size=60,
    ).map("".join)
)
def test_split_reply_keeps_every_line_and_invents_none(text: str) -> None:
    text = text.replace("\r", "")
    given_lines = {line.strip() for line in text.split("\n")}
    parts = split_reply(text)
    kept = {
        line.strip()
        for part in (parts.body, parts.quoted, parts.signature)
        for line in part.split("\n")
    }
    assert kept - {""} <= given_lines
    assert given_lines - {""} <= kept

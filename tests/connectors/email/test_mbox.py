"""The mbox splitter: real odd files, escaping, and arbitrary bytes."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from connectors.email.mbox import MboxMessage, envelope_date, split_mbox
from connectors.email.parsing import parse_email
from connectors.errors import FileRejected

PERCEVAL = Path(__file__).resolve().parents[2] / "fixtures" / "email" / "perceval-mbox"


def split(data: bytes, **kwargs: int) -> list[MboxMessage]:
    return list(split_mbox(io.BytesIO(data), **kwargs))


@pytest.mark.parametrize(
    ("fixture", "count"),
    [
        ("mbox_single.mbox", 1),
        ("mbox_multipart.mbox", 2),
        ("mbox_complex.mbox", 2),
        ("mbox_no_fields.mbox", 6),
        ("mbox_unixfrom_encoding.mbox", 1),
        ("mbox_unknown_encoding.mbox", 1),
        ("mbox_iso8859_encoding.mbox", 1),
        ("pipermail_pipermail_2015_november.mbox", 4),
    ],
)
def test_real_mbox_files_split_into_their_messages(fixture: str, count: int) -> None:
    with (PERCEVAL / fixture).open("rb") as handle:
        messages = list(split_mbox(handle))
    assert [m.number for m in messages] == list(range(1, count + 1))
    for entry in messages:
        assert entry.from_line.startswith(b"From ")
        assert entry.received_at is not None
        assert entry.received_at.tzinfo is not None
        # Every message is either a document or a typed failure.
        try:
            parsed = parse_email(entry.raw, fallback_date=entry.received_at)
        except FileRejected:
            continue
        assert parsed.document.created_at.tzinfo is not None


def test_non_ascii_envelope_line_is_kept_as_bytes() -> None:
    with (PERCEVAL / "mbox_unixfrom_encoding.mbox").open("rb") as handle:
        (entry,) = list(split_mbox(handle))
    assert "“example.org”".encode() in entry.from_line
    parsed = parse_email(entry.raw)
    assert parsed.document.title == "[Analytics] DNT, standards, and expectations"
    assert parsed.document.body.startswith("Hi,")
    assert "Aaron Halfaker wrote:" not in parsed.document.body
    assert parsed.document.thread_id == "4ADDAFD4-A226-4F68-B02D-EDA5DE355104@wikimedia.org"


def test_no_fields_mbox_dates_fall_back_to_the_envelope() -> None:
    with (PERCEVAL / "mbox_no_fields.mbox").open("rb") as handle:
        messages = list(split_mbox(handle))
    third = parse_email(messages[2].raw, fallback_date=messages[2].received_at).document
    assert third.created_at == datetime(2010, 12, 1, 8, 26, 40, tzinfo=UTC)
    no_id = parse_email(messages[3].raw, fallback_date=messages[3].received_at).document
    assert no_id.external_id.startswith("sha256:")


def test_unescaped_from_line_in_a_body_does_not_split() -> None:
    data = (
        b"From a@example.com Mon Jan  1 00:00:00 2001\n"
        b"From: a@example.com\nSubject: one\n\nHi\n\n"
        b"From what I hear, all is well.\n\n"
        b"From here on\nit goes on\n\n"
        b"From b@example.com Tue Jan  2 00:00:00 2001\n"
        b"From: b@example.com\nSubject: two\n\nsecond\n"
    )
    first, second = split(data)
    assert b"From what I hear, all is well." in first.raw
    assert b"From here on\nit goes on" in first.raw
    assert second.raw.endswith(b"second\n")


def test_envelope_line_without_date_splits_when_headers_follow() -> None:
    data = b"From a\nSubject: one\n\nbody\n\nFrom b\nSubject: two\n\nbody two\n"
    assert [m.from_line for m in split(data)] == [b"From a", b"From b"]


def test_escaped_from_lines_are_unescaped_one_level() -> None:
    data = (
        b"From a@example.com Mon Jan  1 00:00:00 2001\nSubject: x\n\n"
        b">From the top\n>>From deeper\n> From quoted\n"
    )
    (entry,) = split(data)
    assert entry.raw.endswith(b"\nFrom the top\n>From deeper\n> From quoted\n")


def test_crlf_mbox_splits() -> None:
    data = (
        b"From a Mon Jan  1 00:00:00 2001\r\nSubject: one\r\n\r\nbody\r\n\r\n"
        b"From b Tue Jan  2 00:00:00 2001\r\nSubject: two\r\n\r\nbody two\r\n"
    )
    first, second = split(data)
    assert first.raw == b"Subject: one\r\n\r\nbody\r\n"
    assert second.raw == b"Subject: two\r\n\r\nbody two\r\n"


def test_text_before_the_first_envelope_is_kept_as_a_message() -> None:
    data = b"Subject: stray\n\nstray text\n\nFrom a Mon Jan  1 00:00:00 2001\nSubject: x\n\nbody\n"
    first, second = split(data)
    assert first.from_line == b""
    assert b"stray text" in first.raw
    assert second.from_line.startswith(b"From a")


def test_oversized_message_is_flagged_without_holding_it() -> None:
    data = (
        b"From a Mon Jan  1 00:00:00 2001\nSubject: big\n\n" + b"x" * 5000 + b"\n\n"
        b"From b Tue Jan  2 00:00:00 2001\nSubject: small\n\nok\n"
    )
    big, small = split(data, max_message_bytes=1000)
    assert big.too_large
    assert big.raw == b""
    assert big.size > 1000
    assert not small.too_large


def test_a_file_without_newlines_is_read_in_pieces() -> None:
    data = b"From a Mon Jan  1 00:00:00 2001\n" + b"y" * 300_000
    (entry,) = split(data, max_message_bytes=100_000)
    assert entry.too_large


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (b"From goran at domain.com  Wed Dec  1 08:26:40 2010", datetime(2010, 12, 1, 8, 26, 40)),
        (b"From MAILER-DAEMON Fri Jul  8 12:08 2011", datetime(2011, 7, 8, 12, 8)),
        (b"From x Wed Feb 30 08:26:40 2010", None),
        (b"From nobody", None),
    ],
)
def test_envelope_date(line: bytes, expected: datetime | None) -> None:
    got = envelope_date(line)
    assert got == (expected.replace(tzinfo=UTC) if expected else None)


@settings(max_examples=500, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.sampled_from(
                [
                    b"From ",
                    b"From a Mon Jan  1 00:00:00 2001\n",
                    b"\n",
                    b"\r\n",
                    b">From ",
                    b"Subject: x\n",
                    b"\r",
                    b"\x00",
                    b"\xff",
                ]
            ),
            st.binary(max_size=40),
        ),
        max_size=40,
    ).map(b"".join)
)
def test_arbitrary_bytes_split_without_error(data: bytes) -> None:
    total = 0
    for entry in split_mbox(io.BytesIO(data), max_message_bytes=200):
        assert entry.received_at is None or entry.received_at.tzinfo is not None
        assert entry.too_large or len(entry.raw) <= entry.size
        total += entry.size + len(entry.from_line)
        try:
            parsed = parse_email(entry.raw)
        except FileRejected:
            continue
        assert parsed.document.created_at.tzinfo is not None
    assert total <= len(data)

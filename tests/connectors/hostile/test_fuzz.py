"""Fuzz every parser with random mutations of small valid inputs (docs/SECURITY.md row 4).

Each example must end as a result that can be stored, or as a typed error (FileRejected);
nothing else may escape, and no example may hang. Mutations flip, insert, delete, repeat and
cut bytes, and splice in tokens each format's parser treats specially (boundaries, entities,
PDF operators, JSON brackets), repeated up to thousands of times.

The default is a quick pass. SECURITY.md asks for at least 10,000 inputs per parser:
`HOSTILE_FUZZ_EXAMPLES=10000 pytest tests/connectors/hostile/test_fuzz.py`.
"""

from __future__ import annotations

import io
import json
import os
import tempfile
import zipfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connectors.documents.parsing import ParsedDocument, parse_document, parse_html_document
from connectors.email.mbox import split_mbox
from connectors.email.parsing import ParsedEmail, parse_email
from connectors.errors import FileRejected
from connectors.limits import MAX_TEXT_CHARS
from connectors.slack.export import SlackExportConnector
from tests.connectors.hostile import corpus, zips
from tests.connectors.hostile.harness import assert_storable, bounded, documents_of

EXAMPLES = int(os.environ.get("HOSTILE_FUZZ_EXAMPLES", "0")) or None
# Forking a sandbox per example costs ~30 ms: fewer examples for PDF and DOCX by default.
QUICK = EXAMPLES or 200
SANDBOXED = EXAMPLES or 60
EXAMPLE_SECONDS = 15.0

_SETTINGS = {
    "deadline": None,
    "database": None,  # writes nothing into the project
    "suppress_health_check": list(HealthCheck),
}

MAIL_SEEDS = [
    corpus.GOOD_MAIL,
    b"From: a@example.com\r\nTo: b@example.com\r\nSubject: =?utf-8?q?caf=C3=A9?=\r\n"
    b"Content-Type: multipart/alternative; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain;"
    b" charset=latin-1\r\n\r\ncaf\xe9\r\n--b\r\nContent-Type: text/html\r\n\r\n<p>caf&eacute;</p>"
    b'\r\n--b\r\nContent-Disposition: attachment; filename="a.txt"\r\n\r\nx\r\n--b--\r\n',
]
MAIL_TOKENS = [
    b"\r\n",
    b"\r",
    b"\n\n",
    b"--b\r\n",
    b"--b--",
    b"Content-Type: multipart/mixed; boundary=b\r\n",
    b"Content-Type: message/rfc822\r\n\r\n",
    b"=?utf-8?q?=0D=0A?=",
    b"=?x?b?////?=",
    b"(",
    b"<",
    b'"',
    b":",
    b";",
    b"\x00",
    b"\xff",
    b"From ",
    b">From ",
]
PDF_TOKENS = [
    b" obj ",
    b"endobj",
    b"<<",
    b">>",
    b"[",
    b"]",
    b" 0 R",
    b"stream\n",
    b"endstream",
    b"/Filter /FlateDecode",
    b"/Length 999999999",
    b"/Kids [2 0 R]",
    b"BI ID ",
    b"BT (x) Tj ET",
    b"xref\n0 1\n",
    b"trailer",
    b"%%EOF",
    b"\x00",
]
XML_TOKENS = [
    b"<w:p>",
    b"</w:p>",
    b"<w:tbl><w:tr><w:tc>",
    b"<w:t>",
    b"&lt;",
    b"&#0;",
    b"&amp;",
    b"<!DOCTYPE x [<!ENTITY e SYSTEM 'file:///etc/passwd'>]>",
    b"<!ENTITY",
    b"<![CDATA[",
    b"<?xml",
    b"\x00",
    b"\xff",
]
HTML_TOKENS = [
    b"<div>",
    b"</div>",
    b"<table><tr><td>",
    b"<blockquote>",
    b"<pre>",
    b"<br>",
    b"<!--",
    b"-->",
    b"<script>",
    b"<!DOCTYPE html [<!ENTITY e 'x'>]>",
    b"&e;",
    b"<?xml version='1.0' encoding='utf-32'?>",
    b'<meta charset="utf-7">',
    b"\x00",
    b"\xff",
]
JSON_TOKENS = [b"[", b"]", b"{", b"}", b'"', b",", b":", b"\\u0000", b"\\ud800", b"null", b"1e999"]


def _apply(seed: bytes, operations: list[tuple[int, int, int, bytes]]) -> bytes:
    data = bytearray(seed)
    for kind, where, amount, token in operations:
        at = where % (len(data) + 1)
        if kind == 0:  # flip a byte
            if data:
                data[at % len(data)] ^= amount % 255 + 1
        elif kind == 1:  # insert a token, repeated
            data[at:at] = token * (amount % 3_000 + 1)
        elif kind == 2:  # delete a range
            del data[at : at + amount % 200 + 1]
        elif kind == 3:  # repeat a range
            data[at:at] = bytes(data[at : at + 50]) * (amount % 100 + 1)
        else:  # cut
            del data[at:]
    return bytes(data)


def mutated(seeds: list[bytes], tokens: list[bytes]) -> st.SearchStrategy[bytes]:
    operation = st.tuples(
        st.integers(0, 4),
        st.integers(0, 1 << 20),
        st.integers(0, 1 << 16),
        st.sampled_from(tokens) | st.binary(min_size=1, max_size=8),
    )
    return st.builds(_apply, st.sampled_from(seeds), st.lists(operation, min_size=1, max_size=6))


def _assert_parsed(parsed: ParsedDocument) -> None:
    assert parsed.text.strip()
    assert len(parsed.text) <= MAX_TEXT_CHARS
    assert "\x00" not in parsed.text
    parsed.text.encode("utf-8")
    assert "\n" not in parsed.title
    assert "\r" not in parsed.title


def _parse_file(name: str, data: bytes) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / name
        path.write_bytes(data)
        try:
            parsed = bounded(lambda: parse_document(path), seconds=EXAMPLE_SECONDS)
        except FileRejected:
            return
    _assert_parsed(parsed)


def _parse_mail(raw: bytes) -> None:
    try:
        parsed: ParsedEmail = bounded(lambda: parse_email(raw), seconds=EXAMPLE_SECONDS)
    except FileRejected:
        return
    assert_storable_mail(parsed)


def assert_storable_mail(parsed: ParsedEmail) -> None:
    document = parsed.document
    assert "\r" not in document.title
    assert "\n" not in document.title
    for text in (document.body, document.title, document.external_id):
        assert "\x00" not in text
        text.encode("utf-8")
    for person in parsed.people:
        assert "\n" not in person.display_name
        assert "\n" not in person.ref.value
    assert document.created_at.utcoffset() is not None


@settings(max_examples=QUICK, **_SETTINGS)
@given(mutated(MAIL_SEEDS, MAIL_TOKENS))
def test_fuzzed_mail_parses_or_is_rejected(raw: bytes) -> None:
    _parse_mail(raw)


@settings(max_examples=QUICK, **_SETTINGS)
@given(mutated([corpus._mbox(*MAIL_SEEDS)], MAIL_TOKENS))
def test_fuzzed_mbox_splits_and_each_message_parses_or_is_rejected(data: bytes) -> None:
    messages = bounded(lambda: list(split_mbox(io.BytesIO(data))), seconds=EXAMPLE_SECONDS)
    for message in messages:
        if not message.too_large:
            _parse_mail(message.raw)


@settings(max_examples=QUICK, **_SETTINGS)
@given(
    mutated(
        [b"<html><head><title>T</title></head><body><p>Hello <b>world</b></p></body>"], HTML_TOKENS
    )
)
def test_fuzzed_html_parses_or_is_rejected(data: bytes) -> None:
    try:
        parsed = bounded(lambda: parse_html_document(data), seconds=EXAMPLE_SECONDS)
    except FileRejected:
        return
    _assert_parsed(parsed)


@settings(max_examples=SANDBOXED, **_SETTINGS)
@given(mutated([corpus.good_pdf()], PDF_TOKENS))
def test_fuzzed_pdf_parses_or_is_rejected(data: bytes) -> None:
    _parse_file("fuzzed.pdf", data)


def _docx_with_document(document: bytes) -> bytes:
    return corpus.docx_with(replace={"word/document.xml": document})


def _document_xml() -> bytes:
    with zipfile.ZipFile(io.BytesIO(corpus.base_docx())) as package:
        return package.read("word/document.xml")


@settings(max_examples=SANDBOXED, **_SETTINGS)
@given(
    st.one_of(
        mutated([_document_xml()], XML_TOKENS).map(_docx_with_document),
        mutated([corpus.base_docx()], [b"PK\x03\x04", b"PK\x01\x02", b"PK\x05\x06", b"\x00"]),
    )
)
def test_fuzzed_docx_parses_or_is_rejected(data: bytes) -> None:
    _parse_file("fuzzed.docx", data)


_DAY = json.dumps(
    [*corpus.GOOD_DAY, {"user": "U1", "text": "<@U1> *hi*", "ts": "1452837353.000001"}]
)


@settings(max_examples=QUICK, **_SETTINGS)
@given(
    users=mutated([json.dumps(corpus.USERS).encode()], JSON_TOKENS),
    channels=mutated([json.dumps(corpus.CHANNELS).encode()], JSON_TOKENS),
    day=mutated([_DAY.encode()], JSON_TOKENS),
)
def test_fuzzed_slack_export_zip_yields_batches_and_never_raises(
    users: bytes, channels: bytes, day: bytes
) -> None:
    data = zips.deflated_zip(
        [("users.json", users), ("channels.json", channels), ("general/2016-01-15.json", day)]
    )
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "export.zip"
        path.write_bytes(data)
        connector = SlackExportConnector(config={"path": str(path)}, credentials={})
        batches = bounded(lambda: list(connector.fetch(cursor=None)), seconds=EXAMPLE_SECONDS)
    assert batches
    assert batches[-1].cursor
    for failure in (f for batch in batches for f in batch.failures):
        assert failure.error_type in {"CorruptFile", "LimitExceeded", "UnsafeArchive"}
    for document in documents_of(batches):
        assert_storable(document)

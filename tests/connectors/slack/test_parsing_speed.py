"""The faster paths of the export parser behave exactly as the plain ones they replace.

Each oracle below is the implementation before the speed work (issue 3, docs/BENCHMARKS.md).
"""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from connectors.base import SourceContainer
from connectors.errors import CorruptFile
from connectors.slack import export, parsing

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))


# --- oracles: the code before --------------------------------------------------------------


def old_load_json(data: bytes) -> Any:
    try:
        return json.loads(data)
    except (ValueError, RecursionError) as exc:
        raise CorruptFile(f"not valid JSON: {parsing._short(str(exc))}") from exc


def old_parse_ts(value: object) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise CorruptFile(f"timestamp {parsing._short(repr(value))} is not a Slack timestamp")
    text = str(value)
    if not parsing._TS.fullmatch(text):
        raise CorruptFile(f"timestamp {parsing._short(text)!r} is not a Slack timestamp")
    return Decimal(text)


def old_ts_datetime(ts: Decimal) -> datetime:
    seconds = int(ts)
    micros = int((ts - seconds) * 1_000_000)
    return EPOCH + timedelta(seconds=seconds, microseconds=micros)


def old_unescape(text: str) -> str:
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def outcome(function: Any, *args: Any) -> tuple[str, Any]:
    try:
        value = function(*args)
    except CorruptFile as exc:
        return "error", str(exc)
    # repr tells -0.0 from 0.0 and nan from nan; type tells 1 from 1.0 and True.
    return "value", repr(value)


# --- load_json -------------------------------------------------------------------------------

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats()
    | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner),
    max_leaves=12,
)


@SETTINGS
@given(json_values, st.booleans(), st.sampled_from(["utf-8", "utf-8-sig", "utf-16", "utf-32"]))
def test_load_json_decodes_what_json_decodes(value: Any, ascii: bool, encoding: str) -> None:
    text = json.dumps(value, ensure_ascii=ascii)
    try:
        data = text.encode(encoding)
    except UnicodeEncodeError:  # lone surrogates
        data = text.encode("utf-8", "surrogatepass")
    assert outcome(parsing.load_json, data) == outcome(old_load_json, data)


@SETTINGS
@given(st.binary(max_size=40))
@example(b'{"a": 1, "a": 2}')
@example(b'"\\ud800"')
@example(b'"\\udc00\\ud800"')
@example(b"[NaN, Infinity, -Infinity]")
@example(b"1e400")
@example(b"-0")
@example(b"123456789012345678901234567890")
@example(b"18446744073709551615")
@example(b'"\x01"')
@example(b'"\xed\xa0\x80"')
@example(b"\xef\xbb\xbf[1]")
@example(b"[1] ")
@example(b"[1] x")
@example(b"[" * 2000 + b"]" * 2000)
@example(b"[" * 100_000)
def test_load_json_accepts_and_refuses_what_json_does(data: bytes) -> None:
    assert outcome(parsing.load_json, data) == outcome(old_load_json, data)


@SETTINGS
@given(st.text(alphabet='[]{}",:0123456789.eE+-tfnul \\\t\nabu', max_size=30))
def test_load_json_on_json_like_text(text: str) -> None:
    data = text.encode()
    assert outcome(parsing.load_json, data) == outcome(old_load_json, data)


def test_load_json_keeps_key_order_and_the_last_repeated_key() -> None:
    value = parsing.load_json(b'{"b": 1, "a": 2, "b": 3}')
    assert list(value.items()) == list(json.loads(b'{"b": 1, "a": 2, "b": 3}').items())


# --- timestamps and unescaping ---------------------------------------------------------------

timestamps = st.one_of(
    st.from_regex(r"\A\d{1,11}(\.\d{1,9})?\Z"),
    st.from_regex(r"\A[0-9]{1,11}(\.[0-9]{1,9})?\Z"),
    st.integers(min_value=-5, max_value=10**12),
    st.text(max_size=14),
    st.none(),
    st.booleans(),
    st.floats(allow_nan=False),
)


@SETTINGS
@given(timestamps)
def test_ts_text_and_parse_ts_as_before(value: Any) -> None:
    assert outcome(parsing.parse_ts, value) == outcome(old_parse_ts, value)
    assert outcome(parsing._ts_text, value) == outcome(
        lambda v: (old_parse_ts(v), str(v))[1], value
    )


@SETTINGS
@given(timestamps)
def test_text_datetime_is_ts_datetime(value: Any) -> None:
    try:
        text = parsing._ts_text(value)
    except CorruptFile:
        return
    assert parsing._text_datetime(text) == old_ts_datetime(old_parse_ts(text))
    assert parsing.ts_datetime(parsing.parse_ts(text)) == old_ts_datetime(old_parse_ts(text))


@SETTINGS
@given(st.text(alphabet="&ltgamp;<> x", max_size=30) | st.text(max_size=30))
def test_unescape_as_before(text: str) -> None:
    assert parsing._unescape(text) == old_unescape(text)


GENERAL = SourceContainer(external_id="C1", name="general", kind="channel", is_private=False)
CONTEXT = parsing.ExportContext(workspace="T1", workspace_url="https://acme.slack.com")


@SETTINGS
@given(timestamps, timestamps, st.one_of(st.none(), timestamps), st.booleans())
def test_message_timestamps_as_before(ts: Any, edit: Any, changed: Any, wrap: bool) -> None:
    """created_at, updated_at and edited_ts follow the rules parse_message had."""
    record: dict[str, Any] = {"type": "message", "user": "U1", "text": "hi", "ts": ts}
    if edit is not None:
        record["edited"] = {"user": "U1", "ts": edit}
    if wrap:
        record = {"type": "message", "subtype": "message_changed", "ts": changed, "message": record}
    try:
        document = parsing.parse_message(record, container=GENERAL, context=CONTEXT)
    except CorruptFile:
        with pytest.raises(CorruptFile):
            old_parse_ts(ts)
        return
    assert document is not None
    created = old_ts_datetime(old_parse_ts(ts))
    edited_ts = edit if isinstance(edit, str) and parsing._TS.fullmatch(edit) else None
    if edited_ts is None and wrap and isinstance(changed, str) and parsing._TS.fullmatch(changed):
        edited_ts = changed
    if edited_ts is not None and old_parse_ts(edited_ts) <= old_parse_ts(ts):
        edited_ts = None
    assert document.metadata["ts"] == str(ts)
    assert document.metadata["edited_ts"] == edited_ts
    assert document.created_at == created
    assert document.updated_at == (
        old_ts_datetime(old_parse_ts(edited_ts)) if edited_ts else created
    )


# --- the scan's skipping of day files --------------------------------------------------------

KEYS = ["type", "subtype", "user", "bot_id", "user_profile", "message", "ts", "text", "users"]
WORDS = ["U1", "U2", "B1", "B2", "channel_join", "group_leave", "message_changed", "x\\y", 'q"']
records = st.recursive(
    st.sampled_from(WORDS) | st.none() | st.integers(0, 3),
    lambda inner: (
        st.dictionaries(st.sampled_from(KEYS), inner, max_size=5) | st.lists(inner, max_size=3)
    ),
    max_leaves=10,
)


def spelled(text: str, rng: random.Random) -> str:
    """Write some ASCII characters of a JSON text as \\u00XX escapes, inside strings only."""
    out, inside, index = [], False, 0
    while index < len(text):
        char = text[index]
        if inside and char == "\\":
            out.append(text[index : index + 2])
            index += 2
            continue
        if char == '"':
            inside = not inside
        elif inside and char.isalnum() and rng.random() < 0.2:
            char = f"\\u{ord(char):04x}"
        out.append(char)
        index += 1
    return "".join(out)


@SETTINGS
@given(
    st.lists(records, max_size=6),
    st.sets(st.sampled_from(["U1", "U2"])),
    st.sets(st.sampled_from(["B1", "B2"])),
    st.booleans(),
    st.randoms(use_true_random=False),
    st.sampled_from([None, 1, 2]),
)
def test_a_skipped_day_file_holds_nothing_the_scan_keeps(
    day: list[Any], listed: set[str], settled: set[str], escape: bool, rng: Any, indent: Any
) -> None:
    text = json.dumps(day, indent=indent)
    if escape:
        text = spelled(text, rng)
    data = text.encode()
    assert json.loads(data) == day
    if not export._adds_nothing(data, {u.encode() for u in listed}, {b.encode() for b in settled}):
        return
    for record in day:
        assert parsing.membership_change(record) is None
        message = parsing.unwrap(record)
        named = parsing.bot_name(message)
        assert named is None or named[0] in settled
        author = parsing.bot_author(message)
        assert author is None or author in settled
        person = parsing.profile_person(message, workspace="T1")
        assert person is None or person.ref.value.split("/")[-1] in listed


def test_the_scan_decodes_files_that_spell_keys_with_escapes() -> None:
    day = b'[{"type": "message", "subtype": "channel_\\u006aoin", "user": "U9", "ts": "1.0"}]'
    assert not export._adds_nothing(day, {b"U9"}, set())
    plain = b'[{"type": "message", "user": "U9", "ts": "1.0", "text": "\\u00e9t\\u00e9"}]'
    assert export._adds_nothing(plain, set(), set())
    assert not export._adds_nothing(
        plain.replace(b'"ts"', b'"user_profile": {}, "ts"'), set(), set()
    )
    assert export._adds_nothing(plain.replace(b'"ts"', b'"user_profile": {}, "ts"'), {b"U9"}, set())
    assert not export._adds_nothing(day.decode().encode("utf-16"), {b"U9"}, set())

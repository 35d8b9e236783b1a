"""Masking third parties' personal data (issue 7, item 6): the pure functions, and what ingest
stores."""

from __future__ import annotations

import dataclasses
import random
import time
from typing import Any

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from knowledge.actions import ingest_batch
from knowledge.masking import (
    KINDS,
    PLACEHOLDERS,
    find_personal_data,
    iban_valid,
    is_china_resident_id,
    luhn_valid,
    mask_personal_data,
)
from knowledge.models import Chunk, Item
from tests import factories as f

# --- each kind is found and masked ------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("Write to jane.doe+ops@mail.example.co.uk today", "Write to [email] today"),
        ("<mailto:jo@acme.io|jo@acme.io>", "<mailto:[email]|[email]>"),
        ("Call +44 20 7946 0958.", "Call [phone]."),
        ("Call +1 (415) 555-0134 now", "Call [phone] now"),
        ("US (415) 555-0134, 415-555-0134, 415.555.0134", "US [phone], [phone], [phone]"),
        ("UK 020 7946 0958 or 07700 900123", "UK [phone] or [phone]"),
        ("Berlin 030-1234567 or 0049 30 1234567", "Berlin [phone] or [phone]"),
        ("手机 138 0013 8000 或 13800138000", "手机 [phone] 或 [phone]"),
        ("SSN 123-45-6789", "SSN [national id]"),
        ("NINO AB 12 34 56 C and AB123456C", "NINO [national id] and [national id]"),
        ("身份证 11010519491231002X", "身份证 [national id]"),
        ("Visa 4111 1111 1111 1111", "Visa [card]"),
        ("MC 5500-0000-0000-0004, Amex 378282246310005", "MC [card], Amex [card]"),
        ("IBAN DE89 3704 0044 0532 0130 00 please", "IBAN [iban] please"),
        ("GB82WEST12345698765432 OK", "[iban] OK"),
    ],
)
def test_each_kind_is_found_and_masked(text: str, masked: str) -> None:
    assert mask_personal_data(text).text == masked


def test_counts_say_how_many_of_each_kind_and_never_the_values() -> None:
    result = mask_personal_data(
        "a@x.io, b@x.io, +44 20 7946 0958, 4111 1111 1111 1111, 123-45-6789, "
        "DE89 3704 0044 0532 0130 00"
    )
    assert result.counts == {"card": 1, "email": 2, "iban": 1, "national_id": 1, "phone": 1}


@pytest.mark.parametrize(
    "text",
    [
        "Released on 2024-01-15 at 10:30:45, and again 15.01.2024 or 01/15/2024.",
        "Shift 09:00-17:30, range 1000-2000, 12:00 UTC+01:00.",
        "Upgrade to v1.2.3, then 10.15.7, build 2.3.4.5678; Python 3.11.4.",
        "Order #12345678, ticket INC-555-123-4567, JIRA-1234, PO 2024-000123, id 20240115.",
        "Invoice 123456789012, account 9999999999, ref ORD-2024-000123.",
        "Host 192.168.100.200 port 8080; ts 1452781234.000200; epoch ms 1700000000000.",
        "Totals 1,234,567.89 and 1 234 567; +15% growth; 3.14159265358979.",
        "Card ending 1111 and a Luhn-failing 4111 1111 1111 1112.",
        "Not an SSN: 000-12-3456, 666-12-3456, 900-12-3456; not a NINO: GB123456A.",
        "Not an IBAN: DE00 3704 0044 0532 0130 00; not a resident id: 110105194912310021.",
        "Hello @channel, ping @alice; the price is 20@3.",
    ],
)
def test_dates_times_versions_and_ids_are_left_alone(text: str) -> None:
    assert mask_personal_data(text).text == text


def test_the_authors_own_addresses_are_kept() -> None:
    text = "Reach me at Dana@Acme.test or my assistant at sam@acme.test."
    result = mask_personal_data(text, keep={"dana@acme.test"})
    assert result.text == "Reach me at Dana@Acme.test or my assistant at [email]."
    assert result.counts == {"email": 1}
    phone = mask_personal_data("me: +44 20 7946 0958, desk 020 7946 0000", keep={"+442079460958"})
    assert phone.text == "me: +44 20 7946 0958, desk [phone]"


def test_only_the_configured_kinds_are_masked() -> None:
    text = "mail a@x.io, call +44 20 7946 0958"
    assert mask_personal_data(text, kinds=["phone"]).text == "mail a@x.io, call [phone]"
    assert mask_personal_data(text, kinds=[]).text == text


def test_the_checks() -> None:
    assert luhn_valid("4111111111111111")
    assert not luhn_valid("4111111111111112")
    assert iban_valid("DE89 3704 0044 0532 0130 00")
    assert not iban_valid("DE88 3704 0044 0532 0130 00")
    assert is_china_resident_id("11010519491231002X")
    assert not is_china_resident_id("110105194913310028")  # month 13


def test_find_reports_kind_and_place() -> None:
    text = "x 4111 1111 1111 1111 y"
    [found] = find_personal_data(text)
    assert (found.kind, text[found.start : found.end]) == ("card", "4111 1111 1111 1111")


# --- properties --------------------------------------------------------------------------------

CARD_PREFIXES = ["4", "51", "52", "53", "54", "55", "2221", "2720", "34", "37", "6011", "65", "35"]


def with_luhn_check_digit(payload: str) -> str:
    total = 0
    for position, char in enumerate(reversed(payload)):
        value = int(char)
        if position % 2 == 0:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return payload + str((10 - total % 10) % 10)


@st.composite
def card_numbers(draw: st.DrawFn) -> str:
    prefix = draw(st.sampled_from(CARD_PREFIXES))
    length = draw(st.integers(min_value=13, max_value=19))
    middle = draw(
        st.text(
            alphabet="0123456789",
            min_size=length - len(prefix) - 1,
            max_size=length - len(prefix) - 1,
        )
    )
    digits = with_luhn_check_digit(prefix + middle)
    separator = draw(st.sampled_from(["", " ", "-"]))
    groups = [digits[i : i + 4] for i in range(0, len(digits), 4)]
    return separator.join(groups)


@given(
    card=card_numbers(),
    before=st.sampled_from(["", "card ", "Pay with: ", "(", "\n"]),
    after=st.sampled_from(["", " thanks", ".", ")", ", ok", "\n"]),
)
def test_luhn_valid_card_numbers_are_always_masked(card: str, before: str, after: str) -> None:
    assert luhn_valid(card.replace(" ", "").replace("-", ""))
    result = mask_personal_data(f"{before}{card}{after}")
    assert result.text == f"{before}[card]{after}"


@given(
    st.text(
        alphabet=st.characters(blacklist_categories=("Nd", "No", "Nl"), blacklist_characters="@")
    )
)
def test_text_without_digits_or_at_signs_is_unchanged(text: str) -> None:
    assert mask_personal_data(text).text == text


PIECES = [
    "jane@example.com",
    "+44 20 7946 0958",
    "4111 1111 1111 1111",
    "123-45-6789",
    "AB 12 34 56 C",
    "DE89 3704 0044 0532 0130 00",
    "11010519491231002X",
    "415-555-0134",
    "2024-01-15",
    "v1.2.3",
    "#12345",
    "-",
    ".",
    "@",
    " ",
    "]",
    "[",
    "0",
    "7",
    "x",
    "\n",
]


@given(
    st.one_of(
        st.text(),
        st.text(alphabet="0123456789 -.+()@abcXYZ[]#:/", max_size=80),
        st.lists(st.sampled_from(PIECES), max_size=12).map("".join),
    )
)
@example("4111111111111111-555-123-4567")
@example("jane@example.com4111 1111 1111 1111")
def test_masking_masked_text_changes_nothing(text: str) -> None:
    once = mask_personal_data(text)
    twice = mask_personal_data(once.text)
    assert twice.text == once.text
    assert twice.counts == {}


@given(st.lists(st.sampled_from(KINDS), unique=True))
def test_placeholders_are_never_found_again(kinds: list[str]) -> None:
    text = " ".join(PLACEHOLDERS.values())
    assert mask_personal_data(text, kinds=kinds).text == text


# --- at store time -----------------------------------------------------------------------------

PEOPLE = (
    f.slack_person("U1", "Dana Diaz", "dana@acme.test"),
    f.slack_person("U2", "Sam Stone", "sam@acme.test"),
)
CHANNELS = (f.channel("CGEN", "general", members=("U1", "U2")),)


@pytest.mark.django_db
def test_stored_items_and_chunks_hold_masked_text_with_counts() -> None:
    source = f.make_source()
    ingest_batch(
        source=source,
        batch=f.batch(
            f.message(
                "CGEN",
                "U1",
                "Mail me at dana@acme.test; the vendor is bob@vendor.example, +1 415-555-0134, "
                "card 4111 1111 1111 1111.",
            ),
            people=PEOPLE,
            containers=CHANNELS,
        ),
    )
    item = Item.objects.get()
    assert item.body == ("Mail me at dana@acme.test; the vendor is [email], [phone], card [card].")
    assert item.metadata["masked"] == {"card": 1, "email": 1, "phone": 1}
    chunks = " ".join(Chunk.objects.values_list("text", flat=True))
    assert "bob@vendor.example" not in chunks
    assert "4111" not in chunks
    assert "dana@acme.test" in chunks


@pytest.mark.django_db
def test_the_address_of_the_colleague_behind_an_author_is_their_own() -> None:
    source = f.make_source()
    # The first batch introduces the people (as a Slack export does); Dana's profile address
    # links her Slack user to her colleague. Later batches only name her by user id.
    ingest_batch(source=source, batch=f.batch(people=PEOPLE, containers=CHANNELS))
    ingest_batch(
        source=source,
        batch=f.batch(f.message("CGEN", "U1", "I am dana@acme.test; Sam is sam@acme.test.")),
    )
    assert Item.objects.get().body == "I am dana@acme.test; Sam is [email]."


@pytest.mark.django_db
def test_a_mail_keeps_its_senders_address_and_masks_others_in_title_and_body() -> None:
    mail = f.make_source("mail", kind="email")
    ingest_batch(
        source=mail,
        batch=f.batch(
            f.email(
                "dana@acme.test",
                ("sam@acme.test",),
                "Contacts for tom@partner.example",
                "I am Dana@acme.test. Sam is sam@acme.test, 07700 900123.",
            )
        ),
    )
    item = Item.objects.get(source=mail)
    assert item.title == "Contacts for [email]"
    assert item.body == "I am Dana@acme.test. Sam is [email], [phone]."
    assert item.metadata["masked"] == {"email": 2, "phone": 1}


@pytest.mark.django_db
def test_the_quoted_reply_of_a_mail_is_masked_too() -> None:
    mail = f.make_source("mail", kind="email")
    doc = f.email("dana@acme.test", ("sam@acme.test",), "Re: setup", "Done.")
    doc = dataclasses.replace(doc, metadata={"quoted": "> call me on 07700 900123"})
    ingest_batch(source=mail, batch=f.batch(doc))
    item = Item.objects.get()
    assert item.metadata["quoted"] == "> call me on [phone]"
    assert item.metadata["masked"] == {"phone": 1}


@pytest.mark.django_db
def test_masking_is_switched_off_by_an_empty_setting(settings: Any) -> None:
    settings.COLLEAGUE_MASK_PERSONAL_DATA = []
    source = f.make_source()
    text = "vendor bob@vendor.example, +1 415-555-0134"
    ingest_batch(
        source=source,
        batch=f.batch(f.message("CGEN", "U1", text), people=PEOPLE, containers=CHANNELS),
    )
    item = Item.objects.get()
    assert item.body == text
    assert "masked" not in item.metadata


@pytest.mark.django_db
def test_only_the_kinds_the_setting_lists_are_masked(settings: Any) -> None:
    settings.COLLEAGUE_MASK_PERSONAL_DATA = ["card"]
    source = f.make_source()
    ingest_batch(
        source=source,
        batch=f.batch(
            f.message("CGEN", "U1", "bob@vendor.example paid with 4111 1111 1111 1111"),
            people=PEOPLE,
            containers=CHANNELS,
        ),
    )
    assert Item.objects.get().body == "bob@vendor.example paid with [card]"


@pytest.mark.django_db
def test_an_unchanged_document_stays_unchanged_when_synced_again() -> None:
    source = f.make_source()
    doc = f.message("CGEN", "U2", "ping jo@x.io", minutes=3)
    first = ingest_batch(source=source, batch=f.batch(doc, people=PEOPLE, containers=CHANNELS))
    again = ingest_batch(source=source, batch=f.batch(doc, people=PEOPLE, containers=CHANNELS))
    assert (first.created, again.unchanged) == (1, 1)


def test_a_random_page_of_prose_and_numbers_is_masked_in_well_under_a_second() -> None:
    rng = random.Random(7)
    words = ["deploy", "the", "2024-01-15", "v1.2.3", "#1234", "node", "10:30", "42", "a@b.io"]
    text = " ".join(rng.choice(words) for _ in range(20_000))
    started = time.perf_counter()
    mask_personal_data(text)
    assert time.perf_counter() - started < 1.0

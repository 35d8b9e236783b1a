"""The stylometric profile and style matching (skills.analysis.style). No database needed."""

from __future__ import annotations

import json
import math
import random
import re
import time
import zipfile
from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from colleagues.demo.generate import generate_company
from skills.analysis.style import (
    FINGERPRINT_VERSION,
    MAX_WRITINGS,
    EmptyText,
    IncompatibleProfile,
    StyleMatcher,
    StyleProfile,
    excerpt,
    formality,
    greeting_of,
    phrase_background,
    sign_off_of,
    style_profile,
)
from skills.analysis.types import Writing

T0 = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)


def writings(
    texts: Sequence[str], *, start: int = 1, addressed_to: str = "", hours: float = 5
) -> list[Writing]:
    return [
        Writing(
            item_id=start + n,
            text=text,
            created_at=T0 + timedelta(hours=hours * n),
            kind="message",
            addressed_to=addressed_to,
        )
        for n, text in enumerate(texts)
    ]


def texts_of(items: Sequence[Writing]) -> dict[int, str]:
    return {w.item_id: w.text for w in items}


def assert_verbatim(examples: Any, items: Sequence[Writing]) -> None:
    by_id = texts_of(items)
    assert examples
    for example in examples:
        assert example.excerpt
        assert example.excerpt in by_id[example.item_id]


FILLER = [
    "the deploy finished and the dashboards look normal",
    "can someone review the migration before lunch",
    "I moved the meeting to the afternoon slot",
    "the alert fired twice overnight but recovered",
    "we should archive the old bucket next week",
    "the customer asked for an export of last month",
    "please check the staging logs when you can",
    "the new runbook is linked from the channel topic",
]


def chatty(rng: random.Random, n: int, *, extra: str = "", every: int = 0) -> list[str]:
    """`n` messages of filler; every `every`-th carries `extra` somewhere in it."""
    texts = []
    for i in range(n):
        words = rng.choice(FILLER).split()
        text = " ".join(words).capitalize() + "."
        if every and i % every == 0:
            text = f"{text} {extra}" if i % 2 else f"{extra} {text}"
        texts.append(text)
    return texts


# -- pet phrases ----------------------------------------------------------------------------


def test_pet_phrase_used_in_many_messages_is_found_and_one_everyone_uses_is_not() -> None:
    rng = random.Random(1)
    mine = chatty(rng, 60, extra="Measure twice, cut once.", every=4)
    # Everyone, this writer included, says "thanks for the update".
    mine = [f"{t} Thanks for the update." if i % 3 == 0 else t for i, t in enumerate(mine)]
    others = [
        f"{t} Thanks for the update." if i % 3 == 0 else t for i, t in enumerate(chatty(rng, 300))
    ]
    items = writings(mine)

    profile = style_profile(items, background=phrase_background(others))

    phrases = {p.phrase: p for p in profile.pet_phrases}
    assert "measure twice cut once" in phrases
    assert not any("thanks for the update" in p for p in phrases)
    found = phrases["measure twice cut once"]
    assert found.as_written == "Measure twice, cut once"
    assert found.messages == 15
    assert found.background_share is not None
    assert found.background_share < 0.01
    assert_verbatim(found.examples, items)
    assert len({e.item_id for e in found.examples}) == len(found.examples) >= 2


def test_a_phrase_inside_a_repeated_passage_is_boilerplate_not_a_pet_phrase() -> None:
    rng = random.Random(2)
    rule = "All production changes go through the change calendar every single week."
    items = writings(chatty(rng, 40, extra=rule, every=3))

    profile = style_profile(items)

    assert not any("change calendar" in p.phrase for p in profile.pet_phrases)


def test_pet_phrases_never_run_from_one_message_into_the_next() -> None:
    texts = ["Could you kindly review", "Budget sheet attached"] * 10

    phrases = [p.phrase for p in style_profile(writings(texts)).pet_phrases]

    assert "kindly review" in phrases or "could you kindly review" in phrases
    assert not any("review budget" in p for p in phrases)


def test_phrases_of_function_words_or_numbers_are_never_pet_phrases() -> None:
    items = writings([f"It is what it is, and so on. Item {n} of 20." for n in range(20)])

    assert style_profile(items).pet_phrases == ()


# -- greetings and sign-offs ----------------------------------------------------------------


def test_greetings_become_forms_with_a_name_placeholder_and_verbatim_examples() -> None:
    texts = [
        "Hi Dana, can you look at the failing job?",
        "Hi Tom, the report is ready.",
        "Hi Priya, thanks for the review.",
        "Hi everyone, the office is closed on Friday.",
        "Hi everyone, pizza is in the kitchen.",
        "The build is green again.",
    ]
    items = writings(texts)

    greetings = style_profile(items).greetings

    forms = {h.form: h for h in greetings.forms}
    assert forms["Hi {name},"].count == 3
    assert forms["Hi everyone,"].count == 2
    assert greetings.share == pytest.approx(5 / 6, abs=1e-4)
    for habit in greetings.forms:
        assert_verbatim(habit.examples, items)
    assert any(e.excerpt.startswith("Hi Dana,") for e in forms["Hi {name},"].examples)


@pytest.mark.parametrize(
    ("text", "form", "written"),
    [
        ("hey anyone going to the meetup?", "hey", "hey"),
        ("hey measure twice, cut once.", "hey", "hey"),
        ("Hi lovely people, the survey is out.", "Hi lovely people,", "Hi lovely people,"),
        ("Hey hey! Big news today.", "Hey hey!", "Hey hey!"),
        ("Morning! Coffee is ready.", "Morning!", "Morning!"),
        ("  Dear Dr Smith,\nPlease see below.", "Dear {name},", "Dear Dr Smith,"),
        ("大家好，告警规则已经更新了。", "大家好，", "大家好，"),
        ("Wade,\n\nThanks for your help.", "{name},", "Wade,"),
        ("Louise --\n\nSee below.", "{name} --", "Louise --"),
    ],
)
def test_greeting_forms(text: str, form: str, written: str) -> None:
    found = greeting_of(text)

    assert found is not None
    assert found[0] == form
    assert text[found[1] : found[2]] == written


@pytest.mark.parametrize(
    "text", ["The build is green.", "Honestly, no idea.", "", "   ", "Hiking this weekend?"]
)
def test_messages_without_a_greeting(text: str) -> None:
    assert greeting_of(text) is None


def test_sign_offs_are_found_with_verbatim_examples() -> None:
    texts = [
        "The deck is in the shared folder.\nBest, Helen",
        "Quarterly numbers are out.\nBest, Helen",
        "Molly,\n\nThanks for your message.\n\nThanks,\nVince",
        "Frank,\n\nTuesday works.\n\nThanks,\nVince",
        "This is a two-way door.\n— R",
        "Let's not boil the ocean.\n— R",
        "A one-line message has no sign-off",
    ]
    items = writings(texts)

    sign_offs = style_profile(items).sign_offs

    forms = {h.form: h.count for h in sign_offs.forms}
    assert forms == {"Best, Helen": 2, "Thanks,\nVince": 2, "— R": 2}
    assert sign_offs.share == pytest.approx(6 / 7, abs=1e-4)
    for habit in sign_offs.forms:
        assert_verbatim(habit.examples, items)


@pytest.mark.parametrize(
    ("text", "form"),
    [
        ("Ship it.\n-- M", "-- M"),
        ("done\nbest, helen", "best, helen"),
        ("See you there.\nCheers", "Cheers"),
        ("Noted.\n\nAlan C.", "Alan C."),
        ("Ok.\n\nGracias, Lucía", "Gracias, Lucía"),
    ],
)
def test_sign_off_forms(text: str, form: str) -> None:
    found = sign_off_of(text)

    assert found is not None
    assert found[0] == form
    assert text[found[1] : found[2]] == form


@pytest.mark.parametrize(
    "text",
    [
        "Thanks, I'll try that now.",
        "First line\n- check the logs",
        "Steps:\n1. Restart",
        "Is this right?\nFYI",
    ],
)
def test_lines_that_are_not_sign_offs(text: str) -> None:
    assert sign_off_of(text) is None


def test_a_closing_line_the_writer_repeats_is_a_sign_off() -> None:
    texts = [f"Update number {n} is out.\nOnwards! Chloe" for n in range(5)]

    sign_offs = style_profile(writings(texts)).sign_offs

    assert sign_offs.forms[0].form == "Onwards! Chloe"
    assert sign_offs.forms[0].count == 5


# -- other habits ---------------------------------------------------------------------------


def test_punctuation_capitalisation_and_emoji_habits() -> None:
    texts = [
        "wow that worked!! :tada:",
        "ok shipping it now 🎉",
        "hmm… not sure; let me check",
        "FYI the CI is red again :fire: :fire:",
        "all good here 👍🏽",
    ]
    items = writings(texts)

    profile = style_profile(items)

    marks = {p.mark: p for p in profile.punctuation}
    assert marks["!"].message_share == 0.2
    assert marks["…"].message_share == 0.2
    assert marks[";"].message_share == 0.2
    assert marks[":"].message_share == 0.0  # ":tada:" is an emoji, not a colon
    assert_verbatim(marks["!"].examples, items)
    assert profile.capitalisation.lowercase_start_share == pytest.approx(0.8)
    assert [t.text for t in profile.capitalisation.all_caps_words] == ["CI", "FYI"]
    top = {e.emoji: e.count for e in profile.emoji.top}
    assert top == {":fire:": 2, ":tada:": 1, "🎉": 1, "👍🏽": 1}
    assert profile.emoji.message_share == 0.8
    assert_verbatim(profile.emoji.top[0].examples, items)
    assert profile.formality < 0.4


def test_formality_orders_casual_below_formal() -> None:
    casual = formality("lol ok cool, gonna ship it!! 🎉")
    neutral = formality("The build is green again.")
    formal = formality(
        "Dear Ms Roze,\n\nPlease find attached the revised agreement. I would appreciate "
        "your comments by Friday.\n\nKind regards,\nMichelle"
    )

    assert 0 <= casual < neutral < formal <= 1


def test_length_vocabulary_and_languages() -> None:
    texts = [
        "one two three",
        "one two three four five six seven eight nine ten eleven",
        "今天的部署已经完成了",
        "Der Server ist wieder da und wir sind nicht mehr im Notfall.",
        "The deploy is done and the dashboards are green.",
    ]
    profile = style_profile(writings(texts))

    assert profile.length.words.count == 5
    assert profile.length.words.median == 10.0  # 3, 11, 10 (CJK characters), 12, 9
    assert sum(b.count for b in profile.length.histogram) == 5
    assert {b.label: b.count for b in profile.length.histogram}["11-25"] == 2
    assert 0 < profile.vocabulary.mattr <= 1
    assert profile.languages.cjk_share == 0.2
    shares = {s.name: s.share for s in profile.languages.languages}
    assert set(shares) == {"zh", "de", "en"}
    assert any("今天" in e.excerpt for e in profile.languages.examples)


def test_active_hours_and_weekdays_are_counted_in_utc() -> None:
    plus_two = timezone(timedelta(hours=2))
    moments = [
        datetime(2025, 3, 3, 9, 15, tzinfo=UTC),  # Monday 09 UTC
        datetime(2025, 3, 3, 9, 45, tzinfo=UTC),
        datetime(2025, 3, 5, 11, 0, tzinfo=plus_two),  # Wednesday 09 UTC
        datetime(2025, 3, 8, 0, 30, tzinfo=plus_two),  # Friday 22 UTC
    ]
    items = [Writing(n, "hello there", m, "message") for n, m in enumerate(moments)]

    activity = style_profile(items).activity

    assert len(activity.hours) == 24
    assert {h: c for h, c in enumerate(activity.hours) if c} == {9: 3, 22: 1}
    assert activity.weekdays == (2, 0, 1, 0, 1, 0, 0)


def test_response_latency_quartiles_use_known_non_negative_delays() -> None:
    items = [
        Writing(n, "on it", T0 + timedelta(seconds=s), "message", replying_to_at=T0)
        for n, s in enumerate([60, 120, 180, 240, 300])
    ]
    items.append(Writing(10, "early", T0, "message", replying_to_at=T0 + timedelta(hours=1)))
    items.append(Writing(11, "unknown", T0, "message"))

    replies = style_profile(items).latency.replies

    assert replies.count == 5
    assert (replies.p25, replies.median, replies.p75) == (120.0, 180.0, 240.0)
    assert replies.mean == 180.0


def test_tone_shifts_toward_the_manager() -> None:
    to_manager = [
        f"Dear Sam,\n\nPlease find attached the quarterly summary for item {n}. I would "
        "appreciate your review; however, there is no urgency.\n\nKind regards,\nAda"
        for n in range(6)
    ]
    to_peers = [f"lol ok cool, pushing fix {n} now!! 🎉" for n in range(12)]
    items = writings(to_manager, addressed_to="manager") + writings(
        to_peers, start=100, addressed_to="peer"
    )

    audiences = {a.audience: a for a in style_profile(items).audiences}

    manager, peer = audiences["manager"], audiences["peer"]
    assert (manager.messages, peer.messages) == (6, 12)
    assert manager.formality > peer.formality + 0.2
    assert manager.mean_words > 3 * peer.mean_words
    assert (manager.exclamation_share, peer.exclamation_share) == (0, 1)
    assert manager.shift.startswith("To their manager: longer")
    assert "more formal" in manager.shift
    assert_verbatim(manager.examples, items)
    assert "report" not in audiences  # no messages to reports


# -- the stored form ------------------------------------------------------------------------


SYLLABLES = ["ka", "lo", "mi", "ne", "ru", "sa", "ti", "vo", "pe", "da", "shu", "gre"]


def busy_writer(n: int, seed: int = 5) -> list[Writing]:
    """`n` messages over a vocabulary of 1,872 made-up words, with habits here and there."""
    rng = random.Random(seed)
    vocabulary = [a + b for a in SYLLABLES for b in SYLLABLES] + [
        a + b + c for a in SYLLABLES for b in SYLLABLES for c in SYLLABLES
    ]
    texts = []
    for i in range(n):
        words = [rng.choice(vocabulary) for _ in range(rng.randint(3, 30))]
        text = " ".join(words)
        if i % 7 == 0:
            text = "Hi team, " + text + " :rocket:"
        if i % 11 == 0:
            text += "\nCheers, Kim"
        texts.append(text)
    return [
        Writing(
            item_id=i,
            text=t,
            created_at=T0 + timedelta(minutes=17 * i),
            kind="message",
            replying_to_at=T0 + timedelta(minutes=17 * i - 3) if i % 3 else None,
            addressed_to=("manager", "peer", "report", "")[i % 4],
        )
        for i, t in enumerate(texts)
    ]


def test_profile_round_trips_through_json() -> None:
    items = busy_writer(400) + writings(["大家好，今天部署 🎉", "hey… ok!!"], start=5000)
    profile = style_profile(items)

    data = json.loads(json.dumps(profile.to_dict()))

    assert StyleProfile.from_dict(data) == profile
    assert StyleProfile.from_dict(data).to_dict() == profile.to_dict()


def test_from_dict_rejects_what_is_not_a_profile() -> None:
    data = style_profile(busy_writer(20)).to_dict()

    with pytest.raises(ValueError, match="version"):
        StyleProfile.from_dict({**data, "version": 99})
    with pytest.raises(ValueError, match="malformed"):
        StyleProfile.from_dict({k: v for k, v in data.items() if k != "emoji"})


def test_profile_does_not_depend_on_the_order_of_writings() -> None:
    items = busy_writer(200)
    shuffled = list(items)
    random.Random(3).shuffle(shuffled)

    assert style_profile(shuffled) == style_profile(items)


def test_profile_of_10000_messages_stays_small() -> None:
    profile = style_profile(busy_writer(10_000))

    size = len(json.dumps(profile.to_dict(), ensure_ascii=False).encode())

    assert profile.writings == 10_000
    assert size < 150_000


def test_profile_reads_at_most_max_writings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("skills.analysis.style.MAX_WRITINGS", 50)
    items = busy_writer(120)

    profile = style_profile(items)

    assert (profile.writings, profile.writings_total) == (50, 120)
    assert MAX_WRITINGS > 50


def test_profile_of_nothing_is_empty_but_valid() -> None:
    profile = style_profile([])

    assert profile.writings == 0
    assert StyleProfile.from_dict(json.loads(json.dumps(profile.to_dict()))) == profile
    ranked = StyleMatcher.from_profiles({"nobody": profile}).rank("anything")
    assert [(m.key, m.score) for m in ranked] == [("nobody", 0.0)]


# -- matching -------------------------------------------------------------------------------

WRITERS = {
    "quiet@example.com": lambda rng, topic: (
        f"hey {topic} looks fine to me… will check again tmrw :sweat_smile:"
        if rng.random() < 0.5
        else f"ok {topic} done :white_check_mark:"
    ),
    "formal@example.com": lambda rng, topic: (
        f"Dear colleagues,\n\nPlease note that the {topic} review has been completed. "
        f"Should you have any questions, I would be glad to assist.\n\nKind regards,\nMargaret"
    ),
    "loud@example.com": lambda rng, topic: (
        f"WOW the {topic} is LIVE!!! Huge win team!!! 🚀🚀"
        if rng.random() < 0.5
        else f"Crushing it on {topic}!!! 🎉 Let's goooo!"
    ),
    "terse@example.com": lambda rng, topic: f"{topic.capitalize()}: merged. -- M",
}
TOPICS = ["billing", "the ledger", "onboarding", "search", "the api", "payroll", "the roadmap"]


def writer_texts(key: str, n: int, seed: int) -> list[str]:
    rng = random.Random(f"{key}:{seed}")
    return [WRITERS[key](rng, rng.choice(TOPICS)) for _ in range(n)]


@pytest.fixture(scope="module")
def profiles() -> dict[str, StyleProfile]:
    return {key: style_profile(writings(writer_texts(key, 40, 1))) for key in WRITERS}


def test_matcher_ranks_the_true_author_first(profiles: dict[str, StyleProfile]) -> None:
    matcher = StyleMatcher.from_profiles(profiles)

    for key in WRITERS:
        for text in writer_texts(key, 5, 2):
            ranked = matcher.rank(text, limit=4)
            assert ranked[0].key == key, (text, ranked)
            assert [m.score for m in ranked] == sorted((m.score for m in ranked), reverse=True)
            assert all(0.0 <= m.score <= 1.0 for m in ranked)


def test_scores_are_deterministic_and_ties_go_by_key(profiles: dict[str, StyleProfile]) -> None:
    twin = profiles["loud@example.com"]
    matcher = StyleMatcher.from_profiles(
        {"b@x": twin, "a@x": twin, "c@x": profiles["terse@example.com"]}
    )
    text = "Huge win!!! 🚀"

    first = matcher.rank(text)
    again = StyleMatcher.from_profiles(
        {"c@x": profiles["terse@example.com"], "a@x": twin, "b@x": twin}
    ).rank(text)

    assert first == again == matcher.rank_many([text])[0]
    assert [m.key for m in first[:2]] == ["a@x", "b@x"]
    assert first[0].score == first[1].score > first[2].score
    assert len(matcher.rank(text, limit=1)) == 1
    assert matcher.rank(text, limit=0) == []


def test_blank_text_is_an_empty_text_error_and_an_empty_batch_entry(
    profiles: dict[str, StyleProfile],
) -> None:
    matcher = StyleMatcher.from_profiles(profiles)

    for blank in ["", "   ", "\n\t \u3000", "\x00\x01"]:
        with pytest.raises(EmptyText):
            matcher.rank(blank)
    batch = matcher.rank_many(["", "ok done :white_check_mark:"], limit=2)
    assert batch[0] == []
    assert batch[1][0].key == "quiet@example.com"
    assert issubclass(EmptyText, ValueError)


@pytest.mark.parametrize(
    "text",
    [
        "🚀🚀🎉",
        ":sweat_smile:",
        "今天的部署已经完成了，没有问题。",
        "x" * 5_000_000,
        "a\ud800b",
        "\x00hi",
    ],
)
def test_matcher_takes_any_text_in_bounded_time(
    profiles: dict[str, StyleProfile], text: str
) -> None:
    matcher = StyleMatcher.from_profiles(profiles)

    started = time.perf_counter()
    ranked = matcher.rank(text)
    elapsed = time.perf_counter() - started

    assert len(ranked) == len(profiles)
    assert all(0.0 <= m.score <= 1.0 and math.isfinite(m.score) for m in ranked)
    assert elapsed < 5.0  # bounded: the text is cut to MAX_MATCH_CHARS (a hang guard)


def test_emoji_only_text_goes_to_the_emoji_writer(profiles: dict[str, StyleProfile]) -> None:
    matcher = StyleMatcher.from_profiles(profiles)

    assert matcher.rank("🚀🚀")[0].key == "loud@example.com"


def test_matcher_refuses_profiles_of_another_fingerprint_version(
    profiles: dict[str, StyleProfile],
) -> None:
    old = profiles["loud@example.com"]
    stale = replace(old, fingerprint=replace(old.fingerprint, version=FINGERPRINT_VERSION + 1))

    with pytest.raises(IncompatibleProfile):
        StyleMatcher.from_profiles({"old@x": stale})


def test_matcher_without_profiles_ranks_nobody() -> None:
    assert StyleMatcher.from_profiles({}).rank("hello") == []


def test_matcher_ranks_1000_profiles(profiles: dict[str, StyleProfile]) -> None:
    """Speed over 1,000 profiles is measured in docs/BENCHMARKS.md; here, the result."""
    base = [style_profile(busy_writer(300, seed=s)) for s in range(4)] + list(profiles.values())
    many = {f"person{n:04d}@example.com": base[n % len(base)] for n in range(1000)}
    matcher = StyleMatcher.from_profiles(many)
    texts = writer_texts("loud@example.com", 20, 9) + writer_texts("formal@example.com", 20, 9)
    ranked = matcher.rank_many(texts)

    assert all(len(r) == 10 for r in ranked)
    assert all(r[0].score >= r[-1].score for r in ranked)


# -- any text -------------------------------------------------------------------------------

FRAGMENTS = st.sampled_from(
    [
        "Hi Dana,",
        "hey",
        "大家好，",
        "\n",
        "\n\n\n",
        " " * 50,
        "\x00",
        "\u200d",
        "🎉",
        "👍🏽",
        "🇩🇪",
        ":tada:",
        "::",
        "...",
        "—",
        "!!",
        "Best, Helen",
        "\nThanks,\nVince",
        "-- ",
        "<@U123>",
        "https://example.com/a?b=c",
        "ÄÖÜ ß İ",
        "告警规则已经更新了",
        "'",
        "'-'",
    ]
)
ANY_TEXT = st.one_of(
    st.text(alphabet=st.characters(codec=None, exclude_categories=()), max_size=300),
    st.lists(st.one_of(FRAGMENTS, st.text(max_size=20)), max_size=30).map("".join),
)


def finite_numbers(value: Any) -> Iterator[float]:
    if isinstance(value, float):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from finite_numbers(item)
    elif isinstance(value, list):
        for item in value:
            yield from finite_numbers(item)


@pytest.mark.parametrize(
    "text",
    [
        " " * 1_000_000 + "hi",
        "\x00" * 5_000,
        "\ud800\udfff\ud800",
        "🎉" * 20_000,
        "中" * 50_000,
        "\n" * 100_000 + "Thanks,\nVince",
        "a'" * 50_000,
    ],
)
def test_profile_of_extreme_texts_is_finite_and_fast(text: str) -> None:
    started = time.perf_counter()
    profile = style_profile(writings([text, text[:100]]))
    elapsed = time.perf_counter() - started

    assert all(math.isfinite(x) for x in finite_numbers(profile.to_dict()))
    assert elapsed < 5.0


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.lists(ANY_TEXT, min_size=1, max_size=4))
def test_feature_extractors_never_raise_and_give_finite_numbers(texts: list[str]) -> None:
    items = writings(texts)

    profile = style_profile(items, background=phrase_background(texts))

    data = profile.to_dict()
    assert all(math.isfinite(x) for x in finite_numbers(data))
    assert StyleProfile.from_dict(json.loads(json.dumps(data))) == profile
    for section in [profile.greetings, profile.sign_offs]:
        for habit in section.forms:
            assert_verbatim(habit.examples, items)
    for phrase in profile.pet_phrases:
        assert_verbatim(phrase.examples, items)
    matcher = StyleMatcher.from_profiles({"someone": profile})
    for text in texts:
        assert 0.0 <= formality(text) <= 1.0
        greeting_of(text)
        sign_off_of(text)
        try:
            scores = matcher.scores(text)
        except EmptyText:
            assert not any(c.isprintable() and not c.isspace() for c in text)
        else:
            assert all(0.0 <= s <= 1.0 for s in scores.tolist())


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(ANY_TEXT, st.integers(-5, 400), st.integers(-5, 400), st.integers(1, 200))
def test_excerpt_is_always_a_substring(text: str, start: int, end: int, width: int) -> None:
    cut = excerpt(text, start, end, width)

    assert cut in text
    assert len(cut) <= width


# -- the demo company, without the database --------------------------------------------------

HELD_OUT = 10


def _words(text: str) -> str:
    return " ".join(re.findall(r"[\w'’-]+", text.lower()))


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The demo Slack export read straight from its day files: texts by user, and the truth."""
    company = generate_company(tmp_path_factory.mktemp("northwind-style"))
    by_user: dict[str, list[tuple[float, str]]] = defaultdict(list)
    with zipfile.ZipFile(company.slack_export) as archive:
        users = {u["id"]: u["name"] for u in json.loads(archive.read("users.json"))}
        for name in sorted(archive.namelist()):
            if "/" not in name or not name.endswith(".json"):
                continue
            for record in json.loads(archive.read(name)):
                if record.get("subtype") or not record.get("text") or "user" not in record:
                    continue
                by_user[users[record["user"]]].append((float(record["ts"]), record["text"]))
    truth = json.loads(company.truth.read_text(encoding="utf-8"))
    people = {p["slack_username"]: p for p in truth["people"] if p["slack_username"] in by_user}
    train = {}
    test = {}
    for user, messages in by_user.items():
        messages.sort()
        train[user] = [
            Writing(n, text, datetime.fromtimestamp(ts, UTC), "message")
            for n, (ts, text) in enumerate(messages[:-HELD_OUT])
        ]
        test[user] = [text for _, text in messages[-HELD_OUT:]]
    profiles = {}
    for user, items in train.items():
        others = [w.text for other, ws in train.items() if other != user for w in ws]
        profiles[user] = style_profile(items, background=phrase_background(others))
    return {"people": people, "train": train, "test": test, "profiles": profiles}


def test_demo_pet_phrases_are_found_for_most_people(demo: dict[str, Any]) -> None:
    found = []
    for user, person in demo["people"].items():
        detected = {_words(p.phrase) for p in demo["profiles"][user].pet_phrases}
        truth = {_words(p) for p in person["pet_phrases"]}
        found.append(any(t in d or d in t for t in truth for d in detected))

    assert len(found) >= 15
    assert sum(found) >= 0.8 * len(found)


def test_demo_greetings_and_sign_offs_match_the_truth(demo: dict[str, Any]) -> None:
    greeters = [u for u, p in demo["people"].items() if p["greeting"]]
    right = [
        u
        for u in greeters
        if demo["profiles"][u].greetings.forms
        and demo["profiles"][u].greetings.forms[0].form == demo["people"][u]["greeting"]
    ]
    assert len(right) >= 0.8 * len(greeters)
    # Who signs Slack posts: Rafael, Marcus, Dana, Olivia and Grace.
    signed = {
        u: demo["profiles"][u].sign_offs.forms[0].form
        for u in demo["people"]
        if demo["profiles"][u].sign_offs.forms
    }
    assert signed == {
        u: demo["people"][u]["sign_off"]
        for u in ("rafael.ortiz", "marcus.webb", "dana.kowalski", "olivia.grant", "grace.holloway")
    }
    for user, profile in demo["profiles"].items():
        for habit in (*profile.greetings.forms, *profile.sign_offs.forms):
            assert_verbatim(habit.examples, demo["train"][user])


def test_demo_held_out_messages_are_attributed_to_their_author(demo: dict[str, Any]) -> None:
    matcher = StyleMatcher.from_profiles(demo["profiles"])

    joined = {
        user: matcher.rank("\n\n".join(texts), limit=3) for user, texts in demo["test"].items()
    }
    single = [
        matcher.rank(text, limit=1)[0].key == user
        for user, texts in demo["test"].items()
        for text in texts
    ]

    first = [user for user, ranked in joined.items() if ranked[0].key == user]
    assert len(first) >= 0.8 * len(joined)
    assert sum(single) >= 0.5 * len(single)

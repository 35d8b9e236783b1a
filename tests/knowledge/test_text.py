"""Properties of the shared tokeniser (knowledge/text.py): total on any text, offsets that
point at the words, English left as the old rules had it, and PostgreSQL's index function
equal to the Python one."""

from __future__ import annotations

import importlib
import re
import sqlite3

import pytest
from django.db import connection
from hypothesis import given, settings
from hypothesis import strategies as st

from knowledge import text as t
from knowledge.search import query_terms

# Text weighted towards what matters: CJK runs, Latin words, punctuation of both.
MIXED = st.lists(
    st.one_of(
        st.text(alphabet="支付网关的密钥轮换吊销验证了吗谁知道𠀀々ひらカナ한국", max_size=8),
        st.text(alphabet="abcXYZ019_'-", max_size=8),
        st.sampled_from([" ", "，", "。", "！", "？", "；", "……", ". ", "! ", "\n", "”", "…"]),
    ),
    max_size=20,
).map("".join)
ANY = st.one_of(st.text(), MIXED)
ENGLISH = st.text(alphabet=st.characters(max_codepoint=0x24F))


@given(ANY)
def test_nothing_raises_and_offsets_point_at_the_words(text: str) -> None:
    tokens = list(t.tokens(text))
    for token in tokens:
        assert text[token.start : token.end] == token.text
        assert token.cjk == t.has_cjk(token.text)
    assert [tok.start for tok in tokens] == sorted(tok.start for tok in tokens)
    for function in (t.index_bigrams, t.sentences, t.words, t.content_bigrams, t.query_words):
        function(text)
    cjk_chars = sum(1 for ch in text if t.is_cjk(ch))
    latin_words = len(re.findall(f"[^\\W_{t.CJK_CLASS}]+", text))
    assert t.length(text) == cjk_chars + latin_words
    assert "".join(piece for _, piece in t.script_pieces(text)) == text


@given(ANY)
def test_every_cjk_character_is_in_the_index_and_nothing_else_is(text: str) -> None:
    indexed = t.index_bigrams(text)
    cjk = "".join(ch for ch in text if t.is_cjk(ch))
    assert set(indexed.replace(" ", "")) == set(cjk)
    assert all(1 <= len(token) <= 2 for token in indexed.split())


@given(ANY)
def test_a_word_of_the_text_is_found_by_its_query(text: str) -> None:
    """Any CJK piece of the text, queried, matches the text's index: its bigrams in a row."""
    indexed = t.index_bigrams(text).split()
    for word in t.query_words(text):
        if not t.has_cjk(word):
            continue
        for match in t.cjk_matches(word):
            n = len(match.tokens)
            if match.prefix:
                assert any(token.startswith(match.tokens[0]) for token in indexed)
            else:
                windows = [tuple(indexed[i : i + n]) for i in range(len(indexed) - n + 1)]
                assert match.tokens in windows


@given(ENGLISH)
def test_english_is_tokenised_as_before(text: str) -> None:
    # No CJK: the old rules, exactly (knowledge.search, answers.matching, style sentences).
    assert t.query_words(text) == re.findall(r"\w+", text.lower())
    assert t.index_bigrams(text) == ""
    assert t.word_count(text) == len(text.split())
    old = [s.strip() for s in re.split(r"(?<=[.!?])\s+", text) if s.strip()]
    assert t.sentences(text) == old


@given(MIXED)
def test_sentences_keep_every_word_in_order(text: str) -> None:
    joined = "".join(t.sentences(text))
    assert "".join(text.split()) == "".join(joined.split())


def test_chinese_sentences_end_at_chinese_punctuation() -> None:
    text = "密钥每季度轮换一次。先在 staging 验证！要停机吗？“不用。”然后 deploy. Next"
    assert t.sentences(text) == [
        "密钥每季度轮换一次。",
        "先在 staging 验证！",
        "要停机吗？",
        "“不用。”",
        "然后 deploy.",
        "Next",
    ]
    assert t.sentences("等一下……好了；继续") == ["等一下……", "好了；", "继续"]


def test_query_words_drop_grammar_and_question_words() -> None:
    assert t.query_words("谁知道支付网关的密钥轮换？") == ["支付网关", "密钥轮换"]
    assert query_terms("Stripe的API密钥") == ["stripe", "api", "密钥"]
    assert t.bigrams("支付网关") == ["支付", "付网", "网关"]
    assert t.index_bigrams("支付网关 key 钥") == "支付 付网 网关 关 钥"


MIGRATION = importlib.import_module("knowledge.migrations.0014_cjk_keyword_index")


def test_the_migration_and_the_tokeniser_agree_on_what_cjk_is() -> None:
    assert MIGRATION.CJK_CLASS == t.CJK_CLASS


@given(ANY)
def test_sqlite_glob_finds_cjk_exactly_where_the_tokeniser_does(text: str) -> None:
    """The triggers index a chunk when GLOB finds CJK in it: never text without bigrams,
    never a chunk with them left out."""
    text = text.replace("\x00", "")  # SQLite's text functions stop at a NUL
    test = MIGRATION._HAS_CJK.format(row="x")
    sql = f"SELECT {test} FROM (SELECT ? AS text) x"  # noqa: S608 (the migration's constant)
    found = sqlite3.connect(":memory:").execute(sql, [text])
    assert bool(found.fetchone()[0]) == t.has_cjk(text) == bool(t.index_bigrams(text))


@pytest.mark.django_db
@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's own function")
@settings(max_examples=200, deadline=None)
@given(ANY)
def test_postgres_bigrams_equal_pythons(text: str) -> None:
    text = text.replace("\x00", "")  # PostgreSQL text holds no NUL
    with connection.cursor() as cursor:
        # The trigger's test for CJK, then the function it calls.
        cursor.execute(f"SELECT %s ~ '[{t.CJK_CLASS}]', colleague_cjk_bigrams(%s)", [text, text])
        has, bigrams = cursor.fetchone()
        assert has == t.has_cjk(text)
        assert bigrams == t.index_bigrams(text)

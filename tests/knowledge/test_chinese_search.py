"""Keyword search on Chinese text (knowledge/text.py bigrams, migration 0014), on whichever
database the suite runs on: a word inside a sentence is found, English is as before."""

from __future__ import annotations

import importlib
from pathlib import Path
from types import SimpleNamespace

import pytest
from django.db import connection

from colleagues.actions import link_login
from colleagues.models import Colleague
from knowledge.models import Chunk, Item
from knowledge.retrieval import retrieve
from knowledge.search import MARK_END, MARK_START
from knowledge.text import index_bigrams
from knowledge.visibility import Reader, reader_for
from tests import factories as f
from tests.chinese import Team, ingest_chinese_team

pytestmark = pytest.mark.django_db


@pytest.fixture
def team(tmp_path: Path) -> Team:
    return ingest_chinese_team(tmp_path)


def keyword(query: str, reader: Reader | None = None) -> list[str]:
    hits = retrieve(reader or Reader.operator(), query, mode="keyword", limit=50).hits
    return [hit.item.body for hit in hits]


def test_a_two_and_a_four_character_word_are_found_inside_sentences(team: Team) -> None:
    # 吊销 (revoke) stands inside two sentences and nowhere on its own.
    revoked = keyword("吊销")
    assert len(revoked) == 2
    assert all("吊销" in body for body in revoked)
    assert all("吊销" not in body.split() for body in revoked)
    # 支付网关 (payment gateway): every item holding it, and only those.
    gateway = keyword("支付网关")
    holding = [i.body for i in Item.objects.all() if "支付网关" in i.body]
    assert sorted(gateway) == sorted(holding)
    assert len(gateway) >= 5


def test_a_word_is_matched_as_written_not_across_punctuation_or_as_scattered_characters(
    team: Team,
) -> None:
    # "验证签名" is written only in the handover mail; "签名验证" nowhere.
    assert len(keyword("验证签名")) == 1
    assert keyword("签名验证") == []
    # "换。旧" spans a sentence end; no sentence holds it.
    assert keyword("换旧") == []


def test_the_best_match_comes_first_and_excerpts_mark_the_chinese_word(team: Team) -> None:
    hits = retrieve(Reader.operator(), "谁知道支付网关的密钥轮换？", mode="keyword").hits
    assert hits, "a question in Chinese finds by its words"
    top = hits[0]
    assert "支付网关" in top.item.body
    assert "密钥轮换" in top.item.body
    assert top.item.author is not None
    assert top.item.author.colleague_id == team.wang.pk
    marked = top.excerpt
    assert (
        f"{MARK_START}支付网关{MARK_END}" in marked or f"{MARK_START}密钥轮换{MARK_END}" in marked
    )


def test_mixed_chinese_and_english_queries_match_both_sides(team: Team) -> None:
    """Either word finds (as English words do); the handover mail, holding both, ranks above
    every item holding "staging" alone."""
    both = keyword("staging 吊销")
    assert set(both) == set(keyword("吊销")) | set(keyword("staging"))
    first_with_both = next(n for n, b in enumerate(both) if "staging" in b and "吊销" in b)
    only_staging = [n for n, b in enumerate(both) if "吊销" not in b]
    assert only_staging
    assert first_with_both < min(only_staging)


def test_search_in_chinese_keeps_visibility(team: Team) -> None:
    """The incident mail went from 王伟 to 李娜 only: 陈杰, in every channel, does not find it."""

    def reader(username: str, colleague: Colleague) -> Reader:
        user = f.make_user(username, email=colleague.email)
        link_login(colleague=colleague, user=user)
        return reader_for(user)

    assert keyword("恢复正常", reader("chen", team.chen)) == []
    found = keyword("恢复正常", reader("li", team.li))
    assert len(found) == 1
    assert "webhook 签名用的还是旧密钥" in found[0]
    assert len(keyword("支付网关", reader("chen2", team.chen))) >= 4


def test_english_search_is_unchanged(team: Team) -> None:
    """Porter stemming still finds inflected English words next to Chinese text."""
    assert any("rotate-keys" in b for b in keyword("rotating keys"))
    assert any("webhook" in b for b in keyword("webhooks"))


def test_the_index_follows_edits_and_deletions(team: Team) -> None:
    chunk = Chunk.objects.filter(text__contains="吊销").order_by("id").first()
    assert chunk is not None
    before = len(keyword("吊销"))
    chunk.text = chunk.text.replace("吊销", "作废")
    chunk.save(update_fields=["text"])
    assert len(keyword("吊销")) == before - 1
    assert len(keyword("作废")) == 1
    chunk.text = "English only now"  # no CJK left: its bigrams go
    chunk.save(update_fields=["text"])
    assert keyword("作废") == []
    chunk.text = "又作废了"
    chunk.save(update_fields=["text"])
    assert len(keyword("作废")) == 1
    Chunk.objects.filter(pk=chunk.pk).delete()
    assert keyword("作废") == []


@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's own function")
def test_postgres_bigrams_equal_the_python_tokeniser() -> None:
    samples = [
        "",
        "English only",
        "支付网关的密钥轮换",
        "钥",
        "Stripe的API密钥，每季度轮换。旧密钥24小时后吊销！",
        "ひらがなとカタカナ、한국어 텍스트",
        "𠀀𠀁 ext-B 々〇",
    ]
    with connection.cursor() as cursor:
        for text in samples:
            cursor.execute("SELECT colleague_cjk_bigrams(%s)", [text])
            assert cursor.fetchone()[0] == index_bigrams(text), text


def test_the_migration_indexes_chunks_stored_before_it(
    team: Team, capsys: pytest.CaptureFixture[str]
) -> None:
    """0014's fill, run over chunks the CJK index does not hold yet (as on a database from
    before it), makes them findable; a batch smaller than the table gives the same result."""
    migration = importlib.import_module("knowledge.migrations.0014_cjk_keyword_index")
    expected = sorted(keyword("支付网关"))
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("UPDATE knowledge_chunk SET search_cjk = NULL")
            statement = migration.POSTGRES_FILL
        else:
            cursor.execute(
                "INSERT INTO knowledge_chunk_cjk(knowledge_chunk_cjk) VALUES ('delete-all')"
            )
            statement = migration.SQLITE_FILL
    assert keyword("支付网关") == []
    # _fill reads only the editor's connection (a schema editor cannot open inside a test's
    # transaction on SQLite).
    migration._fill(SimpleNamespace(connection=connection), statement, batch=3)
    assert sorted(keyword("支付网关")) == expected
    assert "CJK keyword index: chunk ids" in capsys.readouterr().err  # progress, batch by batch

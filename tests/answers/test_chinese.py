"""Ask and who knows in Chinese, on the team of tests/fixtures/zh: questions written in Chinese
are answered with the colleague's own Chinese sentences and cited; a Chinese topic ranks the
person who wrote about it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from django.test.utils import override_settings

from answers.ask import ask
from answers.who_knows import who_knows
from colleagues.actions import link_login
from colleagues.models import Colleague
from knowledge.indexing import embed_chunks
from knowledge.models import Item
from knowledge.visibility import Reader, reader_for
from skills.actions import build_packages
from tests import factories as f
from tests.chinese import Team, forget_packages, ingest_chinese_team

pytestmark = pytest.mark.django_db


def embedded_team(tmp_path: Path, embedder: str) -> Iterator[Team]:
    with override_settings(COLLEAGUE_EMBEDDER=embedder, COLLEAGUE_INDEX_BACKEND="db"):
        team = ingest_chinese_team(tmp_path)
        assert embed_chunks() > 0
        outcomes = build_packages(Colleague.objects.order_by("name"))
        assert [o.error for o in outcomes if o.version is None] == []
        yield team
        forget_packages()


@pytest.fixture
def team(tmp_path: Path) -> Iterator[Team]:
    """The team, embedded with the tests' hashing embedder and every package built."""
    yield from embedded_team(tmp_path, "hashing")


@pytest.fixture
def team_by_meaning(tmp_path: Path) -> Iterator[Team]:
    """The team embedded with the default model (USE, which reads Chinese): `who_knows`
    counts what is nearest a question by meaning, which the hashing embedder's 256 buckets
    of character trigrams blur for short Chinese messages."""
    yield from embedded_team(tmp_path, "use")


def quoted(answer: str) -> list[str]:
    """The passages an answer quotes (between “ and ”)."""
    return [part.split("”", 1)[0] for part in answer.split("“")[1:]]


def test_a_chinese_question_is_answered_with_their_chinese_sentences_and_cited(
    team: Team,
) -> None:
    answer = ask(Reader.operator(), team.wang, "支付网关的密钥多久轮换一次？")
    assert answer.citations
    cited = Item.objects.select_related("author").in_bulk([c.item_id for c in answer.citations])
    assert {item.author.colleague_id for item in cited.values() if item.author} == {team.wang.pk}
    # Every quote is their text (or a mail's subject), as written, white space aside.
    bodies = ["".join((item.title + item.body).split()) for item in cited.values()]
    for quote in quoted(answer.answer):
        assert any("".join(quote.split()) in body for body in bodies), quote
    # The answer holds how often: their sentence with 每个季度轮换一次.
    assert "每个季度轮换一次" in answer.answer
    assert "[1]" in answer.answer


def test_a_question_they_were_asked_is_answered_with_the_reply_they_gave(team: Team) -> None:
    answer = ask(Reader.operator(), team.wang, "对账报表怎么导出？")
    lead = answer.answer.split("\n", 1)[0]
    assert "对账报表我来导出" in lead
    assert "李娜 asked" in answer.answer  # the question, as context with its author
    assert len(answer.citations) == 1


def test_a_chinese_question_outside_what_they_wrote_cites_nothing(team: Team) -> None:
    answer = ask(Reader.operator(), team.wang, "会议室怎么预订？")
    assert answer.citations == ()


def test_who_knows_ranks_the_writer_for_a_chinese_topic(team_by_meaning: Team) -> None:
    team = team_by_meaning
    user = f.make_user("lina", email=team.li.email)
    link_login(colleague=team.li, user=user)
    reader = reader_for(user)
    experts = who_knows(reader, "谁知道支付网关的密钥轮换？")
    assert experts[0].colleague == team.wang
    assert experts[0].colleague.is_departed
    assert experts[0].successors, "a departed expert comes with who knows the same now"
    # Their messages on it, quoted (a reply in a thread about 支付网关 may come along).
    assert sum("密钥轮换" in e.excerpt for e in experts[0].evidence) >= 2
    assert who_knows(reader, "数据库备份")[0].colleague == team.chen
    assert who_knows(reader, "会议室预订")[0].colleague == team.li

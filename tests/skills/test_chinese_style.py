"""The style and work analysis of a Chinese writer (tests/fixtures/zh: 王伟): sentences end at
。！？, lengths are in characters, their set phrase and greeting are found, and the rendered
persona says so in readable Chinese."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from knowledge.visibility import Reader
from skills.actions import build_package
from skills.analysis.corpus import load_corpus
from skills.analysis.style import style_profile
from skills.analysis.work import questions_in, rule_sentences
from skills.selectors import package_view, version_of
from tests.chinese import Team, forget_packages, ingest_chinese_team

pytestmark = pytest.mark.django_db


@pytest.fixture
def team(tmp_path: Path) -> Iterator[Team]:
    yield ingest_chinese_team(tmp_path)
    forget_packages()


def test_a_chinese_writer_gets_figures_in_characters_and_their_own_phrases(team: Team) -> None:
    writings = load_corpus(Reader.operator(), team.wang, max_items=100).writings
    profile = style_profile(writings).to_dict()
    assert profile["languages"]["primary"] == "zh"
    sentences = profile["length"]["sentence_words"]
    # Ten messages of two to six sentences each: Chinese full stops end sentences.
    assert sentences["count"] >= 2.5 * len(writings)
    # A sentence is a dozen or two characters, a message a few dozen.
    assert 8 <= sentences["median"] <= 25
    assert 20 <= profile["length"]["words"]["median"] <= 60
    phrases = {p["phrase"]: p for p in profile["pet_phrases"]}
    assert "有问题随时找我" in phrases
    assert phrases["有问题随时找我"]["messages"] >= 7
    assert next(iter(phrases)) == "有问题随时找我"  # the most telling one comes first
    greetings = profile["greetings"]["forms"]
    assert greetings[0]["form"] == "大家好，"
    assert greetings[0]["share"] >= 0.4


def test_the_rendered_persona_reads_in_characters_with_their_phrase(team: Team) -> None:
    version = build_package(team.wang)
    assert version_of(team.wang) == version
    persona = package_view(Reader.operator(), version).files.files["persona.md"]
    length = next(line for line in persona.splitlines() if line.startswith("- Length:"))
    assert "characters" in length
    assert "words" not in length
    assert "Writes mostly in Chinese." in persona
    assert "- Greeting: “大家好，”" in persona
    assert "- Pet phrase: “有问题随时找我”" in persona


def test_chinese_questions_and_rules_are_found() -> None:
    assert questions_in("大家好，\n谁知道支付网关的密钥在哪里轮换？我找了半天。") == [
        "谁知道支付网关的密钥在哪里轮换？"
    ]
    text = "大家好，提醒一下：轮换前一定要先在 staging 验证 webhook 签名。午饭吃什么？"
    assert rule_sentences(text) == [
        "大家好，提醒一下：轮换前一定要先在 staging 验证 webhook 签名。"
    ]

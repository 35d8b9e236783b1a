"""Who knows, on the demo company: the generator's owners ranked first, departed experts
listed with their successors, evidence only from what the reader may see."""

from __future__ import annotations

import io
import json
import statistics
import time
from typing import Any

import pytest
from django.contrib.auth.models import AbstractUser
from django.core.management import CommandError, call_command
from django.test import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from answers.matching import normalise
from answers.who_knows import Expert, results_json, who_knows
from colleagues.demo.topics import EXPERTISE
from knowledge.models import AuditEvent, Item
from knowledge.selectors import items_visible_to
from knowledge.visibility import Reader, reader_for
from skills.analysis.corpus import own_words
from tests.skills.conftest import Demo

pytestmark = pytest.mark.django_db


def people(demo: Demo) -> list[dict[str, Any]]:
    return [p for p in demo.truth["people"] if p["email"]]


def check_evidence(experts: list[Expert], reader: Reader) -> None:
    """Every evidence item is one the expert wrote and the reader may see, quoted as written."""
    rows = [(e, ev) for x in experts for e in (x, *x.successors) for ev in e.evidence]
    items = Item.objects.select_related("author").in_bulk([ev.item_id for _, ev in rows])
    visible = set(items_visible_to(reader).filter(pk__in=list(items)).values_list("pk", flat=True))
    for expert, evidence in rows:
        item = items[evidence.item_id]
        assert item.pk in visible
        assert item.author is not None
        assert item.author.colleague_id == expert.colleague.pk
        text = normalise(own_words(item.body, item.kind))
        assert all(p.strip() in text for p in evidence.excerpt.split("…") if p.strip())


def test_the_owner_of_a_system_is_ranked_first_and_departed_experts_come_with_successors(
    northwind: Demo, engineer: AbstractUser
) -> None:
    """Asked a system's name, as Tom: measured here, the generator's owner is first for all
    38 systems on SQLite and on PostgreSQL (37 before `volume` counted by meaning; all four
    departed owners included, each with a successor the generator names)."""
    reader = reader_for(engineer)
    first = total = 0
    departed_first: set[str] = set()
    successors_right = successors_asked = 0
    for person in people(northwind):
        for system in person["owned_systems"]:
            total += 1
            experts = who_knows(reader, system)
            check_evidence(experts, reader)
            assert experts, system
            top = experts[0]
            if top.colleague.email != person["email"]:
                continue
            first += 1
            assert top.evidence
            if person["departed_on"]:
                departed_first.add(person["email"])
                assert top.colleague.status == "departed"
                assert top.successors
                assert all(s.colleague.status == "current" for s in top.successors)
                successors_asked += 1
                named = {s.colleague.email for s in top.successors}
                successors_right += bool(named & set(person["successors"]))
            else:
                assert top.successors == ()
    assert total == 38
    assert first >= 37, first
    assert departed_first == {p["email"] for p in people(northwind) if p["departed_on"]}
    assert successors_right >= successors_asked - 1, (successors_right, successors_asked)


def test_whoever_answered_a_question_is_ranked_first_for_it(northwind: Demo) -> None:
    """The generator's questions (71), each asked of everyone: its owner is first for 70
    (measured here, on SQLite and on PostgreSQL; 71 before `volume` counted by meaning).
    Latency is printed (run with -s)."""
    owners = {p["email"].split(".")[0]: p["email"] for p in people(northwind)}
    right = total = 0
    seconds = []
    for key, expertise in EXPERTISE.items():
        for question, _answer in expertise.qa:
            total += 1
            started = time.perf_counter()
            experts = who_knows(Reader.operator(), question)
            seconds.append(time.perf_counter() - started)
            right += bool(experts) and experts[0].colleague.email == owners[key]
    seconds.sort()
    p50, p95 = statistics.median(seconds), seconds[int(0.95 * len(seconds)) - 1]
    print(f"\nwho_knows over {total} demo questions: p50 {p50:.3f}s, p95 {p95:.3f}s")
    assert total == 71
    assert right >= 65, right
    assert p95 < 5.0  # a guard against a pathological slowdown, not a benchmark


def test_a_reader_never_sees_evidence_from_a_private_channel_they_are_not_in(
    northwind: Demo, engineer: AbstractUser
) -> None:
    tom = reader_for(engineer)
    for channel in northwind.truth["channels"]:
        if not channel["canary"]:
            continue
        question = f"Who knows about the {channel['canary']}?"
        operator = who_knows(Reader.operator(), question, limit=10)
        assert {e.colleague.email for e in operator} & set(channel["members"])
        experts = who_knows(tom, question, limit=10)
        check_evidence(experts, tom)
        assert channel["canary"].lower() not in json.dumps(results_json(experts)).lower()


def test_the_who_knows_command_prints_the_contract_json(northwind: Demo) -> None:
    out = io.StringIO()
    call_command("who_knows", "invoice-runner", "--limit", "3", "--json", stdout=out)
    result = json.loads(out.getvalue())
    assert set(result) == {"results"}
    rows = result["results"]
    assert 1 <= len(rows) <= 3
    for row in rows:
        assert {"colleague", "score", "evidence"} <= set(row)
        assert {"email", "name", "status"} <= set(row["colleague"])
        assert isinstance(row["score"], float)
        assert row["evidence"]
        for evidence in row["evidence"]:
            assert set(evidence) == {"item_id", "excerpt"}
        for successor in row["successors"]:
            assert successor["colleague"]["status"] == "current"
    assert [r["score"] for r in rows] == sorted((r["score"] for r in rows), reverse=True)
    assert rows[0]["colleague"]["email"] == "dana.kowalski@northwind.example"
    assert rows[0]["colleague"]["status"] == "departed"
    human = io.StringIO()
    call_command("who_knows", "invoice-runner", stdout=human)
    assert human.getvalue().startswith("1. Dana Kowalski <dana.kowalski@northwind.example>")
    assert "now ask: " in human.getvalue()


def test_the_who_knows_command_answers_a_batch_and_rejects_bad_input(
    northwind: Demo, engineer: AbstractUser, tmp_path: Any
) -> None:
    batch = tmp_path / "topics.jsonl"
    questions = ["Greenhouse", "Who can help with the Snowflake warehouse?", "sourdough"]
    batch.write_text("".join(json.dumps({"question": q}) + "\n" for q in questions))
    out = io.StringIO()
    call_command("who_knows", "--input", str(batch), "--as", "tom", "--limit", "2", stdout=out)
    answers = [json.loads(line) for line in out.getvalue().splitlines()]
    reader = reader_for(engineer)
    assert answers == [results_json(who_knows(reader, q, limit=2)) for q in questions]
    assert answers[2] == {"results": []}
    assert AuditEvent.objects.filter(action="answers.who_knows", actor=engineer).count() == 3
    batch.write_text(json.dumps({"question": " "}) + "\n")
    with pytest.raises(CommandError, match=r"topics\.jsonl:1: the question is empty"):
        call_command("who_knows", "--input", str(batch))
    with pytest.raises(CommandError, match="the question is empty"):
        call_command("who_knows", "")
    with pytest.raises(CommandError, match="--limit must be at least 1"):
        call_command("who_knows", "Greenhouse", "--limit", "0")


def test_the_who_knows_api_answers_as_the_caller_may_see_it(
    northwind: Demo, engineer: AbstractUser
) -> None:
    client = Client()
    body = {"question": "Who knows about the postmortem draft?", "limit": 4}
    assert client.post("/api/who-knows/", body).status_code == 401
    client.force_login(engineer)
    response = client.post("/api/who-knows/", body, content_type="application/json")
    assert response.status_code == 200
    expected = results_json(who_knows(reader_for(engineer), body["question"], limit=4))
    assert response.json() == expected
    assert "postmortem draft" not in json.dumps(expected).lower()
    event = AuditEvent.objects.filter(action="answers.who_knows").latest("id")
    assert event.actor == engineer
    assert body["question"] not in json.dumps(event.detail)
    assert client.post("/api/who-knows/", {"question": ""}).status_code == 400
    assert client.post("/api/who-knows/", {"question": "x", "limit": 0}).status_code == 400


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(question=st.text(max_size=300).filter(lambda q: q.strip()))
def test_any_question_gets_a_ranking_without_raising(northwind: Demo, question: str) -> None:
    experts = who_knows(Reader.operator(), question)
    json.dumps(results_json(experts))
    assert all(e.evidence for e in experts)

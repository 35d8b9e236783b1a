"""Ask a colleague, on the demo company: answers in the person's own words, with citations,
within what the reader may see."""

from __future__ import annotations

import io
import json
import re
import statistics
import time
from typing import Any

import pytest
from django.contrib.auth.models import AbstractUser
from django.core.management import CommandError, call_command
from django.test import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from answers.ask import Answer, ask, no_evidence
from answers.matching import normalise
from colleagues.demo.topics import EXPERTISE
from colleagues.models import Colleague
from knowledge.models import AuditEvent, Item
from knowledge.selectors import items_visible_to
from knowledge.visibility import Reader, reader_for
from skills.analysis.corpus import own_words
from tests.skills.conftest import Demo

pytestmark = pytest.mark.django_db

DANA = "dana.kowalski@northwind.example"
CITATION_KEYS = {"item_id", "excerpt", "source", "created_at", "url"}
QUOTE = re.compile(r"“([^”]*)”")


def pieces(excerpt: str) -> list[str]:
    """The runs of an excerpt between its "…" marks."""
    return [p.strip() for p in excerpt.split("…") if p.strip()]


def check_own_words(answer: Answer, colleague: Colleague) -> None:
    """Every citation is an item the colleague wrote, every excerpt is their text, and so is
    the lead sentence's quote."""
    items = Item.objects.select_related("author").in_bulk([c.item_id for c in answer.citations])
    texts = []
    for citation in answer.citations:
        item = items[citation.item_id]
        assert item.author is not None
        assert item.author.colleague_id == colleague.pk
        text = normalise(own_words(item.body, item.kind))
        texts.append(text)
        for piece in pieces(citation.excerpt):
            assert piece in text, (piece, text)
    *_where, lead = QUOTE.findall(answer.answer.splitlines()[0])  # after a title, if any
    assert all(any(p in t for t in texts) for p in pieces(lead))


def departed(demo: Demo) -> list[dict[str, Any]]:
    return [p for p in demo.truth["people"] if p["departed_on"]]


def test_each_departed_colleague_answers_about_their_systems_in_their_own_words(
    northwind: Demo, engineer: AbstractUser
) -> None:
    reader = reader_for(engineer)
    asked = 0
    for person in departed(northwind):
        colleague = Colleague.objects.get(email=person["email"])
        for system in person["owned_systems"]:
            answer = ask(reader, colleague, f"What should I know about {system}?")
            assert answer.mode == "extractive"
            assert answer.citations, (person["name"], system)
            assert system.lower() in answer.answer.lower(), (system, answer.answer)
            assert answer.answer.startswith(f"{colleague.name} wrote on ")
            check_own_words(answer, colleague)
            asked += 1
    assert asked >= 8


def test_questions_colleagues_asked_them_are_answered_with_the_answer_they_gave(
    northwind: Demo,
) -> None:
    """Each generator question (71), asked of its owner: the answer they gave is cited, and
    first. Measured here: cited 71 of 71, first 69 of 71. Latency is printed (run with -s)."""
    people = {p["email"].split(".")[0]: p["email"] for p in northwind.truth["people"]}
    cited = first = total = 0
    seconds = []
    for key, expertise in EXPERTISE.items():
        colleague = Colleague.objects.get(email=people[key])
        for question, answer_text in expertise.qa:
            total += 1
            # The generator fills in tickets and names; compare the words before the first.
            probe = simplified(answer_text.split("{")[0])[:40]
            started = time.perf_counter()
            answer = ask(Reader.operator(), colleague, question)
            seconds.append(time.perf_counter() - started)
            check_own_words(answer, colleague)
            excerpts = [simplified(c.excerpt) for c in answer.citations]
            cited += any(probe in e for e in excerpts)
            first += bool(excerpts) and probe in excerpts[0]
    seconds.sort()
    p50, p95 = statistics.median(seconds), seconds[int(0.95 * len(seconds)) - 1]
    print(f"\nask over {total} demo questions: p50 {p50:.3f}s, p95 {p95:.3f}s")
    assert total == 71
    assert cited >= 70, cited
    assert first >= 68, first
    assert p95 < 5.0  # a guard against a pathological slowdown, not a benchmark


def simplified(text: str) -> str:
    return " ".join(re.sub(r"[^\w\s]", " ", text.lower()).split())


def test_a_question_with_no_evidence_says_so_and_cites_nothing(northwind: Demo) -> None:
    dana = Colleague.objects.get(email=DANA)
    for question in (
        "What is Dana's favourite football team?",
        "Which sourdough starter works best in a cold kitchen?",
        "?!",
        "the and of",
    ):
        answer = ask(Reader.operator(), dana, question)
        assert (
            answer.answer
            == no_evidence(dana)
            == ("No evidence found in what Dana Kowalski wrote that you may see.")
        )
        assert answer.citations == ()


def test_a_reader_never_gets_evidence_from_a_private_channel_they_are_not_in(
    northwind: Demo, engineer: AbstractUser, manager: AbstractUser
) -> None:
    """Tom is in no private channel. Questions built from each private channel's canary,
    asked of everyone: the operator's answers quote the canaries, Tom's never do, and cite
    only items Tom may see. Samuel, in two of the channels, gets their canaries."""
    tom = reader_for(engineer)
    samuel = reader_for(manager)
    visible_to_tom = set(items_visible_to(tom).values_list("pk", flat=True))
    private = [c for c in northwind.truth["channels"] if c["canary"]]
    operator_quoted: set[str] = set()
    samuel_quoted: set[str] = set()
    for channel in private:
        canary = channel["canary"]
        question = f"What is in the {canary}?"
        for colleague in Colleague.objects.order_by("pk"):
            shown = json.dumps(ask(tom, colleague, question).as_json()).lower()
            assert canary.lower() not in shown, (colleague.name, canary)
            cited = {c["item_id"] for c in json.loads(shown)["citations"]}
            assert cited <= visible_to_tom
            if colleague.email not in channel["members"]:
                continue  # only members wrote there
            if canary.lower() in ask(Reader.operator(), colleague, question).answer.lower():
                operator_quoted.add(canary)
            if canary.lower() in ask(samuel, colleague, question).answer.lower():
                samuel_quoted.add(canary)
    assert operator_quoted == {c["canary"] for c in private}
    assert samuel_quoted == {"postmortem draft", "Project Kestrel"}


def test_answers_are_deterministic_and_the_limit_bounds_the_citations(northwind: Demo) -> None:
    dana = Colleague.objects.get(email=DANA)
    question = "How often do we rotate the billing API keys?"
    first = ask(Reader.operator(), dana, question).as_json()
    assert ask(Reader.operator(), dana, question).as_json() == first
    assert 1 <= len(first["citations"]) <= 5
    assert "Every 90 days" in first["answer"].splitlines()[0]
    assert len(ask(Reader.operator(), dana, question, limit=2).citations) <= 2
    with pytest.raises(ValueError, match="empty"):
        ask(Reader.operator(), dana, "   ")


def test_thread_questions_are_shown_as_context_labelled_with_their_author(
    northwind: Demo,
) -> None:
    dana = Colleague.objects.get(email=DANA)
    answer = ask(Reader.operator(), dana, "Where does billing-svc read the PayStream key from?")
    assert answer.evidence is not None
    contexts = [e.context for e in answer.evidence.exchanges if e.context is not None]
    assert contexts
    for context in contexts:
        author = context.item.author
        assert author is not None
        assert author.colleague_id != dana.pk
        name = author.colleague.name if author.colleague else author.display_name
        assert f"{name} asked on " in answer.answer
    cited = {c.item_id for c in answer.citations}
    assert not cited & {c.item_id for c in contexts}


def test_the_ask_command_prints_the_contract_json(northwind: Demo) -> None:
    out = io.StringIO()
    call_command(
        "ask", DANA, "Is it safe to deploy billing-svc on the first?", "--json", stdout=out
    )
    result = json.loads(out.getvalue())
    assert set(result) == {"answer", "mode", "citations"}
    assert result["mode"] == "extractive"
    assert result["citations"]
    for citation in result["citations"]:
        assert set(citation) == CITATION_KEYS
        assert isinstance(citation["item_id"], int)
        assert isinstance(citation["created_at"], str)
        assert "T" in citation["created_at"]
        assert citation["url"] is None or citation["url"].startswith("http")
    human = io.StringIO()
    call_command("ask", DANA, "Is it safe to deploy billing-svc on the first?", stdout=human)
    assert human.getvalue().startswith("Dana Kowalski wrote on ")
    assert "[1] item " in human.getvalue()


def test_the_ask_command_answers_a_batch_in_order_and_rejects_bad_input(
    northwind: Demo, engineer: AbstractUser, tmp_path: Any
) -> None:
    batch = tmp_path / "questions.jsonl"
    lines = [
        {"colleague": DANA, "question": "Why did invoice-runner skip some customers?"},
        {"question": "How do I upgrade nw-prod-eks?", "colleague": "priya.nair@northwind.example"},
        {"question": "What is the 2025 salary band sheet?", "colleague": DANA},
    ]
    batch.write_text("\n".join(json.dumps(line) for line in lines) + "\n\n")
    out = io.StringIO()
    call_command("ask", "--input", str(batch), "--as", "tom", stdout=out)
    answers = [json.loads(line) for line in out.getvalue().splitlines()]
    assert len(answers) == 3
    dana = Colleague.objects.get(email=DANA)
    for line, answer in zip(lines, answers, strict=True):
        colleague = Colleague.objects.get(email=line["colleague"])
        assert answer == ask(reader_for(engineer), colleague, line["question"]).as_json()
    assert answers[2]["answer"] == no_evidence(dana)
    events = AuditEvent.objects.filter(action="answers.asked", actor=engineer)
    assert events.count() == 3
    assert "salary" not in json.dumps(list(events.values_list("detail", flat=True)))

    for bad, message in (
        ({"colleague": "nobody@northwind.example", "question": "Why?"}, "no colleague"),
        ({"colleague": DANA, "question": "  "}, "the question is empty"),
        ({"colleague": DANA}, "the question is empty"),
    ):
        batch.write_text(json.dumps(bad) + "\n")
        with pytest.raises(CommandError, match=f"questions.jsonl:1: {message}"):
            call_command("ask", "--input", str(batch), stdout=io.StringIO())
    with pytest.raises(CommandError, match="no colleague with email"):
        call_command("ask", "nobody@northwind.example", "Why?")
    with pytest.raises(CommandError, match="question is empty"):
        call_command("ask", DANA, "   ")
    with pytest.raises(CommandError, match="no user named"):
        call_command("ask", DANA, "Why?", "--as", "nobody")


def test_the_ask_api_answers_as_the_caller_may_see_it(
    northwind: Demo, engineer: AbstractUser
) -> None:
    client = Client()
    question = "What happened in the postmortem draft for billing-svc?"
    anonymous = client.post("/api/ask/", {"colleague": "dana-kowalski", "question": question})
    assert anonymous.status_code == 401
    client.force_login(engineer)
    dana = Colleague.objects.get(email=DANA)
    expected = ask(reader_for(engineer), dana, question).as_json()
    for who in ("dana-kowalski", DANA):
        response = client.post(
            "/api/ask/", {"colleague": who, "question": question}, content_type="application/json"
        )
        assert response.status_code == 200
        assert response.json() == expected
    assert "postmortem draft" not in json.dumps(expected).lower()
    event = AuditEvent.objects.filter(action="answers.asked").latest("id")
    assert event.actor == engineer
    assert event.target == f"colleague:{dana.pk}"
    assert event.detail["cited_items"] == [c["item_id"] for c in expected["citations"]]
    assert question not in json.dumps(event.detail)
    missing = client.post("/api/ask/", {"colleague": "nobody", "question": "Why?"})
    assert missing.status_code == 404
    for bad in ({"colleague": "dana-kowalski", "question": " "}, {"colleague": "dana-kowalski"}):
        assert client.post("/api/ask/", bad).status_code == 400


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(question=st.text(max_size=300).filter(lambda q: q.strip()))
def test_any_question_gets_an_answer_without_raising(northwind: Demo, question: str) -> None:
    dana = Colleague.objects.get(email=DANA)
    answer = ask(Reader.operator(), dana, question)
    json.dumps(answer.as_json())
    assert answer.citations or answer.answer == no_evidence(dana)

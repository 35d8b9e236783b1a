"""Chatting with a colleague's package: turns kept per user and audited, feedback, and the
curator who takes a suggested correction into the package."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractUser
from django.test import Client

from answers.conversations import FeedbackRefused, ask_in_conversation, review_feedback
from answers.models import Conversation, Feedback, Turn
from colleagues.models import Colleague
from colleagues.roles import Role
from knowledge.models import AuditEvent, Item
from skills.selectors import version_of
from tests.factories import give_roles
from tests.skills.conftest import Demo

pytestmark = pytest.mark.django_db

DANA = "dana.kowalski@northwind.example"


def dana() -> Colleague:
    return Colleague.objects.get(email=DANA)


def test_a_conversation_keeps_each_turn_and_follow_ups_keep_the_subject(
    northwind: Demo, engineer: AbstractUser
) -> None:
    first = ask_in_conversation(
        user=engineer, colleague=dana(), question="How do you rotate the billing API keys?"
    )
    assert first.citations
    assert all(Item.objects.filter(pk=c["item_id"]).exists() for c in first.citations)
    # "and the smoke test?" alone names nothing of billing keys: asked with the question before.
    follow = ask_in_conversation(
        user=engineer,
        colleague=dana(),
        question="and the smoke test?",
        conversation=first.conversation,
    )
    assert follow.conversation == first.conversation
    assert "acct_nw_smoke" in follow.answer
    assert list(first.conversation.turns.values_list("pk", flat=True)) == [first.pk, follow.pk]
    events = AuditEvent.objects.filter(action="answers.asked", actor=engineer)
    assert [e.detail["via"] for e in events] == ["chat", "chat"]


def test_only_its_owner_sees_a_conversation(
    northwind: Demo, engineer: AbstractUser, manager: AbstractUser
) -> None:
    turn = ask_in_conversation(
        user=engineer, colleague=dana(), question="Why did invoice-runner skip customers?"
    )
    owner, other = Client(), Client()
    owner.force_login(engineer)
    other.force_login(manager)
    url = turn.conversation.get_absolute_url()
    assert owner.get(url).status_code == 200
    assert "invoice-runner" in owner.get(url).content.decode()
    assert other.get(url).status_code == 404
    assert other.post(f"/answers/{turn.pk}/feedback/", {"verdict": "wrong"}).status_code == 404


def test_the_chat_page_asks_and_answers_over_htmx(northwind: Demo, engineer: AbstractUser) -> None:
    client = Client()
    client.force_login(engineer)
    response = client.post(
        "/colleagues/dana-kowalski/ask/", {"question": "How do you rotate the billing API keys?"}
    )
    conversation = Conversation.objects.get(user=engineer)
    assert response["Location"] == conversation.get_absolute_url()
    partial = client.post(
        conversation.get_absolute_url(),
        {"question": "Is it safe to deploy billing-svc on the first of the month?"},
        HTTP_HX_REQUEST="true",
    )
    html = partial.content.decode()
    assert 'class="card turn"' in html
    assert "<html" not in html
    assert "/knowledge/items/" in html  # citations open the source item
    assert conversation.turns.count() == 2


def test_a_suggested_correction_reaches_the_package_only_when_a_curator_accepts_it(
    northwind: Demo, engineer: AbstractUser
) -> None:
    turn = ask_in_conversation(
        user=engineer, colleague=dana(), question="How do you rotate the billing API keys?"
    )
    client = Client()
    client.force_login(engineer)
    client.post(
        f"/answers/{turn.pk}/feedback/",
        {
            "verdict": "wrong",
            "comment": "She moved the keys to the KMS in 2026.",
            "correction_kind": "work",
            "correction_right": "Keys live in the KMS since January 2026, not Vault.",
        },
    )
    feedback = Feedback.objects.get(turn=turn)
    assert feedback.review == Feedback.Review.PENDING
    before = version_of(dana())
    assert before is not None
    # Not in the package until reviewed; only curators review.
    assert "KMS" not in before.files["work.md"]
    assert client.get("/curation/feedback/").status_code == 403
    assert (
        client.post(f"/curation/feedback/{feedback.pk}/", {"decision": "accept"}).status_code == 404
    )
    curator = get_user_model().objects.create_user("curator")
    give_roles(curator, Role.CURATOR)
    client.force_login(curator)
    assert "Keys live in the KMS" in client.get("/curation/feedback/").content.decode()
    client.post(f"/curation/feedback/{feedback.pk}/", {"decision": "accept"})
    after = version_of(dana())
    assert after is not None
    assert after.number == before.number + 1
    assert "Keys live in the KMS" in after.files["work.md"]
    assert after.corrections[-1]["by"] == "tom"
    feedback.refresh_from_db()
    assert feedback.review == Feedback.Review.ACCEPTED
    assert feedback.reviewed_by == curator
    with pytest.raises(FeedbackRefused):
        review_feedback(feedback, curator=curator, accept=True)


def test_helpful_feedback_needs_no_review_and_can_be_changed(
    northwind: Demo, engineer: AbstractUser
) -> None:
    turn = ask_in_conversation(
        user=engineer, colleague=dana(), question="How do you rotate the billing API keys?"
    )
    client = Client()
    client.force_login(engineer)
    client.post(f"/answers/{turn.pk}/feedback/", {"verdict": "helpful"})
    client.post(f"/answers/{turn.pk}/feedback/", {"verdict": "wrong", "comment": "outdated"})
    [feedback] = Feedback.objects.filter(turn=turn)
    assert feedback.verdict == "wrong"
    assert feedback.review == Feedback.Review.NONE
    assert Turn.objects.get(pk=turn.pk).feedback.count() == 1


def test_who_knows_page_names_the_owner_and_who_is_left(
    northwind: Demo, engineer: AbstractUser
) -> None:
    client = Client()
    client.force_login(engineer)
    html = client.get("/who-knows/", {"q": "invoice-runner"}).content.decode()
    assert html.index("Dana Kowalski") < html.index("Left; who is here")
    assert AuditEvent.objects.filter(action="answers.who_knows", actor=engineer).exists()

"""Conversations: ask a colleague's package turn after turn, give feedback, curate it.

Every answer is made for the asking user (`reader_for`), stored as shown, and audited; a
conversation is its user's only. Feedback marked wrong may suggest a correction, which goes
into the colleague's package only when a curator accepts it.
"""

from __future__ import annotations

from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from answers.actions import record_ask
from answers.ask import ask
from answers.models import Conversation, Feedback, Turn
from colleagues.models import Colleague
from knowledge import audit
from knowledge.visibility import reader_for
from skills.actions import add_correction
from skills.models import Correction, SkillPackage

# A follow-up this short ("and staging?") is asked together with the question before it.
FOLLOW_UP_WORDS = 6


class FeedbackRefused(ValueError):
    """Feedback that cannot be taken (a correction without text, a review twice)."""


def ask_in_conversation(
    *, user: User, colleague: Colleague, question: str, conversation: Conversation | None = None
) -> Turn:
    """Answer `question` for `user` and add it to `conversation` (a new one when None)."""
    question = question.strip()
    if not question:
        raise ValueError("the question is empty")
    if conversation is None:
        conversation = Conversation.objects.create(
            user=user, colleague=colleague, title=question[:200]
        )
    previous = conversation.turns.order_by("-created_at", "-id").first()
    query = question
    if previous is not None and len(question.split()) < FOLLOW_UP_WORDS:
        query = f"{previous.question} {question}"
    reader = reader_for(user)
    answer = ask(reader, colleague, query)
    data = answer.as_json()
    with transaction.atomic():
        turn = Turn.objects.create(
            conversation=conversation,
            question=question,
            answer=data["answer"],
            mode=data["mode"],
            citations=data["citations"],
            extra={k: v for k, v in data.items() if k not in ("answer", "mode", "citations")},
        )
        Conversation.objects.filter(pk=conversation.pk).update(updated_at=timezone.now())
        record_ask(
            reader=reader,
            colleague=colleague,
            question=query,
            answer=answer,
            actor=user,
            via="chat",
        )
    return turn


def give_feedback(
    *,
    turn: Turn,
    user: User,
    verdict: str,
    comment: str = "",
    correction_kind: str = "",
    correction_wrong: str = "",
    correction_right: str = "",
) -> Feedback:
    """Record (or change) `user`'s verdict on `turn`; a suggested correction waits for a
    curator."""
    if verdict not in Feedback.Verdict.values:
        raise FeedbackRefused(f"Unknown verdict {verdict!r}.")
    wrong, right = correction_wrong.strip(), correction_right.strip()
    suggests = bool(wrong or right)
    if suggests and correction_kind not in Correction.Kind.values:
        raise FeedbackRefused(
            "Say whether the correction is about how they write or what they know."
        )
    feedback, _ = Feedback.objects.update_or_create(
        turn=turn,
        user=user,
        defaults={
            "verdict": verdict,
            "comment": comment.strip()[:4000],
            "correction_kind": correction_kind if suggests else "",
            "correction_wrong": wrong[:2000],
            "correction_right": right[:2000],
            "review": Feedback.Review.PENDING if suggests else Feedback.Review.NONE,
            "reviewed_by": None,
            "reviewed_at": None,
        },
    )
    audit.record(
        "answers.feedback",
        f"turn:{turn.pk}",
        actor=user,
        verdict=verdict,
        suggests_correction=suggests,
    )
    return feedback


def review_feedback(feedback: Feedback, *, curator: User, accept: bool) -> Feedback:
    """Accept a suggested correction into the colleague's package (a new version), or reject
    it. Raises FeedbackRefused when there is nothing pending or the package was never built."""
    if feedback.review != Feedback.Review.PENDING:
        raise FeedbackRefused("This feedback has nothing waiting for review.")
    colleague = feedback.turn.conversation.colleague
    with transaction.atomic():
        if accept:
            package = SkillPackage.objects.filter(colleague=colleague).first()
            if package is None:
                raise FeedbackRefused(f"{colleague.name} has no skill package to correct.")
            add_correction(
                package,
                kind=feedback.correction_kind,
                wrong=feedback.correction_wrong,
                right=feedback.correction_right,
                user=feedback.user,
            )
        feedback.review = Feedback.Review.ACCEPTED if accept else Feedback.Review.REJECTED
        feedback.reviewed_by = curator
        feedback.reviewed_at = timezone.now()
        feedback.save(update_fields=["review", "reviewed_by", "reviewed_at"])
        audit.record(
            "answers.feedback_reviewed",
            f"colleague:{colleague.pk}",
            actor=curator,
            feedback=feedback.pk,
            accepted=accept,
        )
    return feedback

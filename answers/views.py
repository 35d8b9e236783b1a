"""Intranet pages: chat with a colleague's package, who knows, and the curators' feedback queue.

Answers are made for the requesting user; a conversation is shown to its owner only.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from answers.actions import record_who_knows
from answers.conversations import (
    FeedbackRefused,
    ask_in_conversation,
    give_feedback,
    review_feedback,
)
from answers.forms import FeedbackForm, QuestionForm
from answers.models import Conversation, Feedback, Turn
from answers.who_knows import who_knows
from colleagues.access import can_curate_package, grants_held_by, viewable_colleague
from colleagues.models import AccessGrant
from knowledge.visibility import reader_for


def _user(request: HttpRequest) -> User:
    assert isinstance(request.user, User)  # login_required
    return request.user


@login_required
def chat(request: HttpRequest, slug: str, pk: int | None = None) -> HttpResponse:
    """The user's conversations with this colleague's package; one of them open (or none)."""
    colleague = viewable_colleague(request.user, slug)
    user = _user(request)
    conversations = Conversation.objects.filter(user=user, colleague=colleague).select_related(
        "colleague"
    )
    conversation = get_object_or_404(conversations, pk=pk) if pk is not None else None
    if request.method == "POST":
        form = QuestionForm(request.POST)
        if form.is_valid():
            turn = ask_in_conversation(
                user=user,
                colleague=colleague,
                question=form.cleaned_data["question"],
                conversation=conversation,
            )
            if request.headers.get("HX-Request") and conversation is not None:
                return render(request, "answers/_turn.html", {"turn": turn, "colleague": colleague})
            return redirect(turn.conversation)
    else:
        form = QuestionForm()
    turns = list(conversation.turns.prefetch_related("feedback")) if conversation else []
    for turn in turns:
        turn.mine = next((f for f in turn.feedback.all() if f.user_id == user.pk), None)  # type: ignore[attr-defined]
    context = {
        "colleague": colleague,
        "conversations": conversations[:30],
        "conversation": conversation,
        "turns": turns,
        "form": form,
        "feedback_form": FeedbackForm(),
    }
    return render(request, "answers/chat.html", context)


@login_required
@require_POST
def feedback(request: HttpRequest, turn_id: int) -> HttpResponse:
    user = _user(request)
    turn = get_object_or_404(Turn.objects.select_related("conversation__colleague"), pk=turn_id)
    if turn.conversation.user_id != user.pk:
        raise Http404("No such answer.")
    form = FeedbackForm(request.POST)
    if form.is_valid():
        try:
            give_feedback(turn=turn, user=user, **form.cleaned_data)
        except FeedbackRefused as exc:
            messages.error(request, str(exc))
        else:
            messages.success(request, "Thank you: your feedback is recorded.")
    else:
        messages.error(request, "Choose helpful or wrong.")
    return redirect(turn.conversation)


@login_required
def who_knows_page(request: HttpRequest) -> HttpResponse:
    question = request.GET.get("q", "").strip()[:2000]
    experts = []
    if question:
        reader = reader_for(request.user)
        experts = who_knows(reader, question)
        record_who_knows(
            reader=reader, question=question, experts=experts, actor=request.user, via="page"
        )
    return render(request, "answers/who_knows.html", {"question": question, "experts": experts})


@login_required
def feedback_queue(request: HttpRequest) -> HttpResponse:
    """Suggested corrections waiting for a curator, and the latest verdicts: of every package
    for curators by role, of the packages they hold a curator grant on for the others."""
    feedback = Feedback.objects.select_related("turn__conversation__colleague", "user")
    if not request.user.has_perm("colleagues.curate_packages"):
        curated = grants_held_by(request.user).filter(level=AccessGrant.Level.CURATOR)
        if not curated.exists():
            raise PermissionDenied("Only curators review feedback.")
        feedback = feedback.filter(
            turn__conversation__colleague_id__in=curated.values("colleague_id")
        )
    pending = feedback.filter(review=Feedback.Review.PENDING)
    recent = feedback.exclude(review=Feedback.Review.PENDING)[:50]
    return render(request, "answers/feedback.html", {"pending": pending, "recent": recent})


@login_required
@require_POST
def review(request: HttpRequest, feedback_id: int) -> HttpResponse:
    item = get_object_or_404(
        Feedback.objects.select_related("turn__conversation__colleague"), pk=feedback_id
    )
    if not can_curate_package(request.user, item.turn.conversation.colleague):
        raise Http404("No such feedback.")
    accept = request.POST.get("decision") == "accept"
    try:
        review_feedback(item, curator=_user(request), accept=accept)
    except FeedbackRefused as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, "Accepted into the package." if accept else "Rejected.")
    return redirect("answers:feedback_queue")

"""Conversations with a colleague's package, kept per user, and the feedback on answers."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from colleagues.models import Colleague


class Conversation(models.Model):
    """One user's chat with one colleague's package; only that user sees it."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="conversations"
    )
    colleague = models.ForeignKey(Colleague, on_delete=models.CASCADE, related_name="conversations")
    title = models.CharField(max_length=200)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-updated_at", "-id"]

    def __str__(self) -> str:
        return self.title

    def get_absolute_url(self) -> str:
        return reverse("answers:conversation", kwargs={"slug": self.colleague.slug, "pk": self.pk})


class Turn(models.Model):
    """A question and the answer given, as shown to the asker then (kept as it was)."""

    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="turns")
    question = models.TextField()
    answer = models.TextField()
    mode = models.CharField(max_length=16)
    # The `ask` contract's citations, plus any label or fidelity the answer carried.
    citations = models.JSONField(default=list)
    extra = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return self.question[:60]


class Feedback(models.Model):
    """An asker's verdict on an answer. "Wrong" may carry a correction for the colleague's
    package, which a curator (an administrator) accepts into the package or rejects."""

    class Verdict(models.TextChoices):
        HELPFUL = "helpful", _("Helpful")
        WRONG = "wrong", _("Wrong")

    class Review(models.TextChoices):
        NONE = "", _("Nothing to review")
        PENDING = "pending", _("Waiting for a curator")
        ACCEPTED = "accepted", _("Accepted into the package")
        REJECTED = "rejected", _("Rejected")

    turn = models.ForeignKey(Turn, on_delete=models.CASCADE, related_name="feedback")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    verdict = models.CharField(max_length=16, choices=Verdict.choices)
    comment = models.TextField(blank=True)
    # A suggested correction (skills.models.Correction's kind, wrong and right).
    correction_kind = models.CharField(max_length=16, blank=True)
    correction_wrong = models.TextField(blank=True)
    correction_right = models.TextField(blank=True)
    review = models.CharField(
        max_length=16, choices=Review.choices, default=Review.NONE, blank=True
    )
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    reviewed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["turn", "user"], name="feedback_turn_user_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.get_verdict_display()} on turn {self.turn_id}"

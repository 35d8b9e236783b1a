"""People and the ways they appear in sources."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models.functions import Lower
from django.urls import reverse


class Colleague(models.Model):
    """A person of the organisation, current or departed (not a login user)."""

    class Status(models.TextChoices):
        CURRENT = "current", "Current"
        DEPARTED = "departed", "Departed"

    class Consent(models.TextChoices):
        NOT_REQUIRED = "not_required", "Not required by policy"
        REQUIRED = "required", "Required, not yet asked"
        GIVEN = "given", "Given"
        REFUSED = "refused", "Refused"

    name = models.CharField(max_length=200)
    # Primary mail address; unique when known.
    email = models.EmailField(max_length=254, blank=True)
    slug = models.SlugField(max_length=120, unique=True)
    title = models.CharField(max_length=200, blank=True)
    department = models.CharField(max_length=200, blank=True, db_index=True)
    manager = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="reports"
    )
    status = models.CharField(
        max_length=16, choices=Status.choices, default=Status.CURRENT, db_index=True
    )
    departed_on = models.DateField(null=True, blank=True)
    consent = models.CharField(max_length=16, choices=Consent.choices, default=Consent.NOT_REQUIRED)
    # The login account of this person, linked by verified email or directory uid.
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="colleague",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                Lower("email"),
                name="colleague_email_unique_ci",
                condition=~models.Q(email=""),
            ),
            models.CheckConstraint(
                condition=models.Q(status="departed") | models.Q(departed_on__isnull=True),
                name="colleague_departed_on_only_when_departed",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("colleagues:detail", kwargs={"slug": self.slug})

    @property
    def is_departed(self) -> bool:
        return self.status == self.Status.DEPARTED


class Identity(models.Model):
    """One way a person appears in a source: a Slack user, a mail address, an author name.

    Several identities resolve to one colleague; an identity with no colleague is external
    (a correspondent outside the organisation, a bot, an unknown author).
    """

    class Kind(models.TextChoices):
        SLACK = "slack", "Slack user"
        EMAIL = "email", "Email address"
        NAME = "name", "Author name"

    kind = models.CharField(max_length=16, choices=Kind.choices)
    # slack: "<workspace>/<user id>"; email: the lower-cased address; name: as written.
    value = models.CharField(max_length=320)
    display_name = models.CharField(max_length=200, blank=True)
    colleague = models.ForeignKey(
        Colleague, null=True, blank=True, on_delete=models.SET_NULL, related_name="identities"
    )
    is_bot = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name_plural = "identities"
        ordering = ["kind", "value"]
        constraints = [
            models.UniqueConstraint(fields=["kind", "value"], name="identity_kind_value_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()}: {self.display_name or self.value}"

    @property
    def is_external(self) -> bool:
        return self.colleague_id is None

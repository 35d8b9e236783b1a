"""People and the ways they appear in sources."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models.functions import Lower
from django.urls import reverse
from django.utils.translation import gettext_lazy as _


class Colleague(models.Model):
    """A person of the organisation, current or departed (not a login user)."""

    class Status(models.TextChoices):
        CURRENT = "current", _("Current")
        DEPARTED = "departed", _("Departed")

    class Consent(models.TextChoices):
        NOT_REQUIRED = "not_required", _("Not required by policy")
        REQUIRED = "required", _("Required, not yet asked")
        GIVEN = "given", _("Given")
        REFUSED = "refused", _("Refused")

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
        SLACK = "slack", _("Slack user")
        EMAIL = "email", _("Email address")
        NAME = "name", _("Author name")

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


class AccessGrant(models.Model):
    """Someone may view (or curate) one colleague's skill package, until it expires or is revoked.

    The grantee is exactly one of: a login user, a Django group (LDAP groups arrive as mirrored
    Django groups), or a department (members are the users whose colleague is in it). A grant
    also widens what its holders see of the colleague's own writing: every item the colleague
    authored, whatever its audience at the source (knowledge.visibility).
    """

    class Level(models.TextChoices):
        VIEWER = "viewer", _("Viewer")
        CURATOR = "curator", _("Curator")

    colleague = models.ForeignKey(Colleague, on_delete=models.CASCADE, related_name="grants")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="package_grants",
    )
    group = models.ForeignKey(
        "auth.Group", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    department = models.CharField(max_length=200, blank=True)
    level = models.CharField(max_length=16, choices=Level.choices, default=Level.VIEWER)
    reason = models.CharField(max_length=500, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=(
                    models.Q(user__isnull=False, group__isnull=True, department="")
                    | models.Q(user__isnull=True, group__isnull=False, department="")
                    | (models.Q(user__isnull=True, group__isnull=True) & ~models.Q(department=""))
                ),
                name="grant_exactly_one_grantee",
            ),
        ]
        # The roles' permissions (colleagues/roles.py).
        permissions = [
            ("view_all_packages", "Can view every colleague's skill package"),
            ("view_team_packages", "Can view the packages of the people they manage"),
            ("curate_packages", "Can correct, rebuild and curate any skill package"),
            ("manage_grants", "Can grant and revoke access to skill packages"),
            ("manage_consent", "Can record colleagues' capture consent"),
            ("view_audit_reports", "Can read audit reports"),
            ("erase_colleagues", "Can request and approve the erasure of a person"),
            ("manage_offboarding", "Can open and run offboarding cases"),
        ]

    def __str__(self) -> str:
        return f"{self.get_level_display()} of {self.colleague} for {self.grantee_label}"

    @property
    def grantee_label(self) -> str:
        if self.user_id is not None:
            return f"user {self.user}"
        if self.group_id is not None:
            return f"group {self.group}"
        return f"department {self.department}"

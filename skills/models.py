"""Skill packages: a colleague's distilled expertise and working style, versioned.

A `SkillVersion` is immutable once written: a rebuild, a correction or a rollback writes a new
one. What a version holds was built with full access; every surface shows it to a reader
through `skills.selectors`, which keeps only the statements whose evidence that reader may see.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from colleagues.models import Colleague


class SkillPackage(models.Model):
    """The package of one colleague and the state of its builds.

    Its current version is its newest: a rollback writes a new version repeating an older one.
    """

    class Status(models.TextChoices):
        FRESH = "fresh", _("Up to date")
        STALE = "stale", _("Waiting for a rebuild")
        BUILDING = "building", _("Building")
        FAILED = "failed", _("Last build failed")

    colleague = models.OneToOneField(
        Colleague, on_delete=models.CASCADE, related_name="skill_package"
    )
    status = models.CharField(
        max_length=16, choices=Status.choices, default=Status.STALE, db_index=True
    )
    build_error = models.TextField(blank=True)
    # The newest item (by primary key) the current version has read: material above it is new.
    built_through_item_id = models.BigIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["colleague__name"]

    def __str__(self) -> str:
        return f"skill package of {self.colleague}"

    def get_absolute_url(self) -> str:
        return reverse("skills:package", kwargs={"slug": self.colleague.slug})


class SkillVersion(models.Model):
    """One immutable build of a package: the analysis and the files rendered from it."""

    class Reason(models.TextChoices):
        BUILD = "build", _("Build")
        NEW_MATERIAL = "new_material", _("Rebuilt for new material")
        CORRECTION = "correction", _("Correction")
        ROLLBACK = "rollback", _("Rollback")

    package = models.ForeignKey(SkillPackage, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField()
    reason = models.CharField(max_length=16, choices=Reason.choices, default=Reason.BUILD)
    # For a rollback, the version whose content this one repeats.
    restored_from = models.PositiveIntegerField(null=True, blank=True)
    built_at = models.DateTimeField(default=timezone.now)
    built_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    generator = models.CharField(max_length=200)
    # {"work": WorkAnalysis.to_dict(), "style": StyleProfile.to_dict()}
    analysis = models.JSONField()
    # Corrections in force when it was built (id, kind, wrong, right, by, at).
    corrections = models.JSONField(default=list)
    # Relative path -> text, rendered with full access (the operator's view).
    files = models.JSONField()
    items = models.PositiveIntegerField(default=0)
    seconds = models.FloatField(default=0.0)

    class Meta:
        ordering = ["package", "-number"]
        constraints = [
            models.UniqueConstraint(
                fields=["package", "number"], name="skill_version_package_number_unique"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.package.colleague} v{self.number}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        """Write a new version; an existing one is never changed."""
        if not self._state.adding:
            raise ValueError("A skill version is immutable; build a new one instead.")
        super().save(*args, **kwargs)


class Correction(models.Model):
    """A human fix to a package, kept across rebuilds and applied before anything else.

    "They would never say `wrong`; they'd say `right`" (style), or "`wrong` is not so:
    `right`" (work). Either text may be empty: a bare `wrong` withdraws a statement, a bare
    `right` adds one.
    """

    class Kind(models.TextChoices):
        STYLE = "style", _("How they write")
        WORK = "work", _("What they know or do")

    package = models.ForeignKey(SkillPackage, on_delete=models.CASCADE, related_name="corrections")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    wrong = models.TextField(blank=True)
    right = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    withdrawn_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            models.CheckConstraint(
                condition=~(models.Q(wrong="") & models.Q(right="")),
                name="correction_says_something",
            ),
        ]

    def __str__(self) -> str:
        return f"correction of {self.package.colleague}: {self.wrong[:40]!r} -> {self.right[:40]!r}"

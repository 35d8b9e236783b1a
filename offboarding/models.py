"""HR offboarding: a case per departing person, its checklist, and its captures (issue 9)."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.urls import reverse
from django.utils.translation import gettext_lazy as _


class OffboardingCase(models.Model):
    """One person's departure, from planned to archived or erased (offboarding/cases.py holds
    the state machine; nothing else changes `state`)."""

    class State(models.TextChoices):
        PLANNED = "planned", _("Planned")
        NOTIFIED = "notified", _("Notified")
        CAPTURING = "capturing", _("Capturing")
        IN_REVIEW = "in_review", _("In review")
        PUBLISHED = "published", _("Published")
        RETAINED = "retained", _("Retained")
        ARCHIVED = "archived", _("Archived")
        ERASED = "erased", _("Erased")

    class Trigger(models.TextChoices):
        UI = "ui", _("Opened by HR in the intranet")
        API = "api", _("Opened through the API")
        WEBHOOK = "webhook", _("Opened by the HR system")
        DIRECTORY = "directory", _("Opened by the directory sync (account disabled)")

    class Access(models.TextChoices):
        """Who may open the published package, besides those who always may (roles.py)."""

        TEAM = "team", _("Their manager and department")
        DEPARTMENT = "department", _("Their department")
        ORGANISATION = "organisation", _("Everyone in the organisation")
        NAMED = "named", _("Only people granted access by name")

    # Empty once the person is erased; `subject_label` then names the case.
    colleague = models.ForeignKey(
        "colleagues.Colleague",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="offboarding_cases",
    )
    subject_label = models.CharField(max_length=200)
    state = models.CharField(
        max_length=16, choices=State.choices, default=State.PLANNED, db_index=True
    )
    last_day = models.DateField()
    # When the person's accounts and mailboxes are deleted: capture must finish before.
    account_removal_on = models.DateField(null=True, blank=True)
    opened_via = models.CharField(max_length=16, choices=Trigger.choices)
    opened_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # The HR system's id for this departure (webhook), unique when given.
    external_id = models.CharField(max_length=200, blank=True)
    access_policy = models.CharField(max_length=16, choices=Access.choices, default=Access.TEAM)
    # Set by the retention step: how long what they wrote is kept after they left.
    retention_days = models.PositiveIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["last_day", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["colleague"],
                condition=~models.Q(state__in=["archived", "erased"]),
                name="offboarding_one_open_case_per_colleague",
            ),
            models.UniqueConstraint(
                fields=["external_id"],
                condition=~models.Q(external_id=""),
                name="offboarding_external_id_unique",
            ),
        ]

    def __str__(self) -> str:
        return f"offboarding of {self.subject_label} ({self.get_state_display()})"

    def get_absolute_url(self) -> str:
        return reverse("offboarding:case", kwargs={"pk": self.pk})

    @property
    def is_open(self) -> bool:
        return self.state not in (self.State.ARCHIVED, self.State.ERASED)


class Step(models.TextChoices):
    """The kinds of checklist step; each is done by what its key names (offboarding/cases.py)."""

    CONNECT_SOURCES = "connect_sources", _("Connect and scope the sources")
    CAPTURE = "capture", _("Capture this person's data")
    EXIT_INTERVIEW = "exit_interview", _("Exit interview on the gaps in their package")
    SUCCESSORS = "successors", _("Name successors per area and system")
    REVIEW = "review", _("Manager review and redaction")
    PUBLISH = "publish", _("Publish with an access policy")
    SET_RETENTION = "set_retention", _("Set retention")


class Responsible(models.TextChoices):
    HR = "hr", _("HR")
    MANAGER = "manager", _("Manager")
    PERSON = "person", _("The person leaving")


class ChecklistTemplateStep(models.Model):
    """One step of the checklist every new case gets, due a number of days before (negative)
    or after the case's last day or account-removal date. HR edits these."""

    class RelativeTo(models.TextChoices):
        LAST_DAY = "last_day", _("the last day")
        ACCOUNT_REMOVAL = "account_removal", _("the account removal")

    step = models.CharField(max_length=32, choices=Step.choices, unique=True)
    title = models.CharField(max_length=200)
    responsible = models.CharField(max_length=16, choices=Responsible.choices)
    relative_to = models.CharField(
        max_length=16, choices=RelativeTo.choices, default=RelativeTo.LAST_DAY
    )
    offset_days = models.IntegerField()
    position = models.PositiveSmallIntegerField()
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ["position", "id"]

    def __str__(self) -> str:
        return self.title


class ChecklistItem(models.Model):
    """One case's copy of a template step, with its due date and who ticked it off when."""

    case = models.ForeignKey(OffboardingCase, on_delete=models.CASCADE, related_name="checklist")
    step = models.CharField(max_length=32, choices=Step.choices)
    title = models.CharField(max_length=200)
    responsible = models.CharField(max_length=16, choices=Responsible.choices)
    due_on = models.DateField()
    position = models.PositiveSmallIntegerField()
    done_at = models.DateTimeField(null=True, blank=True)
    done_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    note = models.CharField(max_length=1000, blank=True)
    # When the overdue reminder last went out (escalation to HR after the first).
    reminded_at = models.DateTimeField(null=True, blank=True)
    reminders = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["position", "id"]
        constraints = [
            models.UniqueConstraint(fields=["case", "step"], name="checklist_step_once_per_case"),
        ]

    def __str__(self) -> str:
        return f"{self.title} (due {self.due_on})"

    @property
    def is_done(self) -> bool:
        return self.done_at is not None


class WebhookDelivery(models.Model):
    """A delivery id the HR-system webhook has accepted: the same id again is a replay."""

    delivery_id = models.CharField(max_length=200, unique=True)
    received_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.delivery_id


class CaptureRun(models.Model):
    """Capturing one person's data from one source for a case, with its progress."""

    class State(models.TextChoices):
        QUEUED = "queued", _("Queued")
        RUNNING = "running", _("Running")
        DONE = "done", _("Done")
        FAILED = "failed", _("Failed")

    case = models.ForeignKey(OffboardingCase, on_delete=models.CASCADE, related_name="captures")
    source = models.ForeignKey("connectors.Source", on_delete=models.CASCADE, related_name="+")
    state = models.CharField(max_length=16, choices=State.choices, default=State.QUEUED)
    documents_read = models.PositiveIntegerField(default=0)
    documents_theirs = models.PositiveIntegerField(default=0)
    items_created = models.PositiveIntegerField(default=0)
    items_updated = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    # Every save of the run (each batch's counters): a queued or running run not saved for
    # long is stalled (its worker died) and may be started again (offboarding.capture).
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"capture of case {self.case_id} from source {self.source_id} ({self.state})"


class Successor(models.Model):
    """The handover map: an area or system the person owned, and who takes it over."""

    case = models.ForeignKey(OffboardingCase, on_delete=models.CASCADE, related_name="successors")
    area = models.CharField(max_length=200)
    successor = models.ForeignKey(
        "colleagues.Colleague", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    note = models.CharField(max_length=1000, blank=True)

    class Meta:
        ordering = ["area", "id"]
        constraints = [
            models.UniqueConstraint(fields=["case", "area"], name="successor_area_once_per_case"),
        ]

    def __str__(self) -> str:
        return f"{self.area} → {self.successor}"

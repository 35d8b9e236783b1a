"""Configured sources, their sync runs, and the files they could not read."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db import models
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

# A running sync whose heartbeat is older than this is dead (its process was killed).
STUCK_AFTER = timedelta(minutes=30)
STUCK_ERROR = "the sync stopped sending heartbeats (its process was lost); resumed by a new run"


class Source(models.Model):
    """A configured connector instance: where to read, how, and how far it got."""

    class Status(models.TextChoices):
        ACTIVE = "active", _("Active")
        PAUSED = "paused", _("Paused")

    name = models.CharField(max_length=200, unique=True)
    kind = models.CharField(max_length=32)
    # Plain, non-secret configuration, e.g. {"path": "/data/export.zip"}.
    config = models.JSONField(default=dict, blank=True)
    # Tokens and passwords, encrypted (connectors.credentials); read them through
    # `credentials`, never from this column.
    encrypted_credentials = models.TextField(blank=True, editable=False)
    status = models.CharField(
        max_length=16, choices=Status.choices, default=Status.ACTIVE, db_index=True
    )
    # Opaque resume point written by the connector, saved with each stored batch.
    checkpoint = models.TextField(blank=True)
    # How often the scheduler syncs it; empty: only when someone asks.
    sync_every = models.DurationField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_synced_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("connectors:source", kwargs={"pk": self.pk})

    @property
    def credentials(self) -> dict[str, str]:
        """The decrypted credentials; ConnectorConfigError if they cannot be decrypted."""
        from connectors.credentials import decrypt_credentials

        return decrypt_credentials(self.encrypted_credentials)

    @property
    def latest_run(self) -> SyncRun | None:
        return self.runs.order_by("-id").first()


class SyncRun(models.Model):
    """One attempt to sync a source: its state, counts, errors and timing."""

    class Status(models.TextChoices):
        QUEUED = "queued", _("Queued")
        RUNNING = "running", _("Running")
        SUCCEEDED = "succeeded", _("Succeeded")
        FAILED = "failed", _("Failed")

    source = models.ForeignKey(Source, on_delete=models.CASCADE, related_name="runs")
    status = models.CharField(
        max_length=16, choices=Status.choices, default=Status.QUEUED, db_index=True
    )
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    items_created = models.PositiveIntegerField(default=0)
    items_updated = models.PositiveIntegerField(default=0)
    items_unchanged = models.PositiveIntegerField(default=0)
    files_quarantined = models.PositiveIntegerField(default=0)
    # Colleagues whose items this run stored.
    colleagues = models.PositiveIntegerField(default=0)
    current_container = models.CharField(max_length=300, blank=True)
    error = models.TextField(blank=True)
    # What the exclusion rules did (connectors/exclusions.py): {"rules": <fingerprint of the
    # rules applied>, "skipped": {reason: documents not stored}, "removed": {reason: items
    # stored earlier and deleted because a newer rule excludes them}}.
    exclusions = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-id"]
        get_latest_by = "id"

    def __str__(self) -> str:
        return f"{self.source} run {self.pk} ({self.status})"

    @property
    def seconds(self) -> float | None:
        if self.started_at is None or self.finished_at is None:
            return None
        return (self.finished_at - self.started_at).total_seconds()

    @property
    def items_excluded(self) -> int:
        """Documents the source had that exclusion rules kept out in this run."""
        return sum(self.exclusions.get("skipped", {}).values())

    @property
    def items_removed_by_exclusions(self) -> int:
        """Items stored earlier that this run deleted because a rule now excludes them."""
        return sum(self.exclusions.get("removed", {}).values())

    @property
    def items_stored(self) -> int:
        return self.items_created + self.items_updated + self.items_unchanged

    @property
    def items_per_second(self) -> float | None:
        """Items stored per second so far (to the last heartbeat while running)."""
        end = self.finished_at or self.heartbeat_at
        if self.started_at is None or end is None or end <= self.started_at:
            return None
        return self.items_stored / (end - self.started_at).total_seconds()


class QuarantinedFile(models.Model):
    """A file a sync could not read: kept aside with its typed error, never half-ingested."""

    class Copy(models.TextChoices):
        """Whether a copy of `file` is kept under COLLEAGUE_QUARANTINE_DIR, or why not."""

        UNKNOWN = "", _("Not recorded")  # rows from before copies were tracked
        PENDING = "pending", _("To be copied once the batch is stored")
        COPIED = "copied", _("Copied")
        NO_FILE = "no_file", _("Not copied: no file on disk (a server, an API)")
        SYMLINK = "symlink", _("Not copied: a symbolic link")
        NOT_REGULAR = "not_regular", _("Not copied: not a regular file")
        TOO_LARGE = "too_large", _("Not copied: too large")
        UNREADABLE = "unreadable", _("Not copied: could not be read")

    class State(models.TextChoices):
        OPEN = "open", _("Open")
        RESOLVED = "resolved", _("Stored by a retry")
        DISMISSED = "dismissed", _("Dismissed")

    source = models.ForeignKey(Source, on_delete=models.CASCADE, related_name="quarantine")
    run = models.ForeignKey(
        SyncRun, null=True, on_delete=models.SET_NULL, related_name="quarantined"
    )
    # Where, as shown to people: the file, or the file and the record within it.
    path = models.CharField(max_length=1000)
    # The absolute path of the file on disk holding it, and what within that file failed
    # ("general/2016-01-14.json" of a Slack ZIP, "#17" of an mbox); empty when none.
    file = models.CharField(max_length=1000, blank=True)
    member = models.CharField(max_length=1000, blank=True)
    # A copy of `file` under COLLEAGUE_QUARANTINE_DIR, when it could be copied.
    stored_path = models.CharField(max_length=1000, blank=True)
    copy_status = models.CharField(max_length=16, choices=Copy.choices, blank=True)
    # What was copied ("12345 bytes: the whole archive"), or why not.
    copy_detail = models.CharField(max_length=500, blank=True)
    error_type = models.CharField(max_length=100)
    message = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)
    # What an administrator did about it (connectors.actions.retry_quarantined and
    # dismiss_quarantined): open until a retry stored it or someone dismissed it. Rows are
    # never deleted by either: they stay in the record.
    state = models.CharField(max_length=16, choices=State.choices, default=State.OPEN)
    # The last retry: when, and how many so far. A failed retry updates error_type and message.
    retried_at = models.DateTimeField(null=True, blank=True)
    retries = models.PositiveIntegerField(default=0)
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    # Why it was dismissed, as its administrator wrote it; for a retry, what was stored.
    resolution = models.TextField(blank=True)

    class Meta:
        ordering = ["-id"]
        indexes = [models.Index(fields=["source", "state"], name="quarantine_source_state")]

    def __str__(self) -> str:
        return f"{self.path}: {self.error_type}"

    @property
    def stored_item_ids(self) -> list[int]:
        """The items a retry stored this file as; empty unless a retry resolved it."""
        if self.state != self.State.RESOLVED:
            return []
        parts = (part.removeprefix("item:") for part in self.resolution.split(", "))
        return [int(part) for part in parts if part.isdigit()]


# The directory sync's tables live beside their code; importing them here registers them with
# this app (its migrations hold them).
from connectors.directory.models import DirectoryAccount, DirectorySyncState  # noqa: E402, F401

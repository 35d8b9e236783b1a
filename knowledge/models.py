"""Captured knowledge: where it lives, who may see it, and its retrievable pieces.

Never query Item or Chunk directly to show them to someone: go through
`knowledge.selectors`, which applies the reader's visibility.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from colleagues.models import Identity
from connectors.models import Source


class Container(models.Model):
    """A channel, DM, mail folder or document folder at a source."""

    class Kind(models.TextChoices):
        CHANNEL = "channel", _("Public channel")
        PRIVATE_CHANNEL = "private_channel", _("Private channel")
        DM = "dm", _("Direct message")
        MPIM = "mpim", _("Group direct message")
        MAILBOX = "mailbox", _("Mail folder")
        FOLDER = "folder", _("Document folder")

    source = models.ForeignKey(Source, on_delete=models.CASCADE, related_name="containers")
    external_id = models.CharField(max_length=500)
    name = models.CharField(max_length=300)
    kind = models.CharField(max_length=32, choices=Kind.choices)
    is_private = models.BooleanField(default=True)
    topic = models.TextField(blank=True)
    # Who is a member at the source: membership of a private container grants sight of it.
    members = models.ManyToManyField(Identity, blank=True, related_name="containers")

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                fields=["source", "external_id"], name="container_source_external_id_unique"
            ),
        ]

    def __str__(self) -> str:
        return self.name


class Audience(models.Model):
    """A distinct set of principals allowed to see items at their source.

    Stored once per distinct set (keyed by `fingerprint`), so a million messages of one channel
    share one row and visibility filters on a single integer column.
    """

    fingerprint = models.CharField(max_length=64, unique=True)
    # Everyone in the organisation.
    is_public = models.BooleanField(default=False, db_index=True)
    # Members of these containers.
    containers = models.ManyToManyField(Container, blank=True, related_name="audiences")
    # These people.
    identities = models.ManyToManyField(Identity, blank=True, related_name="audiences")

    def __str__(self) -> str:
        return "public" if self.is_public else f"audience {self.pk}"


class Item(models.Model):
    """One unit of captured knowledge: a Slack message, an email, a document."""

    class Kind(models.TextChoices):
        MESSAGE = "message", _("Message")
        EMAIL = "email", _("Email")
        DOCUMENT = "document", _("Document")

    # Not indexed alone: the unique (source, external_id) and (source, thread_key) indexes
    # serve lookups by source, and every index is one more write per stored message.
    source = models.ForeignKey(
        Source, on_delete=models.CASCADE, related_name="items", db_index=False
    )
    external_id = models.CharField(max_length=500)
    kind = models.CharField(max_length=16, choices=Kind.choices, db_index=True)
    # Indexed together with created_at (Meta.indexes), which also serves lookups by author.
    author = models.ForeignKey(
        Identity,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="items",
        db_index=False,
    )
    # Indexed together with created_at (Meta.indexes), which also serves lookups by container.
    container = models.ForeignKey(
        Container,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="items",
        db_index=False,
    )
    # External id of the thread's first item; equal to external_id for a thread root.
    thread_key = models.CharField(max_length=500, blank=True, db_index=True)
    title = models.CharField(max_length=500, blank=True)
    body = models.TextField()
    url = models.URLField(max_length=1000, blank=True)
    created_at = models.DateTimeField(db_index=True)
    updated_at = models.DateTimeField()
    content_hash = models.CharField(max_length=64)
    audience = models.ForeignKey(Audience, on_delete=models.PROTECT, related_name="items")
    metadata = models.JSONField(default=dict, blank=True)
    ingested_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["source", "external_id"], name="item_source_external_id_unique"
            ),
        ]
        indexes = [
            models.Index(fields=["author", "-created_at"], name="item_author_recent"),
            # A conversation's items in time order (a skill build reads reply windows by it).
            models.Index(fields=["container", "created_at"], name="item_container_time"),
            # A thread's items (items_in_threads, thread_of): without it SQLite walks every item
            # of the source (the source_id index) to find a few threads' items.
            models.Index(fields=["source", "thread_key"], name="item_source_thread"),
        ]

    def __str__(self) -> str:
        return self.title or self.body[:60]

    def get_absolute_url(self) -> str:
        return reverse("knowledge:item", kwargs={"pk": self.pk})


class Chunk(models.Model):
    """A retrievable piece of an item, indexed for keyword search and, once embedded, by vector.

    `audience` repeats the item's audience so that search filters visibility on the chunk
    table itself, inside the query.

    The vector is stored int8-quantised (`dimension` signed bytes, a quarter of float32: 512 MB
    rather than 2 GB for a million 512-d chunks); the float vector is `embedding` times
    `embedding_scale`. A chunk without a vector, or with one made by another embedder than the
    configured one, is *pending* (knowledge/indexing.py embeds it).
    """

    # The unique (item, ordinal) index serves lookups by item.
    item = models.ForeignKey(Item, on_delete=models.CASCADE, related_name="chunks", db_index=False)
    ordinal = models.PositiveIntegerField()
    text = models.TextField()
    # What the text stands under, embedded with it and never shown as the author's words: the
    # document's title and headings, an email's subject (knowledge/chunking.py).
    context = models.TextField(blank=True, db_default="")
    audience = models.ForeignKey(Audience, on_delete=models.PROTECT, related_name="chunks")
    embedding = models.BinaryField(null=True, blank=True)
    embedding_scale = models.FloatField(null=True, blank=True)
    # `Embedder.name` of the model that made `embedding`; "" while pending. Database defaults,
    # because ingest inserts chunks with plain SQL naming only the columns above.
    embedder = models.CharField(max_length=100, blank=True, db_default="")
    dimension = models.PositiveIntegerField(null=True, blank=True)
    # When the vector was stored, by the database's clock: the db index backend's in-memory
    # cache loads what is newer than its last look.
    embedded_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["item_id", "ordinal"]
        constraints = [
            models.UniqueConstraint(fields=["item", "ordinal"], name="chunk_item_ordinal_unique"),
        ]
        indexes = [
            models.Index(fields=["embedded_at"], name="chunk_embedded_at"),
            # Small: only chunks waiting for a vector, found right after each ingested batch.
            models.Index(
                fields=["id"], name="chunk_pending", condition=models.Q(embedding__isnull=True)
            ),
        ]

    def __str__(self) -> str:
        return f"chunk {self.ordinal} of item {self.item_id}"


class AuditEvent(models.Model):
    """Something a person did or saw that an auditor may ask about; written once, never changed.

    `actor` is empty for the console operator or the system itself; `target` names what was
    touched ("colleague:12", "source:3"); `detail` holds what the action needs to be understood:
    ids and hashes, never content. `ip` and `request_id` come from the request being served
    (config/request_context.py), empty outside one.

    Events form a hash chain (knowledge/audit_chain.py): `seq` is the event's position, `hash`
    covers its fields and `prev_hash`, the hash of the event before it. `knowledge.audit.record`
    is the only writer; `manage.py audit verify` checks the chain against AuditChainHead.
    """

    class Result(models.TextChoices):
        OK = "ok", _("OK")
        DENIED = "denied", _("Denied")
        FAILED = "failed", _("Failed")

    seq = models.PositiveBigIntegerField(unique=True)
    # Not auto_now_add: the time is part of the hash, so it is set before the hash is computed.
    at = models.DateTimeField(default=timezone.now, db_index=True)
    # No database constraint and no cascade: deleting a user must not rewrite (or be refused
    # by) an append-only table. The id stays as it was; `actor_name` says who it was.
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="+",
    )
    actor_name = models.CharField(max_length=150, blank=True)
    action = models.CharField(max_length=64, db_index=True)
    target = models.CharField(max_length=200, db_index=True)
    result = models.CharField(max_length=8, choices=Result.choices, default=Result.OK)
    # Text as config.security.client_ip normalises it, so it hashes the same after a round trip.
    ip = models.CharField(max_length=45, blank=True)
    request_id = models.CharField(max_length=64, blank=True)
    detail = models.JSONField(default=dict, blank=True)
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64)

    class Meta:
        ordering = ["-seq"]

    def __str__(self) -> str:
        return (
            f"{self.at:%Y-%m-%d %H:%M} {self.actor_name or 'operator'} {self.action} {self.target}"
        )


class AuditChainHead(models.Model):
    """The last event of the audit chain: one row, moved forward with every event.

    It anchors the end of the chain, so deleting the newest events (truncation) is detected;
    it is written in the transaction that appends the event.
    """

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    seq = models.PositiveBigIntegerField()
    hash = models.CharField(max_length=64)

    class Meta:
        constraints = [models.CheckConstraint(condition=models.Q(id=1), name="audit_head_single")]

    def __str__(self) -> str:
        return f"audit chain head #{self.seq}"


from knowledge.index.outbox import IndexOutbox  # noqa: E402, F401  (defined with the outbox)


class RedactionRequest(models.Model):
    """Someone asks for one captured item to be removed everywhere (knowledge/redaction.py).

    The request outlives the item: `item_id` is a plain integer, not a foreign key, and the
    item is described only by what carries none of its text (its source's name, its kind, the
    kind of place it was posted in, its date). Nothing the item said is ever kept here.
    """

    class State(models.TextChoices):
        REQUESTED = "requested", _("Waiting for a curator")
        # Approved, but a legal hold blocks the redaction (knowledge.redaction
        # .redaction_blocked_by); it is done once the hold lets it through.
        APPROVED = "approved", _("Approved, waiting for a hold to end")
        REJECTED = "rejected", _("Rejected")
        DONE = "done", _("Redacted")

    # Not a foreign key: the request must survive the item's deletion.
    item_id = models.BigIntegerField(db_index=True)
    item_source = models.CharField(max_length=200)
    item_kind = models.CharField(max_length=16, choices=Item.Kind.choices)
    item_container_kind = models.CharField(
        max_length=32, choices=Container.Kind.choices, blank=True
    )
    item_created_at = models.DateTimeField()
    # Whose data it is: the requester's colleague.
    colleague = models.ForeignKey(
        "colleagues.Colleague",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="redaction_requests",
    )
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="redaction_requests",
    )
    reason = models.CharField(max_length=1000, blank=True)
    state = models.CharField(
        max_length=16, choices=State.choices, default=State.REQUESTED, db_index=True
    )
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    decision_reason = models.CharField(max_length=1000, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    decided_at = models.DateTimeField(null=True, blank=True)
    done_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"redaction of item {self.item_id} ({self.get_state_display()})"

    @property
    def is_open(self) -> bool:
        return self.state in (self.State.REQUESTED, self.State.APPROVED)

    @property
    def item_description(self) -> str:
        """What the item was, without anything it said: "Message in a direct message from
        acme-slack, 3 Mar 2025"."""
        values = {
            "kind": Item.Kind(self.item_kind).label,
            "source": self.item_source,
            "day": date_format(self.item_created_at, "DATE_FORMAT"),
        }
        if self.item_container_kind:
            place = Container.Kind(self.item_container_kind).label.lower()
            return gettext("%(kind)s in a %(place)s from %(source)s, %(day)s") % {
                **values,
                "place": place,
            }
        return gettext("%(kind)s from %(source)s, %(day)s") % values


class RedactedDocument(models.Model):
    """A source document that was redacted: a later sync that offers it again skips it.

    Holds only the SHA-256 of its external id at the source, never anything it said.
    """

    source = models.ForeignKey(Source, on_delete=models.CASCADE, related_name="+")
    external_id_sha256 = models.CharField(max_length=64)
    redacted_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["source", "external_id_sha256"], name="redacted_document_unique"
            ),
        ]

    def __str__(self) -> str:
        return f"redacted document {self.external_id_sha256[:12]} of source {self.source_id}"


class RetentionPolicy(models.Model):
    """How long captured items of a scope are kept before the purge deletes them
    (knowledge/retention). Where several policies apply to an item, the longest wins."""

    class Scope(models.TextChoices):
        SOURCE_KIND = "source_kind", _("Every source of a kind")
        SOURCE = "source", _("One source")
        CONTAINER = "container", _("One channel or folder")
        COLLEAGUE = "colleague", _("What one colleague wrote")
        DEPARTURE = "departure", _("What departed colleagues wrote, counted from their departure")

    class Action(models.TextChoices):
        DELETE = "delete", _("Delete")

    name = models.CharField(max_length=200)
    scope = models.CharField(max_length=16, choices=Scope.choices)
    source_kind = models.CharField(max_length=32, blank=True)
    source = models.ForeignKey(
        Source, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    container = models.ForeignKey(
        Container, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    # For DEPARTURE: only this departed colleague; empty means every departed colleague.
    colleague = models.ForeignKey(
        "colleagues.Colleague",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="+",
    )
    keep_days = models.PositiveIntegerField()
    action = models.CharField(max_length=16, choices=Action.choices, default=Action.DELETE)
    is_active = models.BooleanField(default=True, db_index=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name", "id"]
        constraints = [
            models.CheckConstraint(
                condition=(
                    (models.Q(scope="source_kind") & ~models.Q(source_kind=""))
                    | (models.Q(scope="source") & models.Q(source__isnull=False))
                    | (models.Q(scope="container") & models.Q(container__isnull=False))
                    | (models.Q(scope="colleague") & models.Q(colleague__isnull=False))
                    | models.Q(scope="departure")
                ),
                name="retention_policy_scope_named",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class LegalHold(models.Model):
    """Items that nothing may delete while the hold is active (knowledge/retention).

    The scope is every criterion set, combined: a colleague (what they wrote), a source, a
    container, and a range of creation dates. A hold with no criterion covers nothing; placing
    one is refused. Released holds are kept, as the record of what was held and why.
    """

    name = models.CharField(max_length=200)
    reason = models.TextField()
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    colleague = models.ForeignKey(
        "colleagues.Colleague",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="legal_holds",
    )
    source = models.ForeignKey(
        Source, null=True, blank=True, on_delete=models.SET_NULL, related_name="legal_holds"
    )
    container = models.ForeignKey(
        Container, null=True, blank=True, on_delete=models.SET_NULL, related_name="legal_holds"
    )
    # Items created on or after `created_from` and on or before `created_until` (UTC days).
    created_from = models.DateField(null=True, blank=True)
    created_until = models.DateField(null=True, blank=True)
    started_at = models.DateTimeField(default=timezone.now)
    released_at = models.DateTimeField(null=True, blank=True, db_index=True)
    released_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-started_at", "-id"]

    def __str__(self) -> str:
        return f"legal hold #{self.pk} {self.name!r}"

    @property
    def is_active(self) -> bool:
        return self.released_at is None


class ErasureRequest(models.Model):
    """A request to erase a person (the right to be forgotten; knowledge/erasure.py).

    The request, and the certificate of what its run erased, outlive the person: the subject
    is kept only as `subject_sha256` (the SHA-256 of their lower-cased primary address, so
    someone who knows the address can check it was erased) and the requester's `subject_label`
    (a case number, never a name). The colleague link empties when the person is erased.
    """

    class State(models.TextChoices):
        REQUESTED = "requested", _("Waiting for approval")
        APPROVED = "approved", _("Approved, erasing")
        # Erased except what legal holds keep; finished once the holds end.
        HELD = "held", _("Erased except what legal holds keep")
        DONE = "done", _("Erased")
        REJECTED = "rejected", _("Rejected")

    colleague = models.ForeignKey(
        "colleagues.Colleague",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="erasure_requests",
    )
    subject_sha256 = models.CharField(max_length=64, db_index=True)
    subject_label = models.CharField(max_length=200)
    reason = models.CharField(max_length=1000)
    state = models.CharField(
        max_length=16, choices=State.choices, default=State.REQUESTED, db_index=True
    )
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    decision_reason = models.CharField(max_length=1000, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    decided_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # What the runs erased and what holds kept: ids' counts and hashes, never content
    # (knowledge.erasure.Certificate.as_json). Empty until the first run.
    certificate = models.JSONField(default=dict, blank=True)
    # The audit event recording the latest certificate (its chain position and hash). No
    # database constraint: nothing may reference the append-only table in a way that changes
    # what TRUNCATE or DELETE of it does (they are refused by its triggers alone).
    certificate_event = models.ForeignKey(
        "AuditEvent",
        null=True,
        blank=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="+",
    )

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"erasure request #{self.pk} {self.subject_label!r} ({self.get_state_display()})"

    @property
    def is_open(self) -> bool:
        return self.state in (self.State.REQUESTED, self.State.APPROVED, self.State.HELD)


class ErasedIdentity(models.Model):
    """An address or account of an erased person: a later sync skips what they wrote and what
    names them (knowledge.erasure.without_erased). Holds only a SHA-256, never the value."""

    value_sha256 = models.CharField(max_length=64, unique=True)
    request = models.ForeignKey(
        ErasureRequest, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    erased_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name_plural = "erased identities"

    def __str__(self) -> str:
        return f"erased identity {self.value_sha256[:12]}"

"""Intranet pages for administrators: sources, their sync runs and quarantined files."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.admin.views.decorators import staff_member_required
from django.contrib.auth.decorators import login_required
from django.db.models import Count, OuterRef, Q, Subquery
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_POST

from colleagues.models import Colleague
from connectors.actions import (
    CannotReread,
    MissingReason,
    QuarantineClosed,
    SourceSyncing,
    can_reread,
    delete_source,
    dismiss_quarantined,
    retry_quarantined,
    set_source_exclusions,
    set_source_status,
    store_upload,
)
from connectors.credentials import credential_keys
from connectors.errors import ConnectorConfigError, ConnectorError
from connectors.exclusions import rules_for, source_rules
from connectors.forms import (
    DismissForm,
    ExclusionRulesForm,
    SourceForm,
    UploadForm,
    addable_kinds,
)
from connectors.models import QuarantinedFile, Source, SyncRun
from connectors.registry import CONNECTORS, connector_class
from connectors.tasks import sync_source
from knowledge.selectors import items_visible_to
from knowledge.visibility import reader_for


@staff_member_required
def source_list(request: HttpRequest) -> HttpResponse:
    latest = SyncRun.objects.filter(source=OuterRef("pk")).order_by("-id")
    sources = Source.objects.annotate(
        item_count=Count("items", distinct=True),
        quarantine_count=Count(
            "quarantine",
            filter=Q(quarantine__state=QuarantinedFile.State.OPEN),
            distinct=True,
        ),
        last_run_status=Subquery(latest.values("status")[:1]),
        last_run_at=Subquery(latest.values("started_at")[:1]),
    ).order_by("name")
    return render(request, "connectors/sources.html", {"sources": sources})


@staff_member_required
def source_add(request: HttpRequest) -> HttpResponse:
    """Choose the kind of the source to add."""
    kinds = [(kind, cls.label or kind) for kind, cls in addable_kinds()]
    return render(request, "connectors/source_add.html", {"kinds": kinds})


@staff_member_required
@sensitive_post_parameters()
def source_add_kind(request: HttpRequest, kind: str) -> HttpResponse:
    """The new source's form for one kind; the source is made by `create_source`, as
    `manage.py add_source` makes it. Secrets are never rendered back nor reported."""
    if kind not in dict(addable_kinds()):
        raise Http404("no such source kind")
    form = SourceForm(kind, request.POST or None)
    if request.method == "POST" and form.is_valid():
        source = form.save(actor=request.user)
        if source is not None:
            messages.success(
                request,
                _("%(name)s added. Sync it now, or wait for its schedule.") % {"name": source.name},
            )
            return redirect(source)
    status = 400 if request.method == "POST" else 200
    context = {"form": form, "kind": kind, "label": form.connector.label or kind}
    return render(request, "connectors/source_add_kind.html", context, status=status)


@staff_member_required
def source_detail(request: HttpRequest, pk: int) -> HttpResponse:
    source = get_object_or_404(Source, pk=pk)
    try:
        credentials: list[str] | None = credential_keys(source.encrypted_credentials)
    except ConnectorConfigError:
        credentials = None  # no configured key decrypts them: shown as such
    runs = list(source.runs.all()[:20])
    after = request.GET.get("after", "")
    # A sync was requested and no run newer than `after` has started yet: keep polling.
    waiting = after.isdigit() and (not runs or runs[0].pk <= int(after))
    context = {
        "source": source,
        "credential_keys": credentials,
        "runs": runs,
        "waiting_after": after if waiting else None,
        **_exclusions_context(source),
    }
    context.update(_quarantine_context(request, source))
    # htmx polls the runs table while a run is in progress; the quarantined files come along
    # (an out-of-band swap), so what the run quarantined shows up when it ends.
    if request.headers.get("HX-Request"):
        return render(request, "connectors/_source_poll.html", {**context, "oob": True})
    return render(request, "connectors/source.html", context)


def _quarantine_context(request: HttpRequest, source: Source) -> dict[str, object]:
    """The source's open quarantined files (each with whether it can be retried) and the
    latest closed ones, with the items a retry stored that the reader may open."""
    rows = source.quarantine.select_related("resolved_by")
    rereads = connector_class(source.kind).rereads_files if source.kind in CONNECTORS else False
    quarantine = list(rows.filter(state=QuarantinedFile.State.OPEN)[:100])
    for record in quarantine:
        record.can_retry = can_reread(record)  # type: ignore[attr-defined]
    closed = list(rows.exclude(state=QuarantinedFile.State.OPEN).order_by("-resolved_at")[:20])
    stored_ids = {pk for record in closed for pk in record.stored_item_ids}
    visible = (
        {
            item.pk: item
            for item in items_visible_to(reader_for(request.user)).filter(pk__in=stored_ids)
        }
        if stored_ids
        else {}
    )
    for record in closed:
        record.stored_items = [  # type: ignore[attr-defined]
            visible[pk] for pk in record.stored_item_ids if pk in visible
        ]
    return {
        "quarantine": quarantine,
        "quarantine_closed": closed,
        "rereads_files": rereads,
        "dismiss_form": DismissForm(),
    }


@staff_member_required
@require_POST
def quarantine_retry(request: HttpRequest, pk: int, record_pk: int) -> HttpResponse:
    """Read one quarantined file again and store it as a sync would (retry_quarantined)."""
    record = get_object_or_404(QuarantinedFile, pk=record_pk, source_id=pk)
    source = record.source
    try:
        outcome = retry_quarantined(record=record, actor=request.user)
    except QuarantineClosed:
        messages.error(request, _("%(file)s is no longer quarantined.") % {"file": record.path})
    except SourceSyncing:
        messages.error(
            request,
            _("%(name)s is syncing: retry once the run has ended.") % {"name": source.name},
        )
    except CannotReread:
        messages.error(
            request,
            _("%(file)s cannot be read again on its own; the next sync reads it if it changed.")
            % {"file": record.path},
        )
    except ConnectorError as exc:
        messages.error(
            request,
            _("%(file)s could not be read again: %(error)s")
            % {"file": record.path, "error": str(exc)},
        )
    else:
        if not outcome.stored:
            messages.error(
                request,
                _("%(file)s is still rejected: %(error_type)s: %(error)s")
                % {
                    "file": record.path,
                    "error_type": outcome.record.error_type,
                    "error": outcome.record.message,
                },
            )
        elif outcome.item_ids:
            messages.success(
                request,
                ngettext(
                    "%(file)s is read and stored: %(count)s item, listed under closed files.",
                    "%(file)s is read and stored: %(count)s items, listed under closed files.",
                    len(outcome.item_ids),
                )
                % {"file": record.path, "count": len(outcome.item_ids)},
            )
        else:
            messages.success(
                request,
                _("%(file)s is read; an exclusion rule keeps it from being stored.")
                % {"file": record.path},
            )
    return redirect(f"{source.get_absolute_url()}#quarantine")


@staff_member_required
@require_POST
def quarantine_dismiss(request: HttpRequest, pk: int, record_pk: int) -> HttpResponse:
    """Close a quarantined file without storing it; its reason is kept and audited."""
    record = get_object_or_404(QuarantinedFile, pk=record_pk, source_id=pk)
    form = DismissForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Say why %(file)s is dismissed.") % {"file": record.path})
        return redirect(f"{record.source.get_absolute_url()}#quarantine")
    try:
        dismiss_quarantined(record=record, reason=form.cleaned_data["reason"], actor=request.user)
    except QuarantineClosed:
        messages.error(request, _("%(file)s is no longer quarantined.") % {"file": record.path})
    except MissingReason:
        messages.error(request, _("Say why %(file)s is dismissed.") % {"file": record.path})
    else:
        messages.success(request, _("%(file)s dismissed.") % {"file": record.path})
    return redirect(f"{record.source.get_absolute_url()}#quarantine")


@staff_member_required
@require_POST
def source_sync(request: HttpRequest, pk: int) -> HttpResponse:
    source = get_object_or_404(Source, pk=pk)
    if source.status != Source.Status.ACTIVE:
        messages.error(request, _("%(name)s is paused: resume it to sync.") % {"name": source.name})
    else:
        before = source.runs.order_by("-id").values_list("pk", flat=True).first() or 0
        sync_source.delay(source.pk)
        messages.success(request, _("Sync of %(name)s requested.") % {"name": source.name})
        # With a worker the run starts later: the page polls until a run newer than `before`
        # has come and gone (without one, the sync already ran in this request).
        return redirect(f"{source.get_absolute_url()}?after={before}")
    return redirect(source)


def _exclusions_context(
    source: Source, form: ExclusionRulesForm | None = None
) -> dict[str, object]:
    try:
        own = source_rules(source.config)
        rules = rules_for(source.config)
    except ConnectorConfigError as exc:
        return {"exclusions_error": str(exc), "exclusions_form": form or ExclusionRulesForm()}
    organisation = rules_for({"include_direct_messages": own.include_direct_messages})
    return {
        "exclusions_form": form or ExclusionRulesForm.for_rules(own),
        "organisation_rules": organisation,
        "has_organisation_rules": bool(
            organisation.containers or organisation.senders or organisation.keywords
        ),
        "rules_fingerprint": rules.fingerprint,
    }


@staff_member_required
@require_POST
def source_exclusions(request: HttpRequest, pk: int) -> HttpResponse:
    """Save the source's own exclusion rules; its next sync removes what they exclude."""
    source = get_object_or_404(Source, pk=pk)
    form = ExclusionRulesForm(request.POST)
    if not form.is_valid():
        context = {
            "source": source,
            "runs": source.runs.all()[:20],
            **_quarantine_context(request, source),
            **_exclusions_context(source, form),
        }
        return render(request, "connectors/source.html", context, status=400)
    set_source_exclusions(source=source, rules=form.rules())
    messages.success(
        request,
        _(
            "Exclusion rules of %(name)s saved. Its next sync removes what they exclude "
            "from the stored items, their chunks and the search index."
        )
        % {"name": source.name},
    )
    return redirect(source)


@staff_member_required
@require_POST
def source_pause(request: HttpRequest, pk: int) -> HttpResponse:
    source = get_object_or_404(Source, pk=pk)
    paused = request.POST.get("paused") == "1"
    set_source_status(
        source=source, status=Source.Status.PAUSED if paused else Source.Status.ACTIVE
    )
    messages.success(
        request,
        (_("%(name)s paused.") if paused else _("%(name)s resumed.")) % {"name": source.name},
    )
    return redirect(source)


@staff_member_required
def source_delete(request: HttpRequest, pk: int) -> HttpResponse:
    """GET asks for confirmation; POST deletes the source and everything captured from it."""
    source = get_object_or_404(Source, pk=pk)
    if request.method != "POST":
        context = {"source": source, "item_count": source.items.count()}
        return render(request, "connectors/source_delete.html", context)
    try:
        deleted = delete_source(source=source)
    except ConnectorConfigError as exc:
        messages.error(request, str(exc))
        return redirect(source)
    messages.success(
        request,
        _("Deleted %(name)s and its %(items)s items.")
        % {"name": deleted.name, "items": deleted.items},
    )
    return redirect(reverse("connectors:sources"))


@login_required
def upload(request: HttpRequest) -> HttpResponse:
    """Upload a document, choose who may see it; the uploads source stores it on its sync."""
    reader = reader_for(request.user)
    own = Colleague.objects.filter(pk=reader.colleague_id).first() if reader.colleague_id else None
    uploader_email = (own.email if own else "") or getattr(request.user, "email", "")
    form = UploadForm(request.POST or None, request.FILES or None, initial={"author": own})
    if request.method == "POST" and form.is_valid():
        if not uploader_email:
            messages.error(request, _("Your account has no mail address: ask an administrator."))
            return redirect("connectors:upload")
        author = form.cleaned_data["author"] or own
        file = form.cleaned_data["file"]
        stored = store_upload(
            name=file.name,
            chunks=file.chunks(),
            uploader_email=uploader_email,
            chosen_author_email=(author.email if author else "") or uploader_email,
            public=form.cleaned_data["audience"] == "public",
            people_emails=form.cleaned_data["people"]
            if form.cleaned_data["audience"] == "people"
            else (),
        )
        sync_source.delay(stored.source.pk)
        # The sync may have given the uploader a new identity: read as they are now.
        item = (
            items_visible_to(reader_for(request.user))
            .filter(source=stored.source, external_id=stored.folder.name)
            .first()
        )
        if item is not None:
            messages.success(
                request, _("%(title)s is stored and searchable.") % {"title": item.title}
            )
            return redirect(item)
        rejected = stored.source.quarantine.filter(path__contains=stored.folder.name).first()
        if rejected is not None:
            messages.error(
                request,
                _("%(file)s could not be read: %(error)s")
                % {"file": file.name, "error": rejected.message},
            )
        else:
            messages.success(
                request,
                _("%(file)s is uploaded; it is stored on the next sync.") % {"file": file.name},
            )
        return redirect("connectors:upload")
    recent = items_visible_to(reader).filter(
        source__kind="upload", metadata__uploaded_by=uploader_email
    )
    recent = recent.order_by("-created_at")[:20] if uploader_email else recent.none()
    return render(request, "connectors/upload.html", {"form": form, "recent": recent})

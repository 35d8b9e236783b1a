"""Intranet pages for administrators: sources, their sync runs and quarantined files."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.admin.views.decorators import staff_member_required
from django.contrib.auth.decorators import login_required
from django.db.models import Count
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from colleagues.models import Colleague
from connectors.actions import (
    delete_source,
    set_source_exclusions,
    set_source_status,
    store_upload,
)
from connectors.credentials import credential_keys
from connectors.errors import ConnectorConfigError
from connectors.exclusions import rules_for, source_rules
from connectors.forms import ExclusionRulesForm, UploadForm
from connectors.models import Source
from connectors.tasks import sync_source
from knowledge.selectors import items_visible_to
from knowledge.visibility import reader_for


@staff_member_required
def source_list(request: HttpRequest) -> HttpResponse:
    sources = Source.objects.annotate(
        item_count=Count("items", distinct=True),
        quarantine_count=Count("quarantine", distinct=True),
    ).order_by("name")
    return render(request, "connectors/sources.html", {"sources": sources})


@staff_member_required
def source_detail(request: HttpRequest, pk: int) -> HttpResponse:
    source = get_object_or_404(Source, pk=pk)
    try:
        credentials: list[str] | None = credential_keys(source.encrypted_credentials)
    except ConnectorConfigError:
        credentials = None  # no configured key decrypts them: shown as such
    context = {
        "source": source,
        "credential_keys": credentials,
        "runs": source.runs.all()[:20],
        "quarantine": source.quarantine.all()[:100],
        **_exclusions_context(source),
    }
    # htmx polls the runs table while a run is in progress.
    template = "connectors/_runs.html" if request.headers.get("HX-Request") else None
    return render(request, template or "connectors/source.html", context)


@staff_member_required
@require_POST
def source_sync(request: HttpRequest, pk: int) -> HttpResponse:
    source = get_object_or_404(Source, pk=pk)
    if source.status != Source.Status.ACTIVE:
        messages.error(request, _("%(name)s is paused: resume it to sync.") % {"name": source.name})
    else:
        sync_source.delay(source.pk)
        messages.success(request, _("Sync of %(name)s requested.") % {"name": source.name})
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
            "quarantine": source.quarantine.all()[:100],
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

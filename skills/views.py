"""Intranet pages of a colleague's skill package: the package, its versions and corrections.

Everything shown is rendered for the requesting user (`skills.selectors`); a download is an
audited export of exactly that. Who may open a package, and who may curate it, is
colleagues.access: a package the user may not open is a 404; curating without the right is a
403.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.db.models import Max
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from colleagues.access import (
    can_curate_package,
    curated_colleague,
    own_colleague,
    viewable_colleague,
)
from colleagues.models import Colleague
from knowledge.audit import record
from knowledge.visibility import reader_for
from skills import tasks
from skills.actions import (
    WITHOUT_CONSENT,
    BuildRefused,
    CorrectionRefused,
    add_correction,
    request_rebuild_all,
    rollback,
    withdraw_correction,
)
from skills.charts import bar_chart
from skills.export import download_package
from skills.forms import CorrectionForm, StyleCheckForm
from skills.models import Correction, SkillPackage, SkillVersion
from skills.sections import pet_phrases
from skills.selectors import (
    PackageView,
    active_corrections,
    diff_versions,
    package_of,
    package_view,
    style_matcher,
    version_of,
    versions_of,
)


@login_required
@permission_required("colleagues.curate_packages", raise_exception=True)
def overview(request: HttpRequest) -> HttpResponse:
    """Every package's build status; progress of a rebuild of all of them."""
    packages = list(
        SkillPackage.objects.select_related("colleague")
        .annotate(latest=Max("versions__number"), built_at=Max("versions__built_at"))
        .order_by("colleague__name")
    )
    counts = Counter(p.status for p in packages)
    pending = counts[SkillPackage.Status.STALE] + counts[SkillPackage.Status.BUILDING]
    context = {
        "packages": packages,
        "counts": [
            (status, label, counts[status]) for status, label in SkillPackage.Status.choices
        ],
        "pending": pending,
        "done": len(packages) - pending,
        "total": len(packages),
    }
    return render(request, "skills/overview.html", context)


@login_required
@permission_required("colleagues.curate_packages", raise_exception=True)
@require_POST
def rebuild_all(request: HttpRequest) -> HttpResponse:
    queued = request_rebuild_all()
    tasks.queue_rebuild()
    messages.success(
        request,
        _("Rebuilding %(count)s packages; this page follows their progress.") % {"count": queued},
    )
    return redirect("skills:overview")


def _colleague(request: HttpRequest, slug: str) -> Colleague:
    """The colleague whose package the user may open; 404 otherwise."""
    return viewable_colleague(request.user, slug)


def _is_own(request: HttpRequest, colleague: Colleague) -> bool:
    own = own_colleague(request.user)
    return own is not None and own.pk == colleague.pk


def _curated(request: HttpRequest, slug: str) -> Colleague:
    return curated_colleague(request.user, slug)


def _version_number(request: HttpRequest, name: str = "version") -> int | None:
    raw = request.GET.get(name, "")
    if not raw:
        return None
    if not raw.isdigit():
        raise Http404("No such version.")
    return int(raw)


@login_required
def package(request: HttpRequest, slug: str) -> HttpResponse:
    colleague = _colleague(request, slug)
    can_curate = can_curate_package(request.user, colleague)
    reader = reader_for(request.user)
    skill_package = package_of(colleague)
    version = version_of(colleague, _version_number(request))
    if version is None and request.GET.get("version"):
        raise Http404("No such version.")
    versions = list(versions_of(colleague)[:50])
    context: dict[str, Any] = {
        "colleague": colleague,
        "package": skill_package,
        "version": version,
        "is_latest": bool(version and versions and version.number == versions[0].number),
        "versions": [
            {"version": v, "previous": versions[i + 1].number if i + 1 < len(versions) else None}
            for i, v in enumerate(versions)
        ],
        "corrections": list(active_corrections(skill_package)) if skill_package else [],
        "correction_form": CorrectionForm(),
        "can_curate": can_curate,
        "consent_blocks": colleague.consent in WITHOUT_CONSENT,
        "can_correct": can_curate or _is_own(request, colleague),
        "style_form": StyleCheckForm(),
    }
    if version is not None:
        context.update(_shown(package_view(reader, version)))
    # Who opened whose package, and which version: the auditors' access report counts these.
    record(
        "skill.viewed",
        f"colleague:{colleague.pk}",
        actor=request.user,
        version=version.number if version is not None else None,
    )
    return render(request, "skills/package.html", context)


def _shown(view: PackageView) -> dict[str, Any]:
    """What the package page lists from the reader's view of a version."""
    work, style = view.work, view.style
    slugs = dict(
        Colleague.objects.filter(
            pk__in=[c["person"].get("colleague_id") for c in work.get("collaborators", [])]
        ).values_list("pk", "slug")
    )
    length = style.get("length", {})
    activity = style.get("activity", {})
    charts = {
        "hours": bar_chart(
            _("Messages by hour of day, UTC"),
            [f"{h:02d}" for h in range(24)],
            activity.get("hours", []),
            every_label=3,
        ),
        "weekdays": bar_chart(
            _("Messages by weekday"),
            [_("Mon"), _("Tue"), _("Wed"), _("Thu"), _("Fri"), _("Sat"), _("Sun")],
            activity.get("weekdays", []),
        ),
        "lengths": bar_chart(
            _("Messages by length in words"),
            [b["label"] for b in length.get("histogram", [])],
            [b["count"] for b in length.get("histogram", [])],
        ),
    }
    words = length.get("words", {})
    facts = []
    if words.get("count"):
        facts.append(
            _("A typical message has %(median).0f words (half between %(low).0f and %(high).0f).")
            % {"median": words["median"], "low": words["p25"], "high": words["p75"]}
        )
    for key, title in (("greetings", _("Greets with %s.")), ("sign_offs", _("Signs off with %s."))):
        forms = [f"“{f['form']}”" for f in style.get(key, {}).get("forms", [])[:3]]
        if forms:
            facts.append(title % ", ".join(forms))
    return {
        "expertise": [
            {
                "label": area["label"],
                "terms": [t["term"] for t in area.get("terms", [])][:8],
                "evidence": area["evidence"][:3],
            }
            for area in work.get("expertise", [])[:10]
        ],
        "systems": work.get("systems", [])[:12],
        "collaborators": [
            {
                "name": c["person"].get("name") or c["person"].get("email"),
                "slug": slugs.get(c["person"].get("colleague_id")),
                "asked": c.get("asked", 0),
                "answered": c.get("answered", 0),
                "topics": c.get("topics", [])[:3],
            }
            for c in work.get("collaborators", [])[:10]
        ],
        "faq": work.get("faq", [])[:10],
        "phrases": [
            {
                "text": p.get("as_written") or p.get("phrase"),
                "messages": p.get("messages", 0),
                "example": (p.get("examples") or [None])[0],
            }
            for p in pet_phrases(style, work, view.version.corrections)[:8]
        ],
        "style_facts": facts,
        "charts": charts,
        "files": sorted(view.files.files.items(), key=lambda kv: FILE_ORDER.get(kv[0], 9)),
    }


FILE_ORDER = {"SKILL.md": 0, "work.md": 1, "persona.md": 2, "meta.json": 3}


@login_required
def diff(request: HttpRequest, slug: str) -> HttpResponse:
    colleague = _colleague(request, slug)
    old = version_of(colleague, _version_number(request, "from"))
    new = version_of(colleague, _version_number(request, "to"))
    if old is None or new is None:
        raise Http404("No such version.")
    diffs = diff_versions(reader_for(request.user), old, new)
    return render(
        request,
        "skills/diff.html",
        {"colleague": colleague, "old": old, "new": new, "diffs": [d for d in diffs if d.changed]},
    )


@login_required
def download(request: HttpRequest, slug: str) -> HttpResponse:
    """The package as a zip, exactly as the requesting user may see it (audited)."""
    colleague = _colleague(request, slug)
    version = version_of(colleague, _version_number(request))
    if version is None:
        raise Http404("No skill package yet.")
    download = download_package(
        reader_for(request.user), version, actor=request.user, via="download"
    )
    response = HttpResponse(download.content, content_type="application/zip")
    response["Content-Disposition"] = f'attachment; filename="{download.filename}"'
    return response


@login_required
@require_POST
def correct(request: HttpRequest, slug: str) -> HttpResponse:
    """Record a correction: the package's curators, or the colleague themself."""
    colleague = _colleague(request, slug)
    if not _is_own(request, colleague):
        colleague = _curated(request, slug)
    skill_package = package_of(colleague)
    form = CorrectionForm(request.POST)
    if skill_package is None or not form.is_valid():
        messages.error(request, _("The correction needs a package and what is wrong or right."))
        return redirect("skills:package", slug=slug)
    try:
        version = add_correction(skill_package, user=request.user, **form.cleaned_data)
    except CorrectionRefused as exc:
        messages.error(request, str(exc))
    else:
        messages.success(
            request,
            _("Correction recorded; version %(number)s applies it.") % {"number": version.number},
        )
    return redirect("skills:package", slug=slug)


@login_required
@require_POST
def withdraw(request: HttpRequest, slug: str, correction_id: int) -> HttpResponse:
    """Withdraw a correction: its author or one of the package's curators."""
    colleague = _colleague(request, slug)
    correction = get_object_or_404(
        Correction, pk=correction_id, package__colleague=colleague, withdrawn_at__isnull=True
    )
    if correction.created_by_id != request.user.pk:
        _curated(request, slug)
    version = withdraw_correction(correction, user=request.user)
    messages.success(
        request,
        _("Correction withdrawn; version %(number)s is without it.") % {"number": version.number},
    )
    return redirect("skills:package", slug=slug)


@login_required
@require_POST
def restore(request: HttpRequest, slug: str, number: int) -> HttpResponse:
    skill_package = get_object_or_404(SkillPackage, colleague=_curated(request, slug))
    try:
        version = rollback(skill_package, number=number, user=request.user)
    except SkillVersion.DoesNotExist as exc:
        raise Http404(str(exc)) from exc
    messages.success(
        request,
        _("Version %(number)s restores version %(old)s.")
        % {"number": version.number, "old": number},
    )
    return redirect("skills:package", slug=slug)


@login_required
@require_POST
def build(request: HttpRequest, slug: str) -> HttpResponse:
    colleague = _curated(request, slug)
    if colleague.consent in WITHOUT_CONSENT:
        messages.error(request, str(BuildRefused.for_colleague(colleague)))
        return redirect("skills:package", slug=slug)
    SkillPackage.objects.get_or_create(colleague=colleague)
    tasks.build_skill_package.delay(colleague.pk, request.user.pk)
    messages.success(
        request,
        _("Building %(name)s's package; this page shows its status.") % {"name": colleague.name},
    )
    return redirect("skills:package", slug=slug)


@login_required
@require_POST
def style_check(request: HttpRequest, slug: str) -> HttpResponse:
    """Does this text sound like them? Their score and rank among everyone with a package."""
    colleague = _colleague(request, slug)
    form = StyleCheckForm(request.POST)
    context: dict[str, object] = {"colleague": colleague, "form": form}
    matcher = style_matcher()
    if form.is_valid() and matcher is not None:
        ranked = matcher.ranked(form.cleaned_data["text"], limit=None)
        mine = next((r for r in ranked if r["colleague"]["slug"] == colleague.slug), None)
        context.update(
            result=mine,
            rank=ranked.index(mine) + 1 if mine else None,
            of=len(ranked),
            closest=ranked[:3],
        )
    partial = request.headers.get("HX-Request")
    return render(
        request, "skills/_style_check.html" if partial else "skills/style_check.html", context
    )

"""Build, correct, roll back and prune skill packages.

Builds read with full access (the console operator's `Reader`): what each reader is shown is
cut down afterwards by `skills.selectors`. Every change writes a new immutable `SkillVersion`;
only the newest `COLLEAGUE_SKILL_KEEP_VERSIONS` are kept.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Max, Q
from django.utils import timezone
from django.utils.translation import gettext

from colleagues.models import Colleague
from knowledge.audit import Actor, login_user
from knowledge.llm import LLMError, llm_from_settings
from knowledge.models import Item
from knowledge.selectors import items_by, items_visible_to
from knowledge.visibility import Reader
from skills.analysis.corpus import load_corpus
from skills.analysis.style import PhraseBackground, phrase_background, style_profile
from skills.analysis.work import Background, analyse_work, org_background
from skills.models import Correction, SkillPackage, SkillVersion
from skills.narrative import write_narrative
from skills.render import generator_of, render_package
from skills.selectors import active_corrections, evidence_ids, visible_analysis, visible_evidence

logger = logging.getLogger(__name__)

PHRASE_BACKGROUND_ITEMS = 5000
# A package "building" for longer than this was left so by a process that died.
STUCK_BUILD = timedelta(minutes=30)


class CorrectionRefused(ValueError):
    """A correction that says nothing, or one for a package that was never built."""


@dataclass(frozen=True)
class OrgContext:
    """What every build in one batch compares a colleague against, computed once."""

    work: Background
    phrases: PhraseBackground

    @classmethod
    def compute(cls, reader: Reader) -> OrgContext:
        texts = items_visible_to(reader).order_by("-id").values_list("body", flat=True)
        return cls(
            work=org_background(reader),
            phrases=phrase_background(texts[:PHRASE_BACKGROUND_ITEMS].iterator()),
        )


def public_items(item_ids: Iterable[int]) -> set[int]:
    """Those of `item_ids` everyone in the organisation may see."""
    ids = sorted(set(item_ids))
    return {
        pk
        for start in range(0, len(ids), 900)
        for pk in Item.objects.filter(
            pk__in=ids[start : start + 900], audience__is_public=True
        ).values_list("pk", flat=True)
    }


class BuildRefused(ValueError):
    """A package that may not be built: its colleague's capture consent is required and not
    given, or refused (Colleague.consent)."""

    @classmethod
    def for_colleague(cls, colleague: Colleague) -> BuildRefused:
        return cls(
            gettext(
                "%(name)s's consent to capture is %(consent)s: no package is built until it is "
                "given (or not required by policy)."
            )
            % {"name": colleague.name, "consent": colleague.get_consent_display().lower()}
        )


# Consent states under which a colleague's package is not built.
WITHOUT_CONSENT = (Colleague.Consent.REQUIRED, Colleague.Consent.REFUSED)


def build_package(
    colleague: Colleague,
    *,
    context: OrgContext | None = None,
    reason: str = SkillVersion.Reason.BUILD,
    user: Actor = None,
) -> SkillVersion:
    """Analyse everything `colleague` wrote and store the result as a new version.

    On failure the package is marked failed with the error, no version is written, and the
    exception propagates. BuildRefused, before anything is written, when the colleague's
    consent is required and not given, or refused.
    """
    if colleague.consent in WITHOUT_CONSENT:
        raise BuildRefused.for_colleague(colleague)
    started = time.perf_counter()
    reader = Reader.operator()
    package, _ = SkillPackage.objects.get_or_create(colleague=colleague)
    SkillPackage.objects.filter(pk=package.pk).update(
        status=SkillPackage.Status.BUILDING, build_error="", updated_at=timezone.now()
    )
    try:
        through = items_by(reader, colleague).aggregate(top=Max("id"))["top"] or 0
        context = context or OrgContext.compute(reader)
        corpus = load_corpus(reader, colleague, max_items=settings.COLLEAGUE_SKILL_MAX_ITEMS)
        analysis = {
            "work": analyse_work(corpus, context.work).to_dict(),
            "style": style_profile(corpus.writings, background=context.phrases).to_dict(),
        }
        llm = llm_from_settings()
        if llm is not None:
            try:
                public = public_items(evidence_ids(analysis["work"]))
                analysis["narrative"] = write_narrative(
                    llm, colleague, analysis["work"], public=public
                )
            except LLMError as exc:
                # The offline rendering reads well on its own; the next build tries again.
                logger.warning("Narrative of %s not written: %s", colleague, exc)
        return _write_version(
            package,
            analysis=analysis,
            reason=reason,
            user=user,
            items=len(corpus.items),
            through=through,
            started=started,
        )
    except BaseException as exc:
        SkillPackage.objects.filter(pk=package.pk).update(
            status=SkillPackage.Status.FAILED,
            build_error=f"{type(exc).__name__}: {exc}"[:2000],
            updated_at=timezone.now(),
        )
        raise


@dataclass(frozen=True)
class Built:
    """What a build wrote, without the version's heavy JSON (a rebuild of thousands of
    packages keeps one of these per package, not the packages)."""

    pk: int
    number: int
    items: int
    seconds: float


@dataclass(frozen=True)
class BuildOutcome:
    colleague: Colleague
    version: Built | None
    error: str = ""


def build_packages(
    colleagues: Iterable[Colleague],
    *,
    reason: str = SkillVersion.Reason.BUILD,
    on_built: Callable[[BuildOutcome], None] | None = None,
) -> list[BuildOutcome]:
    """Build the packages of `colleagues` one after another; a failed one does not stop the
    rest (its error is on the package and in the outcome)."""
    context = OrgContext.compute(Reader.operator())
    outcomes = []
    for colleague in colleagues:
        try:
            version = build_package(colleague, context=context, reason=reason)
            built = Built(version.pk, version.number, version.items, version.seconds)
            outcome = BuildOutcome(colleague, built)
        except Exception as exc:
            outcome = BuildOutcome(colleague, None, f"{type(exc).__name__}: {exc}")
        outcomes.append(outcome)
        if on_built is not None:
            on_built(outcome)
    return outcomes


def colleagues_with_new_material() -> list[Colleague]:
    """Colleagues whose package is missing, older than their newest item, or marked stale."""
    newest = (
        Item.objects.filter(author__colleague__isnull=False)
        .order_by()
        .values("author__colleague")
        .annotate(top=Max("id"))
    )
    built = dict(SkillPackage.objects.values_list("colleague_id", "built_through_item_id"))
    stale = {
        row["author__colleague"]
        for row in newest
        if row["top"] > built.get(row["author__colleague"], 0)
    }
    stale.update(
        SkillPackage.objects.filter(
            Q(status=SkillPackage.Status.STALE) | _stuck_building()
        ).values_list("colleague_id", flat=True)
    )
    return list(
        Colleague.objects.filter(pk__in=stale).exclude(consent__in=WITHOUT_CONSENT).order_by("name")
    )


def request_rebuild_all() -> int:
    """Mark every package, and every colleague with captured items but no package yet, for a
    rebuild (`rebuild_stale_packages` does it); return how many are queued."""
    authors = (
        Item.objects.filter(author__colleague__isnull=False)
        .order_by()
        .values_list("author__colleague", flat=True)
        .distinct()
    )
    missing = set(authors) - set(SkillPackage.objects.values_list("colleague_id", flat=True))
    SkillPackage.objects.bulk_create(
        [SkillPackage(colleague_id=pk) for pk in sorted(missing)], ignore_conflicts=True
    )
    building_now = Q(status=SkillPackage.Status.BUILDING) & ~_stuck_building()
    return SkillPackage.objects.exclude(building_now).update(
        status=SkillPackage.Status.STALE, updated_at=timezone.now()
    )


def _stuck_building() -> Q:
    """Packages marked building by a build that died (no build takes this long)."""
    return Q(status=SkillPackage.Status.BUILDING, updated_at__lt=timezone.now() - STUCK_BUILD)


def add_correction(
    package: SkillPackage, *, kind: str, wrong: str, right: str, user: Actor
) -> SkillVersion:
    """Record a correction and write a version that applies it (same analysis)."""
    wrong, right = wrong.strip(), right.strip()
    if not wrong and not right:
        raise CorrectionRefused(gettext("Say what is wrong, what is right, or both."))
    if kind not in Correction.Kind.values:
        raise CorrectionRefused(gettext("Unknown kind of correction: %(kind)r.") % {"kind": kind})
    with transaction.atomic():
        Correction.objects.create(
            package=package,
            kind=kind,
            wrong=wrong[:2000],
            right=right[:2000],
            created_by=login_user(user),
        )
        return _rerender(package, reason=SkillVersion.Reason.CORRECTION, user=user)


def withdraw_correction(correction: Correction, *, user: Actor) -> SkillVersion:
    """Withdraw a correction (kept for the record) and write a version without it."""
    with transaction.atomic():
        Correction.objects.filter(pk=correction.pk).update(withdrawn_at=timezone.now())
        return _rerender(correction.package, reason=SkillVersion.Reason.CORRECTION, user=user)


def rollback(package: SkillPackage, *, number: int, user: Actor) -> SkillVersion:
    """Write a new version repeating version `number`'s analysis (corrections still apply)."""
    old = package.versions.filter(number=number).first()
    if old is None:
        raise SkillVersion.DoesNotExist(f"{package.colleague} has no version {number}.")
    with transaction.atomic():
        return _write_version(
            package,
            analysis=old.analysis,
            reason=SkillVersion.Reason.ROLLBACK,
            user=user,
            items=old.items,
            through=None,
            restored_from=old.number,
        )


def _rerender(package: SkillPackage, *, reason: str, user: Actor) -> SkillVersion:
    latest = package.versions.order_by("-number").first()
    if latest is None:
        raise CorrectionRefused(
            gettext("%(person)s's package has not been built yet.") % {"person": package.colleague}
        )
    return _write_version(
        package,
        analysis=latest.analysis,
        reason=reason,
        user=user,
        items=latest.items,
        through=None,
    )


@transaction.atomic
def _write_version(
    package: SkillPackage,
    *,
    analysis: dict[str, Any],
    reason: str,
    user: Actor,
    items: int,
    through: int | None,
    started: float | None = None,
    restored_from: int | None = None,
) -> SkillVersion:
    package = (
        SkillPackage.objects.select_for_update().select_related("colleague").get(pk=package.pk)
    )
    number = (package.versions.aggregate(top=Max("number"))["top"] or 0) + 1
    corrections = [
        {
            "id": c.pk,
            "kind": c.kind,
            "wrong": c.wrong,
            "right": c.right,
            "by": c.created_by.get_username() if c.created_by else "",
            "at": c.created_at.isoformat(),
        }
        for c in active_corrections(package)
    ]
    built_at = timezone.now()
    # Items deleted since the analysis ran are no longer evidence.
    evidence = visible_evidence(Reader.operator(), evidence_ids(analysis))
    rendered = render_package(
        colleague=package.colleague,
        number=number,
        built_at=built_at,
        generator=generator_of(analysis),
        analysis=visible_analysis(analysis, frozenset(evidence)),
        corrections=corrections,
        evidence=evidence,
    )
    version = SkillVersion(
        package=package,
        number=number,
        built_at=built_at,
        reason=reason,
        restored_from=restored_from,
        built_by=login_user(user),
        generator=generator_of(analysis),
        analysis=analysis,
        corrections=corrections,
        files=rendered.files,
        items=items,
        seconds=round(time.perf_counter() - started, 3) if started is not None else 0.0,
    )
    version.save()
    updates: dict[str, Any] = {"status": SkillPackage.Status.FRESH, "build_error": ""}
    if through is not None:
        updates["built_through_item_id"] = through
    SkillPackage.objects.filter(pk=package.pk).update(updated_at=timezone.now(), **updates)
    _prune_versions(package)
    return version


def _prune_versions(package: SkillPackage) -> None:
    keep = max(1, settings.COLLEAGUE_SKILL_KEEP_VERSIONS)
    old = package.versions.order_by("-number").values_list("pk", flat=True)[keep:]
    SkillVersion.objects.filter(pk__in=list(old)).delete()

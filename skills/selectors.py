"""Reads of skill packages, always as a given reader sees them.

A version is stored as built with full access. What a reader is shown is rendered afresh from
the version's analysis with only the evidence that reader may see: a statement none of whose
evidence is visible to them is left out, and so is every excerpt of an item they may not see.
"""

from __future__ import annotations

import difflib
import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db.models import Max, QuerySet

from colleagues.models import Colleague
from knowledge.selectors import visible_items_among
from knowledge.visibility import Reader
from skills.analysis.style import EmptyText, StyleMatcher, StyleProfile
from skills.citations import Evidence
from skills.models import Correction, SkillPackage, SkillVersion
from skills.render import PackageFiles, render_package

logger = logging.getLogger(__name__)

EXCERPT_CHARS = 280
_SPACE = re.compile(r"\s+")


def package_of(colleague: Colleague) -> SkillPackage | None:
    return SkillPackage.objects.filter(colleague=colleague).first()


def versions_of(colleague: Colleague) -> QuerySet[SkillVersion]:
    """The colleague's package versions, newest first (without their heavy JSON)."""
    return (
        SkillVersion.objects.filter(package__colleague=colleague)
        .defer("analysis", "files")
        .select_related("built_by")
        .order_by("-number")
    )


def version_of(colleague: Colleague, number: int | None = None) -> SkillVersion | None:
    """Version `number` of the colleague's package, or its newest when `number` is None."""
    versions = SkillVersion.objects.filter(package__colleague=colleague).select_related(
        "package__colleague"
    )
    if number is None:
        return versions.order_by("-number").first()
    return versions.filter(number=number).first()


def active_corrections(package: SkillPackage) -> QuerySet[Correction]:
    return package.corrections.filter(withdrawn_at__isnull=True).select_related("created_by")


def evidence_ids(analysis: dict[str, Any]) -> set[int]:
    """Every item id the analysis cites, wherever it sits in the tree."""
    found: set[int] = set()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "evidence" and isinstance(value, list):
                    found.update(v for v in value if isinstance(v, int))
                elif key == "item_id" and isinstance(value, int):
                    found.add(value)
                else:
                    walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(analysis)
    return found


_DROPPED = object()
EVIDENCE_KEYS = ("evidence", "examples")
# Figures over everything a person wrote, whose examples only illustrate them: shown without
# the examples a reader may not see, rather than left out.
AGGREGATE_KEYS = frozenset({"capitalisation", "languages", "emoji"})
# Statements quoting several items (a question and its answer): shown only when the reader
# may see all of them.
QUOTING_KEYS = frozenset({"faq"})
# Never shown to readers: what style matching needs, hashed from every message.
HIDDEN_KEYS = frozenset({"fingerprint"})


def visible_analysis(analysis: Any, visible: set[int] | frozenset[int]) -> Any:
    """`analysis` with every statement none of whose evidence is in `visible` left out.

    A statement is a dict with a non-empty "evidence" list of item ids or "examples" list of
    {"item_id", ...}: its lists keep only visible entries, and it is dropped (from the list or
    dict that holds it) when none is left. Any other dict with an "item_id" not visible is
    dropped. The figures under AGGREGATE_KEYS stay, with their visible examples only; the
    statements under QUOTING_KEYS need all their evidence visible; what is under HIDDEN_KEYS is
    left out.
    """
    result = _visible(analysis, visible, aggregate=False, quoting=False)
    return {} if result is _DROPPED else result


def _visible(
    node: Any, visible: set[int] | frozenset[int], *, aggregate: bool, quoting: bool
) -> Any:
    if isinstance(node, list):
        kept = [_visible(value, visible, aggregate=False, quoting=quoting) for value in node]
        return [value for value in kept if value is not _DROPPED]
    if not isinstance(node, dict):
        return node
    item_id = node.get("item_id")
    if isinstance(item_id, int) and item_id not in visible:
        return _DROPPED
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key in HIDDEN_KEYS:
            continue
        if key in EVIDENCE_KEYS and isinstance(value, list) and value:
            kept = [
                v
                for v in _visible(value, visible, aggregate=False, quoting=False)
                if not isinstance(v, int) or v in visible
            ]
            if (not kept and not aggregate) or (quoting and len(kept) < len(value)):
                return _DROPPED
            out[key] = kept
            continue
        child = _visible(
            value, visible, aggregate=key in AGGREGATE_KEYS, quoting=key in QUOTING_KEYS
        )
        if child is not _DROPPED:
            out[key] = child
    return out


def visible_evidence(reader: Reader, item_ids: Iterable[int]) -> dict[int, Evidence]:
    """The cited items `reader` may see, as excerpts with their source and a link."""
    evidence: dict[int, Evidence] = {}
    base = settings.COLLEAGUE_BASE_URL.rstrip("/")
    rows = (
        visible_items_among(reader, item_ids)
        .order_by()
        .values_list("pk", "title", "body", "url", "created_at", "source__name", "kind")
    )
    for pk, title, body, url, created_at, source, kind in rows:
        text = _SPACE.sub(" ", body).strip()
        if len(text) > EXCERPT_CHARS:
            text = text[: EXCERPT_CHARS - 1].rstrip() + "…"
        evidence[pk] = Evidence(
            item_id=pk,
            title=title,
            excerpt=text,
            source=source,
            kind=kind,
            created_at=created_at,
            url=url or f"{base}/knowledge/items/{pk}/",
        )
    return evidence


def visible_item_ids(reader: Reader, item_ids: Iterable[int]) -> frozenset[int]:
    """The ids among `item_ids` of items `reader` may see: the keys `visible_evidence` would
    give, without reading the items (one query, whatever packages cite them)."""
    return frozenset(visible_items_among(reader, item_ids).order_by().values_list("pk", flat=True))


@dataclass(frozen=True)
class PackageView:
    """A version as one reader may see it: its files, and the analysis they were rendered from
    with every statement the reader may not see the evidence of left out."""

    version: SkillVersion
    files: PackageFiles
    analysis: dict[str, Any]
    evidence: dict[int, Evidence]

    @property
    def work(self) -> dict[str, Any]:
        return self.analysis.get("work", {})

    @property
    def style(self) -> dict[str, Any]:
        return self.analysis.get("style", {})


def package_view(reader: Reader, version: SkillVersion) -> PackageView:
    """`version` rendered for `reader`."""
    evidence = visible_evidence(reader, evidence_ids(version.analysis))
    analysis = visible_analysis(version.analysis, frozenset(evidence))
    files = render_package(
        colleague=version.package.colleague,
        number=version.number,
        built_at=version.built_at,
        generator=version.generator,
        analysis=analysis,
        corrections=version.corrections,
        evidence=evidence,
    )
    return PackageView(version=version, files=files, analysis=analysis, evidence=evidence)


@dataclass(frozen=True)
class FileDiff:
    path: str
    lines: tuple[str, ...]  # unified diff lines, without trailing newlines

    @property
    def changed(self) -> bool:
        return bool(self.lines)


def diff_versions(reader: Reader, old: SkillVersion, new: SkillVersion) -> list[FileDiff]:
    """What changed from `old` to `new`, per file, as `reader` sees both."""
    before = package_view(reader, old).files.files
    after = package_view(reader, new).files.files
    return [
        FileDiff(
            path,
            tuple(
                difflib.unified_diff(
                    before.get(path, "").splitlines(),
                    after.get(path, "").splitlines(),
                    fromfile=f"v{old.number}/{path}",
                    tofile=f"v{new.number}/{path}",
                    lineterm="",
                )
            ),
        )
        for path in sorted(set(before) | set(after))
    ]


@dataclass(frozen=True)
class ColleagueMatcher:
    """Style matching over the newest package of every colleague who has one."""

    matcher: StyleMatcher
    people: dict[str, dict[str, str]]  # slug -> {"email", "name", "slug"}

    def ranked(self, text: str, *, limit: int | None) -> list[dict[str, Any]]:
        """Colleagues best first: {"colleague": {"email", "name", "slug"}, "score"}; nobody
        for a text with nothing to match (blank, or only control characters)."""
        try:
            matches = self.matcher.rank(text, limit=limit or len(self.people))
        except EmptyText:
            return []
        return [
            {"colleague": self.people[m.key], "score": round(float(m.score), 4)} for m in matches
        ]


_matcher_cache: dict[tuple[int, ...], ColleagueMatcher] = {}


def style_matcher() -> ColleagueMatcher | None:
    """The matcher over every colleague's newest package, or None when none is built.

    Cached per process until a version is added or removed.
    """
    newest = (
        SkillVersion.objects.order_by()
        .values("package_id")
        .annotate(top=Max("id"))
        .values_list("top", flat=True)
    )
    ids = sorted(newest)
    if not ids:
        return None
    key = tuple(ids)
    if key in _matcher_cache:
        return _matcher_cache[key]
    profiles: dict[str, StyleProfile] = {}
    people: dict[str, dict[str, str]] = {}
    rows = SkillVersion.objects.filter(pk__in=ids).values_list(
        "package__colleague__slug",
        "package__colleague__email",
        "package__colleague__name",
        "analysis",
    )
    for slug, email, name, analysis in rows:
        style = analysis.get("style") if isinstance(analysis, dict) else None
        if not style:
            continue
        try:
            profiles[slug] = StyleProfile.from_dict(style)
        except ValueError as exc:
            # Stored by another version of the analyser: matched again after a rebuild.
            logger.warning("Style profile of %s left out of matching: %s", slug, exc)
            continue
        people[slug] = {"email": email, "name": name, "slug": slug}
    if not profiles:
        return None
    built = ColleagueMatcher(StyleMatcher.from_profiles(profiles), people)
    _matcher_cache.clear()
    _matcher_cache[key] = built
    return built

"""The handover map, the bus-factor view and exit-interview questions (issue 9, items 3 and 6).

All three read the newest version of skill packages: the systems and expertise areas the
analysis found (name, how many of the person's items show it, how often colleagues asked them
about it). They show names and counts, never item text, and are for HR (who may view every
package) and, for one case, its reviewers.

- **Handover map**: each area or system the person owned, and who takes it over (Successor).
- **Bus factor**: areas and systems exactly one person writes about, those of people leaving
  first (an open offboarding case, or departed).
- **Exit-interview questions**: what colleagues asked the person about that their own writing
  covers thinly (few items), then their busiest areas with little written down.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.db.models import Max

from colleagues.models import Colleague
from knowledge import audit
from knowledge.audit import Actor
from offboarding.models import OffboardingCase, Successor
from skills.models import SkillVersion

# Fewer of their own items than this, on something they were asked about, is a gap.
THIN = 3


@dataclass(frozen=True)
class Area:
    """A system or expertise area of one person's package."""

    name: str
    kind: str  # "system" or "area"
    items: int  # how many of their items show it
    asked: int  # how often colleagues asked them about it

    @property
    def key(self) -> str:
        return " ".join(self.name.lower().split())


def _newest_work(colleague_ids: list[int] | None = None) -> dict[int, dict[str, Any]]:
    """colleague id -> the `work` part of their package's newest version."""
    versions = SkillVersion.objects.order_by()
    if colleague_ids is not None:
        versions = versions.filter(package__colleague_id__in=colleague_ids)
    newest = versions.values("package_id").annotate(top=Max("id")).values_list("top", flat=True)
    rows = SkillVersion.objects.filter(pk__in=list(newest)).values_list(
        "package__colleague_id", "analysis"
    )
    return {
        colleague_id: analysis.get("work", {}) if isinstance(analysis, dict) else {}
        for colleague_id, analysis in rows
    }


def _areas(work: dict[str, Any]) -> list[Area]:
    found: dict[str, Area] = {}
    for system in work.get("systems", []) or []:
        area = Area(
            str(system.get("name", "")),
            "system",
            int(system.get("count", 0) or len(system.get("evidence", []))),
            int(system.get("asked", 0)),
        )
        if area.name:
            found.setdefault(area.key, area)
    for expertise in work.get("expertise", []) or []:
        area = Area(
            str(expertise.get("label", "")),
            "area",
            len(expertise.get("evidence", [])),
            int(expertise.get("asked", 0)),
        )
        if area.name:
            found.setdefault(area.key, area)
    return list(found.values())


def areas_of(colleague: Colleague) -> list[Area]:
    """Their package's systems and areas, most written about first."""
    work = _newest_work([colleague.pk]).get(colleague.pk, {})
    return sorted(_areas(work), key=lambda a: (-a.items, a.key))


# The handover map.


@dataclass(frozen=True)
class Handover:
    area: str
    kind: str
    items: int
    asked: int
    successor: Colleague | None
    note: str


def handover_map(case: OffboardingCase) -> list[Handover]:
    """Each area or system of the person's package with its successor (named or not), then
    areas named for the handover that the package does not list."""
    named = {s.area.lower(): s for s in case.successors.select_related("successor")}
    rows: list[Handover] = []
    if case.colleague is not None:
        for area in areas_of(case.colleague):
            chosen = named.pop(area.key, None)
            rows.append(
                Handover(
                    area.name,
                    area.kind,
                    area.items,
                    area.asked,
                    chosen.successor if chosen else None,
                    chosen.note if chosen else "",
                )
            )
    rows += [Handover(s.area, "named", 0, 0, s.successor, s.note) for s in named.values()]
    return rows


def set_successor(
    case: OffboardingCase,
    *,
    area: str,
    successor: Colleague | None,
    actor: Actor,
    note: str = "",
) -> Successor:
    """Name who takes over `area` (None: nobody yet); audited."""
    area = " ".join(area.split())[:200]
    if not area:
        raise ValueError("Name the area or system.")
    with transaction.atomic():
        row, _ = Successor.objects.update_or_create(
            case=case,
            area=area.lower(),
            defaults={"successor": successor, "note": note.strip()[:1000]},
        )
        audit.record(
            "offboarding_successor",
            f"offboarding:{case.pk}",
            actor=actor,
            area_sha256=_sha(area.lower()),
            successor=successor.pk if successor else None,
        )
    return row


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


# The bus factor.


@dataclass(frozen=True)
class SoleTopic:
    """An area or system only one person writes about."""

    name: str
    kind: str
    holder: Colleague
    items: int
    asked: int
    leaving: bool  # the holder has an open offboarding case or has left


def bus_factor(*, limit: int = 100) -> list[SoleTopic]:
    """Areas and systems exactly one person's package names, those of people leaving first,
    then the most written about."""
    holders: dict[str, set[int]] = defaultdict(set)
    best: dict[str, tuple[int, Area]] = {}
    for colleague_id, work in _newest_work().items():
        for area in _areas(work):
            holders[area.key].add(colleague_id)
            best[area.key] = (colleague_id, area)
    sole = {key: best[key] for key, who in holders.items() if len(who) == 1}
    people = Colleague.objects.in_bulk({colleague_id for colleague_id, _ in sole.values()})
    open_cases = set(
        OffboardingCase.objects.exclude(state__in=["archived", "erased"]).values_list(
            "colleague_id", flat=True
        )
    )
    found = [
        SoleTopic(
            area.name,
            area.kind,
            people[colleague_id],
            area.items,
            area.asked,
            colleague_id in open_cases or people[colleague_id].is_departed,
        )
        for colleague_id, area in sole.values()
        if colleague_id in people
    ]
    found.sort(key=lambda t: (not t.leaving, -t.items, -t.asked, t.name.lower()))
    return found[:limit]


# Exit-interview questions.


def exit_interview_questions(colleague: Colleague, *, limit: int = 8) -> list[str]:
    """Questions for the exit interview, from the gaps in their package: what colleagues asked
    them about that their writing covers thinly, then busy areas with few items. Empty when
    their package is not built."""
    areas = areas_of(colleague)
    asked_thin = sorted(
        (a for a in areas if a.asked and a.items < THIN), key=lambda a: (-a.asked, a.key)
    )
    questions = [
        f"Colleagues asked you about {a.name} {a.asked} time{'s' if a.asked != 1 else ''}, "
        f"but only {a.items} of your messages or documents explain it. How does it work, what "
        "breaks, and who should they ask now?"
        for a in asked_thin
    ]
    asked_names = {a.key for a in asked_thin}
    for area in sorted(areas, key=lambda a: (-a.asked, a.items, a.key)):
        if len(questions) >= limit:
            break
        if area.key in asked_names or area.items >= THIN * 3:
            continue
        questions.append(
            f"{area.name} shows in {area.items} of your items. What is not written down about "
            "it that your successor will need?"
        )
    return questions[:limit]

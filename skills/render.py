"""Render a skill package's files (docs/ARCHITECTURE.md, "The skill package format").

Guarantees of `render_package`: every statement in work.md and persona.md cites at least one
item in `evidence`, and only items in `evidence` are cited or quoted; a statement none of whose
evidence is given is left out. `evidence` is what the reader may see, so the files never show
more than that. Corrections come from people, not items: they are rendered as they were made.
The output is deterministic for the same input.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from colleagues.models import Colleague
from skills import sections
from skills.citations import EVIDENCE_FILE, Citations, Evidence

GENERATOR = "colleague-skill offline analyser 1"


def generator_of(analysis: Mapping[str, Any]) -> str:
    """What wrote a version: the offline analyser, plus the model of its narrative if any."""
    narrative = analysis.get("narrative")
    if isinstance(narrative, Mapping) and narrative.get("model"):
        return f"{GENERATOR} + narrative by {narrative['model']}"
    return GENERATOR


@dataclass(frozen=True)
class PackageFiles:
    """A rendered package: its AgentSkills name (also its folder name) and its files."""

    name: str
    files: dict[str, str]
    cited: tuple[int, ...]


def skill_name(colleague: Colleague) -> str:
    """The AgentSkills name: 1-64 of a-z, 0-9 and single hyphens, no hyphen at either end."""
    name = re.sub(r"[^a-z0-9]+", "-", colleague.slug.lower()).strip("-")[:64].strip("-")
    return name or f"colleague-{colleague.pk}"


def render_package(
    *,
    colleague: Colleague,
    number: int,
    built_at: datetime,
    generator: str,
    analysis: Mapping[str, Any],
    corrections: Sequence[Mapping[str, Any]],
    evidence: Mapping[int, Evidence],
) -> PackageFiles:
    """Render SKILL.md, work.md, persona.md, meta.json and references/ for one reader."""
    name = skill_name(colleague)
    cite = Citations(evidence)
    work = analysis.get("work", {})
    style = analysis.get("style", {})
    work_md = sections.work_markdown(
        colleague, work, analysis.get("narrative", {}), corrections, cite
    )
    persona_md = sections.persona_markdown(colleague, work, style, corrections, cite)
    narrative = analysis.get("narrative", {})
    summary = sections.summary(colleague, work, narrative, cite)
    files = {
        "SKILL.md": _skill_md(colleague, name, summary, generator),
        "work.md": work_md,
        "persona.md": persona_md,
        "meta.json": _meta_json(colleague, number, built_at, generator, work, corrections, cite),
        EVIDENCE_FILE: _evidence_md(colleague, [evidence[i] for i in sorted(cite.cited)]),
    }
    return PackageFiles(name=name, files=files, cited=tuple(sorted(cite.cited)))


def _skill_md(colleague: Colleague, name: str, summary: sections.Summary, generator: str) -> str:
    first = colleague.name.split()[0] if colleague.name else "them"
    role = ", ".join(p for p in (colleague.title, colleague.department) if p)
    left = f"; left on {colleague.departed_on.isoformat()}" if colleague.departed_on else ""
    topics = ", ".join(summary.topics[:6])
    description = (
        f"Know-how and working style of {colleague.name}"
        f"{f' ({role}{left})' if role or left else ''}"
        f"{f', on {topics}' if topics else ''}, distilled from what they wrote, with evidence. "
        f"Use when a question touches their systems or topics, to find how {first} did or "
        f"decided something, or to write in {first}'s voice."
    )
    description = frontmatter_text(description, 1024)
    lines = [
        "---",
        f"name: {name}",
        f"description: {json.dumps(description, ensure_ascii=False)}",
        "metadata:",
        f"  colleague: {json.dumps(colleague.name, ensure_ascii=False)}",
        f"  generator: {json.dumps(generator)}",
        "---",
        "",
        f"# {colleague.name}",
        "",
        f"{colleague.name}{f' — {role}' if role else ''}"
        f"{f'. Left on {colleague.departed_on.isoformat()}' if colleague.departed_on else ''}.",
        "",
    ]
    if summary.lines:
        lines += ["## In short", "", *summary.lines, ""]
    lines += [
        "## How to use this skill",
        "",
        f"- **Facts, systems, procedures, answers**: read [work.md](work.md). It says what "
        f"{first} owned, knew and how they worked, each statement with links to the "
        f"excerpts in [{EVIDENCE_FILE}]({EVIDENCE_FILE}) it came from.",
        f"- **Writing or answering as {first}**: read [persona.md](persona.md) and follow its "
        "layers in order. Its *Corrections* come from people who knew them and win over "
        "everything but the hard rules.",
        "- Answer from the evidence. When it does not cover a question, say so and name who "
        "took over or whom to ask (work.md, *Collaborators*); never invent facts, numbers or "
        "commitments in their name.",
        "",
    ]
    return "\n".join(lines)


def frontmatter_text(text: str, limit: int) -> str:
    text = re.sub(r"\s+", " ", text).strip()
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _meta_json(
    colleague: Colleague,
    number: int,
    built_at: datetime,
    generator: str,
    work: Mapping[str, Any],
    corrections: Sequence[Mapping[str, Any]],
    cite: Citations,
) -> str:
    meta = {
        "colleague": {
            "name": colleague.name,
            "email": colleague.email,
            "slug": colleague.slug,
            "title": colleague.title,
            "department": colleague.department,
            "status": colleague.status,
            "departed_on": _iso(colleague.departed_on),
        },
        "version": number,
        "built_at": built_at.isoformat(),
        "generator": generator,
        "sources": [
            {
                "source": e.source,
                "kind": e.kind,
                "cited_items": n,
            }
            for (e, n) in _sources_cited(cite)
        ],
        "cited_items": len(cite.cited),
        "date_range": _date_range(cite),
        "corrections": len(corrections),
    }
    return json.dumps(meta, indent=2, ensure_ascii=False) + "\n"


def _sources_cited(cite: Citations) -> list[tuple[Evidence, int]]:
    first: dict[tuple[str, str], Evidence] = {}
    counts: dict[tuple[str, str], int] = {}
    for item_id in sorted(cite.cited):
        e = cite.evidence[item_id]
        key = (e.source, e.kind)
        first.setdefault(key, e)
        counts[key] = counts.get(key, 0) + 1
    return [(first[key], counts[key]) for key in sorted(first)]


def _date_range(cite: Citations) -> dict[str, str | None]:
    dates = sorted(cite.evidence[i].created_at for i in cite.cited)
    return {
        "first": dates[0].date().isoformat() if dates else None,
        "last": dates[-1].date().isoformat() if dates else None,
    }


def _iso(value: date | None) -> str | None:
    return value.isoformat() if value else None


def _evidence_md(colleague: Colleague, cited: Sequence[Evidence]) -> str:
    lines = [
        f"# Evidence: {colleague.name}",
        "",
        "The excerpts work.md and persona.md cite, each with its item id and a link to the "
        "item at its source.",
        "",
    ]
    for e in cited:
        heading = e.title or f"{e.kind} of {e.created_at:%d %b %Y}"
        lines += [
            f'<a id="item-{e.item_id}"></a>',
            f"## #{e.item_id} · {_one_line(heading)}",
            "",
            f"{e.source} · {e.created_at:%Y-%m-%d %H:%M} UTC · <{e.url}>",
            "",
            *(f"> {line}" if line else ">" for line in e.excerpt.splitlines() or [""]),
            "",
        ]
    if not cited:
        lines.append("Nothing cited is visible to you.")
    return "\n".join(lines).rstrip() + "\n"


def _one_line(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()

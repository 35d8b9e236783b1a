"""The Markdown of work.md, persona.md and SKILL.md's summary, from a (visible) analysis.

Input is the analysis as a reader may see it (`skills.selectors.visible_analysis`); every
statement is written only when `cite` finds at least one of its items visible, so a statement
whose evidence went missing is left out here too. Corrections are applied first: a statement
or habit containing a correction's "wrong" text is left out, and the corrections are listed
with who made them and when.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from colleagues.models import Colleague
from knowledge.text import has_cjk
from skills.citations import EVIDENCE_FILE, Citations

Node = Mapping[str, Any]
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
LANGUAGES = {
    "en": "English",
    "de": "German",
    "fr": "French",
    "es": "Spanish",
    "nl": "Dutch",
    "zh": "Chinese",
    "ja": "Japanese",
    "ko": "Korean",
}
PUNCTUATION = {
    "!": "exclamation marks",
    "?": "questions",
    "…": "ellipses",
    ";": "semicolons",
    ":": "colons",
    "—": "dashes",
}


@dataclass(frozen=True)
class Summary:
    """What SKILL.md says up front: the main topics, and a few cited lines."""

    topics: list[str]
    lines: list[str]


def _first_name(colleague: Colleague) -> str:
    return colleague.name.split()[0] if colleague.name.strip() else "they"


def _quote(text: Any, limit: int = 240) -> str:
    text = re.sub(r"\s+", " ", str(text)).strip()
    if len(text) > limit:
        text = text[: limit - 1].rstrip() + "…"
    return text.replace("`", "'")


def _pct(share: Any) -> str:
    return f"{100 * float(share or 0):.0f}%"


def _list(node: Node, key: str) -> list[Node]:
    value = node.get(key, [])
    return [v for v in value if isinstance(v, Mapping)] if isinstance(value, list) else []


class _Corrected:
    """Which statements corrections withdraw: those containing a correction's wrong text."""

    def __init__(self, corrections: Sequence[Mapping[str, Any]], kind: str) -> None:
        self.wrong = [
            str(c.get("wrong", "")).strip().lower()
            for c in corrections
            if c.get("kind") == kind and str(c.get("wrong", "")).strip()
        ]

    def withdrawn(self, *texts: Any) -> bool:
        lowered = [str(t).lower() for t in texts if t]
        return any(w in t or t in w for w in self.wrong for t in lowered if len(t) > 2)


def _narrative(narrative: Node, cite: Citations) -> list[str]:
    """The LLM-written overview's lines the reader may see the evidence of, labelled."""
    lines = []
    for line in _list(narrative, "summary"):
        links = cite(line.get("evidence", []))
        if links:
            lines.append(f"- {_quote(line.get('text', ''), 400)}{links}")
    if lines:
        lines.append(
            f"\n*Written by {narrative.get('model', 'an LLM')} from the evidence cited; "
            "every line links to it.*"
        )
    return lines


def summary(colleague: Colleague, work: Node, narrative: Node, cite: Citations) -> Summary:
    systems = [s for s in _list(work, "systems") if cite.visible(s.get("evidence", []))]
    areas = [a for a in _list(work, "expertise") if cite.visible(a.get("evidence", []))]
    topics = [str(a.get("label", "")) for a in areas[:4]] + [str(s["name"]) for s in systems[:4]]
    written = _narrative(narrative, cite)
    if written:
        return Summary(topics=[t for t in dict.fromkeys(topics) if t], lines=written)
    lines = []
    if systems:
        names = ", ".join(f"**{s['name']}**" for s in systems[:5])
        lines.append(
            f"- Go-to for {names}.{cite(e for s in systems[:5] for e in s['evidence'][:1])}"
        )
    if areas:
        labels = ", ".join(str(a.get("label", "")) for a in areas[:5])
        lines.append(f"- Knows: {labels}.{cite(e for a in areas[:5] for e in a['evidence'][:1])}")
    faq = _list(work, "faq")
    if faq:
        lines.append(
            f"- Answered {sum(int(f.get('asked', 1)) for f in faq)} questions from colleagues "
            f"(work.md, *FAQ*).{cite(e for f in faq[:3] for e in f['evidence'][:1])}"
        )
    return Summary(topics=[t for t in dict.fromkeys(topics) if t], lines=lines)


def work_markdown(
    colleague: Colleague,
    work: Node,
    narrative: Node,
    corrections: Sequence[Mapping[str, Any]],
    cite: Citations,
) -> str:
    first = _first_name(colleague)
    corrected = _Corrected(corrections, "work")
    counts = work.get("counts", {}) if isinstance(work.get("counts"), Mapping) else {}
    out = [f"# {colleague.name} — work", ""]
    span = ""
    if counts.get("first") and counts.get("last"):
        span = f", {counts['first']} to {counts['last']}"
    out += [
        f"What {first} owned, knew and how they worked, from {counts.get('items', 0)} items "
        f"they wrote{span}. Each statement links to the excerpts in [{EVIDENCE_FILE}]"
        f"({EVIDENCE_FILE}) it came from; *Corrections* at the end come from people and win.",
        "",
    ]

    def section(title: str, rows: Iterable[str]) -> None:
        lines = [row for row in rows if row]
        if lines:
            out.extend([f"## {title}", "", *lines, ""])

    section("Overview", _narrative(narrative, cite))
    section("Scope and systems owned", _systems(work, cite, corrected))
    section("Expertise", _expertise(work, cite, corrected))
    section("Workflows", _procedures(work, cite, corrected))
    section("Standards", _practices(_list(work, "standards"), cite, corrected))
    section("Review habits", _practices(_list(work, "review_habits"), cite, corrected))
    section(f"FAQ — questions {first} answered", _faq(work, cite, corrected))
    section("Key documents", _documents(work, cite, corrected))
    section("Where they worked", _channels(work, cite))
    section("Collaborators", _collaborators(work, cite))
    section("Corrections", _corrections(corrections, "work"))
    if len(out) <= 4:
        out += ["Nothing they wrote that you may see says what they worked on.", ""]
    return "\n".join(out).rstrip() + "\n"


def _systems(work: Node, cite: Citations, corrected: _Corrected) -> Iterable[str]:
    for system in _list(work, "systems")[:15]:
        if corrected.withdrawn(system.get("name")):
            continue
        links = cite(system.get("evidence", []))
        if not links:
            continue
        asked = int(system.get("asked", 0))
        asked_text = f"; colleagues asked them about it {asked} times" if asked else ""
        yield (
            f"- **{system['name']}** — in {system.get('count', 0)} of their items{asked_text}."
            f"{links}"
        )


def _expertise(work: Node, cite: Citations, corrected: _Corrected) -> Iterable[str]:
    for area in _list(work, "expertise")[:10]:
        terms = [
            str(t["term"])
            for t in _list(area, "terms")
            if cite.visible(t.get("evidence", [])) and not corrected.withdrawn(t.get("term"))
        ]
        if corrected.withdrawn(area.get("label")):
            continue
        links = cite(area.get("evidence", []))
        if not links:
            continue
        also = f" — {', '.join(terms[:8])}" if terms else ""
        yield f"- **{area.get('label', '')}**{also} ({area.get('count', 0)} items).{links}"


def _procedures(work: Node, cite: Citations, corrected: _Corrected) -> Iterable[str]:
    for procedure in _list(work, "procedures")[:8]:
        if corrected.withdrawn(procedure.get("title")):
            continue
        links = cite(procedure.get("evidence", []))
        if not links:
            continue
        steps = [s for s in procedure.get("steps", []) if isinstance(s, str)]
        lines = [f"**{_quote(procedure.get('title', ''), 160)}**{links}", ""]
        lines += [f"{n}. {_quote(step, 300)}" for n, step in enumerate(steps[:12], start=1)]
        if procedure.get("note"):
            lines += ["", f"*{_quote(procedure['note'], 300)}*"]
        yield "\n".join(lines) + "\n"


def _practices(practices: list[Node], cite: Citations, corrected: _Corrected) -> Iterable[str]:
    for practice in practices[:10]:
        if corrected.withdrawn(practice.get("text")):
            continue
        links = cite(practice.get("evidence", []))
        if links:
            yield f"- “{_quote(practice.get('text', ''), 300)}”{links}"


def _faq(work: Node, cite: Citations, corrected: _Corrected) -> Iterable[str]:
    for entry in _list(work, "faq")[:15]:
        if corrected.withdrawn(entry.get("question"), entry.get("answer")):
            continue
        links = cite(entry.get("evidence", []))
        if not links:
            continue
        asker = entry.get("asker") if isinstance(entry.get("asker"), Mapping) else None
        who = f" — asked by {asker.get('name') or asker.get('email')}" if asker else ""
        times = int(entry.get("asked", 1))
        more = f" ({times} times)" if times > 1 else ""
        yield (
            f"**Q: {_quote(entry.get('question', ''), 300)}**{who}{more}\n\n"
            f"> {_quote(entry.get('answer', ''), 600)}\n\n{links.strip()}\n"
        )


def _documents(work: Node, cite: Citations, corrected: _Corrected) -> Iterable[str]:
    for document in _list(work, "documents")[:15]:
        if corrected.withdrawn(document.get("title")):
            continue
        links = cite([document.get("item_id"), *document.get("evidence", [])])
        if links:
            date = f" ({document['created_at']})" if document.get("created_at") else ""
            yield f"- {_quote(document.get('title', '') or 'untitled', 200)}{date}.{links}"


def _channels(work: Node, cite: Citations) -> Iterable[str]:
    for channel in _list(work, "channels")[:8]:
        links = cite(channel.get("evidence", []))
        if links:
            yield f"- {channel.get('name', '')} — {channel.get('items', 0)} items.{links}"


def _collaborators(work: Node, cite: Citations) -> Iterable[str]:
    for collaborator in _list(work, "collaborators")[:10]:
        links = cite(collaborator.get("evidence", []))
        if not links:
            continue
        person = collaborator.get("person", {})
        name = person.get("name") or person.get("email") or "someone"
        facts = []
        if collaborator.get("asked"):
            facts.append(f"asked them {collaborator['asked']} times")
        if collaborator.get("answered"):
            facts.append(f"they answered {collaborator['answered']} times")
        if collaborator.get("threads"):
            facts.append(f"{collaborator['threads']} shared threads")
        if collaborator.get("mails"):
            facts.append(f"{collaborator['mails']} mails")
        topics = [str(t) for t in collaborator.get("topics", [])][:4]
        about = f"; about {', '.join(topics)}" if topics else ""
        yield f"- **{name}** — {', '.join(facts) or 'worked together'}{about}.{links}"


def _corrections(corrections: Sequence[Mapping[str, Any]], kind: str) -> Iterable[str]:
    for c in corrections:
        if c.get("kind") != kind:
            continue
        wrong, right = str(c.get("wrong", "")).strip(), str(c.get("right", "")).strip()
        by = f" — {c.get('by') or 'an operator'}, {str(c.get('at', ''))[:10]}"
        if kind == "style":
            parts = []
            if wrong:
                parts.append(f"They would never say “{_quote(wrong, 400)}”.")
            if right:
                parts.append(f"They'd say “{_quote(right, 400)}”.")
        else:
            parts = []
            if wrong:
                parts.append(f"Not so: “{_quote(wrong, 400)}”.")
            if right:
                parts.append(f"Instead: “{_quote(right, 400)}”.")
        yield f"- {' '.join(parts)}{by}"


def persona_markdown(
    colleague: Colleague,
    work: Node,
    style: Node,
    corrections: Sequence[Mapping[str, Any]],
    cite: Citations,
) -> str:
    first = _first_name(colleague)
    out = [
        f"# {colleague.name} — persona",
        "",
        "How to write and answer as them. Layers apply in order; layer 5, *Corrections*, comes "
        "from people who knew them and overrides layers 1–4. Only the hard rules rank above it.",
        "",
        "## Layer 0 — Hard rules",
        "",
        f"- Speak from the evidence in work.md and {EVIDENCE_FILE} only. When it does not cover "
        "a question, say so plainly and point to whom to ask.",
        f"- Never invent facts, numbers, dates, commitments or opinions in {first}'s name, and "
        f"never claim to be {first}: you write in their style, as a stand-in.",
        "- Corrections (layer 5) win over everything below this layer.",
        "",
    ]

    def layer(title: str, rows: Iterable[str], empty: str = "Not enough material to say.") -> None:
        lines = [row for row in rows if row]
        out.extend([f"## {title}", "", *(lines or [empty]), ""])

    layer("Layer 1 — Identity", _identity(colleague, style))
    layer("Layer 2 — Expression style", _expression(style, work, corrections, cite))
    layer("Layer 3 — Decisions and principles", _decisions(work, cite))
    layer("Layer 4 — Interpersonal", _interpersonal(style, work, cite))
    layer(
        "Layer 5 — Corrections (highest priority after the hard rules)",
        _corrections(corrections, "style"),
        empty="None yet.",
    )
    return "\n".join(out).rstrip() + "\n"


def _identity(colleague: Colleague, style: Node) -> Iterable[str]:
    role = ", ".join(p for p in (colleague.title, colleague.department) if p)
    yield f"- {colleague.name}{f', {role}' if role else ''}."
    if colleague.manager_id and colleague.manager:
        verb = "Reported" if colleague.is_departed else "Reports"
        yield f"- {verb} to {colleague.manager.name}."
    if colleague.departed_on:
        yield f"- Left on {colleague.departed_on.isoformat()}."
    languages = style.get("languages", {})
    if isinstance(languages, Mapping) and languages.get("primary"):
        primary = LANGUAGES.get(str(languages["primary"]), str(languages["primary"]))
        others = [
            f"{LANGUAGES.get(str(s.get('name')), s.get('name'))} ({_pct(s.get('share'))})"
            for s in _list(languages, "languages")
            if s.get("name") != languages["primary"] and float(s.get("share", 0)) >= 0.02
        ]
        also = f"; also {', '.join(others)}" if others else ""
        yield f"- Writes mostly in {primary}{also}."
    activity = style.get("activity", {})
    if isinstance(activity, Mapping):
        hours = list(activity.get("hours", []))
        days = list(activity.get("weekdays", []))
        if sum(hours):
            peak = sorted(range(len(hours)), key=lambda h: (-hours[h], h))[:3]
            yield (
                "- Most active around "
                + ", ".join(f"{h:02d}:00" for h in sorted(peak))
                + " UTC"
                + (
                    f", busiest on {WEEKDAYS[max(range(7), key=lambda d: days[d])]}s"
                    if len(days) == 7 and sum(days)
                    else ""
                )
                + "."
            )


def pet_phrases(style: Node, work: Node, corrections: Sequence[Mapping[str, Any]]) -> list[Node]:
    """The style profile's pet phrases that are habits of speech rather than topics: those
    naming one of their systems or expertise terms are left out, and so are the corrected."""
    corrected = _Corrected(corrections, "style")
    topics = {str(s.get("name", "")).lower() for s in _list(work, "systems")}
    for area in _list(work, "expertise"):
        topics.add(str(area.get("label", "")).lower())
        topics.update(str(t.get("term", "")).lower() for t in _list(area, "terms"))
    # A CJK topic is found where it stands (no spaces mark its word's edges).
    words = [
        re.compile(re.escape(t) if has_cjk(t) else rf"(?<!\w){re.escape(t)}(?!\w)")
        for t in sorted(topics)
        if len(t) >= 3 or (has_cjk(t) and len(t) >= 2)
    ]
    return [
        p
        for p in _list(style, "pet_phrases")
        if not corrected.withdrawn(p.get("phrase"), p.get("as_written"))
        and not any(w.search(str(p.get("phrase", "")).lower()) for w in words)
    ]


def _expression(
    style: Node, work: Node, corrections: Sequence[Mapping[str, Any]], cite: Citations
) -> Iterable[str]:
    corrected = _Corrected(corrections, "style")
    length = style.get("length", {})
    words = length.get("words", {}) if isinstance(length, Mapping) else {}
    if isinstance(words, Mapping) and words.get("count"):
        sentences = length.get("sentence_words", {})
        # The analysis counts each CJK character as a word (skills/analysis/style.py).
        languages = style.get("languages", {})
        primary = languages.get("primary") if isinstance(languages, Mapping) else ""
        unit = "characters" if primary in ("zh", "ja", "ko") else "words"
        yield (
            f"- Length: a typical message has {words.get('median', 0):.0f} {unit} "
            f"(half between {words.get('p25', 0):.0f} and {words.get('p75', 0):.0f}); "
            f"sentences of about {sentences.get('median', 0):.0f} {unit}."
        )
    formality = style.get("formality")
    if isinstance(formality, int | float):
        tone = "casual" if formality < 0.4 else "formal" if formality > 0.6 else "neutral"
        yield f"- Register: {tone} (formality {formality:.2f} on a 0–1 scale)."
    for title, key in (("Greetings", "greetings"), ("Sign-offs", "sign_offs")):
        habits = style.get(key, {})
        if not isinstance(habits, Mapping):
            continue
        for habit in _list(habits, "forms")[:3]:
            if corrected.withdrawn(habit.get("form")):
                continue
            example = _example(habit, cite)
            if example:
                yield (
                    f"- {title[:-1]}: “{_quote(habit.get('form', ''), 80)}” in "
                    f"{_pct(habit.get('share'))} of messages, e.g. {example}"
                )
    phrases = pet_phrases(style, work, corrections)
    for phrase in phrases[:8]:
        example = _example(phrase, cite)
        if example:
            yield (
                f"- Pet phrase: “{_quote(phrase.get('as_written') or phrase.get('phrase'), 80)}” "
                f"({phrase.get('messages', 0)} messages), e.g. {example}"
            )
    for habit in _list(style, "punctuation")[:4]:
        if float(habit.get("message_share", 0)) < 0.05:
            continue
        example = _example(habit, cite)
        if example:
            mark = str(habit.get("mark", ""))
            yield (
                f"- Uses {PUNCTUATION.get(mark, f'“{mark}”')} in {_pct(habit.get('message_share'))}"
                f" of messages, e.g. {example}"
            )
    capitals = style.get("capitalisation", {})
    if isinstance(capitals, Mapping) and float(capitals.get("lowercase_start_share", 0)) >= 0.3:
        example = _example(capitals, cite)
        yield (
            f"- Starts {_pct(capitals.get('lowercase_start_share'))} of messages in lower case"
            f"{f', e.g. {example}' if example else '.'}"
        )
    emoji = style.get("emoji", {})
    if isinstance(emoji, Mapping):
        top = [e for e in _list(emoji, "top") if not corrected.withdrawn(e.get("emoji"))]
        if top and float(emoji.get("message_share", 0)) >= 0.02:
            shown = ", ".join(
                f"{e['emoji']}{cite(_ids(e))}" for e in top[:5] if cite.visible(_ids(e))
            )
            if shown:
                yield f"- Emoji in {_pct(emoji.get('message_share'))} of messages: {shown}."
        elif float(emoji.get("message_share", 0)) < 0.01:
            yield "- Hardly ever uses emoji."


def _ids(node: Node) -> list[int]:
    return [int(e["item_id"]) for e in _list(node, "examples") if isinstance(e.get("item_id"), int)]


def _example(node: Node, cite: Citations) -> str:
    """“excerpt” [#id] for the node's first visible example, or ""."""
    for example in _list(node, "examples"):
        links = cite([example.get("item_id")])
        if links:
            return f"“{_quote(example.get('excerpt', ''), 200)}”{links}"
    return ""


def _decisions(work: Node, cite: Citations) -> Iterable[str]:
    rows: list[Node] = _list(work, "standards")[:6] + _list(work, "review_habits")[:4]
    for practice in rows:
        links = cite(practice.get("evidence", []))
        if links:
            yield f"- “{_quote(practice.get('text', ''), 240)}”{links}"


def _interpersonal(style: Node, work: Node, cite: Citations) -> Iterable[str]:
    for tone in _list(style, "audiences"):
        example = _example(tone, cite)
        if example and tone.get("shift"):
            yield f"- {tone['shift']} E.g. {example}"
    latency = style.get("latency", {})
    replies = latency.get("replies", {}) if isinstance(latency, Mapping) else {}
    if isinstance(replies, Mapping) and int(replies.get("count", 0)) >= 5:
        median = _duration(float(replies.get("median", 0)))
        quick = _duration(float(replies.get("p25", 0)))
        yield (
            f"- Replies in about {median} (median over {replies['count']} replies; a quarter "
            f"within {quick})."
        )
    people = [c for c in _list(work, "collaborators") if cite.visible(c.get("evidence", []))][:5]
    if people:
        names = ", ".join(
            str(c.get("person", {}).get("name") or c.get("person", {}).get("email")) for c in people
        )
        yield f"- Works most with {names}.{cite(e for c in people for e in c['evidence'][:1])}"


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} seconds"
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f} minutes"
    if seconds < 36 * 3600:
        return f"{seconds / 3600:.1f} hours"
    return f"{seconds / 86400:.1f} days"

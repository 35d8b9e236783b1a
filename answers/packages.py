"""Skill packages that name a question's subject, scored as the reader sees them.

`package_matches(reader, query)` credits the newest version of each colleague's package one
of whose systems, expertise terms or FAQ questions names the question. A package's score is
`package_score` of the work analysis `skills.selectors.package_view(reader, version)` shows:
a statement none of whose evidence the reader may see does not count, and a system or an
expertise area is ranked by its place in the reader's view. Of the packages whose stored
analysis names the question, the MAX_PACKAGES best are looked at.

How it stays fast with thousands of packages: each version's outline (its system names,
expertise terms and FAQ questions with their terms and evidence ids, nothing else) is cached per
process, with an index from each term to the statements holding it, so a question scores only
the statements that hold one of its terms. The reader's view is then computed only for the
statements that can change a chosen package's score (`_Outline.pruned`), with the visibility
of all their evidence read in one query. Both give exactly what scoring every package's
`package_view` would (tests/answers/test_packages.py).
"""

from __future__ import annotations

from array import array
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from django.db.models import Max

from answers.matching import Query, stems_of
from config.memory import freeze_long_lived
from knowledge.visibility import Reader
from skills.models import SkillVersion
from skills.selectors import evidence_ids, visible_analysis, visible_item_ids

#: Packages looked at per question (those naming its terms, best outline first).
MAX_PACKAGES = 100
# Within a package: an expertise term counts this much of a system; the n-th system listed
# (n from 0) counts 1 / (1 + PACKAGE_RANK_DECAY * n) of the first.
EXPERTISE_SHARE = 0.7
PACKAGE_RANK_DECAY = 0.1

# What `skills.selectors.visible_analysis` decides a dict's fate on: its own evidence lists
# and item id (never its siblings', never what it holds deeper down).
_DECIDING_KEYS = ("evidence", "examples", "item_id")

StemsOf = Callable[[str], frozenset[str]]


def named(query: Query, terms: frozenset[str]) -> float:
    """How much of a name (a system, a term) holding `terms` the question names: the share of
    its terms the question holds (`Query.found`: a hyphenated name whole), 0 unless one of
    them is a specific term of the question."""
    shared = terms & query.found(terms)
    if not terms or not shared & query.specific:
        return 0.0
    return len(shared) / len(terms)


def system_score(query: Query, terms: frozenset[str], rank: int) -> float:
    """A system named `terms`, listed at `rank` (from 0)."""
    return named(query, terms) / (1 + PACKAGE_RANK_DECAY * rank)


def term_score(query: Query, terms: frozenset[str], rank: int) -> float:
    """An expertise term of the area listed at `rank` (from 0)."""
    return EXPERTISE_SHARE * named(query, terms) / (1 + PACKAGE_RANK_DECAY * rank)


def faq_score(query: Query, terms: frozenset[str], asked: int) -> float:
    """An FAQ entry asking `terms`, asked `asked` times: 0 below the relevance floor."""
    if not query.relevant(terms):
        return 0.0
    return query.coverage(terms) * min(1.0, (1 + asked) / 3)


def package_score(
    query: Query, work: Mapping[str, Any], *, stems: StemsOf = stems_of
) -> tuple[float, list[Any]]:
    """(score from 0 to 1, evidence of the best statement) of a work analysis: its best
    system, expertise term (EXPERTISE_SHARE of a system) or FAQ entry for the question (for
    an FAQ entry, only its first evidence: the answer they wrote); the first best in that
    order. `stems` gives the terms of a name or a question (a cache may stand in)."""
    best, cited = 0.0, []
    for rank, system in enumerate(work.get("systems", [])):
        score = system_score(query, stems(str(system.get("name", ""))), rank)
        if score > best:
            best, cited = score, list(system.get("evidence", []))
    for rank, area in enumerate(work.get("expertise", [])):
        for term in area.get("terms", []):
            score = term_score(query, stems(str(term.get("term", ""))), rank)
            if score > best:
                best, cited = score, list(term.get("evidence", []))
    for entry in work.get("faq", []):
        score = faq_score(query, stems(str(entry.get("question", ""))), int(entry.get("asked", 1)))
        if score > best:
            best, cited = score, list(entry.get("evidence", []))[:1]
    return best, cited


@dataclass(frozen=True, slots=True)
class _Statement:
    """A system, an expertise term or an FAQ entry of a stored work analysis."""

    kind: str  # "system", "term" or "faq"
    place: int  # in its list: systems, the area's terms, FAQ entries
    area: int  # a term's expertise area (its rank); -1 otherwise
    text: str  # the name, the term or the question
    stems: frozenset[str]
    asked: int  # an FAQ entry's
    deciding: dict[str, Any]  # its _DECIDING_KEYS, as stored

    def score(self, query: Query) -> float:
        """Its score in `package_score` over the stored analysis."""
        if self.kind == "system":
            return system_score(query, self.stems, self.place)
        if self.kind == "term":
            return term_score(query, self.stems, self.area)
        return faq_score(query, self.stems, self.asked)

    def as_stored(self) -> dict[str, Any]:
        """The statement as `package_score` and `visible_analysis` read it."""
        key = {"system": "name", "term": "term", "faq": "question"}[self.kind]
        out = {**self.deciding, key: self.text}
        if self.kind == "faq":
            out["asked"] = self.asked
        return out


def _deciding(node: Any) -> dict[str, Any]:
    return {k: node[k] for k in _DECIDING_KEYS if k in node} if isinstance(node, dict) else {}


@dataclass(frozen=True)
class _Outline:
    """What of a version's analysis can name a question, and decides whether a reader sees it
    (see `pruned`)."""

    colleague_id: int
    statements: tuple[_Statement, ...]  # systems, terms area by area, FAQ entries: stored order
    areas: tuple[dict[str, Any], ...]  # each expertise area's _DECIDING_KEYS
    analysis_deciding: dict[str, Any]
    work_deciding: dict[str, Any]

    @classmethod
    def of(cls, colleague_id: int, analysis: Any, stems: StemsOf) -> _Outline:
        work = analysis.get("work", {}) if isinstance(analysis, dict) else {}
        work = work if isinstance(work, dict) else {}
        statements: list[_Statement] = []
        for place, system in enumerate(work.get("systems", [])):
            text = str(system.get("name", ""))
            statements.append(
                _Statement("system", place, -1, text, stems(text), 0, _deciding(system))
            )
        areas = []
        for rank, area in enumerate(work.get("expertise", [])):
            areas.append(_deciding(area))
            for place, term in enumerate(area.get("terms", [])):
                text = str(term.get("term", ""))
                statements.append(
                    _Statement("term", place, rank, text, stems(text), 0, _deciding(term))
                )
        for place, entry in enumerate(work.get("faq", [])):
            text = str(entry.get("question", ""))
            asked = int(entry.get("asked", 1))
            statements.append(
                _Statement("faq", place, -1, text, stems(text), asked, _deciding(entry))
            )
        return cls(
            colleague_id,
            tuple(statements),
            tuple(areas),
            _deciding(analysis),
            work_deciding=_deciding(work),
        )

    def pruned(self, matching: Iterable[int]) -> dict[str, Any]:
        """The stored analysis cut to what decides `package_score` of its reader's view, given
        the statements that name the question (`matching`, places in `statements`): those, the
        systems listed before the last of them and the expertise areas listed before the last
        of theirs (without their other terms), which decide their ranks in the view.

        For any set of visible items, `package_score` of `visible_analysis` of it equals that
        of the whole analysis: what is cut scores 0 and is never ranked before what is kept,
        and `visible_analysis` keeps or drops a statement on its own deciding keys alone.
        """
        chosen = [self.statements[i] for i in sorted(set(matching))]
        systems = [s for s in chosen if s.kind == "system"]
        terms = [s for s in chosen if s.kind == "term"]
        last_system = max((s.place for s in systems), default=-1)
        last_area = max((s.area for s in terms), default=-1)
        work: dict[str, Any] = dict(self.work_deciding)
        work["systems"] = [
            s.as_stored() for s in self.statements if s.kind == "system" and s.place <= last_system
        ]
        work["expertise"] = [
            {**deciding, "terms": [t.as_stored() for t in terms if t.area == rank]}
            for rank, deciding in enumerate(self.areas[: last_area + 1])
        ]
        work["faq"] = [s.as_stored() for s in chosen if s.kind == "faq"]
        return {**self.analysis_deciding, "work": work}


# A statement in the index: its version id and its place in the version's outline, in one int
# (arrays of them take 8 bytes a statement: 1.5M terms of statements at 5,000 packages).
_PLACE_BITS = 20


@dataclass(frozen=True)
class _Index:
    """Outlines of the newest versions and, for each term, the statements holding it."""

    versions: tuple[int, ...]
    outlines: Mapping[int, _Outline]
    statements: Mapping[str, array[int]]  # term -> version id << _PLACE_BITS | place

    @classmethod
    def of(cls, outlines: Mapping[int, _Outline]) -> _Index:
        by_term: dict[str, array[int]] = {}
        for version_id, outline in outlines.items():
            assert len(outline.statements) < 1 << _PLACE_BITS
            for place, statement in enumerate(outline.statements):
                code = version_id << _PLACE_BITS | place
                for term in statement.stems:
                    found = by_term.get(term)
                    if found is None:
                        found = by_term[term] = array("q")
                    found.append(code)
        return cls(tuple(outlines), outlines, by_term)

    def naming(self, query: Query) -> list[tuple[float, int, int, tuple[int, ...]]]:
        """(score of the stored outline, colleague id, version id, places of the statements
        scoring above 0) of each version whose outline scores above 0 for the question, in
        no particular order. A statement holding none of the question's terms scores 0."""
        holding: dict[int, set[int]] = {}
        place_of = (1 << _PLACE_BITS) - 1
        for term in query.terms:
            for code in self.statements.get(term, ()):
                holding.setdefault(code >> _PLACE_BITS, set()).add(code & place_of)
        out = []
        for version_id, held in holding.items():
            outline = self.outlines[version_id]
            scores = [(outline.statements[p].score(query), p) for p in sorted(held)]
            matching = tuple(p for score, p in scores if score > 0)
            if matching:
                best = max(score for score, _ in scores)
                out.append((best, outline.colleague_id, version_id, matching))
        return out


# version id -> outline of its analysis. Versions are immutable: a redaction or a retention
# purge deletes the versions citing an item and builds new ones (new ids, so every process
# reads them), and drops the deleted ones from here (`forget_versions`) at once.
_outline_cache: dict[int, _Outline] = {}
# The index of the newest versions, replaced whole (never changed in place).
_index: _Index | None = None


def forget_versions(version_ids: Iterable[int]) -> None:
    """Drop deleted versions' outlines from this process's cache (the index follows on the
    next question, since the newest versions differ)."""
    for version_id in version_ids:
        _outline_cache.pop(version_id, None)


def newest_versions() -> list[int]:
    """The id of the newest version of every package, ascending."""
    newest = (
        SkillVersion.objects.order_by()
        .values("package_id")
        .annotate(top=Max("id"))
        .values_list("top", flat=True)
    )
    return sorted(newest)


def package_index() -> _Index:
    """The index of the newest versions' outlines, read from the database for versions not
    cached yet (full access: what a reader sees is decided in `package_matches`)."""
    global _index
    version_ids = newest_versions()
    missing = [v for v in version_ids if v not in _outline_cache]
    known: dict[str, frozenset[str]] = {}

    def stems(text: str) -> frozenset[str]:
        found = known.get(text)
        if found is None:
            found = known[text] = stems_of(text)
        return found

    for start in range(0, len(missing), 200):
        rows = SkillVersion.objects.filter(pk__in=missing[start : start + 200]).values_list(
            "pk", "package__colleague_id", "analysis"
        )
        for pk, colleague_id, analysis in rows:
            _outline_cache[pk] = _Outline.of(colleague_id, analysis, stems)
    wanted = set(version_ids)
    for stale in [v for v in _outline_cache if v not in wanted]:
        del _outline_cache[stale]
    current = _index
    if current is None or missing or current.versions != tuple(version_ids):
        current = _index = _Index.of(
            {v: _outline_cache[v] for v in version_ids if v in _outline_cache}
        )
        if missing:  # outlines read: kept for the process's life, out of full collections
            freeze_long_lived()
    return current


@dataclass(frozen=True)
class PackageMatch:
    """A package naming the question, as the reader sees it: `evidence` is (weight, item id)
    of the visible items its best statement cites, best first."""

    colleague_id: int
    score: float
    evidence: list[tuple[float, int]]


def package_matches(reader: Reader, query: Query) -> list[PackageMatch]:
    """The packages whose view for `reader` names the question's subject, by version id: for
    each, `package_score` of `package_view(reader, version).work`, with the visible items
    its best statement cites (which the analyser guarantees the colleague wrote). Only the
    MAX_PACKAGES versions whose stored outline scores best are looked at (ties by colleague
    id, then version id); a package whose view scores 0 or cites nothing visible is left out.
    The visibility of their evidence is read in one query (per 900 items)."""
    index = package_index()
    chosen = sorted(
        (-best, colleague_id, version_id, matching)
        for best, colleague_id, version_id, matching in index.naming(query)
    )[:MAX_PACKAGES]
    pruned = {version_id: index.outlines[version_id].pruned(m) for *_, version_id, m in chosen}
    visible = visible_item_ids(reader, (i for p in pruned.values() for i in evidence_ids(p)))
    known = {
        s.text: s.stems
        for *_, version_id, _ in chosen
        for s in index.outlines[version_id].statements
    }

    def stems(text: str) -> frozenset[str]:
        found = known.get(text)
        return stems_of(text) if found is None else found

    out = []
    for version_id in sorted(pruned):
        work = visible_analysis(pruned[version_id], visible).get("work", {})
        best, cited = package_score(query, work, stems=stems)
        seen = [i for i in cited if isinstance(i, int) and i in visible]
        evidence = [(best / (1 + n), item_id) for n, item_id in enumerate(seen)]
        if best > 0 and evidence:
            out.append(PackageMatch(index.outlines[version_id].colleague_id, best, evidence))
    return out


def work_seen(reader: Reader, colleague_id: int, keys: Iterable[str]) -> dict[str, Any]:
    """The parts `keys` (e.g. "faq", "collaborators") of the work analysis of the colleague's
    newest package version (highest number) as `reader` sees them: those of
    `package_view(reader, version).work`, without reading or rendering the rest; {} without
    a package."""
    analysis = (
        SkillVersion.objects.filter(package__colleague_id=colleague_id)
        .order_by("-number")
        .values_list("analysis", flat=True)
        .first()
    )
    if not isinstance(analysis, dict):
        return {}
    work = analysis.get("work", {})
    if not isinstance(work, dict):
        return {}
    # What decides whether the analysis and its work are shown, and the parts asked for.
    pruned = {
        **_deciding(analysis),
        "work": {**_deciding(work), **{k: work[k] for k in keys if k in work}},
    }
    visible = visible_item_ids(reader, evidence_ids(pruned))
    seen = visible_analysis(pruned, visible).get("work", {})
    return {k: seen[k] for k in keys if k in seen}

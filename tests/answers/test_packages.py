"""Packages naming a question: what the term index and the cut-down reader's view find is
exactly what scoring every package's whole view (`package_view`) finds."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import AbstractUser
from hypothesis import given, settings
from hypothesis import strategies as st

from answers import packages
from answers.matching import Query, parse_query
from answers.packages import (
    PackageMatch,
    _Index,
    _Outline,
    newest_versions,
    package_matches,
    package_score,
    work_seen,
)
from colleagues.demo.topics import EXPERTISE
from knowledge.visibility import Reader, reader_for
from skills.models import SkillVersion
from skills.selectors import PackageView, package_view, visible_analysis
from tests.skills.conftest import Demo

WORDS = [
    "invoice-runner",
    "invoice",
    "runners",
    "billing",
    "kafka",
    "team",
    "update",
    "nw_dbt",
    "dbt",
    "rotation",
    "rotate",
    "keys",
    "p95",
    "1.29",
    "the",
    "who",
]
ITEM_IDS = st.integers(min_value=1, max_value=12)
text = st.lists(st.sampled_from(WORDS), min_size=0, max_size=3).map(" ".join)
evidence = st.lists(ITEM_IDS, max_size=3)


def statement(key: str, **more: st.SearchStrategy[Any]) -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries(
        {key: text, **more},
        optional={"evidence": evidence, "item_id": ITEM_IDS, "note": st.just("kept as is")},
    )


analyses = st.fixed_dictionaries(
    {
        "work": st.fixed_dictionaries(
            {},
            optional={
                "systems": st.lists(statement("name"), max_size=6),
                "expertise": st.lists(
                    st.fixed_dictionaries(
                        {"label": text, "terms": st.lists(statement("term"), max_size=4)},
                        optional={"evidence": evidence, "item_id": ITEM_IDS},
                    ),
                    max_size=4,
                ),
                "faq": st.lists(
                    statement("question", asked=st.integers(0, 4), answer=st.just("yes")),
                    max_size=5,
                ),
                "channels": st.lists(statement("name"), max_size=2),
                "evidence": evidence,
            },
        )
    },
    optional={"evidence": evidence},
)


def reference_bound(query: Query, analysis: dict[str, Any]) -> float:
    return package_score(query, analysis.get("work", {}))[0]


@settings(max_examples=1500, deadline=None)
@given(analyses, st.sets(ITEM_IDS), st.lists(st.sampled_from(WORDS), min_size=1, max_size=4))
def test_the_index_and_the_cut_analysis_score_as_the_whole_analysis_does(
    analysis: dict[str, Any], visible: set[int], words: list[str]
) -> None:
    query = parse_query(" ".join(words) + "?")
    outline = _Outline.of(7, analysis, packages.stems_of)
    found = _Index.of({1: outline}).naming(query)
    bound = reference_bound(query, analysis)
    if bound == 0:
        assert found == []
    else:
        assert [(b, c, v) for b, c, v, _ in found] == [(bound, 7, 1)]
    seen = visible_analysis(analysis, frozenset(visible)).get("work", {})
    expected = package_score(query, seen)
    if not found:
        assert expected[0] == 0
        return
    cut = visible_analysis(outline.pruned(found[0][3]), frozenset(visible)).get("work", {})
    assert package_score(query, cut) == expected


def reference_matches(query: Query, views: list[PackageView]) -> list[PackageMatch]:
    """The straightforward way: every package's whole view for the reader, scored."""
    bounds = sorted(
        (
            -reference_bound(query, v.version.analysis),
            v.version.package.colleague_id,
            v.version.pk,
            n,
        )
        for n, v in enumerate(views)
    )
    chosen = [views[n] for bound, *_, n in bounds if bound < 0][: packages.MAX_PACKAGES]
    out = []
    for view in sorted(chosen, key=lambda v: v.version.pk):
        version = view.version
        best, cited = package_score(query, view.work)
        shown = [i for i in cited if isinstance(i, int) and i in view.evidence]
        evidence = [(best / (1 + n), item_id) for n, item_id in enumerate(shown)]
        if best > 0 and evidence:
            out.append(PackageMatch(version.package.colleague_id, best, evidence))
    return out


def questions(demo: Demo) -> list[str]:
    """Every system, term and FAQ question of the demo's packages, and its generator's."""
    out: set[str] = set()
    for analysis in SkillVersion.objects.values_list("analysis", flat=True):
        work = analysis.get("work", {})
        out.update(s["name"] for s in work.get("systems", []))
        out.update(t["term"] for a in work.get("expertise", []) for t in a.get("terms", []))
        out.update(f["question"] for f in work.get("faq", []))
    out.update(q for e in EXPERTISE.values() for q, _ in e.qa)
    out.update(s for p in demo.truth["people"] for s in p["owned_systems"])
    return sorted(out)


@pytest.mark.django_db
@pytest.mark.parametrize("max_packages", [100, 3])
def test_a_reader_s_package_matches_are_those_of_every_package_s_whole_view(
    northwind: Demo,
    engineer: AbstractUser,
    manager: AbstractUser,
    max_packages: int,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """On the demo's packages, for the operator, Tom and Samuel, every name and question the
    packages hold: the same packages, scores and evidence (also when only the 3 best
    outlines are looked at)."""
    monkeypatch.setattr(packages, "MAX_PACKAGES", max_packages)
    asked = questions(northwind)
    assert len(asked) > 300
    credited = 0
    versions = SkillVersion.objects.filter(pk__in=newest_versions()).select_related(
        "package__colleague"
    )
    for reader in (Reader.operator(), reader_for(engineer), reader_for(manager)):
        views = [package_view(reader, version) for version in versions]
        for question in asked:
            query = parse_query(question)
            found = package_matches(reader, query)
            assert found == reference_matches(query, views), question
            credited += len(found)
    assert credited > len(asked)


@pytest.mark.django_db
def test_the_parts_of_a_package_a_reader_sees_are_those_of_its_whole_view(
    northwind: Demo, engineer: AbstractUser, manager: AbstractUser
) -> None:
    keys = ["faq", "collaborators", "systems", "expertise"]
    versions = SkillVersion.objects.filter(pk__in=newest_versions()).select_related(
        "package__colleague"
    )
    assert len(versions) > 10
    dropped = 0
    for reader in (Reader.operator(), reader_for(engineer), reader_for(manager)):
        for version in versions:
            work = package_view(reader, version).work
            seen = work_seen(reader, version.package.colleague_id, keys)
            assert seen == {k: work[k] for k in keys if k in work}
            dropped += len(version.analysis["work"]["faq"]) - len(seen.get("faq", []))
    assert dropped > 0  # some readers may not see some entries

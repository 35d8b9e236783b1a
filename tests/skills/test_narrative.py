"""An LLM writes the package's overview from public facts only, and every line it keeps cites
them; without an LLM the package reads the same offline."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from colleagues.models import Colleague
from knowledge.models import Item
from skills.actions import build_package, public_items
from skills.narrative import facts_of, validated_lines
from skills.selectors import evidence_ids
from tests.llm_server import LlmServer
from tests.skills.conftest import Demo

DANA = "dana.kowalski@northwind.example"


def test_only_lines_citing_given_ids_are_kept_and_cleaned() -> None:
    text = "\n".join(
        [
            "- Dana owned billing-svc and rotated its keys [#12] [#14].",
            "She approved the 2026 budget.",  # cites nothing
            "She ran the secret project [#99].",  # an id it was not given
            "## See ![x](https://evil.example/pixel.png) [the runbook](https://evil.example) [#12]",
            "",
        ]
    )
    lines, dropped = validated_lines(text, {12, 14})
    assert [(line.text, line.evidence) for line in lines] == [
        ("Dana owned billing-svc and rotated its keys.", [12, 14]),
        ("See x the runbook", [12]),
    ]
    assert dropped == 2


@given(st.text(max_size=500), st.sets(st.integers(min_value=1, max_value=50), max_size=5))
def test_any_model_output_yields_only_cited_clean_lines(text: str, allowed: set[int]) -> None:
    lines, _ = validated_lines(text, allowed)
    for line in lines:
        assert line.evidence
        assert set(line.evidence) <= allowed
        assert "http" not in line.text
        assert "](" not in line.text
        assert "\n" not in line.text


def test_facts_sent_to_a_model_are_only_those_backed_by_public_items() -> None:
    work: dict[str, Any] = {
        "systems": [
            {"name": "billing-svc", "evidence": [1, 2]},
            {"name": "Project Kestrel", "evidence": [7]},
        ],
        "faq": [{"question": "Where is the postmortem draft?", "evidence": [3, 7]}],
    }
    facts = facts_of(work, public={1, 3})
    assert facts == [{"fact": "go-to for: billing-svc", "ids": [1]}]


@pytest.mark.django_db
def test_without_an_llm_the_package_is_the_offline_rendering(demo_company: Demo) -> None:
    version = build_package(Colleague.objects.get(email=DANA))
    assert "narrative" not in version.analysis
    assert version.generator == "colleague-skill offline analyser 1"
    assert "## Overview" not in version.files["work.md"]


@pytest.mark.llm
@pytest.mark.django_db
def test_with_an_llm_the_overview_is_written_from_public_cited_facts(
    demo_company: Demo, llm_server: LlmServer, settings: Any
) -> None:
    settings.LLM_BASE_URL = llm_server.base_url
    settings.LLM_MODEL = ""
    version = build_package(Colleague.objects.get(email=DANA))
    narrative = version.analysis["narrative"]
    assert narrative["model"]
    assert narrative["model"] in version.generator
    assert narrative["model"] in version.files["SKILL.md"]  # frontmatter metadata
    public = public_items(evidence_ids(version.analysis["work"]))
    for line in narrative["summary"]:
        assert line["evidence"]
        assert set(line["evidence"]) <= public
        assert line["text"] in version.files["work.md"]
    cited = {i for line in narrative["summary"] for i in line["evidence"]}
    assert not Item.objects.filter(pk__in=cited, audience__is_public=False).exists()

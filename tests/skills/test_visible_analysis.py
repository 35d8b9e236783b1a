"""A package shown to a reader keeps only statements whose evidence that reader may see."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from skills.selectors import evidence_ids, visible_analysis

ITEM_IDS = st.integers(min_value=1, max_value=40)

statement = st.fixed_dictionaries(
    {"text": st.text(max_size=20), "evidence": st.lists(ITEM_IDS, min_size=1, max_size=4)}
)
example = st.fixed_dictionaries({"item_id": ITEM_IDS, "excerpt": st.text(max_size=20)})
habit = st.fixed_dictionaries(
    {"phrase": st.text(max_size=10), "examples": st.lists(example, min_size=1, max_size=3)}
)
tree: st.SearchStrategy[Any] = st.recursive(
    st.one_of(statement, habit, st.integers(), st.text(max_size=5)),
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(st.sampled_from(["work", "style", "faq", "areas", "n"]), children),
    ),
    max_leaves=25,
)


def cited_anywhere(node: Any) -> set[int]:
    return evidence_ids(node if isinstance(node, dict) else {"root": node})


@settings(max_examples=300, deadline=None)
@given(tree, st.sets(ITEM_IDS))
def test_nothing_invisible_is_left(analysis: Any, visible: set[int]) -> None:
    shown = visible_analysis({"root": analysis}, frozenset(visible))
    assert cited_anywhere(shown) <= visible


@settings(max_examples=300, deadline=None)
@given(tree)
def test_everything_stays_for_a_reader_who_sees_all(analysis: Any) -> None:
    wrapped = {"root": analysis}
    assert visible_analysis(wrapped, frozenset(range(1, 41))) == wrapped


def test_a_statement_is_dropped_only_when_none_of_its_evidence_is_visible() -> None:
    analysis = {
        "faq": [
            {"question": "How do I rotate billing keys?", "evidence": [7, 3]},
            {"question": "Where is the secret runbook?", "evidence": [9]},
        ],
        "pet_phrases": [
            {"phrase": "ship it", "examples": [{"item_id": 9, "excerpt": "ship it!"}]},
            {
                "phrase": "zoom out",
                "examples": [
                    {"item_id": 9, "excerpt": "zoom out, private"},
                    {"item_id": 3, "excerpt": "zoom out, public"},
                ],
            },
        ],
        "hours": [0, 1, 2],
    }
    shown = visible_analysis(analysis, frozenset({3, 7}))
    assert shown == {
        "faq": [{"question": "How do I rotate billing keys?", "evidence": [7, 3]}],
        "pet_phrases": [
            {"phrase": "zoom out", "examples": [{"item_id": 3, "excerpt": "zoom out, public"}]}
        ],
        "hours": [0, 1, 2],
    }
    assert "secret runbook" not in json.dumps(shown)

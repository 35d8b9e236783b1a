"""The server-rendered bar charts: bars scaled to the largest value, figures in the accessible
label, and a chart of nothing but zeros says so instead of showing an empty box."""

from __future__ import annotations

import re

from skills.charts import HEIGHT, LABEL_HEIGHT, bar_chart


def _heights(svg: str) -> list[float]:
    return [float(h) for h in re.findall(r'<rect [^>]*height="([0-9.]+)"', svg)]


def test_bars_are_scaled_to_the_largest_value_and_labelled_with_their_figures() -> None:
    svg = bar_chart("Cases per state", ["Planned", "Published"], [1, 4])
    assert _heights(svg) == [(HEIGHT - LABEL_HEIGHT) / 4, HEIGHT - LABEL_HEIGHT]
    assert 'aria-label="Cases per state: Planned 1, Published 4"' in svg
    assert "None yet" not in svg


def test_a_chart_of_zeros_says_there_is_nothing_yet() -> None:
    svg = bar_chart("Cases per state", ["Planned", "Published"], [0, 0])
    assert _heights(svg) == [0.0, 0.0]
    assert ">None yet</text>" in svg
    assert 'aria-label="Cases per state: Planned 0, Published 0"' in svg


def test_labels_are_escaped() -> None:
    svg = bar_chart("<b>", ["<script>"], [1])
    assert "<script>" not in svg
    assert "&lt;script&gt;" in svg

"""Small server-rendered SVG charts for the style card (no JavaScript, no CDN).

Every chart is an accessible image: a `<title>` and an aria-label that state the figures, so
a screen reader gets the numbers the bars show.
"""

from __future__ import annotations

from collections.abc import Sequence

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext

WIDTH = 360
HEIGHT = 120
LABEL_HEIGHT = 16


def bar_chart(
    title: str, labels: Sequence[str], values: Sequence[float], *, every_label: int = 1
) -> SafeString:
    """Vertical bars, one per label, scaled to the largest value; labels below every
    `every_label`-th bar."""
    count = len(values)
    if count == 0 or len(labels) != count:
        return mark_safe("")
    top = max(max(values), 1e-9)
    slot = WIDTH / count
    bar = max(slot * 0.8, 1.0)
    plot = HEIGHT - LABEL_HEIGHT
    parts = []
    for index, (label, value) in enumerate(zip(labels, values, strict=True)):
        height = 0.0 if value <= 0 else max(plot * value / top, 1.0)
        x = index * slot + (slot - bar) / 2
        parts.append(
            f'<rect x="{x:.1f}" y="{plot - height:.1f}" width="{bar:.1f}" height="{height:.1f}">'
            f"<title>{escape(label)}: {_number(value)}</title></rect>"
        )
        if index % every_label == 0:
            parts.append(
                f'<text x="{x + bar / 2:.1f}" y="{HEIGHT - 3}" text-anchor="middle">'
                f"{escape(label)}</text>"
            )
    parts.append(f'<line class="baseline" x1="0" y1="{plot}" x2="{WIDTH}" y2="{plot}"></line>')
    if max(values) <= 0:
        # No bar to draw: say so where the bars would be, rather than leave a blank box.
        parts.append(
            f'<text class="none" x="{WIDTH / 2:.1f}" y="{plot / 2:.1f}" text-anchor="middle">'
            f"{escape(gettext('None yet'))}</text>"
        )
    summary = ", ".join(f"{label} {_number(v)}" for label, v in zip(labels, values, strict=True))
    svg = (
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'aria-label="{escape(title)}: {escape(summary)}" xmlns="http://www.w3.org/2000/svg">'
        f"<title>{escape(title)}</title>{''.join(parts)}</svg>"
    )
    return mark_safe(svg)  # noqa: S308 (every text in it is escaped above)


def _number(value: float) -> str:
    return f"{value:.0f}" if float(value).is_integer() else f"{value:.2f}"

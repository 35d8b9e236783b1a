"""Template filters for showing captured text safely."""

from __future__ import annotations

from django import template
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

from knowledge.search import MARK_END, MARK_START

register = template.Library()


@register.filter
def highlight(excerpt: str) -> SafeString:
    """Escape an excerpt, then turn the search markers into <mark> elements."""
    escaped = escape(excerpt)
    return mark_safe(  # noqa: S308 - the text is escaped above; only our markers become tags.
        escaped.replace(MARK_START, "<mark>").replace(MARK_END, "</mark>")
    )

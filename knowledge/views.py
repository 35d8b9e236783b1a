"""Intranet pages for searching and reading captured knowledge."""

from __future__ import annotations

from datetime import datetime
from urllib.parse import urlencode

from django.contrib.auth.decorators import login_required
from django.contrib.auth.models import User
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from colleagues.models import Colleague
from connectors.models import Source
from knowledge.home import home_for
from knowledge.index.base import Filters
from knowledge.models import Item
from knowledge.retrieval import MODES, parse_when, retrieve
from knowledge.selectors import access_item, items_visible_to, thread_of
from knowledge.visibility import reader_for

RESULTS_PER_PAGE = 20
MAX_PAGE = 500


@login_required
def home(request: HttpRequest) -> HttpResponse:
    """The panels of each role the user holds, their main job first (knowledge/home.py)."""
    assert isinstance(request.user, User)  # login_required
    home = home_for(request.user)
    return render(request, "knowledge/home.html", {"home": home, "departed": home.departed})


def _date(value: str, *, end: bool) -> datetime | None:
    try:
        return parse_when(value, end=end) if value else None
    except ValueError:
        return None


@login_required
def search(request: HttpRequest) -> HttpResponse:
    reader = reader_for(request.user)
    query = request.GET.get("q", "").strip()[:1000]
    slug = request.GET.get("colleague", "")
    colleague = Colleague.objects.filter(slug=slug).first() if slug else None
    # Only sources the reader sees something of are offered (and honoured).
    sources = list(
        Source.objects.filter(
            id__in=items_visible_to(reader).values("source_id").distinct()
        ).order_by("name")
    )
    source = next((s for s in sources if str(s.pk) == request.GET.get("source", "")), None)
    kind = request.GET.get("kind", "")
    kind = kind if kind in Item.Kind.values else ""
    since_text = request.GET.get("since", "")[:10]
    until_text = request.GET.get("until", "")[:10]
    since, until = _date(since_text, end=False), _date(until_text, end=True)
    mode = request.GET.get("mode", "hybrid")
    mode = mode if mode in MODES else "hybrid"
    try:
        page = max(1, min(int(request.GET.get("page", "1")), MAX_PAGE))
    except ValueError:
        page = 1
    hits = []
    used_mode = mode
    if query:
        found = retrieve(
            reader,
            query,
            filters=Filters(
                colleague_id=colleague.pk if colleague else None,
                source_ids=(source.pk,) if source else (),
                kinds=(kind,) if kind else (),
                since=since,
                until=until,
            ),
            limit=RESULTS_PER_PAGE + 1,
            offset=(page - 1) * RESULTS_PER_PAGE,
            mode=mode,
        )
        hits, used_mode = found.hits, found.mode
    params = {
        key: value
        for key, value in (
            ("q", query),
            ("colleague", colleague.slug if colleague else ""),
            ("source", str(source.pk) if source else ""),
            ("kind", kind),
            ("since", since_text if since else ""),
            ("until", until_text if until else ""),
            ("mode", mode if mode != "hybrid" else ""),
        )
        if value
    }
    context = {
        "query": query,
        "colleague": colleague,
        # The filter's options: only what they show (every colleague of the organisation).
        "colleagues": Colleague.objects.order_by("name").only("slug", "name"),
        "sources": sources,
        "source": source,
        "kinds": Item.Kind.choices,
        "kind": kind,
        "since": since_text if since else "",
        "until": until_text if until else "",
        "mode": mode,
        "modes": MODES,
        "fell_back": bool(query) and used_mode != mode,
        "hits": hits[:RESULTS_PER_PAGE],
        "page": page,
        "first_rank": (page - 1) * RESULTS_PER_PAGE + 1,
        "has_next": len(hits) > RESULTS_PER_PAGE and page < MAX_PAGE,
        "previous_url": "?" + urlencode({**params, "page": page - 1}) if page > 1 else "",
        "next_url": "?" + urlencode({**params, "page": page + 1}),
    }
    template = (
        "knowledge/_results.html" if request.headers.get("HX-Request") else "knowledge/search.html"
    )
    return render(request, template, context)


@login_required
def item_detail(request: HttpRequest, pk: int) -> HttpResponse:
    reader = reader_for(request.user)
    item = access_item(reader, pk)
    return render(request, "knowledge/item.html", {"item": item, "thread": thread_of(reader, item)})

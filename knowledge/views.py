"""Intranet pages for searching and reading captured knowledge."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from colleagues.models import Colleague
from colleagues.selectors import colleague_directory
from knowledge.search import search_items
from knowledge.selectors import access_item, thread_of
from knowledge.visibility import reader_for

RESULTS_PER_PAGE = 20


@login_required
def home(request: HttpRequest) -> HttpResponse:
    departed = colleague_directory(status=Colleague.Status.DEPARTED)[:12]
    return render(request, "knowledge/home.html", {"departed": departed})


@login_required
def search(request: HttpRequest) -> HttpResponse:
    query = request.GET.get("q", "").strip()[:1000]
    slug = request.GET.get("colleague", "")
    colleague = Colleague.objects.filter(slug=slug).first() if slug else None
    try:
        page = max(1, min(int(request.GET.get("page", "1")), 500))
    except ValueError:
        page = 1
    hits = []
    if query:
        hits = search_items(
            reader=reader_for(request.user),
            query=query,
            colleague=colleague,
            limit=RESULTS_PER_PAGE + 1,
            offset=(page - 1) * RESULTS_PER_PAGE,
        )
    context = {
        "query": query,
        "colleague": colleague,
        "hits": hits[:RESULTS_PER_PAGE],
        "page": page,
        "first_rank": (page - 1) * RESULTS_PER_PAGE + 1,
        "has_next": len(hits) > RESULTS_PER_PAGE,
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

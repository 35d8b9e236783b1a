"""REST endpoints for captured knowledge; every one reads through knowledge.selectors."""

from __future__ import annotations

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.pagination import PageNumberPagination
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from colleagues.models import Colleague
from connectors.models import Source
from knowledge.index.base import Filters
from knowledge.models import Item
from knowledge.retrieval import MODES, retrieve
from knowledge.search import hit_as_json
from knowledge.selectors import access_item, items_visible_to
from knowledge.visibility import reader_for


class ItemOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    kind = serializers.CharField()
    title = serializers.CharField()
    body = serializers.CharField()
    url = serializers.CharField(allow_blank=True)
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()
    source = serializers.CharField(source="source.name")  # type: ignore[assignment]
    container = serializers.CharField(source="container.name", allow_null=True, default=None)
    thread_key = serializers.CharField(allow_blank=True)
    author = serializers.SerializerMethodField()
    colleague = serializers.SerializerMethodField()

    def get_author(self, item: Item) -> str | None:
        if item.author is None:
            return None
        return item.author.display_name or item.author.value

    def get_colleague(self, item: Item) -> str | None:
        """The author's colleague slug, when the author is a colleague."""
        if item.author is None or item.author.colleague is None:
            return None
        return item.author.colleague.slug


class ItemListApi(APIView):
    """Items the caller may see, newest first."""

    class FilterSerializer(serializers.Serializer):
        colleague = serializers.SlugField(required=False, help_text="author's colleague slug")
        kind = serializers.ChoiceField(choices=Item.Kind.choices, required=False)
        source = serializers.CharField(required=False, help_text="source name")  # type: ignore[assignment]

    @extend_schema(parameters=[FilterSerializer], responses=ItemOutputSerializer(many=True))
    def get(self, request: Request) -> Response:
        filters = self.FilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        items = items_visible_to(reader_for(request.user))
        if slug := filters.validated_data.get("colleague"):
            items = items.filter(author__colleague=get_object_or_404(Colleague, slug=slug))
        if kind := filters.validated_data.get("kind"):
            items = items.filter(kind=kind)
        if source := filters.validated_data.get("source"):
            items = items.filter(source__name=source)
        paginator = PageNumberPagination()
        page = paginator.paginate_queryset(items, request, view=self)
        return paginator.get_paginated_response(ItemOutputSerializer(page, many=True).data)


class ItemDetailApi(APIView):
    """One item, if the caller may see it; 404 otherwise."""

    @extend_schema(responses=ItemOutputSerializer)
    def get(self, request: Request, item_id: int) -> Response:
        item = access_item(reader_for(request.user), item_id)
        return Response(ItemOutputSerializer(item).data)


class SearchHitSerializer(serializers.Serializer):
    item_id = serializers.IntegerField()
    colleague = serializers.EmailField(allow_null=True)
    excerpt = serializers.CharField()
    score = serializers.FloatField()
    source = serializers.CharField()  # type: ignore[assignment]
    created_at = serializers.DateTimeField()
    url = serializers.URLField(allow_null=True)


class SearchOutputSerializer(serializers.Serializer):
    results = SearchHitSerializer(many=True)
    mode = serializers.ChoiceField(
        choices=MODES, help_text="how the results were found (keyword after a fallback)"
    )
    count = serializers.IntegerField(help_text="results on this page")
    next = serializers.CharField(allow_null=True, help_text="URL of the next page, if any")
    previous = serializers.CharField(allow_null=True, help_text="URL of the previous page")


class SearchApi(APIView):
    """Search what the caller may see (the `search` command's JSON, plus mode and paging).

    Hybrid by default: keyword (BM25) and vector results fused by reciprocal rank; `mode`
    picks one side. Pages with `limit` and `offset`, or `page` and `page_size`.
    """

    class InputSerializer(serializers.Serializer):
        q = serializers.CharField(max_length=1000)
        colleague = serializers.SlugField(required=False, help_text="author's colleague slug")
        source = serializers.CharField(  # type: ignore[assignment]
            required=False, max_length=200, help_text="source name"
        )
        kind = serializers.ChoiceField(choices=Item.Kind.choices, required=False)
        since = serializers.DateTimeField(
            required=False, help_text="created at or after (ISO 8601 date-time)"
        )
        until = serializers.DateTimeField(
            required=False, help_text="created at or before (ISO 8601 date-time)"
        )
        mode = serializers.ChoiceField(choices=MODES, default="hybrid")
        limit = serializers.IntegerField(min_value=1, max_value=100, default=20)
        offset = serializers.IntegerField(min_value=0, max_value=10_000, default=0)
        page = serializers.IntegerField(
            min_value=1, max_value=500, required=False, help_text="page number (uses page_size)"
        )
        page_size = serializers.IntegerField(min_value=1, max_value=100, required=False)

    @extend_schema(parameters=[InputSerializer], responses=SearchOutputSerializer)
    def get(self, request: Request) -> Response:
        params = self.InputSerializer(data=request.query_params)
        params.is_valid(raise_exception=True)
        data = params.validated_data
        colleague = None
        if slug := data.get("colleague"):
            colleague = get_object_or_404(Colleague, slug=slug)
        source_ids: tuple[int, ...] = ()
        if name := data.get("source"):
            source_ids = tuple(Source.objects.filter(name=name).values_list("id", flat=True))
            if not source_ids:
                source_ids = (0,)  # no such source: nothing matches
        limit, offset = data["limit"], data["offset"]
        if "page" in data or "page_size" in data:
            limit = data.get("page_size", limit)
            offset = (data.get("page", 1) - 1) * limit
        found = retrieve(
            reader_for(request.user),
            data["q"],
            filters=Filters(
                colleague_id=colleague.pk if colleague else None,
                source_ids=source_ids,
                kinds=(data["kind"],) if data.get("kind") else (),
                since=data.get("since"),
                until=data.get("until"),
            ),
            limit=limit + 1,
            offset=offset,
            mode=data["mode"],
        )
        hits = found.hits[:limit]

        def link(at: int) -> str:
            query = request.query_params.copy()
            for key in ("page", "page_size"):
                query.pop(key, None)
            query["offset"], query["limit"] = str(at), str(limit)
            return request.build_absolute_uri(f"{request.path}?{query.urlencode()}")

        return Response(
            {
                "results": [hit_as_json(hit) for hit in hits],
                "mode": found.mode,
                "count": len(hits),
                "next": link(offset + limit) if len(found.hits) > limit else None,
                "previous": link(max(offset - limit, 0)) if offset > 0 else None,
            }
        )

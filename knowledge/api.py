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
from knowledge.models import Item
from knowledge.search import hit_as_json, search_items
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


class SearchApi(APIView):
    """Keyword search over what the caller may see (the `search` command's JSON)."""

    class InputSerializer(serializers.Serializer):
        q = serializers.CharField(max_length=1000)
        colleague = serializers.SlugField(required=False, help_text="author's colleague slug")
        limit = serializers.IntegerField(min_value=1, max_value=100, default=20)
        offset = serializers.IntegerField(min_value=0, max_value=10_000, default=0)

    @extend_schema(parameters=[InputSerializer], responses=SearchOutputSerializer)
    def get(self, request: Request) -> Response:
        params = self.InputSerializer(data=request.query_params)
        params.is_valid(raise_exception=True)
        data = params.validated_data
        colleague = None
        if slug := data.get("colleague"):
            colleague = get_object_or_404(Colleague, slug=slug)
        hits = search_items(
            reader=reader_for(request.user),
            query=data["q"],
            colleague=colleague,
            limit=data["limit"],
            offset=data["offset"],
        )
        return Response({"results": [hit_as_json(hit) for hit in hits]})

"""REST endpoints for the colleague directory and each colleague's captured knowledge."""

from __future__ import annotations

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.pagination import PageNumberPagination
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from colleagues.models import Colleague
from colleagues.selectors import colleague_directory
from knowledge.selectors import characteristic_terms, item_counts_by_source
from knowledge.visibility import reader_for


class ColleagueOutputSerializer(serializers.Serializer):
    slug = serializers.SlugField()
    name = serializers.CharField()
    email = serializers.EmailField(allow_blank=True)
    title = serializers.CharField(allow_blank=True)
    department = serializers.CharField(allow_blank=True)
    status = serializers.CharField()
    departed_on = serializers.DateField(allow_null=True)
    manager = serializers.CharField(
        source="manager.slug", allow_null=True, default=None, help_text="the manager's slug"
    )


class ColleagueListApi(APIView):
    """The directory: every colleague, filtered by department, status or a query."""

    class FilterSerializer(serializers.Serializer):
        department = serializers.CharField(required=False, max_length=200)
        status = serializers.ChoiceField(choices=Colleague.Status.choices, required=False)
        q = serializers.CharField(required=False, max_length=200)

    @extend_schema(parameters=[FilterSerializer], responses=ColleagueOutputSerializer(many=True))
    def get(self, request: Request) -> Response:
        filters = self.FilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        data = filters.validated_data
        colleagues = colleague_directory(
            department=data.get("department", ""),
            status=data.get("status", ""),
            query=data.get("q", ""),
        )
        paginator = PageNumberPagination()
        page = paginator.paginate_queryset(colleagues, request, view=self)
        return paginator.get_paginated_response(ColleagueOutputSerializer(page, many=True).data)


class SourceCountSerializer(serializers.Serializer):
    source = serializers.CharField()  # type: ignore[assignment]
    kind = serializers.CharField()
    items = serializers.IntegerField()


class TermSerializer(serializers.Serializer):
    term = serializers.CharField()
    score = serializers.FloatField()
    count = serializers.IntegerField()


class ColleagueDetailOutputSerializer(ColleagueOutputSerializer):
    items_by_source = SourceCountSerializer(many=True)
    characteristic_terms = TermSerializer(many=True)


class ColleagueDetailApi(APIView):
    """A colleague's profile, with counts and terms from what the caller may see."""

    @extend_schema(responses=ColleagueDetailOutputSerializer)
    def get(self, request: Request, slug: str) -> Response:
        colleague = get_object_or_404(Colleague.objects.select_related("manager"), slug=slug)
        reader = reader_for(request.user)
        data = dict(ColleagueOutputSerializer(colleague).data)
        data["items_by_source"] = SourceCountSerializer(
            item_counts_by_source(reader, colleague), many=True
        ).data
        data["characteristic_terms"] = TermSerializer(
            characteristic_terms(reader, colleague), many=True
        ).data
        return Response(data)

"""REST endpoints for the colleague directory and each colleague's captured knowledge."""

from __future__ import annotations

from django.contrib.auth.models import Group, User
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.pagination import PageNumberPagination
from rest_framework.permissions import BasePermission, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from colleagues.access import live_grants
from colleagues.grants import GrantRefused, grant_access, revoke_grant
from colleagues.models import AccessGrant, Colleague
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


class GrantSerializer(serializers.Serializer):
    id = serializers.IntegerField(read_only=True)
    username = serializers.CharField(
        source="user.username", required=False, allow_null=True, default=None
    )
    group = serializers.CharField(
        source="group.name", required=False, allow_null=True, default=None
    )
    department = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    level = serializers.ChoiceField(choices=AccessGrant.Level.choices, default="viewer")
    expires_at = serializers.DateTimeField(required=False, allow_null=True, default=None)
    reason = serializers.CharField(max_length=500, required=False, allow_blank=True, default="")
    created_at = serializers.DateTimeField(read_only=True)


class ManageGrants(BasePermission):
    def has_permission(self, request: Request, view: APIView) -> bool:
        return bool(request.user and request.user.has_perm("colleagues.manage_grants"))


class GrantListApi(APIView):
    """Grants in force on a colleague's package (GET); grant one (POST). HR admins only."""

    permission_classes = [IsAuthenticated, ManageGrants]

    @extend_schema(responses=GrantSerializer(many=True))
    def get(self, request: Request, slug: str) -> Response:
        colleague = get_object_or_404(Colleague, slug=slug)
        grants = live_grants().filter(colleague=colleague).select_related("user", "group")
        return Response(GrantSerializer(grants, many=True).data)

    @extend_schema(request=GrantSerializer, responses={201: GrantSerializer})
    def post(self, request: Request, slug: str) -> Response:
        colleague = get_object_or_404(Colleague, slug=slug)
        data = GrantSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        fields = data.validated_data
        username = (fields.get("user") or {}).get("username")
        group_name = (fields.get("group") or {}).get("name")
        user = User.objects.filter(username=username, is_active=True).first() if username else None
        group = Group.objects.filter(name=group_name).first() if group_name else None
        if (username and user is None) or (group_name and group is None):
            raise serializers.ValidationError({"detail": "No such active user or group."})
        try:
            grant = grant_access(
                colleague,
                user=user,
                group=group,
                department=fields["department"],
                level=fields["level"],
                expires_at=fields["expires_at"],
                reason=fields["reason"],
                actor=request.user,
            )
        except GrantRefused as exc:
            raise serializers.ValidationError({"detail": str(exc)}) from exc
        return Response(GrantSerializer(grant).data, status=status.HTTP_201_CREATED)


class GrantDetailApi(APIView):
    """Revoke a grant (DELETE); its holders lose it on their next request. HR admins only."""

    permission_classes = [IsAuthenticated, ManageGrants]

    @extend_schema(responses={204: None})
    def delete(self, request: Request, slug: str, grant_id: int) -> Response:
        grant = get_object_or_404(AccessGrant, pk=grant_id, colleague__slug=slug)
        revoke_grant(grant, actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)

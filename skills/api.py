"""REST endpoints for skill packages: read, versions, diff, corrections, rollback, build,
export and style matching. Every read is rendered for the caller (`skills.selectors`)."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from colleagues.access import (
    can_curate_package,
    curated_colleague,
    own_colleague,
    viewable_colleague,
)
from colleagues.models import Colleague
from knowledge.visibility import reader_for
from skills import tasks
from skills.actions import CorrectionRefused, add_correction, rollback
from skills.export import download_package
from skills.models import Correction, SkillPackage, SkillVersion
from skills.selectors import (
    active_corrections,
    diff_versions,
    package_of,
    package_view,
    style_matcher,
    version_of,
    versions_of,
)

VERSION_PARAM = OpenApiParameter(
    "version", OpenApiTypes.INT, description="a version number (default: the newest)"
)


def _colleague(request: Request, slug: str) -> Colleague:
    """The colleague whose package the caller may open; 404 otherwise."""
    return viewable_colleague(request.user, slug)


def _is_own(request: Request, colleague: Colleague) -> bool:
    own = own_colleague(request.user)
    return own is not None and own.pk == colleague.pk


def _version(colleague: Colleague, raw: str | None) -> SkillVersion:
    number = None
    if raw:
        if not raw.isdigit():
            raise Http404("No such version.")
        number = int(raw)
    version = version_of(colleague, number)
    if version is None:
        raise Http404("No such version.")
    return version


class VersionSerializer(serializers.ModelSerializer):
    built_by = serializers.CharField(source="built_by.username", default=None, allow_null=True)

    class Meta:
        model = SkillVersion
        fields = ["number", "reason", "restored_from", "built_at", "built_by", "generator"]
        fields += ["items", "seconds"]


class PackageOutputSerializer(serializers.Serializer):
    colleague = serializers.SlugField()
    name = serializers.CharField(help_text="the AgentSkills name (also the export's folder)")
    version = VersionSerializer()
    status = serializers.CharField()
    files = serializers.DictField(child=serializers.CharField())
    analysis = serializers.DictField(
        help_text="the structured analysis the files were rendered from, as the caller may see it"
    )


class PackageApi(APIView):
    """A colleague's skill package, rendered for the caller."""

    @extend_schema(parameters=[VERSION_PARAM], responses=PackageOutputSerializer)
    def get(self, request: Request, slug: str) -> Response:
        colleague = _colleague(request, slug)
        version = _version(colleague, request.query_params.get("version"))
        view = package_view(reader_for(request.user), version)
        package = version.package
        return Response(
            {
                "colleague": colleague.slug,
                "name": view.files.name,
                "version": VersionSerializer(version).data,
                "status": package.status,
                "files": view.files.files,
                "analysis": view.analysis,
            }
        )


class VersionListApi(APIView):
    """The package's versions, newest first."""

    @extend_schema(responses=VersionSerializer(many=True))
    def get(self, request: Request, slug: str) -> Response:
        return Response(VersionSerializer(versions_of(_colleague(request, slug)), many=True).data)


class DiffOutputSerializer(serializers.Serializer):
    path = serializers.CharField()
    lines = serializers.ListField(child=serializers.CharField())


class DiffApi(APIView):
    """What changed between two versions, per file, as the caller sees both."""

    @extend_schema(
        parameters=[
            OpenApiParameter("from", OpenApiTypes.INT, required=True),
            OpenApiParameter("to", OpenApiTypes.INT, required=True),
        ],
        responses=DiffOutputSerializer(many=True),
    )
    def get(self, request: Request, slug: str) -> Response:
        colleague = _colleague(request, slug)
        old = _version(colleague, request.query_params.get("from") or "x")
        new = _version(colleague, request.query_params.get("to") or "x")
        diffs = diff_versions(reader_for(request.user), old, new)
        return Response([{"path": d.path, "lines": list(d.lines)} for d in diffs if d.changed])


class CorrectionSerializer(serializers.ModelSerializer):
    created_by = serializers.CharField(source="created_by.username", read_only=True, default=None)

    class Meta:
        model = Correction
        fields = ["id", "kind", "wrong", "right", "created_by", "created_at"]
        read_only_fields = ["id", "created_by", "created_at"]


class CorrectionListApi(APIView):
    """Corrections in force (GET); record one, which writes a new version (POST)."""

    @extend_schema(responses=CorrectionSerializer(many=True))
    def get(self, request: Request, slug: str) -> Response:
        package = package_of(_colleague(request, slug))
        rows = active_corrections(package) if package else Correction.objects.none()
        return Response(CorrectionSerializer(rows, many=True).data)

    @extend_schema(request=CorrectionSerializer, responses={201: VersionSerializer})
    def post(self, request: Request, slug: str) -> Response:
        colleague = _colleague(request, slug)
        if not (can_curate_package(request.user, colleague) or _is_own(request, colleague)):
            raise PermissionDenied("Only the package's curators, or its colleague, correct it.")
        package = package_of(colleague)
        if package is None:
            raise Http404("No skill package yet.")
        data = CorrectionSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        fields: dict[str, Any] = data.validated_data
        try:
            version = add_correction(
                package,
                kind=fields["kind"],
                wrong=fields.get("wrong", ""),
                right=fields.get("right", ""),
                user=request.user,
            )
        except CorrectionRefused as exc:
            raise serializers.ValidationError({"detail": str(exc)}) from exc
        return Response(VersionSerializer(version).data, status=status.HTTP_201_CREATED)


class RollbackInputSerializer(serializers.Serializer):
    version = serializers.IntegerField(min_value=1)


class RollbackApi(APIView):
    """Write a new version repeating an older one (the package's curators)."""

    @extend_schema(request=RollbackInputSerializer, responses={201: VersionSerializer})
    def post(self, request: Request, slug: str) -> Response:
        package = get_object_or_404(SkillPackage, colleague=curated_colleague(request.user, slug))
        data = RollbackInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            version = rollback(package, number=data.validated_data["version"], user=request.user)
        except SkillVersion.DoesNotExist as exc:
            raise Http404(str(exc)) from exc
        return Response(VersionSerializer(version).data, status=status.HTTP_201_CREATED)


class BuildApi(APIView):
    """Queue a build of the package (its curators); its status shows on the package."""

    @extend_schema(request=None, responses={202: None})
    def post(self, request: Request, slug: str) -> Response:
        colleague = curated_colleague(request.user, slug)
        SkillPackage.objects.get_or_create(colleague=colleague)
        tasks.build_skill_package.delay(colleague.pk, request.user.pk)
        return Response(status=status.HTTP_202_ACCEPTED)


class ExportApi(APIView):
    """The package as a zip of its AgentSkills folder, as the caller may see it (audited)."""

    @extend_schema(parameters=[VERSION_PARAM], responses={(200, "application/zip"): bytes})
    def get(self, request: Request, slug: str) -> HttpResponse:
        colleague = _colleague(request, slug)
        version = _version(colleague, request.query_params.get("version"))
        download = download_package(
            reader_for(request.user), version, actor=request.user, via="api"
        )
        response = HttpResponse(download.content, content_type="application/zip")
        response["Content-Disposition"] = f'attachment; filename="{download.filename}"'
        return response


class StyleMatchInputSerializer(serializers.Serializer):
    text = serializers.CharField(max_length=20000)
    limit = serializers.IntegerField(min_value=1, max_value=100, default=10)


class StyleMatchColleagueSerializer(serializers.Serializer):
    email = serializers.CharField()
    name = serializers.CharField()
    slug = serializers.CharField()


class StyleMatchResultSerializer(serializers.Serializer):
    colleague = StyleMatchColleagueSerializer()
    score = serializers.FloatField()


class StyleMatchOutputSerializer(serializers.Serializer):
    results = StyleMatchResultSerializer(many=True)


class StyleMatchApi(APIView):
    """Rank colleagues by how closely a text matches their writing style
    (the JSON of `manage.py style_match`)."""

    @extend_schema(request=StyleMatchInputSerializer, responses=StyleMatchOutputSerializer)
    def post(self, request: Request) -> Response:
        data = StyleMatchInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        matcher = style_matcher()
        results = (
            matcher.ranked(data.validated_data["text"], limit=data.validated_data["limit"])
            if matcher is not None
            else []
        )
        return Response({"results": results})

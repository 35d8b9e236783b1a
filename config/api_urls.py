"""The REST API under /api/ (schema at /api/schema/, docs at /api/docs/)."""

from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from colleagues.api import ColleagueDetailApi, ColleagueListApi, GrantDetailApi, GrantListApi
from config.security import RateLimitedObtainAuthToken
from knowledge.api import ItemDetailApi, ItemListApi, SearchApi
from skills.api import (
    BuildApi,
    CorrectionListApi,
    DiffApi,
    ExportApi,
    PackageApi,
    RollbackApi,
    StyleMatchApi,
    VersionListApi,
)

urlpatterns = [
    path("auth/token/", RateLimitedObtainAuthToken.as_view(), name="api-token"),
    path("colleagues/", ColleagueListApi.as_view(), name="api-colleagues"),
    path("colleagues/<slug:slug>/", ColleagueDetailApi.as_view(), name="api-colleague"),
    path("colleagues/<slug:slug>/grants/", GrantListApi.as_view(), name="api-grants"),
    path(
        "colleagues/<slug:slug>/grants/<int:grant_id>/",
        GrantDetailApi.as_view(),
        name="api-grant",
    ),
    path("colleagues/<slug:slug>/skill/", PackageApi.as_view(), name="api-skill"),
    path(
        "colleagues/<slug:slug>/skill/versions/",
        VersionListApi.as_view(),
        name="api-skill-versions",
    ),
    path("colleagues/<slug:slug>/skill/diff/", DiffApi.as_view(), name="api-skill-diff"),
    path(
        "colleagues/<slug:slug>/skill/corrections/",
        CorrectionListApi.as_view(),
        name="api-skill-corrections",
    ),
    path(
        "colleagues/<slug:slug>/skill/rollback/", RollbackApi.as_view(), name="api-skill-rollback"
    ),
    path("colleagues/<slug:slug>/skill/build/", BuildApi.as_view(), name="api-skill-build"),
    path("colleagues/<slug:slug>/skill/export/", ExportApi.as_view(), name="api-skill-export"),
    path("style-match/", StyleMatchApi.as_view(), name="api-style-match"),
    path("items/", ItemListApi.as_view(), name="api-items"),
    path("items/<int:item_id>/", ItemDetailApi.as_view(), name="api-item"),
    path("search/", SearchApi.as_view(), name="api-search"),
    path("", include("answers.api_urls")),  # ask/, who-knows/
    path("offboarding/", include("offboarding.api_urls")),  # cases/..., webhook/
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    # The split view loads Swagger UI's start-up script as a file: the CSP allows no inline one.
    path("docs/", SpectacularSwaggerSplitView.as_view(url_name="api-schema"), name="api-docs"),
]

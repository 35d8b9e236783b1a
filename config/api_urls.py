"""The REST API under /api/ (schema at /api/schema/, docs at /api/docs/)."""

from django.urls import path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework.authtoken.views import ObtainAuthToken

from colleagues.api import ColleagueDetailApi, ColleagueListApi
from knowledge.api import ItemDetailApi, ItemListApi, SearchApi

urlpatterns = [
    path("auth/token/", ObtainAuthToken.as_view(), name="api-token"),
    path("colleagues/", ColleagueListApi.as_view(), name="api-colleagues"),
    path("colleagues/<slug:slug>/", ColleagueDetailApi.as_view(), name="api-colleague"),
    path("items/", ItemListApi.as_view(), name="api-items"),
    path("items/<int:item_id>/", ItemDetailApi.as_view(), name="api-item"),
    path("search/", SearchApi.as_view(), name="api-search"),
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
]

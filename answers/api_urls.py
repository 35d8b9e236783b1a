"""REST routes of the answers app, included under /api/ by config/api_urls.py."""

from django.urls import path

from answers.api import AskApi, WhoKnowsApi

urlpatterns = [
    path("ask/", AskApi.as_view(), name="api-ask"),
    path("who-knows/", WhoKnowsApi.as_view(), name="api-who-knows"),
]

"""REST routes of the offboarding app, included under /api/offboarding/ by config/api_urls.py."""

from django.urls import path

from offboarding.api import (
    OffboardingCaseDetailApi,
    OffboardingCaseListApi,
    OffboardingCaseTransitionApi,
    OffboardingRetentionApi,
    OffboardingStepApi,
    OffboardingSuccessorsApi,
    OffboardingWebhookApi,
)

urlpatterns = [
    path("webhook/", OffboardingWebhookApi.as_view(), name="api-offboarding-webhook"),
    path("cases/", OffboardingCaseListApi.as_view(), name="api-offboarding-cases"),
    path("cases/<int:case_id>/", OffboardingCaseDetailApi.as_view(), name="api-offboarding-case"),
    path(
        "cases/<int:case_id>/transition/",
        OffboardingCaseTransitionApi.as_view(),
        name="api-offboarding-transition",
    ),
    path(
        "cases/<int:case_id>/steps/<slug:step>/",
        OffboardingStepApi.as_view(),
        name="api-offboarding-step",
    ),
    path(
        "cases/<int:case_id>/retention/",
        OffboardingRetentionApi.as_view(),
        name="api-offboarding-retention",
    ),
    path(
        "cases/<int:case_id>/successors/",
        OffboardingSuccessorsApi.as_view(),
        name="api-offboarding-successors",
    ),
]

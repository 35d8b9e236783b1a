"""REST routes of the offboarding app, included under /api/offboarding/ by config/api_urls.py."""

from django.urls import path

from offboarding.api import (
    OffboardingApproveReviewApi,
    OffboardingBusFactorApi,
    OffboardingCaptureApi,
    OffboardingCaseDetailApi,
    OffboardingCaseListApi,
    OffboardingCaseTransitionApi,
    OffboardingHandoverApi,
    OffboardingPublishApi,
    OffboardingRedactApi,
    OffboardingRetentionApi,
    OffboardingReviewApi,
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
    path(
        "cases/<int:case_id>/capture/",
        OffboardingCaptureApi.as_view(),
        name="api-offboarding-capture",
    ),
    path(
        "cases/<int:case_id>/review/",
        OffboardingReviewApi.as_view(),
        name="api-offboarding-review",
    ),
    path(
        "cases/<int:case_id>/review/items/<int:item_id>/redact/",
        OffboardingRedactApi.as_view(),
        name="api-offboarding-redact",
    ),
    path(
        "cases/<int:case_id>/review/approve/",
        OffboardingApproveReviewApi.as_view(),
        name="api-offboarding-approve",
    ),
    path(
        "cases/<int:case_id>/publish/",
        OffboardingPublishApi.as_view(),
        name="api-offboarding-publish",
    ),
    path(
        "cases/<int:case_id>/handover/",
        OffboardingHandoverApi.as_view(),
        name="api-offboarding-handover",
    ),
    path("bus-factor/", OffboardingBusFactorApi.as_view(), name="api-offboarding-bus-factor"),
]

from django.urls import path

from knowledge import views, views_audit, views_erasure, views_privacy, views_retention

app_name = "knowledge"
urlpatterns = [
    path("search/", views.search, name="search"),
    path("items/<int:pk>/", views.item_detail, name="item"),
    path("privacy/", views_privacy.my_data, name="my_data"),
    path("privacy/items/<int:item_id>/redact/", views_privacy.ask_redaction, name="ask_redaction"),
    path("privacy/requests/", views_privacy.redaction_queue, name="redaction_queue"),
    path("privacy/requests/<int:pk>/", views_privacy.decide_redaction, name="decide_redaction"),
    path("retention/", views_retention.retention, name="retention"),
    path("retention/policies/", views_retention.add_policy, name="add_policy"),
    path("retention/holds/", views_retention.place_legal_hold, name="place_hold"),
    path(
        "retention/holds/<int:pk>/release/",
        views_retention.release_legal_hold,
        name="release_hold",
    ),
    path("privacy/erasure/", views_erasure.erasure_requests, name="erasure_requests"),
    path("privacy/erasure/<int:pk>/", views_erasure.erasure_request, name="erasure_request"),
    path("privacy/erasure/<int:pk>/decide/", views_erasure.decide_erasure, name="decide_erasure"),
]
urlpatterns += [
    path("audit/", views_audit.audit_events, name="audit_events"),
    path("audit/packages/", views_audit.audit_packages, name="audit_packages"),
    path("audit/users/", views_audit.audit_users, name="audit_users"),
    path("audit/retention/", views_audit.audit_retention, name="audit_retention"),
    path("audit/consent/", views_audit.audit_consent, name="audit_consent"),
    path("audit/erasures/", views_audit.audit_erasures, name="audit_erasures"),
    path("audit/offboarding/", views_audit.audit_offboarding, name="audit_offboarding"),
]

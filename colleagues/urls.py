from django.urls import path

from colleagues import views

app_name = "colleagues"
urlpatterns = [
    path("", views.directory, name="directory"),
    path("<slug:slug>/", views.colleague_detail, name="detail"),
    path("<slug:slug>/merge/", views.colleague_merge, name="merge"),
    path("<slug:slug>/access/", views.access, name="access"),
    path("<slug:slug>/access/<int:grant_id>/revoke/", views.revoke, name="revoke"),
    path("<slug:slug>/consent/", views.consent, name="consent"),
    path(
        "<slug:slug>/identities/<int:identity_id>/split/",
        views.identity_split,
        name="split",
    ),
]

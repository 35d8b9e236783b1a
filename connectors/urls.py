from django.urls import path

from connectors import views

app_name = "connectors"
urlpatterns = [
    path("", views.source_list, name="sources"),
    path("upload/", views.upload, name="upload"),
    path("add/", views.source_add, name="add"),
    path("add/<slug:kind>/", views.source_add_kind, name="add_kind"),
    path("<int:pk>/", views.source_detail, name="source"),
    path("<int:pk>/sync/", views.source_sync, name="sync"),
    path("<int:pk>/pause/", views.source_pause, name="pause"),
    path("<int:pk>/exclusions/", views.source_exclusions, name="exclusions"),
    path("<int:pk>/delete/", views.source_delete, name="delete"),
    path(
        "<int:pk>/quarantine/<int:record_pk>/retry/",
        views.quarantine_retry,
        name="quarantine_retry",
    ),
    path(
        "<int:pk>/quarantine/<int:record_pk>/dismiss/",
        views.quarantine_dismiss,
        name="quarantine_dismiss",
    ),
]

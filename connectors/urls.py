from django.urls import path

from connectors import views

app_name = "connectors"
urlpatterns = [
    path("", views.source_list, name="sources"),
    path("upload/", views.upload, name="upload"),
    path("<int:pk>/", views.source_detail, name="source"),
    path("<int:pk>/sync/", views.source_sync, name="sync"),
    path("<int:pk>/pause/", views.source_pause, name="pause"),
    path("<int:pk>/exclusions/", views.source_exclusions, name="exclusions"),
    path("<int:pk>/delete/", views.source_delete, name="delete"),
]

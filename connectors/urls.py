from django.urls import path

from connectors import views

app_name = "connectors"
urlpatterns = [
    path("", views.source_list, name="sources"),
    path("<int:pk>/", views.source_detail, name="source"),
]

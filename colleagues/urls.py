from django.urls import path

from colleagues import views

app_name = "colleagues"
urlpatterns = [
    path("", views.directory, name="directory"),
    path("<slug:slug>/", views.colleague_detail, name="detail"),
]

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from knowledge.views import home

urlpatterns = [
    path("", home, name="home"),
    path("login/", auth_views.LoginView.as_view(redirect_authenticated_user=True), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("colleagues/", include("colleagues.urls")),
    path("", include("skills.urls")),
    path("", include("answers.urls")),
    path("knowledge/", include("knowledge.urls")),
    path("sources/", include("connectors.urls")),
    path("api/", include("config.api_urls")),
    path("admin/", admin.site.urls),
]

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from config.security import LoginView, RateLimitedAdminAuthenticationForm
from knowledge.views import home

# The admin's login form words a lockout like the intranet's (config/security.py).
admin.site.login_form = RateLimitedAdminAuthenticationForm

urlpatterns = [
    path("", home, name="home"),
    path("login/", LoginView.as_view(), name="login"),
    # POST only (Django's LogoutView), so a link or an image elsewhere cannot log anyone out.
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    # Django's set_language (POST only, with the CSRF token): the header's language switcher.
    path("i18n/", include("django.conf.urls.i18n")),
    path("colleagues/", include("colleagues.urls")),
    path("", include("skills.urls")),
    path("", include("answers.urls")),
    path("knowledge/", include("knowledge.urls")),
    path("sources/", include("connectors.urls")),
    path("offboarding/", include("offboarding.urls")),
    path("api/", include("config.api_urls")),
    path("slack/", include("slack_command.urls")),
    path("agents/", include("agents.urls")),
    path("admin/", admin.site.urls),
]

# Our 500 page names the failed request's id (config/errors.py); 400, 403 and 404 are Django's
# views rendering templates/400.html, 403.html and 404.html.
handler500 = "config.errors.server_error"

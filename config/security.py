"""Login hardening and security headers (README "Secrets", issue 7 item 9).

Failed logins are limited per username and per client IP with Django's cache. The limit is an
authentication backend, `LoginRateLimitBackend`, that must be first in
AUTHENTICATION_BACKENDS (as django-axes does): `django.contrib.auth.authenticate` asks it
before any backend that checks a password, so every password entry point is covered, whatever
calls `authenticate()` and whichever backend would check the password: the intranet login
form, the admin's, DRF's `api/auth/token/`, and the LDAP backend (django-auth-ldap) when it is
configured. For a locked username or IP it raises PermissionDenied, which makes
`authenticate()` stop and return None before the password is checked anywhere. Failures are
counted from Django's `user_login_failed` signal, which `authenticate()` sends whichever
backend refused, and a login (`user_logged_in`) clears its username's counter (not the IP's,
or one valid account would unlock guessing at every other one).

A backend, rather than a login form or view subclass, because it is the one place every
password passes through; the form and view below only turn a refusal into a clear message
(HTTP 429 on the intranet form). The lockout answer is the same whether or not the username
exists, whether or not the password was right: the counters are keyed by what was typed and
the password is not checked while locked.

`SecurityHeadersMiddleware` adds Content-Security-Policy and Permissions-Policy (Django's
SecurityMiddleware and XFrameOptionsMiddleware send the rest), and refuses to start when the
limiter is not the first authentication backend.

Counters live in the cache named by LOGIN_FAILURE_CACHE; it must be shared by every web
process (Redis with CACHE_URL, else a file cache under var/, shared on one host).
"""

from __future__ import annotations

import hashlib
import ipaddress
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth import views as auth_views
from django.contrib.auth.forms import AuthenticationForm
from django.contrib.auth.models import AbstractBaseUser, User
from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.core.cache import BaseCache, caches
from django.core.exceptions import (
    NON_FIELD_ERRORS,
    ImproperlyConfigured,
    PermissionDenied,
    ValidationError,
)
from django.dispatch import receiver
from django.http import HttpRequest, HttpResponse
from django.utils.translation import ngettext
from rest_framework.authtoken.views import ObtainAuthToken
from rest_framework.request import Request
from rest_framework.response import Response

BACKEND_PATH = "config.security.LoginRateLimitBackend"
# Set on a request whose login attempt the limiter refused.
LOCKED_ATTRIBUTE = "login_locked"


def locked_message() -> str:
    minutes = max(1, round(settings.LOGIN_FAILURE_WINDOW / 60))
    return ngettext(
        "Too many failed logins for this account or from this network. "
        "Try again in %(minutes)d minute.",
        "Too many failed logins for this account or from this network. "
        "Try again in %(minutes)d minutes.",
        minutes,
    ) % {"minutes": minutes}


# --- The client ----------------------------------------------------------------------------------


def client_ip(request: HttpRequest | None) -> str:
    """The client's IP address, or "" when unknown.

    REMOTE_ADDR, unless TRUSTED_PROXY_COUNT reverse proxies stand in front: then the address
    the outermost of them saw, taken from the right of X-Forwarded-For (the left part is
    whatever the client sent, so it is never trusted).
    """
    if request is None:
        return ""
    candidate = request.META.get("REMOTE_ADDR", "")
    proxies = settings.TRUSTED_PROXY_COUNT
    if proxies > 0:
        forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
        hops = [hop.strip() for hop in forwarded.split(",") if hop.strip()]
        if len(hops) >= proxies:
            candidate = hops[-proxies]
    try:
        return str(ipaddress.ip_address(candidate))
    except ValueError:
        return ""


# --- Counting failures ---------------------------------------------------------------------------


def _cache() -> BaseCache:
    return caches[settings.LOGIN_FAILURE_CACHE]


def _username_key(username: str) -> str:
    # Hashed: usernames may hold any character, and the cache need not learn them.
    digest = hashlib.sha256(username.strip().casefold().encode()).hexdigest()
    return f"login-failures:user:{digest}"


def _ip_key(ip: str) -> str:
    return f"login-failures:ip:{ip}"


def _limits(request: HttpRequest | None, username: str) -> list[tuple[str, str, int]]:
    """(what, cache key, limit) for each counter this attempt falls under."""
    limits = []
    if username:
        limits.append(("username", _username_key(username), settings.LOGIN_FAILURE_LIMIT))
    if ip := client_ip(request):
        limits.append(("ip", _ip_key(ip), settings.LOGIN_FAILURE_IP_LIMIT))
    return limits


def locked_by(request: HttpRequest | None, username: str) -> list[str]:
    """Which counters ("username", "ip") have reached their limit for this attempt."""
    keys = _limits(request, username)
    counts = _cache().get_many([key for _, key, _ in keys])
    return [what for what, key, limit in keys if counts.get(key, 0) >= limit]


def note_failure(request: HttpRequest | None, username: str) -> None:
    """Count one failed login against `username` and the client's IP.

    Each counter is forgotten LOGIN_FAILURE_WINDOW seconds after its latest failure.
    """
    cache = _cache()
    window = settings.LOGIN_FAILURE_WINDOW
    for _, key, _ in _limits(request, username):
        cache.add(key, 0, timeout=window)
        try:
            cache.incr(key)
        except ValueError:  # expired between add() and incr()
            cache.set(key, 1, timeout=window)
        # incr() keeps or resets the expiry depending on the backend: set it explicitly.
        cache.touch(key, timeout=window)


def clear_failures(username: str) -> None:
    """Forget the failed logins of `username` (after it logged in)."""
    _cache().delete(_username_key(username))


def _attempted_username(credentials: dict[str, Any]) -> str:
    from django.contrib.auth import get_user_model

    field = get_user_model().USERNAME_FIELD
    value = credentials.get(field, credentials.get("username"))
    return value if isinstance(value, str) else ""


# --- The backend ---------------------------------------------------------------------------------


class LoginRateLimitBackend:
    """First authentication backend: refuse every attempt on a locked username or client IP.

    It never authenticates anyone (it returns None, so the next backend checks the password)
    and never holds a user in a session: it has no `get_user`, so Django (and the test
    client's `force_login`) never picks it to load a logged-in user.
    """

    def authenticate(
        self, request: HttpRequest | None, username: str | None = None, **credentials: Any
    ) -> AbstractBaseUser | None:
        attempted = username if username is not None else _attempted_username(credentials)
        if locked_by(request, attempted or ""):
            if request is not None:
                setattr(request, LOCKED_ATTRIBUTE, True)
            raise PermissionDenied("too many failed logins")
        return None


def check_backend_order() -> None:
    """Raise ImproperlyConfigured unless the limiter runs before every password check."""
    backends = list(settings.AUTHENTICATION_BACKENDS)
    if not backends or backends[0] != BACKEND_PATH:
        raise ImproperlyConfigured(
            f"{BACKEND_PATH} must be the first of AUTHENTICATION_BACKENDS, so that failed "
            f"logins are limited on every backend (it is: {backends})"
        )


# --- Audit ---------------------------------------------------------------------------------------


def _via(request: HttpRequest | None) -> str:
    return request.path if request is not None else ""


@receiver(user_login_failed, dispatch_uid="config.security.login_failed")
def _on_login_failed(
    sender: object, credentials: dict[str, Any], request: HttpRequest | None = None, **_: Any
) -> None:
    """Count the failure, or record the refusal of a locked attempt (which is not counted)."""
    from knowledge import audit

    username = _attempted_username(credentials)
    # Truncated: an audit target is at most 200 characters; never the password (Django has
    # already replaced it in `credentials`, and it is not read here).
    target = f"username:{username[:150]}"
    ip = client_ip(request)
    if request is not None and getattr(request, LOCKED_ATTRIBUTE, False):
        audit.record(
            "login_locked",
            target,
            result=audit.Result.DENIED,
            ip=ip,
            via=_via(request),
            locked_by=locked_by(request, username),
        )
        return
    note_failure(request, username)
    audit.record(
        "login_failed",
        target,
        result=audit.Result.FAILED,
        ip=ip,
        via=_via(request),
        locked=bool(locked_by(request, username)),
    )


@receiver(user_logged_in, dispatch_uid="config.security.logged_in")
def _on_logged_in(sender: object, request: HttpRequest | None, user: User, **_: Any) -> None:
    from knowledge import audit

    clear_failures(user.get_username())
    audit.record(
        "login",
        f"user:{user.pk}",
        actor=user,
        ip=client_ip(request),
        via=_via(request),
        backend=getattr(user, "backend", ""),
    )


@receiver(user_logged_out, dispatch_uid="config.security.logged_out")
def _on_logged_out(
    sender: object, request: HttpRequest | None, user: User | None, **_: Any
) -> None:
    from knowledge import audit

    if user is None:
        return
    audit.record(
        "logout",
        f"user:{user.pk}",
        actor=user,
        ip=client_ip(request),
        via=_via(request),
    )


# --- Login forms and view ------------------------------------------------------------------------


class LockoutMessageMixin:
    """Replace "wrong username or password" with the lockout message when the limiter refused.

    The limit itself is enforced by LoginRateLimitBackend; this only words the answer.
    """

    request: HttpRequest | None

    def clean(self) -> dict[str, Any]:
        try:
            cleaned: dict[str, Any] = super().clean()  # type: ignore[misc]
        except ValidationError:
            if getattr(self.request, LOCKED_ATTRIBUTE, False):
                raise ValidationError(locked_message(), code="locked") from None
            raise
        return cleaned


class RateLimitedAuthenticationForm(LockoutMessageMixin, AuthenticationForm):
    """The intranet login form."""


class RateLimitedAdminAuthenticationForm(LockoutMessageMixin, AdminAuthenticationForm):
    """The admin's login form."""


class LoginView(auth_views.LoginView):
    """The intranet login page; a locked-out attempt gets the form, its message and HTTP 429."""

    form_class = RateLimitedAuthenticationForm
    redirect_authenticated_user = True

    def form_invalid(self, form: AuthenticationForm) -> HttpResponse:
        response = super().form_invalid(form)
        if form.has_error(NON_FIELD_ERRORS, code="locked"):
            response.status_code = 429
            response.headers["Retry-After"] = str(settings.LOGIN_FAILURE_WINDOW)
        return response


# --- Headers -------------------------------------------------------------------------------------


class SecurityHeadersMiddleware:
    """Add CONTENT_SECURITY_POLICY and PERMISSIONS_POLICY to every response.

    Django 5.2 has no CSP support of its own. A view that sets either header keeps its own.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        # At startup, so a server whose login limiter would be bypassed never starts.
        check_backend_order()
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if settings.CONTENT_SECURITY_POLICY:
            response.headers.setdefault("Content-Security-Policy", settings.CONTENT_SECURITY_POLICY)
        if settings.PERMISSIONS_POLICY:
            response.headers.setdefault("Permissions-Policy", settings.PERMISSIONS_POLICY)
        return response


# --- The API's token endpoint ---------------------------------------------------------------


class RateLimitedObtainAuthToken(ObtainAuthToken):
    """DRF's token endpoint, answering a locked username or client IP with 429 and the
    intranet's lockout message (the limiter backend refuses it either way; without this DRF
    would say only "unable to log in")."""

    def post(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        username = request.data.get("username", "") if hasattr(request.data, "get") else ""
        if locked_by(request._request, username if isinstance(username, str) else ""):
            from knowledge import audit

            audit.record(
                "login_locked",
                f"username:{str(username)[:150]}",
                ip=client_ip(request._request),
                via=request.path,
                result=audit.Result.DENIED,
            )
            return Response({"detail": locked_message()}, status=429)
        return super().post(request, *args, **kwargs)

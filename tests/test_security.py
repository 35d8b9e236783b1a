"""Login hardening, sessions, CSRF and security headers (issue 7 item 9, config/security.py)."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.core.cache import caches
from django.core.exceptions import ImproperlyConfigured
from django.core.handlers.wsgi import WSGIHandler
from django.http import HttpRequest
from django.test import Client, override_settings
from django.urls import URLPattern, URLResolver, get_resolver
from rest_framework.authentication import SessionAuthentication, TokenAuthentication
from rest_framework.views import APIView

from knowledge.models import AuditEvent
from tests.factories import make_user

PASSWORD = "correct horse battery"
WRONG = "Tr0ub4dor&3-wrong"
LOCKED = "Too many failed logins"


@pytest.fixture(autouse=True)
def _login_counters(settings) -> Iterator[None]:
    """Each test counts failures in its own memory cache, with the documented defaults."""
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
            "LOCATION": "test-security",
        }
    }
    settings.LOGIN_FAILURE_LIMIT = 5
    settings.LOGIN_FAILURE_IP_LIMIT = 50
    settings.LOGIN_FAILURE_WINDOW = 15 * 60
    settings.TRUSTED_PROXY_COUNT = 0
    caches["default"].clear()
    yield
    caches["default"].clear()


def log_in(client: Client, username: str, password: str, **extra: Any) -> Any:
    return client.post("/login/", {"username": username, "password": password}, **extra)


def fail(client: Client, username: str, times: int, **extra: Any) -> None:
    for _ in range(times):
        page = log_in(client, username, WRONG, **extra)
        assert page.status_code == 200
        assert b"Please enter a correct username and password" in page.content


def logged_in(client: Client) -> bool:
    return "_auth_user_id" in client.session


# --- The limit ---------------------------------------------------------------------------------


@pytest.mark.django_db
def test_five_failures_lock_the_username_even_for_the_right_password() -> None:
    make_user("dana")
    client = Client()
    fail(client, "dana", 5)
    page = log_in(client, "dana", PASSWORD)
    assert page.status_code == 429
    assert page.headers["Retry-After"] == str(15 * 60)
    assert LOCKED.encode() in page.content
    assert b"Try again in 15 minutes" in page.content
    assert not logged_in(client)
    # Another address is locked out of this account too.
    assert log_in(Client(REMOTE_ADDR="10.9.9.9"), "dana", PASSWORD).status_code == 429


@pytest.mark.django_db
def test_a_lockout_does_not_reveal_whether_the_username_exists() -> None:
    make_user("dana")
    fail(Client(REMOTE_ADDR="10.0.0.1"), "dana", 5)
    fail(Client(REMOTE_ADDR="10.0.0.2"), "nobody-by-this-name", 5)
    known = log_in(Client(REMOTE_ADDR="10.0.0.1"), "dana", WRONG)
    unknown = log_in(Client(REMOTE_ADDR="10.0.0.2"), "nobody-by-this-name", WRONG)
    assert known.status_code == unknown.status_code == 429
    scrub = re.compile(
        rb'name="csrfmiddlewaretoken" value="[^"]*"|value="(dana|nobody-by-this-name)"'
    )
    assert scrub.sub(b"", known.content) == scrub.sub(b"", unknown.content)


@pytest.mark.django_db
def test_usernames_differing_only_in_case_share_a_counter() -> None:
    make_user("dana")
    client = Client()
    for name in ("dana", "Dana", "DANA", " dana", "dAna"):
        log_in(client, name, WRONG)
    assert log_in(client, "dana", PASSWORD).status_code == 429


@pytest.mark.django_db
def test_a_successful_login_resets_the_username_counter() -> None:
    make_user("dana")
    client = Client()
    fail(client, "dana", 4)
    assert log_in(client, "dana", PASSWORD).status_code == 302
    client.post("/logout/")
    fail(client, "dana", 4)
    assert log_in(client, "dana", PASSWORD).status_code == 302
    assert logged_in(client)


@pytest.mark.django_db
def test_failures_from_one_address_lock_it_for_every_username(settings) -> None:
    settings.LOGIN_FAILURE_IP_LIMIT = 6
    make_user("erin")
    sprayer = Client(REMOTE_ADDR="203.0.113.7")
    for n in range(6):
        log_in(sprayer, f"user{n}", WRONG)
    page = log_in(sprayer, "erin", PASSWORD)
    assert page.status_code == 429
    assert LOCKED.encode() in page.content
    # Erin herself, from her own address, is not locked out.
    assert log_in(Client(REMOTE_ADDR="198.51.100.2"), "erin", PASSWORD).status_code == 302


@pytest.mark.django_db
def test_a_forged_forwarded_for_header_does_not_escape_the_address_limit(settings) -> None:
    settings.LOGIN_FAILURE_IP_LIMIT = 3
    make_user("erin")
    client = Client(REMOTE_ADDR="203.0.113.7")
    for n in range(3):
        log_in(client, f"user{n}", WRONG, HTTP_X_FORWARDED_FOR=f"192.0.2.{n}")
    assert log_in(client, "erin", PASSWORD, HTTP_X_FORWARDED_FOR="192.0.2.99").status_code == 429


@pytest.mark.django_db
def test_behind_a_trusted_proxy_the_client_is_the_address_it_saw(settings) -> None:
    settings.TRUSTED_PROXY_COUNT = 1
    settings.LOGIN_FAILURE_IP_LIMIT = 3
    make_user("erin")
    proxy = Client(REMOTE_ADDR="10.0.0.1")
    for n in range(3):
        log_in(proxy, f"user{n}", WRONG, HTTP_X_FORWARDED_FOR=f"6.6.6.6, 192.0.2.{n}")
    # Three different clients behind the proxy: none is locked, and neither is the proxy.
    page = log_in(proxy, "erin", PASSWORD, HTTP_X_FORWARDED_FOR="192.0.2.50")
    assert page.status_code == 302
    ips = set(AuditEvent.objects.filter(action="login_failed").values_list("ip", flat=True))
    assert ips == {"192.0.2.0", "192.0.2.1", "192.0.2.2"}


@pytest.mark.django_db
def test_a_lock_ends_when_the_window_has_passed(settings) -> None:
    settings.LOGIN_FAILURE_WINDOW = 1
    make_user("dana")
    client = Client()
    fail(client, "dana", 5)
    assert log_in(client, "dana", PASSWORD).status_code == 429
    time.sleep(1.2)
    assert log_in(client, "dana", PASSWORD).status_code == 302


@pytest.mark.django_db
def test_the_api_token_endpoint_is_limited_too() -> None:
    make_user("dana")
    client = Client()
    for _ in range(5):
        response = client.post("/api/auth/token/", {"username": "dana", "password": WRONG})
        assert response.status_code == 400
    # Locked: even the right password gets 429 and the lockout message, no token.
    response = client.post("/api/auth/token/", {"username": "dana", "password": PASSWORD})
    assert response.status_code == 429
    assert "Too many failed logins" in response.json()["detail"]
    assert "token" not in response.json()
    assert AuditEvent.objects.filter(action="login_locked", detail__via="/api/auth/token/").exists()


@pytest.mark.django_db
def test_the_admin_login_is_limited_and_says_why() -> None:
    make_user("root", is_staff=True, is_superuser=True)
    client = Client()
    for _ in range(5):
        client.post("/admin/login/", {"username": "root", "password": WRONG, "next": "/admin/"})
    page = client.post(
        "/admin/login/", {"username": "root", "password": PASSWORD, "next": "/admin/"}
    )
    assert LOCKED.encode() in page.content
    assert not logged_in(client)


class DirectoryBackend:
    """Stands in for another password backend (django-auth-ldap): it knows one password."""

    asked: list[str] = []

    def authenticate(
        self, request: HttpRequest | None, username: str | None = None, password: str = ""
    ) -> AbstractBaseUser | None:
        DirectoryBackend.asked.append(username or "")
        if password != "directory password":
            return None
        user = get_user_model().objects.get_or_create(username=username)[0]
        return user

    def get_user(self, user_id: int) -> AbstractBaseUser | None:
        return get_user_model().objects.filter(pk=user_id).first()


@pytest.mark.django_db
def test_failures_on_any_backend_count_and_a_locked_account_never_reaches_it(settings) -> None:
    settings.AUTHENTICATION_BACKENDS = [
        "config.security.LoginRateLimitBackend",
        "tests.test_security.DirectoryBackend",
    ]
    DirectoryBackend.asked = []
    client = Client()
    fail(client, "frank", 5)
    assert DirectoryBackend.asked == ["frank"] * 5
    assert log_in(client, "frank", "directory password").status_code == 429
    assert DirectoryBackend.asked == ["frank"] * 5  # not asked while locked
    assert log_in(Client(), "grace", "directory password").status_code == 302


def test_the_server_does_not_start_unless_the_limiter_is_the_first_backend(settings) -> None:
    assert settings.AUTHENTICATION_BACKENDS[0] == "config.security.LoginRateLimitBackend"
    settings.AUTHENTICATION_BACKENDS = [
        "django.contrib.auth.backends.ModelBackend",
        "config.security.LoginRateLimitBackend",
    ]
    with pytest.raises(ImproperlyConfigured, match="must be the first of AUTHENTICATION_BACKENDS"):
        WSGIHandler()


# --- Audit -------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_logins_logouts_failures_and_lockouts_are_audited_with_the_ip_and_no_password() -> None:
    user = make_user("dana")
    client = Client(REMOTE_ADDR="198.51.100.4")
    fail(client, "dana", 5)
    log_in(client, "dana", PASSWORD)  # locked
    caches["default"].clear()
    log_in(client, "dana", PASSWORD)
    client.post("/logout/")

    events = list(AuditEvent.objects.order_by("id"))
    assert [e.action for e in events] == ["login_failed"] * 5 + ["login_locked", "login", "logout"]
    assert all(e.ip == "198.51.100.4" and e.request_id for e in events)
    assert [e.result for e in events] == ["failed"] * 5 + ["denied", "ok", "ok"]
    assert all(e.detail["via"] in ("/login/", "/logout/") for e in events)
    assert events[0].target == "username:dana"
    assert events[0].actor is None
    assert [e.detail["locked"] for e in events[:5]] == [False] * 4 + [True]
    assert events[5].detail["locked_by"] == ["username"]
    assert events[6].actor == user
    assert events[6].target == f"user:{user.pk}"
    assert events[7].actor == user
    dumped = json.dumps([[e.target, e.detail] for e in events])
    assert PASSWORD not in dumped
    assert WRONG not in dumped


# --- Sessions ----------------------------------------------------------------------------------


@pytest.mark.django_db
def test_login_gives_a_new_session_key_that_lasts_a_working_day_until_the_browser_closes() -> None:
    make_user("dana")
    client = Client()
    session = client.session
    session["seen"] = True
    session.save()
    before = session.session_key
    response = log_in(client, "dana", PASSWORD)
    cookie = response.cookies[settings.SESSION_COOKIE_NAME]
    assert cookie.value
    assert cookie.value != before
    assert not cookie["max-age"]
    assert not cookie["expires"]
    assert cookie["httponly"]
    assert cookie["samesite"] == "Lax"
    assert client.session.get_expiry_age() == 8 * 60 * 60


@pytest.mark.django_db
def test_logout_is_post_only() -> None:
    make_user("dana")
    client = Client()
    log_in(client, "dana", PASSWORD)
    assert client.get("/logout/").status_code == 405
    assert logged_in(client)
    assert client.post("/logout/").status_code == 302
    assert not logged_in(client)


# --- CSRF --------------------------------------------------------------------------------------

# Views allowed to skip Django's CSRF check, and why. A request signature (Slack's) replaces
# it; nothing else belongs here.
CSRF_EXEMPT_ALLOWED: dict[str, str] = {
    "slack/commands/": "Slack posts it; slack_command.signature.verify checks the signature",
    "slack/interactions/": "Slack posts it; slack_command.signature.verify checks the signature",
}


def every_view(
    patterns: list[URLPattern | URLResolver] | None = None, prefix: str = ""
) -> Iterator[tuple[str, Any]]:
    for entry in patterns if patterns is not None else get_resolver().url_patterns:
        if isinstance(entry, URLResolver):
            yield from every_view(entry.url_patterns, prefix + str(entry.pattern))
        else:
            yield prefix + str(entry.pattern), entry.callback


def test_no_view_skips_csrf_protection() -> None:
    views = list(every_view())
    assert len(views) > 30
    unprotected = []
    for route, callback in views:
        if not getattr(callback, "csrf_exempt", False) or route in CSRF_EXEMPT_ALLOWED:
            continue
        view_class = getattr(callback, "cls", None)
        if view_class is not None and issubclass(view_class, APIView):
            # DRF marks its views exempt and checks CSRF itself in SessionAuthentication, for
            # the requests authenticated by the session cookie; a token is no ambient cookie.
            for auth in view_class().get_authenticators():
                if isinstance(auth, SessionAuthentication):
                    if type(auth).enforce_csrf is not SessionAuthentication.enforce_csrf:
                        unprotected.append(f"{route}: {type(auth).__name__}")
                elif not isinstance(auth, TokenAuthentication):
                    unprotected.append(f"{route}: {type(auth).__name__} (cookie or password?)")
            continue
        unprotected.append(route)
    assert unprotected == []


@pytest.mark.django_db
@pytest.mark.parametrize("route", sorted(CSRF_EXEMPT_ALLOWED))
@override_settings(SLACK_SIGNING_SECRET="s" * 32)
def test_a_csrf_exempt_view_refuses_an_unsigned_post(route: str) -> None:
    make_user("dana")
    client = Client(enforce_csrf_checks=True)
    log_in(client, "dana", PASSWORD)
    response = client.post(f"/{route}", {"command": "/colleague", "text": "help"})
    assert response.status_code == 401


@pytest.mark.django_db
def test_a_post_without_the_csrf_token_is_refused_on_pages_and_on_the_api() -> None:
    make_user("dana")
    client = Client(enforce_csrf_checks=True)
    client.force_login(get_user_model().objects.get(username="dana"))
    assert client.post("/logout/").status_code == 403
    response = client.post("/api/colleagues/anyone/skill/build/")
    assert response.status_code == 403
    assert "CSRF" in response.json()["detail"]
    assert Client(enforce_csrf_checks=True).post("/login/", {"username": "dana"}).status_code == 403


# --- Headers -----------------------------------------------------------------------------------


def directives(policy: str) -> dict[str, list[str]]:
    parsed = (part.split() for part in policy.split(";") if part.strip())
    return {words[0]: words[1:] for words in parsed}


@pytest.mark.django_db
@pytest.mark.parametrize(
    "url", ["/login/", "/", "/admin/login/", "/api/docs/", "/static/css/app.css"]
)
def test_every_response_carries_the_security_headers(url: str) -> None:
    response = Client().get(url)
    policy = directives(response.headers["Content-Security-Policy"])
    assert policy["default-src"] == ["'self'"]
    assert policy["script-src"] == ["'self'"]  # no inline script, no eval
    assert policy["object-src"] == ["'none'"]
    assert policy["frame-ancestors"] == ["'none'"]
    assert policy["base-uri"] == ["'self'"]
    assert policy["form-action"] == ["'self'"]
    assert "camera=()" in response.headers["Permissions-Policy"]
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "same-origin"
    if url.startswith("/static/"):
        return  # WhiteNoise answers before the framing and opener headers are added
    assert response.headers["X-Frame-Options"] == "DENY"
    # Every page is isolated from the windows that open it (the API docs too: the split view
    # of Swagger UI needs no OAuth popups).
    assert response.headers["Cross-Origin-Opener-Policy"] == "same-origin"


TEMPLATES_DIR = Path(settings.BASE_DIR) / "templates"
# What the policy's script-src 'self' blocks: inline scripts, inline handlers, javascript: URLs,
# and htmx's hx-on (compiled with eval).
SCRIPT_IN_MARKUP = re.compile(
    r"<script(?![^>]*\bsrc=)[^>]*>|\son[a-z]+\s*=|javascript:|\bhx-on", re.IGNORECASE
)
# Templates that still need a change their owners have been told about (see the reasons).
KNOWN_INLINE_SCRIPT: dict[str, str] = {}


@pytest.mark.parametrize(
    "template",
    [
        pytest.param(
            name,
            marks=[pytest.mark.xfail(strict=True, reason=KNOWN_INLINE_SCRIPT[name])]
            if name in KNOWN_INLINE_SCRIPT
            else [],
        )
        for name in sorted(str(p.relative_to(TEMPLATES_DIR)) for p in TEMPLATES_DIR.rglob("*.html"))
    ],
)
def test_templates_hold_no_script_the_policy_would_block(template: str) -> None:
    text = (TEMPLATES_DIR / template).read_text()
    assert SCRIPT_IN_MARKUP.findall(text) == []


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_pages_run_in_chromium_without_a_policy_violation(page) -> None:
    make_user("ops", is_staff=True, is_superuser=True)
    violations: list[str] = []
    page.on(
        "console",
        lambda message: (
            violations.append(message.text) if "Content Security Policy" in message.text else None
        ),
    )
    page.on("pageerror", lambda error: violations.append(str(error)))
    page.goto("/")
    page.get_by_label("Username").fill("ops")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.get_by_role("button", name="Log out").wait_for()
    for url in ("/", "/colleagues/", "/knowledge/search/?q=kernel", "/sources/", "/admin/"):
        page.goto(url)
        page.wait_for_load_state("networkidle")
    # htmx runs: the directory filters as one types.
    page.goto("/colleagues/")
    page.wait_for_function("() => window.htmx !== undefined")
    page.get_by_role("button", name="Log out").click()
    page.wait_for_url("**/login/")
    assert violations == []


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_the_api_docs_run_in_chromium_without_a_policy_violation(page) -> None:
    violations: list[str] = []
    page.on(
        "console",
        lambda message: (
            violations.append(message.text) if "Content Security Policy" in message.text else None
        ),
    )
    page.goto("/api/docs/")
    page.wait_for_load_state("networkidle")
    assert violations == []

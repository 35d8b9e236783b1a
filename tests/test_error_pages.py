"""Error pages explain what happened and what to do, in the intranet's layout."""

from __future__ import annotations

import pytest
from django.http import HttpRequest, HttpResponse
from django.test import Client, override_settings
from django.urls import path

from colleagues.roles import Role
from config import urls as intranet_urls
from knowledge.models import AuditEvent
from tests.factories import make_user

pytestmark = pytest.mark.django_db


def broken_view(request: HttpRequest) -> HttpResponse:
    raise RuntimeError("the database went away")


urlpatterns = [path("broken/", broken_view), *intranet_urls.urlpatterns]
handler500 = intranet_urls.handler500


def signed_in(*roles: Role) -> Client:
    client = Client(raise_request_exception=False)
    client.force_login(make_user("dana", roles=roles))  # type: ignore[arg-type]
    return client


def test_an_unknown_address_is_a_404_page_that_leads_back() -> None:
    response = signed_in(Role.EMPLOYEE).get("/no/such/page/")
    assert response.status_code == 404
    page = response.content.decode()
    assert "Page not found" in page
    assert "holds something you may not see" in page
    assert 'href="/"' in page
    assert '<nav aria-label="Main">' in page  # the intranet's layout, not Django's bare page


def test_a_refusal_is_a_403_page_that_says_why_and_is_audited() -> None:
    response = signed_in(Role.EMPLOYEE).get("/offboarding/")
    assert response.status_code == 403
    page = response.content.decode()
    assert "You may not do this" in page
    assert "Only HR runs offboarding." in page  # the view's own reason
    assert "recorded in the audit trail" in page
    assert AuditEvent.objects.filter(action="access_denied", target="path:/offboarding/").exists()


def test_a_post_without_its_csrf_token_gets_the_expired_form_page() -> None:
    client = Client(enforce_csrf_checks=True)
    client.force_login(make_user("dana"))  # type: ignore[arg-type]
    response = client.post("/logout/")
    assert response.status_code == 403
    assert "This form has expired" in response.content.decode()


@override_settings(ROOT_URLCONF="tests.test_error_pages")
def test_a_server_error_is_a_500_page_naming_the_request_id() -> None:
    client = Client(raise_request_exception=False)
    response = client.get("/broken/", HTTP_X_REQUEST_ID="req-7f3a")
    assert response.status_code == 500
    page = response.content.decode()
    assert "Something went wrong on our side" in page
    assert "<code>req-7f3a</code>" in page
    assert response["X-Request-ID"] == "req-7f3a"
    assert "the database went away" not in page  # no internals shown

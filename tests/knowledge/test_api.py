"""The REST API: schema, token authentication, directory and search shapes."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from tests.knowledge.conftest import Org

pytestmark = pytest.mark.django_db


def test_schema_and_docs_are_served(org: Org) -> None:
    client = APIClient()
    client.force_authenticate(org.alice_user)
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert schema.status_code == 200
    paths = schema.json()["paths"]
    assert {"/api/colleagues/", "/api/items/", "/api/search/", "/api/items/{item_id}/"} <= set(
        paths
    )
    docs = client.get("/api/docs/")
    assert docs.status_code == 200
    assert b"swagger-ui" in docs.content.lower()


def test_token_authentication(org: Org) -> None:
    client = APIClient()
    obtained = client.post(
        "/api/auth/token/", {"username": "alice", "password": "correct horse battery"}
    )
    assert obtained.status_code == 200
    token = obtained.json()["token"]
    assert Token.objects.get(key=token).user == org.alice_user
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    assert client.get("/api/colleagues/").status_code == 200
    client.credentials(HTTP_AUTHORIZATION="Token not-a-real-token")
    assert client.get("/api/colleagues/").status_code == 401


def test_directory_filters_and_detail(org: Org) -> None:
    client = APIClient()
    client.force_authenticate(org.carol_user)
    rows = client.get("/api/colleagues/", {"q": "alice"}).json()["results"]
    assert [r["email"] for r in rows] == ["alice@acme.test"]
    detail = client.get(f"/api/colleagues/{org.alice.slug}/").json()
    assert detail["items_by_source"] == [
        {"source": "acme-slack", "kind": "slack-export", "items": 1}
    ]
    assert client.get("/api/colleagues/nobody-here/").status_code == 404


def test_search_shape_matches_the_command_line_contract(org: Org) -> None:
    client = APIClient()
    client.force_authenticate(org.alice_user)
    results = client.get("/api/search/", {"q": "billing keys"}).json()["results"]
    assert results
    assert set(results[0]) == {
        "item_id",
        "colleague",
        "excerpt",
        "score",
        "source",
        "created_at",
        "url",
    }
    assert results[0]["colleague"] == "alice@acme.test"
    assert "\ue000" not in results[0]["excerpt"]
    scoped = client.get("/api/search/", {"q": "quarter", "colleague": org.carol.slug}).json()
    assert {r["colleague"] for r in scoped["results"]} == {"carol@acme.test"}


def test_item_list_query_count_does_not_grow_with_items(org: Org) -> None:
    client = APIClient()
    client.force_authenticate(org.alice_user)
    with CaptureQueriesContext(connection) as queries:
        response = client.get("/api/items/")
    assert response.status_code == 200
    assert len(response.json()["results"]) == 5
    # session/user, reader identities, count, page: independent of the number of items.
    assert len(queries) <= 6

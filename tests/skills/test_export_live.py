"""`export_skill --live`: a skill that points at the live MCP server and bundles no content."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command
from django.db.models import Value
from django.db.models.functions import Concat

from colleagues.models import Colleague
from knowledge.models import AuditEvent, Item
from skills.actions import build_package
from tests.skills.conftest import Demo
from tests.skills.test_packages import check_agent_skill

pytestmark = pytest.mark.django_db

DANA = "dana.kowalski@northwind.example"
CANARY = "zorblefritzquux"
TOOLS = ("ask_colleague", "who_knows", "search", "style_check", "answer_as")


@pytest.fixture
def dana(demo_company: Demo) -> Colleague:
    """Dana, with the canary word in every item she wrote, and a package built from them."""
    person = Colleague.objects.get(email=DANA)
    Item.objects.filter(author__colleague=person).update(body=Concat("body", Value(f" {CANARY}")))
    build_package(person)
    return person


def texts(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): p.read_text(encoding="utf-8")
        for p in folder.rglob("*")
        if p.is_file()
    }


def test_live_export_names_the_server_and_bundles_no_content(
    dana: Colleague, tmp_path: Path
) -> None:
    full = tmp_path / "full"
    call_command("export_skill", DANA, "--out", str(full), stdout=io.StringIO())
    assert CANARY in "".join(texts(full / "dana-kowalski").values())  # the canary is live

    out = io.StringIO()
    call_command(
        "export_skill", DANA, "--out", str(tmp_path / "live"), "--live", "--json", stdout=out
    )
    folder = Path(json.loads(out.getvalue())["path"])
    assert folder.name == "dana-kowalski"
    check_agent_skill(folder, files=("SKILL.md",))
    files = texts(folder)
    assert sorted(files) == ["SKILL.md", "meta.json"]
    for name, text in files.items():
        assert CANARY not in text, name
    skill = files["SKILL.md"]
    url = settings.COLLEAGUE_BASE_URL.rstrip("/") + "/mcp/"
    assert url in skill
    assert "mcp_serve --user" in skill
    for file in ("SKILL.md", "work.md", "persona.md"):
        assert f"colleague://{dana.slug}/{file}" in skill
    assert f"`{dana.slug}`" in skill
    for tool in TOOLS:
        assert f"`{tool}`" in skill
    assert json.loads(files["meta.json"])["mcp"] == url
    event = AuditEvent.objects.filter(action="skill.exported").latest("id")
    assert event.detail["via"] == "live folder"
    assert event.detail["cited_items"] == []

    # Again into the same place: the earlier live export is replaced.
    call_command(
        "export_skill", DANA, "--out", str(tmp_path / "live"), "--live", stdout=io.StringIO()
    )
    assert [p.name for p in (tmp_path / "live").iterdir()] == ["dana-kowalski"]
    # A zip holds the same two files and no content either.
    archive = tmp_path / "live.zip"
    call_command("export_skill", DANA, "--out", str(archive), "--live", stdout=io.StringIO())
    with zipfile.ZipFile(archive) as z:
        assert sorted(z.namelist()) == ["dana-kowalski/SKILL.md", "dana-kowalski/meta.json"]
        assert all(CANARY not in z.read(n).decode() for n in z.namelist())


def test_normal_export_is_unchanged(dana: Colleague, tmp_path: Path) -> None:
    call_command("export_skill", DANA, "--out", str(tmp_path), stdout=io.StringIO())
    files = texts(tmp_path / "dana-kowalski")
    assert {"SKILL.md", "work.md", "persona.md", "meta.json"} <= set(files)
    assert "/mcp/" not in files["SKILL.md"]
    assert "live" not in json.loads(files["meta.json"])

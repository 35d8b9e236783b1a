"""Skill packages of the demo company: built, shown to each reader as they may see it,
corrected, versioned, rolled back, exported as AgentSkills folders and matched by style."""

from __future__ import annotations

import io
import json
import re
import zipfile
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractUser
from django.core.management import CommandError, call_command
from django.test import Client
from django.utils import timezone

from colleagues.actions import link_login
from colleagues.models import Colleague
from colleagues.roles import Role
from knowledge.models import AuditEvent, Item
from knowledge.selectors import items_by, items_visible_to
from knowledge.visibility import Reader, reader_for
from skills.actions import (
    add_correction,
    build_package,
    build_packages,
    colleagues_with_new_material,
    rollback,
)
from skills.export import export_package
from skills.models import SkillPackage, SkillVersion
from skills.selectors import diff_versions, package_view, version_of
from tests.factories import give_roles
from tests.skills.conftest import Demo

pytestmark = pytest.mark.django_db

DANA = "dana.kowalski@northwind.example"
LINK = re.compile(r"\]\(([^)\s]+)\)")


@pytest.fixture(scope="module")
def packages(demo_company: Demo, django_db_blocker: Any) -> dict[str, SkillVersion]:
    """Every demo colleague's package, built once for the module (rolled back with the demo)."""
    with django_db_blocker.unblock():
        outcomes = build_packages(Colleague.objects.order_by("name"))
        assert [o.error for o in outcomes if o.version is None] == []
        return {
            o.colleague.email: SkillVersion.objects.get(pk=o.version.pk)
            for o in outcomes
            if o.version is not None
        }


@pytest.fixture
def engineer(demo_company: Demo) -> AbstractUser:
    """Tom, a platform engineer: public channels and his own DMs and mail only."""
    user = get_user_model().objects.create_user("tom", email="tom.becker@northwind.example")
    link_login(colleague=Colleague.objects.get(email="tom.becker@northwind.example"), user=user)
    return user


def people(demo: Demo) -> list[dict[str, Any]]:
    return [p for p in demo.truth["people"] if p["email"]]


def test_each_package_names_the_persons_systems_and_topics_and_quotes_their_pet_phrases(
    demo_company: Demo, packages: dict[str, SkillVersion]
) -> None:
    """The generator's truth: every system it gave a person is in their work.md, so is at least
    one of their topics (and 40% of all topics), and at least one of their pet phrases is quoted
    in persona.md (measured: all systems, 49 of 101 topics, 35 of 51 phrases)."""
    topics_named, topics_given = 0, 0
    for person in people(demo_company):
        files = packages[person["email"]].files
        work, persona = files["work.md"].lower(), files["persona.md"].lower()
        assert all(s.lower() in work for s in person["owned_systems"]), person["name"]
        named = [t for t in person["topics"] if t.lower() in work]
        assert named, f"no topic of {person['name']} in work.md"
        topics_named += len(named)
        topics_given += len(person["topics"])
        quoted = [p for p in person["pet_phrases"] if p.lower().rstrip("?.!") in persona]
        assert quoted, f"no pet phrase of {person['name']} in persona.md"
    assert topics_named >= 0.4 * topics_given, f"{topics_named} of {topics_given} topics"


def test_every_evidence_link_resolves_to_an_excerpt_of_an_item_in_the_package(
    packages: dict[str, SkillVersion],
) -> None:
    for version in packages.values():
        files = version.files
        anchors = set(re.findall(r'<a id="(item-\d+)"></a>', files["references/evidence.md"]))
        for name in ("SKILL.md", "work.md", "persona.md"):
            for target in LINK.findall(files[name]):
                path, _, anchor = target.partition("#")
                assert path in files, f"{name} links to missing {path}"
                if anchor:
                    assert anchor in anchors, f"{name} cites {anchor}, not in the references"
        cited = {int(a.removeprefix("item-")) for a in anchors}
        assert cited, f"{version.package.colleague} cites nothing"
        assert Item.objects.filter(pk__in=cited).count() == len(cited)


def test_a_reader_never_sees_what_they_may_not_see_at_the_source(
    demo_company: Demo, packages: dict[str, SkillVersion], engineer: AbstractUser
) -> None:
    canaries = [c["canary"] for c in demo_company.truth["channels"] if c["canary"]]
    reader = reader_for(engineer)
    leaked = []
    seen_by_operator = False
    for version in packages.values():
        operator_view = json.dumps(version.files)
        seen_by_operator |= any(c in operator_view for c in canaries)
        view = package_view(reader, version)
        shown = json.dumps(view.files.files) + json.dumps(view.analysis)
        leaked += [(version.package.colleague.name, c) for c in canaries if c in shown]
    assert seen_by_operator, "the canaries should be in the full-access packages"
    assert leaked == []


def test_every_cited_item_is_visible_to_the_reader(
    packages: dict[str, SkillVersion], engineer: AbstractUser
) -> None:
    reader = reader_for(engineer)
    for version in packages.values():
        cited = set(package_view(reader, version).files.cited)
        visible = set(items_visible_to(reader).filter(pk__in=cited).values_list("pk", flat=True))
        assert cited == visible
        assert cited, f"{version.package.colleague}: nothing public to cite"


def test_style_match_ranks_the_true_author_of_held_out_messages_first(
    demo_company: Demo, packages: dict[str, SkillVersion]
) -> None:
    lines = demo_company.company.heldout.read_text(encoding="utf-8").splitlines()
    out = io.StringIO()
    call_command("style_match", "--input", str(demo_company.company.heldout), stdout=out)
    answers = [json.loads(line) for line in out.getvalue().splitlines()]
    assert len(answers) == len(lines)
    right: dict[str, int] = {}
    for line, answer in zip(lines, answers, strict=True):
        email = json.loads(line)["email"]
        top = answer["results"][0]["colleague"]["email"]
        right[email] = right.get(email, 0) + (top == email)
    held = {json.loads(line)["email"] for line in lines}
    mostly_first = [
        email
        for email in held
        if right.get(email, 0) * 2 > sum(json.loads(line)["email"] == email for line in lines)
    ]
    assert len(mostly_first) >= 0.8 * len(held), right


def test_style_match_json_follows_the_contract(packages: dict[str, SkillVersion]) -> None:
    out = io.StringIO()
    call_command("style_match", "Touch wood. Cheers, Dana", "--limit", "3", "--json", stdout=out)
    result = json.loads(out.getvalue())
    assert len(result["results"]) == 3
    for row in result["results"]:
        assert set(row["colleague"]) >= {"email", "name"}
        assert 0.0 <= row["score"] <= 1.0
    scores = [row["score"] for row in result["results"]]
    assert scores == sorted(scores, reverse=True)


def test_a_correction_takes_priority_and_survives_a_rebuild(
    packages: dict[str, SkillVersion],
) -> None:
    dana = Colleague.objects.get(email=DANA)
    package = SkillPackage.objects.get(colleague=dana)
    before = version_of(dana)
    assert before is not None
    assert "touch wood" in before.files["persona.md"].lower()
    corrected = add_correction(
        package,
        kind="style",
        wrong="touch wood",
        right="knock on wood",
        user=get_user_model().objects.create_user("lucia"),
    )
    assert corrected.number == before.number + 1
    assert corrected.reason == SkillVersion.Reason.CORRECTION

    def expression_and_corrections(version: SkillVersion) -> tuple[str, str]:
        persona = version.files["persona.md"]
        layer2 = persona.split("## Layer 2")[1].split("## Layer 3")[0]
        layer5 = persona.split("## Layer 5")[1]
        return layer2.lower(), layer5

    layer2, layer5 = expression_and_corrections(corrected)
    assert "touch wood" not in layer2
    assert "knock on wood" in layer5
    assert "lucia" in layer5
    rebuilt = build_package(dana)
    layer2, layer5 = expression_and_corrections(rebuilt)
    assert "touch wood" not in layer2
    assert "knock on wood" in layer5
    assert rebuilt.corrections[0]["right"] == "knock on wood"


def test_versions_are_immutable_diffable_and_can_be_rolled_back(
    packages: dict[str, SkillVersion], settings: Any
) -> None:
    dana = Colleague.objects.get(email=DANA)
    package = SkillPackage.objects.get(colleague=dana)
    first = version_of(dana)
    assert first is not None
    with pytest.raises(ValueError, match="immutable"):
        first.save()
    corrected = add_correction(
        package, kind="work", wrong="", right="Owns the PAY Jira board.", user=None
    )
    diffs = {d.path: d for d in diff_versions(Reader.operator(), first, corrected) if d.changed}
    assert set(diffs) == {"work.md", "meta.json"}
    assert any(line.startswith("+") and "PAY Jira board" in line for line in diffs["work.md"].lines)
    restored = rollback(package, number=first.number, user=None)
    assert restored.number == corrected.number + 1
    assert restored.restored_from == first.number
    assert restored.analysis == first.analysis
    settings.COLLEAGUE_SKILL_KEEP_VERSIONS = 2
    build_package(dana)
    assert list(package.versions.values_list("number", flat=True)) == [
        restored.number + 1,
        restored.number,
    ]


def test_new_material_marks_a_package_stale_and_the_rebuild_picks_it_up(
    packages: dict[str, SkillVersion],
) -> None:
    dana = Colleague.objects.get(email=DANA)
    assert dana not in colleagues_with_new_material()
    item = items_by(Reader.operator(), dana).first()
    assert item is not None
    item.pk = None
    item.external_id = "new-material"
    item.body = "A brand new note about the ledger freeze."
    item.save()
    assert dana in colleagues_with_new_material()
    from skills.tasks import rebuild_stale_packages

    assert rebuild_stale_packages() == {"built": 1, "failed": 0}
    newest = version_of(dana)
    assert newest is not None
    assert newest.reason == SkillVersion.Reason.NEW_MATERIAL
    assert dana not in colleagues_with_new_material()


def check_agent_skill(
    folder: Path, files: tuple[str, ...] = ("SKILL.md", "work.md", "persona.md")
) -> dict[str, Any]:
    """Check `folder` as an AgentSkills skill (agentskills.io specification) holding `files`
    (their relative links resolve) and meta.json; return its frontmatter."""
    text = (folder / "SKILL.md").read_text(encoding="utf-8")
    assert text.startswith("---\n")
    front, _, body = text[4:].partition("\n---\n")
    meta = yaml.safe_load(front)
    assert re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", meta["name"])
    assert len(meta["name"]) <= 64
    assert meta["name"] == folder.name
    assert 0 < len(meta["description"]) <= 1024
    assert all(isinstance(v, str) for v in meta.get("metadata", {}).values())
    assert len(body.splitlines()) < 500
    for name in files:
        for target in LINK.findall((folder / name).read_text(encoding="utf-8")):
            if "://" not in target:
                assert (folder / target.partition("#")[0]).is_file(), target
    json.loads((folder / "meta.json").read_text(encoding="utf-8"))
    return meta


def test_export_is_an_agent_skills_folder_with_only_what_the_exporter_may_see(
    demo_company: Demo, packages: dict[str, SkillVersion], engineer: AbstractUser, tmp_path: Path
) -> None:
    out = io.StringIO()
    call_command("export_skill", DANA, "--out", str(tmp_path), "--as", "tom", "--json", stdout=out)
    result = json.loads(out.getvalue())
    folder = Path(result["path"])
    assert folder.parent == tmp_path
    assert folder.name == "dana-kowalski"
    check_agent_skill(folder)
    exported = "".join(p.read_text(encoding="utf-8") for p in folder.rglob("*") if p.is_file())
    assert "postmortem draft" not in exported
    event = AuditEvent.objects.filter(action="skill.exported").latest("id")
    assert event.actor == engineer
    assert event.detail["version"] == result["version"]
    # Again into the same place: the earlier export is replaced, nothing else is left around.
    call_command("export_skill", DANA, "--out", str(tmp_path), stdout=io.StringIO())
    assert [p.name for p in tmp_path.iterdir()] == ["dana-kowalski"]
    # A zip holds the same folder.
    archive = tmp_path / "dana.zip"
    call_command("export_skill", DANA, "--out", str(archive), stdout=io.StringIO())
    with zipfile.ZipFile(archive) as z:
        z.extractall(tmp_path / "unzipped")
    check_agent_skill(tmp_path / "unzipped" / "dana-kowalski")


def test_export_refuses_to_replace_a_folder_it_did_not_write(
    packages: dict[str, SkillVersion], tmp_path: Path
) -> None:
    (tmp_path / "dana-kowalski").mkdir()
    (tmp_path / "dana-kowalski" / "notes.txt").write_text("mine")
    with pytest.raises(CommandError, match="not an earlier export"):
        call_command("export_skill", DANA, "--out", str(tmp_path))
    assert (tmp_path / "dana-kowalski" / "notes.txt").read_text() == "mine"
    with pytest.raises(CommandError, match="no colleague"):
        call_command("export_skill", "nobody@northwind.example", "--out", str(tmp_path))


def test_build_skills_json_follows_the_contract(packages: dict[str, SkillVersion]) -> None:
    out = io.StringIO()
    call_command("build_skills", "--colleague", DANA, "--json", stdout=out)
    result = json.loads(out.getvalue())
    [row] = result["packages"]
    assert row["colleague"] == DANA
    assert row["version"] >= 2
    assert row["items"] > 100
    assert row["seconds"] > 0


def test_the_package_page_and_api_show_the_readers_view(
    packages: dict[str, SkillVersion], engineer: AbstractUser
) -> None:
    client = Client()
    client.force_login(engineer)
    page = client.get("/colleagues/dana-kowalski/skill/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "billing-svc" in html
    assert "<svg" in html
    assert "postmortem draft" not in html
    api = client.get("/api/colleagues/dana-kowalski/skill/").json()
    assert api["name"] == "dana-kowalski"
    assert "postmortem draft" not in json.dumps(api)
    assert "fingerprint" not in api["analysis"].get("style", {})
    download = client.get("/colleagues/dana-kowalski/skill/download/")
    assert download["Content-Type"] == "application/zip"
    with zipfile.ZipFile(io.BytesIO(download.content)) as z:
        assert "dana-kowalski/SKILL.md" in z.namelist()
    assert AuditEvent.objects.filter(action="skill.exported", actor=engineer).count() == 1
    # Rolling back is for the package's curators.
    response = client.post("/colleagues/dana-kowalski/skill/versions/1/restore/")
    assert response.status_code == 403
    assert (
        client.post("/api/colleagues/dana-kowalski/skill/rollback/", {"version": 1}).status_code
        == 403
    )


def test_a_correction_from_the_page_writes_a_version(
    packages: dict[str, SkillVersion], engineer: AbstractUser
) -> None:
    client = Client()
    client.force_login(engineer)
    correction = {"kind": "style", "wrong": "Belt and braces", "right": "Better safe than sorry"}
    # Corrections are for the package's curators (and the colleague themself).
    assert (
        client.post("/colleagues/dana-kowalski/skill/corrections/", correction).status_code == 403
    )
    give_roles(engineer, Role.CURATOR)
    before = version_of(Colleague.objects.get(email=DANA))
    assert before is not None
    response = client.post(
        "/colleagues/dana-kowalski/skill/corrections/",
        {"kind": "style", "wrong": "Belt and braces", "right": "Better safe than sorry"},
    )
    assert response.status_code == 302
    after = version_of(Colleague.objects.get(email=DANA))
    assert after is not None
    assert after.number == before.number + 1
    assert after.corrections[-1]["by"] == "tom"
    empty = client.post("/colleagues/dana-kowalski/skill/corrections/", {"kind": "style"})
    assert empty.status_code == 302
    assert version_of(Colleague.objects.get(email=DANA)).number == after.number  # type: ignore[union-attr]


def test_export_package_without_a_build_is_refused(demo_company: Demo, tmp_path: Path) -> None:
    from skills.export import ExportRefused

    nobody = Colleague.objects.create(
        name="New Hire", email="new.hire@northwind.example", slug="new-hire"
    )
    with pytest.raises(ExportRefused, match="no skill package"):
        export_package(Reader.operator(), nobody, tmp_path)


def test_rebuild_all_queues_every_package_and_the_page_follows_progress(
    packages: dict[str, SkillVersion], engineer: AbstractUser
) -> None:
    """The view queues; the queued work is `rebuild_stale_packages` (run here directly: the
    background thread of the embedded mode cannot see this test's uncommitted data, so the
    browser test clicks the button for real)."""
    client = Client()
    client.force_login(engineer)
    assert client.get("/skills/").status_code == 403  # curators only
    curator = get_user_model().objects.create_user("curator")
    give_roles(curator, Role.CURATOR)
    client.force_login(curator)
    before = {v.package_id: v.number for v in packages.values()}
    assert client.post("/skills/rebuild/").status_code == 302
    page = client.get("/skills/").content.decode()
    assert f"Waiting for a rebuild: {len(before)}" in page
    assert "every 3s" in page  # the page follows the progress
    from skills.tasks import rebuild_stale_packages

    assert rebuild_stale_packages() == {"built": len(before), "failed": 0}
    for package in SkillPackage.objects.filter(pk__in=before):
        assert package.status == SkillPackage.Status.FRESH
        assert version_of(package.colleague).number == before[package.pk] + 1  # type: ignore[union-attr]
    page = client.get("/skills/").content.decode()
    assert f"Up to date: {len(before)}" in page
    assert "every 3s" not in page


def test_a_build_that_died_is_rebuilt(packages: dict[str, SkillVersion]) -> None:
    dana = Colleague.objects.get(email=DANA)
    SkillPackage.objects.filter(colleague=dana).update(
        status=SkillPackage.Status.BUILDING, updated_at=timezone.now() - timedelta(hours=1)
    )
    assert dana in colleagues_with_new_material()
    SkillPackage.objects.filter(colleague=dana).update(updated_at=timezone.now())
    assert dana not in colleagues_with_new_material()  # a build running now is left alone

"""SlackExportConnector on real exports: what a user of the captured knowledge would notice."""

from __future__ import annotations

import dataclasses
import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import ClassVar

import pytest

from connectors.base import Audience, Connector, PersonRef, SourceBatch
from connectors.errors import ConnectorConfigError
from connectors.registry import connector_class
from connectors.slack.export import ExportLimits, SlackExportConnector, parse_cursor
from tests.connectors.contract import ConnectorContract
from tests.connectors.hostile.harness import bounded
from tests.connectors.slack.builders import (
    EXPORT_2016,
    WORKSPACE,
    by_id,
    connector,
    copy_export,
    documents,
    fetch,
    private_export,
    thread_export,
    write_export,
    zip_folder,
)


class TestZipExportContract(ConnectorContract):
    @pytest.fixture(autouse=True)
    def _export(self, tmp_path: Path) -> None:
        self.path = zip_folder(EXPORT_2016, tmp_path / "export.zip")

    def make_connector(self) -> Connector:
        return connector(self.path)


class TestFolderExportContract(ConnectorContract):
    def make_connector(self) -> Connector:
        return connector(EXPORT_2016)


class TestPrivateExportContract(ConnectorContract):
    @pytest.fixture(autouse=True)
    def _export(self, tmp_path: Path) -> None:
        self.path = zip_folder(private_export(tmp_path / "acme"), tmp_path / "acme.zip")

    def make_connector(self) -> Connector:
        return connector(self.path)


@pytest.fixture(scope="module")
def export_2016() -> list[SourceBatch]:
    return fetch(EXPORT_2016, workspace_url="https://mesos-magellan.slack.com")


def test_registry_knows_the_slack_export_kind() -> None:
    assert connector_class("slack-export") is SlackExportConnector


def test_mentions_are_rendered_as_display_names(export_2016: list[SourceBatch]) -> None:
    document = by_id(export_2016)["C0JGLMMNX/1452837352.000006"]
    assert document.body.startswith("@abilinski: Created an issue for a setup.py")
    assert document.metadata["mentions"] == [f"{WORKSPACE}/U0BMYT2FL"]


def test_links_are_rendered_with_their_target(export_2016: list[SourceBatch]) -> None:
    document = by_id(export_2016)["C0JGLMMNX/1452846025.000011"]
    assert document.body.startswith(
        "Here's an example: https://github.com/hfaran/progressive/blob/master/setup.py"
    )
    # The unfurled link's attachment text is kept as knowledge too.
    assert "Colorful progress bars" in document.body


def test_every_person_ref_uses_the_workspace_team_id(export_2016: list[SourceBatch]) -> None:
    first = export_2016[0]
    refs = [person.ref for person in first.people]
    refs += [member for container in first.containers for member in container.members]
    refs += [document.author for document in documents(export_2016) if document.author]
    assert refs
    assert all(ref.kind == "slack" and ref.value.startswith(f"{WORKSPACE}/") for ref in refs)
    mentioned = [value for doc in documents(export_2016) for value in doc.metadata["mentions"]]
    assert all(value.startswith(f"{WORKSPACE}/") for value in mentioned)


def test_people_carry_their_profiles(export_2016: list[SourceBatch]) -> None:
    people = {person.ref.value: person for person in export_2016[0].people}
    hermione = people[f"{WORKSPACE}/U0BMS113R"]
    assert (hermione.display_name, hermione.real_name) == ("doubledeez", "Hermione Granger")
    assert hermione.title == "Eat Monkeys"
    assert not hermione.is_bot


def test_system_messages_are_skipped(export_2016: list[SourceBatch]) -> None:
    found = by_id(export_2016)
    joins = [f"C0JGLMMNX/1452837318.00000{n}" for n in range(2, 6)]
    bot_add = "C0JGLMMNX/1452988746.000017"
    assert not set(found) & {*joins, bot_add}
    assert not any("has joined the channel" in doc.body for doc in found.values())


def test_bot_messages_are_attributed_to_a_bot_person(export_2016: list[SourceBatch]) -> None:
    document = by_id(export_2016)["C0JGLMMNX/1454892394.000004"]
    bot = PersonRef("slack", f"{WORKSPACE}/B0JL6RASU")
    assert document.author == bot
    assert "executor with simulated annealing rough draft" in document.body
    person = {person.ref: person for person in export_2016[0].people}[bot]
    # Named from the bot_add event that installed it ("...|github>").
    assert (person.is_bot, person.display_name) == (True, "github")


def test_an_edit_gives_the_edited_text_and_time(export_2016: list[SourceBatch]) -> None:
    document = by_id(export_2016)["C0JL6CGQ2/1458972985.000010"]
    assert document.created_at == datetime(2016, 3, 26, 6, 16, 25, 10, tzinfo=UTC)
    assert document.updated_at == datetime(2016, 3, 26, 8, 32, 14, tzinfo=UTC)
    assert document.metadata["edited"] is True


def test_shared_files_bring_their_title_and_preview(export_2016: list[SourceBatch]) -> None:
    document = by_id(export_2016)["C0JL6CGQ2/1459052866.000012"]
    assert "File: 100 cities (100_cities.js)" in document.body
    assert "Holmesville" in document.body
    assert document.metadata["files"] == ["100_cities.js"]


def test_reactions_and_links_are_kept(export_2016: list[SourceBatch]) -> None:
    document = by_id(export_2016)["C0JGLMMNX/1459154014.000018"]
    assert document.metadata["reactions"] == [{"name": "botman", "count": 1}]
    assert document.url == "https://mesos-magellan.slack.com/archives/C0JGLMMNX/p1459154014000018"
    assert document.title == "#enrique"


def test_public_channels_are_public(export_2016: list[SourceBatch]) -> None:
    assert all(doc.audience == Audience(public=True) for doc in documents(export_2016))
    assert {c.name: c.kind for c in export_2016[0].containers} == {
        "enrique": "channel",
        "traveling-sailor": "channel",
    }


def test_one_batch_per_channel_with_a_cumulative_cursor(export_2016: list[SourceBatch]) -> None:
    assert [len(batch.documents) for batch in export_2016] == [96, 51]
    assert {doc.container_id for doc in export_2016[0].documents} == {"C0JGLMMNX"}
    # The cursor is opaque; what it says about how far each channel was read is this.
    assert parse_cursor(export_2016[0].cursor).ts == {"C0JGLMMNX": "1459233874.000036"}
    assert parse_cursor(export_2016[1].cursor).ts == {
        "C0JGLMMNX": "1459233874.000036",
        "C0JL6CGQ2": "1459254786.000027",
    }
    assert not export_2016[1].people
    assert not export_2016[1].containers


def test_messages_come_oldest_first_within_a_channel(export_2016: list[SourceBatch]) -> None:
    times = [document.created_at for document in export_2016[0].documents]
    assert times == sorted(times)


def test_zip_and_folder_give_identical_batches(tmp_path: Path) -> None:
    from_folder = fetch(EXPORT_2016)
    from_zip = fetch(zip_folder(EXPORT_2016, tmp_path / "export.zip"))
    # Some tools zip the export's folder itself: the same export one level down.
    nested = fetch(zip_folder(EXPORT_2016, tmp_path / "nested.zip", top="Mesos Magellan/"))
    assert from_folder == from_zip == nested


def test_external_ids_are_stable_across_runs_and_copies(tmp_path: Path) -> None:
    first = [doc.external_id for doc in documents(fetch(EXPORT_2016))]
    copied = copy_export(EXPORT_2016, tmp_path / "copy")
    assert [doc.external_id for doc in documents(fetch(copied))] == first
    assert sorted(connector(copied).list_external_ids()) == sorted(first)


def test_resuming_yields_people_and_containers_but_no_documents(
    export_2016: list[SourceBatch],
) -> None:
    resumed = fetch(EXPORT_2016, cursor=export_2016[-1].cursor)
    assert len(resumed) == 1
    assert not resumed[0].documents
    assert resumed[0].people == export_2016[0].people
    assert resumed[0].containers == export_2016[0].containers
    assert resumed[0].cursor == export_2016[-1].cursor


def test_a_message_appended_later_is_the_only_thing_yielded_on_resume(tmp_path: Path) -> None:
    export = copy_export(EXPORT_2016, tmp_path / "export")
    cursor = fetch(export)[-1].cursor
    write_export(
        export,
        {
            "traveling-sailor/2016-03-30.json": [
                {
                    "type": "message",
                    "user": "U0BMQB6JE",
                    "text": "v2 is out",
                    "ts": "1459340000.000001",
                }
            ]
        },
    )
    resumed = fetch(export, cursor=cursor)
    assert [doc.external_id for doc in documents(resumed)] == ["C0JL6CGQ2/1459340000.000001"]
    assert parse_cursor(resumed[-1].cursor).ts["C0JL6CGQ2"] == "1459340000.000001"
    assert not documents(fetch(export, cursor=resumed[-1].cursor))


def test_an_edit_after_the_cursor_yields_the_edited_message_again(tmp_path: Path) -> None:
    export = copy_export(EXPORT_2016, tmp_path / "export")
    cursor = fetch(export)[-1].cursor
    write_export(
        export,
        {
            "enrique/2016-03-30.json": [
                {
                    "type": "message",
                    "subtype": "message_changed",
                    "hidden": True,
                    "ts": "1459340000.000002",
                    "message": {
                        "type": "message",
                        "user": "U0BMQB6JE",
                        "text": "Need that done before it can be used in Vancouver",
                        "ts": "1452837359.000007",
                        "edited": {"user": "U0BMQB6JE", "ts": "1459340000.000000"},
                    },
                }
            ]
        },
    )
    (edited,) = documents(fetch(export, cursor=cursor))
    assert edited.external_id == "C0JGLMMNX/1452837359.000007"
    assert edited.body.endswith("Vancouver")
    assert edited.updated_at == datetime(2016, 3, 30, 12, 13, 20, tzinfo=UTC)
    # A full fetch keeps one version of the message: the edited one.
    everything = [doc for doc in documents(fetch(export)) if doc.external_id == edited.external_id]
    assert everything == [edited]


class _SmallBatches(SlackExportConnector):
    limits: ClassVar[ExportLimits] = dataclasses.replace(ExportLimits(), max_batch_documents=10)


def test_big_channels_are_split_and_any_cursor_resumes_exactly(tmp_path: Path) -> None:
    config = {"path": str(EXPORT_2016)}
    batches = list(_SmallBatches(config=config, credentials={}).fetch(cursor=None))
    assert [len(batch.documents) for batch in batches] == [10] * 9 + [6] + [10] * 5 + [1]
    assert batches[0].people
    assert not batches[1].people
    everything = [doc.external_id for doc in documents(batches)]
    for crashed_after in (0, 4, 9, 12):
        cursor = batches[crashed_after].cursor
        rest = list(_SmallBatches(config=config, credentials={}).fetch(cursor=cursor))
        done = everything[: sum(len(b.documents) for b in batches[: crashed_after + 1])]
        assert done + [doc.external_id for doc in documents(rest)] == everything


# --- threads (zulip's Slack importer fixtures) ---------------------------------------------


def test_thread_replies_are_keyed_to_their_root(tmp_path: Path) -> None:
    found = by_id(fetch(thread_export(tmp_path / "export")))
    root = found["C0RANDOM1/1434139102.000002"]
    reply = found["C0RANDOM1/1439868294.000007"]
    assert root.thread_id == root.external_id
    assert reply.thread_id == root.external_id
    assert found["C0RANDOM1/1449868294.000007"].thread_id == "C0RANDOM1/1539868294.000007"


def test_broadcast_replies_are_kept_in_their_thread(tmp_path: Path) -> None:
    found = by_id(fetch(thread_export(tmp_path / "export")))
    broadcast = found["C0ANNOUNC/1434139104.000002"]
    assert broadcast.body == "everyone should see this"
    assert broadcast.metadata["is_broadcast"] is True
    assert broadcast.thread_id == "C0ANNOUNC/1434139102.000002"
    assert found["C0ANNOUNC/1434139103.000002"].metadata["is_broadcast"] is False


def test_without_team_ids_people_are_keyed_by_the_configured_workspace(tmp_path: Path) -> None:
    export = thread_export(tmp_path / "export")
    jon = PersonRef("slack", "acme/U061A1R2R")
    batches = fetch(export, workspace="acme")
    people = {person.ref: person for person in batches[0].people}
    assert people[jon].email == "jon@example.com"
    assert by_id(batches)["C0ANNOUNC/1434139104.000002"].author == jon
    assert fetch(export)[0].people[0].ref.value.startswith("slack/")


# --- private channels, DMs, group DMs ------------------------------------------------------


@pytest.fixture
def acme(tmp_path: Path) -> list[SourceBatch]:
    return fetch(private_export(tmp_path / "acme"), workspace_url="https://acme.slack.com/")


def test_conversation_kinds_and_privacy(acme: list[SourceBatch]) -> None:
    containers = {c.external_id: c for c in acme[0].containers}
    assert {key: (c.kind, c.is_private) for key, c in containers.items()} == {
        "CPUBLIC01": ("channel", False),
        "GSECRET01": ("private_channel", True),
        "DALICEBOB": ("dm", True),
        "GMPIM0001": ("mpim", True),
    }
    assert containers["GSECRET01"].topic == "the merger"
    assert containers["DALICEBOB"].name == "DM: Alice, bob"
    assert containers["GMPIM0001"].name == "Group DM: Alice, bob, Carol"


def test_private_channel_messages_are_visible_to_members_only(acme: list[SourceBatch]) -> None:
    document = by_id(acme)["GSECRET01/1614600200.000100"]
    assert document.audience == Audience(containers=("GSECRET01",))
    assert not document.audience.public
    assert document.title == "#secret-project"
    assert document.body == "The merger closes Friday, @bob"


def test_dms_and_group_dms_are_visible_to_their_members_only(acme: list[SourceBatch]) -> None:
    found = by_id(acme)
    dm = found["DALICEBOB/1614690000.000100"]
    assert dm.audience == Audience(containers=("DALICEBOB",))
    assert dm.title == "DM: Alice, bob"
    assert dm.url == "https://acme.slack.com/archives/DALICEBOB/p1614690000000100"
    assert found["GMPIM0001/1614690100.000100"].audience == Audience(containers=("GMPIM0001",))


def test_only_the_public_channel_is_public(acme: list[SourceBatch]) -> None:
    public = {doc.container_id for doc in documents(acme) if doc.audience.public}
    assert public == {"CPUBLIC01"}


def test_a_join_makes_someone_a_member(acme: list[SourceBatch]) -> None:
    secret = {c.external_id: c for c in acme[0].containers}["GSECRET01"]
    assert secret.members == (
        PersonRef("slack", "TACME0001/UALICE001"),
        PersonRef("slack", "TACME0001/UBOB00001"),
    )


def test_joins_count_even_when_no_members_are_listed(tmp_path: Path) -> None:
    export = copy_export(EXPORT_2016, tmp_path / "export")
    channels = json.loads((export / "channels.json").read_text())
    for channel in channels:
        del channel["members"]
    write_export(export, {"channels.json": channels})
    enrique = {c.name: c for c in fetch(export)[0].containers}["enrique"]
    assert {ref.value for ref in enrique.members} == {
        f"{WORKSPACE}/{user}" for user in ("U0BMQB6JE", "U0BMYT2FL", "U0BMS113R", "U0BMM2FEH")
    }


def test_profiles_bots_and_guests_from_the_private_export(acme: list[SourceBatch]) -> None:
    people = {person.ref.value: person for person in acme[0].people}
    assert people["TACME0001/UALICE001"].email == "alice@example.com"
    # No display name set: the user name stands in, the real name is kept beside it.
    bob = people["TACME0001/UBOB00001"]
    assert (bob.display_name, bob.real_name) == ("bob", "Bob Baker")
    assert people["TACME0001/UCAROL001"].is_deleted
    assert people["TACME0001/UAPP00001"].is_bot
    # A guest from another workspace gets this export's key, like everyone else.
    assert by_id(acme)["GMPIM0001/1614690200.000100"].author == PersonRef(
        "slack", "TACME0001/UGUEST001"
    )


def test_public_message_renders_channel_links_and_entities(acme: list[SourceBatch]) -> None:
    found = by_id(acme)
    assert found["CPUBLIC01/1614600000.000100"].body == "hello @here"
    assert found["CPUBLIC01/1614600060.000200"].body == "see #secret-project & a@b.co"


def test_a_deleted_message_is_not_yielded(tmp_path: Path) -> None:
    export = private_export(tmp_path / "acme")
    write_export(
        export,
        {
            "general/2021-03-02.json": [
                {
                    "type": "message",
                    "subtype": "message_deleted",
                    "hidden": True,
                    "deleted_ts": "1614600000.000100",
                    "ts": "1614690000.000001",
                }
            ]
        },
    )
    assert "CPUBLIC01/1614600000.000100" not in by_id(fetch(export))
    assert "CPUBLIC01/1614600000.000100" not in set(connector(export).list_external_ids())


def test_a_folder_matching_no_conversation_is_reported_and_skipped(tmp_path: Path) -> None:
    export = private_export(tmp_path / "acme")
    write_export(
        export, {"ghost/2021-03-01.json": [{"user": "UALICE001", "text": "boo", "ts": "1.0"}]}
    )
    batches = fetch(export)
    (failure,) = batches[0].failures
    assert failure.path == "acme:ghost/"
    assert failure.error_type == "CorruptFile"
    assert not any(doc.body == "boo" for doc in documents(batches))


# --- config --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "config",
    [
        {},
        {"path": ""},
        {"path": "/nonexistent/export.zip"},
        {"path": str(EXPORT_2016), "workspace_url": "ftp://acme"},
        {"path": str(EXPORT_2016), "workspace_url": "https://acme.slack.com/?x"},
    ],
)
def test_validate_refuses_bad_config(config: dict[str, str]) -> None:
    with pytest.raises(ConnectorConfigError):
        SlackExportConnector(config=config, credentials={}).validate()


def test_validate_checks_the_config_and_fetch_reports_what_is_not_a_slack_export(
    tmp_path: Path,
) -> None:
    # What the path holds is no configuration error: the sync quarantines it and goes on.
    write_export(tmp_path / "notes", {"readme.json": {"hello": "world"}})
    (tmp_path / "notes.zip").write_bytes(b"PK but not really a zip")
    for path in (tmp_path / "notes", tmp_path / "notes.zip"):
        connector(path).validate()
        (batch,) = fetch(path)
        (failure,) = batch.failures
        assert (failure.path, failure.error_type) == (path.name, "CorruptFile")
        assert failure.file == str(path)
        assert not batch.documents
    connector(EXPORT_2016).validate()
    connector(zip_folder(EXPORT_2016, tmp_path / "export.zip")).validate()


def test_validate_refuses_a_path_that_is_neither_a_folder_nor_a_file(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "export.zip")
    with pytest.raises(ConnectorConfigError, match="neither a folder nor a regular file"):
        connector(tmp_path / "export.zip").validate()
    # Swapped in after validate(), it is a failure of the sync, never a hang.
    (batch,) = bounded(lambda: fetch(tmp_path / "export.zip"), seconds=10)
    (failure,) = batch.failures
    assert failure.error_type == "UnsupportedFile"


@pytest.mark.parametrize("cursor", ["not json", "[1]", '{"C1": 5}', '{"C1": "yesterday"}'])
def test_a_malformed_cursor_is_a_config_error(cursor: str) -> None:
    with pytest.raises(ConnectorConfigError):
        list(connector(EXPORT_2016).fetch(cursor=cursor))

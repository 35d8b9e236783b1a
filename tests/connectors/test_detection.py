"""`ingest` guesses the kind of what it is given from the files themselves."""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

import pytest
from django.core.management import call_command
from hypothesis import given
from hypothesis import strategies as st

from connectors.detection import detect_kind
from connectors.email.mbox import is_message_start
from connectors.errors import ConnectorConfigError
from tests.connectors.hostile import corpus, zips

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


def test_folder_of_raw_messages_named_txt_is_mail(tmp_path: Path) -> None:
    shutil.copytree(FIXTURES / "email" / "enron-txt", tmp_path / "mail")
    (tmp_path / "mail" / "categories.txt").write_text("1.1 Company Business\n")
    assert detect_kind(tmp_path / "mail") == "email"
    assert detect_kind(tmp_path / "mail" / "10425.txt") == "email"
    assert detect_kind(tmp_path / "mail" / "categories.txt") == "docs"


def test_each_kind_is_recognised_from_real_files() -> None:
    assert detect_kind(FIXTURES / "email") == "email"
    assert detect_kind(FIXTURES / "documents") == "docs"


def test_unknown_things_are_a_typed_error(tmp_path: Path) -> None:
    with pytest.raises(ConnectorConfigError, match="does not exist"):
        detect_kind(tmp_path / "missing")
    (tmp_path / "picture.png").write_bytes(b"\x89PNG\r\n")
    with pytest.raises(ConnectorConfigError, match="unknown file type"):
        detect_kind(tmp_path / "picture.png")
    with pytest.raises(ConnectorConfigError, match="no Slack export, mail or documents"):
        detect_kind(tmp_path)


@given(st.binary(max_size=600))
def test_sniffing_any_bytes_answers_without_raising(head: bytes) -> None:
    assert is_message_start(head) in (True, False)


@given(
    st.text(alphabet=st.characters(codec="ascii", categories=("L", "N", "P", "Zs")), max_size=300)
)
def test_prose_with_one_colon_is_not_a_message(prose: str) -> None:
    assert not is_message_start(f"Note: {prose}\n\nbody".encode())


# --- ZIPs: read only through the checked reader -------------------------------------------------


def test_a_zip_is_read_through_the_checked_reader(tmp_path: Path) -> None:
    good = tmp_path / "export.zip"
    good.write_bytes(zips.deflated_zip(corpus.GOOD_MEMBERS))
    assert detect_kind(good) == "slack-export"
    # 200,001 entries: refused by the checks on its directory before zipfile lists them. Only
    # exports come as ZIPs: it is one, for the sync to quarantine.
    crowded = tmp_path / "crowded.zip"
    crowded.write_bytes(zips.many_entries_zip(200_001))
    assert detect_kind(crowded) == "slack-export"
    plain = tmp_path / "photos.zip"
    plain.write_bytes(zips.deflated_zip([("a.png", b"\x89PNG")]))
    with pytest.raises(ConnectorConfigError, match=r"without users\.json"):
        detect_kind(plain)
    (tmp_path / "fake.zip").write_bytes(b"PK but not really a zip")
    with pytest.raises(ConnectorConfigError, match="not a readable ZIP"):
        detect_kind(tmp_path / "fake.zip")


@pytest.mark.django_db
@pytest.mark.parametrize("name", ["slip-parent.zip", "symlink.zip", "200k-entries.zip"])
def test_ingesting_a_rejected_export_quarantines_it_with_its_typed_error(
    name: str, tmp_path: Path
) -> None:
    (case,) = [case for case in corpus.slack_cases() if case.name == name]
    path = tmp_path / name
    case.write(path)
    out = io.StringIO()
    call_command("ingest", str(path), "--json", stdout=out)
    summary = json.loads(out.getvalue())
    (entry,) = summary["quarantined"]
    assert entry["path"] == name
    assert entry["error"].split(":")[0] in case.expected
    assert summary["items_created"] == 0

"""`ingest` guesses the kind of what it is given from the files themselves."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from connectors.detection import detect_kind
from connectors.email.mbox import is_message_start
from connectors.errors import ConnectorConfigError

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

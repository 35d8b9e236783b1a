"""The demo company generator: deterministic, well-formed, and true to its ground truth.

No database: the generator writes plain files only.
"""

from __future__ import annotations

import csv
import html
import json
import mailbox
import random
import re
import zipfile
from collections import Counter, defaultdict
from datetime import UTC, date, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

import docx
import pypdf
import pytest

from colleagues.demo.__main__ import main
from colleagues.demo.company import PEOPLE_BY_KEY
from colleagues.demo.conversations import plan_conversations
from colleagues.demo.generate import DemoCompany, generate_company

SEED = 7
# Big enough for per-person statistics (about 50 Slack messages each), small enough to be quick.
SCALE = 0.4
_TS = re.compile(r"^\d{10}\.\d{6}$")
_DAY_FILE = re.compile(r"^(?P<folder>[^/]+)/(?P<day>\d{4}-\d{2}-\d{2})\.json$")


@pytest.fixture(scope="module")
def company(tmp_path_factory: pytest.TempPathFactory) -> DemoCompany:
    return generate_company(tmp_path_factory.mktemp("demo"), seed=SEED, scale=SCALE)


@pytest.fixture(scope="module")
def truth(company: DemoCompany) -> dict[str, Any]:
    return json.loads(company.truth.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def export(company: DemoCompany) -> dict[str, Any]:
    """The Slack export's JSON files, by path inside the zip."""
    with zipfile.ZipFile(company.slack_export) as archive:
        assert archive.testzip() is None
        return {name: json.loads(archive.read(name)) for name in archive.namelist()}


def _files(root: Path) -> dict[str, bytes]:
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def _day_files(export: dict[str, Any]) -> dict[str, list[tuple[str, list[dict[str, Any]]]]]:
    """Folder -> [(day, messages)]."""
    folders: dict[str, list[tuple[str, list[dict[str, Any]]]]] = defaultdict(list)
    for name, messages in sorted(export.items()):
        match = _DAY_FILE.match(name)
        if match:
            folders[match["folder"]].append((match["day"], messages))
    return folders


def _human_messages(export: dict[str, Any]) -> dict[str, list[str]]:
    """Slack user id -> texts of the messages they wrote (no joins, no bots)."""
    texts: dict[str, list[str]] = defaultdict(list)
    for days in _day_files(export).values():
        for _, messages in days:
            for message in messages:
                if message.get("subtype") in (None, "thread_broadcast"):
                    texts[message["user"]].append(message["text"])
    return texts


# -- determinism ---------------------------------------------------------------------------


def test_same_seed_gives_identical_bytes(company: DemoCompany, tmp_path: Path) -> None:
    again = generate_company(tmp_path / "again", seed=SEED, scale=SCALE)
    first, second = _files(company.out_dir), _files(again.out_dir)
    assert sorted(first) == sorted(second)
    for name in first:
        assert first[name] == second[name], name


def test_cli_with_another_seed_writes_different_content(
    company: DemoCompany, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([str(tmp_path), "--seed", str(SEED + 1), "--scale", str(SCALE)]) == 0
    summary = capsys.readouterr().out.strip()
    assert summary.startswith("Northwind Robotics: 17 people (4 departed)")
    assert "\n" not in summary
    first, other = _files(company.out_dir), _files(tmp_path)
    assert sorted(first) == sorted(other)
    for name in ("slack-export.zip", "mail.mbox", "heldout.jsonl"):
        assert first[name] != other[name], name
    # The organisation itself does not depend on the seed.
    assert first["directory.csv"] == other["directory.csv"]


def test_scale_must_be_positive(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="scale"):
        generate_company(tmp_path, scale=0)


# -- Slack ---------------------------------------------------------------------------------


def test_slack_export_is_well_formed(export: dict[str, Any], company: DemoCompany) -> None:
    for name in ("users.json", "channels.json", "groups.json", "dms.json", "mpims.json"):
        assert isinstance(export[name], list), name
    users = {u["id"]: u for u in export["users.json"]}
    assert all(u["team_id"] == "T0NORTHWND" and u["id"].startswith("U0") for u in users.values())
    assert all(not u["is_bot"] and "@" in u["profile"]["email"] for u in users.values())
    folder_members = {
        c["name"]: set(c["members"])
        for key in ("channels.json", "groups.json", "mpims.json")
        for c in export[key]
    }
    folder_members |= {d["id"]: set(d["members"]) for d in export["dms.json"]}
    assert all(len(d["members"]) == 2 and d["id"].startswith("D") for d in export["dms.json"])
    assert all(
        m["name"].startswith("mpdm-") and m["name"].endswith("-1") for m in export["mpims.json"]
    )

    subtypes: Counter[str] = Counter()
    total = 0
    for folder, days in _day_files(export).items():
        assert folder in folder_members, folder
        by_ts: dict[str, dict[str, Any]] = {}
        for day, messages in days:
            for message in messages:
                total += 1
                assert message["type"] == "message"
                assert _TS.match(message["ts"]), message["ts"]
                assert message["ts"] not in by_ts, f"duplicate ts in {folder}"
                by_ts[message["ts"]] = message
                sent = datetime.fromtimestamp(float(message["ts"]), tz=UTC)
                assert sent.date().isoformat() == day
                subtypes[message.get("subtype", "")] += 1
                subtypes.update(k for k in ("edited", "reactions") if k in message)
                if message.get("subtype") == "bot_message":
                    assert message["bot_id"]
                    assert message["username"]
                    continue
                assert message["user"] in users, message
                assert message["user"] in folder_members[folder], (folder, message["user"])
                for reaction in message.get("reactions", []):
                    assert reaction["count"] == len(reaction["users"])
                    assert set(reaction["users"]) <= set(users)
        replies_by_root: Counter[str] = Counter()
        for message in by_ts.values():
            thread_ts = message.get("thread_ts")
            if thread_ts and thread_ts != message["ts"]:
                root = by_ts.get(thread_ts)
                assert root is not None, f"reply without root in {folder}"
                assert message["parent_user_id"] == root["user"]
                assert float(message["ts"]) > float(root["ts"])
                replies_by_root[thread_ts] += 1
        for ts, count in replies_by_root.items():
            assert by_ts[ts]["reply_count"] == count
            assert [r["ts"] for r in by_ts[ts]["replies"]] == sorted(
                (m["ts"] for m in by_ts.values() if m.get("thread_ts") == ts and m["ts"] != ts),
                key=float,
            )
    assert total == company.slack_messages
    for kind in ("thread_broadcast", "channel_join", "bot_message", "edited", "reactions"):
        assert subtypes[kind] >= 1, kind
    texts = [t for ts in _human_messages(export).values() for t in ts]
    assert any(re.search(r"<@U0[0-9A-F]+>", t) for t in texts)
    assert any(re.search(r"<#C0[0-9A-F]+\|[a-z-]+>", t) for t in texts)
    assert any(re.search(r"<https://[^|>]+\|[^>]+>", t) for t in texts)


def test_private_channels_match_truth_and_keep_their_secrets(
    export: dict[str, Any], truth: dict[str, Any], company: DemoCompany
) -> None:
    email_of = {p["slack_user_id"]: p["email"] for p in truth["people"]}
    groups = {g["name"]: sorted(email_of[m] for m in g["members"]) for g in export["groups.json"]}
    expected = {c["name"]: sorted(c["members"]) for c in truth["private_channels"]}
    assert groups == expected
    assert {"payments-incidents", "leadership", "hr-private"} <= set(groups)

    folder_text = {
        folder: "\n".join(m.get("text", "") for _, ms in days for m in ms).lower()
        for folder, days in _day_files(export).items()
    }
    elsewhere = [
        company.mbox.read_text(encoding="utf-8", errors="replace").lower(),
        company.heldout.read_text(encoding="utf-8").lower(),
    ]
    elsewhere += [p.read_text(encoding="utf-8").lower() for p in company.docs_dir.glob("*.md")]
    for channel in truth["private_channels"]:
        canary = channel["canary"].lower()
        assert canary in folder_text[channel["name"]], channel["name"]
        leaks = [f for f, text in folder_text.items() if canary in text and f != channel["name"]]
        assert not leaks, (canary, leaks)
        assert not any(canary in text for text in elsewhere), canary


def test_dms_match_truth(export: dict[str, Any], truth: dict[str, Any]) -> None:
    email_of = {p["slack_user_id"]: p["email"] for p in truth["people"]}
    dms = {d["id"]: sorted(email_of[m] for m in d["members"]) for d in export["dms.json"]}
    assert dms == {d["id"]: sorted(d["members"]) for d in truth["dm_pairs"]}


def test_departed_people_are_deleted_silent_after_leaving_and_prolific(
    export: dict[str, Any], truth: dict[str, Any]
) -> None:
    users = {u["id"]: u for u in export["users.json"]}
    texts = _human_messages(export)
    last_sent: dict[str, date] = {}
    for days in _day_files(export).values():
        for day, messages in days:
            for message in messages:
                if "user" in message:
                    last_sent[message["user"]] = max(
                        last_sent.get(message["user"], date.min), date.fromisoformat(day)
                    )
    current_counts = sorted(
        len(texts[p["slack_user_id"]]) for p in truth["people"] if p["status"] == "current"
    )
    median = current_counts[len(current_counts) // 2]
    departed = [p for p in truth["people"] if p["status"] == "departed"]
    assert len(departed) >= 3
    for person in departed:
        uid = person["slack_user_id"]
        assert users[uid]["deleted"] is True
        assert last_sent[uid] < date.fromisoformat(person["departed_on"])
        # Departed people are the main use case: about as much to go on as anyone.
        assert len(texts[uid]) >= 0.8 * median, person["email"]
    assert all(
        users[p["slack_user_id"]]["deleted"] is False
        for p in truth["people"]
        if p["status"] == "current"
    )


# -- style and expertise -------------------------------------------------------------------


def test_pet_phrases_are_characteristic(export: dict[str, Any], truth: dict[str, Any]) -> None:
    texts = {
        uid: [html.unescape(t).lower() for t in ts] for uid, ts in _human_messages(export).items()
    }

    def rate(uid: str, phrases: list[str]) -> float:
        mine = texts[uid]
        return sum(any(p.lower() in t for p in phrases) for t in mine) / len(mine)

    for person in truth["people"]:
        phrases = person["pet_phrases"]
        own = rate(person["slack_user_id"], phrases)
        assert own >= 0.05, (person["email"], own)
        for other in truth["people"]:
            if other is not person:
                assert rate(other["slack_user_id"], phrases) <= own / 5, (
                    person["email"],
                    other["email"],
                )


def test_pet_phrases_appear_in_about_a_fifth_of_a_persons_messages() -> None:
    # At full scale (about 100 messages each), planned without writing any file.
    conversations = plan_conversations(random.Random("pet-phrases"), scale=1.0)
    texts: dict[str, list[str]] = defaultdict(list)
    for conversation in conversations:
        for post in conversation.posts:
            for message in (post, *post.replies):
                if message.author and message.subtype is None:
                    texts[message.author].append(message.text.lower())
    for key, mine in texts.items():
        phrases = [p.text.lower() for p in PEOPLE_BY_KEY[key].style.pet_phrases]
        share = sum(any(p in t for p in phrases) for t in mine) / len(mine)
        assert 0.12 <= share <= 0.35, (key, share, len(mine))


def test_owners_mention_their_systems_most(export: dict[str, Any], truth: dict[str, Any]) -> None:
    texts = {uid: [t.lower() for t in ts] for uid, ts in _human_messages(export).items()}
    for person in truth["people"]:
        systems = [s.lower() for s in person["owned_systems"]]
        mentions = Counter(
            {uid: sum(any(s in t for s in systems) for t in ts) for uid, ts in texts.items()}
        )
        (top, _), *_ = mentions.most_common(1)
        assert top == person["slack_user_id"], (person["email"], mentions.most_common(3))


def test_someone_writes_in_chinese(export: dict[str, Any], truth: dict[str, Any]) -> None:
    writers = [p for p in truth["people"] if p["writes_chinese"]]
    assert writers
    texts = _human_messages(export)[writers[0]["slack_user_id"]]
    assert any(re.search(r"[\u4e00-\u9fff]", t) for t in texts)


def test_heldout_messages_are_new_and_cover_everyone(
    company: DemoCompany, export: dict[str, Any], truth: dict[str, Any]
) -> None:
    lines = [json.loads(line) for line in company.heldout.read_text("utf-8").splitlines()]
    assert Counter(line["email"] for line in lines) == {p["email"]: 3 for p in truth["people"]}
    slack = {html.unescape(t) for ts in _human_messages(export).values() for t in ts}
    mbox = company.mbox.read_text(encoding="utf-8", errors="replace")
    for line in lines:
        assert line["text"].strip()
        assert line["text"] not in slack
        assert line["text"] not in mbox


# -- email ---------------------------------------------------------------------------------


def test_mbox_parses_with_headers_threads_and_quotes(
    company: DemoCompany, truth: dict[str, Any]
) -> None:
    box = mailbox.mbox(company.mbox)
    messages = list(box)
    assert len(messages) == company.emails
    ids = set()
    for message in messages:
        assert message["Message-ID"]
        assert message["From"]
        assert message["To"]
        assert parsedate_to_datetime(message["Date"]).tzinfo is not None
        ids.add(message["Message-ID"])
    assert len(ids) == len(messages)
    replies = [m for m in messages if m["In-Reply-To"]]
    assert replies
    for reply in replies:
        assert reply["In-Reply-To"] in ids
        assert reply["References"].split()[-1] == reply["In-Reply-To"]
        assert reply["Subject"].startswith("Re: ")
        body = reply.get_payload(decode=True).decode("utf-8")
        assert re.search(r"^On .+ wrote:$", body, re.MULTILINE)
        assert re.search(r"^> ", body, re.MULTILINE)
    assert sum(m.get_content_type() == "text/html" for m in messages) >= 2
    senders = {m["From"].rsplit("@", 1)[1].rstrip(">") for m in messages}
    assert {e["email"].split("@")[1] for e in truth["externals"]} & senders
    raw = company.mbox.read_bytes()
    separators = [line for line in raw.split(b"\n") if line.startswith(b"From ")]
    assert len(separators) == len(messages)
    assert b"\n>From " in raw
    assert any(
        "\n-- \n" in (m.get_payload(decode=True) or b"").decode("utf-8", "replace")
        for m in messages
        if not m.is_multipart()
    )


# -- documents -----------------------------------------------------------------------------


def test_documents_open_and_carry_their_authors(
    company: DemoCompany, truth: dict[str, Any]
) -> None:
    names = {p["email"]: p["name"] for p in truth["people"]}
    kinds = Counter(Path(d["path"]).suffix for d in truth["documents"])
    assert kinds[".docx"] >= 4
    assert kinds[".pdf"] >= 2
    assert kinds[".md"] == 2
    for entry in truth["documents"]:
        path = company.out_dir / entry["path"]
        author = names[entry["author"]]
        if path.suffix == ".docx":
            document = docx.Document(str(path))
            assert document.core_properties.author == author
            assert document.core_properties.title == entry["title"]
            assert document.tables
            assert any(p.style.name == "List Number" for p in document.paragraphs)
            assert any(p.style.name.startswith("Heading") for p in document.paragraphs)
        elif path.suffix == ".pdf":
            reader = pypdf.PdfReader(path)
            assert reader.metadata.author == author
            assert reader.metadata.title == entry["title"]
            assert len(reader.pages) >= 3
            assert "Procedure" in "".join(page.extract_text() for page in reader.pages)
        else:
            text = path.read_text(encoding="utf-8")
            assert text.startswith("---\n")
            assert f'\nauthor: "{author}"\n' in text


# -- directory and truth -------------------------------------------------------------------


def test_directory_is_consistent_with_truth(company: DemoCompany, truth: dict[str, Any]) -> None:
    with company.directory_csv.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert tuple(rows[0]) == (
        "email",
        "name",
        "title",
        "department",
        "manager_email",
        "status",
        "departed_on",
    )
    people = {p["email"]: p for p in truth["people"]}
    assert {r["email"] for r in rows} == set(people)
    assert len(rows) >= 14
    assert len({r["department"] for r in rows}) >= 4
    assert sum(r["manager_email"] == "" for r in rows) == 1
    for row in rows:
        person = people[row["email"]]
        assert row["manager_email"] == (person["manager"] or "")
        assert not row["manager_email"] or row["manager_email"] in people
        assert row["status"] in ("current", "departed")
        assert (row["status"] == "departed") == bool(row["departed_on"])
        assert (row["departed_on"] or None) == person["departed_on"]
        assert (row["name"], row["title"], row["department"]) == (
            person["name"],
            person["title"],
            person["department"],
        )
    departed = [r for r in rows if r["status"] == "departed"]
    assert len(departed) >= 3
    assert all(r["departed_on"][:4] in ("2025", "2026") for r in departed)
    for department in truth["departments"]:
        assert people[department["manager"]]["department"] == department["name"]


def test_truth_names_every_person_completely(truth: dict[str, Any], export: dict[str, Any]) -> None:
    user_ids = {u["id"] for u in export["users.json"]}
    required = (
        "email",
        "name",
        "department",
        "manager",
        "status",
        "slack_user_id",
        "owned_systems",
        "topics",
        "pet_phrases",
        "greeting",
        "sign_off",
        "uses_emoji",
    )
    for person in truth["people"]:
        assert all(key in person for key in required)
        assert person["slack_user_id"] in user_ids
        assert person["owned_systems"]
        assert person["topics"]
        assert 2 <= len(person["pet_phrases"]) <= 4
    assert any(p["uses_emoji"] for p in truth["people"])
    assert any(not p["uses_emoji"] for p in truth["people"])
    assert len({p["greeting"] for p in truth["people"]}) >= 5

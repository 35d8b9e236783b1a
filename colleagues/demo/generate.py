"""Generate the demo company: every output file plus its machine-readable ground truth.

``generate_company(out_dir)`` writes::

    slack-export.zip   Slack workspace export
    mail.mbox          internal and external email
    docs/              .docx, .pdf and .md documents, each by one person
    directory.csv      the HR directory
    heldout.jsonl      3 messages per person in their style, in no other file
    truth.json         who is who, owns what, writes how, and who may see which channel

Same seed and scale give byte-identical files; nothing depends on the clock. Each output
has its own random stream, so changing one writer does not reshuffle the others.
"""

from __future__ import annotations

import csv
import io
import json
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from colleagues.demo.company import (
    CHANNELS,
    COMPANY_NAME,
    DEPARTMENTS,
    DM_PAIRS,
    DOMAIN,
    END,
    MPIMS,
    PEOPLE,
    PEOPLE_BY_KEY,
    START,
    TEAM_ID,
    Person,
    dm_id,
    mpim_id,
    mpim_name,
)
from colleagues.demo.conversations import Conversation, plan_conversations
from colleagues.demo.documents import write_documents
from colleagues.demo.mailbox import plan_mail, write_mbox
from colleagues.demo.slack_export import write_slack_export
from colleagues.demo.topics import EXTERNALS
from colleagues.demo.writing import Writer, to_plain

DIRECTORY_COLUMNS = (
    "email",
    "name",
    "title",
    "department",
    "manager_email",
    "status",
    "departed_on",
)
HELDOUT_PER_PERSON = 3


@dataclass(frozen=True)
class DemoCompany:
    """The generated company: its people and where each output was written."""

    out_dir: Path
    seed: int
    scale: float
    people: tuple[Person, ...]
    slack_export: Path
    mbox: Path
    docs_dir: Path
    documents: tuple[Path, ...]
    directory_csv: Path
    heldout: Path
    truth: Path
    slack_messages: int
    emails: int

    def person(self, email: str) -> Person:
        """The person with this address; KeyError if there is none."""
        for person in self.people:
            if person.email == email.lower():
                return person
        raise KeyError(email)

    @property
    def departed(self) -> tuple[Person, ...]:
        return tuple(p for p in self.people if p.departed_on)

    def summary(self) -> str:
        return (
            f"{COMPANY_NAME}: {len(self.people)} people ({len(self.departed)} departed), "
            f"{self.slack_messages} Slack messages, {self.emails} emails, "
            f"{len(self.documents)} documents -> {self.out_dir}"
        )


def _stream(seed: int, name: str) -> random.Random:
    # String seeds are hashed with SHA-512 by `random`, so they are stable across runs.
    return random.Random(f"northwind:{seed}:{name}")


def _email(key: str | None) -> str:
    return PEOPLE_BY_KEY[key].email if key else ""


def _write_directory(path: Path) -> None:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(DIRECTORY_COLUMNS)
    for person in PEOPLE:
        writer.writerow(
            (
                person.email,
                person.name,
                person.title,
                person.department,
                _email(person.manager),
                person.status,
                person.departed_on.isoformat() if person.departed_on else "",
            )
        )
    path.write_text(buffer.getvalue(), encoding="utf-8")


def _heldout(seed: int, seen: list[str]) -> list[dict[str, str]]:
    """Three new messages per person in their style, none of them found in `seen`."""
    writer = Writer(_stream(seed, "heldout"))
    rng = writer.rng
    corpus = "\n".join(seen)
    lines = []
    for person in PEOPLE:
        expertise = person.expertise
        made: list[str] = []
        while len(made) < HELDOUT_PER_PERSON:
            roll = rng.random()
            if roll < 0.4:
                sentences = [rng.choice(expertise.facts), rng.choice(expertise.qa)[1]]
            elif roll < 0.7:
                sentences = [
                    *writer.decision(person, *rng.choice(expertise.decisions)),
                    rng.choice(expertise.facts),
                ]
            else:
                sentences = [rng.choice(expertise.qa)[1], rng.choice(expertise.facts)]
            text = to_plain(
                writer.compose(
                    person,
                    sentences,
                    opening=len(made) == 0,
                    roles={"owner": person.key},
                    cut=False,
                ),
                at_sign=True,
            )
            if text not in corpus and text not in made:
                made.append(text)
        lines += [{"email": person.email, "text": text} for text in made]
    return lines


def _truth(
    conversations: list[Conversation],
    documents: list[tuple[Any, Path]],
    out_dir: Path,
    *,
    seed: int,
    scale: float,
    slack_messages: int,
    emails: int,
) -> dict[str, Any]:
    def emails_of(keys: tuple[str, ...]) -> list[str]:
        return [PEOPLE_BY_KEY[k].email for k in keys]

    people = []
    for person in PEOPLE:
        style = person.style
        people.append(
            {
                "email": person.email,
                "name": person.name,
                "title": person.title,
                "department": person.department,
                "manager": _email(person.manager) or None,
                "status": person.status,
                "departed_on": person.departed_on.isoformat() if person.departed_on else None,
                "slack_user_id": person.slack_id,
                "slack_username": person.handle,
                "owned_systems": list(person.expertise.systems),
                "topics": list(person.expertise.keywords),
                "home_channel": person.expertise.home,
                "successors": emails_of(person.successors),
                "pet_phrases": [p.text for p in style.pet_phrases],
                "greeting": style.greeting,
                "email_greeting": style.email_greeting,
                "sign_off": style.sign_off,
                "uses_emoji": style.uses_emoji,
                "emoji": list(style.emoji),
                "verbosity": style.verbosity,
                "lowercase": style.lowercase,
                "exclamations": style.exclaims,
                "ellipses": style.ellipses,
                "formal": style.formal,
                "email_signature": style.signature,
                "writes_chinese": style.chinese > 0,
            }
        )
    channels = [
        {
            "name": c.name,
            "id": c.channel_id,
            "private": c.private,
            "members": emails_of(c.members),
            "canary": c.canary or None,
        }
        for c in CHANNELS
    ]
    counts: dict[str, int] = {}
    for conversation in conversations:
        counts[conversation.name] = conversation.message_count()
    return {
        "company": {
            "name": COMPANY_NAME,
            "domain": DOMAIN,
            "slack_team_id": TEAM_ID,
            "seed": seed,
            "scale": scale,
            "period": {"start": START.date().isoformat(), "end": END.date().isoformat()},
        },
        "departments": [
            {
                "name": d.name,
                "manager": PEOPLE_BY_KEY[d.manager].email,
                "members": [p.email for p in PEOPLE if p.department == d.name],
            }
            for d in DEPARTMENTS
        ],
        "people": people,
        "channels": channels,
        "private_channels": [c for c in channels if c["private"]],
        "dm_pairs": [{"id": dm_id(pair), "members": emails_of(pair)} for pair in DM_PAIRS],
        "mpims": [{"id": mpim_id(m), "name": mpim_name(m), "members": emails_of(m)} for m in MPIMS],
        "externals": [
            {
                "name": name,
                "email": address,
                "organisation": org,
                "correspondent": PEOPLE_BY_KEY[key].email,
            }
            for name, address, org, key in EXTERNALS
        ],
        "documents": [
            {
                "path": path.relative_to(out_dir).as_posix(),
                "author": PEOPLE_BY_KEY[spec.author].email,
                "title": spec.title,
            }
            for spec, path in documents
        ],
        "counts": {
            "slack_messages": slack_messages,
            "emails": emails,
            "documents": len(documents),
            "messages_per_conversation": counts,
        },
    }


def generate_company(out_dir: Path, *, seed: int = 7, scale: float = 1.0) -> DemoCompany:
    """Write the demo company into `out_dir` (created if missing) and describe it.

    `scale` multiplies the volume of Slack messages (about 2,300 at 1.0) and emails
    (about 300); documents and the fixed storylines (handovers, private threads) do not
    scale. Raises ValueError if `scale` is not positive.
    """
    if scale <= 0:
        raise ValueError(f"scale must be positive, got {scale}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)

    conversations = plan_conversations(_stream(seed, "slack"), scale=scale)
    slack_path = out_dir / "slack-export.zip"
    slack_messages = write_slack_export(conversations, slack_path, rng=_stream(seed, "slack-ids"))

    mails = plan_mail(_stream(seed, "mail"), scale=scale)
    mbox_path = out_dir / "mail.mbox"
    emails = write_mbox(mails, mbox_path, rng=_stream(seed, "mail-boundaries"))

    docs_dir = out_dir / "docs"
    documents = write_documents(docs_dir, rng=_stream(seed, "docs"))

    directory_path = out_dir / "directory.csv"
    _write_directory(directory_path)

    seen = [
        to_plain(m.text, at_sign=True)
        for c in conversations
        for p in c.posts
        for m in (p, *p.replies)
    ]
    seen += [m.body for m in mails]
    heldout_path = out_dir / "heldout.jsonl"
    heldout_path.write_text(
        "".join(json.dumps(line, ensure_ascii=False) + "\n" for line in _heldout(seed, seen)),
        encoding="utf-8",
    )

    truth_path = out_dir / "truth.json"
    truth = _truth(
        conversations,
        documents,
        out_dir,
        seed=seed,
        scale=scale,
        slack_messages=slack_messages,
        emails=emails,
    )
    truth_path.write_text(json.dumps(truth, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")

    return DemoCompany(
        out_dir=out_dir,
        seed=seed,
        scale=scale,
        people=PEOPLE,
        slack_export=slack_path,
        mbox=mbox_path,
        docs_dir=docs_dir,
        documents=tuple(path for _, path in documents),
        directory_csv=directory_path,
        heldout=heldout_path,
        truth=truth_path,
        slack_messages=slack_messages,
        emails=emails,
    )

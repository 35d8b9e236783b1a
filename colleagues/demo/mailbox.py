"""The demo company's email, written as one mbox file.

Internal threads (questions, announcements, decisions, procedures, handovers), a few
external correspondents at other domains, a couple of HTML-only messages and one
multipart/alternative one. Replies quote the previous message under an
``On <date>, <name> <address> wrote:`` line.

Guarantees: byte-identical output for the same seed; every message has From, To, Date
(RFC 2822), Message-ID, and replies have In-Reply-To and References; ``From `` lines in
bodies are escaped as ``>From `` (mboxrd), so `mailbox.mbox` splits messages correctly.
"""

from __future__ import annotations

import html
import io
import random
import re
import textwrap
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, timezone
from email.charset import QP, Charset
from email.generator import BytesGenerator
from email.header import Header
from email.message import Message
from email.mime.multipart import MIMEMultipart
from email.mime.nonmultipart import MIMENonMultipart
from email.utils import format_datetime, formataddr
from pathlib import Path

from colleagues.demo.company import (
    CHANNELS_BY_NAME,
    COMPANY_NAME,
    DOMAIN,
    END,
    PEOPLE,
    PEOPLE_BY_KEY,
    START,
    Person,
)
from colleagues.demo.topics import (
    ACKS,
    DECISION_REPLIES,
    EXTERNAL_MAIL,
    EXTERNALS,
    FOLLOW_UPS,
    UPDATE_REPLIES,
)
from colleagues.demo.writing import Writer, to_plain

DEFAULT_EMAILS = 300
ALL_HANDS = ("Northwind Everyone", f"all@{DOMAIN}")

_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_MBOX_FROM = re.compile(rb"^>*From ")
_SUBJECTS = (
    "Update on {system}",
    "Heads-up: {system}",
    "{system} this week",
    "Quick update on {system}",
    "{system}: what's changing",
)

Address = tuple[str, str]  # (display name, address)


@dataclass
class Mail:
    """One email as planned; rendered by `_to_bytes`."""

    sender: Address
    author: str | None  # person key, None for external senders
    to: list[Address]
    cc: list[Address]
    subject: str
    at: datetime  # aware, in the sender's offset
    body: str  # plain text, or HTML when `html`
    message_id: str
    in_reply_to: str | None = None
    references: list[str] = field(default_factory=list)
    html: bool = False
    alternative_html: str | None = None  # also send an HTML part (multipart/alternative)


def _addr(person: Person) -> Address:
    return (person.name, person.email)


def _attribution(mail: Mail) -> str:
    at = mail.at
    when = f"{_DAYS[at.weekday()]}, {at.day} {_MONTHS[at.month - 1]} {at.year} at {at:%H:%M}"
    return f"On {when}, {mail.sender[0]} <{mail.sender[1]}> wrote:"


def _quote(body: str) -> str:
    return "\n".join(
        ">" + ("" if line.startswith(">") or not line else " ") + line
        for line in body.rstrip("\n").split("\n")
    )


def _wrap(body: str) -> str:
    """Wrap paragraphs at 72 columns as mail clients do; keep lists and quotes as they are."""
    lines: list[str] = []
    for line in body.split("\n"):
        if len(line) <= 72 or line.startswith(">"):
            lines.append(line)
        else:
            indent = "   " if re.match(r"^(\d+\.|-) ", line) else ""
            lines.extend(
                textwrap.wrap(
                    line,
                    72,
                    subsequent_indent=indent,
                    break_long_words=False,
                    break_on_hyphens=False,
                )
            )
    return "\n".join(lines)


class _MailPlanner:
    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.writer = Writer(rng)
        self.mails: list[Mail] = []

    # -- basics ----------------------------------------------------------------------------

    def message_id(self, domain: str) -> str:
        return f"<{self.rng.getrandbits(64):016x}.{len(self.mails)}@{domain}>"

    def day_for(self, keys: tuple[str, ...]) -> date:
        last = END.date() - timedelta(days=1)
        for key in keys:
            departed = PEOPLE_BY_KEY[key].departed_on
            if departed is not None:
                last = min(last, departed - timedelta(days=2))
        day = START.date() + timedelta(days=self.rng.randint(0, (last - START.date()).days))
        while day.weekday() >= 5:
            day -= timedelta(days=1)
        return day

    def local(self, offset: int, day: date) -> datetime:
        tz = timezone(timedelta(hours=offset))
        return datetime.combine(
            day,
            time(self.rng.randint(8, 18), self.rng.randint(0, 59), self.rng.randint(0, 59)),
            tzinfo=tz,
        )

    def after(self, previous: datetime, offset: int) -> datetime:
        """A reply time after `previous`, moved into the replier's working hours."""
        rng = self.rng
        tz = timezone(timedelta(hours=offset))
        at = (previous + timedelta(minutes=rng.randint(12, 600))).astimezone(tz)
        if not 8 <= at.hour < 19:
            day = at.date() + timedelta(days=1 if at.hour >= 19 else 0)
            at = datetime.combine(
                day, time(rng.randint(8, 10), rng.randint(0, 59), rng.randint(0, 59)), tzinfo=tz
            )
        return at

    def body(
        self,
        author: Person,
        sentences: list[str],
        *,
        to_name: str,
        roles: dict[str, str] | None = None,
        block: list[str] | tuple[str, ...] = (),
    ) -> str:
        text = self.writer.email_body(
            author, sentences, to_name=to_name, roles=roles, block=list(block)
        )
        return _wrap(to_plain(text))

    def send(self, mail: Mail) -> Mail:
        self.mails.append(mail)
        return mail

    def new(
        self,
        author: Person,
        to: list[Address],
        cc: list[Address],
        subject: str,
        at: datetime,
        body: str,
    ) -> Mail:
        return self.send(
            Mail(_addr(author), author.key, to, cc, subject, at, body, self.message_id(DOMAIN))
        )

    def reply(
        self,
        previous: Mail,
        author: Person | None,
        body: str,
        *,
        sender: Address | None = None,
        to: list[Address] | None = None,
        cc: list[Address] | None = None,
        offset: int = 0,
    ) -> Mail:
        """Reply to `previous`, quoting it, to its sender (and its other recipients).

        `author` is the colleague replying; for an outside correspondent pass None and
        their `sender` address.
        """
        if sender is None:
            if author is None:
                raise ValueError("a reply needs an author or a sender address")
            sender = _addr(author)
        subject = (
            previous.subject if previous.subject.startswith("Re: ") else ("Re: " + previous.subject)
        )
        if to is None:
            to = [previous.sender]
        if cc is None:
            cc = [a for a in previous.to + previous.cc if a != sender and a not in to]
        at = self.after(previous.at, author.utc_offset if author else offset)
        quoted = f"{body.rstrip()}\n\n{_attribution(previous)}\n{_quote(previous.body)}\n"
        domain = sender[1].split("@", 1)[1]
        return self.send(
            Mail(
                sender,
                author.key if author else None,
                to,
                cc,
                subject,
                at,
                quoted,
                self.message_id(domain),
                previous.message_id,
                [*previous.references, previous.message_id],
            )
        )

    def colleagues_of(self, owner: Person, day: date) -> list[Person]:
        members = CHANNELS_BY_NAME[owner.expertise.home].members
        return [
            PEOPLE_BY_KEY[k] for k in members if k != owner.key and PEOPLE_BY_KEY[k].active_on(day)
        ]

    def team_of(self, owner: Person, day: date) -> list[Person]:
        team = [
            p
            for p in PEOPLE
            if p.department == owner.department and p.key != owner.key and p.active_on(day)
        ]
        return team or self.colleagues_of(owner, day)[:4]

    # -- threads ---------------------------------------------------------------------------

    def question(self, owner: Person) -> None:
        rng = self.rng
        day = self.day_for((owner.key,))
        others = self.colleagues_of(owner, day)
        if not others:
            return
        asker = rng.choice(others)
        question, answer = rng.choice(owner.expertise.qa)
        system = next(
            (s for s in owner.expertise.systems if s.lower() in question.lower()),
            owner.expertise.systems[0],
        )
        roles = {"owner": owner.key, "asker": asker.key, "system": system}
        first = self.new(
            asker,
            [_addr(owner)],
            [],
            f"Question about {system}",
            self.local(asker.utc_offset, day),
            self.body(asker, [question], to_name=owner.first_name, roles=roles),
        )
        answered = self.reply(
            first, owner, self.body(owner, [answer], to_name=asker.first_name, roles=roles)
        )
        if rng.random() < 0.35:
            follow_up, follow_answer = rng.choice(FOLLOW_UPS)
            again = self.reply(
                answered,
                asker,
                self.body(
                    asker, [rng.choice(ACKS), follow_up], to_name=owner.first_name, roles=roles
                ),
            )
            self.reply(
                again,
                owner,
                self.body(owner, [follow_answer], to_name=asker.first_name, roles=roles),
            )

    def announce(self, owner: Person) -> None:
        rng = self.rng
        day = self.day_for((owner.key,))
        system = rng.choice(owner.expertise.systems)
        roles = {"owner": owner.key, "system": system}
        wide = owner.key in ("helen", "grace") and rng.random() < 0.5
        team = [] if wide else self.team_of(owner, day)
        to = [ALL_HANDS] if wide else [_addr(p) for p in team]
        manager = PEOPLE_BY_KEY.get(owner.manager or "")
        cc = [_addr(manager)] if manager and manager.active_on(day) and not wide else []
        facts = rng.sample(owner.expertise.facts, k=2 if owner.style.verbosity == "long" else 1)
        subject = rng.choice(_SUBJECTS).format(system=system)
        subject = subject[0].upper() + subject[1:]
        first = self.new(
            owner,
            to,
            cc,
            subject,
            self.local(owner.utc_offset, day),
            self.body(owner, facts, to_name="all", roles=roles),
        )
        if team and rng.random() < 0.3:
            replier = rng.choice(team)
            self.reply(
                first,
                replier,
                self.body(
                    replier, [rng.choice(UPDATE_REPLIES)], to_name=owner.first_name, roles=roles
                ),
                cc=[],
            )

    def decision(self, owner: Person) -> None:
        rng = self.rng
        day = self.day_for((owner.key,))
        decision, reason = rng.choice(owner.expertise.decisions)
        roles = {"owner": owner.key}
        team = self.team_of(owner, day)
        manager = PEOPLE_BY_KEY.get(owner.manager or "")
        to = [_addr(manager)] if manager and manager.active_on(day) else []
        to += [_addr(p) for p in team if manager is None or p.key != manager.key][:4]
        if not to:
            return
        words = decision.split()
        subject = "Decision: " + " ".join(words[:7]) + ("..." if len(words) > 7 else "")
        first = self.new(
            owner,
            to,
            [],
            subject,
            self.local(owner.utc_offset, day),
            self.body(
                owner, self.writer.decision(owner, decision, reason), to_name="all", roles=roles
            ),
        )
        responder = manager if manager and manager.active_on(day) else (team[0] if team else None)
        if responder and rng.random() < 0.5:
            self.reply(
                first,
                responder,
                self.body(
                    responder, [rng.choice(DECISION_REPLIES)], to_name=owner.first_name, roles=roles
                ),
            )

    def procedure(self, owner: Person) -> None:
        rng = self.rng
        day = self.day_for((owner.key,))
        others = self.colleagues_of(owner, day)
        if not others:
            return
        asker = rng.choice(others)
        proc = rng.choice(owner.expertise.procedures)
        roles = {"owner": owner.key, "asker": asker.key}
        intro, steps = self.writer.procedure(owner, proc)
        subject = proc.title[0].upper() + proc.title[1:]
        first = self.new(
            asker,
            [_addr(owner)],
            [],
            subject,
            self.local(asker.utc_offset, day),
            self.body(asker, [proc.question], to_name=owner.first_name, roles=roles),
        )
        self.reply(
            first,
            owner,
            self.body(
                owner,
                intro,
                to_name=asker.first_name,
                roles=roles,
                block=[self.writer.fill(s, author=owner) for s in steps],
            ),
        )

    # -- fixed storylines ------------------------------------------------------------------

    def handovers(self) -> None:
        rng = self.rng
        for person in PEOPLE:
            if person.departed_on is None:
                continue
            expertise = person.expertise
            day = person.departed_on - timedelta(days=rng.randint(5, 12))
            while day.weekday() >= 5:
                day -= timedelta(days=1)
            successors = [PEOPLE_BY_KEY[k] for k in person.successors]
            manager = PEOPLE_BY_KEY[person.manager] if person.manager else None
            roles = {
                "owner": person.key,
                "successor": successors[0].key,
                "system": expertise.systems[0],
            }
            notes = [
                f"- {self.writer.fill(n, author=person, roles=roles)}" for n in expertise.handover
            ]
            intro, steps = self.writer.procedure(person, expertise.procedures[0])
            body = self.body(
                person,
                [
                    f"Ahead of my last day, here is where things stand with "
                    f"{', '.join(expertise.systems)}.",
                    "Everything below is also in the wiki, but I wanted it in one place.",
                ],
                to_name=" and ".join(s.first_name for s in successors),
                roles=roles,
                block=[*notes, "", *intro, *steps],
            )
            first = self.new(
                person,
                [_addr(s) for s in successors],
                [_addr(manager)] if manager else [],
                f"Handover: {', '.join(expertise.systems)}",
                self.local(person.utc_offset, day),
                body,
            )
            self.reply(
                first,
                successors[0],
                self.body(
                    successors[0],
                    ["Thank you, this is really helpful.", rng.choice(ACKS)],
                    to_name=person.first_name,
                    roles=roles,
                ),
            )

    def externals(self) -> None:
        rng = self.rng
        for name, address, organisation, owner_key in EXTERNALS:
            owner = PEOPLE_BY_KEY[owner_key]
            for subject, text, answer in EXTERNAL_MAIL[address]:
                day = self.day_for((owner_key,))
                body = _wrap(
                    f"Hi {owner.first_name},\n\n{text}\n\nKind regards,\n"
                    f"{name.split()[0] if ' ' in name else name}\n{organisation}\n"
                )
                alternative = None
                if organisation == "PayStream":
                    alternative = (
                        f"<html><body><p>Hi {html.escape(owner.first_name)},</p>"
                        f"<p>{html.escape(text)}</p><p>Kind regards,<br>"
                        f"{html.escape(name)}<br>{organisation}</p></body></html>\n"
                    )
                first = self.send(
                    Mail(
                        (name, address),
                        None,
                        [_addr(owner)],
                        [],
                        subject,
                        self.local(0, day),
                        body,
                        self.message_id(address.split("@", 1)[1]),
                        alternative_html=alternative,
                    )
                )
                roles = {"owner": owner.key}
                answered = self.reply(
                    first,
                    owner,
                    self.body(owner, [answer], to_name=name.split()[0], roles=roles),
                    cc=[],
                )
                if rng.random() < 0.5:
                    self.reply(
                        answered,
                        None,
                        f"Thanks {owner.first_name}, noted.\n\nKind regards,\n{name}\n",
                        sender=(name, address),
                        cc=[],
                    )

    def html_only(self) -> None:
        """Helen's monthly update and a vendor newsletter, HTML only."""
        helen = PEOPLE_BY_KEY["helen"]
        for day in (date(2025, 6, 30), date(2025, 12, 19)):
            facts = [to_plain(self.writer.fill(f, author=helen)) for f in helen.expertise.facts[:3]]
            items = "".join(f"<li>{html.escape(f)}</li>" for f in facts)
            month = f"{_MONTHS[day.month - 1]} {day.year}"
            body = (
                f"<html><body><h1>{COMPANY_NAME} monthly update, {month}</h1>"
                f"<p>Hi everyone,</p><p>Here is what happened this month.</p>"
                f"<ul>{items}</ul><p>Best,<br>Helen</p></body></html>\n"
            )
            self.send(
                Mail(
                    _addr(helen),
                    "helen",
                    [ALL_HANDS],
                    [],
                    f"{COMPANY_NAME} monthly update, {month}",
                    self.local(0, day),
                    body,
                    self.message_id(DOMAIN),
                    html=True,
                )
            )
        priya = PEOPLE_BY_KEY["priya"]
        body = (
            "<html><body><h2>CloudHost product news</h2><p>Managed Kubernetes 1.29 is now "
            "generally available in all regions. Control planes on 1.27 reach end of "
            'support in 60 days.</p><p><a href="https://cloudhost.example/news">Read '
            "more</a></p></body></html>\n"
        )
        self.send(
            Mail(
                ("CloudHost", "news@cloudhost.example"),
                None,
                [_addr(priya)],
                [],
                "CloudHost product news: Kubernetes 1.29 GA",
                self.local(0, date(2025, 7, 8)),
                body,
                self.message_id("cloudhost.example"),
                html=True,
            )
        )

    def run(self, target: int) -> list[Mail]:
        rng = self.rng
        self.handovers()
        self.externals()
        self.html_only()
        people = list(PEOPLE)
        weights = [p.activity for p in people]
        kinds = (self.question, self.announce, self.decision, self.procedure)
        kind_weights = (40, 25, 12, 13)
        while len(self.mails) < target:
            rng.choices(kinds, weights=kind_weights)[0](rng.choices(people, weights=weights)[0])
        return sorted(self.mails, key=lambda m: m.at)


def _text_part(text: str, subtype: str) -> MIMENonMultipart:
    """A text part: 7bit when ASCII, else UTF-8 in quoted-printable (readable, unlike base64)."""
    part = MIMENonMultipart("text", subtype)
    if text.isascii():
        part.set_payload(text, "us-ascii")
    else:
        charset = Charset("utf-8")
        charset.body_encoding = QP
        part.set_payload(text, charset)
    return part


def _header_address(address: Address) -> str:
    return formataddr(address, charset="utf-8")


def _to_bytes(mail: Mail, rng: random.Random) -> bytes:
    # Built with the compat32 classes: the modern header registry parses every header it
    # is given and made writing the mailbox ten times slower, for the same bytes on disk.
    message: Message
    if mail.alternative_html:
        # Fixed boundary: the generator would otherwise pick a random one.
        message = MIMEMultipart(
            "alternative", boundary=f"===============nw{rng.getrandbits(64):016x}=="
        )
        message.attach(_text_part(mail.body, "plain"))
        message.attach(_text_part(mail.alternative_html, "html"))
    else:
        message = _text_part(mail.body, "html" if mail.html else "plain")
    headers: list[tuple[str, str]] = [
        ("From", _header_address(mail.sender)),
        ("To", ", ".join(_header_address(a) for a in mail.to)),
    ]
    if mail.cc:
        headers.append(("Cc", ", ".join(_header_address(a) for a in mail.cc)))
    subject = mail.subject if mail.subject.isascii() else Header(mail.subject, "utf-8").encode()
    headers += [
        ("Subject", subject),
        ("Date", format_datetime(mail.at)),
        ("Message-ID", mail.message_id),
    ]
    if mail.in_reply_to:
        headers += [("In-Reply-To", mail.in_reply_to), ("References", " ".join(mail.references))]
    # Put the envelope headers first, as mail clients write them.
    content_headers = list(message.items())
    for name in [n for n, _ in content_headers]:
        del message[name]
    for name, value in [*headers, *content_headers]:
        message[name] = value
    out = io.BytesIO()
    BytesGenerator(out, mangle_from_=False, maxheaderlen=78).flatten(message)
    return out.getvalue()


def _from_line(mail: Mail) -> bytes:
    at = mail.at.astimezone(UTC)
    when = f"{_DAYS[at.weekday()]} {_MONTHS[at.month - 1]} {at.day:2d} {at:%H:%M:%S} {at.year}"
    return f"From {mail.sender[1]} {when}\n".encode()


def plan_mail(rng: random.Random, *, scale: float = 1.0) -> list[Mail]:
    """Plan about ``DEFAULT_EMAILS * scale`` emails, oldest first."""
    return _MailPlanner(rng).run(max(24, round(DEFAULT_EMAILS * scale)))


def write_mbox(mails: list[Mail], path: Path, *, rng: random.Random) -> int:
    """Write `mails` to an mbox file at `path` (mboxrd escaping); return how many."""
    with path.open("wb") as out:
        for mail in mails:
            out.write(_from_line(mail))
            for line in _to_bytes(mail, rng).rstrip(b"\n").split(b"\n"):
                out.write((b">" + line if _MBOX_FROM.match(line) else line) + b"\n")
            out.write(b"\n")
    return len(mails)

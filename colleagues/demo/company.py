"""Northwind Robotics as data: people, departments, writing styles, channels.

Everything here is fixed; randomness enters only in `colleagues.demo.writing` and the
writers of each output. Identifiers (Slack ids, addresses) are derived from names by hashing,
so they are stable across runs and seeds.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import cached_property

from colleagues.demo.topics import EXPERTISE, Expertise

COMPANY_NAME = "Northwind Robotics"
DOMAIN = "northwind.example"
TEAM_ID = "T0NORTHWND"
# The period the generated content covers. Fixed: output never depends on the clock.
START = datetime(2025, 3, 3, tzinfo=UTC)
END = datetime(2026, 3, 27, tzinfo=UTC)


def stable_id(prefix: str, *parts: str, length: int = 8) -> str:
    """Return a Slack-looking id (``U0`` + uppercase hex) stable for the given parts."""
    digest = hashlib.sha1("\x1f".join(parts).encode(), usedforsecurity=False).hexdigest()
    return prefix + digest[:length].upper()


@dataclass(frozen=True)
class PetPhrase:
    """A phrase someone habitually uses, and the ways they work it into a message.

    A form containing ``{s}`` leads into the message's first sentence (lower-cased first
    letter); any other form is a sentence of its own.
    """

    text: str
    forms: tuple[str, ...]


@dataclass(frozen=True)
class Style:
    """How a person writes. Every field is observable in their messages."""

    greeting: str  # opens some Slack posts; "" for none
    email_greeting: str  # "{name}" is the recipient's first name or "all"; "" for none
    sign_off: str  # "" for none
    pet_phrases: tuple[PetPhrase, ...]
    verbosity: str  # "terse" | "medium" | "long"
    emoji: tuple[str, ...] = ()  # Slack :codes: and/or unicode
    emoji_rate: float = 0.0
    lowercase: bool = False
    exclaims: bool = False
    ellipses: bool = False
    formal: bool = False
    signs_slack: bool = False  # also signs off top-level Slack posts
    signature: bool = False  # email signature block after "-- "
    chinese: float = 0.0  # share of messages written (partly) in Simplified Chinese

    @property
    def uses_emoji(self) -> bool:
        return bool(self.emoji) and self.emoji_rate > 0


@dataclass(frozen=True)
class Person:
    """One colleague: identity, place in the organisation, style and expertise."""

    key: str  # short stable handle used throughout the generator: "dana"
    name: str
    handle: str  # mail local part and Slack username: "dana.kowalski"
    title: str
    department: str
    manager: str | None  # key of the manager
    style: Style
    utc_offset: int = 0  # hours; fixed so no tz database is needed
    tz: str = "Europe/London"
    display_name: str = ""
    departed_on: date | None = None
    activity: float = 1.0  # relative share of conversations they start
    successors: tuple[str, ...] = ()  # who took over their systems (departed people)

    @property
    def email(self) -> str:
        return f"{self.handle}@{DOMAIN}"

    @property
    def first_name(self) -> str:
        return self.name.split()[0]

    @property
    def status(self) -> str:
        return "departed" if self.departed_on else "current"

    @cached_property
    def slack_id(self) -> str:
        return stable_id("U0", "user", self.handle)

    @property
    def expertise(self) -> Expertise:
        return EXPERTISE[self.key]

    def active_on(self, day: date) -> bool:
        """Whether the person can still write on `day` (departed people stop the day before)."""
        return self.departed_on is None or day < self.departed_on - timedelta(days=1)


@dataclass(frozen=True)
class Department:
    name: str
    manager: str  # person key


@dataclass(frozen=True)
class Channel:
    """A Slack channel (public or private) with its fixed membership."""

    name: str
    private: bool
    members: tuple[str, ...]  # person keys
    creator: str
    created: date
    topic: str
    purpose: str
    canary: str = ""  # a phrase that appears in this channel and nowhere else

    @cached_property
    def channel_id(self) -> str:
        return stable_id("C0", "channel", self.name)


def _p(text: str, *forms: str) -> PetPhrase:
    return PetPhrase(text, forms)


PEOPLE: tuple[Person, ...] = (
    Person(
        key="helen",
        name="Helen Park",
        handle="helen.park",
        title="Chief Executive Officer",
        department="Leadership",
        manager=None,
        activity=0.6,
        style=Style(
            greeting="Hi everyone,",
            email_greeting="Hi {name},",
            sign_off="Best, Helen",
            pet_phrases=(
                _p(
                    "zoom out for a second",
                    "Let's zoom out for a second.",
                    "Zoom out for a second: {s}",
                ),
                _p("what does good look like?", "What does good look like?"),
                _p(
                    "proud of this team",
                    "Really proud of this team.",
                    "Proud of this team, as always.",
                ),
            ),
            verbosity="medium",
            emoji=(":tada:", ":clap:"),
            emoji_rate=0.15,
            signature=True,
        ),
    ),
    Person(
        key="rafael",
        name="Rafael Ortiz",
        handle="rafael.ortiz",
        title="Chief Technology Officer",
        department="Leadership",
        manager="helen",
        activity=0.8,
        style=Style(
            greeting="",
            email_greeting="{name},",
            sign_off="— R",
            pet_phrases=(
                _p(
                    "strong opinions, loosely held",
                    "Strong opinions, loosely held.",
                    "Strong opinions, loosely held, as usual.",
                ),
                _p(
                    "two-way door",
                    "This is a two-way door, so let's not agonise.",
                    "It's a two-way door.",
                ),
                _p(
                    "let's not boil the ocean",
                    "Let's not boil the ocean.",
                    "Let's not boil the ocean here: {s}",
                ),
            ),
            verbosity="long",
            emoji=(":thinking_face:",),
            emoji_rate=0.1,
            signs_slack=True,
        ),
    ),
    Person(
        key="marcus",
        name="Marcus Webb",
        handle="marcus.webb",
        title="Head of Platform Engineering",
        department="Platform Engineering",
        manager="rafael",
        style=Style(
            greeting="",
            email_greeting="",
            sign_off="-- M",
            pet_phrases=(
                _p("ship it", "Ship it."),
                _p("blast radius", "What's the blast radius?", "Keep the blast radius small."),
                _p("good enough for now", "Good enough for now."),
            ),
            verbosity="terse",
            signs_slack=True,
        ),
    ),
    Person(
        key="priya",
        name="Priya Nair",
        handle="priya.nair",
        title="Senior Site Reliability Engineer",
        department="Platform Engineering",
        manager="marcus",
        departed_on=date(2025, 11, 14),
        activity=2.2,
        successors=("tom", "wei"),
        style=Style(
            greeting="hey",
            email_greeting="hey {name}",
            sign_off="",
            pet_phrases=(
                _p("no snowflakes", "no snowflakes.", "no snowflakes, everything through code."),
                _p("measure twice, cut once", "measure twice, cut once."),
                _p("plan output or it didn't happen", "plan output or it didn't happen."),
            ),
            verbosity="terse",
            emoji=(":fire:", ":white_check_mark:", ":eyes:", ":sweat_smile:"),
            emoji_rate=0.55,
            lowercase=True,
        ),
    ),
    Person(
        key="tom",
        name="Tom Becker",
        handle="tom.becker",
        title="Platform Engineer",
        department="Platform Engineering",
        manager="marcus",
        style=Style(
            greeting="hey folks,",
            email_greeting="Hey {name},",
            sign_off="",
            pet_phrases=(
                _p("small batches", "Small batches, always.", "Small batches win."),
                _p("automate the boring bits", "Let's automate the boring bits."),
                _p(
                    "one-button deploys",
                    "One-button deploys or bust.",
                    "The goal is still one-button deploys.",
                ),
            ),
            verbosity="medium",
            emoji=(":rocket:", ":white_check_mark:", ":shipit:"),
            emoji_rate=0.4,
        ),
    ),
    Person(
        key="wei",
        name="Wei Zhang",
        handle="wei.zhang",
        title="Site Reliability Engineer",
        department="Platform Engineering",
        manager="marcus",
        display_name="张伟",
        utc_offset=8,
        tz="Asia/Shanghai",
        style=Style(
            greeting="Hi team,",
            email_greeting="Hi {name},",
            sign_off="",
            pet_phrases=(
                _p("no alert without a runbook", "No alert without a runbook."),
                _p("先这样", "先这样。"),
                _p("let me double-check the graphs", "Let me double-check the graphs."),
            ),
            verbosity="medium",
            emoji=("🙏", "👍"),
            emoji_rate=0.3,
            chinese=0.3,
        ),
    ),
    Person(
        key="samuel",
        name="Samuel Osei",
        handle="samuel.osei",
        title="Engineering Manager, Payments",
        department="Payments",
        manager="rafael",
        display_name="Sam",
        style=Style(
            greeting="Hey team,",
            email_greeting="Hi {name},",
            sign_off="Thanks, Sam",
            pet_phrases=(
                _p("let's take this offline", "Let's take this offline."),
                _p("what's the customer impact?", "What's the customer impact?"),
                _p(
                    "circle back",
                    "I'll circle back on this {day}.",
                    "Let's circle back once finance has looked.",
                ),
            ),
            verbosity="medium",
            emoji=(":slightly_smiling_face:",),
            emoji_rate=0.2,
            signature=True,
        ),
    ),
    Person(
        key="dana",
        name="Dana Kowalski",
        handle="dana.kowalski",
        title="Staff Software Engineer",
        department="Payments",
        manager="samuel",
        departed_on=date(2026, 1, 30),
        activity=1.7,
        successors=("lucia", "kenji"),
        style=Style(
            greeting="Hi all,",
            email_greeting="Hi {name},",
            sign_off="Cheers, Dana",
            pet_phrases=(
                _p(
                    "belt and braces",
                    "Belt and braces, but I sleep better.",
                    "It's belt and braces, I know.",
                ),
                _p("for what it's worth", "For what it's worth, {s}"),
                _p("touch wood", "No surprises since, touch wood.", "Touch wood."),
            ),
            verbosity="long",
            formal=True,
            signs_slack=True,
            signature=True,
        ),
    ),
    Person(
        key="lucia",
        name="Lucía Fernández",
        handle="lucia.fernandez",
        title="Software Engineer",
        department="Payments",
        manager="samuel",
        utc_offset=1,
        tz="Europe/Madrid",
        style=Style(
            greeting="Morning!",
            email_greeting="Hola {name},",
            sign_off="Gracias, Lucía",
            pet_phrases=(
                _p("the ledger never lies", "The ledger never lies."),
                _p("pennies add up", "Pennies add up.", "Small, but pennies add up."),
                _p("sanity check", "Quick sanity check: {s}", "Sanity check before we merge?"),
            ),
            verbosity="terse",
            exclaims=True,
        ),
    ),
    Person(
        key="kenji",
        name="Kenji Watanabe",
        handle="kenji.watanabe",
        title="Senior Software Engineer",
        department="Payments",
        manager="samuel",
        style=Style(
            greeting="",
            email_greeting="{name},",
            sign_off="",
            pet_phrases=(
                _p("idempotency is a feature", "Idempotency is a feature."),
                _p("trust but verify", "Trust but verify."),
                _p("edge case alert", "Edge case alert: {s}"),
            ),
            verbosity="terse",
            emoji=(":eyes:", ":warning:"),
            emoji_rate=0.3,
        ),
    ),
    Person(
        key="olivia",
        name="Olivia Grant",
        handle="olivia.grant",
        title="Head of Data",
        department="Data",
        manager="rafael",
        style=Style(
            greeting="Hello all,",
            email_greeting="Dear {name},",
            sign_off="Best, Olivia",
            pet_phrases=(
                _p(
                    "define the metric first",
                    "Define the metric first, then build the chart.",
                    "We need to define the metric first.",
                ),
                _p("single source of truth", "One single source of truth, please."),
                _p("data beats opinions", "Data beats opinions."),
            ),
            verbosity="long",
            formal=True,
            signs_slack=True,
            signature=True,
        ),
    ),
    Person(
        key="arjun",
        name="Arjun Mehta",
        handle="arjun.mehta",
        title="Analytics Engineer",
        department="Data",
        manager="olivia",
        departed_on=date(2025, 9, 19),
        activity=2.4,
        successors=("mei",),
        style=Style(
            greeting="hey all,",
            email_greeting="Hey {name},",
            sign_off="",
            pet_phrases=(
                _p("model it once", "Model it once, reuse it everywhere."),
                _p("ref() everything", "ref() everything, no hardcoded schemas."),
                _p(
                    "happy to pair on this",
                    "Happy to pair on this.",
                    "Happy to pair on this if it helps.",
                ),
            ),
            verbosity="medium",
            emoji=(":bar_chart:", ":nerd_face:"),
            emoji_rate=0.25,
        ),
    ),
    Person(
        key="mei",
        name="Mei Lin",
        handle="mei.lin",
        title="Data Engineer",
        department="Data",
        manager="olivia",
        style=Style(
            greeting="",
            email_greeting="hi {name}",
            sign_off="",
            pet_phrases=(
                _p("fingers crossed", "fingers crossed..."),
                _p("one more thing...", "one more thing... {s}"),
                _p("backfill incoming", "backfill incoming..."),
            ),
            verbosity="medium",
            emoji=("🙂", "😅"),
            emoji_rate=0.35,
            lowercase=True,
            ellipses=True,
        ),
    ),
    Person(
        key="grace",
        name="Grace Holloway",
        handle="grace.holloway",
        title="Head of People",
        department="People",
        manager="helen",
        activity=0.8,
        style=Style(
            greeting="Hi lovely people,",
            email_greeting="Hi {name},",
            sign_off="Warmly, Grace",
            pet_phrases=(
                _p("let's be thoughtful here", "Let's be thoughtful here."),
                _p("people before process", "People before process, always."),
                _p("in fairness to everyone", "In fairness to everyone, {s}"),
            ),
            verbosity="long",
            emoji=("💛", "🌱"),
            emoji_rate=0.3,
            formal=True,
            signs_slack=True,
            signature=True,
        ),
    ),
    Person(
        key="ben",
        name="Ben Adeyemi",
        handle="ben.adeyemi",
        title="Talent Acquisition Lead",
        department="People",
        manager="grace",
        departed_on=date(2026, 2, 27),
        activity=1.8,
        successors=("grace",),
        style=Style(
            greeting="Hey hey!",
            email_greeting="Hi {name}!",
            sign_off="Ben",
            pet_phrases=(
                _p("great signal", "Great signal!", "That's great signal."),
                _p("keep the bar high", "Let's keep the bar high."),
                _p("loop closed", "Loop closed."),
            ),
            verbosity="medium",
            emoji=(":raised_hands:", ":tada:", ":star-struck:"),
            emoji_rate=0.4,
            exclaims=True,
            signature=True,
        ),
    ),
    Person(
        key="chloe",
        name="Chloe Dubois",
        handle="chloe.dubois",
        title="VP Sales",
        department="Sales",
        manager="helen",
        style=Style(
            greeting="Hi team!",
            email_greeting="Hi {name}!",
            sign_off="Onwards! Chloe",
            pet_phrases=(
                _p("crushing it", "Team is crushing it!"),
                _p("let's get this over the line", "Let's get this over the line!"),
                _p("huge win", "Huge win!"),
            ),
            verbosity="medium",
            emoji=("🎉", "🚀", "💪"),
            emoji_rate=0.5,
            exclaims=True,
            signature=True,
        ),
    ),
    Person(
        key="ryan",
        name="Ryan McAllister",
        handle="ryan.mcallister",
        title="Solutions Engineer",
        department="Sales",
        manager="chloe",
        utc_offset=-5,
        tz="America/New_York",
        style=Style(
            greeting="Hi folks,",
            email_greeting="Hi {name},",
            sign_off="Talk soon, Ryan",
            pet_phrases=(
                _p("happy to jump on a call", "Happy to jump on a call if easier."),
                _p("from the customer's side", "From the customer's side, {s}"),
                _p("quick demo", "I can do a quick demo on {day}."),
            ),
            verbosity="medium",
            emoji=(":handshake:", ":+1:"),
            emoji_rate=0.2,
            signature=True,
        ),
    ),
)

PEOPLE_BY_KEY: dict[str, Person] = {p.key: p for p in PEOPLE}

DEPARTMENTS: tuple[Department, ...] = (
    Department("Leadership", "helen"),
    Department("Platform Engineering", "marcus"),
    Department("Payments", "samuel"),
    Department("Data", "olivia"),
    Department("People", "grace"),
    Department("Sales", "chloe"),
)

_EVERYONE = tuple(p.key for p in PEOPLE)
_ENGINEERING = (
    "rafael",
    "marcus",
    "priya",
    "tom",
    "wei",
    "samuel",
    "dana",
    "lucia",
    "kenji",
    "olivia",
    "arjun",
    "mei",
)

CHANNELS: tuple[Channel, ...] = (
    Channel(
        "general",
        False,
        _EVERYONE,
        "helen",
        date(2021, 4, 12),
        "Company-wide announcements",
        "Announcements and questions for all of Northwind",
    ),
    Channel(
        "random",
        False,
        _EVERYONE,
        "helen",
        date(2021, 4, 12),
        "Lunch, photos, lost water bottles",
        "Anything that isn't work",
    ),
    Channel(
        "engineering",
        False,
        (*_ENGINEERING, "ryan"),
        "rafael",
        date(2021, 6, 1),
        "RFCs, tech radar, architecture review",
        "Engineering-wide discussion",
    ),
    Channel(
        "platform",
        False,
        ("marcus", "priya", "tom", "wei", "rafael", "dana", "kenji", "mei", "arjun"),
        "marcus",
        date(2022, 2, 14),
        "nw-prod-eks, infra-live, shipyard, observability",
        "Platform Engineering: clusters, CI/CD, monitoring",
    ),
    Channel(
        "payments",
        False,
        ("samuel", "dana", "lucia", "kenji", "marcus", "chloe", "olivia", "wei"),
        "samuel",
        date(2022, 5, 3),
        "billing-svc, ledger, refunds, webhooks",
        "Payments team and everyone who depends on it",
    ),
    Channel(
        "data",
        False,
        ("olivia", "arjun", "mei", "lucia", "chloe", "ryan", "helen", "samuel"),
        "olivia",
        date(2022, 9, 20),
        "Warehouse, dbt, pipelines, metrics",
        "Data questions and announcements",
    ),
    Channel(
        "incidents",
        False,
        (*_ENGINEERING, "helen"),
        "marcus",
        date(2025, 3, 10),
        "Declare incidents here. Process: see the incident process page",
        "Live incident coordination",
    ),
    Channel(
        "sales",
        False,
        ("chloe", "ryan", "helen", "samuel", "olivia"),
        "chloe",
        date(2023, 1, 9),
        "Forecast due Mondays at noon",
        "Sales team",
    ),
    Channel(
        "hiring",
        False,
        ("ben", "grace", "marcus", "samuel", "olivia", "rafael", "chloe", "tom"),
        "ben",
        date(2025, 4, 7),
        "Open roles, interview loops, scorecards",
        "Hiring coordination with hiring managers",
    ),
    Channel(
        "payments-incidents",
        True,
        ("samuel", "dana", "lucia", "kenji", "marcus"),
        "samuel",
        date(2025, 3, 17),
        "Postmortems and customer-impacting payment issues",
        "Payments incident follow-up; contains customer data",
        canary="postmortem draft",
    ),
    Channel(
        "leadership",
        True,
        ("helen", "rafael", "marcus", "samuel", "olivia", "grace", "chloe"),
        "helen",
        date(2023, 3, 1),
        "Confidential",
        "Leadership team",
        canary="Project Kestrel",
    ),
    Channel(
        "hr-private",
        True,
        ("grace", "ben", "helen"),
        "grace",
        date(2024, 1, 15),
        "Confidential: compensation, performance, people matters",
        "People team private channel",
        canary="2025 salary band sheet",
    ),
)

CHANNELS_BY_NAME: dict[str, Channel] = {c.name: c for c in CHANNELS}

DM_PAIRS: tuple[tuple[str, str], ...] = (
    ("dana", "lucia"),
    ("dana", "kenji"),
    ("dana", "samuel"),
    ("priya", "tom"),
    ("priya", "wei"),
    ("arjun", "mei"),
    ("arjun", "olivia"),
    ("grace", "ben"),
    ("helen", "rafael"),
    ("marcus", "wei"),
    ("chloe", "ryan"),
    ("samuel", "marcus"),
    ("ben", "marcus"),
    ("mei", "wei"),
)

MPIMS: tuple[tuple[str, ...], ...] = (
    ("dana", "lucia", "kenji"),
    ("priya", "tom", "wei"),
    ("olivia", "arjun", "mei"),
    ("chloe", "ryan", "samuel"),
)


def dm_id(pair: tuple[str, str]) -> str:
    return stable_id("D0", "dm", *sorted(pair))


def mpim_id(members: tuple[str, ...]) -> str:
    return stable_id("G0", "mpim", *members)


def mpim_name(members: tuple[str, ...]) -> str:
    """Slack's name for a group DM: ``mpdm-<user>--<user>--<user>-1``."""
    return "mpdm-" + "--".join(PEOPLE_BY_KEY[k].handle for k in members) + "-1"


def home_channel(person: Person) -> Channel:
    return CHANNELS_BY_NAME[person.expertise.home]

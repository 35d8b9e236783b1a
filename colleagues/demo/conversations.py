"""Who says what, where and when on Slack: the demo company's conversations.

`plan_conversations` returns every channel, private channel, DM and group DM with its posts
(threads included), in the neutral marker text of `colleagues.demo.writing`.
`colleagues.demo.slack_export` turns them into the export format.

Guarantees: a person posts only in conversations they belong to, and only while they are
at the company (departed people stop before their `departed_on`); thread replies come after
their root; each private channel's canary phrase appears in that channel and nowhere else.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

from colleagues.demo.company import (
    CHANNELS,
    CHANNELS_BY_NAME,
    DM_PAIRS,
    END,
    MPIMS,
    PEOPLE,
    PEOPLE_BY_KEY,
    START,
    Person,
    dm_id,
    mpim_id,
    mpim_name,
)
from colleagues.demo.topics import (
    ACKS,
    AFTER_DEPARTURE,
    DECISION_REPLIES,
    FAREWELL,
    FAREWELL_REPLIES,
    FOLLOW_UPS,
    HANDOVER_INTRO,
    INCIDENT_CHATTER,
    INCIDENT_THANKS,
    PRIVATE_THREADS,
    REVIEW_REPLIES,
    SMALL_TALK,
    SMALL_TALK_REPLIES,
    UPDATE_REPLIES,
)
from colleagues.demo.writing import Writer

# Messages in the default-scale workspace, joins and bot posts included.
DEFAULT_MESSAGES = 2300

PAGERDUTY = ("B0PAGERDTY", "PagerDuty")
SHIPYARD = ("B0SHIPYARD", "shipyard")

_REACTIONS = ("+1", "eyes", "white_check_mark", "pray", "tada", "raised_hands", "100")
_QUESTION_LEADS = (
    "",
    "",
    "Quick question: ",
    "{@owner} ",
    "{@owner} ",
    "Sorry if this was asked before, ",
)
# Private threads whose content pins them to a date (channel, thread index) -> day.
_PRIVATE_DATES: dict[tuple[str, int], date] = {
    ("hr-private", 2): date(2025, 10, 21),
    ("hr-private", 5): date(2026, 1, 6),
    ("hr-private", 6): date(2025, 9, 24),
    ("leadership", 3): date(2025, 10, 28),
}


@dataclass
class Post:
    """One Slack message; a thread root holds its replies."""

    author: str | None  # person key; None for a bot
    at: datetime
    text: str
    replies: list[Post] = field(default_factory=list)
    broadcast: bool = False  # a reply also sent to the channel
    bot: tuple[str, str] | None = None  # (bot id, username)
    subtype: str | None = None  # "channel_join"
    reactions: list[tuple[str, list[str]]] = field(default_factory=list)
    edited_at: datetime | None = None


@dataclass
class Conversation:
    """A channel, private channel, DM or group DM and everything posted in it."""

    kind: str  # "channel" | "group" | "dm" | "mpim"
    conversation_id: str
    name: str  # folder name in the export: channel name, mpim name, or the DM id
    members: tuple[str, ...]
    posts: list[Post] = field(default_factory=list)

    def message_count(self) -> int:
        return sum(1 + len(p.replies) for p in self.posts)


class _Planner:
    """Builds the workspace conversation by conversation; `count` tracks messages so far."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.writer = Writer(rng)
        self.conversations: dict[str, Conversation] = {}
        for channel in CHANNELS:
            kind = "group" if channel.private else "channel"
            self.conversations[channel.name] = Conversation(
                kind, channel.channel_id, channel.name, channel.members
            )
        for pair in DM_PAIRS:
            self.conversations[dm_id(pair)] = Conversation("dm", dm_id(pair), dm_id(pair), pair)
        for members in MPIMS:
            name = mpim_name(members)
            self.conversations[name] = Conversation("mpim", mpim_id(members), name, members)
        self.count = 0

    # -- time ------------------------------------------------------------------------------

    def last_day(self, keys: tuple[str, ...]) -> date:
        """The last day on which everyone in `keys` can still write."""
        day = END.date() - timedelta(days=1)
        for key in keys:
            departed = PEOPLE_BY_KEY[key].departed_on
            if departed is not None:
                day = min(day, departed - timedelta(days=2))
        return day

    def pick_day(self, first: date, last: date) -> date:
        span = max((last - first).days, 0)
        day = first + timedelta(days=self.rng.randint(0, span))
        while day.weekday() >= 5:  # weekends are quiet: move to the Friday before
            day -= timedelta(days=1)
        return max(day, first)

    def at_work(self, person: Person, day: date) -> datetime:
        local = datetime.combine(
            day, time(self.rng.randint(9, 17), self.rng.randint(0, 59), self.rng.randint(0, 59))
        )
        micro = self.rng.randint(0, 999_999)
        utc = local - timedelta(hours=person.utc_offset)
        return utc.replace(tzinfo=UTC, microsecond=micro)

    def later(self, at: datetime, *, lo: int = 1, hi: int = 40) -> datetime:
        return at + timedelta(
            minutes=self.rng.randint(lo, hi),
            seconds=self.rng.randint(0, 59),
            microseconds=self.rng.randint(0, 999_999),
        )

    # -- people ----------------------------------------------------------------------------

    def others(self, conversation: Conversation, day: date, exclude: tuple[str, ...]) -> list[str]:
        return [
            k for k in conversation.members if k not in exclude and PEOPLE_BY_KEY[k].active_on(day)
        ]

    def say(
        self,
        author: str,
        sentences: list[str] | tuple[str, ...],
        *,
        at: datetime,
        roles: dict[str, str] | None = None,
        opening: bool = False,
        block: list[str] | tuple[str, ...] = (),
        cut: bool = True,
    ) -> Post:
        person = PEOPLE_BY_KEY[author]
        text = self.writer.compose(
            person, list(sentences), roles=roles, opening=opening, block=block, cut=cut
        )
        return Post(author, at, text)

    def post(
        self,
        conversation: Conversation,
        root: Post,
        replies: list[Post] | None = None,
        *,
        threaded: bool = True,
    ) -> None:
        """Add a root and its replies: as a thread, or (DMs, some channel chatter) as
        consecutive top-level messages."""
        replies = sorted(replies or [], key=lambda p: p.at)
        if threaded and replies and conversation.kind != "dm":
            root.replies = replies
            if self.rng.random() < 0.06:
                replies[-1].broadcast = True
            conversation.posts.append(root)
        else:
            for reply in replies:
                reply.broadcast = False
            conversation.posts += [root, *replies]
        self.count += 1 + len(replies)
        for message in [root, *replies]:
            self.decorate(message, conversation)

    def decorate(self, message: Post, conversation: Conversation) -> None:
        """Add the odd edit and reactions, as real workspaces have."""
        rng = self.rng
        if message.author is None:
            return
        if rng.random() < 0.03:
            message.edited_at = self.later(message.at, lo=1, hi=10)
        if rng.random() < 0.1:
            pool = self.others(conversation, message.at.date(), (message.author,))
            for name in rng.sample(_REACTIONS, k=rng.randint(1, 2)):
                if pool:
                    users = rng.sample(pool, k=min(len(pool), rng.randint(1, 3)))
                    message.reactions.append((name, sorted(users)))

    # -- episodes --------------------------------------------------------------------------

    def place(self, owner: Person) -> Conversation:
        """Where a conversation about `owner`'s systems happens."""
        rng = self.rng
        roll = rng.random()
        if roll < 0.12:
            pairs = [dm_id(p) for p in DM_PAIRS if owner.key in p]
            if pairs:
                return self.conversations[rng.choice(pairs)]
        elif roll < 0.17:
            groups = [mpim_name(m) for m in MPIMS if owner.key in m]
            if groups:
                return self.conversations[rng.choice(groups)]
        elif roll < 0.22 and owner.key in CHANNELS_BY_NAME["leadership"].members:
            return self.conversations["leadership"]
        return self.conversations[owner.expertise.home]

    def episode_day(self, owner: Person, conversation: Conversation) -> tuple[date, list[str]]:
        last = self.last_day((owner.key,))
        day = self.pick_day(START.date(), last)
        return day, self.others(conversation, day, (owner.key,))

    def qa(self, owner: Person) -> None:
        rng = self.rng
        conversation = self.place(owner)
        day, others = self.episode_day(owner, conversation)
        if not others:
            return
        asker = rng.choice(others)
        question, answer = rng.choice(owner.expertise.qa)
        system = next(
            (s for s in owner.expertise.systems if s.lower() in question.lower()),
            rng.choice(owner.expertise.systems),
        )
        roles = {"owner": owner.key, "asker": asker, "system": system}
        at = self.at_work(PEOPLE_BY_KEY[asker], day)
        lead = rng.choice(_QUESTION_LEADS)
        root = self.say(
            asker,
            [lead + question],
            at=at,
            roles=roles,
            opening=conversation.kind != "dm",
            cut=False,
        )
        at = self.later(at)
        replies = [self.say(owner.key, [answer], at=at, roles=roles)]
        if rng.random() < 0.45:
            follow_up, follow_answer = rng.choice(FOLLOW_UPS)
            at = self.later(at)
            replies.append(self.say(asker, [follow_up], at=at, roles=roles))
            at = self.later(at)
            replies.append(self.say(owner.key, [follow_answer], at=at, roles=roles))
        if rng.random() < 0.6:
            replies.append(self.say(asker, [rng.choice(ACKS)], at=self.later(at), roles=roles))
        self.post(conversation, root, replies, threaded=rng.random() < 0.8)

    def update(self, owner: Person) -> None:
        rng = self.rng
        conversation = self.conversations[owner.expertise.home]
        day, others = self.episode_day(owner, conversation)
        roles = {"owner": owner.key}
        at = self.at_work(owner, day)
        if rng.random() < 0.4:
            decision, reason = rng.choice(owner.expertise.decisions)
            sentences = self.writer.decision(owner, decision, reason)
            root = self.say(owner.key, sentences, at=at, roles=roles, opening=True, cut=False)
            pool = DECISION_REPLIES
        else:
            root = self.say(
                owner.key,
                [rng.choice(owner.expertise.facts)],
                at=at,
                roles=roles,
                opening=True,
                cut=False,
            )
            pool = UPDATE_REPLIES
        replies: list[Post] = []
        for who in rng.sample(others, k=min(len(others), rng.randint(0, 3))):
            at = self.later(at)
            replies.append(self.say(who, [rng.choice(pool)], at=at, roles=roles))
        if replies and rng.random() < 0.3:
            question, answer = rng.choice(owner.expertise.qa)
            asker = replies[0].author or owner.key
            replies.append(self.say(asker, [question], at=self.later(at), roles=roles, cut=False))
            replies.append(
                self.say(owner.key, [answer], at=self.later(at, lo=41, hi=60), roles=roles)
            )
        self.post(conversation, root, replies)

    def procedure(self, owner: Person) -> None:
        rng = self.rng
        conversation = self.place(owner)
        day, others = self.episode_day(owner, conversation)
        proc = rng.choice(owner.expertise.procedures)
        intro, steps = self.writer.procedure(owner, proc)
        roles = {"owner": owner.key}
        if others and rng.random() < 0.6:
            asker = rng.choice(others)
            roles["asker"] = asker
            at = self.at_work(PEOPLE_BY_KEY[asker], day)
            root = self.say(
                asker,
                [proc.question],
                at=at,
                roles=roles,
                opening=conversation.kind != "dm",
                cut=False,
            )
            at = self.later(at)
            replies = [self.say(owner.key, intro, at=at, roles=roles, block=steps)]
            if rng.random() < 0.7:
                replies.append(self.say(asker, [rng.choice(ACKS)], at=self.later(at), roles=roles))
            self.post(conversation, root, replies)
            return
        at = self.at_work(owner, day)
        root = self.say(
            owner.key,
            ["Writing this down so it isn't only in my head.", *intro],
            at=at,
            roles=roles,
            opening=conversation.kind != "dm",
            block=steps,
            cut=False,
        )
        replies = [
            self.say(who, [rng.choice(UPDATE_REPLIES)], at=self.later(at), roles=roles)
            for who in rng.sample(others, k=min(len(others), rng.randint(0, 2)))
        ]
        self.post(conversation, root, replies)

    def incident(self, owner: Person) -> None:
        rng = self.rng
        if not owner.expertise.incidents:
            self.update(owner)
            return
        conversation = self.conversations["incidents"]
        day, others = self.episode_day(owner, conversation)
        incident = rng.choice(owner.expertise.incidents)
        roles = {"owner": owner.key}
        at = self.at_work(owner, day)
        alert = Post(None, at, self.writer.fill(incident.alert, author=owner), bot=PAGERDUTY)
        conversation.posts.append(alert)
        self.count += 1
        at = self.later(at, lo=1, hi=5)
        root = self.say(owner.key, [f"Looking into it: {incident.symptom}."], at=at, roles=roles)
        replies: list[Post] = []
        for who in rng.sample(others, k=min(len(others), rng.randint(1, 2))):
            at = self.later(at, hi=10)
            replies.append(self.say(who, [rng.choice(INCIDENT_CHATTER)], at=at, roles=roles))
        at = self.later(at, hi=20)
        replies.append(
            self.say(owner.key, [f"Found it: {incident.cause}."], at=at, roles=roles, cut=False)
        )
        at = self.later(at, hi=20)
        fixed = self.say(owner.key, [f"Mitigated: {incident.fix}."], at=at, roles=roles, cut=False)
        fixed.broadcast = rng.random() < 0.35
        replies.append(fixed)
        thanker = (
            owner.manager
            if owner.manager and PEOPLE_BY_KEY[owner.manager].active_on(day)
            else (others[0] if others else None)
        )
        if thanker and thanker in conversation.members:
            at = self.later(at)
            replies.append(self.say(thanker, [rng.choice(INCIDENT_THANKS)], at=at, roles=roles))
        replies.append(
            self.say(
                owner.key, [incident.followup + "."], at=self.later(at), roles=roles, cut=False
            )
        )
        self.post(conversation, root, replies)

    def review(self, owner: Person) -> None:
        rng = self.rng
        if not owner.expertise.reviews:
            self.qa(owner)
            return
        conversation = self.conversations[owner.expertise.home]
        day, others = self.episode_day(owner, conversation)
        if not others:
            return
        author = rng.choice(others)
        roles = {"owner": owner.key, "asker": author}
        comments = rng.sample(owner.expertise.reviews, k=rng.randint(1, 2))
        at = self.at_work(owner, day)
        root = self.say(
            owner.key,
            [owner.expertise.review_intro],
            at=at,
            roles=roles,
            block=[f"- {c}" for c in comments],
            cut=False,
        )
        replies = [self.say(author, [rng.choice(REVIEW_REPLIES)], at=self.later(at), roles=roles)]
        self.post(conversation, root, replies)

    def chatter(self, person: Person) -> None:
        rng = self.rng
        conversation = self.conversations[rng.choice(("random", "random", "general"))]
        day, others = self.episode_day(person, conversation)
        at = self.at_work(person, day)
        root = self.say(person.key, [rng.choice(SMALL_TALK)], at=at, opening=True, cut=False)
        replies = [
            self.say(who, [rng.choice(SMALL_TALK_REPLIES)], at=self.later(at))
            for who in rng.sample(others, k=min(len(others), rng.randint(0, 3)))
        ]
        self.post(conversation, root, replies, threaded=rng.random() < 0.5)

    # -- fixed storylines ------------------------------------------------------------------

    def joins(self) -> None:
        """Members join channels created during the covered period."""
        for channel in CHANNELS:
            if channel.created < START.date():
                continue
            conversation = self.conversations[channel.name]
            at = datetime.combine(channel.created, time(9, 0), tzinfo=UTC)
            for key in channel.members:
                at = self.later(at, lo=0, hi=30)
                conversation.posts.append(
                    Post(key, at, f"⟦@{key}⟧ has joined the channel", subtype="channel_join")
                )
                self.count += 1

    def private_threads(self) -> None:
        for channel_name, threads in PRIVATE_THREADS.items():
            conversation = self.conversations[channel_name]
            for index, thread in enumerate(threads):
                authors = tuple(dict.fromkeys(author for author, _ in thread))
                day = _PRIVATE_DATES.get((channel_name, index)) or self.pick_day(
                    START.date() + timedelta(days=20), self.last_day(authors)
                )
                at = self.at_work(PEOPLE_BY_KEY[thread[0][0]], day)
                posts = []
                for position, (author, text) in enumerate(thread):
                    posts.append(self.say(author, [text], at=at, opening=position == 0, cut=False))
                    at = self.later(at)
                self.post(conversation, posts[0], posts[1:])

    def handovers(self) -> None:
        """Departing people hand their systems over, say goodbye, and get asked about later."""
        for person in PEOPLE:
            if person.departed_on is not None:
                self.handover(person)
        self.after_departure()

    def handover(self, person: Person) -> None:
        """Handover notes in the home channel and in DMs to successors, then a farewell."""
        rng = self.rng
        expertise = person.expertise
        last = self.last_day((person.key,))
        home = self.conversations[expertise.home]
        *most, final = expertise.systems
        roles = {
            "owner": person.key,
            "successor": person.successors[0],
            "system": f"{', '.join(most)} and {final}" if most else final,
        }
        day = last - timedelta(days=rng.randint(10, 16))
        at = self.at_work(person, day)
        root = self.say(
            person.key,
            [HANDOVER_INTRO],
            at=at,
            roles=roles,
            opening=True,
            block=[
                f"- {self.writer.fill(n, author=person, roles=roles)}" for n in expertise.handover
            ],
            cut=False,
        )
        replies = []
        for successor in person.successors:
            at = self.later(at)
            question, answer = rng.choice(expertise.qa)
            replies.append(self.say(successor, [question], at=at, roles=roles, cut=False))
            at = self.later(at)
            replies.append(self.say(person.key, [answer], at=at, roles=roles))
            replies.append(self.say(successor, [rng.choice(ACKS)], at=self.later(at), roles=roles))
        self.post(home, root, replies)
        for successor in person.successors:
            pair = next((p for p in DM_PAIRS if set(p) == {person.key, successor}), None)
            if pair is None:
                continue
            dm = self.conversations[dm_id(pair)]
            at = self.at_work(person, last - timedelta(days=rng.randint(3, 9)))
            notes = rng.sample(expertise.handover, k=min(3, len(expertise.handover)))
            first = self.say(person.key, [notes[0]], at=at, roles=roles, cut=False)
            rest = []
            for note in notes[1:]:
                at = self.later(at, hi=5)
                rest.append(self.say(person.key, [note], at=at, roles=roles, cut=False))
            rest.append(self.say(successor, [rng.choice(ACKS)], at=self.later(at)))
            self.post(dm, first, rest)
        general = self.conversations["general"]
        at = self.at_work(person, last)
        farewell = self.say(person.key, list(FAREWELL), at=at, roles=roles, opening=True, cut=False)
        others = self.others(general, last, (person.key,))
        goodbyes = [
            self.say(who, [rng.choice(FAREWELL_REPLIES)], at=self.later(at))
            for who in rng.sample(others, k=min(len(others), 4))
        ]
        self.post(general, farewell, goodbyes)

    def after_departure(self) -> None:
        """Colleagues ask about a departed person's systems in the weeks after they left."""
        for departed, asker, question, answerer, answer in AFTER_DEPARTURE:
            person = PEOPLE_BY_KEY[departed]
            assert person.departed_on is not None
            earliest = person.departed_on + timedelta(days=10)
            day = self.pick_day(
                earliest, min(earliest + timedelta(days=50), END.date() - timedelta(days=2))
            )
            conversation = self.conversations[person.expertise.home]
            roles = {"owner": departed}
            at = self.at_work(PEOPLE_BY_KEY[asker], day)
            root = self.say(asker, [question], at=at, roles=roles, cut=False)
            reply = self.say(answerer, [answer], at=self.later(at), roles=roles, cut=False)
            self.post(conversation, root, [reply])

    def deploys(self, count: int) -> None:
        """The shipyard bot announces deploys in #platform."""
        rng = self.rng
        platform = self.conversations["platform"]
        services = (
            "billing-svc",
            "webhook-gateway",
            "ledger-recon",
            "fleet-api",
            "ingest-api",
            "riskwall",
        )
        deployers = ("tom", "dana", "kenji", "lucia", "priya", "wei")
        for _ in range(count):
            deployer = PEOPLE_BY_KEY[rng.choice(deployers)]
            day = self.pick_day(START.date(), self.last_day((deployer.key,)))
            version = f"v{rng.randint(1, 3)}.{rng.randint(0, 30)}.{rng.randint(0, 9)}"
            text = f"Deployed {rng.choice(services)} {version} to production (by {deployer.handle})"
            platform.posts.append(Post(None, self.at_work(deployer, day), text, bot=SHIPYARD))
            self.count += 1

    # -- everything ------------------------------------------------------------------------

    def run(self, target: int) -> list[Conversation]:
        rng = self.rng
        self.joins()
        self.private_threads()
        self.handovers()
        self.deploys(max(2, target // 100))
        people = list(PEOPLE)
        weights = [p.activity for p in people]
        kinds = (self.qa, self.update, self.procedure, self.incident, self.review)
        kind_weights = (40, 22, 9, 9, 8)
        while self.count < target:
            person = rng.choices(people, weights=weights)[0]
            if rng.random() < 0.1:
                self.chatter(person)
            else:
                rng.choices(kinds, weights=kind_weights)[0](person)
        for conversation in self.conversations.values():
            conversation.posts.sort(key=lambda p: p.at)
        return list(self.conversations.values())


def plan_conversations(rng: random.Random, *, scale: float = 1.0) -> list[Conversation]:
    """Plan the whole workspace: about ``DEFAULT_MESSAGES * scale`` messages."""
    return _Planner(rng).run(max(60, round(DEFAULT_MESSAGES * scale)))

"""Load on the Slack slash command against a real server and a real worker (issue 10).

Target (docs/SECURITY.md row 3, issue 10): 20 requests/s for 120 s against a real server
process and a real Celery worker on Redis; p99 acknowledgement < 1 s, 0 errors; Slack's
retries cause no duplicate work.

What runs, all on this machine:

1. **setup** (child processes, so this process never loads Django): a fresh COLLEAGUE_VAR_DIR
   in a temp dir (SQLite there by default; `--postgres URL` creates a database on that server
   instead and drops it afterwards), `manage.py migrate`, `manage.py load_demo` (Northwind
   Robotics, embedded with the default `use` embedder, no broker: embedding runs inline) and
   intranet logins: the demo's three (grace, samuel, tom) plus five Employee logins linked to
   their colleagues (colleagues.actions.link_login).
2. **Slack**: FakeSlack (tests/connectors/slack/fake_slack.py) in this process serves
   users.info for those eight people (team T0NORTHWND, their demo Slack ids and addresses) and
   the response URLs, noting when each reply arrives.
3. **server and worker**: `gunicorn config.wsgi:application --workers W --threads T` and
   `celery -A config worker --pool=solo --concurrency 1` on redis://127.0.0.1:6379/14 (flushed
   first; `--celery-concurrency N` runs N prefork processes instead), both with SLACK_*
   pointing at FakeSlack and DEBUG=0 (no query log kept per connection; the rest is the
   embedded default: locmem cache, `use` embedder, `db` index). A few warm-up commands
   (`--warmup`) load the embedder and vector cache in the worker before anything is measured.
4. **load**, open loop: exactly `--rate` commands per second for `--seconds` seconds, each on
   its own connection at its scheduled time, from a thread pool large enough never to queue.
   Latency is the response's arrival minus the *scheduled* send time, so a stalled server shows
   up as latency (no coordinated omission). Half are `ask <mailto:address|address> <question>`
   to a demo colleague (departed ones included) with a question from what they wrote about,
   half `who knows <topic>` on a demo topic; askers are the eight mapped people. Each command
   has a unique trigger_id and its own response URL. Every `--retries-every`-th command is sent
   again 0.5 s later as Slack retries it: the same body, a new timestamp and signature,
   `X-Slack-Retry-Num: 1` (expected: 200 and nothing more).
5. **drain**: waits (up to `--drain-timeout`, by default the 30 minutes Slack accepts replies
   to a response URL) until every command has had a reply at its response URL, then for the
   queue to empty and 3 s more, and counts replies per URL.

Reported: acknowledgement latency p50/p95/p99/max (and the server's own time per request
from gunicorn's access log), errors (non-200 or malformed acknowledgements, connection
errors, acknowledgements slower than Slack's 3 s, retries not answered 200, failed or missing
replies, replies after the response URL's 30 minutes), duplicates
(a response URL with more than one reply: work done twice), the retries' statuses, answer
time (reply arrival minus scheduled send, to 0.25 s), the worker's task times (from its log),
queue peak, time to drain after the load, peak RSS and CPU seconds of server and worker, the
load average at start and end, and what the database holds afterwards (requests by state,
audit events of the work, audit chain verified). Exit status 1 when the target is missed,
2 when the run could not be made.

    .venv/bin/python bench/slack_command_load.py --seconds 15                 # quick check
    .venv/bin/python bench/slack_command_load.py --rate 20 --seconds 120 --workers 2 \\
        --retries-every 50 --json-out var/bench/slack-command-load.json
    .venv/bin/python bench/slack_command_load.py --postgres postgres://postgres@127.0.0.1:5432

Needs Redis on 127.0.0.1:6379 (database 14 is flushed). Run from anywhere; children run in
the project root.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import itertools
import json
import math
import os
import random
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import psutil  # noqa: E402
import redis  # noqa: E402

from colleagues.demo.company import PEOPLE, PEOPLE_BY_KEY, TEAM_ID, Person  # noqa: E402
from slack_command.signature import sign  # noqa: E402
from tests.connectors.slack.fake_slack import TOKEN, FakeSlack  # noqa: E402

PYTHON = str(ROOT / ".venv" / "bin" / "python")
ACK_TARGET_S = 1.0
SLACK_ACK_LIMIT_S = 3.0  # Slack shows the user a timeout (and retries) after this
RESPONSE_URL_LIFETIME_S = 30 * 60  # Slack accepts replies to a response_url for 30 minutes
RETRY_DELAY_S = 0.5
BROKER_URL = "redis://127.0.0.1:6379/14"
QUEUE_KEY = "celery"  # kombu's Redis list of the default queue
PATH = "/slack/commands/"
TASK_NAME = "slack_command.tasks.answer_command_task"
# The demo's own logins (load_demo) and five more Employee logins made here: all mapped askers.
DEMO_LOGIN_KEYS = ("grace", "samuel", "tom")
EXTRA_LOGIN_KEYS = ("lucia", "wei", "mei", "chloe", "kenji")
# Variables of the project that must come from this script only, not from the caller's shell.
OWN_VARS = re.compile(
    r"^(SLACK_|CELERY_|COLLEAGUE_|DATABASE_URL$|SECRET_KEY$|CACHE_URL$|DEBUG$|LLM_|EMBEDDINGS_"
    r"|PGVECTOR_URL$|WEAVIATE_|ALLOWED_HOSTS$|DJANGO_SETTINGS_MODULE$)"
)

SETUP_SCRIPT = """
import json, os
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from colleagues.actions import link_login
from colleagues.models import Colleague
from colleagues.roles import Role

User = get_user_model()
employee = Group.objects.get(name=Role.EMPLOYEE.value)
logins = []
for email in json.loads(os.environ["BENCH_LOGINS"]):
    colleague = Colleague.objects.get(email__iexact=email)
    user = User.objects.filter(email__iexact=email).first()
    created = user is None
    if created:
        user = User.objects.create_user(username=email.split("@")[0], email=email)
        user.groups.set([employee])
        link_login(colleague=colleague, user=user)
    logins.append({"email": email, "username": user.username, "created": created})
colleagues = [
    {"email": c.email.lower(), "name": c.name, "status": c.status}
    for c in Colleague.objects.exclude(email="").order_by("name")
]
print("BENCH-JSON:" + json.dumps({"logins": logins, "colleagues": colleagues}))
"""

POSTCHECK_SCRIPT = """
import json
from collections import Counter
from knowledge.audit import verify_chain
from knowledge.models import AuditEvent
from slack_command.models import SlackRequest

states = Counter(
    SlackRequest.objects.filter(kind="command").values_list("state", flat=True)
)
events = Counter()
for action, result, detail in AuditEvent.objects.filter(
    action__in=["answers.asked", "answers.who_knows", "slack_request", "slack_command"]
).values_list("action", "result", "detail"):
    events[f"{action} {result} {detail.get('via') or detail.get('reason') or ''}".strip()] += 1
print("BENCH-JSON:" + json.dumps({
    "slack_requests_by_state": dict(states),
    "audit_events": dict(events),
    "audit_chain": verify_chain().as_json(),
}))
"""


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile of `values` (nan when empty)."""
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


def ms(seconds: float) -> float:
    return round(seconds * 1000, 1)


def spread(seconds: list[float]) -> dict[str, float | int]:
    """p50/p95/p99/max of `seconds`, in milliseconds."""
    return {
        "count": len(seconds),
        "p50_ms": ms(percentile(seconds, 50)),
        "p95_ms": ms(percentile(seconds, 95)),
        "p99_ms": ms(percentile(seconds, 99)),
        "max_ms": ms(max(seconds)) if seconds else math.nan,
    }


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


# --- The commands ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Planned:
    """One request of the schedule: a command, or Slack's retry of one (same `name`)."""

    index: int
    name: str  # its response URL's last part
    kind: str  # "ask" | "who_knows"
    text: str
    asker: str  # Slack user id
    body: bytes
    at: float  # seconds after the load's start
    retry: bool = False


_triggers = itertools.count(1)


def command_body(text: str, *, asker: Person, response_url: str) -> bytes:
    """A slash command's form body as Slack sends it, with a unique trigger_id."""
    return urlencode(
        {
            "token": "deprecated-verification-token",
            "team_id": TEAM_ID,
            "team_domain": "northwind-robotics",
            "channel_id": "C0GENERAL1",
            "channel_name": "general",
            "user_id": asker.slack_id,
            "user_name": asker.handle,
            "command": "/colleague",
            "text": text,
            "api_app_id": "A0COLLEAGUE",
            "is_enterprise_install": "false",
            "response_url": response_url,
            "trigger_id": f"{next(_triggers)}.{secrets.randbelow(10**12)}.{secrets.token_hex(16)}",
        }
    ).encode()


@dataclass(frozen=True)
class Workload:
    """What the demo company's people ask: (text, kind) pairs to draw from."""

    asks: list[str]
    topics: list[str]

    @classmethod
    def for_demo(cls, known_emails: set[str]) -> Workload:
        asks = []
        for person in PEOPLE:
            if person.email not in known_emails:
                continue
            mention = f"<mailto:{person.email}|{person.email}>"  # how Slack escapes an address
            questions = [question for question, _ in person.expertise.qa]
            questions += [procedure.question for procedure in person.expertise.procedures]
            asks += [f"ask {mention} {question}" for question in questions]
        topics = sorted({t for p in PEOPLE for t in (*p.expertise.keywords, *p.expertise.systems)})
        return cls(asks=asks, topics=topics)

    def command(self, rng: random.Random, index: int) -> tuple[str, str]:
        if index % 2 == 0:
            return "ask", rng.choice(self.asks)
        topic = rng.choice(self.topics)
        return "who_knows", rng.choice(
            (f"who knows {topic}", f"who knows about {topic}?", f"who knows {topic} best")
        )


def build_plan(
    *,
    workload: Workload,
    askers: list[Person],
    fake: FakeSlack,
    rate: int,
    seconds: int,
    retries_every: int,
    seed: int,
    prefix: str = "cmd",
) -> list[Planned]:
    """The schedule: `rate` × `seconds` commands evenly spaced, plus the retries."""
    rng = random.Random(seed)
    plan: list[Planned] = []
    for index in range(rate * seconds):
        kind, text = workload.command(rng, index)
        asker = rng.choice(askers)
        name = f"{prefix}-{index:06d}"
        body = command_body(text, asker=asker, response_url=fake.response_url(name))
        planned = Planned(index, name, kind, text, asker.slack_id, body, at=index / rate)
        plan.append(planned)
        if retries_every and index % retries_every == retries_every - 1:
            plan.append(
                Planned(
                    index, name, kind, text, asker.slack_id, body, planned.at + RETRY_DELAY_S, True
                )
            )
    plan.sort(key=lambda p: (p.at, p.retry))
    return plan


# --- Sending ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Sent:
    planned: Planned
    status: int  # 0: no HTTP response
    latency: float  # response read minus scheduled send, seconds
    lag: float  # actual send minus scheduled send (the generator's own delay), seconds
    sent_at: float  # perf_counter of the scheduled send
    ack_ok: bool  # the acknowledgement Slack expects (see check_ack)
    error: str = ""


def check_ack(planned: Planned, status: int, payload: bytes) -> bool:
    """A command: 200 and the ephemeral "Working on it…"; a retry: 200 (nothing else done)."""
    if status != 200:
        return False
    if planned.retry:
        return True
    try:
        body = json.loads(payload)
    except ValueError:
        return False
    return body.get("response_type") == "ephemeral" and "Working on it" in body.get("text", "")


def send(secret: str, port: int, planned: Planned, scheduled: float) -> Sent:
    """POST `planned` as Slack does: one connection, signed at send time."""
    started = time.perf_counter()
    timestamp = int(time.time())
    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        "User-Agent": "Slackbot 1.0 (+https://api.slack.com/robots)",
        "X-Slack-Request-Timestamp": str(timestamp),
        "X-Slack-Signature": sign(secret, planned.body, timestamp),
    }
    if planned.retry:
        headers["X-Slack-Retry-Num"] = "1"
        headers["X-Slack-Retry-Reason"] = "http_timeout"
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    status, payload, error = 0, b"", ""
    try:
        connection.request("POST", PATH, body=planned.body, headers=headers)
        response = connection.getresponse()
        status, payload = response.status, response.read()
    except (OSError, http.client.HTTPException) as exc:
        error = f"{type(exc).__name__}: {exc}"
    finally:
        connection.close()
    done = time.perf_counter()
    return Sent(
        planned=planned,
        status=status,
        latency=done - scheduled,
        lag=started - scheduled,
        sent_at=scheduled,
        ack_ok=check_ack(planned, status, payload),
        error=error,
    )


class Load:
    """Sends a plan open loop: each request at its scheduled time, whatever came before."""

    def __init__(self, plan: list[Planned], *, secret: str, port: int, pool: int) -> None:
        self.plan = plan
        self.secret = secret
        self.port = port
        self.pool = pool
        self.results: list[Sent] = []
        self.submitted = 0
        self.started = 0.0
        self.ended = 0.0  # the last scheduled send
        self._lock = threading.Lock()

    def run(self) -> None:
        self.started = time.perf_counter() + 0.5
        with ThreadPoolExecutor(max_workers=self.pool, thread_name_prefix="slack") as pool:
            for planned in self.plan:
                scheduled = self.started + planned.at
                delay = scheduled - time.perf_counter()
                if delay > 0:
                    time.sleep(delay)
                future = pool.submit(send, self.secret, self.port, planned, scheduled)
                future.add_done_callback(lambda f: self._done(f.result()))
                self.submitted += 1
            self.ended = time.perf_counter()
        # The pool's exit waited for every response.

    def _done(self, sent: Sent) -> None:
        with self._lock:
            self.results.append(sent)

    def snapshot(self) -> list[Sent]:
        with self._lock:
            return list(self.results)

    def elapsed(self) -> float:
        return max(0.0, time.perf_counter() - self.started) if self.started else 0.0


# --- Replies ---------------------------------------------------------------------------------


class Replies:
    """When each response URL first got a reply (polled every 0.25 s)."""

    def __init__(self, fake: FakeSlack) -> None:
        self.fake = fake
        self.first_seen: dict[str, float] = {}

    def poll(self) -> None:
        now = time.perf_counter()
        with self.fake._lock:
            names = [name for name in self.fake.responses if name not in self.first_seen]
        for name in names:
            self.first_seen[name] = now

    def count(self, names: set[str]) -> int:
        return sum(1 for name in names if name in self.first_seen)


def reply_kind(reply: dict[str, Any]) -> str:
    """What a reply told the asker, from its fallback text (slack_command.actions)."""
    text = str(reply.get("text", ""))
    for marker, kind in (
        ("An answer from what", "answer"),
        ("Who knows:", "who_knows"),
        ("no such colleague", "no_such_colleague"),
        ("does not know you yet", "unmapped"),
        ("could not check who you are", "slack_down"),
        ("Something went wrong", "failed"),
    ):
        if marker in text:
            return kind
    return "other"


FAILED_KINDS = {"slack_down", "failed", "other"}


# --- Processes -------------------------------------------------------------------------------


def child_env(base: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not OWN_VARS.match(k)}
    env.update(base)
    env["PYTHONUNBUFFERED"] = "1"
    return env


def run_manage(args: list[str], env: dict[str, str], log: Path) -> tuple[float, str]:
    """Run `manage.py args`; return (seconds, stdout); raise with the log's tail on failure."""
    started = time.perf_counter()
    with log.open("ab") as err:
        done = subprocess.run(
            [PYTHON, "manage.py", *args],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=err,
            check=False,
        )
    if done.returncode != 0:
        raise RuntimeError(f"manage.py {args[0]} failed:\n{tail(log)}")
    return time.perf_counter() - started, done.stdout.decode()


def bench_json(stdout: str) -> dict[str, Any]:
    for line in stdout.splitlines():
        if line.startswith("BENCH-JSON:"):
            return dict(json.loads(line.removeprefix("BENCH-JSON:")))
    raise RuntimeError(f"no BENCH-JSON line in:\n{stdout[-2000:]}")


def tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


@dataclass
class Child:
    """A child process in its own process group, with its log."""

    name: str
    process: subprocess.Popen[bytes]
    log: Path
    peak_rss: int = 0  # bytes, the whole process tree
    peak_process_rss: int = 0  # bytes, its largest process

    def tree(self) -> list[psutil.Process]:
        try:
            root = psutil.Process(self.process.pid)
            return [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            return []

    def sample(self) -> None:
        sizes = []
        for proc in self.tree():
            try:
                sizes.append(proc.memory_info().rss)
            except psutil.Error:
                continue
        if sizes:
            self.peak_rss = max(self.peak_rss, sum(sizes))
            self.peak_process_rss = max(self.peak_process_rss, max(sizes))

    def cpu_seconds(self) -> float:
        total = 0.0
        for proc in self.tree():
            try:
                times = proc.cpu_times()
            except psutil.Error:
                continue
            total += times.user + times.system
        return total

    def check_alive(self) -> None:
        if self.process.poll() is not None:
            raise RuntimeError(
                f"{self.name} exited with {self.process.returncode}:\n{tail(self.log)}"
            )

    def stop(self) -> None:
        if self.process.poll() is not None:
            return
        for sig, wait in ((signal.SIGTERM, 15), (signal.SIGKILL, 5)):
            try:
                os.killpg(self.process.pid, sig)
            except ProcessLookupError:
                return
            try:
                self.process.wait(timeout=wait)
                return
            except subprocess.TimeoutExpired:
                continue


def celery_pool(args: argparse.Namespace) -> str:
    return "solo" if args.celery_concurrency == 1 else "prefork"


def start(name: str, args: list[str], env: dict[str, str], log: Path) -> Child:
    out: IO[bytes] = log.open("ab")
    process = subprocess.Popen(
        args, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
    )
    out.close()
    return Child(name, process, log)


def wait_for_server(server: Child, port: int, timeout: float = 90) -> None:
    """Until the command URL answers (a GET: 405, nothing stored or audited)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        server.check_alive()
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        try:
            connection.request("GET", PATH)
            if connection.getresponse().status == 405:
                return
        except (OSError, http.client.HTTPException):
            pass
        finally:
            connection.close()
        time.sleep(0.3)
    raise RuntimeError(f"gunicorn not ready after {timeout} s:\n{tail(server.log)}")


def wait_for_worker(worker: Child, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        worker.check_alive()
        if re.search(r"@\S+ ready\.", worker.log.read_text(errors="replace")):
            return
        time.sleep(0.3)
    raise RuntimeError(f"celery worker not ready after {timeout} s:\n{tail(worker.log)}")


def task_times(log: Path) -> tuple[list[float], Counter[str], int]:
    """The answer task's run times and results from the worker's log, and failures."""
    done = re.compile(re.escape(TASK_NAME) + r"\[[^\]]+\] succeeded in ([0-9.e-]+)s: (.*)$")
    raised = re.compile(re.escape(TASK_NAME) + r"\[[^\]]+\] raised")
    seconds, results, failures = [], Counter[str](), 0
    for line in log.read_text(errors="replace").splitlines():
        if match := done.search(line):
            seconds.append(float(match.group(1)))
            results[match.group(2).strip("'")] += 1
        elif raised.search(line):
            failures += 1
    return seconds, results, failures


def access_lines(access_log: Path) -> list[str]:
    try:
        return access_log.read_text(errors="replace").splitlines()
    except FileNotFoundError:
        return []


def server_times(access_log: Path, skip: int = 0) -> list[float]:
    """Seconds the server spent on each POST to the command URL (gunicorn's %(D)s), after the
    first `skip` lines of the log."""
    seconds = []
    for line in access_lines(access_log)[skip:]:
        parts = line.split()
        if len(parts) == 4 and parts[1] == "POST" and parts[2] == PATH:
            seconds.append(int(parts[3]) / 1e6)
    return seconds


# --- Watching --------------------------------------------------------------------------------


class Monitor:
    """Every 0.25 s notes new replies; every 1 s samples RSS and the queue; every 10 s prints
    `status()` of the current phase."""

    def __init__(self, replies: Replies, broker: redis.Redis, children: list[Child]) -> None:
        self.replies = replies
        self.broker = broker
        self.children = children
        self.status: Callable[[], str] = lambda: ""
        self.queue = 0
        self.peak_queue = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="monitor", daemon=True)

    def __enter__(self) -> Monitor:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        tick = 0
        while not self._stop.wait(0.25):
            tick += 1
            self.replies.poll()
            if tick % 4 == 0:
                for child in self.children:
                    child.sample()
                with contextlib.suppress(redis.RedisError):
                    self.queue = int(self.broker.llen(QUEUE_KEY))
                self.peak_queue = max(self.peak_queue, self.queue)
            if tick % 40 == 0 and (line := self.status()):
                say(f"  {line}; queue {self.queue}; load {os.getloadavg()[0]:.2f}")


def load_status(load: Load, replies: Replies, names: set[str], seconds: int) -> str:
    done = load.snapshot()
    latencies = [s.latency for s in done]
    errors = sum(1 for s in done if not s.ack_ok)
    return (
        f"load {min(load.elapsed(), seconds):5.0f}/{seconds} s: sent {load.submitted}, "
        f"acked {len(done)}, p99 so far {ms(percentile(latencies, 99))} ms, errors {errors}; "
        f"answered {replies.count(names)}/{len(names)}"
    )


# --- The run ---------------------------------------------------------------------------------


@dataclass
class Setup:
    var_dir: Path
    env: dict[str, str]
    database: str
    migrate_s: float = 0.0
    load_demo_s: float = 0.0
    logins: list[dict[str, Any]] = field(default_factory=list)
    colleagues: list[dict[str, Any]] = field(default_factory=list)


def prepare(work: Path, postgres_url: str | None, stack: ExitStack) -> Setup:
    var_dir = work / "var"
    var_dir.mkdir(parents=True)
    env = {"COLLEAGUE_VAR_DIR": str(var_dir), "DEBUG": "0"}
    database = "sqlite"
    if postgres_url:
        env["DATABASE_URL"] = create_database(postgres_url, stack)
        database = "postgresql"
    setup = Setup(var_dir=var_dir, env=env, database=database)
    log = work / "setup.log"
    say(f"setup: migrate into {var_dir} ({database})")
    setup.migrate_s, _ = run_manage(["migrate", "--no-input", "-v", "0"], child_env(env), log)
    say("setup: load_demo (Northwind Robotics, `use` embedder inline; ~30 s)")
    setup.load_demo_s, _ = run_manage(["load_demo", "--json"], child_env(env), log)
    emails = [PEOPLE_BY_KEY[k].email for k in (*DEMO_LOGIN_KEYS, *EXTRA_LOGIN_KEYS)]
    _, out = run_manage(
        ["shell", "-c", SETUP_SCRIPT], child_env({**env, "BENCH_LOGINS": json.dumps(emails)}), log
    )
    found = bench_json(out)
    setup.logins, setup.colleagues = found["logins"], found["colleagues"]
    return setup


def create_database(server_url: str, stack: ExitStack) -> str:
    """A new PostgreSQL database on `server_url` (dropped on exit); its URL."""
    import psycopg

    name = f"colleague_slack_load_{os.getpid()}"
    admin = server_url.rstrip("/") + "/postgres"
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    say(f"setup: created PostgreSQL database {name}")

    def drop() -> None:
        with psycopg.connect(admin, autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        say(f"cleanup: dropped database {name}")

    stack.callback(drop)
    return server_url.rstrip("/") + "/" + name


def wait_for_replies(
    replies: Replies, names: set[str], timeout: float, monitor: Monitor, label: str
) -> bool:
    """Until every name has a reply; False on timeout."""
    deadline = time.monotonic() + timeout
    started = time.perf_counter()
    monitor.status = lambda: (
        f"{label} {time.perf_counter() - started:5.0f} s: "
        f"answered {replies.count(names)}/{len(names)}"
    )
    while time.monotonic() < deadline:
        if replies.count(names) == len(names):
            return True
        time.sleep(0.25)
    return replies.count(names) == len(names)


def wait_for_quiet(broker: redis.Redis, timeout: float = 60) -> bool:
    """Until the queue and kombu's unacked set are empty, then 3 s more for stragglers."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not broker.llen(QUEUE_KEY) and not broker.hlen("unacked"):
            time.sleep(3)
            return True
        time.sleep(0.5)
    return False


def run(args: argparse.Namespace, stack: ExitStack) -> dict[str, Any]:
    load_start = os.getloadavg()
    say(f"load average at start: {load_start[0]:.2f} {load_start[1]:.2f} {load_start[2]:.2f}")
    secret = secrets.token_hex(16)
    if args.keep:
        work = Path(args.keep).resolve()
        work.mkdir(parents=True, exist_ok=False)
    else:
        work = Path(tempfile.mkdtemp(prefix="slack-command-load-"))
        stack.callback(shutil.rmtree, work, ignore_errors=True)
    setup = prepare(work, args.postgres, stack)

    fake = stack.enter_context(FakeSlack())
    askers = [PEOPLE_BY_KEY[k] for k in (*DEMO_LOGIN_KEYS, *EXTRA_LOGIN_KEYS)]
    for person in askers:
        fake.add_user(
            person.slack_id,
            person.handle,
            real_name=person.name,
            email=person.email,
            team_id=TEAM_ID,
        )
    broker = redis.Redis.from_url(BROKER_URL)
    broker.flushdb()
    stack.callback(broker.flushdb)

    env = child_env(
        {
            **setup.env,
            "SLACK_SIGNING_SECRET": secret,
            "SLACK_BOT_TOKEN": TOKEN,
            "SLACK_API_URL": fake.base_url,
            "SLACK_RESPONSE_URL_PREFIXES": fake.response_url_prefix,
            "CELERY_BROKER_URL": BROKER_URL,
            "COLLEAGUE_BASE_URL": "https://colleague.northwind.example",
        }
    )
    port = free_port()
    server = start(
        "gunicorn",
        [
            PYTHON, "-m", "gunicorn", "config.wsgi:application",
            "--bind", f"127.0.0.1:{port}",
            "--workers", str(args.workers), "--threads", str(args.threads),
            "--timeout", "60",
            "--access-logfile", str(work / "access.log"),
            "--access-logformat", "%(s)s %(m)s %(U)s %(D)s",
        ],
        env,
        work / "gunicorn.log",
    )  # fmt: skip
    stack.callback(server.stop)
    worker = start(
        "celery worker",
        [
            PYTHON, "-m", "celery", "-A", "config", "worker",
            "--pool", celery_pool(args),
            "--concurrency", str(args.celery_concurrency),
            "--without-gossip", "--without-mingle", "--without-heartbeat",
            "--loglevel", "INFO", "--hostname", f"slack-load-{os.getpid()}@%h",
        ],
        env,
        work / "worker.log",
    )  # fmt: skip
    stack.callback(worker.stop)
    say(f"starting gunicorn on :{port} ({args.workers} workers × {args.threads} threads)")
    wait_for_server(server, port)
    say(f"starting the celery worker ({celery_pool(args)} pool) on {BROKER_URL}")
    wait_for_worker(worker)

    replies = Replies(fake)
    monitor = stack.enter_context(Monitor(replies, broker, [server, worker]))
    known = {c["email"] for c in setup.colleagues}
    workload = Workload.for_demo(known)

    # Warm-up: the worker loads the embedder and the vector cache on its first answers.
    warm_plan = build_plan(
        workload=workload,
        askers=askers,
        fake=fake,
        rate=args.warmup,
        seconds=1,
        retries_every=0,
        seed=args.seed + 1,
        prefix="warmup",
    )
    say(f"warm-up: {len(warm_plan)} commands")
    warm = Load(warm_plan, secret=secret, port=port, pool=8)
    warm.run()
    warm_names = {p.name for p in warm_plan}
    warm_started = warm.started
    if not wait_for_replies(replies, warm_names, 300, monitor, "warm-up"):
        raise RuntimeError(f"warm-up commands unanswered:\n{tail(worker.log)}")
    warmup = {
        "commands": len(warm_plan),
        "acks_ok": sum(1 for s in warm.results if s.ack_ok),
        "answered_in_s": round(max(replies.first_seen[n] for n in warm_names) - warm_started, 2),
    }
    wait_for_quiet(broker)
    warm_tasks = len(task_times(worker.log)[0])
    warm_access_lines = len(access_lines(work / "access.log"))

    plan = build_plan(
        workload=workload,
        askers=askers,
        fake=fake,
        rate=args.rate,
        seconds=args.seconds,
        retries_every=args.retries_every,
        seed=args.seed,
    )
    commands = [p for p in plan if not p.retry]
    names = {p.name for p in commands}
    say(
        f"load: {len(commands)} commands at {args.rate}/s for {args.seconds} s, "
        f"{len(plan) - len(commands)} retries; load average {os.getloadavg()[0]:.2f}"
    )
    load = Load(plan, secret=secret, port=port, pool=args.pool)
    monitor.status = lambda: load_status(load, replies, names, args.seconds)
    cpu_before = {c.name: c.cpu_seconds() for c in (server, worker)}
    load.run()
    load_end_at = load.ended
    cpu_load = {c.name: c.cpu_seconds() - cpu_before[c.name] for c in (server, worker)}
    load_window = load_end_at - load.started
    say(f"load done in {load_window:.1f} s; waiting for the answers")
    all_answered = wait_for_replies(replies, names, args.drain_timeout, monitor, "drain")
    drained_at = time.perf_counter()
    quiet = wait_for_quiet(broker)
    monitor.status = lambda: ""
    cpu_total = {c.name: c.cpu_seconds() - cpu_before[c.name] for c in (server, worker)}
    server.check_alive()
    worker.check_alive()

    last_answer = max((replies.first_seen.get(n, drained_at) for n in names), default=drained_at)

    # Post-checks, then stop the processes before reading their logs.
    _, out = run_manage(["shell", "-c", POSTCHECK_SCRIPT], env, work / "setup.log")
    database_after = bench_json(out)
    server.stop()
    worker.stop()

    return summarise(
        args=args,
        setup=setup,
        load=load,
        commands=commands,
        fake=fake,
        replies=replies,
        monitor=monitor,
        children=(server, worker),
        work=work,
        extra={
            "load_average_start": [round(x, 2) for x in load_start],
            "load_average_end": [round(x, 2) for x in os.getloadavg()],
            "warmup": warmup,
            "warmup_tasks": warm_tasks,
            "warmup_access_lines": warm_access_lines,
            "all_answered": all_answered,
            "quiet": quiet,
            "drain_s": round(last_answer - load_end_at, 1),
            "load_window_s": round(load_window, 2),
            "cpu_during_load": cpu_load,
            "cpu_until_drained": cpu_total,
            "database_after": database_after,
        },
    )


def summarise(
    *,
    args: argparse.Namespace,
    setup: Setup,
    load: Load,
    commands: list[Planned],
    fake: FakeSlack,
    replies: Replies,
    monitor: Monitor,
    children: tuple[Child, Child],
    work: Path,
    extra: dict[str, Any],
) -> dict[str, Any]:
    server, worker = children
    results = load.snapshot()
    acks = [s for s in results if not s.planned.retry]
    retries = [s for s in results if s.planned.retry]
    sent_at = {s.planned.name: s.sent_at for s in acks}

    with fake._lock:
        posted = {name: list(bodies) for name, bodies in fake.responses.items()}
    names = [p.name for p in commands]
    duplicates = {n: len(posted[n]) for n in names if len(posted.get(n, [])) > 1}
    missing = [n for n in names if n not in posted]
    kinds = Counter(reply_kind(posted[n][0]) for n in names if n in posted)
    by_command = Counter(
        f"{p.kind}->{reply_kind(posted[p.name][0])}" for p in commands if p.name in posted
    )
    answer_times = [
        replies.first_seen[n] - sent_at[n]
        for n in names
        if n in replies.first_seen and n in sent_at
    ]

    latencies = [s.latency for s in acks]
    non_200 = Counter(str(s.status) for s in acks if s.status != 200)
    transport = Counter(s.error.split(":")[0] for s in acks if s.error)
    bad_body = sum(1 for s in acks if s.status == 200 and not s.ack_ok)
    late = sum(1 for s in acks if s.latency > SLACK_ACK_LIMIT_S)
    failed_replies = sum(n for kind, n in kinds.items() if kind in FAILED_KINDS)
    expired = sum(1 for t in answer_times if t > RESPONSE_URL_LIFETIME_S)
    errors = (
        sum(1 for s in acks if not s.ack_ok)
        + late
        + sum(1 for s in retries if not s.ack_ok)
        + failed_replies
        + expired
        + len(missing)
    )
    task_seconds, task_results, task_failures = task_times(worker.log)
    task_seconds = task_seconds[extra["warmup_tasks"] :]
    answered_by_worker = sum(task_results.values())
    span = (
        max(replies.first_seen[n] for n in names if n in replies.first_seen) - load.started
        if replies.first_seen
        else math.nan
    )
    ack = spread(latencies)
    summary: dict[str, Any] = {
        "target": {
            "rate_per_s": 20,
            "seconds": 120,
            "ack_p99_ms_below": ACK_TARGET_S * 1000,
            "errors": 0,
            "duplicates": 0,
        },
        "config": {
            "rate": args.rate,
            "seconds": args.seconds,
            "gunicorn_workers": args.workers,
            "gunicorn_threads": args.threads,
            "celery": f"{celery_pool(args)} pool, concurrency {args.celery_concurrency}, "
            + BROKER_URL,
            "retries_every": args.retries_every,
            "database": setup.database,
            "embedder": "use (default)",
            "index_backend": "db (default)",
            "debug": False,
            "cache": "locmem (embedded default)",
            "seed": args.seed,
            "cpus": os.cpu_count(),
        },
        "machine": {
            "load_average_start": extra["load_average_start"],
            "load_average_end": extra["load_average_end"],
        },
        "setup": {
            "migrate_s": round(setup.migrate_s, 1),
            "load_demo_s": round(setup.load_demo_s, 1),
            "askers": [login["username"] for login in setup.logins],
            "colleagues_with_address": len(setup.colleagues),
        },
        "warmup": extra["warmup"],
        "load": {
            "commands_planned": len(commands),
            "commands_sent": len(acks),
            "window_s": extra["load_window_s"],
            "achieved_rate_per_s": achieved_rate(acks),
            "generator_lag_p99_ms": ms(percentile([s.lag for s in results], 99)),
            "generator_lag_max_ms": ms(max((s.lag for s in results), default=math.nan)),
            "mix": dict(Counter(p.kind for p in commands)),
        },
        "ack": {
            **ack,
            "over_1s": sum(1 for x in latencies if x > ACK_TARGET_S),
            "over_3s_slack_timeout": late,
            "non_200": dict(non_200),
            "transport_errors": dict(transport),
            "bad_body": bad_body,
        },
        "server_time": spread(server_times(work / "access.log", extra["warmup_access_lines"])),
        "retries": {
            "sent": len(retries),
            "status": dict(Counter(str(s.status) for s in retries)),
            "ok": sum(1 for s in retries if s.ack_ok),
            "latency": spread([s.latency for s in retries]),
        },
        "answers": {
            "commands": len(names),
            "answered": len(names) - len(missing),
            "missing": len(missing),
            "duplicates": len(duplicates),
            "duplicate_examples": dict(list(duplicates.items())[:5]),
            "reply_kinds": dict(kinds),
            "by_command": dict(by_command),
            "failed_replies": failed_replies,
            "after_response_url_expiry": expired,
            "answer_time": spread(answer_times),
            "all_answered_within_timeout": extra["all_answered"],
            "last_answer_after_start_s": round(span, 1),
            "drain_after_load_s": extra["drain_s"],
            "achieved_answer_rate_per_s": round(len(answer_times) / span, 2) if span else None,
            "queue_quiet_at_end": extra["quiet"],
        },
        "worker": {
            "tasks_logged": answered_by_worker,
            "task_failures": task_failures,
            "results": dict(task_results),
            "task_time": spread(task_seconds),
            "task_mean_ms": ms(sum(task_seconds) / len(task_seconds)) if task_seconds else None,
            "peak_queue": monitor.peak_queue,
        },
        "resources": {
            "server_peak_rss_mb": round(server.peak_rss / 2**20, 1),
            "server_peak_process_rss_mb": round(server.peak_process_rss / 2**20, 1),
            "worker_peak_rss_mb": round(worker.peak_rss / 2**20, 1),
            "cpu_s_during_load": {k: round(v, 1) for k, v in extra["cpu_during_load"].items()},
            "cpu_s_until_drained": {k: round(v, 1) for k, v in extra["cpu_until_drained"].items()},
        },
        "database_after": extra["database_after"],
        "errors": errors,
        "work_dir": str(work) if args.keep else None,
    }
    misses = []
    if not ack["p99_ms"] < ACK_TARGET_S * 1000:
        misses.append(f"ack p99 {ack['p99_ms']} ms >= {ACK_TARGET_S * 1000:.0f} ms")
    if errors:
        misses.append(f"{errors} errors")
    if duplicates:
        misses.append(f"{len(duplicates)} commands answered more than once")
    if len(acks) != len(commands):
        misses.append(f"sent {len(acks)} of {len(commands)} commands")
    if args.rate < 20 or args.seconds < 120:
        misses.append(f"not the target's load (ran {args.rate}/s for {args.seconds} s)")
    summary["target"]["met"] = not misses
    summary["target"]["misses"] = misses
    return summary


def achieved_rate(acks: list[Sent]) -> float:
    """Commands per second as actually sent: (n - 1) over first to last send."""
    starts = [s.sent_at + s.lag for s in acks]
    if len(starts) < 2:
        return math.nan
    return round((len(starts) - 1) / (max(starts) - min(starts)), 2)


def print_summary(s: dict[str, Any]) -> None:
    c, ack, ans, w, r = s["config"], s["ack"], s["answers"], s["worker"], s["resources"]
    lines = [
        "",
        f"Slack command load: {c['rate']}/s for {c['seconds']} s, gunicorn "
        f"{c['gunicorn_workers']}×{c['gunicorn_threads']}, celery {c['celery'].split(',')[0]}, "
        f"{c['database']}",
        f"  load average start {s['machine']['load_average_start']}, "
        f"end {s['machine']['load_average_end']} ({c['cpus']} CPUs)",
        f"  sent {s['load']['commands_sent']}/{s['load']['commands_planned']} commands in "
        f"{s['load']['window_s']} s ({s['load']['achieved_rate_per_s']}/s; generator lag max "
        f"{s['load']['generator_lag_max_ms']} ms)",
        f"  ack latency p50 {ack['p50_ms']} ms, p95 {ack['p95_ms']} ms, p99 {ack['p99_ms']} ms, "
        f"max {ack['max_ms']} ms; >1 s {ack['over_1s']}, >3 s {ack['over_3s_slack_timeout']}",
        f"  server time p50 {s['server_time']['p50_ms']} ms, p99 {s['server_time']['p99_ms']} ms,"
        f" max {s['server_time']['max_ms']} ms",
        f"  non-200 {ack['non_200']}, transport errors {ack['transport_errors']}, "
        f"bad ack bodies {ack['bad_body']}",
        f"  retries sent {s['retries']['sent']}, status {s['retries']['status']}",
        f"  answers {ans['answered']}/{ans['commands']} (missing {ans['missing']}), "
        f"duplicates {ans['duplicates']}, kinds {ans['reply_kinds']}, after expiry "
        f"{ans['after_response_url_expiry']}",
        f"  answer time p50 {ans['answer_time']['p50_ms'] / 1000:.1f} s, "
        f"p95 {ans['answer_time']['p95_ms'] / 1000:.1f} s, max "
        f"{ans['answer_time']['max_ms'] / 1000:.1f} s; drained {ans['drain_after_load_s']} s "
        f"after the load; {ans['achieved_answer_rate_per_s']} answers/s",
        f"  worker task p50 {w['task_time']['p50_ms']} ms, p95 {w['task_time']['p95_ms']} ms, "
        f"mean {w['task_mean_ms']} ms, results {w['results']}, peak queue {w['peak_queue']}",
        f"  peak RSS server {r['server_peak_rss_mb']} MB, worker {r['worker_peak_rss_mb']} MB; "
        f"CPU s during load {r['cpu_s_during_load']}",
        f"  database after: {s['database_after']['slack_requests_by_state']}, audit chain ok "
        f"{s['database_after']['audit_chain']['ok']}",
        f"  errors {s['errors']}",
        "  TARGET MET"
        if s["target"]["met"]
        else "  TARGET MISSED: " + "; ".join(s["target"]["misses"]),
    ]
    print("\n".join(lines), flush=True)


@contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=int, default=20, help="commands per second")
    parser.add_argument("--seconds", type=int, default=120, help="seconds of load")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers")
    parser.add_argument("--threads", type=int, default=4, help="gunicorn threads per worker")
    parser.add_argument("--retries-every", type=int, default=50, help="retry every Nth command")
    parser.add_argument("--warmup", type=int, default=6, help="warm-up commands (not measured)")
    parser.add_argument(
        "--drain-timeout",
        type=float,
        default=RESPONSE_URL_LIFETIME_S,
        help="seconds to wait for the answers after the load (default: a response URL's life)",
    )
    parser.add_argument(
        "--celery-concurrency",
        type=int,
        default=1,
        help="worker processes (1: the solo pool, the target's setup; more: prefork)",
    )
    parser.add_argument("--pool", type=int, default=256, help="sender threads")
    parser.add_argument("--seed", type=int, default=10)
    parser.add_argument("--postgres", metavar="URL", help="e.g. postgres://postgres@127.0.0.1")
    parser.add_argument("--json-out", type=Path, help="write the summary here")
    parser.add_argument(
        "--keep", metavar="DIR", help="work in DIR (must not exist) and keep it (logs, SQLite)"
    )
    args = parser.parse_args()

    with sigterm_as_interrupt(), ExitStack() as stack:
        try:
            summary = run(args, stack)
        except KeyboardInterrupt:
            say("interrupted; cleaning up")
            return 130
        except Exception:
            say("run failed:\n" + traceback.format_exc())
            return 2
    print_summary(summary)
    if args.json_out:
        args.json_out.parent.mkdir(parents=True, exist_ok=True)
        args.json_out.write_text(json.dumps(summary, indent=2) + "\n")
        say(f"wrote {args.json_out}")
    return 0 if summary["target"]["met"] else 1


if __name__ == "__main__":
    sys.exit(main())

"""Server time and SQL queries of every intranet page on the demo company (issue 11, item 6).

Target: every page renders in < 200 ms server time on the demo company with the default stack
(SQLite in a fresh COLLEAGUE_VAR_DIR, no broker, the offline model: `use` embedder, no LLM).

Setup, in this process: a fresh var dir (a temporary one, removed at the end, or `--keep DIR`,
reused when it already holds a database), `migrate`, `load_demo` (Northwind Robotics; as
`make demo`), an auditor login, and one open offboarding case (the first current colleague by
name, last day in 14 days) so the case and review pages exist.

Logins: the demo's hr, manager and engineer (colleagues/demo/load.py DEMO_LOGINS) and the
auditor. Pages: for each login, the GET pages tests/test_accessibility.py `_pages_for` lists
(imported, so both stay the same list), plus the offboarding case and its review page (hr),
an ask (a question POSTed to a departed colleague's ask page, answered inline by the
extractive model) and the conversation page it redirects to, the JSON API's list endpoints
(session authenticated, as the browsable API is) and the API's who-knows POST.

Measure: Django's test Client in this process (so "server time" is the whole request through
the middleware, URL resolution, view, template and the database, without a socket), DEBUG
off. Per page the first request is discarded (warm: template and outline caches), then
`--repeat` timed requests: median and p95 of the wall time, and of this process's CPU time
(on a shared machine the wall time also holds the waits for a core; the CPU time is what the
page costs). The SQL query count is of one more request under CaptureQueriesContext
(not timed: capturing slows the cursor). A POST creates a turn each time, as a user asking
again would. The verdict is against the target on the wall p95. The 1-minute load average at
start and end is printed (the machine is shared).

`--extra-colleagues N` adds N colleagues and N login users to the demo company (a larger
organisation's directory and selects, the same knowledge). `--profile` runs each measured page
`--repeat` more times under cProfile and prints the functions taking the most time.

    .venv/bin/python bench/pages.py                          # ~2 min with load_demo
    .venv/bin/python bench/pages.py --keep var/bench/pages   # keep (and reuse) the database
    .venv/bin/python bench/pages.py --json var/bench/pages.json --repeat 30
    .venv/bin/python bench/pages.py --extra-colleagues 3000 --login hr
    .venv/bin/python bench/pages.py --keep var/bench/pages --only who-knows --profile
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import io
import json
import os
import platform
import pstats
import shutil
import statistics
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

TARGET_MS = 200.0
LOGINS = ("engineer", "manager", "hr", "auditor")
QUESTION = "how do we rotate the billing key?"
# Variables that would move the run off the default stack.
OFF_STACK = ("DATABASE_URL", "CACHE_URL", "CELERY_BROKER_URL", "SECRET_KEY", "LLM_PROVIDER")


@dataclass
class Row:
    login: str
    method: str
    path: str
    status: int
    queries: int
    median_ms: float
    p95_ms: float
    max_ms: float
    cpu_median_ms: float
    cpu_p95_ms: float

    @property
    def verdict(self) -> str:
        return "ok" if self.p95_ms < TARGET_MS else "SLOW"


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def setup_django(var_dir: Path) -> None:
    """Point Django at `var_dir` on the default stack and set it up."""
    os.environ["COLLEAGUE_VAR_DIR"] = str(var_dir)
    os.environ["DEBUG"] = "0"
    os.environ["ALLOWED_HOSTS"] = "testserver"  # the test Client's host
    for name in OFF_STACK:
        os.environ.pop(name, None)
    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings"
    import django

    django.setup()
    # As the server entry points do (config/wsgi.py, config/asgi.py): freeze what the first
    # request leaves alive, so full collections do not walk it (config/memory.py).
    from config.memory import install

    install()


def load(var_dir: Path) -> dict[str, float]:
    """Migrate and load the demo company unless `var_dir` already holds it; seconds taken."""
    from django.core.management import call_command

    from colleagues.models import Colleague

    timings: dict[str, float] = {}
    started = time.perf_counter()
    call_command("migrate", verbosity=0)
    timings["migrate_s"] = time.perf_counter() - started
    if Colleague.objects.exists():
        say(f"reusing the demo company in {var_dir}")
        return timings
    say(f"load_demo into {var_dir} (Northwind Robotics; about a minute)")
    started = time.perf_counter()
    call_command("load_demo", "--json", stdout=open(os.devnull, "w"))  # noqa: SIM115
    timings["load_demo_s"] = time.perf_counter() - started
    return timings


def add_people(count: int) -> None:
    """`count` more colleagues (20 departments) and login users, once: a larger organisation's
    directory and selects, with the demo's own knowledge."""
    from django.contrib.auth import get_user_model

    from colleagues.models import Colleague

    if count <= 0 or Colleague.objects.filter(slug="extra-0").exists():
        return
    say(f"adding {count} colleagues and login users")
    Colleague.objects.bulk_create(
        Colleague(
            name=f"Extra Person {n}",
            slug=f"extra-{n}",
            email=f"extra{n}@northwind.example",
            department=f"Department {n % 20}",
            title="Engineer",
        )
        for n in range(count)
    )
    get_user_model().objects.bulk_create(
        get_user_model()(username=f"extra{n}") for n in range(count)
    )


def users() -> dict[str, Any]:
    """The three demo logins and an auditor (created once)."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group

    from colleagues.demo.load import DEMO_LOGINS
    from colleagues.roles import Role

    model = get_user_model()
    found = {username: model.objects.get(username=username) for username, *_ in DEMO_LOGINS}
    auditor, created = model.objects.get_or_create(username="auditor")
    if created:
        auditor.set_unusable_password()
        auditor.save()
        auditor.groups.add(Group.objects.get(name=Role.AUDITOR.value))
    found["auditor"] = auditor
    return found


def open_case() -> int:
    """The pk of an open offboarding case (tests/test_accessibility.py `_case_pages`'s)."""
    from django.utils import timezone

    from colleagues.models import Colleague
    from offboarding import cases
    from offboarding.models import OffboardingCase

    existing = OffboardingCase.objects.order_by("pk").first()
    if existing is not None:
        return existing.pk
    leaving = Colleague.objects.filter(status=Colleague.Status.CURRENT).order_by("name").first()
    assert leaving is not None
    last_day = timezone.localdate() + timedelta(days=14)
    return cases.open_case(leaving, last_day=last_day, via="ui").pk


def requests_for(login: str, user: Any, case_pk: int) -> list[tuple[str, str, dict[str, str]]]:
    """(method, path, POST data) of every page `login` can open."""
    from colleagues.models import Colleague
    from tests.test_accessibility import _pages_for

    departed = Colleague.objects.filter(status=Colleague.Status.DEPARTED).order_by("name").first()
    assert departed is not None
    slug = departed.slug
    found: list[tuple[str, str, dict[str, str]]] = [("GET", path, {}) for path in _pages_for(login)]
    if login == "hr":
        found += [
            ("GET", f"/offboarding/cases/{case_pk}/", {}),
            ("GET", f"/offboarding/cases/{case_pk}/review/", {}),
            ("GET", "/api/offboarding/cases/", {}),
            ("GET", "/api/offboarding/bus-factor/", {}),
            ("GET", f"/api/offboarding/cases/{case_pk}/", {}),
            ("GET", f"/api/offboarding/cases/{case_pk}/review/", {}),
            ("GET", f"/api/colleagues/{slug}/grants/", {}),
        ]
    if user is not None and login != "auditor":
        found += [("POST", f"/colleagues/{slug}/ask/", {"question": QUESTION})]
    found += [
        ("GET", "/api/colleagues/", {}),
        ("GET", f"/api/colleagues/{slug}/", {}),
        ("GET", "/api/items/", {}),
        ("GET", "/api/search/?q=deploy", {}),
        ("GET", f"/api/colleagues/{slug}/skill/", {}),
        ("GET", f"/api/colleagues/{slug}/skill/versions/", {}),
        ("GET", f"/api/colleagues/{slug}/skill/corrections/", {}),
        ("POST", "/api/who-knows/", {"question": "who knows about billing key rotation?"}),
    ]
    return found


def measure(client: Any, method: str, path: str, data: dict[str, str], repeat: int) -> Row:
    """Warm-up request, `repeat` timed ones, one counted; see the module docstring."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    def send() -> Any:
        if method == "POST":
            return client.post(path, data)
        return client.get(path)

    send()
    times, cpu = [], []
    for _ in range(repeat):
        started, started_cpu = time.perf_counter(), time.process_time()
        response = send()
        times.append((time.perf_counter() - started) * 1000)
        cpu.append((time.process_time() - started_cpu) * 1000)
    with CaptureQueriesContext(connection) as queries:
        send()
    times.sort()
    cpu.sort()
    p95, cpu_p95 = (
        values[min(len(values) - 1, round(0.95 * (len(values) - 1)))] for values in (times, cpu)
    )
    return Row(
        login="",
        method=method,
        path=path,
        status=response.status_code,
        queries=len(queries.captured_queries),
        median_ms=round(statistics.median(times), 1),
        p95_ms=round(p95, 1),
        max_ms=round(times[-1], 1),
        cpu_median_ms=round(statistics.median(cpu), 1),
        cpu_p95_ms=round(cpu_p95, 1),
    )


def profile(client: Any, method: str, path: str, data: dict[str, str], repeat: int) -> None:
    """`repeat` more requests under cProfile; the top functions by cumulative time."""
    profiler = cProfile.Profile()
    for _ in range(repeat):
        profiler.enable()
        client.post(path, data) if method == "POST" else client.get(path)
        profiler.disable()
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(25)
    say(out.getvalue())


def conversation_page(client: Any, slug: str) -> str:
    """The conversation page an ask redirects to (asking once more)."""
    response = client.post(f"/colleagues/{slug}/ask/", {"question": QUESTION})
    assert response.status_code == 302, response.status_code
    return str(response["Location"])


def run(args: argparse.Namespace) -> dict[str, Any]:
    load_start = os.getloadavg()
    var_dir = Path(args.keep or tempfile.mkdtemp(prefix="bench-pages-")).resolve()
    var_dir.mkdir(parents=True, exist_ok=True)
    setup_django(var_dir)
    from django.test import Client

    from colleagues.models import Colleague

    # Setup's output (mail of the console backend when a case opens) goes to stderr: stdout
    # is the table.
    with contextlib.redirect_stdout(sys.stderr):
        timings = load(var_dir)
        add_people(args.extra_colleagues)
        logins = users()
        case_pk = open_case()
    departed = Colleague.objects.filter(status=Colleague.Status.DEPARTED).order_by("name").first()
    assert departed is not None
    rows: list[Row] = []
    for login in LOGINS:
        if args.login and login != args.login:
            continue
        client = Client()
        client.force_login(logins[login])
        plan = requests_for(login, logins[login], case_pk)
        if login != "auditor":
            plan.append(("GET", conversation_page(client, departed.slug), {}))
        for method, path, data in plan:
            if args.only and args.only not in path:
                continue
            row = measure(client, method, path, data, args.repeat)
            row.login = login
            rows.append(row)
            say(
                f"{login:9} {method:4} {path:55} {row.status} {row.queries:4} q "
                f"{row.median_ms:7.1f} {row.p95_ms:7.1f} ms (CPU {row.cpu_median_ms:.1f}) "
                f"{row.verdict}"
            )
            if args.profile:
                profile(client, method, path, data, args.repeat)
    return {
        "command": " ".join([".venv/bin/python", "bench/pages.py", *sys.argv[1:]]),
        "target_ms": TARGET_MS,
        "repeat": args.repeat,
        "machine": {
            "cpus": os.cpu_count(),
            "cpu": cpu_model(),
            "python": platform.python_version(),
            "platform": platform.platform(),
            "load_average_start": [round(x, 2) for x in load_start],
            "load_average_end": [round(x, 2) for x in os.getloadavg()],
        },
        "setup": {key: round(value, 1) for key, value in timings.items()},
        "extra_colleagues": args.extra_colleagues,
        "var_dir": str(var_dir),
        "rows": [{**asdict(row), "verdict": row.verdict} for row in rows],
    }


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def table(result: dict[str, Any]) -> str:
    """A Markdown table of the rows, slowest p95 first within each login."""
    lines = [
        "| login | page | status | queries | median ms | p95 ms | CPU median, p95 ms | verdict |",
        "|---|---|---:|---:|---:|---:|---:|---|",
    ]
    for row in result["rows"]:
        page = row["path"] if row["method"] == "GET" else f"POST {row['path']}"
        lines.append(
            f"| {row['login']} | `{page}` | {row['status']} | {row['queries']} | "
            f"{row['median_ms']} | {row['p95_ms']} | {row['cpu_median_ms']}, {row['cpu_p95_ms']} | "
            f"{row['verdict']} |"
        )
    slow = [row for row in result["rows"] if row["verdict"] != "ok"]
    lines.append("")
    lines.append(
        f"{len(result['rows'])} requests, {len(slow)} at or above {TARGET_MS:.0f} ms p95; "
        f"load average {result['machine']['load_average_start'][0]} at start, "
        f"{result['machine']['load_average_end'][0]} at end."
    )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=20, help="timed requests per page")
    parser.add_argument("--keep", help="var dir to build the demo database in and keep")
    parser.add_argument("--json", help="also write the results as JSON to this file")
    parser.add_argument("--only", help="only paths containing this string")
    parser.add_argument("--login", choices=LOGINS, help="only this login's pages")
    parser.add_argument(
        "--extra-colleagues",
        type=int,
        default=0,
        help="add this many colleagues and login users to the demo company (a larger org)",
    )
    parser.add_argument(
        "--profile", action="store_true", help="profile each page measured (use with --only)"
    )
    args = parser.parse_args()
    result = run(args)
    if not args.keep:
        shutil.rmtree(result["var_dir"], ignore_errors=True)
    print(table(result))
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())

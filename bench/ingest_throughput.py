"""Benchmark `manage.py ingest` on a synthetic Slack export (issue 3).

For N messages (default 1,000,000) this:

1. generates the export once, cached as `<dir>/slack-<N>-seed<seed>.zip`;
2. ingests it with `manage.py ingest PATH --json` in a child process, on a fresh
   COLLEAGUE_VAR_DIR (SQLite, the embedded default) or a fresh PostgreSQL database
   (`--database-url postgres://user@host:port/anyname`: a database `bench_<pid>` is created
   on that server and dropped afterwards);
3. re-ingests the unchanged export (the resync must cost what changed, not the export's size);
4. appends a new day with `--append-messages` messages in `--append-channels` channels to a
   copy of the export and ingests that copy into the same source.

Wall time, messages/s, the child's peak RSS (from wait4's rusage: the largest of the ingest
process and the connector process it forks, connectors/prefetch.py) and the peak of the
two together (the sum of their proportional set sizes, PSS: a page both share counts half in
each; sampled every 0.2 s with psutil) are printed as a table and as JSON (`--json-out`
writes it to a file too).

    .venv/bin/python bench/ingest_throughput.py --messages 100000
    .venv/bin/python bench/ingest_throughput.py --database-url postgres://postgres@127.0.0.1:5432/x
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

from make_slack_export import append_day, cached_export  # noqa: E402


@dataclass
class Step:
    name: str
    seconds: float
    cpu_seconds: float  # user + system time of the child: its own work, whatever else runs
    peak_rss_mb: float
    # The highest sum of the PSS of the ingest process and its children: their memory together.
    peak_tree_pss_mb: float
    created: int
    updated: int
    unchanged: int
    quarantined: int
    # 1-minute load average when the step started: other work on the machine slows the wall
    # time (not the CPU time) of a step.
    load_before: float = 0.0
    messages_per_second: float | None = None


def _run(command: list[str], env: dict[str, str]) -> tuple[str, float, float, float, float]:
    """Run a child; return (stdout, wall seconds, peak RSS in MB, CPU seconds, peak PSS of
    the child and its own children together in MB) of that child."""
    started = time.perf_counter()
    process = subprocess.Popen(  # a fixed argv built above, never a shell
        command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    assert process.stdout is not None
    assert process.stderr is not None
    tree_peak = [0]
    done = threading.Event()
    sampler = threading.Thread(target=_sample_tree_pss, args=(process.pid, tree_peak, done))
    sampler.start()
    # Read output while it runs (a full pipe would block the child), then reap with wait4.
    out = process.stdout.read()
    err = process.stderr.read()
    done.set()
    sampler.join()
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode:
        sys.stderr.write(err.decode(errors="replace"))
        raise SystemExit(f"{' '.join(command)} failed with {process.returncode}")
    cpu = usage.ru_utime + usage.ru_stime
    # ru_maxrss is in KiB on Linux
    return out.decode(), seconds, usage.ru_maxrss / 1024, cpu, tree_peak[0] / 2**20


def _sample_tree_pss(pid: int, peak: list[int], done: threading.Event) -> None:
    """Keep in peak[0] the highest sum of PSS of `pid` and its descendants, every 0.2 s."""
    import psutil

    try:
        root = psutil.Process(pid)
    except psutil.NoSuchProcess:
        return
    while not done.wait(0.2):
        total = 0
        for process in [root, *root.children(recursive=True)]:
            try:
                total += process.memory_full_info().pss
            except psutil.NoSuchProcess:
                continue
        peak[0] = max(peak[0], total)


def _ingest(name: str, export: Path, env: dict[str, str], profile: Path | None) -> Step:
    command = [sys.executable]
    if profile is not None:
        command += ["-m", "cProfile", "-o", str(profile.with_suffix(f".{name}.prof"))]
    command += ["manage.py", "ingest", str(export), "--json", "--source", "bench-slack"]
    load = os.getloadavg()[0]
    out, seconds, rss, cpu, tree_pss = _run(command, env)
    summary = json.loads(out)
    return Step(
        name=name,
        seconds=round(seconds, 2),
        cpu_seconds=round(cpu, 2),
        peak_rss_mb=round(rss, 1),
        peak_tree_pss_mb=round(tree_pss, 1),
        created=summary["items_created"],
        updated=summary["items_updated"],
        unchanged=summary["items_unchanged"],
        quarantined=len(summary["quarantined"]),
        load_before=round(load, 2),
    )


def _postgres_database(url: str) -> tuple[str, str, str]:
    """Return (url of a fresh bench database, its name, url of the maintenance db)."""
    parts = urlsplit(url)
    name = f"bench_{os.getpid()}"
    admin = urlunsplit(parts._replace(path="/postgres"))
    return urlunsplit(parts._replace(path=f"/{name}")), name, admin


def _psql(admin_url: str, statement: str) -> None:
    import psycopg

    with psycopg.connect(admin_url, autocommit=True) as connection:
        connection.execute(statement)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--dir", type=Path, default=ROOT / "var" / "bench")
    parser.add_argument("--database-url", help="a PostgreSQL server to measure instead of SQLite")
    parser.add_argument("--append-channels", type=int, default=3)
    parser.add_argument("--append-messages", type=int, default=300)
    parser.add_argument("--skip-resync", action="store_true")
    parser.add_argument("--profile", action="store_true", help="run the children under cProfile")
    parser.add_argument("--keep", action="store_true", help="keep the run's var dir")
    parser.add_argument("--json-out", type=Path)
    args = parser.parse_args(argv)

    export = cached_export(args.dir, args.messages, seed=args.seed)

    run_dir = Path(tempfile.mkdtemp(prefix="run-", dir=args.dir))
    env = {**os.environ, "COLLEAGUE_VAR_DIR": str(run_dir / "var"), "PYTHONHASHSEED": "0"}
    env.pop("DATABASE_URL", None)
    # Issue 3 measures ingest without embeddings: chunks stay pending (keyword search only).
    env["COLLEAGUE_EMBED_ON_INGEST"] = "0"
    backend = "sqlite"
    database = admin = None
    if args.database_url:
        url, database, admin = _postgres_database(args.database_url)
        _psql(admin, f'CREATE DATABASE "{database}"')
        env["DATABASE_URL"] = url
        backend = "postgresql"
    profile = run_dir / "ingest" if args.profile else None
    steps: list[Step] = []
    try:
        _run([sys.executable, "manage.py", "migrate", "--no-input", "-v", "0"], env)
        full = _ingest("full", export, env, profile)
        full.messages_per_second = round(args.messages / full.seconds)
        steps.append(full)
        if not args.skip_resync:
            steps.append(_ingest("resync-unchanged", export, env, profile))
            appended = run_dir / "appended.zip"
            shutil.copyfile(export, appended)
            added = append_day(
                appended,
                channels=args.append_channels,
                messages=args.append_messages,
                seed=args.seed,
            )
            step = _ingest(
                f"resync-append-{args.append_messages}-in-{args.append_channels}-channels",
                appended,
                env,
                profile,
            )
            step.messages_per_second = round(added["messages"] / step.seconds)
            steps.append(step)
    finally:
        if database and admin:
            _psql(admin, f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        if not args.keep and not args.profile:
            shutil.rmtree(run_dir, ignore_errors=True)

    report = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {
            "nproc": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
        "backend": backend,
        "messages": args.messages,
        "export": str(export),
        "export_bytes": export.stat().st_size,
        "steps": [asdict(step) for step in steps],
    }
    print(f"\n{backend}, {args.messages:,} messages, export {export.stat().st_size / 1e6:.0f} MB")
    print(
        f"{'step':<40} {'seconds':>9} {'CPU s':>7} {'msgs/s':>9} {'peak RSS':>9} {'both PSS':>9} "
        f"{'created':>9} "
        f"{'updated':>8} {'unchanged':>10}"
    )
    for step in steps:
        rate = f"{step.messages_per_second:,}" if step.messages_per_second else "-"
        print(
            f"{step.name:<40} {step.seconds:>9.2f} {step.cpu_seconds:>7.2f} {rate:>9} "
            f"{step.peak_rss_mb:>7.0f}MB {step.peak_tree_pss_mb:>7.0f}MB "
            f"{step.created:>9} {step.updated:>8} {step.unchanged:>10}"
        )
    print(json.dumps(report, indent=2))
    if args.json_out:
        args.json_out.write_text(json.dumps(report, indent=2) + "\n")
    if profile is not None:
        print(f"profiles in {run_dir}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

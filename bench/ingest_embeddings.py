"""Benchmark ingest WITH embeddings on the default stack (issue 4: >= 1,000 Slack messages/s).

For N messages (default 20,000) this:

1. generates the synthetic export once (bench/make_slack_export.py, cached as
   `<dir>/slack-<N>-seed<seed>.zip`);
2. migrates a fresh COLLEAGUE_VAR_DIR (SQLite) and runs `manage.py ingest PATH --json` with
   COLLEAGUE_EMBED_ON_INGEST=1 and the default embedder (`use`), no broker, so the embedding
   tasks run inline in the ingest process, as on the default stack;
3. counts the chunks and those embedded, straight from the SQLite file;
4. with `--embedder-alone`, times the embedder alone on those chunk texts in another child
   (`Embedder.embed` in batches of knowledge.indexing.EMBED_BATCH, after loading the model),
   at each thread count of `--threads` (default "1,auto": one thread, and what
   `threads_for_this_process` picks inline).

Messages/s is N over the ingest command's own `seconds` (model load included, process start
not); wall time, CPU time and peak RSS (wait4's rusage) are the child's.

    .venv/bin/python bench/ingest_embeddings.py --messages 20000 --embedder-alone
    .venv/bin/python bench/ingest_embeddings.py --project /tmp/before   # another checkout
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

from make_slack_export import cached_export  # noqa: E402

# Run in a child with the project's settings: embed the chunk texts of the database, timed.
_EMBEDDER_ALONE = """
import json, os, sys, time, django
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
django.setup()
from knowledge.embeddings import get_embedder
from knowledge.indexing import EMBED_BATCH
from knowledge.models import Chunk

texts = list(Chunk.objects.order_by("id").values_list("text", flat=True))
threads = sys.argv[1]
try:
    from knowledge.embeddings.use import UniversalSentenceEncoder, threads_for_this_process
except ImportError:  # a checkout from before the threads: its embedder as it is
    embedder = get_embedder()
else:
    count = threads_for_this_process() if threads == "auto" else int(threads)
    embedder = UniversalSentenceEncoder(threads=count)
started = time.perf_counter()
for start in range(0, len(texts), EMBED_BATCH):
    embedder.embed(texts[start : start + EMBED_BATCH])
seconds = time.perf_counter() - started
print(json.dumps({
    "threads": getattr(embedder, "threads", 1),
    "chunks": len(texts),
    "distinct_texts": len(set(texts)),
    "seconds": round(seconds, 2),
    "chunks_per_second": round(len(texts) / seconds),
}))
"""


def _run(command: list[str], env: dict[str, str], cwd: Path) -> tuple[str, float, float, float]:
    """Run a child; return (stdout, wall seconds, peak RSS in MB, CPU seconds) of that child."""
    started = time.perf_counter()
    process = subprocess.Popen(  # a fixed argv built here, never a shell
        command, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    assert process.stdout is not None
    assert process.stderr is not None
    out = process.stdout.read()
    err = process.stderr.read()
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status):
        sys.stderr.write(err.decode(errors="replace"))
        raise SystemExit(f"{' '.join(command)} failed")
    return out.decode(), seconds, usage.ru_maxrss / 1024, usage.ru_utime + usage.ru_stime


def _chunk_counts(database: Path) -> dict[str, Any]:
    with sqlite3.connect(database) as db:
        total, embedded = db.execute(
            "SELECT count(*), count(embedding) FROM knowledge_chunk"
        ).fetchone()
        embedders = [row[0] for row in db.execute("SELECT DISTINCT embedder FROM knowledge_chunk")]
    return {"chunks": total, "embedded": embedded, "embedders": embedders}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--dir", type=Path, default=ROOT / "var" / "bench")
    parser.add_argument(
        "--project", type=Path, default=ROOT, help="the checkout whose manage.py runs"
    )
    parser.add_argument("--embedder-alone", action="store_true")
    parser.add_argument("--threads", default="1,auto", help="with --embedder-alone")
    parser.add_argument("--keep", action="store_true", help="keep the run's var dir")
    parser.add_argument("--json-out", type=Path)
    args = parser.parse_args(argv)

    export = cached_export(args.dir, args.messages, seed=args.seed)

    project = args.project.resolve()
    run_dir = Path(tempfile.mkdtemp(prefix="embed-run-", dir=args.dir))
    var = run_dir / "var"
    env = {**os.environ, "COLLEAGUE_VAR_DIR": str(var), "PYTHONHASHSEED": "0"}
    for name in ("DATABASE_URL", "CELERY_BROKER_URL", "COLLEAGUE_EMBEDDER"):
        env.pop(name, None)  # the default stack: SQLite, no broker, the default embedder
    env["COLLEAGUE_EMBED_ON_INGEST"] = "1"
    python = sys.executable
    try:
        _run([python, "manage.py", "migrate", "--no-input", "-v", "0"], env, project)
        load = os.getloadavg()[0]
        command = [python, "manage.py", "ingest", str(export), "--json", "--source", "bench"]
        out, wall, rss, cpu = _run(command, env, project)
        summary = json.loads(out)
        counts = _chunk_counts(var / "colleague.sqlite3")
        print(
            f"{args.messages:,} messages in {summary['seconds']:.1f} s (wall {wall:.1f} s, "
            f"CPU {cpu:.1f} s): {args.messages / summary['seconds']:,.0f} messages/s; "
            f"{counts['embedded']:,} of {counts['chunks']:,} chunks embedded; "
            f"peak RSS {rss:.0f} MB; load before {load:.2f}",
            file=sys.stderr,
        )
        alone = []
        if args.embedder_alone:
            for threads in args.threads.split(","):
                out_alone, *_ = _run([python, "-c", _EMBEDDER_ALONE, threads], env, project)
                alone.append(json.loads(out_alone))
    finally:
        if not args.keep:
            shutil.rmtree(run_dir, ignore_errors=True)

    seconds = summary["seconds"]
    report = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"nproc": os.cpu_count(), "python": platform.python_version()},
        "project": str(project),
        "messages": args.messages,
        "export": str(export),
        "load_before": round(load, 2),
        "ingest": {
            "seconds": seconds,
            "wall_seconds": round(wall, 2),
            "cpu_seconds": round(cpu, 2),
            "peak_rss_mb": round(rss, 1),
            "items_created": summary["items_created"],
            "items_excluded": summary.get("items_excluded", 0),
            "messages_per_second": round(args.messages / seconds),
            **counts,
        },
        "embedder_alone": alone,
    }
    for row in alone:
        print(
            f"embedder alone, {row['threads']} thread(s): {row['chunks']:,} chunks in "
            f"{row['seconds']} s, {row['chunks_per_second']:,} chunks/s",
            file=sys.stderr,
        )
    print(json.dumps(report, indent=2))
    if args.json_out:
        args.json_out.write_text(json.dumps(report, indent=2) + "\n")
    return 0 if counts["embedded"] == counts["chunks"] else 1


if __name__ == "__main__":
    raise SystemExit(main())

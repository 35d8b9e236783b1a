"""Latency of `ask` and `who_knows` at 1M chunks on the default stack (issue 6, item 2).

Target: offline `ask` and `who_knows` p95 < 300 ms at 1,000,000 chunks, default stack (SQLite
in COLLEAGUE_VAR_DIR, the `db` index backend, the `use` embedder, no LLM), warm process.

The database is bench/query_latency.py's synthetic organisation (`build`, imported, not
copied: n/200 colleagues with Zipf authorship, ~60 % public, ~28 % private-channel, ~12 % DM
chunks, a 30,000-word Zipf vocabulary, clustered vectors stored under the configured
embedder's name), made ready for answers by three more steps, all timed:

1. **bodies**: query_latency leaves `Item.body` empty (it measures retrieval over chunks); here
   each item's body is its chunks' text, as ingest stores it, because threads, packages and
   passages read bodies;
2. **threads**: one channel item in five (id % 5 == 0) joins a thread: per channel, those items
   in time order, five per thread; `thread_key` is the external id of the first, whose body
   becomes a question (it ends with "?"), so `who_knows` credits answers and `ask` shows the
   question as context;
3. **packages**: `skills.actions.build_packages` for every colleague (`--packages N`: only the
   N most prolific authors plus the colleagues asked), as `build_skills` does; a colleague
   who already has one is skipped, so an interrupted build resumes (`--build-only` builds,
   or finishes building, without timing anything; `--workers 2` builds in two processes,
   about half the wall time on two idle cores).

Questions (fixed seed): half are 2-3 mid-frequency words (vocabulary ranks 50-5,000) taken
from a random chunk (for `ask`, one of the colleague's own), so evidence exists; half are 2-4
random mid-frequency words, as in query_latency. `who_knows` gets
"who knows about <words>?", `ask` "what do you know about <words>?". `ask` is timed for five
colleagues (author ranks 1, 2, 10, 100 and 1,000 by chunks) × `--asks` questions each.

The reader is query_latency's normal member (the colleague in the most private channels), not
the operator. Warm process: the first calls (vector cache, package outlines, embedder load)
are reported apart, then 5 untimed warm-up calls of each. p50 / p95 / max per operation; the
1-minute load average at start and end (the machine is shared). With `--profile`, the
queries at or above p95 are run again under cProfile and the top functions printed with
file:line. One child process per size (`--chunks 10000 100000 1000000`); `--keep DIR` keeps
each size's database in DIR-<chunks> and reuses it.

    .venv/bin/python bench/answer_latency.py --chunks 10000 --profile         # quick
    .venv/bin/python bench/answer_latency.py --keep var/bench/answer-latency --profile  # 1M
"""

from __future__ import annotations

import argparse
import cProfile
import json
import multiprocessing
import os
import pstats
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import query_latency as QL  # noqa: E402

TARGET_MS = 300.0
THREAD_SIZE = 5
ASKED_RANKS = (1, 2, 10, 100, 1000)
MID_BAND = (50, 5000)  # vocabulary ranks people search with (query_latency's band)
#: What `ask` and `who_knows` run (for the record of what a run measured).
MEASURED_CODE = ("answers", "knowledge", "skills", "colleagues", "config")


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def prepare_for_answers() -> dict[str, float]:
    """Bodies and threads on query_latency's database (see the module docstring)."""
    from django.db import connection, transaction
    from django.db.models import F

    from knowledge.models import Item

    out: dict[str, float] = {}
    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA synchronous=OFF")
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "UPDATE knowledge_item SET body = (SELECT group_concat(text, ' ') FROM"
            " (SELECT text FROM knowledge_chunk c WHERE c.item_id = knowledge_item.id"
            " ORDER BY c.ordinal))"
        )
    out["bodies_seconds"] = round(time.perf_counter() - started, 1)
    started = time.perf_counter()
    rows = (
        Item.objects.filter(container__isnull=False)
        .annotate(every_fifth=F("id") % 5)
        .filter(every_fifth=0)
        .order_by()
        .values_list("id", "container_id", "created_at", "external_id")
    )
    by_channel: dict[int, list[tuple[Any, int, str]]] = defaultdict(list)
    for item_id, container_id, created_at, external_id in rows.iterator(chunk_size=20_000):
        by_channel[container_id].append((created_at, item_id, external_id))
    keys: list[tuple[str, int]] = []
    roots: list[int] = []
    for members in by_channel.values():
        members.sort()
        for start in range(0, len(members), THREAD_SIZE):
            group = members[start : start + THREAD_SIZE]
            if len(group) < 2:
                continue
            root = group[0][2]
            keys.extend((root, item_id) for _, item_id, _ in group)
            roots.append(group[0][1])
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.executemany("UPDATE knowledge_item SET thread_key = %s WHERE id = %s", keys)
        cursor.executemany(
            "UPDATE knowledge_item SET body = body || '?' WHERE id = %s", [(r,) for r in roots]
        )
        cursor.execute("ANALYZE")
    out["threads"] = len(roots)
    out["thread_items"] = len(keys)
    out["threads_seconds"] = round(time.perf_counter() - started, 1)
    return out


def build_all_packages(limit: int | None, asked: list[int], workers: int = 1) -> dict[str, Any]:
    """Build the chosen colleagues' packages, most prolific first; with `workers` > 1 in that
    many processes (colleague k of the order goes to process k % workers)."""
    from django.db.models import Count

    from colleagues.models import Colleague
    from skills.models import SkillVersion

    ranked = list(Colleague.objects.annotate(n=Count("identities__items")).order_by("-n", "id"))
    chosen = ranked if limit is None else ranked[:limit]
    chosen_ids = {c.pk for c in chosen}
    chosen += [c for c in ranked if c.pk in set(asked) - chosen_ids]
    # Resumable: an interrupted run left some packages built.
    built = set(SkillVersion.objects.values_list("package__colleague_id", flat=True))
    ids = [c.pk for c in chosen if c.pk not in built]
    started = time.perf_counter()
    if workers <= 1:
        done = _build_packages_of(ids)
    else:
        from django.conf import settings
        from django.db import connections

        connections.close_all()
        var = str(settings.VAR_DIR)
        shards = [(var, ids[k::workers]) for k in range(workers)]
        with multiprocessing.get_context("spawn").Pool(workers) as pool:
            parts = pool.starmap(_build_packages_in, shards)
        done = {"packages": sum(p["packages"] for p in parts)}
        done["failed"] = [f for p in parts for f in p["failed"]][:5]
    return {**done, "seconds": round(time.perf_counter() - started, 1), "workers": workers}


def _build_packages_of(ids: list[int]) -> dict[str, Any]:
    from colleagues.models import Colleague
    from skills.actions import build_packages

    by_id = Colleague.objects.in_bulk(ids)
    started = time.perf_counter()
    done = [0]

    def progress(_: Any) -> None:
        done[0] += 1
        if done[0] % 250 == 0:
            say(f"  packages {done[0]}/{len(ids)} in {time.perf_counter() - started:.0f} s")

    outcomes = build_packages([by_id[i] for i in ids if i in by_id], on_built=progress)
    return {
        "packages": sum(1 for o in outcomes if o.version is not None),
        "failed": [o.error for o in outcomes if o.version is None][:5],
    }


def _build_packages_in(var: str, ids: list[int]) -> dict[str, Any]:
    """One worker process of `build_all_packages`: its own Django on the same database."""
    QL.setup_django(Path(var))
    return _build_packages_of(ids)


def packages_matched(questions: list[str]) -> dict[str, int]:
    """Per question, how many packages' stored outlines name it: `who_knows` scores the best
    MAX_PACKAGES of them as the reader sees them (answers/packages.py, `package_matches`).
    Read after the timed runs, from the same per-process outline index."""
    from answers.matching import parse_query
    from answers.packages import package_index

    index = package_index()
    return {text: len(index.naming(parse_query(text))) for text in questions}


def percentiles(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)

    def at(q: float) -> float:
        return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]

    return {
        "n": len(ordered),
        "p50_ms": round(at(0.50) * 1000, 1),
        "p95_ms": round(at(0.95) * 1000, 1),
        "max_ms": round(ordered[-1] * 1000, 1),
        "mean_ms": round(statistics.fmean(ordered) * 1000, 1),
    }


def _mid_words(text: str, vocab_rank: dict[str, int]) -> list[str]:
    low, high = MID_BAND
    return list(dict.fromkeys(w for w in text.split() if low <= vocab_rank.get(w, -1) <= high))


def make_questions(
    rng: random.Random, n: int, chunk_texts: Callable[[int], list[str]], vocab: list[str]
) -> list[tuple[str, str]]:
    """(kind, words) pairs: "from-chunk" (words of a real chunk) and "random" alternating."""
    vocab_rank = {w: i for i, w in enumerate(vocab)}
    out: list[tuple[str, str]] = []
    texts = chunk_texts(n)
    for i in range(n):
        words: list[str] = []
        if i % 2 == 0 and i // 2 < len(texts):
            words = _mid_words(texts[i // 2], vocab_rank)
            rng.shuffle(words)
            words = words[: rng.randint(2, 3)]
        if len(words) >= 2:
            out.append(("from-chunk", " ".join(words)))
        else:
            words = [vocab[rng.randint(*MID_BAND)] for _ in range(rng.randint(2, 4))]
            out.append(("random", " ".join(words)))
    return out


def _short(path: str) -> str:
    for prefix in (str(ROOT) + "/", sys.prefix + "/"):
        if path.startswith(prefix):
            return path[len(prefix) :]
    site = path.find("site-packages/")
    return path[site + len("site-packages/") :] if site >= 0 else path


PROJECT_CODE = ("answers/", "knowledge/", "skills/", "colleagues/")


def hotspots(
    profile: cProfile.Profile, key: str, limit: int = 25, *, project_only: bool = False
) -> list[dict[str, Any]]:
    stats = pstats.Stats(profile)
    rows = []
    for (file, line, name), (_cc, calls, tottime, cumtime, _) in stats.stats.items():  # type: ignore[attr-defined]
        if project_only and not _short(file).startswith(PROJECT_CODE):
            continue
        rows.append(
            {
                "where": f"{_short(file)}:{line}({name})",
                "calls": calls,
                "tottime_s": round(tottime, 3),
                "cumtime_s": round(cumtime, 3),
            }
        )
    rows.sort(key=lambda r: -r[key])
    return rows[:limit]


def run(n_chunks: int, args: argparse.Namespace) -> dict[str, Any]:
    from django.contrib.auth import get_user_model
    from django.db.models import Count

    from answers.ask import ask
    from answers.packages import MAX_PACKAGES
    from answers.who_knows import who_knows
    from colleagues.models import Colleague
    from knowledge.embeddings import get_embedder
    from knowledge.models import Chunk, Item
    from skills.models import SkillVersion

    info: dict[str, Any] = {"chunks": n_chunks, "embedder": get_embedder().name}
    if Chunk.objects.exists():
        info["reused_database"] = True
        get_user_model().objects.filter(username="bench-member").delete()
    else:
        say(f"building {n_chunks:,} chunks (bench/query_latency.py build)")
        info["build"] = QL.build(n_chunks, args.seed)
    if not Item.objects.exclude(thread_key="").exists():
        say("bodies and threads")
        info["prepare"] = prepare_for_answers()
    top = list(
        Chunk.objects.values("item__author__colleague_id")
        .annotate(n=Count("id"))
        .order_by("-n", "item__author__colleague_id")
    )
    asked = [
        (rank, top[rank - 1]["item__author__colleague_id"], top[rank - 1]["n"])
        for rank in ASKED_RANKS
        if rank <= len(top)
    ]
    if args.build_only or not SkillVersion.objects.exists():
        say("building packages")
        info["packages"] = build_all_packages(args.packages, [c for _, c, _ in asked], args.workers)
    info["packages_stored"] = SkillVersion.objects.values("package").distinct().count()
    info["threads"] = Item.objects.exclude(thread_key="").values("thread_key").distinct().count()
    if args.build_only:
        return info
    reader, member = QL.member_reader()
    vocab, _ = QL.vocabulary()
    rng = random.Random(args.seed + 2)
    chunk_count = Chunk.objects.count()
    max_chunk = Chunk.objects.order_by("-id").values_list("id", flat=True).first() or 0

    def random_chunks(colleague_id: int | None) -> Callable[[int], list[str]]:
        def texts(n: int) -> list[str]:
            if colleague_id is None:
                ids = [rng.randint(1, max_chunk) for _ in range(n)]
                return list(Chunk.objects.filter(id__in=ids).values_list("text", flat=True))
            found = list(
                Chunk.objects.filter(item__author__colleague_id=colleague_id)
                .order_by("id")
                .values_list("text", flat=True)[:5000]
            )
            return rng.sample(found, min(n, len(found)))

        return texts

    wk_questions = [
        (kind, f"Who knows about {words}?")
        for kind, words in make_questions(rng, args.queries, random_chunks(None), vocab)
    ]
    colleagues = Colleague.objects.in_bulk([c for _, c, _ in asked])
    ask_questions = [
        (kind, colleagues[c], f"What do you know about {words}?")
        for _, c, _ in asked
        for kind, words in make_questions(rng, args.asks, random_chunks(c), vocab)
    ]

    # Warm-up: the first calls load the embedder, the vector cache and the package outlines.
    first: dict[str, float] = {}
    t0 = time.perf_counter()
    who_knows(reader, wk_questions[0][1])
    first["who_knows_first_s"] = round(time.perf_counter() - t0, 2)
    t0 = time.perf_counter()
    ask(reader, ask_questions[0][1], ask_questions[0][2])
    first["ask_first_s"] = round(time.perf_counter() - t0, 2)
    for _, q in wk_questions[:5]:
        who_knows(reader, q)
    for _, c, q in ask_questions[:5]:
        ask(reader, c, q)
    embedder = get_embedder()
    embed_times = []
    for _, q in wk_questions[:50]:
        t0 = time.perf_counter()
        embedder.embed([q])  # not embed_one, which keeps recent questions' vectors
        embed_times.append(time.perf_counter() - t0)

    load_start = os.getloadavg()
    # CPU time of this process per call (all its threads: the embedder and numpy may use two
    # cores, so it can exceed the wall time), beside the wall time: on a shared machine a CPU /
    # wall ratio well below that of a quiet run is time spent waiting for a core or the disk.
    cpu: dict[str, list[float]] = {"who_knows": [], "ask": []}
    wk_times: list[tuple[float, str, str, int]] = []
    for kind, q in wk_questions:
        c0, t0 = time.process_time(), time.perf_counter()
        experts = who_knows(reader, q)
        wk_times.append((time.perf_counter() - t0, kind, q, len(experts)))
        cpu["who_knows"].append(time.process_time() - c0)
    ask_times: list[tuple[float, str, Any, str, int]] = []
    for kind, colleague, q in ask_questions:
        c0, t0 = time.process_time(), time.perf_counter()
        answer = ask(reader, colleague, q)
        ask_times.append((time.perf_counter() - t0, kind, colleague, q, len(answer.citations)))
        cpu["ask"].append(time.process_time() - c0)
    load_end = os.getloadavg()
    matched = packages_matched([q for _, q in wk_questions])

    def summary(rows: list[Any], answered: Callable[[Any], bool]) -> dict[str, Any]:
        out: dict[str, Any] = {"all": percentiles([r[0] for r in rows])}
        for kind in ("from-chunk", "random"):
            some = [r[0] for r in rows if r[1] == kind]
            if some:
                out[kind] = percentiles(some)
        out["with_results"] = sum(1 for r in rows if answered(r))
        return out

    results: dict[str, Any] = {
        **info,
        "chunks_stored": chunk_count,
        "reader": member.name,
        "asked": [
            {"rank": rank, "colleague": colleagues[c].name, "chunks": n} for rank, c, n in asked
        ],
        **first,
        "embed_query_ms": percentiles(embed_times),
        "who_knows": summary(wk_times, lambda r: r[3] > 0),
        "ask": summary(ask_times, lambda r: r[4] > 0),
        "ask_per_colleague": {
            colleagues[c].name: percentiles([r[0] for r in ask_times if r[2].pk == c])
            for _, c, _ in asked
        },
        "load_average_start": [round(x, 2) for x in load_start],
        "load_average_end": [round(x, 2) for x in load_end],
        "rss_mb": round(QL.rss_mb(), 0),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 0),
    }
    counts = sorted(matched.values())
    results["who_knows"]["packages_matched"] = {
        "p50": counts[len(counts) // 2],
        "p95": counts[min(len(counts) - 1, round(0.95 * (len(counts) - 1)))],
        "max": counts[-1],
        "viewed_at_most": MAX_PACKAGES,
    }
    timed: list[tuple[str, list[Any]]] = [("who_knows", wk_times), ("ask", ask_times)]
    for name, rows in timed:
        results[name]["cpu"] = percentiles(cpu[name])
        results[name]["cpu_share"] = round(sum(cpu[name]) / sum(r[0] for r in rows), 2)
        p95 = results[name]["all"]["p95_ms"]
        results[name]["target_met"] = p95 < TARGET_MS
        results[name]["slowest"] = [
            {
                "ms": round(r[0] * 1000, 1),
                "question": r[-2],
                "results": r[-1],
                **({"packages_matched": matched[r[-2]]} if name == "who_knows" else {}),
            }
            for r in sorted(rows, key=lambda r: -r[0])[:5]
        ]
    if args.profile:
        profiles = {}
        for name, rows, call in (
            ("who_knows", wk_times, lambda r: who_knows(reader, r[2])),
            ("ask", ask_times, lambda r: ask(reader, r[2], r[3])),
        ):
            p95 = results[name]["all"]["p95_ms"] / 1000
            slow = [r for r in rows if r[0] >= p95]
            profile = cProfile.Profile()
            t0 = time.perf_counter()
            profile.enable()
            for r in slow:
                call(r)
            profile.disable()
            profiles[name] = {
                "queries": len(slow),
                "seconds": round(time.perf_counter() - t0, 2),
                "by_tottime": hotspots(profile, "tottime_s"),
                "by_cumtime": hotspots(profile, "cumtime_s", limit=40),
                # The project's own functions, where a fix would go.
                "project_by_cumtime": hotspots(profile, "cumtime_s", 40, project_only=True),
            }
        results["profile"] = profiles
    return results


def code_version() -> dict[str, Any]:
    """The commit measured and the files of the code measured that differ from it (the
    checkout may be shared with people editing it), or None outside a git checkout."""
    try:
        commit = subprocess.run(
            ["git", "-C", str(ROOT), "log", "-1", "--format=%h"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
        changed = subprocess.run(
            ["git", "-C", str(ROOT), "status", "--porcelain", "--", *MEASURED_CODE],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.splitlines()
    except (OSError, subprocess.CalledProcessError):
        return {"commit": None, "uncommitted": None}
    return {"commit": commit, "uncommitted": [line[3:] for line in changed]}


def _print(result: dict[str, Any]) -> None:
    print(
        f"\n{result['chunks']:,} chunks, embedder {result['embedder']}, reader {result['reader']}"
    )
    print(f"commit {result['commit']}, uncommitted changes measured: {result['uncommitted']}")
    print(f"load average {result['load_average_start']} -> {result['load_average_end']}")
    print(
        f"first who_knows {result['who_knows_first_s']} s, first ask {result['ask_first_s']} s;"
        f" RSS {result['rss_mb']:.0f} MB (peak {result['peak_rss_mb']:.0f} MB)"
    )
    for name in ("who_knows", "ask"):
        r = result[name]
        print(
            f"{name:<10} n={r['all']['n']:<4} p50 {r['all']['p50_ms']:>7.1f} ms  "
            f"p95 {r['all']['p95_ms']:>7.1f} ms  max {r['all']['max_ms']:>7.1f} ms  "
            f"with results {r['with_results']}  target <{TARGET_MS:.0f} ms met: {r['target_met']}"
        )
        print(
            f"  CPU (all threads) p50 {r['cpu']['p50_ms']:>7.1f}  p95 {r['cpu']['p95_ms']:>7.1f}"
            f"  max {r['cpu']['max_ms']:>7.1f}  (CPU / wall {r['cpu_share']})"
        )
        for kind in ("from-chunk", "random"):
            if kind in r:
                k = r[kind]
                print(
                    f"  {kind:<11} p50 {k['p50_ms']:>7.1f}  p95 {k['p95_ms']:>7.1f}"
                    f"  max {k['max_ms']:>7.1f}"
                )
    for name, p in result.get("profile", {}).items():
        print(f"\nprofile of {name}: {p['queries']} queries at or above p95, {p['seconds']} s")
        for row in p["by_tottime"][:15]:
            print(f"  tot {row['tottime_s']:>7.3f}  cum {row['cumtime_s']:>7.3f}  {row['where']}")
        print("  the project's functions by cumulative time:")
        for row in p["project_by_cumtime"][:25]:
            print(f"  cum {row['cumtime_s']:>7.3f}  calls {row['calls']:>6}  {row['where']}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--chunks", type=int, nargs="+", default=[1_000_000])
    parser.add_argument("--queries", type=int, default=100, help="who_knows questions")
    parser.add_argument("--asks", type=int, default=20, help="ask questions per colleague")
    parser.add_argument("--packages", type=int, help="build only the N most prolific's packages")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--workers", type=int, default=1, help="processes that build the packages (default 1)"
    )
    parser.add_argument("--profile", action="store_true")
    parser.add_argument(
        "--build-only", action="store_true", help="build (with --keep) and stop before timing"
    )
    parser.add_argument("--keep", help="keep each size's database in KEEP-<chunks>; reuse it")
    parser.add_argument("--json", action="store_true", help="print only the JSON")
    parser.add_argument("--json-out", type=Path)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        var = Path(args.keep or tempfile.mkdtemp(prefix="alat-"))
        var.mkdir(parents=True, exist_ok=True)
        QL.setup_django(var)
        result = run(args.chunks[0], args)
        result["var"] = str(var)
        print(json.dumps(result))
        return
    results = []
    for n in args.chunks:
        command = [sys.executable, __file__, "--child", "--chunks", str(n)]
        command += ["--queries", str(args.queries), "--asks", str(args.asks)]
        command += ["--seed", str(args.seed)]
        if args.packages is not None:
            command += ["--packages", str(args.packages)]
        command += ["--workers", str(args.workers)]
        if args.profile:
            command.append("--profile")
        if args.build_only:
            command.append("--build-only")
        if args.keep:
            command += ["--keep", f"{args.keep}-{n}"]
        version = code_version()  # before the child imports the code
        started = time.perf_counter()
        out = subprocess.run(command, check=True, stdout=subprocess.PIPE, text=True)
        result = json.loads(out.stdout.strip().splitlines()[-1])
        result["child_seconds"] = round(time.perf_counter() - started, 1)
        result.update(version)
        result["date"] = datetime.now(UTC).isoformat(timespec="seconds")
        results.append(result)
        if args.build_only:
            print(json.dumps(result))
        elif not args.json:
            _print(result)
    if args.json_out:
        args.json_out.write_text(json.dumps(results, indent=2) + "\n")
    if args.json:
        print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()

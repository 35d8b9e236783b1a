"""Query latency of knowledge.retrieval.retrieve() on a synthetic organisation.

Builds a fresh SQLite database (migrated, in its own COLLEAGUE_VAR_DIR) holding N chunks:
colleagues with Slack identities (authorship Zipf-distributed), public and private channels
and DMs (a realistic spread of audiences: ~60 % public, ~28 % private channels, ~12 % DMs),
items of 1-2 chunks, chunk text drawn from a Zipf vocabulary (so FTS5 sees realistic posting
lists), and clustered random unit vectors quantised exactly as the db backend stores them
(knowledge.indexing.quantise, embedder name of the configured embedder). Rows are written with
bulk inserts (the FTS triggers run), not through ingest: ingest speed is measured elsewhere.

Then it times retrieve() (hybrid, limit 20) for `--queries` queries of 2-4 vocabulary words,
as a normal member (a colleague in several private channels, not the operator), scoped to one
prolific colleague and across the organisation, after warm-up (the vector cache load is
reported separately). The query is embedded by the configured embedder (default: USE), which
is part of the time. RSS is the process's VmRSS after the runs; peak is ru_maxrss. Each
scope's `_cpu` figures are the process's CPU time per query (user and system), which waiting
for a core on a loaded machine does not inflate.

    .venv/bin/python bench/query_latency.py --chunks 10000 100000 1000000
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def rss_mb() -> float:
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def setup_django(var_dir: Path) -> None:
    os.environ["COLLEAGUE_VAR_DIR"] = str(var_dir)
    os.environ.pop("DATABASE_URL", None)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def vocabulary() -> tuple[list[str], np.ndarray]:
    vocab = [f"w{i}" for i in range(30_000)]
    zipf = 1.0 / np.arange(1, len(vocab) + 1) ** 1.05
    return vocab, zipf / zipf.sum()


def build(n_chunks: int, seed: int) -> dict[str, object]:
    from django.db import connection, transaction
    from django.utils import timezone

    from colleagues.models import Colleague, Identity
    from connectors.models import Source
    from knowledge.embeddings import get_embedder
    from knowledge.indexing import quantise
    from knowledge.models import Audience, Chunk, Container, Item

    rng = np.random.default_rng(seed)
    pyrng = random.Random(seed)
    embedder = get_embedder()
    dim = embedder.dimension
    n_people = max(50, min(5000, n_chunks // 200))
    n_private = max(5, n_people // 10)
    n_public = max(5, n_people // 20)
    n_dm = max(10, n_people)
    vocab, zipf = vocabulary()

    with connection.cursor() as cursor:
        cursor.execute("PRAGMA synchronous=OFF")
    now = timezone.now()
    with transaction.atomic():
        source = Source.objects.create(name="bench-slack", kind="slack-export")
        colleagues = Colleague.objects.bulk_create(
            Colleague(name=f"Person {i}", email=f"p{i}@bench.test", slug=f"p{i}")
            for i in range(n_people)
        )
        identities = Identity.objects.bulk_create(
            Identity(kind="slack", value=f"U{i}", display_name=f"Person {i}", colleague=c)
            for i, c in enumerate(colleagues)
        )
        channels = Container.objects.bulk_create(
            Container(
                source=source,
                external_id=f"C{k}",
                name=f"chan-{k}",
                kind="private_channel" if k < n_private else "channel",
                is_private=k < n_private,
            )
            for k in range(n_private + n_public)
        )
        members = Container.members.through
        links = []
        for container in channels[:n_private]:
            for ident in pyrng.sample(identities, min(len(identities), pyrng.randint(4, 40))):
                links.append(members(container_id=container.pk, identity_id=ident.pk))
        members.objects.bulk_create(links, batch_size=5000)
        public = Audience.objects.create(fingerprint="public", is_public=True)
        private = Audience.objects.bulk_create(
            Audience(fingerprint=f"c{c.pk}", is_public=False) for c in channels[:n_private]
        )
        Audience.containers.through.objects.bulk_create(
            Audience.containers.through(audience_id=a.pk, container_id=c.pk)
            for a, c in zip(private, channels[:n_private], strict=True)
        )
        dms = Audience.objects.bulk_create(
            Audience(fingerprint=f"dm{k}", is_public=False) for k in range(n_dm)
        )
        dm_people = []
        for a in dms:
            for ident in pyrng.sample(identities, 2):
                dm_people.append(
                    Audience.identities.through(audience_id=a.pk, identity_id=ident.pk)
                )
        Audience.identities.through.objects.bulk_create(dm_people, batch_size=5000)

    author_weights = 1.0 / np.arange(1, n_people + 1) ** 0.9
    author_weights /= author_weights.sum()
    centroids = rng.standard_normal((512, dim)).astype(np.float32)
    name = embedder.name
    made = 0
    item_no = 0
    page = 20_000
    started = time.perf_counter()
    while made < n_chunks:
        count = min(page, n_chunks - made)
        n_items = max(1, int(count / 1.25))
        authors = rng.choice(n_people, size=n_items, p=author_weights)
        kinds = rng.random(n_items)
        when = rng.integers(0, 4 * 365 * 86400, size=n_items)
        items = []
        for j in range(n_items):
            if kinds[j] < 0.60:
                audience, container = public, channels[n_private + (j % n_public)]
            elif kinds[j] < 0.88:
                k = int(rng.integers(0, n_private))
                audience, container = private[k], channels[k]
            else:
                audience, container = dms[int(rng.integers(0, n_dm))], None
            created = now - np.timedelta64(int(when[j]), "s").item()
            items.append(
                Item(
                    source=source,
                    external_id=f"m{item_no}",
                    kind="message",
                    title="",
                    body="",
                    url="",
                    created_at=created,
                    updated_at=created,
                    content_hash="",
                    metadata={},
                    audience=audience,
                    author=identities[int(authors[j])],
                    container=container,
                )
            )
            item_no += 1
        with transaction.atomic():
            items = Item.objects.bulk_create(items, batch_size=5000)
            owners = [items[j % n_items] for j in range(count)]
            lengths = rng.integers(15, 70, size=count)
            words = rng.choice(len(vocab), size=int(lengths.sum()), p=zipf)
            topics = rng.integers(0, len(centroids), size=count)
            vectors = centroids[topics] + 1.5 * rng.standard_normal((count, dim)).astype(np.float32)
            vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
            rows, scales = quantise(vectors)
            chunks = []
            at = 0
            for j in range(count):
                text = " ".join(vocab[w] for w in words[at : at + lengths[j]])
                at += lengths[j]
                chunks.append(
                    Chunk(
                        item=owners[j],
                        ordinal=0 if j < n_items else 1,
                        text=text,
                        audience_id=owners[j].audience_id,
                        embedding=rows[j].tobytes(),
                        embedding_scale=float(scales[j]),
                        embedder=name,
                        # Embedded when ingested, as in a steady state (not a just-finished
                        # bulk import, whose shared timestamps the cache re-reads for a while).
                        embedded_at=owners[j].created_at,
                    )
                )
            Chunk.objects.bulk_create(chunks, batch_size=5000)
        made += count
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    return {
        "people": n_people,
        "private_channels": n_private,
        "public_channels": n_public,
        "dms": n_dm,
        "build_seconds": round(time.perf_counter() - started, 1),
    }


def member_reader():  # type: ignore[no-untyped-def]
    """A normal member: the colleague in the most private channels (not the operator)."""
    from django.contrib.auth import get_user_model
    from django.db.models import Count

    from colleagues.models import Colleague
    from knowledge.visibility import reader_for

    colleague = (
        Colleague.objects.annotate(n=Count("identities__containers")).order_by("-n", "id").first()
    )
    assert colleague is not None
    user = get_user_model().objects.create_user(username="bench-member")
    colleague.user = user
    colleague.save(update_fields=["user"])
    return reader_for(user), colleague


def percentiles(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)

    def at(q: float) -> float:
        return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]

    return {
        "p50_ms": round(at(0.50) * 1000, 1),
        "p95_ms": round(at(0.95) * 1000, 1),
        "p99_ms": round(at(0.99) * 1000, 1),
        "mean_ms": round(statistics.fmean(ordered) * 1000, 1),
    }


def run(n_chunks: int, queries: int, seed: int, mode: str) -> dict[str, object]:
    from django.contrib.auth import get_user_model

    from knowledge.index.base import Filters
    from knowledge.models import Chunk
    from knowledge.retrieval import retrieve

    if Chunk.objects.exists():  # --keep: measure again on the database built before
        info: dict[str, object] = {"reused_database": True}
        get_user_model().objects.filter(username="bench-member").delete()
    else:
        info = build(n_chunks, seed)
    vocab, _ = vocabulary()
    reader, _ = member_reader()
    # The scoped colleague: the second most prolific author (a heavy, realistic package).
    from django.db.models import Count

    top = list(
        Chunk.objects.values("item__author__colleague_id")
        .annotate(n=Count("id"))
        .order_by("-n")[:2]
    )
    scoped_id, scoped_chunks = top[-1]["item__author__colleague_id"], top[-1]["n"]
    rng = random.Random(seed + 1)
    # Query words from the mid-frequency band (ranks 50-5000), as people search.
    texts = [
        " ".join(vocab[rng.randint(50, 5000)] for _ in range(rng.randint(2, 4)))
        for _ in range(queries)
    ]
    started = time.perf_counter()
    retrieve(reader, texts[0], limit=20, mode=mode)  # warm-up: loads the vector cache
    warm = time.perf_counter() - started
    for text in texts[:5]:
        retrieve(reader, text, limit=20, mode=mode)
    results: dict[str, object] = {"chunks": n_chunks, **info, "cache_load_seconds": round(warm, 2)}
    for label, filters in (
        ("one_colleague", Filters(colleague_id=scoped_id)),
        ("organisation", Filters()),
    ):
        times, cpu = [], []
        for text in texts:
            t0, c0 = time.perf_counter(), time.process_time()
            retrieve(reader, text, filters=filters, limit=20, mode=mode)
            times.append(time.perf_counter() - t0)
            cpu.append(time.process_time() - c0)
        results[label] = percentiles(times)
        # CPU time of the process (user + system, every thread): on a shared machine, what a
        # query costs apart from waiting for a core.
        results[f"{label}_cpu"] = percentiles(cpu)
    results["scoped_colleague_chunks"] = scoped_chunks
    results["rss_mb"] = round(rss_mb(), 0)
    results["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 0)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--chunks", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--mode", default="hybrid", choices=["hybrid", "keyword", "vector"])
    parser.add_argument(
        "--keep",
        help="build each size's database in KEEP-<chunks> and keep it; an existing one is reused",
    )
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        var = Path(args.keep or tempfile.mkdtemp(prefix="qlat-"))
        var.mkdir(parents=True, exist_ok=True)
        setup_django(var)
        print(json.dumps(run(args.chunks[0], args.queries, args.seed, args.mode)))
        return
    # One child process per size, so RSS is that size's own.
    import subprocess

    for n in args.chunks:
        out = subprocess.run(
            [
                sys.executable,
                __file__,
                "--child",
                "--chunks",
                str(n),
                "--queries",
                str(args.queries),
                "--seed",
                str(args.seed),
                "--mode",
                args.mode,
                *(["--keep", f"{args.keep}-{n}"] if args.keep else []),
            ],
            check=True,
            capture_output=True,
            text=True,
        )
        print(out.stdout.strip().splitlines()[-1], flush=True)


if __name__ == "__main__":
    main()

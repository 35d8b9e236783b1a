"""Retrieval quality (nDCG@10) of keyword, vector and hybrid search over the real pipeline.

Corpus, labels and queries as in bench/embedder_quality.py (enron-berkeley: 1,702 mails with
human topic labels; queries are the 12 topic labels, a question per topic and query-by-example
mails, the example itself not ranked). Unlike that script, nothing here is re-implemented: the
mails are copied as .eml files and stored by `manage.py ingest --kind email` into a fresh
COLLEAGUE_VAR_DIR (chunking, the FTS index, embeddings with the configured embedder, default
`use`), then every query goes through knowledge.retrieval.retrieve() as the console operator,
in each mode, in the same process. Ingested items are matched to corpus mails by Message-ID.

    .venv/bin/python bench/retrieval_quality.py /work/shared/corpora/enron-berkeley
"""

from __future__ import annotations

import argparse
import email
import email.policy
import json
import math
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from embedder_quality import build_queries, load_corpus  # noqa: E402


def ingest(corpus: Path, var: Path) -> dict[str, object]:
    mails = var / "mails"
    mails.mkdir(parents=True)
    for path in sorted(corpus.glob("*/*.txt")):
        shutil.copy(path, mails / f"{path.parent.name}_{path.stem}.eml")
    env = {**os.environ, "COLLEAGUE_VAR_DIR": str(var)}
    env.pop("DATABASE_URL", None)
    py = sys.executable
    subprocess.run([py, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True)
    started = time.perf_counter()
    out = subprocess.run(
        [py, "manage.py", "ingest", str(mails), "--kind", "email", "--source", "enron", "--json"],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    result = json.loads(out.stdout)
    # Embedding runs on commit; catch up on anything left pending.
    subprocess.run(
        [
            py,
            "manage.py",
            "shell",
            "-c",
            "from knowledge.indexing import embed_chunks; print(embed_chunks())",
        ],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    result["wall_seconds"] = round(time.perf_counter() - started, 1)
    return result


def message_ids(corpus: Path) -> list[str]:
    ids = []
    for path in sorted(corpus.glob("*/*.txt"), key=lambda p: (int(p.parent.name), p.name)):
        message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        ids.append(str(message.get("Message-ID", "")).strip().strip("<>"))
    return ids


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("corpus", type=Path)
    parser.add_argument("--mails-per-topic", type=int, default=10)
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--var", type=Path, help="reuse (or build) the database in this folder")
    parser.add_argument("--json-out", type=Path)
    parser.add_argument("--tunings", nargs="*", help="only these hybrid variants (labels)")
    parser.add_argument("--skip-defaults", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    var = args.var or Path(tempfile.mkdtemp(prefix="retq-"))
    info: dict[str, object] = {}
    if not (var / "colleague.sqlite3").exists():
        info = ingest(args.corpus, var)
    os.environ["COLLEAGUE_VAR_DIR"] = str(var)
    os.environ.pop("DATABASE_URL", None)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()
    from knowledge.embeddings import get_embedder
    from knowledge.models import Chunk, Item
    from knowledge.retrieval import Tuning, retrieve
    from knowledge.visibility import Reader

    mails = load_corpus(args.corpus)
    ids = message_ids(args.corpus)
    queries = build_queries(mails, args.mails_per_topic, args.seed)
    by_external: dict[str, int] = {}
    for item_id, external, metadata in Item.objects.values_list("id", "external_id", "metadata"):
        for key in (external, str((metadata or {}).get("message_id", ""))):
            by_external[key.strip().strip("<>")] = item_id
    item_of_mail = [by_external.get(mid) for mid in ids]
    mail_of_item = {item: i for i, item in enumerate(item_of_mail) if item is not None}
    embedded = Chunk.objects.filter(embedder=get_embedder().name).count()
    print(
        f"mails {len(mails)}, matched to items {len(mail_of_item)}, chunks {Chunk.objects.count()}"
        f" (embedded {embedded}), queries {len(queries)}",
        flush=True,
    )
    reader = Reader.operator()

    def ndcg(mode: str, tuning: Tuning) -> dict[str, float]:
        per_kind: dict[str, list[float]] = {}
        for query in queries:
            found = retrieve(reader, query.text, limit=11, mode=mode, tuning=tuning)
            ranked = [mail_of_item.get(h.item.pk) for h in found.hits]
            ranked = [i for i in ranked if i != query.exclude][:10]
            relevant = {
                i for i, m in enumerate(mails) if query.topic in m.topics and i != query.exclude
            }
            dcg = sum(1 / math.log2(r + 2) for r, i in enumerate(ranked) if i in relevant)
            ideal = sum(1 / math.log2(r + 2) for r in range(min(10, len(relevant))))
            per_kind.setdefault(query.kind, []).append(dcg / ideal if ideal else 0.0)
        out = {kind: round(statistics.fmean(v), 4) for kind, v in per_kind.items()}
        out["all"] = round(statistics.fmean([x for v in per_kind.values() for x in v]), 4)
        return out

    results: dict[str, object] = {"ingest": info, "queries": len(queries)}
    default = Tuning.from_settings()
    rows = []
    for mode in () if args.skip_defaults else ("keyword", "vector", "hybrid"):
        started = time.perf_counter()
        scores = ndcg(mode, default)
        rows.append(
            {
                "mode": mode,
                "tuning": "default",
                **scores,
                "ms_per_query": round((time.perf_counter() - started) / len(queries) * 1000, 1),
            }
        )
        print(json.dumps(rows[-1]), flush=True)
    for label, tuning in (
        ("rrf k=20", Tuning(rrf_k=20)),
        ("rrf k=120", Tuning(rrf_k=120)),
        ("rrf depth=200", Tuning(depth=200)),
        ("rrf vector weight 2", Tuning(vector_weight=2.0)),
        ("rrf keyword weight 1.5", Tuning(keyword_weight=1.5)),
        ("convex 0.5/0.5", Tuning(fusion="convex")),
        (
            "convex keyword 0.7, vector 0.3",
            Tuning(fusion="convex", keyword_weight=0.7, vector_weight=0.3),
        ),
        (
            "convex keyword 0.3, vector 0.7",
            Tuning(fusion="convex", keyword_weight=0.3, vector_weight=0.7),
        ),
        (
            "convex keyword 0.6, vector 0.4",
            Tuning(fusion="convex", keyword_weight=0.6, vector_weight=0.4),
        ),
    ):
        if args.tunings and label not in args.tunings:
            continue
        rows.append({"mode": "hybrid", "tuning": label, **ndcg("hybrid", tuning)})
        print(json.dumps(rows[-1]), flush=True)
    results["rows"] = rows
    if args.json_out:
        args.json_out.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()

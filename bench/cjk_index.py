"""The CJK keyword index (knowledge/text.py, migration 0014): what it costs English, and
bigrams against a dictionary segmenter (jieba) on Chinese.

    .venv/bin/python bench/cjk_index.py --english 100000 --postgres postgres://postgres@127.0.0.1:5432/bench_cjk
    PYTHONPATH=<site-packages holding jieba> .venv/bin/python bench/cjk_index.py --chinese 20000

English: the enron-berkeley mails of ../shared/corpora cut into paragraphs (repeated to the
count asked), stored into the keyword index of 0002 alone ("before") and of 0002 + 0014
("after"), on SQLite (a file) and PostgreSQL: insert time, index size, and the latency of the
keyword query of knowledge/index/db.py for 40 English words. Chinese: text made of words
drawn by frequency from jieba's dictionary (with punctuation and English product names),
indexed as bigrams (0014) and as jieba's search-mode words in an FTS5 table: time, size (the
file, which also holds the text and, for bigrams, 0002's English index, and the Chinese index
alone), and,
for 300 dictionary words of 2-4 characters, recall and precision against substring truth.
"""

from __future__ import annotations

import argparse
import importlib
import itertools
import json
import os
import random
import re
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from functools import partial
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
import django  # noqa: E402

django.setup()

from knowledge.index.cjk import fts5_query  # noqa: E402
from knowledge.text import has_cjk, index_bigrams, query_words  # noqa: E402

KEYWORD_0002 = importlib.import_module("knowledge.migrations.0002_keyword_index")
CJK_0014 = importlib.import_module("knowledge.migrations.0014_cjk_keyword_index")
CORPUS = ROOT.parent / "shared" / "corpora" / "enron-berkeley"
ENGLISH_QUERIES = (
    "pipeline meeting contract energy gas price power market trading report schedule legal "
    "agreement credit risk california deal review budget draft approval transmission capacity "
    "regulatory comments forecast invoice settlement storage counterparty weather letter "
    "conference merger employees revenue outage governor legislation tariff"
).split()


def english_texts(count: int) -> list[str]:
    paragraphs: list[str] = []
    for path in sorted(CORPUS.rglob("*.txt")):
        body = path.read_text(errors="replace").split("\n\n", 1)[-1]
        paragraphs.extend(p.strip() for p in re.split(r"\n\s*\n", body) if len(p.strip()) > 40)
    return [paragraphs[i % len(paragraphs)] for i in range(count)]


def timed(function: Callable[[], object]) -> float:
    start = time.perf_counter()
    function()
    return time.perf_counter() - start


def median_ms(run: Callable[[str], object], queries: Iterable[str], rounds: int = 3) -> float:
    times = []
    for _ in range(rounds):
        for query in queries:
            start = time.perf_counter()
            run(query)
            times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


# SQLite


def sqlite_index(path: Path, *, cjk: bool) -> sqlite3.Connection:
    connection = sqlite3.connect(path, isolation_level=None)
    connection.create_function("colleague_cjk_bigrams", 1, index_bigrams, deterministic=True)
    connection.execute("CREATE TABLE knowledge_chunk (id INTEGER PRIMARY KEY, text TEXT)")
    for statement in KEYWORD_0002.SQLITE_FORWARD:
        connection.execute(statement)
    if cjk:
        for statement in CJK_0014.SQLITE_FORWARD:
            connection.execute(statement)
    return connection


def sqlite_insert(connection: sqlite3.Connection, texts: list[str]) -> float:
    def run() -> None:
        for start in range(0, len(texts), 1000):
            connection.execute("BEGIN")
            connection.executemany(
                "INSERT INTO knowledge_chunk (text) VALUES (?)",
                [(t,) for t in texts[start : start + 1000]],
            )
            connection.execute("COMMIT")

    return timed(run)


def sqlite_english_query(connection: sqlite3.Connection, word: str) -> list[tuple[int, float]]:
    return connection.execute(
        "SELECT rowid, -bm25(knowledge_chunk_fts) FROM knowledge_chunk_fts"
        " WHERE knowledge_chunk_fts MATCH ? ORDER BY bm25(knowledge_chunk_fts) LIMIT 100",
        [f'"{word}"'],
    ).fetchall()


def sqlite_size(path: Path) -> int:
    return path.stat().st_size


def table_size(connection: sqlite3.Connection, prefix: str) -> int:
    """Bytes of the pages of the tables (an FTS5 table's shadow tables) named `prefix`..."""
    row = connection.execute(
        "SELECT sum(pgsize) FROM dbstat WHERE name LIKE ?", [prefix + "%"]
    ).fetchone()
    return int(row[0] or 0)


def english_sqlite(texts: list[str], folder: Path) -> None:
    print(f"SQLite, {len(texts):,} English chunks")
    for cjk in (False, True):
        path = folder / f"en-{cjk}.sqlite3"
        connection = sqlite_index(path, cjk=cjk)
        seconds = sqlite_insert(connection, texts)
        size = sqlite_size(path)
        latency = median_ms(partial(sqlite_english_query, connection), ENGLISH_QUERIES)
        cjk_bytes = table_size(connection, "knowledge_chunk_cjk")
        rows = (
            connection.execute("SELECT count(*) FROM knowledge_chunk_cjk").fetchone()[0]
            if cjk
            else 0
        )
        print(
            f"  {'after (0002 + 0014)' if cjk else 'before (0002)     '}: insert {seconds:6.1f} s"
            f" ({len(texts) / seconds:,.0f} chunks/s), file {size / 1e6:7.1f} MB,"
            f" query median {latency:.2f} ms, CJK rows {rows} ({cjk_bytes / 1e3:.0f} kB)"
        )
        connection.close()


def migrate_sqlite(texts: list[str], folder: Path) -> None:
    """0014's fill over a table stored under 0002 alone (an existing installation), a tenth of
    its chunks replaced by the Chinese messages of tests/fixtures/zh."""
    chinese = [
        message["text"]
        for path in sorted((ROOT / "tests" / "fixtures" / "zh" / "slack-export").rglob("2*.json"))
        for message in json.loads(path.read_text(encoding="utf-8"))
    ]
    texts = [chinese[i % len(chinese)] if i % 10 == 0 else t for i, t in enumerate(texts)]
    path = folder / "migrate.sqlite3"
    connection = sqlite_index(path, cjk=False)
    sqlite_insert(connection, texts)
    for statement in CJK_0014.SQLITE_FORWARD:
        connection.execute(statement)

    class Cursor:
        def __init__(self) -> None:
            self.cursor = connection.cursor()

        def __enter__(self) -> Cursor:
            return self

        def __exit__(self, *exc: object) -> None:
            self.cursor.close()

        def execute(self, sql: str, params: list[object] | None = None) -> None:
            self.cursor.execute(sql.replace("%s", "?"), params or [])

        def fetchone(self) -> tuple[int, int, int]:
            return tuple(self.cursor.fetchone())

    class Editor:
        class connection:  # what a schema editor offers: .connection.cursor()
            cursor = Cursor

    seconds = timed(lambda: CJK_0014._fill(Editor(), CJK_0014.SQLITE_FILL))
    rows = connection.execute("SELECT count(*) FROM knowledge_chunk_cjk").fetchone()[0]
    print(f"  migration 0014 on SQLite: {len(texts):,} chunks in {seconds:.1f} s, {rows:,} indexed")


def matching_speed(texts: list[str]) -> None:
    """answers.matching's words and segments on English text, against the rules before the
    shared tokeniser (copied here), best of five; the outputs must be equal."""
    from answers import matching

    old_end = re.compile(r"(?<=[.!?。！？])\s+")

    def old_words(text: str) -> list[str]:
        return [t for t in (m.lower() for m in matching._WORD.findall(text)) if matching._keep(t)]

    def old_segments(text: str) -> list[str]:
        return [
            s
            for line in text.splitlines()
            for s in (matching.normalise(p) for p in old_end.split(line))
            if s
        ]

    pairs = (("words", old_words, matching.words), ("segments", old_segments, matching.segments))
    for name, old, new in pairs:
        assert all(old(t) == new(t) for t in texts), name
        best = {}
        for label, function in (("before", old), ("after", new)):
            runs = []
            for _ in range(5):
                start = time.perf_counter()
                for text in texts:
                    function(text)
                runs.append(time.perf_counter() - start)
            best[label] = min(runs) * 1000
        print(
            f"  matching.{name} over {len(texts):,} English paragraphs: before"
            f" {best['before']:.0f} ms, after {best['after']:.0f} ms (same output)"
        )


# PostgreSQL


def english_postgres(texts: list[str], url: str) -> None:
    import psycopg

    print(f"PostgreSQL, {len(texts):,} English chunks")
    with psycopg.connect(url, autocommit=True) as connection:
        for cjk in (False, True):
            connection.execute(
                "DROP TABLE IF EXISTS knowledge_chunk CASCADE;"
                " DROP FUNCTION IF EXISTS knowledge_chunk_cjk_keep() CASCADE;"
                " CREATE TABLE knowledge_chunk (id bigserial PRIMARY KEY, text text NOT NULL)"
            )
            for statement in KEYWORD_0002.POSTGRES_FORWARD:
                connection.execute(statement)
            if cjk:
                for statement in CJK_0014.POSTGRES_FORWARD:
                    connection.execute(statement)
                connection.execute(CJK_0014.POSTGRES_INDEX)

            def run() -> None:
                with connection.cursor() as cursor:
                    for start in range(0, len(texts), 1000):
                        with connection.transaction():
                            cursor.executemany(
                                "INSERT INTO knowledge_chunk (text) VALUES (%s)",
                                [(t,) for t in texts[start : start + 1000]],
                            )

            seconds = timed(run)
            connection.execute("VACUUM ANALYZE knowledge_chunk")
            row = connection.execute("SELECT pg_total_relation_size('knowledge_chunk')").fetchone()
            size = row[0] if row else 0

            def query(word: str) -> object:
                return connection.execute(
                    "WITH q AS (SELECT (plainto_tsquery('english', %s)) AS q0)"
                    " SELECT c.id, ts_rank_cd(c.search_vector, q.q0) AS score"
                    " FROM knowledge_chunk c, q WHERE c.search_vector @@ q.q0"
                    " ORDER BY score DESC, c.id LIMIT 100",
                    [word],
                ).fetchall()

            latency = median_ms(query, ENGLISH_QUERIES)
            label = "after (0002 + 0014)" if cjk else "before (0002)      "
            print(
                f"  {label}: insert {seconds:6.1f} s"
                f" ({len(texts) / seconds:,.0f} chunks/s), table + indexes {size / 1e6:7.1f} MB,"
                f" query median {latency:.2f} ms"
            )
        connection.execute(
            "DROP TABLE IF EXISTS knowledge_chunk CASCADE;"
            " DROP FUNCTION IF EXISTS knowledge_chunk_cjk_keep() CASCADE"
        )


# Chinese: bigrams against jieba


def chinese_texts(count: int, seed: int = 7) -> tuple[list[str], list[str]]:
    """`count` chunks of ~120 characters, and 300 query words of 2-4 characters."""
    import jieba

    dictionary = Path(jieba.__file__).parent / "dict.txt"
    words, weights = [], []
    for line in dictionary.read_text(encoding="utf-8").splitlines():
        word, freq, *_ = line.split(" ")
        if has_cjk(word):
            words.append(word)
            weights.append(int(freq))
    rng = random.Random(seed)
    cumulative = list(itertools.accumulate(weights))
    names = ["Stripe", "Vault", "staging", "Kubernetes", "API", "webhook"]
    texts = []
    for _ in range(count):
        parts: list[str] = []
        while sum(len(p) for p in parts) < 120:
            sentence = "".join(rng.choices(words, cum_weights=cumulative, k=rng.randint(4, 9)))
            if rng.random() < 0.3:
                sentence += f" {rng.choice(names)} "
            parts.append(sentence + rng.choice("，。！？；"))
        texts.append("".join(parts))
    candidates = [w for w, f in zip(words, weights, strict=True) if 2 <= len(w) <= 4 and f > 50]
    return texts, rng.sample(candidates, 300)


def chinese(count: int, folder: Path) -> None:
    import jieba

    jieba.setLogLevel(60)
    texts, queries = chinese_texts(count)
    truth = {q: {i + 1 for i, t in enumerate(texts) if q in t} for q in queries}
    queries = [q for q in queries if truth[q]]
    print(f"Chinese, {len(texts):,} chunks of ~120 characters, {len(queries)} query words")

    path = folder / "zh-bigrams.sqlite3"
    connection = sqlite_index(path, cjk=True)
    seconds = sqlite_insert(connection, texts)
    size = sqlite_size(path)

    def bigram_ids(word: str) -> set[int]:
        expression = fts5_query(query_words(word))
        rows = connection.execute(
            "SELECT rowid FROM knowledge_chunk_cjk WHERE knowledge_chunk_cjk MATCH ?", [expression]
        )
        return {r[0] for r in rows}

    index = table_size(connection, "knowledge_chunk_cjk")
    report(
        "bigrams (0014)", seconds, len(texts), size, index, connection, bigram_ids, queries, truth
    )

    jieba.dt.initialized = False
    load = timed(jieba.initialize)
    path = folder / "zh-jieba.sqlite3"
    connection = sqlite3.connect(path, isolation_level=None)
    connection.execute("CREATE TABLE knowledge_chunk (id INTEGER PRIMARY KEY, text TEXT)")
    connection.execute(
        "CREATE VIRTUAL TABLE words USING fts5(body, content='',"
        " tokenize='unicode61 remove_diacritics 0')"
    )
    segment = timed(lambda: [" ".join(jieba.cut_for_search(t)) for t in texts[:2000]])
    segmented: list[str] = []

    def run() -> None:
        for start in range(0, len(texts), 1000):
            batch = texts[start : start + 1000]
            cut = [" ".join(jieba.cut_for_search(t)) for t in batch]
            segmented.extend(cut)
            connection.execute("BEGIN")
            connection.executemany(
                "INSERT INTO knowledge_chunk (text) VALUES (?)", [(t,) for t in batch]
            )
            connection.executemany(
                "INSERT INTO words (rowid, body) VALUES (?, ?)",
                [(start + n + 1, c) for n, c in enumerate(cut)],
            )
            connection.execute("COMMIT")

    seconds = timed(run)
    size = sqlite_size(path)

    def jieba_ids(word: str) -> set[int]:
        terms = [w for w in jieba.cut_for_search(word) if w.strip()]
        expression = " AND ".join(f'"{w}"' for w in terms)
        return {
            r[0]
            for r in connection.execute("SELECT rowid FROM words WHERE words MATCH ?", [expression])
        }

    index = table_size(connection, "words")
    report(
        "jieba search mode", seconds, len(texts), size, index, connection, jieba_ids, queries, truth
    )
    print(
        f"  jieba: dictionary load {load:.2f} s once per process; segmentation alone"
        f" {2000 / segment:,.0f} chunks/s"
    )


def report(
    name: str,
    seconds: float,
    count: int,
    size: int,
    index: int,
    connection: sqlite3.Connection,
    find: Callable[[str], set[int]],
    queries: list[str],
    truth: dict[str, set[int]],
) -> None:
    found = {q: find(q) for q in queries}
    recall = statistics.mean(len(found[q] & truth[q]) / len(truth[q]) for q in queries)
    precision = statistics.mean(
        len(found[q] & truth[q]) / len(found[q]) if found[q] else 1.0 for q in queries
    )
    latency = median_ms(find, queries[:100], rounds=2)
    print(
        f"  {name:18}: insert {seconds:6.1f} s ({count / seconds:,.0f} chunks/s), file"
        f" {size / 1e6:6.1f} MB of which the Chinese index {index / 1e6:5.1f} MB,"
        f" recall {recall:.3f}, precision {precision:.3f},"
        f" query median {latency:.2f} ms"
    )
    connection.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--english", type=int, default=0, help="English chunks (0: skip)")
    parser.add_argument("--postgres", default="", help="a PostgreSQL URL for the English run")
    parser.add_argument("--chinese", type=int, default=0, help="Chinese chunks (needs jieba)")
    parser.add_argument("--migrate", type=int, default=0, help="chunks for 0014's fill (SQLite)")
    parser.add_argument("--matching", type=int, default=0, help="paragraphs for answers.matching")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=os.environ.get("TMPDIR")) as tmp:
        folder = Path(tmp)
        if args.english:
            texts = english_texts(args.english)
            english_sqlite(texts, folder)
            if args.postgres:
                english_postgres(texts, args.postgres)
        if args.chinese:
            chinese(args.chinese, folder)
        if args.migrate:
            migrate_sqlite(english_texts(args.migrate), folder)
        if args.matching:
            matching_speed(english_texts(args.matching))


if __name__ == "__main__":
    main()

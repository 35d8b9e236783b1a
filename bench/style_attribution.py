"""Authorship attribution on real mail: StyleMatcher against a character-3-gram TF-IDF baseline.

Corpus: enron-berkeley (1,702 raw Enron mails, ../shared/corpora/README.md). Each mail is
parsed with the project's own `connectors.email.parsing.parse_email`, which keeps the author's
words only (`connectors.email.quoting.split_reply` takes off ">" quotes, Outlook originals and
"-- " signatures). Enron's Lotus Notes client quoted in its own way, which split_reply does
not know ("---- Forwarded by ...", and an indented "Name / 05/10/2001 01:51 PM / To: ..."
block above the original), so this script also cuts the body there.

Then, per sender: forwards and bodies under MIN_WORDS or over MAX_WORDS words (pasted press
clippings, bulk notices) are skipped, identical bodies are dropped across the whole corpus and
near-duplicates (word 5-gram Jaccard >= NEAR_DUPLICATE) within a sender, so the same text
cannot sit in train and test. Senders with at least MIN_MESSAGES messages left take part; at
most MAX_PER_SENDER of each sender's messages are used (evenly spaced in time) so one prolific
sender does not make up the test set. Each sender's messages are split chronologically: the
oldest 80% train, the newest 20% test. Within train, the newest 20% is the validation part
that features were tuned on (`--validate` reports it); test figures were looked at last.

Methods (both see exactly the same train and test texts):
- ours: `style_profile` over each sender's train messages, `StyleMatcher.rank` per test text;
- baseline: character 3-gram TF-IDF (lower-cased, smooth idf, l2-normalised, as scikit-learn's
  TfidfVectorizer(analyzer="char", ngram_range=(3, 3)) defaults) fitted on train, nearest
  centroid by cosine (centroid = mean of a sender's train vectors).

    .venv/bin/python bench/style_attribution.py ../shared/corpora/enron-berkeley [--json]
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import re
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from connectors.email.parsing import parse_email  # noqa: E402
from skills.analysis.style import StyleMatcher, style_profile  # noqa: E402
from skills.analysis.types import Writing  # noqa: E402

MIN_WORDS = 10
MAX_WORDS = 1_000
MIN_MESSAGES = 5
MAX_PER_SENDER = 120
NEAR_DUPLICATE = 0.5
TEST_SHARE = 0.2
VALIDATION_SHARE = 0.2

# Two addresses of one person each (same X-From name and mailbox), merged.
ALIASES = {
    "j.kaminski@enron.com": "vince.kaminski@enron.com",
    "d..steffes@enron.com": "james.steffes@enron.com",
    "m..taylor@enron.com": "liz.taylor@enron.com",
}

# Lotus Notes: "---------------------- Forwarded by Steven J Kean/HOU/EES on 10/18/99 08:46".
_NOTES_FORWARD = re.compile(r"^\s*-{3,}\s*Forwarded by\b", re.IGNORECASE)
# Lotus Notes reply header: a sender line, then "05/10/2001 01:51 PM", then "To: ...".
_NOTES_DATE = re.compile(r"^\s*\d{1,2}/\d{1,2}/\d{2,4}\s+\d{1,2}:\d{2}(?::\d{2})?\s*(?:[AP]M)?\s*$")
_NOTES_TO = re.compile(r"^\s*To:\s", re.IGNORECASE)
_RESPOND_TO = re.compile(r"^\s*Please respond to\b", re.IGNORECASE)
# Lotus Notes: "From:  Felecia Acevedo @ ENRON                           11/02/2000 08:56 AM".
_NOTES_FROM = re.compile(r"^\s*From:\s.*\d{1,2}/\d{1,2}/\d{2,4}\s+\d{1,2}:\d{2}", re.IGNORECASE)
# A contact block a signature ends with: "Tel: (415) 782-7802", "Phone", "Fax:(707) ...".
_CONTACT = re.compile(r"^\s*(?:tel|phone|fax|cell|mobile|e-?mail)\b|\(\d{3}\)\s*\d{3}-\d{4}", re.I)
_WORD = re.compile(r"\w+")


@dataclass(frozen=True)
class Mail:
    """One sender's own words from one message."""

    sender: str
    created_at: datetime
    body: str
    path: str


def own_words(body: str) -> str:
    """Cut a parsed body where Lotus Notes' forwards or quoted originals begin."""
    lines = body.split("\n")
    cut = len(lines)
    for n, line in enumerate(lines):
        if _NOTES_FORWARD.match(line):
            cut = n
            break
        if _NOTES_DATE.match(line):
            following = [x for x in lines[n + 1 : n + 4] if x.strip()]
            if not following or _NOTES_TO.match(following[0]):
                # The sender's name sits on the line(s) just above the date.
                back = n
                while back > 0 and lines[back - 1].strip() and n - back < 2:
                    back -= 1
                cut = back
                break
        if _NOTES_FROM.match(line):
            cut = n
            break
        if _NOTES_TO.match(line) and n > 0 and not lines[n - 1].strip():
            following = " ".join(lines[n : n + 4]).lower()
            if "cc:" in following or "subject:" in following:
                cut = n
                break
    kept = [line for line in lines[:cut] if not _RESPOND_TO.match(line)]
    # The Notes letterhead above a quoted original is indented ("\tEnron North America Corp.").
    while kept and (not kept[-1].strip() or kept[-1][:1] in " \t"):
        kept.pop()
    return _without_contact_block(kept)


def _without_contact_block(lines: list[str]) -> str:
    """Drop a closing signature block that carries a phone number (name, company, Tel, Fax).

    Contact blocks name the sender outright; leaving them in would measure signature lookup,
    not style. A bare sign-off name ("Vince", "Jim") stays: it is a habit of the writer.
    """
    tail = lines[-8:]
    for n, line in enumerate(tail):
        if _CONTACT.search(line):
            start = len(lines) - len(tail) + n
            # Back up over the name and company lines just above, to the paragraph break.
            while start > 0 and lines[start - 1].strip():
                start -= 1
            lines = lines[:start]
            break
    return "\n".join(lines).strip()


def _shingles(text: str) -> set[tuple[str, ...]]:
    words = _WORD.findall(text.lower())
    return {tuple(words[i : i + 5]) for i in range(max(1, len(words) - 4))}


def load_mails(corpus: Path) -> dict[str, list[Mail]]:
    """Every sender's usable messages, oldest first, de-duplicated as the docstring says."""
    by_sender: dict[str, list[Mail]] = defaultdict(list)
    seen_bodies: set[str] = set()
    for path in sorted(corpus.glob("*/*.txt"), key=lambda p: (p.parent.name, p.name)):
        document = parse_email(path.read_bytes()).document
        if document.author is None:
            continue
        sender = ALIASES.get(document.author.value, document.author.value)
        body = own_words(document.body)
        words = len(_WORD.findall(body))
        if not MIN_WORDS <= words <= MAX_WORDS:
            continue
        key = " ".join(body.lower().split())
        if key in seen_bodies:
            continue
        seen_bodies.add(key)
        relative = f"{path.parent.name}/{path.name}"
        by_sender[sender].append(Mail(sender, document.created_at, body, relative))
    result: dict[str, list[Mail]] = {}
    for sender, mails in by_sender.items():
        mails.sort(key=lambda m: (m.created_at, m.path))
        kept: list[Mail] = []
        kept_shingles: list[set[tuple[str, ...]]] = []
        for mail in mails:
            shingles = _shingles(mail.body)
            if any(
                len(shingles & other) / len(shingles | other) >= NEAR_DUPLICATE
                for other in kept_shingles
            ):
                continue
            kept.append(mail)
            kept_shingles.append(shingles)
        if len(kept) >= MIN_MESSAGES:
            result[sender] = _evenly(kept, MAX_PER_SENDER)
    return dict(sorted(result.items()))


def _evenly(mails: list[Mail], limit: int) -> list[Mail]:
    if len(mails) <= limit:
        return mails
    step = len(mails) / limit
    return [mails[int(i * step)] for i in range(limit)]


@dataclass(frozen=True)
class Split:
    train: dict[str, list[Mail]]
    test: dict[str, list[Mail]]


def chronological_split(mails: dict[str, list[Mail]], share: float) -> Split:
    """The newest `share` of each sender's messages (at least one) as test, the rest train."""
    train: dict[str, list[Mail]] = {}
    test: dict[str, list[Mail]] = {}
    for sender, items in mails.items():
        n_test = max(1, round(len(items) * share))
        train[sender] = items[:-n_test]
        test[sender] = items[-n_test:]
    return Split(train, test)


# -- the baseline: character 3-gram TF-IDF, nearest centroid --------------------------------


def _char3(text: str) -> Counter[str]:
    text = text.lower()
    return Counter(text[i : i + 3] for i in range(len(text) - 2))


class TfidfCentroids:
    """scikit-learn's TfidfVectorizer(analyzer="char", ngram_range=(3, 3)) + nearest centroid."""

    def __init__(self, train: dict[str, list[str]]) -> None:
        documents = [(sender, _char3(text)) for sender, texts in train.items() for text in texts]
        df: Counter[str] = Counter()
        for _, counts in documents:
            df.update(counts.keys())
        self.vocabulary = {gram: i for i, gram in enumerate(sorted(df))}
        n = len(documents)
        self.idf = np.array(
            [math.log((1 + n) / (1 + df[gram])) + 1 for gram in sorted(df)], dtype=np.float64
        )
        self.senders = sorted(train)
        centroids = np.zeros((len(self.senders), len(self.vocabulary)))
        sizes = np.zeros(len(self.senders))
        row_of = {sender: i for i, sender in enumerate(self.senders)}
        for sender, counts in documents:
            centroids[row_of[sender]] += self._vector(counts)
            sizes[row_of[sender]] += 1
        centroids /= sizes[:, None]
        norms = np.linalg.norm(centroids, axis=1, keepdims=True)
        self.centroids = centroids / np.where(norms > 0, norms, 1)

    def _vector(self, counts: Counter[str]) -> np.ndarray:
        vector = np.zeros(len(self.vocabulary))
        for gram, count in counts.items():
            index = self.vocabulary.get(gram)
            if index is not None:
                vector[index] = count * self.idf[index]
        norm = np.linalg.norm(vector)
        return vector / norm if norm else vector

    def rank(self, text: str) -> list[str]:
        scores = self.centroids @ self._vector(_char3(text))
        order = sorted(range(len(self.senders)), key=lambda i: (-scores[i], self.senders[i]))
        return [self.senders[i] for i in order]


# -- ours -----------------------------------------------------------------------------------


def writings_of(mails: Sequence[Mail]) -> list[Writing]:
    return [
        Writing(item_id=n, text=m.body, created_at=m.created_at, kind="email")
        for n, m in enumerate(mails)
    ]


class OurMatcher:
    """style_profile per sender, StyleMatcher over the profiles."""

    def __init__(self, train: dict[str, list[Mail]]) -> None:
        profiles = {sender: style_profile(writings_of(mails)) for sender, mails in train.items()}
        self.matcher = StyleMatcher.from_profiles(profiles)
        self.senders = sorted(train)

    def rank(self, text: str) -> list[str]:
        return [m.key for m in self.matcher.rank(text, limit=len(self.senders))]


# -- evaluation -----------------------------------------------------------------------------


def wilson(hits: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """95% Wilson score interval of a proportion."""
    if n == 0:
        return (0.0, 0.0)
    p = hits / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return (max(0.0, centre - half), min(1.0, centre + half))


def evaluate(ranker: object, test: dict[str, list[Mail]]) -> dict[str, object]:
    rank = ranker.rank  # type: ignore[attr-defined]
    ranks: list[tuple[str, int]] = []
    started = time.perf_counter()
    for sender, mails in test.items():
        for mail in mails:
            order = rank(mail.body)
            ranks.append((sender, order.index(sender) if sender in order else len(order)))
    seconds = time.perf_counter() - started
    n = len(ranks)
    top1 = sum(1 for _, r in ranks if r == 0)
    top3 = sum(1 for _, r in ranks if r < 3)
    per_sender = {
        sender: sum(1 for s, r in ranks if s == sender and r == 0) / len(mails)
        for sender, mails in test.items()
    }
    return {
        "n": n,
        "top1": top1 / n,
        "top3": top3 / n,
        "top1_ci95": wilson(top1, n),
        "top3_ci95": wilson(top3, n),
        "macro_top1": sum(per_sender.values()) / len(per_sender),
        "per_sender_top1": per_sender,
        "hits": [r == 0 for _, r in ranks],
        "ms_per_text": 1000 * seconds / max(1, n),
    }


def compare(ours: dict[str, object], baseline: dict[str, object]) -> dict[str, float]:
    """Paired counts on the same test texts: where exactly one of the two is right."""
    a = ours["hits"]
    b = baseline["hits"]
    assert isinstance(a, list)
    assert isinstance(b, list)
    ours_only = sum(1 for x, y in zip(a, b, strict=True) if x and not y)
    baseline_only = sum(1 for x, y in zip(a, b, strict=True) if y and not x)
    return {
        "ours_only": ours_only,
        "baseline_only": baseline_only,
        "mcnemar_exact_p": mcnemar_exact(ours_only, baseline_only),
    }


def mcnemar_exact(b: int, c: int) -> float:
    """Two-sided exact McNemar p-value: how likely so lopsided a split of the b + c
    texts where only one method is right, if both were equally good."""
    n = b + c
    if n == 0:
        return 1.0
    tail = sum(math.comb(n, i) for i in range(min(b, c) + 1)) / 2**n
    return min(1.0, 2 * tail)


def chronological_folds(mails: dict[str, list[Mail]], k: int) -> list[Split]:
    """k splits of `mails`: fold i tests each sender's i-th block of time, trains on the rest.

    Senders with fewer than k messages are tested only in the folds their messages fall in.
    """
    splits = []
    for fold in range(k):
        train: dict[str, list[Mail]] = {}
        test: dict[str, list[Mail]] = {}
        for sender, items in mails.items():
            low, high = len(items) * fold // k, len(items) * (fold + 1) // k
            train[sender] = items[:low] + items[high:]
            if items[low:high] and train[sender]:
                test[sender] = items[low:high]
            else:
                train[sender] = items
        splits.append(Split(train, test))
    return splits


def cross_validate(corpus: Path, k: int) -> dict[str, object]:
    """Top-1 of both methods over k chronological folds of train only (test stays unseen)."""
    train = chronological_split(load_mails(corpus), TEST_SHARE).train
    totals = {"ours": [0, 0, 0], "baseline": [0, 0, 0]}  # top-1 hits, top-3 hits, texts
    for split in chronological_folds(train, k):
        rankers = {
            "ours": OurMatcher(split.train),
            "baseline": TfidfCentroids({s: [m.body for m in ms] for s, ms in split.train.items()}),
        }
        for name, ranker in rankers.items():
            result = evaluate(ranker, split.test)
            n = result["n"]
            assert isinstance(n, int)
            totals[name][0] += round(float(result["top1"]) * n)  # type: ignore[arg-type]
            totals[name][1] += round(float(result["top3"]) * n)  # type: ignore[arg-type]
            totals[name][2] += n
    return {
        "part": f"{k}-fold chronological cross-validation within train",
        **{
            name: {"n": n, "top1": top1 / n, "top3": top3 / n}
            for name, (top1, top3, n) in totals.items()
        },
    }


def run(corpus: Path, *, validate: bool) -> dict[str, object]:
    started = time.perf_counter()
    mails = load_mails(corpus)
    split = chronological_split(mails, TEST_SHARE)
    if validate:
        # Tune on the newest part of train; test stays untouched.
        split = chronological_split(split.train, VALIDATION_SHARE)
    loaded = time.perf_counter() - started

    build = time.perf_counter()
    ours = OurMatcher(split.train)
    ours_build = time.perf_counter() - build
    build = time.perf_counter()
    baseline = TfidfCentroids({s: [m.body for m in ms] for s, ms in split.train.items()})
    baseline_build = time.perf_counter() - build

    ours_result = evaluate(ours, split.test)
    baseline_result = evaluate(baseline, split.test)
    return {
        "corpus": str(corpus),
        "part": "validation" if validate else "test",
        "senders": {
            s: {"train": len(split.train[s]), "test": len(split.test[s])} for s in split.train
        },
        "train_messages": sum(len(v) for v in split.train.values()),
        "test_messages": sum(len(v) for v in split.test.values()),
        "ours": {**ours_result, "build_seconds": ours_build},
        "baseline": {**baseline_result, "build_seconds": baseline_build},
        "paired": compare(ours_result, baseline_result),
        "load_seconds": loaded,
        "machine": {
            "python": platform.python_version(),
            "platform": platform.platform(),
            "numpy": np.__version__,
        },
    }


def _table(result: dict[str, object]) -> str:
    lines = [
        f"part: {result['part']}   senders: {len(result['senders'])}   "  # type: ignore[arg-type]
        f"train: {result['train_messages']}   test: {result['test_messages']}",
        "",
        "sender                              train  test",
    ]
    senders = result["senders"]
    assert isinstance(senders, dict)
    for sender, counts in senders.items():
        lines.append(f"{sender:<34} {counts['train']:>6} {counts['test']:>5}")
    lines += [
        "",
        "method     top-1   (95% CI)         top-3   (95% CI)         macro top-1  ms/text",
    ]
    for name in ("ours", "baseline"):
        r = result[name]
        assert isinstance(r, dict)
        lo1, hi1 = r["top1_ci95"]
        lo3, hi3 = r["top3_ci95"]
        lines.append(
            f"{name:<9} {r['top1']:6.3f}  ({lo1:.3f}-{hi1:.3f})  {r['top3']:6.3f}  "
            f"({lo3:.3f}-{hi3:.3f})  {r['macro_top1']:11.3f}  {r['ms_per_text']:7.2f}"
        )
    paired = result["paired"]
    assert isinstance(paired, dict)
    lines.append(
        f"\npaired top-1: ours right and baseline wrong {paired['ours_only']}, "
        f"the other way round {paired['baseline_only']} "
        f"(exact McNemar p = {paired['mcnemar_exact_p']:.3f})"
    )
    return "\n".join(lines)


def main(argv: Iterable[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("corpus", type=Path, help="the enron-berkeley folder")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    parser.add_argument(
        "--validate",
        action="store_true",
        help="report on the validation part of train (for tuning) instead of test",
    )
    parser.add_argument(
        "--cv",
        type=int,
        metavar="K",
        help="report top-1/top-3 over K chronological folds of train instead (tuning)",
    )
    args = parser.parse_args(list(argv) if argv is not None else None)
    if args.cv:
        print(json.dumps(cross_validate(args.corpus, args.cv), indent=2))
        return 0
    result = run(args.corpus, validate=args.validate)
    if args.json:
        for name in ("ours", "baseline"):
            part = result[name]
            assert isinstance(part, dict)
            part.pop("hits")
        print(json.dumps(result, indent=2))
    else:
        print(_table(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

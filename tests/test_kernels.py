"""app/_kernels.pyx: the compiled loops agree with plain numpy, and refuse indices out of range."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app._kernels import char_block, decide

N_COLUMNS = 12


def _table(rows: list[dict[int, int]]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    indptr = np.zeros(len(rows) + 1, np.int64)
    np.cumsum([len(row) for row in rows], out=indptr[1:])
    indices = np.array([c for row in rows for c in row], np.int32)
    data = np.array([v for row in rows for v in row.values()], np.float64)
    return indptr, indices, data


table_rows = st.lists(st.dictionaries(st.integers(0, N_COLUMNS - 1), st.integers(1, 70), max_size=5), max_size=6)


@settings(max_examples=200, deadline=None)
@given(
    vocabulary=table_rows.filter(bool),
    unknown=table_rows,
    texts=st.lists(st.lists(st.integers(0, 20), max_size=8), min_size=1, max_size=5),
    weight=st.floats(0.1, 2.0),
)
def test_char_block_equals_counting_and_weighting_in_python(
    vocabulary: list[dict[int, int]], unknown: list[dict[int, int]], texts: list[list[int]], weight: float
) -> None:
    # token numbers index the vocabulary table first, then the unknown words' table (id -1)
    tokens = [t % (len(vocabulary) + len(unknown)) for text in texts for t in text]
    ids = np.array([t if t < len(vocabulary) else -1 for t in tokens], np.int64)
    unknown_rows = np.array([t - len(vocabulary) if t >= len(vocabulary) else -1 for t in tokens], np.int64)
    starts = np.zeros(len(texts) + 1, np.int64)
    np.cumsum([len(text) for text in texts], out=starts[1:])
    idf = np.linspace(1.0, 3.0, N_COLUMNS)
    slots = np.full(N_COLUMNS, -1, np.int32)

    rows, columns, counts, values, entry_starts, entry_slots, entry_counts = char_block(
        starts, ids, unknown_rows, *_table(vocabulary), *_table(unknown), idf, weight, slots
    )

    assert (slots == -1).all()
    position = 0
    for row, text in enumerate(texts):
        expected: Counter[int] = Counter()
        for _ in text:
            t = tokens[position]
            grams = vocabulary[t] if t < len(vocabulary) else unknown[t - len(vocabulary)]
            expected.update(grams)
            # the token's entries point at its own n-grams in its own text
            mine = slice(entry_starts[position], entry_starts[position + 1])
            assert rows[entry_slots[mine]].tolist() == [row] * len(grams)
            assert dict(zip(columns[entry_slots[mine]].tolist(), entry_counts[mine].tolist(), strict=True)) == grams
            position += 1
        in_row = rows == row
        assert dict(zip(columns[in_row].tolist(), counts[in_row].tolist(), strict=True)) == dict(expected)
        if expected:
            raw = (1 + np.log(counts[in_row])) * idf[columns[in_row]]
            np.testing.assert_allclose(values[in_row], weight * raw / np.linalg.norm(raw), rtol=1e-12)
    assert entry_starts[-1] == len(entry_slots) == len(entry_counts)


def _one_text(ids: list[int], unknown_rows: list[int]) -> dict[str, np.ndarray]:
    return {
        "token_starts": np.array([0, len(ids)], np.int64),
        "ids": np.array(ids, np.int64),
        "unknown_rows": np.array(unknown_rows, np.int64),
    }


@pytest.mark.parametrize(
    ("tokens", "vocabulary", "message"),
    [
        (_one_text([5], [-1]), [{0: 1}], "token id is outside"),
        (_one_text([-1], [3]), [{0: 1}], "no row in the table of unknown words"),
        (_one_text([0, 0], [-1]), [{0: 1}], "do not describe the same tokens"),
        (_one_text([0, 1], [-1, -1]), [{1: 2}, {N_COLUMNS + 4: 1}], "column is outside"),
    ],
)
def test_char_block_refuses_indices_out_of_range_and_leaves_the_scratch_clean(
    tokens: dict[str, np.ndarray], vocabulary: list[dict[int, int]], message: str
) -> None:
    slots = np.full(N_COLUMNS, -1, np.int32)
    with pytest.raises(ValueError, match=message):
        char_block(*tokens.values(), *_table(vocabulary), *_table([]), np.ones(N_COLUMNS), 1.0, slots)
    assert (slots == -1).all()


def test_char_block_refuses_row_pointers_past_the_entries() -> None:
    indptr, indices, data = _table([{0: 1}])
    indptr[1] = 9
    with pytest.raises(ValueError, match="row pointers"):
        char_block(
            *_one_text([0], [-1]).values(), indptr, indices, data, *_table([]), np.ones(N_COLUMNS), 1.0,
            np.full(N_COLUMNS, -1, np.int32),
        )  # fmt: skip


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 3), st.integers(0, 9), st.floats(-2, 2)), max_size=30))
def test_decide_equals_the_dense_product(triples: list[tuple[int, int, float]]) -> None:
    rng = np.random.default_rng(len(triples))
    coef_t, intercept = rng.normal(size=(10, 3)), rng.normal(size=3)
    rows, columns, values = (np.array(column) for column in zip(*triples, strict=True)) if triples else ([],) * 3
    dense = np.zeros((4, 10))
    np.add.at(dense, (np.asarray(rows, np.int64), np.asarray(columns, np.int64)), np.asarray(values, float))
    got = decide(
        np.asarray(rows, np.int64), np.asarray(columns, np.int64), np.asarray(values, float), coef_t, intercept, 4
    )
    np.testing.assert_allclose(got, dense @ coef_t + intercept, atol=1e-12)


@pytest.mark.parametrize(("row", "column"), [(4, 0), (-1, 0), (0, 10), (0, -3)])
def test_decide_refuses_pairs_outside_the_matrix(row: int, column: int) -> None:
    with pytest.raises(ValueError, match="outside"):
        decide(np.array([row], np.int64), np.array([column], np.int64), np.ones(1), np.ones((10, 3)), np.zeros(3), 4)

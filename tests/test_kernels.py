"""app/_kernels.pyx: the compiled loops agree with plain numpy, and refuse indices out of range; and every
compiled module is built from its current source."""

from __future__ import annotations

import importlib
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app._kernels import (
    CharTables,
    EvidenceTally,
    add_decisions,
    char_block,
    evidence_runs,
    flatten_tokens,
    match_phrases,
    occurrence_block,
    positive_runs,
    round4,
    token_spans,
    word_grams,
)

N_COLUMNS = 12


def _int64(*values: int) -> np.ndarray:
    return np.array(values, np.int64)


def _table(rows: list[dict[int, int]]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """CSR arrays, read-only as CharTables wants the vocabulary's."""
    indptr = np.zeros(len(rows) + 1, np.int64)
    np.cumsum([len(row) for row in rows], out=indptr[1:])
    indices = np.array([c for row in rows for c in row], np.int32)
    data = np.array([v for row in rows for v in row.values()], np.float64)
    for array in (indptr, indices, data):
        array.flags.writeable = False
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

    tables = CharTables(starts, ids, unknown_rows, *_table(vocabulary), *_table(unknown))
    rows, columns, counts, values, row_starts = char_block(tables, idf, weight, slots)

    assert (slots == -1).all()
    assert row_starts[-1] == len(rows)
    position = 0
    expected_occurrences = []
    for row, text in enumerate(texts):
        expected: Counter[int] = Counter()
        for place in range(len(text)):
            t = tokens[position]
            grams = vocabulary[t] if t < len(vocabulary) else unknown[t - len(vocabulary)]
            expected.update(grams)
            expected_occurrences += [(row, column, place, count) for column, count in grams.items()]
            position += 1
        in_row = slice(row_starts[row], row_starts[row + 1])
        assert (rows[in_row] == row).all()
        assert dict(zip(columns[in_row].tolist(), counts[in_row].tolist(), strict=True)) == dict(expected)
        if expected:
            raw = (1 + np.log(counts[in_row])) * idf[columns[in_row]]
            np.testing.assert_allclose(values[in_row], weight * raw / np.linalg.norm(raw), rtol=1e-12)

    # Explaining every other text, for two labels: each token scores its n-grams' weights, each times the
    # token's share of its text's value for that n-gram.
    positions = np.array([row // 2 if row % 2 == 0 else -1 for row in range(len(texts))], np.int64)
    explained = [row for row in range(len(texts)) if row % 2 == 0]
    lengths = [len(texts[row]) for row in explained for _ in range(2)]
    token_starts = np.cumsum([0, *lengths]).astype(np.int64)
    weights = np.random.default_rng(len(tokens)).normal(size=(N_COLUMNS + 3, 2))
    tally = EvidenceTally(positions, np.arange(0, 2 * len(explained) + 1, 2), [0, 1] * len(explained), token_starts,
                          weights)  # fmt: skip
    tally.add_chars(tables, columns, counts, values, row_starts, slots, 3)
    assert (slots == -1).all()
    entry = {(r, c): (v, n) for r, c, v, n in zip(rows.tolist(), columns.tolist(), values.tolist(), counts.tolist(),
                                                   strict=True)}  # fmt: skip
    expected = np.zeros(token_starts[-1])
    for row, column, place, count in expected_occurrences:
        if positions[row] >= 0:
            value, total = entry[row, column]
            for label in (0, 1):
                pair = 2 * positions[row] + label
                expected[token_starts[pair] + place] += weights[column + 3, label] * value * count / total
    np.testing.assert_allclose(tally.scores, expected, atol=1e-12)


def test_the_tally_refuses_a_block_of_other_texts_and_leaves_the_scratch_clean() -> None:
    tables = CharTables(np.array([0, 1, 2]), np.array([0, 0]), np.array([-1, -1]), *_table([{1: 2}]), *_table([]))
    slots = np.full(N_COLUMNS, -1, np.int32)
    _, columns, counts, values, row_starts = char_block(tables, np.ones(N_COLUMNS), 1.0, slots)
    tally = EvidenceTally(np.array([0, -1]), [0, 1], [0], [0, 1], np.ones((N_COLUMNS, 1)))
    with pytest.raises(ValueError, match="does not belong"):
        tally.add_chars(tables, columns, counts, values, row_starts[:2], slots, 0)
    with pytest.raises(ValueError, match="another batch"):
        EvidenceTally(np.array([0]), [0, 1], [0], [0, 1], np.ones((N_COLUMNS, 1))).add_chars(
            tables, columns, counts, values, row_starts, slots, 0
        )
    skewed = row_starts.copy()
    skewed[1] = 5  # text 0's entries would run past the end of the block
    with pytest.raises(ValueError, match="outside the character block"):
        tally.add_chars(tables, columns, counts, values, skewed, slots, 0)
    with pytest.raises(ValueError, match="feature or tokens are out of range"):  # column 1 + offset 11 > 11
        tally.add_chars(tables, columns, counts, values, row_starts, slots, N_COLUMNS - 1)
    assert (slots == -1).all()
    assert (tally.scores == 0).all()


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
        char_block(CharTables(*tokens.values(), *_table(vocabulary), *_table([])), np.ones(N_COLUMNS), 1.0, slots)
    assert (slots == -1).all()


def test_char_tables_refuse_row_pointers_past_the_entries_and_a_writable_vocabulary_table() -> None:
    indptr, indices, data = (array.copy() for array in _table([{0: 1}]))
    indptr[1] = 9
    for array in (indptr, indices, data):
        array.flags.writeable = False
    with pytest.raises(ValueError, match="row pointers"):
        CharTables(*_one_text([0], [-1]).values(), indptr, indices, data, *_table([]))
    with pytest.raises(ValueError, match="must be read-only"):
        CharTables(*_one_text([0], [-1]).values(), *(a.copy() for a in _table([{0: 1}])), *_table([]))


@settings(max_examples=100, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 3), st.integers(0, 9), st.floats(-2, 2)), max_size=30),
    st.integers(0, 10),
)
def test_add_decisions_in_blocks_equals_the_dense_product(triples: list[tuple[int, int, float]], split: int) -> None:
    rng = np.random.default_rng(len(triples))
    coef = rng.normal(size=(3, 10))
    weights = coef.T.copy()  # the kernel reads (features x labels)
    rows, columns, values = (np.array(column) for column in zip(*triples, strict=True)) if triples else ([],) * 3
    rows, columns, values = np.asarray(rows, np.int64), np.asarray(columns, np.int64), np.asarray(values, float)
    dense = np.zeros((4, 10))
    np.add.at(dense, (rows, columns), values)
    # Two blocks: features below ``split``, and the rest counted from ``split``.
    decision = np.zeros((4, 3))
    low = columns < split
    add_decisions(decision, rows[low], columns[low], values[low], weights, 0)
    add_decisions(decision, rows[~low], columns[~low] - split, values[~low], weights, split)
    np.testing.assert_allclose(decision, dense @ coef.T, atol=1e-12)
    # the blocks' concatenation, in one block, adds the same terms in the same order: bit for bit
    order = np.argsort(~low, kind="stable")
    in_order = np.zeros((4, 3))
    add_decisions(in_order, rows[order], columns[order], values[order], weights, 0)
    assert np.array_equal(in_order, decision)


@pytest.mark.parametrize(
    ("row", "column", "offset"), [(4, 0, 0), (-1, 0, 0), (0, 10, 0), (0, -3, 0), (0, 5, 5), (0, 0, -1)]
)
def test_add_decisions_refuses_pairs_outside_the_matrix(row: int, column: int, offset: int) -> None:
    decision = np.zeros((4, 3))
    with pytest.raises(ValueError, match="outside"):
        add_decisions(
            decision, np.array([row], np.int64), np.array([column], np.int64), np.ones(1), np.ones((10, 3)), offset
        )
    assert not decision.any()


def test_token_spans_find_each_token_after_the_last_and_refuse_a_missing_one() -> None:
    assert token_spans("no no, not now", ["no", "no", "not", "now"]) == [(0, 2), (3, 5), (7, 10), (11, 14)]
    with pytest.raises(ValueError, match="'cure' is not in the text"):
        token_spans("cure it", ["it", "cure"])


def _evidence_in_numpy(occurrences: list[tuple[int, int, int, int, float, float, float]], labels: list[list[int]],
                       tokens: list[int], coef: np.ndarray) -> np.ndarray:  # fmt: skip
    """The same arithmetic, written as the obvious loops."""
    pairs = [(sentence, label) for sentence, label_list in enumerate(labels) for label in label_list]
    starts = np.cumsum([0] + [tokens[sentence] for sentence, _ in pairs])
    scores = np.zeros(starts[-1])
    for sentence, feature, first, width, count, value, total in occurrences:
        share = value * count / total / width
        for pair, (pair_sentence, label) in enumerate(pairs):
            if pair_sentence == sentence:
                scores[starts[pair] + first : starts[pair] + first + width] += coef[label, feature] * share
    return scores


@settings(max_examples=150, deadline=None)
@given(st.data())
def test_the_tally_equals_the_loops_it_replaces(data: st.DataObject) -> None:
    tokens = data.draw(st.lists(st.integers(1, 6), min_size=1, max_size=4))
    labels = data.draw(st.lists(st.lists(st.integers(0, 2), max_size=3, unique=True), min_size=len(tokens),
                                max_size=len(tokens)))  # fmt: skip
    occurrences = []
    for sentence, count in enumerate(tokens):
        for _ in range(data.draw(st.integers(0, 4))):
            first = data.draw(st.integers(0, count - 1))
            width = data.draw(st.integers(1, count - first))
            feature = data.draw(st.integers(0, 4))
            amounts = [data.draw(st.floats(0.1, 3)) for _ in range(3)]
            occurrences.append((sentence, feature, first, width, *amounts))
    coef = np.random.default_rng(len(occurrences)).normal(size=(3, 7))
    pair_starts = np.cumsum([0] + [len(label_list) for label_list in labels])
    pair_labels = [label for label_list in labels for label in label_list]
    pair_tokens = [tokens[s] for s, label_list in enumerate(labels) for _ in label_list]
    token_starts = np.cumsum([0, *pair_tokens]).astype(np.int64)
    # Batch rows are numbered backwards, with an unexplained row 0 whose occurrences are skipped.
    positions = np.array([-1, *range(len(tokens) - 1, -1, -1)], np.int64)
    columns = [list(column) for column in zip(*occurrences, strict=True)] if occurrences else [[]] * 7
    rows = [len(tokens) - sentence for sentence in columns[0]]
    tally = EvidenceTally(positions, pair_starts, pair_labels, token_starts, coef.T.copy())
    skipped = ([0], [6], [0], [1], [1.0], [1.0], [1.0])  # feature 6 is 4 + the offset 2: in range, but row 0
    for batch in (skipped, (rows, [f - 2 for f in columns[1]], *columns[2:])):  # features given less the offset
        ints, floats = (np.asarray(c, np.int64) for c in batch[:4]), (np.asarray(c, np.float64) for c in batch[4:])
        tally.add(*ints, *floats, 2)
    np.testing.assert_allclose(tally.scores, _evidence_in_numpy(occurrences, labels, tokens, coef), atol=1e-12)


def test_the_tally_refuses_an_occurrence_past_its_sentence_or_outside_the_batch() -> None:
    ints = _int64
    # one sentence of 3 tokens with one label
    tally = EvidenceTally(ints(0), ints(0, 1), ints(0), ints(0, 3), np.ones((1, 1)))
    one = np.ones(1)
    with pytest.raises(ValueError, match="past the end"):  # tokens 2 and 3
        tally.add(ints(0), ints(0), ints(2), ints(2), one, one, one, 0)
    with pytest.raises(ValueError, match="outside the batch"):
        tally.add(ints(1), ints(0), ints(0), ints(1), one, one, one, 0)
    with pytest.raises(ValueError, match="out of range"):
        tally.add(ints(0), ints(0), ints(0), ints(1), one, one, one, 1)
    with pytest.raises(ValueError, match="label or token range"):
        EvidenceTally(ints(0), ints(0, 1), ints(1), ints(0, 3), np.ones((1, 1)))
    with pytest.raises(ValueError, match="not an explained text"):
        EvidenceTally(ints(1), ints(0, 1), ints(0), ints(0, 3), np.ones((1, 1)))


@settings(max_examples=200, deadline=None)
@given(st.lists(st.lists(st.floats(-1, 1, allow_subnormal=False), max_size=8), max_size=5))
def test_positive_runs_are_the_maximal_runs_above_the_floor(slices: list[list[float]]) -> None:
    scores = np.array([value for values in slices for value in values], np.float64)
    starts = np.cumsum([0] + [len(values) for values in slices]).astype(np.int64)
    run_pairs, firsts, lasts, sums, best, best_token = positive_runs(scores, starts, 0.2)
    for pair, values in enumerate(slices):
        if not values:
            assert best_token[pair] == -1
            continue
        assert best[pair] == max(values)
        assert best_token[pair] == values.index(max(values))
        above = [max(values) > 0 and value >= max(values) * 0.2 for value in values]
        expected = []
        for token, inside in enumerate(above):
            if inside and (token == 0 or not above[token - 1]):
                last = token
                while last + 1 < len(values) and above[last + 1]:
                    last += 1
                expected.append((token, last, sum(values[token : last + 1])))
        mine = run_pairs == pair
        got = list(zip(firsts[mine].tolist(), lasts[mine].tolist(), sums[mine].tolist(), strict=True))
        assert [(f, last) for f, last, _ in got] == [(f, last) for f, last, _ in expected]
        np.testing.assert_allclose([total for *_, total in got], [total for *_, total in expected], atol=1e-12)


def test_match_phrases_tries_phrases_in_lexicon_order_within_the_text() -> None:
    tokens = ["no", "side", "effects", "no", "side"]
    # "no" starts: (0) "no" alone, cue 7; (1) "no side effects", cue 3; (2) "no side*", cue 5
    starts = ([(0, 7, ())], {"side": [(1, 3, (("side", False), ("effects", False)))]}, [(2, 5, (("si", True),))])
    by_id: list[object] = [starts, (), ()]  # the vocabulary: no, side, effects
    ids, no_unknowns = _int64(0, 1, 2, 0, 1), _int64(-1, -1, -1, -1, -1)
    one_text = _int64(5, 4, 3, 2, 1)
    found = match_phrases(tokens, _int64(0, 3), one_text, ids, no_unknowns, by_id, [])
    assert found == ([0, 0, 0, 3, 3], [7, 3, 5, 7, 5], [1, 3, 2, 4, 5])
    # the text of the second "no" ends before "side": only the one-word phrase fits
    two_texts = _int64(4, 3, 2, 1, 1)
    assert match_phrases(tokens, _int64(3), two_texts, ids, no_unknowns, by_id, []) == ([3], [7], [4])
    # a word outside the vocabulary reads its entry from the unknown words instead
    unknown_no = _int64(-1, 1, 2, 0, 1), _int64(0, -1, -1, -1, -1)
    assert match_phrases(tokens, _int64(0), one_text, *unknown_no, [(), (), ()], [starts]) == (
        [0, 0, 0],
        [7, 3, 5],
        [1, 3, 2],
    )
    assert match_phrases(tokens, _int64(1), one_text, ids, no_unknowns, by_id, []) == ([], [], [])  # starts nothing
    with pytest.raises(ValueError, match="outside the tokens"):
        match_phrases(tokens, _int64(5), one_text, ids, no_unknowns, by_id, [])
    with pytest.raises(ValueError, match="outside the tokens"):  # a text running past the last token
        match_phrases(tokens, _int64(3), _int64(5, 4, 3, 3, 1), ids, no_unknowns, by_id, [])
    with pytest.raises(ValueError, match="outside the tables"):
        match_phrases(tokens, _int64(0), one_text, _int64(3, 1, 2, 0, 1), no_unknowns, by_id, [])
    with pytest.raises(ValueError, match="outside the tables"):
        match_phrases(tokens, _int64(0), one_text, *unknown_no, by_id, [])
    with pytest.raises(ValueError, match="one entry per token"):
        match_phrases(tokens, _int64(0), _int64(5, 4, 3, 2), ids, no_unknowns, by_id, [])


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 3), st.integers(0, N_COLUMNS - 1)), max_size=40), st.floats(0.1, 2.0))
def test_occurrence_block_counts_and_weights_occurrences_in_any_order(
    occurrences: list[tuple[int, int]], weight: float
) -> None:
    rows = np.array([row for row, _ in occurrences], np.int64)
    features = np.array([feature for _, feature in occurrences], np.int64)
    idf = np.linspace(1.0, 2.0, N_COLUMNS)
    slots = np.full(N_COLUMNS, -1, np.int32)
    out_rows, columns, counts, values, inverse = occurrence_block(rows, features, 4, idf, weight, slots)
    assert (slots == -1).all()
    assert list(out_rows) == sorted(out_rows)
    expected = Counter(occurrences)
    assert dict(zip(zip(out_rows.tolist(), columns.tolist(), strict=True), counts.tolist(), strict=True)) == expected
    assert [(out_rows[e], columns[e]) for e in inverse] == occurrences  # each occurrence's own entry
    for row in set(rows.tolist()):
        mine = out_rows == row
        raw = (1 + np.log(counts[mine])) * idf[columns[mine]]
        np.testing.assert_allclose(values[mine], weight * raw / np.linalg.norm(raw), rtol=1e-12)


@pytest.mark.parametrize(("row", "feature"), [(4, 0), (-1, 0), (0, N_COLUMNS), (0, -1)])
def test_occurrence_block_refuses_rows_and_features_out_of_range(row: int, feature: int) -> None:
    slots = np.full(N_COLUMNS, -1, np.int32)
    with pytest.raises(ValueError, match="out of range"):
        occurrence_block(
            np.array([0, row], np.int64), np.array([1, feature], np.int64), 4, np.ones(N_COLUMNS), 1.0, slots
        )
    assert (slots == -1).all()


def test_flatten_tokens_numbers_every_token_and_its_text() -> None:
    ids = {"cure": 1, "may": 0, "pain": 2}
    kind_by_id = np.array([1, 0, 0], np.int8)
    tokens, token_ids, rows, remaining, starts, lengths, unknown, unknown_rows, kinds = flatten_tokens(
        [["may", "cure", "zzz"], [], ["nor", "zzz", "pain"]], ids, kind_by_id, {"nor": 2}
    )
    assert tokens == ["may", "cure", "zzz", "nor", "zzz", "pain"]
    assert token_ids.tolist() == [0, 1, -1, -1, -1, 2]
    assert rows.tolist() == [0, 0, 0, 2, 2, 2]
    assert remaining.tolist() == [3, 2, 1, 3, 2, 1]
    assert (starts.tolist(), lengths.tolist()) == ([0, 3, 3, 6], [3, 0, 3])
    assert (unknown, unknown_rows.tolist()) == (["zzz", "nor"], [-1, -1, 0, 1, 0, -1])
    assert kinds.tolist() == [1, 0, 0, 2, 0, 0]  # "may" by its id, "nor" by name: it is outside the vocabulary


def test_flatten_tokens_refuses_an_id_outside_the_kind_table() -> None:
    with pytest.raises(ValueError, match="outside the table"):
        flatten_tokens([["cure"]], {"cure": 3}, np.zeros(3, np.int8), {})


def _gram_tables(size: int, grams: dict[tuple[int, ...], int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sorted keys per n (2 and 3), concatenated, and where each first id's run starts."""
    keys, features, first_starts = [], [], np.zeros((2, size + 1), np.int64)
    for n in (2, 3):
        ordered = sorted((sum(i * size ** (n - 1 - k) for k, i in enumerate(g)), g[0], f) for g, f in grams.items()
                         if len(g) == n)  # fmt: skip
        first_starts[n - 2] = len(keys) + np.searchsorted([first for _, first, _ in ordered], np.arange(size + 1))
        keys += [key for key, _, _ in ordered]
        features += [feature for _, _, feature in ordered]
    return np.array(keys, np.int64), np.array(features, np.int64), first_starts


def test_word_grams_come_out_text_by_text_unigrams_then_longer_grams_then_scope() -> None:
    # ids: 0 "may", 1 "ease", 2 "pain", 3 "fast"; features: unigrams 10+id, grams 20.., scope 30+id
    keys, features, first_starts = _gram_tables(4, {(1, 2): 20, (0, 1): 21, (0, 1, 2): 22, (2, 3): 23})
    hedge = np.array([-1, 31, 32, -1], np.int64)
    ids = np.array([0, 1, 2, -1, 3, 2, 3], np.int64)
    kinds = np.array([1, 0, 0, 0, 0, 0, 0], np.int8)
    rows, found, firsts, widths = word_grams(
        ids, np.array([0, 5, 7], np.int64), kinds, np.arange(10, 14, dtype=np.int64), keys, features, first_starts,
        hedge, np.full(4, -1, np.int64), 4,
    )  # fmt: skip
    assert list(zip(rows.tolist(), found.tolist(), firsts.tolist(), widths.tolist(), strict=True)) == [
        *[(0, 10, 0, 1), (0, 11, 1, 1), (0, 12, 2, 1), (0, 13, 4, 1)],  # unigrams; the unknown token has none
        *[(0, 21, 0, 2), (0, 20, 1, 2), (0, 22, 0, 3)],  # 2-grams, then 3-grams; none across the unknown token
        *[(0, 31, 1, 1), (0, 32, 2, 1)],  # "may" scopes the next four tokens: "fast" has no scope feature
        *[(1, 12, 0, 1), (1, 13, 1, 1), (1, 23, 0, 2)],  # the second text's grams start at its own first token
    ]


def _ranked_in_python(slices: list[list[float]], floor: float, max_runs: int, keep: float) -> list[list[tuple]]:
    """What evidence_runs replaced: positive_runs' runs sorted by (pair, rounded weight, position) in Python."""
    scores = np.array([value for values in slices for value in values], np.float64)
    starts = np.cumsum([0] + [len(values) for values in slices]).astype(np.int64)
    run_pairs, firsts, lasts, sums, best, best_token = positive_runs(scores, starts, floor)
    result: list[list[tuple]] = [[] for _ in slices]
    rounded = [-round(total, 4) for total in sums.tolist()]
    ranked = sorted(zip(run_pairs.tolist(), rounded, firsts.tolist(), lasts.tolist(), strict=True))
    for pair, negated, first, last in ranked:
        kept = result[pair]
        if len(kept) < max_runs and -negated >= (kept[0][2] if kept else -negated) * keep:
            kept.append((first, last, -negated))
    for pair in np.flatnonzero((best <= 0) & (best_token >= 0)).tolist():
        token = int(best_token[pair])
        result[pair] = [(token, token, float(best[pair]))]
    return result


# Scores on a coarse grid make equal rounded weights, so the tie-break on position is exercised.
_SCORES = st.one_of(st.floats(-1, 1, allow_subnormal=False), st.integers(-8, 40).map(lambda k: k / 80))


@settings(max_examples=300, deadline=None)
@given(st.lists(st.lists(_SCORES, max_size=12), max_size=6), st.integers(0, 4), st.sampled_from([0.0, 0.25, 0.9]))
def test_evidence_runs_rank_as_sorting_the_rounded_runs_did(
    slices: list[list[float]], max_runs: int, keep: float
) -> None:
    scores = np.array([value for values in slices for value in values], np.float64)
    starts = np.cumsum([0] + [len(values) for values in slices]).astype(np.int64)
    got = evidence_runs(scores, starts, 0.2, max_runs, keep)
    assert got == _ranked_in_python(slices, 0.2, max_runs, keep)
    for kept in got:
        assert [type(value) for run in kept for value in run] == [int, int, float] * len(kept)


def test_evidence_runs_keep_the_strongest_first_and_refuse_a_negative_limit() -> None:
    # pair 0: runs (0..1) = 1.5 and (3) = 2.0; pair 1 has no positive token; pair 2 is empty
    scores = np.array([1.0, 0.5, 0.0, 2.0, -0.5, -0.25], np.float64)
    starts = np.array([0, 4, 6, 6], np.int64)
    assert evidence_runs(scores, starts, 0.2, 3, 0.25) == [[(3, 3, 2.0), (0, 1, 1.5)], [(1, 1, -0.25)], []]
    assert evidence_runs(scores, starts, 0.2, 1, 0.25)[0] == [(3, 3, 2.0)]
    assert evidence_runs(scores, starts, 0.2, 3, 0.8)[0] == [(3, 3, 2.0)]  # 1.5 < 0.8 * 2.0
    with pytest.raises(ValueError, match="max_runs"):
        evidence_runs(scores, starts, 0.2, -1, 0.25)


@settings(max_examples=2000, deadline=None)
@given(
    st.one_of(
        st.floats(allow_nan=False),
        # within a few units in the last place of a half: where rounding the scaled value could go wrong
        st.tuples(st.integers(-(10**8), 10**8), st.sampled_from([-np.inf, 0.0, np.inf])).map(
            lambda pair: float(np.nextafter((pair[0] + 0.5) / 10000, pair[1])) if pair[1] else (pair[0] + 0.5) / 10000
        ),
    )
)
def test_round4_is_pythons_round(value: float) -> None:
    expected = round(value, 4)
    got = round4(value)
    assert got == expected and np.signbit(got) == np.signbit(expected)


def test_word_grams_refuse_ids_and_key_runs_outside_their_tables() -> None:
    keys, features, first_starts = _gram_tables(4, {(1, 2): 20})
    tables = (np.arange(4, dtype=np.int64), keys, features)
    scope = (np.full(4, -1, np.int64), np.full(4, -1, np.int64), 4)
    starts, kinds = np.array([0, 2], np.int64), np.zeros(2, np.int8)
    with pytest.raises(ValueError, match="outside the vocabulary"):
        word_grams(np.array([1, 4], np.int64), starts, kinds, *tables, first_starts, *scope)
    first_starts[0, 2] = 5  # past the one key
    with pytest.raises(ValueError, match="outside the key table"):
        word_grams(np.array([1, 2], np.int64), starts, kinds, *tables, first_starts, *scope)


@pytest.mark.parametrize("module", ["app._kernels", "app._splitter"])
def test_the_compiled_modules_are_built_from_the_current_source(module: str) -> None:
    compiled = Path(importlib.import_module(module).__file__ or "")
    source = compiled.parent / (module.rsplit(".", 1)[1] + ".pyx")
    if not source.exists():
        pytest.skip("installed from a wheel: no source beside the module")
    assert compiled.stat().st_mtime >= source.stat().st_mtime, (
        f"{source.name} changed after the module was built: run `make install` (or pip install -e .)"
    )

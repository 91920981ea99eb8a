"""app/gramindex.py: integer gram lookups agree with the string grams that fitting counts."""

from __future__ import annotations

from collections import Counter

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from app.features import _word_grams, build_vectorizer
from app.gramindex import GramIndex, char_grams

CORPUS = [
    "Our drops may not cure tinnitus in days.",
    "Our drops may help some people with tinnitus.",
    "No side effects, no downtime, no risk.",
    "Side effects include nausea and headache.",
    "It could possibly ease pain in days for some people.",
] * 2
WORDS = [*sorted({w for text in CORPUS for w in text.lower().replace(",", "").replace(".", "").split()}), "zzz"]


def _index() -> tuple[GramIndex, dict[str, int]]:
    vectorizer = build_vectorizer().fit(CORPUS)
    return vectorizer.index, vectorizer.word_vocabulary_


@settings(max_examples=150, deadline=None)
@given(st.lists(st.lists(st.sampled_from(WORDS), max_size=12), min_size=1, max_size=5))
def test_word_occurrences_equal_the_string_grams_found_in_the_vocabulary(token_lists: list[list[str]]) -> None:
    index, vocabulary = _index()
    found = index.word_occurrences(index.batch(token_lists), scope=True)
    got = Counter(zip(found.rows.tolist(), found.features.tolist(), strict=True))
    expected: Counter[tuple[int, int]] = Counter()
    for row, tokens in enumerate(token_lists):
        for gram in _word_grams(tokens, 3, scope=True):
            if gram in vocabulary:
                expected[(row, vocabulary[gram])] += 1
    assert got == expected
    # every occurrence points at tokens inside its own text
    lengths = np.array([len(tokens) for tokens in token_lists])
    assert (found.firsts + found.widths <= lengths[found.rows]).all()


def test_scope_grams_stop_at_the_end_of_their_text() -> None:
    index, vocabulary = _index()
    found = index.word_occurrences(index.batch([["drops", "may"], ["help", "some"]]), scope=True)
    scoped = {name for name, i in vocabulary.items() if name.startswith(("h:", "n:"))}
    assert not {i for i in found.features.tolist() if i in {vocabulary[s] for s in scoped}}


def test_char_counts_equal_counting_each_tokens_char_grams() -> None:
    index, _ = _index()
    token_lists = [["drops", "drops", "tinnitusz"], [], ["headache", "x" * 40]]
    counts = index.char_counts(index.batch(token_lists)).toarray()
    for row, tokens in enumerate(token_lists):
        expected = Counter(
            index.char_vocabulary[g] for t in tokens for g in char_grams(t, (3, 5)) if g in index.char_vocabulary
        )
        assert {col: int(counts[row, col]) for col in np.flatnonzero(counts[row])} == dict(expected)


def test_char_occurrences_cover_only_the_wanted_texts() -> None:
    index, _ = _index()
    batch = index.batch([["drops"], ["nausea", "tinnitusz"]])
    rows, columns, positions, counts = index.char_occurrences(batch, np.array([False, True]))
    assert set(rows.tolist()) == {1}
    assert set(positions.tolist()) == {0, 1}  # the unknown word still has known character n-grams
    assert counts.sum() == sum(
        1 for t in ("nausea", "tinnitusz") for g in char_grams(t, (3, 5)) if g in index.char_vocabulary
    )
    assert len(columns) == len(rows)

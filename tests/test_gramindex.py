"""app/gramindex.py: integer gram lookups agree with the string grams that fitting counts."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app._kernels import EvidenceTally
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


def test_char_features_equal_counting_each_tokens_char_grams() -> None:
    vectorizer = build_vectorizer().fit(CORPUS)
    index = vectorizer.index
    token_lists = [["drops", "drops", "tinnitusz"], [], ["headache", "x" * 40]]
    chars = index.char_features(index.batch(token_lists), vectorizer.char_idf_, 0.5)
    for row, tokens in enumerate(token_lists):
        expected = Counter(
            index.char_vocabulary[g] for t in tokens for g in char_grams(t, (3, 5)) if g in index.char_vocabulary
        )
        mine = chars.rows == row
        assert dict(zip(chars.columns[mine].tolist(), chars.counts[mine].tolist(), strict=True)) == expected
        if expected:  # sublinear TF-IDF, scaled to the block's weight
            raw = (1 + np.log(chars.counts[mine])) * vectorizer.char_idf_[chars.columns[mine]]
            np.testing.assert_allclose(chars.values[mine], 0.5 * raw / np.linalg.norm(raw))
    assert len(set(zip(chars.rows.tolist(), chars.columns.tolist(), strict=True))) == len(chars.rows)


def test_char_evidence_covers_only_the_explained_texts_and_spreads_each_value_over_its_tokens() -> None:
    vectorizer = build_vectorizer().fit(CORPUS)
    index = vectorizer.index
    batch = index.batch([["drops"], ["nausea", "tinnitusz"]])
    chars = index.char_features(batch, vectorizer.char_idf_, 1.0)
    weights = np.ones((len(index.char_vocabulary), 1))
    tally = EvidenceTally(np.array([-1, 0]), [0, 1], [0], [0, 2], weights)  # explain row 1 only, one label
    chars.add_evidence(tally, 0)
    # Each token gets its n-grams' shares of their values in the text: the unknown word has known n-grams too,
    # and the shares add up to each n-gram's value.
    assert (tally.scores > 0).all()
    assert tally.scores.sum() == pytest.approx(chars.values[chars.rows == 1].sum())
    nausea = Counter(index.char_vocabulary[g] for g in char_grams("nausea", (3, 5)) if g in index.char_vocabulary)
    mine = chars.rows == 1
    value_of = dict(zip(chars.columns[mine].tolist(), chars.values[mine].tolist(), strict=True))
    total_of = dict(zip(chars.columns[mine].tolist(), chars.counts[mine].tolist(), strict=True))
    assert tally.scores[0] == pytest.approx(sum(value_of[c] * n / total_of[c] for c, n in nausea.items()))

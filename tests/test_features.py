"""app/features.py: one analysis for training and serving, picklable, traceable to tokens."""

from __future__ import annotations

import pickle
import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app._kernels import find_tokens, token_spans
from app.features import (
    FeatureConfig,
    _normalise,
    _PackedVocabulary,
    _token_lists,
    _tokens,
    build_vectorizer,
    tokenize,
)

CORPUS = [
    "Our drops cure tinnitus in days.",
    "Our drops may help some people with tinnitus.",
    "Completely safe, with no side effects.",
    "Side effects include nausea and headache.",
    "FDA approved and HIPAA compliant.",
    "This use is not FDA approved.",
    "Studies show 9 out of 10 users sleep better.",
    "Book a free consultation today.",
] * 2

# What a token is, as a regular expression: find_tokens must find exactly what it finds.
TOKEN_PATTERN = re.compile(r"[^\W_]+(?:['\u2019][^\W_]+)*|[%#$]")
# Letters, digits and marks of many scripts, the characters that join or split tokens, and spaces.
token_text = st.text(
    alphabet=st.one_of(
        st.characters(codec="utf-8"),
        st.sampled_from("'\u2019%#$_-. 0a\u0301\u00b2\u2167\u0663"),
    ),
    max_size=60,
)


@settings(max_examples=1000, deadline=None)
@given(token_text, st.data())
def test_find_tokens_finds_what_the_token_pattern_finds(text: str, data: st.DataObject) -> None:
    assert find_tokens(text, 0, len(text)) == TOKEN_PATTERN.findall(text)
    start = data.draw(st.integers(0, len(text)))
    end = data.draw(st.integers(start, len(text)))
    assert find_tokens(text, start, end) == TOKEN_PATTERN.findall(text, start, end)


def test_find_tokens_refuses_offsets_outside_the_text() -> None:
    with pytest.raises(ValueError, match="offsets into the text"):
        find_tokens("cure", 2, 5)


def test_tokenize_keeps_exact_spans_and_folds_digits() -> None:
    text = "Take 2.5 mg \u2013 it\u2019s 100% SAFE"
    tokens, spans = tokenize(text)
    assert tokens == ["take", "0", "0", "mg", "it's", "000", "%", "safe"]
    assert [text[a:b] for a, b in spans] == ["Take", "2", "5", "mg", "it\u2019s", "100", "%", "SAFE"]


def test_tokenize_handles_case_folding_that_changes_length() -> None:
    text = "\u0130stanbul clinic"  # lower() turns the dotted capital I into two code points
    tokens, spans = tokenize(text)
    assert [text[a:b] for a, b in spans] == ["\u0130stanbul", "clinic"]
    assert tokens[1] == "clinic"


def test_transform_is_deterministic_and_row_per_text() -> None:
    vectorizer = build_vectorizer().fit(CORPUS)
    first = vectorizer.transform(CORPUS[:8])
    second = vectorizer.transform(CORPUS[:8])
    assert first.shape == (8, vectorizer.n_features)
    assert (first != second).nnz == 0
    assert len(vectorizer.get_feature_names_out()) == vectorizer.n_features


def test_cues_fire_on_the_phrases_they_list() -> None:
    vectorizer = build_vectorizer().fit(CORPUS)
    assert {"cure", "disease", "speed"} <= vectorizer.fired_cues("Our drops cure tinnitus in days.")
    assert "non_approval" in vectorizer.fired_cues("This use is not FDA approved.")
    assert "regulatory_status" in vectorizer.fired_cues("FDA approved and HIPAA compliant.")
    assert "regulatory_status" not in vectorizer.fired_cues("This use is not FDA approved.")
    assert "shape:fragment" in vectorizer.fired_cues("Zero Side Effects")


def test_token_scores_add_up_to_each_labels_share_of_the_decision() -> None:
    """Every feature's value is spread over the tokens that produced it, so a sentence's token
    scores for a label sum to x . w for that label (no feature here fires without tokens: every
    sentence ends in a full stop, so the fragment cue stays silent)."""
    vectorizer = build_vectorizer().fit(CORPUS)
    texts = [text for text in CORPUS[:12] if text.rstrip().endswith(".")]
    weights = np.random.default_rng(0).normal(size=(vectorizer.n_features, 3))
    labels = [[0, 2], [1], *[[0, 1, 2]] * (len(texts) - 2)]
    spans, scores, token_starts = vectorizer.token_scores(texts, labels, weights)
    expected = vectorizer.transform(texts) @ weights
    pair = 0
    for row, (text, label_list) in enumerate(zip(texts, labels, strict=True)):
        assert spans[row] == tokenize(text)[1]
        for label in label_list:
            assert token_starts[pair + 1] - token_starts[pair] == len(spans[row])
            assert scores[token_starts[pair] : token_starts[pair + 1]].sum() == pytest.approx(expected[row, label])
            pair += 1
    assert pair == len(token_starts) - 1


def test_pickle_round_trip_gives_identical_features() -> None:
    vectorizer = build_vectorizer().fit(CORPUS)
    vectorizer.transform(CORPUS)  # builds the lookup tables, which must not be pickled
    assert vectorizer._index is not None
    state = vectorizer.__getstate__()
    assert isinstance(state["word_vocabulary_"], _PackedVocabulary)  # one string, not a dict of grams
    restored = pickle.loads(pickle.dumps(vectorizer))
    assert restored._index is None and restored._cue_matcher is None
    assert restored.word_vocabulary_ == vectorizer.word_vocabulary_
    assert restored.char_vocabulary_ == vectorizer.char_vocabulary_
    np.testing.assert_array_equal(restored.transform(CORPUS).toarray(), vectorizer.transform(CORPUS).toarray())


def test_feature_blocks_can_be_switched_off() -> None:
    words_only = build_vectorizer(FeatureConfig(use_chars=False, use_cues=False, scope_features=False)).fit(CORPUS)
    full = build_vectorizer().fit(CORPUS)
    assert words_only.n_features < full.n_features
    assert all(name.startswith("w:") for name in words_only.get_feature_names_out())


def test_a_megabyte_without_spaces_is_one_token_without_char_ngrams() -> None:
    vectorizer = build_vectorizer().fit(CORPUS)
    row = vectorizer.transform(["x" * 1_000_000])
    names = vectorizer.get_feature_names_out()
    assert not any(names[i].startswith("c:") for i in row.indices)


def test_an_artifact_without_stored_conjunctions_still_derives_them() -> None:
    vectorizer = build_vectorizer().fit(CORPUS)
    state = vectorizer.__getstate__()
    del state["_conjunctions"]  # as pickled before conjunctions were kept with the model
    restored = build_vectorizer().__new__(type(vectorizer))
    restored.__setstate__(state)
    np.testing.assert_array_equal(restored.transform(CORPUS).toarray(), vectorizer.transform(CORPUS).toarray())
    assert "disease_claim" in restored.fired_cues("Our drops treat tinnitus.")


@settings(max_examples=300, deadline=None)
@given(st.lists(st.text(alphabet=st.characters(codec="utf-8"), max_size=40), max_size=6))
def test_batch_tokenising_and_spans_equal_the_per_text_pattern(texts: list[str]) -> None:
    token_lists, normalised_texts = _token_lists(texts)
    assert token_lists == [_tokens(text) for text in texts]
    for text, normalised_in_batch in zip(texts, normalised_texts, strict=True):
        normalised = _normalise(text)
        if len(normalised) == len(text):
            assert normalised_in_batch == normalised
            assert token_spans(normalised, _tokens(text)) == [m.span() for m in TOKEN_PATTERN.finditer(normalised)]
        else:
            assert normalised_in_batch is None

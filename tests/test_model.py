"""app/model.py with the committed model: calibrated scores, and evidence that is faithful."""

from __future__ import annotations

import pickle

import numpy as np

from app.artifacts import LoadedModel
from app.model import ClaimModel
from app.taxonomy import LABEL_IDS
from training.data import data_files, load_corpus, split_by_group


def _held_out(loaded: LoadedModel) -> list[str]:
    examples = load_corpus(data_files())
    _, test = split_by_group(examples, int(loaded.manifest["seed"]))
    return [examples[i].text for i in test]


def test_probabilities_are_monotone_in_the_decision_value(loaded: LoadedModel) -> None:
    model = loaded.model
    texts = ["Our cream cures eczema overnight.", "Open Monday to Friday.", "Studies prove it works."]
    decisions = model.decision_function(texts)
    probabilities = model.predict_proba(texts)
    assert probabilities.shape == (3, len(LABEL_IDS))
    assert ((probabilities > 0) & (probabilities < 1)).all()
    order = np.argsort(decisions, axis=0)
    assert (np.diff(np.take_along_axis(probabilities, order, axis=0), axis=0) >= 0).all()


def test_coefficients_are_kept_feature_major_without_a_second_copy(loaded: LoadedModel) -> None:
    rng = np.random.default_rng(0)
    given = rng.normal(size=(len(LABEL_IDS), 7))  # row-major (labels x features), as training writes it
    model = loaded.model
    built = ClaimModel(model.labels, model.vectorizer, given, model.intercept, model.calibration, model.thresholds)
    for candidate in (model, built, pickle.loads(pickle.dumps(built))):
        assert candidate.weights.flags.c_contiguous  # (features x labels): one feature's weights side by side
        assert np.shares_memory(candidate.weights, candidate.coef)  # a view, not a copy
    np.testing.assert_array_equal(built.coef, given)


def test_evidence_spans_are_token_aligned_and_inside_the_sentence(loaded: LoadedModel) -> None:
    sentence = "This breakthrough serum erases wrinkles in 7 days and is 100% safe."
    labels = [LABEL_IDS.index("overstated_efficacy"), LABEL_IDS.index("missing_risk_disclosure")]
    (evidence,) = loaded.model.explain([sentence], [labels])
    assert len(evidence) == 2
    for spans in evidence:
        assert 1 <= len(spans) <= 3
        assert all(0 <= s.start < s.end <= len(sentence) for s in spans)
        assert spans == sorted(spans, key=lambda s: -s.weight)
    assert any("safe" in sentence[s.start : s.end] for s in evidence[1])


def test_deleting_evidence_lowers_the_score_for_most_flags(loaded: LoadedModel) -> None:
    """Faithfulness on the held-out test set: at least 80% of flags lose score without their evidence."""
    model = loaded.model
    texts = _held_out(loaded)
    probabilities = model.predict_proba(texts)
    flagged = probabilities >= model.thresholds
    rows = [row for row in range(len(texts)) if flagged[row].any()]
    labels = [np.flatnonzero(flagged[row]).tolist() for row in rows]
    explained = model.explain([texts[row] for row in rows], labels)
    lowered = total = 0
    for row, label_indices, evidence in zip(rows, labels, explained, strict=True):
        text = texts[row]
        for label, spans in zip(label_indices, evidence, strict=True):
            pieces, cursor = [], 0
            for span in sorted(spans, key=lambda s: s.start):
                pieces.append(text[cursor : span.start])
                cursor = span.end
            pieces.append(text[cursor:])
            reduced = " ".join(p.strip() for p in pieces if p.strip())
            total += 1
            lowered += model.predict_proba([reduced])[0, label] < probabilities[row, label]
    assert total > 200
    assert lowered / total >= 0.8, f"only {lowered}/{total} flags lost score without their evidence"


def test_sentences_whose_lower_casing_changes_length_are_explained_from_their_own_tokens(
    loaded: LoadedModel,
) -> None:
    # lower() turns the dotted capital I into two code points; these sentences once recursed without end.
    sentences = ["\u0130stanbul clinic: our drops CURE tinnitus in days.", "FDA approved in \u0130zmir."]
    labels = [[LABEL_IDS.index("overstated_efficacy")], [LABEL_IDS.index("regulatory_claim")]]
    evidence = loaded.model.explain(sentences, labels)
    for sentence, (spans,) in zip(sentences, evidence, strict=True):
        assert spans
        assert all(0 <= s.start < s.end <= len(sentence) for s in spans)
    assert any("CURE" in sentences[0][s.start : s.end] for s in evidence[0][0])
    assert any("FDA" in sentences[1][s.start : s.end] for s in evidence[1][0])

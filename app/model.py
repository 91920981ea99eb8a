"""The fitted classifier: a linear model per label over :mod:`app.features`, with Platt
calibration and a tuned threshold per label, and the evidence arithmetic.

A label's decision value for a sentence is ``x . w + b``; its calibrated probability is
``sigmoid(a * (x . w + b) + c)``, monotone in the decision value, so the features that
push the decision value up are exactly the ones that push the probability up. Evidence is
those contributions (``x_f * w_f``) spread over the tokens that produced each feature,
then read off as the runs of tokens that raise the score most.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np
import scipy.sparse as sp

from app.features import Analysis, ClaimVectorizer

__all__ = ["ClaimModel", "EvidenceSpan", "SentenceFeatures"]

_MAX_EVIDENCE = 3
_RUN_FLOOR = 0.2  # a token joins an evidence run when it carries 20% of the strongest token's weight


@dataclass(frozen=True, slots=True)
class EvidenceSpan:
    """A phrase of the sentence, as code-point offsets into it, and its summed contribution."""

    start: int
    end: int
    weight: float


@dataclass
class ClaimModel:
    labels: tuple[str, ...]
    vectorizer: ClaimVectorizer
    coef: Any  # (n_labels, n_features) float64
    intercept: Any  # (n_labels,)
    calibration: Any  # (n_labels, 2): slope and offset applied to the decision value
    thresholds: Any  # (n_labels,) probability cut-offs

    def decision_function(self, texts: list[str]) -> Any:
        return self._decide(self.vectorizer.transform_coo(texts), len(texts))

    def predict_proba(self, texts: list[str]) -> Any:
        return self.calibrate(self.decision_function(texts))

    def score(self, texts: list[str]) -> tuple[Any, SentenceFeatures]:
        """Calibrated probabilities, and the feature values that explain() can reuse."""
        coo, analysis = self.vectorizer.analyse(texts)
        return self.calibrate(self._decide(coo, len(texts))), SentenceFeatures(*coo, analysis)

    def _decide(self, coo: tuple[Any, Any, Any], n_rows: int) -> Any:
        rows, cols, data = coo
        # A COO-times-dense product in scipy's C++ is several times faster than gathering
        # coefficient columns in numpy; duplicates, if any, are summed as they should be.
        features = sp.coo_matrix((data, (rows, cols)), shape=(n_rows, self.coef.shape[1]))
        return np.asarray(features @ self.coef_t) + self.intercept

    @cached_property
    def coef_t(self) -> Any:
        """Coefficients as (n_features, n_labels), contiguous, for the product above."""
        return np.ascontiguousarray(self.coef.T)

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state.pop("coef_t", None)  # derived; never written into the artifact
        return state

    def calibrate(self, decision: Any) -> Any:
        z = decision * self.calibration[:, 0] + self.calibration[:, 1]
        return 1.0 / (1.0 + np.exp(-z))

    def explain(
        self,
        sentences: list[str],
        labels: list[list[int]],
        features: SentenceFeatures | None = None,
        rows: list[int] | None = None,
    ) -> list[list[list[EvidenceSpan]]]:
        """For each sentence, the evidence phrases of each of its labels, strongest first.

        ``features`` and ``rows`` are the sentences' values from :meth:`score` (row ``rows[i]``
        holds sentence ``i``); without them the sentences are vectorised again. All sentences are
        explained in one vectorised pass: every (sentence, label) pair's token scores come from
        one gather of coefficients and one bincount.
        """
        if features is None or rows is None:
            coo, analysis = self.vectorizer.analyse(sentences)
            features, rows = SentenceFeatures(*coo, analysis), list(range(len(sentences)))
        spans, found = self.vectorizer.occurrences(sentences, features.analysis, rows)
        n_features = self.coef.shape[1]
        values = _values_at(features, np.asarray(rows, np.int64)[found.rows] * n_features + found.features, n_features)
        # A feature's contribution is shared by its occurrences in proportion to their counts.
        _, inverse = np.unique(found.rows * n_features + found.features, return_inverse=True)
        share = found.counts / np.bincount(inverse, weights=found.counts)[inverse] / found.widths
        per_sentence = np.array([len(label_list) for label_list in labels], np.int64)
        pair_start = np.cumsum(per_sentence) - per_sentence
        pair_label = np.array([label for label_list in labels for label in label_list], np.int64)
        pair_sentence = np.repeat(np.arange(len(sentences)), per_sentence)
        # Every occurrence once per label of its sentence ...
        occurrence = np.repeat(np.arange(len(found.rows)), per_sentence[found.rows])
        pair = pair_start[found.rows][occurrence] + _offsets_within(per_sentence[found.rows])
        weight = self.coef[pair_label[pair], found.features[occurrence]] * (values * share)[occurrence]
        # ... and spread over the tokens it covers.
        widths = found.widths[occurrence]
        token = np.repeat(found.firsts[occurrence], widths) + _offsets_within(widths)
        tokens_per_pair = np.array([len(spans[i]) for i in pair_sentence.tolist()], np.int64)
        pair_token_start = np.cumsum(tokens_per_pair) - tokens_per_pair
        flat = np.repeat(pair_token_start[pair], widths) + token
        scores = np.bincount(flat, weights=np.repeat(weight, widths), minlength=int(tokens_per_pair.sum()))
        explained: list[list[list[EvidenceSpan]]] = [[] for _ in sentences]
        for index, sentence in enumerate(pair_sentence.tolist()):
            start, count = int(pair_token_start[index]), int(tokens_per_pair[index])
            explained[sentence].append(_runs(scores[start : start + count], spans[sentence]) if count else [])
        return explained


def _values_at(features: SentenceFeatures, keys: Any, n_features: int) -> Any:
    """The batch's feature value at each (row * n_features + column) key; 0 where absent."""
    batch_keys = features.rows * n_features + features.cols
    order = np.argsort(batch_keys)
    sorted_keys = batch_keys[order]
    if not len(sorted_keys):
        return np.zeros(len(keys))
    position = np.minimum(np.searchsorted(sorted_keys, keys), len(sorted_keys) - 1)
    return np.where(sorted_keys[position] == keys, features.data[order][position], 0.0)


@dataclass(frozen=True, slots=True)
class SentenceFeatures:
    """A batch's feature values as (row, column, value) arrays, and the analysis behind them."""

    rows: Any
    cols: Any
    data: Any
    analysis: Analysis


def _offsets_within(widths: Any) -> Any:
    """0, 1, ..., w-1 for each width w, concatenated: token offsets inside each n-gram."""
    total = int(widths.sum())
    starts = np.repeat(np.cumsum(widths) - widths, widths)
    return np.arange(total) - starts


def _runs(scores: Any, spans: list[tuple[int, int]]) -> list[EvidenceSpan]:
    """Maximal runs of tokens that push the score up, ranked by their summed weight."""
    strongest = float(scores.max())
    if strongest <= 0:
        return [EvidenceSpan(*spans[int(scores.argmax())], weight=strongest)]
    floor = strongest * _RUN_FLOOR
    runs: list[EvidenceSpan] = []
    first = None
    total = 0.0
    for i, score in enumerate([*scores.tolist(), -1.0]):
        if score >= floor and i < len(spans):
            if first is None:
                first, total = i, 0.0
            total += score
        elif first is not None:
            runs.append(EvidenceSpan(spans[first][0], spans[i - 1][1], round(total, 4)))
            first = None
    runs.sort(key=lambda run: run.weight, reverse=True)
    best = runs[0].weight
    return [run for run in runs[:_MAX_EVIDENCE] if run.weight >= best * 0.25]

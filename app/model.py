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
from typing import Any

import numpy as np

from app.features import ClaimVectorizer

__all__ = ["ClaimModel", "EvidenceSpan"]

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
        rows, cols, data = self.vectorizer.transform_coo(texts)
        scores = np.empty((len(texts), len(self.labels)))
        contributions = self.coef[:, cols] * data
        for label in range(len(self.labels)):
            scores[:, label] = np.bincount(rows, weights=contributions[label], minlength=len(texts))
        return scores + self.intercept

    def predict_proba(self, texts: list[str]) -> Any:
        return self.calibrate(self.decision_function(texts))

    def calibrate(self, decision: Any) -> Any:
        z = decision * self.calibration[:, 0] + self.calibration[:, 1]
        return 1.0 / (1.0 + np.exp(-z))

    def explain(self, sentence: str, label_indices: list[int]) -> list[list[EvidenceSpan]]:
        """Evidence phrases for each requested label of one sentence, strongest first."""
        spans, occurrences = self.vectorizer.occurrences(sentence)
        if not occurrences or not spans:
            return [[] for _ in label_indices]
        rows, cols, data = self.vectorizer.transform_coo([sentence])
        del rows
        values = dict(zip(cols.tolist(), data.tolist(), strict=True))
        features = np.array([o.feature for o in occurrences])
        per_feature = np.bincount(features, minlength=self.coef.shape[1])[features]
        token_share = np.zeros((len(occurrences), len(spans)))
        for row, occurrence in enumerate(occurrences):
            width = occurrence.last - occurrence.first
            token_share[row, occurrence.first : occurrence.last] = 1.0 / (width * per_feature[row])
        x = np.array([values.get(f, 0.0) for f in features.tolist()])
        weights = self.coef[np.asarray(label_indices)][:, features] * x  # (labels, occurrences)
        token_scores = weights @ token_share  # (labels, tokens)
        return [_runs(scores, spans) for scores in token_scores]


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

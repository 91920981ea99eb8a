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

from app._kernels import decide
from app.features import Analysis, ClaimVectorizer
from app.gramindex import offsets_within

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
        return decide(rows, cols, np.asarray(data, np.float64), self.coef_t, self.intercept_c, n_rows)

    @cached_property
    def coef_t(self) -> Any:
        """Coefficients as (n_features, n_labels), contiguous, for the product above."""
        return np.ascontiguousarray(self.coef.T, np.float64)

    @cached_property
    def intercept_c(self) -> Any:
        return np.ascontiguousarray(self.intercept, np.float64)

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        for derived in ("coef_t", "intercept_c"):  # never written into the artifact
            state.pop(derived, None)
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
        # A feature's value is shared by its occurrences in proportion to their counts.
        share = found.values * found.counts / found.totals / found.widths
        per_sentence = np.array([len(label_list) for label_list in labels], np.int64)
        pair_start = np.cumsum(per_sentence) - per_sentence
        pair_label = np.array([label for label_list in labels for label in label_list], np.int64)
        pair_sentence = np.repeat(np.arange(len(sentences)), per_sentence)
        # Every occurrence once per label of its sentence ...
        occurrence = np.repeat(np.arange(len(found.rows)), per_sentence[found.rows])
        pair = pair_start[found.rows][occurrence] + offsets_within(per_sentence[found.rows])
        weight = self.coef[pair_label[pair], found.features[occurrence]] * share[occurrence]
        # ... and spread over the tokens it covers.
        widths = found.widths[occurrence]
        token = np.repeat(found.firsts[occurrence], widths) + offsets_within(widths)
        token_counts = np.array([len(token_spans) for token_spans in spans], np.int64)
        tokens_per_pair = token_counts[pair_sentence]
        pair_token_start = np.cumsum(tokens_per_pair) - tokens_per_pair
        flat = np.repeat(pair_token_start[pair], widths) + token
        scores = np.bincount(flat, weights=np.repeat(weight, widths), minlength=int(tokens_per_pair.sum()))
        runs = _runs(scores, pair_token_start, tokens_per_pair)
        explained: list[list[list[EvidenceSpan]]] = [[] for _ in sentences]
        for index, sentence in enumerate(pair_sentence.tolist()):
            token_spans = spans[sentence]
            explained[sentence].append(
                [EvidenceSpan(token_spans[first][0], token_spans[last][1], w) for first, last, w in runs[index]]
            )
        return explained


@dataclass(frozen=True, slots=True)
class SentenceFeatures:
    """A batch's feature values as (row, column, value) arrays, and the analysis behind them."""

    rows: Any
    cols: Any
    data: Any
    analysis: Analysis


def _runs(scores: Any, starts: Any, counts: Any) -> list[list[tuple[int, int, float]]]:
    """For each pair's slice ``scores[starts[p]:starts[p] + counts[p]]``: the maximal runs of
    tokens that push its score up, as (first token, last token, summed weight), strongest first.

    A token joins a run when it carries at least ``_RUN_FLOOR`` of the pair's strongest token;
    at most ``_MAX_EVIDENCE`` runs are kept, none weaker than a quarter of the best.
    """
    result: list[list[tuple[int, int, float]]] = [[] for _ in range(len(counts))]
    present = np.flatnonzero(counts > 0)
    if not len(present):
        return result
    owner = np.repeat(np.arange(len(counts)), counts)  # pair of each token
    strongest = np.maximum.reduceat(scores, starts[present])
    best_value = np.zeros(len(counts))
    best_value[present] = strongest
    positive = best_value > 0
    above = (scores >= (best_value * _RUN_FLOOR)[owner]) & positive[owner]
    position = np.arange(len(scores)) - starts[owner]
    begins = above & ~np.concatenate([[False], above[:-1] & (owner[1:] == owner[:-1])])
    run_of = np.cumsum(begins) - 1
    run_tokens = np.flatnonzero(above)
    n_runs = int(begins.sum())
    sums = np.bincount(run_of[run_tokens], weights=scores[run_tokens], minlength=n_runs)
    firsts = position[begins]
    lasts = np.zeros(n_runs, np.int64)
    lasts[run_of[run_tokens]] = position[run_tokens]  # the last write per run is its last token
    run_pair = owner[begins]
    rounded = [round(total, 4) for total in sums.tolist()]
    # Stable ranking within each pair: by weight, then by position, as a sort of the runs would give.
    order = np.lexsort((firsts, -np.array(rounded), run_pair)) if n_runs else np.zeros(0, np.int64)
    for run in order.tolist():
        kept = result[int(run_pair[run])]
        if len(kept) < _MAX_EVIDENCE and rounded[run] >= (kept[0][2] if kept else rounded[run]) * 0.25:
            kept.append((int(firsts[run]), int(lasts[run]), rounded[run]))
    for pair in np.flatnonzero(~positive & (counts > 0)).tolist():
        # Nothing pushes this label up: point at the least negative token.
        start = int(starts[pair])
        token = int(np.argmax(scores[start : start + int(counts[pair])]))
        result[pair] = [(token, token, float(best_value[pair]))]
    return result

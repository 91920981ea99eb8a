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
from typing import Any, NamedTuple

import numpy as np

from app._kernels import add_decisions, evidence_runs
from app.features import Analysis, Block, ClaimVectorizer

__all__ = ["ClaimModel", "EvidenceSpan"]

_MAX_EVIDENCE = 3
_RUN_FLOOR = 0.2  # a token joins an evidence run when it carries 20% of the strongest token's weight
_KEEP_RATIO = 0.25  # a run is shown when it weighs at least a quarter of the strongest


class EvidenceSpan(NamedTuple):
    """A phrase of the sentence, as code-point offsets into it, and its summed contribution.
    A named tuple: explanations make dozens per document, and a frozen dataclass costs nearly
    twice as much to build."""

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
        return self._decide(self.vectorizer.analyse(texts)[0], len(texts))

    def predict_proba(self, texts: list[str]) -> Any:
        return self.calibrate(self.decision_function(texts))

    def score(self, texts: list[str]) -> tuple[Any, Analysis]:
        """Calibrated probabilities, and the analysis of the texts that explain() can reuse."""
        blocks, analysis = self.vectorizer.analyse(texts)
        return self.calibrate(self._decide(blocks, len(texts))), analysis

    def _decide(self, blocks: list[Block], n_rows: int) -> Any:
        decision = np.zeros((n_rows, len(self.intercept_c)))
        for rows, columns, values, offset in blocks:
            add_decisions(decision, rows, columns, values, self.weights, offset)
        decision += self.intercept_c
        return decision

    def __post_init__(self) -> None:
        self.coef = _feature_major(self.coef)

    @property
    def weights(self) -> Any:
        """The coefficients as (n_features, n_labels), contiguous: what the kernels read. A view of
        :attr:`coef`, which is kept in that memory order (see :func:`_feature_major`)."""
        return self.coef.T

    @cached_property
    def intercept_c(self) -> Any:
        return np.ascontiguousarray(self.intercept, np.float64)

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state.pop("intercept_c", None)  # derived; never written into the artifact
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self.coef = _feature_major(self.coef)

    def calibrate(self, decision: Any) -> Any:
        z = decision * self.calibration[:, 0] + self.calibration[:, 1]
        return 1.0 / (1.0 + np.exp(-z))

    def explain(
        self,
        sentences: list[str],
        labels: list[list[int]],
        analysis: Analysis | None = None,
        rows: list[int] | None = None,
    ) -> list[list[list[EvidenceSpan]]]:
        """For each sentence, the evidence phrases of each of its labels, strongest first.

        ``analysis`` and ``rows`` are what :meth:`score` computed for a batch (row ``rows[i]``
        holds sentence ``i``); without them the sentences are analysed again. All sentences are
        explained at once: every (sentence, label) pair's token scores come from one compiled pass
        over the feature occurrences (:meth:`app.features.ClaimVectorizer.token_scores`).
        """
        spans, scores, token_starts = self.vectorizer.token_scores(sentences, labels, self.weights, analysis, rows)
        runs = iter(_runs(scores, token_starts))
        explained: list[list[list[EvidenceSpan]]] = []
        for token_spans, label_list in zip(spans, labels, strict=True):
            explained.append(
                [
                    [EvidenceSpan(token_spans[first][0], token_spans[last][1], w) for first, last, w in next(runs)]
                    for _ in label_list
                ]
            )
        return explained


def _feature_major(coef: Any) -> Any:
    """``coef`` (n_labels, n_features) as float64 stored feature by feature: a view of an
    (n_features, n_labels) C-contiguous array. Scoring reads every label's weight for one feature
    at a time, so this way they share a cache line, where row by row they are megabytes apart: one
    cache miss per feature instead of one per label. It replaces the given array, so it costs no
    memory; an array already laid out so is returned as it is."""
    return np.ascontiguousarray(np.asarray(coef, np.float64).T).T


def _runs(scores: Any, token_starts: Any) -> list[list[tuple[int, int, float]]]:
    """For each pair's slice ``scores[token_starts[p]:token_starts[p + 1]]``: the maximal runs of
    tokens that push its score up, as (first token, last token, summed weight), strongest first.

    A token joins a run when it carries at least ``_RUN_FLOOR`` of the pair's strongest token;
    at most ``_MAX_EVIDENCE`` runs are kept, none weaker than ``_KEEP_RATIO`` of the best. When
    nothing pushes the label up, the least negative token stands alone.
    """
    return evidence_runs(scores, token_starts, _RUN_FLOOR, _MAX_EVIDENCE, _KEEP_RATIO)

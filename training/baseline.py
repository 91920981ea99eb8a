"""The keyword-rule baseline: label a sentence when a cue list for the label fires.

It uses the same cue lexicons as the model (:mod:`app.cues`), so the report shows what
learning adds over reading the word lists alone.
"""

from __future__ import annotations

import numpy as np

from app.features import ClaimVectorizer
from app.taxonomy import LABEL_IDS

__all__ = ["RULES", "predict_baseline"]

RULES: dict[str, frozenset[str]] = {
    "overstated_efficacy": frozenset({"cure", "hype", "speed", "certain_benefit", "disease_claim"}),
    "missing_risk_disclosure": frozenset({"safety_assertion", "risk_minimised"}),
    "regulatory_claim": frozenset({"regulatory_status"}),
    "evidence_claim": frozenset({"uncited_research", "uncited_statistic"}),
    "comparative_claim": frozenset({"comparison"}),
    "risk_disclosure": frozenset({"medical_advice", "limitation", "non_approval"}),
}


def predict_baseline(vectorizer: ClaimVectorizer, texts: list[str]) -> np.ndarray:
    predicted = np.zeros((len(texts), len(LABEL_IDS)), dtype=np.int8)
    for row, text in enumerate(texts):
        fired = vectorizer.fired_cues(text)
        for column, label in enumerate(LABEL_IDS):
            predicted[row, column] = bool(RULES[label] & fired)
    return predicted

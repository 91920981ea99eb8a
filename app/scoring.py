"""Score documents: segment, classify every sentence in one vectorised call, explain the
flags, and build the response body. Pure Python, no web framework, so training, the CLI,
the benchmarks and the API share it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from app import API_VERSION
from app.markup import Format, Visible, extract_visible
from app.model import ClaimModel
from app.taxonomy import LABEL_IDS, Taxonomy
from app.text import split_sentences, utf16_offsets

__all__ = ["CLAIM_LABELS", "DocumentRequest", "Scorer"]

# Labels whose presence, with no risk_disclosure anywhere, makes a page miss its risk disclosure.
CLAIM_LABELS = frozenset({"overstated_efficacy", "evidence_claim", "comparative_claim", "regulatory_claim"})
_SEVERITY_WEIGHT = {"high": 1.0, "medium": 0.6, "info": 0.0}


@dataclass(frozen=True, slots=True)
class DocumentRequest:
    text: str
    format: Format = "text"
    id: str | None = None
    labels: tuple[str, ...] | None = None
    explain: bool = True


@dataclass(slots=True)
class _Segmented:
    request: DocumentRequest
    visible: Visible
    spans: list[tuple[int, int]]
    sentences: list[str]


class Scorer:
    """Turns documents into /score response bodies with one model call per batch."""

    def __init__(self, model: ClaimModel, taxonomy: Taxonomy, model_version: str) -> None:
        self.model = model
        self.taxonomy = taxonomy
        self.model_version = model_version
        self._labels = [taxonomy.label(label_id) for label_id in LABEL_IDS]

    def score(self, request: DocumentRequest) -> dict[str, Any]:
        return self.score_many([request])[0]

    def score_many(self, requests: Sequence[DocumentRequest]) -> list[dict[str, Any]]:
        segmented = [self._segment(request) for request in requests]
        all_sentences = [sentence for doc in segmented for sentence in doc.sentences]
        probabilities = self.model.predict_proba(all_sentences) if all_sentences else np.zeros((0, len(LABEL_IDS)))
        flagged = probabilities >= self.model.thresholds
        results = []
        position = 0
        for doc in segmented:
            count = len(doc.sentences)
            results.append(
                self._document(doc, probabilities[position : position + count], flagged[position : position + count])
            )
            position += count
        return results

    def predicted_labels(self, texts: Sequence[str]) -> list[set[str]]:
        """The labels flagged anywhere in each text: how evaluation reads a prediction."""
        bodies = self.score_many([DocumentRequest(text=text, explain=False) for text in texts])
        return [{flag["label"] for s in body["sentences"] for flag in s["flags"]} for body in bodies]

    def _segment(self, request: DocumentRequest) -> _Segmented:
        visible = extract_visible(request.text, request.format)
        spans = split_sentences(visible.text)
        return _Segmented(request, visible, spans, [visible.text[a:b] for a, b in spans])

    def _document(self, doc: _Segmented, probabilities: Any, flagged: Any) -> dict[str, Any]:
        request = doc.request
        wanted = set(request.labels) if request.labels is not None else set(LABEL_IDS)
        source_spans = [doc.visible.to_source(a, b) for a, b in doc.spans]
        sentence_rows: list[dict[str, Any]] = []
        pending_offsets: list[int] = []  # every offset in the body, translated to UTF-16 in one pass
        for index, ((start, end), sentence) in enumerate(zip(source_spans, doc.sentences, strict=True)):
            row: dict[str, Any] = {"index": index, "start": start, "end": end, "text": sentence, "flags": []}
            pending_offsets += [start, end]
            label_indices = [i for i in np.flatnonzero(flagged[index]).tolist() if LABEL_IDS[i] in wanted]
            if label_indices:
                evidence_lists = (
                    self.model.explain(sentence, label_indices) if request.explain else [[] for _ in label_indices]
                )
                visible_start = doc.spans[index][0]
                for label_index, evidence in zip(label_indices, evidence_lists, strict=True):
                    row["flags"].append(
                        self._flag(doc.visible, visible_start, sentence, label_index, probabilities[index], evidence)
                    )
                    for item in row["flags"][-1]["evidence"]:
                        pending_offsets += [item["start"], item["end"]]
            sentence_rows.append(row)
        _fill_utf16(request.text, sentence_rows, pending_offsets)
        return self._body(request, sentence_rows, flagged, wanted)

    def _flag(
        self,
        visible: Visible,
        visible_start: int,
        sentence: str,
        label_index: int,
        scores: Any,
        evidence: list[Any],
    ) -> dict[str, Any]:
        label = self._labels[label_index]
        items = []
        for span in evidence:
            start, end = visible.to_source(visible_start + span.start, visible_start + span.end)
            items.append({"text": sentence[span.start : span.end], "start": start, "end": end, "weight": span.weight})
        return {
            "label": label.id,
            "name": label.name,
            "severity": label.severity,
            "score": round(float(scores[label_index]), 4),
            "threshold": round(float(self.model.thresholds[label_index]), 4),
            "message": label.render_message([item["text"] for item in items]),
            "guidance": label.guidance,
            "references": [{"title": r.title, "url": str(r.url)} for r in label.references],
            "evidence": items,
        }

    def _body(
        self, request: DocumentRequest, sentences: list[dict[str, Any]], flagged: Any, wanted: set[str]
    ) -> dict[str, Any]:
        present = {LABEL_IDS[i] for i in np.flatnonzero(flagged.any(axis=0)).tolist()} if len(flagged) else set()
        document_flags = []
        if "missing_risk_disclosure" in wanted and present & CLAIM_LABELS and "risk_disclosure" not in present:
            label = self.taxonomy.label("missing_risk_disclosure")
            finding = self.taxonomy.document_findings["missing_risk_disclosure"]
            document_flags.append({"label": label.id, "severity": label.severity, "message": finding.message})
        counts = dict.fromkeys(sorted(wanted), 0)
        survival = 1.0
        for row in sentences:
            for flag in row["flags"]:
                counts[flag["label"]] += 1
                survival *= 1.0 - _SEVERITY_WEIGHT[flag["severity"]] * flag["score"]
        if document_flags:
            survival *= 0.5  # a page with claims and no risk information is itself a finding
        return {
            "id": request.id,
            "model_version": self.model_version,
            "api_version": API_VERSION,
            "summary": {
                "sentences": len(sentences),
                "flagged_sentences": sum(1 for row in sentences if row["flags"]),
                "counts": counts,
                "risk_disclosure_present": "risk_disclosure" in present,
                "risk_score": round(1.0 - survival, 4),
            },
            "document_flags": document_flags,
            "sentences": sentences,
        }


def _fill_utf16(source: str, sentences: list[dict[str, Any]], offsets: list[int]) -> None:
    translated = iter(utf16_offsets(source, offsets))
    for row in sentences:
        row["start_utf16"], row["end_utf16"] = next(translated), next(translated)
        for flag in row["flags"]:
            for item in flag["evidence"]:
                item["start_utf16"], item["end_utf16"] = next(translated), next(translated)

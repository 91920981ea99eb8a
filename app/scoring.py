"""Score documents: segment, classify every sentence in one vectorised call, explain the
flags, and build the response body. Pure Python, no web framework, so training, the CLI,
the benchmarks and the API share it.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from app import API_VERSION
from app.markup import Format, Visible, extract_visible
from app.model import ClaimModel, EvidenceSpan
from app.taxonomy import LABEL_IDS, Taxonomy, render_message
from app.text import has_astral, split_sentences, utf16_offsets

__all__ = ["CLAIM_LABELS", "DocumentRequest", "Scorer"]

# Labels whose presence, with no risk_disclosure anywhere, makes a page miss its risk disclosure.
CLAIM_LABELS = frozenset({"overstated_efficacy", "evidence_claim", "comparative_claim", "regulatory_claim"})
_SEVERITY_WEIGHT = {"high": 1.0, "medium": 0.6, "info": 0.0}
_EXPLAIN_CHUNK = 256  # flagged sentences explained per vectorised pass
_GROUP_SENTENCES = 512  # sentences classified per vectorised pass


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
        self._message_parts = [label.message.split("{evidence}") for label in self._labels]
        # Each label's flag with the parts that depend only on the label filled in, built once and
        # copied per flag; the keys are in the order the response lists them.
        self._flag_templates = [
            {
                "label": label.id,
                "name": label.name,
                "severity": label.severity,
                "score": 0.0,
                "threshold": round(float(threshold), 4),
                "message": "",
                "guidance": label.guidance,
                "references": [{"title": r.title, "url": str(r.url)} for r in label.references],
                "evidence": [],
            }
            for label, threshold in zip(self._labels, model.thresholds, strict=True)
        ]

    def score(self, request: DocumentRequest) -> dict[str, Any]:
        return self.score_many([request])[0]

    def warm_up(self, text: str) -> None:
        """Score ``text`` once, so that tables built on first use exist before traffic arrives."""
        self.score(DocumentRequest(text=text))

    def score_many(self, requests: Sequence[DocumentRequest]) -> list[dict[str, Any]]:
        """Response bodies in request order."""
        return list(self.score_iter(requests))

    def score_iter(self, requests: Sequence[DocumentRequest]) -> Iterator[dict[str, Any]]:
        """Response bodies in request order, produced in groups of about ``_GROUP_SENTENCES``
        sentences: as fast as one vectorised call, and a caller that encodes each body as it comes
        never holds more than one group's bodies."""
        group: list[_Segmented] = []
        size = 0
        for request in requests:
            doc = self._segment(request)
            group.append(doc)
            size += len(doc.sentences)
            if size >= _GROUP_SENTENCES:
                yield from self._score_group(group)
                group, size = [], 0
        if group:
            yield from self._score_group(group)

    def _score_group(self, segmented: list[_Segmented]) -> list[dict[str, Any]]:
        all_sentences = [sentence for doc in segmented for sentence in doc.sentences]
        if not all_sentences:
            empty = np.zeros((0, len(LABEL_IDS)))
            return [self._document(doc, [], empty.astype(bool), {}, 0, {}) for doc in segmented]
        probabilities, analysis = self.model.score(all_sentences)
        flagged = probabilities >= self.model.thresholds
        flags_of: dict[int, list[int]] = {}  # the flags each row reports
        for row, label in zip(*(axis.tolist() for axis in np.nonzero(_reported(flagged, segmented))), strict=True):
            flags_of.setdefault(row, []).append(label)
        wanted_rows = list(flags_of)  # ascending, as np.nonzero lists them
        if not all(doc.request.explain for doc in segmented):
            explains = np.repeat([doc.request.explain for doc in segmented], [len(doc.sentences) for doc in segmented])
            wanted_rows = [row for row in wanted_rows if explains[row]]
        evidence: dict[int, list[list[EvidenceSpan]]] = {}
        for start in range(0, len(wanted_rows), _EXPLAIN_CHUNK):  # bounded memory for large batches
            rows = wanted_rows[start : start + _EXPLAIN_CHUNK]
            explained = self.model.explain(
                [all_sentences[row] for row in rows], [flags_of[row] for row in rows], analysis, rows
            )
            evidence.update(zip(rows, explained, strict=True))
        results = []
        position = 0
        probability_rows = probabilities.tolist()  # Python floats: indexing numpy per flag costs more
        for doc in segmented:
            count = len(doc.sentences)
            rows_slice = slice(position, position + count)
            results.append(
                self._document(doc, probability_rows[rows_slice], flagged[rows_slice], evidence, position, flags_of)
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

    def _document(
        self,
        doc: _Segmented,
        probabilities: list[list[float]],
        flagged: Any,
        evidence: dict[int, list[list[EvidenceSpan]]],
        first_row: int,
        flags_of: dict[int, list[int]],
    ) -> dict[str, Any]:
        request = doc.request
        visible = doc.visible
        source_spans = doc.spans if visible.starts is None else [visible.to_source(a, b) for a, b in doc.spans]
        # UTF-16 offsets equal code-point offsets until _fill_utf16 finds a character outside the BMP.
        sentence_rows: list[dict[str, Any]] = [
            {"index": index, "start": start, "end": end, "start_utf16": start, "end_utf16": end, "text": text,
             "flags": []}
            for index, ((start, end), text) in enumerate(zip(source_spans, doc.sentences, strict=True))
        ]  # fmt: skip
        flags_here = flags_of.get
        for index, row in enumerate(sentence_rows):
            label_indices = flags_here(first_row + index)
            if label_indices is None:
                continue
            evidence_lists = evidence.get(first_row + index) or [[] for _ in label_indices]
            visible_start = doc.spans[index][0]
            row["flags"] = [
                self._flag(visible, visible_start, row["text"], label_index, probabilities[index], phrases)
                for label_index, phrases in zip(label_indices, evidence_lists, strict=True)
            ]
        _fill_utf16(request.text, sentence_rows)
        wanted = set(request.labels) if request.labels is not None else set(LABEL_IDS)
        return self._body(request, sentence_rows, flagged, wanted)

    def _flag(
        self,
        visible: Visible,
        visible_start: int,
        sentence: str,
        label_index: int,
        scores: list[float],
        evidence: list[Any],
    ) -> dict[str, Any]:
        plain = visible.starts is None
        items = []
        for span in evidence:
            if plain:
                start, end = visible_start + span.start, visible_start + span.end
            else:
                start, end = visible.to_source(visible_start + span.start, visible_start + span.end)
            items.append(
                {
                    "text": sentence[span.start : span.end],
                    "start": start,
                    "end": end,
                    "start_utf16": start,
                    "end_utf16": end,
                    "weight": span.weight,
                }
            )
        flag = self._flag_templates[label_index].copy()  # the keys in response order, the constant ones filled
        flag["score"] = round(scores[label_index], 4)
        flag["message"] = render_message(self._message_parts[label_index], [item["text"] for item in items])
        flag["evidence"] = items
        return flag

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


def _reported(flagged: Any, segmented: list[_Segmented]) -> Any:
    """The flagged (rows x labels) matrix with the labels each request's filter leaves out cleared:
    what each row reports. The matrix itself when no request filters."""
    if all(doc.request.labels is None for doc in segmented):
        return flagged
    reported = flagged.copy()
    position = 0
    for doc in segmented:
        if doc.request.labels is not None:
            unwanted = [index for index, label in enumerate(LABEL_IDS) if label not in doc.request.labels]
            reported[position : position + len(doc.sentences), unwanted] = False
        position += len(doc.sentences)
    return reported


def _fill_utf16(source: str, sentences: list[dict[str, Any]]) -> None:
    """Translate every offset of the body into UTF-16 code units, in one pass over ``source``."""
    if not has_astral(source):
        return  # every UTF-16 offset already equals its code-point offset
    offsets: list[int] = []
    for row in sentences:
        offsets += (row["start"], row["end"])
        for flag in row["flags"]:
            for item in flag["evidence"]:
                offsets += (item["start"], item["end"])
    translated = iter(utf16_offsets(source, offsets))
    for row in sentences:
        row["start_utf16"], row["end_utf16"] = next(translated), next(translated)
        for flag in row["flags"]:
            for item in flag["evidence"]:
                item["start_utf16"], item["end_utf16"] = next(translated), next(translated)

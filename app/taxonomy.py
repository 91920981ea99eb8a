"""Load and validate the label taxonomy (``app/taxonomy.yaml``) once, at start-up.

A bad taxonomy file fails loudly with the file and the offending entry, never mid-request.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, HttpUrl, ValidationError, model_validator

from app.errors import TaxonomyError

__all__ = ["DEFAULT_TAXONOMY_PATH", "LABEL_IDS", "Label", "Taxonomy", "load_taxonomy", "render_message"]

DEFAULT_TAXONOMY_PATH = Path(__file__).with_name("taxonomy.yaml")
# The contract of ../shared/labelling-guide.md: ids and their order.
LABEL_IDS = (
    "overstated_efficacy",
    "missing_risk_disclosure",
    "regulatory_claim",
    "evidence_claim",
    "comparative_claim",
    "risk_disclosure",
)
_SEVERITY_OF = {
    "overstated_efficacy": "high",
    "missing_risk_disclosure": "high",
    "regulatory_claim": "high",
    "evidence_claim": "medium",
    "comparative_claim": "medium",
    "risk_disclosure": "info",
}

Severity = Literal["high", "medium", "info"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Reference(_Strict):
    title: str = Field(min_length=3)
    url: HttpUrl


class Examples(_Strict):
    flagged: tuple[str, ...] = Field(min_length=1)
    not_flagged: tuple[str, ...] = Field(min_length=1)


class Label(_Strict):
    id: str
    name: str = Field(min_length=3)
    severity: Severity
    description: str = Field(min_length=10)
    message: str = Field(min_length=10)
    guidance: str = Field(min_length=10)
    references: tuple[Reference, ...] = Field(min_length=1)
    examples: Examples


def render_message(message_parts: list[str], evidence: list[str]) -> str:
    """A label's message (split at its ``{evidence}`` placeholder) with the evidence phrases quoted in
    it. Split once per label by the caller: a document renders one message per flag."""
    quoted = "\u201c" + "\u201d, \u201c".join(evidence) + "\u201d" if evidence else "This sentence"
    text = quoted.join(message_parts)
    first = text[0].upper()
    return text if first == text[0] else first + text[1:]


class DocumentFinding(_Strict):
    message: str = Field(min_length=10)


class Taxonomy(_Strict):
    version: int
    labels: tuple[Label, ...]
    document_findings: dict[str, DocumentFinding]
    sha256: str = ""

    @model_validator(mode="after")
    def _matches_the_guide(self) -> Taxonomy:
        ids = tuple(label.id for label in self.labels)
        if ids != LABEL_IDS:
            raise ValueError(f"label ids must be exactly {list(LABEL_IDS)} in that order, got {list(ids)}")
        for label in self.labels:
            if label.severity != _SEVERITY_OF[label.id]:
                raise ValueError(f"{label.id}: severity must be {_SEVERITY_OF[label.id]!r}")
            if "{evidence}" not in label.message:
                raise ValueError(f"{label.id}: message must contain the {{evidence}} placeholder")
        unknown = set(self.document_findings) - set(ids)
        if unknown:
            raise ValueError(f"document_findings name unknown labels {sorted(unknown)}")
        return self

    def label(self, label_id: str) -> Label:
        return self.labels[LABEL_IDS.index(label_id)]


def load_taxonomy(path: Path = DEFAULT_TAXONOMY_PATH) -> Taxonomy:
    try:
        raw = path.read_bytes()
        data = yaml.safe_load(raw)
    except (OSError, yaml.YAMLError) as exc:
        raise TaxonomyError(f"cannot read taxonomy {path}: {exc}") from exc
    if not isinstance(data, dict):
        raise TaxonomyError(f"taxonomy {path} must be a mapping at the top level")
    try:
        return Taxonomy.model_validate({**data, "sha256": hashlib.sha256(raw).hexdigest()})
    except ValidationError as exc:
        raise TaxonomyError(f"invalid taxonomy {path}: {exc}") from exc

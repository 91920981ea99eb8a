"""Request and response schemas: the public contract, exported to ``openapi.yaml``."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidatorFunctionWrapHandler,
    WrapValidator,
    field_validator,
)

__all__ = [
    "BatchItemError",
    "BatchResponse",
    "DocumentFlag",
    "ErrorBody",
    "ErrorResponse",
    "Evidence",
    "Flag",
    "HealthResponse",
    "LabelInfo",
    "LabelsResponse",
    "ModelInfo",
    "ReadyResponse",
    "Reference",
    "ReloadResponse",
    "ScoreRequest",
    "ScoreResponse",
    "SentenceResult",
    "Summary",
]

LabelId = Literal[
    "overstated_efficacy",
    "missing_risk_disclosure",
    "regulatory_claim",
    "evidence_claim",
    "comparative_claim",
    "risk_disclosure",
]
SeverityName = Literal["high", "medium", "info"]

# A character that is not whitespace, whitespace meaning exactly Python's str.isspace (what the segmenter
# trims). Spelled out rather than \\S, whose meaning differs between Python, pydantic-core and the ECMA-262
# regexes of JSON Schema, so the published pattern and the server's check accept the same texts.
NOT_BLANK = "[^\\t\\n\\x0b\\x0c\\r\\x1c-\\x1f\\x20\\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000]"
_NOT_BLANK = re.compile(NOT_BLANK)


def _allow_lone_surrogates(value: Any, handler: ValidatorFunctionWrapHandler) -> Any:
    """JSON allows lone surrogate escapes ("\\ud800", from text cut mid-emoji in JavaScript), but pydantic-core
    refuses such strings. Validate a stand-in of the same length, then keep the text exactly as sent, so
    offsets still point into what the client submitted (they are counted per code point and UTF-16 unit)."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            handler(value.encode("utf-8", "replace").decode("utf-8"))  # one "?" per lone surrogate
            return value
    return handler(value)


# The constraints sit inside the wrapper, so they are checked (and reported) as plain string constraints.
SubmittedText = Annotated[str, StringConstraints(min_length=1), WrapValidator(_allow_lone_surrogates)]
SubmittedId = Annotated[str, StringConstraints(max_length=256), WrapValidator(_allow_lone_surrogates)]


class ScoreRequest(BaseModel):
    """One document to score."""

    model_config = ConfigDict(extra="forbid", strict=True)

    text: SubmittedText = Field(
        json_schema_extra={"pattern": NOT_BLANK},
        description="The document. At most CLAIMSCAN_MAX_DOCUMENT_CHARS characters (100,000 by default); "
        "longer documents are refused with 413, never truncated.",
    )
    format: Literal["text", "html", "markdown"] = Field(default="text", description="How to read `text`")
    id: SubmittedId | None = Field(default=None, description="Echoed back in the response")
    labels: list[LabelId] | None = Field(default=None, max_length=6, description="Report only these labels")
    explain: bool = Field(default=True, description="Include evidence phrases for each flag")

    @field_validator("text")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if _NOT_BLANK.search(value) is None:
            raise ValueError("text must contain something other than whitespace")
        return value


class Reference(BaseModel):
    title: str
    url: str


class Evidence(BaseModel):
    text: str = Field(description="The phrase, exactly as it appears in the sentence's visible text")
    start: int = Field(ge=0, description="Code-point offset into the submitted string")
    end: int = Field(ge=0)
    start_utf16: int = Field(ge=0, description="The same position in UTF-16 code units")
    end_utf16: int = Field(ge=0)
    weight: float = Field(description="The phrase's summed contribution to the label's decision value")


class Flag(BaseModel):
    label: LabelId
    name: str
    severity: SeverityName
    score: float = Field(ge=0, le=1, description="Calibrated probability")
    threshold: float = Field(ge=0, le=1, description="The cut-off the score passed")
    message: str
    guidance: str
    references: list[Reference]
    evidence: list[Evidence]


class SentenceResult(BaseModel):
    index: int = Field(ge=0)
    start: int = Field(ge=0)
    end: int = Field(ge=0)
    start_utf16: int = Field(ge=0)
    end_utf16: int = Field(ge=0)
    text: str
    flags: list[Flag]


class DocumentFlag(BaseModel):
    label: LabelId
    severity: SeverityName
    message: str


class Summary(BaseModel):
    sentences: int = Field(ge=0)
    flagged_sentences: int = Field(ge=0)
    counts: dict[str, int]
    risk_disclosure_present: bool
    risk_score: float = Field(ge=0, le=1)


class ScoreResponse(BaseModel):
    id: str | None
    model_version: str
    api_version: str
    summary: Summary
    document_flags: list[DocumentFlag]
    sentences: list[SentenceResult]


class ErrorBody(BaseModel):
    code: str
    message: str
    details: Any = None


class ErrorResponse(BaseModel):
    error: ErrorBody


class BatchItemError(BaseModel):
    id: str | None = None
    error: ErrorBody


class BatchResponse(BaseModel):
    results: list[ScoreResponse | BatchItemError]


class LabelInfo(BaseModel):
    id: LabelId
    name: str
    severity: SeverityName
    description: str
    guidance: str
    references: list[Reference]


class LabelsResponse(BaseModel):
    labels: list[LabelInfo]


class ModelInfo(BaseModel):
    version: str
    created_at: str | None
    family: dict[str, Any] | None
    thresholds: dict[str, float]
    metrics: dict[str, Any] | None
    training_data_sha256: str | None
    libraries: dict[str, str] | None


class HealthResponse(BaseModel):
    status: Literal["ok"]


class ReadyResponse(BaseModel):
    status: Literal["ready"]
    model_version: str


class ReloadResponse(BaseModel):
    status: Literal["reloaded"]
    model_version: str
    previous_version: str

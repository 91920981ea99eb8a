"""Turn a validated request into a scoring request, enforcing the configurable limits."""

from __future__ import annotations

from typing import Any

import orjson
from pydantic import ValidationError

from app.api.errors import validation_details
from app.errors import InvalidInput, PayloadTooLarge, ServiceError
from app.schemas import ScoreRequest
from app.scoring import DocumentRequest

__all__ = ["dumps", "to_document", "validate_document"]


def to_document(request: ScoreRequest, max_chars: int) -> DocumentRequest:
    if len(request.text) > max_chars:
        raise PayloadTooLarge(
            f"text has {len(request.text):,} characters; the limit is {max_chars:,} per document "
            "(CLAIMSCAN_MAX_DOCUMENT_CHARS). Split the document; nothing is truncated.",
            {"limit_chars": max_chars, "chars": len(request.text)},
        )
    labels = tuple(dict.fromkeys(request.labels)) if request.labels is not None else None
    return DocumentRequest(request.text, request.format, request.id, labels, request.explain)


def validate_document(raw: Any, max_chars: int) -> DocumentRequest:
    """Validate one batch member; raises a ServiceError describing what is wrong with it."""
    try:
        return to_document(ScoreRequest.model_validate(raw), max_chars)
    except ValidationError as exc:
        raise InvalidInput("the document does not match the schema", validation_details(exc.errors())) from exc


def identifier_of(raw: Any) -> str | None:
    if isinstance(raw, dict) and isinstance(raw.get("id"), str):
        return str(raw["id"])[:256]
    return None


def error_item(raw: Any, error: ServiceError) -> dict[str, Any]:
    return {"id": identifier_of(raw), **error.body()}


def dumps(body: Any) -> bytes:
    """orjson, falling back to the stdlib for text orjson refuses (lone surrogates)."""
    try:
        return orjson.dumps(body)
    except TypeError:
        import json

        return json.dumps(body, ensure_ascii=True).encode()

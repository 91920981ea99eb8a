"""POST /score and POST /score/batch (JSON and NDJSON)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import orjson
from fastapi import APIRouter, Depends, Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from app.api.deps import ServicesDep, require_api_key
from app.api.documents import dumps, error_item, to_document, validate_document
from app.config import Settings
from app.errors import InvalidInput, MalformedRequest, PayloadTooLarge, ServiceError, UnsupportedMediaType
from app.limits import NDJSON_TYPES
from app.observability import Metrics
from app.runtime import Runtime
from app.schemas import BatchResponse, ErrorResponse, ScoreRequest, ScoreResponse
from app.scoring import DocumentRequest, Scorer

__all__ = ["router"]

# Not strict about a missing Content-Type: both endpoints read a body without one as JSON (see _require_json).
router = APIRouter(tags=["scoring"], dependencies=[Depends(require_api_key)], strict_content_type=False)

_ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorResponse, "description": description}
    for status, description in {
        400: "Malformed JSON",
        401: "Missing or invalid API key",
        413: "A document or the request is over the size limit",
        415: "Unsupported content type",
        422: "Invalid request",
        503: "The model is not loaded",
    }.items()
}
_JSON_TYPES = ("application/json", "")  # no Content-Type at all is read as JSON
_NDJSON_CHUNK = 64  # documents scored per model call when streaming


class JSONBytes(Response):
    media_type = "application/json"


class InterleavedStream(Response):
    """Streams a body that is produced while the request body is still being read.

    Starlette's StreamingResponse listens for client disconnects by calling ``receive()``
    concurrently, which would swallow the request-body messages this stream is reading.
    """

    media_type = "application/x-ndjson"

    def __init__(self, chunks: AsyncIterator[bytes]) -> None:
        self.status_code = 200
        self.background = None
        # No content-length: the length is unknown until the request body has been read.
        self.raw_headers = [(b"content-type", self.media_type.encode())]
        self.chunks = chunks

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers})
        async for chunk in self.chunks:
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})


def _content_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";")[0].strip().lower()


async def _require_json(request: Request) -> None:
    """A body that is not JSON is a 415 that says so, not a 422 about the body's shape."""
    content_type = _content_type(request)
    if content_type not in _JSON_TYPES:
        raise UnsupportedMediaType(
            f"content type {content_type!r} is not supported; send application/json"
            + (" or application/x-ndjson" if request.url.path.endswith("/batch") else "")
        )


@router.post(
    "/score",
    response_model=ScoreResponse,
    responses=_ERRORS,
    dependencies=[Depends(_require_json)],
    summary="Score one document",
)
async def score(body: ScoreRequest, services: ServicesDep) -> Response:
    """Split the document into sentences and return the flags of each, with explanations."""
    settings, runtime, metrics = services
    document = to_document(body, settings.max_document_chars)
    scorer = runtime.scorer()
    inline = False
    if len(document.text) <= settings.inline_max_chars:
        # On the event loop only while no other request waits for it, so that under load health checks keep
        # answering. Yielding once first lets requests that arrived with this one begin, and so be counted.
        await asyncio.sleep(0)
        inline = metrics.in_flight <= 1
    result = await runtime.run(scorer.score, document, inline=inline)
    metrics.observe_documents([result])
    return JSONBytes(dumps(result))


_BATCH_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "required": ["documents"],
                    "additionalProperties": False,
                    "properties": {
                        "documents": {
                            "type": "array",
                            # Any value is accepted: one that is not a valid ScoreRequest gets an error item
                            # in its place, so the schema must not claim such a batch is refused.
                            "items": {
                                "anyOf": [
                                    {"$ref": "#/components/schemas/ScoreRequest"},
                                    {"description": "Anything else: answered by an error item in its place"},
                                ]
                            },
                            "description": "Up to CLAIMSCAN_MAX_BATCH_DOCUMENTS (1,000 by default) documents, "
                            "each a ScoreRequest",
                        }
                    },
                }
            },
            "application/x-ndjson": {
                "schema": {
                    "type": "string",
                    "description": "One ScoreRequest JSON object per line, any number",
                }
            },
        },
    }
}


@router.post(
    "/score/batch",
    response_model=BatchResponse,
    responses={
        **_ERRORS,
        200: {
            "description": "One result per document, in input order; NDJSON in gives NDJSON out",
            "content": {"application/x-ndjson": {"schema": {"type": "string"}}},
        },
    },
    openapi_extra=_BATCH_BODY,
    summary="Score many documents",
)
async def score_batch(request: Request, services: ServicesDep) -> Response:
    """Score a JSON list of documents, or stream an NDJSON file line by line. A bad document
    yields an error item in its place and never fails the others."""
    settings, runtime, metrics = services
    scorer = runtime.scorer()
    if _content_type(request) in NDJSON_TYPES:
        return InterleavedStream(_stream_ndjson(request, runtime, scorer, settings, metrics))
    await _require_json(request)
    documents = _batch_documents(await request.body(), settings.max_batch_documents)
    encoded: list[bytes] = [b""] * len(documents)
    valid: list[tuple[int, DocumentRequest]] = []
    for position, raw in enumerate(documents):
        try:
            valid.append((position, validate_document(raw, settings.max_document_chars)))
        except ServiceError as error:
            encoded[position] = dumps(error_item(raw, error))
    scored = await runtime.run(_encode_scored, scorer, [document for _, document in valid], metrics)
    for (position, _), body in zip(valid, scored, strict=True):
        encoded[position] = body
    return JSONBytes(b'{"results":[' + b",".join(encoded) + b"]}")


def _encode_scored(scorer: Scorer, documents: list[DocumentRequest], metrics: Metrics) -> list[bytes]:
    """Score and encode, one group at a time, so a large batch's response dicts never all coexist."""
    encoded = []
    for body in scorer.score_iter(documents):
        metrics.observe_documents([body])
        encoded.append(dumps(body))
    return encoded


def _batch_documents(raw: bytes, limit: int) -> list[Any]:
    try:
        payload = orjson.loads(raw)
    except orjson.JSONDecodeError:
        try:  # orjson refuses lone surrogates that the JSON standard allows as escapes
            payload = json.loads(raw)
        except (ValueError, RecursionError) as exc:
            raise MalformedRequest("the request body is not valid JSON") from exc
    if not isinstance(payload, dict) or not isinstance(payload.get("documents"), list):
        raise InvalidInput("the body must be an object with a 'documents' list", {"loc": ["body", "documents"]})
    extra = sorted(set(payload) - {"documents"})
    if extra:
        raise InvalidInput(f"unknown field(s): {', '.join(extra)}", {"loc": ["body", *extra]})
    documents: list[Any] = payload["documents"]
    if len(documents) > limit:
        raise PayloadTooLarge(
            f"the batch has {len(documents):,} documents; the limit is {limit:,} (CLAIMSCAN_MAX_BATCH_DOCUMENTS). "
            "Use application/x-ndjson to stream any number.",
            {"limit_documents": limit, "documents": len(documents)},
        )
    return documents


async def _lines(request: Request, max_line_bytes: int) -> AsyncIterator[tuple[int, bytes | ServiceError]]:
    """Numbered lines of the body, as they arrive. A line longer than the limit becomes an error as soon as it
    is seen to be too long, wherever the chunks happen to split, and the rest of it is skipped unread."""
    number = 0
    pieces: list[bytes] = []  # the current line so far
    size = 0
    skipping = False  # the current line was already reported as too long
    async for chunk in request.stream():
        start = 0
        while start < len(chunk):
            newline = chunk.find(b"\n", start)
            end = len(chunk) if newline == -1 else newline
            if not skipping:
                pieces.append(chunk[start:end])
                size += end - start
                if size > max_line_bytes:
                    number += 1
                    yield (
                        number,
                        PayloadTooLarge(
                            f"line {number} is longer than {max_line_bytes:,} bytes (CLAIMSCAN_MAX_REQUEST_BYTES)",
                            {"line": number, "limit_bytes": max_line_bytes},
                        ),
                    )
                    pieces, size, skipping = [], 0, True
            if newline == -1:
                break
            if not skipping:
                number += 1
                yield number, b"".join(pieces)
            pieces, size, skipping = [], 0, False
            start = newline + 1
    if pieces:
        yield number + 1, b"".join(pieces)


def _parse_line(number: int, line: bytes, max_chars: int) -> tuple[Any, DocumentRequest | ServiceError]:
    try:
        raw = orjson.loads(line)
    except orjson.JSONDecodeError:
        try:
            raw = json.loads(line)
        except (ValueError, RecursionError):
            return None, MalformedRequest(f"line {number} is not valid JSON", {"line": number})
    try:
        return raw, validate_document(raw, max_chars)
    except ServiceError as error:
        error.details = {"line": number, "errors": error.details}
        error.message = f"line {number}: {error.message}"
        return raw, error


async def _stream_ndjson(
    request: Request, runtime: Runtime, scorer: Scorer, settings: Settings, metrics: Any
) -> AsyncIterator[bytes]:
    max_chars, max_line_bytes = settings.max_document_chars, settings.max_request_bytes
    pending: list[tuple[Any, DocumentRequest | ServiceError]] = []

    async def flush() -> AsyncIterator[bytes]:
        documents = [item for _, item in pending if isinstance(item, DocumentRequest)]
        scored = await runtime.run(scorer.score_many, documents)
        bodies = iter(scored)
        out = [
            dumps(next(bodies) if isinstance(item, DocumentRequest) else error_item(raw, item)) for raw, item in pending
        ]
        metrics.observe_documents(scored)
        pending.clear()
        yield b"\n".join(out) + b"\n"

    async for number, line in _lines(request, max_line_bytes):
        if isinstance(line, ServiceError):
            pending.append((None, line))
        elif line.strip():
            pending.append(_parse_line(number, line, max_chars))
        else:
            continue
        if len(pending) >= _NDJSON_CHUNK:
            async for out in flush():
                yield out
    if pending:
        async for out in flush():
            yield out

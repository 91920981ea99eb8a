"""Request body limits, enforced while the body streams in (a pure ASGI middleware).

A body past the limit is refused with 413 as soon as it is seen to be too large,
whether the client declared its length or not; nothing is read into memory first.
NDJSON batches stream by design, so they are limited per line instead (see app.api.batch).
"""

from __future__ import annotations

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.errors import PayloadTooLarge

__all__ = ["BodyLimitMiddleware"]

NDJSON_TYPES = ("application/x-ndjson", "application/jsonl", "application/json-lines")


class BodyLimitMiddleware:
    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or _is_ndjson(scope):
            await self.app(scope, receive, send)
            return
        declared = _header(scope, b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            # Outside the app's exception handling, so answer here, in the same error shape.
            error = PayloadTooLarge(self._message(), {"limit_bytes": self.max_bytes})
            await JSONResponse(error.body(), status_code=error.status_code)(scope, receive, send)
            return
        seen = 0

        async def limited_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise PayloadTooLarge(self._message(), {"limit_bytes": self.max_bytes})
            return message

        await self.app(scope, limited_receive, send)

    def _message(self) -> str:
        return f"request body is larger than the limit of {self.max_bytes:,} bytes (CLAIMSCAN_MAX_REQUEST_BYTES)"


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key == name:
            return str(value.decode("latin-1"))
    return None


def _is_ndjson(scope: Scope) -> bool:
    content_type = (_header(scope, b"content-type") or "").split(";")[0].strip().lower()
    return content_type in NDJSON_TYPES

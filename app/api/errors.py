"""The one place exceptions become HTTP responses, all in the shape
``{"error": {"code", "message", "details"}}``."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import JSONResponse, Response

from app.errors import MalformedRequest, MethodNotAllowed, NotFound, ServiceError

__all__ = ["error_response", "install_error_handlers", "validation_details"]

logger = logging.getLogger("claimscan")


def error_response(error: ServiceError, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(error.body(), status_code=error.status_code, headers=headers)


def validation_details(errors: Any) -> list[dict[str, Any]]:
    """Pydantic errors without echoing the submitted input back (it may be confidential)."""
    return [
        {
            "loc": [str(part) for part in error.get("loc", ())],
            "msg": error.get("msg", ""),
            "type": error.get("type"),
        }
        for error in errors
    ]


async def _service_error(request: Request, exc: Exception) -> Response:  # noqa: ARG001
    assert isinstance(exc, ServiceError)
    headers = {"WWW-Authenticate": "Bearer"} if exc.status_code == 401 else None
    return error_response(exc, headers)


async def _validation_error(request: Request, exc: Exception) -> Response:  # noqa: ARG001
    assert isinstance(exc, RequestValidationError)
    details = validation_details(exc.errors())
    if any(d["type"] == "json_invalid" for d in details):
        return error_response(MalformedRequest("the request body is not valid JSON", details))
    from app.errors import InvalidInput

    return error_response(InvalidInput("the request does not match the schema", details))


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code == 400:
        if isinstance(exc.__cause__, ServiceError):  # raised while FastAPI read the body (the streaming size limit)
            return error_response(exc.__cause__)
        # FastAPI could not decode the body: not UTF-8, or nested too deeply to decode.
        return error_response(MalformedRequest("the request body is not valid JSON", {"reason": str(exc.detail)}))
    if exc.status_code == 404:
        return error_response(NotFound(f"no route for {request.url.path}"))
    if exc.status_code == 405:
        allowed = (exc.headers or {}).get("Allow")
        return error_response(MethodNotAllowed(f"{request.method} is not allowed here"), {"Allow": allowed or ""})
    body = {"error": {"code": f"http_{exc.status_code}", "message": str(exc.detail), "details": None}}
    return JSONResponse(body, status_code=exc.status_code, headers=exc.headers)


async def _unexpected(request: Request, exc: Exception) -> Response:
    logger.exception("unhandled error on %s", request.url.path, exc_info=exc)
    body = {"error": {"code": "internal_error", "message": "internal server error", "details": None}}
    return JSONResponse(body, status_code=500)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(ServiceError, _service_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)

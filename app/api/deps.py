"""Dependencies as ``Annotated`` aliases (the runtime, the metrics, or settings, runtime and metrics at
once) and the API-key check.

All are ``async def``: none blocks, and FastAPI runs a plain ``def`` dependency in the thread
pool, one thread hop per dependency per request.
"""

from __future__ import annotations

import hmac
from typing import Annotated, NamedTuple

from fastapi import Depends, Request

from app.config import Settings
from app.errors import Unauthorized
from app.observability import Metrics
from app.runtime import Runtime

__all__ = ["MetricsDep", "RuntimeDep", "Services", "ServicesDep", "require_api_key"]


async def get_runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


async def get_metrics(request: Request) -> Metrics:
    metrics: Metrics = request.app.state.metrics
    return metrics


class Services(NamedTuple):
    """What the scoring and reload endpoints read from the app, as one dependency: FastAPI resolves
    every dependency of every request anew, and one instead of three saved /score 30 us a request."""

    settings: Settings
    runtime: Runtime
    metrics: Metrics


async def get_services(request: Request) -> Services:
    state = request.app.state
    return Services(state.settings, state.runtime, state.metrics)


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]
MetricsDep = Annotated[Metrics, Depends(get_metrics)]
ServicesDep = Annotated[Services, Depends(get_services)]


def _presented_key(request: Request) -> str | None:
    authorization = request.headers.get("authorization", "")
    scheme, _, credentials = authorization.partition(" ")
    if scheme.lower() == "bearer" and credentials.strip():
        return credentials.strip()
    return request.headers.get("x-api-key")


async def require_api_key(request: Request) -> None:
    """When API keys are configured, the request must present one of them."""
    settings: Settings = request.app.state.settings
    if not settings.api_keys:
        return
    presented = _presented_key(request)
    if presented is None:
        raise Unauthorized("an API key is required: send 'Authorization: Bearer KEY' or 'X-API-Key: KEY'")
    # Compare against every key, in constant time each, so timing reveals nothing about which matched.
    matched = False
    for key in settings.api_keys:
        matched |= hmac.compare_digest(presented.encode(), key.encode())
    if not matched:
        raise Unauthorized("the API key is not valid")

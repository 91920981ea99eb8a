"""Dependencies as ``Annotated`` aliases: settings, the runtime, and API-key checks.

All are ``async def``: none blocks, and FastAPI runs a plain ``def`` dependency in the thread
pool, one thread hop per dependency per request.
"""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, Request

from app.config import Settings
from app.errors import Unauthorized
from app.observability import Metrics
from app.runtime import Runtime

__all__ = ["MetricsDep", "RuntimeDep", "SettingsDep", "require_api_key"]


async def get_settings_from_app(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def get_runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


async def get_metrics(request: Request) -> Metrics:
    metrics: Metrics = request.app.state.metrics
    return metrics


SettingsDep = Annotated[Settings, Depends(get_settings_from_app)]
RuntimeDep = Annotated[Runtime, Depends(get_runtime)]
MetricsDep = Annotated[Metrics, Depends(get_metrics)]


def _presented_key(request: Request) -> str | None:
    authorization = request.headers.get("authorization", "")
    scheme, _, credentials = authorization.partition(" ")
    if scheme.lower() == "bearer" and credentials.strip():
        return credentials.strip()
    return request.headers.get("x-api-key")


async def require_api_key(request: Request, settings: SettingsDep) -> None:
    """When API keys are configured, the request must present one of them."""
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

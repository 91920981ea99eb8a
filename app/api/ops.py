"""Operations: liveness, readiness, metrics and model reload."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.concurrency import run_in_threadpool
from starlette.responses import JSONResponse, Response

from app.api.deps import MetricsDep, RuntimeDep, ServicesDep, require_api_key
from app.errors import ArtifactError, InvalidInput, ModelNotReady, Unauthorized
from app.schemas import ErrorResponse, HealthResponse, ReadyResponse, ReloadResponse
from app.serve import reload_every_worker

__all__ = ["router"]

router = APIRouter(tags=["operations"])


@router.get("/healthz", response_model=HealthResponse, summary="Liveness")
async def healthz() -> HealthResponse:
    """Answers as long as the process serves HTTP; does no work."""
    return HealthResponse(status="ok")


@router.get(
    "/readyz",
    response_model=ReadyResponse,
    responses={503: {"model": ErrorResponse, "description": "No model loaded, or shutting down"}},
    summary="Readiness",
)
async def readyz(runtime: RuntimeDep) -> Response:
    """200 with the model version once a model is loaded; 503 before that and while draining."""
    if not runtime.ready:
        error = ModelNotReady("shutting down" if runtime.draining else "the model is not loaded yet")
        return JSONResponse(error.body(), status_code=error.status_code)
    return JSONResponse({"status": "ready", "model_version": runtime.current().loaded.version})


@router.get(
    "/metrics",
    dependencies=[Depends(require_api_key)],
    response_class=Response,
    responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}, "description": "Prometheus text"}},
    summary="Prometheus metrics",
)
async def metrics(metrics: MetricsDep) -> Response:
    """Requests and latency by route and status, documents, sentences and flags scored, model version.

    Under `claimscan serve --workers N` every worker answers with the totals of all workers."""
    return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)


@router.post(
    "/admin/reload",
    dependencies=[Depends(require_api_key)],
    response_model=ReloadResponse,
    responses={
        401: {"model": ErrorResponse, "description": "Reload needs an API key"},
        422: {
            "model": ErrorResponse,
            "description": "The new model failed its checks; the old one still serves",
        },
    },
    summary="Reload the model",
)
async def reload(services: ServicesDep) -> ReloadResponse:
    """Load the model `models/current` names now and swap it in; in-flight requests finish on the old one.

    The answer is the receiving worker's. Under `claimscan serve --workers N`, once that worker has
    reloaded, every worker (that one again too) reloads in the background as on SIGHUP; a failure
    there is logged by that worker, which keeps its old model."""
    settings, runtime, metrics = services
    if not settings.api_keys:
        raise Unauthorized("reloading over HTTP requires CLAIMSCAN_API_KEYS to be set; send SIGHUP instead")
    try:
        previous, current = await run_in_threadpool(runtime.reload)
    except ArtifactError as exc:
        raise InvalidInput(f"reload failed, still serving the previous model: {exc}") from exc
    metrics.set_model(current)
    reload_every_worker()
    return ReloadResponse(status="reloaded", model_version=current, previous_version=previous)

"""Assemble the FastAPI app: settings, lifespan (taxonomy and model), middleware, routes."""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress

from fastapi import FastAPI
from fastapi.routing import APIRoute
from starlette.middleware.cors import CORSMiddleware

from app import __version__
from app.api import meta, ops, scoring
from app.api.errors import install_error_handlers
from app.config import Settings, get_settings
from app.errors import ArtifactError
from app.limits import BodyLimitMiddleware
from app.observability import AccessLogMiddleware, Metrics, configure_logging
from app.runtime import Runtime
from app.serve import hangup_while_starting
from app.taxonomy import load_taxonomy

__all__ = ["app", "create_app"]

logger = logging.getLogger("claimscan")


def _operation_id(route: APIRoute) -> str:
    return f"{route.tags[0]}-{route.name}" if route.tags else route.name


def _install_reload_signal(app: FastAPI) -> None:
    """SIGHUP reloads the model; a failed reload is logged and the old model keeps serving."""

    def on_hangup() -> None:
        async def reload() -> None:
            with suppress(ArtifactError):  # already logged by Runtime.reload
                _, version = await asyncio.to_thread(app.state.runtime.reload)
                app.state.metrics.set_model(version)

        app.state.reload_task = asyncio.ensure_future(reload())

    with suppress(NotImplementedError, RuntimeError, ValueError):  # not on the main thread, or no signals
        asyncio.get_running_loop().add_signal_handler(signal.SIGHUP, on_hangup)
    if hangup_while_starting():  # asked for while the model loaded, which may have read the old models/current
        on_hangup()


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    settings: Settings = app.state.settings
    configure_logging(settings.log_level, settings.log_format)
    runtime = Runtime(settings.model_dir, load_taxonomy(settings.taxonomy_path))
    loaded = runtime.load()  # refuses to start on a model that fails its manifest checks
    app.state.runtime = runtime
    app.state.metrics.set_model(loaded.version)
    _install_reload_signal(app)
    try:
        yield
    finally:
        runtime.draining = True
        runtime.close()
        with suppress(NotImplementedError, RuntimeError, ValueError):
            asyncio.get_running_loop().remove_signal_handler(signal.SIGHUP)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    app = FastAPI(
        title="claimscan",
        version=__version__,
        summary="Flags compliance risks in health-marketing copy, sentence by sentence, with explanations.",
        lifespan=lifespan,
        generate_unique_id_function=_operation_id,
    )
    app.state.settings = settings
    app.state.metrics = Metrics()
    app.state.runtime = None
    install_error_handlers(app)
    app.include_router(scoring.router)
    app.include_router(meta.router)
    app.include_router(ops.router)
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_request_bytes)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST"],
            allow_headers=["Authorization", "Content-Type", "X-API-Key", "X-Request-ID"],
            expose_headers=["X-Request-ID"],
        )
    app.add_middleware(AccessLogMiddleware, metrics=app.state.metrics)
    return app


app = create_app()

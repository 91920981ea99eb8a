"""Prometheus metrics and structured access logs with request ids.

Access logs carry method, path, status, duration and request id: never the request body,
headers or API keys, so confidential drafts never reach the logs.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import time
import uuid
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app import workermetrics

__all__ = ["AccessLogMiddleware", "Metrics", "configure_logging"]

_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
access_logger = logging.getLogger("claimscan.access")


class Metrics:
    """Request, scoring and model metrics for one app.

    Alone in its process (one worker, and the many apps tests build) an app keeps its metrics in a
    registry of its own, so apps never share values. Under the multi-worker supervisor every worker
    writes to the shared files of ``app/workermetrics.py`` and a scrape reports the sum of all workers.
    """

    def __init__(self) -> None:
        self.shared = workermetrics.shared_by_workers()
        home: CollectorRegistry | None
        if self.shared:
            # File-backed values reach a scrape through their files; registering them too would count them twice.
            self.registry, home = workermetrics.scrape_registry(), None
        else:
            self.registry = home = CollectorRegistry()
        self._model_version: str | None = None
        # HTTP requests this worker is serving now (this process only; not exported): a short /score
        # is scored on the event loop only while it is the one request (see app/api/scoring.py).
        self.in_flight = 0
        self.requests = Counter("claimscan_requests", "HTTP requests", ["route", "method", "status"], registry=home)
        self.latency = Histogram(
            "claimscan_request_seconds",
            "HTTP request latency",
            ["route", "method"],
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            registry=home,
        )
        self.documents = Counter("claimscan_documents_scored", "Documents scored", registry=home)
        self.sentences = Counter("claimscan_sentences_scored", "Sentences scored", registry=home)
        self.flags = Counter("claimscan_flags_raised", "Flags raised", ["label"], registry=home)
        # Summed over live workers, the value is how many workers serve each version: 1 with one worker,
        # and a split shows a reload still under way, or one that failed in some worker. "live" drops an
        # exited worker's share (the supervisor tells prometheus_client which pid exited).
        self.model_info = Gauge(
            "claimscan_model_info",
            "Worker processes serving each model version (1 with a single worker)",
            ["version"],
            registry=home,
            multiprocess_mode="livesum",
        )

    def observe_documents(self, bodies: list[dict[str, Any]]) -> None:
        self.documents.inc(len(bodies))
        sentences = 0
        per_label: dict[str, int] = {}
        for body in bodies:
            summary = body["summary"]
            sentences += summary["sentences"]
            for label, count in summary["counts"].items():
                per_label[label] = per_label.get(label, 0) + count
        self.sentences.inc(sentences)
        for label, count in per_label.items():
            if count:
                self.flags.labels(label=label).inc(count)

    def set_model(self, version: str) -> None:
        previous, self._model_version = self._model_version, version
        if previous is not None and previous != version:
            if self.shared:  # a series cannot be deleted from the shared files: 0 says this worker left it
                self.model_info.labels(version=previous).set(0)
            else:
                self.model_info.remove(previous)
        self.model_info.labels(version=version).set(1)


class _JsonFormatter(logging.Formatter):
    _standard = frozenset(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {"message", "asctime"}

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": self.formatTime(record, "%Y-%m-%dT%H:%M:%S"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry.update({k: v for k, v in record.__dict__.items() if k not in self._standard})
        return json.dumps(entry, default=str)


def configure_logging(level: str, fmt: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_JsonFormatter() if fmt == "json" else logging.Formatter("%(levelname)s %(name)s %(message)s"))
    root = logging.getLogger("claimscan")
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    root.propagate = False


class AccessLogMiddleware:
    """One log line and one metrics observation per request; request id in and out."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = _incoming_request_id(scope) or uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id
        started = time.perf_counter()
        status = 500
        self.metrics.in_flight += 1

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", []), (b"x-request-id", request_id.encode())]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            self.metrics.in_flight -= 1
            elapsed = time.perf_counter() - started
            route = _route_of(scope)
            self.metrics.requests.labels(route=route, method=scope["method"], status=str(status)).inc()
            self.metrics.latency.labels(route=route, method=scope["method"]).observe(elapsed)
            access_logger.info(
                "request",
                extra={
                    "request_id": request_id,
                    "method": scope["method"],
                    "path": scope["path"],
                    "route": route,
                    "status": status,
                    "duration_ms": round(elapsed * 1000, 3),
                },
            )


def _incoming_request_id(scope: Scope) -> str | None:
    for key, value in scope.get("headers", []):
        if key == b"x-request-id":
            candidate = value.decode("latin-1")
            return candidate if _REQUEST_ID.fullmatch(candidate) else None
    return None


def _route_of(scope: Scope) -> str:
    """The route template, so metrics have bounded label values even for unknown paths."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    return str(path) if path else "unmatched"

"""app/observability.py: Metrics kept in memory, one registry per app (the multi-worker files are
tested in tests/test_workermetrics.py)."""

from __future__ import annotations

from prometheus_client import generate_latest

from app.observability import Metrics
from tests.scrape import score_requests


def test_apps_in_one_process_never_share_values() -> None:
    first, second = Metrics(), Metrics()
    assert not first.shared
    first.requests.labels(route="/score", method="POST", status="200").inc(5)
    second.requests.labels(route="/score", method="POST", status="200").inc(2)
    assert score_requests(generate_latest(first.registry).decode()) == 5
    assert score_requests(generate_latest(second.registry).decode()) == 2


def test_a_reloaded_model_replaces_the_version_it_follows() -> None:
    metrics = Metrics()
    metrics.set_model("v1")
    metrics.set_model("v2")
    metrics.set_model("v2")  # reloading the same model
    text = generate_latest(metrics.registry).decode()
    assert 'claimscan_model_info{version="v2"} 1.0' in text
    assert 'version="v1"' not in text


def test_requests_in_flight_count_back_to_zero_whatever_the_outcome() -> None:
    from tests.conftest import make_client

    with make_client() as client:
        metrics = client.app.state.metrics  # type: ignore[attr-defined]
        outcomes = [
            client.post("/score", json={"text": "Cures everything."}).status_code,
            client.post("/score", json={"text": ""}).status_code,  # refused by validation
            client.post("/score", content=b"{", headers={"content-type": "application/json"}).status_code,
            client.get("/no-such-page").status_code,
            client.get("/healthz").status_code,
        ]
        assert outcomes == [200, 422, 400, 404, 200]
        assert metrics.in_flight == 0

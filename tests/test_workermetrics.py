"""app/workermetrics.py: the shared metrics directory's lifetime, and prometheus_client's multiprocess
mode as claimscan's Metrics use it.

prometheus_client chooses file-backed values when it is first imported, so the "workers" here are
fresh Python processes started with the directory in their environment; the test process itself
only reads their files, as the worker answering a scrape does.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from prometheus_client import generate_latest

from app.observability import Metrics
from app.workermetrics import DIRECTORY_VARIABLE, forget_worker, scrape_registry, shared_directory
from tests.scrape import metric_names, sample_value, score_requests
from tests.servers import ROOT

_BODY = {"summary": {"sentences": 3, "counts": {"overstated_efficacy": 2, "regulatory_claim": 0}}}

# One worker's life: the models it loads in turn, then some /score requests and one scored document.
_WORKER = """
import json, os, sys
from app.observability import Metrics
metrics = Metrics()
assert metrics.shared, "the directory was in the environment before prometheus_client was imported"
for version in sys.argv[1].split(","):
    metrics.set_model(version)
metrics.requests.labels(route="/score", method="POST", status="200").inc(int(sys.argv[2]))
metrics.latency.labels(route="/score", method="POST").observe(0.004)
metrics.observe_documents([json.loads(sys.argv[3])])
print(os.getpid())
"""


def run_worker(directory: Path, versions: str, requests: int) -> int:
    """Run one short-lived worker writing to ``directory``; its pid."""
    result = subprocess.run(
        [sys.executable, "-c", _WORKER, versions, str(requests), json.dumps(_BODY)],
        cwd=ROOT,
        env={**os.environ, DIRECTORY_VARIABLE: str(directory)},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return int(result.stdout)


def scrape(directory: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv(DIRECTORY_VARIABLE, str(directory))
    return generate_latest(scrape_registry()).decode()


def model_info(text: str, version: str) -> float | None:
    return sample_value(text, "claimscan_model_info", version=version)


def test_a_scrape_adds_up_every_workers_counts_and_an_exited_worker_leaves_only_its_model(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    reloaded = run_worker(tmp_path, "v1,v2", requests=3)
    stayed = run_worker(tmp_path, "v1", requests=4)

    text = scrape(tmp_path, monkeypatch)
    assert score_requests(text) == 7
    assert sample_value(text, "claimscan_request_seconds_count", route="/score", method="POST") == 2
    assert sample_value(text, "claimscan_documents_scored_total") == 2
    assert sample_value(text, "claimscan_sentences_scored_total") == 6
    assert sample_value(text, "claimscan_flags_raised_total", label="overstated_efficacy") == 4
    assert model_info(text, "v1") == 1  # one worker serves v1; the other left it for v2
    assert model_info(text, "v2") == 1

    forget_worker(stayed)
    text = scrape(tmp_path, monkeypatch)
    assert score_requests(text) == 7  # a worker's counts outlive it: totals never go back
    assert model_info(text, "v1") == 0
    assert model_info(text, "v2") == 1

    forget_worker(reloaded)
    text = scrape(tmp_path, monkeypatch)
    assert score_requests(text) == 7
    assert model_info(text, "v1") is None
    assert model_info(text, "v2") is None


def test_the_shared_scrape_names_the_same_metrics_as_a_single_worker(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run_worker(tmp_path, "v1", requests=1)
    shared = scrape(tmp_path, monkeypatch)
    monkeypatch.delenv(DIRECTORY_VARIABLE)
    alone = Metrics()
    alone.set_model("v1")
    alone.requests.labels(route="/score", method="POST", status="200").inc()
    alone.latency.labels(route="/score", method="POST").observe(0.004)
    alone.observe_documents([_BODY])
    in_memory = generate_latest(alone.registry).decode()
    names = {
        "claimscan_requests",
        "claimscan_request_seconds",
        "claimscan_documents_scored",
        "claimscan_sentences_scored",
        "claimscan_flags_raised",
        "claimscan_model_info",
    }
    assert metric_names(shared) == names
    # Only the in-memory registry adds the *_created timestamps, which multiprocess mode does not keep.
    assert {name for name in metric_names(in_memory) if not name.endswith("_created")} == names


def test_metrics_refuse_a_directory_set_after_prometheus_client_was_imported(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(DIRECTORY_VARIABLE, str(tmp_path))
    with pytest.raises(RuntimeError, match="set after prometheus_client was imported"):
        Metrics()


def test_a_private_directory_is_exported_for_the_run_and_removed_after_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(DIRECTORY_VARIABLE, raising=False)
    with pytest.raises(KeyboardInterrupt), shared_directory() as directory:
        assert directory.is_dir()
        assert os.environ[DIRECTORY_VARIABLE] == str(directory)
        (directory / "counter_1.db").write_bytes(b"\0" * 8)
        raise KeyboardInterrupt  # however the supervisor ends
    assert not directory.exists()
    assert DIRECTORY_VARIABLE not in os.environ


def test_an_operators_directory_is_used_and_kept(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    given = tmp_path / "metrics"  # not there yet: made for the operator
    monkeypatch.setenv(DIRECTORY_VARIABLE, str(given))
    with shared_directory() as directory:
        assert directory == given
        assert directory.is_dir()
        (directory / "counter_1.db").write_bytes(b"\0" * 8)
    assert (given / "counter_1.db").exists()
    assert os.environ[DIRECTORY_VARIABLE] == str(given)

"""Real servers in subprocesses: refusing a bad model at start-up, SIGHUP and HTTP reloads,
API keys kept out of the logs, and a graceful SIGTERM.

Each test starts its own server (tests/servers.py) on a free loopback port over a private copy
of models/, so it can repoint ``current``; every process is killed in a ``finally`` block.
"""

from __future__ import annotations

import json
import secrets
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

import app.main
from app.runtime import Runtime
from app.serve import defer_hangups_until_started, hangup_while_starting
from tests.conftest import make_client
from tests.servers import (
    DEADLINE,
    DOCUMENT,
    ROOT,
    add_version,
    claimscan_serve_command,
    free_port,
    point_current,
    server_env,
    serving,
    uvicorn_command,
    wait_until,
)


def test_server_refuses_to_start_when_the_model_checksum_does_not_match(models_dir: Path, version: str) -> None:
    model_path = models_dir / version / "model.joblib"
    data = bytearray(model_path.read_bytes())
    data[-100] ^= 0xFF
    model_path.write_bytes(bytes(data))
    port = free_port()
    # subprocess.run kills the server if it outlives the timeout.
    result = subprocess.run(
        uvicorn_command(port),
        cwd=ROOT,
        env=server_env(models_dir),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        timeout=DEADLINE,
        check=False,
    )
    stderr = result.stderr.decode("utf-8", errors="replace")
    assert result.returncode != 0, stderr
    assert str(model_path) in stderr
    assert "does not match the manifest" in stderr
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2)


@dataclass
class LoadGenerator:
    """Clients in threads posting /score until stopped; each result records the phase it started in."""

    url: str
    clients: int
    phase: int = 0
    results: list[tuple[int, str]] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _threads: list[threading.Thread] = field(default_factory=list)

    def start(self) -> None:
        self._threads = [threading.Thread(target=self._client, args=(n,)) for n in range(self.clients)]
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=DEADLINE)

    def count(self, phase: int) -> int:
        with self._lock:
            return sum(1 for started_in, _ in self.results if started_in == phase)

    def _client(self, number: int) -> None:
        with httpx.Client(base_url=self.url, timeout=30) as client:
            sent = 0
            while not self._stop.is_set():
                phase = self.phase
                sent += 1
                try:
                    response = client.post("/score", json={"id": f"c{number}-{sent}", "text": DOCUMENT})
                except httpx.HTTPError as exc:
                    with self._lock:
                        self.failures.append(f"client {number}: {exc!r}")
                    continue
                with self._lock:
                    if response.status_code == 200:
                        self.results.append((phase, response.json()["model_version"]))
                    else:
                        self.failures.append(f"client {number}: {response.status_code} {response.text[:200]}")


def test_sighup_swaps_the_model_under_concurrent_load_without_failing_a_request(
    tmp_path: Path, models_dir: Path, version: str
) -> None:
    new_version = "20990101-sighup-b"
    add_version(models_dir, version, new_version)
    with serving(tmp_path, models_dir) as server:
        assert server.version() == version
        load = LoadGenerator(server.url, clients=8)
        load.start()
        try:
            started = time.monotonic()
            wait_until(lambda: load.count(0) >= 16 and time.monotonic() - started > 1.5, "load on the old model")
            load.phase = 1  # from here requests may land on either model
            point_current(models_dir, new_version)
            server.process.send_signal(signal.SIGHUP)
            wait_until(lambda: server.version() == new_version, "/readyz to report the new model")
            load.phase = 2  # /readyz has reported the new model: every request started now must get it
            switched = time.monotonic()
            wait_until(lambda: load.count(2) >= 16 and time.monotonic() - switched > 1.5, "load on the new model")
        finally:
            load.stop()
        assert server.process.poll() is None, server.stderr()
        assert load.failures == []
        before = {v for phase, v in load.results if phase == 0}
        after = {v for phase, v in load.results if phase == 2}
        assert version in before
        assert before <= {version, new_version}
        assert after == {new_version}
        assert server.version() == new_version
        model = httpx.get(f"{server.url}/model", timeout=5).json()
        assert model["version"] == new_version


def test_a_failed_reload_keeps_the_old_model_serving(tmp_path: Path, models_dir: Path, version: str) -> None:
    broken = add_version(models_dir, version, "20990101-corrupt-c", corrupt=True)
    good = "20990101-good-c"
    add_version(models_dir, version, good)
    with serving(tmp_path, models_dir) as server:
        point_current(models_dir, broken.name)
        server.process.send_signal(signal.SIGHUP)
        server.wait_for_log("reload failed")
        assert str(broken / "model.joblib") in server.stderr()
        assert server.process.poll() is None
        assert server.version() == version
        response = httpx.post(f"{server.url}/score", json={"text": DOCUMENT}, timeout=30)
        assert response.status_code == 200
        assert response.json()["model_version"] == version
        assert response.json()["summary"]["sentences"] == 5

        # The failure leaves nothing stuck: the next good model loads on the next SIGHUP.
        point_current(models_dir, good)
        server.process.send_signal(signal.SIGHUP)
        wait_until(lambda: server.version() == good, "/readyz to report the good model")


def test_admin_reload_needs_an_api_key_and_keys_stay_out_of_the_logs(
    tmp_path: Path, models_dir: Path, version: str
) -> None:
    key = "cs-live-" + secrets.token_hex(16)
    wrong = "cs-wrong-" + secrets.token_hex(16)
    second, third = "20990101-admin-d2", "20990101-admin-d3"
    add_version(models_dir, version, second)
    add_version(models_dir, version, third)
    with serving(tmp_path, models_dir, CLAIMSCAN_API_KEYS=f"cs-other-key,{key}") as server:
        with httpx.Client(base_url=server.url, timeout=30) as client:
            # Probes stay open, so orchestrators need no key.
            assert client.get("/healthz").status_code == 200
            ready = client.get("/readyz")
            assert ready.status_code == 200
            assert ready.json()["model_version"] == version

            point_current(models_dir, second)
            refused = client.post("/admin/reload")
            assert refused.status_code == 401
            assert refused.json()["error"]["code"] == "unauthorized"
            assert refused.headers["www-authenticate"] == "Bearer"
            for headers in ({"Authorization": f"Bearer {wrong}"}, {"X-API-Key": wrong}, {"Authorization": key}):
                assert client.post("/admin/reload", headers=headers).status_code == 401
            assert client.post("/score", json={"text": DOCUMENT}).status_code == 401
            assert client.get("/readyz").json()["model_version"] == version  # nothing reloaded yet

            reloaded = client.post("/admin/reload", headers={"Authorization": f"Bearer {key}"})
            assert reloaded.status_code == 200
            assert reloaded.json() == {"status": "reloaded", "model_version": second, "previous_version": version}
            assert client.get("/readyz").json()["model_version"] == second

            point_current(models_dir, third)
            reloaded = client.post("/admin/reload", headers={"X-API-Key": key})
            assert reloaded.status_code == 200
            assert reloaded.json()["model_version"] == third
            assert reloaded.json()["previous_version"] == second
            scored = client.post("/score", json={"text": DOCUMENT}, headers={"X-API-Key": key})
            assert scored.status_code == 200
            assert scored.json()["model_version"] == third
        # The access log saw every request, and no key in any form.
        wait_until(lambda: server.requests_to("/score") == 2, "the access log of both /score requests")
        assert server.requests_to("/admin/reload") == 6
        logs = server.stderr() + server.stdout()
        assert key not in logs
        assert wrong not in logs
        assert "cs-other-key" not in logs


def test_sigterm_lets_requests_in_flight_finish_and_exits_0(tmp_path: Path, models_dir: Path) -> None:
    sentence = "Our clinic's cold laser therapy melts away joint pain in one short visit, guaranteed. "
    text = sentence * (90_000 // len(sentence))  # near the 100,000-character default limit
    body = json.dumps({"text": text, "explain": False}).encode()
    requests = 4
    halfway = [threading.Event() for _ in range(requests)]
    release = threading.Event()
    responses: list[httpx.Response | BaseException | None] = [None] * requests

    def held_body(number: int) -> Iterator[bytes]:
        """Send half the body, then hold the rest back until the server has been told to stop."""
        yield body[: len(body) // 2]
        halfway[number].set()
        release.wait(timeout=DEADLINE)
        yield body[len(body) // 2 :]

    def post(url: str, number: int) -> None:
        try:
            with httpx.Client(timeout=DEADLINE) as client:
                responses[number] = client.post(
                    f"{url}/score",
                    content=held_body(number),
                    headers={"Content-Type": "application/json", "X-Request-ID": f"slow-{number}"},
                )
        except httpx.HTTPError as exc:
            responses[number] = exc

    def refuses_connections(url: str) -> bool:
        try:
            httpx.get(f"{url}/healthz", timeout=5)
        except httpx.ConnectError:
            return True
        except httpx.TransportError:
            return False
        return False

    with serving(tmp_path, models_dir, command=claimscan_serve_command) as server:
        threads = [threading.Thread(target=post, args=(server.url, n)) for n in range(requests)]
        for thread in threads:
            thread.start()
        try:
            for event in halfway:
                assert event.wait(timeout=DEADLINE)
            # A request on a later connection that gets its answer: the server has taken in the
            # earlier connections and their headers, so those requests are in flight.
            assert httpx.get(f"{server.url}/healthz", timeout=DEADLINE).status_code == 200
            server.process.send_signal(signal.SIGTERM)
            wait_until(lambda: refuses_connections(server.url), "the server to stop accepting connections")
            assert server.process.poll() is None  # still draining: the requests have not finished
        finally:
            release.set()
            for thread in threads:
                thread.join(timeout=DEADLINE)
        for response in responses:
            assert isinstance(response, httpx.Response), repr(response)
            assert response.status_code == 200, response.text[:300]
            assert response.json()["summary"]["sentences"] == 90_000 // len(sentence)
        assert server.process.wait(timeout=DEADLINE) == 0, server.stderr()
        served = {entry["request_id"]: entry["status"] for entry in server.access_log()}
        assert all(served[f"slow-{number}"] == 200 for number in range(requests))


def test_a_sighup_that_comes_before_the_app_can_handle_it_is_kept_for_later() -> None:
    previous = signal.getsignal(signal.SIGHUP)
    try:
        defer_hangups_until_started()
        signal.raise_signal(signal.SIGHUP)  # by default, this would have ended the test run
        assert hangup_while_starting()
        assert not hangup_while_starting()  # asking clears it
    finally:
        signal.signal(signal.SIGHUP, previous)


def test_the_app_reloads_once_it_is_up_when_a_sighup_came_while_it_started(monkeypatch: pytest.MonkeyPatch) -> None:
    reloads: list[tuple[str, str]] = []
    original = Runtime.reload

    def counted(runtime: Runtime) -> tuple[str, str]:
        reloads.append(original(runtime))
        return reloads[-1]

    monkeypatch.setattr(Runtime, "reload", counted)
    monkeypatch.setattr(app.main, "hangup_while_starting", lambda: True)
    with make_client() as client:
        wait_until(lambda: bool(reloads), "the deferred reload")
        assert client.get("/readyz").json()["status"] == "ready"
    assert len(reloads) == 1
    assert reloads[0][0] == reloads[0][1]  # the same models/current: the same version again

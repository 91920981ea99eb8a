"""app/serve.py: several workers, each on its own SO_REUSEPORT socket, supervised by the parent.

The servers are real ``claimscan serve --workers 2`` processes (tests/servers.py)."""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
from http.client import HTTPConnection
from pathlib import Path

import httpx
import pytest

from app.serve import SUPERVISOR_VARIABLE, bind_reuse_port, reload_every_worker
from app.workermetrics import DIRECTORY_VARIABLE
from tests.scrape import sample_value, score_requests
from tests.servers import DEADLINE, DOCUMENT, Server, add_version, point_current, serving, wait_until

pytestmark = pytest.mark.skipif(
    not hasattr(socket, "SO_REUSEPORT") or not Path("/proc/net/tcp").exists(),
    reason="needs SO_REUSEPORT, and /proc to find the workers and their connections (Linux)",
)


def two_workers(port: int) -> list[str]:
    return [sys.executable, "-m", "app.cli", "serve", "--host", "127.0.0.1", "--port", str(port), "--workers", "2"]


def workers_of(server: Server) -> list[int]:
    """The worker processes: children of the supervisor that listen on the server's port."""
    port = int(server.url.rsplit(":", 1)[1])
    return [pid for pid in _children(server.process.pid) if _sockets(pid) & _tcp_inodes(port, state="0A")]


def _children(parent: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat[stat.rindex(")") + 2 :].split()[1]) == parent:
                found.append(int(entry.name))
    return found


def _sockets(pid: int) -> set[str]:
    inodes: set[str] = set()
    try:
        fds = list(Path(f"/proc/{pid}/fd").iterdir())
    except OSError:  # the process exited (or was reaped) after it was listed: it holds no sockets
        return inodes
    for fd in fds:
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    return inodes


def _tcp_inodes(port: int, state: str) -> set[str]:
    """Inodes of IPv4 TCP sockets on local ``port`` in ``state`` (01 established, 0A listening)."""
    inodes = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if int(fields[1].split(":")[1], 16) == port and fields[3] == state:
            inodes.add(fields[9])
    return inodes


def test_reuse_port_sockets_share_one_port_and_port_zero_picks_it_once() -> None:
    sockets = bind_reuse_port("127.0.0.1", 0, 3)
    try:
        ports = {sock.getsockname()[1] for sock in sockets}
        assert len(ports) == 1
        assert ports.pop() != 0
        assert all(sock.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT) for sock in sockets)
    finally:
        for sock in sockets:
            sock.close()


def test_a_port_taken_without_reuse_port_is_an_error_not_a_half_bound_server() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        with pytest.raises(OSError):
            bind_reuse_port("127.0.0.1", taken.getsockname()[1], 2)


def connect_to_the_workers(server: Server, count: int = 16) -> tuple[list[HTTPConnection], dict[int, int]]:
    """``count`` connections opened at once, and how many each worker accepted.

    On one shared socket the first worker to wake often takes them all; here each lands on a socket
    chosen by hash, so one worker getting all 16 is a 2 in 65,536 chance."""
    wait_until(lambda: len(workers_of(server)) == 2, "two workers listening")
    port = int(server.url.rsplit(":", 1)[1])
    workers = workers_of(server)
    connections = [HTTPConnection("127.0.0.1", port, timeout=30) for _ in range(count)]
    for connection in connections:
        connection.connect()

    def accepted() -> dict[int, int]:
        established = _tcp_inodes(port, state="01")  # accepted sockets only: queued ones have no inode
        return {pid: len(_sockets(pid) & established) for pid in workers}

    wait_until(lambda: sum(accepted().values()) == count, f"the workers to accept all {count} connections")
    return connections, accepted()


def call(connection: HTTPConnection, method: str, path: str, body: object = None, **headers: str) -> tuple[int, str]:
    """One request on a kept-alive connection, so it reaches the worker that accepted the connection."""
    if body is not None:
        headers["Content-Type"] = "application/json"
    connection.request(method, path, body=None if body is None else json.dumps(body), headers=headers)
    response = connection.getresponse()
    return response.status, response.read().decode()


def test_connections_opened_at_once_reach_both_workers(tmp_path: Path, models_dir: Path) -> None:
    with serving(tmp_path, models_dir, two_workers) as server:
        connections, per_worker = connect_to_the_workers(server)
        for connection in connections:
            connection.close()
        assert min(per_worker.values()) >= 1, per_worker


def test_every_worker_answers_a_scrape_with_the_requests_of_both(tmp_path: Path, models_dir: Path) -> None:
    with serving(tmp_path, models_dir, two_workers) as server:
        connections, per_worker = connect_to_the_workers(server)
        try:
            assert min(per_worker.values()) >= 1, per_worker  # so each worker scores some and answers some scrapes
            for connection in connections:
                assert call(connection, "POST", "/score", {"text": DOCUMENT})[0] == 200
            scrapes = [call(connection, "GET", "/metrics") for connection in connections]
        finally:
            for connection in connections:
                connection.close()
        assert {status for status, _ in scrapes} == {200}
        # A worker alone counted at most 15 of them; every scrape reports all 16, whichever worker answered.
        assert [score_requests(text) for _, text in scrapes] == [16] * 16
        assert {sample_value(text, "claimscan_documents_scored_total") for _, text in scrapes} == {16}
        assert {sample_value(text, "claimscan_sentences_scored_total") for _, text in scrapes} == {16 * 5}


def test_a_replaced_workers_requests_still_count_and_its_model_leaves_the_gauge(
    tmp_path: Path, models_dir: Path, version: str
) -> None:
    with serving(tmp_path, models_dir, two_workers) as server:
        wait_until(lambda: server.stderr().count('"message": "model loaded"') == 2, "both workers loaded")
        for _ in range(10):
            assert httpx.post(f"{server.url}/score", json={"text": DOCUMENT}, timeout=30).status_code == 200
        victim = workers_of(server)[0]
        os.kill(victim, signal.SIGKILL)
        wait_until(lambda: server.stderr().count('"message": "model loaded"') == 3, "the replacement to load")
        connections, per_worker = connect_to_the_workers(server)
        try:
            assert victim not in per_worker
            assert min(per_worker.values()) >= 1, per_worker
            scrapes = [call(connection, "GET", "/metrics")[1] for connection in connections]
        finally:
            for connection in connections:
                connection.close()
        assert [score_requests(text) for text in scrapes] == [10] * 16  # the dead worker's share is kept
        # Two live workers serve the model: the dead one was forgotten, not added to its replacement.
        assert {sample_value(text, "claimscan_model_info", version=version) for text in scrapes} == {2}


def test_admin_reload_on_one_worker_reloads_every_worker(tmp_path: Path, models_dir: Path, version: str) -> None:
    key = "cs-" + secrets.token_hex(16)
    with serving(tmp_path, models_dir, two_workers, CLAIMSCAN_API_KEYS=key) as server:
        wait_until(lambda: server.stderr().count('"message": "model loaded"') == 2, "both workers loaded")
        add_version(models_dir, version, "v-next")
        point_current(models_dir, "v-next")
        reloaded = httpx.post(f"{server.url}/admin/reload", headers={"X-API-Key": key}, timeout=30)
        assert reloaded.status_code == 200
        assert reloaded.json() == {"status": "reloaded", "model_version": "v-next", "previous_version": version}
        # The receiving worker loads it, then the supervisor's SIGHUP reloads both workers: 2 + 1 + 2.
        wait_until(lambda: server.stderr().count('"message": "model loaded"') == 5, "every worker to reload")
        assert server.stderr().count('"model_version": "v-next"') == 3
        connections, per_worker = connect_to_the_workers(server)
        try:
            assert min(per_worker.values()) >= 1, per_worker
            ready = [call(connection, "GET", "/readyz") for connection in connections]
            scrape = call(connections[0], "GET", "/metrics", **{"X-API-Key": key})[1]
        finally:
            for connection in connections:
                connection.close()
        assert {json.loads(body)["model_version"] for _, body in ready} == {"v-next"}
        assert sample_value(scrape, "claimscan_model_info", version="v-next") == 2
        assert sample_value(scrape, "claimscan_model_info", version=version) == 0
        assert server.process.poll() is None


def test_reload_every_worker_signals_no_one_outside_the_supervisor(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(SUPERVISOR_VARIABLE, raising=False)
    assert reload_every_worker() is False
    # A recorded pid that is not this process's parent (an orphaned worker's supervisor, long gone) is left alone.
    bystander = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        monkeypatch.setenv(SUPERVISOR_VARIABLE, str(bystander.pid))
        assert reload_every_worker() is False
        assert bystander.poll() is None
    finally:
        bystander.kill()
        bystander.wait()


def test_sighup_reloads_the_model_in_every_worker(tmp_path: Path, models_dir: Path, version: str) -> None:
    with serving(tmp_path, models_dir, two_workers) as server:
        wait_until(lambda: server.stderr().count('"message": "model loaded"') == 2, "both workers loaded")
        add_version(models_dir, version, "v-next")
        point_current(models_dir, "v-next")
        server.process.send_signal(signal.SIGHUP)
        wait_until(lambda: server.stderr().count('"message": "model loaded"') == 4, "both workers to reload")
        assert server.stderr().count('"model_version": "v-next"') == 2
        assert server.process.poll() is None


def test_a_worker_that_dies_is_replaced_and_the_server_keeps_answering(tmp_path: Path, models_dir: Path) -> None:
    with serving(tmp_path, models_dir, two_workers) as server:
        wait_until(lambda: len(workers_of(server)) == 2, "two workers listening")
        victim = workers_of(server)[0]
        os.kill(victim, signal.SIGKILL)
        wait_until(lambda: len(workers_of(server)) == 2 and victim not in workers_of(server), "a replacement")
        assert f"worker [{victim}] exited with -9; starting another" in server.stderr()
        for _ in range(10):  # new connections each time, so both sockets are tried
            response = httpx.post(f"{server.url}/score", json={"text": DOCUMENT}, timeout=30)
            assert response.status_code == 200
            assert response.json()["summary"]["flagged_sentences"] >= 1


def metrics_directory_of(pid: int) -> Path:
    """The shared metrics directory a worker was started with (its environment, as /proc shows it)."""
    environment = dict(
        entry.split("=", 1) for entry in Path(f"/proc/{pid}/environ").read_text().split("\0") if "=" in entry
    )
    return Path(environment[DIRECTORY_VARIABLE])


def test_sigterm_stops_every_worker_removes_the_metrics_directory_and_exits_zero(
    tmp_path: Path, models_dir: Path
) -> None:
    with serving(tmp_path, models_dir, two_workers) as server:
        wait_until(lambda: len(workers_of(server)) == 2, "two workers listening")
        workers = workers_of(server)
        directories = {metrics_directory_of(pid) for pid in workers}
        assert len(directories) == 1
        directory = directories.pop()
        assert {f"counter_{pid}.db" for pid in workers} <= {path.name for path in directory.iterdir()}
        server.process.send_signal(signal.SIGTERM)
        assert server.process.wait(timeout=DEADLINE) == 0, server.stderr()
        for pid in workers:
            assert not Path(f"/proc/{pid}").exists() or "Z" in Path(f"/proc/{pid}/stat").read_text().split()[2]
        assert not directory.exists()


def test_an_operators_metrics_directory_is_used_and_kept_without_the_models_of_stopped_workers(
    tmp_path: Path, models_dir: Path
) -> None:
    given = tmp_path / "metrics"
    with serving(tmp_path, models_dir, two_workers, **{DIRECTORY_VARIABLE: str(given)}) as server:
        wait_until(lambda: len(workers_of(server)) == 2, "two workers listening")
        workers = workers_of(server)
        assert {metrics_directory_of(pid) for pid in workers} == {given}
        assert httpx.post(f"{server.url}/score", json={"text": DOCUMENT}, timeout=30).status_code == 200
        assert {f"gauge_livesum_{pid}.db" for pid in workers} <= {path.name for path in given.iterdir()}
        server.process.send_signal(signal.SIGTERM)
        assert server.process.wait(timeout=DEADLINE) == 0, server.stderr()
    kept = {path.name for path in given.iterdir()}
    assert {f"counter_{pid}.db" for pid in workers} <= kept
    assert not any(name.startswith("gauge_") for name in kept)


def test_a_model_that_cannot_load_stops_the_supervisor_instead_of_restarting_forever(
    tmp_path: Path, models_dir: Path, version: str
) -> None:
    add_version(models_dir, version, "broken", corrupt=True)
    point_current(models_dir, "broken")
    with (
        pytest.raises(AssertionError, match=r"server exited \(3\) before it was ready"),
        serving(tmp_path, models_dir, two_workers),
    ):
        pass

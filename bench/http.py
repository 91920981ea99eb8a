"""HTTP figures against real ``claimscan serve`` (uvicorn) processes on loopback.

Every load phase is a closed loop of ``concurrency`` requests from this process over lean
keep-alive connections (:mod:`bench.wire`), bounded by a fixed number of seconds or requests;
servers run in their own process group and are always stopped (SIGTERM, then SIGKILL) when the
phase that needs them ends, even on errors.
"""

from __future__ import annotations

import asyncio
import atexit
import itertools
import os
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import asdict, dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx
import orjson

from bench._common import CLOCK_TICKS, MODELS_DIR, ROOT, Article, machine_cpu_seconds, percentile, target_article
from bench.wire import WireClient, WireError

__all__ = [
    "HOST",
    "BenchError",
    "HttpOptions",
    "Loop",
    "Request",
    "Server",
    "async_client",
    "closed_loop",
    "post_request",
    "run_http",
    "serving",
]

HOST = "127.0.0.1"
CONNECT_STAGGER_S = 0.05
_LIVE: set[Server] = set()

# One request of a closed loop: (client, request number) -> units done (articles, sentences or requests).
Request = Callable[[WireClient, int], Awaitable[float]]


class BenchError(Exception):
    """A response the benchmark cannot count: wrong status or body."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.kind = f"http_{status}" if status is not None else type(self).__name__


@dataclass(frozen=True)
class HttpOptions:
    latency_requests: int = 300  # sequential /score requests at concurrency 1
    latency_cap_s: float = 60.0  # ... or fewer, if they take longer than this
    seconds: float = 10.0  # each throughput phase
    warmup_s: float = 2.0  # before each phase, not counted
    cold_starts: int = 3  # 1-worker spawns timed to /readyz
    batch_documents: int = 100  # documents per /score/batch request (JSON and NDJSON)
    # Concurrent batch requests. The kernel hashes each connection to a worker's socket, so with 4 there was a
    # 1-in-8 chance that one worker got none and sat idle (one run measured 19,493 sentences/s on 0.99 cores);
    # with 8 the chance is 1 in 128, and a worker with any connection is busy all the time.
    batch_concurrency: int = 8
    throughput_workers: int = 2
    throughput_concurrency: tuple[int, ...] = (8, 32)
    request_timeout_s: float = 120.0


@dataclass
class Phase:
    name: str
    concurrency: int
    requests: int
    errors: int
    first_error: str | None
    wall_s: float
    units: float  # articles, sentences or requests, as the phase counts them
    rate_per_s: float
    p50_ms: float
    p99_ms: float
    client_cpu_s: float  # this process (the load generator)
    server_cpu_s: float  # all worker processes
    machine_cpu_s: float  # every process on the machine: what is neither client nor server is noise
    server_log_tail: str | None  # when there were errors


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def _cpu_seconds(pid: int) -> float:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime, stime


def _memory_kib(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM (peak RSS) of a process, in KiB, as far as /proc/PID/status has them."""
    figures: dict[str, int] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            figures[key] = int(value.split()[0])
    return figures


def _children(pid: int) -> list[int]:
    """Child processes of ``pid`` (uvicorn's spawned workers), leaving out multiprocessing helpers."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if int(stat[stat.rindex(")") + 2 :].split()[1]) == pid and b"resource_tracker" not in cmdline:
            found.append(int(entry.name))
    return sorted(found)


class Server:
    """``claimscan serve`` on a free loopback port, in its own process group; a context manager that stops it."""

    def __init__(self, workers: int, log_dir: Path, bytecode_cache: Path | None = None) -> None:
        self.workers = workers
        self.port = free_port()
        self.base_url = f"http://{HOST}:{self.port}"
        self.log_path = log_dir / f"server-{workers}w-{self.port}.log"
        env = {key: value for key, value in os.environ.items() if not key.startswith("CLAIMSCAN_")}
        # The defaults, spelled out: the committed model, info-level JSON access logs (to a file).
        env |= {"CLAIMSCAN_MODEL_DIR": str(MODELS_DIR), "CLAIMSCAN_LOG_LEVEL": "info", "CLAIMSCAN_LOG_FORMAT": "json"}
        if bytecode_cache is not None:  # compiled modules kept outside the repository and the venv
            env.pop("PYTHONDONTWRITEBYTECODE", None)
            env["PYTHONPYCACHEPREFIX"] = str(bytecode_cache)
        command = [sys.executable, "-m", "app.cli", "serve", "--host", HOST, "--port", str(self.port)]
        command += ["--workers", str(workers)]
        with self.log_path.open("wb") as log:
            self.spawned = time.perf_counter()
            self.process = subprocess.Popen(
                command, cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True,
            )  # fmt: skip
        _LIVE.add(self)
        self.cold_start_s = float("nan")
        self.model_version: str | None = None
        self.exit_code: int | None = None

    def __enter__(self) -> Server:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.stop()

    def wait_ready(self, timeout_s: float = 60.0) -> float:
        """Seconds from spawn until /readyz first answered 200 (``cold_start_s``).

        Then waits, within the same ``timeout_s`` from spawn, until every worker process exists and has logged
        that its model loaded: one worker's 200 says nothing of the others.
        """
        deadline = self.spawned + timeout_s
        with httpx.Client(base_url=self.base_url, timeout=1.0, trust_env=False) as client:
            while True:
                self._check_running()
                with suppress(httpx.TransportError):
                    response = client.get("/readyz")
                    if response.status_code == 200:
                        self.cold_start_s = time.perf_counter() - self.spawned
                        self.model_version = str(response.json()["model_version"])
                        break
                if time.perf_counter() > deadline:
                    raise RuntimeError(f"server not ready after {timeout_s:g} s:\n{self.log_tail()}")
                time.sleep(0.005)
        while True:
            started, loaded = len(self.worker_pids()), self._models_loaded()
            if started >= self.workers and loaded >= self.workers:
                break
            self._check_running()
            if time.perf_counter() > deadline:
                raise RuntimeError(
                    f"{started} of {self.workers} workers started, {loaded} loaded the model after {timeout_s:g} s:\n"
                    f"{self.log_tail()}"
                )
            time.sleep(0.01)
        return self.cold_start_s

    def _check_running(self) -> None:
        if self.process.poll() is not None:
            raise RuntimeError(f"server exited with {self.process.returncode}:\n{self.log_tail()}")

    def _models_loaded(self) -> int:
        return self.log_path.read_text(errors="replace").count('"message": "model loaded"')

    def worker_pids(self) -> list[int]:
        # One worker runs in the uvicorn process itself; more are children of a supervisor.
        return [self.process.pid] if self.workers == 1 else _children(self.process.pid)

    def cpu_seconds(self) -> float:
        return sum(_cpu_seconds(pid) for pid in self.worker_pids())

    def memory(self) -> list[dict[str, float]]:
        """Per worker, VmRSS and VmHWM (peak RSS) in MB (10^6 bytes)."""
        figures = [_memory_kib(pid) for pid in self.worker_pids()]
        return [{"rss_mb": kib["VmRSS"] * 1024 / 1e6, "peak_rss_mb": kib["VmHWM"] * 1024 / 1e6} for kib in figures]

    def rss_kib(self) -> dict[int, int]:
        """VmRSS of each worker by PID, in KiB (0 for one that has gone)."""
        rss: dict[int, int] = {}
        for pid in self.worker_pids():
            try:
                rss[pid] = _memory_kib(pid).get("VmRSS", 0)
            except OSError:
                rss[pid] = 0
        return rss

    def log_tail(self, lines: int = 20) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def stop(self) -> None:
        """SIGTERM to the server, as an orchestrator would; SIGKILL for the whole group if it lingers."""
        group = self.process.pid  # start_new_session: the server leads its own process group
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                with suppress(ProcessLookupError):
                    os.killpg(group, signal.SIGKILL)
                self.process.wait(timeout=30)
        self.exit_code = self.process.returncode
        with suppress(ProcessLookupError):  # workers outliving their supervisor
            os.killpg(group, signal.SIGKILL)
        _LIVE.discard(self)


@atexit.register
def _stop_all() -> None:
    for server in list(_LIVE):
        server.stop()


@contextmanager
def serving(workers: int, log_dir: Path, bytecode_cache: Path | None = None) -> Iterator[Server]:
    """A ready server (see :meth:`Server.wait_ready`), stopped when the block ends."""
    with Server(workers, log_dir, bytecode_cache) as server:
        server.wait_ready()
        yield server


def async_client(server: Server, connections: int, timeout_s: float) -> WireClient:
    return WireClient(HOST, server.port, connections, timeout_s)


@dataclass
class Loop:
    """What a closed loop measured."""

    latencies_ms: list[float]  # of the requests that succeeded
    units: float
    errors: Counter[str]  # by kind: http_<status>, or the exception's class name
    first_error: str | None
    wall_s: float


async def closed_loop(
    client: WireClient, request: Request, concurrency: int, seconds: float, max_requests: int | None = None
) -> Loop:
    """``concurrency`` loops, each sending as soon as its previous answer arrived, until the deadline.

    Requests in flight at the deadline finish and are counted. Loops start ``CONNECT_STAGGER_S``
    apart, so their connections are opened apart: connections opened at the same instant are all
    accepted by whichever worker wakes first (asyncio accepts in a loop), leaving the other idle.
    """
    result = Loop(latencies_ms=[], units=0.0, errors=Counter(), first_error=None, wall_s=0.0)
    counter = itertools.count()
    clock = time.perf_counter
    started = clock()
    deadline = started + seconds

    async def loop(index: int) -> None:
        if client.idle_connections() < concurrency:
            await asyncio.sleep(index * CONNECT_STAGGER_S)
        while clock() < deadline:
            number = next(counter)
            if max_requests is not None and number >= max_requests:
                return
            sent = clock()
            try:
                done = await request(client, number)  # not `units += await ...`: that reads units before awaiting
            except (WireError, BenchError, orjson.JSONDecodeError) as exc:
                result.errors[exc.kind if isinstance(exc, (BenchError, WireError)) else type(exc).__name__] += 1
                result.first_error = result.first_error or f"{type(exc).__name__}: {exc}"[:300]
                continue
            result.latencies_ms.append((clock() - sent) * 1000.0)
            result.units += done

    await asyncio.gather(*(loop(index) for index in range(concurrency)))
    result.wall_s = clock() - started
    return result


async def _phase(
    name: str,
    server: Server,
    request: Request,
    concurrency: int,
    options: HttpOptions,
    *,
    seconds: float | None = None,
    max_requests: int | None = None,
) -> Phase:
    async with async_client(server, concurrency, options.request_timeout_s) as client:
        await closed_loop(client, request, concurrency, options.warmup_s)
        client_cpu, server_cpu, machine_cpu = time.process_time(), server.cpu_seconds(), machine_cpu_seconds()
        loop = await closed_loop(client, request, concurrency, seconds or options.seconds, max_requests)
        client_cpu = time.process_time() - client_cpu
        server_cpu = server.cpu_seconds() - server_cpu
        machine_cpu = machine_cpu_seconds() - machine_cpu
    errors = sum(loop.errors.values())
    phase = Phase(
        name=name,
        concurrency=concurrency,
        requests=len(loop.latencies_ms),
        errors=errors,
        first_error=loop.first_error,
        wall_s=loop.wall_s,
        units=loop.units,
        rate_per_s=loop.units / loop.wall_s if loop.wall_s > 0 else 0.0,
        p50_ms=percentile(loop.latencies_ms, 50),
        p99_ms=percentile(loop.latencies_ms, 99),
        client_cpu_s=client_cpu,
        server_cpu_s=server_cpu,
        machine_cpu_s=machine_cpu,
        server_log_tail=server.log_tail() if errors else None,
    )
    _progress(
        f"{name} c={concurrency}: {phase.requests} requests, {phase.rate_per_s:,.1f}/s, p50 {phase.p50_ms:.1f} ms, "
        f"p99 {phase.p99_ms:.1f} ms, {errors} errors"
    )
    return phase


def _json_body(document: dict[str, Any]) -> bytes:
    return orjson.dumps(document)


def _check_result(result: Any) -> int:
    """The sentence count of one /score result; anything else is an error."""
    if not isinstance(result, dict) or "summary" not in result:
        raise BenchError(f"not a score result: {str(result)[:200]}")
    sentences: int = result["summary"]["sentences"]
    return sentences


def post_request(path: str, bodies: list[bytes], count: Callable[[bytes], float] | None = None) -> Request:
    """POST the JSON ``bodies`` in turn; an answer other than 200 is an error.

    ``count`` checks a response body and says how many units it holds; without it (the body left unread),
    every answer counts 1.
    """
    headers = {"content-type": "application/json"}

    async def request(client: WireClient, number: int) -> float:
        response = await client.post(path, content=bodies[number % len(bodies)], headers=headers)
        if response.status_code != 200:
            raise BenchError(f"{path} answered {response.status_code}: {response.text[:200]}", response.status_code)
        return 1.0 if count is None else count(response.content)

    return request


def _score_request(articles: list[Article]) -> Request:
    def count(content: bytes) -> float:
        _check_result(orjson.loads(content))
        return 1.0

    return post_request("/score", [_json_body({"text": a.text, "id": a.name}) for a in articles], count)


async def _healthz(client: WireClient, number: int) -> float:  # noqa: ARG001
    response = await client.get("/healthz")
    if response.status_code != 200:
        raise BenchError(f"/healthz answered {response.status_code}", response.status_code)
    return 1.0


def _documents(articles: list[Article], count: int) -> list[dict[str, Any]]:
    return [{"text": articles[i % len(articles)].text, "id": f"doc-{i}"} for i in range(count)]


def _batch_json_request(articles: list[Article], count: int) -> Request:
    def sentences(content: bytes) -> float:
        results = orjson.loads(content)["results"]
        if len(results) != count:
            raise BenchError(f"{len(results)} results for {count} documents")
        return float(sum(_check_result(result) for result in results))

    return post_request("/score/batch", [_json_body({"documents": _documents(articles, count)})], sentences)


def _batch_ndjson_request(articles: list[Article], count: int) -> Request:
    lines = [_json_body(document) + b"\n" for document in _documents(articles, count)]
    headers = {"content-type": "application/x-ndjson"}

    async def request(client: WireClient, number: int) -> float:  # noqa: ARG001
        # one chunk per line: a streamed upload, chunked transfer encoding
        response = await client.post_chunked("/score/batch", lines, headers)
        if response.status_code != 200:
            message = f"/score/batch (NDJSON) answered {response.status_code}: {response.text[:200]}"
            raise BenchError(message, response.status_code)
        results = [orjson.loads(line) for line in response.content.splitlines() if line.strip()]
        if len(results) != count:
            raise BenchError(f"{len(results)} NDJSON results for {count} documents ({len(response.content)} bytes)")
        return float(sum(_check_result(result) for result in results))

    return request


def _progress(message: str) -> None:
    print(f"  {message}", file=sys.stderr, flush=True)


async def _single_worker_phases(
    articles: list[Article], options: HttpOptions, log_dir: Path, bytecode_cache: Path
) -> dict[str, Any]:
    """Cold starts with the environment as it is, then with a warm bytecode cache; /score at c=1."""
    cold_starts: list[float] = []
    for _ in range(options.cold_starts):
        with serving(1, log_dir) as server:
            cold_starts.append(server.cold_start_s)
            _progress(f"1 worker: ready {server.cold_start_s:.2f} s after spawn (environment as is)")
    with serving(1, log_dir, bytecode_cache) as server:  # fills the cache; not counted
        _progress(f"1 worker: ready {server.cold_start_s:.2f} s after spawn (filling the bytecode cache)")
    cached: list[float] = []
    latency: Phase | None = None
    memory: list[dict[str, float]] = []
    for attempt in range(options.cold_starts):
        with serving(1, log_dir, bytecode_cache) as server:
            cached.append(server.cold_start_s)
            _progress(f"1 worker: ready {server.cold_start_s:.2f} s after spawn (bytecode cached)")
            if attempt == options.cold_starts - 1:
                latency = await _phase(
                    "POST /score, 1 worker",
                    server,
                    _score_request([target_article(articles)]),
                    1,
                    options,
                    seconds=options.latency_cap_s,
                    max_requests=options.latency_requests,
                )
                memory = server.memory()
    assert latency is not None
    return {
        "python_dont_write_bytecode": os.environ.get("PYTHONDONTWRITEBYTECODE"),
        "cold_start_s": cold_starts,
        "cold_start_cached_s": cached,
        "score_c1": asdict(latency),
        "memory": memory,
    }


async def _multi_worker_phases(
    articles: list[Article], options: HttpOptions, log_dir: Path, bytecode_cache: Path
) -> dict[str, Any]:
    workers = options.throughput_workers
    with serving(workers, log_dir, bytecode_cache) as server:
        _progress(f"{workers} workers: ready {server.cold_start_s:.2f} s after spawn (bytecode cached)")
        memory_idle = server.memory()
        phases: dict[str, Any] = {}
        for concurrency in options.throughput_concurrency:
            phase = await _phase(f"GET /healthz, {workers} workers", server, _healthz, concurrency, options)
            phases[f"healthz_c{concurrency}"] = asdict(phase)
        score = _score_request([target_article(articles)])  # the targets are for a 1,000-word article
        for concurrency in options.throughput_concurrency:
            phase = await _phase(f"POST /score, {workers} workers", server, score, concurrency, options)
            phases[f"score_c{concurrency}"] = asdict(phase)
        count = options.batch_documents
        phase = await _phase(
            f"POST /score/batch JSON x{count}, {workers} workers",
            server,
            _batch_json_request(articles, count),
            options.batch_concurrency,
            options,
        )
        phases["batch_json"] = asdict(phase)
        phase = await _phase(
            f"POST /score/batch NDJSON x{count}, {workers} workers",
            server,
            _batch_ndjson_request(articles, count),
            options.batch_concurrency,
            options,
        )
        phases["batch_ndjson"] = asdict(phase)
        return {
            "workers": workers,
            "cold_start_cached_s": server.cold_start_s,
            "memory_idle": memory_idle,
            "memory_after_load": server.memory(),
            "phases": phases,
        }


def run_http(articles: list[Article], options: HttpOptions, log_dir: Path) -> dict[str, Any]:
    bytecode_cache = log_dir / "pycache"
    single = asyncio.run(_single_worker_phases(articles, options, log_dir, bytecode_cache))
    multi = asyncio.run(_multi_worker_phases(articles, options, log_dir, bytecode_cache))
    return {"options": asdict(options), "single_worker": single, "multi_worker": multi}

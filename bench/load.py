"""A bounded load test on loopback: ``claimscan serve`` under a closed loop of POST /score clients.

    python -m bench.load [--workers 2] [--concurrency 32] [--seconds 60] [--warmup 3]
                         [--output bench/load_results.json]

Starts ``claimscan serve`` (uvicorn, ``--workers`` processes) on a free 127.0.0.1 port, warms it
up, then keeps ``--concurrency`` requests in flight, each posting the same ~1,000-word article,
for ``--seconds``; requests still in flight at the deadline finish and are counted. Then it
stops the server (SIGTERM, SIGKILL if it lingers) and reports throughput, latency percentiles,
errors and the memory (VmRSS) of the worker processes at the start and end of the load.

The article is built from ``../shared/seeds/*.txt`` beside the repository when that folder
exists, else it is ``bench/sample_article.md``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import platform
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

__all__ = ["main"]

ROOT = Path(__file__).resolve().parent.parent
SEEDS = ROOT.parent / "shared" / "seeds"
SAMPLE = Path(__file__).with_name("sample_article.md")
DEFAULT_OUTPUT = Path(__file__).with_name("load_results.json")
HOST = "127.0.0.1"
TARGET_WORDS = 1_000
READY_TIMEOUT_S = 120.0


@dataclass(frozen=True)
class Article:
    text: str
    format: str
    source: str

    @property
    def words(self) -> int:
        return len(self.text.split())


def build_article() -> Article:
    """About 1,000 words: whole lines of the seed articles in name order, else the sample."""
    seeds = sorted(SEEDS.glob("*.txt")) if SEEDS.is_dir() else []
    if not seeds:
        return Article(SAMPLE.read_text(encoding="utf-8"), "markdown", str(SAMPLE.relative_to(ROOT)))
    lines: list[str] = []
    words = 0
    for path in seeds:
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip() and words < TARGET_WORDS:
                lines.append(line.strip())
                words += len(line.split())
    return Article("\n".join(lines), "text", f"../shared/seeds ({len(seeds)} files)")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def _ppid_and_cmdline(pid: int) -> tuple[int, bytes] | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return None
    return int(stat[stat.rindex(")") + 2 :].split()[1]), cmdline


def _children(pid: int) -> list[int]:
    """Child processes of ``pid`` (uvicorn's spawned workers), leaving out multiprocessing helpers."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (info := _ppid_and_cmdline(int(entry.name))) is not None:
            ppid, cmdline = info
            if ppid == pid and b"resource_tracker" not in cmdline:
                found.append(int(entry.name))
    return sorted(found)


def rss_kib(pid: int) -> int:
    """VmRSS of one process, in KiB (0 if it has gone)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0
    for line in status.splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


class Server:
    """``claimscan serve`` on a free loopback port, in its own process group."""

    def __init__(self, workers: int, log_path: Path) -> None:
        self.workers = workers
        self.port = free_port()
        self.url = f"http://{HOST}:{self.port}"
        self.log_path = log_path
        env = {key: value for key, value in os.environ.items() if not key.startswith("CLAIMSCAN_")}
        # The service defaults, spelled out: the committed model, info-level JSON access logs (to a file).
        env |= {"CLAIMSCAN_MODEL_DIR": str(ROOT / "models"), "CLAIMSCAN_LOG_LEVEL": "info"}
        env["CLAIMSCAN_LOG_FORMAT"] = "json"
        command = [sys.executable, "-m", "app.cli", "serve", "--host", HOST, "--port", str(self.port)]
        command += ["--workers", str(workers)]
        with log_path.open("wb") as log:
            self.process = subprocess.Popen(
                command,
                cwd=ROOT,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.exit_code: int | None = None

    def log_tail(self, lines: int = 20) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def worker_pids(self) -> list[int]:
        # One worker serves in the uvicorn process itself; more are children of a supervisor.
        return [self.process.pid] if self.workers == 1 else _children(self.process.pid)

    def rss_kib(self) -> dict[int, int]:
        return {pid: rss_kib(pid) for pid in self.worker_pids()}

    def wait_ready(self) -> str:
        """Wait until every worker has loaded the model and /readyz answers; the model version."""
        deadline = time.monotonic() + READY_TIMEOUT_S
        with httpx.Client(base_url=self.url, timeout=2.0, trust_env=False) as client:
            while True:
                if self.process.poll() is not None:
                    raise RuntimeError(f"server exited with {self.process.returncode}:\n{self.log_tail()}")
                loaded = self.log_path.read_text(errors="replace").count('"message": "model loaded"')
                if loaded >= self.workers and len(self.worker_pids()) >= self.workers:
                    with suppress(httpx.TransportError):
                        response = client.get("/readyz")
                        if response.status_code == 200:
                            return str(response.json()["model_version"])
                if time.monotonic() > deadline:
                    raise RuntimeError(f"server not ready after {READY_TIMEOUT_S:.0f} s:\n{self.log_tail()}")
                time.sleep(0.05)

    def stop(self) -> None:
        """SIGTERM, as an orchestrator would; SIGKILL for the whole group if it lingers."""
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


@contextmanager
def serving(workers: int, log_path: Path) -> Iterator[Server]:
    server = Server(workers, log_path)
    try:
        yield server
    finally:
        server.stop()


@dataclass
class LoadResult:
    latencies_s: list[float] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)
    started: float = 0.0
    finished: float = 0.0

    @property
    def elapsed_s(self) -> float:
        return self.finished - self.started


async def closed_loop(
    client: httpx.AsyncClient, body: bytes, concurrency: int, seconds: float, result: LoadResult
) -> None:
    """``concurrency`` loops, each posting as soon as its previous answer arrived, until the deadline."""
    headers = {"Content-Type": "application/json"}
    result.started = time.perf_counter()
    deadline = result.started + seconds

    async def one_loop() -> None:
        while time.perf_counter() < deadline:
            sent = time.perf_counter()
            try:
                response = await client.post("/score", content=body, headers=headers)
            except httpx.HTTPError as exc:
                result.errors[type(exc).__name__] += 1
                continue
            if response.status_code == 200:
                result.latencies_s.append(time.perf_counter() - sent)
            else:
                result.errors[f"http_{response.status_code}"] += 1

    await asyncio.gather(*(one_loop() for _ in range(concurrency)))
    result.finished = time.perf_counter()


async def sample_rss(server: Server, samples: list[int], stop: asyncio.Event) -> None:
    """Summed worker VmRSS once a second, for the peak."""
    while not stop.is_set():
        samples.append(sum(server.rss_kib().values()))
        with suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=1.0)


def percentile(sorted_values: list[float], q: float) -> float:
    """Nearest-rank percentile of an ascending list."""
    if not sorted_values:
        return math.nan
    rank = max(1, math.ceil(q / 100 * len(sorted_values)))
    return sorted_values[rank - 1]


async def run_load(server: Server, article: Article, concurrency: int, seconds: float, warmup: float) -> dict[str, Any]:
    body = json.dumps({"id": "bench-load", "text": article.text, "format": article.format}).encode()
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    timeout = httpx.Timeout(120.0)
    async with httpx.AsyncClient(base_url=server.url, limits=limits, timeout=timeout, trust_env=False) as client:
        first = await client.post("/score", content=body, headers={"Content-Type": "application/json"})
        first.raise_for_status()
        scored = first.json()
        if warmup > 0:
            await closed_loop(client, body, concurrency, warmup, LoadResult())

        rss_start = server.rss_kib()
        samples: list[int] = []
        stop = asyncio.Event()
        sampler = asyncio.create_task(sample_rss(server, samples, stop))
        result = LoadResult()
        await closed_loop(client, body, concurrency, seconds, result)
        stop.set()
        await sampler
        rss_end = server.rss_kib()

    latencies = sorted(result.latencies_s)
    ok = len(latencies)
    start_total = sum(rss_start.values())
    end_total = sum(rss_end.values())
    return {
        "article": {
            "source": article.source,
            "format": article.format,
            "words": article.words,
            "characters": len(article.text),
            "request_bytes": len(body),
            "response_bytes": len(first.content),
            "sentences": scored["summary"]["sentences"],
            "flagged_sentences": scored["summary"]["flagged_sentences"],
        },
        "requests": {
            "ok": ok,
            "errors": sum(result.errors.values()),
            "errors_by_kind": dict(result.errors),
            "elapsed_s": round(result.elapsed_s, 3),
            "throughput_rps": round(ok / result.elapsed_s, 2) if result.elapsed_s > 0 else 0.0,
        },
        "latency_ms": {
            name: round(value * 1000, 1)
            for name, value in (
                ("mean", sum(latencies) / ok if ok else math.nan),
                ("p50", percentile(latencies, 50)),
                ("p90", percentile(latencies, 90)),
                ("p99", percentile(latencies, 99)),
                ("max", latencies[-1] if latencies else math.nan),
            )
        },
        "memory": {
            "worker_pids": sorted(rss_start),
            "rss_start_mib": round(start_total / 1024, 1),
            "rss_end_mib": round(end_total / 1024, 1),
            "rss_growth_mib": round((end_total - start_total) / 1024, 1),
            "rss_growth_pct": round(100 * (end_total - start_total) / start_total, 1) if start_total else None,
            "rss_peak_mib": round(max([*samples, end_total]) / 1024, 1),
            "per_worker_start_mib": {str(pid): round(kib / 1024, 1) for pid, kib in sorted(rss_start.items())},
            "per_worker_end_mib": {str(pid): round(kib / 1024, 1) for pid, kib in sorted(rss_end.items())},
        },
    }


def table(results: dict[str, Any]) -> str:
    config, article = results["config"], results["article"]
    requests, latency, memory = results["requests"], results["latency_ms"], results["memory"]
    rows = [
        ("server", f"claimscan serve, {config['workers']} worker(s), model {results['model_version']}"),
        ("load", f"concurrency {config['concurrency']}, {config['seconds']:g} s (+{config['warmup_s']:g} s warm-up)"),
        ("article", f"{article['words']:,} words, {article['sentences']} sentences ({article['source']})"),
        ("requests ok", f"{requests['ok']:,} in {requests['elapsed_s']:.1f} s"),
        ("throughput", f"{requests['throughput_rps']:.1f} req/s"),
        ("latency p50", f"{latency['p50']:.1f} ms"),
        ("latency p90", f"{latency['p90']:.1f} ms"),
        ("latency p99", f"{latency['p99']:.1f} ms"),
        ("latency max", f"{latency['max']:.1f} ms"),
        ("errors", f"{requests['errors']}" + (f" {requests['errors_by_kind']}" if requests["errors"] else "")),
        ("RSS at start", f"{memory['rss_start_mib']:.1f} MiB over {len(memory['worker_pids'])} worker(s)"),
        ("RSS at end", f"{memory['rss_end_mib']:.1f} MiB (peak {memory['rss_peak_mib']:.1f} MiB)"),
        ("RSS growth", f"{memory['rss_growth_mib']:+.1f} MiB ({memory['rss_growth_pct']:+.1f}%)"),
        ("server exit", str(results["server_exit_code"])),
    ]
    width = max(len(name) for name, _ in rows)
    return "\n".join(f"{name:<{width}}  {value}" for name, value in rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.load", description="Bounded load test of POST /score.")
    parser.add_argument("--workers", type=int, default=2, help="uvicorn worker processes (default 2)")
    parser.add_argument("--concurrency", type=int, default=32, help="requests kept in flight (default 32)")
    parser.add_argument("--seconds", type=float, default=60.0, help="length of the measured load (default 60)")
    parser.add_argument("--warmup", type=float, default=3.0, help="unmeasured load before it (default 3)")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, help="results JSON file")
    args = parser.parse_args(argv)
    if args.workers < 1 or args.concurrency < 1 or args.seconds <= 0 or args.warmup < 0:
        parser.error("--workers and --concurrency must be at least 1, --seconds positive, --warmup not negative")

    article = build_article()
    with tempfile.TemporaryDirectory(prefix="claimscan-load-") as scratch:
        log_path = Path(scratch) / "server.log"
        with serving(args.workers, log_path) as server:
            try:
                print(f"starting claimscan serve on {server.url} with {args.workers} worker(s)...", file=sys.stderr)
                version = server.wait_ready()
                print(f"load: concurrency {args.concurrency} for {args.seconds:g} s...", file=sys.stderr)
                figures = asyncio.run(run_load(server, article, args.concurrency, args.seconds, args.warmup))
            except BaseException:
                print(f"server log (tail):\n{server.log_tail()}", file=sys.stderr)
                raise
        results: dict[str, Any] = {
            "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "config": {
                "workers": args.workers,
                "concurrency": args.concurrency,
                "seconds": args.seconds,
                "warmup_s": args.warmup,
                "host": HOST,
            },
            "model_version": version,
            **figures,
            "server_exit_code": server.exit_code,
            "machine": {
                "cpus": os.cpu_count(),
                "python": platform.python_version(),
                "platform": platform.platform(),
                "httpx": httpx.__version__,
            },
        }
    print(table(results))
    args.output.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {args.output}", file=sys.stderr)
    errors: int = results["requests"]["errors"]
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())

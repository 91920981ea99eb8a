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
import sys
import tempfile
from contextlib import suppress
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from bench._common import ROOT, SEEDS_DIR, Article, load_articles, percentile
from bench.http import HOST, Server, async_client, closed_loop, post_request

__all__ = ["main"]

SAMPLE = Path(__file__).with_name("sample_article.md")
DEFAULT_OUTPUT = Path(__file__).with_name("load_results.json")
TARGET_WORDS = 1_000
READY_TIMEOUT_S = 120.0
REQUEST_TIMEOUT_S = 120.0


def build_article() -> tuple[Article, str]:
    """About 1,000 words, named by where they came from, and their format.

    Whole lines of the seed articles in name order, else the markdown sample.
    """
    directory, seeds = load_articles()
    if directory != SEEDS_DIR:
        return Article(str(SAMPLE.relative_to(ROOT)), SAMPLE.read_text(encoding="utf-8")), "markdown"
    lines: list[str] = []
    words = 0
    for seed in seeds:
        for line in seed.text.splitlines():
            if line.strip() and words < TARGET_WORDS:
                lines.append(line.strip())
                words += len(line.split())
    return Article(f"../shared/seeds ({len(seeds)} files)", "\n".join(lines)), "text"


async def sample_rss(server: Server, samples: list[int], stop: asyncio.Event) -> None:
    """Summed worker VmRSS once a second, for the peak."""
    while not stop.is_set():
        samples.append(sum(server.rss_kib().values()))
        with suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=1.0)


async def run_load(
    server: Server, article: Article, article_format: str, concurrency: int, seconds: float, warmup: float
) -> dict[str, Any]:
    body = json.dumps({"id": "bench-load", "text": article.text, "format": article_format}).encode()
    request = post_request("/score", [body])  # the answers are not parsed: the client stays light
    async with async_client(server, concurrency, REQUEST_TIMEOUT_S) as client:
        first = await client.post("/score", content=body, headers={"Content-Type": "application/json"})
        first.raise_for_status()
        scored = first.json()
        if warmup > 0:
            await closed_loop(client, request, concurrency, warmup)

        rss_start = server.rss_kib()
        samples: list[int] = []
        stop = asyncio.Event()
        sampler = asyncio.create_task(sample_rss(server, samples, stop))
        result = await closed_loop(client, request, concurrency, seconds)
        stop.set()
        await sampler
        rss_end = server.rss_kib()

    latencies = result.latencies_ms
    ok = len(latencies)
    start_total = sum(rss_start.values())
    end_total = sum(rss_end.values())
    return {
        "article": {
            "source": article.name,
            "format": article_format,
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
            "elapsed_s": round(result.wall_s, 3),
            "throughput_rps": round(ok / result.wall_s, 2) if result.wall_s > 0 else 0.0,
        },
        "latency_ms": {
            name: round(value, 1)
            for name, value in (
                ("mean", sum(latencies) / ok if ok else math.nan),
                ("p50", percentile(latencies, 50, nearest_rank=True)),
                ("p90", percentile(latencies, 90, nearest_rank=True)),
                ("p99", percentile(latencies, 99, nearest_rank=True)),
                ("max", max(latencies, default=math.nan)),
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

    article, article_format = build_article()
    with (
        tempfile.TemporaryDirectory(prefix="claimscan-load-") as scratch,
        Server(args.workers, Path(scratch)) as server,  # stopped (SIGTERM, then SIGKILL) when the block ends
    ):
        try:
            print(f"starting claimscan serve on {server.base_url} with {args.workers} worker(s)...", file=sys.stderr)
            server.wait_ready(READY_TIMEOUT_S)
            print(f"load: concurrency {args.concurrency} for {args.seconds:g} s...", file=sys.stderr)
            load = run_load(server, article, article_format, args.concurrency, args.seconds, args.warmup)
            figures = asyncio.run(load)
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
        "model_version": server.model_version,
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

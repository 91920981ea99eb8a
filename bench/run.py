"""``make bench``: measure claimscan's performance, print one table, write bench/results.json.

    python -m bench.run [--skip-training] [--articles DIR] [--repeats N] [--seconds S]

Phases, in order: in-process scoring (:mod:`bench.inprocess`); HTTP against real uvicorn
servers on loopback (:mod:`bench.http`): cold starts and /score latency at concurrency 1 with
one worker, then /healthz, /score and /score/batch throughput with two workers, and resident
memory per worker; finally one training run into a temporary models directory. Every figure
is measured in this run; the targets are the issue's, and the table says which are met. The
latency targets are judged on one article, as the issue sets them: the one nearest 1,000 words
(:func:`bench._common.target_article`), which is also the only article of the /score throughput
phases; all articles are timed in-process, and the batches mix them.

Cold starts are timed twice: with the environment as it is (the bytecode that installing wrote:
the Makefile and the Docker image compile it at install time, since PYTHONDONTWRITEBYTECODE stops
both pip and Python from writing it later), and with a warm bytecode cache kept in a temporary
PYTHONPYCACHEPREFIX. The other
processes on the machine are measured too ("other" cores busy): they skew every figure.
"""

from __future__ import annotations

import argparse
import os
import platform
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from types import FrameType
from typing import Any

import orjson

from bench._common import ROOT, load_articles, target_article
from bench.http import HttpOptions, run_http
from bench.inprocess import load_scorer, measure

__all__ = ["main"]

RESULTS = ROOT / "bench" / "results.json"
LIBRARIES = ("fastapi", "uvicorn", "starlette", "scikit-learn", "numpy", "scipy", "orjson", "pydantic", "httpx")
SERVER_EXTRAS = ("uvloop", "httptools")


@dataclass(frozen=True)
class Target:
    name: str
    value: float
    bound: float
    at_most: bool  # True: value <= bound (or < when strict); False: value >= bound
    unit: str
    strict: bool = False
    errors: int = 0

    @property
    def met(self) -> bool:
        if self.errors or self.value != self.value:  # NaN: nothing was measured
            return False
        if self.at_most:
            return self.value < self.bound if self.strict else self.value <= self.bound
        return self.value >= self.bound

    def as_dict(self) -> dict[str, Any]:
        op = ("<" if self.strict else "<=") if self.at_most else ">="
        target = f"{op} {self.bound:,g} {self.unit}"
        return {"name": self.name, "value": self.value, "target": target, "met": self.met, "errors": self.errors}


def _progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "not installed"


def machine() -> dict[str, Any]:
    cpu_model = ""
    with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
        for line in cpuinfo:
            if line.startswith("model name"):
                cpu_model = line.partition(":")[2].strip()
                break
    memory_kb = 0
    with open("/proc/meminfo", encoding="utf-8") as meminfo:
        for line in meminfo:
            if line.startswith("MemTotal:"):
                memory_kb = int(line.split()[1])
    return {
        "cores": os.cpu_count(),
        "usable_cores": len(os.sched_getaffinity(0)),
        "cpu": cpu_model,
        "memory_gb": round(memory_kb * 1024 / 1e9, 1),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "libraries": {name: _version(name) for name in LIBRARIES + SERVER_EXTRAS},
    }


def reference_ms(repeats: int = 7) -> float:
    """The best of ``repeats`` timings of one fixed piece of pure Python (counting and sorting 100,000
    words), in milliseconds. The code never changes, so when it is slower than in another run, the
    machine was slower then (a busy neighbour on the host, a lower clock), not claimscan."""
    words = [f"word{i % 997}" for i in range(100_000)]
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        counts: dict[str, int] = {}
        for word in words:
            counts[word] = counts.get(word, 0) + 1
        sorted(counts.items(), key=lambda item: (-item[1], item[0]))
        best = min(best, time.perf_counter() - started)
    return best * 1000.0


def load_average() -> float:
    """The 1-minute load average: other work on the machine skews every figure."""
    with open("/proc/loadavg", encoding="ascii") as loadavg:
        return float(loadavg.read().split()[0])


def time_training(log_dir: Path) -> dict[str, Any]:
    """One ``python -m training.train`` into a temporary models directory, leaving models/current alone."""
    with tempfile.TemporaryDirectory(prefix="claimscan-bench-models-") as models:
        log_path = log_dir / "training.log"
        command = [sys.executable, "-m", "training.train", "--models", models, "--no-current"]
        started = time.perf_counter()
        with log_path.open("wb") as log:
            try:
                completed = subprocess.run(
                    command, cwd=ROOT, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, timeout=3600
                )
                returncode = completed.returncode
            except subprocess.TimeoutExpired:
                returncode = -1
        seconds = time.perf_counter() - started
        written = sorted(path.name for path in Path(models).iterdir() if path.is_dir())
    tail = log_path.read_text(errors="replace").splitlines()[-5:]
    return {"seconds": seconds, "returncode": returncode, "versions_written": written, "log_tail": tail}


def _target_article(results: dict[str, Any]) -> dict[str, Any]:
    """The in-process figures of the article the latency targets are judged on."""
    articles: list[dict[str, Any]] = results["in_process"]["articles"]
    return next(article for article in articles if article["name"] == results["target_article"])


def targets(results: dict[str, Any]) -> list[Target]:
    single = results["http"]["single_worker"]
    multi = results["http"]["multi_worker"]
    phases = multi["phases"]
    c1 = single["score_c1"]
    workers = multi["workers"]
    first = min(multi_c for multi_c in results["http"]["options"]["throughput_concurrency"])
    rss = [m["rss_mb"] for m in multi["memory_after_load"]] + [m["rss_mb"] for m in single["memory"]]
    return [
        Target("in-process median ms", _target_article(results)["median_ms"], 3.0, at_most=True, unit="ms"),
        Target("POST /score p50 ms, c=1", c1["p50_ms"], 6.0, at_most=True, unit="ms", errors=c1["errors"]),
        Target("POST /score p99 ms, c=1", c1["p99_ms"], 20.0, at_most=True, unit="ms", errors=c1["errors"]),
        Target(
            f"POST /score articles/s, c={first}, {workers} workers",
            phases[f"score_c{first}"]["rate_per_s"],
            300.0,
            at_most=False,
            unit="articles/s",
            errors=phases[f"score_c{first}"]["errors"],
        ),
        Target(
            "batch JSON sentences/s",
            phases["batch_json"]["rate_per_s"],
            20_000.0,
            at_most=False,
            unit="sentences/s",
            errors=phases["batch_json"]["errors"],
        ),
        Target(
            "batch NDJSON sentences/s",
            phases["batch_ndjson"]["rate_per_s"],
            20_000.0,
            at_most=False,
            unit="sentences/s",
            errors=phases["batch_ndjson"]["errors"],
        ),
        Target("cold start s, 1 worker (worst)", max(single["cold_start_s"]), 2.0, at_most=True, unit="s", strict=True),
        Target(
            "cold start s, 1 worker, bytecode cached (worst)",
            max(single["cold_start_cached_s"]),
            2.0,
            at_most=True,
            unit="s",
            strict=True,
        ),
        Target(
            f"cold start s, {workers} workers, bytecode cached",
            multi["cold_start_cached_s"],
            2.0,
            at_most=True,
            unit="s",
            strict=True,
        ),
        Target("RSS MB per worker (largest)", max(rss), 200.0, at_most=True, unit="MB"),
    ]


def _reference(info: dict[str, Any]) -> str:
    start, end = info.get("reference_ms_start"), info.get("reference_ms_end")
    return "not measured" if start is None or end is None else f"{start:.2f} ms at start, {end:.2f} ms at end"


def _ms(value: float) -> str:
    return f"{value:,.2f} ms" if value < 10 else f"{value:,.1f} ms"


def _cpu(phase: dict[str, Any]) -> str:
    wall = phase["wall_s"]
    server, client = phase["server_cpu_s"] / wall, phase["client_cpu_s"] / wall
    other = max(0.0, phase["machine_cpu_s"] / wall - server - client)
    return f"cores busy: server {server:.2f}, client {client:.2f}, other {other:.2f}"


def _other(in_process: dict[str, Any]) -> float:
    """Cores other processes kept busy while the in-process phase ran."""
    other: float = (in_process["machine_cpu_s"] - in_process["cpu_s"]) / in_process["wall_s"]
    return max(0.0, other)


def _per(phase: dict[str, Any], count: float) -> str:
    """Server CPU per unit: the cost of the work, whatever else the machine was doing."""
    return _ms(phase["server_cpu_s"] * 1000 / count) if count else "n/a"


def _errors(phase: dict[str, Any]) -> str:
    return f"; {phase['errors']} ERRORS: {phase['first_error']}" if phase["errors"] else ""


def table(results: dict[str, Any], checks: list[Target]) -> str:
    by_name = {check.name: check for check in checks}
    if len(by_name) != len(checks):
        raise ValueError(f"targets with the same name: {[check.name for check in checks]}")
    shown: set[str] = set()

    def status(name: str) -> str:
        shown.add(name)
        return "met" if by_name[name].met else "NOT MET"

    def target(name: str) -> str:
        return str(by_name[name].as_dict()["target"])

    info = results["machine"]
    libs = info["libraries"]
    ip = results["in_process"]
    single = results["http"]["single_worker"]
    multi = results["http"]["multi_worker"]
    phases = multi["phases"]
    workers = multi["workers"]
    articles = ip["articles"]
    words = [a["words"] for a in articles]
    sentences = [a["sentences"] for a in articles]
    chosen = _target_article(results)
    c1 = single["score_c1"]
    options = results["http"]["options"]
    rows: list[tuple[str, str, str, str]] = [
        (
            "machine",
            f"{info['usable_cores']} of {info['cores']} cores, {info['cpu']}, {info['memory_gb']} GB; "
            f"1-min load average {info['load_average_start']:.1f} at start, {info['load_average_end']:.1f} at end; "
            f"reference workload {_reference(info)} (fixed pure Python: it shows CPU drift, not a crowded cache)",
            "",
            "",
        ),
        (
            "software",
            f"Python {info['python']}; fastapi {libs['fastapi']}, uvicorn {libs['uvicorn']} "
            f"(uvloop {libs['uvloop']}, httptools {libs['httptools']}), scikit-learn {libs['scikit-learn']}, "
            f"numpy {libs['numpy']}, orjson {libs['orjson']}",
            "",
            "",
        ),
        ("model", results["model_version"], "", ""),
        (
            "articles",
            f"{len(articles)} from {results['articles_dir']}: {min(words)}-{max(words)} words "
            f"(mean {statistics.fmean(words):.0f}), {min(sentences)}-{max(sentences)} sentences",
            "",
            "",
        ),
        (
            f"in-process score, {chosen['name']} ({chosen['words']} words, {chosen['sentences']} sentences: the "
            f"article nearest 1,000 words), median, explain on",
            f"{_ms(chosen['median_ms'])} (p99 {_ms(chosen['p99_ms'])})",
            target("in-process median ms"),
            status("in-process median ms"),
        ),
        (
            f"in-process score, all {len(articles)} articles x {ip['repeats']}, median",
            f"{_ms(ip['median_ms'])} (CPU time {_ms(ip['cpu_median_ms'])}; cores busy: this process "
            f"{ip['cpu_s'] / ip['wall_s']:.2f}, other {_other(ip):.2f})",
            "",
            "",
        ),
        ("in-process score, all articles, p99", _ms(ip["p99_ms"]), "", ""),
        ("in-process score, median per 1,000 words", _ms(ip["median_ms_per_1000_words"]), "", ""),
        (
            f"POST /score p50, c=1, 1 worker ({c1['requests']} requests of the {chosen['words']}-word article)",
            _ms(c1["p50_ms"]) + _errors(c1),
            target("POST /score p50 ms, c=1"),
            status("POST /score p50 ms, c=1"),
        ),
        (
            "POST /score p99, c=1, 1 worker",
            _ms(c1["p99_ms"]),
            target("POST /score p99 ms, c=1"),
            status("POST /score p99 ms, c=1"),
        ),
    ]
    for concurrency in options["throughput_concurrency"]:
        phase = phases[f"score_c{concurrency}"]
        name = f"POST /score articles/s, c={concurrency}, {workers} workers"
        rows.append(
            (
                f"POST /score throughput, c={concurrency}, {workers} workers ({options['seconds']:g} s, "
                f"the {chosen['words']}-word article)",
                f"{phase['rate_per_s']:,.1f} articles/s (p50 {_ms(phase['p50_ms'])}, p99 {_ms(phase['p99_ms'])}; "
                f"server CPU {_per(phase, phase['requests'])} per article; {_cpu(phase)}){_errors(phase)}",
                target(name) if name in by_name else "",
                status(name) if name in by_name else "",
            )
        )
    for concurrency in options["throughput_concurrency"]:
        phase = phases[f"healthz_c{concurrency}"]
        rows.append(
            (
                f"GET /healthz throughput (floor), c={concurrency}, {workers} workers",
                f"{phase['rate_per_s']:,.0f} requests/s (p50 {_ms(phase['p50_ms'])}; {_cpu(phase)}){_errors(phase)}",
                "",
                "",
            )
        )
    for key, label, check in (
        ("batch_json", "JSON", "batch JSON sentences/s"),
        ("batch_ndjson", "NDJSON streamed", "batch NDJSON sentences/s"),
    ):
        phase = phases[key]
        rows.append(
            (
                f"POST /score/batch {label}, {options['batch_documents']} docs/request, "
                f"c={phase['concurrency']}, {workers} workers",
                f"{phase['rate_per_s']:,.0f} sentences/s ({phase['requests']} requests, "
                f"p50 {_ms(phase['p50_ms'])}; server CPU {_per(phase, phase['units'] / 1000)} per 1,000 sentences; "
                f"{_cpu(phase)}){_errors(phase)}",
                target(check),
                status(check),
            )
        )
    cold = single["cold_start_s"]
    cached = single["cold_start_cached_s"]
    as_is = "environment as is, bytecode compiled at install"
    multi_rss = ", ".join(f"{m['rss_mb']:.0f}" for m in multi["memory_after_load"])
    idle_rss = ", ".join(f"{m['rss_mb']:.0f}" for m in multi["memory_idle"])
    single_rss = ", ".join(f"{m['rss_mb']:.0f}" for m in single["memory"])
    peak = max(m["peak_rss_mb"] for m in multi["memory_after_load"] + single["memory"])
    rows += [
        (
            f"cold start to /readyz 200, 1 worker, {as_is} (worst of {len(cold)})",
            f"{max(cold):.2f} s (median {statistics.median(cold):.2f} s)",
            target("cold start s, 1 worker (worst)"),
            status("cold start s, 1 worker (worst)"),
        ),
        (
            f"cold start to /readyz 200, 1 worker, bytecode cached (worst of {len(cached)})",
            f"{max(cached):.2f} s (median {statistics.median(cached):.2f} s)",
            target("cold start s, 1 worker, bytecode cached (worst)"),
            status("cold start s, 1 worker, bytecode cached (worst)"),
        ),
        (
            f"cold start to /readyz 200, {workers} workers, bytecode cached",
            f"{multi['cold_start_cached_s']:.2f} s",
            target(f"cold start s, {workers} workers, bytecode cached"),
            status(f"cold start s, {workers} workers, bytecode cached"),
        ),
        (
            f"VmRSS per worker after load ({workers} workers; 1 worker)",
            f"{multi_rss}; {single_rss} MB (idle after start {idle_rss} MB; peak {peak:.0f} MB)",
            target("RSS MB per worker (largest)"),
            status("RSS MB per worker (largest)"),
        ),
    ]
    training = results["training"]
    if training is None:
        rows.append(("training: python -m training.train --no-current", "skipped (--skip-training)", "", ""))
    else:
        outcome = "" if training["returncode"] == 0 else f" (FAILED, exit {training['returncode']})"
        rows.append(
            ("training: python -m training.train --no-current", f"{training['seconds']:.1f} s{outcome}", "", "")
        )
    for extra in checks:  # a target no row above shows gets a row of its own
        if extra.name not in shown:
            rows.append((extra.name, f"{extra.value:,.2f} {extra.unit}", target(extra.name), status(extra.name)))
    statuses = [row[3] for row in rows if row[3]]  # the count is of the statuses the table shows, nothing else
    rows.append(("targets met", f"{statuses.count('met')} of {len(statuses)}", "", ""))

    header = ("measure", "figure", "target", "status")
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(4)]

    def line(cells: tuple[str, str, str, str]) -> str:
        return "| " + " | ".join(cell.ljust(width) for cell, width in zip(cells, widths, strict=True)) + " |"

    rule = "|" + "|".join("-" * (width + 2) for width in widths) + "|"
    return "\n".join([line(header), rule, *(line(row) for row in rows)])


def _write_json(results: dict[str, Any], path: Path) -> None:
    temporary = path.with_suffix(".json.tmp")
    temporary.write_bytes(orjson.dumps(results, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS) + b"\n")
    os.replace(temporary, path)


def _terminate(signum: int, frame: FrameType | None) -> None:  # noqa: ARG001
    raise SystemExit(128 + signum)  # unwinds through the finally blocks that stop the servers


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--skip-training", action="store_true", help="do not time a training run")
    parser.add_argument(
        "--articles", type=Path, help="folder of *.txt articles (default: ../shared/seeds, else samples)"
    )
    parser.add_argument("--repeats", type=int, default=200, help="in-process scores per article")
    parser.add_argument("--latency-requests", type=int, default=300, help="sequential /score requests at c=1")
    parser.add_argument("--seconds", type=float, default=10.0, help="length of each throughput phase")
    parser.add_argument("--warmup", type=float, default=2.0, help="warm-up before each HTTP phase, not counted")
    parser.add_argument("--output", type=Path, default=RESULTS, help="where to write the JSON results")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, _terminate)
    started = time.perf_counter()
    load_before, reference_before = load_average(), reference_ms()

    def step(message: str) -> None:
        _progress(f"[{time.perf_counter() - started:6.1f}s] {message}")

    directory, articles = load_articles(args.articles)
    scorer, loaded = load_scorer()
    step(f"in-process: {len(articles)} articles from {directory} x {args.repeats}, model {loaded.version}")
    in_process = measure(scorer, articles, args.repeats)
    del scorer
    options = HttpOptions(latency_requests=args.latency_requests, seconds=args.seconds, warmup_s=args.warmup)
    with tempfile.TemporaryDirectory(prefix="claimscan-bench-") as scratch:
        step("HTTP: real uvicorn servers on 127.0.0.1")
        http = run_http(articles, options, Path(scratch))
        training = None
        if not args.skip_training:
            step("training: python -m training.train --models <tmp> --no-current")
            training = time_training(Path(scratch))
    step("done")
    results: dict[str, Any] = {
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {
            **machine(),
            "load_average_start": load_before,
            "load_average_end": load_average(),
            "reference_ms_start": reference_before,
            "reference_ms_end": reference_ms(),
        },
        "model_version": loaded.version,
        "articles_dir": os.path.relpath(directory, ROOT),
        "target_article": target_article(articles).name,  # the latency targets' "1,000-word article"
        "in_process": in_process,
        "http": http,
        "training": training,
    }
    checks = targets(results)
    results["targets"] = [check.as_dict() for check in checks]
    _write_json(results, args.output)
    print(table(results, checks))
    return 0


if __name__ == "__main__":
    sys.exit(main())

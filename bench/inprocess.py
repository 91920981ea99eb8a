"""In-process scoring time: :class:`app.scoring.Scorer` with the committed model, no HTTP.

    python -m bench.inprocess                 # time every article, print the figures as JSON
    python -m bench.inprocess --profile       # pyinstrument profile of one article scored 500 times

Articles come from ``../shared/seeds`` (relative to the repository root) when that folder
exists, otherwise from ``bench/sample_articles``; ``--articles DIR`` picks another folder.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from app.artifacts import LoadedModel, load_model
from app.scoring import DocumentRequest, Scorer
from app.taxonomy import LABEL_IDS, load_taxonomy
from bench._common import MODELS_DIR, Article, load_articles, machine_cpu_seconds, percentile

__all__ = ["load_scorer", "measure", "profile"]


def load_scorer(models_dir: Path = MODELS_DIR) -> tuple[Scorer, LoadedModel]:
    loaded = load_model(models_dir, LABEL_IDS)
    return Scorer(loaded.model, load_taxonomy(), loaded.version), loaded


def measure(scorer: Scorer, articles: list[Article], repeats: int = 200, warmup: int = 5) -> dict[str, Any]:
    """Score every article ``repeats`` times, round-robin, explanations on; times in milliseconds."""
    requests = [DocumentRequest(text=article.text, id=article.name) for article in articles]
    bodies = [scorer.score(request) for request in requests]
    for _ in range(warmup):
        for request in requests:
            scorer.score(request)
    times: list[list[float]] = [[] for _ in articles]
    cpu_times: list[float] = []  # CPU time per score: what other processes on the machine cannot inflate
    clock, cpu_clock = time.perf_counter, time.process_time
    wall, cpu, machine = clock(), cpu_clock(), machine_cpu_seconds()
    for _ in range(repeats):
        for position, request in enumerate(requests):
            started, cpu_started = clock(), cpu_clock()
            scorer.score(request)
            times[position].append((clock() - started) * 1000.0)
            cpu_times.append((cpu_clock() - cpu_started) * 1000.0)
    wall, cpu, machine = clock() - wall, cpu_clock() - cpu, machine_cpu_seconds() - machine
    pooled = [value for per_article in times for value in per_article]
    per_thousand_words = [
        value * 1000.0 / article.words
        for article, per_article in zip(articles, times, strict=True)
        for value in per_article
    ]
    return {
        "repeats": repeats,
        "explain": True,
        "samples": len(pooled),
        "median_ms": statistics.median(pooled),
        "p99_ms": percentile(pooled, 99),
        "mean_ms": statistics.fmean(pooled),
        "cpu_median_ms": statistics.median(cpu_times),
        "median_ms_per_1000_words": statistics.median(per_thousand_words),
        "wall_s": wall,
        "cpu_s": cpu,
        "machine_cpu_s": machine,  # every process on the machine, this one included
        "articles": [
            {
                "name": article.name,
                "words": article.words,
                "chars": len(article.text),
                "sentences": body["summary"]["sentences"],
                "flagged_sentences": body["summary"]["flagged_sentences"],
                "flags": sum(len(sentence["flags"]) for sentence in body["sentences"]),
                "median_ms": statistics.median(per_article),
                "p99_ms": percentile(per_article, 99),
            }
            for article, body, per_article in zip(articles, bodies, times, strict=True)
        ],
    }


def profile(scorer: Scorer, article: Article, repeats: int = 500, lines: int = 15) -> str:
    """Where the time goes when one article is scored ``repeats`` times, from a pyinstrument profile.

    Two flat listings, largest first: self time per function (pyinstrument's own flat view lumps the
    self time of every function of a file into one ``[self]`` row, so this resolves it per function),
    and total time per function (counted once per stack, so recursion is not double-counted).
    """
    from pyinstrument import Profiler
    from pyinstrument.frame import Frame

    request = DocumentRequest(text=article.text, id=article.name)
    scorer.score(request)
    profiler = Profiler(interval=0.0002)
    with profiler:
        for _ in range(repeats):
            scorer.score(request)
    session = profiler.last_session
    root = session.root_frame() if session else None
    if session is None or root is None:
        return "no samples"
    self_time: dict[str, float] = {}
    total_time: dict[str, float] = {}

    def walk(frame: Frame, on_stack: frozenset[str]) -> None:
        if frame.is_synthetic:
            return
        key = f"{frame.function}  {frame.file_path_short}:{frame.line_no}"
        self_time[key] = self_time.get(key, 0.0) + frame.total_self_time
        if key not in on_stack and not str(frame.file_path_short).startswith("bench/"):
            total_time[key] = total_time.get(key, 0.0) + frame.time
        for child in frame.children:
            walk(child, on_stack | {key})

    walk(root, frozenset())
    duration = session.duration
    out = [
        f"{repeats} scores of {article.name} ({article.words} words): {duration:.2f} s wall, "
        f"{session.cpu_time:.2f} s CPU, {session.sample_count} samples, {duration / repeats * 1000:.1f} ms per score",
        f"self time (top {lines}):",
    ]
    for key, seconds in sorted(self_time.items(), key=lambda item: -item[1])[:lines]:
        out.append(f"  {seconds:7.3f} s {seconds / duration:6.1%}  {key}")
    out.append(f"total time, callees included (top {lines}):")
    for key, seconds in sorted(total_time.items(), key=lambda item: -item[1])[:lines]:
        out.append(f"  {seconds:7.3f} s {seconds / duration:6.1%}  {key}")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="In-process scoring time with the committed model.")
    parser.add_argument("--articles", type=Path, help="folder of *.txt articles (default: seeds, else samples)")
    parser.add_argument("--repeats", type=int, help="scores per article (default 200; 500 with --profile)")
    parser.add_argument("--profile", action="store_true", help="profile one article with pyinstrument instead")
    parser.add_argument("--article", help="the article to profile (file name; default: the longest)")
    parser.add_argument("--lines", type=int, default=15, help="lines of the profile to print")
    args = parser.parse_args(argv)
    directory, articles = load_articles(args.articles)
    scorer, loaded = load_scorer()
    if args.profile:
        chosen = max(articles, key=lambda a: a.words)
        if args.article:
            chosen = next(a for a in articles if a.name == args.article)
        repeats = args.repeats or 500
        print(f"model {loaded.version}; {chosen.name} ({chosen.words} words) scored {repeats} times", file=sys.stderr)
        print(profile(scorer, chosen, repeats, args.lines))
        return 0
    result = measure(scorer, articles, args.repeats or 200)
    print(json.dumps({"model_version": loaded.version, "articles_dir": str(directory), **result}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())

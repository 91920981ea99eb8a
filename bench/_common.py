"""What every benchmark shares: the repository paths, the benchmark articles, percentiles and machine CPU time.

Kept free of the scoring code, so the HTTP load generators (:mod:`bench.http`, :mod:`bench.load`) import no model.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = [
    "CLOCK_TICKS",
    "MODELS_DIR",
    "ROOT",
    "SAMPLES_DIR",
    "SEEDS_DIR",
    "Article",
    "load_articles",
    "machine_cpu_seconds",
    "percentile",
    "target_article",
]

ROOT = Path(__file__).resolve().parent.parent
MODELS_DIR = ROOT / "models"
SEEDS_DIR = ROOT.parent / "shared" / "seeds"
SAMPLES_DIR = ROOT / "bench" / "sample_articles"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")  # per second: the unit of the CPU times in /proc


@dataclass(frozen=True)
class Article:
    name: str
    text: str

    @property
    def words(self) -> int:
        return len(self.text.split())


TARGET_WORDS = 1_000  # issue #5 sets its latency targets for "a 1,000-word article"


def target_article(articles: Sequence[Article]) -> Article:
    """The article the latency targets are judged on: the one nearest 1,000 words (the longer on a tie)."""
    return min(articles, key=lambda article: (abs(article.words - TARGET_WORDS), -article.words))


def load_articles(directory: Path | None = None) -> tuple[Path, list[Article]]:
    """The benchmark articles (``*.txt``, sorted by name) and the folder they came from.

    By default ``../shared/seeds`` (beside the repository) when it holds any, else ``bench/sample_articles``.
    """
    if directory is None:
        directory = SEEDS_DIR if SEEDS_DIR.is_dir() and any(SEEDS_DIR.glob("*.txt")) else SAMPLES_DIR
    articles = [Article(path.name, path.read_text(encoding="utf-8")) for path in sorted(directory.glob("*.txt"))]
    articles = [article for article in articles if article.text.strip()]
    if not articles:
        raise SystemExit(f"no *.txt articles in {directory}")
    return directory, articles


def percentile(values: Sequence[float], q: float, *, nearest_rank: bool = False) -> float:
    """The q-th percentile, 0 <= q <= 100 (NaN for no values).

    Linearly interpolated between the values by default; with ``nearest_rank``, the smallest value that at
    least q% of the values are at or below (always a measured value).
    """
    if not values:
        return math.nan
    if nearest_rank:
        ordered = sorted(values)
        return ordered[max(1, math.ceil(q / 100 * len(ordered))) - 1]
    return float(np.percentile(np.asarray(values, dtype=np.float64), q))


def machine_cpu_seconds() -> float:
    """CPU seconds every process on the machine has used since boot (user, nice, system, irq, softirq)."""
    with open("/proc/stat", encoding="ascii") as stat:
        fields = [int(field) for field in stat.readline().split()[1:8]]
    user, nice, system, _idle, _iowait, irq, softirq = fields
    return (user + nice + system + irq + softirq) / CLOCK_TICKS
